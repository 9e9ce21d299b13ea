#ifndef XM_ACCEPT_H
#define XM_ACCEPT_H

/*
 * The pure protocol pieces of the jabber:component:accept stream (XEP-0114),
 * kept apart from the connection state machine in xm_component.c: settings
 * checks, the stream header and handshake, reading a <stream:error/>, and
 * which IQs the component refuses to answer.
 * No I/O, no state.
 */

#include <stdbool.h>
#include <strophe.h>

#include "ut_buf.h"
#include "xm_component.h"

/*
 * Checks what xm_component_new() needs: non-empty jid, host and secret, and
 * a jid and server domain that need no XML escaping. *domain_r is the
 * server domain (by default the jid without its first label:
 * mail.example.org serves example.org). Returns 0, or -1 with an
 * xmalloc'ed message in *error_r.
 */
int xm_accept_check_settings(const struct xm_component_settings *set,
			     const char **domain_r, char **error_r);
/* Appends the XML declaration and the stream header addressed to jid. */
void xm_accept_stream_header(struct ut_buf *b, const char *jid);
/* Appends <handshake>hex(SHA1(stream_id + secret))</handshake>. */
void xm_accept_handshake(struct ut_buf *b, const char *stream_id,
			 const char *secret);

/*
 * False when iq's id, from or to is longer than XM_PARSER_SKELETON_ATTR_MAX
 * (3071, the longest JID) bytes. An answer echoes them: an id of 200 KiB
 * of '"', which the server forwards re-escaped six times longer, would make
 * an answer too large for the server (Prosody's component limit is 512
 * KiB), which would close the stream, and the outbox would send the answer
 * again after every reconnect. Such IQs are dropped unanswered.
 */
bool xm_accept_iq_answerable(xmpp_stanza_t *iq);

/*
 * The condition of a <stream:error/>: the name of its first child element
 * other than <text/> ("undefined-condition" when there is none; valid while
 * st lives), and in *text_r its <text/> (malloc'ed) or NULL.
 */
const char *xm_accept_stream_error(xmpp_stanza_t *st, char **text_r);

#endif
