/*
 * Fuzz target for ms_addr. The first input byte holds flags (low nibble:
 * the recipient limit; 0x10: MS_ADDR_UTF8); the rest is a recipient field,
 * and is also validated as one address. Checks:
 * - ms_addr_validate accepts only what a header can carry: at most 254
 *   octets, no NUL, CR, LF or other control, an '@' with a non-empty
 *   domain of LDH labels or an address literal;
 * - ms_addr_list_parse returns at most the limit, each address valid (by
 *   ms_addr_validate), no two equal, display names one line of valid UTF-8
 *   without controls within MS_ADDR_DISPLAY_MAX; an error is a message
 *   with no line break and an empty list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_addr.h"
#include "ut_utf8.h"

static void check_text(const char *s, size_t max)
{
	size_t len = strlen(s);
	if (len > max || !ut_utf8_valid(s, len))
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F)
			abort();
	}
}

static void check_valid_addr(const char *a, size_t len, unsigned flags)
{
	if (len == 0 || len > MS_ADDR_MAX)
		abort();
	const char *at = NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c < 0x20 || c == 0x7F)
			abort();
		if (c >= 0x80 && !(flags & MS_ADDR_UTF8))
			abort();
		if (c == '@')
			at = a + i;
	}
	if (at == NULL || at == a || at + 1 == a + len)
		abort();
	for (const char *p = at + 1; p < a + len; p++) {
		if ((unsigned char)*p >= 0x80 || *p == ' ')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = (data[0] & 0x10) ? MS_ADDR_UTF8 : 0;
	size_t max = data[0] & 0x0F;
	const char *field = (const char *)data + 1;
	size_t len = size - 1;

	const char *reason = NULL;
	if (ms_addr_validate(field, len, flags, &reason) == 0)
		check_valid_addr(field, len, flags);
	else if (reason == NULL)
		abort();

	struct ms_addr_list l;
	char *error = NULL;
	if (ms_addr_list_parse(field, len, max, flags, &l, &error) < 0) {
		if (error == NULL || l.n != 0 || l.v != NULL)
			abort();
		check_text(error, 1000);
		free(error);
		return 0;
	}
	if (l.n > max)
		abort();
	for (size_t i = 0; i < l.n; i++) {
		const char *a = l.v[i].addr;
		if (ms_addr_validate(a, strlen(a), flags, &reason) < 0)
			abort();
		check_valid_addr(a, strlen(a), flags);
		if (l.v[i].display != NULL) {
			check_text(l.v[i].display, MS_ADDR_DISPLAY_MAX);
			if (l.v[i].display[0] == '\0')
				abort();
		}
		for (size_t k = 0; k < i; k++) {
			if (ms_addr_equal(l.v[k].addr, a))
				abort();
		}
	}
	ms_addr_list_clear(&l);
	return 0;
}
