/*
 * The byte stream under libetpan (see ms_imap_stream.h): non-blocking
 * socket I/O with poll(), OpenSSL for TLS, and a small scanner that
 * follows the server's lines and literals to keep libetpan's memory
 * bounded.
 */

#include "ms_imap_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ut_xalloc.h"

struct ms_imap__stream {
	int fd;
	int stop_fd;
	uint64_t timeout_msecs;
	uint64_t deadline_msecs;
	SSL *ssl; /* NULL while plain */
	/* Over the data handed to libetpan. */
	struct ms_imap__guard guard;

	enum ms_imap_error err_class; /* MS_IMAP_OK while healthy */
	char *err_text;
};

uint64_t ms_imap__now_msecs(void)
{
	struct timespec ts;

	ut_assert(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ms_imap__wait(int fd, short events, int stop_fd, uint64_t timeout_msecs,
		  uint64_t deadline_msecs)
{
	struct pollfd pfd[2] = {
	    {.fd = fd, .events = events},
	    {.fd = stop_fd, .events = POLLIN},
	};
	uint64_t now = ms_imap__now_msecs();
	uint64_t wait = timeout_msecs;
	bool by_deadline = false;
	int r;

	if (deadline_msecs != 0) {
		if (now >= deadline_msecs)
			return ETIME;
		if (deadline_msecs - now < wait) {
			wait = deadline_msecs - now;
			by_deadline = true;
		}
	}
	if (wait > INT32_MAX)
		wait = INT32_MAX;
	do {
		r = poll(pfd, stop_fd >= 0 ? 2 : 1, (int)wait);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	if (stop_fd >= 0 && pfd[1].revents != 0)
		return ECANCELED;
	if (r == 0)
		return by_deadline ? ETIME : ETIMEDOUT;
	/* Errors and hang-ups show up in the read or write that follows. */
	return 0;
}

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

/* A wait of ms_imap__wait() failed with err; what: NULL or a prefix. */
static void fail_wait(struct ms_imap__stream *st, const char *what, int err)
{
	const char *sep = what != NULL ? ": " : "";

	if (what == NULL)
		what = "";
	if (err == ETIMEDOUT)
		stream_fail(st, MS_IMAP_ERR_TEMP,
			    "%s%stimed out after %" PRIu64 " ms", what, sep,
			    st->timeout_msecs);
	else if (err == ETIME)
		stream_fail(st, MS_IMAP_ERR_TEMP,
			    "%s%stimed out: the job took longer than %" PRIu64
			    " ms",
			    what, sep, 4 * st->timeout_msecs);
	else if (err == ECANCELED)
		stream_fail(st, MS_IMAP_ERR_TEMP, "%s%spool stopped", what,
			    sep);
	else
		stream_fail(st, MS_IMAP_ERR_TEMP, "%s%spoll: %s", what, sep,
			    strerror(err));
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

/* OpenSSL's reason for the last error of this thread, never NULL. */
static const char *tls_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	return reason != NULL ? reason : "unknown error";
}

/* After SSL_read/SSL_write/SSL_connect returned r <= 0: waits when TLS
   wants I/O (returns 0), else fails the stream (returns -1). */
static int tls_wait_or_fail(struct ms_imap__stream *st, int r, const char *what)
{
	int e = SSL_get_error(st->ssl, r);
	int err;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		err = ms_imap__wait(
		    st->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    st->stop_fd, st->timeout_msecs, st->deadline_msecs);
		if (err == 0)
			return 0;
		fail_wait(st, NULL, err);
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && errno == 0) ||
	    (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) ==
				       SSL_R_UNEXPECTED_EOF_WHILE_READING))
		fail_eof(st);
	else if (e == SSL_ERROR_SYSCALL)
		stream_fail(st, MS_IMAP_ERR_TEMP, "%s: %s", what,
			    strerror(errno));
	else
		stream_fail(st, MS_IMAP_ERR_TLS, "TLS: %s", tls_reason());
	return -1;
}

