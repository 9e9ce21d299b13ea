/*
 * Stanza helpers over libstrophe. Serialisation is done here rather than by
 * xmpp_stanza_to_text(): libstrophe 0.12.2 writes tab, CR and LF raw inside
 * attribute values (a parser turns them into spaces) and CR raw in text (a
 * parser turns CRLF into LF), so values would not survive a round trip. Its
 * xmpp_message_set_body() also does not replace an existing body.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_buf.h"
#include "ut_random.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

#define XMPP_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

void xm_strophe_check(int rc)
{
	if (rc == XMPP_EMEM)
		ut_assert_fail(__FILE__, __LINE__, "libstrophe: out of memory");
	ut_assert(rc == XMPP_EOK);
}

xmpp_stanza_t *xm_stanza_alloc(xmpp_ctx_t *ctx)
{
	xmpp_stanza_t *st = xmpp_stanza_new(ctx);
	if (st == NULL)
		ut_assert_fail(__FILE__, __LINE__, "libstrophe: out of memory");
	return st;
}

static xmpp_stanza_t *text_new(xmpp_ctx_t *ctx, const char *text)
{
	xmpp_stanza_t *t = xm_stanza_alloc(ctx);
	xm_strophe_check(xmpp_stanza_set_text(t, text));
	return t;
}

xmpp_stanza_t *xm_elem_new(xmpp_ctx_t *ctx, const char *name, const char *ns)
{
	xmpp_stanza_t *el = xm_stanza_alloc(ctx);
	xm_strophe_check(xmpp_stanza_set_name(el, name));
	if (ns != NULL)
		xm_strophe_check(xmpp_stanza_set_ns(el, ns));
	return el;
}

void xm_elem_adopt(xmpp_stanza_t *parent, xmpp_stanza_t *child)
{
	/* do_clone = 0: the parent takes over the caller's reference. */
	xm_strophe_check(xmpp_stanza_add_child_ex(parent, child, 0));
}

xmpp_stanza_t *xm_elem_add_text_child(xmpp_stanza_t *parent, const char *name,
				      const char *text)
{
	xmpp_ctx_t *ctx = xmpp_stanza_get_context(parent);
	xmpp_stanza_t *el = xm_elem_new(ctx, name, NULL);
	if (text != NULL)
		xm_elem_adopt(el, text_new(ctx, text));
	xm_elem_adopt(parent, el);
	return el;
}

void xm_elem_set_attr(xmpp_stanza_t *elem, const char *name, const char *value)
{
	if (value == NULL) {
		/* Removing an absent attribute is not an error. */
		(void)xmpp_stanza_del_attribute(elem, name);
		return;
	}
	xm_strophe_check(xmpp_stanza_set_attribute(elem, name, value));
}

xmpp_stanza_t *xm_message_new(xmpp_ctx_t *ctx, const char *type,
			      const char *from, const char *to, const char *id)
{
	xmpp_stanza_t *msg = xm_elem_new(ctx, "message", NULL);
	if (type != NULL)
		xm_elem_set_attr(msg, "type", type);
	if (from != NULL)
		xm_elem_set_attr(msg, "from", from);
	if (to != NULL)
		xm_elem_set_attr(msg, "to", to);
	if (id != NULL)
		xm_elem_set_attr(msg, "id", id);
	return msg;
}

static bool is_named(xmpp_stanza_t *st, const char *name, const char *ns)
{
	if (!xmpp_stanza_is_tag(st))
		return false;
	const char *n = xmpp_stanza_get_name(st);
	if (n == NULL || strcmp(n, name) != 0)
		return false;
	if (ns == NULL)
		return true;
	const char *sns = xmpp_stanza_get_ns(st);
	return sns != NULL && strcmp(sns, ns) == 0;
}

void xm_message_set_body(xmpp_stanza_t *msg, const char *text)
{
	if (text == NULL)
		text = "";
	xmpp_stanza_t *body = NULL;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(msg); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		if (is_named(c, "body", NULL)) {
			body = c;
			break;
		}
	}
	if (body == NULL) {
		xm_elem_add_text_child(msg, "body", text);
		return;
	}
	/* libstrophe cannot remove children: the first text child takes the
	   new text and any further ones are emptied. */
	bool set = false;
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(body); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_text(c))
			continue;
		xm_strophe_check(xmpp_stanza_set_text(c, set ? "" : text));
		set = true;
	}
	if (!set)
		xm_elem_adopt(body,
			      text_new(xmpp_stanza_get_context(msg), text));
}

char *xm_elem_child_text(xmpp_stanza_t *elem, const char *name, const char *ns)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(elem); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		if (!is_named(c, name, ns))
			continue;
		struct ut_buf b = UT_BUF_INIT;
		for (xmpp_stanza_t *t = xmpp_stanza_get_children(c); t != NULL;
		     t = xmpp_stanza_get_next(t)) {
			const char *s;
			if (xmpp_stanza_is_text(t) &&
			    (s = xmpp_stanza_get_text_ptr(t)) != NULL)
				ut_buf_append_str(&b, s);
		}
		return ut_buf_steal(&b);
	}
	return NULL;
}

