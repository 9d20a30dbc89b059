// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_tick: the tick's idle and kick protocol (kmod/tick.c)
 * on a bus without a device (bus_test.h), its orchestrator kthread and
 * hrtimer running for real.
 *
 * - tick_us = 0: a queued delta waits until a kick; the kick runs one
 *   tick, after which the orchestrator sleeps again and no tick runs;
 * - tick_us > 0: the timer is stopped while nothing is queued (idle), a
 *   push restarts it, its tick applies the delta without any kick, and
 *   once the queue is empty the timer stops again;
 * - mmsb_tick_flush() returns after a tick that took what was queued
 *   before it, and at once (after a tick) when nothing is;
 * - a second kthread pushing deltas as the orchestrator goes idle loses
 *   none: every one is applied by timer ticks alone.
 *
 * Each case waits with a bound (TT_WAIT); a protocol that loses a
 * wake-up fails the case instead of hanging it.
 */
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/prandom.h>
#include <linux/sched.h>

#include "bus_test.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define TT_PG		64
#define TT_WAIT_MS	10000

/* Poll @cond about every millisecond for up to @ms; its last value. */
#define TT_WAIT(cond, ms) ({						\
	unsigned long __end = jiffies + msecs_to_jiffies(ms);		\
	bool __ok;							\
									\
	while (!(__ok = (cond)) && time_before(jiffies, __end))	\
		usleep_range(1000, 2000);				\
	__ok;								\
})

static void tt_exit(struct kunit *test)
{
	tb_stop(test);
}

/* The timer is stopped for idleness, and not running. */
static bool tt_timer_idle(struct tb *tb)
{
	return READ_ONCE(tb->tick.idle) && !hrtimer_active(&tb->tick.timer);
}

/* The orchestrator sleeps for a kick (wait_event_idle()). */
static bool tt_sleeping(struct tb *tb)
{
	return READ_ONCE(tb->tick.task->__state) == TASK_IDLE &&
	       !READ_ONCE(tb->tick.kick);
}

static u64 tt_ticks(struct tb *tb)
{
	struct mmsb_tick_metrics last;
	struct mmsb_tick_totals tot;

	tb_stats(tb, &last, &tot);
	return tot.ticks;
}

static u64 tt_epoch(struct mmsb_page *page)
{
	return READ_ONCE(page->epoch);
}

/*
 * tick_us = 0.  A delta is queued: 20 ms later it is still queued and
 * no tick ran.  A kick: one tick applies it, then the orchestrator
 * sleeps again with no kick pending, and 20 ms later still no other
 * tick ran.
 */
static void mmsb_tick_test_on_demand(struct kunit *test)
{
	struct tb *tb = tb_start(test, 0, 256);
	struct mmsb_page *page = tb_page(test, tb, TT_PG);

	KUNIT_EXPECT_TRUE(test, TT_WAIT(tt_sleeping(tb), TT_WAIT_MS));
	tb_write(test, tb, page, 0, "on demand", 9);
	msleep(20);
	KUNIT_EXPECT_EQ(test, tt_epoch(page), 0);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&tb->tick.queue), 1);
	KUNIT_EXPECT_EQ(test, tt_ticks(tb), 0);
	KUNIT_EXPECT_FALSE(test, hrtimer_active(&tb->tick.timer));

	mmsb_tick_kick(&tb->tick);
	KUNIT_ASSERT_TRUE_MSG(test, TT_WAIT(tt_epoch(page) == 1, TT_WAIT_MS),
			      "the kick ran no tick");
	KUNIT_EXPECT_MEMEQ(test, page->data, "on demand", 9);
	KUNIT_EXPECT_TRUE(test, TT_WAIT(tt_ticks(tb) == 1, TT_WAIT_MS));
	KUNIT_EXPECT_TRUE(test, TT_WAIT(tt_sleeping(tb), TT_WAIT_MS));
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&tb->tick.queue), 0);
	msleep(20);
	KUNIT_EXPECT_EQ(test, tt_ticks(tb), 1);
	KUNIT_EXPECT_TRUE(test, tt_sleeping(tb));
	KUNIT_EXPECT_FALSE(test, hrtimer_active(&tb->tick.timer));
}

/*
 * tick_us = 100000 (long enough to look at the timer before it
 * fires).  A new tick is idle: timer stopped.  A push restarts the
 * timer at once; its tick applies the delta without a kick or a flush,
 * and once the queue is empty the timer stops again.  A second push
 * while idle does the same.
 */
