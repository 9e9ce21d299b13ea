/*
 * The INI reader: splits text into sections and key = value pairs and hands
 * them to callbacks; see br_ini.h for the format.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_ini.h"
#include "ut_log.h"
#include "ut_parse.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

struct reader {
	const char *name;
	const struct br_ini_callbacks *cbs;
	void *ctx;
	unsigned line;
	char *section;
	char *error;
};

static void __attribute__((format(printf, 2, 3)))
fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	r->error = xasprintf("%s:%u: %s", r->name, r->line, msg);
	free(msg);
}

/* Takes over a callback's message. */
static void fail_cb(struct reader *r, char *msg)
{
	r->error = xasprintf("%s:%u: %s", r->name, r->line, msg);
	free(msg);
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Returns the trimmed view of s[0..*len) and updates *len. */
static const char *trim(const char *s, size_t *len)
{
	while (*len > 0 && is_blank(s[0])) {
		s++;
		(*len)--;
	}
	while (*len > 0 && is_blank(s[*len - 1]))
		(*len)--;
	return s;
}

static void section_line(struct reader *r, const char *line, size_t len)
{
	if (line[len - 1] != ']') {
		fail(r, "expected ']' at the end of the line");
		return;
	}
	size_t nlen = len - 2;
	const char *name = trim(line + 1, &nlen);
	char *section = xstrndup(name, nlen);
	char *msg = r->cbs->section_cb(section, r->line, r->ctx);
	if (msg != NULL) {
		free(section);
		fail_cb(r, msg);
		return;
	}
	free(r->section);
	r->section = section;
}

static void key_line(struct reader *r, const char *line, size_t len)
{
	const char *eq = memchr(line, '=', len);
	if (eq == NULL) {
		fail(r, "expected 'key = value', '[section]' or a comment");
		return;
	}
	size_t klen = (size_t)(eq - line);
	const char *key = trim(line, &klen);
	size_t vlen = len - (size_t)(eq + 1 - line);
	const char *val = trim(eq + 1, &vlen);

	if (klen == 0) {
		fail(r, "missing key before '='");
		return;
	}
	if (r->section == NULL) {
		fail(r, "key '%.*s' before any [section]", (int)klen, key);
		return;
	}
	if (vlen > 0 && val[0] == '"') {
		if (vlen < 2 || val[vlen - 1] != '"') {
			fail(r, "%.*s: unterminated quote", (int)klen, key);
			return;
		}
		val++;
		vlen -= 2;
	}
	if (vlen == 0) {
		fail(r,
		     "%.*s: empty value (leave the key out to get its default)",
		     (int)klen, key);
		return;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)val[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			fail(r, "%.*s: control character in value", (int)klen,
			     key);
			return;
		}
	}
	if (!ut_utf8_valid(val, vlen)) {
		fail(r, "%.*s: value is not valid UTF-8", (int)klen, key);
		return;
	}
	char *k = xstrndup(key, klen), *v = xstrndup(val, vlen);
	char *msg = r->cbs->key_cb(r->section, k, v, r->line, r->ctx);
	if (msg != NULL)
		fail_cb(r, msg);
	free(k);
	free(v);
}

int br_ini_parse(const char *name, const char *text, size_t len,
		 const struct br_ini_callbacks *cbs, void *ctx, char **error_r)
{
	struct reader r = {.name = name, .cbs = cbs, .ctx = ctx};
	size_t pos = 0;

	while (pos < len && r.error == NULL) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += llen + (nl != NULL ? 1 : 0);
		r.line++;

		if (llen > BR_INI_LINE_MAX) {
			fail(&r, "line longer than %d bytes", BR_INI_LINE_MAX);
			break;
		}
		if (memchr(line, '\0', llen) != NULL) {
			fail(&r, "NUL byte in line");
			break;
		}
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		line = trim(line, &llen);
		if (llen == 0 || line[0] == ';' || line[0] == '#')
			continue;
		if (line[0] == '[')
			section_line(&r, line, llen);
		else
			key_line(&r, line, llen);
	}
	free(r.section);
	if (r.error != NULL) {
		*error_r = r.error;
		return -1;
	}
	return 0;
}

