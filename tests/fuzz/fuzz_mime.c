/*
 * Fuzz target for ms_mime. The first input byte picks a byte limit (0 =
 * none); the rest is a header value. Checks:
 * the decoded header is valid UTF-8 without control characters, one line,
 * within the limit, and never NULL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_mime.h"
#include "ut_utf8.h"

static void check_line(const char *s, size_t max_bytes)
{
	size_t len = strlen(s);
	if ((max_bytes > 0 && len > max_bytes) || !ut_utf8_valid(s, len))
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t max_bytes = data[0] < 128 ? data[0] : 0;
	const char *raw = (const char *)data + 1;
	size_t len = size - 1;

	char *s = ms_mime_decode_header(raw, len, max_bytes);
	if (s == NULL)
		abort();
	check_line(s, max_bytes);
	free(s);

	return 0;
}
