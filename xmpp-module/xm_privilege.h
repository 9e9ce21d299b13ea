#ifndef XM_PRIVILEGE_H
#define XM_PRIVILEGE_H

/*
 * XEP-0356 (Privileged Entity) for a component, in both namespaces the
 * servers we meet speak:
 * - urn:xmpp:privilege:1 (XEP-0356 0.2/0.3; ejabberd 23.01):
 *     <message from='example.org'><privilege xmlns='urn:xmpp:privilege:1'>
 *       <perm access='roster' type='both'/>
 *       <perm access='message' type='outgoing'/>
 *       <perm access='presence' type='roster'/></privilege></message>
 * - urn:xmpp:privilege:2 (XEP-0356 0.4; Prosody 0.12 with mod_privilege
 *   from prosody-modules): the same <perm/>s, roster may carry
 *   push='true|false', and an iq permission lists namespaces:
 *     <perm access='iq'><namespace ns='...' type='get|set|both'/></perm>
 *   (mod_privilege of 2023-02 nests each further <namespace/> inside the
 *   previous one, and omits type when neither get nor set is allowed;
 *   both shapes are read).
 * Prosody sends one advertisement per VirtualHost, from that host's
 * domain: privileges hold per domain.
 *
 * The parser is for hostile input (any entity can send the component a
 * message): an advertisement counts only when its 'from' is exactly the
 * expected server domain (no node, no resource, ASCII case-insensitive).
 * Unknown <perm access/> values are ignored, an unknown type for a known
 * access means none, a repeated <perm/> for the same access replaces the
 * earlier one. At most XM_PRIVILEGE_IQ_NS_MAX iq namespaces are kept
 * (further ones are ignored), each at most XM_PRIVILEGE_NS_MAX bytes
 * (longer ones are ignored).
 *
 * Builders for what the privileges allow:
 * - a roster get or a roster set of one item, addressed to a user's bare
 *   JID (the same in both versions); send them with xm_iq_send(), which
 *   matches the answer by id and by that bare JID;
 * - an outgoing message on a user's behalf: the wrapping
 *   <message to=user's domain><privilege xmlns=v><forwarded
 *   xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'
 *   from=user's bare JID .../></forwarded></privilege></message>.
 *
 * Plain functions, no state, any thread. Aborts only on out-of-memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <strophe.h>

#define XM_NS_PRIVILEGE_1 "urn:xmpp:privilege:1"
#define XM_NS_PRIVILEGE_2 "urn:xmpp:privilege:2"
#define XM_NS_FORWARD	  "urn:xmpp:forward:0"
#define XM_NS_ROSTER	  "jabber:iq:roster"

#define XM_PRIVILEGE_IQ_NS_MAX 32
#define XM_PRIVILEGE_NS_MAX    1024

enum xm_privilege_version {
	XM_PRIVILEGE_V1 = 1, /* urn:xmpp:privilege:1 */
	XM_PRIVILEGE_V2 = 2, /* urn:xmpp:privilege:2 */
};

/* Bits: XM_PRIV_GET | XM_PRIV_SET ("both" is both bits). */
enum {
	XM_PRIV_GET = 1 << 0,
	XM_PRIV_SET = 1 << 1,
};

enum xm_privilege_message {
	XM_PRIV_MESSAGE_NONE = 0,
	XM_PRIV_MESSAGE_OUTGOING,
};

enum xm_privilege_presence {
	XM_PRIV_PRESENCE_NONE = 0,
	XM_PRIV_PRESENCE_MANAGED_ENTITY,
	XM_PRIV_PRESENCE_ROSTER,
};

struct xm_privilege_iq {
	char *ns;	/* malloc'ed */
	unsigned types; /* XM_PRIV_GET | XM_PRIV_SET bits */
};

