#include <stdlib.h>

#include "ut_buf.h"
#include "ut_log.h"
#include "test.h"
#include "ut_xalloc.h"

static void test_buf(void)
{
	struct ut_buf b = UT_BUF_INIT;
	T_CHECK_STR(ut_buf_str(&b), "");
	ut_buf_append_str(&b, "hello");
	ut_buf_appendf(&b, " %d", 42);
	T_CHECK_STR(ut_buf_str(&b), "hello 42");
	ut_buf_consume(&b, 6);
	T_CHECK_STR(ut_buf_str(&b), "42");
	for (int i = 0; i < 1000; i++)
		ut_buf_append_c(&b, 'x');
	T_CHECK_INT(b.len, 1002);
	char *s = ut_buf_steal(&b);
	T_CHECK_INT(strlen(s), 1002);
	T_CHECK(b.data == NULL && b.len == 0);
	free(s);
}

static char last_line[512];
static int lines;

static void hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)ctx;
	snprintf(last_line, sizeof(last_line), "%s", line);
	lines++;
}

static void test_log(void)
{
	ut_log_set_hook(hook, NULL);
	ut_log_set_level(UT_LOG_INFO);
	ut_log(UT_LOG_INFO, "bridge(bob@example.org)", "notified %d", 3);
	T_CHECK_STR(last_line, "info: bridge(bob@example.org): notified 3");
	/* A subject cannot forge a second line or colour the terminal. */
	ut_log(UT_LOG_WARN, NULL, "subject %s", "x\ninfo: fake\x1b[1m");
	T_CHECK_STR(last_line, "warn: subject x\\x0ainfo: fake\\x1b[1m");
	/* C1 controls (NEL, CSI) in UTF-8 are escaped too; other non-ASCII
	   stays. */
	ut_log(UT_LOG_WARN, NULL, "subject %s",
	       "a\xc2\x85"
	       "b\xc2\x9b[1mc\xc2\xa0\xc3\xa9");
	T_CHECK_STR(last_line,
		    "warn: subject a\\u0085b\\u009b[1mc\xc2\xa0\xc3\xa9");
	log_debug("hidden %d", 1);
	T_CHECK_INT(lines, 3);
	ut_trace(UT_TRACE_XMPP, NULL, "hidden");
	T_CHECK_INT(lines, 3);
	ut_log_set_level(UT_LOG_TRACE);
	ut_log_set_trace(UT_TRACE_XMPP);
	ut_trace(UT_TRACE_XMPP, "xmpp", "out %s", "<x/>");
	T_CHECK_STR(last_line, "trace: xmpp: out <x/>");
	ut_trace(UT_TRACE_IMAP, NULL, "hidden");
	T_CHECK_INT(lines, 4);
	ut_log_set_hook(NULL, NULL);

	enum ut_log_level lvl;
	T_CHECK_INT(ut_log_level_parse("debug", &lvl), 0);
	T_CHECK_INT(lvl, UT_LOG_DEBUG);
	T_CHECK_INT(ut_log_level_parse("loud", &lvl), -1);
	unsigned mask;
	T_CHECK_INT(ut_trace_parse("xmpp, events", &mask), 0);
	T_CHECK_INT(mask, UT_TRACE_XMPP | UT_TRACE_EVENTS);
	T_CHECK_INT(ut_trace_parse("xmpp,bogus", &mask), -1);
}

int main(void)
{
	T_RUN(test_buf);
	T_RUN(test_log);
	return T_DONE();
}
