/*
 * What the ledger keeps in memory while writes fail (see br_ledger.h).
 *
 * Memory holds whole mailbox rows, each based on its database row when a
 * change first touched it, so that every later change and every read sees
 * one consistent row; the notified keys; confirmations; meta values. The
 * database does not change while memory holds anything (every change goes
 * to memory until a transaction writes memory and the change together), so
 * those rows stay right. Writing memory is br_ledger__mem_write(), inside
 * the caller's transaction.
 *
 * Hash keys: a mailbox is "<strlen(user)>:<user><mailbox>", a notified key
 * that followed by "/<uidvalidity><uid>" in 8 hex digits each; no two
 * names give the same string.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_ledger_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

struct mem_key {
	struct mem_mb *mb;
	uint32_t uidvalidity, uid;
};

static char *mb_key(const char *user, const char *mailbox)
{
	return xasprintf("%zu:%s%s", strlen(user), user, mailbox);
}

static char *key_key(const char *user, const char *mailbox,
		     uint32_t uidvalidity, uint32_t uid)
{
	return xasprintf("%zu:%s%s/%08" PRIx32 "%08" PRIx32, strlen(user), user,
			 mailbox, uidvalidity, uid);
}

void br_ledger__mem_init(struct br_ledger *l)
{
	l->mem.mbs = ut_hash_new();
	l->mem.keys = ut_hash_new();
	l->mem.confirms = ut_hash_new();
	l->mem.meta = ut_hash_new();
	l->mem.settings = ut_hash_new();
}

void br_ledger__mem_clear(struct br_ledger *l)
{
	struct ut_hash *all[] = {l->mem.keys, l->mem.meta, l->mem.mbs,
				 l->mem.settings};
	struct ut_hash_iter it;
	const char *key;
	void *value;

	for (size_t i = 0; i < UT_N_ELEMENTS(all); i++) {
		ut_hash_iter_init(&it, all[i]);
		while (ut_hash_iter_next(&it, &key, &value)) {
			if (all[i] == l->mem.mbs) {
				struct mem_mb *m = value;
				free(m->user);
				free(m->mailbox);
			}
			free(ut_hash_iter_remove(&it));
		}
	}
	ut_hash_iter_init(&it, l->mem.confirms);
	while (ut_hash_iter_next(&it, &key, &value))
		ut_hash_iter_remove(&it);
	l->mem.dropped = 0;
	l->mem.since = 0;
}

void br_ledger__mem_free(struct br_ledger *l)
{
	if (l->mem.mbs == NULL)
		return;
	br_ledger__mem_clear(l);
	ut_hash_free(&l->mem.mbs);
	ut_hash_free(&l->mem.keys);
	ut_hash_free(&l->mem.confirms);
	ut_hash_free(&l->mem.meta);
	ut_hash_free(&l->mem.settings);
}

bool br_ledger__mem_empty(const struct br_ledger *l)
{
	return ut_hash_count(l->mem.mbs) == 0 &&
	       ut_hash_count(l->mem.keys) == 0 &&
	       ut_hash_count(l->mem.confirms) == 0 &&
	       ut_hash_count(l->mem.meta) == 0 &&
	       ut_hash_count(l->mem.settings) == 0;
}

/* Whether reads must look at memory: it holds something that is not
   already in the open transaction of a batch. */
static bool active(const struct br_ledger *l)
{
	return !(l->batch_tx && l->batch_flushes) && !br_ledger__mem_empty(l);
}

/* One more change that did not fit: logged once per failing streak. */
static void drop(struct br_ledger *l)
{
	if (l->mem.dropped++ == 0)
		log_error("ledger %s: %d changes kept in memory while writes "
			  "fail: further ones are dropped (and counted); "
			  "their mails may be notified again",
			  l->path, BR_LEDGER_MEM_MAX);
}

static bool room(struct br_ledger *l, const struct ut_hash *h)
{
	if (ut_hash_count(h) < BR_LEDGER_MEM_MAX)
		return true;
	drop(l);
	return false;
}

