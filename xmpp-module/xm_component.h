#ifndef XM_COMPONENT_H
#define XM_COMPONENT_H

/*
 * An XEP-0114 external component connection on libuv.
 *
 * - Connects, opens the jabber:component:accept stream, authenticates with
 *   <handshake>hex(SHA1(stream id + secret))</handshake>.
 * - Reconnects on its own after any failure, with capped exponential backoff
 *   and full jitter, until xm_component_close().
 * - Outbox: every stanza given to xm_component_send() is serialised at once
 *   and kept until the server has confirmed it. XEP-0114 has no acks, so the
 *   component sends an XEP-0199 ping to the server domain after each batch of
 *   writes; the server answers in stream order, so its reply (result or
 *   error) confirms every stanza written before the ping. On disconnect,
 *   every unconfirmed stanza is sent again, in order, after the next
 *   handshake: nothing is lost, a few may be repeated.
 * - IQs go to the IQ engine (xm_component_iq(), see xm_iq.h): a get/set
 *   to a handler registered by (type, namespace of its payload), answered
 *   exactly once whatever the handler does, or cancel/service-unavailable
 *   when nobody registered; results and errors to the outbound call they
 *   answer (matched by id and sender), or dropped. Registered by the
 *   component itself: XEP-0199 ping (to any JID in the component's
 *   domain: an empty result) and XEP-0030 disco#info/#items on the bare
 *   component JID (xm_component_disco(), see xm_disco.h: identity
 *   gateway/smtp named "Mail", features disco#info, urn:xmpp:ping and the
 *   registered ones). XEP-0050 ad-hoc commands are registered with
 *   xm_component_adhoc() (see xm_adhoc.h). When the connection is lost,
 *   outbound calls in flight end with XM_IQ_DISCONNECTED.
 * - Messages, presences and any other stanza go to the stanza callback.
 * - Every stanza sent carries a 'from' in the component's domain: a missing
 *   'from' is set to the component JID; a 'from' outside it is refused.
 * - An inbound stanza over max_stanza_bytes or nested deeper than
 *   max_stanza_depth is skipped and dropped without building it (see
 *   xm_parser.h); the stream stays up and nothing is resent. An IQ get/set
 *   among them is answered with a modify/policy-violation error whose
 *   <text/> says "stanza too large" or "too deeply nested" (to/from
 *   swapped, same id; none when the id or from was too long to keep: see
 *   below). Messages, presences and the rest are dropped
 *   silently. Only before the handshake, or for a <stream:error/>, is such
 *   a stanza a stream failure.
 * - An inbound IQ get/set whose id, from or to is longer than
 *   XM_PARSER_SKELETON_ATTR_MAX (3071) bytes is dropped unanswered: the
 *   answer echoes them and could be too large for the server, which would
 *   close the stream (and the outbox would resend it forever).
 * - Each drop is counted (dropped_in) and logged at warn with its sender
 *   (cleaned, at most 128 bytes), its size when known and the reason, at
 *   most one line per second (the next line counts those left out).
 * - An unparseable stream, a <stream:error> or a stalled server (no answer to
 *   a ping within ping_timeout_msecs) closes the connection and reconnects.
 *
 * One loop thread only. Callbacks fire from the loop; the component may not
 * be freed from inside its own callbacks other than by
 * xm_component_close(), which defers the free.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>
#include <uv.h>

#include "xm_adhoc.h"
#include "xm_disco.h"
#include "xm_iq.h"

struct xm_component;

struct xm_component_settings {
	const char *jid;    /* component JID, e.g. "mail.example.org" */
	const char *host;   /* XMPP server to connect to */
	uint16_t port;	    /* default 5347 */
	const char *secret; /* shared secret; never logged */
	/* The served XMPP domain: where confirmation pings are sent. */
	const char *server_domain;
	uint64_t reconnect_min_msecs; /* 0 = default 250 */
	uint64_t reconnect_max_msecs; /* 0 = default 30000 */
	uint64_t ping_timeout_msecs;  /* 0 = default 20000 */
	uint64_t keepalive_msecs;     /* idle ping; 0 = default 60000 */
	/* Inbound limits, as the server writes stanzas (after its escaping):
	   larger or deeper stanzas are dropped (see above). */
	size_t max_stanza_bytes;	/* 0 = default 4 MiB */
	unsigned max_stanza_depth;	/* 0 = default 64 (the stanza is 1) */
	size_t outbox_max;		/* 0 = default 200000 stanzas */
	struct xm_iq_settings iq;	/* zeroes: defaults */
	struct xm_adhoc_settings adhoc; /* zeroes: defaults */
};

