/*
 * The auth-master answer cache (see ms_amcache.h): a ut_hash from name to
 * entry plus a doubly linked list in order of use, most recent first.
 */
#include <stdlib.h>

#include "ms_amcache.h"
#include "ut_hash.h"
#include "ut_xalloc.h"

struct entry {
	struct entry *prev, *next; /* in use order */
	char *user;
	struct ms_authmaster_result result;
	uint64_t expires_msecs;
};

struct ms_amcache {
	struct ut_hash *by_user;
	struct entry *head, *tail;
	size_t max_entries;
	uint64_t positive_msecs, negative_msecs;
};

struct ms_amcache *ms_amcache_new(size_t max_entries, uint64_t positive_msecs,
				  uint64_t negative_msecs)
{
	struct ms_amcache *c = xcalloc(1, sizeof(*c));
	ut_assert(max_entries > 0);
	c->by_user = ut_hash_new();
	c->max_entries = max_entries;
	c->positive_msecs = positive_msecs;
	c->negative_msecs = negative_msecs;
	return c;
}

static void unlink_entry(struct ms_amcache *c, struct entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(struct ms_amcache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

static void remove_entry(struct ms_amcache *c, struct entry *e)
{
	unlink_entry(c, e);
	ut_hash_remove(c->by_user, e->user);
	free(e->user);
	free(e);
}

void ms_amcache_free(struct ms_amcache **cp)
{
	struct ms_amcache *c = *cp;
	if (c == NULL)
		return;
	*cp = NULL;
	while (c->head != NULL)
		remove_entry(c, c->head);
	ut_hash_free(&c->by_user);
	free(c);
}

bool ms_amcache_get(struct ms_amcache *c, const char *user, uint64_t now_msecs,
		    struct ms_authmaster_result *result_r)
{
	struct entry *e = ut_hash_get(c->by_user, user);
	if (e == NULL)
		return false;
	if (now_msecs >= e->expires_msecs) {
		remove_entry(c, e);
		return false;
	}
	unlink_entry(c, e);
	push_front(c, e);
	*result_r = e->result;
	result_r->reason = NULL;
	return true;
}

void ms_amcache_put(struct ms_amcache *c, const char *user,
		    const struct ms_authmaster_result *result,
		    uint64_t now_msecs)
{
	if (result->status != MS_AUTHMASTER_FOUND &&
	    result->status != MS_AUTHMASTER_NOTFOUND)
		return;
	struct entry *e = ut_hash_get(c->by_user, user);
	if (e != NULL) {
		unlink_entry(c, e);
	} else {
		if (ut_hash_count(c->by_user) >= c->max_entries)
			remove_entry(c, c->tail);
		e = xcalloc(1, sizeof(*e));
		e->user = xstrdup(user);
		ut_hash_put(c->by_user, user, e);
	}
	e->result = *result;
	e->result.reason = NULL;
	e->expires_msecs = now_msecs + (result->status == MS_AUTHMASTER_FOUND
					    ? c->positive_msecs
					    : c->negative_msecs);
	push_front(c, e);
}

size_t ms_amcache_count(const struct ms_amcache *c)
{
	return ut_hash_count(c->by_user);
}
