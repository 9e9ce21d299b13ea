/*
 * tidings' configuration: one typed table of settings, read through the INI
 * reader (br_ini.c) into struct br_config, checks across settings, the
 * file's mode check and the dump that `tidingsd -n` prints. Defaults go
 * through the same parsers as values read from the file, so a default can
 * never be something a file could not say.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "br_config.h"
#include "br_ini.h"
#include "ut_buf.h"
#include "ut_parse.h"
#include "ut_str.h"
#include "ut_xalloc.h"

#define FILE_MAX_BYTES (1024 * 1024)

#define F(field) offsetof(struct br_config, field)
#define SECS(n)	 ((uint64_t)(n)*1000)

static const char *const tls_values[] = {"none", "starttls", "tls", NULL};
static const char *const type_values[] = {"chat", "normal", "headline", NULL};
static const char *const username_values[] = {"address", "localpart", NULL};
/* As enum br_hold_when (br_settings.h). */
static const char *const hold_values[] = {"never", "dnd", "away", NULL};

/* The order here is the order of the dump and of the example file. */
static const struct br_ini_setting settings[] = {
    {"xmpp", "component", BR_INI_STRING, F(component), 0, 0, 0, NULL, NULL,
     true,
     "JID of the tidings component as declared in the XMPP server (e.g. "
     "mail.example.org); users see it as their Mail contact."},
    {"xmpp", "host", BR_INI_STRING, F(xmpp_host), 0, 0, 0, NULL, NULL, true,
     "Host name or address of the XMPP server's component listener."},
    {"xmpp", "port", BR_INI_PORT, F(xmpp_port), 0, 0, 0, NULL, "5347", false,
     "Component port of the XMPP server (XEP-0114)."},
    {"xmpp", "secret", BR_INI_SECRET, F(secret), 0, 0, 0, NULL, NULL, true,
     "Component secret shared with the XMPP server."},
    {"xmpp", "domain", BR_INI_STRING, F(xmpp_domain), 0, 0, 0, NULL, NULL, true,
     "The XMPP host whose users are served (e.g. example.org)."},
    {"xmpp", "reconnect_min", BR_INI_MSECS, F(reconnect_min_msecs), 0, 10,
     SECS(60), NULL, "250ms", false,
     "First wait before reconnecting after the stream dropped; it doubles "
     "(with jitter) up to reconnect_max."},
    {"xmpp", "reconnect_max", BR_INI_MSECS, F(reconnect_max_msecs), 0, SECS(1),
     SECS(3600), NULL, "30s", false,
     "Longest wait between two reconnection attempts."},
    {"xmpp", "ping_timeout", BR_INI_MSECS, F(ping_timeout_msecs), 0, SECS(1),
     SECS(600), NULL, "20s", false,
     "A ping unanswered this long means the stream is dead: reconnect and "
     "resend what was not confirmed."},
    {"xmpp", "max_stanza_size", BR_INI_SIZE, F(max_stanza_bytes), 0, 64 * 1024,
     64 * 1024 * 1024, NULL, "4M", false,
     "Largest stanza taken from the server (as the server writes it, after "
     "its escaping). A larger one is skipped and dropped (an IQ gets an "
     "error); the stream stays up."},
    {"xmpp", "max_stanza_depth", BR_INI_UINT, F(max_stanza_depth), 0, 8, 1000,
     NULL, "64", false,
     "Deepest nesting of elements taken in a stanza; a deeper stanza is "
     "skipped and dropped like a too large one."},

    {"mail", "domain", BR_INI_LIST, F(mail_domains), F(mail_domain_count), 0, 0,
     NULL, NULL, true,
     "Mail domains whose mailboxes map to JIDs, comma-separated."},
    {"mail", "username_format", BR_INI_ENUM, F(username_format), 0, 0, 0,
     username_values, "address", false,
     "How Dovecot names users: address (bob@example.org) or localpart "
     "(bob; needs exactly one [mail] domain)."},
    {"mail", "imap_host", BR_INI_STRING, F(imap_host), 0, 0, 0, NULL, NULL,
     true, "Host name or address of the Dovecot IMAP server."},
    {"mail", "imap_port", BR_INI_PORT, F(imap_port), 0, 0, 0, NULL, "143",
     false, "IMAP port of the Dovecot server."},
    {"mail", "imap_tls", BR_INI_ENUM, F(imap_tls), 0, 0, 0, tls_values, "none",
     false,
     "TLS towards IMAP: none, starttls, or tls (implicit, usually port "
     "993). The server's certificate must be valid for imap_host."},
    {"mail", "imap_ca_file", BR_INI_STRING, F(imap_ca_file), 0, 0, 0, NULL,
     NULL, false,
     "CA certificates (PEM) that sign the IMAP server's certificate "
     "(unset: the system's)."},
    {"mail", "imap_allow_plaintext", BR_INI_BOOL, F(imap_allow_plaintext), 0, 0,
     0, NULL, "no", false,
     "Allow imap_tls = none towards a host that is not loopback (the master "
     "password then crosses the network in clear)."},
    {"mail", "master_user", BR_INI_STRING, F(master_user), 0, 0, 0, NULL, NULL,
     true, "Dovecot master user that tidings logs in as to read mailboxes."},
    {"mail", "master_password", BR_INI_SECRET, F(master_password), 0, 0, 0,
     NULL, NULL, true, "Password of that master user."},
    {"mail", "imap_workers", BR_INI_UINT, F(imap_workers), 0, 1, 16, NULL, "2",
     false, "IMAP connections used at the same time for reconciliation."},
    {"mail", "imap_timeout", BR_INI_MSECS, F(imap_timeout_msecs), 0, SECS(1),
     SECS(600), NULL, "30s", false,
     "Longest wait for an IMAP connect or answer."},
    {"mail", "auth_master_socket", BR_INI_STRING, F(auth_master_socket), 0, 0,
     0, NULL, NULL, false,
     "Dovecot's auth-master (userdb) socket, to learn which uid owns a "
     "mailbox and whether a user still exists (needed by trusted_users = "
     "owner)."},
    {"mail", "auth_client_socket", BR_INI_STRING, F(auth_client_socket), 0, 0,
     0, NULL, NULL, false,
     "Dovecot's auth-client socket, where tidings-auth (ejabberd's extauth "
     "helper) checks passwords."},

    {"events", "socket", BR_INI_STRING, F(events_socket), 0, 0, 0, NULL, NULL,
     true,
     "Datagram socket the Dovecot push script writes to (absolute path; "
     "the same as Dovecot's plugin setting tidings_socket)."},
    {"events", "socket_mode", BR_INI_MODE, F(socket_mode), 0, 0, 0, NULL,
     "0660", false, "Permissions of the event socket."},
    {"events", "socket_group", BR_INI_STRING, F(socket_group), 0, 0, 0, NULL,
     NULL, false,
     "Group given to the event socket, so that Dovecot's mail processes can "
     "write to it (unset: tidingsd's own group)."},
    {"events", "trusted_users", BR_INI_LIST, F(trusted_users),
     F(trusted_user_count), 0, 0, NULL, "root", false,
     "Who may send events, by the writer's uid: user names or numbers; "
     "owner (the uid Dovecot's userdb gives the mailbox); root always; any "
     "turns the check off. Other writers' events are dropped."},

    {"state", "dir", BR_INI_STRING, F(state_dir), 0, 0, 0, NULL, NULL, true,
     "Directory for durable state (the ledger, tidings.db); absolute path, "
     "created 0700 if missing."},

    {"notify", "message_type", BR_INI_WORD, F(message_type), 0, 0, 0,
     type_values, "chat", false,
     "Type of notification messages: chat (shown by every client, stored "
     "offline and archived), normal, or headline (never stored offline)."},
    {"notify", "burst_max", BR_INI_UINT, F(burst_max), 0, 0, 1000, NULL, "3",
     false,
     "Mails notified one by one per user within burst_window; the rest of "
     "the burst collapses into one digest (0: always a digest)."},
    {"notify", "burst_window", BR_INI_MSECS, F(burst_window_msecs), 0, 0,
     SECS(3600), NULL, "10s", false, "The window burst_max counts in."},
    {"notify", "digest_list_max", BR_INI_UINT, F(digest_list_max), 0, 10, 1000,
     NULL, "15", false,
     "Mails listed by sender and subject in a digest (at least 10); more are "
     "counted."},
    {"notify", "snippet_max", BR_INI_UINT, F(snippet_max), 0, 0, 4096, NULL,
     "160", false,
     "Bytes of the mail's text shown in a notification (0: no snippet)."},
    {"notify", "mailboxes", BR_INI_LIST, F(mailboxes), F(mailbox_count), 0, 0,
     NULL, "INBOX", false,
     "Mailboxes whose new mail is notified, comma-separated (INBOX in any "
     "case)."},
    {"notify", "reconcile_list_max", BR_INI_UINT, F(reconcile_list_max), 0, 1,
     10000, NULL, "50", false,
     "Mails fetched per mailbox when catching up after a gap or a restart; "
     "beyond that only a count is reported."},
    {"notify", "gap_delay", BR_INI_MSECS, F(gap_delay_msecs), 0, 0, SECS(60),
     NULL, "2s", false,
     "Wait before fetching mails whose events were missed (a UID gap), as "
     "their events may still arrive."},

    {"defaults", "notify", BR_INI_BOOL, F(default_notify), 0, 0, 0, NULL, "yes",
     false,
     "Users' setting notify until they change it: a message for each new "
     "mail."},
    {"defaults", "summary_on_login", BR_INI_BOOL, F(default_summary_on_login),
     0, 0, 0, NULL, "yes", false,
     "Users' setting summary_on_login: a summary of the mailbox when they "
     "come online."},
    {"defaults", "hold_when", BR_INI_ENUM, F(default_hold_when), 0, 0, 0,
     hold_values, "dnd", false,
     "Users' setting hold_when: never, dnd, or away (also xa and dnd): "
     "notifications are held while the user's presence says so, and a "
     "summary follows when they are back."},

    {"log", "level", BR_INI_LOGLEVEL, F(log_level), 0, 0, 0, NULL, "info",
     false, "error, warn, info, debug or trace."},
    {"log", "trace", BR_INI_TRACE, F(trace_mask), 0, 0, 0, NULL, "none", false,
     "With level = trace: comma-separated xmpp, imap, events, ledger, or "
     "all, or none."},
};

