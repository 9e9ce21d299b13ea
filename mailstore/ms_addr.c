/*
 * Address validation and recipient fields (see ms_addr.h).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ms_addr.h"
#include "ut_buf.h"
#include "ut_str.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* Characters of an entry shown in an error message. */
#define ERROR_ENTRY_MAX 60

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 5322 atext (ASCII part). */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Valid UTF-8 without C1 controls (U+0080..U+009F: C2 80..C2 9F). */
static bool utf8_ok(const char *s, size_t len)
{
	if (!ut_utf8_valid(s, len))
		return false;
	for (size_t i = 0; i + 1 < len; i++) {
		if ((unsigned char)s[i] == 0xC2 &&
		    (unsigned char)s[i + 1] <= 0x9F)
			return false;
	}
	return true;
}

static int check_local(const char *s, size_t len, unsigned flags,
		       const char **error_r)
{
	bool utf8 = (flags & MS_ADDR_UTF8) != 0;
	bool high = false;

	if (len == 0) {
		*error_r = "the local part (before '@') is empty";
		return -1;
	}
	if (len > MS_ADDR_LOCAL_MAX) {
		*error_r = "the local part is longer than 64 octets";
		return -1;
	}
	if (s[0] == '"') {
		if (len < 3 || s[len - 1] != '"') {
			*error_r = "the quoted local part is malformed";
			return -1;
		}
		for (size_t i = 1; i < len - 1; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				i++;
				c = (unsigned char)s[i];
				if (i >= len - 1 || c < 0x20 || c == 0x7F) {
					*error_r = "bad quoted pair in the "
						   "local part";
					return -1;
				}
			} else if (c == '"') {
				*error_r = "the quoted local part is malformed";
				return -1;
			} else if (c < 0x20 || c == 0x7F) {
				*error_r = "control character in the address";
				return -1;
			}
			if (c >= 0x80)
				high = true;
		}
	} else {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '.') {
				if (i == 0 || i == len - 1 || s[i - 1] == '.') {
					*error_r = "misplaced '.' in the local "
						   "part";
					return -1;
				}
			} else if (c >= 0x80) {
				high = true;
			} else if (c < 0x20 || c == 0x7F) {
				*error_r = "control character in the address";
				return -1;
			} else if (!is_atext(c)) {
				*error_r = "character not allowed in the local "
					   "part (quote it)";
				return -1;
			}
		}
	}
	if (high && !utf8) {
		*error_r = "non-ASCII local part (SMTPUTF8) not allowed";
		return -1;
	}
	if (high && !utf8_ok(s, len)) {
		*error_r = "the local part is not valid UTF-8";
		return -1;
	}
	return 0;
}

static int check_literal(const char *s, size_t len, const char **error_r)
{
	char tmp[64];
	const char *body = s + 1;
	size_t body_len = len - 2;
	int af = AF_INET;

	if (len < 3 || s[len - 1] != ']') {
		*error_r = "malformed address literal";
		return -1;
	}
	if (body_len > 5 && strncasecmp(body, "IPv6:", 5) == 0) {
		af = AF_INET6;
		body += 5;
		body_len -= 5;
	}
	unsigned char buf[16];
	if (body_len >= sizeof(tmp) || memchr(body, '\0', body_len) != NULL) {
		*error_r = "malformed address literal";
		return -1;
	}
	memcpy(tmp, body, body_len);
	tmp[body_len] = '\0';
	if (inet_pton(af, tmp, buf) != 1) {
		*error_r = af == AF_INET6 ? "bad IPv6 address literal"
					  : "bad IPv4 address literal";
		return -1;
	}
	return 0;
}

