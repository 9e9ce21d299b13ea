#ifndef XM_CONN_H
#define XM_CONN_H

/*
 * A TCP client connection on libuv that keeps coming back: resolves the
 * host (uv_getaddrinfo, off the loop), tries each address, and after any
 * failure closes the socket and tries again after a capped exponential
 * backoff with full jitter (xm_backoff.h). The XMPP stream on top of it
 * lives in xm_component.c; this file knows nothing about XML.
 *
 * One loop thread. Callbacks fire from the loop. xm_conn_close() may be
 * called from inside any callback; it defers the free.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ut_buf.h"
#include "ut_log.h"

struct xm_conn;

struct xm_conn_callbacks {
	/* The TCP connection is up. */
	void (*connected)(struct xm_conn *k, void *ctx);
	/* Bytes arrived (valid during the call only). */
	void (*data)(struct xm_conn *k, const char *data, size_t len,
		     void *ctx);
	/* A connection that was up is gone (the next attempt is scheduled).
	   Not called after xm_conn_close(). */
	void (*down)(struct xm_conn *k, void *ctx);
};

/* host is copied. connect_timeout_msecs bounds resolving plus connecting. */
struct xm_conn *xm_conn_new(uv_loop_t *loop, const char *host, uint16_t port,
			    uint64_t reconnect_min_msecs,
			    uint64_t reconnect_max_msecs,
			    uint64_t connect_timeout_msecs,
			    const struct xm_conn_callbacks *cb, void *ctx);
/* Starts the first attempt; no-op once started. */
void xm_conn_start(struct xm_conn *k);
/*
 * Writes b's content and empties b. Returns 0, or -1 when the connection
 * is not up or the write failed (then the connection was failed).
 */
int xm_conn_write(struct xm_conn *k, struct ut_buf *b);
/*
 * Logs the reason under the "xmpp" prefix at level, closes the socket,
 * calls down (if it was up) and schedules the next attempt. No-op when no
 * attempt is in progress.
 */
void xm_conn_fail(struct xm_conn *k, enum ut_log_level level, const char *fmt,
		  ...) __attribute__((format(printf, 3, 4)));
/*
 * While up: fail the connection with "what" unless xm_conn_deadline() is
 * called again within msecs (0 clears). what must be a static string.
 */
void xm_conn_deadline(struct xm_conn *k, uint64_t msecs, const char *what);
/* After a connection that stayed up: the next wait is short again. */
void xm_conn_backoff_reset(struct xm_conn *k);
/*
 * Sets *k to NULL, closes the connection and frees it once libuv released
 * its handles; close_cb (may be NULL) fires then. No other callback fires
 * after this call. No-op when *k is NULL.
 */
void xm_conn_close(struct xm_conn **k, void (*close_cb)(void *ctx), void *ctx);

#endif
