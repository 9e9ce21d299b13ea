/*
 * Unit tests of XEP-0004 data forms: the exact rendering of every field
 * type, cleaning of what goes in, and the parser's getters, bounds and
 * refusals.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_buf.h"
#include "ut_xalloc.h"
#include "xm_form.h"
#include "xml_in.h"

static xmpp_ctx_t *sctx;

static void check_render(const struct xm_form *f, const char *want)
{
	xmpp_stanza_t *x = xm_form_to_stanza(f, sctx);
	char *text = xml_out(x);

	T_CHECK_STR(text, want);
	free(text);
	xmpp_stanza_release(x);
}

static void test_build_every_type(void)
{
	struct xm_form *f = xm_form_new(XM_FORM_FORM, "Mail\tsettings\n",
					"First line\r\nSecond line");
	struct xm_form_field *fl;

	fl = xm_form_add_field(f, XM_FIELD_HIDDEN, "FORM_TYPE", NULL);
	xm_form_field_add_value(fl, "urn:tidings:settings");
	fl = xm_form_add_field(f, XM_FIELD_BOOLEAN, "notify", "Notify me");
	xm_form_field_set_desc(fl, "Send a chat\nmessage");
	xm_form_field_set_required(fl, true);
	xm_form_field_set_bool(fl, true);
	xm_form_field_set_bool(fl, false); /* replaces */
	fl = xm_form_add_field(f, XM_FIELD_LIST_SINGLE, "when", "When");
	xm_form_field_add_option(fl, "Always", "always");
	xm_form_field_add_option(fl, NULL, "online");
	xm_form_field_add_value(fl, "never");
	xm_form_field_add_value(fl, "online"); /* replaces */
	fl = xm_form_add_field(f, XM_FIELD_LIST_MULTI, "folders", NULL);
	xm_form_field_add_option(fl, "Inbox", "INBOX");
	xm_form_field_add_option(fl, "Work", "Work");
	xm_form_field_add_value(fl, "INBOX");
	xm_form_field_add_value(fl, "Work");
	fl = xm_form_add_field(f, XM_FIELD_TEXT_SINGLE, "sig", "Sig<>&\"'");
	xm_form_field_add_value(fl, "a\x01"
				    "b\nc");
	fl = xm_form_add_field(f, XM_FIELD_TEXT_MULTI, "quiet", NULL);
	xm_form_field_add_value(fl, "line 1\r\nline 2\n\nline 4");
	fl = xm_form_add_field(f, XM_FIELD_TEXT_PRIVATE, "pw", NULL);
	fl = xm_form_add_field(f, XM_FIELD_JID_SINGLE, "jid", NULL);
	xm_form_field_add_value(fl, "bob@example.org");
	fl = xm_form_add_field(f, XM_FIELD_JID_MULTI, "jids", NULL);
	xm_form_field_add_value(fl, "a@example.org");
	xm_form_field_add_value(fl, "b@example.org");
	fl = xm_form_add_field(f, XM_FIELD_FIXED, NULL, NULL);
	xm_form_field_add_value(fl, "Section \xff two");

	check_render(
	    f, "<x xmlns=\"jabber:x:data\" type=\"form\">"
	       "<title>Mail settings</title>"
	       "<instructions>First line</instructions>"
	       "<instructions>Second line</instructions>"
	       "<field type=\"hidden\" var=\"FORM_TYPE\">"
	       "<value>urn:tidings:settings</value></field>"
	       "<field label=\"Notify me\" type=\"boolean\" var=\"notify\">"
	       "<desc>Send a chat message</desc><required/><value>0</value>"
	       "</field>"
	       "<field label=\"When\" type=\"list-single\" var=\"when\">"
	       "<value>online</value>"
	       "<option label=\"Always\"><value>always</value></option>"
	       "<option><value>online</value></option></field>"
	       "<field type=\"list-multi\" var=\"folders\">"
	       "<value>INBOX</value><value>Work</value>"
	       "<option label=\"Inbox\"><value>INBOX</value></option>"
	       "<option label=\"Work\"><value>Work</value></option></field>"
	       "<field label=\"Sig&lt;&gt;&amp;&quot;&apos;\" "
	       "type=\"text-single\" "
	       "var=\"sig\"><value>ab c</value></field>"
	       "<field type=\"text-multi\" var=\"quiet\"><value>line 1</value>"
	       "<value>line 2</value><value></value><value>line 4</value>"
	       "</field>"
	       "<field type=\"text-private\" var=\"pw\"/>"
	       "<field type=\"jid-single\" var=\"jid\">"
	       "<value>bob@example.org</value></field>"
	       "<field type=\"jid-multi\" var=\"jids\">"
	       "<value>a@example.org</value><value>b@example.org</value>"
	       "</field>"
	       "<field type=\"fixed\"><value>Section \xef\xbf\xbd two</value>"
	       "</field></x>");

	/* The builder's form reads back through the getters. */
	T_CHECK_INT(xm_form_get_type(f), XM_FORM_FORM);
	T_CHECK_INT(xm_form_field_count(f), 10);
	T_CHECK_STR(xm_form_get_value(f, "when"), "online");
	T_CHECK_INT(xm_form_field_value_count(xm_form_field_get(f, "quiet")),
		    4);
	T_CHECK(xm_form_field_var(xm_form_field_at(f, 9)) == NULL);
	T_CHECK(xm_form_get_value(f, "pw") == NULL);
	xm_form_free(&f);
	T_CHECK(f == NULL);
	xm_form_free(&f);
}

