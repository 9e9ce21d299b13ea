/*
 * Fuzz target for ms_compose (with ms_addr_list_parse for the recipient
 * fields). The first input byte holds flags; the rest is split at 0xFF
 * bytes into: from name, To field, Cc field, subject, body, parent
 * Message-ID, parent References, JID. Checks, on success:
 * - CRLF line ends only, no line longer than 998 octets;
 * - every header line starts with a known header name (each at most once)
 *   or is a continuation starting with white space: nothing injected;
 * - the Subject, decoded by ms_mime, equals the subject cleaned as
 *   ms_compose.h documents;
 * - libetpan parses From (address and decoded display name as given and
 *   cleaned), To and Cc (as many addresses as given);
 * - the body, decoded by libetpan (QP/base64) and RFC 3676 (when flowed),
 *   equals the cleaned text;
 * - the Message-ID returned is the one in the header.
 * On failure: an error message and the output buffer unchanged.
 */
#include <libetpan/libetpan.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_compose.h"
#include "ms_mime.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

enum { F_NAME, F_TO, F_CC, F_SUBJECT, F_BODY, F_PARENT, F_REFS, F_JID, F_N };

static const char *const known[] = {
    "Date",
    "From",
    "To",
    "Cc",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Jabber-ID",
    "User-Agent",
};

/* Checks the shape; returns the offset of the body. */
static size_t check_shape(const char *m, size_t len)
{
	int seen[UT_N_ELEMENTS(known)] = {0};
	size_t line = 0;
	bool in_header = true;
	size_t body = 0;
	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\0')
			abort();
		if (m[i] == '\r' && (i + 1 >= len || m[i + 1] != '\n'))
			abort();
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			abort();
		if (m[i] != '\n')
			continue;
		size_t l = i - 1 - line;
		if (l > 998)
			abort();
		if (in_header && l == 0) {
			in_header = false;
			body = i + 1;
		} else if (in_header && m[line] != ' ' && m[line] != '\t') {
			size_t k = 0;
			for (; k < UT_N_ELEMENTS(known); k++) {
				size_t n = strlen(known[k]);
				if (l > n &&
				    memcmp(m + line, known[k], n) == 0 &&
				    m[line + n] == ':')
					break;
			}
			if (k == UT_N_ELEMENTS(known) || seen[k]++ > 0)
				abort();
		} else if (in_header && line == 0) {
			abort();
		}
		line = i + 1;
	}
	if (in_header || line != len)
		abort();
	return body;
}

/* The unfolded value of a header (must exist). */
static char *header(const char *m, const char *name)
{
	size_t n = strlen(name);
	const char *p = m;
	while (!(strncmp(p, name, n) == 0 && p[n] == ':')) {
		p = strstr(p, "\r\n");
		if (p == NULL || p[2] == '\r')
			abort();
		p += 2;
	}
	struct ut_buf v = UT_BUF_INIT;
	p += n + 1;
	if (*p == ' ')
		p++;
	for (;;) {
		const char *e = strstr(p, "\r\n");
		ut_buf_append(&v, p, (size_t)(e - p));
		p = e + 2;
		if (*p != ' ' && *p != '\t')
			break;
	}
	return ut_buf_steal(&v);
}

static void check_subject(const char *m, const char *subject)
{
	char *raw = header(m, "Subject");
	char *got = ms_mime_decode_header(raw, strlen(raw), 0);
	char *want = ut_utf8_clean_str(
	    subject, strlen(subject), UT_CLEAN_ONELINE, MS_COMPOSE_SUBJECT_MAX);
	if (strcmp(got, want) != 0)
		abort();
	free(raw);
	free(got);
	free(want);
}

static void check_body(const char *m, size_t body_off, size_t len,
		       const char *body, size_t body_len, bool flowed)
{
	char *cte = header(m, "Content-Transfer-Encoding");
	int enc = strcmp(cte, "base64") == 0 ? MAILMIME_MECHANISM_BASE64
		  : strcmp(cte, "quoted-printable") == 0
		      ? MAILMIME_MECHANISM_QUOTED_PRINTABLE
		      : MAILMIME_MECHANISM_7BIT;
	free(cte);
	size_t idx = 0, dlen = 0;
	char *dec = NULL;
	if (mailmime_part_parse(m + body_off, len - body_off, &idx, enc, &dec,
				&dlen) != MAILIMF_NO_ERROR)
		abort();

	/* Undo CRLF and format=flowed. */
	struct ut_buf got = UT_BUF_INIT;
	size_t s = 0;
	while (s < dlen) {
		const char *e = memmem(dec + s, dlen - s, "\r\n", 2);
		size_t end = e != NULL ? (size_t)(e - dec) : dlen;
		size_t ls = s;
		if (flowed && ls < end && dec[ls] == ' ')
			ls++;
		ut_buf_append(&got, dec + ls, end - ls);
		if (!flowed || end == ls || dec[end - 1] != ' ')
			ut_buf_append_c(&got, '\n');
		s = end + 2;
	}
	if (dec != NULL)
		mmap_string_unref(dec);

	struct ut_buf clean = UT_BUF_INIT, want = UT_BUF_INIT;
	ut_utf8_clean(body, body_len, UT_CLEAN_MULTILINE, 0, &clean);
	for (size_t st = 0; st < clean.len;) {
		const char *nl = memchr(clean.data + st, '\n', clean.len - st);
		size_t end = nl != NULL ? (size_t)(nl - clean.data) : clean.len;
		size_t l = end - st;
		while (flowed && l > 0 && clean.data[st + l - 1] == ' ')
			l--;
		ut_buf_append(&want, clean.data + st, l);
		ut_buf_append_c(&want, '\n');
		st = end + 1;
	}
	if (got.len != want.len ||
	    (got.len > 0 && memcmp(got.data, want.data, got.len) != 0))
		abort();
	ut_buf_free(&got);
	ut_buf_free(&want);
	ut_buf_free(&clean);
}

