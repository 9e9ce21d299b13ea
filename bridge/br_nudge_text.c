/*
 * What users read about nudges and read receipts (br_nudge_text.h): pure
 * functions building the stanzas, no I/O.
 *
 * To the sender, from the Mail contact:
 *   Sent 'Q3 figures' to bob (online), carol (offline). Reply 'nudge' to
 *   remind them, or 'nudge bob'.
 *   Nudged bob and carol about 'Q3 figures'. dave has already read it.
 *   bob read 'Q3 figures' at 10:32 (UTC).
 * To a recipient, from the sender's bare JID or the Mail contact:
 *   alice@example.org asks you to check your mail: 'Q3 figures', sent at
 *   10:32 (UTC).
 *   On behalf of alice@example.org: please check your mail: 'Q3 figures',
 *   sent at 10:32 (UTC).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "br_notify.h"
#include "br_nudge_text.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

#define ADDRESS_MAX_BYTES 320
#define SUBJECT_MAX_BYTES 300
#define MSGID_MAX_BYTES	  500
#define NAME_MAX_BYTES	  100 /* a name typed after `nudge` */

/* Cleaned one-line text, xmalloc'ed ("" for NULL). */
static char *clean_line(const char *s, size_t max)
{
	return ut_utf8_clean_str(s, s != NULL ? strlen(s) : 0, UT_CLEAN_ONELINE,
				 max);
}

static xmpp_stanza_t *message_new(xmpp_ctx_t *ctx, const char *from,
				  const char *to, const struct ut_buf *text)
{
	char *id = xm_id_new();
	xmpp_stanza_t *msg = xm_message_new(ctx, "chat", from, to, id);
	xm_message_set_body(msg, ut_buf_str(text));
	free(id);
	return msg;
}

/* ---- times ---- */

static bool utc(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;
	return t > 0 && gmtime_r(&tt, tm) != NULL;
}

