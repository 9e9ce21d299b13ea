#ifndef UT_XALLOC_H
#define UT_XALLOC_H

/*
 * Allocation that never returns NULL: on out-of-memory the process logs and
 * aborts. Use these everywhere; memory exhaustion is not an input we recover
 * from. Everything returned is freed with free().
 */

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* Copies at most len bytes of s and NUL-terminates. */
char *xstrndup(const char *s, size_t len);
/* Like xstrdup, but NULL stays NULL. */
char *xstrdup_null(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

/* Frees *p and sets it to NULL. */
#define ut_free(p)                                                             \
	do {                                                                   \
		free(*(p));                                                    \
		*(p) = NULL;                                                   \
	} while (0)

/*
 * An internal invariant. Never use on data that came from outside the
 * process: bad input is an error to return, not an abort.
 */
#define ut_assert(expr)                                                        \
	do {                                                                   \
		if (__builtin_expect(!(expr), 0))                              \
			ut_assert_fail(__FILE__, __LINE__, #expr);             \
	} while (0)

void ut_assert_fail(const char *file, int line, const char *expr)
    __attribute__((noreturn));

#define UT_N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#endif
