#ifndef COMPOSE_TEST_H
#define COMPOSE_TEST_H

/*
 * Helpers of the ms_compose tests: a base message, building, the shape
 * check (CRLF only, line lengths, known headers), header values, and
 * independent decoders (ms_mime for RFC 2047, libetpan for QP and base64,
 * RFC 3676 unflowing). Include after test.h.
 */
#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>

#include "ms_compose.h"
#include "ms_mime.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define DATE_2025_07_01_12 1751371200

static struct ms_addr bob = {"bob@example.net", NULL};

static inline void base(struct ms_compose *c)
{
	memset(c, 0, sizeof(*c));
	c->from_addr = "alice@example.org";
	c->from_name = "Alice";
	c->to = &bob;
	c->n_to = 1;
	c->subject = "Hello there";
	c->body = "Hi Bob,\nsee you at noon.\n";
	c->body_len = strlen(c->body);
	c->date = DATE_2025_07_01_12;
	c->message_id = "<fixed.1@example.org>";
	c->version = "0.1.0";
}

/* Builds; returns the message (malloc'ed) or NULL with the error shown. */
static inline char *build(const struct ms_compose *c)
{
	struct ut_buf out = UT_BUF_INIT;
	char *error = NULL, *id = NULL;
	if (ms_compose_build(c, &out, &id, &error) < 0) {
		fprintf(stderr, "build: %s\n", error);
		free(error);
		ut_buf_free(&out);
		return NULL;
	}
	T_CHECK(id != NULL && id[0] == '<');
	free(id);
	return ut_buf_steal(&out);
}

static const char *const known[] = {
    "Date",
    "From",
    "To",
    "Cc",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Jabber-ID",
    "User-Agent",
};

/* CRLF only, no line over 998 (over 78 in the header only where one
   token is that long), every header line a known header or a
   continuation. Returns the number of failures. */
static inline int check_shape(const char *m, size_t max_header_line)
{
	int bad = 0;
	bool in_header = true;
	const char *line = m;
	for (const char *p = m; *p != '\0'; p++) {
		if (*p == '\r' && p[1] != '\n')
			bad++;
		if (*p == '\n' && (p == m || p[-1] != '\r'))
			bad++;
		if (*p != '\n')
			continue;
		size_t len = (size_t)(p - line) - 1;
		if (len > 998)
			bad++;
		if (in_header && len == 0) {
			in_header = false;
		} else if (in_header) {
			if (len > max_header_line)
				bad++;
			if (line[0] != ' ' && line[0] != '\t') {
				bool ok = false;
				for (size_t i = 0; i < UT_N_ELEMENTS(known);
				     i++) {
					size_t n = strlen(known[i]);
					ok = ok ||
					     (strncmp(line, known[i], n) == 0 &&
					      line[n] == ':');
				}
				if (!ok)
					bad++;
			}
		}
		line = p + 1;
	}
	if (in_header || *line != '\0')
		bad++; /* no body separator, or no CRLF at the end */
	return bad;
}

/* The unfolded raw value of header name (first one), or NULL. */
static inline char *header(const char *m, const char *name)
{
	size_t n = strlen(name);
	const char *end = strstr(m, "\r\n\r\n");
	for (const char *p = m; p != NULL && p < end;) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			struct ut_buf v = UT_BUF_INIT;
			p += n + 1;
			while (*p == ' ')
				p++;
			for (;;) {
				const char *e = strstr(p, "\r\n");
				ut_buf_append(&v, p, (size_t)(e - p));
				p = e + 2;
				if (*p != ' ' && *p != '\t')
					break;
			}
			return ut_buf_steal(&v);
		}
		p = strstr(p, "\r\n");
		if (p != NULL)
			p += 2;
	}
	return NULL;
}

static inline char *decoded_subject(const char *m)
{
	char *raw = header(m, "Subject");
	char *s = ms_mime_decode_header(raw, strlen(raw), 0);
	free(raw);
	return s;
}

/* The body, undone from its transfer encoding by libetpan. */
static inline char *decoded_body(const char *m)
{
	char *cte = header(m, "Content-Transfer-Encoding");
	int enc = strcmp(cte, "base64") == 0 ? MAILMIME_MECHANISM_BASE64
		  : strcmp(cte, "quoted-printable") == 0
		      ? MAILMIME_MECHANISM_QUOTED_PRINTABLE
		      : MAILMIME_MECHANISM_7BIT;
	free(cte);
	const char *b = strstr(m, "\r\n\r\n") + 4;
	size_t idx = 0, len = 0;
	char *res = NULL;
	T_CHECK_INT(mailmime_part_parse(b, strlen(b), &idx, enc, &res, &len),
		    MAILIMF_NO_ERROR);
	char *copy = strndup(res != NULL ? res : "", len);
	if (res != NULL)
		mmap_string_unref(res);
	return copy;
}

/* RFC 3676 decoding (DelSp=no) of a CRLF body into '\n' text. */
static inline char *unflow(const char *s)
{
	struct ut_buf out = UT_BUF_INIT;
	while (*s != '\0') {
		const char *e = strstr(s, "\r\n");
		if (e == NULL)
			e = s + strlen(s);
		const char *l = s;
		if (*l == ' ')
			l++;
		ut_buf_append(&out, l, (size_t)(e - l));
		if (e == l || e[-1] != ' ')
			ut_buf_append_c(&out, '\n');
		s = *e != '\0' ? e + 2 : e;
	}
	return ut_buf_steal(&out);
}

/* CRLF to '\n'. */
static inline char *lf(const char *s)
{
	struct ut_buf out = UT_BUF_INIT;
	for (; *s != '\0'; s++) {
		if (*s != '\r')
			ut_buf_append_c(&out, *s);
	}
	return ut_buf_steal(&out);
}

#endif
