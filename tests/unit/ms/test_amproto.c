/*
 * The auth-master line parser (ms_amproto): every answer Dovecot 2.3
 * sends, and hostile lines (bad escapes, control bytes, signs, overflows,
 * repeated uids, unknown commands, an auth-client greeting), then a
 * million random mutations of valid lines that must never crash and must
 * always come back with either a consistent reply or a short one-line
 * error.
 */
#include <stdlib.h>
#include <string.h>

#include "ms_amproto.h"
#include "test.h"
#include "ut_random.h"
#include "ut_xalloc.h"

static int parse(const char *line, struct ms_amproto_reply *r, char **error)
{
	return ms_amproto_parse(line, strlen(line), r, error);
}

static void ok(const char *line, struct ms_amproto_reply *r)
{
	char *error = NULL;
	int ret = parse(line, r, &error);
	T_CHECK_INT(ret, 0);
	if (ret < 0)
		fprintf(stderr, "  %s\n", error);
	T_CHECK(error == NULL);
	free(error);
}

static void bad(const char *line, const char *want)
{
	struct ms_amproto_reply r;
	char *error = NULL;
	T_CHECK_INT(parse(line, &r, &error), -1);
	T_CHECK(error != NULL && strstr(error, want) != NULL);
	if (error != NULL && strstr(error, want) == NULL)
		fprintf(stderr, "  got: %s\n", error);
	free(error);
}

static void test_answers(void)
{
	struct ms_amproto_reply r;

	ok("VERSION\t1\t0", &r);
	T_CHECK_INT(r.type, MS_AMPROTO_VERSION);
	T_CHECK_INT(r.major, 1);
	T_CHECK_INT(r.minor, 0);
	ok("SPID\t12345", &r);
	T_CHECK_INT(r.type, MS_AMPROTO_SPID);

	/* What Dovecot 2.3.19 sends for a passwd-file user. */
	ok("USER\t7\tbob@example.org\tuid=1002\tgid=8\thome=/srv/mail/bob", &r);
	T_CHECK_INT(r.type, MS_AMPROTO_USER);
	T_CHECK_INT(r.id, 7);
	T_CHECK(r.has_uid && r.has_gid);
	T_CHECK_INT(r.uid, 1002);
	T_CHECK_INT(r.gid, 8);
	/* A user without fields ends with a TAB; flags without '='. */
	ok("USER\t8\tbob\t", &r);
	T_CHECK(!r.has_uid && !r.has_gid);
	ok("USER\t9\tb\001to\001nb\tnologin\tquota_rule=*:storage=1G", &r);
	T_CHECK_INT(r.id, 9);
	ok("USER\t4294967295\tx\tuid=4294967294", &r);
	T_CHECK_INT(r.id, 4294967295u);
	T_CHECK_INT(r.uid, 4294967294u);

	ok("NOTFOUND\t3", &r);
	T_CHECK_INT(r.type, MS_AMPROTO_NOTFOUND);
	T_CHECK_INT(r.id, 3);
	ok("FAIL\t4", &r);
	T_CHECK_INT(r.type, MS_AMPROTO_FAIL);
	T_CHECK_STR(r.reason, "");
	ok("FAIL\t5\treason=LDAP\001tserver\001ndown\001r\0011", &r);
	/* Unescaped, then cleaned to one line (no TAB, LF, CR, \001). */
	T_CHECK_STR(r.reason, "LDAP server down");
	T_CHECK_INT(r.id, 5);
	char longreason[1000];
	snprintf(longreason, sizeof(longreason), "FAIL\t6\treason=%0900d", 0);
	ok(longreason, &r);
	T_CHECK(strlen(r.reason) <= MS_AMPROTO_REASON_MAX);
}

