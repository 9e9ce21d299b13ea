/*
 * The ledger's transactions: every change runs as one transaction (or
 * inside the batch's), and a change that cannot be written goes to memory
 * (br_ledger_mem.c). While writes fail, changes go straight to memory until
 * a retry is due (after 1 s, doubling up to RETRY_MAX_SECS); the retry
 * writes memory and the change in one transaction. A batch keeps a copy of
 * its changes (the journal) so that all of them can go to memory if its
 * COMMIT fails.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_ledger_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* While writes fail: the first retry after 1 s, then twice as long each
   time, up to this. */
#define RETRY_MAX_SECS 15

static int64_t mono_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- writes that fail ---- */

/* A write failed: the first failure logs the one line; retries back off. */
static void write_failed(struct br_ledger *l)
{
	int rc = l->last_rc;

	/* The error may have ended the transaction already. */
	if (!sqlite3_get_autocommit(l->db))
		br_ledger__run(l, ST_ROLLBACK);
	l->last_rc = rc;
	if (!l->failing) {
		l->failing = true;
		l->retry_secs = 1;
		log_error("ledger %s: writes fail (%s): notifications keep "
			  "flowing; what was notified is kept in memory and "
			  "written when writes work again",
			  l->path, sqlite3_errstr(l->last_rc));
	} else if (l->retry_secs < RETRY_MAX_SECS) {
		l->retry_secs = l->retry_secs * 2 > RETRY_MAX_SECS
				    ? RETRY_MAX_SECS
				    : l->retry_secs * 2;
	}
	l->retry_at_msecs = mono_msecs() + (int64_t)l->retry_secs * 1000;
}

/* What memory held was committed: says so once and forgets it. */
static void write_works(struct br_ledger *l, const size_t counts[3])
{
	char since[32] = "?";
	time_t t = (time_t)l->mem.since;
	struct tm tm;

	if (t != 0 && gmtime_r(&t, &tm) != NULL)
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("ledger %s: writes work again: caught up %zu notified "
		 "key(s), %zu mailbox row(s) and %zu confirmation(s) kept in "
		 "memory since %s; %zu change(s) that did not fit in memory "
		 "were lost",
		 l->path, counts[0], counts[1], counts[2], since,
		 l->mem.dropped);
	br_ledger__mem_clear(l);
	l->failing = false;
	l->retry_secs = 0;
}

/* Whether changes go to memory without trying the database. */
static bool to_memory(const struct br_ledger *l)
{
	return l->failing && mono_msecs() < l->retry_at_msecs;
}

/* ---- transactions and batches ---- */

/* Keeps an owned copy of a change of the batch, in case it fails. */
static void journal_add(struct br_ledger *l, const struct op *op)
{
	if (l->journal_count == l->journal_cap) {
		l->journal_cap = l->journal_cap == 0 ? 64 : l->journal_cap * 2;
		l->journal = xreallocarray(l->journal, l->journal_cap,
					   sizeof(*l->journal));
	}
	struct op *j = &l->journal[l->journal_count++];
	*j = *op;
	j->user = xstrdup_null(op->user);
	j->mailbox = xstrdup_null(op->mailbox);
	j->jid = j->xml = NULL; /* the outbox row is not kept in memory */
	j->keys = NULL;
	if (op->n > 0) {
		struct br_ledger_key *keys = xcalloc(op->n, sizeof(*keys));
		for (size_t i = 0; i < op->n; i++) {
			keys[i] = op->keys[i];
			keys[i].mailbox = xstrdup(op->keys[i].mailbox);
		}
		j->keys = keys;
	}
}

static void journal_clear(struct br_ledger *l)
{
	for (size_t i = 0; i < l->journal_count; i++) {
		struct op *j = &l->journal[i];
		for (size_t k = 0; k < j->n; k++)
			free((char *)j->keys[k].mailbox);
		free((struct br_ledger_key *)j->keys);
		free((char *)j->user);
		free((char *)j->mailbox);
	}
	l->journal_count = 0;
}