static struct xm_form *parse_text(const char *xml, const char **error_r)
{
	xmpp_stanza_t *x = xml_in(sctx, xml);
	struct xm_form *f = NULL;

	*error_r = "(no stanza)";
	T_CHECK(x != NULL);
	if (x == NULL)
		return NULL;
	if (xm_form_parse(x, &f, error_r) < 0)
		T_CHECK(f == NULL);
	xmpp_stanza_release(x);
	return f;
}

static void test_parse_submit(void)
{
	const char *error = NULL;
	struct xm_form *f;
	const struct xm_form_field *fl;
	bool b;

	/* As a client sends it: in a <command/>, prefixed namespaces. */
	f = parse_text(
	    "<message><d:x xmlns:d='jabber:x:data' type='submit'>"
	    "<d:field var='FORM_TYPE' type='hidden'><d:value>urn:t"
	    "</d:value></d:field>"
	    "<d:field var='on'><d:value> true </d:value></d:field>"
	    "<d:field var='off'><d:value>0</d:value></d:field>"
	    "<d:field var='bad'><d:value>yes</d:value></d:field>"
	    "<d:field var='two'><d:value>1</d:value><d:value>0</d:value>"
	    "</d:field>"
	    "<d:field var='empty'/>"
	    "<d:field var='text'><d:value>a<b xmlns='x'>ignored</b>b"
	    "&#9;c</d:value><other xmlns='y'><d:value>no</d:value>"
	    "</other></d:field>"
	    "<d:field><d:value>no var: skipped</d:value></d:field>"
	    "<d:field var='ns' xmlns:o='urn:o'><o:value>not ours</o:value>"
	    "</d:field>"
	    "</d:x></message>",
	    &error);
	T_CHECK(f == NULL); /* a <message/>, not an <x/> */

	f = parse_text(
	    "<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='FORM_TYPE' type='hidden'><value>urn:t</value>"
	    "</field>"
	    "<field var='on'><value> true </value></field>"
	    "<field var='off'><value>0</value></field>"
	    "<field var='bad'><value>yes</value></field>"
	    "<field var='two'><value>1</value><value>0</value></field>"
	    "<field var='empty'/>"
	    "<field var='text'><value>a<b xmlns='x'>ignored</b>b"
	    "&#9;c\xc2\x85</value><other xmlns='y'><value>no</value></other>"
	    "</field>"
	    "<field><value>no var: skipped</value></field>"
	    "<field var='ns' xmlns:o='urn:o'><o:value>not ours</o:value>"
	    "</field>"
	    "<title>ignored</title>"
	    "</x>",
	    &error);
	T_CHECK(f != NULL);
	if (f == NULL) {
		fprintf(stderr, "parse error: %s\n", error);
		return;
	}
	T_CHECK_INT(xm_form_get_type(f), XM_FORM_SUBMIT);
	T_CHECK_INT(xm_form_field_count(f), 8);
	fl = xm_form_field_get(f, "FORM_TYPE");
	T_CHECK(fl != NULL && xm_form_field_type(fl) == XM_FIELD_HIDDEN);
	T_CHECK_STR(xm_form_get_value(f, "FORM_TYPE"), "urn:t");
	T_CHECK_INT(xm_form_get_bool(f, "on", false, &b), 0);
	T_CHECK(b);
	T_CHECK_INT(xm_form_get_bool(f, "off", true, &b), 0);
	T_CHECK(!b);
	T_CHECK_INT(xm_form_get_bool(f, "bad", true, &b), -1);
	T_CHECK(b); /* the default */
	T_CHECK_INT(xm_form_get_bool(f, "two", false, &b), -1);
	T_CHECK_INT(xm_form_get_bool(f, "empty", true, &b), 0);
	T_CHECK(b);
	T_CHECK_INT(xm_form_get_bool(f, "absent", false, &b), 0);
	T_CHECK(!b);
	T_CHECK(xm_form_get_value(f, "empty") == NULL);
	/* Text children only, tab kept, C1 control dropped. */
	T_CHECK_STR(xm_form_get_value(f, "text"), "ab\tc");
	fl = xm_form_field_get(f, "ns");
	T_CHECK(fl != NULL && xm_form_field_value_count(fl) == 0);
	T_CHECK(xm_form_field_type(xm_form_field_get(f, "on")) ==
		XM_FIELD_NONE);
	xm_form_free(&f);

	/* Every boolean spelling XML Schema allows, and only those. */
	static const struct {
		const char *text;
		int rc;
		bool value;
	} bools[] = {{"1", 0, true},	  {"true", 0, true},  {"0", 0, false},
		     {"false", 0, false}, {"\n1\t", 0, true}, {"True", -1, 0},
		     {"2", -1, 0},	  {"", -1, 0},	      {"10", -1, 0},
		     {"truefalse", -1, 0}};
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		char *xml = xasprintf("<x xmlns='jabber:x:data' "
				      "type='submit'><field var='b'><value>"
				      "%s</value></field></x>",
				      bools[i].text);
		f = parse_text(xml, &error);
		free(xml);
		T_CHECK(f != NULL);
		if (f == NULL)
			continue;
		T_CHECK_INT(xm_form_get_bool(f, "b", false, &b), bools[i].rc);
		if (bools[i].rc == 0)
			T_CHECK(b == bools[i].value);
		xm_form_free(&f);
	}
}

