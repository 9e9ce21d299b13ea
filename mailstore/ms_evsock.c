/*
 * The event datagram socket (see ms_evsock.h). One non-blocking AF_UNIX
 * SOCK_DGRAM socket, watched with uv_poll; each readable callback drains a
 * bounded number of datagrams so a flood cannot starve the rest of the loop
 * (libuv polls level-triggered, so what is left is read on the next turn).
 */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ut_log.h"
#include "ms_evsock.h"
#include "ut_xalloc.h"

#define DEFAULT_RCVBUF_BYTES	(4 * 1024 * 1024)
#define MAX_READS_PER_CALLBACK	256
#define DROP_LOG_INTERVAL_MSECS 1000
#define LOG_PREFIX		"events"

/* At most one log line per interval for one kind of drop; the next line
   says how many were not logged. */
struct drop_log {
	uint64_t last_msecs;
	uint64_t suppressed;
	bool logged_once;
};

struct ms_evsock {
	uv_loop_t *loop;
	uv_poll_t poll;
	int fd;
	char *path;
	dev_t path_dev; /* identity of the socket file we created, so close */
	ino_t path_ino; /* never unlinks someone else's file */
	ms_evsock_cb *cb;
	void *ctx;
	char *buf; /* MS_EVENT_MAX_BYTES + 1 */
	struct ms_evsock_stats stats;
	struct drop_log malformed_log;
	struct drop_log oversized_log;
	bool closing;
};

static void drop_log(struct ms_evsock *s, struct drop_log *dl, const char *what)
{
	uint64_t now = uv_now(s->loop);
	if (dl->logged_once && now - dl->last_msecs < DROP_LOG_INTERVAL_MSECS) {
		dl->suppressed++;
		return;
	}
	if (dl->suppressed > 0)
		ut_log(UT_LOG_WARN, LOG_PREFIX,
		       "dropped %s (and %llu more not logged)", what,
		       (unsigned long long)dl->suppressed);
	else
		ut_log(UT_LOG_WARN, LOG_PREFIX, "dropped %s", what);
	dl->logged_once = true;
	dl->last_msecs = now;
	dl->suppressed = 0;
}

static void handle_datagram(struct ms_evsock *s, size_t len)
{
	struct ms_event *ev;
	char *error;

	if (len > MS_EVENT_MAX_BYTES) {
		s->stats.oversized++;
		char *what = xasprintf("an oversized datagram (%zu bytes, "
				       "limit %d)",
				       len, MS_EVENT_MAX_BYTES);
		drop_log(s, &s->oversized_log, what);
		free(what);
		return;
	}
	if (ms_event_parse(s->buf, len, &ev, &error) < 0) {
		s->stats.malformed++;
		char *what = xasprintf("a malformed datagram: %s", error);
		drop_log(s, &s->malformed_log, what);
		free(what);
		free(error);
		return;
	}
	s->stats.events++;
	if (ut_trace_enabled(UT_TRACE_EVENTS))
		ut_trace(UT_TRACE_EVENTS, LOG_PREFIX,
			 "%s user=%s mailbox=%s "
			 "uidvalidity=%u uid=%u",
			 ms_event_type_name(ev->type), ev->user, ev->mailbox,
			 ev->uidvalidity, ev->uid);
	s->cb(ev, s->ctx);
}

static void poll_cb(uv_poll_t *handle, int status, int events)
{
	struct ms_evsock *s = handle->data;

	(void)events;
	if (status < 0) {
		ut_log(UT_LOG_ERROR, LOG_PREFIX, "poll failed: %s",
		       uv_strerror(status));
		return;
	}
	for (int i = 0; i < MAX_READS_PER_CALLBACK && !s->closing; i++) {
		/* MSG_TRUNC makes recv return the real datagram length, so
		   anything longer than the limit is recognised and dropped. */
		ssize_t n = recv(s->fd, s->buf, MS_EVENT_MAX_BYTES + 1,
				 MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ut_log(UT_LOG_ERROR, LOG_PREFIX,
				       "recv on %s failed: %s", s->path,
				       strerror(errno));
			return;
		}
		s->stats.received++;
		handle_datagram(s, (size_t)n);
	}
}

/* Resolves a group name to its id. Returns 0 or -1 with *error_r set. */
static int lookup_group(const char *name, gid_t *gid_r, char **error_r)
{
	long size = sysconf(_SC_GETGR_R_SIZE_MAX);
	size_t buflen = size > 0 ? (size_t)size : 4096;
	struct group grp, *result = NULL;
	int ret;

	for (;;) {
		char *buf = xmalloc(buflen);
		ret = getgrnam_r(name, &grp, buf, buflen, &result);
		if (ret == 0 && result != NULL)
			*gid_r = grp.gr_gid;
		free(buf);
		if (ret != ERANGE || buflen >= (1u << 24))
			break;
		buflen *= 2;
	}
	if (ret != 0) {
		*error_r =
		    xasprintf("looking up group %s: %s", name, strerror(ret));
		return -1;
	}
	if (result == NULL) {
		*error_r = xasprintf("no such group: %s", name);
		return -1;
	}
	return 0;
}

/*
 * Makes the path free for bind: nothing there is fine; a socket nobody
 * listens on (left by a crash) is removed; a socket somebody still reads
 * from, or anything that is not a socket, is an error.
 */
