// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_graph: the page dependency graph (kmod/graph.c) on
 * small graphs drawn case by case (see graph_test.h for the notation).
 */
#include <kunit/test.h>

#include "graph_test.h"

static void mmsb_graph_test_empty(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;

	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	KUNIT_EXPECT_FALSE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.visited, 0);
	KUNIT_EXPECT_EQ(test, graph_descendants(g, id(0), NULL, 0), 0);
	KUNIT_EXPECT_EQ(test, graph_del(g, id(0), id(1), PT), -ENOENT);
	KUNIT_EXPECT_EQ(test, graph_del_node(g, id(0)), 0);
	expect_topo(test, g);
}

static void mmsb_graph_test_self_loop(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;
	u64 cycle[2];

	/* a -> a */
	KUNIT_EXPECT_EQ(test, graph_add(g, id(0), id(0)), -ELOOP);
	KUNIT_EXPECT_EQ(test, graph_edges(g), 0);

	KUNIT_ASSERT_EQ(test, graph_plant(g, id(0), id(0)), 0);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, cycle, 2), -ELOOP);
	KUNIT_EXPECT_TRUE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.cycle_len, 1);
	KUNIT_EXPECT_EQ(test, cycle[0], id(0));
	KUNIT_EXPECT_EQ(test, graph_del_node(g, id(0)), 1);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
}

static void mmsb_graph_test_two_cycle(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;
	u64 cycle[4];

	/* a -> b, then b -> a closes a <-> b */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(1)), 0);
	KUNIT_EXPECT_EQ(test, graph_add(g, id(1), id(0)), -ELOOP);
	KUNIT_EXPECT_EQ(test, graph_add_kind(g, id(1), id(0), NT), -ELOOP);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);

	KUNIT_ASSERT_EQ(test, graph_plant(g, id(1), id(0)), 0);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, cycle, 4), -ELOOP);
	KUNIT_EXPECT_EQ(test, r.cycle_len, 2);
	expect_cycle(test, g, cycle, 2);
}

static void mmsb_graph_test_long_cycle(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	const unsigned int n = 1000;
	struct mmsb_graph_report r;
	unsigned int i;
	u64 *cycle;

	cycle = kunit_kmalloc_array(test, n, sizeof(*cycle), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cycle);
	/* p0 -> p1 -> ... -> p999, then p999 -> p0 */
	for (i = 0; i + 1 < n; i++)
		KUNIT_ASSERT_EQ(test, graph_add(g, id(i), id(i + 1)), 0);
	KUNIT_EXPECT_EQ(test, graph_add(g, id(n - 1), id(0)), -ELOOP);
	KUNIT_EXPECT_EQ(test, graph_add(g, id(n / 2), id(1)), -ELOOP);
	KUNIT_ASSERT_EQ(test, graph_plant(g, id(n - 1), id(0)), 0);

	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, cycle, n), -ELOOP);
	KUNIT_EXPECT_EQ(test, r.cycle_len, n);
	expect_cycle(test, g, cycle, n);
	/* a short buffer gets a prefix, and the full length */
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, cycle, 3), -ELOOP);
	KUNIT_EXPECT_EQ(test, r.cycle_len, n);
}

static void mmsb_graph_test_diamond(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;
	u64 desc[4];

	/*
	 *    a
	 *   / \
	 *  b   c
	 *   \ /
	 *    d
	 */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(1)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(2)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(1), id(3)), 0);
	KUNIT_ASSERT_EQ(test, graph_add_kind(g, id(2), id(3), NT), 0);

	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	KUNIT_EXPECT_FALSE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.visited, 4);
	expect_topo(test, g);

	/* d is reached twice but listed once */
	KUNIT_EXPECT_EQ(test, graph_descendants(g, id(0), desc, 4), 3);
	KUNIT_EXPECT_EQ(test, graph_descendants(g, id(1), desc, 4), 1);
	KUNIT_EXPECT_EQ(test, desc[0], id(3));
	KUNIT_EXPECT_EQ(test, graph_descendants(g, id(3), desc, 4), 0);

	KUNIT_EXPECT_EQ(test, graph_add(g, id(3), id(0)), -ELOOP);
	KUNIT_EXPECT_EQ(test, graph_add(g, id(3), id(1)), -ELOOP);
	KUNIT_EXPECT_EQ(test, graph_add(g, id(1), id(2)), 0);	/* b -> c is fine */
	KUNIT_EXPECT_EQ(test, graph_add(g, id(2), id(1)), -ELOOP);
	expect_topo(test, g);
}

