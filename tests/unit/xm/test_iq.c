/*
 * Unit tests of the IQ engine on its own (a real loop, a send function
 * that records): exactly one answer per request whatever the handler does
 * (answers, answers twice, never answers, answers after the timeout),
 * the bounds, and outbound calls matched by id and sender, with exact
 * counts of replies and callbacks.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_xalloc.h"
#include "xm_iq.h"
#include "xml_in.h"

static xmpp_ctx_t *sctx;
static uv_loop_t loop;

/* What the engine sent. */
static xmpp_stanza_t *sent[256];
static size_t n_sent;
static bool send_fails;

static int send_cb(xmpp_stanza_t *st, void *ctx)
{
	(void)ctx;
	if (send_fails)
		return -1;
	if (n_sent < sizeof(sent) / sizeof(sent[0]))
		sent[n_sent++] = xmpp_stanza_copy(st);
	return 0;
}

static void sent_clear(void)
{
	for (size_t i = 0; i < n_sent; i++)
		xmpp_stanza_release(sent[i]);
	n_sent = 0;
}

/* Answers to id among what was sent. */
static int count_id(const char *id)
{
	int n = 0;

	for (size_t i = 0; i < n_sent; i++)
		n += strcmp(xmpp_stanza_get_id(sent[i]), id) == 0;
	return n;
}

static xmpp_stanza_t *find_id(const char *id)
{
	for (size_t i = 0; i < n_sent; i++) {
		if (strcmp(xmpp_stanza_get_id(sent[i]), id) == 0)
			return sent[i];
	}
	return NULL;
}

/* The error condition of the answer to id, or "result", or NULL. */
static const char *answer_of(const char *id)
{
	xmpp_stanza_t *r = find_id(id), *err, *c;

	if (r == NULL)
		return NULL;
	if (strcmp(xmpp_stanza_get_type(r), "result") == 0)
		return "result";
	err = xmpp_stanza_get_child_by_name(r, "error");
	for (c = err != NULL ? xmpp_stanza_get_children(err) : NULL; c != NULL;
	     c = xmpp_stanza_get_next(c)) {
		if (xmpp_stanza_is_tag(c))
			return xmpp_stanza_get_name(c);
	}
	return "(no condition)";
}

static void feed(struct xm_iq *q, const char *xml)
{
	xmpp_stanza_t *st = xml_in(sctx, xml);

	T_CHECK(st != NULL);
	if (st != NULL) {
		xm_iq_dispatch(q, st);
		xmpp_stanza_release(st);
	}
}

static void feed_get(struct xm_iq *q, const char *id, const char *from,
		     const char *ns)
{
	char *xml = xasprintf("<iq type='get' id='%s' from='%s' "
			      "to='mail.example.org'><q xmlns='%s'/></iq>",
			      id, from, ns);

	feed(q, xml);
	free(xml);
}

static void run_for(uint64_t msecs)
{
	uint64_t end = uv_now(&loop) + msecs;

	while (uv_now(&loop) < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(&loop);
	}
}

/* ---- handlers with behaviours ---- */

enum behaviour { ANSWER, ANSWER_TWICE, RELEASE_ONLY, KEEP, CLOSE_ENGINE };

struct hctx {
	enum behaviour how;
	int calls;
	struct xm_iq_request *kept[64];
	size_t n_kept;
	struct xm_iq **engine;
	int second_rc;
};

static void handler_cb(struct xm_iq_request *req, void *ctx)
{
	struct hctx *h = ctx;
	xmpp_stanza_t *payload;

	h->calls++;
	switch (h->how) {
	case ANSWER:
		payload = xm_elem_new(sctx, "q", "urn:t");
		xm_elem_add_text_child(payload, "v", "ok");
		T_CHECK(xm_iq_request_pending(req));
		T_CHECK_INT(xm_iq_request_result(req, payload), 0);
		T_CHECK(!xm_iq_request_pending(req));
		xmpp_stanza_release(payload);
		xm_iq_request_release(&req);
		T_CHECK(req == NULL);
		break;
	case ANSWER_TWICE:
		T_CHECK_INT(xm_iq_request_result(req, NULL), 0);
		h->second_rc =
		    xm_iq_request_error(req, "cancel", "conflict", NULL);
		xm_iq_request_release(&req);
		break;
	case RELEASE_ONLY:
		xm_iq_request_set_default_error(req, "modify", "not-acceptable",
						"nope");
		xm_iq_request_release(&req);
		break;
	case KEEP:
		h->kept[h->n_kept++] = req;
		break;
	case CLOSE_ENGINE:
		h->kept[h->n_kept++] = req;
		xm_iq_close(h->engine, NULL, NULL);
		break;
	}
}

