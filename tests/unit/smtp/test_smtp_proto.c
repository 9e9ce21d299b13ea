/*
 * The SMTP client's connection-free parts (ms_smtp_proto.h): reply
 * parsing and its bounds, classification, the cleaned and scrubbed reply
 * text, EHLO capabilities, the DATA wire form, address and EHLO name
 * checks, base64.
 */

#include <stdlib.h>
#include <string.h>

#include "ms_smtp_proto.h"
#include "test.h"
#include "ut_buf.h"

/* Feeds lines (NULL-terminated); returns the last ms_smtp__reply_line()
   result and the error. */
static int feed(struct ms_smtp__reply *r, const char *const *lines,
		const char **error_r)
{
	int ret = -1;

	*error_r = NULL;
	ms_smtp__reply_reset(r);
	for (size_t i = 0; lines[i] != NULL; i++) {
		ret =
		    ms_smtp__reply_line(r, lines[i], strlen(lines[i]), error_r);
		if (ret != 0)
			break;
	}
	return ret;
}

static void test_reply_single_and_multi(void)
{
	struct ms_smtp__reply r;
	const char *err;

	ms_smtp__reply_init(&r);
	T_CHECK_INT(feed(&r, (const char *[]){"250 2.1.0 Ok", NULL}, &err), 1);
	T_CHECK_INT(r.code, 250);
	T_CHECK_STR(r.text.data, "2.1.0 Ok");
	T_CHECK(r.done);

	T_CHECK_INT(
	    feed(&r,
		 (const char *[]){"250-mx.example.org", "250-PIPELINING",
				  "250 STARTTLS", NULL},
		 &err),
	    1);
	T_CHECK_INT(r.lines, 3);
	T_CHECK_STR(r.text.data, "mx.example.org\nPIPELINING\nSTARTTLS");

	/* A bare code is a whole reply. */
	T_CHECK_INT(feed(&r, (const char *[]){"354", NULL}, &err), 1);
	T_CHECK_INT(r.code, 354);
	T_CHECK_STR(r.text.data, "");

	/* Not finished after a continuation line. */
	T_CHECK_INT(feed(&r, (const char *[]){"220-hello", NULL}, &err), 0);
	T_CHECK(!r.done);
	ms_smtp__reply_free(&r);
}

static void test_reply_malformed(void)
{
	struct ms_smtp__reply r;
	const char *err;
	const char *const bad[][3] = {
	    {"", NULL},		{"25", NULL},	      {"abc hello", NULL},
	    {"150 hi", NULL},	{"650 hi", NULL},     {"250x", NULL},
	    {"250-a", "251 b"}, {"2500 hello", NULL},
	};

	ms_smtp__reply_init(&r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_CHECK_INT(feed(&r, bad[i], &err), -1);
		T_CHECK(err != NULL);
	}
	/* At most MS_SMTP__REPLY_LINES_MAX lines. */
	ms_smtp__reply_reset(&r);
	for (int i = 0; i < MS_SMTP__REPLY_LINES_MAX; i++)
		T_CHECK_INT(ms_smtp__reply_line(&r, "250-x", 5, &err), 0);
	T_CHECK_INT(ms_smtp__reply_line(&r, "250 x", 5, &err), -1);
	T_CHECK_STR(err, "reply with too many lines");
	ms_smtp__reply_free(&r);
}

