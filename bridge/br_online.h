#ifndef BR_ONLINE_H
#define BR_ONLINE_H

/*
 * Who of the local users is online. The component gets their presence
 * from the XMPP server (XEP-0356 presence permission, or a subscription
 * between the user and the Mail contact, br_contact.h); this tracks it
 * per user and resource (xm_presence: online means an available resource
 * with priority >= 0, the most available show wins) and hands the
 * aggregate to the router. It also reads the XEP-0356 advertisements: what
 * each served domain granted, logged once per change, passed on to
 * br_contact.
 *
 * Presence is known for everyone (br_router_presence_known) while every
 * served domain is complete (below) on this connection; else only for the
 * users whose presence came. The router asks br_online_presence_of() for
 * users it does not hold.
 *
 * A domain is complete when, right after the component connects, its
 * server sends the advertisement and then the presence of everyone online:
 * Prosody's mod_privilege (urn:xmpp:privilege:2) does; ejabberd 23.01's
 * (:1) grants the permission but sends only later changes. In a complete
 * domain a user without a resource is offline; elsewhere, unknown (mail
 * is notified as before presence) until their presence comes, and a user
 * seen going offline stays tracked as offline (that knowledge would not
 * come again).
 *
 * Settling. SETTLE_MSECS after the last domain's advertisement, or
 * NO_ADVERTISEMENT_MSECS after connecting when some domain sent none, what
 * came is the picture:
 * - the first time, br_router_presence_settled() (the start-up walk);
 * - on every connection, users the server did not mention again went
 *   offline while the stream was down (complete domains) or are unknown
 *   again (the others).
 * If the component has not connected STARTUP_MSECS after start, the
 * router is told presence settled anyway (mail must not wait for XMPP).
 * Tracked users of a domain that was not complete are probed at a
 * reconnect, so that their subscription brings their presence again.
 *
 * Only users of served domains that map to a mailbox are tracked, and in
 * complete domains only while they have a resource; presence
 * from anyone else is ignored. At most BR_ONLINE_USERS_MAX users are
 * tracked; beyond, a user's last presence stanza is passed on as it is
 * (one log line a minute).
 *
 * Loop thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <strophe.h>
#include <uv.h>

#include "br_config.h"
#include "br_contact.h"
#include "br_router.h"
#include "xm_privilege.h"

#define BR_ONLINE_USERS_MAX 200000

struct br_online;

struct br_online_deps {
	uv_loop_t *loop;
	const struct br_config *cfg;
	struct br_router *router;
	struct br_contact *contact; /* may be NULL */
	xmpp_ctx_t *sctx;
	/* Queues a stanza to the XMPP server (not consumed); 0 or -1. */
	int (*send)(void *ctx, xmpp_stanza_t *stanza);
	void *send_ctx;
};

struct br_online *br_online_new(const struct br_online_deps *d);
/* Frees once libuv has released the timer; sets *p to NULL. */
void br_online_close(struct br_online **p);

/* Any <presence/> the component received (subscription stanzas go on to
   br_contact). */
void br_online_stanza(struct br_online *p, xmpp_stanza_t *st);
/* A <message/>: true when it is a XEP-0356 advertisement from a served
   domain (taken), false for anything else (not touched). */
bool br_online_advertisement(struct br_online *p, xmpp_stanza_t *msg);
/* Whether the served domain `domain` (ASCII case-insensitive) granted
   the XEP-0356 message permission "outgoing" on the current connection:
   the component may then send messages from its users' bare JIDs
   (xm_privilege_message_new). False while disconnected, before the
   domain's advertisement on this connection, for a domain not served,
   and for anything that is not a bare domain. When true, *version_r (if
   not NULL) is the namespace version to wrap with. */
bool br_online_can_send_as(struct br_online *p, const char *domain,
			   enum xm_privilege_version *version_r);
/* The component connected (online) or lost its stream. */
void br_online_xmpp_state(struct br_online *p, bool online);
/* A br_router_presence_fn: the presence of the user with canonical key
   key as tracked here (ctx: the br_online), BR_PRESENCE_UNKNOWN if not. */
enum br_presence br_online_presence_of(void *ctx, const char *key);
/* Calls cb for every user whose presence is known here (key, bare JID,
   presence), in no particular order, until cb returns nonzero. cb must
   not change presence tracking. */
void br_online_foreach(struct br_online *p,
		       int (*cb)(const char *key, const char *bare,
				 enum br_presence presence, void *ctx),
		       void *ctx);
/* Like br_online_presence_of(), but offline for an untracked user of a
   domain whose server tells who is online (bare: the user's JID). */
enum br_presence br_online_presence_full(struct br_online *p, const char *key,
					 const char *bare);
/* Users tracked now (online, with resources of negative priority, or
   known offline in domains that are not complete). */
size_t br_online_tracked(const struct br_online *p);

#endif
