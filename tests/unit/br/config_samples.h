/*
 * Sample configurations shared by the config tests: the smallest valid one
 * and one that sets every key to something other than its default.
 * Include after test.h.
 */
#ifndef CONFIG_SAMPLES_H
#define CONFIG_SAMPLES_H

#include <stdlib.h>
#include <string.h>

#include "br_config.h"

/* Only the keys every deployment needs. */
static const char minimal[] = "[xmpp]\n"			/* 1 */
			      "component = mail.example.org\n"	/* 2 */
			      "host = 127.0.0.1\n"		/* 3 */
			      "secret = s3cr3t-comp\n"		/* 4 */
			      "domain = example.org\n"		/* 5 */
			      "[mail]\n"			/* 6 */
			      "domain = example.org\n"		/* 7 */
			      "imap_host = 127.0.0.1\n"		/* 8 */
			      "master_user = tidings\n"		/* 9 */
			      "master_password = m4st3r-pw\n"	/* 10 */
			      "[events]\n"			/* 11 */
			      "socket = /run/tidings/ev.sock\n" /* 12 */
			      "[state]\n"			/* 13 */
			      "dir = /var/lib/tidings\n";	/* 14 */

static struct br_config *parse_ok(const char *text)
{
	struct br_config *cfg = NULL;
	char *error = NULL;
	int ret = br_config_parse("t.conf", text, strlen(text), &cfg, &error);
	T_CHECK_INT(ret, 0);
	if (error != NULL)
		fprintf(stderr, "unexpected error: %s\n", error);
	free(error);
	return cfg;
}

/* Every type with a value other than its default, plus the format's corners:
   CRLF, blanks, comments of both kinds, quotes, '#' inside a value, a
   section given twice. */
static const char full[] = "; tidings\r\n"
			   "   # indented comment\n"
			   "\n"
			   "[ xmpp ]\n"
			   "component=Mail.Example.ORG\n"
			   "\thost\t=\txmpp.example.org  \r\n"
			   "port = 5348\n"
			   "secret = \"  #not a comment; \"\n"
			   "domain = example.org\n"
			   "reconnect_min = 500ms\n"
			   "reconnect_max = 1h\n"
			   "ping_timeout = 2m\n"
			   "max_stanza_size = 512k\n"
			   "max_stanza_depth = 20\n"
			   "[mail]\n"
			   "domain =  example.org ,example.net,  ex-ample.com\n"
			   "imap_host = imap.example.org\n"
			   "imap_port = 993\n"
			   "imap_tls = tls\n"
			   "imap_ca_file = /etc/tidings/ca.pem\n"
			   "imap_allow_plaintext = yes\n"
			   "auth_master_socket = /run/dovecot/auth-userdb\n"
			   "master_user = tidings\n"
			   "master_password = p#w;\"x\n"
			   "imap_workers = 16\n"
			   "imap_timeout = 45\n"
			   "[events]\n"
			   "socket = /run/tidings/events.sock\n"
			   "socket_mode = 0600\n"
			   "socket_group = dovecot\n"
			   "trusted_users = 8, root, owner\n"
			   "[domains]\n"
			   "Example.NET = chat.example.net\n"
			   "ex-ample.com = ex-ample.com\n"
			   "[state]\n"
			   "dir = \"/var/lib/tidings\"\n"
			   "[notify]\n"
			   "message_type = headline\n"
			   "burst_max = 0\n"
			   "burst_window = 1m\n"
			   "digest_list_max = 10\n"
			   "snippet_max = 0\n"
			   "mailboxes = INBOX, Lists/Work\n"
			   "reconcile_list_max = 10000\n"
			   "gap_delay = 0\n"
			   "[log]\n"
			   "level = trace\n"
			   "trace = xmpp, ledger\n"
			   "[xmpp]\n";

static void check_full(const struct br_config *cfg)
{
	T_CHECK_STR(cfg->component, "Mail.Example.ORG");
	T_CHECK_STR(cfg->xmpp_host, "xmpp.example.org");
	T_CHECK_INT(cfg->xmpp_port, 5348);
	T_CHECK_INT(cfg->reconnect_min_msecs, 500);
	T_CHECK_INT(cfg->reconnect_max_msecs, 3600000);
	T_CHECK_INT(cfg->ping_timeout_msecs, 120000);
	T_CHECK_INT(cfg->mail_domain_count, 3);
	if (cfg->mail_domain_count == 3) {
		T_CHECK_STR(cfg->mail_domains[0], "example.org");
		T_CHECK_STR(cfg->mail_domains[1], "example.net");
		T_CHECK_STR(cfg->mail_domains[2], "ex-ample.com");
	}
	T_CHECK_INT(cfg->max_stanza_bytes, 512 * 1024);
	T_CHECK_INT(cfg->max_stanza_depth, 20);
	T_CHECK_INT(cfg->domain_map_count, 2);
	if (cfg->mail_domain_count == 3) {
		T_CHECK_STR(cfg->xmpp_domains[0], "example.org");
		T_CHECK_STR(cfg->xmpp_domains[1], "chat.example.net");
		T_CHECK_STR(cfg->xmpp_domains[2], "ex-ample.com");
	}
	T_CHECK_STR(cfg->imap_ca_file, "/etc/tidings/ca.pem");
	T_CHECK(cfg->imap_allow_plaintext);
	T_CHECK_STR(cfg->auth_master_socket, "/run/dovecot/auth-userdb");
	T_CHECK_INT(cfg->trusted_user_count, 3);
	T_CHECK_INT(cfg->trusted_uid_count, 1);
	if (cfg->trusted_uid_count == 1)
		T_CHECK_INT(cfg->trusted_uids[0], 8);
	T_CHECK(cfg->trust_owner && !cfg->trust_any);
	T_CHECK_INT(cfg->imap_port, 993);
	T_CHECK_INT(cfg->imap_tls, BR_IMAP_TLS_IMPLICIT);
	T_CHECK_INT(cfg->imap_workers, 16);
	T_CHECK_INT(cfg->imap_timeout_msecs, 45000);
	T_CHECK_STR(cfg->events_socket, "/run/tidings/events.sock");
	T_CHECK_INT(cfg->socket_mode, 0600);
	T_CHECK_STR(cfg->socket_group, "dovecot");
	T_CHECK_STR(cfg->state_dir, "/var/lib/tidings");
	T_CHECK_STR(cfg->message_type, "headline");
	T_CHECK_INT(cfg->burst_max, 0);
	T_CHECK_INT(cfg->burst_window_msecs, 60000);
	T_CHECK_INT(cfg->digest_list_max, 10);
	T_CHECK_INT(cfg->snippet_max, 0);
	T_CHECK_INT(cfg->mailbox_count, 2);
	if (cfg->mailbox_count == 2)
		T_CHECK_STR(cfg->mailboxes[1], "Lists/Work");
	T_CHECK_INT(cfg->reconcile_list_max, 10000);
	T_CHECK_INT(cfg->gap_delay_msecs, 0);
	T_CHECK_INT(cfg->log_level, UT_LOG_TRACE);
	T_CHECK_INT(cfg->trace_mask, UT_TRACE_XMPP | UT_TRACE_LEDGER);
}

#endif
