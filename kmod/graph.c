// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb page dependency graph (see graph.h for the contract and locking).
 *
 * One iterative depth-first search with an explicit stack
 * (mmsb_graph_dfs()) serves the cycle check of mmsb_graph_add_edge(),
 * the validator and the topological order (reverse
 * post-order of a search from every node), each O(V + E) on the part it
 * visits.  Nodes are coloured by comparing their mark with g->epoch,
 * which grows by two per search, so marks are never cleared.  Nothing
 * allocates but mmsb_graph_add_edge(), which sizes the stack and the
 * order array for every node before creating one.
 */

#include <kunit/visibility.h>
#include <linux/err.h>
#include <linux/export.h>
#include <linux/ktime.h>
#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "graph.h"

/* One level of the depth-first search. */
struct mmsb_graph_frame {
	struct mmsb_graph_node *node;	/* grey: being explored */
	struct list_head *next;		/* next out edge; &node->out: done */
};

/* Smallest scratch allocation, in nodes (1 KiB of stack frames). */
#define MMSB_GRAPH_MIN_CAP	64

/* What one search looks for and collects. */
struct mmsb_graph_walk {
	const struct mmsb_graph_node *target;	/* stop when discovered */
	bool topo;		/* post-order into g->topo, downwards ... */
	size_t topo_pos;	/* ... from g->topo[topo_pos - 1] */
	bool cycles;		/* stop at a back edge, record its cycle ... */
	u64 *cycle;		/* ... ids here, ... */
	size_t cycle_cap;	/* ... at most this many */
	size_t cycle_len;	/* length of the cycle found, 0 if none */
	size_t visited;		/* nodes discovered */
};

/* Start a traversal: every node becomes white (mark < epoch). */
static void mmsb_graph_walk_begin(struct mmsb_graph *g)
{
	g->epoch += 2;
}

static void mmsb_graph_record_cycle(const struct mmsb_graph_frame *stack,
				    size_t depth,
				    const struct mmsb_graph_node *grey,
				    struct mmsb_graph_walk *w)
{
	size_t k = depth - 1, i;

	/* The back edge stack[depth - 1] -> grey closes stack[k..depth-1]. */
	while (stack[k].node != grey)
		k--;
	w->cycle_len = depth - k;
	for (i = 0; i < w->cycle_len && i < w->cycle_cap; i++)
		w->cycle[i] = stack[k + i].node->id;
}

/*
 * Depth-first search from @root, skipping nodes already visited in this
 * epoch.  Grey (mark == epoch) = on the stack, black (epoch + 1) = done.
 * The stack never holds more than g->nr_nodes frames: only grey nodes
 * are on it, each once, and g->scratch_cap >= g->nr_nodes.
 *
 * Returns 0 when all reachable nodes are done, 1 when w->target was
 * reached, -ELOOP at a back edge (w->cycles only).
 */
static int mmsb_graph_dfs(struct mmsb_graph *g, struct mmsb_graph_node *root,
			  struct mmsb_graph_walk *w)
{
	struct mmsb_graph_frame *stack = g->stack;
	size_t depth = 0;

	if (root->mark >= g->epoch)
		return 0;
	root->mark = g->epoch;
	w->visited++;
	stack[depth].node = root;
	stack[depth++].next = root->out.next;

	while (depth) {
		struct mmsb_graph_frame *f = &stack[depth - 1];
		struct mmsb_graph_node *n;

		if (f->next == &f->node->out) {
			/* Every successor is finished: post-order. */
			f->node->mark = g->epoch + 1;
			if (w->topo) {
				f->node->topo_index = --w->topo_pos;
				g->topo[w->topo_pos] = f->node;
			}
			depth--;
			continue;
		}
		n = list_entry(f->next, struct mmsb_graph_edge, out_link)->to;
		f->next = f->next->next;

		if (n->mark == g->epoch) {
			/* grey: f->node -> n is a back edge */
			if (!w->cycles)
				continue;
			mmsb_graph_record_cycle(stack, depth, n, w);
			return -ELOOP;
		}
		if (n->mark > g->epoch)
			continue;	/* black */

		n->mark = g->epoch;
		w->visited++;
		if (n == w->target)
			return 1;
		stack[depth].node = n;
		stack[depth++].next = n->out.next;
	}
	return 0;
}

