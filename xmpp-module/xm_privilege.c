/*
 * XEP-0356 advertisements (both namespaces) and the stanzas the
 * privileges allow: roster get/set on a user's behalf and wrapped
 * outgoing messages.
 */
#include "xm_privilege.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

static bool tag_is(xmpp_stanza_t *el, const char *name)
{
	return xmpp_stanza_is_tag(el) &&
	       strcmp(xmpp_stanza_get_name(el), name) == 0;
}

/* The namespace el is in, given its parent's (children inherit it). */
static const char *ns_of(xmpp_stanza_t *el, const char *parent_ns)
{
	const char *ns = xmpp_stanza_get_ns(el);

	return ns != NULL ? ns : parent_ns;
}

xmpp_stanza_t *xm_privilege_find(xmpp_stanza_t *message)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(message); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		const char *ns = xmpp_stanza_get_ns(c);

		if (tag_is(c, "privilege") && ns != NULL &&
		    (strcmp(ns, XM_NS_PRIVILEGE_1) == 0 ||
		     strcmp(ns, XM_NS_PRIVILEGE_2) == 0))
			return c;
	}
	return NULL;
}

void xm_privilege_clear(struct xm_privilege *p)
{
	for (size_t i = 0; i < p->n_iq; i++)
		free(p->iq[i].ns);
	memset(p, 0, sizeof(*p));
}

static unsigned parse_types(const char *type)
{
	if (type == NULL)
		return 0;
	if (strcmp(type, "get") == 0)
		return XM_PRIV_GET;
	if (strcmp(type, "set") == 0)
		return XM_PRIV_SET;
	if (strcmp(type, "both") == 0)
		return XM_PRIV_GET | XM_PRIV_SET;
	return 0;
}

const char *xm_privilege_types_str(unsigned types)
{
	static const char *const names[] = {"none", "get", "set", "both"};

	return names[types & 3];
}

unsigned xm_privilege_iq_types(const struct xm_privilege *p, const char *ns)
{
	for (size_t i = 0; i < p->n_iq; i++) {
		if (strcmp(p->iq[i].ns, ns) == 0)
			return p->iq[i].types;
	}
	return 0;
}

static void add_iq_ns(struct xm_privilege *p, const char *ns, unsigned types)
{
	for (size_t i = 0; i < p->n_iq; i++) {
		if (strcmp(p->iq[i].ns, ns) == 0) {
			p->iq[i].types = types;
			return;
		}
	}
	if (p->n_iq == XM_PRIVILEGE_IQ_NS_MAX)
		return;
	p->iq[p->n_iq].ns = xstrdup(ns);
	p->iq[p->n_iq].types = types;
	p->n_iq++;
}

/*
 * The <namespace/> elements of an iq permission, also nested ones (see
 * the header). Walked without recursion: each level has at most one
 * nested list worth following, the first <namespace/> child.
 */
static void parse_iq_perm(struct xm_privilege *p, xmpp_stanza_t *perm,
			  const char *ns)
{
	xmpp_stanza_t *level = perm;
	const char *level_ns = ns;

	while (level != NULL) {
		xmpp_stanza_t *next = NULL;
		const char *next_ns = NULL;

		for (xmpp_stanza_t *c = xmpp_stanza_get_children(level);
		     c != NULL; c = xmpp_stanza_get_next(c)) {
			const char *c_ns = ns_of(c, level_ns);
			const char *var;

			if (!tag_is(c, "namespace") || strcmp(c_ns, ns) != 0)
				continue;
			var = xmpp_stanza_get_attribute(c, "ns");
			if (var != NULL && *var != '\0' &&
			    strlen(var) <= XM_PRIVILEGE_NS_MAX)
				add_iq_ns(p, var,
					  parse_types(xmpp_stanza_get_type(c)));
			if (next == NULL) {
				next = c;
				next_ns = c_ns;
			}
		}
		level = next;
		level_ns = next_ns;
	}
}

