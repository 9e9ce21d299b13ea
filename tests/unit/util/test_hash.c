#include <stdint.h>
#include <stdio.h>

#include "ut_hash.h"
#include "test.h"

static void test_put_get_remove(void)
{
	struct ut_hash *h = ut_hash_new();
	static int values[1000];
	char key[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user%d@example.org", i);
		T_CHECK(ut_hash_put(h, key, &values[i]) == NULL);
	}
	T_CHECK_INT(ut_hash_count(h), 1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user%d@example.org", i);
		T_CHECK(ut_hash_get(h, key) == &values[i]);
	}
	T_CHECK(ut_hash_get(h, "nobody") == NULL);
	T_CHECK(ut_hash_put(h, "user1@example.org", &values[2]) == &values[1]);
	T_CHECK(ut_hash_remove(h, "user1@example.org") == &values[2]);
	T_CHECK(ut_hash_remove(h, "user1@example.org") == NULL);
	T_CHECK_INT(ut_hash_count(h), 999);

	struct ut_hash_iter it;
	const char *k;
	void *v;
	int seen = 0;
	ut_hash_iter_init(&it, h);
	while (ut_hash_iter_next(&it, &k, &v))
		seen++;
	T_CHECK_INT(seen, 999);
	ut_hash_free(&h);
	T_CHECK(h == NULL);
}

static void test_empty_iter(void)
{
	struct ut_hash *h = ut_hash_new();
	struct ut_hash_iter it;
	const char *k;
	void *v;
	ut_hash_iter_init(&it, h);
	T_CHECK(!ut_hash_iter_next(&it, &k, &v));
	ut_hash_put(h, "a", h);
	ut_hash_iter_init(&it, h);
	T_CHECK(ut_hash_iter_next(&it, &k, &v));
	T_CHECK_STR(k, "a");
	T_CHECK(!ut_hash_iter_next(&it, &k, &v));
	ut_hash_free(&h);
}

/* Removing entries while iterating visits every entry exactly once. */
static void test_iter_remove(void)
{
	struct ut_hash *h = ut_hash_new();
	static int values[500];
	char key[32];
	for (int i = 0; i < 500; i++) {
		values[i] = i;
		snprintf(key, sizeof(key), "mailbox-%d", i);
		ut_hash_put(h, key, &values[i]);
	}
	struct ut_hash_iter it;
	const char *k;
	void *v;
	int seen = 0, removed = 0;
	ut_hash_iter_init(&it, h);
	while (ut_hash_iter_next(&it, &k, &v)) {
		seen++;
		if (*(int *)v % 2 == 0) {
			T_CHECK(ut_hash_iter_remove(&it) == v);
			removed++;
		}
	}
	T_CHECK_INT(seen, 500);
	T_CHECK_INT(removed, 250);
	T_CHECK_INT(ut_hash_count(h), 250);
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "mailbox-%d", i);
		T_CHECK((ut_hash_get(h, key) != NULL) == (i % 2 == 1));
	}
	/* Removing everything, the last entry of each bucket included. */
	ut_hash_iter_init(&it, h);
	while (ut_hash_iter_next(&it, &k, &v))
		ut_hash_iter_remove(&it);
	T_CHECK_INT(ut_hash_count(h), 0);
	ut_hash_iter_init(&it, h);
	T_CHECK(!ut_hash_iter_next(&it, &k, &v));
	ut_hash_free(&h);
}

int main(void)
{
	T_RUN(test_iter_remove);
	T_RUN(test_put_get_remove);
	T_RUN(test_empty_iter);
	return T_DONE();
}
