#ifndef MS_IMAP_H
#define MS_IMAP_H

/*
 * IMAP reconciliation on a bounded pool of worker threads (libetpan blocks,
 * so it never runs on the loop). Each job logs in to the IMAP server as
 * "user*master_user" (Dovecot master user), does its work read-only
 * (STATUS, EXAMINE, UID SEARCH, UID FETCH of envelopes) and logs out.
 * Results come back on the loop thread through the job's callback.
 *
 * The server is not trusted: whatever it answers (garbage, silence, BYE,
 * absurd numbers, literals of any size) ends in a result, never in a crash
 * or a hang. All socket I/O is ours (poll(), so any fd number works), with
 * TLS by OpenSSL when configured; libetpan only speaks the protocol.
 * A job fails with an error class the caller can act on; nothing is retried
 * or logged above trace level here: the caller decides.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ms_imap_pool;

enum ms_imap_tls {
	MS_IMAP_TLS_NONE = 0,
	/* Plain connect and greeting, then STARTTLS; the session fails when
	   the server refuses it. LOGIN is only ever sent over TLS. */
	MS_IMAP_TLS_STARTTLS,
	/* TLS from the first byte (imaps, port 993). */
	MS_IMAP_TLS_IMPLICIT,
};

struct ms_imap_settings {
	const char *host; /* a name or an IP literal; the certificate must
			     match it (DNS or IP subjectAltName) */
	uint16_t port;
	enum ms_imap_tls tls;
	/* PEM file of trusted CAs for TLS; NULL = the system's CA store.
	   Read by ms_imap_pool_new(). Ignored without TLS. */
	const char *ca_file;
	const char *master_user;     /* e.g. "tidings" */
	const char *master_password; /* never logged */
	char separator;		     /* between user and master: default '*' */
	unsigned workers;	     /* threads; 0 = default 2 */
	/* Connect, TLS handshake, and each wait for the server to read or
	   write; 0 = 30000. A whole job ends within 4 * timeout_msecs (plus
	   name resolution: getaddrinfo() has its own timeouts). */
	uint64_t timeout_msecs;
	/* Jobs pending at once (queued, running, or done but not yet
	   reported); 0 = default 1024. */
	size_t queue_max;
};

/* Why a job failed. */
enum ms_imap_error {
	MS_IMAP_OK = 0,
	/* Connect, timeout, lost connection, BYE, unparsable or inconsistent
	   answer, any other NO/BAD: try again later. */
	MS_IMAP_ERR_TEMP,
	/* LOGIN as user*master: NO [AUTHORIZATIONFAILED] (Dovecot: no such
	   user). */
	MS_IMAP_ERR_NO_USER,
	/* LOGIN: NO [AUTHENTICATIONFAILED] (the master password is wrong). */
	MS_IMAP_ERR_AUTH,
	/* STATUS/EXAMINE: NO [NONEXISTENT] or Dovecot's "Mailbox doesn't
	   exist". */
	MS_IMAP_ERR_NO_MAILBOX,
	/* TLS handshake refused or failed, certificate not trusted, STARTTLS
	   refused. */
	MS_IMAP_ERR_TLS,
};

/* A short constant name: "ok", "temp", "no-user", "auth", "no-mailbox",
   "tls" ("unknown" for other values). */
const char *ms_imap_error_name(enum ms_imap_error error);

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
	/* MS_IMAP_OK, or the class of the failure with error_text (clean
	   one-line UTF-8, no secrets); a failed job reports no data. */
	enum ms_imap_error error;
	char *error_text;
	uint32_t uidvalidity; /* never 0 on success */
	uint32_t uidnext;     /* never 0 on success */
	uint32_t messages;    /* STATUS MESSAGES, at most uidnext - 1 */
	uint32_t unseen;      /* STATUS UNSEEN, at most messages */
	/* Messages with from_uid <= uid <= to_uid and uid < uidnext (up to
	   max_msgs of them, the newest ones), oldest first, each UID once. */
	struct ms_imap_msg *msgs;
	size_t msg_count;
	/* How many distinct UIDs the range holds in all (>= msg_count). */
	size_t range_count;
};

/* Called on the loop thread. res is freed after the callback returns. */
typedef void ms_imap_scan_cb(const struct ms_imap_scan_result *res, void *ctx);

/*
 * Starts the workers. With TLS, loads the CAs (ca_file or the system's)
 * here: an unreadable ca_file fails with error_r. Returns 0, or -1 with
 * *error_r (free it).
 */
int ms_imap_pool_new(uv_loop_t *loop, const struct ms_imap_settings *set,
		     struct ms_imap_pool **pool_r, char **error_r);
/*
 * Queues a scan of user's mailbox (NULL = "INBOX"): STATUS (UIDVALIDITY
 * UIDNEXT MESSAGES UNSEEN), then, if from_uid > 0 and the mailbox's
 * UIDVALIDITY equals uidvalidity (or uidvalidity is 0), fetches envelope,
 * flags, INTERNALDATE and UID of the messages in from_uid..to_uid (to_uid
 * 0 = up to the last; from_uid > to_uid = none). Jobs run at most
 * `workers` at a time, in queue order.
 *
 * Returns 0 when queued: the callback then fires exactly once, unless the
 * pool is freed first. Returns -1 when queue_max jobs are pending: nothing
 * is queued and the callback never fires; try again later.
 */
int ms_imap_scan(struct ms_imap_pool *pool, const char *user,
		 const char *mailbox, uint32_t uidvalidity, uint32_t from_uid,
		 uint32_t to_uid, size_t max_msgs, ms_imap_scan_cb *cb,
		 void *ctx);
/* Jobs pending: queued, running, or done and not yet reported. */
size_t ms_imap_pool_pending(const struct ms_imap_pool *pool);
/*
 * Drops queued jobs (their callbacks do not fire), cuts running sessions
 * short (their sockets are shut down) and waits for them without calling
 * their callbacks, and frees the pool once libuv released its handles.
 * May be called from a scan callback.
 */
void ms_imap_pool_free(struct ms_imap_pool **pool);

#endif
