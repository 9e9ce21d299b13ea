/*
 * Due mailboxes: which reconciliation runs next. The ledger marks a
 * mailbox due (at start every known mailbox is; a scan that could not run
 * or failed leaves a mark), and this file starts scans of due mailboxes
 * while fewer than SCANS_MAX are alive, in two queues:
 *
 * - the users' walks: a user online at start, or back online, has their
 *   own due mailboxes scanned first (br_due__walk_user), so that with
 *   100,000 known mailboxes the few users online are caught up at once;
 * - the global walk: every due row in (user, mailbox) order with a cursor,
 *   every DRAIN_MSECS and whenever a scan ends. With presence known it
 *   skips users who are not online (their summary covers INBOX when they
 *   come online), reading at most SKIM_ROWS rows a turn; without, it
 *   takes every row, as before presence.
 *
 * The global walk waits until presence has settled (br_due__settled):
 * before, nobody is known to be online and it would scan everyone.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_router_private.h"
#include "ut_xalloc.h"

#define DRAIN_MSECS (30 * 1000)
/* Rows the global walk reads in one turn while it skips users who are
   not online. */
#define SKIM_ROWS 4096
/* Due rows of one user read at a time. */
#define WALK_ROWS 64

static bool online(const struct br_user *u)
{
	return u != NULL && (u->presence == BR_PRESENCE_ONLINE ||
			     u->presence == BR_PRESENCE_AWAY ||
			     u->presence == BR_PRESENCE_DND);
}

/* Starts the scan of a due row unless one is alive. Returns -1 when
   SCANS_MAX are alive (the row stays due). */
static int start_row(struct br_router *r, const struct br_ledger_due *row)
{
	if (!br_config_mailbox_notified(r->cfg, row->mailbox)) {
		br_ledger_due_clear(r->d.ledger, row->user, row->mailbox,
				    row->rescan_from);
		return 0;
	}
	char *key = xasprintf("%s\n%s", row->user, row->mailbox);
	bool live = br_reconcile__live(r, key) != NULL;
	free(key);
	if (live)
		return 0;
	struct br_scan *s = br_reconcile__scan_new(
	    r, row->uidvalidity == 0 ? SCAN_FIRST : SCAN_START, row->user,
	    row->mailbox, row->uidvalidity, row->rescan_from, 0);
	if (s == NULL)
		return -1;
	s->durable = true;
	br_reconcile__scan_start(s);
	return 0;
}

/* ---- the users' walks ---- */

struct walk_ctx {
	struct br_router *r;
	struct walk *w;
	size_t rows;
	bool full;  /* SCANS_MAX reached: come back to this user */
	bool other; /* past the user's rows */
};

static int walk_row_cb(const struct br_ledger_due *row, void *ctx)
{
	struct walk_ctx *c = ctx;

	c->rows++;
	if (strcmp(row->user, c->w->key) != 0) {
		c->other = true;
		return 1;
	}
	if (!(c->w->skip_inbox && strcmp(row->mailbox, "INBOX") == 0) &&
	    start_row(c->r, row) < 0) {
		c->full = true; /* this row again next time */
		return 1;
	}
	free(c->w->cursor);
	c->w->cursor = xstrdup(row->mailbox);
	return 0;
}

static void walk_pop(struct br_router *r)
{
	struct walk *w = &r->walks[r->walk_head];
	struct br_user *u = ut_hash_get(r->users, w->key);
	if (u != NULL)
		u->walk_queued = false;
	free(w->key);
	free(w->cursor);
	r->walk_head++;
	r->walk_count--;
	if (r->walk_count == 0)
		r->walk_head = 0;
}

/* Walks queued users while there is room. Returns false when SCANS_MAX
   scans are alive. */
