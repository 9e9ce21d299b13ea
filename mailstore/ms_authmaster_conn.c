/*
 * The connection of the auth-master client (see ms_authmaster.h and
 * ms_authmaster_private.h): connecting with back-off, writing requests,
 * reading and checking answers.
 *
 * The connection (struct conn) is its own allocation: a lost connection is
 * detached at once and freed from its close callback, while a new one may
 * already be connecting.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ms_amproto.h"
#include "ms_authmaster_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define LOG_PREFIX	  MS_AUTHMASTER_LOG_PREFIX
#define BACKOFF_MIN_MSECS 100
#define BACKOFF_MAX_MSECS 5000
#define MAX_SENDS	  2 /* a lookup lost with its connection: once more */

struct wreq {
	uv_write_t req;
	struct conn *conn;
	char *data;
};

enum drop_why {
	DROP_CONNECT,  /* connecting failed: everything waiting fails */
	DROP_LOST,     /* connection lost: the sent lookups go again once */
	DROP_PROTOCOL, /* a bad line: the sent lookups fail */
};

static void conn_close_cb(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	struct ms_authmaster *am = c->am;
	ut_buf_free(&c->in);
	free(c);
	ms_authmaster__release_handle(am);
}

void ms_authmaster__conn_detach(struct ms_authmaster *am)
{
	struct conn *c = am->conn;
	if (c == NULL)
		return;
	am->conn = NULL;
	c->active = false;
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
}

/* Drops the current connection; see enum drop_why for what happens to
   the lookups. The caller calls dispatch() afterwards (or the timer does). */
static void conn_drop(struct ms_authmaster *am, enum drop_why why,
		      const char *reason)
{
	struct conn *c = am->conn;
	bool worked = c != NULL && c->version_ok;
	struct lookup *L, *next;

	/* A socket that stays unusable is logged once, not on every try. */
	if (why == DROP_PROTOCOL)
		ut_log(UT_LOG_ERROR, LOG_PREFIX, "%s: %s; closing", am->path,
		       reason);
	else if (worked)
		/* Idle connections go when Dovecot's auth process restarts
		   (a reload): nothing was lost. */
		ut_log(am->sent.count > 0 ? UT_LOG_WARN : UT_LOG_INFO,
		       LOG_PREFIX, "%s: %s", am->path, reason);
	else if (!am->failing)
		ut_log(UT_LOG_WARN, LOG_PREFIX,
		       "%s: %s (not logged again until a connection works)",
		       am->path, reason);
	am->failing = !worked || why == DROP_PROTOCOL;
	am->stats.disconnects += c != NULL && c->connected;
	ms_authmaster__conn_detach(am);

	/* The sent lookups: again once (in their order), or fail. */
	struct lookup *again = NULL;
	for (L = am->sent.head; L != NULL; L = next) {
		next = L->snext;
		if (why == DROP_LOST && L->sends < MAX_SENDS) {
			st_remove(&am->sent, L);
			L->state = LOOKUP_QUEUED;
			L->snext = again; /* a stack, reversed below */
			again = L;
		} else {
			ms_authmaster__fail(am, L, reason);
		}
	}
	while (again != NULL) {
		L = again;
		again = L->snext;
		st_prepend(&am->queue, L);
	}
	if (why == DROP_CONNECT) {
		while ((L = am->queue.head) != NULL)
			ms_authmaster__fail(am, L, reason);
	}

	if (why == DROP_LOST && worked)
		am->backoff_msecs = 0;
	else if (am->backoff_msecs == 0)
		am->backoff_msecs = BACKOFF_MIN_MSECS;
	else if (am->backoff_msecs < BACKOFF_MAX_MSECS / 2)
		am->backoff_msecs *= 2;
	else
		am->backoff_msecs = BACKOFF_MAX_MSECS;
	am->connect_after_msecs = uv_now(am->loop) + am->backoff_msecs;
	ms_authmaster__kick(am);
	ms_authmaster__rearm(am);
}

