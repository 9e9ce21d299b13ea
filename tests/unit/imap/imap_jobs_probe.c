/*
 * imap_jobs_probe: runs one ms_imap_append_sent, ms_imap_headers or
 * ms_imap_seen_by_msgid job
 * against a real IMAP server and prints its result as one JSON object on
 * stdout (used by tests/integration/test_imap_sent.py and
 * test_master_user.py).
 *
 *   imap_jobs_probe HOST PORT MASTER_USER MASTER_PASSWORD USER append FILE DATE
 *   imap_jobs_probe HOST PORT MASTER_USER MASTER_PASSWORD USER uid MAILBOX
 *                   UIDVALIDITY UID
 *   imap_jobs_probe HOST PORT MASTER_USER MASTER_PASSWORD USER search MAILBOX
 *                   FROM SINCE
 *   imap_jobs_probe HOST PORT MASTER_USER MASTER_PASSWORD USER seen MAILBOX
 *                   MESSAGE_ID
 *
 * Output: {"error_class": ms_imap_error_name() or "refused" when the job
 * was not queued, "error": text or null, ...the result's fields}. Exit
 * status 0 when the probe ran (even if the job failed), 1 when the pool
 * could not start, 2 on usage errors.
 */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ms_imap.h"
#include "ut_log.h"
#include "ut_parse.h"
#include "ut_xalloc.h"

static json_t *result;

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *base(enum ms_imap_error error, const char *text)
{
	json_t *o = json_object();

	json_object_set_new(o, "error_class",
			    json_string(ms_imap_error_name(error)));
	json_object_set_new(o, "error", str_or_null(text));
	return o;
}

static void append_cb(const struct ms_imap_append_result *res, void *ctx)
{
	(void)ctx;
	result = base(res->error, res->error_text);
	json_object_set_new(result, "mailbox", str_or_null(res->mailbox));
	json_object_set_new(result, "uidvalidity",
			    json_integer(res->uidvalidity));
	json_object_set_new(result, "uid", json_integer(res->uid));
}

static json_t *str_array(char *const *list, size_t count)
{
	json_t *a = json_array();

	for (size_t i = 0; i < count; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

static void seen_cb(const struct ms_imap_seen_result *res, void *ctx)
{
	(void)ctx;
	result = base(res->error, res->error_text);
	json_object_set_new(result, "found", json_boolean(res->found));
	json_object_set_new(result, "uidvalidity",
			    json_integer(res->uidvalidity));
	json_object_set_new(result, "uid", json_integer(res->uid));
	json_object_set_new(result, "seen", json_boolean(res->seen));
}

static void headers_cb(const struct ms_imap_headers_result *res, void *ctx)
{
	const struct ms_imap_headers *h = &res->headers;

	(void)ctx;
	result = base(res->error, res->error_text);
	json_object_set_new(result, "found", json_boolean(res->found));
	json_object_set_new(result, "uidvalidity",
			    json_integer(res->uidvalidity));
	json_object_set_new(result, "uid", json_integer(res->uid));
	json_object_set_new(result, "message_id", str_or_null(h->message_id));
	json_object_set_new(result, "in_reply_to", str_or_null(h->in_reply_to));
	json_object_set_new(result, "references", str_or_null(h->references));
	json_object_set_new(result, "subject", str_or_null(h->subject));
	json_object_set_new(result, "from_address",
			    str_or_null(h->from_address));
	json_object_set_new(result, "from_name", str_or_null(h->from_name));
	json_object_set_new(result, "reply_to",
			    str_array(h->reply_to, h->reply_to_count));
	json_object_set_new(result, "to", str_array(h->to, h->to_count));
	json_object_set_new(result, "cc", str_array(h->cc, h->cc_count));
	json_object_set_new(result, "date", json_integer(h->date));
	json_object_set_new(result, "automatic", json_boolean(h->automatic));
}

static int usage(void)
{
	fprintf(stderr, "usage: imap_jobs_probe HOST PORT MASTER_USER "
			"MASTER_PASSWORD USER (append FILE DATE | uid MAILBOX "
			"UIDVALIDITY UID | search MAILBOX FROM SINCE | seen "
			"MAILBOX MESSAGE_ID)\n");
	return 2;
}

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	data = xmalloc((size_t)n + 1);
	*len_r = fread(data, 1, (size_t)n, f);
	fclose(f);
	return data;
}

/* Queues the job of argv[0..]; returns 0, -1 when not queued, 2 on usage
   errors. */
static int start(struct ms_imap_pool *pool, const char *user, int argc,
		 char **argv, char **data_r)
{
	uint64_t a, b;
	uint32_t uidvalidity, uid;

	if (argc == 3 && strcmp(argv[0], "append") == 0) {
		size_t len = 0;

		if (ut_parse_u64(argv[2], INT64_MAX, &a) < 0)
			return 2;
		*data_r = read_file(argv[1], &len);
		if (*data_r == NULL)
			return 2;
		return ms_imap_append_sent(pool, user, *data_r, len, (int64_t)a,
					   append_cb, NULL);
	}
	if (argc == 4 && strcmp(argv[0], "uid") == 0) {
		struct ms_imap_header_query q = {.mailbox = argv[1]};

		if (ut_parse_u32(argv[2], &uidvalidity) < 0 ||
		    ut_parse_u32(argv[3], &uid) < 0)
			return 2;
		q.uidvalidity = uidvalidity;
		q.uid = uid;
		return ms_imap_headers(pool, user, &q, headers_cb, NULL);
	}
	if (argc == 4 && strcmp(argv[0], "search") == 0) {
		struct ms_imap_header_query q = {.mailbox = argv[1],
						 .from = argv[2]};

		if (ut_parse_u64(argv[3], INT64_MAX, &b) < 0)
			return 2;
		q.since = (int64_t)b;
		return ms_imap_headers(pool, user, &q, headers_cb, NULL);
	}
	if (argc == 3 && strcmp(argv[0], "seen") == 0)
		return ms_imap_seen_by_msgid(pool, user, argv[1], argv[2],
					     seen_cb, NULL);
	return 2;
}

int main(int argc, char **argv)
{
	struct ms_imap_settings set = {.separator = '*', .workers = 1};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL, *data = NULL;
	uint32_t port;
	uv_loop_t loop;
	int r;

	if (argc < 8 || ut_parse_u32(argv[2], &port) < 0 || port == 0 ||
	    port > 65535)
		return usage();
	set.host = argv[1];
	set.port = (uint16_t)port;
	set.master_user = argv[3];
	set.master_password = argv[4];
	set.timeout_msecs = 10000;
	if (getenv("TIDINGS_TRACE") != NULL) {
		ut_log_set_level(UT_LOG_TRACE);
		ut_log_set_trace(UT_TRACE_IMAP);
	}
	uv_loop_init(&loop);
	if (ms_imap_pool_new(&loop, &set, &pool, &error) < 0) {
		fprintf(stderr, "imap_jobs_probe: %s\n", error);
		free(error);
		uv_loop_close(&loop);
		return 1;
	}
	r = start(pool, argv[5], argc - 6, argv + 6, &data);
	if (r == 2) {
		ms_imap_pool_free(&pool);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		free(data);
		return usage();
	}
	if (r < 0) {
		result = json_object();
		json_object_set_new(result, "error_class",
				    json_string("refused"));
		json_object_set_new(result, "error", json_string("not queued"));
	}
	while (result == NULL)
		uv_run(&loop, UV_RUN_ONCE);
	json_dumpf(result, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(result);
	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(data);
	return 0;
}
