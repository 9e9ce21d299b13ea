/*
 * The durable state of nudges and read receipts; see br_nudgedb.h.
 * Recipients of a sent mail are stored joined by '\n' (refused when one
 * holds a line end).
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "br_db.h"
#include "br_nudgedb.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* "TDNG": marks the file as tidings' nudges and receipts. */
#define APPLICATION_ID 0x54444e47

/* Version 1. Released: never change it. */
static const char schema_v1[] =
    "CREATE TABLE sent("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user TEXT NOT NULL, message_id TEXT NOT NULL,"
    " subject TEXT NOT NULL, date INTEGER NOT NULL, rcpts TEXT NOT NULL,"
    " added INTEGER NOT NULL, UNIQUE(user, message_id));"
    "CREATE INDEX sent_user ON sent(user, seq);"
    "CREATE INDEX sent_added ON sent(added);"
    "CREATE TABLE nudge("
    " sender TEXT NOT NULL, recipient TEXT NOT NULL,"
    " message_id TEXT NOT NULL, at INTEGER NOT NULL,"
    " PRIMARY KEY(sender, recipient, message_id)) WITHOUT ROWID;"
    "CREATE INDEX nudge_pair ON nudge(sender, recipient, at);"
    "CREATE INDEX nudge_at ON nudge(at);"
    "CREATE TABLE receipt("
    " sender TEXT NOT NULL, recipient TEXT NOT NULL,"
    " message_id TEXT NOT NULL, at INTEGER NOT NULL,"
    " PRIMARY KEY(sender, recipient, message_id)) WITHOUT ROWID;"
    "CREATE INDEX receipt_at ON receipt(at);";

static const char *const schema_steps[] = {schema_v1};

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SENT_PUT,
	ST_SENT_TRIM,
	ST_SENT_LATEST,
	ST_SENT_GET,
	ST_NUDGE_SEEN,
	ST_NUDGE_COUNT,
	ST_NUDGE_ADD,
	ST_RECEIPT_ADD,
	ST_SENT_RECENT,
	ST_PRUNE_SENT,
	ST_PRUNE_NUDGE,
	ST_PRUNE_RECEIPT,
	ST_N
};

#define SENT_COLUMNS "user, message_id, subject, date, added, rcpts"

static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* REPLACE deletes the row of the same user and message_id: the new
       row gets the next seq, the latest. */
    [ST_SENT_PUT] = "INSERT OR REPLACE INTO sent(" SENT_COLUMNS
		    ") VALUES(?1,?2,?3,?4,?5,?6)",
    [ST_SENT_TRIM] = "DELETE FROM sent WHERE user = ?1 AND seq <="
		     " (SELECT seq FROM sent WHERE user = ?1"
		     " ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    [ST_SENT_LATEST] = "SELECT " SENT_COLUMNS " FROM sent WHERE user = ?1"
		       " ORDER BY seq DESC LIMIT 1",
    [ST_SENT_GET] = "SELECT " SENT_COLUMNS " FROM sent WHERE user = ?1"
		    " AND message_id = ?2",
    [ST_NUDGE_SEEN] = "SELECT 1 FROM nudge WHERE sender = ?1 AND"
		      " recipient = ?2 AND message_id = ?3",
    [ST_NUDGE_COUNT] = "SELECT count(*) FROM nudge WHERE sender = ?1 AND"
		       " recipient = ?2 AND at > ?3",
    [ST_NUDGE_ADD] = "INSERT INTO nudge(sender, recipient, message_id, at)"
		     " VALUES(?1,?2,?3,?4)",
    [ST_RECEIPT_ADD] = "INSERT OR IGNORE INTO receipt(sender, recipient,"
		       " message_id, at) VALUES(?1,?2,?3,?4)",
    [ST_SENT_RECENT] = "SELECT " SENT_COLUMNS ", seq FROM sent WHERE"
		       " added >= ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_PRUNE_SENT] = "DELETE FROM sent WHERE added < ?1",
    [ST_PRUNE_NUDGE] = "DELETE FROM nudge WHERE at < ?1",
    [ST_PRUNE_RECEIPT] = "DELETE FROM receipt WHERE at < ?1",
};