static void parse_perm(struct xm_privilege *p, xmpp_stanza_t *perm,
		       const char *ns)
{
	const char *access = xmpp_stanza_get_attribute(perm, "access");
	const char *type = xmpp_stanza_get_type(perm);

	if (access == NULL)
		return;
	if (strcmp(access, "roster") == 0) {
		const char *push = xmpp_stanza_get_attribute(perm, "push");

		p->roster = parse_types(type);
		p->roster_push = p->version == XM_PRIVILEGE_V2 &&
				 (p->roster & XM_PRIV_GET) != 0;
		if (p->roster_push && push != NULL &&
		    (strcmp(push, "false") == 0 || strcmp(push, "0") == 0))
			p->roster_push = false;
	} else if (strcmp(access, "message") == 0) {
		p->message = type != NULL && strcmp(type, "outgoing") == 0
				 ? XM_PRIV_MESSAGE_OUTGOING
				 : XM_PRIV_MESSAGE_NONE;
	} else if (strcmp(access, "presence") == 0) {
		p->presence = XM_PRIV_PRESENCE_NONE;
		if (type != NULL && strcmp(type, "managed_entity") == 0)
			p->presence = XM_PRIV_PRESENCE_MANAGED_ENTITY;
		else if (type != NULL && strcmp(type, "roster") == 0)
			p->presence = XM_PRIV_PRESENCE_ROSTER;
	} else if (strcmp(access, "iq") == 0 && p->version == XM_PRIVILEGE_V2) {
		parse_iq_perm(p, perm, ns);
	}
}

int xm_privilege_parse(xmpp_stanza_t *message, const char *server_domain,
		       struct xm_privilege *priv_r, const char **error_r)
{
	const char *name = xmpp_stanza_get_name(message);
	const char *from = xmpp_stanza_get_from(message);
	const char *type = xmpp_stanza_get_type(message);
	xmpp_stanza_t *priv;
	const char *ns;

	memset(priv_r, 0, sizeof(*priv_r));
	if (name == NULL || strcmp(name, "message") != 0) {
		*error_r = "not a message";
		return -1;
	}
	/* A bounce of a message we wrapped carries our <privilege/> back. */
	if (type != NULL && strcmp(type, "error") == 0) {
		*error_r = "an error message";
		return -1;
	}
	/* The domain itself: a JID with a node or resource is someone
	   else, however the domain part compares. */
	if (from == NULL || server_domain == NULL ||
	    strcasecmp(from, server_domain) != 0) {
		*error_r = "not from the server's domain";
		return -1;
	}
	priv = xm_privilege_find(message);
	if (priv == NULL) {
		*error_r = "no privilege element";
		return -1;
	}
	ns = xmpp_stanza_get_ns(priv);
	priv_r->version = strcmp(ns, XM_NS_PRIVILEGE_1) == 0 ? XM_PRIVILEGE_V1
							     : XM_PRIVILEGE_V2;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(priv); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		if (tag_is(c, "perm") && strcmp(ns_of(c, ns), ns) == 0)
			parse_perm(priv_r, c, ns);
	}
	return 0;
}

/* ---- builders ---- */

/* A bare JID with a node, e.g. alice@example.org. */
static bool user_bare_ok(const char *jid, char **domain_r)
{
	char *node, *domain, *resource;

	if (xm_jid_split(jid, &node, &domain, &resource) < 0)
		return false;
	bool ok = node != NULL && resource == NULL;
	free(node);
	free(resource);
	if (ok && domain_r != NULL)
		*domain_r = domain;
	else
		free(domain);
	return ok;
}

static xmpp_stanza_t *roster_iq(xmpp_ctx_t *sctx, const char *type,
				const char *user_bare, xmpp_stanza_t **query_r)
{
	xmpp_stanza_t *iq = xm_elem_new(sctx, "iq", NULL);
	xmpp_stanza_t *query = xm_elem_new(sctx, "query", XM_NS_ROSTER);

	xm_elem_set_attr(iq, "type", type);
	xm_elem_set_attr(iq, "to", user_bare);
	xm_elem_adopt(iq, query);
	*query_r = query;
	return iq;
}

int xm_privilege_roster_get_new(xmpp_ctx_t *sctx, const char *user_bare,
				xmpp_stanza_t **iq_r)
{
	xmpp_stanza_t *query;

	*iq_r = NULL;
	if (!user_bare_ok(user_bare, NULL))
		return -1;
	*iq_r = roster_iq(sctx, "get", user_bare, &query);
	return 0;
}

static const char *const subscriptions[] = {
    [XM_ROSTER_NONE] = "none",	   [XM_ROSTER_TO] = "to",
    [XM_ROSTER_FROM] = "from",	   [XM_ROSTER_BOTH] = "both",
    [XM_ROSTER_REMOVE] = "remove",
};

