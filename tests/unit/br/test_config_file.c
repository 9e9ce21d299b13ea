/*
 * Tests of the configuration as a file: the mode check (it holds secrets),
 * size and open errors, the dump (`tidingsd -n`), mailbox matching, and
 * that examples/tidings.conf.example matches the settings table.
 */
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "br_config.h"
#include "ut_buf.h"
#include "test.h"
#include "ut_xalloc.h"

#include "config_samples.h"

static char tmpdir[] = "/tmp/test-config-XXXXXX";

static char *write_file(const char *name, const char *text, size_t len,
			mode_t mode)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_CHECK(fd >= 0);
	T_CHECK_INT(write(fd, text, len), (long long)len);
	close(fd);
	T_CHECK_INT(chmod(path, mode), 0);
	return path;
}

static int warnings;

static void count_warn_cb(enum ut_log_level level, const char *line, void *ctx)
{
	(void)line;
	(void)ctx;
	if (level == UT_LOG_WARN)
		warnings++;
}

static void test_file_mode(void)
{
	struct br_config *cfg = NULL;
	char *error = NULL, *want;
	char *path = write_file("a.conf", minimal, strlen(minimal), 0644);

	T_CHECK_INT(br_config_load(path, 0, &cfg, &error), -1);
	want = xasprintf("%s: holds secrets but is readable by others (mode "
			 "0644); run chmod 640 %s",
			 path, path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);

	T_CHECK_INT(chmod(path, 0602), 0);
	T_CHECK_INT(br_config_load(path, 0, &cfg, &error), -1);
	want = xasprintf("%s: holds secrets but is writable by others (mode "
			 "0602); run chmod 600 %s",
			 path, path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);

	ut_log_set_hook(count_warn_cb, NULL);
	T_CHECK_INT(chmod(path, 0640), 0);
	T_CHECK_INT(br_config_load(path, 0, &cfg, &error), 0);
	T_CHECK(cfg != NULL && strcmp(cfg->path, path) == 0);
	br_config_free(&cfg);
	T_CHECK_INT(warnings, 0);

	/* Group-writable is accepted with one warning. */
	T_CHECK_INT(chmod(path, 0660), 0);
	T_CHECK_INT(br_config_load(path, 0, &cfg, &error), 0);
	br_config_free(&cfg);
	T_CHECK_INT(warnings, 1);
	ut_log_set_hook(NULL, NULL);
	free(path);

	/* Errors in a file name the file and the line. */
	path = write_file("b.conf", "[xmpp]\nport = x\n", 16, 0600);
	T_CHECK_INT(br_config_load(path, 0, &cfg, &error), -1);
	want = xasprintf("%s:2: [xmpp] port: 'x' is not a port number from 1 "
			 "to 65535",
			 path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	free(path);

	/* More than 1 MiB is refused before parsing. */
	size_t big = 1024 * 1024 + 1;
	char *text = xmalloc(big);
	memset(text, '\n', big);
	path = write_file("c.conf", text, big, 0600);
	T_CHECK_INT(br_config_load(path, 0, &cfg, &error), -1);
	want = xasprintf("%s: larger than 1048576 bytes", path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	free(text);
	free(path);

	path = xasprintf("%s/missing.conf", tmpdir);
	T_CHECK_INT(br_config_load(path, 0, &cfg, &error), -1);
	want = xasprintf("%s: cannot open: No such file or directory", path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	free(path);

	T_CHECK_INT(br_config_load(tmpdir, 0, &cfg, &error), -1);
	want = xasprintf("%s: not a regular file", tmpdir);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
}

/* minimal with line 10 naming the password file pw_path instead. */
static char *write_conf_with_pw_file(const char *name, const char *pw_path)
{
	struct ut_buf b = UT_BUF_INIT;
	const char *line10 = strstr(minimal, "master_password = ");
	ut_buf_append(&b, minimal, (size_t)(line10 - minimal));
	ut_buf_appendf(&b, "master_password_file = %s\n", pw_path);
	ut_buf_append_str(&b, strchr(line10, '\n') + 1);
	char *path = write_file(name, b.data, b.len, 0640);
	ut_buf_free(&b);
	return path;
}

/* Loads conf; returns the error (malloc'ed), or NULL and the password. */
static char *load_pw(const char *conf, unsigned flags, char **password_r)
{
	struct br_config *cfg = NULL;
	char *error = NULL;

	*password_r = NULL;
	if (br_config_load(conf, flags, &cfg, &error) < 0) {
		T_CHECK(cfg == NULL);
		return error;
	}
	if (cfg->master_password != NULL)
		*password_r = xstrdup(cfg->master_password);
	br_config_free(&cfg);
	return NULL;
}

static void check_pw_file(const char *conf, const char *pw_path,
			  const char *text, size_t len, mode_t mode,
			  const char *want_pw, const char *want_error)
{
	char *password, *error;
	free(write_file(strrchr(pw_path, '/') + 1, text, len, mode));
	error = load_pw(conf, 0, &password);
	if (want_error != NULL) {
		char *want = xasprintf("%s:10: [mail] master_password_file: "
				       "%s: %s",
				       conf, pw_path, want_error);
		T_CHECK_STR(error, want);
		free(want);
	} else {
		T_CHECK(error == NULL);
		if (error != NULL)
			fprintf(stderr, "unexpected error: %s\n", error);
		T_CHECK_STR(password, want_pw);
	}
	free(password);
	free(error);
}

/*
 * [mail] master_password_file: tidingsd reads the first line, refuses a
 * file its group or others may access, and with
 * BR_CONFIG_NO_MASTER_PASSWORD (tidings-auth) never opens it.
 */
static void test_master_password_file(void)
{
	char *pw_path = xasprintf("%s/master-password", tmpdir);
	char *conf = write_conf_with_pw_file("pwfile.conf", pw_path);

	check_pw_file(conf, pw_path, "s3cr:et pw\n", 11, 0600, "s3cr:et pw",
		      NULL);
	check_pw_file(conf, pw_path, "no-newline", 10, 0400, "no-newline",
		      NULL);
	check_pw_file(conf, pw_path, "crlf\r\nsecond line\n", 19, 0600, "crlf",
		      NULL);
	check_pw_file(conf, pw_path, " spaces kept \n", 14, 0600,
		      " spaces kept ", NULL);
	check_pw_file(conf, pw_path, "\nsecond\n", 8, 0600, NULL,
		      "the first line is empty (it must hold the password)");
	check_pw_file(conf, pw_path, "", 0, 0600, NULL,
		      "the first line is empty (it must hold the password)");
	check_pw_file(conf, pw_path, "ab\0c\n", 5, 0600, NULL,
		      "NUL byte in the first line");
	/* Closed to the group as well: tidings.conf may be readable by a
	   group (ejabberd's), the password file only by tidingsd's user. */
	static const struct {
		mode_t mode;
		const char *words;
	} modes[] = {
	    {0640, "readable by its group"},   {0620, "writable by its group"},
	    {0610, "accessible by its group"}, {0604, "readable by others"},
	    {0660, "readable by its group"},   {0602, "writable by others"},
	};
	/* The chown advice: as root, tidingsd's usual user; else this one. */
	struct passwd *me = getpwuid(geteuid());
	char *chown_advice =
	    geteuid() == 0
		? xasprintf("chown tidings %s (or whichever user runs "
			    "tidingsd)",
			    pw_path)
		: xasprintf("chown %s %s (the user tidingsd runs as)",
			    me != NULL ? me->pw_name : "?", pw_path);
	for (size_t i = 0; i < UT_N_ELEMENTS(modes); i++) {
		char *want = xasprintf(
		    "holds the master password but is %s (mode %04o); run "
		    "chmod 600 %s and %s",
		    modes[i].words, (unsigned)modes[i].mode, pw_path,
		    chown_advice);
		check_pw_file(conf, pw_path, "pw\n", 3, modes[i].mode, NULL,
			      want);
		free(want);
	}
	free(chown_advice);
	/* More than a line's worth: not a password file. */
	char big[5000];
	memset(big, 'x', sizeof(big));
	check_pw_file(conf, pw_path, big, sizeof(big), 0600, NULL,
		      "larger than 4096 bytes");
	/* Missing. */
	T_CHECK_INT(unlink(pw_path), 0);
	char *password, *error = load_pw(conf, 0, &password);
	char *want = xasprintf("%s:10: [mail] master_password_file: %s: cannot "
			       "open: No such file or directory",
			       conf, pw_path);
	T_CHECK_STR(error, want);
	free(want);
	free(error);

	/* tidings-auth's load: the file is not opened (missing here; with
	   a mode tidingsd refuses below), nor a literal password kept. */
	struct br_config *cfg = NULL;
	T_CHECK_INT(
	    br_config_load(conf, BR_CONFIG_NO_MASTER_PASSWORD, &cfg, &error),
	    0);
	if (cfg != NULL) {
		T_CHECK(cfg->master_password == NULL);
		T_CHECK_STR(cfg->master_password_file, pw_path);
	}
	br_config_free(&cfg);
	free(write_file("master-password", "pw\n", 3, 0644));
	T_CHECK_INT(
	    br_config_load(conf, BR_CONFIG_NO_MASTER_PASSWORD, &cfg, &error),
	    0);
	br_config_free(&cfg);
	char *literal =
	    write_file("literal.conf", minimal, strlen(minimal), 0640);
	T_CHECK_INT(
	    br_config_load(literal, BR_CONFIG_NO_MASTER_PASSWORD, &cfg, &error),
	    0);
	if (cfg != NULL) {
		T_CHECK(cfg->master_password == NULL);
		T_CHECK(cfg->master_password_file == NULL);
		T_CHECK_STR(cfg->secret, "s3cr3t-comp"); /* the rest is kept */
	}
	br_config_free(&cfg);
	/* The config file's own checks stay. */
	T_CHECK_INT(chmod(conf, 0644), 0);
	T_CHECK_INT(
	    br_config_load(conf, BR_CONFIG_NO_MASTER_PASSWORD, &cfg, &error),
	    -1);
	T_CHECK(error != NULL && strstr(error, "readable by others") != NULL);
	ut_free(&error);

	/* tidingsd -n: the file's path, the password hidden; the dump
	   reads back. */
	T_CHECK_INT(chmod(conf, 0640), 0);
	free(write_file("master-password", "pw-in-file\n", 11, 0600));
	T_CHECK_INT(br_config_load(conf, 0, &cfg, &error), 0);
	if (cfg != NULL) {
		T_CHECK_STR(cfg->master_password, "pw-in-file");
		char *text = NULL,
		     *line =
			 xasprintf("\nmaster_password_file = %s\n", pw_path);
		size_t len = 0;
		struct br_config *again = NULL;
		FILE *f = open_memstream(&text, &len);
		br_config_dump(cfg, f);
		fclose(f);
		T_CHECK(strstr(text, "pw-in-file") == NULL);
		T_CHECK(strstr(text, line) != NULL);
		T_CHECK(strstr(text, "\n# master_password = (hidden, in "
				     "master_password_file)\n") != NULL);
		T_CHECK_INT(br_config_parse("dump", text, len, &again, &error),
			    0);
		if (again != NULL)
			T_CHECK_STR(again->master_password_file, pw_path);
		br_config_free(&again);
		free(line);
		free(text);
	}
	br_config_free(&cfg);
	free(literal);
	free(conf);
	free(pw_path);
}

static void test_dump(void)
{
	struct br_config *cfg = parse_ok(full), *again = NULL;
	char *text = NULL, *error = NULL;
	size_t len = 0;

	if (cfg == NULL)
		return;
	FILE *f = open_memstream(&text, &len);
	br_config_dump(cfg, f);
	fclose(f);
	T_CHECK(strstr(text, "#not a comment") == NULL);
	T_CHECK(strstr(text, "p#w") == NULL);
	T_CHECK(strstr(text, "\nsecret = (hidden)\n") != NULL);
	T_CHECK(strstr(text, "\nmaster_password = (hidden)\n") != NULL);
	T_CHECK(strstr(text, "\nreconnect_max = 1h\n") != NULL);
	T_CHECK(strstr(text, "\nreconnect_min = 500ms\n") != NULL);
	T_CHECK(strstr(text, "\nping_timeout = 2m\n") != NULL);
	T_CHECK(strstr(text, "\nimap_timeout = 45s\n") != NULL);
	T_CHECK(strstr(text, "\nsocket_mode = 0600\n") != NULL);
	T_CHECK(strstr(text, "\ntrace = xmpp, ledger\n") != NULL);
	T_CHECK(strstr(text, "\nimap_tls = tls\n") != NULL);
	T_CHECK(strstr(text, "\ndomain = example.org, example.net, "
			     "ex-ample.com\n") != NULL);
	T_CHECK(strstr(text, "# Component port of the XMPP server (XEP-0114). "
			     "Default: 5347.\nport = 5348\n") != NULL);

	/* The dump reads back as the same configuration. */
	T_CHECK_INT(br_config_parse("dump", text, len, &again, &error), 0);
	T_CHECK(error == NULL);
	if (again != NULL) {
		check_full(again);
		T_CHECK_STR(again->secret, "(hidden)");
	}
	br_config_free(&again);
	br_config_free(&cfg);
	free(text);

	/* An unset optional key is shown commented out. */
	cfg = parse_ok(minimal);
	f = open_memstream(&text, &len);
	br_config_dump(cfg, f);
	fclose(f);
	T_CHECK(strstr(text, "s3cr3t-comp") == NULL);
	T_CHECK(strstr(text, "m4st3r-pw") == NULL);
	T_CHECK(strstr(text, "\n# socket_group = (unset)\n") != NULL);
	T_CHECK(strstr(text, "\ntrace = none\n") != NULL);
	T_CHECK(strstr(text, "\nlevel = info\n") != NULL);
	T_CHECK(strstr(text, "\nmailboxes = INBOX\n") != NULL);
	T_CHECK_INT(br_config_parse("dump", text, len, &again, &error), 0);
	br_config_free(&again);
	br_config_free(&cfg);
	free(text);
}

static void test_mailbox_notified(void)
{
	struct br_config *cfg = parse_ok(
	    "[notify]\nmailboxes = inbox, Lists/Work\n[xmpp]\n"
	    "component = m.x\nhost = h\nsecret = s\ndomain = x\n"
	    "[mail]\ndomain = x\nimap_host = localhost\nmaster_user = u\n"
	    "master_password = p\n[events]\nsocket = /s\n"
	    "[state]\ndir = /\n");
	if (cfg == NULL)
		return;
	T_CHECK(br_config_mailbox_notified(cfg, "INBOX"));
	T_CHECK(br_config_mailbox_notified(cfg, "Inbox"));
	T_CHECK(br_config_mailbox_notified(cfg, "Lists/Work"));
	T_CHECK(!br_config_mailbox_notified(cfg, "lists/work"));
	T_CHECK(!br_config_mailbox_notified(cfg, "Lists"));
	T_CHECK(!br_config_mailbox_notified(cfg, "Sent"));
	br_config_free(&cfg);
}

/* True if text has "key = ..." (at the start of a line) in [section]. */
static bool has_key(const char *text, const char *section, const char *key)
{
	char *want_section = xasprintf("[%s]", section);
	char *want_key = xasprintf("%s = ", key);
	bool in_section = false, found = false;

	for (const char *p = text; *p != '\0' && !found;) {
		size_t len = strcspn(p, "\n");
		if (p[0] == '[')
			in_section = len == strlen(want_section) &&
				     strncmp(p, want_section, len) == 0;
		else if (in_section &&
			 strncmp(p, want_key, strlen(want_key)) == 0)
			found = true;
		p += len + (p[len] == '\n');
	}
	free(want_section);
	free(want_key);
	return found;
}

static char *dump_str(const struct br_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	br_config_dump(cfg, f);
	fclose(f);
	return text;
}

/*
 * examples/tidings.conf.example is in sync with the table: it parses; with
 * its commented-out ";key = value" lines enabled it still parses and gives
 * the same settings (so every value shown there is the default, except the
 * examples of unset keys); and it names every key the dump names.
 */
static void test_example(void)
{
	struct br_config *cfg = NULL, *all = NULL;
	char *error = NULL, *text = NULL;
	size_t len = 0;
	struct ut_buf enabled = UT_BUF_INIT;
	FILE *f = fopen(EXAMPLE_CONF, "r");

	T_CHECK(f != NULL);
	if (f == NULL)
		return;
	/* master_password and master_password_file exclude each other: the
	   second is enabled (and the first commented out) in with_file. */
	struct ut_buf with_file = UT_BUF_INIT;
	while (getline(&text, &len, f) > 0) {
		bool off = text[0] == ';' && text[1] >= 'a' && text[1] <= 'z' &&
			   strstr(text, " = ") != NULL;
		bool pw = strncmp(text, "master_password = ", 18) == 0;
		bool pw_file =
		    strncmp(text, ";master_password_file = ", 24) == 0;
		ut_buf_append_str(&enabled, off && !pw_file ? text + 1 : text);
		if (pw)
			ut_buf_append_c(&with_file, ';');
		ut_buf_append_str(&with_file, off ? text + 1 : text);
	}
	fclose(f);
	free(text);
	T_CHECK_INT(br_config_load(EXAMPLE_CONF, 0, &cfg, &error), -1);
	/* (The checked-in file is 0644; the mode check is tested above.) */
	ut_free(&error);
	f = fopen(EXAMPLE_CONF, "r");
	text = NULL;
	len = 0;
	if (f != NULL) {
		ssize_t n = getdelim(&text, &len, '\0', f);
		fclose(f);
		T_CHECK_INT(
		    br_config_parse("example", text, (size_t)n, &cfg, &error),
		    0);
		free(text);
	}
	T_CHECK_INT(
	    br_config_parse("example", enabled.data, enabled.len, &all, &error),
	    0);
	if (error != NULL)
		fprintf(stderr, "%s\n", error);
	struct br_config *file_cfg = NULL;
	T_CHECK_INT(br_config_parse("example", with_file.data, with_file.len,
				    &file_cfg, &error),
		    0);
	if (file_cfg != NULL) {
		T_CHECK_STR(file_cfg->master_password_file,
			    "/etc/tidings/master-password");
		T_CHECK(file_cfg->master_password == NULL);
	}
	br_config_free(&file_cfg);
	ut_buf_free(&with_file);
	if (cfg == NULL || all == NULL) {
		br_config_free(&cfg);
		br_config_free(&all);
		ut_buf_free(&enabled);
		return;
	}
	T_CHECK_STR(all->socket_group, "vmail");
	ut_free(&all->socket_group);
	T_CHECK_STR(all->imap_ca_file, "/etc/tidings/imap-ca.pem");
	ut_free(&all->imap_ca_file);
	T_CHECK_STR(all->auth_master_socket, "/run/dovecot/tidings-userdb");
	ut_free(&all->auth_master_socket);
	T_CHECK_STR(all->auth_client_socket, "/run/dovecot/tidings-client");
	ut_free(&all->auth_client_socket);
	T_CHECK_STR(all->smtp_host, "127.0.0.1");
	ut_free(&all->smtp_host);
	T_CHECK_STR(all->smtp_ca_file, "/etc/ssl/certs/my-ca.pem");
	ut_free(&all->smtp_ca_file);
	T_CHECK_STR(all->smtp_user, "tidings");
	ut_free(&all->smtp_user);
	T_CHECK_STR(all->smtp_password_file, "/etc/tidings/smtp-password");
	ut_free(&all->smtp_password_file);
	T_CHECK_STR(all->control_group, "adm");
	ut_free(&all->control_group);
	T_CHECK_STR(all->metrics_listen, "9747");
	ut_free(&all->metrics_listen);
	char *d1 = dump_str(cfg), *d2 = dump_str(all);
	T_CHECK_STR(d1, d2);

	/* Every "key = " line of the dump, in its section. */
	char section[32] = "";
	int keys = 0;
	for (const char *p = d1; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		if (p[0] == '[' && n < sizeof(section)) {
			memcpy(section, p + 1, n - 2);
			section[n - 2] = '\0';
		} else if (p[0] != '#' && n > 0) {
			char *key = xstrndup(p, strcspn(p, " "));
			if (!has_key(enabled.data, section, key))
				fprintf(stderr, "example lacks [%s] %s\n",
					section, key);
			T_CHECK(has_key(enabled.data, section, key));
			keys++;
			free(key);
		}
		p += n + (p[n] == '\n');
	}
	/* 67 settings; socket_group, imap_ca_file, the two auth sockets,
	   master_password_file (checked with with_file above), smtp_host,
	   smtp_ca_file, smtp_user, smtp_password_file, [control]
	   socket_group and [metrics] listen are unset in the dump. */
	T_CHECK_INT(keys, 56);
	free(d1);
	free(d2);
	br_config_free(&cfg);
	br_config_free(&all);
	ut_buf_free(&enabled);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_file_mode);
	T_RUN(test_master_password_file);
	T_RUN(test_dump);
	T_RUN(test_mailbox_notified);
	T_RUN(test_example);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	return T_DONE();
}
