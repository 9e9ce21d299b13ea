/*
 * ms_compose, the header: exact output for representative messages; libetpan
 * parses it; subjects and names round-trip through ms_mime; injection
 * attempts refused or cleaned; threading headers; ids and dates; long
 * tokens.
 */
#include "test.h"

#include "compose_test.h"

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
	    ("averyveryveryveryveryveryveryveryveryveryveryveryveryvery"
	     "veryveryveryveryverylongwordwithoutanyspaceatall and more"),
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

int main(void)
{
	T_RUN(test_exact_ascii);
	T_RUN(test_exact_utf8);
	T_RUN(test_libetpan_parses);
	T_RUN(test_subject_round_trip);
	T_RUN(test_injection);
	T_RUN(test_threading);
	T_RUN(test_ids_and_date);
	T_RUN(test_non_ascii_jid);
	T_RUN(test_long_tokens);
	return T_DONE();
}
