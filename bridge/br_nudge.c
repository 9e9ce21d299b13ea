/*
 * Nudges and read receipts (issue 8); see br_nudge.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "br_jidmap.h"
#include "br_nudge.h"
#include "br_nudge_private.h"
#include "br_nudge_text.h"
#include "br_nudgedb.h"
#include "br_settings.h"
#include "ms_addr.h"
#include "ut_log.h"
#include "ut_str.h"
#include "ut_xalloc.h"
#include "xm_privilege.h"
#include "xm_stanza.h"

/* One nudge round: a mail, its recipients, what happened to each. */
struct round {
	struct br_nudge *n;
	char *key, *bare;  /* the sender */
	char *sender_addr; /* the sender's address */
	char *message_id, *subject;
	int64_t date;
	size_t count;
	struct br_nudge_rcpt *out;    /* per recipient (strings below) */
	char **addrs, **keys, **jids; /* keys[i] NULL: not local */
	bool *due;		      /* still to be decided */
	uint32_t *uidvalidity, *uid;  /* the recipient's unseen copy; 0 */
	size_t pending;		      /* seen look-ups still running */
};

/* ---- sending ---- */

void br_nudge__send(struct br_nudge *n, xmpp_stanza_t *st)
{
	n->d.send(n->d.send_ctx, st);
	xmpp_stanza_release(st);
}

/* The user's settings now. */
void br_nudge__settings(struct br_nudge *n, const char *key,
			struct br_settings *s)
{
	br_settings_load(n->cfg, n->d.ledger, key, s);
}

/* `nudge NAME`: NAME is the address, its localpart, or the JID. */
static bool name_matches(const char *name, const char *address, const char *jid)
{
	const char *at = strrchr(address, '@');
	if (ut_ascii_caseeq(name, address) ||
	    (jid != NULL && ut_ascii_caseeq(name, jid)))
		return true;
	return at != NULL && strlen(name) == (size_t)(at - address) &&
	       strncasecmp(name, address, (size_t)(at - address)) == 0;
}

/* The offer to the sender: who received it, and whether they are online. */
static void offer(struct br_nudge *n, const char *key, const char *bare,
		  const struct br_nudgedb_sent *sent)
{
	size_t cap = sent->rcpt_count + 1, m = 0;
	struct br_nudge_rcpt *people = xcalloc(cap, sizeof(*people));
	char **keys = xcalloc(cap, sizeof(*keys));
	char **jids = xcalloc(cap, sizeof(*jids));
	char *sender = br_jidmap_key_address(n->cfg, key);

	for (size_t i = 0; i < sent->rcpt_count; i++) {
		if (ut_ascii_caseeq(sent->rcpts[i], sender))
			continue;
		people[m].address = sent->rcpts[i];
		if (br_jidmap_address(n->cfg, sent->rcpts[i], &keys[m],
				      &jids[m]) == 0) {
			people[m].jid = jids[m];
			if (n->d.online != NULL)
				people[m].presence = br_online_presence_full(
				    n->d.online, keys[m], jids[m]);
		}
		m++;
	}
	struct br_nudge_mail mail = {.sender = sender,
				     .subject = sent->subject,
				     .message_id = sent->message_id,
				     .sent = sent->date};
	if (m > 0)
		br_nudge__send(n,
			       br_nudge_text_offer(n->d.sctx, n->cfg->component,
						   bare, &mail, people, m));
	for (size_t i = 0; i < m; i++) {
		free(keys[i]);
		free(jids[i]);
	}
	free(keys);
	free(jids);
	free(people);
	free(sender);
}

/* ---- work items ---- */

struct work *br_nudge__work_new(struct br_nudge *n, enum work_kind kind,
				const char *key, const char *bare)
{
	if (n->work_count >= WORK_MAX) {
		log_warn("nudge: %zu look-ups waiting, dropping one for %s",
			 n->work_count, key);
		return NULL;
	}
	struct work *w = xcalloc(1, sizeof(*w));
	w->n = n;
	w->kind = kind;
	w->key = xstrdup(key);
	w->bare = xstrdup_null(bare);
	w->next = n->work;
	if (n->work != NULL)
		n->work->prev = w;
	n->work = w;
	n->work_count++;
	return w;
}

void br_nudge__work_free(struct work *w)
{
	struct br_nudge *n = w->n;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		n->work = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	n->work_count--;
	free(w->key);
	free(w->bare);
	free(w->skey);
	free(w->sjid);
	free(w->message_id);
	free(w->subject);
	free(w);
}