int xm_privilege_roster_set_new(xmpp_ctx_t *sctx, const char *user_bare,
				const char *item_jid, const char *name,
				enum xm_roster_subscription sub,
				xmpp_stanza_t **iq_r)
{
	char *resource = NULL;
	xmpp_stanza_t *query, *item;

	*iq_r = NULL;
	ut_assert(sub <= XM_ROSTER_REMOVE);
	if (!user_bare_ok(user_bare, NULL) ||
	    xm_jid_split(item_jid, NULL, NULL, &resource) < 0)
		return -1;
	if (resource != NULL) {
		free(resource);
		return -1;
	}
	*iq_r = roster_iq(sctx, "set", user_bare, &query);
	item = xm_elem_add_text_child(query, "item", NULL);
	xm_elem_set_attr(item, "jid", item_jid);
	if (name != NULL) {
		char *clean =
		    ut_utf8_clean_str(name, strlen(name), UT_CLEAN_ONELINE, 0);
		xm_elem_set_attr(item, "name", clean);
		free(clean);
	}
	xm_elem_set_attr(item, "subscription", subscriptions[sub]);
	return 0;
}

int xm_privilege_roster_find(xmpp_stanza_t *result, const char *item_jid,
			     struct xm_roster_item *item_r)
{
	const char *type = xmpp_stanza_get_type(result);
	xmpp_stanza_t *query;
	size_t seen = 0;

	memset(item_r, 0, sizeof(*item_r));
	if (!tag_is(result, "iq") || type == NULL ||
	    strcmp(type, "result") != 0)
		return -1;
	query =
	    xmpp_stanza_get_child_by_name_and_ns(result, "query", XM_NS_ROSTER);
	if (query == NULL)
		return -1;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(query);
	     c != NULL && seen < XM_ROSTER_ITEMS_MAX;
	     c = xmpp_stanza_get_next(c)) {
		const char *jid, *sub, *ask, *name;

		if (!tag_is(c, "item") ||
		    strcmp(ns_of(c, XM_NS_ROSTER), XM_NS_ROSTER) != 0)
			continue;
		seen++;
		jid = xmpp_stanza_get_attribute(c, "jid");
		if (jid == NULL || !xm_jid_bare_equal(jid, item_jid))
			continue;
		sub = xmpp_stanza_get_attribute(c, "subscription");
		for (int i = XM_ROSTER_NONE;
		     sub != NULL && i < XM_ROSTER_REMOVE; i++) {
			if (strcmp(sub, subscriptions[i]) == 0)
				item_r->subscription =
				    (enum xm_roster_subscription)i;
		}
		ask = xmpp_stanza_get_attribute(c, "ask");
		item_r->ask_subscribe =
		    ask != NULL && strcmp(ask, "subscribe") == 0;
		name = xmpp_stanza_get_attribute(c, "name");
		if (name != NULL)
			item_r->name = ut_utf8_clean_str(
			    name, strlen(name), UT_CLEAN_ONELINE, 1024);
		return 0;
	}
	return -1;
}

int xm_privilege_message_new(xmpp_ctx_t *sctx,
			     enum xm_privilege_version version,
			     xmpp_stanza_t *inner, xmpp_stanza_t **msg_r)
{
	char *domain;
	xmpp_stanza_t *copy, *msg, *priv, *fwd;

	*msg_r = NULL;
	ut_assert(version == XM_PRIVILEGE_V1 || version == XM_PRIVILEGE_V2);
	if (!tag_is(inner, "message") ||
	    !user_bare_ok(xmpp_stanza_get_from(inner), &domain))
		return -1;
	copy = xmpp_stanza_copy(inner);
	if (copy == NULL)
		ut_assert_fail(__FILE__, __LINE__, "libstrophe: out of memory");
	xm_elem_set_attr(copy, "xmlns", "jabber:client");
	msg = xm_message_new(sctx, NULL, NULL, domain, NULL);
	priv = xm_elem_new(sctx, "privilege",
			   version == XM_PRIVILEGE_V1 ? XM_NS_PRIVILEGE_1
						      : XM_NS_PRIVILEGE_2);
	fwd = xm_elem_new(sctx, "forwarded", XM_NS_FORWARD);
	xm_elem_adopt(fwd, copy);
	xm_elem_adopt(priv, fwd);
	xm_elem_adopt(msg, priv);
	free(domain);
	*msg_r = msg;
	return 0;
}
