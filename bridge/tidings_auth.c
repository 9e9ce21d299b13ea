/*
 * tidings-auth: ejabberd's external authentication helper, so that a
 * mailbox and its JID share one password.
 *
 *   tidings-auth -c FILE [-d] [-t MSECS]
 *
 * ejabberd (extauth_program) starts it and writes requests to its stdin;
 * it answers each on stdout (xmpp-module/xm_extauth.h), one at a time, in
 * order, and exits 0 at the end of its input. It reads tidingsd's own
 * configuration file and uses:
 * - [mail] auth_client_socket: Dovecot's auth-client socket, where "auth"
 *   checks the password (mailstore/ms_authclient.h);
 * - [mail] auth_master_socket: Dovecot's userdb, where "isuser" looks the
 *   mailbox up (mailstore/ms_authmaster.h);
 * - [xmpp] domain, [domains], [mail] domain and username_format: which
 *   JIDs are served and which mailbox each is (bridge/br_jidmap.h), so
 *   that bob@chat.b.org logs in with bob@b.org's password.
 * It never reads the master password: master_password_file is not opened
 * (it is tidingsd's alone, mode 0600), and a master_password written in
 * tidings.conf itself is wiped as soon as it is parsed, with one warning
 * when the XMPP server's user can read it (see warn_master_password()).
 * Answers: auth is true only on Dovecot's OK for that very mailbox; isuser
 * only when the userdb knows it; setpass, tryregister, removeuser,
 * removeuser3, certauth and anything else are false (the mail system owns
 * the passwords). Every request takes at most the timeout (-t, 10 s by
 * default, 5 s for isuser), well below ejabberd's 30 s.
 *
 * stdout carries the replies and nothing else: at start the replies get a
 * private copy of fd 1, and fd 1 itself is pointed at stderr, so that no
 * library can ever write a stray byte to ejabberd. Logs go to stderr
 * (ejabberd passes them on to its own), or to syslog (ident tidings-auth)
 * with [log] target = syslog; passwords are never logged and are
 * wiped from memory once a request is answered.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "br_config.h"
#include "br_jidmap.h"
#include "ms_authclient.h"
#include "ms_authmaster.h"
#include "ut_log.h"
#include "ut_xalloc.h"
#include "xm_extauth.h"

#define DEFAULT_CONFIG	      "/etc/tidings/tidings.conf"
#define LOG_PREFIX	      "tidings-auth"
#define SERVICE		      "xmpp"
#define DEFAULT_TIMEOUT_MSECS 10000
#define ISUSER_TIMEOUT_MSECS  5000
#define MAX_TIMEOUT_MSECS     25000 /* ejabberd gives up after 30 s */
#define MIN_TIMEOUT_MSECS     100
#define ISUSER_POS_TTL_MSECS  (5 * 60 * 1000)
#define ISUSER_NEG_TTL_MSECS  (30 * 1000)
#define READ_CHUNK	      4096

struct helper {
	uv_loop_t loop;
	struct br_config *cfg;
	struct ms_authclient *ac;
	struct ms_authmaster *am;
	int out_fd; /* the replies' copy of stdout */
	/* The request under way. */
	bool done;
	int status; /* ms_authclient_status or ms_authmaster_status */
	char reason[256];
	struct xm_extauth_decoder dec;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tidings-auth [-c FILE] [-d] [-t MSECS]\n"
		"  ejabberd's extauth helper: checks passwords against "
		"Dovecot.\n"
		"  -c FILE   tidingsd's configuration (default " DEFAULT_CONFIG
		")\n"
		"  -d        log at debug level (overrides [log] level)\n"
		"  -t MSECS  longest wait for Dovecot per request (default "
		"10000, at most 25000)\n"
		"  -h        this help\n"
		"  -V        version\n");
}

/* ---- waiting for one answer ---- */

static void finished(struct helper *h, int status, const char *reason)
{
	h->done = true;
	h->status = status;
	snprintf(h->reason, sizeof(h->reason), "%s",
		 reason != NULL ? reason : "");
	uv_stop(&h->loop);
}

static void auth_cb(const struct ms_authclient_result *res, void *ctx)
{
	finished(ctx, (int)res->status, res->reason);
}

static void isuser_cb(const struct ms_authmaster_result *res, void *ctx)
{
	finished(ctx, (int)res->status, res->reason);
}

