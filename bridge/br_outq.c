/*
 * The durable queue of mail written in chat; see br_outq.h. Recipients
 * are stored joined by '\n' (validated addresses never hold one).
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "br_db.h"
#include "br_outq.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* "TDNQ": marks the file as tidings' mail queue. */
#define APPLICATION_ID 0x54444e51

/* Version 1. Released: never change it. */
static const char schema_v1[] =
    "CREATE TABLE outmail("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user TEXT NOT NULL, tell_to TEXT NOT NULL, tell_from TEXT NOT NULL,"
    " sender TEXT NOT NULL, rcpts TEXT NOT NULL, subject TEXT NOT NULL,"
    " message_id TEXT NOT NULL, data BLOB NOT NULL,"
    " created INTEGER NOT NULL, next_try INTEGER NOT NULL,"
    " tries INTEGER NOT NULL, state INTEGER NOT NULL,"
    " flags INTEGER NOT NULL);"
    "CREATE INDEX outmail_user ON outmail(user, created);"
    "CREATE INDEX outmail_open ON outmail(id) WHERE state < 2;";

static const char *const schema_steps[] = {schema_v1};

enum stmt {
	ST_ADD,
	ST_UPDATE,
	ST_COUNT_SINCE,
	ST_DUE,
	ST_PENDING,
	ST_PRUNE,
	ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_ADD] = "INSERT INTO outmail(user, tell_to, tell_from, sender, rcpts,"
	       " subject, message_id, data, created, next_try, tries, state,"
	       " flags) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
    [ST_UPDATE] = "UPDATE outmail SET state = ?2, tries = ?3, next_try = ?4,"
		  " flags = ?5 WHERE id = ?1",
    [ST_COUNT_SINCE] = "SELECT count(*) FROM outmail WHERE user = ?1 AND"
		       " created >= ?2",
    [ST_DUE] = "SELECT id, user, tell_to, tell_from, sender, rcpts, subject,"
	       " message_id, data, created, next_try, tries, state, flags"
	       " FROM outmail WHERE state < 2 AND id > ?2 AND next_try <= ?1"
	       " ORDER BY id LIMIT ?3",
    [ST_PENDING] = "SELECT count(*) FROM outmail WHERE state < 2",
    [ST_PRUNE] = "DELETE FROM outmail WHERE state >= 2 AND created < ?1",
};

struct br_outq {
	struct br_db *dbh;
	sqlite3 *db;
	sqlite3_stmt *st[ST_N];
};

static void st_done(struct br_outq *q, enum stmt id)
{
	sqlite3_reset(q->st[id]);
	sqlite3_clear_bindings(q->st[id]);
}

static int fail(struct br_outq *q, enum stmt id, const char *what)
{
	log_error("outmail %s: %s: %s", br_db_path(q->dbh), what,
		  sqlite3_errmsg(q->db));
	st_done(q, id);
	return -1;
}

int br_outq_open(const char *dir, struct br_outq **q_r, char **error_r)
{
	static const struct br_db_schema schema = {
	    APPLICATION_ID, schema_steps, (int)UT_N_ELEMENTS(schema_steps)};
	struct br_outq *q = xcalloc(1, sizeof(*q));

	if (br_db_open(dir, "outmail.db", &schema, &q->dbh, error_r) < 0) {
		free(q);
		return -1;
	}
	q->db = br_db_handle(q->dbh);
	const struct br_db_reset *reset = br_db_reset_info(q->dbh);
	if (reset != NULL)
		log_error("outmail %s: corrupt (%s): moved it to %s; mail "
			  "written in chat that was not sent yet is lost",
			  br_db_path(q->dbh), reset->why, reset->moved_to);
	for (int i = 0; i < ST_N; i++) {
		if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &q->st[i],
				       NULL) != SQLITE_OK) {
			*error_r = xasprintf("%s: %s", br_db_path(q->dbh),
					     sqlite3_errmsg(q->db));
			br_outq_close(&q);
			return -1;
		}
	}
	*q_r = q;
	return 0;
}

void br_outq_close(struct br_outq **qp)
{
	struct br_outq *q = *qp;
	if (q == NULL)
		return;
	for (int i = 0; i < ST_N; i++)
		sqlite3_finalize(q->st[i]);
	br_db_close(&q->dbh);
	ut_free(qp);
}

int br_outq_add(struct br_outq *q, const struct br_outq_item *it, int64_t *id_r)
{
	sqlite3_stmt *st = q->st[ST_ADD];
	struct ut_buf rcpts = UT_BUF_INIT;

	for (size_t i = 0; i < it->rcpt_count; i++) {
		if (i > 0)
			ut_buf_append_c(&rcpts, '\n');
		ut_buf_append_str(&rcpts, it->rcpts[i]);
	}
	sqlite3_bind_text(st, 1, it->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, it->tell_to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, it->tell_from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, it->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, ut_buf_str(&rcpts), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, it->subject != NULL ? it->subject : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 7, it->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 8, it->data, it->data_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, it->created);
	sqlite3_bind_int64(st, 10, it->next_try);
	sqlite3_bind_int64(st, 11, it->tries);
	sqlite3_bind_int(st, 12, (int)it->state);
	sqlite3_bind_int(st, 13, (int)it->flags);
	ut_buf_free(&rcpts);
	if (sqlite3_step(st) != SQLITE_DONE)
		return fail(q, ST_ADD, "cannot queue a mail");
	*id_r = sqlite3_last_insert_rowid(q->db);
	st_done(q, ST_ADD);
	return 0;
}

