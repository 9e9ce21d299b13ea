/*
 * Tests of the configuration parser: every setting type, defaults, and the
 * exact "file:line: message" of each error. test_config_file.c covers
 * files, their mode, the dump and the example file.
 */
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "ut_buf.h"
#include "test.h"
#include "ut_xalloc.h"

#include "config_samples.h"

/* Parses minimal + extra (len bytes of extra, NULs allowed); returns the
   error text (malloc'ed) or NULL. */
static char *parse_err_len(const char *extra, size_t len)
{
	struct ut_buf b = UT_BUF_INIT;
	struct br_config *cfg = NULL;
	char *error = NULL;

	ut_buf_append_str(&b, minimal);
	ut_buf_append(&b, extra, len);
	int ret = br_config_parse("t.conf", b.data, b.len, &cfg, &error);
	ut_buf_free(&b);
	if (ret == 0) {
		T_CHECK(cfg != NULL);
		br_config_free(&cfg);
		return NULL;
	}
	T_CHECK(cfg == NULL);
	return error;
}

static void check_err(const char *extra, const char *want)
{
	char *error = parse_err_len(extra, strlen(extra));
	T_CHECK_STR(error, want);
	free(error);
}

static void test_minimal_defaults(void)
{
	struct br_config *cfg = parse_ok(minimal);
	if (cfg == NULL)
		return;
	T_CHECK_STR(cfg->path, "t.conf");
	T_CHECK_STR(cfg->component, "mail.example.org");
	T_CHECK_STR(cfg->xmpp_host, "127.0.0.1");
	T_CHECK_INT(cfg->xmpp_port, 5347);
	T_CHECK_STR(cfg->secret, "s3cr3t-comp");
	T_CHECK_STR(cfg->xmpp_domain, "example.org");
	T_CHECK_INT(cfg->reconnect_min_msecs, 250);
	T_CHECK_INT(cfg->reconnect_max_msecs, 30000);
	T_CHECK_INT(cfg->ping_timeout_msecs, 20000);
	T_CHECK_INT(cfg->mail_domain_count, 1);
	T_CHECK_STR(cfg->mail_domains[0], "example.org");
	T_CHECK_STR(cfg->imap_host, "127.0.0.1");
	T_CHECK_INT(cfg->imap_port, 143);
	T_CHECK_INT(cfg->imap_tls, BR_IMAP_TLS_NONE);
	T_CHECK_STR(cfg->master_user, "tidings");
	T_CHECK_STR(cfg->master_password, "m4st3r-pw");
	T_CHECK_INT(cfg->imap_workers, 2);
	T_CHECK_INT(cfg->imap_timeout_msecs, 30000);
	T_CHECK_STR(cfg->events_socket, "/run/tidings/ev.sock");
	T_CHECK_INT(cfg->socket_mode, 0660);
	T_CHECK(cfg->socket_group == NULL);
	T_CHECK_STR(cfg->state_dir, "/var/lib/tidings");
	T_CHECK_STR(cfg->message_type, "chat");
	T_CHECK_INT(cfg->burst_max, 3);
	T_CHECK_INT(cfg->burst_window_msecs, 10000);
	T_CHECK_INT(cfg->digest_list_max, 15);
	T_CHECK_INT(cfg->snippet_max, 160);
	T_CHECK_INT(cfg->mailbox_count, 1);
	T_CHECK_STR(cfg->mailboxes[0], "INBOX");
	T_CHECK_INT(cfg->reconcile_list_max, 50);
	T_CHECK_INT(cfg->gap_delay_msecs, 2000);
	T_CHECK(!cfg->nudge_remote);
	T_CHECK_INT(cfg->nudge_pair_limit, 5);
	T_CHECK_INT(cfg->log_level, UT_LOG_INFO);
	T_CHECK_INT(cfg->trace_mask, 0);
	br_config_free(&cfg);
	T_CHECK(cfg == NULL);
	br_config_free(&cfg); /* NULL is fine */
}

