/*
 * Who may write to ms_evsock, with real writers: the test runs as root and
 * forks children that setuid() to other uids before they send. Root is
 * accepted; an untrusted uid is refused before anything else happens
 * (counted, one log line per burst naming uid, user and pid, no callback;
 * even an oversized or malformed datagram is only "refused"); a trusted
 * uid and trust_any are accepted; the kernel refuses a forged uid; the
 * open warning for a world-writable socket with trust_any; and the owner
 * check against a fake auth-master (owner accepted, other uid refused, no
 * such user, userdb failure, no uid, one lookup for a flood, the bound on
 * waiting events, closing with events waiting); ms_evsock_set_trust()
 * changing who may write on an open socket.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_authmaster.h"
#include "ms_evsock.h"
#include "test.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define NOBODY 65534
#define OTHER  65533

static char tmpdir[] = "/tmp/ms-evtrust-XXXXXX";
static char sock_path[100], am_path[100];
static uv_loop_t loop;
static uv_timer_t tick;

struct sink {
	int events;
	uint32_t uids[256]; /* the event uids, in the order passed on */
	struct ms_evsock **close_me;
};

static void sink_cb(struct ms_event *ev, void *ctx)
{
	struct sink *k = ctx;
	if (k->events < 256)
		k->uids[k->events] = ev->uid;
	k->events++;
	ms_event_free(&ev);
	if (k->close_me != NULL)
		ms_evsock_close(k->close_me);
}

static int warn_lines;
static char warn_text[8][512];

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level != UT_LOG_WARN)
		return;
	snprintf(warn_text[warn_lines % 8], sizeof(warn_text[0]), "%s", line);
	warn_lines++;
}

static const char *warn_line(int i)
{
	return warn_text[i % 8];
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

static char *event_json(const char *user, uint32_t uid)
{
	return xasprintf("{\"v\":1,\"event\":\"MessageNew\",\"user\":\"%s\","
			 "\"mailbox\":\"INBOX\",\"uidvalidity\":7,\"uid\":%u}",
			 user, uid);
}

/*
 * Forks a child that becomes uid/gid and sends the n datagrams (prepared
 * here: the child only makes system calls). Returns the child's pid after
 * it exited with status 0 (it exits 1 when a send failed).
 */
static pid_t send_as(uid_t uid, char **dgrams, const size_t *lens, int n)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(uid) < 0 ||
		    setuid(uid) < 0)
			_exit(2);
		int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		for (int i = 0; i < n; i++) {
			if (sendto(fd, dgrams[i], lens[i], 0,
				   (struct sockaddr *)&sun, sizeof(sun)) < 0)
				_exit(1);
		}
		_exit(0);
	}
	int status = -1;
	T_CHECK(pid > 0);
	T_CHECK_INT(waitpid(pid, &status, 0), pid);
	T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return pid;
}

/* Sends n events for user with event uids first, first + 1, ... */
static pid_t send_events_as(uid_t uid, const char *user, uint32_t first, int n)
{
	char *d[256];
	size_t l[256];
	for (int i = 0; i < n; i++) {
		d[i] = event_json(user, first + (uint32_t)i);
		l[i] = strlen(d[i]);
	}
	pid_t pid = send_as(uid, d, l, n);
	for (int i = 0; i < n; i++)
		free(d[i]);
	return pid;
}

static struct ms_evsock *open_set(struct ms_evsock_settings *set,
				  struct sink *k)
{
	struct ms_evsock *s = NULL;
	char *error = NULL;
	set->path = sock_path;
	if (set->mode == 0)
		set->mode = 0666; /* the children must reach it */
	T_CHECK_INT(ms_evsock_open(&loop, set, sink_cb, k, &s, &error), 0);
	if (error != NULL)
		fprintf(stderr, "  open: %s\n", error);
	free(error);
	return s;
}

static struct ms_evsock_stats stats(struct ms_evsock *s)
{
	struct ms_evsock_stats st;
	ms_evsock_get_stats(s, &st);
	return st;
}

