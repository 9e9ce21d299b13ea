/*
 * ms_evsock over a real socket path: real datagrams sent with sendto(),
 * exact counts of events, malformed and oversized drops and log lines, a
 * burst of 10,000 datagrams, the socket file's mode and group, stale-socket
 * replacement and refusals, and closing (also from inside the callback).
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ut_log.h"
#include "ms_evsock.h"
#include "test.h"
#include "ut_xalloc.h"

static char tmpdir[] = "/tmp/ms-evsock-XXXXXX";
static uv_loop_t loop;

struct sink {
	int events;
	uint32_t last_uid;
	bool in_order;
	bool close_on_first;
	struct ms_evsock **sock;
};

static void sink_cb(struct ms_event *ev, void *ctx)
{
	struct sink *k = ctx;
	k->events++;
	if (ev->uid != k->last_uid + 1)
		k->in_order = false;
	k->last_uid = ev->uid;
	ms_event_free(&ev);
	if (k->close_on_first && k->sock != NULL)
		ms_evsock_close(k->sock);
}

static int warn_lines;
static char last_warn[512];

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == UT_LOG_WARN) {
		warn_lines++;
		snprintf(last_warn, sizeof(last_warn), "%s", line);
	}
}

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static struct ms_evsock *open_ok(const char *path, unsigned mode,
				 const char *group, struct sink *k)
{
	struct ms_evsock_settings set = {
	    .path = path, .mode = mode, .group = group, .rcvbuf_bytes = 0};
	struct ms_evsock *s = NULL;
	char *error = NULL;
	T_CHECK_INT(ms_evsock_open(&loop, &set, sink_cb, k, &s, &error), 0);
	if (error != NULL)
		fprintf(stderr, "  open: %s\n", error);
	free(error);
	return s;
}

static char *open_fail(const char *path)
{
	struct ms_evsock_settings set = {.path = path, .mode = 0660};
	struct ms_evsock *s = NULL;
	char *error = NULL;
	struct sink k = {0};
	T_CHECK_INT(ms_evsock_open(&loop, &set, sink_cb, &k, &s, &error), -1);
	T_CHECK(s == NULL);
	T_CHECK(error != NULL);
	return error != NULL ? error : xstrdup("");
}

static int client(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	T_CHECK(fd >= 0);
	return fd;
}

static int send_to(int fd, const char *path, const void *data, size_t len)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	return (int)sendto(fd, data, len, 0, (struct sockaddr *)&sun,
			   sizeof(sun));
}

static char *event_json(uint32_t uid)
{
	return xasprintf("{\"v\":1,\"event\":\"MessageNew\",\"user\":"
			 "\"bob@example.org\",\"mailbox\":\"INBOX\","
			 "\"uidvalidity\":7,\"uid\":%u,\"subject\":\"s\"}",
			 uid);
}

static uint64_t now_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until the statistic at offset (in struct
   ms_evsock_stats) reaches want, or timeout_msecs pass. */
