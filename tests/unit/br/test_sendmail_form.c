/*
 * The send-mail form (br_sendmail_form.h) without any XMPP: the form built
 * (title, From in the instructions, people online first and bounded,
 * fields), rendered and parsed back; submitted forms read into requests
 * (addresses split, merged and deduplicated, subject and body), and
 * hostile ones refused with the fields named: header injection with CR/LF
 * in the subject and the addresses, 10,000 recipients, controls, invalid
 * UTF-8, bodies that are too long or blank.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "br_sendmail_form.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xml_in.h"

static xmpp_ctx_t *sctx;

/* A submitted form built with the builder: pairs of var, value (value
   NULL: no <value/>), ending with NULL. Untyped fields: values are
   cleaned to one line. */
static struct xm_form *submitted(const char *var, ...)
{
	struct xm_form *f = xm_form_new(XM_FORM_SUBMIT, NULL, NULL);
	va_list ap;

	va_start(ap, var);
	for (const char *v = var; v != NULL; v = va_arg(ap, const char *)) {
		const char *value = va_arg(ap, const char *);
		struct xm_form_field *fl =
		    xm_form_add_field(f, XM_FIELD_NONE, v, NULL);
		if (value != NULL)
			xm_form_field_add_value(fl, value);
	}
	va_end(ap);
	return f;
}

/* A submitted form as a client sends it: fields is the XML inside <x/>
   (so CR, LF and tabs reach the reader as &#13; &#10; &#9;). */
static struct xm_form *parsed(const char *fields)
{
	char *xml = xasprintf("<message><x xmlns='jabber:x:data' "
			      "type='submit'>%s</x></message>",
			      fields);
	xmpp_stanza_t *st = xml_in(sctx, xml);
	struct xm_form *f = NULL;
	const char *why = NULL;

	T_CHECK(st != NULL);
	if (st != NULL) {
		T_CHECK_INT(xm_form_parse(xm_form_find(st), &f, &why), 0);
		xmpp_stanza_release(st);
	}
	free(xml);
	return f;
}

/* Reads f (freed) with body_max 1000, rcpts_max 50; returns the error
   (xmalloc'ed) or NULL, and *r when it succeeded. */
static char *read_form(struct xm_form *f, struct br_sendmail_request *r)
{
	char *error = NULL;
	int rc = br_sendmail_form_read(f, 1000, 50, r, &error);

	T_CHECK((rc == 0) == (error == NULL));
	if (rc < 0) {
		T_CHECK(r->to.n == 0 && r->cc.n == 0 && r->subject == NULL &&
			r->body == NULL && r->body_len == 0);
	}
	xm_form_free(&f);
	return error;
}

/* Expects f to be refused with an error containing each of the given
   strings (NULL-terminated). */
static void refused(struct xm_form *f, ...)
{
	struct br_sendmail_request r;
	char *error = read_form(f, &r);
	va_list ap;

	T_CHECK(error != NULL);
	va_start(ap, f);
	for (const char *s = va_arg(ap, const char *); s != NULL;
	     s = va_arg(ap, const char *)) {
		if (error == NULL || strstr(error, s) == NULL) {
			fprintf(stderr, "error \"%s\" lacks \"%s\"\n",
				error != NULL ? error : "(null)", s);
			T_CHECK(!"error names it");
		}
	}
	va_end(ap);
	free(error);
	br_sendmail_request_clear(&r);
}

static const char *value_of(const struct xm_form *f, size_t i)
{
	const struct xm_form_field *fl = xm_form_field_at(f, i);

	return xm_form_field_value_count(fl) == 1 ? xm_form_field_value(fl, 0)
						  : "(not one value)";
}

/* ---- the form ---- */

