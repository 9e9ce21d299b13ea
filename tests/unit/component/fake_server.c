#include "fake_server.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"
#include "xm_component.h"
#include "xm_parser.h"

struct fake_conn {
	uv_tcp_t tcp;
	struct fake_server *s;
	struct xm_parser *parser;
	int index; /* 1-based */
	int n_msgs;
	char stream_id[32];
	bool closing;
	char buf[65536];
};

double now_msecs(void)
{
	return (double)uv_hrtime() / 1e6;
}

static void write_cb(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
	free(req);
}

static void conn_send(struct fake_conn *fc, const char *xml)
{
	uv_write_t *req;
	uv_buf_t b;

	if (fc == NULL || fc->closing)
		return;
	req = xmalloc(sizeof(*req));
	req->data = xstrdup(xml);
	b = uv_buf_init(req->data, (unsigned)strlen(xml));
	if (uv_write(req, (uv_stream_t *)&fc->tcp, &b, 1, write_cb) < 0) {
		free(req->data);
		free(req);
	}
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct fake_conn *fc = h->data;

	fc->s->open_conns--;
	xm_parser_free(&fc->parser);
	free(fc);
}

static void conn_close(struct fake_conn *fc)
{
	if (fc->closing)
		return;
	fc->closing = true;
	if (fc->s->cur == fc)
		fc->s->cur = NULL;
	uv_close((uv_handle_t *)&fc->tcp, conn_closed_cb);
}

static void stream_start_cb(void *ctx, const char *name, const char **attrs)
{
	struct fake_conn *fc = ctx;
	struct fake_server *s = fc->s;
	char header[512];

	(void)name;
	for (size_t i = 0; attrs[i] != NULL; i += 2) {
		if (strcmp(attrs[i], "to") == 0)
			snprintf(s->stream_to, sizeof(s->stream_to), "%s",
				 attrs[i + 1]);
	}
	snprintf(fc->stream_id, sizeof(fc->stream_id), "stream-id-%d",
		 fc->index);
	snprintf(header, sizeof(header),
		 "<?xml version='1.0'?><stream:stream "
		 "xmlns:stream='http://etherx.jabber.org/streams' "
		 "xmlns='jabber:component:accept' from='%s' id='%s'>",
		 FAKE_JID, fc->stream_id);
	conn_send(fc, header);
	if (fc->index <= s->garbage_conns)
		conn_send(fc, "<message>&bogus;<<</message>");
}

