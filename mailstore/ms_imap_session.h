#ifndef MS_IMAP_SESSION_H
#define MS_IMAP_SESSION_H

/*
 * Internal to the IMAP pool (ms_imap*.c): one blocking
 * libetpan session on the calling worker thread, from the TCP connect to
 * the LOGOUT: connect with a timeout, TLS (implicit or STARTTLS, verified),
 * greeting, master-user LOGIN, and the classification of failures. Not
 * for use elsewhere.
 *
 * When TLS is configured, nothing but the STARTTLS command is ever sent
 * before the handshake succeeded; LOGIN in particular never is.
 */

#include <openssl/ssl.h>

#include <libetpan/libetpan.h>

#include "ms_imap.h"
#include "ms_imap_stream.h"

struct ms_imap__server {
	const char *host;
	uint16_t port;
	enum ms_imap_tls tls;
	SSL_CTX *tls_ctx; /* non-NULL with TLS */
	const char *master_user;
	const char *master_password; /* never logged */
	char separator;
	uint64_t timeout_msecs;
	/* Readable once the pool stops: every wait of the session ends. */
	int stop_fd;
	/*
	 * Called with the session's socket once it is connected, and with -1
	 * before the session closes it. Returning -1 for a socket means the
	 * pool is stopping: the session then ends at once.
	 */
	int (*set_fd_cb)(int fd, void *ctx);
	void *set_fd_ctx;
};

/* What a command was about: decides the error class of its NO. */
enum ms_imap__cmd {
	MS_IMAP__CMD_LOGIN,   /* NO_USER, AUTH */
	MS_IMAP__CMD_MAILBOX, /* STATUS, EXAMINE, APPEND: NO_MAILBOX */
	MS_IMAP__CMD_OTHER,
};

struct ms_imap__session {
	const struct ms_imap__server *srv;
	const char *log_prefix; /* such as "imap(alice@example.org)" */
	mailimap *imap;		/* NULL once closed */
	/* The byte stream under imap (owned by it; NULL before connect). */
	struct ms_imap__stream *stream;
	/* The whole session ends by then (monotonic msecs). */
	uint64_t deadline_msecs;
	bool fd_registered;
	bool tls_up; /* the handshake succeeded */
	bool logged_in;
	/* The first failure: MS_IMAP_OK, or a class with error_text (owned
	   by the session until taken). */
	enum ms_imap_error error;
	char *error_text;
};

/*
 * Connects to srv, does TLS as configured, reads the greeting and logs in
 * as "user<separator>master_user". Returns 0, or -1 with s->error set.
 * Either way, call ms_imap__session_close() afterwards. s is initialised
 * here; log_prefix must outlive the session.
 */
int ms_imap__session_open(struct ms_imap__session *s,
			  const struct ms_imap__server *srv, const char *user,
			  const char *log_prefix);

/*
 * Logs out if the session is healthy, closes the connection and frees
 * libetpan's state. error and error_text stay (the caller takes or frees
 * error_text).
 */
void ms_imap__session_close(struct ms_imap__session *s);

/* Records the first failure of the session (later ones are its
   consequences); the text is cleaned to one line of UTF-8. */
void ms_imap__session_fail(struct ms_imap__session *s, enum ms_imap_error error,
			   const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the failure of a libetpan call that returned r, classified by
   cmd and the server's answer ("what failed: [CODE] text"). The server's
   text is quoted with the master password scrubbed out. */
void ms_imap__session_imap_fail(struct ms_imap__session *s,
				enum ms_imap__cmd cmd, const char *what, int r);

#endif
