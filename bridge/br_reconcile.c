/*
 * Catching up over IMAP: what the events did not tell (tidingsd was down,
 * a datagram was lost, Dovecot did not know a UID) is found by scanning the
 * mailbox with the master user and notified like any other mail.
 *
 * Bounds. At most SCANS_MAX scans are alive at once (waiting for their
 * delay, queued in the IMAP pool or running). Work beyond that is not
 * lost: it is written to the ledger as a due mark on the mailbox
 * (br_ledger_due_set), and the drain starts due mailboxes as room frees,
 * walking the ledger with a cursor. The same due marks carry the startup
 * reconciliation (every known mailbox becomes due at start) and the retry
 * of a failed scan (due again after RETRY_SECS), so a restart loses none of
 * it. While IMAP fails for everyone (Dovecot down, wrong master password),
 * the drain pauses with a growing delay instead of failing thousands of
 * scans.
 *
 * A mailbox or user that no longer exists in Dovecot is forgotten: its
 * ledger rows are removed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_router_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define RETRY_SECS	 60
#define PAUSE_MIN_MSECS	 2000
#define PAUSE_MAX_MSECS	 (5 * 60 * 1000)
#define QUEUE_FULL_MSECS 1000
#define GAP_KNOWN_MAX	 256

static void scan_closed_cb(uv_handle_t *h)
{
	struct br_scan *s = h->data;
	struct br_router *r = s->r;
	free(s->user);
	free(s->mailbox);
	free(s->key);
	free(s->prefix);
	free(s);
	br_router__handle_gone(r);
}

static void scan_free(struct br_scan *s)
{
	struct br_router *r = s->r;
	if (s->redo_from != 0 && !r->closing)
		br_ledger_due_set(r->d.ledger, s->user, s->mailbox,
				  s->redo_from, s->redo_after);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		r->scans = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (ut_hash_get(r->gaps, s->key) == s)
		ut_hash_remove(r->gaps, s->key);
	r->scan_count--;
	uv_close((uv_handle_t *)&s->timer, scan_closed_cb);
	br_due__drain(r);
}

static void scan_timer_cb(uv_timer_t *t)
{
	br_reconcile__scan_start(t->data);
}

/* A new live scan (the caller checked the bound). */
static struct br_scan *scan_new_any(struct br_router *r, enum scan_kind kind,
				    const char *user, const char *mailbox,
				    uint32_t uidvalidity, uint32_t from_uid,
				    uint32_t to_uid)
{
	struct br_scan *s = xcalloc(1, sizeof(*s));
	s->r = r;
	s->kind = kind;
	s->user = xstrdup(user);
	s->mailbox = xstrdup(mailbox);
	s->key = xasprintf("%s\n%s", user, mailbox);
	s->prefix = xasprintf("reconcile(%s/%s)", user, mailbox);
	s->uidvalidity = uidvalidity;
	s->from_uid = from_uid;
	s->to_uid = to_uid;
	uv_timer_init(r->d.loop, &s->timer);
	r->open_handles++;
	s->timer.data = s;
	r->scan_count++;
	s->next = r->scans;
	if (r->scans != NULL)
		r->scans->prev = s;
	r->scans = s;
	if (ut_log_enabled(UT_LOG_DEBUG))
		ut_log(UT_LOG_DEBUG, s->prefix,
		       "%s scan of UIDs %" PRIu32 " to %" PRIu32
		       " (0: the last)",
		       kind == SCAN_GAP	      ? "gap"
		       : kind == SCAN_FIRST   ? "first"
		       : kind == SCAN_SUMMARY ? "summary"
					      : "due",
		       from_uid, to_uid);
	return s;
}

struct br_scan *br_reconcile__scan_new(struct br_router *r, enum scan_kind kind,
				       const char *user, const char *mailbox,
				       uint32_t uidvalidity, uint32_t from_uid,
				       uint32_t to_uid)
{
	if (r->scan_count >= SCANS_MAX)
		return NULL;
	return scan_new_any(r, kind, user, mailbox, uidvalidity, from_uid,
			    to_uid);
}

struct br_scan *br_reconcile__live(const struct br_router *r, const char *key)
{
	for (struct br_scan *s = r->scans; s != NULL; s = s->next) {
		if (strcmp(s->key, key) == 0)
			return s;
	}
	return NULL;
}

/*
 * Too many scans alive: the ledger keeps the mailbox due instead. When a
 * scan of that mailbox is alive, the mark is set once it is done (it would
 * clear a mark set now).
 */
