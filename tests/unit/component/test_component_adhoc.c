/*
 * XEP-0050 ad-hoc commands through the component against the fake server:
 * discovery filtered by the access callback, a session from start to
 * complete, multi-stage with prev and cancel, an expired session id,
 * forbidden requesters, every refusal XEP-0050 names, async stages, and
 * the session bound; with exact counts of replies, stage calls and freed
 * session data.
 */
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

#define BOB	"bob@example.org/res"
#define ALICE	"alice@example.org/res"
#define MALLORY "mallory@evil.example/x"
#define NS_CMD	"http://jabber.org/protocol/commands"

static int stage_calls, data_freed;
static struct xm_adhoc_call *slow_call;
static enum xm_adhoc_action last_action;
static bool last_had_form, last_notify;

static void data_free(void *data)
{
	data_freed++;
	free(data);
}

static bool local_only(const char *requester, void *ctx)
{
	(void)ctx;
	return xm_jid_domain_is(requester, "example.org");
}

static struct xm_form *settings_form(void)
{
	struct xm_form *f = xm_form_new(XM_FORM_FORM, "Settings", NULL);

	xm_form_field_set_bool(
	    xm_form_add_field(f, XM_FIELD_BOOLEAN, "notify", "Notify"), true);
	return f;
}

/* "settings": one form, then complete. */
static void settings_cb(struct xm_adhoc_call *call, void *ctx)
{
	const struct xm_form *in = xm_adhoc_call_submitted_form(call);
	struct xm_form *f;

	(void)ctx;
	stage_calls++;
	last_action = xm_adhoc_call_action(call);
	last_had_form = in != NULL;
	if (xm_adhoc_call_first(call)) {
		T_CHECK(in == NULL);
		T_CHECK(xm_adhoc_call_session_data(call) == NULL);
		xm_adhoc_call_set_session_data(call, xstrdup("state"),
					       data_free);
		f = settings_form();
		T_CHECK_INT(xm_adhoc_call_reply_form(
				call, f, XM_ADHOC_ALLOW_COMPLETE,
				XM_ADHOC_COMPLETE, XM_ADHOC_NOTE_INFO, NULL),
			    0);
		xm_form_free(&f);
	} else if (in == NULL ||
		   xm_form_get_bool(in, "notify", false, &last_notify) < 0) {
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_ERROR,
				       "no valid form", NULL);
	} else {
		T_CHECK_STR(xm_adhoc_call_session_data(call), "state");
		f = xm_form_new(XM_FORM_RESULT, "Saved", NULL);
		xm_form_field_set_bool(
		    xm_form_add_field(f, XM_FIELD_BOOLEAN, "notify", NULL),
		    last_notify);
		T_CHECK_INT(xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO,
						   "saved", f),
			    0);
		/* Answered: further answers are no-ops. */
		T_CHECK_INT(xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO,
						   "again", NULL),
			    -1);
		xm_form_free(&f);
	}
	xm_adhoc_call_release(&call);
}

/* "wizard": page 1 (next) -> page 2 (prev, complete). */
static void wizard_cb(struct xm_adhoc_call *call, void *ctx)
{
	struct xm_form *f = settings_form();

	(void)ctx;
	stage_calls++;
	last_action = xm_adhoc_call_action(call);
	if (xm_adhoc_call_first(call))
		xm_adhoc_call_set_session_data(call, xstrdup("w"), data_free);
	if (last_action == XM_ADHOC_EXECUTE || last_action == XM_ADHOC_PREV)
		xm_adhoc_call_reply_form(call, f, XM_ADHOC_ALLOW_NEXT,
					 XM_ADHOC_NEXT, XM_ADHOC_NOTE_INFO,
					 "page 1");
	else if (last_action == XM_ADHOC_NEXT)
		xm_adhoc_call_reply_form(
		    call, f, XM_ADHOC_ALLOW_PREV | XM_ADHOC_ALLOW_COMPLETE,
		    XM_ADHOC_COMPLETE, XM_ADHOC_NOTE_WARN, "page 2");
	else
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO, "done", NULL);
	xm_form_free(&f);
	xm_adhoc_call_release(&call);
}

/* "slow": kept for the test to answer. */
static void slow_cb(struct xm_adhoc_call *call, void *ctx)
{
	(void)ctx;
	stage_calls++;
	if (xm_adhoc_call_first(call))
		xm_adhoc_call_set_session_data(call, xstrdup("s"), data_free);
	slow_call = call;
}

