#ifndef XM_ADHOC_H
#define XM_ADHOC_H

/*
 * XEP-0050 ad-hoc commands on the component JID, built on the IQ engine
 * (set, http://jabber.org/protocol/commands) and service discovery. The
 * helper does the protocol; what a command does is the registrant's
 * business (the bridge's).
 *
 * Discovery: once a command is registered, disco#info lists the feature
 * http://jabber.org/protocol/commands; disco#items on the node
 * http://jabber.org/protocol/commands lists the commands whose access
 * callback admits the requester (an empty list for anyone else);
 * disco#info on a command node answers identity automation/command-node
 * and features commands and jabber:x:data to an admitted requester and
 * cancel/forbidden to anyone else.
 *
 * Execution. A <command node=... action=.../> IQ set to the component JID
 * is checked in this order, and answered without calling the command's
 * stage callback when a check fails:
 * 1. no node, or an action that is not one of execute, cancel, prev, next,
 *    complete: modify/bad-request (with <malformed-action/> for the
 *    action);
 * 2. no command with that node: cancel/item-not-found;
 * 3. no 'from', or the access callback says no (asked on every stage):
 *    cancel/forbidden (and a session in progress ends);
 * 4. without sessionid (a new session): an action other than execute is
 *    modify/bad-request <bad-action/>; with sessions_max sessions open, or
 *    sessions_per_requester_max for the requester's bare JID:
 *    wait/resource-constraint;
 * 5. with a sessionid: unknown, or another requester's (full JID) or
 *    another node's: modify/bad-request <bad-sessionid/>; one that ended
 *    (completed, canceled, failed or expired; the last 64 to end are
 *    remembered) for this requester: cancel/not-allowed
 *    <session-expired/>; a stage still being answered:
 *    wait/unexpected-request, except cancel; action cancel: the helper
 *    answers status='canceled' and ends the session; execute means the
 *    default action of the last form; an action not allowed by it:
 *    modify/bad-request <bad-action/>; a data form that does not parse
 *    (xm_form_parse()) or is not of type submit (or cancel, which XEP-0050
 *    reads as submit): modify/bad-request <bad-payload/> (the session goes
 *    on).
 * Then the stage callback gets a call: the action, the parsed form (none on
 * the first stage), the session's data. It answers with exactly one of
 * xm_adhoc_call_reply_form() (status executing: the session goes on),
 * xm_adhoc_call_complete() (status completed) or xm_adhoc_call_error();
 * now or later (async), and releases the call. Releasing without an
 * answer sends cancel/internal-server-error; the IQ engine's timeout sends
 * it too. Any stage that does not end with xm_adhoc_call_reply_form()
 * ends the session. A session with no stage in progress for
 * session_idle_msecs expires. When a session ends, its data's free
 * function runs, once no call holds the session any more. Each stage is
 * an IQ request of the engine, so the engine's bounds and timeout apply
 * to stages as to any other request.
 *
 * Loop thread only. Stage and access callbacks fire from the IQ engine's
 * dispatch; free functions fire from a call's release, from the timer, or
 * from xm_adhoc_close().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>
#include <uv.h>

#include "xm_disco.h"
#include "xm_form.h"
#include "xm_iq.h"

#define XM_NS_COMMANDS "http://jabber.org/protocol/commands"

struct xm_adhoc;
struct xm_adhoc_call;

enum xm_adhoc_action {
	XM_ADHOC_EXECUTE = 1, /* only on a session's first stage */
	XM_ADHOC_NEXT,
	XM_ADHOC_PREV,
	XM_ADHOC_COMPLETE,
};

/* Bits for the actions a form allows. */
enum {
	XM_ADHOC_ALLOW_PREV = 1 << 0,
	XM_ADHOC_ALLOW_NEXT = 1 << 1,
	XM_ADHOC_ALLOW_COMPLETE = 1 << 2,
};

enum xm_adhoc_note {
	XM_ADHOC_NOTE_INFO = 1,
	XM_ADHOC_NOTE_WARN,
	XM_ADHOC_NOTE_ERROR,
};

struct xm_adhoc_settings {
	size_t sessions_max;		   /* 0 = default 256 */
	size_t sessions_per_requester_max; /* 0 = default 4 */
	uint64_t session_idle_msecs;	   /* 0 = default 600000 */
};

