#ifndef XM_STANZA_H
#define XM_STANZA_H

/*
 * Small helpers over libstrophe's stanza API. They abort on out-of-memory
 * (libstrophe reports it as an error code) so callers need no checks.
 * Text and attribute values given here must already be clean UTF-8
 * (ut_utf8_clean); XML escaping is done on serialisation.
 */

#include <stddef.h>
#include <strophe.h>

/* Checks a libstrophe return code: aborts on XMPP_EMEM (out of memory)
   and on any other error (a misuse of its API by our code). */
void xm_strophe_check(int rc);
/* xmpp_stanza_new() that aborts on out-of-memory. */
xmpp_stanza_t *xm_stanza_alloc(xmpp_ctx_t *ctx);

/* <name xmlns=ns/>; ns may be NULL. */
xmpp_stanza_t *xm_elem_new(xmpp_ctx_t *ctx, const char *name, const char *ns);
/* Adds <name>text</name> (or <name/> when text is NULL) and returns it. */
xmpp_stanza_t *xm_elem_add_text_child(xmpp_stanza_t *parent, const char *name,
				      const char *text);
/* Adds child to parent; parent takes the reference (child is released). */
void xm_elem_adopt(xmpp_stanza_t *parent, xmpp_stanza_t *child);
void xm_elem_set_attr(xmpp_stanza_t *elem, const char *name, const char *value);
/* <message type from to id>; any of them may be NULL (omitted). */
xmpp_stanza_t *xm_message_new(xmpp_ctx_t *ctx, const char *type,
			      const char *from, const char *to, const char *id);
/* Sets the <body/> text (replacing any). */
void xm_message_set_body(xmpp_stanza_t *msg, const char *text);
/* The text of the first child element named name (and ns, if not NULL);
   malloc'ed, NULL when absent. */
char *xm_elem_child_text(xmpp_stanza_t *elem, const char *name, const char *ns);

/* <iq type='result'> answering iq (to/from swapped, same id). */
xmpp_stanza_t *xm_iq_result_new(xmpp_ctx_t *ctx, xmpp_stanza_t *iq);
/*
 * An error reply for any stanza: type "cancel"/"modify"/"wait"/"auth",
 * condition e.g. "service-unavailable" (RFC 6120 8.3.3), to/from swapped,
 * same id; with a <text/> when text is not NULL.
 */
xmpp_stanza_t *xm_error_reply_new(xmpp_ctx_t *ctx, xmpp_stanza_t *stanza,
				  const char *type, const char *condition,
				  const char *text);

/* Serialises st. Returns xmalloc'ed NUL-terminated text and its length. */
char *xm_stanza_to_text(xmpp_stanza_t *st, size_t *len_r);

/* A new unique stanza id ("t" + counter + random), xmalloc'ed. */
char *xm_id_new(void);

#endif
