/* The state of nudges and read receipts (br_nudgedb): sent mails per user
   (latest, by Message-ID, at most BR_NUDGEDB_SENT_PER_USER each), the two
   nudge limits with time passed explicitly, receipts told once, all of it
   across a reopen, and pruning by age. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_nudgedb.h"
#include "test.h"
#include "ut_xalloc.h"

static char dir[] = "/tmp/test-nudgedb-XXXXXX";

static struct br_nudgedb *open_db(void)
{
	struct br_nudgedb *db = NULL;
	char *error = NULL;
	T_CHECK_INT(br_nudgedb_open(dir, &db, &error), 0);
	if (error != NULL) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	return db;
}

static void put(struct br_nudgedb *db, const char *user, const char *mid,
		const char *subject, int64_t now)
{
	const char *rcpts[] = {"bob@example.org", "carol@example.net"};
	T_CHECK_INT(
	    br_nudgedb_sent_put(db, user, mid, subject, now - 5, rcpts, 2, now),
	    0);
}

/* The message_id of user's latest sent mail, or "" (xmalloc'ed). */
static char *latest(struct br_nudgedb *db, const char *user)
{
	struct br_nudgedb_sent *row = (struct br_nudgedb_sent *)&row;
	T_CHECK_INT(br_nudgedb_sent_latest(db, user, &row), 0);
	char *mid = xstrdup(row != NULL ? row->message_id : "");
	br_nudgedb_sent_free(&row);
	return mid;
}

static bool kept(struct br_nudgedb *db, const char *user, const char *mid)
{
	struct br_nudgedb_sent *row = (struct br_nudgedb_sent *)&row;
	T_CHECK_INT(br_nudgedb_sent_get(db, user, mid, &row), 0);
	bool found = row != NULL;
	br_nudgedb_sent_free(&row);
	return found;
}

static void check_latest(struct br_nudgedb *db, const char *user,
			 const char *mid)
{
	char *got = latest(db, user);
	T_CHECK_STR(got, mid);
	free(got);
}

static void test_sent(void)
{
	struct br_nudgedb *db = open_db();
	struct br_nudgedb_sent *row = (struct br_nudgedb_sent *)&row;

	/* None yet: NULL, not an error. */
	T_CHECK_INT(br_nudgedb_sent_latest(db, "alice@example.org", &row), 0);
	T_CHECK(row == NULL);
	row = (struct br_nudgedb_sent *)&row;
	T_CHECK_INT(br_nudgedb_sent_get(db, "alice@example.org", "<a@x>", &row),
		    0);
	T_CHECK(row == NULL);

	put(db, "alice@example.org", "<1@example.org>", "Q3 figures", 1000);
	put(db, "alice@example.org", "<2@example.org>", "Lunch", 1010);
	const char *three[] = {"dave@example.org", "bob@example.org",
			       "Eve@Example.net"};
	T_CHECK_INT(br_nudgedb_sent_put(db, "alice@example.org",
					"<3@example.org>", NULL, 1234, three, 3,
					1020),
		    0);
	put(db, "bob@example.org", "<9@example.org>", "Other user", 1030);

	/* The latest is the last put, whole, recipients in order. */
	T_CHECK_INT(br_nudgedb_sent_latest(db, "alice@example.org", &row), 0);
	T_CHECK(row != NULL);
	if (row != NULL) {
		T_CHECK_STR(row->user, "alice@example.org");
		T_CHECK_STR(row->message_id, "<3@example.org>");
		T_CHECK_STR(row->subject, "");
		T_CHECK_INT(row->date, 1234);
		T_CHECK_INT(row->added, 1020);
		T_CHECK_INT(row->rcpt_count, 3);
		if (row->rcpt_count == 3) {
			T_CHECK_STR(row->rcpts[0], "dave@example.org");
			T_CHECK_STR(row->rcpts[1], "bob@example.org");
			T_CHECK_STR(row->rcpts[2], "Eve@Example.net");
		}
	}
	br_nudgedb_sent_free(&row);
	T_CHECK(row == NULL);
	check_latest(db, "bob@example.org", "<9@example.org>");

	/* By Message-ID, per user. */
	T_CHECK_INT(br_nudgedb_sent_get(db, "alice@example.org",
					"<1@example.org>", &row),
		    0);
	T_CHECK(row != NULL);
	if (row != NULL) {
		T_CHECK_STR(row->subject, "Q3 figures");
		T_CHECK_INT(row->date, 995);
		T_CHECK_INT(row->rcpt_count, 2);
		T_CHECK_STR(row->rcpts[1], "carol@example.net");
	}
	br_nudgedb_sent_free(&row);
	T_CHECK(!kept(db, "bob@example.org", "<1@example.org>"));
	T_CHECK(!kept(db, "alice@example.org", "<1@EXAMPLE.ORG>"));

	/* The same mail again replaces it and becomes the latest. */
	put(db, "alice@example.org", "<1@example.org>", "Q3 figures v2", 1040);
	check_latest(db, "alice@example.org", "<1@example.org>");
	T_CHECK_INT(br_nudgedb_sent_get(db, "alice@example.org",
					"<1@example.org>", &row),
		    0);
	T_CHECK(row != NULL && strcmp(row->subject, "Q3 figures v2") == 0);
	br_nudgedb_sent_free(&row);

	/* No recipients is a mail too; a recipient that cannot be stored
	   is refused and nothing changes. */
	T_CHECK_INT(br_nudgedb_sent_put(db, "carol@example.org", "<c@x>", "c",
					1, NULL, 0, 1050),
		    0);
	T_CHECK_INT(br_nudgedb_sent_latest(db, "carol@example.org", &row), 0);
	T_CHECK(row != NULL && row->rcpt_count == 0);
	br_nudgedb_sent_free(&row);
	const char *bad[] = {"bob@example.org", "x\ny@example.org"};
	T_CHECK_INT(br_nudgedb_sent_put(db, "alice@example.org", "<bad@x>",
					"bad", 1, bad, 2, 1060),
		    -1);
	const char *empty[] = {""};
	T_CHECK_INT(br_nudgedb_sent_put(db, "alice@example.org", "<bad@x>",
					"bad", 1, empty, 1, 1060),
		    -1);
	check_latest(db, "alice@example.org", "<1@example.org>");
	T_CHECK(!kept(db, "alice@example.org", "<bad@x>"));

	/* Survives a reopen. */
	br_nudgedb_close(&db);
	T_CHECK(db == NULL);
	db = open_db();
	check_latest(db, "alice@example.org", "<1@example.org>");
	T_CHECK(kept(db, "alice@example.org", "<2@example.org>"));
	T_CHECK(kept(db, "alice@example.org", "<3@example.org>"));
	check_latest(db, "bob@example.org", "<9@example.org>");
	br_nudgedb_close(&db);
}

