/*
 * The router's table of served users (see struct br_user): created at the
 * first event or presence of a user that maps to a JID, freed when idle,
 * so that memory follows the users who are active, not all who ever were.
 * Events for users that map to no JID keep nothing: they are counted and
 * logged at most once a minute, whoever sends them.
 */
#include <stdlib.h>

#include "br_jidmap.h"
#include "br_router_private.h"
#include "ut_log.h"
#include "ut_xalloc.h"

/* The user of a canonical key and JID, created if needed. */
static struct br_user *get_key(struct br_router *r, const char *key,
			       const char *jid)
{
	struct br_user *u = ut_hash_get(r->users, key);
	if (u != NULL)
		return u;
	u = xcalloc(1, sizeof(*u));
	u->r = r;
	u->key = xstrdup(key);
	u->jid = xstrdup(jid);
	u->prefix = xasprintf("bridge(%s)", key);
	u->presence = r->presence_of != NULL
			  ? r->presence_of(r->presence_ctx, key)
			  : BR_PRESENCE_UNKNOWN;
	br_settings_load(r->cfg, r->d.ledger, key, &u->settings);
	uv_timer_init(r->d.loop, &u->timer);
	r->open_handles++;
	u->timer.data = u;
	ut_hash_put(r->users, key, u);
	return u;
}

struct br_user *br_user__get(struct br_router *r, const char *username)
{
	char *key = NULL, *jid = NULL;
	const char *why = NULL;

	if (br_jidmap_user(r->cfg, username, &key, &jid, &why) < 0) {
		r->stats.unmapped++;
		br_router__ratelog(r, &r->unmapped_log, UT_LOG_WARN, "bridge",
				   "mail for %s is not notified: %s", username,
				   why);
		return NULL;
	}
	struct br_user *u = get_key(r, key, jid);
	free(key);
	free(jid);
	return u;
}

static void user_closed_cb(uv_handle_t *h)
{
	struct br_user *u = h->data;
	struct br_router *r = u->r;

	for (size_t i = 0; i < u->held_count; i++)
		br_mail_free(&u->held[i]);
	free(u->held);
	free(u->key);
	free(u->jid);
	free(u->prefix);
	free(u);
	br_router__handle_gone(r);
}

static bool idle(const struct br_user *u, uint64_t now)
{
	uint64_t window = u->r->cfg->burst_window_msecs;
	/* An online user's presence lives here: kept while online. */
	return u->held_count == 0 && u->held_extra == 0 &&
	       (u->presence == BR_PRESENCE_UNKNOWN ||
		u->presence == BR_PRESENCE_OFFLINE) &&
	       !uv_is_active((const uv_handle_t *)&u->timer) &&
	       now - u->window_start_msecs >= window &&
	       (u->last_flush_msecs == 0 ||
		now - u->last_flush_msecs >= window);
}

void br_user__sweep(struct br_router *r, bool all)
{
	uint64_t now = uv_now(r->d.loop);
	struct ut_hash_iter it;
	const char *key;
	void *value;

	ut_hash_iter_init(&it, r->users);
	while (ut_hash_iter_next(&it, &key, &value)) {
		struct br_user *u = value;
		if (!all && !idle(u, now))
			continue;
		ut_hash_iter_remove(&it);
		uv_close((uv_handle_t *)&u->timer, user_closed_cb);
	}
}

void br_router_config_changed(struct br_router *r)
{
	struct ut_hash_iter it;
	const char *key;
	void *value;

	ut_hash_iter_init(&it, r->users);
	while (ut_hash_iter_next(&it, &key, &value)) {
		struct br_user *u = value;
		br_settings_load(r->cfg, r->d.ledger, u->key, &u->settings);
	}
}
