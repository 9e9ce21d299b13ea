/* Tests of the native push driver's datagram encoder (ms_push_json).
 *
 *   test-ms-push-json --unit    exact expected datagrams (a meson test)
 *   test-ms-push-json --stdin   encodes events read from stdin, one per
 *                               line, for the comparison with the Lua
 *                               script in tests/integration/
 *                               test_native_push.py
 *
 * --stdin line format: 15 fields separated by one space, in this order:
 * event user mailbox uidvalidity uid message_id from from_address
 * from_name to subject snippet date tz flags. Strings are hex-encoded
 * ("-" for absent, "." for empty); numbers are decimal ("-" for absent
 * date/flags); flags is a decimal mask of enum ms_push_flag. Each output line
 * is the datagram hex-encoded, or "-" when the encoder refused the event.
 */
#include "ms_push_json.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>

static char buf[MS_PUSH_MAX_DATAGRAM_BYTES];

/* Encodes ev and returns the datagram as a NUL-terminated string in a
 * static buffer, or NULL when refused. */
static const char *enc(const struct ms_push_event *ev)
{
	static char text[MS_PUSH_MAX_DATAGRAM_BYTES + 1];
	const char *error;
	size_t len;

	if (ms_push_encode(ev, buf, sizeof(buf), &len, &error) < 0)
		return NULL;
	memcpy(text, buf, len);
	text[len] = '\0';
	return text;
}

static struct ms_push_event base(const char *event)
{
	struct ms_push_event ev = {
	    .event = event,
	    .user = "bob@example.org",
	    .mailbox = "INBOX",
	    .uidvalidity = 1732,
	    .uid = 5,
	};
	return ev;
}

static void test_minimal(void)
{
	struct ms_push_event ev = base("MessageRead");

	T_CHECK_STR(enc(&ev), "{\"v\":1,\"event\":\"MessageRead\",\"user\":"
			      "\"bob@example.org\",\"mailbox\":\"INBOX\","
			      "\"uidvalidity\":1732,\"uid\":5}");
	ev.uidvalidity = 4294967295u;
	ev.uid = 4294967295u;
	T_CHECK_STR(enc(&ev), "{\"v\":1,\"event\":\"MessageRead\",\"user\":"
			      "\"bob@example.org\",\"mailbox\":\"INBOX\","
			      "\"uidvalidity\":4294967295,\"uid\":4294967295}");
	ev.mailbox = NULL;
	T_CHECK(enc(&ev) == NULL);
}

static void test_full(void)
{
	struct ms_push_event ev = base("MessageNew");

	ev.message_id = "<x@example.org>";
	ev.from = "Alice <alice@example.org>";
	ev.from_address = "alice@example.org";
	ev.from_name = "Alice";
	ev.to = "bob@example.org";
	ev.subject = "Lunch?";
	ev.snippet = "Shall we meet\nat noon";
	ev.has_date = true;
	ev.date = 1732000000;
	ev.tz_mins = -90;
	ev.has_flags = true;
	ev.flags =
	    MS_PUSH_FLAG_RECENT | MS_PUSH_FLAG_SEEN | MS_PUSH_FLAG_ANSWERED;
	T_CHECK_STR(
	    enc(&ev),
	    "{\"v\":1,\"event\":\"MessageNew\",\"user\":"
	    "\"bob@example.org\",\"mailbox\":\"INBOX\","
	    "\"uidvalidity\":1732,\"uid\":5,\"message_id\":"
	    "\"<x@example.org>\",\"from\":\"Alice <alice@example.org>\","
	    "\"from_address\":\"alice@example.org\",\"from_name\":"
	    "\"Alice\",\"to\":\"bob@example.org\",\"subject\":"
	    "\"Lunch?\",\"snippet\":\"Shall we meet\\nat noon\","
	    "\"date\":1732000000,\"tz\":-90,\"flags\":[\"\\\\Answered\","
	    "\"\\\\Seen\",\"\\\\Recent\"]}");
	/* Empty strings, a date of 0 and no flags are left out; an empty
	 * flag set is an empty array. */
	ev.message_id = "";
	ev.date = 0;
	ev.flags = 0;
	ev.from = ev.from_address = ev.from_name = ev.to = NULL;
	ev.subject = ev.snippet = "";
	T_CHECK_STR(enc(&ev), "{\"v\":1,\"event\":\"MessageNew\",\"user\":"
			      "\"bob@example.org\",\"mailbox\":\"INBOX\","
			      "\"uidvalidity\":1732,\"uid\":5,\"flags\":[]}");
}

static void test_escaping(void)
{
	struct ms_push_event ev = base("FlagsSet");

	/* Quotes, backslashes, every control byte and DEL; valid UTF-8 stays
	 * as it is. */
	ev.subject = "a\"b\\c\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xe2\x82\xac";
	T_CHECK_STR(enc(&ev), "{\"v\":1,\"event\":\"FlagsSet\",\"user\":"
			      "\"bob@example.org\",\"mailbox\":\"INBOX\","
			      "\"uidvalidity\":1732,\"uid\":5,\"subject\":"
			      "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f"
			      "\\u007f \xc3\xa9\xe2\x82\xac\"}");
	/* One invalid sequence: every byte >= 0x80 becomes \u00xx. */
	ev.subject = "\xc3\xa9 caf\xe9";
	T_CHECK_STR(enc(&ev), "{\"v\":1,\"event\":\"FlagsSet\",\"user\":"
			      "\"bob@example.org\",\"mailbox\":\"INBOX\","
			      "\"uidvalidity\":1732,\"uid\":5,\"subject\":"
			      "\"\\u00c3\\u00a9 caf\\u00e9\"}");
}

