/*
 * Fuzz target for br_command_parse, the text commands users send the Mail
 * contact. Checks: a known kind; for SET, a name and a value of lower-case
 * printable ASCII within the bound; for UNKNOWN, a word that is clean
 * one-line UTF-8 within its bound; NONE only for white space; for NUDGE,
 * an empty word (everyone) only when nothing follows "nudge", else a name
 * that is clean UTF-8 without white space or controls within its bound.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "br_command.h"
#include "ut_utf8.h"

static void check_ascii(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > BR_COMMAND_WORD_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7F ||
		    (s[i] >= 'A' && s[i] <= 'Z'))
			abort();
}

/* data is "nudge" (any case, maybe after '/' or '!') and white space. */
static bool only_nudge(const uint8_t *data, size_t size)
{
	size_t i = 0;
	while (i < size && strchr(" \t\r\n", data[i]) && data[i] != 0)
		i++;
	if (i < size && (data[i] == '/' || data[i] == '!'))
		i++;
	if (size - i < 5 || strncasecmp((const char *)data + i, "nudge", 5))
		return false;
	for (i += 5; i < size; i++)
		if (!strchr(" \t\r\n", data[i]) || data[i] == 0)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct br_command c;
	br_command_parse((const char *)data, size, &c);
	switch (c.kind) {
	case BR_COMMAND_NONE:
		for (size_t i = 0; i < size; i++)
			if (!strchr(" \t\r\n", data[i]) || data[i] == 0)
				abort();
		break;
	case BR_COMMAND_SET:
		check_ascii(c.name);
		check_ascii(c.value);
		break;
	case BR_COMMAND_UNKNOWN: {
		size_t n = strlen(c.word);
		if (n > BR_COMMAND_WORD_MAX * 2 || !ut_utf8_valid(c.word, n))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c.word[i] < 0x20)
				abort();
		break;
	}
	case BR_COMMAND_NUDGE: {
		size_t n = strlen(c.word);
		if (n > BR_COMMAND_NAME_MAX || !ut_utf8_valid(c.word, n))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c.word[i] <= 0x20 ||
			    (unsigned char)c.word[i] == 0x7F)
				abort();
		if (n == 0 && !only_nudge(data, size))
			abort();
		break;
	}
	case BR_COMMAND_BAD_NUDGE:
		if (c.word[0] != '\0')
			abort();
		break;
	case BR_COMMAND_HELP:
	case BR_COMMAND_SETTINGS:
	case BR_COMMAND_CHECK:
	case BR_COMMAND_BAD_SET:
		break;
	default:
		abort();
	}
	return 0;
}
