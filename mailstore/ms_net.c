/*
 * Blocking client connections for worker threads (see ms_net.h):
 * non-blocking sockets waited on with poll(), OpenSSL for TLS.
 */

#include "ms_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
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

uint64_t ms_net_now_msecs(void)
{
	struct timespec ts;

	ut_assert(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ms_net_wait(int fd, short events, int stop_fd, uint64_t timeout_msecs,
		uint64_t deadline_msecs)
{
	struct pollfd pfd[2] = {
	    {.fd = fd, .events = events},
	    {.fd = stop_fd, .events = POLLIN},
	};
	uint64_t now = ms_net_now_msecs();
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

/* Connects one address; returns a non-blocking fd, or -1 with *err_r. */
static int connect_addr(const struct addrinfo *a, int stop_fd,
			uint64_t timeout_msecs, uint64_t deadline_msecs,
			int *err_r)
{
	int fd =
	    socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		   a->ai_protocol);
	socklen_t len = sizeof(*err_r);

	if (fd < 0) {
		*err_r = errno;
		return -1;
	}
	if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
		*err_r = 0;
	} else if (errno != EINPROGRESS) {
		*err_r = errno;
	} else {
		*err_r = ms_net_wait(fd, POLLOUT, stop_fd, timeout_msecs,
				     deadline_msecs);
		if (*err_r == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, err_r, &len) < 0)
			*err_r = errno;
	}
	if (*err_r == 0)
		return fd;
	close(fd);
	return -1;
}

static const char *connect_error(int err)
{
	if (err == ECANCELED)
		return "pool stopped";
	if (err == ETIMEDOUT || err == ETIME)
		return "timed out";
	return strerror(err);
}

int ms_net_connect(const char *host, uint16_t port, int stop_fd,
		   uint64_t timeout_msecs, uint64_t deadline_msecs,
		   char **error_r)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port_str[8];
	int err = 0;
	int fd = -1;
	int r;

	*error_r = NULL;
	snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
	r = getaddrinfo(host, port_str, &hints, &ai);
	if (r != 0) {
		*error_r = xasprintf("resolve %s: %s", host, gai_strerror(r));
		return -1;
	}
	for (const struct addrinfo *a = ai; a != NULL && fd < 0;
	     a = a->ai_next) {
		fd = connect_addr(a, stop_fd, timeout_msecs, deadline_msecs,
				  &err);
		if (fd < 0 && (err == ECANCELED || err == ETIME))
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		*error_r = xasprintf("connect to %s port %u: %s", host,
				     (unsigned)port, connect_error(err));
	return fd;
}

void ms_net_init(struct ms_net_conn *c, int fd, int stop_fd,
		 uint64_t timeout_msecs, uint64_t deadline_msecs,
		 uint64_t job_msecs)
{
	*c = (struct ms_net_conn){
	    .fd = fd,
	    .stop_fd = stop_fd,
	    .timeout_msecs = timeout_msecs,
	    .deadline_msecs = deadline_msecs,
	    .job_msecs = job_msecs,
	};
}

void ms_net_fail(struct ms_net_conn *c, enum ms_net_error err, const char *fmt,
		 ...)
{
	va_list ap;

	ut_assert(err != MS_NET_OK);
	if (c->err != MS_NET_OK)
		return;
	c->err = err;
	va_start(ap, fmt);
	c->err_text = xvasprintf(fmt, ap);
	va_end(ap);
}

