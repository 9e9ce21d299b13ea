/*
 * tidingsd: the message system between the mail side (Dovecot events, IMAP)
 * and the XMPP side (an XEP-0114 component). One process, one libuv loop.
 *
 *   tidingsd -c FILE        run in the foreground, log to stderr (or
 *                           syslog: [log] target); SIGHUP reloads FILE
 *   tidingsd -c FILE -n     check the configuration, print it, exit
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "br_adhoc.h"
#include "br_config.h"
#include "br_contact.h"
#include "br_control.h"
#include "br_inbound.h"
#include "br_mailchat.h"
#include "br_nudge.h"
#include "br_ledger.h"
#include "br_metrics.h"
#include "br_online.h"
#include "br_reload.h"
#include "br_router.h"
#include "br_sender.h"
#include "br_status.h"
#include "ut_log.h"
#include "ms_authmaster.h"
#include "ms_evsock.h"
#include "ms_imap.h"
#include "ut_xalloc.h"
#include "xm_component.h"

#define DEFAULT_CONFIG	     "/etc/tidings/tidings.conf"
#define STATS_INTERVAL_MSECS (15 * 60 * 1000)
#define DRAIN_MSECS	     2000 /* longest wait for confirmations at stop */
/* Stanzas held in memory for the XMPP server; beyond, they wait in the
   ledger (the router refills as confirmations make room). */
#define XMPP_OUTBOX_MAX 10000

struct daemon {
	uv_loop_t loop_storage;
	uv_loop_t *loop; /* &loop_storage */
	struct br_config *cfg;
	xmpp_ctx_t *sctx;
	struct br_ledger *ledger;
	struct xm_component *xmpp;
	struct ms_imap_pool *imap;
	struct ms_evsock *events;
	struct ms_authmaster *authmaster; /* [mail] auth_master_socket */
	struct br_router *router;
	struct br_contact *contact;
	struct br_online *online;
	struct br_sender *sender; /* [mail] smtp_host set */
	struct br_nudge *nudge;
	struct br_adhoc *adhoc; /* commands on xmpp's helper; freed after it */
	struct xm_gateway *gateway; /* on xmpp's IQ engine; freed after it */
	struct br_status_sources sources; /* the modules, for meter */
	struct br_status_meter *meter;	  /* tidingsctl status, metrics */
	struct br_control *control;	  /* [control] socket set */
	struct br_metrics *metrics;	  /* [metrics] listen set */
	uv_signal_t sigterm, sigint, sighup;
	uv_timer_t stats_timer;
	uv_timer_t drain_timer;
	uint64_t drain_deadline_msecs;
	bool stopping;
	bool debug; /* -d: log at debug level whatever [log] level says */
	int exit_code;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tidingsd [-c FILE] [-n] [-d]\n"
		"  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -n       check the configuration, print the effective "
		"settings, exit\n"
		"  -d       log at debug level (overrides [log] level)\n"
		"  -h       this help\n"
		"  -V       version\n");
}

/* ---- glue between the sides ---- */

static int send_cb(void *ctx, const char *xml, size_t len, uint64_t token)
{
	struct daemon *d = ctx;
	return xm_component_send_raw(d->xmpp, xml, len, token);
}

static size_t outbox_room_cb(void *ctx)
{
	struct daemon *d = ctx;
	struct xm_component_stats xs;
	xm_component_get_stats(d->xmpp, &xs);
	return xs.outbox_len < XMPP_OUTBOX_MAX ? XMPP_OUTBOX_MAX - xs.outbox_len
					       : 0;
}

static int inbound_send_cb(void *ctx, xmpp_stanza_t *stanza)
{
	struct daemon *d = ctx;
	return xm_component_send(d->xmpp, stanza, 0);
}

static void xmpp_stanza_cb(struct xm_component *c, xmpp_stanza_t *stanza,
			   void *ctx)
{
	struct daemon *d = ctx;
	struct br_inbound_deps deps = {
	    .cfg = d->cfg,
	    .router = d->router,
	    .online = d->online,
	    .ledger = d->ledger,
	    .sender = d->sender,
	    .nudge = d->nudge,
	    .sctx = d->sctx,
	    .send = inbound_send_cb,
	    .send_ctx = d,
	};
	(void)c;
	if (d->online != NULL)
		br_inbound_stanza(&deps, stanza);
}

