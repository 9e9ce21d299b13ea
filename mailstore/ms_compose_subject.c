/*
 * Subjects for mail from chat (see ms_compose.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ms_compose.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

char *ms_compose_reply_subject(const char *parent_subject)
{
	const char *p = parent_subject;
	if (p == NULL || p[0] == '\0')
		return xstrdup("Re:");
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close != NULL) {
			p = close + 1;
			while (*p == ' ' || *p == '\t')
				p++;
		}
	}
	if (strncasecmp(p, "re:", 3) == 0)
		return xstrdup(parent_subject);
	return xasprintf("Re: %s", parent_subject);
}

/* The code point at s (valid UTF-8) and its length in *n_r. */
static uint32_t decode(const unsigned char *s, size_t *n_r)
{
	if (s[0] < 0x80) {
		*n_r = 1;
		return s[0];
	}
	if (s[0] < 0xE0) {
		*n_r = 2;
		return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
	}
	if (s[0] < 0xF0) {
		*n_r = 3;
		return ((uint32_t)(s[0] & 0x0F) << 12) |
		       ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
	}
	*n_r = 4;
	return ((uint32_t)(s[0] & 0x07) << 18) |
	       ((uint32_t)(s[1] & 0x3F) << 12) |
	       ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/* Marks that belong to the character before them: a cut must not fall
   just before one (combining marks, variation selectors, skin tones). */
static bool is_extend(uint32_t cp)
{
	return (cp >= 0x0300 && cp <= 0x036F) ||
	       (cp >= 0x1AB0 && cp <= 0x1AFF) ||
	       (cp >= 0x1DC0 && cp <= 0x1DFF) ||
	       (cp >= 0x20D0 && cp <= 0x20FF) ||
	       (cp >= 0xFE00 && cp <= 0xFE0F) ||
	       (cp >= 0xFE20 && cp <= 0xFE2F) ||
	       (cp >= 0x1F3FB && cp <= 0x1F3FF) ||
	       (cp >= 0xE0100 && cp <= 0xE01EF);
}

/* The first line of text that is not blank, cleaned; "" when none. */
static char *first_line(const char *text, size_t len)
{
	size_t start = 0;
	while (text != NULL && start < len) {
		size_t end = start;
		while (end < len && text[end] != '\n' && text[end] != '\r')
			end++;
		char *line = ut_utf8_clean_str(text + start, end - start,
					       UT_CLEAN_ONELINE, 0);
		if (line[0] != '\0')
			return line;
		free(line);
		start = end + 1;
	}
	return xstrdup("");
}

char *ms_compose_subject_from_text(const char *text, size_t len,
				   const char *fallback)
{
	char *line = first_line(text, len);
	const unsigned char *s = (const unsigned char *)line;
	size_t line_len = strlen(line);

	/* Octet offsets of the first MS_COMPOSE_SUBJECT_CUT characters. */
	size_t off[MS_COMPOSE_SUBJECT_CUT + 1];
	size_t chars = 0, i = 0;
	while (i < line_len && chars <= MS_COMPOSE_SUBJECT_CUT) {
		size_t n;
		off[chars++] = i;
		decode(s + i, &n);
		i += n;
	}
	if (chars < MS_COMPOSE_SUBJECT_MIN && fallback != NULL) {
		free(line);
		return xstrdup(fallback);
	}
	if (i >= line_len && chars <= MS_COMPOSE_SUBJECT_CUT)
		return line;

	/* Too long: keep at most CUT - 1 characters, then "…". */
	const size_t keep = MS_COMPOSE_SUBJECT_CUT - 1;
	size_t cut = 0;
	for (size_t k = keep; k >= keep / 2 && cut == 0; k--) {
		if (line[off[k]] == ' ')
			cut = off[k];
	}
	if (cut == 0) {
		size_t k = keep;
		size_t n;
		while (k > 1 && is_extend(decode(s + off[k], &n)))
			k--;
		cut = off[k];
	}
	while (cut > off[1] && strchr(" ,;:-", line[cut - 1]) != NULL)
		cut--;
	line[cut] = '\0';
	char *r = xasprintf("%s\xE2\x80\xA6", line);
	free(line);
	return r;
}
