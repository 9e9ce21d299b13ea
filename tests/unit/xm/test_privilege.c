/*
 * Unit tests of XEP-0356: the advertisements ejabberd 23.01 (privilege:1)
 * and Prosody 0.12's mod_privilege (privilege:2, nested namespaces) send,
 * refusals of anything not from the server's domain, and the exact
 * stanzas the builders make.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_buf.h"
#include "ut_xalloc.h"
#include "xm_privilege.h"
#include "xml_in.h"

static xmpp_ctx_t *sctx;

static int parse(const char *xml, const char *domain, struct xm_privilege *p,
		 const char **error_r)
{
	xmpp_stanza_t *st = xml_in(sctx, xml);
	int rc;

	*error_r = "(no stanza)";
	T_CHECK(st != NULL);
	if (st == NULL)
		return -2;
	rc = xm_privilege_parse(st, domain, p, error_r);
	xmpp_stanza_release(st);
	return rc;
}

static void test_ejabberd_v1(void)
{
	struct xm_privilege p;
	const char *error = NULL;

	/* What ejabberd 23.01 sends right after the handshake. */
	T_CHECK_INT(parse("<message from=\"example.test\" "
			  "to=\"mail.example.test\"><privilege "
			  "xmlns=\"urn:xmpp:privilege:1\"><perm "
			  "access=\"message\" type=\"outgoing\"/><perm "
			  "access=\"roster\" type=\"both\"/><perm "
			  "access=\"presence\" type=\"roster\"/></privilege>"
			  "</message>",
			  "example.test", &p, &error),
		    0);
	T_CHECK_INT(p.version, XM_PRIVILEGE_V1);
	T_CHECK_INT(p.roster, XM_PRIV_GET | XM_PRIV_SET);
	T_CHECK(!p.roster_push);
	T_CHECK_INT(p.message, XM_PRIV_MESSAGE_OUTGOING);
	T_CHECK_INT(p.presence, XM_PRIV_PRESENCE_ROSTER);
	T_CHECK_INT(p.n_iq, 0);
	xm_privilege_clear(&p);

	/* An iq perm means nothing in v1; unknown values mean none. */
	T_CHECK_INT(parse("<message from='EXAMPLE.test'><privilege "
			  "xmlns='urn:xmpp:privilege:1'><perm access='roster' "
			  "type='all'/><perm access='presence' "
			  "type='managed_entity'/><perm access='iq'><namespace "
			  "ns='urn:x' type='both'/></perm><perm "
			  "access='bogus' type='both'/><perm type='get'/>"
			  "</privilege></message>",
			  "example.test", &p, &error),
		    0);
	T_CHECK_INT(p.roster, 0);
	T_CHECK_INT(p.presence, XM_PRIV_PRESENCE_MANAGED_ENTITY);
	T_CHECK_INT(p.message, XM_PRIV_MESSAGE_NONE);
	T_CHECK_INT(p.n_iq, 0);
	xm_privilege_clear(&p);
}

