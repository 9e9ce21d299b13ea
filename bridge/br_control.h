#ifndef BR_CONTROL_H
#define BR_CONTROL_H

/*
 * tidingsd's control socket ([control] socket; tidingsctl is its client):
 * a UNIX stream socket on the loop, bound like the event socket
 * (ms_unix_bind_path(): a stale socket is replaced, anything else at the
 * path is an error; [control] socket_mode and socket_group), removed at
 * close. The protocol is in br_control_proto.h: one request line, one
 * JSON reply line, several per connection.
 *
 * Who may talk: the peer's uid as the kernel gives it (SO_PEERCRED, read
 * at accept) must be root, tidingsd's own effective uid, or one of
 * cfg->control_uids ([control] trusted_users, read at each accept and
 * again before each request, so a reload that takes a user off the list
 * also ends their open connections). Anyone else gets one line
 * {"ok":false,"error":"forbidden"} and the connection is closed before
 * anything is read; logged at warn, at most once a second for all uids
 * together. Refused peers do not count towards BR_CONTROL_CONNS_MAX.
 *
 * Limits: BR_CONTROL_CONNS_MAX connections at once (one more gets
 * {"ok":false,"error":"busy: ..."} and a close); a request line of at
 * most BR_CONTROL_LINE_MAX bytes (a longer one gets an error and a close);
 * BR_CONTROL_IDLE_MSECS without a request, or a reply the client does not
 * read within that time, closes the connection. A reply is written in full
 * before the next request is read: at most one reply is pending per
 * connection, never more than BR_CONTROL_REPLY_MAX bytes.
 *
 * Commands: status (br_status_collect()), user JID (presence, settings,
 * what the router holds, the last notified mails from the ledger), resync
 * JID (br_router_resync()), test JID (br_router_send_test()), reload (the
 * deps' reload callback). A JID must be a user tidings serves: it maps to
 * a mailbox (br_jidmap) and, when Dovecot's userdb is reachable
 * (deps.authmaster), Dovecot knows the user; without it, tidings must
 * have seen them (br_router_knows(), or their presence is tracked).
 *
 * Loop thread only.
 */

#include <uv.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_online.h"
#include "br_router.h"
#include "br_status.h"
#include "ms_authmaster.h"

#define BR_CONTROL_CONNS_MAX  16
#define BR_CONTROL_IDLE_MSECS (30 * 1000)
#define BR_CONTROL_REPLY_MAX  (256 * 1024)

/* Reloads the configuration: 0 with an xmalloc'ed summary, or -1 with an
   xmalloc'ed error (the running configuration kept). */
typedef int br_control_reload_fn(void *ctx, char **summary_r, char **error_r);

struct br_control_deps {
	uv_loop_t *loop;
	/* Read at each use: a reload may replace *cfg. */
	struct br_config *const *cfg;
	const struct br_status_meter *meter;
	struct br_ledger *ledger;
	struct br_router *router;
	struct br_online *online;	  /* NULL: presence unknown */
	struct ms_authmaster *authmaster; /* NULL: see above */
	br_control_reload_fn *reload;	  /* NULL: reload is refused */
	void *reload_ctx;
};

struct br_control;

/* Binds (*deps->cfg)->control_socket and listens. Every module in deps
   must outlive the control socket (close it first). Returns 0, or -1 with
   an xmalloc'ed message in *error_r. */
int br_control_open(const struct br_control_deps *deps, struct br_control **c_r,
		    char **error_r);
/* Closes every connection (an answer Dovecot still owes is withdrawn),
   unlinks the path (if it is still the socket bound), frees once libuv
   released the handles. No deps are used after this call. */
void br_control_close(struct br_control **c);

#endif
