/*
 * Read receipts (issue 8): a MessageRead of a mail a local user sent, a
 * recipient who read it before tidings knew it was sent, and the catch-up
 * at start for reads missed while tidingsd was down. See br_nudge.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_jidmap.h"
#include "br_nudge.h"
#include "br_nudge_private.h"
#include "br_nudge_text.h"
#include "br_nudgedb.h"
#include "br_settings.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* At start, sent mails of the last day are looked at again for reads
   tidings missed while it was down, CATCHUP_ROWS a second. */
#define CATCHUP_SECS  86400
#define CATCHUP_ROWS  10
#define CATCHUP_MSECS 1000

/* ---- read receipts ---- */

/* Tells the sender (skey, sjid) that reader_key read the mail, once. */
static void receipt(struct br_nudge *n, const char *skey, const char *sjid,
		    const char *reader_key, const char *reader_jid,
		    const char *message_id, const char *subject, int64_t date,
		    int64_t at)
{
	struct br_settings ss, rs;
	char *reader = br_jidmap_key_address(n->cfg, reader_key);
	char *sender = br_jidmap_key_address(n->cfg, skey);
	int64_t now = (int64_t)time(NULL);
	bool first = false;

	br_nudge__settings(n, skey, &ss);
	br_nudge__settings(n, reader_key, &rs);
	if (ss.v[BR_SETTING_RECEIPTS] && rs.v[BR_SETTING_SHARE_READ] &&
	    br_nudgedb_receipt_once(n->db, skey, reader, message_id, now,
				    &first) == 0 &&
	    first) {
		struct br_nudge_mail mail = {.sender = sender,
					     .subject = subject,
					     .message_id = message_id,
					     .sent = date};
		struct br_nudge_rcpt who = {.address = reader,
					    .jid = reader_jid};
		br_nudge__send(n,
			       br_nudge_text_read(n->d.sctx, n->cfg->component,
						  sjid, &mail, &who, at, now));
		log_info("nudge(%s): told %s that %s read %s", reader_key, skey,
			 reader, message_id);
	}
	free(reader);
	free(sender);
}

/* A recipient's copy, looked at when the sent copy came: read already. */
static void early_cb(const struct ms_imap_seen_result *res, void *ctx)
{
	struct work *w = ctx;

	if (res->error == MS_IMAP_OK && res->found && res->seen)
		receipt(w->n, w->skey, w->sjid, w->key, w->bare, w->message_id,
			w->subject, w->date, 0);
	br_nudge__work_free(w);
}

/* Recipients who read the mail before tidings knew it was sent (their
   MessageRead came first) get their receipt told now, without a time. */
void br_nudge__early_receipts(struct br_nudge *n, const char *skey,
			      const char *sjid,
			      const struct br_nudgedb_sent *sent)
{
	struct br_settings ss;

	br_nudge__settings(n, skey, &ss);
	if (!ss.v[BR_SETTING_RECEIPTS])
		return;
	for (size_t i = 0; i < sent->rcpt_count; i++) {
		char *rkey = NULL, *rjid = NULL;
		struct br_settings rs;
		struct work *w;

		if (br_jidmap_address(n->cfg, sent->rcpts[i], &rkey, &rjid) <
			0 ||
		    strcmp(rkey, skey) == 0)
			goto next;
		/* A reader who shares nothing costs no IMAP look-up. */
		br_nudge__settings(n, rkey, &rs);
		if (!rs.v[BR_SETTING_SHARE_READ] ||
		    (w = br_nudge__work_new(n, WORK_EARLY, rkey, rjid)) == NULL)
			goto next;
		w->skey = xstrdup(skey);
		w->sjid = xstrdup(sjid);
		w->message_id = xstrdup(sent->message_id);
		w->subject = xstrdup_null(sent->subject);
		w->date = sent->date;
		if (ms_imap_seen_by_msgid(n->d.imap, rkey, NULL,
					  sent->message_id, early_cb, w) < 0)
			br_nudge__work_free(w);
	next:
		free(rkey);
		free(rjid);
	}
}

/* ---- read ---- */

void br_nudge__read_headers_cb(const struct ms_imap_headers_result *res,
			       void *ctx)
{
	struct work *w = ctx;
	struct br_nudge *n = w->n;
	const struct ms_imap_headers *h = &res->headers;
	char *skey = NULL, *sjid = NULL;
	struct br_nudgedb_sent *sent = NULL;

	/* Only a mail the sender is known to have sent (their Sent copy):
	   a forged From gets no receipt. */
	if (res->error == MS_IMAP_OK && res->found && h->message_id != NULL &&
	    h->from_address != NULL &&
	    br_jidmap_address(n->cfg, h->from_address, &skey, &sjid) == 0 &&
	    strcmp(skey, w->key) != 0 &&
	    br_nudgedb_sent_get(n->db, skey, h->message_id, &sent) == 0 &&
	    sent != NULL)
		receipt(n, skey, sjid, w->key, w->bare, sent->message_id,
			sent->subject, sent->date, (int64_t)time(NULL));
	br_nudgedb_sent_free(&sent);
	free(skey);
	free(sjid);
	br_nudge__work_free(w);
}

/* ---- catching up at start ---- */

static int catchup_row_cb(struct br_nudgedb_sent *row, void *ctx)
{
	struct br_nudge *n = ctx;
	char *key = NULL, *jid = NULL;
	const char *why;

	if (br_jidmap_user(n->cfg, row->user, &key, &jid, &why) == 0)
		br_nudge__early_receipts(n, key, jid, row);
	free(key);
	free(jid);
	return 0;
}

static void catchup_cb(uv_timer_t *t)
{
	struct br_nudge *n = t->data;

	if (n->work_count > WORK_MAX / 2)
		return; /* the next tick */
	int got =
	    br_nudgedb_sent_recent(n->db, n->catchup_since, &n->catchup_cursor,
				   CATCHUP_ROWS, catchup_row_cb, n);
	if (got < CATCHUP_ROWS)
		uv_timer_stop(t);
}

void br_nudge_start(struct br_nudge *n)
{
	if (n->d.imap == NULL)
		return;
	n->catchup_since = (int64_t)time(NULL) - CATCHUP_SECS;
	uv_timer_start(&n->catchup, catchup_cb, CATCHUP_MSECS, CATCHUP_MSECS);
}