static void defer(struct br_router *r, const char *user, const char *mailbox,
		  uint32_t from_uid)
{
	char *key = xasprintf("%s\n%s", user, mailbox);
	struct br_scan *live = br_reconcile__live(r, key);
	free(key);
	if (from_uid == 0)
		from_uid = 1;
	if (live != NULL) {
		if (live->redo_from == 0 || from_uid < live->redo_from)
			live->redo_from = from_uid;
		return;
	}
	r->stats.scans_deferred++;
	br_router__ratelog(r, &r->scan_defer_log, UT_LOG_INFO, "reconcile",
			   "%d mailboxes are being reconciled, the most at "
			   "once; %s/%s waits in the ledger",
			   SCANS_MAX, user, mailbox);
	br_ledger_due_set(r->d.ledger, user, mailbox, from_uid, 0);
}

static void mail_from_imap(struct br_mail *m, const struct br_scan *s,
			   const struct ms_imap_msg *im)
{
	memset(m, 0, sizeof(*m));
	m->mailbox = s->mailbox;
	m->uidvalidity = s->uidvalidity;
	m->uid = im->uid;
	m->message_id = im->message_id;
	m->from_name = im->from_name;
	m->from_address = im->from_address;
	m->subject = im->subject;
	m->date = im->date;
}

/* Raises the mailbox's floor to uid, never above a mail still held. */
static void raise_floor(struct br_router *r, struct br_user *u,
			const char *mailbox, uint32_t uidvalidity, uint32_t uid)
{
	int found = 0;
	uint32_t known_uv = 0, last = 0;
	uint32_t held_min = br_router__held_uid(u, mailbox, uidvalidity, false);

	if (held_min != 0 && uid >= held_min)
		uid = held_min - 1;
	if (br_ledger_mailbox_get(r->d.ledger, u->key, mailbox, &found,
				  &known_uv, &last) < 0)
		return;
	if (found && known_uv == uidvalidity && last >= uid)
		return;
	br_ledger_mailbox_set(r->d.ledger, u->key, mailbox, uidvalidity, uid);
}

/*
 * A failed scan waits in the ledger (due again after RETRY_SECS), and the
 * drain pauses with a growing delay while scans keep failing (Dovecot
 * down, a wrong master password): failing thousands of logins helps
 * nobody. One success ends the pause.
 */
static void scan_failed(struct br_scan *s,
			const struct ms_imap_scan_result *res)
{
	struct br_router *r = s->r;
	const char *text = res->error_text != NULL ? res->error_text : "error";

	if (res->error == MS_IMAP_ERR_NO_USER) {
		r->stats.pruned++;
		br_router__ratelog(r, &r->prune_log, UT_LOG_INFO, s->prefix,
				   "Dovecot no longer knows %s: forgetting "
				   "their mailboxes",
				   s->user);
		br_ledger_user_remove(r->d.ledger, s->user);
		s->redo_from = 0;
		return;
	}
	if (res->error == MS_IMAP_ERR_NO_MAILBOX) {
		r->stats.pruned++;
		br_router__ratelog(r, &r->prune_log, UT_LOG_INFO, s->prefix,
				   "the mailbox no longer exists: forgetting "
				   "it");
		br_ledger_mailbox_remove(r->d.ledger, s->user, s->mailbox);
		s->redo_from = 0;
		return;
	}
	r->stats.reconcile_errors++;
	uint64_t d = r->imap_backoff_msecs * 2;
	d = d < PAUSE_MIN_MSECS	  ? PAUSE_MIN_MSECS
	    : d > PAUSE_MAX_MSECS ? PAUSE_MAX_MSECS
				  : d;
	r->imap_backoff_msecs = d;
	r->imap_paused_until = uv_now(r->d.loop) + d;
	br_router__ratelog(r, &r->scan_fail_log, UT_LOG_WARN, s->prefix,
			   "IMAP scan failed (%s): %s; tried again later",
			   ms_imap_error_name(res->error), text);
	if (s->redo_from == 0 || s->from_uid < s->redo_from)
		s->redo_from = s->from_uid > 0 ? s->from_uid : 1;
	s->redo_after = (int64_t)time(NULL) + RETRY_SECS;
}

/* A summary scan is done: unread and new counts, the new mails listed,
   recorded as notified, and the floor raised past them. */