/* Runs the loop until the callback came. Both clients guarantee one
   within their timeout; a loop with nothing left to run is a bug. */
static bool wait_answer(struct helper *h)
{
	while (!h->done) {
		if (uv_run(&h->loop, UV_RUN_ONCE) == 0 && !h->done) {
			log_error("internal error: no answer pending");
			return false;
		}
	}
	return true;
}

/* ---- the operations ---- */

static bool op_auth(struct helper *h, const struct xm_extauth_request *rq,
		    const char *jid, const char *key)
{
	struct ms_authclient_request *req;
	char *error;

	if (rq->password_len == 0) {
		ut_log(UT_LOG_INFO, LOG_PREFIX,
		       "auth %s: refused: empty "
		       "password",
		       jid);
		return false;
	}
	h->done = false;
	if (ms_authclient_auth(h->ac, key, rq->password, rq->password_len,
			       auth_cb, h, &req, &error) < 0) {
		ut_log(UT_LOG_WARN, LOG_PREFIX, "auth %s: %s", jid, error);
		free(error);
		return false;
	}
	if (!wait_answer(h))
		return false;
	switch ((enum ms_authclient_status)h->status) {
	case MS_AUTHCLIENT_OK:
		log_debug("%s: auth %s: ok", LOG_PREFIX, jid);
		return true;
	case MS_AUTHCLIENT_REFUSED:
		ut_log(UT_LOG_INFO, LOG_PREFIX, "auth %s: refused: %s", jid,
		       h->reason);
		return false;
	case MS_AUTHCLIENT_ERROR:
		break;
	}
	ut_log(UT_LOG_WARN, LOG_PREFIX, "auth %s: no answer from Dovecot: %s",
	       jid, h->reason);
	return false;
}

static bool op_isuser(struct helper *h, const char *jid, const char *key)
{
	struct ms_authmaster_request *req;
	struct ms_authmaster_result res;
	char *error;

	h->done = false;
	int ret =
	    ms_authmaster_user(h->am, key, isuser_cb, h, &req, &res, &error);
	if (ret < 0) {
		ut_log(UT_LOG_WARN, LOG_PREFIX, "isuser %s: %s", jid, error);
		free(error);
		return false;
	}
	if (ret == 0) {
		if (!wait_answer(h))
			return false;
		res.status = (enum ms_authmaster_status)h->status;
	}
	switch (res.status) {
	case MS_AUTHMASTER_FOUND:
		log_debug("%s: isuser %s: yes", LOG_PREFIX, jid);
		return true;
	case MS_AUTHMASTER_NOTFOUND:
		log_debug("%s: isuser %s: no such mailbox", LOG_PREFIX, jid);
		return false;
	case MS_AUTHMASTER_FAIL:
		break;
	}
	ut_log(UT_LOG_WARN, LOG_PREFIX, "isuser %s: no answer from Dovecot: %s",
	       jid, h->reason);
	return false;
}

/* The answer to the frame just completed. */
static bool handle_frame(struct helper *h)
{
	struct xm_extauth_request rq;
	const char *why;

	if (xm_extauth_parse(&h->dec, &rq, &why) < 0) {
		ut_log(UT_LOG_WARN, LOG_PREFIX,
		       "a malformed request (%zu bytes: %s): answered false",
		       h->dec.body_len, why);
		return false;
	}
	char *jid = xasprintf("%s@%s", rq.user, rq.server);
	char *key = NULL;
	bool ok = false;

	if (br_jidmap_jid(h->cfg, jid, &key) < 0) {
		ut_log(UT_LOG_INFO, LOG_PREFIX,
		       "%s %s: refused: not a user of a domain tidings serves",
		       rq.op_name, jid);
	} else {
		switch (rq.op) {
		case XM_EXTAUTH_OP_AUTH:
			ok = op_auth(h, &rq, jid, key);
			break;
		case XM_EXTAUTH_OP_ISUSER:
			ok = op_isuser(h, jid, key);
			break;
		case XM_EXTAUTH_OP_SETPASS:
		case XM_EXTAUTH_OP_TRYREGISTER:
		case XM_EXTAUTH_OP_REMOVEUSER:
		case XM_EXTAUTH_OP_REMOVEUSER3:
			ut_log(UT_LOG_INFO, LOG_PREFIX,
			       "%s %s: refused: accounts and passwords are "
			       "managed in the mail system",
			       rq.op_name, jid);
			break;
		case XM_EXTAUTH_OP_CERTAUTH:
			ut_log(UT_LOG_INFO, LOG_PREFIX,
			       "certauth %s: refused: not supported", jid);
			break;
		}
	}
	free(key);
	free(jid);
	return ok;
}

