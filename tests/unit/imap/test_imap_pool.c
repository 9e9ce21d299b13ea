/*
 * Pool mechanics of ms_imap without an IMAP server: refused connections,
 * misbehaving peers (garbage, silence) served from this test's own
 * loop, the worker bound, the queue bound, freeing with queued and running
 * jobs, freeing from inside a callback, and sockets above FD_SETSIZE.
 */

#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "imap_peer.h"
#include "ms_imap.h"
#include "test.h"
#include "ut_log.h"
#include "ut_xalloc.h"

static uv_loop_t loop;

static struct cb_log {
	int calls;
	int errors;
	char last_error[256];
	struct ms_imap_pool **free_in_cb;
} cbs;

static void scan_cb(const struct ms_imap_scan_result *res, void *ctx)
{
	(void)ctx;
	cbs.calls++;
	if (res->error != 0) {
		cbs.errors++;
		snprintf(cbs.last_error, sizeof(cbs.last_error), "%s",
			 res->error_text != NULL ? res->error_text : "(null)");
	}
	if (cbs.free_in_cb != NULL)
		ms_imap_pool_free(cbs.free_in_cb);
}

static uint64_t now_msecs(void)
{
	return peer_now_msecs(&loop);
}

static void run_until(const int *counter, int want, uint64_t max_msecs)
{
	peer_run_until(&loop, counter, want, max_msecs);
}

static void run_for(uint64_t msecs)
{
	peer_run_for(&loop, msecs);
}

static struct ms_imap_pool *pool_new(uint16_t port, unsigned workers,
				     uint64_t timeout_msecs)
{
	struct ms_imap_settings set = {
	    .host = "127.0.0.1",
	    .port = port,
	    .master_user = "tidings",
	    .master_password = "secret",
	    .workers = workers,
	    .timeout_msecs = timeout_msecs,
	};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;

	T_CHECK(ms_imap_pool_new(&loop, &set, &pool, &error) == 0);
	T_CHECK(error == NULL);
	memset(&cbs, 0, sizeof(cbs));
	return pool;
}

static void pool_free(struct ms_imap_pool **pool)
{
	ms_imap_pool_free(pool);
	T_CHECK(*pool == NULL);
	/* The async handle's close callback frees the pool. */
	uv_run(&loop, UV_RUN_NOWAIT);
}

static uint16_t closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	T_CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_bad_settings(void)
{
	struct ms_imap_settings set = {.host = "127.0.0.1", .port = 143};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;

	T_CHECK_INT(ms_imap_pool_new(&loop, &set, &pool, &error), -1);
	T_CHECK(pool == NULL);
	T_CHECK(error != NULL && strstr(error, "master_user") != NULL);
	free(error);
}

static void test_refused(void)
{
	struct ms_imap_pool *pool = pool_new(closed_port(), 1, 2000);

	ms_imap_scan(pool, "alice@example.org", "INBOX", 0, 1, 0, 10, scan_cb,
		     NULL);
	T_CHECK_INT(ms_imap_pool_pending(pool), 1);
	run_until(&cbs.calls, 1, 3000);
	run_for(100);
	T_CHECK_INT(cbs.calls, 1);
	T_CHECK_INT(cbs.errors, 1);
	T_CHECK(strstr(cbs.last_error, "Connection refused") != NULL);
	T_CHECK_INT(ms_imap_pool_pending(pool), 0);
	pool_free(&pool);
}

static void test_bad_greeting(enum peer_mode mode, const char *want)
{
	struct peer p;
	struct ms_imap_pool *pool;

	peer_start(&loop, &p, mode, NULL);
	pool = pool_new(p.port, 1, 2000);
	ms_imap_scan(pool, "bob@example.org", "INBOX", 0, 0, 0, 0, scan_cb,
		     NULL);
	run_until(&cbs.calls, 1, 3000);
	run_for(50);
	T_CHECK_INT(cbs.calls, 1);
	T_CHECK_INT(cbs.errors, 1);
	T_CHECK(strstr(cbs.last_error, want) != NULL);
	if (strstr(cbs.last_error, want) == NULL)
		fprintf(stderr, "error was: %s\n", cbs.last_error);
	T_CHECK_INT(p.accepted, 1);
	pool_free(&pool);
	peer_stop(&p);
}