#define N_SETTINGS UT_N_ELEMENTS(settings)

/* A parse in progress: the result, where each setting was set, the error. */
struct ctx {
	const char *name;
	struct br_config *cfg;
	unsigned set_line[N_SETTINGS]; /* 0: not in the file */
	char *error;
};

static void __attribute__((format(printf, 3, 4)))
fail(struct ctx *c, unsigned line, const char *fmt, ...)
{
	struct ut_buf b = UT_BUF_INIT;
	va_list ap;

	if (c->error != NULL)
		return;
	if (line > 0)
		ut_buf_appendf(&b, "%s:%u: ", c->name, line);
	else
		ut_buf_appendf(&b, "%s: ", c->name);
	va_start(ap, fmt);
	ut_buf_vappendf(&b, fmt, ap);
	va_end(ap);
	c->error = ut_buf_steal(&b);
}

static const struct br_ini_setting *find_setting(const char *section,
						 const char *key)
{
	for (size_t i = 0; i < N_SETTINGS; i++) {
		if (strcmp(settings[i].section, section) == 0 &&
		    strcmp(settings[i].key, key) == 0)
			return &settings[i];
	}
	return NULL;
}

/* The section of free-form "mail domain = XMPP domain" lines. */
#define DOMAINS_SECTION "domains"

