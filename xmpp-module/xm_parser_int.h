#ifndef XM_PARSER_INT_H
#define XM_PARSER_INT_H

/*
 * Private to xm_parser.c (events, tree building, feeding) and
 * xm_parser_skip.c (skipping stanzas over a limit): the parser's state.
 */

#include <expat.h>
#include <stdbool.h>
#include <stdint.h>

#include "ut_buf.h"
#include "xm_parser.h"

/* Separates namespace URI and local name in expat's names. 0xFF never
   occurs in UTF-8, and expat refuses namespace URIs that contain it. */
#define NS_SEP '\xFF'

struct xm_parser {
	xmpp_ctx_t *sctx;
	size_t max_stanza_bytes;
	unsigned max_depth;
	uint64_t token_cap;	 /* max_stanza_bytes + XM_PARSER_TOKEN_MARGIN */
	uint64_t skip_depth_cap; /* deepest nesting while skipping */
	struct xm_parser_callbacks cb;
	void *ctx;

	XML_Parser xp;
	bool failed;
	const char *error;

	/* Open elements, the stream root included. */
	unsigned depth;
	/* The default namespace declared on the stream root, or NULL. */
	char *stream_ns;
	/* The default namespace declared on the root's start tag, until
	   the root's start handler takes it. */
	char *pending_default_ns;

	/* stack[0] is the stanza being built, stack[i] its open descendant
	   at level i + 1 (borrowed: owned by stack[0]); max_depth entries.
	   ns_stack holds their namespace URIs (NULL: no namespace). */
	xmpp_stanza_t **stack;
	char **ns_stack;
	/* Character data not yet attached to the innermost open element. */
	struct ut_buf text;

	/* The stanza being skipped: its reason (0: not skipping) and the
	   skeleton handed to stanza_dropped. */
	enum xm_parser_drop_reason skipping;
	xmpp_stanza_t *skeleton;

	uint64_t fed_bytes;
	uint64_t boundary;
	uint64_t stanza_start;
	uint64_t progress;
};

/* Where the event expat is reporting ends or starts, in stream bytes. */
static inline uint64_t xm_parser__event_end(struct xm_parser *p)
{
	XML_Index idx = XML_GetCurrentByteIndex(p->xp);
	int count = XML_GetCurrentByteCount(p->xp);
	if (idx < 0)
		return p->fed_bytes;
	return (uint64_t)idx + (uint64_t)(count > 0 ? count : 0);
}

static inline uint64_t xm_parser__event_start(struct xm_parser *p)
{
	XML_Index idx = XML_GetCurrentByteIndex(p->xp);
	return idx < 0 ? p->fed_bytes : (uint64_t)idx;
}

/* Fails the stream (the first error is kept) and stops expat. */
static inline void xm_parser__fail(struct xm_parser *p, const char *error)
{
	if (!p->failed) {
		p->failed = true;
		p->error = error;
	}
	XML_StopParser(p->xp, XML_FALSE);
}

/* Releases the stanza under construction, if any (xm_parser.c). */
void xm_parser__drop_partial(struct xm_parser *p);

/* xm_parser_skip.c. Starts skipping the stanza under construction: keeps
   its skeleton and frees the rest. */
void xm_parser__begin_skip(struct xm_parser *p, enum xm_parser_drop_reason why);
/* Starts skipping a top-level element whose start tag is already over the
   limit: local name, xmlns for the skeleton (NULL: none) and expat's
   attributes. */
void xm_parser__begin_skip_start(struct xm_parser *p, const char *local,
				 const char *ns, const char **attrs);
/* One more open element inside a skipped stanza. */
void xm_parser__skip_push(struct xm_parser *p);
/* The skipped stanza's end tag: report it and go on. */
void xm_parser__end_skip(struct xm_parser *p);

#endif
