#include <stdint.h>
#include <string.h>

#include "ut_utf8.h"
#include "ut_xalloc.h"

#define REPLACEMENT 0xFFFDu

/*
 * Decodes one character at s[0..len). Returns the bytes it takes (>= 1) and
 * the code point in *cp_r, or, for an ill-formed sequence, the length of its
 * maximal subpart (Unicode 3.9, Table 3-7) with *cp_r = U+FFFD and
 * *bad_r = true.
 */
static size_t decode(const unsigned char *s, size_t len, uint32_t *cp_r,
		     bool *bad_r)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;
	uint32_t cp;

	*bad_r = false;
	if (c < 0x80) {
		*cp_r = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		cp = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		cp = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*cp_r = REPLACEMENT;
		*bad_r = true;
		return 1;
	}
	for (size_t i = 1; i < need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*cp_r = REPLACEMENT;
			*bad_r = true;
			return i;
		}
		cp = (cp << 6) | (s[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp_r = cp;
	return need;
}

bool ut_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		bool bad;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		i += decode(p + i, len - i, &cp, &bad);
		if (bad)
			return false;
	}
	return true;
}

void ut_utf8_put_cp(struct ut_buf *out, uint32_t cp)
{
	char tmp[4];
	size_t n;
	if (cp < 0x80) {
		tmp[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xC0 | (cp >> 6));
		tmp[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xE0 | (cp >> 12));
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		tmp[0] = (char)(0xF0 | (cp >> 18));
		tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	ut_buf_append(out, tmp, n);
}

static bool is_space(uint32_t cp)
{
	return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' ||
	       cp == 0xA0 || cp == 0x2028 || cp == 0x2029;
}

static bool is_dropped(uint32_t cp)
{
	if (cp < 0x20)
		return cp != '\t' && cp != '\n' && cp != '\r';
	return cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0xFFFE ||
	       cp == 0xFFFF;
}

/*
 * Characters that change how the text around them is shown without
 * showing themselves: they can reverse or hide the address next to a name
 * (U+202E RIGHT-TO-LEFT OVERRIDE), or make two names that look the same
 * differ. Bidi controls (U+061C, U+200E..U+200F, U+202A..U+202E,
 * U+2066..U+2069), zero-width and invisible format characters (U+180E,
 * U+200B..U+200D, U+2060..U+2064, U+FEFF), interlinear annotation marks
 * (U+FFF9..U+FFFB).
 */
static bool is_invisible(uint32_t cp)
{
	return cp == 0x061C || cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) ||
	       (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2060 && cp <= 0x2064) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF ||
	       (cp >= 0xFFF9 && cp <= 0xFFFB);
}

size_t ut_utf8_boundary(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	/* Find the lead byte of the last character (at most 3 back). */
	size_t k = len - 1;
	for (int steps = 0;
	     k > 0 && steps < 3 && ((unsigned char)s[k] & 0xC0) == 0x80;
	     steps++)
		k--;
	unsigned char lead = (unsigned char)s[k];
	if ((lead & 0xC0) == 0x80)
		return len; /* not UTF-8 at all: nothing better to do */
	size_t need = lead < 0x80	      ? 1
		      : (lead & 0xE0) == 0xC0 ? 2
		      : (lead & 0xF0) == 0xE0 ? 3
		      : (lead & 0xF8) == 0xF0 ? 4
					      : 1;
	return k + need <= len ? len : k;
}

size_t ut_utf8_clean(const char *in, size_t len, unsigned flags,
		     size_t max_bytes, struct ut_buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t start = out->len;
	bool oneline = (flags & UT_CLEAN_ONELINE) != 0;
	bool multiline = (flags & UT_CLEAN_MULTILINE) != 0;
	bool pending_space = false;
	size_t i = 0;

	ut_buf_reserve(out, len < 4096 ? len : 4096);
	while (i < len) {
		/* Printable ASCII (and, unless white space collapses, the
		   space) needs no decoding: copy the run at once. */
		size_t run = i;
		unsigned char lo = oneline ? 0x21 : 0x20;
		while (run < len && p[run] >= lo && p[run] < 0x7F)
			run++;
		if (run > i) {
			if (pending_space) {
				ut_buf_append_c(out, ' ');
				pending_space = false;
			}
			if (max_bytes > 0 && run - i > max_bytes + 8)
				run = i + max_bytes + 8;
			ut_buf_append(out, p + i, run - i);
			i = run;
			if (max_bytes > 0 && out->len - start > max_bytes + 8)
				break;
			continue;
		}
		uint32_t cp;
		bool bad;
		size_t n = decode(p + i, len - i, &cp, &bad);

		if (oneline && is_space(cp)) {
			pending_space = out->len > start;
		} else if (multiline && cp == '\r') {
			ut_buf_append_c(out, '\n');
			if (i + 1 < len && p[i + 1] == '\n')
				n++;
		} else if (!is_dropped(cp) && !(oneline && is_invisible(cp))) {
			if (pending_space) {
				ut_buf_append_c(out, ' ');
				pending_space = false;
			}
			if (cp < 0x80)
				ut_buf_append_c(out, (char)cp);
			else if (bad)
				ut_utf8_put_cp(out, REPLACEMENT);
			else
				ut_buf_append(out, p + i, n);
		}
		i += n;
		/* Stop early once well past the limit: the rest is cut. */
		if (max_bytes > 0 && out->len - start > max_bytes + 8)
			break;
	}

	size_t produced = out->len - start;
	if (max_bytes > 0 && produced > max_bytes) {
		static const char ellipsis[] = "\xE2\x80\xA6";
		size_t keep = max_bytes >= 3 ? max_bytes - 3 : max_bytes;
		keep = ut_utf8_boundary(out->data + start, keep);
		while (oneline && keep > 0 &&
		       out->data[start + keep - 1] == ' ')
			keep--;
		out->len = start + keep;
		if (max_bytes >= 3)
			ut_buf_append(out, ellipsis, 3);
		out->data[out->len] = '\0';
	}
	return out->len - start;
}

char *ut_utf8_clean_str(const char *in, size_t len, unsigned flags,
			size_t max_bytes)
{
	struct ut_buf b = UT_BUF_INIT;
	if (in != NULL)
		ut_utf8_clean(in, len, flags, max_bytes, &b);
	return ut_buf_steal(&b);
}
