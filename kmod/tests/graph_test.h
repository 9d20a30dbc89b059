/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the graph KUnit suites (graph_test.c, graph_scale_test.c).
 *
 * Graphs are drawn in the comments as "a -> b" with a = id(0), b = id(1)
 * and so on.  Page ids come from a counter in mmsb, so id(i) spreads
 * them with gaps above 2^40; mmsb_graph_test_extreme_ids covers the rest
 * of the 64-bit range.  Every call takes g->lock through LOCKED(), and
 * no KUNIT_ASSERT runs while it is held (an assertion ends the thread).
 */
#ifndef _MMSB_GRAPH_TEST_H
#define _MMSB_GRAPH_TEST_H

#include <kunit/test.h>
#include <linux/bitmap.h>
#include <linux/mm.h>
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
static inline u64 id(unsigned int i)
{
	return (1ULL << 40) + 3ULL * i + 1;
}

static inline int graph_add_kind(struct mmsb_graph *g, u64 from, u64 to,
				 enum mmsb_graph_edge_kind kind)
{
	return LOCKED(g, mmsb_graph_add_edge(g, from, to, kind));
}

static inline int graph_add(struct mmsb_graph *g, u64 from, u64 to)
{
	return graph_add_kind(g, from, to, PT);
}

/* Insert an edge without the cycle check: plants what add refuses. */
static inline int graph_plant(struct mmsb_graph *g, u64 from, u64 to)
{
	return LOCKED(g, __mmsb_graph_add_edge_unchecked(g, from, to, PT));
}

static inline int graph_del(struct mmsb_graph *g, u64 from, u64 to,
			    enum mmsb_graph_edge_kind kind)
{
	return LOCKED(g, mmsb_graph_remove_edge(g, from, to, kind));
}

static inline unsigned int graph_del_node(struct mmsb_graph *g, u64 page)
{
	return LOCKED(g, mmsb_graph_remove_node(g, page));
}

static inline int graph_validate(struct mmsb_graph *g,
				 struct mmsb_graph_report *r,
				 u64 *cycle, size_t cap)
{
	return LOCKED(g, mmsb_graph_validate(g, r, cycle, cap));
}

/*
 * The pages reachable from @root, @root excluded: a breadth-first walk
 * of the out lists over the graph's topological indexes (test code: the
 * module has no such query).  The first @cap ids are stored in @ids, in
 * discovery order.  Returns how many there are (0 if @root has no
 * edge), -ELOOP on a graph with a cycle, -ENOMEM.
 */
static inline ssize_t graph_descendants(struct mmsb_graph *g, u64 root,
					u64 *ids, size_t cap)
{
	const struct mmsb_graph_node *const *order;
	const struct mmsb_graph_node **queue = NULL;
	const struct mmsb_graph_edge *e;
	const struct mmsb_graph_node *n;
	unsigned long *seen = NULL;
	size_t nr, head = 0, tail = 0;
	ssize_t ret = 0;

	mutex_lock(&g->lock);
	n = mmsb_graph_lookup(g, root);
	if (!n)
		goto unlock;
	order = mmsb_graph_topo(g, &nr);
	if (IS_ERR(order)) {
		ret = PTR_ERR(order);
		goto unlock;
	}
	ret = -ENOMEM;
	queue = kvmalloc_array(nr, sizeof(*queue), GFP_KERNEL);
	seen = bitmap_zalloc(nr, GFP_KERNEL);
	if (!queue || !seen)
		goto unlock;
	__set_bit(n->topo_index, seen);
	queue[tail++] = n;
	while (head < tail) {
		n = queue[head++];
		mmsb_graph_for_each_out(e, n) {
			if (__test_and_set_bit(e->to->topo_index, seen))
				continue;
			if (tail - 1 < cap)
				ids[tail - 1] = e->to->id;
			queue[tail++] = e->to;
		}
	}
	ret = tail - 1;
unlock:
	mutex_unlock(&g->lock);
	bitmap_free(seen);
	kvfree(queue);
	return ret;
}

static inline unsigned int graph_edges(struct mmsb_graph *g)
{
	return LOCKED(g, mmsb_graph_nr_edges(g));
}

static inline bool graph_has_edge(struct mmsb_graph *g, u64 from, u64 to)
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
static inline void expect_cycle(struct kunit *test, struct mmsb_graph *g,
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
static inline void expect_topo(struct kunit *test, struct mmsb_graph *g)
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

static inline int mmsb_graph_test_init(struct kunit *test)
{
	struct mmsb_graph *g = kunit_kzalloc(test, sizeof(*g), GFP_KERNEL);

	if (!g)
		return -ENOMEM;
	mmsb_graph_init(g, TEST_MAX_EDGES);
	test->priv = g;
	return 0;
}

static inline void mmsb_graph_test_exit(struct kunit *test)
{
	mmsb_graph_destroy(test->priv);
}

#endif /* _MMSB_GRAPH_TEST_H */
