/* SPDX-License-Identifier: GPL-2.0-only */
/* The unit tests' random numbers: the same sequence for a seed everywhere. */
#ifndef SPLICER_TEST_RNG_H
#define SPLICER_TEST_RNG_H

#include <stddef.h>
#include <linux/types.h>

static unsigned long long rng_state;

static inline void rnd_seed(unsigned long long seed)
{
	rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
}

/* xorshift64* */
static inline __u32 rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 2685821657736338717ULL) >> 32;
}

static inline __u32 pick(const __u32 *v, size_t n)
{
	return v[rnd() % n];
}

#endif /* SPLICER_TEST_RNG_H */
