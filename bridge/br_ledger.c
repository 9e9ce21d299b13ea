/*
 * The durable ledger on SQLite; see br_ledger.h for what it records.
 *
 * Schema version 2 (PRAGMA user_version), reached by the numbered steps in
 * schema_steps (br_db.c runs those a file lacks). Beyond the header's
 * picture, mailboxes has a floor_uid column: the highest UID whose notified
 * key was pruned. is_notified() answers yes for a key at or below the floor
 * of the same UIDVALIDITY, so pruning never turns an old mail into a new
 * one, and answers exactly from the kept keys above it (a late event for a
 * UID below last_uid is still new when its key is missing).
 *
 * Every statement is prepared once at open and reused. Every change runs in
 * one BEGIN IMMEDIATE ... COMMIT (or inside the batch's transaction) and is
 * rolled back as a whole on any error. WAL with synchronous=NORMAL: a
 * COMMIT is durable against the process being killed (not against power
 * loss before the next checkpoint).
 *
 * Transactions, batches and writes that fail are in br_ledger_tx.c, what is
 * kept in memory meanwhile in br_ledger_mem.c; due marks, row walks,
 * removals and the outbox walks in br_ledger_rows.c.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_db.h"
#include "br_ledger.h"
#include "br_ledger_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* "TDNG": marks the file as a tidings database. */
#define APPLICATION_ID 0x54444e47

/* Version 1. Released: never change it (files of that version exist). */
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

/* Version 2: due marks (NULL: nothing due), with an index of the due rows,
   and an index that lets pruning find old keys without a full scan. */
static const char schema_v2[] =
    "ALTER TABLE mailboxes ADD COLUMN rescan_from INTEGER;"
    "ALTER TABLE mailboxes ADD COLUMN"
    " rescan_after INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX mailboxes_due ON mailboxes(user, mailbox)"
    " WHERE rescan_from IS NOT NULL;"
    "CREATE INDEX notified_at ON notified(at);";

/* Version 3: users' settings (issue 6), one row per setting a user
   changed; the others follow [defaults]. */
static const char schema_v3[] =
    "CREATE TABLE settings("
    " user TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,"
    " PRIMARY KEY(user, name)) WITHOUT ROWID;";

static const char *const schema_steps[] = {schema_v1, schema_v2, schema_v3};

/* Per mailbox, the highest UID of its prunable keys (old, not above
   last_uid, of the row's UIDVALIDITY), found through notified_at: the work
   grows with the old keys, not with all of them. (SQLite >= 3.35 computes
   it once; older ones once per reference.) */
#define PRUNABLE_MAX                                                           \
	"WITH p(u, mb, m) AS (SELECT n.user, n.mailbox, max(n.uid)"            \
	" FROM notified n INDEXED BY notified_at JOIN mailboxes b"             \
	" ON b.user = n.user AND b.mailbox = n.mailbox"                        \
	" AND b.uidvalidity = n.uidvalidity"                                   \
	" WHERE n.at < ?1 AND n.uid <= b.last_uid"                             \
	" GROUP BY n.user, n.mailbox) "
