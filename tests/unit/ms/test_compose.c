/*
 * ms_compose: exact output for representative messages; round trips of
 * subject, names and body through independent decoders (ms_mime for RFC
 * 2047, libetpan for the header syntax and for quoted-printable and
 * base64); injection attempts; long words, emoji, line bounds; threading
 * headers; subject helpers.
 */
#include <libetpan/libetpan.h>
#include <stdlib.h>
#include <string.h>

#include "ms_compose.h"
#include "ms_mime.h"
#include "test.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define DATE_2025_07_01_12 1751371200

static struct ms_addr bob = {"bob@example.net", NULL};

static void base(struct ms_compose *c)
{
	memset(c, 0, sizeof(*c));
	c->from_addr = "alice@example.org";
	c->from_name = "Alice";
	c->to = &bob;
	c->n_to = 1;
	c->subject = "Hello there";
	c->body = "Hi Bob,\nsee you at noon.\n";
	c->body_len = strlen(c->body);
	c->date = DATE_2025_07_01_12;
	c->message_id = "<fixed.1@example.org>";
	c->version = "0.1.0";
}

/* Builds; returns the message (malloc'ed) or NULL with the error shown. */
static char *build(const struct ms_compose *c)
{
	struct ut_buf out = UT_BUF_INIT;
	char *error = NULL, *id = NULL;
	if (ms_compose_build(c, &out, &id, &error) < 0) {
		fprintf(stderr, "build: %s\n", error);
		free(error);
		ut_buf_free(&out);
		return NULL;
	}
	T_CHECK(id != NULL && id[0] == '<');
	free(id);
	return ut_buf_steal(&out);
}

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

/* CRLF only, no line over 998 (over 78 in the header only where one
   token is that long), every header line a known header or a
   continuation. Returns the number of failures. */
static int check_shape(const char *m, size_t max_header_line)
{
	int bad = 0;
	bool in_header = true;
	const char *line = m;
	for (const char *p = m; *p != '\0'; p++) {
		if (*p == '\r' && p[1] != '\n')
			bad++;
		if (*p == '\n' && (p == m || p[-1] != '\r'))
			bad++;
		if (*p != '\n')
			continue;
		size_t len = (size_t)(p - line) - 1;
		if (len > 998)
			bad++;
		if (in_header && len == 0) {
			in_header = false;
		} else if (in_header) {
			if (len > max_header_line)
				bad++;
			if (line[0] != ' ' && line[0] != '\t') {
				bool ok = false;
				for (size_t i = 0; i < UT_N_ELEMENTS(known);
				     i++) {
					size_t n = strlen(known[i]);
					ok = ok ||
					     (strncmp(line, known[i], n) == 0 &&
					      line[n] == ':');
				}
				if (!ok)
					bad++;
			}
		}
		line = p + 1;
	}
	if (in_header || *line != '\0')
		bad++; /* no body separator, or no CRLF at the end */
	return bad;
}

/* The unfolded raw value of header name (first one), or NULL. */
static char *header(const char *m, const char *name)
{
	size_t n = strlen(name);
	const char *end = strstr(m, "\r\n\r\n");
	for (const char *p = m; p != NULL && p < end;) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			struct ut_buf v = UT_BUF_INIT;
			p += n + 1;
			while (*p == ' ')
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
		p = strstr(p, "\r\n");
		if (p != NULL)
			p += 2;
	}
	return NULL;
}

static char *decoded_subject(const char *m)
{
	char *raw = header(m, "Subject");
	char *s = ms_mime_decode_header(raw, strlen(raw), 0);
	free(raw);
	return s;
}

/* The body, undone from its transfer encoding by libetpan. */
static char *decoded_body(const char *m)
{
	char *cte = header(m, "Content-Transfer-Encoding");
	int enc = strcmp(cte, "base64") == 0 ? MAILMIME_MECHANISM_BASE64
		  : strcmp(cte, "quoted-printable") == 0
		      ? MAILMIME_MECHANISM_QUOTED_PRINTABLE
		      : MAILMIME_MECHANISM_7BIT;
	free(cte);
	const char *b = strstr(m, "\r\n\r\n") + 4;
	size_t idx = 0, len = 0;
	char *res = NULL;
	T_CHECK_INT(mailmime_part_parse(b, strlen(b), &idx, enc, &res, &len),
		    MAILIMF_NO_ERROR);
	char *copy = strndup(res != NULL ? res : "", len);
	if (res != NULL)
		mmap_string_unref(res);
	return copy;
}