static void test_form_built(void)
{
	struct br_sendmail_person people[] = {
	    {"a@example.org", "Ann", "offline"},
	    {"b@example.org", NULL, "online"},
	    {NULL, "Nobody", "online"},
	    {"c@example.org", "Cé\nline\tbreak", "away"},
	    {"d@example.org", "", NULL},
	    {"e@example.org", "Eve", "busy"},
	    {"f@example.org", "Fay", "online"},
	    {"g@example.org", "Gus", "weird"},
	};
	struct xm_form *f =
			   br_sendmail_form_new("alice@example.org", people, 8),
		       *back = NULL;
	const char *order[] = {
	    "People here:",
	    "b@example.org: online",
	    "Fay <f@example.org>: online",
	    "Cé line break <c@example.org>: away",
	    "Eve <e@example.org>: busy",
	    "d@example.org",
	    "Gus <g@example.org>",
	    "Ann <a@example.org>: offline",
	};
	const char *why;
	size_t i;

	T_CHECK_INT(xm_form_get_type(f), XM_FORM_FORM);
	T_CHECK_INT(xm_form_field_count(f), 8 + 4);
	for (i = 0; i < 8; i++) {
		T_CHECK_INT(xm_form_field_type(xm_form_field_at(f, i)),
			    XM_FIELD_FIXED);
		T_CHECK(xm_form_field_var(xm_form_field_at(f, i)) == NULL);
		T_CHECK_STR(value_of(f, i), order[i]);
	}
	const char *vars[] = {"to", "cc", "subject", "body"};
	enum xm_field_type types[] = {XM_FIELD_TEXT_MULTI, XM_FIELD_TEXT_MULTI,
				      XM_FIELD_TEXT_SINGLE,
				      XM_FIELD_TEXT_MULTI};
	for (i = 0; i < 4; i++) {
		T_CHECK_STR(xm_form_field_var(xm_form_field_at(f, 8 + i)),
			    vars[i]);
		T_CHECK_INT(xm_form_field_type(xm_form_field_at(f, 8 + i)),
			    types[i]);
	}

	xmpp_stanza_t *x = xm_form_to_stanza(f, sctx);
	char *xml = xm_stanza_to_text(x, NULL);
	T_CHECK(strstr(xml, "<title>Send a mail</title>") != NULL);
	T_CHECK(strstr(xml, "<instructions>Your mail goes out from "
			    "alice@example.org.</instructions>") != NULL);
	/* to and body are required, cc and subject not. */
	const char *req = strstr(xml, "var=\"to\"");
	T_CHECK(req != NULL && strstr(req, "<required/>") != NULL &&
		strstr(req, "<required/>") < strstr(req, "var=\"cc\""));
	req = strstr(xml, "var=\"body\"");
	T_CHECK(req != NULL && strstr(req, "<required/>") != NULL);
	req = strstr(xml, "var=\"cc\"");
	T_CHECK(req != NULL &&
		strstr(req, "<required/>") > strstr(req, "var=\"body\""));
	T_CHECK_INT(xm_form_parse(x, &back, &why), 0);
	T_CHECK_INT(xm_form_field_count(back), 4); /* fixed ones skipped */
	free(xml);
	xmpp_stanza_release(x);
	xm_form_free(&back);
	xm_form_free(&f);

	/* Nobody: no list at all. */
	f = br_sendmail_form_new("alice@example.org", NULL, 0);
	T_CHECK_INT(xm_form_field_count(f), 4);
	xm_form_free(&f);
}

static void test_form_people_bounded(void)
{
	struct br_sendmail_person *people = xcalloc(200, sizeof(*people));
	char **addrs = xcalloc(200, sizeof(*addrs));
	char *long_name = xmalloc(301);
	struct xm_form *f;

	memset(long_name, 'n', 300);
	long_name[300] = '\0';
	for (size_t i = 0; i < 200; i++) {
		addrs[i] = xasprintf("u%zu@example.org", i);
		people[i].address = addrs[i];
		people[i].name = long_name;
		/* The 10 online ones come last in the input. */
		people[i].presence = i >= 190 ? "online" : "offline";
	}
	f = br_sendmail_form_new("alice@example.org", people, 200);
	/* Heading, 30 people, the rest counted, 4 fields. */
	T_CHECK_INT(xm_form_field_count(f), 1 + BR_SENDMAIL_PEOPLE_MAX + 1 + 4);
	T_CHECK(strstr(value_of(f, 1), "<u190@example.org>: online") != NULL);
	T_CHECK(strstr(value_of(f, 10), "<u199@example.org>: online") != NULL);
	T_CHECK(strstr(value_of(f, 11), "<u0@example.org>: offline") != NULL);
	T_CHECK_STR(value_of(f, 31), "…and 170 more.");
	/* Names are cut. */
	T_CHECK((long long)strlen(value_of(f, 1)) <
		BR_SENDMAIL_NAME_SHOWN_MAX + 40);
	T_CHECK(strstr(value_of(f, 1), "…") != NULL);
	xm_form_free(&f);
	for (size_t i = 0; i < 200; i++)
		free(addrs[i]);
	free(addrs);
	free(people);
	free(long_name);
}

