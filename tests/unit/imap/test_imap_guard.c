/*
 * The guard over what an IMAP server sends (mailstore/ms_imap_guard.c),
 * fed whole and byte by byte: literals are skipped (whatever they hold),
 * oversized announcements and a BYE greeting are refused with the chunk
 * that completes the line, the byte budget holds, BYE texts are kept and
 * scrubbed.
 */

#include <stdlib.h>
#include <string.h>

#include "ms_imap_guard.h"
#include "test.h"
#include "ut_xalloc.h"

/* Feeds text in chunks of `step` bytes (0 = at once); returns the offset
   just past the chunk that was refused, or -1 when all went through. */
static long feed(struct ms_imap__guard *g, const char *text, size_t len,
		 size_t step, char **error_r)
{
	size_t off = 0;

	*error_r = NULL;
	if (step == 0)
		step = len;
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		if (ms_imap__guard_scan(g, text + off, n, error_r) < 0)
			return (long)(off + n);
		off += n;
	}
	return -1;
}

static void check(const char *text, size_t step, long want_refused_at,
		  const char *want_error)
{
	struct ms_imap__guard g;
	char *error;
	long at;

	ms_imap__guard_init(&g, "pw-123");
	at = feed(&g, text, strlen(text), step, &error);
	T_CHECK_INT(at, want_refused_at);
	if (want_error == NULL)
		T_CHECK(error == NULL);
	else
		T_CHECK_STR(error, want_error);
	free(error);
	ms_imap__guard_free(&g);
}

static const char greeting[] = "* OK ready\r\n";

static void test_literals_skipped(void)
{
	/* A literal holding what would otherwise be refused. */
	static const char text[] = "* OK ready\r\n"
				   "* 1 FETCH (ENVELOPE (\"d\" {40}\r\n"
				   "\n* BYE no\r\n{99999999}\r\nxxxxxxxxxxxxxx"
				   " NIL))\r\n"
				   "A1 OK done\r\n";

	for (size_t step = 0; step < 5; step++)
		check(text, step, -1, NULL);
}

static void test_huge_literal(void)
{
	static const char over[] = "* OK ready\r\n* 1 FETCH (BODY[] {1048577}"
				   "\r\nabc";
	static const char at[] = "* OK ready\r\n* 1 FETCH (BODY[] {1048576}"
				 "\r\nabc";
	static const char wraps[] =
	    "* OK ready\r\n* 1 FETCH (BODY[] {99999999999999999999999}\r\n";
	/* A literal+ announcement is not a literal from a server. */
	static const char plus[] = "* OK ready\r\n* OK {1048577+}\r\nabc";

	for (size_t step = 0; step < 3; step++) {
		/* Refused with the chunk holding the line feed. */
		check(over, step,
		      step == 0	  ? (long)strlen(over)
		      : step == 1 ? (long)strlen(over) - 3
				  : (long)strlen(over) - 3 + 1,
		      "server announced a literal of 1048577 bytes (limit "
		      "1048576)");
		check(at, step, -1, NULL);
		check(wraps, step, (long)strlen(wraps),
		      "server announced a literal with a 23-digit size (limit "
		      "1048576)");
		check(plus, step, -1, NULL);
	}
}

static void test_budget(void)
{
	struct ms_imap__guard g;
	char *chunk = xmalloc(1 << 20);
	char *error = NULL;
	size_t sent = 0;

	memset(chunk, 'A', 1 << 20);
	ms_imap__guard_init(&g, NULL);
	T_CHECK_INT(ms_imap__guard_scan(&g, greeting, strlen(greeting), &error),
		    0);
	while (ms_imap__guard_room(&g) >= (1 << 20)) {
		T_CHECK_INT(ms_imap__guard_scan(&g, chunk, 1 << 20, &error), 0);
		sent += 1 << 20;
	}
	T_CHECK_INT(sent + strlen(greeting) + ms_imap__guard_room(&g),
		    MS_IMAP__READ_MAX);
	T_CHECK_INT(
	    ms_imap__guard_scan(&g, chunk, ms_imap__guard_room(&g) + 1, &error),
	    -1);
	T_CHECK_STR(error, "server sent more than 16777216 bytes");
	free(error);
	free(chunk);
	ms_imap__guard_free(&g);
}

static void test_bye(void)
{
	struct ms_imap__guard g;
	static const char later[] = "* OK ready\r\nA1 OK x\r\n"
				    "* BYE closing, pw-123 \xff now\r\n";
	char *error, *bye;

	for (size_t step = 0; step < 3; step++)
		check("* BYE Too many connections\r\n", step,
		      (long)strlen("* BYE Too many connections\r\n"),
		      "server refused the connection: BYE Too many "
		      "connections");
	check("* BYEBYE\r\n", 1, -1, NULL);
	ms_imap__guard_init(&g, "pw-123");
	T_CHECK(ms_imap__guard_bye(&g) == NULL);
	T_CHECK_INT(feed(&g, later, strlen(later), 1, &error), -1);
	bye = ms_imap__guard_bye(&g);
	T_CHECK_STR(bye, "closing, ****** \xef\xbf\xbd now");
	free(bye);
	ms_imap__guard_free(&g);
}

static void test_scrub(void)
{
	char text[] = "a secret, secretsecret";

	ms_imap__scrub(text, "secret");
	T_CHECK_STR(text, "a ******, ************");
	ms_imap__scrub(text, "");
	ms_imap__scrub(text, NULL);
	T_CHECK_STR(text, "a ******, ************");
}

int main(void)
{
	T_RUN(test_literals_skipped);
	T_RUN(test_huge_literal);
	T_RUN(test_budget);
	T_RUN(test_bye);
	T_RUN(test_scrub);
	return T_DONE();
}
