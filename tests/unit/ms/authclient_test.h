#ifndef AUTHCLIENT_TEST_H
#define AUTHCLIENT_TEST_H

/*
 * What test_authclient.c and test_authclient_faults.c share: one loop, a
 * fake auth-client (fake_authclient.c) with a table of users, a callback
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

#include "fake_authclient.h"
#include "ms_authclient.h"
#include "test.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[] = "/tmp/ms-ac-XXXXXX";
static char sock_path[128];
static uv_loop_t loop;

#define UTF8_PW "\xc3\xa9t\xc3\xa9 \xe2\x82\xac:\xf0\x9f\x94\x91"

static const struct fake_ac_user users[] = {
    {"bob@example.org", "right", FAKE_AC_CHECK},
    {"colon@example.org", "pa:ss:", FAKE_AC_CHECK},
    {"utf@example.org", UTF8_PW, FAKE_AC_CHECK},
    {"silent@example.org", "x", FAKE_AC_SILENT},
    {"other@example.org", "x", FAKE_AC_OTHER_USER},
    {"upper@example.org", "x", FAKE_AC_UPPER},
    {"nologin@example.org", "x", FAKE_AC_NOLOGIN},
    {"proxy@example.org", "x", FAKE_AC_PROXY},
    {"master@example.org", "x", FAKE_AC_MASTER},
    {"nouser@example.org", "x", FAKE_AC_NO_USER},
    {"temp@example.org", "x", FAKE_AC_TEMP},
    {"locked@example.org", "x", FAKE_AC_REASON},
    {"junk@example.org", "x", FAKE_AC_GARBAGE},
    {"cont@example.org", "x", FAKE_AC_CONT},
    {"wrongid@example.org", "x", FAKE_AC_WRONG_ID},
    {"hangup@example.org", "x", FAKE_AC_HANGUP},
    {"flaky@example.org", "f", FAKE_AC_HANGUP_ONCE},
    {"long@example.org", "x", FAKE_AC_LONG_LINE},
};

struct rec {
	int calls;
	int order; /* the global order of this callback */
	enum ms_authclient_status status;
	char reason[256];
	double at_msecs;
	/* Actions from inside the callback. */
	struct ms_authclient_request **cancel_other;
	struct ms_authclient **free_ac;
};

static int callbacks_so_far;

static double now_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void rec_cb(const struct ms_authclient_result *res, void *ctx)
{
	struct rec *r = ctx;
	r->calls++;
	r->order = ++callbacks_so_far;
	r->status = res->status;
	r->at_msecs = now_msecs();
	snprintf(r->reason, sizeof(r->reason), "%s",
		 res->reason != NULL ? res->reason : "");
	if (r->cancel_other != NULL)
		ms_authclient_cancel(r->cancel_other);
	if (r->free_ac != NULL)
		ms_authclient_free(r->free_ac);
}

#define RUN_UNTIL(expr, msecs)                                                 \
	do {                                                                   \
		double end_ = now_msecs() + (msecs);                           \
		while (!(expr) && now_msecs() < end_)                          \
			uv_run(&loop, UV_RUN_ONCE);                            \
	} while (0)

/* Runs the loop for msecs whatever happens. */
static void run_for(double msecs)
{
	double end = now_msecs() + msecs;
	while (now_msecs() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(2000);
	}
}

static int warn_lines, error_lines, info_lines;
static char last_line[512];

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == UT_LOG_WARN)
		warn_lines++;
	if (level == UT_LOG_ERROR)
		error_lines++;
	if (level == UT_LOG_INFO)
		info_lines++;
	snprintf(last_line, sizeof(last_line), "%s", line);
}

static struct fake_ac fake;

static void fake_start(const char *greeting, bool dribble,
		       unsigned fail_delay_msecs)
{
	memset(&fake, 0, sizeof(fake));
	fake.users = users;
	fake.n_users = N_ELEMENTS(users);
	fake.greeting = greeting;
	fake.dribble = dribble;
	fake.fail_delay_msecs = fail_delay_msecs;
	fake_ac_start(&fake, sock_path);
}

static struct fake_ac_counts counts(void)
{
	struct fake_ac_counts c;
	fake_ac_get(&fake, &c);
	return c;
}

static struct ms_authclient *ac_new(const struct ms_authclient_settings *set)
{
	struct ms_authclient *ac = NULL;
	char *error = NULL;
	T_CHECK_INT(ms_authclient_new(&loop, sock_path, set, &ac, &error), 0);
	free(error);
	return ac;
}

static struct ms_authclient_request *ask_len(struct ms_authclient *ac,
					     const char *user, const char *pw,
					     size_t pwlen, struct rec *r)
{
	struct ms_authclient_request *req = NULL;
	char *error = NULL;
	T_CHECK_INT(
	    ms_authclient_auth(ac, user, pw, pwlen, rec_cb, r, &req, &error),
	    0);
	T_CHECK(req != NULL && error == NULL);
	free(error);
	return req;
}

static struct ms_authclient_request *
ask(struct ms_authclient *ac, const char *user, const char *pw, struct rec *r)
{
	return ask_len(ac, user, pw, strlen(pw), r);
}

static void ac_free(struct ms_authclient **ac)
{
	ms_authclient_free(ac);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void suite_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(sock_path, sizeof(sock_path), "%s/auth-client", tmpdir);
	uv_loop_init(&loop);
	ut_log_set_hook(log_hook, NULL);
}

static int suite_teardown(void)
{
	ut_log_set_hook(NULL, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	rmdir(tmpdir);
	return T_DONE();
}

#endif
