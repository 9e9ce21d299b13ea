/*
 * Tests of the ledger's schema migrations, due marks, row removals,
 * outbox ranges and users' settings.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#include "br_ledger_private.h"
#include "ledger_test.h"

/* The schema of version 1, as tidingsd 1 created it. */
static const char schema_v1[] =
    "CREATE TABLE mailboxes("
    " user TEXT NOT NULL, mailbox TEXT NOT NULL,"
    " uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,"
    " floor_uid INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(user, mailbox)) WITHOUT ROWID;"
    "CREATE TABLE notified("
    " user TEXT NOT NULL, mailbox TEXT NOT NULL,"
    " uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,"
    " at INTEGER NOT NULL,"
    " PRIMARY KEY(user, mailbox, uidvalidity, uid),"
    " FOREIGN KEY(user, mailbox) REFERENCES mailboxes(user, mailbox)"
    "  ON DELETE CASCADE) WITHOUT ROWID;"
    "CREATE TABLE outbox("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " jid TEXT NOT NULL, xml BLOB NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE meta("
    " key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;";

static int collect_out_cb(uint64_t id, const char *jid, const char *xml,
			  size_t len, void *ctx)
{
	ut_buf_appendf(ctx, "%" PRIu64 ":%s:%.*s;", id, jid, (int)len, xml);
	return 0;
}

static void test_migrate_from_v1(void)
{
	char *dir = lt_state_dir("v1");
	char *path = xasprintf("%s/tidings.db", dir);
	sqlite3 *db;

	T_CHECK_INT(mkdir(dir, 0700), 0);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
	    SQLITE_OK);
	T_CHECK_INT(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
	T_CHECK_INT(
	    sqlite3_exec(
		db,
		"PRAGMA user_version = 1;"
		"PRAGMA application_id = 1413762631;" /* "TDNG" */
		"INSERT INTO mailboxes VALUES('bob', 'INBOX', 7, 12, 3);"
		"INSERT INTO mailboxes VALUES('bob', 'Max', 9, 4294967295, 0);"
		"INSERT INTO notified VALUES('bob', 'INBOX', 7, 11, 100);"
		"INSERT INTO notified VALUES('bob', 'INBOX', 7, 12, 100);"
		"INSERT INTO outbox(jid, xml, created)"
		" VALUES('bob@x', '<m/>', 100);"
		"INSERT INTO meta VALUES('alive_at', 1234);",
		NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	lt_log_start();
	struct br_ledger *l = lt_open(dir);
	lt_log_stop();
	T_CHECK_INT(lt_log_count("schema upgraded from version 1 to 3"), 1);
	T_CHECK_INT(lt_query(dir, "PRAGMA user_version"), 3);
	/* Rows kept: mailbox, floor, keys, outbox, meta. */
	int found = 0;
	uint32_t v = 0, last = 0;
	T_CHECK_INT(br_ledger_mailbox_get(l, "bob", "INBOX", &found, &v, &last),
		    0);
	T_CHECK(found == 1 && v == 7 && last == 12);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 7, 2), 1); /* floor */
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 7, 11), 1);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 7, 10), 0);
	struct ut_buf b = UT_BUF_INIT;
	T_CHECK_INT(br_ledger_outbox_foreach(l, collect_out_cb, &b), 0);
	T_CHECK_STR(ut_buf_str(&b), "1:bob@x:<m/>;");
	ut_buf_free(&b);
	int64_t alive = 0;
	T_CHECK_INT(br_ledger_meta_get(l, "alive_at", &found, &alive), 0);
	T_CHECK_INT(alive, 1234);
	/* The new columns: nothing due, and NOT NULL DEFAULT 0. */
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM mailboxes WHERE"
				  " rescan_from IS NULL AND rescan_after = 0"),
		    2);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM sqlite_master WHERE"
				  " name IN ('mailboxes_due', 'notified_at')"),
		    2);
	uint64_t n = 99;
	T_CHECK_INT(br_ledger_due_count(l, &n), 0);
	T_CHECK_INT(n, 0);
	br_ledger_close(&l);
	free(path);
	free(dir);
}

