/*
 * br_online_can_send_as: the XEP-0356 message permission "outgoing" of a
 * served domain, on the current connection only, from the real
 * advertisement parser (Prosody's urn:xmpp:privilege:2 and ejabberd's :1
 * shapes), with the router of the shared fixture behind br_online.
 */
#include <stdio.h>
#include <string.h>

#include "br_online.h"
#include "test.h"
#include "xm_parser.h"

#include "router_fixture.h"

#define HEADER                                                                 \
	"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' " \
	"xmlns:stream='http://etherx.jabber.org/streams' id='s1'>"

static int sent_stanzas;

static int online_send_cb(void *ctx, xmpp_stanza_t *st)
{
	(void)ctx;
	(void)st;
	sent_stanzas++;
	return 0;
}

static void keep_cb(void *ctx, xmpp_stanza_t *st)
{
	xmpp_stanza_t **out = ctx;
	*out = xmpp_stanza_copy(st);
}

static xmpp_stanza_t *stanza(const char *xml)
{
	xmpp_stanza_t *st = NULL;
	const char *err;
	struct xm_parser_callbacks cb = {.stanza = keep_cb};
	struct xm_parser *p = xm_parser_new(sctx, 65536, 32, &cb, &st);
	T_CHECK_INT(xm_parser_feed(p, HEADER, strlen(HEADER), &err), 0);
	T_CHECK_INT(xm_parser_feed(p, xml, strlen(xml), &err), 0);
	xm_parser_free(&p);
	T_CHECK(st != NULL);
	return st;
}

/* An advertisement from `from` in namespace ns granting message=msg. */
static bool advertise(struct br_online *o, const char *from, const char *ns,
		      const char *msg)
{
	char *xml = xasprintf(
	    "<message from='%s' to='mail.example.org'><privilege xmlns='%s'>"
	    "<perm access='roster' type='both'/>"
	    "<perm access='message' type='%s'/>"
	    "<perm access='presence' type='roster'/></privilege></message>",
	    from, ns, msg);
	xmpp_stanza_t *st = stanza(xml);
	bool taken = st != NULL && br_online_advertisement(o, st);
	if (st != NULL)
		xmpp_stanza_release(st);
	free(xml);
	return taken;
}

static void test_can_send_as(void)
{
	struct fixture f;
	setup(&f, "");
	br_router_start(f.router);
	struct br_online_deps d = {
	    .loop = &loop,
	    .cfg = f.cfg,
	    .router = f.router,
	    .sctx = sctx,
	    .send = online_send_cb,
	};
	struct br_online *o = br_online_new(&d);

	/* Not connected: no. Connected, before the advertisement: no. */
	T_CHECK(!br_online_can_send_as(o, "example.org", NULL));
	br_online_xmpp_state(o, true);
	T_CHECK(!br_online_can_send_as(o, "example.org", NULL));

	/* Prosody's shape (v2), message outgoing. */
	T_CHECK(advertise(o, "example.org", XM_NS_PRIVILEGE_2, "outgoing"));
	turn();
	T_CHECK(br_online_can_send_as(o, "example.org", NULL));
	T_CHECK(br_online_can_send_as(o, "EXAMPLE.org", NULL));
	enum xm_privilege_version version = XM_PRIVILEGE_V1;
	T_CHECK(br_online_can_send_as(o, "example.org", &version));
	T_CHECK(version == XM_PRIVILEGE_V2);
	T_CHECK(!br_online_can_send_as(o, "example.net", NULL));
	T_CHECK(!br_online_can_send_as(o, "alice@example.org", NULL));
	T_CHECK(!br_online_can_send_as(o, "example.org/r", NULL));
	T_CHECK(!br_online_can_send_as(o, "", NULL));
	T_CHECK(!br_online_can_send_as(o, NULL, NULL));

	/* A user cannot take it away, the server can (a later
	   advertisement replaces the earlier one). */
	T_CHECK(
	    !advertise(o, "mallory@example.org", XM_NS_PRIVILEGE_2, "none"));
	T_CHECK(br_online_can_send_as(o, "example.org", NULL));
	T_CHECK(advertise(o, "example.org", XM_NS_PRIVILEGE_2, "none"));
	T_CHECK(!br_online_can_send_as(o, "example.org", NULL));
	/* An unknown type means none. */
	T_CHECK(advertise(o, "example.org", XM_NS_PRIVILEGE_2, "everything"));
	T_CHECK(!br_online_can_send_as(o, "example.org", NULL));
	/* ejabberd's shape (v1). */
	T_CHECK(advertise(o, "example.org", XM_NS_PRIVILEGE_1, "outgoing"));
	T_CHECK(br_online_can_send_as(o, "example.org", NULL));

	/* Lost the stream: no; connected again: not until the server says
	   so again on this connection. */
	br_online_xmpp_state(o, false);
	T_CHECK(!br_online_can_send_as(o, "example.org", NULL));
	br_online_xmpp_state(o, true);
	T_CHECK(!br_online_can_send_as(o, "example.org", NULL));
	T_CHECK(advertise(o, "example.org", XM_NS_PRIVILEGE_2, "outgoing"));
	T_CHECK(br_online_can_send_as(o, "example.org", NULL));

	br_online_close(&o);
	T_CHECK(o == NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	teardown(&f, true);
}

int main(void)
{
	(void)event; /* the fixture's, unused here */
	fixture_init();
	T_RUN(test_can_send_as);
	fixture_done();
	return T_DONE();
}
