/*
 * The durable ledger on SQLite; see br_ledger.h for what it records.
 *
 * Schema version 1 (PRAGMA user_version). Beyond the header's picture,
 * mailboxes has a floor_uid column: the highest UID whose notified key was
 * pruned. is_notified() answers yes for a key at or below the floor of the
 * same UIDVALIDITY, so pruning never turns an old mail into a new one, and
 * answers exactly from the kept keys above it (a late event for a UID below
 * last_uid is still new when its key is missing).
 *
 * Every statement is prepared once at open and reused. Writes that touch
 * more than one row run in one BEGIN IMMEDIATE ... COMMIT and are rolled
 * back on any error. WAL with synchronous=NORMAL: a COMMIT is durable
 * against the process being killed (not against power loss before the next
 * checkpoint).
 *
 * The SQLite plumbing (WAL, schema version, checkpoint thread) is in
 * br_db.c.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_db.h"
#include "br_ledger.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define SCHEMA_VERSION 1
/* "TDNG": marks the file as a tidings database. */
#define APPLICATION_ID 0x54444e47

static const char schema_sql[] =
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

/* The key's conditions, shared by the prune statements. */
#define PRUNABLE                                                               \
	"n.user = mailboxes.user AND n.mailbox = mailboxes.mailbox AND "       \
	"n.uidvalidity = mailboxes.uidvalidity AND n.at < ?1 AND "             \
	"n.uid <= mailboxes.last_uid"

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_MB_GET,
	ST_MB_SET,
	ST_MB_RAISE,
	ST_MB_ALL,
	ST_KEYS_DROP,
	ST_KEY_ADD,
	ST_KEY_IS,
	ST_OUT_ADD,
	ST_OUT_DEL,
	ST_OUT_ALL,
	ST_PRUNE_FLOOR,
	ST_PRUNE_KEYS,
	ST_META_GET,
	ST_META_SET,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT one",
    [ST_RELEASE] = "RELEASE one",
    [ST_ROLLBACK_TO] = "ROLLBACK TO one",
    [ST_MB_GET] = "SELECT uidvalidity, last_uid FROM mailboxes"
		  " WHERE user = ?1 AND mailbox = ?2",
    /* Sets the row; the floor survives only under the same UIDVALIDITY. */
    [ST_MB_SET] = "INSERT INTO mailboxes(user, mailbox, uidvalidity,"
		  " last_uid) VALUES(?1, ?2, ?3, ?4)"
		  " ON CONFLICT(user, mailbox) DO UPDATE SET"
		  " floor_uid = CASE WHEN uidvalidity = ?3 THEN floor_uid"
		  " ELSE 0 END, uidvalidity = ?3, last_uid = ?4",
    /* Raises last_uid, or resets the row under a new UIDVALIDITY. */
    [ST_MB_RAISE] = "INSERT INTO mailboxes(user, mailbox, uidvalidity,"
		    " last_uid) VALUES(?1, ?2, ?3, ?4)"
		    " ON CONFLICT(user, mailbox) DO UPDATE SET"
		    " floor_uid = CASE WHEN uidvalidity = ?3 THEN floor_uid"
		    " ELSE 0 END,"
		    " last_uid = CASE WHEN uidvalidity = ?3"
		    " THEN max(last_uid, ?4) ELSE ?4 END, uidvalidity = ?3",
    [ST_MB_ALL] = "SELECT user, mailbox, uidvalidity, last_uid"
		  " FROM mailboxes ORDER BY user, mailbox",
    [ST_KEYS_DROP] = "DELETE FROM notified WHERE user = ?1 AND mailbox = ?2"
		     " AND uidvalidity <> ?3",
    [ST_KEY_ADD] = "INSERT OR IGNORE INTO notified(user, mailbox,"
		   " uidvalidity, uid, at) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_KEY_IS] = "SELECT EXISTS(SELECT 1 FROM notified WHERE user = ?1"
		  " AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4)"
		  " OR EXISTS(SELECT 1 FROM mailboxes WHERE user = ?1"
		  " AND mailbox = ?2 AND uidvalidity = ?3 AND floor_uid >= ?4)",
    [ST_OUT_ADD] = "INSERT INTO outbox(jid, xml, created) VALUES(?1, ?2, ?3)",
    [ST_OUT_DEL] = "DELETE FROM outbox WHERE id = ?1",
    [ST_OUT_ALL] = "SELECT id, jid, xml FROM outbox ORDER BY id",
    [ST_PRUNE_FLOOR] = "UPDATE mailboxes SET floor_uid ="
		       " (SELECT max(n.uid) FROM notified n WHERE " PRUNABLE ")"
		       " WHERE floor_uid < (SELECT max(n.uid) FROM notified n"
		       " WHERE " PRUNABLE ")",
    [ST_PRUNE_KEYS] = "DELETE FROM notified AS n WHERE n.at < ?1 AND n.uid <="
		      " (SELECT last_uid FROM mailboxes WHERE"
		      " mailboxes.user = n.user AND mailboxes.mailbox ="
		      " n.mailbox AND mailboxes.uidvalidity = n.uidvalidity)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
		    " ON CONFLICT(key) DO UPDATE SET value = ?2",
};

