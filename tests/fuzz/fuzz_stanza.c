/*
 * Fuzz target for xm_parser. The first two input bytes seed the chunk
 * sizes; the rest is fed after a fixed stream header in chunks of 1 to 64
 * bytes. Every stanza that comes out is serialised, parsed again by a
 * second parser and serialised again: both texts must be identical (what
 * the bridge writes, it can read back unchanged). Must never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xm_parser.h"
#include "xm_stanza.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static xmpp_ctx_t *sctx;

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

static void stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	(void)ctx;
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
	data += 2;
	size -= 2;

	struct xm_parser_callbacks cb = {.stream_start = start_cb,
					 .stanza = stanza_cb,
					 .stream_end = end_cb};
	struct xm_parser *p = xm_parser_new(sctx, 4096, 64, &cb, NULL);
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
