/*
 * Unit tests of the JID helpers: splitting and its refusals, bare JIDs,
 * comparisons, and XEP-0106 escaping with the XEP's own test vectors.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ut_xalloc.h"
#include "xm_jid.h"

static void split_ok(const char *jid, const char *node, const char *domain,
		     const char *resource)
{
	char *n = (char *)"unset", *d = (char *)"unset", *r = (char *)"unset";
	T_CHECK_INT(xm_jid_split(jid, &n, &d, &r), 0);
	if (node == NULL)
		T_CHECK(n == NULL);
	else
		T_CHECK_STR(n, node);
	T_CHECK_STR(d, domain);
	if (resource == NULL)
		T_CHECK(r == NULL);
	else
		T_CHECK_STR(r, resource);
	free(n);
	free(d);
	free(r);
}

static void split_bad(const char *jid)
{
	char *n, *d, *r;
	T_CHECK_INT(xm_jid_split(jid, &n, &d, &r), -1);
	T_CHECK(n == NULL && d == NULL && r == NULL);
	T_CHECK(xm_jid_bare(jid) == NULL);
}

static void test_split(void)
{
	split_ok("alice@example.org/phone", "alice", "example.org", "phone");
	split_ok("example.org", NULL, "example.org", NULL);
	split_ok("example.org/r", NULL, "example.org", "r");
	split_ok("a@b", "a", "b", NULL);
	split_ok("a@b/c/d@e f", "a", "b", "c/d@e f");
	split_ok("alice\\40example.net@mail.example.org",
		 "alice\\40example.net", "mail.example.org", NULL);
	split_ok("j\xc3\xbcrgen@example.org", "j\xc3\xbcrgen", "example.org",
		 NULL);
	/* Out-parameters may be NULL. */
	T_CHECK_INT(xm_jid_split("a@b/c", NULL, NULL, NULL), 0);

	split_bad("");
	split_bad("@example.org");
	split_bad("alice@");
	split_bad("alice@example.org/");
	split_bad("/res");
	split_bad("a@b@c");
	split_bad("a b@example.org");
	split_bad("d'artagnan@example.org");
	split_bad("a@exa mple.org");
	split_bad("a\x01@example.org");
	split_bad("a@example.org/r\x7f");
	split_bad("a\xc2\x85@example.org"); /* U+0085, a C1 control */
	split_bad("a\xff@example.org");
	split_bad("a\xc0\xaf@example.org"); /* overlong '/' */
	T_CHECK_INT(xm_jid_split(NULL, NULL, NULL, NULL), -1);

	/* Each part may hold XM_JID_PART_MAX bytes, not one more. */
	char *node = xmalloc(XM_JID_PART_MAX + 2);
	memset(node, 'n', XM_JID_PART_MAX + 1);
	node[XM_JID_PART_MAX] = '\0';
	char *jid = xasprintf("%s@example.org", node);
	T_CHECK_INT(xm_jid_split(jid, NULL, NULL, NULL), 0);
	free(jid);
	node[XM_JID_PART_MAX] = 'n';
	node[XM_JID_PART_MAX + 1] = '\0';
	jid = xasprintf("%s@example.org", node);
	T_CHECK_INT(xm_jid_split(jid, NULL, NULL, NULL), -1);
	free(jid);
	jid = xasprintf("a@example.org/%s", node);
	T_CHECK_INT(xm_jid_split(jid, NULL, NULL, NULL), -1);
	free(jid);
	free(node);
}

static void test_bare_and_compare(void)
{
	char *b = xm_jid_bare("Alice@Example.ORG/Phone");
	T_CHECK_STR(b, "Alice@example.org");
	free(b);
	b = xm_jid_bare("MAIL.Example.org");
	T_CHECK_STR(b, "mail.example.org");
	free(b);

	T_CHECK(xm_jid_domain_is("bob@Mail.Example.Org/x", "mail.example.org"));
	T_CHECK(xm_jid_domain_is("mail.example.org", "MAIL.EXAMPLE.ORG"));
	T_CHECK(!xm_jid_domain_is("bob@example.org", "mail.example.org"));
	T_CHECK(
	    !xm_jid_domain_is("bob@mail.example.org.evil", "mail.example.org"));
	T_CHECK(!xm_jid_domain_is("@mail.example.org", "mail.example.org"));
	T_CHECK(!xm_jid_domain_is("bob@mail.example.org", NULL));

	T_CHECK(xm_jid_bare_equal("Bob@Example.org/a", "bob@example.ORG/b"));
	T_CHECK(xm_jid_bare_equal("example.org", "EXAMPLE.org/r"));
	T_CHECK(!xm_jid_bare_equal("bob@example.org", "example.org"));
	T_CHECK(!xm_jid_bare_equal("bob@example.org", "bobby@example.org"));
	T_CHECK(!xm_jid_bare_equal("bob@example.org", "bob@@example.org"));

	T_CHECK(xm_jid_equal("Bob@Example.org/Res", "bob@example.ORG/Res"));
	T_CHECK(xm_jid_equal("example.org", "EXAMPLE.org"));
	T_CHECK(xm_jid_equal("bob@example.org", "bob@example.org"));
	T_CHECK(!xm_jid_equal("bob@example.org/res", "bob@example.org/Res"));
	T_CHECK(!xm_jid_equal("bob@example.org/res", "bob@example.org"));
	T_CHECK(!xm_jid_equal("bob@example.org", "bob@example.org/res"));
	T_CHECK(!xm_jid_equal("eve@example.org/res", "bob@example.org/res"));
	T_CHECK(!xm_jid_equal("bob@example.org/a/b", "bob@example.org/a"));
	T_CHECK(xm_jid_equal("bob@example.org/a/b", "bob@example.org/a/b"));
	T_CHECK(!xm_jid_equal(NULL, "bob@example.org"));
	T_CHECK(!xm_jid_equal("bob@@example.org", "bob@@example.org"));
}

