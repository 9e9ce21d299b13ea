/*
 * Parsing of the JSON datagrams the Dovecot push script sends (see
 * ms_event.h and examples/dovecot/EVENTS.md). jansson does the JSON
 * (strict: duplicate keys are refused, NUL inside strings is allowed and
 * later dropped by the cleaner); this file checks the shape and cleans
 * every string.
 */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ms_event.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"

/* How much of an offending value an error message may quote. */
#define EXCERPT_MAX_BYTES 40

static const struct {
	enum ms_event_type type;
	const char *name;
} event_names[] = {
    {MS_EVENT_MESSAGE_NEW, "MessageNew"},
    {MS_EVENT_MESSAGE_APPEND, "MessageAppend"},
    {MS_EVENT_MESSAGE_READ, "MessageRead"},
    {MS_EVENT_MESSAGE_TRASH, "MessageTrash"},
    {MS_EVENT_MESSAGE_EXPUNGE, "MessageExpunge"},
    {MS_EVENT_FLAGS_SET, "FlagsSet"},
    {MS_EVENT_FLAGS_CLEAR, "FlagsClear"},
};

static const struct {
	enum ms_flag flag;
	const char *name;
} flag_names[] = {
    {MS_FLAG_SEEN, "\\Seen"},	    {MS_FLAG_ANSWERED, "\\Answered"},
    {MS_FLAG_FLAGGED, "\\Flagged"}, {MS_FLAG_DELETED, "\\Deleted"},
    {MS_FLAG_DRAFT, "\\Draft"},
};

const char *ms_event_type_name(enum ms_event_type type)
{
	for (size_t i = 0; i < UT_N_ELEMENTS(event_names); i++) {
		if (event_names[i].type == type)
			return event_names[i].name;
	}
	return "unknown";
}

/* A short, cleaned, one-line excerpt of untrusted text for error messages. */
static char *excerpt(const char *s, size_t len, size_t max_bytes)
{
	return ut_utf8_clean_str(s, len, UT_CLEAN_ONELINE, max_bytes);
}

/*
 * Reads an integral JSON number (an integer, or a real with an integral
 * value, as Dovecot's Lua numbers may be) within [min, max]. Returns 0 or -1.
 */
static int get_integral(const json_t *v, double min, double max, int64_t *r)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if ((double)i < min || (double)i > max)
			return -1;
		*r = (int64_t)i;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* In range first: then the cast is defined, and a value with
		   a fraction does not survive it (no libm needed). */
		if (!isfinite(d) || d < min || d > max ||
		    d != (double)(int64_t)d)
			return -1;
		*r = (int64_t)d;
		return 0;
	}
	return -1;
}

/* Cleans a string member; NULL when absent, not a string, or empty after
   cleaning. */
static char *get_clean(const json_t *obj, const char *key, unsigned flags,
		       size_t max_bytes)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return NULL;
	char *s = ut_utf8_clean_str(json_string_value(v), json_string_length(v),
				    flags, max_bytes);
	if (*s == '\0') {
		free(s);
		return NULL;
	}
	return s;
}

static unsigned parse_flags(const json_t *arr)
{
	unsigned flags = 0;
	size_t i;
	const json_t *v;

	if (!json_is_array(arr))
		return 0;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			continue;
		const char *s = json_string_value(v);
		for (size_t k = 0; k < UT_N_ELEMENTS(flag_names); k++) {
			if (strcasecmp(s, flag_names[k].name) == 0 &&
			    strlen(s) == json_string_length(v))
				flags |= flag_names[k].flag;
		}
	}
	return flags;
}

static int parse_type(const json_t *obj, enum ms_event_type *type_r,
		      char **error_r)
{
	const json_t *v = json_object_get(obj, "event");
	if (!json_is_string(v)) {
		*error_r = xstrdup("missing or invalid \"event\"");
		return -1;
	}
	const char *name = json_string_value(v);
	size_t len = json_string_length(v);
	for (size_t i = 0; i < UT_N_ELEMENTS(event_names); i++) {
		if (strlen(event_names[i].name) == len &&
		    memcmp(event_names[i].name, name, len) == 0) {
			*type_r = event_names[i].type;
			return 0;
		}
	}
	char *ex = excerpt(name, len, EXCERPT_MAX_BYTES);
	*error_r = xasprintf("unknown event \"%s\"", ex);
	free(ex);
	return -1;
}

