/*
 * Error classes of ms_imap against scripted peers: what each answer of the
 * server turns into (class and text), that the tagged answer's response
 * code decides and not an untagged one, that STATUS data is checked, that
 * nothing but STARTTLS is sent before TLS, and that the master password
 * never shows in an error text.
 */

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "imap_peer.h"
#include "ms_imap.h"
#include "test.h"
#include "ut_log.h"
#include "ut_xalloc.h"

static uv_loop_t loop;

static struct outcome {
	int calls;
	enum ms_imap_error error;
	char text[512];
	struct ms_imap_scan_result res; /* numbers only */
} out;

static void scan_cb(const struct ms_imap_scan_result *res, void *ctx)
{
	(void)ctx;
	out.calls++;
	out.error = res->error;
	snprintf(out.text, sizeof(out.text), "%s",
		 res->error_text != NULL ? res->error_text : "");
	out.res = *res;
	out.res.error_text = NULL;
	out.res.msgs = NULL;
}

/* One scan of INBOX (STATUS only) against a peer; fills `out`. */
static void run(struct peer *p, enum ms_imap_tls tls, uint64_t timeout_msecs)
{
	struct ms_imap_settings set = {
	    .host = "127.0.0.1",
	    .port = p->port,
	    .tls = tls,
	    .master_user = "tidings",
	    .master_password = "secret-pw",
	    .workers = 1,
	    .timeout_msecs = timeout_msecs,
	};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;

	memset(&out, 0, sizeof(out));
	T_CHECK(ms_imap_pool_new(&loop, &set, &pool, &error) == 0);
	T_CHECK(error == NULL);
	T_CHECK_INT(ms_imap_scan(pool, "ivy@example.org", NULL, 0, 0, 0, 0,
				 scan_cb, NULL),
		    0);
	struct ms_imap_pool_stats st;
	/* Counted when reported, on the loop thread: not yet. */
	ms_imap_pool_get_stats(pool, &st);
	T_CHECK_INT(st.jobs, 0);
	peer_run_until(&loop, &out.calls, 1, 4 * timeout_msecs + 2000);
	peer_run_for(&loop, 50);
	T_CHECK_INT(out.calls, 1);
	/* The pool counts the finished job, and a failure as one. */
	ms_imap_pool_get_stats(pool, &st);
	T_CHECK_INT(st.busy, 0);
	T_CHECK_INT(st.queued, 0);
	T_CHECK_INT(st.jobs, 1);
	T_CHECK_INT(st.failures, out.error != MS_IMAP_OK ? 1 : 0);
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* Runs a scripted peer; checks the class, a piece of the text and the
   commands the peer saw. */
static void check_script(const struct peer_script *sc, enum ms_imap_tls tls,
			 enum ms_imap_error want, const char *want_text,
			 const char *want_commands)
{
	struct peer p;

	peer_start(&loop, &p, PEER_SCRIPT, sc);
	run(&p, tls, 2000);
	T_CHECK_STR(ms_imap_error_name(out.error), ms_imap_error_name(want));
	T_CHECK(strstr(out.text, want_text) != NULL);
	if (strstr(out.text, want_text) == NULL)
		fprintf(stderr, "error text was: %s\n", out.text);
	T_CHECK_STR(p.commands, want_commands);
	/* Never in an error text, whatever the server says. */
	T_CHECK(strstr(out.text, "secret-pw") == NULL);
	peer_stop(&p);
}

static void test_status_ok(void)
{
	static const struct peer_script sc = {0};

	check_script(&sc, MS_IMAP_TLS_NONE, MS_IMAP_OK, "",
		     "LOGIN STATUS LOGOUT ");
	T_CHECK_INT(out.res.uidvalidity, 7);
	T_CHECK_INT(out.res.uidnext, 3);
	T_CHECK_INT(out.res.messages, 2);
	T_CHECK_INT(out.res.unseen, 1);
}

static void test_login_no_user(void)
{
	static const struct peer_script sc = {
	    .login = "$T NO [AUTHORIZATIONFAILED] Authorization failed\r\n"};

	check_script(&sc, MS_IMAP_TLS_NONE, MS_IMAP_ERR_NO_USER,
		     "LOGIN as ivy@example.org*tidings failed: "
		     "[AUTHORIZATIONFAILED] Authorization failed",
		     "LOGIN ");
	T_CHECK_INT(out.res.uidnext, 0);
}

static void test_login_auth(void)
{
	static const struct peer_script sc = {
	    .login = "$T NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"};

	check_script(&sc, MS_IMAP_TLS_NONE, MS_IMAP_ERR_AUTH,
		     "[AUTHENTICATIONFAILED] Authentication failed.", "LOGIN ");
}

static void test_login_other(void)
{
	static const struct peer_script no = {
	    .login = "$T NO [UNAVAILABLE] Try again later\r\n"};
	static const struct peer_script bad = {.login = "$T BAD what?\r\n"};
	/* Only the tagged answer's code counts. */
	static const struct peer_script untagged = {
	    .login = "* NO [AUTHORIZATIONFAILED] not this one\r\n"
		     "$T NO Temporary failure\r\n"};

	check_script(&no, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "failed: [UNAVAILABLE] Try again later", "LOGIN ");
	check_script(&bad, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP, "failed: what?",
		     "LOGIN ");
	check_script(&untagged, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "failed: Temporary failure", "LOGIN ");
}

static void test_password_scrubbed(void)
{
	static const struct peer_script sc = {
	    .login = "$T NO [AUTHENTICATIONFAILED] bad password secret-pw\r\n"};

	check_script(&sc, MS_IMAP_TLS_NONE, MS_IMAP_ERR_AUTH,
		     "bad password *********", "LOGIN ");
}

static void test_no_mailbox(void)
{
	/* Dovecot 2.3.19: no response code at all. */
	static const struct peer_script dovecot = {
	    .status = "$T NO Mailbox doesn't exist: INBOX\r\n"};
	static const struct peer_script rfc5530 = {
	    .status = "$T NO [NONEXISTENT] Unknown mailbox\r\n"};
	static const struct peer_script other = {
	    .status = "$T NO [SERVERBUG] Internal error\r\n"};

	check_script(&dovecot, MS_IMAP_TLS_NONE, MS_IMAP_ERR_NO_MAILBOX,
		     "STATUS failed: Mailbox doesn't exist: INBOX",
		     "LOGIN STATUS ");
	check_script(&rfc5530, MS_IMAP_TLS_NONE, MS_IMAP_ERR_NO_MAILBOX,
		     "STATUS failed: [NONEXISTENT]", "LOGIN STATUS ");
	check_script(&other, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "STATUS failed: [SERVERBUG]", "LOGIN STATUS ");
}

/* libetpan answers OK with a NULL result here: once a crash. */
static void test_status_without_data(void)
{
	static const struct peer_script sc = {.status = "$T OK done\r\n"};

	check_script(&sc, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "STATUS: the server sent no STATUS data", "LOGIN STATUS ");
}

static void test_status_checked(void)
{
	static const struct peer_script zero = {
	    .status = "* STATUS INBOX (MESSAGES 0 UIDNEXT 0 UIDVALIDITY 5)\r\n"
		      "$T OK done\r\n"};
	static const struct peer_script missing = {
	    .status = "* STATUS INBOX (MESSAGES 1 UIDNEXT 9)\r\n"
		      "$T OK done\r\n"};
	static const struct peer_script absurd = {
	    .status = "* STATUS INBOX (MESSAGES 4000000000 UNSEEN 4294967295 "
		      "UIDNEXT 5 UIDVALIDITY 4294967295)\r\n$T OK done\r\n"};

	check_script(&zero, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "no valid UIDVALIDITY and UIDNEXT", "LOGIN STATUS ");
	check_script(&missing, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "no valid UIDVALIDITY and UIDNEXT", "LOGIN STATUS ");
	/* Kept within what UIDNEXT allows. */
	check_script(&absurd, MS_IMAP_TLS_NONE, MS_IMAP_OK, "",
		     "LOGIN STATUS LOGOUT ");
	T_CHECK_INT(out.res.uidvalidity, 4294967295u);
	T_CHECK_INT(out.res.uidnext, 5);
	T_CHECK_INT(out.res.messages, 4);
	T_CHECK_INT(out.res.unseen, 4);
}

static void test_greetings(void)
{
	static const struct peer_script preauth = {.greeting =
						       "* PREAUTH welcome\r\n"};
	/* libetpan would leak it: the stream refuses it first. */
	static const struct peer_script bye = {
	    .greeting = "* BYE Too many connections\r\n"};

	check_script(&preauth, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "PREAUTH; refusing", "");
	check_script(&bye, MS_IMAP_TLS_NONE, MS_IMAP_ERR_TEMP,
		     "greeting: server refused the connection: BYE Too many "
		     "connections",
		     "");
}

static void test_starttls_refused(void)
{
	static const struct peer_script no = {
	    .starttls = "$T NO [ALERT] not today\r\n"};
	static const struct peer_script bad = {0}; /* BAD unknown command */
	static const struct peer_script preauth = {.greeting =
						       "* PREAUTH welcome\r\n"};

	check_script(&no, MS_IMAP_TLS_STARTTLS, MS_IMAP_ERR_TLS,
		     "STARTTLS failed: [ALERT] not today", "STARTTLS ");
	check_script(&bad, MS_IMAP_TLS_STARTTLS, MS_IMAP_ERR_TLS,
		     "STARTTLS failed: unknown command", "STARTTLS ");
	/* PREAUTH would skip STARTTLS: refused before anything is sent. */
	check_script(&preauth, MS_IMAP_TLS_STARTTLS, MS_IMAP_ERR_TEMP,
		     "PREAUTH", "");
}

/* Plaintext after the STARTTLS answer could be a man in the middle's. */
static void test_starttls_injection(void)
{
	static const struct peer_script sc = {
	    .starttls = "$T OK Begin TLS\r\n* OK [ALERT] injected\r\n"};

	check_script(&sc, MS_IMAP_TLS_STARTTLS, MS_IMAP_ERR_TLS,
		     "STARTTLS: the server sent data before the TLS handshake",
		     "STARTTLS ");
}

static void test_tls_handshake(void)
{
	struct peer p;

	/* Implicit TLS against a plain-text peer. */
	peer_start(&loop, &p, PEER_GARBAGE, NULL);
	run(&p, MS_IMAP_TLS_IMPLICIT, 2000);
	T_CHECK_INT(out.error, MS_IMAP_ERR_TLS);
	T_CHECK(strstr(out.text, "TLS handshake with 127.0.0.1 failed: ") !=
		NULL);
	peer_stop(&p);
	/* A peer that never answers the ClientHello: a timeout. */
	peer_start(&loop, &p, PEER_SILENT, NULL);
	run(&p, MS_IMAP_TLS_IMPLICIT, 500);
	T_CHECK_INT(out.error, MS_IMAP_ERR_TEMP);
	T_CHECK_STR(out.text,
		    "TLS handshake with 127.0.0.1: timed out after 500 ms");
	peer_stop(&p);
}

static void test_bad_ca_file(void)
{
	struct ms_imap_settings set = {
	    .host = "127.0.0.1",
	    .port = 993,
	    .tls = MS_IMAP_TLS_IMPLICIT,
	    .ca_file = "/nonexistent/ca.pem",
	    .master_user = "tidings",
	    .master_password = "secret-pw",
	};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;

	T_CHECK_INT(ms_imap_pool_new(&loop, &set, &pool, &error), -1);
	T_CHECK(pool == NULL);
	T_CHECK(error != NULL &&
		strstr(error, "imap: ca_file /nonexistent/ca.pem: ") != NULL);
	free(error);
	/* Without TLS the file is not read. */
	set.tls = MS_IMAP_TLS_NONE;
	T_CHECK_INT(ms_imap_pool_new(&loop, &set, &pool, &error), 0);
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void test_error_names(void)
{
	T_CHECK_STR(ms_imap_error_name(MS_IMAP_OK), "ok");
	T_CHECK_STR(ms_imap_error_name(MS_IMAP_ERR_TEMP), "temp");
	T_CHECK_STR(ms_imap_error_name(MS_IMAP_ERR_NO_USER), "no-user");
	T_CHECK_STR(ms_imap_error_name(MS_IMAP_ERR_AUTH), "auth");
	T_CHECK_STR(ms_imap_error_name(MS_IMAP_ERR_NO_MAILBOX), "no-mailbox");
	T_CHECK_STR(ms_imap_error_name(MS_IMAP_ERR_TLS), "tls");
	T_CHECK_STR(ms_imap_error_name((enum ms_imap_error)99), "unknown");
}

static void quiet_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)line;
	(void)ctx;
}

int main(void)
{
	uv_loop_init(&loop);
	ut_log_set_hook(quiet_hook, NULL);
	T_RUN(test_status_ok);
	T_RUN(test_login_no_user);
	T_RUN(test_login_auth);
	T_RUN(test_login_other);
	T_RUN(test_password_scrubbed);
	T_RUN(test_no_mailbox);
	T_RUN(test_status_without_data);
	T_RUN(test_status_checked);
	T_RUN(test_greetings);
	T_RUN(test_starttls_refused);
	T_RUN(test_starttls_injection);
	T_RUN(test_tls_handshake);
	T_RUN(test_bad_ca_file);
	T_RUN(test_error_names);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	return T_DONE();
}
