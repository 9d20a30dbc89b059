// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the mmsb MPMC ring (ring.c).  Items are small integers
 * disguised as pointers: the ring never dereferences what it stores.
 */

#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/wait.h>
#include <kunit/test.h>

#include "ring.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define V(n)	((void *)(unsigned long)(n))

/* Push from, from + 1, .. to; each must go in. */
static void push_seq(struct kunit *test, struct mmsb_ring *r,
		     unsigned long from, unsigned long to)
{
	for (; from <= to; from++)
		KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(r, V(from)), 0);
}

/* Pop and expect from, from + 1, .. to. */
static void pop_seq(struct kunit *test, struct mmsb_ring *r,
		    unsigned long from, unsigned long to)
{
	for (; from <= to; from++)
		KUNIT_EXPECT_PTR_EQ(test, mmsb_ring_try_pop(r), V(from));
}

/* Push 1 2 3, pop them back: FIFO, len follows, then empty; no NULL. */
static void mmsb_ring_test_push_pop(struct kunit *test)
{
	struct mmsb_ring r;

	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&r, 8), 0);
	KUNIT_EXPECT_TRUE(test, mmsb_ring_is_empty(&r));
	push_seq(test, &r, 1, 3);
	/* [1 2 3 . . . . .] */
	KUNIT_EXPECT_EQ(test, mmsb_ring_len(&r), 3UL);
	KUNIT_EXPECT_FALSE(test, mmsb_ring_is_empty(&r));
	pop_seq(test, &r, 1, 2);
	KUNIT_EXPECT_EQ(test, mmsb_ring_len(&r), 1UL);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_ring_try_pop(&r), V(3));
	KUNIT_EXPECT_TRUE(test, mmsb_ring_is_empty(&r));
	KUNIT_EXPECT_NULL(test, mmsb_ring_try_pop(&r));
	/* NULL is pop's "empty", so it cannot be an item. */
	KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(&r, NULL), -EINVAL);
	KUNIT_EXPECT_TRUE(test, mmsb_ring_is_empty(&r));
	mmsb_ring_cleanup(&r, NULL);
}

/* Empty gives NULL; full refuses and leaves the item with the caller. */
static void mmsb_ring_test_full_and_empty(struct kunit *test)
{
	struct mmsb_ring r;

	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&r, 4), 0);
	KUNIT_EXPECT_NULL(test, mmsb_ring_try_pop(&r));
	push_seq(test, &r, 1, 4);
	/* [1 2 3 4] full: 5 is refused, nothing moves. */
	KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(&r, V(5)), -ENOSPC);
	KUNIT_EXPECT_EQ(test, mmsb_ring_len(&r), 4UL);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_ring_try_pop(&r), V(1));
	/* [. 2 3 4] one slot free: 5 goes in behind 4. */
	KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(&r, V(5)), 0);
	KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(&r, V(6)), -ENOSPC);
	pop_seq(test, &r, 2, 5);
	KUNIT_EXPECT_NULL(test, mmsb_ring_try_pop(&r));
	mmsb_ring_cleanup(&r, NULL);
}

/*
 * Move the ring's positions to @base, as if that many items had gone
 * through: the ring must be empty.  Lets a test cross the wrap of the
 * unsigned long positions without pushing 2^64 items.
 */
static void ring_rebase(struct mmsb_ring *r, unsigned long base)
{
	unsigned long i;

	for (i = 0; i <= r->mask; i++)
		atomic_long_set(&r->slots[(base + i) & r->mask].seq, base + i);
	atomic_long_set(&r->head, base);
	atomic_long_set(&r->tail, base);
}

/*
 * Many laps of a small ring with a varying fill level, once from 0 and
 * once from just below ULONG_MAX so the positions themselves wrap.
 */
