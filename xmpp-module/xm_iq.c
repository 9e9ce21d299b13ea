/*
 * The IQ engine: handlers by (type, namespace) and inbound requests that
 * always get exactly one answer; the outbound calls are in xm_iq_call.c.
 * Both kinds time out with a fixed delay, so each is kept in a FIFO list
 * ordered by deadline and one timer serves both heads.
 */
#include "xm_iq.h"

#include <stdlib.h>
#include <string.h>

#include "ut_hash.h"
#include "ut_log.h"
#include "ut_str.h"
#include "ut_xalloc.h"
#include "xm_iq_int.h"
#include "xm_jid.h"
#include "xm_stanza.h"

static void xm_iq_timer_cb(uv_timer_t *t);

void xm_iq__rearm(struct xm_iq *q)
{
	uint64_t due = UINT64_MAX, now = uv_now(q->loop);

	if (q->closing)
		return;
	if (q->pend_head != NULL)
		due = q->pend_head->deadline;
	if (q->call_head != NULL && q->call_head->deadline < due)
		due = q->call_head->deadline;
	if (due == UINT64_MAX)
		uv_timer_stop(&q->timer);
	else
		uv_timer_start(&q->timer, xm_iq_timer_cb,
			       due > now ? due - now : 0, 0);
}

struct xm_iq *xm_iq_new(uv_loop_t *loop, xmpp_ctx_t *sctx,
			const struct xm_iq_settings *set, xm_iq_send_fn *send,
			void *send_ctx)
{
	struct xm_iq *q = xcalloc(1, sizeof(*q));

#define XM_OR(v, dflt) ((v) != 0 ? (v) : (dflt))
	q->loop = loop;
	q->sctx = sctx;
	q->set.request_timeout_msecs = XM_OR(set->request_timeout_msecs, 30000);
	q->set.pending_max = XM_OR(set->pending_max, 256);
	q->set.pending_per_sender_max = XM_OR(set->pending_per_sender_max, 16);
	q->set.call_timeout_msecs = XM_OR(set->call_timeout_msecs, 30000);
	q->set.calls_max = XM_OR(set->calls_max, 1024);
#undef XM_OR
	q->send = send;
	q->send_ctx = send_ctx;
	q->handlers = ut_hash_new();
	q->senders = ut_hash_new();
	q->calls = ut_hash_new();
	uv_timer_init(loop, &q->timer);
	q->timer.data = q;
	return q;
}

static void xm_iq_closed_cb(uv_handle_t *h)
{
	struct xm_iq *q = h->data;
	void (*closed_cb)(void *) = q->closed_cb;
	void *closed_ctx = q->closed_ctx;

	free(q);
	if (closed_cb != NULL)
		closed_cb(closed_ctx);
}

void xm_iq_close(struct xm_iq **qp, void (*closed_cb)(void *ctx), void *ctx)
{
	struct xm_iq *q = *qp;
	struct ut_hash_iter it;
	const char *key;
	void *value;

	if (q == NULL)
		return;
	*qp = NULL;
	if (q->closing)
		return;
	q->closing = true;
	q->closed_cb = closed_cb;
	q->closed_ctx = ctx;
	while (q->live_head != NULL) {
		struct xm_iq_request *req = q->live_head;

		q->live_head = req->live_next;
		req->q = NULL;
		req->answered = true;
		req->live_prev = req->live_next = NULL;
		req->pend_prev = req->pend_next = NULL;
	}
	while (q->call_head != NULL) {
		struct xm_iq_call *call = q->call_head;

		q->call_head = call->next;
		xm_iq__call_free(call);
	}
	ut_hash_iter_init(&it, q->handlers);
	while (ut_hash_iter_next(&it, &key, &value))
		free(value);
	ut_hash_free(&q->handlers);
	ut_hash_free(&q->senders);
	ut_hash_free(&q->calls);
	uv_close((uv_handle_t *)&q->timer, xm_iq_closed_cb);
}

void xm_iq_get_stats(const struct xm_iq *q, struct xm_iq_stats *stats_r)
{
	*stats_r = q->stats;
	stats_r->pending = q->n_pending;
	stats_r->in_flight = ut_hash_count(q->calls);
}

/* ---- inbound ---- */

static char *handler_key(enum xm_iq_type type, const char *ns)
{
	return xasprintf("%c:%s", type == XM_IQ_GET ? 'g' : 's', ns);
}

