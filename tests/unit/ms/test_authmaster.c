/*
 * ms_authmaster against a fake auth-master socket (fake_authmaster.c):
 * answers (FOUND, NOTFOUND, FAIL, no uid), answers written a byte at a
 * time, the cache (hits counted, TTLs, FAIL never cached), one lookup for
 * many requests, garbage, a wrong server (auth-client, wrong version),
 * over-long and unsolicited lines, timeouts and late answers, a server
 * that hangs up or is gone, bounds (in flight, requests, names), cancel,
 * and freeing with requests outstanding (also from inside a callback).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_authmaster.h"
#include "ms_authmaster.h"
#include "test.h"
#include "ut_log.h"
#include "ut_xalloc.h"

static char tmpdir[] = "/tmp/ms-am-XXXXXX";
static char sock_path[128];
static uv_loop_t loop;
static uv_timer_t tick;

static const struct fake_am_user users[] = {
    {"alice@example.org", FAKE_FOUND, 1001, 8},
    {"bob@example.org", FAKE_FOUND, 1002, 8},
    {"nouid@example.org", FAKE_FOUND_NOUID, 0, 0},
    {"broken@example.org", FAKE_FAIL, 0, 0},
    {"silent@example.org", FAKE_SILENT, 0, 0},
    {"junk@example.org", FAKE_GARBAGE, 0, 0},
    {"hangup@example.org", FAKE_HANGUP, 0, 0},
    {"flaky@example.org", FAKE_HANGUP_ONCE, 1003, 8},
    {"h1", FAKE_HOLD, 2001, 8},
    {"h2", FAKE_HOLD, 2002, 8},
    {"h3", FAKE_HOLD, 2003, 8},
    {"h4", FAKE_HOLD, 2004, 8},
    {"h5", FAKE_HOLD, 2005, 8},
};

struct rec {
	int calls;
	struct ms_authmaster_result last;
	char reason[256];
	/* Actions from inside the callback. */
	struct ms_authmaster_request **cancel_other;
	struct ms_authmaster **free_am;
};

static void rec_cb(const struct ms_authmaster_result *res, void *ctx)
{
	struct rec *r = ctx;
	r->calls++;
	r->last = *res;
	snprintf(r->reason, sizeof(r->reason), "%s",
		 res->reason != NULL ? res->reason : "");
	r->last.reason = NULL;
	if (r->cancel_other != NULL)
		ms_authmaster_cancel(r->cancel_other);
	if (r->free_am != NULL)
		ms_authmaster_free(r->free_am);
}

static double now_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

#define RUN_UNTIL(expr, msecs)                                                 \
	do {                                                                   \
		double end_ = now_msecs() + (msecs);                           \
		while (!(expr) && now_msecs() < end_)                          \
			uv_run(&loop, UV_RUN_ONCE);                            \
	} while (0)

static int warn_lines, error_lines;
static char last_line[512];

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == UT_LOG_WARN)
		warn_lines++;
	if (level == UT_LOG_ERROR)
		error_lines++;
	snprintf(last_line, sizeof(last_line), "%s", line);
}

static struct fake_am fake;

static void fake_start(const char *greeting, bool dribble)
{
	memset(&fake, 0, sizeof(fake));
	fake.users = users;
	fake.n_users = UT_N_ELEMENTS(users);
	fake.greeting = greeting;
	fake.dribble = dribble;
	fake_am_start(&fake, sock_path);
}

static struct ms_authmaster *am_new(const struct ms_authmaster_settings *set)
{
	struct ms_authmaster *am = NULL;
	char *error = NULL;
	T_CHECK_INT(ms_authmaster_new(&loop, sock_path, set, &am, &error), 0);
	free(error);
	return am;
}

/* A request that must be queued (not a cache hit). */
static struct ms_authmaster_request *ask(struct ms_authmaster *am,
					 const char *user, struct rec *r)
{
	struct ms_authmaster_request *req = NULL;
	struct ms_authmaster_result res;
	char *error = NULL;
	T_CHECK_INT(ms_authmaster_user(am, user, rec_cb, r, &req, &res, &error),
		    0);
	T_CHECK(req != NULL && error == NULL);
	free(error);
	return req;
}

static void am_free(struct ms_authmaster **am)
{
	ms_authmaster_free(am);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static struct fake_am_counts counts(void)
{
	struct fake_am_counts c;
	fake_am_get(&fake, &c);
	return c;
}

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
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/auth-userdb", tmpdir);
	signal(SIGPIPE, SIG_IGN); /* as tidingsd does */
	uv_loop_init(&loop);
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	ut_log_set_hook(log_hook, NULL);
	T_RUN(test_answers);
	T_RUN(test_cache);
	T_RUN(test_cache_size);
	T_RUN(test_coalesce_and_dribble);
	T_RUN(test_garbage);
	T_RUN(test_wrong_server);
	T_RUN(test_timeout_and_late);
	T_RUN(test_server_gone);
	T_RUN(test_bounds);
	T_RUN(test_cancel_and_free);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Every handle was released: nothing leaked into the loop. */
	T_CHECK_INT(uv_loop_close(&loop), 0);
	ut_log_set_hook(NULL, NULL);
	rmdir(tmpdir);
	return T_DONE();
}