static void test_empty_file(void)
{
	/* An empty file (as a crash right after creating it leaves) gets the
	   whole schema; a file with tables but no version is refused. */
	char *dir = lt_state_dir("empty");
	char *path = xasprintf("%s/tidings.db", dir);
	T_CHECK_INT(mkdir(dir, 0700), 0);
	FILE *f = fopen(path, "w");
	T_CHECK(f != NULL);
	fclose(f);
	struct br_ledger *l = lt_open(dir);
	br_ledger_close(&l);
	T_CHECK_INT(lt_query(dir, "PRAGMA user_version"), 3);
	T_CHECK_INT(lt_query(dir, "PRAGMA application_id"), 0x54444e47);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM sqlite_master WHERE"
				  " name = 'mailboxes_due'"),
		    1);
	unlink(path);
	sqlite3 *db;
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
		    SQLITE_OK);
	sqlite3_close(db);
	char *error = NULL;
	T_CHECK_INT(br_ledger_open(dir, &l, &error), -1);
	char *want = xasprintf("%s: not a tidings database (tables, but no "
			       "schema version)",
			       path);
	T_CHECK_STR(error, want);
	free(want);
	free(error);
	free(path);
	free(dir);
}

/* Collects due rows as "user/mailbox/uv/last/from;". */
struct due_walk {
	struct ut_buf b;
	struct br_ledger *clear; /* when set, clears each row it sees */
	int stop_after;		 /* > 0: stop after that many */
	int calls;
};

static int due_cb(const struct br_ledger_due *d, void *ctx)
{
	struct due_walk *w = ctx;
	ut_buf_appendf(&w->b, "%s/%s/%" PRIu32 "/%" PRIu32 "/%" PRIu32 ";",
		       d->user, d->mailbox, d->uidvalidity, d->last_uid,
		       d->rescan_from);
	if (w->clear != NULL)
		T_CHECK_INT(br_ledger_due_clear(w->clear, d->user, d->mailbox,
						d->rescan_from),
			    0);
	return ++w->calls == w->stop_after;
}

static char *due_str(struct br_ledger *l, const char *after_user,
		     const char *after_mailbox, int64_t now, size_t limit)
{
	struct due_walk w = {UT_BUF_INIT, NULL, 0, 0};
	T_CHECK_INT(br_ledger_due_next(l, after_user, after_mailbox, now, limit,
				       due_cb, &w),
		    0);
	return ut_buf_steal(&w.b);
}

#define CHECK_DUE(l, au, am, now, limit, want)                                 \
	do {                                                                   \
		char *got_ = due_str(l, au, am, now, limit);                   \
		T_CHECK_STR(got_, want);                                       \
		free(got_);                                                    \
	} while (0)

static uint64_t due_count(struct br_ledger *l)
{
	uint64_t n = 0;
	T_CHECK_INT(br_ledger_due_count(l, &n), 0);
	return n;
}