static void xmpp_state_cb(struct xm_component *c, bool online, void *ctx)
{
	struct daemon *d = ctx;
	(void)c;
	if (d->online != NULL)
		br_online_xmpp_state(d->online, online);
}

static void xmpp_confirmed_cb(struct xm_component *c, uint64_t token, void *ctx)
{
	struct daemon *d = ctx;
	(void)c;
	br_router_confirmed(d->router, token);
}

static void event_cb(struct ms_event *ev, void *ctx)
{
	struct daemon *d = ctx;
	if (d->nudge != NULL)
		br_nudge_event(d->nudge, ev);
	br_router_event(d->router, ev);
}

/* ---- lifecycle ---- */

static void log_stats(struct daemon *d)
{
	struct br_router_stats rs;
	struct ms_evsock_stats es = {0};
	struct xm_component_stats xs;
	br_router_get_stats(d->router, &rs);
	if (d->events != NULL)
		ms_evsock_get_stats(d->events, &es);
	xm_component_get_stats(d->xmpp, &xs);
	log_info(
	    "stats: events %" PRIu64 " (dropped %" PRIu64 ", refused %" PRIu64
	    "), notifications %" PRIu64 " single + %" PRIu64
	    " digests (%" PRIu64 " mails), duplicates %" PRIu64
	    ", unserved %" PRIu64 ", reconciliations %" PRIu64 " (%" PRIu64
	    " failed, %zu alive), users in memory %zu, "
	    "online users %zu, summaries %" PRIu64 ", xmpp connects %" PRIu64
	    ", stanzas dropped %" PRIu64 ", outbox %zu",
	    es.events, es.malformed + es.oversized,
	    es.refused + es.unverified + es.waiting_full, rs.singles,
	    rs.digests, rs.digest_mails, rs.duplicates, rs.unmapped,
	    rs.reconciles, rs.reconcile_errors, rs.scans, rs.users,
	    d->online != NULL ? br_online_tracked(d->online) : 0, rs.summaries,
	    xs.connects, xs.dropped_in, xs.outbox_len);
	if (d->sender != NULL) {
		struct br_sender_stats ss;
		br_sender_get_stats(d->sender, &ss);
		log_info("stats: mail from chat: %" PRIu64 " requests, %" PRIu64
			 " refused, %" PRIu64 " sent, %" PRIu64
			 " temporary failures, %" PRIu64 " failed, %" PRIu64
			 " copied to Sent",
			 ss.requests, ss.refused, ss.sent, ss.retries,
			 ss.failed, ss.copied);
	}
}

static void stats_timer_cb(uv_timer_t *t)
{
	log_stats(t->data);
}

/* Closes whatever exists; safe after a partial start. */
static void finish_stop(struct daemon *d)
{
	br_control_close(&d->control);
	br_metrics_stop(&d->metrics); /* before the meter it reads */
	br_status_meter_close(&d->meter);
	if (d->imap != NULL)
		ms_imap_pool_free(&d->imap);
	br_sender_close(&d->sender);
	br_nudge_close(&d->nudge);
	if (d->router != NULL)
		br_router_presence_source(d->router, NULL, NULL);
	br_online_close(&d->online);
	br_contact_close(&d->contact);
	if (d->router != NULL)
		br_router_close(&d->router);
	/* After the event socket (stop() closed it): it may use this. */
	ms_authmaster_free(&d->authmaster);
	if (d->xmpp != NULL)
		xm_component_close(&d->xmpp, NULL, NULL);
	br_adhoc_free(&d->adhoc);
	xm_gateway_free(&d->gateway, NULL, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->stats_timer, NULL);
}

/* Waits (a little) for the XMPP server to confirm what is on its way, so
   that the next start does not resend it from the ledger. */
