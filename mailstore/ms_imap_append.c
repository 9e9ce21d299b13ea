/*
 * APPEND of a copy to the user's \Sent mailbox (see ms_imap.h,
 * ms_imap_append_sent): a job on the IMAP pool that logs in as
 * user*master, finds the mailbox with the \Sent special-use attribute
 * (RFC 6154) and appends with \Seen and the given internal date.
 *
 * libetpan 1.9.4 cannot send LIST-EXTENDED selection options, but it
 * parses the answer: "LIST (SPECIAL-USE) "" "*"" goes out as a custom
 * command, and the untagged LIST lines it parsed wait in the session's
 * response info, with \Sent among the mailbox's flag extensions (as
 * "Sent"). The mailbox name is the server's and untrusted: only a name of
 * printable ASCII (what modified UTF-7 always is) is sent back, quoted by
 * libetpan.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ms_imap_hdr.h"
#include "ms_imap_pool.h"
#include "ut_log.h"
#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Longer mailbox names from LIST are not taken. */
#define NAME_MAX_BYTES 1000
/* The last second of year 9999, the largest date IMAP can say. */
#define DATE_MAX ((int64_t)253402300799)

struct append_job {
	struct ms_job job; /* first */
	struct ms_imap_pool *pool;
	char *user;
	char *data;
	size_t len;
	int64_t date;
	ms_imap_append_cb *cb;
	void *ctx;
	struct ms_imap_append_result res;
};

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX_BYTES)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)name[i] < 0x20 ||
		    (unsigned char)name[i] > 0x7e)
			return false;
	}
	return true;
}

