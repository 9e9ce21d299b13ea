/*
 * The component's IQ side: its IQ engine (handlers, pending requests,
 * outbound calls), service discovery, ad-hoc commands and the built-in
 * XEP-0199 ping, and the routing of inbound <iq/>s between the outbox's
 * confirmation pings and the engine.
 */
#include <stdlib.h>
#include <string.h>

#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_accept.h"
#include "xm_component_int.h"
#include "xm_jid.h"
#include "xm_stanza.h"

static int iq_send(xmpp_stanza_t *stanza, void *ctx)
{
	return xm_component_send(ctx, stanza, 0);
}

/* XEP-0199: a ping to any JID in our domain gets an empty result. */
static void ping_cb(struct xm_iq_request *req, void *ctx)
{
	struct xm_component *c = ctx;
	const char *to = xm_iq_request_to(req);

	if (to == NULL || xm_jid_domain_is(to, c->jid))
		xm_iq_request_result(req, NULL);
	else
		xm_iq_request_error(req, "cancel", "service-unavailable", NULL);
	xm_iq_request_release(&req);
}

void xm_component__iq_init(struct xm_component *c,
			   const struct xm_component_settings *set)
{
	int rc;

	c->iq = xm_iq_new(c->loop, c->sctx, &set->iq, iq_send, c);
	c->open_handles++;
	rc = xm_iq_register(c->iq, XM_IQ_GET, XM_NS_PING, ping_cb, c);
	ut_assert(rc == 0);
	c->disco =
	    xm_disco_new(c->iq, c->sctx, c->jid, "gateway", "smtp", "Mail");
	ut_assert(c->disco != NULL);
	c->adhoc = xm_adhoc_new(c->loop, c->sctx, c->iq, c->disco, c->jid,
				&set->adhoc);
	ut_assert(c->adhoc != NULL);
	c->open_handles++;
}

void xm_component__iq_close(struct xm_component *c)
{
	/* The ad-hoc helper and discovery unregister from a live engine. */
	xm_adhoc_close(&c->adhoc, c->iq, c->disco, xm_component__child_closed,
		       c);
	xm_disco_free(&c->disco, c->iq);
	xm_iq_close(&c->iq, xm_component__child_closed, c);
}

void xm_component__handle_iq(struct xm_component *c, xmpp_stanza_t *iq)
{
	const char *type = xmpp_stanza_get_type(iq);

	if (type != NULL &&
	    (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)) {
		/* Never answered; confirmation pings are the outbox's. */
		if (xm_component__ping_reply(c, iq) ||
		    xm_iq_dispatch(c->iq, iq))
			return;
		if (ut_log_enabled(UT_LOG_DEBUG)) {
			const char *from = xmpp_stanza_get_from(iq);
			char *clean = ut_utf8_clean_str(
			    from, from != NULL ? strlen(from) : 0,
			    UT_CLEAN_ONELINE, 128);

			xm_log(UT_LOG_DEBUG,
			       "dropping an iq %s from %s that answers nothing "
			       "we sent",
			       type, clean);
			free(clean);
		}
		return;
	}
	if (type == NULL ||
	    (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) {
		if (ut_log_enabled(UT_LOG_DEBUG))
			xm_log(UT_LOG_DEBUG, "ignoring an iq of type '%s'",
			       type != NULL ? type : "(none)");
		return;
	}
	if (!xm_accept_iq_answerable(iq)) {
		c->stats.dropped_in++;
		xm_component__log_drop(c, iq,
				       "id, from or to too long to answer", 0);
		return;
	}
	/* Every other get/set gets exactly one answer. */
	xm_iq_dispatch(c->iq, iq);
}
