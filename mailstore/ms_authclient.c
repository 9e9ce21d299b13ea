/*
 * The auth-client client (see ms_authclient.h): requests, timeouts and
 * callbacks. The connection is in ms_authclient_conn.c.
 *
 * Callbacks run only from ms_authclient__dispatch(), which every libuv
 * entry point calls last; paths that fail requests synchronously (a failed
 * uv_write inside ms_authclient_auth) leave them on the done list and arm
 * the timer with 0 ms, so no callback ever runs inside ms_authclient_auth().
 * The client is freed when its last handle (two timers, any connection) is
 * closed.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "ms_authclient_private.h"
#include "ut_xalloc.h"

#define DEFAULT_SERVICE	  "xmpp"
#define DEFAULT_TIMEOUT	  10000
#define DEFAULT_IN_FLIGHT 32
#define DEFAULT_REQUESTS  1024

static void timer_cb(uv_timer_t *t);

/* ---- lists ---- */

void ms_authclient__list_append(struct aclist *l,
				struct ms_authclient_request *r)
{
	r->snext = NULL;
	r->sprev = l->tail;
	if (l->tail != NULL)
		l->tail->snext = r;
	else
		l->head = r;
	l->tail = r;
	l->count++;
}

void ms_authclient__list_prepend(struct aclist *l,
				 struct ms_authclient_request *r)
{
	r->sprev = NULL;
	r->snext = l->head;
	if (l->head != NULL)
		l->head->sprev = r;
	else
		l->tail = r;
	l->head = r;
	l->count++;
}

void ms_authclient__list_remove(struct aclist *l,
				struct ms_authclient_request *r)
{
	if (r->sprev != NULL)
		r->sprev->snext = r->snext;
	else
		l->head = r->snext;
	if (r->snext != NULL)
		r->snext->sprev = r->sprev;
	else
		l->tail = r->sprev;
	r->sprev = r->snext = NULL;
	l->count--;
}

static void all_append(struct aclist *l, struct ms_authclient_request *r)
{
	r->anext = NULL;
	r->aprev = l->tail;
	if (l->tail != NULL)
		l->tail->anext = r;
	else
		l->head = r;
	l->tail = r;
	l->count++;
}

static void all_remove(struct aclist *l, struct ms_authclient_request *r)
{
	if (r->aprev != NULL)
		r->aprev->anext = r->anext;
	else
		l->head = r->anext;
	if (r->anext != NULL)
		r->anext->aprev = r->aprev;
	else
		l->tail = r->aprev;
	r->aprev = r->anext = NULL;
	l->count--;
}

static struct aclist *state_list(struct ms_authclient *ac,
				 struct ms_authclient_request *r)
{
	switch (r->state) {
	case ACREQ_QUEUED:
		return &ac->queue;
	case ACREQ_SENT:
		return &ac->sent;
	case ACREQ_DONE:
		return &ac->done;
	}
	ut_assert(false);
	return NULL;
}

/* Takes r out of every list. */
static void unlink_request(struct ms_authclient *ac,
			   struct ms_authclient_request *r)
{
	ms_authclient__list_remove(state_list(ac, r), r);
	if (r->state != ACREQ_DONE)
		all_remove(&ac->all, r);
}

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

void ms_authclient__rearm(struct ms_authclient *ac)
{
	if (ac->closing)
		return;
	if (ac->done.head != NULL) {
		uv_timer_start(&ac->timer, timer_cb, 0, 0);
		return;
	}
	if (ac->all.head == NULL) {
		uv_timer_stop(&ac->timer);
		return;
	}
	uint64_t now = uv_now(ac->loop), at = ac->all.head->deadline_msecs;
	uv_timer_start(&ac->timer, timer_cb, at > now ? at - now : 0, 0);
}

void ms_authclient__finish(struct ms_authclient *ac,
			   struct ms_authclient_request *r,
			   enum ms_authclient_status status, const char *reason)
{
	ut_assert(r->state != ACREQ_DONE);
	unlink_request(ac, r);
	r->state = ACREQ_DONE;
	/* The password is not needed any more. */
	explicit_bzero(r->line, r->line_len);
	free(r->line);
	r->line = NULL;
	r->result.status = status;
	r->reason = xstrdup_null(reason);
	r->result.reason = r->reason;
	ms_authclient__list_append(&ac->done, r);
}

