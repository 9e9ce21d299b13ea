/*
 * Unit tests of the stanza helpers: exact serialisation, escaping of text
 * and attribute values, round trips through xm_parser, replies and ids.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_xalloc.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<stream:stream xmlns='jabber:component:accept' "                      \
	"xmlns:stream='http://etherx.jabber.org/streams'>"

static xmpp_ctx_t *sctx;

static void to_text_check(xmpp_stanza_t *st, const char *want)
{
	size_t len = 0;
	char *s = xm_stanza_to_text(st, &len);
	T_CHECK_STR(s, want);
	T_CHECK_INT(len, strlen(want));
	free(s);
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **kept = ctx;
	if (*kept != NULL)
		xmpp_stanza_release(*kept);
	*kept = xmpp_stanza_clone(st);
}

/* Serialises st and parses it back; returns the parsed copy or NULL. */
static xmpp_stanza_t *round_trip(xmpp_stanza_t *st)
{
	xmpp_stanza_t *kept = NULL;
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	struct xm_parser *p = xm_parser_new(sctx, 1 << 20, 64, &cb, &kept);
	size_t len;
	char *s = xm_stanza_to_text(st, &len);
	const char *err;
	int rc = xm_parser_feed(p, HEADER, strlen(HEADER), &err);
	if (rc == 0)
		rc = xm_parser_feed(p, s, len, &err);
	T_CHECK_INT(rc, 0);
	free(s);
	xm_parser_free(&p);
	return kept;
}

static const char nasty[] = "a<b>c&d'e\"f ]]> &amp; \xc3\xa9\xf0\x9f\x98\x80";

static void test_text_escaping(void)
{
	xmpp_stanza_t *m = xm_message_new(sctx, "chat", "mail.example.org",
					  "bob@example.org", "id1");
	xm_message_set_body(m, nasty);
	to_text_check(m, "<message from=\"mail.example.org\" id=\"id1\" "
			 "to=\"bob@example.org\" type=\"chat\"><body>a&lt;b&gt;"
			 "c&amp;d&apos;e&quot;f ]]&gt; &amp;amp; "
			 "\xc3\xa9\xf0\x9f\x98\x80</body></message>");
	xmpp_stanza_t *back = round_trip(m);
	T_CHECK(back != NULL);
	if (back != NULL) {
		char *body = xm_elem_child_text(back, "body", NULL);
		T_CHECK_STR(body, nasty);
		free(body);
		T_CHECK_STR(xmpp_stanza_get_to(back), "bob@example.org");
		xmpp_stanza_release(back);
	}
	xmpp_stanza_release(m);
}

static void test_attr_escaping(void)
{
	const char *val = "<>&'\"\t\n\r x";
	xmpp_stanza_t *e = xm_elem_new(sctx, "x", "urn:test");
	xm_elem_set_attr(e, "v", val);
	to_text_check(e, "<x xmlns=\"urn:test\" v=\"&lt;&gt;&amp;&apos;"
			 "&quot;&#9;&#10;&#13; x\"/>");
	xmpp_stanza_t *back = round_trip(e);
	T_CHECK(back != NULL);
	if (back != NULL) {
		T_CHECK_STR(xmpp_stanza_get_attribute(back, "v"), val);
		T_CHECK_STR(xmpp_stanza_get_ns(back), "urn:test");
		xmpp_stanza_release(back);
	}
	/* NULL removes an attribute. */
	xm_elem_set_attr(e, "v", NULL);
	xm_elem_set_attr(e, "absent", NULL);
	to_text_check(e, "<x xmlns=\"urn:test\"/>");
	xmpp_stanza_release(e);
}

/* Text with CR and LF survives the round trip (CR is written as &#13;). */
static void test_multiline_round_trip(void)
{
	const char *text = "line 1\r\nline 2\rline 3\n\ttab";
	xmpp_stanza_t *m = xm_message_new(sctx, NULL, NULL, NULL, NULL);
	xm_message_set_body(m, text);
	xmpp_stanza_t *back = round_trip(m);
	T_CHECK(back != NULL);
	if (back != NULL) {
		char *body = xm_elem_child_text(back, "body", NULL);
		T_CHECK_STR(body, text);
		free(body);
		xmpp_stanza_release(back);
	}
	xmpp_stanza_release(m);
}