static void conn_drop_fmt(struct ms_authmaster *am, enum drop_why why,
			  const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_drop_fmt(struct ms_authmaster *am, enum drop_why why,
			  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *reason = xvasprintf(fmt, ap);
	va_end(ap);
	conn_drop(am, why, reason);
	free(reason);
}

static bool id_issued(const struct ms_authmaster *am, uint32_t id)
{
	return id != 0 && (am->ids_wrapped || id <= am->last_id);
}

static void protocol_error(struct ms_authmaster *am, const char *what)
{
	am->stats.protocol_errors++;
	conn_drop_fmt(am, DROP_PROTOCOL, "bad answer from Dovecot: %s", what);
}

static void handle_answer(struct ms_authmaster *am,
			  const struct ms_amproto_reply *r)
{
	struct lookup *L;

	for (L = am->sent.head; L != NULL && L->id != r->id; L = L->snext)
		;
	if (L == NULL) {
		if (id_issued(am, r->id)) {
			am->stats.late++; /* it timed out meanwhile */
			return;
		}
		char *what =
		    xasprintf("an answer to id %u, never asked", r->id);
		protocol_error(am, what);
		free(what);
		return;
	}
	struct ms_authmaster_result res = {0};
	char *reason = NULL;
	switch (r->type) {
	case MS_AMPROTO_USER:
		am->stats.found++;
		res.status = MS_AUTHMASTER_FOUND;
		res.has_uid = r->has_uid;
		res.has_gid = r->has_gid;
		res.uid = (uid_t)r->uid;
		res.gid = (gid_t)r->gid;
		break;
	case MS_AMPROTO_NOTFOUND:
		am->stats.notfound++;
		res.status = MS_AUTHMASTER_NOTFOUND;
		break;
	default:
		am->stats.failed++;
		res.status = MS_AUTHMASTER_FAIL;
		reason = r->reason[0] != '\0'
			     ? xasprintf("userdb lookup failed: %s", r->reason)
			     : xstrdup("userdb lookup failed");
		break;
	}
	ms_authmaster__finish(am, L, &res, reason);
	free(reason);
}

static void handle_line(struct ms_authmaster *am, struct conn *c,
			const char *line, size_t len)
{
	struct ms_amproto_reply r;
	char *error;

	if (ms_amproto_parse(line, len, &r, &error) < 0) {
		protocol_error(am, error);
		free(error);
		return;
	}
	if (r.type == MS_AMPROTO_VERSION) {
		if (c->version_ok) {
			protocol_error(am, "VERSION twice");
		} else if (r.major != MS_AMPROTO_MAJOR) {
			char *what = xasprintf("protocol version %u, not %d",
					       r.major, MS_AMPROTO_MAJOR);
			protocol_error(am, what);
			free(what);
		} else {
			c->version_ok = true;
			am->backoff_msecs = 0;
			if (am->failing)
				ut_log(UT_LOG_INFO, LOG_PREFIX, "%s: connected",
				       am->path);
			am->failing = false;
		}
		return;
	}
	if (!c->version_ok) {
		protocol_error(am, "an answer before VERSION");
		return;
	}
	if (r.type != MS_AMPROTO_SPID)
		handle_answer(am, &r);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = handle->data;
	(void)suggested;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	struct ms_authmaster *am = c->am;

	(void)buf;
	if (!c->active || nread == 0)
		return;
	if (nread < 0) {
		conn_drop_fmt(am, DROP_LOST, "%s",
			      nread == UV_EOF ? "Dovecot closed the connection"
					      : uv_strerror((int)nread));
		ms_authmaster__dispatch(am);
		return;
	}
	ut_buf_append(&c->in, c->rbuf, (size_t)nread);
	size_t start = 0;
	while (c->active) {
		char *nl = memchr(c->in.data + start, '\n', c->in.len - start);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - (c->in.data + start));
		handle_line(am, c, c->in.data + start, len);
		start += len + 1;
	}
	if (c->active) {
		ut_buf_consume(&c->in, start);
		if (c->in.len > MS_AMPROTO_LINE_MAX)
			protocol_error(am, "a line over 8 KiB");
		else
			ms_authmaster__flush(am); /* answers freed slots */
	}
	ms_authmaster__dispatch(am);
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->conn;
	free(w->data);
	free(w);
	if (status < 0 && c->active) {
		struct ms_authmaster *am = c->am;
		conn_drop_fmt(am, DROP_LOST, "write: %s", uv_strerror(status));
		ms_authmaster__dispatch(am);
	}
}

