#include "xm_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_log.h"
#include "ut_xalloc.h"

#define XM_OUTBOX_WINDOW     8192
#define XM_OUTBOX_PING_EVERY 1024

void xm_outbox_init(struct xm_outbox *o, size_t max, uint32_t ping_salt)
{
	memset(o, 0, sizeof(*o));
	o->max = max;
	o->window = XM_OUTBOX_WINDOW;
	o->ping_every = XM_OUTBOX_PING_EVERY;
	o->ping_salt = ping_salt;
}

static struct xm_outbox_entry *xm_outbox_at(const struct xm_outbox *o, size_t i)
{
	return &o->ring[(o->head + i) & (o->cap - 1)];
}

void xm_outbox_free(struct xm_outbox *o)
{
	for (size_t i = 0; i < o->count; i++)
		free(xm_outbox_at(o, i)->xml);
	free(o->ring);
	free(o->pings);
	memset(o, 0, sizeof(*o));
}

static void xm_outbox_grow(struct xm_outbox *o)
{
	size_t new_cap = o->cap == 0 ? 64 : o->cap * 2;
	struct xm_outbox_entry *ring =
	    xreallocarray(NULL, new_cap, sizeof(*ring));

	/* Unwrap into the new ring so that the head lands at index 0. */
	for (size_t i = 0; i < o->count; i++)
		ring[i] = *xm_outbox_at(o, i);
	free(o->ring);
	o->ring = ring;
	o->cap = new_cap;
	o->head = 0;
}

int xm_outbox_push(struct xm_outbox *o, const char *xml, size_t len,
		   uint64_t token)
{
	struct xm_outbox_entry *e;

	ut_assert(len > 0);
	if (o->count >= o->max)
		return -1;
	if (o->count == o->cap)
		xm_outbox_grow(o);
	e = xm_outbox_at(o, o->count);
	e->xml = xmalloc(len + 1);
	memcpy(e->xml, xml, len);
	e->xml[len] = '\0';
	e->len = len;
	e->token = token;
	e->written_before = false;
	o->count++;
	return 0;
}

void xm_outbox_add_ping(struct xm_outbox *o, struct ut_buf *b, const char *from,
			const char *to, uint64_t now_msecs)
{
	struct xm_outbox_ping *p;

	if (o->n_pings == o->cap_pings) {
		o->cap_pings = o->cap_pings == 0 ? 8 : o->cap_pings * 2;
		o->pings =
		    xreallocarray(o->pings, o->cap_pings, sizeof(*o->pings));
	}
	p = &o->pings[o->n_pings++];
	snprintf(p->id, sizeof(p->id), "xmc%08x-%llu", (unsigned)o->ping_salt,
		 (unsigned long long)++o->ping_counter);
	o->n_covered = o->n_written;
	p->upto = o->head_seq + o->n_covered;
	p->sent_msecs = now_msecs;
	ut_buf_appendf(b,
		       "<iq type='get' id='%s' from='%s' to='%s'>"
		       "<ping xmlns='urn:xmpp:ping'/></iq>",
		       p->id, from, to);
}

size_t xm_outbox_fill(struct xm_outbox *o, struct ut_buf *b, const char *from,
		      const char *to, uint64_t now_msecs)
{
	bool trace = ut_trace_enabled(UT_TRACE_XMPP);
	size_t n = 0;

	while (o->n_written < o->count && o->n_written < o->window) {
		struct xm_outbox_entry *e = xm_outbox_at(o, o->n_written++);

		ut_buf_append(b, e->xml, e->len);
		o->stanzas_out++;
		if (e->written_before)
			o->resent++;
		if (trace)
			ut_trace(UT_TRACE_XMPP, "xmpp", "out: %s", e->xml);
		if (xm_outbox_uncovered(o) >= o->ping_every)
			xm_outbox_add_ping(o, b, from, to, now_msecs);
		n++;
	}
	if (xm_outbox_uncovered(o) > 0 && o->n_pings == 0)
		xm_outbox_add_ping(o, b, from, to, now_msecs);
	return n;
}

bool xm_outbox_ping_answered(struct xm_outbox *o, const char *id,
			     uint64_t *upto_r)
{
	size_t i = 0;

	while (i < o->n_pings && strcmp(o->pings[i].id, id) != 0)
		i++;
	if (i == o->n_pings)
		return false;
	/* Answers come in stream order: this one answers the earlier pings
	   too (an error answer confirms just as well). */
	*upto_r = o->pings[i].upto;
	o->n_pings -= i + 1;
	memmove(o->pings, o->pings + i + 1, o->n_pings * sizeof(*o->pings));
	return true;
}

bool xm_outbox_oldest_ping(const struct xm_outbox *o, uint64_t *sent_msecs_r)
{
	if (o->n_pings == 0)
		return false;
	*sent_msecs_r = o->pings[0].sent_msecs;
	return true;
}

bool xm_outbox_pop_confirmed(struct xm_outbox *o, uint64_t upto,
			     uint64_t *token_r)
{
	struct xm_outbox_entry *e;

	if (o->n_covered == 0 || o->head_seq >= upto)
		return false;
	e = xm_outbox_at(o, 0);
	*token_r = e->token;
	free(e->xml);
	e->xml = NULL;
	o->head = (o->head + 1) & (o->cap - 1);
	o->count--;
	o->n_written--;
	o->n_covered--;
	o->head_seq++;
	return true;
}

size_t xm_outbox_uncovered(const struct xm_outbox *o)
{
	return o->n_written - o->n_covered;
}

size_t xm_outbox_unwritten(const struct xm_outbox *o)
{
	return o->count - o->n_written;
}

void xm_outbox_rewind(struct xm_outbox *o)
{
	for (size_t i = 0; i < o->n_written; i++)
		xm_outbox_at(o, i)->written_before = true;
	o->n_written = 0;
	o->n_covered = 0;
	o->n_pings = 0;
}
