/*
 * The metrics endpoint on GNU libmicrohttpd (MHD).
 *
 * Threading. MHD answers on a thread of its own (one internal polling
 * thread for every connection), but the numbers belong to the loop's
 * thread: br_status_collect() walks module state that only the loop may
 * touch. So each scrape asks the loop for a fresh snapshot: the handler
 * bumps `asked`, wakes the loop with a uv_async_t and waits on a condition
 * variable until `answered` catches up, at most SNAPSHOT_WAIT_MSECS (then
 * 503: a loop that busy has bigger problems, and the scraper retries).
 * Chosen over a copy refreshed every second because a scrape then shows
 * exactly what `tidingsctl status` shows at that moment, and an idle
 * tidingsd does no work for metrics nobody reads (collecting walks every
 * user whose presence is known). Scrapes arriving together share one
 * collect: libuv coalesces async sends and the handler accepts any
 * snapshot taken after it asked.
 *
 * Stopping (loop thread): `closing` is set and the condition broadcast, so
 * a handler still waiting answers 503 at once; MHD_stop_daemon() then
 * closes the connections and joins MHD's thread; only then is the async
 * handle closed, so no uv_async_send() can reach a closed handle.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_metrics.h"
#include "br_metrics_text.h"
#include "br_status.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define SNAPSHOT_WAIT_MSECS 2000
#define MAX_CONNECTIONS	    16
#define MAX_PER_IP	    8 /* one address cannot take them all */
#define CONN_TIMEOUT_SECS   10
/* Per connection: the request head (a scraper's is a few hundred bytes)
   and MHD's reply headers; the body is our own buffer. */
#define CONN_MEMORY_BYTES 8192

struct br_metrics {
	uv_async_t async; /* MHD's thread -> loop: take a snapshot */
	const struct br_status_meter *meter;
	struct MHD_Daemon *mhd;
	char where[64]; /* "127.0.0.1:9747", for the log */

	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t answered_cond;
	uint64_t asked;	   /* the latest request's number */
	uint64_t answered; /* requests up to this one have snap */
	struct br_status snap;
	uint64_t snap_msecs; /* CLOCK_MONOTONIC when snap was taken; 0 */
	bool closing;
	bool starting; /* MHD's messages go to start_error */
	char start_error[256];
};

/* A snapshot this fresh answers a scrape without asking the loop: a
   scraper in a tight loop costs the loop at most one collect a second. */
#define SNAPSHOT_FRESH_MSECS 1000

static uint64_t mono_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Loop thread: one snapshot answers every request made before it. */
static void async_cb(uv_async_t *h)
{
	struct br_metrics *m = h->data;
	struct br_status st;

	pthread_mutex_lock(&m->lock);
	uint64_t upto = m->asked;
	pthread_mutex_unlock(&m->lock);
	br_status_collect(m->meter, &st);
	pthread_mutex_lock(&m->lock);
	m->snap = st;
	m->snap_msecs = mono_msecs();
	m->answered = upto;
	pthread_cond_broadcast(&m->answered_cond);
	pthread_mutex_unlock(&m->lock);
}

/* MHD's thread: a snapshot taken after now, or false (closing, or the
   loop did not answer in time). */
static bool snapshot(struct br_metrics *m, struct br_status *st)
{
	struct timespec deadline;
	bool ok = false;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += SNAPSHOT_WAIT_MSECS / 1000;
	deadline.tv_nsec += (SNAPSHOT_WAIT_MSECS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	if (m->closing) {
		pthread_mutex_unlock(&m->lock);
		return false;
	}
	if (m->snap_msecs != 0 &&
	    mono_msecs() - m->snap_msecs < SNAPSHOT_FRESH_MSECS) {
		*st = m->snap;
		pthread_mutex_unlock(&m->lock);
		return true;
	}
	uint64_t mine = ++m->asked;
	pthread_mutex_unlock(&m->lock);
	/* The handle is closed only after MHD's thread was joined. */
	uv_async_send(&m->async);
	pthread_mutex_lock(&m->lock);
	while (m->answered < mine && !m->closing) {
		if (pthread_cond_timedwait(&m->answered_cond, &m->lock,
					   &deadline) == ETIMEDOUT)
			break;
	}
	if (m->answered >= mine) {
		*st = m->snap;
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *type, char *body, size_t len,
			     bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	enum MHD_Result res = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return res;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
				  const char *text)
{
	return reply(conn, status, "text/plain; charset=utf-8", (char *)text,
		     strlen(text), false);
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return (cl != NULL && strcmp(cl, "0") != 0) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
		   NULL;
}

/* MHD's thread. Every request is answered on its first call, before any
   body is read (MHD then discards the body and closes the connection). */
static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct br_metrics *m = cls;
	struct br_status st;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "only GET and HEAD\n");
	if (has_body(conn))
		return reply_text(conn, MHD_HTTP_BAD_REQUEST,
				  "a request body is not accepted\n");
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
				  "the metrics are at /metrics\n");
	if (!snapshot(m, &st))
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "tidingsd did not answer in time\n");
	enum br_metrics_format f =
	    br_metrics_negotiate(MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
	size_t len;
	char *text = br_metrics_render(&st, f, &len);
	return reply(conn, MHD_HTTP_OK, br_metrics_content_type(f), text, len,
		     true);
}

