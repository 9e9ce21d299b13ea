/*
 * The table of tidings' settings (type, default, range, description) and
 * the dump that `tidingsd -n` prints from it. The descriptions are what
 * examples/tidings.conf.example says about each key, shorter.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "br_config_private.h"
#include "ut_xalloc.h"

#define F(field) offsetof(struct br_config, field)
#define SECS(n)	 ((uint64_t)(n)*1000)

static const char *const tls_values[] = {"none", "starttls", "tls", NULL};
static const char *const type_values[] = {"chat", "normal", "headline", NULL};
static const char *const username_values[] = {"address", "localpart", NULL};
/* As enum br_hold_when (br_settings.h). */
static const char *const hold_values[] = {"never", "dnd", "away", NULL};
/* As enum br_nudge_mode (br_settings.h). */
static const char *const nudge_values[] = {"off", "offer", "auto", NULL};
/* As enum br_log_target. */
static const char *const target_values[] = {"stderr", "syslog", NULL};
static const char *const facility_values[] = {
    "mail",   "daemon", "user",	  "local0", "local1", "local2",
    "local3", "local4", "local5", "local6", "local7", NULL};

/* The order here is the order of the dump and of the example file. */
const struct br_ini_setting br_config__settings[] = {
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
     NULL, NULL, false,
     "Password of that master user. Exactly one of master_password and "
     "master_password_file is required."},
    {"mail", "master_password_file", BR_INI_STRING, F(master_password_file), 0,
     0, 0, NULL, NULL, false,
     "File whose first line (without the line end) is the master password, "
     "instead of master_password: an absolute path; it must be closed to "
     "its group and others (chmod 600, owned by tidingsd's user). "
     "tidings-auth never reads it, so tidings.conf can be readable by the "
     "XMPP server's group without giving it the master password."},
    {"mail", "imap_workers", BR_INI_UINT, F(imap_workers), 0, 1, 16, NULL, "2",
     false, "IMAP connections used at the same time for reconciliation."},
    {"mail", "imap_timeout", BR_INI_MSECS, F(imap_timeout_msecs), 0, SECS(1),
     SECS(600), NULL, "30s", false,
     "Longest wait for an IMAP connect or answer."},
    {"mail", "auth_master_socket", BR_INI_STRING, F(auth_master_socket), 0, 0,
     0, NULL, NULL, false,
     "Dovecot's auth-master (userdb) socket, to learn which uid owns a "
     "mailbox and whether a user still exists (needed by trusted_users = "
     "owner, and by tidings-auth to tell ejabberd whether a user "
     "exists)."},
    {"mail", "auth_client_socket", BR_INI_STRING, F(auth_client_socket), 0, 0,
     0, NULL, NULL, false,
     "Dovecot's auth-client socket, where tidings-auth (ejabberd's extauth "
     "helper) checks passwords."},

    {"mail", "smtp_host", BR_INI_STRING, F(smtp_host), 0, 0, 0, NULL, NULL,
     false,
     "Host name or address of the MTA that takes mail written in chat "
     "(e.g. 127.0.0.1, the local Postfix); unset: mail from chat is off."},
    {"mail", "smtp_port", BR_INI_PORT, F(smtp_port), 0, 0, 0, NULL, "25", false,
     "SMTP port of that MTA. It must relay for tidings (Postfix: "
     "mynetworks, or smtp_user with SASL)."},
    {"mail", "smtp_tls", BR_INI_ENUM, F(smtp_tls), 0, 0, 0, tls_values, "none",
     false,
     "TLS towards the MTA: none, starttls, or tls (implicit, usually port "
     "465). The certificate must be valid for smtp_host."},
    {"mail", "smtp_ca_file", BR_INI_STRING, F(smtp_ca_file), 0, 0, 0, NULL,
     NULL, false,
     "CA certificates (PEM) that sign the MTA's certificate (unset: the "
     "system's)."},
    {"mail", "smtp_user", BR_INI_STRING, F(smtp_user), 0, 0, 0, NULL, NULL,
     false,
     "SMTP AUTH user (unset: no AUTH). Needs smtp_password_file, and TLS "
     "unless smtp_host is loopback."},
    {"mail", "smtp_password_file", BR_INI_STRING, F(smtp_password_file), 0, 0,
     0, NULL, NULL, false,
     "File whose first line is smtp_user's password: an absolute path, "
     "closed to its group and others like master_password_file."},
    {"mail", "smtp_workers", BR_INI_UINT, F(smtp_workers), 0, 1, 16, NULL, "2",
     false, "SMTP connections used at the same time."},
    {"mail", "smtp_timeout", BR_INI_MSECS, F(smtp_timeout_msecs), 0, SECS(1),
     SECS(600), NULL, "30s", false,
     "Longest wait for an SMTP connect or answer."},
    {"mail", "send_limit", BR_INI_UINT, F(send_limit), 0, 1, 100000, NULL, "30",
     false,
     "Mails a user may send from chat per hour; beyond, they are told to "
     "wait."},
    {"mail", "reply_window", BR_INI_MSECS, F(reply_window_msecs), 0, 0,
     SECS(366 * 86400), NULL, "14d", false,
     "A chat to someone who mailed the user this recently answers their "
     "latest mail (Re:, In-Reply-To, References); 0: always a new mail."},
    {"mail", "send_body_max", BR_INI_SIZE, F(send_body_max), 0, 1024,
     16 * 1024 * 1024, NULL, "64K", false,
     "Largest text of a mail written in chat; a longer one is refused."},
    {"mail", "send_retry_max", BR_INI_MSECS, F(send_retry_max_msecs), 0,
     SECS(1), SECS(3600), NULL, "1m", false,
     "Longest wait between two tries when the MTA refuses for now (the "
     "wait doubles from 2 s up to this)."},
    {"mail", "send_expire", BR_INI_MSECS, F(send_expire_msecs), 0, SECS(60),
     SECS(30 * 86400), NULL, "5d", false,
     "A mail the MTA still refuses for now after this long is given up and "
     "the user told."},

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

    {"control", "socket", BR_INI_STRING, F(control_socket), 0, 0, 0, NULL, NULL,
     false,
     "UNIX stream socket where tidingsctl asks tidingsd (absolute path, "
     "e.g. /run/tidings/control.sock); unset: no control socket."},
    {"control", "socket_mode", BR_INI_MODE, F(control_mode), 0, 0, 0, NULL,
     "0660", false, "Permissions of the control socket."},
    {"control", "socket_group", BR_INI_STRING, F(control_group), 0, 0, 0, NULL,
     NULL, false,
     "Group given to the control socket (unset: tidingsd's own group)."},
    {"control", "trusted_users", BR_INI_LIST, F(control_users),
     F(control_user_count), 0, 0, NULL, "root", false,
     "Who may use the control socket, by the peer's uid: user names or "
     "numbers; root and tidingsd's own user always may. Others are "
     "refused."},

    {"metrics", "listen", BR_INI_STRING, F(metrics_listen), 0, 0, 0, NULL, NULL,
     false,
     "Serve OpenMetrics (Prometheus) at http://ADDRESS:PORT/metrics: PORT "
     "alone listens on 127.0.0.1; unset: no metrics."},

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
    {"notify", "nudge_remote", BR_INI_BOOL, F(nudge_remote), 0, 0, 0, NULL,
     "no", false,
     "Also nudge recipients at other domains (at their address's JID); "
     "no: only local recipients."},
    {"notify", "nudge_pair_limit", BR_INI_UINT, F(nudge_pair_limit), 0, 1, 1000,
     NULL, "5", false,
     "Nudges one user may send another per hour (each mail nudges a "
     "recipient at most once)."},

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
    {"defaults", "nudge", BR_INI_ENUM, F(default_nudge), 0, 0, 0, nudge_values,
     "offer", false,
     "Users' setting nudge: after a user sends a mail, off (nothing), "
     "offer (the Mail contact offers to remind the recipients over chat: "
     "reply nudge or nudge NAME), or auto (the reminders go at once)."},
    {"defaults", "receipts", BR_INI_BOOL, F(default_receipts), 0, 0, 0, NULL,
     "yes", false,
     "Users' setting receipts: tell them when a local recipient has read "
     "their mail (if that recipient's share_read allows it)."},
    {"defaults", "share_read", BR_INI_BOOL, F(default_share_read), 0, 0, 0,
     NULL, "yes", false,
     "Users' setting share_read: let local senders with receipts learn "
     "that the user has read their mail."},

    {"log", "level", BR_INI_LOGLEVEL, F(log_level), 0, 0, 0, NULL, "info",
     false, "error, warn, info, debug or trace."},
    {"log", "trace", BR_INI_TRACE, F(trace_mask), 0, 0, 0, NULL, "none", false,
     "With level = trace: comma-separated xmpp, imap, events, ledger, or "
     "all, or none."},
    {"log", "target", BR_INI_ENUM, F(log_target), 0, 0, 0, target_values,
     "stderr", false,
     "Where log lines go: stderr (the journal under systemd) or syslog."},
    {"log", "facility", BR_INI_WORD, F(log_facility), 0, 0, 0, facility_values,
     "mail", false,
     "Syslog facility with target = syslog: mail (as Postfix and Dovecot "
     "log), daemon, user or local0 to local7."},
};