static void test_garbage_greeting(void)
{
	test_bad_greeting(PEER_GARBAGE, "greeting");
}

/* Five jobs against a silent peer with two workers: never more than two
   sessions at once, each job times out once. */
static void test_workers_bound(void)
{
	struct peer p;
	struct ms_imap_pool *pool;
	uint64_t start;

	peer_start(&loop, &p, PEER_SILENT, NULL);
	pool = pool_new(p.port, 2, 1000);
	start = now_msecs();
	for (int i = 0; i < 5; i++)
		ms_imap_scan(pool, "carol@example.org", "INBOX", 0, 0, 0, 0,
			     scan_cb, NULL);
	T_CHECK_INT(ms_imap_pool_pending(pool), 5);
	/* Sessions start in rounds of two, one round per timeout. */
	run_for(500);
	T_CHECK_INT(p.accepted, 2);
	T_CHECK_INT(cbs.calls, 0);
	run_for(1000);
	T_CHECK_INT(p.accepted, 4);
	T_CHECK_INT(cbs.calls, 2);
	run_until(&cbs.calls, 5, 10000);
	run_for(100);
	T_CHECK_INT(cbs.calls, 5);
	T_CHECK_INT(cbs.errors, 5);
	T_CHECK(strstr(cbs.last_error, "timed out") != NULL);
	T_CHECK_INT(p.accepted, 5);
	T_CHECK_INT(ms_imap_pool_pending(pool), 0);
	/* Three rounds of a one-second timeout. */
	T_CHECK(now_msecs() - start >= 2900);
	T_CHECK(now_msecs() - start < 4000);
	pool_free(&pool);
	peer_stop(&p);
}

/* Freeing with one job running and two queued: no callback at all, and
   the running session is cut short rather than waiting 10 s. */
static void test_free_with_queued(void)
{
	struct peer p;
	struct ms_imap_pool *pool;
	uint64_t start;

	peer_start(&loop, &p, PEER_SILENT, NULL);
	pool = pool_new(p.port, 1, 10000);
	for (int i = 0; i < 3; i++)
		ms_imap_scan(pool, "dave@example.org", "INBOX", 0, 0, 0, 0,
			     scan_cb, NULL);
	run_until(&p.accepted, 1, 3000);
	run_for(50);
	T_CHECK_INT(p.accepted, 1);
	start = now_msecs();
	pool_free(&pool);
	T_CHECK(now_msecs() - start < 1000);
	run_for(200);
	T_CHECK_INT(cbs.calls, 0);
	T_CHECK_INT(p.accepted, 1);
	T_CHECK_INT(p.open, 0);
	peer_stop(&p);
}

/* A callback that frees the pool: no other callback fires afterwards. */
static void test_free_in_callback(void)
{
	struct ms_imap_pool *pool = pool_new(closed_port(), 2, 2000);

	cbs.free_in_cb = &pool;
	for (int i = 0; i < 6; i++)
		ms_imap_scan(pool, "erin@example.org", "INBOX", 0, 0, 0, 0,
			     scan_cb, NULL);
	run_until(&cbs.calls, 1, 3000);
	run_for(200);
	T_CHECK_INT(cbs.calls, 1);
	T_CHECK(pool == NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
}

/* Fills every fd below FD_SETSIZE. */
static int fill_fds(int *fds, int max)
{
	int n = 0;

	while (n < max) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			break;
		fds[n++] = fd;
		if (fd >= FD_SETSIZE) {
			close(fds[--n]);
			break;
		}
	}
	return n;
}

