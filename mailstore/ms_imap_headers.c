/*
 * The headers of one mail, for replying (see ms_imap.h, ms_imap_headers):
 * a read-only job on the IMAP pool. EXAMINE, then either the given UID
 * (when UIDVALIDITY matches) or UID SEARCH SINCE <day> FROM <address> and
 * the newest hits, then UID FETCH (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS
 * (...)]) and the parsing of those fields (ms_imap_hdr.c).
 *
 * The server is not trusted: FETCH answers may lack a UID, repeat one or
 * carry one nobody asked for; SEARCH may answer UIDs outside anything; a
 * FROM search is a substring match, and SINCE works on days in the
 * server's zone, so both are checked again here (the From address with
 * ms_addr_equal, the INTERNALDATE against the exact second).
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ms_addr.h"
#include "ms_imap_hdr.h"
#include "ms_imap_pool.h"
#include "ut_log.h"
#include "ut_xalloc.h"

struct headers_job {
	struct ms_job job; /* first */
	struct ms_imap_pool *pool;
	char *user;
	char *mailbox;
	char *from; /* NULL for a query by UID */
	uint32_t uidvalidity;
	uint32_t uid;
	int64_t since;
	bool sent_only;
	ms_imap_headers_cb *cb;
	void *ctx;
	struct ms_imap_headers_result res;
};

/* One mail of a FETCH answer. */
struct fetched {
	uint32_t uid;
	int64_t received; /* INTERNALDATE; 0 unknown */
	const char *header;
	size_t header_len;
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void read_att(const struct mailimap_msg_att *att, struct fetched *f)
{
	memset(f, 0, sizeof(*f));
	for (clistiter *it = att->att_list != NULL ? clist_begin(att->att_list)
						   : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		const struct mailimap_msg_att_static *st;
		const struct mailimap_date_time *dt;

		if (item == NULL ||
		    item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC ||
		    item->att_data.att_static == NULL)
			continue;
		st = item->att_data.att_static;
		switch (st->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			f->uid = st->att_data.att_uid;
			break;
		case MAILIMAP_MSG_ATT_INTERNALDATE:
			dt = st->att_data.att_internal_date;
			if (dt != NULL)
				f->received = ms_imap__date_secs(
				    dt->dt_year, dt->dt_month, dt->dt_day,
				    dt->dt_hour, dt->dt_min, dt->dt_sec,
				    dt->dt_zone);
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			if (st->att_data.att_body_section != NULL &&
			    st->att_data.att_body_section->sec_body_part !=
				NULL) {
				f->header = st->att_data.att_body_section
						->sec_body_part;
				f->header_len =
				    st->att_data.att_body_section->sec_length;
			}
			break;
		default:
			break;
		}
	}
}

static struct mailimap_fetch_type *fetch_type_new(void)
{
	static const char *const names[] = {MS_IMAP_HEADER_FIELDS};
	struct mailimap_fetch_type *ft =
	    mailimap_fetch_type_new_fetch_att_list_empty();
	clist *fields = clist_new();
	struct mailimap_header_list *hl;
	struct mailimap_section *section;
	struct mailimap_fetch_att *atts[3];

	ut_assert(ft != NULL && fields != NULL);
	for (size_t i = 0; i < UT_N_ELEMENTS(names); i++)
		ut_assert(clist_append(fields, xstrdup(names[i])) == 0);
	hl = mailimap_header_list_new(fields);
	ut_assert(hl != NULL);
	section = mailimap_section_new_header_fields(hl);
	ut_assert(section != NULL);
	atts[0] = mailimap_fetch_att_new_uid();
	atts[1] = mailimap_fetch_att_new_internaldate();
	/* PEEK: reading the header never sets \Seen. */
	atts[2] = mailimap_fetch_att_new_body_peek_section(section);
	for (size_t i = 0; i < UT_N_ELEMENTS(atts); i++)
		ut_assert(atts[i] != NULL &&
			  mailimap_fetch_type_new_fetch_att_list_add(
			      ft, atts[i]) == MAILIMAP_NO_ERROR);
	return ft;
}

/* Does this mail answer the query better than what res holds? Takes h
   into res if so. */
static void consider(struct headers_job *job, const struct fetched *f,
		     struct ms_imap_headers *h)
{
	struct ms_imap_headers_result *res = &job->res;

