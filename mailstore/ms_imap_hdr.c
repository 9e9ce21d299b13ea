/*
 * Pure parsers of server text for the IMAP pool (see ms_imap_hdr.h): a
 * header block into struct ms_imap_headers, modified UTF-7 mailbox names,
 * RFC 5322 dates. Everything here reads hostile bytes: every loop is
 * bounded by the input, every output by a constant.
 */

#include "ms_imap_hdr.h"

#include <libetpan/libetpan.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ms_addr.h"
#include "ms_mime.h"
#include "ut_buf.h"
#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* A field's unfolded value is cut to this many octets before parsing
   (100 addresses of To with display names fit). */
#define FIELD_MAX ((size_t)64 << 10)

int64_t ms_imap__date_secs(int year, int month, int day, int hour, int min,
			   int sec, int zone)
{
	struct tm tm = {0};
	time_t t;

	if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 ||
	    day > 31 || hour < 0 || hour > 23 || min < 0 || min > 59 ||
	    sec < 0 || sec > 60 || zone <= -10000 || zone >= 10000)
		return 0;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	int64_t zone_secs = ((int64_t)(zone / 100) * 60 + zone % 100) * 60;
	int64_t secs = (int64_t)t - zone_secs;
	return secs < 0 ? 0 : secs;
}

int64_t ms_imap__parse_date(const char *text)
{
	struct mailimf_date_time *dt = NULL;
	size_t idx = 0;

	if (text == NULL || mailimf_date_time_parse(text, strlen(text), &idx,
						    &dt) != MAILIMF_NO_ERROR)
		return 0;
	if (dt == NULL)
		return 0;
	int64_t secs = ms_imap__date_secs(dt->dt_year, dt->dt_month, dt->dt_day,
					  dt->dt_hour, dt->dt_min, dt->dt_sec,
					  dt->dt_zone);
	mailimf_date_time_free(dt);
	return secs;
}

/* -- header fields -------------------------------------------------------- */

enum field {
	F_MSGID,
	F_IRT,
	F_REFS,
	F_SUBJECT,
	F_FROM,
	F_REPLY_TO,
	F_TO,
	F_CC,
	F_DATE,
	F_CTYPE,
	F_RPATH,
	F_N,
};

static const char *const field_names[F_N] = {
    "Message-ID", "In-Reply-To",  "References",	 "Subject",
    "From",	  "Reply-To",	  "To",		 "Cc",
    "Date",	  "Content-Type", "Return-Path",
};

struct span {
	const char *p;
	size_t n;
	bool set;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool name_is(const char *p, size_t n, const char *name)
{
	if (strlen(name) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ut_ascii_tolower(p[i]) != ut_ascii_tolower(name[i]))
			return false;
	}
	return true;
}

/* The value without line breaks (folding removed: CRLF and LF go), other
   bytes kept except NUL and a CR without LF, which become spaces (so that
   they join nothing); at most FIELD_MAX octets. */
static char *unfold(struct span s)
{
	size_t n = s.n < FIELD_MAX ? s.n : FIELD_MAX, o = 0;
	char *out = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		char c = s.p[i];

		if (c == '\n' ||
		    (c == '\r' && i + 1 < s.n && s.p[i + 1] == '\n'))
			continue;
		out[o++] = c == '\0' || c == '\r' ? ' ' : c;
	}
	out[o] = '\0';
	return out;
}

/* Skips a comment starting at s[i] == '(' (nested, with quoted pairs);
   returns the index after it (n if it does not end). */
static size_t skip_comment(const char *s, size_t n, size_t i)
{
	unsigned depth = 0;

	for (; i < n; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return n;
}

/* Collects msg-ids: the first one and a ring of the latest. */
struct ids {
	struct span first;
	struct span ring[MS_IMAP_REFS_MAX - 1];
	size_t count;			    /* all valid ids seen */
	struct span head[MS_IMAP_REFS_MAX]; /* the first ones */
};

static void ids_add(struct ids *ids, const char *p, size_t n)
{
	struct span s = {p, n, true};

	if (ids->count < MS_IMAP_REFS_MAX)
		ids->head[ids->count] = s;
	if (ids->count == 0)
		ids->first = s;
	else
		ids->ring[(ids->count - 1) % UT_N_ELEMENTS(ids->ring)] = s;
	ids->count++;
}

bool ms_imap__msgid_valid(const char *p, size_t n)
{
	bool at = false;

	if (n < 3 || n > MS_IMAP_MSGID_MAX || p[0] != '<' || p[n - 1] != '>')
		return false;
	for (size_t i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x21 || c > 0x7e || c == '<' || c == '>')
			return false;
		at = at || c == '@';
	}
	return at && p[1] != '@' && p[n - 2] != '@';
}

