#ifndef MS_EVENT_H
#define MS_EVENT_H

/*
 * Mail events as the Dovecot push script (examples/dovecot/tidings-push.lua)
 * sends them: one JSON object per UNIX datagram, documented in
 * examples/dovecot/EVENTS.md:
 *
 *   {"v":1,"event":"MessageNew","user":"bob@example.org","mailbox":"INBOX",
 *    "uidvalidity":1732,"uid":5,"message_id":"<x@y>","from":"raw header",
 *    "from_address":"alice@example.org","from_name":"Alice","to":"raw",
 *    "subject":"decoded subject","snippet":"first words","date":1732000000,
 *    "tz":60,"flags":["\\Seen"]}
 *
 * The parser trusts nothing: every string comes out as clean UTF-8
 * (ut_utf8_clean), one line except the snippet, bounded in length; unknown
 * keys are ignored; a missing or invalid required key rejects the datagram.
 */

#include <stddef.h>
#include <stdint.h>

#define MS_EVENT_MAX_BYTES 65536 /* larger datagrams are refused */

enum ms_event_type {
	MS_EVENT_MESSAGE_NEW = 1, /* delivered (LMTP/LDA) */
	MS_EVENT_MESSAGE_APPEND, /* IMAP APPEND, e.g. a client saving to Sent */
	MS_EVENT_MESSAGE_READ,	 /* \Seen set */
	MS_EVENT_MESSAGE_TRASH,	 /* \Deleted set */
	MS_EVENT_MESSAGE_EXPUNGE,
	MS_EVENT_FLAGS_SET,
	MS_EVENT_FLAGS_CLEAR,
};

enum ms_flag {
	MS_FLAG_SEEN = 1 << 0,
	MS_FLAG_ANSWERED = 1 << 1,
	MS_FLAG_FLAGGED = 1 << 2,
	MS_FLAG_DELETED = 1 << 3,
	MS_FLAG_DRAFT = 1 << 4,
};

/* Limits applied while cleaning (bytes, UTF-8, cut at a character). */
#define MS_EVENT_SUBJECT_MAX 1024
#define MS_EVENT_SNIPPET_MAX 1024
#define MS_EVENT_FIELD_MAX   512

struct ms_event {
	enum ms_event_type type;
	char *user;    /* Dovecot username, non-empty */
	char *mailbox; /* mailbox name (UTF-8), non-empty */
	/* Nonzero, except for MessageNew and MessageAppend: there 0 (in
	   either) means Dovecot did not know it yet when it committed the
	   mail (e.g. a locked maildir uidlist), and the mail has to be found
	   over IMAP. */
	uint32_t uidvalidity;
	uint32_t uid;
	/* NULL when absent. */
	char *message_id;
	char *from_address; /* addr-spec, e.g. alice@example.org */
	char *from_name;    /* display name, decoded */
	char *to;	    /* raw To header, cleaned */
	char *subject;	    /* decoded */
	char *snippet;	    /* may hold newlines */
	int64_t date;	    /* unix seconds; 0 when unknown */
	int32_t tz_offset_mins;
	unsigned flags; /* enum ms_flag: flags of the message (or the flags
			   set/cleared, for FlagsSet/FlagsClear) */
};

/*
 * Parses one datagram. Returns 0 and an event (free with ms_event_free), or
 * -1 with an xmalloc'ed reason in *error_r (never containing the payload
 * verbatim beyond a short cleaned excerpt).
 */
int ms_event_parse(const char *data, size_t len, struct ms_event **ev_r,
		   char **error_r);
void ms_event_free(struct ms_event **ev);
const char *ms_event_type_name(enum ms_event_type type);

#endif
