/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the benchmark programs share: a fixed-seed generator, so every
 * run writes the same deltas, and a monotonic clock in seconds.
 */
#ifndef MMSB_BENCH_H
#define MMSB_BENCH_H

#include <time.h>
#include <linux/types.h>

static __u64 bench_seed = 0x2545f4914f6cdd1dULL;

/* xorshift64: cheap, and the same sequence on every run. */
static inline __u64 rnd(void)
{
	bench_seed ^= bench_seed << 13;
	bench_seed ^= bench_seed >> 7;
	bench_seed ^= bench_seed << 17;
	return bench_seed;
}

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* MMSB_BENCH_H */
