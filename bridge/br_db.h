#ifndef BR_DB_H
#define BR_DB_H

/*
 * A SQLite database for durable state, under the ledger: WAL with
 * synchronous=NORMAL (a COMMIT survives the process being killed), foreign
 * keys on, a busy timeout, a versioned schema (PRAGMA user_version and
 * application_id), and checkpoints on a thread of their own so that the
 * thread that commits never waits for fsync. Internal to the bridge.
 *
 * The connection (br_db_handle) belongs to the thread that opened the
 * database; the checkpoint thread uses a second connection of its own.
 */

#include <stdint.h>

#include <sqlite3.h>

struct br_db_schema {
	int version;		/* stored in PRAGMA user_version */
	int32_t application_id; /* marks the file as ours */
	const char *create_sql; /* creates that version in an empty file */
};

struct br_db;

/*
 * Creates dir (0700, parent must exist) if missing and dir/name (0600),
 * opens it, creates the schema in a new file, and refuses a file of another
 * application or of a newer schema version. Returns 0, or -1 with an
 * xmalloc'ed "path: message" in *error_r.
 */
int br_db_open(const char *dir, const char *name,
	       const struct br_db_schema *schema, struct br_db **db_r,
	       char **error_r);
/* Finalize every statement prepared on the handle before closing. */
void br_db_close(struct br_db **db);
sqlite3 *br_db_handle(const struct br_db *db);
/* dir/name, for messages. */
const char *br_db_path(const struct br_db *db);

#endif
