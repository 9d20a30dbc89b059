// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_monitor: the memory monitor's decisions (kmod/
 * monitor.c): the threshold, cold ageing, the verdict table, and runs
 * over a real page table with deferred reclaim: the batch bound, the
 * reclaim of pages whose last reference went, and that non-evictable
 * pages survive any pressure, that a run stops at its deadline, and the
 * bookkeeping bytes it reports.
 *
 * Each case gets a table of LIMIT_FRAMES frames (pages of MAX_FRAMES at
 * most) with a reclaim hook that only counts its calls (no tick here:
 * the cases run the monitor themselves), and a monitor with threshold
 * 50%, batch 4, cold_age 3.
 */
#include <kunit/test.h>
#include <linux/cred.h>
#include <linux/ktime.h>
#include <linux/slab.h>

#include "monitor.h"
#include "page.h"

#define LIMIT_FRAMES	64
#define MAX_FRAMES	8
#define BATCH		4
#define COLD_AGE	3

struct monitor_ctx {
	struct mmsb_page_table t;
	struct mmsb_monitor mon;
	atomic64_t delta_bytes;
	int notified;
	int evicted_calls;
	u64 last_evicted;
	u64 spin_until;		/* evicted hook: busy until ktime_get_ns() */
};

static void count_notify(void *arg)
{
	struct monitor_ctx *c = arg;

	c->notified++;
}

static void count_evicted(void *arg, struct mmsb_page *page)
{
	struct monitor_ctx *c = arg;

	c->evicted_calls++;
	c->last_evicted = page->id;
	/* A slow eviction: the run's clock passes its deadline here. */
	while (c->spin_until && ktime_get_ns() < c->spin_until)
		cpu_relax();
}

static int mmsb_monitor_test_init(struct kunit *test)
{
	struct monitor_ctx *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	struct mmsb_monitor_config cfg = {
		.limit = LIMIT_FRAMES * PAGE_SIZE,
		.threshold = 50,
		.batch_pages = BATCH,
		.cold_age = COLD_AGE,
		.scan_pages = 256,
	};

	KUNIT_ASSERT_NOT_NULL(test, c);
	KUNIT_ASSERT_EQ(test, 0, mmsb_page_table_init(&c->t, cfg.limit,
						      MAX_FRAMES * PAGE_SIZE));
	mmsb_page_table_set_reclaim(&c->t, count_notify, c);
	/* Only GC frees pages here: every call is an eviction. */
	mmsb_page_table_set_freed(&c->t, count_evicted, c);
	cfg.delta_bytes = &c->delta_bytes;
	mmsb_monitor_init(&c->mon, &c->t, &cfg);
	test->priv = c;
	return 0;
}

static void mmsb_monitor_test_exit(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;

	/* Drains the reclaim list; WARNs on a leaked reference. */
	mmsb_page_table_destroy(&c->t);
}

/* A one-frame page, the caller's reference dropped (the table's stays). */
static struct mmsb_page *create(struct kunit *test, u32 flags)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_page *p;

	p = mmsb_page_create(&c->t, 1, 0, flags, current_cred());
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(p), "mmsb_page_create(): %ld", PTR_ERR(p));
	mmsb_page_put(p);
	return p;
}

struct over_case {
	const char *name;
	u64 usage, limit;
	unsigned int threshold;
	bool over;
};

static const struct over_case over_cases[] = {
	{ "empty", 0, 1000, 90, false },
	{ "below", 899, 1000, 90, false },
	{ "at_threshold_is_not_over", 900, 1000, 90, false },
	{ "one_byte_over", 901, 1000, 90, true },
	{ "no_rounding", 9001, 10000, 90, true },
	{ "threshold_100_at_limit", 1000, 1000, 100, false },
	{ "past_limit", 1001, 1000, 100, true },
	{ "threshold_1", 11, 1000, 1, true },
	{ "largest_limit", (1ULL << 40) - 1, 1ULL << 40, 100, false },
};

