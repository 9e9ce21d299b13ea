#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_hash.h"
#include "ut_xalloc.h"

struct node {
	struct node *next;
	uint64_t hash;
	void *value;
	char key[];
};

struct ut_hash {
	struct node **buckets;
	size_t size; /* a power of two */
	size_t count;
};

/* FNV-1a, 64 bits. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

struct ut_hash *ut_hash_new(void)
{
	struct ut_hash *h = xcalloc(1, sizeof(*h));
	h->size = 16;
	h->buckets = xcalloc(h->size, sizeof(*h->buckets));
	return h;
}

void ut_hash_free(struct ut_hash **hp)
{
	struct ut_hash *h = *hp;
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->size; i++) {
		struct node *n = h->buckets[i];
		while (n != NULL) {
			struct node *next = n->next;
			free(n);
			n = next;
		}
	}
	free(h->buckets);
	free(h);
	*hp = NULL;
}

static struct node **find(const struct ut_hash *h, const char *key, uint64_t hv)
{
	struct node **pp = &h->buckets[hv & (h->size - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == hv && strcmp((*pp)->key, key) == 0)
			return pp;
	}
	return pp;
}

void *ut_hash_get(const struct ut_hash *h, const char *key)
{
	struct node **pp = find(h, key, hash_str(key));
	return *pp != NULL ? (*pp)->value : NULL;
}

static void grow(struct ut_hash *h)
{
	size_t size = h->size * 2;
	struct node **buckets = xcalloc(size, sizeof(*buckets));
	for (size_t i = 0; i < h->size; i++) {
		struct node *n = h->buckets[i];
		while (n != NULL) {
			struct node *next = n->next;
			n->next = buckets[n->hash & (size - 1)];
			buckets[n->hash & (size - 1)] = n;
			n = next;
		}
	}
	free(h->buckets);
	h->buckets = buckets;
	h->size = size;
}

void *ut_hash_put(struct ut_hash *h, const char *key, void *value)
{
	uint64_t hv = hash_str(key);
	struct node **pp = find(h, key, hv);
	if (*pp != NULL) {
		void *old = (*pp)->value;
		(*pp)->value = value;
		return old;
	}
	size_t len = strlen(key);
	struct node *n = xmalloc(sizeof(*n) + len + 1);
	memcpy(n->key, key, len + 1);
	n->hash = hv;
	n->value = value;
	n->next = NULL;
	*pp = n;
	if (++h->count > h->size)
		grow(h);
	return NULL;
}

void *ut_hash_remove(struct ut_hash *h, const char *key)
{
	struct node **pp = find(h, key, hash_str(key));
	struct node *n = *pp;
	if (n == NULL)
		return NULL;
	void *value = n->value;
	*pp = n->next;
	free(n);
	h->count--;
	return value;
}

size_t ut_hash_count(const struct ut_hash *h)
{
	return h->count;
}

void ut_hash_iter_init(struct ut_hash_iter *it, const struct ut_hash *h)
{
	it->h = h;
	it->bucket = 0;
	it->node = NULL;
}

bool ut_hash_iter_next(struct ut_hash_iter *it, const char **key_r,
		       void **value_r)
{
	struct node *n =
	    it->node != NULL ? ((struct node *)it->node)->next : NULL;
	if (it->node == NULL && it->bucket < it->h->size)
		n = it->h->buckets[it->bucket];
	while (n == NULL) {
		if (++it->bucket >= it->h->size)
			return false;
		n = it->h->buckets[it->bucket];
	}
	it->node = n;
	*key_r = n->key;
	*value_r = n->value;
	return true;
}
