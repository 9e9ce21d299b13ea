/*
 * The APPEND-to-\Sent and headers jobs of ms_imap against scripted peers
 * (imap_peer.c): what is sent (LIST (SPECIAL-USE), APPEND with \Seen and
 * the date, EXAMINE, UID SEARCH, UID FETCH with BODY.PEEK), what comes
 * back, and what hostile answers turn into; bad arguments; freeing the
 * pool with such jobs queued.
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

static const char mail[] = "From: Alice <alice@example.org>\r\n"
			   "To: carol@example.net\r\n"
			   "Subject: hi\r\n\r\nHello.\r\n";
/* 2024-02-01 09:00:00 UTC */
#define DATE 1706778000

static struct outcome {
	int calls;
	enum ms_imap_error error;
	char text[512];
	char mailbox[256];
	uint32_t uidvalidity;
	uint32_t uid;
	bool found;
	struct ms_imap_headers h; /* a deep copy of the parts checked */
} out;

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void out_reset(void)
{
	ms_imap_headers_clear(&out.h);
	memset(&out, 0, sizeof(out));
}

static void append_cb(const struct ms_imap_append_result *res, void *ctx)
{
	(void)ctx;
	out.calls++;
	out.error = res->error;
	snprintf(out.text, sizeof(out.text), "%s",
		 res->error_text != NULL ? res->error_text : "");
	snprintf(out.mailbox, sizeof(out.mailbox), "%s",
		 res->mailbox != NULL ? res->mailbox : "(null)");
	out.uidvalidity = res->uidvalidity;
	out.uid = res->uid;
}

static void headers_cb(const struct ms_imap_headers_result *res, void *ctx)
{
	(void)ctx;
	out.calls++;
	out.error = res->error;
	snprintf(out.text, sizeof(out.text), "%s",
		 res->error_text != NULL ? res->error_text : "");
	out.found = res->found;
	out.uidvalidity = res->uidvalidity;
	out.uid = res->uid;
	out.h.message_id = dup_or_null(res->headers.message_id);
	out.h.subject = dup_or_null(res->headers.subject);
	out.h.from_address = dup_or_null(res->headers.from_address);
	out.h.references = dup_or_null(res->headers.references);
	out.h.automatic = res->headers.automatic;
	/* The last To and Cc addresses, in a single-element copy. */
	if (res->headers.to_count > 0) {
		out.h.to = xcalloc(1, sizeof(*out.h.to));
		out.h.to[0] =
		    xstrdup(res->headers.to[res->headers.to_count - 1]);
		out.h.to_count = 1;
	}
	if (res->headers.cc_count > 0) {
		out.h.cc = xcalloc(1, sizeof(*out.h.cc));
		out.h.cc[0] =
		    xstrdup(res->headers.cc[res->headers.cc_count - 1]);
		out.h.cc_count = 1;
	}
}

static struct ms_imap_pool *pool_new(uint16_t port)
{
	struct ms_imap_settings set = {
	    .host = "127.0.0.1",
	    .port = port,
	    .master_user = "tidings",
	    .master_password = "secret-pw",
	    .workers = 1,
	    .timeout_msecs = 2000,
	};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;

	T_CHECK(ms_imap_pool_new(&loop, &set, &pool, &error) == 0);
	T_CHECK(error == NULL);
	return pool;
}

static void finish(struct ms_imap_pool **pool, struct peer *p)
{
	peer_run_until(&loop, &out.calls, 1, 10000);
	peer_run_for(&loop, 50);
	T_CHECK_INT(out.calls, 1);
	ms_imap_pool_free(pool);
	uv_run(&loop, UV_RUN_NOWAIT);
	peer_stop(p);
	if (out.error != MS_IMAP_OK && out.error != MS_IMAP_ERR_NO_MAILBOX)
		fprintf(stderr, "error text: %s\n", out.text);
	/* Never in an error text, whatever the server says. */
	T_CHECK(strstr(out.text, "secret-pw") == NULL);
}

/* One APPEND of `mail` against a scripted peer; fills out and p. */
static void run_append(const struct peer_script *sc, struct peer *p)
{
	struct ms_imap_pool *pool;

	out_reset();
	peer_start(&loop, p, PEER_SCRIPT, sc);
	pool = pool_new(p->port);
	T_CHECK_INT(ms_imap_append_sent(pool, "ivy@example.org", mail,
					strlen(mail), DATE, append_cb, NULL),
		    0);
	finish(&pool, p);
}

