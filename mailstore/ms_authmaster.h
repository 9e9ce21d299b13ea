#ifndef MS_AUTHMASTER_H
#define MS_AUTHMASTER_H

/*
 * An asynchronous client of Dovecot's auth-master protocol on the libuv
 * loop: "which uid does Dovecot's userdb give this user, if the user
 * exists?". Used to check that an event comes from the mailbox's owner
 * (ms_evsock, [events] trusted_users = owner); the same lookup answers
 * ejabberd's extauth "isuser" (FOUND: yes, NOTFOUND: no, FAIL: unknown).
 *
 * Which socket. Dovecot's auth service decides what a listener allows by
 * the end of its name: "<name>-userdb" serves USER, PASS and LIST (the
 * least privilege that works, and what this client needs); "<name>-master"
 * serves those plus REQUEST and CACHE-FLUSH; any other name is an
 * auth-client socket and does not speak this protocol (the client reports
 * "this is an auth-client socket"). For example:
 *   service auth {
 *     unix_listener tidings-userdb { mode = 0600  user = tidings }
 *   }
 * With mode 0666 Dovecot restricts a peer that is neither the socket's
 * owner nor in its group to users whose uid is the peer's own (everything
 * else answers FAIL): give the socket a mode that only tidingsd can use.
 *
 * The protocol (ms_amproto.h): one connection, opened on the first
 * request, "VERSION\t1\t0" then one "USER\t<id>\t<user>\tservice=<s>"
 * line per lookup; answers are matched by id, so they may come in any
 * order. Every line from the socket is hostile input: a line over 8 KiB
 * or one that does not parse closes the connection and fails the lookups
 * sent on it; it never aborts.
 *
 * Behaviour:
 * - Lookups for the same user while one is under way share it: a flood
 *   of events for one mailbox costs one lookup.
 * - Answers are cached (FOUND and NOTFOUND; FAIL never): an LRU cache of
 *   cache_size entries, positive answers for positive_ttl_msecs, negative
 *   ones for negative_ttl_msecs. A cache hit is answered at once.
 * - At most max_in_flight lookups are on the wire at a time; the others
 *   wait in order. At most max_requests requests (and as many distinct
 *   lookups) exist at a time; beyond that a request is refused.
 * - A request fails at most timeout_msecs after the call, whatever
 *   happens meanwhile (one that joined a lookup under way shares its
 *   deadline; an answer that comes later is ignored).
 * - When the connection drops, the lookups on it are sent again once on a
 *   new connection (a second drop fails them); when connecting fails, the
 *   lookups waiting for it fail. Reconnects back off from 100 ms to 5 s
 *   after failures; a connection that worked is reopened at once.
 * - The cache key is the name as asked (Dovecot may canonicalise it, e.g.
 *   lower-case it; the key is not).
 * - Logs ("auth-master: <path>: ..."): a socket that cannot be used at
 *   warn, once until a connection works again; a bad line at error; an
 *   idle connection that Dovecot closed (a reload) at info.
 *
 * Threads: everything on the loop's thread. Callbacks are called from the
 * loop, never from inside ms_authmaster_user(). The process must ignore
 * SIGPIPE (tidingsd does): a write to a socket Dovecot closed must fail
 * with EPIPE, not kill the process.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct ms_authmaster;
struct ms_authmaster_request;

enum ms_authmaster_status {
	MS_AUTHMASTER_FOUND = 1, /* the userdb knows the user */
	MS_AUTHMASTER_NOTFOUND,	 /* it does not */
	MS_AUTHMASTER_FAIL,	 /* no answer: timeout, error, refused */
};

struct ms_authmaster_result {
	enum ms_authmaster_status status;
	bool has_uid, has_gid; /* FOUND: the userdb gave a uid / gid */
	uid_t uid;
	gid_t gid;
	/* FAIL: why, one line ("timed out after 5000 ms", Dovecot's reason=
	   text, ...); NULL otherwise. Valid during the callback only. */
	const char *reason;
};

/* Called exactly once per request that ms_authmaster_user() queued
   (returned 0), unless the request was cancelled or the client freed
   first. It may call any function of this header, including
   ms_authmaster_free() and ms_authmaster_cancel() on other requests. */
typedef void ms_authmaster_cb(const struct ms_authmaster_result *result,
			      void *ctx);

struct ms_authmaster_settings {
	const char *service; /* service= sent with lookups; NULL: "tidings" */
	unsigned timeout_msecs;	     /* per request; 0: 5000 */
	unsigned max_in_flight;	     /* lookups on the wire; 0: 32 */
	unsigned max_requests;	     /* requests at a time; 0: 4096 */
	unsigned cache_size;	     /* entries; 0: 10000 */
	unsigned positive_ttl_msecs; /* FOUND cached; 0: 600000 (10 min) */
	unsigned negative_ttl_msecs; /* NOTFOUND cached; 0: 60000 (1 min) */
	bool no_cache;		     /* cache nothing */
};

struct ms_authmaster_stats {
	uint64_t requests;   /* ms_authmaster_user() calls that returned 0/1 */
	uint64_t cache_hits; /* answered from the cache */
	uint64_t coalesced;  /* joined a lookup already under way */
	uint64_t lookups;    /* USER lines sent (a resend counts again) */
	uint64_t found;	     /* answers received */
	uint64_t notfound;
	uint64_t failed;   /* FAIL answers received */
	uint64_t timeouts; /* lookups that timed out */
	uint64_t late;	   /* answers that came after their timeout */
	uint64_t connects; /* connections established */
	uint64_t connect_errors;
	uint64_t disconnects; /* connections lost, including the ones below */
	uint64_t protocol_errors; /* connections closed over a bad line */
	uint64_t refused;	  /* requests refused: too many */
};

/*
 * Creates a client for the socket at path (absolute, fits a sockaddr_un;
 * nothing is connected yet). set may be NULL for the defaults. Returns 0,
 * or -1 with an xmalloc'ed message in *error_r.
 */
int ms_authmaster_new(uv_loop_t *loop, const char *path,
		      const struct ms_authmaster_settings *set,
		      struct ms_authmaster **am_r, char **error_r);

/*
 * Looks up user. Returns:
 *  1: answered from the cache: *result_r is filled (reason NULL), no
 *     callback, *req_r is NULL;
 *  0: the answer comes through cb(result, ctx), exactly once, later;
 *     *req_r is a handle for ms_authmaster_cancel(), valid until the
 *     callback is called, the request cancelled or the client freed;
 * -1: refused at once (a name that cannot be sent, see
 *     ms_amproto_name_ok(), or too many requests): an xmalloc'ed message
 *     in *error_r, no callback, *req_r is NULL.
 */
int ms_authmaster_user(struct ms_authmaster *am, const char *user,
		       ms_authmaster_cb *cb, void *ctx,
		       struct ms_authmaster_request **req_r,
		       struct ms_authmaster_result *result_r, char **error_r);

/* Withdraws a request: its callback is never called. Sets *req to NULL;
   NULL is a no-op. The lookup itself goes on (its answer is cached). */
void ms_authmaster_cancel(struct ms_authmaster_request **req);

void ms_authmaster_get_stats(const struct ms_authmaster *am,
			     struct ms_authmaster_stats *stats_r);
const char *ms_authmaster_status_name(enum ms_authmaster_status status);

/*
 * Closes the connection and drops every request WITHOUT calling its
 * callback (their handles become invalid). Sets *am to NULL; NULL is a
 * no-op. May be called from inside a callback. The memory is released once
 * libuv has closed the handles: run the loop afterwards.
 */
void ms_authmaster_free(struct ms_authmaster **am);

#endif
