/*
 * IMAP's modified UTF-7 mailbox names (RFC 3501 5.1.3) to UTF-8; see
 * ms_imap_hdr.h. Strict: anything an encoder would not write is refused.
 */

#include <stdint.h>

#include "ms_imap_hdr.h"
#include "ms_mime.h"
#include "ut_buf.h"
#include "ut_utf8.h"

/* One UTF-16 unit of a base64 run; *hi holds a pending high surrogate.
   Returns -1 when the text is not valid. */
static int put_unit(struct ut_buf *out, uint32_t u, uint32_t *hi)
{
	uint32_t cp;

	if (*hi != 0) {
		if (u < 0xdc00 || u > 0xdfff)
			return -1;
		cp = 0x10000 + ((*hi - 0xd800) << 10) + (u - 0xdc00);
		*hi = 0;
	} else if (u >= 0xd800 && u <= 0xdbff) {
		*hi = u;
		return 0;
	} else if (u >= 0xdc00 && u <= 0xdfff) {
		return -1;
	} else {
		cp = u;
	}
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return -1;
	ut_utf8_put_cp(out, cp);
	return 0;
}

/* The base64 run after '&' at in[*i]; leaves *i after its '-'. */
static int decode_run(const char *in, size_t len, size_t *i, struct ut_buf *out)
{
	uint32_t bits = 0, hi = 0;
	unsigned nbits = 0;

	while (*i < len && in[*i] != '-') {
		int v = ms_mime_b64_value((unsigned char)in[*i], ',');

		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		(*i)++;
		if (nbits >= 16) {
			nbits -= 16;
			if (put_unit(out, (bits >> nbits) & 0xffff, &hi) < 0)
				return -1;
			bits &= (1u << nbits) - 1;
		}
	}
	if (*i >= len)
		return -1; /* unterminated */
	(*i)++;
	/* A whole unused base64 character, leftover bits or half a
	   surrogate pair: not what an encoder writes. */
	if (hi != 0 || nbits >= 6 || bits != 0)
		return -1;
	return 0;
}

char *ms_imap__mutf7_decode(const char *in, size_t len)
{
	struct ut_buf out;
	size_t i = 0;

	ut_buf_init(&out);
	while (i < len) {
		char c = in[i];

		if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
			goto bad;
		i++;
		if (c != '&') {
			ut_buf_append_c(&out, c);
			continue;
		}
		if (i < len && in[i] == '-') {
			ut_buf_append_c(&out, '&');
			i++;
			continue;
		}
		if (decode_run(in, len, &i, &out) < 0)
			goto bad;
	}
	ut_buf_append_c(&out, '\0');
	return ut_buf_steal(&out);
bad:
	ut_buf_free(&out);
	return NULL;
}
