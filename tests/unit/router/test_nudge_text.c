/*
 * The texts of issue 8 (br_nudge_text): the offer after a sent mail, the
 * nudge, the report after nudging and the read receipt, exactly; their
 * machine elements; and hostile input (newlines, bidi controls, invalid
 * UTF-8, XML specials, 10k-character subjects, many recipients).
 */
#include <stdlib.h>
#include <string.h>

#include "br_notify.h"
#include "br_nudge_text.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

/* 2026-11-28T10:32:00Z, 2026-11-27T23:05:00Z, 2026-11-28T18:00:00Z */
#define T_1032	1795861920
#define T_YEST	1795820700
#define T_EVENT 1795888800

static xmpp_ctx_t *sctx;

static const struct br_nudge_mail q3 = {
    .sender = "alice@example.org",
    .subject = "Q3 figures",
    .message_id = "<q3@example.org>",
    .sent = T_1032,
};

static char *body(xmpp_stanza_t *msg)
{
	return xm_elem_child_text(msg, "body", NULL);
}

static xmpp_stanza_t *payload(xmpp_stanza_t *msg, const char *name)
{
	return xmpp_stanza_get_child_by_name_and_ns(msg, name, BR_NS_MAIL);
}

/* The text of child `name` of e ("(none)" when absent), malloc'ed. */
static char *child(xmpp_stanza_t *e, const char *name)
{
	char *t = e != NULL ? xm_elem_child_text(e, name, NULL) : NULL;
	return t != NULL ? t : xstrdup("(none)");
}

static void check_child(xmpp_stanza_t *e, const char *name, const char *want)
{
	char *t = child(e, name);
	T_CHECK_STR(t, want);
	free(t);
}

static const char *attr(xmpp_stanza_t *e, const char *name)
{
	return e != NULL ? xmpp_stanza_get_attribute(e, name) : NULL;
}

/* The i-th child element named name. */
static xmpp_stanza_t *nth(xmpp_stanza_t *e, const char *name, size_t i)
{
	for (xmpp_stanza_t *c = e != NULL ? xmpp_stanza_get_children(e) : NULL;
	     c != NULL; c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		if (n != NULL && strcmp(n, name) == 0 && i-- == 0)
			return c;
	}
	return NULL;
}

static size_t count_children(xmpp_stanza_t *e, const char *name)
{
	size_t k = 0;
	while (nth(e, name, k) != NULL)
		k++;
	return k;
}

static void check_body(xmpp_stanza_t *msg, const char *want)
{
	char *b = body(msg);
	T_CHECK_STR(b, want);
	free(b);
	T_CHECK_STR(xmpp_stanza_get_type(msg), "chat");
	T_CHECK(xmpp_stanza_get_id(msg) != NULL);
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **out = ctx;
	*out = xmpp_stanza_copy(st);
}

/* Serialises msg and parses it back (what a client would receive). */
static xmpp_stanza_t *round_trip(xmpp_stanza_t *msg)
{
	size_t len;
	char *xml = xm_stanza_to_text(msg, &len);
	xmpp_stanza_t *st = NULL;
	const char *err;
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	struct xm_parser *p = xm_parser_new(sctx, 1 << 20, 32, &cb, &st);
	T_CHECK_INT(xm_parser_feed(p, HEADER, strlen(HEADER), &err), 0);
	T_CHECK_INT(xm_parser_feed(p, xml, len, &err), 0);
	xm_parser_free(&p);
	free(xml);
	T_CHECK(st != NULL);
	return st;
}