/* RFC 3676 decoding (DelSp=no) of a CRLF body into '\n' text. */
static char *unflow(const char *s)
{
	struct ut_buf out = UT_BUF_INIT;
	while (*s != '\0') {
		const char *e = strstr(s, "\r\n");
		if (e == NULL)
			e = s + strlen(s);
		const char *l = s;
		if (*l == ' ')
			l++;
		ut_buf_append(&out, l, (size_t)(e - l));
		if (e == l || e[-1] != ' ')
			ut_buf_append_c(&out, '\n');
		s = *e != '\0' ? e + 2 : e;
	}
	return ut_buf_steal(&out);
}

/* CRLF to '\n'. */
static char *lf(const char *s)
{
	struct ut_buf out = UT_BUF_INIT;
	for (; *s != '\0'; s++) {
		if (*s != '\r')
			ut_buf_append_c(&out, *s);
	}
	return ut_buf_steal(&out);
}

static void test_exact_ascii(void)
{
	struct ms_compose c;
	base(&c);
	c.format_flowed = true;
	c.jid = "alice@example.org";
	char *m = build(&c);
	T_CHECK_STR(m, "Date: Tue, 01 Jul 2025 12:00:00 +0000\r\n"
		       "From: Alice <alice@example.org>\r\n"
		       "To: bob@example.net\r\n"
		       "Subject: Hello there\r\n"
		       "Message-ID: <fixed.1@example.org>\r\n"
		       "MIME-Version: 1.0\r\n"
		       "Content-Type: text/plain; charset=utf-8; "
		       "format=flowed\r\n"
		       "Content-Transfer-Encoding: 7bit\r\n"
		       "Jabber-ID: alice@example.org\r\n"
		       "User-Agent: tidings/0.1.0\r\n"
		       "\r\n"
		       "Hi Bob,\r\n"
		       "see you at noon.\r\n");
	T_CHECK_INT(check_shape(m, 78), 0);
	free(m);
}

static void test_exact_utf8(void)
{
	struct ms_compose c;
	struct ms_addr to[2] = {{"bob@example.net", "Bob \"B\" Smith"},
				{"carol@example.net", "Car\xc3\xb6l"}};
	base(&c);
	c.from_name = "J\xc3\xb6rg M\xc3\xbcller";
	c.to = to;
	c.n_to = 2;
	c.subject = "Caf\xc3\xa9 \xe2\x98\x95 at 5?";
	c.body = "Caf\xc3\xa9 costs 5\xe2\x82\xac = cheap  \n\tTab line";
	c.body_len = strlen(c.body);
	c.version = NULL;
	char *m = build(&c);
	T_CHECK_STR(
	    m, "Date: Tue, 01 Jul 2025 12:00:00 +0000\r\n"
	       "From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <alice@example.org>\r\n"
	       "To: \"Bob \\\"B\\\" Smith\" <bob@example.net>, "
	       "=?UTF-8?B?Q2Fyw7Zs?=\r\n"
	       " <carol@example.net>\r\n"
	       "Subject: =?UTF-8?B?Q2Fmw6kg4piVIGF0IDU/?=\r\n"
	       "Message-ID: <fixed.1@example.org>\r\n"
	       "MIME-Version: 1.0\r\n"
	       "Content-Type: text/plain; charset=utf-8\r\n"
	       "Content-Transfer-Encoding: quoted-printable\r\n"
	       "User-Agent: tidings\r\n"
	       "\r\n"
	       "Caf=C3=A9 costs 5=E2=82=AC =3D cheap =20\r\n"
	       "\tTab line\r\n");
	T_CHECK_INT(check_shape(m, 78), 0);
	char *s = decoded_subject(m);
	T_CHECK_STR(s, c.subject);
	free(s);
	char *b = decoded_body(m), *want = "Caf\xc3\xa9 costs 5\xe2\x82\xac = "
					   "cheap  \r\n\tTab line\r\n";
	T_CHECK_STR(b, want);
	free(b);
	free(m);
}

