#ifndef UT_BUF_H
#define UT_BUF_H

/*
 * A growable byte buffer. data is always NUL-terminated (data[len] == 0) once
 * anything was appended, so it can be used as a C string when the content
 * has no NUL. Growth aborts on out-of-memory. The buffer owns data; free it
 * with ut_buf_free() or take it with ut_buf_steal().
 */

#include <stdarg.h>
#include <stddef.h>

struct ut_buf {
	char *data;
	size_t len;
	size_t cap;
};

#define UT_BUF_INIT                                                            \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void ut_buf_init(struct ut_buf *b);
void ut_buf_free(struct ut_buf *b);
void ut_buf_reset(struct ut_buf *b); /* len = 0, keeps the memory */
void ut_buf_reserve(struct ut_buf *b, size_t extra);
void ut_buf_append(struct ut_buf *b, const void *data, size_t len);
void ut_buf_append_str(struct ut_buf *b, const char *s);
void ut_buf_append_c(struct ut_buf *b, char c);
void ut_buf_appendf(struct ut_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ut_buf_vappendf(struct ut_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Drops the first n bytes (n <= len). */
void ut_buf_consume(struct ut_buf *b, size_t n);
/* Returns data (never NULL: "" when empty, malloc'ed) and resets b. */
char *ut_buf_steal(struct ut_buf *b);
/* NUL-terminated view; "" when nothing was appended yet. */
const char *ut_buf_str(const struct ut_buf *b);

#endif
