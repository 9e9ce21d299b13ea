/*
 * ms_event_parse: the shape checks, number rules, cleaning and limits, and
 * a round trip through the real Dovecot script's encoder (lua5.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_event.h"
#include "test.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

static struct ms_event *parse_ok(const char *json)
{
	struct ms_event *ev = NULL;
	char *error = NULL;
	int ret = ms_event_parse(json, strlen(json), &ev, &error);
	T_CHECK_INT(ret, 0);
	if (ret < 0)
		fprintf(stderr, "  unexpected error: %s\n", error);
	T_CHECK(error == NULL);
	free(error);
	return ev;
}

/* Returns the error text (caller frees) and checks that parsing failed. */
static char *parse_fail_len(const char *json, size_t len)
{
	struct ms_event *ev = NULL;
	char *error = NULL;
	T_CHECK_INT(ms_event_parse(json, len, &ev, &error), -1);
	T_CHECK(ev == NULL);
	T_CHECK(error != NULL);
	ms_event_free(&ev);
	return error != NULL ? error : xstrdup("");
}

static void parse_fail(const char *json)
{
	free(parse_fail_len(json, strlen(json)));
}

#define HEAD "{\"v\":1,\"event\":\"MessageNew\",\"user\":\"bob@example.org\","
#define IDS  "\"mailbox\":\"INBOX\",\"uidvalidity\":1732,\"uid\":5"

static void test_full_event(void)
{
	struct ms_event *ev = parse_ok(
	    HEAD IDS ",\"message_id\":\"<x@y>\",\"from\":\"raw\","
		     "\"from_address\":\"alice@example.org\",\"from_name\":"
		     "\"Al\\u00efce\",\"to\":\"bob@example.org\",\"subject\":"
		     "\"Hi\",\"snippet\":\"a\\r\\nb\",\"date\":1732000000,"
		     "\"tz\":-300,\"flags\":[\"\\\\Seen\",\"\\\\flagged\","
		     "\"$Junk\",7],\"unknown\":{\"x\":[1,2]}}");
	if (ev == NULL)
		return;
	T_CHECK_INT(ev->type, MS_EVENT_MESSAGE_NEW);
	T_CHECK_STR(ev->user, "bob@example.org");
	T_CHECK_STR(ev->mailbox, "INBOX");
	T_CHECK_INT(ev->uidvalidity, 1732);
	T_CHECK_INT(ev->uid, 5);
	T_CHECK_STR(ev->message_id, "<x@y>");
	T_CHECK_STR(ev->from_address, "alice@example.org");
	T_CHECK_STR(ev->from_name, "Al\xc3\xaf"
				   "ce");
	T_CHECK_STR(ev->to, "bob@example.org");
	T_CHECK_STR(ev->subject, "Hi");
	T_CHECK_STR(ev->snippet, "a\nb");
	T_CHECK_INT(ev->date, 1732000000);
	T_CHECK_INT(ev->tz_offset_mins, -300);
	T_CHECK_INT(ev->flags, MS_FLAG_SEEN | MS_FLAG_FLAGGED);
	ms_event_free(&ev);
	T_CHECK(ev == NULL);
}

static void test_minimal_event(void)
{
	struct ms_event *ev = parse_ok(
	    "{\"v\":1,\"event\":\"FlagsClear\",\"user\":\"u\",\"mailbox\":"
	    "\"Sent\",\"uidvalidity\":1,\"uid\":4294967295,\"subject\":\"\","
	    "\"from_address\":null,\"flags\":[\"\\\\Deleted\","
	    "\"\\\\Draft\",\"\\\\Answered\"]}");
	if (ev == NULL)
		return;
	T_CHECK_INT(ev->type, MS_EVENT_FLAGS_CLEAR);
	T_CHECK_INT(ev->uid, 4294967295u);
	/* Empty and null strings come out as absent. */
	T_CHECK(ev->subject == NULL);
	T_CHECK(ev->from_address == NULL);
	T_CHECK(ev->message_id == NULL && ev->snippet == NULL);
	T_CHECK_INT(ev->date, 0);
	T_CHECK_INT(ev->flags,
		    MS_FLAG_DELETED | MS_FLAG_DRAFT | MS_FLAG_ANSWERED);
	ms_event_free(&ev);
}

