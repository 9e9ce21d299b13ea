/*
 * The incremental XMPP stream parser: expat in namespace mode, building
 * libstrophe stanza trees. See xm_parser.h for the contract.
 *
 * Offsets: expat counts bytes from the start of the stream
 * (XML_GetCurrentByteIndex). The parser remembers where the current
 * stanza began (stanza_start), where the last complete piece of the stream
 * ended (boundary: the end of the stream header, of the last stanza or of
 * white space between stanzas) and where the last event expat reported
 * ended (progress). Input is fed to expat in slices of at most
 * FEED_SLICE_BYTES; after each slice a stanza that outgrew the limit
 * starts being skipped, and the bytes expat has not reported yet (an
 * unfinished token it must buffer) are checked against the token cap, so
 * expat never buffers much more than max_stanza_bytes + XM_PARSER_TOKEN_MARGIN.
 *
 * Skipping a stanza over a limit is in xm_parser_skip.c.
 */
#include <stdlib.h>
#include <string.h>

#include "ut_buf.h"
#include "ut_xalloc.h"
#include "xm_parser.h"
#include "xm_parser_int.h"
#include "xm_stanza.h"

#define FEED_SLICE_BYTES 65536
/* The stream header may always be this long, whatever max_stanza_bytes. */
#define HEADER_MIN_LIMIT_BYTES 16384
#define XML_NS		       "http://www.w3.org/XML/1998/namespace"
#define XMLNS_NS	       "http://www.w3.org/2000/xmlns/"

static bool streq_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Splits an expat name "uri<SEP>local" into its parts; *ns_r is a copy or
   NULL when the name has no namespace, *local_r points into name. */
static void split_name(const char *name, char **ns_r, const char **local_r)
{
	const char *sep = strchr(name, NS_SEP);
	if (sep == NULL) {
		*ns_r = NULL;
		*local_r = name;
		return;
	}
	*ns_r = xstrndup(name, (size_t)(sep - name));
	*local_r = sep + 1;
}

/*
 * The attribute name to keep for an expat attribute name, or NULL to drop
 * it: attributes in the XML namespace keep their "xml:" prefix; attributes
 * in any other namespace are dropped, so that e.g. x:to can never stand in
 * for 'to'. Returns an xmalloc'ed string.
 */
static char *attr_name(const char *name)
{
	char *ns;
	const char *local;
	split_name(name, &ns, &local);
	if (ns == NULL)
		return xstrdup(local);
	char *ret = strcmp(ns, XML_NS) == 0 ? xasprintf("xml:%s", local) : NULL;
	free(ns);
	return ret;
}

void xm_parser__drop_partial(struct xm_parser *p)
{
	if (p->stack[0] != NULL)
		xmpp_stanza_release(p->stack[0]);
	for (unsigned i = 0; i < p->max_depth; i++) {
		p->stack[i] = NULL;
		ut_free(&p->ns_stack[i]);
	}
	ut_buf_reset(&p->text);
}

static void flush_text(struct xm_parser *p, unsigned level)
{
	if (p->text.len == 0)
		return;
	xmpp_stanza_t *t = xm_stanza_alloc(p->sctx);
	xm_strophe_check(
	    xmpp_stanza_set_text_with_size(t, p->text.data, p->text.len));
	xm_strophe_check(xmpp_stanza_add_child(p->stack[level], t));
	xmpp_stanza_release(t);
	ut_buf_reset(&p->text);
}

static uint64_t header_limit(const struct xm_parser *p)
{
	return p->max_stanza_bytes > HEADER_MIN_LIMIT_BYTES
		   ? p->max_stanza_bytes
		   : HEADER_MIN_LIMIT_BYTES;
}

static void root_start(struct xm_parser *p, const char *name,
		       const char **attrs)
{
	char *ns;
	const char *local;
	size_t n = 0;
	if (xm_parser__event_end(p) > header_limit(p)) {
		xm_parser__fail(p, "stream header too large");
		return;
	}
	while (attrs[2 * n] != NULL)
		n++;
	char **names = xcalloc(n + 1, sizeof(*names));
	const char **list = xcalloc(2 * n + 1, sizeof(*list));
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		names[i] = attr_name(attrs[2 * i]);
		if (names[i] == NULL)
			continue;
		list[out++] = names[i];
		list[out++] = attrs[2 * i + 1];
	}
	list[out] = NULL;

	split_name(name, &ns, &local);
	free(ns);
	free(p->stream_ns);
	p->stream_ns = p->pending_default_ns;
	p->pending_default_ns = NULL;
	p->depth = 1;
	p->boundary = xm_parser__event_end(p);
	if (p->cb.stream_start != NULL)
		p->cb.stream_start(p->ctx, local, list);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(list);
}