static void test_utf8(void)
{
	const struct {
		const char *s;
		bool ok;
	} cases[] = {
	    {"", true},
	    {"plain", true},
	    {"\xc3\xa9", true},
	    {"\xf0\x9f\x98\x80", true},
	    {"\xf4\x8f\xbf\xbf", true},	     /* U+10FFFF */
	    {"\xed\x9f\xbf", true},	     /* U+D7FF */
	    {"\xc0\x80", false},	     /* overlong NUL */
	    {"\xe0\x80\xaf", false},	     /* overlong */
	    {"\xed\xa0\x80", false},	     /* surrogate */
	    {"\xf4\x90\x80\x80", false},     /* above U+10FFFF */
	    {"\xf8\x88\x80\x80\x80", false}, /* 5-byte form */
	    {"\x80", false},		     /* lone continuation */
	    {"\xc3", false},		     /* truncated */
	    {"\xe2\x82", false},	     /* truncated */
	    {"\xff", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *s = (const unsigned char *)cases[i].s;
		T_CHECK_INT(ms_push_utf8_valid(s, strlen(cases[i].s)),
			    cases[i].ok);
	}
}

static void test_caps(void)
{
	static char big[20001];
	struct ms_push_event ev = base("MessageNew");
	const char *out;
	const unsigned char *euro = (const unsigned char *)"a\xe2\x82\xac";

	/* The cut never splits a sequence: 2 bytes of "a€" keep only "a". */
	T_CHECK_INT(ms_push_cut_len(euro, 4, 2), 1);
	T_CHECK_INT(ms_push_cut_len(euro, 4, 3), 1);
	T_CHECK_INT(ms_push_cut_len(euro, 4, 4), 4);
	T_CHECK_INT(ms_push_cut_len(euro, 4, 1), 1);

	/* A 20 kB subject is cut to exactly 1500 bytes. */
	memset(big, 'x', sizeof(big) - 1);
	ev.subject = big;
	out = enc(&ev);
	T_CHECK(out != NULL);
	if (out != NULL) {
		const char *p = strstr(out, "\"subject\":\"");
		T_CHECK(p != NULL);
		if (p != NULL)
			T_CHECK_INT(strlen(p), 11 + 1500 + 2);
	}
	/* Worst case (every capped field full of control bytes, each
	 * escaped to 6 bytes) still fits in the datagram. */
	memset(big, '\x01', sizeof(big) - 1);
	ev.user = ev.mailbox = ev.message_id = ev.from = big;
	ev.from_address = ev.from_name = ev.to = ev.snippet = big;
	out = enc(&ev);
	T_CHECK(out != NULL);
	if (out != NULL)
		T_CHECK_INT(strlen(out),
			    171 + 6 * (500 * 5 + 1000 + 2000 + 1500 * 2));
	/* A buffer that is too small refuses the event. */
	{
		size_t len = 0;
		const char *error = NULL;
		struct ms_push_event small = base("MessageRead");
		T_CHECK_INT(ms_push_encode(&small, buf, 40, &len, &error), -1);
		T_CHECK(error != NULL);
	}
}

/* --stdin mode ------------------------------------------------------------ */

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a hex field in place; NULL for "-" or bad hex, "" for ".". */
static char *field_str(char *f)
{
	size_t n = strlen(f), i;

	if (strcmp(f, ".") == 0) {
		f[0] = '\0';
		return f;
	}
	if (strcmp(f, "-") == 0 || n % 2 != 0)
		return NULL;
	for (i = 0; i < n / 2; i++) {
		int hi = unhex(f[2 * i]), lo = unhex(f[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return NULL;
		f[i] = (char)(hi * 16 + lo);
	}
	f[i] = '\0';
	return f;
}

static int field_int(const char *f, long long *v_r)
{
	char *end;

	if (strcmp(f, "-") == 0)
		return -1;
	errno = 0;
	*v_r = strtoll(f, &end, 10);
	return errno == 0 && end != f && *end == '\0' ? 0 : -1;
}

static int run_stdin(void)
{
	static char line[1 << 20];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *fields[15], *save = NULL, *p = line;
		struct ms_push_event ev = {0};
		long long v;
		const char *out;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		while (n < 15 &&
		       (fields[n] = strtok_r(p, " ", &save)) != NULL) {
			p = NULL;
			n++;
		}
		if (n != 15) {
			fprintf(stderr, "bad line\n");
			return 2;
		}
		ev.event = field_str(fields[0]);
		ev.user = field_str(fields[1]);
		ev.mailbox = field_str(fields[2]);
		ev.uidvalidity =
		    field_int(fields[3], &v) == 0 ? (uint32_t)v : 0;
		ev.uid = field_int(fields[4], &v) == 0 ? (uint32_t)v : 0;
		ev.message_id = field_str(fields[5]);
		ev.from = field_str(fields[6]);
		ev.from_address = field_str(fields[7]);
		ev.from_name = field_str(fields[8]);
		ev.to = field_str(fields[9]);
		ev.subject = field_str(fields[10]);
		ev.snippet = field_str(fields[11]);
		ev.has_date = field_int(fields[12], &v) == 0;
		ev.date = ev.has_date ? v : 0;
		ev.tz_mins = field_int(fields[13], &v) == 0 ? (int)v : 0;
		ev.has_flags = field_int(fields[14], &v) == 0;
		ev.flags = ev.has_flags ? (unsigned int)v : 0;
		out = enc(&ev);
		if (out == NULL) {
			puts("-");
			continue;
		}
		for (const char *c = out; *c != '\0'; c++)
			printf("%02x", (unsigned char)*c);
		putchar('\n');
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--stdin") == 0)
		return run_stdin();
	T_RUN(test_minimal);
	T_RUN(test_full);
	T_RUN(test_escaping);
	T_RUN(test_utf8);
	T_RUN(test_caps);
	return T_DONE();
}
