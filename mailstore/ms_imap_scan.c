/*
 * The scan of one mailbox over a session (see ms_imap_scan.h): STATUS,
 * and for a range EXAMINE, UID SEARCH and UID FETCH of envelopes.
 *
 * Nothing the server sends is trusted: every libetpan result may be NULL
 * or hold NULLs, FETCH responses may lack a UID, repeat one or carry one
 * nobody asked for, and numbers may be anything a uint32_t holds. UIDs are
 * compared, never incremented past UINT32_MAX; the range is bounded by
 * UIDNEXT from STATUS and sent as "from:to", never as "n:*".
 */

#include "ms_imap_scan.h"

#include <stdlib.h>
#include <string.h>

#include "ms_imap_hdr.h"
#include "ms_imap_pool.h"
#include "ms_mime.h"
#include "ut_log.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Decoded subjects, names and addresses are cut to this many bytes. */
#define TEXT_MAX_BYTES 1024

struct scan {
	struct ms_imap__session sess;
	const struct ms_imap__scan_req *req;
	struct ms_imap_scan_result *res;
};

static void msg_clear(struct ms_imap_msg *m)
{
	free(m->message_id);
	free(m->from_name);
	free(m->from_address);
	free(m->subject);
	memset(m, 0, sizeof(*m));
}

void ms_imap__result_clear(struct ms_imap_scan_result *res)
{
	for (size_t i = 0; i < res->msg_count; i++)
		msg_clear(&res->msgs[i]);
	free(res->msgs);
	free(res->error_text);
	memset(res, 0, sizeof(*res));
}

static int read_status(struct scan *s)
{
	static const int wanted[] = {
	    MAILIMAP_STATUS_ATT_UIDVALIDITY, MAILIMAP_STATUS_ATT_UIDNEXT,
	    MAILIMAP_STATUS_ATT_MESSAGES, MAILIMAP_STATUS_ATT_UNSEEN};
	struct mailimap_status_att_list *atts =
	    mailimap_status_att_list_new_empty();
	struct mailimap_mailbox_data_status *st = NULL;
	struct ms_imap_scan_result *res = s->res;
	bool have_uidvalidity = false, have_uidnext = false;
	int r;

	ut_assert(atts != NULL);
	for (size_t i = 0; i < UT_N_ELEMENTS(wanted); i++)
		ut_assert(mailimap_status_att_list_add(atts, wanted[i]) ==
			  MAILIMAP_NO_ERROR);
	r = mailimap_status(s->sess.imap, s->req->mailbox, atts, &st);
	mailimap_status_att_list_free(atts);
	if (r != MAILIMAP_NO_ERROR) {
		/* libetpan hands over what it parsed even after a NO. */
		if (st != NULL)
			mailimap_mailbox_data_status_free(st);
		ms_imap__session_imap_fail(&s->sess, MS_IMAP__CMD_MAILBOX,
					   "STATUS", r);
		return -1;
	}
	if (st == NULL) {
		/* An OK without an untagged STATUS line. */
		ms_imap__session_fail(&s->sess, MS_IMAP_ERR_TEMP,
				      "STATUS: the server sent no STATUS data");
		return -1;
	}
	for (clistiter *it = st->st_info_list != NULL
				 ? clist_begin(st->st_info_list)
				 : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_status_info *info = clist_content(it);

		if (info == NULL)
			continue;
		if (info->st_att == MAILIMAP_STATUS_ATT_UIDVALIDITY) {
			res->uidvalidity = info->st_value;
			have_uidvalidity = true;
		} else if (info->st_att == MAILIMAP_STATUS_ATT_UIDNEXT) {
			res->uidnext = info->st_value;
			have_uidnext = true;
		} else if (info->st_att == MAILIMAP_STATUS_ATT_MESSAGES) {
			res->messages = info->st_value;
		} else if (info->st_att == MAILIMAP_STATUS_ATT_UNSEEN) {
			res->unseen = info->st_value;
		}
	}
	mailimap_mailbox_data_status_free(st);
	/* Both are nz-number in RFC 3501; every check below relies on it. */
	if (!have_uidvalidity || res->uidvalidity == 0 || !have_uidnext ||
	    res->uidnext == 0) {
		ms_imap__session_fail(
		    &s->sess, MS_IMAP_ERR_TEMP,
		    "STATUS: no valid UIDVALIDITY and UIDNEXT "
		    "(got %u and %u)",
		    res->uidvalidity, res->uidnext);
		return -1;
	}
	/* Each message has its own UID below UIDNEXT. */
	if (res->messages > res->uidnext - 1)
		res->messages = res->uidnext - 1;
	if (res->unseen > res->messages)
		res->unseen = res->messages;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * UID SEARCH UID from:to. Returns the sorted distinct UIDs in from..to
 * (their number in *count_r; free the array), or NULL with the scan failed.
 */
static uint32_t *search_uids(struct scan *s, uint32_t from, uint32_t to,
			     size_t *count_r)
{
	struct mailimap_set *set = mailimap_set_new_interval(from, to);
	struct mailimap_search_key *key;
	clist *found = NULL;
	uint64_t modseq = 0;
	uint32_t *uids;
	size_t n = 0, kept = 0;
	int r;

	ut_assert(set != NULL);
	key = mailimap_search_key_new_uid(set);
	ut_assert(key != NULL);
	/* Not mailimap_uid_search(): it passes a NULL modseq pointer that
	   libetpan's CONDSTORE search path writes to (that path looks
	   unreachable from 1.9.4's parser, but costs nothing to avoid). */
	r = mailimap_uid_search_modseq(s->sess.imap, NULL, key, &found,
				       &modseq);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		if (found != NULL)
			mailimap_search_result_free(found);
		ms_imap__session_imap_fail(&s->sess, MS_IMAP__CMD_OTHER,
					   "UID SEARCH", r);
		return NULL;
	}
	uids = xreallocarray(
	    NULL, (found != NULL ? (size_t)clist_count(found) : 0) + 1,
	    sizeof(*uids));
	for (clistiter *it = found != NULL ? clist_begin(found) : NULL;
	     it != NULL; it = clist_next(it)) {
		const uint32_t *uid = clist_content(it);

		if (uid != NULL && *uid >= from && *uid <= to)
			uids[n++] = *uid;
	}
	if (found != NULL)
		mailimap_search_result_free(found);
	qsort(uids, n, sizeof(*uids), cmp_u32);
	for (size_t i = 0; i < n; i++) {
		if (kept == 0 || uids[i] != uids[kept - 1])
			uids[kept++] = uids[i];
	}
	*count_r = kept;
	return uids;
}

