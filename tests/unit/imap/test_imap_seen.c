/*
 * The seen-by-Message-ID job of ms_imap against scripted peers
 * (imap_peer.c): what is sent (EXAMINE, UID SEARCH HEADER Message-ID, UID
 * FETCH of FLAGS and BODY.PEEK of the Message-ID), the exact match among
 * the substring hits, and what hostile answers turn into; bad arguments;
 * freeing the pool with such jobs queued.
 */

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "imap_peer.h"
#include "ms_imap.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"

static uv_loop_t loop;

static struct outcome {
	int calls;
	enum ms_imap_error error;
	char text[512];
	bool found;
	uint32_t uidvalidity;
	uint32_t uid;
	bool seen;
} out;

static void seen_cb(const struct ms_imap_seen_result *res, void *ctx)
{
	(void)ctx;
	out.calls++;
	out.error = res->error;
	snprintf(out.text, sizeof(out.text), "%s",
		 res->error_text != NULL ? res->error_text : "");
	out.found = res->found;
	out.uidvalidity = res->uidvalidity;
	out.uid = res->uid;
	out.seen = res->seen;
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

/* One job against a scripted peer; fills out and p. */
static void run_seen(const struct peer_script *sc, struct peer *p,
		     const char *mailbox, const char *id)
{
	struct ms_imap_pool *pool;

	memset(&out, 0, sizeof(out));
	peer_start(&loop, p, PEER_SCRIPT, sc);
	pool = pool_new(p->port);
	T_CHECK_INT(ms_imap_seen_by_msgid(pool, "bob@example.org", mailbox, id,
					  seen_cb, NULL),
		    0);
	peer_run_until(&loop, &out.calls, 1, 10000);
	peer_run_for(&loop, 50);
	T_CHECK_INT(out.calls, 1);
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_NOWAIT);
	peer_stop(p);
	if (out.error != MS_IMAP_OK && out.error != MS_IMAP_ERR_NO_MAILBOX)
		fprintf(stderr, "error text: %s\n", out.text);
	T_CHECK(strstr(out.text, "secret-pw") == NULL);
	/* A failed job reports nothing else. */
	if (out.error != MS_IMAP_OK)
		T_CHECK(!out.found && out.uid == 0 && !out.seen &&
			out.uidvalidity == 0);
}

/* A FETCH response with flags (NULL: no FLAGS item) and a header. */
static void item(struct ut_buf *b, unsigned uid, const char *flags,
		 const char *header)
{
	ut_buf_appendf(b, "* %u FETCH (UID %u ", uid, uid);
	if (flags != NULL)
		ut_buf_appendf(b, "FLAGS (%s) ", flags);
	ut_buf_appendf(b, "BODY[HEADER.FIELDS (MESSAGE-ID)] {%zu}\r\n%s)\r\n",
		       strlen(header), header);
}

static void test_seen_exact_match(void)
{
	struct ut_buf b;
	struct peer_script sc = {.search =
				     "* SEARCH 5 9 7 9 0\r\n$T OK done\r\n"};
	struct peer p;

	ut_buf_init(&b);
	/* The newest hit: the id is only a substring of its Message-ID. */
	item(&b, 9, "\\Seen", "Message-ID: <x-ab@example.org>\r\n\r\n");
	/* The newest exact match, unseen (folded, with a comment). */
	item(&b, 7, "\\Answered $Label",
	     "message-id: (c)\r\n <ab@example.org>\r\n\r\n");
	/* An older exact match, seen. */
	item(&b, 5, "\\Seen", "Message-ID: <ab@example.org>\r\n\r\n");
	/* Not asked for. */
	item(&b, 1000, "\\Seen", "Message-ID: <ab@example.org>\r\n\r\n");
	/* UID 7 again, now seen: the first answer counts. */
	item(&b, 7, "\\Seen", "Message-ID: <ab@example.org>\r\n\r\n");
	ut_buf_append_str(&b, "$T OK done\r\n");
	sc.fetch = ut_buf_str(&b);
	run_seen(&sc, &p, NULL, "<ab@example.org>");
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.commands, "LOGIN EXAMINE UID SEARCH UID FETCH LOGOUT ");
	T_CHECK_STR(p.examine_line, "INBOX");
	T_CHECK_STR(p.search_line, "HEADER Message-ID \"<ab@example.org>\"");
	T_CHECK_STR(p.fetch_line, "5,7,9 (UID FLAGS BODY.PEEK[HEADER.FIELDS "
				  "(Message-ID)])");
	T_CHECK(out.found);
	T_CHECK_INT(out.uid, 7);
	T_CHECK_INT(out.uidvalidity, 7);
	T_CHECK(!out.seen);

	/* The newest exact match seen, among other flags. */
	ut_buf_reset(&b);
	item(&b, 5, "", "Message-ID: <ab@example.org>\r\n\r\n");
	item(&b, 9, "\\Flagged \\Seen \\Draft",
	     "Message-ID: <ab@example.org>\r\n\r\n");
	item(&b, 7, "", "Message-ID: <ab@example.org> <zz@example.org>\r\n");
	ut_buf_append_str(&b, "$T OK done\r\n");
	sc.fetch = ut_buf_str(&b);
	run_seen(&sc, &p, "Archive/2024", "<ab@example.org>");
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.examine_line, "\"Archive/2024\"");
	T_CHECK(out.found && out.seen);
	T_CHECK_INT(out.uid, 9);
	ut_buf_free(&b);
}

