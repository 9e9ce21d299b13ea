/*
 * What a user reads about mail they wrote in chat (br_sender.h): pure
 * functions building the answers, no I/O.
 *
 *   Sent to carol@example.net, subject "Lunch?".
 *     <sent xmlns='urn:x-tidings:mail:0'><to>carol@example.net</to>
 *       <subject>Lunch?</subject><message-id>&lt;…&gt;</message-id></sent>
 *   Not sent yet to carol@example.net: <why>. I will keep trying.
 *     <not-sent xmlns=… reason='delayed'/>
 *   Not sent to carol@example.net: <why>.
 *   Not sent: <why>.
 *     <not-sent xmlns=… reason='…'/>
 */
#include <stdlib.h>
#include <string.h>

#include "br_notify.h"
#include "br_sender_text.h"
#include "ut_buf.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

#define SUBJECT_SHOWN_MAX 200
#define WHY_MAX		  400
#define RCPTS_SHOWN	  10

static xmpp_stanza_t *message_new(xmpp_ctx_t *ctx, const char *from,
				  const char *to, const char *text)
{
	char *id = xm_id_new();
	xmpp_stanza_t *msg = xm_message_new(ctx, "chat", from, to, id);
	char *clean =
	    ut_utf8_clean_str(text, strlen(text), UT_CLEAN_MULTILINE, 0);
	xm_message_set_body(msg, clean);
	free(clean);
	free(id);
	return msg;
}

/* "a@x, b@y and 3 more" */
static void append_rcpts(struct ut_buf *b, char *const *rcpts, size_t n)
{
	size_t shown = n < RCPTS_SHOWN ? n : RCPTS_SHOWN;
	for (size_t i = 0; i < shown; i++)
		ut_buf_appendf(b, "%s%s", i > 0 ? ", " : "", rcpts[i]);
	if (n > shown)
		ut_buf_appendf(b, " and %zu more", n - shown);
}

static char *clean_line(const char *s, size_t max)
{
	return ut_utf8_clean_str(s != NULL ? s : "", s != NULL ? strlen(s) : 0,
				 UT_CLEAN_ONELINE, max);
}

xmpp_stanza_t *br_sender_text_sent(xmpp_ctx_t *ctx, const char *from,
				   const char *to, char *const *rcpts, size_t n,
				   const char *subject, const char *message_id)
{
	struct ut_buf b = UT_BUF_INIT;
	char *subj = clean_line(subject, SUBJECT_SHOWN_MAX);

	ut_buf_append_str(&b, "Sent to ");
	append_rcpts(&b, rcpts, n);
	if (subj[0] != '\0')
		ut_buf_appendf(&b, ", subject \"%s\".", subj);
	else
		ut_buf_append_str(&b, ", without a subject.");
	xmpp_stanza_t *msg = message_new(ctx, from, to, ut_buf_str(&b));
	xmpp_stanza_t *e = xm_elem_new(ctx, "sent", BR_NS_MAIL);
	for (size_t i = 0; i < n; i++)
		xm_elem_add_text_child(e, "to", rcpts[i]);
	xm_elem_add_text_child(e, "subject", subj);
	xm_elem_add_text_child(e, "message-id", message_id);
	xm_elem_adopt(msg, e);
	free(subj);
	ut_buf_free(&b);
	return msg;
}

xmpp_stanza_t *br_sender_text_not_sent(xmpp_ctx_t *ctx, const char *from,
				       const char *to, char *const *rcpts,
				       size_t n, const char *reason,
				       const char *why)
{
	struct ut_buf b = UT_BUF_INIT;
	char *clean = clean_line(why, WHY_MAX);
	bool delayed = strcmp(reason, BR_NOT_SENT_DELAYED) == 0;

	ut_buf_append_str(&b, delayed ? "Not sent yet" : "Not sent");
	if (n > 0) {
		ut_buf_append_str(&b, " to ");
		append_rcpts(&b, rcpts, n);
	}
	ut_buf_appendf(&b, ": %s", clean);
	/* One full stop, whether or not the reason brought its own. */
	if (b.len > 0 && strchr(".!?", ut_buf_str(&b)[b.len - 1]) == NULL)
		ut_buf_append_c(&b, '.');
	if (delayed)
		ut_buf_append_str(&b, " I will keep trying.");
	xmpp_stanza_t *msg = message_new(ctx, from, to, ut_buf_str(&b));
	xmpp_stanza_t *e = xm_elem_new(ctx, "not-sent", BR_NS_MAIL);
	xm_elem_set_attr(e, "reason", reason);
	xm_elem_adopt(msg, e);
	free(clean);
	ut_buf_free(&b);
	return msg;
}