static void test_offer(void)
{
	struct br_nudge_rcpt r[] = {
	    {"bob@example.org", "bob@example.org", BR_PRESENCE_ONLINE, 0},
	    {"carol@example.org", "carol@example.org", BR_PRESENCE_OFFLINE, 0},
	};
	xmpp_stanza_t *m = br_nudge_text_offer(sctx, "mail.example.org",
					       "alice@example.org", &q3, r, 2);
	check_body(m, "Sent 'Q3 figures' to bob (online), carol (offline). "
		      "Reply 'nudge' to remind them, or 'nudge bob'.");
	T_CHECK_STR(xmpp_stanza_get_from(m), "mail.example.org");
	T_CHECK_STR(xmpp_stanza_get_to(m), "alice@example.org");
	xmpp_stanza_t *e = payload(m, "sent-mail");
	T_CHECK(e != NULL);
	check_child(e, "message-id", "<q3@example.org>");
	check_child(e, "subject", "Q3 figures");
	T_CHECK_STR(attr(e, "count"), "2");
	T_CHECK_INT(count_children(e, "rcpt"), 2);
	T_CHECK_STR(attr(nth(e, "rcpt", 0), "jid"), "bob@example.org");
	T_CHECK_STR(attr(nth(e, "rcpt", 0), "presence"), "online");
	T_CHECK_STR(attr(nth(e, "rcpt", 1), "presence"), "offline");
	T_CHECK_STR(xmpp_stanza_get_text_ptr(
			xmpp_stanza_get_children(nth(e, "rcpt", 1))),
		    "carol@example.org");
	xmpp_stanza_release(m);

	/* Presence unknown: no word; not local: the address, no jid, no
	   presence; busy and away. */
	struct br_nudge_rcpt r2[] = {
	    {"dave@example.org", "dave@example.org", BR_PRESENCE_UNKNOWN, 0},
	    {"erin@example.net", NULL, BR_PRESENCE_ONLINE, 0},
	    {"fay@example.org", "fay@example.org", BR_PRESENCE_DND, 0},
	    {"gus@example.org", "gus@example.org", BR_PRESENCE_AWAY, 0},
	};
	m = br_nudge_text_offer(sctx, "mail.example.org", "alice@example.org",
				&q3, r2, 4);
	check_body(m, "Sent 'Q3 figures' to dave, erin@example.net, fay "
		      "(busy), gus (away). Reply 'nudge' to remind them, or "
		      "'nudge dave'.");
	xmpp_stanza_release(m);
	/* The example is a local recipient when there is one. */
	m = br_nudge_text_offer(sctx, "mail.example.org", "alice@example.org",
				&q3, r2 + 1, 2);
	check_body(m, "Sent 'Q3 figures' to erin@example.net, fay (busy). "
		      "Reply 'nudge' to remind them, or 'nudge fay'.");
	xmpp_stanza_release(m);
	m = br_nudge_text_offer(sctx, "mail.example.org", "alice@example.org",
				&q3, r2, 4);
	e = payload(m, "sent-mail");
	T_CHECK(attr(nth(e, "rcpt", 0), "presence") == NULL);
	T_CHECK(attr(nth(e, "rcpt", 1), "jid") == NULL);
	T_CHECK(attr(nth(e, "rcpt", 1), "presence") == NULL);
	xmpp_stanza_release(m);

	/* One recipient; no subject. */
	struct br_nudge_mail nosubj = q3;
	nosubj.subject = NULL;
	m = br_nudge_text_offer(sctx, "mail.example.org", "alice@example.org",
				&nosubj, r, 1);
	check_body(m, "Sent the mail without a subject to bob (online). "
		      "Reply 'nudge' to remind bob.");
	check_child(payload(m, "sent-mail"), "subject", "");
	xmpp_stanza_release(m);

	/* Nobody. */
	m = br_nudge_text_offer(sctx, "mail.example.org", "alice@example.org",
				&q3, NULL, 0);
	check_body(m, "Sent 'Q3 figures'.");
	xmpp_stanza_release(m);
}

/* Two local users with the same localpart (two served domains) are named
   by their address. */
static void test_shared_localpart(void)
{
	struct br_nudge_rcpt r[] = {
	    {"bob@example.org", "bob@example.org", BR_PRESENCE_ONLINE, 0},
	    {"Bob@example.com", "bob@example.com", BR_PRESENCE_ONLINE, 0},
	    {"carol@example.org", "carol@example.org", BR_PRESENCE_ONLINE, 0},
	    {"carol@example.net", NULL, BR_PRESENCE_UNKNOWN, 0},
	};
	xmpp_stanza_t *m = br_nudge_text_offer(sctx, "mail.example.org",
					       "alice@example.org", &q3, r, 4);
	check_body(m, "Sent 'Q3 figures' to bob@example.org (online), "
		      "Bob@example.com (online), carol (online), "
		      "carol@example.net. Reply 'nudge' to remind them, or "
		      "'nudge bob@example.org'.");
	xmpp_stanza_release(m);
}

