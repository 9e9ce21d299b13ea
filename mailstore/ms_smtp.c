/*
 * The SMTP submission pool (see ms_smtp.h): checks and copies of the
 * settings and messages on the loop thread, submissions as jobs on an
 * ms_jobs pool (ms_smtp_session.c runs them).
 */

#include "ms_smtp.h"

#include <stdlib.h>
#include <string.h>

#include "ms_jobs.h"
#include "ms_net.h"
#include "ms_smtp_proto.h"
#include "ms_smtp_session.h"
#include "ut_buf.h"
#include "ut_xalloc.h"

struct ms_smtp_job {
	struct ms_job job; /* first */
	struct ms_smtp_pool *pool;
	struct ms_smtp__req req;
	char *sender;
	char **rcpts;
	char *wire;
	ms_smtp_cb *cb;
	void *ctx;
	struct ms_smtp_result res;
};

struct ms_smtp_pool {
	struct ms_jobs *jobs;
	char *host;
	uint16_t port;
	enum ms_smtp_tls tls;
	SSL_CTX *tls_ctx; /* NULL without TLS */
	char *user;
	char *password; /* wiped when freed */
	char *ehlo_name;
	uint64_t timeout_msecs;
	uint64_t job_msecs;
	size_t message_max;
};

const char *ms_smtp_status_name(enum ms_smtp_status status)
{
	switch (status) {
	case MS_SMTP_OK:
		return "ok";
	case MS_SMTP_TEMP:
		return "temp";
	case MS_SMTP_PERM:
		return "perm";
	}
	return "unknown";
}

const char *ms_smtp_error_name(enum ms_smtp_error error)
{
	switch (error) {
	case MS_SMTP_ERR_NONE:
		return "none";
	case MS_SMTP_ERR_CONNECT:
		return "connect";
	case MS_SMTP_ERR_TIMEOUT:
		return "timeout";
	case MS_SMTP_ERR_IO:
		return "io";
	case MS_SMTP_ERR_TLS:
		return "tls";
	case MS_SMTP_ERR_AUTH:
		return "auth";
	case MS_SMTP_ERR_REPLY:
		return "reply";
	}
	return "unknown";
}

static void job_free(struct ms_smtp_job *job)
{
	ms_smtp__result_clear(&job->res);
	free(job->sender);
	for (size_t i = 0; i < job->req.rcpt_count; i++)
		free(job->rcpts[i]);
	free(job->rcpts);
	free(job->wire);
	free(job);
}

static void job_run(struct ms_job *j, struct ms_jobs_worker *w)
{
	struct ms_smtp_job *job = (struct ms_smtp_job *)j;
	const struct ms_smtp_pool *pool = job->pool;
	struct ms_smtp__server server = {
	    .host = pool->host,
	    .port = pool->port,
	    .tls = pool->tls,
	    .tls_ctx = pool->tls_ctx,
	    .user = pool->user,
	    .password = pool->password,
	    .ehlo_name = pool->ehlo_name,
	    .timeout_msecs = pool->timeout_msecs,
	    .job_msecs = pool->job_msecs,
	    .stop_fd = ms_jobs_stop_fd(w),
	    .set_fd_cb = ms_jobs_set_fd_cb,
	    .set_fd_ctx = w,
	};

	ms_smtp__session_run(&server, &job->req, &job->res);
}

static void job_done(struct ms_job *j)
{
	struct ms_smtp_job *job = (struct ms_smtp_job *)j;

	/* The callback may free the pool: job->pool is not used after. */
	job->cb(&job->res, job->ctx);
	job_free(job);
}

static void job_drop(struct ms_job *j)
{
	job_free((struct ms_smtp_job *)j);
}

static const struct ms_job_ops job_ops = {
    .run = job_run,
    .done = job_done,
    .drop = job_drop,
};

static void pool_settings_free(struct ms_smtp_pool *pool)
{
	SSL_CTX_free(pool->tls_ctx);
	free(pool->host);
	free(pool->user);
	if (pool->password != NULL) {
		/* The password does not linger in freed memory. */
		explicit_bzero(pool->password, strlen(pool->password));
		free(pool->password);
	}
	free(pool->ehlo_name);
	free(pool);
}

static int check_settings(const struct ms_smtp_settings *set, char **error_r)
{
	if (set->host == NULL || set->host[0] == '\0' || set->port == 0) {
		*error_r = xstrdup("smtp: host and port are required");
		return -1;
	}
	if (set->tls != MS_SMTP_TLS_NONE && set->tls != MS_SMTP_TLS_STARTTLS &&
	    set->tls != MS_SMTP_TLS_IMPLICIT) {
		*error_r =
		    xasprintf("smtp: unknown TLS mode %d", (int)set->tls);
		return -1;
	}
	if ((set->user == NULL) != (set->password == NULL)) {
		*error_r = xstrdup("smtp: user and password go together");
		return -1;
	}
	if (set->user != NULL &&
	    (set->user[0] == '\0' || strpbrk(set->user, "\r\n") != NULL)) {
		*error_r = xstrdup("smtp: invalid user name");
		return -1;
	}
	if (set->user != NULL && set->tls == MS_SMTP_TLS_NONE &&
	    !set->auth_without_tls) {
		*error_r = xstrdup("smtp: AUTH would send the password in "
				   "clear: configure TLS");
		return -1;
	}
	if (set->ehlo_name != NULL && !ms_smtp__ehlo_name_ok(set->ehlo_name)) {
		*error_r = xstrdup("smtp: invalid EHLO name");
		return -1;
	}
	return 0;
}