static uint32_t next_id(struct ms_authmaster *am)
{
	if (++am->last_id == 0) {
		am->ids_wrapped = true;
		am->last_id = 1;
	}
	return am->last_id;
}

/* Sends what the connection may take: the VERSION line first, then queued
   lookups up to max_in_flight. */
void ms_authmaster__flush(struct ms_authmaster *am)
{
	struct conn *c = am->conn;
	struct ut_buf b = UT_BUF_INIT;
	struct lookup *L;

	if (c == NULL || !c->connected)
		return;
	if (!c->sent_version) {
		ut_buf_appendf(&b, "VERSION\t%d\t%d\n", MS_AMPROTO_MAJOR,
			       MS_AMPROTO_MINOR);
		c->sent_version = true;
	}
	while ((L = am->queue.head) != NULL &&
	       am->sent.count < am->set.max_in_flight) {
		st_remove(&am->queue, L);
		L->state = LOOKUP_SENT;
		L->id = next_id(am);
		L->sends++;
		st_append(&am->sent, L);
		am->stats.lookups++;
		ut_buf_appendf(&b, "USER\t%u\t%s\tservice=%s\n", L->id, L->user,
			       am->service);
	}
	if (b.len == 0)
		return;
	struct wreq *w = xcalloc(1, sizeof(*w));
	w->conn = c;
	uv_buf_t ub = uv_buf_init(b.data, (unsigned)b.len);
	w->data = ut_buf_steal(&b);
	int ret = uv_write(&w->req, (uv_stream_t *)&c->pipe, &ub, 1, write_cb);
	if (ret < 0) {
		free(w->data);
		free(w);
		conn_drop_fmt(am, DROP_LOST, "write: %s", uv_strerror(ret));
	}
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct ms_authmaster *am = c->am;

	if (!c->active)
		return;
	if (status < 0) {
		am->stats.connect_errors++;
		conn_drop_fmt(am, DROP_CONNECT, "connect: %s",
			      uv_strerror(status));
		ms_authmaster__dispatch(am);
		return;
	}
	c->connected = true;
	am->stats.connects++;
	int ret = uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
	if (ret < 0)
		conn_drop_fmt(am, DROP_LOST, "read: %s", uv_strerror(ret));
	else
		ms_authmaster__flush(am);
	ms_authmaster__dispatch(am);
}

static void start_connect(struct ms_authmaster *am)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int ret = uv_pipe_init(am->loop, &c->pipe, 0);
	ut_assert(ret == 0);
	am->open_handles++;
	c->am = am;
	c->active = true;
	c->pipe.data = c;
	c->connect_req.data = c;
	am->conn = c;
	uv_pipe_connect(&c->connect_req, &c->pipe, am->path, connect_cb);
}

static void retry_cb(uv_timer_t *t)
{
	struct ms_authmaster *am = t->data;
	ms_authmaster__kick(am);
	ms_authmaster__dispatch(am);
}

/* Gets queued lookups moving: sends them, or connects (after the
   back-off). */
void ms_authmaster__kick(struct ms_authmaster *am)
{
	if (am->closing || am->queue.head == NULL)
		return;
	if (am->conn != NULL) {
		ms_authmaster__flush(am);
		return;
	}
	uint64_t now = uv_now(am->loop);
	if (now < am->connect_after_msecs) {
		if (!uv_is_active((uv_handle_t *)&am->retry_timer))
			uv_timer_start(&am->retry_timer, retry_cb,
				       am->connect_after_msecs - now, 0);
		return;
	}
	start_connect(am);
}
