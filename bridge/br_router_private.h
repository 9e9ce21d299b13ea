#ifndef BR_ROUTER_PRIVATE_H
#define BR_ROUTER_PRIVATE_H

/*
 * The router's insides, shared by br_router.c (the burst policy, the
 * ledger batch, the public API), br_user.c (the per-user table) and
 * br_reconcile.c (catching up over IMAP). Nothing else includes this.
 */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "br_notify.h"
#include "br_router.h"
#include "br_settings.h"
#include "ut_hash.h"
#include "ut_log.h"

/*
 * One served user: a Dovecot user that maps to a JID (br_jidmap). Owned by
 * the router's user table, created at the first event or presence, freed
 * when idle: nothing held, no timer running and the burst window over
 * (br_user__sweep). Scans name users by key and look them up again.
 */
struct br_user {
	struct br_router *r;
	char *key;    /* canonical Dovecot username (the ledger's key) */
	char *jid;    /* bare JID */
	char *prefix; /* "bridge(key)", for log lines */
	uint64_t window_start_msecs;
	unsigned window_singles;
	uint64_t last_flush_msecs; /* 0: never */
	bool first_checked; /* looked for mail that came while we were down */
	enum br_presence presence;
	/* Mail came while the user was online but held (hold_when, notify
	   off): a summary is due when they can take mail again. Mail that
	   comes while they are offline is the login summary's business. */
	bool missed;
	bool walk_queued; /* in r->walks (br_due__walk_user) */
	/* uv_now() when the user last came online (0: not since created):
	   INBOX scans queued before it are the login summary's. */
	uint64_t online_msecs;
	struct br_settings settings;
	struct br_mail **held;
	size_t held_count, held_cap;
	size_t held_extra; /* mails beyond HELD_MAX, counted only */
	uv_timer_t timer;  /* the end of the burst window, while holding */
};

/*
 * SCAN_START: a known mailbox after a restart (from its floor), or any
 * reconciliation the ledger marked due.
 * SCAN_GAP: missing UIDs (to_uid 0: everything after from_uid).
 * SCAN_FIRST: a mailbox the ledger does not know yet, first seen since this
 * start: what was delivered while tidingsd was down (INTERNALDATE).
 * SCAN_SUMMARY: INBOX above the floor, for a summary (br_reconcile__summary).
 */
enum scan_kind { SCAN_START, SCAN_GAP, SCAN_FIRST, SCAN_SUMMARY };

/* A user whose due mailboxes are walked (r->walks). */
struct walk {
	char *key;
	char *cursor; /* the last mailbox walked; NULL: none yet */
	bool skip_inbox;
};

/* One reconciliation of one mailbox. */
struct br_scan {
	struct br_router *r;
	struct br_scan *prev, *next;
	enum scan_kind kind;
	char *user, *mailbox;
	char *key;    /* "user\nmailbox", for gap coalescing */
	char *prefix; /* "reconcile(user/mailbox)", for log lines */
	uint32_t uidvalidity, from_uid, to_uid;
	bool running; /* handed to the IMAP pool */
	bool durable; /* from a due mark: clear it when done */
	bool always;  /* SCAN_SUMMARY: send one even when there is nothing */
	bool silent;  /* SCAN_SUMMARY: send nothing, only raise the floor */
	uint64_t queued_msecs; /* uv_now() when handed to the IMAP pool */
	/* Set the mailbox due from this UID when the scan is over (0: no):
	   it failed, or more work came while it ran. */
	uint32_t redo_from;
	int64_t redo_after; /* not before (unix secs) */
	uv_timer_t timer;
};

/* A notification written in this loop turn's transaction, sent at its
   end (see batch_flush). */
struct pending {
	char *jid;
	char *xml;
	size_t len;
	uint64_t id; /* its outbox row; 0: not written */
};

