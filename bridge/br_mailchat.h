#ifndef BR_MAILCHAT_H
#define BR_MAILCHAT_H

/*
 * Chat that becomes mail (issue 7), for a local user's message (the caller
 * checked that: key and bare are theirs). Loop thread only.
 *
 * - A message to "<address escaped by XEP-0106>@<component>" (chat or
 *   normal) is a mail to that address (br_sender: a reply to the
 *   address's latest mail within the reply window, else a new one).
 *   Answers come from that JID.
 * - A message to the component that replies to a notification (XEP-0461
 *   <reply xmlns='urn:xmpp:reply:0' id=…/>, the id of a single
 *   notification: br_notify_mail_id) answers that mail. Answers come
 *   from the component.
 * The text is the <body> without the XEP-0428 fallback that quotes the
 * message replied to (<fallback for='urn:xmpp:reply:0'><body start end/>,
 * code points); without a body, an XEP-0066 link's URL. A message with
 * neither (chat states, receipts, markers) or only white space sends
 * nothing and gets no answer.
 */

#include <stdbool.h>
#include <strophe.h>

#include "br_inbound.h"
#include "xm_gateway.h"

/* The text a message gives a mail (malloc'ed), or NULL: see above. */
char *br_mailchat_text(xmpp_stanza_t *msg);
/* A message to an address at the component; d->sender is not NULL. */
void br_mailchat_to_address(const struct br_inbound_deps *d, const char *key,
			    const char *bare, xmpp_stanza_t *msg);
/* false when msg is not an XEP-0461 reply (then it is a text command);
   true when it was handled (sent, refused, or mail from chat is off). */
bool br_mailchat_reply(const struct br_inbound_deps *d, const char *key,
		       const char *bare, xmpp_stanza_t *msg);

/*
 * XEP-0100 jabber:iq:gateway on the component (xm_gateway.h), for local
 * users only (others: forbidden): an address ("carol@example.net" or
 * "Carol <carol@example.net>") becomes its JID at the component
 * (br_jidmap_address_jid); anything else is not-acceptable with the
 * reason. cfg must outlive the gateway. 0 with *g_r, or -1.
 */
int br_mailchat_gateway_new(struct xm_iq *q, struct xm_disco *disco,
			    xmpp_ctx_t *sctx, const struct br_config *cfg,
			    struct xm_gateway **g_r);

#endif