#define P_OF_ROW   "(SELECT m FROM p WHERE u = user AND mb = mailbox)"
#define MB_COLUMNS "user, mailbox, uidvalidity, last_uid, rescan_from"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_MB_GET] = "SELECT uidvalidity, last_uid, rescan_from, rescan_after"
		  " FROM mailboxes WHERE user = ?1 AND mailbox = ?2",
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
    /* Writes a row kept in memory: all of it, as ST_MB_SET does. */
    [ST_MB_RESTORE] = "INSERT INTO mailboxes(user, mailbox, uidvalidity,"
		      " last_uid, rescan_from, rescan_after)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
		      " ON CONFLICT(user, mailbox) DO UPDATE SET"
		      " floor_uid = CASE WHEN uidvalidity = ?3 THEN floor_uid"
		      " ELSE 0 END, uidvalidity = ?3, last_uid = ?4,"
		      " rescan_from = ?5, rescan_after = ?6",
    [ST_MB_ALL] = "SELECT " MB_COLUMNS ", rescan_after FROM mailboxes"
		  " ORDER BY user, mailbox",
    [ST_MB_USER] = "SELECT mailbox FROM mailboxes WHERE user = ?1",
    /* The keys go with the row (ON DELETE CASCADE). */
    [ST_MB_REMOVE] = "DELETE FROM mailboxes WHERE user = ?1 AND mailbox = ?2",
    [ST_USER_REMOVE] = "DELETE FROM mailboxes WHERE user = ?1",
    [ST_KEYS_DROP] = "DELETE FROM notified WHERE user = ?1 AND mailbox = ?2"
		     " AND uidvalidity <> ?3",
    [ST_KEY_ADD] = "INSERT OR IGNORE INTO notified(user, mailbox,"
		   " uidvalidity, uid, at) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_KEY_IS] = "SELECT EXISTS(SELECT 1 FROM notified WHERE user = ?1"
		  " AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4)"
		  " OR EXISTS(SELECT 1 FROM mailboxes WHERE user = ?1"
		  " AND mailbox = ?2 AND uidvalidity = ?3 AND floor_uid >= ?4)",
    [ST_KEY_RECENT] = "SELECT mailbox, uidvalidity, uid, at FROM notified"
		      " WHERE user = ?1 ORDER BY at DESC, uid DESC LIMIT ?2",
    /* Nothing exists above UID 4294967295: such a row keeps its mark. */
    [ST_DUE_ALL] = "UPDATE mailboxes SET rescan_after = 0, rescan_from ="
		   " CASE WHEN last_uid >= 4294967295 THEN rescan_from"
		   " WHEN rescan_from IS NULL OR rescan_from > last_uid + 1"
		   " THEN last_uid + 1 ELSE rescan_from END",
    [ST_DUE_SET] = "INSERT INTO mailboxes(user, mailbox, uidvalidity,"
		   " last_uid, rescan_from, rescan_after)"
		   " VALUES(?1, ?2, 0, 0, ?3, ?4)"
		   " ON CONFLICT(user, mailbox) DO UPDATE SET"
		   " rescan_from = min(coalesce(rescan_from, ?3), ?3),"
		   " rescan_after = ?4",
    /* ?1 and ?2 (the cursor) are unused here, so that both bind alike. */
    [ST_DUE_FIRST] = "SELECT " MB_COLUMNS ", rescan_after FROM mailboxes"
		     " WHERE rescan_from IS NOT NULL AND rescan_after <= ?3"
		     " AND ?1 IS NULL AND ?2 IS NULL"
		     " ORDER BY user, mailbox LIMIT ?4",
    [ST_DUE_AFTER] = "SELECT " MB_COLUMNS ", rescan_after FROM mailboxes"
		     " WHERE rescan_from IS NOT NULL AND rescan_after <= ?3"
		     " AND (user, mailbox) > (?1, ?2)"
		     " ORDER BY user, mailbox LIMIT ?4",
    [ST_DUE_CLEAR] = "UPDATE mailboxes SET rescan_from = NULL,"
		     " rescan_after = 0 WHERE user = ?1 AND mailbox = ?2"
		     " AND rescan_from >= ?3",
    [ST_DUE_COUNT] = "SELECT count(*) FROM mailboxes"
		     " WHERE rescan_from IS NOT NULL",
    [ST_OUT_ADD] = "INSERT INTO outbox(jid, xml, created) VALUES(?1, ?2, ?3)",
    [ST_OUT_DEL] = "DELETE FROM outbox WHERE id = ?1",
    [ST_OUT_RANGE] = "SELECT id, jid, xml FROM outbox WHERE id > ?1"
		     " ORDER BY id LIMIT ?2",
    [ST_PRUNE_FLOOR] =
	PRUNABLE_MAX "UPDATE mailboxes SET floor_uid = " P_OF_ROW
		     " WHERE (user, mailbox) IN (SELECT u, mb FROM p)"
		     " AND floor_uid < " P_OF_ROW,
    [ST_PRUNE_KEYS] = "DELETE FROM notified AS n INDEXED BY notified_at"
		      " WHERE n.at < ?1 AND n.uid <="
		      " (SELECT last_uid FROM mailboxes WHERE"
		      " mailboxes.user = n.user AND mailboxes.mailbox ="
		      " n.mailbox AND mailboxes.uidvalidity = n.uidvalidity)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
		    " ON CONFLICT(key) DO UPDATE SET value = ?2",
    [ST_SET_GET] = "SELECT value FROM settings WHERE user = ?1 AND name = ?2",
    [ST_SET_PUT] = "INSERT INTO settings(user, name, value) VALUES(?1, ?2, ?3)"
		   " ON CONFLICT(user, name) DO UPDATE SET value = ?3",
    [ST_SET_DEL] = "DELETE FROM settings WHERE user = ?1 AND name = ?2",
    [ST_SET_USER_DEL] = "DELETE FROM settings WHERE user = ?1",
};