/* A selectable mailbox carrying \Sent. */
static bool is_sent(const struct mailimap_mailbox_list *mb)
{
	const struct mailimap_mbx_list_flags *fl = mb->mb_flag;
	bool sent = false;

	if (fl == NULL)
		return false;
	if (fl->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
	    fl->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		return false;
	for (clistiter *it =
		 fl->mbf_oflags != NULL ? clist_begin(fl->mbf_oflags) : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_mbx_list_oflag *of = clist_content(it);

		if (of == NULL ||
		    of->of_type != MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT ||
		    of->of_flag_ext == NULL)
			continue;
		if (ut_ascii_caseeq(of->of_flag_ext, "Sent"))
			sent = true;
		else if (ut_ascii_caseeq(of->of_flag_ext, "NonExistent") ||
			 ut_ascii_caseeq(of->of_flag_ext, "Noselect"))
			return false;
	}
	return sent;
}

/* The first usable \Sent mailbox of list (copy), or NULL. */
static char *pick_sent(clist *list)
{
	for (clistiter *it = list != NULL ? clist_begin(list) : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_mailbox_list *mb = clist_content(it);

		if (mb != NULL && mb->mb_name != NULL && is_sent(mb) &&
		    name_ok(mb->mb_name))
			return xstrdup(mb->mb_name);
	}
	return NULL;
}

/* LIST (SPECIAL-USE) "" "*" through libetpan's custom command (which
   adds a space before the CRLF; Dovecot takes it); the parsed LIST lines
   are taken from the response info. */
static int list_special_use(struct ms_imap__session *s, clist **list_r)
{
	mailimap *imap = s->imap;
	int r = mailimap_custom_command(imap, "LIST (SPECIAL-USE) \"\" \"*\"");

	*list_r = NULL;
	if (r == MAILIMAP_NO_ERROR && imap->imap_response_info != NULL) {
		*list_r = imap->imap_response_info->rsp_mailbox_list;
		imap->imap_response_info->rsp_mailbox_list = NULL;
	}
	return r;
}

char *ms_imap__find_sent(struct ms_imap__session *s)
{
	clist *list = NULL;
	char *name;
	int r = list_special_use(s, &list);

	/* NO (CUSTOM_COMMAND) or BAD (PROTOCOL; also a wrong tag, which
	   the next command then fails on as well). */
	if (r == MAILIMAP_ERROR_CUSTOM_COMMAND ||
	    r == MAILIMAP_ERROR_PROTOCOL) {
		/* No LIST-EXTENDED: a plain LIST, where RFC 6154 lets the
		   server show the attributes too (Dovecot does). */
		ut_trace(UT_TRACE_IMAP, s->log_prefix,
			 "LIST (SPECIAL-USE) refused; plain LIST");
		r = mailimap_list(s->imap, "", "*", &list);
	}
	if (r != MAILIMAP_NO_ERROR) {
		if (list != NULL)
			mailimap_list_result_free(list);
		ms_imap__session_imap_fail(s, MS_IMAP__CMD_OTHER, "LIST", r);
		return NULL;
	}
	name = pick_sent(list);
	if (list != NULL)
		mailimap_list_result_free(list);
	if (name == NULL)
		ms_imap__session_fail(s, MS_IMAP_ERR_NO_MAILBOX,
				      "no mailbox with the \\Sent attribute");
	return name;
}

/* The name as the user sees it: UTF-8 from modified UTF-7 (the raw name
   when it is not valid modified UTF-7), cleaned. */
static char *display_name(const char *raw)
{
	char *utf8 = ms_imap__mutf7_decode(raw, strlen(raw));
	const char *src = utf8 != NULL ? utf8 : raw;
	char *clean = ut_utf8_clean_str(src, strlen(src), UT_CLEAN_ONELINE,
					NAME_MAX_BYTES);

	free(utf8);
	return clean;
}

static void append(struct ms_imap__session *s, struct append_job *job,
		   const char *name)
{
	struct mailimap_flag_list *flags = mailimap_flag_list_new_empty();
	struct mailimap_date_time *dt = NULL;
	struct ms_imap_append_result *res = &job->res;
	uint32_t uidvalidity = 0, uid = 0;
	int r;

	ut_assert(flags != NULL);
	ut_assert(mailimap_flag_list_add(flags, mailimap_flag_new_seen()) ==
		  MAILIMAP_NO_ERROR);
	if (job->date > 0 && job->date <= DATE_MAX) {
		time_t t = (time_t)job->date;
		struct tm tm;

		ut_assert(gmtime_r(&t, &tm) != NULL);
		dt = mailimap_date_time_new(tm.tm_mday, tm.tm_mon + 1,
					    tm.tm_year + 1900, tm.tm_hour,
					    tm.tm_min, tm.tm_sec, 0);
		ut_assert(dt != NULL);
	}
	r = mailimap_uidplus_append(s->imap, name, flags, dt, job->data,
				    job->len, &uidvalidity, &uid);
	mailimap_flag_list_free(flags);
	if (dt != NULL)
		mailimap_date_time_free(dt);
	if (r != MAILIMAP_NO_ERROR) {
		ms_imap__session_imap_fail(s, MS_IMAP__CMD_MAILBOX, "APPEND",
					   r);
		return;
	}
	res->mailbox = display_name(name);
	/* Both are nz-number: a 0 means the server sent nothing usable. */
	if (uidvalidity != 0 && uid != 0) {
		res->uidvalidity = uidvalidity;
		res->uid = uid;
	}
	ut_trace(UT_TRACE_IMAP, s->log_prefix,
		 "APPEND %zu bytes to %s: uidvalidity %u uid %u", job->len,
		 res->mailbox, res->uidvalidity, res->uid);
}

static void result_clear(struct ms_imap_append_result *res)
{
	free(res->error_text);
	free(res->mailbox);
	memset(res, 0, sizeof(*res));
}

static void append_run(struct ms_job *j, struct ms_jobs_worker *w)
{
	struct append_job *job = (struct append_job *)j;
	struct ms_imap__server srv;
	struct ms_imap__session s;
	char *prefix = xasprintf("imap(%s)", job->user);
	char *name = NULL;

	ms_imap__pool_server(job->pool, w, &srv);
	if (ms_imap__session_open(&s, &srv, job->user, prefix) == 0 &&
	    (name = ms_imap__find_sent(&s)) != NULL)
		append(&s, job, name);
	ms_imap__session_close(&s);
	if (s.error != MS_IMAP_OK) {
		result_clear(&job->res);
		job->res.error = s.error;
		job->res.error_text = s.error_text;
		ut_trace(UT_TRACE_IMAP, prefix, "append failed (%s): %s",
			 ms_imap_error_name(s.error), s.error_text);
	}
	free(name);
	free(prefix);
}

static void append_free(struct append_job *job)
{
	result_clear(&job->res);
	free(job->user);
	free(job->data);
	free(job);
}

static void append_done(struct ms_job *j)
{
	struct append_job *job = (struct append_job *)j;

	ms_imap__pool_count(job->pool, job->res.error);
	/* The callback may free the pool: job->pool is not used after. */
	job->cb(&job->res, job->ctx);
	append_free(job);
}

static void append_drop(struct ms_job *j)
{
	append_free((struct append_job *)j);
}

static const struct ms_job_ops append_ops = {
    .run = append_run,
    .done = append_done,
    .drop = append_drop,
};

int ms_imap_append_sent(struct ms_imap_pool *pool, const char *user,
			const char *data, size_t len, int64_t date,
			ms_imap_append_cb *cb, void *ctx)
{
	struct append_job *job;

	ut_assert(cb != NULL && user != NULL);
	if (len == 0 || len > MS_IMAP_APPEND_MAX || data == NULL ||
	    memchr(data, '\0', len) != NULL)
		return -1;
	job = xcalloc(1, sizeof(*job));
	job->pool = pool;
	job->user = xstrdup(user);
	job->data = xmalloc(len);
	memcpy(job->data, data, len);
	job->len = len;
	job->date = date;
	job->cb = cb;
	job->ctx = ctx;
	if (ms_imap__pool_submit(pool, &job->job, &append_ops) < 0) {
		append_free(job);
		return -1;
	}
	return 0;
}