int ms_smtp_pool_new(uv_loop_t *loop, const struct ms_smtp_settings *set,
		     struct ms_smtp_pool **pool_r, char **error_r)
{
	struct ms_smtp_pool *pool;

	*pool_r = NULL;
	*error_r = NULL;
	if (check_settings(set, error_r) < 0)
		return -1;
	pool = xcalloc(1, sizeof(*pool));
	if (set->tls != MS_SMTP_TLS_NONE) {
		pool->tls_ctx =
		    ms_net_tls_ctx_new(set->ca_file, "smtp", error_r);
		if (pool->tls_ctx == NULL) {
			free(pool);
			return -1;
		}
	}
	pool->host = xstrdup(set->host);
	pool->port = set->port;
	pool->tls = set->tls;
	if (set->user != NULL) {
		pool->user = xstrdup(set->user);
		pool->password = xstrdup(set->password);
	}
	pool->ehlo_name =
	    xstrdup(set->ehlo_name != NULL ? set->ehlo_name : "localhost");
	pool->timeout_msecs =
	    set->timeout_msecs != 0 ? set->timeout_msecs : 30000;
	pool->job_msecs = set->job_timeout_msecs != 0 ? set->job_timeout_msecs
						      : 4 * pool->timeout_msecs;
	pool->message_max =
	    set->message_max != 0 ? set->message_max : (size_t)32 << 20;
	if (ms_jobs_new(loop, "smtp", set->workers != 0 ? set->workers : 2,
			set->queue_max != 0 ? set->queue_max : 256, &pool->jobs,
			error_r) < 0) {
		pool_settings_free(pool);
		return -1;
	}
	*pool_r = pool;
	return 0;
}

static int check_msg(const struct ms_smtp_pool *pool,
		     const struct ms_smtp_msg *msg, char **error_r)
{
	if (msg->sender == NULL || !ms_smtp__address_ok(msg->sender, true)) {
		*error_r = xstrdup("invalid sender address");
		return -1;
	}
	if (msg->rcpt_count == 0 || msg->rcpt_count > MS_SMTP_RCPTS_MAX) {
		*error_r = xasprintf("between 1 and %d recipients, not %zu",
				     MS_SMTP_RCPTS_MAX, msg->rcpt_count);
		return -1;
	}
	for (size_t i = 0; i < msg->rcpt_count; i++) {
		if (msg->rcpts[i] == NULL ||
		    !ms_smtp__address_ok(msg->rcpts[i], false)) {
			*error_r =
			    xasprintf("invalid recipient address #%zu", i + 1);
			return -1;
		}
	}
	if (msg->data == NULL || msg->data_len > pool->message_max) {
		*error_r = xasprintf("message larger than %zu bytes",
				     pool->message_max);
		return -1;
	}
	return 0;
}

int ms_smtp_submit(struct ms_smtp_pool *pool, const struct ms_smtp_msg *msg,
		   ms_smtp_cb *cb, void *ctx, struct ms_smtp_job **job_r,
		   char **error_r)
{
	struct ms_smtp_job *job;
	struct ut_buf wire;

	ut_assert(cb != NULL);
	*error_r = NULL;
	if (job_r != NULL)
		*job_r = NULL;
	if (check_msg(pool, msg, error_r) < 0)
		return -1;
	job = xcalloc(1, sizeof(*job));
	job->pool = pool;
	job->sender = xstrdup(msg->sender);
	job->rcpts = xcalloc(msg->rcpt_count, sizeof(*job->rcpts));
	for (size_t i = 0; i < msg->rcpt_count; i++)
		job->rcpts[i] = xstrdup(msg->rcpts[i]);
	ut_buf_init(&wire);
	job->req.eightbit =
	    ms_smtp__data_encode(msg->data, msg->data_len, &wire);
	job->req.wire_len = wire.len;
	job->req.data_len = wire.len;
	job->wire = ut_buf_steal(&wire);
	job->req.sender = job->sender;
	job->req.rcpts = job->rcpts;
	job->req.rcpt_count = msg->rcpt_count;
	job->req.wire = job->wire;
	job->cb = cb;
	job->ctx = ctx;
	if (ms_jobs_submit(pool->jobs, &job->job, &job_ops) < 0) {
		job_free(job);
		*error_r = xstrdup("queue full");
		return -1;
	}
	if (job_r != NULL)
		*job_r = job;
	return 0;
}

void ms_smtp_cancel(struct ms_smtp_pool *pool, struct ms_smtp_job **jobp)
{
	struct ms_smtp_job *job = *jobp;

	if (job == NULL)
		return;
	*jobp = NULL;
	ms_jobs_cancel(pool->jobs, &job->job);
}

size_t ms_smtp_pool_pending(const struct ms_smtp_pool *pool)
{
	return ms_jobs_pending(pool->jobs);
}

void ms_smtp_pool_free(struct ms_smtp_pool **poolp)
{
	struct ms_smtp_pool *pool = *poolp;

	if (pool == NULL)
		return;
	*poolp = NULL;
	/* Joins the workers: nothing uses the settings after this. */
	ms_jobs_free(&pool->jobs);
	pool_settings_free(pool);
}