/* Parses the header with libetpan: the syntax holds for a real parser. */
static void test_libetpan_parses(void)
{
	struct ms_compose c;
	struct ms_addr to[3] = {{"bob@example.net", "Bob, Jr."},
				{"\"odd person\"@example.net", NULL},
				{"d@[192.0.2.1]", "\xf0\x9f\x98\x80 Dee"}};
	base(&c);
	c.to = to;
	c.n_to = 2;
	c.cc = to + 2;
	c.n_cc = 1;
	c.from_name = "=?utf-8?q?not_encoded?= \xd0\x90";
	char *m = build(&c);
	size_t idx = 0;
	struct mailimf_message *msg = NULL;
	T_CHECK_INT(mailimf_message_parse(m, strlen(m), &idx, &msg),
		    MAILIMF_NO_ERROR);
	if (msg == NULL) {
		free(m);
		return;
	}
	struct mailimf_single_fields f;
	mailimf_single_fields_init(&f, msg->msg_fields);
	T_CHECK(f.fld_from != NULL && f.fld_to != NULL && f.fld_cc != NULL);
	if (f.fld_from != NULL) {
		clistiter *it = clist_begin(f.fld_from->frm_mb_list->mb_list);
		struct mailimf_mailbox *mb = clist_content(it);
		T_CHECK_STR(mb->mb_addr_spec, "alice@example.org");
		char *name = ms_mime_decode_header(
		    mb->mb_display_name, strlen(mb->mb_display_name), 0);
		T_CHECK_STR(name, c.from_name);
		free(name);
	}
	if (f.fld_to != NULL)
		T_CHECK_INT(clist_count(f.fld_to->to_addr_list->ad_list), 2);
	T_CHECK(f.fld_message_id != NULL && strcmp(f.fld_message_id->mid_value,
						   "fixed.1@example.org") == 0);
	mailimf_message_free(msg);
	free(m);
}

static void test_round_trip_bodies(void)
{
	static const char *bodies[] = {
	    "plain ascii\n",
	    "trailing space \nand tab\t\nend",
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
	    "\xd0\xbc\xd0\xb8\xd1\x80! \xd0\x9a\xd0\xb0\xd0\xba "
	    "\xd0\xb4\xd0\xb5\xd0\xbb\xd0\xb0?\n",
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86"
	    "\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88",
	    "emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd ok\n",
	    "=?utf-8?q?x?= and = signs ==\n.\n..\nFrom me\n",
	    "",
	    "\n\n\n",
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(bodies); i++) {
		for (int flowed = 0; flowed < 2; flowed++) {
			struct ms_compose c;
			base(&c);
			c.body = bodies[i];
			c.body_len = strlen(bodies[i]);
			c.format_flowed = flowed;
			char *m = build(&c);
			T_CHECK_INT(check_shape(m, 78), 0);
			char *raw = decoded_body(m);
			char *text = flowed ? unflow(raw) : lf(raw);
			/* Expected: the text with a final line break;
			   flowed drops trailing spaces of lines. */
			struct ut_buf want = UT_BUF_INIT;
			const char *b = bodies[i];
			size_t start = 0, len = strlen(b);
			while (start < len) {
				const char *nl = strchr(b + start, '\n');
				size_t end = nl ? (size_t)(nl - b) : len;
				size_t l = end - start;
				while (flowed && l > 0 &&
				       b[start + l - 1] == ' ')
					l--;
				ut_buf_append(&want, b + start, l);
				ut_buf_append_c(&want, '\n');
				start = end + 1;
			}
			T_CHECK_STR(text, ut_buf_str(&want));
			ut_buf_free(&want);
			free(text);
			free(raw);
			free(m);
		}
	}
}

static void test_cte_choice(void)
{
	struct ms_compose c;
	base(&c);
	/* Mostly Cyrillic: base64 is shorter than QP. */
	c.body = "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
		 "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n";
	c.body_len = strlen(c.body);
	char *m = build(&c);
	char *cte = header(m, "Content-Transfer-Encoding");
	T_CHECK_STR(cte, "base64");
	T_CHECK(strstr(m, "\r\n\r\n0J/RgNC40LLQtdGCINCf0YDQuNCy0LXRgg0K\r\n") !=
		NULL);
	free(cte);
	free(m);
	/* A long ASCII line without flowed: QP with soft breaks. */
	char line[301];
	memset(line, 'x', 300);
	line[300] = '\0';
	c.body = line;
	c.body_len = 300;
	m = build(&c);
	cte = header(m, "Content-Transfer-Encoding");
	T_CHECK_STR(cte, "quoted-printable");
	T_CHECK_INT(check_shape(m, 78), 0);
	T_CHECK(strstr(m, "=\r\nxxx") != NULL);
	char *b = decoded_body(m);
	T_CHECK(strncmp(b, line, 300) == 0 && strcmp(b + 300, "\r\n") == 0);
	free(b);
	free(cte);
	free(m);
}

