// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_graph: the page dependency graph (kmod/graph.c).
 *
 * Graphs are drawn in the comments as "a -> b" with a = id(0), b = id(1)
 * and so on.  Page ids come from a counter in mmsb, so id(i) spreads
 * them with gaps above 2^40; mmsb_graph_test_extreme_ids covers the rest
 * of the 64-bit range.  Every call takes g->lock through LOCKED(), and
 * no KUNIT_ASSERT runs while it is held (an assertion ends the thread).
 */
#include <kunit/test.h>
#include <linux/ktime.h>
#include <linux/prandom.h>
#include <linux/slab.h>

#include "graph.h"

#define PT	MMSB_GRAPH_PASSTHROUGH
#define NT	MMSB_GRAPH_NOTIFY
#define TEST_MAX_EDGES	(1024 * 1024)

/* Evaluate @expr, a call on graph @g, under g->lock. */
#define LOCKED(g, expr) ({				\
	struct mutex *__lock = &(g)->lock;		\
	typeof(expr) __ret;				\
							\
	mutex_lock(__lock);				\
	__ret = (expr);					\
	mutex_unlock(__lock);				\
	__ret;						\
})

/* The i-th page id: unique, with gaps, above 2^40. */
static u64 id(unsigned int i)
{
	return (1ULL << 40) + 3ULL * i + 1;
}

static int graph_add_kind(struct mmsb_graph *g, u64 from, u64 to,
			  enum mmsb_graph_edge_kind kind)
{
	return LOCKED(g, mmsb_graph_add_edge(g, from, to, kind));
}

static int graph_add(struct mmsb_graph *g, u64 from, u64 to)
{
	return graph_add_kind(g, from, to, PT);
}

/* Insert an edge without the cycle check: plants what add refuses. */
static int graph_plant(struct mmsb_graph *g, u64 from, u64 to)
{
	return LOCKED(g, __mmsb_graph_add_edge_unchecked(g, from, to, PT));
}

static int graph_del(struct mmsb_graph *g, u64 from, u64 to,
		     enum mmsb_graph_edge_kind kind)
{
	return LOCKED(g, mmsb_graph_remove_edge(g, from, to, kind));
}

static unsigned int graph_del_node(struct mmsb_graph *g, u64 page)
{
	return LOCKED(g, mmsb_graph_remove_node(g, page));
}

static int graph_validate(struct mmsb_graph *g, struct mmsb_graph_report *r,
			  u64 *cycle, size_t cap)
{
	return LOCKED(g, mmsb_graph_validate(g, r, cycle, cap));
}

static int graph_validate_page(struct mmsb_graph *g, u64 root,
			       struct mmsb_graph_report *r)
{
	return LOCKED(g, mmsb_graph_validate_page(g, root, r, NULL, 0));
}

static ssize_t graph_descendants(struct mmsb_graph *g, u64 root,
				 u64 *ids, size_t cap)
{
	return LOCKED(g, mmsb_graph_descendants(g, root, ids, cap));
}

static unsigned int graph_edges(struct mmsb_graph *g)
{
	return LOCKED(g, mmsb_graph_nr_edges(g));
}

static bool graph_has_edge(struct mmsb_graph *g, u64 from, u64 to)
{
	struct mmsb_graph_node *n;
	struct mmsb_graph_edge *e;
	bool found = false;

	mutex_lock(&g->lock);
	n = mmsb_graph_lookup(g, from);
	if (n)
		mmsb_graph_for_each_out(e, n)
			found |= e->to->id == to;
	mutex_unlock(&g->lock);
	return found;
}

/* @cycle[0..len) must be a real cycle: each id has an edge to the next. */
static void expect_cycle(struct kunit *test, struct mmsb_graph *g,
			 const u64 *cycle, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		KUNIT_EXPECT_TRUE_MSG(test,
				      graph_has_edge(g, cycle[i], cycle[(i + 1) % len]),
				      "no edge %zu -> %zu of a %zu-cycle", i,
				      (i + 1) % len, len);
}

