#include <stdlib.h>
#include <string.h>

#include "br_command.h"
#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The next word of s[*pos..len): its start and length (0 at the end). */
static size_t next_word(const char *s, size_t len, size_t *pos,
			const char **word_r)
{
	while (*pos < len && is_ws(s[*pos]))
		(*pos)++;
	*word_r = s + *pos;
	size_t start = *pos;
	while (*pos < len && !is_ws(s[*pos]))
		(*pos)++;
	return *pos - start;
}

/* Copies a word lower-cased when it is plain ASCII and fits; false when
   it does not (then it can be no command word). */
static bool ascii_word(const char *w, size_t n, char *out)
{
	if (n == 0 || n > BR_COMMAND_WORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c <= 0x20 || c >= 0x7F)
			return false;
		out[i] = ut_ascii_tolower((char)c);
	}
	out[n] = '\0';
	return true;
}

/* "nudge" followed by rest[0..rest_n) (the next word, if any) and more at
   text[pos..len). */
static void parse_nudge(const char *text, size_t len, size_t pos,
			const char *rest, size_t rest_n, struct br_command *c)
{
	const char *extra;

	c->kind = BR_COMMAND_BAD_NUDGE;
	if (rest_n == 0) {
		c->kind = BR_COMMAND_NUDGE; /* everyone */
		return;
	}
	if (rest_n > BR_COMMAND_NAME_MAX ||
	    next_word(text, len, &pos, &extra) != 0)
		return;
	char *clean = ut_utf8_clean_str(rest, rest_n, UT_CLEAN_ONELINE,
					BR_COMMAND_NAME_MAX);
	/* Cleaning to nothing must not become "everyone", and a separator
	   that cleaning turned into a space made it two words. */
	if (clean[0] != '\0' && strchr(clean, ' ') == NULL) {
		memcpy(c->word, clean, strlen(clean) + 1);
		c->kind = BR_COMMAND_NUDGE;
	}
	free(clean);
}

void br_command_parse(const char *text, size_t len, struct br_command *c)
{
	const char *w;
	size_t pos = 0, n;
	char first[BR_COMMAND_WORD_MAX + 1];

	memset(c, 0, sizeof(*c));
	n = next_word(text, len, &pos, &w);
	if (n == 0) {
		c->kind = BR_COMMAND_NONE;
		return;
	}
	if (n > 1 && (w[0] == '/' || w[0] == '!')) {
		w++;
		n--;
	}
	if (!ascii_word(w, n, first)) {
		c->kind = BR_COMMAND_UNKNOWN;
		char *clean = ut_utf8_clean_str(
		    w,
		    n < BR_COMMAND_WORD_MAX * 4 ? n : BR_COMMAND_WORD_MAX * 4,
		    UT_CLEAN_ONELINE, BR_COMMAND_WORD_MAX * 2);
		memcpy(c->word, clean, strlen(clean) + 1);
		free(clean);
		return;
	}
	const char *rest;
	size_t rest_pos = pos, rest_n = next_word(text, len, &rest_pos, &rest);
	if (strcmp(first, "help") == 0 || strcmp(first, "?") == 0) {
		c->kind = BR_COMMAND_HELP;
	} else if (strcmp(first, "settings") == 0) {
		c->kind = BR_COMMAND_SETTINGS;
	} else if (strcmp(first, "check") == 0) {
		c->kind = BR_COMMAND_CHECK;
	} else if (strcmp(first, "nudge") == 0) {
		parse_nudge(text, len, rest_pos, rest, rest_n, c);
	} else if (strcmp(first, "set") == 0) {
		const char *v;
		size_t vpos = rest_pos, vn = next_word(text, len, &vpos, &v);
		const char *extra;
		size_t epos = vpos;
		if (!ascii_word(rest, rest_n, c->name) ||
		    !ascii_word(v, vn, c->value) ||
		    next_word(text, len, &epos, &extra) != 0) {
			c->kind = BR_COMMAND_BAD_SET;
			c->name[0] = c->value[0] = '\0';
		} else {
			c->kind = BR_COMMAND_SET;
		}
	} else {
		c->kind = BR_COMMAND_UNKNOWN;
		memcpy(c->word, first, strlen(first) + 1);
	}
}