static void start_cb(void *data, const char *name, const char **attrs)
{
	struct xm_parser *p = data;
	if (p->failed)
		return;
	p->progress = xm_parser__event_end(p);
	if (p->depth == 0) {
		root_start(p, name, attrs);
		return;
	}
	if (p->skipping) {
		xm_parser__skip_push(p);
		return;
	}
	unsigned level = p->depth - 1; /* stack index of the new element */
	if (level == 0)
		p->stanza_start = xm_parser__event_start(p);
	if (level >= p->max_depth) {
		xm_parser__begin_skip(p, XM_PARSER_DROP_TOO_DEEP);
		xm_parser__skip_push(p);
		return;
	}

	char *ns;
	const char *local;
	split_name(name, &ns, &local);
	if (ns != NULL &&
	    (strcmp(ns, XML_NS) == 0 || strcmp(ns, XMLNS_NS) == 0)) {
		/* Such an element (<xml:x/>) could not be written back:
		   no other namespace may be bound to these URIs. */
		free(ns);
		xm_parser__fail(p, "element in a reserved namespace");
		return;
	}
	if (xm_parser__event_end(p) - p->stanza_start > p->max_stanza_bytes) {
		if (level == 0)
			xm_parser__begin_skip_start(
			    p, local,
			    streq_null(ns, p->stream_ns)
				? NULL
				: (ns != NULL ? ns : ""),
			    attrs);
		else
			xm_parser__begin_skip(p, XM_PARSER_DROP_TOO_LARGE);
		free(ns);
		xm_parser__skip_push(p);
		return;
	}
	if (level > 0)
		flush_text(p, level - 1);

	xmpp_stanza_t *el = xm_stanza_alloc(p->sctx);
	xm_strophe_check(xmpp_stanza_set_name(el, local));
	const char *parent_ns =
	    level == 0 ? p->stream_ns : p->ns_stack[level - 1];
	if (!streq_null(ns, parent_ns))
		xm_strophe_check(xmpp_stanza_set_ns(el, ns != NULL ? ns : ""));
	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		char *an = attr_name(attrs[i]);
		if (an == NULL)
			continue;
		xm_strophe_check(
		    xmpp_stanza_set_attribute(el, an, attrs[i + 1]));
		free(an);
	}
	if (level > 0) {
		xm_strophe_check(
		    xmpp_stanza_add_child(p->stack[level - 1], el));
		xmpp_stanza_release(el);
	}
	p->stack[level] = el;
	p->ns_stack[level] = ns;
	p->depth++;
}

static void end_cb(void *data, const char *name)
{
	struct xm_parser *p = data;
	(void)name;
	if (p->failed || p->depth == 0)
		return;
	p->progress = xm_parser__event_end(p);
	p->depth--;
	if (p->depth == 0) {
		p->boundary = xm_parser__event_end(p);
		if (p->cb.stream_end != NULL)
			p->cb.stream_end(p->ctx);
		return;
	}
	if (p->skipping) {
		if (p->depth == 1)
			xm_parser__end_skip(p);
		return;
	}
	unsigned level = p->depth - 1;
	flush_text(p, level);
	ut_free(&p->ns_stack[level]);
	if (level > 0) {
		p->stack[level] = NULL;
		return;
	}
	uint64_t end = xm_parser__event_end(p);
	if (end - p->stanza_start > p->max_stanza_bytes) {
		/* The end tag itself went over the limit. */
		xm_parser__begin_skip(p, XM_PARSER_DROP_TOO_LARGE);
		xm_parser__end_skip(p);
		return;
	}
	p->boundary = end;
	xmpp_stanza_t *st = p->stack[0];
	p->stack[0] = NULL;
	if (p->cb.stanza != NULL)
		p->cb.stanza(p->ctx, st);
	xmpp_stanza_release(st);
}

