// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_delta: validation (every refusal), masked and sparse
 * encodings, per-page apply in one write section equal to applying the
 * deltas one by one (randomised), partitioning a chunk by page, the
 * epoch / conflict rules of the engine, and a batch's life.  Pages come
 * from a private page table and are applied by an engine without
 * workers (mmsb_engine_run(), as a small tick does); deltas are written
 * by a builder reading user memory, as submissions do: the case fills
 * @payload and @mask, dt_delta_add() copies them to an anonymous
 * mapping of the test thread (kunit_vm_mmap()) and points the delta
 * there.
 */
#include <linux/cred.h>
#include <linux/mman.h>
#include <linux/prandom.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <kunit/test.h>

#include "batch.h"
#include "delta.h"
#include "engine.h"
#include "page.h"
#include "tick.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define PG_SIZE		256
#define DT_PAGES	4

struct dt {
	struct mmsb_page_table table;
	struct mmsb_delta_ctx ctx;
	struct mmsb_builder b;
	struct mmsb_page_cache cache;
	struct mmsb_engine eng;
	struct mmsb_page *page[DT_PAGES];
	u8 payload[PG_SIZE];
	u8 mask[PG_SIZE / 8];
	/* User copies of @payload and @mask, what deltas point at. */
	u64 upayload;
	u64 umask;
};

static void dt_builder(struct dt *t, bool admin, bool batch)
{
	mmsb_builder_init(&t->b, &t->ctx, &t->cache, current_cred(), admin,
			  batch, false, 4096);
	t->b.left = 1;
}

static int dt_init(struct kunit *test)
{
	struct dt *t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	int i;

	unsigned long u;

	KUNIT_ASSERT_NOT_NULL(test, t);
	u = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_NE_MSG(test, u, 0, "no user memory for the payloads");
	t->upayload = u;
	t->umask = u + PG_SIZE;
	KUNIT_ASSERT_EQ(test, mmsb_page_table_init(&t->table, 64 << 20,
						   1 << 20), 0);
	mmsb_delta_ctx_init(&t->ctx, &t->table);
	KUNIT_ASSERT_EQ(test, mmsb_engine_init(&t->eng, 0, "kunit"), 0);
	dt_builder(t, false, false);
	for (i = 0; i < ARRAY_SIZE(t->page); i++) {
		t->page[i] = mmsb_page_create(&t->table, PG_SIZE, 0600, 0,
					      current_cred());
		KUNIT_ASSERT_FALSE(test, IS_ERR(t->page[i]));
	}
	for (i = 0; i < PG_SIZE; i++)
		t->payload[i] = i + 1;
	test->priv = t;
	return 0;
}

/* Hand the open chunk to the caller, as a submission queues it. */
static struct mmsb_chunk *dt_take_chunk(struct kunit *test, struct dt *t)
{
	struct mmsb_chunk *c = t->b.cur;

	KUNIT_ASSERT_NOT_NULL(test, c);
	t->b.cur = NULL;
	return c;
}

/* The engine's part of a tick: apply @np pages, unlink their deltas. */
static void dt_run(struct kunit *test, struct dt *t, struct mmsb_page **pages,
		   unsigned int np, unsigned int nr, u64 tick,
		   struct mmsb_engine_stats *st)
{
	unsigned int i;

	mmsb_engine_run(&t->eng, pages, np, nr, tick, NULL, NULL, st);
	for (i = 0; i < np; i++)
		KUNIT_EXPECT_NULL(test, pages[i]->tick.first);
}

/* All of @c's records on the test's pages, but none on a page @changed. */
static unsigned int dt_partition(struct mmsb_chunk *c,
				 struct mmsb_page **pages, unsigned int *np,
				 u64 changed)
{
	return mmsb_tick_partition(c, c->nr, pages, np, DT_PAGES, changed);
}

/* The tick's part: partition, apply every page, retire the chunk. */
static void dt_apply_chunk(struct kunit *test, struct dt *t,
			   struct mmsb_chunk *c, u64 tick,
			   struct mmsb_engine_stats *st)
{
	struct mmsb_page *pages[ARRAY_SIZE(t->page)];
	unsigned int np = 0;

