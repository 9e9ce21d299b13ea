/*
 * The component's protocol against a fake server: handshake digest and
 * stream header, the answers it gives by itself (ping, disco, unknown IQ),
 * the 'from' rule, confirmation order and ping batching, the outbox bound,
 * keepalive, and closing from inside every callback.
 */
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "ut_log.h"
#include "test.h"

static int log_secret_hits, log_lines;
static char digest_hex[41];

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)ctx;
	log_lines++;
	if (strstr(line, FAKE_SECRET) != NULL ||
	    (digest_hex[0] != '\0' && strstr(line, digest_hex) != NULL))
		log_secret_hits++;
}

static xmpp_stanza_t *find_iq(struct fake_server *s, const char *id)
{
	for (size_t i = 0; i < s->n_iqs; i++) {
		if (strcmp(xmpp_stanza_get_id(s->iqs[i]), id) == 0)
			return s->iqs[i];
	}
	return NULL;
}

static int count_children(xmpp_stanza_t *st)
{
	int n = 0;

	for (xmpp_stanza_t *ch = xmpp_stanza_get_children(st); ch != NULL;
	     ch = xmpp_stanza_get_next(ch))
		n += xmpp_stanza_is_tag(ch);
	return n;
}

static void check_result_from(struct fake_server *s, const char *id,
			      const char *from)
{
	xmpp_stanza_t *r = find_iq(s, id);

	T_CHECK(r != NULL);
	if (r == NULL)
		return;
	T_CHECK_STR(xmpp_stanza_get_type(r), "result");
	T_CHECK_STR(xmpp_stanza_get_to(r), "bob@example.org/res");
	T_CHECK_STR(xmpp_stanza_get_from(r), from);
}

static void check_result(struct fake_server *s, const char *id)
{
	check_result_from(s, id, FAKE_JID);
}

