#ifndef XM_OUTBOX_H
#define XM_OUTBOX_H

/*
 * The component's outbox and its confirmation pings. XEP-0114 has no acks,
 * so the outbox follows written stanzas with an XEP-0199 ping to the server
 * domain; the server answers in stream order, so the answer confirms every
 * stanza written before the ping.
 *
 * Entries (serialised stanzas, in queue order) are in one of three stages
 * on the current connection:
 *
 *   [head ... covered) written and followed by a ping
 *   [covered ... written) written, no ping after them yet
 *   [written ... tail) not written on this connection yet
 *
 * Entries carry absolute sequence numbers; a ping remembers the mark up to
 * which it confirms, so an answer never confirms anything written after its
 * ping. xm_outbox_rewind() (on disconnect) forgets the pings and makes every
 * entry unwritten again, so the next connection sends them all, in order,
 * before newer ones.
 *
 * Plain data owned by the caller; one thread; aborts only on out-of-memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ut_buf.h"

struct xm_outbox_entry {
	char *xml;
	size_t len;
	uint64_t token;
	bool written_before; /* written on an earlier connection */
};

struct xm_outbox_ping {
	char id[48];
	uint64_t upto; /* entries with a sequence number below are confirmed */
	uint64_t sent_msecs;
};

struct xm_outbox {
	struct xm_outbox_entry *ring;
	size_t cap;	   /* ring slots: a power of two, or 0 */
	size_t head;	   /* ring index of the oldest entry */
	size_t count;	   /* entries queued */
	size_t n_written;  /* from the head: written on this connection */
	size_t n_covered;  /* from the head: followed by a ping */
	uint64_t head_seq; /* sequence number of the head entry */
	size_t max;	   /* count limit */
	/* Write policy: at most window entries written and unconfirmed; a
	   ping after every ping_every entries within one batch. */
	size_t window, ping_every;

	struct xm_outbox_ping *pings; /* in flight, oldest first */
	size_t n_pings, cap_pings;
	uint64_t ping_counter;
	uint32_t ping_salt;

	uint64_t stanzas_out; /* entries written, resends included */
	uint64_t resent;      /* entries written again after a reconnect */
};

/* window 8192, ping_every 1024. ping_salt makes ping ids unguessable. */
void xm_outbox_init(struct xm_outbox *o, size_t max, uint32_t ping_salt);
/* Frees every entry and ping. */
void xm_outbox_free(struct xm_outbox *o);
/*
 * Appends a copy of xml[0..len) (len > 0). Returns 0, or -1 when the outbox
 * already holds max entries (nothing queued).
 */
int xm_outbox_push(struct xm_outbox *o, const char *xml, size_t len,
		   uint64_t token);
/*
 * Appends the next batch to b: unwritten entries (within the window), a
 * ping after every ping_every of them, and a final ping when written
 * entries are not covered and no ping is in flight (so under load there is
 * about one ping per round trip, not one per stanza). Pings are
 * <iq type='get' id=... from=from to=to><ping/></iq>; from and to must be
 * XML-safe. Each entry is traced under UT_TRACE_XMPP. Returns the number of
 * entries appended.
 */
size_t xm_outbox_fill(struct xm_outbox *o, struct ut_buf *b, const char *from,
		      const char *to, uint64_t now_msecs);
/* Appends a ping now (keepalive); it covers what was written. */
void xm_outbox_add_ping(struct xm_outbox *o, struct ut_buf *b, const char *from,
			const char *to, uint64_t now_msecs);
/*
 * An answer (result or error) with this id arrived. If it belongs to a ping
 * in flight, that ping and every earlier one are done: returns true with
 * the mark for xm_outbox_pop_confirmed(). False for any other id.
 */
bool xm_outbox_ping_answered(struct xm_outbox *o, const char *id,
			     uint64_t *upto_r);
/* When the oldest ping in flight was sent; false when none is. */
bool xm_outbox_oldest_ping(const struct xm_outbox *o, uint64_t *sent_msecs_r);
/*
 * Pops the head if a ping with mark upto confirmed it: returns true with
 * its token. False when nothing (more) is confirmed.
 */
bool xm_outbox_pop_confirmed(struct xm_outbox *o, uint64_t upto,
			     uint64_t *token_r);
/* Written on this connection and not followed by a ping yet. */
size_t xm_outbox_uncovered(const struct xm_outbox *o);
size_t xm_outbox_unwritten(const struct xm_outbox *o);
/* On disconnect: pings are forgotten, every entry becomes unwritten. */
void xm_outbox_rewind(struct xm_outbox *o);

#endif