/* A wait of ms_net_wait() failed with err; what: NULL or a prefix. */
static void fail_wait(struct ms_net_conn *c, const char *what, int err)
{
	const char *sep = what != NULL ? ": " : "";

	if (what == NULL)
		what = "";
	if (c->err == MS_NET_OK)
		c->timed_out = err == ETIMEDOUT || err == ETIME;
	if (err == ETIMEDOUT)
		ms_net_fail(c, MS_NET_ERR_IO,
			    "%s%stimed out after %" PRIu64 " ms", what, sep,
			    c->timeout_msecs);
	else if (err == ETIME)
		ms_net_fail(c, MS_NET_ERR_IO,
			    "%s%stimed out: the job took longer than %" PRIu64
			    " ms",
			    what, sep, c->job_msecs);
	else if (err == ECANCELED)
		ms_net_fail(c, MS_NET_ERR_IO, "%s%spool stopped", what, sep);
	else
		ms_net_fail(c, MS_NET_ERR_IO, "%s%spoll: %s", what, sep,
			    strerror(err));
}

/* OpenSSL's reason for the last error of this thread, never NULL. */
static const char *tls_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	return reason != NULL ? reason : "unknown error";
}

/* After SSL_read/SSL_write returned r <= 0: 0 after waiting for the I/O
   TLS wants, 1 at EOF, -1 failed. */
static int tls_wait(struct ms_net_conn *c, int r, const char *what)
{
	int e = SSL_get_error(c->ssl, r);
	int err;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		err = ms_net_wait(
		    c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    c->stop_fd, c->timeout_msecs, c->deadline_msecs);
		if (err == 0)
			return 0;
		fail_wait(c, NULL, err);
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && errno == 0) ||
	    (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) ==
				       SSL_R_UNEXPECTED_EOF_WHILE_READING))
		return 1;
	if (e == SSL_ERROR_SYSCALL)
		ms_net_fail(c, MS_NET_ERR_IO, "%s: %s", what, strerror(errno));
	else
		ms_net_fail(c, MS_NET_ERR_TLS, "TLS: %s", tls_reason());
	return -1;
}

ssize_t ms_net_read(struct ms_net_conn *c, void *buf, size_t count)
{
	if (c->err != MS_NET_OK || c->fd < 0)
		return -1;
	for (;;) {
		ssize_t n;
		int err;

		if (c->ssl != NULL) {
			int r;

			ERR_clear_error();
			errno = 0;
			r = SSL_read(c->ssl, buf,
				     count > INT32_MAX ? INT32_MAX
						       : (int)count);
			if (r > 0)
				return r;
			r = tls_wait(c, r, "read");
			if (r != 0)
				return r > 0 ? 0 : -1;
			continue;
		}
		n = recv(c->fd, buf, count, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			ms_net_fail(c, MS_NET_ERR_IO, "read: %s",
				    strerror(errno));
			return -1;
		}
		err = ms_net_wait(c->fd, POLLIN, c->stop_fd, c->timeout_msecs,
				  c->deadline_msecs);
		if (err != 0) {
			fail_wait(c, NULL, err);
			return -1;
		}
	}
}

int ms_net_write(struct ms_net_conn *c, const void *buf, size_t count)
{
	const char *p = buf;
	size_t left = count;

	if (c->err != MS_NET_OK || c->fd < 0)
		return -1;
	while (left > 0) {
		int err;

		if (c->ssl != NULL) {
			int r;

			ERR_clear_error();
			errno = 0;
			r = SSL_write(c->ssl, p,
				      left > INT32_MAX ? INT32_MAX : (int)left);
			if (r > 0) {
				p += r;
				left -= (size_t)r;
				continue;
			}
			r = tls_wait(c, r, "write");
			if (r > 0)
				ms_net_fail(c, MS_NET_ERR_IO,
					    "connection closed by the server");
			if (r != 0)
				return -1;
			continue;
		}
		ssize_t n = send(c->fd, p, left, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			left -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			ms_net_fail(c, MS_NET_ERR_IO, "write: %s",
				    strerror(errno));
			return -1;
		}
		err = ms_net_wait(c->fd, POLLOUT, c->stop_fd, c->timeout_msecs,
				  c->deadline_msecs);
		if (err != 0) {
			fail_wait(c, NULL, err);
			return -1;
		}
	}
	return 0;
}

