/*
 * The SQLite plumbing under the ledger; see br_db.h.
 *
 * Checkpoints (copying the WAL back into the database, with fsync) run on a
 * thread of their own with its own connection, so that the loop thread
 * never waits for the disk. Measured with tests/unit/br/bench-ledger (one
 * key and a 600-byte stanza per commit, 20000 commits, ext4 on this
 * project's 2-core VM): SQLite's automatic checkpoints on the committing
 * thread gave a mean commit of 97 us (p99 566 us, worse under load); with
 * this thread 58 us (p99 305 us). The loop thread only signals the thread
 * when the WAL has grown by CHECKPOINT_PAGES. Under a steady stream of
 * commits that thread never catches up with the last frames, and SQLite
 * starts the WAL over only after a checkpoint that did; so past
 * CHECKPOINT_HARD_PAGES the loop thread runs one itself, which copies only
 * what the thread left. The WAL then stays near CHECKPOINT_HARD_PAGES * 4
 * KiB (measured: 35-60 MiB under a flood).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "br_db.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define BUSY_TIMEOUT_MSECS 5000
/* WAL pages (4 KiB) after which the thread is asked for a checkpoint, and
   after which the loop thread finishes one itself. */
#define CHECKPOINT_PAGES      1000
#define CHECKPOINT_HARD_PAGES 8000

/* The checkpoint thread and what it shares with the loop thread. */
struct checkpointer {
	pthread_t thread;
	bool started;
	sqlite3 *db; /* the thread's own connection */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool wanted, stop; /* under lock */
};

struct br_db {
	sqlite3 *db;
	char *path;
	struct checkpointer ckpt;
};

/* Runs one SQL text that needs no reuse (open time only). */
static int exec_once(sqlite3 *db, const char *sql, char **error_r,
		     const char *path)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	*error_r = xasprintf("%s: %s: %s", path, sql, sqlite3_errmsg(db));
	return -1;
}

