#ifndef PARSER_REC_H
#define PARSER_REC_H

/*
 * What the xm_parser unit tests share: a stream header, callbacks that
 * record every event as text, and small helpers. Included by one test file
 * each (everything is static).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_buf.h"
#include "ut_xalloc.h"
#include "xm_parser.h"
#include "xm_stanza.h"

static xmpp_ctx_t *sctx;

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
	/* Every stanza serialised, one per line; a dropped one as
	   "DROP(reason) " and its skeleton. */
	struct ut_buf stanzas;
	int count;
	int drops;
	uint64_t last_drop_bytes;
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

static void rec_dropped(void *ctx, xmpp_stanza_t *skeleton,
			enum xm_parser_drop_reason reason, uint64_t bytes)
{
	struct rec *r = ctx;
	r->last_drop_bytes = bytes;
	char *s = xm_stanza_to_text(skeleton, NULL);
	ut_buf_append_str(&r->stanzas, "DROP(");
	ut_buf_append_str(&r->stanzas, xm_parser_drop_reason_str(reason));
	ut_buf_append_str(&r->stanzas, ") ");
	ut_buf_append_str(&r->stanzas, s);
	ut_buf_append_c(&r->stanzas, '\n');
	free(s);
	r->drops++;
}

static const struct xm_parser_callbacks rec_cb = {
    .stream_start = rec_start,
    .stanza = rec_stanza,
    .stream_end = rec_end,
    .stanza_dropped = rec_dropped,
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

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/*
 * Feeds HEADER + body split in two at every point, then byte by byte; each
 * time feed must succeed and the records (stanzas and drops, in order)
 * must equal want exactly.
 */
static void check_every_split(const char *body, size_t max, unsigned depth,
			      const char *want)
{
	char *doc = xasprintf(HEADER "%s", body);
	size_t len = strlen(doc);
	int mismatches = 0, failures = 0;
	for (size_t i = 1; i <= len; i++) {
		struct rec r = {0};
		struct xm_parser *p =
		    xm_parser_new(sctx, max, depth, &rec_cb, &r);
		const char *err;
		if (i < len) {
			if (xm_parser_feed(p, doc, i, &err) < 0 ||
			    xm_parser_feed(p, doc + i, len - i, &err) < 0)
				failures++;
		} else {
			for (size_t j = 0; j < len; j++)
				if (xm_parser_feed(p, doc + j, 1, &err) < 0)
					failures++;
		}
		if (strcmp(ut_buf_str(&r.stanzas), want) != 0) {
			if (mismatches++ == 0)
				fprintf(stderr, "split at %zu:\n%s\n", i,
					ut_buf_str(&r.stanzas));
		}
		xm_parser_free(&p);
		rec_free(&r);
	}
	T_CHECK_INT(failures, 0);
	T_CHECK_INT(mismatches, 0);
	free(doc);
}

#endif
