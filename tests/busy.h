/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A long tick, for tests that need a completion to come late: two
 * MASKED deltas of BUSY_BYTES whose mask sets every other byte, which
 * the apply path copies byte by byte.  Load the module with ticks on
 * demand and a long budget (BUSY_PARAMS) and a page of BUSY_BYTES.
 */
#ifndef MMSB_TESTS_BUSY_H
#define MMSB_TESTS_BUSY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pages.h"

#define BUSY_BYTES	(16 << 20)
#define BUSY_PARAMS	"tick_us=0 tick_budget_us=10000000"

/* The payload and mask of the big deltas: one allocation, freed by free(). */
static inline __u8 *busy_alloc(void)
{
	__u8 *p = malloc(BUSY_BYTES + BUSY_BYTES / 8);

	if (p) {
		memset(p, 0x5a, BUSY_BYTES);
		memset(p + BUSY_BYTES, 0x55, BUSY_BYTES / 8);
	}
	return p;
}

/*
 * Queue the big deltas to page @src, have a child ask for a tick (FLUSH)
 * and return once the orchestrator took them: the long tick runs, and
 * *@flusher (the child, for wait_child()) waits for its end.  0 or
 * -errno.
 */
static inline int busy_start(int fd, __u64 src, const __u8 *mem,
			     pid_t *flusher)
{
	struct mmsb_delta big[2];
	struct mmsb_stats st;
	__u32 acc = 0;
	int i, ret;

	for (i = 0; i < 2; i++) {
		mmsb_delta_dense(&big[i], src, 0, mem, BUSY_BYTES);
		big[i].encoding = MMSB_DELTA_MASKED;
		big[i].mask = (__u64)(uintptr_t)(mem + BUSY_BYTES);
	}
	ret = mmsb_submit(fd, big, 2, 0, &acc);
	if (ret || acc != 2)
		return ret ? ret : -EIO;
	*flusher = fork();
	if (*flusher < 0)
		return -errno;
	if (!*flusher)
		_exit(mmsb_flush(fd) ? 1 : 0);
	for (i = 0; i < 10000; i++, usleep(1000)) {
		ret = mmsb_stats(fd, &st);
		if (ret || !st.ring_depth)
			break;
	}
	if (ret)
		return ret;
	if (st.ring_depth)
		return -ETIMEDOUT;
	/* Still running: the flusher still waits for it. */
	return sleeping_in_ioctl(*flusher, MMSB_IOC_FLUSH);
}

#endif /* MMSB_TESTS_BUSY_H */
