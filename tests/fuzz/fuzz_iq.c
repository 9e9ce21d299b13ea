/*
 * Fuzz target for the IQ engine with service discovery and ad-hoc
 * commands, as any XMPP user can reach them. The input is XML fed after a
 * fixed stream header (stanzas up to 64 KiB, depth 16); every <iq/> goes
 * to xm_iq_dispatch(). Registered: ping and disco (by the engine's users,
 * as in the component), a command "c" that local users (example.org) may
 * run (a form, then complete with the submitted values echoed in a result
 * form; at once when the <command/> has a 'done' attribute and a form, as
 * a session id from a previous answer cannot be in the input), and a
 * handler for urn:keep that keeps its requests until the end
 * of the input. Bounds are small (4 pending, 2 per sender, 3 sessions) so
 * refusals happen. Checks:
 * - every get/set gets exactly one answer: a synchronous handler's at
 *   once, a kept one's when it is released; none for results, errors or
 *   other types; an answer always has the IQ's id and type result or
 *   error;
 * - every answer renders and parses back.
 * Must never crash or leak.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_log.h"
#include "xm_adhoc.h"
#include "xm_jid.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"
#define JID "mail.example.org"

static xmpp_ctx_t *sctx;
static uv_loop_t loop;
static size_t n_sent;
static const char *expect_id; /* the id the next answer must carry */
static struct xm_iq_request *kept[8];
static size_t n_kept;

static void count_cb(void *ctx, xmpp_stanza_t *st)
{
	(void)st;
	(*(int *)ctx)++;
}