void ms_authclient__dispatch(struct ms_authclient *ac)
{
	struct ms_authclient_request *r;

	while (!ac->closing && (r = ac->done.head) != NULL) {
		ms_authclient__list_remove(&ac->done, r);
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
	free(ac->path);
	free(ac->service);
	free(ac);
}

static void timer_cb(uv_timer_t *t)
{
	struct ms_authclient *ac = t->data;
	uint64_t now = uv_now(ac->loop);
	struct ms_authclient_request *r;
	bool stuck = false;

	while ((r = ac->all.head) != NULL && r->deadline_msecs <= now) {
		char *reason =
		    xasprintf("timed out after %u ms", ac->set.timeout_msecs);
		ac->stats.timeouts++;
		/* Dovecot holds a FAIL back for seconds, but not for our
		   whole timeout: a connection that does not answer, or
		   never finishes its handshake, is given up. */
		if (r->state == ACREQ_SENT ||
		    (ac->conn != NULL && !ac->conn->ready))
			stuck = true;
		ms_authclient__finish(ac, r, MS_AUTHCLIENT_ERROR, reason);
		free(reason);
	}
	if (stuck && ac->conn != NULL)
		ms_authclient__drop(ac, ACDROP_LOST,
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
	struct sockaddr_un sun;

	*ac_r = NULL;
	*error_r = NULL;
	if (set == NULL)
		set = &defaults;
	if (path == NULL || path[0] != '/') {
		*error_r = xstrdup("the auth-client socket needs an absolute "
				   "path");
		return -1;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*error_r = xasprintf("auth-client socket path too long (max "
				     "%zu bytes): %s",
				     sizeof(sun.sun_path) - 1, path);
		return -1;
	}
	const char *service =
	    set->service != NULL ? set->service : DEFAULT_SERVICE;
	if (!ms_acproto_service_ok(service)) {
		*error_r = xstrdup("invalid auth-client service name");
		return -1;
	}

	struct ms_authclient *ac = xcalloc(1, sizeof(*ac));
	ac->loop = loop;
	ac->path = xstrdup(path);
	ac->service = xstrdup(service);
	ac->set = *set;
	ac->set.service = ac->service;
	ac->set.timeout_msecs = or_default(set->timeout_msecs, DEFAULT_TIMEOUT);
	ac->set.max_in_flight =
	    or_default(set->max_in_flight, DEFAULT_IN_FLIGHT);
	ac->set.max_requests = or_default(set->max_requests, DEFAULT_REQUESTS);
	uv_timer_init(loop, &ac->timer);
	uv_timer_init(loop, &ac->retry_timer);
	ac->timer.data = ac;
	ac->retry_timer.data = ac;
	ac->open_handles = 2;
	*ac_r = ac;
	return 0;
}

static uint32_t next_id(struct ms_authclient *ac)
{
	if (++ac->last_id == 0) {
		ac->ids_wrapped = true;
		ac->last_id = 1;
	}
	return ac->last_id;
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
	if (ac->all.count >= ac->set.max_requests) {
		ac->stats.rejected++;
		*error_r = xasprintf("too many requests waiting for Dovecot's "
				     "auth service (limit %u)",
				     ac->set.max_requests);
		return -1;
	}
	uint32_t id = next_id(ac);
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
	r->id = id;
	r->state = ACREQ_QUEUED;
	r->deadline_msecs = uv_now(ac->loop) + ac->set.timeout_msecs;
	all_append(&ac->all, r);
	ms_authclient__list_append(&ac->queue, r);
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
	unlink_request(ac, r);
	request_free(r);
	ms_authclient__rearm(ac);
}

void ms_authclient_get_stats(const struct ms_authclient *ac,
			     struct ms_authclient_stats *stats_r)
{
	*stats_r = ac->stats;
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

static void free_list(struct ms_authclient *ac, struct aclist *l)
{
	struct ms_authclient_request *r;
	while ((r = l->head) != NULL) {
		unlink_request(ac, r);
		request_free(r);
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
	ms_authclient__conn_detach(ac);
	free_list(ac, &ac->queue);
	free_list(ac, &ac->sent);
	free_list(ac, &ac->done);
	uv_close((uv_handle_t *)&ac->timer, timer_close_cb);
	uv_close((uv_handle_t *)&ac->retry_timer, timer_close_cb);
}
