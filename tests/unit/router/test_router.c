/*
 * The router against a real ledger (SQLite in a temporary directory), real
 * event parsing and real libuv timers; only the XMPP side is replaced by a
 * callback that records what would be sent.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_router.h"
#include "ms_event.h"
#include "test.h"

#include "router_fixture.h"
#include "ut_log.h"
#include "ut_xalloc.h"

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_single_and_duplicate(void)
{
	struct fixture f;
	setup(&f, "");
	br_router_event(f.router, event("bob@example.org", "INBOX", 1, "Hi"));
	turn();
	T_CHECK_INT(sent.count, 1);
	const char *x = sent.xml[0];
	T_CHECK(strstr(x, "to=\"bob@example.org\"") != NULL);
	T_CHECK(strstr(x, "from=\"mail.example.org\"") != NULL);
	T_CHECK(strstr(x, "type=\"chat\"") != NULL);
	/* alice@example.org is local, but tidings has not seen her: her
	   address alone. */
	T_CHECK(strstr(x, "New mail from Alice &lt;alice@example.org&gt;\n"
			  "Subject: Hi\n\nhello there") != NULL);
	T_CHECK(strstr(x, "xmlns=\"urn:x-tidings:mail:0\"") != NULL);
	T_CHECK(strstr(x, "uid=\"1\"") != NULL);
	T_CHECK(strstr(x, "uidvalidity=\"7\"") != NULL);
	T_CHECK(strstr(x, "<date>2025-11-28T12:00:00Z</date>") != NULL);
	T_CHECK(sent.token[0] != 0);

	/* The same mail again (a resent datagram): nothing. */
	br_router_event(f.router, event("bob@example.org", "INBOX", 1, "Hi"));
	turn();
	T_CHECK_INT(sent.count, 1);
	struct br_router_stats st;
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(st.duplicates, 1);
	T_CHECK_INT(st.singles, 1);

	/* Twice within one loop turn (before the ledger write): once. */
	br_router_event(f.router, event("bob@example.org", "INBOX", 2, "Hi"));
	br_router_event(f.router, event("bob@example.org", "INBOX", 2, "Hi"));
	turn();
	T_CHECK_INT(sent.count, 2);
	teardown(&f, true);
}

static void test_burst_digest(void)
{
	struct fixture f;
	/* A window long enough for a slow (sanitizer, loaded) machine to send
	   the 20 events well within it. */
	setup(&f, "burst_window = 2s\n");
	uv_update_time(&loop);
	uint64_t t0 = uv_now(&loop);
	for (unsigned uid = 1; uid <= 20; uid++) {
		char subject[32];
		snprintf(subject, sizeof(subject), "Subject %u", uid);
		br_router_event(
		    f.router, event("bob@example.org", "INBOX", uid, subject));
		turn();
	}
	T_CHECK_INT(sent.count, 3);
	uv_update_time(&loop);
	uint64_t spent = uv_now(&loop) - t0;
	if (spent < 1500) {
		run_for(1500 - spent);
		T_CHECK_INT(sent.count, 3); /* the window is still open */
	}
	run_for(1000);
	T_CHECK_INT(sent.count, 4);
	if (sent.count >= 4) {
		const char *d = sent.xml[3];
		T_CHECK(strstr(d, "17 new mails:") != NULL);
		T_CHECK(strstr(d, "count=\"17\"") != NULL);
		/* 15 listed (the default), the other 2 counted. */
		T_CHECK_INT(count_of(d, "<mail "), 15);
		T_CHECK_INT(count_of(d, "\xE2\x80\xA2 Alice"), 15);
		T_CHECK(strstr(d, "and 2 more.") != NULL);
		T_CHECK(strstr(d, "Subject 4") != NULL);
		T_CHECK(strstr(d, "Subject 18") != NULL);
		T_CHECK(strstr(d, "Subject 19") == NULL);
	}
	/* Every one of the 20 is in the ledger now. */
	for (unsigned uid = 1; uid <= 18; uid++) {
		struct br_ledger_key k = {"INBOX", 7, uid};
		int notified = 0;
		br_ledger_is_notified(f.ledger, "bob@example.org", &k,
				      &notified);
		T_CHECK_INT(notified, 1);
	}
	/* Right after a digest, mail is collected, not sent one by one. */
	br_router_event(f.router, event("bob@example.org", "INBOX", 21, "x"));
	turn();
	T_CHECK_INT(sent.count, 4);
	run_for(2500);
	T_CHECK_INT(sent.count, 5);
	/* A lone held mail goes out as a plain single. */
	T_CHECK(sent.count < 5 || strstr(sent.xml[4], "Subject: x") != NULL);
	teardown(&f, true);
}

static int count_row_cb(uint64_t id, const char *jid, const char *xml,
			size_t len, void *ctx)
{
	(void)id;
	(void)jid;
	(void)xml;
	(void)len;
	(*(int *)ctx)++;
	return 0;
}

static int outbox_rows(struct br_ledger *l)
{
	int n = 0;
	br_ledger_outbox_foreach(l, count_row_cb, &n);
	return n;
}

