/*
 * Presence-aware delivery in the router: who gets a message for a new mail
 * and who gets nothing now (their summary comes later), and how a local
 * sender is named. Summaries themselves need IMAP: the integration tests
 * cover them.
 */
#include <stdio.h>
#include <string.h>

#include "br_settings.h"
#include "test.h"

#include "router_fixture.h"

static struct br_router_stats stats(struct fixture *f)
{
	struct br_router_stats st;
	br_router_get_stats(f->router, &st);
	return st;
}

static void test_presence_gates_delivery(void)
{
	struct fixture f;
	setup(&f, "burst_max = 100\n");
	br_router_start(f.router);
	br_router_presence_settled(f.router);

	/* Unknown presence: as before. */
	br_router_event(f.router, event("bob@example.org", "INBOX", 1, "a"));
	turn();
	T_CHECK_INT(sent.count, 1);

	/* Known presence, bob offline: nothing sent, nothing recorded. */
	br_router_presence_known(f.router, true);
	br_router_event(f.router, event("bob@example.org", "INBOX", 2, "b"));
	turn();
	T_CHECK_INT(sent.count, 1);
	T_CHECK_INT(stats(&f).held, 1);
	T_CHECK_INT(lt_notified(&f, "bob@example.org", 2), 0);

	/* Online: at once. */
	br_router_presence(f.router, "bob@example.org", BR_PRESENCE_ONLINE);
	br_router_event(f.router, event("bob@example.org", "INBOX", 3, "c"));
	turn();
	T_CHECK_INT(sent.count, 2);

	/* dnd, and hold_when = dnd (the default): held. */
	br_router_presence(f.router, "bob@example.org", BR_PRESENCE_DND);
	br_router_event(f.router, event("bob@example.org", "INBOX", 4, "d"));
	turn();
	T_CHECK_INT(sent.count, 2);
	/* away is not held by hold_when = dnd. */
	br_router_presence(f.router, "bob@example.org", BR_PRESENCE_AWAY);
	br_router_event(f.router, event("bob@example.org", "INBOX", 5, "e"));
	turn();
	T_CHECK_INT(sent.count, 3);

	/* carol chose hold_when = away, and notify = no for dave. */
	br_settings_set(f.ledger, "carol@example.org", BR_SETTING_HOLD_WHEN,
			BR_HOLD_AWAY);
	br_settings_set(f.ledger, "dave@example.org", BR_SETTING_NOTIFY, 0);
	br_router_presence(f.router, "carol@example.org", BR_PRESENCE_AWAY);
	br_router_presence(f.router, "dave@example.org", BR_PRESENCE_ONLINE);
	br_router_event(f.router, event("carol@example.org", "INBOX", 1, "f"));
	br_router_event(f.router, event("dave@example.org", "INBOX", 1, "g"));
	turn();
	T_CHECK_INT(sent.count, 3);
	br_router_presence(f.router, "carol@example.org", BR_PRESENCE_ONLINE);
	br_router_event(f.router, event("carol@example.org", "INBOX", 2, "h"));
	turn();
	T_CHECK_INT(sent.count, 4);
	T_CHECK_INT(stats(&f).held, 4);

	/* Not a served JID: ignored. */
	br_router_presence(f.router, "eve@elsewhere.example",
			   BR_PRESENCE_ONLINE);
	T_CHECK_INT(br_router_summary(f.router, "eve@elsewhere.example"), -1);
	teardown(&f, true);
}

/* A mail from a local user names their JID and presence. */
static void test_local_sender_named(void)
{
	struct fixture f;
	setup(&f, "burst_max = 100\n");
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	br_router_presence_known(f.router, true);
	br_router_presence(f.router, "bob@example.org", BR_PRESENCE_ONLINE);
	br_router_presence(f.router, "alice@example.org", BR_PRESENCE_DND);
	/* The fixture's mails come from alice@example.org. */
	br_router_event(f.router, event("bob@example.org", "INBOX", 1, "x"));
	turn();
	T_CHECK_INT(sent.count, 1);
	if (sent.count >= 1) {
		T_CHECK(strstr(sent.xml[0],
			       "New mail from Alice "
			       "&lt;alice@example.org&gt; (busy, "
			       "xmpp:alice@example.org)\n") != NULL);
		T_CHECK(strstr(sent.xml[0], "jid=\"alice@example.org\"") !=
			NULL);
		T_CHECK(strstr(sent.xml[0], "presence=\"busy\"") != NULL);
	}
	br_router_presence(f.router, "alice@example.org", BR_PRESENCE_OFFLINE);
	br_router_event(f.router, event("bob@example.org", "INBOX", 2, "y"));
	turn();
	T_CHECK(sent.count < 2 ||
		strstr(sent.xml[1], "(offline, xmpp:alice@example.org)") !=
		    NULL);
	teardown(&f, true);
}

/* What the presence source (br_online) knows, for users the router does
   not hold: bob offline, alice away, the rest unknown. */
static enum br_presence source(void *ctx, const char *key)
{
	(void)ctx;
	if (strcmp(key, "bob@example.org") == 0)
		return BR_PRESENCE_OFFLINE;
	if (strcmp(key, "alice@example.org") == 0)
		return BR_PRESENCE_AWAY;
	return BR_PRESENCE_UNKNOWN;
}

/* A server that does not say who is online (ejabberd 23.01): presence is
   not known for everyone, but what is known of a user the router frees
   and creates again comes from the source. */
static void test_presence_source(void)
{
	struct fixture f;
	setup(&f, "burst_max = 100\n");
	br_router_presence_source(f.router, source, NULL);
	br_router_start(f.router);
	br_router_presence_settled(f.router);

	/* bob is known offline: held for his summary. */
	br_router_event(f.router, event("bob@example.org", "INBOX", 1, "a"));
	turn();
	T_CHECK_INT(sent.count, 0);
	T_CHECK_INT(stats(&f).held, 1);
	/* alice is known away: not held by hold_when = dnd. */
	br_router_event(f.router, event("alice@example.org", "INBOX", 1, "b"));
	turn();
	T_CHECK_INT(sent.count, 1);
	/* carol is unknown: at once, and her sender alice is named away. */
	br_router_event(f.router, event("carol@example.org", "INBOX", 1, "c"));
	turn();
	T_CHECK_INT(sent.count, 2);
	T_CHECK(sent.count < 2 ||
		strstr(sent.xml[1], "(away, xmpp:alice@example.org)") != NULL);
	/* carol's first presence is not "coming online" (her mail was
	   notified): no summary, nothing else sent. */
	br_router_presence(f.router, "carol@example.org", BR_PRESENCE_ONLINE);
	turn();
	T_CHECK_INT(sent.count, 2);
	T_CHECK_INT(stats(&f).summaries, 0);
	teardown(&f, true);
}

int main(void)
{
	fixture_init();
	T_RUN(test_presence_gates_delivery);
	T_RUN(test_local_sender_named);
	T_RUN(test_presence_source);
	fixture_done();
	return T_DONE();
}
