/*
 * Building an outgoing message (see ms_compose.h): checks, ids, threading
 * headers, the date, and the header block.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_compose.h"
#include "ms_compose_private.h"
#include "ut_random.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Octets of a Jabber-ID value at most (a JID may be 3071, but a header
   line may not be longer than 998). */
#define JID_MAX	    900
#define VERSION_MAX 64
/* Characters of a bad value shown in an error message. */
#define SHOWN_MAX 60

static char *shown(const char *s)
{
	return ut_utf8_clean_str(s, strlen(s), UT_CLEAN_ONELINE, SHOWN_MAX);
}

static int addr_error(const char *what, const char *addr, const char *reason,
		      char **error_r)
{
	char *s = shown(addr);
	*error_r = xasprintf("%s address \"%s\": %s", what, s, reason);
	free(s);
	return -1;
}

static int check_addr(const char *what, const char *addr, unsigned flags,
		      char **error_r)
{
	const char *reason;
	if (addr == NULL)
		return addr_error(what, "", "missing", error_r);
	if (ms_addr_validate(addr, strlen(addr), flags, &reason) < 0)
		return addr_error(what, addr, reason, error_r);
	return 0;
}

static bool msgid_ok(const char *s, size_t len)
{
	if (len < 3 || len > MS_COMPOSE_MSGID_MAX || s[0] != '<' ||
	    s[len - 1] != '>')
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7F || c == '<' || c == '>')
			return false;
	}
	return true;
}

static int check_msgid(const char *what, const char *id, char **error_r)
{
	if (msgid_ok(id, strlen(id)))
		return 0;
	char *s = shown(id);
	*error_r = xasprintf("%s \"%s\" is not a valid msg-id", what, s);
	free(s);
	return -1;
}

/* A JID as one header token: UTF-8 without spaces or controls. */
static int check_jid(const char *jid, char **error_r)
{
	size_t len = strlen(jid);
	if (len == 0 || len > JID_MAX || !ut_utf8_valid(jid, len)) {
		*error_r = xstrdup("Jabber-ID: empty, too long or not UTF-8");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)jid[i];
		if (c <= 0x20 || c == 0x7F ||
		    (c == 0xC2 && (unsigned char)jid[i + 1] <= 0x9F)) {
			*error_r = xstrdup("Jabber-ID: space or control "
					   "character");
			return -1;
		}
	}
	return 0;
}

