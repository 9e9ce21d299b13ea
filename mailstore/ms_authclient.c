/*
 * The auth-client client (see ms_authclient.h): requests, timeouts and
 * callbacks. The handshake and the answers are in ms_authclient_conn.c.
 *
 * Callbacks run only from ms_authclient__dispatch(), which every libuv
 * entry point calls last; paths that fail requests synchronously (a failed
 * uv_write inside ms_authclient_auth) leave them on the done list and arm
 * the timer with 0 ms, so no callback ever runs inside ms_authclient_auth().
 * The client is freed when its last handle (the timer, the connection) is
 * closed.
 */
#include <stdlib.h>
#include <string.h>

#include "ms_authclient_private.h"
#include "ut_xalloc.h"

#define DEFAULT_SERVICE	  "xmpp"
#define DEFAULT_TIMEOUT	  10000
#define DEFAULT_IN_FLIGHT 32
#define DEFAULT_REQUESTS  1024

static void request_free(struct ms_authclient_request *r)
{
	if (r->line != NULL) {
		explicit_bzero(r->line, r->line_len);
		free(r->line);
	}
	free(r->user);
	free(r->reason);
	free(r);
}

/* ---- completion ---- */

static void timer_cb(uv_timer_t *t);

void ms_authclient__rearm(struct ms_authclient *ac)
{
	if (!ac->closing)
		ms_dvreqs_rearm(&ac->reqs, &ac->timer, timer_cb);
}

void ms_authclient__finish(struct ms_authclient *ac,
			   struct ms_authclient_request *r,
			   enum ms_authclient_status status, const char *reason)
{
	ms_dvreqs_finish(&ac->reqs, &r->dv);
	/* The password is not needed any more. */
	explicit_bzero(r->line, r->line_len);
	free(r->line);
	r->line = NULL;
	r->result.status = status;
	r->reason = xstrdup_null(reason);
	r->result.reason = r->reason;
}

void ms_authclient__dispatch(struct ms_authclient *ac)
{
	struct ms_dvreq *d;

	while (!ac->closing && (d = ms_dvreqs_take_done(&ac->reqs)) != NULL) {
		struct ms_authclient_request *r = ACREQ(d);
		/* Still "done" but in no list: a cancel from the callback
		   cannot reach it (its handle is no longer valid). */
		r->cb(&r->result, r->ctx);
		request_free(r);
	}
	ms_authclient__rearm(ac);
}

void ms_authclient__release_handle(struct ms_authclient *ac)
{
	ut_assert(ac->open_handles > 0);
	if (--ac->open_handles > 0 || !ac->closing)
		return;
	free(ac->service);
	free(ac);
}

static void timer_cb(uv_timer_t *t)
{
	struct ms_authclient *ac = t->data;
	uint64_t now = uv_now(ac->loop);
	struct ms_dvreq *d;
	bool stuck = false;

	while ((d = ms_dvreqs_expired(&ac->reqs, now)) != NULL) {
		char *reason =
		    xasprintf("timed out after %u ms", ac->set.timeout_msecs);
		ac->stats.timeouts++;
		/* Dovecot holds a FAIL back for seconds, but not for our
		   whole timeout: a connection that does not answer, or
		   never finishes its handshake, is given up. */
		if (d->state == MS_DVREQ_SENT ||
		    (ms_dvconn_exists(ac->conn) && !ms_dvconn_ready(ac->conn)))
			stuck = true;
		ms_authclient__finish(ac, ACREQ(d), MS_AUTHCLIENT_ERROR,
				      reason);
		free(reason);
	}
	if (stuck && ms_dvconn_exists(ac->conn))
		ms_authclient__drop(ac, MS_DVCONN_LOST,
				    "no answer in time; reconnecting");
	ms_authclient__kick(ac);
	ms_authclient__dispatch(ac);
}

/* ---- the API ---- */

static unsigned or_default(unsigned v, unsigned dflt)
{
	return v != 0 ? v : dflt;
}

int ms_authclient_new(uv_loop_t *loop, const char *path,
		      const struct ms_authclient_settings *set,
		      struct ms_authclient **ac_r, char **error_r)
{
	static const struct ms_authclient_settings defaults = {0};

	*ac_r = NULL;
	if (set == NULL)
		set = &defaults;
	if (ms_dvconn_check_path(path, "auth-client", error_r) < 0)
		return -1;
	const char *service =
	    set->service != NULL ? set->service : DEFAULT_SERVICE;
	if (!ms_acproto_service_ok(service)) {
		*error_r = xstrdup("invalid auth-client service name");
		return -1;
	}