static void test_every_type(void)
{
	struct br_config *cfg = parse_ok(full);
	if (cfg == NULL)
		return;
	check_full(cfg);
	T_CHECK_STR(cfg->secret, "  #not a comment; ");
	T_CHECK_STR(cfg->master_password, "p#w;\"x");
	br_config_free(&cfg);

	/* The other spellings of enums, traces and durations. */
	cfg = parse_ok("[mail]\nimap_tls = starttls\n[log]\ntrace = all\n"
		       "level = warn\n[notify]\nmessage_type = normal\n"
		       "burst_window = 250ms\nnudge_remote = yes\n"
		       "nudge_pair_limit = 1000\n[xmpp]\nreconnect_min = 1s\n"
		       "[xmpp]\ncomponent = m.x\nhost = h\nsecret = s\n"
		       "domain = x\n[mail]\ndomain = x\nimap_host = localhost\n"
		       "master_user = u\nmaster_password = p\n[events]\n"
		       "socket = /s\n[state]\ndir = /\n");
	if (cfg == NULL)
		return;
	T_CHECK_INT(cfg->imap_tls, BR_IMAP_TLS_STARTTLS);
	T_CHECK_INT(cfg->trace_mask, ~0u);
	T_CHECK_INT(cfg->log_level, UT_LOG_WARN);
	T_CHECK_STR(cfg->message_type, "normal");
	T_CHECK_INT(cfg->burst_window_msecs, 250);
	T_CHECK_INT(cfg->reconnect_min_msecs, 1000);
	T_CHECK(cfg->nudge_remote);
	T_CHECK_INT(cfg->nudge_pair_limit, 1000);
	br_config_free(&cfg);
}

static void test_syntax_errors(void)
{
	check_err("[foo]\n", "t.conf:15: unknown section [foo]");
	check_err("[xmpp\n", "t.conf:15: expected ']' at the end of the line");
	check_err("[xmpp]\nprot = 1\n",
		  "t.conf:16: unknown key 'prot' in [xmpp]");
	check_err("[events]\nhost = x\n",
		  "t.conf:16: unknown key 'host' in [events]");
	check_err("[xmpp]\n\n; c\nhost = again\n",
		  "t.conf:18: duplicate key [xmpp] host (first set on line 3)");
	check_err("[xmpp]\nport 5347\n",
		  "t.conf:16: expected 'key = value', '[section]' or a "
		  "comment");
	check_err("[xmpp]\n = 5\n", "t.conf:16: missing key before '='");
	check_err("[xmpp]\nport =  \n",
		  "t.conf:16: port: empty value (leave the key out to get its "
		  "default)");
	check_err("[xmpp]\nport = \"\"\n",
		  "t.conf:16: port: empty value (leave the key out to get its "
		  "default)");
	check_err("[xmpp]\nport = \"5347\n",
		  "t.conf:16: port: unterminated quote");
	check_err("[xmpp]\nport = \"\n", "t.conf:16: port: unterminated quote");
	check_err("[log]\nlevel = in\x01fo\n",
		  "t.conf:16: level: control character in value");
	check_err("[log]\nlevel = \xc3\x28\n",
		  "t.conf:16: level: value is not valid UTF-8");

	/* A key before any section: only the start of a file can have one. */
	struct br_config *cfg = NULL;
	char *error = NULL;
	T_CHECK_INT(br_config_parse("t.conf", "port = 1\n", 9, &cfg, &error),
		    -1);
	T_CHECK_STR(error, "t.conf:1: key 'port' before any [section]");
	free(error);

	/* NUL anywhere in a line, even in a comment. */
	error = parse_err_len("# a\0b\n", 6);
	T_CHECK_STR(error, "t.conf:15: NUL byte in line");
	free(error);

	/* 4096 bytes are fine, 4097 are not. */
	char line[4100];
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	line[4096] = '\n';
	error = parse_err_len(line, 4097);
	T_CHECK(error == NULL);
	free(error);
	line[4096] = 'x';
	line[4097] = '\n';
	error = parse_err_len(line, 4098);
	T_CHECK_STR(error, "t.conf:15: line longer than 4096 bytes");
	free(error);
}

