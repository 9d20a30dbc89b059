// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_stream: the change stream's staging (kmod/stream.c),
 * what the engine and propagation call while a tick captures: record
 * sizes, the packing of a record (header, window bytes, zeroed pad),
 * the epoch stamp, the staging budget that loses a tick rather than
 * grow past the largest stream, and the order segments are published
 * in.  The rings and their overflow are the integration tests'
 * (tests/stream.c), as they need stream files.
 */
#include <kunit/test.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include <linux/mmsb.h>

#include "page.h"
#include "stream.h"

#define REC	sizeof(struct mmsb_stream_record)

struct stream_test {
	struct mmsb_page_table table;
	struct mmsb_page *page;
	struct mmsb_stream_seg *slots[3];
	struct mmsb_stream_tick st;
};

static int mmsb_stream_test_init(struct kunit *test)
{
	struct stream_test *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, c);
	KUNIT_ASSERT_EQ(test, 0, mmsb_page_table_init(&c->table,
						      16 * PAGE_SIZE,
						      PAGE_SIZE));
	c->page = mmsb_page_create(&c->table, 64, 0600, 0, current_cred());
	KUNIT_ASSERT_FALSE(test, IS_ERR(c->page));
	for (i = 0; i < 64; i++)
		c->page->data[i] = i;
	c->st.budget = 4096;
	c->st.slots = c->slots;
	c->st.nr_slots = ARRAY_SIZE(c->slots);
	c->st.tail = &c->st.head;
	test->priv = c;
	return 0;
}

static void mmsb_stream_test_exit(struct kunit *test)
{
	struct stream_test *c = test->priv;
	struct mmsb_stream_seg *seg;

	while ((seg = c->st.head)) {
		c->st.head = seg->next;
		mmsb_page_put(seg->page);
		kvfree(seg);
	}
	mmsb_page_put(c->page);
	/* WARNs if a segment kept its page. */
	mmsb_page_table_destroy(&c->table);
}

/* A segment of @bytes, published at the exit whatever the case did. */
static struct mmsb_stream_seg *seg(struct kunit *test, size_t bytes)
{
	struct stream_test *c = test->priv;
	struct mmsb_stream_seg *s = mmsb_stream_seg_new(&c->st, c->page, bytes);

	if (s) {
		/* Stale bytes, as kvmalloc() may hand out: none may leak. */
		memset(s->data, 0xa5, bytes);
		mmsb_stream_seg_add(&c->st, s);
	}
	return s;
}

/* Header plus data rounded up to 8: 48, 56, 56, 64 bytes. */
static void mmsb_stream_test_rec_bytes(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, REC, (size_t)48);
	KUNIT_EXPECT_EQ(test, mmsb_stream_rec_bytes(0), (size_t)48);
	KUNIT_EXPECT_EQ(test, mmsb_stream_rec_bytes(1), (size_t)56);
	KUNIT_EXPECT_EQ(test, mmsb_stream_rec_bytes(8), (size_t)56);
	KUNIT_EXPECT_EQ(test, mmsb_stream_rec_bytes(9), (size_t)64);
}

/*
 *   [ DELTA hdr | 10 11 12 00 00 00 00 00 ][ PROPAGATED hdr ]
 *     epoch 0 until stamped, then 7 in both
 */