int xm_iq_register(struct xm_iq *q, enum xm_iq_type type, const char *ns,
		   xm_iq_handler_cb *cb, void *ctx)
{
	char *key = handler_key(type, ns);
	struct xm_iq_handler *h;

	if (ut_hash_get(q->handlers, key) != NULL) {
		free(key);
		return -1;
	}
	h = xmalloc(sizeof(*h));
	h->cb = cb;
	h->ctx = ctx;
	ut_hash_put(q->handlers, key, h);
	free(key);
	return 0;
}

void xm_iq_unregister(struct xm_iq *q, enum xm_iq_type type, const char *ns)
{
	char *key = handler_key(type, ns);

	free(ut_hash_remove(q->handlers, key));
	free(key);
}

static void send_stanza(struct xm_iq *q, xmpp_stanza_t *st)
{
	(void)q->send(st, q->send_ctx);
	xmpp_stanza_release(st);
}

static void sender_count(struct xm_iq *q, const char *sender, int delta)
{
	uintptr_t n = (uintptr_t)ut_hash_get(q->senders, sender);

	n = delta > 0 ? n + 1 : n - 1;
	if (n == 0)
		ut_hash_remove(q->senders, sender);
	else
		ut_hash_put(q->senders, sender, (void *)n);
}

/* Marks req answered and sends st (consumed). */
static int answer(struct xm_iq_request *req, xmpp_stanza_t *st)
{
	struct xm_iq *q = req->q;

	if (q == NULL || req->answered) {
		xmpp_stanza_release(st);
		return -1;
	}
	req->answered = true;
	LIST_UNLINK(&q->pend_head, &q->pend_tail, req, pend_prev, pend_next);
	sender_count(q, req->sender, -1);
	q->n_pending--;
	send_stanza(q, st);
	return 0;
}

static xmpp_stanza_t *error_new(struct xm_iq *q, xmpp_stanza_t *iq,
				const char *type, const char *condition,
				const char *text, const char *app_condition,
				const char *app_ns)
{
	xmpp_stanza_t *r =
	    xm_error_reply_new(q->sctx, iq, type, condition, text);

	if (app_condition != NULL) {
		xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(r, "error");

		xm_elem_adopt(err, xm_elem_new(q->sctx, app_condition, app_ns));
	}
	return r;
}

static void answer_default(struct xm_iq_request *req, bool timeout)
{
	struct xm_iq *q = req->q;

	if (q == NULL || req->answered)
		return;
	q->stats.default_errors++;
	if (timeout)
		q->stats.timed_out++;
	answer(req, error_new(q, req->iq, req->err_type, req->err_condition,
			      req->err_text, NULL, NULL));
}

static void refuse_busy(struct xm_iq *q, xmpp_stanza_t *iq, const char *who,
			bool per_sender)
{
	uint64_t now = uv_now(q->loop);

	q->stats.refused_busy++;
	send_stanza(q, error_new(q, iq, "wait", "resource-constraint", NULL,
				 NULL, NULL));
	if (ut_ratelog_due(&q->busy_log, now, XM_IQ_LOG_MSECS))
		ut_ratelog_emit(&q->busy_log, now, UT_LOG_WARN,
				XM_IQ_LOG_PREFIX,
				"refused an iq from %s: %zu requests "
				"unanswered %s",
				*who != '\0' ? who : "(no sender)",
				per_sender ? q->set.pending_per_sender_max
					   : q->set.pending_max,
				per_sender ? "from this sender" : "in all");
}

static xmpp_stanza_t *first_child_elem(xmpp_stanza_t *st)
{
	xmpp_stanza_t *ch = xmpp_stanza_get_children(st);

	while (ch != NULL && !xmpp_stanza_is_tag(ch))
		ch = xmpp_stanza_get_next(ch);
	return ch;
}

static void dispatch_request(struct xm_iq *q, xmpp_stanza_t *iq,
			     enum xm_iq_type type)
{
	xmpp_stanza_t *payload = first_child_elem(iq);
	const char *ns = payload != NULL ? xmpp_stanza_get_ns(payload) : NULL;
	const char *from = xmpp_stanza_get_from(iq);
	struct xm_iq_handler *h = NULL;
	struct xm_iq_request *req;
	char *key, *sender;
	bool per_sender;