/* The row in memory, read from the database when first touched; NULL
   when it does not fit or cannot be read. */
static struct mem_mb *mb_get(struct br_ledger *l, const char *user,
			     const char *mailbox)
{
	char *k = mb_key(user, mailbox);
	struct mem_mb *m = ut_hash_get(l->mem.mbs, k);
	struct mem_mb row = {.rescan_from = -1};
	int found;

	if (m != NULL || !room(l, l->mem.mbs)) {
		free(k);
		return m;
	}
	if ((found = br_ledger__mb_row(l, user, mailbox, &row)) < 0) {
		drop(l); /* unreadable */
		free(k);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	*m = row;
	m->user = xstrdup(user);
	m->mailbox = xstrdup(mailbox);
	m->present = m->db_present = found;
	m->db_due = found && row.rescan_from >= 0;
	m->db_uidvalidity = row.uidvalidity;
	ut_hash_put(l->mem.mbs, k, m);
	free(k);
	return m;
}

/* Forgets the keys of m: all, or those under another UIDVALIDITY. */
static void drop_keys(struct br_ledger *l, const struct mem_mb *m, bool all)
{
	struct ut_hash_iter it;
	const char *key;
	void *value;

	ut_hash_iter_init(&it, l->mem.keys);
	while (ut_hash_iter_next(&it, &key, &value)) {
		struct mem_key *k = value;
		if (k->mb == m && (all || k->uidvalidity != m->uidvalidity))
			free(ut_hash_iter_remove(&it));
	}
}

/* A row that did not exist starts as the database would create it. */
static void create(struct mem_mb *m, uint32_t uidvalidity, uint32_t last)
{
	m->present = true;
	m->uidvalidity = uidvalidity;
	m->last_uid = last;
	m->rescan_from = -1;
	m->rescan_after = 0;
}

/* Sets the row's UIDVALIDITY, forgetting keys of another one. */
static void set_uidvalidity(struct br_ledger *l, struct mem_mb *m,
			    uint32_t uidvalidity)
{
	if (m->uidvalidity == uidvalidity)
		return;
	m->uidvalidity = uidvalidity;
	drop_keys(l, m, false);
}

static int apply_commit(struct br_ledger *l, const struct op *op)
{
	for (size_t i = 0; i < op->n; i++) {
		const struct br_ledger_key *k = &op->keys[i];
		struct mem_mb *m = mb_get(l, op->user, k->mailbox);
		if (m == NULL)
			continue;
		if (!m->present) {
			create(m, k->uidvalidity, k->uid);
		} else if (m->uidvalidity != k->uidvalidity) {
			set_uidvalidity(l, m, k->uidvalidity);
			m->last_uid = k->uid;
		} else if (k->uid > m->last_uid) {
			m->last_uid = k->uid;
		}
		char *kk =
		    key_key(op->user, k->mailbox, k->uidvalidity, k->uid);
		if (ut_hash_get(l->mem.keys, kk) == NULL &&
		    room(l, l->mem.keys)) {
			struct mem_key *mk = xmalloc(sizeof(*mk));
			*mk = (struct mem_key){m, k->uidvalidity, k->uid};
			ut_hash_put(l->mem.keys, kk, mk);
		}
		free(kk);
	}
	return -1; /* the outbox row is not kept */
}

static void remove_row(struct br_ledger *l, struct mem_mb *m)
{
	m->present = false;
	m->deleted = true;
	drop_keys(l, m, true);
}

/* The names of the database's rows (of one user, or all): copied, so that
   mb_get() may run its own statement. */
static char **db_names(struct br_ledger *l, const char *user, size_t *n_r)
{
	enum stmt id = user != NULL ? ST_MB_USER : ST_MB_ALL;
	sqlite3_stmt *st = l->st[id];
	char **names = NULL;
	size_t n = 0;
	int rc;

	if (user != NULL)
		br_ledger__bind_text(l, id, 1, user);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		names = xreallocarray(names, 2 * n + 2, sizeof(*names));
		names[2 * n] = xstrdup(
		    user != NULL ? user
				 : (const char *)sqlite3_column_text(st, 0));
		names[2 * n + 1] = xstrdup((const char *)sqlite3_column_text(
		    st, user != NULL ? 0 : 1));
		n++;
	}
	if (rc != SQLITE_DONE)
		br_ledger__read_error(l, "mailbox list");
	br_ledger__done(l, id);
	*n_r = n;
	return names;
}