static void test_every_type(void)
{
	static const char *names[] = {
	    "MessageNew",     "MessageAppend", "MessageRead", "MessageTrash",
	    "MessageExpunge", "FlagsSet",      "FlagsClear",
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(names); i++) {
		char *json = xasprintf("{\"v\":1,\"event\":\"%s\",\"user\":"
				       "\"u\",\"mailbox\":\"m\","
				       "\"uidvalidity\":1,\"uid\":1}",
				       names[i]);
		struct ms_event *ev = parse_ok(json);
		if (ev != NULL) {
			T_CHECK_INT(ev->type, (int)i + 1);
			T_CHECK_STR(ms_event_type_name(ev->type), names[i]);
		}
		ms_event_free(&ev);
		free(json);
	}
	T_CHECK_STR(ms_event_type_name((enum ms_event_type)99), "unknown");
	parse_fail("{\"v\":1,\"event\":\"messagenew\",\"user\":\"u\","
		   "\"mailbox\":\"m\",\"uidvalidity\":1,\"uid\":1}");
	parse_fail("{\"v\":1,\"event\":\"MailboxCreate\",\"user\":\"u\","
		   "\"mailbox\":\"m\",\"uidvalidity\":1,\"uid\":1}");
	/* A NUL inside the name must not make a prefix match. */
	parse_fail("{\"v\":1,\"event\":\"FlagsSet\\u0000x\",\"user\":\"u\","
		   "\"mailbox\":\"m\",\"uidvalidity\":1,\"uid\":1}");
}

static void test_numbers(void)
{
	struct ms_event *ev;
	/* Dovecot's Lua numbers are floats: integral values are fine. */
	ev = parse_ok(HEAD "\"mailbox\":\"INBOX\",\"uidvalidity\":1732.0,"
			   "\"uid\":5.0,\"date\":1.5e9,\"tz\":60.0}");
	if (ev != NULL) {
		T_CHECK_INT(ev->uid, 5);
		T_CHECK_INT(ev->uidvalidity, 1732);
		T_CHECK_INT(ev->date, 1500000000);
		T_CHECK_INT(ev->tz_offset_mins, 60);
	}
	ms_event_free(&ev);
	/* Out-of-range optional numbers are ignored, not fatal. */
	ev = parse_ok(HEAD IDS ",\"date\":-5,\"tz\":99999,\"flags\":\"x\"}");
	if (ev != NULL) {
		T_CHECK_INT(ev->date, 0);
		T_CHECK_INT(ev->tz_offset_mins, 0);
		T_CHECK_INT(ev->flags, 0);
	}
	ms_event_free(&ev);

	/* UID 0: unknown to Dovecot at commit, allowed for new mail only. */
	ev = parse_ok(HEAD "\"mailbox\":\"INBOX\",\"uidvalidity\":0,"
			   "\"uid\":0}");
	if (ev != NULL) {
		T_CHECK_INT(ev->uid, 0);
		T_CHECK_INT(ev->uidvalidity, 0);
	}
	ms_event_free(&ev);
	const char *read0 =
	    "{\"v\":1,\"event\":\"MessageRead\",\"user\":\"b@x\","
	    "\"mailbox\":\"INBOX\",\"uidvalidity\":1,\"uid\":0}";
	char *e0 = parse_fail_len(read0, strlen(read0));
	T_CHECK_STR(e0, "missing or invalid \"uid\"");
	free(e0);

	const char *bad_uids[] = {
	    "-1",    "4294967296",   "5.5",
	    "1e300", "\"5\"",	     "true",
	    "null",  "[5]",	     "9223372036854775807",
	    "-0.5",  "4294967295.5",
	};
	for (size_t i = 0; i < UT_N_ELEMENTS(bad_uids); i++) {
		char *json = xasprintf(HEAD "\"mailbox\":\"INBOX\","
					    "\"uidvalidity\":1,\"uid\":%s}",
				       bad_uids[i]);
		char *err = parse_fail_len(json, strlen(json));
		T_CHECK_STR(err, "missing or invalid \"uid\"");
		free(err);
		json = (free(json), xasprintf(HEAD "\"mailbox\":\"INBOX\","
						   "\"uidvalidity\":%s,"
						   "\"uid\":1}",
					      bad_uids[i]));
		err = parse_fail_len(json, strlen(json));
		T_CHECK_STR(err, "missing or invalid \"uidvalidity\"");
		free(err);
		free(json);
	}
}

