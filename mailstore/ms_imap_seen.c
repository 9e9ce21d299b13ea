/*
 * Whether a user's copy of a mail is seen (see ms_imap.h,
 * ms_imap_seen_by_msgid): a read-only job on the IMAP pool. EXAMINE, UID
 * SEARCH HEADER Message-ID <id>, then UID FETCH (UID FLAGS BODY.PEEK[
 * HEADER.FIELDS (Message-ID)]) of the newest hits and the exact match
 * among them.
 *
 * The server is not trusted: a HEADER search is a substring match (and
 * the server may answer anything), so the Message-ID of every hit is
 * parsed (ms_imap_hdr.c) and compared here; FETCH answers may lack a UID,
 * repeat one or carry one nobody asked for. A matching mail whose answer
 * carries no FLAGS fails the job (temp) rather than pass for unseen. A
 * FETCH that ends in NO after some data (libetpan then reports success;
 * Dovecot does so when other hits were expunged meanwhile) counts with
 * the data it brought.
 */

#include <stdlib.h>
#include <string.h>

#include "ms_imap_hdr.h"
#include "ms_imap_pool.h"
#include "ut_log.h"
#include "ut_xalloc.h"

struct seen_job {
	struct ms_job job; /* first */
	struct ms_imap_pool *pool;
	char *user;
	char *mailbox;
	char *message_id;
	ms_imap_seen_cb *cb;
	void *ctx;
	struct ms_imap_seen_result res;
};

/* One mail of a FETCH answer. */
struct fetched {
	uint32_t uid;
	bool has_flags;
	bool seen;
	const char *header;
	size_t header_len;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void read_flags(const struct mailimap_msg_att_dynamic *dyn,
		       struct fetched *f)
{
	if (dyn == NULL)
		return;
	f->has_flags = true;
	for (clistiter *it = dyn->att_list != NULL ? clist_begin(dyn->att_list)
						   : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_flag_fetch *ff = clist_content(it);

		if (ff != NULL && ff->fl_type == MAILIMAP_FLAG_FETCH_OTHER &&
		    ff->fl_flag != NULL &&
		    ff->fl_flag->fl_type == MAILIMAP_FLAG_SEEN)
			f->seen = true;
	}
}

static void read_static(const struct mailimap_msg_att_static *st,
			struct fetched *f)
{
	const struct mailimap_msg_att_body_section *sec;

	if (st == NULL)
		return;
	if (st->att_type == MAILIMAP_MSG_ATT_UID) {
		f->uid = st->att_data.att_uid;
	} else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION) {
		sec = st->att_data.att_body_section;
		if (sec != NULL && sec->sec_body_part != NULL) {
			f->header = sec->sec_body_part;
			f->header_len = sec->sec_length;
		}
	}
}

static void read_att(const struct mailimap_msg_att *att, struct fetched *f)
{
	memset(f, 0, sizeof(*f));
	for (clistiter *it = att->att_list != NULL ? clist_begin(att->att_list)
						   : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);

		if (item == NULL)
			continue;
		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC)
			read_static(item->att_data.att_static, f);
		else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC)
			read_flags(item->att_data.att_dyn, f);
	}
}

static struct mailimap_fetch_type *fetch_type_new(void)
{
	struct mailimap_fetch_type *ft =
	    mailimap_fetch_type_new_fetch_att_list_empty();
	clist *fields = clist_new();
	struct mailimap_header_list *hl;
	struct mailimap_section *section;
	struct mailimap_fetch_att *atts[3];

	ut_assert(ft != NULL && fields != NULL);
	ut_assert(clist_append(fields, xstrdup("Message-ID")) == 0);
	hl = mailimap_header_list_new(fields);
	ut_assert(hl != NULL);
	section = mailimap_section_new_header_fields(hl);
	ut_assert(section != NULL);
	atts[0] = mailimap_fetch_att_new_uid();
	atts[1] = mailimap_fetch_att_new_flags();
	/* PEEK: reading the header never sets \Seen. */
	atts[2] = mailimap_fetch_att_new_body_peek_section(section);
	for (size_t i = 0; i < UT_N_ELEMENTS(atts); i++)
		ut_assert(atts[i] != NULL &&
			  mailimap_fetch_type_new_fetch_att_list_add(
			      ft, atts[i]) == MAILIMAP_NO_ERROR);
	return ft;
}

/* Is f an exact match of the id asked for? */
static bool matches(const struct seen_job *job, const struct fetched *f)
{
	struct ms_imap_headers h;
	bool same;

	ms_imap__headers_parse(f->header != NULL ? f->header : "",
			       f->header != NULL ? f->header_len : 0, &h);
	same =
	    h.message_id != NULL && strcmp(h.message_id, job->message_id) == 0;
	ms_imap_headers_clear(&h);
	return same;
}

/* UID FETCH of the sorted distinct uids[0..n) and the newest exact match
   among them. */
