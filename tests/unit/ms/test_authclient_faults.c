/*
 * ms_authclient against a misbehaving auth-client socket: garbage, CONT,
 * an answer to an id never asked, a line over 16 KiB, hang-ups (once, and
 * for good), no server at all (then one appears), a server that never
 * answers or never finishes its handshake (timeouts, then a new
 * connection), no PLAIN, an auth-master socket by mistake, a wrong
 * version, and an idle connection that Dovecot closes. Each bad line
 * closes the connection and fails only the requests sent on it; nothing
 * crashes and the next request works.
 */
#include "authclient_test.h"

/* One request that must fail with ERROR; then one that must work. */
static void bad_then_good(struct ms_authclient *ac, const char *user,
			  const char *why_part)
{
	struct rec bad = {0}, good = {0};
	ask(ac, user, "x", &bad);
	RUN_UNTIL(bad.calls, 5000);
	T_CHECK_INT(bad.calls, 1);
	T_CHECK_INT(bad.status, MS_AUTHCLIENT_ERROR);
	if (strstr(bad.reason, why_part) == NULL) {
		T_CHECK(false);
		fprintf(stderr, "  reason: %s\n", bad.reason);
	}
	ask(ac, "bob@example.org", "right", &good);
	RUN_UNTIL(good.calls, 5000);
	T_CHECK_INT(good.status, MS_AUTHCLIENT_OK);
}