static void test_many_rcpts(void)
{
	enum { N = 150 };
	struct br_nudge_rcpt r[N];
	char *addr[N];
	for (size_t i = 0; i < N; i++) {
		addr[i] = xasprintf("u%zu@example.org", i);
		r[i] = (struct br_nudge_rcpt){addr[i], addr[i],
					      BR_PRESENCE_OFFLINE, 0};
	}
	xmpp_stanza_t *m = br_nudge_text_offer(sctx, "mail.example.org",
					       "alice@example.org", &q3, r, 15);
	check_body(m, "Sent 'Q3 figures' to u0 (offline), u1 (offline), u2 "
		      "(offline), u3 (offline), u4 (offline), u5 (offline), "
		      "u6 (offline), u7 (offline), u8 (offline), u9 "
		      "(offline) and 5 more. Reply 'nudge' to remind them, or "
		      "'nudge u0'.");
	T_CHECK_INT(count_children(payload(m, "sent-mail"), "rcpt"), 15);
	xmpp_stanza_release(m);

	m = br_nudge_text_offer(sctx, "mail.example.org", "alice@example.org",
				&q3, r, N);
	T_CHECK_STR(attr(payload(m, "sent-mail"), "count"), "150");
	T_CHECK_INT(count_children(payload(m, "sent-mail"), "rcpt"),
		    BR_NUDGE_TEXT_LISTED);
	char *b = body(m);
	T_CHECK(b != NULL && strstr(b, " and 140 more.") != NULL);
	free(b);
	xmpp_stanza_release(m);

	/* The report lists them with "and" too, and the same cap. */
	for (size_t i = 0; i < N; i++)
		r[i].outcome = BR_NUDGE_SENT;
	m = br_nudge_text_report(sctx, "mail.example.org", "alice@example.org",
				 &q3, r, 12, 5);
	check_body(m, "Nudged u0, u1, u2, u3, u4, u5, u6, u7, u8, u9 and 2 "
		      "more about 'Q3 figures'.");
	xmpp_stanza_release(m);
	m = br_nudge_text_report(sctx, "mail.example.org", "alice@example.org",
				 &q3, r, N, 5);
	T_CHECK_INT(count_children(payload(m, "nudged"), "rcpt"),
		    BR_NUDGE_TEXT_LISTED);
	xmpp_stanza_release(m);
	for (size_t i = 0; i < N; i++)
		free(addr[i]);
}

static void test_nudge(void)
{
	xmpp_stanza_t *m = br_nudge_text_nudge(
	    sctx, "alice@example.org", "bob@example.org", &q3, false, T_EVENT);
	check_body(m, "alice@example.org asks you to check your mail: 'Q3 "
		      "figures', sent at 10:32 (UTC).");
	T_CHECK_STR(xmpp_stanza_get_from(m), "alice@example.org");
	T_CHECK_STR(xmpp_stanza_get_to(m), "bob@example.org");
	xmpp_stanza_t *e = payload(m, "nudge");
	T_CHECK(e != NULL);
	T_CHECK_STR(attr(e, "sent"), "2026-11-28T10:32:00Z");
	check_child(e, "message-id", "<q3@example.org>");
	check_child(e, "subject", "Q3 figures");
	check_child(e, "sender", "alice@example.org");
	xmpp_stanza_release(m);

	m = br_nudge_text_nudge(sctx, "mail.example.org", "bob@example.org",
				&q3, true, T_EVENT);
	check_body(m, "On behalf of alice@example.org: please check your "
		      "mail: 'Q3 figures', sent at 10:32 (UTC).");
	T_CHECK_STR(xmpp_stanza_get_from(m), "mail.example.org");
	xmpp_stanza_release(m);

	/* Sent on another day: the date too. */
	struct br_nudge_mail y = q3;
	y.sent = T_YEST;
	m = br_nudge_text_nudge(sctx, "alice@example.org", "bob@example.org",
				&y, false, T_EVENT);
	check_body(m, "alice@example.org asks you to check your mail: 'Q3 "
		      "figures', sent on 2026-11-27 at 23:05 (UTC).");
	T_CHECK_STR(attr(payload(m, "nudge"), "sent"), "2026-11-27T23:05:00Z");
	xmpp_stanza_release(m);

	/* Unknown time, no message-id, no subject. */
	struct br_nudge_mail u = {.sender = "alice@example.org"};
	m = br_nudge_text_nudge(sctx, "alice@example.org", "bob@example.org",
				&u, false, T_EVENT);
	check_body(m, "alice@example.org asks you to check your mail: the "
		      "mail without a subject.");
	T_CHECK(attr(payload(m, "nudge"), "sent") == NULL);
	check_child(payload(m, "nudge"), "message-id", "");
	xmpp_stanza_release(m);
}

