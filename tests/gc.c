// SPDX-License-Identifier: GPL-2.0
/*
 * The memory monitor and GC: freed pages come back once unmapped, within
 * a bounded number of GC runs; cold evictable pages go under pressure
 * and no other page ever does; GC stays within the tick budget; the
 * kernel memory per page, measured from /proc/meminfo; debugfs; memory
 * already freed and waiting for its release makes GC evict nothing.
 *
 * Each test reloads mmsb.ko with its own parameters and leaves it
 * loaded with the defaults.  Figures are printed as "# gc: ..." lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kselftest_harness.h"
#include "pages.h"

#define SMALL		64	/* data bytes of the small pages */
/*
 * For tests that count GC runs: a tick budget (10 s) no run can reach,
 * so gc_batch_pages alone bounds a run.  With the default, a loaded
 * host (TCG, two cores) stops a run at its deadline and the work takes
 * one run more.
 */
#define NO_BUDGET	"tick_budget_us=10000000"

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The debug kernel (KASAN, lockdep, kmemleak) is many times slower and
 * its timings are no figures: wall-clock bounds are checked elsewhere.
 */
static int debug_kernel(void)
{
	return !access("/sys/kernel/debug/kmemleak", F_OK);
}

/* A field of /proc/meminfo, bytes. */
static long long meminfo(const char *key)
{
	char line[256];
	long long kb = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			kb = strtoll(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb * 1024;
}

/* Poll STATS until @cond holds or @ms pass; 0 or -ETIMEDOUT. */
#define WAIT_STATS(fd, st, cond, ms) ({					\
	long __end = now_ms() + (ms);					\
	int __ret = -ETIMEDOUT;						\
	while (!mmsb_stats(fd, &(st)) && now_ms() < __end) {		\
		if (cond) {						\
			__ret = 0;					\
			break;						\
		}							\
		usleep(1000);						\
	}								\
	__ret; })

FIXTURE(gc) {
	int fd;
	long pgsz;
	__u64 *ids;
	const struct mmsb_page_header **maps;
	unsigned int n;
};

FIXTURE_SETUP(gc)
{
	self->fd = -1;
	self->pgsz = page_size();
	self->ids = NULL;
	self->maps = NULL;
	self->n = 0;
}

/* Let go of the fixture's mappings, arrays and file. */
static void gc_reset(FIXTURE_DATA(gc) *self)
{
	unsigned int i;

	if (self->maps)
		for (i = 0; i < self->n; i++)
			if (self->maps[i])
				mmsb_page_unmap(self->maps[i]);
	free(self->maps);
	free(self->ids);
	if (self->fd >= 0)
		close(self->fd);
	self->maps = NULL;
	self->ids = NULL;
	self->fd = -1;
	self->n = 0;
}

FIXTURE_TEARDOWN(gc)
{
	gc_reset(self);
	/* Unload frees what is left; the defaults for whoever comes next. */
	EXPECT_EQ(0, module_reload(""));
}

static void open_with(struct __test_metadata *_metadata,
		      FIXTURE_DATA(gc) *self, const char *params,
		      unsigned int max_pages)
{
	ASSERT_EQ(0, module_reload(params)) TH_LOG("insmod mmsb.ko %s", params);
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	self->ids = calloc(max_pages, sizeof(*self->ids));
	self->maps = calloc(max_pages, sizeof(*self->maps));
	ASSERT_TRUE(self->ids && self->maps);
	/* Touched now, so their pages do not show in later figures. */
	memset(self->ids, 0, max_pages * sizeof(*self->ids));
	memset(self->maps, 0, max_pages * sizeof(*self->maps));
}

/* Create @n pages of @size bytes with @flags, ids from self->ids[n]. */
static int create_n(FIXTURE_DATA(gc) *self, unsigned int n, __u64 size,
		    __u32 flags)
{
	struct mmsb_page_create pc;
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = mmsb_page_create(self->fd, size, 0, flags, &pc);
		if (ret)
			return ret;
		self->ids[self->n++] = pc.id;
	}
	return 0;
}

/*
 * Queue one one-byte delta to each of the first @n pages, without SYNC:
 * with ticks only on demand (tick_us=0) no tick applies them until
 * MMSB_IOC_FLUSH, and each holds its page until then.
 */
