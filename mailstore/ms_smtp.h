#ifndef MS_SMTP_H
#define MS_SMTP_H

/*
 * SMTP submission to the local MTA on a small pool of worker threads
 * (ms_jobs.h): each job connects, does TLS as configured (verified by
 * OpenSSL: chain and host name, ms_net.h), EHLO, optional AUTH, MAIL FROM,
 * one RCPT TO per recipient, DATA, and reports back on the loop thread.
 * Nothing is retried or logged here: the result says what happened and
 * whether trying again later can help; the caller keeps the message and
 * decides.
 *
 * Our own client, not libetpan's mailsmtp: see ms_smtp_session.c.
 *
 * How results are classified (ms_smtp_result.status, and each
 * recipient's):
 *  - OK: the server took the message (250 after the final dot) for the
 *    recipients whose status is OK.
 *  - TEMP: try again later: connect failed (refused, unreachable, timed
 *    out), a timeout or a lost connection at any point, 421 or any 4xx
 *    reply, an unparsable or oversized reply, and every failure before
 *    MAIL FROM whatever its code (greeting, EHLO, STARTTLS, TLS,
 *    certificate, AUTH): those concern our connection to the MTA, not the
 *    message, so the message stays queued while the operator looks
 *    (error says which). A 552 to RCPT counts as 452 (RFC 5321
 *    4.5.3.1.10). A connection lost after the final dot but before its
 *    reply is TEMP too: the message may then arrive twice (RFC 1047).
 *  - PERM: the server refused the message with a 5xx to MAIL FROM, DATA or
 *    the final dot, or every recipient with a 5xx to RCPT: sending it again
 *    will not help; report it.
 * Per recipient: a 5xx to its RCPT is PERM for that recipient only, a 4xx
 * TEMP; the message still goes to the others (overall OK). After a
 * refused DATA or final dot every recipient accepted at RCPT shares the
 * message's status. Retry a TEMP result for its TEMP recipients only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ms_smtp_pool;
struct ms_smtp_job;

/* At most this many recipients per message. */
#define MS_SMTP_RCPTS_MAX 100
/* Addresses (sender and recipients) at most this long (RFC 5321 path). */
#define MS_SMTP_ADDRESS_MAX 254

enum ms_smtp_tls {
	MS_SMTP_TLS_NONE = 0,
	/* EHLO, STARTTLS (must be offered), TLS, EHLO again. */
	MS_SMTP_TLS_STARTTLS,
	/* TLS from the first byte (submissions, port 465). */
	MS_SMTP_TLS_IMPLICIT,
};

struct ms_smtp_settings {
	const char *host; /* a name or an IP literal; the certificate must
			     match it (DNS or IP subjectAltName) */
	uint16_t port;
	enum ms_smtp_tls tls;
	/* PEM file of trusted CAs for TLS; NULL = the system's CA store.
	   Read by ms_smtp_pool_new(). Ignored without TLS. */
	const char *ca_file;
	/* AUTH PLAIN (or LOGIN when only that is offered) when user is not
	   NULL. Never logged, never in an error text; the pool's copy is
	   wiped when freed. Needs TLS unless auth_without_tls. */
	const char *user;
	const char *password;
	bool auth_without_tls;
	/* The EHLO name: a domain or an address literal; NULL = "localhost". */
	const char *ehlo_name;
	unsigned workers; /* threads; 0 = default 2 */
	/* Connect, TLS handshake, and each wait for the server; 0 = 30000. */
	uint64_t timeout_msecs;
	/* A whole submission ends within this (from its start on a worker);
	   0 = 4 * timeout_msecs. Name resolution may add its own. */
	uint64_t job_timeout_msecs;
	/* Jobs pending at once; 0 = default 256. */
	size_t queue_max;
	/* Largest message accepted by ms_smtp_submit(); 0 = 32 MiB. */
	size_t message_max;
};

enum ms_smtp_status {
	MS_SMTP_OK = 0,
	MS_SMTP_TEMP,
	MS_SMTP_PERM,
};