/* libetpan parses the header block: one From mailbox with our address
   and the cleaned display name (decoded by ms_mime), and as many To and
   Cc addresses as were given. */
static void check_addresses(const char *m, size_t body_off,
			    const struct ms_compose *c)
{
	/* libetpan 1.9.4 does not parse domain literals with ':' (IPv6),
	   quoted local parts with '(' or ')' in them, nor an atom holding
	   "=?" (it takes it for an RFC 2047 word and fails the whole
	   block), all of which RFC 5322 allows: headers with such
	   addresses are not cross-checked. */
	bool unparsable = false;
	for (size_t i = 0; i < c->n_to + c->n_cc; i++) {
		const char *a =
		    i < c->n_to ? c->to[i].addr : c->cc[i - c->n_to].addr;
		unparsable = unparsable || strchr(a, ':') != NULL ||
			     a[0] == '"' || strstr(a, "=?") != NULL;
	}
	size_t idx = 0;
	struct mailimf_fields *fields = NULL;
	if (mailimf_fields_parse(m, body_off, &idx, &fields) !=
	    MAILIMF_NO_ERROR) {
		if (unparsable)
			return;
		abort();
	}
	struct mailimf_single_fields f;
	mailimf_single_fields_init(&f, fields);
	if (f.fld_from == NULL ||
	    clist_count(f.fld_from->frm_mb_list->mb_list) != 1)
		abort();
	struct mailimf_mailbox *mb =
	    clist_content(clist_begin(f.fld_from->frm_mb_list->mb_list));
	if (strcmp(mb->mb_addr_spec, c->from_addr) != 0)
		abort();
	const char *name = c->from_name != NULL ? c->from_name : "";
	char *want = ut_utf8_clean_str(name, strlen(name), UT_CLEAN_ONELINE,
				       MS_ADDR_DISPLAY_MAX);
	const char *raw =
	    mb->mb_display_name != NULL ? mb->mb_display_name : "";
	char *got = ms_mime_decode_header(raw, strlen(raw), 0);
	if (strcmp(got, want) != 0)
		abort();
	free(got);
	free(want);
	if (unparsable) {
		mailimf_fields_free(fields);
		return;
	}
	if ((c->n_to > 0) != (f.fld_to != NULL) ||
	    (f.fld_to != NULL &&
	     (size_t)clist_count(f.fld_to->to_addr_list->ad_list) != c->n_to))
		abort();
	if ((c->n_cc > 0) != (f.fld_cc != NULL) ||
	    (f.fld_cc != NULL &&
	     (size_t)clist_count(f.fld_cc->cc_addr_list->ad_list) != c->n_cc))
		abort();
	mailimf_fields_free(fields);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0];
	char *f[F_N] = {0};
	size_t flen[F_N] = {0};
	size_t start = 1, k = 0;
	for (size_t i = 1; i <= size && k < F_N; i++) {
		if (i < size && data[i] != 0xFF)
			continue;
		/* Copies with any NUL (the body has a length; the other
		   fields end at their first NUL as C strings). */
		flen[k] = i - start;
		f[k] = xmalloc(flen[k] + 1);
		memcpy(f[k], data + start, flen[k]);
		f[k][flen[k]] = '\0';
		k++;
		start = i + 1;
	}
	for (; k < F_N; k++)
		f[k] = xstrdup("");

	unsigned addr_flags = (flags & 4) ? MS_ADDR_UTF8 : 0;
	struct ms_addr_list to = {0}, cc = {0};
	char *error = NULL;
	if (ms_addr_list_parse(f[F_TO], strlen(f[F_TO]), 8, addr_flags, &to,
			       &error) < 0)
		free(error);
	if (ms_addr_list_parse(f[F_CC], strlen(f[F_CC]), 8, addr_flags, &cc,
			       &error) < 0)
		free(error);

	struct ms_compose c = {0};
	c.from_addr = (flags & 64) ? "alice@[192.0.2.1]" : "alice@example.org";
	c.from_name = (flags & 128) ? NULL : f[F_NAME];
	c.to = to.v;
	c.n_to = to.n;
	c.cc = cc.v;
	c.n_cc = cc.n;
	c.subject = f[F_SUBJECT];
	c.body = f[F_BODY];
	c.body_len = flen[F_BODY];
	c.body_max = 1 << 20;
	c.date = (time_t)1751371200 + (time_t)(flags * 86400 * 37);
	c.date_local = (flags & 2) != 0;
	c.format_flowed = (flags & 1) != 0;
	c.addr_flags = addr_flags;
	if (flags & 8) {
		c.parent_message_id = f[F_PARENT];
		c.parent_references = f[F_REFS];
	}
	if (flags & 16)
		c.jid = f[F_JID];
	c.version = (flags & 32) ? "0.1.0" : NULL;

	struct ut_buf out = UT_BUF_INIT;
	char *id = NULL;
	if (ms_compose_build(&c, &out, &id, &error) < 0) {
		if (error == NULL || out.len != 0)
			abort();
		free(error);
	} else {
		size_t body = check_shape(out.data, out.len);
		check_subject(out.data, c.subject);
		check_addresses(out.data, body, &c);
		check_body(out.data, body, out.len, c.body, c.body_len,
			   c.format_flowed);
		char *mid = header(out.data, "Message-ID");
		if (strcmp(mid, id) != 0)
			abort();
		free(mid);
		free(id);
	}
	ut_buf_free(&out);
	ms_addr_list_clear(&to);
	ms_addr_list_clear(&cc);
	for (k = 0; k < F_N; k++)
		free(f[k]);
	return 0;
}