/* A reply skeleton: same name and id, to/from swapped. */
static xmpp_stanza_t *reply_new(xmpp_ctx_t *ctx, xmpp_stanza_t *st,
				const char *name, const char *type)
{
	xmpp_stanza_t *r = xm_elem_new(ctx, name, NULL);
	xm_elem_set_attr(r, "type", type);
	const char *id = xmpp_stanza_get_id(st);
	const char *from = xmpp_stanza_get_from(st);
	const char *to = xmpp_stanza_get_to(st);
	if (id != NULL)
		xm_elem_set_attr(r, "id", id);
	if (from != NULL)
		xm_elem_set_attr(r, "to", from);
	if (to != NULL)
		xm_elem_set_attr(r, "from", to);
	return r;
}

xmpp_stanza_t *xm_iq_result_new(xmpp_ctx_t *ctx, xmpp_stanza_t *iq)
{
	return reply_new(ctx, iq, "iq", "result");
}

xmpp_stanza_t *xm_error_reply_new(xmpp_ctx_t *ctx, xmpp_stanza_t *stanza,
				  const char *type, const char *condition,
				  const char *text)
{
	const char *name = xmpp_stanza_get_name(stanza);
	xmpp_stanza_t *r =
	    reply_new(ctx, stanza, name != NULL ? name : "message", "error");
	xmpp_stanza_t *err = xm_elem_new(ctx, "error", NULL);
	xm_elem_set_attr(err, "type", type);
	xm_elem_adopt(err, xm_elem_new(ctx, condition, XMPP_NS_STANZAS));
	if (text != NULL)
		xm_elem_set_attr(xm_elem_add_text_child(err, "text", text),
				 "xmlns", XMPP_NS_STANZAS);
	xm_elem_adopt(r, err);
	return r;
}

/*
 * Appends s with every character that could end or change markup written
 * as an entity; in attribute values also tab, LF and CR, which attribute
 * value normalisation would otherwise turn into spaces.
 */
static void append_escaped(struct ut_buf *b, const char *s, bool attr)
{
	const char *run = s;
	for (; *s != '\0'; s++) {
		const char *ent;
		switch (*s) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		case '\'':
			ent = "&apos;";
			break;
		case '\r':
			ent = "&#13;";
			break;
		case '\t':
			ent = attr ? "&#9;" : NULL;
			break;
		case '\n':
			ent = attr ? "&#10;" : NULL;
			break;
		default:
			ent = NULL;
			break;
		}
		if (ent == NULL)
			continue;
		ut_buf_append(b, run, (size_t)(s - run));
		ut_buf_append_str(b, ent);
		run = s + 1;
	}
	ut_buf_append(b, run, (size_t)(s - run));
}

static int attr_cmp(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	/* xmlns first, then by name, so output is deterministic. */
	bool xa = strcmp(x[0], "xmlns") == 0, xb = strcmp(y[0], "xmlns") == 0;
	if (xa != xb)
		return xa ? -1 : 1;
	return strcmp(x[0], y[0]);
}

static void render(struct ut_buf *b, xmpp_stanza_t *st)
{
	if (xmpp_stanza_is_text(st)) {
		const char *t = xmpp_stanza_get_text_ptr(st);
		append_escaped(b, t != NULL ? t : "", false);
		return;
	}
	const char *name = xmpp_stanza_get_name(st);
	ut_assert(name != NULL);
	ut_buf_append_c(b, '<');
	ut_buf_append_str(b, name);

	int n = xmpp_stanza_get_attribute_count(st);
	if (n > 0) {
		const char **attrs = xcalloc((size_t)n * 2, sizeof(*attrs));
		int used = xmpp_stanza_get_attributes(st, attrs, n * 2);
		ut_assert(used == n * 2);
		qsort(attrs, (size_t)n, 2 * sizeof(*attrs), attr_cmp);
		for (int i = 0; i < n; i++) {
			ut_buf_append_c(b, ' ');
			ut_buf_append_str(b, attrs[2 * i]);
			ut_buf_append_str(b, "=\"");
			append_escaped(b, attrs[2 * i + 1], true);
			ut_buf_append_c(b, '"');
		}
		free(attrs);
	}
	xmpp_stanza_t *c = xmpp_stanza_get_children(st);
	if (c == NULL) {
		ut_buf_append_str(b, "/>");
		return;
	}
	ut_buf_append_c(b, '>');
	for (; c != NULL; c = xmpp_stanza_get_next(c))
		render(b, c);
	ut_buf_append_str(b, "</");
	ut_buf_append_str(b, name);
	ut_buf_append_c(b, '>');
}

char *xm_stanza_to_text(xmpp_stanza_t *st, size_t *len_r)
{
	struct ut_buf b = UT_BUF_INIT;
	render(&b, st);
	if (len_r != NULL)
		*len_r = b.len;
	return ut_buf_steal(&b);
}

char *xm_id_new(void)
{
	static uint64_t counter;
	uint64_t n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	return xasprintf("t%" PRIu64 "-%016" PRIx64, n, ut_random_u64());
}
