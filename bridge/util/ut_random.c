#include <uv.h>

#include "ut_random.h"
#include "ut_xalloc.h"

void ut_random_bytes(void *buf, size_t len)
{
	int rc = uv_random(NULL, NULL, buf, len, 0, NULL);
	if (rc != 0)
		ut_assert_fail(__FILE__, __LINE__, "uv_random failed");
}

uint64_t ut_random_u64(void)
{
	static __thread uint64_t pool[32];
	static __thread size_t left;

	if (left == 0) {
		ut_random_bytes(pool, sizeof(pool));
		left = UT_N_ELEMENTS(pool);
	}
	return pool[--left];
}
