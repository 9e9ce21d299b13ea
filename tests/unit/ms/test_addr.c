/*
 * ms_addr: single addresses (dot-atom and quoted local parts, LDH domains,
 * address literals, length limits, controls, SMTPUTF8) and recipient
 * fields (separators, display names, quotes, duplicates, limits, errors
 * that name the entry).
 */
#include <stdlib.h>
#include <string.h>

#include "ms_addr.h"
#include "test.h"

static int valid(const char *a, unsigned flags)
{
	const char *reason = NULL;
	int r = ms_addr_validate(a, strlen(a), flags, &reason);
	if (r < 0)
		T_CHECK(reason != NULL && reason[0] != '\0');
	return r;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_valid(void)
{
	static const char *ok[] = {
	    "a@example.org",
	    "first.last@example.org",
	    "user+tag@sub.example.co.uk",
	    "!#$%&'*+-/=?^_`{|}~@x.org",
	    "\"john doe\"@example.org",
	    "\"a@b,c\"@example.org",
	    "\"esc\\\"aped\\\\\"@example.org",
	    "user@localhost",
	    "user@xn--bcher-kva.example",
	    "u@a-b.c-d.e",
	    "u@123.example",
	    "u@[192.0.2.1]",
	    "u@[IPv6:2001:db8::1]",
	    "u@[ipv6:::1]",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (valid(ok[i], 0) != 0)
			fprintf(stderr, "refused: %s\n", ok[i]);
		T_CHECK_INT(valid(ok[i], 0), 0);
	}
}

static void test_invalid(void)
{
	static const char *bad[] = {
	    "",
	    "noat",
	    "@example.org",
	    "user@",
	    ".user@x.org",
	    "user.@x.org",
	    "us..er@x.org",
	    "us er@x.org",
	    "us(er@x.org",
	    "us,er@x.org",
	    "a@b@x.org",
	    "\"unterminated@x.org",
	    "\"\"@x.org",
	    "\"a\"b\"@x.org",
	    "\"tab\there\"@x.org",
	    "user@-x.org",
	    "user@x-.org",
	    "user@x..org",
	    "user@x.org.",
	    "user@.x.org",
	    "user@x_y.org",
	    "user@x.org\r\nBcc: evil@x.org",
	    "user@x.org\n",
	    "user\r@x.org",
	    "user@[192.0.2.256]",
	    "user@[IPv6:2001:db8::g]",
	    "user@[tag:content]",
	    "user@[192.0.2.1",
	    ("user@b\xc3\xbc"
	     "cher.example"),
	    "j\xc3\xb6rg@x.org",
	    "<a@x.org>",
	    "Bob <a@x.org>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (valid(bad[i], 0) == 0)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		T_CHECK_INT(valid(bad[i], 0), -1);
	}
	/* A NUL inside the given length. */
	const char *reason;
	T_CHECK_INT(ms_addr_validate("a\0b@x.org", 9, 0, &reason), -1);
	T_CHECK_INT(ms_addr_validate("a@x.org\0", 8, 0, &reason), -1);
	T_CHECK_INT(ms_addr_validate(NULL, 0, 0, &reason), -1);
}

static void test_lengths(void)
{
	char *l64 = repeat('a', 64), *l65 = repeat('a', 65);
	char *lab63 = repeat('b', 63), *lab64 = repeat('b', 64);
	char buf[600];

	snprintf(buf, sizeof(buf), "%s@x.org", l64);
	T_CHECK_INT(valid(buf, 0), 0);
	snprintf(buf, sizeof(buf), "%s@x.org", l65);
	T_CHECK_INT(valid(buf, 0), -1);
	snprintf(buf, sizeof(buf), "a@%s.org", lab63);
	T_CHECK_INT(valid(buf, 0), 0);
	snprintf(buf, sizeof(buf), "a@%s.org", lab64);
	T_CHECK_INT(valid(buf, 0), -1);
	/* 254 octets in all is the limit: 64 + 1 + 189. */
	snprintf(buf, sizeof(buf), "%s@%s.%s.%.61s", l64, lab63, lab63, lab63);
	T_CHECK_INT(strlen(buf), 254);
	T_CHECK_INT(valid(buf, 0), 0);
	snprintf(buf, sizeof(buf), "%s@%s.%s.%.62s", l64, lab63, lab63, lab63);
	T_CHECK_INT(strlen(buf), 255);
	T_CHECK_INT(valid(buf, 0), -1);
	free(l64);
	free(l65);
	free(lab63);
	free(lab64);
}

static void test_utf8(void)
{
	/* SMTPUTF8 local parts only with the flag; domains never. */
	T_CHECK_INT(valid("j\xc3\xb6rg@x.org", MS_ADDR_UTF8), 0);
	T_CHECK_INT(valid("\"j\xc3\xb6 rg\"@x.org", MS_ADDR_UTF8), 0);
	T_CHECK_INT(valid("\xe7\x94\xa8\xe6\x88\xb7@x.org", MS_ADDR_UTF8), 0);
	T_CHECK_INT(valid("j\xc3\xb6rg@b\xc3\xbc"
			  "cher.example",
			  MS_ADDR_UTF8),
		    -1);
	/* Invalid UTF-8, overlongs and C1 controls. */
	T_CHECK_INT(valid("j\xc3rg@x.org", MS_ADDR_UTF8), -1);
	T_CHECK_INT(valid("j\xc0\xafrg@x.org", MS_ADDR_UTF8), -1);
	T_CHECK_INT(valid("j\xc2\x85rg@x.org", MS_ADDR_UTF8), -1);
}

static void test_equal(void)
{
	T_CHECK(ms_addr_equal("a@x.org", "a@X.ORG"));
	T_CHECK(!ms_addr_equal("A@x.org", "a@x.org"));
	T_CHECK(!ms_addr_equal("a@x.org", "a@x.org.uk"));
	T_CHECK(ms_addr_equal("\"a@b\"@x.org", "\"a@b\"@X.org"));
}

static void check_list(const char *field, size_t max, const char **want_addr,
		       const char **want_display, size_t n)
{
	struct ms_addr_list l;
	char *error = NULL;
	int r = ms_addr_list_parse(field, strlen(field), max, 0, &l, &error);
	T_CHECK_INT(r, 0);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", field, error);
		free(error);
		return;
	}
	T_CHECK_INT(l.n, n);
	for (size_t i = 0; i < n && i < l.n; i++) {
		T_CHECK_STR(l.v[i].addr, want_addr[i]);
		if (want_display[i] == NULL)
			T_CHECK(l.v[i].display == NULL);
		else
			T_CHECK_STR(l.v[i].display, want_display[i]);
	}
	ms_addr_list_clear(&l);
	T_CHECK(l.v == NULL && l.n == 0);
}

