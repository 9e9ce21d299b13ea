#ifndef XM_PARSER_H
#define XM_PARSER_H

/*
 * Incremental XMPP stream parser on expat. Bytes go in as they arrive; each
 * complete top-level child of the stream root comes out as a libstrophe
 * stanza tree. Never waits for more input than a stanza needs (expat's
 * reparse deferral is off where expat has it).
 *
 * Namespaces are resolved (expat namespace mode): every element carries its
 * local name, and an "xmlns" attribute where its namespace differs from its
 * parent's; prefixes are gone. Top-level stanzas in the stream's default
 * namespace (jabber:component:accept, jabber:client) carry no "xmlns".
 *
 * Refused (feed returns -1): ill-formed XML, any DOCTYPE/DTD, entity
 * declarations or references other than the five predefined ones and
 * character references, processing instructions after the XML declaration,
 * a stanza larger than max_stanza_bytes, nesting deeper than 64.
 *
 * Not thread-safe; one parser per stream. Callbacks fire synchronously from
 * xm_parser_feed(); they must not free or reset the parser (set a flag and do
 * it after feed returns).
 */

#include <stddef.h>
#include <strophe.h>

struct xm_parser;

struct xm_parser_callbacks {
	/* The stream root opened. attrs: name, value, ..., NULL (local names;
	   "xmlns" is not included). */
	void (*stream_start)(void *ctx, const char *name, const char **attrs);
	/* A complete top-level element. The parser releases it after the
	   callback returns: xmpp_stanza_clone() to keep it. */
	void (*stanza)(void *ctx, xmpp_stanza_t *stanza);
	/* The stream root closed (</stream:stream>). */
	void (*stream_end)(void *ctx);
};

/* sctx is only used to allocate stanzas. Always succeeds (aborts on OOM). */
struct xm_parser *xm_parser_new(xmpp_ctx_t *sctx, size_t max_stanza_bytes,
				const struct xm_parser_callbacks *cb,
				void *ctx);
/*
 * Returns 0, or -1 with a static description in *error_r. After -1 the
 * parser ignores further input until xm_parser_reset().
 */
int xm_parser_feed(struct xm_parser *p, const char *data, size_t len,
		   const char **error_r);
/* Ready for a new stream (after a reconnect). */
void xm_parser_reset(struct xm_parser *p);
void xm_parser_free(struct xm_parser **p);

#endif
