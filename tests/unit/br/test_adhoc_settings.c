/*
 * The "settings" ad-hoc command (br_adhoc.h) on the real IQ engine,
 * discovery and ad-hoc helper, with a real ledger: discovery lists it to
 * local users only; execute shows the stored values; a submission saves
 * only what changed and says so; a bad value saves nothing and shows the
 * form again with an error note; reset; cancel; anyone who is not a local
 * user gets forbidden, even with a local user's session id. Exact counts
 * of answers.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_adhoc.h"
#include "br_settings.h"
#include "test.h"
#include "ut_log.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"
#include "xml_in.h"

#define JID  "mail.example.org"
#define BOB  "bob@example.org/phone"
#define EVE  "eve@other.test/x"
#define KEY  "bob@example.org"
#define NS_C "http://jabber.org/protocol/commands"

static char state_dir[] = "/tmp/tidings-adhoc-XXXXXX";
static xmpp_ctx_t *sctx;
static uv_loop_t loop;
static struct xm_iq *q;
static struct xm_disco *disco;
static struct xm_adhoc *adhoc;
static struct br_adhoc *ba;
static struct br_config *cfg;
static struct br_ledger *ledger;

static xmpp_stanza_t *sent[64];
static size_t n_sent;

static int send_cb(xmpp_stanza_t *st, void *ctx)
{
	(void)ctx;
	T_CHECK(n_sent < sizeof(sent) / sizeof(sent[0]));
	if (n_sent < sizeof(sent) / sizeof(sent[0]))
		sent[n_sent++] = xmpp_stanza_copy(st);
	return 0;
}

static void sent_clear(void)
{
	for (size_t i = 0; i < n_sent; i++)
		xmpp_stanza_release(sent[i]);
	n_sent = 0;
}

static struct br_config *config(void)
{
	char *text = xasprintf(
	    "[xmpp]\ncomponent = " JID "\nhost = h\nsecret = s\n"
	    "domain = example.org\n[mail]\ndomain = example.org\n"
	    "imap_host = localhost\nmaster_user = t\nmaster_password = p\n"
	    "[events]\nsocket = /s\n[state]\ndir = %s\n",
	    state_dir);
	struct br_config *c = NULL;
	char *error = NULL;
	if (br_config_parse("t.conf", text, strlen(text), &c, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	free(text);
	return c;
}

/* Sends xml to the engine; returns the one answer (owned by sent[]). */
static xmpp_stanza_t *ask(const char *xml)
{
	xmpp_stanza_t *st = xml_in(sctx, xml);
	size_t before = n_sent;

	T_CHECK(st != NULL);
	if (st == NULL)
		return NULL;
	xm_iq_dispatch(q, st);
	xmpp_stanza_release(st);
	T_CHECK_INT(n_sent, before + 1);
	return n_sent == before + 1 ? sent[before] : NULL;
}

/* The first child element's name of the answer's <error/>, or "result". */
static const char *outcome(xmpp_stanza_t *r)
{
	if (r == NULL)
		return "(none)";
	if (strcmp(xmpp_stanza_get_type(r), "result") == 0)
		return "result";
	xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(r, "error");
	for (xmpp_stanza_t *c = err != NULL ? xmpp_stanza_get_children(err)
					    : NULL;
	     c != NULL; c = xmpp_stanza_get_next(c)) {
		if (xmpp_stanza_is_tag(c))
			return xmpp_stanza_get_name(c);
	}
	return "(no condition)";
}

static xmpp_stanza_t *items(const char *from)
{
	char *xml = xasprintf("<iq type='get' id='i1' from='%s' to='" JID "'>"
			      "<query xmlns='http://jabber.org/protocol/"
			      "disco#items' node='" NS_C "'/></iq>",
			      from);
	xmpp_stanza_t *r = ask(xml);
	free(xml);
	return r;
}

/* <command node='settings' .../> from `from`; extra inside. */
static xmpp_stanza_t *command(const char *from, const char *action,
			      const char *sessionid, const char *extra)
{
	char *sid = sessionid != NULL ? xasprintf(" sessionid='%s'", sessionid)
				      : xstrdup("");
	char *xml = xasprintf("<iq type='set' id='c1' from='%s' to='" JID "'>"
			      "<command xmlns='" NS_C "' node='settings' "
			      "action='%s'%s>%s</command></iq>",
			      from, action, sid, extra != NULL ? extra : "");
	xmpp_stanza_t *r = ask(xml);
	free(xml);
	free(sid);
	return r;
}

