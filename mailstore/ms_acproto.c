/*
 * Dovecot's auth-client protocol (see ms_acproto.h): parsing the server's
 * lines strictly, and building the client's lines. The AUTH line carries a
 * password: it is built in one allocation of its exact size, and the only
 * other copy (the raw "\0user\0password" being encoded) is wiped before
 * return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_acproto.h"
#include "ut_buf.h"
#include "ut_parse.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

#define EXCERPT_MAX_BYTES 40
#define SERVICE_MAX	  32

static int fail(char **error_r, const char *fmt, const char *field)
{
	char *ex = ut_utf8_clean_str(field, strlen(field), UT_CLEAN_ONELINE,
				     EXCERPT_MAX_BYTES);
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

static void clean_into(const char *value, char *dst, size_t dst_size)
{
	struct ut_buf b = UT_BUF_INIT;
	unescape(value, &b);
	char *clean =
	    ut_utf8_clean_str(b.data, b.len, UT_CLEAN_ONELINE, dst_size - 1);
	snprintf(dst, dst_size, "%s", clean);
	free(clean);
	ut_buf_free(&b);
}

/* A strict decimal: digits only, no sign, no blank. */
static int parse_num(const char *s, uint32_t *r)
{
	uint64_t v;
	if (ut_parse_u64(s, UINT32_MAX, &v) < 0)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

static int parse_user(const char *value, struct ms_acproto_reply *r,
		      char **error_r)
{
	struct ut_buf b = UT_BUF_INIT;

	if (r->has_user) {
		*error_r = xstrdup("user= given twice");
		return -1;
	}
	unescape(value, &b);
	if (b.len == 0 || memchr(b.data, '\0', b.len) != NULL) {
		ut_buf_free(&b);
		*error_r = xstrdup("an empty user= or one with a NUL");
		return -1;
	}
	r->has_user = true;
	if (b.len > MS_ACPROTO_NAME_MAX)
		r->user_too_long = true;
	else
		memcpy(r->user, b.data, b.len + 1);
	ut_buf_free(&b);
	return 0;
}

/* The fields after the id of an OK or FAIL. */
static int parse_fields(char **f, size_t n, struct ms_acproto_reply *r,
			char **error_r)
{
	for (size_t i = 2; i < n; i++) {
		if (f[i][0] == '\0')
			continue;
		if (f[i][0] == '=')
			return fail(error_r, "empty field name in \"%s\"",
				    f[i]);
		if (!escapes_ok(f[i]))
			return fail(error_r, "bad escape in field \"%s\"",
				    f[i]);
		char *eq = strchr(f[i], '=');
		if (eq != NULL)
			*eq = '\0';
		const char *key = f[i], *value = eq != NULL ? eq + 1 : "";
		if (strcmp(key, "user") == 0) {
			if (parse_user(value, r, error_r) < 0)
				return -1;
		} else if (strcmp(key, "nologin") == 0) {
			r->nologin = true;
		} else if (strcmp(key, "proxy") == 0 ||
			   strcmp(key, "proxy_maybe") == 0) {
			r->proxy = true;
		} else if (strcmp(key, "auth_user") == 0 ||
			   strcmp(key, "master") == 0) {
			r->master = true;
		} else if (strcmp(key, "temp") == 0) {
			r->temp = true;
		} else if (strcmp(key, "code") == 0) {
			clean_into(value, r->code, sizeof(r->code));
			if (strcmp(r->code, "temp_fail") == 0)
				r->temp = true;
		} else if (strcmp(key, "reason") == 0) {
			clean_into(value, r->reason, sizeof(r->reason));
		}
	}
	return 0;
}

static int parse_id(char **f, size_t n, struct ms_acproto_reply *r,
		    char **error_r)
{
	if (n < 2) {
		*error_r = xasprintf("%s without an id", f[0]);
		return -1;
	}
	if (parse_num(f[1], &r->id) < 0 || r->id == 0)
		return fail(error_r, "invalid request id \"%s\"", f[1]);
	return 0;
}

static bool is_hex(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (strchr("0123456789abcdefABCDEF", *s) == NULL)
			return false;
	}
	return true;
}

static int one_number(char **f, size_t n, uint32_t *v, char **error_r)
{
	if (n != 2 || parse_num(f[1], v) < 0) {
		*error_r = xasprintf("invalid %s line", f[0]);
		return -1;
	}
	return 0;
}

