/*
 * ejabberd's extauth framing (xm_extauth.c): frames split at every byte,
 * several frames in one read, the operations and their field counts,
 * passwords with ':' and non-ASCII bytes, zero-length, oversized and
 * partial frames, NUL bytes, the replies, and wiping.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "xm_extauth.h"

/* A frame: length prefix + body. Returns the total length. */
static size_t frame(unsigned char *out, const void *body, size_t len)
{
	out[0] = (unsigned char)(len >> 8);
	out[1] = (unsigned char)(len & 0xff);
	memcpy(out + 2, body, len);
	return len + 2;
}

struct got {
	int frames, oversize;
	char op[16], user[64], server[64], password[256];
	size_t password_len;
	int parse_ret;
};

/* Feeds data in pieces of `chunk` bytes (0: all at once) and records
   every frame. */
static void feed_all(const unsigned char *data, size_t len, size_t chunk,
		     struct got *g, struct xm_extauth_decoder *d)
{
	size_t off = 0;
	memset(g, 0, sizeof(*g));
	while (off < len) {
		size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
		size_t pos = 0, used;
		while (pos < n) {
			enum xm_extauth_status st = xm_extauth_feed(
			    d, data + off + pos, n - pos, &used);
			T_CHECK(used <= n - pos);
			pos += used;
			if (st == XM_EXTAUTH_OVERSIZE) {
				g->oversize++;
			} else if (st == XM_EXTAUTH_FRAME) {
				struct xm_extauth_request rq;
				const char *why;
				g->frames++;
				g->parse_ret = xm_extauth_parse(d, &rq, &why);
				if (g->parse_ret == 0) {
					snprintf(g->op, sizeof(g->op), "%s",
						 rq.op_name);
					snprintf(g->user, sizeof(g->user), "%s",
						 rq.user);
					snprintf(g->server, sizeof(g->server),
						 "%s", rq.server);
					g->password_len = rq.password_len;
					if (rq.password != NULL)
						memcpy(g->password, rq.password,
						       rq.password_len);
				}
			} else {
				T_CHECK_INT(pos, n); /* all of it used */
			}
		}
		off += n;
	}
}

static void test_split_points(void)
{
	static const char body[] = "auth:bob:example.org:pa:ss:wo:rd";
	unsigned char buf[128];
	size_t len = frame(buf, body, strlen(body));

	/* Every split into two pieces, and one byte at a time. */
	for (size_t cut = 0; cut <= len; cut++) {
		struct xm_extauth_decoder d;
		struct got g;
		xm_extauth_decoder_init(&d);
		memset(&g, 0, sizeof(g));
		size_t used;
		enum xm_extauth_status st =
		    xm_extauth_feed(&d, buf, cut, &used);
		T_CHECK_INT(used, cut);
		T_CHECK_INT(st,
			    cut == len ? XM_EXTAUTH_FRAME : XM_EXTAUTH_MORE);
		T_CHECK(xm_extauth_decoder_partial(&d) ==
			(cut > 0 && cut < len));
		if (cut < len) {
			st = xm_extauth_feed(&d, buf + cut, len - cut, &used);
			T_CHECK_INT(used, len - cut);
			T_CHECK_INT(st, XM_EXTAUTH_FRAME);
		}
		T_CHECK(!xm_extauth_decoder_partial(&d));
		struct xm_extauth_request rq;
		const char *why;
		T_CHECK_INT(xm_extauth_parse(&d, &rq, &why), 0);
		T_CHECK_INT(rq.op, XM_EXTAUTH_OP_AUTH);
		T_CHECK_STR(rq.user, "bob");
		T_CHECK_STR(rq.server, "example.org");
		/* The password keeps its ':'s: split at most 3 times. */
		T_CHECK_STR(rq.password, "pa:ss:wo:rd");
		T_CHECK_INT(rq.password_len, 11);
		/* A second parse of the same frame is refused. */
		T_CHECK_INT(xm_extauth_parse(&d, &rq, &why), -1);
	}
	struct xm_extauth_decoder d;
	struct got g;
	xm_extauth_decoder_init(&d);
	feed_all(buf, len, 1, &g, &d);
	T_CHECK_INT(g.frames, 1);
	T_CHECK_STR(g.password, "pa:ss:wo:rd");
}

