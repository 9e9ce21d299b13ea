/*
 * The ledger's due marks, removals and walks over rows (mailboxes, due
 * rows, the outbox); see br_ledger.h. Walks copy their rows before the
 * first callback, so that callbacks may use the ledger, and merge what
 * memory holds while writes fail (br_ledger_mem.c) with the database:
 * a row kept in memory replaces its database row.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "br_ledger_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

int br_ledger__rows_op_db(struct br_ledger *l, const struct op *op)
{
	enum stmt id;

	switch (op->kind) {
	case OP_MB_REMOVE:
		id = ST_MB_REMOVE;
		break;
	case OP_USER_REMOVE:
		id = ST_USER_REMOVE;
		break;
	case OP_DUE_ALL:
		return br_ledger__run(l, ST_DUE_ALL);
	case OP_DUE_SET:
		id = ST_DUE_SET;
		br_ledger__bind_u64(l, id, 3, op->u1);
		sqlite3_bind_int64(l->st[id], 4, op->i64);
		break;
	case OP_DUE_CLEAR:
		id = ST_DUE_CLEAR;
		br_ledger__bind_u64(l, id, 3, op->u1);
		break;
	default:
		ut_assert(!"not a row change");
		return -1;
	}
	br_ledger__bind_text(l, id, 1, op->user);
	if (op->kind != OP_USER_REMOVE)
		br_ledger__bind_text(l, id, 2, op->mailbox);
	if (br_ledger__run(l, id) < 0)
		return -1;
	if (op->kind != OP_USER_REMOVE)
		return 0;
	/* A user Dovecot no longer has takes their settings along. */
	br_ledger__bind_text(l, ST_SET_USER_DEL, 1, op->user);
	return br_ledger__run(l, ST_SET_USER_DEL);
}

int br_ledger__setting_db(struct br_ledger *l, const char *user,
			  const char *name, int64_t value)
{
	enum stmt id = value < 0 ? ST_SET_DEL : ST_SET_PUT;
	br_ledger__bind_text(l, id, 1, user);
	br_ledger__bind_text(l, id, 2, name);
	if (value >= 0)
		sqlite3_bind_int64(l->st[id], 3, value);
	return br_ledger__run(l, id);
}

