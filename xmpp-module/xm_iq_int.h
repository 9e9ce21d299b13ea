#ifndef XM_IQ_INT_H
#define XM_IQ_INT_H

/*
 * Private to xm_iq.c (the engine, inbound requests) and xm_iq_call.c
 * (outbound calls): the engine's state.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ut_hash.h"
#include "ut_log.h"
#include "xm_iq.h"

#define XM_IQ_LOG_PREFIX "xmpp"
#define XM_IQ_LOG_MSECS	 1000

struct xm_iq_handler {
	xm_iq_handler_cb *cb;
	void *ctx;
};

struct xm_iq_request {
	struct xm_iq *q; /* NULL once detached */
	xmpp_stanza_t *iq, *payload;
	enum xm_iq_type type;
	bool answered;
	char *sender; /* key in q->senders */
	uint64_t deadline;
	char *err_type, *err_condition, *err_text;
	/* q->live: every attached request; q->pending: unanswered ones. */
	struct xm_iq_request *live_prev, *live_next;
	struct xm_iq_request *pend_prev, *pend_next;
};

struct xm_iq_call {
	uint64_t handle, deadline;
	char *id, *expect_from;
	xm_iq_reply_cb *cb;
	void *ctx;
	struct xm_iq_call *prev, *next;
};

struct xm_iq {
	uv_loop_t *loop;
	xmpp_ctx_t *sctx;
	struct xm_iq_settings set;
	xm_iq_send_fn *send;
	void *send_ctx;
	struct ut_hash *handlers; /* "g:ns" / "s:ns" -> struct xm_iq_handler */
	struct ut_hash *senders;  /* bare JID -> pending count */
	struct ut_hash *calls;	  /* id -> struct xm_iq_call */
	struct xm_iq_request *live_head;
	struct xm_iq_request *pend_head, *pend_tail;
	struct xm_iq_call *call_head, *call_tail;
	uv_timer_t timer;
	uint64_t next_handle;
	size_t n_pending;
	bool closing;
	void (*closed_cb)(void *ctx);
	void *closed_ctx;
	struct ut_ratelog busy_log;
	struct xm_iq_stats stats;
};

/* Intrusive doubly linked lists: unlink/append by field names. */
#define LIST_UNLINK(headp, tailp, el, prev, next)                              \
	do {                                                                   \
		if ((el)->prev != NULL)                                        \
			(el)->prev->next = (el)->next;                         \
		else                                                           \
			*(headp) = (el)->next;                                 \
		if ((el)->next != NULL)                                        \
			(el)->next->prev = (el)->prev;                         \
		else if ((tailp) != NULL)                                      \
			*(tailp) = (el)->prev;                                 \
		(el)->prev = (el)->next = NULL;                                \
	} while (0)

#define LIST_APPEND(headp, tailp, el, prev, next)                              \
	do {                                                                   \
		(el)->next = NULL;                                             \
		(el)->prev = *(tailp);                                         \
		if (*(tailp) != NULL)                                          \
			(*(tailp))->next = (el);                               \
		else                                                           \
			*(headp) = (el);                                       \
		*(tailp) = (el);                                               \
	} while (0)

/* Arms the timer for the earliest deadline (stops it when none). */
void xm_iq__rearm(struct xm_iq *q);
void xm_iq__call_free(struct xm_iq_call *call);
/* A result (ok) or error: to its call, when id and sender match. */
bool xm_iq__dispatch_reply(struct xm_iq *q, xmpp_stanza_t *iq, bool ok);
/* Calls whose deadline is not after now get XM_IQ_TIMEOUT. */
void xm_iq__expire_calls(struct xm_iq *q, uint64_t now);

#endif
