/*
 * The XEP-0114 component stream: the jabber:component:accept handshake,
 * inbound dispatch, and the outbox with its confirmation pings, on top of
 * the reconnecting TCP connection in xm_conn.c. Pure protocol pieces live
 * in xm_accept.c, the outbox bookkeeping in xm_outbox.c.
 */
#include "xm_component.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include "ut_buf.h"
#include "ut_log.h"
#include "ut_random.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_accept.h"
#include "xm_component_int.h"
#include "xm_conn.h"
#include "xm_jid.h"
#include "xm_outbox.h"
#include "xm_parser.h"
#include "xm_stanza.h"

static void xm_maybe_free(struct xm_component *c)
{
	void (*close_cb)(void *) = c->close_cb;
	void *close_ctx = c->close_ctx;

	if (!c->closing || c->open_handles > 0)
		return;
	xm_parser_free(&c->parser);
	xm_outbox_free(&c->outbox);
	free(c->jid);
	free(c->host);
	free(c->server_domain);
	explicit_bzero(c->secret, strlen(c->secret));
	free(c->secret);
	free(c);
	if (close_cb != NULL)
		close_cb(close_ctx);
}

static void xm_handle_closed_cb(uv_handle_t *h)
{
	struct xm_component *c = h->data;

	c->open_handles--;
	xm_maybe_free(c);
}

void xm_component__child_closed(void *ctx)
{
	struct xm_component *c = ctx;

	c->open_handles--;
	xm_maybe_free(c);
}

/* ---- the outbox on the wire ---- */

/* The oldest ping in flight must be answered within ping_timeout_msecs. */
static void xm_ping_deadline(struct xm_component *c)
{
	uint64_t now = uv_now(c->loop), sent, due;

	if (!xm_outbox_oldest_ping(&c->outbox, &sent)) {
		xm_conn_deadline(c->conn, 0, NULL);
		return;
	}
	due = sent + c->ping_timeout_msecs;
	xm_conn_deadline(c->conn, due > now ? due - now : 1,
			 "no answer to a ping in time");
}

static void xm_flush(struct xm_component *c)
{
	struct ut_buf b = UT_BUF_INIT;
	bool no_pings = c->outbox.n_pings == 0;

	uv_idle_stop(&c->flush_idle);
	if (c->state != XM_ONLINE || c->closing)
		return;
	xm_outbox_fill(&c->outbox, &b, c->jid, c->server_domain,
		       uv_now(c->loop));
	if (no_pings && c->outbox.n_pings > 0)
		xm_ping_deadline(c);
	if (b.len > 0)
		xm_conn_write(c->conn, &b);
	ut_buf_free(&b);
}

static void xm_flush_cb(uv_idle_t *h)
{
	xm_flush(h->data);
}

static void xm_flush_soon(struct xm_component *c)
{
	if (c->state == XM_ONLINE && !c->closing)
		uv_idle_start(&c->flush_idle, xm_flush_cb);
}

static int xm_enqueue(struct xm_component *c, const char *xml, size_t len,
		      uint64_t token)
{
	if (c->closing || len == 0)
		return -1;
	if (xm_outbox_push(&c->outbox, xml, len, token) < 0) {
		c->stats.dropped++;
		if (!c->full_logged)
			xm_log(UT_LOG_ERROR,
			       "outbox full (%zu stanzas): dropping stanzas",
			       c->outbox.count);
		c->full_logged = true;
		return -1;
	}
	c->full_logged = false;
	xm_flush_soon(c);
	return 0;
}

static void xm_keepalive_cb(uv_timer_t *t)
{
	struct xm_component *c = t->data;
	struct ut_buf b = UT_BUF_INIT;

	if (c->state != XM_ONLINE || c->outbox.n_pings > 0 ||
	    uv_now(c->loop) - c->last_rx_msecs < c->keepalive_msecs)
		return;
	xm_outbox_add_ping(&c->outbox, &b, c->jid, c->server_domain,
			   uv_now(c->loop));
	xm_ping_deadline(c);
	xm_conn_write(c->conn, &b);
	ut_buf_free(&b);
}

/* A ping answer (result or error) confirms the outbox up to that ping. */
bool xm_component__ping_reply(struct xm_component *c, xmpp_stanza_t *iq)
{
	const char *id = xmpp_stanza_get_id(iq);
	const char *from = xmpp_stanza_get_from(iq);
	uint64_t upto, token;

	if (id == NULL ||
	    (from != NULL && strcasecmp(from, c->server_domain) != 0) ||
	    !xm_outbox_ping_answered(&c->outbox, id, &upto))
		return false;
	xm_ping_deadline(c);
	while (!c->closing &&
	       xm_outbox_pop_confirmed(&c->outbox, upto, &token)) {
		if (token != 0 && c->cb.confirmed != NULL)
			c->cb.confirmed(c, token, c->ctx);
	}
	xm_flush_soon(c);
	return true;
}