/* Reads at most count bytes (count > 0); 0 on EOF; -1 failed. */
static ssize_t raw_read(struct ms_imap__stream *st, char *buf, size_t count)
{
	for (;;) {
		ssize_t n;
		int err;

		if (st->ssl != NULL) {
			int r;

			ERR_clear_error();
			errno = 0;
			r = SSL_read(st->ssl, buf,
				     count > INT32_MAX ? INT32_MAX
						       : (int)count);
			if (r > 0)
				return r;
			if (tls_wait_or_fail(st, r, "read") < 0)
				return -1;
			continue;
		}
		n = recv(st->fd, buf, count, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			stream_fail(st, MS_IMAP_ERR_TEMP, "read: %s",
				    strerror(errno));
			return -1;
		}
		err = ms_imap__wait(st->fd, POLLIN, st->stop_fd,
				    st->timeout_msecs, st->deadline_msecs);
		if (err != 0) {
			fail_wait(st, NULL, err);
			return -1;
		}
	}
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
	n = raw_read(st, buf, count);
	if (n == 0) {
		/* libetpan takes 0 for "no data yet" and may spin on it. */
		fail_eof(st);
		return -1;
	}
	if (n < 0)
		return -1;
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
	const char *p = buf;
	size_t left = count;

	if (st->err_class != MS_IMAP_OK)
		return -1;
	while (left > 0) {
		int err;

		if (st->ssl != NULL) {
			int r;

			ERR_clear_error();
			errno = 0;
			r = SSL_write(st->ssl, p,
				      left > INT32_MAX ? INT32_MAX : (int)left);
			if (r > 0) {
				p += r;
				left -= (size_t)r;
			} else if (tls_wait_or_fail(st, r, "write") < 0) {
				return -1;
			}
			continue;
		}
		ssize_t n = send(st->fd, p, left, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			left -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			stream_fail(st, MS_IMAP_ERR_TEMP, "write: %s",
				    strerror(errno));
			return -1;
		}
		err = ms_imap__wait(st->fd, POLLOUT, st->stop_fd,
				    st->timeout_msecs, st->deadline_msecs);
		if (err != 0) {
			fail_wait(st, NULL, err);
			return -1;
		}
	}
	return (ssize_t)count;
}

static int low_close(mailstream_low *low)
{
	struct ms_imap__stream *st = low->data;

	if (st->ssl != NULL) {
		/* One attempt at close_notify; never waits. */
		if (st->err_class == MS_IMAP_OK) {
			ERR_clear_error();
			SSL_shutdown(st->ssl);
		}
		SSL_free(st->ssl);
		st->ssl = NULL;
	}
	ERR_clear_error();
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	return 0;
}

static int low_get_fd(mailstream_low *low)
{
	struct ms_imap__stream *st = low->data;

	return st->fd;
}

static void low_free(mailstream_low *low)
{
	struct ms_imap__stream *st = low->data;

	if (st->fd >= 0)
		low_close(low);
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
				uint64_t deadline_msecs, const char *secret,
				struct ms_imap__stream **st_r)
{
	struct ms_imap__stream *st = xcalloc(1, sizeof(*st));
	mailstream_low *low;
	mailstream *stream;

	st->fd = fd;
	st->stop_fd = stop_fd;
	st->timeout_msecs = timeout_msecs;
	st->deadline_msecs = deadline_msecs;
	ms_imap__guard_init(&st->guard, secret);
	low = mailstream_low_new(st, &stream_driver);
	ut_assert(low != NULL);
	stream = mailstream_new(low, 8192);
	ut_assert(stream != NULL);
	*st_r = st;
	return stream;
}

static bool is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, addr) == 1 ||
	       inet_pton(AF_INET6, host, addr) == 1;
}

