// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suites of propagation (kmod/propagate.c).
 *
 * mmsb_dirty: how the bytes a tick changed on a page are kept
 * (mmsb_dirty_add()): sorted, disjoint ranges, overlapping and adjacent
 * ones merged, and past MMSB_DIRTY_RANGES the two closest merged, or
 * all of them when they cover more bytes than their gaps.
 *
 * mmsb_propagate: ticks over small graphs on a bus without a device
 * (bus_test.h), deltas submitted from user memory and the tick run by
 * mmsb_tick_flush() (tick_us = 0: nothing else runs one).  Pages are
 * 64 bytes, first filled by a tick before any edge exists: the first
 * page (the source of every graph) with 0x55, the others with 0xee, so
 * a byte that propagation did not write is still 0xee, and one it
 * wrote from a byte the source did not change is 0x55.
 * Graphs are drawn in the comments, "PT" for PASSTHROUGH and "NT" for
 * NOTIFY edges.
 */
#include <kunit/test.h>
#include <linux/string.h>

#include "bus_test.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

/* ---- mmsb_dirty ---------------------------------------------------- */

#define DT_MAX_ADDS	8

struct dirty_case {
	const char *name;
	unsigned int nr_adds;
	struct mmsb_dirty_range add[DT_MAX_ADDS];
	unsigned int nr;
	struct mmsb_dirty_range want[MMSB_DIRTY_RANGES];
};

