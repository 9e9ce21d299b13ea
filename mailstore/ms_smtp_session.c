/*
 * One SMTP submission (see ms_smtp_session.h).
 *
 * Our own client rather than libetpan's mailsmtp (Debian 1.9.4):
 *  - mailsmtp formats commands with snprintf() into 513 bytes and sends
 *    what fits, so a long address becomes another command;
 *  - its AUTH maps any reply code it does not know (a 421, a 454) to
 *    success ("opportunistic approach"), goes through cyrus-sasl (global
 *    state, plugins loaded at run time) and keeps copies of the password
 *    it never wipes;
 *  - it folds reply codes into a lossy enum (450 and 550 alike) and reads
 *    replies of any length and any number of lines;
 *  - its STARTTLS and connect do their own (GnuTLS, unverified) TLS and
 *    blocking waits.
 * What is left for us is small: lines out, replies in (ms_smtp_proto.c),
 * on the same verified connection code as the IMAP pool (ms_net.h).
 */

#include "ms_smtp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_net.h"
#include "ms_smtp_proto.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Bytes one session may read from the server in all. */
#define READ_MAX ((size_t)1 << 20)
/* The wait for the reply to QUIT, once the outcome is known. */
#define QUIT_TIMEOUT_MSECS 1000

enum { SECRET_PASSWORD, SECRET_PLAIN, SECRET_LOGIN, SECRETS };

struct session {
	const struct ms_smtp__server *srv;
	const struct ms_smtp__req *req;
	struct ms_smtp_result *res;
	struct ms_net_conn conn;
	bool fd_registered;
	bool tls_up;
	bool failed;
	char buf[4096]; /* > MS_SMTP__LINE_MAX + 2 */
	size_t start, end;
	size_t read_left;
	struct ms_smtp__reply reply;
	struct ms_smtp__caps caps;
	/* Scrubbed from any text we report; NULL until known. */
	char *secrets[SECRETS];
};

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void fail(struct session *s, enum ms_smtp_status status,
		 enum ms_smtp_error error, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Records the first failure (later ones are its consequences). */
static void fail(struct session *s, enum ms_smtp_status status,
		 enum ms_smtp_error error, int code, const char *fmt, ...)
{
	va_list ap;
	char *raw;

	ut_assert(status != MS_SMTP_OK && error != MS_SMTP_ERR_NONE);
	if (s->failed)
		return;
	s->failed = true;
	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	s->res->status = status;
	s->res->error = error;
	s->res->code = code;
	s->res->text = ut_utf8_clean_str(raw, strlen(raw), UT_CLEAN_ONELINE,
					 MS_SMTP__TEXT_MAX);
	for (int i = 0; i < SECRETS; i++)
		ms_smtp__scrub(s->res->text, s->secrets[i]);
	free(raw);
}

/* The connection failed during what (NULL: its text says); returns -1. */
static int net_failed(struct session *s, const char *what)
{
	const struct ms_net_conn *c = &s->conn;
	enum ms_smtp_error error = MS_SMTP_ERR_IO;

	if (c->err == MS_NET_ERR_TLS)
		error = MS_SMTP_ERR_TLS;
	else if (c->timed_out)
		error = MS_SMTP_ERR_TIMEOUT;
	fail(s, MS_SMTP_TEMP, error, 0, "%s%s%s", what != NULL ? what : "",
	     what != NULL ? ": " : "",
	     c->err_text != NULL ? c->err_text : "connection lost");
	return -1;
}

/* The next line from the server (CRLF removed; valid until the next
   read). Returns 0 or -1 (failed). */
static int read_line(struct session *s, const char *what, const char **line_r,
		     size_t *len_r)
{
	for (;;) {
		char *line = s->buf + s->start;
		char *nl = memchr(line, '\n', s->end - s->start);
		size_t room;
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - line);

			s->start += len + 1;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			if (len > MS_SMTP__LINE_MAX)
				break;
			*line_r = line;
			*len_r = len;
			return 0;
		}
		if (s->end - s->start > MS_SMTP__LINE_MAX + 1)
			break;
		if (s->start > 0) {
			memmove(s->buf, s->buf + s->start, s->end - s->start);
			s->end -= s->start;
			s->start = 0;
		}
		if (s->read_left == 0) {
			fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_IO, 0,
			     "%s: the server sent more than %zu bytes", what,
			     READ_MAX);
			return -1;
		}
		room = sizeof(s->buf) - s->end;
		if (room > s->read_left)
			room = s->read_left;
		n = ms_net_read(&s->conn, s->buf + s->end, room);
		if (n == 0) {
			fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_IO, 0,
			     "%s: connection closed by the server", what);
			return -1;
		}
		if (n < 0)
			return net_failed(s, what);
		s->read_left -= (size_t)n;
		s->end += (size_t)n;
	}
	fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_IO, 0,
	     "%s: reply line longer than %d bytes", what, MS_SMTP__LINE_MAX);
	return -1;
}

