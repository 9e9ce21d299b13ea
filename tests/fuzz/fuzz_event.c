/*
 * Fuzz target for ms_event_parse. Every event that parses must hold what
 * the header promises:
 * - user and mailbox non-empty, a known type (uid and uidvalidity may be 0
 *   for MessageNew and MessageAppend: Dovecot did not know them yet);
 * - every string valid UTF-8 within its byte limit, one line (no control
 *   character at all) except the snippet, which may hold '\n' and TAB;
 * and a refused datagram comes with a one-line error of bounded length.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ms_event.h"
#include "ut_utf8.h"

static void check_str(const char *s, size_t max_bytes, int multiline)
{
	if (s == NULL)
		return;
	size_t len = strlen(s);
	if (len == 0 || len > max_bytes || !ut_utf8_valid(s, len))
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) ||
		    c == 0x7F)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_event *ev = NULL;
	char *error = NULL;

	if (ms_event_parse((const char *)data, size, &ev, &error) < 0) {
		if (ev != NULL || error == NULL || strlen(error) > 300 ||
		    strchr(error, '\n') != NULL)
			abort();
		free(error);
		return 0;
	}
	if (error != NULL || ev == NULL || ev->user == NULL ||
	    ev->mailbox == NULL ||
	    strcmp(ms_event_type_name(ev->type), "unknown") == 0)
		abort();
	/* UID 0 means "not known to Dovecot yet", for new mail only. */
	bool new_mail = ev->type == MS_EVENT_MESSAGE_NEW ||
			ev->type == MS_EVENT_MESSAGE_APPEND;
	if (!new_mail && (ev->uid == 0 || ev->uidvalidity == 0))
		abort();
	check_str(ev->user, MS_EVENT_FIELD_MAX, 0);
	check_str(ev->mailbox, MS_EVENT_FIELD_MAX, 0);
	check_str(ev->message_id, MS_EVENT_FIELD_MAX, 0);
	check_str(ev->from_address, MS_EVENT_FIELD_MAX, 0);
	check_str(ev->from_name, MS_EVENT_FIELD_MAX, 0);
	check_str(ev->to, MS_EVENT_FIELD_MAX, 0);
	check_str(ev->subject, MS_EVENT_SUBJECT_MAX, 0);
	check_str(ev->snippet, MS_EVENT_SNIPPET_MAX, 1);
	ms_event_free(&ev);
	if (ev != NULL)
		abort();
	return 0;
}
