/*
 * The protocol side of the auth-client client (see ms_authclient.h and
 * ms_authclient_private.h): the handshake, sending requests, checking
 * answers, and what a dropped connection means for the requests. The
 * connection itself (connecting with back-off, reading lines, writing,
 * the logs) is ms_dvconn's.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ms_authclient_private.h"
#include "ut_str.h"
#include "ut_xalloc.h"

static void fail_cb(struct ms_dvreq *d, const char *reason, void *ctx)
{
	ms_authclient__finish(ctx, ACREQ(d), MS_AUTHCLIENT_ERROR, reason);
}

void ms_authclient__drop(struct ms_authclient *ac, enum ms_dvconn_why why,
			 const char *reason)
{
	ms_dvconn_drop(ac->conn, why, reason, ac->reqs.sent.count > 0);
	ms_dvreqs_drop(&ac->reqs, why, reason, fail_cb, ac);
	ms_authclient__kick(ac);
	ms_authclient__rearm(ac);
}

/* A line that breaks the protocol. During the handshake the socket is as
   unusable as one that cannot be connected to: the requests waiting for it
   fail too. */
static void protocol_error(struct ms_authclient *ac, const char *what)
{
	bool ready = ms_dvconn_ready(ac->conn);
	char *reason = xasprintf("bad answer from Dovecot: %s", what);
	ac->stats.protocol_errors++;
	ms_authclient__drop(
	    ac, ready ? MS_DVCONN_PROTOCOL : MS_DVCONN_HANDSHAKE, reason);
	free(reason);
}

/* An OK for the request r: what it means for r. */
static void handle_ok(struct ms_authclient *ac, struct ms_authclient_request *r,
		      const struct ms_acproto_reply *a)
{
	const char *why = NULL;
	char *reason = NULL;

	if (!a->has_user)
		why = "Dovecot's OK names no user";
	else if (a->user_too_long || !ut_ascii_caseeq(a->user, r->user))
		reason = a->user_too_long
			     ? xstrdup("Dovecot accepted the password for "
				       "another user")
			     : xasprintf("Dovecot accepted the password for "
					 "another user (%s)",
					 a->user);
	else if (a->master)
		why = "a master user's login, not the user's own password";
	else if (a->nologin)
		why = "Dovecot says the user may not log in (nologin)";
	else if (a->proxy)
		why = "Dovecot would proxy the user elsewhere (the password "
		      "was not checked here)";
	if (why == NULL && reason == NULL) {
		ac->stats.ok++;
		ms_authclient__finish(ac, r, MS_AUTHCLIENT_OK, NULL);
		return;
	}
	ac->stats.refused++;
	ms_authclient__finish(ac, r, MS_AUTHCLIENT_REFUSED,
			      reason != NULL ? reason : why);
	free(reason);
}

static void handle_answer(struct ms_authclient *ac,
			  const struct ms_acproto_reply *a)
{
	struct ms_dvreq *d = ms_dvreqs_find_sent(&ac->reqs, a->id);

	if (d == NULL) {
		if (ms_dvreqs_id_issued(&ac->reqs, a->id)) {
			ac->stats.late++; /* timed out or cancelled */
			return;
		}
		char *what =
		    xasprintf("an answer to id %u, never asked", a->id);
		protocol_error(ac, what);
		free(what);
		return;
	}
	struct ms_authclient_request *r = ACREQ(d);
	if (a->type == MS_ACPROTO_OK) {
		handle_ok(ac, r, a);
		return;
	}
	char *reason;
	const char *text = a->reason[0] != '\0' ? a->reason : a->code;
	if (a->temp) {
		ac->stats.errors++;
		reason = text[0] != '\0'
			     ? xasprintf("temporary failure: %s", text)
			     : xstrdup("temporary failure");
		ms_authclient__finish(ac, r, MS_AUTHCLIENT_ERROR, reason);
	} else {
		ac->stats.refused++;
		reason = xstrdup(text[0] != '\0'
				     ? text
				     : "password mismatch or unknown user");
		ms_authclient__finish(ac, r, MS_AUTHCLIENT_REFUSED, reason);
	}
	free(reason);
}

