/*
 * ms_authmaster against a fake auth-master socket (fake_authmaster.c):
 * answers (FOUND, NOTFOUND, FAIL, no uid), answers written a byte at a
 * time, the cache (hits counted, TTLs, size, FAIL never cached), one
 * lookup for many requests, bounds (in flight, requests, names), cancel,
 * and freeing with requests outstanding (also from inside a callback).
 * The faults are in test_authmaster_faults.c.
 */
#include "authmaster_test.h"

static void test_answers(void)
{
	fake_start(NULL, false);
	struct ms_authmaster *am = am_new(NULL);
	struct rec a = {0}, n = {0}, f = {0}, u = {0};
	ask(am, "alice@example.org", &a);
	ask(am, "nobody@example.org", &n);
	ask(am, "broken@example.org", &f);
	ask(am, "nouid@example.org", &u);
	/* No callback from inside the call. */
	T_CHECK_INT(a.calls + n.calls + f.calls + u.calls, 0);
	RUN_UNTIL(a.calls && n.calls && f.calls && u.calls, 5000);
	T_CHECK_INT(a.calls, 1);
	T_CHECK_INT(a.last.status, MS_AUTHMASTER_FOUND);
	T_CHECK(a.last.has_uid && a.last.has_gid);
	T_CHECK_INT(a.last.uid, 1001);
	T_CHECK_INT(a.last.gid, 8);
	T_CHECK_INT(n.last.status, MS_AUTHMASTER_NOTFOUND);
	T_CHECK_INT(f.last.status, MS_AUTHMASTER_FAIL);
	/* Dovecot's reason, unescaped (TAB) and cleaned to one line. */
	T_CHECK_STR(f.reason, "userdb lookup failed: backend down");
	T_CHECK_INT(u.last.status, MS_AUTHMASTER_FOUND);
	T_CHECK(!u.last.has_uid && !u.last.has_gid);

	struct fake_am_counts c = counts();
	T_CHECK_INT(c.conns, 1);
	T_CHECK_INT(c.version_lines, 1);
	T_CHECK_INT(c.requests, 4);
	T_CHECK_INT(c.bad_lines, 0);
	T_CHECK_STR(c.last_service, "tidings");
	struct ms_authmaster_stats st;
	ms_authmaster_get_stats(am, &st);
	T_CHECK_INT(st.found, 2);
	T_CHECK_INT(st.notfound, 1);
	T_CHECK_INT(st.failed, 1);
	T_CHECK_INT(st.lookups, 4);
	T_CHECK_INT(st.connects, 1);
	T_CHECK_INT(st.protocol_errors, 0);
	am_free(&am);
	T_CHECK(am == NULL);
	fake_am_stop(&fake);
}

static void test_cache(void)
{
	fake_start(NULL, false);
	struct ms_authmaster_settings set = {.positive_ttl_msecs = 300,
					     .negative_ttl_msecs = 150};
	struct ms_authmaster *am = am_new(&set);
	struct rec a = {0}, n = {0}, f = {0};
	ask(am, "alice@example.org", &a);
	ask(am, "nobody@example.org", &n);
	ask(am, "broken@example.org", &f);
	RUN_UNTIL(a.calls && n.calls && f.calls, 5000);
	T_CHECK_INT(counts().requests, 3);

	/* A flood for one mailbox: answered from the cache, no lookup. */
	struct ms_authmaster_request *req;
	struct ms_authmaster_result res;
	char *error = NULL;
	for (int i = 0; i < 1000; i++) {
		T_CHECK_INT(ms_authmaster_user(am, "alice@example.org", rec_cb,
					       &a, &req, &res, &error),
			    1);
		T_CHECK(req == NULL && error == NULL);
	}
	T_CHECK_INT(res.status, MS_AUTHMASTER_FOUND);
	T_CHECK_INT(res.uid, 1001);
	T_CHECK(res.reason == NULL);
	T_CHECK_INT(ms_authmaster_user(am, "nobody@example.org", rec_cb, &n,
				       &req, &res, &error),
		    1);
	T_CHECK_INT(res.status, MS_AUTHMASTER_NOTFOUND);
	/* FAIL is never cached. */
	f.calls = 0;
	ask(am, "broken@example.org", &f);
	RUN_UNTIL(f.calls, 5000);
	struct ms_authmaster_stats st;
	ms_authmaster_get_stats(am, &st);
	T_CHECK_INT(st.cache_hits, 1001);
	T_CHECK_INT(st.lookups, 4);
	T_CHECK_INT(counts().requests, 4);
	T_CHECK_INT(a.calls, 1);

	/* The negative entry expires first, then the positive one. */
	usleep(200 * 1000);
	uv_update_time(&loop);
	T_CHECK_INT(ms_authmaster_user(am, "alice@example.org", rec_cb, &a,
				       &req, &res, &error),
		    1);
	n.calls = 0;
	ask(am, "nobody@example.org", &n);
	RUN_UNTIL(n.calls, 5000);
	T_CHECK_INT(counts().requests, 5);
	usleep(200 * 1000);
	uv_update_time(&loop);
	a.calls = 0;
	ask(am, "alice@example.org", &a);
	RUN_UNTIL(a.calls, 5000);
	T_CHECK_INT(counts().requests, 6);
	am_free(&am);

	/* With no_cache every request asks. */
	set.no_cache = true;
	am = am_new(&set);
	a.calls = 0;
	ask(am, "alice@example.org", &a);
	RUN_UNTIL(a.calls, 5000);
	ask(am, "alice@example.org", &a);
	RUN_UNTIL(a.calls == 2, 5000);
	T_CHECK_INT(counts().requests, 8);
	am_free(&am);
	fake_am_stop(&fake);
}