static void test_value_errors(void)
{
	check_err("[xmpp]\nport = 0\n",
		  "t.conf:16: [xmpp] port: '0' is not a port number from 1 "
		  "to 65535");
	check_err("[mail]\nimap_port = 65536\n",
		  "t.conf:16: [mail] imap_port: '65536' is not a port number "
		  "from 1 to 65535");
	check_err("[mail]\nimap_workers = 53x7\n",
		  "t.conf:16: [mail] imap_workers: '53x7' is not a whole "
		  "number from 1 to 16");
	check_err("[mail]\nimap_workers = 0\n",
		  "t.conf:16: [mail] imap_workers: '0' is not a whole number "
		  "from 1 to 16");
	check_err("[notify]\ndigest_list_max = 9\n",
		  "t.conf:16: [notify] digest_list_max: '9' is not a whole "
		  "number from 10 to 1000");
	check_err("[notify]\nnudge_pair_limit = 0\n",
		  "t.conf:16: [notify] nudge_pair_limit: '0' is not a whole "
		  "number from 1 to 1000");
	check_err("[defaults]\nnudge = on\n",
		  "t.conf:16: [defaults] nudge: 'on' is not one of off, "
		  "offer, auto");
	check_err("[notify]\nburst_max = -1\n",
		  "t.conf:16: [notify] burst_max: '-1' is not a whole number "
		  "from 0 to 1000");
	check_err("[xmpp]\nping_timeout = 5x\n",
		  "t.conf:16: [xmpp] ping_timeout: '5x' is not a duration "
		  "such as 500ms, 5s, 2m, 1h or 14d, from 1000ms to 600000ms");
	check_err("[xmpp]\nreconnect_min = 9ms\n",
		  "t.conf:16: [xmpp] reconnect_min: '9ms' is not a duration "
		  "such as 500ms, 5s, 2m, 1h or 14d, from 10ms to 60000ms");
	check_err("[events]\nsocket_mode = 0888\n",
		  "t.conf:16: [events] socket_mode: '0888' is not an octal "
		  "file mode such as 0660");
	check_err("[events]\nsocket_mode = 01777\n",
		  "t.conf:16: [events] socket_mode: '01777' is not an octal "
		  "file mode such as 0660");
	check_err("[mail]\nimap_tls = ssl\n",
		  "t.conf:16: [mail] imap_tls: 'ssl' is not one of none, "
		  "starttls, tls");
	check_err("[notify]\nmessage_type = Chat\n",
		  "t.conf:16: [notify] message_type: 'Chat' is not one of "
		  "chat, normal, headline");
	check_err("[notify]\nmailboxes = INBOX,,Sent\n",
		  "t.conf:16: [notify] mailboxes: 'INBOX,,Sent' is not a "
		  "comma-separated list without empty items");
	check_err("[notify]\nmailboxes = INBOX, \n",
		  "t.conf:16: [notify] mailboxes: 'INBOX,' is not a "
		  "comma-separated list without empty items");
	check_err("[xmpp]\nmax_stanza_size = 10k\n",
		  "t.conf:16: [xmpp] max_stanza_size: '10k' is not a size "
		  "such as 64k or 4M, from 65536 to 67108864 bytes");
	check_err("[xmpp]\nmax_stanza_depth = 2\n",
		  "t.conf:16: [xmpp] max_stanza_depth: '2' is not a whole "
		  "number from 8 to 1000");
	check_err("[mail]\nimap_allow_plaintext = maybe\n",
		  "t.conf:16: [mail] imap_allow_plaintext: 'maybe' is not yes "
		  "or no");
	check_err("[mail]\nusername_format = email\n",
		  "t.conf:16: [mail] username_format: 'email' is not one of "
		  "address, localpart");
	check_err("[domains]\nexample.org = not a domain\n",
		  "t.conf:16: [domains] example.org: 'not a domain' is not a "
		  "domain name such as chat.example.org");
	check_err("[domains]\nexample.org = a.org\nExample.ORG = b.org\n",
		  "t.conf:17: duplicate key [domains] Example.ORG (first set "
		  "on line 16)");
	check_err("[log]\nlevel = verbose\n",
		  "t.conf:16: [log] level: 'verbose' is not one of error, "
		  "warn, info, debug, trace");
	check_err("[log]\ntrace = xmpp,smtp\n",
		  "t.conf:16: [log] trace: 'xmpp,smtp' is not a "
		  "comma-separated list of xmpp, imap, events, ledger, or "
		  "all, or none");
}

/* Parses minimal with line n (1-based) replaced by repl; returns the
   error (malloc'ed) or NULL. */
