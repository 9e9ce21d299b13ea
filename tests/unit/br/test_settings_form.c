/*
 * The settings form (br_settings_form.h) without any XMPP: the form built
 * from a user's settings (fields from the one table, values, options,
 * descriptions, reset), rendered and parsed back; a submitted form read
 * into changes (unchanged values are no change, invalid values change
 * nothing and are named, reset, unknown fields); the note; and
 * br_settings_apply() on a real ledger.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_settings_form.h"
#include "test.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

static char state_dir[] = "/tmp/tidings-sform-XXXXXX";

static struct br_config *config(const char *extra)
{
	char *text = xasprintf(
	    "[xmpp]\ncomponent = mail.example.org\nhost = h\nsecret = s\n"
	    "domain = example.org\n[mail]\ndomain = example.org\n"
	    "imap_host = localhost\nmaster_user = t\nmaster_password = p\n"
	    "[events]\nsocket = /s\n[state]\ndir = %s\n%s",
	    state_dir, extra);
	struct br_config *cfg = NULL;
	char *error = NULL;
	if (br_config_parse("t.conf", text, strlen(text), &cfg, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	free(text);
	return cfg;
}

/* Defaults as shipped: notify yes, summary_on_login yes, hold_when dnd,
   nudge offer, receipts yes, share_read yes. */
static struct br_settings defaults(void)
{
	struct br_settings s = {
	    .v = {[BR_SETTING_NOTIFY] = 1,
		  [BR_SETTING_SUMMARY_ON_LOGIN] = 1,
		  [BR_SETTING_HOLD_WHEN] = BR_HOLD_DND,
		  [BR_SETTING_NUDGE] = BR_NUDGE_OFFER,
		  [BR_SETTING_RECEIPTS] = 1,
		  [BR_SETTING_SHARE_READ] = 1},
	};
	return s;
}

/* A submitted form: pairs of var, value (value NULL: no <value/>), ending
   with NULL. */
static struct xm_form *submitted(const char *var, ...)
{
	struct xm_form *f = xm_form_new(XM_FORM_SUBMIT, NULL, NULL);
	va_list ap;

	va_start(ap, var);
	for (const char *v = var; v != NULL; v = va_arg(ap, const char *)) {
		const char *value = va_arg(ap, const char *);
		struct xm_form_field *fl =
		    xm_form_add_field(f, XM_FIELD_NONE, v, NULL);
		if (value != NULL)
			xm_form_field_add_value(fl, value);
	}
	va_end(ap);
	return f;
}

static void check_field(const struct xm_form *f, size_t i, const char *var,
			enum xm_field_type type, const char *value)
{
	const struct xm_form_field *fl = xm_form_field_at(f, i);

	T_CHECK_STR(xm_form_field_var(fl), var);
	T_CHECK_INT(xm_form_field_type(fl), type);
	T_CHECK_INT(xm_form_field_value_count(fl), 1);
	T_CHECK_STR(xm_form_field_value(fl, 0), value);
}

static void test_form_built(void)
{
	struct br_config *cfg = config("");
	struct br_settings s = defaults();
	xmpp_ctx_t *sctx = xmpp_ctx_new(NULL, NULL);

	s.v[BR_SETTING_NOTIFY] = 0;
	s.changed[BR_SETTING_NOTIFY] = true;
	s.v[BR_SETTING_HOLD_WHEN] = BR_HOLD_AWAY;
	s.changed[BR_SETTING_HOLD_WHEN] = true;
	struct xm_form *f = br_settings_form_new(cfg, &s);
	T_CHECK_INT(xm_form_get_type(f), XM_FORM_FORM);
	T_CHECK_INT(xm_form_field_count(f), BR_SETTING_COUNT + 1);
	check_field(f, 0, "notify", XM_FIELD_BOOLEAN, "0");
	check_field(f, 1, "summary_on_login", XM_FIELD_BOOLEAN, "1");
	check_field(f, 2, "hold_when", XM_FIELD_LIST_SINGLE, "away");
	check_field(f, 3, "nudge", XM_FIELD_LIST_SINGLE, "offer");
	check_field(f, 4, "receipts", XM_FIELD_BOOLEAN, "1");
	check_field(f, 5, "share_read", XM_FIELD_BOOLEAN, "1");
	check_field(f, 6, "reset", XM_FIELD_BOOLEAN, "0");

	/* Rendered: title, instructions, labels, options with labels, which
	   values are the user's and which the defaults. */
	xmpp_stanza_t *x = xm_form_to_stanza(f, sctx);
	char *xml = xm_stanza_to_text(x, NULL);
	T_CHECK(strstr(xml, "<title>Mail notification settings</title>"));
	T_CHECK(strstr(xml, "<instructions>"));
	T_CHECK(strstr(xml, "label=\"A message for each new mail\""));
	T_CHECK(strstr(xml, "<option label=\"Never\"><value>never</value>"));
	T_CHECK(strstr(xml, "<option label=\"When I am busy (dnd)\"><value>"
			    "dnd</value>"));
	T_CHECK(strstr(xml, "<value>away</value></option>"));
	T_CHECK(strstr(xml, "<value>off</value></option><option label=\"Offer "
			    "it"));
	T_CHECK(strstr(xml, "<option label=\"At once\"><value>auto</value>"));
	T_CHECK(strstr(xml, "<desc>Your choice; the organisation&apos;s "
			    "default is yes.</desc>"));
	T_CHECK(strstr(xml, "<desc>Your choice; the organisation&apos;s "
			    "default is dnd.</desc>"));
	T_CHECK(strstr(xml, "<desc>The organisation&apos;s default.</desc>"));
	T_CHECK(strstr(xml, "label=\"Back to the organisation&apos;s "
			    "defaults\""));

	/* It parses back, and sent back as it is, changes nothing. */
	struct xm_form *back = NULL;
	const char *why = NULL;
	T_CHECK_INT(xm_form_parse(x, &back, &why), 0);
	struct br_settings_change ch;
	char *error = NULL;
	T_CHECK_INT(br_settings_form_read(back, &s, &ch, &error), 0);
	T_CHECK(!br_settings_change_any(&ch));
	T_CHECK(error == NULL);
	xm_form_free(&back);
	free(xml);
	xmpp_stanza_release(x);
	xm_form_free(&f);

	/* Other defaults show in the descriptions. */
	br_config_free(&cfg);
	cfg = config("[defaults]\nnotify = no\n");
	f = br_settings_form_new(cfg, &s);
	x = xm_form_to_stanza(f, sctx);
	xml = xm_stanza_to_text(x, NULL);
	T_CHECK(strstr(xml, "default is no.</desc>"));
	free(xml);
	xmpp_stanza_release(x);
	xm_form_free(&f);
	br_config_free(&cfg);
	xmpp_ctx_free(sctx);
}

