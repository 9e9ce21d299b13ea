/*
 * Unit tests of xm_parser's skip mode: stanzas over the size or depth limit
 * are skipped to their end and reported as dropped, with a skeleton; the
 * stream goes on, at every split point of the input; memory stays bounded
 * while skipping; ill-formed XML inside a skipped stanza still fails.
 */
#include <malloc.h>
#include <stdio.h>

#include "parser_rec.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_bytes(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_bytes(void)
{
	return mallinfo2().uordblks;
}
#endif

/* Stanzas over the limits between ordinary ones: each skipped one becomes
   one DROP line, the others arrive intact. */
static void test_skip_every_split(void)
{
	const size_t max = 200;
	char *text = repeat('t', 300);
	char *attr = repeat('v', 400);
	char *long_id = repeat('i', XM_PARSER_SKELETON_ATTR_MAX + 1);
	char *body = xasprintf(
	    "<message id='m1'><body>before</body></message>\n"
	    /* Huge text, with a comment and CDATA in it. */
	    "<message id='big' type='chat' from='bob@example.org/r' "
	    "to='mail.example.org' x='not kept' xml:lang='en'><body>%s"
	    "<!-- c --><![CDATA[ <cdata> ]]></body></message>"
	    "<presence id='p-after'/>"
	    /* Deeper than 6 levels, then shallower again. */
	    "<iq type='get' id='deep' from='bob@example.org/r' "
	    "to='mail.example.org'><a><a><a><a><a><a><a>deep</a></a></a></a>"
	    "</a></a></a><b>shallow</b><c/></iq>"
	    "<message id='m2'><body>after deep</body></message>"
	    /* Exactly 6 levels pass. */
	    "<message id='at-limit'><a><a><a><a><a/></a></a></a></a></message>"
	    /* A huge attribute (within the cap) on a self-closing stanza. */
	    "<iq type='set' id='attr' to='mail.example.org' big='%s'/>"
	    /* A foreign namespace, and an id too long to keep. */
	    "<message xmlns='urn:other' id='ns'>%s</message>"
	    "<message id='%s' type='chat'>%s</message>"
	    "<presence id='last'/></stream:stream>",
	    text, attr, text, long_id, text);
	check_every_split(
	    body, max, 6,
	    "<message id=\"m1\"><body>before</body></message>\n"
	    "DROP(stanza too large) <message from=\"bob@example.org/r\" "
	    "id=\"big\" to=\"mail.example.org\" type=\"chat\"/>\n"
	    "<presence id=\"p-after\"/>\n"
	    "DROP(too deeply nested) <iq from=\"bob@example.org/r\" "
	    "id=\"deep\" to=\"mail.example.org\" type=\"get\"/>\n"
	    "<message id=\"m2\"><body>after deep</body></message>\n"
	    "<message id=\"at-limit\"><a><a><a><a><a/></a></a></a></a>"
	    "</message>\n"
	    "DROP(stanza too large) <iq id=\"attr\" to=\"mail.example.org\" "
	    "type=\"set\"/>\n"
	    "DROP(stanza too large) <message xmlns=\"urn:other\" id=\"ns\"/>\n"
	    "DROP(stanza too large) <message type=\"chat\"/>\n"
	    "<presence id=\"last\"/>\n");
	free(body);
	free(long_id);
	free(attr);
	free(text);
}

/* 64 MiB of text (as Prosody forwards '"': "&quot;") in one stanza: fed
   in 64 KiB reads, never buffered, then dropped; the next stanza comes. */
static void test_skip_huge_text_bounded(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 65536, 64, &rec_cb, &r);
	const char *err;
	struct ut_buf chunk = UT_BUF_INIT;
	while (chunk.len + 6 <= 65536)
		ut_buf_append_str(&chunk, "&quot;");
	T_CHECK_INT(feed_all(p, HEADER, &err), 0);
	T_CHECK_INT(feed_all(p,
			     "<message id='h' from='bob@example.org/r'>"
			     "<body>",
			     &err),
		    0);
	size_t before = heap_bytes(), peak = before;
	int rc = 0;
	for (size_t fed = 0; rc == 0 && fed < (size_t)64 << 20;
	     fed += chunk.len) {
		rc = xm_parser_feed(p, chunk.data, chunk.len, &err);
		size_t now = heap_bytes();
		if (now > peak)
			peak = now;
	}
	T_CHECK_INT(rc, 0);
	printf("  heap growth while skipping 64 MiB of text: %zu bytes\n",
	       peak - before);
	T_CHECK(peak - before < 256 * 1024);
	T_CHECK_INT(r.drops, 0);
	T_CHECK_INT(
	    feed_all(p, "</body></message><presence id='after'/>", &err), 0);
	T_CHECK(r.last_drop_bytes > (uint64_t)64 << 20);
	T_CHECK_STR(ut_buf_str(&r.stanzas),
		    "DROP(stanza too large) <message "
		    "from=\"bob@example.org/r\" id=\"h\"/>\n"
		    "<presence id=\"after\"/>\n");
	ut_buf_free(&chunk);
	xm_parser_free(&p);
	rec_free(&r);
}

/* A start tag of 1 MiB (limit 300): expat holds it whole, which the token
   cap allows; it is dropped and the stream goes on. */