struct br_nudgedb {
	struct br_db *dbh;
	sqlite3 *db;
	sqlite3_stmt *st[ST_N];
};

static void st_done(struct br_nudgedb *db, enum stmt id)
{
	sqlite3_reset(db->st[id]);
	sqlite3_clear_bindings(db->st[id]);
}

/* Logs the failure of statement id and resets it. */
static int fail(struct br_nudgedb *db, enum stmt id, const char *what)
{
	log_error("nudges %s: %s: %s", br_db_path(db->dbh), what,
		  sqlite3_errmsg(db->db));
	st_done(db, id);
	return -1;
}

/* Runs a statement that returns no row (its parameters bound). */
static int run(struct br_nudgedb *db, enum stmt id, const char *what)
{
	if (sqlite3_step(db->st[id]) != SQLITE_DONE)
		return fail(db, id, what);
	st_done(db, id);
	return 0;
}

static int begin(struct br_nudgedb *db, const char *what)
{
	return run(db, ST_BEGIN, what);
}

/* Commits; on failure (or with ok false) rolls back and returns -1. */
static int end(struct br_nudgedb *db, bool ok, const char *what)
{
	if (ok && run(db, ST_COMMIT, what) == 0)
		return 0;
	if (!sqlite3_get_autocommit(db->db) &&
	    sqlite3_step(db->st[ST_ROLLBACK]) != SQLITE_DONE)
		log_error("nudges %s: rollback: %s", br_db_path(db->dbh),
			  sqlite3_errmsg(db->db));
	st_done(db, ST_ROLLBACK);
	return -1;
}

int br_nudgedb_open(const char *dir, struct br_nudgedb **db_r, char **error_r)
{
	static const struct br_db_schema schema = {
	    APPLICATION_ID, schema_steps, (int)UT_N_ELEMENTS(schema_steps)};
	struct br_nudgedb *db = xcalloc(1, sizeof(*db));

	if (br_db_open(dir, "nudges.db", &schema, &db->dbh, error_r) < 0) {
		free(db);
		return -1;
	}
	db->db = br_db_handle(db->dbh);
	const struct br_db_reset *reset = br_db_reset_info(db->dbh);
	if (reset != NULL)
		log_error("nudges %s: corrupt (%s): moved it to %s; the "
			  "record of sent mail, nudges and read receipts "
			  "starts again",
			  br_db_path(db->dbh), reset->why, reset->moved_to);
	for (int i = 0; i < ST_N; i++) {
		if (sqlite3_prepare_v3(db->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &db->st[i],
				       NULL) != SQLITE_OK) {
			*error_r = xasprintf("%s: %s", br_db_path(db->dbh),
					     sqlite3_errmsg(db->db));
			br_nudgedb_close(&db);
			return -1;
		}
	}
	*db_r = db;
	return 0;
}

void br_nudgedb_close(struct br_nudgedb **dbp)
{
	struct br_nudgedb *db = *dbp;
	if (db == NULL)
		return;
	for (int i = 0; i < ST_N; i++)
		sqlite3_finalize(db->st[i]);
	br_db_close(&db->dbh);
	ut_free(dbp);
}

int br_nudgedb_sent_put(struct br_nudgedb *db, const char *user,
			const char *message_id, const char *subject,
			int64_t date, const char *const *rcpts,
			size_t rcpt_count, int64_t now)
{
	sqlite3_stmt *st = db->st[ST_SENT_PUT];
	struct ut_buf joined = UT_BUF_INIT;

	for (size_t i = 0; i < rcpt_count; i++) {
		if (rcpts[i][0] == '\0' || strpbrk(rcpts[i], "\r\n") != NULL) {
			log_warn("nudges %s: %s: a sent mail's recipient is "
				 "empty or holds a line end; not stored",
				 br_db_path(db->dbh), user);
			ut_buf_free(&joined);
			return -1;
		}
		if (i > 0)
			ut_buf_append_c(&joined, '\n');
		ut_buf_append_str(&joined, rcpts[i]);
	}
	if (begin(db, "cannot store a sent mail") < 0) {
		ut_buf_free(&joined);
		return -1;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject != NULL ? subject : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, date);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, ut_buf_str(&joined), -1, SQLITE_TRANSIENT);
	ut_buf_free(&joined);
	bool ok = run(db, ST_SENT_PUT, "cannot store a sent mail") == 0;
	if (ok) {
		sqlite3_bind_text(db->st[ST_SENT_TRIM], 1, user, -1,
				  SQLITE_STATIC);
		sqlite3_bind_int(db->st[ST_SENT_TRIM], 2,
				 BR_NUDGEDB_SENT_PER_USER);
		ok = run(db, ST_SENT_TRIM, "cannot drop old sent mail") == 0;
	}
	return end(db, ok, "cannot store a sent mail");
}

