#ifndef XM_COMPONENT_INT_H
#define XM_COMPONENT_INT_H

/*
 * Private to xm_component.c (the stream and the outbox) and
 * xm_component_iq.c (its IQ side: the engine, discovery, ad-hoc commands
 * and the built-in ping): the component's state.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ut_log.h"
#include "xm_component.h"
#include "xm_outbox.h"

#define XM_LOG_PREFIX		    "xmpp"
#define XM_STABLE_MAX_MSECS	    10000
#define XM_DEFAULT_MAX_STANZA_BYTES ((size_t)4 * 1024 * 1024)
#define XM_DEFAULT_MAX_STANZA_DEPTH 64
/* Drop warnings: at most one line per this many milliseconds. */
#define XM_DROP_LOG_MSECS 1000
/* How much of a dropped stanza's sender the warning shows. */
#define XM_DROP_LOG_JID_BYTES 128

#define xm_log(level, ...) ut_log(level, XM_LOG_PREFIX, __VA_ARGS__)

enum xm_stream_state {
	XM_OFFLINE,	/* no TCP connection */
	XM_OPENING,	/* our stream header sent, waiting for the server's */
	XM_HANDSHAKING, /* <handshake> sent, waiting for the answer */
	XM_ONLINE,
};

struct xm_component {
	uv_loop_t *loop;
	xmpp_ctx_t *sctx;
	char *jid, *host, *secret, *server_domain;
	uint16_t port;
	uint64_t ping_timeout_msecs, keepalive_msecs, stable_msecs;
	struct xm_component_callbacks cb;
	void *ctx;

	enum xm_stream_state state;
	bool closing, full_logged;
	/* Handles and child objects not yet released: one per uv_*_init and
	   per child, counted where each is initialised. */
	unsigned open_handles;
	void (*close_cb)(void *ctx);
	void *close_ctx;

	struct xm_conn *conn;
	uv_timer_t keepalive_timer;
	uv_idle_t flush_idle; /* one flush per loop turn */
	struct xm_parser *parser;
	struct xm_outbox outbox;
	uint64_t online_since_msecs, last_rx_msecs;
	/* Dropped inbound stanzas: when the last warning was logged, and
	   how many were not logged since. */
	struct ut_ratelog drop_log;
	struct xm_component_stats stats;

	/* The IQ side (xm_component_iq.c). */
	struct xm_iq *iq;
	struct xm_disco *disco;
	struct xm_adhoc *adhoc;
};

/* In xm_component.c. */
/* A ping answer (result or error) confirms the outbox up to that ping:
   true when iq was one. */
bool xm_component__ping_reply(struct xm_component *c, xmpp_stanza_t *iq);
/* Rate-limited warning about a dropped inbound stanza. */
void xm_component__log_drop(struct xm_component *c, xmpp_stanza_t *sk,
			    const char *why, uint64_t bytes);
/* A child object closed (counted in open_handles). */
void xm_component__child_closed(void *ctx);

/* In xm_component_iq.c. */
/* Creates the engine, discovery and ad-hoc helper and registers ping. */
void xm_component__iq_init(struct xm_component *c,
			   const struct xm_component_settings *set);
/* Closes them (each counted in open_handles until closed). */
void xm_component__iq_close(struct xm_component *c);
/* An inbound <iq/>. */
void xm_component__handle_iq(struct xm_component *c, xmpp_stanza_t *iq);

#endif