static void start(struct env *e)
{
	struct xm_adhoc *a;

	env_component(e);
	a = xm_component_adhoc(e->obs.c);
	T_CHECK_INT(xm_adhoc_register(a, "settings", "Mail settings",
				      local_only, settings_cb, NULL),
		    0);
	T_CHECK_INT(xm_adhoc_register(a, "settings", "Again", local_only,
				      settings_cb, NULL),
		    -1);
	T_CHECK_INT(xm_adhoc_register(a, "wizard", "Wizard", local_only,
				      wizard_cb, NULL),
		    0);
	T_CHECK_INT(
	    xm_adhoc_register(a, "slow", "Slow", local_only, slow_cb, NULL), 0);
	xm_component_start(e->obs.c);
	RUN_UNTIL(&e->loop, e->obs.online == 1, 3000);
	stage_calls = data_freed = 0;
	slow_call = NULL;
}

/*
 * Sends a command IQ and waits for its answer; returns it (owned by the
 * fake server) or NULL. attrs: extra attributes of <command/>; payload:
 * its children.
 */
static xmpp_stanza_t *command(struct env *e, const char *id, const char *from,
			      const char *attrs, const char *payload)
{
	char *xml = xasprintf("<iq type='set' id='%s'%s%s%s to='" FAKE_JID
			      "'><command xmlns='" NS_CMD "' %s>%s</command>"
			      "</iq>",
			      id, from != NULL ? " from='" : "",
			      from != NULL ? from : "", from != NULL ? "'" : "",
			      attrs, payload != NULL ? payload : "");

	fake_server_send(&e->srv, xml);
	free(xml);
	RUN_UNTIL(&e->loop, fake_find_iq(&e->srv, id) != NULL, 3000);
	return fake_find_iq(&e->srv, id);
}

static xmpp_stanza_t *cmd_of(xmpp_stanza_t *iq)
{
	return iq != NULL
		   ? xmpp_stanza_get_child_by_name_and_ns(iq, "command", NS_CMD)
		   : NULL;
}

static const char *attr(xmpp_stanza_t *el, const char *name)
{
	const char *v = el != NULL ? xmpp_stanza_get_attribute(el, name) : NULL;

	return v != NULL ? v : "(none)";
}

/* The XEP-0050 specific condition of an error reply, or "(none)". */
static const char *cmd_condition(struct env *e, const char *id)
{
	xmpp_stanza_t *iq = fake_find_iq(&e->srv, id), *err;

	err = iq != NULL ? xmpp_stanza_get_child_by_name(iq, "error") : NULL;
	for (xmpp_stanza_t *c = err != NULL ? xmpp_stanza_get_children(err)
					    : NULL;
	     c != NULL; c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_get_ns(c);

		if (xmpp_stanza_is_tag(c) && ns != NULL &&
		    strcmp(ns, NS_CMD) == 0)
			return xmpp_stanza_get_name(c);
	}
	return "(none)";
}

static char *note_of(xmpp_stanza_t *cmd)
{
	return cmd != NULL ? xm_elem_child_text(cmd, "note", NULL) : NULL;
}

#define SUBMIT(v)                                                              \
	"<x xmlns='jabber:x:data' type='submit'><field var='notify'><value>" v \
	"</value></field></x>"

static void disco(struct env *e, const char *id, const char *from,
		  const char *ns, const char *node)
{
	char *xml =
	    xasprintf("<iq type='get' id='%s' from='%s' to='" FAKE_JID
		      "'><query xmlns='%s'%s%s%s/></iq>",
		      id, from, ns, node != NULL ? " node='" : "",
		      node != NULL ? node : "", node != NULL ? "'" : "");

	fake_server_send(&e->srv, xml);
	free(xml);
	RUN_UNTIL(&e->loop, fake_find_iq(&e->srv, id) != NULL, 3000);
}

static int count_children(xmpp_stanza_t *st, const char *name)
{
	int n = 0;

	for (xmpp_stanza_t *c = st != NULL ? xmpp_stanza_get_children(st)
					   : NULL;
	     c != NULL; c = xmpp_stanza_get_next(c))
		n += xmpp_stanza_is_tag(c) &&
		     strcmp(xmpp_stanza_get_name(c), name) == 0;
	return n;
}