static void test_classify(void)
{
	/* 4xx: always temporary. */
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__RCPT, 450), MS_SMTP_TEMP);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__MAIL, 421), MS_SMTP_TEMP);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__DOT, 451), MS_SMTP_TEMP);
	/* 5xx about the message: permanent. */
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__RCPT, 550), MS_SMTP_PERM);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__RCPT, 554), MS_SMTP_PERM);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__MAIL, 553), MS_SMTP_PERM);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__DATA, 554), MS_SMTP_PERM);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__DOT, 552), MS_SMTP_PERM);
	/* RFC 5321 4.5.3.1.10: 552 to RCPT is 452. */
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__RCPT, 552), MS_SMTP_TEMP);
	/* 5xx before MAIL: our link to the MTA, temporary. */
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__GREETING, 554), MS_SMTP_TEMP);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__EHLO, 550), MS_SMTP_TEMP);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__AUTH, 535), MS_SMTP_TEMP);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__STARTTLS, 554), MS_SMTP_TEMP);
	/* Positive codes out of place: temporary (a confused server). */
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__RCPT, 354), MS_SMTP_TEMP);
	T_CHECK_INT(ms_smtp__classify(MS_SMTP__DATA, 250), MS_SMTP_TEMP);

	T_CHECK(ms_smtp__positive(MS_SMTP__RCPT, 251));
	T_CHECK(!ms_smtp__positive(MS_SMTP__MAIL, 251));
	T_CHECK(ms_smtp__positive(MS_SMTP__DATA, 354));
	T_CHECK(!ms_smtp__positive(MS_SMTP__DATA, 250));
	T_CHECK(!ms_smtp__positive(MS_SMTP__AUTH, 334));
}

static void test_reply_text(void)
{
	struct ms_smtp__reply r;
	const char *err;
	char *secrets[] = {"hunter2", NULL, "aHVudGVyMg=="};
	char *text;
	char long_line[MS_SMTP__LINE_MAX + 1];

	ms_smtp__reply_init(&r);
	/* Lines joined, controls and bidi tricks gone, secrets starred. */
	feed(&r,
	     (const char *[]){"550-5.1.1 <bob@example.org>:\x01 no",
			      "550 you said hunter2 \xe2\x80\xae"
			      "aHVudGVyMg== \xff",
			      NULL},
	     &err);
	text = ms_smtp__reply_text(&r, secrets, 3);
	T_CHECK_STR(text, "550 5.1.1 <bob@example.org>: no you said ******* "
			  "************ \xef\xbf\xbd");
	free(text);

	/* Bounded. */
	memset(long_line, 'x', sizeof(long_line) - 1);
	memcpy(long_line, "554 ", 4);
	long_line[sizeof(long_line) - 1] = '\0';
	feed(&r, (const char *[]){long_line, NULL}, &err);
	text = ms_smtp__reply_text(&r, NULL, 0);
	T_CHECK(strlen(text) <= MS_SMTP__TEXT_MAX);
	T_CHECK(strncmp(text, "554 xxx", 7) == 0);
	free(text);
	ms_smtp__reply_free(&r);
}

static void test_ehlo_caps(void)
{
	struct ms_smtp__reply r;
	struct ms_smtp__caps caps;
	const char *err;

	ms_smtp__reply_init(&r);
	feed(&r,
	     (const char *[]){"250-mx.example.org STARTTLS",
			      "250-SIZE 10240000", "250-starttls",
			      "250-AUTH CRAM-MD5 login", "250-8BITMIME",
			      "250 AUTH=PLAIN", NULL},
	     &err);
	ms_smtp__parse_ehlo(&r, &caps);
	T_CHECK(caps.starttls && caps.size && caps.eightbitmime);
	T_CHECK(caps.auth_login && caps.auth_plain);

	/* The greeting line names no extension; near-misses do not count. */
	feed(&r,
	     (const char *[]){"250-STARTTLS", "250-STARTTLSX",
			      "250-AUTH PLAINX", "250 AUTHLOGIN", NULL},
	     &err);
	ms_smtp__parse_ehlo(&r, &caps);
	T_CHECK(!caps.starttls && !caps.auth_plain && !caps.auth_login);
	ms_smtp__reply_free(&r);
}

static void check_encode(const char *in, const char *want, bool want_eight)
{
	struct ut_buf out;
	bool eight;

	ut_buf_init(&out);
	eight = ms_smtp__data_encode(in, strlen(in), &out);
	T_CHECK_STR(out.data, want);
	T_CHECK(eight == want_eight);
	ut_buf_free(&out);
}