static void mmsb_stream_test_pack_and_stamp(struct kunit *test)
{
	struct stream_test *c = test->priv;
	const struct mmsb_stream_record *r;
	struct mmsb_stream_seg *s;
	static const u8 zero[5];

	s = seg(test, mmsb_stream_rec_bytes(3) + mmsb_stream_rec_bytes(0));
	KUNIT_ASSERT_NOT_NULL(test, s);
	mmsb_stream_seg_put(s, MMSB_REC_DELTA, 9, c->page->id, 42, 10, 3,
			    c->page->data + 10);
	mmsb_stream_seg_put(s, MMSB_REC_PROPAGATED, 9, c->page->id, 0, 0, 0,
			    c->page->data);
	KUNIT_EXPECT_EQ(test, s->used, s->size);

	r = (const void *)s->data;
	KUNIT_EXPECT_EQ(test, r->size, 56U);
	KUNIT_EXPECT_EQ(test, r->type, (u16)MMSB_REC_DELTA);
	KUNIT_EXPECT_EQ(test, r->flags, (u16)0);
	KUNIT_EXPECT_EQ(test, r->tick, 9ULL);
	KUNIT_EXPECT_EQ(test, r->page_id, c->page->id);
	KUNIT_EXPECT_EQ(test, r->epoch, 0ULL);
	KUNIT_EXPECT_EQ(test, r->delta_id, 42ULL);
	KUNIT_EXPECT_EQ(test, r->offset, 10U);
	KUNIT_EXPECT_EQ(test, r->len, 3U);
	KUNIT_EXPECT_MEMEQ(test, (const u8 *)(r + 1), c->page->data + 10, 3);
	KUNIT_EXPECT_MEMEQ(test, (const u8 *)(r + 1) + 3, zero, 5);

	r = (const void *)(s->data + 56);
	KUNIT_EXPECT_EQ(test, (size_t)r->size, REC);
	KUNIT_EXPECT_EQ(test, r->type, (u16)MMSB_REC_PROPAGATED);
	KUNIT_EXPECT_EQ(test, r->len, 0U);
	KUNIT_EXPECT_EQ(test, r->delta_id, 0ULL);

	mmsb_stream_seg_stamp(s, 0, 7);
	KUNIT_EXPECT_EQ(test,
			((const struct mmsb_stream_record *)s->data)->epoch, 7ULL);
	KUNIT_EXPECT_EQ(test, r->epoch, 7ULL);
}

/*
 * Budget 100: 64 staged, 64 more would pass it -> NULL, the tick lost;
 * lost sticks, even for what would fit.
 */
static void mmsb_stream_test_budget_loses_tick(struct kunit *test)
{
	struct stream_test *c = test->priv;

	c->st.budget = 100;
	KUNIT_EXPECT_NOT_NULL(test, seg(test, 64));
	KUNIT_EXPECT_FALSE(test, c->st.lost);
	KUNIT_EXPECT_NULL(test, seg(test, 64));
	KUNIT_EXPECT_TRUE(test, c->st.lost);
	KUNIT_EXPECT_NULL(test, seg(test, 8));
}

/*
 * An engine job's slots {A, -, B} go out as A, B, in page order, after
 * what was staged before (P) and before what comes after (C):
 *   P -> A -> B -> C, slots cleared.
 */
static void mmsb_stream_test_collect_order(struct kunit *test)
{
	struct stream_test *c = test->priv;
	struct mmsb_stream_seg *p, *a, *b, *cc;

	p = seg(test, REC);
	a = mmsb_stream_seg_new(&c->st, c->page, REC);
	b = mmsb_stream_seg_new(&c->st, c->page, REC);
	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_ASSERT_NOT_NULL(test, a);
	KUNIT_ASSERT_NOT_NULL(test, b);
	c->slots[0] = a;
	c->slots[2] = b;
	mmsb_stream_tick_collect(&c->st, 3);
	cc = seg(test, REC);
	KUNIT_ASSERT_NOT_NULL(test, cc);

	KUNIT_EXPECT_PTR_EQ(test, c->st.head, p);
	KUNIT_EXPECT_PTR_EQ(test, p->next, a);
	KUNIT_EXPECT_PTR_EQ(test, a->next, b);
	KUNIT_EXPECT_PTR_EQ(test, b->next, cc);
	KUNIT_EXPECT_NULL(test, cc->next);
	KUNIT_EXPECT_NULL(test, c->slots[0]);
	KUNIT_EXPECT_NULL(test, c->slots[2]);
}

static struct kunit_case mmsb_stream_test_cases[] = {
	KUNIT_CASE(mmsb_stream_test_rec_bytes),
	KUNIT_CASE(mmsb_stream_test_pack_and_stamp),
	KUNIT_CASE(mmsb_stream_test_budget_loses_tick),
	KUNIT_CASE(mmsb_stream_test_collect_order),
	{}
};

static struct kunit_suite mmsb_stream_test_suite = {
	.name = "mmsb_stream",
	.init = mmsb_stream_test_init,
	.exit = mmsb_stream_test_exit,
	.test_cases = mmsb_stream_test_cases,
};

kunit_test_suite(mmsb_stream_test_suite);