/* ---- reading ---- */

static void test_read_ok(void)
{
	struct br_sendmail_request r;
	struct xm_form *f = parsed(
	    "<field var='to'><value>Carol &lt;carol@example.net&gt;, "
	    "dave@example.net</value><value>erin@example.net; "
	    "carol@EXAMPLE.NET</value><value></value></field>"
	    "<field var='cc'><value>dave@example.net</value>"
	    "<value>\"Frank, F.\" &lt;frank@example.net&gt;</value></field>"
	    "<field var='subject'><value>  Hello there  </value></field>"
	    "<field var='body'><value>Hi,</value><value></value>"
	    "<value>  see you.</value></field>"
	    "<field var='other'><value>ignored</value></field>");
	char *error = read_form(f, &r);

	T_CHECK(error == NULL);
	T_CHECK_INT(r.to.n, 3);
	if (r.to.n == 3) {
		T_CHECK_STR(r.to.v[0].addr, "carol@example.net");
		T_CHECK_STR(r.to.v[0].display, "Carol");
		T_CHECK_STR(r.to.v[1].addr, "dave@example.net");
		T_CHECK_STR(r.to.v[2].addr, "erin@example.net");
	}
	T_CHECK_INT(r.cc.n, 1);
	if (r.cc.n == 1) {
		T_CHECK_STR(r.cc.v[0].addr, "frank@example.net");
		T_CHECK_STR(r.cc.v[0].display, "Frank, F.");
	}
	T_CHECK_STR(r.subject, "Hello there");
	T_CHECK_STR(r.body, "Hi,\n\n  see you.");
	T_CHECK_INT(r.body_len, strlen("Hi,\n\n  see you."));
	br_sendmail_request_clear(&r);
	T_CHECK(r.to.n == 0 && r.body == NULL);
	br_sendmail_request_clear(&r);

	/* No subject, a blank one: NULL. A body through a text-multi field
	   built with line breaks. */
	f = submitted("to", "carol@example.net", "subject", "   ", NULL);
	xm_form_field_add_value(
	    xm_form_add_field(f, XM_FIELD_TEXT_MULTI, "body", NULL),
	    "line 1\r\nline 2\n");
	error = read_form(f, &r);
	T_CHECK(error == NULL);
	T_CHECK(r.subject == NULL);
	T_CHECK_STR(r.body, "line 1\nline 2\n");
	br_sendmail_request_clear(&r);
	free(error);
}

static void test_read_fields_named(void)
{
	/* Nothing at all: To and Body named. */
	refused(submitted(NULL), "To: give at least one address.",
		"Body: write something.", NULL);
	/* Cc only: To is still required. */
	refused(submitted("cc", "carol@example.net", "body", "hi", NULL),
		"To: give at least one address.", NULL);
	/* Every field at fault at once. */
	refused(parsed("<field var='to'><value>bob@@y.org</value></field>"
		       "<field var='cc'><value>x y@z.org</value></field>"
		       "<field var='subject'><value>a&#10;b</value></field>"
		       "<field var='body'><value> </value></field>"),
		"To: \"bob@@y.org\"", "Cc: ", "Subject: ", "Body: ", NULL);
	struct br_sendmail_request r;
	char *error =
	    read_form(submitted("to", "bob@@y.org", "body", "x", NULL), &r);
	/* One sentence per field, no trailing space. */
	T_CHECK(error != NULL && error[strlen(error) - 1] == '.');
	T_CHECK(error != NULL && strncmp(error, "To: ", 4) == 0);
	free(error);
}

