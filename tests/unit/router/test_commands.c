/* Text commands (br_command) and users' settings (br_settings). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_command.h"
#include "br_settings.h"
#include "test.h"
#include "ut_xalloc.h"

static void parse(const char *text, enum br_command_kind kind, const char *name,
		  const char *value)
{
	struct br_command c;
	br_command_parse(text, strlen(text), &c);
	T_CHECK_INT(c.kind, kind);
	if (name != NULL)
		T_CHECK_STR(kind == BR_COMMAND_UNKNOWN ? c.word : c.name, name);
	if (value != NULL)
		T_CHECK_STR(c.value, value);
}

static void test_parse(void)
{
	parse("", BR_COMMAND_NONE, NULL, NULL);
	parse(" \r\n\t ", BR_COMMAND_NONE, NULL, NULL);
	parse("help", BR_COMMAND_HELP, NULL, NULL);
	parse("  HELP me  ", BR_COMMAND_HELP, NULL, NULL);
	parse("/help", BR_COMMAND_HELP, NULL, NULL);
	parse("?", BR_COMMAND_HELP, NULL, NULL);
	parse("Settings", BR_COMMAND_SETTINGS, NULL, NULL);
	parse("check", BR_COMMAND_CHECK, NULL, NULL);
	parse("!CHECK", BR_COMMAND_CHECK, NULL, NULL);
	parse("set notify off", BR_COMMAND_SET, "notify", "off");
	parse("  SET   Hold_When\tAway \n", BR_COMMAND_SET, "hold_when",
	      "away");
	parse("set notify", BR_COMMAND_BAD_SET, "", "");
	parse("set", BR_COMMAND_BAD_SET, "", "");
	parse("set notify off now", BR_COMMAND_BAD_SET, "", "");
	parse("set n\xC3\xB6tify off", BR_COMMAND_BAD_SET, "", "");
	parse("hello there", BR_COMMAND_UNKNOWN, "hello", NULL);
	/* The word is cleaned for the reply: no controls, no bidi. */
	parse("\xE2\x80\xAEgro\x01x rest", BR_COMMAND_UNKNOWN, "grox", NULL);
	/* A very long first word is cut. */
	char *big = xmalloc(5000);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	struct br_command c;
	br_command_parse(big, 4999, &c);
	T_CHECK_INT(c.kind, BR_COMMAND_UNKNOWN);
	T_CHECK(strlen(c.word) <= BR_COMMAND_WORD_MAX * 2);
	free(big);
	/* A NUL inside is just a byte. */
	br_command_parse("check\0x", 7, &c);
	T_CHECK_INT(c.kind, BR_COMMAND_UNKNOWN);
}

static void nudge(const char *text, enum br_command_kind kind, const char *word)
{
	struct br_command c;
	br_command_parse(text, strlen(text), &c);
	T_CHECK_INT(c.kind, kind);
	T_CHECK_STR(c.word, word);
}

/* nudge (everyone) and nudge NAME (one), the name kept as written but
   cleaned and bounded; anything more is a usage error. */