static char *column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return xstrdup(s != NULL ? (const char *)s : "");
}

/* The sent row st stands on (SENT_COLUMNS). */
static struct br_nudgedb_sent *sent_row(sqlite3_stmt *st)
{
	struct br_nudgedb_sent *row = xcalloc(1, sizeof(*row));
	char *rcpts = column_text(st, 5);

	row->user = column_text(st, 0);
	row->message_id = column_text(st, 1);
	row->subject = column_text(st, 2);
	row->date = sqlite3_column_int64(st, 3);
	row->added = sqlite3_column_int64(st, 4);
	for (char *p = rcpts, *end; *p != '\0'; p = end) {
		end = p + strcspn(p, "\n");
		row->rcpts = xreallocarray(row->rcpts, row->rcpt_count + 1,
					   sizeof(*row->rcpts));
		row->rcpts[row->rcpt_count++] = xstrndup(p, (size_t)(end - p));
		if (*end == '\n')
			end++;
	}
	free(rcpts);
	return row;
}

/* Steps statement id (parameters bound) for at most one sent row. */
static int sent_one(struct br_nudgedb *db, enum stmt id,
		    struct br_nudgedb_sent **row_r)
{
	int rc = sqlite3_step(db->st[id]);

	*row_r = NULL;
	if (rc == SQLITE_ROW)
		*row_r = sent_row(db->st[id]);
	else if (rc != SQLITE_DONE)
		return fail(db, id, "cannot read sent mail");
	st_done(db, id);
	return 0;
}

int br_nudgedb_sent_latest(struct br_nudgedb *db, const char *user,
			   struct br_nudgedb_sent **row_r)
{
	sqlite3_bind_text(db->st[ST_SENT_LATEST], 1, user, -1, SQLITE_STATIC);
	return sent_one(db, ST_SENT_LATEST, row_r);
}

int br_nudgedb_sent_get(struct br_nudgedb *db, const char *user,
			const char *message_id, struct br_nudgedb_sent **row_r)
{
	sqlite3_bind_text(db->st[ST_SENT_GET], 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(db->st[ST_SENT_GET], 2, message_id, -1,
			  SQLITE_STATIC);
	return sent_one(db, ST_SENT_GET, row_r);
}

int br_nudgedb_sent_recent(struct br_nudgedb *db, int64_t since,
			   int64_t *cursor, size_t limit,
			   int (*cb)(struct br_nudgedb_sent *row, void *ctx),
			   void *ctx)
{
	sqlite3_stmt *st = db->st[ST_SENT_RECENT];
	struct br_nudgedb_sent **rows = NULL;
	size_t n = 0;
	int rc;

	/* Copied first: cb may use the database. */
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, *cursor);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows = xreallocarray(rows, n + 1, sizeof(*rows));
		rows[n++] = sent_row(st);
		*cursor = sqlite3_column_int64(st, 6);
	}
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			br_nudgedb_sent_free(&rows[i]);
		free(rows);
		return fail(db, ST_SENT_RECENT, "cannot read sent mail");
	}
	st_done(db, ST_SENT_RECENT);
	size_t i = 0;
	while (i < n && cb(rows[i], ctx) == 0)
		i++;
	for (i = 0; i < n; i++)
		br_nudgedb_sent_free(&rows[i]);
	free(rows);
	return (int)n;
}