static void test_list(void)
{
	const char *a1[] = {"a@x.org", "b@y.org", "c@z.org"};
	const char *d1[] = {NULL, "Bob", NULL};
	check_list("a@x.org, Bob <b@y.org>; c@z.org", 10, a1, d1, 3);

	const char *a2[] = {"b@y.org", "\"x,y\"@z.org"};
	const char *d2[] = {"Smith, Bob", "Q \"uoted\""};
	check_list(" \"Smith, Bob\" <b@y.org> ,,; \"Q \\\"uoted\\\"\" "
		   "< \"x,y\"@z.org >\n",
		   10, a2, d2, 2);

	/* Line breaks separate entries; a display name is cleaned (bidi
	   override dropped) and kept in UTF-8. */
	const char *a3[] = {"a@x.org", "b@y.org"};
	const char *d3[] = {"J\xc3\xb6rg", "Eve"};
	check_list("J\xc3\xb6rg <a@x.org>\r\nE\xe2\x80\xaeve <b@y.org>", 10, a3,
		   d3, 2);

	/* Duplicates: domain case-insensitive, the first name wins; they
	   do not count against the limit. */
	const char *a4[] = {"a@x.org", "A@x.org"};
	const char *d4[] = {"First", NULL};
	check_list("First <a@x.org>, a@X.ORG, Second <a@x.org>, A@x.org", 2, a4,
		   d4, 2);

	/* Empty field, only separators. */
	check_list("", 10, NULL, NULL, 0);
	check_list(" , ;\n", 10, NULL, NULL, 0);
	/* An empty "name" before <...>. */
	const char *a5[] = {"a@x.org"};
	const char *d5[] = {NULL};
	check_list("<a@x.org>", 10, a5, d5, 1);
	check_list("\"\" <a@x.org>", 10, a5, d5, 1);
}

static void check_list_error(const char *field, size_t len, size_t max,
			     const char *want_in_error)
{
	struct ms_addr_list l;
	char *error = NULL;
	T_CHECK_INT(ms_addr_list_parse(field, len, max, 0, &l, &error), -1);
	T_CHECK(l.n == 0 && l.v == NULL);
	T_CHECK(error != NULL && strstr(error, want_in_error) != NULL);
	if (error != NULL && strstr(error, want_in_error) == NULL)
		fprintf(stderr, "error: %s\n", error);
	free(error);
}

static void test_list_errors(void)
{
	check_list_error("a@x.org, bob@@y.org", 19, 10, "\"bob@@y.org\"");
	check_list_error("a@x.org, b@y..org", 17, 10, "empty label");
	check_list_error("Bob <b@y.org", 12, 10, "missing '>'");
	check_list_error("Bob <b@y.org> x", 15, 10, "text after '>'");
	check_list_error("\"Bob <b@y.org>", 14, 10, "unterminated");
	check_list_error("Bob\" <b@y.org>", 14, 10, "unterminated");
	check_list_error("B\"o\"b <b@y.org>", 15, 10, "stray");
	check_list_error("b@y.org (Bob)", 13, 10, "\"b@y.org (Bob)\"");
	check_list_error("a@x.org, b@y.org, c@z.org", 25, 2,
			 "too many recipients (at most 2)");
	/* Controls never pass, also not as a header injection. */
	check_list_error("Bob <b@y.org>\x01", 14, 10, "control");
	check_list_error("Bob\x00 <b@y.org>", 14, 10, "control");
	check_list_error("a@x.org\tBcc: c@z.org", 20, 10, "a@x.org Bcc:");
	/* The entry shown is cut. */
	char field[400];
	memset(field, 'a', 300);
	strcpy(field + 300, "@@x.org");
	struct ms_addr_list l;
	char *error = NULL;
	T_CHECK_INT(ms_addr_list_parse(field, strlen(field), 10, 0, &l, &error),
		    -1);
	T_CHECK(error != NULL && strlen(error) < 150);
	free(error);
}

int main(void)
{
	T_RUN(test_valid);
	T_RUN(test_invalid);
	T_RUN(test_lengths);
	T_RUN(test_utf8);
	T_RUN(test_equal);
	T_RUN(test_list);
	T_RUN(test_list_errors);
	return T_DONE();
}
