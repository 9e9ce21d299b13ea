/*
 * The protocol side of the auth-master client (see ms_authmaster.h and
 * ms_authmaster_private.h): the VERSION exchange, sending lookups,
 * checking answers, and what a dropped connection means for the lookups.
 * The connection itself (connecting with back-off, reading lines,
 * writing, the logs) is ms_dvconn's.
 */
#include <stdlib.h>
#include <string.h>

#include "ms_amproto.h"
#include "ms_authmaster_private.h"
#include "ut_buf.h"
#include "ut_xalloc.h"

static void fail_cb(struct ms_dvreq *d, const char *reason, void *ctx)
{
	ms_authmaster__fail(ctx, LOOKUP(d), reason);
}

/* Drops the current connection; see ms_dvreqs_drop() for what happens to
   the lookups. The caller calls dispatch() afterwards (or the timer does). */
static void conn_drop(struct ms_authmaster *am, enum ms_dvconn_why why,
		      const char *reason)
{
	ms_dvconn_drop(am->conn, why, reason, am->lookups.sent.count > 0);
	ms_dvreqs_drop(&am->lookups, why, reason, fail_cb, am);
	ms_authmaster__kick(am);
	ms_authmaster__rearm(am);
}

static void protocol_error(struct ms_authmaster *am, const char *what)
{
	char *reason = xasprintf("bad answer from Dovecot: %s", what);
	am->stats.protocol_errors++;
	conn_drop(am, MS_DVCONN_PROTOCOL, reason);
	free(reason);
}

static void handle_answer(struct ms_authmaster *am,
			  const struct ms_amproto_reply *r)
{
	struct ms_dvreq *d = ms_dvreqs_find_sent(&am->lookups, r->id);

	if (d == NULL) {
		if (ms_dvreqs_id_issued(&am->lookups, r->id)) {
			am->stats.late++; /* it timed out meanwhile */
			return;
		}
		char *what =
		    xasprintf("an answer to id %u, never asked", r->id);
		protocol_error(am, what);
		free(what);
		return;
	}
	struct ms_authmaster_result res = {0};
	char *reason = NULL;
	switch (r->type) {
	case MS_AMPROTO_USER:
		am->stats.found++;
		res.status = MS_AUTHMASTER_FOUND;
		res.has_uid = r->has_uid;
		res.has_gid = r->has_gid;
		res.uid = (uid_t)r->uid;
		res.gid = (gid_t)r->gid;
		break;
	case MS_AMPROTO_NOTFOUND:
		am->stats.notfound++;
		res.status = MS_AUTHMASTER_NOTFOUND;
		break;
	default:
		am->stats.failed++;
		res.status = MS_AUTHMASTER_FAIL;
		reason = r->reason[0] != '\0'
			     ? xasprintf("userdb lookup failed: %s", r->reason)
			     : xstrdup("userdb lookup failed");
		break;
	}
	ms_authmaster__finish(am, LOOKUP(d), &res, reason);
	free(reason);
}

static void handle_line(struct ms_authmaster *am, const char *line, size_t len)
{
	struct ms_amproto_reply r;
	char *error;

	if (ms_amproto_parse(line, len, &r, &error) < 0) {
		protocol_error(am, error);
		free(error);
		return;
	}
	if (r.type == MS_AMPROTO_VERSION) {
		if (ms_dvconn_ready(am->conn)) {
			protocol_error(am, "VERSION twice");
		} else if (r.major != MS_AMPROTO_MAJOR) {
			char *what = xasprintf("protocol version %u, not %d",
					       r.major, MS_AMPROTO_MAJOR);
			protocol_error(am, what);
			free(what);
		} else {
			ms_dvconn_set_ready(am->conn);
		}
		return;
	}
	if (!ms_dvconn_ready(am->conn)) {
		protocol_error(am, "an answer before VERSION");
		return;
	}
	if (r.type != MS_AMPROTO_SPID)
		handle_answer(am, &r);
}

/* Sends what the connection may take: the VERSION line first, then queued
   lookups up to max_in_flight. */
void ms_authmaster__flush(struct ms_authmaster *am)
{
	struct ut_buf b = UT_BUF_INIT;
	struct ms_dvreq *d;

	if (!ms_dvconn_connected(am->conn))
		return;
	if (!am->sent_version) {
		ut_buf_appendf(&b, "VERSION\t%d\t%d\n", MS_AMPROTO_MAJOR,
			       MS_AMPROTO_MINOR);
		am->sent_version = true;
	}
	while ((d = ms_dvreqs_send_next(&am->lookups, am->set.max_in_flight)) !=
	       NULL) {
		struct lookup *L = LOOKUP(d);
		d->id = ms_dvreqs_next_id(&am->lookups);
		am->stats.lookups++;
		ut_buf_appendf(&b, "USER\t%u\t%s\tservice=%s\n", d->id, L->user,
			       am->service);
	}
	if (b.len == 0)
		return;
	char *error;
	if (ms_dvconn_write(am->conn, b.data, b.len, &error) < 0) {
		conn_drop(am, MS_DVCONN_LOST, error);
		free(error);
	}
	ut_buf_free(&b);
}

void ms_authmaster__kick(struct ms_authmaster *am)
{
	if (am->closing || am->lookups.queue.head == NULL)
		return;
	if (ms_dvconn_exists(am->conn))
		ms_authmaster__flush(am);
	else
		ms_dvconn_connect(am->conn);
}

/* ---- the connection's ops ---- */

static void conn_connected(void *ctx)
{
	struct ms_authmaster *am = ctx;
	am->sent_version = false;
	ms_authmaster__flush(am);
}

static void conn_line(void *ctx, const char *line, size_t len)
{
	handle_line(ctx, line, len);
}

static void conn_kick(void *ctx)
{
	ms_authmaster__kick(ctx);
}

static void conn_failed(void *ctx, enum ms_dvconn_why why, const char *reason)
{
	if (why == MS_DVCONN_PROTOCOL)
		protocol_error(ctx, reason);
	else
		conn_drop(ctx, why, reason);
}

static void conn_settle(void *ctx)
{
	ms_authmaster__dispatch(ctx);
}

static void conn_closed(void *ctx)
{
	ms_authmaster__release_handle(ctx);
}

const struct ms_dvconn_ops ms_authmaster__conn_ops = {
    .connected = conn_connected,
    .line = conn_line,
    .kick = conn_kick,
    .failed = conn_failed,
    .settle = conn_settle,
    .closed = conn_closed,
};