static void test_body_replace(void)
{
	xmpp_stanza_t *m = xm_message_new(sctx, "chat", NULL, "a@b", NULL);
	xm_message_set_body(m, "first");
	xm_message_set_body(m, "second");
	to_text_check(m, "<message to=\"a@b\" type=\"chat\"><body>second</body>"
			 "</message>");
	/* An empty <body/> gets a text child. */
	xmpp_stanza_t *m2 = xm_message_new(sctx, NULL, NULL, NULL, NULL);
	xm_elem_add_text_child(m2, "body", NULL);
	to_text_check(m2, "<message><body/></message>");
	xm_message_set_body(m2, "x");
	to_text_check(m2, "<message><body>x</body></message>");
	xmpp_stanza_release(m);
	xmpp_stanza_release(m2);
}

static void test_children(void)
{
	xmpp_stanza_t *m = xm_message_new(sctx, NULL, NULL, NULL, NULL);
	xmpp_stanza_t *n = xm_elem_new(sctx, "notify", "urn:tidings:0");
	xmpp_stanza_t *c = xm_elem_add_text_child(n, "subject", "S");
	T_CHECK_STR(xmpp_stanza_get_name(c), "subject");
	xm_elem_add_text_child(n, "empty", "");
	xm_elem_add_text_child(n, "none", NULL);
	xm_elem_adopt(m, n);
	to_text_check(m, "<message><notify xmlns=\"urn:tidings:0\"><subject>S"
			 "</subject><empty></empty><none/></notify></message>");

	char *t = xm_elem_child_text(n, "subject", NULL);
	T_CHECK_STR(t, "S");
	free(t);
	t = xm_elem_child_text(n, "empty", NULL);
	T_CHECK_STR(t, "");
	free(t);
	T_CHECK(xm_elem_child_text(n, "absent", NULL) == NULL);
	T_CHECK(xm_elem_child_text(m, "notify", "urn:other") == NULL);
	t = xm_elem_child_text(m, "notify", "urn:tidings:0");
	T_CHECK_STR(t, "");
	free(t);
	xmpp_stanza_release(m);
}

static void test_replies(void)
{
	xmpp_stanza_t *iq = xm_elem_new(sctx, "iq", NULL);
	xm_elem_set_attr(iq, "type", "get");
	xm_elem_set_attr(iq, "id", "q1");
	xm_elem_set_attr(iq, "from", "bob@example.org/phone");
	xm_elem_set_attr(iq, "to", "mail.example.org");
	xm_elem_adopt(iq, xm_elem_new(sctx, "query", "urn:x"));

	xmpp_stanza_t *r = xm_iq_result_new(sctx, iq);
	to_text_check(r, "<iq from=\"mail.example.org\" id=\"q1\" "
			 "to=\"bob@example.org/phone\" type=\"result\"/>");
	xmpp_stanza_release(r);

	r = xm_error_reply_new(sctx, iq, "cancel", "service-unavailable", NULL);
	to_text_check(r, "<iq from=\"mail.example.org\" id=\"q1\" "
			 "to=\"bob@example.org/phone\" type=\"error\"><error "
			 "type=\"cancel\"><service-unavailable "
			 "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"
			 "</error></iq>");
	xmpp_stanza_release(r);

	xmpp_stanza_t *m = xm_message_new(sctx, "chat", "a@b", "c@d", NULL);
	r = xm_error_reply_new(sctx, m, "modify", "bad-request", "no way");
	to_text_check(r, "<message from=\"c@d\" to=\"a@b\" type=\"error\">"
			 "<error type=\"modify\"><bad-request "
			 "xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"
			 "<text xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\">"
			 "no way</text></error></message>");
	xmpp_stanza_release(r);
	xmpp_stanza_release(m);
	xmpp_stanza_release(iq);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_ids(void)
{
	enum { N = 20000 };
	char **ids = xcalloc(N, sizeof(*ids));
	int bad_prefix = 0, dups = 0;
	for (int i = 0; i < N; i++) {
		ids[i] = xm_id_new();
		if (ids[i][0] != 't' || strlen(ids[i]) < 18)
			bad_prefix++;
	}
	qsort(ids, N, sizeof(*ids), cmp_str);
	for (int i = 1; i < N; i++)
		dups += strcmp(ids[i - 1], ids[i]) == 0;
	T_CHECK_INT(bad_prefix, 0);
	T_CHECK_INT(dups, 0);
	for (int i = 0; i < N; i++)
		free(ids[i]);
	free(ids);
}

int main(void)
{
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_text_escaping);
	T_RUN(test_attr_escaping);
	T_RUN(test_multiline_round_trip);
	T_RUN(test_body_replace);
	T_RUN(test_children);
	T_RUN(test_replies);
	T_RUN(test_ids);
	xmpp_ctx_free(sctx);
	return T_DONE();
}
