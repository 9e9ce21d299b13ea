/*
 * authmaster_probe: drives ms_authmaster and ms_evsock against a real
 * Dovecot for tests/integration/test_authmaster.py; prints one JSON object
 * on stdout.
 *
 *   authmaster_probe lookup AUTH_SOCKET USER...
 *     Looks every USER up twice (the second round must come from the
 *     cache): {"results": [{"user", "status", "uid", "gid", "reason"}...],
 *              "again": [same, from the second round], "stats": {...}}
 *
 *   authmaster_probe owner AUTH_SOCKET EVENT_SOCKET USER UID...
 *     Opens EVENT_SOCKET (mode 0666) with trusted_users = owner, then for
 *     each UID forks a child that becomes that uid and sends one MessageNew
 *     event for USER whose "uid" field is the child's index (1, 2, ...):
 *     {"accepted": [indexes passed on], "stats": {...}, "warnings": [...],
 *      "pids": [child pids]}. Needs root.
 *
 * Exit status 0 when the probe ran (whatever the answers), 2 on usage or
 * setup errors.
 */
#include <jansson.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "ms_authmaster.h"
#include "ms_evsock.h"
#include "ut_log.h"
#include "ut_parse.h"
#include "ut_xalloc.h"

#define TIMEOUT_MSECS 10000

static uv_loop_t loop;
static json_t *warnings;

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level <= UT_LOG_WARN)
		json_array_append_new(warnings, json_string(line));
	fprintf(stderr, "%s\n", line);
}

static json_t *result_json(const char *user,
			   const struct ms_authmaster_result *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "user", json_string(user));
	json_object_set_new(o, "status",
			    json_string(ms_authmaster_status_name(r->status)));
	json_object_set_new(o, "uid",
			    r->has_uid ? json_integer(r->uid) : json_null());
	json_object_set_new(o, "gid",
			    r->has_gid ? json_integer(r->gid) : json_null());
	json_object_set_new(o, "reason",
			    r->reason != NULL ? json_string(r->reason)
					      : json_null());
	return o;
}

struct slot {
	const char *user;
	json_t *out; /* the array to fill */
	size_t index;
	bool done;
};

static void lookup_cb(const struct ms_authmaster_result *r, void *ctx)
{
	struct slot *s = ctx;
	json_array_set_new(s->out, s->index, result_json(s->user, r));
	s->done = true;
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

static bool all_done(struct slot *slots, int n)
{
	for (int i = 0; i < n; i++) {
		if (!slots[i].done)
			return false;
	}
	return true;
}

static void run_until_done(struct slot *slots, int n)
{
	uint64_t end = uv_now(&loop) + TIMEOUT_MSECS;
	while (!all_done(slots, n) && uv_now(&loop) < end)
		uv_run(&loop, UV_RUN_ONCE);
}

/* One round of lookups into the array out. */
static void round_of(struct ms_authmaster *am, char **users, int n, json_t *out)
{
	struct slot *slots = xcalloc((size_t)n, sizeof(*slots));
	for (int i = 0; i < n; i++) {
		struct ms_authmaster_request *req;
		struct ms_authmaster_result res;
		char *error = NULL;
		slots[i] = (struct slot){
		    .user = users[i], .out = out, .index = (size_t)i};
		json_array_append_new(out, json_null());
		int ret = ms_authmaster_user(am, users[i], lookup_cb, &slots[i],
					     &req, &res, &error);
		if (ret == 1) {
			json_t *o = result_json(users[i], &res);
			json_object_set_new(o, "cached", json_true());
			json_array_set_new(out, (size_t)i, o);
			slots[i].done = true;
		} else if (ret < 0) {
			json_t *o = json_object();
			json_object_set_new(o, "user", json_string(users[i]));
			json_object_set_new(o, "error", json_string(error));
			json_array_set_new(out, (size_t)i, o);
			slots[i].done = true;
			free(error);
		}
	}
	run_until_done(slots, n);
	free(slots);
}

static json_t *am_stats_json(struct ms_authmaster *am)
{
	struct ms_authmaster_stats st;
	ms_authmaster_get_stats(am, &st);
	return json_pack(
	    "{sI sI sI sI sI sI sI sI sI}", "requests", (json_int_t)st.requests,
	    "cache_hits", (json_int_t)st.cache_hits, "lookups",
	    (json_int_t)st.lookups, "found", (json_int_t)st.found, "notfound",
	    (json_int_t)st.notfound, "failed", (json_int_t)st.failed,
	    "connects", (json_int_t)st.connects, "protocol_errors",
	    (json_int_t)st.protocol_errors, "timeouts",
	    (json_int_t)st.timeouts);
}

static int cmd_lookup(struct ms_authmaster *am, char **users, int n,
		      json_t *out)
{
	json_t *first = json_array(), *again = json_array();
	round_of(am, users, n, first);
	round_of(am, users, n, again);
	json_object_set_new(out, "results", first);
	json_object_set_new(out, "again", again);
	return 0;
}

struct sink {
	json_t *accepted;
};

static void event_cb(struct ms_event *ev, void *ctx)
{
	struct sink *k = ctx;
	json_array_append_new(k->accepted, json_integer(ev->uid));
	ms_event_free(&ev);
}

static pid_t send_as(const char *path, uid_t uid, const char *dgram)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(uid) < 0 ||
		    setuid(uid) < 0)
			_exit(2);
		int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (sendto(fd, dgram, strlen(dgram), 0, (struct sockaddr *)&sun,
			   sizeof(sun)) < 0)
			_exit(1);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "child for uid %u failed\n", (unsigned)uid);
	return pid;
}