static void test_required(void)
{
	parse_fail("{\"event\":\"MessageNew\",\"user\":\"u\",\"mailbox\":"
		   "\"m\",\"uidvalidity\":1,\"uid\":1}");
	parse_fail("{\"v\":2,\"event\":\"MessageNew\",\"user\":\"u\","
		   "\"mailbox\":\"m\",\"uidvalidity\":1,\"uid\":1}");
	parse_fail("{\"v\":\"1\",\"event\":\"MessageNew\",\"user\":\"u\","
		   "\"mailbox\":\"m\",\"uidvalidity\":1,\"uid\":1}");
	parse_fail("{\"v\":1,\"user\":\"u\",\"mailbox\":\"m\","
		   "\"uidvalidity\":1,\"uid\":1}");
	parse_fail("{\"v\":1,\"event\":\"MessageNew\",\"mailbox\":\"m\","
		   "\"uidvalidity\":1,\"uid\":1}");
	parse_fail("{\"v\":1,\"event\":\"MessageNew\",\"user\":\"u\","
		   "\"uidvalidity\":1,\"uid\":1}");
	parse_fail("{\"v\":1,\"event\":\"MessageNew\",\"user\":\"u\","
		   "\"mailbox\":\"m\",\"uid\":1}");
	parse_fail("{\"v\":1,\"event\":\"MessageNew\",\"user\":\"u\","
		   "\"mailbox\":\"m\",\"uidvalidity\":1}");
	/* A user that cleans to nothing is no user. */
	char *err = parse_fail_len(
	    "{\"v\":1,\"event\":\"MessageNew\",\"user\":\"\\u0000\\u0001 \","
	    "\"mailbox\":\"m\",\"uidvalidity\":1,\"uid\":1}",
	    strlen("{\"v\":1,\"event\":\"MessageNew\",\"user\":\"\\u0000"
		   "\\u0001 \",\"mailbox\":\"m\",\"uidvalidity\":1,"
		   "\"uid\":1}"));
	T_CHECK_STR(err, "missing or empty \"user\"");
	free(err);
	parse_fail("{\"v\":1,\"event\":\"MessageNew\",\"user\":7,"
		   "\"mailbox\":\"m\",\"uidvalidity\":1,\"uid\":1}");
}

static void test_bad_json(void)
{
	parse_fail("");
	parse_fail("   ");
	parse_fail("[]");
	parse_fail("\"x\"");
	parse_fail("null");
	parse_fail("{");
	parse_fail(HEAD IDS "} trailing");
	parse_fail(HEAD IDS "}{}");
	/* Duplicate keys are refused (which uid would be meant?). */
	parse_fail(HEAD IDS ",\"uid\":6}");
	/* Invalid UTF-8 and lone surrogates are not JSON text. */
	parse_fail(HEAD IDS ",\"subject\":\"caf\xe9\"}");
	parse_fail(HEAD IDS ",\"subject\":\"\\ud800\"}");
	parse_fail(HEAD IDS ",\"subject\":\"\x01\"}");
	/* Deep nesting does not crash. */
	char deep[4096];
	memset(deep, '[', sizeof(deep));
	free(parse_fail_len(deep, sizeof(deep)));
	/* A NUL byte in the datagram itself. */
	free(parse_fail_len(HEAD IDS "}\0", strlen(HEAD IDS "}") + 1));
}

