/*
 * tidingsd's control socket (see br_control.h): the listener, the
 * connections (peer check, line reading, one reply at a time) and the
 * commands. The protocol itself is in br_control_proto.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "br_control.h"
#include "br_control_proto.h"
#include "br_settings.h"
#include "ms_evsock_bind.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define LOG_PREFIX	"control"
#define LOG_EVERY_MSECS 1000 /* refusals: at most one line a second */
#define RECENT_MAX	10   /* last notified mails in the user reply */
#define LISTEN_BACKLOG	16

struct conn {
	struct br_control *c;
	struct conn *prev, *next;
	uv_pipe_t pipe;
	uv_timer_t idle;
	uv_write_t wreq;
	unsigned handles; /* open handles; the struct goes with the last */
	unsigned long uid;
	long pid;
	/* A request line, an optional CR and its LF. */
	char buf[BR_CONTROL_LINE_MAX + 2];
	size_t len;
	char *out; /* the reply being written */
	bool writing, reading, eof, closing, close_after_write;
	bool counted; /* in conn_count: a trusted peer */
	/* Waiting for Dovecot's userdb about req's user. */
	struct ms_authmaster_request *am_req;
	struct br_control_request req;
};

struct br_control {
	struct br_control_deps d;
	uv_pipe_t listener;
	bool listener_open;
	char *path;
	dev_t path_dev;
	ino_t path_ino;
	uid_t euid;
	struct conn *conns; /* open, not closing */
	size_t conn_count;
	size_t live; /* conns not freed yet */
	bool closing;
	struct ut_ratelog refused_log, busy_log, accept_log;
};

static void maybe_free(struct br_control *c)
{
	if (!c->closing || c->listener_open || c->live > 0)
		return;
	free(c->path);
	free(c);
}

static void conn_handle_closed_cb(uv_handle_t *h)
{
	struct conn *k = h->data;
	if (--k->handles > 0)
		return;
	struct br_control *c = k->c;
	free(k->out);
	free(k);
	c->live--;
	maybe_free(c);
}

static void conn_close(struct conn *k)
{
	struct br_control *c = k->c;
	if (k->closing)
		return;
	k->closing = true;
	ms_authmaster_cancel(&k->am_req);
	br_control_request_clear(&k->req);
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		c->conns = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	if (k->counted)
		c->conn_count--;
	uv_close((uv_handle_t *)&k->pipe, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&k->idle, conn_handle_closed_cb);
}

static void process(struct conn *k);
static void idle_cb(uv_timer_t *t);

/* (Re)starts the idle deadline. */
static void touch(struct conn *k)
{
	uv_timer_start(&k->idle, idle_cb, BR_CONTROL_IDLE_MSECS, 0);
}

static void write_cb(uv_write_t *w, int status)
{
	struct conn *k = w->data;
	k->writing = false;
	free(k->out);
	k->out = NULL;
	if (k->closing)
		return;
	if (status < 0 || k->close_after_write) {
		conn_close(k);
		return;
	}
	touch(k);
	process(k);
}

/* Writes one reply line (taken); nothing is read until it is out. */
static void send_line(struct conn *k, char *line, size_t len)
{
	if (len > BR_CONTROL_REPLY_MAX) {
		free(line);
		line = br_control_error_reply("reply too large", &len);
	}
	k->out = line;
	k->writing = true;
	k->wreq.data = k;
	uv_buf_t b = uv_buf_init(line, (unsigned)len);
	int ret = uv_write(&k->wreq, (uv_stream_t *)&k->pipe, &b, 1, write_cb);
	if (ret < 0) {
		k->writing = false;
		conn_close(k);
	}
}

static void send_json(struct conn *k, json_t *obj)
{
	size_t len;
	char *line = br_control_reply(obj, &len);
	send_line(k, line, len);
}

static void send_error(struct conn *k, const char *text)
{
	size_t len;
	char *line = br_control_error_reply(text, &len);
	send_line(k, line, len);
}

/* ---- commands ---- */

static void cmd_status(struct conn *k)
{
	struct br_status st;
	br_status_collect(k->c->d.meter, &st);
	send_json(k, br_control_status_json(&st, (int64_t)time(NULL)));
}

