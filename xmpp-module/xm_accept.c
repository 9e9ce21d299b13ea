#include "xm_accept.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ut_xalloc.h"
#include "xm_jid.h"
#include "xm_parser.h"
#include "xm_stanza.h"

#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_PING		 "urn:xmpp:ping"
#define NS_DISCO_INFO	 "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS	 "http://jabber.org/protocol/disco#items"

/* Characters that would need escaping in our hand-written XML. */
static bool xm_plain_xml_word(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= ' ' || strchr("'\"<>&", *s) != NULL)
			return false;
	}
	return true;
}

int xm_accept_check_settings(const struct xm_component_settings *set,
			     const char **domain_r, char **error_r)
{
	const char *domain = set->server_domain;

	if (!xm_plain_xml_word(set->jid)) {
		*error_r = xstrdup("xmpp: the component JID is empty or holds "
				   "a space, quote, '<', '>' or '&'");
		return -1;
	}
	if (set->host == NULL || *set->host == '\0') {
		*error_r = xstrdup("xmpp: the server host is empty");
		return -1;
	}
	if (set->secret == NULL || *set->secret == '\0') {
		*error_r = xstrdup("xmpp: the component secret is empty");
		return -1;
	}
	if (domain == NULL || *domain == '\0') {
		domain = strchr(set->jid, '.');
		domain =
		    domain != NULL && domain[1] != '\0' ? domain + 1 : set->jid;
	}
	if (!xm_plain_xml_word(domain)) {
		*error_r = xstrdup("xmpp: the server domain holds a space, "
				   "quote, '<', '>' or '&'");
		return -1;
	}
	*domain_r = domain;
	return 0;
}

void xm_accept_stream_header(struct ut_buf *b, const char *jid)
{
	ut_buf_appendf(b,
		       "<?xml version='1.0'?><stream:stream "
		       "xmlns='jabber:component:accept' "
		       "xmlns:stream='http://etherx.jabber.org/streams' "
		       "to='%s'>",
		       jid);
}

void xm_accept_handshake(struct ut_buf *b, const char *stream_id,
			 const char *secret)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	char *input = xasprintf("%s%s", stream_id, secret);
	int ok =
	    EVP_Digest(input, strlen(input), md, &md_len, EVP_sha1(), NULL);

	explicit_bzero(input, strlen(input));
	free(input);
	ut_assert(ok == 1);
	ut_buf_append_str(b, "<handshake>");
	for (unsigned i = 0; i < md_len; i++)
		ut_buf_appendf(b, "%02x", md[i]);
	ut_buf_append_str(b, "</handshake>");
}

static xmpp_stanza_t *xm_first_child_elem(xmpp_stanza_t *st)
{
	xmpp_stanza_t *ch = xmpp_stanza_get_children(st);

	while (ch != NULL && !xmpp_stanza_is_tag(ch))
		ch = xmpp_stanza_get_next(ch);
	return ch;
}

static bool xm_is(xmpp_stanza_t *el, const char *name, const char *ns)
{
	const char *el_ns;

	if (el == NULL || strcmp(xmpp_stanza_get_name(el), name) != 0)
		return false;
	el_ns = xmpp_stanza_get_ns(el);
	return el_ns != NULL && strcmp(el_ns, ns) == 0;
}

static void xm_add_attr_child(xmpp_stanza_t *parent, const char *name,
			      const char *attr, const char *value)
{
	xmpp_stanza_t *el = xm_elem_add_text_child(parent, name, NULL);

	xm_elem_set_attr(el, attr, value);
}

static xmpp_stanza_t *xm_disco_info_reply(xmpp_ctx_t *sctx, xmpp_stanza_t *iq)
{
	xmpp_stanza_t *reply = xm_iq_result_new(sctx, iq);
	xmpp_stanza_t *query = xm_elem_new(sctx, "query", NS_DISCO_INFO);
	xmpp_stanza_t *identity =
	    xm_elem_add_text_child(query, "identity", NULL);

	xm_elem_set_attr(identity, "category", "gateway");
	xm_elem_set_attr(identity, "type", "smtp");
	xm_elem_set_attr(identity, "name", "Mail");
	xm_add_attr_child(query, "feature", "var", NS_DISCO_INFO);
	xm_add_attr_child(query, "feature", "var", NS_PING);
	xm_elem_adopt(reply, query);
	return reply;
}

bool xm_accept_iq_answerable(xmpp_stanza_t *iq)
{
	static const char *const echoed[] = {"id", "from", "to"};

	for (size_t i = 0; i < UT_N_ELEMENTS(echoed); i++) {
		const char *v = xmpp_stanza_get_attribute(iq, echoed[i]);

		if (v != NULL && strlen(v) > XM_PARSER_SKELETON_ATTR_MAX)
			return false;
	}
	return true;
}

xmpp_stanza_t *xm_accept_builtin_reply(xmpp_ctx_t *sctx, const char *jid,
				       xmpp_stanza_t *iq)
{
	const char *type = xmpp_stanza_get_type(iq);
	const char *to = xmpp_stanza_get_to(iq);
	xmpp_stanza_t *q = xm_first_child_elem(iq);
	bool to_us = to == NULL || strcasecmp(to, jid) == 0;
	xmpp_stanza_t *reply;

	if (type == NULL || strcmp(type, "get") != 0 || q == NULL)
		return NULL;
	if (xm_is(q, "ping", NS_PING) &&
	    (to == NULL || xm_jid_domain_is(to, jid)))
		return xm_iq_result_new(sctx, iq);
	if (!to_us || xmpp_stanza_get_attribute(q, "node") != NULL)
		return NULL;
	if (xm_is(q, "query", NS_DISCO_INFO))
		return xm_disco_info_reply(sctx, iq);
	if (!xm_is(q, "query", NS_DISCO_ITEMS))
		return NULL;
	reply = xm_iq_result_new(sctx, iq);
	xm_elem_adopt(reply, xm_elem_new(sctx, "query", NS_DISCO_ITEMS));
	return reply;
}

const char *xm_accept_stream_error(xmpp_stanza_t *st, char **text_r)
{
	*text_r = xm_elem_child_text(st, "text", NS_STREAM_ERRORS);
	for (xmpp_stanza_t *ch = xmpp_stanza_get_children(st); ch != NULL;
	     ch = xmpp_stanza_get_next(ch)) {
		if (xmpp_stanza_is_tag(ch) &&
		    strcmp(xmpp_stanza_get_name(ch), "text") != 0)
			return xmpp_stanza_get_name(ch);
	}
	return "undefined-condition";
}
