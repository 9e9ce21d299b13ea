/*
 * SMTP without a connection (see ms_smtp_proto.h).
 */

#include "ms_smtp_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

void ms_smtp__reply_init(struct ms_smtp__reply *r)
{
	*r = (struct ms_smtp__reply){0};
	ut_buf_init(&r->text);
}

void ms_smtp__reply_reset(struct ms_smtp__reply *r)
{
	r->code = 0;
	r->lines = 0;
	r->done = false;
	ut_buf_reset(&r->text);
}

void ms_smtp__reply_free(struct ms_smtp__reply *r)
{
	ut_buf_free(&r->text);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int ms_smtp__reply_line(struct ms_smtp__reply *r, const char *line, size_t len,
			const char **error_r)
{
	int code;
	bool last;

	ut_assert(!r->done);
	if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) ||
	    !is_digit(line[2]) || line[0] < '2' || line[0] > '5') {
		*error_r = "reply without a valid code";
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		*error_r = "reply code not followed by space or hyphen";
		return -1;
	}
	if (r->lines > 0 && code != r->code) {
		*error_r = "reply lines with different codes";
		return -1;
	}
	if (r->lines >= MS_SMTP__REPLY_LINES_MAX) {
		*error_r = "reply with too many lines";
		return -1;
	}
	last = len == 3 || line[3] == ' ';
	r->code = code;
	if (r->lines > 0)
		ut_buf_append_c(&r->text, '\n');
	if (len > 4)
		ut_buf_append(&r->text, line + 4, len - 4);
	r->lines++;
	r->done = last;
	return last ? 1 : 0;
}

const char *ms_smtp__stage_name(enum ms_smtp__stage stage)
{
	switch (stage) {
	case MS_SMTP__GREETING:
		return "greeting";
	case MS_SMTP__EHLO:
		return "EHLO";
	case MS_SMTP__HELO:
		return "HELO";
	case MS_SMTP__STARTTLS:
		return "STARTTLS";
	case MS_SMTP__AUTH:
		return "AUTH";
	case MS_SMTP__MAIL:
		return "MAIL FROM";
	case MS_SMTP__RCPT:
		return "RCPT TO";
	case MS_SMTP__DATA:
		return "DATA";
	case MS_SMTP__DOT:
		return "end of data";
	case MS_SMTP__QUIT:
		return "QUIT";
	}
	return "?";
}

bool ms_smtp__positive(enum ms_smtp__stage stage, int code)
{
	switch (stage) {
	case MS_SMTP__GREETING:
	case MS_SMTP__STARTTLS:
		return code == 220;
	case MS_SMTP__EHLO:
	case MS_SMTP__HELO:
	case MS_SMTP__MAIL:
	case MS_SMTP__DOT:
		return code == 250;
	case MS_SMTP__RCPT:
		return code == 250 || code == 251;
	case MS_SMTP__AUTH:
		return code == 235;
	case MS_SMTP__DATA:
		return code == 354;
	case MS_SMTP__QUIT:
		return code == 221;
	}
	return false;
}

enum ms_smtp_status ms_smtp__classify(enum ms_smtp__stage stage, int code)
{
	if (code < 500 || code > 599)
		return MS_SMTP_TEMP;
	switch (stage) {
	case MS_SMTP__RCPT:
		/* RFC 5321 4.5.3.1.10: 552 "too many recipients" is 452. */
		return code == 552 ? MS_SMTP_TEMP : MS_SMTP_PERM;
	case MS_SMTP__MAIL:
	case MS_SMTP__DATA:
	case MS_SMTP__DOT:
		return MS_SMTP_PERM;
	default:
		/* Before MAIL FROM: our link to the MTA, not the message. */
		return MS_SMTP_TEMP;
	}
}

void ms_smtp__scrub(char *text, const char *secret)
{
	size_t n;
	char *p;

	if (secret == NULL || secret[0] == '\0')
		return;
	n = strlen(secret);
	for (p = strstr(text, secret); p != NULL; p = strstr(p + n, secret))
		memset(p, '*', n);
}

char *ms_smtp__reply_text(const struct ms_smtp__reply *r, char *const *secrets,
			  size_t n_secrets)
{
	struct ut_buf raw;
	char *text;

	ut_buf_init(&raw);
	ut_buf_appendf(&raw, "%03d", r->code);
	if (r->text.len > 0) {
		ut_buf_append_c(&raw, ' ');
		ut_buf_append(&raw, r->text.data, r->text.len);
	}
	/* Scrubbed before cleaning and cutting, which could split a secret;
	   and after, in case cleaning joined one. */
	ut_buf_append_c(&raw, '\0');
	for (size_t i = 0; i < n_secrets; i++)
		ms_smtp__scrub(raw.data, secrets[i]);
	text = ut_utf8_clean_str(raw.data, strlen(raw.data), UT_CLEAN_ONELINE,
				 MS_SMTP__TEXT_MAX);
	for (size_t i = 0; i < n_secrets; i++)
		ms_smtp__scrub(text, secrets[i]);
	ut_buf_free(&raw);
	return text;
}

