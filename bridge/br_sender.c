/*
 * Mail written in chat: requests, the parent lookup, the queue, SMTP and
 * the Sent copy. See br_sender.h.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_jidmap.h"
#include "br_outq.h"
#include "br_sender.h"
#include "br_sender_text.h"
#include "ms_compose.h"
#include "ms_smtp.h"
#include "ut_buf.h"
#include "ut_log.h"
#include "ut_random.h"
#include "ut_str.h"
#include "ut_xalloc.h"

#define PREPARING_MAX	256 /* requests waiting for their parent's headers */
#define INFLIGHT_MAX	64  /* mails with the MTA or IMAP at once */
#define PUMP_MSECS	1000
#define RETRY_MIN_MSECS 2000
#define COPY_TRIES_MAX	5	/* Sent copies tried when IMAP fails for now */
#define DONE_KEEP_SECS	3600	/* rows kept for the send limit */
#define VERSION		"0.1.0" /* User-Agent: tidings/0.1.0 */
/* The most [mail] send_body_max may be (br_config_table.c): the SMTP
   pool's bound on a whole message is made from it, not from the value at
   start, which a reload may raise (the body's limit is checked before). */
#define SEND_BODY_MAX_LIMIT ((size_t)16 * 1024 * 1024)

/* A request waiting for its parent's headers. */
struct prep {
	struct br_sender *s;
	struct prep *prev, *next;
	char *user, *jid, *tell_from;
	struct ms_addr_list to, cc;
	char *subject, *body;
	size_t body_len;
	enum br_send_parent parent;
};

/* A queued mail being handed to the MTA (or copied to Sent). */
struct flight {
	struct br_sender *s;
	struct flight *prev, *next;
	struct br_outq_item *it;
	struct ms_smtp_job *job; /* while with the MTA */
};

struct br_sender {
	struct br_sender_deps d;
	const struct br_config *cfg;
	struct br_outq *q;
	struct ms_smtp_pool *smtp;
	struct prep *preps;
	size_t prep_count;
	struct flight *flights;
	size_t flight_count;
	uv_timer_t pump;
	bool started;
	unsigned ticks; /* of the pump: a prune every 10 minutes */
	struct br_sender_stats stats;
};

static int64_t now_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tell(struct br_sender *s, xmpp_stanza_t *msg)
{
	s->d.send(s->d.send_ctx, msg);
	xmpp_stanza_release(msg);
}

static void tell_not_sent(struct br_sender *s, const char *from, const char *to,
			  char *const *rcpts, size_t n, const char *reason,
			  const char *why)
{
	tell(s, br_sender_text_not_sent(s->d.sctx, from, to, rcpts, n, reason,
					why));
}

/* ---- the queue and the MTA ---- */

static void flight_start(struct br_sender *s, struct br_outq_item *it);

static void flight_end(struct flight *f)
{
	struct br_sender *s = f->s;
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		s->flights = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	s->flight_count--;
	br_outq_item_free(&f->it);
	free(f);
}

static bool in_flight(const struct br_sender *s, int64_t id)
{
	for (const struct flight *f = s->flights; f != NULL; f = f->next) {
		if (f->it->id == id)
			return true;
	}
	return false;
}

static void save(struct br_sender *s, struct br_outq_item *it)
{
	/* A failed write is logged; the row keeps its old state and is
	   tried again from there (at worst a second delivery after a
	   restart, never a lost mail). */
	br_outq_update(s->q, it);
}

static void copy_cb(const struct ms_imap_append_result *res, void *ctx)
{
	struct flight *f = ctx;
	struct br_sender *s = f->s;
	struct br_outq_item *it = f->it;

	if (res->error == MS_IMAP_OK) {
		s->stats.copied++;
		log_debug("sender(%s): copy of %s in %s", it->user,
			  it->message_id, res->mailbox);
		it->state = BR_OUTQ_DONE;
	} else if (res->error == MS_IMAP_ERR_TEMP &&
		   ++it->tries < COPY_TRIES_MAX) {
		it->next_try = now_msecs() + RETRY_MIN_MSECS * it->tries;
	} else {
		log_warn("sender(%s): no copy of %s in Sent: %s%s", it->user,
			 it->message_id, ms_imap_error_name(res->error),
			 res->error == MS_IMAP_ERR_NO_MAILBOX
			     ? " (the user has no \\Sent special-use mailbox)"
			     : "");
		it->state = BR_OUTQ_DONE;
	}
	save(s, it);
	flight_end(f);
}

