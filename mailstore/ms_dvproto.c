/*
 * The wire format both Dovecot auth protocols share (see ms_dvproto.h):
 * splitting a line at its TABs, tab-escapes, strict numbers, ids, the
 * VERSION line, key=value fields and names that may be sent. Nothing is
 * trusted, nothing aborts on bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_dvproto.h"
#include "ut_parse.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define EXCERPT_MAX_BYTES 40

int ms_dvproto_split(const char *line, size_t len, size_t line_max,
		     struct ms_dvproto_line *l, char **error_r)
{
	*error_r = NULL;
	memset(l, 0, sizeof(*l));
	if (len > line_max) {
		*error_r = xasprintf("line too long (%zu bytes, limit %zu)",
				     len, line_max);
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
	l->copy = xstrndup(line, len);
	l->len = len;
	l->f = xreallocarray(NULL, tabs + 1, sizeof(*l->f));
	for (char *p = l->copy;;) {
		l->f[l->n++] = p;
		p = strchr(p, '\t');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	return 0;
}

void ms_dvproto_line_free(struct ms_dvproto_line *l)
{
	free(l->f);
	if (l->copy != NULL) {
		explicit_bzero(l->copy, l->len);
		free(l->copy);
	}
	memset(l, 0, sizeof(*l));
}

int ms_dvproto_fail(char **error_r, const char *fmt, const char *field)
{
	char *ex = ut_utf8_clean_str(field, strlen(field), UT_CLEAN_ONELINE,
				     EXCERPT_MAX_BYTES);
	*error_r = xasprintf(fmt, ex);
	free(ex);
	return -1;
}

bool ms_dvproto_escapes_ok(const char *s)
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

void ms_dvproto_unescape(const char *s, struct ut_buf *out)
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

void ms_dvproto_clean_into(const char *value, char *dst, size_t dst_size)
{
	struct ut_buf b = UT_BUF_INIT;
	ms_dvproto_unescape(value, &b);
	char *clean =
	    ut_utf8_clean_str(b.data, b.len, UT_CLEAN_ONELINE, dst_size - 1);
	snprintf(dst, dst_size, "%s", clean);
	free(clean);
	ut_buf_free(&b);
}

int ms_dvproto_parse_num(const char *s, uint32_t max, uint32_t *r)
{
	uint64_t v;
	if (ut_parse_u64(s, max, &v) < 0)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

int ms_dvproto_parse_id(char **f, size_t n, uint32_t *id_r, char **error_r)
{
	if (n < 2) {
		*error_r = xasprintf("%s without an id", f[0]);
		return -1;
	}
	if (ms_dvproto_parse_num(f[1], UINT32_MAX, id_r) < 0 || *id_r == 0)
		return ms_dvproto_fail(error_r, "invalid request id \"%s\"",
				       f[1]);
	return 0;
}

int ms_dvproto_parse_version(char **f, size_t n, uint32_t *major_r,
			     uint32_t *minor_r, char **error_r)
{
	if (n != 3 || ms_dvproto_parse_num(f[1], UINT32_MAX, major_r) < 0 ||
	    ms_dvproto_parse_num(f[2], UINT32_MAX, minor_r) < 0) {
		*error_r = xstrdup("invalid VERSION line");
		return -1;
	}
	return 0;
}

int ms_dvproto_parse_number_line(char **f, size_t n, char **error_r)
{
	uint32_t v;
	if (n != 2 || ms_dvproto_parse_num(f[1], UINT32_MAX, &v) < 0) {
		*error_r = xasprintf("invalid %s line", f[0]);
		return -1;
	}
	return 0;
}

int ms_dvproto_field(char *f, const char **key_r, const char **value_r,
		     char **error_r)
{
	*key_r = *value_r = NULL;
	if (f[0] == '\0')
		return 0;
	if (f[0] == '=')
		return ms_dvproto_fail(error_r, "empty field name in \"%s\"",
				       f);
	if (!ms_dvproto_escapes_ok(f))
		return ms_dvproto_fail(error_r, "bad escape in field \"%s\"",
				       f);
	char *eq = strchr(f, '=');
	if (eq != NULL) {
		*eq = '\0';
		*value_r = eq + 1;
	}
	*key_r = f;
	return 1;
}

bool ms_dvproto_name_ok(const char *s, size_t max)
{
	size_t len = strlen(s);
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F)
			return false;
	}
	return true;
}
