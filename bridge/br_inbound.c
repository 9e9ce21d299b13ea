#include <stdlib.h>
#include <string.h>

#include "br_chat.h"
#include "br_inbound.h"
#include "br_jidmap.h"
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

	if (br_online_advertisement(d->online, st))
		return;
	/* Never answer an error (no loops), nor group chat or headlines. */
	if (type != NULL &&
	    (strcmp(type, "error") == 0 || strcmp(type, "groupchat") == 0 ||
	     strcmp(type, "headline") == 0))
		return;
	char *body = xm_elem_child_text(st, "body", NULL);
	if (body == NULL)
		return; /* chat states, receipts, privileges: later */
	char *key = NULL;
	if (br_jidmap_sender(d->cfg, xmpp_stanza_get_from(st), &key, NULL) <
	    0) {
		/* Not a local user: no answer to anything. */
		error_reply(d, st, "auth", "forbidden");
	} else if (to == NULL || !ut_ascii_caseeq(to, d->cfg->component)) {
		/* A chat to someone at the component (mail from chat):
		   not yet. */
		error_reply(d, st, "cancel", "service-unavailable");
	} else {
		br_chat_message(d, key, st, body);
	}
	free(key);
	free(body);
	return;
}

void br_inbound_stanza(const struct br_inbound_deps *d, xmpp_stanza_t *stanza)
{
	const char *name = xmpp_stanza_get_name(stanza);

	if (name != NULL && strcmp(name, "presence") == 0)
		br_online_stanza(d->online, stanza);
	else if (name != NULL && strcmp(name, "message") == 0)
		message(d, stanza);
}
