/*
 * The component against a real Prosody (no Python): handshake, confirmation
 * by Prosody's own ping answers, a Prosody restart with stanzas queued
 * while it was down, and a wrong secret. Skipped (77) without prosody.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_server.h"
#include "ut_log.h"
#include "test.h"

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
		"modules_enabled = { \"ping\", \"disco\" }\n"
		"VirtualHost \"" FAKE_DOMAIN "\"\n"
		"Component \"" FAKE_JID "\"\n"
		"    component_secret = \"" FAKE_SECRET "\"\n",
		dir, dir, dir, c2s_port, comp_port);
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
