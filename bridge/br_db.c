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
 *
 * Opening checks the file before trusting it: PRAGMA quick_check (O(pages),
 * once per start) and every SQLite error that says "corrupt" or "not a
 * database" make the file be moved aside; a file that is fine but not
 * ours (another application, a newer schema) is refused and left alone.
 * Migrations run in the transaction that checks the version.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
	struct br_db_reset reset; /* why is NULL unless a file was moved */
	char *reset_why, *reset_moved_to;
};

/* One attempt at opening the file: the connection and how it failed. */
struct opener {
	sqlite3 *db;
	const char *path;
	char **error_r;
	bool corrupt; /* the failure says the file is damaged */
	char *why;    /* when corrupt: what SQLite said */
};

static bool corrupt_code(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Records the connection's last error for what was being done. */
static int fail_sql(struct opener *o, const char *what)
{
	free(*o->error_r);
	*o->error_r =
	    xasprintf("%s: %s: %s", o->path, what, sqlite3_errmsg(o->db));
	if (corrupt_code(sqlite3_extended_errcode(o->db))) {
		o->corrupt = true;
		free(o->why);
		o->why = xstrdup(sqlite3_errmsg(o->db));
	}
	return -1;
}

/* Runs one SQL text that needs no reuse (open time only). */
static int exec_once(struct opener *o, const char *sql)
{
	if (sqlite3_exec(o->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return fail_sql(o, sql);
}

/* Reads the first column of the first row of sql as an integer. */
static int query_int(struct opener *o, const char *sql, sqlite3_int64 *v_r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(o->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail_sql(o, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail_sql(o, sql);
}

/* PRAGMA quick_check: 0 when it says "ok", else the file is corrupt. */
static int quick_check(struct opener *o)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(o->db, "PRAGMA quick_check(1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return fail_sql(o, "quick_check");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(st, 0);
		if (r == NULL || strcmp(r, "ok") != 0) {
			o->corrupt = true;
			free(o->why);
			o->why = xasprintf("quick_check: %s",
					   r != NULL ? r : "(null)");
			/* One line: "*** in database main ***\nPage 6: ..." */
			for (char *p = o->why; (p = strchr(p, '\n')) != NULL;)
				*p = ' ';
			free(*o->error_r);
			*o->error_r = xasprintf("%s: %s", o->path, o->why);
			rc = SQLITE_CORRUPT;
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_CORRUPT)
		return -1;
	return rc == SQLITE_ROW ? 0 : fail_sql(o, "quick_check");
}

/*
 * Checks the file's application and version, checks its pages, and runs
 * the missing migration steps, all in one write transaction (so that two
 * processes opening at once cannot both migrate).
 */
static int check_schema(struct opener *o, const struct br_db_schema *schema)
{
	sqlite3_int64 version = 0, app = 0, tables = 0;

	if (exec_once(o, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (query_int(o, "PRAGMA user_version", &version) < 0 ||
	    query_int(o, "PRAGMA application_id", &app) < 0)
		goto fail;
	if (app != 0 && app != schema->application_id) {
		*o->error_r = xasprintf("%s: not a tidings database", o->path);
		goto fail;
	}
	if (version > schema->step_count) {
		*o->error_r =
		    xasprintf("%s: schema version %lld is newer than "
			      "this tidingsd knows (%d)",
			      o->path, (long long)version, schema->step_count);
		goto fail;
	}
	if (quick_check(o) < 0)
		goto fail;
	if (version == 0 &&
	    (query_int(o, "SELECT count(*) FROM sqlite_master", &tables) < 0 ||
	     tables != 0)) {
		if (tables != 0)
			*o->error_r = xasprintf("%s: not a tidings database "
						"(tables, but no schema "
						"version)",
						o->path);
		goto fail;
	}
	for (int i = (int)version; i < schema->step_count; i++) {
		if (exec_once(o, schema->steps[i]) < 0)
			goto fail;
	}
	if (version < schema->step_count) {
		char *sql =
		    xasprintf("PRAGMA user_version = %d; "
			      "PRAGMA application_id = %d",
			      schema->step_count, (int)schema->application_id);
		int ret = exec_once(o, sql);
		free(sql);
		if (ret < 0)
			goto fail;
		if (version > 0)
			log_info("%s: schema upgraded from version %lld to %d",
				 o->path, (long long)version,
				 schema->step_count);
	}
	if (exec_once(o, "COMMIT") < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Refuses a path that others could write to or that is not ours. */
static int check_owner(const char *path, const struct stat *st,
		       const char *mode_fix, char **error_r)
{
	if (st->st_uid != geteuid()) {
		*error_r =
		    xasprintf("%s: owned by uid %u, but tidingsd runs as "
			      "uid %u: chown %u '%s' (or run tidingsd "
			      "as its owner)",
			      path, (unsigned)st->st_uid, (unsigned)geteuid(),
			      (unsigned)geteuid(), path);
		return -1;
	}
	if ((st->st_mode & 022) != 0) {
		*error_r = xasprintf("%s: writable by group or others (mode "
				     "%04o), so anyone could change what "
				     "tidingsd notifies: chmod %s '%s'",
				     path, (unsigned)(st->st_mode & 07777),
				     mode_fix, path);
		return -1;
	}
	return 0;
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
	if (check_owner(dir, &st, "700", error_r) < 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*error_r =
		    xasprintf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int ret = 0;
	if (fstat(fd, &st) < 0) {
		*error_r = xasprintf("%s: stat: %s", path, strerror(errno));
		ret = -1;
	} else if (!S_ISREG(st.st_mode)) {
		*error_r = xasprintf("%s: not a regular file", path);
		ret = -1;
	} else if (check_owner(path, &st, "600", error_r) < 0) {
		ret = -1;
	} else if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) < 0) {
		log_warn("%s: cannot chmod 600: %s", path, strerror(errno));
	}
	close(fd);
	return ret;
}

/* The later of the file's and its WAL's modification times. */
static int64_t last_change(const char *path)
{
	struct stat st;
	int64_t t = 0;
	char *wal = xasprintf("%s-wal", path);

	if (stat(path, &st) == 0)
		t = (int64_t)st.st_mtime;
	if (stat(wal, &st) == 0 && (int64_t)st.st_mtime > t)
		t = (int64_t)st.st_mtime;
	free(wal);
	return t;
}

/*
 * Renames path (and path-wal, path-shm) to path.corrupt-<now>[.N]. A WAL
 * left behind would be replayed into the new file, so one that cannot be
 * moved is deleted.
 */
static int move_aside(struct br_db *d, char **error_r)
{
	char *to = NULL;
	struct stat st;

	for (int i = 0; i < 100; i++) {
		free(to);
		to = i == 0 ? xasprintf("%s.corrupt-%lld", d->path,
					(long long)time(NULL))
			    : xasprintf("%s.corrupt-%lld.%d", d->path,
					(long long)time(NULL), i);
		if (lstat(to, &st) < 0 && errno == ENOENT)
			break;
	}
	if (rename(d->path, to) < 0) {
		*error_r = xasprintf("%s: corrupt, and cannot rename it to %s: "
				     "%s",
				     d->path, to, strerror(errno));
		free(to);
		return -1;
	}
	static const char *const suffixes[] = {"-wal", "-shm"};
	for (size_t i = 0; i < UT_N_ELEMENTS(suffixes); i++) {
		char *from = xasprintf("%s%s", d->path, suffixes[i]);
		char *dest = xasprintf("%s%s", to, suffixes[i]);
		int ret = 0;
		if (rename(from, dest) < 0 && errno != ENOENT &&
		    unlink(from) < 0 && errno != ENOENT) {
			*error_r = xasprintf("%s: cannot move or delete: %s",
					     from, strerror(errno));
			ret = -1;
		}
		free(from);
		free(dest);
		if (ret < 0) {
			free(to);
			return -1;
		}
	}
	d->reset_moved_to = to;
	d->reset.moved_to = to;
	return 0;
}

static void *checkpoint_thread(void *arg)
{
	struct br_db *d = arg;
	struct checkpointer *c = &d->ckpt;
	bool failing = false;

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
		/* A full disk fails every checkpoint: one line until one
		   works again (the ledger says more). */
		if (rc != SQLITE_OK && rc != SQLITE_BUSY && !failing)
			log_error("ledger %s: checkpoint: %s", d->path,
				  sqlite3_errmsg(c->db));
		if (rc != SQLITE_BUSY)
			failing = rc != SQLITE_OK;
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

/*
 * Opens d->path on d->db and brings it to the schema. Returns 0, or -1 with
 * *error_r set; o->corrupt then says whether the file is damaged.
 */
static int open_checked(struct br_db *d, const struct br_db_schema *schema,
			struct opener *o)
{
	int wal = 0;

	if (sqlite3_open_v2(d->path, &d->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		o->db = d->db;
		if (d->db == NULL) {
			*o->error_r = xasprintf("%s: out of memory", d->path);
			return -1;
		}
		return fail_sql(o, "open");
	}
	o->db = d->db;
	sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MSECS);
	sqlite3_extended_result_codes(d->db, 1);
	if (exec_once(o, "PRAGMA foreign_keys = ON") < 0 ||
	    exec_once(o, "PRAGMA synchronous = NORMAL") < 0)
		return -1;
	/* The pragma answers the mode in force; anything but WAL is an error
	   (e.g. a file system without shared memory). It is also the first
	   statement that reads the file. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(d->db, "PRAGMA journal_mode = WAL", -1, &st,
			       NULL) != SQLITE_OK)
		return fail_sql(o, "journal_mode");
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0),
				      "wal") == 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return fail_sql(o, "journal_mode");
	if (!wal) {
		*o->error_r =
		    xasprintf("%s: cannot switch to WAL mode", d->path);
		return -1;
	}
	return check_schema(o, schema);
}

/* Closes the connection to a corrupt file without touching the file (no
   checkpoint on close) and renames it. */
static int reset_corrupt(struct br_db *d, struct opener *o, char **error_r)
{
	sqlite3_db_config(d->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_close(d->db);
	d->db = NULL;
	if (move_aside(d, error_r) < 0)
		return -1;
	d->reset_why = o->why;
	o->why = NULL;
	d->reset.why = d->reset_why;
	return 0;
}

int br_db_open(const char *dir, const char *name,
	       const struct br_db_schema *schema, struct br_db **db_r,
	       char **error_r)
{
	struct br_db *d = xcalloc(1, sizeof(*d));
	struct opener o = {.path = NULL, .error_r = error_r};

	*error_r = NULL;
	d->path = xasprintf("%s/%s", dir, name);
	o.path = d->path;
	if (prepare_files(dir, d->path, error_r) < 0)
		goto fail;
	/* Before SQLite creates a -wal of its own. */
	d->reset.mtime = last_change(d->path);
	if (open_checked(d, schema, &o) < 0) {
		if (!o.corrupt)
			goto fail;
		ut_free(error_r);
		if (reset_corrupt(d, &o, error_r) < 0 ||
		    prepare_files(dir, d->path, error_r) < 0)
			goto fail;
		o = (struct opener){.path = d->path, .error_r = error_r};
		if (open_checked(d, schema, &o) < 0)
			goto fail;
	}
	if (checkpointer_start(d, error_r) < 0)
		goto fail;
	*db_r = d;
	return 0;
fail:
	free(o.why);
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
	free(d->reset_why);
	free(d->reset_moved_to);
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

const struct br_db_reset *br_db_reset_info(const struct br_db *d)
{
	return d->reset.why != NULL ? &d->reset : NULL;
}