void br_nudgedb_sent_free(struct br_nudgedb_sent **rowp)
{
	struct br_nudgedb_sent *row = *rowp;
	if (row == NULL)
		return;
	free(row->user);
	free(row->message_id);
	free(row->subject);
	for (size_t i = 0; i < row->rcpt_count; i++)
		free(row->rcpts[i]);
	free(row->rcpts);
	ut_free(rowp);
}

/* Binds sender, recipient and message_id as ?1, ?2, ?3 of statement id. */
static void bind3(struct br_nudgedb *db, enum stmt id, const char *sender,
		  const char *recipient, const char *message_id)
{
	sqlite3_bind_text(db->st[id], 1, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(db->st[id], 2, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(db->st[id], 3, message_id, -1, SQLITE_STATIC);
}

/* The verdict, inside the transaction; 0 or -1. */
static int nudge_verdict(struct br_nudgedb *db, const char *sender,
			 const char *recipient, const char *message_id,
			 int64_t now, unsigned pair_limit,
			 enum br_nudgedb_verdict *verdict_r)
{
	sqlite3_stmt *st = db->st[ST_NUDGE_SEEN];
	int rc;

	bind3(db, ST_NUDGE_SEEN, sender, recipient, message_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(db, ST_NUDGE_SEEN, "cannot read nudges");
	st_done(db, ST_NUDGE_SEEN);
	if (rc == SQLITE_ROW) {
		*verdict_r = BR_NUDGEDB_ALREADY;
		return 0;
	}
	st = db->st[ST_NUDGE_COUNT];
	sqlite3_bind_text(st, 1, sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now - BR_NUDGEDB_PAIR_WINDOW_SECS);
	if (sqlite3_step(st) != SQLITE_ROW)
		return fail(db, ST_NUDGE_COUNT, "cannot count nudges");
	int64_t n = sqlite3_column_int64(st, 0);
	st_done(db, ST_NUDGE_COUNT);
	if (n >= (int64_t)pair_limit) {
		*verdict_r = BR_NUDGEDB_LIMIT;
		return 0;
	}
	bind3(db, ST_NUDGE_ADD, sender, recipient, message_id);
	sqlite3_bind_int64(db->st[ST_NUDGE_ADD], 4, now);
	if (run(db, ST_NUDGE_ADD, "cannot record a nudge") < 0)
		return -1;
	*verdict_r = BR_NUDGEDB_ALLOWED;
	return 0;
}

int br_nudgedb_nudge_try(struct br_nudgedb *db, const char *sender,
			 const char *recipient, const char *message_id,
			 int64_t now, unsigned pair_limit,
			 enum br_nudgedb_verdict *verdict_r)
{
	enum br_nudgedb_verdict v = BR_NUDGEDB_LIMIT;

	if (begin(db, "cannot record a nudge") < 0)
		return -1;
	bool ok = nudge_verdict(db, sender, recipient, message_id, now,
				pair_limit, &v) == 0;
	if (end(db, ok, "cannot record a nudge") < 0)
		return -1;
	*verdict_r = v;
	return 0;
}

int br_nudgedb_receipt_once(struct br_nudgedb *db, const char *sender,
			    const char *recipient, const char *message_id,
			    int64_t now, bool *first_r)
{
	bind3(db, ST_RECEIPT_ADD, sender, recipient, message_id);
	sqlite3_bind_int64(db->st[ST_RECEIPT_ADD], 4, now);
	if (run(db, ST_RECEIPT_ADD, "cannot record a read receipt") < 0)
		return -1;
	*first_r = sqlite3_changes(db->db) == 1;
	return 0;
}

int br_nudgedb_prune(struct br_nudgedb *db, int64_t now)
{
	static const enum stmt prunes[] = {ST_PRUNE_SENT, ST_PRUNE_NUDGE,
					   ST_PRUNE_RECEIPT};
	bool ok = true;

	if (begin(db, "cannot prune") < 0)
		return -1;
	for (size_t i = 0; ok && i < UT_N_ELEMENTS(prunes); i++) {
		sqlite3_bind_int64(db->st[prunes[i]], 1,
				   now - BR_NUDGEDB_KEEP_SECS);
		ok = run(db, prunes[i], "cannot prune") == 0;
	}
	return end(db, ok, "cannot prune");
}
