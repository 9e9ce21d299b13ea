/* The guard over what an IMAP server sends; see ms_imap_guard.h. */

#include "ms_imap_guard.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Up to this many digits, a literal size fits in a uint64_t. */
#define LITERAL_DIGITS_MAX 19

void ms_imap__guard_init(struct ms_imap__guard *g, const char *secret)
{
	memset(g, 0, sizeof(*g));
	g->secret = secret;
	g->read_left = MS_IMAP__READ_MAX;
}

void ms_imap__guard_free(struct ms_imap__guard *g)
{
	free(g->bye);
	g->bye = NULL;
}

size_t ms_imap__guard_room(const struct ms_imap__guard *g)
{
	return g->read_left;
}

void ms_imap__scrub(char *text, const char *secret)
{
	size_t n = secret != NULL ? strlen(secret) : 0;
	char *p = text;

	if (n == 0)
		return;
	while ((p = strstr(p, secret)) != NULL) {
		memset(p, '*', n);
		p += n;
	}
}

char *ms_imap__guard_bye(const struct ms_imap__guard *g)
{
	if (g->bye == NULL)
		return NULL;
	char *clean = ut_utf8_clean_str(g->bye, strlen(g->bye),
					UT_CLEAN_ONELINE, MS_IMAP__HEAD_BYTES);
	/* Cleaning drops control characters, which could have split the
	   secret in the raw text: scrub what comes out, too. */
	ms_imap__scrub(clean, g->secret);
	return clean;
}

static bool head_is(const struct ms_imap__guard *g, const char *prefix)
{
	size_t n = strlen(prefix);

	if (g->head_len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ut_ascii_tolower(g->head[i]) != ut_ascii_tolower(prefix[i]))
			return false;
	}
	return true;
}

/* A line of the server ended (outside a literal). Returns -1 to refuse. */
static int line_end(struct ms_imap__guard *g, char **error_r)
{
	bool literal =
	    g->brace == MS_IMAP__BRACE_CLOSED || g->brace == MS_IMAP__BRACE_CR;

	if (g->head_len > 0 && g->head[g->head_len - 1] == '\r')
		g->head_len--;
	g->head[g->head_len] = '\0';
	if (head_is(g, "* BYE ") || (g->head_len == 5 && head_is(g, "* BYE"))) {
		const char *text = g->head + 5;

		while (*text == ' ')
			text++;
		free(g->bye);
		g->bye = xstrdup(text);
		ms_imap__scrub(g->bye, g->secret);
		if (g->lines == 0) {
			/* libetpan leaks a BYE greeting: it never gets it. */
			char *bye = ms_imap__guard_bye(g);

			*error_r = xasprintf(
			    "server refused the connection: BYE %s", bye);
			free(bye);
			return -1;
		}
	}
	g->lines++;
	g->head_len = 0;
	g->brace = MS_IMAP__BRACE_NONE;
	if (!literal)
		return 0;
	if (g->brace_num > MS_IMAP__LITERAL_MAX ||
	    g->brace_num > g->read_left) {
		if (g->brace_digits > LITERAL_DIGITS_MAX)
			*error_r =
			    xasprintf("server announced a literal with "
				      "a %u-digit size (limit %zu)",
				      g->brace_digits, MS_IMAP__LITERAL_MAX);
		else
			*error_r =
			    xasprintf("server announced a literal of "
				      "%" PRIu64 " bytes (limit %zu)",
				      g->brace_num, MS_IMAP__LITERAL_MAX);
		return -1;
	}
	g->literal_left = g->brace_num;
	return 0;
}

static void brace(struct ms_imap__guard *g, char c)
{
	if (c == '{') {
		g->brace = MS_IMAP__BRACE_DIGITS;
		g->brace_num = 0;
		g->brace_digits = 0;
	} else if (g->brace == MS_IMAP__BRACE_DIGITS && c >= '0' && c <= '9') {
		/* Longer numbers are over the limit anyway. */
		if (g->brace_digits < LITERAL_DIGITS_MAX)
			g->brace_num = g->brace_num * 10 + (uint64_t)(c - '0');
		else
			g->brace_num = UINT64_MAX;
		if (g->brace_digits < UINT32_MAX)
			g->brace_digits++;
	} else if (g->brace == MS_IMAP__BRACE_DIGITS && c == '}' &&
		   g->brace_digits > 0) {
		g->brace = MS_IMAP__BRACE_CLOSED;
	} else if (g->brace == MS_IMAP__BRACE_CLOSED && c == '\r') {
		g->brace = MS_IMAP__BRACE_CR;
	} else {
		g->brace = MS_IMAP__BRACE_NONE;
	}
}

int ms_imap__guard_scan(struct ms_imap__guard *g, const char *buf, size_t n,
			char **error_r)
{
	size_t i = 0;

	*error_r = NULL;
	if (n > g->read_left) {
		*error_r = xasprintf("server sent more than %zu bytes",
				     MS_IMAP__READ_MAX);
		return -1;
	}
	g->read_left -= n;
	while (i < n) {
		char c;

		if (g->literal_left > 0) {
			size_t take = g->literal_left < n - i
					  ? (size_t)g->literal_left
					  : n - i;

			g->literal_left -= take;
			i += take;
			continue;
		}
		c = buf[i++];
		if (c == '\n') {
			if (line_end(g, error_r) < 0)
				return -1;
			continue;
		}
		if (g->head_len < sizeof(g->head) - 1)
			g->head[g->head_len++] = c;
		brace(g, c);
	}
	return 0;
}
