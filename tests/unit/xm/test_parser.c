/*
 * Unit tests of xm_parser: namespaces, split input, immediate delivery,
 * refused constructs, limits and reset.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ut_buf.h"
#include "test.h"
#include "ut_xalloc.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='abc' "            \
	"from='mail.example.org' xml:lang='en'>"

static xmpp_ctx_t *sctx;

struct rec {
	int starts;
	int ends;
	char *start_name;
	char *start_id;
	char *start_lang;
	bool start_has_xmlns;
	/* Every stanza serialised, one per line. */
	struct ut_buf stanzas;
	int count;
};

static void rec_start(void *ctx, const char *name, const char **attrs)
{
	struct rec *r = ctx;
	r->starts++;
	free(r->start_name);
	r->start_name = xstrdup(name);
	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		if (strcmp(attrs[i], "id") == 0) {
			free(r->start_id);
			r->start_id = xstrdup(attrs[i + 1]);
		}
		if (strcmp(attrs[i], "xml:lang") == 0) {
			free(r->start_lang);
			r->start_lang = xstrdup(attrs[i + 1]);
		}
		if (strncmp(attrs[i], "xmlns", 5) == 0)
			r->start_has_xmlns = true;
	}
}

static void rec_stanza(void *ctx, xmpp_stanza_t *st)
{
	struct rec *r = ctx;
	char *s = xm_stanza_to_text(st, NULL);
	ut_buf_append_str(&r->stanzas, s);
	ut_buf_append_c(&r->stanzas, '\n');
	free(s);
	r->count++;
}

static void rec_end(void *ctx)
{
	struct rec *r = ctx;
	r->ends++;
}

static const struct xm_parser_callbacks rec_cb = {
    .stream_start = rec_start,
    .stanza = rec_stanza,
    .stream_end = rec_end,
};

static void rec_free(struct rec *r)
{
	free(r->start_name);
	free(r->start_id);
	free(r->start_lang);
	ut_buf_free(&r->stanzas);
	memset(r, 0, sizeof(*r));
}

/* Feeds text in one piece; returns feed's result and the error. */
static int feed_all(struct xm_parser *p, const char *text, const char **err)
{
	*err = NULL;
	return xm_parser_feed(p, text, strlen(text), err);
}

static const char *const doc_main =
    HEADER "<handshake/>"
	   "<message to='a@b' from='c@d/r'><body>hi &amp; bye &lt;3 "
	   "&#x263A; caf\xc3\xa9 \xf0\x9f\x98\x80<![CDATA[<raw&>]]></body>"
	   "<x xmlns='urn:x'><y a='&apos;q&quot;'/></x>"
	   "<p:q xmlns:p='urn:p'/><!-- a comment --></message>\n  "
	   "<stream:error><host-unknown "
	   "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
	   "<iq xmlns='jabber:client' type='get' id='1'><query "
	   "xmlns='jabber:iq:roster'/></iq>"
	   "<presence xmlns:x='urn:x' x:to='evil' to='good'/>"
	   "</stream:stream>";

static const char *const doc_main_expected =
    "<handshake/>\n"
    "<message from=\"c@d/r\" to=\"a@b\"><body>hi &amp; bye &lt;3 "
    "\xe2\x98\xba caf\xc3\xa9 \xf0\x9f\x98\x80&lt;raw&amp;&gt;</body>"
    "<x xmlns=\"urn:x\"><y a=\"&apos;q&quot;\"/></x>"
    "<q xmlns=\"urn:p\"/></message>\n"
    "<error xmlns=\"http://etherx.jabber.org/streams\"><host-unknown "
    "xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></error>\n"
    "<iq xmlns=\"jabber:client\" id=\"1\" type=\"get\"><query "
    "xmlns=\"jabber:iq:roster\"/></iq>\n"
    "<presence to=\"good\"/>\n";

static void test_namespaces(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p, doc_main, &err), 0);
	T_CHECK(err == NULL);
	T_CHECK_INT(r.starts, 1);
	T_CHECK_STR(r.start_name, "stream");
	T_CHECK_STR(r.start_id, "abc");
	T_CHECK_STR(r.start_lang, "en");
	T_CHECK(!r.start_has_xmlns);
	T_CHECK_INT(r.count, 5);
	T_CHECK_STR(ut_buf_str(&r.stanzas), doc_main_expected);
	T_CHECK_INT(r.ends, 1);
	xm_parser_free(&p);
	T_CHECK(p == NULL);
	rec_free(&r);
}

/* A stream whose default namespace is not declared: no xmlns anywhere. */
static void test_no_default_ns(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p,
			     "<stream:stream xmlns:stream='http://"
			     "etherx.jabber.org/streams'><message><b "
			     "xmlns='urn:b'><c xmlns=''/></b></message>",
			     &err),
		    0);
	T_CHECK_STR(
	    ut_buf_str(&r.stanzas),
	    "<message><b xmlns=\"urn:b\"><c xmlns=\"\"/></b></message>\n");
	xm_parser_free(&p);
	rec_free(&r);
}

