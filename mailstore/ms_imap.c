/*
 * The IMAP worker pool: a fixed set of threads takes jobs from one bounded
 * FIFO queue, runs each as a blocking libetpan session (ms_imap_scan.c)
 * and hands the finished job back to the loop thread through a uv_async_t.
 * All pool state shared with the threads is guarded by one mutex; pending
 * counts and callbacks live on the loop thread only.
 */

#include "ms_imap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ms_imap_scan.h"
#include "ut_log.h"
#include "ut_xalloc.h"

struct ms_imap_job {
	struct ms_imap_job *next;
	struct ms_imap__scan_req req; /* user and mailbox owned */
	char *user;
	char *mailbox;
	ms_imap_scan_cb *cb;
	void *ctx;
	struct ms_imap_scan_result res;
};

struct ms_imap_worker {
	struct ms_imap_pool *pool;
	pthread_t thread;
	/* The session's socket while one is open, else -1 (under pool->mu).
	   ms_imap_pool_free() shuts it down to end a blocking read early. */
	int fd;
	/* The pool's settings as the session sees them. */
	struct ms_imap__server server;
};

struct ms_imap_pool {
	uv_loop_t *loop;
	uv_async_t async;

	char *host;
	uint16_t port;
	enum ms_imap_tls tls;
	char *master_user;
	char *master_password;
	char separator;
	unsigned n_workers;
	uint64_t timeout_msecs;
	size_t queue_max;
	SSL_CTX *tls_ctx; /* NULL without TLS */

	pthread_mutex_t mu;
	pthread_cond_t cond;
	/* Under mu: jobs waiting, jobs finished, the stop flag. */
	struct ms_imap_job *queue_head, **queue_tail;
	struct ms_imap_job *done_head, **done_tail;
	bool stopping;
	struct ms_imap_worker *workers;
	/* Becomes readable when the pool stops; wakes connect() waits. */
	int stop_fds[2];

