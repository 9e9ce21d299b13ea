/* The durable queue of mail written in chat (br_outq): rows survive a
   reopen, due rows come back by time and id, counts, updates, pruning. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_outq.h"
#include "test.h"
#include "ut_xalloc.h"

static char dir[] = "/tmp/test-outq-XXXXXX";

static struct br_outq *open_q(void)
{
	struct br_outq *q = NULL;
	char *error = NULL;
	T_CHECK_INT(br_outq_open(dir, &q, &error), 0);
	if (error != NULL) {
		fprintf(stderr, "%s\n", error);
		free(error);
	}
	return q;
}

static int64_t add(struct br_outq *q, const char *user, int64_t created,
		   int64_t next_try)
{
	char *rcpts[] = {"carol@example.net", "dave@example.net"};
	static const char data[] = "Subject: x\r\n\r\nbody\0with NUL\r\n";
	struct br_outq_item it = {
	    .user = (char *)user,
	    .tell_to = "alice@example.org",
	    .tell_from = "carol\\40example.net@mail.example.org",
	    .sender = "alice@example.org",
	    .rcpts = rcpts,
	    .rcpt_count = 2,
	    .subject = "x",
	    .message_id = "<1.tidings@example.org>",
	    .data = (char *)data,
	    .data_len = sizeof(data) - 1,
	    .created = created,
	    .next_try = next_try,
	    .state = BR_OUTQ_QUEUED,
	};
	int64_t id = 0;
	T_CHECK_INT(br_outq_add(q, &it, &id), 0);
	T_CHECK(id > 0);
	return id;
}

struct seen {
	struct br_outq_item *items[16];
	size_t n;
	size_t stop_after;
};

static int due_cb(struct br_outq_item *it, void *ctx)
{
	struct seen *s = ctx;
	s->items[s->n++] = it;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		br_outq_item_free(&s->items[i]);
	s->n = 0;
}

static void test_queue(void)
{
	struct br_outq *q = open_q();
	int64_t a = add(q, "alice@example.org", 1000, 5000);
	int64_t b = add(q, "alice@example.org", 2000, 9000);
	int64_t c = add(q, "bob@example.org", 3000, 1000);
	size_t n = 0;

	T_CHECK_INT(br_outq_count_since(q, "alice@example.org", 1500, &n), 0);
	T_CHECK_INT(n, 1);
	T_CHECK_INT(br_outq_count_since(q, "alice@example.org", 0, &n), 0);
	T_CHECK_INT(n, 2);
	T_CHECK_INT(br_outq_pending(q, &n), 0);
	T_CHECK_INT(n, 3);

	/* Due at 6000: a and c, by id; the row comes back whole. */
	struct seen s = {0};
	T_CHECK_INT(br_outq_due(q, 6000, 0, 10, due_cb, &s), 0);
	T_CHECK_INT(s.n, 2);
	T_CHECK(s.items[0]->id == a);
	T_CHECK(s.items[1]->id == c);
	T_CHECK_INT(s.items[0]->rcpt_count, 2);
	T_CHECK_STR(s.items[0]->rcpts[1], "dave@example.net");
	T_CHECK_STR(s.items[0]->tell_from,
		    "carol\\40example.net@mail.example.org");
	T_CHECK_INT(s.items[0]->data_len, 29);
	T_CHECK(memcmp(s.items[0]->data + 19, "with NUL", 8) == 0);

	/* Sent: still pending (its copy), due when its next_try comes. */
	s.items[0]->state = BR_OUTQ_SENT;
	s.items[0]->tries = 3;
	s.items[0]->next_try = 7000;
	s.items[0]->flags = BR_OUTQ_TOLD_DELAY | BR_OUTQ_NO_COPY;
	T_CHECK_INT(br_outq_update(q, s.items[0]), 0);
	/* Failed: no longer due. */
	s.items[1]->state = BR_OUTQ_FAILED;
	T_CHECK_INT(br_outq_update(q, s.items[1]), 0);
	seen_free(&s);

	/* after_id and limit; cb stopping early frees nothing twice. */
	T_CHECK_INT(br_outq_due(q, 10000, a, 10, due_cb, &s), 0);
	T_CHECK_INT(s.n, 1);
	T_CHECK(s.items[0]->id == b);
	seen_free(&s);
	s.stop_after = 1;
	T_CHECK_INT(br_outq_due(q, 10000, 0, 10, due_cb, &s), 0);
	T_CHECK_INT(s.n, 1);
	T_CHECK(s.items[0]->id == a);
	T_CHECK_INT(s.items[0]->state, BR_OUTQ_SENT);
	T_CHECK_INT(s.items[0]->tries, 3);
	T_CHECK_INT(s.items[0]->flags, BR_OUTQ_TOLD_DELAY | BR_OUTQ_NO_COPY);
	seen_free(&s);
	s.stop_after = 0;

	/* Survives a reopen. */
	br_outq_close(&q);
	T_CHECK(q == NULL);
	q = open_q();
	T_CHECK_INT(br_outq_pending(q, &n), 0);
	T_CHECK_INT(n, 2);
	/* Pruning drops done and failed rows only, by age. */
	T_CHECK_INT(br_outq_prune(q, 4000), 0);
	T_CHECK_INT(br_outq_count_since(q, "bob@example.org", 0, &n), 0);
	T_CHECK_INT(n, 0);
	T_CHECK_INT(br_outq_count_since(q, "alice@example.org", 0, &n), 0);
	T_CHECK_INT(n, 2);
	br_outq_close(&q);
	(void)c;
}

int main(void)
{
	T_CHECK(mkdtemp(dir) != NULL);
	T_RUN(test_queue);
	char *cmd = xasprintf("rm -rf %s", dir);
	T_CHECK_INT(system(cmd), 0);
	free(cmd);
	return T_DONE();
}