/* Reads a whole reply into s->reply; 0 or -1 (failed). */
static int read_reply(struct session *s, enum ms_smtp__stage stage)
{
	const char *what = ms_smtp__stage_name(stage);

	ms_smtp__reply_reset(&s->reply);
	for (;;) {
		const char *line, *error;
		size_t len;
		int r;

		if (read_line(s, what, &line, &len) < 0)
			return -1;
		r = ms_smtp__reply_line(&s->reply, line, len, &error);
		if (r < 0) {
			fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_IO, 0,
			     "%s: unparsable reply: %s", what, error);
			return -1;
		}
		if (r == 1)
			return 0;
	}
}

/* Sends line (CRLF added here); 0 or -1. */
static int send_buf(struct session *s, enum ms_smtp__stage stage,
		    struct ut_buf *line)
{
	ut_buf_append(line, "\r\n", 2);
	if (ms_net_write(&s->conn, line->data, line->len) < 0)
		return net_failed(s, ms_smtp__stage_name(stage));
	return 0;
}

static int command(struct session *s, enum ms_smtp__stage stage,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sends a command and reads its reply; 0 or -1 (failed). */
static int command(struct session *s, enum ms_smtp__stage stage,
		   const char *fmt, ...)
{
	struct ut_buf line;
	va_list ap;
	int r;

	ut_buf_init(&line);
	va_start(ap, fmt);
	ut_buf_vappendf(&line, fmt, ap);
	va_end(ap);
	r = send_buf(s, stage, &line);
	ut_buf_free(&line);
	if (r < 0)
		return -1;
	return read_reply(s, stage);
}

/* Sends a line holding a secret, wiping the buffer; then reads the
   reply. 0 or -1. */
static int secret_command(struct session *s, const char *prefix,
			  const char *b64)
{
	struct ut_buf line;
	int r;

	ut_buf_init(&line);
	/* One allocation, so that no copy is left behind by a realloc. */
	ut_buf_reserve(&line, strlen(prefix) + strlen(b64) + 2);
	ut_buf_append_str(&line, prefix);
	ut_buf_append_str(&line, b64);
	r = send_buf(s, MS_SMTP__AUTH, &line);
	explicit_bzero(line.data, line.cap);
	ut_buf_free(&line);
	if (r < 0)
		return -1;
	return read_reply(s, MS_SMTP__AUTH);
}

/* The server refused at stage with s->reply; returns -1. */
static int refused(struct session *s, enum ms_smtp__stage stage,
		   enum ms_smtp_error error)
{
	char *text = ms_smtp__reply_text(&s->reply, s->secrets, SECRETS);

	fail(s, ms_smtp__classify(stage, s->reply.code), error, s->reply.code,
	     "%s: %s", ms_smtp__stage_name(stage), text);
	free(text);
	return -1;
}

/* A command whose reply must be positive; 0 or -1 (failed). */
static int expect(struct session *s, enum ms_smtp__stage stage)
{
	if (ms_smtp__positive(stage, s->reply.code))
		return 0;
	return refused(s, stage, MS_SMTP_ERR_REPLY);
}

static int ehlo(struct session *s)
{
	const struct ms_smtp__server *srv = s->srv;

	if (command(s, MS_SMTP__EHLO, "EHLO %s", srv->ehlo_name) < 0)
		return -1;
	if (s->reply.code == 250) {
		ms_smtp__parse_ehlo(&s->reply, &s->caps);
		return 0;
	}
	/* An old server: HELO will do when we need no extension. */
	if ((s->reply.code == 500 || s->reply.code == 502) &&
	    srv->tls == MS_SMTP_TLS_NONE && srv->user == NULL) {
		s->caps = (struct ms_smtp__caps){0};
		if (command(s, MS_SMTP__HELO, "HELO %s", srv->ehlo_name) < 0)
			return -1;
		return expect(s, MS_SMTP__HELO);
	}
	return expect(s, MS_SMTP__EHLO);
}

static int start_tls(struct session *s)
{
	if (ms_net_start_tls(&s->conn, s->srv->tls_ctx, s->srv->host) < 0)
		return net_failed(s, NULL);
	s->tls_up = true;
	return 0;
}

static int starttls(struct session *s)
{
	if (!s->caps.starttls) {
		fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_TLS, 0,
		     "STARTTLS: not offered by the server");
		return -1;
	}
	if (command(s, MS_SMTP__STARTTLS, "STARTTLS") < 0)
		return -1;
	if (!ms_smtp__positive(MS_SMTP__STARTTLS, s->reply.code))
		return refused(s, MS_SMTP__STARTTLS, MS_SMTP_ERR_TLS);
	/* Anything after the 220 came in clear and could be a man in the
	   middle's (CVE-2011-0411): refuse it. */
	if (s->start != s->end) {
		fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_TLS, 0,
		     "STARTTLS: the server sent data before the TLS "
		     "handshake");
		return -1;
	}
	if (start_tls(s) < 0)
		return -1;
	/* What the server said in clear no longer counts (RFC 3207). */
	return ehlo(s);
}

