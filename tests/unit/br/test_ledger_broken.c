/*
 * Tests of the ledger in broken state: writes that fail (read-only,
 * database full, a file size limit at COMMIT) and catch up later, memory
 * full, corrupt files moved aside, files of others refused, unsafe modes
 * and owners of the state directory refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#include "br_ledger_private.h"
#include "ledger_test.h"

#define WRITES_FAIL "writes fail ("
#define WRITES_WORK "writes work again: caught up"

static void pragma(struct br_ledger *l, const char *sql)
{
	T_CHECK_INT(sqlite3_exec(br_ledger__sqlite(l), sql, NULL, NULL, NULL),
		    SQLITE_OK);
}

static int commit1(struct br_ledger *l, const char *user, const char *mailbox,
		   uint32_t uidvalidity, uint32_t uid, uint64_t *id_r)
{
	struct br_ledger_key k = {mailbox, uidvalidity, uid};
	uint64_t id = 0;
	int ret = br_ledger_commit(l, user, &k, 1, user, "<m/>", 4, &id);
	if (id_r != NULL)
		*id_r = id;
	return ret;
}

static int str_cb(const struct br_ledger_mailbox *mb, void *ctx)
{
	ut_buf_appendf(ctx, "%s/%s/%" PRIu32 "/%" PRIu32 ";", mb->user,
		       mb->mailbox, mb->uidvalidity, mb->last_uid);
	return 0;
}

static int due_cb(const struct br_ledger_due *d, void *ctx)
{
	ut_buf_appendf(ctx, "%s/%s/%" PRIu32 ";", d->user, d->mailbox,
		       d->rescan_from);
	return 0;
}

static int out_cb(uint64_t id, const char *jid, const char *xml, size_t len,
		  void *ctx)
{
	(void)jid;
	(void)xml;
	(void)len;
	ut_buf_appendf(ctx, "%" PRIu64 ";", id);
	return 0;
}

static void test_writes_fail_and_catch_up(void)
{
	char *dir = lt_state_dir("readonly");
	struct br_ledger *l = lt_open(dir);
	uint64_t id1, id2, id;
	int found;
	uint32_t v, last;
	int64_t value;

	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 1, &id1), 0);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 2, &id2), 0);
	T_CHECK_INT(br_ledger_mailbox_set(l, "bob", "Gone", 1, 5), 0);

	lt_log_start();
	pragma(l, "PRAGMA query_only = 1"); /* every write: SQLITE_READONLY */
	struct br_ledger_key k[] = {{"INBOX", 1, 3}, {"Work", 2, 7}};
	T_CHECK_INT(br_ledger_commit(l, "bob", k, 2, "bob", "<x/>", 4, &id),
		    -1);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 3), 1);
	T_CHECK_INT(lt_is_notified(l, "bob", "Work", 2, 7), 1);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 1), 1);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 4), 0);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 4, NULL), -1);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 4), 1);
	T_CHECK_INT(br_ledger_mailbox_get(l, "bob", "INBOX", &found, &v, &last),
		    0);
	T_CHECK(found && v == 1 && last == 4);
	/* Floors, due marks, confirmations, meta and removals are kept. */
	T_CHECK_INT(br_ledger_mailbox_set(l, "bob", "Lists", 3, 9), 0);
	T_CHECK_INT(br_ledger_due_set(l, "bob", "Lists", 10, 0), 0);
	T_CHECK_INT(br_ledger_confirm(l, id2), 0);
	T_CHECK_INT(br_ledger_meta_set(l, "alive_at", 77), 0);
	T_CHECK_INT(br_ledger_mailbox_remove(l, "bob", "Gone"), 0);
	T_CHECK_INT(br_ledger_prune(l, 0), -1); /* not kept */
	T_CHECK_INT(br_ledger_retry(l), -1);
	/* Every read answers from memory. */
	T_CHECK_INT(br_ledger_meta_get(l, "alive_at", &found, &value), 0);
	T_CHECK_INT(value, 77);
	T_CHECK_INT(br_ledger_mailbox_get(l, "bob", "Gone", &found, &v, &last),
		    0);
	T_CHECK_INT(found, 0);
	struct ut_buf b = UT_BUF_INIT;
	T_CHECK_INT(br_ledger_mailbox_foreach(l, str_cb, &b), 0);
	T_CHECK_STR(ut_buf_str(&b),
		    "bob/INBOX/1/4;bob/Lists/3/9;bob/Work/2/7;");
	ut_buf_reset(&b);
	T_CHECK_INT(br_ledger_due_next(l, NULL, NULL, 0, 5, due_cb, &b), 0);
	T_CHECK_STR(ut_buf_str(&b), "bob/Lists/10;");
	ut_buf_reset(&b);
	uint64_t n = 0;
	T_CHECK_INT(br_ledger_due_count(l, &n), 0);
	T_CHECK_INT(n, 1);
	T_CHECK_INT(br_ledger_outbox_foreach(l, out_cb, &b), 0);
	char *want = xasprintf("%" PRIu64 ";", id1);
	T_CHECK_STR(ut_buf_str(&b), want);
	free(want);
	ut_buf_reset(&b);
	/* One error line for all of that; the file is unchanged. */
	T_CHECK_INT(lt_log_count("error: "), 1);
	T_CHECK_INT(lt_log_count(WRITES_FAIL "attempt to write a readonly "
					     "database): notifications keep "
					     "flowing"),
		    1);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 2);

	pragma(l, "PRAGMA query_only = 0");
	T_CHECK_INT(br_ledger_retry(l), 0);
	T_CHECK_INT(br_ledger_retry(l), 0);
	T_CHECK_INT(lt_log_count(WRITES_WORK " 3 notified key(s), "
					     "4 mailbox row(s) and 1 "
					     "confirmation(s)"),
		    1);
	T_CHECK_INT(lt_log_count("error: "), 1);
	lt_log_stop();
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 5);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM mailboxes"
				  " WHERE mailbox = 'Gone'"),
		    0);
	T_CHECK_INT(lt_query(dir, "SELECT rescan_from FROM mailboxes"
				  " WHERE mailbox = 'Lists'"),
		    10);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM outbox"), 1);
	T_CHECK_INT(lt_query(dir, "SELECT value FROM meta"
				  " WHERE key = 'alive_at'"),
		    77);
	/* And writes go on as usual. */
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 5, &id), 0);
	T_CHECK(id > id2);
	br_ledger_close(&l);
	l = lt_open(dir);
	T_CHECK_INT(lt_is_notified(l, "bob", "Work", 2, 7), 1);
	T_CHECK_INT(br_ledger_mailbox_foreach(l, str_cb, &b), 0);
	T_CHECK_STR(ut_buf_str(&b),
		    "bob/INBOX/1/5;bob/Lists/3/9;bob/Work/2/7;");
	ut_buf_free(&b);
	br_ledger_close(&l);
	free(dir);
}

