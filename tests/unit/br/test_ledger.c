/*
 * Tests of the durable ledger: round trips, restart, confirm, UIDVALIDITY
 * changes, pruning, file modes, and a child killed with SIGKILL while it
 * commits (no committed row lost, no transaction half applied).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "br_ledger.h"
#include "ut_buf.h"
#include "test.h"
#include "ut_xalloc.h"

static char tmpdir[] = "/tmp/test-ledger-XXXXXX";

/* A fresh state directory (not yet existing) under tmpdir. */
static char *state_dir(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static struct br_ledger *open_ok(const char *dir)
{
	struct br_ledger *l = NULL;
	char *error = NULL;
	T_CHECK_INT(br_ledger_open(dir, &l, &error), 0);
	if (error != NULL)
		fprintf(stderr, "open: %s\n", error);
	free(error);
	return l;
}

static int is_notified(struct br_ledger *l, const char *user,
		       const char *mailbox, uint32_t uidvalidity, uint32_t uid)
{
	struct br_ledger_key k = {mailbox, uidvalidity, uid};
	int notified = -1;
	T_CHECK_INT(br_ledger_is_notified(l, user, &k, &notified), 0);
	return notified;
}

/* Collects the outbox as "id:jid:xml;" for exact comparison. */
static int collect_cb(uint64_t id, const char *jid, const char *xml, size_t len,
		      void *ctx)
{
	struct ut_buf *b = ctx;
	T_CHECK_INT(strlen(xml), len);
	ut_buf_appendf(b, "%" PRIu64 ":%s:%.*s;", id, jid, (int)len, xml);
	return 0;
}

static char *outbox_str(struct br_ledger *l)
{
	struct ut_buf b = UT_BUF_INIT;
	T_CHECK_INT(br_ledger_outbox_foreach(l, collect_cb, &b), 0);
	return ut_buf_steal(&b);
}

static void test_mailbox_round_trip(void)
{
	char *dir = state_dir("mb");
	struct br_ledger *l = open_ok(dir);
	int found = -1;
	uint32_t v = 0, last = 0;

	T_CHECK_INT(br_ledger_mailbox_get(l, "bob@example.org", "INBOX", &found,
					  &v, &last),
		    0);
	T_CHECK_INT(found, 0);
	T_CHECK_INT(br_ledger_mailbox_set(l, "bob@example.org", "INBOX",
					  1700000000u, 41),
		    0);
	T_CHECK_INT(br_ledger_mailbox_get(l, "bob@example.org", "INBOX", &found,
					  &v, &last),
		    0);
	T_CHECK_INT(found, 1);
	T_CHECK_INT(v, 1700000000u);
	T_CHECK_INT(last, 41);
	/* UINT32_MAX survives the round trip (no sign trouble). */
	T_CHECK_INT(br_ledger_mailbox_set(l, "bob@example.org", "Lists/Ä",
					  UINT32_MAX, UINT32_MAX),
		    0);
	T_CHECK_INT(br_ledger_mailbox_get(l, "bob@example.org", "Lists/Ä",
					  &found, &v, &last),
		    0);
	T_CHECK_INT(v, UINT32_MAX);
	T_CHECK_INT(last, UINT32_MAX);
	/* Other users and mailboxes are separate rows. */
	T_CHECK_INT(br_ledger_mailbox_get(l, "alice@example.org", "INBOX",
					  &found, &v, &last),
		    0);
	T_CHECK_INT(found, 0);
	br_ledger_close(&l);
	T_CHECK(l == NULL);
	br_ledger_close(&l);

	/* Files: the directory 0700, the database 0600. */
	struct stat st;
	T_CHECK_INT(stat(dir, &st), 0);
	T_CHECK_INT(st.st_mode & 0777, 0700);
	char *db = xasprintf("%s/tidings.db", dir);
	T_CHECK_INT(stat(db, &st), 0);
	T_CHECK_INT(st.st_mode & 0777, 0600);
	free(db);
	free(dir);
}

static int count_mb_cb(const struct br_ledger_mailbox *mb, void *ctx)
{
	struct ut_buf *b = ctx;
	ut_buf_appendf(b, "%s/%s/%" PRIu32 "/%" PRIu32 ";", mb->user,
		       mb->mailbox, mb->uidvalidity, mb->last_uid);
	return 0;
}

static int stop_first_cb(const struct br_ledger_mailbox *mb, void *ctx)
{
	(void)mb;
	(*(int *)ctx)++;
	return 1;
}

static void test_commit_restart_confirm(void)
{
	char *dir = state_dir("commit");
	struct br_ledger *l = open_ok(dir);
	uint64_t id1 = 0, id2 = 0, id3 = 0;
	struct br_ledger_key k1[] = {{"INBOX", 7, 10}};
	struct br_ledger_key k2[] = {
	    {"INBOX", 7, 12}, {"INBOX", 7, 11}, {"Work", 3, 5}};

	T_CHECK_INT(br_ledger_commit(l, "bob@example.org", k1, 1,
				     "bob@example.org", "<m1/>", 5, &id1),
		    0);
	T_CHECK_INT(br_ledger_commit(l, "bob@example.org", k2, 3,
				     "bob@example.org", "<m2/>", 5, &id2),
		    0);
	/* n = 0: a stanza about no particular mail; xml may hold a NUL. */
	T_CHECK_INT(br_ledger_commit(l, NULL, NULL, 0, "carol@example.org",
				     "<m3/>", 5, &id3),
		    0);
	T_CHECK(id1 < id2 && id2 < id3);
	T_CHECK_INT(is_notified(l, "bob@example.org", "INBOX", 7, 10), 1);
	T_CHECK_INT(is_notified(l, "bob@example.org", "INBOX", 7, 11), 1);
	T_CHECK_INT(is_notified(l, "bob@example.org", "INBOX", 7, 9), 0);
	T_CHECK_INT(is_notified(l, "bob@example.org", "INBOX", 8, 10), 0);
	T_CHECK_INT(is_notified(l, "bob@example.org", "Work", 3, 5), 1);
	T_CHECK_INT(is_notified(l, "alice@example.org", "INBOX", 7, 10), 0);
	br_ledger_close(&l);

	/* A restart: everything comes back, the outbox in commit order. */
	l = open_ok(dir);
	char *want = xasprintf("%" PRIu64 ":bob@example.org:<m1/>;%" PRIu64
			       ":bob@example.org:<m2/>;%" PRIu64
			       ":carol@example.org:<m3/>;",
			       id1, id2, id3);
	char *got = outbox_str(l);
	T_CHECK_STR(got, want);
	free(got);
	free(want);
	T_CHECK_INT(is_notified(l, "bob@example.org", "INBOX", 7, 12), 1);
	struct ut_buf b = UT_BUF_INIT;
	T_CHECK_INT(br_ledger_mailbox_foreach(l, count_mb_cb, &b), 0);
	T_CHECK_STR(ut_buf_str(&b),
		    "bob@example.org/INBOX/7/12;bob@example.org/Work/3/5;");
	ut_buf_free(&b);
	int calls = 0;
	T_CHECK_INT(br_ledger_mailbox_foreach(l, stop_first_cb, &calls), 0);
	T_CHECK_INT(calls, 1);

	/* Confirm removes exactly one row; an unknown id is no error. */
	T_CHECK_INT(br_ledger_confirm(l, id2), 0);
	T_CHECK_INT(br_ledger_confirm(l, 999999), 0);
	want = xasprintf("%" PRIu64 ":bob@example.org:<m1/>;%" PRIu64
			 ":carol@example.org:<m3/>;",
			 id1, id3);
	got = outbox_str(l);
	T_CHECK_STR(got, want);
	free(got);
	free(want);
	/* Keys stay notified after their stanza is confirmed. */
	T_CHECK_INT(is_notified(l, "bob@example.org", "INBOX", 7, 11), 1);
	T_CHECK_INT(br_ledger_confirm(l, id1), 0);
	T_CHECK_INT(br_ledger_confirm(l, id3), 0);
	got = outbox_str(l);
	T_CHECK_STR(got, "");
	free(got);

	/* Ids are never reused, even after the outbox emptied and a
	   restart (AUTOINCREMENT). */
	br_ledger_close(&l);
	l = open_ok(dir);
	uint64_t id4 = 0;
	T_CHECK_INT(br_ledger_commit(l, "bob@example.org", NULL, 0, "b@x",
				     "<m4/>", 5, &id4),
		    0);
	T_CHECK(id4 > id3);
	br_ledger_close(&l);
	free(dir);
}

/* The callback may use the ledger: confirm what it is handed. */
static int confirm_cb(uint64_t id, const char *jid, const char *xml, size_t len,
		      void *ctx)
{
	(void)jid;
	(void)xml;
	(void)len;
	struct br_ledger *l = ctx;
	T_CHECK_INT(br_ledger_confirm(l, id), 0);
	return 0;
}

static void test_outbox_foreach_reentrant(void)
{
	char *dir = state_dir("reentrant");
	struct br_ledger *l = open_ok(dir);
	uint64_t id;
	char xml[600];

	/* A 600-byte stanza with a NUL inside comes back byte for byte. */
	for (size_t i = 0; i < sizeof(xml); i++)
		xml[i] = (char)('a' + i % 26);
	xml[300] = '\0';
	T_CHECK_INT(
	    br_ledger_commit(l, NULL, NULL, 0, "j", xml, sizeof(xml), &id), 0);
	T_CHECK_INT(br_ledger_commit(l, NULL, NULL, 0, "j", "<x/>", 4, &id), 0);
	T_CHECK_INT(br_ledger_outbox_foreach(l, confirm_cb, l), 0);
	char *got = outbox_str(l);
	T_CHECK_STR(got, "");
	free(got);
	br_ledger_close(&l);
	free(dir);
}

static void test_uidvalidity_change(void)
{
	char *dir = state_dir("uidvalidity");
	struct br_ledger *l = open_ok(dir);
	uint64_t id;
	int found;
	uint32_t v, last;
	struct br_ledger_key a[] = {
	    {"INBOX", 100, 1}, {"INBOX", 100, 2}, {"Work", 100, 9}};
	struct br_ledger_key b[] = {{"INBOX", 200, 1}};

	T_CHECK_INT(br_ledger_commit(l, "u", a, 3, "u", "<a/>", 4, &id), 0);
	/* A commit under a new UIDVALIDITY resets that mailbox only. */
	T_CHECK_INT(br_ledger_commit(l, "u", b, 1, "u", "<b/>", 4, &id), 0);
	T_CHECK_INT(br_ledger_mailbox_get(l, "u", "INBOX", &found, &v, &last),
		    0);
	T_CHECK_INT(v, 200);
	T_CHECK_INT(last, 1);
	T_CHECK_INT(is_notified(l, "u", "INBOX", 100, 2), 0);
	T_CHECK_INT(is_notified(l, "u", "INBOX", 100, 1), 0);
	T_CHECK_INT(is_notified(l, "u", "INBOX", 200, 1), 1);
	T_CHECK_INT(is_notified(l, "u", "Work", 100, 9), 1);

	/* So does mailbox_set; the same UIDVALIDITY keeps the keys and sets
	   last_uid as told (even lower). */
	T_CHECK_INT(br_ledger_mailbox_set(l, "u", "Work", 100, 3), 0);
	T_CHECK_INT(is_notified(l, "u", "Work", 100, 9), 1);
	T_CHECK_INT(br_ledger_mailbox_get(l, "u", "Work", &found, &v, &last),
		    0);
	T_CHECK_INT(last, 3);
	T_CHECK_INT(br_ledger_mailbox_set(l, "u", "Work", 101, 0), 0);
	T_CHECK_INT(is_notified(l, "u", "Work", 100, 9), 0);
	T_CHECK_INT(br_ledger_mailbox_get(l, "u", "Work", &found, &v, &last),
		    0);
	T_CHECK_INT(v, 101);
	T_CHECK_INT(last, 0);

	/* last_uid only rises within one UIDVALIDITY. */
	struct br_ledger_key c[] = {{"INBOX", 200, 50}, {"INBOX", 200, 20}};
	T_CHECK_INT(br_ledger_commit(l, "u", c, 2, "u", "<c/>", 4, &id), 0);
	T_CHECK_INT(br_ledger_mailbox_get(l, "u", "INBOX", &found, &v, &last),
		    0);
	T_CHECK_INT(last, 50);
	br_ledger_close(&l);
	free(dir);
}

/* Ages keys of user/mailbox with uid <= max_uid by secs, straight in the
   database (the ledger has no clock to mock). */
static void age_keys(const char *dir, const char *mailbox, uint32_t max_uid,
		     int secs)
{
	sqlite3 *db;
	char *path = xasprintf("%s/tidings.db", dir);
	char *sql = sqlite3_mprintf("UPDATE notified SET at = at - %d "
				    "WHERE mailbox = %Q AND uid <= %u",
				    secs, mailbox, max_uid);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	sqlite3_free(sql);
	free(path);
}

static int count_keys(const char *dir)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;
	char *path = xasprintf("%s/tidings.db", dir);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM notified", -1,
				       &st, NULL),
		    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return n;
}

