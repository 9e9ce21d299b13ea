/*
 * The component against a real Prosody (no Python): handshake, confirmation
 * by Prosody's own ping answers, a Prosody restart with stanzas queued
 * while it was down, a wrong secret, and XEP-0356 with Prosody 0.12's
 * mod_privilege (the advertisement, roster set and get on a user's behalf
 * answered from the user's bare JID, a wrapped message Prosody accepts).
 * Skipped (77) without prosody.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_server.h"
#include "ut_log.h"
#include "test.h"
#include "xm_privilege.h"
#include "xm_stanza.h"

#define PROSODY "/usr/bin/prosody"

static char dir[] = "/tmp/tidings-comp-XXXXXX";
static char cfg[256];
static int c2s_port, comp_port;
static pid_t prosody_pid = -1;

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void write_config(void)
{
	char path[300];
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/prosody.cfg.lua", dir);
	f = fopen(cfg, "w");
	fprintf(f,
		"pidfile = \"%s/prosody.pid\"\n"
		"data_path = \"%s\"\n"
		"run_as_root = true\n"
		"daemonize = false\n"
		"log = { info = \"%s/prosody.log\" }\n"
		"c2s_ports = { %d }\n"
		"c2s_interfaces = { \"127.0.0.1\" }\n"
		"s2s_ports = {}\nhttp_ports = {}\nhttps_ports = {}\n"
		"component_ports = { %d }\n"
		"component_interfaces = { \"127.0.0.1\" }\n"
		"authentication = \"internal_plain\"\n"
		"modules_enabled = { \"ping\", \"disco\", \"roster\", "
		"\"privilege\" }\n"
		"VirtualHost \"" FAKE_DOMAIN "\"\n"
		"    privileged_entities = { [\"" FAKE_JID "\"] = {\n"
		"        roster = \"both\"; message = \"outgoing\";\n"
		"        presence = \"roster\"; } }\n"
		"Component \"" FAKE_JID "\"\n"
		"    component_secret = \"" FAKE_SECRET "\"\n"
		"    modules_enabled = { \"privilege\" }\n",
		dir, dir, dir, c2s_port, comp_port);
	fclose(f);
	/* One account, alice (internal_plain's storage). */
	snprintf(path, sizeof(path), "%s/example%%2eorg", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/example%%2eorg/accounts", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/example%%2eorg/accounts/alice.dat",
		 dir);
	f = fopen(path, "w");
	fprintf(f, "return { [\"password\"] = \"pw\"; };\n");
	fclose(f);
}

static bool prosody_start(void)
{
	double end = now_msecs() + 10000;

	fflush(stdout); /* the child must not inherit unwritten output */
	fflush(stderr);
	prosody_pid = fork();
	if (prosody_pid == 0) {
		int null_fd = open("/dev/null", O_WRONLY);

		dup2(null_fd, STDOUT_FILENO);
		dup2(null_fd, STDERR_FILENO);
		execl(PROSODY, "prosody", "-F", "--config", cfg, (char *)NULL);
		_exit(127);
	}
	while (!port_open(comp_port) && now_msecs() < end)
		usleep(20000);
	return port_open(comp_port);
}

static void prosody_stop(void)
{
	if (prosody_pid <= 0)
		return;
	kill(prosody_pid, SIGTERM);
	waitpid(prosody_pid, NULL, 0);
	prosody_pid = -1;
}

static bool tokens_in_order(const struct obs *o)
{
	for (size_t i = 0; i < o->n_tokens; i++) {
		if (o->tokens[i] != i + 1)
			return false;
	}
	return true;
}

static void send_n(struct env *e, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t token = ++e->obs.next_token;
		T_CHECK_INT(env_send(e, "p", NULL, token), 0);
	}
}