/* ---- rounds ---- */

static void round_free(struct round *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->addrs[i]);
		free(r->keys[i]);
		free(r->jids[i]);
	}
	free(r->addrs);
	free(r->keys);
	free(r->jids);
	free(r->due);
	free(r->uidvalidity);
	free(r->uid);
	free(r->out);
	free(r->key);
	free(r->bare);
	free(r->sender_addr);
	free(r->message_id);
	free(r->subject);
	free(r);
}

static struct br_nudge_mail round_mail(const struct round *r)
{
	return (struct br_nudge_mail){.sender = r->sender_addr,
				      .subject = r->subject,
				      .message_id = r->message_id,
				      .sent = r->date};
}

/* Sends the nudge to recipient i (the look-ups said it is due). */
static void round_send(struct round *r, size_t i)
{
	struct br_nudge *n = r->n;
	struct br_nudge_rcpt *o = &r->out[i];
	enum br_nudgedb_verdict v;

	if (br_nudgedb_nudge_try(n->db, r->key, r->addrs[i], r->message_id,
				 (int64_t)time(NULL), n->cfg->nudge_pair_limit,
				 &v) < 0) {
		o->outcome = BR_NUDGE_LIMIT; /* cannot count: do not send */
		return;
	}
	if (v != BR_NUDGEDB_ALLOWED) {
		o->outcome = v == BR_NUDGEDB_ALREADY ? BR_NUDGE_ALREADY_SENT
						     : BR_NUDGE_LIMIT;
		return;
	}
	const char *at = strrchr(r->bare, '@');
	enum xm_privilege_version version = XM_PRIVILEGE_V2;
	bool as_sender = at != NULL && n->d.online != NULL &&
			 br_online_can_send_as(n->d.online, at + 1, &version);
	struct br_nudge_mail mail = round_mail(r);
	xmpp_stanza_t *msg = br_nudge_text_nudge(
	    n->d.sctx, as_sender ? r->bare : n->cfg->component, r->jids[i],
	    &mail, !as_sender, (int64_t)time(NULL));
	xmpp_stanza_t *wrapped = NULL;
	if (as_sender &&
	    xm_privilege_message_new(n->d.sctx, version, msg, &wrapped) == 0) {
		xmpp_stanza_release(msg);
		msg = wrapped;
	}
	br_nudge__send(n, msg);
	o->outcome = BR_NUDGE_SENT;
	if (n->d.router != NULL && r->keys[i] != NULL && r->uid[i] != 0) {
		/* Claim 8: online and not told of it yet (held, muted): now. */
		struct br_mail m = {.mailbox = "INBOX",
				    .uidvalidity = r->uidvalidity[i],
				    .uid = r->uid[i],
				    .message_id = r->message_id,
				    .from_address = r->sender_addr,
				    .subject = r->subject,
				    .date = r->date};
		br_router_notify_now(n->d.router, r->keys[i], &m);
	}
	log_info("nudge(%s): nudged %s about %s%s", r->key, r->addrs[i],
		 r->message_id, as_sender ? "" : " (from the Mail contact)");
}

/* Every look-up is back: send what is due, tell the sender. */
static void round_finish(struct round *r)
{
	struct br_nudge *n = r->n;

	for (size_t i = 0; i < r->count; i++) {
		if (r->due[i])
			round_send(r, i);
	}
	struct br_nudge_mail mail = round_mail(r);
	br_nudge__send(n, br_nudge_text_report(n->d.sctx, n->cfg->component,
					       r->bare, &mail, r->out, r->count,
					       n->cfg->nudge_pair_limit));
	round_free(r);
}

static void seen_cb(const struct ms_imap_seen_result *res, void *ctx)
{
	struct work *w = ctx;
	struct round *r = w->round;

	if (res->error == MS_IMAP_OK && res->found && res->seen) {
		r->out[w->index].outcome = BR_NUDGE_ALREADY_READ;
		r->due[w->index] = false;
	} else if (res->error == MS_IMAP_OK && res->found) {
		r->uidvalidity[w->index] = res->uidvalidity;
		r->uid[w->index] = res->uid;
	}
	/* Not found, not seen, or the look-up failed: nudge anyway. */
	br_nudge__work_free(w);
	if (--r->pending == 0)
		round_finish(r);
}

/* Adds a recipient to the round (address, and key/JID when local). */
static size_t round_add(struct round *r, const char *addr, char *key, char *jid)
{
	size_t i = r->count++;
	r->addrs[i] = xstrdup(addr);
	r->keys[i] = key;
	r->jids[i] = jid;
	r->out[i] = (struct br_nudge_rcpt){.address = r->addrs[i],
					   .jid = key != NULL ? jid : NULL};
	return i;
}