static void test_due(void)
{
	char *dir = lt_state_dir("due");
	struct br_ledger *l = lt_open(dir);

	T_CHECK_INT(br_ledger_mailbox_set(l, "a", "INBOX", 5, 10), 0);
	T_CHECK_INT(br_ledger_mailbox_set(l, "a", "Work", 5, 0), 0);
	T_CHECK_INT(br_ledger_mailbox_set(l, "b", "INBOX", 6, UINT32_MAX), 0);
	T_CHECK_INT(br_ledger_mailbox_set(l, "c", "INBOX", 7, 20), 0);
	CHECK_DUE(l, NULL, NULL, 0, 100, "");
	T_CHECK_INT(due_count(l), 0);

	/* A lower mark survives due_all, a higher one is lowered. */
	T_CHECK_INT(br_ledger_due_set(l, "c", "INBOX", 3, 50), 0);
	T_CHECK_INT(br_ledger_due_set(l, "a", "INBOX", 15, 50), 0);
	T_CHECK_INT(br_ledger_due_all(l), 0);
	/* b/INBOX is at UINT32_MAX: nothing above, not due. */
	CHECK_DUE(l, NULL, NULL, 0, 100,
		  "a/INBOX/5/10/11;a/Work/5/0/1;c/INBOX/7/20/3;");
	T_CHECK_INT(due_count(l), 3);
	/* ...unless marked on purpose; due_all keeps that mark. */
	T_CHECK_INT(br_ledger_due_set(l, "b", "INBOX", 7, 0), 0);
	T_CHECK_INT(br_ledger_due_all(l), 0);
	CHECK_DUE(l, "a", "Work", 0, 100,
		  "b/INBOX/6/4294967295/7;c/INBOX/7/20/3;");

	/* The cursor is strict and the limit holds; fewer than the limit
	   means the end. */
	CHECK_DUE(l, NULL, NULL, 0, 2, "a/INBOX/5/10/11;a/Work/5/0/1;");
	CHECK_DUE(l, "a", "Work", 0, 1, "b/INBOX/6/4294967295/7;");
	CHECK_DUE(l, "b", "INBOX", 0, 5, "c/INBOX/7/20/3;");
	CHECK_DUE(l, "c", "INBOX", 0, 5, "");
	/* A cursor between rows and one before every row. */
	CHECK_DUE(l, "a", "J", 0, 1, "a/Work/5/0/1;");
	CHECK_DUE(l, "", "", 0, 1, "a/INBOX/5/10/11;");

	/* due_set: creates a first-seen row (0/0), keeps the lower UID, and
	   its not_before is the latest word. */
	T_CHECK_INT(br_ledger_due_set(l, "d", "New", 1, 100), 0);
	int found = 0;
	uint32_t v = 9, last = 9;
	T_CHECK_INT(br_ledger_mailbox_get(l, "d", "New", &found, &v, &last), 0);
	T_CHECK(found == 1 && v == 0 && last == 0);
	CHECK_DUE(l, "c", "INBOX", 99, 5, "");
	CHECK_DUE(l, "c", "INBOX", 100, 5, "d/New/0/0/1;");
	T_CHECK_INT(br_ledger_due_set(l, "d", "New", 8, 200), 0);
	CHECK_DUE(l, "c", "INBOX", 199, 5, "");
	CHECK_DUE(l, "c", "INBOX", 200, 5, "d/New/0/0/1;");
	T_CHECK_INT(br_ledger_due_set(l, "d", "New", 0, 150), 0);
	CHECK_DUE(l, "c", "INBOX", 150, 5, "d/New/0/0/0;");
	T_CHECK_INT(due_count(l), 5);
	/* Its first notified mail sets UIDVALIDITY quietly (a first-seen row
	   had no keys to forget) and leaves the mark. */
	T_CHECK_INT(br_ledger_due_set(l, "e", "New", 1, 150), 0);
	lt_log_start();
	uint64_t id;
	struct br_ledger_key k = {"New", 42, 3};
	T_CHECK_INT(br_ledger_commit(l, "e", &k, 1, "e", "<e/>", 4, &id), 0);
	lt_log_stop();
	T_CHECK_STR(ut_buf_str(&lt_log), "");
	CHECK_DUE(l, "d", "New", 150, 5, "e/New/42/3/1;");
	T_CHECK_INT(br_ledger_mailbox_remove(l, "e", "New"), 0);

	/* due_clear: the mark stays when it was lowered below what the
	   scan covered, else it goes. */
	T_CHECK_INT(br_ledger_due_clear(l, "d", "New", 1), 0);
	CHECK_DUE(l, "c", "INBOX", 150, 5, "d/New/0/0/0;");
	T_CHECK_INT(br_ledger_due_clear(l, "d", "New", 0), 0);
	CHECK_DUE(l, "c", "INBOX", 1000, 5, "");
	/* A cleared row is walked no more; unknown rows are no error. */
	T_CHECK_INT(br_ledger_due_clear(l, "x", "y", 0), 0);
	T_CHECK_INT(due_count(l), 4);

	/* The callback may use the ledger: clear everything while walking,
	   and stop early when it says so. */
	struct due_walk w = {UT_BUF_INIT, NULL, 1, 0};
	T_CHECK_INT(br_ledger_due_next(l, NULL, NULL, 0, 10, due_cb, &w), 0);
	T_CHECK_INT(w.calls, 1);
	ut_buf_free(&w.b);
	w = (struct due_walk){UT_BUF_INIT, l, 0, 0};
	T_CHECK_INT(br_ledger_due_next(l, NULL, NULL, 0, 10, due_cb, &w), 0);
	T_CHECK_INT(w.calls, 4);
	ut_buf_free(&w.b);
	T_CHECK_INT(due_count(l), 0);

	/* Marks survive a restart. */
	T_CHECK_INT(br_ledger_due_set(l, "a", "Work", 4, 7), 0);
	br_ledger_close(&l);
	l = lt_open(dir);
	CHECK_DUE(l, NULL, NULL, 7, 10, "a/Work/5/0/4;");
	/* mailbox_set leaves the mark alone. */
	T_CHECK_INT(br_ledger_mailbox_set(l, "a", "Work", 5, 30), 0);
	CHECK_DUE(l, NULL, NULL, 7, 10, "a/Work/5/30/4;");
	br_ledger_close(&l);
	free(dir);
}

