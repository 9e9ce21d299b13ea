#ifndef MS_COMPOSE_PRIVATE_H
#define MS_COMPOSE_PRIVATE_H

/*
 * Internals of ms_compose shared by its files: the folding header writer
 * with RFC 2047 encoding (ms_compose_hdr.c) and the body encoder
 * (ms_compose_body.c).
 */

#include <stdbool.h>
#include <stddef.h>

#include "ut_buf.h"

/* Header lines are folded to this many octets where they can be. */
#define MS_COMPOSE_FOLD 78

struct ms_hdr {
	struct ut_buf *out;
	size_t line_len;  /* octets on the current physical line */
	size_t first_len; /* line_len right after "Name:" */
};

/* Starts a header line "name:". */
void ms_compose__hdr_begin(struct ms_hdr *h, struct ut_buf *out,
			   const char *name);
/*
 * Appends one token. With space, a space goes before it, or, when the
 * token would not fit in MS_COMPOSE_FOLD octets, a fold (CRLF SP). The
 * token must hold no CR or LF.
 */
void ms_compose__hdr_token(struct ms_hdr *h, const char *tok, size_t len,
			   bool space);
/* Ends the header line (CRLF). */
void ms_compose__hdr_end(struct ms_hdr *h);

/*
 * Appends text (one line of clean UTF-8: no controls, single spaces, none
 * leading or trailing) after a space: as plain words when it is printable
 * ASCII without "=?" and without a word too long to fold, as a quoted
 * string when phrase is true and it has specials, otherwise as RFC 2047
 * UTF-8 encoded words (B or Q, whichever is shorter; in a phrase, Q uses
 * only the characters RFC 2047 5(3) allows). Empty text appends nothing.
 */
void ms_compose__hdr_text(struct ms_hdr *h, const char *text, bool phrase);

/*
 * Encodes body text (already cleaned: UTF-8, '\n' line ends, no controls
 * but TAB) as described in ms_compose.h. Appends the encoded body (CRLF
 * line ends) to out and returns the Content-Transfer-Encoding name.
 */
const char *ms_compose__body(const char *text, size_t len, bool flowed,
			     struct ut_buf *out);

#endif
