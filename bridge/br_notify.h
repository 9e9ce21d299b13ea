#ifndef BR_NOTIFY_H
#define BR_NOTIFY_H

/*
 * What a user reads: the notification stanzas. Pure functions, no I/O.
 *
 * A single notification is a <message> from the component JID whose body
 * reads
 *     New mail from Alice Example <alice@example.org>[ in Lists]
 *     Subject: Hello there
 *
 *     first words of the snippet
 * and which carries the machine-readable element (README.md, "Protocol")
 *     <mail xmlns='urn:x-tidings:mail:0' mailbox='INBOX' uidvalidity='7'
 *           uid='5'><from name='Alice Example'>alice@example.org</from>
 *       <subject>Hello there</subject><message-id>&lt;id@x&gt;</message-id>
 *       <date>2026-11-28T12:00:00Z</date></mail>
 * A digest lists up to cfg->digest_list_max mails, one line each, then
 * "…and K more.", with <digest xmlns=... count='N'> holding one <mail/> per
 * listed mail.
 *
 * A sender who is a local user is named with their JID and presence, so
 * the recipient can chat back at once (claims 4, 5, 6):
 *     New mail from Alice <alice@example.org> (online, xmpp:alice@example.org)
 * and <from jid='alice@example.org' presence='online'>. While mail from
 * chat is on, anyone else is named with their address as a JID at the
 * component (XEP-0106), an RFC 5122 URI in the text:
 *     New mail from carol@example.net (xmpp:carol%5C40example.net@mail.…)
 * and <from jid='carol\40example.net@mail.example.org'>. The router sets
 * m->sender_jid either way.
 *
 * Every text is cleaned again here (valid UTF-8, no XML-forbidden
 * characters, bounded), whatever the caller did.
 */

#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

#include "br_config.h"

#define BR_NS_MAIL "urn:x-tidings:mail:0"

struct br_mail {
	char *mailbox;
	uint32_t uidvalidity;
	uint32_t uid;
	char *message_id;   /* may be NULL */
	char *from_name;    /* may be NULL */
	char *from_address; /* may be NULL */
	char *subject;	    /* may be NULL */
	char *snippet;	    /* may be NULL */
	int64_t date;	    /* unix seconds, 0 unknown */
	/* A local sender: their JID, and their presence now ("online",
	   "away", "busy", "offline"; NULL: unknown). Both NULL otherwise. */
	char *sender_jid;
	const char *sender_presence; /* a static string */
};

/* Deep copy and free (br_mail_free frees the strings and *m itself). */
struct br_mail *br_mail_dup(const struct br_mail *m);
void br_mail_free(struct br_mail **m);

/*
 * The stanza id of a single notification names its mail, so that a reply
 * to it (XEP-0461, issue 7) finds the mail without a table, even after a
 * restart: "tm1-<64 random bits>-<uidvalidity>-<uid>-<mailbox in hex>"
 * (xmalloc'ed; the name of a mailbox longer than 200 bytes is left out,
 * so such a mailbox's notifications cannot be answered). The parse takes any
 * text: -1 unless it is such an id (UIDVALIDITY and UID not 0, the mailbox not
 * empty and without NUL), else 0 with the mailbox xmalloc'ed. The id proves
 * nothing: it only ever names a mail in the replying user's own mailbox.
 */
char *br_notify_mail_id(const struct br_mail *m);
int br_notify_mail_id_parse(const char *id, char **mailbox_r,
			    uint32_t *uidvalidity_r, uint32_t *uid_r);

/* Returns a new stanza (the caller releases it); its id is
   br_notify_mail_id(m). */
xmpp_stanza_t *br_notify_single(xmpp_ctx_t *ctx, const struct br_config *cfg,
				const char *to_jid, const struct br_mail *m);
/*
 * A summary of a mailbox (on coming online, back from away, or asked for):
 *     5 unread mails in INBOX; 3 arrived since you were last online:
 *     • Alice <alice@example.org>: Hello
 *     …
 * or "No unread mail in INBOX.", with <summary xmlns=... unread='5'
 * new='3'> holding one <mail/> per listed mail (the newest new ones, up to
 * digest_list_max; "…and K more." for the rest).
 */
xmpp_stanza_t *br_notify_summary(xmpp_ctx_t *ctx, const struct br_config *cfg,
				 const char *to_jid,
				 struct br_mail *const *mails, size_t n,
				 size_t unread, size_t fresh);
/*
 * total >= n: how many mails the digest speaks for (the ones beyond n are
 * counted in "…and K more." only).
 */
xmpp_stanza_t *br_notify_digest(xmpp_ctx_t *ctx, const struct br_config *cfg,
				const char *to_jid,
				struct br_mail *const *mails, size_t n,
				size_t total);

#endif