/* ---- the connection underneath ---- */

static void xm_connected_cb(struct xm_conn *k, void *ctx)
{
	struct xm_component *c = ctx;
	struct ut_buf b = UT_BUF_INIT;

	xm_parser_reset(c->parser);
	c->state = XM_OPENING;
	xm_conn_deadline(k, c->ping_timeout_msecs,
			 "no stream handshake in time");
	xm_accept_stream_header(&b, c->jid);
	xm_conn_write(k, &b);
	ut_buf_free(&b);
}

static void xm_data_cb(struct xm_conn *k, const char *data, size_t len,
		       void *ctx)
{
	struct xm_component *c = ctx;
	const char *error;

	c->last_rx_msecs = uv_now(c->loop);
	if (xm_parser_feed(c->parser, data, len, &error) < 0)
		xm_conn_fail(k, UT_LOG_WARN,
			     "unparseable stream from %s:%u: %s", c->host,
			     c->port, error);
}

static void xm_down_cb(struct xm_conn *k, void *ctx)
{
	struct xm_component *c = ctx;
	bool was_online = c->state == XM_ONLINE;

	c->state = XM_OFFLINE;
	xm_outbox_rewind(&c->outbox);
	uv_timer_stop(&c->keepalive_timer);
	uv_idle_stop(&c->flush_idle);
	if (!was_online)
		return;
	c->stats.disconnects++;
	if (uv_now(c->loop) - c->online_since_msecs >= c->stable_msecs)
		xm_conn_backoff_reset(k);
	if (!c->closing)
		xm_iq_connection_lost(c->iq);
	if (c->cb.state != NULL && !c->closing)
		c->cb.state(c, false, c->ctx);
}

/* ---- the stream ---- */

static void xm_stream_start_cb(void *ctx, const char *name, const char **attrs)
{
	struct xm_component *c = ctx;
	const char *id = NULL;
	struct ut_buf b = UT_BUF_INIT;

	if (c->closing || c->state != XM_OPENING)
		return;
	for (size_t i = 0; attrs[i] != NULL && attrs[i + 1] != NULL; i += 2) {
		if (strcmp(attrs[i], "id") == 0)
			id = attrs[i + 1];
	}
	if (strcmp(name, "stream") != 0 || id == NULL || *id == '\0') {
		xm_conn_fail(c->conn, UT_LOG_WARN,
			     "the stream header from %s:%u has no id", c->host,
			     c->port);
		return;
	}
	xm_accept_handshake(&b, id, c->secret);
	c->state = XM_HANDSHAKING;
	xm_conn_write(c->conn, &b);
	ut_buf_free(&b);
}

static void xm_stream_error(struct xm_component *c, xmpp_stanza_t *st)
{
	char *text;
	const char *condition = xm_accept_stream_error(st, &text);

	if (c->state == XM_HANDSHAKING &&
	    strcmp(condition, "not-authorized") == 0)
		xm_conn_fail(c->conn, UT_LOG_ERROR,
			     "%s:%u refused the handshake for %s "
			     "(not-authorized): check the component secret",
			     c->host, c->port, c->jid);
	else
		xm_conn_fail(c->conn, UT_LOG_ERROR,
			     "stream error from %s:%u: %s%s%s", c->host,
			     c->port, condition, text != NULL ? ": " : "",
			     text != NULL ? text : "");
	free(text);
}

static void xm_go_online(struct xm_component *c)
{
	c->state = XM_ONLINE;
	c->stats.connects++;
	c->stats.up_since = (int64_t)time(NULL);
	c->online_since_msecs = uv_now(c->loop);
	xm_conn_deadline(c->conn, 0, NULL);
	uv_timer_start(&c->keepalive_timer, xm_keepalive_cb, c->keepalive_msecs,
		       c->keepalive_msecs);
	xm_log(UT_LOG_INFO, "connected to %s:%u as %s (%zu stanzas queued)",
	       c->host, c->port, c->jid, c->outbox.count);
	if (c->cb.state != NULL)
		c->cb.state(c, true, c->ctx);
	xm_flush_soon(c);
}

/* One warning per XM_DROP_LOG_MSECS at most; the next line tells how many
   were left out. bytes: the stanza's length as received (0: unknown). */