static void mmsb_ring_test_wraparound(struct kunit *test)
{
	static const unsigned long bases[] = { 0, ULONG_MAX - 100 };
	unsigned long next_in, next_out, bad, lap, k, b;
	struct mmsb_ring r;

	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&r, 8), 0);
	for (b = 0; b < ARRAY_SIZE(bases); b++) {
		ring_rebase(&r, bases[b]);
		next_in = 1;
		next_out = 1;
		bad = 0;
		for (lap = 0; lap < 1000; lap++) {
			/* Fill 1..8 slots, empty all but one of them. */
			for (k = 0; k <= lap % 8; k++)
				bad += mmsb_ring_try_push(&r, V(next_in++)) != 0;
			while (mmsb_ring_len(&r) > 1)
				bad += mmsb_ring_try_pop(&r) != V(next_out++);
			bad += mmsb_ring_try_pop(&r) != V(next_out++);
		}
		KUNIT_EXPECT_EQ_MSG(test, bad, 0UL, "base %lx", bases[b]);
		KUNIT_EXPECT_EQ(test, next_in, next_out);
		KUNIT_EXPECT_TRUE(test, mmsb_ring_is_empty(&r));
		/* Full and empty are still recognised after the laps. */
		push_seq(test, &r, 1, 8);
		KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(&r, V(9)), -ENOSPC);
		KUNIT_EXPECT_EQ(test, mmsb_ring_len(&r), 8UL);
		pop_seq(test, &r, 1, 8);
		KUNIT_EXPECT_NULL(test, mmsb_ring_try_pop(&r));
	}
	mmsb_ring_cleanup(&r, NULL);
}

/* A batch fills what is free, in order, and stops at the first full slot. */
static void mmsb_ring_test_push_batch_stops_when_full(struct kunit *test)
{
	void *batch[] = { V(11), V(12), V(13), V(14), V(15), V(16) };
	struct mmsb_ring r;

	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&r, 8), 0);
	push_seq(test, &r, 1, 5);
	/* [1 2 3 4 5 . . .] + {11..16}: only 11 12 13 fit. */
	KUNIT_EXPECT_EQ(test, mmsb_ring_push_batch(&r, batch, 6), 3U);
	KUNIT_EXPECT_EQ(test, mmsb_ring_push_batch(&r, batch + 3, 3), 0U);
	KUNIT_EXPECT_EQ(test, mmsb_ring_push_batch(&r, batch, 0), 0U);
	KUNIT_EXPECT_EQ(test, mmsb_ring_len(&r), 8UL);
	pop_seq(test, &r, 1, 5);
	pop_seq(test, &r, 11, 13);
	KUNIT_EXPECT_NULL(test, mmsb_ring_try_pop(&r));
	/* Empty ring: a whole batch goes in. */
	KUNIT_EXPECT_EQ(test, mmsb_ring_push_batch(&r, batch, 6), 6U);
	mmsb_ring_cleanup(&r, NULL);
}

/* pop_batch hands out the oldest items first, up to max, 0 takes none. */
static void mmsb_ring_test_pop_batch_order(struct kunit *test)
{
	void *out[4] = { };
	struct mmsb_ring r;
	unsigned long i;

	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&r, 8), 0);
	push_seq(test, &r, 1, 6);
	KUNIT_EXPECT_EQ(test, mmsb_ring_pop_batch(&r, out, 0), 0U);
	KUNIT_EXPECT_EQ(test, mmsb_ring_len(&r), 6UL);
	/* [1 2 3 4 5 6] -> {1 2 3 4}, [5 6] -> {5 6}, [] -> {} */
	KUNIT_EXPECT_EQ(test, mmsb_ring_pop_batch(&r, out, 4), 4U);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], V(i + 1));
	KUNIT_EXPECT_EQ(test, mmsb_ring_pop_batch(&r, out, 4), 2U);
	KUNIT_EXPECT_PTR_EQ(test, out[0], V(5));
	KUNIT_EXPECT_PTR_EQ(test, out[1], V(6));
	KUNIT_EXPECT_EQ(test, mmsb_ring_pop_batch(&r, out, 4), 0U);
	mmsb_ring_cleanup(&r, NULL);
}

/* Requested capacity -> actual; 0 means refused with -EINVAL. */
struct capacity_case {
	unsigned long requested;
	unsigned long capacity;
};

