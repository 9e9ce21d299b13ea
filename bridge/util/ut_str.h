#ifndef UT_STR_H
#define UT_STR_H

/*
 * ASCII-only string helpers. Protocol names (JID domains, mail domains,
 * charset labels, IMAP atoms) compare ASCII case-insensitively whatever the
 * process locale is; these never look at bytes >= 0x80.
 */

#include <stdbool.h>
#include <stddef.h>

static inline char ut_ascii_tolower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Lower-cases s in place. */
void ut_ascii_lower(char *s);
/* An xmalloc'ed lower-cased copy of s[0..len). */
char *ut_ascii_lower_dup(const char *s, size_t len);
/* a and b are equal ASCII case-insensitively. */
bool ut_ascii_caseeq(const char *a, const char *b);

#endif
