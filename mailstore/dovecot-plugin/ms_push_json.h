/* ms_push_json: the tidings event datagram encoder of the native Dovecot
 * push driver (lib30_tidings_push_plugin.so).
 *
 * It produces byte for byte what examples/dovecot/tidings-push.lua
 * (M.encode) produces for the same event: the same keys in the same order,
 * the same escaping (`"`, `\`, bytes below 0x20 and DEL escaped, with
 * \b \f \n \r \t short forms and lower-case \u00xx otherwise; a string that
 * is not valid UTF-8 has every byte >= 0x80 sent as \u00xx, read as
 * Latin-1), the same byte caps per field (cut without splitting a UTF-8
 * sequence) and the same 65000-byte limit. The format is documented in
 * examples/dovecot/EVENTS.md.
 *
 * This file depends on nothing but libc, so that it can be unit-tested and
 * compared with the Lua script outside Dovecot. It never allocates and is
 * safe for any input bytes.
 */
#ifndef MS_PUSH_JSON_H
#define MS_PUSH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* System flags, in the order the datagram lists them (the order in which
 * Dovecot's Lua driver hands them to the script). */
enum ms_push_flag {
	MS_PUSH_FLAG_ANSWERED = 0x01,
	MS_PUSH_FLAG_FLAGGED = 0x02,
	MS_PUSH_FLAG_DELETED = 0x04,
	MS_PUSH_FLAG_SEEN = 0x08,
	MS_PUSH_FLAG_DRAFT = 0x10,
	MS_PUSH_FLAG_RECENT = 0x20,
};

/* The largest datagram the encoder produces (the Lua script's
 * M.max_datagram); a longer event is refused. */
#define MS_PUSH_MAX_DATAGRAM_BYTES 65000

/* Byte caps per field, as in the Lua script's M.caps. */
#define MS_PUSH_CAP_USER	 500
#define MS_PUSH_CAP_MAILBOX	 500
#define MS_PUSH_CAP_MESSAGE_ID	 500
#define MS_PUSH_CAP_FROM	 1000
#define MS_PUSH_CAP_FROM_ADDRESS 500
#define MS_PUSH_CAP_FROM_NAME	 500
#define MS_PUSH_CAP_TO		 2000
#define MS_PUSH_CAP_SUBJECT	 1500
#define MS_PUSH_CAP_SNIPPET	 1500

/* One event. Strings are NUL-terminated and may hold any other bytes; an
 * optional string that is NULL or empty is left out of the datagram. The
 * structure only borrows its strings. */
struct ms_push_event {
	const char *event;   /* required, e.g. "MessageNew" */
	const char *user;    /* required (may be empty) */
	const char *mailbox; /* required (may be empty) */
	uint32_t uidvalidity;
	uint32_t uid;
	const char *message_id;
	const char *from;	  /* raw From header */
	const char *from_address; /* addr-spec of the first From mailbox */
	const char *from_name;	  /* decoded display name */
	const char *to;		  /* raw To header */
	const char *subject;	  /* decoded subject */
	const char *snippet;
	/* "date" and "tz" are written when has_date is set and date > 0. */
	bool has_date;
	int64_t date;
	int tz_mins;
	/* "flags" (an array, possibly empty) is written when has_flags is set;
	 * flags is a mask of enum ms_push_flag. */
	bool has_flags;
	unsigned int flags;
};

/* Encodes ev as one JSON object into buf (buf_size bytes, normally
 * MS_PUSH_MAX_DATAGRAM_BYTES) and stores its length (no NUL is written) in
 * *len_r. Returns 0, or -1 with *error_r set to a static string when a
 * required string is NULL or the datagram would exceed
 * min(buf_size, MS_PUSH_MAX_DATAGRAM_BYTES) bytes. */
int ms_push_encode(const struct ms_push_event *ev, char *buf, size_t buf_size,
		   size_t *len_r, const char **error_r);

/* True when s[0..len) is valid UTF-8 as Lua 5.4's utf8.len() judges it
 * (no overlong forms, no surrogates, nothing above U+10FFFF). */
bool ms_push_utf8_valid(const unsigned char *s, size_t len);

/* The length of s[0..len) cut to at most cap bytes without splitting a
 * UTF-8 sequence (the Lua script's M.cut: step back over continuation
 * bytes). */
size_t ms_push_cut_len(const unsigned char *s, size_t len, size_t cap);

#endif