static void drain_timer_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct xm_component_stats xs;

	xm_component_get_stats(d->xmpp, &xs);
	if (xs.outbox_len > 0 && xm_component_online(d->xmpp) &&
	    uv_now(d->loop) < d->drain_deadline_msecs)
		return;
	if (xs.outbox_len > 0)
		log_warn("stopping with %zu notifications unconfirmed; they "
			 "stay in the ledger and are resent at the next start",
			 xs.outbox_len);
	uv_close((uv_handle_t *)t, NULL);
	finish_stop(d);
}

static void stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = true;
	log_info("stopping");
	/* Held digests go out (and into the ledger); then no new events. */
	if (d->router != NULL) {
		br_router_flush_all(d->router);
		log_stats(d);
	}
	br_control_close(&d->control);
	if (d->events != NULL)
		ms_evsock_close(&d->events);
	d->sources.events = NULL;
	if (d->xmpp == NULL || d->router == NULL) {
		finish_stop(d);
		return;
	}
	d->drain_deadline_msecs = uv_now(d->loop) + DRAIN_MSECS;
	uv_timer_init(d->loop, &d->drain_timer);
	d->drain_timer.data = d;
	uv_timer_start(&d->drain_timer, drain_timer_cb, 0, 20);
}

/* Re-reads the configuration file; 0 with an xmalloc'ed one-line summary
   in *summary_r ("reload: 2 settings applied, 1 needs a restart"), or -1
   with an xmalloc'ed error (file:line) in *error_r; the running
   configuration is kept then. */
static int daemon_reload(struct daemon *d, char **summary_r, char **error_r)
{
	if (d->stopping) { /* the modules a reload tells are going */
		*summary_r = NULL;
		*error_r = xstrdup("reload: tidingsd is stopping");
		return -1;
	}
	struct br_reload_targets t = {
	    .events = d->events,
	    .authmaster = d->authmaster,
	    .router = d->router,
	    .log_ident = "tidingsd",
	    .log_debug = d->debug,
	};
	return br_reload(d->cfg, &t, summary_r, error_r);
}

/* tidingsctl reload: the same as SIGHUP, with the outcome told. */
static int control_reload_cb(void *ctx, char **summary_r, char **error_r)
{
	return daemon_reload(ctx, summary_r, error_r);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	if (signum == SIGHUP) {
		char *summary = NULL, *error = NULL;
		log_info("SIGHUP: reloading %s", d->cfg->path);
		/* br_reload() logged the outcome. */
		if (daemon_reload(d, &summary, &error) < 0)
			free(error);
		else
			free(summary);
		return;
	}
	log_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	stop(d);
}

/*
 * The kernel queues at most net.unix.max_dgram_qlen datagrams on the event
 * socket (often only 10); the Dovecot script never waits, so a burst beyond
 * that while tidingsd is busy is only found again by reconciliation.
 */
static void check_dgram_queue(void)
{
	FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
	unsigned long qlen = 0;
	if (f == NULL)
		return;
	if (fscanf(f, "%lu", &qlen) == 1 && qlen < 512)
		log_warn("events: net.unix.max_dgram_qlen is %lu: bursts of "
			 "mail beyond that are caught up over IMAP instead of "
			 "at once; raise it (sysctl -w "
			 "net.unix.max_dgram_qlen=4096)",
			 qlen);
	fclose(f);
}