/* ---- stdin and stdout ---- */

/* 0, or -1 when ejabberd is gone. */
static int write_reply(struct helper *h, bool ok)
{
	unsigned char out[XM_EXTAUTH_REPLY_LEN];
	size_t off = 0;

	xm_extauth_reply(ok, out);
	while (off < sizeof(out)) {
		ssize_t n = write(h->out_fd, out + off, sizeof(out) - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = h->out_fd, .events = POLLOUT};
			poll(&p, 1, -1);
			continue;
		}
		if (n <= 0) {
			ut_log(UT_LOG_INFO, LOG_PREFIX,
			       "cannot write a reply (%s): exiting",
			       n < 0 ? strerror(errno) : "nothing written");
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Reads stdin to its end, answering every frame. 0 at EOF (or when
   ejabberd is gone), -1 on a read error. */
static int serve(struct helper *h)
{
	char buf[READ_CHUNK];
	int ret = 0;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = STDIN_FILENO,
					   .events = POLLIN};
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0) {
			log_error("%s: reading requests: %s", LOG_PREFIX,
				  strerror(errno));
			ret = -1;
			break;
		}
		if (n == 0) {
			if (xm_extauth_decoder_partial(&h->dec))
				ut_log(UT_LOG_INFO, LOG_PREFIX,
				       "input ended inside a request; "
				       "exiting");
			break;
		}
		size_t off = 0, used;
		bool gone = false;
		while (off < (size_t)n && !gone) {
			enum xm_extauth_status st = xm_extauth_feed(
			    &h->dec, buf + off, (size_t)n - off, &used);
			off += used;
			if (st == XM_EXTAUTH_MORE)
				continue;
			bool ok = false;
			if (st == XM_EXTAUTH_FRAME) {
				ok = handle_frame(h);
			} else {
				ut_log(UT_LOG_WARN, LOG_PREFIX,
				       "a request over %d bytes: skipped, "
				       "answered false",
				       XM_EXTAUTH_BODY_MAX);
			}
			xm_extauth_decoder_wipe(&h->dec);
			gone = write_reply(h, ok) < 0;
		}
		explicit_bzero(buf, sizeof(buf));
		if (gone)
			break;
	}
	xm_extauth_decoder_wipe(&h->dec);
	return ret;
}

/* ---- start and stop ---- */

static int start(struct helper *h, unsigned timeout_msecs)
{
	const struct br_config *cfg = h->cfg;
	char *error = NULL;

	if (cfg->auth_client_socket == NULL ||
	    cfg->auth_master_socket == NULL) {
		log_error("%s: %s: tidings-auth needs [mail] "
			  "auth_client_socket (password checks) and [mail] "
			  "auth_master_socket (isuser)",
			  LOG_PREFIX, cfg->path);
		return -1;
	}
	struct ms_authclient_settings as = {
	    .service = SERVICE,
	    .timeout_msecs = timeout_msecs,
	};
	if (ms_authclient_new(&h->loop, cfg->auth_client_socket, &as, &h->ac,
			      &error) < 0) {
		log_error("%s: %s", LOG_PREFIX, error);
		free(error);
		return -1;
	}
	struct ms_authmaster_settings ms = {
	    .service = SERVICE,
	    .timeout_msecs = timeout_msecs < ISUSER_TIMEOUT_MSECS
				 ? timeout_msecs
				 : ISUSER_TIMEOUT_MSECS,
	    .positive_ttl_msecs = ISUSER_POS_TTL_MSECS,
	    .negative_ttl_msecs = ISUSER_NEG_TTL_MSECS,
	};
	if (ms_authmaster_new(&h->loop, cfg->auth_master_socket, &ms, &h->am,
			      &error) < 0) {
		log_error("%s: %s", LOG_PREFIX, error);
		free(error);
		return -1;
	}
	return 0;
}

