#ifndef MS_SMTP_SESSION_H
#define MS_SMTP_SESSION_H

/*
 * Internal to the SMTP pool (ms_smtp.c): one blocking submission on the
 * calling worker thread, from the TCP connect to QUIT, over an ms_net
 * connection. Not for use elsewhere.
 *
 * When TLS is configured, nothing but EHLO and STARTTLS is ever sent
 * before the handshake succeeded and the certificate was verified; AUTH
 * in particular never is.
 */

#include <openssl/ssl.h>
#include <stdint.h>

#include "ms_smtp.h"

struct ms_smtp__server {
	const char *host;
	uint16_t port;
	enum ms_smtp_tls tls;
	SSL_CTX *tls_ctx;     /* non-NULL with TLS */
	const char *user;     /* NULL: no AUTH */
	const char *password; /* never logged */
	const char *ehlo_name;
	uint64_t timeout_msecs;
	uint64_t job_msecs;
	/* Readable once the pool stops: every wait ends. */
	int stop_fd;
	/* Called with the socket once connected and with -1 before it is
	   closed; -1 for a socket means: stop now. */
	int (*set_fd_cb)(int fd, void *ctx);
	void *set_fd_ctx;
};

struct ms_smtp__req {
	const char *sender;
	char *const *rcpts;
	size_t rcpt_count;
	const char *wire; /* ms_smtp__data_encode()'s output */
	size_t wire_len;
	size_t data_len; /* for SIZE= (the wire form's) */
	bool eightbit;	 /* BODY=8BITMIME when offered */
};

/*
 * Submits req; fills *res (zeroed by the caller): status, error, code,
 * text and one rcpts entry per recipient (addresses copied).
 */
void ms_smtp__session_run(const struct ms_smtp__server *srv,
			  const struct ms_smtp__req *req,
			  struct ms_smtp_result *res);

/* Frees what a result holds (not res itself). */
void ms_smtp__result_clear(struct ms_smtp_result *res);

#endif
