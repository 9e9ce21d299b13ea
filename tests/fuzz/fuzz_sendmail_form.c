/*
 * Fuzz target for br_sendmail_form_read(), the reader of the send-mail
 * form a user submits. The first input byte chooses the bounds and how the
 * form is made from the rest:
 * - bit 0 clear: with the builder, from records separated by NUL bytes:
 *   a record's first byte picks the field (to, cc, subject, body, another
 *   var) and whether it is typed text-multi (values split at line breaks)
 *   or untyped (one value, cleaned to one line); the rest is a value;
 * - bit 0 set: as a client sends it, the rest being the XML inside
 *   <x xmlns='jabber:x:data' type='submit'>, through xm_parser and
 *   xm_form_parse() (so CR, LF and tabs reach the reader).
 * Checks: a success keeps every promise of the header (at least one To,
 * at most rcpts_max distinct valid addresses over To and Cc, a subject of
 * one line without controls or surrounding spaces within its bound, a
 * body of body_len bytes, valid UTF-8, within body_max, not blank); a
 * failure leaves the request empty with a message. Must never crash or
 * leak.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "br_sendmail_form.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static xmpp_ctx_t *sctx;

static const char *const vars[] = {"to", "cc", "subject", "body", "other"};

static struct xm_form *built(const uint8_t *data, size_t size)
{
	struct xm_form *f = xm_form_new(XM_FORM_SUBMIT, NULL, NULL);
	struct xm_form_field *fields[5] = {NULL};
	size_t i = 0;

	while (i < size) {
		const uint8_t *end = memchr(data + i, 0, size - i);
		size_t len = end != NULL ? (size_t)(end - data) - i : size - i;
		char *value;

		if (len > 0) {
			unsigned pick = data[i] % 10;
			struct xm_form_field **fl = &fields[pick % 5];

			if (*fl == NULL)
				*fl = xm_form_add_field(
				    f,
				    pick >= 5 ? XM_FIELD_TEXT_MULTI
					      : XM_FIELD_NONE,
				    vars[pick % 5], NULL);
			value = strndup((const char *)data + i + 1, len - 1);
			if (value == NULL)
				abort();
			xm_form_field_add_value(*fl, value);
			free(value);
		}
		i += len + 1;
	}
	return f;
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **kept = ctx;

	if (*kept != NULL)
		xmpp_stanza_release(*kept);
	*kept = xmpp_stanza_clone(st);
}

static struct xm_form *parsed(const uint8_t *data, size_t size)
{
	static const char open[] = "<message><x xmlns='jabber:x:data' "
				   "type='submit'>",
			  close[] = "</x></message>";
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	xmpp_stanza_t *st = NULL, *x;
	struct xm_parser *p = xm_parser_new(sctx, 1 << 20, 16, &cb, &st);
	struct xm_form *f = NULL;
	const char *err;

	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0)
		abort();
	if (xm_parser_feed(p, open, strlen(open), &err) == 0 &&
	    xm_parser_feed(p, (const char *)data, size, &err) == 0)
		(void)xm_parser_feed(p, close, strlen(close), &err);
	xm_parser_free(&p);
	if (st != NULL && (x = xm_form_find(st)) != NULL)
		(void)xm_form_parse(x, &f, &err);
	if (st != NULL)
		xmpp_stanza_release(st);
	return f;
}

static bool has_control(const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u != '\0';
	     u++) {
		if (*u < 0x20 || *u == 0x7f)
			return true;
		if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
			return true;
		if (u[0] == 0xe2 && u[1] == 0x80 &&
		    (u[2] == 0xa8 || u[2] == 0xa9))
			return true;
	}
	return false;
}

static void check_list(const struct ms_addr_list *l,
		       const struct ms_addr_list *before)
{
	const char *why;

	for (size_t i = 0; i < l->n; i++) {
		const char *a = l->v[i].addr;

		if (ms_addr_validate(a, strlen(a), 0, &why) < 0)
			abort();
		for (size_t k = 0; k < i; k++) {
			if (ms_addr_equal(l->v[k].addr, a))
				abort();
		}
		for (size_t k = 0; before != NULL && k < before->n; k++) {
			if (ms_addr_equal(before->v[k].addr, a))
				abort();
		}
	}
}

static void check(const struct xm_form *f, size_t body_max, size_t rcpts_max)
{
	struct br_sendmail_request r;
	char *error = NULL;
	bool blank = true;

	if (br_sendmail_form_read(f, body_max, rcpts_max, &r, &error) < 0) {
		if (error == NULL || error[0] == '\0' || r.to.n != 0 ||
		    r.cc.n != 0 || r.subject != NULL || r.body != NULL ||
		    r.body_len != 0)
			abort();
		free(error);
		return;
	}
	if (error != NULL || r.to.n == 0 || r.to.n + r.cc.n > rcpts_max)
		abort();
	check_list(&r.to, NULL);
	check_list(&r.cc, &r.to);
	if (r.subject != NULL) {
		size_t len = strlen(r.subject);

		if (len == 0 || len > BR_SENDMAIL_SUBJECT_MAX ||
		    !ut_utf8_valid(r.subject, len) || has_control(r.subject) ||
		    r.subject[0] == ' ' || r.subject[len - 1] == ' ')
			abort();
	}
	if (r.body == NULL || strlen(r.body) != r.body_len ||
	    (body_max > 0 && r.body_len > body_max) ||
	    !ut_utf8_valid(r.body, r.body_len))
		abort();
	for (size_t i = 0; i < r.body_len; i++)
		blank = blank && strchr(" \t\r\n", r.body[i]) != NULL;
	if (blank)
		abort();
	br_sendmail_request_clear(&r);
	if (r.to.n != 0 || r.body != NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t body_maxes[] = {0, 1, 16, 65536};
	static const size_t rcpts_maxes[] = {0, 1, 3, 50};
	struct xm_form *f;

	if (size == 0)
		return 0;
	if (sctx == NULL)
		sctx = xmpp_ctx_new(NULL, NULL);
	f = data[0] & 1 ? parsed(data + 1, size - 1)
			: built(data + 1, size - 1);
	if (f != NULL)
		check(f, body_maxes[(data[0] >> 1) & 3],
		      rcpts_maxes[(data[0] >> 3) & 3]);
	xm_form_free(&f);
	return 0;
}
