/*
 * The router's bounds: the XMPP outbox refilled from the ledger as it
 * empties, reconciliations capped with the rest waiting in the ledger
 * (drained as room frees), failed scans retried later and logged once, and
 * mailboxes or users that Dovecot no longer has pruned. The IMAP side is
 * the real worker pool against a scripted peer (tests/unit/imap/imap_peer).
 */
#include <stdio.h>

#include "imap_peer.h"
#include "ms_imap.h"
#include "test.h"

#include "router_fixture.h"

static int confirm_all(struct fixture *f, int from)
{
	for (int i = from; i < sent.count && i < MAX_SENT; i++)
		if (sent.token[i] != 0)
			br_router_confirmed(f->router, sent.token[i]);
	held = 0;
	return sent.count;
}

/* 50 notifications, an XMPP side that takes 8 at a time: each goes out
   once, in order, as confirmations make room. */
static void test_outbox_refill(void)
{
	struct fixture f;
	setup(&f, "burst_max = 1000\n");
	hold_max = 8;
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	for (unsigned uid = 1; uid <= 50; uid++) {
		char subject[32];
		snprintf(subject, sizeof(subject), "S%02u", uid);
		br_router_event(
		    f.router, event("bob@example.org", "INBOX", uid, subject));
	}
	turn();
	T_CHECK_INT(sent.count, 8);
	int done = 0;
	for (int round = 0; round < 20 && sent.count < 50; round++) {
		done = confirm_all(&f, done);
		turn();
	}
	T_CHECK_INT(sent.count, 50);
	for (int i = 0; i < sent.count && i < MAX_SENT; i++) {
		char want[32];
		snprintf(want, sizeof(want), "Subject: S%02d", i + 1);
		T_CHECK(strstr(sent.xml[i], want) != NULL);
	}
	confirm_all(&f, done);
	turn();
	T_CHECK_INT(sent.count, 50);
	teardown(&f, false);

	/* Nothing was left unconfirmed: a restart resends nothing. */
	setup(&f, "");
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	turn();
	T_CHECK_INT(sent.count, 0);
	teardown(&f, true);
}

/* A restart with more unconfirmed stanzas than the XMPP side takes:
   they go out in order as it empties. */
static void test_resend_in_chunks(void)
{
	struct fixture f;
	setup(&f, "burst_max = 1000\n");
	hold_max = 1;
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	for (unsigned uid = 1; uid <= 30; uid++)
		br_router_event(f.router,
				event("bob@example.org", "INBOX", uid, "x"));
	turn();
	T_CHECK_INT(sent.count, 1);
	teardown(&f, false); /* 30 rows in the ledger's outbox */

	setup(&f, "");
	hold_max = 7;
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	T_CHECK_INT(sent.count, 7);
	int done = 0;
	for (int round = 0; round < 10 && sent.count < 30; round++) {
		done = confirm_all(&f, done);
		turn();
	}
	T_CHECK_INT(sent.count, 30);
	struct br_router_stats st;
	br_router_get_stats(f.router, &st);
	T_CHECK_INT(st.resent, 30);
	for (int i = 0; i + 1 < sent.count && i + 1 < MAX_SENT; i++) {
		char want[32];
		snprintf(want, sizeof(want), "uid=\"%d\"", i + 1);
		T_CHECK(strstr(sent.xml[i], want) != NULL);
	}
	teardown(&f, true);
}

/* Mailbox rows as a long-running tidingsd leaves them: n users, INBOX at
   UIDVALIDITY 7 notified up to UID 2 (the peer's mailbox holds 2). */
static void fill_ledger(int n)
{
	struct br_ledger *l = NULL;
	char *error = NULL;
	T_CHECK_INT(br_ledger_open(state_dir, &l, &error), 0);
	free(error);
	br_ledger_batch_begin(l);
	for (int i = 0; i < n; i++) {
		char user[64];
		snprintf(user, sizeof(user), "user%04d@example.org", i);
		br_ledger_mailbox_set(l, user, "INBOX", 7, 2);
	}
	br_ledger_batch_end(l);
	br_ledger_close(&l);
}

static struct ms_imap_pool *pool_for(struct peer *p, unsigned timeout_msecs)
{
	struct ms_imap_settings is = {
	    .host = "127.0.0.1",
	    .port = p->port,
	    .master_user = "tidings",
	    .master_password = "pw",
	    .workers = 4,
	    .timeout_msecs = timeout_msecs,
	};
	struct ms_imap_pool *pool = NULL;
	char *error = NULL;
	T_CHECK_INT(ms_imap_pool_new(&loop, &is, &pool, &error), 0);
	free(error);
	return pool;
}

static uint64_t due_count(struct fixture *f)
{
	uint64_t n = 0;
	T_CHECK_INT(br_ledger_due_count(f->ledger, &n), 0);
	return n;
}

/* 600 mailboxes to reconcile at start: never more than 256 scans alive,
   every one done, nothing left due. */
