#ifndef FUZZ_DVLINES_H
#define FUZZ_DVLINES_H

/*
 * What the fuzz targets of Dovecot's two auth protocols (fuzz_acproto.c,
 * fuzz_amproto.c) share: feeding an input line by line, as the client
 * reads it from the socket, the check that a string handed out is clean
 * one-line UTF-8 within its bound, and the check of a parser's error. Static:
 * each target includes it once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_utf8.h"

/* Aborts unless s is NUL-terminated within max bytes, valid UTF-8 and free
   of control bytes (below 0x20, DEL). */
static void fuzz_check_clean(const char *s, size_t max)
{
	size_t len = strnlen(s, max + 1);
	if (len > max || !ut_utf8_valid(s, len))
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
			abort();
}

/* Checks what a parser returned with its error: a refused line comes with
   a clean one-line error (freed here), an accepted one with none. True
   when the line was accepted. */
static bool fuzz_parsed(int ret, char *error)
{
	if (ret < 0) {
		if (error == NULL)
			abort();
		fuzz_check_clean(error, 512);
		free(error);
		return false;
	}
	if (error != NULL)
		abort();
	return true;
}

/* Calls one() for each line of data (split at '\n', which is not passed
   on; the last line need not end with one); first is true for the first
   line only. */
static void fuzz_each_line(const uint8_t *data, size_t size,
			   void (*one)(const char *line, size_t len,
				       bool first))
{
	const char *p = (const char *)data, *end = p + size;
	bool first = true;

	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		one(p, len, first);
		first = false;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

#endif
