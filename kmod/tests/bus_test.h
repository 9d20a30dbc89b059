/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A bus without a device, for the suites that run ticks (tick_test.c,
 * propagate_test.c): a page table, the submission state, an engine
 * without workers, a graph with its propagation state and a tick with
 * its orchestrator, wired as submit.c and main.c wire them.
 *
 * Deltas go in as an unawaited submission does: mmsb_delta_add() from
 * user memory (an anonymous mapping of the test thread, kunit_vm_mmap()),
 * room from mmsb_tick_reserve(), then mmsb_tick_push().  Nothing here
 * runs a tick: the cases decide whether the timer, a kick or a flush
 * does.
 */
#ifndef _MMSB_BUS_TEST_H
#define _MMSB_BUS_TEST_H

#include <kunit/test.h>
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/mman.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "batch.h"
#include "delta.h"
#include "engine.h"
#include "graph.h"
#include "monitor.h"
#include "page.h"
#include "propagate.h"
#include "tick.h"

#define TB_PAGES	16
#define TB_BATCH_MAX	4096
#define TB_MAX_EDGES	64

struct tb {
	struct mmsb_page_table table;
	struct mmsb_delta_ctx ctx;
	struct mmsb_engine eng;
	struct mmsb_graph graph;
	struct mmsb_prop prop;
	struct mmsb_monitor mon;
	struct mmsb_tick tick;
	struct mmsb_page_cache cache;
	struct mmsb_page *page[TB_PAGES];
	unsigned int nr_pages;
	/* @len bytes of user memory a delta's payload is copied from */
	u64 ubuf;
	size_t len;
	unsigned long ring_size;
	atomic64_t next_id;
	bool up;
};

/*
 * A bus whose tick has period @period_us (0: ticks on demand only) and
 * a ring of @ring_size deltas (a power of two); test->priv is set to it, and
 * tb_stop() undoes it (call it from the suite's exit).
 */
static inline struct tb *tb_start(struct kunit *test, unsigned int period_us,
				  unsigned long ring_size)
{
	struct mmsb_tick_config cfg = {
		.ring_size = ring_size,
		.period_us = period_us,
		.budget_us = 10 * USEC_PER_SEC,
		.batch_max = TB_BATCH_MAX,
	};
	/* Pages are freed at their last put (no reclaim hook): no GC. */
	struct mmsb_monitor_config mcfg = {
		.limit = 64 << 20,
		.threshold = 100,
		.batch_pages = 1,
		.cold_age = 1,
		.scan_pages = 1,
	};
	struct tb *tb = kunit_kzalloc(test, sizeof(*tb), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, tb);
	tb->len = PAGE_SIZE;
	tb->ring_size = ring_size;
	tb->ubuf = kunit_vm_mmap(test, NULL, 0, tb->len, PROT_READ | PROT_WRITE,
				 MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_NE_MSG(test, tb->ubuf, 0, "no user memory for payloads");
	KUNIT_ASSERT_EQ(test, mmsb_page_table_init(&tb->table, 64 << 20,
						   1 << 20), 0);
	mmsb_delta_ctx_init(&tb->ctx, &tb->table);
	KUNIT_ASSERT_EQ(test, mmsb_engine_init(&tb->eng, 0, "kunit"), 0);
	mmsb_graph_init(&tb->graph, TB_MAX_EDGES);
	KUNIT_ASSERT_EQ(test, mmsb_prop_init(&tb->prop, &tb->graph, &tb->table,
					     min(TB_BATCH_MAX, MMSB_TICK_CHUNK)),
			0);
	mcfg.delta_bytes = &tb->ctx.bytes;
	mmsb_monitor_init(&tb->mon, &tb->table, &mcfg);
	cfg.prop = &tb->prop;
	cfg.mon = &tb->mon;
	KUNIT_ASSERT_EQ(test, mmsb_tick_init(&tb->tick, &cfg, &tb->eng,
					     &tb->ctx), 0);
	tb->up = true;
	test->priv = tb;
	return tb;
}

/* Apply what is queued, stop the tick, free everything. */
static inline void tb_stop(struct kunit *test)
{
	struct tb *tb = test->priv;
	unsigned int i;

	if (!tb || !tb->up)
		return;
	mmsb_tick_destroy(&tb->tick);
	mmsb_prop_destroy(&tb->prop);
	mmsb_graph_destroy(&tb->graph);
	mmsb_engine_destroy(&tb->eng);
	KUNIT_EXPECT_EQ(test, atomic64_read(&tb->ctx.bytes), 0);
	mmsb_delta_ctx_destroy(&tb->ctx);
	for (i = 0; i < tb->nr_pages; i++)
		mmsb_page_put(tb->page[i]);
	mmsb_page_table_destroy(&tb->table);
	tb->up = false;
}

/* A zeroed page of @size bytes; the bus holds it until tb_stop(). */
static inline struct mmsb_page *tb_page(struct kunit *test, struct tb *tb,
					size_t size)
{
	struct mmsb_page *page;

	KUNIT_ASSERT_LT(test, tb->nr_pages, TB_PAGES);
	page = mmsb_page_create(&tb->table, size, 0600, 0, current_cred());
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(page), "mmsb_page_create(): %ld",
			       PTR_ERR(page));
	tb->page[tb->nr_pages++] = page;
	return page;
}

