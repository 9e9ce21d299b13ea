/*
 * The control socket's protocol without a socket (br_control_proto.h):
 * request lines parsed (commands, arguments, JIDs of served users, the
 * line limit, bad bytes), replies built (status and user objects, error
 * lines whose text cannot break the line), and br_ledger_recent() on a
 * real ledger.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_control_proto.h"
#include "test.h"
#include "ut_xalloc.h"

static char state_dir[] = "/tmp/tidings-control-XXXXXX";

static struct br_config *config(const char *extra)
{
	char *text = xasprintf(
	    "[xmpp]\ncomponent = mail.example.org\nhost = h\nsecret = s\n"
	    "domain = example.org\n[mail]\ndomain = example.org\n"
	    "imap_host = localhost\nmaster_user = t\nmaster_password = p\n"
	    "%s[events]\nsocket = /s\n[state]\ndir = %s\n",
	    extra, state_dir);
	struct br_config *cfg = NULL;
	char *error = NULL;
	if (br_config_parse("t.conf", text, strlen(text), &cfg, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	free(text);
	return cfg;
}

static struct br_config *cfg;

/* Parses s; returns the error (xmalloc'ed) or NULL, the request in *req. */
static char *parse(const char *s, size_t len, struct br_control_request *req)
{
	char *error = NULL;
	if (br_control_parse(cfg, s, len, req, &error) == 0) {
		T_CHECK(error == NULL);
		return NULL;
	}
	T_CHECK(error != NULL);
	T_CHECK(req->jid == NULL && req->key == NULL);
	return error;
}

static void check_ok(const char *s, enum br_control_cmd cmd, const char *jid,
		     const char *key)
{
	struct br_control_request req;
	char *error = parse(s, strlen(s), &req);
	T_CHECK_STR(error == NULL ? "ok" : error, "ok");
	free(error);
	T_CHECK_INT(req.cmd, cmd);
	if (jid == NULL) {
		T_CHECK(req.jid == NULL && req.key == NULL);
	} else {
		T_CHECK_STR(req.jid, jid);
		T_CHECK_STR(req.key, key);
	}
	br_control_request_clear(&req);
	T_CHECK(req.jid == NULL && req.key == NULL);
}

static void check_error(const char *s, size_t len, const char *want)
{
	struct br_control_request req;
	char *error = parse(s, len, &req);
	T_CHECK_STR(error, want);
	free(error);
}

static void test_commands(void)
{
	check_ok("status", BR_CONTROL_STATUS, NULL, NULL);
	check_ok("reload", BR_CONTROL_RELOAD, NULL, NULL);
	check_ok("status\r", BR_CONTROL_STATUS, NULL, NULL);
	check_ok("  status  ", BR_CONTROL_STATUS, NULL, NULL);
	check_ok("user bob@example.org", BR_CONTROL_USER, "bob@example.org",
		 "bob@example.org");
	check_ok("resync  bob@example.org ", BR_CONTROL_RESYNC,
		 "bob@example.org", "bob@example.org");
	check_ok("test Bob@EXAMPLE.org", BR_CONTROL_TEST, "Bob@example.org",
		 "bob@example.org");
	T_CHECK_STR(br_control_cmd_name(BR_CONTROL_RESYNC), "resync");
}

static void test_bad_requests(void)
{
	check_error("", 0,
		    "empty request; commands: status, user JID, resync JID, "
		    "test JID, reload");
	check_error("   ", 3,
		    "empty request; commands: status, user JID, resync JID, "
		    "test JID, reload");
	check_error("STATUS", 6, "unknown command: STATUS");
	check_error("frob x", 6, "unknown command: frob");
	check_error("status now", 10, "status takes no argument");
	check_error("reload x y", 10, "reload takes no argument");
	check_error("user", 4, "usage: user JID");
	check_error("user a@example.org b@example.org", 32, "usage: user JID");
	check_error("test a@example.org b c", 22, "usage: test JID");
	check_error("user\tbob@example.org", 20,
		    "request holds a control character");
	check_error("status\r\r", 8, "request holds a control character");
	check_error("sta\0tus", 7, "request holds a control character");
	check_error("user \x1b[2Jbob@example.org", 24,
		    "request holds a control character");
	check_error("user b\xffob@example.org", 20,
		    "request is not UTF-8 text");
	check_error("user \xc0\xafx@example.org", 19,
		    "request is not UTF-8 text");
}