struct br_router {
	struct br_router_deps d;
	const struct br_config *cfg;
	struct ut_hash *users; /* key -> struct br_user */
	struct ut_hash *gaps;  /* "user\nmailbox" -> waiting br_scan */
	struct br_scan *scans; /* every live scan */
	size_t scan_count;
	/* The walk over the ledger's due mailboxes (br_due__drain). */
	uv_timer_t drain_timer;
	char *due_cursor_user, *due_cursor_mailbox;
	size_t drain_rows;
	bool draining;
	/* While IMAP scans keep failing, none is started before this. */
	uint64_t imap_paused_until, imap_backoff_msecs;
	struct br_router_stats stats;
	struct ut_ratelog unmapped_log;
	struct ut_ratelog scan_fail_log;
	struct ut_ratelog scan_defer_log;
	struct ut_ratelog prune_log;
	uv_timer_t prune_timer;
	uv_timer_t alive_timer;
	uv_timer_t sweep_timer;
	int64_t down_since; /* unix secs: last sign of life before this start */
	bool presence_known; /* every local user's presence (XEP-0356) */
	br_router_presence_fn presence_of; /* a new user's presence; NULL */
	void *presence_ctx;
	/* The presences the server sends at connect are in (or none came):
	   the global walk over due mailboxes may begin. Before it, a user's
	   first presence is not "coming online" but who is online now. */
	bool presence_settled;
	/* Users whose due mailboxes are walked next (br_due__drain):
	   keys, FIFO, each user at most once. */
	struct walk *walks;
	size_t walk_head, walk_count, walk_cap;
	bool fresh_ledger; /* no sign of life before this start at all */
	/* Ledger writes of one loop turn, done in one transaction. */
	uv_check_t batch_check;
	struct pending *pending;
	size_t pending_count, pending_cap;
	bool in_batch; /* the loop turn's ledger transaction is open */
	/* The ledger's outbox holds stanzas beyond spill_after that the
	   XMPP side has not taken yet (refill). */
	bool spill;
	uint64_t spill_after;
	size_t refill_rows;
	bool refill_stopped;
	struct ut_ratelog spill_log;
	uint64_t *confirms;
	size_t confirm_count, confirm_cap;
	unsigned open_handles; /* one per uv_*_init not closed yet */
	bool closing;
};

/* br_router.c */
/* Opens this loop turn's ledger transaction (see batch_flush) if needed:
   call before any ledger access from a callback. */
