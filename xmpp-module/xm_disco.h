#ifndef XM_DISCO_H
#define XM_DISCO_H

/*
 * XEP-0030 service discovery for the component's own JID, as two handlers
 * on an IQ engine (get disco#info, get disco#items):
 * - disco#info without node: the identity given at creation, then the
 *   features http://jabber.org/protocol/disco#info and urn:xmpp:ping, then
 *   the registered features in registration order;
 * - disco#items without node: an empty list;
 * - with a node: the node's registered callbacks fill the answer, or it is
 *   cancel/item-not-found when no such node is registered;
 * - addressed to any other JID (e.g. user@component): cancel/
 *   service-unavailable, as for an IQ nobody handles.
 * Every answer is given at once (no async).
 *
 * Loop thread only (it lives on the engine's thread). Node callbacks fire
 * from the engine's dispatch, synchronously.
 */

#include <strophe.h>

#include "xm_iq.h"

#define XM_NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define XM_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define XM_NS_PING	  "urn:xmpp:ping"

struct xm_disco;

struct xm_disco_node_ops {
	/*
	 * Fill query (the <query node=.../> of the answer) with identities
	 * and features (info) or items (items) for requester, the asking
	 * full JID (NULL when the IQ had no 'from': treat as a stranger).
	 * Return 0 to answer with query, or -1 with a static error condition
	 * in *condition_r (type cancel), e.g. "forbidden" or
	 * "item-not-found". Either may be NULL: item-not-found.
	 */
	int (*info)(const char *node, const char *requester,
		    xmpp_stanza_t *query, const char **condition_r, void *ctx);
	int (*items)(const char *node, const char *requester,
		     xmpp_stanza_t *query, const char **condition_r, void *ctx);
};

/*
 * Registers the two handlers on q for the component JID jid (copied, with
 * the identity strings). q must outlive the disco object. Returns NULL
 * when disco handlers are registered on q already.
 */
struct xm_disco *xm_disco_new(struct xm_iq *q, xmpp_ctx_t *sctx,
			      const char *jid, const char *category,
			      const char *type, const char *name);
/* Unregisters the handlers from q (if q is still given: NULL when q was
   closed already), frees, sets *d to NULL. No-op on NULL. */
void xm_disco_free(struct xm_disco **d, struct xm_iq *q);

/* Adds a feature var (copied). Returns 0, or -1 when it is listed already. */
int xm_disco_add_feature(struct xm_disco *d, const char *var);
/* Removes a feature var, if listed. */
void xm_disco_remove_feature(struct xm_disco *d, const char *var);
/* Registers a node (copied; ops copied). Returns 0, or -1 when the node
   has callbacks already. */
int xm_disco_register_node(struct xm_disco *d, const char *node,
			   const struct xm_disco_node_ops *ops, void *ctx);
void xm_disco_unregister_node(struct xm_disco *d, const char *node);

/* Adds <identity category type name/> to a disco#info query (name may be
   NULL). */
void xm_disco_add_identity(xmpp_stanza_t *query, const char *category,
			   const char *type, const char *name);
/* Adds <feature var/> to a disco#info query. */
void xm_disco_query_add_feature(xmpp_stanza_t *query, const char *var);
/* Adds <item jid node name/> to a disco#items query (node, name may be
   NULL). */
void xm_disco_add_item(xmpp_stanza_t *query, const char *jid, const char *node,
		       const char *name);

#endif