	q->stats.requests++;
	if (ns != NULL) {
		key = handler_key(type, ns);
		h = ut_hash_get(q->handlers, key);
		free(key);
	}
	if (h == NULL) {
		q->stats.unhandled++;
		send_stanza(q, error_new(q, iq, "cancel", "service-unavailable",
					 NULL, NULL, NULL));
		return;
	}
	/* Counted per bare JID, ASCII case folded like xm_jid_bare_equal(). */
	sender = from != NULL ? xm_jid_bare(from) : NULL;
	if (sender == NULL)
		sender = xstrdup(from != NULL ? from : "");
	ut_ascii_lower(sender);
	per_sender = (uintptr_t)ut_hash_get(q->senders, sender) >=
		     q->set.pending_per_sender_max;
	if (per_sender || q->n_pending >= q->set.pending_max) {
		refuse_busy(q, iq, sender, per_sender);
		free(sender);
		return;
	}
	req = xcalloc(1, sizeof(*req));
	req->q = q;
	req->iq = xmpp_stanza_clone(iq);
	req->payload = payload;
	req->type = type;
	req->sender = sender;
	req->deadline = uv_now(q->loop) + q->set.request_timeout_msecs;
	req->err_type = xstrdup("cancel");
	req->err_condition = xstrdup("internal-server-error");
	req->live_next = q->live_head;
	if (q->live_head != NULL)
		q->live_head->live_prev = req;
	q->live_head = req;
	LIST_APPEND(&q->pend_head, &q->pend_tail, req, pend_prev, pend_next);
	sender_count(q, sender, +1);
	q->n_pending++;
	xm_iq__rearm(q);
	h->cb(req, h->ctx);
}

xmpp_stanza_t *xm_iq_request_stanza(const struct xm_iq_request *req)
{
	return req->iq;
}

xmpp_stanza_t *xm_iq_request_payload(const struct xm_iq_request *req)
{
	return req->payload;
}

enum xm_iq_type xm_iq_request_type(const struct xm_iq_request *req)
{
	return req->type;
}

const char *xm_iq_request_from(const struct xm_iq_request *req)
{
	return xmpp_stanza_get_from(req->iq);
}

const char *xm_iq_request_to(const struct xm_iq_request *req)
{
	return xmpp_stanza_get_to(req->iq);
}

bool xm_iq_request_pending(const struct xm_iq_request *req)
{
	return req->q != NULL && !req->answered;
}

void xm_iq_request_set_default_error(struct xm_iq_request *req,
				     const char *type, const char *condition,
				     const char *text)
{
	free(req->err_type);
	free(req->err_condition);
	free(req->err_text);
	req->err_type = xstrdup(type);
	req->err_condition = xstrdup(condition);
	req->err_text = xstrdup_null(text);
}

int xm_iq_request_result(struct xm_iq_request *req, xmpp_stanza_t *payload)
{
	xmpp_stanza_t *r;

	if (!xm_iq_request_pending(req))
		return -1;
	r = xm_iq_result_new(req->q->sctx, req->iq);
	if (payload != NULL)
		xm_strophe_check(xmpp_stanza_add_child(r, payload));
	return answer(req, r);
}

int xm_iq_request_error_app(struct xm_iq_request *req, const char *type,
			    const char *condition, const char *text,
			    const char *app_condition, const char *app_ns)
{
	if (!xm_iq_request_pending(req))
		return -1;
	return answer(req, error_new(req->q, req->iq, type, condition, text,
				     app_condition, app_ns));
}

int xm_iq_request_error(struct xm_iq_request *req, const char *type,
			const char *condition, const char *text)
{
	return xm_iq_request_error_app(req, type, condition, text, NULL, NULL);
}

void xm_iq_request_release(struct xm_iq_request **reqp)
{
	struct xm_iq_request *req = *reqp;
	struct xm_iq *q;

	if (req == NULL)
		return;
	*reqp = NULL;
	answer_default(req, false);
	q = req->q;
	if (q != NULL) {
		if (req->live_prev != NULL)
			req->live_prev->live_next = req->live_next;
		else
			q->live_head = req->live_next;
		if (req->live_next != NULL)
			req->live_next->live_prev = req->live_prev;
	}
	xmpp_stanza_release(req->iq);
	free(req->sender);
	free(req->err_type);
	free(req->err_condition);
	free(req->err_text);
	free(req);
}

bool xm_iq_dispatch(struct xm_iq *q, xmpp_stanza_t *iq)
{
	const char *type = xmpp_stanza_get_type(iq);

	if (q->closing || type == NULL)
		return false;
	if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0) {
		dispatch_request(q, iq, type[0] == 'g' ? XM_IQ_GET : XM_IQ_SET);
		return true;
	}
	if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)
		return xm_iq__dispatch_reply(q, iq, type[0] == 'r');
	return false;
}

static void xm_iq_timer_cb(uv_timer_t *t)
{
	struct xm_iq *q = t->data;
	uint64_t now = uv_now(q->loop);

	while (!q->closing && q->pend_head != NULL &&
	       q->pend_head->deadline <= now)
		answer_default(q->pend_head, true);
	xm_iq__expire_calls(q, now);
	xm_iq__rearm(q);
}