static xmpp_stanza_t *report(const struct br_nudge_rcpt *r, size_t n)
{
	return br_nudge_text_report(sctx, "mail.example.org",
				    "alice@example.org", &q3, r, n, 5);
}

static void test_report(void)
{
	struct br_nudge_rcpt r[] = {
	    {"bob@example.org", "bob@example.org", 0, BR_NUDGE_SENT},
	    {"carol@example.org", "carol@example.org", 0, BR_NUDGE_SENT},
	};
	xmpp_stanza_t *m = report(r, 2);
	check_body(m, "Nudged bob and carol about 'Q3 figures'.");
	xmpp_stanza_t *e = payload(m, "nudged");
	check_child(e, "message-id", "<q3@example.org>");
	check_child(e, "subject", "Q3 figures");
	T_CHECK_STR(attr(nth(e, "rcpt", 1), "outcome"), "sent");
	T_CHECK_STR(attr(nth(e, "rcpt", 1), "jid"), "carol@example.org");
	xmpp_stanza_release(m);

	struct br_nudge_rcpt read[] = {
	    {"bob@example.org", "bob@example.org", 0, BR_NUDGE_ALREADY_READ},
	};
	m = report(read, 1);
	check_body(m, "bob has already read 'Q3 figures'.");
	xmpp_stanza_release(m);

	struct br_nudge_rcpt limit[] = {
	    {"carol@example.org", "carol@example.org", 0, BR_NUDGE_LIMIT},
	};
	m = report(limit, 1);
	check_body(m, "Not nudged about 'Q3 figures': carol (the limit of 5 "
		      "an hour for carol).");
	xmpp_stanza_release(m);

	struct br_nudge_rcpt all[] = {
	    {"bob@example.org", "bob@example.org", 0, BR_NUDGE_SENT},
	    {"dave@example.org", "dave@example.org", 0, BR_NUDGE_ALREADY_READ},
	    {"erin@example.org", "erin@example.org", 0, BR_NUDGE_ALREADY_READ},
	    {"frank@example.org", "frank@example.org", 0,
	     BR_NUDGE_ALREADY_SENT},
	    {"carol@example.org", "carol@example.org", 0, BR_NUDGE_LIMIT},
	    {"hal@example.org", "hal@example.org", 0, BR_NUDGE_LIMIT},
	    {"gina@example.net", NULL, 0, BR_NUDGE_REMOTE},
	    {"zed", NULL, 0, BR_NUDGE_UNKNOWN},
	};
	m = report(all, 8);
	check_body(m, "Nudged bob about 'Q3 figures'. dave and erin have "
		      "already read it. frank was already nudged about it. "
		      "Not nudged: carol and hal (the limit of 5 an hour for "
		      "each); gina@example.net (only people here can be "
		      "nudged). zed is not a recipient of 'Q3 figures'.");
	e = payload(m, "nudged");
	T_CHECK_INT(count_children(e, "rcpt"), 8);
	const char *want[] = {"sent",  "read",	"read",	  "already",
			      "limit", "limit", "remote", "unknown"};
	for (size_t i = 0; i < 8; i++)
		T_CHECK_STR(attr(nth(e, "rcpt", i), "outcome"), want[i]);
	T_CHECK(attr(nth(e, "rcpt", 6), "jid") == NULL);
	xmpp_stanza_release(m);

	struct br_nudge_rcpt unknown[] = {
	    {"zed", NULL, 0, BR_NUDGE_UNKNOWN},
	    {"yan", "yan@example.org", 0, BR_NUDGE_UNKNOWN},
	};
	m = report(unknown, 2);
	check_body(m, "zed and yan are not recipients of 'Q3 figures'.");
	T_CHECK(attr(nth(payload(m, "nudged"), "rcpt", 1), "jid") == NULL);
	xmpp_stanza_release(m);

	struct br_nudge_rcpt two_already[] = {
	    {"bob@example.org", "bob@example.org", 0, BR_NUDGE_ALREADY_SENT},
	    {"x@example.net", NULL, 0, BR_NUDGE_ALREADY_SENT},
	};
	m = report(two_already, 2);
	check_body(m, "bob and x@example.net were already nudged about 'Q3 "
		      "figures'.");
	xmpp_stanza_release(m);

	m = report(NULL, 0);
	check_body(m, "Nobody to nudge about 'Q3 figures'.");
	xmpp_stanza_release(m);
}