static void test_size_limit(void)
{
	size_t len = MS_EVENT_MAX_BYTES + 1;
	char *big = xmalloc(len);
	memset(big, ' ', len);
	memcpy(big, HEAD IDS "}", strlen(HEAD IDS "}"));
	char *err = parse_fail_len(big, len);
	T_CHECK(strstr(err, "too large") != NULL);
	free(err);
	/* Exactly at the limit is parsed (trailing white space is JSON). */
	struct ms_event *ev = NULL;
	err = NULL;
	T_CHECK_INT(ms_event_parse(big, MS_EVENT_MAX_BYTES, &ev, &err), 0);
	ms_event_free(&ev);
	free(err);
	free(big);
}

static void test_cleaning(void)
{
	struct ms_event *ev = parse_ok(
	    HEAD IDS ",\"subject\":\"a\\u0000b\\u0007c\\u007fd\\u0085e"
		     "\\uffff f\\n\\tg  \",\"snippet\":\"l1\\rl2\\u0000\\n"
		     "l3\",\"from_name\":\"\\ud83d\\ude00 x\"}");
	if (ev == NULL)
		return;
	T_CHECK_STR(ev->subject, "abcde f g");
	T_CHECK_STR(ev->snippet, "l1\nl2\nl3");
	T_CHECK_STR(ev->from_name, "\xf0\x9f\x98\x80 x");
	T_CHECK(ut_utf8_valid(ev->subject, strlen(ev->subject)));
	ms_event_free(&ev);

	/* 10 kB strings are cut at a character within the limits. */
	struct ut_buf b = UT_BUF_INIT;
	ut_buf_append_str(&b, HEAD IDS ",\"subject\":\"");
	for (int i = 0; i < 5000; i++)
		ut_buf_append_str(&b, "\xc3\xa9");
	ut_buf_append_str(&b, "\",\"to\":\"");
	for (int i = 0; i < 10000; i++)
		ut_buf_append_c(&b, 'x');
	ut_buf_append_str(&b, "\",\"snippet\":\"");
	for (int i = 0; i < 10000; i++)
		ut_buf_append_str(&b, "\\n");
	ut_buf_append_str(&b, "z\"}");
	ev = parse_ok(ut_buf_str(&b));
	if (ev != NULL) {
		size_t sl = strlen(ev->subject);
		T_CHECK(sl <= MS_EVENT_SUBJECT_MAX && sl >= 1000);
		T_CHECK(ut_utf8_valid(ev->subject, sl));
		T_CHECK(strcmp(ev->subject + sl - 3, "\xe2\x80\xa6") == 0);
		T_CHECK(strlen(ev->to) <= MS_EVENT_FIELD_MAX);
		T_CHECK(strlen(ev->snippet) <= MS_EVENT_SNIPPET_MAX);
	}
	ms_event_free(&ev);
	ut_buf_free(&b);
}

static void test_error_text(void)
{
	/* The error quotes at most a short, cleaned excerpt. */
	struct ut_buf b = UT_BUF_INIT;
	ut_buf_append_str(&b, "{\"v\":1,\"event\":\"Evil\\nline\\u0000");
	for (int i = 0; i < 500; i++)
		ut_buf_append_str(&b, "secret");
	ut_buf_append_str(&b, "\",\"user\":\"u\",\"mailbox\":\"m\","
			      "\"uidvalidity\":1,\"uid\":1}");
	char *err = parse_fail_len(b.data, b.len);
	T_CHECK(strncmp(err, "unknown event \"Evil line", 24) == 0);
	T_CHECK(strlen(err) < 80);
	T_CHECK(strchr(err, '\n') == NULL);
	free(err);
	ut_buf_reset(&b);
	ut_buf_append_str(&b, "{\"v\":1,");
	for (int i = 0; i < 500; i++)
		ut_buf_append_str(&b, "\x01garbage");
	err = parse_fail_len(b.data, b.len);
	T_CHECK(strlen(err) < 200);
	for (const char *p = err; *p != '\0'; p++)
		T_CHECK((unsigned char)*p >= 0x20);
	free(err);
	ut_buf_free(&b);
}