static int queue_one_each(FIXTURE_DATA(gc) *self, unsigned int n)
{
	static const char one = 1;
	struct mmsb_delta *d = calloc(n, sizeof(*d));
	unsigned int i, k;
	int ret = 0;

	if (!d)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		mmsb_delta_dense(&d[i], self->ids[i], 0, &one, 1);
	for (i = 0; i < n && !ret; i += k) {
		k = n - i < MMSB_SUBMIT_MAX ? n - i : MMSB_SUBMIT_MAX;
		ret = mmsb_submit(self->fd, d + i, k, 0, NULL);
	}
	free(d);
	return ret;
}

/* Map the first @n pages into self->maps. */
static int map_n(FIXTURE_DATA(gc) *self, unsigned int n)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < n && !ret; i++)
		ret = mmsb_page_map(self->fd, self->ids[i], &self->maps[i]);
	return ret;
}

/*
 * 10,000 pages freed while this process maps them: the bytes stay until
 * the unmap, then come back within ceil(10000 / 32) GC runs (+ slack
 * for runs that found nothing yet), and nothing else is left over.
 */
TEST_F_TIMEOUT(gc, freed_while_mapped_returns_to_baseline, 300)
{
	const unsigned int n = 10000, batch = 32;
	struct mmsb_stats base, st;
	__u64 runs, pending;
	unsigned int i;

	/* It counts runs: gc_batch_pages alone must bound each. */
	open_with(_metadata, self, NO_BUDGET, n);
	ASSERT_EQ(0, mmsb_stats(self->fd, &base));
	ASSERT_EQ(0, create_n(self, n, SMALL, 0));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mmsb_page_map(self->fd, self->ids[i],
					   &self->maps[i]));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mmsb_page_free(self->fd, self->ids[i]));

	/* Freed but mapped: ids gone, memory held, nothing to reclaim. */
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(0, st.pages);
	EXPECT_EQ((__u64)n * self->pgsz, st.page_bytes);
	EXPECT_EQ(0, st.gc_pending);
	EXPECT_EQ(0, self->maps[0]->flags & MMSB_HDR_LIVE);

	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, mmsb_page_unmap(self->maps[i]));
		self->maps[i] = NULL;
	}
	/* GC ran meanwhile; what is left takes ceil(pending / 32) runs. */
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	runs = st.gc_runs;
	pending = st.gc_pending;
	/*
	 * STATS reads its fields one by one: a run's last pages may show
	 * as released before the run's counters do, so wait for all three.
	 */
	ASSERT_EQ(0, WAIT_STATS(self->fd, st, !st.page_bytes &&
				!st.gc_pending &&
				st.gc_reclaimed_pages - base.gc_reclaimed_pages == n,
				60000))
		TH_LOG("page_bytes %llu, pending %llu",
		       (unsigned long long)st.page_bytes,
		       (unsigned long long)st.gc_pending);
	EXPECT_EQ(0, st.gc_pending);
	EXPECT_EQ(base.page_meta_bytes, st.page_meta_bytes);
	EXPECT_EQ(base.mem_bytes, st.mem_bytes);
	EXPECT_EQ((__u64)n, st.gc_reclaimed_pages - base.gc_reclaimed_pages);
	EXPECT_EQ((__u64)n * self->pgsz,
		  st.gc_reclaimed_bytes - base.gc_reclaimed_bytes);
	/* A run may start before the last unmap's page is on the list. */
	EXPECT_LE(st.gc_runs - runs, (pending + batch - 1) / batch + 1);
	/* The seed's target for a GC pause is 3 ms: printed, see below. */
	ksft_print_msg("gc: %u pages reclaimed in %llu runs (%llu after the "
		       "unmap for %llu pages), longest run %llu ns\n", n,
		       (unsigned long long)(st.gc_runs - base.gc_runs),
		       (unsigned long long)(st.gc_runs - runs),
		       (unsigned long long)pending,
		       (unsigned long long)st.gc_max_ns);
}

