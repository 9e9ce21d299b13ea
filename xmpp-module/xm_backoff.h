#ifndef XM_BACKOFF_H
#define XM_BACKOFF_H

/*
 * Capped exponential backoff with full jitter for reconnects. Attempt n
 * (counted from 0 since the last reset) waits a uniformly random time in
 * [min_msecs, cap(n)], where cap(n) = min(max_msecs, min_msecs * 2^(n+1)).
 * The randomness keeps many bridges that lost the same server from coming
 * back in lockstep. Plain data, no allocation; not thread-safe.
 */

#include <stdint.h>

struct xm_backoff {
	uint64_t min_msecs;
	uint64_t max_msecs;
	unsigned attempt;
	uint64_t rng; /* xorshift64* state, never 0 */
};

/* max_msecs below min_msecs is raised to min_msecs. seed 0 picks one from
   the system's random source. */
void xm_backoff_init(struct xm_backoff *b, uint64_t min_msecs,
		     uint64_t max_msecs, uint64_t seed);
/* The upper bound of the delay for the given attempt. */
uint64_t xm_backoff_cap(const struct xm_backoff *b, unsigned attempt);
/* The delay before the next attempt; advances the attempt counter. */
uint64_t xm_backoff_next(struct xm_backoff *b);
/* After a connection that stayed up: the next delay is short again. */
void xm_backoff_reset(struct xm_backoff *b);

#endif
