/*
 * tidings' configuration: the table of settings (br_config_table.c) read
 * through the INI reader (br_ini.c) into struct br_config, checks across
 * settings, the file's mode check and the master password file. Defaults
 * go through the same parsers as values read from the file, so a default
 * can never be something a file could not say.
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
#include "br_config_private.h"
#include "br_ini.h"
#include "br_metrics_text.h"
#include "ut_buf.h"
#include "ut_parse.h"
#include "ut_str.h"
#include "ut_xalloc.h"

#define FILE_MAX_BYTES (1024 * 1024)
/* A password file holds one line; anything larger is not one. */
#define PASSWORD_FILE_MAX_BYTES 4096

/* A parse in progress: the result, where each setting was set, the error. */
struct ctx {
	const char *name;
	struct br_config *cfg;
	unsigned *set_line; /* per setting; 0: not in the file */
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
	for (size_t i = 0; i < br_config__setting_count; i++) {
		if (strcmp(br_config__settings[i].section, section) == 0 &&
		    strcmp(br_config__settings[i].key, key) == 0)
			return &br_config__settings[i];
	}
	return NULL;
}

#define DOMAINS_SECTION BR_CONFIG_DOMAINS_SECTION

static char *section_cb(const char *section, unsigned line, void *ctx)
{
	(void)line;
	(void)ctx;
	if (strcmp(section, DOMAINS_SECTION) == 0)
		return NULL;
	for (size_t i = 0; i < br_config__setting_count; i++) {
		if (strcmp(br_config__settings[i].section, section) == 0)
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
	size_t idx = (size_t)(s - br_config__settings);
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
	return s != NULL ? c->set_line[s - br_config__settings] : 0;
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

/* A user name or number as a uid; false (and c->error) when no such user. */
static bool name_to_uid(struct ctx *c, unsigned line, const char *what,
			const char *name, uid_t *uid_r)
{
	uint64_t num;
	if (ut_parse_u64(name, UINT32_MAX - 1, &num) == 0) {
		*uid_r = (uid_t)num;
		return true;
	}
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	char *buf = xmalloc(size > 0 ? (size_t)size : 16384);
	struct passwd pw, *found = NULL;
	getpwnam_r(name, &pw, buf, size > 0 ? (size_t)size : 16384, &found);
	*uid_r = found != NULL ? found->pw_uid : 0;
	free(buf);
	if (found == NULL)
		fail(c, line, "%s: no such user: %s", what, name);
	return found != NULL;
}

static void add_uid(unsigned **uids, size_t *count, uid_t uid)
{
	if (uid == 0)
		return; /* root is always trusted */
	*uids = xreallocarray(*uids, *count + 1, sizeof(**uids));
	(*uids)[(*count)++] = (unsigned)uid;
}

/* trusted_users: names and numbers become uids; owner, any. */
static void resolve_trusted(struct ctx *c)
{
	struct br_config *cfg = c->cfg;
	unsigned line = line_of(c, "events", "trusted_users");

	for (size_t i = 0; i < cfg->trusted_user_count && c->error == NULL;
	     i++) {
		const char *name = cfg->trusted_users[i];
		uid_t uid;
		if (strcmp(name, "owner") == 0) {
			cfg->trust_owner = true;
			continue;
		}
		if (strcmp(name, "any") == 0) {
			cfg->trust_any = true;
			continue;
		}
		if (!name_to_uid(c, line, "[events] trusted_users", name, &uid))
			return;
		add_uid(&cfg->trusted_uids, &cfg->trusted_uid_count, uid);
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

/* [control]: an absolute socket path; trusted_users are names or uids. */
static void check_control(struct ctx *c)
{
	struct br_config *cfg = c->cfg;
	unsigned line = line_of(c, "control", "trusted_users");

	if (cfg->control_socket != NULL &&
	    (cfg->control_socket[0] != '/' ||
	     strlen(cfg->control_socket) >=
		 sizeof(((struct sockaddr_un *)0)->sun_path)))
		fail(c, line_of(c, "control", "socket"),
		     "[control] socket: must be an absolute path shorter than "
		     "%zu bytes",
		     sizeof(((struct sockaddr_un *)0)->sun_path));
	for (size_t i = 0; i < cfg->control_user_count && c->error == NULL;
	     i++) {
		uid_t uid;
		if (name_to_uid(c, line, "[control] trusted_users",
				cfg->control_users[i], &uid))
			add_uid(&cfg->control_uids, &cfg->control_uid_count,
				uid);
	}
}

/* [metrics] listen: what br_metrics_start() will bind. */
static void check_metrics(struct ctx *c)
{
	struct sockaddr_storage addr;
	socklen_t len;
	const char *why;

	if (c->cfg->metrics_listen != NULL &&
	    br_metrics_parse_listen(c->cfg->metrics_listen, &addr, &len, &why) <
		0)
		fail(c, line_of(c, "metrics", "listen"),
		     "[metrics] listen: '%s': %s (write PORT for "
		     "127.0.0.1:PORT, ADDRESS:PORT or [IPV6-ADDRESS]:PORT)",
		     c->cfg->metrics_listen, why);
}

/* Exactly one of [mail] master_password and master_password_file. */
static void check_master_password(struct ctx *c)
{
	unsigned pw_line = line_of(c, "mail", "master_password");
	unsigned file_line = line_of(c, "mail", "master_password_file");

	if (pw_line == 0 && file_line == 0)
		fail(c, 0,
		     "missing required key [mail] master_password (or "
		     "master_password_file)");
	else if (pw_line != 0 && file_line != 0)
		fail(c, pw_line > file_line ? pw_line : file_line,
		     "[mail] master_password and master_password_file are "
		     "both set (lines %u and %u): keep one",
		     pw_line < file_line ? pw_line : file_line,
		     pw_line > file_line ? pw_line : file_line);
	else if (file_line != 0 && c->cfg->master_password_file[0] != '/')
		fail(c, file_line,
		     "[mail] master_password_file: must be an absolute path");
}

/* [mail] smtp_*: AUTH needs both keys, and TLS unless on loopback. */
static void check_smtp(struct ctx *c)
{
	const struct br_config *cfg = c->cfg;
	unsigned user_line = line_of(c, "mail", "smtp_user");
	unsigned file_line = line_of(c, "mail", "smtp_password_file");

	if ((user_line != 0) != (file_line != 0))
		fail(c, user_line != 0 ? user_line : file_line,
		     "[mail] smtp_user and smtp_password_file go together");
	else if (file_line != 0 && cfg->smtp_password_file[0] != '/')
		fail(c, file_line,
		     "[mail] smtp_password_file: must be an absolute path");
	else if (user_line != 0 && cfg->smtp_host == NULL)
		fail(c, user_line, "[mail] smtp_user: set smtp_host too");
	else if (user_line != 0 && cfg->smtp_tls == BR_IMAP_TLS_NONE &&
		 !host_is_loopback(cfg->smtp_host))
		fail(c, user_line,
		     "[mail] smtp_user: %s is not a loopback address, and with "
		     "smtp_tls = none the password would cross the network in "
		     "clear: set smtp_tls = starttls or tls",
		     cfg->smtp_host);
}

/* Checks that involve a whole value or several settings. */
static void validate(struct ctx *c)
{
	const struct br_config *cfg = c->cfg;

	for (size_t i = 0; i < br_config__setting_count && c->error == NULL;
	     i++) {
		const struct br_ini_setting *s = &br_config__settings[i];
		if (s->required && c->set_line[i] == 0)
			fail(c, 0, "missing required key [%s] %s", s->section,
			     s->key);
	}
	if (c->error == NULL)
		check_master_password(c);
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
	check_smtp(c);
	if (c->error == NULL)
		map_domains(c);
	if (c->error == NULL)
		resolve_trusted(c);
	if (c->error == NULL)
		check_control(c);
	if (c->error == NULL)
		check_metrics(c);
}

/* "readable by others", "writable by its group", ...: the first bit of
   mask set in mode, as words. */
static const char *mode_words(mode_t mode, mode_t mask)
{
	static const struct {
		mode_t bit;
		const char *words;
	} bits[] = {
	    {0004, "readable by others"},    {0002, "writable by others"},
	    {0001, "accessible by others"},  {0040, "readable by its group"},
	    {0020, "writable by its group"}, {0010, "accessible by its group"},
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(bits); i++) {
		if ((mode & mask & bits[i].bit) != 0)
			return bits[i].words;
	}
	return "open";
}

/* The name of the user this process runs as, for advice (xmalloc'ed). */
static char *own_user_name(void)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t len = size > 0 ? (size_t)size : 16384;
	char *buf = xmalloc(len);
	struct passwd pw, *found = NULL;
	char *name;

	getpwuid_r(geteuid(), &pw, buf, len, &found);
	name = found != NULL ? xstrdup(found->pw_name)
			     : xasprintf("%u", (unsigned)geteuid());
	free(buf);
	return name;
}

/*
 * A password file ([mail] master_password_file, smtp_password_file): its
 * first line, without the line end ("\n" or "\r\n"), becomes *secret_r.
 * The file must be closed to its group and others: tidings.conf itself may
 * be readable by a group (the one that lets ejabberd's tidings-auth read
 * it), the password files only by tidingsd's user.
 */
static void read_password_file(struct ctx *c, const char *key, const char *what,
			       const char *path, char **secret_r)
{
	unsigned line = line_of(c, "mail", key);
	struct stat st;
	char *text, *error;
	size_t len;

	if (br_ini_read_file(path, PASSWORD_FILE_MAX_BYTES, &text, &len, &st,
			     &error) < 0) {
		fail(c, line, "[mail] %s: %s", key, error);
		free(error);
		return;
	}
	size_t n = 0;
	while (n < len && text[n] != '\n' && text[n] != '\0')
		n++;
	bool nul = n < len && text[n] == '\0';
	if (n > 0 && text[n - 1] == '\r')
		n--;
	if ((st.st_mode & 0077) != 0) {
		char *user = geteuid() != 0 ? own_user_name() : NULL;
		fail(c, line,
		     "[mail] %s: %s: holds %s but is %s (mode %04o); run "
		     "chmod 600 %s and chown %s %s (%s)",
		     key, path, what, mode_words(st.st_mode, 0077),
		     (unsigned)(st.st_mode & 07777), path,
		     user != NULL ? user : "tidings", path,
		     user != NULL ? "the user tidingsd runs as"
				  : "or whichever user runs tidingsd");
		free(user);
	} else if (nul) {
		fail(c, line, "[mail] %s: %s: NUL byte in the first line", key,
		     path);
	} else if (n == 0) {
		fail(c, line,
		     "[mail] %s: %s: the first line is empty (it must hold the "
		     "password)",
		     key, path);
	} else {
		*secret_r = xstrndup(text, n);
	}
	explicit_bzero(text, len);
	free(text);
}

/* Drops a master password read from the file itself (flag
   BR_CONFIG_NO_MASTER_PASSWORD), wiping it first. */
static void drop_master_password(struct br_config *cfg)
{
	if (cfg->master_password == NULL)
		return;
	explicit_bzero(cfg->master_password, strlen(cfg->master_password));
	ut_free(&cfg->master_password);
}

/* br_config_parse(), and with from_file, what br_config_load() does with
   the result (flags, the master password file). */
static int parse(const char *name, const char *text, size_t len, unsigned flags,
		 bool from_file, struct br_config **cfg_r, char **error_r)
{
	static const struct br_ini_callbacks cbs = {section_cb, key_cb};
	struct ctx c = {.name = name, .cfg = xcalloc(1, sizeof(*c.cfg))};

	c.set_line = xcalloc(br_config__setting_count, sizeof(*c.set_line));
	c.cfg->path = xstrdup(name);
	for (size_t i = 0; i < br_config__setting_count; i++) {
		/* A default that does not parse is a bug in the table. */
		if (br_config__settings[i].def != NULL)
			ut_assert(br_ini_set_value(
				      c.cfg, &br_config__settings[i],
				      br_config__settings[i].def) == NULL);
	}
	if (br_ini_parse(name, text, len, &cbs, &c, &c.error) == 0)
		validate(&c);
	if (c.error == NULL && (flags & BR_CONFIG_NO_MASTER_PASSWORD) != 0)
		drop_master_password(c.cfg);
	else if (c.error == NULL && from_file) {
		if (c.cfg->master_password_file != NULL)
			read_password_file(&c, "master_password_file",
					   "the master password",
					   c.cfg->master_password_file,
					   &c.cfg->master_password);
		if (c.error == NULL && c.cfg->smtp_password_file != NULL)
			read_password_file(
			    &c, "smtp_password_file", "the SMTP password",
			    c.cfg->smtp_password_file, &c.cfg->smtp_password);
	}
	free(c.set_line);
	if (c.error != NULL) {
		br_config_free(&c.cfg);
		*error_r = c.error;
		return -1;
	}
	*cfg_r = c.cfg;
	return 0;
}

int br_config_parse(const char *name, const char *text, size_t len,
		    struct br_config **cfg_r, char **error_r)
{
	return parse(name, text, len, 0, false, cfg_r, error_r);
}

int br_config_load(const char *path, unsigned flags, struct br_config **cfg_r,
		   char **error_r)
{
	struct stat st;
	char *text;
	size_t len;

	if (br_ini_read_file(path, FILE_MAX_BYTES, &text, &len, &st, error_r) <
	    0)
		return -1;
	if ((st.st_mode & 0007) != 0) {
		*error_r = xasprintf(
		    "%s: holds secrets but is %s (mode %04o); run chmod %o %s",
		    path, mode_words(st.st_mode, 0007),
		    (unsigned)(st.st_mode & 07777),
		    (unsigned)(st.st_mode & 0640), path);
		explicit_bzero(text, len);
		free(text);
		return -1;
	}
	if ((st.st_mode & 0020) != 0)
		log_warn("%s: is writable by its group (mode %04o); consider "
			 "chmod %o %s",
			 path, (unsigned)(st.st_mode & 07777),
			 (unsigned)(st.st_mode & 0640), path);
	int ret = parse(path, text, len, flags, true, cfg_r, error_r);
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
	for (size_t i = 0; i < br_config__setting_count; i++) {
		if (br_config__settings[i].type == BR_INI_SECRET) {
			char *secret = *(char **)((char *)cfg +
						  br_config__settings[i].off);
			if (secret != NULL)
				explicit_bzero(secret, strlen(secret));
		}
		br_ini_free_value(cfg, &br_config__settings[i]);
	}
	for (size_t i = 0; i < cfg->domain_map_count; i++) {
		free(cfg->domain_maps[i].mail);
		free(cfg->domain_maps[i].xmpp);
	}
	free(cfg->domain_maps);
	if (cfg->smtp_password != NULL) {
		explicit_bzero(cfg->smtp_password, strlen(cfg->smtp_password));
		free(cfg->smtp_password);
	}
	free(cfg->trusted_uids);
	free(cfg->control_uids);
	free(cfg->path);
	ut_free(cfgp);
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