static void test_bad_lines(void)
{
	fake_start(NULL, false, 10);
	struct ms_authclient *ac = ac_new(NULL);
	error_lines = 0;
	bad_then_good(ac, "junk@example.org", "invalid request id");
	bad_then_good(ac, "cont@example.org", "CONT");
	bad_then_good(ac, "wrongid@example.org", "never asked");
	bad_then_good(ac, "long@example.org", "over 16 KiB");
	struct ms_authclient_stats st;
	ms_authclient_get_stats(ac, &st);
	T_CHECK_INT(st.protocol_errors, 4);
	T_CHECK_INT(error_lines, 4);
	T_CHECK_INT(counts().conns, 5);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_bad_line_fails_only_its_connection(void)
{
	/* Requests on the wire with the bad answer fail; one still queued
	   behind them (in-flight bound) goes on a new connection. */
	fake_start(NULL, false, 10);
	struct ms_authclient_settings set = {.max_in_flight = 2};
	struct ms_authclient *ac = ac_new(&set);
	struct rec a = {0}, junk = {0}, later = {0};
	ask(ac, "silent@example.org", "x", &a);
	ask(ac, "junk@example.org", "x", &junk);
	ask(ac, "bob@example.org", "right", &later);
	RUN_UNTIL(a.calls && junk.calls && later.calls, 5000);
	T_CHECK_INT(a.status, MS_AUTHCLIENT_ERROR);
	T_CHECK_INT(junk.status, MS_AUTHCLIENT_ERROR);
	T_CHECK_INT(later.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(counts().conns, 2);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_hangups(void)
{
	fake_start(NULL, false, 10);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec flaky = {0};
	/* Lost once: sent again on a new connection, and answered. */
	ask(ac, "flaky@example.org", "f", &flaky);
	RUN_UNTIL(flaky.calls, 5000);
	T_CHECK_INT(flaky.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(counts().conns, 2);
	T_CHECK_INT(counts().auths, 2);
	/* Lost twice: fails. */
	bad_then_good(ac, "hangup@example.org", "closed the connection");
	T_CHECK_INT(counts().conns, 4);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_no_server(void)
{
	unlink(sock_path);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec a = {0}, b = {0};
	warn_lines = 0;
	double t0 = now_msecs();
	ask(ac, "bob@example.org", "right", &a);
	RUN_UNTIL(a.calls, 5000);
	T_CHECK_INT(a.status, MS_AUTHCLIENT_ERROR);
	T_CHECK(strstr(a.reason, "connect") != NULL);
	T_CHECK(now_msecs() - t0 < 1000);
	/* After the back-off, once more: logged once only. */
	ask(ac, "bob@example.org", "right", &b);
	RUN_UNTIL(b.calls, 5000);
	T_CHECK_INT(b.status, MS_AUTHCLIENT_ERROR);
	T_CHECK_INT(warn_lines, 1);
	/* The server appears: the next request connects and works. */
	fake_start(NULL, false, 10);
	struct rec c = {0};
	run_for(400); /* past the back-off */
	info_lines = 0;
	ask(ac, "bob@example.org", "right", &c);
	RUN_UNTIL(c.calls, 5000);
	T_CHECK_INT(c.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(info_lines, 1); /* "connected" */
	struct ms_authclient_stats st;
	ms_authclient_get_stats(ac, &st);
	T_CHECK_INT(st.connect_errors, 2);
	T_CHECK_INT(st.connects, 1);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_timeouts(void)
{
	fake_start(NULL, false, 10);
	struct ms_authclient_settings set = {.timeout_msecs = 300};
	struct ms_authclient *ac = ac_new(&set);
	struct rec s = {0};
	double t0 = now_msecs();
	ask(ac, "silent@example.org", "x", &s);
	RUN_UNTIL(s.calls, 5000);
	T_CHECK_INT(s.status, MS_AUTHCLIENT_ERROR);
	T_CHECK_STR(s.reason, "timed out after 300 ms");
	T_CHECK(s.at_msecs - t0 >= 295 && s.at_msecs - t0 < 1000);
	/* The silent connection was given up: the next request opens a
	   new one. */
	struct rec ok = {0};
	ask(ac, "bob@example.org", "right", &ok);
	RUN_UNTIL(ok.calls, 5000);
	T_CHECK_INT(ok.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(counts().conns, 2);
	struct ms_authclient_stats st;
	ms_authclient_get_stats(ac, &st);
	T_CHECK_INT(st.timeouts, 1);
	ac_free(&ac);
	fake_ac_stop(&fake);

	/* A handshake that never ends: the request times out. */
	fake_start("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\n", false, 10);
	ac = ac_new(&set);
	s.calls = 0;
	ask(ac, "bob@example.org", "right", &s);
	RUN_UNTIL(s.calls, 5000);
	T_CHECK_INT(s.status, MS_AUTHCLIENT_ERROR);
	T_CHECK_INT(counts().auths, 0);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_handshakes(void)
{
	static const struct {
		const char *greeting, *why;
	} cases[] = {
	    /* Only LOGIN offered. */
	    {"VERSION\t1\t2\nMECH\tLOGIN\tplaintext\nSPID\t1\nCUID\t1\n"
	     "COOKIE\tab\nDONE\n",
	     "no PLAIN"},
	    /* An auth-master/-userdb listener. */
	    {"VERSION\t1\t0\nSPID\t4242\n", "auth-master"},
	    {"VERSION\t2\t0\nMECH\tPLAIN\nDONE\n", "protocol version 2"},
	    {"MECH\tPLAIN\nVERSION\t1\t2\nDONE\n", "VERSION"},
	    {"VERSION\t1\t2\nVERSION\t1\t2\nMECH\tPLAIN\nDONE\n",
	     "VERSION twice"},
	    {"VERSION\t1\t2\nMECH\tPLAIN\nOK\t1\tuser=x\nDONE\n",
	     "before the handshake"},
	    {"VERSION\t1\t2\nMECH\tPLAIN\nDONE\nSPID\t3\n", "after DONE"},
	    {"\xff\xfe garbage\n", "unexpected"},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		fake_start(cases[i].greeting, false, 10);
		struct ms_authclient *ac = ac_new(NULL);
		struct rec r = {0};
		warn_lines = error_lines = 0;
		ask(ac, "bob@example.org", "right", &r);
		RUN_UNTIL(r.calls, 5000);
		T_CHECK_INT(r.status, MS_AUTHCLIENT_ERROR);
		T_CHECK_INT(warn_lines + error_lines, 1);
		if (strstr(r.reason, cases[i].why) == NULL &&
		    strstr(last_line, cases[i].why) == NULL) {
			T_CHECK(false);
			fprintf(stderr, "  case %zu: %s / %s\n", i, r.reason,
				last_line);
		}
		/* Only after a complete handshake may a request go out. */
		T_CHECK(counts().auths <= (i == 6 ? 1 : 0));
		ac_free(&ac);
		fake_ac_stop(&fake);
	}
}

static void test_idle_close(void)
{
	/* Dovecot's auth process restarts (a reload): the idle connection
	   goes, quietly; the next request reconnects at once. */
	fake_start(NULL, false, 10);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec a = {0}, b = {0};
	ask(ac, "bob@example.org", "right", &a);
	RUN_UNTIL(a.calls, 5000);
	warn_lines = error_lines = info_lines = 0;
	fake_ac_drop(&fake);
	run_for(100);
	T_CHECK_INT(info_lines, 1);
	double t0 = now_msecs();
	ask(ac, "bob@example.org", "right", &b);
	RUN_UNTIL(b.calls, 5000);
	T_CHECK_INT(b.status, MS_AUTHCLIENT_OK);
	T_CHECK(now_msecs() - t0 < 200);
	T_CHECK_INT(warn_lines + error_lines, 0);
	T_CHECK_INT(counts().conns, 2);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_bad_paths(void)
{
	struct ms_authclient *ac = NULL;
	char *error = NULL;
	T_CHECK_INT(ms_authclient_new(&loop, "relative", NULL, &ac, &error),
		    -1);
	T_CHECK(ac == NULL && error != NULL);
	free(error);
	char longp[200];
	memset(longp, 'a', sizeof(longp));
	longp[0] = '/';
	longp[199] = '\0';
	T_CHECK_INT(ms_authclient_new(&loop, longp, NULL, &ac, &error), -1);
	free(error);
	struct ms_authclient_settings set = {.service = "x y"};
	T_CHECK_INT(ms_authclient_new(&loop, "/tmp/x", &set, &ac, &error), -1);
	free(error);
}

int main(void)
{
	suite_setup();
	T_RUN(test_bad_lines);
	T_RUN(test_bad_line_fails_only_its_connection);
	T_RUN(test_hangups);
	T_RUN(test_no_server);
	T_RUN(test_timeouts);
	T_RUN(test_handshakes);
	T_RUN(test_idle_close);
	T_RUN(test_bad_paths);
	return suite_teardown();
}
