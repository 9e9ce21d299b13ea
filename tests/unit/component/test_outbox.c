/*
 * The outbox bookkeeping (write stages, confirmation pings, rewind) and the
 * backoff schedule, without any network.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "xm_backoff.h"
#include "xm_outbox.h"

#define PING(n)                                                                \
	"<iq type='get' id='xmc0000abcd-" #n "' from='comp.example' "          \
	"to='example'><ping xmlns='urn:xmpp:ping'/></iq>"

static void push_str(struct xm_outbox *o, const char *s, uint64_t token)
{
	T_CHECK_INT(xm_outbox_push(o, s, strlen(s), token), 0);
}

static size_t fill(struct xm_outbox *o, struct ut_buf *b)
{
	ut_buf_reset(b);
	return xm_outbox_fill(o, b, "comp.example", "example", 1000);
}

static void test_batch_ping_confirm(void)
{
	struct xm_outbox o;
	struct ut_buf b = UT_BUF_INIT;
	uint64_t upto, token, upto2;

	xm_outbox_init(&o, 100, 0xabcd);
	push_str(&o, "<a/>", 1);
	push_str(&o, "<b/>", 0);
	push_str(&o, "<c/>", 3);
	T_CHECK_INT(fill(&o, &b), 3);
	T_CHECK_STR(ut_buf_str(&b), "<a/><b/><c/>" PING(1));
	T_CHECK_INT(o.n_pings, 1);
	/* More while a ping is in flight: written, but no second ping. */
	push_str(&o, "<d/>", 4);
	push_str(&o, "<e/>", 5);
	T_CHECK_INT(fill(&o, &b), 2);
	T_CHECK_STR(ut_buf_str(&b), "<d/><e/>");
	T_CHECK_INT(xm_outbox_uncovered(&o), 2);
	/* A foreign id confirms nothing. */
	T_CHECK(!xm_outbox_ping_answered(&o, "xmc0000abcd-9", &upto));
	T_CHECK(xm_outbox_ping_answered(&o, "xmc0000abcd-1", &upto));
	T_CHECK(xm_outbox_pop_confirmed(&o, upto, &token));
	T_CHECK_INT(token, 1);
	T_CHECK(xm_outbox_pop_confirmed(&o, upto, &token));
	T_CHECK_INT(token, 0);
	T_CHECK(xm_outbox_pop_confirmed(&o, upto, &token));
	T_CHECK_INT(token, 3);
	T_CHECK(!xm_outbox_pop_confirmed(&o, upto, &token));
	T_CHECK_INT(o.count, 2);
	/* Nothing new to write, but d and e need a ping now. */
	T_CHECK_INT(fill(&o, &b), 0);
	T_CHECK_STR(ut_buf_str(&b), PING(2));
	/* Disconnect: d and e go out again, counted as resent. */
	xm_outbox_rewind(&o);
	T_CHECK_INT(o.n_pings, 0);
	T_CHECK_INT(xm_outbox_unwritten(&o), 2);
	T_CHECK(!xm_outbox_ping_answered(&o, "xmc0000abcd-2", &upto));
	push_str(&o, "<f/>", 6);
	T_CHECK_INT(fill(&o, &b), 3);
	T_CHECK_STR(ut_buf_str(&b), "<d/><e/><f/>" PING(3));
	T_CHECK_INT(o.stanzas_out, 8);
	T_CHECK_INT(o.resent, 2);
	/* A keepalive ping after it; answering the later one answers both. */
	ut_buf_reset(&b);
	xm_outbox_add_ping(&o, &b, "comp.example", "example", 2000);
	T_CHECK_STR(ut_buf_str(&b), PING(4));
	T_CHECK(xm_outbox_oldest_ping(&o, &upto2));
	T_CHECK_INT(upto2, 1000);
	T_CHECK(xm_outbox_ping_answered(&o, "xmc0000abcd-4", &upto));
	T_CHECK(!xm_outbox_oldest_ping(&o, &upto2));
	for (uint64_t want = 4; want <= 6; want++) {
		T_CHECK(xm_outbox_pop_confirmed(&o, upto, &token));
		T_CHECK_INT(token, want);
	}
	T_CHECK_INT(o.count, 0);
	xm_outbox_free(&o);
	ut_buf_free(&b);
}