static void handshake_failed(struct ms_imap__stream *st, const char *host,
			     int r)
{
	long verify = SSL_get_verify_result(st->ssl);
	int e = SSL_get_error(st->ssl, r);

	if (verify != X509_V_OK)
		stream_fail(st, MS_IMAP_ERR_TLS,
			    "TLS: certificate of %s not trusted: %s", host,
			    X509_verify_cert_error_string(verify));
	else if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) !=
					   SSL_R_UNEXPECTED_EOF_WHILE_READING)
		stream_fail(st, MS_IMAP_ERR_TLS,
			    "TLS handshake with %s failed: %s", host,
			    tls_reason());
	else if (e == SSL_ERROR_SYSCALL && errno != 0)
		stream_fail(st, MS_IMAP_ERR_TEMP, "TLS handshake with %s: %s",
			    host, strerror(errno));
	else
		stream_fail(st, MS_IMAP_ERR_TEMP,
			    "TLS handshake with %s: connection closed by the "
			    "server",
			    host);
}

int ms_imap__stream_start_tls(struct ms_imap__stream *st, SSL_CTX *ctx,
			      const char *host)
{
	X509_VERIFY_PARAM *param;
	int r;

	ut_assert(st->ssl == NULL && ctx != NULL);
	if (st->err_class != MS_IMAP_OK)
		return -1;
	st->ssl = SSL_new(ctx);
	ut_assert(st->ssl != NULL);
	ut_assert(SSL_set_fd(st->ssl, st->fd) == 1);
	param = SSL_get0_param(st->ssl);
	if (is_ip_literal(host)) {
		/* No SNI for an address (RFC 6066); match an IP SAN. */
		ut_assert(X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1);
	} else {
		X509_VERIFY_PARAM_set_hostflags(
		    param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ut_assert(SSL_set1_host(st->ssl, host) == 1);
		if (SSL_set_tlsext_host_name(st->ssl, host) != 1) {
			stream_fail(st, MS_IMAP_ERR_TLS,
				    "TLS: cannot send %s as server name", host);
			return -1;
		}
	}
	for (;;) {
		int e, err;

		ERR_clear_error();
		errno = 0;
		r = SSL_connect(st->ssl);
		if (r == 1)
			break;
		e = SSL_get_error(st->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			handshake_failed(st, host, r);
			return -1;
		}
		err = ms_imap__wait(
		    st->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    st->stop_fd, st->timeout_msecs, st->deadline_msecs);
		if (err != 0) {
			char *what = xasprintf("TLS handshake with %s", host);

			fail_wait(st, what, err);
			free(what);
			return -1;
		}
	}
	/* SSL_VERIFY_PEER already ended the handshake otherwise. */
	X509 *peer = SSL_get1_peer_certificate(st->ssl);

	if (peer == NULL || SSL_get_verify_result(st->ssl) != X509_V_OK) {
		X509_free(peer);
		stream_fail(st, MS_IMAP_ERR_TLS,
			    "TLS: certificate of %s not verified", host);
		return -1;
	}
	X509_free(peer);
	return 0;
}

enum ms_imap_error ms_imap__stream_error(const struct ms_imap__stream *st,
					 const char **text_r)
{
	*text_r = st->err_text;
	return st->err_class;
}

SSL_CTX *ms_imap__tls_ctx_new(const char *ca_file, char **error_r)
{
	SSL_CTX *ctx;
	int r;

	*error_r = NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		*error_r = xasprintf("imap: TLS: %s", tls_reason());
		return NULL;
	}
	ut_assert(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1);
	SSL_CTX_set_options(ctx,
			    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL)
		r = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	else
		r = SSL_CTX_set_default_verify_paths(ctx);
	if (r != 1) {
		if (ca_file != NULL)
			*error_r = xasprintf("imap: ca_file %s: %s", ca_file,
					     tls_reason());
		else
			*error_r = xasprintf("imap: system CA store: %s",
					     tls_reason());
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	ERR_clear_error();
	return ctx;
}
