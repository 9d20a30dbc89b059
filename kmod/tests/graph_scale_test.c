// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_graph_scale: the page dependency graph (kmod/graph.c)
 * on random graphs, against a transitive-closure oracle, and at 10,000
 * pages, where it also reports the cost of validation.
 */
#include <kunit/test.h>
#include <linux/ktime.h>
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

static struct kunit_case mmsb_graph_scale_test_cases[] = {
	KUNIT_CASE_PARAM(mmsb_graph_test_topo_random, topo_gen_params),
	KUNIT_CASE_PARAM(mmsb_graph_test_add_edge_oracle, oracle_gen_params),
	KUNIT_CASE_SLOW(mmsb_graph_test_big_dag_back_edge),
	KUNIT_CASE_SLOW(mmsb_graph_test_validation_cost),
	{}
};

static struct kunit_suite mmsb_graph_scale_test_suite = {
	.name = "mmsb_graph_scale",
	.init = mmsb_graph_test_init,
	.exit = mmsb_graph_test_exit,
	.test_cases = mmsb_graph_scale_test_cases,
};

kunit_test_suites(&mmsb_graph_scale_test_suite);