static char *clean_oneline(const char *s)
{
	if (s == NULL)
		return NULL;
	return ut_utf8_clean_str(s, strlen(s), UT_CLEAN_ONELINE,
				 TEXT_MAX_BYTES);
}

static char *decode(const char *s)
{
	if (s == NULL)
		return NULL;
	return ms_mime_decode_header(s, strlen(s), TEXT_MAX_BYTES);
}

static void fill_from_envelope(struct ms_imap_msg *m,
			       const struct mailimap_envelope *env)
{
	const struct mailimap_address *a = NULL;

	if (env == NULL)
		return;
	m->date = ms_imap__parse_date(env->env_date);
	m->subject = decode(env->env_subject);
	m->message_id = clean_oneline(env->env_message_id);
	if (env->env_from != NULL && env->env_from->frm_list != NULL &&
	    clist_begin(env->env_from->frm_list) != NULL)
		a = clist_content(clist_begin(env->env_from->frm_list));
	if (a == NULL)
		return;
	m->from_name = decode(a->ad_personal_name);
	if (a->ad_mailbox_name != NULL && a->ad_host_name != NULL) {
		char *addr =
		    xasprintf("%s@%s", a->ad_mailbox_name, a->ad_host_name);

		m->from_address = clean_oneline(addr);
		free(addr);
	} else {
		m->from_address = clean_oneline(a->ad_mailbox_name);
	}
}

static bool has_seen(const struct mailimap_msg_att_dynamic *dyn)
{
	if (dyn == NULL || dyn->att_list == NULL)
		return false;
	for (clistiter *f = clist_begin(dyn->att_list); f != NULL;
	     f = clist_next(f)) {
		const struct mailimap_flag_fetch *ff = clist_content(f);

		if (ff != NULL && ff->fl_type == MAILIMAP_FLAG_FETCH_OTHER &&
		    ff->fl_flag != NULL &&
		    ff->fl_flag->fl_type == MAILIMAP_FLAG_SEEN)
			return true;
	}
	return false;
}