static char *section_cb(const char *section, unsigned line, void *ctx)
{
	(void)line;
	(void)ctx;
	if (strcmp(section, DOMAINS_SECTION) == 0)
		return NULL;
	for (size_t i = 0; i < N_SETTINGS; i++) {
		if (strcmp(settings[i].section, section) == 0)
			return NULL;
	}
	return xasprintf("unknown section [%s]", section);
}

static bool domain_ok(const char *s);

/* "a.org = chat.a.org" in [domains]. */
static char *domain_map_cb(struct br_config *cfg, const char *key,
			   const char *value, unsigned line)
{
	if (!domain_ok(key))
		return xasprintf("[domains] '%s' is not a mail domain name",
				 key);
	if (!domain_ok(value))
		return xasprintf("[domains] %s: '%s' is not a domain name such "
				 "as chat.%s",
				 key, value, key);
	for (size_t i = 0; i < cfg->domain_map_count; i++) {
		if (strcasecmp(cfg->domain_maps[i].mail, key) == 0)
			return xasprintf("duplicate key [domains] %s (first "
					 "set on line %u)",
					 key, cfg->domain_maps[i].line);
	}
	cfg->domain_maps =
	    xreallocarray(cfg->domain_maps, cfg->domain_map_count + 1,
			  sizeof(*cfg->domain_maps));
	struct br_domain_map *m = &cfg->domain_maps[cfg->domain_map_count++];
	m->mail = ut_ascii_lower_dup(key, strlen(key));
	m->xmpp = ut_ascii_lower_dup(value, strlen(value));
	m->line = line;
	return NULL;
}

