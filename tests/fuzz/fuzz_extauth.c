/*
 * Fuzz target for ejabberd's extauth framing (xm_extauth.c), what
 * tidings-auth reads from its stdin. The first two bytes choose how the
 * rest is cut into reads (1 to 64 bytes at a time, varying); the rest is
 * the stream. Checks:
 * - every byte is consumed, and never more than offered;
 * - the stream decodes to the same frames whether fed in pieces or at
 *   once (a running hash over every frame's kind, body and parse);
 * - a parsed request holds what the header promises: a known operation,
 *   a non-empty user and server without ':' or NUL, a password exactly
 *   password_len bytes long, and joined with ':' they give back the body;
 * - an oversized frame is never stored; a stream that ends mid-frame says
 *   so (partial), and one that ends on a frame boundary does not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xm_extauth.h"

struct run {
	uint64_t hash;
	unsigned frames, oversize;
};

static void mix(struct run *r, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		r->hash ^= p[i];
		r->hash *= 1099511628211ULL;
	}
}

static void check_request(const struct xm_extauth_request *rq, const char *copy,
			  size_t copy_len)
{
	if (rq->op_name == NULL || rq->user == NULL || rq->server == NULL)
		abort();
	if (rq->user[0] == '\0' || rq->server[0] == '\0' ||
	    strchr(rq->user, ':') != NULL || strchr(rq->server, ':') != NULL)
		abort();
	size_t want =
	    strlen(rq->op_name) + 1 + strlen(rq->user) + 1 + strlen(rq->server);
	if (rq->password != NULL) {
		if (strlen(rq->password) != rq->password_len)
			abort();
		want += 1 + rq->password_len;
	} else if (rq->password_len != 0) {
		abort();
	}
	if (want != copy_len || copy_len > XM_EXTAUTH_BODY_MAX)
		abort();
	/* Joined again, the fields are the body. */
	char *joined = malloc(copy_len + 1);
	if (joined == NULL)
		abort();
	size_t off = 0;
	const char *parts[] = {rq->op_name, rq->user, rq->server, rq->password};
	for (int i = 0; i < 4 && parts[i] != NULL; i++) {
		if (i > 0)
			joined[off++] = ':';
		size_t n = strlen(parts[i]);
		memcpy(joined + off, parts[i], n);
		off += n;
	}
	if (off != copy_len || memcmp(joined, copy, copy_len) != 0)
		abort();
	free(joined);
}

static void on_frame(struct xm_extauth_decoder *d, struct run *r)
{
	static char copy[XM_EXTAUTH_BODY_MAX + 1];
	size_t len = d->body_len;
	struct xm_extauth_request rq;
	const char *why = NULL;

	if (len > XM_EXTAUTH_BODY_MAX || d->body[len] != '\0')
		abort();
	memcpy(copy, d->body, len);
	mix(r, "F", 1);
	mix(r, &len, sizeof(len));
	mix(r, copy, len);
	int ret = xm_extauth_parse(d, &rq, &why);
	mix(r, &ret, sizeof(ret));
	if (ret < 0) {
		if (why == NULL)
			abort();
		return;
	}
	if (memchr(copy, '\0', len) != NULL)
		abort();
	mix(r, &rq.op, sizeof(rq.op));
	check_request(&rq, copy, len);
	/* A frame is parsed once. */
	if (xm_extauth_parse(d, &rq, &why) != -1)
		abort();
}

static void decode(const uint8_t *data, size_t size, uint16_t seed,
		   bool chunked, struct run *r)
{
	static struct xm_extauth_decoder d;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	r->hash = 14695981039346656037ULL;
	xm_extauth_decoder_init(&d);
	while (off < size) {
		size_t n = size - off;
		if (chunked) {
			seed = (uint16_t)(seed * 75 + 74);
			size_t c = 1 + seed % 64;
			if (c < n)
				n = c;
		}
		size_t pos = 0;
		while (pos < n) {
			size_t used = 0;
			enum xm_extauth_status st = xm_extauth_feed(
			    &d, data + off + pos, n - pos, &used);
			if (used > n - pos)
				abort();
			pos += used;
			if (st == XM_EXTAUTH_FRAME) {
				r->frames++;
				on_frame(&d, r);
			} else if (st == XM_EXTAUTH_OVERSIZE) {
				r->oversize++;
				mix(r, "O", 1);
			} else if (pos != n) {
				abort(); /* MORE means: all of it used */
			}
		}
		off += n;
	}
	mix(r, &(bool){xm_extauth_decoder_partial(&d)}, sizeof(bool));
	xm_extauth_decoder_wipe(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint16_t seed = (uint16_t)(data[0] << 8 | data[1]);
	struct run a, b;
	decode(data + 2, size - 2, seed, true, &a);
	decode(data + 2, size - 2, seed, false, &b);
	if (a.hash != b.hash || a.frames != b.frames ||
	    a.oversize != b.oversize)
		abort();
	return 0;
}
