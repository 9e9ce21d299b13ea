#ifndef BR_CONTACT_H
#define BR_CONTACT_H

/*
 * The Mail contact (the component's JID, named "Mail") in every local
 * user's roster, and the presence subscriptions between them. One of two
 * routes per served XMPP domain, each logged once per run:
 *
 * - roster: the server granted XEP-0356 roster permission. When a user
 *   comes online, tidings reads their roster (privileged get) and, if the
 *   Mail contact is missing, adds it (privileged set: name "Mail",
 *   subscription both, so their presence reaches the component and the
 *   component's theirs). Once done, a durable mark in the ledger says so:
 *   a user who later removes the contact keeps it removed.
 * - subscription: no roster set permission, or the server refused a
 *   privileged roster set (ejabberd 23.01 answers internal-server-error
 *   and changes nothing). The component asks the user to subscribe (a
 *   <presence type='subscribe'/> with the nick "Mail"); their client shows
 *   the request once. An approval is remembered; so is a refusal (never
 *   asked again); an unanswered request is asked again after a week.
 *
 * Presence subscription stanzas the component receives:
 * - from a local user: subscribe is approved (subscribed, then our
 *   presence); probe gets our presence; subscribed is remembered;
 *   unsubscribe and unsubscribed are remembered (not asked again) and
 *   answered as RFC 6121 says;
 * - from anyone else: subscribe is refused (unsubscribed), nothing else
 *   is answered. Nobody learns whether a mailbox exists.
 *
 * Bounds: at most CONTACT_CALLS_MAX roster IQs in flight (further users
 * are tried at their next coming online). Loop thread only.
 */

#include <stdbool.h>
#include <strophe.h>
#include <uv.h>

#include "br_config.h"
#include "br_ledger.h"
#include "xm_iq.h"
#include "xm_privilege.h"

/* The durable mark (ledger setting BR_CONTACT_SETTING). */
enum br_contact_state {
	BR_CONTACT_NONE = 0,
	BR_CONTACT_IN_ROSTER = 1,  /* put there (or found) by roster route */
	BR_CONTACT_SUBSCRIBED = 2, /* the user approved our subscription */
	BR_CONTACT_DECLINED = 3,   /* refused or removed: never ask again */
};
#define BR_CONTACT_SETTING	 "mail_contact"
#define BR_CONTACT_ASKED_SETTING "mail_contact_asked" /* unix secs */

struct br_contact;

struct br_contact_deps {
	uv_loop_t *loop;
	const struct br_config *cfg;
	struct br_ledger *ledger;
	xmpp_ctx_t *sctx;
	struct xm_iq *iq; /* the component's IQ engine */
	/* Queues a stanza to the XMPP server (not consumed); 0 or -1. */
	int (*send)(void *ctx, xmpp_stanza_t *stanza);
	void *send_ctx;
};

struct br_contact *br_contact_new(const struct br_contact_deps *d);
/* Cancels roster calls in flight; sets *c to NULL. No-op on NULL. */
void br_contact_close(struct br_contact **c);

/*
 * What a served domain granted on this connection (priv NULL: nothing, no
 * advertisement came). Decides the domain's route.
 */
void br_contact_privilege(struct br_contact *c, const char *domain,
			  const struct xm_privilege *priv);
/* A local user (canonical key, bare JID) came online: make sure the Mail
   contact is in their roster. */
void br_contact_user_online(struct br_contact *c, const char *key,
			    const char *bare);
/* A presence of type subscribe, subscribed, unsubscribe, unsubscribed or
   probe addressed to the component. */
void br_contact_stanza(struct br_contact *c, xmpp_stanza_t *presence);

#endif