static const struct dirty_case dirty_cases[] = {
	{ "one", 1, { { 5, 9 } }, 1, { { 5, 9 } } },
	/* [20,30) then [0,4) then [40,41): kept sorted */
	{ "disjoint, out of order", 3, { { 20, 30 }, { 0, 4 }, { 40, 41 } },
	  3, { { 0, 4 }, { 20, 30 }, { 40, 41 } } },
	/* [0,4) [4,8): one range; [9,10) is one byte off: two */
	{ "adjacent after", 3, { { 0, 4 }, { 4, 8 }, { 9, 10 } },
	  2, { { 0, 8 }, { 9, 10 } } },
	{ "adjacent before", 2, { { 4, 8 }, { 0, 4 } }, 1, { { 0, 8 } } },
	{ "overlapping", 2, { { 0, 10 }, { 5, 15 } }, 1, { { 0, 15 } } },
	{ "contained", 2, { { 0, 10 }, { 2, 3 } }, 1, { { 0, 10 } } },
	{ "covering", 2, { { 2, 3 }, { 0, 10 } }, 1, { { 0, 10 } } },
	/* [0,4) [8,12) [16,20), then [3,17) bridges all three */
	{ "bridging", 4, { { 0, 4 }, { 8, 12 }, { 16, 20 }, { 3, 17 } },
	  1, { { 0, 20 } } },
	/* [10,12) [20,22), then [12,20) fills the gap exactly */
	{ "filling a gap", 3, { { 10, 12 }, { 20, 22 }, { 12, 20 } },
	  1, { { 10, 22 } } },
	{ "full", 4, { { 0, 2 }, { 10, 12 }, { 20, 22 }, { 30, 32 } },
	  4, { { 0, 2 }, { 10, 12 }, { 20, 22 }, { 30, 32 } } },
	/*
	 *   [0,2) [10,12) [13,15) [30,32) + [50,52)
	 *   gaps    8       1       15      18
	 * the two closest, [10,12) and [13,15), become [10,15)
	 */
	{ "fifth merges the closest pair", 5,
	  { { 0, 2 }, { 10, 12 }, { 13, 15 }, { 30, 32 }, { 50, 52 } },
	  4, { { 0, 2 }, { 10, 15 }, { 30, 32 }, { 50, 52 } } },
	/* The new range is one of the closest pair: [30,32) + [33,34) */
	{ "fifth joins its neighbour", 5,
	  { { 0, 2 }, { 10, 12 }, { 20, 22 }, { 30, 32 }, { 33, 34 } },
	  4, { { 0, 2 }, { 10, 12 }, { 20, 22 }, { 30, 34 } } },
	/* Before the closest pair, [40,42) and [43,45): apart from it */
	{ "fifth before the closest pair", 5,
	  { { 10, 12 }, { 40, 42 }, { 43, 45 }, { 80, 82 }, { 0, 2 } },
	  4, { { 0, 2 }, { 10, 12 }, { 40, 45 }, { 80, 82 } } },
	/* Before all of them: [0,1) is closest to [3,5) */
	{ "fifth first", 5,
	  { { 3, 5 }, { 20, 22 }, { 40, 42 }, { 60, 62 }, { 0, 1 } },
	  4, { { 0, 5 }, { 20, 22 }, { 40, 42 }, { 60, 62 } } },
	/* Equal gaps: the lowest pair goes */
	{ "tie", 5, { { 0, 1 }, { 10, 11 }, { 20, 21 }, { 30, 31 }, { 40, 41 } },
	  4, { { 0, 11 }, { 20, 21 }, { 30, 31 }, { 40, 41 } } },
	/*
	 *   [0,10) [12,20) [22,30) [32,40) + [42,50)
	 *   42 bytes changed, 8 in the gaps between them: one range
	 */
	{ "fifth covers more than the gaps", 5,
	  { { 0, 10 }, { 12, 20 }, { 22, 30 }, { 32, 40 }, { 42, 50 } },
	  1, { { 0, 50 } } },
	/* 10 bytes changed, 10 in the gaps: not fewer, the closest pair */
	{ "fifth covers as much as the gaps", 5,
	  { { 0, 2 }, { 3, 5 }, { 8, 10 }, { 13, 15 }, { 18, 20 } },
	  4, { { 0, 5 }, { 8, 10 }, { 13, 15 }, { 18, 20 } } },
	/* Eight ranges, four merges: every byte a range had stays covered */
	{ "eight", 8,
	  { { 0, 1 }, { 100, 101 }, { 3, 4 }, { 200, 201 }, { 104, 105 },
	    { 300, 301 }, { 203, 204 }, { 400, 401 } },
	  4, { { 0, 4 }, { 100, 204 }, { 300, 301 }, { 400, 401 } } },
	/* The largest window: end at U32_MAX */
	{ "top of the range", 2, { { 0, 1 }, { U32_MAX - 1, U32_MAX } },
	  2, { { 0, 1 }, { U32_MAX - 1, U32_MAX } } },
};