int br_ledger_setting_set(struct br_ledger *l, const char *user,
			  const char *name, int64_t value)
{
	struct op op = {.kind = OP_SETTING,
			.user = user,
			.mailbox = name,
			.i64 = value < 0 ? -1 : value};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_setting_get(struct br_ledger *l, const char *user,
			  const char *name, int *found_r, int64_t *value_r)
{
	int64_t v;
	if (br_ledger__mem_setting(l, user, name, &v)) {
		*found_r = v >= 0;
		*value_r = v;
		return 0;
	}
	sqlite3_stmt *st = l->st[ST_SET_GET];
	br_ledger__bind_text(l, ST_SET_GET, 1, user);
	br_ledger__bind_text(l, ST_SET_GET, 2, name);
	int rc = sqlite3_step(st);
	*found_r = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		*value_r = sqlite3_column_int64(st, 0);
	br_ledger__done(l, ST_SET_GET);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int br_ledger_mailbox_remove(struct br_ledger *l, const char *user,
			     const char *mailbox)
{
	struct op op = {.kind = OP_MB_REMOVE, .user = user, .mailbox = mailbox};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_user_remove(struct br_ledger *l, const char *user)
{
	struct op op = {.kind = OP_USER_REMOVE, .user = user};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_due_all(struct br_ledger *l)
{
	struct op op = {.kind = OP_DUE_ALL};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_due_set(struct br_ledger *l, const char *user,
		      const char *mailbox, uint32_t from_uid,
		      int64_t not_before_secs)
{
	struct op op = {.kind = OP_DUE_SET,
			.user = user,
			.mailbox = mailbox,
			.u1 = from_uid,
			.i64 = not_before_secs};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_due_clear(struct br_ledger *l, const char *user,
			const char *mailbox, uint32_t covered_from)
{
	struct op op = {.kind = OP_DUE_CLEAR,
			.user = user,
			.mailbox = mailbox,
			.u1 = covered_from};
	return br_ledger__change(l, &op, NULL);
}

int br_ledger_due_count(struct br_ledger *l, uint64_t *n_r)
{
	sqlite3_stmt *st = l->st[ST_DUE_COUNT];
	int rc = sqlite3_step(st);
	int64_t n = 0;

	if (rc == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		br_ledger__read_error(l, "due count");
	br_ledger__done(l, ST_DUE_COUNT);
	if (rc != SQLITE_ROW)
		return -1;
	size_t count;
	const struct mem_mb **mem = br_ledger__mem_rows(l, &count);
	for (size_t i = 0; i < count; i++)
		n += (mem[i]->present && mem[i]->rescan_from >= 0) -
		     mem[i]->db_due;
	free(mem);
	*n_r = (uint64_t)n;
	return 0;
}

/* ---- walks over mailbox rows ---- */

struct row {
	char *user, *mailbox;
	uint32_t uidvalidity, last_uid;
	int64_t rescan_from;
};

struct rows {
	struct row *v;
	size_t n;
};

static void rows_add(struct rows *r, const char *user, const char *mailbox,
		     uint32_t uidvalidity, uint32_t last_uid,
		     int64_t rescan_from)
{
	r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
	r->v[r->n++] = (struct row){xstrdup(user), xstrdup(mailbox),
				    uidvalidity, last_uid, rescan_from};
}

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].user);
		free(r->v[i].mailbox);
	}
	free(r->v);
}

/* Whether a row in memory belongs in the walk. */
static bool mem_wanted(const struct mem_mb *m, bool due, int64_t now,
		       const char *after_user, const char *after_mailbox)
{
	if (!m->present ||
	    (due && (m->rescan_from < 0 || m->rescan_after > now)))
		return false;
	if (after_user == NULL)
		return true;
	int c = strcmp(m->user, after_user);
	return c > 0 || (c == 0 && strcmp(m->mailbox, after_mailbox) > 0);
}

/* (user, mailbox) order, as SQLite's BINARY collation sorts them. */
static int name_cmp(const char *u1, const char *m1, const char *u2,
		    const char *m2)
{
	int c = strcmp(u1, u2);
	return c != 0 ? c : strcmp(m1, m2);
}

/*
 * Runs the (bound) statement id, whose columns are MB_COLUMNS, and copies
 * up to limit rows, merged with the rows kept in memory.
 */
static int collect(struct br_ledger *l, enum stmt id, bool due, int64_t now,
		   const char *after_user, const char *after_mailbox,
		   size_t limit, struct rows *out)
{
	sqlite3_stmt *st = l->st[id];
	size_t mem_n, mi = 0;
	const struct mem_mb **mem = br_ledger__mem_rows(l, &mem_n);
	int rc = SQLITE_DONE;

	while (out->n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *user = (const char *)sqlite3_column_text(st, 0);
		const char *mailbox = (const char *)sqlite3_column_text(st, 1);
		/* Rows from memory that come first. */
		for (; mi < mem_n && out->n < limit &&
		       name_cmp(mem[mi]->user, mem[mi]->mailbox, user,
				mailbox) < 0;
		     mi++) {
			const struct mem_mb *m = mem[mi];
			if (mem_wanted(m, due, now, after_user, after_mailbox))
				rows_add(out, m->user, m->mailbox,
					 m->uidvalidity, m->last_uid,
					 m->rescan_from);
		}
		if (out->n == limit)
			break;
		if (br_ledger__mem_mb(l, user, mailbox) != NULL)
			continue; /* memory has this row */
		rows_add(out, user, mailbox,
			 (uint32_t)sqlite3_column_int64(st, 2),
			 (uint32_t)sqlite3_column_int64(st, 3),
			 sqlite3_column_type(st, 4) == SQLITE_NULL
			     ? -1
			     : sqlite3_column_int64(st, 4));
	}
	if (out->n == limit)
		rc = SQLITE_DONE;
	if (rc != SQLITE_DONE)
		br_ledger__read_error(l, "mailbox list");
	br_ledger__done(l, id);
	for (; rc == SQLITE_DONE && mi < mem_n && out->n < limit; mi++) {
		const struct mem_mb *m = mem[mi];
		if (mem_wanted(m, due, now, after_user, after_mailbox))
			rows_add(out, m->user, m->mailbox, m->uidvalidity,
				 m->last_uid, m->rescan_from);
	}
	free(mem);
	return rc == SQLITE_DONE ? 0 : -1;
}

int br_ledger_mailbox_foreach(struct br_ledger *l,
			      int (*cb)(const struct br_ledger_mailbox *mb,
					void *ctx),
			      void *ctx)
{
	struct rows rows = {NULL, 0};
	int ret = collect(l, ST_MB_ALL, false, 0, NULL, NULL, SIZE_MAX, &rows);

	for (size_t i = 0; ret == 0 && i < rows.n; i++) {
		const struct row *r = &rows.v[i];
		struct br_ledger_mailbox mb = {r->user, r->mailbox,
					       r->uidvalidity, r->last_uid};
		if (cb(&mb, ctx) != 0)
			break;
	}
	rows_free(&rows);
	return ret;
}

int br_ledger_due_next(struct br_ledger *l, const char *after_user,
		       const char *after_mailbox, int64_t now_secs,
		       size_t limit,
		       int (*cb)(const struct br_ledger_due *due, void *ctx),
		       void *ctx)
{
	enum stmt id = after_user != NULL ? ST_DUE_AFTER : ST_DUE_FIRST;
	struct rows rows = {NULL, 0};

	ut_assert((after_user == NULL) == (after_mailbox == NULL));
	if (limit == 0)
		return 0;
	if (after_user != NULL) {
		br_ledger__bind_text(l, id, 1, after_user);
		br_ledger__bind_text(l, id, 2, after_mailbox);
	}
	sqlite3_bind_int64(l->st[id], 3, now_secs);
	/* Rows memory replaces do not count: then SQLite's limit cannot
	   be used (-1: none). */
	sqlite3_bind_int64(l->st[id], 4,
			   l->failing || limit > INT64_MAX ? -1
							   : (int64_t)limit);
	int ret = collect(l, id, true, now_secs, after_user, after_mailbox,
			  limit, &rows);
	for (size_t i = 0; ret == 0 && i < rows.n; i++) {
		const struct row *r = &rows.v[i];
		struct br_ledger_due due = {r->user, r->mailbox, r->uidvalidity,
					    r->last_uid,
					    (uint32_t)r->rescan_from};
		if (cb(&due, ctx) != 0)
			break;
	}
	rows_free(&rows);
	return ret;
}

/* ---- the outbox ---- */

struct out_row {
	uint64_t id;
	char *jid;
	char *xml;
	size_t len;
};

int br_ledger_outbox_range(struct br_ledger *l, uint64_t after_id, size_t limit,
			   int (*cb)(uint64_t id, const char *jid,
				     const char *xml, size_t len, void *ctx),
			   void *ctx)
{
	sqlite3_stmt *st = l->st[ST_OUT_RANGE];
	struct out_row *rows = NULL;
	size_t n = 0;
	int rc = SQLITE_DONE;

	br_ledger__bind_u64(l, ST_OUT_RANGE, 1, after_id);
	/* Confirmations kept in memory hide rows: no SQL limit then. */
	sqlite3_bind_int64(
	    st, 2, l->failing || limit > INT64_MAX ? -1 : (int64_t)limit);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
		if (br_ledger__mem_confirmed(l, id))
			continue;
		const void *blob = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);
		rows = xreallocarray(rows, n + 1, sizeof(*rows));
		rows[n].id = id;
		rows[n].jid = xstrdup((const char *)sqlite3_column_text(st, 1));
		rows[n].xml = xmalloc(len + 1);
		if (len > 0)
			memcpy(rows[n].xml, blob, len);
		rows[n].xml[len] = '\0';
		rows[n].len = len;
		n++;
	}
	if (n == limit)
		rc = SQLITE_DONE;
	if (rc != SQLITE_DONE)
		br_ledger__read_error(l, "outbox list");
	br_ledger__done(l, ST_OUT_RANGE);
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

int br_ledger_outbox_foreach(struct br_ledger *l,
			     int (*cb)(uint64_t id, const char *jid,
				       const char *xml, size_t len, void *ctx),
			     void *ctx)
{
	return br_ledger_outbox_range(l, 0, SIZE_MAX, cb, ctx);
}

int br_ledger_recent(struct br_ledger *l, const char *user, size_t max,
		     struct br_ledger_recent **rows_r, size_t *n_r)
{
	sqlite3_stmt *st = l->st[ST_KEY_RECENT];
	struct br_ledger_recent *rows = NULL;
	size_t n = 0;
	int rc = SQLITE_DONE;

	*rows_r = NULL;
	*n_r = 0;
	if (max == 0)
		return 0;
	br_ledger__bind_text(l, ST_KEY_RECENT, 1, user);
	sqlite3_bind_int64(st, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mailbox = (const char *)sqlite3_column_text(st, 0);
		if (mailbox == NULL) /* a NULL column, or out of memory */
			continue;
		rows = xreallocarray(rows, n + 1, sizeof(*rows));
		rows[n].mailbox = xstrdup(mailbox);
		rows[n].uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		rows[n].uid = (uint32_t)sqlite3_column_int64(st, 2);
		rows[n].at = sqlite3_column_int64(st, 3);
		n++;
	}
	if (n == max)
		rc = SQLITE_DONE;
	if (rc != SQLITE_DONE) {
		br_ledger__read_error(l, "recent notifications");
		br_ledger__done(l, ST_KEY_RECENT);
		br_ledger_recent_free(&rows, n);
		return -1;
	}
	br_ledger__done(l, ST_KEY_RECENT);
	*rows_r = rows;
	*n_r = n;
	return 0;
}

void br_ledger_recent_free(struct br_ledger_recent **rowsp, size_t n)
{
	struct br_ledger_recent *rows = *rowsp;
	if (rows == NULL)
		return;
	*rowsp = NULL;
	for (size_t i = 0; i < n; i++)
		free(rows[i].mailbox);
	free(rows);
}