	KUNIT_EXPECT_EQ(test, dt_partition(c, pages, &np, 0), c->nr);
	dt_run(test, t, pages, np, c->nr, tick, st);
	mmsb_chunk_retire(&t->ctx, c);
}

static void dt_exit(struct kunit *test)
{
	struct dt *t = test->priv;
	int i;

	mmsb_builder_close(&t->b);
	mmsb_builder_finish(&t->b);
	KUNIT_EXPECT_EQ(test, atomic64_read(&t->ctx.bytes), 0);
	mmsb_engine_destroy(&t->eng);
	mmsb_delta_ctx_destroy(&t->ctx);
	for (i = 0; i < ARRAY_SIZE(t->page); i++)
		mmsb_page_put(t->page[i]);
	mmsb_page_table_destroy(&t->table);
}

static struct mmsb_delta_desc dt_dense(struct dt *t, int pg, u64 off, u64 len)
{
	return (struct mmsb_delta_desc) {
		.page_id = t->page[pg]->id,
		.offset = off,
		.len = len,
		.payload = t->upayload,
		.payload_len = len,
		.encoding = MMSB_DELTA_DENSE,
	};
}

/* mmsb_delta_add() of @d, with @payload and @mask as they are now. */
static int dt_delta_add(struct kunit *test, const struct mmsb_delta_desc *d,
			u64 id)
{
	struct dt *t = test->priv;

	KUNIT_ASSERT_EQ(test, copy_to_user(u64_to_user_ptr(t->upayload),
					   t->payload, sizeof(t->payload)), 0);
	KUNIT_ASSERT_EQ(test, copy_to_user(u64_to_user_ptr(t->umask),
					   t->mask, sizeof(t->mask)), 0);
	return mmsb_delta_add(&t->b, d, id, 0);
}

/* Add a delta that must be accepted; returns its record. */
static struct mmsb_kdelta *dt_add(struct kunit *test,
				  const struct mmsb_delta_desc *d, u64 id)
{
	struct dt *t = test->priv;
	struct mmsb_chunk *before = t->b.cur;
	u32 off = before ? before->used : 0;

	KUNIT_ASSERT_EQ(test, dt_delta_add(test, d, id), 0);
	if (t->b.cur != before)
		off = 0;
	return (struct mmsb_kdelta *)(t->b.cur->mem + off);
}

/* One refusal per case; the errno is the case's whole contract. */
struct bad_case {
	const char *name;
	int err;
	void (*make)(struct dt *t, struct mmsb_delta_desc *d);
};

static void bad_encoding(struct dt *t, struct mmsb_delta_desc *d) { d->encoding = 3; }
static void bad_flags(struct dt *t, struct mmsb_delta_desc *d) { d->flags = 1; }
static void bad_pad(struct dt *t, struct mmsb_delta_desc *d) { d->pad = 1; }
static void bad_len0(struct dt *t, struct mmsb_delta_desc *d)
{
	d->len = 0;
}

static void bad_dense_mask(struct dt *t, struct mmsb_delta_desc *d)
{
	d->mask = t->umask;
}

static void bad_masked_nomask(struct dt *t, struct mmsb_delta_desc *d)
{
	d->encoding = MMSB_DELTA_MASKED;
}

static void bad_mask_tail(struct dt *t, struct mmsb_delta_desc *d)
{
	d->encoding = MMSB_DELTA_MASKED;
	d->mask = t->umask;
	d->len = 3;
	d->payload_len = 3;
	t->mask[0] = 0x08;
}

static void bad_page(struct dt *t, struct mmsb_delta_desc *d)
{
	d->page_id = 0;
}

static void bad_window(struct dt *t, struct mmsb_delta_desc *d)
{
	d->offset = PG_SIZE - 1;
}

static void bad_wrap(struct dt *t, struct mmsb_delta_desc *d) { d->offset = U64_MAX; }
static void bad_dense_size(struct dt *t, struct mmsb_delta_desc *d)
{
	d->payload_len = 1;
}

static void bad_sparse_size(struct dt *t, struct mmsb_delta_desc *d)
{
	d->encoding = MMSB_DELTA_SPARSE;
	d->mask = t->umask;
	d->len = 8;
	t->mask[0] = 0x03;
	d->payload_len = 3;
}

