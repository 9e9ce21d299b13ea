/*
 * Catching up over IMAP: what the events did not tell (tidingsd was down,
 * a datagram was lost, Dovecot did not know a UID) is found by scanning the
 * mailbox with the master user and notified like any other mail.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "br_router_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* A failed startup reconciliation is tried again this often. */
#define RECONCILE_RETRY_MSECS 30000
#define RECONCILE_ATTEMPTS    5

static void scan_start(struct br_scan *s);

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
}

static void scan_timer_cb(uv_timer_t *t)
{
	scan_start(t->data);
}

static struct br_scan *scan_new(struct br_router *r, enum scan_kind kind,
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
	s->timer.data = s;
	r->open_handles++;
	r->scan_count++;
	s->next = r->scans;
	if (r->scans != NULL)
		r->scans->prev = s;
	r->scans = s;
	return s;
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

static void scan_done_cb(const struct ms_imap_scan_result *res, void *ctx)
{
	struct br_scan *s = ctx;
	struct br_router *r = s->r;
	const char *prefix = s->prefix;

	br_router__turn(r);
	if (res->error != 0) {
		r->stats.reconcile_errors++;
		bool retry = s->kind == SCAN_START &&
			     s->attempts < RECONCILE_ATTEMPTS && !r->closing;
		ut_log(UT_LOG_WARN, prefix, "IMAP scan failed: %s%s",
		       res->error_text != NULL ? res->error_text : "error",
		       retry ? " (will retry)" : "");
		if (retry)
			uv_timer_start(&s->timer, scan_timer_cb,
				       RECONCILE_RETRY_MSECS, 0);
		else
			scan_free(s);
		return;
	}
	r->stats.reconciles++;
	struct br_user *u = br_user__get(r, s->user);
	if (u == NULL) {
		scan_free(s);
		return;
	}

	if (s->uidvalidity != 0 && res->uidvalidity != s->uidvalidity) {
		ut_log(UT_LOG_INFO, prefix,
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
		ut_log(UT_LOG_INFO, prefix,
		       "found %zu unnotified mails (UID %" PRIu32 "..%" PRIu32
		       ")",
		       n + unfetched, s->from_uid,
		       s->to_uid != 0 ? s->to_uid : res->uidnext - 1);

	br_router__found(u, missed, n, unfetched);
	for (size_t i = 0; i < n; i++)
		br_mail_free(&missed[i]);
	free(missed);

	if ((s->kind == SCAN_START || s->to_uid == 0) && res->uidnext > 0)
		raise_floor(r, u, s->mailbox, res->uidvalidity,
			    res->uidnext - 1);
	scan_free(s);
}

static void scan_start(struct br_scan *s)
{
	struct br_router *r = s->r;
	if (r->closing || r->d.imap == NULL) {
		scan_free(s);
		return;
	}
	/* From now on, new gaps of this mailbox make a scan of their own. */
	if (ut_hash_get(r->gaps, s->key) == s)
		ut_hash_remove(r->gaps, s->key);
	if (s->kind == SCAN_GAP) {
		/* Whatever arrived meanwhile needs no IMAP round trip. */
		struct br_user *u = br_user__get(r, s->user);
		bool all_known =
		    s->to_uid != 0 && s->to_uid - s->from_uid < 256;
		for (uint32_t uid = s->from_uid; all_known && uid <= s->to_uid;
		     uid++) {
			struct br_mail m = {.mailbox = s->mailbox,
					    .uidvalidity = s->uidvalidity,
					    .uid = uid};
			struct br_ledger_key key = {s->mailbox, s->uidvalidity,
						    uid};
			int notified = 0;
			if (u != NULL && br_router__held_has(u, &m))
				continue;
			if (br_ledger_is_notified(r->d.ledger, s->user, &key,
						  &notified) < 0 ||
			    !notified)
				all_known = false;
		}
		if (all_known) {
			scan_free(s);
			return;
		}
	}
	s->attempts++;
	ms_imap_scan(r->d.imap, s->user, s->mailbox, s->uidvalidity,
		     s->from_uid, s->to_uid, r->cfg->reconcile_list_max,
		     scan_done_cb, s);
}

/*
 * Schedules (or widens) the gap reconciliation of a mailbox: UIDs from_uid
 * to to_uid, to_uid 0 meaning "up to the last".
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
	} else {
		s = scan_new(r, kind, u->key, mailbox, uidvalidity, from_uid,
			     to_uid);
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

	if (r->d.imap == NULL ||
	    br_ledger_mailbox_get(r->d.ledger, u->key, m->mailbox, &found, &uv,
				  &last) < 0 ||
	    !found || uv != m->uidvalidity)
		return;
	uint32_t held_max =
	    br_router__held_uid(u, m->mailbox, m->uidvalidity, true);
	if (held_max > last)
		last = held_max;
	if (m->uid > last + 1)
		schedule_scan(r, u, SCAN_GAP, m->mailbox, m->uidvalidity,
			      last + 1, m->uid - 1);
}

/*
 * After a burst, look once more at what follows the last mail seen: the
 * kernel drops datagrams that do not fit the socket's queue
 * (net.unix.max_dgram_qlen), and a lost last event leaves no gap behind it.
 */
void br_reconcile__check_tail(struct br_router *r, struct br_user *u)
{
	if (r->d.imap == NULL)
		return;
	for (size_t i = 0; i < u->held_count; i++) {
		const struct br_mail *m = u->held[i];
		uint32_t max =
		    br_router__held_uid(u, m->mailbox, m->uidvalidity, true);
		if (m->uid == max)
			schedule_scan(r, u, SCAN_GAP, m->mailbox,
				      m->uidvalidity, max + 1, 0);
	}
}

/*
 * A mailbox the ledger has no row for, seen for the first time since this
 * start: look for what was delivered while tidingsd was down, among the
 * UIDs below before_uid (0: all of them).
 */
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
	scan_start(scan_new(r, SCAN_FIRST, u->key, mailbox, 0, 1,
			    before_uid == 0 ? 0 : before_uid - 1));
}

/* A new mail whose UID the event did not carry. */
void br_reconcile__lookup_unknown(struct br_router *r, struct br_user *u,
				  const char *mailbox)
{
	int found = 0;
	uint32_t uv = 0, last = 0;

	if (br_ledger_mailbox_get(r->d.ledger, u->key, mailbox, &found, &uv,
				  &last) < 0)
		return;
	if (!found) {
		/* After the delay, Dovecot has the UID (SCAN_FIRST looks only
		   at mail delivered after tidingsd's last sign of life). */
		u->first_checked = true;
		if (r->d.imap != NULL)
			schedule_scan(r, u, SCAN_FIRST, mailbox, 0, 1, 0);
		return;
	}
	uint32_t held_max = br_router__held_uid(u, mailbox, uv, true);
	if (held_max > last)
		last = held_max;
	if (r->d.imap != NULL)
		schedule_scan(r, u, SCAN_GAP, mailbox, uv, last + 1, 0);
}

void br_reconcile__start(struct br_router *r, const char *user,
			 const char *mailbox, uint32_t uidvalidity,
			 uint32_t last_uid)
{
	scan_start(scan_new(r, SCAN_START, user, mailbox, uidvalidity,
			    last_uid + 1, 0));
}

void br_reconcile__close_all(struct br_router *r)
{
	while (r->scans != NULL)
		scan_free(r->scans);
}
