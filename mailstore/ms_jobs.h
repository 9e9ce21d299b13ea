#ifndef MS_JOBS_H
#define MS_JOBS_H

/*
 * A general job pool for blocking work (libetpan IMAP sessions, SMTP
 * submissions): a fixed set of worker threads takes jobs from one bounded
 * FIFO queue; each finished job comes back to the loop thread through a
 * uv_async_t and is reported there. The workers block all signals.
 *
 * A job is a struct of the caller's that embeds struct ms_job and names
 * its operations. A job's socket can be registered with the pool while it
 * runs, so that cancelling the job or freeing the pool shuts it down and
 * ends a blocking read at once; the pool's stop fd becomes readable when
 * the pool is freed and ends every other wait (ms_net_wait()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct ms_jobs;
struct ms_jobs_worker;
struct ms_job;

struct ms_job_ops {
	/* On a worker thread: the blocking work. */
	void (*run)(struct ms_job *job, struct ms_jobs_worker *w);
	/* On the loop thread once run returned: report the result (the
	   caller's callback) and free the job. May free the pool. */
	void (*done)(struct ms_job *job);
	/* On the loop thread: free the job without reporting anything (it
	   was cancelled, or the pool is being freed). */
	void (*drop)(struct ms_job *job);
};

/* Embedded in the caller's job; fields are the pool's. */
struct ms_job {
	const struct ms_job_ops *ops;
	struct ms_job *next;
	struct ms_jobs_worker *worker; /* while running (under the mutex) */
	bool cancelled;		       /* under the mutex */
};

/*
 * Starts `workers` threads (>= 1) with room for queue_max (>= 1) jobs
 * pending at once (queued, running, or done and not yet reported). name
 * prefixes error texts ("imap"). Returns 0, or -1 with *error_r (free it).
 */
int ms_jobs_new(uv_loop_t *loop, const char *name, unsigned workers,
		size_t queue_max, struct ms_jobs **jobs_r, char **error_r);

/*
 * Queues job (ops set by the caller). Returns 0: its done or drop then
 * runs exactly once. Returns -1 when queue_max jobs are pending: nothing
 * is queued and the pool never touches job.
 */
int ms_jobs_submit(struct ms_jobs *jobs, struct ms_job *job,
		   const struct ms_job_ops *ops);

/*
 * Cancels a submitted job that was not reported yet: a queued job is
 * dropped at once; a running one has its registered socket shut down and
 * is dropped when it returns; a finished one is dropped. Its done never
 * runs. Loop thread only.
 */
void ms_jobs_cancel(struct ms_jobs *jobs, struct ms_job *job);

/* Jobs pending: queued, running, or done and not yet reported. */
size_t ms_jobs_pending(const struct ms_jobs *jobs);

/* Workers running a job now, and jobs waiting for a worker. */
void ms_jobs_load(struct ms_jobs *jobs, size_t *busy_r, size_t *queued_r);

/* For a running job: readable once the pool is freed. */
int ms_jobs_stop_fd(const struct ms_jobs_worker *w);

/*
 * For a running job: registers its socket (fd >= 0) or unregisters it
 * (-1) before closing it. Returns -1 when registering while the pool
 * stops or the job was cancelled: the job should end at once.
 */
int ms_jobs_set_fd(struct ms_jobs_worker *w, int fd);
/* The same in the shape of a session's set_fd callback (worker: the
   struct ms_jobs_worker). */
int ms_jobs_set_fd_cb(int fd, void *worker);

/* True once the running job was cancelled or the pool stops. */
bool ms_jobs_stopping(struct ms_jobs_worker *w);

/*
 * Drops queued jobs, shuts down the sockets of running ones and waits for
 * them (joins the workers), drops finished ones: no done runs from here
 * on. The memory goes once libuv released the async handle. May be called
 * from a done operation.
 */
void ms_jobs_free(struct ms_jobs **jobs);

#endif
