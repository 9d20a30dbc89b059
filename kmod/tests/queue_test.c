// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the mmsb delta queue (queue.c): reservations of room,
 * pushes that cannot fail once reserved, the has-work hint the tick
 * relies on, and the wake-up of a producer waiting for room.  Items are
 * small integers disguised as pointers.
 */

#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include <kunit/test.h>

#include "queue.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define V(n)	((void *)(unsigned long)(n))

/*
 * Room of 8 units: all or nothing unless partial.
 *   reserve 5 -> 5 | reserve 5 -> 0 (3 left) | partial 5 -> 3 | full:
 *   partial 1 -> 0 | release 5 -> reserve 4 -> 4
 */
static void mmsb_queue_test_reserve(struct kunit *test)
{
	struct mmsb_queue q;

	KUNIT_ASSERT_EQ(test, mmsb_queue_init(&q, 8), 0);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserve(&q, 5, false), 5L);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserve(&q, 5, false), 0L);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserve(&q, 5, true), 3L);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&q), 8UL);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserve(&q, 1, true), 0L);
	mmsb_queue_release(&q, 5);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&q), 3UL);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserve(&q, 4, false), 4L);
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&q), 7UL);
	mmsb_queue_destroy(&q, NULL);
}

/*
 * Items of several units each, in order; the length follows the ring:
 *   [1(3) 2(5)] take 1, take 2, take -> NULL, length 0, nothing reserved
 * (the tick's "work pending" is the ring's length: a drain that took
 * exactly what was queued must see 0, never a stale "work").
 */
static void mmsb_queue_test_push_take_len(struct kunit *test)
{
	struct mmsb_queue q;

	KUNIT_ASSERT_EQ(test, mmsb_queue_init(&q, 8), 0);
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 0UL);
	KUNIT_ASSERT_EQ(test, mmsb_queue_reserve(&q, 3, false), 3L);
	mmsb_queue_push_reserved(&q, V(1));
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 1UL);
	KUNIT_ASSERT_EQ(test, mmsb_queue_reserve(&q, 5, false), 5L);
	mmsb_queue_push_reserved(&q, V(2));
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 2UL);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_take(&q), V(1));
	mmsb_queue_release(&q, 3);
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 1UL);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_take(&q), V(2));
	mmsb_queue_release(&q, 5);
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 0UL);
	KUNIT_EXPECT_NULL(test, mmsb_queue_take(&q));
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&q), 0UL);
	mmsb_queue_destroy(&q, NULL);
}

/* A kthread waiting for two units, as the tick's producers do. */
struct waiter {
	struct mmsb_queue *q;
	struct completion done;
	struct task_struct *task;
};

static int waiter_fn(void *data)
{
	struct waiter *w = data;

	wait_event(w->q->space_wq, mmsb_queue_reserve(w->q, 2, false));
	complete(&w->done);
	return 0;
}

/*
 * Room 2, both reserved and pushed; a waiter for 2 sleeps.  Taking out
 * one unit is not room enough; releasing the second wakes it, and its
 * reservation holds the room.
 */
static void mmsb_queue_test_release_wakes(struct kunit *test)
{
	unsigned long deadline = jiffies + 10 * HZ;
	struct mmsb_queue q;
	struct waiter w;

	KUNIT_ASSERT_EQ(test, mmsb_queue_init(&q, 2), 0);
	KUNIT_ASSERT_EQ(test, mmsb_queue_reserve(&q, 2, false), 2L);
	mmsb_queue_push_reserved(&q, V(1));
	w.q = &q;
	init_completion(&w.done);
	w.task = kthread_run(waiter_fn, &w, "mmsb_waiter");
	KUNIT_ASSERT_FALSE(test, IS_ERR(w.task));
	while (!wq_has_sleeper(&q.space_wq) && time_before(jiffies, deadline))
		schedule_timeout_uninterruptible(1);
	KUNIT_EXPECT_TRUE_MSG(test, wq_has_sleeper(&q.space_wq),
			      "waiter did not sleep without room");
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_take(&q), V(1));
	mmsb_queue_release(&q, 1);
	KUNIT_EXPECT_FALSE(test, wait_for_completion_timeout(&w.done, HZ / 10));
	mmsb_queue_release(&q, 1);
	KUNIT_EXPECT_TRUE(test, wait_for_completion_timeout(&w.done, 10 * HZ));
	KUNIT_EXPECT_EQ(test, mmsb_queue_reserved(&q), 2UL);
	/*
	 * The waiter no longer touches @q once it completed, and returns
	 * on its own (no kthread_stop()).
	 */
	mmsb_queue_release(&q, 2);
	mmsb_queue_destroy(&q, NULL);
}

static struct kunit_case mmsb_queue_test_cases[] = {
	KUNIT_CASE(mmsb_queue_test_reserve),
	KUNIT_CASE(mmsb_queue_test_push_take_len),
	KUNIT_CASE(mmsb_queue_test_release_wakes),
	{}
};

static struct kunit_suite mmsb_queue_test_suite = {
	.name = "mmsb_queue",
	.test_cases = mmsb_queue_test_cases,
};

kunit_test_suites(&mmsb_queue_test_suite);