static void mmsb_graph_test_extreme_ids(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	const u64 top = U64_MAX, mid = 1ULL << 63;
	struct mmsb_graph_report r;
	u64 cycle[3];

	/* 0 -> top -> mid, then mid -> 0 planted */
	KUNIT_ASSERT_EQ(test, graph_add(g, 0, top), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, top, mid), 0);
	KUNIT_EXPECT_EQ(test, graph_add(g, mid, 0), -ELOOP);
	expect_topo(test, g);
	KUNIT_ASSERT_EQ(test, graph_plant(g, mid, 0), 0);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, cycle, 3), -ELOOP);
	KUNIT_EXPECT_EQ(test, r.cycle_len, 3);
	expect_cycle(test, g, cycle, 3);
	KUNIT_EXPECT_EQ(test, graph_del_node(g, top), 2);
	KUNIT_EXPECT_EQ(test, graph_edges(g), 1);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
}

static void mmsb_graph_test_duplicate_and_kind(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;

	/* one edge per ordered pair, whatever its kind: a -> b */
	KUNIT_ASSERT_EQ(test, graph_add_kind(g, id(0), id(1), NT), 0);
	KUNIT_EXPECT_EQ(test, graph_add_kind(g, id(0), id(1), NT), -EEXIST);
	KUNIT_EXPECT_EQ(test, graph_add_kind(g, id(0), id(1), PT), -EEXIST);
	KUNIT_EXPECT_EQ(test, graph_add_kind(g, id(0), id(2), MMSB_GRAPH_NR_KINDS),
			-EINVAL);
	/* deleting names the kind */
	KUNIT_EXPECT_EQ(test, graph_del(g, id(0), id(1), PT), -ENOENT);
	KUNIT_EXPECT_EQ(test, graph_del(g, id(1), id(0), NT), -ENOENT);
	KUNIT_EXPECT_EQ(test, graph_del(g, id(0), id(1), NT), 0);
	KUNIT_EXPECT_EQ(test, graph_del(g, id(0), id(1), NT), -ENOENT);
	KUNIT_EXPECT_EQ(test, graph_edges(g), 0);
	KUNIT_EXPECT_FALSE(test, graph_has_edge(g, id(0), id(1)));
}

static void mmsb_graph_test_remove_edge_breaks_cycle(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;

	/* a -> b -> c -> a (planted), then remove c -> a */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(1)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(1), id(2)), 0);
	KUNIT_ASSERT_EQ(test, graph_plant(g, id(2), id(0)), 0);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), -ELOOP);
	KUNIT_EXPECT_EQ(test, r.cycle_len, 3);

	KUNIT_EXPECT_EQ(test, graph_del(g, id(2), id(0), PT), 0);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	KUNIT_EXPECT_EQ(test, r.visited, 3);
	expect_topo(test, g);
}

/*
 * The per-tick validation covers the whole graph: a cycle off the first
 * component is found, and a clean component beside it is still visited.
 */
static void mmsb_graph_test_validate_components(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;
	u64 cycle[2];

	/*
	 * e -> f
	 * a -> b -> c <-> d     (c <-> d planted)
	 */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(4), id(5)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(1)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(1), id(2)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(2), id(3)), 0);
	KUNIT_ASSERT_EQ(test, graph_plant(g, id(3), id(2)), 0);

	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, cycle, 2), -ELOOP);
	KUNIT_EXPECT_TRUE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.cycle_len, 2);
	expect_cycle(test, g, cycle, 2);
	KUNIT_EXPECT_EQ(test, min(cycle[0], cycle[1]), id(2));
	KUNIT_EXPECT_EQ(test, max(cycle[0], cycle[1]), id(3));

	/* Without d -> c: both components, all six pages. */
	KUNIT_EXPECT_EQ(test, graph_del(g, id(3), id(2), PT), 0);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	KUNIT_EXPECT_FALSE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.visited, 6);
	KUNIT_EXPECT_EQ(test, graph_descendants(g, id(0), NULL, 0), 3);
	KUNIT_EXPECT_EQ(test, graph_descendants(g, id(4), NULL, 0), 1);
	expect_topo(test, g);
}

static void mmsb_graph_test_remove_node(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;

	/*
	 * a -> b -> c,  d -> b,  b -> e,  a -> c: removing b takes four
	 * edges, and d and e with them; a -> c stays.
	 */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(1)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(1), id(2)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(3), id(1)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(1), id(4)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(2)), 0);

	KUNIT_EXPECT_EQ(test, graph_del_node(g, id(1)), 4);
	KUNIT_EXPECT_EQ(test, graph_edges(g), 1);
	KUNIT_EXPECT_TRUE(test, graph_has_edge(g, id(0), id(2)));
	KUNIT_EXPECT_EQ(test, graph_descendants(g, id(3), NULL, 0), 0);
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_nr_nodes(g)), 2);	/* only a and c */
	KUNIT_EXPECT_NULL(test, LOCKED(g, mmsb_graph_lookup(g, id(1))));
	expect_topo(test, g);

	KUNIT_EXPECT_EQ(test, graph_del_node(g, id(2)), 1);
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_nr_nodes(g)), 0);
}