/*
 * A round over the recipients of a sent mail (only the one matching name
 * when name is not NULL). Local recipients' copies are looked at first.
 */
static void round_start(struct br_nudge *n, const char *key, const char *bare,
			const struct br_nudgedb_sent *sent, const char *name)
{
	struct round *r = xcalloc(1, sizeof(*r));
	size_t cap = sent->rcpt_count + 1;

	r->n = n;
	r->key = xstrdup(key);
	r->bare = xstrdup(bare);
	r->sender_addr = br_jidmap_key_address(n->cfg, key);
	r->message_id = xstrdup(sent->message_id);
	r->subject = xstrdup_null(sent->subject);
	r->date = sent->date;
	r->out = xcalloc(cap, sizeof(*r->out));
	r->addrs = xcalloc(cap, sizeof(*r->addrs));
	r->keys = xcalloc(cap, sizeof(*r->keys));
	r->jids = xcalloc(cap, sizeof(*r->jids));
	r->due = xcalloc(cap, sizeof(*r->due));
	r->uidvalidity = xcalloc(cap, sizeof(*r->uidvalidity));
	r->uid = xcalloc(cap, sizeof(*r->uid));
	for (size_t k = 0; k < sent->rcpt_count; k++) {
		const char *addr = sent->rcpts[k];
		char *rkey = NULL, *rjid = NULL;
		bool local = br_jidmap_address(n->cfg, addr, &rkey, &rjid) == 0;
		if ((name != NULL && !name_matches(name, addr, rjid)) ||
		    (local && strcmp(rkey, key) == 0)) {
			/* Not asked for, or the sender themself. */
			free(rkey);
			free(rjid);
			continue;
		}
		/* Someone at another domain is nudged at the same address as
		   a JID (their XMPP account, if they have one). */
		if (!local)
			rjid = ut_ascii_lower_dup(addr, strlen(addr));
		size_t i = round_add(r, addr, local ? rkey : NULL, rjid);
		if (!local && !n->cfg->nudge_remote)
			r->out[i].outcome = BR_NUDGE_REMOTE;
		else
			r->due[i] = true;
	}
	if (r->count == 0 && name != NULL) {
		size_t i = round_add(r, name, NULL, NULL);
		r->out[i].outcome = BR_NUDGE_UNKNOWN;
	}
	for (size_t i = 0; i < r->count; i++) {
		if (!r->due[i] || r->keys[i] == NULL || n->d.imap == NULL)
			continue;
		struct work *w =
		    br_nudge__work_new(n, WORK_SEEN, r->keys[i], NULL);
		if (w == NULL)
			continue;
		w->round = r;
		w->index = i;
		if (ms_imap_seen_by_msgid(n->d.imap, r->keys[i], NULL,
					  r->message_id, seen_cb, w) < 0) {
			br_nudge__work_free(w);
			continue;
		}
		r->pending++;
	}
	if (r->pending == 0)
		round_finish(r);
}

void br_nudge_command(struct br_nudge *n, const char *key, const char *bare,
		      const char *name)
{
	struct br_nudgedb_sent *sent = NULL;

	if (br_nudgedb_sent_latest(n->db, key, &sent) < 0 || sent == NULL) {
		char *id = xm_id_new();
		xmpp_stanza_t *msg = xm_message_new(
		    n->d.sctx, "chat", n->cfg->component, bare, id);
		xm_message_set_body(msg, "I know of no mail you sent lately. "
					 "Nudges are for the recipients of the "
					 "latest mail your mail program saved "
					 "in Sent.");
		br_nudge__send(n, msg);
		free(id);
		return;
	}
	round_start(n, key, bare, sent, name);
	br_nudgedb_sent_free(&sent);
}

/* ---- sent mail ---- */

