#ifndef MS_IMAP_H
#define MS_IMAP_H

/*
 * IMAP work on a bounded pool of worker threads (libetpan blocks, so it
 * never runs on the loop). Each job logs in to the IMAP server as
 * "user*master_user" (Dovecot master user), does its work and logs out:
 * scans (STATUS, EXAMINE, UID SEARCH, UID FETCH of envelopes), the headers
 * of one mail (EXAMINE, UID SEARCH, UID FETCH of BODY.PEEK header fields),
 * whether a mail is seen (the same, with FLAGS), all read-only, and the
 * one write: APPEND of a copy to the user's \Sent mailbox. Results come back on
 * the loop thread through the job's callback. All kinds share the pool's
 * workers and its queue bound.
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

/* The largest message ms_imap_append_sent() takes (octets). */
#define MS_IMAP_APPEND_MAX ((size_t)32 << 20)

struct ms_imap_append_result {
	/* MS_IMAP_OK, or the class of the failure with error_text (as for
	   scans). MS_IMAP_ERR_NO_MAILBOX: the user has no usable mailbox
	   with the \Sent special-use attribute (none is ever created), or
	   the server said it does not exist. */
	enum ms_imap_error error;
	char *error_text;
	/* The mailbox appended to, as UTF-8 (decoded from IMAP's modified
	   UTF-7, cleaned to one line); NULL on failure. */
	char *mailbox;
	/* From the APPENDUID response code (UIDPLUS); both 0 when the
	   server sent none (or an invalid one). */
	uint32_t uidvalidity;
	uint32_t uid;
};

/* Called on the loop thread. res is freed after the callback returns. */
typedef void ms_imap_append_cb(const struct ms_imap_append_result *res,
			       void *ctx);

/*
 * Queues an APPEND of the message data[0..len) (copied here; RFC 5322
 * text, CRLF or LF line ends: libetpan sends LF as CRLF) with the flag
 * \Seen and the internal date `date` (unix seconds, sent as +0000; <= 0:
 * the server's clock) to the user's \Sent mailbox. The mailbox is found
 * with LIST (SPECIAL-USE) "" "*" (RFC 6154; a plain LIST "" "*" when the
 * server does not announce SPECIAL-USE): the first selectable mailbox
 * carrying \Sent, with a name of printable ASCII (which modified UTF-7
 * always is).
 *
 * Returns 0 when queued: the callback then fires exactly once, unless the
 * pool is freed first. Returns -1, queueing nothing (the callback never
 * fires), when the queue is full, or when len is 0, above
 * MS_IMAP_APPEND_MAX, or data holds a NUL (not sendable as an IMAP
 * literal).
 */
int ms_imap_append_sent(struct ms_imap_pool *pool, const char *user,
			const char *data, size_t len, int64_t date,
			ms_imap_append_cb *cb, void *ctx);

/* Bounds of struct ms_imap_headers. */
#define MS_IMAP_MSGID_MAX    250  /* octets of one "<...>" msg-id */
#define MS_IMAP_REFS_MAX     20	  /* msg-ids in references/in_reply_to */
#define MS_IMAP_REFS_BYTES   2048 /* octets of references/in_reply_to */
#define MS_IMAP_SUBJECT_MAX  900  /* octets of the decoded subject */
#define MS_IMAP_REPLY_TO_MAX 50	  /* addresses kept from Reply-To */
#define MS_IMAP_RCPTS_MAX    100  /* addresses kept from To, from Cc */
#define MS_IMAP_HEADER_FIELDS                                                  \
	"Message-ID", "In-Reply-To", "References", "Subject", "From",          \
	    "Reply-To", "To", "Cc", "Date", "Auto-Submitted", "Content-Type",  \
	    "Return-Path"

/*
 * The headers of one mail that a reply or a nudge needs, parsed from
 * hostile text: every string is NUL-terminated UTF-8 without CR, LF, NUL
 * or other controls, and bounded. Fields that are absent or unusable are NULL.
 */
struct ms_imap_headers {
	/* One msg-id "<left@right>": printable ASCII, no space, '<' or '>'
	   inside, at most MS_IMAP_MSGID_MAX octets. */
	char *message_id;
	/* Valid msg-ids joined by single spaces: In-Reply-To's first ones,
	   References' first and latest ones (when there are more than
	   MS_IMAP_REFS_MAX or they take more than MS_IMAP_REFS_BYTES, the
	   ones in between are dropped, as RFC 5322 3.6.4 allows). Anything
	   else in those fields (comments, words, broken ids) is skipped. */
	char *in_reply_to;
	char *references;
	/* RFC 2047-decoded, one clean line, at most MS_IMAP_SUBJECT_MAX
	   octets; "" when present but empty. */
	char *subject;
	/* The first From mailbox: its address (ms_addr_validate() with
	   MS_ADDR_UTF8) and decoded display name (at most
	   MS_ADDR_DISPLAY_MAX octets). */
	char *from_address;
	char *from_name;
	/* Reply-To's valid addresses (group members included), distinct
	   (ms_addr_equal), at most MS_IMAP_REPLY_TO_MAX; NULL/0 if none. */
	char **reply_to;
	size_t reply_to_count;
	/* To's and Cc's valid addresses, the same way, at most
	   MS_IMAP_RCPTS_MAX each, in header order; NULL/0 if none. An
	   address may be in both (each list is distinct on its own). */
	char **to;
	size_t to_count;
	char **cc;
	size_t cc_count;
	int64_t date; /* Date: in unix seconds; 0 when absent or invalid */
	/* Not to be answered automatically: Auto-Submitted present and not
	   "no", Content-Type multipart/report, or a bounce (Return-Path or
	   From null "<>", or MAILER-DAEMON). */
	bool automatic;
};