/* mmsb_graph_out_edges(): by @to ascending, the lowest @max of them. */
static void mmsb_graph_test_out_edges(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_out out[8];
	static const unsigned int order[] = { 5, 2, 7, 1, 4, 6, 3 };
	enum mmsb_graph_edge_kind kind;
	unsigned int i;

	/*
	 * a -> f, c, h, b, e, g, d (added in that order; b and e notify),
	 * x -> a: listed as b c d e f g h, a's incoming edge not at all.
	 */
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		kind = order[i] == 1 || order[i] == 4 ? NT : PT;
		KUNIT_ASSERT_EQ(test,
				LOCKED(g, mmsb_graph_add_edge(g, id(0),
							      id(order[i]),
							      kind)), 0);
	}
	KUNIT_ASSERT_EQ(test, graph_add(g, id(9), id(0)), 0);

	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_out_edges(g, id(0), out, 8)),
			7);
	for (i = 0; i < 7; i++) {
		KUNIT_EXPECT_EQ(test, out[i].to, id(i + 1));
		KUNIT_EXPECT_EQ(test, out[i].kind, i == 0 || i == 3 ? NT : PT);
	}
	/* Three slots: b c d, and still the count of all. */
	memset(out, 0, sizeof(out));
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_out_edges(g, id(0), out, 3)),
			7);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, out[i].to, id(i + 1));
	KUNIT_EXPECT_EQ(test, out[3].to, 0);
	/* One slot, no slot, a page with no outgoing edge, an unknown id. */
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_out_edges(g, id(0), out, 1)),
			7);
	KUNIT_EXPECT_EQ(test, out[0].to, id(1));
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_out_edges(g, id(0), NULL, 0)),
			7);
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_out_edges(g, id(1), out, 8)),
			0);
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_out_edges(g, id(20), out, 8)),
			0);
	KUNIT_EXPECT_EQ(test, LOCKED(g, mmsb_graph_out_edges(g, id(9), out, 8)),
			1);
	KUNIT_EXPECT_EQ(test, out[0].to, id(0));
}

static void mmsb_graph_test_edge_limit(struct kunit *test)
{
	struct mmsb_graph small;

	/* max 3: a -> b -> c -> d fills it */
	mmsb_graph_init(&small, 3);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(0), id(1)), 0);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(1), id(2)), 0);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(2), id(3)), 0);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(3), id(4)), -ENOSPC);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(0), id(1)), -EEXIST);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(3), id(3)), -ELOOP);
	KUNIT_EXPECT_EQ(test, graph_edges(&small), 3);
	KUNIT_EXPECT_EQ(test, graph_del(&small, id(1), id(2), PT), 0);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(3), id(4)), 0);
	KUNIT_EXPECT_EQ(test, graph_add(&small, id(4), id(5)), -ENOSPC);
	mmsb_graph_destroy(&small);
}

static void mmsb_graph_test_topo_cached(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	const struct mmsb_graph_node *const *o1, *const *o2;
	size_t n1, n2;
	u64 gen;

	/* p1 -> p0; the order is reused until the edges change */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(1), id(0)), 0);
	mutex_lock(&g->lock);
	gen = mmsb_graph_generation(g);
	o1 = mmsb_graph_topo(g, &n1);
	o2 = mmsb_graph_topo(g, &n2);
	KUNIT_EXPECT_PTR_EQ(test, o1, o2);
	KUNIT_EXPECT_EQ(test, n1, 2);
	KUNIT_EXPECT_EQ(test, o1[0]->id, id(1));
	KUNIT_EXPECT_EQ(test, o1[1]->id, id(0));
	KUNIT_EXPECT_EQ(test, mmsb_graph_generation(g), gen);
	mutex_unlock(&g->lock);

	/* p2 -> p1: p2 must now come first */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(2), id(1)), 0);
	KUNIT_EXPECT_GT(test, LOCKED(g, mmsb_graph_generation(g)), gen);
	expect_topo(test, g);
}

static struct kunit_case mmsb_graph_test_cases[] = {
	KUNIT_CASE(mmsb_graph_test_empty),
	KUNIT_CASE(mmsb_graph_test_self_loop),
	KUNIT_CASE(mmsb_graph_test_two_cycle),
	KUNIT_CASE(mmsb_graph_test_long_cycle),
	KUNIT_CASE(mmsb_graph_test_diamond),
	KUNIT_CASE(mmsb_graph_test_extreme_ids),
	KUNIT_CASE(mmsb_graph_test_duplicate_and_kind),
	KUNIT_CASE(mmsb_graph_test_remove_edge_breaks_cycle),
	KUNIT_CASE(mmsb_graph_test_validate_components),
	KUNIT_CASE(mmsb_graph_test_remove_node),
	KUNIT_CASE(mmsb_graph_test_edge_limit),
	KUNIT_CASE(mmsb_graph_test_topo_cached),
	KUNIT_CASE(mmsb_graph_test_out_edges),
	{}
};

static struct kunit_suite mmsb_graph_test_suite = {
	.name = "mmsb_graph",
	.init = mmsb_graph_test_init,
	.exit = mmsb_graph_test_exit,
	.test_cases = mmsb_graph_test_cases,
};

kunit_test_suites(&mmsb_graph_test_suite);