static void dirty_case_desc(const struct dirty_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(dirty, dirty_cases, dirty_case_desc);

static void mmsb_dirty_test_add(struct kunit *test)
{
	const struct dirty_case *c = test->param_value;
	struct mmsb_dirty d = { .id = 1 };
	unsigned int i, j;

	for (i = 0; i < c->nr_adds; i++) {
		struct mmsb_dirty_range got;
		bool found = false, holds;

		mmsb_dirty_add(&d, c->add[i].start, c->add[i].end);
		got = d.hint;
		/* Invariant after every add: sorted, disjoint, not adjacent. */
		KUNIT_ASSERT_GE(test, d.nr, 1);
		KUNIT_ASSERT_LE(test, d.nr, MMSB_DIRTY_RANGES);
		/* The hint is the range of @d that holds the bytes added. */
		for (j = 0; j < d.nr; j++)
			found |= d.r[j].start == got.start &&
				 d.r[j].end == got.end;
		KUNIT_EXPECT_TRUE_MSG(test, found,
				      "add %u: hint [%u, %u), not a range",
				      i, got.start, got.end);
		holds = got.start <= c->add[i].start && c->add[i].end <= got.end;
		KUNIT_EXPECT_TRUE_MSG(test, holds,
				      "add %u: hint [%u, %u) misses [%u, %u)",
				      i, got.start, got.end, c->add[i].start,
				      c->add[i].end);
		for (j = 0; j < d.nr; j++) {
			KUNIT_EXPECT_LT(test, d.r[j].start, d.r[j].end);
			if (j)
				KUNIT_EXPECT_GT_MSG(test, d.r[j].start,
						    d.r[j - 1].end,
						    "add %u: ranges %u and %u touch",
						    i, j - 1, j);
		}
		/* Every byte added so far is still covered. */
		for (j = 0; j <= i; j++) {
			unsigned int k;
			bool in = false;

			for (k = 0; k < d.nr; k++)
				in |= d.r[k].start <= c->add[j].start &&
				      c->add[j].end <= d.r[k].end;
			KUNIT_EXPECT_TRUE_MSG(test, in,
					      "add %u: [%u, %u) lost", i,
					      c->add[j].start, c->add[j].end);
		}
	}
	KUNIT_ASSERT_EQ(test, d.nr, c->nr);
	for (i = 0; i < c->nr; i++) {
		KUNIT_EXPECT_EQ_MSG(test, d.r[i].start, c->want[i].start,
				    "range %u", i);
		KUNIT_EXPECT_EQ_MSG(test, d.r[i].end, c->want[i].end,
				    "range %u", i);
	}
	KUNIT_EXPECT_EQ(test, d.id, 1);
}

static struct kunit_case mmsb_dirty_cases[] = {
	KUNIT_CASE_PARAM(mmsb_dirty_test_add, dirty_gen_params),
	{}
};

static struct kunit_suite mmsb_dirty_suite = {
	.name = "mmsb_dirty",
	.test_cases = mmsb_dirty_cases,
};

/* ---- mmsb_propagate ------------------------------------------------ */

#define PG	64
#define FILL	0xee
#define SRC	0x55

static int pt_init(struct kunit *test)
{
	tb_start(test, 0, 1024);
	return 0;
}

static void pt_exit(struct kunit *test)
{
	tb_stop(test);
}

/* Run a tick over what is queued, and wait for it. */
static void pt_tick(struct kunit *test)
{
	struct tb *tb = test->priv;

	KUNIT_ASSERT_EQ(test, mmsb_tick_flush(&tb->tick), 0);
	KUNIT_ASSERT_EQ(test, mmsb_queue_reserved(&tb->tick.queue), 0);
}

/* @n pages of PG bytes, filled by one tick (SRC, then FILL); no edge. */
static void pt_pages(struct kunit *test, struct mmsb_page **p, unsigned int n)
{
	struct tb *tb = test->priv;
	u8 fill[PG];
	unsigned int i;

	for (i = 0; i < n; i++) {
		memset(fill, i ? FILL : SRC, sizeof(fill));
		p[i] = tb_page(test, tb, PG);
		tb_write(test, tb, p[i], 0, fill, PG);
	}
	pt_tick(test);
	for (i = 0; i < n; i++)
		KUNIT_ASSERT_EQ(test, p[i]->epoch, 1);
}

static void pt_edge(struct kunit *test, struct mmsb_page *from,
		    struct mmsb_page *to, enum mmsb_graph_edge_kind kind)
{
	struct tb *tb = test->priv;

	KUNIT_ASSERT_EQ(test, mmsb_prop_add_edge(&tb->prop, from, to, kind), 0);
}

/*
 * @page's bytes: those of the @nr ranges @r equal @src's same bytes, all
 * others are FILL.
 */
static void expect_got(struct kunit *test, struct mmsb_page *page,
		       const struct mmsb_dirty_range *r, unsigned int nr,
		       struct mmsb_page *src)
{
	u8 got[PG], want[PG];
	unsigned int i;

	memset(want, FILL, sizeof(want));
	for (i = 0; i < nr; i++)
		tb_read(src, r[i].start, want + r[i].start,
			r[i].end - r[i].start);
	tb_read(page, 0, got, min_t(size_t, page->size, PG));
	for (i = 0; i < min_t(size_t, page->size, PG); i++)
		KUNIT_EXPECT_EQ_MSG(test, got[i], want[i],
				    "page %llu byte %u", page->id, i);
}

static const u8 abcd[] = "abcdefgh";

/*
 * a -PT-> b -PT-> c: a tick writes a[4,8) and a[40,42); b and c get
 * those six bytes and no other, once each, with a's bytes (not b's
 * FILL around them).  A tick that changes nothing of a leaves b and c.
 */
static void mmsb_propagate_test_chain(struct kunit *test)
{
	static const struct mmsb_dirty_range r[] = { { 4, 8 }, { 40, 42 } };
	struct tb *tb = test->priv;
	struct mmsb_tick_metrics last;
	struct mmsb_tick_totals tot;
	struct mmsb_page *p[4];

	pt_pages(test, p, 4);
	pt_edge(test, p[0], p[1], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[1], p[2], MMSB_GRAPH_PASSTHROUGH);

	tb_write(test, tb, p[0], 4, abcd, 4);
	tb_write(test, tb, p[0], 40, abcd + 4, 2);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, p[0]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[1]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[2]->epoch, 2);
	expect_got(test, p[1], r, ARRAY_SIZE(r), p[0]);
	expect_got(test, p[2], r, ARRAY_SIZE(r), p[0]);
	KUNIT_EXPECT_EQ(test, p[2]->data[4], 'a');
	tb_stats(tb, &last, &tot);
	KUNIT_EXPECT_EQ(test, last.propagated, 2);
	KUNIT_EXPECT_EQ(test, last.pages_changed, 3);

	/* d, not in the graph, changes: nothing travels. */
	tb_write(test, tb, p[3], 0, abcd, 8);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, p[3]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[1]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[2]->epoch, 2);
	expect_got(test, p[2], r, ARRAY_SIZE(r), p[0]);
	tb_stats(tb, &last, &tot);
	KUNIT_EXPECT_EQ(test, last.propagated, 0);
}