struct br_ledger {
	struct br_db *dbh;
	sqlite3 *db; /* br_db_handle(dbh) */
	const char *path;
	sqlite3_stmt *st[ST_COUNT];
	bool batch; /* inside br_ledger_batch_begin/end */
};

/* Logs the database's last error for what was being done. */
static void log_db_error(struct br_ledger *l, const char *what)
{
	log_error("ledger %s: %s: %s", l->path, what, sqlite3_errmsg(l->db));
}

/* Resets a statement for its next use (its error was already seen). */
static void done(struct br_ledger *l, enum stmt id)
{
	sqlite3_reset(l->st[id]);
	sqlite3_clear_bindings(l->st[id]);
}

/* Runs a statement that returns no row. */
static int run(struct br_ledger *l, enum stmt id, const char *what)
{
	int rc = sqlite3_step(l->st[id]);
	if (rc != SQLITE_DONE)
		log_db_error(l, what);
	done(l, id);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text(struct br_ledger *l, enum stmt id, int i, const char *s)
{
	sqlite3_bind_text(l->st[id], i, s, -1, SQLITE_STATIC);
}

static void bind_u64(struct br_ledger *l, enum stmt id, int i, uint64_t v)
{
	sqlite3_bind_int64(l->st[id], i, (sqlite3_int64)v);
}

/* Inside a batch, one change is a savepoint of the batch's transaction. */
static int begin(struct br_ledger *l)
{
	if (l->batch)
		return run(l, ST_SAVEPOINT, "savepoint");
	return run(l, ST_BEGIN, "begin");
}

/* Commits, or rolls back when ok < 0 or the commit fails. */
static int end(struct br_ledger *l, int ok)
{
	if (l->batch) {
		if (ok == 0 && run(l, ST_RELEASE, "release") == 0)
			return 0;
		run(l, ST_ROLLBACK_TO, "rollback to savepoint");
		run(l, ST_RELEASE, "release");
		return -1;
	}
	if (ok == 0 && run(l, ST_COMMIT, "commit") == 0)
		return 0;
	if (!sqlite3_get_autocommit(l->db))
		run(l, ST_ROLLBACK, "rollback");
	return -1;
}

int br_ledger_batch_begin(struct br_ledger *l)
{
	ut_assert(!l->batch);
	if (run(l, ST_BEGIN, "begin batch") < 0)
		return -1;
	l->batch = true;
	return 0;
}

int br_ledger_batch_end(struct br_ledger *l)
{
	ut_assert(l->batch);
	l->batch = false;
	if (run(l, ST_COMMIT, "commit batch") == 0)
		return 0;
	if (!sqlite3_get_autocommit(l->db))
		run(l, ST_ROLLBACK, "rollback batch");
	return -1;
}

int br_ledger_open(const char *dir, struct br_ledger **l_r, char **error_r)
{
	static const struct br_db_schema schema = {SCHEMA_VERSION,
						   APPLICATION_ID, schema_sql};
	struct br_ledger *l = xcalloc(1, sizeof(*l));

	if (br_db_open(dir, "tidings.db", &schema, &l->dbh, error_r) < 0)
		goto fail;
	l->db = br_db_handle(l->dbh);
	l->path = br_db_path(l->dbh);
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(l->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &l->st[i],
				       NULL) != SQLITE_OK) {
			*error_r = xasprintf("%s: %s: %s", l->path, stmt_sql[i],
					     sqlite3_errmsg(l->db));
			goto fail;
		}
	}
	*l_r = l;
	return 0;
