#ifndef MS_AUTHCLIENT_H
#define MS_AUTHCLIENT_H

/*
 * An asynchronous client of Dovecot's auth-client protocol on the libuv
 * loop: "is this the password of this mailbox?" (what Prosody's
 * mod_auth_dovecot asks, and tidings-auth for ejabberd). Cheaper than an
 * IMAP login: no TLS, no mail process, one line each way.
 *
 * Which socket. Dovecot's auth service decides what a unix_listener of
 * "service auth" speaks by the end of its name: a name ending in -master,
 * -userdb, -login, -token or -tokenlogin is something else; any other name
 * (auth-client, tidings-client, ...) is a plain auth-client socket, which
 * is what this client needs. For example:
 *   service auth {
 *     unix_listener tidings-client { mode = 0660  group = ejabberd }
 *   }
 *
 * The protocol is in ms_acproto.h. One connection, opened on the first
 * request; the handshake (VERSION, CPID; the server's VERSION, MECH...,
 * DONE) must offer PLAIN, then one AUTH line per request, answers matched
 * by id in any order. Every line from the socket is hostile input: a line
 * over 16 KiB or one that does not parse closes the connection and fails
 * the requests sent on it; it never aborts.
 *
 * Behaviour:
 * - A request ends OK only on Dovecot's OK for exactly the user asked
 *   (ASCII case-insensitively: Dovecot may lower-case it) without nologin,
 *   proxy/proxy_maybe, auth_user or master fields. A FAIL, or an OK for
 *   anyone or anything else, is REFUSED; a temporary failure (code=
 *   temp_fail), a timeout, a connection that cannot be made or is lost
 *   twice, or a bad line is ERROR. Nothing is cached: every request asks.
 * - Requests carry no-penalty (see ms_acproto.h for why); Dovecot still
 *   holds each FAIL back for auth_failure_delay (2 s by default).
 * - At most max_in_flight requests are on the wire at a time; the others
 *   wait in order. At most max_requests exist at a time; beyond that a
 *   request is refused at once.
 * - A request ends at most timeout_msecs after the call, whatever happens
 *   meanwhile; an answer that comes later is ignored. When a request times
 *   out on the wire or while the handshake is under way, the connection is
 *   given up (it may be stuck) and the next request opens a new one.
 * - When the connection drops, the requests on it are sent again once on a
 *   new connection (a second drop fails them); when connecting fails, or
 *   Dovecot offers no PLAIN, the requests waiting for it fail. Reconnects
 *   back off from 100 ms to 5 s after failures; a connection that worked
 *   is reopened at once.
 * - Secrets: the password is copied only into the encoded request line
 *   (and, while a write is under way, one copy of that line); both are
 *   wiped (explicit_bzero) when no longer needed, and so is the input
 *   buffer. Passwords are never logged.
 * - Logs ("auth-client: <path>: ..."): a socket that cannot be used at
 *   warn, once until a connection works again; a bad line at error; an
 *   idle connection that Dovecot closed (a reload) at info.
 *
 * Threads: everything on the loop's thread. Callbacks are called from the
 * loop, never from inside ms_authclient_auth(). The process must ignore
 * SIGPIPE: a write to a socket Dovecot closed must fail with EPIPE.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ms_authclient;
struct ms_authclient_request;

enum ms_authclient_status {
	MS_AUTHCLIENT_OK = 1,  /* the password is the user's */
	MS_AUTHCLIENT_REFUSED, /* it is not (or the user is unknown) */
	MS_AUTHCLIENT_ERROR,   /* no answer: timeout, error, temp failure */
};

struct ms_authclient_result {
	enum ms_authclient_status status;
	/* REFUSED, ERROR: why, one line ("password mismatch or unknown
	   user", Dovecot's reason= text, "timed out after 10000 ms", ...);
	   NULL for OK. Valid during the callback only. */
	const char *reason;
};

/* Called exactly once per request that ms_authclient_auth() queued
   (returned 0), unless the request was cancelled or the client freed
   first. It may call any function of this header, including
   ms_authclient_free() and ms_authclient_cancel() on other requests. */
typedef void ms_authclient_cb(const struct ms_authclient_result *result,
			      void *ctx);

struct ms_authclient_settings {
	const char *service;	/* service= sent; NULL: "xmpp" */
	unsigned timeout_msecs; /* per request; 0: 10000 */
	unsigned max_in_flight; /* requests on the wire; 0: 32 */
	unsigned max_requests;	/* requests at a time; 0: 1024 */
};

struct ms_authclient_stats {
	uint64_t requests; /* ms_authclient_auth() calls that returned 0 */
	uint64_t sent;	   /* AUTH lines sent (a resend counts again) */
	uint64_t ok;	   /* answers received */
	uint64_t refused;
	uint64_t errors;   /* temporary failures received */
	uint64_t timeouts; /* requests that timed out */
	uint64_t late;	   /* answers that came after their timeout */
	uint64_t connects; /* connections whose handshake completed */
	uint64_t connect_errors;
	uint64_t disconnects;	  /* connections lost or given up */
	uint64_t protocol_errors; /* connections closed over a bad line */
	uint64_t rejected;	  /* requests refused at once */
};

/*
 * Creates a client for the socket at path (absolute, fits a sockaddr_un;
 * nothing is connected yet). set may be NULL for the defaults. Returns 0,
 * or -1 with an xmalloc'ed message in *error_r.
 */
int ms_authclient_new(uv_loop_t *loop, const char *path,
		      const struct ms_authclient_settings *set,
		      struct ms_authclient **ac_r, char **error_r);

/*
 * Asks whether password (password_len bytes) is user's. The caller keeps
 * (and wipes) its own copy; this one is wiped when the request ends.
 * Returns 0: the answer comes through cb(result, ctx), exactly once,
 * later; *req_r is a handle for ms_authclient_cancel(), valid until the
 * callback is called, the request cancelled or the client freed. -1:
 * refused at once (a user name that cannot be sent, see
 * ms_acproto_user_ok(); a password with a NUL or too long for one line;
 * too many requests): an xmalloc'ed message in *error_r (it never quotes
 * the password), no callback, *req_r is NULL.
 */
int ms_authclient_auth(struct ms_authclient *ac, const char *user,
		       const char *password, size_t password_len,
		       ms_authclient_cb *cb, void *ctx,
		       struct ms_authclient_request **req_r, char **error_r);

/* Withdraws a request: its callback is never called (an answer that comes
   later is ignored). Sets *req to NULL; NULL is a no-op. */
void ms_authclient_cancel(struct ms_authclient_request **req);

void ms_authclient_get_stats(const struct ms_authclient *ac,
			     struct ms_authclient_stats *stats_r);
const char *ms_authclient_status_name(enum ms_authclient_status status);

/*
 * Closes the connection and drops every request WITHOUT calling its
 * callback (their handles become invalid). Sets *ac to NULL; NULL is a
 * no-op. May be called from inside a callback. The memory is released once
 * libuv has closed the handles: run the loop afterwards.
 */
void ms_authclient_free(struct ms_authclient **ac);

#endif
