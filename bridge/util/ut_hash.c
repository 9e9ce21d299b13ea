#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ut_hash.h"
#include "ut_random.h"
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
	uint64_t k0, k1; /* SipHash key */
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = ROTL(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = ROTL(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = ROTL(v2, 32);                                             \
	} while (0)

/* SipHash-1-3 (one compression, three finalisation rounds) of s[0..len). */
static uint64_t siphash13(uint64_t k0, uint64_t k1, const unsigned char *s,
			  size_t len)
{
	uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575);
	uint64_t v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261);
	uint64_t v3 = k1 ^ UINT64_C(0x7465646279746573);
	uint64_t b = (uint64_t)len << 56;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t m = 0;
		for (int k = 7; k >= 0; k--)
			m = (m << 8) | s[i + (size_t)k];
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t k = 0; i + k < len; k++)
		b |= (uint64_t)s[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t hash_str(const struct ut_hash *h, const char *s)
{
	return siphash13(h->k0, h->k1, (const unsigned char *)s, strlen(s));
}

struct ut_hash *ut_hash_new(void)
{
	struct ut_hash *h = xcalloc(1, sizeof(*h));
	h->size = 16;
	h->buckets = xcalloc(h->size, sizeof(*h->buckets));
	h->k0 = ut_random_u64();
	h->k1 = ut_random_u64();
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
	struct node **pp = find(h, key, hash_str(h, key));
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
	uint64_t hv = hash_str(h, key);
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

static void *unlink_node(struct ut_hash *h, struct node **pp)
{
	struct node *n = *pp;
	void *value = n->value;
	*pp = n->next;
	free(n);
	h->count--;
	return value;
}

void *ut_hash_remove(struct ut_hash *h, const char *key)
{
	struct node **pp = find(h, key, hash_str(h, key));
	return *pp != NULL ? unlink_node(h, pp) : NULL;
}

size_t ut_hash_count(const struct ut_hash *h)
{
	return h->count;
}

void ut_hash_iter_init(struct ut_hash_iter *it, struct ut_hash *h)
{
	it->h = h;
	it->bucket = 0;
	it->node = NULL;
	it->link_r = (void **)&h->buckets[0];
	it->removed = false;
}

bool ut_hash_iter_next(struct ut_hash_iter *it, const char **key_r,
		       void **value_r)
{
	struct ut_hash *h = it->h;
	struct node **pp;

	if (it->node == NULL)
		pp = &h->buckets[it->bucket]; /* first call */
	else if (it->removed)
		pp = (struct node **)it->link_r; /* the next one moved up */
	else
		pp = &((struct node *)it->node)->next;
	it->removed = false;
	while (*pp == NULL) {
		if (++it->bucket >= h->size) {
			it->node = NULL;
			it->bucket = h->size;
			return false;
		}
		pp = &h->buckets[it->bucket];
	}
	it->node = *pp;
	it->link_r = (void **)pp;
	*key_r = (*pp)->key;
	*value_r = (*pp)->value;
	return true;
}

void *ut_hash_iter_remove(struct ut_hash_iter *it)
{
	ut_assert(it->node != NULL && !it->removed);
	it->removed = true;
	return unlink_node(it->h, (struct node **)it->link_r);
}
