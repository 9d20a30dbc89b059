// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb-bench: delta throughput and tick duration, printed, not asserted.
 *
 * Work: 64-byte DENSE deltas with random payloads at random offsets
 * over 64 pages of 4 KiB (the same work as the peers in the design
 * notes).  For batch sizes 1, 16 and 256 it submits N deltas (not SYNC)
 * and a final FLUSH, and reports deltas/s over the whole, and the split
 * between submission and the final flush.  Then it runs 200 ticks of 64
 * deltas (submit, FLUSH) and reports the median of STATS' last tick.
 *
 *   mmsb-bench [-n DELTAS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "libmmsb.h"

#define NR_PAGES	64
#define PAGE_BYTES	4096
#define DELTA_BYTES	64
#define MAX_BATCH	256
#define TICK_RUNS	200

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static __u8 payload[MAX_BATCH][DELTA_BYTES];
static struct mmsb_delta d[MAX_BATCH];

static void fill(const __u64 *pages, unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < DELTA_BYTES; j += 8) {
			__u64 v = rnd();

			memcpy(&payload[i][j], &v, 8);
		}
		mmsb_delta_dense(&d[i], pages[rnd() % NR_PAGES],
				 rnd() % (PAGE_BYTES - DELTA_BYTES + 1),
				 payload[i], DELTA_BYTES);
	}
}

static int run_batch(int fd, const __u64 *pages, unsigned int batch, long n)
{
	double t0, t1, t2;
	long done;
	int ret;

	/* Payloads are made outside the timed loop, re-used round robin. */
	fill(pages, MAX_BATCH);
	t0 = now();
	for (done = 0; done < n; done += batch) {
		ret = mmsb_submit(fd, d + done % MAX_BATCH, batch, 0, NULL);
		if (ret)
			return ret;
	}
	t1 = now();
	ret = mmsb_flush(fd);
	if (ret)
		return ret;
	t2 = now();
	printf("batch %3u: %9.0f deltas/s  (%ld deltas: submit %.3f s, final flush %.3f s)\n",
	       batch, done / (t2 - t0), done, t1 - t0, t2 - t1);
	return 0;
}

static int run_ticks(int fd, const __u64 *pages)
{
	__u64 total[TICK_RUNS], apply[TICK_RUNS];
	struct mmsb_stats st;
	int i, ret;

	for (i = 0; i < TICK_RUNS; i++) {
		fill(pages, 64);
		/* Let the timer find nothing: the flush's tick takes all 64. */
		ret = mmsb_submit(fd, d, 64, MMSB_SUBMIT_SYNC, NULL);
		if (ret)
			return ret;
		ret = mmsb_stats(fd, &st);
		if (ret)
			return ret;
		total[i] = st.last.total_ns;
		apply[i] = st.last.apply_ns;
	}
	qsort(total, TICK_RUNS, sizeof(total[0]), cmp_u64);
	qsort(apply, TICK_RUNS, sizeof(apply[0]), cmp_u64);
	printf("tick at 64 deltas (SYNC batch of 64, %d runs): median total %.1f us, apply %.1f us, p90 total %.1f us\n",
	       TICK_RUNS, total[TICK_RUNS / 2] / 1e3, apply[TICK_RUNS / 2] / 1e3,
	       total[TICK_RUNS * 9 / 10] / 1e3);
	printf("last tick: processed %llu pages_changed %llu (a tick may hold fewer than 64 if the timer split the batch)\n",
	       (unsigned long long)st.last.processed,
	       (unsigned long long)st.last.pages_changed);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int batches[] = { 1, 16, 256 };
	__u64 pages[NR_PAGES];
	long n = 200000;
	int fd, i, opt, ret;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n') {
			fprintf(stderr, "usage: %s [-n DELTAS]\n", argv[0]);
			return 2;
		}
		n = atol(optarg);
	}
	fd = mmsb_open();
	if (fd < 0) {
		fprintf(stderr, "open: %s\n", strerror(-fd));
		return 1;
	}
	for (i = 0; i < NR_PAGES; i++) {
		struct mmsb_page_create pc;

		ret = mmsb_page_create(fd, PAGE_BYTES, 0, 0, &pc);
		if (ret) {
			fprintf(stderr, "create: %s\n", strerror(-ret));
			return 1;
		}
		pages[i] = pc.id;
	}
	printf("mmsb-bench: %d-byte DENSE deltas, random offsets, %d pages of %d bytes\n",
	       DELTA_BYTES, NR_PAGES, PAGE_BYTES);
	for (i = 0; i < 3; i++) {
		ret = run_batch(fd, pages, batches[i],
				batches[i] == 1 ? n / 4 : n);
		if (ret) {
			fprintf(stderr, "batch %u: %s\n", batches[i],
				strerror(-ret));
			return 1;
		}
	}
	ret = run_ticks(fd, pages);
	if (ret) {
		fprintf(stderr, "ticks: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}