static void parse_static(const struct mailimap_msg_att_static *st,
			 struct ms_imap_msg *m,
			 const struct mailimap_envelope **env_r)
{
	const struct mailimap_date_time *dt;

	if (st == NULL)
		return;
	switch (st->att_type) {
	case MAILIMAP_MSG_ATT_UID:
		m->uid = st->att_data.att_uid;
		break;
	case MAILIMAP_MSG_ATT_ENVELOPE:
		*env_r = st->att_data.att_env;
		break;
	case MAILIMAP_MSG_ATT_INTERNALDATE:
		dt = st->att_data.att_internal_date;
		if (dt != NULL)
			m->received = ms_imap__date_secs(
			    dt->dt_year, dt->dt_month, dt->dt_day, dt->dt_hour,
			    dt->dt_min, dt->dt_sec, dt->dt_zone);
		break;
	default:
		break;
	}
}

/* The UID of one FETCH response (0 when it has none). */
static uint32_t msg_att_uid(const struct mailimap_msg_att *att)
{
	struct ms_imap_msg m = {0};
	const struct mailimap_envelope *env = NULL;

	for (clistiter *it = att->att_list != NULL ? clist_begin(att->att_list)
						   : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);

		if (item != NULL &&
		    item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
		    item->att_data.att_static != NULL &&
		    item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
			parse_static(item->att_data.att_static, &m, &env);
	}
	return m.uid;
}

/* One FETCH response -> m (zeroed first). */
static void parse_msg_att(const struct mailimap_msg_att *att,
			  struct ms_imap_msg *m)
{
	const struct mailimap_envelope *env = NULL;

	memset(m, 0, sizeof(*m));
	for (clistiter *it = att->att_list != NULL ? clist_begin(att->att_list)
						   : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);

		if (item == NULL)
			continue;
		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC)
			parse_static(item->att_data.att_static, m, &env);
		else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC)
			m->seen = m->seen || has_seen(item->att_data.att_dyn);
	}
	fill_from_envelope(m, env);
}

static int cmp_msg(const void *a, const void *b)
{
	return cmp_u32(&((const struct ms_imap_msg *)a)->uid,
		       &((const struct ms_imap_msg *)b)->uid);
}

static struct mailimap_fetch_type *fetch_type_new(void)
{
	struct mailimap_fetch_type *ft =
	    mailimap_fetch_type_new_fetch_att_list_empty();
	struct mailimap_fetch_att *atts[] = {
	    mailimap_fetch_att_new_uid(), mailimap_fetch_att_new_flags(),
	    mailimap_fetch_att_new_envelope(),
	    mailimap_fetch_att_new_internaldate()};

	ut_assert(ft != NULL);
	for (size_t i = 0; i < UT_N_ELEMENTS(atts); i++)
		ut_assert(atts[i] != NULL &&
			  mailimap_fetch_type_new_fetch_att_list_add(
			      ft, atts[i]) == MAILIMAP_NO_ERROR);
	return ft;
}

struct mailimap_set *ms_imap__set_of(const uint32_t *uids, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();

	ut_assert(set != NULL);
	for (size_t i = 0; i < n; i++) {
		uint32_t first = uids[i];

		while (i + 1 < n && uids[i] != UINT32_MAX &&
		       uids[i + 1] == uids[i] + 1)
			i++;
		ut_assert(mailimap_set_add_interval(set, first, uids[i]) ==
			  MAILIMAP_NO_ERROR);
	}
	return set;
}

