#ifndef BR_JIDMAP_H
#define BR_JIDMAP_H

/*
 * Which JID belongs to a mailbox. A Dovecot username or mail address
 * "local@domain" whose domain is one of [mail] domain maps to
 * "local@<[xmpp] domain>"; a username without '@' takes the first mail
 * domain. Nothing is guessed: a localpart that is not plain ASCII, holds a
 * character that XEP-0106 would escape, or is empty or too long is refused,
 * because more than one mailbox could end up at the same JID or at a JID
 * the user cannot log in as. ASCII letters are lowercased (XMPP nodeprep
 * does the same, so "Bob" and "bob" are one JID on the XMPP side).
 */

#include "br_config.h"

/* Returns 0 and an xmalloc'ed bare JID, or -1 with a static reason. */
int br_jidmap_user(const struct br_config *cfg, const char *user, char **jid_r,
		   const char **why_r);

#endif
