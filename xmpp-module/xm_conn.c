/*
 * The reconnecting TCP client under the component stream. States: IDLE
 * (backoff timer or not started), RESOLVING, CONNECTING, UP, DOWN (socket
 * closing). Every failure goes through xm_conn_fail(); the socket's close
 * callback then tries the next address or schedules the next attempt.
 */
#include "xm_conn.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"
#include "xm_backoff.h"

#define XM_CONN_READ_BYTES 65536

enum xm_conn_state {
	XM_CONN_IDLE,
	XM_CONN_RESOLVING,
	XM_CONN_CONNECTING,
	XM_CONN_UP,
	XM_CONN_DOWN
};

struct xm_conn {
	uv_loop_t *loop;
	char *host;
	uint16_t port;
	uint64_t connect_timeout_msecs;
	struct xm_conn_callbacks cb;
	void *ctx;

	enum xm_conn_state state;
	uint64_t gen; /* connection number: stale write callbacks */
	bool started, closing, resolving, tcp_open;
	/* Timers not yet released: one per uv_timer_init, counted where each
	   is initialised (the socket is tracked by tcp_open). */
	unsigned open_timers;
	void (*close_cb)(void *ctx);
	void *close_ctx;
	const char *deadline_what;

	uv_getaddrinfo_t gai;
	struct addrinfo *ai_list, *ai_next;
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_timer_t backoff_timer, deadline_timer;
	struct xm_backoff backoff;
	char read_buf[XM_CONN_READ_BYTES];
};

struct xm_conn_write {
	uv_write_t req;
	struct xm_conn *k;
	uint64_t gen;
	char *data;
};

static void xm_conn_begin(struct xm_conn *k);
static void xm_conn_connect_next(struct xm_conn *k);

static void xm_conn_free_addrs(struct xm_conn *k)
{
	if (k->ai_list != NULL)
		uv_freeaddrinfo(k->ai_list);
	k->ai_list = k->ai_next = NULL;
}

static void xm_conn_maybe_free(struct xm_conn *k)
{
	void (*close_cb)(void *) = k->close_cb;
	void *close_ctx = k->close_ctx;

	if (!k->closing || k->open_timers > 0 || k->resolving || k->tcp_open)
		return;
	xm_conn_free_addrs(k);
	free(k->host);
	free(k);
	if (close_cb != NULL)
		close_cb(close_ctx);
}

static void xm_conn_handle_closed_cb(uv_handle_t *h)
{
	struct xm_conn *k = h->data;

	k->open_timers--;
	xm_conn_maybe_free(k);
}

static void xm_conn_retry_cb(uv_timer_t *t)
{
	xm_conn_begin(t->data);
}

static void xm_conn_retry_later(struct xm_conn *k);

static void xm_conn_tcp_closed_cb(uv_handle_t *h)
{
	struct xm_conn *k = h->data;

	k->tcp_open = false;
	if (k->closing)
		xm_conn_maybe_free(k);
	else if (k->ai_next != NULL)
		xm_conn_connect_next(k);
	else
		xm_conn_retry_later(k);
}

void xm_conn_fail(struct xm_conn *k, enum ut_log_level level, const char *fmt,
		  ...)
{
	bool was_up = k->state == XM_CONN_UP;
	va_list ap;

	if (k->closing || k->state == XM_CONN_DOWN ||
	    k->state == XM_CONN_IDLE || k->state == XM_CONN_RESOLVING)
		return;
	va_start(ap, fmt);
	ut_logv(level, "xmpp", fmt, ap);
	va_end(ap);
	/* Only a failed connect goes on with the host's next address. */
	if (k->state != XM_CONN_CONNECTING)
		xm_conn_free_addrs(k);
	k->state = XM_CONN_DOWN;
	uv_timer_stop(&k->deadline_timer);
	if (k->tcp_open && !uv_is_closing((uv_handle_t *)&k->tcp))
		uv_close((uv_handle_t *)&k->tcp, xm_conn_tcp_closed_cb);
	if (was_up && k->cb.down != NULL)
		k->cb.down(k, k->ctx);
}

