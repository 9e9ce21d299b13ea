#ifndef BR_SENDMAIL_FORM_H
#define BR_SENDMAIL_FORM_H

/*
 * The form (XEP-0004) of the ad-hoc command "send-mail", both ways:
 *
 * - br_sendmail_form_new(): type form, title "Send a mail", instructions
 *   naming the From address; fixed fields (no var) listing the local
 *   people given, one per field (XEP-0004 wants fixed values without line
 *   breaks), after a heading: online first, then away, busy, unknown and
 *   offline, each group in the order given, at most
 *   BR_SENDMAIL_PEOPLE_MAX of them and then "…and K more." (none of it
 *   when no person is given); then the fields
 *     to       text-multi, required
 *     cc       text-multi
 *     subject  text-single
 *     body     text-multi, required
 * - br_sendmail_form_read(): a submitted form into a request, all or
 *   nothing, with an English message naming every field at fault.
 *
 * Plain data, no I/O, any thread (one form per thread at a time).
 */

#include <stddef.h>

#include "ms_addr.h"
#include "xm_form.h"

#define BR_SENDMAIL_NODE "send-mail"
#define BR_SENDMAIL_NAME "Send a mail"

/* People listed in the form at most. */
#define BR_SENDMAIL_PEOPLE_MAX 30
/* Octets of a person's display name shown ("…" included). */
#define BR_SENDMAIL_NAME_SHOWN_MAX 64
/* Octets of a subject at most (ms_compose's bound). */
#define BR_SENDMAIL_SUBJECT_MAX 900

struct br_sendmail_person {
	const char *address; /* NULL: the person is skipped */
	const char *name;    /* may be NULL */
	/* "online", "away", "busy", "offline", or NULL (or anything else):
	   unknown. */
	const char *presence;
};

/*
 * The form for a user whose mail goes out from from_address, listing
 * people[0..n) (n may be 0, people then may be NULL). Strings are copied
 * (cleaned to one line; names cut to BR_SENDMAIL_NAME_SHOWN_MAX). Free it
 * with xm_form_free().
 */
struct xm_form *br_sendmail_form_new(const char *from_address,
				     const struct br_sendmail_person *people,
				     size_t n);

struct br_sendmail_request {
	/* Distinct addresses (ms_addr_equal) over to and cc together: an
	   address in both stays in to only. to has at least one. */
	struct ms_addr_list to, cc;
	/* One line, no control characters, no surrounding spaces, at most
	   BR_SENDMAIL_SUBJECT_MAX octets; NULL when not given or blank. */
	char *subject;
	/* The body's values joined with "\n" (body_len octets, also
	   NUL-terminated): valid UTF-8, not blank. */
	char *body;
	size_t body_len;
};

/*
 * Reads a submitted send-mail form (unknown fields ignored):
 * - to, cc: each value goes through ms_addr_list_parse() (ASCII
 *   addresses; a value may hold several, comma, semicolon or line
 *   separated, "Name <a@b>" allowed); an address seen before in to or cc
 *   is dropped; to must give at least one; more than rcpts_max distinct
 *   addresses in all is refused. Cost: O(addresses * rcpts_max).
 * - subject: at most one value; CR, LF, tab and any other control
 *   character (C0, DEL, C1, U+2028, U+2029) are refused, not folded
 *   (a person typed it: we do not guess); invalid UTF-8 and over
 *   BR_SENDMAIL_SUBJECT_MAX octets are refused.
 * - body: required; its values joined with "\n", at most body_max octets
 *   (0: no limit), valid UTF-8, not only white space.
 * Returns 0 with *r filled (clear it with br_sendmail_request_clear())
 * and *error_r NULL, or -1 with *r empty and *error_r (xmalloc'ed) naming
 * each field at fault by its label, e.g.
 *     To: "bob@@y.org": the domain is empty or malformed. Body: write
 *     something.
 */
int br_sendmail_form_read(const struct xm_form *in, size_t body_max,
			  size_t rcpts_max, struct br_sendmail_request *r,
			  char **error_r);

/* Frees what r holds and empties it (r may be empty already). */
void br_sendmail_request_clear(struct br_sendmail_request *r);

#endif