void br_ledger__read_error(struct br_ledger *l, const char *what)
{
	log_error("ledger %s: %s: %s", l->path, what, sqlite3_errmsg(l->db));
}

void br_ledger__done(struct br_ledger *l, enum stmt id)
{
	sqlite3_reset(l->st[id]);
	sqlite3_clear_bindings(l->st[id]);
}

int br_ledger__run(struct br_ledger *l, enum stmt id)
{
	int rc = sqlite3_step(l->st[id]);
	if (rc != SQLITE_DONE)
		l->last_rc = rc;
	br_ledger__done(l, id);
	return rc == SQLITE_DONE ? 0 : -1;
}

void br_ledger__bind_text(struct br_ledger *l, enum stmt id, int i,
			  const char *s)
{
	sqlite3_bind_text(l->st[id], i, s, -1, SQLITE_STATIC);
}

void br_ledger__bind_u64(struct br_ledger *l, enum stmt id, int i, uint64_t v)
{
	sqlite3_bind_int64(l->st[id], i, (sqlite3_int64)v);
}

sqlite3 *br_ledger__sqlite(struct br_ledger *l)
{
	return l->db;
}

/* ---- the database part of each change ---- */

/* The database row of a mailbox (not what memory says). */
int br_ledger__mb_row(struct br_ledger *l, const char *user,
		      const char *mailbox, struct mem_mb *row)
{
	sqlite3_stmt *st = l->st[ST_MB_GET];

	br_ledger__bind_text(l, ST_MB_GET, 1, user);
	br_ledger__bind_text(l, ST_MB_GET, 2, mailbox);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row->uidvalidity = (uint32_t)sqlite3_column_int64(st, 0);
		row->last_uid = (uint32_t)sqlite3_column_int64(st, 1);
		row->rescan_from = sqlite3_column_type(st, 2) == SQLITE_NULL
				       ? -1
				       : sqlite3_column_int64(st, 2);
		row->rescan_after = sqlite3_column_int64(st, 3);
	} else if (rc != SQLITE_DONE) {
		br_ledger__read_error(l, "mailbox get");
	}
	br_ledger__done(l, ST_MB_GET);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Binds user, mailbox, uidvalidity, uid as ?1..?4 of a mailbox statement. */
static void bind_mailbox(struct br_ledger *l, enum stmt id, const char *user,
			 const char *mailbox, uint32_t uidvalidity,
			 uint32_t uid)
{
	br_ledger__bind_text(l, id, 1, user);
	br_ledger__bind_text(l, id, 2, mailbox);
	br_ledger__bind_u64(l, id, 3, uidvalidity);
	br_ledger__bind_u64(l, id, 4, uid);
}

/* Drops the keys of (user, mailbox) under any other UIDVALIDITY, when the
   mailbox row says they exist. */
static int drop_stale_keys(struct br_ledger *l, const char *user,
			   const char *mailbox, uint32_t uidvalidity)
{
	struct mem_mb row;
	int found = br_ledger__mb_row(l, user, mailbox, &row);

	if (found < 0) {
		l->last_rc = sqlite3_extended_errcode(l->db);
		return -1;
	}
	/* A first-seen row (UIDVALIDITY 0) has no keys to forget. */
	if (found == 0 || row.uidvalidity == uidvalidity ||
	    row.uidvalidity == 0)
		return 0;
	log_info("ledger: %s %s: UIDVALIDITY changed from %" PRIu32
		 " to %" PRIu32 ", forgetting its notified mails",
		 user, mailbox, row.uidvalidity, uidvalidity);
	br_ledger__bind_text(l, ST_KEYS_DROP, 1, user);
	br_ledger__bind_text(l, ST_KEYS_DROP, 2, mailbox);
	br_ledger__bind_u64(l, ST_KEYS_DROP, 3, uidvalidity);
	return br_ledger__run(l, ST_KEYS_DROP);
}

