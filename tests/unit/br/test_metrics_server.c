/*
 * The metrics endpoint (br_metrics.c) on a real socket: status codes,
 * headers and bodies over HTTP, the snapshot handed over by the loop,
 * 503 when the loop does not answer, a stop with a scrape in flight, and
 * the error when the address is taken. The meter has no sources, so the
 * figures are zeros; their text is test_metrics.c's business.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "br_metrics.h"
#include "br_status.h"
#include "test.h"
#include "ut_buf.h"

static unsigned free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

static double now_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct exchange {
	unsigned port;
	const char *request;
	struct ut_buf reply; /* all the server sent until it closed */
	int status;	     /* 0: no status line */
	double secs;
};

/* Sends the request, reads until the server closes. */
static void exchange(struct exchange *x)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 10};
	char buf[4096];
	ssize_t n;
	double t0 = now_secs();

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((in_port_t)x->port);
	ut_buf_init(&x->reply);
	x->status = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    write(fd, x->request, strlen(x->request)) ==
		(ssize_t)strlen(x->request)) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			ut_buf_append(&x->reply, buf, (size_t)n);
	}
	close(fd);
	x->secs = now_secs() - t0;
	const char *r = ut_buf_str(&x->reply);
	if (strncmp(r, "HTTP/1.1 ", 9) == 0)
		x->status = atoi(r + 9);
}

static const char *body_of(const struct exchange *x)
{
	const char *p = strstr(ut_buf_str(&x->reply), "\r\n\r\n");
	return p != NULL ? p + 4 : "";
}

/* The value of a header (case as sent by MHD), in buf. */
static const char *header_of(const struct exchange *x, const char *name,
			     char *buf, size_t size)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\r\n%s: ", name);
	const char *p = strstr(ut_buf_str(&x->reply), needle);
	if (p == NULL)
		return NULL;
	p += strlen(needle);
	size_t n = strcspn(p, "\r");
	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p);
	return buf;
}

struct server {
	uv_loop_t loop;
	struct br_status_sources src;
	struct br_status_meter *meter;
	struct br_metrics *metrics;
	unsigned port;
	uv_async_t done; /* the client thread finished */
	pthread_t client;
	void (*client_fn)(struct server *);
};

static int server_start(struct server *s)
{
	char listen[16], *error = NULL;
	memset(s, 0, sizeof(*s));
	uv_loop_init(&s->loop);
	s->meter = br_status_meter_new(&s->loop, &s->src);
	s->port = free_port();
	snprintf(listen, sizeof(listen), "%u", s->port);
	int rc =
	    br_metrics_start(&s->loop, listen, s->meter, &s->metrics, &error);
	if (rc < 0)
		fprintf(stderr, "br_metrics_start: %s\n", error);
	free(error);
	return rc;
}

static void server_finish(struct server *s)
{
	br_metrics_stop(&s->metrics);
	T_CHECK(s->metrics == NULL);
	br_status_meter_close(&s->meter);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	T_CHECK_INT(uv_loop_close(&s->loop), 0);
}

static void done_cb(uv_async_t *h)
{
	struct server *s = h->data;
	br_metrics_stop(&s->metrics);
	br_status_meter_close(&s->meter);
	uv_close((uv_handle_t *)h, NULL);
}

static void *client_main(void *arg)
{
	struct server *s = arg;
	s->client_fn(s);
	uv_async_send(&s->done);
	return NULL;
}

/* Runs fn on a client thread while the loop serves; then stops. */
static void serve_while(struct server *s, void (*fn)(struct server *))
{
	s->client_fn = fn;
	uv_async_init(&s->loop, &s->done, done_cb);
	s->done.data = s;
	pthread_create(&s->client, NULL, client_main, s);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	pthread_join(s->client, NULL);
	T_CHECK(s->metrics == NULL);
	T_CHECK_INT(uv_loop_close(&s->loop), 0);
}

static void ask(struct server *s, struct exchange *x, const char *request)
{
	x->port = s->port;
	x->request = request;
	exchange(x);
}

