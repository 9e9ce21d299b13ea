#ifndef MS_IMAP_POOL_H
#define MS_IMAP_POOL_H

/*
 * Internal to the IMAP pool: what the job kinds (ms_imap.c scans,
 * ms_imap_append.c, ms_imap_headers.c, ms_imap_seen.c) share. Each kind embeds
 * struct ms_job first in its own job struct, submits it with its own
 * operations, and builds the server description for its session on the worker
 * with ms_imap__pool_server(). Not for use elsewhere.
 */

#include "ms_imap.h"
#include "ms_imap_session.h"
#include "ms_jobs.h"

/*
 * Fills *srv with the pool's settings for a job running on worker w (the
 * strings stay the pool's; valid while the job runs).
 */
void ms_imap__pool_server(const struct ms_imap_pool *pool,
			  struct ms_jobs_worker *w,
			  struct ms_imap__server *srv);

/* Counts a finished job for ms_imap_pool_get_stats(); each kind's done
   operation calls it before the callback (which may free the pool). */
void ms_imap__pool_count(struct ms_imap_pool *pool, enum ms_imap_error error);

/* Queues job under the pool's bound: ms_jobs_submit(). */
int ms_imap__pool_submit(struct ms_imap_pool *pool, struct ms_job *job,
			 const struct ms_job_ops *ops);

/* The sorted distinct uids[0..n) as a new set of intervals (ms_imap_scan.c). */
struct mailimap_set *ms_imap__set_of(const uint32_t *uids, size_t n);

/*
 * UID SEARCH key (freed here) on the selected mailbox: the newest (highest)
 * max distinct non-zero UIDs it answers, sorted, into uids[0..max); returns
 * their number, or -1 with the session failed (ms_imap_headers.c).
 */
int ms_imap__search_newest(struct ms_imap__session *s,
			   struct mailimap_search_key *key, uint32_t *uids,
			   size_t max);

/* s is non-empty printable ASCII (0x20..0x7e): a mailbox name we send. */
bool ms_imap__printable_ascii(const char *s);

/* The raw name of the user's mailbox with the \Sent special-use
   attribute (LIST (SPECIAL-USE), else a plain LIST; free it), or NULL
   with the session failed (MS_IMAP_ERR_NO_MAILBOX when there is none).
   ms_imap_append.c. */
char *ms_imap__find_sent(struct ms_imap__session *s);

#endif
