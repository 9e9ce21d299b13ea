/*
 * The router: which mail event leads to which notification (see
 * br_router.h). This file holds the burst policy, the per-loop-turn ledger
 * batch and the public API; the user table is in br_user.c, catching up
 * over IMAP in br_reconcile.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "br_jidmap.h"
#include "br_notify.h"
#include "br_router.h"
#include "br_router_private.h"
#include "br_sender.h"
#include "ms_addr.h"
#include "ut_hash.h"
#include "ut_log.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

/* Mails kept in memory for one digest; beyond, they are only counted. */
#define HELD_MAX	     10000
#define PRUNE_INTERVAL_MSECS (3600 * 1000)
#define PRUNE_MAX_AGE_SECS   (30 * 24 * 3600)
/* Idle users are freed this often (at least once per burst window). */
#define SWEEP_MIN_MSECS	     1000
#define SWEEP_MAX_MSECS	     (60 * 1000)
#define RATELOG_MSECS	     (60 * 1000)
#define ALIVE_INTERVAL_MSECS (60 * 1000)

/* One of the router's handles is closed; the last one frees the router. */
void br_router__handle_gone(struct br_router *r)
{
	ut_assert(r->open_handles > 0);
	if (--r->open_handles == 0) {
		free(r->pending);
		free(r->confirms);
		ut_hash_free(&r->users);
		ut_hash_free(&r->gaps);
		free(r);
	}
}

void br_router__handle_closed_cb(uv_handle_t *h)
{
	br_router__handle_gone(h->data);
}

void br_router__ratelog(struct br_router *r, struct ut_ratelog *rl,
			enum ut_log_level level, const char *prefix,
			const char *fmt, ...)
{
	uint64_t now = uv_now(r->d.loop);
	va_list ap;

	if (!ut_ratelog_due(rl, now, RATELOG_MSECS))
		return;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	ut_ratelog_emit(rl, now, level, prefix, "%s", text);
	free(text);
}

static void batch_check_cb(uv_check_t *c);

#define REFILL_MAX 1024 /* stanzas taken from the ledger per loop turn */

static int refill_cb(uint64_t id, const char *jid, const char *xml, size_t len,
		     void *ctx)
{
	struct br_router *r = ctx;
	(void)jid;
	if (r->d.send(r->d.send_ctx, xml, len, id) < 0) {
		r->refill_stopped = true;
		return 1;
	}
	r->spill_after = id;
	r->refill_rows++;
	r->stats.resent++;
	return 0;
}

/*
 * Hands the XMPP side what the ledger's outbox holds beyond spill_after,
 * oldest first, as far as it has room: at start (what the last run left
 * unconfirmed) and whenever the XMPP outbox was full (batch_flush).
 */
static void refill(struct br_router *r)
{
	if (!r->spill || r->closing)
		return;
	size_t room = r->d.outbox_room != NULL ? r->d.outbox_room(r->d.send_ctx)
					       : REFILL_MAX;
	if (room == 0)
		return;
	size_t limit = room < REFILL_MAX ? room : REFILL_MAX;
	r->refill_rows = 0;
	r->refill_stopped = false;
	if (br_ledger_outbox_range(r->d.ledger, r->spill_after, limit,
				   refill_cb, r) < 0)
		return;
	if (!r->refill_stopped && r->refill_rows < limit)
		r->spill = false; /* caught up */
	else if (!r->refill_stopped)
		uv_check_start(&r->batch_check, batch_check_cb); /* more */
}

/*
 * Every ledger read and write of one loop turn happens in one transaction,
 * opened by the first router work of the turn and committed at its end
 * (batch_flush): a burst of events costs one commit and one round of file
 * locks instead of a few each.
 */
void br_router__turn(struct br_router *r)
{
	if (r->in_batch)
		return;
	r->in_batch = br_ledger_batch_begin(r->d.ledger) == 0;
	uv_check_start(&r->batch_check, batch_check_cb);
}