static void test_database_full(void)
{
	char *dir = lt_state_dir("full");
	struct br_ledger *l = lt_open(dir);
	char xml[8192];

	memset(xml, 'x', sizeof(xml));
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 1, NULL), 0);
	/* No page more than the file has: a stanza that needs overflow
	   pages fails with SQLITE_FULL. */
	pragma(l, "PRAGMA max_page_count = 1");
	lt_log_start();
	struct br_ledger_key k = {"INBOX", 1, 2};
	uint64_t id = 0;
	T_CHECK_INT(
	    br_ledger_commit(l, "bob", &k, 1, "bob", xml, sizeof(xml), &id),
	    -1);
	T_CHECK_INT(lt_log_count(WRITES_FAIL "database or disk is full)"), 1);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 2), 1);
	pragma(l, "PRAGMA max_page_count = 1000000");
	T_CHECK_INT(br_ledger_retry(l), 0);
	T_CHECK_INT(lt_log_count(WRITES_WORK " 1 notified key(s)"), 1);
	T_CHECK_INT(lt_log_count("error: "), 1);
	lt_log_stop();
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 2);
	br_ledger_close(&l);
	free(dir);
}

static off_t file_size(const char *dir, const char *name)
{
	struct stat st;
	char *path = xasprintf("%s/%s", dir, name);
	int rc = stat(path, &st);
	free(path);
	return rc == 0 ? st.st_size : -1;
}