static const struct capacity_case capacity_cases[] = {
	{ 1, 2 },
	{ 2, 2 },
	{ 3, 4 },
	{ 65, 128 },
	{ 65536, 65536 },
	{ MMSB_RING_MAX_CAPACITY - 1, MMSB_RING_MAX_CAPACITY },
	{ MMSB_RING_MAX_CAPACITY, MMSB_RING_MAX_CAPACITY },
	{ 0, 0 },
	{ MMSB_RING_MAX_CAPACITY + 1, 0 },
	{ ULONG_MAX / 2 + 2, 0 },	/* would round up to 0 */
	{ ULONG_MAX, 0 },
};

static void capacity_case_desc(const struct capacity_case *c, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%lu -> %lu", c->requested,
		 c->capacity);
}

KUNIT_ARRAY_PARAM(capacity, capacity_cases, capacity_case_desc);

/* Capacity rounds up to a power of two, all of it usable; or is refused. */
static void mmsb_ring_test_capacity(struct kunit *test)
{
	const struct capacity_case *c = test->param_value;
	struct mmsb_ring r = { };

	if (!c->capacity) {
		KUNIT_EXPECT_EQ(test, mmsb_ring_init(&r, c->requested), -EINVAL);
		KUNIT_EXPECT_NULL(test, r.slots);
		return;
	}
	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&r, c->requested), 0);
	KUNIT_EXPECT_EQ(test, mmsb_ring_capacity(&r), c->capacity);
	if (c->capacity <= 128) {
		push_seq(test, &r, 1, c->capacity);
		KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(&r, V(0xf00)), -ENOSPC);
	}
	mmsb_ring_cleanup(&r, NULL);
}

static void count_destroy(void *item)
{
	int *calls = item;

	(*calls)++;
}

/* Cleanup hands every queued item to the destructor, once. */
static void mmsb_ring_test_cleanup_destroys_items(struct kunit *test)
{
	int calls[3] = { };
	struct mmsb_ring r;
	int i;

	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&r, 4), 0);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, mmsb_ring_try_push(&r, &calls[i]), 0);
	mmsb_ring_cleanup(&r, count_destroy);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, calls[i], 1);
	KUNIT_EXPECT_NULL(test, r.slots);
}

/*
 * Concurrency: MPMC_PRODUCERS kthreads push MPMC_PER_PRODUCER tagged items
 * each through a MPMC_RING_SLOTS-slot ring to MPMC_CONSUMERS kthreads.
 * The tag is (producer << 32 | sequence + 1).  Each consumer tallies on
 * its own (no shared writes, no per-item KUnit assert):
 *  - a bitmap of the items it got (a bit already set: a duplicate);
 *  - per producer, the last sequence seen (not increasing: reordered).
 * At the end the bitmaps must be disjoint and together full: every item
 * arrived exactly once.
 *
 * Threads that cannot progress sleep on a waitqueue instead of spinning,
 * so eight threads share two vCPUs without wasting their time slices on
 * a ring the other side cannot reach.
 */
#define MPMC_PRODUCERS		4
#define MPMC_CONSUMERS		4
#define MPMC_THREADS		(MPMC_PRODUCERS + MPMC_CONSUMERS)
#define MPMC_TOTAL		1000000UL
#define MPMC_PER_PRODUCER	(MPMC_TOTAL / MPMC_PRODUCERS)
#define MPMC_RING_SLOTS		128
#define MPMC_TIMEOUT		(100 * HZ)

/* th[0 .. MPMC_PRODUCERS - 1] produce, the others consume. */
struct mpmc_thread {
	struct mpmc *m;
	unsigned int id;
	struct task_struct *task;
	unsigned long *seen;		/* consumer tallies from here on */
	long last[MPMC_PRODUCERS];
	unsigned long got, dups, reordered, bogus;
};

struct mpmc {
	struct mmsb_ring ring;
	wait_queue_head_t room_wq;	/* producers: ring full */
	wait_queue_head_t items_wq;	/* consumers: ring empty */
	atomic_t producers_done, running;
	struct completion all_done;
	bool abort;
	struct mpmc_thread th[MPMC_THREADS];
};