static xmpp_stanza_t *cmd_of(xmpp_stanza_t *r)
{
	return r != NULL ? xmpp_stanza_get_child_by_name(r, "command") : NULL;
}

static const char *attr(xmpp_stanza_t *r, const char *name)
{
	xmpp_stanza_t *c = cmd_of(r);
	return c != NULL ? xmpp_stanza_get_attribute(c, name) : NULL;
}

/* The note's text (malloc'ed), its type in *type_r; NULL without one. */
static char *note(xmpp_stanza_t *r, const char **type_r)
{
	xmpp_stanza_t *c = cmd_of(r);
	xmpp_stanza_t *n =
	    c != NULL ? xmpp_stanza_get_child_by_name(c, "note") : NULL;
	*type_r = n != NULL ? xmpp_stanza_get_attribute(n, "type") : NULL;
	return n != NULL ? xmpp_stanza_get_text(n) : NULL;
}

static struct xm_form *form_of(xmpp_stanza_t *r)
{
	xmpp_stanza_t *c = cmd_of(r);
	xmpp_stanza_t *x = c != NULL ? xm_form_find(c) : NULL;
	struct xm_form *f = NULL;
	const char *why;

	if (x == NULL || xm_form_parse(x, &f, &why) < 0)
		return NULL;
	return f;
}

static void check_note(xmpp_stanza_t *r, const char *type, const char *text)
{
	const char *t = NULL;
	char *n = note(r, &t);
	T_CHECK_STR(t, type);
	T_CHECK_STR(n, text);
	xmpp_free(sctx, n);
}

/* Executes as BOB; checks the form; returns the session id (malloc'ed). */
static char *execute(const char *notify, const char *hold_when)
{
	xmpp_stanza_t *r = command(BOB, "execute", NULL, NULL);
	T_CHECK_STR(outcome(r), "result");
	T_CHECK_STR(attr(r, "status"), "executing");
	struct xm_form *f = form_of(r);
	T_CHECK(f != NULL);
	if (f != NULL) {
		T_CHECK_INT(xm_form_get_type(f), XM_FORM_FORM);
		T_CHECK_STR(xm_form_get_value(f, "notify"), notify);
		T_CHECK_STR(xm_form_get_value(f, "hold_when"), hold_when);
		T_CHECK(xm_form_get_value(f, "summary_on_login") != NULL);
		T_CHECK_STR(xm_form_get_value(f, "reset"), "0");
	}
	xm_form_free(&f);
	xmpp_stanza_t *actions =
	    cmd_of(r) != NULL
		? xmpp_stanza_get_child_by_name(cmd_of(r), "actions")
		: NULL;
	T_CHECK(actions != NULL &&
		xmpp_stanza_get_child_by_name(actions, "complete") != NULL);
	const char *sid = attr(r, "sessionid");
	T_CHECK(sid != NULL);
	return xstrdup(sid != NULL ? sid : "");
}

static char *submit_xml(const char *fields)
{
	return xasprintf("<x xmlns='jabber:x:data' type='submit'>%s</x>",
			 fields);
}

static void load(const char *key, struct br_settings *s)
{
	br_settings_load(cfg, ledger, key, s);
}

static bool same(const struct br_settings *a, const struct br_settings *b)
{
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		if (a->v[i] != b->v[i] || a->changed[i] != b->changed[i])
			return false;
	}
	return true;
}

