/*
 * The event datagram socket (see ms_evsock.h). One non-blocking AF_UNIX
 * SOCK_DGRAM socket with SO_PASSCRED, watched with uv_poll; each readable
 * callback drains a bounded number of datagrams so a flood cannot starve
 * the rest of the loop (libuv polls level-triggered, so what is left is
 * read on the next turn). Each datagram is read with recvmsg() together
 * with its writer's credentials, and the writer is checked first.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ms_evsock.h"
#include "ms_evsock_bind.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define DEFAULT_RCVBUF_BYTES   (4 * 1024 * 1024)
#define DEFAULT_WAITING_MAX    1024
#define MAX_READS_PER_CALLBACK 256
/* Datagrams read by one recvmmsg() (1 MiB of buffers). */
#define READ_BATCH		16
#define DROP_LOG_INTERVAL_MSECS 1000
#define LOG_PREFIX		"events"
/* Room for the credentials and a few descriptors a hostile writer may
   attach (they are closed at once). */
#define CMSG_BYTES                                                             \
	(CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int)))

/* The kinds of drops; each is logged at most once per interval. */
enum drop_kind {
	DROP_MALFORMED,
	DROP_OVERSIZED,
	DROP_REFUSED,	/* not a trusted writer */
	DROP_NOT_OWNER, /* owner check: another uid, or no such user */
	DROP_UNVERIFIED,
	DROP_WAITING_FULL,
	DROP_KINDS
};

/* At most one log line per interval for one kind of drop; the next line
   says how many were not logged. */

/* An event waiting for Dovecot's userdb to name its owner. */
struct waiting {
	struct waiting *prev, *next;
	struct ms_evsock *s;
	struct ms_event *ev;
	struct ucred cred;
	struct ms_authmaster_request *req;
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
	/* READ_BATCH buffers of MS_EVENT_MAX_BYTES + 1 (one allocation),
	   their control data, and the one being handled. */
	char *bufs[READ_BATCH];
	union {
		struct cmsghdr align;
		char buf[CMSG_BYTES];
	} control[READ_BATCH];
	char *buf;
	unsigned *trusted_uids;
	size_t trusted_uid_count;
	bool trust_any;
	mode_t mode; /* the socket file's, as bound */
	struct ms_authmaster *owner;
	struct waiting *wait_head, *wait_tail;
	size_t waiting, waiting_max;
	struct ms_evsock_stats stats;
	struct ut_ratelog logs[DROP_KINDS];
	bool closing;
};

/* ---- logging ---- */

/* Logs the line for a drop of the given kind unless one was logged less
   than an interval ago (then it is only counted). */
static void drop_log(struct ms_evsock *s, enum drop_kind kind, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

static void drop_log(struct ms_evsock *s, enum drop_kind kind, const char *fmt,
		     ...)
{
	uint64_t now = uv_now(s->loop);
	va_list ap;

	if (!ut_ratelog_due(&s->logs[kind], now, DROP_LOG_INTERVAL_MSECS))
		return;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	ut_ratelog_emit(&s->logs[kind], now, UT_LOG_WARN, LOG_PREFIX, "%s",
			what);
	free(what);
}

/* "uid 33 (www-data, pid 812)", or "uid 4711 (pid 812)" without a
   passwd entry. Called only for lines that are logged. */
static char *writer_name(const struct ucred *cr)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t buflen = size > 0 ? (size_t)size : 16384;
	char *buf = xmalloc(buflen);
	struct passwd pw, *found = NULL;
	char *name;

	if (getpwuid_r(cr->uid, &pw, buf, buflen, &found) == 0 && found != NULL)
		name = xasprintf("uid %u (%s, pid %d)", (unsigned)cr->uid,
				 found->pw_name, (int)cr->pid);
	else
		name = xasprintf("uid %u (pid %d)", (unsigned)cr->uid,
				 (int)cr->pid);
	free(buf);
	return name;
}

/* Logs "<verb> an event from <writer><rest>" as a drop of the given kind;
   the writer's name is looked up only when the line is logged. */