static struct xm_iq *engine(const struct xm_iq_settings *set)
{
	return xm_iq_new(&loop, sctx, set, send_cb, NULL);
}

static void finish(struct xm_iq **q)
{
	xm_iq_close(q, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	sent_clear();
}

static void test_one_answer_each(void)
{
	struct xm_iq_settings set = {.request_timeout_msecs = 60};
	struct xm_iq *q = engine(&set);
	struct hctx answer = {.how = ANSWER}, twice = {.how = ANSWER_TWICE},
		    release = {.how = RELEASE_ONLY}, keep = {.how = KEEP};
	struct xm_iq_stats st;
	xmpp_stanza_t *r;

	T_CHECK_INT(xm_iq_register(q, XM_IQ_GET, "urn:a", handler_cb, &answer),
		    0);
	T_CHECK_INT(xm_iq_register(q, XM_IQ_GET, "urn:a", handler_cb, &twice),
		    -1);
	T_CHECK_INT(xm_iq_register(q, XM_IQ_SET, "urn:a", handler_cb, &twice),
		    0);
	T_CHECK_INT(xm_iq_register(q, XM_IQ_GET, "urn:r", handler_cb, &release),
		    0);
	T_CHECK_INT(xm_iq_register(q, XM_IQ_GET, "urn:k", handler_cb, &keep),
		    0);

	feed_get(q, "a1", "bob@example.org/r", "urn:a");
	feed(q, "<iq type='set' id='t1' from='bob@example.org/r' "
		"to='mail.example.org'><q xmlns='urn:a'/></iq>");
	feed_get(q, "r1", "bob@example.org/r", "urn:r");
	feed_get(q, "u1", "bob@example.org/r", "urn:nobody");
	feed(q, "<iq type='get' id='u2' from='bob@example.org/r'/>");
	feed(q, "<iq type='set' id='u3' from='bob@example.org/r'><q/></iq>");
	feed_get(q, "k1", "bob@example.org/r", "urn:k");
	feed_get(q, "k2", "bob@example.org/r", "urn:k");
	T_CHECK_INT(answer.calls, 1);
	T_CHECK_INT(twice.calls, 1);
	T_CHECK_INT(twice.second_rc, -1);
	T_CHECK_INT(release.calls, 1);
	T_CHECK_INT(keep.calls, 2);
	T_CHECK_INT(n_sent, 6);
	T_CHECK_STR(answer_of("a1"), "result");
	r = find_id("a1");
	T_CHECK_STR(xmpp_stanza_get_to(r), "bob@example.org/r");
	T_CHECK_STR(xmpp_stanza_get_from(r), "mail.example.org");
	T_CHECK(xmpp_stanza_get_child_by_name_and_ns(r, "q", "urn:t") != NULL);
	T_CHECK_STR(answer_of("t1"), "result");
	T_CHECK_STR(answer_of("r1"), "not-acceptable");
	T_CHECK_STR(xmpp_stanza_get_type(
			xmpp_stanza_get_child_by_name(find_id("r1"), "error")),
		    "modify");
	T_CHECK_STR(answer_of("u1"), "service-unavailable");
	T_CHECK_STR(answer_of("u2"), "service-unavailable");
	T_CHECK_STR(answer_of("u3"), "service-unavailable");

	/* k1 answered in time, k2 never: the timeout answers it. */
	T_CHECK_INT(xm_iq_request_result(keep.kept[0], NULL), 0);
	T_CHECK_INT(count_id("k1"), 1);
	xm_iq_get_stats(q, &st);
	T_CHECK_INT(st.pending, 1);
	run_for(120);
	T_CHECK_INT(count_id("k2"), 1);
	T_CHECK_STR(answer_of("k2"), "internal-server-error");
	T_CHECK(!xm_iq_request_pending(keep.kept[1]));
	/* The late answer is a no-op; the request is still readable. */
	T_CHECK_INT(xm_iq_request_result(keep.kept[1], NULL), -1);
	T_CHECK_INT(xm_iq_request_error(keep.kept[1], "wait", "x", NULL), -1);
	T_CHECK_STR(xm_iq_request_from(keep.kept[1]), "bob@example.org/r");
	T_CHECK_STR(xmpp_stanza_get_ns(xm_iq_request_payload(keep.kept[1])),
		    "urn:k");
	T_CHECK_INT(xm_iq_request_type(keep.kept[1]), XM_IQ_GET);
	xm_iq_request_release(&keep.kept[0]);
	xm_iq_request_release(&keep.kept[1]);
	T_CHECK_INT(count_id("k1"), 1);
	T_CHECK_INT(count_id("k2"), 1);
	T_CHECK_INT(n_sent, 8);
	xm_iq_get_stats(q, &st);
	T_CHECK_INT(st.requests, 8);
	T_CHECK_INT(st.unhandled, 3);
	T_CHECK_INT(st.default_errors, 2);
	T_CHECK_INT(st.timed_out, 1);
	T_CHECK_INT(st.pending, 0);

	/* An unregistered namespace is nobody's again. */
	xm_iq_unregister(q, XM_IQ_GET, "urn:a");
	feed_get(q, "a2", "bob@example.org/r", "urn:a");
	T_CHECK_STR(answer_of("a2"), "service-unavailable");
	T_CHECK_INT(answer.calls, 1);

	/* An application condition follows the defined one. */
	keep.n_kept = 0;
	feed_get(q, "k3", "bob@example.org/r", "urn:k");
	T_CHECK_INT(xm_iq_request_error_app(keep.kept[0], "modify",
					    "bad-request", "why",
					    "bad-sessionid", "urn:cmd"),
		    0);
	xm_iq_request_release(&keep.kept[0]);
	{
		char *text = xml_out(find_id("k3"));

		T_CHECK_STR(text,
			    "<iq from=\"mail.example.org\" id=\"k3\" "
			    "to=\"bob@example.org/r\" type=\"error\"><error "
			    "type=\"modify\"><bad-request "
			    "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"
			    "<text xmlns=\"urn:ietf:params:xml:ns:xmpp-"
			    "stanzas\">why</text><bad-sessionid "
			    "xmlns=\"urn:cmd\"/></error></iq>");
		free(text);
	}
	finish(&q);
}

static void test_bounds(void)
{
	struct xm_iq_settings set = {.pending_max = 5,
				     .pending_per_sender_max = 2};
	struct xm_iq *q = engine(&set);
	struct hctx keep = {.how = KEEP};
	struct xm_iq_stats st;
	char id[16], from[64];

	xm_iq_register(q, XM_IQ_GET, "urn:k", handler_cb, &keep);
	/* Three from one sender (two resources): the third is refused. */
	feed_get(q, "s1", "bob@example.org/a", "urn:k");
	feed_get(q, "s2", "Bob@example.org/b", "urn:k");
	feed_get(q, "s3", "bob@EXAMPLE.org/a", "urn:k");
	T_CHECK_INT(keep.calls, 2);
	T_CHECK_INT(n_sent, 1);
	T_CHECK_STR(answer_of("s3"), "resource-constraint");
	T_CHECK_STR(xmpp_stanza_get_type(
			xmpp_stanza_get_child_by_name(find_id("s3"), "error")),
		    "wait");
	/* A flood from many senders: five pending in all. */
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "f%d", i);
		snprintf(from, sizeof(from), "u%d@example.org/r", i);
		feed_get(q, id, from, "urn:k");
	}
	T_CHECK_INT(keep.calls, 5);
	T_CHECK_INT(n_sent, 18);
	for (int i = 3; i < 20; i++) {
		snprintf(id, sizeof(id), "f%d", i);
		T_CHECK_STR(answer_of(id), "resource-constraint");
	}
	/* Answering one makes room for one. */
	T_CHECK_INT(xm_iq_request_result(keep.kept[0], NULL), 0);
	feed_get(q, "s4", "bob@example.org/a", "urn:k");
	T_CHECK_INT(keep.calls, 6);
	feed_get(q, "s5", "carol@example.org/a", "urn:k");
	T_CHECK_STR(answer_of("s5"), "resource-constraint");
	xm_iq_get_stats(q, &st);
	T_CHECK_INT(st.refused_busy, 19);
	T_CHECK_INT(st.pending, 5);
	/* Close with requests held: they are detached. */
	finish(&q);
	T_CHECK(q == NULL);
	for (size_t i = 0; i < keep.n_kept; i++) {
		T_CHECK(!xm_iq_request_pending(keep.kept[i]));
		T_CHECK_INT(xm_iq_request_result(keep.kept[i], NULL), -1);
		xm_iq_request_release(&keep.kept[i]);
	}
	T_CHECK_INT(n_sent, 0);
}

