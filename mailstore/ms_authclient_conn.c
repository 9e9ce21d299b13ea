/*
 * The connection of the auth-client client (see ms_authclient.h and
 * ms_authclient_private.h): connecting with back-off, the handshake,
 * writing requests, reading and checking answers.
 *
 * The connection (struct acconn) is its own allocation: a lost connection
 * is detached at once and freed from its close callback, while a new one
 * may already be connecting. Its input buffer is fixed (one line at most)
 * and wiped when it is freed; each write owns a copy of its bytes, wiped
 * when the write completes.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ms_authclient_private.h"
#include "ut_log.h"
#include "ut_str.h"
#include "ut_xalloc.h"

#define LOG_PREFIX	  MS_AUTHCLIENT_LOG_PREFIX
#define BACKOFF_MIN_MSECS 100
#define BACKOFF_MAX_MSECS 5000
#define MAX_SENDS	  2 /* a request lost with its connection: once more */

struct wreq {
	uv_write_t req;
	struct acconn *conn;
	char *data;
	size_t len;
};

static void conn_close_cb(uv_handle_t *handle)
{
	struct acconn *c = handle->data;
	struct ms_authclient *ac = c->ac;
	explicit_bzero(c->in, sizeof(c->in));
	free(c);
	ms_authclient__release_handle(ac);
}

void ms_authclient__conn_detach(struct ms_authclient *ac)
{
	struct acconn *c = ac->conn;
	if (c == NULL)
		return;
	ac->conn = NULL;
	c->active = false;
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
}

/* Drops the current connection; see enum acdrop_why for what happens to
   the requests. The caller dispatches afterwards (or the timer does). */
void ms_authclient__drop(struct ms_authclient *ac, enum acdrop_why why,
			 const char *reason)
{
	struct acconn *c = ac->conn;
	bool worked = c != NULL && c->ready;
	struct ms_authclient_request *r, *next;

	/* A socket that stays unusable is logged once, not on every try. */
	if (why == ACDROP_PROTOCOL)
		ut_log(UT_LOG_ERROR, LOG_PREFIX, "%s: %s; closing", ac->path,
		       reason);
	else if (why == ACDROP_HANDSHAKE && !ac->failing)
		ut_log(UT_LOG_ERROR, LOG_PREFIX,
		       "%s: %s; closing (not logged again until a connection "
		       "works)",
		       ac->path, reason);
	else if (worked)
		/* Idle connections go when Dovecot's auth process restarts
		   (a reload): nothing was lost. */
		ut_log(ac->sent.count > 0 ? UT_LOG_WARN : UT_LOG_INFO,
		       LOG_PREFIX, "%s: %s", ac->path, reason);
	else if (!ac->failing)
		ut_log(UT_LOG_WARN, LOG_PREFIX,
		       "%s: %s (not logged again until a connection works)",
		       ac->path, reason);
	ac->failing = !worked || why != ACDROP_LOST;
	ac->stats.disconnects += c != NULL && c->connected;
	ms_authclient__conn_detach(ac);

	/* The sent requests: again once (in their order), or fail. */
	struct ms_authclient_request *again = NULL;
	for (r = ac->sent.head; r != NULL; r = next) {
		next = r->snext;
		if (why == ACDROP_LOST && r->sends < MAX_SENDS) {
			ms_authclient__list_remove(&ac->sent, r);
			r->state = ACREQ_QUEUED;
			r->snext = again; /* a stack, reversed below */
			again = r;
		} else {
			ms_authclient__finish(ac, r, MS_AUTHCLIENT_ERROR,
					      reason);
		}
	}
	while (again != NULL) {
		r = again;
		again = r->snext;
		ms_authclient__list_prepend(&ac->queue, r);
	}
	if (why == ACDROP_CONNECT || why == ACDROP_HANDSHAKE) {
		while ((r = ac->queue.head) != NULL)
			ms_authclient__finish(ac, r, MS_AUTHCLIENT_ERROR,
					      reason);
	}

	if (why == ACDROP_LOST && worked)
		ac->backoff_msecs = 0;
	else if (ac->backoff_msecs == 0)
		ac->backoff_msecs = BACKOFF_MIN_MSECS;
	else if (ac->backoff_msecs < BACKOFF_MAX_MSECS / 2)
		ac->backoff_msecs *= 2;
	else
		ac->backoff_msecs = BACKOFF_MAX_MSECS;
	ac->connect_after_msecs = uv_now(ac->loop) + ac->backoff_msecs;
	ms_authclient__kick(ac);
	ms_authclient__rearm(ac);
}