static void close_sock(struct ms_evsock **s)
{
	ms_evsock_close(s);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void test_root_and_refusal(void)
{
	struct sink k = {0};
	struct ms_evsock_settings set = {0};
	struct ms_evsock *s = open_set(&set, &k);

	/* Root (this process) is always trusted. */
	send_events_as(0, "bob@example.org", 1, 3);
	RUN_UNTIL(stats(s).received == 3, 5000);
	T_CHECK_INT(k.events, 3);
	T_CHECK_INT(stats(s).refused, 0);

	/* A burst from nobody: all refused, one log line. */
	warn_lines = 0;
	pid_t pid = send_events_as(NOBODY, "bob@example.org", 100, 50);
	/* Oversized and malformed: refused unread, not "oversized". */
	char *big = xmalloc(MS_EVENT_MAX_BYTES + 10);
	memset(big, ' ', MS_EVENT_MAX_BYTES + 10);
	char *d[2] = {big, "not json"};
	size_t l[2] = {MS_EVENT_MAX_BYTES + 10, 8};
	send_as(NOBODY, d, l, 2);
	free(big);
	RUN_UNTIL(stats(s).received == 55, 5000);
	struct ms_evsock_stats st = stats(s);
	T_CHECK_INT(st.received, 55);
	T_CHECK_INT(st.refused, 52);
	T_CHECK_INT(st.events, 3);
	T_CHECK_INT(st.oversized + st.malformed, 0);
	T_CHECK_INT(k.events, 3);
	T_CHECK_INT(warn_lines, 1);
	char *want = xasprintf("warn: events: refused an event from uid 65534 "
			       "(nobody, pid %d): not in [events] "
			       "trusted_users",
			       (int)pid);
	T_CHECK_STR(warn_line(0), want);
	free(want);

	/* A second later the next one is logged with the count. */
	usleep(1100 * 1000);
	uv_update_time(&loop);
	pid = send_events_as(OTHER, "bob@example.org", 200, 1);
	RUN_UNTIL(stats(s).received == 56, 5000);
	T_CHECK_INT(warn_lines, 2);
	want =
	    xasprintf("warn: events: refused an event from uid 65533 (pid %d): "
		      "not in [events] trusted_users (and 51 more not "
		      "logged)",
		      (int)pid);
	T_CHECK_STR(warn_line(1), want);
	free(want);
	T_CHECK_INT(k.events, 3);
	close_sock(&s);
}

static void test_trusted_and_any(void)
{
	struct sink k = {0};
	unsigned uids[] = {1, NOBODY};
	struct ms_evsock_settings set = {.trusted_uids = uids,
					 .trusted_uid_count = 2};
	warn_lines = 0;
	struct ms_evsock *s = open_set(&set, &k);
	send_events_as(NOBODY, "bob@example.org", 1, 5);
	send_events_as(OTHER, "bob@example.org", 6, 1);
	RUN_UNTIL(stats(s).received == 6, 5000);
	T_CHECK_INT(k.events, 5);
	T_CHECK_INT(stats(s).refused, 1);
	for (int i = 0; i < 5; i++)
		T_CHECK_INT(k.uids[i], i + 1);
	T_CHECK_INT(warn_lines, 1); /* OTHER's refusal */
	close_sock(&s);

	/* trust_any: no check; a world-writable socket is warned about. */
	memset(&k, 0, sizeof(k));
	warn_lines = 0;
	struct ms_evsock_settings any = {.trust_any = true, .mode = 0666};
	s = open_set(&any, &k);
	T_CHECK_INT(warn_lines, 1);
	char *want = xasprintf(
	    "warn: events: the socket %s is writable by every local user and "
	    "[events] trusted_users = any: anyone can make the Mail contact "
	    "say anything",
	    sock_path);
	T_CHECK_STR(warn_line(0), want);
	free(want);
	send_events_as(OTHER, "bob@example.org", 1, 2);
	RUN_UNTIL(stats(s).received == 2, 5000);
	T_CHECK_INT(k.events, 2);
	T_CHECK_INT(stats(s).refused, 0);
	close_sock(&s);

	/* Not writable by others (mode 0660): no warning. */
	warn_lines = 0;
	struct ms_evsock_settings any660 = {.trust_any = true, .mode = 0660};
	s = open_set(&any660, &k);
	T_CHECK_INT(warn_lines, 0);
	close_sock(&s);
	/* World-writable without trust_any: the check protects it. */
	struct ms_evsock_settings ww = {.mode = 0666};
	s = open_set(&ww, &k);
	T_CHECK_INT(warn_lines, 0);
	/* A reload that turns the check off is warned about as a start. */
	ms_evsock_set_trust(s, &(struct ms_evsock_settings){.trust_any = true});
	T_CHECK_INT(warn_lines, 1);
	ms_evsock_set_trust(s, &(struct ms_evsock_settings){.trust_any = true});
	T_CHECK_INT(warn_lines, 1); /* only when it changes */
	close_sock(&s);
}

/* A reload changes who may write, for the next datagrams: nobody refused,
   then trusted, then any, then refused again. */
static void test_set_trust(void)
{
	struct sink k = {0};
	struct ms_evsock_settings set = {0};
	struct ms_evsock *s = open_set(&set, &k);

	send_events_as(NOBODY, "bob@example.org", 1, 2);
	RUN_UNTIL(stats(s).received == 2, 5000);
	T_CHECK_INT(k.events, 0);
	T_CHECK_INT(stats(s).refused, 2);

	unsigned uids[] = {NOBODY};
	ms_evsock_set_trust(
	    s, &(struct ms_evsock_settings){.trusted_uids = uids,
					    .trusted_uid_count = 1});
	uids[0] = 1; /* copied: this does not count */
	send_events_as(NOBODY, "bob@example.org", 3, 2);
	send_events_as(OTHER, "bob@example.org", 5, 1);
	RUN_UNTIL(stats(s).received == 5, 5000);
	T_CHECK_INT(k.events, 2);
	T_CHECK_INT(k.uids[0], 3);
	T_CHECK_INT(k.uids[1], 4);
	T_CHECK_INT(stats(s).refused, 3);

	ms_evsock_set_trust(s, &(struct ms_evsock_settings){.trust_any = true});
	send_events_as(OTHER, "bob@example.org", 6, 1);
	RUN_UNTIL(stats(s).received == 6, 5000);
	T_CHECK_INT(k.events, 3);

	ms_evsock_set_trust(s, &(struct ms_evsock_settings){0});
	send_events_as(NOBODY, "bob@example.org", 7, 1);
	send_events_as(0, "bob@example.org", 8, 1);
	RUN_UNTIL(stats(s).received == 8, 5000);
	T_CHECK_INT(k.events, 4); /* root's only */
	T_CHECK_INT(k.uids[3], 8);
	T_CHECK_INT(stats(s).refused, 4);
	close_sock(&s);
}

static void test_forged_uid(void)
{
	/* A non-root writer cannot claim uid 0: the kernel says EPERM. */
	struct sink k = {0};
	struct ms_evsock_settings set = {0};
	struct ms_evsock *s = open_set(&set, &k);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	char *j = event_json("bob@example.org", 1);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0)
			_exit(2);
		int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(struct ucred))];
		} control;
		struct ucred forged = {.pid = getpid(), .uid = 0, .gid = 0};
		struct iovec iov = {.iov_base = j, .iov_len = strlen(j)};
		struct msghdr msg = {.msg_name = &sun,
				     .msg_namelen = sizeof(sun),
				     .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf)};
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(forged));
		memcpy(CMSG_DATA(c), &forged, sizeof(forged));
		if (sendmsg(fd, &msg, 0) < 0 && errno == EPERM)
			_exit(0);
		_exit(1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(j);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(stats(s).received, 0);
	T_CHECK_INT(k.events, 0);
	close_sock(&s);
}