/* XEP-0106 section 5.1, "JID Examples": user input and escaped localpart. */
static const struct {
	const char *input;
	const char *escaped;
} xep_examples[] = {
    {"space cadet", "space\\20cadet"},
    {"call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22"},
    {"at&t guy", "at\\26t\\20guy"},
    {"d'artagnan", "d\\27artagnan"},
    {"/.fanboy", "\\2f.fanboy"},
    {"::foo::", "\\3a\\3afoo\\3a\\3a"},
    {"<foo>", "\\3cfoo\\3e"},
    {"user@host", "user\\40host"},
    {"c:\\net", "c\\3a\\5cnet"},
    {"c:\\\\net", "c\\3a\\5c\\5cnet"},
    {"c:\\cool stuff", "c\\3a\\5ccool\\20stuff"},
    {"c:\\5commas", "c\\3a\\5c5commas"},
    /* Section 5.2, the e-mail example. */
    {"here's_a_wild_&_/cr%zy/_address",
     "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address"},
};

static void esc_check(const char *in, const char *want)
{
	char *e = xm_jid_escape_node(in);
	T_CHECK_STR(e, want);
	free(e);
}

static void unesc_check(const char *in, const char *want)
{
	char *u = xm_jid_unescape_node(in);
	T_CHECK_STR(u, want);
	free(u);
}

static void test_xep0106_examples(void)
{
	for (size_t i = 0; i < UT_N_ELEMENTS(xep_examples); i++) {
		/* Every escaped form unescapes to the user input. */
		unesc_check(xep_examples[i].escaped, xep_examples[i].input);
		/* Escaping: examples 9-11 escape a backslash that starts
		   no sequence, which section 4.3 and its Exceptions
		   ("foo\bar is not modified by escaping") forbid; the
		   header follows section 4.3, checked below. */
		if (i == 8 || i == 9 || i == 10)
			continue;
		esc_check(xep_examples[i].input, xep_examples[i].escaped);
		T_CHECK(xm_jid_node_needs_escaping(xep_examples[i].input));
	}
	esc_check("c:\\net", "c\\3a\\net");
	esc_check("c:\\\\net", "c\\3a\\\\net");
	esc_check("c:\\cool stuff", "c\\3a\\cool\\20stuff");
	unesc_check("c\\3a\\net", "c:\\net");
}

static void test_xep0106_exceptions(void)
{
	/* Section 4.4: partial and unknown sequences are never changed. */
	const char *same[] = {"\\2plus\\2is\\4", "foo\\bar", "foob\\41r",
			      "trailing\\",	 "x\\2",     "\\",
			      "plain.user"};
	for (size_t i = 0; i < UT_N_ELEMENTS(same); i++) {
		esc_check(same[i], same[i]);
		unesc_check(same[i], same[i]);
		T_CHECK(!xm_jid_node_needs_escaping(same[i]));
	}
	/* Case is significant: only lowercase sequences. */
	unesc_check("a\\2Fb\\3A", "a\\2Fb\\3A");
	esc_check("a\\2Fb", "a\\2Fb");
	/* A backslash that starts a sequence is escaped. */
	esc_check("\\5c", "\\5c5c");
	esc_check("a\\20b", "a\\5c20b");
	T_CHECK(xm_jid_node_needs_escaping("a\\40b"));
	unesc_check("\\5c5c", "\\5c");
	unesc_check("\\5c20", "\\20");
	/* Refused: empty, leading or trailing space. */
	T_CHECK(xm_jid_escape_node("") == NULL);
	T_CHECK(xm_jid_escape_node(" lead") == NULL);
	T_CHECK(xm_jid_escape_node("trail ") == NULL);
	T_CHECK(xm_jid_escape_node("bad\xff") == NULL);
	unesc_check("", "");
	/* The escaped form is a valid localpart. */
	char *e = xm_jid_escape_node("a b\"&'/:<>@\\40z");
	T_CHECK_STR(e, "a\\20b\\22\\26\\27\\2f\\3a\\3c\\3e\\40\\5c40z");
	char *jid = xasprintf("%s@mail.example.org", e);
	T_CHECK_INT(xm_jid_split(jid, NULL, NULL, NULL), 0);
	unesc_check(e, "a b\"&'/:<>@\\40z");
	free(jid);
	free(e);
}

int main(void)
{
	T_RUN(test_split);
	T_RUN(test_bare_and_compare);
	T_RUN(test_xep0106_examples);
	T_RUN(test_xep0106_exceptions);
	return T_DONE();
}
