#ifndef BR_LEDGER_PRIVATE_H
#define BR_LEDGER_PRIVATE_H

/*
 * The ledger's insides, shared by br_ledger.c (schema, statements, the
 * database part of each change), br_ledger_tx.c (transactions, batches,
 * writes that fail), br_ledger_rows.c (due marks, row walks, removals, the
 * outbox) and br_ledger_mem.c (what is kept in memory while writes fail).
 * Nothing else includes this but the ledger's unit tests.
 */

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "br_ledger.h"
#include "ut_hash.h"

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_MB_GET,
	ST_MB_SET,
	ST_MB_RAISE,
	ST_MB_RESTORE,
	ST_MB_ALL,
	ST_MB_USER,
	ST_MB_REMOVE,
	ST_USER_REMOVE,
	ST_KEYS_DROP,
	ST_KEY_ADD,
	ST_KEY_IS,
	ST_KEY_RECENT,
	ST_DUE_ALL,
	ST_DUE_SET,
	ST_DUE_FIRST,
	ST_DUE_AFTER,
	ST_DUE_CLEAR,
	ST_DUE_COUNT,
	ST_OUT_ADD,
	ST_OUT_DEL,
	ST_OUT_RANGE,
	ST_PRUNE_FLOOR,
	ST_PRUNE_KEYS,
	ST_META_GET,
	ST_META_SET,
	ST_SET_GET,
	ST_SET_PUT,
	ST_SET_DEL,
	ST_SET_USER_DEL,
	ST_COUNT
};

/* One change, as the write functions describe it. */
enum op_kind {
	OP_COMMIT,	/* user, keys[0..n), jid, xml: out = the outbox id */
	OP_MB_SET,	/* user, mailbox, u1 = uidvalidity, u2 = last_uid */
	OP_MB_REMOVE,	/* user, mailbox */
	OP_USER_REMOVE, /* user */
	OP_DUE_ALL,
	OP_DUE_SET,   /* user, mailbox, u1 = from_uid, i64 = not_before */
	OP_DUE_CLEAR, /* user, mailbox, u1 = covered_from */
	OP_CONFIRM,   /* id */
	OP_META_SET,  /* mailbox = the key, i64 = the value */
	OP_SETTING,   /* user, mailbox = the name, i64 = value (-1: default) */
	OP_PRUNE,     /* id = max_age_secs */
};

struct op {
	enum op_kind kind;
	const char *user, *mailbox;
	const struct br_ledger_key *keys;
	size_t n;
	uint32_t u1, u2;
	int64_t i64;
	uint64_t id;
	const char *jid, *xml; /* OP_COMMIT, not kept in memory */
	size_t xml_len;
};

/* A mailbox row as kept in memory while writes fail: the whole row as it
   will be written, based on the database row when it was first touched. */
struct mem_mb {
	char *user, *mailbox;
	bool present; /* the row exists (false: removed, or never was) */
	bool deleted; /* the database row is to be deleted first */
	/* The database row when memory first touched it. */
	bool db_present, db_due;
	uint32_t db_uidvalidity;
	uint32_t uidvalidity, last_uid;
	int64_t rescan_from; /* -1: none */
	int64_t rescan_after;
};

struct mem {
	struct ut_hash *mbs;	  /* mb key -> struct mem_mb */
	struct ut_hash *keys;	  /* key -> struct mem_key */
	struct ut_hash *confirms; /* "id" -> (void *)1 */
	struct ut_hash *meta;	  /* meta key -> int64_t * */
	struct ut_hash *settings; /* "user\nname" -> int64_t * (-1: none) */
	size_t dropped;		  /* changes that did not fit */
	int64_t since;		  /* unix secs of the first change kept */
};

