#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ut_buf.h"
#include "ut_log.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Read by every thread, set by the loop thread (start, reload): atomic. */
static enum ut_log_level log_level = UT_LOG_INFO;
static unsigned trace_mask;
static bool to_syslog;
static int syslog_facility = LOG_MAIL;
static ut_log_hook_fn *log_hook;
static void *log_hook_ctx;

#define LAST_ERROR_MAX 512
static pthread_mutex_t last_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[LAST_ERROR_MAX];
static int64_t last_error_at;

static const char *const level_names[] = {
    [UT_LOG_ERROR] = "error", [UT_LOG_WARN] = "warn",	[UT_LOG_INFO] = "info",
    [UT_LOG_DEBUG] = "debug", [UT_LOG_TRACE] = "trace",
};

static const struct {
	const char *name;
	enum ut_trace cat;
} trace_names[] = {
    {"xmpp", UT_TRACE_XMPP},
    {"imap", UT_TRACE_IMAP},
    {"events", UT_TRACE_EVENTS},
    {"ledger", UT_TRACE_LEDGER},
};

static const struct {
	const char *name;
	int facility;
} facility_names[] = {
    {"mail", LOG_MAIL},	    {"daemon", LOG_DAEMON}, {"user", LOG_USER},
    {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
    {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
    {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

void ut_log_set_level(enum ut_log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum ut_log_level ut_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void ut_log_set_trace(unsigned mask)
{
	__atomic_store_n(&trace_mask, mask, __ATOMIC_RELAXED);
}

bool ut_log_enabled(enum ut_log_level level)
{
	return level <= ut_log_get_level();
}

bool ut_trace_enabled(enum ut_trace cat)
{
	return ut_log_get_level() >= UT_LOG_TRACE &&
	       (__atomic_load_n(&trace_mask, __ATOMIC_RELAXED) & cat) != 0;
}

int ut_log_facility_parse(const char *name, int *facility_r)
{
	for (size_t i = 0; i < UT_N_ELEMENTS(facility_names); i++) {
		if (strcasecmp(name, facility_names[i].name) == 0) {
			*facility_r = facility_names[i].facility;
			return 0;
		}
	}
	return -1;
}

void ut_log_to_syslog(const char *ident, int facility)
{
	/* The facility goes with every line (syslog(3) takes it in the
	   priority), so a reload can change it without reopening. */
	__atomic_store_n(&syslog_facility, facility, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&to_syslog, __ATOMIC_ACQUIRE)) {
		openlog(ident, LOG_PID, facility);
		__atomic_store_n(&to_syslog, true, __ATOMIC_RELEASE);
	}
}

void ut_log_to_stderr(void)
{
	/* No closelog(): a thread may be writing a line to syslog right
	   now; the connection stays open for the next switch. */
	__atomic_store_n(&to_syslog, false, __ATOMIC_RELEASE);
}

bool ut_log_is_syslog(void)
{
	return __atomic_load_n(&to_syslog, __ATOMIC_ACQUIRE);
}

static int syslog_priority(enum ut_log_level level)
{
	switch (level) {
	case UT_LOG_ERROR:
		return LOG_ERR;
	case UT_LOG_WARN:
		return LOG_WARNING;
	case UT_LOG_INFO:
		return LOG_INFO;
	case UT_LOG_DEBUG:
	case UT_LOG_TRACE:
	default:
		return LOG_DEBUG;
	}
}

static void remember_error(const char *line, size_t len)
{
	pthread_mutex_lock(&last_error_lock);
	if (len >= LAST_ERROR_MAX)
		len = LAST_ERROR_MAX - 1;
	memcpy(last_error, line, len);
	last_error[len] = '\0';
	last_error_at = (int64_t)time(NULL);
	pthread_mutex_unlock(&last_error_lock);
}

bool ut_log_last_error(char *buf, size_t size, int64_t *when_r)
{
	bool any;
	pthread_mutex_lock(&last_error_lock);
	any = last_error_at != 0;
	if (any && size > 0)
		snprintf(buf, size, "%s", last_error);
	*when_r = last_error_at;
	pthread_mutex_unlock(&last_error_lock);
	return any;
}

void ut_log_set_hook(ut_log_hook_fn *hook, void *ctx)
{
	log_hook = hook;
	log_hook_ctx = ctx;
}

int ut_log_level_parse(const char *name, enum ut_log_level *level_r)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level_r = (enum ut_log_level)i;
			return 0;
		}
	}
	return -1;
}

int ut_trace_parse(const char *list, unsigned *mask_r)
{
	unsigned mask = 0;
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		if (n == 0)
			break;
		bool found = false;
		if (n == 3 && strncasecmp(p, "all", 3) == 0) {
			mask = ~0u;
			found = true;
		}
		if (n == 4 && strncasecmp(p, "none", 4) == 0)
			found = true;
		for (size_t i = 0;
		     !found && i < sizeof(trace_names) / sizeof(trace_names[0]);
		     i++) {
			if (strlen(trace_names[i].name) == n &&
			    strncasecmp(p, trace_names[i].name, n) == 0) {
				mask |= trace_names[i].cat;
				found = true;
			}
		}
		if (!found)
			return -1;
		p += n;
	}
	*mask_r = mask;
	return 0;
}