const size_t br_config__setting_count = UT_N_ELEMENTS(br_config__settings);

bool br_config__needs_restart(const struct br_ini_setting *s)
{
	/* Whole sections whose values are taken once, at start. */
	static const char *const sections[] = {"xmpp", "state", "domains"};
	/* Keys of other sections, likewise. */
	static const char *const keys[] = {
	    "mail.domain",
	    "mail.username_format",
	    "mail.imap_host",
	    "mail.imap_port",
	    "mail.imap_tls",
	    "mail.imap_ca_file",
	    "mail.imap_allow_plaintext",
	    "mail.master_user",
	    "mail.master_password",
	    "mail.master_password_file",
	    "mail.imap_workers",
	    "mail.imap_timeout",
	    "mail.auth_master_socket",
	    "mail.auth_client_socket",
	    "mail.smtp_host",
	    "mail.smtp_port",
	    "mail.smtp_tls",
	    "mail.smtp_ca_file",
	    "mail.smtp_user",
	    "mail.smtp_password_file",
	    "mail.smtp_workers",
	    "mail.smtp_timeout",
	    "events.socket",
	    "events.socket_mode",
	    "events.socket_group",
	    "control.socket",
	    "control.socket_mode",
	    "control.socket_group",
	    "metrics.listen",
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(sections); i++)
		if (strcmp(s->section, sections[i]) == 0)
			return true;
	size_t n = strlen(s->section);
	for (size_t i = 0; i < UT_N_ELEMENTS(keys); i++)
		if (strncmp(keys[i], s->section, n) == 0 && keys[i][n] == '.' &&
		    strcmp(keys[i] + n + 1, s->key) == 0)
			return true;
	return false;
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
	for (size_t i = 0; i < br_config__setting_count; i++) {
		const struct br_ini_setting *s = &br_config__settings[i];
		if (section == NULL || strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(out, "\n[%s]\n", section);
		}
		dump_comment(out, s);
		/* A password read from master_password_file is not written
		   as master_password: the dump must read back, and one of the
		   two is allowed. */
		if (s->off == offsetof(struct br_config, master_password) &&
		    cfg->master_password_file != NULL) {
			fprintf(out,
				"# %s = (hidden, in master_password_file)\n",
				s->key);
			continue;
		}
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
	fprintf(out, "\n[%s]\n", BR_CONFIG_DOMAINS_SECTION);
	dump_comment(out,
		     &(const struct br_ini_setting){
			 .desc = "mail domain = XMPP domain, for each mail "
				 "domain whose users are not on [xmpp] "
				 "domain."});
	for (size_t i = 0; i < cfg->domain_map_count; i++)
		fprintf(out, "%s = %s\n", cfg->domain_maps[i].mail,
			cfg->domain_maps[i].xmpp);
}