static char *key_cb(const char *section, const char *key, const char *value,
		    unsigned line, void *ctx)
{
	struct ctx *c = ctx;
	if (strcmp(section, DOMAINS_SECTION) == 0)
		return domain_map_cb(c->cfg, key, value, line);
	const struct br_ini_setting *s = find_setting(section, key);

	if (s == NULL)
		return xasprintf("unknown key '%s' in [%s]", key, section);
	size_t idx = (size_t)(s - settings);
	if (c->set_line[idx] != 0)
		return xasprintf("duplicate key [%s] %s (first set on line %u)",
				 section, key, c->set_line[idx]);
	c->set_line[idx] = line;
	return br_ini_set_value(c->cfg, s, value);
}

/* True if s looks like an ASCII domain name (labels of letters, digits and
   inner hyphens, 1..63 bytes each, 253 bytes in all). */
static bool domain_ok(const char *s)
{
	size_t label = 0, total = strlen(s);

	if (total == 0 || total > 253)
		return false;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
			continue;
		}
		bool alnum = (*p >= 'a' && *p <= 'z') ||
			     (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (!alnum && (*p != '-' || label == 0))
			return false;
		label++;
	}
}

/* The line a setting came from, or 0 (the error then names only the file). */
static unsigned line_of(const struct ctx *c, const char *section,
			const char *key)
{
	const struct br_ini_setting *s = find_setting(section, key);
	return s != NULL ? c->set_line[s - settings] : 0;
}

/*
 * The XMPP domain of every mail domain: its [domains] line, else [xmpp]
 * domain. Two mail domains on one XMPP domain would give two mailboxes
 * one JID (bob@a.org and bob@b.org both bob@<domain>): refused.
 */
static void map_domains(struct ctx *c)
{
	struct br_config *cfg = c->cfg;

	for (size_t k = 0; k < cfg->domain_map_count && c->error == NULL; k++) {
		const struct br_domain_map *m = &cfg->domain_maps[k];
		bool listed = false;
		for (size_t i = 0; i < cfg->mail_domain_count; i++)
			listed = listed ||
				 strcasecmp(cfg->mail_domains[i], m->mail) == 0;
		if (!listed)
			fail(c, m->line,
			     "[domains] %s: not one of the mail domains of "
			     "[mail] domain",
			     m->mail);
		else if (strcasecmp(m->xmpp, cfg->component) == 0)
			fail(c, m->line,
			     "[domains] %s: the XMPP domain must differ from "
			     "[xmpp] component",
			     m->mail);
	}
	cfg->xmpp_domains =
	    xcalloc(cfg->mail_domain_count + 1, sizeof(*cfg->xmpp_domains));
	for (size_t i = 0; i < cfg->mail_domain_count && c->error == NULL;
	     i++) {
		const struct br_domain_map *mine = NULL;
		for (size_t k = 0; k < cfg->domain_map_count; k++) {
			if (strcasecmp(cfg->domain_maps[k].mail,
				       cfg->mail_domains[i]) == 0)
				mine = &cfg->domain_maps[k];
		}
		cfg->xmpp_domains[i] = ut_ascii_lower_dup(
		    mine != NULL ? mine->xmpp : cfg->xmpp_domain,
		    strlen(mine != NULL ? mine->xmpp : cfg->xmpp_domain));
		for (size_t j = 0; j < i && c->error == NULL; j++) {
			if (strcmp(cfg->xmpp_domains[j],
				   cfg->xmpp_domains[i]) != 0)
				continue;
			if (mine != NULL)
				fail(c, mine->line,
				     "[domains] %s: maps to the XMPP domain %s "
				     "like %s: each mail domain needs its own",
				     mine->mail, mine->xmpp,
				     cfg->mail_domains[j]);
			else
				fail(c, line_of(c, "mail", "domain"),
				     "[mail] domain: %s and %s would both map "
				     "to the XMPP domain %s: give each its own "
				     "in [domains]",
				     cfg->mail_domains[j], cfg->mail_domains[i],
				     cfg->xmpp_domains[i]);
		}
	}
}