/*
 * Limit 8 MiB (2048 frames), threshold 50%: 1024 plain pages fill half,
 * 1024 evictable ones the rest.  Cold after 3 runs, the evictable pages
 * go (as MMSB_IOC_PAGE_FREE: id, LIVE flag, edges, waiters) until usage
 * is back to 50%, which is all of them; no plain page goes.
 */
TEST_F_TIMEOUT(gc, evictable_cold_pages_go_others_never, 120)
{
	const unsigned int half = 1024;
	const struct mmsb_page_header *hdr;
	struct mmsb_page_info info;
	struct mmsb_stats st;
	__u64 victim, plain;
	unsigned int i;
	pid_t child;

	open_with(_metadata, self, "mem_limit_mb=8 gc_threshold=50", 2 * half);
	/*
	 * Set up while usage is low: the first evictable page is mapped,
	 * has an edge to a plain page and a waiter.
	 */
	ASSERT_EQ(0, create_n(self, 1, SMALL, MMSB_PAGE_EVICTABLE));
	victim = self->ids[0];
	ASSERT_EQ(0, create_n(self, 1, SMALL, 0));
	plain = self->ids[1];
	ASSERT_EQ(0, mmsb_page_map(self->fd, victim, &hdr));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, victim, plain,
				   MMSB_EDGE_PASSTHROUGH));
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		_exit(-mmsb_wait(self->fd, victim, 1, 60ULL * 1000000000,
				 NULL));
	/* Evicted under a waiter that is really waiting. */
	ASSERT_EQ(0, sleeping_in_ioctl(child, MMSB_IOC_WAIT));
	ASSERT_EQ(0, create_n(self, half - 1, SMALL, 0));
	ASSERT_EQ(0, create_n(self, half - 1, SMALL, MMSB_PAGE_EVICTABLE));

	/* STATS fields are not one snapshot: wait for both to settle. */
	ASSERT_EQ(0, WAIT_STATS(self->fd, st, st.gc_evicted == half &&
				st.pages == half, 30000))
		TH_LOG("evicted %llu, pages %llu",
		       (unsigned long long)st.gc_evicted,
		       (unsigned long long)st.pages);
	EXPECT_EQ(EIDRM, wait_child(child));
	EXPECT_EQ(half, st.pages);
	EXPECT_EQ(0, st.edges);
	EXPECT_EQ(0, hdr->flags & MMSB_HDR_LIVE);
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, victim, &info));
	ASSERT_EQ(0, mmsb_page_info(self->fd, plain, &info));
	for (i = 2; i < half + 1; i++)
		ASSERT_EQ(0, mmsb_page_info(self->fd, self->ids[i], &info));
	/* The mapped victim's frame stays until the unmap. */
	ASSERT_EQ(0, WAIT_STATS(self->fd, st,
				st.page_bytes == (half + 1ULL) * self->pgsz,
				30000));
	ASSERT_EQ(0, mmsb_page_unmap(hdr));
	ASSERT_EQ(0, WAIT_STATS(self->fd, st,
				st.page_bytes == (__u64)half * self->pgsz,
				30000));
	/* More runs change nothing: 50% is not over 50%. */
	usleep(50000);
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(half, st.pages);
	EXPECT_EQ(half, st.gc_evicted);
}

/* Usage at 98% of the limit, nothing evictable: nothing ever goes. */
TEST_F_TIMEOUT(gc, plain_pages_never_evicted, 120)
{
	struct mmsb_delta d;
	struct mmsb_stats st;
	int i;

	open_with(_metadata, self, "mem_limit_mb=4 gc_threshold=10 cold_age=1",
		  1024);
	ASSERT_EQ(0, create_n(self, 1000, SMALL, 0));
	/* Ticks with deltas, so the monitor runs, under pressure. */
	for (i = 0; i < 10; i++) {
		mmsb_delta_dense(&d, self->ids[0], 0, "x", 1);
		ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
		usleep(5000);
	}
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_LE(10, st.gc_runs);
	EXPECT_EQ(1000, st.pages);
	EXPECT_EQ(0, st.gc_evicted);
	EXPECT_EQ(1000ULL * self->pgsz, st.page_bytes);
}