static void test_startup_scans_capped(void)
{
	struct peer p;
	fill_ledger(600);
	peer_start(&loop, &p, PEER_SCRIPT, NULL);
	struct ms_imap_pool *pool = pool_for(&p, 5000);
	struct fixture f;
	setup_imap(&f, "", pool);
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	struct br_router_stats st;
	size_t most = 0;
	uint64_t deadline = peer_now_msecs(&loop) + 60000;
	do {
		peer_run_for(&loop, 20);
		br_router_get_stats(f.router, &st);
		if (st.scans > most)
			most = st.scans;
	} while (st.reconciles < 600 && peer_now_msecs(&loop) < deadline);
	T_CHECK_INT(st.reconciles, 600);
	T_CHECK(most <= 256);
	T_CHECK(most >= 100); /* and it did run many at once */
	T_CHECK_INT(st.reconcile_errors, 0);
	T_CHECK_INT(due_count(&f), 0);
	T_CHECK_INT(sent.count, 0); /* the peer's mail was all notified */
	ms_imap_pool_free(&pool);
	teardown(&f, true);
	peer_stop(&p);
}

static int fail_lines;

static void count_fail_cb(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == UT_LOG_WARN && strstr(line, "IMAP scan failed") != NULL)
		fail_lines++;
}

/* A server that never answers: every scan fails, once each, with one log
   line for them all; every mailbox stays due in the ledger (retried
   later, also after a restart), and the failures pause the others. */
static void test_failed_scans_wait_in_the_ledger(void)
{
	struct peer p;
	fill_ledger(20);
	peer_start(&loop, &p, PEER_SILENT, NULL);
	struct ms_imap_pool *pool = pool_for(&p, 1000);
	struct fixture f;
	setup_imap(&f, "", pool);
	fail_lines = 0;
	ut_log_set_hook(count_fail_cb, NULL);
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	struct br_router_stats st;
	uint64_t deadline = peer_now_msecs(&loop) + 30000;
	do {
		peer_run_for(&loop, 50);
		br_router_get_stats(f.router, &st);
	} while (st.scans > 0 && peer_now_msecs(&loop) < deadline);
	ut_log_set_hook(NULL, NULL);
	T_CHECK(st.reconcile_errors >= 1);
	T_CHECK_INT(st.reconciles, 0);
	T_CHECK_INT(fail_lines, 1);
	T_CHECK_INT(due_count(&f), 20);
	ms_imap_pool_free(&pool);
	teardown(&f, false);
	peer_stop(&p);

	/* The next start finds them due and, with a server that answers,
	   reconciles each. */
	peer_start(&loop, &p, PEER_SCRIPT, NULL);
	pool = pool_for(&p, 5000);
	setup_imap(&f, "", pool);
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	deadline = peer_now_msecs(&loop) + 30000;
	do {
		peer_run_for(&loop, 20);
		br_router_get_stats(f.router, &st);
	} while (st.reconciles < 20 && peer_now_msecs(&loop) < deadline);
	T_CHECK_INT(st.reconciles, 20);
	T_CHECK_INT(due_count(&f), 0);
	ms_imap_pool_free(&pool);
	teardown(&f, true);
	peer_stop(&p);
}

/* Dovecot says the user no longer exists: their rows go. */
static void test_gone_users_pruned(void)
{
	static const struct peer_script gone = {
	    .login = "$T NO [AUTHORIZATIONFAILED] Authorization failed\r\n",
	};
	struct peer p;
	fill_ledger(5);
	peer_start(&loop, &p, PEER_SCRIPT, &gone);
	struct ms_imap_pool *pool = pool_for(&p, 5000);
	struct fixture f;
	setup_imap(&f, "", pool);
	br_router_start(f.router);
	br_router_presence_settled(f.router);
	struct br_router_stats st;
	uint64_t deadline = peer_now_msecs(&loop) + 30000;
	do {
		peer_run_for(&loop, 20);
		br_router_get_stats(f.router, &st);
	} while (st.pruned < 5 && peer_now_msecs(&loop) < deadline);
	T_CHECK_INT(st.pruned, 5);
	T_CHECK_INT(st.reconcile_errors, 0);
	int found = 1;
	uint32_t uv = 0, last = 0;
	br_ledger_mailbox_get(f.ledger, "user0003@example.org", "INBOX", &found,
			      &uv, &last);
	T_CHECK_INT(found, 0);
	T_CHECK_INT(due_count(&f), 0);
	ms_imap_pool_free(&pool);
	teardown(&f, true);
	peer_stop(&p);
}

int main(void)
{
	fixture_init();
	T_RUN(test_outbox_refill);
	T_RUN(test_resend_in_chunks);
	T_RUN(test_startup_scans_capped);
	T_RUN(test_failed_scans_wait_in_the_ledger);
	T_RUN(test_gone_users_pruned);
	fixture_done();
	return T_DONE();
}