/* The MTA took it: the copy to Sent (or done: without IMAP, or for
   recipients requeued after the copy was made). */
static void copy_start(struct flight *f)
{
	struct br_sender *s = f->s;
	struct br_outq_item *it = f->it;

	if (s->d.imap == NULL || (it->flags & BR_OUTQ_NO_COPY) != 0) {
		it->state = BR_OUTQ_DONE;
		save(s, it);
		flight_end(f);
	} else if (ms_imap_append_sent(s->d.imap, it->user, it->data,
				       it->data_len, it->created, copy_cb,
				       f) < 0) {
		/* The IMAP queue is full: later. */
		it->next_try = now_msecs() + RETRY_MIN_MSECS;
		save(s, it);
		flight_end(f);
	}
}

/* Recipients of res with status st, as a new array of the item's. */
static char **rcpts_with(const struct ms_smtp_result *res,
			 enum ms_smtp_status st, size_t *n_r)
{
	char **v = xcalloc(res->rcpt_count + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < res->rcpt_count; i++) {
		if (res->rcpts[i].status == st)
			v[n++] = res->rcpts[i].address;
	}
	*n_r = n;
	return v;
}

/* Some recipients refused for now while others were taken: a new row for
   them alone, retried like any. */
static void requeue_temp(struct br_sender *s, const struct br_outq_item *it,
			 char **rcpts, size_t n)
{
	struct br_outq_item copy = *it;
	int64_t id;

	copy.rcpts = rcpts;
	copy.rcpt_count = n;
	copy.state = BR_OUTQ_QUEUED;
	copy.tries = 1;
	copy.next_try = now_msecs() + RETRY_MIN_MSECS;
	copy.flags = BR_OUTQ_NO_COPY;
	br_outq_add(s->q, &copy, &id);
}

/* The wait after try number tries (1, 2, ...): 2 s doubling, capped. */
static int64_t backoff(const struct br_config *cfg, unsigned tries)
{
	uint64_t w = RETRY_MIN_MSECS;
	for (unsigned i = 1; i < tries && w < cfg->send_retry_max_msecs; i++)
		w *= 2;
	return (int64_t)(w < cfg->send_retry_max_msecs
			     ? w
			     : cfg->send_retry_max_msecs);
}

static void smtp_temp(struct flight *f, const struct ms_smtp_result *res)
{
	struct br_sender *s = f->s;
	struct br_outq_item *it = f->it;
	const char *why = res->text != NULL ? res->text
					    : "the mail server "
					      "is unavailable";

	s->stats.retries++;
	it->tries++;
	if (now_msecs() - it->created * 1000 >=
	    (int64_t)s->cfg->send_expire_msecs) {
		s->stats.failed++;
		it->state = BR_OUTQ_FAILED;
		log_info("sender(%s): %s expired after %u tries: %s", it->user,
			 it->message_id, it->tries, why);
		char *text = xasprintf("the mail server kept refusing it "
				       "(%s); I gave up",
				       why);
		tell_not_sent(s, it->tell_from, it->tell_to, it->rcpts,
			      it->rcpt_count, BR_NOT_SENT_EXPIRED, text);
		free(text);
	} else {
		it->next_try = now_msecs() + backoff(s->cfg, it->tries);
		log_debug("sender(%s): %s delayed (try %u): %s", it->user,
			  it->message_id, it->tries, why);
		if ((it->flags & BR_OUTQ_TOLD_DELAY) == 0) {
			it->flags |= BR_OUTQ_TOLD_DELAY;
			tell_not_sent(s, it->tell_from, it->tell_to, it->rcpts,
				      it->rcpt_count, BR_NOT_SENT_DELAYED, why);
		}
	}
	save(s, it);
	flight_end(f);
}