static void drop_fmt(struct ms_authclient *ac, enum acdrop_why why,
		     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void drop_fmt(struct ms_authclient *ac, enum acdrop_why why,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *reason = xvasprintf(fmt, ap);
	va_end(ap);
	ms_authclient__drop(ac, why, reason);
	free(reason);
}

/* A line that breaks the protocol. During the handshake the socket is as
   unusable as one that cannot be connected to: the requests waiting for it
   fail too. */
static void protocol_error(struct ms_authclient *ac, const char *what)
{
	bool ready = ac->conn != NULL && ac->conn->ready;
	ac->stats.protocol_errors++;
	drop_fmt(ac, ready ? ACDROP_PROTOCOL : ACDROP_HANDSHAKE,
		 "bad answer from Dovecot: %s", what);
}

static bool id_issued(const struct ms_authclient *ac, uint32_t id)
{
	return id != 0 && (ac->ids_wrapped || id <= ac->last_id);
}

/* An OK for the request r: what it means for r. */
static void handle_ok(struct ms_authclient *ac, struct ms_authclient_request *r,
		      const struct ms_acproto_reply *a)
{
	const char *why = NULL;
	char *reason = NULL;

	if (!a->has_user)
		why = "Dovecot's OK names no user";
	else if (a->user_too_long || !ut_ascii_caseeq(a->user, r->user))
		reason = a->user_too_long
			     ? xstrdup("Dovecot accepted the password for "
				       "another user")
			     : xasprintf("Dovecot accepted the password for "
					 "another user (%s)",
					 a->user);
	else if (a->master)
		why = "a master user's login, not the user's own password";
	else if (a->nologin)
		why = "Dovecot says the user may not log in (nologin)";
	else if (a->proxy)
		why = "Dovecot would proxy the user elsewhere (the password "
		      "was not checked here)";
	if (why == NULL && reason == NULL) {
		ac->stats.ok++;
		ms_authclient__finish(ac, r, MS_AUTHCLIENT_OK, NULL);
		return;
	}
	ac->stats.refused++;
	ms_authclient__finish(ac, r, MS_AUTHCLIENT_REFUSED,
			      reason != NULL ? reason : why);
	free(reason);
}

static void handle_answer(struct ms_authclient *ac,
			  const struct ms_acproto_reply *a)
{
	struct ms_authclient_request *r;

	for (r = ac->sent.head; r != NULL && r->id != a->id; r = r->snext)
		;
	if (r == NULL) {
		if (id_issued(ac, a->id)) {
			ac->stats.late++; /* timed out or cancelled */
			return;
		}
		char *what =
		    xasprintf("an answer to id %u, never asked", a->id);
		protocol_error(ac, what);
		free(what);
		return;
	}
	if (a->type == MS_ACPROTO_OK) {
		handle_ok(ac, r, a);
		return;
	}
	char *reason;
	const char *text = a->reason[0] != '\0' ? a->reason : a->code;
	if (a->temp) {
		ac->stats.errors++;
		reason = text[0] != '\0'
			     ? xasprintf("temporary failure: %s", text)
			     : xstrdup("temporary failure");
		ms_authclient__finish(ac, r, MS_AUTHCLIENT_ERROR, reason);
	} else {
		ac->stats.refused++;
		reason = xstrdup(text[0] != '\0'
				     ? text
				     : "password mismatch or unknown user");
		ms_authclient__finish(ac, r, MS_AUTHCLIENT_REFUSED, reason);
	}
	free(reason);
}

/* A line of the server's handshake. */
static void handle_handshake(struct ms_authclient *ac, struct acconn *c,
			     const struct ms_acproto_reply *a)
{
	if (!c->version_ok && a->type != MS_ACPROTO_VERSION) {
		protocol_error(ac, "the handshake does not start with VERSION");
		return;
	}
	switch (a->type) {
	case MS_ACPROTO_VERSION:
		if (c->version_ok) {
			protocol_error(ac, "VERSION twice");
		} else if (a->major != MS_ACPROTO_MAJOR) {
			char *what = xasprintf("protocol version %u, not %d",
					       a->major, MS_ACPROTO_MAJOR);
			protocol_error(ac, what);
			free(what);
		} else {
			c->version_ok = true;
		}
		return;
	case MS_ACPROTO_MECH:
		c->saw_mech = true;
		c->plain = c->plain || a->plain;
		return;
	case MS_ACPROTO_SPID:
		/* An auth-client socket lists its mechanisms first; an
		   auth-master or -userdb one sends SPID right away. */
		if (!c->saw_mech)
			protocol_error(ac, "SPID before any MECH: this is an "
					   "auth-master or -userdb listener, "
					   "not an auth-client socket");
		return;
	case MS_ACPROTO_CUID:
	case MS_ACPROTO_COOKIE:
		return;
	case MS_ACPROTO_DONE:
		if (!c->plain) {
			drop_fmt(ac, ACDROP_HANDSHAKE,
				 "Dovecot offers no PLAIN mechanism (add "
				 "plain to auth_mechanisms)");
			return;
		}
		c->ready = true;
		ac->stats.connects++;
		ac->backoff_msecs = 0;
		if (ac->failing)
			ut_log(UT_LOG_INFO, LOG_PREFIX, "%s: connected",
			       ac->path);
		ac->failing = false;
		return;
	default:
		protocol_error(ac, "an answer before the handshake's DONE");
		return;
	}
}

static void handle_line(struct ms_authclient *ac, struct acconn *c,
			const char *line, size_t len)
{
	struct ms_acproto_reply a;
	char *error;

	if (ms_acproto_parse(line, len, &a, &error) < 0) {
		protocol_error(ac, error);
		free(error);
		return;
	}
	if (!c->ready) {
		handle_handshake(ac, c, &a);
		if (c->active && c->ready)
			ms_authclient__kick(ac);
		return;
	}
	switch (a.type) {
	case MS_ACPROTO_OK:
	case MS_ACPROTO_FAIL:
		handle_answer(ac, &a);
		return;
	case MS_ACPROTO_CONT:
		protocol_error(ac, "CONT: Dovecot did not take the PLAIN "
				   "initial response");
		return;
	default:
		protocol_error(ac, "a handshake line after DONE");
		return;
	}
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct acconn *c = handle->data;
	(void)suggested;
	/* in_len <= MS_ACPROTO_LINE_MAX after every read: room >= 1. */
	*buf = uv_buf_init(c->in + c->in_len,
			   (unsigned)(sizeof(c->in) - 1 - c->in_len));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct acconn *c = stream->data;
	struct ms_authclient *ac = c->ac;

	(void)buf;
	if (!c->active || nread == 0)
		return;
	if (nread < 0) {
		drop_fmt(ac, ACDROP_LOST, "%s",
			 nread == UV_EOF ? "Dovecot closed the connection"
					 : uv_strerror((int)nread));
		ms_authclient__dispatch(ac);
		return;
	}
	c->in_len += (size_t)nread;
	size_t start = 0;
	while (c->active) {
		char *nl = memchr(c->in + start, '\n', c->in_len - start);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - (c->in + start));
		handle_line(ac, c, c->in + start, len);
		start += len + 1;
	}
	if (c->active) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
		explicit_bzero(c->in + c->in_len, start);
		if (c->in_len > MS_ACPROTO_LINE_MAX)
			protocol_error(ac, "a line over 16 KiB");
		else
			ms_authclient__kick(ac); /* answers freed slots */
	}
	ms_authclient__dispatch(ac);
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct acconn *c = w->conn;
	explicit_bzero(w->data, w->len);
	free(w->data);
	free(w);
	if (status < 0 && c->active) {
		struct ms_authclient *ac = c->ac;
		drop_fmt(ac, ACDROP_LOST, "write: %s", uv_strerror(status));
		ms_authclient__dispatch(ac);
	}
}