static void test_discovery(void)
{
	struct env e;
	xmpp_stanza_t *q, *item;
	bool commands_feature = false;

	env_init(&e);
	start(&e);
	disco(&e, "i1", BOB, "http://jabber.org/protocol/disco#items", NS_CMD);
	q = xmpp_stanza_get_children(fake_find_iq(&e.srv, "i1"));
	T_CHECK_INT(count_children(q, "item"), 3);
	item = q != NULL ? xmpp_stanza_get_children(q) : NULL;
	T_CHECK_STR(attr(item, "jid"), FAKE_JID);
	T_CHECK_STR(attr(item, "node"), "settings");
	T_CHECK_STR(attr(item, "name"), "Mail settings");
	T_CHECK_STR(attr(q, "node"), NS_CMD);
	/* A stranger learns of no command. */
	disco(&e, "i2", MALLORY, "http://jabber.org/protocol/disco#items",
	      NS_CMD);
	T_CHECK_STR(fake_answer(&e.srv, "i2"), "result");
	T_CHECK_INT(
	    count_children(xmpp_stanza_get_children(fake_find_iq(&e.srv, "i2")),
			   "item"),
	    0);
	disco(&e, "n1", BOB, "http://jabber.org/protocol/disco#info",
	      "settings");
	q = xmpp_stanza_get_children(fake_find_iq(&e.srv, "n1"));
	item = q != NULL ? xmpp_stanza_get_children(q) : NULL;
	T_CHECK_STR(attr(item, "category"), "automation");
	T_CHECK_STR(attr(item, "type"), "command-node");
	T_CHECK_INT(count_children(q, "feature"), 2);
	disco(&e, "n2", MALLORY, "http://jabber.org/protocol/disco#info",
	      "settings");
	T_CHECK_STR(fake_answer(&e.srv, "n2"), "forbidden");
	disco(&e, "n3", BOB, "http://jabber.org/protocol/disco#info", NS_CMD);
	item = xmpp_stanza_get_children(
	    xmpp_stanza_get_children(fake_find_iq(&e.srv, "n3")));
	T_CHECK_STR(attr(item, "type"), "command-list");
	disco(&e, "r1", BOB, "http://jabber.org/protocol/disco#info", NULL);
	q = xmpp_stanza_get_children(fake_find_iq(&e.srv, "r1"));
	for (item = q != NULL ? xmpp_stanza_get_children(q) : NULL;
	     item != NULL; item = xmpp_stanza_get_next(item))
		commands_feature =
		    commands_feature || strcmp(attr(item, "var"), NS_CMD) == 0;
	T_CHECK(commands_feature);
	T_CHECK_INT(stage_calls, 0);
	T_CHECK_INT(env_done(&e), 0);
}

static void test_start_to_complete(void)
{
	struct env e;
	xmpp_stanza_t *r, *c, *x;
	char sid[64], *note;

	env_init(&e);
	start(&e);
	r = command(&e, "e1", BOB, "node='settings' action='execute'", NULL);
	c = cmd_of(r);
	T_CHECK_STR(fake_iq_answer(r), "result");
	T_CHECK_STR(attr(c, "status"), "executing");
	T_CHECK_STR(attr(c, "node"), "settings");
	snprintf(sid, sizeof(sid), "%s", attr(c, "sessionid"));
	T_CHECK_INT(strlen(sid), 32);
	x = c != NULL ? xmpp_stanza_get_child_by_name(c, "actions") : NULL;
	T_CHECK_STR(attr(x, "execute"), "complete");
	T_CHECK_INT(count_children(x, "complete"), 1);
	T_CHECK_INT(count_children(x, "next"), 0);
	x = c != NULL
		? xmpp_stanza_get_child_by_name_and_ns(c, "x", "jabber:x:data")
		: NULL;
	T_CHECK_STR(attr(x, "type"), "form");
	T_CHECK_INT(last_action, XM_ADHOC_EXECUTE);

	/* "execute" with a session means the form's default: complete. */
	{
		char *a = xasprintf("node='settings' sessionid='%s'", sid);

		r = command(&e, "e2", BOB, a, SUBMIT("false"));
		free(a);
	}
	c = cmd_of(r);
	T_CHECK_STR(attr(c, "status"), "completed");
	T_CHECK_STR(attr(c, "sessionid"), sid);
	note = note_of(c);
	T_CHECK_STR(note, "saved");
	free(note);
	T_CHECK_STR(attr(xmpp_stanza_get_child_by_name(c, "note"), "type"),
		    "info");
	x = c != NULL
		? xmpp_stanza_get_child_by_name_and_ns(c, "x", "jabber:x:data")
		: NULL;
	T_CHECK_STR(attr(x, "type"), "result");
	T_CHECK_INT(last_action, XM_ADHOC_COMPLETE);
	T_CHECK(last_had_form && !last_notify);
	T_CHECK_INT(stage_calls, 2);
	T_CHECK_INT(data_freed, 1);
	/* The session is over. */
	{
		char *a = xasprintf("node='settings' sessionid='%s'", sid);

		r = command(&e, "e3", BOB, a, SUBMIT("1"));
		free(a);
	}
	T_CHECK_STR(fake_iq_answer(r), "not-allowed");
	T_CHECK_STR(cmd_condition(&e, "e3"), "session-expired");
	T_CHECK_INT(stage_calls, 2);
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(e.srv.n_iqs, 3);
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(data_freed, 1);
}

