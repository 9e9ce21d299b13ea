/*
 * Header decoding (see ms_mime.h).
 *
 * RFC 2047 decoding is done here rather than with libetpan's
 * mailmime_encoded_phrase_parse(): on libetpan 1.9.4 that function fails
 * the whole header when one encoded word is malformed or does not convert,
 * turns raw 8-bit bytes into '?' (or silently drops them), so one odd word
 * would cost the whole subject. The decoder below keeps what it cannot
 * decode, joins adjacent encoded words (also a character split between two
 * of them), and converts with iconv.
 *
 * Everything here is pure and reentrant: safe from any thread.
 */
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ut_buf.h"
#include "ms_mime.h"
#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define CHARSET_MAX_LEN 40

/* Maps a (lower-cased) charset label to the name iconv should use, with
   the supersets mail clients actually mean (as the WHATWG table does). */
static const char *iconv_name(const char *cs)
{
	static const struct {
		const char *label, *name;
	} map[] = {
	    {"iso-8859-1", "CP1252"},	 {"latin1", "CP1252"},
	    {"windows-1252", "CP1252"},	 {"gb2312", "GB18030"},
	    {"gbk", "GB18030"},		 {"x-gbk", "GB18030"},
	    {"shift_jis", "CP932"},	 {"sjis", "CP932"},
	    {"x-sjis", "CP932"},	 {"euc-kr", "CP949"},
	    {"ks_c_5601-1987", "CP949"}, {"iso-8859-8-i", "ISO-8859-8"},
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(map); i++) {
		if (strcmp(cs, map[i].label) == 0)
			return map[i].name;
	}
	return cs;
}

/* Converts with iconv; undecodable bytes become U+FFFD. Returns -1 when
   iconv does not know the charset. */
static int append_iconv(struct ut_buf *out, const char *charset, const char *s,
			size_t len)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return -1;
	char *in = (char *)s;
	size_t in_left = len;
	char chunk[1024];
	while (in_left > 0) {
		char *o = chunk;
		size_t o_left = sizeof(chunk);
		size_t in_before = in_left;
		size_t r = iconv(cd, &in, &in_left, &o, &o_left);
		int err = errno;
		ut_buf_append(out, chunk, sizeof(chunk) - o_left);
		if (r != (size_t)-1)
			continue;
		if (err == E2BIG &&
		    (in_left < in_before || o_left < sizeof(chunk)))
			continue;
		ut_utf8_put_cp(out, 0xFFFD);
		if (err == EILSEQ) {
			in++;
			in_left--;
		} else {
			/* The input ends inside a character (EINVAL). */
			break;
		}
	}
	/* Stateful charsets may have a final shift sequence to emit. */
	char *o = chunk;
	size_t o_left = sizeof(chunk);
	if (iconv(cd, NULL, NULL, &o, &o_left) != (size_t)-1)
		ut_buf_append(out, chunk, sizeof(chunk) - o_left);
	iconv_close(cd);
	return 0;
}

/* Text that is not an encoded word: UTF-8 when it is valid UTF-8,
   otherwise Windows-1252 (the usual superset of ISO-8859-1). */
static void append_raw(struct ut_buf *out, const char *s, size_t len)
{
	if (ut_utf8_valid(s, len))
		ut_buf_append(out, s, len);
	else
		append_iconv(out, "CP1252", s, len);
}

/* Appends the decoded bytes of one run of encoded words, converted from
   their charset to UTF-8. */
static void append_charset(struct ut_buf *out, const char *charset,
			   const char *s, size_t len)
{
	if (len == 0)
		return;
	if (strcmp(charset, "utf-8") == 0 || strcmp(charset, "utf8") == 0) {
		/* Invalid sequences become U+FFFD when cleaned. */
		ut_buf_append(out, s, len);
		return;
	}
	if (strcmp(charset, "us-ascii") == 0 || strcmp(charset, "ascii") == 0) {
		append_raw(out, s, len);
		return;
	}
	if (append_iconv(out, iconv_name(charset), s, len) < 0)
		append_raw(out, s, len); /* unknown charset */
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ms_mime_b64_value(unsigned char c, char c63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == (unsigned char)c63)
		return 63;
	return -1;
}

/* Decodes B text; -1 on a character outside the alphabet. */
static int decode_b(const char *s, size_t len, struct ut_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t i = 0;
	for (; i < len && s[i] != '='; i++) {
		int v = ms_mime_b64_value((unsigned char)s[i], '/');
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			ut_buf_append_c(out, (char)((acc >> bits) & 0xFF));
		}
	}
	for (; i < len; i++) {
		if (s[i] != '=')
			return -1;
	}
	return 0;
}