/*
 * Ends this loop turn's ledger transaction, then hands the notifications
 * it wrote to the XMPP side: nothing is sent before it is durable.
 */
static void batch_flush(struct br_router *r)
{
	size_t n = r->pending_count;

	uv_check_stop(&r->batch_check);
	if (n == 0 && r->confirm_count == 0 && !r->in_batch)
		return;
	br_router__turn(r);
	for (size_t i = 0; i < r->confirm_count; i++)
		br_ledger_confirm(r->d.ledger, r->confirms[i]);
	r->confirm_count = 0;
	/* A batch that did not end voids every outbox id it gave (the
	   ledger keeps the keys in memory): send with token 0. */
	bool durable = !r->in_batch || br_ledger_batch_end(r->d.ledger) == 0;
	r->in_batch = false;

	r->pending_count = 0;
	for (size_t i = 0; i < n; i++) {
		struct pending *p = &r->pending[i];
		uint64_t id = durable ? p->id : 0;
		/* While the ledger holds stanzas the XMPP side has no room
		   for, new ones wait behind them there (refill). */
		if (r->spill && id != 0) {
		} else if (r->d.send(r->d.send_ctx, p->xml, p->len, id) == 0) {
		} else if (id != 0) {
			r->spill = true;
			r->spill_after = id - 1;
			br_router__ratelog(r, &r->spill_log, UT_LOG_WARN,
					   "bridge",
					   "the XMPP outbox is full: "
					   "notifications wait in the ledger "
					   "and go out as it empties");
		} else {
			ut_log(UT_LOG_ERROR, "bridge",
			       "a notification for %s was neither written "
			       "nor queued (ledger and XMPP outbox full): "
			       "lost",
			       p->jid);
		}
		free(p->jid);
		free(p->xml);
	}
	refill(r);
}

static void batch_check_cb(uv_check_t *c)
{
	batch_flush(c->data);
}

/* Writes the notification to the ledger (this turn's transaction) and
   queues it for the XMPP side, at the end of the turn. */
static void deliver(struct br_user *u, xmpp_stanza_t *st,
		    const struct br_ledger_key *keys, size_t n)
{
	struct br_router *r = u->r;

	br_router__turn(r);
	if (r->pending_count == r->pending_cap) {
		r->pending_cap = r->pending_cap == 0 ? 64 : r->pending_cap * 2;
		r->pending = xreallocarray(r->pending, r->pending_cap,
					   sizeof(*r->pending));
	}
	struct pending *p = &r->pending[r->pending_count++];
	p->jid = xstrdup(u->jid);
	p->xml = xm_stanza_to_text(st, &p->len);
	if (br_ledger_commit(r->d.ledger, u->key, keys, n, u->jid, p->xml,
			     p->len, &p->id) < 0)
		p->id = 0; /* logged by the ledger; notify anyway */
}

void br_router__deliver(struct br_user *u, xmpp_stanza_t *st,
			const struct br_ledger_key *keys, size_t n)
{
	deliver(u, st, keys, n);
}

const char *br_presence_word(enum br_presence p)
{
	switch (p) {
	case BR_PRESENCE_ONLINE:
		return "online";
	case BR_PRESENCE_AWAY:
		return "away";
	case BR_PRESENCE_DND:
		return "busy";
	case BR_PRESENCE_OFFLINE:
		return "offline";
	case BR_PRESENCE_UNKNOWN:
	default:
		return NULL;
	}
}

/*
 * Anyone else, while mail from chat is on (issue 7): the sender's address
 * as a JID at the component (XEP-0106), so that the user can answer by
 * chatting to it. Not for an address that is not one (nothing to answer).
 */
static void annotate_address(struct br_router *r, struct br_mail *m)
{
	const char *why;

	if (r->cfg->smtp_host == NULL ||
	    ms_addr_validate(m->from_address, strlen(m->from_address), 0,
			     &why) < 0)
		return;
	m->sender_jid = br_jidmap_address_jid(r->cfg, m->from_address);
	m->sender_presence = NULL;
}

