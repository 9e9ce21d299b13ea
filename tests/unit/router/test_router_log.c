/*
 * The router's trail: one info line per notification decision (sent as a
 * single, a digest or a summary; not sent, with the reason), naming
 * mailboxes, UIDs and stanza ids but never a subject or a sender. Also
 * br_router_config_changed(): a new [defaults] value reaches users already
 * in memory.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_router.h"
#include "br_router_private.h"
#include "ms_event.h"
#include "test.h"

#include "router_fixture.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define LINES_MAX 64

static struct {
	char *text[LINES_MAX];
	int count;
} lines;

static void hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if ((level != UT_LOG_INFO && level != UT_LOG_DEBUG) ||
	    lines.count >= LINES_MAX)
		return;
	lines.text[lines.count++] = xstrdup(line);
}

static void lines_reset(void)
{
	for (int i = 0; i < lines.count; i++)
		free(lines.text[i]);
	lines.count = 0;
}

/* The info lines that start with prefix (after "info: "). */
static int lines_with(const char *prefix)
{
	int n = 0;
	for (int i = 0; i < lines.count; i++)
		n += strncmp(lines.text[i], prefix, strlen(prefix)) == 0;
	return n;
}

static const char *line_with(const char *prefix)
{
	for (int i = 0; i < lines.count; i++) {
		if (strncmp(lines.text[i], prefix, strlen(prefix)) == 0)
			return lines.text[i];
	}
	return "";
}

/* No line carries the subject or the sender of the test mails. */
static void check_private(void)
{
	for (int i = 0; i < lines.count; i++) {
		T_CHECK(strstr(lines.text[i], "Secret subject") == NULL);
		T_CHECK(strstr(lines.text[i], "alice") == NULL);
		T_CHECK(strstr(lines.text[i], "Alice") == NULL);
	}
}

/* The id attribute of a sent stanza (xmalloc'ed), or "". */
static char *id_of(const char *xml)
{
	const char *p = strstr(xml, " id=\"");
	if (p == NULL)
		return xstrdup("");
	p += 5;
	return xstrndup(p, strcspn(p, "\""));
}

static void test_two_singles_two_lines(void)
{
	struct fixture f;
	setup(&f, "");
	lines_reset();
	br_router_event(f.router,
			event("bob@example.org", "INBOX", 7, "Secret subject"));
	turn();
	br_router_event(f.router,
			event("bob@example.org", "INBOX", 8, "Secret subject"));
	turn();
	T_CHECK_INT(sent.count, 2);
	T_CHECK_INT(lines_with("info: bridge(bob@example.org): notified "), 2);
	if (sent.count == 2) {
		for (int i = 0; i < 2; i++) {
			char *id = id_of(sent.xml[i]);
			char *want = xasprintf(
			    "info: bridge(bob@example.org): notified INBOX uid "
			    "%d (single, id %s)",
			    7 + i, id);
			T_CHECK(strncmp(id, "tm1-", 4) == 0);
			T_CHECK_INT(lines_with(want), 1);
			free(want);
			free(id);
		}
	}
	/* The same mail again: one line, and why. */
	br_router_event(f.router,
			event("bob@example.org", "INBOX", 8, "Secret subject"));
	turn();
	T_CHECK_STR(line_with("info: bridge(bob@example.org): not notified"),
		    "info: bridge(bob@example.org): not notified INBOX uid 8: "
		    "already notified");
	/* A mailbox that is not notified: no info line (every mail filed
	   into Junk would be one), a debug line. */
	br_router_event(f.router,
			event("bob@example.org", "Junk", 3, "Secret subject"));
	turn();
	T_CHECK_INT(lines_with("bridge(bob@example.org): not notified Junk"),
		    0);
	ut_log_set_level(UT_LOG_DEBUG);
	br_router_event(f.router,
			event("bob@example.org", "Junk", 4, "Secret subject"));
	turn();
	ut_log_set_level(UT_LOG_INFO);
	T_CHECK_INT(lines_with("debug: bridge(bob@example.org): not notified "
			       "Junk uid 4: not one of [notify] mailboxes"),
		    1);
	T_CHECK_INT(sent.count, 2);
	check_private();
	teardown(&f, true);
}