static int check_domain(const char *s, size_t len, const char **error_r)
{
	if (len == 0) {
		*error_r = "the domain (after '@') is empty";
		return -1;
	}
	if (len > MS_ADDR_DOMAIN_MAX) {
		*error_r = "the domain is longer than 255 octets";
		return -1;
	}
	if (s[0] == '[')
		return check_literal(s, len, error_r);

	size_t label_start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c == 0x7F) {
				*error_r = "control character in the address";
				return -1;
			}
			if (c >= 0x80) {
				*error_r = "non-ASCII domain (use its xn-- "
					   "form)";
				return -1;
			}
			if (!is_alnum(c) && c != '-') {
				*error_r = "character not allowed in the "
					   "domain";
				return -1;
			}
			continue;
		}
		size_t label_len = i - label_start;
		if (label_len == 0) {
			*error_r = "empty label in the domain";
			return -1;
		}
		if (label_len > 63) {
			*error_r = "domain label longer than 63 octets";
			return -1;
		}
		if (s[label_start] == '-' || s[i - 1] == '-') {
			*error_r = "domain label starts or ends with '-'";
			return -1;
		}
		label_start = i + 1;
	}
	return 0;
}

int ms_addr_validate(const char *addr, size_t len, unsigned flags,
		     const char **error_r)
{
	if (addr == NULL || len == 0) {
		*error_r = "empty address";
		return -1;
	}
	if (len > MS_ADDR_MAX) {
		*error_r = "the address is longer than 254 octets";
		return -1;
	}
	const char *at = NULL;
	for (size_t i = len; i > 0; i--) {
		if (addr[i - 1] == '@') {
			at = addr + i - 1;
			break;
		}
	}
	if (at == NULL) {
		*error_r = "no '@' in the address";
		return -1;
	}
	size_t local_len = (size_t)(at - addr);
	if (check_local(addr, local_len, flags, error_r) < 0)
		return -1;
	return check_domain(at + 1, len - local_len - 1, error_r);
}

/* The domain part of a validated address. */
static const char *domain_of(const char *a)
{
	const char *at = strrchr(a, '@');
	return at != NULL ? at + 1 : a + strlen(a);
}

bool ms_addr_equal(const char *a, const char *b)
{
	const char *da = domain_of(a), *db = domain_of(b);
	size_t la = (size_t)(da - a), lb = (size_t)(db - b);
	return la == lb && memcmp(a, b, la) == 0 && ut_ascii_caseeq(da, db);
}

void ms_addr_list_clear(struct ms_addr_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].addr);
		free(list->v[i].display);
	}
	ut_free(&list->v);
	list->n = 0;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
	while (*len > 0 && is_wsp((*s)[0])) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_wsp((*s)[*len - 1]))
		(*len)--;
}

/* Unquotes a quoted display name s[0..len) (s[0] == '"'). Returns -1 when
   it is not exactly one quoted string. */
static int unquote(const char *s, size_t len, struct ut_buf *out)
{
	size_t i = 1;
	for (; i < len && s[i] != '"'; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		ut_buf_append_c(out, s[i]);
	}
	if (i >= len)
		return -1;
	for (i++; i < len; i++) {
		if (!is_wsp(s[i]))
			return -1;
	}
	return 0;
}

/*
 * Parses one entry (trimmed, non-empty) into e. Returns -1 with a static
 * reason.
 */