static void cmd_reload(struct conn *k)
{
	struct br_control *c = k->c;
	char *summary = NULL, *error = NULL;

	if (c->d.reload == NULL) {
		send_error(k, "reload: not available");
		return;
	}
	ut_log(UT_LOG_INFO, LOG_PREFIX, "reload asked by uid %lu", k->uid);
	if (c->d.reload(c->d.reload_ctx, &summary, &error) < 0) {
		send_error(k, error != NULL ? error : "reload failed");
		free(error);
		return;
	}
	send_json(k, json_pack("{s:b,s:s?}", "ok", 1, "summary", summary));
	free(summary);
}

static void cmd_user(struct conn *k)
{
	struct br_control *c = k->c;
	const struct br_config *cfg = *c->d.cfg;
	struct br_settings settings;
	struct br_router_user_info pending;
	struct br_ledger_recent *recent = NULL;
	size_t recent_count = 0;

	br_settings_load(cfg, c->d.ledger, k->req.key, &settings);
	br_router_user_info(c->d.router, k->req.key, &pending);
	(void)br_ledger_recent(c->d.ledger, k->req.key, RECENT_MAX, &recent,
			       &recent_count);
	struct br_control_user u = {
	    .jid = k->req.jid,
	    .key = k->req.key,
	    .presence = c->d.online != NULL
			    ? br_online_presence_full(c->d.online, k->req.key,
						      k->req.jid)
			    : BR_PRESENCE_UNKNOWN,
	    .settings = &settings,
	    .pending = &pending,
	    .recent = recent,
	    .recent_count = recent_count,
	};
	send_json(k, br_control_user_json(&u));
	br_ledger_recent_free(&recent, recent_count);
}

static void cmd_resync(struct conn *k)
{
	int n = br_router_resync(k->c->d.router, k->req.key);
	if (n < 0) {
		send_error(k, "resync: no IMAP access");
		return;
	}
	send_json(k, json_pack("{s:b,s:b,s:i}", "ok", 1, "queued", 1,
			       "mailboxes", n));
}

static void cmd_test(struct conn *k)
{
	char hhmm[8] = "?", *id = NULL;
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) != NULL)
		strftime(hhmm, sizeof(hhmm), "%H:%M", &tm);
	char *body = xasprintf("Test notification from tidings, asked by the "
			       "administrator at %s (UTC).",
			       hhmm);
	int ret = br_router_send_test(k->c->d.router, k->req.key, body, &id);
	free(body);
	if (ret < 0) {
		send_error(k, "test: cannot send now");
		return;
	}
	send_json(k, json_pack("{s:b,s:s,s:s}", "ok", 1, "jid", k->req.jid,
			       "id", id));
	free(id);
}

/* The user is one tidings serves: run the command. */
static void run_user_cmd(struct conn *k)
{
	switch (k->req.cmd) {
	case BR_CONTROL_USER:
		cmd_user(k);
		break;
	case BR_CONTROL_RESYNC:
		cmd_resync(k);
		break;
	case BR_CONTROL_TEST:
		cmd_test(k);
		break;
	default:
		ut_assert(!"not a user command");
	}
	br_control_request_clear(&k->req);
}

static void not_served(struct conn *k)
{
	char *text = xasprintf("not a user tidings serves: %s", k->req.jid);
	send_error(k, text);
	free(text);
	br_control_request_clear(&k->req);
}

static void user_checked(struct conn *k, const struct ms_authmaster_result *r)
{
	if (r->status == MS_AUTHMASTER_FOUND) {
		run_user_cmd(k);
	} else if (r->status == MS_AUTHMASTER_NOTFOUND) {
		not_served(k);
	} else {
		char *text = xasprintf(
		    "cannot ask Dovecot's userdb about "
		    "%s: %s",
		    k->req.jid, r->reason != NULL ? r->reason : "failed");
		send_error(k, text);
		free(text);
		br_control_request_clear(&k->req);
	}
}

static void authmaster_cb(const struct ms_authmaster_result *r, void *ctx)
{
	struct conn *k = ctx;
	k->am_req = NULL;
	user_checked(k, r);
	/* The reply is on its way; its end reads on (write_cb). */
}