static const struct bad_case bad_cases[] = {
	{ "encoding unknown", -EINVAL, bad_encoding },
	{ "flags", -EINVAL, bad_flags },
	{ "pad", -EINVAL, bad_pad },
	{ "len 0", -EINVAL, bad_len0 },
	{ "dense with mask", -EINVAL, bad_dense_mask },
	{ "masked without mask", -EINVAL, bad_masked_nomask },
	{ "mask bits past len", -EINVAL, bad_mask_tail },
	{ "no such page", -ENOENT, bad_page },
	{ "window past the page", -ERANGE, bad_window },
	{ "offset wraps", -ERANGE, bad_wrap },
	{ "dense payload_len", -EMSGSIZE, bad_dense_size },
	{ "sparse popcount", -EMSGSIZE, bad_sparse_size },
};

static void bad_case_desc(const struct bad_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(bad, bad_cases, bad_case_desc);

static void mmsb_delta_test_validation(struct kunit *test)
{
	const struct bad_case *c = test->param_value;
	struct dt *t = test->priv;
	struct mmsb_delta_desc d = dt_dense(t, 0, 0, 2);

	c->make(t, &d);
	KUNIT_EXPECT_EQ_MSG(test, dt_delta_add(test, &d, 1), c->err,
			    "case %s", c->name);
	/* No record, and nothing held once the chunk and builder go. */
	KUNIT_EXPECT_TRUE(test, !t->b.cur || !t->b.cur->nr);
	mmsb_builder_close(&t->b);
	mmsb_builder_finish(&t->b);
	KUNIT_EXPECT_EQ(test, atomic64_read(&t->ctx.bytes), 0);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 2);
}

/* A page mode without write for the owner: -EACCES. */
static void mmsb_delta_test_permission(struct kunit *test)
{
	struct dt *t = test->priv;
	struct mmsb_delta_desc d = dt_dense(t, 0, 0, 1);

	t->page[0]->mode = 0400;
	KUNIT_EXPECT_EQ(test, dt_delta_add(test, &d, 1), -EACCES);
	mmsb_builder_close(&t->b);
	mmsb_builder_finish(&t->b);
	/* Admin (CAP_SYS_ADMIN at open) overrides the mode. */
	dt_builder(t, true, false);
	KUNIT_EXPECT_EQ(test, dt_delta_add(test, &d, 1), 0);
	t->page[0]->mode = 0600;
}

/*
 * MASKED and SPARSE with the same mask write the same bytes:
 *   mask   1 0 1 1 0 0 0 1 | 1
 *   page   p0 . p2 p3 . . . p7 | p8     (MASKED: payload at positions)
 *   sparse s0 . s1 s2 . . . s3 | s4     (SPARSE: only the set bytes)
 */
static void mmsb_delta_test_masked_sparse(struct kunit *test)
{
	struct dt *t = test->priv;
	struct mmsb_delta_desc d = dt_dense(t, 0, 10, 9);
	u8 expect[9] = { 1, 0, 3, 4, 0, 0, 0, 8, 9 };
	u8 sparse_expect[9] = { 1, 0, 2, 3, 0, 0, 0, 4, 5 };
	u8 buf[PG_SIZE] = { 0 };
	struct mmsb_kdelta *kd;

	t->mask[0] = 0x8d;
	t->mask[1] = 0x01;
	d.encoding = MMSB_DELTA_MASKED;
	d.mask = t->umask;
	kd = dt_add(test, &d, 1);
	mmsb_delta_apply(kd, buf);
	KUNIT_EXPECT_MEMEQ(test, buf + 10, expect, 9);
	KUNIT_EXPECT_EQ(test, buf[9], 0);
	KUNIT_EXPECT_EQ(test, buf[19], 0);

	memset(buf, 0, sizeof(buf));
	d.encoding = MMSB_DELTA_SPARSE;
	d.payload_len = 5;
	kd = dt_add(test, &d, 2);
	mmsb_delta_apply(kd, buf);
	KUNIT_EXPECT_MEMEQ(test, buf + 10, sparse_expect, 9);
}