static void drop_writer(struct ms_evsock *s, enum drop_kind kind,
			const struct ucred *cr, const char *verb,
			const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void drop_writer(struct ms_evsock *s, enum drop_kind kind,
			const struct ucred *cr, const char *verb,
			const char *fmt, ...)
{
	va_list ap;

	/* The writer's name is looked up only for a line that is logged. */
	if (!ut_ratelog_due(&s->logs[kind], uv_now(s->loop),
			    DROP_LOG_INTERVAL_MSECS))
		return;
	va_start(ap, fmt);
	char *rest = xvasprintf(fmt, ap);
	va_end(ap);
	char *who = writer_name(cr);
	drop_log(s, kind, "%s an event from %s%s", verb, who, rest);
	free(who);
	free(rest);
}

/* ---- who may write ---- */

static bool trusted(const struct ms_evsock *s, const struct ucred *cr)
{
	if (s->trust_any || cr->uid == 0)
		return true;
	for (size_t i = 0; i < s->trusted_uid_count; i++) {
		if (s->trusted_uids[i] == (unsigned)cr->uid)
			return true;
	}
	return false;
}

static void pass_on(struct ms_evsock *s, struct ms_event *ev)
{
	s->stats.events++;
	if (ut_trace_enabled(UT_TRACE_EVENTS))
		ut_trace(UT_TRACE_EVENTS, LOG_PREFIX,
			 "%s user=%s mailbox=%s uidvalidity=%u uid=%u",
			 ms_event_type_name(ev->type), ev->user, ev->mailbox,
			 ev->uidvalidity, ev->uid);
	s->cb(ev, s->ctx);
}

/* Passes w's event on if Dovecot's answer names its writer as the owner;
   frees w (w is in no list). */
static void owner_decide(struct ms_evsock *s, struct waiting *w,
			 const struct ms_authmaster_result *res)
{
	struct ms_event *ev = w->ev;
	const struct ucred cr = w->cred;

	free(w);
	if (res->status == MS_AUTHMASTER_FOUND && res->has_uid &&
	    res->uid == cr.uid) {
		pass_on(s, ev);
		return;
	}
	if (res->status == MS_AUTHMASTER_FAIL) {
		s->stats.unverified++;
		drop_writer(s, DROP_UNVERIFIED, &cr, "dropped",
			    " for %s: Dovecot's userdb did not say whose it "
			    "is: %s",
			    ev->user, res->reason != NULL ? res->reason : "?");
	} else {
		s->stats.refused++;
		drop_writer(
		    s, DROP_NOT_OWNER, &cr, "refused",
		    ": not the owner of %s per Dovecot's userdb%s", ev->user,
		    res->status == MS_AUTHMASTER_NOTFOUND ? " (no such user)"
		    : !res->has_uid			  ? " (it gives no uid)"
							  : "");
	}
	ms_event_free(&ev);
}

static void owner_cb(const struct ms_authmaster_result *res, void *ctx)
{
	struct waiting *w = ctx;
	struct ms_evsock *s = w->s;

	w->req = NULL;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		s->wait_head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		s->wait_tail = w->prev;
	s->waiting--;
	owner_decide(s, w, res);
}

/* An event from a writer that is not trusted: ask Dovecot whose it is. */
static void owner_check(struct ms_evsock *s, struct ms_event *ev,
			const struct ucred *cr)
{
	struct ms_authmaster_result res;
	char *error;

	if (s->waiting >= s->waiting_max) {
		s->stats.waiting_full++;
		drop_writer(s, DROP_WAITING_FULL, cr, "dropped",
			    " for %s: %zu events already wait for Dovecot's "
			    "userdb",
			    ev->user, s->waiting);
		ms_event_free(&ev);
		return;
	}
	struct waiting *w = xcalloc(1, sizeof(*w));
	w->s = s;
	w->ev = ev;
	w->cred = *cr;
	int ret = ms_authmaster_user(s->owner, ev->user, owner_cb, w, &w->req,
				     &res, &error);
	if (ret == 1) {
		owner_decide(s, w, &res);
		return;
	}
	if (ret < 0) {
		struct ms_authmaster_result fail = {
		    .status = MS_AUTHMASTER_FAIL, .reason = error};
		owner_decide(s, w, &fail);
		free(error);
		return;
	}
	w->prev = s->wait_tail;
	if (s->wait_tail != NULL)
		s->wait_tail->next = w;
	else
		s->wait_head = w;
	s->wait_tail = w;
	s->waiting++;
}

/* ---- reading ---- */

static void handle_datagram(struct ms_evsock *s, size_t len,
			    const struct ucred *cr)
{
	struct ms_event *ev;
	char *error;

	if (cr == NULL) {
		/* Cannot happen with SO_PASSCRED set before bind. */
		s->stats.refused++;
		drop_log(s, DROP_REFUSED,
			 "refused a datagram without credentials");
		return;
	}
	bool is_trusted = trusted(s, cr);
	if (!is_trusted && s->owner == NULL) {
		s->stats.refused++;
		drop_writer(s, DROP_REFUSED, cr, "refused",
			    ": not in [events] trusted_users");
		return;
	}
	if (len > MS_EVENT_MAX_BYTES) {
		s->stats.oversized++;
		drop_log(s, DROP_OVERSIZED,
			 "dropped an oversized datagram (%zu bytes, limit %d)",
			 len, MS_EVENT_MAX_BYTES);
		return;
	}
	if (ms_event_parse(s->buf, len, &ev, &error) < 0) {
		s->stats.malformed++;
		drop_log(s, DROP_MALFORMED, "dropped a malformed datagram: %s",
			 error);
		free(error);
		return;
	}
	if (is_trusted)
		pass_on(s, ev);
	else
		owner_check(s, ev, cr);
}

/* Takes the writer's credentials out of a datagram's control data, and
   closes any descriptors passed along. */
static bool take_control(struct msghdr *msg, struct ucred *cr)
{
	bool have_cred = false;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
	     c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len == CMSG_LEN(sizeof(*cr))) {
			memcpy(cr, CMSG_DATA(c), sizeof(*cr));
			have_cred = true;
		} else if (c->cmsg_type == SCM_RIGHTS) {
			/* Nobody sends us descriptors: close them. */
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfds; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(fd));
				close(fd);
			}
		}
	}
	return have_cred;
}

