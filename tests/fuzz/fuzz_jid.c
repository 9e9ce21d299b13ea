/*
 * Fuzz target for the JID helpers. The input (up to its first NUL) is
 * split, made bare, compared, escaped and unescaped, with these checks:
 * - a JID that splits is rebuilt exactly from its parts, equals itself,
 *   and its bare form splits again;
 * - unescape(escape(s)) == s whenever escape(s) is defined, and
 *   needs_escaping(s) says whether escape(s) differs from s;
 * - the same for u = unescape(s), and unescaping never grows a string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_xalloc.h"
#include "xm_jid.h"

static void check_escape(const char *s)
{
	char *e = xm_jid_escape_node(s);
	if (e == NULL)
		return;
	char *back = xm_jid_unescape_node(e);
	if (strcmp(back, s) != 0)
		abort();
	if (xm_jid_node_needs_escaping(s) != (strcmp(e, s) != 0))
		abort();
	free(back);
	free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	char *node, *domain, *resource;
	if (xm_jid_split(s, &node, &domain, &resource) == 0) {
		char *rebuilt =
		    xasprintf("%s%s%s%s%s", node != NULL ? node : "",
			      node != NULL ? "@" : "", domain,
			      resource != NULL ? "/" : "",
			      resource != NULL ? resource : "");
		if (strcmp(rebuilt, s) != 0)
			abort();
		free(rebuilt);
		if (!xm_jid_bare_equal(s, s) || !xm_jid_domain_is(s, domain))
			abort();
		char *bare = xm_jid_bare(s);
		if (bare == NULL || xm_jid_split(bare, NULL, NULL, NULL) < 0 ||
		    !xm_jid_bare_equal(bare, s))
			abort();
		free(bare);
		free(node);
		free(domain);
		free(resource);
	} else if (xm_jid_bare(s) != NULL) {
		abort();
	}

	check_escape(s);
	char *u = xm_jid_unescape_node(s);
	if (strlen(u) > strlen(s))
		abort();
	check_escape(u);
	free(u);
	free(s);
	return 0;
}