static int open_fds(void)
{
	int n = 0;
	char path[64];
	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

static void test_passed_fds_closed(void)
{
	/* Descriptors attached to a datagram are closed, not kept. */
	struct sink k = {0};
	struct ms_evsock_settings set = {0};
	struct ms_evsock *s = open_set(&set, &k);
	int p[2];
	T_CHECK_INT(pipe(p), 0);
	int before = open_fds();
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	char *j = event_json("bob@example.org", 1);
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = j, .iov_len = strlen(j)};
	struct msghdr msg = {.msg_name = &sun,
			     .msg_namelen = sizeof(sun),
			     .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), p, sizeof(p));
	T_CHECK(sendmsg(fd, &msg, 0) > 0);
	close(fd);
	free(j);
	RUN_UNTIL(k.events == 1, 5000);
	T_CHECK_INT(k.events, 1);
	T_CHECK_INT(open_fds(), before);
	close(p[0]);
	close(p[1]);
	close_sock(&s);
}

static const struct fake_am_user am_users[] = {
    {"nobody@example.org", FAKE_FOUND, NOBODY, NOBODY},
    {"other@example.org", FAKE_FOUND, 1234, 8},
    {"nouid@example.org", FAKE_FOUND_NOUID, 0, 0},
    {"broken@example.org", FAKE_FAIL, 0, 0},
    {"held@example.org", FAKE_HOLD, NOBODY, NOBODY},
};

static struct fake_am fake;

