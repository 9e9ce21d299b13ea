/*
 * Chat that becomes mail (issue 7): a chat to an address at the
 * component, and a reply to a notification. See br_mailchat.h.
 */
#include <stdlib.h>
#include <string.h>

#include "br_jidmap.h"
#include "br_mailchat.h"
#include "br_notify.h"
#include "br_sender_text.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

#define NS_REPLY    "urn:xmpp:reply:0"
#define NS_FALLBACK "urn:xmpp:fallback:0"
#define NS_OOB	    "jabber:x:oob"

static void tell(const struct br_inbound_deps *d, xmpp_stanza_t *msg)
{
	d->send(d->send_ctx, msg);
	xmpp_stanza_release(msg);
}

static void tell_not_sent(const struct br_inbound_deps *d, const char *from,
			  const char *to, const char *reason, const char *why)
{
	tell(d,
	     br_sender_text_not_sent(d->sctx, from, to, NULL, 0, reason, why));
}

/* The child element of msg named name in namespace ns, or NULL. */
static xmpp_stanza_t *child_ns(xmpp_stanza_t *msg, const char *name,
			       const char *ns)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(msg); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		const char *x = xmpp_stanza_get_ns(c);
		if (xmpp_stanza_is_tag(c) && n != NULL && x != NULL &&
		    strcmp(n, name) == 0 && strcmp(x, ns) == 0)
			return c;
	}
	return NULL;
}

/* A decimal attribute of at most 9 digits; -1 when absent or not one. */
static long attr_index(xmpp_stanza_t *e, const char *name)
{
	const char *v = xmpp_stanza_get_attribute(e, name);
	long n = 0;
	if (v == NULL || *v == '\0' || strlen(v) > 9)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		n = n * 10 + (*v - '0');
	}
	return n;
}

/* Byte offset of code point index cp in s (len bytes), or len. */
static size_t cp_offset(const char *s, size_t len, long cp)
{
	size_t i = 0;
	for (long n = 0; i < len && n < cp; n++) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
	}
	return i;
}

/* body without the range its XEP-0428 fallback for XEP-0461 marks (code
   points [start, end)), as a new string. A range that makes no sense is
   ignored. */
static char *cut_fallback(xmpp_stanza_t *msg, const char *body)
{
	size_t len = strlen(body);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(msg); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		const char *n = xmpp_stanza_get_name(c);
		const char *x = xmpp_stanza_get_ns(c);
		const char *f = xmpp_stanza_get_attribute(c, "for");
		if (!xmpp_stanza_is_tag(c) || n == NULL || x == NULL ||
		    f == NULL || strcmp(n, "fallback") != 0 ||
		    strcmp(x, NS_FALLBACK) != 0 || strcmp(f, NS_REPLY) != 0)
			continue;
		xmpp_stanza_t *b = xmpp_stanza_get_child_by_name(c, "body");
		long start = b != NULL ? attr_index(b, "start") : -1;
		long end = b != NULL ? attr_index(b, "end") : -1;
		if (start < 0 || end <= start)
			break;
		size_t from = cp_offset(body, len, start);
		size_t to = cp_offset(body, len, end);
		struct ut_buf out = UT_BUF_INIT;
		ut_buf_append(&out, body, from);
		ut_buf_append(&out, body + to, len - to);
		return ut_buf_steal(&out);
	}
	return xstrdup(body);
}

/* Whether s holds something other than white space. */
static bool has_text(const char *s)
{
	for (; *s != '\0'; s++) {
		if (strchr(" \t\r\n", *s) == NULL)
			return true;
	}
	return false;
}

char *br_mailchat_text(xmpp_stanza_t *msg)
{
	char *body = xm_elem_child_text(msg, "body", NULL);
	char *text = NULL;

	if (body != NULL) {
		text = cut_fallback(msg, body);
		free(body);
	} else {
		xmpp_stanza_t *oob = child_ns(msg, "x", NS_OOB);
		if (oob != NULL)
			text = xm_elem_child_text(oob, "url", NULL);
	}
	if (text != NULL && !has_text(text))
		ut_free(&text);
	if (text != NULL) {
		/* Blank lines the fallback left at the start go. */
		size_t skip = strspn(text, "\r\n");
		if (skip > 0)
			memmove(text, text + skip, strlen(text + skip) + 1);
	}
	return text;
}

static void submit(const struct br_inbound_deps *d,
		   const struct br_send_request *r)
{
	const char *reason = NULL;
	char *refusal = NULL;

	if (br_sender_submit(d->sender, r, &reason, &refusal) < 0) {
		tell_not_sent(d, r->tell_from, r->jid, reason, refusal);
		free(refusal);
	}
}