/*
 * No batch limit to speak of, a 2 ms budget: 2,000 pages waiting for GC
 * at once are spread over runs that each stop at the budget.  They all
 * become garbage in one tick: with ticks only on demand each page is
 * held by a queued delta until MMSB_IOC_FLUSH drops the deltas, so one
 * run could free all of them if it ignored its budget.
 */
/*
 * 2,000 freed pages at once, GC with a 2 ms budget and no batch limit;
 * the runs' count and the longest, in ns.
 */
static void budget_runs(struct __test_metadata *_metadata,
			FIXTURE_DATA(gc) *self, __u64 *runs, __u64 *max_ns)
{
	const unsigned int n = 2000;
	struct mmsb_stats base, st;
	unsigned int i;

	open_with(_metadata, self,
		  "gc_batch_pages=65536 tick_budget_us=2000 tick_us=0", n);
	ASSERT_EQ(0, create_n(self, n, SMALL, 0));
	ASSERT_EQ(0, queue_one_each(self, n));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mmsb_page_free(self->fd, self->ids[i]));
	ASSERT_EQ(0, mmsb_stats(self->fd, &base));
	ASSERT_EQ(0, base.gc_pending);
	ASSERT_EQ((__u64)n * self->pgsz, base.page_bytes);
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, WAIT_STATS(self->fd, st, !st.page_bytes &&
				st.gc_reclaimed_pages - base.gc_reclaimed_pages == n,
				60000));
	*runs = st.gc_runs - base.gc_runs;
	*max_ns = st.gc_max_ns;
	ksft_print_msg("gc: budget 2 ms: %u pages in %llu runs, longest %llu ns\n",
		       n, (unsigned long long)*runs,
		       (unsigned long long)*max_ns);
}

TEST_F_TIMEOUT(gc, runs_stay_within_budget, 300)
{
	const __u64 budget_ns = 2000000;
	__u64 runs, max_ns;
	int attempt;

	/*
	 * A run checks the clock after every page it frees, so it ends
	 * one vfree() past the budget at most, in CPU terms.  Runs are
	 * timed in wall time, though, and the orchestrator shares the
	 * vCPUs with vmalloc's purge worker, RCU and this test; under TCG
	 * a vfree()'s TLB flush waits for the other vCPU's host thread,
	 * which a loaded host may not run for many milliseconds.  Hence
	 * the slack, and up to three tries on fresh modules: a run that
	 * ignored the budget (one run for all the pages) fails them all.
	 * kmod/tests/monitor_test.c checks that a run stops at its
	 * deadline, by a clock of its own.
	 */
	for (attempt = 1; attempt <= 3; attempt++) {
		budget_runs(_metadata, self, &runs, &max_ns);
		/* The budget, not the batch, split the work. */
		ASSERT_LT(1, runs);
		if (debug_kernel() || max_ns < budget_ns + 5000000)
			break;
		gc_reset(self);
	}
	EXPECT_GE(3, attempt) TH_LOG("longest run %llu ns in every try",
				     (unsigned long long)max_ns);
}

/*
 * gc_batch_pages pages per tick: 40 pages become garbage at once (freed
 * while a queued delta holds each, as above), and GC, 8 pages a run,
 * frees them in exactly ceil(40 / 8) = 5 runs.
 */
TEST_F_TIMEOUT(gc, reclaim_batch_per_tick, 60)
{
	const unsigned int n = 40, batch = 8;
	struct mmsb_stats base, st;
	unsigned int i;

	open_with(_metadata, self, "gc_batch_pages=8 tick_us=0 " NO_BUDGET, n);
	ASSERT_EQ(0, create_n(self, n, SMALL, 0));
	ASSERT_EQ(0, queue_one_each(self, n));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mmsb_page_free(self->fd, self->ids[i]));
	ASSERT_EQ(0, mmsb_stats(self->fd, &base));
	ASSERT_EQ(n, base.ring_depth);
	ASSERT_EQ(0, base.gc_pending);
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, WAIT_STATS(self->fd, st, !st.gc_pending &&
				st.gc_reclaimed_pages - base.gc_reclaimed_pages == n,
				30000));
	EXPECT_EQ(0, st.page_bytes);
	EXPECT_EQ((__u64)n * self->pgsz,
		  st.gc_reclaimed_bytes - base.gc_reclaimed_bytes);
	EXPECT_EQ((n + batch - 1) / batch, st.gc_runs - base.gc_runs);
}