void br_router__turn(struct br_router *r);
void br_router__handle_gone(struct br_router *r);
void br_router__handle_closed_cb(uv_handle_t *h);
/* ut_ratelog() on the router's clock, at most one line a minute. */
void br_router__ratelog(struct br_router *r, struct ut_ratelog *rl,
			enum ut_log_level level, const char *prefix,
			const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Writes st (not consumed) to the ledger with keys[0..n) in this turn's
   transaction and sends it at the turn's end. */
void br_router__deliver(struct br_user *u, xmpp_stanza_t *st,
			const struct br_ledger_key *keys, size_t n);
/* Whether the mail still needs a notification (not notified, held or
   about to be written). */
bool br_router__wanted(struct br_user *u, const struct br_mail *m);
bool br_router__held_has(const struct br_user *u, const struct br_mail *m);
/* Lowest (or highest) held UID of a mailbox; 0 when none is held. */
uint32_t br_router__held_uid(const struct br_user *u, const char *mailbox,
			     uint32_t uidvalidity, bool highest);
/*
 * The burst policy, the one place that decides: mails[0..n) were found
 * (one by an event, or several by a scan, oldest first) and `unfetched`
 * more are known only by number. While a digest is being collected they
 * join it; when more than burst_max come at once they go out as one digest
 * now; otherwise each is notified at once while the user's window allows,
 * and held for the digest at the window's end beyond that.
 */
void br_router__found(struct br_user *u, struct br_mail *const *mails, size_t n,
		      size_t unfetched);
/* The user's timer fired: send what is held. */
void br_router__flush(struct br_user *u);

/* Whether the user takes mail now (see br_router.h); false also records
   that a summary is due later. */
bool br_router__deliverable(struct br_user *u);
/* The user's presence is known (else: unknown, notify as before). */
bool br_router__presence_known(const struct br_user *u);
/* Online (available, away or dnd) as far as is known. */
bool br_router__online(const struct br_user *u);
/* Sends a summary built from a scan (br_reconcile.c). */
void br_router__send_summary(struct br_user *u, struct br_mail *const *mails,
			     size_t n, size_t unread, size_t fresh);

/* br_router_log.c: the trail of notifications (one info line each). */
/* "INBOX uid 7", "INBOX uids 8-10,12, Lists uid 3" for mails[0..n)
   (any order), cut with "..." when long; "none" for none. xmalloc'ed. */
char *br_router__uids_text(struct br_mail *const *mails, size_t n);
/* "not notified INBOX uids 8-9[ and 3 more]: why" at info. */
void br_router__log_not_notified(const struct br_user *u,
				 struct br_mail *const *mails, size_t n,
				 size_t more, const char *why);

/* br_user.c */
/*
 * The served user named by a Dovecot username, created if needed; NULL
 * (counted, and logged at most once a minute for all such users) when the
 * username maps to no JID.
 */
struct br_user *br_user__get(struct br_router *r, const char *username);
/* Frees every idle user (see struct br_user); all of them when closing. */
void br_user__sweep(struct br_router *r, bool all);

/* br_reconcile.c */
/* Scans alive at once (waiting, queued or running), summaries aside. */
#define SCANS_MAX 256
/* A new live scan, or NULL when SCANS_MAX are alive. */
struct br_scan *br_reconcile__scan_new(struct br_router *r, enum scan_kind kind,
				       const char *user, const char *mailbox,
				       uint32_t uidvalidity, uint32_t from_uid,
				       uint32_t to_uid);
/* The live scan of "user\nmailbox", or NULL. */
struct br_scan *br_reconcile__live(const struct br_router *r, const char *key);
/* Hands the scan to the IMAP pool (or frees it when there is none). */
void br_reconcile__scan_start(struct br_scan *s);
/* A new mail's UID leaves a gap above the mailbox's last notified UID. */
void br_reconcile__check_gap(struct br_router *r, struct br_user *u,
			     const struct br_mail *m);
/* After a digest: what follows the last held mail of each mailbox. */
void br_reconcile__check_tail(struct br_router *r, struct br_user *u);
/* A mailbox the ledger does not know, first seen since this start. */
void br_reconcile__check_first(struct br_router *r, struct br_user *u,
			       const char *mailbox, uint32_t before_uid);
/* A new mail whose UID the event did not carry. */
void br_reconcile__lookup_unknown(struct br_router *r, struct br_user *u,
				  const char *mailbox);
/* A summary of the user's INBOX soon (coalesced per user); always: even
   when it has nothing to say (the "check" command). */
void br_reconcile__summary(struct br_router *r, struct br_user *u, bool always);
/* The same scan without a message: the floor is raised past what is in
   INBOX now (the user came online and wants no summary). */
void br_reconcile__skip_inbox(struct br_router *r, struct br_user *u);
/* Closes every scan (the IMAP pool must be gone already). */
void br_reconcile__close_all(struct br_router *r);

/* br_due.c */
/* At start: every mailbox the ledger knows becomes due; the global walk
   begins once presence has settled (br_router_presence_settled). */
void br_due__start_all(struct br_router *r);
/* Presence has settled: the global walk begins (then runs as room frees
   and every 30 s). */
void br_due__settled(struct br_router *r);
/* Starts scans of due mailboxes while fewer than SCANS_MAX are alive:
   the users' walks first, then the global walk (with presence known,
   only users online now). */
void br_due__drain(struct br_router *r);
/* Reconcile the user's due mailboxes soon, ahead of the global walk (a
   user online at start, or back online); INBOX too unless skip_inbox. */
void br_due__walk_user(struct br_router *r, struct br_user *u, bool skip_inbox);
/* Frees the walks (closing). */
void br_due__close(struct br_router *r);

#endif