static int auth(struct session *s)
{
	const struct ms_smtp__server *srv = s->srv;
	size_t ulen = strlen(srv->user), plen = strlen(srv->password);
	struct ut_buf b64;

	/* Never in clear when TLS is configured (starttls() made sure). */
	ut_assert(srv->tls == MS_SMTP_TLS_NONE || s->tls_up);
	ut_buf_init(&b64);
	ut_buf_reserve(&b64, (plen + 2) / 3 * 4 + 1);
	ms_smtp__base64(srv->password, plen, &b64);
	s->secrets[SECRET_LOGIN] = ut_buf_steal(&b64);
	if (s->caps.auth_plain) {
		/* authzid NUL authcid NUL password, in one allocation. */
		size_t n = ulen + plen + 2;
		char *token = xmalloc(n);

		token[0] = '\0';
		memcpy(token + 1, srv->user, ulen);
		token[ulen + 1] = '\0';
		memcpy(token + ulen + 2, srv->password, plen);
		ut_buf_reserve(&b64, (n + 2) / 3 * 4 + 1);
		ms_smtp__base64(token, n, &b64);
		explicit_bzero(token, n);
		free(token);
		s->secrets[SECRET_PLAIN] = ut_buf_steal(&b64);
		if (secret_command(s, "AUTH PLAIN ", s->secrets[SECRET_PLAIN]) <
		    0)
			return -1;
	} else if (s->caps.auth_login) {
		if (command(s, MS_SMTP__AUTH, "AUTH LOGIN") < 0)
			return -1;
		if (s->reply.code != 334)
			return refused(s, MS_SMTP__AUTH, MS_SMTP_ERR_AUTH);
		ms_smtp__base64(srv->user, ulen, &b64);
		if (command(s, MS_SMTP__AUTH, "%s", b64.data) < 0) {
			ut_buf_free(&b64);
			return -1;
		}
		ut_buf_free(&b64);
		if (s->reply.code != 334)
			return refused(s, MS_SMTP__AUTH, MS_SMTP_ERR_AUTH);
		if (secret_command(s, "", s->secrets[SECRET_LOGIN]) < 0)
			return -1;
	} else {
		fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_AUTH, 0,
		     "AUTH: the server offers neither PLAIN nor LOGIN");
		return -1;
	}
	if (!ms_smtp__positive(MS_SMTP__AUTH, s->reply.code))
		return refused(s, MS_SMTP__AUTH, MS_SMTP_ERR_AUTH);
	return 0;
}