static void test_skip_huge_attribute(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 300, 64, &rec_cb, &r);
	const char *err;
	char *value = repeat('q', 1 << 20);
	char *doc = xasprintf(HEADER "<iq type='get' id='a1' from='b@c/d' "
				     "to='mail.example.org' v='%s'><query "
				     "xmlns='urn:x'/></iq><presence/>",
			      value);
	size_t len = strlen(doc);
	int rc = 0;
	for (size_t off = 0; off < len && rc == 0; off += 4096)
		rc = xm_parser_feed(p, doc + off,
				    len - off < 4096 ? len - off : 4096, &err);
	T_CHECK_INT(rc, 0);
	T_CHECK_STR(ut_buf_str(&r.stanzas),
		    "DROP(stanza too large) <iq from=\"b@c/d\" id=\"a1\" "
		    "to=\"mail.example.org\" type=\"get\"/>\n<presence/>\n");
	T_CHECK_INT(r.last_drop_bytes,
		    len - strlen(HEADER) - strlen("<presence/>"));
	free(doc);
	free(value);
	xm_parser_free(&p);
	rec_free(&r);
}

/* Nesting while skipping is bounded by (max + margin) / divisor levels,
   more than Prosody's s2s limit (512 KiB) allows. */
static void test_skip_depth_cap(void)
{
	const size_t max = 300;
	const size_t cap =
	    (max + XM_PARSER_TOKEN_MARGIN) / XM_PARSER_SKIP_DEPTH_DIVISOR;
	T_CHECK(cap >= 512 * 1024 / 3);
	for (int over = 0; over < 2; over++) {
		size_t levels = cap + (size_t)over;
		struct ut_buf doc = UT_BUF_INIT;
		ut_buf_append_str(&doc, HEADER "<m id='x'>");
		for (size_t i = 1; i < levels; i++)
			ut_buf_append_str(&doc, "<a>");
		for (size_t i = 1; i < levels; i++)
			ut_buf_append_str(&doc, "</a>");
		ut_buf_append_str(&doc, "</m><presence/>");
		struct rec r = {0};
		struct xm_parser *p = xm_parser_new(sctx, max, 64, &rec_cb, &r);
		const char *err = NULL;
		int rc = xm_parser_feed(p, doc.data, doc.len, &err);
		if (over) {
			T_CHECK_INT(rc, -1);
			T_CHECK_STR(err,
				    "elements nested too deeply even to skip");
			T_CHECK_INT(r.drops + r.count, 0);
		} else {
			T_CHECK_INT(rc, 0);
			T_CHECK_STR(ut_buf_str(&r.stanzas),
				    "DROP(too deeply nested) <m id=\"x\"/>\n"
				    "<presence/>\n");
		}
		xm_parser_free(&p);
		rec_free(&r);
		ut_buf_free(&doc);
	}
}

/* Skipping is not a way around the stream's rules. */
static void test_skip_still_well_formed(void)
{
	static const char *const bad[] = {
	    "</c></message>",	      /* mismatched end tag */
	    "&foo;</b></message>",    /* undefined entity */
	    "<?pi x?></b></message>", /* processing instruction */
	    "\xff</b></message>",     /* invalid UTF-8 */
	    "&#0;</b></message>",     /* a character XML forbids */
	    "<p:x/></b></message>",   /* an unbound prefix */
	};
	char *text = repeat('t', 400);
	for (size_t k = 0; k < UT_N_ELEMENTS(bad); k++) {
		char *doc = xasprintf(HEADER "<message><b>%s%s", text, bad[k]);
		struct rec r = {0};
		struct xm_parser *p = xm_parser_new(sctx, 300, 64, &rec_cb, &r);
		const char *err = NULL;
		if (feed_all(p, doc, &err) != -1 || err == NULL) {
			fprintf(stderr, "accepted: %s\n", bad[k]);
			T_CHECK(false);
		}
		T_CHECK_INT(r.drops + r.count, 0);
		xm_parser_free(&p);
		rec_free(&r);
		free(doc);
	}
	free(text);
}

/* A reset in the middle of a skipped stanza forgets it (no callback, no
   leak); a missing stanza_dropped callback is fine. */
static void test_skip_reset_and_no_callback(void)
{
	struct rec r = {0};
	struct xm_parser *p = xm_parser_new(sctx, 100, 64, &rec_cb, &r);
	const char *err;
	char *text = repeat('t', 400);
	char *doc = xasprintf(HEADER "<message id='cut'><body>%s", text);
	T_CHECK_INT(feed_all(p, doc, &err), 0);
	xm_parser_reset(p);
	T_CHECK_INT(feed_all(p, HEADER "<presence/>", &err), 0);
	T_CHECK_STR(ut_buf_str(&r.stanzas), "<presence/>\n");
	xm_parser_free(&p);
	rec_free(&r);

	struct xm_parser_callbacks cb = rec_cb;
	cb.stanza_dropped = NULL;
	p = xm_parser_new(sctx, 100, 64, &cb, &r);
	T_CHECK_INT(feed_all(p, doc, &err), 0);
	T_CHECK_INT(feed_all(p, "</body></message><iq/>", &err), 0);
	T_CHECK_STR(ut_buf_str(&r.stanzas), "<iq/>\n");
	xm_parser_free(&p);
	rec_free(&r);
	free(doc);
	free(text);
}

int main(void)
{
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_skip_every_split);
	T_RUN(test_skip_huge_text_bounded);
	T_RUN(test_skip_huge_attribute);
	T_RUN(test_skip_depth_cap);
	T_RUN(test_skip_still_well_formed);
	T_RUN(test_skip_reset_and_no_callback);
	xmpp_ctx_free(sctx);
	return T_DONE();
}
