/*
 * XEP-0050 ad-hoc commands: the checks in the order xm_adhoc.h gives,
 * sessions (bounded, expiring, remembered a while after they end) and the
 * <command/> answers. Sessions are reference-counted: the table holds one
 * reference until the session ends, each call in progress one more; the
 * session's data is freed with the last reference.
 */
#include "xm_adhoc.h"

#include <stdlib.h>
#include <string.h>

#include "ut_hash.h"
#include "ut_random.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_adhoc_int.h"
#include "xm_jid.h"
#include "xm_stanza.h"

/* ---- sessions ---- */

void xm_adhoc__rearm(struct xm_adhoc *a)
{
	uint64_t now = uv_now(a->loop);

	if (a->lru_head == NULL) {
		uv_timer_stop(&a->timer);
		return;
	}
	uv_timer_start(
	    &a->timer, xm_adhoc__timer_cb,
	    a->lru_head->deadline > now ? a->lru_head->deadline - now : 0, 0);
}

static void lru_unlink(struct xm_adhoc *a, struct xm_adhoc_session *s)
{
	if (s->prev == NULL && a->lru_head != s)
		return; /* not linked (a new session) */
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		a->lru_head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	else
		a->lru_tail = s->prev;
	s->prev = s->next = NULL;
}

void xm_adhoc__touch(struct xm_adhoc *a, struct xm_adhoc_session *s)
{
	lru_unlink(a, s);
	s->deadline = uv_now(a->loop) + a->idle_msecs;
	s->prev = a->lru_tail;
	if (a->lru_tail != NULL)
		a->lru_tail->next = s;
	else
		a->lru_head = s;
	a->lru_tail = s;
	xm_adhoc__rearm(a);
}

void xm_adhoc__session_unref(struct xm_adhoc_session *s)
{
	if (--s->refs > 0)
		return;
	if (s->free_fn != NULL)
		s->free_fn(s->data);
	free(s->requester);
	free(s->bare);
	free(s->node);
	free(s);
}

void xm_adhoc__session_end(struct xm_adhoc *a, struct xm_adhoc_session *s)
{
	if (s->ended)
		return;
	s->ended = true;
	if (a != NULL) {
		size_t i = a->ended_next++ % ENDED_RING;

		ut_hash_remove(a->sessions, s->id);
		lru_unlink(a, s);
		memcpy(a->ended[i].id, s->id, sizeof(s->id));
		free(a->ended[i].requester);
		a->ended[i].requester = xstrdup(s->requester);
	}
	xm_adhoc__session_unref(s);
}

bool xm_adhoc__ended_recently(struct xm_adhoc *a, const char *id,
			      const char *requester)
{
	for (size_t i = 0; i < ENDED_RING; i++) {
		if (a->ended[i].requester != NULL &&
		    strcmp(a->ended[i].id, id) == 0 &&
		    xm_jid_equal(a->ended[i].requester, requester))
			return true;
	}
	return false;
}

void xm_adhoc__timer_cb(uv_timer_t *t)
{
	struct xm_adhoc *a = t->data;
	uint64_t now = uv_now(a->loop);

	while (a->lru_head != NULL && a->lru_head->deadline <= now) {
		struct xm_adhoc_session *s = a->lru_head;

		if (s->busy)
			xm_adhoc__touch(
			    a, s); /* its stage's answer touches it again */
		else
			xm_adhoc__session_end(a, s);
	}
	xm_adhoc__rearm(a);
}

