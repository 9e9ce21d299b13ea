#ifndef XM_JID_H
#define XM_JID_H

/*
 * JID handling (RFC 7622 shape checks, not full PRECIS) and XEP-0106 JID
 * escaping. All returned strings are xmalloc'ed.
 */

#include <stdbool.h>
#include <stddef.h>

#define XM_JID_PART_MAX 1023

/*
 * Splits "node@domain/resource". Each out-parameter may be NULL; absent
 * parts come back as NULL. Returns -1 for an empty domain, an empty node
 * before '@', an empty resource after '/', a part over XM_JID_PART_MAX bytes,
 * invalid UTF-8 or control characters.
 */
int xm_jid_split(const char *jid, char **node_r, char **domain_r,
		 char **resource_r);
/* Bare JID (node@domain or domain), domain lowercased; NULL if invalid. */
char *xm_jid_bare(const char *jid);
/* Domain part of jid equals domain, ASCII case-insensitively. */
bool xm_jid_domain_is(const char *jid, const char *domain);
/* Bare parts equal (node and domain ASCII case-insensitive). */
bool xm_jid_bare_equal(const char *a, const char *b);
/* Full JIDs equal: both valid, bare parts equal as above, and the same
   resource (byte for byte) or both without one. */
bool xm_jid_equal(const char *a, const char *b);

/*
 * XEP-0106: escapes space " & ' / : < > @ \ in a localpart (and "\" only
 * where it starts a valid escape sequence). NULL when s is empty or starts
 * or ends with a space (XEP-0106 forbids those).
 */
char *xm_jid_escape_node(const char *s);
/* The inverse; only the ten XEP-0106 sequences are unescaped. */
char *xm_jid_unescape_node(const char *s);
/* True if escaping would change s (it holds a character XEP-0106 escapes,
   or a backslash sequence that unescaping would change). */
bool xm_jid_node_needs_escaping(const char *s);

#endif
