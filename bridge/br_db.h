#ifndef BR_DB_H
#define BR_DB_H

/*
 * A SQLite database for durable state, under the ledger: WAL with
 * synchronous=NORMAL (a COMMIT survives the process being killed), foreign
 * keys on, a busy timeout, a versioned schema (PRAGMA user_version and
 * application_id) upgraded by numbered migration steps, and checkpoints on
 * a thread of their own so that the thread that commits never waits for
 * fsync. Internal to the bridge.
 *
 * The connection (br_db_handle) belongs to the thread that opened the
 * database; the checkpoint thread uses a second connection of its own.
 */

#include <stdint.h>

#include <sqlite3.h>

struct br_db_schema {
	int32_t application_id; /* marks the file as ours */
	/*
	 * steps[i] upgrades schema version i to i + 1: steps[0] creates
	 * version 1 in an empty file. The current version is step_count. A
	 * step, once released, never changes: a file of that version exists
	 * somewhere.
	 */
	const char *const *steps;
	int step_count;
};

/* What br_db_open() did with a corrupt file (see there). */
struct br_db_reset {
	const char *why;      /* e.g. "file is not a database" */
	const char *moved_to; /* the file's new name */
	int64_t mtime;	      /* its last change (db or -wal), unix secs */
};

struct br_db;

/*
 * Opens dir/name, creating dir (0700, parent must exist) and the file
 * (0600) when missing, and brings the schema to the current version: the
 * steps from the file's version on run in one transaction.
 *
 * Refused (-1; the file is left where it is): dir or the file writable by
 * group or others or not owned by the effective uid; a SQLite file of
 * another application (application_id), or one that has tables but no
 * version; a schema version newer than step_count.
 *
 * A corrupt file (SQLite says SQLITE_CORRUPT or SQLITE_NOTADB while
 * opening, or PRAGMA quick_check finds a problem) is renamed to
 * name.corrupt-<unix time> (with its -wal and -shm) and a new file is
 * created in its place; br_db_reset_info() then says so, and the caller
 * logs it.
 *
 * Returns 0, or -1 with an xmalloc'ed "path: message" in *error_r.
 */
int br_db_open(const char *dir, const char *name,
	       const struct br_db_schema *schema, struct br_db **db_r,
	       char **error_r);
/* Finalize every statement prepared on the handle before closing. */
void br_db_close(struct br_db **db);
sqlite3 *br_db_handle(const struct br_db *db);
/* dir/name, for messages. */
const char *br_db_path(const struct br_db *db);
/* NULL, or what br_db_open() moved aside; valid until br_db_close(). */
const struct br_db_reset *br_db_reset_info(const struct br_db *db);

#endif