static void test_parse_nudge(void)
{
	nudge("nudge", BR_COMMAND_NUDGE, "");
	nudge("  /NUDGE \r\n", BR_COMMAND_NUDGE, "");
	nudge("!nudge", BR_COMMAND_NUDGE, "");
	nudge("nudge bob", BR_COMMAND_NUDGE, "bob");
	nudge("Nudge Bob@Example.org ", BR_COMMAND_NUDGE, "Bob@Example.org");
	nudge("nudge\tcarol\\40example.net@mail.example.org", BR_COMMAND_NUDGE,
	      "carol\\40example.net@mail.example.org");
	nudge("nudge b\xC3\xB6"
	      "b",
	      BR_COMMAND_NUDGE,
	      "b\xC3\xB6"
	      "b");
	/* Controls and bidi overrides are dropped, invalid UTF-8 replaced. */
	nudge("nudge \xE2\x80\xAE"
	      "bo\x01"
	      "b",
	      BR_COMMAND_NUDGE, "bob");
	nudge("nudge b\xFFob", BR_COMMAND_NUDGE, "b\xEF\xBF\xBDob");
	/* More than one name is a usage error, like set. */
	nudge("nudge bob carol", BR_COMMAND_BAD_NUDGE, "");
	nudge("nudge bob, carol", BR_COMMAND_BAD_NUDGE, "");
	/* A separator that cleaning turns into a space is two words. */
	nudge("nudge bob\xE2\x80\xA8"
	      "carol",
	      BR_COMMAND_BAD_NUDGE, "");
	/* A name that cleans to nothing never means everyone. */
	nudge("nudge \xE2\x80\x8B", BR_COMMAND_BAD_NUDGE, "");
	nudge("nudge \x01\x02", BR_COMMAND_BAD_NUDGE, "");
	/* "nudges" is another word. */
	nudge("nudges", BR_COMMAND_UNKNOWN, "nudges");

	/* The bound: a name of BR_COMMAND_NAME_MAX bytes is kept whole,
	   one more byte is refused. */
	char text[6 + BR_COMMAND_NAME_MAX + 2];
	memcpy(text, "nudge ", 6);
	memset(text + 6, 'a', BR_COMMAND_NAME_MAX + 1);
	struct br_command c;
	br_command_parse(text, 6 + BR_COMMAND_NAME_MAX, &c);
	T_CHECK_INT(c.kind, BR_COMMAND_NUDGE);
	T_CHECK_INT(strlen(c.word), BR_COMMAND_NAME_MAX);
	br_command_parse(text, 6 + BR_COMMAND_NAME_MAX + 1, &c);
	T_CHECK_INT(c.kind, BR_COMMAND_BAD_NUDGE);
	T_CHECK_STR(c.word, "");
	/* Invalid bytes that grow when replaced are cut within the bound. */
	memset(text + 6, '\xFF', BR_COMMAND_NAME_MAX);
	br_command_parse(text, 6 + BR_COMMAND_NAME_MAX, &c);
	T_CHECK_INT(c.kind, BR_COMMAND_NUDGE);
	T_CHECK(strlen(c.word) <= BR_COMMAND_NAME_MAX);
}

static void test_setting_values(void)
{
	int64_t v = -1;
	T_CHECK_INT(br_setting_lookup("notify"), BR_SETTING_NOTIFY);
	T_CHECK_INT(br_setting_lookup("HOLD_WHEN"), BR_SETTING_HOLD_WHEN);
	T_CHECK_INT(br_setting_lookup("summary_on_login"),
		    BR_SETTING_SUMMARY_ON_LOGIN);
	T_CHECK_INT(br_setting_lookup("nudge"), BR_SETTING_NUDGE);
	T_CHECK_INT(br_setting_lookup("Receipts"), BR_SETTING_RECEIPTS);
	T_CHECK_INT(br_setting_lookup("share_read"), BR_SETTING_SHARE_READ);
	T_CHECK_INT(br_setting_lookup("nope"), -1);
	T_CHECK_INT(br_setting_parse(BR_SETTING_NOTIFY, "Off", &v), 0);
	T_CHECK_INT(v, 0);
	T_CHECK_INT(br_setting_parse(BR_SETTING_NOTIFY, "yes", &v), 0);
	T_CHECK_INT(v, 1);
	T_CHECK_INT(br_setting_parse(BR_SETTING_NOTIFY, "maybe", &v), -1);
	T_CHECK_INT(br_setting_parse(BR_SETTING_HOLD_WHEN, "AWAY", &v), 0);
	T_CHECK_INT(v, BR_HOLD_AWAY);
	T_CHECK_INT(br_setting_parse(BR_SETTING_HOLD_WHEN, "xa", &v), -1);
	T_CHECK_STR(br_setting_format(BR_SETTING_HOLD_WHEN, BR_HOLD_DND),
		    "dnd");
	T_CHECK_STR(br_setting_format(BR_SETTING_NOTIFY, 0), "no");
	T_CHECK_INT(br_setting_parse(BR_SETTING_NUDGE, "AUTO", &v), 0);
	T_CHECK_INT(v, BR_NUDGE_AUTO);
	T_CHECK_INT(br_setting_parse(BR_SETTING_NUDGE, "on", &v), -1);
	T_CHECK_STR(br_setting_format(BR_SETTING_NUDGE, BR_NUDGE_OFFER),
		    "offer");
	char *choices = br_setting_choices(BR_SETTING_NUDGE);
	T_CHECK_STR(choices, "off, offer or auto");
	free(choices);
	T_CHECK_INT(br_setting_parse(BR_SETTING_SHARE_READ, "no", &v), 0);
	T_CHECK_INT(v, 0);
}

