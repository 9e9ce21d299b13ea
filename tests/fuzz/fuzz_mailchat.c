/*
 * Fuzz target for what a chat message gives a mail (issue 7): the input is
 * one stanza's XML, parsed by xm_parser after a fixed stream header; for
 * each stanza: br_mailchat_text (the XEP-0428 fallback cut, the XEP-0066
 * URL), br_notify_mail_id_parse on the id of any <reply/> and on the
 * stanza's own id, and br_jidmap_jid_address on its 'to'. Checks: the
 * text is a string no longer than the body or URL it came from, never
 * only white space; a parsed id names a mailbox without NUL, with
 * UIDVALIDITY and UID not 0, and building an id from what was parsed
 * parses back to the same; an address taken from a JID validates. Must
 * never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "br_jidmap.h"
#include "br_mailchat.h"
#include "br_notify.h"
#include "ms_addr.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static const char conf[] =
    "[xmpp]\ncomponent = mail.example.org\n"
    "host = 127.0.0.1\nsecret = s\n"
    "domain = example.org\n"
    "[mail]\ndomain = example.org\nimap_host = 127.0.0.1\n"
    "master_user = m\nmaster_password = p\n"
    "smtp_host = 127.0.0.1\n"
    "[events]\nsocket = /run/t/e.sock\n"
    "[state]\ndir = /var/lib/t\n";

static xmpp_ctx_t *sctx;
static struct br_config *cfg;

static void check_id(const char *id)
{
	char *mailbox = NULL;
	uint32_t uv, uid;
	if (id == NULL || br_notify_mail_id_parse(id, &mailbox, &uv, &uid) < 0)
		return;
	if (mailbox[0] == '\0' || uv == 0 || uid == 0)
		abort();
	struct br_mail m = {.mailbox = mailbox, .uidvalidity = uv, .uid = uid};
	char *again = br_notify_mail_id(&m), *mb2 = NULL;
	uint32_t uv2, uid2;
	if (br_notify_mail_id_parse(again, &mb2, &uv2, &uid2) < 0 ||
	    strcmp(mb2, mailbox) != 0 || uv2 != uv || uid2 != uid)
		abort();
	free(again);
	free(mb2);
	free(mailbox);
}

static void stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	(void)ctx;
	char *body = xm_elem_child_text(st, "body", NULL);
	char *text = br_mailchat_text(st);
	if (text != NULL) {
		if (strspn(text, " \t\r\n") == strlen(text))
			abort();
		if (body != NULL && strlen(text) > strlen(body))
			abort();
	}
	free(text);
	free(body);
	xmpp_stanza_t *reply = xmpp_stanza_get_child_by_name(st, "reply");
	if (reply != NULL)
		check_id(xmpp_stanza_get_attribute(reply, "id"));
	check_id(xmpp_stanza_get_id(st));
	const char *to = xmpp_stanza_get_to(st);
	const char *why;
	char *addr = to != NULL ? br_jidmap_jid_address(cfg, to, &why) : NULL;
	if (addr != NULL) {
		if (ms_addr_validate(addr, strlen(addr), 0, &why) < 0)
			abort();
		char *jid = br_jidmap_address_jid(cfg, addr);
		char *back = br_jidmap_jid_address(cfg, jid, &why);
		if (back == NULL || strcmp(back, addr) != 0)
			abort();
		free(back);
		free(jid);
	}
	free(addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *error = NULL;
	const char *err;

	if (sctx == NULL) {
		sctx = xmpp_ctx_new(NULL, NULL);
		if (br_config_parse("fuzz.conf", conf, strlen(conf), &cfg,
				    &error) < 0)
			abort();
	}
	struct xm_parser_callbacks cb = {.stanza = stanza_cb};
	struct xm_parser *p = xm_parser_new(sctx, 64 * 1024, 32, &cb, NULL);
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) == 0)
		xm_parser_feed(p, (const char *)data, size, &err);
	xm_parser_free(&p);
	return 0;
}
