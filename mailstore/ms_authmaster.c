/*
 * The auth-master client (see ms_authmaster.h): requests, lookups shared
 * between requests, the cache, timeouts and callbacks. The protocol is in
 * ms_authmaster_conn.c; the lookup lists are ms_dvreq's.
 *
 * Callbacks run only from ms_authmaster__dispatch(), which every libuv
 * entry point calls last; paths that fail lookups synchronously (a failed
 * uv_write inside ms_authmaster_user) leave them on the done list and arm
 * the timer with 0 ms, so no callback ever runs inside ms_authmaster_user().
 * The client is freed when its last handle (the timer, the connection) is
 * closed.
 */
#include <stdlib.h>
#include <string.h>

#include "ms_amproto.h"
#include "ms_authmaster_private.h"
#include "ut_xalloc.h"

#define DEFAULT_SERVICE	   "tidings"
#define DEFAULT_TIMEOUT	   5000
#define DEFAULT_IN_FLIGHT  32
#define DEFAULT_REQUESTS   4096
#define DEFAULT_CACHE_SIZE 10000
#define DEFAULT_POS_TTL	   (10 * 60 * 1000)
#define DEFAULT_NEG_TTL	   (60 * 1000)

/* Frees a lookup that is in no list, with any requests left on it
   (without calling them). */
static void lookup_free(struct ms_authmaster *am, struct lookup *L)
{
	struct ms_authmaster_request *w;
	while ((w = L->waiters.head) != NULL) {
		req_unlink(w);
		am->requests--;
		free(w);
	}
	free(L->user);
	free(L->reason);
	free(L);
}

/* ---- completion ---- */

static void timer_cb(uv_timer_t *t);

void ms_authmaster__rearm(struct ms_authmaster *am)
{
	if (!am->closing)
		ms_dvreqs_rearm(&am->lookups, &am->timer, timer_cb);
}

/* Moves L to the done list with its result (callbacks come later, from
   dispatch), caching FOUND and NOTFOUND. */
void ms_authmaster__finish(struct ms_authmaster *am, struct lookup *L,
			   const struct ms_authmaster_result *res,
			   const char *reason)
{
	ms_dvreqs_finish(&am->lookups, &L->dv);
	ut_hash_remove(am->by_user, L->user);
	L->result = *res;
	L->reason = xstrdup_null(reason);
	L->result.reason = L->reason;
	if (am->cache != NULL)
		ms_amcache_put(am->cache, L->user, res, uv_now(am->loop));
}

void ms_authmaster__fail(struct ms_authmaster *am, struct lookup *L,
			 const char *reason)
{
	struct ms_authmaster_result res = {.status = MS_AUTHMASTER_FAIL};
	ms_authmaster__finish(am, L, &res, reason);
}

/* Calls the callbacks of every done lookup. Nothing may touch the client
   after this returns but a check of am->closing. */
void ms_authmaster__dispatch(struct ms_authmaster *am)
{
	struct ms_dvreq *d;

	while (!am->closing &&
	       (d = ms_dvreqs_take_done(&am->lookups)) != NULL) {
		struct lookup *L = LOOKUP(d);
		struct ms_authmaster_request *w;
		while (!am->closing && (w = L->waiters.head) != NULL) {
			ms_authmaster_cb *cb = w->cb;
			void *ctx = w->ctx;
			req_unlink(w);
			am->requests--;
			free(w);
			cb(&L->result, ctx);
		}
		lookup_free(am, L);
	}
	ms_authmaster__rearm(am);
}

void ms_authmaster__release_handle(struct ms_authmaster *am)
{
	ut_assert(am->open_handles > 0);
	if (--am->open_handles > 0 || !am->closing)
		return;
	free(am->service);
	free(am);
}

static void timer_cb(uv_timer_t *t)
{
	struct ms_authmaster *am = t->data;
	uint64_t now = uv_now(am->loop);
	struct ms_dvreq *d;

	while ((d = ms_dvreqs_expired(&am->lookups, now)) != NULL) {
		char *reason =
		    xasprintf("timed out after %u ms", am->set.timeout_msecs);
		am->stats.timeouts++;
		ms_authmaster__fail(am, LOOKUP(d), reason);
		free(reason);
	}
	ms_authmaster__flush(am);
	ms_authmaster__dispatch(am);
}

/* ---- the API ---- */

static unsigned or_default(unsigned v, unsigned dflt)
{
	return v != 0 ? v : dflt;
}

int ms_authmaster_new(uv_loop_t *loop, const char *path,
		      const struct ms_authmaster_settings *set,
		      struct ms_authmaster **am_r, char **error_r)
{
	static const struct ms_authmaster_settings defaults = {0};

	*am_r = NULL;
	if (set == NULL)
		set = &defaults;
	if (ms_dvconn_check_path(path, "auth-master", error_r) < 0)
		return -1;
	const char *service =
	    set->service != NULL ? set->service : DEFAULT_SERVICE;
	if (!ms_amproto_name_ok(service)) {
		*error_r = xstrdup("invalid auth-master service name");
		return -1;
	}