/*
 * Set-up of the eviction tests: ticks only on demand, limit 1 MiB (256
 * frames), threshold 50% (128 frames).  @n evictable one-frame pages,
 * mapped here so that an evicted page keeps its frame (usage stays, and
 * no tick is asked for to free it); then one plain page of 100 frames
 * takes usage over the threshold, and its create asks for a tick: the
 * monitor's first run, which only looks at the pages.  Returns the
 * figures after that run.
 */
static void evict_setup(struct __test_metadata *_metadata,
			FIXTURE_DATA(gc) *self, const char *params,
			unsigned int n, struct mmsb_stats *st)
{
	struct mmsb_stats base;

	open_with(_metadata, self, params, n + 1);
	ASSERT_EQ(0, create_n(self, n, SMALL, MMSB_PAGE_EVICTABLE));
	ASSERT_EQ(0, map_n(self, n));
	ASSERT_EQ(0, mmsb_stats(self->fd, &base));
	ASSERT_EQ(0, base.gc_runs);
	ASSERT_EQ(0, create_n(self, 1, 100 * self->pgsz - MMSB_PAGE_DATA_OFFSET,
			      0));
	ASSERT_EQ(0, WAIT_STATS(self->fd, *st, st->gc_runs == 1, 10000));
	ASSERT_EQ(0, st->gc_evicted);
	ASSERT_EQ(n + 1, st->pages);
}

/*
 * Eviction per tick is bounded by gc_batch_pages too: 40 cold pages,
 * cold after one run, 8 a run: each MMSB_IOC_FLUSH (one tick, one run)
 * evicts 8 more, until none is left.
 */
TEST_F_TIMEOUT(gc, evictions_batch_per_tick, 60)
{
	const unsigned int n = 40, batch = 8;
	struct mmsb_stats st;
	unsigned int i;

	evict_setup(_metadata, self, "mem_limit_mb=1 gc_threshold=50 "
		    "cold_age=1 gc_batch_pages=8 tick_us=0 " NO_BUDGET, n, &st);
	for (i = 1; i <= n / batch; i++) {
		ASSERT_EQ(0, mmsb_flush(self->fd));
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		EXPECT_EQ(1 + i, st.gc_runs);
		EXPECT_EQ(i * batch, st.gc_evicted) TH_LOG("after %u runs", i + 1);
	}
	/* Nothing evictable is left: a tick has no GC work. */
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(1 + n / batch, st.gc_runs);
	EXPECT_EQ(n, st.gc_evicted);
	EXPECT_EQ(1, st.pages);
	EXPECT_EQ(0, self->maps[0]->flags & MMSB_HDR_LIVE);
	EXPECT_EQ(0, self->maps[n - 1]->flags & MMSB_HDR_LIVE);
}

/*
 * A changing evictable page stays: with cold_age=2, 40 untouched
 * evictable pages go by the third run, while one written in every tick
 * (one SYNC delta a tick, applied before that tick's GC run) never
 * looks cold and is never evicted.
 */
TEST_F_TIMEOUT(gc, changing_evictable_page_stays, 60)
{
	const unsigned int n = 40, ticks = 5;
	struct mmsb_page_info info;
	struct mmsb_delta d;
	struct mmsb_stats st;
	__u64 hot;
	unsigned int i;
	char c;

	evict_setup(_metadata, self, "mem_limit_mb=1 gc_threshold=50 "
		    "cold_age=2 gc_batch_pages=64 tick_us=0 " NO_BUDGET, n,
		    &st);
	/* The first of the n evictable pages is the one that changes. */
	hot = self->ids[0];
	for (i = 1; i <= ticks; i++) {
		c = i;
		mmsb_delta_dense(&d, hot, 0, &c, 1);
		ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
		ASSERT_EQ(0, d.status);
		EXPECT_EQ(i, d.epoch);
	}
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(1 + ticks, st.gc_runs);
	EXPECT_EQ(n - 1, st.gc_evicted);
	EXPECT_EQ(2, st.pages);
	ASSERT_EQ(0, mmsb_page_info(self->fd, hot, &info));
	EXPECT_EQ(ticks, info.epoch);
	EXPECT_EQ(MMSB_HDR_LIVE, self->maps[0]->flags & MMSB_HDR_LIVE);
	EXPECT_EQ(0, self->maps[1]->flags & MMSB_HDR_LIVE);
}