static char *line_err(unsigned n, const char *repl)
{
	struct ut_buf b = UT_BUF_INIT;
	const char *p = minimal;
	struct br_config *cfg = NULL;
	char *error = NULL;

	for (unsigned i = 1; *p != '\0'; i++) {
		size_t len = strcspn(p, "\n") + 1;
		if (i == n)
			ut_buf_append_str(&b, repl);
		else
			ut_buf_append(&b, p, len);
		p += len;
	}
	if (br_config_parse("t.conf", b.data, b.len, &cfg, &error) == 0)
		br_config_free(&cfg);
	ut_buf_free(&b);
	return error;
}

static void check_line_err(unsigned n, const char *repl, const char *want)
{
	char *error = line_err(n, repl);
	T_CHECK_STR(error, want);
	free(error);
}

static void test_validation(void)
{
	check_line_err(10, "",
		       "t.conf: missing required key [mail] "
		       "master_password (or master_password_file)");
	check_line_err(2, "", "t.conf: missing required key [xmpp] component");
	check_line_err(14, "; no dir\n",
		       "t.conf: missing required key [state] dir");
	check_line_err(2, "component = mail_example.org\n",
		       "t.conf:2: [xmpp] component: 'mail_example.org' is not "
		       "a domain name such as mail.example.org");
	check_line_err(2, "component = mail..org\n",
		       "t.conf:2: [xmpp] component: 'mail..org' is not a "
		       "domain name such as mail.example.org");
	check_line_err(5, "domain = -example.org\n",
		       "t.conf:5: [xmpp] domain: '-example.org' is not a "
		       "domain name such as example.org");
	check_line_err(
	    5, "domain = MAIL.example.org\n",
	    "t.conf:2: [xmpp] component must differ from [xmpp] "
	    "domain (use a subdomain such as mail.MAIL.example.org)");
	check_line_err(7, "domain = example.org, exa mple.net\n",
		       "t.conf:7: [mail] domain: 'exa mple.net' is not a "
		       "domain name");
	check_line_err(12, "socket = run/ev.sock\n",
		       "t.conf:12: [events] socket: must be an absolute path");
	check_line_err(14, "dir = var/lib/tidings\n",
		       "t.conf:14: [state] dir: must be an absolute path");
	check_err("[xmpp]\nreconnect_min = 60s\nreconnect_max = 1s\n",
		  "t.conf:16: [xmpp] reconnect_min is larger than "
		  "reconnect_max");

	/* Several mail domains: each its own XMPP domain. */
	check_line_err(7, "domain = example.org, example.net\n",
		       "t.conf:7: [mail] domain: example.org and example.net "
		       "would both map to the XMPP domain example.org: give "
		       "each its own in [domains]");
	check_err("[domains]\nother.org = chat.other.org\n",
		  "t.conf:16: [domains] other.org: not one of the mail "
		  "domains of [mail] domain");
	check_err("[domains]\nexample.org = mail.example.org\n",
		  "t.conf:16: [domains] example.org: the XMPP domain must "
		  "differ from [xmpp] component");
	check_line_err(7,
		       "domain = example.org, example.net\n[domains]\n"
		       "example.net = example.org\n[mail]\n",
		       "t.conf:9: [domains] example.net: maps to the XMPP "
		       "domain example.org like example.org: each mail domain "
		       "needs its own");
	char *error = line_err(7, "domain = example.org, example.net\n"
				  "[domains]\nexample.net = chat.example.net\n"
				  "[mail]\n");
	T_CHECK(error == NULL);
	free(error);
	check_line_err(7,
		       "domain = example.org, example.net\n"
		       "username_format = localpart\n",
		       "t.conf:8: [mail] username_format = localpart needs "
		       "exactly one [mail] domain");

	/* The master password never crosses a network in clear unless the
	   admin says so. */
	check_line_err(8, "imap_host = imap.example.org\n",
		       "t.conf:8: [mail] imap_host: imap.example.org is not a "
		       "loopback address, and with imap_tls = none the master "
		       "password would cross the network in clear: set "
		       "imap_tls = starttls or tls, or imap_allow_plaintext = "
		       "yes");
	static const char *const fine[] = {
	    "imap_host = imap.example.org\nimap_tls = starttls\n",
	    "imap_host = imap.example.org\nimap_tls = tls\n",
	    "imap_host = imap.example.org\nimap_allow_plaintext = yes\n",
	    "imap_host = localhost\n",
	    "imap_host = ::1\n",
	    "imap_host = 127.0.0.2\n",
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(fine); i++) {
		error = line_err(8, fine[i]);
		T_CHECK(error == NULL);
		free(error);
	}

	/* Who may send events. */
	check_err("[events]\ntrusted_users = no-such-user-here\n",
		  "t.conf:16: [events] trusted_users: no such user: "
		  "no-such-user-here");
	check_err("[events]\ntrusted_users = any, mail\n",
		  "t.conf:16: [events] trusted_users: 'any' turns the check "
		  "off and goes alone");
	check_err("[events]\ntrusted_users = owner\n",
		  "t.conf:16: [events] trusted_users: 'owner' needs [mail] "
		  "auth_master_socket (Dovecot's userdb tells whose mailbox "
		  "it is)");
	/* Who may use the control socket; the log's target. */
	check_err("[control]\ntrusted_users = no-such-user-here\n",
		  "t.conf:16: [control] trusted_users: no such user: "
		  "no-such-user-here");
	check_err("[control]\nsocket = run/control.sock\n",
		  "t.conf:16: [control] socket: must be an absolute path "
		  "shorter than 108 bytes");
	check_err("[log]\ntarget = journal\n",
		  "t.conf:16: [log] target: 'journal' is not one of stderr, "
		  "syslog");
	check_err("[log]\nfacility = kern\n",
		  "t.conf:16: [log] facility: 'kern' is not one of mail, "
		  "daemon, user, local0, local1, local2, local3, local4, "
		  "local5, local6, local7");
	struct br_config *cfg =
	    parse_ok("[events]\ntrusted_users = root, mail, 4242\n[xmpp]\n"
		     "component = m.x\nhost = h\nsecret = s\ndomain = x\n"
		     "[mail]\ndomain = x\nimap_host = localhost\n"
		     "master_user = u\nmaster_password = p\n[events]\n"
		     "socket = /s\n[state]\ndir = /\n");
	if (cfg != NULL) {
		T_CHECK_INT(cfg->trusted_uid_count, 2);
		if (cfg->trusted_uid_count == 2) {
			T_CHECK_INT(cfg->trusted_uids[0],
				    8); /* Debian's mail */
			T_CHECK_INT(cfg->trusted_uids[1], 4242);
		}
		T_CHECK(!cfg->trust_owner && !cfg->trust_any);
	}
	br_config_free(&cfg);

	/* sun_path holds 107 bytes and the NUL. */
	struct ut_buf b = UT_BUF_INIT;
	ut_buf_append_str(&b, "socket = /");
	for (int i = 0; i < 106; i++)
		ut_buf_append_c(&b, 'a');
	ut_buf_append_c(&b, '\n');
	error = line_err(12, b.data);
	T_CHECK(error == NULL);
	free(error);
	ut_buf_reset(&b);
	ut_buf_append_str(&b, "socket = /");
	for (int i = 0; i < 107; i++)
		ut_buf_append_c(&b, 'a');
	ut_buf_append_c(&b, '\n');
	check_line_err(12, b.data,
		       "t.conf:12: [events] socket: path longer than 107 "
		       "bytes");
	ut_buf_free(&b);
}

