#ifndef BR_ROUTER_H
#define BR_ROUTER_H

/*
 * The router: which mail event leads to which notification. It owns the
 * per-user state (burst window, mails held for a digest), the gap and
 * startup reconciliation over IMAP, and the ledger bookkeeping:
 *
 * - A MessageNew event in a notified mailbox of a user whose mailbox maps
 *   to a JID (br_jidmap) becomes a notification, unless the ledger says it
 *   was notified already.
 * - Per user, at most cfg->burst_max single notifications per
 *   cfg->burst_window_msecs; further mails are held and sent as one digest
 *   when the window ends. After a digest, mails keep being collected until
 *   a whole window passes quietly.
 * - A notification is committed to the ledger (keys + stanza) before it is
 *   handed to the send callback with the ledger's outbox id as token;
 *   br_router_confirmed() removes it from the ledger outbox. Every ledger
 *   read and write of one loop turn is one transaction.
 * - When the XMPP side has no room (outbox_room), notifications wait in
 *   the ledger's outbox and are handed over, oldest first, as confirmations
 *   make room; br_router_start() hands over what the last run left
 *   unconfirmed the same way.
 * - br_router_start() makes every mailbox the ledger knows due for a
 *   reconciliation: what arrived after its last notified UID and is still
 *   unseen is notified, one by one when few, one digest when more than
 *   burst_max.
 * - A MessageNew whose UID leaves a gap above the mailbox's last notified
 *   UID schedules a reconciliation of the gap after cfg->gap_delay_msecs.
 * - Bounds: users are kept in memory only while active (br_user.c); users
 *   that map to no JID cost a counter and one log line a minute; at most a
 *   fixed number of reconciliations are alive, the others wait as due marks
 *   in the ledger (br_reconcile.c), failed ones too (retried later).
 *
 * Loop thread only.
 */

#include <stdbool.h>
#include <stdint.h>
#include <strophe.h>
#include <uv.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_notify.h"
#include "ms_event.h"
#include "ms_imap.h"

struct br_router;

/* Hands a serialised stanza to the XMPP side; 0 or -1 (not queued). */
typedef int br_router_send_fn(void *ctx, const char *xml, size_t len,
			      uint64_t token);

struct br_router_deps {
	uv_loop_t *loop;
	const struct br_config *cfg;
	struct br_ledger *ledger;
	xmpp_ctx_t *sctx;
	br_router_send_fn *send;
	void *send_ctx;
	/* How many more stanzas send takes now (NULL: never full). */
	size_t (*outbox_room)(void *send_ctx);
	struct ms_imap_pool *imap; /* NULL: no reconciliation */
};

struct br_router_stats {
	uint64_t events;       /* events received */
	uint64_t singles;      /* single notifications sent */
	uint64_t digests;      /* digests sent */
	uint64_t digest_mails; /* mails covered by digests */
	uint64_t duplicates;   /* already notified, skipped */
	uint64_t unmapped;     /* mails for users with no JID */
	uint64_t reconciles;   /* IMAP scans finished */
	uint64_t reconcile_errors;
	uint64_t resent;	 /* ledger outbox stanzas resent at start */
	uint64_t scans_deferred; /* scans left to the ledger: too many */
	uint64_t held;	    /* mails not sent: the user could not take them */
	uint64_t summaries; /* summaries sent */
	uint64_t pruned;    /* users or mailboxes Dovecot no longer has */
	size_t users;	    /* served users in memory now */
	size_t scans;	    /* reconciliations alive now */
};

struct br_router *br_router_new(const struct br_router_deps *deps);
void br_router_start(struct br_router *r);
/* Takes ownership of ev. */
void br_router_event(struct br_router *r, struct ms_event *ev);
/* A served user's presence, as the bridge acts on it. */
enum br_presence {
	BR_PRESENCE_UNKNOWN = 0, /* no presence information */
	BR_PRESENCE_OFFLINE,	 /* known to have no available resource */
	BR_PRESENCE_ONLINE,	 /* available, or chat */
	BR_PRESENCE_AWAY,	 /* away or xa */
	BR_PRESENCE_DND,
};

/* "online", "away", "busy", "offline"; NULL for UNKNOWN. */
const char *br_presence_word(enum br_presence p);

