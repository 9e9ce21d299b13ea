/*
 * The send-mail form: built for a user, read back from what the user
 * submitted. A form is typed by a person: what cannot be sent as typed is
 * refused with a message saying where, never silently changed.
 */
#include "br_sendmail_form.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define FORM_TITLE BR_SENDMAIL_NAME

/* Presence ranks in the order listed. */
static const char *const ranks[] = {"online", "away", "busy", NULL, "offline"};
#define N_RANKS (sizeof(ranks) / sizeof(ranks[0]))

static size_t rank_of(const char *presence)
{
	for (size_t i = 0; i < N_RANKS; i++) {
		if (ranks[i] != NULL && presence != NULL &&
		    strcmp(presence, ranks[i]) == 0)
			return i;
	}
	return 3; /* unknown */
}

static void add_person(struct xm_form *f, const struct br_sendmail_person *p)
{
	char *name =
	    p->name != NULL
		? ut_utf8_clean_str(p->name, strlen(p->name), UT_CLEAN_ONELINE,
				    BR_SENDMAIL_NAME_SHOWN_MAX)
		: NULL;
	size_t r = rank_of(p->presence);
	char *line;

	if (name != NULL && name[0] != '\0')
		line = xasprintf("%s <%s>", name, p->address);
	else
		line = xstrdup(p->address);
	if (ranks[r] != NULL) {
		char *with = xasprintf("%s: %s", line, ranks[r]);
		free(line);
		line = with;
	}
	xm_form_field_add_value(
	    xm_form_add_field(f, XM_FIELD_FIXED, NULL, NULL), line);
	free(line);
	free(name);
}

static void add_people(struct xm_form *f,
		       const struct br_sendmail_person *people, size_t n)
{
	size_t total = 0, shown = 0;

	for (size_t i = 0; i < n; i++)
		total += people[i].address != NULL;
	if (total == 0)
		return;
	xm_form_field_add_value(
	    xm_form_add_field(f, XM_FIELD_FIXED, NULL, NULL), "People here:");
	/* One pass per rank keeps the given order within a rank. */
	for (size_t r = 0; r < N_RANKS && shown < BR_SENDMAIL_PEOPLE_MAX; r++) {
		for (size_t i = 0; i < n && shown < BR_SENDMAIL_PEOPLE_MAX;
		     i++) {
			if (people[i].address == NULL ||
			    rank_of(people[i].presence) != r)
				continue;
			add_person(f, &people[i]);
			shown++;
		}
	}
	if (shown < total) {
		char *more = xasprintf("…and %zu more.", total - shown);
		xm_form_field_add_value(
		    xm_form_add_field(f, XM_FIELD_FIXED, NULL, NULL), more);
		free(more);
	}
}

struct xm_form *br_sendmail_form_new(const char *from_address,
				     const struct br_sendmail_person *people,
				     size_t n)
{
	char *instructions =
	    xasprintf("Your mail goes out from %s.\nTo and Cc take one or more "
		      "addresses, one per line or separated by commas; \"Name "
		      "<address>\" is fine.",
		      from_address);
	struct xm_form *f = xm_form_new(XM_FORM_FORM, FORM_TITLE, instructions);
	struct xm_form_field *fl;

	free(instructions);
	add_people(f, people, n);
	fl = xm_form_add_field(f, XM_FIELD_TEXT_MULTI, "to", "To");
	xm_form_field_set_required(fl, true);
	xm_form_add_field(f, XM_FIELD_TEXT_MULTI, "cc", "Cc");
	xm_form_add_field(f, XM_FIELD_TEXT_SINGLE, "subject", "Subject");
	fl = xm_form_add_field(f, XM_FIELD_TEXT_MULTI, "body", "Body");
	xm_form_field_set_required(fl, true);
	return f;
}

/* ---- reading ---- */

static void entry_free(struct ms_addr *a)
{
	free(a->addr);
	free(a->display);
}

static bool listed(const struct ms_addr_list *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++) {
		if (ms_addr_equal(l->v[i].addr, addr))
			return true;
	}
	return false;
}

/*
 * Reads the values of field var into out, skipping addresses already in
 * before or out; *total counts the addresses kept in both lists. On a
 * fault, appends "Label: reason. " to err and returns -1.
 */
static int read_addrs(const struct xm_form *f, const char *var,
		      const char *label, size_t rcpts_max,
		      const struct ms_addr_list *before,
		      struct ms_addr_list *out, size_t *total,
		      struct ut_buf *err)
{
	const struct xm_form_field *fl = xm_form_field_get(f, var);
	size_t cap = 0, nv = fl != NULL ? xm_form_field_value_count(fl) : 0;
	int ret = 0;

	for (size_t k = 0; k < nv && ret == 0; k++) {
		const char *v = xm_form_field_value(fl, k);
		struct ms_addr_list one;
		char *e = NULL;

		if (ms_addr_list_parse(v, strlen(v), rcpts_max, 0, &one, &e) <
		    0) {
			ut_buf_appendf(err, "%s: %s. ", label, e);
			free(e);
			ms_addr_list_clear(&one);
			return -1;
		}
		for (size_t i = 0; i < one.n; i++) {
			if (ret < 0 || listed(before, one.v[i].addr) ||
			    listed(out, one.v[i].addr)) {
				entry_free(&one.v[i]);
				continue;
			}
			if (*total >= rcpts_max) {
				ut_buf_appendf(err,
					       "%s: too many recipients (at "
					       "most %zu in To and Cc). ",
					       label, rcpts_max);
				entry_free(&one.v[i]);
				ret = -1;
				continue;
			}
			if (out->n == cap) {
				cap = cap * 2 + 4;
				out->v =
				    xreallocarray(out->v, cap, sizeof(*out->v));
			}
			out->v[out->n++] = one.v[i];
			(*total)++;
		}
		free(one.v);
	}
	return ret;
}