static void test_append_ok(void)
{
	static const struct peer_script sc = {0};
	struct peer p;
	char want[128];

	run_append(&sc, &p);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.commands, "LOGIN LIST APPEND LOGOUT ");
	/* libetpan's custom command ends in a space. */
	T_CHECK_STR(p.list_line, "(SPECIAL-USE) \"\" \"*\" ");
	snprintf(want, sizeof(want),
		 "Sent (\\Seen) \" 1-Feb-2024 09:00:00 +0000\" {%zu}",
		 strlen(mail));
	T_CHECK_STR(p.append_line, want);
	T_CHECK_INT(p.append_bytes, strlen(mail));
	T_CHECK_STR(out.mailbox, "Sent");
	T_CHECK_INT(out.uidvalidity, 7);
	T_CHECK_INT(out.uid, 42);
}

static void test_append_no_sent(void)
{
	static const struct peer_script none = {
	    .list = "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		    "* LIST (\\HasNoChildren) \"/\" Sent\r\n"
		    "$T OK done\r\n"};
	/* \Sent only on mailboxes that cannot take mail. */
	static const struct peer_script unusable = {
	    .list = "* LIST (\\Noselect \\Sent) \"/\" A\r\n"
		    "* LIST (\\Sent \\NonExistent) \"/\" B\r\n"
		    "* LIST (\\Sent) \"/\" {4}\r\nS\x01nt\r\n"
		    "* LIST (\\Sent) \"/\" \"Envoy\xc3\xa9s\"\r\n"
		    "$T OK done\r\n"};
	struct peer p;

	run_append(&none, &p);
	T_CHECK_STR(ms_imap_error_name(out.error), "no-mailbox");
	T_CHECK(strstr(out.text, "\\Sent") != NULL);
	T_CHECK_STR(p.commands, "LOGIN LIST ");
	T_CHECK_STR(out.mailbox, "(null)");
	run_append(&unusable, &p);
	T_CHECK_STR(ms_imap_error_name(out.error), "no-mailbox");
	T_CHECK_STR(p.commands, "LOGIN LIST ");
}

static void test_append_plain_list(void)
{
	/* No LIST-EXTENDED: a plain LIST that shows \Sent anyway. */
	static const struct peer_script sc = {
	    .list = "$T BAD unknown arguments\r\n",
	    .list_plain = "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
			  "* LIST (\\HasNoChildren \\Sent) \"/\" "
			  "\"Sent Items\"\r\n"
			  "$T OK done\r\n",
	    .append = "$T OK done\r\n"};
	struct peer p;

	run_append(&sc, &p);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.commands, "LOGIN LIST LIST APPEND LOGOUT ");
	T_CHECK_STR(p.list_line, "\"\" \"*\"");
	T_CHECK(strncmp(p.append_line, "\"Sent Items\" (\\Seen)", 20) == 0);
	T_CHECK_STR(out.mailbox, "Sent Items");
	/* No APPENDUID: no UID. */
	T_CHECK_INT(out.uidvalidity, 0);
	T_CHECK_INT(out.uid, 0);
}

static void test_append_utf7_name(void)
{
	/* The first usable \Sent mailbox in modified UTF-7; quotes in a
	   name are sent back escaped. */
	static const struct peer_script sc = {
	    .list = "* LIST (\\Sent) \"/\" \"Envoy&AOk-s \\\"x\\\"\"\r\n"
		    "* LIST (\\Sent) \"/\" Sent\r\n"
		    "$T OK done\r\n",
	    .append = "$T OK [APPENDUID 0 5] done\r\n"};
	static const struct peer_script bad = {
	    .list = "* LIST (\\Sent) \"/\" \"&AOk\"\r\n$T OK done\r\n"};
	struct peer p;

	run_append(&sc, &p);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(out.mailbox, "Envoyés \"x\"");
	T_CHECK_STR(p.append_line,
		    "\"Envoy&AOk-s \\\"x\\\"\" (\\Seen) \" 1-Feb-2024 "
		    "09:00:00 +0000\" {79}");
	/* An APPENDUID with a 0 is no APPENDUID. */
	T_CHECK_INT(out.uidvalidity, 0);
	T_CHECK_INT(out.uid, 0);
	/* Not valid modified UTF-7: shown as it came. */
	run_append(&bad, &p);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(out.mailbox, "&AOk");
}

