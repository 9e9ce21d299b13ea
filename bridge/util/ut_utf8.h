#ifndef UT_UTF8_H
#define UT_UTF8_H

/*
 * UTF-8 checks and the one place where text from outside becomes text that
 * may leave the bridge: valid UTF-8 with no character that XML 1.0 forbids.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ut_buf.h"

/* True if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
 */
bool ut_utf8_valid(const char *s, size_t len);

enum ut_clean_flags {
	/* Newlines, tabs, runs of white space and the line and paragraph
	   separators (U+2028, U+2029) become one space; leading and trailing
	   white space is dropped; bidi controls and invisible format
	   characters (U+202E, U+200B, U+FEFF, ...: see is_invisible() in
	   ut_utf8.c) are dropped, so that a name cannot reverse or hide the
	   text shown next to it. For subjects, names and addresses. */
	UT_CLEAN_ONELINE = 1 << 0,
	/* Keep \n (CRLF and CR become \n), other controls dropped. */
	UT_CLEAN_MULTILINE = 1 << 1,
};

/*
 * Appends a cleaned copy of in[0..len) to out:
 * - invalid UTF-8 sequences become U+FFFD (one per maximal bad subpart);
 * - NUL, C0 controls other than TAB/LF/CR, DEL, C1 controls (U+0080..U+009F),
 *   U+FFFE and U+FFFF are dropped (XML 1.0 forbids most of them; the rest
 *   only confuse clients);
 * - with UT_CLEAN_ONELINE, white space collapses as described above.
 * Output never exceeds max_bytes (0 = no limit); when it would, it is cut at
 * a character boundary and "…" (U+2026) ends it within max_bytes.
 * Returns the number of bytes appended.
 */
size_t ut_utf8_clean(const char *in, size_t len, unsigned flags,
		     size_t max_bytes, struct ut_buf *out);

/* Same, returning a malloc'ed NUL-terminated string. in may be NULL (-> ""). */
char *ut_utf8_clean_str(const char *in, size_t len, unsigned flags,
			size_t max_bytes);

/* Appends code point cp (<= U+10FFFF, not a surrogate) as UTF-8. */
void ut_utf8_put_cp(struct ut_buf *out, uint32_t cp);

/*
 * Largest n <= len such that s[0..n) does not end inside a multibyte
 * sequence (assuming s is valid UTF-8).
 */
size_t ut_utf8_boundary(const char *s, size_t len);

#endif
