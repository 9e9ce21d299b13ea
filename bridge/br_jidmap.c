#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "br_jidmap.h"
#include "ut_buf.h"
#include "ut_str.h"
#include "ut_xalloc.h"
#include "xm_jid.h"

static bool mail_domain_known(const struct br_config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->mail_domain_count; i++) {
		if (strcasecmp(cfg->mail_domains[i], domain) == 0)
			return true;
	}
	return false;
}

int br_jidmap_user(const struct br_config *cfg, const char *user, char **jid_r,
		   const char **why_r)
{
	const char *at = strrchr(user, '@');
	size_t local_len = at != NULL ? (size_t)(at - user) : strlen(user);

	if (at != NULL && !mail_domain_known(cfg, at + 1)) {
		*why_r = "the mail domain is not in [mail] domain";
		return -1;
	}
	if (at == NULL && cfg->mail_domain_count == 0) {
		*why_r = "no mail domain configured";
		return -1;
	}
	if (local_len == 0 || local_len > XM_JID_PART_MAX) {
		*why_r = "the localpart is empty or too long";
		return -1;
	}

	char *local = xstrndup(user, local_len);
	for (char *p = local; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			free(local);
			*why_r = "the localpart holds a backslash (XEP-0106 "
				 "escaping would make it ambiguous)";
			return -1;
		}
		if (c <= 0x20 || c >= 0x7F) {
			free(local);
			*why_r = "the localpart is not plain ASCII";
			return -1;
		}
		*p = ut_ascii_tolower(*p);
	}
	if (xm_jid_node_needs_escaping(local)) {
		free(local);
		*why_r = "the localpart holds characters that XEP-0106 escapes";
		return -1;
	}
	*jid_r = xasprintf("%s@%s", local, cfg->xmpp_domain);
	free(local);
	return 0;
}
