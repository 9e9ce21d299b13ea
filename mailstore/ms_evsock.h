#ifndef MS_EVSOCK_H
#define MS_EVSOCK_H

/*
 * The UNIX datagram socket Dovecot's push script writes to. Bound at open
 * (a stale socket file is replaced, anything else at the path is an error),
 * removed at close. Reads without blocking from the libuv loop (uv_poll),
 * at most a bounded number of datagrams per loop turn.
 *
 * Only Dovecot speaks for a mailbox. Every datagram comes with its
 * writer's credentials (SO_PASSCRED, SCM_CREDENTIALS: uid, gid, pid, as
 * the kernel vouches for them; a writer can only claim its own real,
 * effective or saved uid, and only root can claim another). An event is
 * accepted when its writer is
 *   - root (uid 0), always;
 *   - one of trusted_uids ([events] trusted_users);
 *   - anyone, with trust_any ([events] trusted_users = any; no check);
 *   - with owner_check set, the uid that Dovecot's userdb gives the
 *     event's user ([events] trusted_users = owner: each mailbox's mail
 *     processes run as its own uid).
 * The uid is the writer's REAL uid. Seen with Dovecot 2.3.19: LMTP keeps
 * real uid 0 and only switches its effective uid while it delivers, so its
 * events (MessageNew) come from root; IMAP processes run as the mailbox's
 * uid (MessageAppend, flags, expunges).
 * A datagram from anyone else is refused before anything else happens to
 * it: dropped, counted (stats.refused) and logged at warn, e.g.
 *   events: refused an event from uid 33 (www-data, pid 812): not in
 *   [events] trusted_users
 * No callback fires for it: no ledger row, no IMAP login, no message.
 *
 * Owner check: the datagram must be parsed first to know its user; it then
 * waits for Dovecot's answer (ms_authmaster: cached, one lookup per user at
 * a time) and is passed on only if the uids match, else refused ("not the
 * owner of bob@example.org per Dovecot's userdb"). At most
 * owner_waiting_max events wait at a time; beyond that an event is dropped
 * (stats.waiting_full). When Dovecot cannot answer (timeout, error), the
 * event is dropped (stats.unverified): no answer is no permission. Events
 * for one user are passed on in the order they arrived; events of trusted
 * writers never wait.
 *
 * A datagram that does not parse or is too large is dropped and counted
 * (from a writer that may write; an untrusted writer's datagram is refused
 * unread unless owner_check is set). Every kind of drop is logged at most
 * once per second; the next line says how many were not logged.
 *
 * ms_evsock_open() warns when the socket ends up writable by every local
 * user (mode & 0002) while trust_any is set: anyone can then make the Mail
 * contact say anything.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ms_authmaster.h"
#include "ms_event.h"

struct ms_evsock;

/* Called for each accepted event, from the loop. Ownership of ev passes to
   the callee (ms_event_free). It may call ms_evsock_close(). */
typedef void ms_evsock_cb(struct ms_event *ev, void *ctx);

struct ms_evsock_settings {
	const char *path;
	unsigned mode;	   /* file mode of the socket, e.g. 0660 */
	const char *group; /* group of the socket; NULL = unchanged */
	int rcvbuf_bytes;  /* SO_RCVBUF; 0 = default 4 MiB */
	/* Writers whose events are accepted besides root (copied at open). */
	const unsigned *trusted_uids;
	size_t trusted_uid_count;
	bool trust_any; /* accept every writer: no check at all */
	/* Non-NULL: also accept an event from the uid Dovecot's userdb gives
	   its user. Not owned; must outlive the socket (close the socket
	   before freeing it). */
	struct ms_authmaster *owner_check;
	unsigned owner_waiting_max; /* events waiting for it; 0: 1024 */
};

struct ms_evsock_stats {
	uint64_t received;     /* datagrams read */
	uint64_t events;       /* accepted and passed on */
	uint64_t malformed;    /* dropped: did not parse */
	uint64_t oversized;    /* dropped: too large */
	uint64_t refused;      /* dropped: the writer may not write */
	uint64_t unverified;   /* dropped: Dovecot did not answer */
	uint64_t waiting_full; /* dropped: too many waiting for Dovecot */
};

/* Returns 0, or -1 with an xmalloc'ed message in *error_r. */
int ms_evsock_open(uv_loop_t *loop, const struct ms_evsock_settings *set,
		   ms_evsock_cb *cb, void *ctx, struct ms_evsock **s_r,
		   char **error_r);
/*
 * Replaces who may write (a configuration reload): the trusted_uids,
 * trust_any and owner_check of set (copied; the other members are
 * ignored), for every datagram read from now on. Events already waiting
 * for Dovecot's answer are decided by that answer as before. Loop thread.
 */
void ms_evsock_set_trust(struct ms_evsock *s,
			 const struct ms_evsock_settings *set);
void ms_evsock_get_stats(const struct ms_evsock *s,
			 struct ms_evsock_stats *stats_r);
/* Stops reading, withdraws the owner lookups under way, drops the events
   waiting for them, unlinks the path, frees s after libuv released the
   handle. No callback fires after this call. */
void ms_evsock_close(struct ms_evsock **s);

#endif