/* May requester (the asking full JID, never NULL) use the command? Must
   answer at once. */
typedef bool xm_adhoc_access_cb(const char *requester, void *ctx);
/* One stage: the callee owns call and must release it once. */
typedef void xm_adhoc_stage_cb(struct xm_adhoc_call *call, void *ctx);

/*
 * Registers the command handler on q and the commands node on d, for the
 * component JID jid (copied). q and d must outlive the helper until
 * xm_adhoc_close(). Returns NULL when q or d has those registered
 * already.
 */
struct xm_adhoc *xm_adhoc_new(uv_loop_t *loop, xmpp_ctx_t *sctx,
			      struct xm_iq *q, struct xm_disco *d,
			      const char *jid,
			      const struct xm_adhoc_settings *set);
/*
 * Sets *a to NULL, unregisters from q and d (pass NULL for one already
 * closed), ends every session (free functions of sessions without a call
 * in progress run now), detaches calls still held (their answers become
 * no-ops returning -1; release only frees), and frees the helper once
 * libuv has released its timer; then closed_cb (may be NULL) fires.
 */
void xm_adhoc_close(struct xm_adhoc **a, struct xm_iq *q, struct xm_disco *d,
		    void (*closed_cb)(void *ctx), void *ctx);

/*
 * Registers a command: node (unique, copied) and its human name (copied).
 * Returns 0, or -1 when node is registered already (here or as a disco
 * node).
 */
int xm_adhoc_register(struct xm_adhoc *a, const char *node, const char *name,
		      xm_adhoc_access_cb *access, xm_adhoc_stage_cb *stage,
		      void *ctx);

/* ---- one stage ---- */

/* The requester's full JID. */
const char *xm_adhoc_call_requester(const struct xm_adhoc_call *call);
const char *xm_adhoc_call_node(const struct xm_adhoc_call *call);
const char *xm_adhoc_call_sessionid(const struct xm_adhoc_call *call);
/* XM_ADHOC_EXECUTE on the first stage; later: the action asked for, with
   execute resolved to the last form's default. */
enum xm_adhoc_action xm_adhoc_call_action(const struct xm_adhoc_call *call);
bool xm_adhoc_call_first(const struct xm_adhoc_call *call);
/* The submitted form, or NULL (always on the first stage). Valid until
   the call is released. */
const struct xm_form *
xm_adhoc_call_submitted_form(const struct xm_adhoc_call *call);
/* The underlying request (e.g. for xml:lang); do not answer or release
   it directly. */
struct xm_iq_request *xm_adhoc_call_request(const struct xm_adhoc_call *call);
/* The session's data (NULL until set); the same for every stage. */
void *xm_adhoc_call_session_data(const struct xm_adhoc_call *call);
/* Sets it, with the function that frees it when the session ends (may be
   NULL). Replacing frees the previous data. */
void xm_adhoc_call_set_session_data(struct xm_adhoc_call *call, void *data,
				    void (*free_fn)(void *data));

/*
 * Answers with form (status executing; rendered, not consumed) and the
 * allowed actions (XM_ADHOC_ALLOW_* bits, at least one), dflt being the
 * one execute means (must be allowed); with a note when note is not NULL.
 * The session goes on. Returns 0, or -1 when the call was answered
 * already, timed out or is detached.
 */
int xm_adhoc_call_reply_form(struct xm_adhoc_call *call,
			     const struct xm_form *form, unsigned allowed,
			     enum xm_adhoc_action dflt,
			     enum xm_adhoc_note note_type, const char *note);
/*
 * Answers status completed, with a note when note is not NULL and the
 * result form when result is not NULL. The session ends. Returns as
 * above.
 */
int xm_adhoc_call_complete(struct xm_adhoc_call *call,
			   enum xm_adhoc_note note_type, const char *note,
			   const struct xm_form *result);
/*
 * Answers with an IQ error; cmd_condition (e.g. "bad-payload") adds
 * XEP-0050's specific condition, may be NULL. The session ends. Returns
 * as above.
 */
int xm_adhoc_call_error(struct xm_adhoc_call *call, const char *type,
			const char *condition, const char *text,
			const char *cmd_condition);
/* Sends the default error when unanswered; frees the call; sets *call to
   NULL. No-op on NULL. */
void xm_adhoc_call_release(struct xm_adhoc_call **call);

#endif