static void test_seen_not_found(void)
{
	static const struct peer_script none = {0};
	struct ut_buf b;
	struct peer_script sc = {.search = "* SEARCH 3 4\r\n$T OK done\r\n"};
	struct peer p;

	/* No hits: no FETCH. */
	run_seen(&none, &p, NULL, "<ab@example.org>");
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.commands, "LOGIN EXAMINE UID SEARCH LOGOUT ");
	T_CHECK(!out.found && !out.seen && out.uid == 0);
	T_CHECK_INT(out.uidvalidity, 7);

	/* Hits whose Message-ID only contains the id, differs in case, is
	   another field, or is missing from the answer. */
	ut_buf_init(&b);
	item(&b, 3, "\\Seen", "Message-ID: <ab@example.org.x>\r\n\r\n");
	item(&b, 4, "\\Seen", "Message-ID: <AB@example.org>\r\n\r\n");
	ut_buf_appendf(&b, "* 3 FETCH (UID 4 FLAGS (\\Seen))\r\n");
	item(&b, 4, "\\Seen",
	     "References: <ab@example.org>\r\nX-Message-ID: "
	     "<ab@example.org>\r\n\r\n");
	ut_buf_append_str(&b, "$T OK done\r\n");
	sc.fetch = ut_buf_str(&b);
	run_seen(&sc, &p, NULL, "<ab@example.org>");
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK(!out.found && !out.seen);
	ut_buf_free(&b);
}

static void test_seen_search_bounded(void)
{
	static const struct peer_script sc = {
	    .search = "* SEARCH 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
		      "19 20 21 22 23 24 25 26 27 28 29 30\r\n$T OK done\r\n"};
	struct peer p;

	run_seen(&sc, &p, NULL, "<ab@example.org>");
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK(strncmp(p.fetch_line, "11:30 (", 7) == 0);
}

static void test_seen_quoting(void)
{
	static const struct peer_script sc = {0};
	struct peer p;

	/* Quotes and backslashes are legal in a msg-id: sent escaped. */
	run_seen(&sc, &p, "My \"Box\"", "<a\"b\\c@example.org>");
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK_STR(p.examine_line, "\"My \\\"Box\\\"\"");
	T_CHECK_STR(p.search_line,
		    "HEADER Message-ID \"<a\\\"b\\\\c@example.org>\"");
}

static void test_seen_errors(void)
{
	static const struct peer_script missing = {
	    .examine = "$T NO [NONEXISTENT] Mailbox doesn't exist: X\r\n"};
	static const struct peer_script no_uidvalidity = {
	    .examine = "* 2 EXISTS\r\n$T OK [READ-ONLY] done\r\n"};
	static const struct peer_script bad_search = {
	    .search = "$T BAD Error in IMAP command\r\n"};
	static const struct peer_script garbage_search = {
	    .search = "* SEARCH 1 x 2\r\n$T OK done\r\n"};
	/* The exact match comes without FLAGS: not taken for unseen. */
	struct peer_script flagless = {.search =
					   "* SEARCH 4 5\r\n$T OK done\r\n"};
	static const struct peer_script huge = {
	    .search = "* SEARCH 4\r\n$T OK done\r\n",
	    .fetch = "* 1 FETCH (UID 4 FLAGS (\\Seen) BODY[HEADER.FIELDS "
		     "(MESSAGE-ID)] {99999999}\r\n"};
	static const struct peer_script bye = {
	    .search = "* SEARCH 4\r\n$T OK done\r\n",
	    .fetch = "* BYE going away\r\n"};
	static const struct peer_script fetch_no = {
	    .search = "* SEARCH 4\r\n$T OK done\r\n",
	    .fetch = "$T NO Some messages could not be FETCHed\r\n"};
	/* Partial data with the NO (Dovecot: the others were expunged
	   meanwhile): what came counts. */
	struct peer_script fetch_partial = {
	    .search = "* SEARCH 4 5\r\n$T OK done\r\n"};
	static const char id[] = "<ab@example.org>";
	struct ut_buf b, b2;
	struct peer p;

	ut_buf_init(&b);
	item(&b, 4, "\\Seen", "Message-ID: <ab@example.org>\r\n\r\n");
	item(&b, 5, NULL, "Message-ID: <ab@example.org>\r\n\r\n");
	ut_buf_append_str(&b, "$T OK done\r\n");
	flagless.fetch = ut_buf_str(&b);
	ut_buf_init(&b2);
	item(&b2, 4, "\\Seen", "Message-ID: <ab@example.org>\r\n\r\n");
	ut_buf_append_str(&b2, "$T NO Some messages could not be FETCHed\r\n");
	fetch_partial.fetch = ut_buf_str(&b2);

	run_seen(&missing, &p, "X", id);
	T_CHECK_STR(ms_imap_error_name(out.error), "no-mailbox");
	T_CHECK_STR(p.commands, "LOGIN EXAMINE ");
	run_seen(&no_uidvalidity, &p, NULL, id);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "UIDVALIDITY") != NULL);
	run_seen(&bad_search, &p, NULL, id);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "UID SEARCH") != NULL);
	run_seen(&garbage_search, &p, NULL, id);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	run_seen(&flagless, &p, NULL, id);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "no FLAGS for UID 5") != NULL);
	run_seen(&huge, &p, NULL, id);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "literal") != NULL);
	run_seen(&bye, &p, NULL, id);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	run_seen(&fetch_no, &p, NULL, id);
	T_CHECK_STR(ms_imap_error_name(out.error), "temp");
	T_CHECK(strstr(out.text, "could not be FETCHed") != NULL);
	run_seen(&fetch_partial, &p, NULL, id);
	T_CHECK_INT(out.error, MS_IMAP_OK);
	T_CHECK(out.found && out.seen);
	T_CHECK_INT(out.uid, 4);
	ut_buf_free(&b);
	ut_buf_free(&b2);
}