static void test_cache_size(void)
{
	fake_start(NULL, false);
	struct ms_authmaster_settings set = {.cache_size = 2};
	struct ms_authmaster *am = am_new(&set);
	struct rec r = {0};
	const char *names[] = {"alice@example.org", "bob@example.org",
			       "nobody@example.org"};
	for (int i = 0; i < 3; i++) {
		ask(am, names[i], &r);
		RUN_UNTIL(r.calls == i + 1, 5000);
	}
	/* alice was the least recently used: gone; bob and nobody stay. */
	struct ms_authmaster_request *req;
	struct ms_authmaster_result res;
	char *error = NULL;
	T_CHECK_INT(
	    ms_authmaster_user(am, names[1], rec_cb, &r, &req, &res, &error),
	    1);
	T_CHECK_INT(
	    ms_authmaster_user(am, names[2], rec_cb, &r, &req, &res, &error),
	    1);
	ask(am, names[0], &r);
	RUN_UNTIL(r.calls == 4, 5000);
	T_CHECK_INT(counts().requests, 4);
	am_free(&am);
	fake_am_stop(&fake);
}

static void test_coalesce_and_dribble(void)
{
	/* Answers arrive one byte per write: partial lines everywhere. */
	fake_start(NULL, true);
	struct ms_authmaster *am = am_new(NULL);
	struct rec r[100];
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 100; i++)
		ask(am, "bob@example.org", &r[i]);
	struct rec n = {0};
	ask(am, "nobody@example.org", &n);
	int done = 0;
	double end = now_msecs() + 10000;
	while (done < 100 && now_msecs() < end) {
		uv_run(&loop, UV_RUN_ONCE);
		done = 0;
		for (int i = 0; i < 100; i++)
			done += r[i].calls;
	}
	RUN_UNTIL(n.calls, 5000);
	for (int i = 0; i < 100; i++) {
		T_CHECK_INT(r[i].calls, 1);
		T_CHECK_INT(r[i].last.uid, 1002);
	}
	T_CHECK_INT(n.last.status, MS_AUTHMASTER_NOTFOUND);
	struct ms_authmaster_stats st;
	ms_authmaster_get_stats(am, &st);
	T_CHECK_INT(st.coalesced, 99);
	T_CHECK_INT(st.lookups, 2);
	T_CHECK_INT(counts().requests, 2);
	am_free(&am);
	fake_am_stop(&fake);
}

