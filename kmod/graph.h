/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb page dependency graph: a pure data structure.
 *
 * Nodes are 64-bit page ids (sparse, never reused); an edge from -> to
 * says "a change of page from propagates into page to".  The graph knows
 * nothing of pages, files or user memory: callers check that both pages
 * exist (and that the user may touch them) before adding an edge, and
 * call mmsb_graph_remove_node() when a page is freed, under the same
 * g->lock, so that an edge never outlives one of its pages.
 *
 * A node exists only while it has at least one edge; a page without
 * edges costs the graph nothing.
 *
 * mmsb_graph_add_edge() refuses self edges, duplicates and edges that
 * would close a cycle, so in normal operation the graph is a DAG;
 * mmsb_graph_validate() checks that invariant once per tick and, as a
 * side effect, refreshes the cached topological order.
 *
 * Locking: every function except mmsb_graph_init() and
 * mmsb_graph_destroy() requires the caller to hold g->lock (a mutex;
 * the functions may sleep to allocate).  Pointers obtained from the
 * graph (nodes, edges, the topological order) are valid only until the
 * lock is released.  No function allocates except the two that add an
 * edge, so validation, traversal and the topological order never fail
 * for lack of memory.
 *
 * Propagation (what tick.c/propagate.c do with this, under g->lock):
 *
 *	order = mmsb_graph_topo(g, &n);
 *	mark bit node->topo_index for each page changed this tick
 *	for each set bit i, ascending:
 *		mmsb_graph_for_each_out(e, order[i]) {
 *			apply e->kind from order[i]->id into e->to->id;
 *			set bit e->to->topo_index;   (always > i)
 *		}
 */
#ifndef _MMSB_GRAPH_H
#define _MMSB_GRAPH_H

#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/xarray.h>

/* Same values as MMSB_EDGE_* in the uapi header (graph.c includes none). */
enum mmsb_graph_edge_kind {
	MMSB_GRAPH_PASSTHROUGH = 0,	/* copy changed bytes of from into to */
	MMSB_GRAPH_NOTIFY = 1,		/* mark to changed, wake its waiters */
	MMSB_GRAPH_NR_KINDS,
};

/**
 * struct mmsb_graph_node - one page taking part in at least one edge
 * @id: page id (the key)
 * @out: outgoing edges (struct mmsb_graph_edge.out_link), insertion order
 * @in: incoming edges (struct mmsb_graph_edge.in_link)
 * @link: entry in struct mmsb_graph.all
 * @nr_out: number of edges on @out
 * @nr_in: number of edges on @in
 * @topo_index: position in the array mmsb_graph_topo() returned; valid
 *	while that array is
 * @mark: traversal colour, private to graph.c
 *
 * Users read @id, @out (through mmsb_graph_for_each_out()) and
 * @topo_index; everything else is private to graph.c.
 */
struct mmsb_graph_node {
	u64 id;
	struct list_head out;
	struct list_head in;
	struct list_head link;
	unsigned int nr_out;
	unsigned int nr_in;
	size_t topo_index;
	u64 mark;
};

/**
 * struct mmsb_graph_edge - a dependency from -> to
 * @out_link: entry in @from->out
 * @in_link: entry in @to->in
 * @from: source node
 * @to: dependent node
 * @kind: what propagation does along this edge
 */
struct mmsb_graph_edge {
	struct list_head out_link;
	struct list_head in_link;
	struct mmsb_graph_node *from;
	struct mmsb_graph_node *to;
	enum mmsb_graph_edge_kind kind;
};

struct mmsb_graph_frame;

/**
 * struct mmsb_graph_out - one outgoing edge, as mmsb_graph_out_edges()
 *	lists it
 * @to: the dependent page
 * @kind: the edge's kind
 */
struct mmsb_graph_out {
	u64 to;
	enum mmsb_graph_edge_kind kind;
};

/**
 * struct mmsb_graph - the dependency graph
 * @lock: protects everything below; held by the caller of every
 *	mmsb_graph_*() function except init and destroy
 * @nodes: id -> struct mmsb_graph_node
 * @all: every node, in creation order (iterating an xarray costs a
 *	lookup per entry; a list costs nothing)
 * @nr_nodes: nodes in @nodes
 * @nr_edges: edges in the graph
 * @max_edges: edge limit (-ENOSPC beyond it)
 * @generation: bumped on every change of the edge set
 * @epoch: colour base of the current traversal (white < @epoch <= grey,
 *	@epoch + 1 = black); grows by 2 per traversal, so marks never
 *	need clearing
 * @stack: traversal stack, @scratch_cap frames
 * @topo: cached topological order, @scratch_cap slots, @nr_nodes used
 * @scratch_cap: nodes @stack and @topo can hold; kept >= @nr_nodes by
 *	the edge-adding path, so traversals never allocate
 * @topo_gen: @generation at which @topo was computed
 * @topo_valid: @topo holds the order for @topo_gen
 */
