/*
 * ms_mime: RFC 2047 decoding in many charsets, raw 8-bit text, malformed
 * encoded words, cleaning and limits; first-mailbox extraction.
 */
#include <stdlib.h>
#include <string.h>

#include "ms_mime.h"
#include "test.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

static void check_decode_max(const char *raw, size_t max_bytes,
			     const char *want)
{
	char *got = ms_mime_decode_header(raw, strlen(raw), max_bytes);
	T_CHECK_STR(got, want);
	T_CHECK(ut_utf8_valid(got, strlen(got)));
	free(got);
}

static void check_decode(const char *raw, const char *want)
{
	check_decode_max(raw, 0, want);
}

static void test_charsets(void)
{
	check_decode("=?utf-8?q?Al=C3=AFce?=", "Al\xc3\xaf"
					       "ce");
	check_decode("=?UTF-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve");
	check_decode("=?utf8?Q?caf=C3=A9?=", "caf\xc3\xa9");
	check_decode("=?iso-8859-1?q?caf=E9?=", "caf\xc3\xa9");
	check_decode("=?ISO-8859-15?Q?=A4uro?=", "\xe2\x82\xac"
						 "uro");
	check_decode("=?windows-1252?q?=93hi=94_=80?=",
		     "\xe2\x80\x9chi\xe2\x80\x9d \xe2\x82\xac");
	/* Mail that says latin1 usually means Windows-1252. */
	check_decode("=?iso-8859-1?q?=80?=", "\xe2\x82\xac");
	check_decode("=?koi8-r?b?8NLJ18XU?=",
		     "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	check_decode("=?shift_jis?b?k/qWe4zq?=",
		     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	check_decode("=?gb2312?b?1tDOxA==?=", "\xe4\xb8\xad\xe6\x96\x87");
	check_decode("=?iso-2022-jp?b?GyRCRnxLXDhsGyhC?=",
		     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	check_decode("=?ISO-2022-JP?B?GyRCRnxLXDhsGyhCQUJD?=",
		     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
		     "ABC");
	check_decode("=?us-ascii?q?plain?=", "plain");
	/* RFC 2231 language suffix. */
	check_decode("=?utf-8*en?q?hi?=", "hi");
}

static void test_joining(void)
{
	/* White space between encoded words disappears. */
	check_decode("=?utf-8?q?a?= =?utf-8?q?b?=", "ab");
	check_decode("=?utf-8?q?a?=\r\n\t=?utf-8?q?b?=", "ab");
	check_decode("=?utf-8?q?a?==?utf-8?q?b?=", "ab");
	/* ... also between different charsets. */
	check_decode(
	    "=?iso-8859-1?q?=E9?=  =?koi8-r?b?8NLJ18XU?=",
	    "\xc3\xa9\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	/* A character split across two words. */
	check_decode("=?utf-8?b?ww==?= =?utf-8?b?qQ==?=", "\xc3\xa9");
	check_decode("=?shift_jis?b?k/o=?= =?shift_jis?b?lnuM6g==?=",
		     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	/* White space next to plain text stays. */
	check_decode("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c");
	check_decode("Re: =?utf-8?q?caf=C3=A9?= ok", "Re: caf\xc3\xa9 ok");
	check_decode("x=?utf-8?q?y?=z", "xyz");
	check_decode("=?utf-8?q?a_b?= =?utf-8?q?_c?=", "a b c");
}

static void test_raw_8bit(void)
{
	check_decode("Gr\xc3\xbc\xc3\x9f"
		     "e",
		     "Gr\xc3\xbc\xc3\x9f"
		     "e");
	check_decode("Gr\xfc\xdf"
		     "e",
		     "Gr\xc3\xbc\xc3\x9f"
		     "e");
	check_decode("\x93quoted\x94 \x80", "\xe2\x80\x9cquoted\xe2\x80\x9d "
					    "\xe2\x82\xac");
	/* Undefined Windows-1252 bytes become U+FFFD. */
	check_decode("a\x81"
		     "b",
		     "a\xef\xbf\xbd"
		     "b");
	/* Raw text and encoded words together. */
	check_decode("caf\xe9 =?utf-8?q?=C3=A9?=", "caf\xc3\xa9 \xc3\xa9");
}

static void test_malformed(void)
{
	check_decode("Hello =?utf-8?x?foo?= world",
		     "Hello =?utf-8?x?foo?= world");
	check_decode("=?utf-8?b?!!!?=", "=?utf-8?b?!!!?=");
	check_decode("=?utf-8?b?YQ=b?=", "=?utf-8?b?YQ=b?=");
	check_decode("a =?utf-8?q?unterminated", "a =?utf-8?q?unterminated");
	check_decode("=?utf-8?q?with space?=", "=?utf-8?q?with space?=");
	check_decode("=?"
		     "?q?nocharset?=",
		     "=?"
		     "?q?nocharset?=");
	check_decode("=?utf-8?q?a=ZZ=4?=", "a=ZZ=4");
	check_decode("=?", "=?");
	check_decode("=?utf-8?q?", "=?utf-8?q?");
	check_decode("=?utf-8?q?"
		     "?=",
		     "");
	check_decode("?= =? ?=", "?= =? ?=");
	/* One bad word does not cost the good ones. */
	check_decode("=?utf-8?q?ok?= =?utf-8?z?bad?= =?utf-8?q?ok2?=",
		     "ok =?utf-8?z?bad?= ok2");
	/* Unknown charsets: UTF-8 if it is, else Windows-1252. */
	check_decode("=?x-unknown?q?caf=C3=A9?=", "caf\xc3\xa9");
	check_decode("=?x-unknown?q?caf=E9?=", "caf\xc3\xa9");
	/* Charset names cannot smuggle iconv options. */
	check_decode("=?utf-8//TRANSLIT?q?x?=", "=?utf-8//TRANSLIT?q?x?=");
	/* Invalid bytes in a declared charset become U+FFFD. */
	check_decode("=?utf-8?q?a=FFb?=", "a\xef\xbf\xbd"
					  "b");
	check_decode("=?shift_jis?q?a=FF=FFb?=", "a\xef\xbf\xbd\xef\xbf\xbd"
						 "b");
	check_decode("=?shift_jis?b?kw==?=", "\xef\xbf\xbd");
}

static void test_cleaning(void)
{
	check_decode("=?utf-8?q?a=00b=0Dc=0A_d=7F=C2=85?=", "ab c d");
	check_decode("  folded\r\n  subject\t ", "folded subject");
	check_decode("", "");
	char *s = ms_mime_decode_header(NULL, 0, 0);
	T_CHECK_STR(s, "");
	free(s);
	/* Embedded NUL in the raw header is dropped, the rest kept. */
	s = ms_mime_decode_header("a\0b", 3, 0);
	T_CHECK_STR(s, "ab");
	free(s);
	/* Limits cut at a character and end with an ellipsis. */
	check_decode_max("=?utf-8?q?=C3=A9=C3=A9=C3=A9=C3=A9?=", 6,
			 "\xc3\xa9\xe2\x80\xa6");
	check_decode_max("abcdef", 6, "abcdef");
	struct ut_buf b = UT_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		ut_buf_append_str(&b, "=?utf-8?b?w6k=?= ");
	s = ms_mime_decode_header(b.data, b.len, 1024);
	T_CHECK(strlen(s) <= 1024 && strlen(s) >= 1000);
	T_CHECK(strncmp(s, "\xc3\xa9\xc3\xa9", 4) == 0);
	free(s);
	s = ms_mime_decode_header(b.data, b.len, 0);
	T_CHECK_INT(strlen(s), 2000);
	free(s);
	ut_buf_free(&b);
}

int main(void)
{
	T_RUN(test_charsets);
	T_RUN(test_joining);
	T_RUN(test_raw_8bit);
	T_RUN(test_malformed);
	T_RUN(test_cleaning);
	return T_DONE();
}