	struct ms_authclient *ac = xcalloc(1, sizeof(*ac));
	ac->loop = loop;
	ac->service = xstrdup(service);
	ac->set = *set;
	ac->set.service = ac->service;
	ac->set.timeout_msecs = or_default(set->timeout_msecs, DEFAULT_TIMEOUT);
	ac->set.max_in_flight =
	    or_default(set->max_in_flight, DEFAULT_IN_FLIGHT);
	ac->set.max_requests = or_default(set->max_requests, DEFAULT_REQUESTS);
	ac->conn =
	    ms_dvconn_new(loop, path, MS_AUTHCLIENT_LOG_PREFIX,
			  MS_ACPROTO_LINE_MAX, &ms_authclient__conn_ops, ac);
	uv_timer_init(loop, &ac->timer);
	ac->timer.data = ac;
	ac->open_handles = 2;
	*ac_r = ac;
	return 0;
}

int ms_authclient_auth(struct ms_authclient *ac, const char *user,
		       const char *password, size_t password_len,
		       ms_authclient_cb *cb, void *ctx,
		       struct ms_authclient_request **req_r, char **error_r)
{
	ut_assert(!ac->closing);
	/* The loop's clock is from the start of this turn: a deadline from
	   it could come early. */
	uv_update_time(ac->loop);

	*req_r = NULL;
	*error_r = NULL;
	if (!ms_acproto_user_ok(user)) {
		ac->stats.rejected++;
		*error_r = xstrdup("a user name that cannot be sent (empty, "
				   "over 512 bytes or with control "
				   "characters)");
		return -1;
	}
	if (ac->reqs.all.count >= ac->set.max_requests) {
		ac->stats.rejected++;
		*error_r = xasprintf("too many requests waiting for Dovecot's "
				     "auth service (limit %u)",
				     ac->set.max_requests);
		return -1;
	}
	uint32_t id = ms_dvreqs_next_id(&ac->reqs);
	char *line;
	size_t line_len;
	if (ms_acproto_auth_line(id, ac->service, user, password, password_len,
				 &line, &line_len) < 0) {
		ac->stats.rejected++;
		*error_r = xstrdup("a password that cannot be sent (a NUL "
				   "byte, or too long)");
		return -1;
	}
	struct ms_authclient_request *r = xcalloc(1, sizeof(*r));
	r->ac = ac;
	r->cb = cb;
	r->ctx = ctx;
	r->user = xstrdup(user);
	r->line = line;
	r->line_len = line_len;
	r->dv.id = id;
	ms_dvreqs_add(&ac->reqs, &r->dv,
		      uv_now(ac->loop) + ac->set.timeout_msecs);
	ac->stats.requests++;
	*req_r = r;
	ms_authclient__kick(ac);
	ms_authclient__rearm(ac);
	return 0;
}

void ms_authclient_cancel(struct ms_authclient_request **reqp)
{
	struct ms_authclient_request *r = *reqp;
	if (r == NULL)
		return;
	*reqp = NULL;
	struct ms_authclient *ac = r->ac;
	ms_dvreqs_remove(&ac->reqs, &r->dv);
	request_free(r);
	ms_authclient__rearm(ac);
}

void ms_authclient_get_stats(const struct ms_authclient *ac,
			     struct ms_authclient_stats *stats_r)
{
	struct ms_dvconn_stats cs;

	*stats_r = ac->stats;
	ms_dvconn_get_stats(ac->conn, &cs);
	stats_r->connect_errors = cs.connect_errors;
	stats_r->disconnects = cs.disconnects;
}

const char *ms_authclient_status_name(enum ms_authclient_status status)
{
	switch (status) {
	case MS_AUTHCLIENT_OK:
		return "OK";
	case MS_AUTHCLIENT_REFUSED:
		return "REFUSED";
	case MS_AUTHCLIENT_ERROR:
		return "ERROR";
	}
	return "unknown";
}

static void timer_close_cb(uv_handle_t *handle)
{
	ms_authclient__release_handle(handle->data);
}

static void free_list(struct ms_authclient *ac, struct ms_dvreq_list *l)
{
	struct ms_dvreq *d;
	while ((d = l->head) != NULL) {
		ms_dvreqs_remove(&ac->reqs, d);
		request_free(ACREQ(d));
	}
}

void ms_authclient_free(struct ms_authclient **acp)
{
	struct ms_authclient *ac = *acp;
	if (ac == NULL)
		return;
	*acp = NULL;
	ut_assert(!ac->closing);
	ac->closing = true;
	ms_dvconn_free(&ac->conn);
	free_list(ac, &ac->reqs.queue);
	free_list(ac, &ac->reqs.sent);
	free_list(ac, &ac->reqs.done);
	uv_close((uv_handle_t *)&ac->timer, timer_close_cb);
}