static void test_prosody_confirm_and_restart(void)
{
	struct env e;
	struct xm_component_stats st;
	double t0;

	env_init(&e);
	e.set.port = (uint16_t)comp_port;
	e.set.reconnect_max_msecs = 200;
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.online == 1, 5000);
	T_CHECK_INT(e.obs.online, 1);
	t0 = now_msecs();
	send_n(&e, 2000);
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 2000, 10000);
	printf("  Prosody confirmed 2000 stanzas in %.1f ms\n",
	       now_msecs() - t0);
	T_CHECK_INT(e.obs.n_tokens, 2000);

	/* Prosody restarts; what is queued meanwhile is sent afterwards. */
	prosody_stop();
	RUN_UNTIL(&e.loop, e.obs.offline == 1, 5000);
	T_CHECK_INT(e.obs.offline, 1);
	send_n(&e, 50);
	T_CHECK(prosody_start());
	RUN_UNTIL(&e.loop, e.obs.n_tokens == 2050, 10000);
	T_CHECK_INT(e.obs.n_tokens, 2050);
	T_CHECK(tokens_in_order(&e.obs));
	T_CHECK_INT(e.obs.online, 2);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.connects, 2);
	T_CHECK_INT(st.outbox_len, 0);
	T_CHECK_INT(env_done(&e), 0);
}

static int refused;

static void log_hook(enum ut_log_level level, const char *line, void *ctx)
{
	(void)ctx;
	if (level == UT_LOG_ERROR && strstr(line, "not-authorized") != NULL)
		refused++;
}

static void test_prosody_wrong_secret(void)
{
	struct env e;
	struct xm_component_stats st;

	env_init(&e);
	e.set.port = (uint16_t)comp_port;
	e.set.secret = "wrong";
	env_component(&e);
	ut_log_set_hook(log_hook, NULL);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, refused >= 2, 5000);
	ut_log_set_hook(NULL, NULL);
	T_CHECK(refused >= 2);
	xm_component_get_stats(e.obs.c, &st);
	T_CHECK_INT(st.connects, 0);
	T_CHECK_INT(e.obs.online, 0);
	T_CHECK_INT(env_done(&e), 0);
}

struct call_rec {
	int calls;
	enum xm_iq_outcome outcome;
	char from[64];
	struct xm_roster_item item;
	bool found;
};

static void call_cb(enum xm_iq_outcome outcome, xmpp_stanza_t *reply, void *ctx)
{
	struct call_rec *r = ctx;

	r->calls++;
	r->outcome = outcome;
	if (reply == NULL)
		return;
	snprintf(r->from, sizeof(r->from), "%s",
		 xmpp_stanza_get_from(reply) ? xmpp_stanza_get_from(reply)
					     : "");
	r->found = xm_privilege_roster_find(reply, FAKE_JID, &r->item) == 0;
}

static void call(struct env *e, xmpp_stanza_t *iq, struct call_rec *rec)
{
	uint64_t handle;

	memset(rec, 0, sizeof(*rec));
	T_CHECK_INT(
	    xm_iq_send(xm_component_iq(e->obs.c), iq, call_cb, rec, &handle),
	    0);
	xmpp_stanza_release(iq);
	RUN_UNTIL(&e->loop, rec->calls == 1, 5000);
	T_CHECK_INT(rec->calls, 1);
}

/* Error messages Prosody sent the component. */
static int error_messages(struct env *e)
{
	int n = 0;

	for (size_t i = 0; i < e->obs.n_messages; i++) {
		const char *type = xmpp_stanza_get_type(e->obs.messages[i]);

		n += type != NULL && strcmp(type, "error") == 0;
	}
	return n;
}

static void send_wrapped(struct env *e, bool jabber_client)
{
	xmpp_stanza_t *inner = xm_message_new(
	    e->sctx, "chat", "alice@" FAKE_DOMAIN, "bob@" FAKE_DOMAIN, "w1");
	xmpp_stanza_t *msg, *fwd;

	xm_message_set_body(inner, "hello");
	T_CHECK_INT(
	    xm_privilege_message_new(e->sctx, XM_PRIVILEGE_V2, inner, &msg), 0);
	if (!jabber_client) {
		/* What Prosody refuses: the inner message in our stream's
		   namespace. */
		fwd = xmpp_stanza_get_child_by_name(
		    xmpp_stanza_get_child_by_name(msg, "privilege"),
		    "forwarded");
		xmpp_stanza_del_attribute(xmpp_stanza_get_children(fwd),
					  "xmlns");
	}
	T_CHECK_INT(xm_component_send(e->obs.c, msg, 0), 0);
	xmpp_stanza_release(msg);
	xmpp_stanza_release(inner);
}