/* Loads every database row (of user, or all) into memory and calls fn on
   every present row in memory (of user, or all). */
static void for_rows(struct br_ledger *l, const char *user,
		     void (*fn)(struct br_ledger *l, struct mem_mb *m))
{
	size_t n;
	char **names = db_names(l, user, &n);
	struct ut_hash_iter it;
	const char *key;
	void *value;

	for (size_t i = 0; i < n; i++) {
		mb_get(l, names[2 * i], names[2 * i + 1]);
		free(names[2 * i]);
		free(names[2 * i + 1]);
	}
	free(names);
	ut_hash_iter_init(&it, l->mem.mbs);
	while (ut_hash_iter_next(&it, &key, &value)) {
		struct mem_mb *m = value;
		if (m->present && (user == NULL || strcmp(m->user, user) == 0))
			fn(l, m);
	}
}

static void due_all_one(struct br_ledger *l, struct mem_mb *m)
{
	(void)l;
	m->rescan_after = 0;
	if (m->last_uid == UINT32_MAX)
		return;
	if (m->rescan_from < 0 || m->rescan_from > (int64_t)m->last_uid + 1)
		m->rescan_from = (int64_t)m->last_uid + 1;
}

static int apply_due(struct br_ledger *l, const struct op *op)
{
	struct mem_mb *m = mb_get(l, op->user, op->mailbox);
	if (m == NULL)
		return -1;
	if (op->kind == OP_DUE_SET) {
		if (!m->present)
			create(m, 0, 0);
		if (m->rescan_from < 0 || op->u1 < m->rescan_from)
			m->rescan_from = op->u1;
		m->rescan_after = op->i64;
	} else if (m->present && m->rescan_from >= (int64_t)op->u1) {
		m->rescan_from = -1;
		m->rescan_after = 0;
	}
	return 0;
}

int br_ledger__mem_apply(struct br_ledger *l, const struct op *op)
{
	struct mem_mb *m;
	size_t before = l->mem.dropped;

	if (l->mem.since == 0)
		l->mem.since = (int64_t)time(NULL);
	switch (op->kind) {
	case OP_COMMIT:
		return apply_commit(l, op);
	case OP_MB_SET:
		if ((m = mb_get(l, op->user, op->mailbox)) == NULL)
			return -1;
		if (!m->present)
			create(m, op->u1, op->u2);
		set_uidvalidity(l, m, op->u1);
		m->last_uid = op->u2;
		return 0;
	case OP_MB_REMOVE:
		if ((m = mb_get(l, op->user, op->mailbox)) == NULL)
			return -1;
		remove_row(l, m);
		return 0;
	case OP_USER_REMOVE:
		for_rows(l, op->user, remove_row);
		break;
	case OP_DUE_ALL:
		for_rows(l, NULL, due_all_one);
		break;
	case OP_DUE_SET:
	case OP_DUE_CLEAR:
		return apply_due(l, op);
	case OP_CONFIRM: {
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, op->id);
		if (!room(l, l->mem.confirms))
			return -1;
		ut_hash_put(l->mem.confirms, id, (void *)1);
		return 0;
	}
	case OP_META_SET: {
		int64_t *v = ut_hash_get(l->mem.meta, op->mailbox);
		if (v == NULL) {
			v = xmalloc(sizeof(*v));
			ut_hash_put(l->mem.meta, op->mailbox, v);
		}
		*v = op->i64;
		return 0;
	}
	case OP_SETTING: {
		char *k = xasprintf("%s\n%s", op->user, op->mailbox);
		int64_t *v = ut_hash_get(l->mem.settings, k);
		if (v == NULL) {
			v = xmalloc(sizeof(*v));
			ut_hash_put(l->mem.settings, k, v);
		}
		*v = op->i64 < 0 ? -1 : op->i64;
		free(k);
		return 0;
	}
	case OP_PRUNE:
		return -1;
	}
	return l->mem.dropped == before ? 0 : -1;
}

