#ifndef UT_HASH_H
#define UT_HASH_H

/*
 * A string-keyed hash table of pointers (separate chaining, grows at load
 * factor 1). Keys come from outside the process (user and mailbox names),
 * so each table hashes with SipHash-1-3 under its own random key: nobody
 * can choose keys that all land in one bucket.
 *
 * The table copies keys; values belong to the caller. Iteration order is
 * unspecified; do not insert or remove while iterating, except removing
 * the current entry through ut_hash_iter_remove().
 */

#include <stdbool.h>
#include <stddef.h>

struct ut_hash;

struct ut_hash *ut_hash_new(void);
/* Frees the table and its keys; values are left to the caller. */
void ut_hash_free(struct ut_hash **h);
void *ut_hash_get(const struct ut_hash *h, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *ut_hash_put(struct ut_hash *h, const char *key, void *value);
/* Removes; returns the value or NULL. */
void *ut_hash_remove(struct ut_hash *h, const char *key);
size_t ut_hash_count(const struct ut_hash *h);

struct ut_hash_iter {
	struct ut_hash *h;
	size_t bucket;
	void *node;    /* the current entry */
	void **link_r; /* where the current entry is linked from */
	bool removed;  /* the current entry was removed */
};

void ut_hash_iter_init(struct ut_hash_iter *it, struct ut_hash *h);
/* Returns false at the end. */
bool ut_hash_iter_next(struct ut_hash_iter *it, const char **key_r,
		       void **value_r);
/* Removes the entry the last ut_hash_iter_next() returned (its key is
   freed: do not use key_r afterwards); returns its value. */
void *ut_hash_iter_remove(struct ut_hash_iter *it);

#endif
