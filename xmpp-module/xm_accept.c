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