/* Any thread. While starting, MHD's complaint becomes the start error;
   later ones come from peers and go to the debug log only. */
static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	struct br_metrics *m = cls;
	char line[256];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	pthread_mutex_lock(&m->lock);
	bool starting = m->starting;
	if (starting && m->start_error[0] == '\0')
		snprintf(m->start_error, sizeof(m->start_error), "%s", line);
	pthread_mutex_unlock(&m->lock);
	if (!starting)
		log_debug("metrics: %s", line);
}

/* 127.0.0.0/8 or ::1. */
static bool is_loopback(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)addr)
				  ->sin_addr.s_addr) >>
			24) == 127;
	return addr->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(
		   &((const struct sockaddr_in6 *)(const void *)addr)
			->sin6_addr);
}

static void free_metrics(struct br_metrics *m)
{
	pthread_cond_destroy(&m->answered_cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void async_closed_cb(uv_handle_t *h)
{
	free_metrics(h->data);
}

int br_metrics_start(uv_loop_t *loop, const char *listen,
		     const struct br_status_meter *meter,
		     struct br_metrics **m_r, char **error_r)
{
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *why;
	pthread_condattr_t ca;

	if (br_metrics_parse_listen(listen, &addr, &addr_len, &why) < 0) {
		*error_r = xasprintf("'%s': %s", listen, why);
		return -1;
	}
	struct br_metrics *m = xcalloc(1, sizeof(*m));
	m->meter = meter;
	br_metrics_format_addr(&addr, m->where, sizeof(m->where));
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->answered_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Before MHD's thread exists: its first scrape sends on it. */
	uv_async_init(loop, &m->async, async_cb);
	m->async.data = m;

	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6; /* and IPV6_V6ONLY: exactly that */
	uint16_t port =
	    ntohs(addr.ss_family == AF_INET6
		      ? ((struct sockaddr_in6 *)(void *)&addr)->sin6_port
		      : ((struct sockaddr_in *)(void *)&addr)->sin_port);
	m->starting = true;
	/* clang-format off */
	/* The port only for MHD's messages: SOCK_ADDR says where. */
	m->mhd = MHD_start_daemon(flags, port, NULL, NULL, access_cb, m,
	    /* First, so that MHD's complaints about the rest reach us. */
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, m,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)MAX_PER_IP,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_SECS,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_BYTES,
	    MHD_OPTION_END);
	/* clang-format on */
	pthread_mutex_lock(&m->lock);
	m->starting = false;
	pthread_mutex_unlock(&m->lock);
	if (m->mhd == NULL) {
		*error_r = xasprintf("cannot listen on %s: %s", m->where,
				     m->start_error[0] != '\0'
					 ? m->start_error
					 : "libmicrohttpd did not start");
		uv_close((uv_handle_t *)&m->async, async_closed_cb);
		return -1;
	}
	log_info("metrics: serving http://%s/metrics", m->where);
	if (!is_loopback(&addr))
		log_warn("metrics: %s is not a loopback address, and the "
			 "endpoint has no authentication or TLS: let only the "
			 "scraper reach it (a firewall, or a reverse proxy)",
			 m->where);
	*m_r = m;
	return 0;
}

void br_metrics_stop(struct br_metrics **mp)
{
	struct br_metrics *m = *mp;
	if (m == NULL)
		return;
	*mp = NULL;
	pthread_mutex_lock(&m->lock);
	m->closing = true;
	pthread_cond_broadcast(&m->answered_cond);
	pthread_mutex_unlock(&m->lock);
	MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
	uv_close((uv_handle_t *)&m->async, async_closed_cb);
}