struct br_ledger {
	struct br_db *dbh;
	sqlite3 *db; /* br_db_handle(dbh) */
	const char *path;
	sqlite3_stmt *st[ST_COUNT];
	int last_rc; /* of the last write that failed */
	/* Batches. */
	bool batch;	    /* inside br_ledger_batch_begin/end */
	bool batch_tx;	    /* its transaction is open (false: to memory) */
	bool batch_flushes; /* it began by writing the memory */
	struct op *journal; /* its changes so far, owned copies */
	size_t journal_count, journal_cap;
	/* Writes that fail. */
	bool failing;
	int64_t retry_at_msecs; /* monotonic */
	unsigned retry_secs;	/* the current back-off */
	struct mem mem;
};

/* br_ledger.c */
void br_ledger__bind_text(struct br_ledger *l, enum stmt id, int i,
			  const char *s);
void br_ledger__bind_u64(struct br_ledger *l, enum stmt id, int i, uint64_t v);
/* Resets a statement for its next use. */
void br_ledger__done(struct br_ledger *l, enum stmt id);
/* Runs a statement that returns no row: 0, or -1 with l->last_rc set
   (not logged: a write that fails is handled as a whole). */
int br_ledger__run(struct br_ledger *l, enum stmt id);
/* Logs the last error of a read. */
void br_ledger__read_error(struct br_ledger *l, const char *what);
/* Runs one change: in the database, or in memory while writes fail. The
   database part for each kind is br_ledger__op_db(). */
int br_ledger__change(struct br_ledger *l, const struct op *op, uint64_t *out);
/* The database part of a change, inside a transaction. */
int br_ledger__op_db(struct br_ledger *l, const struct op *op, uint64_t *out);
/* The database row of a mailbox: 1 found, 0 not, -1 error. */
int br_ledger__mb_row(struct br_ledger *l, const char *user,
		      const char *mailbox, struct mem_mb *row);
/* For tests: the loop thread's connection. */
sqlite3 *br_ledger__sqlite(struct br_ledger *l);

/* br_ledger_tx.c */
/* Runs one change: in the database, or in memory while writes fail. */
int br_ledger__change(struct br_ledger *l, const struct op *op, uint64_t *out);
/* Frees the batch journal (at close). */
void br_ledger__tx_free(struct br_ledger *l);

/* br_ledger_rows.c: the database part of the changes it owns. */
int br_ledger__rows_op_db(struct br_ledger *l, const struct op *op);
/* Writes (value >= 0) or removes (value < 0) one setting. */
int br_ledger__setting_db(struct br_ledger *l, const char *user,
			  const char *name, int64_t value);

/* br_ledger_mem.c */
void br_ledger__mem_init(struct br_ledger *l);
void br_ledger__mem_free(struct br_ledger *l);
bool br_ledger__mem_empty(const struct br_ledger *l);
/* Keeps a change that could not be written: 0, or -1 when it cannot be
   kept (an outbox row, a prune) or did not fit. */
int br_ledger__mem_apply(struct br_ledger *l, const struct op *op);
/* Writes everything kept, inside the open transaction; the counts are for
   the log line. Keeps the memory: br_ledger__mem_clear() after COMMIT. */
int br_ledger__mem_write(struct br_ledger *l, size_t *keys_r, size_t *mbs_r,
			 size_t *confirms_r);
void br_ledger__mem_clear(struct br_ledger *l);
/* 1 when memory knows the answer (in *notified_r), else 0. */
int br_ledger__mem_is_notified(struct br_ledger *l, const char *user,
			       const struct br_ledger_key *key,
			       int *notified_r);
/* The row kept in memory, or NULL when the database knows. */
const struct mem_mb *br_ledger__mem_mb(struct br_ledger *l, const char *user,
				       const char *mailbox);
bool br_ledger__mem_confirmed(struct br_ledger *l, uint64_t id);
/* A setting kept in memory: true with *value_r (-1: back to default). */
bool br_ledger__mem_setting(struct br_ledger *l, const char *user,
			    const char *name, int64_t *value_r);
bool br_ledger__mem_meta(struct br_ledger *l, const char *key,
			 int64_t *value_r);
/* The rows kept in memory, sorted by (user, mailbox); free the array
   only. */
const struct mem_mb **br_ledger__mem_rows(struct br_ledger *l, size_t *n_r);

#endif