static void test_prosody_v2(void)
{
	struct xm_privilege p;
	const char *error = NULL;

	/* mod_privilege (prosody-modules 2023-02): each further <namespace/>
	   nested in the previous one, type absent for neither. */
	T_CHECK_INT(
	    parse("<message from='example.org' to='mail.example.org'>"
		  "<privilege xmlns='urn:xmpp:privilege:2'>"
		  "<perm access='roster' type='get'/>"
		  "<perm type='outgoing' access='message'/>"
		  "<perm access='presence' type='roster'/>"
		  "<perm access='iq'><namespace ns='urn:a' type='get'>"
		  "<namespace ns='urn:b' type='set'><namespace ns='urn:c'/>"
		  "</namespace></namespace></perm></privilege></message>",
		  "example.org", &p, &error),
	    0);
	T_CHECK_INT(p.version, XM_PRIVILEGE_V2);
	T_CHECK_INT(p.roster, XM_PRIV_GET);
	T_CHECK(p.roster_push); /* the default with get, per 0.4 */
	T_CHECK_INT(p.message, XM_PRIV_MESSAGE_OUTGOING);
	T_CHECK_INT(p.presence, XM_PRIV_PRESENCE_ROSTER);
	T_CHECK_INT(p.n_iq, 3);
	T_CHECK_INT(xm_privilege_iq_types(&p, "urn:a"), XM_PRIV_GET);
	T_CHECK_INT(xm_privilege_iq_types(&p, "urn:b"), XM_PRIV_SET);
	T_CHECK_INT(xm_privilege_iq_types(&p, "urn:c"), 0);
	T_CHECK_INT(xm_privilege_iq_types(&p, "urn:d"), 0);
	xm_privilege_clear(&p);
	T_CHECK_INT(p.n_iq, 0);

	/* XEP-0356 0.4's flat list, push='false', a repeated perm. */
	T_CHECK_INT(
	    parse("<message from='example.org'><p:privilege "
		  "xmlns:p='urn:xmpp:privilege:2'><p:perm access='roster' "
		  "type='none'/><p:perm access='roster' type='both' "
		  "push='false'/><p:perm access='iq'><p:namespace ns='urn:a' "
		  "type='both'/><p:namespace ns='urn:b' type='get'/>"
		  "<namespace ns='urn:other'/></p:perm></p:privilege>"
		  "</message>",
		  "example.org", &p, &error),
	    0);
	T_CHECK_INT(p.roster, XM_PRIV_GET | XM_PRIV_SET);
	T_CHECK(!p.roster_push);
	T_CHECK_INT(p.n_iq, 2);
	T_CHECK_INT(xm_privilege_iq_types(&p, "urn:a"),
		    XM_PRIV_GET | XM_PRIV_SET);
	T_CHECK_STR(xm_privilege_types_str(p.roster), "both");
	xm_privilege_clear(&p);

	/* The namespace list is bounded. */
	{
		struct ut_buf b = UT_BUF_INIT;

		ut_buf_append_str(&b, "<message from='example.org'><privilege "
				      "xmlns='urn:xmpp:privilege:2'><perm "
				      "access='iq'>");
		for (int i = 0; i < XM_PRIVILEGE_IQ_NS_MAX + 10; i++)
			ut_buf_appendf(
			    &b, "<namespace ns='urn:%d' type='get'/>", i);
		ut_buf_append_str(&b, "</perm></privilege></message>");
		T_CHECK_INT(parse(ut_buf_str(&b), "example.org", &p, &error),
			    0);
		T_CHECK_INT(p.n_iq, XM_PRIVILEGE_IQ_NS_MAX);
		xm_privilege_clear(&p);
		ut_buf_free(&b);
	}
}

static void refused(const char *xml, const char *why)
{
	struct xm_privilege p;
	const char *error = NULL;

	T_CHECK_INT(parse(xml, "example.org", &p, &error), -1);
	T_CHECK_STR(error, why);
	T_CHECK_INT(p.roster, 0);
	T_CHECK_INT(p.n_iq, 0);
}

#define PRIV                                                                   \
	"<privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' "       \
	"type='both'/></privilege>"

static void test_refusals(void)
{
	refused("<message from='evil.org'>" PRIV "</message>",
		"not from the server's domain");
	refused("<message from='mallory@example.org'>" PRIV "</message>",
		"not from the server's domain");
	refused("<message from='example.org/res'>" PRIV "</message>",
		"not from the server's domain");
	refused("<message from='mail.example.org'>" PRIV "</message>",
		"not from the server's domain");
	refused("<message from='example.org.evil'>" PRIV "</message>",
		"not from the server's domain");
	refused("<message>" PRIV "</message>", "not from the server's domain");
	refused("<presence from='example.org'>" PRIV "</presence>",
		"not a message");
	refused("<message from='example.org' type='error'>" PRIV "</message>",
		"an error message");
	refused("<message from='example.org'><privilege "
		"xmlns='urn:xmpp:privilege:3'/></message>",
		"no privilege element");
	refused("<message from='example.org'><x><privilege "
		"xmlns='urn:xmpp:privilege:2'/></x></message>",
		"no privilege element");
}

static void check_text(xmpp_stanza_t *st, const char *want)
{
	char *text = xml_out(st);

	T_CHECK_STR(text, want);
	free(text);
}