fail:
	br_ledger_close(&l);
	return -1;
}

void br_ledger_close(struct br_ledger **lp)
{
	struct br_ledger *l = *lp;

	if (l == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(l->st[i]);
	br_db_close(&l->dbh);
	ut_free(lp);
}

int br_ledger_mailbox_get(struct br_ledger *l, const char *user,
			  const char *mailbox, int *found_r,
			  uint32_t *uidvalidity_r, uint32_t *last_uid_r)
{
	bind_text(l, ST_MB_GET, 1, user);
	bind_text(l, ST_MB_GET, 2, mailbox);
	int rc = sqlite3_step(l->st[ST_MB_GET]);
	if (rc == SQLITE_ROW) {
		*uidvalidity_r =
		    (uint32_t)sqlite3_column_int64(l->st[ST_MB_GET], 0);
		*last_uid_r =
		    (uint32_t)sqlite3_column_int64(l->st[ST_MB_GET], 1);
	} else if (rc != SQLITE_DONE) {
		log_db_error(l, "mailbox get");
	}
	*found_r = rc == SQLITE_ROW;
	done(l, ST_MB_GET);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Drops the keys of (user, mailbox) under any other UIDVALIDITY, when the
   mailbox row says they exist. Inside a transaction. */
static int drop_stale_keys(struct br_ledger *l, const char *user,
			   const char *mailbox, uint32_t uidvalidity)
{
	int found;
	uint32_t old_uidvalidity, last_uid;

	if (br_ledger_mailbox_get(l, user, mailbox, &found, &old_uidvalidity,
				  &last_uid) < 0)
		return -1;
	if (!found || old_uidvalidity == uidvalidity)
		return 0;
	log_info("ledger: %s %s: UIDVALIDITY changed from %" PRIu32
		 " to %" PRIu32 ", forgetting its notified mails",
		 user, mailbox, old_uidvalidity, uidvalidity);
	bind_text(l, ST_KEYS_DROP, 1, user);
	bind_text(l, ST_KEYS_DROP, 2, mailbox);
	bind_u64(l, ST_KEYS_DROP, 3, uidvalidity);
	return run(l, ST_KEYS_DROP, "drop keys");
}

/* Binds user, mailbox, uidvalidity, uid as ?1..?4 of a mailbox statement. */
static void bind_mailbox(struct br_ledger *l, enum stmt id, const char *user,
			 const char *mailbox, uint32_t uidvalidity,
			 uint32_t uid)
{
	bind_text(l, id, 1, user);
	bind_text(l, id, 2, mailbox);
	bind_u64(l, id, 3, uidvalidity);
	bind_u64(l, id, 4, uid);
}

int br_ledger_mailbox_set(struct br_ledger *l, const char *user,
			  const char *mailbox, uint32_t uidvalidity,
			  uint32_t last_uid)
{
	if (begin(l) < 0)
		return -1;
	int ret = drop_stale_keys(l, user, mailbox, uidvalidity);
	if (ret == 0) {
		bind_mailbox(l, ST_MB_SET, user, mailbox, uidvalidity,
			     last_uid);
		ret = run(l, ST_MB_SET, "mailbox set");
	}
	return end(l, ret);
}

/* One mailbox row, copied out of SQLite for the callback. */
struct mb_row {
	char *user, *mailbox;
	uint32_t uidvalidity, last_uid;
};

int br_ledger_mailbox_foreach(struct br_ledger *l,
			      int (*cb)(const struct br_ledger_mailbox *mb,
					void *ctx),
			      void *ctx)
{
	sqlite3_stmt *st = l->st[ST_MB_ALL];
	struct mb_row *rows = NULL;
	size_t n = 0;
	int rc;

	/* Rows are copied first, so that the callback may use the ledger. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows = xreallocarray(rows, n + 1, sizeof(*rows));
		rows[n].user =
		    xstrdup((const char *)sqlite3_column_text(st, 0));
		rows[n].mailbox =
		    xstrdup((const char *)sqlite3_column_text(st, 1));
		rows[n].uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
		rows[n].last_uid = (uint32_t)sqlite3_column_int64(st, 3);
		n++;
	}
	if (rc != SQLITE_DONE)
		log_db_error(l, "mailbox list");
	done(l, ST_MB_ALL);
	bool stop = rc != SQLITE_DONE;
	for (size_t i = 0; i < n; i++) {
		struct br_ledger_mailbox mb = {rows[i].user, rows[i].mailbox,
					       rows[i].uidvalidity,
					       rows[i].last_uid};
		if (!stop && cb(&mb, ctx) != 0)
			stop = true;
		free(rows[i].user);
		free(rows[i].mailbox);
	}
	free(rows);
	return rc == SQLITE_DONE ? 0 : -1;
}

int br_ledger_is_notified(struct br_ledger *l, const char *user,
			  const struct br_ledger_key *key, int *notified_r)
{
	bind_mailbox(l, ST_KEY_IS, user, key->mailbox, key->uidvalidity,
		     key->uid);
	int rc = sqlite3_step(l->st[ST_KEY_IS]);
	if (rc == SQLITE_ROW)
		*notified_r = sqlite3_column_int(l->st[ST_KEY_IS], 0) != 0;
	else
		log_db_error(l, "is notified");
	done(l, ST_KEY_IS);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Records one key and raises its mailbox. Inside a transaction. */
static int add_key(struct br_ledger *l, const char *user,
		   const struct br_ledger_key *key, int64_t now)
{
	if (drop_stale_keys(l, user, key->mailbox, key->uidvalidity) < 0)
		return -1;
	bind_mailbox(l, ST_MB_RAISE, user, key->mailbox, key->uidvalidity,
		     key->uid);
	if (run(l, ST_MB_RAISE, "mailbox raise") < 0)
		return -1;
	bind_mailbox(l, ST_KEY_ADD, user, key->mailbox, key->uidvalidity,
		     key->uid);
	sqlite3_bind_int64(l->st[ST_KEY_ADD], 5, now);
	return run(l, ST_KEY_ADD, "add key");
}

int br_ledger_commit(struct br_ledger *l, const char *user,
		     const struct br_ledger_key *keys, size_t n,
		     const char *jid, const char *xml, size_t xml_len,
		     uint64_t *id_r)
{
	int64_t now = (int64_t)time(NULL);
	int ret = 0;

	ut_assert(n == 0 || (user != NULL && keys != NULL));
	ut_assert(xml_len <= INT32_MAX);
	if (begin(l) < 0)
		return -1;
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = add_key(l, user, &keys[i], now);
	if (ret == 0) {
		bind_text(l, ST_OUT_ADD, 1, jid);
		sqlite3_bind_blob(l->st[ST_OUT_ADD], 2, xml, (int)xml_len,
				  SQLITE_STATIC);
		sqlite3_bind_int64(l->st[ST_OUT_ADD], 3, now);
		ret = run(l, ST_OUT_ADD, "outbox add");
	}
	uint64_t id = (uint64_t)sqlite3_last_insert_rowid(l->db);
	if (end(l, ret) < 0)
		return -1;
	*id_r = id;
	if (ut_trace_enabled(UT_TRACE_LEDGER))
		ut_trace(UT_TRACE_LEDGER, "ledger",
			 "committed %zu key(s) of %s, outbox id %" PRIu64, n,
			 user != NULL ? user : "-", id);
	return 0;
}

int br_ledger_confirm(struct br_ledger *l, uint64_t id)
{
	bind_u64(l, ST_OUT_DEL, 1, id);
	return run(l, ST_OUT_DEL, "outbox confirm");
}

/* One outbox row, copied out of SQLite for the callback. */
struct out_row {
	uint64_t id;
	char *jid;
	char *xml;
	size_t len;
};

int br_ledger_outbox_foreach(struct br_ledger *l,
			     int (*cb)(uint64_t id, const char *jid,
				       const char *xml, size_t len, void *ctx),
			     void *ctx)
{
	sqlite3_stmt *st = l->st[ST_OUT_ALL];
	struct out_row *rows = NULL;
	size_t n = 0;
	int rc;

	/* Rows are copied first, so that the callback may confirm or
	   commit. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);
		rows = xreallocarray(rows, n + 1, sizeof(*rows));
		rows[n].id = (uint64_t)sqlite3_column_int64(st, 0);
		rows[n].jid = xstrdup((const char *)sqlite3_column_text(st, 1));
		rows[n].xml = xmalloc(len + 1);
		if (len > 0)
			memcpy(rows[n].xml, blob, len);
		rows[n].xml[len] = '\0';
		rows[n].len = len;
		n++;
	}
	if (rc != SQLITE_DONE)
		log_db_error(l, "outbox list");
	done(l, ST_OUT_ALL);
	bool stop = rc != SQLITE_DONE;
	for (size_t i = 0; i < n; i++) {
		if (!stop &&
		    cb(rows[i].id, rows[i].jid, rows[i].xml, rows[i].len, ctx))
			stop = true;
		free(rows[i].jid);
		free(rows[i].xml);
	}
	free(rows);
	return rc == SQLITE_DONE ? 0 : -1;
}

int br_ledger_prune(struct br_ledger *l, uint64_t max_age_secs)
{
	uint64_t now = (uint64_t)time(NULL);
	uint64_t cutoff = max_age_secs < now ? now - max_age_secs : 0;

	if (begin(l) < 0)
		return -1;
	bind_u64(l, ST_PRUNE_FLOOR, 1, cutoff);
	int ret = run(l, ST_PRUNE_FLOOR, "prune (floor)");
	if (ret == 0) {
		bind_u64(l, ST_PRUNE_KEYS, 1, cutoff);
		ret = run(l, ST_PRUNE_KEYS, "prune (keys)");
	}
	int pruned = sqlite3_changes(l->db);
	if (end(l, ret) < 0)
		return -1;
	log_debug("ledger: pruned %d notified key(s) older than %" PRIu64 " s",
		  pruned, max_age_secs);
	return 0;
}

int br_ledger_meta_get(struct br_ledger *l, const char *key, int *found_r,
		       int64_t *value_r)
{
	sqlite3_stmt *st = l->st[ST_META_GET];
	bind_text(l, ST_META_GET, 1, key);
	int rc = sqlite3_step(st);
	*found_r = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		*value_r = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		log_db_error(l, "meta get");
	done(l, ST_META_GET);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int br_ledger_meta_set(struct br_ledger *l, const char *key, int64_t value)
{
	bind_text(l, ST_META_SET, 1, key);
	sqlite3_bind_int64(l->st[ST_META_SET], 2, value);
	return run(l, ST_META_SET, "meta set");
}