static void xm_conn_deadline_cb(uv_timer_t *t)
{
	struct xm_conn *k = t->data;

	xm_conn_fail(k, UT_LOG_WARN, "%s:%u: %s: reconnecting", k->host,
		     k->port, k->deadline_what);
}

void xm_conn_deadline(struct xm_conn *k, uint64_t msecs, const char *what)
{
	if (k->closing)
		return;
	if (msecs == 0) {
		uv_timer_stop(&k->deadline_timer);
		return;
	}
	k->deadline_what = what;
	uv_timer_start(&k->deadline_timer, xm_conn_deadline_cb, msecs, 0);
}

static void xm_conn_write_cb(uv_write_t *req, int status)
{
	struct xm_conn_write *w = (struct xm_conn_write *)req;
	struct xm_conn *k = w->k;
	uint64_t gen = w->gen;

	free(w->data);
	free(w);
	/* Cancelled writes belong to a socket that is already closing. */
	if (status < 0 && status != UV_ECANCELED && gen == k->gen)
		xm_conn_fail(k, UT_LOG_WARN, "writing to %s:%u failed: %s",
			     k->host, k->port, uv_strerror(status));
}

int xm_conn_write(struct xm_conn *k, struct ut_buf *b)
{
	struct xm_conn_write *w;
	uv_buf_t ub;
	int rc;

	if (k->state != XM_CONN_UP || k->closing) {
		ut_buf_reset(b);
		return -1;
	}
	w = xmalloc(sizeof(*w));
	w->k = k;
	w->gen = k->gen;
	ub.len = b->len;
	w->data = ut_buf_steal(b);
	ub.base = w->data;
	/* libuv writes what it can now and queues the rest (partial
	   writes); the callback reports the final outcome. */
	rc =
	    uv_write(&w->req, (uv_stream_t *)&k->tcp, &ub, 1, xm_conn_write_cb);
	if (rc < 0) {
		free(w->data);
		free(w);
		xm_conn_fail(k, UT_LOG_WARN, "writing to %s:%u failed: %s",
			     k->host, k->port, uv_strerror(rc));
		return -1;
	}
	return 0;
}

static void xm_conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct xm_conn *k = h->data;

	(void)suggested;
	buf->base = k->read_buf;
	buf->len = sizeof(k->read_buf);
}

static void xm_conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct xm_conn *k = s->data;

	if (nread == UV_EOF)
		xm_conn_fail(k, UT_LOG_WARN, "%s:%u closed the connection",
			     k->host, k->port);
	else if (nread < 0)
		xm_conn_fail(k, UT_LOG_WARN, "reading from %s:%u failed: %s",
			     k->host, k->port, uv_strerror((int)nread));
	else if (nread > 0 && k->cb.data != NULL)
		k->cb.data(k, buf->base, (size_t)nread, k->ctx);
}

static void xm_conn_connect_cb(uv_connect_t *req, int status)
{
	struct xm_conn *k = req->data;

	if (status == UV_ECANCELED || k->closing ||
	    k->state != XM_CONN_CONNECTING)
		return;
	if (status < 0) {
		xm_conn_fail(k, UT_LOG_WARN, "connecting to %s:%u failed: %s",
			     k->host, k->port, uv_strerror(status));
		return;
	}
	xm_conn_free_addrs(k);
	k->state = XM_CONN_UP;
	uv_timer_stop(&k->deadline_timer);
	uv_read_start((uv_stream_t *)&k->tcp, xm_conn_alloc_cb,
		      xm_conn_read_cb);
	if (k->cb.connected != NULL)
		k->cb.connected(k, k->ctx);
}

static void xm_conn_connect_next(struct xm_conn *k)
{
	struct addrinfo *ai = k->ai_next;
	int rc;

	k->ai_next = ai->ai_next;
	k->gen++;
	k->state = XM_CONN_CONNECTING;
	uv_tcp_init(k->loop, &k->tcp);
	k->tcp.data = k;
	k->tcp_open = true;
	uv_tcp_nodelay(&k->tcp, 1);
	k->connect_req.data = k;
	k->deadline_what = "connecting timed out";
	uv_timer_start(&k->deadline_timer, xm_conn_deadline_cb,
		       k->connect_timeout_msecs, 0);
	rc = uv_tcp_connect(&k->connect_req, &k->tcp, ai->ai_addr,
			    xm_conn_connect_cb);
	if (rc < 0)
		xm_conn_fail(k, UT_LOG_WARN, "connecting to %s:%u failed: %s",
			     k->host, k->port, uv_strerror(rc));
}

