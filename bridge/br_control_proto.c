/*
 * The control socket's protocol without I/O (see br_control_proto.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "br_control_proto.h"
#include "br_jidmap.h"
#include "ut_utf8.h"
#include "ut_xalloc.h"
#include "xm_jid.h"

static const struct {
	const char *name;
	enum br_control_cmd cmd;
	bool takes_jid;
} commands[] = {
    {"status", BR_CONTROL_STATUS, false}, {"user", BR_CONTROL_USER, true},
    {"resync", BR_CONTROL_RESYNC, true},  {"test", BR_CONTROL_TEST, true},
    {"reload", BR_CONTROL_RELOAD, false},
};

const char *br_control_cmd_name(enum br_control_cmd cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].cmd == cmd)
			return commands[i].name;
	return "?";
}

void br_control_request_clear(struct br_control_request *req)
{
	free(req->jid);
	free(req->key);
	req->jid = req->key = NULL;
}

/* The words of a line: at most three, so that "user a b" is told apart
   from "user a". Returns how many there are (3: more than two). */
static size_t split_words(char *s, char *words[3])
{
	size_t n = 0;
	char *save = NULL;
	for (char *w = strtok_r(s, " ", &save); w != NULL && n < 3;
	     w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	return n;
}

/* The JID argument: a bare JID of a user tidings serves. */
static int parse_jid(const struct br_config *cfg, const char *arg,
		     struct br_control_request *req, char **error_r)
{
	char *node = NULL, *domain = NULL, *resource = NULL;

	if (xm_jid_split(arg, &node, &domain, &resource) < 0) {
		*error_r = xasprintf("not a JID: %s", arg);
		return -1;
	}
	bool bare = resource == NULL, has_node = node != NULL;
	free(node);
	free(domain);
	free(resource);
	if (!bare) {
		*error_r = xasprintf("give a bare JID (no /resource): %s", arg);
		return -1;
	}
	char *jid = has_node ? xm_jid_bare(arg) : NULL;
	char *key = NULL;
	if (jid == NULL || br_jidmap_jid(cfg, jid, &key) < 0) {
		free(jid);
		*error_r = xasprintf("not a user tidings serves: %s", arg);
		return -1;
	}
	req->jid = jid;
	req->key = key;
	return 0;
}

int br_control_parse(const struct br_config *cfg, const char *line, size_t len,
		     struct br_control_request *req_r, char **error_r)
{
	memset(req_r, 0, sizeof(*req_r));
	*error_r = NULL;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > BR_CONTROL_LINE_MAX) {
		*error_r = xasprintf("request too long (more than %d bytes)",
				     BR_CONTROL_LINE_MAX);
		return -1;
	}
	if (!ut_utf8_valid(line, len)) {
		*error_r = xstrdup("request is not UTF-8 text");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 || ch == 0x7f) {
			*error_r = xstrdup("request holds a control character");
			return -1;
		}
	}
	char *copy = xstrndup(line, len);
	char *words[3] = {NULL, NULL, NULL};
	size_t n = split_words(copy, words);
	int ret = -1;

	if (n == 0) {
		*error_r = xstrdup("empty request; commands: status, user "
				   "JID, resync JID, test JID, reload");
		goto out;
	}
	size_t i;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(words[0], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		*error_r = xasprintf("unknown command: %s", words[0]);
		goto out;
	}
	req_r->cmd = commands[i].cmd;
	if (!commands[i].takes_jid && n > 1) {
		*error_r = xasprintf("%s takes no argument", words[0]);
		goto out;
	}
	if (commands[i].takes_jid && n != 2) {
		*error_r = xasprintf("usage: %s JID", words[0]);
		goto out;
	}
	if (commands[i].takes_jid &&
	    parse_jid(cfg, words[1], req_r, error_r) < 0)
		goto out;
	ret = 0;
out:
	free(copy);
	return ret;
}

void br_control_iso8601(int64_t unix_secs, char buf[32])
{
	time_t t = (time_t)unix_secs;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "@%lld", (long long)unix_secs);
}

/* An ISO 8601 time, or null for 0. */
static json_t *time_or_null(int64_t unix_secs)
{
	char buf[32];
	if (unix_secs <= 0)
		return json_null();
	br_control_iso8601(unix_secs, buf);
	return json_string(buf);
}

static json_t *u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX
						    : (json_int_t)v);
}

/* A string from text that may not be valid UTF-8 (json_string() would
   refuse it). */
static json_t *text(const char *s)
{
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	char *clean = ut_utf8_clean_str(s, strlen(s), 0, 0);
	j = json_string(clean);
	free(clean);
	return j;
}

/* json_pack() fails only on out-of-memory (or a format bug). */
static json_t *checked(json_t *j)
{
	ut_assert(j != NULL);
	return j;
}

