/*
 * Skip mode of the XMPP stream parser: a stanza over the size or depth
 * limit is freed at once and only a skeleton of its top-level element is
 * kept (name, namespace, id, type, from, to); its start and end tags then
 * just move the depth until the stanza's end tag, where stanza_dropped
 * fires. See xm_parser.h for the contract.
 */
#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"
#include "xm_parser_int.h"
#include "xm_stanza.h"

/* Copies one attribute to the skeleton if it is one it keeps. */
static void skeleton_attr(xmpp_stanza_t *sk, const char *name,
			  const char *value)
{
	static const char *const kept[] = {"id", "type", "from", "to"};

	if (value == NULL || strlen(value) > XM_PARSER_SKELETON_ATTR_MAX)
		return;
	for (size_t i = 0; i < UT_N_ELEMENTS(kept); i++) {
		if (strcmp(name, kept[i]) == 0) {
			xm_strophe_check(
			    xmpp_stanza_set_attribute(sk, name, value));
			return;
		}
	}
}

/* An element named local, with xmlns=ns unless ns is NULL. */
static xmpp_stanza_t *skeleton_new(struct xm_parser *p, const char *local,
				   const char *ns)
{
	xmpp_stanza_t *sk = xm_stanza_alloc(p->sctx);

	xm_strophe_check(xmpp_stanza_set_name(sk, local));
	if (ns != NULL)
		xm_strophe_check(xmpp_stanza_set_ns(sk, ns));
	return sk;
}

void xm_parser__begin_skip(struct xm_parser *p, enum xm_parser_drop_reason why)
{
	static const char *const kept[] = {"id", "type", "from", "to"};
	xmpp_stanza_t *st = p->stack[0];

	ut_assert(st != NULL && !p->skipping);
	p->skeleton =
	    skeleton_new(p, xmpp_stanza_get_name(st), xmpp_stanza_get_ns(st));
	for (size_t i = 0; i < UT_N_ELEMENTS(kept); i++)
		skeleton_attr(p->skeleton, kept[i],
			      xmpp_stanza_get_attribute(st, kept[i]));
	p->skipping = why;
	xm_parser__drop_partial(p);
}

void xm_parser__skip_push(struct xm_parser *p)
{
	p->depth++;
	if (p->depth - 1 > p->skip_depth_cap)
		xm_parser__fail(p, "elements nested too deeply even to skip");
}

void xm_parser__end_skip(struct xm_parser *p)
{
	xmpp_stanza_t *sk = p->skeleton;
	enum xm_parser_drop_reason why = p->skipping;

	p->boundary = xm_parser__event_end(p);
	p->skeleton = NULL;
	p->skipping = 0;
	if (p->cb.stanza_dropped != NULL)
		p->cb.stanza_dropped(p->ctx, sk, why,
				     p->boundary - p->stanza_start);
	xmpp_stanza_release(sk);
}

void xm_parser__begin_skip_start(struct xm_parser *p, const char *local,
				 const char *ns, const char **attrs)
{
	p->skeleton = skeleton_new(p, local, ns);
	/* Attributes without a namespace come without a separator. */
	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		if (strchr(attrs[i], NS_SEP) == NULL)
			skeleton_attr(p->skeleton, attrs[i], attrs[i + 1]);
	}
	p->skipping = XM_PARSER_DROP_TOO_LARGE;
}