	/* Loop thread only. */
	size_t pending;
	bool freed;
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

static void job_list_free(struct ms_imap_job *job)
{
	while (job != NULL) {
		struct ms_imap_job *next = job->next;

		job_free(job);
		job = next;
	}
}

/* The session reports its socket here, so that freeing can shut it down. */
static int worker_set_fd_cb(int fd, void *ctx)
{
	struct ms_imap_worker *w = ctx;
	int ret = 0;

	pthread_mutex_lock(&w->pool->mu);
	if (fd >= 0 && w->pool->stopping)
		ret = -1;
	else
		w->fd = fd;
	pthread_mutex_unlock(&w->pool->mu);
	return ret;
}

static void *worker_main(void *arg)
{
	struct ms_imap_worker *w = arg;
	struct ms_imap_pool *pool = w->pool;

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		struct ms_imap_job *job;
		char *prefix;

		while (!pool->stopping && pool->queue_head == NULL)
			pthread_cond_wait(&pool->cond, &pool->mu);
		if (pool->stopping)
			break;
		job = pool->queue_head;
		pool->queue_head = job->next;
		if (pool->queue_head == NULL)
			pool->queue_tail = &pool->queue_head;
		job->next = NULL;
		pthread_mutex_unlock(&pool->mu);

		/* The caller logs failures; the scan traces them. */
		prefix = xasprintf("imap(%s)", job->user);
		ms_imap__scan_run(&w->server, &job->req, &job->res, prefix);
		free(prefix);

		pthread_mutex_lock(&pool->mu);
		*pool->done_tail = job;
		pool->done_tail = &job->next;
		uv_async_send(&pool->async);
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

static void async_cb(uv_async_t *handle)
{
	struct ms_imap_pool *pool = handle->data;
	struct ms_imap_job *job;

	if (pool->freed)
		return;
	pthread_mutex_lock(&pool->mu);
	job = pool->done_head;
	pool->done_head = NULL;
	pool->done_tail = &pool->done_head;
	pthread_mutex_unlock(&pool->mu);

	while (job != NULL) {
		struct ms_imap_job *next = job->next;

		/* A callback may free the pool: the rest then stay silent. */
		if (!pool->freed) {
			pool->pending--;
			job->cb(&job->res, job->ctx);
		}
		job_free(job);
		job = next;
	}
}

int ms_imap_pool_new(uv_loop_t *loop, const struct ms_imap_settings *set,
		     struct ms_imap_pool **pool_r, char **error_r)
{
	struct ms_imap_pool *pool;
	sigset_t all, old;
	unsigned started = 0;
	int r;

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
	pool->loop = loop;
	pool->host = xstrdup(set->host);
	pool->port = set->port;
	pool->tls = set->tls;
	pool->master_user = xstrdup(set->master_user);
	pool->master_password = xstrdup(set->master_password);
	pool->separator = set->separator != '\0' ? set->separator : '*';
	pool->n_workers = set->workers != 0 ? set->workers : 2;
	pool->timeout_msecs =
	    set->timeout_msecs != 0 ? set->timeout_msecs : 30000;
	pool->queue_max = set->queue_max != 0 ? set->queue_max : 1024;
	pool->queue_tail = &pool->queue_head;
	pool->done_tail = &pool->done_head;
	if (pipe2(pool->stop_fds, O_CLOEXEC) < 0) {
		*error_r = xasprintf("imap: pipe: %s", strerror(errno));
		goto fail_early;
	}
	r = uv_async_init(loop, &pool->async, async_cb);
	if (r < 0) {
		*error_r = xasprintf("imap: uv_async_init: %s", uv_strerror(r));
		close(pool->stop_fds[0]);
		close(pool->stop_fds[1]);
		goto fail_early;
	}
	pool->async.data = pool;
	ut_assert(pthread_mutex_init(&pool->mu, NULL) == 0);
	ut_assert(pthread_cond_init(&pool->cond, NULL) == 0);
	pool->workers = xcalloc(pool->n_workers, sizeof(*pool->workers));

	/* Workers take no signals: the loop thread handles them. A SIGPIPE
	   from OpenSSL's write() to a closed socket stays pending here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; started < pool->n_workers; started++) {
		struct ms_imap_worker *w = &pool->workers[started];

		w->pool = pool;
		w->fd = -1;
		w->server = (struct ms_imap__server){
		    .host = pool->host,
		    .port = pool->port,
		    .tls = pool->tls,
		    .tls_ctx = pool->tls_ctx,
		    .master_user = pool->master_user,
		    .master_password = pool->master_password,
		    .separator = pool->separator,
		    .timeout_msecs = pool->timeout_msecs,
		    .stop_fd = pool->stop_fds[0],
		    .set_fd_cb = worker_set_fd_cb,
		    .set_fd_ctx = w,
		};
		r = pthread_create(&w->thread, NULL, worker_main, w);
		if (r != 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started < pool->n_workers) {
		*error_r = xasprintf("imap: pthread_create: %s", strerror(r));
		pool->n_workers = started;
		ms_imap_pool_free(&pool);
		return -1;
	}
	*pool_r = pool;
	return 0;

fail_early:
	SSL_CTX_free(pool->tls_ctx);
	free(pool->host);
	free(pool->master_user);
	explicit_bzero(pool->master_password, strlen(pool->master_password));
	free(pool->master_password);
	free(pool);
	return -1;
}

int ms_imap_scan(struct ms_imap_pool *pool, const char *user,
		 const char *mailbox, uint32_t uidvalidity, uint32_t from_uid,
		 uint32_t to_uid, size_t max_msgs, ms_imap_scan_cb *cb,
		 void *ctx)
{
	struct ms_imap_job *job;

	ut_assert(!pool->freed && cb != NULL && user != NULL);
	if (pool->pending >= pool->queue_max)
		return -1;
	job = xcalloc(1, sizeof(*job));
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
	pool->pending++;

	pthread_mutex_lock(&pool->mu);
	*pool->queue_tail = job;
	pool->queue_tail = &job->next;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->mu);
	return 0;
}

size_t ms_imap_pool_pending(const struct ms_imap_pool *pool)
{
	return pool->pending;
}

static void pool_close_cb(uv_handle_t *handle)
{
	struct ms_imap_pool *pool = handle->data;

	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cond);
	close(pool->stop_fds[0]);
	close(pool->stop_fds[1]);
	SSL_CTX_free(pool->tls_ctx);
	free(pool->workers);
	free(pool->host);
	free(pool->master_user);
	/* The password does not linger in freed memory. */
	explicit_bzero(pool->master_password, strlen(pool->master_password));
	free(pool->master_password);
	free(pool);
}

void ms_imap_pool_free(struct ms_imap_pool **poolp)
{
	struct ms_imap_pool *pool = *poolp;
	struct ms_imap_job *queued, *done;
	ssize_t n;

	if (pool == NULL)
		return;
	*poolp = NULL;
	pthread_mutex_lock(&pool->mu);
	pool->stopping = true;
	queued = pool->queue_head;
	pool->queue_head = NULL;
	pool->queue_tail = &pool->queue_head;
	/* Running sessions see EOF at once instead of waiting out reads. */
	for (unsigned i = 0; i < pool->n_workers; i++) {
		if (pool->workers[i].fd >= 0)
			shutdown(pool->workers[i].fd, SHUT_RDWR);
	}
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->mu);
	do {
		n = write(pool->stop_fds[1], "x", 1);
	} while (n < 0 && errno == EINTR);
	job_list_free(queued);

	for (unsigned i = 0; i < pool->n_workers; i++)
		pthread_join(pool->workers[i].thread, NULL);
	done = pool->done_head;
	pool->done_head = NULL;
	pool->done_tail = &pool->done_head;
	job_list_free(done);
	pool->freed = true;
	pool->pending = 0;
	uv_close((uv_handle_t *)&pool->async, pool_close_cb);
}