static int send_cb(xmpp_stanza_t *st, void *ctx)
{
	const char *type = xmpp_stanza_get_type(st);
	const char *id = xmpp_stanza_get_id(st);
	struct xm_parser_callbacks cb = {.stanza = count_cb};
	struct xm_parser *p;
	const char *err;
	int count = 0;
	size_t len;
	char *text;

	(void)ctx;
	n_sent++;
	if (strcmp(xmpp_stanza_get_name(st), "iq") != 0 || type == NULL ||
	    (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
		abort();
	if (expect_id != NULL && (id == NULL || strcmp(id, expect_id) != 0))
		abort();
	text = xm_stanza_to_text(st, &len);
	p = xm_parser_new(sctx, 8 * len + 64, 64, &cb, &count);
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0 ||
	    xm_parser_feed(p, text, len, &err) < 0 || count != 1)
		abort();
	xm_parser_free(&p);
	free(text);
	return 0;
}

static void ping_cb(struct xm_iq_request *req, void *ctx)
{
	(void)ctx;
	xm_iq_request_result(req, NULL);
	xm_iq_request_release(&req);
}

static void keep_cb(struct xm_iq_request *req, void *ctx)
{
	(void)ctx;
	if (n_kept < sizeof(kept) / sizeof(kept[0]))
		kept[n_kept++] = req;
	else
		xm_iq_request_release(&req);
}

static bool local_cb(const char *requester, void *ctx)
{
	(void)ctx;
	return xm_jid_domain_is(requester, "example.org");
}

/* A form; complete (echoing the submitted values in a result form) on
   action complete, or at once when <command/> has a 'done' attribute and
   a form. */
static void stage_cb(struct xm_adhoc_call *call, void *ctx)
{
	const struct xm_form *in = xm_adhoc_call_submitted_form(call);
	xmpp_stanza_t *cmd = xm_iq_request_payload(xm_adhoc_call_request(call));
	struct xm_form *f, *parsed = NULL;
	const char *err;

	(void)ctx;
	if (xmpp_stanza_get_attribute(cmd, "done") != NULL &&
	    xm_form_find(cmd) != NULL &&
	    xm_form_parse(xm_form_find(cmd), &parsed, &err) == 0)
		in = parsed;
	if (xm_adhoc_call_action(call) != XM_ADHOC_COMPLETE && parsed == NULL) {
		f = xm_form_new(XM_FORM_FORM, "T", "a\nb");
		xm_form_field_set_bool(
		    xm_form_add_field(f, XM_FIELD_BOOLEAN, "b", "B"), true);
		xm_adhoc_call_reply_form(
		    call, f, XM_ADHOC_ALLOW_NEXT | XM_ADHOC_ALLOW_COMPLETE,
		    XM_ADHOC_COMPLETE, XM_ADHOC_NOTE_WARN, "w");
	} else {
		f = xm_form_new(XM_FORM_RESULT, NULL, NULL);
		for (size_t i = 0; in != NULL && i < xm_form_field_count(in);
		     i++) {
			const struct xm_form_field *fl =
			    xm_form_field_at(in, i);
			struct xm_form_field *out =
			    xm_form_add_field(f, XM_FIELD_TEXT_MULTI,
					      xm_form_field_var(fl), NULL);

			for (size_t k = 0; k < xm_form_field_value_count(fl);
			     k++)
				xm_form_field_add_value(
				    out, xm_form_field_value(fl, k));
		}
		xm_adhoc_call_complete(call, XM_ADHOC_NOTE_INFO, "done", f);
	}
	xm_form_free(&f);
	xm_form_free(&parsed);
	xm_adhoc_call_release(&call);
}

struct run {
	struct xm_iq *q;
	size_t requests;
};

static void stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	struct run *r = ctx;
	const char *type = xmpp_stanza_get_type(st);
	const char *name = xmpp_stanza_get_name(st);
	bool request = strcmp(name, "iq") == 0 && type != NULL &&
		       (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
	size_t before = n_sent, kept_before = n_kept;

	if (strcmp(name, "iq") != 0)
		return;
	expect_id = xmpp_stanza_get_id(st);
	xm_iq_dispatch(r->q, st);
	expect_id = NULL;
	r->requests += request;
	/* One answer now, or a request kept for later. */
	if (n_sent - before + (n_kept - kept_before) != (request ? 1u : 0u))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct xm_iq_settings iq_set = {
	    .pending_max = 4, .pending_per_sender_max = 2};
	static const struct xm_adhoc_settings adhoc_set = {
	    .sessions_max = 3, .sessions_per_requester_max = 2};
	struct xm_parser_callbacks cb = {.stanza = stanza_cb};
	struct run r = {0};
	struct xm_disco *d;
	struct xm_adhoc *a;
	struct xm_parser *p;
	const char *err;

	if (sctx == NULL) {
		sctx = xmpp_ctx_new(NULL, NULL);
		uv_loop_init(&loop);
		ut_log_set_level(UT_LOG_ERROR); /* refusals are logged */
	}
	n_sent = n_kept = 0;
	r.q = xm_iq_new(&loop, sctx, &iq_set, send_cb, NULL);
	xm_iq_register(r.q, XM_IQ_GET, XM_NS_PING, ping_cb, NULL);
	xm_iq_register(r.q, XM_IQ_SET, "urn:keep", keep_cb, NULL);
	d = xm_disco_new(r.q, sctx, JID, "gateway", "smtp", "Mail");
	a = xm_adhoc_new(&loop, sctx, r.q, d, JID, &adhoc_set);
	if (d == NULL || a == NULL ||
	    xm_adhoc_register(a, "c", "Command", local_cb, stage_cb, NULL) < 0)
		abort();
	p = xm_parser_new(sctx, 1 << 16, 16, &cb, &r);
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0)
		abort();
	(void)xm_parser_feed(p, (const char *)data, size, &err);
	xm_parser_free(&p);
	/* Kept requests get their one answer when released. */
	for (size_t i = 0; i < n_kept; i++)
		xm_iq_request_release(&kept[i]);
	if (n_sent != r.requests)
		abort();
	xm_adhoc_close(&a, r.q, d, NULL, NULL);
	xm_disco_free(&d, r.q);
	xm_iq_close(&r.q, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	return 0;
}
