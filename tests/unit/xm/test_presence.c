/*
 * Unit tests of one bare JID's presence: resources coming and going, the
 * aggregate show and what each update reports as changed, priorities,
 * the resource bound, and stanzas that change nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_xalloc.h"
#include "xm_presence.h"
#include "xml_in.h"

static xmpp_ctx_t *sctx;

/* Feeds one presence stanza; returns the change mask (or -1). */
static int feed(struct xm_presence *p, const char *xml)
{
	xmpp_stanza_t *st = xml_in(sctx, xml);
	unsigned changes = 99;
	int rc;

	T_CHECK(st != NULL);
	if (st == NULL)
		return -2;
	rc = xm_presence_update(p, st, &changes);
	xmpp_stanza_release(st);
	return rc < 0 ? -1 : (int)changes;
}

#define AVAIL(res, extra)                                                      \
	"<presence from='bob@example.org/" res "'>" extra "</presence>"
#define GONE(res)                                                              \
	"<presence type='unavailable' from='bob@example.org/" res "'/>"

static void test_online_offline_and_show(void)
{
	struct xm_presence p;

	xm_presence_init(&p);
	T_CHECK(!xm_presence_online(&p));
	T_CHECK_INT(xm_presence_show(&p), XM_SHOW_OFFLINE);

	T_CHECK_INT(feed(&p, AVAIL("phone", "<show>away</show>")),
		    XM_PRESENCE_CAME_ONLINE);
	T_CHECK_INT(xm_presence_show(&p), XM_SHOW_AWAY);
	/* The same again: nothing changed. */
	T_CHECK_INT(feed(&p, AVAIL("phone", "<show>away</show>")), 0);
	/* A second, more available resource raises the aggregate. */
	T_CHECK_INT(feed(&p, AVAIL("laptop", "")), XM_PRESENCE_SHOW_CHANGED);
	T_CHECK_INT(xm_presence_show(&p), XM_SHOW_AVAILABLE);
	T_CHECK_INT(feed(&p, AVAIL("laptop", "<show>chat</show>")),
		    XM_PRESENCE_SHOW_CHANGED);
	T_CHECK_INT(xm_presence_show(&p), XM_SHOW_CHAT);
	T_CHECK_INT(feed(&p, AVAIL("laptop", "<show>dnd</show>")),
		    XM_PRESENCE_SHOW_CHANGED);
	T_CHECK_INT(xm_presence_show(&p), XM_SHOW_AWAY); /* dnd < away */
	T_CHECK_INT(feed(&p, AVAIL("laptop", "<show>xa</show>")), 0);
	T_CHECK_INT(xm_presence_resource_count(&p), 2);
	/* An unknown <show/> counts as plain available. */
	T_CHECK_INT(feed(&p, AVAIL("phone", "<show>sleeping</show>")),
		    XM_PRESENCE_SHOW_CHANGED);
	T_CHECK_INT(xm_presence_show(&p), XM_SHOW_AVAILABLE);

	/* One of two leaves: still online, the other's show remains. */
	T_CHECK_INT(feed(&p, GONE("phone")), XM_PRESENCE_SHOW_CHANGED);
	T_CHECK_INT(xm_presence_show(&p), XM_SHOW_XA);
	/* An unknown resource leaving changes nothing. */
	T_CHECK_INT(feed(&p, GONE("tablet")), 0);
	T_CHECK_INT(feed(&p, GONE("laptop")), XM_PRESENCE_WENT_OFFLINE);
	T_CHECK(!xm_presence_online(&p));
	T_CHECK_INT(feed(&p, GONE("laptop")), 0);
	T_CHECK_INT(xm_presence_resource_count(&p), 0);

	/* Unavailable from the bare JID: every resource goes. */
	T_CHECK_INT(feed(&p, AVAIL("a", "")), XM_PRESENCE_CAME_ONLINE);
	T_CHECK_INT(feed(&p, AVAIL("b", "")), 0);
	T_CHECK_INT(feed(&p, "<presence type='unavailable' "
			     "from='bob@example.org'/>"),
		    XM_PRESENCE_WENT_OFFLINE);
	T_CHECK_INT(xm_presence_resource_count(&p), 0);
	/* An error from a resource is that resource gone. */
	T_CHECK_INT(feed(&p, AVAIL("a", "")), XM_PRESENCE_CAME_ONLINE);
	T_CHECK_INT(feed(&p, "<presence type='error' "
			     "from='bob@example.org/a'/>"),
		    XM_PRESENCE_WENT_OFFLINE);
	/* A presence from the bare JID is the resource "". */
	T_CHECK_INT(feed(&p, "<presence from='bob@example.org'/>"),
		    XM_PRESENCE_CAME_ONLINE);
	T_CHECK_INT(feed(&p, GONE("x")), 0);
	T_CHECK(xm_presence_online(&p));
	xm_presence_clear(&p);
	T_CHECK(!xm_presence_online(&p));
}