/* What went wrong, for logs and tests (the status decides what to do). */
enum ms_smtp_error {
	MS_SMTP_ERR_NONE = 0,
	/* Resolve or connect failed (refused, unreachable, timed out). */
	MS_SMTP_ERR_CONNECT,
	/* No answer in time after connecting (timeout_msecs, or the job's
	   deadline). */
	MS_SMTP_ERR_TIMEOUT,
	/* Connection lost, unparsable or oversized reply, pool stopped. */
	MS_SMTP_ERR_IO,
	/* STARTTLS not offered or refused, handshake failed, certificate
	   not trusted or for another name. */
	MS_SMTP_ERR_TLS,
	/* AUTH not offered (PLAIN/LOGIN) or refused. */
	MS_SMTP_ERR_AUTH,
	/* The server refused with the reply in code and text. */
	MS_SMTP_ERR_REPLY,
};

/* Short constant names: "ok", "temp", "perm"; "none", "connect",
   "timeout", "io", "tls", "auth", "reply" ("unknown" otherwise). */
const char *ms_smtp_status_name(enum ms_smtp_status status);
const char *ms_smtp_error_name(enum ms_smtp_error error);

struct ms_smtp_rcpt_result {
	char *address;
	enum ms_smtp_status status;
	/* The server's reply to RCPT TO (0 when never sent: the session
	   ended before) and its text (one clean line, bounded; NULL). */
	int code;
	char *text;
};

struct ms_smtp_result {
	enum ms_smtp_status status;
	enum ms_smtp_error error;
	/* The reply code that decided a failure (0 when no reply did), and
	   one clean UTF-8 line saying what failed, with the server's words
	   (bounded, never a password); NULL when OK. */
	int code;
	char *text;
	/* One per recipient, in the order given. */
	struct ms_smtp_rcpt_result *rcpts;
	size_t rcpt_count;
};

/* A message to submit. Everything is copied by ms_smtp_submit(). */
struct ms_smtp_msg {
	const char *sender;	  /* envelope MAIL FROM; "" = null path */
	const char *const *rcpts; /* envelope RCPT TO addresses */
	size_t rcpt_count;	  /* 1..MS_SMTP_RCPTS_MAX */
	const char *data;	  /* the message, header and body */
	size_t data_len;	  /* <= message_max */
};

/* Called on the loop thread; res is freed after it returns. */
typedef void ms_smtp_cb(const struct ms_smtp_result *res, void *ctx);

/*
 * Checks the settings and starts the workers; with TLS, loads the CAs
 * here. Returns 0, or -1 with *error_r (free it).
 */
int ms_smtp_pool_new(uv_loop_t *loop, const struct ms_smtp_settings *set,
		     struct ms_smtp_pool **pool_r, char **error_r);

/*
 * Queues the submission of msg. Addresses must be ASCII without controls,
 * spaces, '<' or '>', at most MS_SMTP_ADDRESS_MAX bytes (recipients not
 * empty); line ends in data may be CRLF or LF (bare LF and CR become
 * CRLF, lines starting with '.' are dot-stuffed on the wire).
 *
 * Returns 0 when queued: cb then fires exactly once, unless the job is
 * cancelled or the pool freed first; *job_r (may be NULL) is a handle
 * valid until then. Returns -1 with *error_r (free it) when msg is
 * invalid or queue_max jobs are pending ("queue full"): nothing is queued
 * and cb never fires.
 */
int ms_smtp_submit(struct ms_smtp_pool *pool, const struct ms_smtp_msg *msg,
		   ms_smtp_cb *cb, void *ctx, struct ms_smtp_job **job_r,
		   char **error_r);

/*
 * Cancels a job whose callback has not fired: it never will. A queued job
 * never runs; a running one has its connection shut down (the message may
 * or may not have been taken by then). Sets *job to NULL.
 */
void ms_smtp_cancel(struct ms_smtp_pool *pool, struct ms_smtp_job **job);

/* Jobs pending: queued, running, or done and not yet reported. */
size_t ms_smtp_pool_pending(const struct ms_smtp_pool *pool);

/*
 * Drops queued jobs, cuts running ones short and waits for them, without
 * calling any callback; wipes the password. May be called from a callback.
 */
void ms_smtp_pool_free(struct ms_smtp_pool **pool);

#endif