static int start(struct daemon *d)
{
	const struct br_config *cfg = d->cfg;
	char *error = NULL;

	if (br_ledger_open(cfg->state_dir, &d->ledger, &error) < 0) {
		log_error("state: %s", error);
		free(error);
		return -1;
	}

	struct xm_component_settings xs = {
	    .jid = cfg->component,
	    .host = cfg->xmpp_host,
	    .port = cfg->xmpp_port,
	    .secret = cfg->secret,
	    .server_domain = cfg->xmpp_domain,
	    .reconnect_min_msecs = cfg->reconnect_min_msecs,
	    .reconnect_max_msecs = cfg->reconnect_max_msecs,
	    .ping_timeout_msecs = cfg->ping_timeout_msecs,
	    .max_stanza_bytes = (size_t)cfg->max_stanza_bytes,
	    .max_stanza_depth = cfg->max_stanza_depth,
	    .outbox_max = XMPP_OUTBOX_MAX,
	};
	static const struct xm_component_callbacks xcb = {
	    .state = xmpp_state_cb, /* xmpp-module logs them */
	    .stanza = xmpp_stanza_cb,
	    .confirmed = xmpp_confirmed_cb,
	};
	if (xm_component_new(d->loop, d->sctx, &xs, &xcb, d, &d->xmpp, &error) <
	    0) {
		log_error("xmpp: %s", error);
		free(error);
		return -1;
	}

	struct ms_imap_settings is = {
	    .host = cfg->imap_host,
	    .port = cfg->imap_port,
	    .tls = (enum ms_imap_tls)cfg->imap_tls,
	    .ca_file = cfg->imap_ca_file,
	    .master_user = cfg->master_user,
	    .master_password = cfg->master_password,
	    .workers = cfg->imap_workers,
	    .timeout_msecs = cfg->imap_timeout_msecs,
	};
	if (ms_imap_pool_new(d->loop, &is, &d->imap, &error) < 0) {
		log_error("imap: %s", error);
		free(error);
		return -1;
	}

	struct br_router_deps deps = {
	    .loop = d->loop,
	    .cfg = cfg,
	    .ledger = d->ledger,
	    .sctx = d->sctx,
	    .send = send_cb,
	    .send_ctx = d,
	    .outbox_room = outbox_room_cb,
	    .imap = d->imap,
	};
	d->router = br_router_new(&deps);
	if (cfg->smtp_host != NULL) {
		struct br_sender_deps sd = {
		    .loop = d->loop,
		    .cfg = cfg,
		    .sctx = d->sctx,
		    .send = inbound_send_cb,
		    .send_ctx = d,
		    .imap = d->imap,
		};
		if (br_sender_new(&sd, &d->sender, &error) < 0) {
			log_error("mail from chat: %s", error);
			free(error);
			return -1;
		}
		log_info("mail from chat: on, through %s port %u",
			 cfg->smtp_host, (unsigned)cfg->smtp_port);
	}

	struct br_contact_deps cd = {
	    .loop = d->loop,
	    .cfg = cfg,
	    .ledger = d->ledger,
	    .sctx = d->sctx,
	    .iq = xm_component_iq(d->xmpp),
	    .send = inbound_send_cb,
	    .send_ctx = d,
	};
	d->contact = br_contact_new(&cd);
	struct br_online_deps pd = {
	    .loop = d->loop,
	    .cfg = cfg,
	    .router = d->router,
	    .contact = d->contact,
	    .sctx = d->sctx,
	    .send = inbound_send_cb,
	    .send_ctx = d,
	};
	d->online = br_online_new(&pd);
	br_router_presence_source(d->router, br_online_presence_of, d->online);
	struct br_nudge_deps nd = {
	    .loop = d->loop,
	    .cfg = cfg,
	    .ledger = d->ledger,
	    .online = d->online,
	    .router = d->router,
	    .sctx = d->sctx,
	    .send = inbound_send_cb,
	    .send_ctx = d,
	    .imap = d->imap,
	};
	if (br_nudge_new(&nd, &d->nudge, &error) < 0) {
		log_error("nudges: %s", error);
		free(error);
		return -1;
	}
	struct br_adhoc_deps ad = {
	    .cfg = cfg,
	    .ledger = d->ledger,
	    .router = d->router,
	    .sender = d->sender,
	    .online = d->online,
	};
	if (br_adhoc_new(xm_component_adhoc(d->xmpp), &ad, &d->adhoc) < 0) {
		log_error("xmpp: cannot register the ad-hoc commands");
		return -1;
	}
	if (d->sender != NULL &&
	    br_mailchat_gateway_new(xm_component_iq(d->xmpp),
				    xm_component_disco(d->xmpp), d->sctx, cfg,
				    &d->gateway) < 0) {
		log_error("xmpp: cannot register jabber:iq:gateway");
		return -1;
	}

	if (cfg->auth_master_socket != NULL &&
	    ms_authmaster_new(d->loop, cfg->auth_master_socket, NULL,
			      &d->authmaster, &error) < 0) {
		log_error("auth-master: %s", error);
		free(error);
		return -1;
	}
	struct ms_evsock_settings es = {
	    .path = cfg->events_socket,
	    .mode = cfg->socket_mode,
	    .group = cfg->socket_group,
	    .trusted_uids = cfg->trusted_uids,
	    .trusted_uid_count = cfg->trusted_uid_count,
	    .trust_any = cfg->trust_any,
	    .owner_check = cfg->trust_owner ? d->authmaster : NULL,
	};
	if (ms_evsock_open(d->loop, &es, event_cb, d, &d->events, &error) < 0) {
		log_error("events: %s", error);
		free(error);
		return -1;
	}
	log_info("events: listening on %s", cfg->events_socket);
	check_dgram_queue();
	d->sources = (struct br_status_sources){
	    .cfg = cfg,
	    .xmpp = d->xmpp,
	    .events = d->events,
	    .imap = d->imap,
	    .router = d->router,
	    .online = d->online,
	    .sender = d->sender,
	};
	d->meter = br_status_meter_new(d->loop, &d->sources);
	if (cfg->control_socket != NULL) {
		struct br_control_deps ctl = {.loop = d->loop,
					      .cfg = &d->cfg,
					      .meter = d->meter,
					      .ledger = d->ledger,
					      .router = d->router,
					      .online = d->online,
					      .authmaster = d->authmaster,
					      .reload = control_reload_cb,
					      .reload_ctx = d};
		if (br_control_open(&ctl, &d->control, &error) < 0) {
			log_error("control: %s", error);
			free(error);
			return -1;
		}
		log_info("control: listening on %s", cfg->control_socket);
	}
	if (cfg->metrics_listen != NULL &&
	    br_metrics_start(d->loop, cfg->metrics_listen, d->meter,
			     &d->metrics, &error) < 0) {
		log_error("metrics: %s", error);
		free(error);
		return -1;
	}

	xm_component_start(d->xmpp);
	br_router_start(d->router);
	if (d->sender != NULL)
		br_sender_start(d->sender);
	br_nudge_start(d->nudge);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_path = DEFAULT_CONFIG;
	bool check_only = false, debug = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:ndhV")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tidingsd 0.1.0\n");
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

	struct daemon d = {0};
	char *error = NULL;
	if (br_config_load(config_path, 0, &d.cfg, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		free(error);
		return 1;
	}
	if (check_only) {
		printf("# %s: configuration OK\n", config_path);
		br_config_dump(d.cfg, stdout);
		br_config_free(&d.cfg);
		return 0;
	}

	/* No core dump or ptrace by others: memory holds the secrets. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	d.debug = debug;
	br_reload_apply_log(d.cfg, "tidingsd", debug);
	signal(SIGPIPE, SIG_IGN);
	xmpp_initialize();

	d.sctx = xmpp_ctx_new(NULL, NULL);
	if (d.sctx == NULL) {
		log_error("libstrophe: cannot create a context");
		br_config_free(&d.cfg);
		return 1;
	}
	d.loop = &d.loop_storage;
	uv_loop_init(d.loop);
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	uv_signal_init(d.loop, &d.sighup);
	d.sigterm.data = d.sigint.data = d.sighup.data = &d;
	uv_signal_start(&d.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d.sigint, signal_cb, SIGINT);
	uv_signal_start(&d.sighup, signal_cb, SIGHUP);
	uv_timer_init(d.loop, &d.stats_timer);
	d.stats_timer.data = &d;
	uv_timer_start(&d.stats_timer, stats_timer_cb, STATS_INTERVAL_MSECS,
		       STATS_INTERVAL_MSECS);

	log_info("tidingsd 0.1.0 starting: component %s, XMPP domain %s, "
		 "state in %s",
		 d.cfg->component, d.cfg->xmpp_domain, d.cfg->state_dir);
	if (start(&d) < 0) {
		d.exit_code = 1;
		stop(&d);
	}

	uv_run(d.loop, UV_RUN_DEFAULT);
	/* Every module closed its handles; one still open is a bug. */
	if (uv_loop_close(d.loop) != 0)
		log_warn("the loop still had handles at exit");

	br_ledger_close(&d.ledger);
	xmpp_ctx_free(d.sctx);
	xmpp_shutdown();
	if (d.exit_code == 0)
		log_info("stopped");
	br_config_free(&d.cfg);
	return d.exit_code;
}