static void test_many_frames(void)
{
	static const char *bodies[] = {
	    "isuser:alice:example.org",
	    "auth:alice:example.org:\xc3\xa9t\xc3\xa9:\xe2\x82\xac",
	    "setpass:alice:example.org:new",
	    "tryregister:x:example.org:pw",
	    "removeuser:x:example.org",
	    "removeuser3:x:example.org:pw",
	    "certauth:x:example.org:MIIB",
	};
	unsigned char buf[1024];
	size_t len = 0;
	for (size_t i = 0; i < 7; i++)
		len += frame(buf + len, bodies[i], strlen(bodies[i]));
	for (size_t chunk = 0; chunk <= 13; chunk++) {
		struct xm_extauth_decoder d;
		xm_extauth_decoder_init(&d);
		size_t off = 0, used;
		int n = 0;
		static const enum xm_extauth_op want[] = {
		    XM_EXTAUTH_OP_ISUSER,     XM_EXTAUTH_OP_AUTH,
		    XM_EXTAUTH_OP_SETPASS,    XM_EXTAUTH_OP_TRYREGISTER,
		    XM_EXTAUTH_OP_REMOVEUSER, XM_EXTAUTH_OP_REMOVEUSER3,
		    XM_EXTAUTH_OP_CERTAUTH};
		while (off < len) {
			size_t avail =
			    chunk == 0 || chunk > len - off ? len - off : chunk;
			size_t pos = 0;
			while (pos < avail) {
				enum xm_extauth_status st = xm_extauth_feed(
				    &d, buf + off + pos, avail - pos, &used);
				pos += used;
				if (st != XM_EXTAUTH_FRAME)
					continue;
				struct xm_extauth_request rq;
				const char *why;
				T_CHECK_INT(xm_extauth_parse(&d, &rq, &why), 0);
				if (n < 7)
					T_CHECK_INT(rq.op, want[n]);
				if (n == 0)
					T_CHECK(rq.password == NULL);
				if (n == 1)
					T_CHECK_STR(rq.password,
						    "\xc3\xa9t\xc3\xa9:"
						    "\xe2\x82\xac");
				n++;
			}
			off += avail;
		}
		T_CHECK_INT(n, 7);
	}
}

static int parse_body(const char *body, size_t len, const char **why_r)
{
	unsigned char buf[256];
	struct xm_extauth_decoder d;
	struct xm_extauth_request rq;
	size_t used;
	size_t n = frame(buf, body, len);
	xm_extauth_decoder_init(&d);
	if (xm_extauth_feed(&d, buf, n, &used) != XM_EXTAUTH_FRAME)
		return -2;
	return xm_extauth_parse(&d, &rq, why_r);
}

static void test_malformed(void)
{
	const char *why;
	/* Fields per operation, exactly. */
	T_CHECK_INT(parse_body("auth:bob:example.org", 20, &why), -1);
	T_CHECK_INT(parse_body("isuser:bob:example.org:x", 24, &why), -1);
	T_CHECK_INT(parse_body("isuser:bob", 10, &why), -1);
	T_CHECK_INT(parse_body("removeuser:bob:example.org:x", 28, &why), -1);
	T_CHECK_INT(parse_body("setpass:bob:example.org", 23, &why), -1);
	/* Unknown or wrongly cased operations. */
	T_CHECK_INT(parse_body("AUTH:bob:example.org:x", 22, &why), -1);
	T_CHECK_STR(why, "an unknown operation");
	T_CHECK_INT(parse_body("nothing at all", 14, &why), -1);
	T_CHECK_INT(parse_body(":::", 3, &why), -1);
	/* Empty user or server. */
	T_CHECK_INT(parse_body("auth::example.org:x", 19, &why), -1);
	T_CHECK_INT(parse_body("auth:bob::x", 11, &why), -1);
	/* A NUL anywhere, password included. */
	T_CHECK_INT(parse_body("auth:bob:example.org:a\0b", 24, &why), -1);
	T_CHECK_INT(parse_body("auth:b\0b:example.org:x", 22, &why), -1);
	/* An empty password parses (the helper refuses it). */
	T_CHECK_INT(parse_body("auth:bob:example.org:", 21, &why), 0);
	/* The reasons never quote the body. */
	T_CHECK_INT(parse_body("sekrit", 6, &why), -1);
	T_CHECK(strstr(why, "sekrit") == NULL);
}

