/*
 * JID shape checks (RFC 7622 without PRECIS) and XEP-0106 escaping.
 *
 * Beyond the checks the header names, xm_jid_split() also refuses the
 * characters RFC 7622 forbids in a localpart (space " & ' / : < > @) and
 * space, quotes, & < > \ and '@' in a domainpart, so that an unescaped
 * localpart can never pass for a JID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_jid.h"

/* The ten XEP-0106 sequences (lowercase hex: case is significant). */
static const struct {
	char c;
	char seq[3];
} escapes[] = {
    {' ', "20"}, {'"', "22"}, {'&', "26"}, {'\'', "27"}, {'/', "2f"},
    {':', "3a"}, {'<', "3c"}, {'>', "3e"}, {'@', "40"},	 {'\\', "5c"},
};

/* The character an escape sequence at s ("\xx") stands for, or 0. */
static char escape_at(const char *s)
{
	if (s[0] != '\\' || s[1] == '\0' || s[2] == '\0')
		return 0;
	for (size_t i = 0; i < UT_N_ELEMENTS(escapes); i++) {
		if (s[1] == escapes[i].seq[0] && s[2] == escapes[i].seq[1])
			return escapes[i].c;
	}
	return 0;
}

/* The sequence escaping c, or NULL if c is not escaped (a backslash is
   handled by the caller). */
static const char *escape_of(char c)
{
	for (size_t i = 0; i < UT_N_ELEMENTS(escapes); i++) {
		if (escapes[i].c == c)
			return escapes[i].seq;
	}
	return NULL;
}

/* True if s holds no control characters (C0, DEL, C1); s is valid UTF-8. */
static bool no_controls(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return false;
		/* U+0080..U+009F are encoded as C2 80..C2 9F. */
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f)
			return false;
	}
	return true;
}

static bool part_ok(const char *s, size_t len, const char *forbidden)
{
	if (len == 0 || len > XM_JID_PART_MAX)
		return false;
	if (!ut_utf8_valid(s, len) || !no_controls(s, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (strchr(forbidden, s[i]) != NULL)
			return false;
	}
	return true;
}

int xm_jid_split(const char *jid, char **node_r, char **domain_r,
		 char **resource_r)
{
	if (node_r != NULL)
		*node_r = NULL;
	if (domain_r != NULL)
		*domain_r = NULL;
	if (resource_r != NULL)
		*resource_r = NULL;
	if (jid == NULL)
		return -1;

	size_t total = strlen(jid);
	const char *slash = memchr(jid, '/', total);
	size_t bare_len = slash != NULL ? (size_t)(slash - jid) : total;
	const char *at = memchr(jid, '@', bare_len);
	const char *domain = at != NULL ? at + 1 : jid;
	size_t domain_len = bare_len - (size_t)(domain - jid);
	size_t node_len = at != NULL ? (size_t)(at - jid) : 0;

	if (at != NULL && !part_ok(jid, node_len, " \"&'/:<>@"))
		return -1;
	if (!part_ok(domain, domain_len, " \"&'<>\\@/"))
		return -1;
	if (slash != NULL && !part_ok(slash + 1, total - bare_len - 1, ""))
		return -1;

	if (node_r != NULL && at != NULL)
		*node_r = xstrndup(jid, node_len);
	if (domain_r != NULL)
		*domain_r = xstrndup(domain, domain_len);
	if (resource_r != NULL && slash != NULL)
		*resource_r = xstrdup(slash + 1);
	return 0;
}

char *xm_jid_bare(const char *jid)
{
	char *node, *domain;
	if (xm_jid_split(jid, &node, &domain, NULL) < 0)
		return NULL;
	ut_ascii_lower(domain);
	if (node == NULL)
		return domain;
	char *bare = xasprintf("%s@%s", node, domain);
	free(node);
	free(domain);
	return bare;
}

bool xm_jid_domain_is(const char *jid, const char *domain)
{
	char *d;
	if (domain == NULL || xm_jid_split(jid, NULL, &d, NULL) < 0)
		return false;
	bool eq = ut_ascii_caseeq(d, domain);
	free(d);
	return eq;
}

bool xm_jid_bare_equal(const char *a, const char *b)
{
	char *na, *da, *nb, *db;
	if (xm_jid_split(a, &na, &da, NULL) < 0)
		return false;
	if (xm_jid_split(b, &nb, &db, NULL) < 0) {
		free(na);
		free(da);
		return false;
	}
	bool eq = ut_ascii_caseeq(da, db) &&
		  ((na == NULL && nb == NULL) ||
		   (na != NULL && nb != NULL && ut_ascii_caseeq(na, nb)));
	free(na);
	free(da);
	free(nb);
	free(db);
	return eq;
}

bool xm_jid_equal(const char *a, const char *b)
{
	const char *ra, *rb;

	if (a == NULL || b == NULL || !xm_jid_bare_equal(a, b))
		return false;
	/* Both are valid JIDs: a resource follows their first '/'. */
	ra = strchr(a, '/');
	rb = strchr(b, '/');
	if (ra == NULL || rb == NULL)
		return ra == rb;
	return strcmp(ra, rb) == 0;
}

char *xm_jid_escape_node(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return NULL;
	if (!ut_utf8_valid(s, len) || !no_controls(s, len))
		return NULL;
	/* Every character grows to at most three. */
	char *out = xmalloc(3 * len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		const char *seq = NULL;
		if (s[i] == '\\') {
			/* Only a backslash that starts one of the ten
			   sequences is escaped (XEP-0106 section 4.3). */
			if (escape_at(s + i) != 0)
				seq = "5c";
		} else {
			seq = escape_of(s[i]);
		}
		if (seq == NULL) {
			out[o++] = s[i];
			continue;
		}
		out[o++] = '\\';
		out[o++] = seq[0];
		out[o++] = seq[1];
	}
	out[o] = '\0';
	return out;
}

char *xm_jid_unescape_node(const char *s)
{
	size_t len = strlen(s);
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		char c = escape_at(s + i);
		if (c != 0) {
			out[o++] = c;
			i += 3;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	return out;
}

bool xm_jid_node_needs_escaping(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' ? escape_at(s) != 0 : escape_of(*s) != NULL)
			return true;
	}
	return false;
}