static void summary_done(struct br_scan *s, struct br_user *u,
			 const struct ms_imap_scan_result *res)
{
	struct br_router *r = s->r;

	if (!s->silent && br_router__presence_known(u) &&
	    !br_router__online(u)) {
		/* Gone offline before it was ready: it would wait in offline
		   storage beside the next login's summary. Nothing recorded:
		   that one lists these mails again. */
		return;
	}
	struct br_mail **fresh = xcalloc(res->msg_count + 1, sizeof(*fresh));
	size_t n = 0;

	if (s->uidvalidity != 0 && res->uidvalidity != s->uidvalidity)
		s->uidvalidity = 0; /* a new mailbox: all of it is new */
	for (size_t i = res->msg_count; i-- > 0;) {
		/* Newest first, then put back in UID order below. */
		const struct ms_imap_msg *im = &res->msgs[i];
		struct br_mail m;
		if (im->seen)
			continue;
		mail_from_imap(&m, s, im);
		m.uidvalidity = res->uidvalidity;
		if (br_router__wanted(u, &m))
			fresh[n++] = br_mail_dup(&m);
	}
	for (size_t i = 0; i < n / 2; i++) {
		struct br_mail *t = fresh[i];
		fresh[i] = fresh[n - 1 - i];
		fresh[n - 1 - i] = t;
	}
	size_t unfetched = res->range_count > res->msg_count
			       ? res->range_count - res->msg_count
			       : 0;
	size_t total = n + unfetched;
	if (total > res->unseen)
		total = res->unseen > n ? res->unseen : n;
	if (!s->silent && (s->always || res->unseen > 0 || total > 0))
		br_router__send_summary(u, fresh, n, res->unseen, total);
	for (size_t i = 0; i < n; i++)
		br_mail_free(&fresh[i]);
	free(fresh);
	if (res->uidnext > 0)
		raise_floor(r, u, s->mailbox, res->uidvalidity,
			    res->uidnext - 1);
	br_ledger_due_clear(r->d.ledger, s->user, s->mailbox, s->from_uid);
}

static void scan_done_cb(const struct ms_imap_scan_result *res, void *ctx)
{
	struct br_scan *s = ctx;
	struct br_router *r = s->r;

	br_router__turn(r);
	s->running = false;
	if (res->error != MS_IMAP_OK) {
		scan_failed(s, res);
		scan_free(s);
		return;
	}
	r->stats.reconciles++;
	r->imap_backoff_msecs = 0;
	struct br_user *u = br_user__get(r, s->user);
	if (u == NULL) {
		scan_free(s);
		return;
	}
	if (s->kind == SCAN_SUMMARY) {
		summary_done(s, u, res);
		scan_free(s);
		return;
	}
	if (!br_router__deliverable(u) ||
	    (u->online_msecs != 0 && u->online_msecs >= s->queued_msecs &&
	     strcmp(s->mailbox, "INBOX") == 0)) {
		/* The user cannot take mail now (offline, held), or came
		   online while this ran (their login summary lists INBOX):
		   the mailbox stays due, and the summary says what came. */
		scan_free(s);
		return;
	}
	if (s->durable)
		br_ledger_due_clear(r->d.ledger, s->user, s->mailbox,
				    s->from_uid);
	if (s->uidvalidity != 0 && res->uidvalidity != s->uidvalidity) {
		ut_log(UT_LOG_INFO, s->prefix,
		       "UIDVALIDITY changed (%" PRIu32 " -> %" PRIu32
		       "): starting over at UID %" PRIu32,
		       s->uidvalidity, res->uidvalidity, res->uidnext);
		br_ledger_mailbox_set(r->d.ledger, s->user, s->mailbox,
				      res->uidvalidity,
				      res->uidnext > 0 ? res->uidnext - 1 : 0);
		scan_free(s);
		return;
	}
	s->uidvalidity = res->uidvalidity;

	/* Unseen mails not notified yet, oldest first. */
	struct br_mail **missed = xcalloc(res->msg_count + 1, sizeof(*missed));
	size_t n = 0;
	for (size_t i = 0; i < res->msg_count; i++) {
		const struct ms_imap_msg *im = &res->msgs[i];
		struct br_mail m;
		if (im->seen || im->uid < s->from_uid ||
		    (s->to_uid != 0 && im->uid > s->to_uid))
			continue;
		if (s->kind == SCAN_FIRST &&
		    (im->received != 0 ? im->received : im->date) <
			r->down_since)
			continue;
		mail_from_imap(&m, s, im);
		if (br_router__wanted(u, &m))
			missed[n++] = br_mail_dup(&m);
	}
	size_t unfetched = res->range_count > res->msg_count
			       ? res->range_count - res->msg_count
			       : 0;
	if (unfetched > res->unseen)
		unfetched = res->unseen;
	if (s->kind == SCAN_FIRST)
		unfetched = 0; /* older unseen mail is not news */
	if (n > 0 || unfetched > 0)
		ut_log(UT_LOG_INFO, s->prefix,
		       "found %zu unnotified mails (UID %" PRIu32 " and up)",
		       n + unfetched, s->from_uid);
	br_router__found(u, missed, n, unfetched);
	for (size_t i = 0; i < n; i++)
		br_mail_free(&missed[i]);
	free(missed);

	if ((s->kind != SCAN_GAP || s->to_uid == 0) && res->uidnext > 0)
		raise_floor(r, u, s->mailbox, res->uidvalidity,
			    res->uidnext - 1);
	scan_free(s);
}