/*
 * A chunk holding one DENSE delta writing @len bytes of @bytes at @off
 * of @page, not queued yet.  Returns the chunk; its delta's id is the
 * bus's next one, also stored in @id if not NULL.
 */
static inline struct mmsb_chunk *tb_build(struct kunit *test, struct tb *tb,
					  struct mmsb_page *page, u32 off,
					  const void *bytes, u32 len, u64 *id)
{
	struct mmsb_delta_desc d = {
		.page_id = page->id,
		.offset = off,
		.len = len,
		.payload = tb->ubuf,
		.payload_len = len,
		.encoding = MMSB_DELTA_DENSE,
	};
	struct mmsb_builder b;
	struct mmsb_chunk *c;
	u64 did = atomic64_inc_return(&tb->next_id);

	KUNIT_ASSERT_LE(test, len, tb->len);
	KUNIT_ASSERT_EQ(test, copy_to_user(u64_to_user_ptr(tb->ubuf), bytes,
					   len), 0);
	mmsb_builder_init(&b, &tb->ctx, &tb->cache, current_cred(), false,
			  false, false, tb->ring_size);
	b.left = 1;
	KUNIT_ASSERT_EQ(test, mmsb_delta_add(&b, &d, did, 0), 0);
	c = b.cur;
	b.cur = NULL;
	mmsb_builder_finish(&b);
	if (id)
		*id = did;
	return c;
}

/* Queue @c as an unawaited submission does; false if there was no room. */
static inline bool tb_push(struct tb *tb, struct mmsb_chunk *c)
{
	if (mmsb_tick_reserve(&tb->tick, c->nr, true) != c->nr)
		return false;
	atomic64_add(c->nr, &tb->ctx.submitted);
	mmsb_tick_push(&tb->tick, c, false);
	return true;
}

/* Build and queue one DENSE delta; returns its id. */
static inline u64 tb_write(struct kunit *test, struct tb *tb,
			   struct mmsb_page *page, u32 off, const void *bytes,
			   u32 len)
{
	u64 id;
	struct mmsb_chunk *c = tb_build(test, tb, page, off, bytes, len, &id);

	if (!tb_push(tb, c)) {
		mmsb_chunk_retire(&tb->ctx, c);
		KUNIT_FAIL_AND_ABORT(test, "no room in the ring");
	}
	return id;
}

/*
 * @len bytes of @page's data from @off, copied under its sequence
 * counter as a reader of the mapping does (mmsb_read_begin() and
 * mmsb_read_retry() of the uapi).
 */
static inline void tb_read(struct mmsb_page *page, u32 off, void *out,
			   u32 len)
{
	const struct mmsb_page_header *hdr = page->hdr;
	u32 seq;

	do {
		/* Pairs with smp_store_release() in mmsb_page_write_end(). */
		seq = smp_load_acquire(&hdr->seq);
		memcpy(out, page->data + off, len);
		/* Pairs with smp_wmb() in mmsb_page_write_begin(). */
		smp_rmb();
	} while ((seq & 1) || READ_ONCE(hdr->seq) != seq);
}

/* The tick figures: the last tick's metrics and the totals. */
static inline void tb_stats(struct tb *tb, struct mmsb_tick_metrics *last,
			    struct mmsb_tick_totals *tot)
{
	u64 depth, capacity;

	mmsb_tick_read_stats(&tb->tick, last, tot, &depth, &capacity);
}

#endif /* _MMSB_BUS_TEST_H */