/*
 * "Or at once by a create that needs the room": the limit (1 MiB, 256
 * frames) nearly full of freed pages that GC frees one a tick, a tick a
 * second.  A create of 128 frames cannot wait for that: it frees what
 * it needs itself and succeeds at once, while GC has freed almost
 * nothing.  The pages are held past their free by a queued delta each
 * (its chunk holds them) and all go to the reclaim list in one tick,
 * so GC is asked for once: freed one by one, by unmapping, each would
 * kick a tick of its own.
 */
TEST_F_TIMEOUT(gc, create_reclaims_at_once, 60)
{
	const unsigned int n = 240;
	struct mmsb_page_create pc;
	struct mmsb_delta *d;
	struct mmsb_stats st;
	static __u8 b = 1;
	unsigned int i;

	d = calloc(n, sizeof(*d));
	ASSERT_NE(NULL, d);
	open_with(_metadata, self,
		  "mem_limit_mb=1 gc_batch_pages=1 tick_us=1000000", n);
	ASSERT_EQ(0, create_n(self, n, SMALL, 0));
	for (i = 0; i < n; i++)
		mmsb_delta_dense(&d[i], self->ids[i], 0, &b, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, d, n, 0, NULL));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mmsb_page_free(self->fd, self->ids[i]));
	/* Held by the queue: nothing to free, no room for 64 frames. */
	EXPECT_EQ(-ENOMEM, mmsb_page_create(self->fd,
					    64 * self->pgsz - MMSB_PAGE_DATA_OFFSET,
					    0, 0, &pc));
	/* The tick drops them (-EIDRM): all pending, GC frees one. */
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_page_create(self->fd,
				      128 * self->pgsz - MMSB_PAGE_DATA_OFFSET,
				      0, 0, &pc));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_LT(st.gc_reclaimed_pages, 16);
	EXPECT_EQ(1, st.pages);
	EXPECT_GE(st.mem_limit, st.page_bytes);
	free(d);
}

/*
 * Kernel memory per small page: as many 64-byte pages as fit in the
 * limit (or in 30 s), MemFree before and after.  Beyond the data each
 * page costs its 4 KiB frame (header + data rounded up: the price of
 * mapping each page on its own) plus bookkeeping, which must stay
 * under 1 KiB.
 */
TEST_F_TIMEOUT(gc, overhead_per_page, 120)
{
	long long free0, slab0, vm0, free1, slab1, vm1, avail;
	unsigned int max, n;
	struct mmsb_stats st;
	char params[64];
	long end;
	int ret = 0;

	avail = meminfo("MemAvailable");
	ASSERT_LT(0, avail);
	/* Half of what is available, 1 GiB at most, in 4.5 KiB pages. */
	max = (unsigned int)(avail / 2 / 4608);
	if (max > 262144)
		max = 262144;
	snprintf(params, sizeof(params), "mem_limit_mb=%u",
		 (unsigned int)(((unsigned long long)max * self->pgsz) >> 20));
	open_with(_metadata, self, params, max);

	free0 = meminfo("MemFree");
	slab0 = meminfo("Slab");
	vm0 = meminfo("VmallocUsed");
	end = now_ms() + (debug_kernel() ? 10000 : 20000);
	while (self->n < max && now_ms() < end) {
		ret = create_n(self, 256 < max - self->n ? 256 : max - self->n,
			       SMALL, 0);
		if (ret)
			break;
	}
	EXPECT_TRUE(!ret || ret == -ENOMEM) TH_LOG("create: %d", ret);
	n = self->n;
	free1 = meminfo("MemFree");
	slab1 = meminfo("Slab");
	vm1 = meminfo("VmallocUsed");
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	ASSERT_LT(1000, n);

	ksft_print_msg("gc: %u pages of %d bytes: %lld bytes per page "
		       "(frames %lld, slab %lld), kernel's estimate of "
		       "bookkeeping %llu\n", n, SMALL, (free0 - free1) / n,
		       (vm1 - vm0) / n, (slab1 - slab0) / n,
		       (unsigned long long)(st.page_meta_bytes / n));
	/* The frame is all of the mapping; bookkeeping beyond it < 1 KiB. */
	EXPECT_TRUE((vm1 - vm0) / n >= self->pgsz - 8 &&
		    (vm1 - vm0) / n <= self->pgsz + 64);
	/* KASAN's redzones and metadata are no part of mmsb's cost. */
	if (!debug_kernel())
		EXPECT_LT((free0 - free1) / n - self->pgsz, 1024);
	EXPECT_LT(st.page_meta_bytes / n, 1024);
}