static void test_append_refused(void)
{
	static const struct peer_script trycreate = {
	    .append_refuse = "$T NO [TRYCREATE] Mailbox doesn't exist: "
			     "Sent\r\n"};
	static const struct peer_script noperm = {
	    .append_refuse = "$T NO [NOPERM] Permission denied\r\n"};
	static const struct peer_script late = {
	    .append = "$T NO [OVERQUOTA] Quota exceeded\r\n"};
	struct peer p;

	run_append(&trycreate, &p);
	T_CHECK_STR(ms_imap_error_name(out.error), "no-mailbox");
	T_CHECK(strstr(out.text, "APPEND failed: [TRYCREATE]") != NULL);
	T_CHECK_STR(p.commands, "LOGIN LIST APPEND ");
	T_CHECK_INT(p.append_bytes, 0);
	run_append(&noperm, &p);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "[NOPERM] Permission denied") != NULL);
	run_append(&late, &p);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "[OVERQUOTA]") != NULL);
	T_CHECK_INT(p.append_bytes, strlen(mail));
}

static void test_append_login_fails(void)
{
	static const struct peer_script sc = {
	    .login = "$T NO [AUTHORIZATIONFAILED] Authorization failed\r\n"};
	struct peer p;

	run_append(&sc, &p);
	T_CHECK_STR(ms_imap_error_name(out.error), "no-user");
	T_CHECK_STR(p.commands, "LOGIN ");
}

static void test_append_bad_args(void)
{
	struct ms_imap_pool *pool = pool_new(1);
	static const char nul[] = "Subject: a\r\n\r\nb\0c\r\n";

	T_CHECK_INT(ms_imap_append_sent(pool, "ivy@example.org", mail, 0, 0,
					append_cb, NULL),
		    -1);
	T_CHECK_INT(ms_imap_append_sent(pool, "ivy@example.org", nul,
					sizeof(nul) - 1, 0, append_cb, NULL),
		    -1);
	T_CHECK_INT(ms_imap_append_sent(pool, "ivy@example.org", mail,
					MS_IMAP_APPEND_MAX + 1, 0, append_cb,
					NULL),
		    -1);
	T_CHECK_INT(ms_imap_pool_pending(pool), 0);
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* A FETCH response line with the header fields as a literal. */
static char *fetch_item(unsigned seq, unsigned uid, const char *date,
			const char *header)
{
	return xasprintf("* %u FETCH (UID %u INTERNALDATE \"%s\" "
			 "BODY[HEADER.FIELDS (MESSAGE-ID FROM)] {%zu}\r\n%s)"
			 "\r\n",
			 seq, uid, date, strlen(header), header);
}

static void run_headers(const struct peer_script *sc, struct peer *p,
			const struct ms_imap_header_query *q)
{
	struct ms_imap_pool *pool;

	out_reset();
	peer_start(&loop, p, PEER_SCRIPT, sc);
	pool = pool_new(p->port);
	T_CHECK_INT(
	    ms_imap_headers(pool, "ivy@example.org", q, headers_cb, NULL), 0);
	finish(&pool, p);
}

static void test_headers_by_uid(void)
{
	char *item = fetch_item(
	    1, 42, "01-Feb-2024 10:00:00 +0000",
	    "Message-ID: <m42@example.net>\r\nFrom: Carol "
	    "<carol@example.net>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
	    "References: <a@x>\r\n <b@x>\r\nAuto-Submitted: auto-replied\r\n"
	    "To: ivy@example.org, x@example.org\r\nCc: Zed <z@example.org>\r\n"
	    "\r\n");
	char *fetch = xasprintf("%s$T OK done\r\n", item);
	struct peer_script sc = {.fetch = fetch};
	struct ms_imap_header_query q = {
	    .mailbox = "Archive", .uidvalidity = 7, .uid = 42};
	struct peer p;

	run_headers(&sc, &p, &q);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.commands, "LOGIN EXAMINE UID FETCH LOGOUT ");
	T_CHECK(strncmp(p.fetch_line,
			"42 (UID INTERNALDATE BODY.PEEK[HEADER."
			"FIELDS (Message-ID In-Reply-To",
			66) == 0);
	T_CHECK(out.found);
	T_CHECK_INT(out.uid, 42);
	T_CHECK_INT(out.uidvalidity, 7);
	T_CHECK_STR(out.h.message_id, "<m42@example.net>");
	T_CHECK_STR(out.h.from_address, "carol@example.net");
	T_CHECK_STR(out.h.subject, "café");
	T_CHECK_STR(out.h.references, "<a@x> <b@x>");
	T_CHECK(out.h.automatic);
	T_CHECK(strstr(p.fetch_line, " Reply-To To Cc Date ") != NULL);
	T_CHECK(out.h.to_count == 1 && out.h.cc_count == 1);
	if (out.h.to_count == 1 && out.h.cc_count == 1) {
		T_CHECK_STR(out.h.to[0], "x@example.org");
		T_CHECK_STR(out.h.cc[0], "z@example.org");
	}

	/* Another UIDVALIDITY: not found, nothing fetched. */
	q.uidvalidity = 8;
	run_headers(&sc, &p, &q);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK(!out.found);
	T_CHECK_INT(out.uidvalidity, 7);
	T_CHECK_STR(p.commands, "LOGIN EXAMINE LOGOUT ");

	/* The server answers with another UID only: not found. */
	free(item);
	free(fetch);
	item = fetch_item(1, 41, "01-Feb-2024 10:00:00 +0000",
			  "From: carol@example.net\r\n\r\n");
	fetch = xasprintf("%s$T OK done\r\n", item);
	sc.fetch = fetch;
	q.uidvalidity = 7;
	run_headers(&sc, &p, &q);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK(!out.found);
	free(item);
	free(fetch);
}