static void over_case_desc(const struct over_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(over, over_cases, over_case_desc);

/* Usage strictly above threshold% of the limit, computed without rounding. */
static void mmsb_monitor_test_threshold(struct kunit *test)
{
	const struct over_case *c = test->param_value;

	KUNIT_EXPECT_EQ_MSG(test, mmsb_monitor_over(c->usage, c->limit,
						    c->threshold), c->over,
			    "usage %llu limit %llu threshold %u", c->usage,
			    c->limit, c->threshold);
}

/*
 * run:    1   2   3   4   5   6   7   8
 * epoch:  0   0   0   0   1   1   1   1
 * age:    0   1   2   3   0   1   2   3     (first look and a move: 0)
 */
static void mmsb_monitor_test_ageing(struct kunit *test)
{
	static const u64 epochs[] = { 0, 0, 0, 0, 1, 1, 1, 1 };
	static const u64 ages[] = { 0, 1, 2, 3, 0, 1, 2, 3 };
	u64 seen = 0, stamp = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(epochs); i++)
		KUNIT_EXPECT_EQ_MSG(test, ages[i],
				    mmsb_monitor_age(&seen, &stamp, epochs[i],
						     i + 1), "run %d", i + 1);
}

/* Only live + evictable + over threshold + age >= cold_age is evicted. */
static void mmsb_monitor_test_verdicts(struct kunit *test)
{
	const u32 E = MMSB_PAGE_EVICTABLE;

	KUNIT_EXPECT_EQ(test, MMSB_GC_EVICT, mmsb_monitor_decide(E, true, 3, 3, true));
	KUNIT_EXPECT_EQ(test, MMSB_GC_EVICT, mmsb_monitor_decide(E, true, 99, 3, true));
	KUNIT_EXPECT_EQ(test, MMSB_GC_KEEP, mmsb_monitor_decide(E, true, 2, 3, true));
	KUNIT_EXPECT_EQ(test, MMSB_GC_KEEP, mmsb_monitor_decide(E, true, 99, 3, false));
	KUNIT_EXPECT_EQ(test, MMSB_GC_KEEP, mmsb_monitor_decide(E, false, 99, 3, true));
	/* Not evictable: kept whatever the age and pressure. */
	KUNIT_EXPECT_EQ(test, MMSB_GC_KEEP, mmsb_monitor_decide(0, true, U64_MAX, 1, true));
}

/*
 * 10 pages freed with no reference left: each run frees BATCH (4) of
 * them, oldest first; the hook was called once (list empty -> not).
 *   run:      1  2  3
 *   pending: 10->6->2->0
 */
static void mmsb_monitor_test_batch_bound(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_monitor_run m = { };
	u64 ids[10];
	int i;

	for (i = 0; i < 10; i++)
		ids[i] = create(test, 0)->id;
	for (i = 0; i < 10; i++)
		KUNIT_ASSERT_EQ(test, 0, mmsb_page_free(&c->t, ids[i],
							current_cred(), true));
	KUNIT_EXPECT_EQ(test, c->notified, 1);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 10);
	/* Freed, not reclaimed: the bytes are still held. */
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t), 10 * PAGE_SIZE);
	KUNIT_EXPECT_TRUE(test, mmsb_monitor_has_work(&c->mon));

	mmsb_monitor_run(&c->mon, 0, &m);
	KUNIT_EXPECT_EQ(test, m.invoked, 1);
	KUNIT_EXPECT_EQ(test, m.reclaimed_pages, BATCH);
	KUNIT_EXPECT_EQ(test, m.reclaimed_bytes, BATCH * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t), 6 * PAGE_SIZE);
	mmsb_monitor_run(&c->mon, 0, &m);
	mmsb_monitor_run(&c->mon, 0, &m);
	KUNIT_EXPECT_EQ(test, m.reclaimed_pages, 2);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t), 0);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_structs(&c->t), 0);
	KUNIT_EXPECT_FALSE(test, mmsb_monitor_has_work(&c->mon));
	mmsb_monitor_run(&c->mon, 0, &m);
	KUNIT_EXPECT_EQ(test, m.invoked, 0);
}