static void test_handshake_and_builtin_answers(void)
{
	struct env e;
	xmpp_stanza_t *r, *q, *ch;
	char hex[41];

	/* The digest the fake server checks, against Python's hashlib. */
	fake_digest("stream-id-1", hex);
	T_CHECK_STR(hex, "86b15e0cd831373dc154fc201456d697eb1a589f");
	memcpy(digest_hex, hex, sizeof(hex));
	ut_log_set_hook(log_hook, NULL);
	ut_log_set_level(UT_LOG_TRACE);
	ut_log_set_trace(UT_TRACE_XMPP);

	env_init(&e);
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	T_CHECK_INT(e.obs.online, 1);
	T_CHECK(xm_component_online(e.obs.c));
	T_CHECK_INT(e.srv.handshakes_ok, 1);
	T_CHECK_INT(e.srv.handshakes_bad, 0);
	T_CHECK_STR(e.srv.stream_to, FAKE_JID);

#define FROM "from='bob@example.org/res' "
	/* Results and errors are never answered; the callback sees them. */
	fake_server_send(&e.srv, "<iq type='result' id='r1' " FROM
				 "to='" FAKE_JID "'/>");
	fake_server_send(&e.srv, "<iq type='error' id='r2' " FROM
				 "to='" FAKE_JID "'/>");
	fake_server_send(&e.srv, "<iq type='get' id='p1' " FROM "to='" FAKE_JID
				 "'><ping "
				 "xmlns='urn:xmpp:ping'/></iq>");
	fake_server_send(&e.srv, "<iq type='get' id='p2' " FROM
				 "to='someone@" FAKE_JID "/x'><ping "
				 "xmlns='urn:xmpp:ping'/></iq>");
	fake_server_send(
	    &e.srv, "<iq type='get' id='d1' " FROM "to='" FAKE_JID "'><query "
		    "xmlns='http://jabber.org/protocol/disco#info'/></iq>");
	fake_server_send(
	    &e.srv, "<iq type='get' id='d2' " FROM "to='" FAKE_JID "'><query "
		    "xmlns='http://jabber.org/protocol/disco#items'/></iq>");
	fake_server_send(&e.srv, "<iq type='get' id='u1' " FROM "to='" FAKE_JID
				 "'><vCard "
				 "xmlns='vcard-temp'/></iq>");
	env_answer_sets(&e, "urn:x");
	fake_server_send(&e.srv, "<iq type='set' id='h1' " FROM "to='" FAKE_JID
				 "'><x xmlns='urn:x'/></iq>");
	fake_server_send(&e.srv, "<message id='m1' " FROM "to='" FAKE_JID
				 "'><body>hi</body></message>");
	RUN_UNTIL(&e.loop, e.srv.n_iqs >= 6 && e.obs.stanzas >= 1, 3000);
	/* Give any wrong extra reply the chance to arrive. */
	RUN_UNTIL(&e.loop, false, 50);
	T_CHECK_INT(e.srv.n_iqs, 6);
	/* IQs never reach the stanza callback: r1 and r2 answer nothing we
	   sent and are dropped, u1 is nobody's, h1 went to its handler. */
	T_CHECK_INT(e.obs.stanzas, 1);
	T_CHECK_INT(e.obs.iq_sets, 1);
	T_CHECK_STR(e.obs.last_name, "message");
	T_CHECK(find_iq(&e.srv, "r1") == NULL);
	T_CHECK(find_iq(&e.srv, "r2") == NULL);
	check_result(&e.srv, "p1");
	T_CHECK_INT(count_children(find_iq(&e.srv, "p1")), 0);
	check_result_from(&e.srv, "p2", "someone@" FAKE_JID "/x");
	check_result(&e.srv, "h1");
	check_result(&e.srv, "d2");
	q = xmpp_stanza_get_children(find_iq(&e.srv, "d2"));
	T_CHECK(q != NULL && count_children(q) == 0);
	T_CHECK_STR(xmpp_stanza_get_ns(q),
		    "http://jabber.org/protocol/disco#items");

	check_result(&e.srv, "d1");
	r = find_iq(&e.srv, "d1");
	q = r != NULL ? xmpp_stanza_get_children(r) : NULL;
	T_CHECK(q != NULL);
	if (q != NULL) {
		T_CHECK_STR(xmpp_stanza_get_ns(q),
			    "http://jabber.org/protocol/disco#info");
		T_CHECK_INT(count_children(q), 3);
		ch = xmpp_stanza_get_children(q);
		T_CHECK_STR(xmpp_stanza_get_name(ch), "identity");
		T_CHECK_STR(xmpp_stanza_get_attribute(ch, "category"),
			    "gateway");
		T_CHECK_STR(xmpp_stanza_get_attribute(ch, "type"), "smtp");
		T_CHECK_STR(xmpp_stanza_get_attribute(ch, "name"), "Mail");
		ch = xmpp_stanza_get_next(ch);
		T_CHECK_STR(xmpp_stanza_get_attribute(ch, "var"),
			    "http://jabber.org/protocol/disco#info");
		ch = xmpp_stanza_get_next(ch);
		T_CHECK_STR(xmpp_stanza_get_attribute(ch, "var"),
			    "urn:xmpp:ping");
	}

	r = find_iq(&e.srv, "u1");
	T_CHECK(r != NULL);
	if (r != NULL) {
		T_CHECK_STR(xmpp_stanza_get_type(r), "error");
		T_CHECK_STR(xmpp_stanza_get_from(r), FAKE_JID);
		q = xmpp_stanza_get_child_by_name(r, "error");
		T_CHECK(q != NULL);
		T_CHECK_STR(xmpp_stanza_get_type(q), "cancel");
		T_CHECK(q != NULL &&
			xmpp_stanza_get_child_by_name_and_ns(
			    q, "service-unavailable",
			    "urn:ietf:params:xml:ns:xmpp-stanzas") != NULL);
	}
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(e.obs.close_cbs, 1);
	T_CHECK(log_lines > 10); /* tracing was on */
	T_CHECK_INT(log_secret_hits, 0);
	ut_log_set_hook(NULL, NULL);
	ut_log_set_level(UT_LOG_WARN);
	ut_log_set_trace(0);
}