static int parse_entry(const char *s, size_t len, unsigned flags,
		       struct ms_addr *e, const char **error_r)
{
	const char *addr = s, *name = NULL;
	size_t addr_len = len, name_len = 0;
	bool quoted = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7F) {
			*error_r = "control character in the entry";
			return -1;
		}
	}
	/* Find '<' outside a quoted string. */
	const char *lt = NULL;
	for (size_t i = 0; i < len && lt == NULL; i++) {
		if (quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '<')
			lt = s + i;
	}
	if (quoted) {
		*error_r = "unterminated quoted string";
		return -1;
	}
	if (lt != NULL) {
		name = s;
		name_len = (size_t)(lt - s);
		const char *gt = NULL;
		quoted = false;
		for (const char *p = lt + 1; p < s + len && gt == NULL; p++) {
			if (quoted && *p == '\\')
				p++;
			else if (*p == '"')
				quoted = !quoted;
			else if (!quoted && *p == '>')
				gt = p;
		}
		if (gt == NULL) {
			*error_r = "missing '>'";
			return -1;
		}
		for (const char *p = gt + 1; p < s + len; p++) {
			if (!is_wsp(*p)) {
				*error_r = "text after '>'";
				return -1;
			}
		}
		addr = lt + 1;
		addr_len = (size_t)(gt - addr);
		trim(&addr, &addr_len);
		trim(&name, &name_len);
	}
	if (ms_addr_validate(addr, addr_len, flags, error_r) < 0)
		return -1;

	struct ut_buf raw = UT_BUF_INIT;
	if (name_len > 0 && name[0] == '"') {
		if (unquote(name, name_len, &raw) < 0) {
			ut_buf_free(&raw);
			*error_r = "text around the quoted name";
			return -1;
		}
	} else if (name_len > 0) {
		if (memchr(name, '"', name_len) != NULL ||
		    memchr(name, '>', name_len) != NULL) {
			*error_r = "stray '\"' or '>' in the name";
			return -1;
		}
		ut_buf_append(&raw, name, name_len);
	}
	e->addr = xstrndup(addr, addr_len);
	e->display = NULL;
	if (raw.len > 0) {
		char *d = ut_utf8_clean_str(raw.data, raw.len, UT_CLEAN_ONELINE,
					    MS_ADDR_DISPLAY_MAX);
		if (d[0] != '\0')
			e->display = d;
		else
			free(d);
	}
	ut_buf_free(&raw);
	return 0;
}

static char *entry_error(const char *s, size_t len, const char *reason)
{
	char *shown =
	    ut_utf8_clean_str(s, len, UT_CLEAN_ONELINE, ERROR_ENTRY_MAX);
	char *msg = xasprintf("\"%s\": %s", shown, reason);
	free(shown);
	return msg;
}

int ms_addr_list_parse(const char *field, size_t len, size_t max_addrs,
		       unsigned flags, struct ms_addr_list *list_r,
		       char **error_r)
{
	size_t cap = 0;
	size_t start = 0;
	bool quoted = false, angle = false;

	list_r->v = NULL;
	list_r->n = 0;
	if (field == NULL)
		len = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len) {
			char c = field[i];
			if (quoted && c == '\\') {
				if (i + 1 < len)
					i++;
				continue;
			}
			if (c == '"')
				quoted = !quoted;
			else if (!quoted && c == '<')
				angle = true;
			else if (!quoted && c == '>')
				angle = false;
			if (quoted || angle ||
			    (c != ',' && c != ';' && c != '\n' && c != '\r'))
				continue;
		}
		const char *s = field + start;
		size_t n = (i < len ? i : len) - start;
		start = i + 1;
		trim(&s, &n);
		if (n == 0)
			continue;

		struct ms_addr e;
		const char *reason;
		if (parse_entry(s, n, flags, &e, &reason) < 0) {
			*error_r = entry_error(s, n, reason);
			ms_addr_list_clear(list_r);
			return -1;
		}
		bool dup = false;
		for (size_t k = 0; k < list_r->n && !dup; k++)
			dup = ms_addr_equal(list_r->v[k].addr, e.addr);
		if (dup) {
			free(e.addr);
			free(e.display);
			continue;
		}
		if (list_r->n >= max_addrs) {
			free(e.addr);
			free(e.display);
			ms_addr_list_clear(list_r);
			*error_r = xasprintf(
			    "too many recipients (at most %zu)", max_addrs);
			return -1;
		}
		if (list_r->n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			list_r->v =
			    xreallocarray(list_r->v, cap, sizeof(*list_r->v));
		}
		list_r->v[list_r->n++] = e;
	}
	return 0;
}