/* At most BR_NUDGEDB_SENT_PER_USER rows per user, the oldest dropped;
   other users keep theirs. */
static void test_sent_bound(void)
{
	struct br_nudgedb *db = open_db();
	int total = BR_NUDGEDB_SENT_PER_USER + 5;

	for (int i = 0; i < 3; i++) {
		char *mid = xasprintf("<b%d@x>", i);
		put(db, "bound-b", mid, "b", 2000 + i);
		free(mid);
	}
	for (int i = 0; i < total; i++) {
		char *mid = xasprintf("<a%d@x>", i);
		put(db, "bound-a", mid, "a", 2000 + i);
		free(mid);
	}
	for (int i = 0; i < total; i++) {
		char *mid = xasprintf("<a%d@x>", i);
		T_CHECK(kept(db, "bound-a", mid) == (i >= 5));
		free(mid);
	}
	check_latest(db, "bound-a", "<a24@x>");
	for (int i = 0; i < 3; i++) {
		char *mid = xasprintf("<b%d@x>", i);
		T_CHECK(kept(db, "bound-b", mid));
		free(mid);
	}
	/* Replacing an old one keeps the count: the next oldest goes only
	   when a new one comes. */
	put(db, "bound-a", "<a5@x>", "a again", 3000);
	T_CHECK(kept(db, "bound-a", "<a6@x>"));
	put(db, "bound-a", "<a-new@x>", "a", 3001);
	T_CHECK(!kept(db, "bound-a", "<a6@x>"));
	T_CHECK(kept(db, "bound-a", "<a5@x>"));
	T_CHECK(kept(db, "bound-a", "<a7@x>"));
	check_latest(db, "bound-a", "<a-new@x>");
	br_nudgedb_close(&db);
}

static enum br_nudgedb_verdict try_nudge(struct br_nudgedb *db,
					 const char *sender,
					 const char *recipient, const char *mid,
					 int64_t now, unsigned limit)
{
	enum br_nudgedb_verdict v = (enum br_nudgedb_verdict) - 1;
	T_CHECK_INT(
	    br_nudgedb_nudge_try(db, sender, recipient, mid, now, limit, &v),
	    0);
	return v;
}

