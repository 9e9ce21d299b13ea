#include <stdlib.h>

#include "test.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

static char *clean(const char *s, size_t len, unsigned flags, size_t max)
{
	return ut_utf8_clean_str(s, len, flags, max);
}

static void test_valid(void)
{
	T_CHECK(ut_utf8_valid("", 0));
	T_CHECK(ut_utf8_valid("abc", 3));
	T_CHECK(ut_utf8_valid("\xC3\xA9", 2));
	T_CHECK(ut_utf8_valid("\xF0\x9F\x93\xA7", 4));
	T_CHECK(!ut_utf8_valid("\xC3", 1));
	T_CHECK(!ut_utf8_valid("\xC0\xAF", 2));		/* overlong */
	T_CHECK(!ut_utf8_valid("\xED\xA0\x80", 3));	/* surrogate */
	T_CHECK(!ut_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
	T_CHECK(!ut_utf8_valid("\xFF", 1));
}

static void test_clean_invalid(void)
{
	char *s = clean("a\xFF"
			"b",
			3, 0, 0);
	T_CHECK_STR(s, "a\xEF\xBF\xBD"
		       "b");
	free(s);
	/* Maximal subpart: E1 80 followed by 'x' is one replacement. */
	s = clean("\xE1\x80x", 3, 0, 0);
	T_CHECK_STR(s, "\xEF\xBF\xBDx");
	free(s);
	/* A truncated sequence at the end. */
	s = clean("ok\xF0\x9F", 4, 0, 0);
	T_CHECK_STR(s, "ok\xEF\xBF\xBD");
	free(s);
	/* Latin-1 byte alone. */
	s = clean("caf\xE9", 4, 0, 0);
	T_CHECK_STR(s, "caf\xEF\xBF\xBD");
	free(s);
}

static void test_clean_controls(void)
{
	char *s = clean("a\0b\x01\x1b[31mc\x7f\xC2\x85", 13, 0, 0);
	T_CHECK_STR(s, "ab[31mc");
	free(s);
	s = clean("\xEF\xBF\xBEx\xEF\xBF\xBF", 7, 0, 0);
	T_CHECK_STR(s, "x");
	free(s);
	s = clean("tab\there\nnl", 11, 0, 0);
	T_CHECK_STR(s, "tab\there\nnl");
	free(s);
}

static void test_clean_oneline(void)
{
	char *s = clean("  Hello\r\n\t World \n", 18, UT_CLEAN_ONELINE, 0);
	T_CHECK_STR(s, "Hello World");
	free(s);
	s = clean("\n\n", 2, UT_CLEAN_ONELINE, 0);
	T_CHECK_STR(s, "");
	free(s);
}

/* Names and subjects lose what could reverse or hide text around them. */
static void test_clean_invisible(void)
{
	/* "Bank <\u202Egro.live@evil\u202C>" would show "...@evil.org". */
	const char rlo[] = "Bank \xE2\x80\xAE"
			   "gro.live@evil\xE2\x80\xAC";
	char *c = ut_utf8_clean_str(rlo, strlen(rlo), UT_CLEAN_ONELINE, 0);
	T_CHECK_STR(c, "Bank gro.live@evil");
	free(c);
	/* Every listed kind, one each: U+061C, U+180E, U+200B..U+200F,
	   U+202A..U+202E, U+2060..U+2064, U+2066..U+2069, U+FEFF,
	   U+FFF9..U+FFFB; and U+2028/U+2029 become spaces. */
	const char all[] = "a\xD8\x9C"
			   "b\xE1\xA0\x8E"
			   "c\xE2\x80\x8B\xE2\x80\x8C"
			   "\xE2\x80\x8D\xE2\x80\x8E\xE2\x80\x8F"
			   "d"
			   "\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC\xE2\x80\xAD"
			   "\xE2\x80\xAE"
			   "e\xE2\x81\xA0\xE2\x81\xA4"
			   "f"
			   "\xE2\x81\xA6\xE2\x81\xA9"
			   "g\xEF\xBB\xBF"
			   "h"
			   "\xEF\xBF\xB9\xEF\xBF\xBB"
			   "i\xE2\x80\xA8j\xE2\x80\xA9k";
	c = ut_utf8_clean_str(all, strlen(all), UT_CLEAN_ONELINE, 0);
	T_CHECK_STR(c, "abcdefghi j k");
	free(c);
	/* Neighbours that are visible stay: U+2010 hyphen, U+2065 (unassigned,
	   not listed), U+FE0F variation selector, Hebrew and Arabic text. */
	const char keep[] =
	    "x\xE2\x80\x90y\xEF\xB8\x8F \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D "
	    "\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85";
	c = ut_utf8_clean_str(keep, strlen(keep), UT_CLEAN_ONELINE, 0);
	T_CHECK_STR(c, keep);
	free(c);
	/* Multi-line text (snippets) keeps them: only names and subjects are
	   shown next to an address. */
	c = ut_utf8_clean_str(rlo, strlen(rlo), UT_CLEAN_MULTILINE, 0);
	T_CHECK_STR(c, rlo);
	free(c);
}

static void test_clean_multiline(void)
{
	char *s = clean("a\r\nb\rc\n", 7, UT_CLEAN_MULTILINE, 0);
	T_CHECK_STR(s, "a\nb\nc\n");
	free(s);
}

static void test_clean_limit(void)
{
	char *s = clean("abcdefghij", 10, 0, 10);
	T_CHECK_STR(s, "abcdefghij");
	free(s);
	s = clean("abcdefghijk", 11, 0, 10);
	T_CHECK_STR(s, "abcdefg\xE2\x80\xA6");
	free(s);
	/* Never cut inside a character: é is 2 bytes. */
	s = clean("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 8, 0, 6);
	T_CHECK_STR(s, "\xC3\xA9\xE2\x80\xA6");
	free(s);
	/* A 10 kB input stays within the limit and is valid. */
	char *big = xmalloc(10240);
	memset(big, 'x', 10240);
	s = clean(big, 10240, UT_CLEAN_ONELINE, 1000);
	T_CHECK_INT(strlen(s), 1000);
	T_CHECK(ut_utf8_valid(s, strlen(s)));
	free(s);
	free(big);
}

static void test_boundary(void)
{
	T_CHECK_INT(ut_utf8_boundary("ab", 2), 2);
	T_CHECK_INT(ut_utf8_boundary("a\xC3\xA9", 3), 3);
	T_CHECK_INT(ut_utf8_boundary("a\xC3\xA9", 2), 1);
	T_CHECK_INT(ut_utf8_boundary("\xF0\x9F\x93\xA7", 3), 0);
	T_CHECK_INT(ut_utf8_boundary("\xF0\x9F\x93\xA7", 4), 4);
	T_CHECK_INT(ut_utf8_boundary("", 0), 0);
}

int main(void)
{
	T_RUN(test_valid);
	T_RUN(test_clean_invalid);
	T_RUN(test_clean_controls);
	T_RUN(test_clean_oneline);
	T_RUN(test_clean_invisible);
	T_RUN(test_clean_multiline);
	T_RUN(test_clean_limit);
	T_RUN(test_boundary);
	return T_DONE();
}