/* The cached order lists every node once and every edge goes forward. */
static void expect_topo(struct kunit *test, struct mmsb_graph *g)
{
	const struct mmsb_graph_node *const *order;
	const struct mmsb_graph_edge *e;
	size_t i, n, bad = 0;

	mutex_lock(&g->lock);
	order = mmsb_graph_topo(g, &n);
	KUNIT_EXPECT_FALSE(test, IS_ERR(order));
	KUNIT_EXPECT_EQ(test, n, mmsb_graph_nr_nodes(g));
	for (i = 0; !IS_ERR(order) && i < n; i++) {
		bad += order[i]->topo_index != i;
		mmsb_graph_for_each_out(e, order[i])
			bad += e->to->topo_index <= i;
	}
	mutex_unlock(&g->lock);
	KUNIT_EXPECT_EQ_MSG(test, bad, 0, "%zu order violations", bad);
}

static int mmsb_graph_test_init(struct kunit *test)
{
	struct mmsb_graph *g = kunit_kzalloc(test, sizeof(*g), GFP_KERNEL);

	if (!g)
		return -ENOMEM;
	mmsb_graph_init(g, TEST_MAX_EDGES);
	test->priv = g;
	return 0;
}

static void mmsb_graph_test_exit(struct kunit *test)
{
	mmsb_graph_destroy(test->priv);
}

static void mmsb_graph_test_empty(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;

	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	KUNIT_EXPECT_FALSE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.visited, 0);
	KUNIT_EXPECT_EQ(test, graph_validate_page(g, id(0), &r), 0);
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

