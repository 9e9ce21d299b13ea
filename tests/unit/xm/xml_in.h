#ifndef XML_IN_H
#define XML_IN_H

/*
 * Test helper: one stanza from XML text, parsed by xm_parser as the
 * component would receive it (namespaces resolved the same way). Included
 * by one test file each (everything is static).
 */
#include <stdlib.h>
#include <string.h>

#include "xm_parser.h"
#include "xm_stanza.h"

#define XML_IN_HEADER                                                          \
	"<stream:stream xmlns='jabber:component:accept' "                      \
	"xmlns:stream='http://etherx.jabber.org/streams'>"

static inline void xml_in_keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **kept = ctx;

	if (*kept != NULL)
		xmpp_stanza_release(*kept);
	*kept = xmpp_stanza_clone(st);
}

/* The last stanza in xml, or NULL when it does not parse. The caller
   releases it. */
static inline xmpp_stanza_t *xml_in(xmpp_ctx_t *sctx, const char *xml)
{
	xmpp_stanza_t *kept = NULL;
	struct xm_parser_callbacks cb = {.stanza = xml_in_keep_cb};
	struct xm_parser *p = xm_parser_new(sctx, 1 << 22, 64, &cb, &kept);
	const char *err;

	if (xm_parser_feed(p, XML_IN_HEADER, strlen(XML_IN_HEADER), &err) < 0 ||
	    xm_parser_feed(p, xml, strlen(xml), &err) < 0) {
		if (kept != NULL)
			xmpp_stanza_release(kept);
		kept = NULL;
	}
	xm_parser_free(&p);
	return kept;
}

/* The stanza as text (malloc'ed). */
static inline char *xml_out(xmpp_stanza_t *st)
{
	return xm_stanza_to_text(st, NULL);
}

#endif
