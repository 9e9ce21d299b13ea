#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "br_jidmap.h"
#include "ms_addr.h"
#include "ut_str.h"
#include "ut_xalloc.h"
#include "xm_jid.h"

/* Index of domain among the mail domains, or -1. */
static int mail_domain_index(const struct br_config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->mail_domain_count; i++) {
		if (ut_ascii_caseeq(cfg->mail_domains[i], domain))
			return (int)i;
	}
	return -1;
}

/* Checks and lower-cases a localpart; NULL with *why_r when refused. */
static char *localpart(const char *s, size_t len, const char **why_r)
{
	if (len == 0 || len > XM_JID_PART_MAX) {
		*why_r = "the localpart is empty or too long";
		return NULL;
	}
	char *local = ut_ascii_lower_dup(s, len);
	for (const char *p = local; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			*why_r = "the localpart holds a backslash (XEP-0106 "
				 "escaping would make it ambiguous)";
			free(local);
			return NULL;
		}
		if (c <= 0x20 || c >= 0x7F) {
			*why_r = "the localpart is not plain ASCII";
			free(local);
			return NULL;
		}
	}
	if (xm_jid_node_needs_escaping(local)) {
		*why_r = "the localpart holds characters that XEP-0106 escapes";
		free(local);
		return NULL;
	}
	return local;
}

/* The canonical key of localpart local in mail domain index i. */
static char *key_of(const struct br_config *cfg, const char *local, int i)
{
	if (cfg->username_format == BR_USERNAME_LOCALPART)
		return xstrdup(local);
	char *domain = ut_ascii_lower_dup(cfg->mail_domains[i],
					  strlen(cfg->mail_domains[i]));
	char *key = xasprintf("%s@%s", local, domain);
	free(domain);
	return key;
}

int br_jidmap_user(const struct br_config *cfg, const char *user, char **key_r,
		   char **jid_r, const char **why_r)
{
	const char *at = strrchr(user, '@');
	int i = 0;

	if (cfg->username_format == BR_USERNAME_LOCALPART) {
		if (at != NULL) {
			*why_r = "the username has a domain, but [mail] "
				 "username_format = localpart";
			return -1;
		}
	} else if (at == NULL) {
		*why_r = "the username has no domain (if Dovecot names its "
			 "users without one, set [mail] username_format = "
			 "localpart)";
		return -1;
	} else if ((i = mail_domain_index(cfg, at + 1)) < 0) {
		*why_r = "the mail domain is not in [mail] domain";
		return -1;
	}
	size_t len = at != NULL ? (size_t)(at - user) : strlen(user);
	char *local = localpart(user, len, why_r);
	if (local == NULL)
		return -1;
	*key_r = key_of(cfg, local, i);
	*jid_r = xasprintf("%s@%s", local, cfg->xmpp_domains[i]);
	free(local);
	return 0;
}

int br_jidmap_address(const struct br_config *cfg, const char *address,
		      char **key_r, char **jid_r)
{
	const char *at = strrchr(address, '@'), *why;
	int i;

	if (at == NULL || (i = mail_domain_index(cfg, at + 1)) < 0)
		return -1;
	char *local = localpart(address, (size_t)(at - address), &why);
	if (local == NULL)
		return -1;
	*key_r = key_of(cfg, local, i);
	*jid_r = xasprintf("%s@%s", local, cfg->xmpp_domains[i]);
	free(local);
	return 0;
}

int br_jidmap_jid(const struct br_config *cfg, const char *jid, char **key_r)
{
	const char *at = strchr(jid, '@');
	const char *why;

	if (at == NULL || strchr(jid, '/') != NULL)
		return -1;
	for (size_t i = 0; i < cfg->mail_domain_count; i++) {
		if (!ut_ascii_caseeq(cfg->xmpp_domains[i], at + 1))
			continue;
		char *local = localpart(jid, (size_t)(at - jid), &why);
		if (local == NULL)
			return -1;
		*key_r = key_of(cfg, local, (int)i);
		free(local);
		return 0;
	}
	return -1;
}

int br_jidmap_sender(const struct br_config *cfg, const char *from,
		     char **key_r, char **bare_r)
{
	char *bare = from != NULL ? xm_jid_bare(from) : NULL;
	char *key = NULL;

	if (bare == NULL || br_jidmap_jid(cfg, bare, &key) < 0) {
		free(bare);
		return -1;
	}
	*key_r = key;
	if (bare_r != NULL)
		*bare_r = bare;
	else
		free(bare);
	return 0;
}

char *br_jidmap_key_address(const struct br_config *cfg, const char *key)
{
	if (cfg->username_format == BR_USERNAME_ADDRESS)
		return xstrdup(key);
	char *domain = ut_ascii_lower_dup(cfg->mail_domains[0],
					  strlen(cfg->mail_domains[0]));
	char *addr = xasprintf("%s@%s", key, domain);
	free(domain);
	return addr;
}

char *br_jidmap_address_jid(const struct br_config *cfg, const char *address)
{
	char *node = xm_jid_escape_node(address);
	char *jid =
	    xasprintf("%s@%s", node != NULL ? node : "", cfg->component);
	free(node);
	return jid;
}

char *br_jidmap_jid_address(const struct br_config *cfg, const char *jid,
			    const char **why_r)
{
	const char *at = strchr(jid, '@');
	size_t dlen;

	if (at == NULL || at == jid) {
		*why_r = "that is not an address at the component";
		return NULL;
	}
	dlen = strcspn(at + 1, "/");
	if (dlen != strlen(cfg->component) ||
	    strncasecmp(at + 1, cfg->component, dlen) != 0) {
		*why_r = "that is not an address at the component";
		return NULL;
	}
	char *node = xstrndup(jid, (size_t)(at - jid));
	char *addr = xm_jid_unescape_node(node);
	free(node);
	if (addr == NULL ||
	    ms_addr_validate(addr, strlen(addr), 0, why_r) < 0) {
		if (addr == NULL)
			*why_r = "the name is empty";
		free(addr);
		return NULL;
	}
	return addr;
}

bool br_jidmap_serves(const struct br_config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->mail_domain_count; i++) {
		if (ut_ascii_caseeq(cfg->xmpp_domains[i], domain))
			return true;
	}
	return false;
}