static void test_read(void)
{
	struct br_nudge_rcpt bob = {"bob@example.org", "bob@example.org",
				    BR_PRESENCE_ONLINE, 0};
	xmpp_stanza_t *m =
	    br_nudge_text_read(sctx, "mail.example.org", "alice@example.org",
			       &q3, &bob, T_1032, T_EVENT);
	check_body(m, "bob read 'Q3 figures' at 10:32 (UTC).");
	xmpp_stanza_t *e = payload(m, "read");
	T_CHECK(e != NULL);
	T_CHECK_STR(attr(e, "at"), "2026-11-28T10:32:00Z");
	check_child(e, "message-id", "<q3@example.org>");
	check_child(e, "subject", "Q3 figures");
	check_child(e, "reader", "bob@example.org");
	xmpp_stanza_release(m);

	m = br_nudge_text_read(sctx, "mail.example.org", "alice@example.org",
			       &q3, &bob, T_YEST, T_EVENT);
	check_body(m, "bob read 'Q3 figures' on 2026-11-27 at 23:05 (UTC).");
	xmpp_stanza_release(m);

	m = br_nudge_text_read(sctx, "mail.example.org", "alice@example.org",
			       &q3, &bob, 0, T_EVENT);
	check_body(m, "bob read 'Q3 figures'.");
	T_CHECK(attr(payload(m, "read"), "at") == NULL);
	xmpp_stanza_release(m);
}

/* No newline, no bidi or invisible control, no C0/C1 control, valid
   UTF-8, at most max bytes. */
static void check_tame(const char *s, size_t max)
{
	T_CHECK(s != NULL);
	if (s == NULL)
		return;
	T_CHECK(strlen(s) <= max);
	T_CHECK(ut_utf8_valid(s, strlen(s)));
	T_CHECK(strchr(s, '\n') == NULL && strchr(s, '\r') == NULL);
	T_CHECK(strstr(s, "\xE2\x80\xAE") == NULL); /* U+202E */
	T_CHECK(strstr(s, "\xE2\x80\x8B") == NULL); /* U+200B */
	T_CHECK(strstr(s, "\xE2\x80\xA8") == NULL); /* U+2028 */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		T_CHECK(*p >= 0x20 && *p != 0x7F);
	T_CHECK(strstr(s, "\xC2\x85") == NULL); /* U+0085 */
}

static void check_hostile(xmpp_stanza_t *m, const char *elem, size_t max)
{
	xmpp_stanza_t *back = round_trip(m);
	char *b = back != NULL ? body(back) : NULL;
	check_tame(b, max);
	xmpp_stanza_t *e = back != NULL ? payload(back, elem) : NULL;
	T_CHECK(e != NULL);
	char *s = child(e, "subject");
	check_tame(s, 300);
	free(s);
	s = child(e, "message-id");
	check_tame(s, 500);
	free(s);
	free(b);
	if (back != NULL)
		xmpp_stanza_release(back);
	xmpp_stanza_release(m);
}

