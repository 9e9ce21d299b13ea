/*
 * Reloading the configuration (br_reload.h): what a changed value does
 * (applied at once, or kept until a restart), what the log says about it
 * (never a secret's value), derived values following their lists, a
 * broken file changing nothing, and the [log] settings taking effect.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "br_config.h"
#include "br_config_private.h"
#include "br_reload.h"
#include "test.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* The keys every deployment needs: 14 lines. */
static const char minimal[] = "[xmpp]\n"
			      "component = mail.example.org\n"
			      "host = 127.0.0.1\n"
			      "secret = s3cr3t-comp\n"
			      "domain = example.org\n"
			      "[mail]\n"
			      "domain = example.org\n"
			      "imap_host = 127.0.0.1\n"
			      "master_user = tidings\n"
			      "master_password = m4st3r-pw\n"
			      "[events]\n"
			      "socket = /run/tidings/ev.sock\n"
			      "[state]\n"
			      "dir = /var/lib/tidings\n";

static struct br_config *parse_ok(const char *text)
{
	struct br_config *cfg = NULL;
	char *error = NULL;
	T_CHECK_INT(br_config_parse("t.conf", text, strlen(text), &cfg, &error),
		    0);
	if (error != NULL)
		fprintf(stderr, "unexpected error: %s\n", error);
	free(error);
	return cfg;
}

#define LINES_MAX 128

static struct {
	char *text[LINES_MAX];
	int count;
} lines;

static void hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)ctx;
	if (lines.count < LINES_MAX)
		lines.text[lines.count++] = xstrdup(line);
}

static void lines_reset(void)
{
	for (int i = 0; i < lines.count; i++)
		free(lines.text[i]);
	lines.count = 0;
}

static int lines_with(const char *needle)
{
	int n = 0;
	for (int i = 0; i < lines.count; i++)
		n += strstr(lines.text[i], needle) != NULL;
	return n;
}

static char tmpdir[] = "/tmp/tidings-reload-XXXXXX";
static char conf_path[128];