/* UID FETCH (UID FLAGS ENVELOPE INTERNALDATE) of the sorted uids[0..n). */
static void fetch_msgs(struct scan *s, const uint32_t *uids, size_t n)
{
	struct ms_imap_scan_result *res = s->res;
	struct mailimap_set *set = ms_imap__set_of(uids, n);
	struct mailimap_fetch_type *ft = fetch_type_new();
	clist *result = NULL;
	bool *taken;
	int r;

	r = mailimap_uid_fetch(s->sess.imap, set, ft, &result);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		/* libetpan freed the list already (and left result stale). */
		ms_imap__session_imap_fail(&s->sess, MS_IMAP__CMD_OTHER,
					   "UID FETCH", r);
		return;
	}
	/* Only UIDs asked for, each once: at most n messages. */
	res->msgs = xcalloc(n + 1, sizeof(*res->msgs));
	taken = xcalloc(n + 1, sizeof(*taken));
	for (clistiter *it = result != NULL ? clist_begin(result) : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_msg_att *att = clist_content(it);
		const uint32_t *hit;
		uint32_t uid;
		size_t idx;

		if (att == NULL)
			continue;
		uid = msg_att_uid(att);
		hit = uid != 0 ? bsearch(&uid, uids, n, sizeof(*uids), cmp_u32)
			       : NULL;
		if (hit == NULL)
			continue;
		idx = (size_t)(hit - uids);
		if (taken[idx])
			continue;
		taken[idx] = true;
		parse_msg_att(att, &res->msgs[res->msg_count++]);
	}
	free(taken);
	if (result != NULL)
		mailimap_fetch_list_free(result);
	qsort(res->msgs, res->msg_count, sizeof(*res->msgs), cmp_msg);
}

static void scan_range(struct scan *s)
{
	const struct mailimap_selection_info *sel;
	uint32_t from = s->req->from_uid;
	uint32_t to = s->req->to_uid;
	uint32_t *uids;
	size_t n = 0, keep;
	int r;

	/* Nothing at or above UIDNEXT exists yet (uidnext > 0 here). */
	if (to == 0 || to > s->res->uidnext - 1)
		to = s->res->uidnext - 1;
	if (from > to)
		return;
	r = mailimap_examine(s->sess.imap, s->req->mailbox);
	if (r != MAILIMAP_NO_ERROR) {
		ms_imap__session_imap_fail(&s->sess, MS_IMAP__CMD_MAILBOX,
					   "EXAMINE", r);
		return;
	}
	sel = s->sess.imap->imap_selection_info;
	if (sel != NULL && sel->sel_uidvalidity != 0 &&
	    sel->sel_uidvalidity != s->res->uidvalidity) {
		ms_imap__session_fail(&s->sess, MS_IMAP_ERR_TEMP,
				      "EXAMINE: UIDVALIDITY changed during the "
				      "scan (%u, then %u)",
				      s->res->uidvalidity,
				      sel->sel_uidvalidity);
		return;
	}
	uids = search_uids(s, from, to, &n);
	if (uids == NULL)
		return;
	s->res->range_count = n;
	keep = n < s->req->max_msgs ? n : s->req->max_msgs;
	if (keep > 0)
		fetch_msgs(s, uids + (n - keep), keep);
	free(uids);
}

void ms_imap__scan_run(const struct ms_imap__server *srv,
		       const struct ms_imap__scan_req *req,
		       struct ms_imap_scan_result *res, const char *log_prefix)
{
	struct scan s = {.req = req, .res = res};

	if (ms_imap__session_open(&s.sess, srv, req->user, log_prefix) == 0 &&
	    read_status(&s) == 0) {
		ut_trace(UT_TRACE_IMAP, log_prefix,
			 "STATUS %s: uidvalidity %u uidnext %u messages %u "
			 "unseen %u",
			 req->mailbox, res->uidvalidity, res->uidnext,
			 res->messages, res->unseen);
		if (req->from_uid > 0 &&
		    (req->uidvalidity == 0 ||
		     req->uidvalidity == res->uidvalidity)) {
			scan_range(&s);
			ut_trace(UT_TRACE_IMAP, log_prefix,
				 "UID %u:%u holds %zu, fetched %zu",
				 req->from_uid, req->to_uid, res->range_count,
				 res->msg_count);
		}
	}
	ms_imap__session_close(&s.sess);
	if (s.sess.error != MS_IMAP_OK) {
		/* A failed scan reports no partial data. */
		ms_imap__result_clear(res);
		res->error = s.sess.error;
		res->error_text = s.sess.error_text;
		ut_trace(UT_TRACE_IMAP, log_prefix, "scan failed (%s): %s",
			 ms_imap_error_name(res->error), res->error_text);
	}
}