/*
 * A local sender gets their JID and presence named (claims 4, 5, 6): an
 * address of a served mail domain whose user tidings knows exists (in
 * memory now, or with a mailbox in the ledger), so that no JID is made up
 * for noreply@ or a mistyped address.
 */
static void annotate_sender(struct br_router *r, struct br_mail *m)
{
	char *key = NULL, *jid = NULL;
	int found = 0;
	uint32_t uv, last;

	if (m->sender_jid != NULL || m->from_address == NULL)
		return;
	if (br_jidmap_address(r->cfg, m->from_address, &key, &jid) < 0) {
		annotate_address(r, m);
		return;
	}
	const struct br_user *s = ut_hash_get(r->users, key);
	if (s == NULL && (br_ledger_mailbox_get(r->d.ledger, key, "INBOX",
						&found, &uv, &last) < 0 ||
			  !found)) {
		free(key);
		free(jid);
		annotate_address(r, m);
		return;
	}
	enum br_presence p = s != NULL ? s->presence
			     : r->presence_of != NULL
				 ? r->presence_of(r->presence_ctx, key)
				 : BR_PRESENCE_UNKNOWN;
	if (p == BR_PRESENCE_UNKNOWN && r->presence_known)
		p = BR_PRESENCE_OFFLINE;
	m->sender_jid = jid;
	m->sender_presence = br_presence_word(p);
	free(key);
}

static void send_single(struct br_user *u, const struct br_mail *mail)
{
	struct br_router *r = u->r;
	struct br_mail m = *mail;
	m.sender_jid = NULL;
	annotate_sender(r, &m);
	struct br_ledger_key key = {m.mailbox, m.uidvalidity, m.uid};
	xmpp_stanza_t *st = br_notify_single(r->d.sctx, r->cfg, u->jid, &m);
	free(m.sender_jid);
	deliver(u, st, &key, 1);
	r->stats.singles++;
	ut_log(UT_LOG_INFO, u->prefix,
	       "notified %s uid %" PRIu32 " (single, id %s)", m.mailbox, m.uid,
	       xmpp_stanza_get_id(st));
	xmpp_stanza_release(st);
}

static void send_digest(struct br_user *u, struct br_mail *const *mails,
			size_t n, size_t total)
{
	struct br_router *r = u->r;
	struct br_ledger_key *keys = xcalloc(n == 0 ? 1 : n, sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		keys[i].mailbox = mails[i]->mailbox;
		keys[i].uidvalidity = mails[i]->uidvalidity;
		keys[i].uid = mails[i]->uid;
		annotate_sender(r, mails[i]);
	}
	xmpp_stanza_t *st =
	    br_notify_digest(r->d.sctx, r->cfg, u->jid, mails, n, total);
	deliver(u, st, keys, n);
	free(keys);
	r->stats.digests++;
	r->stats.digest_mails += total;
	char *list = br_router__uids_text(mails, n);
	ut_log(UT_LOG_INFO, u->prefix,
	       "notified a digest of %zu mails: %s%s (id %s)", total, list,
	       total > n ? " and more" : "", xmpp_stanza_get_id(st));
	free(list);
	xmpp_stanza_release(st);
}

/* A summary records what it lists as notified, and does not touch the
   burst window: mail right after it is notified at once. */
void br_router__send_summary(struct br_user *u, struct br_mail *const *mails,
			     size_t n, size_t unread, size_t fresh)
{
	struct br_router *r = u->r;
	struct br_ledger_key *keys = xcalloc(n + 1, sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		keys[i].mailbox = mails[i]->mailbox;
		keys[i].uidvalidity = mails[i]->uidvalidity;
		keys[i].uid = mails[i]->uid;
		annotate_sender(r, mails[i]);
	}
	xmpp_stanza_t *st = br_notify_summary(r->d.sctx, r->cfg, u->jid, mails,
					      n, unread, fresh);
	deliver(u, st, keys, n);
	free(keys);
	r->stats.summaries++;
	u->missed = false;
	char *list = br_router__uids_text(mails, n);
	ut_log(UT_LOG_INFO, u->prefix,
	       "sent a summary: %zu unread, %zu new since last online; "
	       "listed %s (id %s)",
	       unread, fresh, list, xmpp_stanza_get_id(st));
	free(list);
	xmpp_stanza_release(st);
}