static void test_wizard_and_cancel(void)
{
	struct env e;
	xmpp_stanza_t *r, *c;
	char sid[64], *a;

	env_init(&e);
	start(&e);
	r = command(&e, "w1", BOB, "node='wizard'", NULL);
	snprintf(sid, sizeof(sid), "%s", attr(cmd_of(r), "sessionid"));
	a = xasprintf("node='wizard' sessionid='%s' action='next'", sid);
	r = command(&e, "w2", BOB, a, SUBMIT("1"));
	free(a);
	c = cmd_of(r);
	T_CHECK_STR(attr(c, "status"), "executing");
	T_CHECK_STR(
	    attr(xmpp_stanza_get_child_by_name(c, "actions"), "execute"),
	    "complete");
	T_CHECK_INT(last_action, XM_ADHOC_NEXT);
	/* prev is allowed on page 2, next is not. */
	a = xasprintf("node='wizard' sessionid='%s' action='next'", sid);
	command(&e, "w3", BOB, a, NULL);
	free(a);
	T_CHECK_STR(fake_answer(&e.srv, "w3"), "bad-request");
	T_CHECK_STR(cmd_condition(&e, "w3"), "bad-action");
	a = xasprintf("node='wizard' sessionid='%s' action='prev'", sid);
	r = command(&e, "w4", BOB, a, NULL);
	free(a);
	T_CHECK_STR(attr(cmd_of(r), "status"), "executing");
	T_CHECK_INT(last_action, XM_ADHOC_PREV);
	T_CHECK_INT(stage_calls, 3);
	/* Cancel: the helper answers; the command is not called. */
	a = xasprintf("node='wizard' sessionid='%s' action='cancel'", sid);
	r = command(&e, "w5", BOB, a, NULL);
	T_CHECK_STR(attr(cmd_of(r), "status"), "canceled");
	T_CHECK_STR(attr(cmd_of(r), "sessionid"), sid);
	T_CHECK_INT(stage_calls, 3);
	T_CHECK_INT(data_freed, 1);
	r = command(&e, "w6", BOB, a, NULL);
	free(a);
	T_CHECK_STR(cmd_condition(&e, "w6"), "session-expired");
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(data_freed, 1);
}

static void test_expired_session(void)
{
	struct env e;
	char sid[64], *a;

	env_init(&e);
	e.set.adhoc.session_idle_msecs = 60;
	start(&e);
	command(&e, "x1", BOB, "node='settings'", NULL);
	snprintf(sid, sizeof(sid), "%s",
		 attr(cmd_of(fake_find_iq(&e.srv, "x1")), "sessionid"));
	RUN_UNTIL(&e.loop, data_freed == 1, 3000);
	T_CHECK_INT(data_freed, 1);
	a = xasprintf("node='settings' sessionid='%s'", sid);
	command(&e, "x2", BOB, a, SUBMIT("1"));
	T_CHECK_STR(fake_answer(&e.srv, "x2"), "not-allowed");
	T_CHECK_STR(cmd_condition(&e, "x2"), "session-expired");
	/* From someone else, an ended session is just unknown. */
	command(&e, "x3", ALICE, a, SUBMIT("1"));
	free(a);
	T_CHECK_STR(cmd_condition(&e, "x3"), "bad-sessionid");
	T_CHECK_INT(stage_calls, 1);
	T_CHECK_INT(env_done(&e), 0);
}