/*
 * More changed ranges than a page keeps: five one-tick writes to a
 *   a[0,2) a[10,12) a[13,15) a[30,32) a[50,52)
 * reach b as [0,2) [10,15) [30,32) [50,52): the two closest merged, so
 * b[12] (a's byte, SRC) travels too, but nothing of [15,30) or [32,50).
 */
static void mmsb_propagate_test_many_ranges(struct kunit *test)
{
	static const struct mmsb_dirty_range w[] = {
		{ 0, 2 }, { 10, 12 }, { 13, 15 }, { 30, 32 }, { 50, 52 },
	};
	static const struct mmsb_dirty_range r[] = {
		{ 0, 2 }, { 10, 15 }, { 30, 32 }, { 50, 52 },
	};
	struct tb *tb = test->priv;
	struct mmsb_page *p[2];
	unsigned int i;

	pt_pages(test, p, 2);
	pt_edge(test, p[0], p[1], MMSB_GRAPH_PASSTHROUGH);
	for (i = 0; i < ARRAY_SIZE(w); i++)
		tb_write(test, tb, p[0], w[i].start, abcd,
			 w[i].end - w[i].start);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, p[1]->epoch, 2);
	expect_got(test, p[1], r, ARRAY_SIZE(r), p[0]);
	KUNIT_EXPECT_EQ(test, p[1]->data[12], SRC);
	KUNIT_EXPECT_EQ(test, p[1]->data[40], FILL);
}

/*
 *        a
 *      / | \          a -PT-> b, c, d;  b -PT-> d;  c -PT-> d
 *     b  |  c         d also gets a delta of its own in the tick
 *      \ | /
 *        d
 * One tick: d is reached by three paths and changed by its delta, yet
 * its epoch rises once; it gets a's bytes and its own.
 */