static void mpmc_thread_exit(struct mpmc *m)
{
	if (atomic_dec_and_test(&m->running))
		complete(&m->all_done);
}

static int mpmc_producer(void *data)
{
	struct mpmc_thread *t = data;
	struct mpmc *m = t->m;
	unsigned long i = 0;

	while (i < MPMC_PER_PRODUCER && !READ_ONCE(m->abort)) {
		void *item = V(((unsigned long)t->id << 32) | (i + 1));

		if (!mmsb_ring_try_push(&m->ring, item)) {
			i++;
			/* Full barrier first: pairs with the sleeper's. */
			if (wq_has_sleeper(&m->items_wq))
				wake_up(&m->items_wq);
			continue;
		}
		/* The timeout is only a safety net; wakeups do the work. */
		wait_event_timeout(m->room_wq,
				   mmsb_ring_len(&m->ring) < MPMC_RING_SLOTS ||
				   READ_ONCE(m->abort), HZ);
		/* Non-preemptible kernel: never spin without a way out. */
		cond_resched();
	}
	/* Orders our pushes before the count consumers acquire. */
	atomic_inc_return_release(&m->producers_done);
	wake_up_all(&m->items_wq);
	mpmc_thread_exit(m);
	return 0;
}

static void mpmc_tally(struct mpmc_thread *t, unsigned long v)
{
	unsigned long p = v >> 32, seq = (v & U32_MAX) - 1;

	if (p >= MPMC_PRODUCERS || seq >= MPMC_PER_PRODUCER) {
		t->bogus++;
		return;
	}
	if ((long)seq <= t->last[p])
		t->reordered++;
	t->last[p] = seq;
	if (__test_and_set_bit(p * MPMC_PER_PRODUCER + seq, t->seen))
		t->dups++;
	t->got++;
}

static bool mpmc_all_produced(struct mpmc *m)
{
	return atomic_read_acquire(&m->producers_done) == MPMC_PRODUCERS;
}

static int mpmc_consumer(void *data)
{
	struct mpmc_thread *t = data;
	struct mpmc *m = t->m;
	void *item;

	while (!READ_ONCE(m->abort)) {
		item = mmsb_ring_try_pop(&m->ring);
		if (item) {
			mpmc_tally(t, (unsigned long)item);
			if (wq_has_sleeper(&m->room_wq))
				wake_up(&m->room_wq);
			continue;
		}
		/* All pushed (acquire) and all claimed: nothing will come. */
		if (mpmc_all_produced(m) && mmsb_ring_is_empty(&m->ring))
			break;
		wait_event_timeout(m->items_wq,
				   !mmsb_ring_is_empty(&m->ring) ||
				   mpmc_all_produced(m) || READ_ONCE(m->abort),
				   HZ);
		cond_resched();
	}
	mpmc_thread_exit(m);
	return 0;
}