/* Whether every UID of a small gap is known by now (held or notified). */
static bool gap_all_known(struct br_scan *s)
{
	struct br_router *r = s->r;
	if (s->to_uid == 0 || s->to_uid < s->from_uid ||
	    s->to_uid - s->from_uid >= GAP_KNOWN_MAX)
		return false;
	struct br_user *u = ut_hash_get(r->users, s->user);
	for (uint64_t uid = s->from_uid; uid <= s->to_uid; uid++) {
		struct br_mail m = {.mailbox = s->mailbox,
				    .uidvalidity = s->uidvalidity,
				    .uid = (uint32_t)uid};
		struct br_ledger_key key = {s->mailbox, s->uidvalidity,
					    (uint32_t)uid};
		int notified = 0;
		if (u != NULL && br_router__held_has(u, &m))
			continue;
		if (br_ledger_is_notified(r->d.ledger, s->user, &key,
					  &notified) < 0 ||
		    !notified)
			return false;
	}
	return true;
}

void br_reconcile__scan_start(struct br_scan *s)
{
	struct br_router *r = s->r;
	uint64_t now = uv_now(r->d.loop);

	if (r->closing || r->d.imap == NULL) {
		scan_free(s);
		return;
	}
	/* From now on, new gaps of this mailbox make a scan of their own. */
	if (ut_hash_get(r->gaps, s->key) == s)
		ut_hash_remove(r->gaps, s->key);
	if (s->kind == SCAN_GAP && gap_all_known(s)) {
		scan_free(s);
		return;
	}
	if (now < r->imap_paused_until) {
		uv_timer_start(&s->timer, scan_timer_cb,
			       r->imap_paused_until - now, 0);
		return;
	}
	if (ms_imap_scan(r->d.imap, s->user, s->mailbox, s->uidvalidity,
			 s->from_uid, s->to_uid, r->cfg->reconcile_list_max,
			 scan_done_cb, s) < 0) {
		/* The IMAP job queue is full: try again shortly. */
		r->stats.scans_deferred++;
		uv_timer_start(&s->timer, scan_timer_cb, QUEUE_FULL_MSECS, 0);
		return;
	}
	s->running = true;
	s->queued_msecs = now;
}

/*
 * Schedules (or widens) the reconciliation of a mailbox after gap_delay:
 * UIDs from_uid to to_uid, to_uid 0 meaning "up to the last".
 */
static void schedule_scan(struct br_router *r, struct br_user *u,
			  enum scan_kind kind, const char *mailbox,
			  uint32_t uidvalidity, uint32_t from_uid,
			  uint32_t to_uid)
{
	char *key = xasprintf("%s\n%s", u->key, mailbox);
	struct br_scan *s = ut_hash_get(r->gaps, key);
	if (s != NULL && s->kind == kind && s->uidvalidity == uidvalidity) {
		/* Still waiting: widen it. */
		if (from_uid < s->from_uid)
			s->from_uid = from_uid;
		if (to_uid == 0 || (s->to_uid != 0 && to_uid > s->to_uid))
			s->to_uid = to_uid;
	} else if ((s = br_reconcile__scan_new(r, kind, u->key, mailbox,
					       uidvalidity, from_uid,
					       to_uid)) == NULL) {
		defer(r, u->key, mailbox, from_uid);
	} else {
		if (ut_hash_get(r->gaps, key) == NULL)
			ut_hash_put(r->gaps, key, s);
		uv_timer_start(&s->timer, scan_timer_cb,
			       r->cfg->gap_delay_msecs, 0);
	}
	free(key);
}

void br_reconcile__check_gap(struct br_router *r, struct br_user *u,
			     const struct br_mail *m)
{
	int found = 0;
	uint32_t uv = 0, last = 0;

	if (r->d.imap == NULL || !br_router__deliverable(u) ||
	    br_ledger_mailbox_get(r->d.ledger, u->key, m->mailbox, &found, &uv,
				  &last) < 0 ||
	    !found || uv != m->uidvalidity)
		return;
	uint32_t held_max =
	    br_router__held_uid(u, m->mailbox, m->uidvalidity, true);
	if (held_max > last)
		last = held_max;
	/* 64 bits: last may be 2^32 - 1. */
	if ((uint64_t)m->uid > (uint64_t)last + 1)
		schedule_scan(r, u, SCAN_GAP, m->mailbox, m->uidvalidity,
			      last + 1, m->uid - 1);
}