/* Search from every node (in creation order); fills g->topo if w->topo. */
static int mmsb_graph_dfs_all(struct mmsb_graph *g, struct mmsb_graph_walk *w)
{
	struct mmsb_graph_node *n;
	int ret;

	mmsb_graph_walk_begin(g);
	w->topo_pos = g->nr_nodes;
	list_for_each_entry(n, &g->all, link) {
		ret = mmsb_graph_dfs(g, n, w);
		if (ret)
			return ret;
	}
	return 0;
}

/* Full search with cycle detection that also (re)builds the order. */
static bool mmsb_graph_order(struct mmsb_graph *g, struct mmsb_graph_walk *w)
{
	w->topo = true;
	w->cycles = true;
	g->topo_valid = mmsb_graph_dfs_all(g, w) == 0;
	g->topo_gen = g->generation;
	return g->topo_valid;
}

/* Would an edge from -> to close a cycle?  It does iff to reaches from. */
static bool mmsb_graph_reaches(struct mmsb_graph *g,
			       struct mmsb_graph_node *src,
			       const struct mmsb_graph_node *dst)
{
	struct mmsb_graph_walk w = { .target = dst };

	mmsb_graph_walk_begin(g);
	return mmsb_graph_dfs(g, src, &w) > 0;
}

/*
 * Make the stack and the order array hold @nr nodes.  Grows at least
 * twofold (amortised O(1) per node), never past the 2 * max_edges nodes
 * the edge limit allows; never shrinks.  The order is lost (recomputed on
 * demand); on failure the old arrays stay.
 */
static int mmsb_graph_reserve(struct mmsb_graph *g, size_t nr)
{
	const struct mmsb_graph_node **topo;
	struct mmsb_graph_frame *stack;
	size_t cap;

	if (nr <= g->scratch_cap)
		return 0;
	cap = max3(nr, g->scratch_cap * 2, (size_t)MMSB_GRAPH_MIN_CAP);
	cap = min(cap, max(nr, 2 * (size_t)g->max_edges));

	stack = kvmalloc_array(cap, sizeof(*stack), GFP_KERNEL);
	if (!stack)
		return -ENOMEM;
	topo = kvmalloc_array(cap, sizeof(*topo), GFP_KERNEL);
	if (!topo) {
		kvfree(stack);
		return -ENOMEM;
	}
	kvfree(g->stack);
	kvfree(g->topo);
	g->stack = stack;
	g->topo = topo;
	g->scratch_cap = cap;
	g->topo_valid = false;
	return 0;
}

static struct mmsb_graph_node *mmsb_graph_node_new(struct mmsb_graph *g,
						   u64 id)
{
	struct mmsb_graph_node *n;
	int ret;

	n = kzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return ERR_PTR(-ENOMEM);
	n->id = id;
	INIT_LIST_HEAD(&n->out);
	INIT_LIST_HEAD(&n->in);
	ret = xa_insert(&g->nodes, (unsigned long)id, n, GFP_KERNEL_ACCOUNT);
	if (ret) {
		kfree(n);
		return ERR_PTR(ret);
	}
	list_add_tail(&n->link, &g->all);
	g->nr_nodes++;
	return n;
}

static void mmsb_graph_node_del(struct mmsb_graph *g, struct mmsb_graph_node *n)
{
	xa_erase(&g->nodes, (unsigned long)n->id);
	list_del(&n->link);
	g->nr_nodes--;
	kfree(n);
}

/* A node lives only while it has an edge. */
static void mmsb_graph_node_put(struct mmsb_graph *g, struct mmsb_graph_node *n)
{
	if (list_empty(&n->out) && list_empty(&n->in))
		mmsb_graph_node_del(g, n);
}

static void mmsb_graph_edge_del(struct mmsb_graph *g, struct mmsb_graph_edge *e)
{
	list_del(&e->out_link);
	list_del(&e->in_link);
	e->from->nr_out--;
	e->to->nr_in--;
	/* Read without the lock by mmsb_graph_has_edges(). */
	WRITE_ONCE(g->nr_edges, g->nr_edges - 1);
	kfree(e);
}

/* The edge from -> to, if any, walking the shorter of the two lists. */
static struct mmsb_graph_edge *mmsb_graph_find_edge(struct mmsb_graph_node *from,
						    struct mmsb_graph_node *to)
{
	struct mmsb_graph_edge *e;

