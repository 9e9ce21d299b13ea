/*
 * Fuzz target for xm_parser. The first two input bytes seed the chunk
 * sizes; the rest is fed after a fixed stream header in chunks of 1 to 64
 * bytes. When the first byte has its top bit set, the limits are small and
 * chosen from the first two bytes (16 to 1032 bytes, depth 1 to 16), so
 * that skip mode is exercised; otherwise 4096 bytes and depth 64. Every
 * stanza that comes out is no deeper than the limit; it is serialised,
 * parsed again by a second parser and serialised again: both texts must be
 * identical (what the bridge writes, it can read back unchanged). A
 * dropped stanza's skeleton has no children, only the attributes id, type,
 * from and to, none longer than XM_PARSER_SKELETON_ATTR_MAX, and round-trips
 * too. Must never crash or leak.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static xmpp_ctx_t *sctx;
static unsigned max_depth;
static size_t max_bytes;

struct reparse {
	char *text;
	int count;
};

static void reparse_cb(void *ctx, xmpp_stanza_t *st)
{
	struct reparse *r = ctx;
	r->count++;
	free(r->text);
	r->text = xm_stanza_to_text(st, NULL);
}

/* Levels of elements in st (st itself is 1). */
static unsigned tree_depth(xmpp_stanza_t *st)
{
	unsigned deepest = 0;
	for (xmpp_stanza_t *ch = xmpp_stanza_get_children(st); ch != NULL;
	     ch = xmpp_stanza_get_next(ch)) {
		if (xmpp_stanza_is_tag(ch)) {
			unsigned d = tree_depth(ch);
			if (d > deepest)
				deepest = d;
		}
	}
	return deepest + 1;
}

static void round_trip(xmpp_stanza_t *st)
{
	size_t len;
	char *text = xm_stanza_to_text(st, &len);
	struct reparse r = {NULL, 0};
	struct xm_parser_callbacks cb = {.stanza = reparse_cb};
	/* Escaping may grow the text up to six times. */
	struct xm_parser *p = xm_parser_new(sctx, 8 * len + 64, 64, &cb, &r);
	const char *err;
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0 ||
	    xm_parser_feed(p, text, len, &err) < 0 || r.count != 1 ||
	    strcmp(r.text, text) != 0)
		abort();
	xm_parser_free(&p);
	free(r.text);
	free(text);
}

static void stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	(void)ctx;
	if (tree_depth(st) > max_depth)
		abort();
	round_trip(st);
}

static void dropped_cb(void *ctx, xmpp_stanza_t *sk,
		       enum xm_parser_drop_reason reason, uint64_t bytes)
{
	static const char *const kept[] = {"id", "type", "from", "to"};
	const char *attrs[16];
	(void)ctx;
	if (reason != XM_PARSER_DROP_TOO_LARGE &&
	    reason != XM_PARSER_DROP_TOO_DEEP)
		abort();
	if (xmpp_stanza_get_children(sk) != NULL || bytes < 4 ||
	    (reason == XM_PARSER_DROP_TOO_LARGE && bytes <= max_bytes))
		abort();
	int n = xmpp_stanza_get_attributes(sk, attrs, 16);
	for (int i = 0; i < n; i += 2) {
		bool ok = false;
		if (strcmp(attrs[i], "xmlns") == 0)
			continue; /* the namespace is kept whatever its length
				   */
		for (size_t k = 0; k < sizeof(kept) / sizeof(kept[0]); k++)
			ok = ok || strcmp(attrs[i], kept[k]) == 0;
		if (!ok || strlen(attrs[i + 1]) > XM_PARSER_SKELETON_ATTR_MAX)
			abort();
	}
	round_trip(sk);
}

static void start_cb(void *ctx, const char *name, const char **attrs)
{
	(void)ctx;
	(void)name;
	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		/* Touch every name and value. */
		if (strlen(attrs[i]) + strlen(attrs[i + 1]) == (size_t)-1)
			abort();
	}
}

static void end_cb(void *ctx)
{
	(void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (sctx == NULL)
		sctx = xmpp_ctx_new(NULL, NULL);
	if (size < 2)
		return 0;
	uint32_t seed = (uint32_t)data[0] << 8 | data[1];
	max_bytes = 4096;
	max_depth = 64;
	if (data[0] & 0x80) {
		max_bytes = 16 + (size_t)(data[0] & 0x7f) * 8;
		max_depth = 1 + (data[1] & 0x0f);
	}
	data += 2;
	size -= 2;

	struct xm_parser_callbacks cb = {.stream_start = start_cb,
					 .stanza = stanza_cb,
					 .stream_end = end_cb,
					 .stanza_dropped = dropped_cb};
	struct xm_parser *p =
	    xm_parser_new(sctx, max_bytes, max_depth, &cb, NULL);
	const char *err;
	if (xm_parser_feed(p, HEADER, strlen(HEADER), &err) < 0)
		abort();
	size_t off = 0;
	int rc = 0;
	while (off < size && rc == 0) {
		seed = seed * 1103515245u + 12345u;
		size_t n = 1 + (seed >> 16) % 64;
		if (n > size - off)
			n = size - off;
		rc = xm_parser_feed(p, (const char *)data + off, n, &err);
		off += n;
	}
	/* After a reset the parser takes a fresh stream again. */
	xm_parser_reset(p);
	if (xm_parser_feed(p, HEADER "<presence/>", strlen(HEADER) + 11, &err) <
	    0)
		abort();
	xm_parser_free(&p);
	return 0;
}
