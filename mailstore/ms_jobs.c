/*
 * The job pool (see ms_jobs.h). Everything shared with the workers is
 * guarded by one mutex; the pending count and the reporting live on the
 * loop thread only.
 */

#include "ms_jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ut_xalloc.h"

struct ms_jobs_worker {
	struct ms_jobs *jobs;
	pthread_t thread;
	/* Under jobs->mu: the running job, and its socket or -1. */
	struct ms_job *job;
	int fd;
};

struct ms_jobs {
	uv_loop_t *loop;
	uv_async_t async;
	size_t queue_max;

	pthread_mutex_t mu;
	pthread_cond_t cond;
	/* Under mu: jobs waiting, jobs finished, the stop flag. */
	struct ms_job *queue_head, **queue_tail;
	struct ms_job *done_head, **done_tail;
	bool stopping;
	struct ms_jobs_worker *workers;
	unsigned n_workers;
	/* Becomes readable when the pool stops. */
	int stop_fds[2];

	/* Loop thread only. */
	size_t pending;
	bool freed;
};

static void *worker_main(void *arg)
{
	struct ms_jobs_worker *w = arg;
	struct ms_jobs *jobs = w->jobs;

	pthread_mutex_lock(&jobs->mu);
	for (;;) {
		struct ms_job *job;

		while (!jobs->stopping && jobs->queue_head == NULL)
			pthread_cond_wait(&jobs->cond, &jobs->mu);
		if (jobs->stopping)
			break;
		job = jobs->queue_head;
		jobs->queue_head = job->next;
		if (jobs->queue_head == NULL)
			jobs->queue_tail = &jobs->queue_head;
		job->next = NULL;
		job->worker = w;
		w->job = job;
		pthread_mutex_unlock(&jobs->mu);

		job->ops->run(job, w);

		pthread_mutex_lock(&jobs->mu);
		w->job = NULL;
		w->fd = -1;
		job->worker = NULL;
		*jobs->done_tail = job;
		jobs->done_tail = &job->next;
		uv_async_send(&jobs->async);
	}
	pthread_mutex_unlock(&jobs->mu);
	return NULL;
}

static void async_cb(uv_async_t *handle)
{
	struct ms_jobs *jobs = handle->data;
	struct ms_job *job;

	if (jobs->freed)
		return;
	pthread_mutex_lock(&jobs->mu);
	job = jobs->done_head;
	jobs->done_head = NULL;
	jobs->done_tail = &jobs->done_head;
	pthread_mutex_unlock(&jobs->mu);

	while (job != NULL) {
		struct ms_job *next = job->next;

		/* A done operation may free the pool: the rest are dropped.
		   Cancelled jobs were counted out already. */
		if (!jobs->freed && !job->cancelled) {
			jobs->pending--;
			job->ops->done(job);
		} else {
			job->ops->drop(job);
		}
		job = next;
	}
}

int ms_jobs_new(uv_loop_t *loop, const char *name, unsigned workers,
		size_t queue_max, struct ms_jobs **jobs_r, char **error_r)
{
	struct ms_jobs *jobs;
	sigset_t all, old;
	unsigned started = 0;
	int r;

	ut_assert(workers >= 1 && queue_max >= 1);
	*jobs_r = NULL;
	*error_r = NULL;
	jobs = xcalloc(1, sizeof(*jobs));
	jobs->loop = loop;
	jobs->queue_max = queue_max;
	jobs->queue_tail = &jobs->queue_head;
	jobs->done_tail = &jobs->done_head;
	if (pipe2(jobs->stop_fds, O_CLOEXEC) < 0) {
		*error_r = xasprintf("%s: pipe: %s", name, strerror(errno));
		free(jobs);
		return -1;
	}
	r = uv_async_init(loop, &jobs->async, async_cb);
	if (r < 0) {
		*error_r =
		    xasprintf("%s: uv_async_init: %s", name, uv_strerror(r));
		close(jobs->stop_fds[0]);
		close(jobs->stop_fds[1]);
		free(jobs);
		return -1;
	}
	jobs->async.data = jobs;
	ut_assert(pthread_mutex_init(&jobs->mu, NULL) == 0);
	ut_assert(pthread_cond_init(&jobs->cond, NULL) == 0);
	jobs->workers = xcalloc(workers, sizeof(*jobs->workers));

	/* Workers take no signals: the loop thread handles them. A SIGPIPE
	   from OpenSSL's write() to a closed socket stays pending here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; started < workers; started++) {
		struct ms_jobs_worker *w = &jobs->workers[started];

		w->jobs = jobs;
		w->fd = -1;
		r = pthread_create(&w->thread, NULL, worker_main, w);
		if (r != 0)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	jobs->n_workers = started;
	if (started < workers) {
		*error_r =
		    xasprintf("%s: pthread_create: %s", name, strerror(r));
		ms_jobs_free(&jobs);
		return -1;
	}
	*jobs_r = jobs;
	return 0;
}

int ms_jobs_submit(struct ms_jobs *jobs, struct ms_job *job,
		   const struct ms_job_ops *ops)
{
	ut_assert(!jobs->freed && ops != NULL);
	if (jobs->pending >= jobs->queue_max)
		return -1;
	*job = (struct ms_job){.ops = ops};
	jobs->pending++;
	pthread_mutex_lock(&jobs->mu);
	*jobs->queue_tail = job;
	jobs->queue_tail = &job->next;
	pthread_cond_signal(&jobs->cond);
	pthread_mutex_unlock(&jobs->mu);
	return 0;
}

void ms_jobs_cancel(struct ms_jobs *jobs, struct ms_job *job)
{
	bool dropped = false;

	ut_assert(!jobs->freed);
	pthread_mutex_lock(&jobs->mu);
	ut_assert(!job->cancelled);
	job->cancelled = true;
	/* Still queued? Then it leaves the queue now. */
	for (struct ms_job **p = &jobs->queue_head; *p != NULL;
	     p = &(*p)->next) {
		if (*p == job) {
			*p = job->next;
			if (*p == NULL)
				jobs->queue_tail = p;
			dropped = true;
			break;
		}
	}
	if (job->worker != NULL && job->worker->fd >= 0)
		shutdown(job->worker->fd, SHUT_RDWR);
	pthread_mutex_unlock(&jobs->mu);
	jobs->pending--;
	/* Running or done: async_cb drops it. */
	if (dropped)
		job->ops->drop(job);
}

