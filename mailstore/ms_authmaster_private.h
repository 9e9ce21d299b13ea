#ifndef MS_AUTHMASTER_PRIVATE_H
#define MS_AUTHMASTER_PRIVATE_H

/*
 * Internals of the auth-master client, shared by ms_authmaster.c (requests,
 * lookups, timeouts, callbacks) and ms_authmaster_conn.c (the protocol).
 * Nothing outside these two files includes this.
 *
 * A lookup (one user name) is an ms_dvreq (see ms_dvreq.h: queued, sent
 * or done; while queued or sent also in the by_user table). Requests (the
 * public handles) hang off their lookup. The connection is ms_dvconn's.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ms_amcache.h"
#include "ms_authmaster.h"
#include "ms_dvconn.h"
#include "ms_dvreq.h"
#include "ut_hash.h"

#define MS_AUTHMASTER_LOG_PREFIX "auth-master"

struct reqlist {
	struct ms_authmaster_request *head, *tail;
};

struct ms_authmaster_request {
	struct ms_authmaster_request *prev, *next;
	struct reqlist *list; /* the waiters of its lookup */
	struct ms_authmaster *am;
	ms_authmaster_cb *cb;
	void *ctx;
};

struct lookup {
	struct ms_dvreq dv; /* its id is that of the last send */
	char *user;
	struct reqlist waiters;
	struct ms_authmaster_result result; /* when done */
	char *reason;
};

#define LOOKUP(d) MS_DVREQ_OWNER(d, struct lookup, dv)

struct ms_authmaster {
	uv_loop_t *loop;
	char *service;
	struct ms_authmaster_settings set;
	struct ms_dvconn *conn;
	bool sent_version;     /* on the current connection */
	uv_timer_t timer;      /* deadlines; 0 ms for pending callbacks */
	unsigned open_handles; /* the timer and conn */
	bool closing;
	struct ut_hash *by_user; /* lookups queued or sent */
	struct ms_dvreqs lookups;
	size_t requests;
	struct ms_amcache *cache;
	struct ms_authmaster_stats stats;
};

static inline void req_unlink(struct ms_authmaster_request *w)
{
	struct reqlist *l = w->list;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
	w->prev = w->next = NULL;
	w->list = NULL;
}

/* ms_authmaster.c */

/* Moves L to the done list with its result (callbacks come later, from
   dispatch), caching FOUND and NOTFOUND; reason may be NULL. */
void ms_authmaster__finish(struct ms_authmaster *am, struct lookup *L,
			   const struct ms_authmaster_result *res,
			   const char *reason);
void ms_authmaster__fail(struct ms_authmaster *am, struct lookup *L,
			 const char *reason);
/* Calls the callbacks of every done lookup. Every libuv entry point calls
   it last: nothing may touch the client afterwards but a check of
   am->closing. */
void ms_authmaster__dispatch(struct ms_authmaster *am);
/* Arms the timer for the next deadline, or for 0 ms when callbacks are
   pending. */
void ms_authmaster__rearm(struct ms_authmaster *am);
/* One of the client's handles (the timer, conn) was closed; the last one
   frees it. */
void ms_authmaster__release_handle(struct ms_authmaster *am);

/* ms_authmaster_conn.c */

extern const struct ms_dvconn_ops ms_authmaster__conn_ops;

/* Gets queued lookups moving: sends them, or connects (after the
   back-off). Never calls a callback. */
void ms_authmaster__kick(struct ms_authmaster *am);
/* Sends what the connection may take (up to max_in_flight). */
void ms_authmaster__flush(struct ms_authmaster *am);

#endif
