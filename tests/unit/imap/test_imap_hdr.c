/*
 * The pure parsers of ms_imap_hdr.c: header blocks from BODY.PEEK[HEADER.
 * FIELDS (...)] (msg-ids, subject, From, Reply-To, To, Cc, Date, automatic
 * mail),
 * hostile ones included, and modified UTF-7 mailbox names.
 */

#include <stdlib.h>
#include <string.h>

#include "ms_imap_hdr.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_xalloc.h"

static struct ms_imap_headers h;

static void parse(const char *raw)
{
	ms_imap_headers_clear(&h);
	ms_imap__headers_parse(raw, strlen(raw), &h);
}

static void test_plain(void)
{
	parse("Message-ID: <abc.1@example.net>\r\n"
	      "In-Reply-To: <p@example.org>\r\n"
	      "References: <r1@x> <p@example.org>\r\n"
	      "Subject: Hello there\r\n"
	      "From: Carol Example <carol@example.net>\r\n"
	      "Reply-To: list@example.net, \"Carol\" <carol@example.net>\r\n"
	      "To: Bob <bob@example.org>, dave@example.org\r\n"
	      "Cc: =?utf-8?q?Ev=C3=A9?= <eve@example.org>\r\n"
	      "Date: Thu, 1 Feb 2024 10:00:00 +0100\r\n"
	      "Content-Type: text/plain; charset=utf-8\r\n"
	      "Return-Path: <carol@example.net>\r\n"
	      "\r\n");
	T_CHECK_STR(h.message_id, "<abc.1@example.net>");
	T_CHECK_STR(h.in_reply_to, "<p@example.org>");
	T_CHECK_STR(h.references, "<r1@x> <p@example.org>");
	T_CHECK_STR(h.subject, "Hello there");
	T_CHECK_STR(h.from_address, "carol@example.net");
	T_CHECK_STR(h.from_name, "Carol Example");
	T_CHECK_INT(h.reply_to_count, 2);
	if (h.reply_to_count == 2) {
		T_CHECK_STR(h.reply_to[0], "list@example.net");
		T_CHECK_STR(h.reply_to[1], "carol@example.net");
	}
	T_CHECK_INT(h.to_count, 2);
	if (h.to_count == 2) {
		T_CHECK_STR(h.to[0], "bob@example.org");
		T_CHECK_STR(h.to[1], "dave@example.org");
	}
	T_CHECK_INT(h.cc_count, 1);
	if (h.cc_count == 1)
		T_CHECK_STR(h.cc[0], "eve@example.org");
	T_CHECK_INT(h.date, 1706778000);
	T_CHECK(!h.automatic);
}

static void test_absent(void)
{
	parse("");
	T_CHECK(h.message_id == NULL && h.subject == NULL &&
		h.from_address == NULL && h.reply_to == NULL && h.to == NULL &&
		h.cc == NULL && h.to_count == 0 && h.cc_count == 0 &&
		h.references == NULL && h.in_reply_to == NULL);
	T_CHECK_INT(h.date, 0);
	T_CHECK(!h.automatic);
	/* Fields after the empty line are the body, not the header. */
	parse("Subject: a\n\nFrom: x@y.org\n");
	T_CHECK_STR(h.subject, "a");
	T_CHECK(h.from_address == NULL);
}

static void test_folded_encoded(void)
{
	/* Bare LF, folding, RFC 2047, case-insensitive names, the first
	   occurrence wins. */
	parse("subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n  aus\tBerlin\n"
	      "SUBJECT: second\n"
	      "from: =?utf-8?b?w4Rsw7Zu?= <a.b@example.net> (comment)\n"
	      "From: evil@example.com\n"
	      "message-id:\n <folded@example.net>\n");
	T_CHECK_STR(h.subject, "Grüße aus Berlin");
	T_CHECK_STR(h.from_address, "a.b@example.net");
	T_CHECK_STR(h.from_name, "Älön");
	T_CHECK_STR(h.message_id, "<folded@example.net>");
}