static void test_headers_search(void)
{
	const char *since_ok = "01-Feb-2024 10:00:00 +0000";
	char *items[] = {
	    /* The newest hit: a FROM substring match, not carol. */
	    fetch_item(1, 9, since_ok,
		       "From: x <carol@example.net.evil.example>\r\n"),
	    /* The one: carol, after `since`. */
	    fetch_item(2, 7, since_ok,
		       "From: Carol <carol@EXAMPLE.net>\r\n"
		       "Message-ID: <seven@example.net>\r\n"),
	    /* carol, but delivered before `since`. */
	    fetch_item(3, 8, "31-Jan-2024 23:59:59 +0000",
		       "From: carol@example.net\r\n"),
	    /* carol, older. */
	    fetch_item(4, 5, since_ok, "From: carol@example.net\r\n"),
	    /* Not asked for. */
	    fetch_item(5, 1000, since_ok, "From: carol@example.net\r\n"),
	};
	char *fetch = xasprintf("%s%s%s%s%s$T OK done\r\n", items[0], items[1],
				items[2], items[3], items[4]);
	struct peer_script sc = {.search =
				     "* SEARCH 3 9 5 7 8 9 0\r\n$T OK done\r\n",
				 .fetch = fetch};
	struct ms_imap_header_query q = {.from = "carol@example.net",
					 .since = DATE};
	struct peer p;

	run_headers(&sc, &p, &q);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.commands, "LOGIN EXAMINE UID SEARCH UID FETCH LOGOUT ");
	T_CHECK_STR(p.search_line,
		    "SINCE 31-Jan-2024 FROM \"carol@example.net\"");
	T_CHECK(strncmp(p.fetch_line, "3,5,7:9 (", 9) == 0);
	T_CHECK(out.found);
	T_CHECK_INT(out.uid, 7);
	T_CHECK_STR(out.h.message_id, "<seven@example.net>");
	T_CHECK(!out.h.automatic);
	for (size_t i = 0; i < UT_N_ELEMENTS(items); i++)
		free(items[i]);
	free(fetch);
}

