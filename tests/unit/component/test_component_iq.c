/*
 * The component's IQ side against the fake server, with exact counts of
 * the replies the server receives: handlers that answer at once, late,
 * twice or never; a flood over the bound; registered disco features;
 * outbound XEP-0356 roster queries whose reply comes from the wrong JID,
 * never comes, or is cut by a lost connection.
 */
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"
#include "xm_privilege.h"

#define BOB "bob@example.org/res"

static void send_get(struct env *e, const char *id, const char *from,
		     const char *ns)
{
	char *xml = xasprintf("<iq type='get' id='%s' from='%s' to='" FAKE_JID
			      "'><q xmlns='%s'/></iq>",
			      id, from, ns);

	fake_server_send(&e->srv, xml);
	free(xml);
}

static void start(struct env *e)
{
	env_component(e);
	xm_component_start(e->obs.c);
	RUN_UNTIL(&e->loop, e->obs.online == 1, 3000);
	T_CHECK_INT(e->obs.online, 1);
}

/* ---- inbound ---- */

enum how { AT_ONCE, TWICE, NEVER, LATER, KEEP };

struct handler {
	enum how how;
	int calls, second_rc, late_rc;
	struct xm_iq_request *kept[64];
	size_t n_kept;
	uv_timer_t timer;
};

static void late_cb(uv_timer_t *t)
{
	struct handler *h = t->data;

	h->late_rc = xm_iq_request_result(h->kept[0], NULL);
	xm_iq_request_release(&h->kept[0]);
}

static void handler_cb(struct xm_iq_request *req, void *ctx)
{
	struct handler *h = ctx;

	h->calls++;
	switch (h->how) {
	case AT_ONCE:
		xm_iq_request_result(req, NULL);
		xm_iq_request_release(&req);
		break;
	case TWICE:
		xm_iq_request_error(req, "cancel", "not-allowed", NULL);
		h->second_rc = xm_iq_request_result(req, NULL);
		xm_iq_request_release(&req);
		break;
	case NEVER:
		xm_iq_request_release(&req);
		break;
	case LATER:
		h->kept[h->n_kept++] = req;
		uv_timer_start(&h->timer, late_cb, 30, 0);
		break;
	case KEEP:
		if (h->n_kept < 64)
			h->kept[h->n_kept++] = req;
		else
			xm_iq_request_release(&req);
		break;
	}
}

static void test_answers(void)
{
	struct env e;
	struct handler now = {.how = AT_ONCE}, twice = {.how = TWICE},
		       never = {.how = NEVER}, later = {.how = LATER},
		       keep = {.how = KEEP};
	struct xm_iq *q;

	env_init(&e);
	e.set.iq.request_timeout_msecs = 150;
	start(&e);
	uv_timer_init(&e.loop, &later.timer);
	later.timer.data = &later;
	q = xm_component_iq(e.obs.c);
	xm_iq_register(q, XM_IQ_GET, "urn:now", handler_cb, &now);
	xm_iq_register(q, XM_IQ_GET, "urn:twice", handler_cb, &twice);
	xm_iq_register(q, XM_IQ_GET, "urn:never", handler_cb, &never);
	xm_iq_register(q, XM_IQ_GET, "urn:later", handler_cb, &later);
	xm_iq_register(q, XM_IQ_GET, "urn:keep", handler_cb, &keep);
	send_get(&e, "now", BOB, "urn:now");
	send_get(&e, "twice", BOB, "urn:twice");
	send_get(&e, "never", BOB, "urn:never");
	send_get(&e, "later", BOB, "urn:later");
	send_get(&e, "keep", BOB, "urn:keep");
	send_get(&e, "nobody", BOB, "urn:nobody");
	RUN_UNTIL(&e.loop, e.srv.n_iqs >= 6, 3000);
	/* Long enough for any second answer to arrive. */
	RUN_UNTIL(&e.loop, false, 300);
	T_CHECK_INT(e.srv.n_iqs, 6);
	T_CHECK_STR(fake_answer(&e.srv, "now"), "result");
	T_CHECK_STR(fake_answer(&e.srv, "twice"), "not-allowed");
	T_CHECK_INT(twice.second_rc, -1);
	T_CHECK_STR(fake_answer(&e.srv, "never"), "internal-server-error");
	T_CHECK_STR(fake_answer(&e.srv, "later"), "result");
	T_CHECK_INT(later.late_rc, 0);
	/* Never answered: the timeout answered it. */
	T_CHECK_STR(fake_answer(&e.srv, "keep"), "internal-server-error");
	T_CHECK_STR(fake_answer(&e.srv, "nobody"), "service-unavailable");
	for (size_t i = 0; i < e.srv.n_iqs; i++) {
		T_CHECK_STR(xmpp_stanza_get_to(e.srv.iqs[i]), BOB);
		T_CHECK_STR(xmpp_stanza_get_from(e.srv.iqs[i]), FAKE_JID);
	}
	/* Its late answer is a no-op. */
	T_CHECK_INT(xm_iq_request_result(keep.kept[0], NULL), -1);
	xm_iq_request_release(&keep.kept[0]);
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(e.srv.n_iqs, 6);
	T_CHECK_INT(now.calls + twice.calls + never.calls + later.calls +
			keep.calls,
		    5);
	uv_close((uv_handle_t *)&later.timer, NULL);
	T_CHECK_INT(env_done(&e), 0);
}