static void test_hostile_values(void)
{
	char raw[] = "Subject: a\r\n\tb\x01\x7f c\0d\r\n"
		     "From: \"Ev\x1b[1mil\" <bad address@x>\r\n"
		     "Message-ID: <no spaces@x> <ok@x>\r\n"
		     "In-Reply-To: <a\x01@x> (<c@d>) <b@x> junk <@x> <x@>\r\n"
		     "\r\n";

	ms_imap_headers_clear(&h);
	ms_imap__headers_parse(raw, sizeof(raw) - 1, &h);
	T_CHECK(h.subject != NULL && strchr(h.subject, '\n') == NULL &&
		strchr(h.subject, '\x01') == NULL &&
		strchr(h.subject, '\x7f') == NULL);
	T_CHECK_STR(h.subject, "a b c d");
	T_CHECK(h.from_address == NULL);
	T_CHECK_STR(h.message_id, "<ok@x>");
	/* Only <b@x> is a valid msg-id outside comments. */
	T_CHECK_STR(h.in_reply_to, "<b@x>");
}

static void test_references_trimmed(void)
{
	struct ut_buf b;
	char want_last[64];

	/* 100 ids: the first and the latest that fit 20 ids / 2 KiB. */
	ut_buf_init(&b);
	ut_buf_append_str(&b, "References:");
	for (int i = 0; i < 100; i++)
		ut_buf_appendf(&b, "\r\n <id%d@example.net>", i);
	ut_buf_append_str(&b, "\r\n\r\n");
	parse(ut_buf_str(&b));
	T_CHECK(h.references != NULL);
	T_CHECK(strncmp(h.references, "<id0@example.net> <id81@", 24) == 0);
	snprintf(want_last, sizeof(want_last), " <id99@example.net>");
	T_CHECK(strlen(h.references) >= strlen(want_last) &&
		strcmp(h.references + strlen(h.references) - strlen(want_last),
		       want_last) == 0);
	/* Long ids: fewer fit in 2 KiB. */
	ut_buf_reset(&b);
	ut_buf_append_str(&b, "References:");
	for (int i = 0; i < 30; i++) {
		ut_buf_appendf(&b, " <%03d", i);
		for (int k = 0; k < 230; k++)
			ut_buf_append_c(&b, 'x');
		ut_buf_append_str(&b, "@example.net>");
	}
	ut_buf_append_str(&b, "\r\n");
	parse(ut_buf_str(&b));
	T_CHECK(h.references != NULL &&
		strlen(h.references) <= MS_IMAP_REFS_BYTES);
	T_CHECK(strncmp(h.references, "<000", 4) == 0);
	T_CHECK(strstr(h.references, "<029") != NULL);
	T_CHECK(strstr(h.references, "<028") != NULL);
	T_CHECK(strstr(h.references, "<001") == NULL);
	/* An id longer than MS_IMAP_MSGID_MAX is no id. */
	ut_buf_reset(&b);
	ut_buf_append_str(&b, "Message-ID: <");
	for (int k = 0; k < 250; k++)
		ut_buf_append_c(&b, 'y');
	ut_buf_append_str(&b, "@x>\r\n");
	parse(ut_buf_str(&b));
	T_CHECK(h.message_id == NULL);
	ut_buf_free(&b);
}

static void test_reply_to_bounded(void)
{
	struct ut_buf b;

	ut_buf_init(&b);
	ut_buf_append_str(&b, "Reply-To: team: a@x.org, b@x.org;, ");
	for (int i = 0; i < 80; i++)
		ut_buf_appendf(&b, "u%d@example.net, ", i);
	ut_buf_append_str(&b, "A@X.ORG\r\n");
	parse(ut_buf_str(&b));
	T_CHECK_INT(h.reply_to_count, MS_IMAP_REPLY_TO_MAX);
	if (h.reply_to_count >= 3) {
		T_CHECK_STR(h.reply_to[0], "a@x.org");
		T_CHECK_STR(h.reply_to[1], "b@x.org");
		T_CHECK_STR(h.reply_to[2], "u0@example.net");
	}
	/* The same address twice (domain case differs): once. */
	parse("Reply-To: a@x.org, a@X.ORG\r\n");
	T_CHECK_INT(h.reply_to_count, 1);
	ut_buf_free(&b);
}

