// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the mmsb propagation queue (queue.c): the has-work
 * hint the tick relies on, and producers that wait for room or give up.
 * Items are small integers disguised as pointers.
 */

#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/wait.h>
#include <kunit/test.h>

#include "queue.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define V(n)	((void *)(unsigned long)(n))

/* drain_batch: 0 takes nothing; has_work follows the contents. */
static void mmsb_queue_test_drain_has_work(struct kunit *test)
{
	void *batch[] = { V(7), V(8) };
	struct mmsb_queue q;
	void *out[8];
	unsigned long i;

	KUNIT_ASSERT_EQ(test, mmsb_queue_init(&q, 8), 0);
	KUNIT_EXPECT_FALSE(test, mmsb_queue_has_work(&q));
	for (i = 1; i <= 3; i++)
		KUNIT_EXPECT_EQ(test, mmsb_queue_push(&q, V(i), true), 0);
	KUNIT_EXPECT_TRUE(test, mmsb_queue_has_work(&q));
	/* [1 2 3] drain 0 -> nothing, still work */
	KUNIT_EXPECT_EQ(test, mmsb_queue_drain_batch(&q, out, 0), 0U);
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 3UL);
	KUNIT_EXPECT_TRUE(test, mmsb_queue_has_work(&q));
	/* drain 2 -> {1 2}, [3] left: still work */
	KUNIT_EXPECT_EQ(test, mmsb_queue_drain_batch(&q, out, 2), 2U);
	KUNIT_EXPECT_PTR_EQ(test, out[0], V(1));
	KUNIT_EXPECT_PTR_EQ(test, out[1], V(2));
	KUNIT_EXPECT_TRUE(test, mmsb_queue_has_work(&q));
	/* drain 8 -> {3}, found the end: no more work */
	KUNIT_EXPECT_EQ(test, mmsb_queue_drain_batch(&q, out, 8), 1U);
	KUNIT_EXPECT_PTR_EQ(test, out[0], V(3));
	KUNIT_EXPECT_FALSE(test, mmsb_queue_has_work(&q));
	/* push_batch raises it again; pop clears it when it finds none */
	KUNIT_EXPECT_EQ(test, mmsb_queue_push_batch(&q, batch, 2), 2U);
	KUNIT_EXPECT_TRUE(test, mmsb_queue_has_work(&q));
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(7));
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(8));
	KUNIT_EXPECT_TRUE(test, mmsb_queue_has_work(&q));
	KUNIT_EXPECT_NULL(test, mmsb_queue_pop(&q));
	KUNIT_EXPECT_FALSE(test, mmsb_queue_has_work(&q));
	KUNIT_EXPECT_EQ(test, mmsb_queue_push(&q, NULL, true), -EINVAL);
	mmsb_queue_destroy(&q, NULL);
}

/*
 * A drain that takes exactly what is queued leaves the hint set;
 * recheck clears it, and never while an item is queued.
 */
static void mmsb_queue_test_recheck(struct kunit *test)
{
	struct mmsb_queue q;
	void *out[2];

	KUNIT_ASSERT_EQ(test, mmsb_queue_init(&q, 8), 0);
	KUNIT_EXPECT_FALSE(test, mmsb_queue_recheck(&q));
	KUNIT_EXPECT_EQ(test, mmsb_queue_push(&q, V(1), true), 0);
	KUNIT_EXPECT_EQ(test, mmsb_queue_push(&q, V(2), true), 0);
	KUNIT_EXPECT_TRUE(test, mmsb_queue_recheck(&q));
	/* [1 2] drain 2 -> {1 2}: the drain did not see the end */
	KUNIT_EXPECT_EQ(test, mmsb_queue_drain_batch(&q, out, 2), 2U);
	KUNIT_EXPECT_TRUE(test, mmsb_queue_has_work(&q));
	KUNIT_EXPECT_FALSE(test, mmsb_queue_recheck(&q));
	KUNIT_EXPECT_FALSE(test, mmsb_queue_has_work(&q));
	/* [3]: set, and recheck keeps it */
	KUNIT_EXPECT_EQ(test, mmsb_queue_push(&q, V(3), true), 0);
	KUNIT_EXPECT_TRUE(test, mmsb_queue_recheck(&q));
	KUNIT_EXPECT_TRUE(test, mmsb_queue_has_work(&q));
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(3));
	mmsb_queue_destroy(&q, NULL);
}

