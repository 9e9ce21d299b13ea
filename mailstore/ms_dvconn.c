/*
 * The connection of a Dovecot auth client (see ms_dvconn.h): connecting
 * with back-off, the bounded line reader, writes, logging a socket that
 * cannot be used, closing.
 *
 * Each connection (struct conn) is its own allocation with its input
 * buffer: a dropped one is detached (inactive) at once and freed from its
 * close callback. struct ms_dvconn counts its open handles (the retry
 * timer and every connection not yet closed) and goes, calling closed(),
 * when ms_dvconn_free() was called and the last one is closed.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "ms_dvconn.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define BACKOFF_MIN_MSECS 100
#define BACKOFF_MAX_MSECS 5000

struct conn {
	struct ms_dvconn *dc;
	bool active; /* still dc->conn */
	bool connected, ready;
	uv_pipe_t pipe;
	uv_connect_t connect_req;
	size_t in_len;
	char in[]; /* line_max + 2: a line, its '\n' and a spare */
};

struct ms_dvconn {
	uv_loop_t *loop;
	char *path;
	const char *log_prefix;
	size_t line_max;
	const struct ms_dvconn_ops *ops;
	void *ctx;
	struct conn *conn;
	uv_timer_t retry_timer; /* reconnect back-off */
	unsigned open_handles;
	bool closing;
	bool failing; /* the last connection did not work (logged once) */
	unsigned backoff_msecs;
	uint64_t connect_after_msecs;
	struct ms_dvconn_stats stats;
};

struct wreq {
	uv_write_t req;
	struct conn *conn;
	char *data;
	size_t len;
};

int ms_dvconn_check_path(const char *path, const char *what, char **error_r)
{
	struct sockaddr_un sun;

	*error_r = NULL;
	if (path == NULL || path[0] != '/') {
		*error_r =
		    xasprintf("the %s socket needs an absolute path", what);
		return -1;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = xasprintf("%s socket path too long (max %zu "
				     "bytes): %s",
				     what, sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	return 0;
}

static void release_handle(struct ms_dvconn *dc)
{
	ut_assert(dc->open_handles > 0);
	if (--dc->open_handles > 0 || !dc->closing)
		return;
	const struct ms_dvconn_ops *ops = dc->ops;
	void *ctx = dc->ctx;
	free(dc->path);
	free(dc);
	ops->closed(ctx);
}

static void conn_close_cb(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	struct ms_dvconn *dc = c->dc;
	explicit_bzero(c->in, dc->line_max + 2);
	free(c);
	release_handle(dc);
}

/* Closes the connection, if any. */
static void detach(struct ms_dvconn *dc)
{
	struct conn *c = dc->conn;
	if (c == NULL)
		return;
	dc->conn = NULL;
	c->active = false;
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
}

void ms_dvconn_drop(struct ms_dvconn *dc, enum ms_dvconn_why why,
		    const char *reason, bool busy)
{
	struct conn *c = dc->conn;
	bool worked = c != NULL && c->ready;
	const char *prefix = dc->log_prefix;

	/* A socket that stays unusable is logged once, not on every try. */
	if (why == MS_DVCONN_PROTOCOL)
		ut_log(UT_LOG_ERROR, prefix, "%s: %s; closing", dc->path,
		       reason);
	else if (why == MS_DVCONN_HANDSHAKE && !dc->failing)
		ut_log(UT_LOG_ERROR, prefix,
		       "%s: %s; closing (not logged again until a connection "
		       "works)",
		       dc->path, reason);
	else if (worked)
		/* Idle connections go when Dovecot's auth process restarts
		   (a reload): nothing was lost. */
		ut_log(busy ? UT_LOG_WARN : UT_LOG_INFO, prefix, "%s: %s",
		       dc->path, reason);
	else if (!dc->failing)
		ut_log(UT_LOG_WARN, prefix,
		       "%s: %s (not logged again until a connection works)",
		       dc->path, reason);
	dc->failing = !worked || why != MS_DVCONN_LOST;
	dc->stats.disconnects += c != NULL && c->connected;
	detach(dc);

	if (why == MS_DVCONN_LOST && worked)
		dc->backoff_msecs = 0;
	else if (dc->backoff_msecs == 0)
		dc->backoff_msecs = BACKOFF_MIN_MSECS;
	else if (dc->backoff_msecs < BACKOFF_MAX_MSECS / 2)
		dc->backoff_msecs *= 2;
	else
		dc->backoff_msecs = BACKOFF_MAX_MSECS;
	dc->connect_after_msecs = uv_now(dc->loop) + dc->backoff_msecs;
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = handle->data;
	(void)suggested;
	/* in_len <= line_max after every read: room >= 1. */
	*buf = uv_buf_init(c->in + c->in_len,
			   (unsigned)(c->dc->line_max + 1 - c->in_len));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	struct ms_dvconn *dc = c->dc;

	(void)buf;
	if (!c->active || nread == 0)
		return;
	if (nread < 0) {
		dc->ops->failed(dc->ctx, MS_DVCONN_LOST,
				nread == UV_EOF
				    ? "Dovecot closed the connection"
				    : uv_strerror((int)nread));
		dc->ops->settle(dc->ctx);
		return;
	}
	c->in_len += (size_t)nread;
	size_t start = 0;
	while (c->active) {
		char *nl = memchr(c->in + start, '\n', c->in_len - start);
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - (c->in + start));
		dc->ops->line(dc->ctx, c->in + start, len);
		start += len + 1;
	}
	if (c->active) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
		explicit_bzero(c->in + c->in_len, start);
		if (c->in_len > dc->line_max) {
			char *what = xasprintf("a line over %zu KiB",
					       dc->line_max / 1024);
			dc->ops->failed(dc->ctx, MS_DVCONN_PROTOCOL, what);
			free(what);
		} else {
			dc->ops->kick(dc->ctx); /* answers freed slots */
		}
	}
	dc->ops->settle(dc->ctx);
}