	if (from->nr_out <= to->nr_in) {
		list_for_each_entry(e, &from->out, out_link)
			if (e->to == to)
				return e;
	} else {
		list_for_each_entry(e, &to->in, in_link)
			if (e->from == from)
				return e;
	}
	return NULL;
}

static int mmsb_graph_insert(struct mmsb_graph *g, u64 from_id, u64 to_id,
			     enum mmsb_graph_edge_kind kind, bool checked)
{
	struct mmsb_graph_node *from, *to;
	struct mmsb_graph_edge *e;
	bool new_from;
	int ret;

	lockdep_assert_held(&g->lock);

	if ((unsigned int)kind >= MMSB_GRAPH_NR_KINDS ||
	    !__mmsb_graph_id_ok(from_id) || !__mmsb_graph_id_ok(to_id))
		return -EINVAL;
	if (checked && from_id == to_id)
		return -ELOOP;
	from = __mmsb_graph_find(g, from_id);
	to = __mmsb_graph_find(g, to_id);
	if (from && to && mmsb_graph_find_edge(from, to))
		return -EEXIST;
	if (g->nr_edges >= g->max_edges)
		return -ENOSPC;
	/* A new node has no edges yet, so it cannot be on a cycle. */
	if (checked && from && to && mmsb_graph_reaches(g, to, from))
		return -ELOOP;

	ret = mmsb_graph_reserve(g, g->nr_nodes + !from +
				    (!to && from_id != to_id));
	if (ret)
		return ret;
	e = kzalloc(sizeof(*e), GFP_KERNEL_ACCOUNT);
	if (!e)
		return -ENOMEM;
	new_from = !from;
	if (new_from) {
		from = mmsb_graph_node_new(g, from_id);
		if (IS_ERR(from)) {
			ret = PTR_ERR(from);
			goto free_edge;
		}
	}
	if (!to) {
		to = from_id == to_id ? from : mmsb_graph_node_new(g, to_id);
		if (IS_ERR(to)) {
			ret = PTR_ERR(to);
			goto del_from;
		}
	}

	e->from = from;
	e->to = to;
	e->kind = kind;
	list_add_tail(&e->out_link, &from->out);
	from->nr_out++;
	list_add_tail(&e->in_link, &to->in);
	to->nr_in++;
	WRITE_ONCE(g->nr_edges, g->nr_edges + 1);
	g->generation++;
	return 0;

del_from:
	if (new_from)
		mmsb_graph_node_del(g, from);
free_edge:
	kfree(e);
	return ret;
}

/**
 * mmsb_graph_init - initialise an empty graph
 * @g: the graph
 * @max_edges: most edges the graph will hold
 *
 * Allocates nothing; pair with mmsb_graph_destroy().
 */
void mmsb_graph_init(struct mmsb_graph *g, unsigned int max_edges)
{
	*g = (struct mmsb_graph) { .max_edges = max_edges };
	mutex_init(&g->lock);
	xa_init(&g->nodes);
	INIT_LIST_HEAD(&g->all);
	/* marks start at 0: white in every epoch */
	g->epoch = 2;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_init);

/**
 * mmsb_graph_destroy - free every node, edge and array of a graph
 * @g: the graph; nobody else may use it any more
 */
void mmsb_graph_destroy(struct mmsb_graph *g)
{
	struct mmsb_graph_node *n, *next;
	struct mmsb_graph_edge *e, *tmp;

	/* Each edge is on exactly one out list; in lists are not walked. */
	list_for_each_entry_safe(n, next, &g->all, link) {
		list_for_each_entry_safe(e, tmp, &n->out, out_link)
			kfree(e);
		kfree(n);
	}
	xa_destroy(&g->nodes);
	kvfree(g->stack);
	kvfree(g->topo);
	mutex_destroy(&g->lock);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_destroy);

/**
 * mmsb_graph_add_edge - add the dependency from -> to
 * @g: the graph; caller holds g->lock
 * @from: source page id
 * @to: dependent page id
 * @kind: MMSB_GRAPH_PASSTHROUGH or MMSB_GRAPH_NOTIFY
 *
 * A pair of pages has at most one edge, whatever its kind.  The cycle
 * check costs O(V + E) of the part reachable from @to.
 *
 * Return: 0, or the first of: -EINVAL for an unknown @kind; -ELOOP for
 * a self edge; -EEXIST if from -> to exists; -ENOSPC at the edge limit;
 * -ELOOP for an edge closing a cycle; -ENOMEM.  The graph is unchanged
 * on error.
 */
