/*
 * XEP-0100 jabber:iq:gateway (xm_gateway.h) on an IQ engine of its own
 * with service discovery (a real loop, a send function that records):
 * the prompt, translation with the white space cut, every refusal in the
 * header's order (other JID, no 'from', a stranger, no prompt, empty, too
 * long, untranslatable), disco#info listing the feature and the identity
 * to anyone, double registration and unregistration; with exact counts of
 * answers and of translate calls.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_xalloc.h"
#include "xm_gateway.h"
#include "xm_jid.h"
#include "xml_in.h"

#define COMP  "mail.example.org"
#define BOB   "bob@example.org/res"
#define EVE   "eve@evil.example/x"
#define NS_GW "jabber:iq:gateway"

static xmpp_ctx_t *sctx;
static uv_loop_t loop;

static xmpp_stanza_t *sent[64];
static size_t n_sent;

static int send_cb(xmpp_stanza_t *st, void *ctx)
{
	(void)ctx;
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

static xmpp_stanza_t *find_id(const char *id)
{
	for (size_t i = 0; i < n_sent; i++) {
		if (strcmp(xmpp_stanza_get_id(sent[i]), id) == 0)
			return sent[i];
	}
	return NULL;
}

static int count_id(const char *id)
{
	int n = 0;

	for (size_t i = 0; i < n_sent; i++)
		n += strcmp(xmpp_stanza_get_id(sent[i]), id) == 0;
	return n;
}

/* "result", the error condition, or NULL when unanswered. */
static const char *answer_of(const char *id)
{
	xmpp_stanza_t *r = find_id(id), *err;

	if (r == NULL)
		return NULL;
	if (strcmp(xmpp_stanza_get_type(r), "result") == 0)
		return "result";
	err = xmpp_stanza_get_child_by_name(r, "error");
	for (xmpp_stanza_t *c = err != NULL ? xmpp_stanza_get_children(err)
					    : NULL;
	     c != NULL; c = xmpp_stanza_get_next(c)) {
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), "text") != 0)
			return xmpp_stanza_get_name(c);
	}
	return "(no condition)";
}

static const char *error_type(const char *id)
{
	xmpp_stanza_t *r = find_id(id);
	xmpp_stanza_t *err =
	    r != NULL ? xmpp_stanza_get_child_by_name(r, "error") : NULL;

	return err != NULL ? xmpp_stanza_get_type(err) : "(none)";
}

/* The error's <text/>, xmalloc'ed, or NULL. */
static char *error_text(const char *id)
{
	xmpp_stanza_t *r = find_id(id);
	xmpp_stanza_t *err =
	    r != NULL ? xmpp_stanza_get_child_by_name(r, "error") : NULL;

	return err != NULL ? xm_elem_child_text(err, "text", NULL) : NULL;
}