void br_mailchat_to_address(const struct br_inbound_deps *d, const char *key,
			    const char *bare, xmpp_stanza_t *msg)
{
	const char *to = xmpp_stanza_get_to(msg);
	const char *why = NULL;
	char *conv = xm_jid_bare(to);
	char *addr =
	    conv != NULL ? br_jidmap_jid_address(d->cfg, conv, &why) : NULL;
	char *text = br_mailchat_text(msg);

	if (text == NULL) {
		/* Chat states, receipts, markers: nothing to mail. */
	} else if (addr == NULL) {
		char *t = xasprintf("this contact is not a mail address (%s)",
				    why != NULL ? why : "no address");
		tell_not_sent(d, conv != NULL ? conv : d->cfg->component, bare,
			      BR_NOT_SENT_INVALID, t);
		free(t);
	} else {
		struct ms_addr rcpt = {.addr = addr};
		struct br_send_request r = {
		    .user = key,
		    .jid = bare,
		    .tell_from = conv,
		    .to = &rcpt,
		    .n_to = 1,
		    .body = text,
		    .body_len = strlen(text),
		    .parent = BR_SEND_CORRESPONDENT,
		};
		submit(d, &r);
	}
	free(text);
	free(addr);
	free(conv);
}

bool br_mailchat_reply(const struct br_inbound_deps *d, const char *key,
		       const char *bare, xmpp_stanza_t *msg)
{
	xmpp_stanza_t *reply = child_ns(msg, "reply", NS_REPLY);
	const char *id =
	    reply != NULL ? xmpp_stanza_get_attribute(reply, "id") : NULL;
	char *mailbox = NULL, *text = NULL;
	uint32_t uidvalidity, uid;

	if (reply == NULL)
		return false;
	if (d->sender == NULL) {
		tell_not_sent(d, d->cfg->component, bare, BR_NOT_SENT_ERROR,
			      "sending mail from chat is not set up here");
		return true;
	}
	text = br_mailchat_text(msg);
	if (text == NULL) {
		/* Nothing written: nothing to answer. */
	} else if (id == NULL || br_notify_mail_id_parse(
				     id, &mailbox, &uidvalidity, &uid) < 0) {
		tell_not_sent(d, d->cfg->component, bare, BR_NOT_SENT_NOT_FOUND,
			      "that message is not the notification of one "
			      "mail; reply to a single mail's notification, "
			      "or chat to its sender");
	} else {
		struct br_send_request r = {
		    .user = key,
		    .jid = bare,
		    .tell_from = d->cfg->component,
		    .body = text,
		    .body_len = strlen(text),
		    .parent = BR_SEND_MAIL,
		    .mailbox = mailbox,
		    .uidvalidity = uidvalidity,
		    .uid = uid,
		};
		submit(d, &r);
	}
	free(mailbox);
	free(text);
	return true;
}

/* ---- XEP-0100 ---- */

static bool gateway_allowed_cb(const char *requester, void *ctx)
{
	const struct br_config *cfg = ctx;
	char *key = NULL;
	bool ok = br_jidmap_sender(cfg, requester, &key, NULL) == 0;
	free(key);
	return ok;
}

/* "carol@example.net" or "Carol <carol@example.net>": one address. */
static int gateway_translate_cb(const char *prompt, char **jid_r,
				const char **text_r, void *ctx)
{
	const struct br_config *cfg = ctx;
	struct ms_addr_list l;
	char *error = NULL;

	if (ms_addr_list_parse(prompt, strlen(prompt), 2, 0, &l, &error) < 0 ||
	    l.n != 1) {
		*text_r = "That is not one e-mail address such as "
			  "carol@example.net.";
		free(error);
		ms_addr_list_clear(&l);
		return -1;
	}
	*jid_r = br_jidmap_address_jid(cfg, l.v[0].addr);
	ms_addr_list_clear(&l);
	return 0;
}

int br_mailchat_gateway_new(struct xm_iq *q, struct xm_disco *disco,
			    xmpp_ctx_t *sctx, const struct br_config *cfg,
			    struct xm_gateway **g_r)
{
	return xm_gateway_register(
	    q, disco, sctx, cfg->component,
	    "Enter the e-mail address of the person you want to chat with: "
	    "your messages reach them as mail, their mail reaches you here.",
	    "E-mail address", gateway_allowed_cb, gateway_translate_cb,
	    (void *)cfg, g_r);
}
