/*
 * smtp_probe: submits one message (or -n copies of it) through ms_smtp's
 * pool and prints the results as one JSON object on stdout (used by
 * tests/integration/test_smtp.py).
 *
 *   smtp_probe [-s none|starttls|tls] [-c ca_file] [-u user -p password]
 *              [-a] [-e ehlo_name] [-t timeout_msecs] [-j job_msecs]
 *              [-w workers] [-n copies] [-k cancel_after_msecs]
 *              HOST PORT SENDER MESSAGE_FILE RCPT...
 *
 * -a allows AUTH without TLS. -k cancels every job that has not reported
 * after that many milliseconds, then frees the pool.
 *
 * Output: {"results": [per copy: {"status", "error", "code", "text",
 * "rcpts": [{"address", "status", "code", "text"}]}], "callbacks": N,
 * "cancelled": N, "elapsed_msecs": N}. Exit status 0 when the probe ran
 * (even if submissions failed), 1 when the pool could not start or
 * ms_smtp_submit() refused (the error on stderr), 2 on usage errors.
 */

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "ms_smtp.h"
#include "ut_parse.h"
#include "ut_xalloc.h"

struct probe {
	struct ms_smtp_pool *pool;
	json_t **results;
	struct ms_smtp_job **jobs;
	size_t copies;
	size_t callbacks;
	size_t cancelled;
	uv_timer_t timer;
};

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *result_json(const struct ms_smtp_result *res)
{
	json_t *o = json_object();
	json_t *rcpts = json_array();

	json_object_set_new(o, "status",
			    json_string(ms_smtp_status_name(res->status)));
	json_object_set_new(o, "error",
			    json_string(ms_smtp_error_name(res->error)));
	json_object_set_new(o, "code", json_integer(res->code));
	json_object_set_new(o, "text", str_or_null(res->text));
	for (size_t i = 0; i < res->rcpt_count; i++) {
		const struct ms_smtp_rcpt_result *rr = &res->rcpts[i];
		json_t *j = json_object();

		json_object_set_new(j, "address", json_string(rr->address));
		json_object_set_new(
		    j, "status", json_string(ms_smtp_status_name(rr->status)));
		json_object_set_new(j, "code", json_integer(rr->code));
		json_object_set_new(j, "text", str_or_null(rr->text));
		json_array_append_new(rcpts, j);
	}
	json_object_set_new(o, "rcpts", rcpts);
	return o;
}

struct job_ctx {
	struct probe *probe;
	size_t index;
};

static void done_cb(const struct ms_smtp_result *res, void *ctx)
{
	struct job_ctx *jc = ctx;
	struct probe *p = jc->probe;

	p->results[jc->index] = result_json(res);
	p->jobs[jc->index] = NULL;
	p->callbacks++;
	if (p->callbacks + p->cancelled == p->copies) {
		uv_timer_stop(&p->timer);
		ms_smtp_pool_free(&p->pool);
	}
}

static void cancel_cb(uv_timer_t *t)
{
	struct probe *p = t->data;

	for (size_t i = 0; i < p->copies; i++) {
		if (p->jobs[i] != NULL) {
			ms_smtp_cancel(p->pool, &p->jobs[i]);
			p->cancelled++;
		}
	}
	if (ms_smtp_pool_pending(p->pool) != 0)
		fprintf(stderr, "smtp_probe: jobs pending after cancel\n");
	ms_smtp_pool_free(&p->pool);
}

static int usage(void)
{
	fprintf(stderr, "usage: smtp_probe [-s none|starttls|tls] [-c ca_file] "
			"[-u user -p password] [-a] [-e ehlo_name] "
			"[-t timeout_msecs] [-j job_msecs] [-w workers] "
			"[-n copies] [-k cancel_after_msecs] "
			"HOST PORT SENDER MESSAGE_FILE RCPT...\n");
	return 2;
}

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			cap = cap * 2 + 4096;
			data = xreallocarray(data, cap, 1);
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*len_r = len;
	return data;
}