static bool drain_walks(struct br_router *r)
{
	while (r->walk_count > 0) {
		struct walk *w = &r->walks[r->walk_head];
		struct walk_ctx c = {r, w, 0, false, false};
		if (r->scan_count >= SCANS_MAX)
			return false;
		/* "" sorts before every mailbox name: from the user's
		   first row. */
		br_ledger_due_next(
		    r->d.ledger, w->key, w->cursor != NULL ? w->cursor : "",
		    (int64_t)time(NULL), WALK_ROWS, walk_row_cb, &c);
		if (c.full)
			return false;
		if (c.other || c.rows < WALK_ROWS)
			walk_pop(r);
		/* else: the user has more rows; the cursor goes on. */
	}
	return true;
}

void br_due__walk_user(struct br_router *r, struct br_user *u, bool skip_inbox)
{
	if (r->d.imap == NULL || u->walk_queued)
		return;
	if (r->walk_head + r->walk_count == r->walk_cap) {
		if (r->walk_head > 0) {
			memmove(r->walks, r->walks + r->walk_head,
				r->walk_count * sizeof(*r->walks));
			r->walk_head = 0;
		} else {
			r->walk_cap = r->walk_cap ? r->walk_cap * 2 : 64;
			r->walks = xreallocarray(r->walks, r->walk_cap,
						 sizeof(*r->walks));
		}
	}
	struct walk *w = &r->walks[r->walk_head + r->walk_count++];
	w->key = xstrdup(u->key);
	w->cursor = NULL;
	w->skip_inbox = skip_inbox;
	u->walk_queued = true;
	br_due__drain(r);
}

/* ---- the global walk ---- */

/* One due row: reconcile it now unless it is already. br_ledger_due_next()
   goes on while this returns 0. */
static int drain_row_cb(const struct br_ledger_due *row, void *ctx)
{
	struct br_router *r = ctx;

	r->drain_rows++;
	free(r->due_cursor_user);
	free(r->due_cursor_mailbox);
	r->due_cursor_user = xstrdup(row->user);
	r->due_cursor_mailbox = xstrdup(row->mailbox);
	/* With presence known, only users who are online now: the others
	   get their summary when they come online. */
	if (r->presence_known && !online(ut_hash_get(r->users, row->user)))
		return 0;
	return start_row(r, row) < 0 ? 1 : 0;
}

void br_due__drain(struct br_router *r)
{
	if (r->closing || r->draining || r->d.imap == NULL ||
	    uv_now(r->d.loop) < r->imap_paused_until ||
	    r->scan_count >= SCANS_MAX)
		return;
	/* scan_free() inside would come back here: once is enough. */
	r->draining = true;
	br_router__turn(r);
	if (!drain_walks(r) || !r->presence_settled) {
		r->draining = false;
		return;
	}
	size_t limit =
	    r->presence_known ? SKIM_ROWS : SCANS_MAX - r->scan_count;
	r->drain_rows = 0;
	br_ledger_due_next(r->d.ledger, r->due_cursor_user,
			   r->due_cursor_mailbox, (int64_t)time(NULL), limit,
			   drain_row_cb, r);
	r->draining = false;
	if (r->drain_rows < limit && r->scan_count < SCANS_MAX) {
		/* The end of the due rows: the next drain starts over. */
		ut_free(&r->due_cursor_user);
		ut_free(&r->due_cursor_mailbox);
	}
}

static void drain_timer_cb(uv_timer_t *t)
{
	br_due__drain(t->data);
}

void br_due__start_all(struct br_router *r)
{
	if (r->d.imap == NULL)
		return;
	br_ledger_due_all(r->d.ledger);
}

void br_due__settled(struct br_router *r)
{
	if (r->presence_settled)
		return;
	r->presence_settled = true;
	if (r->d.imap != NULL && !r->closing)
		uv_timer_start(&r->drain_timer, drain_timer_cb, 0, DRAIN_MSECS);
}

void br_due__close(struct br_router *r)
{
	while (r->walk_count > 0)
		walk_pop(r);
	ut_free(&r->walks);
	r->walk_cap = 0;
}
