#ifndef MS_DVREQ_H
#define MS_DVREQ_H

/*
 * The requests of a client of Dovecot's auth process, from the time they
 * are queued to the time their callbacks are due: what ms_authclient (one
 * password check per request) and ms_authmaster (one userdb lookup,
 * shared by the requests for one user) do alike. The owner embeds a
 * struct ms_dvreq in its own request and gets back to it with
 * MS_DVREQ_OWNER(); this module never allocates or frees one.
 *
 * A request is in exactly one of three state lists: queue (waiting to be
 * sent), sent (on the wire, matched by id) or done (answered or failed,
 * its callbacks pending); while queued or sent it is also in "all",
 * ordered by deadline (creation order: every request of a client gets the
 * same timeout). Ids count up from 1 and wrap, skipping 0.
 *
 * When a connection drops (ms_dvreqs_drop(), with the reasons of
 * ms_dvconn.h), the requests on it are queued again once, in their order,
 * ahead of the others; a second loss fails them. Failing goes through the
 * owner's callback, which records its result and calls
 * ms_dvreqs_finish().
 *
 * Threads: the loop's thread, like the clients.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ms_dvconn.h"

#define MS_DVREQ_OWNER(p, type, member)                                        \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

enum ms_dvreq_state { MS_DVREQ_QUEUED, MS_DVREQ_SENT, MS_DVREQ_DONE };

struct ms_dvreq {
	struct ms_dvreq *sprev, *snext; /* in queue, sent or done */
	struct ms_dvreq *aprev, *anext; /* in all (not when done) */
	uint64_t deadline_msecs;
	uint32_t id;	/* set by the owner (ms_dvreqs_next_id()) */
	unsigned sends; /* times it was sent */
	enum ms_dvreq_state state;
};

struct ms_dvreq_list {
	struct ms_dvreq *head, *tail;
	size_t count;
};

struct ms_dvreqs {
	struct ms_dvreq_list all, queue, sent, done;
	uint32_t last_id;
	bool ids_wrapped;
};

/* Queues r (zeroed by the owner) with its deadline. */
void ms_dvreqs_add(struct ms_dvreqs *q, struct ms_dvreq *r,
		   uint64_t deadline_msecs);
/* Takes r (queued or sent) to the done list, at its end. */
void ms_dvreqs_finish(struct ms_dvreqs *q, struct ms_dvreq *r);
/* Takes r out of every list (cancelled or freed). */
void ms_dvreqs_remove(struct ms_dvreqs *q, struct ms_dvreq *r);
/* The first done request, taken off the done list (it stays in state
   DONE, in no list), or NULL. */
struct ms_dvreq *ms_dvreqs_take_done(struct ms_dvreqs *q);
/* The first queued request moved to the sent list (its sends counted),
   unless max_in_flight are on the wire; NULL when none may go. */
struct ms_dvreq *ms_dvreqs_send_next(struct ms_dvreqs *q,
				     unsigned max_in_flight);
/* The request whose deadline is the earliest, if it is at or before now;
   else NULL. */
struct ms_dvreq *ms_dvreqs_expired(const struct ms_dvreqs *q,
				   uint64_t now_msecs);
/* The sent request with this id, or NULL. */
struct ms_dvreq *ms_dvreqs_find_sent(const struct ms_dvreqs *q, uint32_t id);

/* The next id to send (never 0). */
uint32_t ms_dvreqs_next_id(struct ms_dvreqs *q);
/* True when id was handed out before: an answer to it that matches no
   sent request came late (timed out or cancelled), it is no lie. */
bool ms_dvreqs_id_issued(const struct ms_dvreqs *q, uint32_t id);

/* Arms timer (cb) for the earliest deadline, or for 0 ms when callbacks
   are due; stops it when nothing waits. */
void ms_dvreqs_rearm(const struct ms_dvreqs *q, uv_timer_t *timer,
		     uv_timer_cb cb);

/* Fails r for reason: the owner records its result and calls
   ms_dvreqs_finish(). */
typedef void ms_dvreq_fail_cb(struct ms_dvreq *r, const char *reason,
			      void *ctx);

/*
 * The connection under the requests dropped for why (see ms_dvconn.h):
 * LOST: each sent request is queued again (ahead of the others, in its
 * order) unless it was already sent twice, which fails it; PROTOCOL: the
 * sent requests fail; CONNECT, HANDSHAKE: the sent and the queued requests
 * fail (the socket cannot be used).
 */
void ms_dvreqs_drop(struct ms_dvreqs *q, enum ms_dvconn_why why,
		    const char *reason, ms_dvreq_fail_cb *fail, void *ctx);

#endif