static void test_forbidden(void)
{
	struct env e;

	env_init(&e);
	start(&e);
	command(&e, "f1", MALLORY, "node='settings'", NULL);
	T_CHECK_STR(fake_answer(&e.srv, "f1"), "forbidden");
	T_CHECK_STR(attr(xmpp_stanza_get_child_by_name(
			     fake_find_iq(&e.srv, "f1"), "error"),
			 "type"),
		    "cancel");
	command(&e, "f2", NULL, "node='settings'", NULL);
	T_CHECK_STR(fake_answer(&e.srv, "f2"), "forbidden");
	/* A forbidden requester cannot probe for sessions either. */
	command(&e, "f3", MALLORY, "node='settings' sessionid='abc'", NULL);
	T_CHECK_STR(fake_answer(&e.srv, "f3"), "forbidden");
	/* Before the access check: only malformed requests and unknown
	   nodes, which say nothing about mailboxes. */
	command(&e, "f4", MALLORY, "node='nope'", NULL);
	T_CHECK_STR(fake_answer(&e.srv, "f4"), "item-not-found");
	T_CHECK_INT(stage_calls, 0);
	T_CHECK_INT(data_freed, 0);
	T_CHECK_INT(env_done(&e), 0);
}

static void test_refusals(void)
{
	struct env e;
	char sid[64], *a;

	env_init(&e);
	e.set.adhoc.sessions_per_requester_max = 2;
	start(&e);
	command(&e, "b1", BOB, "", NULL);
	T_CHECK_STR(fake_answer(&e.srv, "b1"), "bad-request");
	command(&e, "b2", BOB, "node='settings' action='jump'", NULL);
	T_CHECK_STR(cmd_condition(&e, "b2"), "malformed-action");
	command(&e, "b3", BOB, "node='settings' action='next'", NULL);
	T_CHECK_STR(cmd_condition(&e, "b3"), "bad-action");
	command(&e, "b4", BOB,
		"node='settings' sessionid='0123456789abcdef0123456789abcdef'",
		NULL);
	T_CHECK_STR(cmd_condition(&e, "b4"), "bad-sessionid");
	T_CHECK_STR(fake_answer(&e.srv, "b4"), "bad-request");

	command(&e, "b5", BOB, "node='settings'", NULL);
	snprintf(sid, sizeof(sid), "%s",
		 attr(cmd_of(fake_find_iq(&e.srv, "b5")), "sessionid"));
	/* Another user, or another node, with bob's session id. */
	a = xasprintf("node='settings' sessionid='%s'", sid);
	command(&e, "b6", ALICE, a, SUBMIT("1"));
	T_CHECK_STR(cmd_condition(&e, "b6"), "bad-sessionid");
	command(&e, "b6b", "bob@example.org/other", a, SUBMIT("1"));
	T_CHECK_STR(cmd_condition(&e, "b6b"), "bad-sessionid");
	free(a);
	a = xasprintf("node='wizard' sessionid='%s'", sid);
	command(&e, "b7", BOB, a, SUBMIT("1"));
	free(a);
	T_CHECK_STR(cmd_condition(&e, "b7"), "bad-sessionid");
	/* A broken form: bad-payload, and the session goes on. */
	a = xasprintf("node='settings' sessionid='%s'", sid);
	command(&e, "b8", BOB, a, "<x xmlns='jabber:x:data' type='form'/>");
	T_CHECK_STR(cmd_condition(&e, "b8"), "bad-payload");
	command(&e, "b9", BOB, a,
		"<x xmlns='jabber:x:data' type='submit'><field var='a'/>"
		"<field var='a'/></x>");
	T_CHECK_STR(cmd_condition(&e, "b9"), "bad-payload");
	T_CHECK_INT(stage_calls, 1);
	command(&e, "b10", BOB, a, SUBMIT("true"));
	free(a);
	T_CHECK_STR(attr(cmd_of(fake_find_iq(&e.srv, "b10")), "status"),
		    "completed");
	T_CHECK_INT(stage_calls, 2);
	T_CHECK_INT(data_freed, 1);

	/* Two sessions per requester (bare JID): the third waits. */
	command(&e, "s1", BOB, "node='settings'", NULL);
	command(&e, "s2", "Bob@example.org/other", "node='wizard'", NULL);
	command(&e, "s3", BOB, "node='settings'", NULL);
	T_CHECK_STR(fake_answer(&e.srv, "s3"), "resource-constraint");
	command(&e, "s4", ALICE, "node='settings'", NULL);
	T_CHECK_STR(fake_answer(&e.srv, "s4"), "result");
	T_CHECK_INT(stage_calls, 5);
	T_CHECK_INT(env_done(&e), 0);
	/* Closing ended the three open sessions. */
	T_CHECK_INT(data_freed, 4);
}