static void test_builders(void)
{
	xmpp_stanza_t *iq, *inner, *msg;

	T_CHECK_INT(xm_privilege_roster_get_new(sctx, "alice@example.org", &iq),
		    0);
	check_text(iq, "<iq to=\"alice@example.org\" type=\"get\"><query "
		       "xmlns=\"jabber:iq:roster\"/></iq>");
	xmpp_stanza_release(iq);
	T_CHECK_INT(xm_privilege_roster_get_new(sctx, "example.org", &iq), -1);
	T_CHECK(iq == NULL);
	T_CHECK_INT(
	    xm_privilege_roster_get_new(sctx, "alice@example.org/r", &iq), -1);

	T_CHECK_INT(xm_privilege_roster_set_new(
			sctx, "alice@example.org", "mail.example.org",
			"Mail\n\"box\"", XM_ROSTER_BOTH, &iq),
		    0);
	check_text(iq, "<iq to=\"alice@example.org\" type=\"set\"><query "
		       "xmlns=\"jabber:iq:roster\"><item "
		       "jid=\"mail.example.org\" name=\"Mail &quot;box&quot;\" "
		       "subscription=\"both\"/></query></iq>");
	xmpp_stanza_release(iq);
	T_CHECK_INT(xm_privilege_roster_set_new(sctx, "alice@example.org",
						"mail.example.org", NULL,
						XM_ROSTER_REMOVE, &iq),
		    0);
	check_text(iq, "<iq to=\"alice@example.org\" type=\"set\"><query "
		       "xmlns=\"jabber:iq:roster\"><item "
		       "jid=\"mail.example.org\" subscription=\"remove\"/>"
		       "</query></iq>");
	xmpp_stanza_release(iq);
	T_CHECK_INT(xm_privilege_roster_set_new(sctx, "alice@example.org",
						"mail.example.org/x", NULL,
						XM_ROSTER_NONE, &iq),
		    -1);

	inner = xml_in(sctx, "<message from='alice@example.org' "
			     "to='bob@example.net' type='chat' id='m1'>"
			     "<body>hi</body></message>");
	T_CHECK_INT(
	    xm_privilege_message_new(sctx, XM_PRIVILEGE_V1, inner, &msg), 0);
	check_text(msg,
		   "<message to=\"example.org\"><privilege "
		   "xmlns=\"urn:xmpp:privilege:1\"><forwarded "
		   "xmlns=\"urn:xmpp:forward:0\"><message "
		   "xmlns=\"jabber:client\" from=\"alice@example.org\" "
		   "id=\"m1\" to=\"bob@example.net\" type=\"chat\"><body>hi"
		   "</body></message></forwarded></privilege></message>");
	xmpp_stanza_release(msg);
	/* The caller's message is left as it was. */
	check_text(inner, "<message from=\"alice@example.org\" id=\"m1\" "
			  "to=\"bob@example.net\" type=\"chat\"><body>hi"
			  "</body></message>");
	T_CHECK_INT(
	    xm_privilege_message_new(sctx, XM_PRIVILEGE_V2, inner, &msg), 0);
	T_CHECK(xmpp_stanza_get_child_by_name_and_ns(
		    msg, "privilege", XM_NS_PRIVILEGE_2) != NULL);
	xmpp_stanza_release(msg);
	xmpp_stanza_release(inner);

	/* Only from a user's bare JID. */
	static const char *const bad[] = {
	    "<message from='alice@example.org/res'/>",
	    "<message from='example.org'/>", "<message/>",
	    "<presence from='alice@example.org'/>"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		inner = xml_in(sctx, bad[i]);
		T_CHECK_INT(xm_privilege_message_new(sctx, XM_PRIVILEGE_V2,
						     inner, &msg),
			    -1);
		T_CHECK(msg == NULL);
		xmpp_stanza_release(inner);
	}
}

static void test_roster_find(void)
{
	xmpp_stanza_t *r = xml_in(
	    sctx,
	    "<iq type='result' from='alice@example.org' id='x'><query "
	    "xmlns='jabber:iq:roster' ver='7'><item jid='bob@example.org' "
	    "subscription='from'/><item jid='Mail.Example.org' "
	    "subscription='both' name='Mail\tbox' ask='subscribe'>"
	    "<group>G</group></item><item jid='x@example.org' "
	    "subscription='weird'/></query></iq>");
	struct xm_roster_item item;

	T_CHECK_INT(xm_privilege_roster_find(r, "mail.example.org", &item), 0);
	T_CHECK_INT(item.subscription, XM_ROSTER_BOTH);
	T_CHECK(item.ask_subscribe);
	T_CHECK_STR(item.name, "Mail box");
	free(item.name);
	T_CHECK_INT(xm_privilege_roster_find(r, "bob@example.org", &item), 0);
	T_CHECK_INT(item.subscription, XM_ROSTER_FROM);
	T_CHECK(item.name == NULL && !item.ask_subscribe);
	T_CHECK_INT(xm_privilege_roster_find(r, "x@example.org", &item), 0);
	T_CHECK_INT(item.subscription, XM_ROSTER_NONE);
	T_CHECK_INT(xm_privilege_roster_find(r, "eve@example.org", &item), -1);
	xmpp_stanza_release(r);

	r = xml_in(sctx,
		   "<iq type='error' from='alice@example.org'><query "
		   "xmlns='jabber:iq:roster'><item jid='bob@example.org'/>"
		   "</query></iq>");
	T_CHECK_INT(xm_privilege_roster_find(r, "bob@example.org", &item), -1);
	xmpp_stanza_release(r);
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_ejabberd_v1);
	T_RUN(test_prosody_v2);
	T_RUN(test_refusals);
	T_RUN(test_builders);
	T_RUN(test_roster_find);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
