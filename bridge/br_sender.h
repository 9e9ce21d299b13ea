#ifndef BR_SENDER_H
#define BR_SENDER_H

/*
 * Mail written in chat (issue 7), from the user's request to the MTA and
 * the copy in their Sent mailbox. Loop thread only; nothing here blocks:
 * IMAP and SMTP run on their pools' threads.
 *
 * A request (br_sender_submit) goes through:
 * 1. the send limit: at most cfg->send_limit mails per user in any hour
 *    (the queue's rows of the last hour, and requests still being
 *    prepared); beyond, a refusal the caller tells the user;
 * 2. for a reply, the parent mail's headers over IMAP (as the user, through
 *    the master user): a notification the user answered (XEP-0461), or the
 *    correspondent's latest mail in INBOX within cfg->reply_window. The
 *    reply goes to the parent's Reply-To, else its From (for a
 *    notification), gets "Re:", In-Reply-To and References. A parent that
 *    was sent automatically (Auto-Submitted, a bounce) is never answered
 *    (no loops): a reply to its notification is refused, and a chat to
 *    its sender is a new mail;
 * 3. the message (ms_compose): From and envelope sender the user's own
 *    mapped address whatever the request says, Jabber-ID the user's bare
 *    JID, a Message-ID "<random.tidings@user's domain>";
 * 4. the durable queue (br_outq): from here a restart loses nothing;
 * 5. SMTP to cfg->smtp_host; a temporary failure is retried with a backoff
 *    doubling from 2 s up to cfg->send_retry_max, until cfg->send_expire;
 *    recipients refused for now while others were taken are queued again
 *    on their own;
 * 6. once the MTA took it, a copy (\Seen) is appended to the user's \Sent
 *    mailbox (retried a few times when IMAP fails for now; a user without
 *    one is logged once).
 * The user is told, in the conversation the request came from: sent (to
 * whom, subject), delayed (once), or not sent and why (br_sender_text.c).
 *
 * Bounds: requests being prepared (step 2) at most PREPARING_MAX (beyond,
 * a chat goes out as a new mail without its look-up, a reply to a
 * notification is refused as busy), mails with the MTA or IMAP at once at
 * most INFLIGHT_MAX; the rest wait in the queue and are picked up as room
 * frees and every second.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>
#include <uv.h>

#include "br_config.h"
#include "ms_addr.h"
#include "ms_imap.h"

struct br_sender;

struct br_sender_deps {
	uv_loop_t *loop;
	const struct br_config *cfg; /* cfg->smtp_host must be set */
	xmpp_ctx_t *sctx;
	/* Queues a stanza to the XMPP server (not consumed); 0 or -1. */
	int (*send)(void *ctx, xmpp_stanza_t *stanza);
	void *send_ctx;
	/* For replies and the Sent copy; NULL: neither. */
	struct ms_imap_pool *imap;
};

enum br_send_parent {
	BR_SEND_NEW = 0,       /* a new mail */
	BR_SEND_CORRESPONDENT, /* to[0]'s latest mail, if recent enough */
	BR_SEND_MAIL,	       /* the mail (mailbox, uidvalidity, uid) */
};

struct br_send_request {
	const char *user;      /* canonical key */
	const char *jid;       /* the user's bare JID */
	const char *tell_from; /* the JID results are told from */
	/* Recipients; none with BR_SEND_MAIL (the parent says). */
	const struct ms_addr *to;
	size_t n_to;
	const struct ms_addr *cc;
	size_t n_cc;
	/* NULL: the reply's "Re:", else from the body's first line. */
	const char *subject;
	const char *body; /* UTF-8 */
	size_t body_len;
	enum br_send_parent parent;
	const char *mailbox; /* BR_SEND_MAIL */
	uint32_t uidvalidity, uid;
};

struct br_sender_stats {
	uint64_t requests; /* accepted by br_sender_submit */
	uint64_t refused;  /* refused by it (limit, size, busy) */
	uint64_t sent;	   /* taken by the MTA */
	uint64_t retries;  /* temporary failures */
	uint64_t failed;   /* refused for good or expired */
	uint64_t copied;   /* copies appended to Sent */
};

/* Opens the queue in cfg->state_dir and the SMTP pool. 0, or -1 with
 *error_r. */
int br_sender_new(const struct br_sender_deps *deps, struct br_sender **s_r,
		  char **error_r);
/* Picks up what the queue holds from the last run, then every second. */
void br_sender_start(struct br_sender *s);
/*
 * Takes a request (everything is copied). Returns 0 when it is on its way
 * (the user hears the result), or -1 with *reason_r (a BR_NOT_SENT_*
 * constant of br_sender_text.h) and *refusal_r, the text to tell the user
 * (xmalloc'ed): limit reached, body too large, busy, or an invalid
 * request.
 */
int br_sender_submit(struct br_sender *s, const struct br_send_request *r,
		     const char **reason_r, char **refusal_r);
/* Whether a mail (its Message-ID and From address) is one this user sent
   from chat: their own copy is never notified to them. */
bool br_sender_is_own(const char *user_address, const char *message_id,
		      const char *from_address);
void br_sender_get_stats(const struct br_sender *s,
			 struct br_sender_stats *stats_r);
/* Cancels what is in flight (it stays queued for the next start), frees.
   Free the IMAP pool first (its callbacks would come back here). */
void br_sender_close(struct br_sender **s);

#endif