static void test_flowed_wrap(void)
{
	struct ms_compose c;
	struct ut_buf para = UT_BUF_INIT;
	for (int i = 0; i < 40; i++)
		ut_buf_appendf(&para, "word%d ", i);
	ut_buf_append_str(&para, "end\n> not a quote\n From x\nFrom y\n");
	base(&c);
	c.format_flowed = true;
	c.body = para.data;
	c.body_len = para.len;
	char *m = build(&c);
	T_CHECK_INT(check_shape(m, 78), 0);
	char *cte = header(m, "Content-Transfer-Encoding");
	T_CHECK_STR(cte, "7bit");
	free(cte);
	const char *body = strstr(m, "\r\n\r\n") + 4;
	/* Broken after a space, at most 72 characters before it. */
	const char *want = "word0 word1 word2 word3 word4 word5 word6 word7 "
			   "word8 word9 word10 \r\nword11 word12 ";
	T_CHECK(strncmp(body, want, strlen(want)) == 0);
	T_CHECK(strstr(body, "\r\n > not a quote\r\n  From x\r\n From y\r\n") !=
		NULL);
	for (const char *l = body; *l != '\0'; l = strstr(l, "\r\n") + 2)
		T_CHECK(strstr(l, "\r\n") - l <= 74);
	char *text = unflow(body);
	T_CHECK_STR(text, para.data);
	free(text);
	free(m);

	/* A word longer than a line stays whole; emoji are counted as
	   characters. */
	ut_buf_reset(&para);
	ut_buf_append_str(&para, "short ");
	for (int i = 0; i < 100; i++)
		ut_buf_append_str(&para, "\xf0\x9f\x98\x80");
	ut_buf_append_str(&para, " tail");
	c.body = para.data;
	c.body_len = para.len;
	m = build(&c);
	T_CHECK_INT(check_shape(m, 78), 0);
	char *raw = decoded_body(m);
	T_CHECK(strncmp(raw, "short \r\n\xf0\x9f\x98\x80", 12) == 0);
	text = unflow(raw);
	ut_buf_append_c(&para, '\n');
	T_CHECK_STR(text, para.data);
	free(text);
	free(raw);
	free(m);
	ut_buf_free(&para);
}

static void test_subject_round_trip(void)
{
	static const char *subjects[] = {
	    "Hello",
	    "Re: [list] caf\xc3\xa9",
	    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80 emoji only",
	    "looks =?utf-8?q?encoded?= but is not",
	    "under_score and ? marks = equal",
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6"
	    "\xe5\x90\x8d\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82\xe6\x97\xa5"
	    "\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6\xe5\x90\x8d"
	    "\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82\xe6\x97\xa5\xe6\x9c\xac"
	    "\xe8\xaa\x9e\xe3\x81\xae\xe4\xbb\xb6\xe5\x90\x8d",
	    "averyveryveryveryveryveryveryveryveryveryveryveryveryvery"
	    "veryveryveryveryverylongwordwithoutanyspaceatall and more",
	    "",
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(subjects); i++) {
		struct ms_compose c;
		base(&c);
		c.subject = subjects[i];
		char *m = build(&c);
		T_CHECK_INT(check_shape(m, 78), 0);
		char *s = decoded_subject(m);
		T_CHECK_STR(s, subjects[i]);
		free(s);
		free(m);
	}
	/* Long: cut at MS_COMPOSE_SUBJECT_MAX octets with "…", folded. */
	struct ut_buf big = UT_BUF_INIT;
	for (int i = 0; i < 400; i++)
		ut_buf_append_str(&big, "\xc3\xa9 ");
	struct ms_compose c;
	base(&c);
	c.subject = big.data;
	char *m = build(&c);
	T_CHECK_INT(check_shape(m, 78), 0);
	char *s = decoded_subject(m);
	T_CHECK(strlen(s) <= MS_COMPOSE_SUBJECT_MAX);
	T_CHECK(strcmp(s + strlen(s) - 3, "\xe2\x80\xa6") == 0);
	free(s);
	free(m);
	ut_buf_free(&big);
}