static void chardata_cb(void *data, const char *s, int len)
{
	struct xm_parser *p = data;
	if (p->failed || len <= 0)
		return;
	p->progress = xm_parser__event_end(p);
	if (p->depth <= 1) {
		/* White space (or stray text, which is ignored) between
		   stanzas: it closes the accounted-for part of the stream. */
		p->boundary = p->progress;
		return;
	}
	if (p->skipping)
		return;
	if (xm_parser__event_end(p) - p->stanza_start > p->max_stanza_bytes) {
		xm_parser__begin_skip(p, XM_PARSER_DROP_TOO_LARGE);
		return;
	}
	ut_buf_append(&p->text, s, (size_t)len);
}

/* Comments are ignored, but they are progress: expat holds none of it. */
static void comment_cb(void *data, const char *text)
{
	struct xm_parser *p = data;
	(void)text;
	if (!p->failed)
		p->progress = xm_parser__event_end(p);
}

static void ns_start_cb(void *data, const char *prefix, const char *uri)
{
	struct xm_parser *p = data;
	if (p->depth != 0 || prefix != NULL)
		return;
	free(p->pending_default_ns);
	p->pending_default_ns =
	    uri != NULL && uri[0] != '\0' ? xstrdup(uri) : NULL;
}

static void doctype_cb(void *data, const char *name, const char *sysid,
		       const char *pubid, int has_internal_subset)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
	xm_parser__fail(data, "DOCTYPE is not allowed");
}

static void entity_decl_cb(void *data, const char *name, int is_param,
			   const char *value, int value_len, const char *base,
			   const char *sysid, const char *pubid,
			   const char *notation)
{
	(void)name, (void)is_param, (void)value, (void)value_len, (void)base;
	(void)sysid, (void)pubid, (void)notation;
	xm_parser__fail(data, "entity declarations are not allowed");
}

static void unparsed_entity_cb(void *data, const char *name, const char *base,
			       const char *sysid, const char *pubid,
			       const char *notation)
{
	(void)name, (void)base, (void)sysid, (void)pubid, (void)notation;
	xm_parser__fail(data, "entity declarations are not allowed");
}

static void notation_cb(void *data, const char *name, const char *base,
			const char *sysid, const char *pubid)
{
	(void)name, (void)base, (void)sysid, (void)pubid;
	xm_parser__fail(data, "notation declarations are not allowed");
}

static int external_entity_cb(XML_Parser xp, const char *context,
			      const char *base, const char *sysid,
			      const char *pubid)
{
	(void)context, (void)base, (void)sysid, (void)pubid;
	/* The handler argument is the parser itself unless set otherwise;
	   the user data holds our parser. */
	xm_parser__fail(XML_GetUserData(xp),
			"external entities are not allowed");
	return XML_STATUS_ERROR;
}

static void skipped_entity_cb(void *data, const char *name, int is_param)
{
	(void)name, (void)is_param;
	xm_parser__fail(data, "undefined entity");
}

static void pi_cb(void *data, const char *target, const char *pidata)
{
	(void)target, (void)pidata;
	xm_parser__fail(data, "processing instructions are not allowed");
}

static void create_expat(struct xm_parser *p)
{
	/* The encoding given here overrides any declared in the stream:
	   XMPP is UTF-8 only. */
	XML_Parser xp = XML_ParserCreateNS("UTF-8", NS_SEP);
	if (xp == NULL)
		ut_assert_fail(__FILE__, __LINE__, "expat: out of memory");
	p->xp = xp;
	XML_SetUserData(xp, p);
	XML_SetElementHandler(xp, start_cb, end_cb);
	XML_SetCharacterDataHandler(xp, chardata_cb);
	XML_SetCommentHandler(xp, comment_cb);
	XML_SetNamespaceDeclHandler(xp, ns_start_cb, NULL);
	XML_SetStartDoctypeDeclHandler(xp, doctype_cb);
	XML_SetEntityDeclHandler(xp, entity_decl_cb);
	XML_SetUnparsedEntityDeclHandler(xp, unparsed_entity_cb);
	XML_SetNotationDeclHandler(xp, notation_cb);
	XML_SetExternalEntityRefHandler(xp, external_entity_cb);
	XML_SetSkippedEntityHandler(xp, skipped_entity_cb);
	XML_SetProcessingInstructionHandler(xp, pi_cb);
	XML_SetParamEntityParsing(xp, XML_PARAM_ENTITY_PARSING_NEVER);
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
	/* Report every stanza as soon as its last byte is fed. */
	XML_SetReparseDeferralEnabled(xp, XML_FALSE);
#endif
}