/* Binds ?n to v, or to NULL when v < 0. */
static void bind_or_null(struct br_ledger *l, enum stmt id, int n, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(l->st[id], n);
	else
		sqlite3_bind_int64(l->st[id], n, v);
}

static int write_mb(struct br_ledger *l, const struct mem_mb *m)
{
	if (m->deleted) {
		br_ledger__bind_text(l, ST_MB_REMOVE, 1, m->user);
		br_ledger__bind_text(l, ST_MB_REMOVE, 2, m->mailbox);
		if (br_ledger__run(l, ST_MB_REMOVE) < 0)
			return -1;
	}
	if (!m->present)
		return 0;
	if (!m->deleted && m->db_present &&
	    m->db_uidvalidity != m->uidvalidity) {
		br_ledger__bind_text(l, ST_KEYS_DROP, 1, m->user);
		br_ledger__bind_text(l, ST_KEYS_DROP, 2, m->mailbox);
		br_ledger__bind_u64(l, ST_KEYS_DROP, 3, m->uidvalidity);
		if (br_ledger__run(l, ST_KEYS_DROP) < 0)
			return -1;
	}
	br_ledger__bind_text(l, ST_MB_RESTORE, 1, m->user);
	br_ledger__bind_text(l, ST_MB_RESTORE, 2, m->mailbox);
	br_ledger__bind_u64(l, ST_MB_RESTORE, 3, m->uidvalidity);
	br_ledger__bind_u64(l, ST_MB_RESTORE, 4, m->last_uid);
	bind_or_null(l, ST_MB_RESTORE, 5, m->rescan_from);
	sqlite3_bind_int64(l->st[ST_MB_RESTORE], 6, m->rescan_after);
	return br_ledger__run(l, ST_MB_RESTORE);
}