static void xm_conn_retry_later(struct xm_conn *k)
{
	uint64_t delay_msecs = xm_backoff_next(&k->backoff);

	xm_conn_free_addrs(k);
	k->state = XM_CONN_IDLE;
	if (ut_log_enabled(UT_LOG_DEBUG))
		ut_log(UT_LOG_DEBUG, "xmpp", "reconnecting to %s:%u in %llu ms",
		       k->host, k->port, (unsigned long long)delay_msecs);
	uv_timer_start(&k->backoff_timer, xm_conn_retry_cb, delay_msecs, 0);
}

static void xm_conn_resolved_cb(uv_getaddrinfo_t *req, int status,
				struct addrinfo *res)
{
	struct xm_conn *k = req->data;

	k->resolving = false;
	if (k->closing) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		xm_conn_maybe_free(k);
		return;
	}
	if (status < 0 || res == NULL) {
		ut_log(UT_LOG_WARN, "xmpp", "cannot resolve %s: %s", k->host,
		       uv_strerror(status));
		xm_conn_retry_later(k);
		return;
	}
	k->ai_list = k->ai_next = res;
	xm_conn_connect_next(k);
}

static void xm_conn_begin(struct xm_conn *k)
{
	struct addrinfo hints;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", k->port);
	k->state = XM_CONN_RESOLVING;
	k->gai.data = k;
	rc = uv_getaddrinfo(k->loop, &k->gai, xm_conn_resolved_cb, k->host,
			    port, &hints);
	if (rc < 0) {
		ut_log(UT_LOG_WARN, "xmpp", "cannot resolve %s: %s", k->host,
		       uv_strerror(rc));
		xm_conn_retry_later(k);
		return;
	}
	k->resolving = true;
}

struct xm_conn *xm_conn_new(uv_loop_t *loop, const char *host, uint16_t port,
			    uint64_t reconnect_min_msecs,
			    uint64_t reconnect_max_msecs,
			    uint64_t connect_timeout_msecs,
			    const struct xm_conn_callbacks *cb, void *ctx)
{
	struct xm_conn *k = xcalloc(1, sizeof(*k));

	k->loop = loop;
	k->host = xstrdup(host);
	k->port = port;
	k->connect_timeout_msecs = connect_timeout_msecs;
	k->cb = *cb;
	k->ctx = ctx;
	xm_backoff_init(&k->backoff, reconnect_min_msecs, reconnect_max_msecs,
			0);
	uv_timer_init(loop, &k->backoff_timer);
	k->open_timers++;
	uv_timer_init(loop, &k->deadline_timer);
	k->open_timers++;
	k->backoff_timer.data = k->deadline_timer.data = k;
	return k;
}

void xm_conn_start(struct xm_conn *k)
{
	if (k->started || k->closing)
		return;
	k->started = true;
	xm_conn_begin(k);
}

void xm_conn_backoff_reset(struct xm_conn *k)
{
	xm_backoff_reset(&k->backoff);
}

void xm_conn_close(struct xm_conn **kp, void (*close_cb)(void *ctx), void *ctx)
{
	struct xm_conn *k = *kp;

	if (k == NULL)
		return;
	*kp = NULL;
	if (k->closing)
		return;
	k->closing = true;
	k->close_cb = close_cb;
	k->close_ctx = ctx;
	if (k->resolving)
		uv_cancel((uv_req_t *)&k->gai);
	if (k->tcp_open && !uv_is_closing((uv_handle_t *)&k->tcp))
		uv_close((uv_handle_t *)&k->tcp, xm_conn_tcp_closed_cb);
	uv_close((uv_handle_t *)&k->backoff_timer, xm_conn_handle_closed_cb);
	uv_close((uv_handle_t *)&k->deadline_timer, xm_conn_handle_closed_cb);
}
