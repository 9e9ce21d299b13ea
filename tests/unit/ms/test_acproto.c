/*
 * Dovecot's auth-client lines (ms_acproto.c): the handshake and answers as
 * Dovecot 2.3.19 sends them (seen on the wire), hostile lines, escapes,
 * the flags that make an OK something else, and the AUTH line (decoded
 * back: user and password exact, ':' and non-ASCII included; limits).
 */
#include <stdlib.h>
#include <string.h>

#include "ms_acproto.h"
#include "test.h"

static int parse(const char *line, struct ms_acproto_reply *r)
{
	char *error = NULL;
	int ret = ms_acproto_parse(line, strlen(line), r, &error);
	T_CHECK((ret < 0) == (error != NULL));
	free(error);
	return ret;
}

static void test_handshake(void)
{
	struct ms_acproto_reply r;
	T_CHECK_INT(parse("VERSION\t1\t2", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_VERSION);
	T_CHECK_INT(r.major, 1);
	T_CHECK_INT(r.minor, 2);
	T_CHECK_INT(parse("MECH\tPLAIN\tplaintext", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_MECH);
	T_CHECK(r.plain);
	T_CHECK_INT(parse("MECH\tLOGIN\tplaintext", &r), 0);
	T_CHECK(!r.plain);
	T_CHECK_INT(parse("MECH\tSCRAM-SHA-1\tmutual-auth\tdictionary", &r), 0);
	T_CHECK_INT(parse("SPID\t11740", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_SPID);
	T_CHECK_INT(parse("CUID\t1", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_CUID);
	T_CHECK_INT(parse("COOKIE\t3c07a52501328aca3365503a594fe1ee", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_COOKIE);
	T_CHECK_INT(parse("DONE", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_DONE);

	/* Broken handshake lines. */
	T_CHECK_INT(parse("VERSION\t1", &r), -1);
	T_CHECK_INT(parse("VERSION\t+1\t2", &r), -1);
	T_CHECK_INT(parse("MECH", &r), -1);
	T_CHECK_INT(parse("MECH\t", &r), -1);
	T_CHECK_INT(parse("MECH\tPLAIN\t\001x", &r), -1);
	T_CHECK_INT(parse("SPID\t-3", &r), -1);
	T_CHECK_INT(parse("CUID", &r), -1);
	T_CHECK_INT(parse("COOKIE\tnot-hex", &r), -1);
	T_CHECK_INT(parse("COOKIE", &r), -1);
	T_CHECK_INT(parse("DONE\tx", &r), -1);
	T_CHECK_INT(parse("", &r), -1);
	T_CHECK_INT(parse("HELLO", &r), -1);
}

static void test_answers(void)
{
	struct ms_acproto_reply r;
	T_CHECK_INT(parse("OK\t1\tuser=bob@example.org", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_OK);
	T_CHECK_INT(r.id, 1);
	T_CHECK(r.has_user && !r.user_too_long);
	T_CHECK_STR(r.user, "bob@example.org");
	T_CHECK(!r.nologin && !r.proxy && !r.master);

	/* Dovecot lower-cased the name and says what was asked. */
	T_CHECK_INT(
	    parse("OK\t11\tuser=bob@example.org\toriginal_user=BOB@example.org",
		  &r),
	    0);
	T_CHECK_STR(r.user, "bob@example.org");

	T_CHECK_INT(parse("FAIL\t2\tuser=bob@example.org", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_FAIL);
	T_CHECK(!r.temp);
	T_CHECK_STR(r.reason, "");
	T_CHECK_INT(parse("FAIL\t32", &r), 0);
	T_CHECK(!r.has_user);
	T_CHECK_INT(parse("FAIL\t31\tcode=invalid_base64\treason=Invalid "
			  "base64 data in initial response",
			  &r),
		    0);
	T_CHECK_STR(r.code, "invalid_base64");
	T_CHECK_STR(r.reason, "Invalid base64 data in initial response");
	T_CHECK_INT(parse("FAIL\t5\tcode=temp_fail", &r), 0);
	T_CHECK(r.temp);
	T_CHECK_INT(parse("FAIL\t5\ttemp", &r), 0);
	T_CHECK(r.temp);
	/* An escaped TAB and newline in the reason: one clean line. */
	T_CHECK_INT(parse("FAIL\t6\treason=Account\001tlocked\001nnow", &r), 0);
	T_CHECK_STR(r.reason, "Account locked now");

	T_CHECK_INT(parse("CONT\t30\t", &r), 0);
	T_CHECK_INT(r.type, MS_ACPROTO_CONT);
	T_CHECK_INT(r.id, 30);
	T_CHECK_INT(parse("CONT\t30", &r), -1);

	/* The flags that make an OK something else. */
	T_CHECK_INT(parse("OK\t3\tuser=bob\tnologin\treason=x", &r), 0);
	T_CHECK(r.nologin);
	T_CHECK_INT(parse("OK\t3\tuser=bob\tproxy\thost=10.0.0.1\tpass=pw", &r),
		    0);
	T_CHECK(r.proxy);
	T_CHECK_INT(parse("OK\t3\tuser=bob\tproxy_maybe", &r), 0);
	T_CHECK(r.proxy);
	T_CHECK_INT(parse("OK\t3\tuser=bob\tauth_user=tidings", &r), 0);
	T_CHECK(r.master);
	T_CHECK_INT(parse("OK\t3\tuser=bob\tnologin=y", &r), 0);
	T_CHECK(r.nologin);

	/* An escaped user is unescaped; a NUL in it is refused. */
	T_CHECK_INT(parse("OK\t4\tuser=b\0011b", &r), 0);
	T_CHECK_STR(r.user, "b\001b");
	T_CHECK_INT(parse("OK\t4\tuser=b\0010b", &r), -1);
	T_CHECK_INT(parse("OK\t4\tuser=", &r), -1);
	/* A user longer than any asked: kept as "too long". */
	char line[700];
	snprintf(line, sizeof(line), "OK\t9\tuser=%0600d", 0);
	T_CHECK_INT(parse(line, &r), 0);
	T_CHECK(r.has_user && r.user_too_long);
}

static void test_hostile(void)
{
	struct ms_acproto_reply r;
	T_CHECK_INT(parse("OK\t0\tuser=x", &r), -1);
	T_CHECK_INT(parse("OK\t-1\tuser=x", &r), -1);
	T_CHECK_INT(parse("OK\t4294967296\tuser=x", &r), -1);
	T_CHECK_INT(parse("OK\t1 \tuser=x", &r), -1);
	T_CHECK_INT(parse("OK", &r), -1);
	T_CHECK_INT(parse("OK\t1\tuser=a\tuser=b", &r), -1);
	T_CHECK_INT(parse("OK\t1\t=x", &r), -1);
	T_CHECK_INT(parse("FAIL\t1\treason=\001x", &r), -1);
	T_CHECK_INT(parse("FAIL\t1\treason=\001", &r), -1);
	/* Control bytes inside a line. */
	char *error = NULL;
	T_CHECK_INT(ms_acproto_parse("OK\t1\0", 5, &r, &error), -1);
	free(error);
	T_CHECK_INT(ms_acproto_parse("OK\t1\r", 5, &r, &error), -1);
	free(error);
	/* An auth-master listener's lines are named as such. */
	error = NULL;
	T_CHECK_INT(ms_acproto_parse("USER\t1\tbob\tuid=3", 16, &r, &error),
		    -1);
	T_CHECK(error != NULL && strstr(error, "auth-master") != NULL);
	free(error);
	/* Too long. */
	size_t big = MS_ACPROTO_LINE_MAX + 1;
	char *huge = malloc(big);
	memset(huge, 'a', big);
	error = NULL;
	T_CHECK_INT(ms_acproto_parse(huge, big, &r, &error), -1);
	T_CHECK(error != NULL && strlen(error) < 100);
	free(error);
	free(huge);
	/* Errors quote a short, cleaned excerpt only. */
	error = NULL;
	T_CHECK_INT(ms_acproto_parse("\xff\x01nonsense-that-goes-on-and-on-"
				     "and-on-and-on-and-on-and-on",
				     56, &r, &error),
		    -1);
	T_CHECK(error != NULL && strlen(error) < 100);
	T_CHECK(strchr(error, '\001') == NULL);
	free(error);
}

static int b64val(char c)
{
	const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789+/";
	const char *p = strchr(tab, c);
	return p != NULL && c != '\0' ? (int)(p - tab) : -1;
}

/* Decodes the resp= of an AUTH line into out; returns its length. */
static size_t decode_resp(const char *line, unsigned char *out)
{
	const char *p = strstr(line, "\tresp=");
	size_t n = 0;
	unsigned v = 0;
	int bits = 0;
	if (p == NULL)
		return 0;
	for (p += 6; *p != '\n' && *p != '='; p++) {
		int x = b64val(*p);
		if (x < 0)
			return 0;
		v = v << 6 | (unsigned)x;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	return n;
}

static void check_roundtrip(const char *user, const char *pw, size_t pwlen)
{
	char *line;
	size_t len;
	unsigned char raw[20000];
	int ret = ms_acproto_auth_line(7, "xmpp", user, pw, pwlen, &line, &len);
	T_CHECK_INT(ret, 0);
	if (ret < 0)
		return;
	T_CHECK_INT(strlen(line), len);
	T_CHECK(strncmp(line, "AUTH\t7\tPLAIN\tservice=xmpp\tno-penalty\tresp=",
			40) == 0);
	T_CHECK(line[len - 1] == '\n');
	size_t n = decode_resp(line, raw);
	size_t ulen = strlen(user);
	T_CHECK_INT(n, 2 + ulen + pwlen);
	T_CHECK(raw[0] == '\0' && raw[1 + ulen] == '\0');
	T_CHECK(memcmp(raw + 1, user, ulen) == 0);
	T_CHECK(memcmp(raw + 2 + ulen, pw, pwlen) == 0);
	/* resp= is the last field. */
	T_CHECK(strchr(strstr(line, "resp="), '\t') == NULL);
	free(line);
}

static void test_auth_line(void)
{
	check_roundtrip("bob@example.org", "right", 5);
	check_roundtrip("bob@example.org", "pa:ss:", 6);
	check_roundtrip("bob@example.org", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac", 9);
	check_roundtrip("b", "", 0);
	check_roundtrip("bob@example.org", "a\tb\nc", 5);
	for (size_t n = 0; n < 7; n++)
		check_roundtrip("x", "123456", n); /* every padding */
	static char big[12000];
	memset(big, 'p', sizeof(big));
	check_roundtrip("bob@example.org", big, sizeof(big));

	char *line = (char *)"unchanged";
	size_t len = 1;
	/* Refused: NUL in password, bad user, bad service, too long. */
	T_CHECK_INT(
	    ms_acproto_auth_line(1, "xmpp", "bob", "a\0b", 3, &line, &len), -1);
	T_CHECK(line == NULL && len == 0);
	T_CHECK_INT(ms_acproto_auth_line(1, "xmpp", "", "x", 1, &line, &len),
		    -1);
	T_CHECK_INT(
	    ms_acproto_auth_line(1, "xmpp", "b\tob", "x", 1, &line, &len), -1);
	T_CHECK_INT(
	    ms_acproto_auth_line(1, "xm\tpp", "bob", "x", 1, &line, &len), -1);
	static char huge[MS_ACPROTO_LINE_MAX];
	memset(huge, 'p', sizeof(huge));
	T_CHECK_INT(ms_acproto_auth_line(1, "xmpp", "bob", huge, sizeof(huge),
					 &line, &len),
		    -1);
	char user[600];
	memset(user, 'u', sizeof(user));
	user[599] = '\0';
	T_CHECK(!ms_acproto_user_ok(user));
	user[512] = '\0';
	T_CHECK(ms_acproto_user_ok(user));
	T_CHECK(!ms_acproto_user_ok("a\x7f"));
	T_CHECK(ms_acproto_user_ok("\xc3\xa9@example.org"));
	T_CHECK(ms_acproto_service_ok("xmpp"));
	T_CHECK(!ms_acproto_service_ok(""));
	T_CHECK(!ms_acproto_service_ok("a b"));

	char *hs = ms_acproto_handshake(4242);
	T_CHECK_STR(hs, "VERSION\t1\t2\nCPID\t4242\n");
	free(hs);
}

int main(void)
{
	T_RUN(test_handshake);
	T_RUN(test_answers);
	T_RUN(test_hostile);
	T_RUN(test_auth_line);
	return T_DONE();
}