static int clear_stale(const struct sockaddr_un *sun, char **error_r)
{
	struct stat st;

	if (lstat(sun->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = xasprintf("%s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		*error_r = xasprintf("%s exists and is not a socket; "
				     "refusing to replace it",
				     sun->sun_path);
		return -1;
	}
	int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	int ret = connect(probe, (const struct sockaddr *)sun, sizeof(*sun));
	int err = errno;
	close(probe);
	if (ret == 0) {
		*error_r =
		    xasprintf("%s is in use by another process", sun->sun_path);
		return -1;
	}
	if (err != ECONNREFUSED) {
		*error_r = xasprintf("%s: %s", sun->sun_path, strerror(err));
		return -1;
	}
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		*error_r = xasprintf("removing stale socket %s: %s",
				     sun->sun_path, strerror(errno));
		return -1;
	}
	ut_log(UT_LOG_INFO, LOG_PREFIX, "replaced stale socket %s",
	       sun->sun_path);
	return 0;
}

static void set_rcvbuf(int fd, int bytes)
{
	/* As root, SO_RCVBUFFORCE may exceed net.core.rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) ==
	    0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
		ut_log(UT_LOG_WARN, LOG_PREFIX, "SO_RCVBUF %d: %s", bytes,
		       strerror(errno));
}

/* Binds fd to the path with the settings' mode and group. On error the
   path is left unlinked. */
static int bind_path(int fd, const struct sockaddr_un *sun,
		     const struct ms_evsock_settings *set, struct stat *st_r,
		     char **error_r)
{
	if (clear_stale(sun, error_r) < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0) {
		*error_r =
		    xasprintf("bind %s: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	if (chmod(sun->sun_path, set->mode) < 0) {
		*error_r =
		    xasprintf("chmod %s: %s", sun->sun_path, strerror(errno));
		goto fail;
	}
	if (set->group != NULL) {
		gid_t gid = 0;
		if (lookup_group(set->group, &gid, error_r) < 0)
			goto fail;
		if (chown(sun->sun_path, (uid_t)-1, gid) < 0) {
			*error_r =
			    xasprintf("chown %s to group %s: %s", sun->sun_path,
				      set->group, strerror(errno));
			goto fail;
		}
	}
	if (lstat(sun->sun_path, st_r) < 0) {
		*error_r = xasprintf("%s: %s", sun->sun_path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	(void)unlink(sun->sun_path);
	return -1;
}

int ms_evsock_open(uv_loop_t *loop, const struct ms_evsock_settings *set,
		   ms_evsock_cb *cb, void *ctx, struct ms_evsock **s_r,
		   char **error_r)
{
	struct sockaddr_un sun;
	struct stat st;

	*s_r = NULL;
	*error_r = NULL;
	if (set->path == NULL || set->path[0] == '\0') {
		*error_r = xstrdup("no event socket path configured");
		return -1;
	}
	if (strlen(set->path) >= sizeof(sun.sun_path)) {
		*error_r = xasprintf("event socket path too long (max %zu "
				     "bytes): %s",
				     sizeof(sun.sun_path) - 1, set->path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, set->path, strlen(set->path) + 1);

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	if (bind_path(fd, &sun, set, &st, error_r) < 0) {
		close(fd);
		return -1;
	}
	set_rcvbuf(fd, set->rcvbuf_bytes > 0 ? set->rcvbuf_bytes
					     : DEFAULT_RCVBUF_BYTES);

	struct ms_evsock *s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->fd = fd;
	s->path = xstrdup(set->path);
	s->path_dev = st.st_dev;
	s->path_ino = st.st_ino;
	s->cb = cb;
	s->ctx = ctx;
	s->buf = xmalloc(MS_EVENT_MAX_BYTES + 1);
	int ret = uv_poll_init(loop, &s->poll, fd);
	if (ret == 0) {
		s->poll.data = s;
		ret = uv_poll_start(&s->poll, UV_READABLE, poll_cb);
		if (ret < 0) {
			/* The handle exists now: it must be closed through
			   the loop like any other. */
			*error_r =
			    xasprintf("uv_poll_start: %s", uv_strerror(ret));
			ms_evsock_close(&s);
			return -1;
		}
	} else {
		*error_r = xasprintf("uv_poll_init: %s", uv_strerror(ret));
		(void)unlink(s->path);
		close(fd);
		free(s->buf);
		free(s->path);
		free(s);
		return -1;
	}
	*s_r = s;
	return 0;
}

void ms_evsock_get_stats(const struct ms_evsock *s,
			 struct ms_evsock_stats *stats_r)
{
	*stats_r = s->stats;
}

static void close_cb(uv_handle_t *handle)
{
	struct ms_evsock *s = handle->data;
	close(s->fd);
	free(s->buf);
	free(s->path);
	free(s);
}

void ms_evsock_close(struct ms_evsock **sp)
{
	struct ms_evsock *s = *sp;
	struct stat st;

	if (s == NULL)
		return;
	*sp = NULL;
	ut_assert(!s->closing);
	s->closing = true;
	/* Only remove the file if it is still the one we bound. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->path_dev &&
	    st.st_ino == s->path_ino)
		(void)unlink(s->path);
	uv_close((uv_handle_t *)&s->poll, close_cb);
}