static void run_until(struct ms_evsock *s, size_t offset, uint64_t want,
		      uint64_t timeout_msecs)
{
	uv_timer_t tick;
	struct ms_evsock_stats st;
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	uint64_t start = now_msecs();
	for (;;) {
		ms_evsock_get_stats(s, &st);
		uint64_t v;
		memcpy(&v, (const char *)&st + offset, sizeof(v));
		if (v >= want || now_msecs() - start >= timeout_msecs)
			break;
		uv_run(&loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

#define RECEIVED offsetof(struct ms_evsock_stats, received)
#define EVENTS	 offsetof(struct ms_evsock_stats, events)

static void test_counts_and_logs(void)
{
	char *path = tmp_path("events.sock");
	struct sink k = {.in_order = true};
	struct ms_evsock *s = open_ok(path, 0660, NULL, &k);
	if (s == NULL)
		return;
	int fd = client();
	warn_lines = 0;
	for (uint32_t uid = 1; uid <= 3; uid++) {
		char *j = event_json(uid);
		T_CHECK(send_to(fd, path, j, strlen(j)) == (int)strlen(j));
		free(j);
	}
	T_CHECK_INT(send_to(fd, path, "not json", 8), 8);
	T_CHECK_INT(send_to(fd, path, "{\"v\":1}", 7), 7);
	T_CHECK_INT(send_to(fd, path, "", 0), 0);
	size_t big_len = MS_EVENT_MAX_BYTES + 1000;
	char *big = xmalloc(big_len);
	memset(big, ' ', big_len);
	T_CHECK(send_to(fd, path, big, big_len) == (int)big_len);
	free(big);

	struct ms_evsock_stats st;
	ms_evsock_get_stats(s, &st);
	run_until(s, RECEIVED, 7, 5000);
	ms_evsock_get_stats(s, &st);
	T_CHECK_INT(st.received, 7);
	T_CHECK_INT(st.events, 3);
	T_CHECK_INT(st.malformed, 3);
	T_CHECK_INT(st.oversized, 1);
	T_CHECK_INT(k.events, 3);
	T_CHECK(k.in_order);
	/* One line per kind within a second: the rest is counted. */
	T_CHECK_INT(warn_lines, 2);

	/* A second later the next drop is logged with the suppressed count. */
	usleep(1100 * 1000);
	uv_update_time(&loop);
	T_CHECK_INT(send_to(fd, path, "[]", 2), 2);
	run_until(s, RECEIVED, 8, 5000);
	ms_evsock_get_stats(s, &st);
	T_CHECK_INT(st.malformed, 4);
	T_CHECK_INT(warn_lines, 3);
	T_CHECK(strstr(last_warn, "(and 2 more not logged)") != NULL);
	T_CHECK(strstr(last_warn, "not a JSON object") != NULL);

	close(fd);
	ms_evsock_close(&s);
	T_CHECK(s == NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	free(path);
}

struct burst {
	const char *path;
	int count;
	int sent;
};

static void *burst_thread(void *arg)
{
	struct burst *b = arg;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (int i = 1; i <= b->count; i++) {
		char *j = event_json((uint32_t)i);
		/* A blocking sender waits while the receive queue is full. */
		if (send_to(fd, b->path, j, strlen(j)) == (int)strlen(j))
			b->sent++;
		free(j);
	}
	close(fd);
	return NULL;
}

static void test_burst(void)
{
	char *path = tmp_path("burst.sock");
	struct sink k = {.in_order = true};
	struct ms_evsock *s = open_ok(path, 0600, NULL, &k);
	if (s == NULL)
		return;
	struct burst b = {.path = path, .count = 10000};
	pthread_t th;
	uint64_t start = now_msecs();
	T_CHECK_INT(pthread_create(&th, NULL, burst_thread, &b), 0);
	struct ms_evsock_stats st;
	ms_evsock_get_stats(s, &st);
	run_until(s, EVENTS, 10000, 30000);
	pthread_join(th, NULL);
	uint64_t elapsed = now_msecs() - start;
	ms_evsock_get_stats(s, &st);
	T_CHECK_INT(b.sent, 10000);
	T_CHECK_INT(st.events, 10000);
	T_CHECK_INT(st.malformed + st.oversized, 0);
	T_CHECK_INT(k.events, 10000);
	T_CHECK(k.in_order);
	printf("burst: 10000 datagrams in %llu ms\n",
	       (unsigned long long)elapsed);

	/* A non-blocking sender (like the Dovecot script) while the loop is
	   not reading: whatever the kernel accepted arrives, nothing more. */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int accepted = 0;
	for (int i = 1; i <= 10000; i++) {
		char *j = event_json(10000 + (uint32_t)i);
		if (send_to(fd, path, j, strlen(j)) > 0)
			accepted++;
		free(j);
	}
	close(fd);
	run_until(s, EVENTS, 10000 + (uint64_t)accepted, 5000);
	ms_evsock_get_stats(s, &st);
	T_CHECK_INT(st.events, 10000 + accepted);
	T_CHECK(k.in_order);
	printf("non-blocking burst with the loop idle: %d of 10000 queued "
	       "(net.unix.max_dgram_qlen)\n",
	       accepted);
	ms_evsock_close(&s);
	uv_run(&loop, UV_RUN_NOWAIT);
	free(path);
}

static void test_mode_and_group(void)
{
	char *path = tmp_path("mode.sock");
	struct sink k = {.in_order = true};
	struct stat st;
	struct group *gr = getgrgid(getegid());
	T_CHECK(gr != NULL);
	char *group = xstrdup(gr != NULL ? gr->gr_name : "root");

	struct ms_evsock *s = open_ok(path, 0660, group, &k);
	T_CHECK_INT(lstat(path, &st), 0);
	T_CHECK(S_ISSOCK(st.st_mode));
	T_CHECK_INT(st.st_mode & 07777, 0660);
	T_CHECK_INT(st.st_gid, getegid());
	ms_evsock_close(&s);
	uv_run(&loop, UV_RUN_NOWAIT);

	s = open_ok(path, 0602, NULL, &k);
	T_CHECK_INT(lstat(path, &st), 0);
	T_CHECK_INT(st.st_mode & 07777, 0602);
	ms_evsock_close(&s);
	uv_run(&loop, UV_RUN_NOWAIT);

	/* An unknown group fails and leaves nothing behind. */
	struct ms_evsock_settings set = {
	    .path = path, .mode = 0660, .group = "no-such-group-tidings"};
	char *error = NULL;
	T_CHECK_INT(ms_evsock_open(&loop, &set, sink_cb, &k, &s, &error), -1);
	T_CHECK(error != NULL && strstr(error, "no such group") != NULL);
	T_CHECK(access(path, F_OK) < 0);
	free(error);
	free(group);
	free(path);
}

static void test_stale_and_refusals(void)
{
	char *path = tmp_path("stale.sock");
	struct sink k = {.in_order = true};

	/* A socket file left by a dead process is replaced. */
	int old = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	T_CHECK_INT(bind(old, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(old);
	T_CHECK_INT(access(path, F_OK), 0);
	struct ms_evsock *s = open_ok(path, 0660, NULL, &k);
	T_CHECK(s != NULL);
	int fd = client();
	char *j = event_json(1);
	T_CHECK(send_to(fd, path, j, strlen(j)) > 0);
	free(j);
	struct ms_evsock_stats st;
	ms_evsock_get_stats(s, &st);
	run_until(s, EVENTS, 1, 5000);
	T_CHECK_INT(k.events, 1);

	/* A socket somebody is still reading is not taken over. */
	char *error = open_fail(path);
	T_CHECK(strstr(error, "in use") != NULL);
	free(error);
	ms_evsock_close(&s);
	uv_run(&loop, UV_RUN_NOWAIT);
	close(fd);

	/* A regular file is refused and left intact. */
	char *file = tmp_path("regular");
	int f = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_CHECK_INT(write(f, "keep", 4), 4);
	close(f);
	error = open_fail(file);
	T_CHECK(strstr(error, "not a socket") != NULL);
	free(error);
	struct stat fst;
	T_CHECK_INT(stat(file, &fst), 0);
	T_CHECK(S_ISREG(fst.st_mode) && fst.st_size == 4);
	unlink(file);
	free(file);

	/* So is a directory, a missing parent and an over-long path. */
	error = open_fail(tmpdir);
	free(error);
	char *missing = tmp_path("no/such/dir.sock");
	free(open_fail(missing));
	free(missing);
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	error = open_fail(longp);
	T_CHECK(strstr(error, "too long") != NULL);
	free(error);
	free(open_fail(""));
	free(path);
}

static void test_close_keeps_foreign_file(void)
{
	/* If the path was replaced meanwhile, close leaves it alone. */
	char *path = tmp_path("foreign.sock");
	struct sink k = {.in_order = true};
	struct ms_evsock *s = open_ok(path, 0660, NULL, &k);
	T_CHECK_INT(unlink(path), 0);
	int f = open(path, O_WRONLY | O_CREAT, 0644);
	close(f);
	ms_evsock_close(&s);
	uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(access(path, F_OK), 0);
	unlink(path);
	free(path);
}

static void test_close_in_callback(void)
{
	char *path = tmp_path("cb.sock");
	struct sink k = {.in_order = true, .close_on_first = true};
	struct ms_evsock *s = open_ok(path, 0660, NULL, &k);
	k.sock = &s;
	int fd = client();
	for (uint32_t uid = 1; uid <= 5; uid++) {
		char *j = event_json(uid);
		T_CHECK(send_to(fd, path, j, strlen(j)) > 0);
		free(j);
	}
	for (int i = 0; i < 2000 && k.events == 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	/* More loop turns: nothing else may arrive. */
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	/* No callback after close, even with four datagrams pending. */
	T_CHECK_INT(k.events, 1);
	T_CHECK(s == NULL);
	T_CHECK(access(path, F_OK) < 0);
	close(fd);
	free(path);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	uv_loop_init(&loop);
	ut_log_set_hook(log_hook, NULL);
	T_RUN(test_counts_and_logs);
	T_RUN(test_burst);
	T_RUN(test_mode_and_group);
	T_RUN(test_stale_and_refusals);
	T_RUN(test_close_keeps_foreign_file);
	T_RUN(test_close_in_callback);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Every handle was released: nothing leaked into the loop. */
	T_CHECK_INT(uv_loop_close(&loop), 0);
	ut_log_set_hook(NULL, NULL);
	rmdir(tmpdir);
	return T_DONE();
}