static void test_confirm_and_resend(void)
{
	struct fixture f;
	setup(&f, "");
	br_router_event(f.router, event("bob@example.org", "INBOX", 1, "a"));
	turn();
	br_router_event(f.router, event("bob@example.org", "INBOX", 2, "b"));
	turn();
	T_CHECK_INT(sent.count, 2);
	T_CHECK_INT(outbox_rows(f.ledger), 2);
	br_router_confirmed(f.router, sent.token[0]);
	turn();
	T_CHECK_INT(outbox_rows(f.ledger), 1);
	teardown(&f, false);

	/* A restart resends the unconfirmed one, byte for byte. */
	char *second = xstrdup(sent.xml[1]);
	setup(&f, "");
	br_router_start(f.router);
	T_CHECK_INT(sent.count, 1);
	T_CHECK_STR(sent.xml[0], second);
	struct br_router_stats st;
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(st.resent, 1);
	/* And it is not notified again when its event comes back. */
	br_router_event(f.router, event("bob@example.org", "INBOX", 2, "b"));
	turn();
	T_CHECK_INT(sent.count, 1);
	free(second);
	teardown(&f, true);
}

static void test_unmapped_and_filtered(void)
{
	struct fixture f;
	setup(&f, "");
	br_router_event(f.router,
			event("bob smith@example.org", "INBOX", 1, "x"));
	turn();
	br_router_event(f.router, event("bob@other.org", "INBOX", 1, "x"));
	turn();
	br_router_event(f.router,
			event("b\\u00f6b@example.org", "INBOX", 1, "x"));
	turn();
	br_router_event(f.router, event("bob@example.org", "Junk", 1, "x"));
	turn();
	T_CHECK_INT(sent.count, 0);
	struct br_router_stats st;
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(st.unmapped, 3);
	/* Uppercase maps to the same (nodeprep'd) JID. */
	br_router_event(f.router, event("Carol@Example.org", "INBOX", 1, "x"));
	turn();
	T_CHECK_INT(sent.count, 1);
	T_CHECK(sent.count < 1 ||
		strstr(sent.xml[0], "to=\"carol@example.org\"") != NULL);
	teardown(&f, true);
}

static int warn_lines;

static void count_warn_cb(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level <= UT_LOG_WARN && strstr(line, "is not notified") != NULL)
		warn_lines++;
}

/* 20,000 events for users tidings does not serve: one log line, no
   memory kept for any of them. */
static void test_unserved_flood(void)
{
	struct fixture f;
	setup(&f, "");
	br_router_start(f.router);
	warn_lines = 0;
	ut_log_set_hook(count_warn_cb, NULL);
	for (unsigned i = 0; i < 20000; i++) {
		char user[64];
		snprintf(user, sizeof(user), "user%u@elsewhere.example", i);
		br_router_event(f.router, event(user, "INBOX", 1, "x"));
		if (i % 1000 == 0)
			turn();
	}
	turn();
	ut_log_set_hook(NULL, NULL);
	struct br_router_stats st;
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(st.unmapped, 20000);
	T_CHECK_INT(st.users, 0);
	T_CHECK_INT(st.scans, 0);
	T_CHECK_INT(warn_lines, 1);
	T_CHECK_INT(sent.count, 0);
	teardown(&f, true);
}

/* Users are freed once idle (nothing held, the window over). */
static void test_idle_users_freed(void)
{
	struct fixture f;
	setup(&f, "");
	br_router_start(f.router);
	for (unsigned i = 0; i < 50; i++) {
		char user[64];
		snprintf(user, sizeof(user), "user%u@example.org", i);
		br_router_event(f.router, event(user, "INBOX", 1, "x"));
	}
	/* One of them is holding a digest. */
	for (unsigned uid = 2; uid <= 6; uid++)
		br_router_event(f.router,
				event("user0@example.org", "INBOX", uid, "y"));
	turn();
	struct br_router_stats st;
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(st.users, 50);
	T_CHECK_INT(sent.count, 52);
	/* The window (400 ms) ends, user0's digest goes out, and the next
	   sweep (every second) frees everybody. */
	run_for(1500);
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(sent.count, 53);
	T_CHECK_INT(st.users, 0);
	/* A freed user comes back as new, and duplicates are still known. */
	br_router_event(f.router, event("user1@example.org", "INBOX", 1, "x"));
	br_router_event(f.router, event("user1@example.org", "INBOX", 2, "z"));
	turn();
	T_CHECK_INT(sent.count, 54);
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(st.users, 1);
	teardown(&f, true);
}

static void test_hostile_text(void)
{
	struct fixture f;
	setup(&f, "");
	br_router_event(f.router,
			event("bob@example.org", "INBOX", 1,
			      "a\\u0000b\\u0001c\\u001b[31m\\ufffe</body>&"));
	turn();
	T_CHECK_INT(sent.count, 1);
	if (sent.count == 1) {
		const char *x = sent.xml[0];
		for (const char *p = x; *p != '\0'; p++)
			T_CHECK((unsigned char)*p >= 0x20 || *p == '\n');
		T_CHECK(strstr(x, "Subject: abc[31m&lt;/body&gt;&amp;") !=
			NULL);
	}
	teardown(&f, true);
}

int main(void)
{
	fixture_init();
	T_RUN(test_single_and_duplicate);
	T_RUN(test_burst_digest);
	T_RUN(test_confirm_and_resend);
	T_RUN(test_unmapped_and_filtered);
	T_RUN(test_hostile_text);
	T_RUN(test_unserved_flood);
	T_RUN(test_idle_users_freed);
	fixture_done();
	return T_DONE();
}