static void test_batch_fails_at_commit(void)
{
	char *dir = lt_state_dir("batch");
	struct br_ledger *l = lt_open(dir);
	uint64_t id0, id1, id2;
	struct rlimit old, lim;

	signal(SIGXFSZ, SIG_IGN);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 1, &id0), 0);
	T_CHECK_INT(br_ledger_batch_begin(l), 0);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 2, &id1), 0);
	T_CHECK_INT(commit1(l, "bob", "Work", 1, 3, &id2), 0);
	/* A stanza about no particular mail, with a keys array anyway (the
	   router's empty digest): nothing of it is owned by the ledger. */
	struct br_ledger_key none[1] = {{"INBOX", 1, 99}};
	uint64_t id3;
	T_CHECK_INT(br_ledger_commit(l, "bob", none, 0, "bob", "<n/>", 4, &id3),
		    0);
	T_CHECK_INT(br_ledger_confirm(l, id0), 0);
	/* The WAL grows at COMMIT: a file size limit at its size makes
	   that write fail (SQLite: full, or an I/O error). */
	off_t wal = file_size(dir, "tidings.db-wal");
	T_CHECK(wal > file_size(dir, "tidings.db"));
	T_CHECK_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)wal;
	lt_log_start();
	T_CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int ret = br_ledger_batch_end(l);
	T_CHECK_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	T_CHECK_INT(ret, -1);
	T_CHECK_INT(lt_log_count(WRITES_FAIL), 1);
	T_CHECK_INT(lt_log_count("error: "), 1);
	/* What the batch committed is kept; its outbox rows are void. */
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 2), 1);
	T_CHECK_INT(lt_is_notified(l, "bob", "Work", 1, 3), 1);
	struct ut_buf b = UT_BUF_INIT;
	T_CHECK_INT(br_ledger_outbox_foreach(l, out_cb, &b), 0);
	T_CHECK_STR(ut_buf_str(&b), "");
	ut_buf_free(&b);
	T_CHECK_INT(br_ledger_retry(l), 0);
	T_CHECK_INT(lt_log_count(WRITES_WORK " 2 notified key(s), "
					     "2 mailbox row(s) and 1 "
					     "confirmation(s)"),
		    1);
	lt_log_stop();
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 3);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM outbox"), 0);

	/* A change that fails inside a batch: what came before it in the
	   batch, it, and what follows go to memory. */
	lt_log_start();
	T_CHECK_INT(br_ledger_batch_begin(l), 0);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 10, NULL), 0);
	pragma(l, "PRAGMA query_only = 1");
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 11, NULL), -1);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 12, NULL), -1);
	T_CHECK_INT(br_ledger_batch_end(l), -1);
	pragma(l, "PRAGMA query_only = 0");
	for (uint32_t uid = 10; uid <= 12; uid++)
		T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, uid), 1);
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 3);
	/* Once the first retry is due (1 s), the next batch writes memory
	   first, in its own transaction. */
	struct timespec pause = {1, 100 * 1000 * 1000};
	nanosleep(&pause, NULL);
	T_CHECK_INT(br_ledger_batch_begin(l), 0);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 13, NULL), 0);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 12), 1);
	int found;
	uint32_t v, last;
	T_CHECK_INT(br_ledger_mailbox_get(l, "bob", "INBOX", &found, &v, &last),
		    0);
	T_CHECK_INT(last, 13);
	T_CHECK_INT(br_ledger_batch_end(l), 0);
	T_CHECK_INT(lt_log_count(WRITES_FAIL), 1);
	T_CHECK_INT(lt_log_count(WRITES_WORK), 1);
	lt_log_stop();
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"), 7);
	br_ledger_close(&l);
	free(dir);
}