struct xm_component_callbacks {
	/* The handshake was accepted (online) or the connection was lost. */
	void (*state)(struct xm_component *c, bool online, void *ctx);
	/*
	 * An inbound stanza other than an IQ (IQs go to the IQ engine). The
	 * stanza is released after the call (xmpp_stanza_clone to keep it).
	 */
	void (*stanza)(struct xm_component *c, xmpp_stanza_t *stanza,
		       void *ctx);
	/* The stanza queued with this nonzero token reached the server. Called
	   once per token, in queue order. */
	void (*confirmed)(struct xm_component *c, uint64_t token, void *ctx);
};

struct xm_component_stats {
	uint64_t connects; /* handshakes accepted */
	uint64_t disconnects;
	uint64_t stanzas_out; /* written, including resends */
	uint64_t stanzas_in;  /* parsed whole (skipped ones not included) */
	uint64_t resent;
	uint64_t dropped;    /* outbox full */
	uint64_t dropped_in; /* inbound stanzas dropped (see above) */
	size_t outbox_len;   /* queued, not yet confirmed */
	int64_t up_since;    /* unix seconds of the last handshake */
};

/*
 * Settings strings are copied. Returns 0, or -1 with an xmalloc'ed message
 * in *error_r for invalid settings (empty jid/host/secret). Does not connect.
 */
int xm_component_new(uv_loop_t *loop, xmpp_ctx_t *sctx,
		     const struct xm_component_settings *set,
		     const struct xm_component_callbacks *cb, void *ctx,
		     struct xm_component **c_r, char **error_r);
/* Starts connecting (and keeps reconnecting until closed). */
void xm_component_start(struct xm_component *c);
/*
 * Queues stanza (not consumed: the caller still releases it). token 0 means
 * no confirmed callback. Returns 0, or -1 when 'from' is outside the
 * component's domain or the outbox is full (nothing queued; logged).
 */
int xm_component_send(struct xm_component *c, xmpp_stanza_t *stanza,
		      uint64_t token);
/* The same for a stanza already serialised by xm_stanza_to_text(), e.g. one
   kept in durable state. The caller vouches for its 'from'. */
int xm_component_send_raw(struct xm_component *c, const char *xml, size_t len,
			  uint64_t token);
bool xm_component_online(const struct xm_component *c);
/*
 * The component's IQ engine, service discovery and ad-hoc commands, for
 * registering handlers, features and commands and sending IQs. Owned by
 * the component, valid until xm_component_close() (which closes them:
 * requests and calls still held are detached, see xm_iq.h and
 * xm_adhoc.h).
 */
struct xm_iq *xm_component_iq(const struct xm_component *c);
struct xm_disco *xm_component_disco(const struct xm_component *c);
struct xm_adhoc *xm_component_adhoc(const struct xm_component *c);
void xm_component_get_stats(const struct xm_component *c,
			    struct xm_component_stats *stats_r);
/*
 * Sets *c to NULL, closes the connection and frees the component once libuv
 * has released its handles; close_cb (may be NULL) fires then. Unconfirmed
 * stanzas are dropped (the caller's durable state has them). No other
 * callback fires after this call, except the free functions of ad-hoc
 * session data, which run inside it (or when a call still held is
 * released). No-op when *c is NULL. May be called from
 * the component's own callbacks (the object outlives the call).
 */
void xm_component_close(struct xm_component **c, void (*close_cb)(void *ctx),
			void *ctx);

#endif
