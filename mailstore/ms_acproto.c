/*
 * Dovecot's auth-client protocol (see ms_acproto.h): parsing the server's
 * lines strictly (splitting, escapes and numbers are ms_dvproto's), and
 * building the client's lines. The AUTH line carries a
 * password: it is built in one allocation of its exact size, and the only
 * other copy (the raw "\0user\0password" being encoded) is wiped before
 * return.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_acproto.h"
#include "ms_dvproto.h"
#include "ut_buf.h"
#include "ut_xalloc.h"

#define SERVICE_MAX 32

static int parse_user(const char *value, struct ms_acproto_reply *r,
		      char **error_r)
{
	struct ut_buf b = UT_BUF_INIT;

	if (r->has_user) {
		*error_r = xstrdup("user= given twice");
		return -1;
	}
	ms_dvproto_unescape(value, &b);
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
		const char *key, *value;
		int ret = ms_dvproto_field(f[i], &key, &value, error_r);
		if (ret <= 0) {
			if (ret < 0)
				return -1;
			continue;
		}
		if (value == NULL)
			value = "";
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
			ms_dvproto_clean_into(value, r->code, sizeof(r->code));
			if (strcmp(r->code, "temp_fail") == 0)
				r->temp = true;
		} else if (strcmp(key, "reason") == 0) {
			ms_dvproto_clean_into(value, r->reason,
					      sizeof(r->reason));
		}
	}
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

static int parse_split(char **f, size_t n, struct ms_acproto_reply *r,
		       char **error_r)
{
	const char *cmd = f[0];

	if (strcmp(cmd, "VERSION") == 0) {
		r->type = MS_ACPROTO_VERSION;
		return ms_dvproto_parse_version(f, n, &r->major, &r->minor,
						error_r);
	}
	if (strcmp(cmd, "MECH") == 0) {
		r->type = MS_ACPROTO_MECH;
		for (size_t i = 1; i < n; i++) {
			if (f[i][0] == '\0' || !ms_dvproto_escapes_ok(f[i])) {
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
		return ms_dvproto_parse_number_line(f, n, error_r);
	}
	if (strcmp(cmd, "CUID") == 0) {
		r->type = MS_ACPROTO_CUID;
		return ms_dvproto_parse_number_line(f, n, error_r);
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
		if (ms_dvproto_parse_id(f, n, &r->id, error_r) < 0)
			return -1;
		return parse_fields(f, n, r, error_r);
	}
	if (strcmp(cmd, "CONT") == 0) {
		r->type = MS_ACPROTO_CONT;
		if (ms_dvproto_parse_id(f, n, &r->id, error_r) < 0)
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
	return ms_dvproto_fail(error_r, "unexpected line \"%s\"", cmd);
}

int ms_acproto_parse(const char *line, size_t len, struct ms_acproto_reply *r,
		     char **error_r)
{
	struct ms_dvproto_line l;

	memset(r, 0, sizeof(*r));
	if (ms_dvproto_split(line, len, MS_ACPROTO_LINE_MAX, &l, error_r) < 0)
		return -1;
	int ret = parse_split(l.f, l.n, r, error_r);
	ms_dvproto_line_free(&l);
	return ret;
}

bool ms_acproto_user_ok(const char *s)
{
	return ms_dvproto_name_ok(s, MS_ACPROTO_NAME_MAX);
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