static void mmsb_graph_test_validate_page(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;

	/*
	 * a -> b -> c <-> d     (c <-> d planted)
	 * e -> f
	 */
	KUNIT_ASSERT_EQ(test, graph_add(g, id(0), id(1)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(1), id(2)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(2), id(3)), 0);
	KUNIT_ASSERT_EQ(test, graph_plant(g, id(3), id(2)), 0);
	KUNIT_ASSERT_EQ(test, graph_add(g, id(4), id(5)), 0);

	KUNIT_EXPECT_EQ(test, graph_validate_page(g, id(0), &r), -ELOOP);
	KUNIT_EXPECT_EQ(test, r.cycle_len, 2);
	KUNIT_EXPECT_EQ(test, graph_validate_page(g, id(4), &r), 0);
	KUNIT_EXPECT_EQ(test, r.visited, 2);
	KUNIT_EXPECT_EQ(test, graph_validate_page(g, id(99), &r), 0);
	KUNIT_EXPECT_EQ(test, r.visited, 0);
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

struct mmsb_graph_rand_param {
	unsigned int nodes;
	unsigned int ops;
	u64 seed;
	const char *name;
};

static const struct mmsb_graph_rand_param topo_params[] = {
	{ 10, 30, 1, "10 pages, 30 edge attempts" },
	{ 100, 400, 2, "100 pages, 400 edge attempts" },
	{ 1000, 2000, 3, "1000 pages, 2000 edge attempts" },
	{ 200, 4000, 4, "200 pages, 4000 edge attempts" },
};

static const struct mmsb_graph_rand_param oracle_params[] = {
	{ 3, 100, 11, "3 pages" },
	{ 5, 300, 12, "5 pages" },
	{ 8, 600, 13, "8 pages" },
	{ 12, 1500, 14, "12 pages" },
	{ 16, 1500, 15, "16 pages, dense" },
};

static void rand_param_desc(const struct mmsb_graph_rand_param *p, char *desc)
{
	strscpy(desc, p->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(topo, topo_params, rand_param_desc);
KUNIT_ARRAY_PARAM(oracle, oracle_params, rand_param_desc);

static void mmsb_graph_test_topo_random(struct kunit *test)
{
	const struct mmsb_graph_rand_param *p = test->param_value;
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;
	struct rnd_state rs;
	unsigned int i, added = 0;

	/* random pairs in both directions: add keeps exactly a DAG */
	prandom_seed_state(&rs, p->seed);
	for (i = 0; i < p->ops; i++) {
		u32 u = prandom_u32_state(&rs) % p->nodes;
		u32 v = prandom_u32_state(&rs) % p->nodes;

		added += graph_add(g, id(u), id(v)) == 0;
	}
	KUNIT_EXPECT_EQ(test, graph_edges(g), added);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	expect_topo(test, g);

	/* removing pages must leave a valid order too */
	for (i = 0; i < p->nodes / 4; i++)
		graph_del_node(g, id(prandom_u32_state(&rs) % p->nodes));
	expect_topo(test, g);
}

/* reach = transitive closure of adj (Warshall) */
static void closure(const u8 *adj, bool *reach, unsigned int n)
{
	unsigned int i, j, k;

	for (i = 0; i < n * n; i++)
		reach[i] = adj[i];
	for (k = 0; k < n; k++)
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++)
				reach[i * n + j] |= reach[i * n + k] &&
						    reach[k * n + j];
}

/*
 * Random adds, deletes and page removals on a few pages, checked against
 * an adjacency matrix and its transitive closure: the graph must refuse
 * exactly the self edges, duplicates and edges closing a cycle.
 */
static void mmsb_graph_test_add_edge_oracle(struct kunit *test)
{
	const struct mmsb_graph_rand_param *p = test->param_value;
	unsigned int n = p->nodes, i, j, k, op;
	struct mmsb_graph *g = test->priv;
	struct mmsb_graph_report r;
	bool *reach, wrong = false;
	u8 *adj;	/* 0: no edge, else 1 + kind */
	struct rnd_state rs;

	adj = kunit_kzalloc(test, n * n, GFP_KERNEL);
	reach = kunit_kzalloc(test, n * n * sizeof(*reach), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, adj);
	KUNIT_ASSERT_NOT_NULL(test, reach);
	prandom_seed_state(&rs, p->seed);

	for (op = 0; op < p->ops && !wrong; op++) {
		u32 u = prandom_u32_state(&rs) % n;
		u32 v = prandom_u32_state(&rs) % n;
		u32 kind = prandom_u32_state(&rs) % MMSB_GRAPH_NR_KINDS;
		int want, got, action;

		closure(adj, reach, n);
		action = prandom_u32_state(&rs) % 16;
		if (action < 12) {
			want = u == v ? -ELOOP : adj[u * n + v] ? -EEXIST :
			       reach[v * n + u] ? -ELOOP : 0;
			got = graph_add_kind(g, id(u), id(v), kind);
			if (!want)
				adj[u * n + v] = 1 + kind;
		} else if (action == 15) {
			/* remove page u: its row and its column */
			for (i = 0, want = 0; i < n; i++) {
				want += !!adj[u * n + i] + !!adj[i * n + u];
				adj[u * n + i] = 0;
				adj[i * n + u] = 0;
			}
			got = graph_del_node(g, id(u));
		} else {
			/* delete the edge if any, sometimes naming a wrong kind */
			if (adj[u * n + v] && prandom_u32_state(&rs) % 4)
				kind = adj[u * n + v] - 1;
			want = adj[u * n + v] == 1 + kind ? 0 : -ENOENT;
			got = graph_del(g, id(u), id(v), kind);
			if (!want)
				adj[u * n + v] = 0;
		}
		wrong = got != want;
		KUNIT_EXPECT_EQ_MSG(test, got, want, "op %u on %u -> %u", op, u, v);
	}
	for (i = 0, k = 0; i < n * n; i++)
		k += adj[i] != 0;
	KUNIT_EXPECT_EQ(test, graph_edges(g), k);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	/* descendants agree with the closure */
	closure(adj, reach, n);
	for (i = 0; i < n && !wrong; i++) {
		for (j = 0, k = 0; j < n; j++)
			k += reach[i * n + j];
		KUNIT_EXPECT_EQ_MSG(test, graph_descendants(g, id(i), NULL, 0),
				    (ssize_t)k, "descendants of %u", i);
	}
	expect_topo(test, g);
}

/*
 * A random DAG on @n pages: the chain p0 -> p1 -> ... (deep, to show
 * the search needs no recursion) plus @extra random forward edges, over
 * a random permutation of the ids.  Built unchecked: it is a DAG by
 * construction, and checking each edge would make it O(n^2).
 */
static unsigned int build_dag(struct kunit *test, struct mmsb_graph *g,
			      u32 *perm, unsigned int n, unsigned int extra,
			      u64 seed)
{
	struct rnd_state rs;
	unsigned int i, edges = 0;

	prandom_seed_state(&rs, seed);
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		u32 j = prandom_u32_state(&rs) % (i + 1);

		swap(perm[i], perm[j]);
	}
	for (i = 0; i + 1 < n; i++)
		edges += graph_plant(g, id(perm[i]), id(perm[i + 1])) == 0;
	for (i = 0; i < extra; i++) {
		u32 a = prandom_u32_state(&rs) % n, b = prandom_u32_state(&rs) % n;

		if (a != b)
			edges += graph_plant(g, id(perm[min(a, b)]),
					     id(perm[max(a, b)])) == 0;
	}
	KUNIT_EXPECT_EQ(test, graph_edges(g), edges);
	return edges;
}

#define BENCH_RUNS	20

/* Mean time of a whole-graph validation, after one warm-up run. */
static u64 validate_ns(struct kunit *test, struct mmsb_graph *g, int want,
		       struct mmsb_graph_report *r, u64 *cycle, size_t cap)
{
	u64 total = 0;
	int i;

	for (i = -1; i < BENCH_RUNS; i++) {
		KUNIT_EXPECT_EQ(test, graph_validate(g, r, cycle, cap), want);
		total += i >= 0 ? r->duration_ns : 0;
	}
	return total / BENCH_RUNS;
}

static void mmsb_graph_test_big_dag_back_edge(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	const unsigned int n = 10000;
	struct mmsb_graph_report r;
	unsigned int edges;
	u64 ns, cycle[8];
	u32 *perm;
	int ret;

	perm = kunit_kmalloc_array(test, n, sizeof(*perm), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, perm);
	edges = build_dag(test, g, perm, n, n, 42);

	ns = validate_ns(test, g, 0, &r, NULL, 0);
	KUNIT_EXPECT_EQ(test, r.visited, n);
	kunit_info(test, "%u pages, %u edges, acyclic: validation %llu us\n",
		   n, edges, ns / 1000);
	expect_topo(test, g);

	/* p_{n-1} -> p_{n/2}: refused by add, found by the validator */
	ns = ktime_get_ns();
	ret = graph_add(g, id(perm[n - 1]), id(perm[n / 2]));
	ns = ktime_get_ns() - ns;
	KUNIT_EXPECT_EQ(test, ret, -ELOOP);
	kunit_info(test, "refusing the back edge: %llu us\n", ns / 1000);

	KUNIT_ASSERT_EQ(test, graph_plant(g, id(perm[n - 1]), id(perm[n / 2])), 0);
	ns = validate_ns(test, g, -ELOOP, &r, cycle, ARRAY_SIZE(cycle));
	KUNIT_EXPECT_EQ(test, r.cycle_len, n - n / 2);
	kunit_info(test, "cycle detection: %llu us (cycle of %zu pages, %zu visited)\n",
		   ns / 1000, r.cycle_len, r.visited);
}

static void mmsb_graph_test_validation_cost(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	const unsigned int n = 1000;
	struct mmsb_graph_report r;
	unsigned int i, edges;
	u64 ns, page_ns = 0;
	u32 *perm;

	perm = kunit_kmalloc_array(test, n, sizeof(*perm), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, perm);
	edges = build_dag(test, g, perm, n, 2 * n, 7);

	ns = validate_ns(test, g, 0, &r, NULL, 0);
	KUNIT_EXPECT_EQ(test, r.visited, n);
	for (i = 0; i < BENCH_RUNS; i++) {
		KUNIT_EXPECT_EQ(test, graph_validate_page(g, id(perm[0]), &r), 0);
		page_ns += r.duration_ns;
	}
	kunit_info(test, "%u pages, %u edges: validation %llu ns (%llu ns/page), from the first page %llu ns\n",
		   n, edges, ns, ns / n, page_ns / BENCH_RUNS);
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
	KUNIT_CASE(mmsb_graph_test_validate_page),
	KUNIT_CASE(mmsb_graph_test_remove_node),
	KUNIT_CASE(mmsb_graph_test_edge_limit),
	KUNIT_CASE(mmsb_graph_test_topo_cached),
	KUNIT_CASE_PARAM(mmsb_graph_test_topo_random, topo_gen_params),
	KUNIT_CASE_PARAM(mmsb_graph_test_add_edge_oracle, oracle_gen_params),
	KUNIT_CASE_SLOW(mmsb_graph_test_big_dag_back_edge),
	KUNIT_CASE_SLOW(mmsb_graph_test_validation_cost),
	{}
};

static struct kunit_suite mmsb_graph_test_suite = {
	.name = "mmsb_graph",
	.init = mmsb_graph_test_init,
	.exit = mmsb_graph_test_exit,
	.test_cases = mmsb_graph_test_cases,
};

kunit_test_suites(&mmsb_graph_test_suite);