static void test_injection(void)
{
	struct ms_compose c;
	struct ut_buf out = UT_BUF_INIT;
	char *error = NULL;
	struct ms_addr evil = {"bob@example.net\r\nBcc: eve@evil.example",
			       NULL};

	/* Refused: addresses, ids, JIDs, versions with line breaks. */
	base(&c);
	c.to = &evil;
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	T_CHECK(error != NULL && strstr(error, "To address") != NULL &&
		strchr(error, '\n') == NULL);
	free(error);
	base(&c);
	c.from_addr = "alice@example.org\nBcc: eve@evil.example";
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	free(error);
	base(&c);
	c.message_id = "<a@b>\r\nBcc: eve@evil.example";
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	free(error);
	base(&c);
	c.parent_message_id = "<a@b>\nX: y";
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	free(error);
	base(&c);
	c.jid = "alice@example.org\r\nBcc: eve@evil.example";
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	free(error);
	base(&c);
	c.jid = "alice@example.org\xc2\x85";
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	free(error);
	base(&c);
	c.version = "1\r\nX: y";
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	free(error);
	base(&c);
	c.n_to = 0;
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	T_CHECK_STR(error, "no recipient");
	free(error);
	T_CHECK_INT(out.len, 0);

	/* Cleaned: subject and names become one line. */
	struct ms_addr named = {"bob@example.net", "Bob\r\nBcc: eve@evil.org"};
	base(&c);
	c.to = &named;
	c.subject = "Hi\r\nBcc: eve@evil.example\r\n\r\nbody?\x01\x7f\xe2\x80"
		    "\xae";
	c.from_name = "Alice\nX-Evil: 1";
	c.body = "body \x00 with NUL\r\nand CR\rline";
	c.body_len = 28;
	char *m = build(&c);
	T_CHECK_INT(check_shape(m, 78), 0);
	T_CHECK(strstr(m, "\r\nBcc") == NULL &&
		strstr(m, "\r\nX-Evil") == NULL);
	char *s = decoded_subject(m);
	T_CHECK_STR(s, "Hi Bcc: eve@evil.example body?");
	free(s);
	char *to = header(m, "To");
	T_CHECK_STR(to, "\"Bob Bcc: eve@evil.org\" <bob@example.net>");
	free(to);
	char *b = decoded_body(m);
	T_CHECK_STR(b, "body  with NUL\r\nand CR\r\nline\r\n");
	free(b);
	free(m);
}

static void test_body_limit(void)
{
	struct ms_compose c;
	struct ut_buf out = UT_BUF_INIT;
	char *error = NULL;
	base(&c);
	c.body_max = c.body_len - 1;
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	T_CHECK_STR(error, "body too large (25 octets, limit 24)");
	free(error);
	c.body_max = c.body_len;
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), 0);
	ut_buf_free(&out);
}

static void test_threading(void)
{
	struct ms_compose c;
	base(&c);
	c.parent_message_id = "<p@x.org>";
	c.parent_references = "<r1@x.org>\r\n\t<bad id@x> junk <r2@x.org>"
			      "<<r3@x.org> <r4@x.org";
	char *m = build(&c);
	T_CHECK_INT(check_shape(m, 78), 0);
	char *v = header(m, "In-Reply-To");
	T_CHECK_STR(v, "<p@x.org>");
	free(v);
	v = header(m, "References");
	T_CHECK_STR(v, "<r1@x.org> <r2@x.org> <r3@x.org> <p@x.org>");
	free(v);
	free(m);

	/* The parent already listed: not twice. Without references: the
	   parent alone. */
	c.parent_references = "<a@x> <p@x.org>";
	m = build(&c);
	v = header(m, "References");
	T_CHECK_STR(v, "<a@x> <p@x.org>");
	free(v);
	free(m);
	c.parent_references = NULL;
	m = build(&c);
	v = header(m, "References");
	T_CHECK_STR(v, "<p@x.org>");
	free(v);
	free(m);

	/* Bounded: the root and the latest. */
	struct ut_buf refs = UT_BUF_INIT;
	for (int i = 0; i < 30; i++)
		ut_buf_appendf(&refs, " <id%d.0123456789abcdef@example.org>",
			       i);
	c.parent_references = refs.data;
	m = build(&c);
	T_CHECK_INT(check_shape(m, 78), 0);
	v = header(m, "References");
	/* 30 + the parent: the root and the latest 11. */
	T_CHECK_STR(v, "<id0.0123456789abcdef@example.org> "
		       "<id20.0123456789abcdef@example.org> "
		       "<id21.0123456789abcdef@example.org> "
		       "<id22.0123456789abcdef@example.org> "
		       "<id23.0123456789abcdef@example.org> "
		       "<id24.0123456789abcdef@example.org> "
		       "<id25.0123456789abcdef@example.org> "
		       "<id26.0123456789abcdef@example.org> "
		       "<id27.0123456789abcdef@example.org> "
		       "<id28.0123456789abcdef@example.org> "
		       "<id29.0123456789abcdef@example.org> <p@x.org>");
	free(v);
	free(m);
	ut_buf_free(&refs);
}