	if (job->from != NULL) {
		if (f->received == 0 || f->received < job->since ||
		    h->from_address == NULL ||
		    !ms_addr_equal(h->from_address, job->from))
			return;
		if (res->found && res->uid >= f->uid)
			return;
	} else if (f->uid != job->uid) {
		return;
	}
	ms_imap_headers_clear(&res->headers);
	res->headers = *h;
	memset(h, 0, sizeof(*h));
	res->found = true;
	res->uid = f->uid;
}

/* UID FETCH of the sorted distinct uids[0..n) and the choice among them. */
static void fetch_pick(struct ms_imap__session *s, struct headers_job *job,
		       const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = ms_imap__set_of(uids, n);
	struct mailimap_fetch_type *ft = fetch_type_new();
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
		struct ms_imap_headers h;
		struct fetched f;
		const uint32_t *hit;

		if (att == NULL)
			continue;
		read_att(att, &f);
		hit = f.uid != 0
			  ? bsearch(&f.uid, uids, n, sizeof(*uids), cmp_u32)
			  : NULL;
		if (hit == NULL || taken[hit - uids])
			continue;
		taken[hit - uids] = true;
		ms_imap__headers_parse(f.header != NULL ? f.header : "",
				       f.header != NULL ? f.header_len : 0, &h);
		consider(job, &f, &h);
		ms_imap_headers_clear(&h);
	}
	free(taken);
	if (result != NULL)
		mailimap_fetch_list_free(result);
}

static struct mailimap_search_key *search_key_new(const struct headers_job *job)
{
	/* SINCE compares dates in the server's zone: a day early covers
	   every zone; the exact second is checked on INTERNALDATE. */
	time_t t = job->since > 86400 ? (time_t)(job->since - 86400) : 0;
	struct mailimap_search_key *all, *since, *from;
	struct mailimap_date *d;
	struct tm tm;

	ut_assert(gmtime_r(&t, &tm) != NULL);
	d = mailimap_date_new(tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900);
	ut_assert(d != NULL);
	since = mailimap_search_key_new_since(d);
	from = mailimap_search_key_new_from(xstrdup(job->from));
	all = mailimap_search_key_new_multiple_empty();
	ut_assert(since != NULL && from != NULL && all != NULL);
	ut_assert(mailimap_search_key_multiple_add(all, since) ==
		  MAILIMAP_NO_ERROR);
	ut_assert(mailimap_search_key_multiple_add(all, from) ==
		  MAILIMAP_NO_ERROR);
	return all;
}

int ms_imap__search_newest(struct ms_imap__session *s,
			   struct mailimap_search_key *key, uint32_t *uids,
			   size_t max)
{
	clist *found = NULL;
	uint64_t modseq = 0;
	uint32_t *all;
	size_t n = 0, kept = 0;
	int r;

	/* Not mailimap_uid_search(): see search_uids() in ms_imap_scan.c. */
	r = mailimap_uid_search_modseq(s->imap, NULL, key, &found, &modseq);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		if (found != NULL)
			mailimap_search_result_free(found);
		ms_imap__session_imap_fail(s, MS_IMAP__CMD_OTHER, "UID SEARCH",
					   r);
		return -1;
	}
	all = xreallocarray(
	    NULL, (found != NULL ? (size_t)clist_count(found) : 0) + 1,
	    sizeof(*all));
	for (clistiter *it = found != NULL ? clist_begin(found) : NULL;
	     it != NULL; it = clist_next(it)) {
		const uint32_t *uid = clist_content(it);

		if (uid != NULL && *uid != 0)
			all[n++] = *uid;
	}
	if (found != NULL)
		mailimap_search_result_free(found);
	qsort(all, n, sizeof(*all), cmp_u32);
	/* The newest distinct ones, from the top down, then sorted. */
	for (size_t i = n; i > 0 && kept < max; i--) {
		if (kept == 0 || all[i - 1] != uids[kept - 1])
			uids[kept++] = all[i - 1];
	}
	free(all);
	qsort(uids, kept, sizeof(*uids), cmp_u32);
	return (int)kept;
}