/*
 * Deltas of pages A B A C B A in one chunk: each page's list keeps ring
 * order; the chunk holds each page once (a reference each, on top of
 * the table's, the test's and the builder's).
 */
static void mmsb_delta_test_partition(struct kunit *test)
{
	static const int pg[] = { 0, 1, 0, 2, 1, 0 };
	struct dt *t = test->priv;
	struct mmsb_kdelta *kd[ARRAY_SIZE(pg)], *it;
	struct mmsb_page *pages[ARRAY_SIZE(pg)];
	struct mmsb_engine_stats st = { 0 };
	struct mmsb_delta_desc d;
	struct mmsb_chunk *c;
	unsigned int i, np = 0;

	for (i = 0; i < ARRAY_SIZE(pg); i++) {
		d = dt_dense(t, pg[i], i, 1);
		kd[i] = dt_add(test, &d, i + 1);
	}
	c = dt_take_chunk(test, t);
	KUNIT_EXPECT_EQ(test, c->nr, ARRAY_SIZE(pg));
	KUNIT_EXPECT_EQ(test, c->nr_pages, 3);
	/* The table's, the test's and the chunk's: the builder holds none. */
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 3);
	/*
	 * A chunk is taken in pieces when a tick says so: two deltas at
	 * most, then two pages at most (the third, C, waits), then the rest.
	 */
	KUNIT_EXPECT_EQ(test, mmsb_tick_partition(c, 2, pages, &np, 3, 0), 2);
	KUNIT_EXPECT_EQ(test, mmsb_tick_partition(c, 4, pages, &np, 2, 0), 1);
	KUNIT_EXPECT_EQ(test, np, 2);
	KUNIT_EXPECT_EQ(test, mmsb_tick_partition(c, 4, pages, &np, 3, 0), 3);
	KUNIT_ASSERT_EQ(test, np, 3);
	KUNIT_EXPECT_PTR_EQ(test, pages[0], t->page[0]);
	KUNIT_EXPECT_PTR_EQ(test, pages[1], t->page[1]);
	KUNIT_EXPECT_PTR_EQ(test, pages[2], t->page[2]);
	it = t->page[0]->tick.first;
	KUNIT_EXPECT_PTR_EQ(test, it, kd[0]);
	KUNIT_EXPECT_PTR_EQ(test, it->tick_next, kd[2]);
	KUNIT_EXPECT_PTR_EQ(test, it->tick_next->tick_next, kd[5]);
	KUNIT_EXPECT_NULL(test, kd[5]->tick_next);
	KUNIT_EXPECT_PTR_EQ(test, t->page[1]->tick.first, kd[1]);
	KUNIT_EXPECT_PTR_EQ(test, kd[1]->tick_next, kd[4]);
	KUNIT_EXPECT_PTR_EQ(test, t->page[2]->tick.first, kd[3]);
	dt_run(test, t, pages, np, ARRAY_SIZE(pg), 1, &st);
	KUNIT_EXPECT_EQ(test, st.processed, ARRAY_SIZE(pg));
	mmsb_chunk_retire(&t->ctx, c);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 2);
}

/*
 * A later take of a tick stops before the first delta on a page an
 * earlier take changed, whatever comes after it: pages A B in tick 1,
 * then C C A B taken for the same tick gives C C; the next tick takes
 * the rest.
 */