static int commit_db(struct br_ledger *l, const struct op *op, uint64_t *id_r)
{
	int64_t now = (int64_t)time(NULL);

	for (size_t i = 0; i < op->n; i++) {
		const struct br_ledger_key *k = &op->keys[i];
		if (drop_stale_keys(l, op->user, k->mailbox, k->uidvalidity) <
		    0)
			return -1;
		bind_mailbox(l, ST_MB_RAISE, op->user, k->mailbox,
			     k->uidvalidity, k->uid);
		if (br_ledger__run(l, ST_MB_RAISE) < 0)
			return -1;
		bind_mailbox(l, ST_KEY_ADD, op->user, k->mailbox,
			     k->uidvalidity, k->uid);
		sqlite3_bind_int64(l->st[ST_KEY_ADD], 5, now);
		if (br_ledger__run(l, ST_KEY_ADD) < 0)
			return -1;
	}
	br_ledger__bind_text(l, ST_OUT_ADD, 1, op->jid);
	sqlite3_bind_blob(l->st[ST_OUT_ADD], 2, op->xml, (int)op->xml_len,
			  SQLITE_STATIC);
	sqlite3_bind_int64(l->st[ST_OUT_ADD], 3, now);
	if (br_ledger__run(l, ST_OUT_ADD) < 0)
		return -1;
	*id_r = (uint64_t)sqlite3_last_insert_rowid(l->db);
	return 0;
}

static int prune_db(struct br_ledger *l, uint64_t max_age_secs)
{
	uint64_t now = (uint64_t)time(NULL);
	uint64_t cutoff = max_age_secs < now ? now - max_age_secs : 0;

	br_ledger__bind_u64(l, ST_PRUNE_FLOOR, 1, cutoff);
	if (br_ledger__run(l, ST_PRUNE_FLOOR) < 0)
		return -1;
	br_ledger__bind_u64(l, ST_PRUNE_KEYS, 1, cutoff);
	if (br_ledger__run(l, ST_PRUNE_KEYS) < 0)
		return -1;
	log_debug("ledger: pruned %d notified key(s) older than %" PRIu64 " s",
		  sqlite3_changes(l->db), max_age_secs);
	return 0;
}

int br_ledger__op_db(struct br_ledger *l, const struct op *op, uint64_t *out)
{
	switch (op->kind) {
	case OP_COMMIT:
		return commit_db(l, op, out);
	case OP_MB_SET:
		if (drop_stale_keys(l, op->user, op->mailbox, op->u1) < 0)
			return -1;
		bind_mailbox(l, ST_MB_SET, op->user, op->mailbox, op->u1,
			     op->u2);
		return br_ledger__run(l, ST_MB_SET);
	case OP_CONFIRM:
		br_ledger__bind_u64(l, ST_OUT_DEL, 1, op->id);
		return br_ledger__run(l, ST_OUT_DEL);
	case OP_META_SET:
		br_ledger__bind_text(l, ST_META_SET, 1, op->mailbox);
		sqlite3_bind_int64(l->st[ST_META_SET], 2, op->i64);
		return br_ledger__run(l, ST_META_SET);
	case OP_SETTING:
		return br_ledger__setting_db(l, op->user, op->mailbox, op->i64);
	case OP_PRUNE:
		return prune_db(l, op->id);
	default:
		return br_ledger__rows_op_db(l, op);
	}
}

/* ---- open, close ---- */