static void decode_q(const char *s, size_t len, struct ut_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '_') {
			ut_buf_append_c(out, ' ');
		} else if (s[i] == '=' && i + 2 < len &&
			   (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
			   (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			ut_buf_append_c(out, (char)(hi * 16 + lo));
			i += 2;
		} else {
			ut_buf_append_c(out, s[i]);
		}
	}
}

struct encoded_word {
	char charset[CHARSET_MAX_LEN + 1]; /* lower case, no *language */
	size_t total_len;		   /* bytes of "=?...?=" */
};

static bool charset_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == ':' || c == '+' || c == '*';
}

/*
 * Parses "=?charset?B|Q?text?=" at s and appends its decoded bytes to
 * bytes. Returns false (bytes unchanged) when s does not start with a
 * well-formed encoded word.
 */
static bool parse_encoded_word(const char *s, size_t len,
			       struct encoded_word *ew, struct ut_buf *bytes)
{
	size_t i = 2, cs_start = 2, cs_len;
	if (len < 8 || s[0] != '=' || s[1] != '?')
		return false;
	while (i < len && charset_char((unsigned char)s[i]))
		i++;
	cs_len = i - cs_start;
	if (i + 3 >= len || s[i] != '?' || cs_len == 0)
		return false;
	char enc = s[i + 1];
	if (s[i + 2] != '?' ||
	    (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q'))
		return false;
	size_t text_start = i + 3, text_end = text_start;
	while (text_end < len && s[text_end] != '?') {
		unsigned char c = (unsigned char)s[text_end];
		if (c <= 0x20 || c >= 0x7F)
			return false;
		text_end++;
	}
	if (text_end + 1 >= len || s[text_end + 1] != '=')
		return false;

	/* RFC 2231 allows "charset*language". */
	const char *star = memchr(s + cs_start, '*', cs_len);
	if (star != NULL)
		cs_len = (size_t)(star - (s + cs_start));
	if (cs_len == 0 || cs_len > CHARSET_MAX_LEN)
		return false;
	for (size_t k = 0; k < cs_len; k++) {
		char c = s[cs_start + k];
		ew->charset[k] = ut_ascii_tolower(c);
	}
	ew->charset[cs_len] = '\0';

	size_t before = bytes->len;
	if (enc == 'B' || enc == 'b') {
		if (decode_b(s + text_start, text_end - text_start, bytes) <
		    0) {
			bytes->len = before;
			if (bytes->data != NULL)
				bytes->data[before] = '\0';
			return false;
		}
	} else {
		decode_q(s + text_start, text_end - text_start, bytes);
	}
	ew->total_len = text_end + 2;
	return true;
}

static bool all_lwsp(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	}
	return true;
}

char *ms_mime_decode_header(const char *raw, size_t len, size_t max_bytes)
{
	struct ut_buf out = UT_BUF_INIT, pending = UT_BUF_INIT;
	char pending_cs[CHARSET_MAX_LEN + 1] = "";
	bool have_pending = false;
	size_t seg_start = 0, i = 0;

	if (raw == NULL)
		len = 0;
	while (i + 1 < len) {
		struct encoded_word ew;
		size_t before = pending.len;
		if (raw[i] != '=' || raw[i + 1] != '?') {
			i++;
			continue;
		}
		/* Decode into pending provisionally; a word in another
		   charset is moved out below. */
		if (!parse_encoded_word(raw + i, len - i, &ew, &pending)) {
			i++;
			continue;
		}
		const char *seg = raw + seg_start;
		size_t seg_len = i - seg_start;
		bool joins = have_pending && all_lwsp(seg, seg_len);
		if (joins && strcmp(ew.charset, pending_cs) == 0) {
			/* Same charset: keep the bytes together so a
			   character split across words decodes. */
		} else {
			/* pending.data is NULL until a byte was decoded. */
			struct ut_buf word = UT_BUF_INIT;
			if (pending.len > before)
				ut_buf_append(&word, pending.data + before,
					      pending.len - before);
			if (have_pending && before > 0)
				append_charset(&out, pending_cs, pending.data,
					       before);
			if (!joins && seg_len > 0)
				append_raw(&out, seg, seg_len);
			ut_buf_reset(&pending);
			if (word.len > 0)
				ut_buf_append(&pending, word.data, word.len);
			ut_buf_free(&word);
			memcpy(pending_cs, ew.charset, sizeof(pending_cs));
			have_pending = true;
		}
		i += ew.total_len;
		seg_start = i;
	}
	if (have_pending)
		append_charset(&out, pending_cs, pending.data, pending.len);
	if (raw != NULL)
		append_raw(&out, raw + seg_start, len - seg_start);
	ut_buf_free(&pending);

	char *clean =
	    ut_utf8_clean_str(out.data, out.len, UT_CLEAN_ONELINE, max_bytes);
	ut_buf_free(&out);
	return clean;
}
