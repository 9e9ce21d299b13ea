/*
 * The component under faults: garbage from the server, a connection dropped
 * in the middle of a batch, a server that stops answering pings, a refused
 * handshake (backoff measured), stream close and reset, a tag too large
 * even to skip, and a socket fd above 1024.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fake_server.h"
#include "ut_log.h"
#include "test.h"
#include "ut_xalloc.h"
#include "xm_parser.h"

static bool tokens_in_order(const struct obs *o)
{
	for (size_t i = 0; i < o->n_tokens; i++) {
		if (o->tokens[i] != i + 1)
			return false;
	}
	return true;
}

/* The ids the server got on connection conn, joined with ','. */
static void conn_ids(const struct fake_server *s, int conn, char *out,
		     size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n_msgs && len < size; i++) {
		if (s->msgs[i].conn == conn)
			len +=
			    (size_t)snprintf(out + len, size - len, "%s%s",
					     len > 0 ? "," : "", s->msgs[i].id);
	}
}

static void send_batch(struct env *e, const char *prefix, int n,
		       uint64_t first_token)
{
	char id[32];

	for (int i = 1; i <= n; i++) {
		snprintf(id, sizeof(id), "%s%d", prefix, i);
		T_CHECK_INT(
		    env_send(e, id, NULL, first_token + (uint64_t)i - 1), 0);
	}
}

static void test_garbage_reconnects(void)
{
	struct env e;
	char ids[256];

	env_init(&e);
	e.srv.garbage_conns = 1;
	e.srv.ping_errors = true; /* an error answer confirms just as well */
	env_component(&e);
	send_batch(&e, "g", 3, 1);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 3, 3000);
	T_CHECK_INT(e.srv.conns, 2);
	T_CHECK_INT(e.obs.online, 1);
	T_CHECK_INT(e.obs.offline, 0);
	T_CHECK_INT(e.obs.n_tokens, 3);
	T_CHECK(tokens_in_order(&e.obs));
	conn_ids(&e.srv, 2, ids, sizeof(ids));
	T_CHECK_STR(ids, "g1,g2,g3");
	T_CHECK_INT(env_done(&e), 0);
}

static void test_drop_mid_batch(void)
{
	struct env e;
	struct xm_component_stats st;
	char ids[512];

	env_init(&e);
	e.srv.drop_at_msg = 15;
	env_component(&e);
	xm_component_start(e.obs.c);
	send_batch(&e, "a", 10, 1);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 10, 3000);
	T_CHECK_INT(e.obs.n_tokens, 10);
	/* Batch b is cut after b5; three more are queued while offline. */
	e.obs.send_on_offline = 3;
	e.obs.next_token = 20;
	send_batch(&e, "b", 10, 11);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 23, 3000);
	RUN_UNTIL(&e.loop, false, 30); /* room for a wrong extra callback */
	T_CHECK_INT(e.obs.n_tokens, 23);
	T_CHECK(tokens_in_order(&e.obs));
	T_CHECK_INT(e.srv.conns, 2);
	conn_ids(&e.srv, 1, ids, sizeof(ids));
	T_CHECK_STR(ids, "a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,b1,b2,b3,b4,b5");
	conn_ids(&e.srv, 2, ids, sizeof(ids));
	T_CHECK_STR(ids, "b1,b2,b3,b4,b5,b6,b7,b8,b9,b10,off1,off2,off3");
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.connects, 2);
	T_CHECK_INT(st.disconnects, 1);
	T_CHECK_INT(st.resent, 10);
	T_CHECK_INT(st.stanzas_out, 33);
	T_CHECK_INT(st.outbox_len, 0);
	T_CHECK_INT(e.obs.online, 2);
	T_CHECK_INT(e.obs.offline, 1);
	T_CHECK_INT(env_done(&e), 0);
}

