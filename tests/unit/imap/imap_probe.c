/*
 * imap_probe: runs ms_imap_scan for one or more users against a real IMAP
 * server and prints the results as one JSON object on stdout (used by
 * tests/integration/test_imap_pool.py).
 *
 *   imap_probe [-w workers] [-t timeout_msecs] [-m mailbox]
 *              [-v uidvalidity] [-f from_uid] [-T to_uid] [-n max_msgs]
 *              [-s none|starttls|tls] [-c ca_file] [-q queue_max]
 *              HOST PORT MASTER_USER MASTER_PASSWORD USER...
 *
 * Output: {"results": [one object per USER, in argument order],
 *          "elapsed_msecs": N}. Each result has "error" (text or null) and
 * "error_class" (ms_imap_error_name(), or "refused" when ms_imap_scan()
 * found the queue full). Exit status 0 when the probe ran (even if scans
 * failed), 1 when the pool could not start, 2 on usage errors.
 */

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ut_log.h"
#include "ms_imap.h"
#include "ut_parse.h"
#include "ut_xalloc.h"

struct probe {
	json_t **results;
	size_t done;
};

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *result_json(const char *user,
			   const struct ms_imap_scan_result *res)
{
	json_t *o = json_object();
	json_t *msgs = json_array();

	json_object_set_new(o, "user", json_string(user));
	json_object_set_new(o, "error", str_or_null(res->error_text));
	json_object_set_new(o, "error_class",
			    json_string(ms_imap_error_name(res->error)));
	json_object_set_new(o, "uidvalidity", json_integer(res->uidvalidity));
	json_object_set_new(o, "uidnext", json_integer(res->uidnext));
	json_object_set_new(o, "messages", json_integer(res->messages));
	json_object_set_new(o, "unseen", json_integer(res->unseen));
	json_object_set_new(o, "range_count",
			    json_integer((json_int_t)res->range_count));
	for (size_t i = 0; i < res->msg_count; i++) {
		const struct ms_imap_msg *m = &res->msgs[i];
		json_t *j = json_object();

		json_object_set_new(j, "uid", json_integer(m->uid));
		json_object_set_new(j, "message_id",
				    str_or_null(m->message_id));
		json_object_set_new(j, "from_name", str_or_null(m->from_name));
		json_object_set_new(j, "from_address",
				    str_or_null(m->from_address));
		json_object_set_new(j, "subject", str_or_null(m->subject));
		json_object_set_new(j, "date", json_integer(m->date));
		json_object_set_new(j, "received", json_integer(m->received));
		json_object_set_new(j, "seen", json_boolean(m->seen));
		json_array_append_new(msgs, j);
	}
	json_object_set_new(o, "msgs", msgs);
	return o;
}

struct job_ctx {
	struct probe *probe;
	size_t index;
	const char *user;
};

static void scan_cb(const struct ms_imap_scan_result *res, void *ctx)
{
	struct job_ctx *jc = ctx;

	jc->probe->results[jc->index] = result_json(jc->user, res);
	jc->probe->done++;
}

static int usage(void)
{
	fprintf(
	    stderr,
	    "usage: imap_probe [-w workers] [-t timeout_msecs] [-m mailbox] "
	    "[-v uidvalidity] [-f from_uid] [-T to_uid] [-n max_msgs] "
	    "[-s none|starttls|tls] [-c ca_file] [-q queue_max] "
	    "HOST PORT MASTER_USER MASTER_PASSWORD USER...\n");
	return 2;
}