/* The encoder of examples/dovecot/tidings-push.lua, run by lua5.4, feeds
   this parser: what the script sends is what the bridge reads. */
static void test_lua_round_trip(void)
{
	if (LUA_PROG[0] == '\0') {
		printf("skip: lua5.4 not found\n");
		return;
	}
	char *cmd =
	    xasprintf("'%s' '%s' '%s' emit", LUA_PROG, PUSH_TEST, PUSH_SCRIPT);
	FILE *p = popen(cmd, "r");
	free(cmd);
	T_CHECK(p != NULL);
	if (p == NULL)
		return;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int count = 0;
	while ((n = getline(&line, &cap, p)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		struct ms_event *ev = NULL;
		char *error = NULL;
		T_CHECK_INT(ms_event_parse(line, (size_t)n, &ev, &error), 0);
		free(error);
		count++;
		if (ev == NULL)
			continue;
		T_CHECK_STR(ev->user, "bob@example.org");
		T_CHECK_INT(ev->uidvalidity, 1732);
		switch (count) {
		case 1:
			T_CHECK_INT(ev->type, MS_EVENT_MESSAGE_NEW);
			T_CHECK_INT(ev->uid, 5);
			T_CHECK_STR(ev->subject, "Hello \"world\" \\ ok");
			T_CHECK_STR(ev->snippet, "line1\nline2");
			T_CHECK_STR(ev->from_name, "Alice");
			T_CHECK_STR(ev->from_address, "alice@example.org");
			T_CHECK_STR(ev->message_id, "<x@y>");
			T_CHECK_INT(ev->date, 1732000000);
			T_CHECK_INT(ev->tz_offset_mins, 60);
			T_CHECK_INT(ev->flags, MS_FLAG_SEEN);
			break;
		case 2:
			T_CHECK_STR(ev->subject, "abcde");
			T_CHECK_STR(ev->from_name, "Andr\xc3\xa9");
			break;
		case 3:
			T_CHECK_INT(ev->type, MS_EVENT_MESSAGE_APPEND);
			T_CHECK_STR(ev->mailbox, "Sent");
			T_CHECK(ev->subject != NULL &&
				strlen(ev->subject) <= MS_EVENT_SUBJECT_MAX);
			T_CHECK(ev->subject != NULL &&
				strncmp(ev->subject, "\xc3\xa9\xc3\xa9", 4) ==
				    0);
			T_CHECK_STR(ev->to, "carol@example.org");
			break;
		case 4:
			T_CHECK_INT(ev->type, MS_EVENT_FLAGS_SET);
			T_CHECK_INT(ev->flags, MS_FLAG_SEEN);
			T_CHECK(ev->subject == NULL);
			break;
		}
		ms_event_free(&ev);
	}
	free(line);
	T_CHECK_INT(pclose(p), 0);
	T_CHECK_INT(count, 4);
}

int main(void)
{
	T_RUN(test_full_event);
	T_RUN(test_minimal_event);
	T_RUN(test_every_type);
	T_RUN(test_numbers);
	T_RUN(test_required);
	T_RUN(test_bad_json);
	T_RUN(test_size_limit);
	T_RUN(test_cleaning);
	T_RUN(test_error_text);
	T_RUN(test_lua_round_trip);
	return T_DONE();
}