static void mmsb_delta_test_partition_changed(struct kunit *test)
{
	static const int pg[] = { 2, 2, 0, 1 };
	struct dt *t = test->priv;
	struct mmsb_page *pages[ARRAY_SIZE(t->page)];
	struct mmsb_engine_stats st = { 0 };
	struct mmsb_delta_desc d;
	struct mmsb_chunk *c;
	unsigned int i, np = 0;

	for (i = 0; i < 2; i++) {
		d = dt_dense(t, i, 0, 1);
		dt_add(test, &d, i + 1);
	}
	dt_apply_chunk(test, t, dt_take_chunk(test, t), 1, &st);
	KUNIT_ASSERT_TRUE(test, mmsb_page_changed_in(t->page[0], 1));
	KUNIT_ASSERT_TRUE(test, mmsb_page_changed_in(t->page[1], 1));

	for (i = 0; i < ARRAY_SIZE(pg); i++) {
		d = dt_dense(t, pg[i], i, 1);
		dt_add(test, &d, 3 + i);
	}
	c = dt_take_chunk(test, t);
	KUNIT_EXPECT_EQ(test, dt_partition(c, pages, &np, 1), 2);
	KUNIT_EXPECT_EQ(test, dt_partition(c, pages, &np, 1), 0);
	KUNIT_EXPECT_EQ(test, c->taken, 2);
	KUNIT_ASSERT_EQ(test, np, 1);
	KUNIT_EXPECT_PTR_EQ(test, pages[0], t->page[2]);
	dt_run(test, t, pages, np, 2, 1, &st);
	np = 0;
	KUNIT_EXPECT_EQ(test, dt_partition(c, pages, &np, 0), 2);
	KUNIT_EXPECT_EQ(test, np, 2);
	dt_run(test, t, pages, np, 2, 2, &st);
	KUNIT_EXPECT_EQ(test, st.processed, 6);
	KUNIT_EXPECT_EQ(test, t->page[0]->epoch, 2);
	KUNIT_EXPECT_EQ(test, t->page[2]->epoch, 1);
	mmsb_chunk_retire(&t->ctx, c);
}

/*
 * Randomised: the engine applying a page's deltas in one section gives
 * the bytes of applying them one by one, for every encoding and for
 * DENSE deltas alone.
 */
static void mmsb_delta_test_merge_equals_sequential(struct kunit *test)
{
	struct dt *t = test->priv;
	u8 *model = kunit_kzalloc(test, PG_SIZE, GFP_KERNEL);
	struct rnd_state rs;
	int round, i, j;

	KUNIT_ASSERT_NOT_NULL(test, model);
	prandom_seed_state(&rs, 42);
	for (round = 0; round < 50; round++) {
		struct mmsb_engine_stats st = { 0 };
		struct mmsb_kdelta *kd;

		for (i = 0; i < 32; i++) {
			u32 off = prandom_u32_state(&rs) % PG_SIZE;
			u32 len = 1 + prandom_u32_state(&rs) % (PG_SIZE - off);
			struct mmsb_delta_desc d = dt_dense(t, 0, off, len);
			/* Odd rounds DENSE only. */
			u32 enc = round & 1 ? MMSB_DELTA_DENSE :
				  prandom_u32_state(&rs) % 3, set = 0;

			for (j = 0; j < PG_SIZE; j++)
				t->payload[j] = prandom_u32_state(&rs);
			memset(t->mask, 0, sizeof(t->mask));
			for (j = 0; j < len; j++)
				if (prandom_u32_state(&rs) & 1) {
					t->mask[j / 8] |= BIT(j % 8);
					set++;
				}
			if (enc != MMSB_DELTA_DENSE) {
				d.encoding = enc;
				d.mask = t->umask;
			}
			if (enc == MMSB_DELTA_SPARSE) {
				if (!set)
					d.encoding = MMSB_DELTA_MASKED;
				else
					d.payload_len = set;
			}
			/* As in a large submission: one 16 KiB chunk holds all. */
			t->b.left = 4096;
			kd = dt_add(test, &d, round * 100 + i + 1);
			mmsb_delta_apply(kd, model);
		}
		dt_apply_chunk(test, t, dt_take_chunk(test, t), round + 1, &st);
		KUNIT_ASSERT_MEMEQ(test, t->page[0]->data, model, PG_SIZE);
		KUNIT_EXPECT_EQ(test, st.processed, 32);
		KUNIT_EXPECT_EQ(test, t->page[0]->epoch, round + 1);
		KUNIT_EXPECT_EQ(test, t->page[0]->last_delta_id,
				round * 100 + 32);
	}
}

/*
 * Epochs: page at epoch 0.  Tick 1: [any, any, any] -> epoch 1.
 * Tick 2: [E=5 stale, E=1 applies, E=1 stale: changed this tick]
 * -> epoch 2; a second chunk of tick 2: [any] applies, no second step.
 * Each delta's record carries its status and the epoch after its tick.
 */