/* A host that is this machine without a doubt (no name lookup). */
static bool host_is_loopback(const char *host)
{
	return strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
	       strcmp(host, "[::1]") == 0 || strncmp(host, "127.", 4) == 0;
}

/* trusted_users: names and numbers become uids; owner, any. */
static void resolve_trusted(struct ctx *c)
{
	struct br_config *cfg = c->cfg;
	unsigned line = line_of(c, "events", "trusted_users");

	for (size_t i = 0; i < cfg->trusted_user_count && c->error == NULL;
	     i++) {
		const char *name = cfg->trusted_users[i];
		uint64_t num;
		uid_t uid;
		if (strcmp(name, "owner") == 0) {
			cfg->trust_owner = true;
			continue;
		}
		if (strcmp(name, "any") == 0) {
			cfg->trust_any = true;
			continue;
		}
		if (ut_parse_u64(name, UINT32_MAX - 1, &num) == 0) {
			uid = (uid_t)num;
		} else {
			long size = sysconf(_SC_GETPW_R_SIZE_MAX);
			char *buf = xmalloc(size > 0 ? (size_t)size : 16384);
			struct passwd pw, *found = NULL;
			getpwnam_r(name, &pw, buf,
				   size > 0 ? (size_t)size : 16384, &found);
			uid = found != NULL ? found->pw_uid : 0;
			free(buf);
			if (found == NULL) {
				fail(c, line,
				     "[events] trusted_users: no such user: %s",
				     name);
				return;
			}
		}
		if (uid == 0)
			continue; /* root is always trusted */
		cfg->trusted_uids =
		    xreallocarray(cfg->trusted_uids, cfg->trusted_uid_count + 1,
				  sizeof(*cfg->trusted_uids));
		cfg->trusted_uids[cfg->trusted_uid_count++] = (unsigned)uid;
	}
	if (c->error != NULL)
		return;
	if (cfg->trust_any && cfg->trusted_user_count > 1)
		fail(c, line,
		     "[events] trusted_users: 'any' turns the check off and "
		     "goes alone");
	else if (cfg->trust_owner && cfg->auth_master_socket == NULL)
		fail(c, line,
		     "[events] trusted_users: 'owner' needs [mail] "
		     "auth_master_socket (Dovecot's userdb tells whose "
		     "mailbox it is)");
}

