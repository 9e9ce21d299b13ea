#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_buf.h"
#include "ut_xalloc.h"

void ut_buf_init(struct ut_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void ut_buf_free(struct ut_buf *b)
{
	free(b->data);
	ut_buf_init(b);
}

void ut_buf_reset(struct ut_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void ut_buf_reserve(struct ut_buf *b, size_t extra)
{
	ut_assert(b->len <= SIZE_MAX - extra - 1);
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
	b->data[b->len] = '\0';
}

void ut_buf_append(struct ut_buf *b, const void *data, size_t len)
{
	ut_buf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void ut_buf_append_str(struct ut_buf *b, const char *s)
{
	ut_buf_append(b, s, strlen(s));
}

void ut_buf_append_c(struct ut_buf *b, char c)
{
	ut_buf_append(b, &c, 1);
}

void ut_buf_vappendf(struct ut_buf *b, const char *fmt, va_list ap)
{
	char small[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	ut_assert(n >= 0);
	if ((size_t)n < sizeof(small)) {
		ut_buf_append(b, small, (size_t)n);
		return;
	}
	ut_buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void ut_buf_appendf(struct ut_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ut_buf_vappendf(b, fmt, ap);
	va_end(ap);
}

void ut_buf_consume(struct ut_buf *b, size_t n)
{
	ut_assert(n <= b->len);
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *ut_buf_steal(struct ut_buf *b)
{
	char *p = b->data != NULL ? b->data : xstrdup("");
	ut_buf_init(b);
	return p;
}

const char *ut_buf_str(const struct ut_buf *b)
{
	return b->data != NULL ? b->data : "";
}
