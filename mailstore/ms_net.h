#ifndef MS_NET_H
#define MS_NET_H

/*
 * Blocking client connections for worker threads (the IMAP pool's stream,
 * the SMTP client): our own non-blocking socket with every wait a poll()
 * bounded by a timeout and a deadline and cut short by a stop pipe, and
 * TLS by OpenSSL with the certificate chain and the host name verified.
 * Shared by ms_imap_stream.c and ms_smtp_session.c so that TLS is set up
 * and checked in one place.
 *
 * A connection is used by one thread at a time. Its I/O must run on a
 * thread that blocks SIGPIPE (the job pools' workers block all signals).
 */

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Why a connection failed. */
enum ms_net_error {
	MS_NET_OK = 0,
	/* Connect, resolve, timeout, deadline, stop, lost connection. */
	MS_NET_ERR_IO,
	/* TLS handshake failed, certificate not trusted, TLS protocol
	   error. */
	MS_NET_ERR_TLS,
};

struct ms_net_conn {
	int fd; /* -1 once closed */
	int stop_fd;
	uint64_t timeout_msecs;
	uint64_t deadline_msecs; /* monotonic; 0 = none */
	uint64_t job_msecs;	 /* what the deadline stands for, in texts */
	SSL *ssl;		 /* NULL while plain */
	enum ms_net_error err;	 /* the first failure */
	char *err_text;
	bool timed_out; /* err is a timeout or the deadline */
};

/* Monotonic clock in milliseconds. */
uint64_t ms_net_now_msecs(void);

/*
 * Waits until fd is ready for events (POLLIN/POLLOUT), for at most
 * timeout_msecs and not beyond deadline_msecs (monotonic, 0 = none); a
 * readable stop_fd (-1 = none) ends the wait. Returns 0, ETIMEDOUT (the
 * timeout), ETIME (the deadline), ECANCELED (stop_fd) or poll()'s errno.
 */
int ms_net_wait(int fd, short events, int stop_fd, uint64_t timeout_msecs,
		uint64_t deadline_msecs);

/*
 * Resolves host and connects to the first address that answers, each
 * connect bounded like ms_net_wait(). Returns a non-blocking socket, or
 * -1 with *error_r (one line, free it): "resolve HOST: ...",
 * "connect to HOST port N: timed out|pool stopped|<strerror>".
 */
int ms_net_connect(const char *host, uint16_t port, int stop_fd,
		   uint64_t timeout_msecs, uint64_t deadline_msecs,
		   char **error_r);

/*
 * A TLS client context: TLS >= 1.2, peer verification against ca_file
 * (NULL = the system's CA store). Returns NULL with *error_r set (free
 * it; prefixed with what, e.g. "imap"). Shared read-only by workers; free
 * with SSL_CTX_free().
 */
SSL_CTX *ms_net_tls_ctx_new(const char *ca_file, const char *what,
			    char **error_r);

/* Takes fd (connected, non-blocking); ms_net_close() closes it. The
   deadline's texts say "the job took longer than job_msecs ms". */
void ms_net_init(struct ms_net_conn *c, int fd, int stop_fd,
		 uint64_t timeout_msecs, uint64_t deadline_msecs,
		 uint64_t job_msecs);

/* Reads at most count bytes (count > 0): returns > 0, 0 on EOF (also a
   TLS close), or -1 with the connection failed. */
ssize_t ms_net_read(struct ms_net_conn *c, void *buf, size_t count);

/* Writes all count bytes: 0, or -1 with the connection failed. */
int ms_net_write(struct ms_net_conn *c, const void *buf, size_t count);

/*
 * TLS handshake on the connection's socket, verifying the certificate
 * chain and that it names host (DNS name, or the address of an IP
 * literal); SNI is sent for names. From then on the connection speaks TLS.
 * Returns 0, or -1 with the connection failed: MS_NET_ERR_TLS when TLS
 * itself failed ("TLS: certificate of HOST not trusted: REASON", "TLS
 * handshake with HOST failed: REASON"), MS_NET_ERR_IO for a timeout, a
 * lost connection or a stop.
 */
int ms_net_start_tls(struct ms_net_conn *c, SSL_CTX *ctx, const char *host);

/* Records the first failure (later ones are its consequences). */
void ms_net_fail(struct ms_net_conn *c, enum ms_net_error err, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));

/* Sends close_notify once (never waits) if healthy, closes the socket.
   err and err_text stay. */
void ms_net_close(struct ms_net_conn *c);

/* ms_net_close() and frees err_text. */
void ms_net_clear(struct ms_net_conn *c);

#endif