void br_reconcile__check_tail(struct br_router *r, struct br_user *u)
{
	if (r->d.imap == NULL || !br_router__deliverable(u))
		return;
	for (size_t i = 0; i < u->held_count; i++) {
		const struct br_mail *m = u->held[i];
		uint32_t max =
		    br_router__held_uid(u, m->mailbox, m->uidvalidity, true);
		if (m->uid == max && max < UINT32_MAX)
			schedule_scan(r, u, SCAN_GAP, m->mailbox,
				      m->uidvalidity, max + 1, 0);
	}
}

void br_reconcile__check_first(struct br_router *r, struct br_user *u,
			       const char *mailbox, uint32_t before_uid)
{
	int found = 0;
	uint32_t uv = 0, last = 0;

	u->first_checked = true;
	if (r->d.imap == NULL || before_uid == 1 ||
	    br_ledger_mailbox_get(r->d.ledger, u->key, mailbox, &found, &uv,
				  &last) < 0 ||
	    found)
		return;
	struct br_scan *s =
	    br_reconcile__scan_new(r, SCAN_FIRST, u->key, mailbox, 0, 1,
				   before_uid == 0 ? 0 : before_uid - 1);
	if (s == NULL)
		defer(r, u->key, mailbox, 1);
	else
		br_reconcile__scan_start(s);
}

void br_reconcile__lookup_unknown(struct br_router *r, struct br_user *u,
				  const char *mailbox)
{
	int found = 0;
	uint32_t uv = 0, last = 0;

	if (r->d.imap == NULL || !br_router__deliverable(u) ||
	    br_ledger_mailbox_get(r->d.ledger, u->key, mailbox, &found, &uv,
				  &last) < 0)
		return;
	if (!found || uv == 0) {
		/* After the delay, Dovecot has the UID (SCAN_FIRST looks only
		   at mail delivered after tidingsd's last sign of life). */
		u->first_checked = true;
		schedule_scan(r, u, SCAN_FIRST, mailbox, 0, 1, 0);
		return;
	}
	uint32_t held_max = br_router__held_uid(u, mailbox, uv, true);
	if (held_max > last)
		last = held_max;
	if (last < UINT32_MAX)
		schedule_scan(r, u, SCAN_GAP, mailbox, uv, last + 1, 0);
}

/* Summary scans beyond SCANS_MAX: a login storm must not wait for the
   due marks, but stays bounded. */
#define SUMMARIES_EXTRA 4096

static void summary_scan(struct br_router *r, struct br_user *u, bool always,
			 bool silent)
{
	int found = 0;
	uint32_t uv = 0, last = 0;

	if (r->d.imap == NULL)
		return;
	char *key = xasprintf("%s\nINBOX", u->key);
	for (struct br_scan *s = r->scans; s != NULL; s = s->next) {
		if (s->kind == SCAN_SUMMARY && !s->running &&
		    strcmp(s->key, key) == 0) {
			/* One waiting already: it says what is wanted. */
			s->always = s->always || always;
			s->silent = s->silent && silent;
			free(key);
			return;
		}
	}
	free(key);
	if (r->scan_count >= SCANS_MAX + SUMMARIES_EXTRA) {
		br_router__ratelog(r, &r->scan_defer_log, UT_LOG_WARN,
				   u->prefix,
				   "too many summaries at once: none for now "
				   "(the next coming online or \"check\" "
				   "brings one)");
		return;
	}
	if (br_ledger_mailbox_get(r->d.ledger, u->key, "INBOX", &found, &uv,
				  &last) < 0)
		return;
	if (!found)
		uv = 0, last = 0;
	struct br_scan *s =
	    scan_new_any(r, SCAN_SUMMARY, u->key, "INBOX", uv,
			 last < UINT32_MAX ? last + 1 : last, 0);
	s->always = always;
	s->silent = silent;
	br_reconcile__scan_start(s);
}

void br_reconcile__summary(struct br_router *r, struct br_user *u, bool always)
{
	summary_scan(r, u, always, false);
}

void br_reconcile__skip_inbox(struct br_router *r, struct br_user *u)
{
	summary_scan(r, u, false, true);
}

void br_reconcile__close_all(struct br_router *r)
{
	r->closing = true;
	while (r->scans != NULL)
		scan_free(r->scans);
	ut_free(&r->due_cursor_user);
	ut_free(&r->due_cursor_mailbox);
}
