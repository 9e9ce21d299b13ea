#ifndef BR_SENDER_TEXT_H
#define BR_SENDER_TEXT_H

/*
 * The answers a user gets about mail they wrote in chat (see the top of
 * br_sender_text.c for how they read). Pure: new stanzas of type chat
 * from `from` to `to`, which the caller releases. Texts given are cleaned
 * here again (one line, bounded).
 */

#include <stddef.h>
#include <strophe.h>

/* reason= of <not-sent/>. */
#define BR_NOT_SENT_DELAYED   "delayed"	  /* retried: not final */
#define BR_NOT_SENT_REFUSED   "refused"	  /* the MTA said no for good */
#define BR_NOT_SENT_EXPIRED   "expired"	  /* retried until send_expire */
#define BR_NOT_SENT_LIMIT     "limit"	  /* the user's send limit */
#define BR_NOT_SENT_INVALID   "invalid"	  /* an address, a header value */
#define BR_NOT_SENT_TOO_LARGE "too-large" /* send_body_max */
#define BR_NOT_SENT_NOT_FOUND "not-found" /* the mail replied to is gone */
#define BR_NOT_SENT_AUTOMATIC "automatic" /* a reply to a bounce etc. */
#define BR_NOT_SENT_BUSY      "busy"	  /* too much in progress */
#define BR_NOT_SENT_ERROR     "error"	  /* our side failed */

/* Sent to rcpts[0..n), subject "…", with <sent/>. */
xmpp_stanza_t *br_sender_text_sent(xmpp_ctx_t *ctx, const char *from,
				   const char *to, char *const *rcpts, size_t n,
				   const char *subject, const char *message_id);
/* "Not sent[ yet][ to rcpts]: why." with <not-sent reason=…/>; n may be
   0. */
xmpp_stanza_t *br_sender_text_not_sent(xmpp_ctx_t *ctx, const char *from,
				       const char *to, char *const *rcpts,
				       size_t n, const char *reason,
				       const char *why);

#endif