static void smtp_cb(const struct ms_smtp_result *res, void *ctx)
{
	struct flight *f = ctx;
	struct br_sender *s = f->s;
	struct br_outq_item *it = f->it;
	size_t n_ok, n_perm, n_temp;

	f->job = NULL;
	if (res->status == MS_SMTP_TEMP) {
		smtp_temp(f, res);
		return;
	}
	char **ok = rcpts_with(res, MS_SMTP_OK, &n_ok);
	char **perm = rcpts_with(res, MS_SMTP_PERM, &n_perm);
	char **temp = rcpts_with(res, MS_SMTP_TEMP, &n_temp);
	if (res->status == MS_SMTP_OK && n_ok > 0) {
		s->stats.sent++;
		log_info("sender(%s): %s sent to %zu recipient%s", it->user,
			 it->message_id, n_ok, n_ok == 1 ? "" : "s");
		tell(s, br_sender_text_sent(s->d.sctx, it->tell_from,
					    it->tell_to, ok, n_ok, it->subject,
					    it->message_id));
	}
	if (n_perm > 0 || res->status == MS_SMTP_PERM) {
		s->stats.failed++;
		const char *why = res->text;
		for (size_t i = 0; i < res->rcpt_count && why == NULL; i++) {
			if (res->rcpts[i].status == MS_SMTP_PERM)
				why = res->rcpts[i].text;
		}
		log_info("sender(%s): %s refused: %s", it->user, it->message_id,
			 why != NULL ? why : "(no reason)");
		tell_not_sent(s, it->tell_from, it->tell_to,
			      n_perm > 0 ? perm : it->rcpts,
			      n_perm > 0 ? n_perm : it->rcpt_count,
			      BR_NOT_SENT_REFUSED,
			      why != NULL ? why : "the mail server refused it");
	}
	if (res->status == MS_SMTP_OK && n_temp > 0)
		requeue_temp(s, it, temp, n_temp);
	free(ok);
	free(perm);
	free(temp);
	if (res->status == MS_SMTP_OK && n_ok > 0) {
		it->state = BR_OUTQ_SENT;
		it->tries = 0;
		save(s, it);
		copy_start(f);
		return;
	}
	it->state = BR_OUTQ_FAILED;
	save(s, it);
	flight_end(f);
}

static void flight_start(struct br_sender *s, struct br_outq_item *it)
{
	struct flight *f = xcalloc(1, sizeof(*f));
	char *error = NULL;

	f->s = s;
	f->it = it;
	f->next = s->flights;
	if (s->flights != NULL)
		s->flights->prev = f;
	s->flights = f;
	s->flight_count++;
	if (it->state == BR_OUTQ_SENT) {
		copy_start(f);
		return;
	}
	struct ms_smtp_msg m = {
	    .sender = it->sender,
	    .rcpts = (const char *const *)it->rcpts,
	    .rcpt_count = it->rcpt_count,
	    .data = it->data,
	    .data_len = it->data_len,
	};
	if (ms_smtp_submit(s->smtp, &m, smtp_cb, f, &f->job, &error) < 0) {
		/* The pool's queue is full: it stays due. */
		log_debug("sender(%s): %s waits: %s", it->user, it->message_id,
			  error);
		free(error);
		flight_end(f);
	}
}

static int due_cb(struct br_outq_item *it, void *ctx)
{
	struct br_sender *s = ctx;
	if (in_flight(s, it->id)) {
		br_outq_item_free(&it);
		return 0;
	}
	flight_start(s, it);
	return s->flight_count >= INFLIGHT_MAX;
}

static void pump(struct br_sender *s)
{
	if (!s->started || s->flight_count >= INFLIGHT_MAX)
		return;
	br_outq_due(s->q, now_msecs(), 0, 2 * INFLIGHT_MAX, due_cb, s);
}

static void pump_cb(uv_timer_t *t)
{
	struct br_sender *s = t->data;

	pump(s);
	if (++s->ticks % 600 == 0)
		br_outq_prune(s->q, now_msecs() / 1000 - DONE_KEEP_SECS);
}

