/*
 * Fuzz target for ms_amproto_parse, the lines Dovecot's auth-master socket
 * sends. Each input line (split at '\n') is parsed on its own. Checks:
 * - a refused line comes with a one-line error of bounded length;
 * - an accepted one holds what the header promises: a known type, a
 *   nonzero id for USER/NOTFOUND/FAIL, no uid or gid of (uint32_t)-1, and
 *   a FAIL reason that is clean one-line UTF-8 within its bound.
 */
#include "fuzz_dvlines.h"
#include "ms_amproto.h"

static void one(const char *line, size_t len, bool first)
{
	struct ms_amproto_reply r;
	char *error = NULL;

	(void)first;
	memset(&r, 0xA5, sizeof(r));
	int ret = ms_amproto_parse(line, len, &r, &error);
	if (!fuzz_parsed(ret, error))
		return;
	switch (r.type) {
	case MS_AMPROTO_VERSION:
	case MS_AMPROTO_SPID:
		break;
	case MS_AMPROTO_USER:
		if (r.id == 0 || (r.has_uid && r.uid == UINT32_MAX) ||
		    (r.has_gid && r.gid == UINT32_MAX))
			abort();
		break;
	case MS_AMPROTO_NOTFOUND:
		if (r.id == 0)
			abort();
		break;
	case MS_AMPROTO_FAIL:
		if (r.id == 0 ||
		    memchr(r.reason, '\0', sizeof(r.reason)) == NULL)
			abort();
		fuzz_check_clean(r.reason, MS_AMPROTO_REASON_MAX);
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_each_line(data, size, one);
	return 0;
}