static void test_window_and_ping_every(void)
{
	struct xm_outbox o;
	struct ut_buf b = UT_BUF_INIT;
	uint64_t upto, token;
	char s[16];

	xm_outbox_init(&o, 100, 0xabcd);
	o.window = 4;
	o.ping_every = 2;
	for (int i = 0; i < 10; i++) {
		snprintf(s, sizeof(s), "<m%d/>", i);
		push_str(&o, s, (uint64_t)i + 1);
	}
	T_CHECK_INT(fill(&o, &b), 4);
	T_CHECK_STR(ut_buf_str(&b), "<m0/><m1/>" PING(1) "<m2/><m3/>" PING(2));
	T_CHECK_INT(fill(&o, &b), 0); /* window full */
	T_CHECK(xm_outbox_ping_answered(&o, "xmc0000abcd-1", &upto));
	T_CHECK(xm_outbox_pop_confirmed(&o, upto, &token));
	T_CHECK_INT(token, 1);
	T_CHECK(xm_outbox_pop_confirmed(&o, upto, &token));
	T_CHECK_INT(token, 2);
	T_CHECK(!xm_outbox_pop_confirmed(&o, upto, &token));
	T_CHECK_INT(fill(&o, &b), 2);
	T_CHECK_STR(ut_buf_str(&b), "<m4/><m5/>" PING(3));
	xm_outbox_free(&o);
	ut_buf_free(&b);
}

static void test_max_and_wrap(void)
{
	struct xm_outbox o;
	struct ut_buf b = UT_BUF_INIT;
	uint64_t upto, token, next_token = 1, pushed = 0;
	char id[32];
	int pings = 0;

	xm_outbox_init(&o, 2, 1);
	push_str(&o, "<x/>", 1);
	push_str(&o, "<y/>", 2);
	T_CHECK_INT(xm_outbox_push(&o, "<z/>", 4, 3), -1);
	T_CHECK_INT(o.count, 2);
	xm_outbox_free(&o);

	/* Many push/confirm rounds across ring growth and wrap-around. */
	xm_outbox_init(&o, 1000, 0xabcd);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 37; i++)
			push_str(&o, "<w/>", ++pushed);
		fill(&o, &b);
		snprintf(id, sizeof(id), "xmc0000abcd-%d", ++pings);
		T_CHECK(xm_outbox_ping_answered(&o, id, &upto));
		/* Confirm only part of it every other round. */
		while (xm_outbox_pop_confirmed(&o, upto, &token)) {
			if (token != next_token)
				break;
			next_token++;
		}
	}
	T_CHECK_INT(next_token, pushed + 1);
	T_CHECK_INT(o.count, 0);
	xm_outbox_free(&o);
	ut_buf_free(&b);
}

static void test_backoff(void)
{
	struct xm_backoff bo;
	uint64_t sum = 0;

	xm_backoff_init(&bo, 250, 30000, 42);
	T_CHECK_INT(xm_backoff_cap(&bo, 0), 500);
	T_CHECK_INT(xm_backoff_cap(&bo, 1), 1000);
	T_CHECK_INT(xm_backoff_cap(&bo, 5), 16000);
	T_CHECK_INT(xm_backoff_cap(&bo, 6), 30000);
	T_CHECK_INT(xm_backoff_cap(&bo, 1000), 30000);
	for (unsigned n = 0; n < 100; n++) {
		uint64_t d = xm_backoff_next(&bo);
		if (d < 250 || d > xm_backoff_cap(&bo, n))
			T_CHECK(!"delay out of bounds");
	}
	/* Full jitter: attempt 0 is uniform in [250, 500]. */
	for (int i = 0; i < 2000; i++) {
		xm_backoff_reset(&bo);
		sum += xm_backoff_next(&bo);
	}
	T_CHECK(sum / 2000 > 350 && sum / 2000 < 400);
	xm_backoff_init(&bo, 100, 50, 7);
	T_CHECK_INT(xm_backoff_next(&bo), 100);
	T_CHECK_INT(xm_backoff_next(&bo), 100);
}

int main(void)
{
	T_RUN(test_batch_ping_confirm);
	T_RUN(test_window_and_ping_every);
	T_RUN(test_max_and_wrap);
	T_RUN(test_backoff);
	return T_DONE();
}
