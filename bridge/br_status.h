#ifndef BR_STATUS_H
#define BR_STATUS_H

/*
 * One snapshot of what tidingsd is doing, for `tidingsctl status` (the
 * control socket, br_control.c) and the metrics (br_metrics.c): both show
 * the same numbers, taken by br_status_collect() on the loop's thread.
 * Counters count since tidingsd started; gauges are values now.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct br_config;
struct br_router;
struct br_online;
struct br_sender;
struct ms_evsock;
struct ms_imap_pool;
struct xm_component;

struct br_status {
	int64_t started_at; /* unix seconds */
	char version[16];

	/* XMPP link */
	bool xmpp_up;
	int64_t xmpp_up_since; /* unix seconds of the last handshake; 0 */
	uint64_t xmpp_connects;
	uint64_t xmpp_disconnects;
	uint64_t xmpp_stanzas_in;
	uint64_t xmpp_stanzas_out;
	uint64_t xmpp_dropped_in;  /* inbound stanzas over the limits */
	uint64_t xmpp_dropped_out; /* outbox full */
	size_t xmpp_outbox;	   /* sent, not yet confirmed */

	/* event socket */
	uint64_t events_received; /* datagrams read */
	uint64_t events;	  /* accepted */
	uint64_t events_dropped;  /* malformed or too large */
	uint64_t events_refused;  /* writer not trusted or not verified */
	double events_per_sec;	  /* accepted, over the last minute */

	/* IMAP pool */
	size_t imap_busy;	/* sessions working now */
	size_t imap_queued;	/* jobs waiting for a session */
	uint64_t imap_failures; /* jobs that failed */

	/* notifications (router) */
	uint64_t notify_single;
	uint64_t notify_digest;
	uint64_t notify_digest_mails;
	uint64_t notify_summary;
	uint64_t notify_duplicate;
	uint64_t unserved; /* mails for users with no JID */
	uint64_t reconciles;
	uint64_t reconcile_errors;
	size_t reconciles_alive;
	size_t users_in_memory;
	size_t users_tracked; /* presence known */
	size_t users_online;

	/* ledger */
	uint64_t ledger_bytes; /* tidings.db and its WAL */

	/* mail from chat ([mail] smtp_host) */
	bool mail_from_chat;
	uint64_t mail_requests;
	uint64_t mail_refused;
	uint64_t mail_sent;
	uint64_t mail_retries;
	uint64_t mail_failed;
	uint64_t mail_copied;

	/* the last line logged at error level */
	int64_t last_error_at; /* 0: none */
	char last_error[512];
};

/*
 * Where the numbers come from: tidingsd's modules, any of which may be
 * NULL (not started, or off). The pointers are read at each collect, so
 * the owner may change them (e.g. set events to NULL when it closes).
 */
struct br_status_sources {
	const struct br_config *cfg;
	struct xm_component *xmpp;
	struct ms_evsock *events;
	struct ms_imap_pool *imap;
	struct br_router *router;
	struct br_online *online;
	struct br_sender *sender;
};

/* Samples the accepted events once a second for events_per_sec. */
struct br_status_meter;

/* Starts the meter's timer on loop; src must outlive it. */
struct br_status_meter *
br_status_meter_new(uv_loop_t *loop, const struct br_status_sources *src);
/* Closes the timer; the memory goes once libuv released it. */
void br_status_meter_close(struct br_status_meter **m);

/* Fills *st from the sources (loop thread only). Costs one pass over the
   users whose presence is known, and two stat(2) calls. */
void br_status_collect(const struct br_status_meter *m, struct br_status *st);

#endif
