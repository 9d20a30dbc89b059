// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_graph_scale: the page dependency graph (kmod/graph.c)
 * on random graphs, against a transitive-closure oracle, and at 1,000
 * and 10,000 pages.  Timings are left to the benchmarks: these cases
 * check what validation finds, not how long it takes.
 */
#include <kunit/test.h>
#include <linux/prandom.h>
#include <linux/slab.h>

#include "graph_test.h"

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

/*
 * 10,000 pages in one chain plus as many random forward edges: the
 * whole-graph validation visits every page and finds no cycle; a back
 * edge p_{n-1} -> p_{n/2} is refused, and once planted the validator
 * finds exactly that cycle (the chain from p_{n/2} to p_{n-1}, the only
 * one), the ids it reports in edge order.
 */
static void mmsb_graph_test_big_dag_back_edge(struct kunit *test)
{
	struct mmsb_graph *g = test->priv;
	const unsigned int n = 10000;
	struct mmsb_graph_report r;
	u64 cycle[8];
	unsigned int i;
	u32 *perm, *pos;

	perm = kunit_kmalloc_array(test, n, sizeof(*perm), GFP_KERNEL);
	pos = kunit_kmalloc_array(test, n, sizeof(*pos), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, perm);
	KUNIT_ASSERT_NOT_NULL(test, pos);
	build_dag(test, g, perm, n, n, 42);
	for (i = 0; i < n; i++)
		pos[perm[i]] = i;

	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	KUNIT_EXPECT_FALSE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.visited, n);
	expect_topo(test, g);

	KUNIT_EXPECT_EQ(test, graph_add(g, id(perm[n - 1]), id(perm[n / 2])),
			-ELOOP);
	KUNIT_ASSERT_EQ(test, graph_plant(g, id(perm[n - 1]), id(perm[n / 2])), 0);
	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, cycle, ARRAY_SIZE(cycle)),
			-ELOOP);
	KUNIT_EXPECT_TRUE(test, r.has_cycle);
	KUNIT_EXPECT_EQ(test, r.cycle_len, n - n / 2);
	/* The first ids stored: chain pages of the cycle, edge by edge. */
	for (i = 0; i < ARRAY_SIZE(cycle); i++) {
		u32 k = (cycle[i] - id(0)) / 3;

		KUNIT_EXPECT_GE_MSG(test, pos[k], n / 2, "cycle[%u]", i);
		if (i + 1 < ARRAY_SIZE(cycle))
			KUNIT_EXPECT_TRUE_MSG(test,
					      graph_has_edge(g, cycle[i], cycle[i + 1]),
					      "no edge cycle[%u] -> cycle[%u]", i, i + 1);
	}
}

/*
 * 1,000 pages, a chain plus 2,000 random forward edges (forward in the
 * chain's order): from the k-th page of the chain exactly the n - 1 - k
 * pages after it are reachable, whatever the random edges.  Validation
 * visits all n pages, and the order it refreshes puts the chain in
 * chain order.
 */
static void mmsb_graph_test_chain_reach(struct kunit *test)
{
	static const unsigned int ks[] = { 0, 1, 499, 998, 999 };
	struct mmsb_graph *g = test->priv;
	const unsigned int n = 1000;
	struct mmsb_graph_report r;
	unsigned int i, bad = 0;
	size_t prev = 0, nr;
	u32 *perm;

	perm = kunit_kmalloc_array(test, n, sizeof(*perm), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, perm);
	build_dag(test, g, perm, n, 2 * n, 7);

	KUNIT_EXPECT_EQ(test, graph_validate(g, &r, NULL, 0), 0);
	KUNIT_EXPECT_EQ(test, r.visited, n);
	mutex_lock(&g->lock);
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(mmsb_graph_topo(g, &nr)));
	for (i = 0; i < n; i++) {
		const struct mmsb_graph_node *node = mmsb_graph_lookup(g, id(perm[i]));
		size_t at = node ? node->topo_index : 0;

		bad += !node || (i && at <= prev);
		prev = at;
	}
	mutex_unlock(&g->lock);
	KUNIT_EXPECT_EQ(test, nr, n);
	KUNIT_EXPECT_EQ_MSG(test, bad, 0, "%u chain pages out of order", bad);
	for (i = 0; i < ARRAY_SIZE(ks); i++)
		KUNIT_EXPECT_EQ_MSG(test,
				    graph_descendants(g, id(perm[ks[i]]), NULL, 0),
				    (ssize_t)(n - 1 - ks[i]), "from page %u", ks[i]);
}

static struct kunit_case mmsb_graph_scale_test_cases[] = {
	KUNIT_CASE_PARAM(mmsb_graph_test_topo_random, topo_gen_params),
	KUNIT_CASE_PARAM(mmsb_graph_test_add_edge_oracle, oracle_gen_params),
	KUNIT_CASE_SLOW(mmsb_graph_test_big_dag_back_edge),
	KUNIT_CASE_SLOW(mmsb_graph_test_chain_reach),
	{}
};

static struct kunit_suite mmsb_graph_scale_test_suite = {
	.name = "mmsb_graph_scale",
	.init = mmsb_graph_test_init,
	.exit = mmsb_graph_test_exit,
	.test_cases = mmsb_graph_scale_test_cases,
};

kunit_test_suites(&mmsb_graph_scale_test_suite);
