#ifndef XM_GATEWAY_H
#define XM_GATEWAY_H

/*
 * XEP-0100 section 6.3, the jabber:iq:gateway protocol, on the component
 * JID: it tells a client what to ask its user for (get) and turns what the
 * user typed into a JID at the component (set). What the prompt means and
 * how it becomes a JID is the registrant's business (the bridge's: an
 * e-mail address becomes its XEP-0106 escaped node at the component).
 *
 * Registering adds the feature jabber:iq:gateway to the component's
 * disco#info (the identity is the one given to xm_disco_new(), e.g.
 * gateway/smtp). Discovery stays public: anyone may see the feature.
 *
 * Each IQ get or set with <query xmlns='jabber:iq:gateway'/> is answered
 * at once, checked in this order:
 * 1. addressed to another JID than the component's (e.g. user@component):
 *    cancel/service-unavailable, as for an IQ nobody handles;
 * 2. no 'from', or the allowed callback says no: auth/forbidden (nothing
 *    is translated);
 * 3. get: <query><desc>desc</desc><prompt>prompt_label</prompt></query>;
 * 4. set: the text of the first <prompt/> child of the query (its text
 *    children joined), surrounding white space (space, tab, CR, LF) cut:
 *    - no <prompt/>: modify/bad-request;
 *    - empty after the cut: modify/not-acceptable "Give an address.";
 *    - more than XM_GATEWAY_PROMPT_MAX bytes: modify/not-acceptable
 *      "Too long.";
 *    - else the translate callback gets it (any UTF-8 the XML parser
 *      accepted: untrusted, it must validate it): 0 with a JID answers
 *      <query><jid>JID</jid></query>; -1 answers modify/not-acceptable with
 *      its text (or none when it gives NULL).
 *
 * Loop thread only (the IQ engine's). Callbacks fire from the engine's
 * dispatch, synchronously, and must answer at once.
 */

#include <stdbool.h>
#include <strophe.h>

#include "xm_disco.h"
#include "xm_iq.h"

#define XM_NS_GATEWAY "jabber:iq:gateway"
/* Bytes of a prompt (after the white space cut) given to translate. */
#define XM_GATEWAY_PROMPT_MAX 1024

struct xm_gateway;

/* May requester (the asking full JID, never NULL) use the gateway? */
typedef bool xm_gateway_allowed_fn(const char *requester, void *ctx);
/*
 * Translates prompt (NUL-terminated, 1..XM_GATEWAY_PROMPT_MAX bytes, no
 * surrounding white space) for requester's request. Returns 0 with a JID
 * in *jid_r (xmalloc'ed, the gateway frees it; it must be clean UTF-8), or
 * -1 with a static English reason in *text_r (may be left NULL) for the
 * not-acceptable error.
 */
typedef int xm_gateway_translate_fn(const char *prompt, char **jid_r,
				    const char **text_r, void *ctx);

/*
 * Registers the get and set handlers for jabber:iq:gateway on q and the
 * feature on d, for the component JID jid; jid, desc (the text shown to
 * the user) and prompt_label (the name of the item asked for) are copied.
 * Returns 0 with *g_r, or -1 (nothing registered) when q has handlers for
 * the namespace or d lists the feature already.
 */
int xm_gateway_register(struct xm_iq *q, struct xm_disco *d, xmpp_ctx_t *sctx,
			const char *jid, const char *desc,
			const char *prompt_label,
			xm_gateway_allowed_fn *allowed,
			xm_gateway_translate_fn *translate, void *ctx,
			struct xm_gateway **g_r);
/*
 * Unregisters from q and d (pass NULL for one closed already: after
 * xm_component_close() pass NULL for both, as no callback fires after
 * the engine is closed), frees, sets *g to NULL. No-op on NULL.
 */
void xm_gateway_free(struct xm_gateway **g, struct xm_iq *q,
		     struct xm_disco *d);

#endif
