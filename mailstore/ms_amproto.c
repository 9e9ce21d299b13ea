/*
 * Parsing of auth-master answers (see ms_amproto.h). The line is copied,
 * split at TABs and each field checked; nothing is trusted, nothing
 * aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_amproto.h"
#include "ut_buf.h"
#include "ut_parse.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define EXCERPT_MAX_BYTES 40

static char *excerpt(const char *s, size_t len)
{
	return ut_utf8_clean_str(s, len, UT_CLEAN_ONELINE, EXCERPT_MAX_BYTES);
}

static int fail(char **error_r, const char *fmt, const char *field)
{
	char *ex = excerpt(field, strlen(field));
	*error_r = xasprintf(fmt, ex);
	free(ex);
	return -1;
}

/* A tab-escaped value is valid when every \001 is followed by one of the
   five escape letters. */
static bool escapes_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s != '\001')
			continue;
		s++;
		if (*s == '\0' || strchr("01trn", *s) == NULL)
			return false;
	}
	return true;
}

/* Unescapes s (already checked) into out. */
static void unescape(const char *s, struct ut_buf *out)
{
	static const char from[] = "01trn",
			  to[] = {'\0', '\001', '\t', '\r', '\n'};
	for (; *s != '\0'; s++) {
		if (*s != '\001') {
			ut_buf_append_c(out, *s);
			continue;
		}
		s++;
		ut_buf_append_c(out, to[strchr(from, *s) - from]);
	}
}

/* A strict decimal: digits only, no sign, no blank. */
static int parse_num(const char *s, uint32_t max, uint32_t *r)
{
	uint64_t v;
	if (ut_parse_u64(s, max, &v) < 0)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

static int parse_id(char **f, size_t n, struct ms_amproto_reply *r,
		    char **error_r)
{
	if (n < 2) {
		*error_r = xasprintf("%s without an id", f[0]);
		return -1;
	}
	if (parse_num(f[1], UINT32_MAX, &r->id) < 0 || r->id == 0)
		return fail(error_r, "invalid request id \"%s\"", f[1]);
	return 0;
}

/* The key=value fields after the id (and user) of an answer. */
static int parse_fields(char **f, size_t n, size_t first,
			struct ms_amproto_reply *r, char **error_r)
{
	for (size_t i = first; i < n; i++) {
		char *eq = strchr(f[i], '=');
		if (f[i][0] == '\0')
			continue; /* Dovecot ends a field-less USER with TAB */
		if (eq == f[i])
			return fail(error_r, "empty field name in \"%s\"",
				    f[i]);
		if (!escapes_ok(f[i]))
			return fail(error_r, "bad escape in field \"%s\"",
				    f[i]);
		if (eq == NULL)
			continue; /* a flag such as "nologin" */
		*eq = '\0';
		const char *key = f[i], *value = eq + 1;
		if (r->type == MS_AMPROTO_USER &&
		    (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0)) {
			bool is_uid = key[0] == 'u';
			bool *has = is_uid ? &r->has_uid : &r->has_gid;
			uint32_t *v = is_uid ? &r->uid : &r->gid;
			if (*has) {
				*error_r = xasprintf("%s given twice", key);
				return -1;
			}
			/* (uid_t)-1 means "no change" to chown(2). */
			if (parse_num(value, UINT32_MAX - 1, v) < 0) {
				*error_r = xasprintf("invalid %s", key);
				return -1;
			}
			*has = true;
		} else if (r->type == MS_AMPROTO_FAIL &&
			   strcmp(key, "reason") == 0) {
			struct ut_buf b = UT_BUF_INIT;
			unescape(value, &b);
			char *clean =
			    ut_utf8_clean_str(b.data, b.len, UT_CLEAN_ONELINE,
					      MS_AMPROTO_REASON_MAX);
			snprintf(r->reason, sizeof(r->reason), "%s", clean);
			free(clean);
			ut_buf_free(&b);
		}
	}
	return 0;
}

static int parse_fields_line(char **f, size_t n, struct ms_amproto_reply *r,
			     char **error_r)
{
	const char *cmd = f[0];

	if (strcmp(cmd, "VERSION") == 0) {
		r->type = MS_AMPROTO_VERSION;
		if (n != 3 || parse_num(f[1], UINT32_MAX, &r->major) < 0 ||
		    parse_num(f[2], UINT32_MAX, &r->minor) < 0) {
			*error_r = xstrdup("invalid VERSION line");
			return -1;
		}
		return 0;
	}
	if (strcmp(cmd, "SPID") == 0) {
		uint32_t pid;
		r->type = MS_AMPROTO_SPID;
		if (n != 2 || parse_num(f[1], UINT32_MAX, &pid) < 0) {
			*error_r = xstrdup("invalid SPID line");
			return -1;
		}
		return 0;
	}
	if (strcmp(cmd, "USER") == 0) {
		r->type = MS_AMPROTO_USER;
		if (parse_id(f, n, r, error_r) < 0)
			return -1;
		if (n < 3 || f[2][0] == '\0' || !escapes_ok(f[2])) {
			*error_r = xstrdup("USER answer without a valid user");
			return -1;
		}
		return parse_fields(f, n, 3, r, error_r);
	}
	if (strcmp(cmd, "NOTFOUND") == 0 || strcmp(cmd, "FAIL") == 0) {
		r->type = cmd[0] == 'N' ? MS_AMPROTO_NOTFOUND : MS_AMPROTO_FAIL;
		if (parse_id(f, n, r, error_r) < 0)
			return -1;
		return parse_fields(f, n, 2, r, error_r);
	}
	if (strcmp(cmd, "MECH") == 0 || strcmp(cmd, "CUID") == 0 ||
	    strcmp(cmd, "COOKIE") == 0 || strcmp(cmd, "DONE") == 0) {
		*error_r = xasprintf("got \"%s\": this is an auth-client "
				     "socket, not an auth-userdb or "
				     "auth-master listener",
				     cmd);
		return -1;
	}
	return fail(error_r, "unexpected answer \"%s\"", cmd);
}

int ms_amproto_parse(const char *line, size_t len, struct ms_amproto_reply *r,
		     char **error_r)
{
	*error_r = NULL;
	memset(r, 0, sizeof(*r));
	if (len > MS_AMPROTO_LINE_MAX) {
		*error_r = xasprintf("line too long (%zu bytes, limit %d)", len,
				     MS_AMPROTO_LINE_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\0' || line[i] == '\r' || line[i] == '\n') {
			*error_r = xasprintf("control byte 0x%02x in a line",
					     (unsigned)(unsigned char)line[i]);
			return -1;
		}
	}
	size_t tabs = 0;
	for (size_t i = 0; i < len; i++)
		tabs += line[i] == '\t';
	char *copy = xstrndup(line, len);
	char **f = xreallocarray(NULL, tabs + 1, sizeof(*f));
	size_t n = 0;
	for (char *p = copy;;) {
		f[n++] = p;
		p = strchr(p, '\t');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	int ret = parse_fields_line(f, n, r, error_r);
	free(f);
	free(copy);
	return ret;
}

bool ms_amproto_name_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > MS_AMPROTO_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F)
			return false;
	}
	return true;
}
