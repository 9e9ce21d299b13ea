/*
 * Pool mechanics of ms_imap without an IMAP server: refused connections,
 * misbehaving peers (garbage, silence) served from this test's own
 * loop, the worker bound, freeing with queued and running jobs, freeing
 * from inside a callback, and sockets that select() cannot take.
 */

#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "ut_log.h"
#include "ms_imap.h"
#include "test.h"
#include "ut_xalloc.h"

enum peer_mode {
	PEER_SILENT,  /* accepts and never says a word */
	PEER_GARBAGE, /* greets with a line that is not IMAP */
};

struct peer {
	uv_tcp_t listener;
	enum peer_mode mode;
	uint16_t port;
	int accepted;
	int open;
};

struct conn {
	uv_tcp_t tcp;
	struct peer *peer;
};

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

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->peer->open--;
	free(c);
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	static char scratch[4096];

	(void)h;
	(void)size;
	*buf = uv_buf_init(scratch, sizeof(scratch));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n < 0)
		uv_close((uv_handle_t *)s, conn_close_cb);
}

static void write_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct peer *p = server->data;
	struct conn *c;
	static const char garbage[] = "HTTP/1.0 200 OK\r\n";

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->peer = p;
	c->tcp.data = c;
	T_CHECK(uv_tcp_init(&loop, &c->tcp) == 0);
	T_CHECK(uv_accept(server, (uv_stream_t *)&c->tcp) == 0);
	p->accepted++;
	p->open++;
	if (p->mode != PEER_SILENT) {
		uv_write_t *req = xcalloc(1, sizeof(*req));
		uv_buf_t b =
		    uv_buf_init((char *)garbage, (unsigned)strlen(garbage));

		uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void peer_start(struct peer *p, enum peer_mode mode)
{
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	memset(p, 0, sizeof(*p));
	p->mode = mode;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	T_CHECK(uv_tcp_init(&loop, &p->listener) == 0);
	p->listener.data = p;
	T_CHECK(uv_tcp_bind(&p->listener, (struct sockaddr *)&sa, 0) == 0);
	T_CHECK(uv_listen((uv_stream_t *)&p->listener, 64, connection_cb) == 0);
	uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len);
	p->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h) && h->type == UV_TCP)
		uv_close(h, h->data == NULL ? NULL : conn_close_cb);
}

/* Closes the peer and everything it accepted; runs the loop dry. */
static void peer_stop(struct peer *p)
{
	p->listener.data = NULL;
	uv_walk(&loop, close_walk_cb, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
}

static uint64_t now_msecs(void)
{
	uv_update_time(&loop);
	return uv_now(&loop);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until *counter >= want or max_msecs passed. */
static void run_until(const int *counter, int want, uint64_t max_msecs)
{
	uv_timer_t tick;
	uint64_t end = now_msecs() + max_msecs;

	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (*counter < want && now_msecs() < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void run_for(uint64_t msecs)
{
	int never = 0;

	run_until(&never, 1, msecs);
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

	peer_start(&p, mode);
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

/* A BYE greeting is not tested here: libetpan 1.9.4 leaks the parsed
   greeting in mailimap_connect() (49 bytes), which fails sanitizer runs. */

/* Five jobs against a silent peer with two workers: never more than two
   sessions at once, each job times out once. */
static void test_workers_bound(void)
{
	struct peer p;
	struct ms_imap_pool *pool;
	uint64_t start;

	peer_start(&p, PEER_SILENT);
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

	peer_start(&p, PEER_SILENT);
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

/* Fills every fd below FD_SETSIZE except `leave` of them. */
static int fill_fds(int *fds, int max, int leave)
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
	for (int i = 0; i < leave && n > 0; i++)
		close(fds[--n]);
	return n;
}

/* leave 0: the socket itself lands above FD_SETSIZE. leave 1: the socket
   fits, libetpan's cancel pipe does not. Either way: one error, no abort. */
static void test_fd_setsize(int leave, const char *want)
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
	peer_start(&p, PEER_SILENT);
	pool = pool_new(p.port, 1, 2000);
	n = fill_fds(fds, (int)UT_N_ELEMENTS(fds), leave);
	ms_imap_scan(pool, "frank@example.org", "INBOX", 0, 0, 0, 0, scan_cb,
		     NULL);
	run_until(&cbs.calls, 1, 3000);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	run_for(50);
	T_CHECK_INT(cbs.calls, 1);
	T_CHECK_INT(cbs.errors, 1);
	T_CHECK(strstr(cbs.last_error, want) != NULL);
	if (strstr(cbs.last_error, want) == NULL)
		fprintf(stderr, "error was: %s\n", cbs.last_error);
	pool_free(&pool);
	peer_stop(&p);
}

static void test_fd_setsize_socket(void)
{
	test_fd_setsize(0, "socket fd");
}

static void test_fd_setsize_pipe(void)
{
	test_fd_setsize(1, "pipe fd");
}

static void test_tls_not_supported(void)
{
	struct peer p;
	struct ms_imap_settings set = {
	    .host = "127.0.0.1",
	    .master_user = "tidings",
	    .master_password = "secret",
	    .tls = MS_IMAP_TLS_IMPLICIT,
	};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;

	peer_start(&p, PEER_SILENT);
	set.port = p.port;
	T_CHECK(ms_imap_pool_new(&loop, &set, &pool, &error) == 0);
	memset(&cbs, 0, sizeof(cbs));
	ms_imap_scan(pool, "gina@example.org", NULL, 0, 0, 0, 0, scan_cb, NULL);
	run_until(&cbs.calls, 1, 3000);
	T_CHECK_INT(cbs.calls, 1);
	T_CHECK_STR(cbs.last_error, "TLS not supported yet");
	T_CHECK_INT(p.accepted, 0);
	pool_free(&pool);
	peer_stop(&p);
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
	T_RUN(test_fd_setsize_socket);
	T_RUN(test_fd_setsize_pipe);
	T_RUN(test_tls_not_supported);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	return T_DONE();
}