int br_ini_read_file(const char *path, size_t max_bytes, char **text_r,
		     size_t *len_r, struct stat *st_r, char **error_r)
{
	struct ut_buf text = UT_BUF_INIT;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		*error_r =
		    xasprintf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st_r) < 0) {
		*error_r =
		    xasprintf("%s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st_r->st_mode)) {
		*error_r = xasprintf("%s: not a regular file", path);
		goto fail;
	}
	/* Read to the end, but never more than the limit: the file may grow
	   after fstat(). */
	for (;;) {
		ut_buf_reserve(&text, 65536);
		ssize_t n = read(fd, text.data + text.len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = xasprintf("%s: cannot read: %s", path,
					     strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		text.len += (size_t)n;
		text.data[text.len] = '\0';
		if (text.len > max_bytes) {
			*error_r = xasprintf("%s: larger than %zu bytes", path,
					     max_bytes);
			goto fail;
		}
	}
	close(fd);
	*len_r = text.len;
	*text_r = ut_buf_steal(&text);
	return 0;
fail:
	close(fd);
	/* What was read may hold secrets (a config, a password file). */
	if (text.data != NULL)
		explicit_bzero(text.data, text.len);
	ut_buf_free(&text);
	return -1;
}

/* Frees a list stored at (items, count). */
static void free_list(char ***items, size_t *count)
{
	for (size_t i = 0; i < *count; i++)
		free((*items)[i]);
	ut_free(items);
	*count = 0;
}

/* Splits a comma-separated list; every item must be non-empty. */
static int parse_list(const char *v, char ***items_r, size_t *count_r)
{
	char **items = NULL;
	size_t n = 0;

	for (const char *p = v;; p++) {
		size_t len = strcspn(p, ",");
		const char *item = trim(p, &len);
		if (len == 0) {
			free_list(&items, &n);
			return -1;
		}
		items = xreallocarray(items, n + 1, sizeof(*items));
		items[n++] = xstrndup(item, len);
		p += strcspn(p, ",");
		if (*p == '\0')
			break;
	}
	*items_r = items;
	*count_r = n;
	return 0;
}

static int lookup(const char *const *values, const char *v)
{
	for (int i = 0; values[i] != NULL; i++) {
		if (strcmp(values[i], v) == 0)
			return i;
	}
	return -1;
}

/* What a value of each type looks like, for error messages. */
static char *expected(const struct br_ini_setting *s)
{
	struct ut_buf b = UT_BUF_INIT;

	switch (s->type) {
	case BR_INI_UINT:
		ut_buf_appendf(&b,
			       "a whole number from %" PRIu64 " to %" PRIu64,
			       s->min, s->max);
		break;
	case BR_INI_PORT:
		ut_buf_append_str(&b, "a port number from 1 to 65535");
		break;
	case BR_INI_MSECS:
		ut_buf_appendf(
		    &b,
		    "a duration such as 500ms, 5s, 2m, 1h or 14d, from "
		    "%" PRIu64 "ms to %" PRIu64 "ms",
		    s->min, s->max);
		break;
	case BR_INI_SIZE:
		ut_buf_appendf(&b,
			       "a size such as 64k or 4M, from %" PRIu64
			       " to %" PRIu64 " bytes",
			       s->min, s->max);
		break;
	case BR_INI_BOOL:
		ut_buf_append_str(&b, "yes or no");
		break;
	case BR_INI_MODE:
		ut_buf_append_str(&b, "an octal file mode such as 0660");
		break;
	case BR_INI_ENUM:
	case BR_INI_WORD:
		ut_buf_append_str(&b, "one of ");
		for (size_t i = 0; s->values[i] != NULL; i++)
			ut_buf_appendf(&b, "%s%s", i == 0 ? "" : ", ",
				       s->values[i]);
		break;
	case BR_INI_LIST:
		ut_buf_append_str(&b, "a comma-separated list without empty "
				      "items");
		break;
	case BR_INI_LOGLEVEL:
		ut_buf_append_str(&b, "one of error, warn, info, debug, trace");
		break;
	default:
		ut_buf_append_str(&b, "a comma-separated list of xmpp, imap, "
				      "events, ledger, or all, or none");
		break;
	}
	return ut_buf_steal(&b);
}

/*
 * Stores value v (non-empty) into the setting's field. Returns NULL, or an
 * xmalloc'ed message when v is not a value of the setting's type.
 */
char *br_ini_set_value(void *obj, const struct br_ini_setting *s, const char *v)
{
	void *p = (char *)obj + s->off;
	uint64_t u64;
	unsigned mode;
	int idx;

	switch (s->type) {
	case BR_INI_STRING:
	case BR_INI_SECRET:
		free(*(char **)p);
		*(char **)p = xstrdup(v);
		return NULL;
	case BR_INI_UINT:
		if (ut_parse_u64(v, s->max, &u64) < 0 || u64 < s->min)
			break;
		*(unsigned *)p = (unsigned)u64;
		return NULL;
	case BR_INI_PORT:
		if (ut_parse_u64(v, 65535, &u64) < 0 || u64 == 0)
			break;
		*(uint16_t *)p = (uint16_t)u64;
		return NULL;
	case BR_INI_MSECS:
		if (ut_parse_msecs(v, &u64) < 0 || u64 < s->min || u64 > s->max)
			break;
		*(uint64_t *)p = u64;
		return NULL;
	case BR_INI_SIZE:
		if (ut_parse_size(v, &u64) < 0 || u64 < s->min || u64 > s->max)
			break;
		*(uint64_t *)p = u64;
		return NULL;
	case BR_INI_BOOL:
		if (ut_parse_bool(v, (bool *)p) < 0)
			break;
		return NULL;
	case BR_INI_MODE:
		if (ut_parse_mode(v, &mode) < 0 || mode > 0777)
			break;
		*(unsigned *)p = mode;
		return NULL;
	case BR_INI_ENUM:
		if ((idx = lookup(s->values, v)) < 0)
			break;
		*(int *)p = idx;
		return NULL;
	case BR_INI_WORD:
		if ((idx = lookup(s->values, v)) < 0)
			break;
		free(*(char **)p);
		*(char **)p = xstrdup(v);
		return NULL;
	case BR_INI_LIST: {
		char **items;
		size_t n;
		if (parse_list(v, &items, &n) < 0)
			break;
		size_t *count = (size_t *)((char *)obj + s->count_off);
		free_list((char ***)p, count);
		*(char ***)p = items;
		*count = n;
		return NULL;
	}
	case BR_INI_LOGLEVEL:
		if (ut_log_level_parse(v, (enum ut_log_level *)p) < 0)
			break;
		return NULL;
	case BR_INI_TRACE:
		if (ut_trace_parse(v, (unsigned *)p) < 0)
			break;
		return NULL;
	}
	char *what = expected(s);
	char *msg =
	    xasprintf("[%s] %s: '%s' is not %s", s->section, s->key, v, what);
	free(what);
	return msg;
}

/* Prints msecs in the largest unit that keeps it exact. */
static void dump_msecs(FILE *out, uint64_t v)
{
	if (v != 0 && v % 86400000 == 0)
		fprintf(out, "%" PRIu64 "d", v / 86400000);
	else if (v != 0 && v % 3600000 == 0)
		fprintf(out, "%" PRIu64 "h", v / 3600000);
	else if (v != 0 && v % 60000 == 0)
		fprintf(out, "%" PRIu64 "m", v / 60000);
	else if (v % 1000 == 0)
		fprintf(out, "%" PRIu64 "s", v / 1000);
	else
		fprintf(out, "%" PRIu64 "ms", v);
}

/* Prints a size in the largest unit that keeps it exact. */
static void dump_size(FILE *out, uint64_t v)
{
	static const char units[] = "GMk";
	for (int i = 0; i < 3; i++) {
		uint64_t mult = (uint64_t)1 << (10 * (3 - i));
		if (v != 0 && v % mult == 0) {
			fprintf(out, "%" PRIu64 "%c", v / mult, units[i]);
			return;
		}
	}
	fprintf(out, "%" PRIu64, v);
}

/* Prints v (non-empty), quoted when reading it back would otherwise trim
   it or take its quotes away. */
static void print_quoted(FILE *out, const char *v)
{
	size_t len = strlen(v);
	bool quote =
	    len > 0 && (is_blank(v[0]) || v[0] == '"' || is_blank(v[len - 1]));
	fprintf(out, quote ? "\"%s\"" : "%s", v);
}

void br_ini_print_value(FILE *out, const void *obj,
			const struct br_ini_setting *s)
{
	static const char *const levels[] = {"error", "warn", "info", "debug",
					     "trace"};
	static const char *const traces[] = {"xmpp", "imap", "events",
					     "ledger"};
	const void *p = (const char *)obj + s->off;

	switch (s->type) {
	case BR_INI_WORD:
		fputs(*(char *const *)p, out);
		break;
	case BR_INI_STRING:
		print_quoted(out, *(char *const *)p);
		break;
	case BR_INI_SECRET:
		fputs("(hidden)", out);
		break;
	case BR_INI_UINT:
		fprintf(out, "%u", *(const unsigned *)p);
		break;
	case BR_INI_PORT:
		fprintf(out, "%u", (unsigned)*(const uint16_t *)p);
		break;
	case BR_INI_MSECS:
		dump_msecs(out, *(const uint64_t *)p);
		break;
	case BR_INI_SIZE:
		dump_size(out, *(const uint64_t *)p);
		break;
	case BR_INI_BOOL:
		fputs(*(const bool *)p ? "yes" : "no", out);
		break;
	case BR_INI_MODE:
		fprintf(out, "%04o", *(const unsigned *)p);
		break;
	case BR_INI_ENUM:
		fputs(s->values[*(const int *)p], out);
		break;
	case BR_INI_LIST: {
		size_t n = *(const size_t *)((const char *)obj + s->count_off);
		struct ut_buf b = UT_BUF_INIT;
		/* ", " reads better; "," keeps a long list within a line. */
		for (int pass = 0; pass < 2; pass++) {
			ut_buf_reset(&b);
			for (size_t i = 0; i < n; i++)
				ut_buf_appendf(&b, "%s%s",
					       i == 0	   ? ""
					       : pass == 0 ? ", "
							   : ",",
					       (*(char **const *)p)[i]);
			if (b.len + 2 < BR_INI_LINE_MAX / 2)
				break;
		}
		print_quoted(out, ut_buf_str(&b));
		ut_buf_free(&b);
		break;
	}
	case BR_INI_LOGLEVEL: {
		unsigned lvl = (unsigned)*(const enum ut_log_level *)p;
		fputs(lvl < UT_N_ELEMENTS(levels) ? levels[lvl] : "?", out);
		break;
	}
	case BR_INI_TRACE: {
		unsigned mask = *(const unsigned *)p, n = 0;
		if (mask == ~0u) {
			fputs("all", out);
			break;
		}
		for (size_t i = 0; i < UT_N_ELEMENTS(traces); i++) {
			if (mask & (1u << i))
				fprintf(out, "%s%s", n++ ? ", " : "",
					traces[i]);
		}
		if (n == 0)
			fputs("none", out);
		break;
	}
	}
}

void br_ini_free_value(void *obj, const struct br_ini_setting *s)
{
	void *p = (char *)obj + s->off;

	if (s->type == BR_INI_STRING || s->type == BR_INI_SECRET ||
	    s->type == BR_INI_WORD)
		ut_free((char **)p);
	else if (s->type == BR_INI_LIST)
		free_list((char ***)p, (size_t *)((char *)obj + s->count_off));
}