static int refused_lines;

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)ctx;
	if (strstr(line, "refused an iq from") != NULL)
		refused_lines++;
}

static void test_flood(void)
{
	struct env e;
	struct handler keep = {.how = KEEP};
	struct xm_iq_stats st;
	char id[32];
	int refused = 0, errors = 0;

	env_init(&e);
	e.set.iq.pending_max = 8;
	e.set.iq.pending_per_sender_max = 3;
	refused_lines = 0;
	ut_log_set_hook(log_hook, NULL);
	start(&e);
	xm_iq_register(xm_component_iq(e.obs.c), XM_IQ_SET, "urn:k", handler_cb,
		       &keep);
	/* 40 IQs in one write: ten from u0, then from five senders in
	   turn. u0 gets three through (f0-f2), then u1-u4 fill the rest
	   (f11-f14, f16). */
	{
		struct ut_buf b = UT_BUF_INIT;

		for (int i = 0; i < 40; i++)
			ut_buf_appendf(
			    &b,
			    "<iq type='set' id='f%d' "
			    "from='u%d@example.org/r%d' to='" FAKE_JID
			    "'><q xmlns='urn:k'/></iq>",
			    i, i < 10 ? 0 : i % 5, i);
		fake_server_send(&e.srv, ut_buf_str(&b));
		ut_buf_free(&b);
	}
	RUN_UNTIL(&e.loop, e.srv.n_iqs >= 32, 3000);
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(keep.calls, 8);
	T_CHECK_INT(e.srv.n_iqs, 32);
	for (size_t i = 0; i < e.srv.n_iqs; i++)
		refused += strcmp(fake_iq_answer(e.srv.iqs[i]),
				  "resource-constraint") == 0;
	T_CHECK_INT(refused, 32);
	T_CHECK_INT(refused_lines, 1); /* rate-limited */
	{
		static const int through[] = {0, 1, 2, 11, 12, 13, 14, 16};

		for (size_t i = 0; i < sizeof(through) / sizeof(through[0]);
		     i++) {
			snprintf(id, sizeof(id), "f%d", through[i]);
			T_CHECK_INT(fake_count_iq(&e.srv, id), 0);
		}
	}
	/* Releasing them answers each once: 40 replies for 40 IQs. */
	for (size_t i = 0; i < keep.n_kept; i++)
		xm_iq_request_release(&keep.kept[i]);
	RUN_UNTIL(&e.loop, e.srv.n_iqs >= 40, 3000);
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(e.srv.n_iqs, 40);
	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "f%d", i);
		T_CHECK_INT(fake_count_iq(&e.srv, id), 1);
		errors += strcmp(fake_answer(&e.srv, id),
				 "internal-server-error") == 0;
	}
	T_CHECK_INT(errors, 8);
	/* Room again: the next one reaches the handler. */
	fake_server_send(&e.srv, "<iq type='set' id='again' "
				 "from='u1@example.org/r' to='" FAKE_JID
				 "'><q xmlns='urn:k'/></iq>");
	RUN_UNTIL(&e.loop, keep.calls == 9, 3000);
	T_CHECK_INT(keep.calls, 9);
	xm_iq_get_stats(xm_component_iq(e.obs.c), &st);
	T_CHECK_INT(st.refused_busy, 32);
	T_CHECK_INT(st.pending, 1);
	xm_iq_request_release(&keep.kept[keep.n_kept - 1]);
	T_CHECK_INT(env_done(&e), 0);
	ut_log_set_hook(NULL, NULL);
}

