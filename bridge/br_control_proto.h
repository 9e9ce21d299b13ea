#ifndef BR_CONTROL_PROTO_H
#define BR_CONTROL_PROTO_H

/*
 * The control socket's protocol (tidingsctl <-> tidingsd), without I/O:
 * parsing a request line and building the JSON replies. Pure functions,
 * for br_control.c, the unit tests and the fuzz target.
 *
 * A request is one line of UTF-8 text, at most BR_CONTROL_LINE_MAX bytes
 * before its LF (a CR before the LF is dropped): a command word and, for
 * some commands, one argument, separated by spaces:
 *   status | reload | user JID | resync JID | test JID
 * JID is the bare JID of a local user: its domain one tidings serves and
 * its localpart one that maps to a mailbox (br_jidmap_jid()).
 *
 * Every reply is one line: a JSON object followed by LF, with "ok":true
 * and the command's fields, or {"ok":false,"error":"text"}. Jansson
 * escapes every string (control characters become \uXXXX), so nothing a
 * mail or a peer put into a text can end the line early.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_router.h"
#include "br_settings.h"
#include "br_status.h"

#define BR_CONTROL_LINE_MAX 1024

enum br_control_cmd {
	BR_CONTROL_STATUS,
	BR_CONTROL_USER,
	BR_CONTROL_RESYNC,
	BR_CONTROL_TEST,
	BR_CONTROL_RELOAD,
};

struct br_control_request {
	enum br_control_cmd cmd;
	/* user, resync, test: the bare JID (domain lower-cased) and the
	   canonical key of its Dovecot user; both xmalloc'ed. NULL for the
	   other commands. */
	char *jid;
	char *key;
};

/*
 * Parses line[0..len) (without its LF; it may hold NUL bytes, which are
 * refused). Returns 0 with *req_r filled (free with
 * br_control_request_clear()), or -1 with an xmalloc'ed error for the
 * reply in *error_r (*req_r then holds nothing to free).
 */
int br_control_parse(const struct br_config *cfg, const char *line, size_t len,
		     struct br_control_request *req_r, char **error_r);
void br_control_request_clear(struct br_control_request *req);
/* "status", "user", ... */
const char *br_control_cmd_name(enum br_control_cmd cmd);

/* "2026-12-01T10:32:05Z" (UTC) into buf. */
void br_control_iso8601(int64_t unix_secs, char buf[32]);

/* The status reply {"ok":true,"version":...} for st at time now. */
json_t *br_control_status_json(const struct br_status *st, int64_t now);

/* What the user reply shows; every pointer is the caller's. */
struct br_control_user {
	const char *jid;
	const char *key;
	enum br_presence presence; /* as tracked (br_online) */
	const struct br_settings *settings;
	const struct br_router_user_info *pending;
	const struct br_ledger_recent *recent; /* newest first */
	size_t recent_count;
};

/* The user reply {"ok":true,"jid":...,"presence":...,"settings":{...},
   "pending":{...},"last_notified":[...]}. */
json_t *br_control_user_json(const struct br_control_user *u);

/*
 * The reply line for obj (consumed): compact JSON and LF, xmalloc'ed, its
 * length in *len_r.
 */
char *br_control_reply(json_t *obj, size_t *len_r);
/* {"ok":false,"error":text} and LF (text need not be valid UTF-8: invalid
   bytes become U+FFFD). */
char *br_control_error_reply(const char *text, size_t *len_r);

#endif