/* A control character (C0, DEL, C1) or a line or paragraph separator at
   s[i] (valid UTF-8)? */
static bool control_at(const unsigned char *s, size_t len, size_t i)
{
	if (s[i] < 0x20 || s[i] == 0x7f)
		return true;
	if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
		return true;
	return s[i] == 0xe2 && i + 2 < len && s[i + 1] == 0x80 &&
	       (s[i + 2] == 0xa8 || s[i + 2] == 0xa9);
}

static int read_subject(const struct xm_form *f, char **subject_r,
			struct ut_buf *err)
{
	const struct xm_form_field *fl = xm_form_field_get(f, "subject");
	const char *v;
	size_t len, start = 0;

	*subject_r = NULL;
	if (fl == NULL || xm_form_field_value_count(fl) == 0)
		return 0;
	if (xm_form_field_value_count(fl) > 1) {
		ut_buf_append_str(err, "Subject: one line only. ");
		return -1;
	}
	v = xm_form_field_value(fl, 0);
	len = strlen(v);
	if (!ut_utf8_valid(v, len)) {
		ut_buf_append_str(err, "Subject: not valid UTF-8. ");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (control_at((const unsigned char *)v, len, i)) {
			ut_buf_append_str(err,
					  "Subject: one line without tabs or "
					  "control characters, please. ");
			return -1;
		}
	}
	while (len > 0 && v[len - 1] == ' ')
		len--;
	while (start < len && v[start] == ' ')
		start++;
	if (len - start > BR_SENDMAIL_SUBJECT_MAX) {
		ut_buf_appendf(err,
			       "Subject: too long (%zu bytes, at most %d). ",
			       len - start, BR_SENDMAIL_SUBJECT_MAX);
		return -1;
	}
	if (len > start)
		*subject_r = xstrndup(v + start, len - start);
	return 0;
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	}
	return true;
}

static int read_body(const struct xm_form *f, size_t body_max, char **body_r,
		     size_t *len_r, struct ut_buf *err)
{
	const struct xm_form_field *fl = xm_form_field_get(f, "body");
	size_t nv = fl != NULL ? xm_form_field_value_count(fl) : 0, len = 0;
	struct ut_buf b;

	*body_r = NULL;
	*len_r = 0;
	for (size_t k = 0; k < nv; k++)
		len += strlen(xm_form_field_value(fl, k)) + (k > 0);
	if (body_max > 0 && len > body_max) {
		ut_buf_appendf(err, "Body: too long (%zu bytes, at most %zu). ",
			       len, body_max);
		return -1;
	}
	ut_buf_init(&b);
	ut_buf_reserve(&b, len + 1);
	for (size_t k = 0; k < nv; k++) {
		if (k > 0)
			ut_buf_append_c(&b, '\n');
		ut_buf_append_str(&b, xm_form_field_value(fl, k));
	}
	ut_assert(b.len == len);
	if (!ut_utf8_valid(ut_buf_str(&b), len)) {
		ut_buf_append_str(err, "Body: not valid UTF-8. ");
		ut_buf_free(&b);
		return -1;
	}
	if (blank(ut_buf_str(&b), len)) {
		ut_buf_append_str(err, "Body: write something. ");
		ut_buf_free(&b);
		return -1;
	}
	*body_r = ut_buf_steal(&b);
	*len_r = len;
	return 0;
}

int br_sendmail_form_read(const struct xm_form *in, size_t body_max,
			  size_t rcpts_max, struct br_sendmail_request *r,
			  char **error_r)
{
	struct ms_addr_list none = {NULL, 0};
	struct ut_buf err;
	size_t total = 0;
	bool bad = false;

	memset(r, 0, sizeof(*r));
	*error_r = NULL;
	ut_buf_init(&err);
	if (read_addrs(in, "to", "To", rcpts_max, &none, &r->to, &total, &err) <
	    0)
		bad = true;
	else if (r->to.n == 0) {
		ut_buf_append_str(&err, "To: give at least one address. ");
		bad = true;
	}
	if (read_addrs(in, "cc", "Cc", rcpts_max, &r->to, &r->cc, &total,
		       &err) < 0)
		bad = true;
	if (read_subject(in, &r->subject, &err) < 0)
		bad = true;
	if (read_body(in, body_max, &r->body, &r->body_len, &err) < 0)
		bad = true;
	if (!bad) {
		ut_buf_free(&err);
		return 0;
	}
	br_sendmail_request_clear(r);
	/* Without the last separator. */
	ut_assert(err.len > 0);
	err.data[--err.len] = '\0';
	*error_r = ut_buf_steal(&err);
	return -1;
}

void br_sendmail_request_clear(struct br_sendmail_request *r)
{
	ms_addr_list_clear(&r->to);
	ms_addr_list_clear(&r->cc);
	free(r->subject);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
