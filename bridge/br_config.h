#ifndef BR_CONFIG_H
#define BR_CONFIG_H

/*
 * tidingsd's configuration: an INI file ([section], key = value, ';' or '#'
 * comments on their own line). Read through one typed table of settings
 * (type, default, range, description) in br_config.c: the table is the
 * reference that examples/tidings.conf.example documents.
 *
 * Errors name "file:line: message". Unknown sections and keys are errors
 * (a typo must not silently become a default). Only the keys marked
 * required in ARCHITECTURE.md must be present; everything else has a
 * default.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ut_log.h"

enum br_username_format {
	BR_USERNAME_ADDRESS = 0, /* Dovecot users are local@domain */
	BR_USERNAME_LOCALPART,	 /* Dovecot users are local (one domain) */
};

enum br_imap_tls {
	BR_IMAP_TLS_NONE = 0,
	BR_IMAP_TLS_STARTTLS,
	BR_IMAP_TLS_IMPLICIT,
};

enum br_log_target {
	BR_LOG_STDERR = 0,
	BR_LOG_SYSLOG,
};

struct br_config {
	char *path;

	/* [xmpp] */
	char *component;	      /* required: component JID */
	char *xmpp_host;	      /* required */
	uint16_t xmpp_port;	      /* default 5347 */
	char *secret;		      /* required, secret */
	char *xmpp_domain;	      /* required: the served XMPP host */
	uint64_t reconnect_min_msecs; /* default 250 */
	uint64_t reconnect_max_msecs; /* default 30000 */
	uint64_t ping_timeout_msecs;  /* default 20000 */
	uint64_t max_stanza_bytes;    /* inbound stanza limit, default 4M */
	unsigned max_stanza_depth;    /* inbound nesting limit, default 64 */

	/* [mail] */
	char **mail_domains; /* required: "example.org, example.net" */
	size_t mail_domain_count;
	/* The XMPP domain of each mail domain (parallel to mail_domains):
	   from [domains], else [xmpp] domain. All different. */
	char **xmpp_domains;
	enum br_username_format username_format; /* default address */
	char *imap_host;			 /* required */
	uint16_t imap_port;			 /* default 143 */
	enum br_imap_tls imap_tls; /* none|starttls|tls, default none */
	char *imap_ca_file;	   /* default unset: the system's CAs */
	bool imap_allow_plaintext; /* none to a non-loopback host */
	char *master_user;	   /* required */
	/* Secret. Set in the file, or read by br_config_load() from the
	   first line of master_password_file (exactly one of the two is in
	   the file). NULL after br_config_parse() of a file that names
	   master_password_file, and with BR_CONFIG_NO_MASTER_PASSWORD. */
	char *master_password;
	char *master_password_file;  /* absolute path, or NULL */
	unsigned imap_workers;	     /* default 2, 1..16 */
	uint64_t imap_timeout_msecs; /* default 30000 */
	char *auth_master_socket;    /* Dovecot's auth-master/userdb socket */
	char *auth_client_socket;    /* Dovecot's auth-client (passwords) */
	/* Mail from chat (issue 7): off while smtp_host is NULL. */
	char *smtp_host;
	uint16_t smtp_port;	       /* default 25 */
	enum br_imap_tls smtp_tls;     /* none|starttls|tls, default none */
	char *smtp_ca_file;	       /* default unset: the system's CAs */
	char *smtp_user;	       /* AUTH; with smtp_password_file */
	char *smtp_password_file;      /* absolute path, or NULL */
	char *smtp_password;	       /* read from it by br_config_load() */
	unsigned smtp_workers;	       /* default 2, 1..16 */
	uint64_t smtp_timeout_msecs;   /* default 30000 */
	unsigned send_limit;	       /* mails per user per hour, default 30 */
	uint64_t reply_window_msecs;   /* default 14 days */
	uint64_t send_body_max;	       /* bytes of a body, default 64K */
	uint64_t send_retry_max_msecs; /* backoff cap, default 60000 */
	uint64_t send_expire_msecs;    /* give up after, default 5 days */

	/* [events] */
	char *events_socket;  /* required */
	unsigned socket_mode; /* default 0660 */
	char *socket_group;   /* default unset */
	/* trusted_users as written, and resolved: who may send events. */
	char **trusted_users;
	size_t trusted_user_count;
	unsigned *trusted_uids; /* besides root */
	size_t trusted_uid_count;
	bool trust_owner; /* "owner": the mailbox's own uid (userdb) */
	bool trust_any;	  /* "any": no check */