static void test_discovery(void)
{
	xmpp_stanza_t *r = items(BOB);
	T_CHECK_STR(outcome(r), "result");
	xmpp_stanza_t *query =
	    r != NULL ? xmpp_stanza_get_child_by_name(r, "query") : NULL;
	xmpp_stanza_t *item =
	    query != NULL ? xmpp_stanza_get_child_by_name(query, "item") : NULL;
	T_CHECK(item != NULL);
	if (item != NULL) {
		T_CHECK_STR(xmpp_stanza_get_attribute(item, "jid"), JID);
		T_CHECK_STR(xmpp_stanza_get_attribute(item, "node"),
			    "settings");
		T_CHECK_STR(xmpp_stanza_get_attribute(item, "name"),
			    "Mail notification settings");
		T_CHECK(xmpp_stanza_get_next(item) == NULL);
	}
	/* Not local: another domain, the server, a component, a JID whose
	   localpart cannot be a mailbox. Nothing listed. */
	const char *others[] = {EVE, "example.org", ("other." JID),
				"a b@example.org/x", "bob@example.org.evil/x"};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		r = items(others[i]);
		T_CHECK_STR(outcome(r), "result");
		query = r != NULL ? xmpp_stanza_get_child_by_name(r, "query")
				  : NULL;
		T_CHECK(query != NULL &&
			xmpp_stanza_get_children(query) == NULL);
	}
	/* The command node's info: local users only. */
	r = ask("<iq type='get' id='n1' from='" EVE "' to='" JID "'><query "
		"xmlns='http://jabber.org/protocol/disco#info' "
		"node='settings'/></iq>");
	T_CHECK_STR(outcome(r), "forbidden");
	r = ask("<iq type='get' id='n2' from='" BOB "' to='" JID "'><query "
		"xmlns='http://jabber.org/protocol/disco#info' "
		"node='settings'/></iq>");
	T_CHECK_STR(outcome(r), "result");
	sent_clear();
}

static void test_save(void)
{
	struct br_settings s;
	char *sid = execute("1", "dnd");
	char *x = submit_xml("<field var='notify'><value>0</value></field>"
			     "<field var='summary_on_login'><value>1</value>"
			     "</field><field var='hold_when'><value>away"
			     "</value></field><field var='reset'><value>0"
			     "</value></field>");
	xmpp_stanza_t *r = command(BOB, "complete", sid, x);
	T_CHECK_STR(outcome(r), "result");
	T_CHECK_STR(attr(r, "status"), "completed");
	check_note(r, "info", "Saved: notify = no, hold_when = away.");
	load(KEY, &s);
	T_CHECK_INT(s.v[BR_SETTING_NOTIFY], 0);
	T_CHECK(s.changed[BR_SETTING_NOTIFY]);
	T_CHECK_INT(s.v[BR_SETTING_HOLD_WHEN], BR_HOLD_AWAY);
	/* Sent back unchanged: the default is not pinned. */
	T_CHECK(!s.changed[BR_SETTING_SUMMARY_ON_LOGIN]);
	/* The session ended. */
	r = command(BOB, "complete", sid, x);
	T_CHECK_STR(outcome(r), "not-allowed");
	free(sid);
	free(x);

	/* The same again (JID in other case: the same mailbox): nothing. */
	sid = execute("0", "away");
	x = submit_xml("<field var='notify'><value>false</value></field>"
		       "<field var='hold_when'><value>away</value></field>");
	r = command("BOB@Example.ORG/tablet", "complete", sid, x);
	T_CHECK_STR(outcome(r), "bad-request"); /* another requester's */
	r = command(BOB, "execute", sid, x);	/* execute = complete */
	T_CHECK_STR(attr(r, "status"), "completed");
	check_note(r, "info", "Nothing changed.");
	free(sid);
	free(x);
	r = command("BOB@Example.ORG/tablet", "execute", NULL, NULL);
	struct xm_form *f = form_of(r);
	T_CHECK(f != NULL && strcmp(xm_form_get_value(f, "notify"), "0") == 0);
	xm_form_free(&f);
	sent_clear();
}

static void test_bad_value(void)
{
	struct br_settings before, s;
	load(KEY, &before);
	char *sid = execute("0", "away");
	char *x = submit_xml("<field var='notify'><value>1</value></field>"
			     "<field var='hold_when'><value>sometimes</value>"
			     "</field>");
	xmpp_stanza_t *r = command(BOB, "complete", sid, x);
	/* The form again, with the stored values and an error note. */
	T_CHECK_STR(outcome(r), "result");
	T_CHECK_STR(attr(r, "status"), "executing");
	check_note(r, "error",
		   "Nothing was saved: hold_when takes never, dnd or away.");
	struct xm_form *f = form_of(r);
	T_CHECK(f != NULL && strcmp(xm_form_get_value(f, "notify"), "0") == 0);
	T_CHECK(f != NULL &&
		strcmp(xm_form_get_value(f, "hold_when"), "away") == 0);
	xm_form_free(&f);
	load(KEY, &s);
	T_CHECK(same(&s, &before));
	free(x);

	/* The session goes on: a good value now. */
	x = submit_xml("<field var='hold_when'><value>never</value></field>");
	r = command(BOB, "complete", sid, x);
	T_CHECK_STR(attr(r, "status"), "completed");
	check_note(r, "info", "Saved: hold_when = never.");
	free(x);
	free(sid);

	/* Cancel saves nothing. */
	load(KEY, &before);
	sid = execute("0", "never");
	r = command(BOB, "cancel", sid, NULL);
	T_CHECK_STR(attr(r, "status"), "canceled");
	load(KEY, &s);
	T_CHECK(same(&s, &before));
	free(sid);
	sent_clear();
}