static void mmsb_propagate_test_diamond(struct kunit *test)
{
	static const struct mmsb_dirty_range r[] = { { 8, 12 } };
	struct tb *tb = test->priv;
	struct mmsb_tick_metrics last;
	struct mmsb_tick_totals tot;
	struct mmsb_page *p[4];
	int i;

	pt_pages(test, p, 4);
	pt_edge(test, p[0], p[1], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[0], p[2], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[1], p[3], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[2], p[3], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[0], p[3], MMSB_GRAPH_PASSTHROUGH);

	tb_write(test, tb, p[0], 8, abcd, 4);
	tb_write(test, tb, p[3], 60, abcd, 2);
	pt_tick(test);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ_MSG(test, p[i]->epoch, 2, "page %d", i);
	expect_got(test, p[1], r, 1, p[0]);
	expect_got(test, p[2], r, 1, p[0]);
	KUNIT_EXPECT_EQ(test, p[3]->data[60], 'a');
	KUNIT_EXPECT_EQ(test, p[3]->data[61], 'b');
	KUNIT_EXPECT_MEMEQ(test, p[3]->data + 8, abcd, 4);
	KUNIT_EXPECT_EQ(test, p[3]->data[7], FILL);
	KUNIT_EXPECT_EQ(test, p[3]->data[12], FILL);
	tb_stats(tb, &last, &tot);
	KUNIT_EXPECT_EQ(test, last.pages_changed, 4);
	KUNIT_EXPECT_EQ(test, last.propagated, 3);

	/* The next tick: once more, one step each. */
	tb_write(test, tb, p[0], 9, abcd + 4, 1);
	pt_tick(test);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ_MSG(test, p[i]->epoch, 3, "page %d", i);
	KUNIT_EXPECT_EQ(test, p[3]->data[9], 'e');
}

/*
 * a -NT-> b -PT-> c,  b -NT-> d,  a -PT-> e
 * A NOTIFY edge marks b changed without bytes: b's epoch rises, its
 * bytes stay; its PASSTHROUGH dependent c gets no byte and no step; its
 * NOTIFY dependent d steps.  A waiter on b sees the step.
 */
static void mmsb_propagate_test_notify(struct kunit *test)
{
	static const struct mmsb_dirty_range r[] = { { 0, 4 } };
	struct tb *tb = test->priv;
	struct mmsb_tick_metrics last;
	struct mmsb_tick_totals tot;
	struct mmsb_page *p[5];

	pt_pages(test, p, 5);
	pt_edge(test, p[0], p[1], MMSB_GRAPH_NOTIFY);
	pt_edge(test, p[1], p[2], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[1], p[3], MMSB_GRAPH_NOTIFY);
	pt_edge(test, p[0], p[4], MMSB_GRAPH_PASSTHROUGH);

	tb_write(test, tb, p[0], 0, abcd, 4);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, p[0]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[1]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[2]->epoch, 1);
	KUNIT_EXPECT_EQ(test, p[3]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[4]->epoch, 2);
	expect_got(test, p[1], NULL, 0, p[0]);
	expect_got(test, p[2], NULL, 0, p[0]);
	expect_got(test, p[3], NULL, 0, p[0]);
	expect_got(test, p[4], r, 1, p[0]);
	tb_stats(tb, &last, &tot);
	KUNIT_EXPECT_EQ(test, last.propagated, 3);
	KUNIT_EXPECT_EQ(test, last.pages_changed, 4);
}

/*
 * a -PT-> s, where s has 16 bytes: what a changes past s's end is
 * clipped off (no byte lands past s's end, in the rest of its mapping);
 * a change wholly past it does not step s.
 */