static void mmsb_tick_test_timer_restart(struct kunit *test)
{
	struct tb *tb = tb_start(test, 100000, 256);
	struct mmsb_page *page = tb_page(test, tb, TT_PG);
	int round;

	KUNIT_EXPECT_TRUE(test, tt_timer_idle(tb));
	for (round = 1; round <= 2; round++) {
		tb_write(test, tb, page, 0, &round, sizeof(round));
		/* The push itself restarted the timer. */
		KUNIT_EXPECT_FALSE_MSG(test, READ_ONCE(tb->tick.idle),
				       "round %d", round);
		KUNIT_EXPECT_TRUE_MSG(test, hrtimer_active(&tb->tick.timer),
				      "round %d", round);
		KUNIT_ASSERT_TRUE_MSG(test,
				      TT_WAIT(tt_epoch(page) == round,
					      TT_WAIT_MS),
				      "round %d: no timer tick applied the delta",
				      round);
		KUNIT_EXPECT_EQ(test, *(int *)page->data, round);
		KUNIT_EXPECT_TRUE_MSG(test,
				      TT_WAIT(tt_timer_idle(tb), TT_WAIT_MS),
				      "round %d: the timer kept running", round);
		KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&tb->tick.queue), 0);
		KUNIT_EXPECT_EQ(test, tt_ticks(tb), round);
	}
	/* Idle means idle: the timer stays stopped. */
	msleep(20);
	KUNIT_EXPECT_TRUE(test, tt_timer_idle(tb));
}

/*
 * tick_us = 0, so only the flush runs ticks.  A flush with nothing
 * queued returns.  Three deltas to two pages, then a flush: when it
 * returns, one tick applied all three and the flush's request is
 * served.
 */
static void mmsb_tick_test_flush(struct kunit *test)
{
	struct tb *tb = tb_start(test, 0, 256);
	struct mmsb_page *a = tb_page(test, tb, TT_PG);
	struct mmsb_page *b = tb_page(test, tb, TT_PG);
	struct mmsb_tick_metrics last;
	struct mmsb_tick_totals tot;

	KUNIT_EXPECT_EQ(test, mmsb_tick_flush(&tb->tick), 0);
	KUNIT_EXPECT_EQ(test, tt_ticks(tb), 0);

	tb_write(test, tb, a, 0, "one", 3);
	tb_write(test, tb, b, 8, "two", 3);
	tb_write(test, tb, a, 2, "three", 5);
	KUNIT_EXPECT_EQ(test, mmsb_tick_flush(&tb->tick), 0);
	/* Nothing waited for: the flush returned after its tick. */
	KUNIT_EXPECT_EQ(test, tt_epoch(a), 1);
	KUNIT_EXPECT_EQ(test, tt_epoch(b), 1);
	KUNIT_EXPECT_MEMEQ(test, a->data, "onthree", 7);
	KUNIT_EXPECT_MEMEQ(test, b->data + 8, "two", 3);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&tb->tick.queue), 0);
	/* Pairs with the smp_store_release() of @completed in the tick. */
	KUNIT_EXPECT_GE(test, smp_load_acquire(&tb->tick.completed),
			(u64)atomic64_read(&tb->tick.requested));
	tb_stats(tb, &last, &tot);
	KUNIT_EXPECT_EQ(test, tot.ticks, 1);
	KUNIT_EXPECT_EQ(test, tot.processed, 3);
	KUNIT_EXPECT_EQ(test, last.pages_changed, 2);
}

#define TT_RACE_N	512
#define TT_RACE_SLOTS	(TT_PG / sizeof(u32))

struct tt_pusher {
	struct tb *tb;
	struct mmsb_page *page;
	struct mmsb_chunk **c;
	u64 *id;
	unsigned int n;
	unsigned int idle_seen;
	unsigned int no_room;
	unsigned int lost;
	struct completion done;
};

/*
 * One delta a round: push it, then sleep on the page until a tick
 * applied it.  The engine wakes us from inside that tick, so the next
 * push (at once, or after a few microseconds) lands while the tick is
 * still ending and deciding whether to go idle: the race.  A delta that
 * no tick applies within 2 s is lost; a kick recovers it, so that the
 * rounds go on and the count says how many were lost.
 */
