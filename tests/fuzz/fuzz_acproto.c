/*
 * Fuzz target for ms_acproto_parse, the lines Dovecot's auth-client socket
 * sends, and for ms_acproto_auth_line. Each input line (split at '\n') is
 * parsed on its own. Checks:
 * - a refused line comes with a one-line error of bounded length;
 * - an accepted one holds what the header promises: a known type, a
 *   nonzero id for OK/FAIL/CONT, a user that is NUL-terminated within its
 *   bound (or flagged too long), code and reason clean one-line UTF-8;
 * - the first line, used as user and password (split at its first TAB),
 *   either is refused or gives an AUTH line of the announced length that
 *   ends in one '\n' and holds no other control byte.
 */
#include "fuzz_dvlines.h"
#include "ms_acproto.h"

static void one(const char *line, size_t len)
{
	struct ms_acproto_reply r;
	char *error = NULL;

	memset(&r, 0xA5, sizeof(r));
	int ret = ms_acproto_parse(line, len, &r, &error);
	if (!fuzz_parsed(ret, error))
		return;
	switch (r.type) {
	case MS_ACPROTO_VERSION:
	case MS_ACPROTO_MECH:
	case MS_ACPROTO_SPID:
	case MS_ACPROTO_CUID:
	case MS_ACPROTO_COOKIE:
	case MS_ACPROTO_DONE:
		break;
	case MS_ACPROTO_OK:
	case MS_ACPROTO_FAIL:
		if (r.id == 0)
			abort();
		if (r.has_user && !r.user_too_long &&
		    (memchr(r.user, '\0', sizeof(r.user)) == NULL ||
		     r.user[0] == '\0'))
			abort();
		fuzz_check_clean(r.code, MS_ACPROTO_CODE_MAX);
		fuzz_check_clean(r.reason, MS_ACPROTO_REASON_MAX);
		break;
	case MS_ACPROTO_CONT:
		if (r.id == 0)
			abort();
		break;
	default:
		abort();
	}
}

static void auth_line(const char *line, size_t len)
{
	const char *tab = memchr(line, '\t', len);
	size_t ulen = tab != NULL ? (size_t)(tab - line) : len;
	char *user = malloc(ulen + 1);
	if (user == NULL)
		abort();
	memcpy(user, line, ulen);
	user[ulen] = '\0';
	const char *pw = tab != NULL ? tab + 1 : "";
	size_t pwlen = tab != NULL ? len - ulen - 1 : 0;
	char *out = NULL;
	size_t out_len = 0;
	if (ms_acproto_auth_line(42, "xmpp", user, pw, pwlen, &out, &out_len) ==
	    0) {
		if (out == NULL || out_len == 0 ||
		    out_len > MS_ACPROTO_LINE_MAX + 1 ||
		    strlen(out) != out_len || out[out_len - 1] != '\n' ||
		    memchr(out, '\n', out_len - 1) != NULL ||
		    strncmp(out, "AUTH\t42\tPLAIN\tservice=xmpp\t", 26) != 0)
			abort();
		free(out);
	} else if (out != NULL) {
		abort();
	}
	free(user);
}

static void line(const char *p, size_t len, bool first)
{
	one(p, len);
	if (first)
		auth_line(p, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_each_line(data, size, line);
	return 0;
}