static void test_async(void)
{
	struct env e;
	char sid[64], *a;
	struct xm_form *f;

	env_init(&e);
	e.set.iq.request_timeout_msecs = 2000;
	start(&e);
	fake_server_send(&e.srv,
			 "<iq type='set' id='a1' from='" BOB "' to='" FAKE_JID
			 "'><command xmlns='" NS_CMD "' node='slow'/></iq>");
	RUN_UNTIL(&e.loop, slow_call != NULL, 3000);
	T_CHECK(slow_call != NULL);
	RUN_UNTIL(&e.loop, false, 30);
	T_CHECK_INT(e.srv.n_iqs, 0);
	f = settings_form();
	T_CHECK_INT(xm_adhoc_call_reply_form(slow_call, f, XM_ADHOC_ALLOW_NEXT,
					     XM_ADHOC_NEXT, 0, NULL),
		    0);
	xm_form_free(&f);
	T_CHECK_STR(xm_adhoc_call_requester(slow_call), BOB);
	T_CHECK_STR(xm_adhoc_call_node(slow_call), "slow");
	snprintf(sid, sizeof(sid), "%s", xm_adhoc_call_sessionid(slow_call));
	xm_adhoc_call_release(&slow_call);
	RUN_UNTIL(&e.loop, e.srv.n_iqs == 1, 3000);
	T_CHECK_STR(attr(cmd_of(fake_find_iq(&e.srv, "a1")), "sessionid"), sid);

	/* A stage in progress: another request waits, cancel does not. */
	a = xasprintf("<iq type='set' id='a2' from='" BOB "' to='" FAKE_JID
		      "'><command xmlns='" NS_CMD "' node='slow' "
		      "sessionid='%s'/></iq>",
		      sid);
	fake_server_send(&e.srv, a);
	free(a);
	RUN_UNTIL(&e.loop, slow_call != NULL, 3000);
	T_CHECK(slow_call != NULL);
	T_CHECK_INT(xm_adhoc_call_action(slow_call), XM_ADHOC_NEXT);
	T_CHECK(!xm_adhoc_call_first(slow_call));
	a = xasprintf("node='slow' sessionid='%s'", sid);
	command(&e, "a3", BOB, a, NULL);
	T_CHECK_STR(fake_answer(&e.srv, "a3"), "unexpected-request");
	free(a);
	a = xasprintf("node='slow' sessionid='%s' action='cancel'", sid);
	command(&e, "a4", BOB, a, NULL);
	free(a);
	T_CHECK_STR(attr(cmd_of(fake_find_iq(&e.srv, "a4")), "status"),
		    "canceled");
	/* The data stays while the stage holds it. */
	T_CHECK_INT(data_freed, 0);
	T_CHECK_STR(xm_adhoc_call_session_data(slow_call), "s");
	/* Released unanswered: the default error, once. */
	xm_adhoc_call_release(&slow_call);
	T_CHECK_INT(data_freed, 1);
	RUN_UNTIL(&e.loop, fake_find_iq(&e.srv, "a2") != NULL, 3000);
	T_CHECK_STR(fake_answer(&e.srv, "a2"), "internal-server-error");
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(e.srv.n_iqs, 4);

	/* A stage kept across the component's close is detached. */
	fake_server_send(&e.srv,
			 "<iq type='set' id='a5' from='" BOB "' to='" FAKE_JID
			 "'><command xmlns='" NS_CMD "' node='slow'/></iq>");
	RUN_UNTIL(&e.loop, slow_call != NULL, 3000);
	xm_component_close(&e.obs.c, NULL, NULL);
	e.obs.closed = true;
	T_CHECK_INT(data_freed, 1);
	T_CHECK_INT(
	    xm_adhoc_call_complete(slow_call, XM_ADHOC_NOTE_INFO, "x", NULL),
	    -1);
	xm_adhoc_call_release(&slow_call);
	T_CHECK_INT(data_freed, 2);
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(stage_calls, 3);
}

int main(void)
{
	xmpp_initialize();
	ut_log_set_level(UT_LOG_WARN);
	T_RUN(test_discovery);
	T_RUN(test_start_to_complete);
	T_RUN(test_wizard_and_cancel);
	T_RUN(test_expired_session);
	T_RUN(test_forbidden);
	T_RUN(test_refusals);
	T_RUN(test_async);
	xmpp_shutdown();
	return T_DONE();
}