static void test_priority(void)
{
	struct xm_presence p;

	xm_presence_init(&p);
	/* A negative priority gets no messages: not online. */
	T_CHECK_INT(feed(&p, AVAIL("bot", "<priority>-1</priority>")), 0);
	T_CHECK(!xm_presence_online(&p));
	T_CHECK_INT(xm_presence_resource_count(&p), 1);
	T_CHECK_INT(feed(&p, AVAIL("bot", "<priority> 0 </priority>")),
		    XM_PRESENCE_CAME_ONLINE);
	T_CHECK_INT(feed(&p, AVAIL("bot", "<priority>-128</priority>")),
		    XM_PRESENCE_WENT_OFFLINE);
	/* Out of range or not a number: 0. */
	static const char *const zero[] = {
	    "-129", "128", "1000000000000", "x", "", "+", "1 2", "--1"};
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
		char *xml =
		    xasprintf(AVAIL("bot", "<priority>%s</priority>"), zero[i]);
		T_CHECK_INT(feed(&p, xml), XM_PRESENCE_CAME_ONLINE);
		free(xml);
		T_CHECK_INT(p.res[0].priority, 0);
		T_CHECK_INT(feed(&p, AVAIL("bot", "<priority>-5</priority>")),
			    XM_PRESENCE_WENT_OFFLINE);
	}
	T_CHECK_INT(feed(&p, AVAIL("bot", "<priority>+127</priority>")),
		    XM_PRESENCE_CAME_ONLINE);
	T_CHECK_INT(p.res[0].priority, 127);
	xm_presence_clear(&p);
}

static void test_bound_and_ignored(void)
{
	struct xm_presence p;
	char xml[128];

	xm_presence_init(&p);
	for (int i = 0; i < XM_PRESENCE_RESOURCES_MAX + 4; i++) {
		snprintf(xml, sizeof(xml),
			 "<presence from='bob@example.org/r%d'/>", i);
		T_CHECK_INT(feed(&p, xml),
			    i == 0 ? XM_PRESENCE_CAME_ONLINE : 0);
		T_CHECK(xm_presence_resource_count(&p) <=
			XM_PRESENCE_RESOURCES_MAX);
	}
	T_CHECK_INT(xm_presence_resource_count(&p), XM_PRESENCE_RESOURCES_MAX);
	/* The least recently updated ones were forgotten: r0..r3. */
	T_CHECK_INT(feed(&p, GONE("r3")), 0);
	T_CHECK_INT(xm_presence_resource_count(&p), XM_PRESENCE_RESOURCES_MAX);
	T_CHECK_INT(feed(&p, GONE("r4")), 0);
	T_CHECK_INT(xm_presence_resource_count(&p),
		    XM_PRESENCE_RESOURCES_MAX - 1);

	/* Subscriptions, probes, non-presences and bad senders: nothing. */
	T_CHECK_INT(feed(&p, "<presence type='subscribe' "
			     "from='bob@example.org/r5'/>"),
		    0);
	T_CHECK_INT(feed(&p, "<presence type='probe' "
			     "from='bob@example.org'/>"),
		    0);
	T_CHECK_INT(feed(&p, "<message from='bob@example.org/r9'/>"), -1);
	T_CHECK_INT(feed(&p, "<presence type='unavailable'/>"), -1);
	T_CHECK_INT(feed(&p, "<presence type='unavailable' "
			     "from='@example.org'/>"),
		    -1);
	T_CHECK_INT(xm_presence_resource_count(&p),
		    XM_PRESENCE_RESOURCES_MAX - 1);
	xm_presence_clear(&p);
	T_CHECK_STR(xm_show_str(XM_SHOW_XA), "xa");
	T_CHECK_STR(xm_show_str(XM_SHOW_OFFLINE), "offline");
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_online_offline_and_show);
	T_RUN(test_priority);
	T_RUN(test_bound_and_ignored);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
