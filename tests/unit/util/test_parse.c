#include "ut_parse.h"
#include "test.h"

static void test_u64(void)
{
	uint64_t v = 7;
	T_CHECK_INT(ut_parse_u64("0", 10, &v), 0);
	T_CHECK_INT(v, 0);
	T_CHECK_INT(ut_parse_u64("5347", 65535, &v), 0);
	T_CHECK_INT(v, 5347);
	T_CHECK_INT(ut_parse_u64("53x7", 65535, &v), -1);
	T_CHECK_INT(ut_parse_u64("", 65535, &v), -1);
	T_CHECK_INT(ut_parse_u64(" 5", 65535, &v), -1);
	T_CHECK_INT(ut_parse_u64("-1", 65535, &v), -1);
	T_CHECK_INT(ut_parse_u64("65536", 65535, &v), -1);
	T_CHECK_INT(ut_parse_u64("18446744073709551616", UINT64_MAX, &v), -1);
	T_CHECK_INT(v, 5347);
	uint32_t u;
	T_CHECK_INT(ut_parse_u32("4294967295", &u), 0);
	T_CHECK_INT(u, 4294967295u);
	T_CHECK_INT(ut_parse_u32("4294967296", &u), -1);
}

static void test_bool(void)
{
	bool b = false;
	T_CHECK_INT(ut_parse_bool("Yes", &b), 0);
	T_CHECK(b);
	T_CHECK_INT(ut_parse_bool("off", &b), 0);
	T_CHECK(!b);
	T_CHECK_INT(ut_parse_bool("maybe", &b), -1);
}

static void test_msecs(void)
{
	uint64_t v;
	T_CHECK_INT(ut_parse_msecs("250ms", &v), 0);
	T_CHECK_INT(v, 250);
	T_CHECK_INT(ut_parse_msecs("5s", &v), 0);
	T_CHECK_INT(v, 5000);
	T_CHECK_INT(ut_parse_msecs("10", &v), 0);
	T_CHECK_INT(v, 10000);
	T_CHECK_INT(ut_parse_msecs("2m", &v), 0);
	T_CHECK_INT(v, 120000);
	T_CHECK_INT(ut_parse_msecs("1h", &v), 0);
	T_CHECK_INT(v, 3600000);
	T_CHECK_INT(ut_parse_msecs("5 s", &v), -1);
	T_CHECK_INT(ut_parse_msecs("s", &v), -1);
	T_CHECK_INT(ut_parse_msecs("14d", &v), 0);
	T_CHECK_INT(v, 14 * 86400000ULL);
	T_CHECK_INT(ut_parse_msecs("5w", &v), -1);
}

static void test_size_mode(void)
{
	uint64_t v;
	unsigned m;
	T_CHECK_INT(ut_parse_size("64k", &v), 0);
	T_CHECK_INT(v, 65536);
	T_CHECK_INT(ut_parse_size("4M", &v), 0);
	T_CHECK_INT(v, 4194304);
	T_CHECK_INT(ut_parse_size("4T", &v), -1);
	T_CHECK_INT(ut_parse_mode("0660", &m), 0);
	T_CHECK_INT(m, 0660);
	T_CHECK_INT(ut_parse_mode("0680", &m), -1);
	T_CHECK_INT(ut_parse_mode("", &m), -1);
}

int main(void)
{
	T_RUN(test_u64);
	T_RUN(test_bool);
	T_RUN(test_msecs);
	T_RUN(test_size_mode);
	return T_DONE();
}
