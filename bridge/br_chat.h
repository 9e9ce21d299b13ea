#ifndef BR_CHAT_H
#define BR_CHAT_H

/*
 * What a local user says to the Mail contact: the text commands of
 * br_command.h, answered in the same conversation. Loop thread only.
 */

#include <strophe.h>

#include "br_inbound.h"

/*
 * A message with a body from a local user (key: their canonical Dovecot
 * username) to the component's JID. Replies go to the message's 'from'.
 */
void br_chat_message(const struct br_inbound_deps *d, const char *key,
		     xmpp_stanza_t *msg, const char *body);

#endif
