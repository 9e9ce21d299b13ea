#ifndef XM_IQ_H
#define XM_IQ_H

/*
 * The IQ engine of the component: inbound get/set requests dispatched to
 * handlers, and outbound requests tracked until their answer. The
 * component owns one (xm_component_iq()); it is also usable on its own
 * with any send function (the unit tests do that).
 *
 * Inbound. A handler is registered for (type, namespace of the IQ's
 * payload, i.e. its first child element). For each IQ get/set:
 * - no handler registered: answered at once with cancel/
 *   service-unavailable;
 * - with pending_max requests unanswered already, or
 *   pending_per_sender_max from the same bare JID (ASCII case folded):
 *   answered at once with wait/resource-constraint (the handler is not
 *   called; a warning is logged at most once a second);
 * - otherwise the handler gets a new struct xm_iq_request. It carries a
 *   default error reply (cancel/internal-server-error unless the handler
 *   changes it), and exactly one answer goes out for it, whatever the
 *   handler does:
 *   - xm_iq_request_result() or xm_iq_request_error() answers (now, from
 *     the handler, or later: async is fine);
 *   - xm_iq_request_release() without an answer sends the default error;
 *   - request_timeout_msecs after arrival, an unanswered request gets the
 *     default error;
 *   once answered (either way), further answers are no-ops returning -1.
 * The handler owns the request it is given and must release it exactly
 * once, now or later; the object stays valid until then, also after a
 * timeout and after the engine is closed (then it is "detached": answers
 * are no-ops, release only frees it). A request keeps its whole IQ in
 * memory until released: unanswered ones hold at most pending_max times
 * the largest stanza the component takes; the handler decides how long
 * it keeps answered ones.
 *
 * Outbound. xm_iq_send() gives the IQ a fresh unguessable id and tracks it;
 * its callback fires exactly once: with the result or error stanza whose
 * id matches AND whose 'from' equals the IQ's 'to' (xm_jid_equal: node and
 * domain ASCII case-insensitive, resource exact; a reply without 'from' or
 * from anyone else is ignored and the call goes on waiting), or with no
 * stanza on timeout (call_timeout_msecs) or when the connection is lost
 * (xm_iq_connection_lost()). Never after xm_iq_cancel() of its handle,
 * nor after xm_iq_close(). At most calls_max calls are in flight. Note
 * that no answer does not mean nothing happened: the component's outbox
 * may still deliver the IQ after a reconnect; a set must be safe to repeat
 * or be checked again.
 *
 * Results and errors that match no call are dropped (xm_iq_dispatch()
 * returns false for them; the component logs them at debug level).
 *
 * Loop thread only. Callbacks (handlers and reply callbacks) fire from
 * xm_iq_dispatch(), xm_iq_connection_lost() or the engine's timer, never
 * from inside the call that registered or sent them. A callback may send,
 * answer, cancel, release, and close the engine.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>
#include <uv.h>

enum xm_iq_type {
	XM_IQ_GET = 0,
	XM_IQ_SET = 1,
};

struct xm_iq;
struct xm_iq_request;

struct xm_iq_settings {
	uint64_t request_timeout_msecs; /* 0 = default 30000 */
	size_t pending_max;		/* 0 = default 256 */
	size_t pending_per_sender_max;	/* 0 = default 16 */
	uint64_t call_timeout_msecs;	/* 0 = default 30000 */
	size_t calls_max;		/* 0 = default 1024 */
};

struct xm_iq_stats {
	uint64_t requests;	 /* get/set received */
	uint64_t unhandled;	 /* answered service-unavailable */
	uint64_t refused_busy;	 /* answered resource-constraint */
	uint64_t default_errors; /* default error sent (release or timeout) */
	uint64_t timed_out;	 /* of those, on timeout */
	uint64_t calls;		 /* outbound IQs sent */
	uint64_t call_timeouts;
	uint64_t unmatched; /* results/errors matching no call */
	size_t pending;	    /* unanswered requests now */
	size_t in_flight;   /* outbound calls now */
};

/*
 * How the engine sends: send(stanza, ctx) queues the stanza (not consumed)
 * and returns 0, or -1 when it could not (the engine goes on as if it had
 * been sent: the request counts as answered, the call still waits).
 */
typedef int xm_iq_send_fn(xmpp_stanza_t *stanza, void *ctx);

/* Always succeeds (aborts on out-of-memory). */
struct xm_iq *xm_iq_new(uv_loop_t *loop, xmpp_ctx_t *sctx,
			const struct xm_iq_settings *set, xm_iq_send_fn *send,
			void *send_ctx);
/*
 * Sets *q to NULL. Requests still held by handlers are detached; calls in
 * flight are dropped without their callbacks; no callback fires after
 * this. The memory goes once libuv has released the timer, then closed_cb
 * (may be NULL) fires. May be called from the engine's own callbacks.
 * No-op when *q is NULL.
 */
