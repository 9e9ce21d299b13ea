#include "ut_str.h"
#include "ut_xalloc.h"

void ut_ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = ut_ascii_tolower(*s);
}

char *ut_ascii_lower_dup(const char *s, size_t len)
{
	char *d = xstrndup(s, len);
	ut_ascii_lower(d);
	return d;
}

bool ut_ascii_caseeq(const char *a, const char *b)
{
	for (;; a++, b++) {
		char x = ut_ascii_tolower(*a), y = ut_ascii_tolower(*b);
		if (x != y)
			return false;
		if (x == '\0')
			return true;
	}
}