static void mmsb_propagate_test_clip(struct kunit *test)
{
	static const struct mmsb_dirty_range r[] = { { 12, 16 } };
	struct tb *tb = test->priv;
	struct mmsb_page *a, *s;
	u8 fill[16];

	memset(fill, FILL, sizeof(fill));
	a = tb_page(test, tb, PG);
	s = tb_page(test, tb, sizeof(fill));
	tb_write(test, tb, s, 0, fill, sizeof(fill));
	pt_tick(test);
	pt_edge(test, a, s, MMSB_GRAPH_PASSTHROUGH);

	/* a[12,20): s gets [12,16), and its mapping's tail stays zero */
	tb_write(test, tb, a, 12, abcd, 8);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, s->epoch, 2);
	expect_got(test, s, r, 1, a);
	KUNIT_EXPECT_NULL(test, memchr_inv(s->data + s->size, 0, 8));

	/* a[16,24) and a[40,48): nothing for s */
	tb_write(test, tb, a, 16, abcd, 8);
	tb_write(test, tb, a, 40, abcd, 8);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, a->epoch, 2);
	KUNIT_EXPECT_EQ(test, s->epoch, 2);
	expect_got(test, s, r, 1, a);
}

/*
 * a -PT-> b -PT-> c and a -PT-> d -PT-> c, then b is freed.  Until its
 * edges are removed (the free path does that after taking the id out
 * of the table) a tick skips b: b's bytes and epoch stay, c still gets
 * a's bytes through d and steps once.  Once removed, the same.
 */
static void mmsb_propagate_test_freed_middle(struct kunit *test)
{
	static const struct mmsb_dirty_range r[] = { { 0, 8 } };
	struct tb *tb = test->priv;
	struct mmsb_tick_metrics last;
	struct mmsb_tick_totals tot;
	struct mmsb_page *p[4];

	pt_pages(test, p, 4);
	pt_edge(test, p[0], p[1], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[1], p[2], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[0], p[3], MMSB_GRAPH_PASSTHROUGH);
	pt_edge(test, p[3], p[2], MMSB_GRAPH_PASSTHROUGH);
	KUNIT_ASSERT_EQ(test, mmsb_page_free(&tb->table, p[1]->id,
					     current_cred(), false), 0);

	tb_write(test, tb, p[0], 0, abcd, 8);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, p[1]->epoch, 1);
	expect_got(test, p[1], NULL, 0, p[0]);
	KUNIT_EXPECT_EQ(test, p[2]->epoch, 2);
	KUNIT_EXPECT_EQ(test, p[3]->epoch, 2);
	expect_got(test, p[2], r, 1, p[0]);
	expect_got(test, p[3], r, 1, p[0]);
	tb_stats(tb, &last, &tot);
	KUNIT_EXPECT_EQ(test, last.propagated, 2);

	mmsb_prop_remove_page(&tb->prop, p[1]->id);
	mutex_lock(&tb->graph.lock);
	KUNIT_EXPECT_EQ(test, mmsb_graph_nr_edges(&tb->graph), 2);
	mutex_unlock(&tb->graph.lock);
	tb_write(test, tb, p[0], 0, abcd + 4, 4);
	pt_tick(test);
	KUNIT_EXPECT_EQ(test, p[1]->epoch, 1);
	KUNIT_EXPECT_EQ(test, p[2]->epoch, 3);
	expect_got(test, p[2], r, 1, p[0]);
	KUNIT_EXPECT_EQ(test, p[2]->data[0], 'e');
}

static struct kunit_case mmsb_propagate_cases[] = {
	KUNIT_CASE(mmsb_propagate_test_chain),
	KUNIT_CASE(mmsb_propagate_test_many_ranges),
	KUNIT_CASE(mmsb_propagate_test_diamond),
	KUNIT_CASE(mmsb_propagate_test_notify),
	KUNIT_CASE(mmsb_propagate_test_clip),
	KUNIT_CASE(mmsb_propagate_test_freed_middle),
	{}
};

static struct kunit_suite mmsb_propagate_suite = {
	.name = "mmsb_propagate",
	.init = pt_init,
	.exit = pt_exit,
	.test_cases = mmsb_propagate_cases,
};

kunit_test_suites(&mmsb_dirty_suite, &mmsb_propagate_suite);