static void fetch_pick(struct ms_imap__session *s, struct seen_job *job,
		       const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = ms_imap__set_of(uids, n);
	struct mailimap_fetch_type *ft = fetch_type_new();
	struct ms_imap_seen_result *res = &job->res;
	bool flagless = false;
	clist *result = NULL;
	bool *taken;
	int r;

	r = mailimap_uid_fetch(s->imap, set, ft, &result);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		/* libetpan freed the list already (and left result stale). */
		ms_imap__session_imap_fail(s, MS_IMAP__CMD_OTHER, "UID FETCH",
					   r);
		return;
	}
	taken = xcalloc(n + 1, sizeof(*taken));
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att *att = clist_content(it);
		const uint32_t *hit;
		struct fetched f;

		if (att == NULL)
			continue;
		read_att(att, &f);
		hit = f.uid != 0
			  ? bsearch(&f.uid, uids, n, sizeof(*uids), cmp_u32)
			  : NULL;
		if (hit == NULL || taken[hit - uids])
			continue;
		taken[hit - uids] = true;
		if (!matches(job, &f) || (res->found && res->uid >= f.uid))
			continue;
		res->found = true;
		res->uid = f.uid;
		res->seen = f.seen;
		flagless = !f.has_flags;
	}
	free(taken);
	if (result != NULL)
		mailimap_fetch_list_free(result);
	if (flagless)
		ms_imap__session_fail(s, MS_IMAP_ERR_TEMP,
				      "UID FETCH: no FLAGS for UID %u",
				      res->uid);
}

static void look_up(struct ms_imap__session *s, struct seen_job *job)
{
	const struct mailimap_selection_info *sel;
	struct mailimap_search_key *key;
	uint32_t uids[MS_IMAP_SEARCH_MAX];
	int n;
	int r = mailimap_examine(s->imap, job->mailbox);

	if (r != MAILIMAP_NO_ERROR) {
		ms_imap__session_imap_fail(s, MS_IMAP__CMD_MAILBOX, "EXAMINE",
					   r);
		return;
	}
	sel = s->imap->imap_selection_info;
	if (sel == NULL || sel->sel_uidvalidity == 0) {
		ms_imap__session_fail(
		    s, MS_IMAP_ERR_TEMP,
		    "EXAMINE: the server sent no UIDVALIDITY");
		return;
	}
	job->res.uidvalidity = sel->sel_uidvalidity;
	key = mailimap_search_key_new_header(xstrdup("Message-ID"),
					     xstrdup(job->message_id));
	ut_assert(key != NULL);
	n = ms_imap__search_newest(s, key, uids, MS_IMAP_SEARCH_MAX);
	if (n > 0)
		fetch_pick(s, job, uids, (size_t)n);
}

static void result_clear(struct ms_imap_seen_result *res)
{
	free(res->error_text);
	memset(res, 0, sizeof(*res));
}

static void seen_run(struct ms_job *j, struct ms_jobs_worker *w)
{
	struct seen_job *job = (struct seen_job *)j;
	struct ms_imap__server srv;
	struct ms_imap__session s;
	char *prefix = xasprintf("imap(%s)", job->user);

	ms_imap__pool_server(job->pool, w, &srv);
	if (ms_imap__session_open(&s, &srv, job->user, prefix) == 0)
		look_up(&s, job);
	ms_imap__session_close(&s);
	if (s.error != MS_IMAP_OK) {
		/* A failed job reports no partial data. */
		result_clear(&job->res);
		job->res.error = s.error;
		job->res.error_text = s.error_text;
		ut_trace(UT_TRACE_IMAP, prefix, "seen failed (%s): %s",
			 ms_imap_error_name(s.error), s.error_text);
	} else {
		ut_trace(UT_TRACE_IMAP, prefix, "seen in %s: %s uid %u%s",
			 job->mailbox, job->res.found ? "found" : "not found",
			 job->res.uid, job->res.seen ? " \\Seen" : "");
	}
	free(prefix);
}

static void seen_free(struct seen_job *job)
{
	result_clear(&job->res);
	free(job->user);
	free(job->mailbox);
	free(job->message_id);
	free(job);
}

static void seen_done(struct ms_job *j)
{
	struct seen_job *job = (struct seen_job *)j;

	ms_imap__pool_count(job->pool, job->res.error);
	/* The callback may free the pool: job->pool is not used after. */
	job->cb(&job->res, job->ctx);
	seen_free(job);
}

static void seen_drop(struct ms_job *j)
{
	seen_free((struct seen_job *)j);
}

static const struct ms_job_ops seen_ops = {
    .run = seen_run,
    .done = seen_done,
    .drop = seen_drop,
};

int ms_imap_seen_by_msgid(struct ms_imap_pool *pool, const char *user,
			  const char *mailbox, const char *message_id,
			  ms_imap_seen_cb *cb, void *ctx)
{
	struct seen_job *job;

	ut_assert(cb != NULL && user != NULL);
	if (mailbox == NULL)
		mailbox = "INBOX";
	if (!ms_imap__printable_ascii(mailbox) || message_id == NULL ||
	    !ms_imap__msgid_valid(message_id, strlen(message_id)))
		return -1;
	job = xcalloc(1, sizeof(*job));
	job->pool = pool;
	job->user = xstrdup(user);
	job->mailbox = xstrdup(mailbox);
	job->message_id = xstrdup(message_id);
	job->cb = cb;
	job->ctx = ctx;
	if (ms_imap__pool_submit(pool, &job->job, &seen_ops) < 0) {
		seen_free(job);
		return -1;
	}
	return 0;
}
