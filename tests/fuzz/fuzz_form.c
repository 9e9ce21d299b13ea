/*
 * Fuzz target for the XEP-0004 form parser. The input is XML fed after a
 * fixed stream header (stanzas up to 1 MiB, depth 16). Every stanza, and
 * the first data form inside it, goes through xm_form_parse() with these
 * checks:
 * - a parsed form keeps the bounds: at most XM_FORM_FIELDS_MAX fields with
 *   a var of at most XM_FORM_VAR_MAX bytes, unique, at most
 *   XM_FORM_VALUES_MAX values each, no value over XM_FORM_VALUE_MAX bytes,
 *   every value valid UTF-8 that cleaning leaves unchanged;
 * - the getters never fail on it (a boolean is 0/-1);
 * - rebuilt with the builder (untyped fields) and rendered, it parses
 *   again with the same fields and the same number of values.
 * Must never crash or leak.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_utf8.h"
#include "xm_form.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static xmpp_ctx_t *sctx;

static void check_value(const char *v)
{
	size_t len = strlen(v);
	char *clean;

	if (len > XM_FORM_VALUE_MAX || !ut_utf8_valid(v, len))
		abort();
	clean = ut_utf8_clean_str(v, len, 0, 0);
	if (strcmp(clean, v) != 0)
		abort();
	free(clean);
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **kept = ctx;

	if (*kept != NULL)
		xmpp_stanza_release(*kept);
	*kept = xmpp_stanza_clone(st);
}

/* The builder's rendering of f parses back to the same shape. */
static void rebuild(const struct xm_form *f)
{
	struct xm_form *g = xm_form_new(xm_form_get_type(f), NULL, NULL), *h;
	xmpp_stanza_t *x, *back = NULL;
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	struct xm_parser *p;
	const char *err;
	size_t len;
	char *text;

	for (size_t i = 0; i < xm_form_field_count(f); i++) {
		const struct xm_form_field *fl = xm_form_field_at(f, i);
		struct xm_form_field *gl = xm_form_add_field(
		    g, XM_FIELD_NONE, xm_form_field_var(fl), NULL);

		for (size_t k = 0; k < xm_form_field_value_count(fl); k++)
			xm_form_field_add_value(gl, xm_form_field_value(fl, k));
	}
	x = xm_form_to_stanza(g, sctx);
	text = xm_stanza_to_text(x, &len);
	xmpp_stanza_release(x);
	p = xm_parser_new(sctx, 8 * len + 64, 8, &cb, &back);
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0 ||
	    xm_parser_feed(p, text, len, &err) < 0 || back == NULL)
		abort();
	if (xm_form_parse(back, &h, &err) < 0 ||
	    xm_form_field_count(h) != xm_form_field_count(f))
		abort();
	for (size_t i = 0; i < xm_form_field_count(f); i++) {
		const struct xm_form_field *a = xm_form_field_at(f, i);
		const struct xm_form_field *b = xm_form_field_at(h, i);

		if (strcmp(xm_form_field_var(a), xm_form_field_var(b)) != 0 ||
		    xm_form_field_value_count(a) !=
			xm_form_field_value_count(b))
			abort();
	}
	xm_form_free(&h);
	xm_form_free(&g);
	xmpp_stanza_release(back);
	xm_parser_free(&p);
	free(text);
}

static void check_form(xmpp_stanza_t *x)
{
	struct xm_form *f = NULL;
	const char *err = NULL;
	bool b;

	if (xm_form_parse(x, &f, &err) < 0) {
		if (f != NULL || err == NULL)
			abort();
		return;
	}
	if (xm_form_field_count(f) > XM_FORM_FIELDS_MAX)
		abort();
	for (size_t i = 0; i < xm_form_field_count(f); i++) {
		const struct xm_form_field *fl = xm_form_field_at(f, i);
		const char *var = xm_form_field_var(fl);

		if (var == NULL || strlen(var) > XM_FORM_VAR_MAX ||
		    xm_form_field_get(f, var) != fl ||
		    xm_form_field_value_count(fl) > XM_FORM_VALUES_MAX)
			abort();
		for (size_t k = 0; k < xm_form_field_value_count(fl); k++)
			check_value(xm_form_field_value(fl, k));
		if (xm_form_get_bool(f, var, false, &b) < -1)
			abort();
		(void)xm_form_get_value(f, var);
	}
	rebuild(f);
	xm_form_free(&f);
}

static void stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t *x;

	(void)ctx;
	check_form(st);
	x = xm_form_find(st);
	if (x != NULL)
		check_form(x);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		if (xmpp_stanza_is_tag(c) && (x = xm_form_find(c)) != NULL)
			check_form(x);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xm_parser_callbacks cb = {.stanza = stanza_cb};
	struct xm_parser *p;
	const char *err;

	if (sctx == NULL)
		sctx = xmpp_ctx_new(NULL, NULL);
	p = xm_parser_new(sctx, 1 << 20, 16, &cb, NULL);
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0)
		abort();
	(void)xm_parser_feed(p, (const char *)data, size, &err);
	xm_parser_free(&p);
	return 0;
}