static bool is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, addr) == 1 ||
	       inet_pton(AF_INET6, host, addr) == 1;
}

static void handshake_failed(struct ms_net_conn *c, const char *host, int r)
{
	long verify = SSL_get_verify_result(c->ssl);
	int e = SSL_get_error(c->ssl, r);

	if (verify != X509_V_OK)
		ms_net_fail(c, MS_NET_ERR_TLS,
			    "TLS: certificate of %s not trusted: %s", host,
			    X509_verify_cert_error_string(verify));
	else if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) !=
					   SSL_R_UNEXPECTED_EOF_WHILE_READING)
		ms_net_fail(c, MS_NET_ERR_TLS,
			    "TLS handshake with %s failed: %s", host,
			    tls_reason());
	else if (e == SSL_ERROR_SYSCALL && errno != 0)
		ms_net_fail(c, MS_NET_ERR_IO, "TLS handshake with %s: %s", host,
			    strerror(errno));
	else
		ms_net_fail(c, MS_NET_ERR_IO,
			    "TLS handshake with %s: connection closed by the "
			    "server",
			    host);
}

int ms_net_start_tls(struct ms_net_conn *c, SSL_CTX *ctx, const char *host)
{
	X509_VERIFY_PARAM *param;
	int r;

	ut_assert(c->ssl == NULL && ctx != NULL);
	if (c->err != MS_NET_OK || c->fd < 0)
		return -1;
	c->ssl = SSL_new(ctx);
	ut_assert(c->ssl != NULL);
	ut_assert(SSL_set_fd(c->ssl, c->fd) == 1);
	param = SSL_get0_param(c->ssl);
	if (is_ip_literal(host)) {
		/* No SNI for an address (RFC 6066); match an IP SAN. */
		ut_assert(X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1);
	} else {
		X509_VERIFY_PARAM_set_hostflags(
		    param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ut_assert(SSL_set1_host(c->ssl, host) == 1);
		if (SSL_set_tlsext_host_name(c->ssl, host) != 1) {
			ms_net_fail(c, MS_NET_ERR_TLS,
				    "TLS: cannot send %s as server name", host);
			return -1;
		}
	}
	for (;;) {
		int e, err;

		ERR_clear_error();
		errno = 0;
		r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			handshake_failed(c, host, r);
			return -1;
		}
		err = ms_net_wait(
		    c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    c->stop_fd, c->timeout_msecs, c->deadline_msecs);
		if (err != 0) {
			char *what = xasprintf("TLS handshake with %s", host);

			fail_wait(c, what, err);
			free(what);
			return -1;
		}
	}
	/* SSL_VERIFY_PEER already ended the handshake otherwise. */
	X509 *peer = SSL_get1_peer_certificate(c->ssl);

	if (peer == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK) {
		X509_free(peer);
		ms_net_fail(c, MS_NET_ERR_TLS,
			    "TLS: certificate of %s not verified", host);
		return -1;
	}
	X509_free(peer);
	return 0;
}

void ms_net_close(struct ms_net_conn *c)
{
	if (c->ssl != NULL) {
		/* One attempt at close_notify; never waits. */
		if (c->err == MS_NET_OK) {
			ERR_clear_error();
			SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void ms_net_clear(struct ms_net_conn *c)
{
	ms_net_close(c);
	free(c->err_text);
	c->err_text = NULL;
}

SSL_CTX *ms_net_tls_ctx_new(const char *ca_file, const char *what,
			    char **error_r)
{
	SSL_CTX *ctx;
	int r;

	*error_r = NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		*error_r = xasprintf("%s: TLS: %s", what, tls_reason());
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
			*error_r = xasprintf("%s: ca_file %s: %s", what,
					     ca_file, tls_reason());
		else
			*error_r = xasprintf("%s: system CA store: %s", what,
					     tls_reason());
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	ERR_clear_error();
	return ctx;
}
