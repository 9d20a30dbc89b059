/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the benchmark programs share.
 *
 *  - The work: a pool of BENCH_POOL deltas (page, offset, payload bytes)
 *    made from a fixed seed, so every path of every run writes the same
 *    bytes at the same places.  A run of n deltas takes pool entries
 *    0, 1, ... round robin; every batch divides the pool, so no batch
 *    wraps round its end.
 *  - The two loop templates every throughput row goes through: run_calls()
 *    (one system call or user-space step per batch) and run_ring() (an
 *    io_uring kept at a fixed depth).  Both are inlined with the step
 *    they are given, so the template costs the same on every path.
 *  - The clock and the output: one "MMSB-CSV," line per result, columns
 *    in BENCH_CSV_HEADER.  Under QEMU's -icount shift=0 a nanosecond is
 *    one guest instruction, so ns_per_delta reads as instructions.
 */
#ifndef MMSB_BENCH_H
#define MMSB_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <liburing.h>
#include <linux/types.h>

#define BENCH_POOL	4096	/* distinct deltas; MMSB_SUBMIT_MAX */
#define BENCH_PAGE	4096	/* bytes of data per page */

static __u64 bench_seed = 0x2545f4914f6cdd1dULL;

/* xorshift64: cheap, and the same sequence on every run. */
static inline __u64 rnd(void)
{
	bench_seed ^= bench_seed << 13;
	bench_seed ^= bench_seed >> 7;
	bench_seed ^= bench_seed << 17;
	return bench_seed;
}

/*
 * Marks the start and the end of a row's timed part for scripts/profile,
 * whose QEMU plugin counts the guest instructions run in between
 * (mmsb-bench -p; other runs never execute it).  The marker, xchg
 * %bx,%bx, changes nothing: one instruction in the figures.
 */
static inline void bench_profile_mark(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("xchg %%bx, %%bx" ::: "memory");
#endif
}

static inline __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/**
 * struct bench_work - the deltas every path of one row writes
 * @len: payload bytes per delta (DENSE: the window's length)
 * @pages: pages of BENCH_PAGE bytes the deltas fall on
 * @page: page index of delta i, uniform in [0, @pages)
 * @off: window offset of delta i, uniform in [0, BENCH_PAGE - @len]
 * @payload: BENCH_POOL * @len random bytes; delta i's at i * @len
 */
struct bench_work {
	unsigned int len, pages;
	__u32 page[BENCH_POOL];
	__u32 off[BENCH_POOL];
	__u8 *payload;
};

/* Make the pool for @len-byte deltas over @pages pages, from the seed. */
static inline int bench_work_init(struct bench_work *w, unsigned int len,
				  unsigned int pages)
{
	unsigned int i, j;

	bench_seed = 0x2545f4914f6cdd1dULL;
	w->len = len;
	w->pages = pages;
	free(w->payload);
	w->payload = malloc((size_t)BENCH_POOL * len);
	if (!w->payload)
		return -ENOMEM;
	for (i = 0; i < BENCH_POOL; i++) {
		w->page[i] = rnd() % pages;
		w->off[i] = rnd() % (BENCH_PAGE - len + 1);
		for (j = 0; j < len; j += 8) {
			__u64 v = rnd();

			memcpy(&w->payload[(size_t)i * len + j], &v,
			       len - j < 8 ? len - j : 8);
		}
	}
	return 0;
}

static inline const __u8 *bench_payload(const struct bench_work *w,
					unsigned int i)
{
	return w->payload + (size_t)i * w->len;
}

/* Apply deltas 0..@n-1 of @w (round robin) to @pages, an array per page. */
static inline void bench_model_apply(__u8 *const *pages,
				     const struct bench_work *w, long n)
{
	long k;

	for (k = 0; k < n; k++) {
		unsigned int i = k % BENCH_POOL;

		memcpy(pages[w->page[i]] + w->off[i], bench_payload(w, i),
		       w->len);
	}
}

/*
 * The loop template for paths with one step per call: @n deltas, @batch
 * per call of @step(@ctx, first pool index, count).  Returns 0 or the
 * step's -errno.
 */