static void test_headers_search_bounded(void)
{
	/* 30 hits: only the newest MS_IMAP_SEARCH_MAX are fetched. */
	static const struct peer_script sc = {
	    .search = "* SEARCH 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
		      "19 20 21 22 23 24 25 26 27 28 29 30\r\n$T OK done\r\n"};
	static const struct peer_script none = {0};
	struct ms_imap_header_query q = {.from = "carol@example.net",
					 .since = 0};
	struct peer p;

	run_headers(&sc, &p, &q);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK(!out.found);
	T_CHECK(strncmp(p.fetch_line, "11:30 (", 7) == 0);
	T_CHECK(strstr(p.search_line, "SINCE 1-Jan-1970") != NULL);
	/* No hits: no FETCH. */
	run_headers(&none, &p, &q);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK(!out.found);
	T_CHECK_STR(p.commands, "LOGIN EXAMINE UID SEARCH LOGOUT ");
}

static void test_headers_errors(void)
{
	static const struct peer_script missing = {
	    .examine = "$T NO [NONEXISTENT] Mailbox doesn't exist: X\r\n"};
	static const struct peer_script no_uidvalidity = {
	    .examine = "* 2 EXISTS\r\n$T OK [READ-ONLY] done\r\n"};
	static const struct peer_script bad_fetch = {
	    .search = "* SEARCH 4\r\n$T OK done\r\n",
	    .fetch = "* 1 FETCH (UID 4 BODY[HEADER.FIELDS (FROM)] "
		     "{99999999}\r\n"};
	struct ms_imap_header_query q = {.from = "carol@example.net"};
	struct peer p;

	run_headers(&missing, &p, &q);
	T_CHECK_STR(ms_imap_error_name(out.error), "no-mailbox");
	run_headers(&no_uidvalidity, &p, &q);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "UIDVALIDITY") != NULL);
	run_headers(&bad_fetch, &p, &q);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "literal") != NULL);
	T_CHECK(!out.found && out.h.from_address == NULL);
}

static void test_headers_bad_query(void)
{
	struct ms_imap_pool *pool = pool_new(1);
	const struct ms_imap_header_query bad[] = {
	    {.from = NULL},
	    {.from = "not an address"},
	    {.from = "c\xc3\xa9@example.net"},
	    {.from = "carol@example.net", .mailbox = "IN\r\nBOX"},
	    {.uid = 3, .uidvalidity = 7, .mailbox = ""},
	};

	for (size_t i = 0; i < UT_N_ELEMENTS(bad); i++)
		T_CHECK_INT(ms_imap_headers(pool, "ivy@example.org", &bad[i],
					    headers_cb, NULL),
			    -1);
	T_CHECK_INT(ms_imap_pool_pending(pool), 0);
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* Freeing the pool with both kinds queued and running: no callback. */
static void test_free_with_jobs(void)
{
	struct ms_imap_header_query q = {.from = "carol@example.net"};
	struct ms_imap_pool *pool;
	struct peer p;

	out_reset();
	peer_start(&loop, &p, PEER_SILENT, NULL);
	pool = pool_new(p.port);
	for (int i = 0; i < 2; i++) {
		T_CHECK_INT(ms_imap_append_sent(pool, "ivy@example.org", mail,
						strlen(mail), 0, append_cb,
						NULL),
			    0);
		T_CHECK_INT(ms_imap_headers(pool, "ivy@example.org", &q,
					    headers_cb, NULL),
			    0);
	}
	T_CHECK_INT(ms_imap_pool_pending(pool), 4);
	peer_run_until(&loop, &p.accepted, 1, 3000);
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_NOWAIT);
	peer_run_for(&loop, 100);
	T_CHECK_INT(out.calls, 0);
	peer_stop(&p);
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
	T_RUN(test_append_ok);
	T_RUN(test_append_no_sent);
	T_RUN(test_append_plain_list);
	T_RUN(test_append_utf7_name);
	T_RUN(test_append_refused);
	T_RUN(test_append_login_fails);
	T_RUN(test_append_bad_args);
	T_RUN(test_headers_by_uid);
	T_RUN(test_headers_search);
	T_RUN(test_headers_search_bounded);
	T_RUN(test_headers_errors);
	T_RUN(test_headers_bad_query);
	T_RUN(test_free_with_jobs);
	out_reset();
	T_CHECK_INT(uv_loop_close(&loop), 0);
	return T_DONE();
}
