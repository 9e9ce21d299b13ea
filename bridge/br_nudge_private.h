#ifndef BR_NUDGE_PRIVATE_H
#define BR_NUDGE_PRIVATE_H

/*
 * The insides of br_nudge, shared by br_nudge.c (sent mail, offers,
 * nudge rounds, events) and br_nudge_read.c (read receipts, catching up).
 * Nothing else includes this.
 */

#include <stdint.h>
#include <uv.h>

#include "br_nudge.h"
#include "br_nudgedb.h"
#include "br_settings.h"
#include "ms_imap.h"

#define WORK_MAX 512 /* IMAP look-ups waiting at once */

struct round;

/* A look-up over IMAP: the headers of a sent mail or of a read one, or
   whether a recipient's copy is seen. */
enum work_kind { WORK_SENT, WORK_READ, WORK_SEEN, WORK_EARLY };

struct work {
	struct br_nudge *n;
	struct work *prev, *next;
	enum work_kind kind;
	char *key, *bare;    /* the user the event was about */
	struct round *round; /* WORK_SEEN */
	size_t index;	     /* WORK_SEEN: the recipient */
	/* WORK_EARLY: a recipient (key) who may have read the sender's mail
	   before tidings knew it was sent. */
	char *skey, *sjid, *message_id, *subject;
	int64_t date;
};

struct br_nudge {
	struct br_nudge_deps d;
	const struct br_config *cfg;
	struct br_nudgedb *db;
	struct work *work;
	size_t work_count;
	int64_t pruned_at; /* unix secs of the last prune of nudges.db */
	uv_timer_t catchup;
	int64_t catchup_cursor;
	int64_t catchup_since;
};

/* br_nudge.c */
void br_nudge__send(struct br_nudge *n, xmpp_stanza_t *st);
void br_nudge__settings(struct br_nudge *n, const char *key,
			struct br_settings *s);
/* NULL (logged) when WORK_MAX are waiting. */
struct work *br_nudge__work_new(struct br_nudge *n, enum work_kind kind,
				const char *key, const char *bare);
void br_nudge__work_free(struct work *w);

/* br_nudge_read.c */
/* Recipients of sent who read it before tidings knew it was sent: their
   receipts (skey, sjid: the sender). */
void br_nudge__early_receipts(struct br_nudge *n, const char *skey,
			      const char *sjid,
			      const struct br_nudgedb_sent *sent);
/* The headers of a mail a recipient read (WORK_READ). */
void br_nudge__read_headers_cb(const struct ms_imap_headers_result *res,
			       void *ctx);

#endif
