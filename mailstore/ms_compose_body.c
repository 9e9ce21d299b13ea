/*
 * The body for ms_compose: format=flowed, then 7bit, quoted-printable
 * (RFC 2045 6.7) or base64 (RFC 2045 6.8). See ms_compose.h.
 */
#include <stdint.h>
#include <string.h>

#include "ms_compose_private.h"
#include "ut_xalloc.h"

/* Characters per flowed line before it is broken: RFC 3676 recommends
   72, which also keeps an ASCII line, its stuffing space and a soft-break
   space encoded as "=20" within one quoted-printable line. */
#define FLOW_WIDTH 72
/* Octets of an encoded QP or base64 line, without CRLF. */
#define ENC_LINE 76
/* Longest line of a body sent as 7bit. */
#define SEVEN_BIT_LINE 78

static size_t seq_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Appends one physical flowed line s[0..len), space-stuffed if needed. */
static void flow_piece(const char *s, size_t len, struct ut_buf *out)
{
	if (len > 0 && (s[0] == ' ' || s[0] == '>' ||
			(len >= 5 && memcmp(s, "From ", 5) == 0)))
		ut_buf_append_c(out, ' ');
	ut_buf_append(out, s, len);
	ut_buf_append_c(out, '\n');
}

/*
 * Appends one logical line (no '\n', no trailing space) as flowed lines:
 * broken after a space so that a line holds at most FLOW_WIDTH characters
 * where possible; every line but the last ends with that space.
 */
static void flow_line(const char *s, size_t len, struct ut_buf *out)
{
	size_t pos = 0;
	while (pos < len) {
		size_t i = pos, chars = 0, brk = pos;
		while (i < len && chars < FLOW_WIDTH) {
			size_t n = seq_len((unsigned char)s[i]);
			i += n <= len - i ? n : len - i;
			chars++;
			if (s[i - 1] == ' ')
				brk = i;
		}
		if (i >= len) {
			flow_piece(s + pos, len - pos, out);
			return;
		}
		if (s[i] == ' ')
			brk = i + 1; /* the line ends right at a space */
		if (brk == pos) {
			/* One long word: break after it, if anywhere. */
			const char *sp = memchr(s + i, ' ', len - i);
			if (sp == NULL) {
				flow_piece(s + pos, len - pos, out);
				return;
			}
			brk = (size_t)(sp - s) + 1;
		}
		/* Keep a run of spaces together, so no line starts with
		   one. A logical line has no trailing space, so brk < len. */
		while (brk < len && s[brk] == ' ')
			brk++;
		flow_piece(s + pos, brk - pos, out);
		pos = brk;
	}
	if (len == 0)
		flow_piece(s, 0, out);
}

static void flow(const char *text, size_t len, struct ut_buf *out)
{
	size_t start = 0;
	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t l = end - start;
		while (l > 0 && text[start + l - 1] == ' ')
			l--;
		flow_line(text + start, l, out);
		start = end + 1;
	}
}

static void append_qp(const char *text, size_t len, struct ut_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = 0;
	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t col = 0;
		for (size_t i = start; i < end; i++) {
			unsigned char c = (unsigned char)text[i];
			bool last = i + 1 == end;
			bool literal = (c >= 33 && c <= 126 && c != '=') ||
				       ((c == ' ' || c == '\t') && !last);
			size_t n = literal ? 1 : 3;
			/* A soft break "=" must fit on the line too. Keep
			   a UTF-8 sequence on one line: readers that show
			   the raw text thank us. */
			size_t need = n;
			if (c >= 0xC0)
				need = 3 * seq_len(c);
			if (col + need > ENC_LINE - 1) {
				ut_buf_append(out, "=\r\n", 3);
				col = 0;
			}
			if (literal) {
				ut_buf_append_c(out, (char)c);
			} else {
				char e[3] = {'=', hex[c >> 4], hex[c & 15]};
				ut_buf_append(out, e, 3);
			}
			col += n;
		}
		ut_buf_append(out, "\r\n", 2);
		start = end + 1;
	}
}

/* base64 of the text in canonical form (CRLF line ends). */
static void append_base64(const char *text, size_t len, struct ut_buf *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct ut_buf canon = UT_BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			ut_buf_append_c(&canon, '\r');
		ut_buf_append_c(&canon, text[i]);
	}
	const unsigned char *p = (const unsigned char *)canon.data;
	size_t col = 0;
	for (size_t i = 0; i < canon.len; i += 3) {
		size_t ng = canon.len - i < 3 ? canon.len - i : 3;
		uint32_t v = (uint32_t)p[i] << 16;
		if (ng > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (ng > 2)
			v |= p[i + 2];
		char e[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
			     ng > 1 ? b64[(v >> 6) & 63] : '=',
			     ng > 2 ? b64[v & 63] : '='};
		ut_buf_append(out, e, 4);
		col += 4;
		if (col >= ENC_LINE) {
			ut_buf_append(out, "\r\n", 2);
			col = 0;
		}
	}
	if (col > 0)
		ut_buf_append(out, "\r\n", 2);
	ut_buf_free(&canon);
}

/* Octets base64 takes for text with n_lf line ends (each one 2 octets). */
static size_t base64_size(size_t len, size_t n_lf)
{
	size_t raw = len + n_lf;
	size_t enc = (raw + 2) / 3 * 4;
	return enc + (enc + ENC_LINE - 1) / ENC_LINE * 2;
}

const char *ms_compose__body(const char *text, size_t len, bool flowed,
			     struct ut_buf *out)
{
	struct ut_buf lines = UT_BUF_INIT;
	if (flowed) {
		flow(text, len, &lines);
	} else {
		ut_buf_append(&lines, text, len);
		if (len > 0 && text[len - 1] != '\n')
			ut_buf_append_c(&lines, '\n');
	}
	const char *t = lines.data;
	size_t tlen = lines.len;

	/* 7bit needs ASCII, short lines, and no white space at the end of
	   a line (which gateways may strip) but a flowed soft break. */
	bool seven_bit = true;
	size_t max_line = 0, col = 0, n_lf = 0;
	for (size_t i = 0; i < tlen; i++) {
		if ((unsigned char)t[i] >= 0x80)
			seven_bit = false;
		if (t[i] == '\n') {
			n_lf++;
			col = 0;
			if (i > 0 &&
			    (t[i - 1] == '\t' || (t[i - 1] == ' ' && !flowed)))
				seven_bit = false;
		} else if (++col > max_line) {
			max_line = col;
		}
	}

	const char *cte;
	if (seven_bit && max_line <= SEVEN_BIT_LINE) {
		for (size_t s = 0; s < tlen;) {
			const char *nl = memchr(t + s, '\n', tlen - s);
			size_t e = (size_t)(nl - t); /* t ends with '\n' */
			ut_buf_append(out, t + s, e - s);
			ut_buf_append(out, "\r\n", 2);
			s = e + 1;
		}
		cte = "7bit";
	} else {
		struct ut_buf qp = UT_BUF_INIT;
		append_qp(t, tlen, &qp);
		if (qp.len > base64_size(tlen, n_lf)) {
			append_base64(t, tlen, out);
			cte = "base64";
		} else {
			ut_buf_append(out, qp.data, qp.len);
			cte = "quoted-printable";
		}
		ut_buf_free(&qp);
	}
	ut_buf_free(&lines);
	return cte;
}