static void test_rcpts(void)
{
	struct ut_buf b;

	/* Groups (named, empty), comments, folding, 8-bit local parts;
	   what libetpan rewrites ("bad address@x" -> "badaddress@x") or
	   ms_addr refuses is left out, and the rest is kept; To and Cc are each
	   distinct on their own. */
	parse("To: team: a@x.org, \"B\" <b@x.org>;, empty:;,\r\n"
	      " (c) c@x.org, bad address@x.org, <nodomain>,\r\n"
	      " \"q d\"@x.org, j\xc3\xb6rg@x.org, A@X.ORG, a@x.org\r\n"
	      "CC: a@x.org, undisclosed-recipients:;, f@x.org\r\n"
	      "Cc: second@x.org\r\n");
	T_CHECK_INT(h.to_count, 5);
	if (h.to_count == 5) {
		T_CHECK_STR(h.to[0], "a@x.org");
		T_CHECK_STR(h.to[1], "b@x.org");
		T_CHECK_STR(h.to[2], "c@x.org");
		/* "q d"@x.org comes out of libetpan as "qd"@x.org: left out. */
		T_CHECK_STR(h.to[3], "j\xc3\xb6rg@x.org");
		/* Local parts are case-sensitive: another address. */
		T_CHECK_STR(h.to[4], "A@X.ORG");
	}
	T_CHECK_INT(h.cc_count, 2);
	if (h.cc_count == 2) {
		T_CHECK_STR(h.cc[0], "a@x.org");
		T_CHECK_STR(h.cc[1], "f@x.org");
	}
	/* A bare CR joins nothing: "a\rb@x.org" is not ab@x.org. */
	parse("To: a\rb@x.org, c@x.org\r\n");
	T_CHECK_INT(h.to_count, 1);
	if (h.to_count == 1)
		T_CHECK_STR(h.to[0], "c@x.org");
	/* Unparsable: nothing, and nothing else lost. */
	parse("To: <<<\r\nCc: ,,,\r\nSubject: s\r\n");
	T_CHECK(h.to == NULL && h.to_count == 0);
	T_CHECK(h.cc == NULL && h.cc_count == 0);
	T_CHECK_STR(h.subject, "s");

	/* At most MS_IMAP_RCPTS_MAX, the first ones, also from a field
	   longer than the parser looks at (cut in the middle). */
	ut_buf_init(&b);
	ut_buf_append_str(&b, "To: ");
	for (int i = 0; i < 3000; i++)
		ut_buf_appendf(&b,
			       "\"Person number %d\" <user%d@example.net>,"
			       "\r\n ",
			       i, i);
	ut_buf_append_str(&b, "last@example.net\r\n");
	ut_buf_append_str(&b, "Cc: ");
	for (int i = 0; i < 150; i++)
		ut_buf_appendf(&b, "c%d@example.net, ", i);
	ut_buf_append_str(&b, "c0@example.net\r\n");
	T_CHECK(b.len > 2 * 65536);
	parse(ut_buf_str(&b));
	T_CHECK_INT(h.to_count, MS_IMAP_RCPTS_MAX);
	if (h.to_count == MS_IMAP_RCPTS_MAX) {
		T_CHECK_STR(h.to[0], "user0@example.net");
		T_CHECK_STR(h.to[99], "user99@example.net");
	}
	T_CHECK_INT(h.cc_count, MS_IMAP_RCPTS_MAX);
	if (h.cc_count == MS_IMAP_RCPTS_MAX)
		T_CHECK_STR(h.cc[99], "c99@example.net");

	/* Duplicates take no room: 150 copies, then 2 more. */
	ut_buf_reset(&b);
	ut_buf_append_str(&b, "To: ");
	for (int i = 0; i < 150; i++)
		ut_buf_append_str(&b, "same@example.net, ");
	ut_buf_append_str(&b, "other@example.net, SAME@example.NET\r\n");
	parse(ut_buf_str(&b));
	T_CHECK_INT(h.to_count, 3);

	/* Only the first 4 * MS_IMAP_RCPTS_MAX mailboxes are looked at. */
	ut_buf_reset(&b);
	ut_buf_append_str(&b, "To: ");
	for (int i = 0; i < 4 * MS_IMAP_RCPTS_MAX; i++)
		ut_buf_append_str(&b, "bad address@x.org, ");
	ut_buf_append_str(&b, "late@x.org\r\n");
	parse(ut_buf_str(&b));
	T_CHECK_INT(h.to_count, 0);
	ut_buf_free(&b);
}

