#ifndef BR_LEDGER_H
#define BR_LEDGER_H

/*
 * The durable ledger: what was notified, what is still on its way, and
 * which mailboxes must be looked at over IMAP. SQLite in WAL mode at
 * <state dir>/tidings.db (synchronous=NORMAL: a committed row survives the
 * process being killed). Loop thread only.
 *
 * - mailboxes: per (user, mailbox) the UIDVALIDITY and the highest UID
 *   notified (the reconciliation floor), and whether a scan is due: from
 *   which UID on (rescan_from) and not before when (rescan_after). A row
 *   with uidvalidity 0 and last_uid 0 is a mailbox first seen, nothing
 *   notified yet (its scan looks by delivery date).
 * - notified: the (user, mailbox, uidvalidity, uid) keys already notified,
 *   so that nothing is notified twice, even when events arrive out of order
 *   or again through reconciliation. Old keys are pruned.
 * - outbox: every notification stanza committed but not yet confirmed by
 *   the XMPP server, so that a restart resends it instead of losing it.
 *
 * Every function returns 0 on success and -1 on an SQLite error (logged).
 *
 * When writes fail (disk full, read-only, I/O error, locked), the ledger
 * logs ONE error line and keeps what it could not write in memory: notified
 * keys, mailbox rows (floors, due marks, removals), confirmations and meta
 * values (at most BR_LEDGER_MEM_MAX keys and as many mailbox rows and
 * confirmations; beyond, changes are counted, dropped and logged once).
 * Every read answers from that memory too, so nothing is notified twice
 * while the disk is full. Meanwhile changes go straight to memory; the
 * first change after a back-off (1 s after the failure, then doubling up
 * to 15 s) or br_ledger_retry() writes memory and itself in one
 * transaction, and when that works logs one info line with how much was
 * caught up. While writes fail, a change kept in memory returns 0; what
 * cannot be kept returns -1 without another log line: br_ledger_commit()
 * (its outbox row is not kept; the caller sends the stanza with token 0,
 * which needs no confirmation), br_ledger_prune(), and a change that did
 * not fit. What is still in memory when br_ledger_close() cannot write it
 * either is lost (logged).
 */

#include <stddef.h>
#include <stdint.h>

/* Notified keys (and, separately, mailbox rows) kept in memory at most
   while writes fail. */
#define BR_LEDGER_MEM_MAX 100000
/* The meta key of the last time tidingsd was known to run (unix secs).
   When br_ledger_open() moved a corrupt file aside, the new ledger starts
   with that file's last change here, so that the mail delivered since is
   still caught up. */
#define BR_LEDGER_META_ALIVE_AT "alive_at"

struct br_ledger;

struct br_ledger_key {
	const char *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
};

struct br_ledger_mailbox {
	const char *user;
	const char *mailbox;
	uint32_t uidvalidity;
	uint32_t last_uid;
};

/* A mailbox row that is due for a scan. */
struct br_ledger_due {
	const char *user;
	const char *mailbox;
	uint32_t uidvalidity; /* 0 with last_uid 0: first seen */
	uint32_t last_uid;
	uint32_t rescan_from; /* look for unseen mail with UID >= this */
};

/*
 * Creates dir (0700) and the database as needed, refuses a dir or file
 * that is not the running user's or that group or others may write,
 * refuses another application's or a newer file, and upgrades an older
 * schema. A corrupt file is moved aside as tidings.db.corrupt-<unix time>
 * (logged once, loudly) and the ledger starts fresh.
 */
int br_ledger_open(const char *dir, struct br_ledger **l_r, char **error_r);
/* Tries once more to write what is kept in memory, then closes. */
void br_ledger_close(struct br_ledger **l);

/* *found_r = 1 and the values when known, else *found_r = 0. */
int br_ledger_mailbox_get(struct br_ledger *l, const char *user,
			  const char *mailbox, int *found_r,
			  uint32_t *uidvalidity_r, uint32_t *last_uid_r);
