/*
 * XEP-0100's jabber:iq:gateway on the component JID: the prompt (get) and
 * the translation of what a user typed into a JID (set).
 */
#include "xm_gateway.h"

#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_stanza.h"

struct xm_gateway {
	xmpp_ctx_t *sctx;
	char *jid, *desc, *prompt_label;
	xm_gateway_allowed_fn *allowed;
	xm_gateway_translate_fn *translate;
	void *ctx;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Checks 1 and 2 of the header; false when req was answered. */
static bool admitted(struct xm_gateway *g, struct xm_iq_request *req)
{
	const char *to = xm_iq_request_to(req);
	const char *from = xm_iq_request_from(req);

	if (to != NULL && !xm_jid_equal(to, g->jid)) {
		xm_iq_request_error(req, "cancel", "service-unavailable", NULL);
		return false;
	}
	if (from == NULL || !g->allowed(from, g->ctx)) {
		xm_iq_request_error(req, "auth", "forbidden", NULL);
		return false;
	}
	return true;
}

static void get_cb(struct xm_iq_request *req, void *ctx)
{
	struct xm_gateway *g = ctx;

	if (admitted(g, req)) {
		xmpp_stanza_t *q = xm_elem_new(g->sctx, "query", XM_NS_GATEWAY);

		xm_elem_add_text_child(q, "desc", g->desc);
		xm_elem_add_text_child(q, "prompt", g->prompt_label);
		xm_iq_request_result(req, q);
		xmpp_stanza_release(q);
	}
	xm_iq_request_release(&req);
}

/* The set, once admitted. */
static void translate(struct xm_gateway *g, struct xm_iq_request *req)
{
	/* The parser puts no xmlns on children that inherit it. */
	char *text =
	    xm_elem_child_text(xm_iq_request_payload(req), "prompt", NULL);
	const char *reason = NULL;
	char *start, *jid = NULL;
	size_t len;

	if (text == NULL) {
		xm_iq_request_error(req, "modify", "bad-request",
				    "No <prompt/> in the query.");
		return;
	}
	start = text;
	len = strlen(text);
	while (len > 0 && is_space(start[len - 1]))
		len--;
	while (len > 0 && is_space(*start)) {
		start++;
		len--;
	}
	start[len] = '\0';
	if (len == 0) {
		xm_iq_request_error(req, "modify", "not-acceptable",
				    "Give an address.");
	} else if (len > XM_GATEWAY_PROMPT_MAX) {
		xm_iq_request_error(req, "modify", "not-acceptable",
				    "Too long.");
	} else if (g->translate(start, &jid, &reason, g->ctx) < 0) {
		xm_iq_request_error(req, "modify", "not-acceptable", reason);
	} else {
		xmpp_stanza_t *q = xm_elem_new(g->sctx, "query", XM_NS_GATEWAY);

		ut_assert(jid != NULL);
		xm_elem_add_text_child(q, "jid", jid);
		xm_iq_request_result(req, q);
		xmpp_stanza_release(q);
	}
	free(jid);
	free(text);
}

static void set_cb(struct xm_iq_request *req, void *ctx)
{
	struct xm_gateway *g = ctx;

	if (admitted(g, req))
		translate(g, req);
	xm_iq_request_release(&req);
}

int xm_gateway_register(struct xm_iq *q, struct xm_disco *d, xmpp_ctx_t *sctx,
			const char *jid, const char *desc,
			const char *prompt_label,
			xm_gateway_allowed_fn *allowed,
			xm_gateway_translate_fn *translate_fn, void *ctx,
			struct xm_gateway **g_r)
{
	struct xm_gateway *g = xcalloc(1, sizeof(*g));

	*g_r = NULL;
	if (xm_iq_register(q, XM_IQ_GET, XM_NS_GATEWAY, get_cb, g) < 0) {
		free(g);
		return -1;
	}
	if (xm_iq_register(q, XM_IQ_SET, XM_NS_GATEWAY, set_cb, g) < 0) {
		xm_iq_unregister(q, XM_IQ_GET, XM_NS_GATEWAY);
		free(g);
		return -1;
	}
	if (xm_disco_add_feature(d, XM_NS_GATEWAY) < 0) {
		xm_iq_unregister(q, XM_IQ_GET, XM_NS_GATEWAY);
		xm_iq_unregister(q, XM_IQ_SET, XM_NS_GATEWAY);
		free(g);
		return -1;
	}
	g->sctx = sctx;
	g->jid = xstrdup(jid);
	g->desc = xstrdup(desc);
	g->prompt_label = xstrdup(prompt_label);
	g->allowed = allowed;
	g->translate = translate_fn;
	g->ctx = ctx;
	*g_r = g;
	return 0;
}

void xm_gateway_free(struct xm_gateway **gp, struct xm_iq *q,
		     struct xm_disco *d)
{
	struct xm_gateway *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	if (q != NULL) {
		xm_iq_unregister(q, XM_IQ_GET, XM_NS_GATEWAY);
		xm_iq_unregister(q, XM_IQ_SET, XM_NS_GATEWAY);
	}
	if (d != NULL)
		xm_disco_remove_feature(d, XM_NS_GATEWAY);
	free(g->jid);
	free(g->desc);
	free(g->prompt_label);
	free(g);
}
