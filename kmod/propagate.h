/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb propagation: edges between pages and what a tick does along them.
 *
 * The engine records, for each page it changed, the byte ranges its
 * deltas wrote (struct mmsb_dirty, a few sorted ranges).  The tick hands
 * those to propagate.c, which walks the dependency graph (graph.c) in
 * topological order and, along each edge from a changed page:
 *  - PASSTHROUGH copies the changed ranges of the source into the same
 *    offsets of the dependent, clipped to its size; the dependent's
 *    changed ranges are then those it received, so only changed bytes
 *    travel down a chain, never whole pages;
 *  - NOTIFY marks the dependent changed (no bytes) and wakes its waiters.
 * Every page a tick changes this way gets its epoch raised once for the
 * tick, however many paths reach it, and all of its incoming edges are
 * applied in one write section, so readers never see half of a tick.
 *
 * Lock order: the tick takes the graph's lock (g->lock) only to
 * propagate and validate (mmsb_prop_run() to mmsb_prop_end()), after
 * every delta of the tick was applied; propagation opens page write
 * sections under it.  Nothing that holds a page write section, nor
 * anything a tick waits for, may take g->lock.  The edge ioctls and the
 * page-free path take g->lock alone and never wait for a tick while
 * holding it.  An edge added while a tick applies carries that tick's
 * changes already, if the graph had an edge when the tick started.
 */
#ifndef _MMSB_PROPAGATE_H
#define _MMSB_PROPAGATE_H

#include <linux/types.h>

#include "dirty.h"
#include "graph.h"

struct mmsb_page;
struct mmsb_page_table;

struct mmsb_prop_node;
struct mmsb_prop_work;
struct mmsb_stream_tick;

/**
 * struct mmsb_prop_stats - what propagation did in one tick
 * @propagated: pages written along edges
 * @pages_changed: of those, pages no delta had changed in the tick (their
 *	epoch moved here)
 */
struct mmsb_prop_stats {
	u64 propagated;
	u64 pages_changed;
};

/**
 * struct mmsb_prop - propagation state (one per device)
 * @graph: the dependency graph
 * @pages: the page table, to look pages up by id
 * @chunk: per-chunk records the engine fills, @chunk_cap entries
 * @chunk_cap: pages of one tick chunk at most
 * @nodes: per-tick state by topological index, @cap entries
 * @work: pending edge applications, @work_cap entries
 * @touched: bitmap over topological index: pages changed or reached
 * @cap: nodes @nodes and @touched can hold (>= graph nodes)
 * @work_cap: entries of @work (>= graph edges)
 * @order: the topological order of this tick
 * @nr: nodes in @order
 * @nr_work: entries of @work used in this tick
 * @tick: the tick recording changes (mmsb_prop_begin())
 * @changed: pages that tick changed, held, linked through ->prop.next
 * @edge_hook: told of every edge added or deleted, under g->lock, or NULL
 * @edge_arg: for @edge_hook
 *
 * @nodes to @nr_work are protected by @graph->lock; @chunk, @tick and
 * @changed are the tick's (one at a time), no lock.
 */
struct mmsb_prop {
	struct mmsb_graph *graph;
	struct mmsb_page_table *pages;
	struct mmsb_dirty *chunk;
	unsigned int chunk_cap;

	struct mmsb_prop_node *nodes;
	struct mmsb_prop_work *work;
	unsigned long *touched;
	size_t cap;
	size_t work_cap;
	const struct mmsb_graph_node *const *order;
	size_t nr;
	size_t nr_work;
	u64 tick;
	struct mmsb_page *changed;
	void (*edge_hook)(void *arg, struct mmsb_page *from,
			  struct mmsb_page *to, enum mmsb_graph_edge_kind kind,
			  bool add);
	void *edge_arg;
};

int mmsb_prop_init(struct mmsb_prop *p, struct mmsb_graph *graph,
		   struct mmsb_page_table *pages, unsigned int chunk_cap);
void mmsb_prop_destroy(struct mmsb_prop *p);

int mmsb_prop_add_edge(struct mmsb_prop *p, struct mmsb_page *from,
		       struct mmsb_page *to, enum mmsb_graph_edge_kind kind);
int mmsb_prop_del_edge(struct mmsb_prop *p, struct mmsb_page *from,
		       struct mmsb_page *to, enum mmsb_graph_edge_kind kind);
void mmsb_prop_set_edge_hook(struct mmsb_prop *p,
			     void (*hook)(void *arg, struct mmsb_page *from,
					  struct mmsb_page *to,
					  enum mmsb_graph_edge_kind kind,
					  bool add),
			     void *arg);
unsigned int mmsb_prop_list_edges(struct mmsb_prop *p, u64 id,
				  struct mmsb_graph_out *out, unsigned int max);
void mmsb_prop_remove_page(struct mmsb_prop *p, u64 id);
void mmsb_prop_stats(struct mmsb_prop *p, u64 *edges, u64 *bytes);

struct mmsb_dirty *mmsb_prop_begin(struct mmsb_prop *p, u64 tick);
void mmsb_prop_collect(struct mmsb_prop *p, struct mmsb_page **pages,
		       unsigned int nr);
u64 mmsb_prop_run(struct mmsb_prop *p, u64 tick, struct mmsb_stream_tick *cap,
		  struct mmsb_prop_stats *ps);
u64 mmsb_prop_validate(struct mmsb_prop *p, bool *has_cycle);
void mmsb_prop_end(struct mmsb_prop *p);

#endif /* _MMSB_PROPAGATE_H */