/* Reads one integer PRAGMA. */
static int pragma_int(sqlite3 *db, const char *sql, sqlite3_int64 *v_r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Creates the schema on a new file and checks an old one, in a write
   transaction so that two processes opening at once cannot both create. */
static int check_schema(sqlite3 *db, const char *path,
			const struct br_db_schema *schema, char **error_r)
{
	sqlite3_int64 version = 0, app = 0;

	if (exec_once(db, "BEGIN IMMEDIATE", error_r, path) < 0)
		return -1;
	if (pragma_int(db, "PRAGMA user_version", &version) < 0 ||
	    pragma_int(db, "PRAGMA application_id", &app) < 0) {
		*error_r = xasprintf("%s: cannot read the schema version: %s",
				     path, sqlite3_errmsg(db));
		goto fail;
	}
	if (app != 0 && app != schema->application_id) {
		*error_r = xasprintf("%s: not a tidings database", path);
		goto fail;
	}
	if (version > schema->version) {
		*error_r = xasprintf("%s: schema version %lld is newer than "
				     "this tidingsd knows (%d)",
				     path, (long long)version, schema->version);
		goto fail;
	}
	if (version == 0) {
		if (exec_once(db, schema->create_sql, error_r, path) < 0)
			goto fail;
		char *sql =
		    xasprintf("PRAGMA user_version = %d; "
			      "PRAGMA application_id = %d",
			      schema->version, (int)schema->application_id);
		int ret = exec_once(db, sql, error_r, path);
		free(sql);
		if (ret < 0)
			goto fail;
	}
	/* Later versions migrate here, one step at a time. */
	return exec_once(db, "COMMIT", error_r, path) < 0 ? -1 : 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Creates dir (0700) if missing and the database file (0600). */
static int prepare_files(const char *dir, const char *path, char **error_r)
{
	struct stat st;
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("%s: cannot create directory: %s", dir,
				     strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("%s: not a directory", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*error_r =
		    xasprintf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0 &&
	    fchmod(fd, 0600) < 0)
		log_warn("%s: cannot chmod 600: %s", path, strerror(errno));
	close(fd);
	return 0;
}

static void *checkpoint_thread(void *arg)
{
	struct br_db *d = arg;
	struct checkpointer *c = &d->ckpt;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->wanted && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->stop)
			break;
		c->wanted = false;
		pthread_mutex_unlock(&c->lock);
		/* PASSIVE never blocks the writer; the next commit after a
		   complete checkpoint starts the WAL over. */
		int rc = sqlite3_wal_checkpoint_v2(
		    c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_error("ledger %s: checkpoint: %s", d->path,
				  sqlite3_errmsg(c->db));
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Called by SQLite after each commit on the loop thread's connection. */
static int wal_hook_cb(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct checkpointer *c = arg;
	(void)name;
	if (pages < CHECKPOINT_PAGES)
		return SQLITE_OK;
	if (pages >= CHECKPOINT_HARD_PAGES) {
		/* Errors (e.g. busy) only mean that the WAL grows more. */
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE,
					  NULL, NULL);
		return SQLITE_OK;
	}
	pthread_mutex_lock(&c->lock);
	if (!c->wanted) {
		c->wanted = true;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return SQLITE_OK;
}

/* Opens the thread's connection and starts it; replaces SQLite's automatic
   checkpoints on the loop thread's connection. */
static int checkpointer_start(struct br_db *d, char **error_r)
{
	struct checkpointer *c = &d->ckpt;

	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (sqlite3_open_v2(d->path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL,
			 NULL) != SQLITE_OK) {
		*error_r = xasprintf("%s: checkpoint connection: %s", d->path,
				     c->db != NULL ? sqlite3_errmsg(c->db)
						   : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MSECS);
	int err = pthread_create(&c->thread, NULL, checkpoint_thread, d);
	if (err != 0) {
		*error_r = xasprintf("%s: cannot start the checkpoint thread: "
				     "%s",
				     d->path, strerror(err));
		return -1;
	}
	c->started = true;
	sqlite3_wal_hook(d->db, wal_hook_cb, c);
	return 0;
}

static void checkpointer_stop(struct br_db *d)
{
	struct checkpointer *c = &d->ckpt;

	if (c->started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
		c->started = false;
	}
	if (c->db != NULL) {
		sqlite3_close(c->db);
		c->db = NULL;
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
	}
}

int br_db_open(const char *dir, const char *name,
	       const struct br_db_schema *schema, struct br_db **db_r,
	       char **error_r)
{
	struct br_db *d = xcalloc(1, sizeof(*d));
	sqlite3_int64 wal = 0;

	d->path = xasprintf("%s/%s", dir, name);
	if (prepare_files(dir, d->path, error_r) < 0)
		goto fail;
	if (sqlite3_open_v2(d->path, &d->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		*error_r = xasprintf("%s: %s", d->path,
				     d->db != NULL ? sqlite3_errmsg(d->db)
						   : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MSECS);
	sqlite3_extended_result_codes(d->db, 1);
	if (exec_once(d->db, "PRAGMA foreign_keys = ON", error_r, d->path) <
		0 ||
	    exec_once(d->db, "PRAGMA synchronous = NORMAL", error_r, d->path) <
		0)
		goto fail;
	/* The pragma answers the mode in force; anything but WAL is an error
	   (e.g. a file system without shared memory). */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d->db, "PRAGMA journal_mode = WAL", -1, &st,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			wal = sqlite3_stricmp(
				  (const char *)sqlite3_column_text(st, 0),
				  "wal") == 0;
		sqlite3_finalize(st);
	}
	if (!wal) {
		*error_r = xasprintf("%s: cannot switch to WAL mode: %s",
				     d->path, sqlite3_errmsg(d->db));
		goto fail;
	}
	if (check_schema(d->db, d->path, schema, error_r) < 0 ||
	    checkpointer_start(d, error_r) < 0)
		goto fail;
	*db_r = d;
	return 0;
fail:
	br_db_close(&d);
	return -1;
}

void br_db_close(struct br_db **dp)
{
	struct br_db *d = *dp;

	if (d == NULL)
		return;
	checkpointer_stop(d);
	if (d->db != NULL && sqlite3_close(d->db) != SQLITE_OK)
		log_error("%s: close: %s", d->path, sqlite3_errmsg(d->db));
	free(d->path);
	ut_free(dp);
}

sqlite3 *br_db_handle(const struct br_db *d)
{
	return d->db;
}

const char *br_db_path(const struct br_db *d)
{
	return d->path;
}