static int64_t mono_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_retry_backs_off(void)
{
	char *dir = lt_state_dir("backoff");
	struct br_ledger *l = lt_open(dir);

	lt_log_start();
	pragma(l, "PRAGMA query_only = 1");
	int64_t t0 = mono_msecs();
	T_CHECK_INT(br_ledger_mailbox_set(l, "a", "INBOX", 1, 1), 0);
	pragma(l, "PRAGMA query_only = 0");
	/* Within the first second, changes go to memory only. */
	T_CHECK_INT(br_ledger_mailbox_set(l, "a", "INBOX", 1, 2), 0);
	if (mono_msecs() - t0 < 900)
		T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM mailboxes"), 0);
	/* Then the next change writes everything. */
	uint32_t uid = 3;
	while (lt_log_count(WRITES_WORK) == 0 && mono_msecs() - t0 < 5000) {
		struct timespec pause = {0, 50 * 1000 * 1000};
		nanosleep(&pause, NULL);
		T_CHECK_INT(br_ledger_mailbox_set(l, "a", "INBOX", 1, uid++),
			    0);
	}
	int64_t took = mono_msecs() - t0;
	T_CHECK_INT(lt_log_count(WRITES_WORK), 1);
	T_CHECK_INT(lt_log_count(WRITES_FAIL), 1);
	lt_log_stop();
	T_CHECK(took >= 1000);
	T_CHECK_INT(lt_query(dir, "SELECT last_uid FROM mailboxes"), uid - 1);
	br_ledger_close(&l);
	free(dir);
}

static void test_memory_full(void)
{
	char *dir = lt_state_dir("memfull");
	struct br_ledger *l = lt_open(dir);

	lt_log_start();
	pragma(l, "PRAGMA query_only = 1");
	for (uint32_t uid = 1; uid <= BR_LEDGER_MEM_MAX + 2; uid++)
		commit1(l, "bob", "INBOX", 1, uid, NULL);
	T_CHECK_INT(lt_log_count("further ones are dropped"), 1);
	T_CHECK_INT(lt_log_count("error: "), 2);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, BR_LEDGER_MEM_MAX), 1);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, BR_LEDGER_MEM_MAX + 1),
		    0);
	pragma(l, "PRAGMA query_only = 0");
	T_CHECK_INT(br_ledger_retry(l), 0);
	char *want =
	    xasprintf(WRITES_WORK " %d notified key(s)", BR_LEDGER_MEM_MAX);
	T_CHECK_INT(lt_log_count(want), 1);
	free(want);
	T_CHECK_INT(lt_log_count("2 change(s) that did not fit"), 1);
	lt_log_stop();
	T_CHECK_INT(lt_query(dir, "SELECT count(*) FROM notified"),
		    BR_LEDGER_MEM_MAX);
	br_ledger_close(&l);
	free(dir);
}

/* The names in dir that start with prefix, as "name;" in order. */
static char *names_with(const char *dir, const char *prefix)
{
	struct dirent **list;
	struct ut_buf b = UT_BUF_INIT;
	int n = scandir(dir, &list, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		if (strncmp(list[i]->d_name, prefix, strlen(prefix)) == 0)
			ut_buf_appendf(&b, "%s;", list[i]->d_name);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	return ut_buf_steal(&b);
}

static void write_file(const char *path, const void *data, size_t len,
		       off_t offset)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	T_CHECK(fd >= 0);
	T_CHECK_INT(pwrite(fd, data, len, offset), len);
	close(fd);
}

static void random_bytes(void *p, size_t len)
{
	unsigned char *c = p;
	for (size_t i = 0; i < len; i++)
		c[i] = (unsigned char)rand();
}

/* Opens dir whose tidings.db is corrupt: one loud line, the file moved
   aside (with its -wal when has_wal), a fresh ledger that works. Returns
   the moved file's name. */