static void test_jids(void)
{
	check_error("user bob@example.org/phone", 26,
		    "give a bare JID (no /resource): bob@example.org/phone");
	check_error("user bob@example.net", 20,
		    "not a user tidings serves: bob@example.net");
	check_error("user example.org", 16,
		    "not a user tidings serves: example.org");
	check_error("user mail.example.org", 21,
		    "not a user tidings serves: mail.example.org");
	check_error("user @example.org", 17, "not a JID: @example.org");
	check_error("user bob@", 9, "not a JID: bob@");
	/* A localpart XEP-0106 would escape maps to no mailbox. */
	check_error("user b\\20ob@example.org", 23,
		    "not a user tidings serves: b\\20ob@example.org");
	check_error("user b&ob@example.org", 21, "not a JID: b&ob@example.org");
	check_error("user j\xc3\xbcrgen@example.org", 24,
		    "not a user tidings serves: j\xc3\xbcrgen@example.org");
	/* username_format = localpart: the key is the localpart. */
	struct br_config *keep = cfg;
	cfg = config("username_format = localpart\n");
	check_ok("user Bob@example.org", BR_CONTROL_USER, "Bob@example.org",
		 "bob");
	br_config_free(&cfg);
	cfg = keep;
}

static void test_line_limit(void)
{
	/* "user " + JID up to exactly BR_CONTROL_LINE_MAX bytes. */
	char line[BR_CONTROL_LINE_MAX + 2];
	memset(line, 'a', sizeof(line));
	memcpy(line, "user ", 5);
	struct br_control_request req;
	char *error = parse(line, BR_CONTROL_LINE_MAX, &req);
	/* Parsed as far as the JID: too long a localpart for a mailbox. */
	T_CHECK(error != NULL && strncmp(error, "not a", 5) == 0);
	free(error);
	/* A CR after 1024 bytes is dropped. */
	line[BR_CONTROL_LINE_MAX] = '\r';
	error = parse(line, BR_CONTROL_LINE_MAX + 1, &req);
	T_CHECK(error != NULL && strstr(error, "too long") == NULL);
	free(error);
	check_error(line, BR_CONTROL_LINE_MAX + 2,
		    "request too long (more than 1024 bytes)");
	memset(line, 'a', sizeof(line));
	check_error(line, BR_CONTROL_LINE_MAX + 1,
		    "request too long (more than 1024 bytes)");
}

/* The reply line: one LF, at the end, and it parses back. */
static json_t *reply_back(char *line, size_t len);

/* br_control_reply(obj), checked and parsed back. */
static json_t *round_trip(json_t *obj)
{
	size_t len;
	char *line = br_control_reply(obj, &len);
	return reply_back(line, len);
}

static json_t *reply_back(char *line, size_t len)
{
	T_CHECK_INT(strlen(line), len);
	T_CHECK(len > 0 && line[len - 1] == '\n');
	T_CHECK(memchr(line, '\n', len - 1) == NULL);
	T_CHECK(memchr(line, '\r', len) == NULL);
	json_error_t e;
	json_t *o = json_loads(line, 0, &e);
	T_CHECK(json_is_object(o));
	free(line);
	return o;
}

static void test_error_reply(void)
{
	size_t len;
	char *line = br_control_error_reply("forbidden", &len);
	T_CHECK_STR(line, "{\"ok\":false,\"error\":\"forbidden\"}\n");
	json_decref(reply_back(line, len));

	/* Text that came from a mail or a peer cannot end the line, nor
	   reach a terminal raw: JSON escapes. */
	line = br_control_error_reply("a\nb\r\"c\x1b[2J", &len);
	T_CHECK(strstr(line, "\\n") != NULL && strstr(line, "\\u001B") != NULL);
	T_CHECK(strchr(line, '\x1b') == NULL);
	json_t *o = reply_back(line, len);
	const char *err = json_string_value(json_object_get(o, "error"));
	T_CHECK_STR(err, "a\nb\r\"c\x1b[2J");
	json_decref(o);
	/* Invalid UTF-8 is cleaned: U+FFFD, and controls dropped. */
	line = br_control_error_reply("a\x1b[2J\xff\nb", &len);
	o = reply_back(line, len);
	err = json_string_value(json_object_get(o, "error"));
	T_CHECK_STR(err, "a[2J\xef\xbf\xbd\nb");
	json_decref(o);
}