static int cmd_owner(struct ms_authmaster *am, const char *path,
		     const char *user, char **uids, int n, json_t *out)
{
	struct sink k = {.accepted = json_array()};
	struct ms_evsock_settings set = {
	    .path = path, .mode = 0666, .owner_check = am};
	struct ms_evsock *s = NULL;
	char *error = NULL;

	if (ms_evsock_open(&loop, &set, event_cb, &k, &s, &error) < 0) {
		fprintf(stderr, "evsock: %s\n", error);
		free(error);
		json_decref(k.accepted);
		return -1;
	}
	json_t *pids = json_array();
	for (int i = 0; i < n; i++) {
		uint32_t uid;
		if (ut_parse_u32(uids[i], &uid) < 0) {
			fprintf(stderr, "bad uid %s\n", uids[i]);
			continue;
		}
		char *d = xasprintf("{\"v\":1,\"event\":\"MessageNew\","
				    "\"user\":\"%s\",\"mailbox\":\"INBOX\","
				    "\"uidvalidity\":1,\"uid\":%d}",
				    user, i + 1);
		json_array_append_new(pids,
				      json_integer(send_as(path, uid, d)));
		free(d);
	}
	struct ms_evsock_stats st;
	uint64_t end = uv_now(&loop) + TIMEOUT_MSECS;
	for (;;) {
		ms_evsock_get_stats(s, &st);
		if (st.events + st.refused + st.unverified + st.malformed >=
			(uint64_t)n ||
		    uv_now(&loop) >= end)
			break;
		uv_run(&loop, UV_RUN_ONCE);
	}
	ms_evsock_close(&s);
	json_object_set_new(out, "accepted", k.accepted);
	json_object_set_new(out, "pids", pids);
	json_object_set_new(out, "evsock",
			    json_pack("{sI sI sI sI}", "received",
				      (json_int_t)st.received, "events",
				      (json_int_t)st.events, "refused",
				      (json_int_t)st.refused, "unverified",
				      (json_int_t)st.unverified));
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: authmaster_probe lookup AUTH_SOCKET USER...\n"
		"       authmaster_probe owner AUTH_SOCKET EVENT_SOCKET "
		"USER UID...\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	uv_timer_t tick;
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	warnings = json_array();
	ut_log_set_hook(log_hook, NULL);

	struct ms_authmaster *am = NULL;
	char *error = NULL;
	if (ms_authmaster_new(&loop, argv[2], NULL, &am, &error) < 0) {
		fprintf(stderr, "authmaster: %s\n", error);
		free(error);
		return 2;
	}
	json_t *out = json_object();
	int ret;
	if (strcmp(argv[1], "lookup") == 0)
		ret = cmd_lookup(am, argv + 3, argc - 3, out);
	else if (strcmp(argv[1], "owner") == 0 && argc >= 6)
		ret = cmd_owner(am, argv[3], argv[4], argv + 5, argc - 5, out);
	else
		ret = -2;
	json_object_set_new(out, "stats", am_stats_json(am));
	json_object_set_new(out, "warnings", warnings);
	ms_authmaster_free(&am);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	ut_log_set_hook(NULL, NULL);
	if (ret == -2) {
		json_decref(out);
		return usage();
	}
	char *text = json_dumps(out, JSON_COMPACT);
	printf("%s\n", text);
	free(text);
	json_decref(out);
	return ret == 0 ? 0 : 2;
}