int br_ledger_open(const char *dir, struct br_ledger **l_r, char **error_r)
{
	static const struct br_db_schema schema = {
	    APPLICATION_ID, schema_steps, (int)UT_N_ELEMENTS(schema_steps)};
	struct br_ledger *l = xcalloc(1, sizeof(*l));

	br_ledger__mem_init(l);
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
	const struct br_db_reset *reset = br_db_reset_info(l->dbh);
	if (reset != NULL) {
		char since[32] = "its last change";
		time_t t = (time_t)reset->mtime;
		struct tm tm;
		if (t != 0 && gmtime_r(&t, &tm) != NULL)
			strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ",
				 &tm);
		log_error("ledger %s: corrupt (%s): moved it to %s (with its "
			  "-wal and -shm); tidingsd starts with a fresh "
			  "ledger: unseen mail delivered since %s is still "
			  "caught up, what was notified before is forgotten",
			  l->path, reset->why, reset->moved_to, since);
		if (reset->mtime != 0)
			br_ledger_meta_set(l, BR_LEDGER_META_ALIVE_AT,
					   reset->mtime);
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
	if (l->batch)
		br_ledger_batch_end(l);
	if (l->failing && br_ledger_retry(l) < 0 && !br_ledger__mem_empty(l))
		log_error("ledger %s: closing with %zu notified key(s), %zu "
			  "mailbox row(s) and %zu confirmation(s) not written "
			  "(writes still fail): after the restart they may be "
			  "notified or sent again",
			  l->path, ut_hash_count(l->mem.keys),
			  ut_hash_count(l->mem.mbs),
			  ut_hash_count(l->mem.confirms));
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(l->st[i]);
	br_db_close(&l->dbh);
	br_ledger__tx_free(l);
	br_ledger__mem_free(l);
	ut_free(lp);
}

/* ---- the API ---- */

int br_ledger_mailbox_get(struct br_ledger *l, const char *user,
			  const char *mailbox, int *found_r,
			  uint32_t *uidvalidity_r, uint32_t *last_uid_r)
{
	const struct mem_mb *m = br_ledger__mem_mb(l, user, mailbox);
	struct mem_mb row;
	int found;

	if (m == NULL) {
		found = br_ledger__mb_row(l, user, mailbox, &row);
		if (found < 0)
			return -1;
		m = &row;
	} else {
		found = m->present;
	}
	*found_r = found;
	if (found) {
		*uidvalidity_r = m->uidvalidity;
		*last_uid_r = m->last_uid;
	}
	return 0;
}

int br_ledger_mailbox_set(struct br_ledger *l, const char *user,
			  const char *mailbox, uint32_t uidvalidity,
			  uint32_t last_uid)
{
	struct op op = {.kind = OP_MB_SET,
			.user = user,
			.mailbox = mailbox,
			.u1 = uidvalidity,
			.u2 = last_uid};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_is_notified(struct br_ledger *l, const char *user,
			  const struct br_ledger_key *key, int *notified_r)
{
	if (br_ledger__mem_is_notified(l, user, key, notified_r))
		return 0;
	bind_mailbox(l, ST_KEY_IS, user, key->mailbox, key->uidvalidity,
		     key->uid);
	int rc = sqlite3_step(l->st[ST_KEY_IS]);
	if (rc == SQLITE_ROW)
		*notified_r = sqlite3_column_int(l->st[ST_KEY_IS], 0) != 0;
	else
		br_ledger__read_error(l, "is notified");
	br_ledger__done(l, ST_KEY_IS);
	return rc == SQLITE_ROW ? 0 : -1;
}

int br_ledger_commit(struct br_ledger *l, const char *user,
		     const struct br_ledger_key *keys, size_t n,
		     const char *jid, const char *xml, size_t xml_len,
		     uint64_t *id_r)
{
	struct op op = {.kind = OP_COMMIT,
			.user = user,
			.keys = keys,
			.n = n,
			.jid = jid,
			.xml = xml,
			.xml_len = xml_len};
	uint64_t id = 0;

	ut_assert(n == 0 || (user != NULL && keys != NULL));
	ut_assert(xml_len <= INT32_MAX);
	if (br_ledger__change(l, &op, &id) < 0)
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
	struct op op = {.kind = OP_CONFIRM, .id = id};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_prune(struct br_ledger *l, uint64_t max_age_secs)
{
	struct op op = {.kind = OP_PRUNE, .id = max_age_secs};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_meta_get(struct br_ledger *l, const char *key, int *found_r,
		       int64_t *value_r)
{
	if (br_ledger__mem_meta(l, key, value_r)) {
		*found_r = 1;
		return 0;
	}
	sqlite3_stmt *st = l->st[ST_META_GET];
	br_ledger__bind_text(l, ST_META_GET, 1, key);
	int rc = sqlite3_step(st);
	*found_r = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		*value_r = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		br_ledger__read_error(l, "meta get");
	br_ledger__done(l, ST_META_GET);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int br_ledger_meta_set(struct br_ledger *l, const char *key, int64_t value)
{
	struct op op = {.kind = OP_META_SET, .mailbox = key, .i64 = value};
	return br_ledger__change(l, &op, NULL);
}