/*
 * Presence-aware delivery (issue 6). Once the presence of every local user
 * is known (the XMPP server granted XEP-0356 presence permission), or of
 * one user (their presence comes through a subscription), mail is notified
 * only while its user can take it: available, and not in a presence their
 * hold_when setting holds (dnd, or away/xa/dnd); notify = no holds always.
 * Nothing is sent per mail otherwise, and nothing is recorded as notified:
 * - coming online (no available resource before): one summary of INBOX
 *   (summary_on_login; without it, nothing, and the floor moves past what
 *   is there), then the user's other due mailboxes are reconciled;
 * - back from a held presence after mail came: one summary.
 * Presence unknown: every mail is notified at once, as before, and
 * coming online from unknown is not "coming online" (what came meanwhile
 * was notified): no summary.
 *
 * Start-up: every mailbox the ledger knows becomes due, but the walk over
 * them waits until presence has settled (br_router_presence_settled: the
 * presences the server sends at connect are in, or none will come). Users
 * reported online before that are caught up first, one by one; after it,
 * with presence known, only users online are (the others get their
 * summary when they come online).
 */

/* The aggregate presence of a served user (bare JID) changed. Unknown
   JIDs are ignored. */
void br_router_presence(struct br_router *r, const char *bare_jid,
			enum br_presence presence);
/* From now on a served user without presence is offline (known), or
   presence is unknown again (the permission went away). */
void br_router_presence_known(struct br_router *r, bool known);
/* Where the router learns the presence of a user it (re)creates in its
   table (users are freed when idle; the presence source keeps what is
   known): fn returns the presence of the user with canonical key key now,
   BR_PRESENCE_UNKNOWN when it does not know. fn NULL: unknown. */
typedef enum br_presence (*br_router_presence_fn)(void *ctx, const char *key);
void br_router_presence_source(struct br_router *r, br_router_presence_fn fn,
			       void *ctx);
/* The presences of who is online now are in (see above). Once. */
void br_router_presence_settled(struct br_router *r);
/* The user (canonical key) changed a setting: the router reloads it. */
void br_router_settings_changed(struct br_router *r, const char *key);
/* The configuration changed (a reload; see br_reload.h): the settings of
   the users in memory are loaded again, so that a new [defaults] value
   applies at once to those who never chose their own. Everything else
   the router reads from cfg at the time it needs it. */
void br_router_config_changed(struct br_router *r);
/* An immediate summary for the user (the "check" command); 0, or -1 when
   the user is not served. */
int br_router_summary(struct br_router *r, const char *bare_jid);

/*
 * Notifies the user (canonical key) of mail m at once, whatever their
 * settings and hold (a sender nudged them about it: claim 8), when they
 * are online (or their presence is unknown) and were not notified of it
 * yet. m->mailbox, uidvalidity and uid name the mail.
 */
void br_router_notify_now(struct br_router *r, const char *key,
			  const struct br_mail *m);
/*
 * For the control socket (tidingsctl, br_control.c; br_router_admin.c).
 */
/* What the router holds for one served user now. */
struct br_router_user_info {
	bool in_memory;		 /* in the router's table (else: idle) */
	size_t held;		 /* mails held for a digest */
	bool digest_due;	 /* the burst window ends with a digest */
	bool summary_due;	 /* mail came while held: a summary when
				    they can take mail again */
	unsigned window_singles; /* singles sent in the burst window */
	size_t reconciliations;	 /* scans of their mailboxes alive */
	bool resync_queued;	 /* their due mailboxes are walked next */
};
/* Fills *info_r for the user with canonical key key (zeroes when the
   router does not hold them). */
void br_router_user_info(const struct br_router *r, const char *key,
			 struct br_router_user_info *info_r);
/* Whether tidings has seen the user (canonical key): in the router's
   table now, or with an INBOX row in the ledger. */
bool br_router_knows(struct br_router *r, const char *key);
/*
 * Reconciles the user's mailboxes now, as after a restart: each notified
 * mailbox the ledger knows for them (and INBOX, known or not) becomes due
 * from above its last notified UID, and their walk goes ahead of the
 * global one. Returns the number of mailboxes marked, or -1 when the user
 * maps to no JID or there is no IMAP pool.
 */
int br_router_resync(struct br_router *r, const char *key);
/*
 * Sends the user a test notification from the component, through the
 * ledger and the outbox like any notification (confirmed, resent after a
 * restart), whatever their presence and settings: body as its text and
 * <test xmlns='urn:x-tidings:mail:0'/>. Returns 0 with its stanza id
 * (xmalloc'ed) in *id_r, or -1 when the user maps to no JID.
 */
int br_router_send_test(struct br_router *r, const char *key, const char *body,
			char **id_r);
void br_router_confirmed(struct br_router *r, uint64_t token);
void br_router_get_stats(const struct br_router *r,
			 struct br_router_stats *stats_r);
/* Sends every held digest now (e.g. before a clean stop). */
void br_router_flush_all(struct br_router *r);
/*
 * Closes the router's timers and frees it once libuv released them. Free the
 * IMAP pool first: scans still running would call back into the router.
 */
void br_router_close(struct br_router **r);

#endif