static bool same_mail(const struct br_mail *a, const char *mailbox,
		      uint32_t uidvalidity, uint32_t uid)
{
	return a->uid == uid && a->uidvalidity == uidvalidity &&
	       strcmp(a->mailbox, mailbox) == 0;
}

bool br_router__held_has(const struct br_user *u, const struct br_mail *m)
{
	for (size_t i = 0; i < u->held_count; i++) {
		if (same_mail(u->held[i], m->mailbox, m->uidvalidity, m->uid))
			return true;
	}
	return false;
}

uint32_t br_router__held_uid(const struct br_user *u, const char *mailbox,
			     uint32_t uidvalidity, bool highest)
{
	uint32_t best = 0;
	for (size_t i = 0; i < u->held_count; i++) {
		const struct br_mail *h = u->held[i];
		if (h->uidvalidity != uidvalidity ||
		    strcmp(h->mailbox, mailbox) != 0)
			continue;
		if (best == 0 || (highest ? h->uid > best : h->uid < best))
			best = h->uid;
	}
	return best;
}

static void user_timer_cb(uv_timer_t *t)
{
	br_router__flush(t->data);
}

static void hold(struct br_user *u, const struct br_mail *m, uint64_t now)
{
	struct br_router *r = u->r;
	if (u->held_count >= HELD_MAX) {
		u->held_extra++;
	} else {
		if (u->held_count == u->held_cap) {
			u->held_cap = u->held_cap == 0 ? 16 : u->held_cap * 2;
			u->held = xreallocarray(u->held, u->held_cap,
						sizeof(*u->held));
		}
		u->held[u->held_count++] = br_mail_dup(m);
	}
	if (ut_log_enabled(UT_LOG_DEBUG))
		ut_log(UT_LOG_DEBUG, u->prefix,
		       "held %s uid %" PRIu32 " for a digest (burst_max %u)",
		       m->mailbox, m->uid, r->cfg->burst_max);
	if (!uv_is_active((uv_handle_t *)&u->timer)) {
		uint64_t due =
		    u->window_start_msecs + r->cfg->burst_window_msecs;
		if (u->last_flush_msecs != 0 &&
		    u->last_flush_msecs + r->cfg->burst_window_msecs > due)
			due = u->last_flush_msecs + r->cfg->burst_window_msecs;
		uv_timer_start(&u->timer, user_timer_cb,
			       due > now ? due - now : 0, 0);
	}
}

static int mail_cmp(const void *a, const void *b)
{
	const struct br_mail *x = *(struct br_mail *const *)a;
	const struct br_mail *y = *(struct br_mail *const *)b;
	int c = strcmp(x->mailbox, y->mailbox);
	if (c != 0)
		return c;
	return x->uid < y->uid ? -1 : x->uid > y->uid ? 1 : 0;
}

void br_router__flush(struct br_user *u)
{
	struct br_router *r = u->r;
	size_t n = u->held_count, total = u->held_count + u->held_extra;

	uv_timer_stop(&u->timer);
	if (total == 0)
		return;
	if (total == 1) {
		send_single(u, u->held[0]);
	} else {
		/* Events and catch-ups arrive in any order; list by UID. */
		qsort(u->held, n, sizeof(*u->held), mail_cmp);
		send_digest(u, u->held, n, total);
		br_reconcile__check_tail(r, u);
	}
	for (size_t i = 0; i < n; i++)
		br_mail_free(&u->held[i]);
	u->held_count = 0;
	u->held_extra = 0;
	uint64_t now = uv_now(r->d.loop);
	u->last_flush_msecs = now;
	u->window_start_msecs = now;
	u->window_singles = r->cfg->burst_max;
}

