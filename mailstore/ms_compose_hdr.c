/*
 * Header lines for ms_compose: folding and RFC 2047 encoded words (see
 * ms_compose_private.h). The decoding side is ms_mime.c; the two share no
 * table because decoding and encoding need different ones.
 */
#include <stdint.h>
#include <string.h>

#include "ms_compose_private.h"
#include "ut_xalloc.h"

/* Longest encoded word (RFC 2047 section 2). */
#define EW_MAX 75
/* "=?UTF-8?Q?" + "?=". */
#define EW_OVERHEAD 12
/* An ASCII word longer than this could not be folded onto a line of its
   own after "Subject: " and is sent encoded instead. */
#define WORD_MAX (MS_COMPOSE_FOLD - 12)

void ms_compose__hdr_begin(struct ms_hdr *h, struct ut_buf *out,
			   const char *name)
{
	h->out = out;
	ut_buf_append_str(out, name);
	ut_buf_append_c(out, ':');
	h->line_len = strlen(name) + 1;
	h->first_len = h->line_len;
}

void ms_compose__hdr_token(struct ms_hdr *h, const char *tok, size_t len,
			   bool space)
{
	if (space) {
		bool has_text = h->line_len > h->first_len;
		if (has_text && h->line_len + 1 + len > MS_COMPOSE_FOLD) {
			ut_buf_append(h->out, "\r\n ", 3);
			h->line_len = 1;
			h->first_len = 1;
		} else {
			ut_buf_append_c(h->out, ' ');
			h->line_len++;
		}
	}
	ut_buf_append(h->out, tok, len);
	h->line_len += len;
}

void ms_compose__hdr_end(struct ms_hdr *h)
{
	ut_buf_append(h->out, "\r\n", 2);
	h->line_len = 0;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool is_atext(unsigned char c)
{
	return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Characters Q may leave as they are: RFC 2047 5(3), the strictest
   context, so the same words serve in a phrase and in unstructured text. */
static bool q_literal(unsigned char c)
{
	return is_alnum(c) || c == '!' || c == '*' || c == '+' || c == '-' ||
	       c == '/';
}

static size_t q_len(unsigned char c)
{
	return q_literal(c) || c == ' ' ? 1 : 3;
}

/* Octets of the UTF-8 sequence starting with c (the input is valid). */
static size_t seq_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static void append_q(struct ut_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ') {
			ut_buf_append_c(out, '_');
		} else if (q_literal(c)) {
			ut_buf_append_c(out, (char)c);
		} else {
			char e[3] = {'=', hex[c >> 4], hex[c & 15]};
			ut_buf_append(out, e, 3);
		}
	}
}

static void append_b(struct ut_buf *out, const char *s, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		char e[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
			     i + 1 < len ? b64[(v >> 6) & 63] : '=',
			     i + 2 < len ? b64[v & 63] : '='};
		ut_buf_append(out, e, 4);
	}
}

static size_t b_len(size_t octets)
{
	return (octets + 2) / 3 * 4;
}

/* Encoded words for all of text. */
static void encode_words(struct ms_hdr *h, const char *text, size_t len)
{
	size_t q_total = 0;
	for (size_t i = 0; i < len; i++)
		q_total += q_len((unsigned char)text[i]);
	bool use_q = q_total <= b_len(len);
	struct ut_buf word = UT_BUF_INIT;

	size_t pos = 0;
	while (pos < len) {
		/* The room on this line, or on a fresh continuation line
		   when too little is left here. */
		size_t room = EW_MAX;
		if (h->line_len + 1 < MS_COMPOSE_FOLD)
			room = MS_COMPOSE_FOLD - h->line_len - 1;
		if (room > EW_MAX)
			room = EW_MAX;
		if (room < EW_OVERHEAD + 12)
			room = EW_MAX;
		size_t budget = room - EW_OVERHEAD;

		/* Whole characters while they fit. */
		size_t end = pos, enc = 0;
		while (end < len) {
			size_t n = seq_len((unsigned char)text[end]);
			if (end + n > len)
				n = len - end;
			size_t add = 0;
			for (size_t k = 0; k < n; k++)
				add += q_len((unsigned char)text[end + k]);
			size_t next = use_q ? enc + add : b_len(end + n - pos);
			if (next > budget)
				break;
			enc = next;
			end += n;
		}
		ut_assert(end > pos);

		ut_buf_reset(&word);
		ut_buf_append_str(&word, use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?");
		if (use_q)
			append_q(&word, text + pos, end - pos);
		else
			append_b(&word, text + pos, end - pos);
		ut_buf_append(&word, "?=", 2);
		ms_compose__hdr_token(h, word.data, word.len, true);
		pos = end;
	}
	ut_buf_free(&word);
}

void ms_compose__hdr_text(struct ms_hdr *h, const char *text, bool phrase)
{
	size_t len = strlen(text);
	bool encode = false, special = false;
	size_t word = 0;

	if (len == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x80 || c < 0x20 || c == 0x7F)
			encode = true;
		else if (c == '=' && i + 1 < len && text[i + 1] == '?')
			encode = true;
		else if (c != ' ' && !is_atext(c))
			special = true;
		word = c == ' ' ? 0 : word + 1;
		if (word > WORD_MAX)
			encode = true;
	}
	if (encode) {
		encode_words(h, text, len);
		return;
	}
	if (phrase && special) {
		/* One quoted string; its length is bounded by the
		   display-name limit, far below 998. */
		struct ut_buf q = UT_BUF_INIT;
		ut_buf_append_c(&q, '"');
		for (size_t i = 0; i < len; i++) {
			if (text[i] == '"' || text[i] == '\\')
				ut_buf_append_c(&q, '\\');
			ut_buf_append_c(&q, text[i]);
		}
		ut_buf_append_c(&q, '"');
		ms_compose__hdr_token(h, q.data, q.len, true);
		ut_buf_free(&q);
		return;
	}
	/* Words separated by single spaces: each space is a place to fold,
	   and unfolding gives the text back exactly. */
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] != ' ')
			continue;
		if (i > start)
			ms_compose__hdr_token(h, text + start, i - start, true);
		start = i + 1;
	}
}