static char *open_corrupt(const char *dir, const char *why, bool has_wal)
{
	lt_log_start();
	struct br_ledger *l = lt_open(dir);
	lt_log_stop();
	T_CHECK_INT(lt_log_count("error: "), 1);
	T_CHECK_INT(lt_log_count(why), 1);
	T_CHECK_INT(lt_log_count("tidingsd starts with a fresh ledger: unseen "
				 "mail delivered since 2020-09-13T12:26:40Z is "
				 "still caught up"),
		    1);
	/* "X;X-shm;X-wal;": the database with what SQLite made of it. */
	char *names = names_with(dir, "tidings.db.corrupt-");
	char *end = strchr(names, ';');
	char *moved = xstrndup(names, end != NULL ? (size_t)(end - names) : 0);
	char *want = xasprintf("%s;%s-shm;%s-wal;", moved, moved, moved);
	T_CHECK_STR(names, want);
	free(want);
	free(names);
	if (has_wal) {
		/* Our -wal went with it, untouched. */
		char *wal = xasprintf("%s/%s-wal", dir, moved);
		struct stat st;
		T_CHECK_INT(stat(wal, &st), 0);
		T_CHECK_INT(st.st_size, 100);
		free(wal);
	}
	T_CHECK(l != NULL);
	if (l == NULL)
		return moved;
	int found = 0;
	int64_t alive = 0;
	T_CHECK_INT(
	    br_ledger_meta_get(l, BR_LEDGER_META_ALIVE_AT, &found, &alive), 0);
	T_CHECK_INT(alive, 1600000000);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 1), 0);
	T_CHECK_INT(commit1(l, "bob", "INBOX", 1, 1, NULL), 0);
	T_CHECK_INT(lt_is_notified(l, "bob", "INBOX", 1, 1), 1);
	br_ledger_close(&l);
	return moved;
}

