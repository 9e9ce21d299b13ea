#ifndef BR_OUTQ_H
#define BR_OUTQ_H

/*
 * The durable queue of mail written in chat (issue 7): each mail is a row
 * from the moment the user sent it until the MTA took it (and its copy is
 * in the user's Sent mailbox) or it failed for good, so that a restart
 * loses nothing. Rows that are done stay an hour more: they are what the
 * per-user send limit counts.
 *
 * SQLite at <state dir>/outmail.db, a file of its own (not tidings.db):
 * its writes are few and each is one transaction of its own, never mixed
 * into the ledger's per-turn batches. Loop thread only. Every function
 * returns 0, or -1 on an SQLite error (logged once per call).
 */

#include <stddef.h>
#include <stdint.h>

enum br_outq_state {
	BR_OUTQ_QUEUED = 0, /* to be handed to the MTA (at next_try) */
	BR_OUTQ_SENT,	    /* the MTA took it; the Sent copy is to do */
	BR_OUTQ_DONE,	    /* sent and copied (or the copy gave up) */
	BR_OUTQ_FAILED,	    /* refused for good, or expired */
};

enum br_outq_flags {
	BR_OUTQ_TOLD_DELAY = 1 << 0, /* the user was told it is delayed */
	/* No copy to Sent: recipients the MTA refused for now while it
	   took the others, whose copy is made already. */
	BR_OUTQ_NO_COPY = 1 << 1,
};

struct br_outq_item {
	int64_t id; /* set by br_outq_add() */
	char *user; /* canonical key of the sender */
	/* Where the results are told: to the user's bare JID, from the JID
	   of the conversation (an escaped address, or the component). */
	char *tell_to, *tell_from;
	char *sender; /* envelope sender = From address */
	char **rcpts; /* envelope recipients */
	size_t rcpt_count;
	char *subject;	  /* for the texts the user reads */
	char *message_id; /* "<...>" */
	char *data;	  /* the message, CRLF */
	size_t data_len;
	int64_t created;  /* unix secs */
	int64_t next_try; /* unix msecs */
	unsigned tries;
	enum br_outq_state state;
	unsigned flags; /* enum br_outq_flags */
};

struct br_outq;

/* Opens (creating) dir/outmail.db; same rules as the ledger (br_db.h). */
int br_outq_open(const char *dir, struct br_outq **q_r, char **error_r);
void br_outq_close(struct br_outq **q);

/* Writes a new row (state, tries, next_try as given); *id_r its id. */
int br_outq_add(struct br_outq *q, const struct br_outq_item *it,
		int64_t *id_r);
/* Updates state, tries, next_try and flags of row it->id. */
int br_outq_update(struct br_outq *q, const struct br_outq_item *it);
/* Rows of user created at or after since (unix secs), whatever their
   state. */
int br_outq_count_since(struct br_outq *q, const char *user, int64_t since,
			size_t *n_r);
/*
 * Up to limit rows in state QUEUED or SENT with next_try <= now_msecs
 * whose id is above after_id, by id; each is handed to cb (which
 * owns it: free with br_outq_item_free); cb returning nonzero stops.
 */
int br_outq_due(struct br_outq *q, int64_t now_msecs, int64_t after_id,
		size_t limit, int (*cb)(struct br_outq_item *it, void *ctx),
		void *ctx);
/* Rows QUEUED or SENT. */
int br_outq_pending(struct br_outq *q, size_t *n_r);
/* Deletes DONE and FAILED rows created before before (unix secs). */
int br_outq_prune(struct br_outq *q, int64_t before);

void br_outq_item_free(struct br_outq_item **it);

#endif
