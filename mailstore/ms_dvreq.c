/*
 * The request lists of a Dovecot auth client (see ms_dvreq.h): two
 * intrusive doubly linked lists per request (its state list and "all"),
 * ids, deadlines and what a dropped connection does to the requests on
 * it.
 */
#include <stddef.h>

#include "ms_dvreq.h"
#include "ut_xalloc.h"

#define MAX_SENDS 2 /* a request lost with its connection: once more */

/* ---- the state lists (sprev, snext) ---- */

static void st_append(struct ms_dvreq_list *l, struct ms_dvreq *r)
{
	r->snext = NULL;
	r->sprev = l->tail;
	if (l->tail != NULL)
		l->tail->snext = r;
	else
		l->head = r;
	l->tail = r;
	l->count++;
}

static void st_prepend(struct ms_dvreq_list *l, struct ms_dvreq *r)
{
	r->sprev = NULL;
	r->snext = l->head;
	if (l->head != NULL)
		l->head->sprev = r;
	else
		l->tail = r;
	l->head = r;
	l->count++;
}

static void st_remove(struct ms_dvreq_list *l, struct ms_dvreq *r)
{
	if (r->sprev != NULL)
		r->sprev->snext = r->snext;
	else
		l->head = r->snext;
	if (r->snext != NULL)
		r->snext->sprev = r->sprev;
	else
		l->tail = r->sprev;
	r->sprev = r->snext = NULL;
	l->count--;
}

/* ---- "all" (aprev, anext) ---- */

static void all_append(struct ms_dvreq_list *l, struct ms_dvreq *r)
{
	r->anext = NULL;
	r->aprev = l->tail;
	if (l->tail != NULL)
		l->tail->anext = r;
	else
		l->head = r;
	l->tail = r;
	l->count++;
}

static void all_remove(struct ms_dvreq_list *l, struct ms_dvreq *r)
{
	if (r->aprev != NULL)
		r->aprev->anext = r->anext;
	else
		l->head = r->anext;
	if (r->anext != NULL)
		r->anext->aprev = r->aprev;
	else
		l->tail = r->aprev;
	r->aprev = r->anext = NULL;
	l->count--;
}

static struct ms_dvreq_list *state_list(struct ms_dvreqs *q, struct ms_dvreq *r)
{
	switch (r->state) {
	case MS_DVREQ_QUEUED:
		return &q->queue;
	case MS_DVREQ_SENT:
		return &q->sent;
	case MS_DVREQ_DONE:
		return &q->done;
	}
	ut_assert(false);
	return NULL;
}

/* ---- the API ---- */

void ms_dvreqs_add(struct ms_dvreqs *q, struct ms_dvreq *r,
		   uint64_t deadline_msecs)
{
	r->deadline_msecs = deadline_msecs;
	r->state = MS_DVREQ_QUEUED;
	all_append(&q->all, r);
	st_append(&q->queue, r);
}

void ms_dvreqs_finish(struct ms_dvreqs *q, struct ms_dvreq *r)
{
	ut_assert(r->state != MS_DVREQ_DONE);
	st_remove(state_list(q, r), r);
	all_remove(&q->all, r);
	r->state = MS_DVREQ_DONE;
	st_append(&q->done, r);
}

void ms_dvreqs_remove(struct ms_dvreqs *q, struct ms_dvreq *r)
{
	st_remove(state_list(q, r), r);
	if (r->state != MS_DVREQ_DONE)
		all_remove(&q->all, r);
}

struct ms_dvreq *ms_dvreqs_take_done(struct ms_dvreqs *q)
{
	struct ms_dvreq *r = q->done.head;
	if (r != NULL)
		st_remove(&q->done, r);
	return r;
}

struct ms_dvreq *ms_dvreqs_send_next(struct ms_dvreqs *q,
				     unsigned max_in_flight)
{
	struct ms_dvreq *r = q->queue.head;
	if (r == NULL || q->sent.count >= max_in_flight)
		return NULL;
	st_remove(&q->queue, r);
	r->state = MS_DVREQ_SENT;
	r->sends++;
	st_append(&q->sent, r);
	return r;
}

struct ms_dvreq *ms_dvreqs_expired(const struct ms_dvreqs *q,
				   uint64_t now_msecs)
{
	struct ms_dvreq *r = q->all.head;
	return r != NULL && r->deadline_msecs <= now_msecs ? r : NULL;
}

struct ms_dvreq *ms_dvreqs_find_sent(const struct ms_dvreqs *q, uint32_t id)
{
	struct ms_dvreq *r;
	for (r = q->sent.head; r != NULL && r->id != id; r = r->snext)
		;
	return r;
}

uint32_t ms_dvreqs_next_id(struct ms_dvreqs *q)
{
	if (++q->last_id == 0) {
		q->ids_wrapped = true;
		q->last_id = 1;
	}
	return q->last_id;
}

bool ms_dvreqs_id_issued(const struct ms_dvreqs *q, uint32_t id)
{
	return id != 0 && (q->ids_wrapped || id <= q->last_id);
}

void ms_dvreqs_rearm(const struct ms_dvreqs *q, uv_timer_t *timer,
		     uv_timer_cb cb)
{
	if (q->done.head != NULL) {
		uv_timer_start(timer, cb, 0, 0);
		return;
	}
	if (q->all.head == NULL) {
		uv_timer_stop(timer);
		return;
	}
	uint64_t now = uv_now(timer->loop), at = q->all.head->deadline_msecs;
	uv_timer_start(timer, cb, at > now ? at - now : 0, 0);
}

void ms_dvreqs_drop(struct ms_dvreqs *q, enum ms_dvconn_why why,
		    const char *reason, ms_dvreq_fail_cb *fail, void *ctx)
{
	struct ms_dvreq *r, *next, *again = NULL;

	/* The sent requests: again once (in their order), or fail. */
	for (r = q->sent.head; r != NULL; r = next) {
		next = r->snext;
		if (why == MS_DVCONN_LOST && r->sends < MAX_SENDS) {
			st_remove(&q->sent, r);
			r->state = MS_DVREQ_QUEUED;
			r->snext = again; /* a stack, reversed below */
			again = r;
		} else {
			fail(r, reason, ctx);
		}
	}
	while (again != NULL) {
		r = again;
		again = r->snext;
		st_prepend(&q->queue, r);
	}
	if (why == MS_DVCONN_CONNECT || why == MS_DVCONN_HANDSHAKE) {
		while ((r = q->queue.head) != NULL)
			fail(r, reason, ctx);
	}
}