static void mmsb_delta_test_epochs(struct kunit *test)
{
	static const int status2[] = { -ESTALE, 0, -ESTALE };
	struct dt *t = test->priv;
	struct mmsb_page *page = t->page[0];
	struct mmsb_engine_stats st = { 0 };
	struct mmsb_kdelta *kd[3];
	struct mmsb_delta_desc d;
	struct mmsb_chunk *c;
	int i;

	for (i = 0; i < 3; i++) {
		d = dt_dense(t, 0, i, 1);
		dt_add(test, &d, i + 1);
	}
	dt_apply_chunk(test, t, dt_take_chunk(test, t), 1, &st);
	KUNIT_EXPECT_EQ(test, st.processed, 3);
	KUNIT_EXPECT_EQ(test, st.conflicts, 0);
	KUNIT_EXPECT_EQ(test, page->epoch, 1);

	memset(&st, 0, sizeof(st));
	for (i = 0; i < 3; i++) {
		d = dt_dense(t, 0, i, 1);
		d.expected_epoch = i ? 1 : 5;
		kd[i] = dt_add(test, &d, 10 + i);
	}
	c = dt_take_chunk(test, t);
	/* The records outlive the apply while the batch would hold them. */
	c->batch = &c->bspace;
	dt_apply_chunk(test, t, c, 2, &st);
	KUNIT_EXPECT_EQ(test, st.processed, 1);
	KUNIT_EXPECT_EQ(test, st.conflicts, 2);
	KUNIT_EXPECT_EQ(test, st.pages_changed, 1);
	KUNIT_EXPECT_EQ(test, page->epoch, 2);
	for (i = 0; i < 3; i++) {
		KUNIT_EXPECT_EQ(test, kd[i]->status, status2[i]);
		KUNIT_EXPECT_EQ(test, kd[i]->epoch, 2);
	}
	mmsb_chunk_put(&t->ctx, c);

	memset(&st, 0, sizeof(st));
	d = dt_dense(t, 0, 0, 1);
	dt_add(test, &d, 20);
	dt_apply_chunk(test, t, dt_take_chunk(test, t), 2, &st);
	KUNIT_EXPECT_EQ(test, st.processed, 1);
	KUNIT_EXPECT_EQ(test, st.pages_changed, 0);
	KUNIT_EXPECT_EQ(test, page->epoch, 2);
}

/*
 * A batch: its delta's page is freed after submission, so the delta is
 * dropped with -EIDRM.  The batch ends only when the tick says its
 * deltas were handled and completes only at the end of the tick; its
 * chunk, with the result, stays until the owner lets go.
 */
static void mmsb_delta_test_freed_page(struct kunit *test)
{
	struct dt *t = test->priv;
	struct mmsb_engine_stats st = { 0 };
	struct mmsb_delta_desc d = dt_dense(t, 3, 0, 4);
	struct mmsb_batch *batch;
	struct mmsb_kdelta *kd;
	struct mmsb_chunk *c;
	u32 applied = 1;

	dt_builder(t, false, true);
	kd = dt_add(test, &d, 7);
	c = dt_take_chunk(test, t);
	batch = t->b.batch;
	KUNIT_ASSERT_PTR_EQ(test, batch, &c->bspace);
	mmsb_batch_add_chunk(batch, c);
	mmsb_batch_arm(batch);
	/* Its delta is still queued: arming did not end it. */
	KUNIT_EXPECT_TRUE(test, llist_empty(&t->ctx.ended));
	mmsb_builder_finish(&t->b);
	KUNIT_ASSERT_EQ(test, mmsb_page_free(&t->table, t->page[3]->id,
					     current_cred(), true), 0);
	dt_apply_chunk(test, t, c, 1, &st);
	KUNIT_EXPECT_EQ(test, st.rejected, 1);
	KUNIT_EXPECT_TRUE(test, llist_empty(&t->ctx.ended));
	mmsb_batch_handled(batch, 1);
	/* Handled, but complete only at the end of the tick. */
	KUNIT_EXPECT_FALSE(test, llist_empty(&t->ctx.ended));
	KUNIT_EXPECT_FALSE(test, completion_done(&batch->completion));
	mmsb_batch_end_all(&t->ctx);
	KUNIT_EXPECT_TRUE(test, completion_done(&batch->completion));
	KUNIT_EXPECT_EQ(test, kd->status, -EIDRM);
	KUNIT_EXPECT_EQ(test, kd->id, 7);
	KUNIT_EXPECT_EQ(test, t->page[3]->epoch, 0);
	/* Reporting to nobody (the owner is gone) still counts. */
	KUNIT_EXPECT_EQ(test, mmsb_batch_report(batch, NULL, true, &applied), 0);
	KUNIT_EXPECT_EQ(test, applied, 0);
	mmsb_batch_put(batch);
}