typedef int (*bench_step_fn)(void *ctx, unsigned int first,
			     unsigned int count);

static inline __attribute__((always_inline)) int
run_calls(void *ctx, long n, unsigned int batch, bench_step_fn step)
{
	long done;
	int ret;

	for (done = 0; done < n; done += batch) {
		ret = step(ctx, done % BENCH_POOL, batch);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * The loop template for io_uring paths: @n deltas, @per deltas per SQE
 * that @prep(@ctx, sqe, first pool index, count) fills, @depth SQEs in
 * flight; each CQE must carry @res.  At most @depth * @per pool entries
 * are in flight, so an entry is never reused before its CQE.  Returns 0,
 * -EIO for a CQE with another result, or io_uring's -errno.
 */
typedef void (*bench_prep_fn)(void *ctx, struct io_uring_sqe *sqe,
			      unsigned int first, unsigned int count);

static inline __attribute__((always_inline)) int
run_ring(struct io_uring *ring, void *ctx, long n, unsigned int depth,
	 unsigned int per, int res, bench_prep_fn prep)
{
	long sent = 0, done = 0;
	unsigned int inflight = 0;

	while (done < n) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		int ret, bad = 0;

		while (inflight < depth && sent < n) {
			prep(ctx, io_uring_get_sqe(ring), sent % BENCH_POOL,
			     per);
			sent += per;
			inflight++;
		}
		ret = io_uring_submit_and_wait(ring, 1);
		if (ret < 0)
			return ret;
		io_uring_for_each_cqe(ring, head, cqe) {
			if (cqe->res != res)
				bad = cqe->res < 0 ? cqe->res : -EIO;
			seen++;
		}
		io_uring_cq_advance(ring, seen);
		if (bad)
			return bad;
		inflight -= seen;
		done += (long)seen * per;
	}
	return 0;
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Sort @n values in place and return the @pct-th percentile. */
static inline __u64 bench_percentile(__u64 *v, unsigned int n,
				     unsigned int pct)
{
	unsigned long i = (unsigned long)n * pct / 100;

	qsort(v, n, sizeof(*v), bench_cmp_u64);
	return v[i < n ? i : n - 1];
}

/*
 * One result line.  Fields that do not apply are left empty; figures
 * are derived here, once, from deltas and ns.
 */
#define BENCH_CSV_HEADER \
	"key,section,label,batch,depth,payload,pages,procs,deltas,ns," \
	"deltas_per_s,ns_per_delta,per_proc_per_s,p50_ns,p99_ns,check"

struct bench_result {
	const char *key, *section, *label, *check;
	unsigned int batch, depth, payload, pages, procs;
	long deltas;
	__u64 ns;
	double per_proc;	/* deltas/s of one producer, 0: n/a */
	__u64 p50, p99;		/* latency, 0: n/a */
};

static inline void bench_csv(const struct bench_result *r)
{
	char rate[32] = "", per[32] = "", pp[32] = "", p50[24] = "",
	     p99[24] = "";

	if (r->ns && r->deltas) {
		snprintf(rate, sizeof(rate), "%.0f", r->deltas * 1e9 / r->ns);
		snprintf(per, sizeof(per), "%.1f", (double)r->ns / r->deltas);
	}
	if (r->per_proc)
		snprintf(pp, sizeof(pp), "%.0f", r->per_proc);
	if (r->p50 || r->p99) {
		snprintf(p50, sizeof(p50), "%llu", (unsigned long long)r->p50);
		snprintf(p99, sizeof(p99), "%llu", (unsigned long long)r->p99);
	}
	printf("MMSB-CSV,%s,%s,\"%s\",%u,%u,%u,%u,%u,%ld,%llu,%s,%s,%s,%s,%s,%s\n",
	       r->key, r->section, r->label, r->batch, r->depth, r->payload,
	       r->pages, r->procs, r->deltas, (unsigned long long)r->ns, rate,
	       per, pp, p50, p99, r->check ? r->check : "");
	fflush(stdout);
}

#endif /* MMSB_BENCH_H */