static void test_close_in_handler(void)
{
	struct xm_iq_settings set = {0};
	struct xm_iq *q = engine(&set);
	struct hctx closer = {.how = CLOSE_ENGINE, .engine = &q};

	xm_iq_register(q, XM_IQ_SET, "urn:c", handler_cb, &closer);
	feed(q, "<iq type='set' id='c1' from='bob@example.org/r'><q "
		"xmlns='urn:c'/></iq>");
	T_CHECK(q == NULL);
	T_CHECK_INT(closer.calls, 1);
	T_CHECK_INT(xm_iq_request_result(closer.kept[0], NULL), -1);
	xm_iq_request_release(&closer.kept[0]);
	uv_run(&loop, UV_RUN_DEFAULT);
	T_CHECK_INT(n_sent, 0);
	sent_clear();
}

/* ---- outbound ---- */

struct reply_rec {
	int calls;
	enum xm_iq_outcome outcome;
	char id[64];
	struct xm_iq **close_engine;
};

static void reply_cb(enum xm_iq_outcome outcome, xmpp_stanza_t *reply,
		     void *ctx)
{
	struct reply_rec *r = ctx;

	r->calls++;
	r->outcome = outcome;
	T_CHECK((reply != NULL) ==
		(outcome == XM_IQ_RESULT || outcome == XM_IQ_ERROR));
	snprintf(r->id, sizeof(r->id), "%s",
		 reply != NULL ? xmpp_stanza_get_id(reply) : "");
	if (r->close_engine != NULL)
		xm_iq_close(r->close_engine, NULL, NULL);
}

