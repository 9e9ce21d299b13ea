/*
 * One IMAP session on libetpan, run on a worker thread: our own
 * non-blocking connect with a timeout (libetpan's waits forever on a dead
 * host and select()s on fds it cannot take), greeting, master-user LOGIN,
 * STATUS, and for a range EXAMINE, UID SEARCH, UID FETCH, LOGOUT.
 */

#include "ms_imap_session.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "ms_mime.h"
#include "ut_log.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Exported by libetpan 1.9 but missing from its installed headers. */
int mailstream_cancel_get_fd(struct mailstream_cancel *cancel);

/* Decoded subjects, names and addresses are cut to this many bytes. */
#define TEXT_MAX_BYTES 1024
/* Server response text quoted in an error. */
#define RESPONSE_MAX_BYTES 200

struct scan {
	const struct ms_imap__server *srv;
	const struct ms_imap__scan_req *req;
	struct ms_imap_scan_result *res;
	mailimap *imap;
	bool fd_registered;
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

static void scan_fail(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records the first error of the scan; later ones are consequences. */
static void scan_fail(struct scan *s, const char *fmt, ...)
{
	va_list ap;

	if (s->res->error != 0)
		return;
	s->res->error = -1;
	va_start(ap, fmt);
	s->res->error_text = xvasprintf(fmt, ap);
	va_end(ap);
}

static void imap_fail(struct scan *s, const char *what, int r)
{
	const char *text = s->imap->imap_response;
	char *clean;

	if (r == MAILIMAP_ERROR_STREAM) {
		scan_fail(s, "%s: connection lost or timed out", what);
		return;
	}
	if (r == MAILIMAP_ERROR_PARSE) {
		scan_fail(s, "%s: unparsable server response", what);
		return;
	}
	if (text == NULL || text[0] == '\0')
		text = "no response text";
	clean = ut_utf8_clean_str(text, strlen(text), UT_CLEAN_ONELINE,
				  RESPONSE_MAX_BYTES);
	scan_fail(s, "%s failed: %s", what, clean);
	free(clean);
}

static unsigned timeout_secs(const struct ms_imap__server *srv)
{
	return (unsigned)((srv->timeout_msecs + 999) / 1000);
}

/*
 * Waits for a non-blocking connect() on fd, bounded by the timeout and cut
 * short when the pool stops. Returns 0 or an errno value.
 */
static int connect_wait(const struct ms_imap__server *srv, int fd)
{
	struct pollfd pfd[2] = {
	    {.fd = fd, .events = POLLOUT},
	    {.fd = srv->stop_fd, .events = POLLIN},
	};
	int timeout_msecs = srv->timeout_msecs > INT32_MAX
				? INT32_MAX
				: (int)srv->timeout_msecs;
	int err = 0;
	socklen_t len = sizeof(err);
	int r;

	do {
		r = poll(pfd, srv->stop_fd >= 0 ? 2 : 1, timeout_msecs);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	if (r == 0)
		return ETIMEDOUT;
	if (srv->stop_fd >= 0 && pfd[1].revents != 0)
		return ECANCELED;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Connects one address; returns a blocking fd, or -1 with *err_r set. */
static int connect_addr(struct scan *s, const struct addrinfo *a, int *err_r)
{
	int fd =
	    socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		   a->ai_protocol);
	int flags;

	if (fd < 0) {
		*err_r = errno;
		return -1;
	}
	if (fd >= FD_SETSIZE) {
		close(fd);
		scan_fail(s,
			  "socket fd %d >= FD_SETSIZE (%d): libetpan cannot "
			  "wait on it",
			  fd, FD_SETSIZE);
		*err_r = EMFILE;
		return -1;
	}
	if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
		*err_r = 0;
	else if (errno == EINPROGRESS)
		*err_r = connect_wait(s->srv, fd);
	else
		*err_r = errno;
	if (*err_r == 0) {
		flags = fcntl(fd, F_GETFL);
		if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
			return fd;
		*err_r = errno;
	}
	close(fd);
	return -1;
}

/* Opens a blocking TCP connection; returns the fd or -1 (scan failed). */
static int tcp_connect(struct scan *s)
{
	const struct ms_imap__server *srv = s->srv;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char port[8];
	int err = 0;
	int fd = -1;
	int r;

	snprintf(port, sizeof(port), "%u", (unsigned)srv->port);
	r = getaddrinfo(srv->host, port, &hints, &ai);
	if (r != 0) {
		scan_fail(s, "resolve %s: %s", srv->host, gai_strerror(r));
		return -1;
	}
	for (const struct addrinfo *a = ai; a != NULL && fd < 0;
	     a = a->ai_next) {
		fd = connect_addr(s, a, &err);
		if (fd < 0 && (err == ECANCELED || s->res->error != 0))
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		scan_fail(s, "connect to %s port %u: %s", srv->host,
			  (unsigned)srv->port,
			  err == ECANCELED ? "pool stopped" : strerror(err));
	return fd;
}

/* Connects the session and reads the greeting; 0 or -1 (scan failed). */
static int session_open(struct scan *s)
{
	const struct ms_imap__server *srv = s->srv;
	mailstream *stream;
	int cancel_fd;
	int fd;
	int r;

	if (srv->tls != MS_IMAP_TLS_NONE) {
		scan_fail(s, "TLS not supported yet");
		return -1;
	}
	fd = tcp_connect(s);
	if (fd < 0)
		return -1;
	stream = mailstream_socket_open_timeout(fd, timeout_secs(srv));
	if (stream == NULL) {
		close(fd);
		scan_fail(s, "cannot create a libetpan stream");
		return -1;
	}
	/* libetpan also select()s on its cancel pipe: check that fd too. */
	cancel_fd = mailstream_cancel_get_fd(
	    mailstream_low_get_cancel(mailstream_get_low(stream)));
	if (cancel_fd < 0 || cancel_fd >= FD_SETSIZE) {
		mailstream_close(stream);
		scan_fail(s, "libetpan pipe fd %d >= FD_SETSIZE (%d)",
			  cancel_fd, FD_SETSIZE);
		return -1;
	}
	if (srv->set_fd_cb != NULL && srv->set_fd_cb(fd, srv->set_fd_ctx) < 0) {
		mailstream_close(stream);
		scan_fail(s, "pool stopped");
		return -1;
	}
	s->fd_registered = true;
	/* From here on the session owns the stream, also on failure. */
	r = mailimap_connect(s->imap, stream);
	if (r == MAILIMAP_NO_ERROR_AUTHENTICATED) {
		scan_fail(s, "server greeted with PREAUTH; refusing");
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		imap_fail(s, "greeting", r);
		return -1;
	}
	return 0;
}

static int login(struct scan *s)
{
	char *name = xasprintf("%s%c%s", s->req->user, s->srv->separator,
			       s->srv->master_user);
	int r = mailimap_login(s->imap, name, s->srv->master_password);

	if (r != MAILIMAP_NO_ERROR) {
		char *what = xasprintf("LOGIN as %s", name);

		imap_fail(s, what, r);
		free(what);
	}
	free(name);
	return r == MAILIMAP_NO_ERROR ? 0 : -1;
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
	int r;

	ut_assert(atts != NULL);
	for (size_t i = 0; i < UT_N_ELEMENTS(wanted); i++)
		ut_assert(mailimap_status_att_list_add(atts, wanted[i]) ==
			  MAILIMAP_NO_ERROR);
	r = mailimap_status(s->imap, s->req->mailbox, atts, &st);
	mailimap_status_att_list_free(atts);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(s, "STATUS", r);
		return -1;
	}
	for (clistiter *it = st->st_info_list != NULL
				 ? clist_begin(st->st_info_list)
				 : NULL;
	     it != NULL; it = clist_next(it)) {
		const struct mailimap_status_info *info = clist_content(it);

		if (info->st_att == MAILIMAP_STATUS_ATT_UIDVALIDITY)
			res->uidvalidity = info->st_value;
		else if (info->st_att == MAILIMAP_STATUS_ATT_UIDNEXT)
			res->uidnext = info->st_value;
		else if (info->st_att == MAILIMAP_STATUS_ATT_MESSAGES)
			res->messages = info->st_value;
		else if (info->st_att == MAILIMAP_STATUS_ATT_UNSEEN)
			res->unseen = info->st_value;
	}
	mailimap_mailbox_data_status_free(st);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool uid_in_range(const struct scan *s, uint32_t uid)
{
	/* "n:*" also matches the last message when its UID is below n; and
	   nothing that arrived after STATUS counts. */
	return uid >= s->req->from_uid &&
	       (s->req->to_uid == 0 || uid <= s->req->to_uid) &&
	       uid < s->res->uidnext;
}

/*
 * UID SEARCH over the range. Returns the sorted UIDs in range (their number
 * in *count_r; free the array), or NULL with the scan failed.
 */
static uint32_t *search_uids(struct scan *s, size_t *count_r)
{
	struct mailimap_set *set =
	    mailimap_set_new_interval(s->req->from_uid, s->req->to_uid);
	struct mailimap_search_key *key;
	clist *found = NULL;
	uint32_t *uids;
	size_t n = 0;
	int r;

	ut_assert(set != NULL);
	key = mailimap_search_key_new_uid(set);
	ut_assert(key != NULL);
	r = mailimap_uid_search(s->imap, NULL, key, &found);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(s, "UID SEARCH", r);
		return NULL;
	}
	uids =
	    xreallocarray(NULL, (size_t)clist_count(found) + 1, sizeof(*uids));
	for (clistiter *it = clist_begin(found); it != NULL;
	     it = clist_next(it)) {
		uint32_t uid = *(uint32_t *)clist_content(it);

		if (uid_in_range(s, uid))
			uids[n++] = uid;
	}
	mailimap_search_result_free(found);
	qsort(uids, n, sizeof(*uids), cmp_u32);
	*count_r = n;
	return uids;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* A broken-down time with a +hhmm zone -> unix seconds; 0 when invalid. */
static int64_t date_secs(int year, int month, int day, int hour, int min,
			 int sec, int zone)
{
	if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 ||
	    day > 31 || hour < 0 || hour > 23 || min < 0 || min > 59 ||
	    sec < 0 || sec > 60 || zone <= -10000 || zone >= 10000)
		return 0;
	int64_t zone_secs = ((int64_t)(zone / 100) * 60 + zone % 100) * 60;
	int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 +
		       min * 60 + sec - zone_secs;
	return secs < 0 ? 0 : secs;
}

/* RFC 5322 date text -> unix seconds; 0 when it cannot be understood. */
static int64_t parse_date(const char *text)
{
	struct mailimf_date_time *dt = NULL;
	size_t idx = 0;

	if (text == NULL || mailimf_date_time_parse(text, strlen(text), &idx,
						    &dt) != MAILIMF_NO_ERROR)
		return 0;
	int64_t secs =
	    date_secs(dt->dt_year, dt->dt_month, dt->dt_day, dt->dt_hour,
		      dt->dt_min, dt->dt_sec, dt->dt_zone);
	mailimf_date_time_free(dt);
	return secs;
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
	m->date = parse_date(env->env_date);
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

		if (ff->fl_type == MAILIMAP_FLAG_FETCH_OTHER &&
		    ff->fl_flag != NULL &&
		    ff->fl_flag->fl_type == MAILIMAP_FLAG_SEEN)
			return true;
	}
	return false;
}

/* One FETCH response -> m. Returns false when it carries no UID. */
static bool parse_msg_att(const struct mailimap_msg_att *att,
			  struct ms_imap_msg *m)
{
	const struct mailimap_envelope *env = NULL;

	memset(m, 0, sizeof(*m));
	for (clistiter *it = clist_begin(att->att_list); it != NULL;
	     it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC) {
			const struct mailimap_msg_att_static *st =
			    item->att_data.att_static;

			if (st->att_type == MAILIMAP_MSG_ATT_UID)
				m->uid = st->att_data.att_uid;
			else if (st->att_type == MAILIMAP_MSG_ATT_ENVELOPE)
				env = st->att_data.att_env;
			else if (st->att_type ==
				     MAILIMAP_MSG_ATT_INTERNALDATE &&
				 st->att_data.att_internal_date != NULL) {
				const struct mailimap_date_time *dt =
				    st->att_data.att_internal_date;
				m->received = date_secs(
				    dt->dt_year, dt->dt_month, dt->dt_day,
				    dt->dt_hour, dt->dt_min, dt->dt_sec,
				    dt->dt_zone);
			}
		} else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
			m->seen = m->seen || has_seen(item->att_data.att_dyn);
		}
	}
	if (m->uid == 0)
		return false;
	fill_from_envelope(m, env);
	return true;
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

/* UID FETCH (UID FLAGS ENVELOPE INTERNALDATE) of the sorted uids[0..n). */
static void fetch_msgs(struct scan *s, const uint32_t *uids, size_t n)
{
	struct ms_imap_scan_result *res = s->res;
	struct mailimap_set *set = mailimap_set_new_empty();
	struct mailimap_fetch_type *ft = fetch_type_new();
	clist *result = NULL;
	int r;

	ut_assert(set != NULL);
	for (size_t i = 0; i < n; i++)
		ut_assert(mailimap_set_add_single(set, uids[i]) ==
			  MAILIMAP_NO_ERROR);
	r = mailimap_uid_fetch(s->imap, set, ft, &result);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(s, "UID FETCH", r);
		return;
	}
	res->msgs =
	    xcalloc((size_t)clist_count(result) + 1, sizeof(*res->msgs));
	for (clistiter *it = clist_begin(result); it != NULL;
	     it = clist_next(it)) {
		struct ms_imap_msg *m = &res->msgs[res->msg_count];
		bool wanted;

		if (!parse_msg_att(clist_content(it), m))
			continue;
		/* Only UIDs asked for, each once. */
		wanted =
		    bsearch(&m->uid, uids, n, sizeof(*uids), cmp_u32) != NULL;
		for (size_t i = 0; wanted && i < res->msg_count; i++)
			wanted = res->msgs[i].uid != m->uid;
		if (wanted)
			res->msg_count++;
		else
			msg_clear(m);
	}
	mailimap_fetch_list_free(result);
	qsort(res->msgs, res->msg_count, sizeof(*res->msgs), cmp_msg);
}