static void test_from_rule(void)
{
	struct env e;
	xmpp_stanza_t *m;

	env_init(&e);
	env_component(&e);
	T_CHECK_INT(env_send(&e, "x1", "evil.example.org", 1), -1);
	T_CHECK_INT(env_send(&e, "x2", "mail.example.org.evil", 2), -1);
	T_CHECK_INT(env_send(&e, "x3", "x@sub.mail.example.org", 3), -1);
	T_CHECK_INT(env_send(&e, "x4", "example.org", 4), -1);
	T_CHECK_INT(env_send(&e, "x5", "x@evil.org/mail.example.org", 5), -1);
	T_CHECK_INT(
	    env_send(&e, "ok1", "alice\\40example.net@MAIL.example.org/r", 6),
	    0);
	T_CHECK_INT(env_send(&e, "ok2", FAKE_JID, 7), 0);
	m = xmpp_message_new(e.sctx, "chat", "bob@example.org", "ok3");
	T_CHECK_INT(xm_component_send(e.obs.c, m, 8), 0);
	/* The caller's stanza is left as it was. */
	T_CHECK(xmpp_stanza_get_from(m) == NULL);
	xmpp_stanza_release(m);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 3, 3000);
	T_CHECK_INT(e.obs.n_tokens, 3);
	T_CHECK_INT(e.srv.n_msgs, 3);
	if (e.srv.n_msgs == 3) {
		T_CHECK_STR(e.srv.msgs[0].from,
			    "alice\\40example.net@MAIL.example.org/r");
		T_CHECK_STR(e.srv.msgs[1].from, FAKE_JID);
		T_CHECK_STR(e.srv.msgs[2].from, FAKE_JID);
		T_CHECK_STR(e.srv.msgs[2].id, "ok3");
	}
	T_CHECK_INT(env_done(&e), 0);
}

static void test_confirm_order_and_batching(void)
{
	struct env e;
	struct xm_component_stats st;
	char id[32];
	bool in_order = true;
	const int n = 5000;
	double t0;

	env_init(&e);
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	t0 = now_msecs();
	for (int i = 1; i <= n; i++) {
		snprintf(id, sizeof(id), "b%d", i);
		T_CHECK_INT(env_send(&e, id, NULL, (uint64_t)i), 0);
	}
	RUN_UNTIL(&e.loop, e.obs.n_tokens == (size_t)n, 10000);
	printf("  %d stanzas confirmed in %.1f ms with %d pings\n", n,
	       now_msecs() - t0, e.srv.pings);
	T_CHECK_INT(e.obs.n_tokens, n);
	for (size_t i = 0; i < e.obs.n_tokens; i++)
		in_order = in_order && e.obs.tokens[i] == i + 1;
	T_CHECK(in_order);
	T_CHECK_INT(e.srv.n_msgs, n);
	T_CHECK(e.srv.pings >= 5 && e.srv.pings <= 20);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.stanzas_out, n);
	T_CHECK_INT(st.resent, 0);
	T_CHECK_INT(st.outbox_len, 0);
	T_CHECK_INT(st.connects, 1);
	/* Token 0 is never reported. */
	T_CHECK_INT(env_send(&e, "z", NULL, 0), 0);
	T_CHECK_INT(
	    xm_component_send_raw(e.obs.c, "<message id='raw'/>", 19, 77), 0);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == (size_t)n + 1, 3000);
	T_CHECK_INT(e.obs.n_tokens, n + 1);
	T_CHECK_INT(e.obs.tokens[n], 77);
	T_CHECK_STR(e.srv.msgs[e.srv.n_msgs - 1].id, "raw");
	T_CHECK_INT(env_done(&e), 0);
}