static int parse_u32_opt(const char *s, uint32_t *r)
{
	if (ut_parse_u32(s, r) < 0) {
		fprintf(stderr, "imap_probe: bad number: %s\n", s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ms_imap_settings set = {.separator = '*'};
	uint32_t workers = 2, uidvalidity = 0, from_uid = 0, to_uid = 0;
	uint32_t max_msgs = 50, port = 0, queue_max = 0;
	uint64_t timeout_msecs = 10000;
	const char *mailbox = "INBOX";
	struct ms_imap_pool *pool = NULL;
	struct probe probe = {0};
	struct job_ctx *jobs;
	char *error = NULL;
	uv_loop_t loop;
	uint64_t start;
	json_t *out, *arr;
	size_t n_users;
	int c;

	while ((c = getopt(argc, argv, "w:t:m:v:f:T:n:s:c:q:")) != -1) {
		int r = 0;

		switch (c) {
		case 'w':
			r = parse_u32_opt(optarg, &workers);
			break;
		case 't':
			r = ut_parse_u64(optarg, UINT32_MAX, &timeout_msecs);
			break;
		case 'm':
			mailbox = optarg;
			break;
		case 'v':
			r = parse_u32_opt(optarg, &uidvalidity);
			break;
		case 'f':
			r = parse_u32_opt(optarg, &from_uid);
			break;
		case 'T':
			r = parse_u32_opt(optarg, &to_uid);
			break;
		case 'n':
			r = parse_u32_opt(optarg, &max_msgs);
			break;
		case 's':
			if (strcmp(optarg, "none") == 0)
				set.tls = MS_IMAP_TLS_NONE;
			else if (strcmp(optarg, "starttls") == 0)
				set.tls = MS_IMAP_TLS_STARTTLS;
			else if (strcmp(optarg, "tls") == 0)
				set.tls = MS_IMAP_TLS_IMPLICIT;
			else
				r = -1;
			break;
		case 'c':
			set.ca_file = optarg;
			break;
		case 'q':
			r = parse_u32_opt(optarg, &queue_max);
			break;
		default:
			return usage();
		}
		if (r < 0)
			return usage();
	}
	if (argc - optind < 5)
		return usage();
	if (parse_u32_opt(argv[optind + 1], &port) < 0 || port == 0 ||
	    port > 65535)
		return usage();
	set.host = argv[optind];
	set.port = (uint16_t)port;
	set.master_user = argv[optind + 2];
	set.master_password = argv[optind + 3];
	set.workers = workers;
	set.timeout_msecs = timeout_msecs;
	set.queue_max = queue_max;
	n_users = (size_t)(argc - optind - 4);

	if (getenv("TIDINGS_TRACE") != NULL) {
		ut_log_set_level(UT_LOG_TRACE);
		ut_log_set_trace(UT_TRACE_IMAP);
	}
	uv_loop_init(&loop);
	if (ms_imap_pool_new(&loop, &set, &pool, &error) < 0) {
		fprintf(stderr, "imap_probe: %s\n", error);
		free(error);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	probe.results = xcalloc(n_users, sizeof(*probe.results));
	jobs = xcalloc(n_users, sizeof(*jobs));
	uv_update_time(&loop);
	start = uv_now(&loop);
	for (size_t i = 0; i < n_users; i++) {
		jobs[i] = (struct job_ctx){&probe, i, argv[optind + 4 + i]};
		if (ms_imap_scan(pool, jobs[i].user, mailbox, uidvalidity,
				 from_uid, to_uid, max_msgs, scan_cb,
				 &jobs[i]) < 0) {
			json_t *o = json_object();

			json_object_set_new(o, "user",
					    json_string(jobs[i].user));
			json_object_set_new(o, "error",
					    json_string("queue full"));
			json_object_set_new(o, "error_class",
					    json_string("refused"));
			probe.results[i] = o;
			probe.done++;
		}
	}
	while (probe.done < n_users)
		uv_run(&loop, UV_RUN_ONCE);
	uv_update_time(&loop);

	out = json_object();
	arr = json_array();
	for (size_t i = 0; i < n_users; i++)
		json_array_append_new(arr, probe.results[i]);
	json_object_set_new(out, "results", arr);
	json_object_set_new(out, "elapsed_msecs",
			    json_integer((json_int_t)(uv_now(&loop) - start)));
	json_dumpf(out, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(out);

	ms_imap_pool_free(&pool);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(probe.results);
	free(jobs);
	return 0;
}
