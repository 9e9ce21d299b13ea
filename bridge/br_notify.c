#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "br_notify.h"
#include "ut_buf.h"
#include "ut_random.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_stanza.h"

#define NAME_MAX_BYTES	  200
#define ADDRESS_MAX_BYTES 320
#define SUBJECT_MAX_BYTES 300
#define MSGID_MAX_BYTES	  500
/* Ids of single notifications (br_notify_mail_id). */
#define MAIL_ID_PREFIX	    "tm1-"
#define MAIL_ID_MAILBOX_MAX 200

struct br_mail *br_mail_dup(const struct br_mail *m)
{
	struct br_mail *c = xcalloc(1, sizeof(*c));
	c->mailbox = xstrdup_null(m->mailbox);
	c->uidvalidity = m->uidvalidity;
	c->uid = m->uid;
	c->message_id = xstrdup_null(m->message_id);
	c->from_name = xstrdup_null(m->from_name);
	c->from_address = xstrdup_null(m->from_address);
	c->subject = xstrdup_null(m->subject);
	c->snippet = xstrdup_null(m->snippet);
	c->date = m->date;
	c->sender_jid = xstrdup_null(m->sender_jid);
	c->sender_presence = m->sender_presence;
	return c;
}

void br_mail_free(struct br_mail **mp)
{
	struct br_mail *m = *mp;
	if (m == NULL)
		return;
	free(m->mailbox);
	free(m->message_id);
	free(m->from_name);
	free(m->from_address);
	free(m->subject);
	free(m->snippet);
	free(m->sender_jid);
	free(m);
	*mp = NULL;
}

/* Clean one-line text, NULL when s is NULL or cleans to nothing. */
static char *clean_line(const char *s, size_t max_bytes)
{
	if (s == NULL)
		return NULL;
	char *c = ut_utf8_clean_str(s, strlen(s), UT_CLEAN_ONELINE, max_bytes);
	if (*c == '\0') {
		free(c);
		return NULL;
	}
	return c;
}

/* The cleaned parts of a mail that the texts below use. */
struct parts {
	char *name, *addr, *subject, *snippet, *msgid, *mailbox, *jid;
	const char *presence;
};

static void parts_init(struct parts *p, const struct br_config *cfg,
		       const struct br_mail *m)
{
	p->name = clean_line(m->from_name, NAME_MAX_BYTES);
	p->addr = clean_line(m->from_address, ADDRESS_MAX_BYTES);
	p->subject = clean_line(m->subject, SUBJECT_MAX_BYTES);
	p->msgid = clean_line(m->message_id, MSGID_MAX_BYTES);
	p->mailbox = clean_line(m->mailbox, NAME_MAX_BYTES);
	p->jid = clean_line(m->sender_jid, ADDRESS_MAX_BYTES);
	p->presence = p->jid != NULL ? m->sender_presence : NULL;
	p->snippet = NULL;
	if (m->snippet != NULL && cfg->snippet_max > 0) {
		/* Newlines in a snippet only waste a chat line: fold them. */
		p->snippet = clean_line(m->snippet, cfg->snippet_max);
	}
}

static void parts_free(struct parts *p)
{
	free(p->name);
	free(p->addr);
	free(p->subject);
	free(p->snippet);
	free(p->msgid);
	free(p->mailbox);
	free(p->jid);
}

/* "xmpp:" and the JID as RFC 5122 writes it in a URI: bytes other than
   unreserved, sub-delims, ':' and '@' percent-encoded (an escaped
   address's '\' becomes %5C). */
static void append_xmpp_uri(struct ut_buf *b, const char *jid)
{
	static const char keep[] = "-._~!$&'()*+,;=:@";
	ut_buf_append_str(b, "xmpp:");
	for (const unsigned char *p = (const unsigned char *)jid; *p != '\0';
	     p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(keep, *p) != NULL)
			ut_buf_append_c(b, (char)*p);
		else
			ut_buf_appendf(b, "%%%02X", *p);
	}
}

/* "Alice Example <alice@example.org>", "alice@example.org" or "someone". */
static void append_sender(struct ut_buf *b, const struct parts *p)
{
	if (p->name != NULL && p->addr != NULL &&
	    strcasecmp(p->name, p->addr) != 0)
		ut_buf_appendf(b, "%s <%s>", p->name, p->addr);
	else if (p->addr != NULL)
		ut_buf_append_str(b, p->addr);
	else if (p->name != NULL)
		ut_buf_append_str(b, p->name);
	else
		ut_buf_append_str(b, "an unknown sender");
	if (p->jid == NULL)
		return;
	ut_buf_append_str(b, " (");
	if (p->presence != NULL)
		ut_buf_appendf(b, "%s, ", p->presence);
	append_xmpp_uri(b, p->jid);
	ut_buf_append_c(b, ')');
}

