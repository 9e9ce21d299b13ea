#ifndef MS_EVSOCK_H
#define MS_EVSOCK_H

/*
 * The UNIX datagram socket Dovecot's push script writes to. Bound at open
 * (a stale socket file is replaced, anything else at the path is an error),
 * removed at close. Reads without blocking from the libuv loop (uv_poll),
 * at most a bounded number of datagrams per loop turn. A datagram that does
 * not parse or is too large is dropped with a log line and counted; nothing
 * else happens.
 */

#include <stdint.h>
#include <uv.h>

#include "ms_event.h"

struct ms_evsock;

/* Ownership of ev passes to the callee (ms_event_free). */
typedef void ms_evsock_cb(struct ms_event *ev, void *ctx);

struct ms_evsock_settings {
	const char *path;
	unsigned mode;	   /* file mode of the socket, e.g. 0660 */
	const char *group; /* group of the socket; NULL = unchanged */
	int rcvbuf_bytes;  /* SO_RCVBUF; 0 = default 4 MiB */
};

struct ms_evsock_stats {
	uint64_t received;  /* datagrams read */
	uint64_t events;    /* parsed and passed on */
	uint64_t malformed; /* dropped: did not parse */
	uint64_t oversized; /* dropped: too large */
};

/* Returns 0, or -1 with an xmalloc'ed message in *error_r. */
int ms_evsock_open(uv_loop_t *loop, const struct ms_evsock_settings *set,
		   ms_evsock_cb *cb, void *ctx, struct ms_evsock **s_r,
		   char **error_r);
void ms_evsock_get_stats(const struct ms_evsock *s,
			 struct ms_evsock_stats *stats_r);
/* Stops reading, unlinks the path, frees s after libuv released the
   handle. No callback fires after this call. */
void ms_evsock_close(struct ms_evsock **s);

#endif