static void test_data_encode(void)
{
	check_encode("Subject: x\r\n\r\nhi\r\n",
		     "Subject: x\r\n\r\nhi\r\n.\r\n", false);
	/* Bare LF and bare CR become CRLF; the last line is ended. */
	check_encode("a\nb\rc\r\nd", "a\r\nb\r\nc\r\nd\r\n.\r\n", false);
	/* Dot-stuffing at every line start, and only there. */
	check_encode(".\n..x\na.b\n.", "..\r\n...x\r\na.b\r\n..\r\n.\r\n",
		     false);
	check_encode("", ".\r\n", false);
	check_encode("caf\xc3\xa9\n", "caf\xc3\xa9\r\n.\r\n", true);
}

static void test_address_ok(void)
{
	T_CHECK(ms_smtp__address_ok("alice@example.org", false));
	T_CHECK(ms_smtp__address_ok("", true));
	T_CHECK(!ms_smtp__address_ok("", false));
	T_CHECK(!ms_smtp__address_ok("a@b>\r\nRCPT TO:<c@d", false));
	T_CHECK(!ms_smtp__address_ok("a b@c", false));
	T_CHECK(!ms_smtp__address_ok("a<b@c", false));
	T_CHECK(!ms_smtp__address_ok("caf\xc3\xa9@example.org", false));
	char longer[MS_SMTP_ADDRESS_MAX + 2];

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	T_CHECK(!ms_smtp__address_ok(longer, false));
	longer[MS_SMTP_ADDRESS_MAX] = '\0';
	T_CHECK(ms_smtp__address_ok(longer, false));

	T_CHECK(ms_smtp__ehlo_name_ok("mail.example.org"));
	T_CHECK(ms_smtp__ehlo_name_ok("[127.0.0.1]"));
	T_CHECK(ms_smtp__ehlo_name_ok("[IPv6:::1]"));
	T_CHECK(!ms_smtp__ehlo_name_ok(""));
	T_CHECK(!ms_smtp__ehlo_name_ok("a b"));
	T_CHECK(!ms_smtp__ehlo_name_ok("x\r\nMAIL FROM:<a@b>"));
	T_CHECK(!ms_smtp__ehlo_name_ok("[1.2.3.4"));
}

static void check_b64(const char *in, size_t len, const char *want)
{
	struct ut_buf out;

	ut_buf_init(&out);
	ms_smtp__base64(in, len, &out);
	T_CHECK_STR(out.data != NULL ? out.data : "", want);
	ut_buf_free(&out);
}

static void test_base64(void)
{
	/* RFC 4648 test vectors, and the AUTH PLAIN token of RFC 4616. */
	check_b64("", 0, "");
	check_b64("f", 1, "Zg==");
	check_b64("fo", 2, "Zm8=");
	check_b64("foo", 3, "Zm9v");
	check_b64("foob", 4, "Zm9vYg==");
	check_b64("fooba", 5, "Zm9vYmE=");
	check_b64("foobar", 6, "Zm9vYmFy");
	check_b64("\0tim\0tanstaaftanstaaf", 21,
		  "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
}

static void test_scrub(void)
{
	char text[] = "pw pw xpwx p";

	ms_smtp__scrub(text, "pw");
	T_CHECK_STR(text, "** ** x**x p");
	ms_smtp__scrub(text, "");
	ms_smtp__scrub(text, NULL);
	T_CHECK_STR(text, "** ** x**x p");
}

int main(void)
{
	T_RUN(test_reply_single_and_multi);
	T_RUN(test_reply_malformed);
	T_RUN(test_classify);
	T_RUN(test_reply_text);
	T_RUN(test_ehlo_caps);
	T_RUN(test_data_encode);
	T_RUN(test_address_ok);
	T_RUN(test_base64);
	T_RUN(test_scrub);
	return T_DONE();
}