/* Does the keyword start this EHLO line (followed by the end or a
   space)? */
static bool ehlo_keyword(const char *line, size_t len, const char *kw)
{
	size_t n = strlen(kw);

	if (len < n || (len > n && line[n] != ' ' && line[n] != '='))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ut_ascii_tolower(line[i]) != ut_ascii_tolower(kw[i]))
			return false;
	}
	return true;
}

/* The mechanisms after "AUTH " (or the obsolete "AUTH="). */
static void ehlo_auth(const char *p, size_t len, struct ms_smtp__caps *caps)
{
	size_t i = 0;

	while (i < len) {
		size_t start, n;

		while (i < len && (p[i] == ' ' || p[i] == '='))
			i++;
		start = i;
		while (i < len && p[i] != ' ')
			i++;
		n = i - start;
		if (n == 5 && ehlo_keyword(p + start, n, "PLAIN"))
			caps->auth_plain = true;
		else if (n == 5 && ehlo_keyword(p + start, n, "LOGIN"))
			caps->auth_login = true;
	}
}

void ms_smtp__parse_ehlo(const struct ms_smtp__reply *r,
			 struct ms_smtp__caps *caps)
{
	const char *p = r->text.data;
	const char *end = p + r->text.len;
	bool first = true;

	*caps = (struct ms_smtp__caps){0};
	while (p != NULL && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		/* The first line is the server's name and greeting. */
		if (!first) {
			if (ehlo_keyword(p, len, "STARTTLS"))
				caps->starttls = true;
			else if (ehlo_keyword(p, len, "8BITMIME"))
				caps->eightbitmime = true;
			else if (ehlo_keyword(p, len, "SIZE"))
				caps->size = true;
			else if (ehlo_keyword(p, len, "AUTH"))
				ehlo_auth(p + 4, len - 4, caps);
		}
		first = false;
		p = nl != NULL ? nl + 1 : NULL;
	}
}

bool ms_smtp__data_encode(const char *data, size_t len, struct ut_buf *out)
{
	bool line_start = true;
	bool eight = false;

	ut_buf_reserve(out, len + len / 32 + 8);
	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if ((unsigned char)c >= 0x80)
			eight = true;
		if (c == '\r' || c == '\n') {
			/* CRLF, bare LF and bare CR: each one line end. */
			if (c == '\r' && i + 1 < len && data[i + 1] == '\n')
				i++;
			ut_buf_append(out, "\r\n", 2);
			line_start = true;
			continue;
		}
		if (line_start && c == '.')
			ut_buf_append_c(out, '.');
		ut_buf_append_c(out, c);
		line_start = false;
	}
	if (!line_start)
		ut_buf_append(out, "\r\n", 2);
	ut_buf_append(out, ".\r\n", 3);
	return eight;
}

bool ms_smtp__address_ok(const char *addr, bool allow_empty)
{
	size_t len = strlen(addr);

	if (len == 0)
		return allow_empty;
	if (len > MS_SMTP_ADDRESS_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

bool ms_smtp__ehlo_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 255)
		return false;
	if (name[0] == '[') {
		if (len < 3 || name[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++) {
			unsigned char c = (unsigned char)name[i];

			if (c <= 0x20 || c >= 0x7f || c == '[' || c == ']')
				return false;
		}
		return true;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!(is_digit(c) || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '-' || c == '.'))
			return false;
	}
	return true;
}

void ms_smtp__base64(const void *in, size_t len, struct ut_buf *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = in;
	size_t i = 0;

	ut_buf_reserve(out, (len + 2) / 3 * 4 + 1);
	for (; i + 3 <= len; i += 3) {
		uint32_t v =
		    (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char q[4] = {tab[v >> 18], tab[(v >> 12) & 63],
			     tab[(v >> 6) & 63], tab[v & 63]};

		ut_buf_append(out, q, 4);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};

		ut_buf_append(out, q, 4);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		char q[4] = {tab[v >> 18], tab[(v >> 12) & 63],
			     tab[(v >> 6) & 63], '='};

		ut_buf_append(out, q, 4);
	}
}