static char state_dir[] = "/tmp/tidings-settings-XXXXXX";

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

/* Defaults from [defaults], the user's choices over them, back to the
   default, and a change of [defaults] moves only users who never chose. */
static void test_settings_store(void)
{
	struct br_config *cfg = config("");
	struct br_ledger *l = NULL;
	char *error = NULL;
	T_CHECK_INT(br_ledger_open(state_dir, &l, &error), 0);
	free(error);
	struct br_settings s;
	br_settings_load(cfg, l, "bob@example.org", &s);
	T_CHECK_INT(s.v[BR_SETTING_NOTIFY], 1);
	T_CHECK_INT(s.v[BR_SETTING_SUMMARY_ON_LOGIN], 1);
	T_CHECK_INT(s.v[BR_SETTING_HOLD_WHEN], BR_HOLD_DND);
	T_CHECK_INT(s.v[BR_SETTING_NUDGE], BR_NUDGE_OFFER);
	T_CHECK_INT(s.v[BR_SETTING_RECEIPTS], 1);
	T_CHECK_INT(s.v[BR_SETTING_SHARE_READ], 1);
	T_CHECK(!s.changed[BR_SETTING_NOTIFY]);
	T_CHECK_INT(br_settings_set(l, "bob@example.org", BR_SETTING_NOTIFY, 0),
		    0);
	T_CHECK_INT(br_settings_set(l, "bob@example.org", BR_SETTING_HOLD_WHEN,
				    BR_HOLD_DND),
		    0);
	br_settings_load(cfg, l, "bob@example.org", &s);
	T_CHECK_INT(s.v[BR_SETTING_NOTIFY], 0);
	T_CHECK(s.changed[BR_SETTING_NOTIFY]);
	T_CHECK_INT(br_settings_set(l, "bob@example.org", BR_SETTING_NUDGE,
				    BR_NUDGE_OFF),
		    0);
	br_config_free(&cfg);

	cfg = config("[defaults]\nnotify = no\nhold_when = away\n"
		     "summary_on_login = no\nnudge = auto\nreceipts = no\n"
		     "share_read = no\n");
	br_settings_load(cfg, l, "bob@example.org", &s);
	T_CHECK_INT(s.v[BR_SETTING_HOLD_WHEN], BR_HOLD_DND); /* chosen */
	T_CHECK_INT(s.v[BR_SETTING_SUMMARY_ON_LOGIN], 0);    /* default */
	T_CHECK_INT(s.v[BR_SETTING_NUDGE], BR_NUDGE_OFF);    /* chosen */
	T_CHECK(s.changed[BR_SETTING_NUDGE]);
	T_CHECK_INT(s.v[BR_SETTING_RECEIPTS], 0); /* default */
	T_CHECK_INT(s.v[BR_SETTING_SHARE_READ], 0);
	br_settings_load(cfg, l, "carol@example.org", &s);
	T_CHECK_INT(s.v[BR_SETTING_HOLD_WHEN], BR_HOLD_AWAY);
	T_CHECK_INT(s.v[BR_SETTING_NOTIFY], 0);
	T_CHECK_INT(s.v[BR_SETTING_NUDGE], BR_NUDGE_AUTO);
	T_CHECK_INT(
	    br_settings_reset(l, "bob@example.org", BR_SETTING_HOLD_WHEN), 0);
	br_settings_load(cfg, l, "bob@example.org", &s);
	T_CHECK_INT(s.v[BR_SETTING_HOLD_WHEN], BR_HOLD_AWAY);
	T_CHECK(!s.changed[BR_SETTING_HOLD_WHEN]);
	br_ledger_close(&l);
	br_config_free(&cfg);
}

int main(void)
{
	if (mkdtemp(state_dir) == NULL)
		return 1;
	T_RUN(test_parse);
	T_RUN(test_parse_nudge);
	T_RUN(test_setting_values);
	T_RUN(test_settings_store);
	char *cmd = xasprintf("rm -rf '%s'", state_dir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	return T_DONE();
}