/* Whether the request's user exists, then the command. */
static void check_user(struct conn *k)
{
	struct br_control *c = k->c;

	if (c->d.authmaster != NULL) {
		struct ms_authmaster_result r;
		char *error = NULL;
		int ret = ms_authmaster_user(c->d.authmaster, k->req.key,
					     authmaster_cb, k, &k->am_req, &r,
					     &error);
		if (ret == 1) {
			user_checked(k, &r);
		} else if (ret < 0) {
			send_error(k, error);
			free(error);
			br_control_request_clear(&k->req);
		}
		return; /* ret 0: authmaster_cb */
	}
	if (br_router_knows(c->d.router, k->req.key) ||
	    (c->d.online != NULL &&
	     br_online_presence_of(c->d.online, k->req.key) !=
		 BR_PRESENCE_UNKNOWN))
		run_user_cmd(k);
	else
		not_served(k);
}

static bool trusted(const struct br_control *c, uid_t uid);

static void handle_line(struct conn *k, const char *line, size_t len)
{
	char *error = NULL;

	/* A reload may have taken the peer off [control] trusted_users. */
	if (!trusted(k->c, (uid_t)k->uid)) {
		k->close_after_write = true;
		send_error(k, "forbidden");
		return;
	}
	if (br_control_parse(*k->c->d.cfg, line, len, &k->req, &error) < 0) {
		send_error(k, error);
		free(error);
		return;
	}
	if (ut_log_enabled(UT_LOG_DEBUG))
		ut_log(UT_LOG_DEBUG, LOG_PREFIX, "uid %lu asks: %s%s%s", k->uid,
		       br_control_cmd_name(k->req.cmd),
		       k->req.jid != NULL ? " " : "",
		       k->req.jid != NULL ? k->req.jid : "");
	switch (k->req.cmd) {
	case BR_CONTROL_STATUS:
		cmd_status(k);
		break;
	case BR_CONTROL_RELOAD:
		cmd_reload(k);
		break;
	default:
		check_user(k);
	}
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct conn *k = h->data;
	(void)suggested;
	*b = uv_buf_init(k->buf + k->len, (unsigned)(sizeof(k->buf) - k->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *k = s->data;
	(void)b;
	if (n == 0)
		return;
	if (n < 0) {
		k->eof = true; /* or an error: nothing more to read */
	} else {
		k->len += (size_t)n;
		touch(k);
	}
	process(k);
}

static void set_reading(struct conn *k, bool on)
{
	if (on == k->reading)
		return;
	k->reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&k->pipe, alloc_cb, read_cb);
	else
		uv_read_stop((uv_stream_t *)&k->pipe);
}

/* Answers the complete lines buffered, one at a time: the next only once
   the reply to this one is written. Reads while there is nothing to do. */
static void process(struct conn *k)
{
	while (!k->closing && !k->writing && k->am_req == NULL) {
		char *lf = memchr(k->buf, '\n', k->len);
		if (lf == NULL) {
			if (k->len == sizeof(k->buf)) {
				k->close_after_write = true;
				send_error(k, "request too long (more than "
					      "1024 bytes)");
			} else if (k->eof) {
				conn_close(k);
			} else {
				set_reading(k, true);
			}
			return;
		}
		char line[sizeof(k->buf)];
		size_t len = (size_t)(lf - k->buf);
		memcpy(line, k->buf, len);
		k->len -= len + 1;
		memmove(k->buf, lf + 1, k->len);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len > BR_CONTROL_LINE_MAX) {
			k->close_after_write = true;
			send_error(k,
				   "request too long (more than 1024 bytes)");
			break;
		}
		touch(k);
		handle_line(k, line, len);
	}
	if (!k->closing)
		set_reading(k, false);
}

static void idle_cb(uv_timer_t *t)
{
	struct conn *k = t->data;
	if (k->am_req != NULL) {
		/* Dovecot's answer has its own deadline. */
		touch(k);
		return;
	}
	ut_log(UT_LOG_DEBUG, LOG_PREFIX, "closing an idle connection (uid %lu)",
	       k->uid);
	conn_close(k);
}

/* ---- accepting ---- */