json_t *br_control_status_json(const struct br_status *st, int64_t now)
{
	json_t *mfc = json_null(), *last = json_null();

	if (st->mail_from_chat)
		mfc = checked(json_pack(
		    "{s:o,s:o,s:o,s:o,s:o,s:o}", "requests",
		    u64(st->mail_requests), "refused", u64(st->mail_refused),
		    "sent", u64(st->mail_sent), "retries",
		    u64(st->mail_retries), "failed", u64(st->mail_failed),
		    "copied", u64(st->mail_copied)));
	if (st->last_error_at > 0)
		last = checked(json_pack("{s:o,s:o}", "at",
					 time_or_null(st->last_error_at),
					 "text", text(st->last_error)));
	json_t *xmpp = checked(json_pack(
	    "{s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "up", st->xmpp_up,
	    "up_since", time_or_null(st->xmpp_up ? st->xmpp_up_since : 0),
	    "connects", u64(st->xmpp_connects), "disconnects",
	    u64(st->xmpp_disconnects), "outbox", u64(st->xmpp_outbox),
	    "stanzas_in", u64(st->xmpp_stanzas_in), "stanzas_out",
	    u64(st->xmpp_stanzas_out), "dropped_in", u64(st->xmpp_dropped_in),
	    "dropped_out", u64(st->xmpp_dropped_out)));
	json_t *events = checked(json_pack(
	    "{s:f,s:o,s:o,s:o,s:o}", "per_sec", st->events_per_sec, "received",
	    u64(st->events_received), "accepted", u64(st->events), "dropped",
	    u64(st->events_dropped), "refused", u64(st->events_refused)));
	json_t *imap = checked(json_pack(
	    "{s:o,s:o,s:o}", "busy", u64(st->imap_busy), "queued",
	    u64(st->imap_queued), "failures", u64(st->imap_failures)));
	json_t *users = checked(json_pack(
	    "{s:o,s:o,s:o}", "in_memory", u64(st->users_in_memory), "tracked",
	    u64(st->users_tracked), "online", u64(st->users_online)));
	json_t *notes = checked(
	    json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "single",
		      u64(st->notify_single), "digest", u64(st->notify_digest),
		      "digest_mails", u64(st->notify_digest_mails), "summary",
		      u64(st->notify_summary), "duplicate",
		      u64(st->notify_duplicate), "unserved", u64(st->unserved),
		      "reconciliations", u64(st->reconciles),
		      "reconciliation_errors", u64(st->reconcile_errors),
		      "reconciliations_alive", u64(st->reconciles_alive)));
	int64_t up = now > st->started_at ? now - st->started_at : 0;
	return checked(json_pack(
	    "{s:b,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o},s:o,s:o}", "ok", 1,
	    "version", text(st->version), "uptime", (json_int_t)up,
	    "started_at", time_or_null(st->started_at), "xmpp", xmpp, "events",
	    events, "imap", imap, "users", users, "notifications", notes,
	    "ledger", "bytes", u64(st->ledger_bytes), "mail_from_chat", mfc,
	    "last_error", last));
}

static json_t *settings_json(const struct br_settings *s)
{
	json_t *obj = checked(json_object());
	for (int i = 0; i < BR_SETTING_COUNT; i++) {
		const struct br_setting_info *info = br_setting_info(i);
		json_object_set_new(
		    obj, info->name,
		    checked(json_pack("{s:s,s:b}", "value",
				      br_setting_format(i, s->v[i]), "default",
				      !s->changed[i])));
	}
	return obj;
}

json_t *br_control_user_json(const struct br_control_user *u)
{
	const struct br_router_user_info *p = u->pending;
	const char *presence = br_presence_word(u->presence);
	json_t *recent = checked(json_array());

	for (size_t i = 0; i < u->recent_count; i++) {
		const struct br_ledger_recent *r = &u->recent[i];
		json_array_append_new(
		    recent, checked(json_pack("{s:o,s:o,s:I,s:I}", "at",
					      time_or_null(r->at), "mailbox",
					      text(r->mailbox), "uidvalidity",
					      (json_int_t)r->uidvalidity, "uid",
					      (json_int_t)r->uid)));
	}
	json_t *pending = checked(json_pack(
	    "{s:b,s:o,s:b,s:b,s:I,s:o,s:b}", "in_memory", p->in_memory, "held",
	    u64(p->held), "digest_due", p->digest_due, "summary_due",
	    p->summary_due, "window_singles", (json_int_t)p->window_singles,
	    "reconciliations", u64(p->reconciliations), "resync_queued",
	    p->resync_queued));
	return checked(json_pack("{s:b,s:o,s:o,s:s,s:o,s:o,s:o}", "ok", 1,
				 "jid", text(u->jid), "user", text(u->key),
				 "presence",
				 presence != NULL ? presence : "unknown",
				 "settings", settings_json(u->settings),
				 "pending", pending, "last_notified", recent));
}

char *br_control_reply(json_t *obj, size_t *len_r)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	ut_assert(s != NULL);
	size_t len = strlen(s);
	char *line = xmalloc(len + 2);
	memcpy(line, s, len);
	line[len] = '\n';
	line[len + 1] = '\0';
	free(s);
	*len_r = len + 1;
	return line;
}

char *br_control_error_reply(const char *error, size_t *len_r)
{
	return br_control_reply(
	    checked(json_pack("{s:b,s:o}", "ok", 0, "error", text(error))),
	    len_r);
}
