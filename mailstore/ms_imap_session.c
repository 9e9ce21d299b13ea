/*
 * The connection side of an IMAP session (see ms_imap_session.h): our own
 * non-blocking connect with a timeout (ms_net.h; libetpan's waits forever
 * on a dead host), TLS through ms_imap_stream.c, greeting, STARTTLS,
 * master-user LOGIN, LOGOUT, and the error classes of the server's answers.
 */

#include "ms_imap_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_log.h"
#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Error texts are cut to this many bytes. */
#define ERROR_MAX_BYTES 300
/* Response codes longer than this are not ours to classify. */
#define CODE_MAX_BYTES 40

void ms_imap__session_fail(struct ms_imap__session *s, enum ms_imap_error error,
			   const char *fmt, ...)
{
	va_list ap;
	char *raw;

	ut_assert(error != MS_IMAP_OK);
	if (s->error != MS_IMAP_OK)
		return;
	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	s->error = error;
	s->error_text = ut_utf8_clean_str(raw, strlen(raw), UT_CLEAN_ONELINE,
					  ERROR_MAX_BYTES);
	free(raw);
}

/*
 * The response code of the tagged answer that ended the last command,
 * from the raw response libetpan parsed (its last line): "NONEXISTENT" for
 * "A3 NO [NONEXISTENT] ...". Writes "" when there is none.
 */
static void tagged_code(const struct ms_imap__session *s, char *code,
			size_t size)
{
	const MMAPString *buf = s->imap->imap_stream_buffer;
	size_t end, start, i, n = 0;

	code[0] = '\0';
	if (buf == NULL || buf->str == NULL || buf->len == 0)
		return;
	end = buf->len;
	while (end > 0 &&
	       (buf->str[end - 1] == '\n' || buf->str[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && buf->str[start - 1] != '\n')
		start--;
	/* tag SP ("NO" / "BAD" / "OK") SP "[" code ... */
	i = start;
	for (int field = 0; field < 2; field++) {
		while (i < end && buf->str[i] != ' ')
			i++;
		if (i < end)
			i++;
	}
	if (i >= end || buf->str[i] != '[')
		return;
	for (i++; i < end && n + 1 < size; i++, n++) {
		char c = buf->str[i];

		if (c == ']' || c == ' ' || (unsigned char)c < 0x21 ||
		    (unsigned char)c > 0x7e)
			break;
		code[n] = c;
	}
	code[n] = '\0';
}

static bool text_starts(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	if (text == NULL || strlen(text) < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ut_ascii_tolower(text[i]) != ut_ascii_tolower(prefix[i]))
			return false;
	}
	return true;
}

/* The class of a tagged NO or BAD for cmd. */
static enum ms_imap_error classify(enum ms_imap__cmd cmd, int r,
				   const char *code, const char *text)
{
	if (r == MAILIMAP_ERROR_STARTTLS)
		return MS_IMAP_ERR_TLS;
	if (cmd == MS_IMAP__CMD_LOGIN && r == MAILIMAP_ERROR_LOGIN) {
		if (ut_ascii_caseeq(code, "AUTHORIZATIONFAILED"))
			return MS_IMAP_ERR_NO_USER;
		if (ut_ascii_caseeq(code, "AUTHENTICATIONFAILED"))
			return MS_IMAP_ERR_AUTH;
	}
	/* TRYCREATE: the answer to an APPEND to a missing mailbox. */
	if (cmd == MS_IMAP__CMD_MAILBOX && r != MAILIMAP_ERROR_PROTOCOL &&
	    (ut_ascii_caseeq(code, "NONEXISTENT") ||
	     ut_ascii_caseeq(code, "TRYCREATE") ||
	     text_starts(text, "Mailbox doesn't exist")))
		return MS_IMAP_ERR_NO_MAILBOX;
	return MS_IMAP_ERR_TEMP;
}

void ms_imap__session_imap_fail(struct ms_imap__session *s,
				enum ms_imap__cmd cmd, const char *what, int r)
{
	const char *text = NULL;
	char code[CODE_MAX_BYTES];
	enum ms_imap_error cls;
	char *quoted;

	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		cls = s->stream != NULL
			  ? ms_imap__stream_error(s->stream, &text)
			  : MS_IMAP_OK;
		if (cls == MS_IMAP_OK)
			ms_imap__session_fail(s, MS_IMAP_ERR_TEMP,
					      "%s: connection lost", what);
		else
			ms_imap__session_fail(s, cls, "%s: %s", what, text);
		return;
	case MAILIMAP_ERROR_PARSE:
	case MAILIMAP_ERROR_NEEDS_MORE_DATA:
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP,
				      "%s: unparsable server response", what);
		return;
	case MAILIMAP_ERROR_MEMORY:
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP,
				      "%s: server response too large", what);
		return;
	case MAILIMAP_ERROR_BAD_STATE:
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP,
				      "%s: not possible in this state", what);
		return;
	default:
		break;
	}
	/* The server answered NO or BAD (or BYE, or with a wrong tag). */
	text = s->imap->imap_response;
	if (text == NULL || text[0] == '\0')
		text = "no response text";
	tagged_code(s, code, sizeof(code));
	cls = classify(cmd, r, code, text);
	/* The server's words may be anything, even the password we sent. */
	quoted = ut_utf8_clean_str(text, strlen(text), UT_CLEAN_ONELINE,
				   ERROR_MAX_BYTES);
	ms_imap__scrub(quoted, s->srv->master_password);
	ms_imap__scrub(code, s->srv->master_password);
	if (r == MAILIMAP_ERROR_FATAL ||
	    r == MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION)
		ms_imap__session_fail(s, cls, "%s: server said BYE: %s", what,
				      quoted);
	else if (code[0] != '\0')
		ms_imap__session_fail(s, cls, "%s failed: [%s] %s", what, code,
				      quoted);
	else
		ms_imap__session_fail(s, cls, "%s failed: %s", what, quoted);
	free(quoted);
}

