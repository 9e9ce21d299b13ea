#ifndef UT_LOG_H
#define UT_LOG_H

/*
 * One logging API for the whole tree. Lines go to stderr as
 *   2026-11-28T12:00:00.123Z info: bridge(bob@example.org): text
 * or, after ut_log_to_syslog(), to syslog(3) without our timestamp (syslog
 * adds its own, the ident and the pid), one syslog() call per line:
 *   info: bridge(bob@example.org): text
 * at priority LOG_ERR, LOG_WARNING, LOG_INFO or LOG_DEBUG (debug and
 * trace) of the chosen facility.
 * The formatted text is made safe before it is written: control characters
 * and invalid UTF-8 are escaped (\xNN), so nothing from a mail or a peer can
 * forge a log line. Never pass a password or secret to these functions, and
 * no mail bodies above UT_LOG_DEBUG.
 *
 * Writing a line is safe from any thread (one write(2) or syslog() per
 * line). The level, trace mask and target are set by one thread (the
 * loop's: at start and on reload); other threads see the change at their
 * next line (atomic reads).
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum ut_log_level {
	UT_LOG_ERROR = 0,
	UT_LOG_WARN,
	UT_LOG_INFO,
	UT_LOG_DEBUG,
	UT_LOG_TRACE,
};

/* Trace categories, enabled separately (log level must be >= TRACE too). */
enum ut_trace {
	UT_TRACE_XMPP = 1 << 0,	  /* every stanza in and out */
	UT_TRACE_IMAP = 1 << 1,	  /* IMAP worker steps */
	UT_TRACE_EVENTS = 1 << 2, /* datagram events */
	UT_TRACE_LEDGER = 1 << 3, /* durable state */
};

void ut_log_set_level(enum ut_log_level level);
enum ut_log_level ut_log_get_level(void);
/* Mask of enum ut_trace. */
void ut_log_set_trace(unsigned mask);
bool ut_log_enabled(enum ut_log_level level);
bool ut_trace_enabled(enum ut_trace cat);

/* "mail", "daemon", "user", "local0".."local7" -> LOG_MAIL, ...; 0 ok, -1
   unknown. */
int ut_log_facility_parse(const char *name, int *facility_r);
/*
 * From now on lines go to syslog with facility (LOG_MAIL, ...). The first
 * call opens the log (openlog(ident, LOG_PID, facility); ident must stay
 * valid for the life of the process, e.g. a string literal); later calls
 * only change the facility (the ident stays). Lines are lost when nothing
 * listens on /dev/log (syslog(3) says nothing then).
 */
void ut_log_to_syslog(const char *ident, int facility);
/* From now on lines go to stderr again (the default). */
void ut_log_to_stderr(void);
bool ut_log_is_syslog(void);

/* "error", "warn", "info", "debug", "trace" -> level; 0 ok, -1 unknown. */
int ut_log_level_parse(const char *name, enum ut_log_level *level_r);
/* Comma-separated "xmpp,imap,events,ledger" or "all"; 0 ok, -1 unknown. */
int ut_trace_parse(const char *list, unsigned *mask_r);

/* prefix may be NULL; it is printed followed by ": ". */
void ut_logv(enum ut_log_level level, const char *prefix, const char *fmt,
	     va_list ap) __attribute__((format(printf, 3, 0)));
void ut_log(enum ut_log_level level, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ut_trace(enum ut_trace cat, const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) ut_log(UT_LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  ut_log(UT_LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...)  ut_log(UT_LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (ut_log_enabled(UT_LOG_DEBUG))                              \
			ut_log(UT_LOG_DEBUG, NULL, __VA_ARGS__);               \
	} while (0)

/*
 * At most one line per interval for one kind of repeated trouble (a flood
 * of bad input must not become a flood of log lines): the next line that
 * is logged says how many were left out, "(and N more not logged)". The
 * caller gives the time (its loop's clock). One thread per struct.
 */
struct ut_ratelog {
	uint64_t last_msecs;
	uint64_t suppressed;
	bool logged;
};

/* Whether a line would be logged now; when not, counts it as left out.
   (To skip building a costly text that would not be logged.) */
bool ut_ratelog_due(struct ut_ratelog *rl, uint64_t now_msecs,
		    uint64_t interval_msecs);
/* Logs unconditionally (after ut_ratelog_due() said yes), with the count
   of the ones left out, and starts a new interval. */
void ut_ratelog_emit(struct ut_ratelog *rl, uint64_t now_msecs,
		     enum ut_log_level level, const char *prefix,
		     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Both: logs when due, else counts. */
void ut_ratelog(struct ut_ratelog *rl, uint64_t now_msecs,
		uint64_t interval_msecs, enum ut_log_level level,
		const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * The last line logged at error level (without its timestamp), for
 * tidingsctl status: copied into buf (cut to size), its time in *when_r
 * (seconds since the epoch). False when no error was logged yet. Safe from
 * any thread.
 */
bool ut_log_last_error(char *buf, size_t size, int64_t *when_r);

/*
 * Tests can capture lines: the hook receives every formatted line (without
 * the timestamp) and the line is written neither to stderr nor to syslog.
 * NULL restores the target.
 */
typedef void ut_log_hook_fn(enum ut_log_level level, const char *line,
			    void *ctx);
void ut_log_set_hook(ut_log_hook_fn *hook, void *ctx);

#endif
