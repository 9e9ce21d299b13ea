#ifndef MS_IMAP_GUARD_H
#define MS_IMAP_GUARD_H

/*
 * Internal to the IMAP pool (ms_imap_stream.c): follows the bytes an IMAP
 * server sends, before libetpan parses them, to keep libetpan's memory and
 * leaks bounded whatever the server does:
 *
 *  - at most MS_IMAP__READ_MAX bytes per session (ms_imap__guard_room());
 *  - a literal announced ("{n}" CRLF at the end of a line) above
 *    MS_IMAP__LITERAL_MAX is refused: libetpan allocates n bytes at once
 *    (and wraps n above 2^32 - 1 around);
 *  - a greeting that is a BYE is refused: libetpan leaks it;
 *  - the text of the last untagged BYE is kept for error texts.
 *
 * The refusal comes with the chunk that completes the offending line, so
 * libetpan never sees that line whole. A line that merely ends in text
 * like "{5}" (legal in resp-text) makes the guard skip the next 5 bytes as
 * a literal: the guard can then be wrong about literals, never about the
 * byte budget, which stays the hard bound. Plain data, no I/O, one thread
 * at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes one session may read from the server in all. */
#define MS_IMAP__READ_MAX ((size_t)16 << 20)
/* The largest literal accepted ({n}); we fetch envelopes, not bodies. */
#define MS_IMAP__LITERAL_MAX ((size_t)1 << 20)
/* The start of each server line is kept this long (for BYE). */
#define MS_IMAP__HEAD_BYTES 160

enum ms_imap__brace {
	MS_IMAP__BRACE_NONE,   /* the line does not end in "{digits" */
	MS_IMAP__BRACE_DIGITS, /* after "{" and maybe digits */
	MS_IMAP__BRACE_CLOSED, /* after "{digits}" */
	MS_IMAP__BRACE_CR,     /* after "{digits}\r" */
};

struct ms_imap__guard {
	const char *secret; /* scrubbed from the BYE text; may be NULL */
	size_t read_left;
	uint64_t literal_left; /* bytes of a literal still to come */
	enum ms_imap__brace brace;
	uint64_t brace_num;
	unsigned brace_digits;
	char head[MS_IMAP__HEAD_BYTES];
	size_t head_len;
	uint64_t lines;
	char *bye; /* the text of the last untagged BYE (raw); NULL */
};

/* secret must outlive the guard. */
void ms_imap__guard_init(struct ms_imap__guard *g, const char *secret);
void ms_imap__guard_free(struct ms_imap__guard *g);

/* How many more bytes the server may send (0: the budget is spent). */
size_t ms_imap__guard_room(const struct ms_imap__guard *g);

/*
 * Follows the next n bytes of the server (n <= room). Returns 0 when they
 * may go to libetpan, or -1 with *error_r (one line, free it) when they
 * must not; the session is then over.
 */
int ms_imap__guard_scan(struct ms_imap__guard *g, const char *buf, size_t n,
			char **error_r);

/* The last untagged BYE's text, cleaned (free it), or NULL. */
char *ms_imap__guard_bye(const struct ms_imap__guard *g);

/* Overwrites every occurrence of secret (if not NULL or "") in text with
   '*', in place. */
void ms_imap__scrub(char *text, const char *secret);

#endif
