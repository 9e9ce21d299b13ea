#ifndef MS_IMAP_SCAN_H
#define MS_IMAP_SCAN_H

/*
 * Internal to the IMAP pool (ms_imap.c): the scan of one mailbox, run as
 * a blocking session (ms_imap_session.h) on the calling worker thread:
 * STATUS, and for a range EXAMINE, UID SEARCH, UID FETCH and the parsing
 * of what came back. Not for use elsewhere.
 */

#include "ms_imap.h"
#include "ms_imap_session.h"

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
 * described in ms_imap.h (ms_imap_scan) and logs out. res must be zeroed;
 * on return it holds either the result (error MS_IMAP_OK) or an error
 * class with error_text and no data. log_prefix (such as
 * "imap(alice@example.org)") is used for trace lines.
 */
void ms_imap__scan_run(const struct ms_imap__server *srv,
		       const struct ms_imap__scan_req *req,
		       struct ms_imap_scan_result *res, const char *log_prefix);

/* Frees what res points to (not res itself) and zeroes it. */
void ms_imap__result_clear(struct ms_imap_scan_result *res);

#endif