/* Text of child name of the answer's gateway query, xmalloc'ed, or NULL. */
static char *query_text(const char *id, const char *name)
{
	xmpp_stanza_t *r = find_id(id);
	xmpp_stanza_t *q =
	    r != NULL ? xmpp_stanza_get_child_by_name_and_ns(r, "query", NS_GW)
		      : NULL;

	return q != NULL ? xm_elem_child_text(q, name, NULL) : NULL;
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

/* A set with body as the query's content (from NULL: no 'from'). */
static void feed_set(struct xm_iq *q, const char *id, const char *from,
		     const char *to, const char *body)
{
	char *xml = xasprintf(
	    "<iq type='set' id='%s'%s%s%s to='%s'><query xmlns='" NS_GW
	    "'>%s</query></iq>",
	    id, from != NULL ? " from='" : "", from != NULL ? from : "",
	    from != NULL ? "'" : "", to, body);

	feed(q, xml);
	free(xml);
}

static void feed_get(struct xm_iq *q, const char *id, const char *from,
		     const char *to, const char *ns)
{
	char *xml = xasprintf("<iq type='get' id='%s' from='%s' to='%s'>"
			      "<query xmlns='%s'/></iq>",
			      id, from, to, ns);

	feed(q, xml);
	free(xml);
}

/* ---- the registrant ---- */

static int translate_calls;
static char last_prompt[2048];

static bool local_only(const char *requester, void *ctx)
{
	(void)ctx;
	return xm_jid_domain_is(requester, "example.org");
}

/* A stand-in for the bridge: "x@y" becomes x\40y@component. */
static int translate_cb(const char *prompt, char **jid_r, const char **text_r,
			void *ctx)
{
	const char *at = strchr(prompt, '@');
	char *node;

	(void)ctx;
	translate_calls++;
	snprintf(last_prompt, sizeof(last_prompt), "%s", prompt);
	if (at == NULL || at == prompt || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL) {
		*text_r = "Not an e-mail address.";
		return -1;
	}
	node = xm_jid_escape_node(prompt);
	*jid_r = xasprintf("%s@" COMP, node);
	free(node);
	return 0;
}

struct env {
	struct xm_iq *q;
	struct xm_disco *d;
	struct xm_gateway *g;
};

static void env_start(struct env *e)
{
	struct xm_iq_settings set = {0};

	e->q = xm_iq_new(&loop, sctx, &set, send_cb, NULL);
	e->d = xm_disco_new(e->q, sctx, COMP, "gateway", "smtp", "Mail");
	T_CHECK(e->d != NULL);
	T_CHECK_INT(xm_gateway_register(e->q, e->d, sctx, COMP,
					"Enter the e-mail address.", "Address",
					local_only, translate_cb, NULL, &e->g),
		    0);
	T_CHECK(e->g != NULL);
	translate_calls = 0;
}

static void env_finish(struct env *e)
{
	xm_gateway_free(&e->g, e->q, e->d);
	T_CHECK(e->g == NULL);
	xm_disco_free(&e->d, e->q);
	xm_iq_close(&e->q, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	sent_clear();
}

/* ---- tests ---- */

static void test_prompt_and_translate(void)
{
	struct env e;
	char *s;

	env_start(&e);
	feed_get(e.q, "g1", BOB, COMP, NS_GW);
	T_CHECK_STR(answer_of("g1"), "result");
	T_CHECK_STR(xmpp_stanza_get_to(find_id("g1")), BOB);
	s = query_text("g1", "desc");
	T_CHECK_STR(s, "Enter the e-mail address.");
	free(s);
	s = query_text("g1", "prompt");
	T_CHECK_STR(s, "Address");
	free(s);

	feed_set(e.q, "s1", BOB, COMP, "<prompt>carol@example.net</prompt>");
	T_CHECK_STR(answer_of("s1"), "result");
	s = query_text("s1", "jid");
	T_CHECK_STR(s, "carol\\40example.net@" COMP);
	free(s);

	/* White space around is cut; inside it stays; escapes reach it as
	   text. */
	feed_set(e.q, "s2", BOB, COMP,
		 "<prompt>\n\t  &lt;a&amp;b&gt;@example.net \r\n</prompt>");
	T_CHECK_STR(last_prompt, "<a&b>@example.net");
	s = query_text("s2", "jid");
	T_CHECK_STR(s, "\\3ca\\26b\\3e\\40example.net@" COMP);
	free(s);

	/* Not translatable: not-acceptable with the callback's text. */
	feed_set(e.q, "s3", BOB, COMP, "<prompt>carol</prompt>");
	T_CHECK_STR(answer_of("s3"), "not-acceptable");
	T_CHECK_STR(error_type("s3"), "modify");
	s = error_text("s3");
	T_CHECK_STR(s, "Not an e-mail address.");
	free(s);
	T_CHECK_INT(translate_calls, 3);
	T_CHECK_INT(n_sent, 4);
	env_finish(&e);
}

static void test_refusals(void)
{
	struct env e;
	char *big = xmalloc(XM_GATEWAY_PROMPT_MAX + 64), *xml;

	env_start(&e);
	/* Strangers and IQs without 'from': forbidden, type auth, get and
	   set, nothing translated. */
	feed_get(e.q, "f1", EVE, COMP, NS_GW);
	feed_set(e.q, "f2", EVE, COMP, "<prompt>carol@example.net</prompt>");
	feed_set(e.q, "f3", NULL, COMP, "<prompt>carol@example.net</prompt>");
	feed(e.q, "<iq type='get' id='f4' to='" COMP "'><query xmlns='" NS_GW
		  "'/></iq>");
	T_CHECK_STR(answer_of("f1"), "forbidden");
	T_CHECK_STR(error_type("f1"), "auth");
	T_CHECK_STR(answer_of("f2"), "forbidden");
	T_CHECK_STR(error_type("f2"), "auth");
	T_CHECK_STR(answer_of("f3"), "forbidden");
	T_CHECK_STR(answer_of("f4"), "forbidden");
	T_CHECK(find_id("f1") != NULL &&
		xmpp_stanza_get_child_by_name(find_id("f1"), "query") == NULL);

	/* Another JID than the component's: as if nobody handled it, even
	   for a local user. */
	feed_get(e.q, "o1", BOB, "carol\\40example.net@" COMP, NS_GW);
	feed_set(e.q, "o2", BOB, "other.example.org",
		 "<prompt>carol@example.net</prompt>");
	T_CHECK_STR(answer_of("o1"), "service-unavailable");
	T_CHECK_STR(answer_of("o2"), "service-unavailable");

	/* No prompt, an empty one, one of white space only. */
	feed_set(e.q, "p1", BOB, COMP, "");
	feed_set(e.q, "p2", BOB, COMP, "<desc>carol@example.net</desc>");
	feed_set(e.q, "p3", BOB, COMP, "<prompt/>");
	feed_set(e.q, "p4", BOB, COMP, "<prompt> \n\t </prompt>");
	T_CHECK_STR(answer_of("p1"), "bad-request");
	T_CHECK_STR(error_type("p1"), "modify");
	T_CHECK_STR(answer_of("p2"), "bad-request");
	T_CHECK_STR(answer_of("p3"), "not-acceptable");
	T_CHECK_STR(answer_of("p4"), "not-acceptable");

	/* The bound: exactly XM_GATEWAY_PROMPT_MAX bytes (after the cut)
	   is translated, one more is not. */
	memset(big, 'a', XM_GATEWAY_PROMPT_MAX);
	memcpy(big + XM_GATEWAY_PROMPT_MAX - 4, "@x.y", 4);
	big[XM_GATEWAY_PROMPT_MAX] = '\0';
	xml = xasprintf("<prompt>  %s\n</prompt>", big);
	feed_set(e.q, "b1", BOB, COMP, xml);
	free(xml);
	T_CHECK_INT(translate_calls, 1);
	T_CHECK_INT((long long)strlen(last_prompt), XM_GATEWAY_PROMPT_MAX);
	T_CHECK_STR(answer_of("b1"), "result");
	xml = xasprintf("<prompt>b%s</prompt>", big);
	feed_set(e.q, "b2", BOB, COMP, xml);
	free(xml);
	T_CHECK_STR(answer_of("b2"), "not-acceptable");
	T_CHECK_INT(translate_calls, 1);

	/* Exactly one answer each. */
	const char *ids[] = {"f1", "f2", "f3", "f4", "o1", "o2",
			     "p1", "p2", "p3", "p4", "b1", "b2"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		T_CHECK_INT(count_id(ids[i]), 1);
	T_CHECK_INT(n_sent, sizeof(ids) / sizeof(ids[0]));
	free(big);
	env_finish(&e);
}

/* True if disco#info answer id lists feature var. */
static bool has_feature(const char *id, const char *var)
{
	xmpp_stanza_t *r = find_id(id), *q;

	q = r != NULL ? xmpp_stanza_get_child_by_name(r, "query") : NULL;
	for (xmpp_stanza_t *c = q != NULL ? xmpp_stanza_get_children(q) : NULL;
	     c != NULL; c = xmpp_stanza_get_next(c)) {
		const char *v = xmpp_stanza_get_attribute(c, "var");

		if (strcmp(xmpp_stanza_get_name(c), "feature") == 0 &&
		    v != NULL && strcmp(v, var) == 0)
			return true;
	}
	return false;
}

static void test_disco(void)
{
	struct env e;
	struct xm_gateway *again = NULL;
	xmpp_stanza_t *id;

	env_start(&e);
	/* Public: a stranger sees the feature and the identity too. */
	feed_get(e.q, "d1", BOB, COMP, XM_NS_DISCO_INFO);
	feed_get(e.q, "d2", EVE, COMP, XM_NS_DISCO_INFO);
	T_CHECK(has_feature("d1", NS_GW));
	T_CHECK(has_feature("d2", NS_GW));
	id = xmpp_stanza_get_child_by_name(
	    xmpp_stanza_get_child_by_name(find_id("d2"), "query"), "identity");
	T_CHECK(id != NULL);
	if (id != NULL) {
		T_CHECK_STR(xmpp_stanza_get_attribute(id, "category"),
			    "gateway");
		T_CHECK_STR(xmpp_stanza_get_attribute(id, "type"), "smtp");
		T_CHECK_STR(xmpp_stanza_get_attribute(id, "name"), "Mail");
	}

	/* Twice: refused, nothing changes. */
	T_CHECK_INT(xm_gateway_register(e.q, e.d, sctx, COMP, "d", "p",
					local_only, translate_cb, NULL, &again),
		    -1);
	T_CHECK(again == NULL);
	feed_get(e.q, "g1", BOB, COMP, NS_GW);
	T_CHECK_STR(answer_of("g1"), "result");

	/* Freed: the feature and the handlers go. */
	xm_gateway_free(&e.g, e.q, e.d);
	feed_get(e.q, "d3", BOB, COMP, XM_NS_DISCO_INFO);
	T_CHECK(!has_feature("d3", NS_GW));
	feed_get(e.q, "g2", BOB, COMP, NS_GW);
	T_CHECK_STR(answer_of("g2"), "service-unavailable");

	/* And it registers again. */
	T_CHECK_INT(xm_gateway_register(e.q, e.d, sctx, COMP, "d", "p",
					local_only, translate_cb, NULL, &e.g),
		    0);
	feed_get(e.q, "g3", BOB, COMP, NS_GW);
	T_CHECK_STR(answer_of("g3"), "result");
	env_finish(&e);
}

/* Freed after the engine and discovery are gone (as tidingsd does after
   xm_component_close()). */
static void test_free_after_close(void)
{
	struct env e;

	env_start(&e);
	xm_disco_free(&e.d, e.q);
	xm_iq_close(&e.q, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	xm_gateway_free(&e.g, NULL, NULL);
	T_CHECK(e.g == NULL);
	xm_gateway_free(&e.g, NULL, NULL);
	sent_clear();
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	uv_loop_init(&loop);
	T_RUN(test_prompt_and_translate);
	T_RUN(test_refusals);
	T_RUN(test_disco);
	T_RUN(test_free_after_close);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