static void test_bounds(void)
{
	fake_start(NULL, false);
	struct ms_authmaster_settings set = {.max_in_flight = 2,
					     .max_requests = 5};
	struct ms_authmaster *am = am_new(&set);
	struct rec r[5];
	memset(r, 0, sizeof(r));
	const char *held[] = {"h1", "h2", "h3", "h4", "h5"};
	for (int i = 0; i < 5; i++)
		ask(am, held[i], &r[i]);
	RUN_UNTIL(counts().held == 2, 5000);
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(counts().requests, 2);

	/* Full: a sixth request is refused at once. */
	struct ms_authmaster_request *req = (void *)1;
	struct ms_authmaster_result res;
	char *error = NULL;
	T_CHECK_INT(ms_authmaster_user(am, "alice@example.org", rec_cb, &r[0],
				       &req, &res, &error),
		    -1);
	T_CHECK(req == NULL && error != NULL &&
		strstr(error, "too many") != NULL);
	free(error);
	int total = 0;
	double end = now_msecs() + 10000;
	while (total < 5 && now_msecs() < end) {
		fake_am_release(&fake);
		uv_run(&loop, UV_RUN_ONCE);
		total = 0;
		for (int i = 0; i < 5; i++)
			total += r[i].calls;
	}
	for (int i = 0; i < 5; i++) {
		T_CHECK_INT(r[i].calls, 1);
		T_CHECK_INT(r[i].last.uid, 2001 + i);
	}
	T_CHECK(counts().max_held <= 2);
	T_CHECK_INT(counts().requests, 5);
	struct ms_authmaster_stats st;
	ms_authmaster_get_stats(am, &st);
	T_CHECK_INT(st.refused, 1);

	/* Names that cannot be sent. */
	char longname[600];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const char *bad[] = {"", "a\tb", "a\nb", "a\rb", "a\001b", longname};
	for (size_t i = 0; i < UT_N_ELEMENTS(bad); i++) {
		error = NULL;
		T_CHECK_INT(ms_authmaster_user(am, bad[i], rec_cb, &r[0], &req,
					       &res, &error),
			    -1);
		T_CHECK(error != NULL);
		free(error);
	}
	T_CHECK_INT(counts().requests, 5);
	am_free(&am);

	/* Settings that cannot work are refused. */
	error = NULL;
	T_CHECK_INT(
	    ms_authmaster_new(&loop, "relative/path", NULL, &am, &error), -1);
	T_CHECK(am == NULL && error != NULL);
	free(error);
	fake_am_stop(&fake);
}

static void test_cancel_and_free(void)
{
	fake_start(NULL, false);
	struct ms_authmaster *am = am_new(NULL);
	struct rec a = {0}, b = {0}, c = {0};

	/* Cancelled: never called; the other request on the lookup is. */
	struct ms_authmaster_request *ra = ask(am, "h1", &a);
	ask(am, "h1", &b);
	ms_authmaster_cancel(&ra);
	T_CHECK(ra == NULL);
	ms_authmaster_cancel(&ra); /* NULL: no-op */
	RUN_UNTIL(counts().held == 1, 5000);
	fake_am_release(&fake);
	RUN_UNTIL(b.calls, 5000);
	T_CHECK_INT(a.calls, 0);
	T_CHECK_INT(b.calls, 1);

	/* Cancelled from inside another request's callback. */
	struct rec d = {0}, e = {0};
	struct ms_authmaster_request *re = NULL;
	d.cancel_other = &re;
	ask(am, "h2", &d);
	re = ask(am, "h2", &e);
	RUN_UNTIL(counts().held == 1, 5000);
	fake_am_release(&fake);
	RUN_UNTIL(d.calls, 5000);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(d.calls, 1);
	T_CHECK_INT(e.calls, 0);
	T_CHECK(re == NULL);

	/* Freed from inside a callback: the rest is never called. */
	struct rec f = {0}, g = {0};
	f.free_am = &am;
	ask(am, "h3", &f);
	ask(am, "h3", &g);
	ask(am, "silent@example.org", &c);
	RUN_UNTIL(counts().held == 1, 5000);
	fake_am_release(&fake);
	RUN_UNTIL(f.calls, 5000);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK(am == NULL);
	T_CHECK_INT(f.calls, 1);
	T_CHECK_INT(g.calls + c.calls, 0);

	/* Freed with requests queued, sent and connecting. */
	am = am_new(NULL);
	ask(am, "silent@example.org", &c);
	ask(am, "alice@example.org", &c);
	am_free(&am);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(c.calls, 0);
	int before = counts().requests;
	am = am_new(NULL);
	ask(am, "silent@example.org", &c);
	RUN_UNTIL(counts().requests == before + 1, 5000);
	T_CHECK_INT(counts().requests, before + 1);
	am_free(&am);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(c.calls, 0);
	fake_am_stop(&fake);
}

int main(void)
{
	if (am_test_init() != 0)
		return 1;
	T_RUN(test_answers);
	T_RUN(test_cache);
	T_RUN(test_cache_size);
	T_RUN(test_coalesce_and_dribble);
	T_RUN(test_bounds);
	T_RUN(test_cancel_and_free);
	return am_test_done();
}