static bool trusted(const struct br_control *c, uid_t uid)
{
	const struct br_config *cfg = *c->d.cfg;
	if (uid == 0 || uid == c->euid)
		return true;
	for (size_t i = 0; i < cfg->control_uid_count; i++)
		if (cfg->control_uids[i] == (unsigned)uid)
			return true;
	return false;
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct br_control *c = server->data;
	uint64_t now = uv_now(c->d.loop);

	if (status < 0 || c->closing) {
		ut_ratelog(&c->accept_log, now, LOG_EVERY_MSECS, UT_LOG_WARN,
			   LOG_PREFIX, "accept: %s", uv_strerror(status));
		return;
	}
	struct conn *k = xcalloc(1, sizeof(*k));
	k->c = c;
	uv_pipe_init(c->d.loop, &k->pipe, 0);
	uv_timer_init(c->d.loop, &k->idle);
	k->pipe.data = k->idle.data = k;
	k->handles = 2;
	c->live++;
	k->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = k;
	c->conns = k;
	touch(k);

	int ret = uv_accept(server, (uv_stream_t *)&k->pipe);
	uv_os_fd_t fd = -1;
	if (ret == 0)
		ret = uv_fileno((const uv_handle_t *)&k->pipe, &fd);
	if (ret < 0) {
		ut_ratelog(&c->accept_log, now, LOG_EVERY_MSECS, UT_LOG_WARN,
			   LOG_PREFIX, "accept: %s", uv_strerror(ret));
		conn_close(k);
		return;
	}
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	bool known =
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 &&
	    cred_len == sizeof(cred);
	if (!known || !trusted(c, cred.uid)) {
		ut_ratelog(&c->refused_log, now, LOG_EVERY_MSECS, UT_LOG_WARN,
			   LOG_PREFIX,
			   "refused a connection from uid %ld (pid %ld): not "
			   "in [control] trusted_users",
			   known ? (long)cred.uid : -1L,
			   known ? (long)cred.pid : -1L);
		k->close_after_write = true;
		send_error(k, "forbidden");
		return;
	}
	k->uid = (unsigned long)cred.uid;
	k->pid = (long)cred.pid;
	/* Only trusted peers count: refused ones cannot make the others
	   busy. */
	k->counted = true;
	c->conn_count++;
	if (c->conn_count > BR_CONTROL_CONNS_MAX) {
		ut_ratelog(&c->busy_log, now, LOG_EVERY_MSECS, UT_LOG_WARN,
			   LOG_PREFIX,
			   "refused a connection from uid %lu: %d are open",
			   k->uid, BR_CONTROL_CONNS_MAX);
		k->close_after_write = true;
		send_error(k, "busy: too many control connections");
		return;
	}
	process(k);
}

/* ---- the socket ---- */

static void listener_closed_cb(uv_handle_t *h)
{
	struct br_control *c = h->data;
	c->listener_open = false;
	maybe_free(c);
}

int br_control_open(const struct br_control_deps *deps, struct br_control **c_r,
		    char **error_r)
{
	const struct br_config *cfg = *deps->cfg;
	struct sockaddr_un sun;
	struct stat st;

	*c_r = NULL;
	*error_r = NULL;
	if (cfg->control_socket == NULL ||
	    strlen(cfg->control_socket) >= sizeof(sun.sun_path)) {
		*error_r = xstrdup("no usable [control] socket path");
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, cfg->control_socket,
	       strlen(cfg->control_socket) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	if (ms_unix_bind_path(fd, SOCK_STREAM, &sun, cfg->control_mode,
			      cfg->control_group, LOG_PREFIX, &st,
			      error_r) < 0) {
		close(fd);
		return -1;
	}

	struct br_control *c = xcalloc(1, sizeof(*c));
	c->d = *deps;
	c->path = xstrdup(cfg->control_socket);
	c->path_dev = st.st_dev;
	c->path_ino = st.st_ino;
	c->euid = geteuid();
	uv_pipe_init(deps->loop, &c->listener, 0);
	c->listener.data = c;
	c->listener_open = true;
	int ret = uv_pipe_open(&c->listener, fd);
	if (ret < 0)
		close(fd); /* not the handle's yet */
	else
		ret = uv_listen((uv_stream_t *)&c->listener, LISTEN_BACKLOG,
				connection_cb);
	if (ret < 0) {
		*error_r =
		    xasprintf("listen on %s: %s", c->path, uv_strerror(ret));
		br_control_close(&c);
		return -1;
	}
	*c_r = c;
	return 0;
}

void br_control_close(struct br_control **cp)
{
	struct br_control *c = *cp;
	struct stat st;

	if (c == NULL)
		return;
	*cp = NULL;
	c->closing = true;
	while (c->conns != NULL)
		conn_close(c->conns);
	/* Only remove the file if it is still the one we bound. */
	if (lstat(c->path, &st) == 0 && st.st_dev == c->path_dev &&
	    st.st_ino == c->path_ino)
		(void)unlink(c->path);
	uv_close((uv_handle_t *)&c->listener, listener_closed_cb);
}