	/* [state] */
	char *state_dir; /* required */

	/* [control]: tidingsctl's socket (issue 9); off while NULL. */
	char *control_socket;
	unsigned control_mode; /* default 0660 */
	char *control_group;   /* default unset: tidingsd's own group */
	/* Who may use it besides root and tidingsd's own uid, as written and
	   resolved (user names or numbers). */
	char **control_users;
	size_t control_user_count;
	unsigned *control_uids;
	size_t control_uid_count;

	/* [metrics]: OpenMetrics over HTTP; off while NULL. "PORT" (loopback),
	   "ADDRESS:PORT" or "[ADDRESS]:PORT". */
	char *metrics_listen;

	/* [notify] */
	char *message_type; /* chat|normal|headline, default chat */
	unsigned burst_max; /* single notifications per window, default 3 */
	uint64_t burst_window_msecs; /* default 10000 */
	unsigned digest_list_max;    /* entries listed in a digest, default 15,
					at least 10 */
	unsigned snippet_max;	     /* bytes of snippet shown, default 160; 0
					= no snippet */
	char **mailboxes;	     /* mailboxes notified, default "INBOX" */
	size_t mailbox_count;
	unsigned reconcile_list_max; /* mails fetched per reconciliation,
					default 50 */
	uint64_t gap_delay_msecs;    /* wait before fetching a UID gap,
					default 2000 */
	bool nudge_remote;	     /* nudge recipients at other domains too,
					default no */
	unsigned nudge_pair_limit;   /* nudges per sender->recipient pair
					per hour, default 5, 1..1000 */

	/* [domains]: mail domain = XMPP domain, as written. */
	struct br_domain_map {
		char *mail, *xmpp;
		unsigned line;
	} * domain_maps;
	size_t domain_map_count;

	/* [defaults]: users' settings until they change them (br_settings.h) */
	bool default_notify;	       /* default yes */
	bool default_summary_on_login; /* default yes */
	int default_hold_when;	       /* enum br_hold_when, default dnd */
	int default_nudge;	       /* enum br_nudge_mode, default offer */
	bool default_receipts;	       /* default yes */
	bool default_share_read;       /* default yes */

	/* [log] */
	enum ut_log_level log_level; /* default info */
	unsigned trace_mask;	     /* default none */
	int log_target;		     /* enum br_log_target, default stderr */
	char *log_facility;	     /* syslog facility, default mail */
};

/* Flags of br_config_load(). */
enum br_config_load_flags {
	/*
	 * For a program that has no use for the master password and must not
	 * hold it: tidings-auth, which runs as the XMPP server's user.
	 * Neither master_password_file nor smtp_password_file is opened or
	 * checked; master_password_file is neither opened nor checked (its path
	 * is kept, so the caller can tell the two forms apart), and a
	 * master_password set in the file itself is wiped once parsed: either
	 * way cfg->master_password is NULL. The file must still be a valid
	 * configuration for tidingsd (exactly one of the two keys).
	 */
	BR_CONFIG_NO_MASTER_PASSWORD = 1u << 0,
};

/*
 * Reads path. Refuses a file that other users can read or write (it holds
 * secrets): the error says which mode to set. Unless flags say otherwise,
 * reads the master password from [mail] master_password_file, refusing a
 * file its group or others may access (the error says the chmod and chown
 * to run). Returns 0, or -1 with an xmalloc'ed "file:line: message" (or
 * "file: message") in *error_r. The files' text is wiped from memory once
 * parsed; br_config_free() wipes the secrets. flags: enum
 * br_config_load_flags or 0.
 */
int br_config_load(const char *path, unsigned flags, struct br_config **cfg_r,
		   char **error_r);
/* Parses text as if read from a file named name, without the mode check
   and without opening master_password_file (tests, fuzzing). Same return
   convention. */
int br_config_parse(const char *name, const char *text, size_t len,
		    struct br_config **cfg_r, char **error_r);
void br_config_free(struct br_config **cfg);
/* Writes the effective settings as INI, secrets as "(hidden)"; with
   master_password_file, master_password is a comment (so that the dump
   reads back). */
void br_config_dump(const struct br_config *cfg, FILE *out);
/* True if mailbox is one of cfg->mailboxes (exact match; "INBOX" any case). */
bool br_config_mailbox_notified(const struct br_config *cfg,
				const char *mailbox);

#endif