int br_outq_update(struct br_outq *q, const struct br_outq_item *it)
{
	sqlite3_stmt *st = q->st[ST_UPDATE];

	sqlite3_bind_int64(st, 1, it->id);
	sqlite3_bind_int(st, 2, (int)it->state);
	sqlite3_bind_int64(st, 3, it->tries);
	sqlite3_bind_int64(st, 4, it->next_try);
	sqlite3_bind_int(st, 5, (int)it->flags);
	if (sqlite3_step(st) != SQLITE_DONE)
		return fail(q, ST_UPDATE, "cannot update a queued mail");
	st_done(q, ST_UPDATE);
	return 0;
}

/* One count(*) row. */
static int count(struct br_outq *q, enum stmt id, size_t *n_r)
{
	if (sqlite3_step(q->st[id]) != SQLITE_ROW)
		return fail(q, id, "cannot count queued mail");
	*n_r = (size_t)sqlite3_column_int64(q->st[id], 0);
	st_done(q, id);
	return 0;
}

int br_outq_count_since(struct br_outq *q, const char *user, int64_t since,
			size_t *n_r)
{
	sqlite3_bind_text(q->st[ST_COUNT_SINCE], 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q->st[ST_COUNT_SINCE], 2, since);
	return count(q, ST_COUNT_SINCE, n_r);
}

int br_outq_pending(struct br_outq *q, size_t *n_r)
{
	return count(q, ST_PENDING, n_r);
}

static char *column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return xstrdup(s != NULL ? (const char *)s : "");
}

/* The row st stands on, as an item. */
static struct br_outq_item *row_item(sqlite3_stmt *st)
{
	struct br_outq_item *it = xcalloc(1, sizeof(*it));
	char *rcpts = column_text(st, 5);

	it->id = sqlite3_column_int64(st, 0);
	it->user = column_text(st, 1);
	it->tell_to = column_text(st, 2);
	it->tell_from = column_text(st, 3);
	it->sender = column_text(st, 4);
	for (char *p = rcpts, *end; *p != '\0'; p = end) {
		end = p + strcspn(p, "\n");
		it->rcpts = xreallocarray(it->rcpts, it->rcpt_count + 1,
					  sizeof(*it->rcpts));
		it->rcpts[it->rcpt_count++] = xstrndup(p, (size_t)(end - p));
		if (*end == '\n')
			end++;
	}
	free(rcpts);
	it->subject = column_text(st, 6);
	it->message_id = column_text(st, 7);
	it->data_len = (size_t)sqlite3_column_bytes(st, 8);
	it->data = xmalloc(it->data_len + 1);
	if (it->data_len > 0)
		memcpy(it->data, sqlite3_column_blob(st, 8), it->data_len);
	it->data[it->data_len] = '\0';
	it->created = sqlite3_column_int64(st, 9);
	it->next_try = sqlite3_column_int64(st, 10);
	it->tries = (unsigned)sqlite3_column_int64(st, 11);
	it->state = (enum br_outq_state)sqlite3_column_int(st, 12);
	it->flags = (unsigned)sqlite3_column_int(st, 13);
	return it;
}

int br_outq_due(struct br_outq *q, int64_t now_msecs, int64_t after_id,
		size_t limit, int (*cb)(struct br_outq_item *it, void *ctx),
		void *ctx)
{
	sqlite3_stmt *st = q->st[ST_DUE];
	struct br_outq_item **rows = NULL;
	size_t n = 0;
	int rc;

	/* Copied first: cb may update rows. */
	sqlite3_bind_int64(st, 1, now_msecs);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows = xreallocarray(rows, n + 1, sizeof(*rows));
		rows[n++] = row_item(st);
	}
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			br_outq_item_free(&rows[i]);
		free(rows);
		return fail(q, ST_DUE, "cannot read queued mail");
	}
	st_done(q, ST_DUE);
	size_t i = 0;
	for (; i < n; i++) {
		if (cb(rows[i], ctx) != 0) {
			i++;
			break;
		}
	}
	for (; i < n; i++)
		br_outq_item_free(&rows[i]);
	free(rows);
	return 0;
}

int br_outq_prune(struct br_outq *q, int64_t before)
{
	sqlite3_bind_int64(q->st[ST_PRUNE], 1, before);
	if (sqlite3_step(q->st[ST_PRUNE]) != SQLITE_DONE)
		return fail(q, ST_PRUNE, "cannot prune sent mail");
	st_done(q, ST_PRUNE);
	return 0;
}

void br_outq_item_free(struct br_outq_item **itp)
{
	struct br_outq_item *it = *itp;
	if (it == NULL)
		return;
	free(it->user);
	free(it->tell_to);
	free(it->tell_from);
	free(it->sender);
	for (size_t i = 0; i < it->rcpt_count; i++)
		free(it->rcpts[i]);
	free(it->rcpts);
	free(it->subject);
	free(it->message_id);
	free(it->data);
	ut_free(itp);
}