static void scan_range(struct scan *s)
{
	uint32_t *uids;
	size_t n = 0, keep;
	int r;

	r = mailimap_examine(s->imap, s->req->mailbox);
	if (r != MAILIMAP_NO_ERROR) {
		imap_fail(s, "EXAMINE", r);
		return;
	}
	uids = search_uids(s, &n);
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
	struct scan s = {.srv = srv, .req = req, .res = res};

	s.imap = mailimap_new(0, NULL);
	ut_assert(s.imap != NULL);
	mailimap_set_timeout(s.imap, timeout_secs(srv));
	if (session_open(&s) < 0 || login(&s) < 0)
		goto out;
	if (read_status(&s) < 0)
		goto out;
	ut_trace(UT_TRACE_IMAP, log_prefix,
		 "STATUS %s: uidvalidity %u uidnext %u messages %u unseen %u",
		 req->mailbox, res->uidvalidity, res->uidnext, res->messages,
		 res->unseen);
	if (req->from_uid > 0 &&
	    (req->uidvalidity == 0 || req->uidvalidity == res->uidvalidity)) {
		scan_range(&s);
		ut_trace(UT_TRACE_IMAP, log_prefix,
			 "UID %u:%u holds %zu, fetched %zu", req->from_uid,
			 req->to_uid, res->range_count, res->msg_count);
	}
	if (res->error == 0)
		mailimap_logout(s.imap);
out:
	if (s.fd_registered && srv->set_fd_cb != NULL)
		srv->set_fd_cb(-1, srv->set_fd_ctx);
	/* After an error, close without the LOGOUT that mailimap_free()
	   would send and wait out on a stalled peer. */
	if (s.imap->imap_stream != NULL) {
		mailstream_close(s.imap->imap_stream);
		s.imap->imap_stream = NULL;
	}
	mailimap_free(s.imap);
	if (res->error != 0) {
		/* A failed scan reports no partial data. */
		char *text = res->error_text;

		res->error_text = NULL;
		ms_imap__result_clear(res);
		res->error = -1;
		res->error_text = text;
	}
}