/* Sets the last change of path to 2020-09-13T12:26:40Z. */
static void set_mtime(const char *path)
{
	struct timespec t[2] = {{1600000000, 0}, {1600000000, 0}};
	T_CHECK_INT(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void test_corrupt_moved_aside(void)
{
	char buf[16384];
	char *dir = lt_state_dir("corrupt");
	char *path = xasprintf("%s/tidings.db", dir);
	char *wal = xasprintf("%s-wal", path);

	/* Random bytes, with a random -wal: "not a database". */
	T_CHECK_INT(mkdir(dir, 0700), 0);
	random_bytes(buf, sizeof(buf));
	write_file(path, buf, sizeof(buf), 0);
	write_file(wal, buf, 100, 0);
	set_mtime(path);
	set_mtime(wal);
	char *moved =
	    open_corrupt(dir, "corrupt (file is not a database)", true);
	char *mpath = xasprintf("%s/%s", dir, moved);
	FILE *f = fopen(mpath, "rb");
	char back[sizeof(buf)];
	T_CHECK(f != NULL && fread(back, 1, sizeof(back), f) == sizeof(back));
	if (f != NULL)
		fclose(f);
	T_CHECK(memcmp(buf, back, sizeof(buf)) == 0);
	free(mpath);
	free(moved);

	/* A valid header, garbage in every later page: the tables are
	   unreadable. And garbage in the last pages only (the outbox's
	   data): only quick_check finds it. */
	for (int round = 0; round < 2; round++) {
		char *cmd = xasprintf("rm -rf '%s'", dir);
		T_CHECK_INT(system(cmd), 0);
		free(cmd);
		struct br_ledger *l = lt_open(dir);
		char xml[600];
		memset(xml, 'x', sizeof(xml));
		for (uint32_t i = 1; i <= 300; i++) {
			struct br_ledger_key k = {"Old", 1, i};
			uint64_t id;
			T_CHECK_INT(br_ledger_commit(l, "bob", &k, 1, "bob",
						     xml, sizeof(xml), &id),
				    0);
		}
		br_ledger_close(&l);
		off_t size = file_size(dir, "tidings.db");
		T_CHECK(size > 40 * 4096);
		off_t from = round == 0 ? 4096 : size - 8 * 4096;
		char *junk = xmalloc((size_t)(size - from));
		random_bytes(junk, (size_t)(size - from));
		write_file(path, junk, (size_t)(size - from), from);
		free(junk);
		set_mtime(path);
		moved = open_corrupt(dir, "corrupt (", false);
		free(moved);
	}
	free(wal);
	free(path);
	free(dir);
}

static void test_refused_not_moved(void)
{
	char *dir = lt_state_dir("others");
	char *path = xasprintf("%s/tidings.db", dir);
	struct br_ledger *l = lt_open(dir);
	char *error = NULL;
	sqlite3 *db;

	br_ledger_close(&l);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(
	    sqlite3_exec(db, "PRAGMA application_id = 42", NULL, NULL, NULL),
	    SQLITE_OK);
	T_CHECK_INT(br_ledger_open(dir, &l, &error), -1);
	char *want = xasprintf("%s: not a tidings database", path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	T_CHECK_INT(sqlite3_exec(db,
				 "PRAGMA application_id = 1413762631;"
				 "PRAGMA user_version = 4",
				 NULL, NULL, NULL),
		    SQLITE_OK);
	sqlite3_close(db);
	T_CHECK_INT(br_ledger_open(dir, &l, &error), -1);
	want = xasprintf("%s: schema version 4 is newer than this tidingsd "
			 "knows (3)",
			 path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	char *moved = names_with(dir, "tidings.db.");
	T_CHECK_STR(moved, "");
	free(moved);
	T_CHECK_INT(access(path, F_OK), 0);
	free(path);
	free(dir);
}

/* Opening dir fails with "<path>: <message> '<path>'<tail>". */
static void check_refused(const char *dir, const char *path,
			  const char *message, const char *tail)
{
	struct br_ledger *l = NULL;
	char *error = NULL;
	struct ut_buf want = UT_BUF_INIT;

	T_CHECK_INT(br_ledger_open(dir, &l, &error), -1);
	T_CHECK(l == NULL);
	ut_buf_append_str(&want, path);
	ut_buf_append_str(&want, ": ");
	ut_buf_append_str(&want, message);
	ut_buf_append_str(&want, " '");
	ut_buf_append_str(&want, path);
	ut_buf_append_str(&want, "'");
	ut_buf_append_str(&want, tail);
	T_CHECK_STR(error, ut_buf_str(&want));
	ut_buf_free(&want);
	free(error);
}

#define WRITABLE(mode, fix)                                                    \
	"writable by group or others (mode " mode "), so anyone could "        \
	"change what tidingsd notifies: chmod " fix

static void test_unsafe_state_dir(void)
{
	char *dir = lt_state_dir("modes");
	char *path = xasprintf("%s/tidings.db", dir);
	struct stat st;

	T_CHECK_INT(mkdir(dir, 0700), 0);
	T_CHECK_INT(chmod(dir, 0777), 0);
	check_refused(dir, dir, WRITABLE("0777", "700"), "");
	T_CHECK_INT(access(path, F_OK), -1); /* nothing created */
	T_CHECK_INT(chmod(dir, 01770), 0);
	check_refused(dir, dir, WRITABLE("1770", "700"), "");
	/* Readable by the group is its business. */
	T_CHECK_INT(chmod(dir, 0750), 0);
	struct br_ledger *l = lt_open(dir);
	br_ledger_close(&l);

	T_CHECK_INT(chmod(path, 0666), 0);
	check_refused(dir, path, WRITABLE("0666", "600"), "");
	/* A file others may only read is made private. */
	T_CHECK_INT(chmod(path, 0640), 0);
	l = lt_open(dir);
	br_ledger_close(&l);
	T_CHECK_INT(stat(path, &st), 0);
	T_CHECK_INT(st.st_mode & 0777, 0600);

	if (geteuid() == 0) {
		static const char owned[] = "owned by uid 65534, but tidingsd "
					    "runs as uid 0: chown 0";
		static const char tail[] = " (or run tidingsd as its owner)";
		T_CHECK_INT(chown(dir, 65534, (gid_t)-1), 0);
		check_refused(dir, dir, owned, tail);
		T_CHECK_INT(chown(dir, 0, (gid_t)-1), 0);
		T_CHECK_INT(chown(path, 65534, (gid_t)-1), 0);
		check_refused(dir, path, owned, tail);
	} else {
		printf("not root: owner checks skipped\n");
	}
	free(path);
	free(dir);
}

int main(void)
{
	umask(022);
	if (mkdtemp(lt_tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_writes_fail_and_catch_up);
	T_RUN(test_database_full);
	T_RUN(test_batch_fails_at_commit);
	T_RUN(test_retry_backs_off);
	T_RUN(test_memory_full);
	T_RUN(test_corrupt_moved_aside);
	T_RUN(test_refused_not_moved);
	T_RUN(test_unsafe_state_dir);
	char *cmd = xasprintf("rm -rf '%s'", lt_tmpdir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	ut_buf_free(&lt_log);
	return T_DONE();
}