static void look_up(struct ms_imap__session *s, struct headers_job *job)
{
	const struct mailimap_selection_info *sel;
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
	if (job->from == NULL) {
		if (job->uidvalidity == sel->sel_uidvalidity)
			fetch_pick(s, job, &job->uid, 1);
		return;
	}
	n = ms_imap__search_newest(s, search_key_new(job), uids,
				   MS_IMAP_SEARCH_MAX);
	if (n > 0)
		fetch_pick(s, job, uids, (size_t)n);
}

static void result_clear(struct ms_imap_headers_result *res)
{
	ms_imap_headers_clear(&res->headers);
	free(res->error_text);
	memset(res, 0, sizeof(*res));
}

static void headers_run(struct ms_job *j, struct ms_jobs_worker *w)
{
	struct headers_job *job = (struct headers_job *)j;
	struct ms_imap__server srv;
	struct ms_imap__session s;
	char *prefix = xasprintf("imap(%s)", job->user);

	ms_imap__pool_server(job->pool, w, &srv);
	if (ms_imap__session_open(&s, &srv, job->user, prefix) == 0) {
		char *sent = job->sent_only ? ms_imap__find_sent(&s) : NULL;
		/* sent_only: another mailbox than \Sent is not found. */
		if (!job->sent_only ||
		    (sent != NULL && strcmp(sent, job->mailbox) == 0))
			look_up(&s, job);
		free(sent);
	}
	ms_imap__session_close(&s);
	if (s.error != MS_IMAP_OK) {
		/* A failed job reports no partial data. */
		result_clear(&job->res);
		job->res.error = s.error;
		job->res.error_text = s.error_text;
		ut_trace(UT_TRACE_IMAP, prefix, "headers failed (%s): %s",
			 ms_imap_error_name(s.error), s.error_text);
	} else {
		ut_trace(UT_TRACE_IMAP, prefix, "headers in %s: %s uid %u",
			 job->mailbox, job->res.found ? "found" : "not found",
			 job->res.uid);
	}
	free(prefix);
}

static void headers_free(struct headers_job *job)
{
	result_clear(&job->res);
	free(job->user);
	free(job->mailbox);
	free(job->from);
	free(job);
}

static void headers_done(struct ms_job *j)
{
	struct headers_job *job = (struct headers_job *)j;

	ms_imap__pool_count(job->pool, job->res.error);
	/* The callback may free the pool: job->pool is not used after. */
	job->cb(&job->res, job->ctx);
	headers_free(job);
}

static void headers_drop(struct ms_job *j)
{
	headers_free((struct headers_job *)j);
}

static const struct ms_job_ops headers_ops = {
    .run = headers_run,
    .done = headers_done,
    .drop = headers_drop,
};

bool ms_imap__printable_ascii(const char *s)
{
	if (s[0] == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	}
	return true;
}

int ms_imap_headers(struct ms_imap_pool *pool, const char *user,
		    const struct ms_imap_header_query *q,
		    ms_imap_headers_cb *cb, void *ctx)
{
	const char *mailbox = q->mailbox != NULL ? q->mailbox : "INBOX";
	struct headers_job *job;
	const char *why;

	ut_assert(cb != NULL && user != NULL);
	if (!ms_imap__printable_ascii(mailbox))
		return -1;
	if (q->uid == 0 &&
	    (q->from == NULL ||
	     ms_addr_validate(q->from, strlen(q->from), 0, &why) < 0))
		return -1;
	job = xcalloc(1, sizeof(*job));
	job->pool = pool;
	job->user = xstrdup(user);
	job->mailbox = xstrdup(mailbox);
	if (q->uid == 0)
		job->from = xstrdup(q->from);
	job->uidvalidity = q->uidvalidity;
	job->uid = q->uid;
	job->since = q->since;
	job->sent_only = q->sent_only;
	job->cb = cb;
	job->ctx = ctx;
	if (ms_imap__pool_submit(pool, &job->job, &headers_ops) < 0) {
		headers_free(job);
		return -1;
	}
	return 0;
}