static void write_conf(const char *text)
{
	int fd = open(conf_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	T_CHECK(fd >= 0);
	T_CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
	close(fd);
}

static struct br_config *load(const char *text)
{
	struct br_config *cfg = NULL;
	char *error = NULL;
	write_conf(text);
	T_CHECK_INT(br_config_load(conf_path, 0, &cfg, &error), 0);
	if (error != NULL)
		fprintf(stderr, "load: %s\n", error);
	free(error);
	return cfg;
}

static const struct br_reload_targets no_targets = {.log_ident = "test"};

/* minimal + more text; xmalloc'ed. */
static char *with(const char *more)
{
	return xasprintf("%s%s", minimal, more);
}

/* text with its first line from replaced by to; xmalloc'ed. */
static char *subst(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	T_CHECK(at != NULL);
	if (at == NULL)
		return xstrdup(text);
	return xasprintf("%.*s%s%s", (int)(at - text), text, to,
			 at + strlen(from));
}

static void test_applied_and_kept(void)
{
	struct br_config *cfg = parse_ok(minimal);
	char *more = with("[notify]\nburst_max = 1\n"
			  "[xmpp]\nport = 5348\n"
			  "[events]\nsocket_mode = 0600\n"
			  "[domains]\nexample.org = chat.example.org\n");
	char *more2 =
	    subst(more, "secret = s3cr3t-comp", "secret = n3w-s3cr3t");
	char *text = subst(more2, "master_password = m4st3r-pw",
			   "master_password = n3w-m4st3r");
	free(more);
	free(more2);
	struct br_config *fresh = parse_ok(text);
	unsigned applied = 9, kept = 9;

	lines_reset();
	br_reload_merge(cfg, fresh, &applied, &kept);
	T_CHECK_INT(applied, 1);
	T_CHECK_INT(kept, 5);
	/* Applied: the running struct has it now. */
	T_CHECK_INT(cfg->burst_max, 1);
	T_CHECK_INT(lines_with("info: reload: [notify] burst_max changed: "
			       "applied, now 1 (was 3)"),
		    1);
	/* Kept: the running values stay, the log says so. */
	T_CHECK_INT(cfg->xmpp_port, 5347);
	T_CHECK_INT(lines_with("warn: reload: [xmpp] port changed: needs a "
			       "restart, kept 5347 (the file says 5348)"),
		    1);
	T_CHECK_INT(cfg->socket_mode, 0660);
	T_CHECK_INT(lines_with("warn: reload: [events] socket_mode changed: "
			       "needs a restart, kept 0660"),
		    1);
	T_CHECK_INT(lines_with("warn: reload: [domains] changed: needs a "
			       "restart"),
		    1);
	T_CHECK_INT(cfg->domain_map_count, 0);
	/* Secrets: kept, and their values are never logged. */
	T_CHECK_STR(cfg->secret, "s3cr3t-comp");
	T_CHECK_STR(cfg->master_password, "m4st3r-pw");
	T_CHECK_INT(lines_with("warn: reload: [xmpp] secret changed: needs a "
			       "restart, kept the running value"),
		    1);
	T_CHECK_INT(lines_with("warn: reload: [mail] master_password changed: "
			       "needs a restart, kept the running value"),
		    1);
	T_CHECK_INT(lines_with("s3cr3t"), 0);
	T_CHECK_INT(lines_with("m4st3r"), 0);
	T_CHECK_INT(lines.count, 6);
	/* fresh holds the old values now, and frees them. */
	T_CHECK_INT(fresh->burst_max, 3);
	br_config_free(&fresh);
	T_CHECK_INT(cfg->burst_max, 1);

	/* The same file again: nothing to say. */
	fresh = parse_ok(text);
	lines_reset();
	br_reload_merge(cfg, fresh, &applied, &kept);
	T_CHECK_INT(applied, 0);
	T_CHECK_INT(kept, 5);
	T_CHECK_INT(lines_with("burst_max"), 0);
	br_config_free(&fresh);
	free(text);
	br_config_free(&cfg);
}

static void test_lists_and_derived(void)
{
	struct br_config *cfg = parse_ok(minimal);
	char *text = with("[notify]\nmailboxes = INBOX, Lists\n"
			  "[events]\ntrusted_users = 4242, 4243\n"
			  "[control]\ntrusted_users = root, 5000\n");
	struct br_config *fresh = parse_ok(text);
	unsigned applied, kept;

	T_CHECK(!br_config_mailbox_notified(cfg, "Lists"));
	lines_reset();
	br_reload_merge(cfg, fresh, &applied, &kept);
	br_config_free(&fresh);
	free(text);
	T_CHECK_INT(applied, 3);
	T_CHECK_INT(kept, 0);
	T_CHECK(br_config_mailbox_notified(cfg, "Lists"));
	T_CHECK_INT(cfg->mailbox_count, 2);
	T_CHECK_INT(lines_with("info: reload: [notify] mailboxes changed: "
			       "applied, now INBOX, Lists (was INBOX)"),
		    1);
	T_CHECK_INT(cfg->trusted_user_count, 2);
	T_CHECK_INT(cfg->trusted_uid_count, 2);
	if (cfg->trusted_uid_count == 2) {
		T_CHECK_INT(cfg->trusted_uids[0], 4242);
		T_CHECK_INT(cfg->trusted_uids[1], 4243);
	}
	T_CHECK(!cfg->trust_any && !cfg->trust_owner);
	T_CHECK_INT(cfg->control_uid_count, 1);
	if (cfg->control_uid_count == 1)
		T_CHECK_INT(cfg->control_uids[0], 5000);

	/* Then any: the uids go, trust_any comes. */
	text = with("[notify]\nmailboxes = INBOX, Lists\n"
		    "[events]\ntrusted_users = any\n");
	fresh = parse_ok(text);
	br_reload_merge(cfg, fresh, &applied, &kept);
	br_config_free(&fresh);
	free(text);
	T_CHECK_INT(applied, 2);
	T_CHECK(cfg->trust_any);
	T_CHECK_INT(cfg->trusted_uid_count, 0);
	T_CHECK_INT(cfg->control_uid_count, 0); /* root only */
	br_config_free(&cfg);
}

/* Every reloadable key of the table, with a value other than its
   default. A key added to the table without a line here fails below. */
static const char every_reloadable[] = "[mail]\n"
				       "send_limit = 7\n"
				       "reply_window = 3d\n"
				       "send_body_max = 128K\n"
				       "send_retry_max = 5m\n"
				       "send_expire = 2d\n"
				       "[events]\n"
				       "trusted_users = 4242\n"
				       "[control]\n"
				       "trusted_users = 4243\n"
				       "[notify]\n"
				       "message_type = headline\n"
				       "burst_max = 5\n"
				       "burst_window = 30s\n"
				       "digest_list_max = 20\n"
				       "snippet_max = 80\n"
				       "mailboxes = INBOX, Work\n"
				       "reconcile_list_max = 70\n"
				       "gap_delay = 5s\n"
				       "nudge_remote = yes\n"
				       "nudge_pair_limit = 9\n"
				       "[defaults]\n"
				       "notify = no\n"
				       "summary_on_login = no\n"
				       "hold_when = away\n"
				       "nudge = auto\n"
				       "receipts = no\n"
				       "share_read = no\n"
				       "[log]\n"
				       "level = debug\n"
				       "trace = imap, xmpp\n"
				       "target = syslog\n"
				       "facility = local3\n";

static char *dump(const struct br_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	br_config_dump(cfg, f);
	fclose(f);
	return text;
}

static void test_every_reloadable_key(void)
{
	size_t reloadable = 0;
	for (size_t i = 0; i < br_config__setting_count; i++)
		reloadable +=
		    !br_config__needs_restart(&br_config__settings[i]);
	T_CHECK_INT(reloadable, 27);

	struct br_config *cfg = parse_ok(minimal);
	char *text = with(every_reloadable);
	struct br_config *fresh = parse_ok(text);
	struct br_config *want = parse_ok(text);
	unsigned applied, kept;

	br_reload_merge(cfg, fresh, &applied, &kept);
	T_CHECK_INT(applied, 27);
	T_CHECK_INT(kept, 0);
	/* The running struct now reads exactly like the new file. */
	char *a = dump(cfg), *b = dump(want);
	T_CHECK_STR(a, b);
	free(a);
	free(b);
	/* And the replaced struct exactly like the old one. */
	struct br_config *old = parse_ok(minimal);
	a = dump(fresh);
	b = dump(old);
	T_CHECK_STR(a, b);
	free(a);
	free(b);
	T_CHECK_INT(cfg->trusted_uid_count, 1);
	T_CHECK_INT(cfg->control_uid_count, 1);
	br_config_free(&old);
	br_config_free(&want);
	br_config_free(&fresh);
	br_config_free(&cfg);
	free(text);
}

static void test_broken_file_keeps_running(void)
{
	struct br_config *cfg = load(minimal);
	char *text = with("[notify]\nburst_max = 1\nsnippet_max = lots\n");
	char *summary = NULL, *error = NULL;

	write_conf(text);
	free(text);
	lines_reset();
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), -1);
	T_CHECK(summary == NULL);
	char *want = xasprintf("%s:17: ", conf_path);
	T_CHECK(error != NULL && strncmp(error, want, strlen(want)) == 0);
	free(want);
	T_CHECK_INT(cfg->burst_max, 3);
	T_CHECK_INT(cfg->snippet_max, 160);
	T_CHECK_INT(lines.count, 1);
	want = xasprintf("error: reload: refused, keeping the running "
			 "configuration: %s",
			 error != NULL ? error : "?");
	T_CHECK_STR(lines.count > 0 ? lines.text[0] : "", want);
	free(want);
	free(error);

	/* A missing required key, an unreadable file: the same. */
	write_conf("[xmpp]\nport = 5\n");
	error = NULL;
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), -1);
	T_CHECK(error != NULL && strstr(error, "missing required key") != NULL);
	free(error);
	chmod(conf_path, 0644); /* readable by others: refused at start too */
	error = NULL;
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), -1);
	T_CHECK(error != NULL && strstr(error, "chmod") != NULL);
	free(error);
	unlink(conf_path);
	error = NULL;
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), -1);
	free(error);
	T_CHECK_INT(cfg->burst_max, 3);

	/* Fixed: it applies, with a summary. */
	text = with("[notify]\nburst_max = 1\n[xmpp]\nport = 5348\n");
	write_conf(text);
	free(text);
	lines_reset();
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), 0);
	T_CHECK_STR(summary, "reload: 1 setting applied, 1 needs a restart");
	T_CHECK_INT(lines_with("info: reload: 1 setting applied, 1 needs a "
			       "restart"),
		    1);
	free(summary);
	T_CHECK_INT(cfg->burst_max, 1);
	T_CHECK_INT(cfg->xmpp_port, 5347);
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), 0);
	T_CHECK_STR(summary, "reload: 0 settings applied, 1 needs a restart");
	free(summary);
	write_conf(minimal);
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), 0);
	T_CHECK_STR(summary, "reload: 1 setting applied, 0 need a restart");
	free(summary);
	T_CHECK_INT(br_reload(cfg, &no_targets, &summary, &error), 0);
	T_CHECK_STR(summary, "reload: no change");
	free(summary);
	br_config_free(&cfg);
}