/* ---- writing ---- */

static void wreq_free(struct wreq *w)
{
	explicit_bzero(w->data, w->len);
	free(w->data);
	free(w);
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->conn;
	wreq_free(w);
	if (status < 0 && c->active) {
		struct ms_dvconn *dc = c->dc;
		char *reason = xasprintf("write: %s", uv_strerror(status));
		dc->ops->failed(dc->ctx, MS_DVCONN_LOST, reason);
		free(reason);
		dc->ops->settle(dc->ctx);
	}
}

int ms_dvconn_write(struct ms_dvconn *dc, const char *data, size_t len,
		    char **error_r)
{
	struct conn *c = dc->conn;

	*error_r = NULL;
	ut_assert(c != NULL && c->connected);
	struct wreq *w = xcalloc(1, sizeof(*w));
	w->conn = c;
	w->data = xmalloc(len);
	w->len = len;
	memcpy(w->data, data, len);
	uv_buf_t ub = uv_buf_init(w->data, (unsigned)len);
	int ret = uv_write(&w->req, (uv_stream_t *)&c->pipe, &ub, 1, write_cb);
	if (ret < 0) {
		wreq_free(w);
		*error_r = xasprintf("write: %s", uv_strerror(ret));
		return -1;
	}
	return 0;
}

/* ---- connecting ---- */

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct ms_dvconn *dc = c->dc;

	if (!c->active)
		return;
	if (status < 0) {
		char *reason = xasprintf("connect: %s", uv_strerror(status));
		dc->stats.connect_errors++;
		dc->ops->failed(dc->ctx, MS_DVCONN_CONNECT, reason);
		free(reason);
		dc->ops->settle(dc->ctx);
		return;
	}
	c->connected = true;
	dc->stats.connects++;
	int ret = uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
	if (ret < 0) {
		char *reason = xasprintf("read: %s", uv_strerror(ret));
		dc->ops->failed(dc->ctx, MS_DVCONN_LOST, reason);
		free(reason);
	} else {
		dc->ops->connected(dc->ctx);
	}
	dc->ops->settle(dc->ctx);
}

static void start_connect(struct ms_dvconn *dc)
{
	struct conn *c = xcalloc(1, sizeof(*c) + dc->line_max + 2);
	int ret = uv_pipe_init(dc->loop, &c->pipe, 0);
	ut_assert(ret == 0);
	dc->open_handles++;
	c->dc = dc;
	c->active = true;
	c->pipe.data = c;
	c->connect_req.data = c;
	dc->conn = c;
	uv_pipe_connect(&c->connect_req, &c->pipe, dc->path, connect_cb);
}

static void retry_cb(uv_timer_t *t)
{
	struct ms_dvconn *dc = t->data;
	dc->ops->kick(dc->ctx);
	dc->ops->settle(dc->ctx);
}

void ms_dvconn_connect(struct ms_dvconn *dc)
{
	ut_assert(!dc->closing);
	if (dc->conn != NULL)
		return;
	uint64_t now = uv_now(dc->loop);
	if (now < dc->connect_after_msecs) {
		if (!uv_is_active((uv_handle_t *)&dc->retry_timer))
			uv_timer_start(&dc->retry_timer, retry_cb,
				       dc->connect_after_msecs - now, 0);
		return;
	}
	start_connect(dc);
}

/* ---- the rest of the API ---- */

struct ms_dvconn *ms_dvconn_new(uv_loop_t *loop, const char *path,
				const char *log_prefix, size_t line_max,
				const struct ms_dvconn_ops *ops, void *ctx)
{
	struct ms_dvconn *dc = xcalloc(1, sizeof(*dc));
	ut_assert(line_max >= 1024);
	dc->loop = loop;
	dc->path = xstrdup(path);
	dc->log_prefix = log_prefix;
	dc->line_max = line_max;
	dc->ops = ops;
	dc->ctx = ctx;
	uv_timer_init(loop, &dc->retry_timer);
	dc->retry_timer.data = dc;
	dc->open_handles = 1;
	return dc;
}

static void timer_close_cb(uv_handle_t *handle)
{
	release_handle(handle->data);
}

void ms_dvconn_free(struct ms_dvconn **dcp)
{
	struct ms_dvconn *dc = *dcp;
	if (dc == NULL)
		return;
	*dcp = NULL;
	ut_assert(!dc->closing);
	dc->closing = true;
	detach(dc);
	uv_close((uv_handle_t *)&dc->retry_timer, timer_close_cb);
}

bool ms_dvconn_exists(const struct ms_dvconn *dc)
{
	return dc->conn != NULL;
}

bool ms_dvconn_connected(const struct ms_dvconn *dc)
{
	return dc->conn != NULL && dc->conn->connected;
}

bool ms_dvconn_ready(const struct ms_dvconn *dc)
{
	return dc->conn != NULL && dc->conn->ready;
}

void ms_dvconn_set_ready(struct ms_dvconn *dc)
{
	ut_assert(dc->conn != NULL);
	dc->conn->ready = true;
	dc->backoff_msecs = 0;
	if (dc->failing)
		ut_log(UT_LOG_INFO, dc->log_prefix, "%s: connected", dc->path);
	dc->failing = false;
}

void ms_dvconn_get_stats(const struct ms_dvconn *dc,
			 struct ms_dvconn_stats *stats_r)
{
	*stats_r = dc->stats;
}
