#ifndef UT_RANDOM_H
#define UT_RANDOM_H

/*
 * The one source of randomness of the tree: the kernel's (uv_random, i.e.
 * getrandom(2)). For ids, hash keys, ping salts and jitter seeds. Aborts
 * when the kernel has no randomness to give (never seen on Linux >= 3.17).
 * Safe from any thread.
 */

#include <stddef.h>
#include <stdint.h>

void ut_random_bytes(void *buf, size_t len);
/* 64 random bits from a small per-thread pool (one system call per 32). */
uint64_t ut_random_u64(void);

#endif