struct xm_parser *xm_parser_new(xmpp_ctx_t *sctx, size_t max_stanza_bytes,
				unsigned max_depth,
				const struct xm_parser_callbacks *cb, void *ctx)
{
	ut_assert(max_stanza_bytes > 0 && max_depth > 0);
	struct xm_parser *p = xcalloc(1, sizeof(*p));
	p->sctx = sctx;
	p->max_stanza_bytes = max_stanza_bytes;
	p->max_depth = max_depth;
	p->token_cap = (uint64_t)max_stanza_bytes + XM_PARSER_TOKEN_MARGIN;
	p->skip_depth_cap = p->token_cap / XM_PARSER_SKIP_DEPTH_DIVISOR;
	if (p->skip_depth_cap < max_depth)
		p->skip_depth_cap = max_depth;
	p->stack = xcalloc(max_depth, sizeof(*p->stack));
	p->ns_stack = xcalloc(max_depth, sizeof(*p->ns_stack));
	p->cb = *cb;
	p->ctx = ctx;
	ut_buf_init(&p->text);
	create_expat(p);
	return p;
}

static void clear_state(struct xm_parser *p)
{
	xm_parser__drop_partial(p);
	if (p->skeleton != NULL)
		xmpp_stanza_release(p->skeleton);
	p->skeleton = NULL;
	p->skipping = 0;
	ut_free(&p->stream_ns);
	ut_free(&p->pending_default_ns);
	p->depth = 0;
	p->failed = false;
	p->error = NULL;
	p->fed_bytes = 0;
	p->boundary = 0;
	p->stanza_start = 0;
	p->progress = 0;
}

static int feed_failed(struct xm_parser *p, const char **error_r)
{
	if (!p->failed) {
		p->failed = true;
		p->error = XML_ErrorString(XML_GetErrorCode(p->xp));
		if (p->error == NULL)
			p->error = "XML error";
	}
	xm_parser__drop_partial(p);
	*error_r = p->error;
	return -1;
}

/* After a slice: start skipping a stanza that outgrew the limit, and
   refuse what would make expat buffer too much. */
static const char *check_limits(struct xm_parser *p)
{
	if (p->depth == 0)
		return p->fed_bytes - p->boundary > header_limit(p)
			   ? "stream header too large"
			   : NULL;
	if (!p->skipping && p->depth >= 2 &&
	    p->fed_bytes - p->stanza_start > p->max_stanza_bytes)
		xm_parser__begin_skip(p, XM_PARSER_DROP_TOO_LARGE);
	if (p->fed_bytes - p->progress > p->token_cap)
		return "a single tag or comment is too large";
	return NULL;
}

int xm_parser_feed(struct xm_parser *p, const char *data, size_t len,
		   const char **error_r)
{
	if (p->failed) {
		*error_r = p->error;
		return -1;
	}
	while (len > 0) {
		size_t n = len < FEED_SLICE_BYTES ? len : FEED_SLICE_BYTES;
		if (XML_Parse(p->xp, data, (int)n, XML_FALSE) !=
			XML_STATUS_OK ||
		    p->failed)
			return feed_failed(p, error_r);
		p->fed_bytes += n;
		data += n;
		len -= n;

		const char *error = check_limits(p);
		if (error != NULL) {
			p->failed = true;
			p->error = error;
			return feed_failed(p, error_r);
		}
	}
	return 0;
}

void xm_parser_reset(struct xm_parser *p)
{
	clear_state(p);
	XML_ParserFree(p->xp);
	create_expat(p);
}

void xm_parser_free(struct xm_parser **pp)
{
	struct xm_parser *p = *pp;
	if (p == NULL)
		return;
	*pp = NULL;
	clear_state(p);
	XML_ParserFree(p->xp);
	ut_buf_free(&p->text);
	free(p->stack);
	free(p->ns_stack);
	free(p);
}

const char *xm_parser_drop_reason_str(enum xm_parser_drop_reason reason)
{
	return reason == XM_PARSER_DROP_TOO_DEEP ? "too deeply nested"
						 : "stanza too large";
}
