/*
 * ms_authmaster when things go wrong, against the fake auth-master:
 * garbage, a wrong server (auth-client, wrong version, answers before
 * VERSION), over-long and unsolicited lines, timeouts and late answers, a
 * server that hangs up, drops an idle connection or is gone and comes
 * back.
 */
#include "authmaster_test.h"

static void test_garbage(void)
{
	fake_start(NULL, false);
	struct ms_authmaster *am = am_new(NULL);
	struct rec h = {0}, j = {0}, a = {0};
	ask(am, "h1", &h);
	RUN_UNTIL(counts().held == 1, 5000);
	error_lines = 0;
	ask(am, "junk@example.org", &j);
	RUN_UNTIL(j.calls && h.calls, 5000);
	/* Both lookups on the connection fail; nothing crashes. */
	T_CHECK_INT(j.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK(strstr(j.reason, "bad answer from Dovecot") != NULL);
	T_CHECK_INT(h.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK_INT(error_lines, 1);
	T_CHECK(strstr(last_line, "invalid request id") != NULL);
	/* The next request works on a new connection. */
	ask(am, "alice@example.org", &a);
	RUN_UNTIL(a.calls, 5000);
	T_CHECK_INT(a.last.status, MS_AUTHMASTER_FOUND);
	T_CHECK_INT(counts().conns, 2);
	struct ms_authmaster_stats st;
	ms_authmaster_get_stats(am, &st);
	T_CHECK_INT(st.protocol_errors, 1);
	T_CHECK_INT(st.disconnects, 1);

	/* An over-long line, then an answer to an id never asked. */
	fake_am_send_raw(&fake, "NOTFOUND\t", 9);
	char *big = xmalloc(9000);
	memset(big, '7', 9000);
	fake_am_send_raw(&fake, big, 9000);
	free(big);
	RUN_UNTIL((ms_authmaster_get_stats(am, &st), st.protocol_errors == 2),
		  5000);
	T_CHECK(strstr(last_line, "over 8 KiB") != NULL);
	a.calls = 0;
	ask(am, "bob@example.org", &a);
	RUN_UNTIL(a.calls, 5000);
	T_CHECK_INT(a.last.uid, 1002);
	fake_am_send_raw(&fake, "NOTFOUND\t99999\n", 15);
	RUN_UNTIL((ms_authmaster_get_stats(am, &st), st.protocol_errors == 3),
		  5000);
	T_CHECK(strstr(last_line, "never asked") != NULL);
	am_free(&am);
	fake_am_stop(&fake);
}

static void test_wrong_server(void)
{
	/* An auth-client socket greets with VERSION 1.2 and MECH lines. */
	fake_start("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\n", false);
	struct ms_authmaster *am = am_new(NULL);
	struct rec r = {0};
	ask(am, "alice@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK(strstr(r.reason, "auth-client socket") != NULL);
	am_free(&am);
	fake_am_stop(&fake);

	fake_start("VERSION\t2\t0\n", false);
	am = am_new(NULL);
	r.calls = 0;
	ask(am, "alice@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK(strstr(r.reason, "protocol version 2") != NULL);
	am_free(&am);
	fake_am_stop(&fake);

	/* Answers before VERSION are not believed. */
	fake_start("USER\t1\talice@example.org\tuid=0\n", false);
	am = am_new(NULL);
	r.calls = 0;
	ask(am, "alice@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK(strstr(r.reason, "before VERSION") != NULL);
	am_free(&am);
	fake_am_stop(&fake);
}

static void test_timeout_and_late(void)
{
	fake_start(NULL, false);
	struct ms_authmaster_settings set = {.timeout_msecs = 200};
	struct ms_authmaster *am = am_new(&set);
	struct rec s = {0}, h = {0}, a = {0};
	double t0 = now_msecs();
	ask(am, "silent@example.org", &s);
	RUN_UNTIL(s.calls, 5000);
	double elapsed = now_msecs() - t0;
	T_CHECK_INT(s.calls, 1);
	T_CHECK_INT(s.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK_STR(s.reason, "timed out after 200 ms");
	T_CHECK(elapsed >= 190 && elapsed < 2000);

	/* An answer after the timeout is ignored, the connection stays. */
	ask(am, "h1", &h);
	RUN_UNTIL(h.calls, 5000);
	T_CHECK_INT(h.last.status, MS_AUTHMASTER_FAIL);
	fake_am_release(&fake);
	struct ms_authmaster_stats st;
	RUN_UNTIL((ms_authmaster_get_stats(am, &st), st.late == 1), 5000);
	T_CHECK_INT(st.late, 1);
	T_CHECK_INT(st.timeouts, 2);
	ask(am, "alice@example.org", &a);
	RUN_UNTIL(a.calls, 5000);
	T_CHECK_INT(a.last.status, MS_AUTHMASTER_FOUND);
	T_CHECK_INT(h.calls, 1);
	T_CHECK_INT(counts().conns, 1);
	ms_authmaster_get_stats(am, &st);
	T_CHECK_INT(st.protocol_errors, 0);
	am_free(&am);
	fake_am_stop(&fake);
}

static void test_server_gone(void)
{
	fake_start(NULL, false);
	struct ms_authmaster *am = am_new(NULL);
	struct rec r = {0};

	/* Lost once: sent again on a new connection, answered. */
	ask(am, "flaky@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.status, MS_AUTHMASTER_FOUND);
	T_CHECK_INT(r.last.uid, 1003);
	T_CHECK_INT(counts().conns, 2);
	T_CHECK_INT(counts().requests, 2);

	/* Lost twice: fails after the one retry. */
	r.calls = 0;
	ask(am, "hangup@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK(strstr(r.reason, "closed the connection") != NULL);
	T_CHECK_INT(counts().requests, 4);

	/* A held request whose connection is dropped goes again. */
	r.calls = 0;
	ask(am, "h2", &r);
	RUN_UNTIL(counts().held == 1, 5000);
	fake_am_drop(&fake);
	RUN_UNTIL(counts().held == 1 && counts().conns == 5, 5000);
	fake_am_release(&fake);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.uid, 2002);

	/* An idle connection closed by Dovecot (a reload) is no warning. */
	struct ms_authmaster_stats st;
	ms_authmaster_get_stats(am, &st);
	uint64_t disconnects = st.disconnects;
	warn_lines = 0;
	fake_am_drop(&fake);
	RUN_UNTIL((ms_authmaster_get_stats(am, &st),
		   st.disconnects == disconnects + 1),
		  5000);
	T_CHECK_INT(st.disconnects, disconnects + 1);
	T_CHECK_INT(warn_lines, 0);
	T_CHECK(strstr(last_line, "info: auth-master: ") != NULL &&
		strstr(last_line, "closed the connection") != NULL);

	/* The server is gone: the request fails at once, not at timeout. */
	fake_am_stop(&fake);
	r.calls = 0;
	double t0 = now_msecs();
	ask(am, "bob@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK(strstr(r.reason, "connect") != NULL);
	T_CHECK(now_msecs() - t0 < 1000);
	/* A second failure in a row is not logged again. */
	r.calls = 0;
	ask(am, "bob@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.status, MS_AUTHMASTER_FAIL);
	T_CHECK_INT(warn_lines, 1); /* the first refusal only */

	/* It comes back: the next request connects (after the back-off). */
	fake_start(NULL, false);
	r.calls = 0;
	ask(am, "bob@example.org", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.last.status, MS_AUTHMASTER_FOUND);
	T_CHECK_INT(r.last.uid, 1002);
	ms_authmaster_get_stats(am, &st);
	T_CHECK_INT(st.connect_errors, 2);
	am_free(&am);
	fake_am_stop(&fake);
}

int main(void)
{
	if (am_test_init() != 0)
		return 1;
	T_RUN(test_garbage);
	T_RUN(test_wrong_server);
	T_RUN(test_timeout_and_late);
	T_RUN(test_server_gone);
	return am_test_done();
}