/* Connects, TLS, greeting, EHLO, AUTH: 0 or -1 (failed). */
static int open_session(struct session *s)
{
	const struct ms_smtp__server *srv = s->srv;
	uint64_t deadline = ms_net_now_msecs() + srv->job_msecs;
	char *error;
	int fd;

	fd = ms_net_connect(srv->host, srv->port, srv->stop_fd,
			    srv->timeout_msecs, deadline, &error);
	if (fd < 0) {
		fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_CONNECT, 0, "%s", error);
		free(error);
		return -1;
	}
	ms_net_init(&s->conn, fd, srv->stop_fd, srv->timeout_msecs, deadline,
		    srv->job_msecs);
	if (srv->set_fd_cb != NULL && srv->set_fd_cb(fd, srv->set_fd_ctx) < 0) {
		fail(s, MS_SMTP_TEMP, MS_SMTP_ERR_IO, 0, "pool stopped");
		return -1;
	}
	s->fd_registered = true;
	if (srv->tls == MS_SMTP_TLS_IMPLICIT && start_tls(s) < 0)
		return -1;
	if (read_reply(s, MS_SMTP__GREETING) < 0 ||
	    expect(s, MS_SMTP__GREETING) < 0 || ehlo(s) < 0)
		return -1;
	if (srv->tls == MS_SMTP_TLS_STARTTLS && starttls(s) < 0)
		return -1;
	if (srv->user != NULL && auth(s) < 0)
		return -1;
	return 0;
}

/* MAIL FROM and one RCPT TO per recipient; 0 when at least one was
   accepted, else -1 (failed). */
static int envelope(struct session *s)
{
	const struct ms_smtp__req *req = s->req;
	struct ms_smtp_rcpt_result *first_refusal = NULL;
	bool any_temp = false;
	size_t accepted = 0;
	char size[32] = "";

	if (s->caps.size)
		snprintf(size, sizeof(size), " SIZE=%zu", req->data_len);
	if (command(s, MS_SMTP__MAIL, "MAIL FROM:<%s>%s%s", req->sender, size,
		    req->eightbit && s->caps.eightbitmime ? " BODY=8BITMIME"
							  : "") < 0 ||
	    expect(s, MS_SMTP__MAIL) < 0)
		return -1;
	for (size_t i = 0; i < req->rcpt_count; i++) {
		struct ms_smtp_rcpt_result *rr = &s->res->rcpts[i];

		if (command(s, MS_SMTP__RCPT, "RCPT TO:<%s>", req->rcpts[i]) <
		    0)
			return -1;
		rr->code = s->reply.code;
		rr->text = ms_smtp__reply_text(&s->reply, s->secrets, SECRETS);
		if (ms_smtp__positive(MS_SMTP__RCPT, rr->code)) {
			accepted++;
			continue;
		}
		rr->status = ms_smtp__classify(MS_SMTP__RCPT, rr->code);
		any_temp = any_temp || rr->status == MS_SMTP_TEMP;
		if (first_refusal == NULL)
			first_refusal = rr;
	}
	if (accepted > 0)
		return 0;
	fail(s, any_temp ? MS_SMTP_TEMP : MS_SMTP_PERM, MS_SMTP_ERR_REPLY,
	     first_refusal->code, "RCPT TO: no recipient accepted: <%s>: %s",
	     req->rcpts[first_refusal - s->res->rcpts], first_refusal->text);
	return -1;
}