void xm_component__log_drop(struct xm_component *c, xmpp_stanza_t *sk,
			    const char *why, uint64_t bytes)
{
	uint64_t now = uv_now(c->loop);
	const char *from = xmpp_stanza_get_from(sk);
	const char *name = xmpp_stanza_get_name(sk);
	char *clean_from, *clean_name, size[48] = "";

	if (!ut_ratelog_due(&c->drop_log, now, XM_DROP_LOG_MSECS))
		return;
	if (bytes > 0)
		snprintf(size, sizeof(size), " of %llu bytes",
			 (unsigned long long)bytes);
	clean_from = ut_utf8_clean_str(from, from != NULL ? strlen(from) : 0,
				       UT_CLEAN_ONELINE, XM_DROP_LOG_JID_BYTES);
	clean_name =
	    ut_utf8_clean_str(name, strlen(name), UT_CLEAN_ONELINE, 32);
	ut_ratelog_emit(&c->drop_log, now, UT_LOG_WARN, XM_LOG_PREFIX,
			"dropped an inbound <%s/>%s from %s: %s", clean_name,
			size, *clean_from != '\0' ? clean_from : "(no sender)",
			why);
	free(clean_from);
	free(clean_name);
}

static void xm_stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	struct xm_component *c = ctx;
	const char *name = xmpp_stanza_get_name(st);

	/* After a failure or close inside this same read, the rest of the
	   chunk is ignored. */
	if (c->closing || (c->state != XM_HANDSHAKING && c->state != XM_ONLINE))
		return;
	c->stats.stanzas_in++;
	if (c->state == XM_ONLINE && ut_trace_enabled(UT_TRACE_XMPP)) {
		size_t len;
		char *text = xm_stanza_to_text(st, &len);

		ut_trace(UT_TRACE_XMPP, XM_LOG_PREFIX, "in: %s", text);
		free(text);
	}
	if (strcmp(name, "error") == 0)
		xm_stream_error(c, st);
	else if (c->state == XM_HANDSHAKING && strcmp(name, "handshake") == 0)
		xm_go_online(c);
	else if (c->state == XM_HANDSHAKING)
		xm_conn_fail(c->conn, UT_LOG_WARN,
			     "unexpected <%s/> from %s:%u before the handshake",
			     name, c->host, c->port);
	else if (strcmp(name, "iq") == 0)
		xm_component__handle_iq(c, st);
	else if (c->cb.stanza != NULL)
		c->cb.stanza(c, st, c->ctx);
}

/*
 * A stanza over the size or depth limit, skipped by the parser. The stream
 * stays up; an IQ get/set still gets its one answer.
 */
static void xm_stanza_dropped_cb(void *ctx, xmpp_stanza_t *sk,
				 enum xm_parser_drop_reason reason,
				 uint64_t bytes)
{
	struct xm_component *c = ctx;
	const char *name = xmpp_stanza_get_name(sk);
	const char *type = xmpp_stanza_get_type(sk);
	const char *why = xm_parser_drop_reason_str(reason);
	xmpp_stanza_t *reply;

	if (c->closing || (c->state != XM_HANDSHAKING && c->state != XM_ONLINE))
		return;
	if (c->state != XM_ONLINE || strcmp(name, "error") == 0) {
		/* Not a user's stanza: before the handshake only the server
		   speaks, and a stream error ends the stream anyway. */
		xm_conn_fail(c->conn, UT_LOG_WARN, "%s <%s/> from %s:%u %s",
			     why, name, c->host, c->port,
			     c->state == XM_ONLINE ? "(a stream error)"
						   : "before the handshake");
		return;
	}
	c->stats.dropped_in++;
	xm_component__log_drop(c, sk, why, bytes);
	/* The skeleton lacks an id or from that was too long to keep: such
	   an IQ is not answered (see xm_accept_iq_answerable()). */
	if (strcmp(name, "iq") != 0 || type == NULL ||
	    (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) ||
	    xmpp_stanza_get_id(sk) == NULL || xmpp_stanza_get_from(sk) == NULL)
		return;
	reply =
	    xm_error_reply_new(c->sctx, sk, "modify", "policy-violation", why);
	xm_component_send(c, reply, 0);
	xmpp_stanza_release(reply);
}

static void xm_stream_end_cb(void *ctx)
{
	struct xm_component *c = ctx;

	if (!c->closing)
		xm_conn_fail(c->conn, UT_LOG_WARN, "%s:%u closed the stream",
			     c->host, c->port);
}

/* ---- public API ---- */