/* One mail through the window: a single now, or held for the digest. */
static void notify_one(struct br_user *u, const struct br_mail *m, uint64_t now)
{
	struct br_router *r = u->r;
	uint64_t window = r->cfg->burst_window_msecs;

	if (now - u->window_start_msecs >= window) {
		u->window_start_msecs = now;
		u->window_singles = 0;
	}
	bool quiet_since_flush =
	    u->last_flush_msecs == 0 || now - u->last_flush_msecs >= window;
	if (u->window_singles < r->cfg->burst_max && quiet_since_flush) {
		u->window_singles++;
		send_single(u, m);
	} else {
		hold(u, m, now);
	}
}

bool br_router__presence_known(const struct br_user *u)
{
	return u->presence != BR_PRESENCE_UNKNOWN || u->r->presence_known;
}

static bool is_online(enum br_presence p)
{
	return p == BR_PRESENCE_ONLINE || p == BR_PRESENCE_AWAY ||
	       p == BR_PRESENCE_DND;
}

bool br_router__online(const struct br_user *u)
{
	return is_online(u->presence);
}

/* Online, in a presence the user's hold_when holds. */
static bool held_by_presence(const struct br_user *u)
{
	enum br_presence p = u->presence;
	int64_t hold = u->settings.v[BR_SETTING_HOLD_WHEN];
	return (hold == BR_HOLD_DND && p == BR_PRESENCE_DND) ||
	       (hold == BR_HOLD_AWAY &&
		(p == BR_PRESENCE_AWAY || p == BR_PRESENCE_DND));
}

/* Why br_router__deliverable() said no, for the log. */
static const char *undeliverable_why(const struct br_user *u)
{
	if (u->settings.v[BR_SETTING_NOTIFY] == 0)
		return "notify off";
	if (!is_online(u->presence))
		return "offline (the summary at login lists it)";
	return u->presence == BR_PRESENCE_DND
		   ? "held while busy (hold_when); a summary follows"
		   : "held while away (hold_when); a summary follows";
}

bool br_router__deliverable(struct br_user *u)
{
	if (u->settings.v[BR_SETTING_NOTIFY] == 0)
		return false;
	if (!br_router__presence_known(u))
		return true; /* as before presence */
	if (!is_online(u->presence))
		return false; /* the login summary's business */
	if (held_by_presence(u)) {
		u->missed = true; /* a summary when they are back */
		return false;
	}
	return true;
}

void br_router__found(struct br_user *u, struct br_mail *const *mails, size_t n,
		      size_t unfetched)
{
	struct br_router *r = u->r;
	uint64_t now = uv_now(r->d.loop);
	size_t total = n + unfetched;

	if (!br_router__deliverable(u)) {
		/* Not now: the summary will list them, from the floor. */
		r->stats.held += total;
		br_router__log_not_notified(u, mails, n, unfetched,
					    undeliverable_why(u));
		return;
	}
	if (u->held_count > 0 || u->held_extra > 0) {
		for (size_t i = 0; i < n; i++)
			hold(u, mails[i], now);
		u->held_extra += unfetched;
		return;
	}
	if (total > 1 && total > r->cfg->burst_max && n > 0) {
		/* Many at once: one summary now, then the window rule. */
		send_digest(u, mails, n, total);
		u->last_flush_msecs = now;
		return;
	}
	for (size_t i = 0; i < n; i++)
		notify_one(u, mails[i], now);
	if (unfetched > 0 && u->held_count > 0)
		u->held_extra += unfetched;
}