/* trusted_users = owner needs auth_master_socket, which waits for a
   restart: trusted_users waits with it. */
static void test_owner_waits_for_its_socket(void)
{
	struct br_config *cfg = parse_ok(minimal);
	char *text = with("[mail]\nauth_master_socket = /run/x/userdb\n"
			  "[events]\ntrusted_users = owner\n");
	struct br_config *fresh = parse_ok(text);
	unsigned applied, kept;

	lines_reset();
	br_reload_merge(cfg, fresh, &applied, &kept);
	T_CHECK_INT(applied, 0);
	T_CHECK_INT(kept, 2);
	T_CHECK(!cfg->trust_owner);
	T_CHECK_INT(lines_with("warn: reload: [events] trusted_users changed: "
			       "needs a restart (with [mail] "
			       "auth_master_socket), kept root (the file says "
			       "owner)"),
		    1);
	br_config_free(&fresh);
	free(text);
	br_config_free(&cfg);

	/* With the socket already running: applied. */
	text = with("[mail]\nauth_master_socket = /run/x/userdb\n");
	cfg = parse_ok(text);
	free(text);
	text = with("[mail]\nauth_master_socket = /run/x/userdb\n"
		    "[events]\ntrusted_users = owner, 4242\n");
	fresh = parse_ok(text);
	br_reload_merge(cfg, fresh, &applied, &kept);
	T_CHECK_INT(applied, 1);
	T_CHECK(cfg->trust_owner);
	T_CHECK_INT(cfg->trusted_uid_count, 1);
	br_config_free(&fresh);
	free(text);
	br_config_free(&cfg);
}

