#ifndef BR_NUDGE_H
#define BR_NUDGE_H

/*
 * "Check your mail" nudges and read receipts (issue 8). Loop thread only;
 * IMAP work runs on the pool.
 *
 * Sent mail: a MessageAppend event in a user's \Sent special-use mailbox
 * (checked over IMAP in the same session) of a mail from the user's own
 * address that is not a draft is read over IMAP
 * (To, Cc, Message-ID, Subject, Date) and remembered (br_nudgedb). Per the
 * user's `nudge` setting: off, nothing; offer, the Mail contact names the
 * recipients with their presence and offers `nudge` / `nudge NAME`; auto,
 * the nudges go out at once.
 *
 * A nudge, per recipient: not to other domains unless [notify]
 * nudge_remote; skipped when the recipient's copy is \Seen already (local
 * recipients, over IMAP); at most once per mail and recipient and
 * nudge_pair_limit an hour per pair (br_nudgedb). It comes from the
 * sender's bare JID where the server granted XEP-0356 message permission,
 * else from the Mail contact on the sender's behalf (someone at another
 * domain at their address as a JID). The sender is told what happened to
 * each recipient, in one message. A nudged local recipient who is online
 * and was not notified of the mail (held, muted) is notified of it at
 * once (br_router_notify_now).
 *
 * Read receipts: a MessageRead event in a local recipient's INBOX for a
 * mail a local user sent (known from their Sent mailbox) tells the sender
 * "bob read '…' at 10:32", once per mail and recipient, when the sender's
 * `receipts` and the reader's `share_read` allow it.
 */

#include <strophe.h>
#include <uv.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_online.h"
#include "br_router.h"
#include "ms_event.h"
#include "ms_imap.h"

struct br_nudge;

struct br_nudge_deps {
	uv_loop_t *loop;
	const struct br_config *cfg;
	struct br_ledger *ledger; /* settings */
	struct br_online *online; /* presence, message permission */
	struct br_router *router; /* notify nudged recipients; may be NULL */
	xmpp_ctx_t *sctx;
	/* Queues a stanza to the XMPP server (not consumed); 0 or -1. */
	int (*send)(void *ctx, xmpp_stanza_t *stanza);
	void *send_ctx;
	struct ms_imap_pool *imap;
};

/* Opens nudges.db in cfg->state_dir. 0, or -1 with *error_r. */
int br_nudge_new(const struct br_nudge_deps *deps, struct br_nudge **n_r,
		 char **error_r);
/* Looks at the sent mails of the last day again, a few a second, for
   reads tidings missed while it was down (their receipts, once). */
void br_nudge_start(struct br_nudge *n);
/* A mail event (not consumed): MessageAppend and MessageRead matter. */
void br_nudge_event(struct br_nudge *n, const struct ms_event *ev);
/* The text command `nudge` (name NULL: everyone) of a local user. */
void br_nudge_command(struct br_nudge *n, const char *key, const char *bare,
		      const char *name);
/* Free the IMAP pool first (its callbacks would come back here). Frees
   once libuv released the timer. */
void br_nudge_close(struct br_nudge **n);

#endif