/* ---- requests ---- */

/* What a mail is built from, once its parent (if any) is known. */
struct draft {
	const char *user, *jid, *tell_from;
	const struct ms_addr *to, *cc;
	size_t n_to, n_cc;
	const char *subject; /* final, may be NULL */
	const char *body;
	size_t body_len;
	const char *parent_id, *parent_refs; /* NULL: not a reply */
};

/* "<random.tidings@domain>" */
static char *message_id_new(const char *from_addr)
{
	const char *at = strrchr(from_addr, '@');
	uint64_t a = ut_random_u64(), b = ut_random_u64();
	return xasprintf("<%016" PRIx64 "%016" PRIx64 ".tidings@%s>", a, b,
			 at != NULL ? at + 1 : "localhost");
}

bool br_sender_is_own(const char *user_address, const char *message_id,
		      const char *from_address)
{
	const char *at = strrchr(user_address, '@');
	if (at == NULL || message_id == NULL || from_address == NULL ||
	    !ut_ascii_caseeq(user_address, from_address))
		return false;
	char *tail = xasprintf(".tidings@%s>", at + 1);
	size_t n = strlen(message_id), t = strlen(tail);
	bool own = n > t && ut_ascii_caseeq(message_id + n - t, tail);
	free(tail);
	return own;
}

