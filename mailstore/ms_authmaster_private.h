#ifndef MS_AUTHMASTER_PRIVATE_H
#define MS_AUTHMASTER_PRIVATE_H

/*
 * Internals of the auth-master client, shared by ms_authmaster.c (requests,
 * lookups, timeouts, callbacks) and ms_authmaster_conn.c (the connection
 * and the protocol). Nothing outside these two files includes this.
 *
 * A lookup (one user name) lives in exactly one of three state lists:
 * queue (waiting to be sent), sent (on the wire, matched by id) or done
 * (answered or failed, callbacks pending); while queued or sent it is also
 * in "all", ordered by deadline (creation order, as every lookup gets the
 * same timeout), and in the by_user table. Requests (the public handles)
 * hang off their lookup.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ms_amcache.h"
#include "ms_authmaster.h"
#include "ut_buf.h"
#include "ut_hash.h"

#define MS_AUTHMASTER_LOG_PREFIX "auth-master"
#define MS_AUTHMASTER_READ_CHUNK 4096

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

enum lookup_state { LOOKUP_QUEUED, LOOKUP_SENT, LOOKUP_DONE };

struct lookup {
	struct lookup *prev, *next;   /* in am->all (not when done) */
	struct lookup *sprev, *snext; /* in queue, sent or done */
	char *user;
	struct reqlist waiters;
	uint64_t deadline_msecs;
	uint32_t id; /* of the last send */
	unsigned sends;
	enum lookup_state state;
	struct ms_authmaster_result result; /* when done */
	char *reason;
};

struct llist {
	struct lookup *head, *tail;
	size_t count;
};

struct conn {
	struct ms_authmaster *am;
	bool active; /* still am->conn */
	bool connected, sent_version, version_ok;
	uv_pipe_t pipe;
	uv_connect_t connect_req;
	struct ut_buf in;
	char rbuf[MS_AUTHMASTER_READ_CHUNK];
};

struct ms_authmaster {
	uv_loop_t *loop;
	char *path;
	char *service;
	struct ms_authmaster_settings set;
	struct conn *conn;
	uv_timer_t timer;	/* deadlines; 0 ms for pending callbacks */
	uv_timer_t retry_timer; /* reconnect back-off */
	unsigned open_handles;
	bool closing;
	bool failing; /* the last connection attempt failed (logged once) */
	struct ut_hash *by_user; /* lookups queued or sent */
	struct llist all, queue, sent, done;
	size_t requests;
	uint32_t last_id;
	bool ids_wrapped;
	unsigned backoff_msecs;
	uint64_t connect_after_msecs;
	struct ms_amcache *cache;
	struct ms_authmaster_stats stats;
};

static inline void all_append(struct llist *l, struct lookup *x)
{
	x->next = NULL;
	x->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = x;
	else
		l->head = x;
	l->tail = x;
	l->count++;
}

static inline void all_remove(struct llist *l, struct lookup *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		l->head = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	else
		l->tail = x->prev;
	x->prev = x->next = NULL;
	l->count--;
}

static inline void st_append(struct llist *l, struct lookup *x)
{
	x->snext = NULL;
	x->sprev = l->tail;
	if (l->tail != NULL)
		l->tail->snext = x;
	else
		l->head = x;
	l->tail = x;
	l->count++;
}

static inline void st_prepend(struct llist *l, struct lookup *x)
{
	x->sprev = NULL;
	x->snext = l->head;
	if (l->head != NULL)
		l->head->sprev = x;
	else
		l->tail = x;
	l->head = x;
	l->count++;
}

static inline void st_remove(struct llist *l, struct lookup *x)
{
	if (x->sprev != NULL)
		x->sprev->snext = x->snext;
	else
		l->head = x->snext;
	if (x->snext != NULL)
		x->snext->sprev = x->sprev;
	else
		l->tail = x->sprev;
	x->sprev = x->snext = NULL;
	l->count--;
}

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
/* One of the client's handles was closed; the last one frees it. */
void ms_authmaster__release_handle(struct ms_authmaster *am);

/* ms_authmaster_conn.c */

/* Gets queued lookups moving: sends them, or connects (after the
   back-off). Never calls a callback. */
void ms_authmaster__kick(struct ms_authmaster *am);
/* Sends what the connection may take (up to max_in_flight). */
void ms_authmaster__flush(struct ms_authmaster *am);
/* Closes the connection, if any, without touching the lookups. */
void ms_authmaster__conn_detach(struct ms_authmaster *am);

#endif