/*
 * The page cache across submissions: a second submission finds the page
 * without a lookup and its chunk takes one reference; once a page left
 * the table, the entry is not trusted, even though the page's struct is
 * still referenced (here by the test), and the delta gets -ENOENT.
 */
static void mmsb_delta_test_page_cache(struct kunit *test)
{
	struct dt *t = test->priv;
	struct mmsb_delta_desc d = dt_dense(t, 0, 0, 1);
	struct mmsb_chunk *c;
	int i;

	for (i = 0; i < 2; i++) {
		dt_builder(t, false, false);
		dt_add(test, &d, i + 1);
		c = dt_take_chunk(test, t);
		KUNIT_EXPECT_EQ(test, c->nr_pages, 1);
		KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 3);
		mmsb_builder_finish(&t->b);
		mmsb_chunk_retire(&t->ctx, c);
		KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 2);
	}
	KUNIT_EXPECT_EQ(test, t->cache.valid, BIT_ULL(t->page[0]->id % 64));

	KUNIT_ASSERT_EQ(test, mmsb_page_free(&t->table, t->page[0]->id,
					     current_cred(), true), 0);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 1);
	dt_builder(t, false, false);
	KUNIT_EXPECT_EQ(test, dt_delta_add(test, &d, 3), -ENOENT);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 1);
	/* Other pages are looked up again, and found. */
	d = dt_dense(t, 1, 0, 1);
	KUNIT_EXPECT_EQ(test, dt_delta_add(test, &d, 4), 0);
	c = dt_take_chunk(test, t);
	mmsb_builder_finish(&t->b);
	mmsb_chunk_retire(&t->ctx, c);
}

/* What mmsb_builder_resume() refused, in order. */
struct dt_refused {
	u32 n;
	u32 index[4];
	int status[4];
};

static void dt_refuse(void *arg, u32 index, int status)
{
	struct dt_refused *r = arg;

	if (r->n < ARRAY_SIZE(r->index)) {
		r->index[r->n] = index;
		r->status[r->n] = status;
	}
	r->n++;
}

/*
 * A parked submission's open chunk holds no page; its resume takes the
 * pages still in the table again and refuses the records of a page
 * freed meanwhile:
 *
 *	records 0..3 on pages 0 1 0 2    park: refs 3 -> 2 each
 *	free page 1                       resume: record 1 -EIDRM
 *	records 0 2 3 left, on pages 0 0 2, the chunk holding pages 0 and 2
 */