static void test_automatic(void)
{
	static const struct {
		const char *raw;
		bool automatic;
	} cases[] = {
	    {"Auto-Submitted: auto-replied\r\n", true},
	    {"Auto-Submitted: no\r\n", false},
	    {"Auto-Submitted: No (a person)\r\n", false},
	    {"Auto-Submitted:\r\n", true},
	    {"Auto-Submitted: no\r\nAuto-Submitted: auto-generated\r\n", true},
	    {"Content-Type: multipart/report; report-type=delivery-status\r\n",
	     true},
	    {"Content-Type: Multipart/Report\r\n", true},
	    {"Content-Type: multipart/reported\r\n", false},
	    {"Content-Type: multipart/mixed\r\n", false},
	    {"Return-Path: <>\r\n", true},
	    {"Return-Path: < >\r\n", true},
	    {"Return-Path: <MAILER-DAEMON@mx.example.net>\r\n", true},
	    {"Return-Path: <notmailer-daemon@x>\r\n", false},
	    {"From: Mail Delivery System <MAILER-DAEMON@x.org>\r\n", true},
	    {"From: MAILER-DAEMON (Mail Delivery System)\r\n", true},
	    {"From: <>\r\n", true},
	    {"From: carol@example.net\r\n", false},
	};

	for (size_t i = 0; i < UT_N_ELEMENTS(cases); i++) {
		parse(cases[i].raw);
		T_CHECK(h.automatic == cases[i].automatic);
		if (h.automatic != cases[i].automatic)
			fprintf(stderr, "case: %s", cases[i].raw);
	}
}

static void check_mutf7(const char *in, const char *want)
{
	char *out = ms_imap__mutf7_decode(in, strlen(in));

	if (want == NULL) {
		T_CHECK(out == NULL);
		if (out != NULL)
			fprintf(stderr, "%s decoded to %s\n", in, out);
	} else {
		T_CHECK_STR(out, want);
	}
	free(out);
}

static void test_mutf7(void)
{
	check_mutf7("Sent", "Sent");
	check_mutf7("Sent Messages", "Sent Messages");
	check_mutf7("&-", "&");
	check_mutf7("Tom &- Jerry", "Tom & Jerry");
	check_mutf7("Gesendete Objekte", "Gesendete Objekte");
	check_mutf7("Envoy&AOk-s", "Envoyés");
	check_mutf7("&ZeVnLIqe-", "日本語");
	check_mutf7("&2D3eAA-", "😀"); /* a surrogate pair */
	check_mutf7("", "");
	/* Broken: unterminated, bad base64, stray bits, lone surrogates,
	   controls, raw 8-bit. */
	check_mutf7("&AOk", NULL);
	check_mutf7("&A/k-", NULL);
	check_mutf7("&AOl-", NULL);
	check_mutf7("&2D0-", NULL);
	check_mutf7("&3gA-", NULL);
	check_mutf7("&AAo-", NULL);
	check_mutf7("a\nb", NULL);
	check_mutf7("Envoy\xc3\xa9s", NULL);
}

int main(void)
{
	T_RUN(test_plain);
	T_RUN(test_absent);
	T_RUN(test_folded_encoded);
	T_RUN(test_hostile_values);
	T_RUN(test_references_trimmed);
	T_RUN(test_reply_to_bounded);
	T_RUN(test_rcpts);
	T_RUN(test_automatic);
	T_RUN(test_mutf7);
	ms_imap_headers_clear(&h);
	return T_DONE();
}