/* NULL when the mail still needs a notification, else why not. */
static const char *unwanted(struct br_user *u, const struct br_mail *m)
{
	struct br_router *r = u->r;
	struct br_ledger_key key = {m->mailbox, m->uidvalidity, m->uid};
	int notified = 0;

	if (m->message_id != NULL && strstr(m->message_id, ".tidings@") &&
	    m->from_address != NULL) {
		/* The user's own mail, written in chat: never notified to
		   them (no loops). */
		char *own = br_jidmap_key_address(r->cfg, u->key);
		bool is_own =
		    br_sender_is_own(own, m->message_id, m->from_address);
		free(own);
		if (is_own) {
			r->stats.duplicates++;
			return "the user's own mail, written in chat";
		}
	}
	if (br_router__held_has(u, m)) {
		r->stats.duplicates++;
		return "already held for a digest";
	}
	if (br_ledger_is_notified(r->d.ledger, u->key, &key, &notified) == 0 &&
	    notified) {
		r->stats.duplicates++;
		return "already notified";
	}
	return NULL;
}

bool br_router__wanted(struct br_user *u, const struct br_mail *m)
{
	return unwanted(u, m) == NULL;
}

/* ---- public ---- */

static void alive_timer_cb(uv_timer_t *t)
{
	struct br_router *r = t->data;
	br_ledger_meta_set(r->d.ledger, BR_LEDGER_META_ALIVE_AT,
			   (int64_t)time(NULL));
}

static void prune_timer_cb(uv_timer_t *t)
{
	struct br_router *r = t->data;
	br_ledger_prune(r->d.ledger, PRUNE_MAX_AGE_SECS);
}

/* Frees idle users; while ledger writes fail, tries them again (what was
   kept in memory is written as soon as the disk takes it). */
static void sweep_timer_cb(uv_timer_t *t)
{
	struct br_router *r = t->data;
	br_user__sweep(r, false);
	if (!r->in_batch)
		br_ledger_retry(r->d.ledger);
}

static void timer_init(struct br_router *r, uv_timer_t *t)
{
	uv_timer_init(r->d.loop, t);
	r->open_handles++;
	t->data = r;
}

struct br_router *br_router_new(const struct br_router_deps *deps)
{
	struct br_router *r = xcalloc(1, sizeof(*r));
	r->d = *deps;
	r->cfg = deps->cfg;
	r->users = ut_hash_new();
	r->gaps = ut_hash_new();
	timer_init(r, &r->prune_timer);
	timer_init(r, &r->alive_timer);
	timer_init(r, &r->sweep_timer);
	timer_init(r, &r->drain_timer);
	uv_check_init(r->d.loop, &r->batch_check);
	r->open_handles++;
	r->batch_check.data = r;

	/* Mail delivered after the last sign of life was not seen live. */
	int found = 0;
	int64_t alive_at = 0, now = (int64_t)time(NULL);
	if (br_ledger_meta_get(r->d.ledger, BR_LEDGER_META_ALIVE_AT, &found,
			       &alive_at) < 0 ||
	    !found || alive_at > now)
		alive_at = now;
	r->down_since = alive_at;
	/* A brand-new ledger: nothing was missed, no catch-up on presence. */
	r->fresh_ledger = !found;
	return r;
}

void br_router_start(struct br_router *r)
{
	/* What the last run left unconfirmed goes out first. */
	r->spill = true;
	r->spill_after = 0;
	refill(r);
	if (r->stats.resent > 0)
		log_info("resent %" PRIu64
			 " notifications the ledger had not seen confirmed%s",
			 r->stats.resent,
			 r->spill ? " (more follow as the XMPP outbox empties)"
				  : "");
	br_due__start_all(r);
	uv_timer_start(&r->prune_timer, prune_timer_cb, 60 * 1000,
		       PRUNE_INTERVAL_MSECS);
	uv_timer_start(&r->alive_timer, alive_timer_cb, 0,
		       ALIVE_INTERVAL_MSECS);
	uint64_t sweep = r->cfg->burst_window_msecs;
	sweep = sweep < SWEEP_MIN_MSECS	  ? SWEEP_MIN_MSECS
		: sweep > SWEEP_MAX_MSECS ? SWEEP_MAX_MSECS
					  : sweep;
	uv_timer_start(&r->sweep_timer, sweep_timer_cb, sweep, sweep);
}

