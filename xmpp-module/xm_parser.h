#ifndef XM_PARSER_H
#define XM_PARSER_H

/*
 * Incremental XMPP stream parser on expat. Bytes go in as they arrive; each
 * complete top-level child of the stream root comes out as a libstrophe
 * stanza tree. Never waits for more input than a stanza needs (expat's
 * reparse deferral is off where expat has it).
 *
 * Namespaces are resolved (expat namespace mode): every element carries its
 * local name, and an "xmlns" attribute where its namespace differs from its
 * parent's; prefixes are gone. Top-level stanzas in the stream's default
 * namespace (jabber:component:accept, jabber:client) carry no "xmlns".
 *
 * Limits. A stanza is the bytes from the '<' of its start tag to the '>'
 * of its end tag, as received. A stanza longer than max_stanza_bytes, or
 * with elements nested deeper than max_depth (the stanza element itself is
 * level 1), is not a stream error: the parser frees what it built of it,
 * skips the rest without building anything, and when the stanza's end tag
 * arrives calls stanza_dropped with its skeleton; the next stanza is parsed
 * as usual. While skipping, memory stays bounded whatever the stanza's
 * length: text, CDATA and complete tags pass through expat without being
 * kept.
 *
 * Refused (feed returns -1; only real stream problems):
 * - ill-formed XML (including invalid UTF-8 and characters XML forbids);
 * - any DOCTYPE/DTD, entity declarations, references to entities other
 *   than the five predefined ones and character references, processing
 *   instructions after the XML declaration, an element in the xml or
 *   xmlns namespace;
 * - a stream header (the XML declaration and the root's start tag) longer
 *   than max(max_stanza_bytes, 16 KiB);
 * - a single markup token (a start tag with all its attributes, an end tag
 *   or a comment) still unfinished XM_PARSER_TOKEN_MARGIN (4 MiB) bytes
 *   beyond max_stanza_bytes: expat must hold a token whole, so this is what
 *   bounds its buffer. No server forwards such a token: Prosody's largest
 *   is 1.5 MiB from a client (a 256 KiB c2s stanza whose attribute bytes
 *   are all re-escaped six times, '"' as "&quot;") and 3 MiB from a remote
 *   server (its s2s limit is 512 KiB);
 * - while skipping, elements nested deeper than (max_stanza_bytes +
 *   XM_PARSER_TOKEN_MARGIN) / XM_PARSER_SKIP_DEPTH_DIVISOR levels, at least
 *   174762. Each level costs a peer >= 3 bytes, so Prosody's s2s limit
 *   allows fewer; expat keeps ~120 bytes per open element, so its
 *   tag stack stays under 5 x (max_stanza_bytes + XM_PARSER_TOKEN_MARGIN).
 *
 * Not thread-safe; one parser per stream. Callbacks fire synchronously from
 * xm_parser_feed(); they must not free or reset the parser (set a flag and do
 * it after feed returns).
 */

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

/* How far past max_stanza_bytes a single token may reach. */
#define XM_PARSER_TOKEN_MARGIN ((size_t)4 * 1024 * 1024)
/* While skipping, nesting may reach (max + margin) / this many levels. */
#define XM_PARSER_SKIP_DEPTH_DIVISOR 24
/* Skeleton attribute values longer than this are left out (the longest
   valid JID is 3071 bytes, RFC 7622). */
#define XM_PARSER_SKELETON_ATTR_MAX 3071

struct xm_parser;

enum xm_parser_drop_reason {
	XM_PARSER_DROP_TOO_LARGE = 1, /* over max_stanza_bytes */
	XM_PARSER_DROP_TOO_DEEP,      /* nested deeper than max_depth */
};

struct xm_parser_callbacks {
	/* The stream root opened. attrs: name, value, ..., NULL (local names;
	   "xmlns" is not included). */
	void (*stream_start)(void *ctx, const char *name, const char **attrs);
	/* A complete top-level element. The parser releases it after the
	   callback returns: xmpp_stanza_clone() to keep it. */
	void (*stanza)(void *ctx, xmpp_stanza_t *stanza);
	/* The stream root closed (</stream:stream>). */
	void (*stream_end)(void *ctx);
	/*
	 * A top-level element over a limit was skipped; fires when its end
	 * tag has been read (never for one cut off by a reset or an error).
	 * skeleton is an element without children: the stanza's name, its
	 * "xmlns" as for stanza (whatever its length), and those of its
	 * attributes id, type, from and to that are at most
	 * XM_PARSER_SKELETON_ATTR_MAX bytes long. stanza_bytes is its whole
	 * length as received. Released after the callback returns. Every
	 * callback may be NULL; without this one, such stanzas vanish.
	 */
	void (*stanza_dropped)(void *ctx, xmpp_stanza_t *skeleton,
			       enum xm_parser_drop_reason reason,
			       uint64_t stanza_bytes);
};

/*
 * sctx is only used to allocate stanzas. max_stanza_bytes and max_depth must
 * be at least 1. Always succeeds (aborts on OOM).
 */
struct xm_parser *xm_parser_new(xmpp_ctx_t *sctx, size_t max_stanza_bytes,
				unsigned max_depth,
				const struct xm_parser_callbacks *cb,
				void *ctx);
/*
 * Returns 0, or -1 with a static description in *error_r. After -1 the
 * parser ignores further input until xm_parser_reset().
 */
int xm_parser_feed(struct xm_parser *p, const char *data, size_t len,
		   const char **error_r);
/* Ready for a new stream (after a reconnect). A stanza being skipped is
   forgotten without a stanza_dropped call. */
void xm_parser_reset(struct xm_parser *p);
void xm_parser_free(struct xm_parser **p);
/* "stanza too large" or "too deeply nested" (static strings). */
const char *xm_parser_drop_reason_str(enum xm_parser_drop_reason reason);

#endif