struct xm_adhoc_session *xm_adhoc__session_new(struct xm_adhoc *a,
					       struct xm_adhoc_command *cmd,
					       const char *requester,
					       const char *bare)
{
	struct xm_adhoc_session *s = xcalloc(1, sizeof(*s));
	unsigned char raw[SESSIONID_BYTES];

	ut_random_bytes(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
	s->requester = xstrdup(requester);
	s->bare = xstrdup(bare);
	s->cmd = cmd;
	s->node = xstrdup(cmd->node);
	s->refs = 1;
	ut_hash_put(a->sessions, s->id, s);
	xm_adhoc__touch(a, s);
	return s;
}

size_t xm_adhoc__sessions_of(struct xm_adhoc *a, const char *bare)
{
	size_t n = 0;

	for (struct xm_adhoc_session *s = a->lru_head; s != NULL; s = s->next)
		n += strcmp(s->bare, bare) == 0;
	return n;
}

/* ---- answers ---- */

static xmpp_stanza_t *command_elem(struct xm_adhoc_call *call,
				   const char *status)
{
	xmpp_stanza_t *cmd =
	    xm_elem_new(call->a->sctx, "command", XM_NS_COMMANDS);

	xm_elem_set_attr(cmd, "node", call->s->node);
	xm_elem_set_attr(cmd, "sessionid", call->s->id);
	xm_elem_set_attr(cmd, "status", status);
	return cmd;
}

static void add_note(xmpp_stanza_t *cmd, enum xm_adhoc_note type,
		     const char *text)
{
	static const char *const types[] = {[XM_ADHOC_NOTE_INFO] = "info",
					    [XM_ADHOC_NOTE_WARN] = "warn",
					    [XM_ADHOC_NOTE_ERROR] = "error"};
	char *clean;

	if (text == NULL)
		return;
	ut_assert(type >= XM_ADHOC_NOTE_INFO && type <= XM_ADHOC_NOTE_ERROR);
	clean = ut_utf8_clean_str(text, strlen(text), UT_CLEAN_MULTILINE, 0);
	xm_elem_set_attr(xm_elem_add_text_child(cmd, "note", clean), "type",
			 types[type]);
	free(clean);
}

static bool answerable(struct xm_adhoc_call *call)
{
	return call->a != NULL && xm_iq_request_pending(call->req);
}

static const char *action_name(enum xm_adhoc_action action)
{
	switch (action) {
	case XM_ADHOC_PREV:
		return "prev";
	case XM_ADHOC_NEXT:
		return "next";
	case XM_ADHOC_COMPLETE:
		return "complete";
	case XM_ADHOC_EXECUTE:
		break;
	}
	return "execute";
}

unsigned xm_adhoc__action_bit(enum xm_adhoc_action action)
{
	switch (action) {
	case XM_ADHOC_PREV:
		return XM_ADHOC_ALLOW_PREV;
	case XM_ADHOC_NEXT:
		return XM_ADHOC_ALLOW_NEXT;
	case XM_ADHOC_COMPLETE:
		return XM_ADHOC_ALLOW_COMPLETE;
	case XM_ADHOC_EXECUTE:
		break;
	}
	return 0;
}

int xm_adhoc_call_reply_form(struct xm_adhoc_call *call,
			     const struct xm_form *form, unsigned allowed,
			     enum xm_adhoc_action dflt,
			     enum xm_adhoc_note note_type, const char *note)
{
	static const struct {
		unsigned bit;
		const char *name;
	} order[] = {{XM_ADHOC_ALLOW_PREV, "prev"},
		     {XM_ADHOC_ALLOW_NEXT, "next"},
		     {XM_ADHOC_ALLOW_COMPLETE, "complete"}};
	xmpp_stanza_t *cmd, *actions;
	int rc;

	ut_assert((allowed & 7) != 0 && (allowed & ~7u) == 0);
	ut_assert((allowed & xm_adhoc__action_bit(dflt)) != 0);
	if (!answerable(call))
		return -1;
	cmd = command_elem(call, "executing");
	actions = xm_elem_add_text_child(cmd, "actions", NULL);
	xm_elem_set_attr(actions, "execute", action_name(dflt));
	for (size_t i = 0; i < UT_N_ELEMENTS(order); i++) {
		if (allowed & order[i].bit)
			xm_elem_add_text_child(actions, order[i].name, NULL);
	}
	add_note(cmd, note_type, note);
	xm_elem_adopt(cmd, xm_form_to_stanza(form, call->a->sctx));
	rc = xm_iq_request_result(call->req, cmd);
	xmpp_stanza_release(cmd);
	if (rc == 0) {
		call->kept = true;
		call->s->allowed = allowed;
		call->s->dflt = dflt;
	}
	return rc;
}

int xm_adhoc_call_complete(struct xm_adhoc_call *call,
			   enum xm_adhoc_note note_type, const char *note,
			   const struct xm_form *result)
{
	xmpp_stanza_t *cmd;
	int rc;

	if (!answerable(call))
		return -1;
	cmd = command_elem(call, "completed");
	add_note(cmd, note_type, note);
	if (result != NULL)
		xm_elem_adopt(cmd, xm_form_to_stanza(result, call->a->sctx));
	rc = xm_iq_request_result(call->req, cmd);
	xmpp_stanza_release(cmd);
	return rc;
}

int xm_adhoc_call_error(struct xm_adhoc_call *call, const char *type,
			const char *condition, const char *text,
			const char *cmd_condition)
{
	if (!answerable(call))
		return -1;
	return xm_iq_request_error_app(
	    call->req, type, condition, text, cmd_condition,
	    cmd_condition != NULL ? XM_NS_COMMANDS : NULL);
}

void xm_adhoc_call_release(struct xm_adhoc_call **callp)
{
	struct xm_adhoc_call *call = *callp;
	struct xm_adhoc *a;

	if (call == NULL)
		return;
	*callp = NULL;
	a = call->a;
	xm_iq_request_release(&call->req);
	call->s->busy = false;
	if (a != NULL) {
		if (call->prev != NULL)
			call->prev->next = call->next;
		else
			a->calls = call->next;
		if (call->next != NULL)
			call->next->prev = call->prev;
		if (!call->kept)
			xm_adhoc__session_end(a, call->s);
		else if (!call->s->ended)
			xm_adhoc__touch(a, call->s);
	}
	xm_adhoc__session_unref(call->s);
	xm_form_free(&call->form);
	free(call);
}

/* ---- call accessors ---- */

const char *xm_adhoc_call_requester(const struct xm_adhoc_call *call)
{
	return call->s->requester;
}

const char *xm_adhoc_call_node(const struct xm_adhoc_call *call)
{
	return call->s->node;
}

const char *xm_adhoc_call_sessionid(const struct xm_adhoc_call *call)
{
	return call->s->id;
}

enum xm_adhoc_action xm_adhoc_call_action(const struct xm_adhoc_call *call)
{
	return call->action;
}

bool xm_adhoc_call_first(const struct xm_adhoc_call *call)
{
	return call->first;
}

const struct xm_form *
xm_adhoc_call_submitted_form(const struct xm_adhoc_call *call)
{
	return call->form;
}

struct xm_iq_request *xm_adhoc_call_request(const struct xm_adhoc_call *call)
{
	return call->req;
}

void *xm_adhoc_call_session_data(const struct xm_adhoc_call *call)
{
	return call->s->data;
}

void xm_adhoc_call_set_session_data(struct xm_adhoc_call *call, void *data,
				    void (*free_fn)(void *data))
{
	struct xm_adhoc_session *s = call->s;

	if (s->free_fn != NULL && s->data != data)
		s->free_fn(s->data);
	s->data = data;
	s->free_fn = free_fn;
}