static void test_split_everywhere(void)
{
	size_t len = strlen(doc_main);
	int mismatches = 0, failures = 0;
	for (size_t i = 1; i < len; i++) {
		struct rec r = {0};
		struct xm_parser *p = xm_parser_new(sctx, 65536, &rec_cb, &r);
		const char *err;
		if (xm_parser_feed(p, doc_main, i, &err) < 0 ||
		    xm_parser_feed(p, doc_main + i, len - i, &err) < 0)
			failures++;
		if (strcmp(ut_buf_str(&r.stanzas), doc_main_expected) != 0 ||
		    r.starts != 1 || r.ends != 1)
			mismatches++;
		xm_parser_free(&p);
		rec_free(&r);
	}
	T_CHECK_INT(failures, 0);
	T_CHECK_INT(mismatches, 0);

	/* One byte at a time. */
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, &rec_cb, &r);
	const char *err;
	int rc = 0;
	for (size_t i = 0; i < len; i++)
		rc |= xm_parser_feed(p, doc_main + i, 1, &err);
	T_CHECK_INT(rc, 0);
	T_CHECK_STR(ut_buf_str(&r.stanzas), doc_main_expected);
	xm_parser_free(&p);
	rec_free(&r);
}

/* The stanza callback fires when the last byte of the stanza is fed. */
static void test_immediate(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p, HEADER, &err), 0);
	T_CHECK_INT(r.starts, 1);
	T_CHECK_INT(feed_all(p, "<message><body>x</body></message", &err), 0);
	T_CHECK_INT(r.count, 0);
	T_CHECK_INT(feed_all(p, ">", &err), 0);
	T_CHECK_INT(r.count, 1);
	T_CHECK_INT(feed_all(p, "<presence/>", &err), 0);
	T_CHECK_INT(r.count, 2);
	T_CHECK_INT(feed_all(p, " <iq type='get'>text</iq>", &err), 0);
	T_CHECK_INT(r.count, 3);
	T_CHECK_INT(r.ends, 0);
	T_CHECK_INT(feed_all(p, "</stream:stream>", &err), 0);
	T_CHECK_INT(r.ends, 1);
	xm_parser_free(&p);
	rec_free(&r);
}

/* Feeds text, expects -1 with error text want (or any error if NULL), no
   stanza, and -1 again for any later input. */
static void expect_refused(const char *text, const char *want, size_t max)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, max, &rec_cb, &r);
	const char *err = NULL;
	T_CHECK_INT(feed_all(p, text, &err), -1);
	T_CHECK(err != NULL);
	if (want != NULL)
		T_CHECK_STR(err, want);
	T_CHECK_INT(r.count, 0);
	T_CHECK_INT(feed_all(p, "<presence/>", &err), -1);
	T_CHECK_INT(r.count, 0);
	xm_parser_free(&p);
	rec_free(&r);
}

static void test_refused(void)
{
	expect_refused("<?xml version='1.0'?><!DOCTYPE stream:stream>" HEADER,
		       "DOCTYPE is not allowed", 65536);
	/* Billion laughs: refused at the DOCTYPE, before any expansion. */
	expect_refused("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "
		       "'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"
		       "<stream:stream><message>&lol2;</message>",
		       "DOCTYPE is not allowed", 65536);
	expect_refused(HEADER "<message><body>&foo;</body></message>", NULL,
		       65536);
	expect_refused(HEADER "<?php evil?><message/>",
		       "processing instructions are not allowed", 65536);
	expect_refused(HEADER "<message><body></message>", NULL, 65536);
	expect_refused("\x01garbage", NULL, 65536);
	expect_refused("hello world", NULL, 65536);
	expect_refused(HEADER "<message><body>\xff</body></message>", NULL,
		       65536);
	expect_refused(HEADER "<message><body>&#0;</body></message>", NULL,
		       65536);
	expect_refused(HEADER "<message><body>\x01</body></message>", NULL,
		       65536);
	/* The declared encoding is ignored: Latin-1 bytes are invalid. */
	expect_refused("<?xml version='1.0' encoding='ISO-8859-1'?>"
		       "<stream:stream xmlns:stream='http://etherx.jabber.org/"
		       "streams'><message>caf\xe9</message>",
		       NULL, 65536);
	/* <xml:x/> could never be written back. */
	expect_refused(HEADER "<xml:x/>", "element in a reserved namespace",
		       65536);
	/* Nothing may follow the end of the stream. */
	expect_refused(HEADER "</stream:stream><message/>", NULL, 65536);
}

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_size_limit(void)
{
	const size_t max = 300;
	/* "<m>" + text + "</m>" is exactly max bytes: accepted, whole or
	   byte by byte. */
	char *text = repeat('a', max - 7);
	char *stanza = xasprintf("<m>%s</m>", text);
	T_CHECK_INT(strlen(stanza), max);
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct rec r = {0};
		struct xm_parser *p = xm_parser_new(sctx, max, &rec_cb, &r);
		const char *err;
		T_CHECK_INT(feed_all(p, HEADER, &err), 0);
		int rc = 0;
		if (bytewise) {
			for (size_t i = 0; stanza[i] != '\0'; i++)
				rc |= xm_parser_feed(p, stanza + i, 1, &err);
		} else {
			rc = feed_all(p, stanza, &err);
		}
		T_CHECK_INT(rc, 0);
		T_CHECK_INT(r.count, 1);
		xm_parser_free(&p);
		rec_free(&r);
	}
	free(stanza);
	free(text);

	/* One byte more is refused, whole or byte by byte. */
	text = repeat('a', max - 6);
	stanza = xasprintf(HEADER "<m>%s</m>", text);
	expect_refused(stanza, "stanza too large", max);
	free(stanza);
	free(text);

	/* An oversized attribute value and an unterminated start tag. */
	text = repeat('a', max);
	stanza = xasprintf(HEADER "<m a='%s'/>", text);
	expect_refused(stanza, "stanza too large", max);
	free(stanza);
	stanza = xasprintf(HEADER "<m a='%s", text);
	expect_refused(stanza, "stanza too large", max);
	free(stanza);
	free(text);

	/* A never-ending text is refused long before it is all fed: the
	   parser does not buffer it. */
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 1 << 20, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p, HEADER "<message><body>", &err), 0);
	char *chunk = repeat('x', 65536);
	size_t fed = 0;
	int rc = 0;
	while (rc == 0 && fed < (size_t)64 << 20) {
		rc = xm_parser_feed(p, chunk, 65536, &err);
		fed += 65536;
	}
	T_CHECK_INT(rc, -1);
	T_CHECK_STR(err, "stanza too large");
	T_CHECK(fed <= (size_t)(1 << 20) + 65536);
	free(chunk);
	xm_parser_free(&p);
	rec_free(&r);
}