int br_ledger__mem_write(struct br_ledger *l, size_t *keys_r, size_t *mbs_r,
			 size_t *confirms_r)
{
	int64_t now = (int64_t)time(NULL);
	struct ut_hash_iter it;
	const char *key;
	void *value;

	*keys_r = *mbs_r = *confirms_r = 0;
	if (br_ledger__mem_empty(l)) {
		/* Nothing kept (a failed prune or outbox row): a real write
		   tells whether writes work again. */
		br_ledger__bind_text(l, ST_META_SET, 1, "write_check");
		sqlite3_bind_int64(l->st[ST_META_SET], 2, now);
		return br_ledger__run(l, ST_META_SET);
	}
	ut_hash_iter_init(&it, l->mem.mbs);
	while (ut_hash_iter_next(&it, &key, &value)) {
		if (write_mb(l, value) < 0)
			return -1;
		(*mbs_r)++;
	}
	ut_hash_iter_init(&it, l->mem.keys);
	while (ut_hash_iter_next(&it, &key, &value)) {
		const struct mem_key *k = value;
		br_ledger__bind_text(l, ST_KEY_ADD, 1, k->mb->user);
		br_ledger__bind_text(l, ST_KEY_ADD, 2, k->mb->mailbox);
		br_ledger__bind_u64(l, ST_KEY_ADD, 3, k->uidvalidity);
		br_ledger__bind_u64(l, ST_KEY_ADD, 4, k->uid);
		sqlite3_bind_int64(l->st[ST_KEY_ADD], 5, now);
		if (br_ledger__run(l, ST_KEY_ADD) < 0)
			return -1;
		(*keys_r)++;
	}
	ut_hash_iter_init(&it, l->mem.confirms);
	while (ut_hash_iter_next(&it, &key, &value)) {
		br_ledger__bind_u64(l, ST_OUT_DEL, 1, strtoull(key, NULL, 10));
		if (br_ledger__run(l, ST_OUT_DEL) < 0)
			return -1;
		(*confirms_r)++;
	}
	ut_hash_iter_init(&it, l->mem.meta);
	while (ut_hash_iter_next(&it, &key, &value)) {
		br_ledger__bind_text(l, ST_META_SET, 1, key);
		sqlite3_bind_int64(l->st[ST_META_SET], 2, *(int64_t *)value);
		if (br_ledger__run(l, ST_META_SET) < 0)
			return -1;
	}
	ut_hash_iter_init(&it, l->mem.settings);
	while (ut_hash_iter_next(&it, &key, &value)) {
		const char *nl = strchr(key, '\n');
		char *user = xstrndup(key, (size_t)(nl - key));
		int rc =
		    br_ledger__setting_db(l, user, nl + 1, *(int64_t *)value);
		free(user);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int br_ledger__mem_is_notified(struct br_ledger *l, const char *user,
			       const struct br_ledger_key *key, int *notified_r)
{
	if (!active(l))
		return 0;
	char *kk = key_key(user, key->mailbox, key->uidvalidity, key->uid);
	bool known = ut_hash_get(l->mem.keys, kk) != NULL;
	free(kk);
	const struct mem_mb *m = br_ledger__mem_mb(l, user, key->mailbox);
	if (!known && (m == NULL || !m->deleted))
		return 0; /* the database knows */
	/* Kept here, or the database's keys of that row are void. */
	*notified_r = known;
	return 1;
}

const struct mem_mb *br_ledger__mem_mb(struct br_ledger *l, const char *user,
				       const char *mailbox)
{
	if (!active(l) || ut_hash_count(l->mem.mbs) == 0)
		return NULL;
	char *k = mb_key(user, mailbox);
	const struct mem_mb *m = ut_hash_get(l->mem.mbs, k);
	free(k);
	return m;
}

bool br_ledger__mem_confirmed(struct br_ledger *l, uint64_t id)
{
	char key[24];

	if (!active(l) || ut_hash_count(l->mem.confirms) == 0)
		return false;
	snprintf(key, sizeof(key), "%" PRIu64, id);
	return ut_hash_get(l->mem.confirms, key) != NULL;
}

bool br_ledger__mem_setting(struct br_ledger *l, const char *user,
			    const char *name, int64_t *value_r)
{
	if (!active(l) || ut_hash_count(l->mem.settings) == 0)
		return false;
	char *k = xasprintf("%s\n%s", user, name);
	const int64_t *v = ut_hash_get(l->mem.settings, k);
	free(k);
	if (v == NULL)
		return false;
	*value_r = *v;
	return true;
}

bool br_ledger__mem_meta(struct br_ledger *l, const char *key, int64_t *value_r)
{
	const int64_t *v;

	if (!active(l) || (v = ut_hash_get(l->mem.meta, key)) == NULL)
		return false;
	*value_r = *v;
	return true;
}

static int mb_cmp(const void *a, const void *b)
{
	const struct mem_mb *x = *(const struct mem_mb *const *)a;
	const struct mem_mb *y = *(const struct mem_mb *const *)b;
	int c = strcmp(x->user, y->user);
	return c != 0 ? c : strcmp(x->mailbox, y->mailbox);
}

const struct mem_mb **br_ledger__mem_rows(struct br_ledger *l, size_t *n_r)
{
	const struct mem_mb **rows;
	struct ut_hash_iter it;
	const char *key;
	void *value;
	size_t n = 0;

	*n_r = 0;
	if (!active(l) || ut_hash_count(l->mem.mbs) == 0)
		return NULL;
	rows = xcalloc(ut_hash_count(l->mem.mbs), sizeof(*rows));
	ut_hash_iter_init(&it, l->mem.mbs);
	while (ut_hash_iter_next(&it, &key, &value))
		rows[n++] = value;
	qsort(rows, n, sizeof(*rows), mb_cmp);
	*n_r = n;
	return rows;
}
