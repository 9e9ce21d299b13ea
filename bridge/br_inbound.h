#ifndef BR_INBOUND_H
#define BR_INBOUND_H

/*
 * Inbound XMPP: what the XMPP server hands the component (users' presence
 * forwarded by XEP-0356, and whatever users send to the component), routed
 * to the bridge's parts. Loop thread only.
 *
 * - Presence of a user of a served XMPP domain (from the server, so the
 *   'from' is the user's own): available or unavailable goes to the router.
 *   Presence from anyone else is ignored.
 * Nothing else is acted on yet: the component answers an unhandled IQ
 * get/set with service-unavailable, and other messages are dropped.
 */

#include <stdbool.h>
#include <strophe.h>

#include "br_config.h"
#include "br_router.h"

/* Returns true when the stanza was handled (see xm_component.h). */
bool br_inbound_stanza(const struct br_config *cfg, struct br_router *router,
		       xmpp_stanza_t *stanza);

#endif