static void test_depth(void)
{
	struct ut_buf ok = UT_BUF_INIT, bad = UT_BUF_INIT;
	ut_buf_append_str(&ok, HEADER);
	ut_buf_append_str(&bad, HEADER);
	for (int i = 0; i < 64; i++)
		ut_buf_append_str(&ok, "<a>");
	for (int i = 0; i < 64; i++)
		ut_buf_append_str(&ok, "</a>");
	for (int i = 0; i < 65; i++)
		ut_buf_append_str(&bad, "<a>");
	for (int i = 0; i < 65; i++)
		ut_buf_append_str(&bad, "</a>");

	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p, ut_buf_str(&ok), &err), 0);
	T_CHECK_INT(r.count, 1);
	xm_parser_free(&p);
	rec_free(&r);
	expect_refused(ut_buf_str(&bad), "elements nested too deeply", 65536);
	ut_buf_free(&ok);
	ut_buf_free(&bad);
}

static void test_reset(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p, HEADER "<message><bo", &err), 0);
	/* Reset in the middle of a stanza (reconnect): nothing leaks and
	   the old half stanza never appears. */
	xm_parser_reset(p);
	T_CHECK_INT(feed_all(p, HEADER "<presence/>", &err), 0);
	T_CHECK_INT(r.starts, 2);
	T_CHECK_INT(r.count, 1);
	/* Reset after an error. */
	T_CHECK_INT(feed_all(p, "<!DOCTYPE x>", &err), -1);
	xm_parser_reset(p);
	T_CHECK_INT(feed_all(p, HEADER "<iq/></stream:stream>", &err), 0);
	T_CHECK_INT(r.starts, 3);
	T_CHECK_INT(r.count, 2);
	T_CHECK_INT(r.ends, 1);
	T_CHECK_STR(ut_buf_str(&r.stanzas), "<presence/>\n<iq/>\n");
	xm_parser_free(&p);
	rec_free(&r);
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **kept = ctx;
	*kept = xmpp_stanza_clone(st);
}

/* A stanza cloned in the callback outlives the parser. */
static void test_clone(void)
{
	xmpp_stanza_t *kept = NULL;
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	struct xm_parser *p = xm_parser_new(sctx, 65536, &cb, &kept);
	const char *err;
	T_CHECK_INT(
	    feed_all(p, HEADER "<message><body>kept</body></message>", &err),
	    0);
	xm_parser_free(&p);
	T_CHECK(kept != NULL);
	if (kept != NULL) {
		char *body = xm_elem_child_text(kept, "body", NULL);
		T_CHECK_STR(body, "kept");
		free(body);
		xmpp_stanza_release(kept);
	}
}

int main(void)
{
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_namespaces);
	T_RUN(test_no_default_ns);
	T_RUN(test_split_everywhere);
	T_RUN(test_immediate);
	T_RUN(test_refused);
	T_RUN(test_size_limit);
	T_RUN(test_depth);
	T_RUN(test_reset);
	T_RUN(test_clone);
	xmpp_ctx_free(sctx);
	return T_DONE();
}
