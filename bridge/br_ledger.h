#ifndef BR_LEDGER_H
#define BR_LEDGER_H

/*
 * The durable ledger: what was notified, and what is still on its way.
 * SQLite in WAL mode at <state dir>/tidings.db (synchronous=NORMAL: a
 * committed row survives the process being killed). Loop thread only.
 *
 * - mailboxes: per (user, mailbox) the UIDVALIDITY and the highest UID
 *   notified (the reconciliation floor).
 * - notified: the (user, mailbox, uidvalidity, uid) keys already notified,
 *   so that nothing is notified twice, even when events arrive out of order
 *   or again through reconciliation. Old keys are pruned.
 * - outbox: every notification stanza committed but not yet confirmed by
 *   the XMPP server, so that a restart resends it instead of losing it.
 *
 * Every function returns 0 on success and -1 on an SQLite error (logged).
 */

#include <stddef.h>
#include <stdint.h>

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

/* Creates dir (0700) and the database as needed; checks the schema. */
int br_ledger_open(const char *dir, struct br_ledger **l_r, char **error_r);
void br_ledger_close(struct br_ledger **l);

/* *found_r = 1 and the values when known, else *found_r = 0. */
int br_ledger_mailbox_get(struct br_ledger *l, const char *user,
			  const char *mailbox, int *found_r,
			  uint32_t *uidvalidity_r, uint32_t *last_uid_r);
/* Sets the row (first sight, or UIDVALIDITY changed: the old keys of that
   mailbox are dropped). */
int br_ledger_mailbox_set(struct br_ledger *l, const char *user,
			  const char *mailbox, uint32_t uidvalidity,
			  uint32_t last_uid);
/* Calls cb for every mailbox row; cb returning nonzero stops early. */
int br_ledger_mailbox_foreach(struct br_ledger *l,
			      int (*cb)(const struct br_ledger_mailbox *mb,
					void *ctx),
			      void *ctx);

/* *notified_r = 1 if the key was already notified. */
int br_ledger_is_notified(struct br_ledger *l, const char *user,
			  const struct br_ledger_key *key, int *notified_r);

/*
 * In one transaction: records keys[0..n) of user as notified, raises each
 * mailbox's last_uid (creating the row, or resetting it when the key's
 * uidvalidity differs), and stores the stanza (xml, addressed to jid) in the
 * outbox. *id_r is the outbox id to confirm later. n may be 0 (a stanza that
 * notifies no particular mail).
 */
int br_ledger_commit(struct br_ledger *l, const char *user,
		     const struct br_ledger_key *keys, size_t n,
		     const char *jid, const char *xml, size_t xml_len,
		     uint64_t *id_r);
/*
 * Groups every change made until br_ledger_batch_end() into one
 * transaction (one WAL commit instead of one per change): what was
 * committed inside a batch becomes durable at its end, or not at all if
 * that end fails (-1). Each br_ledger_commit() inside still succeeds or
 * fails as a whole. Batches do not nest.
 */
int br_ledger_batch_begin(struct br_ledger *l);
int br_ledger_batch_end(struct br_ledger *l);
/* The XMPP server took the stanza: removes it from the outbox. */
int br_ledger_confirm(struct br_ledger *l, uint64_t id);
/* Every unconfirmed stanza, oldest first; cb returning nonzero stops. */
int br_ledger_outbox_foreach(struct br_ledger *l,
			     int (*cb)(uint64_t id, const char *jid,
				       const char *xml, size_t len, void *ctx),
			     void *ctx);
/* Small named integers (e.g. "alive_at", the last time tidingsd was known
   to run). *found_r = 0 when the key was never set. */
int br_ledger_meta_get(struct br_ledger *l, const char *key, int *found_r,
		       int64_t *value_r);
int br_ledger_meta_set(struct br_ledger *l, const char *key, int64_t value);
/* Drops notified keys older than max_age_secs that are not above their
   mailbox's last_uid (the floor keeps covering them). */
int br_ledger_prune(struct br_ledger *l, uint64_t max_age_secs);

#endif