void fake_digest(const char *id, char hex[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	char in[128];

	snprintf(in, sizeof(in), "%s%s", id, FAKE_SECRET);
	EVP_Digest(in, strlen(in), md, &len, EVP_sha1(), NULL);
	for (unsigned i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void handshake(struct fake_conn *fc, xmpp_stanza_t *st)
{
	struct fake_server *s = fc->s;
	char *text = xmpp_stanza_get_text(st);
	char hex[41];

	fake_digest(fc->stream_id, hex);
	if (fc->index <= s->mute_conns) {
		xmpp_free(s->sctx, text);
		return;
	}
	if (s->refuse_conns < 0 || fc->index <= s->refuse_conns) {
		conn_send(fc, "<stream:error><not-authorized "
			      "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
			      "</stream:error></stream:stream>");
	} else if (text != NULL && strcmp(text, hex) == 0) {
		s->handshakes_ok++;
		conn_send(fc, "<handshake/>");
	} else {
		s->handshakes_bad++;
		conn_send(fc, "<stream:error><not-authorized "
			      "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
			      "</stream:error></stream:stream>");
	}
	xmpp_free(s->sctx, text);
}

static void iq(struct fake_conn *fc, xmpp_stanza_t *st)
{
	struct fake_server *s = fc->s;
	const char *to = xmpp_stanza_get_to(st);
	char reply[256];

	if (xmpp_stanza_get_child_by_name_and_ns(st, "ping", "urn:xmpp:ping") !=
		NULL &&
	    to != NULL && strcmp(to, FAKE_DOMAIN) == 0) {
		if (s->pings++ == 0)
			s->first_ping_msecs = now_msecs();
		if (fc->index <= s->stall_conns)
			return;
		snprintf(reply, sizeof(reply),
			 "<iq type='%s' id='%s' from='%s' to='%s'/>",
			 s->ping_errors ? "error" : "result",
			 xmpp_stanza_get_id(st), FAKE_DOMAIN, FAKE_JID);
		conn_send(fc, reply);
		return;
	}
	if (s->n_iqs == s->cap_iqs) {
		s->cap_iqs = s->cap_iqs * 2 + 64;
		s->iqs = xreallocarray(s->iqs, s->cap_iqs, sizeof(*s->iqs));
	}
	s->iqs[s->n_iqs++] = xmpp_stanza_clone(st);
}

static void stanza_cb(void *ctx, xmpp_stanza_t *st)
{
	struct fake_conn *fc = ctx;
	struct fake_server *s = fc->s;
	const char *name = xmpp_stanza_get_name(st);
	struct fake_msg *m;

	if (fc->closing)
		return;
	if (strcmp(name, "handshake") == 0) {
		handshake(fc, st);
	} else if (strcmp(name, "iq") == 0) {
		iq(fc, st);
	} else if (strcmp(name, "message") == 0) {
		if ((s->n_msgs & (s->n_msgs - 1)) == 0) /* 0 or 2^k */
			s->msgs = xreallocarray(s->msgs, s->n_msgs * 2 + 1,
						sizeof(*s->msgs));
		m = &s->msgs[s->n_msgs++];
		m->conn = fc->index;
		snprintf(m->id, sizeof(m->id), "%s",
			 xmpp_stanza_get_id(st) ? xmpp_stanza_get_id(st) : "");
		snprintf(m->from, sizeof(m->from), "%s",
			 xmpp_stanza_get_from(st) ? xmpp_stanza_get_from(st)
						  : "");
		if (++fc->n_msgs == s->drop_at_msg && fc->index == 1)
			conn_close(fc);
	}
}

static void stream_end_cb(void *ctx)
{
	(void)ctx;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct fake_conn *fc = h->data;

	(void)suggested;
	b->base = fc->buf;
	b->len = sizeof(fc->buf);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct fake_conn *fc = st->data;
	const char *error;

	if (nread < 0) {
		if (fc->index <= FAKE_MAX_CONNS)
			fc->s->close_msecs[fc->index - 1] = now_msecs();
		conn_close(fc);
		return;
	}
	if (xm_parser_feed(fc->parser, b->base, (size_t)nread, &error) < 0) {
		fprintf(stderr, "fake server: bad XML from component: %s\n",
			error);
		conn_close(fc);
	}
}

static void connection_cb(uv_stream_t *server, int status)
{
	static const struct xm_parser_callbacks cb = {
	    .stream_start = stream_start_cb,
	    .stanza = stanza_cb,
	    .stream_end = stream_end_cb,
	};
	struct fake_server *s = server->data;
	struct fake_conn *fc;
	uv_os_fd_t fd;

	if (status < 0)
		return;
	fc = xcalloc(1, sizeof(*fc));
	fc->s = s;
	fc->index = ++s->conns;
	if (fc->index <= FAKE_MAX_CONNS)
		s->conn_msecs[fc->index - 1] = now_msecs();
	fc->parser = xm_parser_new(s->sctx, 1 << 20, 64, &cb, fc);
	uv_tcp_init(s->loop, &fc->tcp);
	fc->tcp.data = fc;
	s->open_conns++;
	if (uv_accept(server, (uv_stream_t *)&fc->tcp) < 0) {
		conn_close(fc);
		return;
	}
	if (uv_fileno((uv_handle_t *)&fc->tcp, &fd) == 0)
		s->last_fd = fd;
	if (s->cur != NULL)
		conn_close(s->cur);
	s->cur = fc;
	uv_read_start((uv_stream_t *)&fc->tcp, alloc_cb, read_cb);
}

void fake_server_start(struct fake_server *s, uv_loop_t *loop, xmpp_ctx_t *sctx)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->sctx = sctx;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
	uv_listen((uv_stream_t *)&s->listener, 16, connection_cb);
	uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
	s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

xmpp_stanza_t *fake_find_iq(struct fake_server *s, const char *id)
{
	for (size_t i = 0; i < s->n_iqs; i++) {
		const char *iq_id = xmpp_stanza_get_id(s->iqs[i]);

		if (iq_id != NULL && strcmp(iq_id, id) == 0)
			return s->iqs[i];
	}
	return NULL;
}

int fake_count_iq(struct fake_server *s, const char *id)
{
	int n = 0;

	for (size_t i = 0; i < s->n_iqs; i++) {
		const char *iq_id = xmpp_stanza_get_id(s->iqs[i]);

		n += iq_id != NULL && strcmp(iq_id, id) == 0;
	}
	return n;
}

const char *fake_iq_answer(xmpp_stanza_t *iq)
{
	const char *type = xmpp_stanza_get_type(iq);
	xmpp_stanza_t *err;

	if (type != NULL && strcmp(type, "result") == 0)
		return "result";
	if (type == NULL || strcmp(type, "error") != 0)
		return NULL;
	err = xmpp_stanza_get_child_by_name(iq, "error");
	for (xmpp_stanza_t *c = err != NULL ? xmpp_stanza_get_children(err)
					    : NULL;
	     c != NULL; c = xmpp_stanza_get_next(c)) {
		if (xmpp_stanza_is_tag(c))
			return xmpp_stanza_get_name(c);
	}
	return "(none)";
}

const char *fake_answer(struct fake_server *s, const char *id)
{
	xmpp_stanza_t *iq = fake_find_iq(s, id);

	return iq != NULL ? fake_iq_answer(iq) : "(missing)";
}

void fake_server_send(struct fake_server *s, const char *xml)
{
	conn_send(s->cur, xml);
}

void fake_server_drop(struct fake_server *s)
{
	if (s->cur != NULL)
		conn_close(s->cur);
}

void fake_server_reset(struct fake_server *s)
{
	struct fake_conn *fc = s->cur;

	if (fc == NULL)
		return;
	fc->closing = true;
	s->cur = NULL;
	uv_tcp_close_reset(&fc->tcp, conn_closed_cb);
}

void fake_server_stop(struct fake_server *s)
{
	fake_server_drop(s);
	uv_close((uv_handle_t *)&s->listener, NULL);
}

void fake_server_free(struct fake_server *s)
{
	for (size_t i = 0; i < s->n_iqs; i++)
		xmpp_stanza_release(s->iqs[i]);
	free(s->iqs);
	s->iqs = NULL;
	s->cap_iqs = 0;
	free(s->msgs);
	s->msgs = NULL;
	s->n_iqs = s->n_msgs = 0;
}

/* ---- the component's side ---- */

static void obs_close_cb(void *ctx)
{
	struct obs *o = ctx;

	o->close_cbs++;
}

static void obs_close(struct obs *o)
{
	o->closed = true;
	xm_component_close(&o->c, obs_close_cb, o);
}

static void obs_state_cb(struct xm_component *c, bool online, void *ctx)
{
	struct obs *o = ctx;
	char id[32];

	(void)c;
	if (o->closed)
		o->calls_after_close++;
	if (online)
		o->online++;
	else
		o->offline++;
	if (online && o->close_in_online) {
		obs_close(o);
		return;
	}
	for (int i = 0; !online && i < o->send_on_offline; i++) {
		xmpp_stanza_t *m;

		snprintf(id, sizeof(id), "off%d", i + 1);
		m = xmpp_message_new(o->sctx, "chat", "a@b", id);
		xm_component_send(o->c, m, ++o->next_token);
		xmpp_stanza_release(m);
	}
}

static void obs_stanza_cb(struct xm_component *c, xmpp_stanza_t *st, void *ctx)
{
	struct obs *o = ctx;
	const char *id = xmpp_stanza_get_id(st);

	(void)c;
	if (o->closed)
		o->calls_after_close++;
	o->stanzas++;
	snprintf(o->last_name, sizeof(o->last_name), "%s",
		 xmpp_stanza_get_name(st));
	snprintf(o->last_id, sizeof(o->last_id), "%s", id ? id : "");
	if (strcmp(o->last_name, "message") == 0 &&
	    o->n_messages < sizeof(o->messages) / sizeof(o->messages[0]))
		o->messages[o->n_messages++] = xmpp_stanza_clone(st);
	if (o->close_in_stanza)
		obs_close(o);
}

static void obs_set_cb(struct xm_iq_request *req, void *ctx)
{
	struct obs *o = ctx;

	o->iq_sets++;
	xm_iq_request_result(req, NULL);
	xm_iq_request_release(&req);
}

void env_answer_sets(struct env *e, const char *ns)
{
	xm_iq_register(xm_component_iq(e->obs.c), XM_IQ_SET, ns, obs_set_cb,
		       &e->obs);
}

static void obs_confirmed_cb(struct xm_component *c, uint64_t token, void *ctx)
{
	struct obs *o = ctx;

	(void)c;
	if (o->closed)
		o->calls_after_close++;
	if (o->n_tokens < sizeof(o->tokens) / sizeof(o->tokens[0]))
		o->tokens[o->n_tokens++] = token;
	if (token == o->close_at_token)
		obs_close(o);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	uv_loop_init(&e->loop);
	e->sctx = xmpp_ctx_new(NULL, NULL);
	uv_timer_init(&e->loop, &e->tick);
	uv_timer_start(&e->tick, tick_cb, 5, 5);
	fake_server_start(&e->srv, &e->loop, e->sctx);
	e->obs.sctx = e->sctx;
	e->set.jid = FAKE_JID;
	e->set.host = "127.0.0.1";
	e->set.port = (uint16_t)e->srv.port;
	e->set.secret = FAKE_SECRET;
	e->set.server_domain = FAKE_DOMAIN;
	e->set.reconnect_min_msecs = 10;
	e->set.reconnect_max_msecs = 40;
	e->set.ping_timeout_msecs = 2000;
}

void env_component(struct env *e)
{
	static const struct xm_component_callbacks cb = {
	    obs_state_cb, obs_stanza_cb, obs_confirmed_cb};
	char *error = NULL;

	if (xm_component_new(&e->loop, e->sctx, &e->set, &cb, &e->obs,
			     &e->obs.c, &error) < 0) {
		fprintf(stderr, "xm_component_new: %s\n", error);
		abort();
	}
}

int env_send(struct env *e, const char *id, const char *from, uint64_t token)
{
	xmpp_stanza_t *m =
	    xmpp_message_new(e->sctx, "chat", "bob@example.org", id);
	int rc;

	if (from != NULL)
		xmpp_stanza_set_from(m, from);
	rc = xm_component_send(e->obs.c, m, token);
	xmpp_stanza_release(m);
	return rc;
}

int env_done(struct env *e)
{
	int rc;

	if (e->obs.c != NULL && !e->obs.closed)
		obs_close(&e->obs);
	fake_server_stop(&e->srv);
	uv_close((uv_handle_t *)&e->tick, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	fake_server_free(&e->srv);
	for (size_t i = 0; i < e->obs.n_messages; i++)
		xmpp_stanza_release(e->obs.messages[i]);
	e->obs.n_messages = 0;
	rc = uv_loop_close(&e->loop);
	xmpp_ctx_free(e->sctx);
	return rc;
}
