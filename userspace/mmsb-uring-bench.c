// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb-uring-bench: deltas/s through io_uring against the ioctl, printed,
 * not asserted.  Same work as mmsb-bench: 64-byte DENSE deltas at random
 * offsets over 64 pages of 4 KiB.  Every figure counts deltas applied
 * and visible to the submitter:
 *   ioctl-sync B   MMSB_IOC_SUBMIT with SYNC, B deltas per call
 *   ioctl+flush B  MMSB_IOC_SUBMIT of B deltas, one FLUSH at the end
 *   uring QD xC    C deltas per MMSB_URING_SUBMIT, QD commands in flight
 *                  (C = 1 and C = URING_WIDE)
 * The io_uring ring is SINGLE_ISSUER | DEFER_TASKRUN: completions run
 * when the benchmark waits for them, not as interrupts of its work.
 *
 *   mmsb-uring-bench [-n DELTAS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"

#define NR_PAGES	64
#define PAGE_BYTES	4096
#define DELTA_BYTES	64
#define MAX_DEPTH	128
#define URING_WIDE	16	/* deltas per command, second uring column */

static __u64 pages[NR_PAGES];
static __u8 payload[MAX_DEPTH * URING_WIDE][DELTA_BYTES];
static struct mmsb_delta d[MAX_DEPTH * URING_WIDE];

/* A fresh random delta in slot @i. */
static void fill(unsigned int i)
{
	unsigned int j;

	for (j = 0; j < DELTA_BYTES; j += 8) {
		__u64 v = rnd();

		memcpy(&payload[i][j], &v, 8);
	}
	mmsb_delta_dense(&d[i], pages[rnd() % NR_PAGES],
			 rnd() % (PAGE_BYTES - DELTA_BYTES), payload[i],
			 DELTA_BYTES);
}

static int run_ioctl(int fd, unsigned int n, unsigned int batch, int sync,
		     double *rate)
{
	unsigned int done = 0, i;
	double t0 = now();
	int ret;

	while (done < n) {
		unsigned int b = batch < n - done ? batch : n - done;

		for (i = 0; i < b; i++)
			fill(i);
		ret = mmsb_submit(fd, d, b, sync ? MMSB_SUBMIT_SYNC : 0, NULL);
		if (ret)
			return ret;
		done += b;
	}
	if (!sync) {
		ret = mmsb_flush(fd);
		if (ret)
			return ret;
	}
	*rate = n / (now() - t0);
	return 0;
}

/* @n deltas, @width per command, @depth commands in flight. */
static int run_uring(int fd, struct io_uring *ring, unsigned int n,
		     unsigned int depth, unsigned int width, double *rate)
{
	unsigned int sent = 0, done = 0, slots[MAX_DEPTH], nfree = depth, i, k;
	double t0 = now();

	for (i = 0; i < depth; i++)
		slots[i] = i;
	while (done < n) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		int ret;

		while (nfree && sent < n) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

			i = slots[--nfree];
			for (k = 0; k < width; k++)
				fill(i * width + k);
			mmsb_uring_prep_submit(sqe, fd, &d[i * width], width, 0);
			io_uring_sqe_set_data64(sqe, i);
			sent += width;
		}
		ret = io_uring_submit_and_wait(ring, 1);
		if (ret < 0)
			return ret;
		io_uring_for_each_cqe(ring, head, cqe) {
			if (cqe->res != (int)width)
				return cqe->res < 0 ? cqe->res : -EIO;
			slots[nfree++] = cqe->user_data;
			seen++;
		}
		io_uring_cq_advance(ring, seen);
		done += seen * width;
	}
	*rate = n / (now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int sizes[] = { 1, 16, 128 };
	double sync_rate[3], flush_rate[3], uring_rate[3], wide_rate[3];
	unsigned int n = 20000, i;
	struct mmsb_page_create pc;
	struct io_uring ring;
	int fd, opt, ret;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n') {
			fprintf(stderr, "usage: %s [-n DELTAS]\n", argv[0]);
			return 2;
		}
		n = strtoul(optarg, NULL, 0);
	}
	/* Whole commands of URING_WIDE deltas. */
	n -= n % URING_WIDE;
	fd = mmsb_open();
	if (fd < 0) {
		fprintf(stderr, "open: %s\n", strerror(-fd));
		return 1;
	}
	for (i = 0; i < NR_PAGES; i++) {
		ret = mmsb_page_create(fd, PAGE_BYTES, 0, 0, &pc);
		if (ret) {
			fprintf(stderr, "create: %s\n", strerror(-ret));
			return 1;
		}
		pages[i] = pc.id;
	}
	ret = mmsb_uring_init(fd, &ring, MAX_DEPTH,
			      IORING_SETUP_SINGLE_ISSUER |
			      IORING_SETUP_DEFER_TASKRUN);
	if (ret) {
		fprintf(stderr, "io_uring: %s\n", strerror(-ret));
		return 1;
	}
	for (i = 0; i < 3; i++) {
		ret = run_ioctl(fd, n, sizes[i], 1, &sync_rate[i]) ?:
		      run_ioctl(fd, n, sizes[i], 0, &flush_rate[i]) ?:
		      run_uring(fd, &ring, n, sizes[i], 1, &uring_rate[i]) ?:
		      run_uring(fd, &ring, n, sizes[i], URING_WIDE,
				&wide_rate[i]);
		if (ret) {
			fprintf(stderr, "run %u: %s\n", sizes[i], strerror(-ret));
			return 1;
		}
	}
	printf("mmsb-uring-bench: %u deltas of %d bytes per run, deltas/s\n",
	       n, DELTA_BYTES);
	printf("%-6s %12s %12s %12s %12s\n", "B/QD", "ioctl-sync",
	       "ioctl+flush", "uring x1", "uring x16");
	for (i = 0; i < 3; i++)
		printf("%-6u %12.0f %12.0f %12.0f %12.0f\n", sizes[i],
		       sync_rate[i], flush_rate[i], uring_rate[i],
		       wide_rate[i]);
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