static void test_stalled_server(void)
{
	struct env e;
	struct xm_component_stats st;
	char ids[256];
	double waited;

	env_init(&e);
	e.srv.stall_conns = 1;
	e.set.ping_timeout_msecs = 150;
	env_component(&e);
	send_batch(&e, "s", 3, 1);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 3, 3000);
	T_CHECK_INT(e.obs.n_tokens, 3);
	T_CHECK(tokens_in_order(&e.obs));
	T_CHECK_INT(e.srv.conns, 2);
	conn_ids(&e.srv, 1, ids, sizeof(ids));
	T_CHECK_STR(ids, "s1,s2,s3");
	conn_ids(&e.srv, 2, ids, sizeof(ids));
	T_CHECK_STR(ids, "s1,s2,s3");
	waited = e.srv.close_msecs[0] - e.srv.first_ping_msecs;
	printf("  unanswered ping: connection closed after %.1f ms "
	       "(timeout 150)\n",
	       waited);
	T_CHECK(waited >= 140 && waited < 400);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.resent, 3);
	T_CHECK_INT(env_done(&e), 0);
}

static int refused_lines, secret_lines;

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == UT_LOG_ERROR && strstr(line, "not-authorized") != NULL)
		refused_lines++;
	if (strstr(line, FAKE_SECRET) != NULL)
		secret_lines++;
}

static void test_refused_handshake_backoff(void)
{
	struct env e;
	struct xm_component_stats st;
	double d[7], late_max = 0;

	env_init(&e);
	e.srv.refuse_conns = -1;
	e.set.reconnect_min_msecs = 20;
	e.set.reconnect_max_msecs = 320;
	env_component(&e);
	ut_log_set_hook(log_hook, NULL);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.srv.conns >= 8, 6000);
	T_CHECK(e.srv.conns >= 8);
	printf("  delays between attempts (ms):");
	for (int k = 0; k < 7; k++) {
		double cap = 20 << (k + 1);

		cap = cap > 320 ? 320 : cap;
		d[k] = e.srv.conn_msecs[k + 1] - e.srv.conn_msecs[k];
		printf(" %.1f (cap %.0f)", d[k], cap);
		T_CHECK(d[k] >= 19 && d[k] <= cap + 30);
		if (k >= 3 && d[k] > late_max)
			late_max = d[k];
	}
	printf("\n");
	/* Attempt 0 waits at most 40 ms; the later ones up to 320 ms. */
	T_CHECK(late_max > 60);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.connects, 0);
	T_CHECK_INT(e.obs.online, 0);
	T_CHECK_INT(e.srv.handshakes_ok, 0);
	T_CHECK_INT(env_done(&e), 0);
	ut_log_set_hook(NULL, NULL);
	T_CHECK(refused_lines >= 7);
	T_CHECK_INT(secret_lines, 0);
}

static void test_backoff_reset_after_stable(void)
{
	struct env e;
	double t_drop, d;

	/* Three refusals push the backoff to attempt 3 (up to 160 ms); a
	   connection that then stays up 40 x min = 400 ms resets it. */
	env_init(&e);
	e.srv.refuse_conns = 3;
	e.set.reconnect_max_msecs = 1000;
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	T_CHECK_INT(e.srv.conns, 4);
	RUN_UNTIL(&e.loop, false, 450);
	t_drop = now_msecs();
	fake_server_drop(&e.srv);
	RUN_UNTIL(&e.loop, e.obs.online == 2, 3000);
	T_CHECK_INT(e.obs.online, 2);
	d = e.srv.conn_msecs[4] - t_drop;
	printf("  reconnect after a stable connection: %.1f ms (cap 20)\n", d);
	T_CHECK(d < 35);
	T_CHECK_INT(env_done(&e), 0);
}

static void test_server_closes_and_resets(void)
{
	struct env e;
	struct xm_component_stats st;
	/* A start tag still open 2 MiB past the 1024-byte limit is a broken
	   stream (a stanza merely over the limit is dropped: see
	   test_component_limits.c). */
	size_t len = 1024 + XM_PARSER_TOKEN_MARGIN + 65536;
	char *big = xmalloc(len + 1);

	env_init(&e);
	e.set.max_stanza_bytes = 1024;
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 3000);
	fake_server_send(&e.srv, "</stream:stream>");
	RUN_UNTIL(&e.loop, e.obs.online == 2, 3000);
	fake_server_reset(&e.srv);
	RUN_UNTIL(&e.loop, e.obs.online == 3, 3000);
	memset(big, 'x', len);
	memcpy(big, "<message a='", 12);
	big[len] = '\0';
	fake_server_send(&e.srv, big);
	RUN_UNTIL(&e.loop, e.obs.online == 4, 3000);
	T_CHECK_INT(e.srv.conns, 4);
	T_CHECK_INT(e.obs.online, 4);
	T_CHECK_INT(e.obs.offline, 3);
	T_CHECK_INT(e.obs.stanzas, 0);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.disconnects, 3);
	T_CHECK_INT(st.dropped_in, 0);
	T_CHECK_INT(env_done(&e), 0);
	free(big);
}