static void test_prune(void)
{
	char *dir = state_dir("prune");
	struct br_ledger *l = open_ok(dir);
	uint64_t id;
	/* INBOX: 1..6 notified, except 4 (its event is late). */
	struct br_ledger_key k[] = {{"INBOX", 9, 1}, {"INBOX", 9, 2},
				    {"INBOX", 9, 3}, {"INBOX", 9, 5},
				    {"INBOX", 9, 6}, {"Work", 9, 1}};

	T_CHECK_INT(br_ledger_commit(l, "u", k, 6, "u", "<d/>", 4, &id), 0);
	/* A later mailbox_set lowered Work's last_uid below its key. */
	T_CHECK_INT(br_ledger_mailbox_set(l, "u", "Work", 9, 0), 0);
	br_ledger_close(&l);
	age_keys(dir, "INBOX", 3, 7200);
	age_keys(dir, "Work", 1, 7200);

	l = open_ok(dir);
	T_CHECK_INT(br_ledger_prune(l, 3600), 0);
	/* Pruned: INBOX 1..3. Kept: INBOX 5, 6 (young) and Work 1 (above its
	   mailbox's last_uid, so the floor does not cover it). */
	T_CHECK_INT(count_keys(dir), 3);
	/* The floor still answers for the pruned keys... */
	T_CHECK_INT(is_notified(l, "u", "INBOX", 9, 1), 1);
	T_CHECK_INT(is_notified(l, "u", "INBOX", 9, 3), 1);
	/* ...but not for the late UID 4 above it, nor for another
	   UIDVALIDITY. */
	T_CHECK_INT(is_notified(l, "u", "INBOX", 9, 4), 0);
	T_CHECK_INT(is_notified(l, "u", "INBOX", 8, 1), 0);
	T_CHECK_INT(is_notified(l, "u", "INBOX", 9, 5), 1);
	T_CHECK_INT(is_notified(l, "u", "Work", 9, 1), 1);
	/* Pruning again changes nothing. */
	T_CHECK_INT(br_ledger_prune(l, 3600), 0);
	T_CHECK_INT(count_keys(dir), 3);
	/* A new UIDVALIDITY drops the floor with the keys. */
	T_CHECK_INT(br_ledger_mailbox_set(l, "u", "INBOX", 10, 6), 0);
	T_CHECK_INT(is_notified(l, "u", "INBOX", 10, 1), 0);
	T_CHECK_INT(count_keys(dir), 1);
	/* max_age larger than the clock prunes nothing. */
	T_CHECK_INT(br_ledger_prune(l, UINT64_MAX), 0);
	T_CHECK_INT(count_keys(dir), 1);
	br_ledger_close(&l);
	free(dir);
}

