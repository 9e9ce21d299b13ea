#ifndef LEDGER_TEST_H
#define LEDGER_TEST_H

/*
 * Helpers shared by the ledger's test files (test.h must come first):
 * a temporary folder, opening, reading the file behind the ledger's back,
 * and capturing log lines.
 */

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "br_ledger.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"

static char lt_tmpdir[] = "/tmp/test-ledger-XXXXXX";

/* A fresh state directory (not yet existing) under lt_tmpdir. */
static inline char *lt_state_dir(const char *name)
{
	return xasprintf("%s/%s", lt_tmpdir, name);
}

static inline struct br_ledger *lt_open(const char *dir)
{
	struct br_ledger *l = NULL;
	char *error = NULL;
	T_CHECK_INT(br_ledger_open(dir, &l, &error), 0);
	if (error != NULL)
		fprintf(stderr, "open: %s\n", error);
	free(error);
	return l;
}

static inline int lt_is_notified(struct br_ledger *l, const char *user,
				 const char *mailbox, uint32_t uidvalidity,
				 uint32_t uid)
{
	struct br_ledger_key k = {mailbox, uidvalidity, uid};
	int notified = -1;
	T_CHECK_INT(br_ledger_is_notified(l, user, &k, &notified), 0);
	return notified;
}

/* Runs sql on its own connection to dir/tidings.db and returns the first
   column of the first row as an integer (-1 when there is none). */
static inline long long lt_query(const char *dir, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;
	char *path = xasprintf("%s/tidings.db", dir);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return v;
}

/* Log lines, captured instead of written to stderr. */
static struct ut_buf lt_log;

static inline void lt_log_hook(enum ut_log_level level, const char *line,
			       void *ctx)
{
	(void)level;
	(void)ctx;
	ut_buf_appendf(&lt_log, "%s\n", line);
}

static inline void lt_log_start(void)
{
	ut_buf_reset(&lt_log);
	ut_log_set_hook(lt_log_hook, NULL);
}

/* Stops capturing and echoes what was captured (for failures). */
static inline void lt_log_stop(void)
{
	ut_log_set_hook(NULL, NULL);
	fputs(ut_buf_str(&lt_log), stdout);
}

/* How many captured lines contain needle. */
static inline int lt_log_count(const char *needle)
{
	int n = 0;
	for (const char *p = ut_buf_str(&lt_log);
	     (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

#endif