static void test_disco_features(void)
{
	struct env e;
	xmpp_stanza_t *r, *q, *ch;
	int features = 0;
	bool seen = false;

	env_init(&e);
	start(&e);
	T_CHECK_INT(xm_disco_add_feature(xm_component_disco(e.obs.c),
					 "urn:tidings:test"),
		    0);
	T_CHECK_INT(xm_disco_add_feature(xm_component_disco(e.obs.c),
					 "urn:tidings:test"),
		    -1);
	fake_server_send(&e.srv, "<iq type='get' id='d1' from='" BOB
				 "' to='" FAKE_JID "'><query xmlns='"
				 "http://jabber.org/protocol/disco#info'/>"
				 "</iq>");
	fake_server_send(&e.srv, "<iq type='get' id='d2' from='" BOB
				 "' to='" FAKE_JID "'><query xmlns='"
				 "http://jabber.org/protocol/disco#info' "
				 "node='unknown'/></iq>");
	fake_server_send(&e.srv, "<iq type='get' id='d3' from='" BOB
				 "' to='alice@" FAKE_JID "'><query xmlns='"
				 "http://jabber.org/protocol/disco#info'/>"
				 "</iq>");
	RUN_UNTIL(&e.loop, e.srv.n_iqs >= 3, 3000);
	T_CHECK_STR(fake_answer(&e.srv, "d2"), "item-not-found");
	T_CHECK_STR(fake_answer(&e.srv, "d3"), "service-unavailable");
	r = fake_find_iq(&e.srv, "d1");
	q = r != NULL ? xmpp_stanza_get_children(r) : NULL;
	for (ch = q != NULL ? xmpp_stanza_get_children(q) : NULL; ch != NULL;
	     ch = xmpp_stanza_get_next(ch)) {
		const char *var = xmpp_stanza_get_attribute(ch, "var");

		if (strcmp(xmpp_stanza_get_name(ch), "feature") != 0)
			continue;
		features++;
		seen = seen || strcmp(var, "urn:tidings:test") == 0;
	}
	T_CHECK_INT(features, 3);
	T_CHECK(seen);
	T_CHECK_INT(env_done(&e), 0);
}

/* ---- outbound ---- */

struct call_rec {
	int calls;
	enum xm_iq_outcome outcome;
	enum xm_roster_subscription sub;
	bool found;
};

static void roster_cb(enum xm_iq_outcome outcome, xmpp_stanza_t *reply,
		      void *ctx)
{
	struct call_rec *r = ctx;
	struct xm_roster_item item;

	r->calls++;
	r->outcome = outcome;
	if (reply != NULL &&
	    xm_privilege_roster_find(reply, FAKE_JID, &item) == 0) {
		r->found = true;
		r->sub = item.subscription;
		free(item.name);
	}
}