static void requests(struct server *s)
{
	struct exchange x;
	char h[128];

	ask(s, &x,
	    "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	T_CHECK_INT(x.status, 200);
	T_CHECK_STR(header_of(&x, "Content-Type", h, sizeof(h)),
		    "text/plain; version=0.0.4; charset=utf-8");
	T_CHECK(strncmp(body_of(&x), "# HELP tidings_start_time_seconds ",
			34) == 0);
	T_CHECK(strstr(body_of(&x), "\ntidings_xmpp_up 0\n") != NULL);
	T_CHECK(strstr(body_of(&x), "# EOF") == NULL);
	size_t text_len = strlen(body_of(&x));
	ut_buf_free(&x.reply);

	ask(s, &x,
	    "GET /metrics?x=1 HTTP/1.1\r\nHost: t\r\nAccept: "
	    "application/openmetrics-text; version=1.0.0,text/plain;q=0.5\r\n"
	    "Connection: close\r\n\r\n");
	T_CHECK_INT(x.status, 200);
	T_CHECK_STR(header_of(&x, "Content-Type", h, sizeof(h)),
		    "application/openmetrics-text; version=1.0.0; "
		    "charset=utf-8");
	const char *b = body_of(&x);
	T_CHECK(strlen(b) > 6 && strcmp(b + strlen(b) - 6, "# EOF\n") == 0);
	ut_buf_free(&x.reply);

	/* HEAD: the length of the GET, no body. */
	ask(s, &x,
	    "HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	T_CHECK_INT(x.status, 200);
	T_CHECK_INT(strlen(body_of(&x)), 0);
	snprintf(h, sizeof(h), "%zu", text_len);
	char cl[32];
	T_CHECK_STR(header_of(&x, "Content-Length", cl, sizeof(cl)), h);
	ut_buf_free(&x.reply);

	ask(s, &x,
	    "GET /other HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	T_CHECK_INT(x.status, 404);
	ut_buf_free(&x.reply);
	ask(s, &x, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	T_CHECK_INT(x.status, 404);
	ut_buf_free(&x.reply);

	ask(s, &x,
	    "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
	    "Connection: close\r\n\r\nhello");
	T_CHECK_INT(x.status, 405);
	T_CHECK_STR(header_of(&x, "Allow", h, sizeof(h)), "GET, HEAD");
	ut_buf_free(&x.reply);
	ask(s, &x, "DELETE /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
	T_CHECK_INT(x.status, 405);
	ut_buf_free(&x.reply);

	ask(s, &x,
	    "GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
	    "Connection: close\r\n\r\nhello");
	T_CHECK_INT(x.status, 400);
	ut_buf_free(&x.reply);
	ask(s, &x,
	    "GET /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
	T_CHECK_INT(x.status, 400);
	ut_buf_free(&x.reply);

	/* Not HTTP at all: MHD answers 400 or closes; the next one works. */
	ask(s, &x, "\x01\x02garbage\r\n\r\n");
	T_CHECK(x.status == 0 || x.status == 400);
	ut_buf_free(&x.reply);
	ask(s, &x, "GET /metrics HTTP/1.0\r\n\r\n");
	T_CHECK_INT(x.status, 200);
	ut_buf_free(&x.reply);
}

static void test_requests(void)
{
	struct server s;
	if (server_start(&s) < 0) {
		T_CHECK(0);
		return;
	}
	serve_while(&s, requests);
}

static void *slow_client(void *arg)
{
	struct exchange *x = arg;
	exchange(x);
	return NULL;
}

/* The loop never runs: the scrape waits 2 s, then gets 503. */
static void test_loop_not_answering(void)
{
	struct server s;
	struct exchange x = {.request = "GET /metrics HTTP/1.1\r\nHost: t\r\n"
					"Connection: close\r\n\r\n"};
	pthread_t t;
	char h[16];

	if (server_start(&s) < 0) {
		T_CHECK(0);
		return;
	}
	x.port = s.port;
	pthread_create(&t, NULL, slow_client, &x);
	pthread_join(t, NULL);
	T_CHECK_INT(x.status, 503);
	T_CHECK_STR(header_of(&x, "Retry-After", h, sizeof(h)), "1");
	T_CHECK(x.secs >= 1.9 && x.secs < 5);
	printf("# 503 after %.2f s\n", x.secs);
	ut_buf_free(&x.reply);
	server_finish(&s);
}

/* Stopping while a scrape waits for the loop: it is answered (503) or
   closed at once, and the stop does not wait out the 2 s. */
static void test_stop_in_flight(void)
{
	struct server s;
	struct exchange x = {.request = "GET /metrics HTTP/1.1\r\nHost: t\r\n"
					"Connection: close\r\n\r\n"};
	pthread_t t;

	if (server_start(&s) < 0) {
		T_CHECK(0);
		return;
	}
	x.port = s.port;
	pthread_create(&t, NULL, slow_client, &x);
	usleep(300 * 1000);
	double t0 = now_secs();
	br_metrics_stop(&s.metrics);
	double took = now_secs() - t0;
	pthread_join(t, NULL);
	printf("# stop took %.3f s; the scrape got %d after %.2f s\n", took,
	       x.status, x.secs);
	T_CHECK(took < 1.0);
	T_CHECK(x.status == 503 || x.status == 0);
	T_CHECK(x.secs < 1.5);
	ut_buf_free(&x.reply);
	server_finish(&s);
}

/* The address is taken: a clear error, nothing left behind. */
static void test_address_in_use(void)
{
	struct server s;
	struct br_metrics *second = NULL;
	char listen[32], *error = NULL;

	if (server_start(&s) < 0) {
		T_CHECK(0);
		return;
	}
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", s.port);
	T_CHECK_INT(br_metrics_start(&s.loop, listen, s.meter, &second, &error),
		    -1);
	T_CHECK(second == NULL);
	printf("# %s\n", error ? error : "(no error)");
	char want[64];
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%u: ", s.port);
	T_CHECK(error != NULL && strncmp(error, want, strlen(want)) == 0);
	T_CHECK(error != NULL && strstr(error, "in use") != NULL);
	free(error);
	error = NULL;
	T_CHECK_INT(
	    br_metrics_start(&s.loop, "localhost:1", s.meter, &second, &error),
	    -1);
	T_CHECK(error != NULL && strstr(error, "'localhost:1': ") == error);
	free(error);
	server_finish(&s);
}

int main(void)
{
	T_RUN(test_requests);
	T_RUN(test_loop_not_answering);
	T_RUN(test_stop_in_flight);
	T_RUN(test_address_in_use);
	return T_DONE();
}
