/*
 * XEP-0030 answers for the component JID: identity, features, and nodes
 * whose content others register (ad-hoc commands).
 */
#include "xm_disco.h"

#include <stdlib.h>
#include <string.h>

#include "ut_hash.h"
#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

struct xm_disco_node {
	struct xm_disco_node_ops ops;
	void *ctx;
};

struct xm_disco {
	xmpp_ctx_t *sctx;
	char *jid, *category, *type, *name;
	char **features;
	size_t n_features, cap_features;
	struct ut_hash *nodes; /* node -> struct xm_disco_node */
};

void xm_disco_add_identity(xmpp_stanza_t *query, const char *category,
			   const char *type, const char *name)
{
	xmpp_stanza_t *el = xm_elem_add_text_child(query, "identity", NULL);

	xm_elem_set_attr(el, "category", category);
	xm_elem_set_attr(el, "type", type);
	xm_elem_set_attr(el, "name", name);
}

void xm_disco_query_add_feature(xmpp_stanza_t *query, const char *var)
{
	xm_elem_set_attr(xm_elem_add_text_child(query, "feature", NULL), "var",
			 var);
}

void xm_disco_add_item(xmpp_stanza_t *query, const char *jid, const char *node,
		       const char *name)
{
	xmpp_stanza_t *el = xm_elem_add_text_child(query, "item", NULL);

	xm_elem_set_attr(el, "jid", jid);
	xm_elem_set_attr(el, "node", node);
	xm_elem_set_attr(el, "name", name);
}

/* The answer to a disco query on our JID, built by items or info. */
static void answer(struct xm_disco *d, struct xm_iq_request *req, bool info)
{
	xmpp_stanza_t *q = xm_iq_request_payload(req);
	const char *to = xm_iq_request_to(req);
	const char *node = xmpp_stanza_get_attribute(q, "node");
	const char *condition = "item-not-found";
	struct xm_disco_node *n = NULL;
	xmpp_stanza_t *query;
	int rc = -1;

	if (to != NULL && !xm_jid_equal(to, d->jid)) {
		xm_iq_request_error(req, "cancel", "service-unavailable", NULL);
		return;
	}
	query = xm_elem_new(d->sctx, "query",
			    info ? XM_NS_DISCO_INFO : XM_NS_DISCO_ITEMS);
	if (node == NULL) {
		rc = 0;
		if (info) {
			xm_disco_add_identity(query, d->category, d->type,
					      d->name);
			xm_disco_query_add_feature(query, XM_NS_DISCO_INFO);
			xm_disco_query_add_feature(query, XM_NS_PING);
			for (size_t i = 0; i < d->n_features; i++)
				xm_disco_query_add_feature(query,
							   d->features[i]);
		}
	} else if ((n = ut_hash_get(d->nodes, node)) != NULL) {
		int (*fn)(const char *, const char *, xmpp_stanza_t *,
			  const char **, void *) =
		    info ? n->ops.info : n->ops.items;

		xm_elem_set_attr(query, "node", node);
		if (fn != NULL)
			rc = fn(node, xm_iq_request_from(req), query,
				&condition, n->ctx);
	}
	if (rc == 0)
		xm_iq_request_result(req, query);
	else
		xm_iq_request_error(req, "cancel", condition, NULL);
	xmpp_stanza_release(query);
}

static void info_cb(struct xm_iq_request *req, void *ctx)
{
	answer(ctx, req, true);
	xm_iq_request_release(&req);
}

static void items_cb(struct xm_iq_request *req, void *ctx)
{
	answer(ctx, req, false);
	xm_iq_request_release(&req);
}

struct xm_disco *xm_disco_new(struct xm_iq *q, xmpp_ctx_t *sctx,
			      const char *jid, const char *category,
			      const char *type, const char *name)
{
	struct xm_disco *d = xcalloc(1, sizeof(*d));

	if (xm_iq_register(q, XM_IQ_GET, XM_NS_DISCO_INFO, info_cb, d) < 0) {
		free(d);
		return NULL;
	}
	if (xm_iq_register(q, XM_IQ_GET, XM_NS_DISCO_ITEMS, items_cb, d) < 0) {
		xm_iq_unregister(q, XM_IQ_GET, XM_NS_DISCO_INFO);
		free(d);
		return NULL;
	}
	d->sctx = sctx;
	d->jid = xstrdup(jid);
	d->category = xstrdup(category);
	d->type = xstrdup(type);
	d->name = xstrdup_null(name);
	d->nodes = ut_hash_new();
	return d;
}

void xm_disco_free(struct xm_disco **dp, struct xm_iq *q)
{
	struct xm_disco *d = *dp;
	struct ut_hash_iter it;
	const char *key;
	void *value;

	if (d == NULL)
		return;
	*dp = NULL;
	if (q != NULL) {
		xm_iq_unregister(q, XM_IQ_GET, XM_NS_DISCO_INFO);
		xm_iq_unregister(q, XM_IQ_GET, XM_NS_DISCO_ITEMS);
	}
	ut_hash_iter_init(&it, d->nodes);
	while (ut_hash_iter_next(&it, &key, &value))
		free(value);
	ut_hash_free(&d->nodes);
	for (size_t i = 0; i < d->n_features; i++)
		free(d->features[i]);
	free(d->features);
	free(d->jid);
	free(d->category);
	free(d->type);
	free(d->name);
	free(d);
}

int xm_disco_add_feature(struct xm_disco *d, const char *var)
{
	if (strcmp(var, XM_NS_DISCO_INFO) == 0 || strcmp(var, XM_NS_PING) == 0)
		return -1;
	for (size_t i = 0; i < d->n_features; i++) {
		if (strcmp(d->features[i], var) == 0)
			return -1;
	}
	if (d->n_features == d->cap_features) {
		d->cap_features = d->cap_features * 2 + 4;
		d->features = xreallocarray(d->features, d->cap_features,
					    sizeof(*d->features));
	}
	d->features[d->n_features++] = xstrdup(var);
	return 0;
}

void xm_disco_remove_feature(struct xm_disco *d, const char *var)
{
	for (size_t i = 0; i < d->n_features; i++) {
		if (strcmp(d->features[i], var) != 0)
			continue;
		free(d->features[i]);
		memmove(&d->features[i], &d->features[i + 1],
			(d->n_features - i - 1) * sizeof(*d->features));
		d->n_features--;
		return;
	}
}

int xm_disco_register_node(struct xm_disco *d, const char *node,
			   const struct xm_disco_node_ops *ops, void *ctx)
{
	struct xm_disco_node *n;

	if (ut_hash_get(d->nodes, node) != NULL)
		return -1;
	n = xmalloc(sizeof(*n));
	n->ops = *ops;
	n->ctx = ctx;
	ut_hash_put(d->nodes, node, n);
	return 0;
}

void xm_disco_unregister_node(struct xm_disco *d, const char *node)
{
	free(ut_hash_remove(d->nodes, node));
}
