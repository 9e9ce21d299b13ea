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
};

/* Deep copy and free (br_mail_free frees the strings and *m itself). */
struct br_mail *br_mail_dup(const struct br_mail *m);
void br_mail_free(struct br_mail **m);

/* Returns a new stanza (the caller releases it). */
xmpp_stanza_t *br_notify_single(xmpp_ctx_t *ctx, const struct br_config *cfg,
				const char *to_jid, const struct br_mail *m);
/*
 * total >= n: how many mails the digest speaks for (the ones beyond n are
 * counted in "…and K more." only).
 */
xmpp_stanza_t *br_notify_digest(xmpp_ctx_t *ctx, const struct br_config *cfg,
				const char *to_jid,
				struct br_mail *const *mails, size_t n,
				size_t total);

#endif