int mmsb_graph_add_edge(struct mmsb_graph *g, u64 from, u64 to,
			enum mmsb_graph_edge_kind kind)
{
	return mmsb_graph_insert(g, from, to, kind, true);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_add_edge);

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * __mmsb_graph_add_edge_unchecked - add an edge without the cycle checks
 * @g: the graph; caller holds g->lock
 * @from: source page id
 * @to: dependent page id
 * @kind: edge kind
 *
 * For KUnit only: lets tests plant self edges and cycles the validator
 * must find, and build large DAGs fast.  Duplicates, the edge limit and
 * @kind are still checked.
 *
 * Return: as mmsb_graph_add_edge(), without -ELOOP.
 */
int __mmsb_graph_add_edge_unchecked(struct mmsb_graph *g, u64 from, u64 to,
				    enum mmsb_graph_edge_kind kind)
{
	return mmsb_graph_insert(g, from, to, kind, false);
}
EXPORT_SYMBOL_IF_KUNIT(__mmsb_graph_add_edge_unchecked);
#endif

/**
 * mmsb_graph_remove_edge - remove the dependency from -> to
 * @g: the graph; caller holds g->lock
 * @from: source page id
 * @to: dependent page id
 * @kind: the edge's kind, which must match
 *
 * Return: 0; -EINVAL for an unknown @kind; -ENOENT if there is no edge
 * from -> to of this kind.
 */
int mmsb_graph_remove_edge(struct mmsb_graph *g, u64 from, u64 to,
			   enum mmsb_graph_edge_kind kind)
{
	struct mmsb_graph_node *nf, *nt;
	struct mmsb_graph_edge *e;

	lockdep_assert_held(&g->lock);

	if ((unsigned int)kind >= MMSB_GRAPH_NR_KINDS)
		return -EINVAL;
	nf = __mmsb_graph_find(g, from);
	nt = __mmsb_graph_find(g, to);
	if (!nf || !nt)
		return -ENOENT;
	e = mmsb_graph_find_edge(nf, nt);
	if (!e || e->kind != kind)
		return -ENOENT;

	mmsb_graph_edge_del(g, e);
	mmsb_graph_node_put(g, nf);
	if (nt != nf)
		mmsb_graph_node_put(g, nt);
	g->generation++;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_remove_edge);

/**
 * mmsb_graph_remove_node - remove a page and all its edges
 * @g: the graph; caller holds g->lock
 * @id: page id, typically of a page being freed
 *
 * Return: the number of edges removed (0 if @id had none).
 */
unsigned int mmsb_graph_remove_node(struct mmsb_graph *g, u64 id)
{
	struct mmsb_graph_edge *e, *tmp;
	struct mmsb_graph_node *n, *other;
	unsigned int removed = 0;

	lockdep_assert_held(&g->lock);

	n = __mmsb_graph_find(g, id);
	if (!n)
		return 0;
	/*
	 * A neighbour left without edges is freed at once; it cannot be
	 * the node behind @tmp, which still has an edge to or from @n.
	 */
	list_for_each_entry_safe(e, tmp, &n->out, out_link) {
		other = e->to;
		mmsb_graph_edge_del(g, e);
		removed++;
		if (other != n)
			mmsb_graph_node_put(g, other);
	}
	list_for_each_entry_safe(e, tmp, &n->in, in_link) {
		other = e->from;
		mmsb_graph_edge_del(g, e);
		removed++;
		mmsb_graph_node_put(g, other);
	}
	mmsb_graph_node_del(g, n);
	g->generation++;
	return removed;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_remove_node);

/* Sift @out[i] down the max-heap (by @to) of @n entries. */
static void mmsb_graph_out_sift(struct mmsb_graph_out *out, unsigned int n,
				unsigned int i)
{
	for (;;) {
		unsigned int big = i, l = 2 * i + 1, r = l + 1;

		if (l < n && out[l].to > out[big].to)
			big = l;
		if (r < n && out[r].to > out[big].to)
			big = r;
		if (big == i)
			return;
		swap(out[i], out[big]);
		i = big;
	}
}

/**
 * mmsb_graph_out_edges - the outgoing edges of a node, by @to ascending
 * @g: the graph; caller holds g->lock
 * @id: page id
 * @out: room for @max entries, or NULL with @max 0
 * @max: entries to store at most: those with the @max lowest @to
 *
 * A max-heap of the @max lowest @to seen so far, then a heap sort:
 * O(E log @max) for the node's E edges, no allocation.
 *
 * Return: the node's outgoing edges (0 for a page without one);
 * min(that, @max) of them are stored.
 */