/*
 * The session's socket lands above FD_SETSIZE: libetpan's own socket
 * driver would select() on it (a fortified abort); ours polls, so the job
 * runs to the end against a scripted peer.
 */
static void test_fd_above_setsize(void)
{
	struct peer p;
	struct ms_imap_pool *pool;
	struct rlimit rl;
	static int fds[FD_SETSIZE + 16];
	int n;

	T_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < FD_SETSIZE + 64) {
		rl.rlim_cur = FD_SETSIZE + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			printf("skip: cannot raise RLIMIT_NOFILE\n");
			return;
		}
	}
	peer_start(&loop, &p, PEER_SCRIPT, NULL);
	pool = pool_new(p.port, 1, 2000);
	n = fill_fds(fds, (int)UT_N_ELEMENTS(fds));
	T_CHECK(n >= FD_SETSIZE - 16);
	T_CHECK_INT(ms_imap_scan(pool, "frank@example.org", "INBOX", 0, 0, 0, 0,
				 scan_cb, NULL),
		    0);
	run_until(&cbs.calls, 1, 3000);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	run_for(50);
	T_CHECK_INT(cbs.calls, 1);
	T_CHECK_INT(cbs.errors, 0);
	T_CHECK_STR(cbs.last_error, "");
	T_CHECK_STR(p.commands, "LOGIN STATUS LOGOUT ");
	pool_free(&pool);
	peer_stop(&p);
}

/* queue_max 3: the fourth job is refused at once (its callback never
   fires), the three others report exactly once; then there is room. */
static void test_queue_bound(void)
{
	struct ms_imap_settings set = {
	    .host = "127.0.0.1",
	    .port = closed_port(),
	    .master_user = "tidings",
	    .master_password = "secret",
	    .workers = 1,
	    .timeout_msecs = 2000,
	    .queue_max = 3,
	};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;

	T_CHECK(ms_imap_pool_new(&loop, &set, &pool, &error) == 0);
	memset(&cbs, 0, sizeof(cbs));
	for (int i = 0; i < 3; i++)
		T_CHECK_INT(ms_imap_scan(pool, "hal@example.org", NULL, 0, 0, 0,
					 0, scan_cb, NULL),
			    0);
	T_CHECK_INT(ms_imap_scan(pool, "hal@example.org", NULL, 0, 0, 0, 0,
				 scan_cb, NULL),
		    -1);
	T_CHECK_INT(ms_imap_pool_pending(pool), 3);
	/* Finished jobs count until the loop reported them: still full. */
	usleep(300 * 1000);
	T_CHECK_INT(ms_imap_scan(pool, "hal@example.org", NULL, 0, 0, 0, 0,
				 scan_cb, NULL),
		    -1);
	run_until(&cbs.calls, 3, 5000);
	run_for(100);
	T_CHECK_INT(cbs.calls, 3);
	T_CHECK_INT(cbs.errors, 3);
	T_CHECK_INT(ms_imap_pool_pending(pool), 0);
	memset(&cbs, 0, sizeof(cbs));
	T_CHECK_INT(ms_imap_scan(pool, "hal@example.org", NULL, 0, 0, 0, 0,
				 scan_cb, NULL),
		    0);
	T_CHECK_INT(ms_imap_pool_pending(pool), 1);
	run_until(&cbs.calls, 1, 3000);
	run_for(50);
	T_CHECK_INT(cbs.calls, 1);
	T_CHECK_INT(ms_imap_pool_pending(pool), 0);
	pool_free(&pool);
}

static void quiet_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)line;
	(void)ctx;
}

int main(void)
{
	uv_loop_init(&loop);
	ut_log_set_hook(quiet_hook, NULL);
	T_RUN(test_bad_settings);
	T_RUN(test_refused);
	T_RUN(test_garbage_greeting);
	T_RUN(test_workers_bound);
	T_RUN(test_free_with_queued);
	T_RUN(test_free_in_callback);
	T_RUN(test_fd_above_setsize);
	T_RUN(test_queue_bound);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	return T_DONE();
}