static void format_date(int64_t date, char *out, size_t size)
{
	time_t t = (time_t)date;
	struct tm tm;
	if (date <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

static xmpp_stanza_t *mail_elem(xmpp_ctx_t *ctx, const struct parts *p,
				const struct br_mail *m, const char *ns)
{
	char num[16], date[32];
	xmpp_stanza_t *e = xm_elem_new(ctx, "mail", ns);
	xm_elem_set_attr(e, "mailbox", p->mailbox != NULL ? p->mailbox : "");
	snprintf(num, sizeof(num), "%" PRIu32, m->uidvalidity);
	xm_elem_set_attr(e, "uidvalidity", num);
	snprintf(num, sizeof(num), "%" PRIu32, m->uid);
	xm_elem_set_attr(e, "uid", num);
	if (p->addr != NULL || p->name != NULL) {
		xmpp_stanza_t *from = xm_elem_add_text_child(
		    e, "from", p->addr != NULL ? p->addr : "");
		if (p->name != NULL)
			xm_elem_set_attr(from, "name", p->name);
		xm_elem_set_attr(from, "jid", p->jid);
		xm_elem_set_attr(from, "presence", p->presence);
	}
	xm_elem_add_text_child(e, "subject",
			       p->subject != NULL ? p->subject : "");
	if (p->msgid != NULL)
		xm_elem_add_text_child(e, "message-id", p->msgid);
	format_date(m->date, date, sizeof(date));
	if (date[0] != '\0')
		xm_elem_add_text_child(e, "date", date);
	return e;
}

static xmpp_stanza_t *message_new(xmpp_ctx_t *ctx, const struct br_config *cfg,
				  const char *to_jid)
{
	char *id = xm_id_new();
	xmpp_stanza_t *msg =
	    xm_message_new(ctx, cfg->message_type, cfg->component, to_jid, id);
	free(id);
	return msg;
}

char *br_notify_mail_id(const struct br_mail *m)
{
	struct ut_buf b = UT_BUF_INIT;
	size_t len = m->mailbox != NULL ? strlen(m->mailbox) : 0;

	ut_buf_appendf(&b, "%s%016" PRIx64 "-%" PRIu32 "-%" PRIu32 "-",
		       MAIL_ID_PREFIX, ut_random_u64(), m->uidvalidity, m->uid);
	/* A longer name is left out (the id then names no mail): cut, it
	   could name another mailbox. */
	for (size_t i = 0; len <= MAIL_ID_MAILBOX_MAX && i < len; i++)
		ut_buf_appendf(&b, "%02x", (unsigned char)m->mailbox[i]);
	return ut_buf_steal(&b);
}

/* Parses a decimal uint32 at *p up to '-'; advances past the '-'. */
static int id_u32(const char **p, uint32_t *v_r)
{
	uint64_t v = 0;
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (*s != '-')
		return -1;
	*p = s + 1;
	*v_r = (uint32_t)v;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int br_notify_mail_id_parse(const char *id, char **mailbox_r,
			    uint32_t *uidvalidity_r, uint32_t *uid_r)
{
	const char *p = id;
	size_t prefix = strlen(MAIL_ID_PREFIX);

	if (strncmp(p, MAIL_ID_PREFIX, prefix) != 0)
		return -1;
	p += prefix;
	for (int i = 0; i < 16; i++, p++) {
		if (hex_value(*p) < 0)
			return -1;
	}
	if (*p++ != '-' || id_u32(&p, uidvalidity_r) < 0 ||
	    id_u32(&p, uid_r) < 0 || *uidvalidity_r == 0 || *uid_r == 0)
		return -1;
	size_t hex = strlen(p);
	if (hex == 0 || hex % 2 != 0 || hex / 2 > MAIL_ID_MAILBOX_MAX)
		return -1;
	char *mailbox = xmalloc(hex / 2 + 1);
	for (size_t i = 0; i < hex / 2; i++) {
		int hi = hex_value(p[2 * i]), lo = hex_value(p[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(mailbox);
			return -1;
		}
		mailbox[i] = (char)(hi * 16 + lo);
	}
	mailbox[hex / 2] = '\0';
	*mailbox_r = mailbox;
	return 0;
}

xmpp_stanza_t *br_notify_single(xmpp_ctx_t *ctx, const struct br_config *cfg,
				const char *to_jid, const struct br_mail *m)
{
	struct parts p;
	struct ut_buf body = UT_BUF_INIT;

	parts_init(&p, cfg, m);
	ut_buf_append_str(&body, "New mail from ");
	append_sender(&body, &p);
	if (p.mailbox != NULL && strcasecmp(p.mailbox, "INBOX") != 0)
		ut_buf_appendf(&body, " in %s", p.mailbox);
	ut_buf_appendf(&body, "\nSubject: %s",
		       p.subject != NULL ? p.subject : "(no subject)");
	if (p.snippet != NULL)
		ut_buf_appendf(&body, "\n\n%s", p.snippet);

	char *id = br_notify_mail_id(m);
	xmpp_stanza_t *msg =
	    xm_message_new(ctx, cfg->message_type, cfg->component, to_jid, id);
	free(id);
	xm_message_set_body(msg, ut_buf_str(&body));
	xm_elem_adopt(msg, mail_elem(ctx, &p, m, BR_NS_MAIL));
	ut_buf_free(&body);
	parts_free(&p);
	return msg;
}

/* One line per mail (up to digest_list_max) into body, one <mail/> per
   listed mail into elem, then "…and K more." for the rest of total. */
static void list_mails(const struct br_config *cfg, struct ut_buf *body,
		       xmpp_stanza_t *elem, struct br_mail *const *mails,
		       size_t n, size_t total)
{
	xmpp_ctx_t *ctx = xmpp_stanza_get_context(elem);
	size_t listed = n < cfg->digest_list_max ? n : cfg->digest_list_max;

	for (size_t i = 0; i < listed; i++) {
		struct parts p;
		parts_init(&p, cfg, mails[i]);
		ut_buf_append_str(body, "\n\xE2\x80\xA2 ");
		append_sender(body, &p);
		ut_buf_appendf(body, ": %s",
			       p.subject != NULL ? p.subject : "(no subject)");
		if (p.mailbox != NULL && strcasecmp(p.mailbox, "INBOX") != 0)
			ut_buf_appendf(body, " (in %s)", p.mailbox);
		xm_elem_adopt(elem, mail_elem(ctx, &p, mails[i], NULL));
		parts_free(&p);
	}
	if (total > listed)
		ut_buf_appendf(body,
			       "\n\xE2\x80\xA6"
			       "and %zu more.",
			       total - listed);
}

xmpp_stanza_t *br_notify_digest(xmpp_ctx_t *ctx, const struct br_config *cfg,
				const char *to_jid,
				struct br_mail *const *mails, size_t n,
				size_t total)
{
	struct ut_buf body = UT_BUF_INIT;
	char num[24];

	if (total < n)
		total = n;
	ut_buf_appendf(&body, "%zu new mail%s:", total, total == 1 ? "" : "s");
	xmpp_stanza_t *digest = xm_elem_new(ctx, "digest", BR_NS_MAIL);
	snprintf(num, sizeof(num), "%zu", total);
	xm_elem_set_attr(digest, "count", num);
	list_mails(cfg, &body, digest, mails, n, total);

	xmpp_stanza_t *msg = message_new(ctx, cfg, to_jid);
	xm_message_set_body(msg, ut_buf_str(&body));
	xm_elem_adopt(msg, digest);
	ut_buf_free(&body);
	return msg;
}

xmpp_stanza_t *br_notify_summary(xmpp_ctx_t *ctx, const struct br_config *cfg,
				 const char *to_jid,
				 struct br_mail *const *mails, size_t n,
				 size_t unread, size_t fresh)
{
	struct ut_buf body = UT_BUF_INIT;
	char num[24];

	if (fresh < n)
		fresh = n;
	if (unread == 0)
		ut_buf_append_str(&body, "No unread mail in INBOX");
	else
		ut_buf_appendf(&body, "%zu unread mail%s in INBOX", unread,
			       unread == 1 ? "" : "s");
	if (fresh == 0)
		ut_buf_append_c(&body, '.');
	else
		ut_buf_appendf(&body,
			       "; %zu arrived since you were last "
			       "online:",
			       fresh);
	xmpp_stanza_t *summary = xm_elem_new(ctx, "summary", BR_NS_MAIL);
	snprintf(num, sizeof(num), "%zu", unread);
	xm_elem_set_attr(summary, "unread", num);
	snprintf(num, sizeof(num), "%zu", fresh);
	xm_elem_set_attr(summary, "new", num);
	list_mails(cfg, &body, summary, mails, n, fresh);

	xmpp_stanza_t *msg = message_new(ctx, cfg, to_jid);
	xm_message_set_body(msg, ut_buf_str(&body));
	xm_elem_adopt(msg, summary);
	ut_buf_free(&body);
	return msg;
}
