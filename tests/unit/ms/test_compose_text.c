/*
 * ms_compose, the text: bodies round-trip through libetpan's QP and base64
 * decoders and RFC 3676 unflowing; the choice of transfer encoding;
 * format=flowed wrapping and space-stuffing; the body limit; the reply and
 * first-line subject helpers.
 */
#include "test.h"

#include "compose_test.h"

static void test_round_trip_bodies(void)
{
	static const char *bodies[] = {
	    "plain ascii\n",
	    "trailing space \nand tab\t\nend",
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
	    "\xd0\xbc\xd0\xb8\xd1\x80! \xd0\x9a\xd0\xb0\xd0\xba "
	    "\xd0\xb4\xd0\xb5\xd0\xbb\xd0\xb0?\n",
	    ("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86"
	     "\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88"),
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
	T_RUN(test_round_trip_bodies);
	T_RUN(test_cte_choice);
	T_RUN(test_flowed_wrap);
	T_RUN(test_body_limit);
	T_RUN(test_reply_subject);
	T_RUN(test_subject_from_text);
	return T_DONE();
}