void xm_iq_close(struct xm_iq **q, void (*closed_cb)(void *ctx), void *ctx);
void xm_iq_get_stats(const struct xm_iq *q, struct xm_iq_stats *stats_r);

/* ---- inbound ---- */

/* The handler owns req (see above) and must release it once. */
typedef void xm_iq_handler_cb(struct xm_iq_request *req, void *ctx);

/* Registers cb for (type, ns); ns is copied. Returns 0, or -1 when that
   pair has a handler already. */
int xm_iq_register(struct xm_iq *q, enum xm_iq_type type, const char *ns,
		   xm_iq_handler_cb *cb, void *ctx);
/* Removes the handler of (type, ns), if any. Requests it holds stay its
   own. */
void xm_iq_unregister(struct xm_iq *q, enum xm_iq_type type, const char *ns);

/*
 * Takes any <iq/> the component received. Get/set: answered or given to a
 * handler as above (returns true). Result/error: delivered to the matching
 * call (true) or dropped (false). Other types: ignored (false). The caller
 * keeps its reference to iq.
 */
bool xm_iq_dispatch(struct xm_iq *q, xmpp_stanza_t *iq);

/* The IQ as received; valid until the request is released. */
xmpp_stanza_t *xm_iq_request_stanza(const struct xm_iq_request *req);
/* Its first child element (the handler's namespace); never NULL. */
xmpp_stanza_t *xm_iq_request_payload(const struct xm_iq_request *req);
enum xm_iq_type xm_iq_request_type(const struct xm_iq_request *req);
/* 'from' (the requester's full JID) and 'to'; either may be NULL. */
const char *xm_iq_request_from(const struct xm_iq_request *req);
const char *xm_iq_request_to(const struct xm_iq_request *req);
/* True until answered (by the handler, timeout) or detached. */
bool xm_iq_request_pending(const struct xm_iq_request *req);

/* Replaces the default error (type "cancel", "modify", "wait", "auth";
   condition per RFC 6120 8.3.3; text may be NULL). Strings are copied. */
void xm_iq_request_set_default_error(struct xm_iq_request *req,
				     const char *type, const char *condition,
				     const char *text);
/*
 * Answers with a result; payload (may be NULL) is added as its only child
 * (not consumed: the caller keeps its reference). Returns 0, or -1 when
 * the request was answered already or is detached (nothing sent).
 */
int xm_iq_request_result(struct xm_iq_request *req, xmpp_stanza_t *payload);
/* Answers with an error (see set_default_error). Returns as above. */
int xm_iq_request_error(struct xm_iq_request *req, const char *type,
			const char *condition, const char *text);
/*
 * The same, with an application-specific condition element (e.g.
 * XEP-0050's <bad-sessionid xmlns='http://jabber.org/protocol/commands'/>)
 * after the defined condition; app_condition and app_ns may be NULL.
 */
int xm_iq_request_error_app(struct xm_iq_request *req, const char *type,
			    const char *condition, const char *text,
			    const char *app_condition, const char *app_ns);
/* Sends the default error when still unanswered, frees the request, sets
 *req to NULL. No-op when *req is NULL. */
void xm_iq_request_release(struct xm_iq_request **req);

/* ---- outbound ---- */

enum xm_iq_outcome {
	XM_IQ_RESULT = 1,   /* reply is the type='result' stanza */
	XM_IQ_ERROR,	    /* reply is the type='error' stanza */
	XM_IQ_TIMEOUT,	    /* reply is NULL */
	XM_IQ_DISCONNECTED, /* reply is NULL */
};

/* reply is released after the callback returns (xmpp_stanza_clone() to
   keep it). */
typedef void xm_iq_reply_cb(enum xm_iq_outcome outcome, xmpp_stanza_t *reply,
			    void *ctx);

/*
 * Sends iq, an <iq type='get'|'set' to=...> with its payload built by the
 * caller. Its id attribute is set to a fresh unguessable id (the caller's
 * stanza is changed); a missing 'from' is filled in by the send function.
 * *handle_r (nonzero) identifies the call for xm_iq_cancel(). Returns 0,
 * or -1 (cb never fires) when iq has no 'to', is not a get or set, calls_max
 * calls are in flight, or the send function refused it.
 */
int xm_iq_send(struct xm_iq *q, xmpp_stanza_t *iq, xm_iq_reply_cb *cb,
	       void *ctx, uint64_t *handle_r);
/* Forgets the call: its callback never fires. Unknown or finished
   handles are ignored. */
void xm_iq_cancel(struct xm_iq *q, uint64_t handle);
/* The connection went down: every call in flight gets
   XM_IQ_DISCONNECTED, oldest first. Inbound requests are unaffected
   (their answers wait in the outbox). */
void xm_iq_connection_lost(struct xm_iq *q);

const char *xm_iq_outcome_str(enum xm_iq_outcome outcome);

#endif
