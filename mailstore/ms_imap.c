/*
 * The IMAP worker pool: IMAP jobs on a general job pool (ms_jobs.h), each
 * run as a blocking libetpan session and reported on the loop thread. The
 * scan lives here (its session in ms_imap_scan.c); the other job kinds in
 * ms_imap_append.c and ms_imap_headers.c share the pool's settings
 * through ms_imap_pool.h.
 */

#include "ms_imap.h"

#include <stdlib.h>
#include <string.h>

#include "ms_imap_pool.h"
#include "ms_imap_scan.h"
#include "ut_log.h"
#include "ut_xalloc.h"

struct ms_imap_job {
	struct ms_job job;	      /* first */
	struct ms_imap_pool *pool;    /* for the settings while running */
	struct ms_imap__scan_req req; /* user and mailbox owned */
	char *user;
	char *mailbox;
	ms_imap_scan_cb *cb;
	void *ctx;
	struct ms_imap_scan_result res;
};

struct ms_imap_pool {
	struct ms_jobs *jobs;
	char *host;
	uint16_t port;
	enum ms_imap_tls tls;
	char *master_user;
	char *master_password;
	char separator;
	uint64_t timeout_msecs;
	SSL_CTX *tls_ctx;		 /* NULL without TLS */
	uint64_t jobs_done, jobs_failed; /* loop thread */
};

const char *ms_imap_error_name(enum ms_imap_error error)
{
	switch (error) {
	case MS_IMAP_OK:
		return "ok";
	case MS_IMAP_ERR_TEMP:
		return "temp";
	case MS_IMAP_ERR_NO_USER:
		return "no-user";
	case MS_IMAP_ERR_AUTH:
		return "auth";
	case MS_IMAP_ERR_NO_MAILBOX:
		return "no-mailbox";
	case MS_IMAP_ERR_TLS:
		return "tls";
	}
	return "unknown";
}

static void job_free(struct ms_imap_job *job)
{
	ms_imap__result_clear(&job->res);
	free(job->user);
	free(job->mailbox);
	free(job);
}

void ms_imap__pool_server(const struct ms_imap_pool *pool,
			  struct ms_jobs_worker *w, struct ms_imap__server *srv)
{
	*srv = (struct ms_imap__server){
	    .host = pool->host,
	    .port = pool->port,
	    .tls = pool->tls,
	    .tls_ctx = pool->tls_ctx,
	    .master_user = pool->master_user,
	    .master_password = pool->master_password,
	    .separator = pool->separator,
	    .timeout_msecs = pool->timeout_msecs,
	    .stop_fd = ms_jobs_stop_fd(w),
	    /* so that freeing the pool can shut the socket down */
	    .set_fd_cb = ms_jobs_set_fd_cb,
	    .set_fd_ctx = w,
	};
}

int ms_imap__pool_submit(struct ms_imap_pool *pool, struct ms_job *job,
			 const struct ms_job_ops *ops)
{
	return ms_jobs_submit(pool->jobs, job, ops);
}

static void job_run(struct ms_job *j, struct ms_jobs_worker *w)
{
	struct ms_imap_job *job = (struct ms_imap_job *)j;
	struct ms_imap__server server;
	/* The caller logs failures; the scan traces them. */
	char *prefix = xasprintf("imap(%s)", job->user);

	ms_imap__pool_server(job->pool, w, &server);
	ms_imap__scan_run(&server, &job->req, &job->res, prefix);
	free(prefix);
}

static void job_done(struct ms_job *j)
{
	struct ms_imap_job *job = (struct ms_imap_job *)j;

	ms_imap__pool_count(job->pool, job->res.error);
	/* The callback may free the pool: job->pool is not used after. */
	job->cb(&job->res, job->ctx);
	job_free(job);
}

static void job_drop(struct ms_job *j)
{
	job_free((struct ms_imap_job *)j);
}

static const struct ms_job_ops job_ops = {
    .run = job_run,
    .done = job_done,
    .drop = job_drop,
};