/* A line of the server's handshake. */
static void handle_handshake(struct ms_authclient *ac,
			     const struct ms_acproto_reply *a)
{
	if (!ac->version_ok && a->type != MS_ACPROTO_VERSION) {
		protocol_error(ac, "the handshake does not start with VERSION");
		return;
	}
	switch (a->type) {
	case MS_ACPROTO_VERSION:
		if (ac->version_ok) {
			protocol_error(ac, "VERSION twice");
		} else if (a->major != MS_ACPROTO_MAJOR) {
			char *what = xasprintf("protocol version %u, not %d",
					       a->major, MS_ACPROTO_MAJOR);
			protocol_error(ac, what);
			free(what);
		} else {
			ac->version_ok = true;
		}
		return;
	case MS_ACPROTO_MECH:
		ac->saw_mech = true;
		ac->plain = ac->plain || a->plain;
		return;
	case MS_ACPROTO_SPID:
		/* An auth-client socket lists its mechanisms first; an
		   auth-master or -userdb one sends SPID right away. */
		if (!ac->saw_mech)
			protocol_error(ac, "SPID before any MECH: this is an "
					   "auth-master or -userdb listener, "
					   "not an auth-client socket");
		return;
	case MS_ACPROTO_CUID:
	case MS_ACPROTO_COOKIE:
		return;
	case MS_ACPROTO_DONE:
		if (!ac->plain) {
			ms_authclient__drop(ac, MS_DVCONN_HANDSHAKE,
					    "Dovecot offers no PLAIN mechanism "
					    "(add plain to auth_mechanisms)");
			return;
		}
		ms_dvconn_set_ready(ac->conn);
		ac->stats.connects++;
		return;
	default:
		protocol_error(ac, "an answer before the handshake's DONE");
		return;
	}
}

static void handle_line(struct ms_authclient *ac, const char *line, size_t len)
{
	struct ms_acproto_reply a;
	char *error;

	if (ms_acproto_parse(line, len, &a, &error) < 0) {
		protocol_error(ac, error);
		free(error);
		return;
	}
	if (!ms_dvconn_ready(ac->conn)) {
		handle_handshake(ac, &a);
		if (ms_dvconn_ready(ac->conn))
			ms_authclient__kick(ac);
		return;
	}
	switch (a.type) {
	case MS_ACPROTO_OK:
	case MS_ACPROTO_FAIL:
		handle_answer(ac, &a);
		return;
	case MS_ACPROTO_CONT:
		protocol_error(ac, "CONT: Dovecot did not take the PLAIN "
				   "initial response");
		return;
	default:
		protocol_error(ac, "a handshake line after DONE");
		return;
	}
}

/* Writes data; 0, or -1 when the connection was dropped. */
static int conn_write(struct ms_authclient *ac, const char *data, size_t len)
{
	char *error;
	if (ms_dvconn_write(ac->conn, data, len, &error) < 0) {
		ms_authclient__drop(ac, MS_DVCONN_LOST, error);
		free(error);
		return -1;
	}
	return 0;
}

/* Sends what the connection may take: the handshake first, then (once
   Dovecot's handshake is done) queued requests up to max_in_flight. */
static void flush(struct ms_authclient *ac)
{
	struct ms_dvreq *d;

	if (!ms_dvconn_connected(ac->conn))
		return;
	if (!ac->sent_handshake) {
		char *hs = ms_acproto_handshake((unsigned long)getpid());
		ac->sent_handshake = true;
		int ret = conn_write(ac, hs, strlen(hs));
		free(hs);
		if (ret < 0)
			return;
	}
	while (ms_dvconn_ready(ac->conn) &&
	       (d = ms_dvreqs_send_next(&ac->reqs, ac->set.max_in_flight)) !=
		   NULL) {
		struct ms_authclient_request *r = ACREQ(d);
		ac->stats.sent++;
		if (conn_write(ac, r->line, r->line_len) < 0)
			return;
	}
}

void ms_authclient__kick(struct ms_authclient *ac)
{
	if (ac->closing || ac->reqs.queue.head == NULL)
		return;
	if (ms_dvconn_exists(ac->conn))
		flush(ac);
	else
		ms_dvconn_connect(ac->conn);
}

/* ---- the connection's ops ---- */

static void conn_connected(void *ctx)
{
	struct ms_authclient *ac = ctx;
	ac->sent_handshake = ac->version_ok = ac->saw_mech = ac->plain = false;
	flush(ac);
}

static void conn_line(void *ctx, const char *line, size_t len)
{
	handle_line(ctx, line, len);
}

static void conn_kick(void *ctx)
{
	ms_authclient__kick(ctx);
}

static void conn_failed(void *ctx, enum ms_dvconn_why why, const char *reason)
{
	if (why == MS_DVCONN_PROTOCOL)
		protocol_error(ctx, reason);
	else
		ms_authclient__drop(ctx, why, reason);
}

static void conn_settle(void *ctx)
{
	ms_authclient__dispatch(ctx);
}

static void conn_closed(void *ctx)
{
	ms_authclient__release_handle(ctx);
}

const struct ms_dvconn_ops ms_authclient__conn_ops = {
    .connected = conn_connected,
    .line = conn_line,
    .kick = conn_kick,
    .failed = conn_failed,
    .settle = conn_settle,
    .closed = conn_closed,
};