static void test_hostile(void)
{
	struct ut_buf big = UT_BUF_INIT;
	ut_buf_append_str(&big, "Q3\r\nBcc: eve@x\xE2\x80\xAE\x01gnp.exe "
				"<b>&amp;</b> '\"]]>\xC2\x85\xFF\xE2\x80\x8B");
	for (int i = 0; i < 10000; i++)
		ut_buf_append_c(&big,
				"ab\n\xE2\x80\xA8"[i % 6 == 5 ? 2 : i % 2]);
	const char *subj = ut_buf_str(&big);
	struct br_nudge_mail h = {
	    .sender = "al\nice\xE2\x80\xAE@exa<m>ple.org&",
	    .subject = subj,
	    .message_id = "<a\r\nX-Evil: 1@x>\xE2\x80\xAE",
	    .sent = T_1032,
	};
	struct br_nudge_rcpt r[] = {
	    {"b\no\xE2\x80\xAE"
	     "b@example.org",
	     "bob@example.org", BR_PRESENCE_ONLINE, BR_NUDGE_SENT},
	    {"<script>&'\"@example.net\r\n", NULL, 0, BR_NUDGE_LIMIT},
	    {subj, NULL, 0, BR_NUDGE_UNKNOWN},
	    {NULL, NULL, 0, BR_NUDGE_REMOTE},
	};

	check_hostile(br_nudge_text_offer(sctx, "mail.example.org",
					  "alice@example.org", &h, r, 4),
		      "sent-mail", 4000);
	check_hostile(br_nudge_text_nudge(sctx, "alice@example.org",
					  "bob@example.org", &h, true, T_EVENT),
		      "nudge", 1200);
	check_hostile(br_nudge_text_report(sctx, "mail.example.org",
					   "alice@example.org", &h, r, 4, 5),
		      "nudged", 4000);
	check_hostile(br_nudge_text_read(sctx, "mail.example.org",
					 "alice@example.org", &h, &r[0], T_1032,
					 T_EVENT),
		      "read", 1200);

	/* The bidi override and the newline are gone from the name, and
	   the XML specials came back as text. */
	xmpp_stanza_t *m =
	    br_nudge_text_read(sctx, "mail.example.org", "alice@example.org",
			       &h, &r[0], T_1032, T_EVENT);
	char *b = body(m);
	T_CHECK(b != NULL && strncmp(b, "b ob read 'Q3 Bcc: eve@x", 24) == 0);
	free(b);
	xmpp_stanza_release(m);
	m = br_nudge_text_nudge(sctx, "alice@example.org", "bob@example.org",
				&h, false, T_EVENT);
	b = body(m);
	T_CHECK(b != NULL &&
		strncmp(b, "al ice@exa<m>ple.org& asks you", 30) == 0);
	free(b);
	xmpp_stanza_t *back = round_trip(m);
	char *s = child(payload(back, "nudge"), "sender");
	T_CHECK_STR(s, "al ice@exa<m>ple.org&");
	free(s);
	xmpp_stanza_release(back);
	xmpp_stanza_release(m);
	m = br_nudge_text_report(sctx, "mail.example.org", "alice@example.org",
				 &q3, r, 4, 5);
	b = body(m);
	T_CHECK(b != NULL &&
		strstr(b, "Not nudged: <script>&'\"@example.net "
			  "(the limit of 5 an hour for "
			  "<script>&'\"@example.net); someone "
			  "(only people here can be nudged).") != NULL);
	free(b);
	xmpp_stanza_release(m);
	ut_buf_free(&big);
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_offer);
	T_RUN(test_shared_localpart);
	T_RUN(test_many_rcpts);
	T_RUN(test_nudge);
	T_RUN(test_report);
	T_RUN(test_read);
	T_RUN(test_hostile);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