static void test_read(void)
{
	struct br_settings cur = defaults();
	struct br_settings_change ch;
	char *error = NULL;
	struct xm_form *f;

	/* Only what differs is a change; absent and empty fields stay. */
	f = submitted("notify", "0", "summary_on_login", "true", "hold_when",
		      "away", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), 0);
	T_CHECK_INT(ch.op[BR_SETTING_NOTIFY], BR_SETTING_SET);
	T_CHECK_INT(ch.v[BR_SETTING_NOTIFY], 0);
	T_CHECK_INT(ch.op[BR_SETTING_SUMMARY_ON_LOGIN], BR_SETTING_KEEP);
	T_CHECK_INT(ch.op[BR_SETTING_HOLD_WHEN], BR_SETTING_SET);
	T_CHECK_INT(ch.v[BR_SETTING_HOLD_WHEN], BR_HOLD_AWAY);
	xm_form_free(&f);

	f = submitted("notify", NULL, "hold_when", " ", "other", "x", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), -1);
	T_CHECK_STR(error, "Nothing was saved: hold_when takes never, dnd or "
			   "away.");
	T_CHECK(!br_settings_change_any(&ch));
	free(error);
	xm_form_free(&f);

	f = submitted("hold_when", "NEVER", "unknown", "whatever", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), 0);
	T_CHECK_INT(ch.op[BR_SETTING_NOTIFY], BR_SETTING_KEEP);
	T_CHECK_INT(ch.op[BR_SETTING_HOLD_WHEN], BR_SETTING_SET);
	T_CHECK_INT(ch.v[BR_SETTING_HOLD_WHEN], BR_HOLD_NEVER);
	xm_form_free(&f);

	/* All or nothing: one bad field, no change at all; every bad field
	   is named. */
	f = submitted("notify", "0", "hold_when", "sometimes", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), -1);
	T_CHECK(!br_settings_change_any(&ch));
	T_CHECK_STR(error, "Nothing was saved: hold_when takes never, dnd or "
			   "away.");
	free(error);
	xm_form_free(&f);

	f = submitted("notify", "yes", "summary_on_login", "2", "hold_when",
		      "xa", "reset", "maybe", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), -1);
	T_CHECK_STR(error,
		    "Nothing was saved: notify takes yes or no. "
		    "summary_on_login takes yes or no. hold_when takes never, "
		    "dnd or away. reset takes yes or no.");
	free(error);
	xm_form_free(&f);

	/* The settings of issue 8. */
	f = submitted("nudge", "AUTO", "receipts", "false", "share_read", "1",
		      NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), 0);
	T_CHECK_INT(ch.op[BR_SETTING_NUDGE], BR_SETTING_SET);
	T_CHECK_INT(ch.v[BR_SETTING_NUDGE], BR_NUDGE_AUTO);
	T_CHECK_INT(ch.op[BR_SETTING_RECEIPTS], BR_SETTING_SET);
	T_CHECK_INT(ch.v[BR_SETTING_RECEIPTS], 0);
	T_CHECK_INT(ch.op[BR_SETTING_SHARE_READ], BR_SETTING_KEEP);
	xm_form_free(&f);
	f = submitted("nudge", "on", "share_read", "sometimes", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), -1);
	T_CHECK_STR(error, "Nothing was saved: nudge takes off, offer or "
			   "auto. share_read takes yes or no.");
	T_CHECK(!br_settings_change_any(&ch));
	free(error);
	xm_form_free(&f);

	/* Two values in a single-value field. */
	f = xm_form_new(XM_FORM_SUBMIT, NULL, NULL);
	struct xm_form_field *two =
	    xm_form_add_field(f, XM_FIELD_LIST_MULTI, "hold_when", NULL);
	xm_form_field_add_value(two, "dnd");
	xm_form_field_add_value(two, "away");
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), -1);
	free(error);
	xm_form_free(&f);

	/* A value equal to the default, over a choice: stored as a choice. */
	cur.v[BR_SETTING_HOLD_WHEN] = BR_HOLD_NEVER;
	cur.changed[BR_SETTING_HOLD_WHEN] = true;
	f = submitted("hold_when", "dnd", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), 0);
	T_CHECK_INT(ch.op[BR_SETTING_HOLD_WHEN], BR_SETTING_SET);
	T_CHECK_INT(ch.v[BR_SETTING_HOLD_WHEN], BR_HOLD_DND);
	xm_form_free(&f);

	/* Reset: only what the user chose goes back, whatever the rest
	   says; still checked. */
	f = submitted("notify", "0", "reset", "1", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), 0);
	T_CHECK_INT(ch.op[BR_SETTING_NOTIFY], BR_SETTING_KEEP);
	T_CHECK_INT(ch.op[BR_SETTING_SUMMARY_ON_LOGIN], BR_SETTING_KEEP);
	T_CHECK_INT(ch.op[BR_SETTING_HOLD_WHEN], BR_SETTING_RESET);
	xm_form_free(&f);
	f = submitted("hold_when", "bad", "reset", "true", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), -1);
	T_CHECK(!br_settings_change_any(&ch));
	free(error);
	xm_form_free(&f);
	f = submitted("reset", "0", NULL);
	T_CHECK_INT(br_settings_form_read(f, &cur, &ch, &error), 0);
	T_CHECK(!br_settings_change_any(&ch));
	xm_form_free(&f);
}

