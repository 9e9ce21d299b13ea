/*
 * The byte stream under libetpan (see ms_imap_stream.h): a libetpan
 * low-level driver over an ms_net connection, with a small scanner that
 * follows the server's lines and literals to keep libetpan's memory
 * bounded.
 */

#include "ms_imap_stream.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"

struct ms_imap__stream {
	struct ms_net_conn conn;
	/* Over the data handed to libetpan. */
	struct ms_imap__guard guard;
	/* A failure of the stream itself, before or beside the
	   connection's (guard refusals, EOF with BYE text). */
	enum ms_imap_error err_class; /* MS_IMAP_OK while healthy */
	char *err_text;
};

static void stream_fail(struct ms_imap__stream *st, enum ms_imap_error cls,
			const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first failure; every later read or write fails at once. */
static void stream_fail(struct ms_imap__stream *st, enum ms_imap_error cls,
			const char *fmt, ...)
{
	va_list ap;

	if (st->err_class != MS_IMAP_OK)
		return;
	st->err_class = cls;
	va_start(ap, fmt);
	st->err_text = xvasprintf(fmt, ap);
	va_end(ap);
}

/* The connection failed: its reason becomes the stream's. */
static void fail_from_conn(struct ms_imap__stream *st)
{
	const struct ms_net_conn *c = &st->conn;

	if (c->err == MS_NET_OK)
		stream_fail(st, MS_IMAP_ERR_TEMP, "connection lost");
	else
		stream_fail(st,
			    c->err == MS_NET_ERR_TLS ? MS_IMAP_ERR_TLS
						     : MS_IMAP_ERR_TEMP,
			    "%s", c->err_text);
}

static void fail_eof(struct ms_imap__stream *st)
{
	char *bye = ms_imap__guard_bye(&st->guard);

	if (bye == NULL) {
		stream_fail(st, MS_IMAP_ERR_TEMP,
			    "connection closed by the server");
		return;
	}
	stream_fail(st, MS_IMAP_ERR_TEMP,
		    "connection closed by the server after BYE: %s", bye);
	free(bye);
}

static ssize_t low_read(mailstream_low *low, void *buf, size_t count)
{
	struct ms_imap__stream *st = low->data;
	size_t room = ms_imap__guard_room(&st->guard);
	char *error;
	ssize_t n;

	if (st->err_class != MS_IMAP_OK || count == 0)
		return -1;
	if (room == 0) {
		stream_fail(st, MS_IMAP_ERR_TEMP,
			    "server sent more than %zu bytes",
			    MS_IMAP__READ_MAX);
		return -1;
	}
	if (count > room)
		count = room;
	n = ms_net_read(&st->conn, buf, count);
	if (n == 0) {
		/* libetpan takes 0 for "no data yet" and may spin on it. */
		fail_eof(st);
		return -1;
	}
	if (n < 0) {
		fail_from_conn(st);
		return -1;
	}
	if (ms_imap__guard_scan(&st->guard, buf, (size_t)n, &error) < 0) {
		stream_fail(st, MS_IMAP_ERR_TEMP, "%s", error);
		free(error);
		return -1;
	}
	return n;
}

/* Writes all count bytes; returns count or -1 (never 0: libetpan would
   retry forever). */
static ssize_t low_write(mailstream_low *low, const void *buf, size_t count)
{
	struct ms_imap__stream *st = low->data;

	if (st->err_class != MS_IMAP_OK)
		return -1;
	if (ms_net_write(&st->conn, buf, count) < 0) {
		fail_from_conn(st);
		return -1;
	}
	return (ssize_t)count;
}

static int low_close(mailstream_low *low)
{
	struct ms_imap__stream *st = low->data;

	if (st->err_class != MS_IMAP_OK && st->conn.err == MS_NET_OK)
		st->conn.err = MS_NET_ERR_IO; /* no close_notify then */
	ms_net_close(&st->conn);
	return 0;
}

static int low_get_fd(mailstream_low *low)
{
	struct ms_imap__stream *st = low->data;

	return st->conn.fd;
}

static void low_free(mailstream_low *low)
{
	struct ms_imap__stream *st = low->data;

	low_close(low);
	ms_net_clear(&st->conn);
	ms_imap__guard_free(&st->guard);
	free(st->err_text);
	free(st);
	free(low);
}

static mailstream_low_driver stream_driver = {
    .mailstream_read = low_read,
    .mailstream_write = low_write,
    .mailstream_close = low_close,
    .mailstream_get_fd = low_get_fd,
    .mailstream_free = low_free,
};

mailstream *ms_imap__stream_new(int fd, int stop_fd, uint64_t timeout_msecs,
				uint64_t deadline_msecs, uint64_t job_msecs,
				const char *secret,
				struct ms_imap__stream **st_r)
{
	struct ms_imap__stream *st = xcalloc(1, sizeof(*st));
	mailstream_low *low;
	mailstream *stream;

	ms_net_init(&st->conn, fd, stop_fd, timeout_msecs, deadline_msecs,
		    job_msecs);
	ms_imap__guard_init(&st->guard, secret);
	low = mailstream_low_new(st, &stream_driver);
	ut_assert(low != NULL);
	stream = mailstream_new(low, 8192);
	ut_assert(stream != NULL);
	*st_r = st;
	return stream;
}

int ms_imap__stream_start_tls(struct ms_imap__stream *st, SSL_CTX *ctx,
			      const char *host)
{
	if (st->err_class != MS_IMAP_OK)
		return -1;
	if (ms_net_start_tls(&st->conn, ctx, host) < 0) {
		fail_from_conn(st);
		return -1;
	}
	return 0;
}

enum ms_imap_error ms_imap__stream_error(const struct ms_imap__stream *st,
					 const char **text_r)
{
	*text_r = st->err_text;
	return st->err_class;
}