static void test_status_json(void)
{
	struct br_status st;
	memset(&st, 0, sizeof(st));
	strcpy(st.version, "0.1.0");
	st.started_at = 1796112000; /* 2026-12-01T08:00:00Z */
	st.xmpp_up = true;
	st.xmpp_up_since = 1796112005;
	st.xmpp_connects = 3;
	st.xmpp_outbox = 7;
	st.events_per_sec = 1.5;
	st.events = 5321;
	st.events_refused = 2;
	st.imap_failures = 3;
	st.users_online = 233;
	st.notify_digest = 120;
	st.ledger_bytes = 4200000;
	st.last_error_at = 1796112060;
	strcpy(st.last_error, "imap: \x1b[31mred");

	json_t *o = round_trip(br_control_status_json(&st, 1796119385));
	json_t *x = json_object_get(o, "xmpp");
	T_CHECK(json_is_true(json_object_get(o, "ok")));
	T_CHECK_STR(json_string_value(json_object_get(o, "version")), "0.1.0");
	T_CHECK_INT(json_integer_value(json_object_get(o, "uptime")), 7385);
	T_CHECK(json_is_true(json_object_get(x, "up")));
	T_CHECK_STR(json_string_value(json_object_get(x, "up_since")),
		    "2026-12-01T08:00:05Z");
	T_CHECK_INT(json_integer_value(json_object_get(x, "connects")), 3);
	T_CHECK_INT(json_integer_value(json_object_get(x, "outbox")), 7);
	json_t *e = json_object_get(o, "events");
	T_CHECK(json_real_value(json_object_get(e, "per_sec")) == 1.5);
	T_CHECK_INT(json_integer_value(json_object_get(e, "accepted")), 5321);
	T_CHECK_INT(json_integer_value(json_object_get(e, "refused")), 2);
	T_CHECK_INT(json_integer_value(json_object_get(
			json_object_get(o, "imap"), "failures")),
		    3);
	T_CHECK_INT(json_integer_value(
			json_object_get(json_object_get(o, "users"), "online")),
		    233);
	T_CHECK_INT(json_integer_value(json_object_get(
			json_object_get(o, "notifications"), "digest")),
		    120);
	T_CHECK_INT(json_integer_value(
			json_object_get(json_object_get(o, "ledger"), "bytes")),
		    4200000);
	T_CHECK(json_is_null(json_object_get(o, "mail_from_chat")));
	json_t *le = json_object_get(o, "last_error");
	T_CHECK_STR(json_string_value(json_object_get(le, "at")),
		    "2026-12-01T08:01:00Z");
	T_CHECK_STR(json_string_value(json_object_get(le, "text")),
		    "imap: \x1b[31mred");
	json_decref(o);

	/* Down: no up_since; mail from chat on; no error yet. A counter
	   beyond JSON's integers is capped, not wrapped. */
	st.xmpp_up = false;
	st.mail_from_chat = true;
	st.mail_sent = 12;
	st.last_error_at = 0;
	st.events_received = UINT64_MAX;
	o = round_trip(br_control_status_json(&st, 1796112000));
	x = json_object_get(o, "xmpp");
	T_CHECK(json_is_false(json_object_get(x, "up")));
	T_CHECK(json_is_null(json_object_get(x, "up_since")));
	T_CHECK_INT(json_integer_value(json_object_get(
			json_object_get(o, "mail_from_chat"), "sent")),
		    12);
	T_CHECK(json_is_null(json_object_get(o, "last_error")));
	T_CHECK(json_integer_value(json_object_get(json_object_get(o, "events"),
						   "received")) == INT64_MAX);
	json_decref(o);
}