/* Checks that involve a whole value or several settings. */
static void validate(struct ctx *c)
{
	const struct br_config *cfg = c->cfg;

	for (size_t i = 0; i < N_SETTINGS && c->error == NULL; i++) {
		const struct br_ini_setting *s = &settings[i];
		if (s->required && c->set_line[i] == 0)
			fail(c, 0, "missing required key [%s] %s", s->section,
			     s->key);
	}
	if (c->error != NULL)
		return;
	if (!domain_ok(cfg->component))
		fail(c, line_of(c, "xmpp", "component"),
		     "[xmpp] component: '%s' is not a domain name such as "
		     "mail.example.org",
		     cfg->component);
	if (!domain_ok(cfg->xmpp_domain))
		fail(c, line_of(c, "xmpp", "domain"),
		     "[xmpp] domain: '%s' is not a domain name such as "
		     "example.org",
		     cfg->xmpp_domain);
	if (strcasecmp(cfg->component, cfg->xmpp_domain) == 0)
		fail(c, line_of(c, "xmpp", "component"),
		     "[xmpp] component must differ from [xmpp] domain (use a "
		     "subdomain such as mail.%s)",
		     cfg->xmpp_domain);
	for (size_t i = 0; i < cfg->mail_domain_count; i++) {
		if (!domain_ok(cfg->mail_domains[i]))
			fail(c, line_of(c, "mail", "domain"),
			     "[mail] domain: '%s' is not a domain name",
			     cfg->mail_domains[i]);
	}
	if (cfg->reconnect_min_msecs > cfg->reconnect_max_msecs)
		fail(c, line_of(c, "xmpp", "reconnect_min"),
		     "[xmpp] reconnect_min is larger than reconnect_max");
	if (cfg->events_socket[0] != '/')
		fail(c, line_of(c, "events", "socket"),
		     "[events] socket: must be an absolute path");
	if (strlen(cfg->events_socket) >=
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		fail(c, line_of(c, "events", "socket"),
		     "[events] socket: path longer than %zu bytes",
		     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (cfg->state_dir[0] != '/')
		fail(c, line_of(c, "state", "dir"),
		     "[state] dir: must be an absolute path");
	if (cfg->auth_master_socket != NULL &&
	    cfg->auth_master_socket[0] != '/')
		fail(c, line_of(c, "mail", "auth_master_socket"),
		     "[mail] auth_master_socket: must be an absolute path");
	if (cfg->auth_client_socket != NULL &&
	    cfg->auth_client_socket[0] != '/')
		fail(c, line_of(c, "mail", "auth_client_socket"),
		     "[mail] auth_client_socket: must be an absolute path");
	if (cfg->username_format == BR_USERNAME_LOCALPART &&
	    cfg->mail_domain_count != 1)
		fail(c, line_of(c, "mail", "username_format"),
		     "[mail] username_format = localpart needs exactly one "
		     "[mail] domain");
	if (cfg->imap_tls == BR_IMAP_TLS_NONE &&
	    !host_is_loopback(cfg->imap_host) && !cfg->imap_allow_plaintext)
		fail(c, line_of(c, "mail", "imap_host"),
		     "[mail] imap_host: %s is not a loopback address, and with "
		     "imap_tls = none the master password would cross the "
		     "network in clear: set imap_tls = starttls or tls, or "
		     "imap_allow_plaintext = yes",
		     cfg->imap_host);
	if (c->error == NULL)
		map_domains(c);
	if (c->error == NULL)
		resolve_trusted(c);
}

int br_config_parse(const char *name, const char *text, size_t len,
		    struct br_config **cfg_r, char **error_r)
{
	static const struct br_ini_callbacks cbs = {section_cb, key_cb};
	struct ctx c = {.name = name, .cfg = xcalloc(1, sizeof(*c.cfg))};

	c.cfg->path = xstrdup(name);
	for (size_t i = 0; i < N_SETTINGS; i++) {
		/* A default that does not parse is a bug in the table. */
		if (settings[i].def != NULL)
			ut_assert(br_ini_set_value(c.cfg, &settings[i],
						   settings[i].def) == NULL);
	}
	if (br_ini_parse(name, text, len, &cbs, &c, &c.error) == 0)
		validate(&c);
	if (c.error != NULL) {
		br_config_free(&c.cfg);
		*error_r = c.error;
		return -1;
	}
	*cfg_r = c.cfg;
	return 0;
}

int br_config_load(const char *path, struct br_config **cfg_r, char **error_r)
{
	struct stat st;
	char *text;
	size_t len;

	if (br_ini_read_file(path, FILE_MAX_BYTES, &text, &len, &st, error_r) <
	    0)
		return -1;
	if ((st.st_mode & 0007) != 0) {
		*error_r = xasprintf(
		    "%s: holds secrets but is %s by others (mode %04o); run "
		    "chmod %o %s",
		    path,
		    (st.st_mode & 0004)	  ? "readable"
		    : (st.st_mode & 0002) ? "writable"
					  : "accessible",
		    (unsigned)(st.st_mode & 07777),
		    (unsigned)(st.st_mode & 0640), path);
		free(text);
		return -1;
	}
	if ((st.st_mode & 0020) != 0)
		log_warn("%s: is writable by its group (mode %04o); consider "
			 "chmod %o %s",
			 path, (unsigned)(st.st_mode & 07777),
			 (unsigned)(st.st_mode & 0640), path);
	int ret = br_config_parse(path, text, len, cfg_r, error_r);
	explicit_bzero(text, len);
	free(text);
	return ret;
}

void br_config_free(struct br_config **cfgp)
{
	struct br_config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	/* Before the settings: freeing [mail] domain zeroes its count. */
	for (size_t i = 0; i < cfg->mail_domain_count && cfg->xmpp_domains; i++)
		free(cfg->xmpp_domains[i]);
	free(cfg->xmpp_domains);
	for (size_t i = 0; i < N_SETTINGS; i++) {
		if (settings[i].type == BR_INI_SECRET) {
			char *secret =
			    *(char **)((char *)cfg + settings[i].off);
			if (secret != NULL)
				explicit_bzero(secret, strlen(secret));
		}
		br_ini_free_value(cfg, &settings[i]);
	}
	for (size_t i = 0; i < cfg->domain_map_count; i++) {
		free(cfg->domain_maps[i].mail);
		free(cfg->domain_maps[i].xmpp);
	}
	free(cfg->domain_maps);
	free(cfg->trusted_uids);
	free(cfg->path);
	ut_free(cfgp);
}

/* Prints the description of s, wrapped as "# " lines of at most 78
   columns, with whether it is required or its default. */
static void dump_comment(FILE *out, const struct br_ini_setting *s)
{
	char *text = s->required ? xasprintf("%s Required.", s->desc)
		     : s->def != NULL
			 ? xasprintf("%s Default: %s.", s->desc, s->def)
			 : xstrdup(s->desc);
	const char *p = text;

	while (*p != '\0') {
		size_t len = strlen(p);
		if (len > 76) {
			/* Break at the last space that fits, if any. */
			len = 76;
			while (len > 0 && p[len] != ' ')
				len--;
			if (len == 0)
				len = strcspn(p, " ");
		}
		fprintf(out, "# %.*s\n", (int)len, p);
		p += len;
		while (*p == ' ')
			p++;
	}
	free(text);
}

void br_config_dump(const struct br_config *cfg, FILE *out)
{
	const char *section = NULL;

	fprintf(out,
		"# tidings configuration read from %s,\n"
		"# defaults included, secrets hidden.\n",
		cfg->path);
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct br_ini_setting *s = &settings[i];
		if (section == NULL || strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(out, "\n[%s]\n", section);
		}
		dump_comment(out, s);
		bool unset =
		    (s->type == BR_INI_STRING || s->type == BR_INI_SECRET) &&
		    *(char *const *)((const char *)cfg + s->off) == NULL;
		if (unset) {
			fprintf(out, "# %s = (unset)\n", s->key);
			continue;
		}
		/* "key = value", or "key=value" where the spaces would make
		   the line too long to read back. */
		char *value = NULL;
		size_t value_len = 0;
		FILE *mem = open_memstream(&value, &value_len);
		ut_assert(mem != NULL);
		br_ini_print_value(mem, cfg, s);
		fclose(mem);
		bool tight = strlen(s->key) + 3 + value_len > BR_INI_LINE_MAX;
		fprintf(out, "%s%s%s\n", s->key, tight ? "=" : " = ", value);
		free(value);
	}
	fprintf(out, "\n[%s]\n", DOMAINS_SECTION);
	dump_comment(out,
		     &(const struct br_ini_setting){
			 .desc = "mail domain = XMPP domain, for each mail "
				 "domain whose users are not on [xmpp] "
				 "domain."});
	for (size_t i = 0; i < cfg->domain_map_count; i++)
		fprintf(out, "%s = %s\n", cfg->domain_maps[i].mail,
			cfg->domain_maps[i].xmpp);
}

bool br_config_mailbox_notified(const struct br_config *cfg,
				const char *mailbox)
{
	bool inbox = strcasecmp(mailbox, "INBOX") == 0;

	for (size_t i = 0; i < cfg->mailbox_count; i++) {
		if (inbox ? strcasecmp(cfg->mailboxes[i], "INBOX") == 0
			  : strcmp(cfg->mailboxes[i], mailbox) == 0)
			return true;
	}
	return false;
}