/* A freed page still referenced (mapped) is not reclaimed until put. */
static void mmsb_monitor_test_held_page_stays(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_page *p = create(test, 0);

	mmsb_page_hold(p);		/* as a mapping would */
	KUNIT_ASSERT_EQ(test, 0, mmsb_page_free(&c->t, p->id, current_cred(),
						true));
	mmsb_monitor_run(&c->mon, 0, NULL);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t), PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 0);
	mmsb_page_put(p);		/* unmap */
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 1);
	mmsb_monitor_run(&c->mon, 0, NULL);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t), 0);
}

/*
 * A create that hits the limit frees what waits for GC and succeeds:
 * one step of MMSB_PAGE_RECLAIM_DIRECT pages, oldest first, makes room.
 *   pending: 64 -> 32,  held: 64 frames -> 32 + the new one
 */
static void mmsb_monitor_test_direct_reclaim(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_page *p;
	int i;

	for (i = 0; i < LIMIT_FRAMES; i++)
		mmsb_page_free(&c->t, create(test, 0)->id, current_cred(), true);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), LIMIT_FRAMES);
	p = mmsb_page_create(&c->t, 1, 0, 0, current_cred());
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(p), "mmsb_page_create(): %ld", PTR_ERR(p));
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t),
			LIMIT_FRAMES - MMSB_PAGE_RECLAIM_DIRECT);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t),
			(LIMIT_FRAMES - MMSB_PAGE_RECLAIM_DIRECT + 1) * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_structs(&c->t),
			LIMIT_FRAMES - MMSB_PAGE_RECLAIM_DIRECT + 1);
	mmsb_page_put(p);
}

/*
 * 40 of 64 frames used (62% > 50%): 20 evictable, 20 not.  Runs 1-3
 * only age the pages; from run 4 (age 3) the evictable ones go, at
 * most BATCH per run, until usage is at 50% (32 frames): 8 evicted.
 * The non-evictable ones are never touched.
 */
static void mmsb_monitor_test_evicts_cold_only(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_monitor_run m = { };
	struct mmsb_page *keep[20];
	int i, run, evicted = 0;

	for (i = 0; i < 20; i++) {
		keep[i] = create(test, 0);
		create(test, MMSB_PAGE_EVICTABLE);
	}
	for (run = 1; run <= 3; run++) {
		mmsb_monitor_run(&c->mon, 0, &m);
		KUNIT_EXPECT_EQ_MSG(test, mmsb_page_table_pages(&c->t), 40,
				    "run %d evicted a page too young", run);
	}
	for (run = 4; run <= 10; run++) {
		u64 before = mmsb_page_table_pages(&c->t);

		mmsb_monitor_run(&c->mon, 0, &m);
		KUNIT_EXPECT_LE(test, before - mmsb_page_table_pages(&c->t),
				BATCH);
		evicted += before - mmsb_page_table_pages(&c->t);
	}
	KUNIT_EXPECT_EQ(test, evicted, 8);
	KUNIT_EXPECT_EQ(test, c->evicted_calls, 8);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t), 32 * PAGE_SIZE);
	for (i = 0; i < 20; i++) {
		KUNIT_EXPECT_TRUE(test, READ_ONCE(keep[i]->live));
		KUNIT_EXPECT_TRUE(test, keep[i]->hdr->flags & MMSB_HDR_LIVE);
	}
	KUNIT_EXPECT_FALSE(test, mmsb_monitor_has_work(&c->mon));
}

/* Over threshold with only non-evictable pages: nothing ever goes. */
static void mmsb_monitor_test_never_non_evictable(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	int i;

	for (i = 0; i < LIMIT_FRAMES; i++)
		create(test, 0);
	for (i = 0; i < 2 * COLD_AGE + 2; i++)
		mmsb_monitor_run(&c->mon, 0, NULL);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_pages(&c->t), LIMIT_FRAMES);
	KUNIT_EXPECT_EQ(test, c->evicted_calls, 0);
	/* Queued deltas count against the threshold too. */
	atomic64_set(&c->delta_bytes, 100);
	KUNIT_EXPECT_EQ(test, mmsb_monitor_usage(&c->mon),
			LIMIT_FRAMES * PAGE_SIZE + 100);
	atomic64_set(&c->delta_bytes, 0);
}