static void test_user_json(void)
{
	struct br_settings s;
	memset(&s, 0, sizeof(s));
	s.v[BR_SETTING_NOTIFY] = 0;
	s.changed[BR_SETTING_NOTIFY] = true;
	s.v[BR_SETTING_HOLD_WHEN] = BR_HOLD_DND;
	struct br_router_user_info p = {.in_memory = true,
					.held = 4,
					.digest_due = true,
					.window_singles = 3};
	struct br_ledger_recent recent[] = {
	    {"INBOX", 7, 12, 1796112060},
	    {"Lists/\x1b]0;x\x07", 9, 3, 1796112000},
	};
	struct br_control_user u = {
	    .jid = "bob@example.org",
	    .key = "bob@example.org",
	    .presence = BR_PRESENCE_DND,
	    .settings = &s,
	    .pending = &p,
	    .recent = recent,
	    .recent_count = 2,
	};
	json_t *o = round_trip(br_control_user_json(&u));
	T_CHECK_STR(json_string_value(json_object_get(o, "presence")), "busy");
	json_t *set = json_object_get(o, "settings");
	T_CHECK_INT(json_object_size(set), BR_SETTING_COUNT);
	json_t *n = json_object_get(set, "notify");
	T_CHECK_STR(json_string_value(json_object_get(n, "value")), "no");
	T_CHECK(json_is_false(json_object_get(n, "default")));
	json_t *h = json_object_get(set, "hold_when");
	T_CHECK_STR(json_string_value(json_object_get(h, "value")), "dnd");
	T_CHECK(json_is_true(json_object_get(h, "default")));
	json_t *pend = json_object_get(o, "pending");
	T_CHECK_INT(json_integer_value(json_object_get(pend, "held")), 4);
	T_CHECK(json_is_true(json_object_get(pend, "digest_due")));
	T_CHECK(json_is_false(json_object_get(pend, "summary_due")));
	json_t *last = json_object_get(o, "last_notified");
	T_CHECK_INT(json_array_size(last), 2);
	json_t *first = json_array_get(last, 0);
	T_CHECK_STR(json_string_value(json_object_get(first, "at")),
		    "2026-12-01T08:01:00Z");
	T_CHECK_INT(json_integer_value(json_object_get(first, "uid")), 12);
	T_CHECK_STR(json_string_value(
			json_object_get(json_array_get(last, 1), "mailbox")),
		    "Lists/\x1b]0;x\x07");
	json_decref(o);

	u.presence = BR_PRESENCE_UNKNOWN;
	u.recent_count = 0;
	o = round_trip(br_control_user_json(&u));
	T_CHECK_STR(json_string_value(json_object_get(o, "presence")),
		    "unknown");
	T_CHECK_INT(json_array_size(json_object_get(o, "last_notified")), 0);
	json_decref(o);
}

static void test_ledger_recent(void)
{
	struct br_ledger *l = NULL;
	char *error = NULL;
	T_CHECK(br_ledger_open(state_dir, &l, &error) == 0);
	if (l == NULL) {
		free(error);
		return;
	}
	struct br_ledger_recent *rows = NULL;
	size_t n = 99;
	T_CHECK(br_ledger_recent(l, "bob", 10, &rows, &n) == 0);
	T_CHECK(rows == NULL && n == 0);
	for (uint32_t uid = 1; uid <= 12; uid++) {
		struct br_ledger_key k = {uid % 2 ? "INBOX" : "Lists", 5, uid};
		uint64_t id;
		T_CHECK(br_ledger_commit(l, "bob", &k, 1, "bob@example.org",
					 "<m/>", 4, &id) == 0);
	}
	struct br_ledger_key other = {"INBOX", 5, 100};
	uint64_t id;
	T_CHECK(br_ledger_commit(l, "alice", &other, 1, "alice@example.org",
				 "<m/>", 4, &id) == 0);
	T_CHECK(br_ledger_recent(l, "bob", 10, &rows, &n) == 0);
	T_CHECK_INT(n, 10);
	for (size_t i = 0; i < n; i++) {
		/* The same second: the higher UID first. */
		T_CHECK_INT(rows[i].uid, 12 - i);
		T_CHECK_STR(rows[i].mailbox,
			    rows[i].uid % 2 ? "INBOX" : "Lists");
		T_CHECK_INT(rows[i].uidvalidity, 5);
		T_CHECK(rows[i].at > 1700000000);
	}
	br_ledger_recent_free(&rows, n);
	T_CHECK(rows == NULL);
	T_CHECK(br_ledger_recent(l, "bob", 0, &rows, &n) == 0 && n == 0);
	T_CHECK(br_ledger_recent(l, "alice", 10, &rows, &n) == 0 && n == 1);
	br_ledger_recent_free(&rows, n);
	br_ledger_close(&l);
}

int main(void)
{
	T_CHECK(mkdtemp(state_dir) != NULL);
	cfg = config("");
	T_RUN(test_commands);
	T_RUN(test_bad_requests);
	T_RUN(test_jids);
	T_RUN(test_line_limit);
	T_RUN(test_error_reply);
	T_RUN(test_status_json);
	T_RUN(test_user_json);
	T_RUN(test_ledger_recent);
	br_config_free(&cfg);
	char *cmd = xasprintf("rm -rf '%s'", state_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", state_dir);
	free(cmd);
	return T_DONE();
}
