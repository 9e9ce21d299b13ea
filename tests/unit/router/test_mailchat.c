/*
 * Mail from chat (issue 7), the pure parts: notification ids that name
 * their mail, addresses as JIDs at the component and back, the text a
 * message gives a mail (XEP-0461 fallback cut, XEP-0066 URL, chat states),
 * the "where to answer" in notifications, own-mail detection, and the
 * texts users read about what they sent.
 */
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "br_jidmap.h"
#include "br_mailchat.h"
#include "br_notify.h"
#include "br_sender.h"
#include "br_sender_text.h"
#include "test.h"
#include "ut_xalloc.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static xmpp_ctx_t *sctx;

static struct br_config *config(const char *extra)
{
	char *text = xasprintf(
	    "[xmpp]\ncomponent = mail.example.org\nhost = 127.0.0.1\n"
	    "secret = s\ndomain = example.org\n"
	    "[mail]\ndomain = example.org\n"
	    "imap_host = 127.0.0.1\nmaster_user = t\nmaster_password = p\n%s"
	    "[events]\nsocket = /tmp/t.sock\n[state]\ndir = /tmp/t\n",
	    extra);
	struct br_config *cfg = NULL;
	char *error = NULL;
	if (br_config_parse("t.conf", text, strlen(text), &cfg, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	free(text);
	return cfg;
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **out = ctx;
	*out = xmpp_stanza_copy(st);
}

/* One stanza from its XML. */
static xmpp_stanza_t *stanza(const char *xml)
{
	xmpp_stanza_t *st = NULL;
	const char *err;
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	struct xm_parser *p = xm_parser_new(sctx, 65536, 32, &cb, &st);
	T_CHECK_INT(xm_parser_feed(p, HEADER, strlen(HEADER), &err), 0);
	T_CHECK_INT(xm_parser_feed(p, xml, strlen(xml), &err), 0);
	xm_parser_free(&p);
	T_CHECK(st != NULL);
	return st;
}

static char *text_of_xml(const char *xml)
{
	xmpp_stanza_t *st = stanza(xml);
	char *t = st != NULL ? br_mailchat_text(st) : NULL;
	if (st != NULL)
		xmpp_stanza_release(st);
	return t;
}

static void test_mail_id(void)
{
	struct br_mail m = {.mailbox = "INBOX", .uidvalidity = 7, .uid = 42};
	char *id = br_notify_mail_id(&m), *mailbox = NULL;
	uint32_t uv = 0, uid = 0;

	T_CHECK(strncmp(id, "tm1-", 4) == 0);
	T_CHECK_INT(br_notify_mail_id_parse(id, &mailbox, &uv, &uid), 0);
	T_CHECK_STR(mailbox, "INBOX");
	T_CHECK_INT(uv, 7);
	T_CHECK_INT(uid, 42);
	free(mailbox);
	/* Two notifications of one mail have different ids. */
	char *id2 = br_notify_mail_id(&m);
	T_CHECK(strcmp(id, id2) != 0);
	free(id2);
	free(id);

	static const char *const bad[] = {
	    "",
	    "t123",
	    "tm1-",
	    "tm1-0123456789abcdef-7-42-",
	    "tm1-0123456789abcdef-0-42-494e424f58",
	    "tm1-0123456789abcdef-7-0-494e424f58",
	    "tm1-0123456789abcdef-4294967296-1-494e424f58",
	    "tm1-0123456789abcdeg-7-42-494e424f58",
	    "tm1-0123456789abcdef-7-42-494e424f5", /* odd hex */
	    "tm1-0123456789abcdef-7-42-00",	   /* NUL in the name */
	    "tm1-0123456789abcdef-7-42-494E",	   /* upper-case hex */
	    "tm1-0123456789abcdef--42-494e",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mailbox = NULL;
		T_CHECK_INT(
		    br_notify_mail_id_parse(bad[i], &mailbox, &uv, &uid), -1);
		T_CHECK(mailbox == NULL);
	}
	/* A name too long to carry: the id names no mail. */
	char longname[202];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	m.mailbox = longname;
	id = br_notify_mail_id(&m);
	mailbox = NULL;
	T_CHECK_INT(br_notify_mail_id_parse(id, &mailbox, &uv, &uid), -1);
	T_CHECK(mailbox == NULL);
	free(id);
	/* A mailbox name with any bytes but NUL survives. */
	m.mailbox = "Lists/caf\xC3\xA9 & <x>";
	id = br_notify_mail_id(&m);
	T_CHECK_INT(br_notify_mail_id_parse(id, &mailbox, &uv, &uid), 0);
	T_CHECK_STR(mailbox, m.mailbox);
	free(mailbox);
	free(id);
}

static void check_jid(const struct br_config *cfg, const char *addr,
		      const char *want)
{
	char *jid = br_jidmap_address_jid(cfg, addr);
	const char *why = NULL;
	T_CHECK_STR(jid, want);
	char *back = br_jidmap_jid_address(cfg, jid, &why);
	T_CHECK_STR(back, addr);
	free(back);
	free(jid);
}

static void test_address_jids(void)
{
	struct br_config *cfg = config("smtp_host = 127.0.0.1\n");
	const char *why;

	check_jid(cfg, "carol@example.net",
		  "carol\\40example.net@mail.example.org");
	check_jid(cfg, "o'brien@example.net",
		  "o\\27brien\\40example.net@mail.example.org");
	check_jid(cfg, "\"john doe\"@example.net",
		  "\\22john\\20doe\\22\\40example.net@mail.example.org");
	/* A full JID and any letter case of the component work too. */
	char *a = br_jidmap_jid_address(
	    cfg, "carol\\40example.net@MAIL.example.org/res", &why);
	T_CHECK_STR(a, "carol@example.net");
	free(a);
	static const char *const bad[] = {
	    "carol\\40example.net@example.org", /* not the component */
	    "carol\\40example.net@mail.example.org.evil",
	    "mail.example.org",
	    "@mail.example.org",
	    "carol@mail.example.org", /* no domain */
	    "carol\\40example.net\\0d\\0aBcc\\3a x\\40y.z@mail.example.org",
	    "a\\40b\\40c@mail.example.org",
	    "carol\\40@mail.example.org",
	    "carol\\40-bad-.net@mail.example.org",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		a = br_jidmap_jid_address(cfg, bad[i], &why);
		T_CHECK(a == NULL);
		T_CHECK(why != NULL);
		free(a);
	}
	char *addr = br_jidmap_key_address(cfg, "bob@example.org");
	T_CHECK_STR(addr, "bob@example.org");
	free(addr);
	br_config_free(&cfg);
}

static void test_text(void)
{
	char *t;

	t = text_of_xml("<message><body>Hello</body></message>");
	T_CHECK_STR(t, "Hello");
	free(t);
	/* Chat states, receipts, markers, white space: nothing. */
	T_CHECK(text_of_xml("<message><active xmlns='http://jabber.org/"
			    "protocol/chatstates'/></message>") == NULL);
	T_CHECK(text_of_xml("<message><received xmlns='urn:xmpp:receipts' "
			    "id='x'/></message>") == NULL);
	T_CHECK(text_of_xml("<message><body> \n\t </body></message>") == NULL);
	/* An XEP-0066 link alone: its URL. */
	t = text_of_xml("<message><x xmlns='jabber:x:oob'><url>https://"
			"example.org/a.png</url></x></message>");
	T_CHECK_STR(t, "https://example.org/a.png");
	free(t);
	/* The reply fallback goes, counted in code points (é is one). */
	t = text_of_xml(
	    "<message><body>&gt; caf\xC3\xA9 au lait\nYes!</body>"
	    "<reply xmlns='urn:xmpp:reply:0' id='x'/>"
	    "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>"
	    "<body start='0' end='15'/></fallback></message>");
	T_CHECK_STR(t, "Yes!");
	free(t);
	/* A fallback for something else, or out of range, is ignored or
	   clamped. */
	t = text_of_xml("<message><body>&gt; q\nA</body>"
			"<fallback xmlns='urn:xmpp:fallback:0' for='urn:x'>"
			"<body start='0' end='4'/></fallback></message>");
	T_CHECK_STR(t, "> q\nA");
	free(t);
	t = text_of_xml("<message><body>abc</body>"
			"<fallback xmlns='urn:xmpp:fallback:0' "
			"for='urn:xmpp:reply:0'><body start='1' end='99999'/>"
			"</fallback></message>");
	T_CHECK_STR(t, "a");
	free(t);
	T_CHECK(text_of_xml("<message><body>&gt; q</body>"
			    "<fallback xmlns='urn:xmpp:fallback:0' "
			    "for='urn:xmpp:reply:0'><body start='0' end='3'/>"
			    "</fallback></message>") == NULL);
	t = text_of_xml("<message><body>ab</body>"
			"<fallback xmlns='urn:xmpp:fallback:0' "
			"for='urn:xmpp:reply:0'><body start='-1' end='1'/>"
			"</fallback></message>");
	T_CHECK_STR(t, "ab");
	free(t);
}

static void test_where_to_answer(void)
{
	struct br_config *cfg = config("smtp_host = 127.0.0.1\n");
	struct br_mail m = {.mailbox = "INBOX",
			    .uidvalidity = 1,
			    .uid = 2,
			    .from_address = "carol@example.net",
			    .subject = "Hi"};
	m.sender_jid = br_jidmap_address_jid(cfg, m.from_address);
	xmpp_stanza_t *st =
	    br_notify_single(sctx, cfg, "alice@example.org", &m);
	char *xml = xm_stanza_to_text(st, NULL);
	T_CHECK(strstr(xml, "(xmpp:carol%5C40example.net@mail.example.org)") !=
		NULL);
	T_CHECK(strstr(xml, "jid=\"carol\\40example.net@mail.example.org\"") !=
		    NULL ||
		strstr(xml, "jid='carol\\40example.net@mail.example.org'") !=
		    NULL);
	/* Its id names the mail. */
	char *mailbox = NULL;
	uint32_t uv, uid;
	T_CHECK_INT(br_notify_mail_id_parse(xmpp_stanza_get_id(st), &mailbox,
					    &uv, &uid),
		    0);
	T_CHECK_STR(mailbox, "INBOX");
	T_CHECK_INT(uid, 2);
	free(mailbox);
	free(xml);
	xmpp_stanza_release(st);
	free(m.sender_jid);
	br_config_free(&cfg);
}

static void test_own(void)
{
	T_CHECK(br_sender_is_own("alice@example.org",
				 "<0123abcd.tidings@example.org>",
				 "Alice@Example.org"));
	T_CHECK(!br_sender_is_own("alice@example.org",
				  "<0123abcd.tidings@example.org>",
				  "mallory@example.org"));
	T_CHECK(!br_sender_is_own("alice@example.org",
				  "<0123abcd.tidings@example.net>",
				  "alice@example.org"));
	T_CHECK(!br_sender_is_own("alice@example.org", "<x@example.org>",
				  "alice@example.org"));
	T_CHECK(
	    !br_sender_is_own("alice@example.org", NULL, "alice@example.org"));
}

static void test_texts(void)
{
	char *rcpts[] = {"carol@example.net", "dave@example.net"};
	xmpp_stanza_t *st = br_sender_text_sent(
	    sctx, "carol\\40example.net@mail.example.org", "alice@example.org",
	    rcpts, 2, "Lunch\r\nBcc: x", "<a@b>");
	char *xml = xm_stanza_to_text(st, NULL);
	T_CHECK(strstr(xml, "Sent to carol@example.net, dave@example.net, "
			    "subject &quot;Lunch Bcc: x&quot;.") != NULL);
	T_CHECK(strstr(xml, "<sent xmlns=\"urn:x-tidings:mail:0\">") != NULL);
	T_CHECK(strstr(xml, "type=\"chat\"") != NULL);
	free(xml);
	xmpp_stanza_release(st);

	st = br_sender_text_not_sent(
	    sctx, "mail.example.org", "alice@example.org", rcpts, 1,
	    BR_NOT_SENT_DELAYED, "451 4.3.0 try later");
	xml = xm_stanza_to_text(st, NULL);
	T_CHECK(strstr(xml, "Not sent yet to carol@example.net: 451 4.3.0 try "
			    "later. I will keep trying.") != NULL);
	T_CHECK(strstr(xml, "reason=\"delayed\"") != NULL);
	free(xml);
	xmpp_stanza_release(st);

	st = br_sender_text_not_sent(
	    sctx, "mail.example.org", "alice@example.org", NULL, 0,
	    BR_NOT_SENT_LIMIT, "you have sent 3 mails");
	xml = xm_stanza_to_text(st, NULL);
	T_CHECK(strstr(xml, "Not sent: you have sent 3 mails.") != NULL);
	free(xml);
	xmpp_stanza_release(st);
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_mail_id);
	T_RUN(test_address_jids);
	T_RUN(test_text);
	T_RUN(test_where_to_answer);
	T_RUN(test_own);
	T_RUN(test_texts);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