/* Exactly one of master_password and master_password_file. Parsing
   never opens the file (br_config_load() does: test_config_file.c). */
static void test_master_password_file(void)
{
	struct br_config *cfg = NULL;
	char *error = line_err(
	    10, "master_password_file = /no/such/dir/master-password\n");
	T_CHECK(error == NULL);
	free(error);
	cfg = parse_ok("[xmpp]\ncomponent = m.x\nhost = h\nsecret = s\n"
		       "domain = x\n[mail]\ndomain = x\nimap_host = localhost\n"
		       "master_user = u\n"
		       "master_password_file = \"/etc/tidings/master pw\"\n"
		       "[events]\nsocket = /s\n[state]\ndir = /\n");
	if (cfg != NULL) {
		T_CHECK_STR(cfg->master_password_file,
			    "/etc/tidings/master pw");
		T_CHECK(cfg->master_password == NULL);
	}
	br_config_free(&cfg);
	cfg = parse_ok(minimal);
	if (cfg != NULL)
		T_CHECK(cfg->master_password_file == NULL);
	br_config_free(&cfg);

	check_err("[mail]\nmaster_password_file = /etc/tidings/mpw\n",
		  "t.conf:16: [mail] master_password and master_password_file "
		  "are both set (lines 10 and 16): keep one");
	check_line_err(10, "master_password_file = /a\nmaster_password = p\n",
		       "t.conf:11: [mail] master_password and "
		       "master_password_file are both set (lines 10 and 11): "
		       "keep one");
	check_line_err(10, "master_password_file = etc/tidings/mpw\n",
		       "t.conf:10: [mail] master_password_file: must be an "
		       "absolute path");
	check_line_err(10, "master_password_file =\n",
		       "t.conf:10: master_password_file: empty value (leave "
		       "the key out to get its default)");
	check_err("[mail]\nmaster_password_file = /a\nmaster_password_file "
		  "= /b\n",
		  "t.conf:17: duplicate key [mail] master_password_file "
		  "(first set on line 16)");
}