/*
 * Reads up to READ_BATCH datagrams with one system call (recvmmsg), each
 * into its own buffer with its writer's credentials and its real length
 * (MSG_TRUNC), and handles them in order. Returns how many were read, or
 * -1 with errno set.
 */
static int read_batch(struct ms_evsock *s)
{
	struct mmsghdr mm[READ_BATCH];
	struct iovec iov[READ_BATCH];

	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < READ_BATCH; i++) {
		iov[i].iov_base = s->bufs[i];
		iov[i].iov_len = MS_EVENT_MAX_BYTES + 1;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = s->control[i].buf;
		mm[i].msg_hdr.msg_controllen = sizeof(s->control[i].buf);
	}
	int n = recvmmsg(s->fd, mm, READ_BATCH,
			 MSG_TRUNC | MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL);
	for (int i = 0; i < n; i++) {
		struct ucred cr;
		bool have_cred = take_control(&mm[i].msg_hdr, &cr);
		if (s->closing)
			continue; /* still close passed descriptors */
		s->stats.received++;
		s->buf = s->bufs[i];
		handle_datagram(s, mm[i].msg_len, have_cred ? &cr : NULL);
	}
	return n;
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
	for (int i = 0; i < MAX_READS_PER_CALLBACK && !s->closing;
	     i += READ_BATCH) {
		int n = read_batch(s);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ut_log(UT_LOG_ERROR, LOG_PREFIX,
				       "recv on %s failed: %s", s->path,
				       strerror(errno));
			return;
		}
		if (n < READ_BATCH)
			return; /* drained */
	}
}

void ms_evsock_set_trust(struct ms_evsock *s,
			 const struct ms_evsock_settings *set)
{
	ut_free(&s->trusted_uids);
	s->trusted_uid_count = 0;
	if (set->trusted_uid_count > 0) {
		s->trusted_uids = xreallocarray(NULL, set->trusted_uid_count,
						sizeof(*s->trusted_uids));
		memcpy(s->trusted_uids, set->trusted_uids,
		       set->trusted_uid_count * sizeof(*s->trusted_uids));
		s->trusted_uid_count = set->trusted_uid_count;
	}
	/* At open, and when a reload turns the check off. */
	if (set->trust_any && !s->trust_any && (s->mode & 0002) != 0)
		ut_log(UT_LOG_WARN, LOG_PREFIX,
		       "the socket %s is writable by every local user and "
		       "[events] trusted_users = any: anyone can make the Mail "
		       "contact say anything",
		       s->path);
	s->trust_any = set->trust_any;
	s->owner = set->owner_check;
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
	/* Before bind: every datagram that can arrive carries credentials. */
	int on = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0) {
		*error_r = xasprintf("SO_PASSCRED: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (ms_evsock__bind_path(fd, &sun, set, &st, error_r) < 0) {
		close(fd);
		return -1;
	}
	ms_evsock__set_rcvbuf(fd, set->rcvbuf_bytes > 0 ? set->rcvbuf_bytes
							: DEFAULT_RCVBUF_BYTES);

	struct ms_evsock *s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->fd = fd;
	s->path = xstrdup(set->path);
	s->path_dev = st.st_dev;
	s->path_ino = st.st_ino;
	s->mode = st.st_mode;
	s->cb = cb;
	s->ctx = ctx;
	s->bufs[0] = xmalloc((size_t)READ_BATCH * (MS_EVENT_MAX_BYTES + 1));
	for (int i = 1; i < READ_BATCH; i++)
		s->bufs[i] = s->bufs[0] + (size_t)i * (MS_EVENT_MAX_BYTES + 1);
	ms_evsock_set_trust(s, set);
	s->waiting_max = set->owner_waiting_max > 0 ? set->owner_waiting_max
						    : DEFAULT_WAITING_MAX;
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
		free(s->trusted_uids);
		free(s->bufs[0]);
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
	free(s->trusted_uids);
	free(s->bufs[0]);
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
	/* No owner answer may come back: withdraw the lookups. */
	struct waiting *w;
	while ((w = s->wait_head) != NULL) {
		s->wait_head = w->next;
		ms_authmaster_cancel(&w->req);
		ms_event_free(&w->ev);
		free(w);
	}
	s->wait_tail = NULL;
	s->waiting = 0;
	/* Only remove the file if it is still the one we bound. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->path_dev &&
	    st.st_ino == s->path_ino)
		(void)unlink(s->path);
	uv_close((uv_handle_t *)&s->poll, close_cb);
}
