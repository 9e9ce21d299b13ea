/*
 * ms_authclient against a fake auth-client socket (fake_authclient.c):
 * OK and FAIL (held back like Dovecot's auth_failure_delay), answers out of
 * order, passwords with ':', non-ASCII and large ones arriving exactly,
 * answers written a byte at a time, the OKs that do not count (another
 * user, nologin, proxy, master login, no user), temporary failures,
 * bounds, cancel, and freeing (also from inside a callback). The faults
 * are in test_authclient_faults.c.
 */
#include "authclient_test.h"

static void test_ok_and_refused(void)
{
	fake_start(NULL, false, 300);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec ok = {0}, bad = {0}, unknown = {0};
	double t0 = now_msecs();
	ask(ac, "bob@example.org", "right", &ok);
	ask(ac, "bob@example.org", "wrong", &bad);
	ask(ac, "nobody@example.org", "x", &unknown);
	/* No callback from inside the call. */
	T_CHECK_INT(ok.calls + bad.calls + unknown.calls, 0);
	RUN_UNTIL(ok.calls && bad.calls && unknown.calls, 5000);
	T_CHECK_INT(ok.calls, 1);
	T_CHECK_INT(ok.status, MS_AUTHCLIENT_OK);
	T_CHECK_STR(ok.reason, "");
	T_CHECK(ok.at_msecs - t0 < 250);
	T_CHECK_INT(bad.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_STR(bad.reason, "password mismatch or unknown user");
	T_CHECK(bad.at_msecs - t0 >= 290);
	T_CHECK_INT(unknown.status, MS_AUTHCLIENT_REFUSED);

	struct fake_ac_counts c = counts();
	T_CHECK_INT(c.conns, 1);
	T_CHECK_INT(c.version_lines, 1);
	T_CHECK_INT(c.cpid_lines, 1);
	T_CHECK_INT(c.auths, 3);
	T_CHECK_INT(c.bad_lines, 0); /* every AUTH had no-penalty */
	T_CHECK_STR(c.last_service, "xmpp");
	struct ms_authclient_stats st;
	ms_authclient_get_stats(ac, &st);
	T_CHECK_INT(st.requests, 3);
	T_CHECK_INT(st.sent, 3);
	T_CHECK_INT(st.ok, 1);
	T_CHECK_INT(st.refused, 2);
	T_CHECK_INT(st.connects, 1);
	T_CHECK_INT(st.protocol_errors, 0);

	/* The connection stays: the next request uses it. */
	ok.calls = 0;
	ask(ac, "bob@example.org", "right", &ok);
	RUN_UNTIL(ok.calls, 5000);
	T_CHECK_INT(ok.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(counts().conns, 1);
	ac_free(&ac);
	T_CHECK(ac == NULL);
	fake_ac_stop(&fake);
}

static void test_out_of_order(void)
{
	fake_start(NULL, false, 400);
	struct ms_authclient_settings set = {.service = "tidings"};
	struct ms_authclient *ac = ac_new(&set);
	struct rec wrong = {0}, right = {0}, colon = {0};
	callbacks_so_far = 0;
	ask(ac, "bob@example.org", "wrong", &wrong);
	ask(ac, "bob@example.org", "right", &right);
	ask(ac, "colon@example.org", "pa:ss:", &colon);
	RUN_UNTIL(wrong.calls && right.calls && colon.calls, 5000);
	/* The FAIL is held back: both OKs overtake it. */
	T_CHECK_INT(wrong.order, 3);
	T_CHECK(right.order < 3 && colon.order < 3);
	T_CHECK_INT(right.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(colon.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(wrong.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_STR(counts().last_service, "tidings");
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_passwords(void)
{
	fake_start(NULL, false, 50);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec r = {0};

	ask(ac, "colon@example.org", "pa:ss:", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.status, MS_AUTHCLIENT_OK);
	struct fake_ac_counts c = counts();
	T_CHECK_STR(c.last_user, "colon@example.org");
	T_CHECK_STR(c.last_password, "pa:ss:");

	r.calls = 0;
	ask(ac, "utf@example.org", UTF8_PW, &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.status, MS_AUTHCLIENT_OK);
	T_CHECK_STR(counts().last_password, UTF8_PW);

	/* Tabs, newlines and \001 travel inside base64, untouched. */
	r.calls = 0;
	ask(ac, "utf@example.org", "a\tb\nc\001d\r", &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_STR(counts().last_password, "a\tb\nc\001d\r");

	/* A long password (still one line under 16 KiB). */
	static char big[8000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = "ab:\xc3\xa9"[i % 5];
	r.calls = 0;
	ask_len(ac, "bob@example.org", big, sizeof(big), &r);
	RUN_UNTIL(r.calls, 5000);
	T_CHECK_INT(r.status, MS_AUTHCLIENT_REFUSED);
	c = counts();
	T_CHECK_INT(c.last_password_len, sizeof(big));
	T_CHECK(memcmp(c.last_password, big, sizeof(big)) == 0);
	T_CHECK_INT(c.bad_lines, 0);

	/* Refused at once: a NUL in the password, an unsendable user, a
	   password too long for one line. Nothing reaches the server. */
	struct ms_authclient_request *req = (void *)1;
	char *error = NULL;
	int before = counts().auths;
	T_CHECK_INT(ms_authclient_auth(ac, "bob@example.org", "a\0b", 3, rec_cb,
				       &r, &req, &error),
		    -1);
	T_CHECK(req == NULL && error != NULL);
	T_CHECK(strstr(error, "NUL") != NULL);
	free(error);
	T_CHECK_INT(
	    ms_authclient_auth(ac, "bo\tb", "x", 1, rec_cb, &r, &req, &error),
	    -1);
	free(error);
	T_CHECK_INT(
	    ms_authclient_auth(ac, "", "x", 1, rec_cb, &r, &req, &error), -1);
	free(error);
	static char huge[13000];
	memset(huge, 'h', sizeof(huge));
	T_CHECK_INT(ms_authclient_auth(ac, "bob@example.org", huge,
				       sizeof(huge), rec_cb, &r, &req, &error),
		    -1);
	free(error);
	run_for(50);
	T_CHECK_INT(counts().auths, before);
	struct ms_authclient_stats st;
	ms_authclient_get_stats(ac, &st);
	T_CHECK_INT(st.rejected, 4);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_ok_variants(void)
{
	fake_start(NULL, false, 10);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec other = {0}, upper = {0}, nologin = {0}, proxy = {0},
		   master = {0}, nouser = {0}, temp = {0}, locked = {0};
	ask(ac, "other@example.org", "x", &other);
	ask(ac, "upper@example.org", "x", &upper);
	ask(ac, "nologin@example.org", "x", &nologin);
	ask(ac, "proxy@example.org", "x", &proxy);
	ask(ac, "master@example.org", "x", &master);
	ask(ac, "nouser@example.org", "x", &nouser);
	ask(ac, "temp@example.org", "x", &temp);
	ask(ac, "locked@example.org", "x", &locked);
	RUN_UNTIL(other.calls && upper.calls && nologin.calls && proxy.calls &&
		      master.calls && nouser.calls && temp.calls &&
		      locked.calls,
		  5000);
	T_CHECK_INT(other.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_STR(other.reason, "Dovecot accepted the password for another "
				  "user (someone@else)");
	/* Dovecot may change the case: still this user. */
	T_CHECK_INT(upper.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(nologin.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK(strstr(nologin.reason, "nologin") != NULL);
	T_CHECK_INT(proxy.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK(strstr(proxy.reason, "proxy") != NULL);
	T_CHECK_INT(master.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK(strstr(master.reason, "master user") != NULL);
	T_CHECK_INT(nouser.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_INT(temp.status, MS_AUTHCLIENT_ERROR);
	T_CHECK_STR(temp.reason, "temporary failure: backend down");
	T_CHECK_INT(locked.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_STR(locked.reason, "Account locked");
	struct ms_authclient_stats st;
	ms_authclient_get_stats(ac, &st);
	T_CHECK_INT(st.ok, 1);
	T_CHECK_INT(st.refused, 6);
	T_CHECK_INT(st.errors, 1);
	T_CHECK_INT(st.protocol_errors, 0);
	T_CHECK_INT(counts().conns, 1);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_dribble(void)
{
	/* Greeting and answers a byte at a time: partial lines. */
	fake_start(NULL, true, 10);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec ok = {0}, bad = {0};
	ask(ac, "bob@example.org", "right", &ok);
	ask(ac, "bob@example.org", "nope", &bad);
	RUN_UNTIL(ok.calls && bad.calls, 5000);
	T_CHECK_INT(ok.status, MS_AUTHCLIENT_OK);
	T_CHECK_INT(bad.status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_INT(counts().conns, 1);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_bounds(void)
{
	fake_start(NULL, false, 300);
	struct ms_authclient_settings set = {.max_in_flight = 2,
					     .max_requests = 5};
	struct ms_authclient *ac = ac_new(&set);
	struct rec r[6] = {{0}};
	for (int i = 0; i < 5; i++)
		ask(ac, "bob@example.org", "wrong", &r[i]);
	struct ms_authclient_request *req = (void *)1;
	char *error = NULL;
	T_CHECK_INT(ms_authclient_auth(ac, "bob@example.org", "x", 1, rec_cb,
				       &r[5], &req, &error),
		    -1);
	T_CHECK(req == NULL && strstr(error, "too many") != NULL);
	free(error);
	/* Two on the wire, the rest waits for their answers. */
	run_for(150);
	T_CHECK_INT(counts().auths, 2);
	RUN_UNTIL(r[0].calls && r[1].calls && r[2].calls && r[3].calls &&
		      r[4].calls,
		  5000);
	for (int i = 0; i < 5; i++)
		T_CHECK_INT(r[i].status, MS_AUTHCLIENT_REFUSED);
	T_CHECK_INT(counts().auths, 5);
	/* Three rounds of held-back FAILs. */
	T_CHECK(r[4].at_msecs - r[0].at_msecs >= 550);
	ac_free(&ac);
	fake_ac_stop(&fake);
}

static void test_cancel_and_free(void)
{
	fake_start(NULL, false, 200);
	struct ms_authclient *ac = ac_new(NULL);
	struct rec a = {0}, b = {0}, c = {0};

	/* Cancelled while on the wire: no callback; its late answer is
	   counted and ignored. */
	struct ms_authclient_request *ra =
	    ask(ac, "bob@example.org", "wrong", &a);
	ask(ac, "bob@example.org", "right", &b);
	RUN_UNTIL(counts().auths == 2, 5000);
	ms_authclient_cancel(&ra);
	T_CHECK(ra == NULL);
	ms_authclient_cancel(&ra); /* NULL: no-op */
	RUN_UNTIL(b.calls, 5000);
	run_for(350);
	T_CHECK_INT(a.calls, 0);
	T_CHECK_INT(b.status, MS_AUTHCLIENT_OK);
	struct ms_authclient_stats st;
	ms_authclient_get_stats(ac, &st);
	T_CHECK_INT(st.late, 1);
	T_CHECK_INT(st.protocol_errors, 0);

	/* A callback cancels another request that is still waiting. */
	b.calls = 0;
	ask(ac, "bob@example.org", "right", &b);
	struct ms_authclient_request *rc =
	    ask(ac, "bob@example.org", "wrong", &c);
	b.cancel_other = &rc;
	RUN_UNTIL(b.calls, 5000);
	run_for(300);
	T_CHECK_INT(c.calls, 0);
	T_CHECK(rc == NULL);
	b.cancel_other = NULL;

	/* Freed with requests outstanding: no callbacks. */
	a.calls = b.calls = 0;
	ask(ac, "bob@example.org", "right", &a);
	ask(ac, "silent@example.org", "x", &b);
	ac_free(&ac);
	run_for(100);
	T_CHECK_INT(a.calls + b.calls, 0);

	/* Freed from inside a callback: the others are dropped. */
	ac = ac_new(NULL);
	a.calls = b.calls = 0;
	ask(ac, "bob@example.org", "right", &a);
	ask(ac, "bob@example.org", "wrong", &b);
	a.free_ac = &ac;
	RUN_UNTIL(a.calls, 5000);
	T_CHECK(ac == NULL);
	run_for(300);
	T_CHECK_INT(a.calls, 1);
	T_CHECK_INT(b.calls, 0);
	fake_ac_stop(&fake);
}

int main(void)
{
	suite_setup();
	T_RUN(test_ok_and_refused);
	T_RUN(test_out_of_order);
	T_RUN(test_passwords);
	T_RUN(test_ok_variants);
	T_RUN(test_dribble);
	T_RUN(test_bounds);
	T_RUN(test_cancel_and_free);
	return suite_teardown();
}