int xm_component_new(uv_loop_t *loop, xmpp_ctx_t *sctx,
		     const struct xm_component_settings *set,
		     const struct xm_component_callbacks *cb, void *ctx,
		     struct xm_component **c_r, char **error_r)
{
	static const struct xm_parser_callbacks parser_cb = {
	    .stream_start = xm_stream_start_cb,
	    .stanza = xm_stanza_cb,
	    .stream_end = xm_stream_end_cb,
	    .stanza_dropped = xm_stanza_dropped_cb,
	};
	static const struct xm_conn_callbacks conn_cb = {
	    .connected = xm_connected_cb,
	    .data = xm_data_cb,
	    .down = xm_down_cb,
	};
	struct xm_component *c;
	const char *domain;
	uint64_t min_msecs, max_msecs;
	uint32_t salt;

#define XM_OR(v, dflt) ((v) != 0 ? (v) : (dflt))
	if (xm_accept_check_settings(set, &domain, error_r) < 0)
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->sctx = sctx;
	c->jid = xstrdup(set->jid);
	c->host = xstrdup(set->host);
	c->secret = xstrdup(set->secret);
	c->server_domain = xstrdup(domain);
	c->port = XM_OR(set->port, 5347);
	c->ping_timeout_msecs = XM_OR(set->ping_timeout_msecs, 20000);
	c->keepalive_msecs = XM_OR(set->keepalive_msecs, 60000);
	min_msecs = XM_OR(set->reconnect_min_msecs, 250);
	max_msecs = XM_OR(set->reconnect_max_msecs, 30000);
	/* A connection that stayed up this long resets the backoff. */
	c->stable_msecs = min_msecs * 40 < XM_STABLE_MAX_MSECS
			      ? min_msecs * 40
			      : XM_STABLE_MAX_MSECS;
	if (cb != NULL)
		c->cb = *cb;
	c->ctx = ctx;
	c->parser = xm_parser_new(
	    sctx, XM_OR(set->max_stanza_bytes, XM_DEFAULT_MAX_STANZA_BYTES),
	    XM_OR(set->max_stanza_depth, XM_DEFAULT_MAX_STANZA_DEPTH),
	    &parser_cb, c);
	salt = (uint32_t)ut_random_u64();
	xm_outbox_init(&c->outbox, XM_OR(set->outbox_max, 200000), salt);
#undef XM_OR
	c->conn = xm_conn_new(loop, c->host, c->port, min_msecs, max_msecs,
			      c->ping_timeout_msecs, &conn_cb, c);
	c->open_handles++;
	uv_timer_init(loop, &c->keepalive_timer);
	c->open_handles++;
	uv_idle_init(loop, &c->flush_idle);
	c->open_handles++;
	c->keepalive_timer.data = c->flush_idle.data = c;
	xm_component__iq_init(c, set);
	*c_r = c;
	return 0;
}

void xm_component_start(struct xm_component *c)
{
	if (!c->closing)
		xm_conn_start(c->conn);
}

int xm_component_send(struct xm_component *c, xmpp_stanza_t *stanza,
		      uint64_t token)
{
	const char *from = xmpp_stanza_get_from(stanza);
	bool added = false;
	size_t len;
	char *xml;
	int rc;

	if (c->closing)
		return -1;
	if (from == NULL) {
		xmpp_stanza_set_from(stanza, c->jid);
		added = true;
	} else if (!xm_jid_domain_is(from, c->jid)) {
		xm_log(UT_LOG_WARN,
		       "refusing a stanza from '%s': outside the component "
		       "domain %s",
		       from, c->jid);
		return -1;
	}
	xml = xm_stanza_to_text(stanza, &len);
	if (added) /* leave the caller's stanza as it was */
		xmpp_stanza_del_attribute(stanza, "from");
	rc = xm_enqueue(c, xml, len, token);
	free(xml);
	return rc;
}

int xm_component_send_raw(struct xm_component *c, const char *xml, size_t len,
			  uint64_t token)
{
	return xm_enqueue(c, xml, len, token);
}

bool xm_component_online(const struct xm_component *c)
{
	return c->state == XM_ONLINE && !c->closing;
}

struct xm_iq *xm_component_iq(const struct xm_component *c)
{
	return c->iq;
}

struct xm_disco *xm_component_disco(const struct xm_component *c)
{
	return c->disco;
}

struct xm_adhoc *xm_component_adhoc(const struct xm_component *c)
{
	return c->adhoc;
}

void xm_component_get_stats(const struct xm_component *c,
			    struct xm_component_stats *stats_r)
{
	*stats_r = c->stats;
	stats_r->stanzas_out = c->outbox.stanzas_out;
	stats_r->resent = c->outbox.resent;
	stats_r->outbox_len = c->outbox.count;
}

void xm_component_close(struct xm_component **cp, void (*close_cb)(void *ctx),
			void *ctx)
{
	struct xm_component *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->closing)
		return;
	c->closing = true;
	c->close_cb = close_cb;
	c->close_ctx = ctx;
	xm_conn_close(&c->conn, xm_component__child_closed, c);
	xm_component__iq_close(c);
	uv_close((uv_handle_t *)&c->keepalive_timer, xm_handle_closed_cb);
	uv_close((uv_handle_t *)&c->flush_idle, xm_handle_closed_cb);
}
