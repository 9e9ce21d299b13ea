/*
 * The router's test fixture, shared by test_router.c and
 * test_router_bounds.c: a real ledger (SQLite in a temporary directory),
 * real event parsing and real libuv timers; only the XMPP side is replaced
 * by a callback that records what would be sent, with an optional room
 * limit like the component's outbox. Include after test.h, once.
 */
#ifndef ROUTER_FIXTURE_H
#define ROUTER_FIXTURE_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_config.h"
#include "br_ledger.h"
#include "br_router.h"
#include "ms_event.h"
#include "ut_log.h"
#include "ut_xalloc.h"

#define MAX_SENT 64

static struct {
	char *xml[MAX_SENT];
	uint64_t token[MAX_SENT];
	int count;
} sent;

static uv_loop_t loop;
static xmpp_ctx_t *sctx;
static char state_dir[] = "/tmp/tidings-router-XXXXXX";

/* Stanzas the fake XMPP side holds unconfirmed, and how many it takes
   (0: no limit). */
static size_t held, hold_max;

static int send_cb(void *ctx, const char *xml, size_t len, uint64_t token)
{
	(void)ctx;
	if (hold_max > 0 && held >= hold_max)
		return -1;
	held++;
	if (sent.count < MAX_SENT) {
		sent.xml[sent.count] = xstrndup(xml, len);
		sent.token[sent.count] = token;
	}
	sent.count++;
	return 0;
}

static void sent_reset(void)
{
	for (int i = 0; i < sent.count && i < MAX_SENT; i++)
		free(sent.xml[i]);
	memset(&sent, 0, sizeof(sent));
	held = 0;
	hold_max = 0;
}

static size_t room_cb(void *ctx)
{
	(void)ctx;
	return hold_max == 0 ? 1000000 : held < hold_max ? hold_max - held : 0;
}

static struct br_config *config(const char *extra)
{
	char *text = xasprintf(
	    "[xmpp]\ncomponent = mail.example.org\n"
	    "host = 127.0.0.1\nsecret = s3cret\n"
	    "domain = example.org\n"
	    "[mail]\ndomain = example.org\n"
	    "imap_host = 127.0.0.1\nmaster_user = tidings\n"
	    "master_password = pw\n"
	    "[events]\nsocket = /tmp/tidings-test.sock\n"
	    "[state]\ndir = %s\n"
	    "[notify]\n%s%s%s",
	    state_dir,
	    strstr(extra, "burst_max") == NULL ? "burst_max = 3\n" : "",
	    strstr(extra, "burst_window") == NULL ? "burst_window = 400ms\n"
						  : "",
	    extra);
	struct br_config *cfg = NULL;
	char *error = NULL;
	if (br_config_parse("test.conf", text, strlen(text), &cfg, &error) <
	    0) {
		fprintf(stderr, "config: %s\n", error);
		free(error);
	}
	free(text);
	return cfg;
}

static struct ms_event *event(const char *user, const char *mailbox,
			      unsigned uid, const char *subject)
{
	char *json = xasprintf(
	    "{\"v\":1,\"event\":\"MessageNew\",\"user\":\"%s\","
	    "\"mailbox\":\"%s\",\"uidvalidity\":7,\"uid\":%u,"
	    "\"from_address\":\"alice@example.org\",\"from_name\":"
	    "\"Alice\",\"subject\":\"%s\",\"snippet\":\"hello there\","
	    "\"message_id\":\"<m%u@example.org>\",\"date\":1764331200}",
	    user, mailbox, uid, subject, uid);
	struct ms_event *ev = NULL;
	char *error = NULL;
	if (ms_event_parse(json, strlen(json), &ev, &error) < 0) {
		fprintf(stderr, "event: %s\n", error);
		free(error);
	}
	free(json);
	return ev;
}

static void stop_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* One loop turn: the router writes the ledger and sends at its end. */
static void turn(void)
{
	uv_run(&loop, UV_RUN_NOWAIT);
}

static __attribute__((unused)) void run_for(uint64_t msecs)
{
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, stop_cb, msecs, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

struct fixture {
	struct br_config *cfg;
	struct br_ledger *ledger;
	struct br_router *router;
};

static void setup_imap(struct fixture *f, const char *extra,
		       struct ms_imap_pool *imap)
{
	char *error = NULL;
	sent_reset();
	f->cfg = config(extra);
	T_CHECK(f->cfg != NULL);
	T_CHECK_INT(br_ledger_open(state_dir, &f->ledger, &error), 0);
	free(error);
	struct br_router_deps deps = {
	    .loop = &loop,
	    .cfg = f->cfg,
	    .ledger = f->ledger,
	    .sctx = sctx,
	    .send = send_cb,
	    .outbox_room = room_cb,
	    .imap = imap,
	};
	f->router = br_router_new(&deps);
}

static void setup(struct fixture *f, const char *extra)
{
	setup_imap(f, extra, NULL);
}

static void teardown(struct fixture *f, bool wipe)
{
	br_router_close(&f->router);
	uv_run(&loop, UV_RUN_NOWAIT);
	br_ledger_close(&f->ledger);
	br_config_free(&f->cfg);
	if (wipe) {
		char *cmd = xasprintf("rm -rf %s/*", state_dir);
		T_CHECK_INT(system(cmd), 0);
		free(cmd);
	}
}

/* Whether the ledger has (user, INBOX, UIDVALIDITY 7, uid) as notified. */
static __attribute__((unused)) int lt_notified(struct fixture *f,
					       const char *user, uint32_t uid)
{
	struct br_ledger_key k = {"INBOX", 7, uid};
	int notified = -1;
	br_ledger_is_notified(f->ledger, user, &k, &notified);
	return notified;
}

/* Sets up the loop, libstrophe and the state directory. */
static void fixture_init(void)
{
	uv_loop_init(&loop);
	xmpp_initialize();
	sctx = xmpp_ctx_new(NULL, NULL);
	if (mkdtemp(state_dir) == NULL)
		abort();
}

static void fixture_done(void)
{
	sent_reset();
	rmdir(state_dir);
	xmpp_ctx_free(sctx);
	xmpp_shutdown();
	uv_loop_close(&loop);
}

#endif