static void test_apply_log(void)
{
	char *text = with("[log]\nlevel = warn\ntrace = imap\n");
	struct br_config *cfg = parse_ok(text);
	free(text);
	int facility = -1;

	br_reload_apply_log(cfg, "test", false);
	T_CHECK_INT(ut_log_get_level(), UT_LOG_WARN);
	T_CHECK(!ut_log_is_syslog());
	br_reload_apply_log(cfg, "test", true); /* -d */
	T_CHECK_INT(ut_log_get_level(), UT_LOG_DEBUG);
	br_config_free(&cfg);

	text = with("[log]\nlevel = trace\ntrace = imap\ntarget = syslog\n"
		    "facility = local5\n");
	cfg = parse_ok(text);
	free(text);
	br_reload_apply_log(cfg, "test", false);
	T_CHECK(ut_log_is_syslog());
	T_CHECK(ut_trace_enabled(UT_TRACE_IMAP));
	T_CHECK(!ut_trace_enabled(UT_TRACE_XMPP));
	br_config_free(&cfg);
	cfg = parse_ok(minimal);
	br_reload_apply_log(cfg, "test", false);
	T_CHECK(!ut_log_is_syslog());
	T_CHECK_INT(ut_log_get_level(), UT_LOG_INFO);
	br_config_free(&cfg);

	T_CHECK_INT(ut_log_facility_parse("mail", &facility), 0);
	T_CHECK_INT(facility, LOG_MAIL);
	T_CHECK_INT(ut_log_facility_parse("LOCAL7", &facility), 0);
	T_CHECK_INT(facility, LOG_LOCAL7);
	T_CHECK_INT(ut_log_facility_parse("kern", &facility), -1);
	/* Every facility the table allows parses. */
	for (size_t i = 0; i < br_config__setting_count; i++) {
		const struct br_ini_setting *s = &br_config__settings[i];
		if (strcmp(s->key, "facility") != 0)
			continue;
		for (size_t v = 0; s->values[v] != NULL; v++)
			T_CHECK_INT(
			    ut_log_facility_parse(s->values[v], &facility), 0);
	}
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(conf_path, sizeof(conf_path), "%s/tidings.conf", tmpdir);
	ut_log_set_hook(hook, NULL);
	T_RUN(test_applied_and_kept);
	T_RUN(test_lists_and_derived);
	T_RUN(test_every_reloadable_key);
	T_RUN(test_broken_file_keeps_running);
	T_RUN(test_owner_waits_for_its_socket);
	T_RUN(test_apply_log);
	ut_log_set_hook(NULL, NULL);
	lines_reset();
	unlink(conf_path);
	rmdir(tmpdir);
	return T_DONE();
}