static void test_read_injection(void)
{
	/* CR LF in the subject: refused, not folded into a header. */
	refused(parsed("<field var='to'><value>carol@example.net</value>"
		       "</field><field var='subject'><value>Hi&#13;&#10;Bcc: "
		       "evil@evil.example</value></field>"
		       "<field var='body'><value>x</value></field>"),
		"Subject: ", NULL);
	const char *bad_subjects[] = {"a&#13;b", "a&#10;b", "a&#9;b",
				      "a\xe2\x80\xa8"
				      "b",
				      "a\xe2\x80\xa9"
				      "b"};
	for (size_t i = 0; i < sizeof(bad_subjects) / sizeof(*bad_subjects);
	     i++) {
		char *fields = xasprintf(
		    "<field var='to'><value>c@example.net</value></field>"
		    "<field var='subject'><value>%s</value></field>"
		    "<field var='body'><value>x</value></field>",
		    bad_subjects[i]);
		refused(parsed(fields), "Subject: ", NULL);
		free(fields);
	}
	/* Two subject values. */
	struct xm_form *f = submitted("to", "c@example.net", "body", "x", NULL);
	struct xm_form_field *fl =
	    xm_form_add_field(f, XM_FIELD_NONE, "subject", NULL);
	xm_form_field_add_value(fl, "one");
	xm_form_field_add_value(fl, "two");
	refused(f, "Subject: one line only.", NULL);

	/* CR LF in an address value: each line is an entry of its own, and
	   "Bcc: evil@..." is no address. */
	refused(parsed("<field var='to'><value>carol@example.net&#13;&#10;Bcc:"
		       " evil@evil.example</value></field>"
		       "<field var='body'><value>x</value></field>"),
		"To: \"Bcc: evil@evil.example\"", NULL);
	refused(parsed("<field var='cc'><value>x@y.org&gt;&#13;&#10;Bcc: "
		       "&lt;evil@evil.example</value></field>"
		       "<field var='to'><value>c@example.net</value></field>"
		       "<field var='body'><value>x</value></field>"),
		"Cc: ", NULL);
	/* Non-ASCII local parts need SMTPUTF8, which is not offered. */
	refused(submitted("to", "jörg@example.net", "body", "x", NULL),
		"To: ", NULL);
}

static void test_read_recipient_bounds(void)
{
	struct br_sendmail_request r;
	struct ut_buf b = UT_BUF_INIT;
	char *error;

	/* 10,000 distinct recipients in one value. */
	for (int i = 0; i < 10000; i++)
		ut_buf_appendf(&b, "u%d@example.net, ", i);
	refused(submitted("to", ut_buf_str(&b), "body", "x", NULL),
		"To: too many recipients (at most 50", NULL);

	/* 10,000 values of one address each. */
	struct xm_form *f = submitted("body", "x", NULL);
	struct xm_form_field *fl =
	    xm_form_add_field(f, XM_FIELD_NONE, "to", NULL);
	for (int i = 0; i < 10000; i++) {
		char *v = xasprintf("u%d@example.net", i);
		xm_form_field_add_value(fl, v);
		free(v);
	}
	refused(f, "To: too many recipients (at most 50 in To and Cc).", NULL);

	/* 10,000 times the same address is one recipient. */
	ut_buf_reset(&b);
	for (int i = 0; i < 10000; i++)
		ut_buf_appendf(&b, "%s, ",
			       i % 2 ? "carol@example.net"
				     : "Carol <carol@EXAMPLE.net>");
	error = read_form(submitted("to", ut_buf_str(&b), "cc", ut_buf_str(&b),
				    "body", "x", NULL),
			  &r);
	T_CHECK(error == NULL);
	T_CHECK_INT(r.to.n, 1);
	T_CHECK_INT(r.cc.n, 0);
	br_sendmail_request_clear(&r);

	/* Exactly 50 over To and Cc (duplicates not counted), then 51. */
	ut_buf_reset(&b);
	for (int i = 0; i < 30; i++)
		ut_buf_appendf(&b, "u%d@example.net; ", i);
	struct ut_buf c = UT_BUF_INIT;
	for (int i = 0; i < 30; i++)
		ut_buf_appendf(&c, "u%d@example.net; ", i + 20);
	error = read_form(submitted("to", ut_buf_str(&b), "cc", ut_buf_str(&c),
				    "body", "x", NULL),
			  &r);
	T_CHECK(error == NULL);
	T_CHECK_INT(r.to.n, 30);
	T_CHECK_INT(r.cc.n, 20);
	br_sendmail_request_clear(&r);
	ut_buf_append_str(&c, "one-more@example.net");
	refused(submitted("to", ut_buf_str(&b), "cc", ut_buf_str(&c), "body",
			  "x", NULL),
		"Cc: too many recipients (at most 50 in To and Cc).", NULL);
	ut_buf_free(&b);
	ut_buf_free(&c);
}

