/*
 * [metrics] listen is checked when the configuration is read, with the
 * parser the server binds with: a bad value is a "file:line: message"
 * error, a good one (or none) loads.
 */
#include <stdlib.h>
#include <string.h>

#include "br_config.h"
#include "test.h"
#include "ut_buf.h"

/* Only minimal and parse_ok are used here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "config_samples.h"

static char *metrics_err(const char *value)
{
	struct ut_buf b = UT_BUF_INIT;
	struct br_config *cfg = NULL;
	char *error = NULL;

	ut_buf_append_str(&b, minimal);
	ut_buf_appendf(&b, "[metrics]\nlisten = %s\n", value);
	int ret = br_config_parse("t.conf", b.data, b.len, &cfg, &error);
	ut_buf_free(&b);
	if (ret == 0) {
		T_CHECK(cfg != NULL && cfg->metrics_listen != NULL &&
			strcmp(cfg->metrics_listen, value) == 0);
		br_config_free(&cfg);
		return NULL;
	}
	return error;
}

static void check_bad(const char *value, const char *why)
{
	struct ut_buf want = UT_BUF_INIT;
	char *error = metrics_err(value);

	ut_buf_appendf(&want,
		       "t.conf:16: [metrics] listen: '%s': %s (write PORT "
		       "for 127.0.0.1:PORT, ADDRESS:PORT or "
		       "[IPV6-ADDRESS]:PORT)",
		       value, why);
	T_CHECK_STR(error, want.data);
	free(error);
	ut_buf_free(&want);
}

static void test_metrics_listen(void)
{
	static const char *const good[] = {"9100", "127.0.0.1:9100",
					   "0.0.0.0:80", "[::1]:9100"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *error = metrics_err(good[i]);
		T_CHECK(error == NULL);
		free(error);
	}
	check_bad("localhost:9100", "not a numeric IPv4 address before the "
				    "':' (names are not looked up)");
	check_bad("0", "the port must be a number from 1 to 65535");
	check_bad("9100x", "the port must be a number from 1 to 65535");
	check_bad("::1:9100", "an IPv6 address is written [ADDRESS]:PORT");
	check_bad("[::1]", "an IPv6 address is written [ADDRESS]:PORT");
	check_bad("[::g]:1", "not a numeric IPv6 address in the brackets");

	/* Unset: off. */
	struct br_config *cfg = parse_ok(minimal);
	T_CHECK(cfg != NULL && cfg->metrics_listen == NULL);
	br_config_free(&cfg);
}

int main(void)
{
	T_RUN(test_metrics_listen);
	return T_DONE();
}
