/*
 * Outbound IQs of the engine: sent with a fresh unguessable id, matched by
 * id and by the expected sender, ended exactly once by their reply, the
 * timeout or a lost connection (see xm_iq.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ut_random.h"
#include "ut_xalloc.h"
#include "xm_iq_int.h"
#include "xm_jid.h"
#include "xm_stanza.h"

void xm_iq__call_free(struct xm_iq_call *call)
{
	free(call->id);
	free(call->expect_from);
	free(call);
}

int xm_iq_send(struct xm_iq *q, xmpp_stanza_t *iq, xm_iq_reply_cb *cb,
	       void *ctx, uint64_t *handle_r)
{
	const char *type = xmpp_stanza_get_type(iq);
	const char *to = xmpp_stanza_get_to(iq);
	struct xm_iq_call *call;
	uint64_t handle;
	char *id;

	*handle_r = 0;
	if (q->closing || to == NULL || type == NULL ||
	    (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) ||
	    ut_hash_count(q->calls) >= q->set.calls_max)
		return -1;
	handle = ++q->next_handle;
	id = xasprintf("iq%" PRIu64 "-%016" PRIx64, handle, ut_random_u64());
	xm_strophe_check(xmpp_stanza_set_id(iq, id));
	if (q->send(iq, q->send_ctx) < 0) {
		free(id);
		return -1;
	}
	call = xcalloc(1, sizeof(*call));
	call->handle = handle;
	call->id = id;
	call->expect_from = xstrdup(to);
	call->cb = cb;
	call->ctx = ctx;
	call->deadline = uv_now(q->loop) + q->set.call_timeout_msecs;
	ut_hash_put(q->calls, id, call);
	LIST_APPEND(&q->call_head, &q->call_tail, call, prev, next);
	q->stats.calls++;
	xm_iq__rearm(q);
	*handle_r = handle;
	return 0;
}

static void call_remove(struct xm_iq *q, struct xm_iq_call *call)
{
	ut_hash_remove(q->calls, call->id);
	LIST_UNLINK(&q->call_head, &q->call_tail, call, prev, next);
}

void xm_iq_cancel(struct xm_iq *q, uint64_t handle)
{
	for (struct xm_iq_call *call = q->call_head; call != NULL;
	     call = call->next) {
		if (call->handle == handle) {
			call_remove(q, call);
			xm_iq__call_free(call);
			return;
		}
	}
}

/* Removes call, then fires its callback. */
static void finish_call(struct xm_iq *q, struct xm_iq_call *call,
			enum xm_iq_outcome outcome, xmpp_stanza_t *reply)
{
	call_remove(q, call);
	call->cb(outcome, reply, call->ctx);
	xm_iq__call_free(call);
}

void xm_iq_connection_lost(struct xm_iq *q)
{
	struct xm_iq_call *head = q->call_head;

	if (q->closing)
		return;
	/* Calls sent from the callbacks belong to the next connection. */
	q->call_head = q->call_tail = NULL;
	for (struct xm_iq_call *call = head; call != NULL; call = call->next)
		ut_hash_remove(q->calls, call->id);
	while (head != NULL) {
		struct xm_iq_call *call = head;

		head = call->next;
		if (!q->closing)
			call->cb(XM_IQ_DISCONNECTED, NULL, call->ctx);
		xm_iq__call_free(call);
	}
	xm_iq__rearm(q);
}

bool xm_iq__dispatch_reply(struct xm_iq *q, xmpp_stanza_t *iq, bool ok)
{
	const char *id = xmpp_stanza_get_id(iq);
	struct xm_iq_call *call = id != NULL ? ut_hash_get(q->calls, id) : NULL;

	if (call == NULL ||
	    !xm_jid_equal(xmpp_stanza_get_from(iq), call->expect_from)) {
		q->stats.unmatched++;
		return false;
	}
	finish_call(q, call, ok ? XM_IQ_RESULT : XM_IQ_ERROR, iq);
	xm_iq__rearm(q);
	return true;
}

void xm_iq__expire_calls(struct xm_iq *q, uint64_t now)
{
	while (!q->closing && q->call_head != NULL &&
	       q->call_head->deadline <= now) {
		q->stats.call_timeouts++;
		finish_call(q, q->call_head, XM_IQ_TIMEOUT, NULL);
	}
}

const char *xm_iq_outcome_str(enum xm_iq_outcome outcome)
{
	switch (outcome) {
	case XM_IQ_RESULT:
		return "result";
	case XM_IQ_ERROR:
		return "error";
	case XM_IQ_TIMEOUT:
		return "timeout";
	case XM_IQ_DISCONNECTED:
		return "disconnected";
	}
	return "unknown";
}