static void test_owner(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.users = am_users;
	fake.n_users = UT_N_ELEMENTS(am_users);
	fake_am_start(&fake, am_path);
	struct ms_authmaster *am = NULL;
	char *error = NULL;
	T_CHECK_INT(ms_authmaster_new(&loop, am_path, NULL, &am, &error), 0);
	free(error);

	struct sink k = {0};
	struct ms_evsock_settings set = {.owner_check = am};
	struct ms_evsock *s = open_set(&set, &k);

	/* The owner is accepted; a flood for one mailbox costs one lookup. */
	send_events_as(NOBODY, "nobody@example.org", 1, 100);
	RUN_UNTIL(k.events == 100, 5000);
	T_CHECK_INT(k.events, 100);
	bool in_order = true;
	for (int i = 0; i < 100; i++)
		in_order &= k.uids[i] == (uint32_t)i + 1;
	T_CHECK(in_order);
	struct fake_am_counts c;
	fake_am_get(&fake, &c);
	T_CHECK_INT(c.requests, 1);
	struct ms_authmaster_stats ast;
	ms_authmaster_get_stats(am, &ast);
	T_CHECK_INT(ast.cache_hits + ast.coalesced, 99);

	/* Another uid, no such user, no uid, userdb failure. */
	warn_lines = 0;
	pid_t pid = send_events_as(NOBODY, "other@example.org", 200, 1);
	RUN_UNTIL(stats(s).refused == 1, 5000);
	char *want = xasprintf("warn: events: refused an event from uid 65534 "
			       "(nobody, pid %d): not the owner of "
			       "other@example.org per Dovecot's userdb",
			       (int)pid);
	T_CHECK_STR(warn_line(0), want);
	free(want);
	send_events_as(NOBODY, "ghost@example.org", 201, 1);
	send_events_as(NOBODY, "nouid@example.org", 202, 1);
	send_events_as(NOBODY, "broken@example.org", 203, 1);
	RUN_UNTIL(stats(s).refused == 3 && stats(s).unverified == 1, 5000);
	struct ms_evsock_stats st = stats(s);
	T_CHECK_INT(st.refused, 3);
	T_CHECK_INT(st.unverified, 1);
	T_CHECK_INT(k.events, 100);
	/* One line per kind: not the owner (3 in a second), unverified. */
	T_CHECK_INT(warn_lines, 2);
	T_CHECK(strstr(warn_line(1), "Dovecot's userdb did not say whose it "
				     "is: userdb lookup failed: backend "
				     "down") != NULL);
	/* Root's event for the same user needs no lookup. */
	send_events_as(0, "other@example.org", 300, 1);
	RUN_UNTIL(k.events == 101, 5000);
	T_CHECK_INT(k.uids[100], 300);
	/* A malformed datagram from a writer that may be an owner. */
	char *d[1] = {"{]"};
	size_t l[1] = {2};
	send_as(NOBODY, d, l, 1);
	RUN_UNTIL(stats(s).malformed == 1, 5000);

	/* Bound: three wait for a held answer, two are dropped. */
	close_sock(&s);
	set.owner_waiting_max = 3;
	s = open_set(&set, &k);
	send_events_as(NOBODY, "held@example.org", 400, 5);
	RUN_UNTIL(stats(s).waiting_full == 2, 5000);
	T_CHECK_INT(stats(s).waiting_full, 2);
	fake_am_release(&fake);
	RUN_UNTIL(k.events == 104, 5000);
	T_CHECK_INT(k.events, 104);
	T_CHECK_INT(k.uids[101], 400);
	T_CHECK_INT(k.uids[103], 402);

	/* Closing with events waiting: no callback, nothing leaks. A new
	   client, so that nothing is cached. */
	close_sock(&s);
	ms_authmaster_free(&am);
	T_CHECK_INT(ms_authmaster_new(&loop, am_path, NULL, &am, &error), 0);
	fake_am_get(&fake, &c);
	int before = c.requests;
	set.owner_check = am;
	s = open_set(&set, &k);
	send_events_as(NOBODY, "held@example.org", 500, 2);
	RUN_UNTIL((fake_am_get(&fake, &c), c.held == 1), 5000);
	T_CHECK_INT(c.requests, before + 1);
	close_sock(&s);
	fake_am_release(&fake);
	RUN_UNTIL((ms_authmaster_get_stats(am, &ast), ast.found == 1), 5000);
	T_CHECK_INT(ast.found, 1);
	T_CHECK_INT(k.events, 104);

	/* Closing from inside the callback with more events waiting. */
	struct ms_evsock *s2 = NULL;
	k.close_me = &s2;
	s2 = open_set(&set, &k);
	send_events_as(NOBODY, "nobody@example.org", 600, 3);
	RUN_UNTIL(s2 == NULL, 5000);
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(k.events, 105);
	ms_authmaster_free(&am);
	uv_run(&loop, UV_RUN_NOWAIT);
	fake_am_stop(&fake);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root (setuid children)\n");
		return 77;
	}
	if (mkdtemp(tmpdir) == NULL || chmod(tmpdir, 0711) < 0) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/events.sock", tmpdir);
	snprintf(am_path, sizeof(am_path), "%s/auth-userdb", tmpdir);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 5, 5);
	ut_log_set_hook(log_hook, NULL);
	T_RUN(test_root_and_refusal);
	T_RUN(test_trusted_and_any);
	T_RUN(test_set_trust);
	T_RUN(test_forged_uid);
	T_RUN(test_passed_fds_closed);
	T_RUN(test_owner);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	ut_log_set_hook(NULL, NULL);
	rmdir(tmpdir);
	return T_DONE();
}