void br_router_event(struct br_router *r, struct ms_event *ev)
{
	r->stats.events++;
	br_router__turn(r);
	if (ev->type != MS_EVENT_MESSAGE_NEW) {
		ms_event_free(&ev);
		return;
	}
	if (!br_config_mailbox_notified(r->cfg, ev->mailbox)) {
		/* Debug only: every mail filed into Junk or Sent would be
		   an info line, and none of them is a notification. */
		if (ut_log_enabled(UT_LOG_DEBUG)) {
			char *prefix = xasprintf("bridge(%s)", ev->user);
			ut_log(UT_LOG_DEBUG, prefix,
			       "not notified %s uid %" PRIu32
			       ": not one of [notify] mailboxes",
			       ev->mailbox, ev->uid);
			free(prefix);
		}
		ms_event_free(&ev);
		return;
	}
	struct br_user *u = br_user__get(r, ev->user);
	if (u == NULL) {
		ms_event_free(&ev);
		return;
	}
	if (ev->uid == 0) {
		/* Dovecot did not know the UID: look the mail up over IMAP. */
		br_reconcile__lookup_unknown(r, u, ev->mailbox);
		ms_event_free(&ev);
		return;
	}
	struct br_mail m = {
	    .mailbox = ev->mailbox,
	    .uidvalidity = ev->uidvalidity,
	    .uid = ev->uid,
	    .message_id = ev->message_id,
	    .from_name = ev->from_name,
	    .from_address = ev->from_address,
	    .subject = ev->subject,
	    .snippet = ev->snippet,
	    .date = ev->date,
	};
	struct br_mail *found = &m;
	/* Offline or held: their summary will list what came, so no IMAP
	   work now (a first check or gap scan would be thrown away, and
	   redone at every mail). */
	bool now = br_router__deliverable(u);
	if (now && !u->first_checked)
		br_reconcile__check_first(r, u, ev->mailbox, ev->uid);
	const char *why = unwanted(u, &m);
	if (why == NULL) {
		if (now)
			br_reconcile__check_gap(r, u, &m);
		br_router__found(u, &found, 1, 0);
	} else {
		br_router__log_not_notified(u, &found, 1, 0, why);
	}
	ms_event_free(&ev);
}

/* The served user of a bare JID, created if needed; NULL if none. */
static struct br_user *user_of_jid(struct br_router *r, const char *bare_jid)
{
	char *key = NULL;
	if (br_jidmap_jid(r->cfg, bare_jid, &key) < 0)
		return NULL;
	struct br_user *u = br_user__get(r, key);
	free(key);
	return u;
}

void br_router_presence(struct br_router *r, const char *bare_jid,
			enum br_presence presence)
{
	struct br_user *u = user_of_jid(r, bare_jid);
	if (u == NULL || presence == u->presence)
		return;
	enum br_presence was = u->presence;
	br_router__turn(r);
	u->presence = presence;
	if (!is_online(presence))
		return;
	if (is_online(was)) {
		/* Another show: back from a held presence after mail came
		   is one summary of what was held. */
		if (u->missed && !held_by_presence(u)) {
			u->missed = false;
			br_reconcile__summary(r, u, false);
		}
		return;
	}
	if (!r->presence_settled ||
	    (was == BR_PRESENCE_UNKNOWN && !r->presence_known)) {
		/* Online as tidingsd starts (or as the component connects
		   for the first time), or not known to have been offline
		   (what came meanwhile was notified as it came): not coming
		   online. Catch up what came while tidingsd was down, as for
		   anyone before presence, but this user first. */
		if (!r->fresh_ledger && !u->first_checked)
			br_reconcile__check_first(r, u, "INBOX", 0);
		br_due__walk_user(r, u, false);
		return;
	}
	/* Coming online: one summary of INBOX instead of what came while
	   offline (or, without summary_on_login, nothing: the floor moves
	   past it), then the user's other due mailboxes. */
	u->missed = false;
	u->online_msecs = uv_now(r->d.loop);
	if (u->settings.v[BR_SETTING_SUMMARY_ON_LOGIN] == 0) {
		ut_log(UT_LOG_INFO, u->prefix,
		       "no summary at login: summary_on_login off");
		br_reconcile__skip_inbox(r, u);
	} else if (held_by_presence(u))
		u->missed = true; /* when they are back */
	else
		br_reconcile__summary(r, u, false);
	br_due__walk_user(r, u, true);
}