static void test_reset(void)
{
	struct br_settings s;
	char *sid = execute("0", "never");
	char *x = submit_xml("<field var='notify'><value>1</value></field>"
			     "<field var='reset'><value>true</value></field>");
	xmpp_stanza_t *r = command(BOB, "complete", sid, x);
	T_CHECK_STR(attr(r, "status"), "completed");
	check_note(r, "info",
		   "Saved: notify = yes (default), hold_when = dnd (default).");
	load(KEY, &s);
	for (int i = 0; i < BR_SETTING_COUNT; i++)
		T_CHECK(!s.changed[i]);
	free(x);
	free(sid);
	sent_clear();
}

static void test_forbidden(void)
{
	struct br_settings s;
	xmpp_stanza_t *r = command(EVE, "execute", NULL, NULL);
	T_CHECK_STR(outcome(r), "forbidden");
	T_CHECK(cmd_of(r) == NULL); /* nothing about any form */
	r = command("example.org", "execute", NULL, NULL);
	T_CHECK_STR(outcome(r), "forbidden");

	/* Bob's session id does not help Eve, and it ends Bob's session
	   only if it is Eve's own (it is not: Bob goes on). */
	char *sid = execute("1", "dnd");
	char *x = submit_xml("<field var='notify'><value>0</value></field>");
	r = command(EVE, "complete", sid, x);
	T_CHECK_STR(outcome(r), "forbidden");
	load("eve@other.test", &s);
	T_CHECK(!s.changed[BR_SETTING_NOTIFY]);
	load(KEY, &s);
	T_CHECK(!s.changed[BR_SETTING_NOTIFY]);
	r = command(BOB, "complete", sid, x);
	T_CHECK_STR(attr(r, "status"), "completed");
	check_note(r, "info", "Saved: notify = no.");
	free(x);
	free(sid);
	sent_clear();
}

/* Complete without a form: nothing to save. */
static void test_complete_empty(void)
{
	char *sid = execute("0", "dnd");
	xmpp_stanza_t *r = command(BOB, "complete", sid, NULL);
	T_CHECK_STR(attr(r, "status"), "completed");
	check_note(r, "info", "Nothing changed.");
	free(sid);
	sent_clear();
}

int main(void)
{
	static const struct xm_adhoc_settings aset = {0};
	static const struct xm_iq_settings iset = {0};

	if (mkdtemp(state_dir) == NULL)
		return 1;
	ut_log_set_level(UT_LOG_ERROR);
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	uv_loop_init(&loop);
	q = xm_iq_new(&loop, sctx, &iset, send_cb, NULL);
	disco = xm_disco_new(q, sctx, JID, "gateway", "smtp", "Mail");
	adhoc = xm_adhoc_new(&loop, sctx, q, disco, JID, &aset);
	cfg = config();
	char *error = NULL;
	T_CHECK_INT(br_ledger_open(state_dir, &ledger, &error), 0);
	free(error);
	struct br_adhoc_deps deps = {.cfg = cfg, .ledger = ledger};
	T_CHECK_INT(br_adhoc_new(adhoc, &deps, &ba), 0);
	/* Once only. */
	struct br_adhoc *again = NULL;
	T_CHECK_INT(br_adhoc_new(adhoc, &deps, &again), -1);
	T_CHECK(again == NULL);

	T_RUN(test_discovery);
	T_RUN(test_save);
	T_RUN(test_bad_value);
	T_RUN(test_reset);
	T_RUN(test_forbidden);
	T_RUN(test_complete_empty);

	xm_adhoc_close(&adhoc, q, disco, NULL, NULL);
	br_adhoc_free(&ba);
	xm_disco_free(&disco, q);
	xm_iq_close(&q, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	sent_clear();
	br_ledger_close(&ledger);
	br_config_free(&cfg);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	char *cmd = xasprintf("rm -rf '%s'", state_dir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	return T_DONE();
}