	struct ms_authmaster *am = xcalloc(1, sizeof(*am));
	am->loop = loop;
	am->service = xstrdup(service);
	am->set = *set;
	am->set.service = am->service;
	am->set.timeout_msecs = or_default(set->timeout_msecs, DEFAULT_TIMEOUT);
	am->set.max_in_flight =
	    or_default(set->max_in_flight, DEFAULT_IN_FLIGHT);
	am->set.max_requests = or_default(set->max_requests, DEFAULT_REQUESTS);
	am->set.cache_size = or_default(set->cache_size, DEFAULT_CACHE_SIZE);
	am->set.positive_ttl_msecs =
	    or_default(set->positive_ttl_msecs, DEFAULT_POS_TTL);
	am->set.negative_ttl_msecs =
	    or_default(set->negative_ttl_msecs, DEFAULT_NEG_TTL);
	if (!set->no_cache)
		am->cache = ms_amcache_new(am->set.cache_size,
					   am->set.positive_ttl_msecs,
					   am->set.negative_ttl_msecs);
	am->by_user = ut_hash_new();
	am->conn =
	    ms_dvconn_new(loop, path, MS_AUTHMASTER_LOG_PREFIX,
			  MS_AMPROTO_LINE_MAX, &ms_authmaster__conn_ops, am);
	uv_timer_init(loop, &am->timer);
	am->timer.data = am;
	am->open_handles = 2;
	*am_r = am;
	return 0;
}

int ms_authmaster_user(struct ms_authmaster *am, const char *user,
		       ms_authmaster_cb *cb, void *ctx,
		       struct ms_authmaster_request **req_r,
		       struct ms_authmaster_result *result_r, char **error_r)
{
	ut_assert(!am->closing);
	/* The loop's clock is from the start of this turn: a deadline from
	   it could come early. */
	uv_update_time(am->loop);
	uint64_t now = uv_now(am->loop);

	*req_r = NULL;
	*error_r = NULL;
	memset(result_r, 0, sizeof(*result_r));
	if (!ms_amproto_name_ok(user)) {
		*error_r = xstrdup("a user name that cannot be asked about "
				   "(empty, over 512 bytes or with control "
				   "characters)");
		return -1;
	}
	if (am->cache != NULL &&
	    ms_amcache_get(am->cache, user, now, result_r)) {
		am->stats.requests++;
		am->stats.cache_hits++;
		return 1;
	}
	struct lookup *L = ut_hash_get(am->by_user, user);
	if (am->requests >= am->set.max_requests ||
	    (L == NULL && am->lookups.all.count >= am->set.max_requests)) {
		am->stats.refused++;
		*error_r = xasprintf("too many requests waiting for Dovecot's "
				     "userdb (limit %u)",
				     am->set.max_requests);
		return -1;
	}
	if (L == NULL) {
		L = xcalloc(1, sizeof(*L));
		L->user = xstrdup(user);
		ut_hash_put(am->by_user, user, L);
		ms_dvreqs_add(&am->lookups, &L->dv,
			      now + am->set.timeout_msecs);
	} else {
		am->stats.coalesced++;
	}
	struct ms_authmaster_request *w = xcalloc(1, sizeof(*w));
	w->am = am;
	w->cb = cb;
	w->ctx = ctx;
	w->list = &L->waiters;
	w->prev = L->waiters.tail;
	if (L->waiters.tail != NULL)
		L->waiters.tail->next = w;
	else
		L->waiters.head = w;
	L->waiters.tail = w;
	am->requests++;
	am->stats.requests++;
	*req_r = w;
	ms_authmaster__kick(am);
	ms_authmaster__rearm(am);
	return 0;
}

void ms_authmaster_cancel(struct ms_authmaster_request **reqp)
{
	struct ms_authmaster_request *w = *reqp;
	if (w == NULL)
		return;
	*reqp = NULL;
	req_unlink(w);
	w->am->requests--;
	free(w);
}

void ms_authmaster_get_stats(const struct ms_authmaster *am,
			     struct ms_authmaster_stats *stats_r)
{
	struct ms_dvconn_stats cs;

	*stats_r = am->stats;
	ms_dvconn_get_stats(am->conn, &cs);
	stats_r->connects = cs.connects;
	stats_r->connect_errors = cs.connect_errors;
	stats_r->disconnects = cs.disconnects;
}

const char *ms_authmaster_status_name(enum ms_authmaster_status status)
{
	switch (status) {
	case MS_AUTHMASTER_FOUND:
		return "FOUND";
	case MS_AUTHMASTER_NOTFOUND:
		return "NOTFOUND";
	case MS_AUTHMASTER_FAIL:
		return "FAIL";
	}
	return "unknown";
}

static void timer_close_cb(uv_handle_t *handle)
{
	ms_authmaster__release_handle(handle->data);
}

static void free_list(struct ms_authmaster *am, struct ms_dvreq_list *l)
{
	struct ms_dvreq *d;
	while ((d = l->head) != NULL) {
		ms_dvreqs_remove(&am->lookups, d);
		lookup_free(am, LOOKUP(d));
	}
}

void ms_authmaster_free(struct ms_authmaster **amp)
{
	struct ms_authmaster *am = *amp;
	if (am == NULL)
		return;
	*amp = NULL;
	ut_assert(!am->closing);
	am->closing = true;
	ms_dvconn_free(&am->conn);
	free_list(am, &am->lookups.queue);
	free_list(am, &am->lookups.sent);
	free_list(am, &am->lookups.done);
	ut_hash_free(&am->by_user);
	ms_amcache_free(&am->cache);
	uv_close((uv_handle_t *)&am->timer, timer_close_cb);
}
