#include "xm_backoff.h"

#include "ut_random.h"

static uint64_t xm_backoff_rand(struct xm_backoff *b)
{
	/* xorshift64* (Vigna): good enough for jitter, not for secrets. */
	uint64_t x = b->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

void xm_backoff_init(struct xm_backoff *b, uint64_t min_msecs,
		     uint64_t max_msecs, uint64_t seed)
{
	b->min_msecs = min_msecs;
	b->max_msecs = max_msecs < min_msecs ? min_msecs : max_msecs;
	b->attempt = 0;
	if (seed == 0)
		seed = ut_random_u64();
	b->rng = seed != 0 ? seed : UINT64_C(0x9E3779B97F4A7C15);
}

uint64_t xm_backoff_cap(const struct xm_backoff *b, unsigned attempt)
{
	uint64_t cap = b->min_msecs;

	/* Doubling stops as soon as the cap is reached, so no overflow. */
	for (unsigned i = 0; i <= attempt && cap < b->max_msecs; i++)
		cap = cap > b->max_msecs / 2 ? b->max_msecs : cap * 2;
	if (cap < b->min_msecs)
		cap = b->min_msecs;
	return cap > b->max_msecs ? b->max_msecs : cap;
}

uint64_t xm_backoff_next(struct xm_backoff *b)
{
	uint64_t cap = xm_backoff_cap(b, b->attempt);
	uint64_t span = cap - b->min_msecs;

	if (b->attempt < 64)
		b->attempt++;
	if (span == 0)
		return b->min_msecs;
	return b->min_msecs + xm_backoff_rand(b) % (span + 1);
}

void xm_backoff_reset(struct xm_backoff *b)
{
	b->attempt = 0;
}