static void test_digest_line(void)
{
	struct fixture f;
	setup(&f, "burst_max = 1\nburst_window = 2s\n");
	lines_reset();
	for (unsigned uid = 8; uid <= 12; uid++) {
		br_router_event(f.router, event("bob@example.org", "INBOX", uid,
						"Secret subject"));
		turn();
	}
	T_CHECK_INT(sent.count, 1);
	br_router_flush_all(f.router);
	turn();
	T_CHECK_INT(sent.count, 2);
	if (sent.count == 2) {
		char *id = id_of(sent.xml[1]);
		char *want =
		    xasprintf("info: bridge(bob@example.org): notified "
			      "a digest of 4 mails: INBOX uids 9-12 "
			      "(id %s)",
			      id);
		T_CHECK_STR(line_with("info: bridge(bob@example.org): "
				      "notified a digest"),
			    want);
		free(want);
		free(id);
	}
	/* One line per decision: the single and the digest; the mails held
	   for the digest only at debug. */
	T_CHECK_INT(lines_with("info: bridge(bob@example.org): "), 2);
	check_private();
	teardown(&f, true);
}

static void test_not_notified_reasons(void)
{
	struct fixture f;
	setup(&f, "[defaults]\nnotify = no\n");
	lines_reset();
	br_router_event(
	    f.router, event("bob@example.org", "INBOX", 13, "Secret subject"));
	turn();
	T_CHECK_INT(sent.count, 0);
	T_CHECK_STR(line_with("info: bridge(bob@example.org):"),
		    "info: bridge(bob@example.org): not notified INBOX uid 13: "
		    "notify off");

	/* A reload turns notify on for those who never chose: the users in
	   memory follow at once. Without br_router_config_changed() bob's
	   cached settings would still say no. */
	f.cfg->default_notify = true;
	br_router_event(
	    f.router, event("bob@example.org", "INBOX", 14, "Secret subject"));
	turn();
	T_CHECK_INT(sent.count, 0);
	br_router_config_changed(f.router);
	br_router_event(
	    f.router, event("bob@example.org", "INBOX", 15, "Secret subject"));
	turn();
	T_CHECK_INT(sent.count, 1);
	T_CHECK_INT(lines_with("info: bridge(bob@example.org): notified INBOX "
			       "uid 15 (single, id tm1-"),
		    1);

	/* A user who chose notify = no keeps it whatever [defaults] say. */
	T_CHECK_INT(br_settings_set(f.ledger, "carol@example.org",
				    BR_SETTING_NOTIFY, 0),
		    0);
	br_router_config_changed(f.router);
	br_router_event(
	    f.router, event("carol@example.org", "INBOX", 2, "Secret subject"));
	turn();
	T_CHECK_INT(sent.count, 1);
	T_CHECK_INT(lines_with("info: bridge(carol@example.org): not notified "
			       "INBOX uid 2: notify off"),
		    1);

	/* Presence known and bob offline: not sent, the summary lists it. */
	br_router_presence_known(f.router, true);
	br_router_event(
	    f.router, event("dave@example.org", "INBOX", 4, "Secret subject"));
	turn();
	T_CHECK_INT(sent.count, 1);
	T_CHECK_INT(lines_with("info: bridge(dave@example.org): not notified "
			       "INBOX uid 4: offline (the summary at login "
			       "lists it)"),
		    1);
	check_private();
	teardown(&f, true);
}

static void test_uids_text(void)
{
	struct br_mail m[6] = {
	    {.mailbox = "INBOX", .uid = 12}, {.mailbox = "Lists", .uid = 3},
	    {.mailbox = "INBOX", .uid = 8},  {.mailbox = "INBOX", .uid = 9},
	    {.mailbox = "INBOX", .uid = 10}, {.mailbox = "INBOX", .uid = 15},
	};
	struct br_mail *p[6];
	for (int i = 0; i < 6; i++)
		p[i] = &m[i];
	char *t = br_router__uids_text(p, 6);
	T_CHECK_STR(t, "INBOX uids 8-10,12,15, Lists uid 3");
	free(t);
	t = br_router__uids_text(p, 1);
	T_CHECK_STR(t, "INBOX uid 12");
	free(t);
	t = br_router__uids_text(p, 0);
	T_CHECK_STR(t, "none");
	free(t);

	/* Many scattered UIDs: the list is cut. */
	struct br_mail many[400];
	struct br_mail *mp[400];
	for (int i = 0; i < 400; i++) {
		many[i] = (struct br_mail){.mailbox = "INBOX",
					   .uid = (uint32_t)(1000 + 2 * i)};
		mp[i] = &many[i];
	}
	t = br_router__uids_text(mp, 400);
	T_CHECK(strlen(t) < 400);
	T_CHECK(strncmp(t, "INBOX uids 1000,1002,", 21) == 0);
	T_CHECK(strcmp(t + strlen(t) - 4, ",...") == 0);
	free(t);
}

int main(void)
{
	fixture_init();
	ut_log_set_hook(hook, NULL);
	T_RUN(test_two_singles_two_lines);
	T_RUN(test_digest_line);
	T_RUN(test_not_notified_reasons);
	T_RUN(test_uids_text);
	ut_log_set_hook(NULL, NULL);
	lines_reset();
	fixture_done();
	return T_DONE();
}
