#ifndef AUTHMASTER_TEST_H
#define AUTHMASTER_TEST_H

/*
 * What test_authmaster.c and test_authmaster_faults.c share: one loop, a
 * fake auth-master (fake_authmaster.c) with a table of users, a callback
 * that records answers (and can cancel or free from inside), and helpers
 * to run the loop until something happened. Static: each test program
 * includes it once.
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

/* Sets up the loop, the log hook and the socket path; returns 0 or 1. */
static int am_test_init(void)
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
	return 0;
}

/* Checks that every handle was released, cleans up; returns T_DONE(). */
static int am_test_done(void)
{
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	ut_log_set_hook(NULL, NULL);
	rmdir(tmpdir);
	return T_DONE();
}

#endif