static void test_remove(void)
{
	char *dir = lt_state_dir("remove");
	struct br_ledger *l = lt_open(dir);
	struct br_ledger_key k[] = {
	    {"INBOX", 1, 1}, {"INBOX", 1, 2}, {"Old", 1, 1}};
	uint64_t id;

	T_CHECK_INT(br_ledger_commit(l, "a", k, 3, "a", "<a/>", 4, &id), 0);
	T_CHECK_INT(br_ledger_commit(l, "b", k, 3, "b", "<b/>", 4, &id), 0);
	T_CHECK_INT(br_ledger_due_set(l, "a", "Old", 2, 0), 0);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 6);

	T_CHECK_INT(br_ledger_mailbox_remove(l, "a", "Old"), 0);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 5);
	T_CHECK_INT(lt_is_notified(l, "a", "Old", 1, 1), 0);
	T_CHECK_INT(lt_is_notified(l, "a", "INBOX", 1, 1), 1);
	T_CHECK_INT(due_count(l), 0);
	int found = 1;
	uint32_t v, last;
	T_CHECK_INT(br_ledger_mailbox_get(l, "a", "Old", &found, &v, &last), 0);
	T_CHECK_INT(found, 0);
	/* Unknown names are no error. */
	T_CHECK_INT(br_ledger_mailbox_remove(l, "a", "Old"), 0);
	T_CHECK_INT(br_ledger_user_remove(l, "nobody"), 0);

	T_CHECK_INT(br_ledger_user_remove(l, "b"), 0);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 2);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM mailboxes"), 1);
	T_CHECK_INT(lt_is_notified(l, "b", "INBOX", 1, 1), 0);
	T_CHECK_INT(lt_is_notified(l, "a", "INBOX", 1, 2), 1);
	br_ledger_close(&l);
	free(dir);
}

static void test_outbox_range(void)
{
	char *dir = lt_state_dir("range");
	struct br_ledger *l = lt_open(dir);
	uint64_t ids[5];

	for (int i = 0; i < 5; i++) {
		char xml[16];
		snprintf(xml, sizeof(xml), "<m%d/>", i);
		T_CHECK_INT(br_ledger_commit(l, NULL, NULL, 0, "j", xml,
					     strlen(xml), &ids[i]),
			    0);
	}
	T_CHECK_INT(br_ledger_confirm(l, ids[1]), 0);
	struct ut_buf b = UT_BUF_INIT;
	T_CHECK_INT(br_ledger_outbox_range(l, 0, 2, collect_out_cb, &b), 0);
	char *want = xasprintf("%" PRIu64 ":j:<m0/>;%" PRIu64 ":j:<m2/>;",
			       ids[0], ids[2]);
	T_CHECK_STR(ut_buf_str(&b), want);
	free(want);
	ut_buf_reset(&b);
	T_CHECK_INT(br_ledger_outbox_range(l, ids[2], 10, collect_out_cb, &b),
		    0);
	want = xasprintf("%" PRIu64 ":j:<m3/>;%" PRIu64 ":j:<m4/>;", ids[3],
			 ids[4]);
	T_CHECK_STR(ut_buf_str(&b), want);
	free(want);
	ut_buf_reset(&b);
	T_CHECK_INT(br_ledger_outbox_range(l, ids[4], 10, collect_out_cb, &b),
		    0);
	T_CHECK_STR(ut_buf_str(&b), "");
	T_CHECK_INT(br_ledger_outbox_range(l, 0, 0, collect_out_cb, &b), 0);
	T_CHECK_STR(ut_buf_str(&b), "");
	ut_buf_free(&b);
	br_ledger_close(&l);
	free(dir);
}

/* Full-scan steps of the ledger's prepared statements whose SQL starts
   with prefix, since the last call. */
static long fullscan_steps(struct br_ledger *l, const char *prefix)
{
	long n = 0;
	sqlite3 *db = br_ledger__sqlite(l);
	for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st != NULL;
	     st = sqlite3_next_stmt(db, st)) {
		if (strncmp(sqlite3_sql(st), prefix, strlen(prefix)) == 0)
			n += sqlite3_stmt_status(
			    st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
	}
	return n;
}

