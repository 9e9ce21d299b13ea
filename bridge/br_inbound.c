#include <stdlib.h>
#include <string.h>

#include "br_inbound.h"
#include "br_jidmap.h"
#include "xm_jid.h"

static bool presence(const struct br_config *cfg, struct br_router *router,
		     xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	const char *from = xmpp_stanza_get_from(st);
	bool available = type == NULL;

	if (from == NULL || (!available && strcmp(type, "unavailable") != 0))
		return true; /* subscriptions, probes, errors: not ours */
	char *bare = xm_jid_bare(from);
	char *domain = NULL;
	if (bare != NULL && xm_jid_split(bare, NULL, &domain, NULL) == 0 &&
	    br_jidmap_serves(cfg, domain))
		br_router_presence(router, bare, available);
	free(domain);
	free(bare);
	return true;
}

bool br_inbound_stanza(const struct br_config *cfg, struct br_router *router,
		       xmpp_stanza_t *stanza)
{
	const char *name = xmpp_stanza_get_name(stanza);

	if (name != NULL && strcmp(name, "presence") == 0)
		return presence(cfg, router, stanza);
	return false;
}