/* Adds addr to v[0..*n) unless there already. */
static void rcpt_add(char ***v, size_t *n, const char *addr)
{
	for (size_t i = 0; i < *n; i++) {
		if (ms_addr_equal((*v)[i], addr))
			return;
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(addr);
}

/*
 * Builds the mail, queues it and starts it. Returns 0, or -1 with the
 * reason for <not-sent/> and the text for the user.
 */
static int draft_queue(struct br_sender *s, const struct draft *d,
		       const char **reason_r, char **why_r)
{
	char *from = br_jidmap_key_address(s->cfg, d->user);
	char *msgid = message_id_new(from);
	struct ut_buf data = UT_BUF_INIT;
	char *error = NULL;
	struct ms_compose c = {
	    .from_addr = from,
	    .to = d->to,
	    .n_to = d->n_to,
	    .cc = d->cc,
	    .n_cc = d->n_cc,
	    .subject = d->subject,
	    .body = d->body,
	    .body_len = d->body_len,
	    .body_max = (size_t)s->cfg->send_body_max,
	    .date = time(NULL),
	    .message_id = msgid,
	    .parent_message_id = d->parent_id,
	    .parent_references = d->parent_refs,
	    .jid = d->jid,
	    .version = VERSION,
	};
	if (ms_compose_build(&c, &data, NULL, &error) < 0) {
		*reason_r = BR_NOT_SENT_INVALID;
		*why_r = error;
		free(from);
		free(msgid);
		return -1;
	}
	struct br_outq_item *it = xcalloc(1, sizeof(*it));
	it->user = xstrdup(d->user);
	it->tell_to = xstrdup(d->jid);
	it->tell_from = xstrdup(d->tell_from);
	it->sender = from;
	for (size_t i = 0; i < d->n_to; i++)
		rcpt_add(&it->rcpts, &it->rcpt_count, d->to[i].addr);
	for (size_t i = 0; i < d->n_cc; i++)
		rcpt_add(&it->rcpts, &it->rcpt_count, d->cc[i].addr);
	it->subject = xstrdup(d->subject != NULL ? d->subject : "");
	it->message_id = msgid;
	it->data_len = data.len;
	it->data = ut_buf_steal(&data);
	it->created = time(NULL);
	it->next_try = now_msecs();
	it->state = BR_OUTQ_QUEUED;
	if (br_outq_add(s->q, it, &it->id) < 0) {
		br_outq_item_free(&it);
		*reason_r = BR_NOT_SENT_ERROR;
		*why_r = xstrdup("tidings cannot store it right now; please "
				 "try again later");
		return -1;
	}
	s->stats.requests++;
	log_info("sender(%s): %s queued for %zu recipient%s, %zu bytes",
		 it->user, it->message_id, it->rcpt_count,
		 it->rcpt_count == 1 ? "" : "s", it->data_len);
	if (s->started && s->flight_count < INFLIGHT_MAX)
		flight_start(s, it);
	else
		br_outq_item_free(&it);
	return 0;
}

static void prep_free(struct prep *p)
{
	struct br_sender *s = p->s;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		s->preps = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	s->prep_count--;
	free(p->user);
	free(p->jid);
	free(p->tell_from);
	ms_addr_list_clear(&p->to);
	ms_addr_list_clear(&p->cc);
	free(p->subject);
	free(p->body);
	free(p);
}

/* The draft of p; with a parent: its subject and ids, and for a reply to
   a mail its Reply-To or From as recipients (in *to_r, to clear). */
static void prep_draft(struct prep *p, const struct ms_imap_headers *h,
		       struct draft *d, struct ms_addr_list *to_r,
		       char **subject_r)
{
	*d = (struct draft){
	    .user = p->user,
	    .jid = p->jid,
	    .tell_from = p->tell_from,
	    .to = p->to.v,
	    .n_to = p->to.n,
	    .cc = p->cc.v,
	    .n_cc = p->cc.n,
	    .subject = p->subject,
	    .body = p->body,
	    .body_len = p->body_len,
	};
	*to_r = (struct ms_addr_list){0};
	*subject_r = NULL;
	if (h == NULL) {
		/* A new mail: the first line, or "Message from …" when that
		   is too short to say anything. */
		if (p->subject == NULL) {
			char *fallback = xasprintf("Message from %s", p->jid);
			*subject_r = ms_compose_subject_from_text(
			    p->body, p->body_len, fallback);
			d->subject = *subject_r;
			free(fallback);
		}
		return;
	}
	d->parent_id = h->message_id;
	d->parent_refs = h->references;
	if (p->subject == NULL) {
		*subject_r = ms_compose_reply_subject(h->subject);
		d->subject = *subject_r;
	}
	if (p->parent != BR_SEND_MAIL)
		return;
	/* Reply-To, else From. */
	size_t n = h->reply_to_count > 0 ? h->reply_to_count : 1;
	to_r->v = xcalloc(n, sizeof(*to_r->v));
	for (size_t i = 0; i < h->reply_to_count; i++)
		to_r->v[to_r->n++].addr = xstrdup(h->reply_to[i]);
	if (to_r->n == 0 && h->from_address != NULL)
		to_r->v[to_r->n++].addr = xstrdup(h->from_address);
	d->to = to_r->v;
	d->n_to = to_r->n;
}

static void prep_finish(struct prep *p, const struct ms_imap_headers *h)
{
	struct draft d;
	struct ms_addr_list to;
	char *subject, *why = NULL;
	const char *reason;

	prep_draft(p, h, &d, &to, &subject);
	if (d.n_to + d.n_cc == 0) {
		tell_not_sent(p->s, p->tell_from, p->jid, NULL, 0,
			      BR_NOT_SENT_NOT_FOUND,
			      "that mail names nobody to answer");
	} else if (draft_queue(p->s, &d, &reason, &why) < 0) {
		tell_not_sent(p->s, p->tell_from, p->jid, NULL, 0, reason, why);
		p->s->stats.refused++;
		free(why);
	}
	ms_addr_list_clear(&to);
	free(subject);
	prep_free(p);
}

static void headers_cb(const struct ms_imap_headers_result *res, void *ctx)
{
	struct prep *p = ctx;
	const struct ms_imap_headers *h = &res->headers;
	bool usable = res->error == MS_IMAP_OK && res->found;

	if (p->parent == BR_SEND_CORRESPONDENT) {
		/* Nothing recent, or sent automatically: a new mail. */
		if (res->error != MS_IMAP_OK)
			log_debug("sender(%s): no thread lookup: %s", p->user,
				  ms_imap_error_name(res->error));
		prep_finish(p, usable && !h->automatic ? h : NULL);
		return;
	}
	if (!usable || h->automatic) {
		const char *reason = res->error != MS_IMAP_OK
					 ? BR_NOT_SENT_ERROR
				     : !res->found ? BR_NOT_SENT_NOT_FOUND
						   : BR_NOT_SENT_AUTOMATIC;
		const char *why =
		    res->error != MS_IMAP_OK
			? "I cannot read your mailbox right now; please try "
			  "again in a moment"
		    : !res->found ? "that mail is no longer in your mailbox"
				  : "that mail was sent automatically (a "
				    "bounce or an auto-reply); answering it "
				    "could start a mail loop";
		if (res->error == MS_IMAP_ERR_NO_MAILBOX) {
			reason = BR_NOT_SENT_NOT_FOUND;
			why = "that mail's folder is no longer there";
		}
		tell_not_sent(p->s, p->tell_from, p->jid, NULL, 0, reason, why);
		p->s->stats.refused++;
		prep_free(p);
		return;
	}
	prep_finish(p, h);
}

/* How many mails user sent or is sending in the last hour. */
static size_t sent_lately(struct br_sender *s, const char *user)
{
	size_t n = 0;
	br_outq_count_since(s->q, user, time(NULL) - 3600, &n);
	for (const struct prep *p = s->preps; p != NULL; p = p->next) {
		if (strcmp(p->user, user) == 0)
			n++;
	}
	return n;
}

static void copy_list(struct ms_addr_list *l, const struct ms_addr *v, size_t n)
{
	l->v = n > 0 ? xcalloc(n, sizeof(*l->v)) : NULL;
	l->n = n;
	for (size_t i = 0; i < n; i++) {
		l->v[i].addr = xstrdup(v[i].addr);
		l->v[i].display = xstrdup_null(v[i].display);
	}
}

int br_sender_submit(struct br_sender *s, const struct br_send_request *r,
		     const char **reason_r, char **refusal_r)
{
	size_t lately = sent_lately(s, r->user);

	if (lately >= s->cfg->send_limit) {
		s->stats.refused++;
		*reason_r = BR_NOT_SENT_LIMIT;
		*refusal_r = xasprintf(
		    "you have sent %zu mails in the last hour, the most "
		    "allowed here; please try again later",
		    lately);
		return -1;
	}
	if (r->body_len > s->cfg->send_body_max) {
		s->stats.refused++;
		*reason_r = BR_NOT_SENT_TOO_LARGE;
		*refusal_r = xasprintf("the text is too long for a mail here "
				       "(%zu bytes, at most %" PRIu64 ")",
				       r->body_len, s->cfg->send_body_max);
		return -1;
	}
	if (r->n_to + r->n_cc > MS_SMTP_RCPTS_MAX) {
		s->stats.refused++;
		*reason_r = BR_NOT_SENT_INVALID;
		*refusal_r = xasprintf("too many recipients (at most %d)",
				       MS_SMTP_RCPTS_MAX);
		return -1;
	}
	bool lookup = s->d.imap != NULL &&
		      (r->parent == BR_SEND_MAIL ||
		       (r->parent == BR_SEND_CORRESPONDENT && r->n_to > 0 &&
			s->cfg->reply_window_msecs > 0));
	if (r->parent == BR_SEND_MAIL && !lookup) {
		*reason_r = BR_NOT_SENT_ERROR;
		*refusal_r = xstrdup("replies to notifications need IMAP");
		return -1;
	}
	if (lookup && s->prep_count >= PREPARING_MAX &&
	    r->parent == BR_SEND_CORRESPONDENT) {
		/* Too many look-ups at once: the chat still goes out, as a
		   new mail rather than a reply. */
		log_debug("sender(%s): no thread look-up, %zu waiting", r->user,
			  s->prep_count);
		lookup = false;
	}
	if (lookup && s->prep_count >= PREPARING_MAX) {
		s->stats.refused++;
		*reason_r = BR_NOT_SENT_BUSY;
		*refusal_r = xstrdup("too many mails are being prepared right "
				     "now; please try again in a moment");
		return -1;
	}
	struct prep *p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->user = xstrdup(r->user);
	p->jid = xstrdup(r->jid);
	p->tell_from = xstrdup(r->tell_from);
	copy_list(&p->to, r->to, r->n_to);
	copy_list(&p->cc, r->cc, r->n_cc);
	p->subject = xstrdup_null(r->subject);
	p->body = xstrndup(r->body != NULL ? r->body : "", r->body_len);
	p->body_len = r->body_len;
	p->parent = r->parent;
	p->next = s->preps;
	if (s->preps != NULL)
		s->preps->prev = p;
	s->preps = p;
	s->prep_count++;
	if (!lookup) {
		prep_finish(p, NULL);
		return 0;
	}
	struct ms_imap_header_query q = {0};
	if (r->parent == BR_SEND_MAIL) {
		q.mailbox = r->mailbox;
		q.uidvalidity = r->uidvalidity;
		q.uid = r->uid;
	} else {
		q.mailbox = "INBOX";
		q.from = r->to[0].addr;
		q.since =
		    time(NULL) - (int64_t)(s->cfg->reply_window_msecs / 1000);
	}
	if (ms_imap_headers(s->d.imap, r->user, &q, headers_cb, p) < 0) {
		/* The IMAP queue is full: no thread for a chat; a reply
		   must wait. */
		if (r->parent == BR_SEND_CORRESPONDENT) {
			prep_finish(p, NULL);
			return 0;
		}
		prep_free(p);
		s->stats.refused++;
		*reason_r = BR_NOT_SENT_BUSY;
		*refusal_r = xstrdup("your mailbox is busy right now; please "
				     "try again in a moment");
		return -1;
	}
	return 0;
}

/* ---- life ---- */

int br_sender_new(const struct br_sender_deps *deps, struct br_sender **s_r,
		  char **error_r)
{
	const struct br_config *cfg = deps->cfg;
	struct br_sender *s = xcalloc(1, sizeof(*s));

	s->d = *deps;
	s->cfg = cfg;
	if (br_outq_open(cfg->state_dir, &s->q, error_r) < 0) {
		free(s);
		return -1;
	}
	struct ms_smtp_settings ss = {
	    .host = cfg->smtp_host,
	    .port = cfg->smtp_port,
	    .tls = (enum ms_smtp_tls)cfg->smtp_tls,
	    .ca_file = cfg->smtp_ca_file,
	    .user = cfg->smtp_user,
	    .password = cfg->smtp_password,
	    .workers = cfg->smtp_workers,
	    .timeout_msecs = cfg->smtp_timeout_msecs,
	    .queue_max = INFLIGHT_MAX,
	    .message_max = SEND_BODY_MAX_LIMIT * 4 + 64 * 1024,
	};
	if (ms_smtp_pool_new(deps->loop, &ss, &s->smtp, error_r) < 0) {
		br_outq_close(&s->q);
		free(s);
		return -1;
	}
	uv_timer_init(deps->loop, &s->pump);
	s->pump.data = s;
	*s_r = s;
	return 0;
}

void br_sender_start(struct br_sender *s)
{
	size_t n = 0;
	s->started = true;
	if (br_outq_pending(s->q, &n) == 0 && n > 0)
		log_info("sender: %zu mail%s written in chat still to send or "
			 "copy",
			 n, n == 1 ? "" : "s");
	uv_timer_start(&s->pump, pump_cb, 0, PUMP_MSECS);
}

void br_sender_get_stats(const struct br_sender *s,
			 struct br_sender_stats *stats_r)
{
	*stats_r = s->stats;
}

static void pump_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void br_sender_close(struct br_sender **sp)
{
	struct br_sender *s = *sp;
	if (s == NULL)
		return;
	/* Cancelled jobs never call back; their rows stay queued. */
	while (s->flights != NULL) {
		if (s->flights->job != NULL)
			ms_smtp_cancel(s->smtp, &s->flights->job);
		flight_end(s->flights);
	}
	while (s->preps != NULL)
		prep_free(s->preps);
	ms_smtp_pool_free(&s->smtp);
	br_outq_close(&s->q);
	uv_close((uv_handle_t *)&s->pump, pump_closed_cb);
	*sp = NULL;
}
