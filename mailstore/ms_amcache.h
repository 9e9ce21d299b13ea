#ifndef MS_AMCACHE_H
#define MS_AMCACHE_H

/*
 * The answer cache of ms_authmaster: user name -> FOUND (uid, gid) or
 * NOTFOUND, each entry with its own expiry. At most max_entries; when
 * full, the least recently used entry goes. Times are the caller's
 * milliseconds (uv_now). Names are hashed with a keyed hash (ut_hash), so
 * nobody can choose names that collide.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ms_authmaster.h"

struct ms_amcache;

struct ms_amcache *ms_amcache_new(size_t max_entries, uint64_t positive_msecs,
				  uint64_t negative_msecs);
void ms_amcache_free(struct ms_amcache **c);
/* True and *result_r filled (reason NULL) when user has a fresh entry;
   an expired entry is removed. */
bool ms_amcache_get(struct ms_amcache *c, const char *user, uint64_t now_msecs,
		    struct ms_authmaster_result *result_r);
/* Stores result (FOUND or NOTFOUND; FAIL is ignored) for user, replacing
   any entry. */
void ms_amcache_put(struct ms_amcache *c, const char *user,
		    const struct ms_authmaster_result *result,
		    uint64_t now_msecs);
size_t ms_amcache_count(const struct ms_amcache *c);

#endif