/* A page whose epoch moves stays young and is never evicted. */
static void mmsb_monitor_test_changing_page_stays(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_page *hot;
	int i;

	for (i = 0; i < 40; i++)
		create(test, 0);
	hot = create(test, MMSB_PAGE_EVICTABLE);
	for (i = 1; i <= 3 * COLD_AGE; i++) {
		/* What a tick's apply does, without the data. */
		mmsb_page_write_begin(hot);
		mmsb_page_write_end(hot, i, 0);
		mmsb_monitor_run(&c->mon, 0, NULL);
	}
	KUNIT_EXPECT_TRUE(test, READ_ONCE(hot->live));
	KUNIT_EXPECT_EQ(test, c->evicted_calls, 0);
}

/* A run that starts past its deadline does nothing, not even ageing. */
static void mmsb_monitor_test_no_budget(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_monitor_run m = { };

	mmsb_page_free(&c->t, create(test, 0)->id, current_cred(), true);
	KUNIT_EXPECT_EQ(test, mmsb_monitor_run(&c->mon, 1, &m), 0);
	KUNIT_EXPECT_EQ(test, m.invoked, 0);
	KUNIT_EXPECT_EQ(test, c->mon.clock, 0);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 1);
}

/*
 * 40 cold evictable pages (40 of 64 frames, over 50%), batch 4, a run
 * with a deadline that passes while it evicts the first page:
 *
 *   reclaim: nothing freed yet
 *   scan:    evict p0 -> deadline passed -> stop    (not p1..p3)
 *
 * A run that ignored its deadline would evict BATCH pages.  The next
 * run, without a deadline, frees p0 first, then evicts BATCH more
 * (39 frames, still over), which wait for the run after.
 */
static void mmsb_monitor_test_deadline_stops_run(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	struct mmsb_monitor_run m = { };
	u64 deadline;
	int i;

	for (i = 0; i < 40; i++)
		create(test, MMSB_PAGE_EVICTABLE);
	for (i = 1; i < COLD_AGE + 1; i++)
		mmsb_monitor_run(&c->mon, 0, NULL);
	KUNIT_ASSERT_EQ(test, c->evicted_calls, 0);

	/* Far enough ahead for the run to start before it. */
	deadline = ktime_get_ns() + 50 * NSEC_PER_MSEC;
	c->spin_until = deadline;
	mmsb_monitor_run(&c->mon, deadline, &m);
	c->spin_until = 0;
	KUNIT_EXPECT_EQ(test, m.invoked, 1);
	KUNIT_EXPECT_EQ(test, c->evicted_calls, 1);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_pages(&c->t), 39);
	KUNIT_EXPECT_EQ(test, m.reclaimed_pages, 0);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 1);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t), 40 * PAGE_SIZE);

	mmsb_monitor_run(&c->mon, 0, &m);
	KUNIT_EXPECT_EQ(test, c->evicted_calls, 1 + BATCH);
	KUNIT_EXPECT_EQ(test, m.reclaimed_pages, 1);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), BATCH);
}

/*
 * The reclaim loop with a deadline already passed frees exactly one
 * page (the promise: at least one per run), oldest first; without one,
 * up to its batch.
 *   pending: 10 -> 9 -> 5
 */
static void mmsb_monitor_test_deadline_stops_reclaim(struct kunit *test)
{
	struct monitor_ctx *c = test->priv;
	u64 ids[10], bytes = 0;
	int i;

	for (i = 0; i < 10; i++)
		ids[i] = create(test, 0)->id;
	for (i = 0; i < 10; i++)
		KUNIT_ASSERT_EQ(test, 0, mmsb_page_free(&c->t, ids[i],
							current_cred(), true));
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim(&c->t, UINT_MAX, 1, &bytes), 1);
	KUNIT_EXPECT_EQ(test, bytes, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 9);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim(&c->t, BATCH, 0, &bytes), BATCH);
	KUNIT_EXPECT_EQ(test, bytes, BATCH * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 9 - BATCH);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(&c->t),
			(9 - BATCH) * PAGE_SIZE);
}