static void sent_headers_cb(const struct ms_imap_headers_result *res, void *ctx)
{
	struct work *w = ctx;
	struct br_nudge *n = w->n;
	const struct ms_imap_headers *h = &res->headers;

	if (res->error != MS_IMAP_OK || !res->found || h->message_id == NULL ||
	    h->to_count + h->cc_count == 0) {
		log_debug("nudge(%s): sent mail not read: %s", w->key,
			  ms_imap_error_name(res->error));
		br_nudge__work_free(w);
		return;
	}
	size_t n_rcpts = h->to_count + h->cc_count;
	const char **rcpts = xcalloc(n_rcpts, sizeof(*rcpts));
	for (size_t i = 0; i < h->to_count; i++)
		rcpts[i] = h->to[i];
	for (size_t i = 0; i < h->cc_count; i++)
		rcpts[h->to_count + i] = h->cc[i];
	int64_t now = (int64_t)time(NULL);
	int64_t date = h->date != 0 ? h->date : now;
	if (now - n->pruned_at >= 3600) {
		/* Old rows go at most once an hour, as sent mail comes. */
		br_nudgedb_prune(n->db, now);
		n->pruned_at = now;
	}
	br_nudgedb_sent_put(n->db, w->key, h->message_id, h->subject, date,
			    rcpts, n_rcpts, now);
	free(rcpts);

	struct br_settings s;
	br_nudge__settings(n, w->key, &s);
	int mode = (int)s.v[BR_SETTING_NUDGE];
	struct br_nudgedb_sent *sent = NULL;
	if (br_nudgedb_sent_get(n->db, w->key, h->message_id, &sent) == 0 &&
	    sent != NULL) {
		if (mode == BR_NUDGE_AUTO)
			round_start(n, w->key, w->bare, sent, NULL);
		else if (mode == BR_NUDGE_OFFER)
			offer(n, w->key, w->bare, sent);
		br_nudge__early_receipts(n, w->key, w->bare, sent);
	}
	br_nudgedb_sent_free(&sent);
	br_nudge__work_free(w);
}

/* ---- events ---- */

void br_nudge_event(struct br_nudge *n, const struct ms_event *ev)
{
	char *key = NULL, *bare = NULL;
	const char *why;

	if (n->d.imap == NULL || ev->uid == 0 ||
	    (ev->type != MS_EVENT_MESSAGE_APPEND &&
	     ev->type != MS_EVENT_MESSAGE_READ) ||
	    br_jidmap_user(n->cfg, ev->user, &key, &bare, &why) < 0)
		goto out;
	struct ms_imap_header_query q = {.mailbox = ev->mailbox,
					 .uidvalidity = ev->uidvalidity,
					 .uid = ev->uid};
	struct work *w = NULL;
	if (ev->type == MS_EVENT_MESSAGE_APPEND) {
		char *own = br_jidmap_key_address(n->cfg, key);
		/* From the user, not a draft, not INBOX; the IMAP look-up
		   checks that the mailbox is their \Sent one. */
		bool sent = strcasecmp(ev->mailbox, "INBOX") != 0 &&
			    (ev->flags & MS_FLAG_DRAFT) == 0 &&
			    ev->from_address != NULL &&
			    ut_ascii_caseeq(ev->from_address, own);
		free(own);
		if (!sent ||
		    (w = br_nudge__work_new(n, WORK_SENT, key, bare)) == NULL)
			goto out;
		q.sent_only = true;
		if (ms_imap_headers(n->d.imap, key, &q, sent_headers_cb, w) < 0)
			br_nudge__work_free(w);
	} else {
		if (strcasecmp(ev->mailbox, "INBOX") != 0 ||
		    (w = br_nudge__work_new(n, WORK_READ, key, bare)) == NULL)
			goto out;
		if (ms_imap_headers(n->d.imap, key, &q,
				    br_nudge__read_headers_cb, w) < 0)
			br_nudge__work_free(w);
	}
out:
	free(key);
	free(bare);
}

int br_nudge_new(const struct br_nudge_deps *deps, struct br_nudge **n_r,
		 char **error_r)
{
	struct br_nudge *n = xcalloc(1, sizeof(*n));

	n->d = *deps;
	n->cfg = deps->cfg;
	if (br_nudgedb_open(deps->cfg->state_dir, &n->db, error_r) < 0) {
		free(n);
		return -1;
	}
	uv_timer_init(deps->loop, &n->catchup);
	n->catchup.data = n;
	*n_r = n;
	return 0;
}

static void closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void br_nudge_close(struct br_nudge **np)
{
	struct br_nudge *n = *np;
	if (n == NULL)
		return;
	/* The IMAP pool is gone: no callback comes back. Rounds waiting on
	   look-ups are freed through their last work item. */
	while (n->work != NULL) {
		struct work *w = n->work;
		struct round *r = w->kind == WORK_SEEN ? w->round : NULL;
		br_nudge__work_free(w);
		if (r != NULL && --r->pending == 0)
			round_free(r);
	}
	br_nudgedb_close(&n->db);
	uv_close((uv_handle_t *)&n->catchup, closed_cb);
	*np = NULL;
}
