#ifndef BR_NUDGE_TEXT_H
#define BR_NUDGE_TEXT_H

/*
 * What users read about nudges and read receipts (issue 8; see the top of
 * br_nudge_text.c for how each reads). Pure: each function returns a new
 * <message type='chat'/> from `from` to `to` with a fresh id, which the
 * caller releases. Every text given is cleaned here again (valid UTF-8,
 * one line, no bidi or invisible controls, bounded), whatever the caller
 * did; a NULL string counts as empty.
 *
 * Recipients are named by the localpart of their address when they are
 * local users (jid != NULL), by their full address otherwise, and by their
 * full address too when two local recipients of the list share a
 * localpart. At most BR_NUDGE_TEXT_NAMED are named in a text, then "and K
 * more"; machine elements list at most BR_NUDGE_TEXT_LISTED recipients.
 * Times are shown in UTC, as HH:MM, with the date when it is not the day
 * of `now`.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

#include "br_router.h"

#define BR_NUDGE_TEXT_NAMED  10
#define BR_NUDGE_TEXT_LISTED 100

/* What became of one recipient when the sender asked for nudges. */
enum br_nudge_outcome {
	BR_NUDGE_SENT = 0,     /* nudged now */
	BR_NUDGE_ALREADY_READ, /* their copy is \Seen: not nudged */
	BR_NUDGE_ALREADY_SENT, /* nudged about this mail before */
	BR_NUDGE_LIMIT,	       /* the pair's hourly limit */
	BR_NUDGE_REMOTE,       /* not local, and nudge_remote is off */
	BR_NUDGE_UNKNOWN,      /* `nudge NAME`: NAME is no recipient */
};

struct br_nudge_rcpt {
	/* The recipient's mail address; for BR_NUDGE_UNKNOWN the name the
	   sender typed. */
	const char *address;
	/* A local user's bare JID; NULL for anyone else. */
	const char *jid;
	/* The offer shows it for local users (UNKNOWN: no word). */
	enum br_presence presence;
	/* br_nudge_text_report() only. */
	enum br_nudge_outcome outcome;
};

/* The sent mail a text is about. */
struct br_nudge_mail {
	const char *sender;  /* the sender's address */
	const char *subject; /* NULL or empty: "the mail without a subject" */
	const char *message_id; /* may be NULL */
	int64_t sent;		/* unix seconds; <= 0 unknown */
};

/*
 * The offer to the sender (from the Mail contact):
 *   Sent 'Q3 figures' to bob (online), carol (offline). Reply 'nudge' to
 *   remind them, or 'nudge bob'.
 * with <sent-mail xmlns='urn:x-tidings:mail:0' count='N'><message-id/>
 * <subject/><rcpt jid=… presence=…>address</rcpt>…</sent-mail> (jid and
 * presence only when known). The example after "or" names the first local
 * recipient (the first recipient when none is local); with one recipient,
 * "Reply 'nudge' to remind bob.". rcpts: the recipients the sender may
 * nudge, in the mail's order (the caller leaves out whom it would not
 * nudge, if it wants them unmentioned).
 */
xmpp_stanza_t *br_nudge_text_offer(xmpp_ctx_t *ctx, const char *from,
				   const char *to,
				   const struct br_nudge_mail *mail,
				   const struct br_nudge_rcpt *rcpts, size_t n);

/*
 * The nudge to a recipient. From the sender's own bare JID (on_behalf
 * false: `from` is that JID, sent with XEP-0356 message permission):
 *   alice@example.org asks you to check your mail: 'Q3 figures', sent at
 *   10:32 (UTC).
 * From the Mail contact (on_behalf true):
 *   On behalf of alice@example.org: please check your mail: 'Q3 figures',
 *   sent at 10:32 (UTC).
 * with <nudge xmlns='urn:x-tidings:mail:0' sent='2026-11-28T10:32:00Z'>
 * <message-id/><subject/><sender>alice@example.org</sender></nudge>
 * (sent= only when known).
 */
xmpp_stanza_t *br_nudge_text_nudge(xmpp_ctx_t *ctx, const char *from,
				   const char *to,
				   const struct br_nudge_mail *mail,
				   bool on_behalf, int64_t now);

/*
 * The report to the sender after `nudge` / `nudge NAME` or an automatic
 * nudge: one sentence per kind of outcome, in this order,
 *   Nudged bob and carol about 'Q3 figures'.
 *   dave has already read it.  /  dave and erin have already read it.
 *   frank was already nudged about it.  /  … were already nudged about it.
 *   Not nudged: carol (the limit of 5 an hour for carol).
 *   Not nudged: gina@example.net (only people here can be nudged).
 *   zed is not a recipient of 'Q3 figures'.
 * ("Nobody to nudge about 'Q3 figures'." when n is 0), with
 * <nudged xmlns='urn:x-tidings:mail:0'><message-id/><subject/>
 * <rcpt outcome='sent|read|already|limit|remote|unknown'>address</rcpt>…
 * </nudged>. pair_limit: nudge_pair_limit, for the text.
 */
xmpp_stanza_t *br_nudge_text_report(xmpp_ctx_t *ctx, const char *from,
				    const char *to,
				    const struct br_nudge_mail *mail,
				    const struct br_nudge_rcpt *rcpts, size_t n,
				    unsigned pair_limit);

/*
 * The read receipt to the sender (from the Mail contact):
 *   bob read 'Q3 figures' at 10:32 (UTC).
 * with <read xmlns='urn:x-tidings:mail:0' at='2026-11-28T10:32:00Z'>
 * <message-id/><subject/><reader>bob@example.org</reader></read>. at <= 0:
 * "bob read 'Q3 figures'." without at=.
 */
xmpp_stanza_t *br_nudge_text_read(xmpp_ctx_t *ctx, const char *from,
				  const char *to,
				  const struct br_nudge_mail *mail,
				  const struct br_nudge_rcpt *reader,
				  int64_t at, int64_t now);

/* The outcome's word in <rcpt outcome=…/> (static). */
const char *br_nudge_outcome_word(enum br_nudge_outcome o);

#endif