static int data(struct session *s)
{
	if (command(s, MS_SMTP__DATA, "DATA") < 0 ||
	    expect(s, MS_SMTP__DATA) < 0)
		return -1;
	if (ms_net_write(&s->conn, s->req->wire, s->req->wire_len) < 0)
		return net_failed(s, "DATA");
	if (read_reply(s, MS_SMTP__DOT) < 0)
		return -1;
	return expect(s, MS_SMTP__DOT);
}

/* QUIT on a healthy connection, briefly: the outcome is known. */
static void quit(struct session *s)
{
	struct ut_buf line;

	if (s->conn.fd < 0 || s->conn.err != MS_NET_OK ||
	    (s->failed && s->res->error != MS_SMTP_ERR_REPLY &&
	     s->res->error != MS_SMTP_ERR_AUTH))
		return;
	if (s->conn.timeout_msecs > QUIT_TIMEOUT_MSECS)
		s->conn.timeout_msecs = QUIT_TIMEOUT_MSECS;
	ut_buf_init(&line);
	ut_buf_append_str(&line, "QUIT\r\n");
	if (ms_net_write(&s->conn, line.data, line.len) == 0) {
		const char *l;
		size_t len;
		bool was_failed = s->failed;

		/* Its outcome changes nothing: keep any failure out. */
		s->failed = true;
		(void)read_line(s, "QUIT", &l, &len);
		s->failed = was_failed;
	}
	ut_buf_free(&line);
}

void ms_smtp__session_run(const struct ms_smtp__server *srv,
			  const struct ms_smtp__req *req,
			  struct ms_smtp_result *res)
{
	struct session s = {.srv = srv, .req = req, .res = res};

	ut_assert(req->rcpt_count > 0);
	ut_assert(srv->tls == MS_SMTP_TLS_NONE || srv->tls_ctx != NULL);
	s.conn.fd = -1;
	s.read_left = READ_MAX;
	ms_smtp__reply_init(&s.reply);
	if (srv->password != NULL)
		s.secrets[SECRET_PASSWORD] = xstrdup(srv->password);
	res->rcpts = xcalloc(req->rcpt_count, sizeof(*res->rcpts));
	res->rcpt_count = req->rcpt_count;
	for (size_t i = 0; i < req->rcpt_count; i++)
		res->rcpts[i].address = xstrdup(req->rcpts[i]);

	if (open_session(&s) == 0 && envelope(&s) == 0 && data(&s) == 0)
		res->status = MS_SMTP_OK;
	quit(&s);

	/* Recipients not refused at RCPT share the message's outcome. */
	for (size_t i = 0; i < res->rcpt_count; i++) {
		struct ms_smtp_rcpt_result *rr = &res->rcpts[i];

		if (rr->code == 0 || ms_smtp__positive(MS_SMTP__RCPT, rr->code))
			rr->status = res->status;
	}
	if (s.fd_registered && srv->set_fd_cb != NULL)
		srv->set_fd_cb(-1, srv->set_fd_ctx);
	ms_net_clear(&s.conn);
	ms_smtp__reply_free(&s.reply);
	for (int i = 0; i < SECRETS; i++)
		wipe_free(s.secrets[i]);
}

void ms_smtp__result_clear(struct ms_smtp_result *res)
{
	for (size_t i = 0; i < res->rcpt_count; i++) {
		free(res->rcpts[i].address);
		free(res->rcpts[i].text);
	}
	free(res->rcpts);
	free(res->text);
	*res = (struct ms_smtp_result){0};
}
