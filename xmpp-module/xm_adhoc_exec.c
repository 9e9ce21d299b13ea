/*
 * XEP-0050 ad-hoc commands: the IQ handler that checks each <command/> in
 * the order xm_adhoc.h gives before any stage callback sees it, the
 * discovery nodes, and setting up and closing the helper.
 */
#include <stdlib.h>
#include <string.h>

#include "ut_str.h"
#include "ut_xalloc.h"
#include "xm_adhoc_int.h"
#include "xm_jid.h"
#include "xm_stanza.h"

#define XM_ADHOC_CANCEL 0 /* internal: the cancel action */

static struct xm_adhoc_command *command_find(struct xm_adhoc *a,
					     const char *node)
{
	for (struct xm_adhoc_command *c = a->commands; c != NULL; c = c->next) {
		if (strcmp(c->node, node) == 0)
			return c;
	}
	return NULL;
}

/* The action attribute: 0 (cancel), an enum xm_adhoc_action, or -1. */
static int parse_action(const char *action)
{
	static const char *const names[] = {
	    [XM_ADHOC_CANCEL] = "cancel",     [XM_ADHOC_EXECUTE] = "execute",
	    [XM_ADHOC_NEXT] = "next",	      [XM_ADHOC_PREV] = "prev",
	    [XM_ADHOC_COMPLETE] = "complete",
	};

	if (action == NULL)
		return XM_ADHOC_EXECUTE;
	for (size_t i = 0; i < UT_N_ELEMENTS(names); i++) {
		if (strcmp(action, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

static void refuse(struct xm_iq_request *req, const char *type,
		   const char *condition, const char *cmd_condition)
{
	xm_iq_request_error_app(req, type, condition, NULL, cmd_condition,
				cmd_condition != NULL ? XM_NS_COMMANDS : NULL);
	xm_iq_request_release(&req);
}

/* Hands the stage to the command (which owns the call from here). */
static void start_call(struct xm_adhoc *a, struct xm_iq_request *req,
		       struct xm_adhoc_session *s, enum xm_adhoc_action action,
		       struct xm_form *form)
{
	struct xm_adhoc_call *call = xcalloc(1, sizeof(*call));

	call->a = a;
	call->req = req;
	call->s = s;
	call->action = action;
	call->first = action == XM_ADHOC_EXECUTE;
	call->form = form;
	s->refs++;
	s->busy = true;
	call->next = a->calls;
	if (a->calls != NULL)
		a->calls->prev = call;
	a->calls = call;
	s->cmd->stage(call, s->cmd->ctx);
}

static void new_session(struct xm_adhoc *a, struct xm_iq_request *req,
			struct xm_adhoc_command *cmd, int action)
{
	const char *from = xm_iq_request_from(req);
	struct xm_adhoc_session *s;
	char *bare;

	if (action != XM_ADHOC_EXECUTE) {
		refuse(req, "modify", "bad-request", "bad-action");
		return;
	}
	/* Counted per bare JID, ASCII case folded like xm_jid_bare_equal(). */
	bare = xm_jid_bare(from);
	if (bare == NULL)
		bare = xstrdup(from);
	ut_ascii_lower(bare);
	if (ut_hash_count(a->sessions) >= a->sessions_max ||
	    xm_adhoc__sessions_of(a, bare) >= a->per_requester_max) {
		free(bare);
		refuse(req, "wait", "resource-constraint", NULL);
		return;
	}
	s = xm_adhoc__session_new(a, cmd, from, bare);
	free(bare);
	start_call(a, req, s, XM_ADHOC_EXECUTE, NULL);
}

/* The submitted form of a later stage: 0 with *form_r (NULL when none),
   or -1 when it is not a usable submission. */
static int submitted_form(xmpp_stanza_t *command, struct xm_form **form_r)
{
	xmpp_stanza_t *x = xm_form_find(command);
	const char *error;
	enum xm_form_type type;

	*form_r = NULL;
	if (x == NULL)
		return 0;
	if (xm_form_parse(x, form_r, &error) < 0)
		return -1;
	type = xm_form_get_type(*form_r);
	if (type != XM_FORM_SUBMIT && type != XM_FORM_CANCEL) {
		xm_form_free(form_r);
		return -1;
	}
	return 0;
}

static void cancel_session(struct xm_adhoc *a, struct xm_iq_request *req,
			   struct xm_adhoc_session *s)
{
	xmpp_stanza_t *cmd = xm_elem_new(a->sctx, "command", XM_NS_COMMANDS);

	xm_elem_set_attr(cmd, "node", s->cmd->node);
	xm_elem_set_attr(cmd, "sessionid", s->id);
	xm_elem_set_attr(cmd, "status", "canceled");
	xm_iq_request_result(req, cmd);
	xmpp_stanza_release(cmd);
	xm_iq_request_release(&req);
	xm_adhoc__session_end(a, s);
}

static void next_stage(struct xm_adhoc *a, struct xm_iq_request *req,
		       struct xm_adhoc_command *cmd, const char *sessionid,
		       int action)
{
	const char *from = xm_iq_request_from(req);
	struct xm_adhoc_session *s = ut_hash_get(a->sessions, sessionid);
	struct xm_form *form;

	if (s == NULL || s->cmd != cmd || !xm_jid_equal(s->requester, from)) {
		if (s == NULL && xm_adhoc__ended_recently(a, sessionid, from))
			refuse(req, "cancel", "not-allowed", "session-expired");
		else
			refuse(req, "modify", "bad-request", "bad-sessionid");
		return;
	}
	if (action == XM_ADHOC_CANCEL) {
		cancel_session(a, req, s);
		return;
	}
	if (s->busy) {
		refuse(req, "wait", "unexpected-request", NULL);
		return;
	}
	if (action == XM_ADHOC_EXECUTE)
		action = (int)s->dflt;
	if ((s->allowed & xm_adhoc__action_bit(action)) == 0) {
		refuse(req, "modify", "bad-request", "bad-action");
		return;
	}
	if (submitted_form(xm_iq_request_payload(req), &form) < 0) {
		refuse(req, "modify", "bad-request", "bad-payload");
		return;
	}
	start_call(a, req, s, (enum xm_adhoc_action)action, form);
}

static void command_cb(struct xm_iq_request *req, void *ctx)
{
	struct xm_adhoc *a = ctx;
	xmpp_stanza_t *el = xm_iq_request_payload(req);
	const char *to = xm_iq_request_to(req);
	const char *from = xm_iq_request_from(req);
	const char *node = xmpp_stanza_get_attribute(el, "node");
	const char *sessionid = xmpp_stanza_get_attribute(el, "sessionid");
	struct xm_adhoc_command *cmd;
	int action;

	if (to != NULL && !xm_jid_equal(to, a->jid)) {
		refuse(req, "cancel", "service-unavailable", NULL);
		return;
	}
	if (strcmp(xmpp_stanza_get_name(el), "command") != 0 || node == NULL) {
		refuse(req, "modify", "bad-request", NULL);
		return;
	}
	action = parse_action(xmpp_stanza_get_attribute(el, "action"));
	if (action < 0) {
		refuse(req, "modify", "bad-request", "malformed-action");
		return;
	}
	cmd = command_find(a, node);
	if (cmd == NULL) {
		refuse(req, "cancel", "item-not-found", NULL);
		return;
	}
	if (from == NULL || !cmd->access(from, cmd->ctx)) {
		struct xm_adhoc_session *s =
		    sessionid != NULL ? ut_hash_get(a->sessions, sessionid)
				      : NULL;

		if (s != NULL && s->cmd == cmd &&
		    xm_jid_equal(s->requester, from))
			xm_adhoc__session_end(a, s);
		refuse(req, "cancel", "forbidden", NULL);
		return;
	}
	if (sessionid == NULL)
		new_session(a, req, cmd, action);
	else
		next_stage(a, req, cmd, sessionid, action);
}

/* ---- discovery ---- */

static int list_info(const char *node, const char *requester,
		     xmpp_stanza_t *query, const char **condition_r, void *ctx)
{
	(void)node;
	(void)requester;
	(void)condition_r;
	(void)ctx;
	xm_disco_add_identity(query, "automation", "command-list", "Commands");
	return 0;
}

static int list_items(const char *node, const char *requester,
		      xmpp_stanza_t *query, const char **condition_r, void *ctx)
{
	struct xm_adhoc *a = ctx;

	(void)node;
	(void)condition_r;
	for (struct xm_adhoc_command *c = a->commands; c != NULL; c = c->next) {
		if (requester != NULL && c->access(requester, c->ctx))
			xm_disco_add_item(query, a->jid, c->node, c->name);
	}
	return 0;
}

static int command_info(const char *node, const char *requester,
			xmpp_stanza_t *query, const char **condition_r,
			void *ctx)
{
	struct xm_adhoc_command *c = command_find(ctx, node);

	if (c == NULL || requester == NULL || !c->access(requester, c->ctx)) {
		*condition_r = "forbidden";
		return -1;
	}
	xm_disco_add_identity(query, "automation", "command-node", c->name);
	xm_disco_query_add_feature(query, XM_NS_COMMANDS);
	xm_disco_query_add_feature(query, XM_NS_DATA_FORMS);
	return 0;
}

/* ---- set-up ---- */

struct xm_adhoc *xm_adhoc_new(uv_loop_t *loop, xmpp_ctx_t *sctx,
			      struct xm_iq *q, struct xm_disco *d,
			      const char *jid,
			      const struct xm_adhoc_settings *set)
{
	static const struct xm_disco_node_ops list_ops = {list_info,
							  list_items};
	struct xm_adhoc *a = xcalloc(1, sizeof(*a));

	if (xm_iq_register(q, XM_IQ_SET, XM_NS_COMMANDS, command_cb, a) < 0) {
		free(a);
		return NULL;
	}
	if (xm_disco_register_node(d, XM_NS_COMMANDS, &list_ops, a) < 0) {
		xm_iq_unregister(q, XM_IQ_SET, XM_NS_COMMANDS);
		free(a);
		return NULL;
	}
	a->loop = loop;
	a->sctx = sctx;
	a->jid = xstrdup(jid);
	a->disco = d;
	a->sessions_max = set->sessions_max != 0 ? set->sessions_max : 256;
	a->per_requester_max = set->sessions_per_requester_max != 0
				   ? set->sessions_per_requester_max
				   : 4;
	a->idle_msecs =
	    set->session_idle_msecs != 0 ? set->session_idle_msecs : 600000;
	a->commands_tail = &a->commands;
	a->sessions = ut_hash_new();
	uv_timer_init(loop, &a->timer);
	a->timer.data = a;
	return a;
}

int xm_adhoc_register(struct xm_adhoc *a, const char *node, const char *name,
		      xm_adhoc_access_cb *access, xm_adhoc_stage_cb *stage,
		      void *ctx)
{
	static const struct xm_disco_node_ops command_ops = {command_info,
							     NULL};
	struct xm_adhoc_command *c;

	if (command_find(a, node) != NULL ||
	    xm_disco_register_node(a->disco, node, &command_ops, a) < 0)
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->node = xstrdup(node);
	c->name = xstrdup(name);
	c->access = access;
	c->stage = stage;
	c->ctx = ctx;
	if (a->commands == NULL)
		(void)xm_disco_add_feature(a->disco, XM_NS_COMMANDS);
	*a->commands_tail = c;
	a->commands_tail = &c->next;
	return 0;
}

static void adhoc_closed_cb(uv_handle_t *h)
{
	struct xm_adhoc *a = h->data;
	void (*closed_cb)(void *) = a->closed_cb;
	void *closed_ctx = a->closed_ctx;

	free(a->jid);
	free(a);
	if (closed_cb != NULL)
		closed_cb(closed_ctx);
}

void xm_adhoc_close(struct xm_adhoc **ap, struct xm_iq *q, struct xm_disco *d,
		    void (*closed_cb)(void *ctx), void *ctx)
{
	struct xm_adhoc *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	if (q != NULL)
		xm_iq_unregister(q, XM_IQ_SET, XM_NS_COMMANDS);
	while (a->commands != NULL) {
		struct xm_adhoc_command *c = a->commands;

		a->commands = c->next;
		if (d != NULL)
			xm_disco_unregister_node(d, c->node);
		free(c->node);
		free(c->name);
		free(c);
	}
	if (d != NULL) {
		xm_disco_unregister_node(d, XM_NS_COMMANDS);
		xm_disco_remove_feature(d, XM_NS_COMMANDS);
	}
	/* Calls first: a session's data must not be freed under a call. */
	for (struct xm_adhoc_call *call = a->calls; call != NULL;
	     call = call->next)
		call->a = NULL;
	while (a->lru_head != NULL)
		xm_adhoc__session_end(a, a->lru_head);
	ut_hash_free(&a->sessions);
	for (size_t i = 0; i < ENDED_RING; i++)
		free(a->ended[i].requester);
	a->closed_cb = closed_cb;
	a->closed_ctx = ctx;
	uv_close((uv_handle_t *)&a->timer, adhoc_closed_cb);
}
