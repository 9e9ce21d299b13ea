#ifndef MS_DVCONN_H
#define MS_DVCONN_H

/*
 * The connection of a client of Dovecot's auth process (ms_authclient,
 * ms_authmaster) to its UNIX stream socket on the libuv loop: connecting,
 * with back-off after failures; reading, a line at a time, with a bound;
 * writing; logging a socket that cannot be used; closing. What is sent
 * and what the lines mean is the owner's business (its handshake, its
 * requests), and so are the requests when a connection drops (see
 * ms_dvreq.h).
 *
 * One struct ms_dvconn per client, with at most one connection at a time:
 * a connection that is dropped is detached at once and closed in the
 * background while a new one may already be connecting. A connection is
 * "ready" once the owner says its handshake is complete
 * (ms_dvconn_set_ready()).
 *
 * - Reading: each line (at most line_max bytes) goes to the owner; a
 *   longer one is a PROTOCOL failure ("a line over 16 KiB"). The input
 *   buffer is fixed (line_max + 2 bytes) and wiped when the connection is
 *   freed.
 * - Writing: each write owns a copy of its bytes, wiped once written.
 * - Back-off: after a connection that did not work (could not connect,
 *   broke the protocol, never got ready), the next one waits 100 ms,
 *   then twice as long each time, up to 5 s; a connection that worked and
 *   was lost is reopened at once.
 * - Logs ("<prefix>: <path>: ..."): a bad line at error; a socket that
 *   cannot be used at warn (a bad handshake at error), once until a
 *   connection works again, and "connected" at info when one does; a
 *   ready connection that went away at info when nothing was on the wire
 *   (Dovecot's auth process restarting), else at warn.
 *
 * Threads: the loop's thread. The owner's ops are called from libuv
 * callbacks only, never from inside a function of this header.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ms_dvconn;

/* Why a connection ends. */
enum ms_dvconn_why {
	MS_DVCONN_CONNECT,   /* connecting failed */
	MS_DVCONN_HANDSHAKE, /* the server's handshake makes it unusable */
	MS_DVCONN_LOST,	     /* lost: closed, an I/O error, or given up */
	MS_DVCONN_PROTOCOL,  /* the server broke the protocol */
};

struct ms_dvconn_ops {
	/* A new connection is up and reading: its handshake starts. */
	void (*connected)(void *ctx);
	/* One line from the server, without its '\n' (len bytes, not
	   NUL-terminated, valid during the call). It may drop the
	   connection; then no more lines come from it. */
	void (*line)(void *ctx, const char *line, size_t len);
	/* Time to send what waits, or to connect: every line of a read was
	   handled (answers free slots), or the back-off is over. */
	void (*kick)(void *ctx);
	/* The connection failed: CONNECT ("connect: <error>"), LOST
	   ("Dovecot closed the connection", "read: ...", "write: ...") or
	   PROTOCOL (reason is what broke it: "a line over 16 KiB"). It is
	   not dropped yet: the owner drops it with ms_dvconn_drop(). */
	void (*failed)(void *ctx, enum ms_dvconn_why why, const char *reason);
	/* Called last by every libuv callback that called one of the above:
	   the owner's callbacks may run now. */
	void (*settle)(void *ctx);
	/* After ms_dvconn_free(): every handle is closed, the memory is
	   gone. */
	void (*closed)(void *ctx);
};

struct ms_dvconn_stats {
	uint64_t connects; /* sockets connected */
	uint64_t connect_errors;
	uint64_t disconnects; /* connected sockets dropped */
};

/*
 * Checks that path can name the socket: absolute and short enough for a
 * sockaddr_un. what names it in the message ("auth-client"). Returns 0, or
 * -1 with an xmalloc'ed message in *error_r.
 */
int ms_dvconn_check_path(const char *path, const char *what, char **error_r);

/* A connection to path (checked) that connects when asked to. log_prefix
   (static) starts each log line; ops (static) and ctx are the owner's. */
struct ms_dvconn *ms_dvconn_new(uv_loop_t *loop, const char *path,
				const char *log_prefix, size_t line_max,
				const struct ms_dvconn_ops *ops, void *ctx);
/* Closes the connection, if any, and the retry timer; no op is called
   afterwards but closed(), once everything is closed. Sets *dc to NULL;
   NULL is a no-op. */
void ms_dvconn_free(struct ms_dvconn **dc);

/* Unless there is a connection: connects now, or once the back-off is
   over (kick() is called then). */
void ms_dvconn_connect(struct ms_dvconn *dc);
/* There is a connection (connecting, connected or ready). */
bool ms_dvconn_exists(const struct ms_dvconn *dc);
/* There is a connection and its socket is connected. */
bool ms_dvconn_connected(const struct ms_dvconn *dc);
/* There is a connection and its handshake is complete. */
bool ms_dvconn_ready(const struct ms_dvconn *dc);
/* The handshake of the connection is complete: it worked (the back-off is
   reset; "connected" is logged if failures were). */
void ms_dvconn_set_ready(struct ms_dvconn *dc);

/*
 * Writes data (copied; the copy is wiped once written) on the connected
 * connection. Returns 0, or -1 with an xmalloc'ed "write: <error>" in
 * *error_r: the owner drops the connection (LOST). A write that fails
 * later is reported through failed().
 */
int ms_dvconn_write(struct ms_dvconn *dc, const char *data, size_t len,
		    char **error_r);

/*
 * Ends the connection, if any, for why: logs it (see above; busy: requests
 * were on the wire), sets the back-off and closes it. The owner then deals
 * with its requests (ms_dvreqs_drop()).
 */
void ms_dvconn_drop(struct ms_dvconn *dc, enum ms_dvconn_why why,
		    const char *reason, bool busy);

void ms_dvconn_get_stats(const struct ms_dvconn *dc,
			 struct ms_dvconn_stats *stats_r);

#endif
