// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the mapped submission queue (sq.c) on a bus without a device
 * (bus_test.h), ticks on demand.  The test plays user space on the
 * queue's memory: it writes SQEs and arena bytes, publishes the tail
 * with a release store, has them consumed, and reads the CQEs.  Each
 * case runs twice: "queue" consumes with mmsb_sq_consume() (records
 * through the tick's queue), then flushes a tick; "in place" has the
 * tick see the queue and only flushes, so the tick applies the SQEs
 * itself (mmsb_sq_apply()).
 *
 * wraparound: rounds of SQEs around a 4-entry SQ and 8-entry CQ; every
 * CQE in order with its user_data, id and epoch; bytes as written.
 * cq_full: a CQ with no room holds the SQEs back (overflow counted),
 * and never loses a completion.
 * bad_ranges: arena ranges past the arena (also ones that wrap a
 * 32-bit sum), reserved fields, a DENSE mask: each -EINVAL in its CQE,
 * nothing applied.
 * rounds_charged: rounds in flight count against the limit, two at once
 * twice; a round over it refuses its SQEs with -ENOMEM.
 * copy_once: a second kthread rewrites the SQEs and the arena while
 * they are consumed, between a valid delta and invalid ones; only
 * valid values are ever applied.
 */
#include <kunit/test.h>
#include <linux/delay.h>
#include <linux/kthread.h>

#include "bus_test.h"
#include "sq.h"

struct sqt {
	bool in_place;
	struct tb *tb;
	struct mmsb_sq_list list;
	struct mmsb_sq *sq;
	struct mmsb_sq_setup p;
	struct mmsb_sq_ring *r;
	struct mmsb_sqe *sqes;
	struct mmsb_cqe *cqes;
	u8 *arena;
	u32 tail;
	u32 cq_head;
};

static struct sqt *sqt_start(struct kunit *test, u32 entries, u64 arena)
{
	struct sqt *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	struct mmsb_sq_bus bus = { };
	u8 *mem;

	KUNIT_ASSERT_NOT_NULL(test, s);
	s->tb = tb_start(test, 0, 1024);
	mmsb_sq_list_init(&s->list);
	bus.list = &s->list;
	bus.deltas = &s->tb->ctx;
	bus.tick = &s->tb->tick;
	bus.name = "kunit";
	s->p.entries = entries;
	s->p.arena_bytes = arena;
	s->sq = mmsb_sq_create(&bus, current_cred(), false, &s->p);
	KUNIT_ASSERT_FALSE(test, IS_ERR(s->sq));
	mem = mmsb_sq_mem(s->sq);
	s->r = (struct mmsb_sq_ring *)mem;
	s->sqes = (struct mmsb_sqe *)(mem + s->p.sqes_off);
	s->cqes = (struct mmsb_cqe *)(mem + s->p.cqes_off);
	s->arena = mem + s->p.arena_off;
	KUNIT_EXPECT_EQ(test, atomic64_read(&s->tb->ctx.bytes), s->p.map_size);
	/* The tick runs only when flushed: nothing reads the field yet. */
	/* Cases without the parameter go through the queue. */
	s->in_place = test->param_value &&
		      *(const bool *)test->param_value;
	if (s->in_place)
		WRITE_ONCE(s->tb->tick.sqs, &s->list);
	return s;
}

static void sqt_stop(struct kunit *test, struct sqt *s)
{
	mmsb_sq_destroy(s->sq);
	tb_stop(test);
}

/* An SQE at the tail: DENSE, @len bytes of @v at @off, in its slot. */
static struct mmsb_sqe *sqt_dense(struct sqt *s, struct mmsb_page *page,
				  u32 off, u8 v, u32 len, u64 ud)
{
	u32 slot = s->tail & (s->p.entries - 1);
	u32 slot_bytes = s->p.arena_bytes / s->p.entries;
	struct mmsb_sqe *e = &s->sqes[slot];

	memset(e, 0, sizeof(*e));
	memset(s->arena + slot * slot_bytes, v, len);
	e->page_id = page->id;
	e->offset = off;
	e->len = len;
	e->payload_off = slot * slot_bytes;
	e->payload_len = len;
	e->encoding = MMSB_DELTA_DENSE;
	e->user_data = ud;
	s->tail++;
	return e;
}

/* Publish, consume once, run a tick: returns the SQEs consumed. */
/* Publish the SQEs, have them consumed; returns how many were. */
static int sqt_run(struct sqt *s)
{
	u32 head = READ_ONCE(s->r->sq_head);
	int n;

	/* Pairs with the kernel's acquire load of sq_tail. */
	smp_store_release(&s->r->sq_tail, s->tail);
	if (s->in_place) {
		mmsb_tick_flush(&s->tb->tick);
		/* Pairs with the kernel's release store of sq_head. */
		return smp_load_acquire(&s->r->sq_head) - head;
	}
	n = mmsb_sq_consume(s->sq, false);
	mmsb_tick_flush(&s->tb->tick);
	return n;
}

static bool sqt_reap(struct sqt *s, struct mmsb_cqe *out)
{
	/* Pairs with the kernel's release store of cq_tail. */
	if (s->cq_head == smp_load_acquire(&s->r->cq_tail))
		return false;
	*out = s->cqes[s->cq_head & s->r->cq_mask];
	/* Pairs with the kernel's acquire load of cq_head. */
	smp_store_release(&s->r->cq_head, ++s->cq_head);
	return true;
}

static void mmsb_sq_test_wraparound(struct kunit *test)
{
	struct sqt *s = sqt_start(test, 4, 4 * 64);
	struct mmsb_page *page = tb_page(test, s->tb, 256);
	struct mmsb_cqe cqe;
	u64 last_id = 0;
	u8 got[64];
	int round, i;

	for (round = 0; round < 10; round++) {
		for (i = 0; i < 3; i++)
			sqt_dense(s, page, 64 * i, round * 3 + i + 1, 64,
				  round * 3 + i);
		KUNIT_ASSERT_EQ(test, sqt_run(s), 3);
		KUNIT_EXPECT_EQ(test, READ_ONCE(s->r->sq_head), s->tail);
		for (i = 0; i < 3; i++) {
			KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
			KUNIT_EXPECT_EQ(test, cqe.user_data, round * 3 + i);
			KUNIT_EXPECT_EQ(test, cqe.status, 0);
			KUNIT_EXPECT_GT(test, cqe.delta_id, last_id);
			KUNIT_EXPECT_EQ(test, cqe.epoch, round + 1);
			last_id = cqe.delta_id;
			tb_read(page, 64 * i, got, 64);
			KUNIT_EXPECT_EQ(test, got[0], round * 3 + i + 1);
			KUNIT_EXPECT_EQ(test, got[63], round * 3 + i + 1);
		}
		KUNIT_EXPECT_FALSE(test, sqt_reap(s, &cqe));
	}
	KUNIT_EXPECT_EQ(test, READ_ONCE(s->r->cq_tail), 30);
	KUNIT_EXPECT_EQ(test, READ_ONCE(s->r->overflow), 0);
	sqt_stop(test, s);
}

static void mmsb_sq_test_cq_full(struct kunit *test)
{
	struct sqt *s = sqt_start(test, 2, 2 * 64);
	struct mmsb_page *page = tb_page(test, s->tb, 64);
	struct mmsb_cqe cqe;
	int i;

	/* Two rounds of two fill the CQ of four; nobody reads it. */
	for (i = 0; i < 4; i++) {
		sqt_dense(s, page, i, i + 1, 1, i);
		if (i % 2)
			KUNIT_ASSERT_EQ(test, sqt_run(s), 2);
	}
	KUNIT_EXPECT_EQ(test, mmsb_sq_ready(s->sq), 4);
	sqt_dense(s, page, 4, 5, 1, 4);
	sqt_dense(s, page, 5, 6, 1, 5);
	KUNIT_EXPECT_EQ(test, sqt_run(s), 0);
	KUNIT_EXPECT_EQ(test, sqt_run(s), 0);
	KUNIT_EXPECT_EQ(test, READ_ONCE(s->r->overflow), 2);
	KUNIT_EXPECT_EQ(test, READ_ONCE(s->r->sq_head), 4);
	/* A cq_head from the future is no room either. */
	WRITE_ONCE(s->r->cq_head, s->cq_head + 100);
	KUNIT_EXPECT_EQ(test, sqt_run(s), 0);
	WRITE_ONCE(s->r->cq_head, s->cq_head);
	/* One CQE read: one SQE goes. */
	KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
	KUNIT_EXPECT_EQ(test, cqe.user_data, 0);
	KUNIT_EXPECT_EQ(test, sqt_run(s), 1);
	for (i = 1; i < 5; i++) {
		KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
		KUNIT_EXPECT_EQ(test, cqe.user_data, i);
		KUNIT_EXPECT_EQ(test, cqe.status, 0);
	}
	KUNIT_EXPECT_EQ(test, sqt_run(s), 1);
	KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
	KUNIT_EXPECT_EQ(test, cqe.user_data, 5);
	KUNIT_EXPECT_FALSE(test, sqt_reap(s, &cqe));
	/* A tail more than the SQ ahead is ignored. */
	s->tail += 3;
	KUNIT_EXPECT_EQ(test, sqt_run(s), 0);
	sqt_stop(test, s);
}

static void mmsb_sq_test_bad_ranges(struct kunit *test)
{
	struct sqt *s = sqt_start(test, 8, 8 * 64);
	struct mmsb_page *page = tb_page(test, s->tb, 64);
	struct mmsb_sqe *e;
	struct mmsb_cqe cqe;
	u8 got[64], zero[64] = { };
	int i;

	e = sqt_dense(s, page, 0, 1, 8, 0);
	e->payload_off = 8 * 64 - 4;			/* ends past the arena */
	e = sqt_dense(s, page, 0, 1, 8, 1);
	e->payload_off = U32_MAX;			/* 32-bit sum wraps */
	e->payload_len = U32_MAX;
	e = sqt_dense(s, page, 0, 1, 8, 2);
	e->encoding = MMSB_DELTA_MASKED;
	e->mask_off = 8 * 64;				/* mask past it */
	e = sqt_dense(s, page, 0, 1, 8, 3);
	e->mask_off = 8;				/* DENSE with a mask */
	e = sqt_dense(s, page, 0, 1, 8, 4);
	e->reserved[1] = 1;
	e = sqt_dense(s, page, 0, 1, 8, 5);
	e->flags = 2;					/* no such flag */
	KUNIT_ASSERT_EQ(test, sqt_run(s), 6);
	for (i = 0; i < 6; i++) {
		KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
		KUNIT_EXPECT_EQ(test, cqe.user_data, i);
		KUNIT_EXPECT_EQ(test, cqe.status, -EINVAL);
		KUNIT_EXPECT_EQ(test, cqe.delta_id, 0);
	}
	tb_read(page, 0, got, 64);
	KUNIT_EXPECT_MEMEQ(test, got, zero, 64);
	KUNIT_EXPECT_EQ(test, READ_ONCE(page->epoch), 0);
	sqt_stop(test, s);
}

struct racer {
	struct sqt *s;
	u64 page_id;
};

/*
 * Rewrite every SQE and the arena until stopped: each field flips
 * between the valid delta's value and one that makes it invalid, and
 * the arena between two payloads.
 */
static int mmsb_sq_test_racer(void *arg)
{
	struct racer *rc = arg;
	struct sqt *s = rc->s;
	u32 n = s->p.entries, i, k = 0;

	while (!kthread_should_stop()) {
		for (i = 0; i < n; i++, k++) {
			struct mmsb_sqe *e = &s->sqes[i];

			WRITE_ONCE(e->page_id, k % 7 ? rc->page_id : 999);
			WRITE_ONCE(e->offset, k % 3 ? 0 : 4090);
			WRITE_ONCE(e->len, 64);
			WRITE_ONCE(e->payload_off, k % 5 ? 0 : s->p.arena_bytes - 8);
			WRITE_ONCE(e->payload_len, 64);
			WRITE_ONCE(e->encoding, MMSB_DELTA_DENSE);
			WRITE_ONCE(e->mask_off, k % 11 ? 0 : 8);
			WRITE_ONCE(e->user_data, k);
		}
		memset(s->arena, k & 1 ? 0xaa : 0xbb, 64);
		cond_resched();
	}
	return 0;
}

static void mmsb_sq_test_copy_once(struct kunit *test)
{
	struct sqt *s = sqt_start(test, 16, 16 * 64);
	struct mmsb_page *page = tb_page(test, s->tb, 4096);
	struct racer rc = { .s = s, .page_id = page->id };
	struct task_struct *task;
	unsigned int applied = 0, refused = 0, round, i;
	u8 *got = kunit_kzalloc(test, 4096, GFP_KERNEL);
	struct mmsb_cqe cqe;

	KUNIT_ASSERT_NOT_NULL(test, got);
	task = kthread_run(mmsb_sq_test_racer, &rc, "mmsb-sq-racer");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	for (round = 0; round < 200; round++) {
		s->tail += 16;
		KUNIT_ASSERT_EQ(test, sqt_run(s), 16);
		for (i = 0; i < 16; i++) {
			KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
			switch (cqe.status) {
			case 0:
				applied++;
				break;
			case -EINVAL:
			case -ERANGE:
			case -ENOENT:
			/*
			 * An SQE copied in the racer's first pass, with len
			 * written and payload_len still the zero it started
			 * with: torn, and refused as such.
			 */
			case -EMSGSIZE:
				KUNIT_EXPECT_EQ(test, cqe.delta_id, 0);
				refused++;
				break;
			default:
				KUNIT_FAIL(test, "status %d", cqe.status);
			}
		}
	}
	kthread_stop(task);
	tb_read(page, 0, got, 4096);
	/* The window of the valid delta holds payload bytes only... */
	for (i = 0; i < 64; i++)
		if (got[i] != 0xaa && got[i] != 0xbb)
			KUNIT_FAIL(test, "byte %u is %#x", i, got[i]);
	/* ...and nothing else of the page was ever written. */
	for (i = 64; i < 4096; i++)
		if (got[i])
			KUNIT_FAIL(test, "byte %u is %#x", i, got[i]);
	KUNIT_EXPECT_GT(test, applied, 0);
	KUNIT_EXPECT_GT(test, refused, 0);
	KUNIT_EXPECT_EQ(test, applied + refused, 200 * 16);
	sqt_stop(test, s);
}

/*
 * A round in flight is charged to the limit, its user_data array (32 KiB
 * and more) as its chunks; all of it comes back when the round ends.  A
 * round whose array is over the limit refuses its SQEs with -ENOMEM, at
 * once, and consumes them.
 */
static void mmsb_sq_test_rounds_charged(struct kunit *test)
{
	struct sqt *s = sqt_start(test, 4, 4 * 64);
	struct mmsb_page *page = tb_page(test, s->tb, 64);
	struct mmsb_page_table *t = &s->tb->table;
	atomic64_t *bytes = &s->tb->ctx.bytes;
	s64 base = atomic64_read(bytes), one;
	struct mmsb_cqe cqe;
	u64 room;

	sqt_dense(s, page, 0, 1, 1, 0);
	/* Pairs with the kernel's acquire load of sq_tail. */
	smp_store_release(&s->r->sq_tail, s->tail);
	KUNIT_ASSERT_EQ(test, mmsb_sq_consume(s->sq, false), 1);
	one = atomic64_read(bytes) - base;
	/* The array of 4096 user_data and a chunk of 2 KiB at least. */
	KUNIT_EXPECT_GE(test, one, 32768 + 2048);
	/* A second round while the first is in flight: charged too. */
	sqt_dense(s, page, 1, 2, 1, 1);
	/* As above. */
	smp_store_release(&s->r->sq_tail, s->tail);
	KUNIT_ASSERT_EQ(test, mmsb_sq_consume(s->sq, false), 1);
	KUNIT_EXPECT_EQ(test, atomic64_read(bytes) - base, 2 * one);
	mmsb_tick_flush(&s->tb->tick);
	KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
	KUNIT_EXPECT_EQ(test, cqe.status, 0);
	KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
	KUNIT_EXPECT_EQ(test, cqe.status, 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(bytes), base);

	/* Room for a chunk of 2 KiB, not for a round's array. */
	room = t->limit - atomic64_read(&t->charged) - 16384;
	KUNIT_ASSERT_EQ(test, mmsb_page_table_charge(t, room), 0);
	sqt_dense(s, page, 2, 3, 1, 2);
	sqt_dense(s, page, 3, 4, 1, 3);
	KUNIT_EXPECT_EQ(test, sqt_run(s), 2);
	KUNIT_EXPECT_EQ(test, READ_ONCE(s->r->sq_head), s->tail);
	KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
	KUNIT_EXPECT_EQ(test, cqe.user_data, 2);
	KUNIT_EXPECT_EQ(test, cqe.status, -ENOMEM);
	KUNIT_EXPECT_EQ(test, cqe.delta_id, 0);
	KUNIT_ASSERT_TRUE(test, sqt_reap(s, &cqe));
	KUNIT_EXPECT_EQ(test, cqe.user_data, 3);
	KUNIT_EXPECT_EQ(test, cqe.status, -ENOMEM);
	KUNIT_EXPECT_FALSE(test, sqt_reap(s, &cqe));
	KUNIT_EXPECT_EQ(test, atomic64_read(bytes), base);
	mmsb_page_table_uncharge(t, room);
	sqt_stop(test, s);
}

static void mmsb_sq_test_exit(struct kunit *test)
{
	tb_stop(test);
}

static const bool mmsb_sq_ways[] = { false, true };

static void mmsb_sq_way_desc(const bool *in_place, char *desc)
{
	strscpy(desc, *in_place ? "in place" : "queue", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(mmsb_sq_way, mmsb_sq_ways, mmsb_sq_way_desc);

static struct kunit_case mmsb_sq_cases[] = {
	KUNIT_CASE_PARAM(mmsb_sq_test_wraparound, mmsb_sq_way_gen_params),
	KUNIT_CASE_PARAM(mmsb_sq_test_cq_full, mmsb_sq_way_gen_params),
	KUNIT_CASE_PARAM(mmsb_sq_test_bad_ranges, mmsb_sq_way_gen_params),
	KUNIT_CASE(mmsb_sq_test_rounds_charged),
	KUNIT_CASE_PARAM_ATTR(mmsb_sq_test_copy_once, mmsb_sq_way_gen_params,
			      { .speed = KUNIT_SPEED_SLOW }),
	{}
};

static struct kunit_suite mmsb_sq_suite = {
	.name = "mmsb_sq",
	.exit = mmsb_sq_test_exit,
	.test_cases = mmsb_sq_cases,
};

kunit_test_suite(mmsb_sq_suite);