/* Sets the row (first sight, or UIDVALIDITY changed: the old keys of that
   mailbox are dropped). Due marks are left as they are. */
int br_ledger_mailbox_set(struct br_ledger *l, const char *user,
			  const char *mailbox, uint32_t uidvalidity,
			  uint32_t last_uid);
/* Calls cb for every mailbox row in (user, mailbox) order; cb returning
   nonzero stops early. Rows are copied first: cb may use the ledger. */
int br_ledger_mailbox_foreach(struct br_ledger *l,
			      int (*cb)(const struct br_ledger_mailbox *mb,
					void *ctx),
			      void *ctx);
/* Drops the row of a mailbox (or every row of a user) that no longer
   exists, with its notified keys. Unknown names are no error. */
int br_ledger_mailbox_remove(struct br_ledger *l, const char *user,
			     const char *mailbox);
int br_ledger_user_remove(struct br_ledger *l, const char *user);

/*
 * Due marks. The router walks the due rows with br_ledger_due_next() under
 * a cap of scans in flight and clears each mark when its scan succeeded.
 *
 * br_ledger_due_all(): at start, every row becomes due from last_uid + 1
 * (an existing lower rescan_from is kept), rescan_after = 0. A row at
 * last_uid 4294967295 has nothing above it and stays as it was.
 */
int br_ledger_due_all(struct br_ledger *l);
/*
 * Marks (user, mailbox) due from from_uid, creating the row with
 * uidvalidity 0 / last_uid 0 when missing. rescan_from becomes the lower
 * of the existing mark and from_uid. rescan_after becomes not_before_secs
 * whatever it was: the latest call says when (a retry after a failure
 * passes now + its back-off; a new gap passes now, which ends a back-off
 * early).
 */
int br_ledger_due_set(struct br_ledger *l, const char *user,
		      const char *mailbox, uint32_t from_uid,
		      int64_t not_before_secs);
/*
 * Calls cb for at most limit due rows (rescan_from set, rescan_after <=
 * now_secs) whose (user, mailbox) comes strictly after (after_user,
 * after_mailbox), in (user, mailbox) order of their bytes; both NULL: from
 * the first. Fewer calls than limit mean the end was reached (wrap around
 * with NULL). Rows are copied first: cb may use the ledger. cb returning
 * nonzero stops.
 */
int br_ledger_due_next(struct br_ledger *l, const char *after_user,
		       const char *after_mailbox, int64_t now_secs,
		       size_t limit,
		       int (*cb)(const struct br_ledger_due *due, void *ctx),
		       void *ctx);
/*
 * The scan that started at covered_from succeeded: clears the mark unless
 * it was lowered below covered_from meanwhile (then it stays, with its
 * rescan_after). Note: a due_set() made while that scan was in flight with
 * a from_uid >= covered_from merged into the mark and is cleared with it;
 * call due_set() again after due_clear() for a gap the scan may have
 * missed (e.g. UIDs that arrived after it started).
 */
int br_ledger_due_clear(struct br_ledger *l, const char *user,
			const char *mailbox, uint32_t covered_from);
/* How many rows carry a due mark (whatever their rescan_after). */
int br_ledger_due_count(struct br_ledger *l, uint64_t *n_r);

/* *notified_r = 1 if the key was already notified. */
int br_ledger_is_notified(struct br_ledger *l, const char *user,
			  const struct br_ledger_key *key, int *notified_r);

/*
 * In one transaction: records keys[0..n) of user as notified, raises each
 * mailbox's last_uid (creating the row, or resetting it when the key's
 * uidvalidity differs), and stores the stanza (xml, addressed to jid) in the
 * outbox. *id_r is the outbox id to confirm later. n may be 0 (a stanza that
 * notifies no particular mail). Returns -1 when the stanza could not be
 * written (send it with token 0); the keys are then kept in memory while
 * writes fail (see the top of this file).
 */