static void test_ids_and_date(void)
{
	struct ms_compose c;
	struct ut_buf out = UT_BUF_INIT;
	char *id1 = NULL, *id2 = NULL, *error = NULL;
	base(&c);
	c.message_id = NULL;
	T_CHECK_INT(ms_compose_build(&c, &out, &id1, &error), 0);
	T_CHECK_INT(ms_compose_build(&c, &out, &id2, &error), 0);
	T_CHECK_INT(strlen(id1), strlen("<@example.org>") + 26);
	T_CHECK(strcmp(id1 + 27, "@example.org>") == 0);
	T_CHECK(strcmp(id1, id2) != 0);
	char *h = header(out.data, "Message-ID");
	T_CHECK_STR(h, id1);
	free(h);
	free(id1);
	free(id2);
	ut_buf_free(&out);

	setenv("TZ", "<+0530>-5:30", 1);
	tzset();
	base(&c);
	c.date_local = true;
	char *m = build(&c);
	h = header(m, "Date");
	T_CHECK_STR(h, "Tue, 01 Jul 2025 17:30:00 +0530");
	free(h);
	free(m);
	setenv("TZ", "<-03>3", 1);
	tzset();
	m = build(&c);
	h = header(m, "Date");
	T_CHECK_STR(h, "Tue, 01 Jul 2025 09:00:00 -0300");
	free(h);
	free(m);
	c.date_local = false;
	c.date = 0;
	m = build(&c);
	h = header(m, "Date");
	T_CHECK_STR(h, "Thu, 01 Jan 1970 00:00:00 +0000");
	free(h);
	free(m);
	c.date = (time_t)-2209075200LL; /* 1899-12-31 */
	T_CHECK_INT(ms_compose_build(&c, &out, NULL, &error), -1);
	T_CHECK_STR(error, "date out of range");
	free(error);
}

static void test_non_ascii_jid(void)
{
	struct ms_compose c;
	base(&c);
	c.jid = "j\xc3\xb6rg@example.org";
	char *m = build(&c);
	char *raw = header(m, "Jabber-ID");
	T_CHECK_STR(raw, "=?UTF-8?B?asO2cmdAZXhhbXBsZS5vcmc=?=");
	char *d = ms_mime_decode_header(raw, strlen(raw), 0);
	T_CHECK_STR(d, c.jid);
	free(d);
	free(raw);
	free(m);
}

static void test_long_tokens(void)
{
	/* A 254-octet address and a long display name: lines within 998,
	   folded where there is a space. */
	char local[65], addr[300];
	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(
	    addr, sizeof(addr),
	    "%s@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	    "ccc.org",
	    local);
	T_CHECK_INT(strlen(addr), 254);
	struct ms_addr to[2] = {
	    {addr, "A Very Long Display Name That Goes On And On And On And "
		   "On And On Forever"},
	    {"b@example.net", NULL}};
	struct ms_compose c;
	base(&c);
	c.to = to;
	c.n_to = 2;
	char *m = build(&c);
	T_CHECK(m != NULL);
	if (m == NULL)
		return;
	T_CHECK_INT(check_shape(m, 998), 0);
	char *v = header(m, "To");
	char want[600];
	snprintf(want, sizeof(want),
		 "A Very Long Display Name That Goes On And On And On And On "
		 "And On Forever <%s>, b@example.net",
		 addr);
	T_CHECK_STR(v, want);
	free(v);
	free(m);
}