/* Opens a TCP connection; returns the fd or -1 (session failed). */
static int tcp_connect(struct ms_imap__session *s)
{
	const struct ms_imap__server *srv = s->srv;
	char *error;
	int fd = ms_net_connect(srv->host, srv->port, srv->stop_fd,
				srv->timeout_msecs, s->deadline_msecs, &error);

	if (fd < 0) {
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP, "%s", error);
		free(error);
	}
	return fd;
}

/* Fails the session with the stream's reason; returns -1. */
static int stream_failed(struct ms_imap__session *s, const char *what)
{
	const char *text;
	enum ms_imap_error cls = ms_imap__stream_error(s->stream, &text);

	if (cls == MS_IMAP_OK)
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP, "%s failed", what);
	else
		ms_imap__session_fail(s, cls, "%s", text);
	return -1;
}

static int start_tls(struct ms_imap__session *s)
{
	if (ms_imap__stream_start_tls(s->stream, s->srv->tls_ctx,
				      s->srv->host) < 0)
		return stream_failed(s, "TLS");
	s->tls_up = true;
	ut_trace(UT_TRACE_IMAP, s->log_prefix, "TLS with %s verified",
		 s->srv->host);
	return 0;
}

/* STARTTLS after a plain greeting. */
static int starttls(struct ms_imap__session *s)
{
	int r = mailimap_starttls(s->imap);

	/* Anything the server sent after its answer came in clear and could
	   be a man in the middle's (CVE-2011-0411, CVE-2020-15953): refuse
	   it. Debian's libetpan 1.9.4 also fails STARTTLS then. */
	if ((r == MAILIMAP_NO_ERROR || r == MAILIMAP_ERROR_STARTTLS) &&
	    s->imap->imap_stream->read_buffer_len != 0) {
		ms_imap__session_fail(s, MS_IMAP_ERR_TLS,
				      "STARTTLS: the server sent data before "
				      "the TLS handshake");
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR) {
		/* A BAD means the same as a NO here: no TLS, no LOGIN. */
		ms_imap__session_imap_fail(
		    s, MS_IMAP__CMD_OTHER, "STARTTLS",
		    r == MAILIMAP_ERROR_PROTOCOL ? MAILIMAP_ERROR_STARTTLS : r);
		return -1;
	}
	return start_tls(s);
}

