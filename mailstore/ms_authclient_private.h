#ifndef MS_AUTHCLIENT_PRIVATE_H
#define MS_AUTHCLIENT_PRIVATE_H

/*
 * Internals of the auth-client client, shared by ms_authclient.c (requests,
 * timeouts, callbacks) and ms_authclient_conn.c (the connection and the
 * protocol). Nothing outside these two files includes this.
 *
 * A request lives in exactly one of three state lists: queue (waiting to
 * be sent), sent (on the wire, matched by id) or done (answered or failed,
 * callback pending); while queued or sent it is also in "all", ordered by
 * deadline (creation order: every request gets the same timeout).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ms_acproto.h"
#include "ms_authclient.h"

#define MS_AUTHCLIENT_LOG_PREFIX "auth-client"

enum acreq_state { ACREQ_QUEUED, ACREQ_SENT, ACREQ_DONE };

struct ms_authclient_request {
	struct ms_authclient_request *sprev, *snext; /* state list */
	struct ms_authclient_request *aprev, *anext; /* "all" (not done) */
	struct ms_authclient *ac;
	ms_authclient_cb *cb;
	void *ctx;
	char *user;
	char *line; /* the AUTH line: holds the password, wiped on free */
	size_t line_len;
	uint32_t id;
	unsigned sends;
	enum acreq_state state;
	uint64_t deadline_msecs;
	struct ms_authclient_result result; /* when done */
	char *reason;
};

struct aclist {
	struct ms_authclient_request *head, *tail;
	size_t count;
};

struct acconn {
	struct ms_authclient *ac;
	bool active; /* still ac->conn */
	bool connected, sent_handshake;
	bool version_ok, saw_mech, plain, ready; /* ready: DONE seen */
	uv_pipe_t pipe;
	uv_connect_t connect_req;
	size_t in_len;
	char in[MS_ACPROTO_LINE_MAX + 2]; /* a line, its '\n' and a spare */
};

struct ms_authclient {
	uv_loop_t *loop;
	char *path;
	char *service;
	struct ms_authclient_settings set;
	struct acconn *conn;
	uv_timer_t timer;	/* deadlines; 0 ms for pending callbacks */
	uv_timer_t retry_timer; /* reconnect back-off */
	unsigned open_handles;
	bool closing;
	bool failing; /* the last connection attempt failed (logged once) */
	struct aclist all, queue, sent, done;
	uint32_t last_id;
	bool ids_wrapped;
	unsigned backoff_msecs;
	uint64_t connect_after_msecs;
	struct ms_authclient_stats stats;
};

/* ms_authclient.c */

void ms_authclient__list_append(struct aclist *l,
				struct ms_authclient_request *r);
void ms_authclient__list_prepend(struct aclist *l,
				 struct ms_authclient_request *r);
void ms_authclient__list_remove(struct aclist *l,
				struct ms_authclient_request *r);
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
void ms_authclient__release_handle(struct ms_authclient *ac);

/* ms_authclient_conn.c */

enum acdrop_why {
	ACDROP_CONNECT,	  /* connecting failed: everything waiting fails */
	ACDROP_HANDSHAKE, /* a bad handshake: everything waiting fails */
	ACDROP_LOST,	  /* connection lost: the sent requests go again once */
	ACDROP_PROTOCOL,  /* a bad answer: the sent requests fail */
};

/* Gets queued requests moving: sends them, or connects (after the
   back-off). Never calls a callback. */
void ms_authclient__kick(struct ms_authclient *ac);
/* Drops the current connection; see enum acdrop_why. */
void ms_authclient__drop(struct ms_authclient *ac, enum acdrop_why why,
			 const char *reason);
/* Closes the connection, if any, without touching the requests. */
void ms_authclient__conn_detach(struct ms_authclient *ac);

#endif