/* Once per mail and recipient; pair_limit per pair in a sliding hour. */
static void test_nudge(void)
{
	struct br_nudgedb *db = open_db();
	const char *a = "alice@example.org", *b = "bob@example.org";

	T_CHECK_INT(try_nudge(db, a, b, "<m1@x>", 1000, 3), BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<m1@x>", 1001, 3), BR_NUDGEDB_ALREADY);
	/* Another recipient of the same mail, the same recipient of
	   another sender's mail with the same Message-ID: other nudges. */
	T_CHECK_INT(try_nudge(db, a, "carol@example.org", "<m1@x>", 1002, 3),
		    BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, "dave@example.org", b, "<m1@x>", 1003, 3),
		    BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<m2@x>", 1100, 3), BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<m3@x>", 1200, 3), BR_NUDGEDB_ALLOWED);
	/* The fourth within the hour: refused, and not recorded. */
	T_CHECK_INT(try_nudge(db, a, b, "<m4@x>", 1300, 3), BR_NUDGEDB_LIMIT);
	T_CHECK_INT(try_nudge(db, a, b, "<m4@x>", 4599, 3), BR_NUDGEDB_LIMIT);
	/* ALREADY before LIMIT. */
	T_CHECK_INT(try_nudge(db, a, b, "<m2@x>", 1300, 3), BR_NUDGEDB_ALREADY);
	/* The other direction and other pairs have their own count. */
	T_CHECK_INT(try_nudge(db, b, a, "<r1@x>", 1300, 3), BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, "carol@example.org", "<m4@x>", 1300, 3),
		    BR_NUDGEDB_ALLOWED);
	/* A larger limit lets it through. */
	T_CHECK_INT(try_nudge(db, a, b, "<m9@x>", 1300, 4), BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<m10@x>", 1300, 4), BR_NUDGEDB_LIMIT);

	/* Survives a reopen. */
	br_nudgedb_close(&db);
	db = open_db();
	T_CHECK_INT(try_nudge(db, a, b, "<m1@x>", 1400, 100),
		    BR_NUDGEDB_ALREADY);
	T_CHECK_INT(try_nudge(db, a, b, "<m4@x>", 1400, 4), BR_NUDGEDB_LIMIT);

	/* The hour slides: the nudge at 1000 counts until 4600 (exclusive);
	   then one more fits (1100, 1200, 1300 and it make 4). */
	T_CHECK_INT(try_nudge(db, a, b, "<m4@x>", 4599, 4), BR_NUDGEDB_LIMIT);
	T_CHECK_INT(try_nudge(db, a, b, "<m4@x>", 4600, 4), BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<m5@x>", 4600, 4), BR_NUDGEDB_LIMIT);
	T_CHECK_INT(try_nudge(db, a, b, "<m5@x>", 4699, 4), BR_NUDGEDB_LIMIT);
	/* 1100 has left the window at 4700: 1200, 1300, 4600 and it. */
	T_CHECK_INT(try_nudge(db, a, b, "<m5@x>", 4700, 4), BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<m8@x>", 4700, 4), BR_NUDGEDB_LIMIT);
	/* Long after, only the once-per-mail rule stays. */
	T_CHECK_INT(try_nudge(db, a, b, "<m6@x>", 90000, 1),
		    BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<m3@x>", 90000, 100),
		    BR_NUDGEDB_ALREADY);
	/* A clock that went back: nudges "in the future" still count. */
	T_CHECK_INT(try_nudge(db, a, b, "<m7@x>", 80000, 1), BR_NUDGEDB_LIMIT);
	/* A limit of 0 allows none. */
	T_CHECK_INT(try_nudge(db, "x@example.org", b, "<z@x>", 1, 0),
		    BR_NUDGEDB_LIMIT);
	br_nudgedb_close(&db);
}

static bool receipt(struct br_nudgedb *db, const char *sender,
		    const char *recipient, const char *mid, int64_t now)
{
	bool first = false;
	int ret =
	    br_nudgedb_receipt_once(db, sender, recipient, mid, now, &first);
	T_CHECK_INT(ret, 0);
	return first;
}

/* Each receipt once, across a reopen. */
static void test_receipt(void)
{
	struct br_nudgedb *db = open_db();
	const char *a = "alice@example.org", *b = "bob@example.org";

	T_CHECK(receipt(db, a, b, "<r@x>", 5000));
	T_CHECK(!receipt(db, a, b, "<r@x>", 5001));
	T_CHECK(receipt(db, a, "carol@example.org", "<r@x>", 5002));
	T_CHECK(receipt(db, "dave@example.org", b, "<r@x>", 5003));
	T_CHECK(receipt(db, a, b, "<r2@x>", 5004));
	br_nudgedb_close(&db);
	db = open_db();
	T_CHECK(!receipt(db, a, b, "<r@x>", 6000));
	T_CHECK(!receipt(db, a, "carol@example.org", "<r@x>", 6000));
	T_CHECK(!receipt(db, a, b, "<r2@x>", 6000));
	T_CHECK(receipt(db, b, a, "<r@x>", 6000));
	br_nudgedb_close(&db);
}

/* Rows older than BR_NUDGEDB_KEEP_SECS go, younger ones stay. */
struct recent {
	char mids[8][16];
	size_t n;
};

static int recent_cb(struct br_nudgedb_sent *row, void *ctx)
{
	struct recent *r = ctx;
	T_CHECK_INT(row->rcpt_count, 2);
	snprintf(r->mids[r->n++], sizeof(r->mids[0]), "%s", row->message_id);
	return 0;
}

/* The catch-up walk: rows put since a time, in order, in pages. */
static void test_sent_recent(void)
{
	struct br_nudgedb *db = open_db();
	struct recent r = {0};
	int64_t cursor = 0;

	put(db, "alice@example.org", "<old@x>", "old", 1000);
	put(db, "alice@example.org", "<a1@x>", "a1", 5000);
	put(db, "bob@example.org", "<b1@x>", "b1", 5001);
	put(db, "alice@example.org", "<a2@x>", "a2", 5002);
	T_CHECK_INT(br_nudgedb_sent_recent(db, 4000, &cursor, 2, recent_cb, &r),
		    2);
	T_CHECK_INT(br_nudgedb_sent_recent(db, 4000, &cursor, 2, recent_cb, &r),
		    1);
	T_CHECK_INT(br_nudgedb_sent_recent(db, 4000, &cursor, 2, recent_cb, &r),
		    0);
	T_CHECK_INT(r.n, 3);
	T_CHECK_STR(r.mids[0], "<a1@x>");
	T_CHECK_STR(r.mids[1], "<b1@x>");
	T_CHECK_STR(r.mids[2], "<a2@x>");
	br_nudgedb_close(&db);
}

static void test_prune(void)
{
	struct br_nudgedb *db = open_db();
	const int64_t day = 86400, t0 = 100 * day;
	const char *a = "prune-a", *b = "prune-b";

	put(db, a, "<old@x>", "old", t0);
	put(db, a, "<new@x>", "new", t0 + 2 * day);
	T_CHECK_INT(try_nudge(db, a, b, "<old@x>", t0, 5), BR_NUDGEDB_ALLOWED);
	T_CHECK_INT(try_nudge(db, a, b, "<new@x>", t0 + 2 * day, 5),
		    BR_NUDGEDB_ALLOWED);
	T_CHECK(receipt(db, a, b, "<old@x>", t0));
	T_CHECK(receipt(db, a, b, "<new@x>", t0 + 2 * day));

	/* Exactly BR_NUDGEDB_KEEP_SECS old: kept. */
	T_CHECK_INT(br_nudgedb_prune(db, t0 + BR_NUDGEDB_KEEP_SECS), 0);
	T_CHECK(kept(db, a, "<old@x>"));
	T_CHECK(!receipt(db, a, b, "<old@x>", t0 + 31 * day));
	T_CHECK_INT(br_nudgedb_prune(db, t0 + BR_NUDGEDB_KEEP_SECS + day), 0);
	T_CHECK(!kept(db, a, "<old@x>"));
	T_CHECK(kept(db, a, "<new@x>"));
	check_latest(db, a, "<new@x>");
	T_CHECK_INT(try_nudge(db, a, b, "<new@x>", t0 + 31 * day, 5),
		    BR_NUDGEDB_ALREADY);
	T_CHECK_INT(try_nudge(db, a, b, "<old@x>", t0 + 31 * day, 5),
		    BR_NUDGEDB_ALLOWED);
	T_CHECK(!receipt(db, a, b, "<new@x>", t0 + 31 * day));
	T_CHECK(receipt(db, a, b, "<old@x>", t0 + 31 * day));

	/* Everything, later: the user has no latest sent mail any more. */
	T_CHECK_INT(br_nudgedb_prune(db, t0 + 100 * day), 0);
	check_latest(db, a, "");
	br_nudgedb_close(&db);
}

int main(void)
{
	T_CHECK(mkdtemp(dir) != NULL);
	T_RUN(test_sent);
	T_RUN(test_sent_bound);
	T_RUN(test_nudge);
	T_RUN(test_receipt);
	T_RUN(test_sent_recent);
	T_RUN(test_prune);
	char *cmd = xasprintf("rm -rf %s", dir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	return T_DONE();
}
