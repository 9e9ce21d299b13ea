#ifndef MS_SMTP_PROTO_H
#define MS_SMTP_PROTO_H

/*
 * Internal to the SMTP client (ms_smtp.c, ms_smtp_session.c): the parts
 * of SMTP that need no connection, so that unit tests reach them: reply
 * parsing (bounded), EHLO capabilities, how a reply classifies, the
 * cleaned text of a reply, the wire form of the message (DATA), address
 * and EHLO name checks, base64. Plain data, no I/O.
 */

#include <stdbool.h>
#include <stddef.h>

#include "ms_smtp.h"
#include "ut_buf.h"

/* Longest reply line accepted, CRLF excluded (RFC 5321 says 512). */
#define MS_SMTP__LINE_MAX 2000
/* Most lines in one reply (EHLO has a dozen). */
#define MS_SMTP__REPLY_LINES_MAX 100
/* Error texts are cut to this many bytes. */
#define MS_SMTP__TEXT_MAX 300

/* Where in the session a reply came. */
enum ms_smtp__stage {
	MS_SMTP__GREETING,
	MS_SMTP__EHLO,
	MS_SMTP__HELO,
	MS_SMTP__STARTTLS,
	MS_SMTP__AUTH,
	MS_SMTP__MAIL,
	MS_SMTP__RCPT,
	MS_SMTP__DATA,
	MS_SMTP__DOT, /* the reply to the final "." */
	MS_SMTP__QUIT,
};

struct ms_smtp__reply {
	int code;	    /* 0 before the first line */
	unsigned lines;	    /* lines so far */
	bool done;	    /* the last line came */
	struct ut_buf text; /* the lines' texts (after "NNN-"), '\n'-joined */
};

void ms_smtp__reply_init(struct ms_smtp__reply *r);
void ms_smtp__reply_reset(struct ms_smtp__reply *r);
void ms_smtp__reply_free(struct ms_smtp__reply *r);

/*
 * Takes the next line of a reply (CRLF removed, len <= MS_SMTP__LINE_MAX).
 * Returns 1 when it was the last line (r->done), 0 when more follow, -1
 * with *error_r (a constant) when the line is not part of a well-formed
 * reply: no 3-digit code from 200 to 599, another code than the lines
 * before, a fourth character other than ' ' or '-', too many lines.
 */
int ms_smtp__reply_line(struct ms_smtp__reply *r, const char *line, size_t len,
			const char **error_r);

/* "greeting", "EHLO", ..., "RCPT TO", "DATA", "end of data", "QUIT". */
const char *ms_smtp__stage_name(enum ms_smtp__stage stage);

/* True when code is the success reply of stage (AUTH: 235 only). */
bool ms_smtp__positive(enum ms_smtp__stage stage, int code);

/*
 * The status of a reply that is not positive (see ms_smtp.h): 4xx TEMP;
 * 5xx PERM for MAIL, RCPT (but 552: TEMP), DATA and the final dot, TEMP
 * before MAIL; anything else (1xx, a 2xx or 3xx out of place) TEMP.
 */
enum ms_smtp_status ms_smtp__classify(enum ms_smtp__stage stage, int code);

/*
 * The reply as one clean line, "CODE TEXT" with the lines joined by
 * spaces, cut to MS_SMTP__TEXT_MAX bytes, with every one of the
 * n_secrets secrets (NULL and empty ones skipped) overwritten by '*'.
 * Free it.
 */
char *ms_smtp__reply_text(const struct ms_smtp__reply *r, char *const *secrets,
			  size_t n_secrets);

/* Overwrites every occurrence of secret (if not NULL or "") in text with
   '*', in place. */
void ms_smtp__scrub(char *text, const char *secret);

/* What EHLO told about the server. */
struct ms_smtp__caps {
	bool starttls;
	bool auth_plain;
	bool auth_login;
	bool eightbitmime;
	bool size;
};

/* Reads the capabilities from a 250 reply to EHLO (its lines after the
   first). */
void ms_smtp__parse_ehlo(const struct ms_smtp__reply *r,
			 struct ms_smtp__caps *caps);

/*
 * Appends the wire form of a message for DATA to out: every line ends in
 * CRLF (bare LF and bare CR become CRLF), a line starting with '.' gets
 * another '.', an unterminated last line is ended, and CRLF "." CRLF
 * closes it. Returns true when data holds a byte >= 0x80 (8BITMIME).
 */
bool ms_smtp__data_encode(const char *data, size_t len, struct ut_buf *out);

/*
 * True when addr can go into MAIL FROM:<addr> or RCPT TO:<addr>: printable
 * ASCII without spaces, '<' or '>', at most MS_SMTP_ADDRESS_MAX bytes;
 * empty only with allow_empty (the null reverse-path).
 */
bool ms_smtp__address_ok(const char *addr, bool allow_empty);

/* True when name can follow EHLO: letters, digits, '-', '.', or an
   address literal "[...]" of printable ASCII; 1..255 bytes. */
bool ms_smtp__ehlo_name_ok(const char *name);

/* Appends the base64 (RFC 4648, padded) of in[0..len) to out. */
void ms_smtp__base64(const void *in, size_t len, struct ut_buf *out);

#endif
