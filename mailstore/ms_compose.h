#ifndef MS_COMPOSE_H
#define MS_COMPOSE_H

/*
 * Building an outgoing e-mail (RFC 5322 + MIME, one text/plain part) from
 * what a chat user wrote. The result is the message as it goes into SMTP
 * DATA or IMAP APPEND: CRLF line ends only, no line longer than 998 octets
 * (header lines are folded at 78 where there is a place to fold; only one
 * unbreakable token, such as a 254-octet address, may make one longer), and
 * no dot-stuffing (that is the SMTP layer's business).
 *
 * What is refused and what is cleaned:
 * - Refused (-1 with an error): addresses that ms_addr_validate rejects
 *   (From, To, Cc), Message-IDs (given or the parent's) that are not one
 *   "<...>" of printable ASCII without space, '<' or '>' (at most 250
 *   octets), a Jabber-ID or version with a space or control character,
 *   a body larger than body_max, no recipient at all.
 * - Cleaned: the subject and the display names go through ut_utf8_clean
 *   with UT_CLEAN_ONELINE (invalid UTF-8 becomes U+FFFD, line breaks, tabs
 *   and other controls become one space, bidi controls and invisible
 *   characters are dropped, leading and trailing spaces go), then are cut
 *   to MS_COMPOSE_SUBJECT_MAX / MS_ADDR_DISPLAY_MAX octets ending in "…".
 *   The body: invalid UTF-8 becomes U+FFFD, CRLF and CR become line breaks,
 *   NUL and other controls except TAB are dropped; it always ends with a
 *   line break.
 * - The parent's References value is foreign text: anything in it that is
 *   not a valid msg-id is skipped.
 *
 * Header text that is not plain printable ASCII (or that contains "=?",
 * which a reader would take for an encoded word, or a word too long to
 * fold) becomes RFC 2047 encoded words in UTF-8, B or Q whichever is
 * shorter, each at most 75 octets, never splitting a UTF-8 sequence. ASCII
 * display names with specials are quoted.
 *
 * The body is 7bit when it is ASCII with lines of at most 78 octets,
 * otherwise quoted-printable, or base64 when that is shorter than
 * quoted-printable (text mostly outside ASCII). With format_flowed the text
 * is sent as RFC 3676 format=flowed (DelSp=no): trailing spaces of the
 * user's lines are dropped, lines longer than 72 characters are broken
 * after a space (a word longer than that is not broken), and lines
 * starting with ' ', '>' or "From " are space-stuffed, so a reader shows
 * them as typed.
 *
 * Pure and reentrant apart from ut_random: safe from any thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ms_addr.h"
#include "ut_buf.h"

/* Octets of the cleaned subject at most ("…" included). */
#define MS_COMPOSE_SUBJECT_MAX 900
/* Characters of a subject made by ms_compose_subject_from_text. */
#define MS_COMPOSE_SUBJECT_CUT 78
/* Below this many characters the first line is no subject. */
#define MS_COMPOSE_SUBJECT_MIN 4
/* Message-IDs kept in References (the first one and the latest). */
#define MS_COMPOSE_REFS_MAX 12
/* Octets of one msg-id, angle brackets included. */
#define MS_COMPOSE_MSGID_MAX 250

struct ms_compose {
	/* Required: the sender's address, and an optional display name. */
	const char *from_addr;
	const char *from_name;
	/* Recipients (for example from ms_addr_list_parse); display may be
	   NULL. At least one To or Cc. */
	const struct ms_addr *to;
	size_t n_to;
	const struct ms_addr *cc;
	size_t n_cc;
	/* UTF-8; NULL or "" gives an empty Subject. */
	const char *subject;
	/* UTF-8 text of body_len octets (body may be NULL when 0). */
	const char *body;
	size_t body_len;
	/* A body longer than this (octets, as given) is refused; 0 = none. */
	size_t body_max;
	/* Date: rendered in UTC ("+0000"), or with date_local in the
	   process's local time zone and offset. */
	time_t date;
	bool date_local;
	/* "<id@host>", or NULL to generate "<random@sender's domain>"
	   (128 random bits from ut_random). */
	const char *message_id;
	/* A reply: the parent's Message-ID ("<...>") and its References
	   header value as received (may be folded; NULL when none). NULL
	   parent_message_id = not a reply (parent_references ignored). */
	const char *parent_message_id;
	const char *parent_references;
	/* The sender's bare JID for Jabber-ID (RFC 7259), or NULL. */
	const char *jid;
	/* "User-Agent: tidings/<version>"; NULL gives "tidings". */
	const char *version;
	bool format_flowed;
	/* ms_addr_flags for the addresses (MS_ADDR_UTF8). */
	unsigned addr_flags;
};

/*
 * Appends the message to out. On success returns 0 and, when
 * message_id_r is not NULL, the Message-ID used (xmalloc'ed, "<...>").
 * Returns -1 with an xmalloc'ed English message in *error_r ("To address
 * \"x\": ...", "body too large (... octets, limit ...)") and out unchanged.
 *
 * Headers, in this order: Date, From, To, Cc, Subject, Message-ID,
 * In-Reply-To, References, MIME-Version, Content-Type,
 * Content-Transfer-Encoding, Jabber-ID, User-Agent. References is the
 * parent's References followed by the parent's Message-ID (once); when that
 * is more than MS_COMPOSE_REFS_MAX ids, the middle ones are dropped (the
 * first, the root of the thread, and the latest are kept, as RFC 5537
 * 3.4.4 suggests).
 */
int ms_compose_build(const struct ms_compose *c, struct ut_buf *out,
		     char **message_id_r, char **error_r);

/*
 * The subject of a reply (xmalloc'ed): "Re: " + parent_subject, unless
 * parent_subject already starts with "Re:" in any letter case, possibly
 * after one "[tag]" and spaces (mailing-list style: "[list] Re: x"), in
 * which case it is returned as it is. Other languages' prefixes ("AW:",
 * "Sv:") are not recognised. NULL or "" gives "Re:". The caller passes a
 * decoded subject; cleaning happens in ms_compose_build.
 */
char *ms_compose_reply_subject(const char *parent_subject);

/*
 * A subject for a new mail from a chat message (xmalloc'ed):
 * - the first line of text that is not blank, cleaned as a subject
 *   (UT_CLEAN_ONELINE);
 * - if it has fewer than MS_COMPOSE_SUBJECT_MIN characters (code points),
 *   the fallback (for example "Message from Alice") is returned instead,
 *   or, when fallback is NULL, the line itself ("" for an empty text);
 * - if it has more than MS_COMPOSE_SUBJECT_CUT characters it is cut at
 *   the last space that leaves at most MS_COMPOSE_SUBJECT_CUT - 1
 *   characters, provided that keeps at least half of them (otherwise in
 *   the word, not before a combining mark), trailing spaces and ",;:-"
 *   are dropped, and "…" is appended: at most MS_COMPOSE_SUBJECT_CUT
 *   characters in all.
 */
char *ms_compose_subject_from_text(const char *text, size_t len,
				   const char *fallback);

#endif