static void mmsb_delta_test_park(struct kunit *test)
{
	static const int pg[] = { 0, 1, 0, 2 };
	static const u32 left[] = { 0, 2, 3 };
	struct dt *t = test->priv;
	struct dt_refused r = { 0 };
	struct mmsb_delta_desc d;
	struct mmsb_kdelta *kd;
	struct mmsb_chunk *c;
	u32 i;

	for (i = 0; i < ARRAY_SIZE(pg); i++) {
		d = dt_dense(t, pg[i], i, 1);
		KUNIT_ASSERT_EQ(test, mmsb_delta_add(&t->b, &d, i + 1, i), 0);
	}
	c = t->b.cur;
	KUNIT_ASSERT_EQ(test, c->nr_pages, 3);
	/* The table's, the test's (from create) and the chunk's. */
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[1]->ref), 3);

	mmsb_builder_park(&t->b);
	KUNIT_EXPECT_EQ(test, c->nr_pages, 0);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ_MSG(test, refcount_read(&t->page[i]->ref), 2,
				    "page %u", i);
	KUNIT_ASSERT_EQ(test, mmsb_page_free(&t->table, t->page[1]->id,
					     current_cred(), true), 0);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[1]->ref), 1);

	mmsb_builder_resume(&t->b, &t->cache, dt_refuse, &r);
	KUNIT_ASSERT_EQ(test, r.n, 1);
	KUNIT_EXPECT_EQ(test, r.index[0], 1);
	KUNIT_EXPECT_EQ(test, r.status[0], -EIDRM);
	KUNIT_ASSERT_EQ(test, c->nr, 3);
	KUNIT_EXPECT_EQ(test, c->nr_pages, 2);
	KUNIT_EXPECT_EQ(test, c->last_index, 3);
	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd)) {
		KUNIT_EXPECT_EQ(test, kd->index, left[i]);
		KUNIT_EXPECT_EQ(test, kd->offset, left[i]);
		KUNIT_EXPECT_PTR_EQ(test, kd->page, t->page[pg[left[i]]]);
		KUNIT_EXPECT_PTR_EQ(test, kd->tick_next, NULL);
	}
	KUNIT_EXPECT_EQ(test, (u8 *)kd - c->mem, c->used);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 3);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[1]->ref), 1);
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[2]->ref), 3);
	mmsb_chunk_retire(&t->ctx, dt_take_chunk(test, t));
	KUNIT_EXPECT_EQ(test, refcount_read(&t->page[0]->ref), 2);
}

/*
 * mmsb_copy_words(), the apply path's copy of small payloads, at every
 * length it takes and at each misalignment of either side: the window
 * gets exactly the source's bytes, and no byte around it is touched.
 */
static void mmsb_delta_test_copy_words(struct kunit *test)
{
	enum { PAD = 16, BUF = MMSB_COPY_WORDS_MAX + 2 * PAD + 8 };
	u8 *src = kunit_kmalloc(test, BUF, GFP_KERNEL);
	u8 *dst = kunit_kmalloc(test, BUF, GFP_KERNEL);
	size_t len, so, dof, i;

	KUNIT_ASSERT_NOT_NULL(test, src);
	KUNIT_ASSERT_NOT_NULL(test, dst);
	for (i = 0; i < BUF; i++)
		src[i] = i * 7 + 1;
	for (len = 0; len <= MMSB_COPY_WORDS_MAX; len++)
		for (so = 0; so < 8; so++)
			for (dof = 0; dof < 8; dof++) {
				memset(dst, 0xa5, BUF);
				mmsb_copy_words(dst + PAD + dof, src + so, len);
				for (i = 0; i < BUF; i++) {
					bool in = i >= PAD + dof &&
						  i < PAD + dof + len;
					u8 want = in ? src[so + i - PAD - dof] :
						       0xa5;

					if (dst[i] != want) {
						KUNIT_FAIL(test,
							   "len %zu src+%zu dst+%zu: byte %zu is %#x, not %#x",
							   len, so, dof, i,
							   dst[i], want);
						return;
					}
				}
			}
}

static struct kunit_case mmsb_delta_cases[] = {
	KUNIT_CASE_PARAM(mmsb_delta_test_validation, bad_gen_params),
	KUNIT_CASE(mmsb_delta_test_permission),
	KUNIT_CASE(mmsb_delta_test_masked_sparse),
	KUNIT_CASE(mmsb_delta_test_partition),
	KUNIT_CASE(mmsb_delta_test_partition_changed),
	KUNIT_CASE(mmsb_delta_test_merge_equals_sequential),
	KUNIT_CASE(mmsb_delta_test_epochs),
	KUNIT_CASE(mmsb_delta_test_freed_page),
	KUNIT_CASE(mmsb_delta_test_page_cache),
	KUNIT_CASE(mmsb_delta_test_park),
	KUNIT_CASE(mmsb_delta_test_copy_words),
	{}
};

static struct kunit_suite mmsb_delta_suite = {
	.name = "mmsb_delta",
	.init = dt_init,
	.exit = dt_exit,
	.test_cases = mmsb_delta_cases,
};

kunit_test_suite(mmsb_delta_suite);