static int tt_pusher_fn(void *arg)
{
	struct tt_pusher *p = arg;
	struct mmsb_page *page = p->page;
	struct rnd_state rs;
	unsigned int i;

	prandom_seed_state(&rs, 14);
	for (i = 0; i < p->n; i++) {
		u32 r = prandom_u32_state(&rs);

		if (!(r & 3))
			udelay(r % 64);
		if (READ_ONCE(p->tb->tick.idle))
			p->idle_seen++;
		if (!tb_push(p->tb, p->c[i])) {
			mmsb_chunk_retire(&p->tb->ctx, p->c[i]);
			p->no_room++;
			continue;
		}
		if (wait_event_timeout(page->waitq,
				       READ_ONCE(page->last_delta_id) >= p->id[i],
				       2 * HZ))
			continue;
		p->lost++;
		mmsb_tick_kick(&p->tb->tick);
		wait_event_timeout(page->waitq,
				   READ_ONCE(page->last_delta_id) >= p->id[i],
				   2 * HZ);
	}
	complete(&p->done);
	return 0;
}

/*
 * tick_us = 50: a second kthread pushes 512 deltas, each writing its
 * number into one of 16 slots of a page, one a round, each as the tick
 * that applied the previous one ends (tt_pusher_fn()); nobody kicks or
 * flushes.  No delta is lost: timer ticks apply every one within 2 s,
 * the totals count 512, each slot holds the last number written to it,
 * the queue is empty and the timer stops; and the pusher met the tick
 * idle, so pushes did race its going idle.
 */
static void mmsb_tick_test_push_races_idle(struct kunit *test)
{
	struct tb *tb = tb_start(test, 50, 1024);
	struct mmsb_page *page = tb_page(test, tb, TT_PG);
	struct mmsb_tick_metrics last;
	struct mmsb_tick_totals tot;
	struct task_struct *task;
	struct tt_pusher *p;
	u32 slot[TT_RACE_SLOTS];
	unsigned int i;

	p = kunit_kzalloc(test, sizeof(*p), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p);
	p->c = kunit_kcalloc(test, TT_RACE_N, sizeof(*p->c), GFP_KERNEL);
	p->id = kunit_kcalloc(test, TT_RACE_N, sizeof(*p->id), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p->c);
	KUNIT_ASSERT_NOT_NULL(test, p->id);
	p->tb = tb;
	p->page = page;
	init_completion(&p->done);
	for (i = 0; i < TT_RACE_N; i++) {
		u32 v = i;

		p->c[i] = tb_build(test, tb, page, (i % TT_RACE_SLOTS) * sizeof(v),
				   &v, sizeof(v), &p->id[i]);
		p->n++;
	}

	task = kthread_run(tt_pusher_fn, p, "mmsb-kunit-push");
	if (IS_ERR(task)) {
		for (i = 0; i < TT_RACE_N; i++)
			mmsb_chunk_retire(&tb->ctx, p->c[i]);
		KUNIT_FAIL_AND_ABORT(test, "kthread_run(): %ld", PTR_ERR(task));
	}
	/*
	 * Once it ran (a kthread stopped before it started never runs),
	 * kthread_stop() waits for its end; it ignores the stop request.
	 */
	get_task_struct(task);
	wait_for_completion(&p->done);
	kthread_stop(task);
	put_task_struct(task);

	KUNIT_EXPECT_EQ(test, p->no_room, 0);
	KUNIT_EXPECT_EQ_MSG(test, p->lost, 0,
			    "%u of %u deltas waited for a kick", p->lost, p->n);
	KUNIT_EXPECT_EQ(test, READ_ONCE(page->last_delta_id), p->id[p->n - 1]);
	KUNIT_EXPECT_TRUE(test, TT_WAIT(tt_timer_idle(tb), TT_WAIT_MS));
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&tb->tick.queue), 0);
	tb_stats(tb, &last, &tot);
	KUNIT_EXPECT_EQ(test, tot.processed, TT_RACE_N);
	tb_read(page, 0, slot, sizeof(slot));
	for (i = 0; i < TT_RACE_SLOTS; i++)
		KUNIT_EXPECT_EQ_MSG(test, slot[i],
				    TT_RACE_N - TT_RACE_SLOTS + i, "slot %u", i);
	KUNIT_EXPECT_GT(test, p->idle_seen, 0);
	kunit_info(test, "%llu ticks, the pusher met the tick idle %u times\n",
		   tot.ticks, p->idle_seen);
}

static struct kunit_case mmsb_tick_cases[] = {
	KUNIT_CASE(mmsb_tick_test_on_demand),
	KUNIT_CASE(mmsb_tick_test_timer_restart),
	KUNIT_CASE(mmsb_tick_test_flush),
	KUNIT_CASE_SLOW(mmsb_tick_test_push_races_idle),
	{}
};

static struct kunit_suite mmsb_tick_suite = {
	.name = "mmsb_tick",
	.exit = tt_exit,
	.test_cases = mmsb_tick_cases,
};

kunit_test_suite(mmsb_tick_suite);
