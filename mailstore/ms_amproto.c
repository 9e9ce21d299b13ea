/*
 * Parsing of auth-master answers (see ms_amproto.h): what each answer
 * means. Splitting, escapes and numbers are ms_dvproto's; nothing is
 * trusted, nothing aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_amproto.h"
#include "ms_dvproto.h"
#include "ut_xalloc.h"

/* The key=value fields after the id (and user) of an answer. */
static int parse_fields(char **f, size_t n, size_t first,
			struct ms_amproto_reply *r, char **error_r)
{
	for (size_t i = first; i < n; i++) {
		const char *key, *value;
		int ret = ms_dvproto_field(f[i], &key, &value, error_r);
		if (ret < 0)
			return -1;
		if (ret == 0 || value == NULL)
			continue; /* empty, or a flag such as "nologin" */
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
			if (ms_dvproto_parse_num(value, UINT32_MAX - 1, v) <
			    0) {
				*error_r = xasprintf("invalid %s", key);
				return -1;
			}
			*has = true;
		} else if (r->type == MS_AMPROTO_FAIL &&
			   strcmp(key, "reason") == 0) {
			ms_dvproto_clean_into(value, r->reason,
					      sizeof(r->reason));
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
		return ms_dvproto_parse_version(f, n, &r->major, &r->minor,
						error_r);
	}
	if (strcmp(cmd, "SPID") == 0) {
		r->type = MS_AMPROTO_SPID;
		return ms_dvproto_parse_number_line(f, n, error_r);
	}
	if (strcmp(cmd, "USER") == 0) {
		r->type = MS_AMPROTO_USER;
		if (ms_dvproto_parse_id(f, n, &r->id, error_r) < 0)
			return -1;
		if (n < 3 || f[2][0] == '\0' || !ms_dvproto_escapes_ok(f[2])) {
			*error_r = xstrdup("USER answer without a valid user");
			return -1;
		}
		return parse_fields(f, n, 3, r, error_r);
	}
	if (strcmp(cmd, "NOTFOUND") == 0 || strcmp(cmd, "FAIL") == 0) {
		r->type = cmd[0] == 'N' ? MS_AMPROTO_NOTFOUND : MS_AMPROTO_FAIL;
		if (ms_dvproto_parse_id(f, n, &r->id, error_r) < 0)
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
	return ms_dvproto_fail(error_r, "unexpected answer \"%s\"", cmd);
}

int ms_amproto_parse(const char *line, size_t len, struct ms_amproto_reply *r,
		     char **error_r)
{
	struct ms_dvproto_line l;

	memset(r, 0, sizeof(*r));
	if (ms_dvproto_split(line, len, MS_AMPROTO_LINE_MAX, &l, error_r) < 0)
		return -1;
	int ret = parse_fields_line(l.f, l.n, r, error_r);
	ms_dvproto_line_free(&l);
	return ret;
}

bool ms_amproto_name_ok(const char *s)
{
	return ms_dvproto_name_ok(s, MS_AMPROTO_NAME_MAX);
}