static int parse_split(char **f, size_t n, struct ms_acproto_reply *r,
		       char **error_r)
{
	const char *cmd = f[0];
	uint32_t v;

	if (strcmp(cmd, "VERSION") == 0) {
		r->type = MS_ACPROTO_VERSION;
		if (n != 3 || parse_num(f[1], &r->major) < 0 ||
		    parse_num(f[2], &r->minor) < 0) {
			*error_r = xstrdup("invalid VERSION line");
			return -1;
		}
		return 0;
	}
	if (strcmp(cmd, "MECH") == 0) {
		r->type = MS_ACPROTO_MECH;
		for (size_t i = 1; i < n; i++) {
			if (f[i][0] == '\0' || !escapes_ok(f[i])) {
				*error_r = xstrdup("invalid MECH line");
				return -1;
			}
		}
		if (n < 2) {
			*error_r = xstrdup("MECH without a name");
			return -1;
		}
		r->plain = strcmp(f[1], "PLAIN") == 0;
		return 0;
	}
	if (strcmp(cmd, "SPID") == 0) {
		r->type = MS_ACPROTO_SPID;
		return one_number(f, n, &v, error_r);
	}
	if (strcmp(cmd, "CUID") == 0) {
		r->type = MS_ACPROTO_CUID;
		return one_number(f, n, &v, error_r);
	}
	if (strcmp(cmd, "COOKIE") == 0) {
		r->type = MS_ACPROTO_COOKIE;
		if (n != 2 || !is_hex(f[1])) {
			*error_r = xstrdup("invalid COOKIE line");
			return -1;
		}
		return 0;
	}
	if (strcmp(cmd, "DONE") == 0) {
		r->type = MS_ACPROTO_DONE;
		if (n != 1) {
			*error_r = xstrdup("invalid DONE line");
			return -1;
		}
		return 0;
	}
	if (strcmp(cmd, "OK") == 0 || strcmp(cmd, "FAIL") == 0) {
		r->type = cmd[0] == 'O' ? MS_ACPROTO_OK : MS_ACPROTO_FAIL;
		if (parse_id(f, n, r, error_r) < 0)
			return -1;
		return parse_fields(f, n, r, error_r);
	}
	if (strcmp(cmd, "CONT") == 0) {
		r->type = MS_ACPROTO_CONT;
		if (parse_id(f, n, r, error_r) < 0)
			return -1;
		if (n != 3) {
			*error_r = xstrdup("invalid CONT line");
			return -1;
		}
		return 0;
	}
	if (strcmp(cmd, "USER") == 0 || strcmp(cmd, "NOTFOUND") == 0) {
		*error_r = xasprintf("got \"%s\": this is an auth-master or "
				     "-userdb listener, not an auth-client "
				     "socket",
				     cmd);
		return -1;
	}
	return fail(error_r, "unexpected line \"%s\"", cmd);
}

int ms_acproto_parse(const char *line, size_t len, struct ms_acproto_reply *r,
		     char **error_r)
{
	*error_r = NULL;
	memset(r, 0, sizeof(*r));
	if (len > MS_ACPROTO_LINE_MAX) {
		*error_r = xasprintf("line too long (%zu bytes, limit %d)", len,
				     MS_ACPROTO_LINE_MAX);
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
	/* The copy may hold a pass= field (an OK for a proxy): wiped. */
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
	int ret = parse_split(f, n, r, error_r);
	free(f);
	explicit_bzero(copy, len);
	free(copy);
	return ret;
}

bool ms_acproto_user_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > MS_ACPROTO_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F)
			return false;
	}
	return true;
}

bool ms_acproto_service_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > SERVICE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

static size_t base64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

static void base64_encode(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
			     in[i + 2];
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = tab[(v >> 6) & 63];
		*out++ = tab[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		*out++ = tab[v >> 18];
		*out++ = tab[(v >> 12) & 63];
		*out++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
}

int ms_acproto_auth_line(uint32_t id, const char *service, const char *user,
			 const char *password, size_t password_len,
			 char **line_r, size_t *len_r)
{
	char head[128];

	*line_r = NULL;
	*len_r = 0;
	if (!ms_acproto_user_ok(user) || !ms_acproto_service_ok(service) ||
	    memchr(password, '\0', password_len) != NULL)
		return -1;
	int hlen = snprintf(
	    head, sizeof(head),
	    "AUTH\t%u\tPLAIN\tservice=%s\tno-penalty\tresp=", id, service);
	if (hlen < 0 || (size_t)hlen >= sizeof(head))
		return -1;
	size_t ulen = strlen(user);
	if (password_len > MS_ACPROTO_LINE_MAX)
		return -1;
	size_t raw_len = 2 + ulen + password_len;
	size_t len = (size_t)hlen + base64_len(raw_len) + 1;
	if (len - 1 > MS_ACPROTO_LINE_MAX)
		return -1;

	unsigned char *raw = xmalloc(raw_len);
	raw[0] = '\0';
	memcpy(raw + 1, user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, password, password_len);
	char *line = xmalloc(len + 1);
	memcpy(line, head, (size_t)hlen);
	base64_encode(raw, raw_len, line + hlen);
	explicit_bzero(raw, raw_len);
	free(raw);
	line[len - 1] = '\n';
	line[len] = '\0';
	*line_r = line;
	*len_r = len;
	return 0;
}

char *ms_acproto_handshake(unsigned long pid)
{
	return xasprintf("VERSION\t%d\t%d\nCPID\t%lu\n", MS_ACPROTO_MAJOR,
			 MS_ACPROTO_MINOR, pid);
}