static const char *send_roster_get(struct xm_iq *q, const char *to,
				   struct reply_rec *rec, uint64_t *handle)
{
	xmpp_stanza_t *iq = xm_elem_new(sctx, "iq", NULL);
	static char id[64];
	int rc;

	xm_elem_set_attr(iq, "type", "get");
	xm_elem_set_attr(iq, "to", to);
	xm_elem_adopt(iq, xm_elem_new(sctx, "query", "jabber:iq:roster"));
	rc = xm_iq_send(q, iq, reply_cb, rec, handle);
	snprintf(id, sizeof(id), "%s",
		 rc == 0 ? xmpp_stanza_get_id(iq) : "(failed)");
	xmpp_stanza_release(iq);
	return id;
}

static void reply(struct xm_iq *q, const char *type, const char *id,
		  const char *from)
{
	char *xml =
	    xasprintf("<iq type='%s' id='%s'%s%s%s "
		      "to='mail.example.org'/>",
		      type, id, from != NULL ? " from='" : "",
		      from != NULL ? from : "", from != NULL ? "'" : "");

	feed(q, xml);
	free(xml);
}

static void test_outbound(void)
{
	struct xm_iq_settings set = {.call_timeout_msecs = 50, .calls_max = 3};
	struct xm_iq *q = engine(&set);
	struct reply_rec a = {0}, b = {0}, c = {0}, d = {0};
	struct xm_iq_stats st;
	uint64_t ha, hb, hc, hd;
	char ida[64], idb[64];

	snprintf(ida, sizeof(ida), "%s",
		 send_roster_get(q, "alice@example.org", &a, &ha));
	snprintf(idb, sizeof(idb), "%s",
		 send_roster_get(q, "bob@example.org", &b, &hb));
	T_CHECK(ha != 0 && hb != 0 && ha != hb);
	T_CHECK_INT(n_sent, 2);
	T_CHECK(strcmp(ida, idb) != 0 && strlen(ida) >= 18);
	/* Replies from someone else, or without a sender: ignored. */
	reply(q, "result", ida, "mallory@example.org");
	reply(q, "result", ida, "alice@example.org/res");
	reply(q, "result", ida, NULL);
	reply(q, "error", ida, "example.org");
	reply(q, "result", "iq1-0000000000000000", "alice@example.org");
	T_CHECK_INT(a.calls, 0);
	/* The right one, in another case: once. */
	reply(q, "result", ida, "Alice@EXAMPLE.org");
	T_CHECK_INT(a.calls, 1);
	T_CHECK_INT(a.outcome, XM_IQ_RESULT);
	T_CHECK_STR(a.id, ida);
	reply(q, "result", ida, "alice@example.org");
	T_CHECK_INT(a.calls, 1);
	reply(q, "error", idb, "bob@example.org");
	T_CHECK_INT(b.calls, 1);
	T_CHECK_INT(b.outcome, XM_IQ_ERROR);

	/* Cancelled: never called back. Timed out: once, without stanza. */
	send_roster_get(q, "carol@example.org", &c, &hc);
	send_roster_get(q, "dave@example.org", &d, &hd);
	xm_iq_cancel(q, hc);
	xm_iq_cancel(q, hc);
	xm_iq_cancel(q, 12345);
	run_for(100);
	T_CHECK_INT(c.calls, 0);
	T_CHECK_INT(d.calls, 1);
	T_CHECK_INT(d.outcome, XM_IQ_TIMEOUT);

	/* The bound, and IQs that cannot be sent. */
	memset(&a, 0, sizeof(a));
	send_roster_get(q, "a1@example.org", &a, &ha);
	send_roster_get(q, "a2@example.org", &a, &ha);
	send_roster_get(q, "a3@example.org", &a, &ha);
	T_CHECK_STR(send_roster_get(q, "a4@example.org", &a, &ha), "(failed)");
	T_CHECK_INT(ha, 0);
	xm_iq_get_stats(q, &st);
	T_CHECK_INT(st.in_flight, 3);
	/* The connection goes: all three end, once each. */
	xm_iq_connection_lost(q);
	T_CHECK_INT(a.calls, 3);
	T_CHECK_INT(a.outcome, XM_IQ_DISCONNECTED);
	run_for(80);
	T_CHECK_INT(a.calls, 3);
	send_fails = true;
	T_CHECK_STR(send_roster_get(q, "a5@example.org", &a, &ha), "(failed)");
	send_fails = false;
	{
		xmpp_stanza_t *iq = xml_in(sctx, "<iq type='result' "
						 "to='x@example.org'/>");

		T_CHECK_INT(xm_iq_send(q, iq, reply_cb, &a, &ha), -1);
		xmpp_stanza_release(iq);
		iq = xml_in(sctx, "<iq type='get'><q xmlns='x'/></iq>");
		T_CHECK_INT(xm_iq_send(q, iq, reply_cb, &a, &ha), -1);
		xmpp_stanza_release(iq);
	}
	xm_iq_get_stats(q, &st);
	T_CHECK_INT(st.calls, 7);
	T_CHECK_INT(st.call_timeouts, 1);
	T_CHECK_INT(st.in_flight, 0);
	T_CHECK_INT(a.calls, 3);

	/* A callback may close the engine; calls still in flight are then
	   dropped without callbacks. */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.close_engine = &q;
	send_roster_get(q, "a1@example.org", &a, &ha);
	send_roster_get(q, "a2@example.org", &b, &hb);
	xm_iq_connection_lost(q);
	T_CHECK(q == NULL);
	T_CHECK_INT(a.calls, 1);
	T_CHECK_INT(b.calls, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	T_CHECK_INT(b.calls, 0);
	sent_clear();
	T_CHECK_STR(xm_iq_outcome_str(XM_IQ_DISCONNECTED), "disconnected");
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	uv_loop_init(&loop);
	T_RUN(test_one_answer_each);
	T_RUN(test_bounds);
	T_RUN(test_close_in_handler);
	T_RUN(test_outbound);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