static void test_connection_refused(void)
{
	struct env e;
	uv_tcp_t probe;
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);

	/* A port nobody listens on: bound, never listened, then closed. */
	env_init(&e);
	uv_ip4_addr("127.0.0.1", 0, &addr);
	uv_tcp_init(&e.loop, &probe);
	uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0);
	uv_tcp_getsockname(&probe, (struct sockaddr *)&bound, &len);
	e.set.port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	uv_close((uv_handle_t *)&probe, NULL);
	env_component(&e);
	send_batch(&e, "r", 2, 1);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, false, 200);
	T_CHECK_INT(e.obs.online, 0);
	T_CHECK_INT(e.obs.n_tokens, 0);
	T_CHECK(!xm_component_online(e.obs.c));
	T_CHECK_INT(env_done(&e), 0);
	T_CHECK_INT(e.obs.close_cbs, 1);
}

static void test_mute_handshake_and_name(void)
{
	struct env e;
	double waited;

	/* A name, resolved on the thread pool (every address it has is
	   tried in turn). The first handshake is never answered. */
	env_init(&e);
	e.srv.mute_conns = 1;
	e.set.host = "localhost";
	e.set.ping_timeout_msecs = 100;
	env_component(&e);
	send_batch(&e, "h", 2, 1);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 2, 3000);
	T_CHECK_INT(e.obs.n_tokens, 2);
	T_CHECK_INT(e.srv.conns, 2);
	T_CHECK_INT(e.obs.online, 1);
	waited = e.srv.close_msecs[0] - e.srv.conn_msecs[0];
	printf("  unanswered handshake: closed after %.1f ms (timeout 100)\n",
	       waited);
	T_CHECK(waited >= 95 && waited < 400);
	T_CHECK_INT(env_done(&e), 0);
}

static void test_fd_above_1024(void)
{
	struct rlimit rl = {4096, 4096};
	struct env e;
	int fds[1200], n = 0, base, probe;

	T_CHECK_INT(setrlimit(RLIMIT_NOFILE, &rl), 0);
	base = open("/dev/null", O_RDONLY);
	T_CHECK(base >= 0);
	while (n < (int)UT_N_ELEMENTS(fds) && (fds[n] = dup(base)) >= 0 &&
	       fds[n] < 1100)
		n++;
	probe = dup(base);
	T_CHECK(probe > 1024); /* every new socket lands above 1024 */
	close(probe);

	env_init(&e);
	env_component(&e);
	send_batch(&e, "f", 100, 1);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 100, 3000);
	T_CHECK_INT(e.obs.n_tokens, 100);
	T_CHECK(tokens_in_order(&e.obs));
	printf("  server-side socket fd %d\n", e.srv.last_fd);
	T_CHECK(e.srv.last_fd > 1024);
	T_CHECK_INT(env_done(&e), 0);
	for (int i = 0; i <= n && i < (int)UT_N_ELEMENTS(fds); i++)
		close(fds[i]);
	close(base);
}

int main(void)
{
	xmpp_initialize();
	ut_log_set_level(UT_LOG_WARN);
	T_RUN(test_garbage_reconnects);
	T_RUN(test_drop_mid_batch);
	T_RUN(test_stalled_server);
	T_RUN(test_refused_handshake_backoff);
	T_RUN(test_backoff_reset_after_stable);
	T_RUN(test_server_closes_and_resets);
	T_RUN(test_connection_refused);
	T_RUN(test_mute_handshake_and_name);
	T_RUN(test_fd_above_1024);
	xmpp_shutdown();
	return T_DONE();
}