static void test_hostile(void)
{
	bad("", "unexpected answer");
	bad("HELLO\t1", "unexpected answer");
	bad("user\t1\tx", "unexpected answer");
	bad("VERSION\t1", "invalid VERSION");
	bad("VERSION\t1\t0\t0", "invalid VERSION");
	bad("VERSION\t-1\t0", "invalid VERSION");
	bad("SPID\tabc", "invalid SPID");
	bad("USER", "without an id");
	bad("USER\t0\tx", "invalid request id");
	bad("USER\t+1\tx", "invalid request id");
	bad("USER\t 1\tx", "invalid request id");
	bad("USER\t4294967296\tx", "invalid request id");
	bad("USER\t1", "without a valid user");
	bad("USER\t1\t", "without a valid user");
	bad("USER\t1\tx\001", "without a valid user");
	bad("USER\t1\tx\001x", "without a valid user");
	bad("USER\t1\tx\tuid=-5", "invalid uid");
	bad("USER\t1\tx\tuid=1e3", "invalid uid");
	bad("USER\t1\tx\tuid=", "invalid uid");
	bad("USER\t1\tx\tuid=4294967295", "invalid uid");
	bad("USER\t1\tx\tgid=99999999999", "invalid gid");
	bad("USER\t1\tx\tuid=1\tuid=0", "uid given twice");
	bad("USER\t1\tx\t=1", "empty field name");
	bad("USER\t1\tx\thome=\001q", "bad escape");
	bad("FAIL\t1\treason=\001", "bad escape");
	bad("NOTFOUND", "without an id");
	bad("NOTFOUND\tx", "invalid request id");
	bad("MECH\tPLAIN\tplaintext", "auth-client socket");
	bad("CUID\t1", "auth-client socket");

	struct ms_amproto_reply r;
	char *error = NULL;
	T_CHECK_INT(ms_amproto_parse("USER\t1\tx\0y", 10, &r, &error), -1);
	T_CHECK(error != NULL && strstr(error, "0x00") != NULL);
	free(error);
	T_CHECK_INT(parse("NOTFOUND\t1\r", &r, &error), -1);
	free(error);
	char *big = xmalloc(MS_AMPROTO_LINE_MAX + 2);
	memset(big, 'A', MS_AMPROTO_LINE_MAX + 1);
	big[MS_AMPROTO_LINE_MAX + 1] = '\0';
	T_CHECK_INT(parse(big, &r, &error), -1);
	T_CHECK(error != NULL && strstr(error, "too long") != NULL);
	free(error);
	free(big);
	/* The error quotes a cleaned excerpt only. */
	bad("\x1b[31mEVIL\xff\t1", "unexpected answer");
}

static void test_names(void)
{
	T_CHECK(ms_amproto_name_ok("bob@example.org"));
	T_CHECK(ms_amproto_name_ok("j\xc3\xb6rg@example.org"));
	T_CHECK(!ms_amproto_name_ok(""));
	T_CHECK(!ms_amproto_name_ok("a\tb"));
	T_CHECK(!ms_amproto_name_ok("a\nb"));
	T_CHECK(!ms_amproto_name_ok("a\x7f"));
	char name[MS_AMPROTO_NAME_MAX + 2];
	memset(name, 'n', sizeof(name));
	name[MS_AMPROTO_NAME_MAX] = '\0';
	T_CHECK(ms_amproto_name_ok(name));
	name[MS_AMPROTO_NAME_MAX] = 'n';
	name[MS_AMPROTO_NAME_MAX + 1] = '\0';
	T_CHECK(!ms_amproto_name_ok(name));
}

static void test_mutations(void)
{
	static const char *seeds[] = {
	    "VERSION\t1\t0",
	    "SPID\t99",
	    "USER\t12\tbob@example.org\tuid=1002\tgid=8\thome=/h\001t",
	    "NOTFOUND\t12",
	    "FAIL\t12\treason=x\001ty",
	};
	static const char alphabet[] = "\t\001\0\r\n=0123456789-+ uidgUSERFAIL";
	char line[256];
	int parsed = 0, refused = 0;

	for (int round = 0; round < 1000000; round++) {
		const char *seed = seeds[round % UT_N_ELEMENTS(seeds)];
		size_t len = strlen(seed);
		memcpy(line, seed, len);
		uint64_t rnd = ut_random_u64();
		int edits = 1 + (int)(rnd & 3);
		rnd >>= 2;
		for (int e = 0; e < edits; e++, rnd >>= 12) {
			size_t pos = (rnd & 0x3F) % (len + 1);
			char c =
			    alphabet[((rnd >> 6) & 0x3F) % sizeof(alphabet)];
			if (len < sizeof(line) - 1 && (rnd & 0x800)) {
				memmove(line + pos + 1, line + pos, len - pos);
				line[pos] = c;
				len++;
			} else if (pos < len) {
				line[pos] = c;
			}
		}
		struct ms_amproto_reply r;
		char *error = NULL;
		if (ms_amproto_parse(line, len, &r, &error) == 0) {
			parsed++;
			if (error != NULL ||
			    (r.type != MS_AMPROTO_VERSION &&
			     r.type != MS_AMPROTO_SPID && r.id == 0) ||
			    (r.has_uid && r.uid == UINT32_MAX) ||
			    strlen(r.reason) > MS_AMPROTO_REASON_MAX ||
			    strpbrk(r.reason, "\t\r\n\001") != NULL)
				T_CHECK(!"inconsistent reply");
		} else {
			refused++;
			if (error == NULL || strlen(error) > 300 ||
			    strchr(error, '\n') != NULL)
				T_CHECK(!"bad error message");
			free(error);
		}
	}
	printf("mutations: %d parsed, %d refused\n", parsed, refused);
	T_CHECK(parsed > 1000 && refused > 1000);
}

int main(void)
{
	T_RUN(test_answers);
	T_RUN(test_hostile);
	T_RUN(test_names);
	T_RUN(test_mutations);
	return T_DONE();
}