/*
 * A master password written in tidings.conf, which this helper could read,
 * is readable by the XMPP server's user (the helper runs as that user), and
 * so by whoever takes the server over: with it, every mailbox. Worth one
 * warning at start, not a refusal: refusing would not take the password
 * out of the file that user can already read, it would only make every
 * XMPP login fail. As root (the XMPP server itself running as root, which
 * could read anything), a file its group can read is worth the same
 * warning, as that group is presumably there for the XMPP server.
 */
static void warn_master_password(const struct br_config *cfg)
{
	struct stat st;

	if (cfg->master_password_file != NULL || stat(cfg->path, &st) < 0)
		return;
	if (geteuid() != 0)
		ut_log(UT_LOG_WARN, LOG_PREFIX,
		       "%s holds [mail] master_password and this helper, "
		       "running as the XMPP server's user (uid %u), can read "
		       "it: whoever takes over the XMPP server can read every "
		       "mailbox. tidings-auth does not need it: move it to "
		       "[mail] master_password_file, a file only tidingsd's "
		       "user can read (chmod 600)",
		       cfg->path, (unsigned)geteuid());
	else if ((st.st_mode & 0040) != 0)
		ut_log(UT_LOG_WARN, LOG_PREFIX,
		       "%s holds [mail] master_password and its group (gid %u) "
		       "can read it: if that is for the XMPP server, whoever "
		       "takes the server over can read every mailbox. "
		       "tidings-auth does not need it: move it to [mail] "
		       "master_password_file, a file only tidingsd's user can "
		       "read (chmod 600)",
		       cfg->path, (unsigned)st.st_gid);
}

/* Keeps fd 1 for the replies only: the replies get a private copy, and
   fd 1 becomes a copy of stderr for anything else. */
static int take_stdout(struct helper *h)
{
	h->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (h->out_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		fprintf(stderr, "tidings-auth: cannot set up stdout: %s\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

static int parse_timeout(const char *s, unsigned *msecs_r)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    v < MIN_TIMEOUT_MSECS || v > MAX_TIMEOUT_MSECS)
		return -1;
	*msecs_r = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_path = DEFAULT_CONFIG;
	unsigned timeout_msecs = DEFAULT_TIMEOUT_MSECS;
	bool debug = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:dt:hV")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 't':
			if (parse_timeout(optarg, &timeout_msecs) < 0) {
				fprintf(stderr,
					"tidings-auth: -t takes %d to %d "
					"milliseconds\n",
					MIN_TIMEOUT_MSECS, MAX_TIMEOUT_MSECS);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tidings-auth 0.1.0\n");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct helper *h = xcalloc(1, sizeof(*h));
	if (take_stdout(h) < 0) {
		free(h);
		return 1;
	}
	/* No core dump or ptrace by others: memory holds passwords. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);

	char *error = NULL;
	if (br_config_load(config_path, BR_CONFIG_NO_MASTER_PASSWORD, &h->cfg,
			   &error) < 0) {
		ut_log(UT_LOG_ERROR, LOG_PREFIX, "%s", error);
		free(error);
		close(h->out_fd);
		free(h);
		return 1;
	}
	ut_log_set_level(debug ? UT_LOG_DEBUG : h->cfg->log_level);
	/* stderr (ejabberd copies it into its own log) unless the file says
	   syslog, as for tidingsd. */
	int facility;
	if (h->cfg->log_target == BR_LOG_SYSLOG &&
	    ut_log_facility_parse(h->cfg->log_facility, &facility) == 0)
		ut_log_to_syslog("tidings-auth", facility);
	warn_master_password(h->cfg);
	xm_extauth_decoder_init(&h->dec);
	uv_loop_init(&h->loop);

	int rc = 1;
	if (start(h, timeout_msecs) == 0) {
		log_debug("%s: serving (config %s)", LOG_PREFIX, config_path);
		rc = serve(h) == 0 ? 0 : 1;
	}
	ms_authclient_free(&h->ac);
	ms_authmaster_free(&h->am);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&h->loop) != 0)
		log_warn("%s: the loop still had handles at exit", LOG_PREFIX);
	br_config_free(&h->cfg);
	close(h->out_fd);
	explicit_bzero(h, sizeof(*h));
	free(h);
	return rc;
}