static void test_seen_bad_args(void)
{
	struct ms_imap_pool *pool = pool_new(1);
	struct ut_buf b;
	static const char *const bad_ids[] = {
	    "",
	    "<>",
	    "ab@example.org",
	    "<ab@example.org",
	    "ab@example.org>",
	    "<a b@example.org>",
	    "<ab@example.org> <cd@example.org>",
	    "<<ab@example.org>>",
	    "<a\tb@example.org>",
	    "<ab@example.org>\r\n",
	    "<j\xc3\xb6rg@example.org>",
	    "<a\x7f@example.org>",
	    "<abexample.org>",
	    "<@example.org>",
	    "<ab@>",
	    " <ab@example.org>",
	};
	static const char *const bad_boxes[] = {"", "IN\r\nBOX",
						"Envoy\xc3\xa9s", "a\x7f"};

	for (size_t i = 0; i < UT_N_ELEMENTS(bad_ids); i++) {
		T_CHECK_INT(ms_imap_seen_by_msgid(pool, "bob@example.org", NULL,
						  bad_ids[i], seen_cb, NULL),
			    -1);
	}
	T_CHECK_INT(ms_imap_seen_by_msgid(pool, "bob@example.org", NULL, NULL,
					  seen_cb, NULL),
		    -1);
	for (size_t i = 0; i < UT_N_ELEMENTS(bad_boxes); i++) {
		T_CHECK_INT(
		    ms_imap_seen_by_msgid(pool, "bob@example.org", bad_boxes[i],
					  "<ab@example.org>", seen_cb, NULL),
		    -1);
	}
	/* MS_IMAP_MSGID_MAX octets: taken; one more: refused. */
	ut_buf_init(&b);
	ut_buf_append_str(&b, "<");
	while (b.len < MS_IMAP_MSGID_MAX - strlen("@example.org>"))
		ut_buf_append_c(&b, 'x');
	ut_buf_append_str(&b, "@example.org>");
	T_CHECK_INT(b.len, MS_IMAP_MSGID_MAX);
	T_CHECK_INT(ms_imap_seen_by_msgid(pool, "bob@example.org", NULL,
					  ut_buf_str(&b), seen_cb, NULL),
		    0);
	T_CHECK_INT(ms_imap_pool_pending(pool), 1);
	ut_buf_reset(&b);
	ut_buf_append_str(&b, "<");
	while (b.len < MS_IMAP_MSGID_MAX + 1 - strlen("@example.org>"))
		ut_buf_append_c(&b, 'x');
	ut_buf_append_str(&b, "@example.org>");
	T_CHECK_INT(ms_imap_seen_by_msgid(pool, "bob@example.org", NULL,
					  ut_buf_str(&b), seen_cb, NULL),
		    -1);
	T_CHECK_INT(ms_imap_pool_pending(pool), 1);
	ut_buf_free(&b);
	memset(&out, 0, sizeof(out));
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_NOWAIT);
	T_CHECK_INT(out.calls, 0);
}

/* Freeing the pool with seen jobs queued and running: no callback. */
static void test_free_with_jobs(void)
{
	struct ms_imap_pool *pool;
	struct peer p;

	memset(&out, 0, sizeof(out));
	peer_start(&loop, &p, PEER_SILENT, NULL);
	pool = pool_new(p.port);
	for (int i = 0; i < 3; i++)
		T_CHECK_INT(ms_imap_seen_by_msgid(pool, "bob@example.org", NULL,
						  "<ab@example.org>", seen_cb,
						  NULL),
			    0);
	T_CHECK_INT(ms_imap_pool_pending(pool), 3);
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
	T_RUN(test_seen_exact_match);
	T_RUN(test_seen_not_found);
	T_RUN(test_seen_search_bounded);
	T_RUN(test_seen_quoting);
	T_RUN(test_seen_errors);
	T_RUN(test_seen_bad_args);
	T_RUN(test_free_with_jobs);
	T_CHECK_INT(uv_loop_close(&loop), 0);
	return T_DONE();
}