/* Every valid "<...>" of s (outside comments), in order. */
static void scan_ids(struct span s, struct ids *ids)
{
	size_t i = 0;

	while (i < s.n) {
		size_t j;

		if (s.p[i] == '(') {
			i = skip_comment(s.p, s.n, i);
			continue;
		}
		if (s.p[i] != '<') {
			i++;
			continue;
		}
		for (j = i + 1; j < s.n; j++) {
			unsigned char c = (unsigned char)s.p[j];

			if (c < 0x21 || c > 0x7e || c == '<' || c == '>')
				break;
		}
		if (j < s.n && s.p[j] == '>') {
			if (ms_imap__msgid_valid(s.p + i, j - i + 1))
				ids_add(ids, s.p + i, j - i + 1);
			i = j + 1;
		} else {
			i = j;
		}
	}
}

static void join(struct ut_buf *b, const struct span *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			ut_buf_append_c(b, ' ');
		ut_buf_append(b, v[i].p, v[i].n);
	}
}

/* In-Reply-To: the first ids that fit. */
static char *ids_head(const struct ids *ids)
{
	size_t n =
	    ids->count < MS_IMAP_REFS_MAX ? ids->count : MS_IMAP_REFS_MAX;
	size_t bytes = 0, k = 0;
	struct ut_buf b;

	if (n == 0)
		return NULL;
	for (; k < n; k++) {
		size_t add = ids->head[k].n + (k > 0);

		if (bytes + add > MS_IMAP_REFS_BYTES)
			break;
		bytes += add;
	}
	ut_buf_init(&b);
	join(&b, ids->head, k);
	return ut_buf_steal(&b);
}

/* References: the first id and as many of the latest as fit. */
static char *ids_first_and_latest(const struct ids *ids)
{
	struct span v[MS_IMAP_REFS_MAX];
	size_t n = 0, latest, bytes, start;
	struct ut_buf b;

	if (ids->count == 0)
		return NULL;
	v[n++] = ids->first;
	latest = ids->count - 1;
	if (latest > UT_N_ELEMENTS(ids->ring))
		latest = UT_N_ELEMENTS(ids->ring);
	/* The latest ones, oldest first. */
	for (size_t k = ids->count - latest; k < ids->count; k++)
		v[n++] = ids->ring[(k - 1) % UT_N_ELEMENTS(ids->ring)];
	/* Drop the oldest of the latest until they fit. */
	start = 1;
	for (;;) {
		bytes = v[0].n;
		for (size_t k = start; k < n; k++)
			bytes += 1 + v[k].n;
		if (bytes <= MS_IMAP_REFS_BYTES || start >= n)
			break;
		start++;
	}
	ut_buf_init(&b);
	ut_buf_append(&b, v[0].p, v[0].n);
	for (size_t k = start; k < n; k++) {
		ut_buf_append_c(&b, ' ');
		ut_buf_append(&b, v[k].p, v[k].n);
	}
	return ut_buf_steal(&b);
}

/* The first msg-id of the field, or NULL. */
static char *first_id(struct span s)
{
	struct ids ids = {0};

	scan_ids(s, &ids);
	return ids.count > 0 ? xstrndup(ids.first.p, ids.first.n) : NULL;
}

/*
 * A validated address (copy) or NULL. libetpan's parser drops white space
 * and comments inside an addr-spec ("bad address@x" comes out as
 * "badaddress@x", "\"a b\"@x" as "\"ab\"@x"): only an address that
 * stands in the field as written is taken.
 */
static char *valid_addr(const char *addr, const char *field)
{
	const char *why;

	if (addr == NULL ||
	    ms_addr_validate(addr, strlen(addr), MS_ADDR_UTF8, &why) < 0 ||
	    strstr(field, addr) == NULL)
		return NULL;
	return xstrdup(addr);
}

static void parse_from(struct span s, struct ms_imap_headers *h)
{
	char *u = unfold(s);
	struct mailimf_mailbox_list *list = NULL;
	const struct mailimf_mailbox *mb = NULL;
	size_t idx = 0;

	if (mailimf_mailbox_list_parse(u, strlen(u), &idx, &list) ==
		MAILIMF_NO_ERROR &&
	    list != NULL && list->mb_list != NULL &&
	    clist_begin(list->mb_list) != NULL)
		mb = clist_content(clist_begin(list->mb_list));
	if (mb != NULL) {
		h->from_address = valid_addr(mb->mb_addr_spec, u);
		if (mb->mb_display_name != NULL) {
			h->from_name = ms_mime_decode_header(
			    mb->mb_display_name, strlen(mb->mb_display_name),
			    MS_ADDR_DISPLAY_MAX);
			if (h->from_name[0] == '\0') {
				free(h->from_name);
				h->from_name = NULL;
			}
		}
	}
	if (list != NULL)
		mailimf_mailbox_list_free(list);
	free(u);
}