unsigned int mmsb_graph_out_edges(struct mmsb_graph *g, u64 id,
				  struct mmsb_graph_out *out, unsigned int max)
{
	struct mmsb_graph_node *n = mmsb_graph_lookup(g, id);
	struct mmsb_graph_edge *e;
	unsigned int i, k = 0;

	if (!n)
		return 0;
	if (!max)
		return n->nr_out;
	mmsb_graph_for_each_out(e, n) {
		struct mmsb_graph_out o = { .to = e->to->id, .kind = e->kind };

		if (k < max) {
			out[k++] = o;
			if (k == max)
				for (i = max / 2; i-- > 0; )
					mmsb_graph_out_sift(out, max, i);
		} else if (o.to < out[0].to) {
			out[0] = o;
			mmsb_graph_out_sift(out, max, 0);
		}
	}
	if (k < max)
		for (i = k / 2; i-- > 0; )
			mmsb_graph_out_sift(out, k, i);
	/* Heap sort: the largest goes last, so the order is ascending. */
	for (i = k; i > 1; i--) {
		swap(out[0], out[i - 1]);
		mmsb_graph_out_sift(out, i - 1, 0);
	}
	return n->nr_out;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_out_edges);

/**
 * mmsb_graph_validate - check that the whole graph is acyclic
 * @g: the graph; caller holds g->lock
 * @r: the report (filled in every case)
 * @cycle: buffer for the ids of one cycle, or NULL
 * @cap: capacity of @cycle
 *
 * The per-tick invariant check: one iterative depth-first search over
 * every node, O(V + E), no allocation.  It stops at the first cycle;
 * without one it visits every node and refreshes the order
 * mmsb_graph_topo() returns.
 *
 * Return: 0 if acyclic; -ELOOP if a cycle was found.
 */
int mmsb_graph_validate(struct mmsb_graph *g, struct mmsb_graph_report *r,
			u64 *cycle, size_t cap)
{
	struct mmsb_graph_walk w = {
		.cycles = true, .cycle = cycle, .cycle_cap = cycle ? cap : 0,
	};
	u64 start = ktime_get_ns();

	lockdep_assert_held(&g->lock);
	mmsb_graph_order(g, &w);
	r->has_cycle = w.cycle_len != 0;
	r->cycle_len = w.cycle_len;
	r->visited = w.visited;
	r->duration_ns = ktime_get_ns() - start;
	return r->has_cycle ? -ELOOP : 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_validate);

/**
 * mmsb_graph_topo - the nodes in topological order
 * @g: the graph; caller holds g->lock
 * @n: out: number of nodes in the array
 *
 * Cached: recomputed (O(V + E), no allocation) only when the edge set
 * changed since the last call or validation.  Every edge goes from a
 * lower to a higher index, and order[i]->topo_index == i.  The array is
 * valid until g->lock is released or the graph changes.
 *
 * Return: the array (NULL when *@n is 0), or ERR_PTR(-ELOOP) if the
 * graph has a cycle, which mmsb_graph_add_edge() never lets happen.
 */
const struct mmsb_graph_node *const *mmsb_graph_topo(struct mmsb_graph *g,
						     size_t *n)
{
	struct mmsb_graph_walk w = {};

	lockdep_assert_held(&g->lock);

	*n = 0;
	if ((!g->topo_valid || g->topo_gen != g->generation) &&
	    !mmsb_graph_order(g, &w))
		return ERR_PTR(-ELOOP);
	*n = g->nr_nodes;
	return g->nr_nodes ? g->topo : NULL;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_topo);

/**
 * mmsb_graph_bytes - memory held by the graph
 * @g: the graph; caller holds g->lock
 *
 * Return: bytes of nodes, edges and traversal arrays (the xarray's own
 * nodes not counted).
 */
size_t mmsb_graph_bytes(struct mmsb_graph *g)
{
	lockdep_assert_held(&g->lock);
	return g->nr_nodes * sizeof(struct mmsb_graph_node) +
	       (size_t)g->nr_edges * sizeof(struct mmsb_graph_edge) +
	       g->scratch_cap * (sizeof(struct mmsb_graph_frame) +
				 sizeof(*g->topo));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_graph_bytes);