/* A form with n fields (var f0..), each with m values of len bytes. */
static char *big_form(size_t n, size_t m, size_t len, size_t var_len)
{
	struct ut_buf b = UT_BUF_INIT;
	char *value = xmalloc(len + 1), *var = xmalloc(var_len + 1);

	memset(value, 'v', len);
	value[len] = '\0';
	memset(var, 'n', var_len);
	var[var_len] = '\0';
	ut_buf_append_str(&b, "<x xmlns='jabber:x:data' type='submit'>");
	for (size_t i = 0; i < n; i++) {
		ut_buf_appendf(&b, "<field var='%s%zu'>", var, i);
		for (size_t k = 0; k < m; k++)
			ut_buf_appendf(&b, "<value>%s</value>", value);
		ut_buf_append_str(&b, "</field>");
	}
	ut_buf_append_str(&b, "</x>");
	free(value);
	free(var);
	return ut_buf_steal(&b);
}

static void parse_bad(const char *xml, const char *why)
{
	const char *error = NULL;
	struct xm_form *f = parse_text(xml, &error);

	T_CHECK(f == NULL);
	T_CHECK_STR(error, why);
	xm_form_free(&f);
}

static void parse_big(size_t n, size_t m, size_t len, size_t var_len,
		      const char *why)
{
	char *xml = big_form(n, m, len, var_len);
	const char *error = NULL;
	struct xm_form *f = parse_text(xml, &error);

	free(xml);
	if (why == NULL) {
		T_CHECK(f != NULL);
		T_CHECK(f == NULL || xm_form_field_count(f) == n);
	} else {
		T_CHECK(f == NULL);
		T_CHECK_STR(error, why);
	}
	xm_form_free(&f);
}