/*
 * page_meta_bytes: per page (live, or freed and waiting for GC) the
 * fixed bookkeeping, plus 8 bytes of vmalloc's frame array per frame.
 * Pages of 1, 3 and 5 frames; the 3-frame one freed (still counted),
 * then reclaimed (gone):
 *   3 * fixed + 9 * 8  ->  3 * fixed + 9 * 8  ->  2 * fixed + 6 * 8
 * The fixed part is mmsb_monitor_page_overhead() of a one-frame page
 * less its one-pointer array (the smallest kmalloc, 8 bytes).
 */
static void mmsb_monitor_test_meta_bytes(struct kunit *test)
{
	size_t fixed = mmsb_monitor_page_overhead(PAGE_SIZE) - 8;
	struct monitor_ctx *c = test->priv;
	struct mmsb_page *p;
	u64 three;

	KUNIT_EXPECT_EQ(test, mmsb_monitor_meta_bytes(&c->mon), 0);
	p = mmsb_page_create(&c->t, 1, 0, 0, current_cred());
	KUNIT_ASSERT_FALSE(test, IS_ERR(p));
	mmsb_page_put(p);
	p = mmsb_page_create(&c->t, 3 * PAGE_SIZE - MMSB_PAGE_DATA_OFFSET, 0, 0,
			     current_cred());
	KUNIT_ASSERT_FALSE(test, IS_ERR(p));
	three = p->id;
	mmsb_page_put(p);
	p = mmsb_page_create(&c->t, 5 * PAGE_SIZE - MMSB_PAGE_DATA_OFFSET, 0, 0,
			     current_cred());
	KUNIT_ASSERT_FALSE(test, IS_ERR(p));
	mmsb_page_put(p);
	KUNIT_EXPECT_EQ(test, mmsb_monitor_meta_bytes(&c->mon), 3 * fixed + 9 * 8);
	/* The struct of a page is at least the struct itself. */
	KUNIT_EXPECT_GE(test, fixed, sizeof(struct mmsb_page));

	KUNIT_ASSERT_EQ(test, 0, mmsb_page_free(&c->t, three, current_cred(),
						true));
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 1);
	KUNIT_EXPECT_EQ(test, mmsb_monitor_meta_bytes(&c->mon), 3 * fixed + 9 * 8);
	mmsb_monitor_run(&c->mon, 0, NULL);
	KUNIT_EXPECT_EQ(test, mmsb_page_reclaim_pending(&c->t), 0);
	KUNIT_EXPECT_EQ(test, mmsb_monitor_meta_bytes(&c->mon), 2 * fixed + 6 * 8);
}

static struct kunit_case mmsb_monitor_test_cases[] = {
	KUNIT_CASE_PARAM(mmsb_monitor_test_threshold, over_gen_params),
	KUNIT_CASE(mmsb_monitor_test_ageing),
	KUNIT_CASE(mmsb_monitor_test_verdicts),
	KUNIT_CASE(mmsb_monitor_test_batch_bound),
	KUNIT_CASE(mmsb_monitor_test_held_page_stays),
	KUNIT_CASE(mmsb_monitor_test_direct_reclaim),
	KUNIT_CASE(mmsb_monitor_test_evicts_cold_only),
	KUNIT_CASE(mmsb_monitor_test_never_non_evictable),
	KUNIT_CASE(mmsb_monitor_test_changing_page_stays),
	KUNIT_CASE(mmsb_monitor_test_no_budget),
	KUNIT_CASE(mmsb_monitor_test_deadline_stops_run),
	KUNIT_CASE(mmsb_monitor_test_deadline_stops_reclaim),
	KUNIT_CASE(mmsb_monitor_test_meta_bytes),
	{}
};

static struct kunit_suite mmsb_monitor_test_suite = {
	.name = "mmsb_monitor",
	.init = mmsb_monitor_test_init,
	.exit = mmsb_monitor_test_exit,
	.test_cases = mmsb_monitor_test_cases,
};

kunit_test_suite(mmsb_monitor_test_suite);