/* The batch's transaction failed: everything in it goes to memory, and so
   does the rest of the batch. */
static void batch_fail(struct br_ledger *l)
{
	write_failed(l);
	l->batch_tx = false;
	for (size_t i = 0; i < l->journal_count; i++)
		br_ledger__mem_apply(l, &l->journal[i]);
	journal_clear(l);
}

/* Writes memory in the open transaction, then commits; 0 when it worked
   (memory is then empty). */
static int flush_and_commit(struct br_ledger *l, const struct op *op,
			    uint64_t *out)
{
	size_t counts[3] = {0, 0, 0};
	bool flushing = l->failing;

	if (br_ledger__run(l, ST_BEGIN) < 0 ||
	    (flushing &&
	     br_ledger__mem_write(l, &counts[0], &counts[1], &counts[2]) < 0) ||
	    (op != NULL && br_ledger__op_db(l, op, out) < 0) ||
	    br_ledger__run(l, ST_COMMIT) < 0) {
		write_failed(l);
		return -1;
	}
	if (flushing)
		write_works(l, counts);
	return 0;
}

int br_ledger__change(struct br_ledger *l, const struct op *op, uint64_t *out)
{
	if (l->batch) {
		if (l->batch_tx) {
			if (br_ledger__op_db(l, op, out) == 0) {
				journal_add(l, op);
				return 0;
			}
			batch_fail(l);
		}
		return br_ledger__mem_apply(l, op);
	}
	if (to_memory(l))
		return br_ledger__mem_apply(l, op);
	/* One statement is a transaction of its own: no BEGIN and COMMIT
	   (they cost a third of a confirm). */
	bool one = op->kind == OP_CONFIRM || op->kind == OP_META_SET ||
		   op->kind == OP_SETTING || op->kind == OP_DUE_SET ||
		   op->kind == OP_DUE_CLEAR || op->kind == OP_DUE_ALL ||
		   op->kind == OP_MB_REMOVE || op->kind == OP_USER_REMOVE;
	if (one && !l->failing) {
		if (br_ledger__op_db(l, op, out) == 0)
			return 0;
		write_failed(l);
		return br_ledger__mem_apply(l, op);
	}
	if (flush_and_commit(l, op, out) < 0)
		return br_ledger__mem_apply(l, op);
	return 0;
}

int br_ledger_batch_begin(struct br_ledger *l)
{
	ut_assert(!l->batch);
	l->batch = true;
	l->batch_tx = false;
	l->batch_flushes = false;
	if (to_memory(l))
		return 0;
	size_t c[3];
	if (br_ledger__run(l, ST_BEGIN) < 0 ||
	    (l->failing && br_ledger__mem_write(l, &c[0], &c[1], &c[2]) < 0)) {
		write_failed(l);
		return 0;
	}
	l->batch_flushes = l->failing;
	l->batch_tx = true;
	return 0;
}

int br_ledger_batch_end(struct br_ledger *l)
{
	ut_assert(l->batch);
	l->batch = false;
	if (!l->batch_tx)
		return -1;
	l->batch_tx = false;
	if (br_ledger__run(l, ST_COMMIT) < 0) {
		batch_fail(l);
		return -1;
	}
	journal_clear(l);
	if (l->batch_flushes) {
		/* Counted again for the line (the batch wrote them). */
		size_t counts[3] = {ut_hash_count(l->mem.keys),
				    ut_hash_count(l->mem.mbs),
				    ut_hash_count(l->mem.confirms)};
		write_works(l, counts);
	}
	return 0;
}

int br_ledger_retry(struct br_ledger *l)
{
	ut_assert(!l->batch);
	if (!l->failing)
		return 0;
	return flush_and_commit(l, NULL, NULL);
}

void br_ledger__tx_free(struct br_ledger *l)
{
	journal_clear(l);
	free(l->journal);
}