static void test_parse_bounds_and_refusals(void)
{
	parse_bad("<x xmlns='jabber:x:data'/>", "missing or unknown form type");
	parse_bad("<x xmlns='jabber:x:data' type='Submit'/>",
		  "missing or unknown form type");
	parse_bad("<x xmlns='jabber:x:dat' type='submit'/>", "not a data form");
	parse_bad("<y xmlns='jabber:x:data' type='submit'/>",
		  "not a data form");
	parse_bad("<x xmlns='jabber:x:data' type='submit'><field var='a' "
		  "type='bogus'/></x>",
		  "unknown field type");
	parse_bad("<x xmlns='jabber:x:data' type='submit'><field var='a'/>"
		  "<field var='a'/></x>",
		  "two fields with the same name");

	/* At the limits: accepted; one over: refused. */
	parse_big(XM_FORM_FIELDS_MAX, 1, 1, 1, NULL);
	parse_big(XM_FORM_FIELDS_MAX + 1, 1, 1, 1, "too many fields");
	parse_big(1, XM_FORM_VALUES_MAX, 1, 1, NULL);
	parse_big(1, XM_FORM_VALUES_MAX + 1, 1, 1,
		  "too many values in a field");
	parse_big(1, 1, XM_FORM_VALUE_MAX, 1, NULL);
	parse_big(1, 1, XM_FORM_VALUE_MAX + 1, 1, "value too long");
	parse_big(1, 1, 1, XM_FORM_VAR_MAX - 1, NULL); /* var + "0" */
	parse_big(1, 1, 1, XM_FORM_VAR_MAX, "field name too long");
	/* 64 x 4 values of 4096 bytes = 1 MiB > XM_FORM_TEXT_MAX. */
	parse_big(16, 4, XM_FORM_VALUE_MAX, 1, NULL);
	parse_big(64, 4, XM_FORM_VALUE_MAX, 1, "form too large");
	/* Fields without var still count towards the bound. */
	{
		struct ut_buf b = UT_BUF_INIT;

		ut_buf_append_str(&b, "<x xmlns='jabber:x:data' type='form'>");
		for (int i = 0; i <= XM_FORM_FIELDS_MAX; i++)
			ut_buf_append_str(&b, "<field type='fixed'/>");
		ut_buf_append_str(&b, "</x>");
		parse_bad(ut_buf_str(&b), "too many fields");
		ut_buf_free(&b);
	}
}

static void test_round_trip(void)
{
	struct xm_form *f = xm_form_new(XM_FORM_SUBMIT, NULL, NULL), *g;
	xmpp_stanza_t *x;
	const char *error;
	char *text;

	xm_form_field_set_bool(xm_form_add_field(f, XM_FIELD_NONE, "b", NULL),
			       true);
	xm_form_field_add_value(
	    xm_form_add_field(f, XM_FIELD_TEXT_MULTI, "t", NULL), "x\ny");
	x = xm_form_to_stanza(f, sctx);
	text = xml_out(x);
	xmpp_stanza_release(x);
	x = xml_in(sctx, text);
	free(text);
	T_CHECK(x != NULL);
	T_CHECK_INT(xm_form_parse(x, &g, &error), 0);
	xmpp_stanza_release(x);
	if (g != NULL) {
		bool b = false;

		T_CHECK_INT(xm_form_get_type(g), XM_FORM_SUBMIT);
		T_CHECK_INT(xm_form_get_bool(g, "b", false, &b), 0);
		T_CHECK(b);
		T_CHECK_INT(
		    xm_form_field_value_count(xm_form_field_get(g, "t")), 2);
		T_CHECK_STR(xm_form_field_value(xm_form_field_get(g, "t"), 1),
			    "y");
	}
	xm_form_free(&g);
	xm_form_free(&f);
	T_CHECK_STR(xm_form_type_str(XM_FORM_CANCEL), "cancel");
	T_CHECK_STR(xm_field_type_str(XM_FIELD_JID_MULTI), "jid-multi");
	T_CHECK(xm_field_type_str(XM_FIELD_NONE) == NULL);
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_build_every_type);
	T_RUN(test_parse_submit);
	T_RUN(test_parse_bounds_and_refusals);
	T_RUN(test_round_trip);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