static int check_version(const char *v, char **error_r)
{
	size_t len = strlen(v);
	bool ok = len > 0 && len <= VERSION_MAX;
	for (size_t i = 0; i < len && ok; i++) {
		char c = v[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     (c >= '0' && c <= '9') || strchr("._+~-", c) != NULL;
	}
	if (!ok)
		*error_r = xstrdup("version: only letters, digits and ._+~-");
	return ok ? 0 : -1;
}

static int check(const struct ms_compose *c, char **error_r)
{
	if (check_addr("From", c->from_addr, c->addr_flags, error_r) < 0)
		return -1;
	if (c->n_to + c->n_cc == 0) {
		*error_r = xstrdup("no recipient");
		return -1;
	}
	for (size_t i = 0; i < c->n_to; i++) {
		if (check_addr("To", c->to[i].addr, c->addr_flags, error_r) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->n_cc; i++) {
		if (check_addr("Cc", c->cc[i].addr, c->addr_flags, error_r) < 0)
			return -1;
	}
	if (c->message_id != NULL &&
	    check_msgid("Message-ID", c->message_id, error_r) < 0)
		return -1;
	if (c->parent_message_id != NULL &&
	    check_msgid("parent Message-ID", c->parent_message_id, error_r) < 0)
		return -1;
	if (c->jid != NULL && check_jid(c->jid, error_r) < 0)
		return -1;
	if (c->version != NULL && check_version(c->version, error_r) < 0)
		return -1;
	if (c->body_max > 0 && c->body_len > c->body_max) {
		*error_r = xasprintf("body too large (%zu octets, limit %zu)",
				     c->body_len, c->body_max);
		return -1;
	}
	return 0;
}

static int append_date(struct ut_buf *b, time_t t, bool local)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	long off = 0;
	if (local) {
		if (localtime_r(&t, &tm) == NULL)
			return -1;
		off = tm.tm_gmtoff / 60;
	} else if (gmtime_r(&t, &tm) == NULL) {
		return -1;
	}
	/* RFC 5322 years have 4 digits and start at 1900. */
	if (tm.tm_year < 0 || tm.tm_year > 9999 - 1900 || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	char sign = off < 0 ? '-' : '+';
	long a = off < 0 ? -off : off;
	ut_buf_appendf(
	    b, "Date: %s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, sign, a / 60 % 100, a % 60);
	return 0;
}

/* "<26 base32 characters@domain>" from 128 random bits. */
static char *generate_msgid(const char *from_addr)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char r[16];
	char id[27];
	ut_random_bytes(r, sizeof(r));
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < sizeof(r); i++) {
		acc = (acc << 8) | r[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			id[n++] = b32[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		id[n++] = b32[(acc << (5 - bits)) & 31];
	id[n] = '\0';
	const char *at = strrchr(from_addr, '@');
	return xasprintf("<%s@%s>", id, at + 1);
}

struct span {
	const char *s;
	size_t len;
};

/*
 * The References of a reply: the valid msg-ids of the parent's
 * References, then the parent's id unless it is there already; at most
 * MS_COMPOSE_REFS_MAX, dropping from the middle.
 */
static void append_references(struct ut_buf *b, const char *refs,
			      const char *parent)
{
	struct ms_hdr h;
	struct span *v = NULL;
	size_t n = 0, cap = 0;
	size_t plen = strlen(parent);
	bool have_parent = false;

	for (const char *p = refs; p != NULL && *p != '\0';) {
		const char *lt = strchr(p, '<');
		if (lt == NULL)
			break;
		const char *gt = strchr(lt + 1, '>');
		if (gt == NULL)
			break;
		/* A '<' inside means the first one was junk. */
		const char *lt2 = memchr(lt + 1, '<', (size_t)(gt - lt - 1));
		if (lt2 != NULL) {
			p = lt2;
			continue;
		}
		size_t len = (size_t)(gt - lt) + 1;
		if (msgid_ok(lt, len)) {
			if (n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			v[n++] = (struct span){lt, len};
			if (len == plen && memcmp(lt, parent, len) == 0)
				have_parent = true;
		}
		p = gt + 1;
	}
	if (!have_parent) {
		if (n == cap)
			v = xreallocarray(v, ++cap, sizeof(*v));
		v[n++] = (struct span){parent, plen};
	}
	ms_compose__hdr_begin(&h, b, "References");
	for (size_t i = 0; i < n; i++) {
		/* Keep the root and the latest MS_COMPOSE_REFS_MAX - 1. */
		if (n > MS_COMPOSE_REFS_MAX && i > 0 &&
		    i < n - (MS_COMPOSE_REFS_MAX - 1))
			continue;
		ms_compose__hdr_token(&h, v[i].s, v[i].len, true);
	}
	ms_compose__hdr_end(&h);
	free(v);
}

/* "name <addr>" or "addr", with a comma when more follow. */
static void append_mailbox(struct ms_hdr *h, const char *display,
			   const char *addr, bool comma)
{
	char *name = NULL;
	if (display != NULL)
		name = ut_utf8_clean_str(display, strlen(display),
					 UT_CLEAN_ONELINE, MS_ADDR_DISPLAY_MAX);
	char *tok =
	    xasprintf(name != NULL && name[0] != '\0' ? "<%s>%s" : "%s%s", addr,
		      comma ? "," : "");
	if (name != NULL)
		ms_compose__hdr_text(h, name, true);
	ms_compose__hdr_token(h, tok, strlen(tok), true);
	free(tok);
	free(name);
}

static void append_list(struct ut_buf *b, const char *name,
			const struct ms_addr *v, size_t n)
{
	struct ms_hdr h;
	if (n == 0)
		return;
	ms_compose__hdr_begin(&h, b, name);
	for (size_t i = 0; i < n; i++)
		append_mailbox(&h, v[i].display, v[i].addr, i + 1 < n);
	ms_compose__hdr_end(&h);
}

static void append_simple(struct ut_buf *b, const char *name, const char *v)
{
	struct ms_hdr h;
	ms_compose__hdr_begin(&h, b, name);
	ms_compose__hdr_token(&h, v, strlen(v), true);
	ms_compose__hdr_end(&h);
}

int ms_compose_build(const struct ms_compose *c, struct ut_buf *out,
		     char **message_id_r, char **error_r)
{
	struct ut_buf m = UT_BUF_INIT;
	struct ms_hdr h;

	if (check(c, error_r) < 0)
		return -1;
	if (append_date(&m, c->date, c->date_local) < 0) {
		ut_buf_free(&m);
		*error_r = xstrdup("date out of range");
		return -1;
	}

	ms_compose__hdr_begin(&h, &m, "From");
	append_mailbox(&h, c->from_name, c->from_addr, false);
	ms_compose__hdr_end(&h);
	append_list(&m, "To", c->to, c->n_to);
	append_list(&m, "Cc", c->cc, c->n_cc);

	const char *subj = c->subject != NULL ? c->subject : "";
	char *subject = ut_utf8_clean_str(subj, strlen(subj), UT_CLEAN_ONELINE,
					  MS_COMPOSE_SUBJECT_MAX);
	ms_compose__hdr_begin(&h, &m, "Subject");
	ms_compose__hdr_text(&h, subject, false);
	ms_compose__hdr_end(&h);
	free(subject);

	char *id = c->message_id != NULL ? xstrdup(c->message_id)
					 : generate_msgid(c->from_addr);
	append_simple(&m, "Message-ID", id);
	if (c->parent_message_id != NULL) {
		append_simple(&m, "In-Reply-To", c->parent_message_id);
		append_references(&m, c->parent_references,
				  c->parent_message_id);
	}

	struct ut_buf text = UT_BUF_INIT, body = UT_BUF_INIT;
	if (c->body != NULL)
		ut_utf8_clean(c->body, c->body_len, UT_CLEAN_MULTILINE, 0,
			      &text);
	const char *cte =
	    ms_compose__body(text.data, text.len, c->format_flowed, &body);
	ut_buf_free(&text);

	ut_buf_append_str(&m, "MIME-Version: 1.0\r\n");
	ut_buf_appendf(&m, "Content-Type: text/plain; charset=utf-8%s\r\n",
		       c->format_flowed ? "; format=flowed" : "");
	ut_buf_appendf(&m, "Content-Transfer-Encoding: %s\r\n", cte);
	if (c->jid != NULL) {
		ms_compose__hdr_begin(&h, &m, "Jabber-ID");
		bool ascii = true;
		for (const char *p = c->jid; *p != '\0'; p++)
			ascii = ascii && (unsigned char)*p < 0x80;
		if (ascii)
			ms_compose__hdr_token(&h, c->jid, strlen(c->jid), true);
		else
			ms_compose__hdr_text(&h, c->jid, false);
		ms_compose__hdr_end(&h);
	}
	ut_buf_appendf(&m, "User-Agent: tidings%s%s\r\n",
		       c->version != NULL ? "/" : "",
		       c->version != NULL ? c->version : "");
	ut_buf_append(&m, "\r\n", 2);
	ut_buf_append(&m, body.data, body.len);
	ut_buf_free(&body);

	ut_buf_append(out, m.data, m.len);
	ut_buf_free(&m);
	if (message_id_r != NULL)
		*message_id_r = id;
	else
		free(id);
	return 0;
}