static void test_zero_and_oversize(void)
{
	static unsigned char buf[70000];
	struct xm_extauth_decoder d;
	size_t used;
	const char *why;
	struct xm_extauth_request rq;

	/* Zero length: a frame of its own, which does not parse. */
	xm_extauth_decoder_init(&d);
	buf[0] = buf[1] = 0;
	T_CHECK_INT(xm_extauth_feed(&d, buf, 2, &used), XM_EXTAUTH_FRAME);
	T_CHECK_INT(used, 2);
	T_CHECK_INT(xm_extauth_parse(&d, &rq, &why), -1);
	T_CHECK_STR(why, "an empty request");

	/* Exactly the bound: stored and parsed. */
	size_t len = 2 + XM_EXTAUTH_BODY_MAX;
	memset(buf, 'x', len + 40);
	memcpy(buf + 2, "auth:bob:example.org:", 21);
	buf[0] = XM_EXTAUTH_BODY_MAX >> 8;
	buf[1] = XM_EXTAUTH_BODY_MAX & 0xff;
	T_CHECK_INT(xm_extauth_feed(&d, buf, len, &used), XM_EXTAUTH_FRAME);
	T_CHECK_INT(used, len);
	T_CHECK_INT(xm_extauth_parse(&d, &rq, &why), 0);
	T_CHECK_INT(rq.password_len, XM_EXTAUTH_BODY_MAX - 21);

	/* One over, and the largest possible: skipped whole, in pieces,
	   and the next frame is read right after. */
	for (unsigned over = XM_EXTAUTH_BODY_MAX + 1; over <= 65535;
	     over += 65535 - XM_EXTAUTH_BODY_MAX - 1) {
		memset(buf, 'y', sizeof(buf));
		buf[0] = (unsigned char)(over >> 8);
		buf[1] = (unsigned char)(over & 0xff);
		len = 2 + over;
		len += frame(buf + len, "isuser:a:b", 10);
		xm_extauth_decoder_init(&d);
		size_t off = 0;
		int oversize = 0, frames = 0;
		while (off < len) {
			size_t n = len - off < 1000 ? len - off : 1000;
			size_t pos = 0;
			while (pos < n) {
				enum xm_extauth_status st = xm_extauth_feed(
				    &d, buf + off + pos, n - pos, &used);
				pos += used;
				oversize += st == XM_EXTAUTH_OVERSIZE;
				if (st == XM_EXTAUTH_FRAME) {
					frames++;
					T_CHECK_INT(
					    xm_extauth_parse(&d, &rq, &why), 0);
					T_CHECK_INT(rq.op,
						    XM_EXTAUTH_OP_ISUSER);
				}
			}
			off += n;
		}
		T_CHECK_INT(oversize, 1);
		T_CHECK_INT(frames, 1);
		/* Nothing of the skipped body was stored. */
		T_CHECK(memchr(d.body, 'y', sizeof(d.body)) == NULL);
	}
}

static void test_partial(void)
{
	struct xm_extauth_decoder d;
	size_t used;
	unsigned char one = 0;

	xm_extauth_decoder_init(&d);
	T_CHECK(!xm_extauth_decoder_partial(&d));
	T_CHECK_INT(xm_extauth_feed(&d, &one, 1, &used), XM_EXTAUTH_MORE);
	T_CHECK(xm_extauth_decoder_partial(&d));
	unsigned char rest[] = {5, 'a', 'u'};
	T_CHECK_INT(xm_extauth_feed(&d, rest, 3, &used), XM_EXTAUTH_MORE);
	T_CHECK(xm_extauth_decoder_partial(&d));
	/* Nothing to parse yet. */
	struct xm_extauth_request rq;
	const char *why;
	T_CHECK_INT(xm_extauth_parse(&d, &rq, &why), -1);
	/* Empty input is harmless. */
	T_CHECK_INT(xm_extauth_feed(&d, rest, 0, &used), XM_EXTAUTH_MORE);
	T_CHECK_INT(used, 0);
}

static void test_reply_and_wipe(void)
{
	unsigned char out[XM_EXTAUTH_REPLY_LEN];
	static const unsigned char yes[] = {0, 2, 0, 1}, no[] = {0, 2, 0, 0};
	xm_extauth_reply(true, out);
	T_CHECK(memcmp(out, yes, 4) == 0);
	xm_extauth_reply(false, out);
	T_CHECK(memcmp(out, no, 4) == 0);

	struct xm_extauth_decoder d;
	unsigned char buf[64];
	size_t used, n = frame(buf, "auth:u:s:topsecret", 18);
	xm_extauth_decoder_init(&d);
	T_CHECK_INT(xm_extauth_feed(&d, buf, n, &used), XM_EXTAUTH_FRAME);
	xm_extauth_decoder_wipe(&d);
	T_CHECK(memmem(d.body, sizeof(d.body), "topsecret", 9) == NULL);
	T_CHECK(memmem(d.body, sizeof(d.body), "auth", 4) == NULL);
	/* Feeding the next frame wipes the last one too. */
	T_CHECK_INT(xm_extauth_feed(&d, buf, n, &used), XM_EXTAUTH_FRAME);
	n = frame(buf, "isuser:u:s", 10);
	T_CHECK_INT(xm_extauth_feed(&d, buf, n, &used), XM_EXTAUTH_FRAME);
	T_CHECK(memmem(d.body, sizeof(d.body), "topsecret", 9) == NULL);
}

int main(void)
{
	T_RUN(test_split_points);
	T_RUN(test_many_frames);
	T_RUN(test_malformed);
	T_RUN(test_zero_and_oversize);
	T_RUN(test_partial);
	T_RUN(test_reply_and_wipe);
	return T_DONE();
}
