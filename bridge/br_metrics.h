#ifndef BR_METRICS_H
#define BR_METRICS_H

/*
 * The metrics endpoint ([metrics] listen): GNU libmicrohttpd serves
 * GET/HEAD /metrics on exactly the configured address, in the Prometheus
 * text format or OpenMetrics (br_metrics_text.h), from a struct br_status
 * taken on the loop's thread for a scrape (at most a second before: one
 * snapshot answers the scrapes of that second). Anything else gets 404 (other
 * paths), 405 (other methods) or 400 (a request body).
 *
 * Threads: libmicrohttpd runs one thread of its own; br_metrics_start()
 * and br_metrics_stop() are called on the loop's thread.
 */

#include <uv.h>

struct br_status_meter;
struct br_metrics;

/*
 * Binds `listen` (a value br_metrics_parse_listen() accepts) and starts
 * serving. meter must outlive the server. Returns 0 and *m_r, or -1 and
 * a message in *error_r (caller frees) such as "cannot listen on
 * 127.0.0.1:9747: Address already in use" (then a handle is still being
 * closed: the loop must run once more, as it does when tidingsd stops).
 */
int br_metrics_start(uv_loop_t *loop, const char *listen,
		     const struct br_status_meter *meter,
		     struct br_metrics **m_r, char **error_r);

/*
 * Stops serving: a scrape waiting for the loop is answered 503, open
 * connections are closed, libmicrohttpd's thread is joined; then the
 * loop-side handle is closed (its memory goes in the close callback, so
 * the loop must run once more). *m is set to NULL; NULL is a no-op.
 */
void br_metrics_stop(struct br_metrics **m);

#endif
