#ifndef MS_IMAP_SESSION_H
#define MS_IMAP_SESSION_H

/*
 * Internal to the IMAP pool (ms_imap.c): one blocking libetpan session that
 * runs a scan on the calling worker thread. Not for use elsewhere.
 */

#include "ms_imap.h"

struct ms_imap__server {
	const char *host;
	uint16_t port;
	enum ms_imap_tls tls;
	const char *master_user;
	const char *master_password; /* never logged */
	char separator;
	uint64_t timeout_msecs;
	/* Readable once the pool stops: cuts a connect() wait short. */
	int stop_fd;
	/*
	 * Called with the session's socket once it is connected, and with -1
	 * just before the session closes it. Returning -1 for a socket means
	 * the pool is stopping: the session then ends at once.
	 */
	int (*set_fd_cb)(int fd, void *ctx);
	void *set_fd_ctx;
};

struct ms_imap__scan_req {
	const char *user;
	const char *mailbox;
	uint32_t uidvalidity;
	uint32_t from_uid;
	uint32_t to_uid;
	size_t max_msgs;
};

/*
 * Connects, logs in as "user<separator>master_user", runs the scan
 * described in ms_imap.h and logs out. res must be zeroed; on return it
 * holds either the result or error = -1 with error_text. log_prefix (such
 * as "imap(alice@example.org)") is used for trace lines.
 */
void ms_imap__scan_run(const struct ms_imap__server *srv,
		       const struct ms_imap__scan_req *req,
		       struct ms_imap_scan_result *res, const char *log_prefix);

/* Frees what res points to (not res itself) and zeroes it. */
void ms_imap__result_clear(struct ms_imap_scan_result *res);

#endif
