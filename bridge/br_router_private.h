#ifndef BR_ROUTER_PRIVATE_H
#define BR_ROUTER_PRIVATE_H

/*
 * The router's insides, shared by br_router.c (per-user burst state, the
 * ledger batch, the public API) and br_reconcile.c (catching up over IMAP).
 * Nothing outside these two files includes this.
 */

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "br_notify.h"
#include "br_router.h"
#include "ut_hash.h"

struct br_user {
	struct br_router *r;
	char *user; /* Dovecot username */
	char *jid;  /* NULL: the user maps to no JID */
	uint64_t window_start_msecs;
	unsigned window_singles;
	uint64_t last_flush_msecs; /* 0: never */
	bool first_checked; /* looked for mail that came while we were down */
	struct br_mail **held;
	size_t held_count, held_cap;
	size_t held_extra; /* mails beyond HELD_MAX, counted only */
	uv_timer_t timer;
};

/*
 * SCAN_START: a known mailbox after a restart (from its floor).
 * SCAN_GAP: missing UIDs (to_uid 0: everything after from_uid).
 * SCAN_FIRST: a mailbox the ledger does not know yet, first seen since this
 * start: what was delivered while tidingsd was down (INTERNALDATE).
 */
enum scan_kind { SCAN_START, SCAN_GAP, SCAN_FIRST };

/* One reconciliation of one mailbox: a startup scan or a UID gap. */
struct br_scan {
	struct br_router *r;
	struct br_scan *prev, *next;
	enum scan_kind kind;
	char *user, *mailbox;
	char *key; /* "user\nmailbox", for gap coalescing */
	uint32_t uidvalidity, from_uid, to_uid;
	unsigned attempts;
	uv_timer_t timer;
};

/* A notification waiting for the end of the loop turn (see batch_flush). */
struct pending {
	char *user, *jid;
	struct br_ledger_key *keys; /* mailbox strings owned */
	size_t n;
	char *xml;
	size_t len;
};

struct br_router {
	struct br_router_deps d;
	const struct br_config *cfg;
	struct ut_hash *users; /* username -> struct br_user */
	struct ut_hash *gaps;  /* "user\nmailbox" -> pending gap br_scan */
	struct br_scan *scans; /* every live scan */
	struct br_router_stats stats;
	uv_timer_t prune_timer;
	uv_timer_t alive_timer;
	int64_t down_since; /* unix secs: last sign of life before this start */
	bool fresh_ledger;  /* no sign of life before this start at all */
	/* Ledger writes of one loop turn, done in one transaction. */
	uv_check_t batch_check;
	struct pending *pending;
	size_t pending_count, pending_cap;
	uint64_t *confirms;
	size_t confirm_count, confirm_cap;
	unsigned open_handles;
	bool closing;
};

/* br_router.c */
void br_router__handle_gone(struct br_router *r);
void br_router__prefix(char *out, size_t size, const char *user);
struct br_user *br_router__user_get(struct br_router *r, const char *user);
/* Whether the mail still needs a notification (not notified, held or
   about to be written). */
bool br_router__wanted(struct br_user *u, const struct br_mail *m);
bool br_router__held_has(const struct br_user *u, const struct br_mail *m);
/* Lowest (or highest) held UID of a mailbox; 0 when none is held. */
uint32_t br_router__held_uid(const struct br_user *u, const char *mailbox,
			     uint32_t uidvalidity, bool highest);
/* The burst rule: a single now, or held for the digest. */
void br_router__notify(struct br_user *u, const struct br_mail *m);
void br_router__send_digest(struct br_user *u, struct br_mail *const *mails,
			    size_t n, size_t total);

/* br_reconcile.c */
/* Startup reconciliation of one mailbox the ledger knows. */
void br_reconcile__start(struct br_router *r, const char *user,
			 const char *mailbox, uint32_t uidvalidity,
			 uint32_t last_uid);
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
/* Closes every scan (the IMAP pool must be gone already). */
void br_reconcile__close_all(struct br_router *r);

#endif