static void test_read_body(void)
{
	struct br_sendmail_request r;
	char *error = NULL;
	struct xm_form *f;

	/* body_max: exactly, with the "\n" joins counted; one more. */
	f = parsed("<field var='to'><value>c@example.net</value></field>"
		   "<field var='body'><value>01234</value><value>5678</value>"
		   "</field>");
	T_CHECK_INT(br_sendmail_form_read(f, 10, 5, &r, &error), 0);
	T_CHECK_INT(r.body_len, 10);
	br_sendmail_request_clear(&r);
	T_CHECK_INT(br_sendmail_form_read(f, 9, 5, &r, &error), -1);
	T_CHECK(error != NULL &&
		strstr(error, "Body: too long (10 bytes, at most 9).") != NULL);
	free(error);
	/* 0: no limit. */
	T_CHECK_INT(br_sendmail_form_read(f, 0, 5, &r, &error), 0);
	br_sendmail_request_clear(&r);
	xm_form_free(&f);

	/* Blank bodies. */
	refused(parsed("<field var='to'><value>c@example.net</value></field>"
		       "<field var='body'><value> &#9; </value><value/>"
		       "<value>&#13;&#10;</value></field>"),
		"Body: write something.", NULL);
	refused(parsed("<field var='to'><value>c@example.net</value></field>"
		       "<field var='body'/>"),
		"Body: write something.", NULL);

	/* Invalid UTF-8 given to the builder arrives as U+FFFD: valid. */
	error = read_form(submitted("to", "c@example.net", "subject",
				    "bad \xff\xfe", "body",
				    "x \xc3( \xed\xa0\x80", NULL),
			  &r);
	T_CHECK(error == NULL);
	T_CHECK(r.body != NULL && ut_utf8_valid(r.body, r.body_len));
	T_CHECK(r.subject != NULL &&
		ut_utf8_valid(r.subject, strlen(r.subject)));
	T_CHECK(r.body != NULL && strstr(r.body, "\xef\xbf\xbd") != NULL);
	br_sendmail_request_clear(&r);

	/* A subject of the bound, and one over it. */
	char *s = xmalloc(BR_SENDMAIL_SUBJECT_MAX + 2);
	memset(s, 's', BR_SENDMAIL_SUBJECT_MAX + 1);
	s[BR_SENDMAIL_SUBJECT_MAX] = '\0';
	error = read_form(
	    submitted("to", "c@example.net", "subject", s, "body", "x", NULL),
	    &r);
	T_CHECK(error == NULL);
	T_CHECK_INT(r.subject != NULL ? strlen(r.subject) : 0,
		    BR_SENDMAIL_SUBJECT_MAX);
	br_sendmail_request_clear(&r);
	s[BR_SENDMAIL_SUBJECT_MAX] = 's';
	s[BR_SENDMAIL_SUBJECT_MAX + 1] = '\0';
	refused(
	    submitted("to", "c@example.net", "subject", s, "body", "x", NULL),
	    "Subject: too long (901 bytes, at most 900).", NULL);
	free(s);
}

int main(void)
{
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	T_RUN(test_form_built);
	T_RUN(test_form_people_bounded);
	T_RUN(test_read_ok);
	T_RUN(test_read_fields_named);
	T_RUN(test_read_injection);
	T_RUN(test_read_recipient_bounds);
	T_RUN(test_read_body);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	return T_DONE();
}