static void test_prosody_privilege(void)
{
	struct env e;
	struct xm_privilege p;
	struct call_rec rec;
	const char *error = NULL;
	xmpp_stanza_t *iq;
	int adverts = 0;

	env_init(&e);
	e.set.port = (uint16_t)comp_port;
	env_component(&e);
	xm_component_start(e.obs.c);
	RUN_UNTIL(&e.loop, e.obs.n_messages >= 1, 5000);
	for (size_t i = 0; i < e.obs.n_messages; i++) {
		if (xm_privilege_find(e.obs.messages[i]) == NULL)
			continue;
		adverts++;
		T_CHECK_INT(xm_privilege_parse(e.obs.messages[i], FAKE_DOMAIN,
					       &p, &error),
			    0);
		T_CHECK_INT(p.version, XM_PRIVILEGE_V2);
		T_CHECK_INT(p.roster, XM_PRIV_GET | XM_PRIV_SET);
		T_CHECK_INT(p.message, XM_PRIV_MESSAGE_OUTGOING);
		T_CHECK_INT(p.presence, XM_PRIV_PRESENCE_ROSTER);
		xm_privilege_clear(&p);
	}
	T_CHECK_INT(adverts, 1);

	/* Roster set, then get, on alice's behalf: answered from her bare
	   JID (the engine matches on it). */
	T_CHECK_INT(xm_privilege_roster_set_new(e.sctx, "alice@" FAKE_DOMAIN,
						FAKE_JID, "Mail",
						XM_ROSTER_BOTH, &iq),
		    0);
	call(&e, iq, &rec);
	T_CHECK_INT(rec.outcome, XM_IQ_RESULT);
	T_CHECK_STR(rec.from, "alice@" FAKE_DOMAIN);
	T_CHECK_INT(
	    xm_privilege_roster_get_new(e.sctx, "alice@" FAKE_DOMAIN, &iq), 0);
	call(&e, iq, &rec);
	T_CHECK_INT(rec.outcome, XM_IQ_RESULT);
	T_CHECK(rec.found);
	T_CHECK_INT(rec.item.subscription, XM_ROSTER_BOTH);
	T_CHECK_STR(rec.item.name, "Mail");
	free(rec.item.name);

	/* A wrapped message Prosody takes without a word; a broken one it
	   refuses with an error message to us. */
	send_wrapped(&e, true);
	RUN_UNTIL(&e.loop, false, 300);
	T_CHECK_INT(error_messages(&e), 0);
	send_wrapped(&e, false);
	RUN_UNTIL(&e.loop, error_messages(&e) == 1, 3000);
	T_CHECK_INT(error_messages(&e), 1);
	T_CHECK_INT(env_done(&e), 0);
}

int main(void)
{
	char cmd[300];
	int rc;

	if (access(PROSODY, X_OK) != 0) {
		printf("no %s: skipped\n", PROSODY);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	T_CHECK(mkdtemp(dir) != NULL);
	c2s_port = free_port();
	comp_port = free_port();
	write_config();
	xmpp_initialize();
	ut_log_set_level(UT_LOG_WARN);
	if (!prosody_start()) {
		fprintf(stderr, "prosody did not start (see %s)\n", dir);
		prosody_stop();
		return 1;
	}
	T_RUN(test_prosody_confirm_and_restart);
	T_RUN(test_prosody_wrong_secret);
	T_RUN(test_prosody_privilege);
	prosody_stop();
	xmpp_shutdown();
	rc = T_DONE();
	if (rc == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return rc;
}