/* Writes data (copied; wiped once written). 0, or -1 when the connection
   was dropped. */
static int conn_write(struct ms_authclient *ac, struct acconn *c,
		      const char *data, size_t len)
{
	struct wreq *w = xcalloc(1, sizeof(*w));
	w->conn = c;
	w->data = xmalloc(len);
	w->len = len;
	memcpy(w->data, data, len);
	uv_buf_t ub = uv_buf_init(w->data, (unsigned)len);
	int ret = uv_write(&w->req, (uv_stream_t *)&c->pipe, &ub, 1, write_cb);
	if (ret < 0) {
		explicit_bzero(w->data, len);
		free(w->data);
		free(w);
		drop_fmt(ac, ACDROP_LOST, "write: %s", uv_strerror(ret));
		return -1;
	}
	return 0;
}

/* Sends what the connection may take: the handshake first, then (once
   Dovecot's handshake is done) queued requests up to max_in_flight. */
static void flush(struct ms_authclient *ac)
{
	struct acconn *c = ac->conn;
	struct ms_authclient_request *r;

	if (c == NULL || !c->connected)
		return;
	if (!c->sent_handshake) {
		char *hs = ms_acproto_handshake((unsigned long)getpid());
		c->sent_handshake = true;
		int ret = conn_write(ac, c, hs, strlen(hs));
		free(hs);
		if (ret < 0)
			return;
	}
	while (c->ready && (r = ac->queue.head) != NULL &&
	       ac->sent.count < ac->set.max_in_flight) {
		ms_authclient__list_remove(&ac->queue, r);
		r->state = ACREQ_SENT;
		r->sends++;
		ms_authclient__list_append(&ac->sent, r);
		ac->stats.sent++;
		if (conn_write(ac, c, r->line, r->line_len) < 0)
			return;
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct acconn *c = req->data;
	struct ms_authclient *ac = c->ac;

	if (!c->active)
		return;
	if (status < 0) {
		ac->stats.connect_errors++;
		drop_fmt(ac, ACDROP_CONNECT, "connect: %s",
			 uv_strerror(status));
		ms_authclient__dispatch(ac);
		return;
	}
	c->connected = true;
	int ret = uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
	if (ret < 0)
		drop_fmt(ac, ACDROP_LOST, "read: %s", uv_strerror(ret));
	else
		flush(ac);
	ms_authclient__dispatch(ac);
}

static void start_connect(struct ms_authclient *ac)
{
	struct acconn *c = xcalloc(1, sizeof(*c));
	int ret = uv_pipe_init(ac->loop, &c->pipe, 0);
	ut_assert(ret == 0);
	ac->open_handles++;
	c->ac = ac;
	c->active = true;
	c->pipe.data = c;
	c->connect_req.data = c;
	ac->conn = c;
	uv_pipe_connect(&c->connect_req, &c->pipe, ac->path, connect_cb);
}

static void retry_cb(uv_timer_t *t)
{
	struct ms_authclient *ac = t->data;
	ms_authclient__kick(ac);
	ms_authclient__dispatch(ac);
}

void ms_authclient__kick(struct ms_authclient *ac)
{
	if (ac->closing || ac->queue.head == NULL)
		return;
	if (ac->conn != NULL) {
		flush(ac);
		return;
	}
	uint64_t now = uv_now(ac->loop);
	if (now < ac->connect_after_msecs) {
		if (!uv_is_active((uv_handle_t *)&ac->retry_timer))
			uv_timer_start(&ac->retry_timer, retry_cb,
				       ac->connect_after_msecs - now, 0);
		return;
	}
	start_connect(ac);
}