static void test_text(void)
{
	struct br_settings after = defaults();
	struct br_settings_change ch = {0};
	char *t = br_settings_change_text(&ch, &after);

	T_CHECK_STR(t, "Nothing changed.");
	free(t);
	ch.op[BR_SETTING_NOTIFY] = BR_SETTING_SET;
	after.v[BR_SETTING_NOTIFY] = 0;
	ch.op[BR_SETTING_HOLD_WHEN] = BR_SETTING_RESET;
	t = br_settings_change_text(&ch, &after);
	T_CHECK_STR(t, "Saved: notify = no, hold_when = dnd (default).");
	free(t);

	t = br_setting_choices(BR_SETTING_NOTIFY);
	T_CHECK_STR(t, "yes or no");
	free(t);
	t = br_setting_choices(BR_SETTING_HOLD_WHEN);
	T_CHECK_STR(t, "never, dnd or away");
	free(t);
}

static void test_apply(void)
{
	struct br_config *cfg = config("");
	struct br_ledger *l = NULL;
	char *error = NULL;
	struct br_settings before, s;
	struct br_settings_change ch = {0};

	T_CHECK_INT(br_ledger_open(state_dir, &l, &error), 0);
	free(error);
	T_CHECK_INT(
	    br_settings_set(l, "bob@example.org", BR_SETTING_HOLD_WHEN, 0), 0);
	br_settings_load(cfg, l, "bob@example.org", &before);
	ch.op[BR_SETTING_NOTIFY] = BR_SETTING_SET;
	ch.v[BR_SETTING_NOTIFY] = 0;
	ch.op[BR_SETTING_HOLD_WHEN] = BR_SETTING_RESET;
	T_CHECK_INT(br_settings_apply(l, "bob@example.org", &before, &ch), 0);
	br_settings_load(cfg, l, "bob@example.org", &s);
	T_CHECK_INT(s.v[BR_SETTING_NOTIFY], 0);
	T_CHECK(s.changed[BR_SETTING_NOTIFY]);
	T_CHECK_INT(s.v[BR_SETTING_HOLD_WHEN], BR_HOLD_DND);
	T_CHECK(!s.changed[BR_SETTING_HOLD_WHEN]);
	T_CHECK(!s.changed[BR_SETTING_SUMMARY_ON_LOGIN]);
	/* Another user is untouched. */
	br_settings_load(cfg, l, "carol@example.org", &s);
	T_CHECK(!s.changed[BR_SETTING_NOTIFY]);
	br_ledger_close(&l);
	br_config_free(&cfg);
}

int main(void)
{
	if (mkdtemp(state_dir) == NULL)
		return 1;
	xmpp_initialize();
	T_RUN(test_form_built);
	T_RUN(test_read);
	T_RUN(test_text);
	T_RUN(test_apply);
	xmpp_shutdown();
	char *cmd = xasprintf("rm -rf '%s'", state_dir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	return T_DONE();
}