/*
 * Appends text with everything that could break or forge a log line
 * escaped: control characters as \xNN (C1 ones as \u00NN), invalid UTF-8
 * as U+FFFD.
 */
static void append_safe(struct ut_buf *out, const char *text, size_t len)
{
	struct ut_buf clean = UT_BUF_INIT;
	/* Escape controls first so that cleaning does not drop them. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		/* C1 controls U+0080..U+009F, in UTF-8 0xC2 0x80..0x9F
		   (NEL, CSI...), are controls too. */
		bool c1 = c == 0xC2 && i + 1 < len &&
			  (unsigned char)text[i + 1] < 0xA0 &&
			  (unsigned char)text[i + 1] >= 0x80;
		if (c1) {
			ut_buf_appendf(&clean, "\\u%04x",
				       (unsigned char)text[i + 1]);
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			ut_buf_appendf(&clean, "\\x%02x", c);
		} else {
			ut_buf_append_c(&clean, (char)c);
		}
	}
	ut_utf8_clean(clean.data != NULL ? clean.data : "", clean.len, 0, 0,
		      out);
	ut_buf_free(&clean);
}

void ut_logv(enum ut_log_level level, const char *prefix, const char *fmt,
	     va_list ap)
{
	if (!ut_log_enabled(level))
		return;

	struct ut_buf msg = UT_BUF_INIT;
	ut_buf_vappendf(&msg, fmt, ap);

	struct ut_buf line = UT_BUF_INIT;
	ut_buf_appendf(&line, "%s: ", level_names[level]);
	if (prefix != NULL) {
		append_safe(&line, prefix, strlen(prefix));
		ut_buf_append_str(&line, ": ");
	}
	append_safe(&line, ut_buf_str(&msg), msg.len);
	ut_buf_free(&msg);
	if (level == UT_LOG_ERROR)
		remember_error(line.data, line.len);

	if (log_hook != NULL) {
		log_hook(level, ut_buf_str(&line), log_hook_ctx);
		ut_buf_free(&line);
		return;
	}
	if (ut_log_is_syslog()) {
		/* One syslog() per line (glibc locks around it); syslogd adds
		   the time, the ident and the pid. */
		syslog(__atomic_load_n(&syslog_facility, __ATOMIC_RELAXED) |
			   syslog_priority(level),
		       "%s", ut_buf_str(&line));
		ut_buf_free(&line);
		return;
	}

	struct timeval tv;
	struct tm tm;
	char stamp[40];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ ",
		 (long)(tv.tv_usec / 1000));

	struct ut_buf out = UT_BUF_INIT;
	ut_buf_append_str(&out, stamp);
	ut_buf_append(&out, line.data, line.len);
	ut_buf_append_c(&out, '\n');
	/* One write per line, so lines from threads never interleave. */
	(void)!write(STDERR_FILENO, out.data, out.len);
	ut_buf_free(&out);
	ut_buf_free(&line);
}

void ut_log(enum ut_log_level level, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ut_logv(level, prefix, fmt, ap);
	va_end(ap);
}

void ut_trace(enum ut_trace cat, const char *prefix, const char *fmt, ...)
{
	if (!ut_trace_enabled(cat))
		return;
	va_list ap;
	va_start(ap, fmt);
	ut_logv(UT_LOG_TRACE, prefix, fmt, ap);
	va_end(ap);
}

bool ut_ratelog_due(struct ut_ratelog *rl, uint64_t now_msecs,
		    uint64_t interval_msecs)
{
	if (rl->logged && now_msecs - rl->last_msecs < interval_msecs) {
		rl->suppressed++;
		return false;
	}
	return true;
}

static void ratelog_emitv(struct ut_ratelog *rl, uint64_t now_msecs,
			  enum ut_log_level level, const char *prefix,
			  const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void ratelog_emitv(struct ut_ratelog *rl, uint64_t now_msecs,
			  enum ut_log_level level, const char *prefix,
			  const char *fmt, va_list ap)
{
	struct ut_buf text = UT_BUF_INIT;
	ut_buf_vappendf(&text, fmt, ap);
	if (rl->suppressed > 0)
		ut_log(level, prefix, "%s (and %llu more not logged)",
		       ut_buf_str(&text), (unsigned long long)rl->suppressed);
	else
		ut_log(level, prefix, "%s", ut_buf_str(&text));
	ut_buf_free(&text);
	rl->logged = true;
	rl->last_msecs = now_msecs;
	rl->suppressed = 0;
}

void ut_ratelog_emit(struct ut_ratelog *rl, uint64_t now_msecs,
		     enum ut_log_level level, const char *prefix,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ratelog_emitv(rl, now_msecs, level, prefix, fmt, ap);
	va_end(ap);
}

void ut_ratelog(struct ut_ratelog *rl, uint64_t now_msecs,
		uint64_t interval_msecs, enum ut_log_level level,
		const char *prefix, const char *fmt, ...)
{
	va_list ap;
	if (!ut_ratelog_due(rl, now_msecs, interval_msecs))
		return;
	va_start(ap, fmt);
	ratelog_emitv(rl, now_msecs, level, prefix, fmt, ap);
	va_end(ap);
}
