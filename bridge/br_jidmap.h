#ifndef BR_JIDMAP_H
#define BR_JIDMAP_H

/*
 * The one mapping between Dovecot users and JIDs, both directions.
 *
 * A Dovecot user "local@domain" ([mail] username_format = address) whose
 * domain is one of [mail] domain is the JID "local@<its XMPP domain>"
 * (cfg->xmpp_domains: [domains], else [xmpp] domain). With username_format
 * = localpart, Dovecot's users are "local" and the only mail domain is
 * theirs. Each user has one canonical key: the Dovecot username with ASCII
 * letters lowercased (as Dovecot's default auth_username_format %Lu, and as
 * XMPP nodeprep does), used for the ledger, the user table and IMAP logins,
 * whichever side (an event or a presence) named the user first.
 *
 * Nothing is guessed: a localpart that is not plain ASCII, holds a
 * character that XEP-0106 would escape, or is empty or too long is
 * refused, because more than one mailbox could end up at the same JID or
 * at a JID the user cannot log in as.
 */

#include <stdbool.h>

#include "br_config.h"

/*
 * A Dovecot username -> its canonical key and bare JID (both xmalloc'ed).
 * Returns 0, or -1 with a static reason.
 */
int br_jidmap_user(const struct br_config *cfg, const char *user, char **key_r,
		   char **jid_r, const char **why_r);
/*
 * A bare JID -> the canonical key of its Dovecot user (xmalloc'ed), or -1
 * when the JID is not a user of a served domain.
 */
int br_jidmap_jid(const struct br_config *cfg, const char *jid, char **key_r);
/*
 * The sender of a stanza ('from', a full or bare JID as the XMPP server
 * stamped it) -> the canonical key of its Dovecot user and its bare JID
 * (both xmalloc'ed; bare_r may be NULL). Returns 0 when the sender is a
 * user of a served domain whose localpart maps to a mailbox (a local
 * user: the server authenticated them against that mailbox), -1 for
 * anyone else (remote, malformed, the server itself, a component).
 */
int br_jidmap_sender(const struct br_config *cfg, const char *from,
		     char **key_r, char **bare_r);
/*
 * A mail address "local@domain" of a served mail domain -> the canonical
 * key of that mailbox's Dovecot user and its bare JID (both xmalloc'ed),
 * whatever username_format is. Returns 0, or -1 when the address is not
 * one of ours (or cannot be a JID). It says nothing about whether such a
 * mailbox exists.
 */
int br_jidmap_address(const struct br_config *cfg, const char *address,
		      char **key_r, char **jid_r);
/*
 * Any mail address as a JID at the component, for mail from chat (issue
 * 7): the address escaped by XEP-0106 as the localpart
 * ("carol\\40example.net@mail.example.org"), xmalloc'ed. The inverse,
 * br_jidmap_jid_address(), takes a bare or full JID at the component and
 * returns the address (xmalloc'ed), or NULL when the JID is not at the
 * component or its localpart does not unescape to a valid address (*why_r
 * then says why, for the user).
 */
char *br_jidmap_address_jid(const struct br_config *cfg, const char *address);
char *br_jidmap_jid_address(const struct br_config *cfg, const char *jid,
			    const char **why_r);
/* The mail address of a canonical key (xmalloc'ed): the key itself with
   username_format = address, else key@<the one mail domain>, lower case. */
char *br_jidmap_key_address(const struct br_config *cfg, const char *key);
/* domain is one of the served XMPP domains (ASCII case-insensitive). */
bool br_jidmap_serves(const struct br_config *cfg, const char *domain);

#endif