static void test_prune_is_no_full_scan(void)
{
	char *dir = lt_state_dir("prune-index");
	struct br_ledger *l = lt_open(dir);
	uint64_t id;

	for (uint32_t uid = 1; uid <= 200; uid++) {
		struct br_ledger_key k = {uid % 2 ? "INBOX" : "Work", 1, uid};
		T_CHECK_INT(
		    br_ledger_commit(l, "a", &k, 1, "a", "<a/>", 4, &id), 0);
	}
	T_CHECK_INT(lt_query(dir, "UPDATE notified SET at = at - 7200"
				  " WHERE uid <= 20 RETURNING 0"),
		    0);
	T_CHECK_INT(br_ledger_prune(l, 3600), 0);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 180);
	T_CHECK_INT(lt_is_notified(l, "a", "INBOX", 1, 19), 1); /* floor */
	T_CHECK_INT(lt_is_notified(l, "a", "Work", 1, 20), 1);
	/* Both statements found the 20 old keys through notified_at: the
	   only full scan is of the two rows of p (one per mailbox with old
	   keys), not of the 200 keys. */
	T_CHECK(fullscan_steps(l, "WITH p") <= 2);
	T_CHECK_INT(fullscan_steps(l, "DELETE FROM notified AS n"), 0);
	T_CHECK_INT(br_ledger_prune(l, 3600), 0);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 180);
	T_CHECK_INT(fullscan_steps(l, "WITH p"), 0);
	T_CHECK_INT(fullscan_steps(l, "DELETE FROM notified AS n"), 0);
	br_ledger_close(&l);
	free(dir);
}

static int64_t setting(struct br_ledger *l, const char *user, const char *name)
{
	int found = -1;
	int64_t v = -7;
	T_CHECK_INT(br_ledger_setting_get(l, user, name, &found, &v), 0);
	return found ? v : -1;
}

/* Settings: set, read, back to default, kept across a restart, kept in
   memory while writes fail, gone with their user. */
static void test_settings(void)
{
	char *dir = lt_state_dir("settings");
	struct br_ledger *l = lt_open(dir);
	T_CHECK_INT(setting(l, "bob", "notify"), -1);
	T_CHECK_INT(br_ledger_setting_set(l, "bob", "notify", 0), 0);
	T_CHECK_INT(br_ledger_setting_set(l, "bob", "hold_when", 2), 0);
	T_CHECK_INT(br_ledger_setting_set(l, "alice", "notify", 1), 0);
	T_CHECK_INT(setting(l, "bob", "notify"), 0);
	T_CHECK_INT(setting(l, "bob", "hold_when"), 2);
	T_CHECK_INT(br_ledger_setting_set(l, "bob", "hold_when", -1), 0);
	T_CHECK_INT(setting(l, "bob", "hold_when"), -1);
	br_ledger_close(&l);

	l = lt_open(dir);
	T_CHECK_INT(setting(l, "bob", "notify"), 0);
	T_CHECK_INT(setting(l, "alice", "notify"), 1);
	/* Writes fail: the change is kept and read back, then written. */
	T_CHECK_INT(sqlite3_exec(br_ledger__sqlite(l), "PRAGMA query_only = 1",
				 NULL, NULL, NULL),
		    SQLITE_OK);
	lt_log_start();
	T_CHECK_INT(br_ledger_setting_set(l, "bob", "notify", 1), 0);
	T_CHECK_INT(br_ledger_setting_set(l, "alice", "notify", -1), 0);
	T_CHECK_INT(setting(l, "bob", "notify"), 1);
	T_CHECK_INT(setting(l, "alice", "notify"), -1);
	T_CHECK_INT(sqlite3_exec(br_ledger__sqlite(l), "PRAGMA query_only = 0",
				 NULL, NULL, NULL),
		    SQLITE_OK);
	T_CHECK_INT(br_ledger_retry(l), 0);
	lt_log_stop();
	T_CHECK_INT(lt_log_count("writes fail"), 1);
	T_CHECK_INT(lt_query(dir, "SELECT value FROM settings WHERE user = "
				  "'bob' AND name = 'notify'"),
		    1);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM settings WHERE user = "
				  "'alice'"),
		    0);
	/* A user Dovecot no longer has loses their settings. */
	T_CHECK_INT(br_ledger_user_remove(l, "bob"), 0);
	T_CHECK_INT(setting(l, "bob", "notify"), -1);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM settings"), 0);
	br_ledger_close(&l);
	free(dir);
}

int main(void)
{
	umask(022);
	if (mkdtemp(lt_tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_migrate_from_v1);
	T_RUN(test_empty_file);
	T_RUN(test_due);
	T_RUN(test_remove);
	T_RUN(test_outbox_range);
	T_RUN(test_prune_is_no_full_scan);
	T_RUN(test_settings);
	char *cmd = xasprintf("rm -rf '%s'", lt_tmpdir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	ut_buf_free(&lt_log);
	return T_DONE();
}