static void test_open_errors(void)
{
	struct br_ledger *l = NULL;
	char *error = NULL;

	/* A state dir that is a file. */
	char *file = state_dir("afile");
	FILE *f = fopen(file, "w");
	T_CHECK(f != NULL);
	if (f != NULL)
		fclose(f);
	T_CHECK_INT(br_ledger_open(file, &l, &error), -1);
	char *want = xasprintf("%s: not a directory", file);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	T_CHECK(l == NULL);

	/* A missing parent is not created. */
	char *deep = xasprintf("%s/no/such", tmpdir);
	T_CHECK_INT(br_ledger_open(deep, &l, &error), -1);
	want = xasprintf("%s: cannot create directory: No such file or "
			 "directory",
			 deep);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	free(deep);
	free(file);

	/* A database from a newer tidingsd is refused, and so is another
	   application's. */
	char *dir = state_dir("newer");
	l = open_ok(dir);
	br_ledger_close(&l);
	char *path = xasprintf("%s/tidings.db", dir);
	sqlite3 *db;
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(
	    sqlite3_exec(db, "PRAGMA user_version = 4", NULL, NULL, NULL),
	    SQLITE_OK);
	T_CHECK_INT(br_ledger_open(dir, &l, &error), -1);
	want = xasprintf("%s: schema version 4 is newer than this tidingsd "
			 "knows (3)",
			 path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	T_CHECK_INT(sqlite3_exec(db,
				 "PRAGMA user_version = 3; PRAGMA "
				 "application_id = 42",
				 NULL, NULL, NULL),
		    SQLITE_OK);
	sqlite3_close(db);
	T_CHECK_INT(br_ledger_open(dir, &l, &error), -1);
	want = xasprintf("%s: not a tidings database", path);
	T_CHECK_STR(error, want);
	ut_free(&want);
	ut_free(&error);
	free(path);
	free(dir);
}

/*
 * The crash test. A child commits batches (KEYS_PER_BATCH keys and one
 * ~600-byte stanza each) in a loop and writes each committed (batch, id) to
 * a pipe; the parent kills it with SIGKILL while it is committing the next
 * one. After each kill the ledger must hold every reported batch, and every
 * batch it holds must be whole: its stanza and all of its keys, or nothing.
 */
#define KEYS_PER_BATCH 20
#define ROUNDS	       40

struct report {
	uint64_t id;
	uint32_t batch;
};

static void __attribute__((noreturn))
crash_child(const char *dir, uint32_t first, int fd)
{
	struct br_ledger *l = NULL;
	char *error = NULL;
	if (br_ledger_open(dir, &l, &error) < 0)
		_exit(2);
	for (uint32_t b = first;; b++) {
		struct br_ledger_key keys[KEYS_PER_BATCH];
		char xml[640];
		int len = snprintf(xml, sizeof(xml),
				   "<m batch='%" PRIu32 "'>%0580d</m>", b, 0);
		for (uint32_t j = 0; j < KEYS_PER_BATCH; j++)
			keys[j] = (struct br_ledger_key){
			    "INBOX", 1, b * KEYS_PER_BATCH + j + 1};
		struct report r = {0, b};
		if (br_ledger_commit(l, "crash@example.org", keys,
				     KEYS_PER_BATCH, "crash@example.org", xml,
				     (size_t)len, &r.id) < 0)
			_exit(3);
		if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
	}
}

struct seen {
	uint64_t *ids;
	uint32_t *batches;
	size_t n;
};

static int seen_cb(uint64_t id, const char *jid, const char *xml, size_t len,
		   void *ctx)
{
	struct seen *s = ctx;
	uint32_t b = UINT32_MAX;
	(void)jid;
	T_CHECK(len >= 590 && len <= 610);
	T_CHECK_INT(sscanf(xml, "<m batch='%" SCNu32 "'>", &b), 1);
	s->ids = xreallocarray(s->ids, s->n + 1, sizeof(*s->ids));
	s->batches = xreallocarray(s->batches, s->n + 1, sizeof(*s->batches));
	s->ids[s->n] = id;
	s->batches[s->n++] = b;
	return 0;
}

static void test_crash(void)
{
	char *dir = state_dir("crash");
	uint32_t next = 0;
	int partial_rounds = 0;

	srand((unsigned)time(NULL));

	for (int round = 0; round < ROUNDS; round++) {
		int fds[2];
		T_CHECK_INT(pipe(fds), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			crash_child(dir, next, fds[1]);
		}
		close(fds[1]);
		/* Let it commit a different number of batches each round,
		   then kill it at a random point of the next one. */
		size_t want = 5 + (size_t)rand() % 40, n = 0;
		/* The pipe holds at most 64 KiB of reports beyond these. */
		size_t cap = want + 65536 / sizeof(struct report) + 1;
		struct report *got = xcalloc(cap, sizeof(*got));
		while (n < want &&
		       read(fds[0], &got[n], sizeof(*got)) == sizeof(*got))
			n++;
		struct timespec pause = {0, (long)(rand() % 300) * 1000};
		nanosleep(&pause, NULL);
		T_CHECK_INT(kill(pid, SIGKILL), 0);
		int status;
		T_CHECK_INT(waitpid(pid, &status, 0), pid);
		T_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		/* Reports written between the last read and the kill count
		   too: they were committed. */
		while (n < cap &&
		       read(fds[0], &got[n], sizeof(*got)) == sizeof(*got))
			n++;
		close(fds[0]);
		T_CHECK_INT(n >= want, 1);

		struct br_ledger *l = open_ok(dir);
		if (l == NULL)
			break;
		struct seen s = {0};
		T_CHECK_INT(br_ledger_outbox_foreach(l, seen_cb, &s), 0);
		/* Every reported batch is there, with its id. */
		for (size_t i = 0; i < n; i++) {
			size_t j = 0;
			while (j < s.n && s.ids[j] != got[i].id)
				j++;
			T_CHECK(j < s.n && s.batches[j] == got[i].batch);
		}
		/* Every batch that is there is whole, and batches are
		   consecutive from 0 (none lost in the middle). */
		for (size_t j = 0; j < s.n; j++) {
			T_CHECK_INT(s.batches[j], j);
			for (uint32_t k = 0; k < KEYS_PER_BATCH; k += 7)
				T_CHECK_INT(
				    is_notified(
					l, "crash@example.org", "INBOX", 1,
					s.batches[j] * KEYS_PER_BATCH + k + 1),
				    1);
		}
		T_CHECK_INT(count_keys(dir), s.n * KEYS_PER_BATCH);
		int found;
		uint32_t v, last;
		T_CHECK_INT(br_ledger_mailbox_get(l, "crash@example.org",
						  "INBOX", &found, &v, &last),
			    0);
		T_CHECK_INT(last, s.n * KEYS_PER_BATCH);
		/* A batch committed after the last report was read (the kill
		   came after COMMIT, before write) is allowed; count it. */
		if (s.n > n + next)
			partial_rounds++;
		next = (uint32_t)s.n;
		br_ledger_close(&l);
		free(s.ids);
		free(s.batches);
		free(got);
	}
	printf("crash test: %" PRIu32 " batches over %d kills, %d kill(s) "
	       "between COMMIT and report\n",
	       next, ROUNDS, partial_rounds);
	free(dir);
}

int main(void)
{
	umask(022);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	T_RUN(test_mailbox_round_trip);
	T_RUN(test_commit_restart_confirm);
	T_RUN(test_outbox_foreach_reentrant);
	T_RUN(test_uidvalidity_change);
	T_RUN(test_prune);
	T_RUN(test_open_errors);
	T_RUN(test_crash);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	return T_DONE();
}
