/*
 * Unit tests of xm_parser: namespaces, split input, immediate delivery,
 * refused constructs, the limits' edges and hard caps, and reset. Skipping
 * is tested in test_parser_skip.c.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "parser_rec.h"
#include "test.h"

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
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
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
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
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
		struct xm_parser *p =
		    xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
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
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
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
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
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
	struct xm_parser *p = xm_parser_new(sctx, max, 64, &rec_cb, &r);
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

/* The size limit's edge: exactly max bytes pass, one more is dropped,
   wherever the input is split; the stream goes on. */
static void test_size_limit(void)
{
	const size_t max = 300;
	/* "<m>" + text + "</m>" is exactly max bytes. */
	char *text = repeat('a', max - 7);
	char *body = xasprintf("<m id='1'>%s</m><presence/>", text);
	char *want = xasprintf("<m id=\"1\">%s</m>\n<presence/>\n", text);
	check_every_split(body, max + 9, 64, want);
	free(body);
	free(want);
	free(text);

	/* One byte more: the end tag crosses the limit. */
	text = repeat('a', max - 6);
	body = xasprintf("<m>%s</m><presence/>", text);
	check_every_split(body, max, 64,
			  "DROP(stanza too large) <m/>\n<presence/>\n");
	free(body);
	free(text);

	/* A start tag over the limit; a child's start tag over it. */
	text = repeat('a', max);
	body = xasprintf("<m a='%s'/><presence/><m><c a='%s'/></m><iq/>", text,
			 text);
	check_every_split(body, max, 64,
			  "DROP(stanza too large) <m/>\n<presence/>\n"
			  "DROP(stanza too large) <m/>\n<iq/>\n");
	free(body);
	free(text);
}

static void test_depth(void)
{
	struct ut_buf ok = UT_BUF_INIT, bad = UT_BUF_INIT;
	for (int i = 0; i < 64; i++)
		ut_buf_append_str(&ok, "<a>");
	for (int i = 0; i < 64; i++)
		ut_buf_append_str(&ok, "</a>");
	ut_buf_append_str(&bad, "<a id='d'>");
	for (int i = 1; i < 65; i++)
		ut_buf_append_str(&bad, "<a>");
	for (int i = 0; i < 65; i++)
		ut_buf_append_str(&bad, "</a>");
	ut_buf_append_str(&bad, "<presence/>");

	/* 64 levels pass, 65 are dropped (the default of the component). */
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p, HEADER, &err), 0);
	T_CHECK_INT(feed_all(p, ut_buf_str(&ok), &err), 0);
	T_CHECK_INT(r.count, 1);
	T_CHECK_INT(feed_all(p, ut_buf_str(&bad), &err), 0);
	T_CHECK_INT(r.count, 2);
	T_CHECK_INT(r.drops, 1);
	T_CHECK(
	    strstr(ut_buf_str(&r.stanzas),
		   "DROP(too deeply nested) <a id=\"d\"/>\n<presence/>\n") !=
	    NULL);
	xm_parser_free(&p);
	rec_free(&r);
	ut_buf_free(&ok);
	ut_buf_free(&bad);

	/* The limit is a parameter. */
	check_every_split("<m><a/></m><m id='x'><a><b/></a></m><iq/>", 65536, 2,
			  "<m><a/></m>\nDROP(too deeply nested) <m id=\"x\"/>\n"
			  "<iq/>\n");
}

/* What still fails the stream: a token too large to skip, a stream header
   over its limit. expat never buffers much more than the caps. */
static void test_hard_caps(void)
{
	const size_t max = 300;
	const size_t cap = max + XM_PARSER_TOKEN_MARGIN;
	const char *const starts[] = {
	    /* An unfinished start tag, top-level or inside a stanza (then
	       the stanza is being skipped already), a comment between
	       stanzas and an end tag padded with white space. */
	    "<message a='", "<message><b>text</b><x a='", "<!--",
	    "<message><b></b                     "};
	char *chunk = repeat(' ', 65536);
	for (size_t k = 0; k < UT_N_ELEMENTS(starts); k++) {
		struct rec r = {0};
		struct xm_parser *p = xm_parser_new(sctx, max, 64, &rec_cb, &r);
		const char *err = NULL;
		T_CHECK_INT(feed_all(p, HEADER, &err), 0);
		int rc = feed_all(p, starts[k], &err);
		size_t fed = 0;
		while (rc == 0 && fed < 4 * cap) {
			rc = xm_parser_feed(p, chunk, 65536, &err);
			fed += 65536;
		}
		T_CHECK_INT(rc, -1);
		T_CHECK_STR(err, "a single tag or comment is too large");
		T_CHECK(fed > cap - 65536 && fed <= cap + 65536);
		T_CHECK_INT(r.count + r.drops, 0);
		xm_parser_free(&p);
		rec_free(&r);
	}

	/* The stream header may be max(max, 16 KiB) long. */
	const char *fmt = "<stream:stream xmlns:stream='http://"
			  "etherx.jabber.org/streams' x='%s'>";
	char *attr = repeat('h', 16384);
	char *header = xasprintf(fmt, attr);
	expect_refused(header, "stream header too large", max);
	free(header);
	attr[16384 - 100] = '\0';
	header = xasprintf(fmt, attr);
	T_CHECK(strlen(header) <= 16384);
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, max, 64, &rec_cb, &r);
	const char *err;
	T_CHECK_INT(feed_all(p, header, &err), 0);
	T_CHECK_INT(r.starts, 1);
	xm_parser_free(&p);
	rec_free(&r);
	free(header);
	free(attr);
	free(chunk);
}

static void test_reset(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
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
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &cb, &kept);
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
	T_RUN(test_hard_caps);
	T_RUN(test_reset);
	T_RUN(test_clone);
	xmpp_ctx_free(sctx);
	return T_DONE();
}