/* [mail] smtp_*: off by default; AUTH needs its password file, and TLS
   unless the MTA is on loopback. */
static void test_smtp(void)
{
	struct br_config *cfg = parse_ok(minimal);
	if (cfg != NULL) {
		T_CHECK(cfg->smtp_host == NULL);
		T_CHECK_INT(cfg->smtp_port, 25);
		T_CHECK_INT(cfg->send_limit, 30);
		T_CHECK(cfg->reply_window_msecs == 14ULL * 86400 * 1000);
		T_CHECK(cfg->send_body_max == 64 * 1024);
		T_CHECK(cfg->send_retry_max_msecs == 60000);
		T_CHECK(cfg->send_expire_msecs == 5ULL * 86400 * 1000);
	}
	br_config_free(&cfg);
	char *error =
	    line_err(10, "master_password = p\nsmtp_host = mx.example.org\n"
			 "smtp_tls = starttls\nsmtp_user = u\n"
			 "smtp_password_file = /etc/tidings/smtp-password\n");
	T_CHECK(error == NULL);
	free(error);
	check_line_err(10,
		       "master_password = p\nsmtp_host = 127.0.0.1\n"
		       "smtp_user = u\n",
		       "t.conf:12: [mail] smtp_user and smtp_password_file go "
		       "together");
	check_line_err(10,
		       "master_password = p\nsmtp_host = 127.0.0.1\n"
		       "smtp_password_file = /p\n",
		       "t.conf:12: [mail] smtp_user and smtp_password_file go "
		       "together");
	check_line_err(10,
		       "master_password = p\nsmtp_user = u\n"
		       "smtp_password_file = /p\n",
		       "t.conf:11: [mail] smtp_user: set smtp_host too");
	check_line_err(10,
		       "master_password = p\nsmtp_host = 127.0.0.1\n"
		       "smtp_user = u\nsmtp_password_file = p\n",
		       "t.conf:13: [mail] smtp_password_file: must be an "
		       "absolute path");
	check_line_err(10,
		       "master_password = p\nsmtp_host = mx.example.org\n"
		       "smtp_user = u\nsmtp_password_file = /p\n",
		       "t.conf:12: [mail] smtp_user: mx.example.org is not a "
		       "loopback address, and with smtp_tls = none the "
		       "password would cross the network in clear: set "
		       "smtp_tls = starttls or tls");
	check_line_err(
	    10, "master_password = p\nsend_limit = 0\n",
	    "t.conf:11: [mail] send_limit: '0' is not a whole number "
	    "from 1 to 100000");
	check_line_err(10, "master_password = p\nreply_window = 2w\n",
		       "t.conf:11: [mail] reply_window: '2w' is not a duration "
		       "such "
		       "as 500ms, 5s, 2m, 1h or 14d, from 0ms to "
		       "31622400000ms");
}

int main(void)
{
	T_RUN(test_minimal_defaults);
	T_RUN(test_every_type);
	T_RUN(test_syntax_errors);
	T_RUN(test_value_errors);
	T_RUN(test_validation);
	T_RUN(test_master_password_file);
	T_RUN(test_smtp);
	return T_DONE();
}