static const char *roster_get(struct env *e, const char *user,
			      struct call_rec *rec)
{
	static char id[64];
	xmpp_stanza_t *iq;
	uint64_t handle;

	T_CHECK_INT(xm_privilege_roster_get_new(e->sctx, user, &iq), 0);
	T_CHECK_INT(
	    xm_iq_send(xm_component_iq(e->obs.c), iq, roster_cb, rec, &handle),
	    0);
	snprintf(id, sizeof(id), "%s", xmpp_stanza_get_id(iq));
	xmpp_stanza_release(iq);
	return id;
}

static void roster_reply(struct env *e, const char *id, const char *from)
{
	char *xml = xasprintf(
	    "<iq type='result' id='%s' from='%s' to='" FAKE_JID "'><query "
	    "xmlns='jabber:iq:roster'><item jid='" FAKE_JID "' "
	    "subscription='both'/></query></iq>",
	    id, from);

	fake_server_send(&e->srv, xml);
	free(xml);
}

static void test_roster_query(void)
{
	struct env e;
	struct call_rec a = {0}, b = {0}, c = {0};
	xmpp_stanza_t *sent;
	char id[64];

	env_init(&e);
	e.set.iq.call_timeout_msecs = 200;
	start(&e);
	snprintf(id, sizeof(id), "%s", roster_get(&e, "alice@example.org", &a));
	RUN_UNTIL(&e.loop, e.srv.n_iqs >= 1, 3000);
	sent = fake_find_iq(&e.srv, id);
	T_CHECK(sent != NULL);
	if (sent != NULL) {
		T_CHECK_STR(xmpp_stanza_get_type(sent), "get");
		T_CHECK_STR(xmpp_stanza_get_to(sent), "alice@example.org");
		T_CHECK_STR(xmpp_stanza_get_from(sent), FAKE_JID);
		T_CHECK(xmpp_stanza_get_child_by_name_and_ns(
			    sent, "query", "jabber:iq:roster") != NULL);
	}
	/* Someone else answering with the right id is ignored. */
	roster_reply(&e, id, "mallory@example.org");
	roster_reply(&e, id, "mallory@evil.example");
	roster_reply(&e, id, "alice@example.org/phone");
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(a.calls, 0);
	roster_reply(&e, id, "alice@example.org");
	RUN_UNTIL(&e.loop, a.calls == 1, 3000);
	roster_reply(&e, id, "alice@example.org");
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(a.calls, 1);
	T_CHECK_INT(a.outcome, XM_IQ_RESULT);
	T_CHECK(a.found && a.sub == XM_ROSTER_BOTH);

	/* No answer: one timeout. */
	roster_get(&e, "bob@example.org", &b);
	RUN_UNTIL(&e.loop, b.calls == 1, 3000);
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(b.calls, 1);
	T_CHECK_INT(b.outcome, XM_IQ_TIMEOUT);

	/* The connection is lost: one 'disconnected'; the component comes
	   back, and the reply on the new stream changes nothing. */
	snprintf(id, sizeof(id), "%s", roster_get(&e, "carol@example.org", &c));
	RUN_UNTIL(&e.loop, fake_find_iq(&e.srv, id) != NULL, 3000);
	fake_server_drop(&e.srv);
	RUN_UNTIL(&e.loop, c.calls == 1 && e.obs.online == 2, 3000);
	T_CHECK_INT(c.calls, 1);
	T_CHECK_INT(c.outcome, XM_IQ_DISCONNECTED);
	roster_reply(&e, id, "carol@example.org");
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(c.calls, 1);
	T_CHECK_INT(a.calls + b.calls, 2);
	T_CHECK_INT(env_done(&e), 0);
}

int main(void)
{
	xmpp_initialize();
	ut_log_set_level(UT_LOG_WARN);
	T_RUN(test_answers);
	T_RUN(test_flood);
	T_RUN(test_disco_features);
	T_RUN(test_roster_query);
	xmpp_shutdown();
	return T_DONE();
}