void ms_jobs_load(struct ms_jobs *jobs, size_t *busy_r, size_t *queued_r)
{
	size_t busy = 0, queued = 0;

	pthread_mutex_lock(&jobs->mu);
	for (unsigned i = 0; i < jobs->n_workers; i++)
		busy += jobs->workers[i].job != NULL;
	for (const struct ms_job *j = jobs->queue_head; j != NULL; j = j->next)
		queued++;
	pthread_mutex_unlock(&jobs->mu);
	*busy_r = busy;
	*queued_r = queued;
}

size_t ms_jobs_pending(const struct ms_jobs *jobs)
{
	return jobs->pending;
}

int ms_jobs_stop_fd(const struct ms_jobs_worker *w)
{
	return w->jobs->stop_fds[0];
}

int ms_jobs_set_fd_cb(int fd, void *worker)
{
	return ms_jobs_set_fd(worker, fd);
}

int ms_jobs_set_fd(struct ms_jobs_worker *w, int fd)
{
	int ret = 0;

	pthread_mutex_lock(&w->jobs->mu);
	if (fd >= 0 && (w->jobs->stopping || w->job->cancelled))
		ret = -1;
	else
		w->fd = fd;
	pthread_mutex_unlock(&w->jobs->mu);
	return ret;
}

bool ms_jobs_stopping(struct ms_jobs_worker *w)
{
	bool stop;

	pthread_mutex_lock(&w->jobs->mu);
	stop = w->jobs->stopping || w->job->cancelled;
	pthread_mutex_unlock(&w->jobs->mu);
	return stop;
}

static void drop_list(struct ms_job *job)
{
	while (job != NULL) {
		struct ms_job *next = job->next;

		job->ops->drop(job);
		job = next;
	}
}

static void jobs_close_cb(uv_handle_t *handle)
{
	struct ms_jobs *jobs = handle->data;

	pthread_mutex_destroy(&jobs->mu);
	pthread_cond_destroy(&jobs->cond);
	close(jobs->stop_fds[0]);
	close(jobs->stop_fds[1]);
	free(jobs->workers);
	free(jobs);
}

void ms_jobs_free(struct ms_jobs **jobsp)
{
	struct ms_jobs *jobs = *jobsp;
	struct ms_job *queued, *done;
	ssize_t n;

	if (jobs == NULL)
		return;
	*jobsp = NULL;
	pthread_mutex_lock(&jobs->mu);
	jobs->stopping = true;
	queued = jobs->queue_head;
	jobs->queue_head = NULL;
	jobs->queue_tail = &jobs->queue_head;
	/* Running jobs see EOF at once instead of waiting out reads. */
	for (unsigned i = 0; i < jobs->n_workers; i++) {
		if (jobs->workers[i].fd >= 0)
			shutdown(jobs->workers[i].fd, SHUT_RDWR);
	}
	pthread_cond_broadcast(&jobs->cond);
	pthread_mutex_unlock(&jobs->mu);
	do {
		n = write(jobs->stop_fds[1], "x", 1);
	} while (n < 0 && errno == EINTR);
	drop_list(queued);

	for (unsigned i = 0; i < jobs->n_workers; i++)
		pthread_join(jobs->workers[i].thread, NULL);
	done = jobs->done_head;
	jobs->done_head = NULL;
	jobs->done_tail = &jobs->done_head;
	drop_list(done);
	jobs->freed = true;
	jobs->pending = 0;
	uv_close((uv_handle_t *)&jobs->async, jobs_close_cb);
}