struct xm_privilege {
	enum xm_privilege_version version;
	unsigned roster; /* XM_PRIV_GET | XM_PRIV_SET bits; 0 = none */
	/* Roster pushes to the entity: v2's push attribute, by default on
	   with get permission (XEP-0356 0.4); always false for v1. */
	bool roster_push;
	enum xm_privilege_message message;
	enum xm_privilege_presence presence;
	struct xm_privilege_iq iq[XM_PRIVILEGE_IQ_NS_MAX];
	size_t n_iq;
};

/* The <privilege/> child of a message in either namespace, or NULL. */
xmpp_stanza_t *xm_privilege_find(xmpp_stanza_t *message);

/*
 * Reads an advertisement. message must be a <message/> from exactly
 * server_domain, not of type 'error' (a bounce of a message we wrapped
 * carries our own <privilege/> back), with a <privilege/> child (the first
 * one in either namespace counts). On success *priv_r is filled (free its
 * namespaces with xm_privilege_clear()). Returns 0, or -1 with a static reason
 * in *error_r and *priv_r zeroed.
 */
int xm_privilege_parse(xmpp_stanza_t *message, const char *server_domain,
		       struct xm_privilege *priv_r, const char **error_r);
/* Frees the namespaces and zeroes p. */
void xm_privilege_clear(struct xm_privilege *p);
/* The iq permission bits for namespace ns (0 when none). */
unsigned xm_privilege_iq_types(const struct xm_privilege *p, const char *ns);

enum xm_roster_subscription {
	XM_ROSTER_NONE = 0,
	XM_ROSTER_TO,
	XM_ROSTER_FROM,
	XM_ROSTER_BOTH,
	XM_ROSTER_REMOVE, /* only in a roster set */
};

/*
 * <iq type='get' to=user_bare><query xmlns='jabber:iq:roster'/></iq>.
 * Returns 0, or -1 when user_bare is not a bare JID with a node.
 */
int xm_privilege_roster_get_new(xmpp_ctx_t *sctx, const char *user_bare,
				xmpp_stanza_t **iq_r);
/*
 * <iq type='set' to=user_bare><query xmlns='jabber:iq:roster'><item
 * jid=item_jid name=name subscription=.../></query></iq>. name may be NULL
 * (cleaned to one line otherwise). Returns 0, or -1 when user_bare is not
 * a bare JID with a node or item_jid is not a bare JID.
 */
int xm_privilege_roster_set_new(xmpp_ctx_t *sctx, const char *user_bare,
				const char *item_jid, const char *name,
				enum xm_roster_subscription sub,
				xmpp_stanza_t **iq_r);

struct xm_roster_item {
	enum xm_roster_subscription subscription;
	bool ask_subscribe; /* ask='subscribe' */
	char *name;	    /* malloc'ed, cleaned to one line; may be NULL */
};

/*
 * Looks for item_jid (compared as bare JIDs) in a roster result: <iq
 * type='result'><query xmlns='jabber:iq:roster'><item .../>...</query>.
 * Looks at no more than XM_ROSTER_ITEMS_MAX items. Returns 0 with *item_r
 * filled when found (free item_r->name), -1 when absent or when the reply
 * is not a roster result.
 */
#define XM_ROSTER_ITEMS_MAX 100000
int xm_privilege_roster_find(xmpp_stanza_t *result, const char *item_jid,
			     struct xm_roster_item *item_r);

/*
 * Wraps inner, a <message/> whose 'from' is a user's bare JID (with a
 * node), for sending with the message permission: a deep copy of inner
 * gets xmlns='jabber:client' and goes into <privilege xmlns=v><forwarded
 * xmlns='urn:xmpp:forward:0'/>, inside a <message/> addressed to the
 * user's domain. inner is not consumed. Returns 0, or -1 when inner is
 * not a message or its 'from' not a bare JID with a node.
 */
int xm_privilege_message_new(xmpp_ctx_t *sctx,
			     enum xm_privilege_version version,
			     xmpp_stanza_t *inner, xmpp_stanza_t **msg_r);

/* "none", "get", "set", "both" for roster bits (static). */
const char *xm_privilege_types_str(unsigned types);

#endif