int main(int argc, char **argv)
{
	struct ms_smtp_settings set = {0};
	uint64_t timeout_msecs = 10000, job_msecs = 0, cancel_msecs = 0;
	uint64_t port = 0, workers = 2, copies = 1;
	struct probe probe = {0};
	struct ms_smtp_msg msg = {0};
	struct job_ctx *ctxs;
	char *error = NULL;
	uv_loop_t loop;
	uint64_t start, elapsed;
	json_t *out, *arr;
	char *data;
	int ret = 0;
	int c;

	while ((c = getopt(argc, argv, "s:c:u:p:ae:t:j:w:n:k:")) != -1) {
		int r = 0;

		switch (c) {
		case 's':
			if (strcmp(optarg, "none") == 0)
				set.tls = MS_SMTP_TLS_NONE;
			else if (strcmp(optarg, "starttls") == 0)
				set.tls = MS_SMTP_TLS_STARTTLS;
			else if (strcmp(optarg, "tls") == 0)
				set.tls = MS_SMTP_TLS_IMPLICIT;
			else
				r = -1;
			break;
		case 'c':
			set.ca_file = optarg;
			break;
		case 'u':
			set.user = optarg;
			break;
		case 'p':
			set.password = optarg;
			break;
		case 'a':
			set.auth_without_tls = true;
			break;
		case 'e':
			set.ehlo_name = optarg;
			break;
		case 't':
			r = ut_parse_u64(optarg, UINT32_MAX, &timeout_msecs);
			break;
		case 'j':
			r = ut_parse_u64(optarg, UINT32_MAX, &job_msecs);
			break;
		case 'w':
			r = ut_parse_u64(optarg, 64, &workers);
			break;
		case 'n':
			r = ut_parse_u64(optarg, 1000, &copies);
			break;
		case 'k':
			r = ut_parse_u64(optarg, UINT32_MAX, &cancel_msecs);
			break;
		default:
			return usage();
		}
		if (r < 0)
			return usage();
	}
	if (argc - optind < 5 || copies == 0)
		return usage();
	if (ut_parse_u64(argv[optind + 1], 65535, &port) < 0 || port == 0)
		return usage();
	set.host = argv[optind];
	set.port = (uint16_t)port;
	set.timeout_msecs = timeout_msecs;
	set.job_timeout_msecs = job_msecs;
	set.workers = (unsigned)workers;
	data = read_file(argv[optind + 3], &msg.data_len);
	if (data == NULL) {
		fprintf(stderr, "smtp_probe: cannot read %s\n",
			argv[optind + 3]);
		return 2;
	}
	msg.sender = argv[optind + 2];
	msg.data = data;
	msg.rcpts = (const char *const *)&argv[optind + 4];
	msg.rcpt_count = (size_t)(argc - optind - 4);

	uv_loop_init(&loop);
	uv_update_time(&loop);
	if (ms_smtp_pool_new(&loop, &set, &probe.pool, &error) < 0) {
		fprintf(stderr, "smtp_probe: %s\n", error);
		free(error);
		free(data);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	probe.copies = copies;
	probe.results = xcalloc(copies, sizeof(*probe.results));
	probe.jobs = xcalloc(copies, sizeof(*probe.jobs));
	ctxs = xcalloc(copies, sizeof(*ctxs));
	uv_timer_init(&loop, &probe.timer);
	probe.timer.data = &probe;
	start = uv_now(&loop);
	for (size_t i = 0; i < copies; i++) {
		ctxs[i] = (struct job_ctx){.probe = &probe, .index = i};
		if (ms_smtp_submit(probe.pool, &msg, done_cb, &ctxs[i],
				   &probe.jobs[i], &error) < 0) {
			fprintf(stderr, "smtp_probe: submit: %s\n", error);
			free(error);
			ret = 1;
			break;
		}
	}
	free(data); /* the pool has its copy */
	if (ret != 0) {
		ms_smtp_pool_free(&probe.pool);
	} else if (cancel_msecs > 0) {
		uv_timer_start(&probe.timer, cancel_cb, cancel_msecs, 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_update_time(&loop);
	elapsed = uv_now(&loop) - start;
	uv_close((uv_handle_t *)&probe.timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);

	out = json_object();
	arr = json_array();
	for (size_t i = 0; i < copies; i++)
		json_array_append_new(arr, probe.results[i] != NULL
					       ? probe.results[i]
					       : json_null());
	json_object_set_new(out, "results", arr);
	json_object_set_new(out, "callbacks",
			    json_integer((json_int_t)probe.callbacks));
	json_object_set_new(out, "cancelled",
			    json_integer((json_int_t)probe.cancelled));
	json_object_set_new(out, "elapsed_msecs",
			    json_integer((json_int_t)elapsed));
	json_dumpf(out, stdout, JSON_COMPACT);
	printf("\n");
	json_decref(out);
	free(probe.results);
	free(probe.jobs);
	free(ctxs);
	return ret;
}