/* Frees what h points to and zeroes it. */
void ms_imap_headers_clear(struct ms_imap_headers *h);

/* Which mail ms_imap_headers() looks at. */
struct ms_imap_header_query {
	const char *mailbox; /* NULL = "INBOX" */
	/* uid != 0: that mail, if the mailbox's UIDVALIDITY equals
	   uidvalidity (else not found). */
	uint32_t uidvalidity;
	uint32_t uid;
	/* uid == 0: the newest mail (highest UID) whose first From address
	   equals `from` (ms_addr_equal; an ASCII address) and whose
	   INTERNALDATE is at or after `since` (unix seconds), among the
	   MS_IMAP_SEARCH_MAX newest that UID SEARCH SINCE FROM finds. */
	const char *from;
	int64_t since;
	/* Only if mailbox is the user's \Sent special-use mailbox (else not
	   found; MS_IMAP_ERR_NO_MAILBOX when the user has none). */
	bool sent_only;
};
#define MS_IMAP_SEARCH_MAX 20

struct ms_imap_headers_result {
	/* As for scans; NO_MAILBOX when EXAMINE says there is no such
	   mailbox. A failed job reports nothing else. */
	enum ms_imap_error error;
	char *error_text;
	bool found;	      /* a mail matched: uid and headers are set */
	uint32_t uidvalidity; /* the mailbox's (also when not found) */
	uint32_t uid;
	struct ms_imap_headers headers;
};

/* Called on the loop thread. res is freed after the callback returns. */
typedef void ms_imap_headers_cb(const struct ms_imap_headers_result *res,
				void *ctx);

/*
 * Queues a look-up of one mail's headers in the user's mailbox q->mailbox
 * (opened with EXAMINE; the header fields are fetched with BODY.PEEK, so
 * no flag changes). q is copied.
 *
 * Returns 0 when queued: the callback then fires exactly once, unless the
 * pool is freed first. Returns -1, queueing nothing, when the queue is
 * full, or the query is invalid (uid == 0 and `from` not a valid ASCII
 * address, or a mailbox name that is not printable ASCII).
 */
int ms_imap_headers(struct ms_imap_pool *pool, const char *user,
		    const struct ms_imap_header_query *q,
		    ms_imap_headers_cb *cb, void *ctx);

struct ms_imap_seen_result {
	/* As for scans; NO_MAILBOX when EXAMINE says there is no such
	   mailbox. A failed job reports nothing else. */
	enum ms_imap_error error;
	char *error_text;
	/* A mail whose Message-ID is exactly the one asked for is among the
	   MS_IMAP_SEARCH_MAX newest hits of the search. */
	bool found;
	uint32_t uidvalidity; /* the mailbox's (also when not found) */
	uint32_t uid;	      /* found: the newest such mail */
	bool seen;	      /* found: that mail has \Seen */
};

/* Called on the loop thread. res is freed after the callback returns. */
typedef void ms_imap_seen_cb(const struct ms_imap_seen_result *res, void *ctx);

/*
 * Queues a look-up of whether the user's copy of a mail is seen: EXAMINE
 * mailbox (NULL = "INBOX"), UID SEARCH HEADER Message-ID <message_id> (a
 * substring match in IMAP), then UID FETCH (UID FLAGS BODY.PEEK[HEADER.
 * FIELDS (Message-ID)]) of the MS_IMAP_SEARCH_MAX newest hits; only a
 * mail whose (first valid) Message-ID equals message_id octet for octet
 * counts. Never changes flags. The strings are copied.
 *
 * Returns 0 when queued: the callback then fires exactly once, unless the
 * pool is freed first. Returns -1, queueing nothing, when the queue is
 * full, message_id is not one msg-id "<left@right>" of printable ASCII
 * without spaces (and no '<' or '>' inside) of at most MS_IMAP_MSGID_MAX
 * octets, or the mailbox name is not printable ASCII.
 */
int ms_imap_seen_by_msgid(struct ms_imap_pool *pool, const char *user,
			  const char *mailbox, const char *message_id,
			  ms_imap_seen_cb *cb, void *ctx);

/* Jobs pending: queued, running, or done and not yet reported. */
size_t ms_imap_pool_pending(const struct ms_imap_pool *pool);

struct ms_imap_pool_stats {
	size_t busy;	   /* sessions working now */
	size_t queued;	   /* jobs waiting for a session */
	uint64_t jobs;	   /* finished */
	uint64_t failures; /* finished with an error */
};
/* Loop thread only. */
void ms_imap_pool_get_stats(const struct ms_imap_pool *pool,
			    struct ms_imap_pool_stats *stats_r);
/*
 * Drops queued jobs (their callbacks do not fire), cuts running sessions
 * short (their sockets are shut down) and waits for them without calling
 * their callbacks, and frees the pool once libuv released its handles.
 * Jobs of every kind alike. May be called from any job's callback.
 */
void ms_imap_pool_free(struct ms_imap_pool **pool);

#endif