static void test_reply_subject(void)
{
	static const char *cases[][2] = {
	    {"Hello", "Re: Hello"},
	    {"Re: Hello", "Re: Hello"},
	    {"RE: Hello", "RE: Hello"},
	    {"re:Hello", "re:Hello"},
	    {"[list] Re: x", "[list] Re: x"},
	    {"[list] x", "Re: [list] x"},
	    {"Reply needed", "Re: Reply needed"},
	    {"AW: x", "Re: AW: x"},
	    {"", "Re:"},
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(cases); i++) {
		char *s = ms_compose_reply_subject(cases[i][0]);
		T_CHECK_STR(s, cases[i][1]);
		free(s);
	}
	char *s = ms_compose_reply_subject(NULL);
	T_CHECK_STR(s, "Re:");
	free(s);
}

static void check_subject(const char *text, const char *fallback,
			  const char *want)
{
	char *s = ms_compose_subject_from_text(text, text ? strlen(text) : 0,
					       fallback);
	T_CHECK_STR(s, want);
	free(s);
}

static void test_subject_from_text(void)
{
	const char *fb = "Message from Alice";
	check_subject("Lunch tomorrow?\nI was thinking of noon.", fb,
		      "Lunch tomorrow?");
	check_subject("\n  \r\n  Second   line\tfirst ", fb,
		      "Second line first");
	check_subject("hi", fb, fb);
	check_subject("\xf0\x9f\x91\x8d", fb, fb);
	check_subject("", fb, fb);
	check_subject(NULL, fb, fb);
	check_subject("hi", NULL, "hi");
	check_subject("", NULL, "");
	check_subject("ok!!", fb, "ok!!");
	check_subject("\xe2\x80\xae"
		      "abc\n",
		      fb, fb);
	/* Exactly 78 characters: kept. */
	const char *s78 = "aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd eeeeeeeee "
			  "fffffffff ggggggggg hhhhhhhh";
	T_CHECK_INT(strlen(s78), 78);
	check_subject(s78, fb, s78);
	/* 79: cut at the last space, "…" added. */
	check_subject("aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd eeeeeeeee "
		      "fffffffff ggggggggg hhhhhhhhh",
		      fb,
		      "aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd eeeeeeeee "
		      "fffffffff ggggggggg\xe2\x80\xa6");
	/* Punctuation before the cut goes. */
	check_subject("aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd eeeeeeeee "
		      "fffffffff ggggggggg, hhhhhhhhh",
		      fb,
		      "aaaaaaaaa bbbbbbbbb ccccccccc ddddddddd eeeeeeeee "
		      "fffffffff ggggggggg\xe2\x80\xa6");
	/* No space in the second half: cut in the word at 77. */
	char word[200];
	memset(word, 'w', 150);
	word[150] = '\0';
	char want[100];
	memset(want, 'w', 77);
	strcpy(want + 77, "\xe2\x80\xa6");
	check_subject(word, fb, want);
	/* Not before a combining mark: "e" + U+0301 stays together. */
	struct ut_buf in = UT_BUF_INIT, w = UT_BUF_INIT;
	for (int i = 0; i < 76; i++)
		ut_buf_append_c(&in, 'x');
	ut_buf_append_str(&in, "e\xcc\x81xxxxxx");
	for (int i = 0; i < 76; i++)
		ut_buf_append_c(&w, 'x');
	ut_buf_append_str(&w, "\xe2\x80\xa6");
	check_subject(in.data, fb, w.data);
	ut_buf_free(&in);
	ut_buf_free(&w);
	/* Emoji count as one character each. */
	ut_buf_reset(&in);
	for (int i = 0; i < 100; i++)
		ut_buf_append_str(&in, "\xf0\x9f\x98\x80");
	char *s = ms_compose_subject_from_text(in.data, in.len, fb);
	T_CHECK_INT(strlen(s), 77 * 4 + 3);
	free(s);
	ut_buf_free(&in);
}

int main(void)
{
	T_RUN(test_exact_ascii);
	T_RUN(test_exact_utf8);
	T_RUN(test_libetpan_parses);
	T_RUN(test_round_trip_bodies);
	T_RUN(test_cte_choice);
	T_RUN(test_flowed_wrap);
	T_RUN(test_subject_round_trip);
	T_RUN(test_injection);
	T_RUN(test_body_limit);
	T_RUN(test_threading);
	T_RUN(test_ids_and_date);
	T_RUN(test_non_ascii_jid);
	T_RUN(test_long_tokens);
	T_RUN(test_reply_subject);
	T_RUN(test_subject_from_text);
	return T_DONE();
}
