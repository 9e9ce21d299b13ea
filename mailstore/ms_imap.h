#ifndef MS_IMAP_H
#define MS_IMAP_H

/*
 * IMAP reconciliation on a bounded pool of worker threads (libetpan blocks
 * and waits with select(), so it never runs on the loop). Each job logs in
 * to the IMAP server as "user*master_user" (Dovecot master user), does its
 * work read-only (EXAMINE, BODY.PEEK) and logs out. Results come back on the
 * loop thread through the job's callback.
 *
 * A job that cannot run (connect/login/timeout) reports an error in the
 * result; nothing is retried here. A socket fd that select() cannot take
 * (>= FD_SETSIZE) fails the job instead of crashing.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ms_imap_pool;

enum ms_imap_tls {
	MS_IMAP_TLS_NONE = 0,
	MS_IMAP_TLS_STARTTLS,
	MS_IMAP_TLS_IMPLICIT,
};

struct ms_imap_settings {
	const char *host;
	uint16_t port;
	enum ms_imap_tls tls;
	const char *master_user;     /* e.g. "tidings" */
	const char *master_password; /* never logged */
	char separator;		     /* between user and master: default '*' */
	unsigned workers;	     /* threads; 0 = default 2 */
	uint64_t timeout_msecs;	     /* connect and each read; 0 = 30000 */
};

struct ms_imap_msg {
	uint32_t uid;
	char *message_id;   /* NULL if absent */
	char *from_name;    /* decoded, NULL if absent */
	char *from_address; /* NULL if absent */
	char *subject;	    /* decoded, clean one-line UTF-8, NULL if absent */
	int64_t date;	    /* unix seconds from the envelope date; 0 unknown */
	int64_t received; /* INTERNALDATE (delivery), unix seconds; 0 unknown */
	bool seen;
};

struct ms_imap_scan_result {
	int error; /* 0, or -1 with error_text */
	char *error_text;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages; /* STATUS MESSAGES */
	uint32_t unseen;   /* STATUS UNSEEN */
	/* Messages with from_uid <= uid < uidnext (up to max_msgs of them, the
	   newest ones), oldest first. */
	struct ms_imap_msg *msgs;
	size_t msg_count;
	/* How many messages the range holds in all (>= msg_count). */
	size_t range_count;
};

/* Called on the loop thread. res is freed after the callback returns. */
typedef void ms_imap_scan_cb(const struct ms_imap_scan_result *res, void *ctx);

int ms_imap_pool_new(uv_loop_t *loop, const struct ms_imap_settings *set,
		     struct ms_imap_pool **pool_r, char **error_r);
/*
 * Queues a scan of user's mailbox: STATUS (UIDVALIDITY UIDNEXT MESSAGES
 * UNSEEN), then, if from_uid > 0 and the mailbox's UIDVALIDITY equals
 * uidvalidity (or uidvalidity is 0), fetches envelope, flags and UID of the
 * messages in from_uid..to_uid (to_uid 0 = up to the last). Jobs run at most
 * `workers` at a time, in queue order. The callback always fires exactly
 * once, unless the pool is freed first.
 */
void ms_imap_scan(struct ms_imap_pool *pool, const char *user,
		  const char *mailbox, uint32_t uidvalidity, uint32_t from_uid,
		  uint32_t to_uid, size_t max_msgs, ms_imap_scan_cb *cb,
		  void *ctx);
/* Jobs queued or running. */
size_t ms_imap_pool_pending(const struct ms_imap_pool *pool);
/*
 * Drops queued jobs (their callbacks do not fire), waits for running ones
 * to finish (bounded by the timeout) without calling their callbacks, and
 * frees the pool once libuv released its handles.
 */
void ms_imap_pool_free(struct ms_imap_pool **pool);

#endif
