/* ms_push_json: see ms_push_json.h. */
#include "ms_push_json.h"

#include <string.h>

/* A bounded output buffer: once something does not fit, every further
 * append is ignored and the encoding fails. */
struct out {
	char *buf;
	size_t size;
	size_t len;
	bool overflow;
};

static void out_mem(struct out *o, const void *p, size_t n)
{
	if (o->overflow)
		return;
	if (n > o->size - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void out_str(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_byte(struct out *o, char c)
{
	out_mem(o, &c, 1);
}

/* Writes v in decimal. */
static void out_int(struct out *o, int64_t v)
{
	char digits[24];
	size_t i = sizeof(digits);
	/* Work on the magnitude as unsigned so INT64_MIN is safe. */
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		digits[--i] = '-';
	out_mem(o, digits + i, sizeof(digits) - i);
}

bool ms_push_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xBF;
		size_t extra;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			extra = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			extra = 2;
			if (c == 0xE0)
				lo = 0xA0; /* no overlong forms */
			else if (c == 0xED)
				hi = 0x9F; /* no surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			extra = 3;
			if (c == 0xF0)
				lo = 0x90; /* no overlong forms */
			else if (c == 0xF4)
				hi = 0x8F; /* nothing above U+10FFFF */
		} else {
			return false;
		}
		if (len - i <= extra)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= extra; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += extra + 1;
	}
	return true;
}

size_t ms_push_cut_len(const unsigned char *s, size_t len, size_t cap)
{
	size_t k;

	if (len <= cap)
		return len;
	/* Step back while the byte after the cut is a continuation byte. */
	for (k = cap; k > 0; k--) {
		if (s[k] < 0x80 || s[k] >= 0xC0)
			break;
	}
	return k;
}

/* Writes s (capped at cap bytes, 0 for no cap) as a JSON string literal,
 * escaping exactly what the Lua script escapes. */
static void out_json_string(struct out *o, const char *str, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str);
	bool latin1;

	if (cap != 0)
		len = ms_push_cut_len(s, len, cap);
	latin1 = !ms_push_utf8_valid(s, len);
	out_byte(o, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		size_t run = i;
		char esc[6];

		/* Copy a run of bytes that need no escape in one go. */
		while (run < len && s[run] >= 0x20 && s[run] != '"' &&
		       s[run] != '\\' && s[run] != 0x7F &&
		       (!latin1 || s[run] < 0x80))
			run++;
		if (run > i) {
			out_mem(o, s + i, run - i);
			i = run - 1;
			continue;
		}
		switch (c) {
		case '"':
			out_str(o, "\\\"");
			break;
		case '\\':
			out_str(o, "\\\\");
			break;
		case '\b':
			out_str(o, "\\b");
			break;
		case '\f':
			out_str(o, "\\f");
			break;
		case '\n':
			out_str(o, "\\n");
			break;
		case '\r':
			out_str(o, "\\r");
			break;
		case '\t':
			out_str(o, "\\t");
			break;
		default:
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0x0F];
			out_mem(o, esc, sizeof(esc));
			break;
		}
	}
	out_byte(o, '"');
}

/* Writes ,"key":"value" when value is a non-empty string. */
static void out_opt_string(struct out *o, const char *key, const char *value,
			   size_t cap)
{
	if (value == NULL || value[0] == '\0')
		return;
	out_str(o, ",\"");
	out_str(o, key);
	out_str(o, "\":");
	out_json_string(o, value, cap);
}

static void out_flags(struct out *o, unsigned int flags)
{
	static const struct {
		unsigned int bit;
		const char *json;
	} names[] = {
	    {MS_PUSH_FLAG_ANSWERED, "\"\\\\Answered\""},
	    {MS_PUSH_FLAG_FLAGGED, "\"\\\\Flagged\""},
	    {MS_PUSH_FLAG_DELETED, "\"\\\\Deleted\""},
	    {MS_PUSH_FLAG_SEEN, "\"\\\\Seen\""},
	    {MS_PUSH_FLAG_DRAFT, "\"\\\\Draft\""},
	    {MS_PUSH_FLAG_RECENT, "\"\\\\Recent\""},
	};
	bool first = true;

	out_str(o, ",\"flags\":[");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((flags & names[i].bit) == 0)
			continue;
		if (!first)
			out_byte(o, ',');
		out_str(o, names[i].json);
		first = false;
	}
	out_byte(o, ']');
}

int ms_push_encode(const struct ms_push_event *ev, char *buf, size_t buf_size,
		   size_t *len_r, const char **error_r)
{
	struct out o = {.buf = buf, .size = buf_size};

	if (ev->event == NULL || ev->user == NULL || ev->mailbox == NULL) {
		*error_r = "event, user or mailbox missing";
		return -1;
	}
	if (o.size > MS_PUSH_MAX_DATAGRAM_BYTES)
		o.size = MS_PUSH_MAX_DATAGRAM_BYTES;

	out_str(&o, "{\"v\":1,\"event\":");
	out_json_string(&o, ev->event, 0);
	out_str(&o, ",\"user\":");
	out_json_string(&o, ev->user, MS_PUSH_CAP_USER);
	out_str(&o, ",\"mailbox\":");
	out_json_string(&o, ev->mailbox, MS_PUSH_CAP_MAILBOX);
	out_str(&o, ",\"uidvalidity\":");
	out_int(&o, ev->uidvalidity);
	out_str(&o, ",\"uid\":");
	out_int(&o, ev->uid);
	out_opt_string(&o, "message_id", ev->message_id,
		       MS_PUSH_CAP_MESSAGE_ID);
	out_opt_string(&o, "from", ev->from, MS_PUSH_CAP_FROM);
	out_opt_string(&o, "from_address", ev->from_address,
		       MS_PUSH_CAP_FROM_ADDRESS);
	out_opt_string(&o, "from_name", ev->from_name, MS_PUSH_CAP_FROM_NAME);
	out_opt_string(&o, "to", ev->to, MS_PUSH_CAP_TO);
	out_opt_string(&o, "subject", ev->subject, MS_PUSH_CAP_SUBJECT);
	out_opt_string(&o, "snippet", ev->snippet, MS_PUSH_CAP_SNIPPET);
	if (ev->has_date && ev->date > 0) {
		out_str(&o, ",\"date\":");
		out_int(&o, ev->date);
		out_str(&o, ",\"tz\":");
		out_int(&o, ev->tz_mins);
	}
	if (ev->has_flags)
		out_flags(&o, ev->flags);
	out_byte(&o, '}');
	if (o.overflow) {
		*error_r = "datagram too large";
		return -1;
	}
	*len_r = o.len;
	return 0;
}