/* Read debugfs file mmsb/@name into @buf, NUL-terminated; 0 or -errno. */
static int read_debugfs(const char *name, char *buf, size_t size)
{
	char path[64];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/mmsb/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	len = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[len] = '\0';
	return 0;
}

TEST_F(gc, debugfs_shows_stats_pages_graph)
{
	char buf[4096], want[64];

	open_with(_metadata, self, "", 2);
	/* Every kernel of make check has debugfs; /init mounts it. */
	ASSERT_EQ(0, access("/sys/kernel/debug/mmsb/stats", R_OK));
	ASSERT_EQ(0, create_n(self, 2, SMALL, MMSB_PAGE_EVICTABLE));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->ids[0], self->ids[1],
				   MMSB_EDGE_NOTIFY));

	ASSERT_EQ(0, read_debugfs("stats", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\npages: 2\n")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "\nmem_bytes: "));
	EXPECT_NE(NULL, strstr(buf, "\ngc_runs: "));

	ASSERT_EQ(0, read_debugfs("pages", buf, sizeof(buf)));
	snprintf(want, sizeof(want), "\n%llu %d 0 ",
		 (unsigned long long)self->ids[1], SMALL);
	EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, " 0600 0x1 1 1\n")) TH_LOG("%s", buf);

	ASSERT_EQ(0, read_debugfs("graph", buf, sizeof(buf)));
	snprintf(want, sizeof(want), "%llu -> %llu notify\n",
		 (unsigned long long)self->ids[0],
		 (unsigned long long)self->ids[1]);
	EXPECT_STREQ(want, buf);
}

/*
 * Memory already freed is no reason to evict.  Limit 16 MiB, threshold
 * 50% (8 MiB), one page released per GC run: 96 freed pages of 128 KiB
 * (12 MiB) wait for their release while 4 evictable pages of 128 KiB,
 * never touched, turn cold.  Without the freed memory usage is 512 KiB:
 * none of the 4 may go, then or once the 96 are released.
 */
TEST_F_TIMEOUT(gc, freed_memory_evicts_nothing, 120)
{
	const unsigned int freed = 96, evictable = 4;
	const __u64 size = (128 << 10) - MMSB_PAGE_DATA_OFFSET;
	struct mmsb_page_create pc;
	struct mmsb_page_info info;
	struct mmsb_stats st;
	unsigned int i;

	open_with(_metadata, self, "mem_limit_mb=16 gc_threshold=50 "
		  "gc_batch_pages=1 " NO_BUDGET, freed + evictable);
	for (i = 0; i < freed; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, size, 0, 0, &pc));
		ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
	}
	for (i = 0; i < evictable; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, size, 0,
					      MMSB_PAGE_EVICTABLE, &pc));
		self->ids[i] = pc.id;
	}
	/* One page per run: about 96 runs, each ageing the 4. */
	ASSERT_EQ(0, WAIT_STATS(self->fd, st, !st.gc_pending, 60000))
		TH_LOG("%llu pages still pending",
		       (unsigned long long)st.gc_pending);
	EXPECT_EQ(0, st.gc_evicted);
	EXPECT_EQ(evictable, st.pages);
	EXPECT_EQ(evictable * (128 << 10), st.page_bytes);
	for (i = 0; i < evictable; i++)
		EXPECT_EQ(0, mmsb_page_info(self->fd, self->ids[i], &info))
			TH_LOG("page %u", i);
}

TEST_HARNESS_MAIN
