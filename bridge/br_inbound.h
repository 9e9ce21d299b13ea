#ifndef BR_INBOUND_H
#define BR_INBOUND_H

/*
 * Inbound XMPP: what the XMPP server hands the component, routed to the
 * bridge's parts. Loop thread only.
 *
 * - Presence: br_online.h (and subscriptions: br_contact.h).
 * - XEP-0356 advertisements from a served domain: br_online.h.
 * - A message from a local user (a served JID that maps to a mailbox) to
 *   the component's own JID is a reply to a notification when it says so
 *   (XEP-0461: br_mailchat.h), else a text command (br_chat.c); to any
 *   other JID at the component, a mail to the address it escapes
 *   (br_mailchat.h), or service-unavailable while mail from chat is off.
 *   From anyone else a message gets a 'forbidden' error, which says
 *   nothing about mailboxes. Errors, group chat and headlines are never
 *   answered.
 * Anything else is dropped.
 */

#include <stdbool.h>
#include <strophe.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_nudge.h"
#include "br_online.h"
#include "br_router.h"
#include "br_sender.h"

struct br_inbound_deps {
	const struct br_config *cfg;
	struct br_router *router;
	struct br_online *online;
	struct br_ledger *ledger;
	struct br_sender *sender; /* NULL: mail from chat is off */
	struct br_nudge *nudge;	  /* the `nudge` command */
	xmpp_ctx_t *sctx;
	/* Queues a stanza to the XMPP server (not consumed); 0 or -1. */
	int (*send)(void *ctx, xmpp_stanza_t *stanza);
	void *send_ctx;
};

/* A presence or message the component received (IQs go to the component's
   IQ engine). */
void br_inbound_stanza(const struct br_inbound_deps *d, xmpp_stanza_t *stanza);

#endif
