#ifndef MS_IMAP_HDR_H
#define MS_IMAP_HDR_H

/*
 * Internal to the IMAP pool: parsers of what the server sends that are
 * pure functions (no I/O, any thread), kept apart so that they can be
 * unit-tested and fuzzed alone:
 *
 *  - a header block (the answer to BODY.PEEK[HEADER.FIELDS (...)]) into
 *    struct ms_imap_headers (ms_imap.h), every value hostile;
 *  - IMAP's modified UTF-7 mailbox names (RFC 3501 5.1.3; in
 *    ms_imap_mutf7.c);
 *  - RFC 5322 dates.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ms_imap.h"

/*
 * Parses raw[0..len) (header fields up to an empty line or the end; CRLF
 * or bare LF; NULs and 8-bit bytes allowed) into *h, which it zeroes
 * first (free with ms_imap_headers_clear). The first occurrence of a
 * field counts (any Auto-Submitted does). Never fails: what cannot be
 * understood is left out.
 */
void ms_imap__headers_parse(const char *raw, size_t len,
			    struct ms_imap_headers *h);

/* p[0..n) is one msg-id as the parser takes them: "<...>" of printable
   ASCII without space, '<' or '>' inside, with an '@' that is neither
   first nor last inside, at most MS_IMAP_MSGID_MAX octets. */
bool ms_imap__msgid_valid(const char *p, size_t n);

/*
 * Decodes a modified UTF-7 mailbox name in[0..len) to UTF-8 (malloc'ed).
 * NULL when it is not valid: bytes outside printable ASCII, a bad or
 * unterminated base64 run, stray bits, broken UTF-16 surrogates, or a
 * decoded control character.
 */
char *ms_imap__mutf7_decode(const char *in, size_t len);

/* A broken-down time with a +hhmm zone -> unix seconds; 0 when invalid. */
int64_t ms_imap__date_secs(int year, int month, int day, int hour, int min,
			   int sec, int zone);

/* RFC 5322 date text (NUL-terminated) -> unix seconds; 0 when it cannot
   be understood. */
int64_t ms_imap__parse_date(const char *text);

#endif
