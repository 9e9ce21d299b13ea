#ifndef MS_AUTHCLIENT_PRIVATE_H
#define MS_AUTHCLIENT_PRIVATE_H

/*
 * Internals of the auth-client client, shared by ms_authclient.c (requests,
 * timeouts, callbacks) and ms_authclient_conn.c (the handshake and the
 * answers). Nothing outside these two files includes this. The request
 * lists are ms_dvreq's (see ms_dvreq.h), the connection is ms_dvconn's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ms_acproto.h"
#include "ms_authclient.h"
#include "ms_dvconn.h"
#include "ms_dvreq.h"

#define MS_AUTHCLIENT_LOG_PREFIX "auth-client"

struct ms_authclient_request {
	struct ms_dvreq dv; /* its id is in the AUTH line */
	struct ms_authclient *ac;
	ms_authclient_cb *cb;
	void *ctx;
	char *user;
	char *line; /* the AUTH line: holds the password, wiped on free */
	size_t line_len;
	struct ms_authclient_result result; /* when done */
	char *reason;
};

#define ACREQ(d) MS_DVREQ_OWNER(d, struct ms_authclient_request, dv)

struct ms_authclient {
	uv_loop_t *loop;
	char *service;
	struct ms_authclient_settings set;
	struct ms_dvconn *conn;
	/* The handshake on the current connection. */
	bool sent_handshake, version_ok, saw_mech, plain;
	uv_timer_t timer;      /* deadlines; 0 ms for pending callbacks */
	unsigned open_handles; /* the timer and conn */
	bool closing;
	struct ms_dvreqs reqs;
	struct ms_authclient_stats stats;
};

/* ms_authclient.c */

/* Moves R to the done list with its status (callback later, from
   dispatch); reason may be NULL. */
void ms_authclient__finish(struct ms_authclient *ac,
			   struct ms_authclient_request *r,
			   enum ms_authclient_status status,
			   const char *reason);
/* Calls the callbacks of every done request. Every libuv entry point calls
   it last: nothing may touch the client afterwards but a check of
   ac->closing. */
void ms_authclient__dispatch(struct ms_authclient *ac);
void ms_authclient__rearm(struct ms_authclient *ac);
/* One of the client's handles (the timer, conn) was closed; the last one
   frees it. */
void ms_authclient__release_handle(struct ms_authclient *ac);

/* ms_authclient_conn.c */

extern const struct ms_dvconn_ops ms_authclient__conn_ops;

/* Gets queued requests moving: sends them, or connects (after the
   back-off). Never calls a callback. */
void ms_authclient__kick(struct ms_authclient *ac);
/* Drops the current connection; see ms_dvreqs_drop() for what happens to
   the requests. The caller dispatches afterwards (or the timer does). */
void ms_authclient__drop(struct ms_authclient *ac, enum ms_dvconn_why why,
			 const char *reason);

#endif