void br_router_presence_known(struct br_router *r, bool known)
{
	r->presence_known = known;
}

void br_router_presence_source(struct br_router *r, br_router_presence_fn fn,
			       void *ctx)
{
	r->presence_of = fn;
	r->presence_ctx = ctx;
}

void br_router_presence_settled(struct br_router *r)
{
	br_due__settled(r);
}

void br_router_settings_changed(struct br_router *r, const char *key)
{
	struct br_user *u = ut_hash_get(r->users, key);
	if (u != NULL)
		br_settings_load(r->cfg, r->d.ledger, key, &u->settings);
}

int br_router_summary(struct br_router *r, const char *bare_jid)
{
	struct br_user *u = user_of_jid(r, bare_jid);
	if (u == NULL)
		return -1;
	br_router__turn(r);
	br_reconcile__summary(r, u, true);
	return 0;
}

void br_router_notify_now(struct br_router *r, const char *key,
			  const struct br_mail *m)
{
	br_router__turn(r);
	struct br_user *u = br_user__get(r, key);
	/* Offline: their summary at login lists it. Notified already, or
	   in the digest being collected (it goes out within the window):
	   nothing more. */
	if (u == NULL ||
	    (br_router__presence_known(u) && !br_router__online(u)) ||
	    !br_router__wanted(u, m))
		return;
	send_single(u, m);
}

void br_router_confirmed(struct br_router *r, uint64_t token)
{
	if (token == 0)
		return;
	if (r->confirm_count == r->confirm_cap) {
		r->confirm_cap = r->confirm_cap == 0 ? 256 : r->confirm_cap * 2;
		r->confirms = xreallocarray(r->confirms, r->confirm_cap,
					    sizeof(*r->confirms));
	}
	r->confirms[r->confirm_count++] = token;
	br_router__turn(r);
}

void br_router_get_stats(const struct br_router *r,
			 struct br_router_stats *stats_r)
{
	*stats_r = r->stats;
	stats_r->users = ut_hash_count(r->users);
	stats_r->scans = r->scan_count;
}

void br_router_flush_all(struct br_router *r)
{
	struct ut_hash_iter it;
	const char *key;
	void *value;
	ut_hash_iter_init(&it, r->users);
	while (ut_hash_iter_next(&it, &key, &value))
		br_router__flush(value);
	batch_flush(r);
}

void br_router_close(struct br_router **rp)
{
	struct br_router *r = *rp;
	if (r == NULL)
		return;
	*rp = NULL;
	r->closing = true;
	batch_flush(r);
	uv_close((uv_handle_t *)&r->batch_check, br_router__handle_closed_cb);
	br_user__sweep(r, true);
	br_reconcile__close_all(r);
	br_due__close(r);
	uv_close((uv_handle_t *)&r->prune_timer, br_router__handle_closed_cb);
	uv_close((uv_handle_t *)&r->sweep_timer, br_router__handle_closed_cb);
	uv_close((uv_handle_t *)&r->drain_timer, br_router__handle_closed_cb);
	br_ledger_meta_set(r->d.ledger, BR_LEDGER_META_ALIVE_AT,
			   (int64_t)time(NULL));
	uv_close((uv_handle_t *)&r->alive_timer, br_router__handle_closed_cb);
}
