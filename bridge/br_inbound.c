#include <stdlib.h>
#include <string.h>

#include "br_chat.h"
#include "br_inbound.h"
#include "br_jidmap.h"
#include "br_mailchat.h"
#include "ut_str.h"
#include "xm_jid.h"
#include "xm_stanza.h"

static void error_reply(const struct br_inbound_deps *d, xmpp_stanza_t *st,
			const char *type, const char *condition)
{
	xmpp_stanza_t *e =
	    xm_error_reply_new(d->sctx, st, type, condition, NULL);
	d->send(d->send_ctx, e);
	xmpp_stanza_release(e);
}

static void message(const struct br_inbound_deps *d, xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	const char *to = xmpp_stanza_get_to(st);
	char *key = NULL, *bare = NULL;

	if (br_online_advertisement(d->online, st))
		return;
	/* Never answer an error (no loops), nor group chat or headlines. */
	if (type != NULL &&
	    (strcmp(type, "error") == 0 || strcmp(type, "groupchat") == 0 ||
	     strcmp(type, "headline") == 0))
		return;
	if (br_jidmap_sender(d->cfg, xmpp_stanza_get_from(st), &key, &bare) <
	    0) {
		/* Not a local user: no answer to anything they say (chat
		   states and receipts included: nothing at all). */
		if (xmpp_stanza_get_child_by_name(st, "body") != NULL)
			error_reply(d, st, "auth", "forbidden");
		return;
	}
	/* The component itself (any resource), or a JID at it. */
	const char *at = to != NULL ? strchr(to, '@') : NULL;
	const char *slash = to != NULL ? strchr(to, '/') : NULL;
	if (at == NULL || (slash != NULL && slash < at)) {
		if (!br_mailchat_reply(d, key, bare, st)) {
			char *body = xm_elem_child_text(st, "body", NULL);
			if (body != NULL)
				br_chat_message(d, key, st, body);
			free(body);
		}
	} else if (d->sender != NULL) {
		br_mailchat_to_address(d, key, bare, st);
	} else if (xmpp_stanza_get_child_by_name(st, "body") != NULL) {
		error_reply(d, st, "cancel", "service-unavailable");
	}
	free(key);
	free(bare);
}

void br_inbound_stanza(const struct br_inbound_deps *d, xmpp_stanza_t *stanza)
{
	const char *name = xmpp_stanza_get_name(stanza);

	if (name != NULL && strcmp(name, "presence") == 0)
		br_online_stanza(d->online, stanza);
	else if (name != NULL && strcmp(name, "message") == 0)
		message(d, stanza);
}