/*
 * A list of distinct addresses being filled (Reply-To, To, Cc). Only the
 * first 4 * max mailboxes of a field are looked at: each costs a search
 * through the field.
 */
struct addrs {
	char ***list;
	size_t *count;
	size_t max;
	size_t tried;
};

static void addrs_add(struct addrs *a, const struct mailimf_mailbox *mb,
		      const char *field)
{
	char *addr;

	if (mb == NULL || *a->count >= a->max || a->tried >= 4 * a->max)
		return;
	a->tried++;
	addr = valid_addr(mb->mb_addr_spec, field);
	if (addr == NULL)
		return;
	for (size_t i = 0; i < *a->count; i++) {
		if (ms_addr_equal((*a->list)[i], addr)) {
			free(addr);
			return;
		}
	}
	if (*a->list == NULL)
		*a->list = xcalloc(a->max, sizeof(**a->list));
	(*a->list)[(*a->count)++] = addr;
}

/* The valid addresses of an address-list field, group members included,
   into *list_r (at most max of them). */
static void parse_addrs(struct span s, char ***list_r, size_t *count_r,
			size_t max)
{
	struct addrs addrs = {list_r, count_r, max, 0}, *a = &addrs;
	char *u = unfold(s);
	struct mailimf_address_list *list = NULL;
	size_t idx = 0;

	if (mailimf_address_list_parse(u, strlen(u), &idx, &list) !=
		MAILIMF_NO_ERROR ||
	    list == NULL || list->ad_list == NULL)
		goto out;
	for (clistiter *it = clist_begin(list->ad_list); it != NULL;
	     it = clist_next(it)) {
		const struct mailimf_address *ad = clist_content(it);
		const struct mailimf_mailbox_list *g;

		if (ad == NULL)
			continue;
		if (ad->ad_type == MAILIMF_ADDRESS_MAILBOX) {
			addrs_add(a, ad->ad_data.ad_mailbox, u);
			continue;
		}
		if (ad->ad_type != MAILIMF_ADDRESS_GROUP ||
		    ad->ad_data.ad_group == NULL)
			continue;
		g = ad->ad_data.ad_group->grp_mb_list;
		for (clistiter *m = g != NULL && g->mb_list != NULL
					? clist_begin(g->mb_list)
					: NULL;
		     m != NULL; m = clist_next(m))
			addrs_add(a, clist_content(m), u);
	}
out:
	if (list != NULL)
		mailimf_address_list_free(list);
	free(u);
}

/* The first token of an unfolded value (after white space and comments):
   its start in *tok_r and its length. */
static size_t first_token(const char *u, const char **tok_r)
{
	size_t n = strlen(u), i = 0, j;

	while (i < n) {
		if (is_wsp(u[i]))
			i++;
		else if (u[i] == '(')
			i = skip_comment(u, n, i);
		else
			break;
	}
	for (j = i; j < n && !is_wsp(u[j]) && u[j] != ';' && u[j] != '('; j++)
		;
	*tok_r = u + i;
	return j - i;
}

/* Auto-Submitted present and not "no" (RFC 3834). */
static bool auto_submitted(struct span s)
{
	char *u = unfold(s);
	const char *tok;
	size_t n = first_token(u, &tok);
	bool no = n == 2 && name_is(tok, n, "no");

	free(u);
	return !no;
}

static bool content_is_report(struct span s)
{
	char *u = unfold(s);
	const char *tok;
	size_t n = first_token(u, &tok);
	bool report = name_is(tok, n, "multipart/report");

	free(u);
	return report;
}

/* A null reverse path "<>" or a MAILER-DAEMON mailbox: a bounce. */
static bool bounce_address(struct span s)
{
	static const char daemon[] = "mailer-daemon";
	char *u = unfold(s);
	size_t n = strlen(u), i = 0;
	bool bounce = false;

	while (i < n && is_wsp(u[i]))
		i++;
	if (i < n && u[i] == '<') {
		i++;
		while (i < n && is_wsp(u[i]))
			i++;
		bounce = i < n && u[i] == '>';
	}
	for (i = 0; !bounce && i + sizeof(daemon) - 1 <= n; i++) {
		char after;

		if (i > 0 && !is_wsp(u[i - 1]) && u[i - 1] != '<' &&
		    u[i - 1] != '"' && u[i - 1] != ':')
			continue;
		if (!name_is(u + i, sizeof(daemon) - 1, daemon))
			continue;
		after = u[i + sizeof(daemon) - 1];
		bounce = after == '\0' || after == '@' || after == '>' ||
			 after == '"' || is_wsp(after) || after == '(';
	}
	free(u);
	return bounce;
}