static void pool_settings_free(struct ms_imap_pool *pool)
{
	SSL_CTX_free(pool->tls_ctx);
	free(pool->host);
	free(pool->master_user);
	/* The password does not linger in freed memory. */
	explicit_bzero(pool->master_password, strlen(pool->master_password));
	free(pool->master_password);
	free(pool);
}

int ms_imap_pool_new(uv_loop_t *loop, const struct ms_imap_settings *set,
		     struct ms_imap_pool **pool_r, char **error_r)
{
	struct ms_imap_pool *pool;

	*pool_r = NULL;
	*error_r = NULL;
	if (set->host == NULL || set->host[0] == '\0' || set->port == 0 ||
	    set->master_user == NULL || set->master_user[0] == '\0' ||
	    set->master_password == NULL) {
		*error_r = xstrdup("imap: host, port, master_user and "
				   "master_password are required");
		return -1;
	}
	if (set->tls != MS_IMAP_TLS_NONE && set->tls != MS_IMAP_TLS_STARTTLS &&
	    set->tls != MS_IMAP_TLS_IMPLICIT) {
		*error_r =
		    xasprintf("imap: unknown TLS mode %d", (int)set->tls);
		return -1;
	}
	pool = xcalloc(1, sizeof(*pool));
	if (set->tls != MS_IMAP_TLS_NONE) {
		pool->tls_ctx =
		    ms_net_tls_ctx_new(set->ca_file, "imap", error_r);
		if (pool->tls_ctx == NULL) {
			free(pool);
			return -1;
		}
	}
	pool->host = xstrdup(set->host);
	pool->port = set->port;
	pool->tls = set->tls;
	pool->master_user = xstrdup(set->master_user);
	pool->master_password = xstrdup(set->master_password);
	pool->separator = set->separator != '\0' ? set->separator : '*';
	pool->timeout_msecs =
	    set->timeout_msecs != 0 ? set->timeout_msecs : 30000;
	if (ms_jobs_new(loop, "imap", set->workers != 0 ? set->workers : 2,
			set->queue_max != 0 ? set->queue_max : 1024,
			&pool->jobs, error_r) < 0) {
		pool_settings_free(pool);
		return -1;
	}
	*pool_r = pool;
	return 0;
}

int ms_imap_scan(struct ms_imap_pool *pool, const char *user,
		 const char *mailbox, uint32_t uidvalidity, uint32_t from_uid,
		 uint32_t to_uid, size_t max_msgs, ms_imap_scan_cb *cb,
		 void *ctx)
{
	struct ms_imap_job *job;

	ut_assert(cb != NULL && user != NULL);
	job = xcalloc(1, sizeof(*job));
	job->pool = pool;
	job->user = xstrdup(user);
	job->mailbox = xstrdup(mailbox != NULL ? mailbox : "INBOX");
	job->req.user = job->user;
	job->req.mailbox = job->mailbox;
	job->req.uidvalidity = uidvalidity;
	job->req.from_uid = from_uid;
	job->req.to_uid = to_uid;
	job->req.max_msgs = max_msgs;
	job->cb = cb;
	job->ctx = ctx;
	if (ms_jobs_submit(pool->jobs, &job->job, &job_ops) < 0) {
		job_free(job);
		return -1;
	}
	return 0;
}

void ms_imap__pool_count(struct ms_imap_pool *pool, enum ms_imap_error error)
{
	pool->jobs_done++;
	if (error != MS_IMAP_OK)
		pool->jobs_failed++;
}

void ms_imap_pool_get_stats(const struct ms_imap_pool *pool,
			    struct ms_imap_pool_stats *stats_r)
{
	ms_jobs_load(pool->jobs, &stats_r->busy, &stats_r->queued);
	stats_r->jobs = pool->jobs_done;
	stats_r->failures = pool->jobs_failed;
}

size_t ms_imap_pool_pending(const struct ms_imap_pool *pool)
{
	return ms_jobs_pending(pool->jobs);
}

void ms_imap_pool_free(struct ms_imap_pool **poolp)
{
	struct ms_imap_pool *pool = *poolp;

	if (pool == NULL)
		return;
	*poolp = NULL;
	/* Joins the workers: nothing uses the settings after this. */
	ms_jobs_free(&pool->jobs);
	pool_settings_free(pool);
}