/* Connects and reads the greeting; 0 or -1 (session failed). */
static int connect_greet(struct ms_imap__session *s)
{
	const struct ms_imap__server *srv = s->srv;
	mailstream *stream;
	int fd;
	int r;

	fd = tcp_connect(s);
	if (fd < 0)
		return -1;
	stream = ms_imap__stream_new(fd, srv->stop_fd, srv->timeout_msecs,
				     s->deadline_msecs, 4 * srv->timeout_msecs,
				     srv->master_password, &s->stream);
	/* From here on the session owns the stream, also on failure. */
	s->imap->imap_stream = stream;
	if (srv->set_fd_cb != NULL && srv->set_fd_cb(fd, srv->set_fd_ctx) < 0) {
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP, "pool stopped");
		return -1;
	}
	s->fd_registered = true;
	if (srv->tls == MS_IMAP_TLS_IMPLICIT && start_tls(s) < 0)
		return -1;
	r = mailimap_connect(s->imap, stream);
	if (r == MAILIMAP_NO_ERROR_AUTHENTICATED) {
		/* Not who we log in as; also a way around STARTTLS. */
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP,
				      "server greeted with PREAUTH; refusing");
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		ms_imap__session_imap_fail(s, MS_IMAP__CMD_OTHER, "greeting",
					   r);
		return -1;
	}
	if (srv->tls == MS_IMAP_TLS_STARTTLS && starttls(s) < 0)
		return -1;
	return 0;
}

static int login(struct ms_imap__session *s, const char *user)
{
	char *name =
	    xasprintf("%s%c%s", user, s->srv->separator, s->srv->master_user);
	int r;

	/* Never in clear when TLS is configured (connect_greet made sure). */
	ut_assert(s->srv->tls == MS_IMAP_TLS_NONE || s->tls_up);
	r = mailimap_login(s->imap, name, s->srv->master_password);
	if (r != MAILIMAP_NO_ERROR) {
		char *what = xasprintf("LOGIN as %s", name);

		ms_imap__session_imap_fail(s, MS_IMAP__CMD_LOGIN, what, r);
		free(what);
	}
	free(name);
	if (r != MAILIMAP_NO_ERROR)
		return -1;
	s->logged_in = true;
	return 0;
}

int ms_imap__session_open(struct ms_imap__session *s,
			  const struct ms_imap__server *srv, const char *user,
			  const char *log_prefix)
{
	*s = (struct ms_imap__session){
	    .srv = srv,
	    .log_prefix = log_prefix,
	    .deadline_msecs = ms_net_now_msecs() + 4 * srv->timeout_msecs,
	};
	ut_assert(srv->tls == MS_IMAP_TLS_NONE || srv->tls_ctx != NULL);
	s->imap = mailimap_new(0, NULL);
	ut_assert(s->imap != NULL);
	if (connect_greet(s) < 0 || login(s, user) < 0)
		return -1;
	ut_trace(UT_TRACE_IMAP, log_prefix, "logged in to %s port %u%s",
		 srv->host, (unsigned)srv->port,
		 srv->tls != MS_IMAP_TLS_NONE ? " over TLS" : "");
	return 0;
}

void ms_imap__session_close(struct ms_imap__session *s)
{
	const struct ms_imap__server *srv = s->srv;

	if (s->imap == NULL)
		return;
	/* Unregistered first: LOGOUT closes the fd (a stop still ends the
	   wait through stop_fd). */
	if (s->fd_registered && srv->set_fd_cb != NULL)
		srv->set_fd_cb(-1, srv->set_fd_ctx);
	s->fd_registered = false;
	if (s->error == MS_IMAP_OK && s->logged_in &&
	    s->imap->imap_stream != NULL)
		mailimap_logout(s->imap);
	/* Otherwise close without the LOGOUT that mailimap_free() would
	   send and wait out on a stalled peer. */
	if (s->imap->imap_stream != NULL) {
		mailstream_close(s->imap->imap_stream);
		s->imap->imap_stream = NULL;
	}
	mailimap_free(s->imap);
	s->imap = NULL;
	s->stream = NULL;
}