int br_ledger_commit(struct br_ledger *l, const char *user,
		     const struct br_ledger_key *keys, size_t n,
		     const char *jid, const char *xml, size_t xml_len,
		     uint64_t *id_r);
/*
 * Groups every change made until br_ledger_batch_end() into one
 * transaction (one WAL commit instead of one per change): what was
 * committed inside a batch becomes durable at its end, or not at all if
 * that end fails (-1): everything committed inside it is then kept in
 * memory like any failed write, and every outbox id it gave is void (send
 * with token 0). Once one change inside a batch fails, the rest of the
 * batch goes to memory (and its end returns -1); so does a whole batch
 * while writes fail and no retry is due. br_ledger_batch_begin() always
 * returns 0. Batches do not nest. Inside a batch, reads see its changes.
 */
int br_ledger_batch_begin(struct br_ledger *l);
int br_ledger_batch_end(struct br_ledger *l);
/*
 * While writes fail: tries now to write what is kept in memory (for a
 * timer of the caller). Returns 0 when writes work (or never failed), -1
 * when they still fail. Not inside a batch.
 */
int br_ledger_retry(struct br_ledger *l);
/* The XMPP server took the stanza: removes it from the outbox. */
int br_ledger_confirm(struct br_ledger *l, uint64_t id);
/* Every unconfirmed stanza, oldest first; cb returning nonzero stops. Rows
   are copied first: cb may confirm or commit. */
int br_ledger_outbox_foreach(struct br_ledger *l,
			     int (*cb)(uint64_t id, const char *jid,
				       const char *xml, size_t len, void *ctx),
			     void *ctx);
/* Like br_ledger_outbox_foreach(), for at most limit unconfirmed stanzas
   with an id above after_id (0: from the oldest). */
int br_ledger_outbox_range(struct br_ledger *l, uint64_t after_id, size_t limit,
			   int (*cb)(uint64_t id, const char *jid,
				     const char *xml, size_t len, void *ctx),
			   void *ctx);
/* Small named integers (e.g. BR_LEDGER_META_ALIVE_AT). *found_r = 0 when
   the key was never set. */
int br_ledger_meta_get(struct br_ledger *l, const char *key, int *found_r,
		       int64_t *value_r);
int br_ledger_meta_set(struct br_ledger *l, const char *key, int64_t value);
/*
 * Users' settings (issue 6): small integers by name, for the settings a
 * user changed (the others follow the config's [defaults]). value < 0
 * removes the setting (back to the default). A user removed with
 * br_ledger_user_remove() loses their settings too.
 */
int br_ledger_setting_set(struct br_ledger *l, const char *user,
			  const char *name, int64_t value);
/* *found_r = 0 when the user never changed it. */
int br_ledger_setting_get(struct br_ledger *l, const char *user,
			  const char *name, int *found_r, int64_t *value_r);
/* A notified key and when it was recorded (br_ledger_recent). */
struct br_ledger_recent {
	char *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
	int64_t at; /* unix seconds */
};
/*
 * The user's last notified keys (mails covered by a single notification,
 * a digest or a summary: the ledger does not keep which), newest first,
 * at most max of them: an xmalloc'ed array in *rows_r (NULL when none)
 * and its length in *n_r; free it with br_ledger_recent_free(). Keys
 * pruned already are gone; keys kept in memory while writes fail are not
 * listed.
 */
int br_ledger_recent(struct br_ledger *l, const char *user, size_t max,
		     struct br_ledger_recent **rows_r, size_t *n_r);
void br_ledger_recent_free(struct br_ledger_recent **rows, size_t n);
/* Drops notified keys older than max_age_secs that are not above their
   mailbox's last_uid (the floor keeps covering them). */
int br_ledger_prune(struct br_ledger *l, uint64_t max_age_secs);

#endif