static void apply(struct span f[F_N], struct ms_imap_headers *h)
{
	if (f[F_MSGID].set)
		h->message_id = first_id(f[F_MSGID]);
	if (f[F_IRT].set) {
		struct ids ids = {0};

		scan_ids(f[F_IRT], &ids);
		h->in_reply_to = ids_head(&ids);
	}
	if (f[F_REFS].set) {
		struct ids ids = {0};

		scan_ids(f[F_REFS], &ids);
		h->references = ids_first_and_latest(&ids);
	}
	if (f[F_SUBJECT].set) {
		char *u = unfold(f[F_SUBJECT]);

		h->subject =
		    ms_mime_decode_header(u, strlen(u), MS_IMAP_SUBJECT_MAX);
		free(u);
	}
	if (f[F_FROM].set) {
		parse_from(f[F_FROM], h);
		if (bounce_address(f[F_FROM]))
			h->automatic = true;
	}
	if (f[F_REPLY_TO].set)
		parse_addrs(f[F_REPLY_TO], &h->reply_to, &h->reply_to_count,
			    MS_IMAP_REPLY_TO_MAX);
	if (f[F_TO].set)
		parse_addrs(f[F_TO], &h->to, &h->to_count, MS_IMAP_RCPTS_MAX);
	if (f[F_CC].set)
		parse_addrs(f[F_CC], &h->cc, &h->cc_count, MS_IMAP_RCPTS_MAX);
	if (f[F_DATE].set) {
		char *u = unfold(f[F_DATE]);

		h->date = ms_imap__parse_date(u);
		free(u);
	}
	if (f[F_CTYPE].set && content_is_report(f[F_CTYPE]))
		h->automatic = true;
	if (f[F_RPATH].set && bounce_address(f[F_RPATH]))
		h->automatic = true;
}

/* The end of the line starting at i (the index of its '\n', or len). */
static size_t line_end(const char *raw, size_t len, size_t i)
{
	const char *nl = memchr(raw + i, '\n', len - i);

	return nl != NULL ? (size_t)(nl - raw) : len;
}

void ms_imap__headers_parse(const char *raw, size_t len,
			    struct ms_imap_headers *h)
{
	struct span f[F_N] = {{0}};
	size_t i = 0;

	memset(h, 0, sizeof(*h));
	while (i < len) {
		size_t eol = line_end(raw, len, i), end = eol, name_end, colon;
		const char *c;

		if (end > i && raw[end - 1] == '\r')
			end--;
		if (end == i)
			break; /* the empty line ends the header */
		/* A field: name ":" value, then continuation lines. */
		c = is_wsp(raw[i]) ? NULL : memchr(raw + i, ':', end - i);
		while (eol < len && eol + 1 < len && is_wsp(raw[eol + 1]))
			eol = line_end(raw, len, eol + 1);
		if (c != NULL) {
			colon = (size_t)(c - raw);
			name_end = colon;
			while (name_end > i && is_wsp(raw[name_end - 1]))
				name_end--;
			for (size_t k = 0; k < F_N; k++) {
				if (f[k].set || !name_is(raw + i, name_end - i,
							 field_names[k]))
					continue;
				f[k] = (struct span){raw + colon + 1,
						     eol - colon - 1, true};
			}
			if (name_is(raw + i, name_end - i, "Auto-Submitted") &&
			    auto_submitted((struct span){
				raw + colon + 1, eol - colon - 1, true}))
				h->automatic = true;
		}
		i = eol < len ? eol + 1 : len;
	}
	apply(f, h);
}

void ms_imap_headers_clear(struct ms_imap_headers *h)
{
	free(h->message_id);
	free(h->in_reply_to);
	free(h->references);
	free(h->subject);
	free(h->from_address);
	free(h->from_name);
	for (size_t i = 0; i < h->reply_to_count; i++)
		free(h->reply_to[i]);
	free(h->reply_to);
	for (size_t i = 0; i < h->to_count; i++)
		free(h->to[i]);
	free(h->to);
	for (size_t i = 0; i < h->cc_count; i++)
		free(h->cc[i]);
	free(h->cc);
	memset(h, 0, sizeof(*h));
}
