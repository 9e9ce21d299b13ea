#ifndef BR_NUDGEDB_H
#define BR_NUDGEDB_H

/*
 * The durable state of nudges and read receipts (issue 8):
 *
 * - sent mails: the latest mails each user sent (seen appended to their
 *   Sent mailbox), with recipients, so that "nudge" and "nudge NAME"
 *   find the latest one, and a receipt finds the subject of one;
 * - nudges: which mail nudged which recipient, and when, for the two rate
 *   limits (once per mail and recipient; pair_limit per sender->recipient
 *   pair per hour);
 * - receipts: which read receipts were told, so that none is told twice,
 *   across restarts and catch-ups.
 *
 * SQLite at <state dir>/nudges.db, a file of its own like outmail.db
 * (br_outq.h): each write is one transaction of its own, never mixed into
 * the ledger's batches. Loop thread only.
 *
 * Users, senders and recipients are keys compared exactly (byte for
 * byte): callers pass canonical forms (a local user's key, a lower-cased
 * address). Message-IDs are compared exactly too ("<...>" as in the
 * header). Times are unix seconds, passed by the caller.
 *
 * Every function returns 0, or -1 on an SQLite error (logged once per
 * call) or on a recipient that cannot be stored (empty or with a line
 * end; logged as a warning).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sent mails kept per user; putting one more drops the oldest. */
#define BR_NUDGEDB_SENT_PER_USER 20
/* br_nudgedb_prune() drops rows older than this. */
#define BR_NUDGEDB_KEEP_SECS (30 * 86400)
/* The window of the per-pair nudge limit. */
#define BR_NUDGEDB_PAIR_WINDOW_SECS 3600

struct br_nudgedb;

/* Opens (creating) dir/nudges.db; same rules as the ledger (br_db.h). A
   corrupt file is moved aside (logged) and a new one started. Returns 0,
   or -1 with an xmalloc'ed message in *error_r. */
int br_nudgedb_open(const char *dir, struct br_nudgedb **db_r, char **error_r);
void br_nudgedb_close(struct br_nudgedb **db);

/* A sent mail. Owned by whoever got it: free with br_nudgedb_sent_free(). */
struct br_nudgedb_sent {
	char *user;
	char *message_id;
	char *subject;
	int64_t date;  /* when it was sent, as put (e.g. its Date header) */
	int64_t added; /* now of br_nudgedb_sent_put() */
	char **rcpts;  /* as put, in the same order */
	size_t rcpt_count;
};

/*
 * Stores a mail user sent (rcpts[0..rcpt_count), none empty or holding a
 * line end) as the user's latest; a mail of the same user and message_id
 * is replaced (and becomes the latest). Then only the user's
 * BR_NUDGEDB_SENT_PER_USER latest are kept. One transaction. subject may
 * be NULL (stored as "").
 */
int br_nudgedb_sent_put(struct br_nudgedb *db, const char *user,
			const char *message_id, const char *subject,
			int64_t date, const char *const *rcpts,
			size_t rcpt_count, int64_t now);
/* The user's latest sent mail (the last put) in *row_r, or NULL when
   there is none. */
int br_nudgedb_sent_latest(struct br_nudgedb *db, const char *user,
			   struct br_nudgedb_sent **row_r);
/* The user's sent mail message_id in *row_r, or NULL when not kept. */
int br_nudgedb_sent_get(struct br_nudgedb *db, const char *user,
			const char *message_id, struct br_nudgedb_sent **row_r);
/*
 * Calls cb for up to limit sent rows put at or after since (unix secs)
 * whose internal order is past *cursor (start with 0), in that order, and
 * moves *cursor past them; cb does not own the row and returning nonzero
 * stops it. Returns how many rows were read (fewer than limit: the end),
 * or -1.
 */
int br_nudgedb_sent_recent(struct br_nudgedb *db, int64_t since,
			   int64_t *cursor, size_t limit,
			   int (*cb)(struct br_nudgedb_sent *row, void *ctx),
			   void *ctx);
void br_nudgedb_sent_free(struct br_nudgedb_sent **row);

enum br_nudgedb_verdict {
	BR_NUDGEDB_ALLOWED = 0, /* recorded: send it */
	BR_NUDGEDB_ALREADY,	/* this mail nudged this recipient before */
	BR_NUDGEDB_LIMIT, /* pair_limit nudges sender->recipient within the
			     last BR_NUDGEDB_PAIR_WINDOW_SECS */
};

/*
 * In one transaction: ALREADY if sender's mail message_id nudged
 * recipient before (a mail is its sender's: another user's mail with the
 * same Message-ID is another mail); else LIMIT if sender nudged recipient
 * pair_limit times or more at times after now -
 * BR_NUDGEDB_PAIR_WINDOW_SECS (times after now count too, should the
 * clock have gone back); else records the nudge at now and says ALLOWED.
 * Nothing is recorded unless ALLOWED; an ALLOWED nudge stays recorded
 * whether or not the caller then sends it.
 */
int br_nudgedb_nudge_try(struct br_nudgedb *db, const char *sender,
			 const char *recipient, const char *message_id,
			 int64_t now, unsigned pair_limit,
			 enum br_nudgedb_verdict *verdict_r);

/*
 * Records that recipient's reading of sender's mail message_id was (or is
 * being) told; *first_r is true the first time, false ever after (until
 * pruned: callers tell no receipt for mail older than
 * BR_NUDGEDB_KEEP_SECS, which this could no longer stop).
 */
int br_nudgedb_receipt_once(struct br_nudgedb *db, const char *sender,
			    const char *recipient, const char *message_id,
			    int64_t now, bool *first_r);

/* Deletes sent mails, nudges and receipts recorded (their now) before
   now - BR_NUDGEDB_KEEP_SECS. One transaction. */
int br_nudgedb_prune(struct br_nudgedb *db, int64_t now);

#endif