/* "2026-11-28T10:32:00Z", or "" when t is unknown. */
static void format_iso(int64_t t, char *out, size_t size)
{
	struct tm tm;
	if (!utc(t, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* " at 10:32 (UTC)", or " on 2026-11-27 at 10:32 (UTC)" when t is not on
   the day of now; nothing when t is unknown. */
static void append_when(struct ut_buf *b, int64_t t, int64_t now)
{
	struct tm tm, today;
	char day[16], hm[8];

	if (!utc(t, &tm) || strftime(hm, sizeof(hm), "%H:%M", &tm) == 0)
		return;
	if (!utc(now, &today) || today.tm_year != tm.tm_year ||
	    today.tm_yday != tm.tm_yday) {
		if (strftime(day, sizeof(day), "%Y-%m-%d", &tm) != 0)
			ut_buf_appendf(b, " on %s", day);
	}
	ut_buf_appendf(b, " at %s (UTC)", hm);
}

/* ---- the mail and its recipients ---- */

/* The cleaned parts of the mail. */
struct mail_parts {
	char *sender, *subject, *msgid;
};

static void mail_parts_init(struct mail_parts *p, const struct br_nudge_mail *m)
{
	p->sender = clean_line(m->sender, ADDRESS_MAX_BYTES);
	p->subject = clean_line(m->subject, SUBJECT_MAX_BYTES);
	p->msgid = clean_line(m->message_id, MSGID_MAX_BYTES);
}

static void mail_parts_free(struct mail_parts *p)
{
	free(p->sender);
	free(p->subject);
	free(p->msgid);
}

/* "'Q3 figures'" or "the mail without a subject". */
static void append_subject(struct ut_buf *b, const struct mail_parts *p)
{
	if (p->subject[0] != '\0')
		ut_buf_appendf(b, "'%s'", p->subject);
	else
		ut_buf_append_str(b, "the mail without a subject");
}

/* Length of the localpart of a (raw) address, 0 when it has none. */
static size_t localpart_len(const char *address)
{
	const char *at = address != NULL ? strrchr(address, '@') : NULL;
	return at != NULL ? (size_t)(at - address) : 0;
}

/* Whether another local recipient than rcpts[i] has the same localpart. */
static bool localpart_shared(const struct br_nudge_rcpt *rcpts, size_t n,
			     size_t i)
{
	size_t len = localpart_len(rcpts[i].address);
	for (size_t j = 0; j < n; j++) {
		if (j == i || rcpts[j].jid == NULL ||
		    localpart_len(rcpts[j].address) != len)
			continue;
		if (strncasecmp(rcpts[j].address, rcpts[i].address, len) == 0)
			return true;
	}
	return false;
}

/* How rcpts[i] is named in a text: the localpart of a local user's
   address (unless shared in the list), else the whole address. */
static void append_name(struct ut_buf *b, const struct br_nudge_rcpt *rcpts,
			size_t n, size_t i)
{
	const struct br_nudge_rcpt *r = &rcpts[i];
	size_t len = localpart_len(r->address);
	size_t max =
	    r->outcome == BR_NUDGE_UNKNOWN ? NAME_MAX_BYTES : ADDRESS_MAX_BYTES;
	size_t before = b->len;

	if (r->jid != NULL && r->outcome != BR_NUDGE_UNKNOWN && len > 0 &&
	    !localpart_shared(rcpts, n, i))
		ut_utf8_clean(r->address, len, UT_CLEAN_ONELINE, max, b);
	else if (r->address != NULL)
		ut_utf8_clean(r->address, strlen(r->address), UT_CLEAN_ONELINE,
			      max, b);
	if (b->len == before)
		ut_buf_append_str(b, "someone");
}

/* The indexes of the recipients with outcome o (all when o < 0), at most
   cap of them in idx; returns how many there are in all. */
static size_t select_rcpts(const struct br_nudge_rcpt *rcpts, size_t n, int o,
			   size_t *idx, size_t cap)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		if (o >= 0 && rcpts[i].outcome != (enum br_nudge_outcome)o)
			continue;
		if (count < cap)
			idx[count] = i;
		count++;
	}
	return count;
}

/* "bob, carol and dave" (and_last) or "bob, carol, dave", then " and K
   more" beyond BR_NUDGE_TEXT_NAMED; with presence words when asked. */
static void append_list(struct ut_buf *b, const struct br_nudge_rcpt *rcpts,
			size_t n, const size_t *idx, size_t count,
			bool and_last, bool presence)
{
	size_t shown =
	    count < BR_NUDGE_TEXT_NAMED ? count : BR_NUDGE_TEXT_NAMED;
	for (size_t k = 0; k < shown; k++) {
		if (k > 0)
			ut_buf_append_str(b, and_last && k == shown - 1 &&
						     shown == count
						 ? " and "
						 : ", ");
		append_name(b, rcpts, n, idx[k]);
		const char *word =
		    presence && rcpts[idx[k]].jid != NULL
			? br_presence_word(rcpts[idx[k]].presence)
			: NULL;
		if (word != NULL)
			ut_buf_appendf(b, " (%s)", word);
	}
	if (count > shown)
		ut_buf_appendf(b, " and %zu more", count - shown);
}

/* <name>address</name> with jid= when local; xm_elem_set_attr skips a
   NULL value. */
static xmpp_stanza_t *rcpt_elem(xmpp_stanza_t *parent, const char *name,
				const struct br_nudge_rcpt *r)
{
	char *addr = clean_line(r->address, ADDRESS_MAX_BYTES);
	xmpp_stanza_t *e = xm_elem_add_text_child(parent, name, addr);
	if (r->jid != NULL && r->outcome != BR_NUDGE_UNKNOWN) {
		char *jid = clean_line(r->jid, ADDRESS_MAX_BYTES);
		xm_elem_set_attr(e, "jid", jid);
		free(jid);
	}
	free(addr);
	return e;
}

/* <name xmlns=…><message-id/><subject/></name> */
static xmpp_stanza_t *mail_elem(xmpp_ctx_t *ctx, const char *name,
				const struct mail_parts *p)
{
	xmpp_stanza_t *e = xm_elem_new(ctx, name, BR_NS_MAIL);
	xm_elem_add_text_child(e, "message-id", p->msgid);
	xm_elem_add_text_child(e, "subject", p->subject);
	return e;
}

/* ---- the texts ---- */

xmpp_stanza_t *br_nudge_text_offer(xmpp_ctx_t *ctx, const char *from,
				   const char *to,
				   const struct br_nudge_mail *mail,
				   const struct br_nudge_rcpt *rcpts, size_t n)
{
	struct mail_parts p;
	struct ut_buf b = UT_BUF_INIT;
	size_t idx[BR_NUDGE_TEXT_NAMED];
	char num[24];

	mail_parts_init(&p, mail);
	size_t count = select_rcpts(rcpts, n, -1, idx, BR_NUDGE_TEXT_NAMED);
	ut_buf_append_str(&b, "Sent ");
	append_subject(&b, &p);
	if (count > 0) {
		ut_buf_append_str(&b, " to ");
		append_list(&b, rcpts, n, idx, count, false, true);
		ut_buf_append_str(&b, ". Reply 'nudge' to remind ");
		if (count == 1) {
			append_name(&b, rcpts, n, 0);
			ut_buf_append_c(&b, '.');
		} else {
			/* The example names a local recipient if any. */
			size_t ex = 0;
			while (ex < n && rcpts[ex].jid == NULL)
				ex++;
			ut_buf_append_str(&b, "them, or 'nudge ");
			append_name(&b, rcpts, n, ex < n ? ex : 0);
			ut_buf_append_str(&b, "'.");
		}
	} else {
		ut_buf_append_c(&b, '.');
	}

	xmpp_stanza_t *msg = message_new(ctx, from, to, &b);
	xmpp_stanza_t *e = mail_elem(ctx, "sent-mail", &p);
	snprintf(num, sizeof(num), "%zu", n);
	xm_elem_set_attr(e, "count", num);
	for (size_t i = 0; i < n && i < BR_NUDGE_TEXT_LISTED; i++) {
		xmpp_stanza_t *r = rcpt_elem(e, "rcpt", &rcpts[i]);
		if (rcpts[i].jid != NULL)
			xm_elem_set_attr(r, "presence",
					 br_presence_word(rcpts[i].presence));
	}
	xm_elem_adopt(msg, e);
	mail_parts_free(&p);
	ut_buf_free(&b);
	return msg;
}

xmpp_stanza_t *br_nudge_text_nudge(xmpp_ctx_t *ctx, const char *from,
				   const char *to,
				   const struct br_nudge_mail *mail,
				   bool on_behalf, int64_t now)
{
	struct mail_parts p;
	struct ut_buf b = UT_BUF_INIT;
	char iso[32];

	mail_parts_init(&p, mail);
	const char *who = p.sender[0] != '\0' ? p.sender : "someone";
	if (on_behalf)
		ut_buf_appendf(
		    &b, "On behalf of %s: please check your mail: ", who);
	else
		ut_buf_appendf(&b, "%s asks you to check your mail: ", who);
	append_subject(&b, &p);
	if (mail->sent > 0) {
		ut_buf_append_str(&b, ", sent");
		append_when(&b, mail->sent, now);
	}
	ut_buf_append_c(&b, '.');

	xmpp_stanza_t *msg = message_new(ctx, from, to, &b);
	xmpp_stanza_t *e = mail_elem(ctx, "nudge", &p);
	format_iso(mail->sent, iso, sizeof(iso));
	if (iso[0] != '\0')
		xm_elem_set_attr(e, "sent", iso);
	xm_elem_add_text_child(e, "sender", p.sender);
	xm_elem_adopt(msg, e);
	mail_parts_free(&p);
	ut_buf_free(&b);
	return msg;
}

const char *br_nudge_outcome_word(enum br_nudge_outcome o)
{
	switch (o) {
	case BR_NUDGE_SENT:
		return "sent";
	case BR_NUDGE_ALREADY_READ:
		return "read";
	case BR_NUDGE_ALREADY_SENT:
		return "already";
	case BR_NUDGE_LIMIT:
		return "limit";
	case BR_NUDGE_REMOTE:
		return "remote";
	case BR_NUDGE_UNKNOWN:
	default:
		return "unknown";
	}
}

/* The report's sentences: each appends one (with a leading space when not
   the first) for the recipients of its outcome, if any. */
struct report {
	struct ut_buf *b;
	const struct br_nudge_rcpt *rcpts;
	size_t n;
	const struct mail_parts *p;
	bool mail_named; /* an earlier sentence named the mail: "it" */
};

static size_t report_start(struct report *r, enum br_nudge_outcome o,
			   size_t *idx)
{
	size_t count =
	    select_rcpts(r->rcpts, r->n, (int)o, idx, BR_NUDGE_TEXT_NAMED);
	if (count > 0 && r->b->len > 0)
		ut_buf_append_c(r->b, ' ');
	return count;
}

static void report_list(struct report *r, const size_t *idx, size_t count)
{
	append_list(r->b, r->rcpts, r->n, idx, count, true, false);
}

/* "'Q3 figures'" the first time, "it" after. */
static void report_mail(struct report *r)
{
	if (r->mail_named) {
		ut_buf_append_str(r->b, "it");
		return;
	}
	append_subject(r->b, r->p);
	r->mail_named = true;
}

static void report_not_nudged(struct report *r, unsigned pair_limit)
{
	size_t idx[BR_NUDGE_TEXT_NAMED];
	size_t limit = select_rcpts(r->rcpts, r->n, BR_NUDGE_LIMIT, idx, 0);
	size_t remote = select_rcpts(r->rcpts, r->n, BR_NUDGE_REMOTE, idx, 0);

	if (limit == 0 && remote == 0)
		return;
	if (r->b->len > 0)
		ut_buf_append_c(r->b, ' ');
	ut_buf_append_str(r->b, "Not nudged");
	if (!r->mail_named) {
		ut_buf_append_str(r->b, " about ");
		report_mail(r);
	}
	ut_buf_append_str(r->b, ": ");
	if (limit > 0) {
		select_rcpts(r->rcpts, r->n, BR_NUDGE_LIMIT, idx,
			     BR_NUDGE_TEXT_NAMED);
		report_list(r, idx, limit);
		ut_buf_appendf(r->b, " (the limit of %u an hour for ",
			       pair_limit);
		if (limit == 1)
			append_name(r->b, r->rcpts, r->n, idx[0]);
		else
			ut_buf_append_str(r->b, "each");
		ut_buf_append_c(r->b, ')');
	}
	if (remote > 0) {
		if (limit > 0)
			ut_buf_append_str(r->b, "; ");
		select_rcpts(r->rcpts, r->n, BR_NUDGE_REMOTE, idx,
			     BR_NUDGE_TEXT_NAMED);
		report_list(r, idx, remote);
		ut_buf_append_str(r->b, " (only people here can be nudged)");
	}
	ut_buf_append_c(r->b, '.');
}

xmpp_stanza_t *br_nudge_text_report(xmpp_ctx_t *ctx, const char *from,
				    const char *to,
				    const struct br_nudge_mail *mail,
				    const struct br_nudge_rcpt *rcpts, size_t n,
				    unsigned pair_limit)
{
	struct mail_parts p;
	struct ut_buf b = UT_BUF_INIT;
	size_t idx[BR_NUDGE_TEXT_NAMED], count;

	mail_parts_init(&p, mail);
	struct report r = {.b = &b, .rcpts = rcpts, .n = n, .p = &p};
	if ((count = report_start(&r, BR_NUDGE_SENT, idx)) > 0) {
		ut_buf_append_str(&b, "Nudged ");
		report_list(&r, idx, count);
		ut_buf_append_str(&b, " about ");
		report_mail(&r);
		ut_buf_append_c(&b, '.');
	}
	if ((count = report_start(&r, BR_NUDGE_ALREADY_READ, idx)) > 0) {
		report_list(&r, idx, count);
		ut_buf_append_str(&b, count == 1 ? " has already read "
						 : " have already read ");
		report_mail(&r);
		ut_buf_append_c(&b, '.');
	}
	if ((count = report_start(&r, BR_NUDGE_ALREADY_SENT, idx)) > 0) {
		report_list(&r, idx, count);
		ut_buf_append_str(&b, count == 1
					  ? " was already nudged about "
					  : " were already nudged about ");
		report_mail(&r);
		ut_buf_append_c(&b, '.');
	}
	report_not_nudged(&r, pair_limit);
	if ((count = report_start(&r, BR_NUDGE_UNKNOWN, idx)) > 0) {
		report_list(&r, idx, count);
		ut_buf_append_str(&b, count == 1 ? " is not a recipient of "
						 : " are not recipients of ");
		append_subject(&b, &p);
		ut_buf_append_c(&b, '.');
	}
	if (b.len == 0) {
		ut_buf_append_str(&b, "Nobody to nudge about ");
		append_subject(&b, &p);
		ut_buf_append_c(&b, '.');
	}

	xmpp_stanza_t *msg = message_new(ctx, from, to, &b);
	xmpp_stanza_t *e = mail_elem(ctx, "nudged", &p);
	for (size_t i = 0; i < n && i < BR_NUDGE_TEXT_LISTED; i++) {
		xmpp_stanza_t *re = rcpt_elem(e, "rcpt", &rcpts[i]);
		xm_elem_set_attr(re, "outcome",
				 br_nudge_outcome_word(rcpts[i].outcome));
	}
	xm_elem_adopt(msg, e);
	mail_parts_free(&p);
	ut_buf_free(&b);
	return msg;
}

xmpp_stanza_t *br_nudge_text_read(xmpp_ctx_t *ctx, const char *from,
				  const char *to,
				  const struct br_nudge_mail *mail,
				  const struct br_nudge_rcpt *reader,
				  int64_t at, int64_t now)
{
	struct mail_parts p;
	struct ut_buf b = UT_BUF_INIT;
	struct br_nudge_rcpt one = *reader;
	char iso[32];

	mail_parts_init(&p, mail);
	one.outcome = BR_NUDGE_SENT;
	append_name(&b, &one, 1, 0);
	ut_buf_append_str(&b, " read ");
	append_subject(&b, &p);
	append_when(&b, at, now);
	ut_buf_append_c(&b, '.');

	xmpp_stanza_t *msg = message_new(ctx, from, to, &b);
	xmpp_stanza_t *e = mail_elem(ctx, "read", &p);
	format_iso(at, iso, sizeof(iso));
	if (iso[0] != '\0')
		xm_elem_set_attr(e, "at", iso);
	char *addr = clean_line(reader->address, ADDRESS_MAX_BYTES);
	xm_elem_add_text_child(e, "reader", addr);
	free(addr);
	xm_elem_adopt(msg, e);
	mail_parts_free(&p);
	ut_buf_free(&b);
	return msg;
}