/* A 2-slot queue holding [1 2]: a non-blocking push of 3 gets -EAGAIN. */
static void queue_setup_full(struct kunit *test, struct mmsb_queue *q)
{
	KUNIT_ASSERT_EQ(test, mmsb_queue_init(q, 2), 0);
	KUNIT_EXPECT_EQ(test, mmsb_queue_push(q, V(1), true), 0);
	KUNIT_EXPECT_EQ(test, mmsb_queue_push(q, V(2), true), 0);
	KUNIT_EXPECT_EQ(test, mmsb_queue_push(q, V(3), true), -EAGAIN);
}

/* A full queue refuses a non-blocking push, and keeps what it had. */
static void mmsb_queue_test_push_nonblock(struct kunit *test)
{
	struct mmsb_queue q;

	queue_setup_full(test, &q);
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 2UL);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(1));
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(2));
	KUNIT_EXPECT_NULL(test, mmsb_queue_pop(&q));
	mmsb_queue_destroy(&q, NULL);
}

/* A kthread doing one blocking push, so the test can watch it wait. */
struct pusher {
	struct mmsb_queue *q;
	int ret;
	struct completion done;
	struct task_struct *task;
};

static int pusher_fn(void *data)
{
	struct pusher *p = data;

	allow_signal(SIGKILL);
	p->ret = mmsb_queue_push(p->q, V(3), false);
	/* _all: the test may wait for it more than once. */
	complete_all(&p->done);
	return 0;
}

/* Start a pusher of 3 on a full queue; wait until it sleeps there. */
static void pusher_start(struct kunit *test, struct pusher *p,
			 struct mmsb_queue *q)
{
	unsigned long deadline = jiffies + 10 * HZ;

	p->q = q;
	p->ret = 1;
	init_completion(&p->done);
	p->task = kthread_run(pusher_fn, p, "mmsb_pusher");
	KUNIT_ASSERT_FALSE(test, IS_ERR(p->task));
	get_task_struct(p->task);
	while (!wq_has_sleeper(&q->space_wq) && !completion_done(&p->done) &&
	       time_before(jiffies, deadline))
		schedule_timeout_uninterruptible(1);
	KUNIT_EXPECT_TRUE_MSG(test, wq_has_sleeper(&q->space_wq) &&
			      !completion_done(&p->done),
			      "pusher did not wait on a full queue");
}

/* The pusher must finish now (@why woke it); then reap it. */
static void pusher_stop(struct kunit *test, struct pusher *p,
			const char *why)
{
	if (!wait_for_completion_timeout(&p->done, 10 * HZ)) {
		KUNIT_FAIL(test, "pusher not woken by %s", why);
		/* Give it room so it can leave. */
		mmsb_queue_pop(p->q);
		wait_for_completion(&p->done);
	}
	kthread_stop(p->task);
	put_task_struct(p->task);
}

/* A blocked push sleeps until a pop frees a slot, then goes in. */
static void mmsb_queue_test_push_wakes_after_pop(struct kunit *test)
{
	struct mmsb_queue q;
	struct pusher p;

	queue_setup_full(test, &q);
	pusher_start(test, &p, &q);
	/* [1 2] + pusher(3) asleep; pop 1 -> pusher wakes -> [2 3] */
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(1));
	pusher_stop(test, &p, "pop");
	KUNIT_EXPECT_EQ(test, p.ret, 0);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(2));
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(3));
	KUNIT_EXPECT_NULL(test, mmsb_queue_pop(&q));
	mmsb_queue_destroy(&q, NULL);
}

/* A signal ends a blocked push with -EINTR; the item is not queued. */
static void mmsb_queue_test_push_eintr(struct kunit *test)
{
	struct mmsb_queue q;
	struct pusher p;

	queue_setup_full(test, &q);
	pusher_start(test, &p, &q);
	send_sig(SIGKILL, p.task, 1);
	pusher_stop(test, &p, "signal");
	KUNIT_EXPECT_EQ(test, p.ret, -EINTR);
	KUNIT_EXPECT_EQ(test, mmsb_queue_len(&q), 2UL);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(1));
	KUNIT_EXPECT_PTR_EQ(test, mmsb_queue_pop(&q), V(2));
	mmsb_queue_destroy(&q, NULL);
}

static struct kunit_case mmsb_queue_test_cases[] = {
	KUNIT_CASE(mmsb_queue_test_drain_has_work),
	KUNIT_CASE(mmsb_queue_test_recheck),
	KUNIT_CASE(mmsb_queue_test_push_nonblock),
	KUNIT_CASE(mmsb_queue_test_push_wakes_after_pop),
	KUNIT_CASE(mmsb_queue_test_push_eintr),
	{}
};

static struct kunit_suite mmsb_queue_test_suite = {
	.name = "mmsb_queue",
	.test_cases = mmsb_queue_test_cases,
};

kunit_test_suites(&mmsb_queue_test_suite);