static int parse_required(const json_t *obj, struct ms_event *ev,
			  char **error_r)
{
	int64_t n;

	if (get_integral(json_object_get(obj, "v"), 1, 1, &n) < 0) {
		*error_r = xstrdup("missing or unsupported \"v\" (want 1)");
		return -1;
	}
	if (parse_type(obj, &ev->type, error_r) < 0)
		return -1;
	ev->user = get_clean(obj, "user", UT_CLEAN_ONELINE, MS_EVENT_FIELD_MAX);
	if (ev->user == NULL) {
		*error_r = xstrdup("missing or empty \"user\"");
		return -1;
	}
	ev->mailbox =
	    get_clean(obj, "mailbox", UT_CLEAN_ONELINE, MS_EVENT_FIELD_MAX);
	if (ev->mailbox == NULL) {
		*error_r = xstrdup("missing or empty \"mailbox\"");
		return -1;
	}
	/* A new or appended mail can come with UID 0 (and UIDVALIDITY 0)
	   when Dovecot could not learn them at commit time (e.g. a locked
	   maildir uidlist): the router looks such a mail up over IMAP. */
	double lowest = ev->type == MS_EVENT_MESSAGE_NEW ||
				ev->type == MS_EVENT_MESSAGE_APPEND
			    ? 0
			    : 1;
	if (get_integral(json_object_get(obj, "uidvalidity"), lowest,
			 UINT32_MAX, &n) < 0) {
		*error_r = xstrdup("missing or invalid \"uidvalidity\"");
		return -1;
	}
	ev->uidvalidity = (uint32_t)n;
	if (get_integral(json_object_get(obj, "uid"), lowest, UINT32_MAX, &n) <
	    0) {
		*error_r = xstrdup("missing or invalid \"uid\"");
		return -1;
	}
	ev->uid = (uint32_t)n;
	return 0;
}

/* Optional members: a wrong type counts as absent rather than rejecting the
   whole event, so one odd field never costs a notification. */
static void parse_optional(const json_t *obj, struct ms_event *ev)
{
	int64_t n;

	ev->message_id =
	    get_clean(obj, "message_id", UT_CLEAN_ONELINE, MS_EVENT_FIELD_MAX);
	ev->from_address = get_clean(obj, "from_address", UT_CLEAN_ONELINE,
				     MS_EVENT_FIELD_MAX);
	ev->from_name =
	    get_clean(obj, "from_name", UT_CLEAN_ONELINE, MS_EVENT_FIELD_MAX);
	ev->to = get_clean(obj, "to", UT_CLEAN_ONELINE, MS_EVENT_FIELD_MAX);
	ev->subject =
	    get_clean(obj, "subject", UT_CLEAN_ONELINE, MS_EVENT_SUBJECT_MAX);
	ev->snippet =
	    get_clean(obj, "snippet", UT_CLEAN_MULTILINE, MS_EVENT_SNIPPET_MAX);
	/* Dates beyond year 9999 or before 1970 are not real mail dates. */
	if (get_integral(json_object_get(obj, "date"), 0, 253402300799.0, &n) ==
	    0)
		ev->date = n;
	/* Time zones lie within a day of UTC. */
	if (get_integral(json_object_get(obj, "tz"), -1440, 1440, &n) == 0)
		ev->tz_offset_mins = (int32_t)n;
	ev->flags = parse_flags(json_object_get(obj, "flags"));
}

int ms_event_parse(const char *data, size_t len, struct ms_event **ev_r,
		   char **error_r)
{
	json_error_t jerr;
	json_t *root;

	*ev_r = NULL;
	*error_r = NULL;
	if (len > MS_EVENT_MAX_BYTES) {
		*error_r = xasprintf("datagram too large (%zu bytes, limit %d)",
				     len, MS_EVENT_MAX_BYTES);
		return -1;
	}
	if (len == 0) {
		*error_r = xstrdup("empty datagram");
		return -1;
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
			  &jerr);
	if (root == NULL) {
		/* jansson's text may quote the input near the error. */
		char *ex =
		    excerpt(jerr.text, strnlen(jerr.text, sizeof(jerr.text)),
			    2 * EXCERPT_MAX_BYTES);
		*error_r = xasprintf("not valid JSON at byte %d: %s",
				     jerr.position, ex);
		free(ex);
		return -1;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*error_r = xstrdup("not a JSON object");
		return -1;
	}

	struct ms_event *ev = xcalloc(1, sizeof(*ev));
	if (parse_required(root, ev, error_r) < 0) {
		json_decref(root);
		ms_event_free(&ev);
		return -1;
	}
	parse_optional(root, ev);
	json_decref(root);
	*ev_r = ev;
	return 0;
}

void ms_event_free(struct ms_event **evp)
{
	struct ms_event *ev = *evp;
	if (ev == NULL)
		return;
	free(ev->user);
	free(ev->mailbox);
	free(ev->message_id);
	free(ev->from_address);
	free(ev->from_name);
	free(ev->to);
	free(ev->subject);
	free(ev->snippet);
	free(ev);
	*evp = NULL;
}