static void test_outbox_max_and_keepalive(void)
{
	struct env e;
	struct xm_component_stats st;

	env_init(&e);
	e.set.outbox_max = 3;
	e.set.keepalive_msecs = 40;
	env_component(&e);
	T_CHECK_INT(env_send(&e, "q1", NULL, 1), 0);
	T_CHECK_INT(env_send(&e, "q2", NULL, 2), 0);
	T_CHECK_INT(xm_component_send_raw(e.obs.c, "<message id='q3'/>", 18, 3),
		    0);
	T_CHECK_INT(env_send(&e, "q4", NULL, 4), -1);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.dropped, 1);
	T_CHECK_INT(st.outbox_len, 3);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 3, 3000);
	T_CHECK_INT(e.obs.n_tokens, 3);
	T_CHECK_INT(e.srv.pings, 1);
	/* Idle now: keepalive pings follow, the stream stays up. */
	RUN_UNTIL(&e.loop, e.srv.pings >= 4, 2000);
	T_CHECK(e.srv.pings >= 4);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.connects, 1);
	T_CHECK_INT(st.disconnects, 0);
	T_CHECK_INT(env_done(&e), 0);
}

static void test_close_in_confirmed(void)
{
	struct env e;

	env_init(&e);
	env_component(&e);
	e.obs.close_at_token = 2;
	for (int i = 1; i <= 5; i++)
		env_send(&e, "c", NULL, (uint64_t)i);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.close_cbs == 1, 3000);
	T_CHECK_INT(e.obs.close_cbs, 1);
	T_CHECK_INT(e.obs.n_tokens, 2);
	T_CHECK_INT(e.obs.offline, 0);
	T_CHECK_INT(e.obs.calls_after_close, 0);
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(e.obs.close_cbs, 1);
}

static void test_close_in_stanza_and_state(void)
{
	struct env e;

	/* Two messages in one write: only the first reaches the callback. */
	env_init(&e);
	env_component(&e);
	e.obs.close_in_stanza = true;
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	fake_server_send(&e.srv, "<message id='a'/><message id='b'/>"
				 "<iq type='get' id='c'><q xmlns='x'/></iq>");
	RUN_UNTIL(&e.loop, e.obs.close_cbs == 1, 3000);
	T_CHECK_INT(e.obs.stanzas, 1);
	T_CHECK_STR(e.obs.last_id, "a");
	T_CHECK_INT(e.obs.calls_after_close, 0);
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(e.obs.close_cbs, 1);

	env_init(&e);
	env_component(&e);
	e.obs.close_in_online = true;
	env_send(&e, "never-confirmed", NULL, 1);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.close_cbs == 1, 3000);
	T_CHECK_INT(e.obs.online, 1);
	T_CHECK_INT(e.obs.offline, 0);
	T_CHECK_INT(e.obs.n_tokens, 0);
	T_CHECK_INT(e.obs.calls_after_close, 0);
	T_CHECK_INT(env_done(&e), 0);

	/* Closed while resolving a name on the thread pool. */
	env_init(&e);
	e.set.host = "localhost";
	env_component(&e);
	xm_component_start(e.obs.c);
	xm_component_close(&e.obs.c, NULL, NULL);
	T_CHECK(e.obs.c == NULL);
	e.obs.closed = true;
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(e.obs.online, 0);
	T_CHECK_INT(e.srv.conns, 0);
}

int main(void)
{
	xmpp_initialize();
	ut_log_set_level(UT_LOG_WARN);
	T_RUN(test_handshake_and_builtin_answers);
	T_RUN(test_from_rule);
	T_RUN(test_confirm_order_and_batching);
	T_RUN(test_outbox_max_and_keepalive);
	T_RUN(test_close_in_confirmed);
	T_RUN(test_close_in_stanza_and_state);
	xmpp_shutdown();
	return T_DONE();
}