struct mmsb_graph {
	struct mutex lock;	/* see "Locking" at the top of this file */
	struct xarray nodes;
	struct list_head all;
	size_t nr_nodes;
	unsigned int nr_edges;
	unsigned int max_edges;
	u64 generation;
	u64 epoch;
	struct mmsb_graph_frame *stack;
	const struct mmsb_graph_node **topo;
	size_t scratch_cap;
	u64 topo_gen;
	bool topo_valid;
};

/**
 * struct mmsb_graph_report - result of a validation
 * @has_cycle: a cycle was found (an invariant failure)
 * @cycle_len: pages on the cycle found (0 without one); the ids are
 *	stored in the caller's buffer, at most its capacity, in edge
 *	order: cycle[i] -> cycle[i + 1], and the last -> cycle[0]
 * @visited: nodes visited
 * @duration_ns: time the validation took
 */
struct mmsb_graph_report {
	bool has_cycle;
	size_t cycle_len;
	size_t visited;
	u64 duration_ns;
};

/**
 * mmsb_graph_for_each_out - iterate over the outgoing edges of a node
 * @edge: struct mmsb_graph_edge * cursor
 * @node: the node
 *
 * Caller holds the graph's lock.
 */
#define mmsb_graph_for_each_out(edge, node) \
	list_for_each_entry(edge, &(node)->out, out_link)

void mmsb_graph_init(struct mmsb_graph *g, unsigned int max_edges);
void mmsb_graph_destroy(struct mmsb_graph *g);

int mmsb_graph_add_edge(struct mmsb_graph *g, u64 from, u64 to,
			enum mmsb_graph_edge_kind kind);
int mmsb_graph_remove_edge(struct mmsb_graph *g, u64 from, u64 to,
			   enum mmsb_graph_edge_kind kind);
unsigned int mmsb_graph_remove_node(struct mmsb_graph *g, u64 id);
unsigned int mmsb_graph_out_edges(struct mmsb_graph *g, u64 id,
				  struct mmsb_graph_out *out, unsigned int max);

int mmsb_graph_validate(struct mmsb_graph *g, struct mmsb_graph_report *r,
			u64 *cycle, size_t cap);
const struct mmsb_graph_node *const *mmsb_graph_topo(struct mmsb_graph *g,
						     size_t *n);
size_t mmsb_graph_bytes(struct mmsb_graph *g);

/**
 * mmsb_graph_nr_edges - number of edges
 * @g: the graph; caller holds g->lock
 *
 * Return: the number of edges.
 */
static inline unsigned int mmsb_graph_nr_edges(const struct mmsb_graph *g)
{
	return g->nr_edges;
}

/**
 * mmsb_graph_has_edges - whether the graph has an edge, without the lock
 * @g: the graph
 *
 * A snapshot: an edge added or removed meanwhile may or may not count.
 *
 * Return: true if it has one.
 */
static inline bool mmsb_graph_has_edges(const struct mmsb_graph *g)
{
	return READ_ONCE(g->nr_edges);
}

/**
 * mmsb_graph_nr_nodes - number of pages with at least one edge
 * @g: the graph; caller holds g->lock
 *
 * Return: the number of nodes.
 */
static inline size_t mmsb_graph_nr_nodes(const struct mmsb_graph *g)
{
	return g->nr_nodes;
}

/**
 * mmsb_graph_generation - edge-set generation
 * @g: the graph; caller holds g->lock
 *
 * Return: a counter bumped on every change of the edge set, so callers
 * can cache what they derive from the graph.
 */
static inline u64 mmsb_graph_generation(const struct mmsb_graph *g)
{
	return g->generation;
}

/* xarray indexes are unsigned long: all 64 bits on 64-bit kernels. */
static inline bool __mmsb_graph_id_ok(u64 id)
{
	return (unsigned long)id == id;
}

static inline struct mmsb_graph_node *__mmsb_graph_find(struct mmsb_graph *g,
							u64 id)
{
	return __mmsb_graph_id_ok(id) ? xa_load(&g->nodes, id) : NULL;
}

/**
 * mmsb_graph_lookup - find the node of a page
 * @g: the graph; caller holds g->lock
 * @id: page id
 *
 * Return: the node, or NULL if @id has no edge.
 */
static inline struct mmsb_graph_node *mmsb_graph_lookup(struct mmsb_graph *g,
							u64 id)
{
	lockdep_assert_held(&g->lock);
	return __mmsb_graph_find(g, id);
}

#if IS_ENABLED(CONFIG_KUNIT)
int __mmsb_graph_add_edge_unchecked(struct mmsb_graph *g, u64 from, u64 to,
				    enum mmsb_graph_edge_kind kind);
#endif

#endif /* _MMSB_GRAPH_H */