static void mmsb_ring_test_mpmc_concurrent(struct kunit *test)
{
	unsigned long *all, got = 0, dups = 0, reordered = 0, bogus = 0;
	unsigned int i, started;
	bool overlap = false;
	struct mpmc *m;
	u64 t0;

	m = kunit_kzalloc(test, sizeof(*m), GFP_KERNEL);
	all = kunit_kcalloc(test, BITS_TO_LONGS(MPMC_TOTAL), sizeof(long),
			    GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, m && all);
	for (i = MPMC_PRODUCERS; i < MPMC_THREADS; i++) {
		m->th[i].seen = kunit_kcalloc(test, BITS_TO_LONGS(MPMC_TOTAL),
					      sizeof(long), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, m->th[i].seen);
		memset(m->th[i].last, 0xff, sizeof(m->th[i].last));
	}
	KUNIT_ASSERT_EQ(test, mmsb_ring_init(&m->ring, MPMC_RING_SLOTS), 0);
	init_waitqueue_head(&m->room_wq);
	init_waitqueue_head(&m->items_wq);
	init_completion(&m->all_done);
	atomic_set(&m->running, MPMC_THREADS);

	for (started = 0; started < MPMC_THREADS; started++) {
		struct mpmc_thread *t = &m->th[started];
		bool prod = started < MPMC_PRODUCERS;

		t->m = m;
		t->id = prod ? started : started - MPMC_PRODUCERS;
		t->task = kthread_create(prod ? mpmc_producer : mpmc_consumer,
					 t, "mmsb_mpmc_%c%u", prod ? 'p' : 'c',
					 t->id);
		if (IS_ERR(t->task))
			break;
		get_task_struct(t->task);
	}
	t0 = ktime_get_ns();
	if (started == MPMC_THREADS) {
		for (i = 0; i < MPMC_THREADS; i++)
			wake_up_process(m->th[i].task);
		if (!wait_for_completion_timeout(&m->all_done, MPMC_TIMEOUT))
			WRITE_ONCE(m->abort, true);
	}
	if (READ_ONCE(m->abort)) {
		wake_up_all(&m->room_wq);
		wake_up_all(&m->items_wq);
	}
	/* Threads never woken are stopped before running their function. */
	for (i = 0; i < started; i++) {
		kthread_stop(m->th[i].task);
		put_task_struct(m->th[i].task);
	}
	if (started < MPMC_THREADS || READ_ONCE(m->abort)) {
		mmsb_ring_cleanup(&m->ring, NULL);
		KUNIT_FAIL(test, "%u of %d threads started, %s", started,
			   MPMC_THREADS, m->abort ? "timed out" : "gave up");
		return;
	}
	kunit_info(test, "%lu items, %d+%d threads, %d slots: %llu ms\n",
		   MPMC_TOTAL, MPMC_PRODUCERS, MPMC_CONSUMERS, MPMC_RING_SLOTS,
		   div_u64(ktime_get_ns() - t0, NSEC_PER_MSEC));

	for (i = MPMC_PRODUCERS; i < MPMC_THREADS; i++) {
		struct mpmc_thread *t = &m->th[i];

		got += t->got;
		dups += t->dups;
		reordered += t->reordered;
		bogus += t->bogus;
		overlap |= bitmap_intersects(all, t->seen, MPMC_TOTAL);
		bitmap_or(all, all, t->seen, MPMC_TOTAL);
	}
	KUNIT_EXPECT_EQ(test, bogus, 0UL);
	KUNIT_EXPECT_EQ(test, dups, 0UL);
	KUNIT_EXPECT_FALSE_MSG(test, overlap, "an item reached two consumers");
	KUNIT_EXPECT_EQ(test, reordered, 0UL);
	KUNIT_EXPECT_EQ(test, got, MPMC_TOTAL);
	KUNIT_EXPECT_TRUE_MSG(test, bitmap_full(all, MPMC_TOTAL),
			      "%lu items never arrived",
			      MPMC_TOTAL - bitmap_weight(all, MPMC_TOTAL));
	KUNIT_EXPECT_TRUE(test, mmsb_ring_is_empty(&m->ring));
	mmsb_ring_cleanup(&m->ring, NULL);
}

static struct kunit_case mmsb_ring_test_cases[] = {
	KUNIT_CASE(mmsb_ring_test_push_pop),
	KUNIT_CASE(mmsb_ring_test_full_and_empty),
	KUNIT_CASE(mmsb_ring_test_wraparound),
	KUNIT_CASE(mmsb_ring_test_push_batch_stops_when_full),
	KUNIT_CASE(mmsb_ring_test_pop_batch_order),
	KUNIT_CASE_PARAM(mmsb_ring_test_capacity, capacity_gen_params),
	KUNIT_CASE(mmsb_ring_test_cleanup_destroys_items),
	KUNIT_CASE_SLOW(mmsb_ring_test_mpmc_concurrent),
	{}
};

static struct kunit_suite mmsb_ring_test_suite = {
	.name = "mmsb_ring",
	.test_cases = mmsb_ring_test_cases,
};

kunit_test_suites(&mmsb_ring_test_suite);
