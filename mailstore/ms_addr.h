#ifndef MS_ADDR_H
#define MS_ADDR_H

/*
 * E-mail address validation (RFC 5321 Mailbox, which is also an RFC 5322
 * addr-spec without comments or folding) and parsing of the recipient
 * field a user types ("a@x.org, Bob <b@y.org>; c@z.org").
 *
 * An address is local-part "@" domain:
 * - local-part: a dot-atom (atext runs joined by single dots) or a quoted
 *   string (printable ASCII and space; '"' and '\' only as quoted pairs),
 *   at most 64 octets as written (quotes included);
 * - domain: LDH labels joined by dots (1..63 octets each, letters, digits
 *   and '-', not starting or ending with '-'; a single label such as
 *   "localhost" is accepted, a trailing dot is not), at most 255 octets; or
 *   an address literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" (checked with
 *   inet_pton; general "[tag:...]" literals are refused);
 * - at most 254 octets in all (RFC 5321's 256-octet path minus "<>").
 * No NUL, CR, LF, space (outside a quoted local part) or other control is
 * ever accepted. Non-ASCII is refused unless MS_ADDR_UTF8 is given: then
 * a local part may also hold UTF-8 (RFC 6531, SMTPUTF8; the SMTP layer must
 * then ask for SMTPUTF8). Domains are always ASCII: an internationalised
 * domain must be given in its A-label ("xn--") form.
 *
 * Everything here is pure and reentrant: safe from any thread.
 */

#include <stdbool.h>
#include <stddef.h>

#define MS_ADDR_LOCAL_MAX  64
#define MS_ADDR_DOMAIN_MAX 255
#define MS_ADDR_MAX	   254
/* Display names parsed from a recipient field are cut to this (UTF-8
   octets, "…" included). */
#define MS_ADDR_DISPLAY_MAX 128

enum ms_addr_flags {
	/* Accept UTF-8 (valid, no controls) in local parts (SMTPUTF8). */
	MS_ADDR_UTF8 = 1 << 0,
};

/*
 * Checks that addr[0..len) is one bare address as described above (no
 * angle brackets, display name or comment). Returns 0, or -1 with a static
 * English reason in *error_r ("domain label starts with '-'", ...).
 */
int ms_addr_validate(const char *addr, size_t len, unsigned flags,
		     const char **error_r);

/* Equal addresses: the local parts byte for byte, the domains ASCII
   case-insensitively (local parts are case-sensitive per RFC 5321). */
bool ms_addr_equal(const char *a, const char *b);

struct ms_addr {
	/* The address as written (validated; a domain keeps its case). */
	char *addr;
	/* The display name, unquoted and cleaned to one line of UTF-8
	   (ut_utf8_clean with UT_CLEAN_ONELINE: controls and line breaks
	   become spaces, bidi and invisible characters dropped), at most
	   MS_ADDR_DISPLAY_MAX octets; NULL when there was none or it cleaned
	   to nothing. */
	char *display;
};

struct ms_addr_list {
	struct ms_addr *v; /* xmalloc'ed array of n entries */
	size_t n;
};

/*
 * Parses a recipient field into *list_r (which it initialises; free it with
 * ms_addr_list_clear, also after an error). Entries are separated by ',',
 * ';' or line breaks outside quotes and angle brackets; empty entries are
 * skipped. Each entry is one of
 *     addr            <addr>
 *     Name <addr>     "Quoted, Name" <addr>
 * where Name is any text without '<', '>' or '"' (UTF-8 allowed) and
 * "Quoted, Name" a quoted string with \-escapes. Comments "(...)", groups
 * ("list: a@x, b@y;") and mailto: URIs are not supported and are refused as
 * bad addresses. An address that equals (ms_addr_equal) an earlier one is
 * dropped (the first display name wins). More than max_addrs distinct
 * addresses is an error. The field may hold no address at all (0 entries).
 *
 * Returns 0, or -1 with an xmalloc'ed message in *error_r that names the
 * offending entry (cleaned, cut to ~60 characters), e.g.
 *     "\"bob@@y.org\": the domain is empty or malformed"
 * and *list_r empty.
 */
int ms_addr_list_parse(const char *field, size_t len, size_t max_addrs,
		       unsigned flags, struct ms_addr_list *list_r,
		       char **error_r);

/* Frees the entries and empties the list (list may be empty already). */
void ms_addr_list_clear(struct ms_addr_list *list);

#endif
