// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb propagation: the edge operations and the tick's walk along edges.
 * See propagate.h for the model and the lock order.
 *
 * One tick, as tick.c drives it:
 *
 *	mmsb_prop_begin()	records on (no lock)
 *	per chunk: engine fills @chunk, mmsb_prop_collect() keeps each
 *		changed page's ranges in the page, held, on @changed
 *	mmsb_prop_run()		g->lock; topological order; file the
 *		changed pages that have dependents under their topo index;
 *		walk the touched indexes in ascending order
 *	mmsb_prop_validate()	the invariant check (refreshes the order)
 *	mmsb_prop_end()		g->lock released
 *
 * So the graph's lock is held only while the tick propagates and
 * validates, never while it applies deltas: edge and page-free ioctls
 * wait for propagation at most, not for a whole tick.
 *
 * The walk (graph.h's recipe): for touched index i, first apply what
 * reached it (all incoming edges of the tick in one write section),
 * then, if the page changed, queue a work item on each dependent j and
 * mark j touched.  Edges go from lower to higher indexes, so j > i is
 * visited later in the same pass.  No allocation: the arrays are sized
 * when edges are added.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/errno.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <kunit/visibility.h>

#include "page.h"
#include "propagate.h"
#include "stream.h"

#define MMSB_PROP_NONE		UINT_MAX

/*
 * struct mmsb_prop_node - tick state of one graph node (by topo index)
 * @dirty: bytes of the page changed in this tick (deltas and edges)
 * @page: the page, held from first use until the end of the walk
 * @work: first pending work item (incoming edge), or MMSB_PROP_NONE
 * @changed: the page changed in this tick, its dependents follow
 * @looked_up: @page was looked up (it may still be NULL: freed)
 */
struct mmsb_prop_node {
	struct mmsb_dirty dirty;
	struct mmsb_page *page;
	unsigned int work;
	bool changed;
	bool looked_up;
};

/*
 * struct mmsb_prop_work - an edge whose source changed in this tick
 * @edge: the edge
 * @next: next work item of the same dependent, or MMSB_PROP_NONE
 */
struct mmsb_prop_work {
	const struct mmsb_graph_edge *edge;
	unsigned int next;
};

/*
 * mmsb_dirty_merge() when all MMSB_DIRTY_RANGES ranges are used and
 * [@start, @end), which goes at @i, touches none: one range if they
 * and it cover more bytes than their gaps, else the closest pair
 * merged.  Out of line: the array (and its stack canary) is only
 * needed here.
 */
static noinline struct mmsb_dirty_range
mmsb_dirty_merge_full(struct mmsb_dirty *d, unsigned int i, u32 start,
		      u32 end)
{
	struct mmsb_dirty_range r[MMSB_DIRTY_RANGES + 1] __uninitialized;
	u32 s = min(start, d->r[0].start);
	u32 e = max(end, d->r[MMSB_DIRTY_RANGES - 1].end);
	u32 covered = end - start;
	unsigned int gap, j, k;

	for (j = 0; j < MMSB_DIRTY_RANGES; j++)
		covered += d->r[j].end - d->r[j].start;
	if (e - s - covered < covered) {
		d->r[0].start = s;
		d->r[0].end = e;
		d->nr = 1;
		return d->r[0];
	}
	for (j = 0, k = 0; j <= MMSB_DIRTY_RANGES; j++)
		r[j] = j == i ? (struct mmsb_dirty_range){ start, end } :
				d->r[k++];
	for (gap = 0, j = 1; j < MMSB_DIRTY_RANGES; j++)
		if (r[j + 1].start - r[j].end < r[gap + 1].start - r[gap].end)
			gap = j;
	r[gap].end = r[gap + 1].end;
	for (j = 0, k = 0; j <= MMSB_DIRTY_RANGES; j++)
		if (j != gap + 1)
			d->r[k++] = r[j];
	/* The new range, or the one it was merged into. */
	return d->r[i <= gap ? i : i - 1];
}

/**
 * mmsb_dirty_merge() - mmsb_dirty_add() past its fast path
 * @d: the ranges
 * @start: first byte
 * @end: one past the last byte, > @start, at most U32_MAX
 *
 * Keeps @d sorted, merging overlapping and adjacent ranges; when all
 * MMSB_DIRTY_RANGES slots are used, the two closest of the ranges and
 * the new one are merged (of equal gaps, the lowest), so the fewest
 * unchanged bytes travel; but if the gaps between them hold fewer bytes
 * than they do, all become one range: a page that many deltas of a tick
 * cover mostly is then one range, which the next deltas fall inside
 * (mmsb_dirty_add()'s fast path), for at most as many unchanged bytes
 * carried as changed ones.  O(MMSB_DIRTY_RANGES).
 *
 * Return: the range of @d that now holds [@start, @end).
 */
struct mmsb_dirty_range mmsb_dirty_merge(struct mmsb_dirty *d, u32 start,
					 u32 end)
{
	u32 s = start, e = end;
	unsigned int i, j, k;

	for (i = 0; i < d->nr && d->r[i].end < s; i++)
		;
	for (j = i; j < d->nr && d->r[j].start <= e; j++) {
		s = min(s, d->r[j].start);
		e = max(e, d->r[j].end);
	}
	/*
	 * Plain loops over at most four entries here (five in
	 * mmsb_dirty_merge_full()): no memmove() calls on the engine's path.
	 */
	if (j > i) {
		/* Ranges i .. j - 1 touch the new one: one range now. */
		d->r[i].start = s;
		d->r[i].end = e;
		for (k = i + 1; j < d->nr; k++, j++)
			d->r[k] = d->r[j];
		d->nr = k;
		return d->r[i];
	}
	if (d->nr == MMSB_DIRTY_RANGES)
		return mmsb_dirty_merge_full(d, i, start, end);
	for (k = d->nr; k > i; k--)
		d->r[k] = d->r[k - 1];
	d->r[i].start = s;
	d->r[i].end = e;
	d->nr++;
	return d->r[i];
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_dirty_merge);

/**
 * mmsb_prop_init() - set up propagation
 * @p: the state
 * @graph: an initialised graph
 * @pages: the page table
 * @chunk_cap: pages of one tick chunk at most (the engine's records)
 *
 * Return: 0 or -ENOMEM.
 */
int mmsb_prop_init(struct mmsb_prop *p, struct mmsb_graph *graph,
		   struct mmsb_page_table *pages, unsigned int chunk_cap)
{
	memset(p, 0, sizeof(*p));
	p->graph = graph;
	p->pages = pages;
	p->chunk = kvcalloc(chunk_cap, sizeof(*p->chunk), GFP_KERNEL);
	if (!p->chunk)
		return -ENOMEM;
	p->chunk_cap = chunk_cap;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_prop_init);

/**
 * mmsb_prop_destroy() - free propagation state
 * @p: the state; no tick runs any more
 */
void mmsb_prop_destroy(struct mmsb_prop *p)
{
	kvfree(p->chunk);
	kvfree(p->nodes);
	kvfree(p->touched);
	kvfree(p->work);
	memset(p, 0, sizeof(*p));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_prop_destroy);

/* Size the per-tick arrays for the graph as it is now. */
static int mmsb_prop_reserve(struct mmsb_prop *p)
{
	size_t nodes = mmsb_graph_nr_nodes(p->graph);
	size_t edges = mmsb_graph_nr_edges(p->graph);
	struct mmsb_prop_node *nn;
	struct mmsb_prop_work *nw;
	unsigned long *bm;
	size_t cap;

	lockdep_assert_held(&p->graph->lock);
	if (nodes > p->cap) {
		cap = max3(nodes, 2 * p->cap, (size_t)64);
		nn = kvcalloc(cap, sizeof(*nn), GFP_KERNEL);
		bm = kvcalloc(BITS_TO_LONGS(cap), sizeof(*bm), GFP_KERNEL);
		if (!nn || !bm) {
			kvfree(nn);
			kvfree(bm);
			return -ENOMEM;
		}
		/* No tick runs: it would hold g->lock.  Nothing to copy. */
		kvfree(p->nodes);
		kvfree(p->touched);
		p->nodes = nn;
		p->touched = bm;
		p->cap = cap;
	}
	if (edges > p->work_cap) {
		cap = max3(edges, 2 * p->work_cap, (size_t)64);
		nw = kvcalloc(cap, sizeof(*nw), GFP_KERNEL);
		if (!nw)
			return -ENOMEM;
		kvfree(p->work);
		p->work = nw;
		p->work_cap = cap;
	}
	return 0;
}

/**
 * mmsb_prop_add_edge() - add the dependency @from -> @to
 * @p: the state
 * @from: source page, held by the caller, access checked
 * @to: dependent page, held by the caller, access checked
 * @kind: edge kind
 *
 * The pages must still be live under g->lock: the page-free path
 * clears ->live before it takes g->lock to remove the page's edges, so
 * an edge is never left behind to a freed page.
 *
 * Context: process context, sleeps; takes g->lock.
 * Return: 0; -ENOENT if a page was freed; else as mmsb_graph_add_edge().
 */
int mmsb_prop_add_edge(struct mmsb_prop *p, struct mmsb_page *from,
		       struct mmsb_page *to, enum mmsb_graph_edge_kind kind)
{
	struct mmsb_graph *g = p->graph;
	int ret;

	mutex_lock(&g->lock);
	if (!READ_ONCE(from->live) || !READ_ONCE(to->live)) {
		ret = -ENOENT;
		goto unlock;
	}
	ret = mmsb_graph_add_edge(g, from->id, to->id, kind);
	if (ret)
		goto unlock;
	ret = mmsb_prop_reserve(p);
	if (ret)
		mmsb_graph_remove_edge(g, from->id, to->id, kind);
	else if (p->edge_hook)
		p->edge_hook(p->edge_arg, from, to, kind, true);
unlock:
	mutex_unlock(&g->lock);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_prop_add_edge);

/**
 * mmsb_prop_del_edge() - remove the dependency @from -> @to
 * @p: the state
 * @from: source page, held by the caller, access checked
 * @to: dependent page, held by the caller, access checked
 * @kind: the edge's kind
 *
 * Context: process context, sleeps; takes g->lock.
 * Return: as mmsb_graph_remove_edge().
 */
int mmsb_prop_del_edge(struct mmsb_prop *p, struct mmsb_page *from,
		       struct mmsb_page *to, enum mmsb_graph_edge_kind kind)
{
	int ret;

	mutex_lock(&p->graph->lock);
	ret = mmsb_graph_remove_edge(p->graph, from->id, to->id, kind);
	if (!ret && p->edge_hook)
		p->edge_hook(p->edge_arg, from, to, kind, false);
	mutex_unlock(&p->graph->lock);
	return ret;
}

/**
 * mmsb_prop_set_edge_hook() - register the "edge added or deleted" hook
 * @p: the state, before any edge is added
 * @hook: called under g->lock, so in the graph's order, after each edge
 *	added or deleted (not for the edges of a freed page, which go with
 *	it): the pages, the kind, true for an addition; may sleep, must not
 *	take g->lock
 * @arg: for @hook
 */
void mmsb_prop_set_edge_hook(struct mmsb_prop *p,
			     void (*hook)(void *arg, struct mmsb_page *from,
					  struct mmsb_page *to,
					  enum mmsb_graph_edge_kind kind,
					  bool add),
			     void *arg)
{
	p->edge_arg = arg;
	p->edge_hook = hook;
}

/**
 * mmsb_prop_list_edges() - a page's outgoing edges, in one cut
 * @p: the state
 * @id: the page
 * @out: room for @max entries, or NULL with @max 0
 * @max: entries to store at most
 *
 * Context: process context, sleeps; takes g->lock.
 * Return: as mmsb_graph_out_edges().
 */
unsigned int mmsb_prop_list_edges(struct mmsb_prop *p, u64 id,
				  struct mmsb_graph_out *out, unsigned int max)
{
	unsigned int n;

	mutex_lock(&p->graph->lock);
	n = mmsb_graph_out_edges(p->graph, id, out, max);
	mutex_unlock(&p->graph->lock);
	return n;
}

/**
 * mmsb_prop_remove_page() - drop the edges of a freed page
 * @p: the state
 * @id: the page, already out of the page table
 *
 * Context: process context, sleeps; takes g->lock.
 */
void mmsb_prop_remove_page(struct mmsb_prop *p, u64 id)
{
	mutex_lock(&p->graph->lock);
	mmsb_graph_remove_node(p->graph, id);
	mutex_unlock(&p->graph->lock);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_prop_remove_page);

/**
 * mmsb_prop_stats() - figures for MMSB_IOC_STATS
 * @p: the state
 * @edges: out: edges in the graph
 * @bytes: out: bytes held by the graph and propagation
 *
 * Context: process context, sleeps; takes g->lock.
 */
void mmsb_prop_stats(struct mmsb_prop *p, u64 *edges, u64 *bytes)
{
	mutex_lock(&p->graph->lock);
	*edges = mmsb_graph_nr_edges(p->graph);
	*bytes = mmsb_graph_bytes(p->graph) +
		 p->cap * sizeof(*p->nodes) +
		 BITS_TO_LONGS(p->cap) * sizeof(*p->touched) +
		 p->work_cap * sizeof(*p->work) +
		 p->chunk_cap * sizeof(*p->chunk);
	mutex_unlock(&p->graph->lock);
}

/**
 * mmsb_prop_begin() - start recording a tick's changes
 * @p: the state
 * @tick: the tick's number
 *
 * Context: the tick, process context.
 * Return: the records the engine fills for each chunk
 * (@p->chunk_cap entries).
 */
struct mmsb_dirty *mmsb_prop_begin(struct mmsb_prop *p, u64 tick)
{
	p->tick = tick;
	p->changed = NULL;
	return p->chunk;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_prop_begin);

static void mmsb_prop_node_init(struct mmsb_prop_node *pn)
{
	mmsb_dirty_reset(&pn->dirty);
	pn->page = NULL;
	pn->work = MMSB_PROP_NONE;
	pn->changed = false;
	pn->looked_up = false;
}

/* Mark index @i touched, initialising its state the first time. */
static struct mmsb_prop_node *mmsb_prop_touch(struct mmsb_prop *p, size_t i)
{
	struct mmsb_prop_node *pn = &p->nodes[i];

	if (!__test_and_set_bit(i, p->touched))
		mmsb_prop_node_init(pn);
	return pn;
}

/**
 * mmsb_prop_collect() - take the engine's records of one chunk
 * @p: the state, after mmsb_prop_begin()
 * @pages: the chunk's pages; record i is pages[i]'s
 * @nr: records filled (the chunk's pages)
 *
 * Keeps each changed page's ranges in the page (->prop), merged over the
 * tick's chunks, and the page itself, held, on @p->changed.  No lock: the
 * graph is looked at by mmsb_prop_run().
 */
void mmsb_prop_collect(struct mmsb_prop *p, struct mmsb_page **pages,
		       unsigned int nr)
{
	const struct mmsb_dirty *d;
	struct mmsb_page *page;
	unsigned int k, r;

	for (k = 0; k < nr; k++) {
		d = &p->chunk[k];
		if (!d->nr)
			continue;
		page = pages[k];
		if (page->prop.tick != p->tick) {
			page->prop.tick = p->tick;
			mmsb_dirty_reset(&page->prop.dirty);
			page->prop.next = p->changed;
			p->changed = mmsb_page_hold(page);
		}
		for (r = 0; r < d->nr; r++)
			mmsb_dirty_add(&page->prop.dirty, d->r[r].start,
				       d->r[r].end);
	}
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_prop_collect);

/*
 * Under g->lock, at the start of the walk: the topological order, and
 * the tick's changed pages that have dependents filed under their
 * indexes.  The pages stay on @changed (mmsb_prop_release()).  Returns
 * false when there is nothing to walk.
 */
static bool mmsb_prop_file_changed(struct mmsb_prop *p)
{
	const struct mmsb_graph_node *const *order = NULL;
	const struct mmsb_graph_node *node;
	struct mmsb_prop_node *pn;
	struct mmsb_page *page;
	unsigned int r;
	size_t n = 0;

	p->nr_work = 0;
	if (mmsb_graph_nr_edges(p->graph))
		order = mmsb_graph_topo(p->graph, &n);
	/* A cycle cannot be added; validation reports it if it was. */
	if (IS_ERR(order))
		order = NULL;
	if (order) {
		p->order = order;
		p->nr = n;
		bitmap_zero(p->touched, n);
	}
	for (page = order ? p->changed : NULL; page; page = page->prop.next) {
		node = mmsb_graph_lookup(p->graph, page->id);
		if (node && !list_empty(&node->out)) {
			pn = mmsb_prop_touch(p, node->topo_index);
			pn->changed = true;
			for (r = 0; r < page->prop.dirty.nr; r++)
				mmsb_dirty_add(&pn->dirty,
					       page->prop.dirty.r[r].start,
					       page->prop.dirty.r[r].end);
		}
	}
	return order;
}

/*
 * The end of the walk: close the write sections the engine left open on
 * the pages it changed (mmsb_engine_run()), so each shows its deltas and
 * what the edges brought it at once, and put the pages.
 */
static void mmsb_prop_release(struct mmsb_prop *p)
{
	struct mmsb_page *page;

	while ((page = p->changed)) {
		p->changed = page->prop.next;
		mmsb_page_write_release(page);
		mmsb_page_put(page);
	}
}

/* The page at index @i, looked up once per tick; NULL if freed. */
static struct mmsb_page *mmsb_prop_page(struct mmsb_prop *p, size_t i)
{
	struct mmsb_prop_node *pn = &p->nodes[i];

	if (!pn->looked_up) {
		pn->looked_up = true;
		pn->page = mmsb_page_get(p->pages, p->order[i]->id);
		if (pn->page && !READ_ONCE(pn->page->live)) {
			mmsb_page_put(pn->page);
			pn->page = NULL;
		}
	}
	return pn->page;
}

/* Bytes the source of @e changed that fit a dependent of @size. */
static bool mmsb_prop_has_bytes(struct mmsb_prop *p,
				const struct mmsb_graph_edge *e, size_t size)
{
	const struct mmsb_prop_node *src = &p->nodes[e->from->topo_index];

	return src->page && src->dirty.nr && src->dirty.r[0].start < size;
}

/*
 * The records of what reached index @i (stream.h): for each PASSTHROUGH
 * range, the bytes the page holds there now; for each NOTIFY edge, one
 * record without bytes.  With @seg NULL, only their size.  The ranges
 * are those mmsb_prop_apply() copied.
 */
static size_t mmsb_prop_capture_pass(struct mmsb_prop *p, size_t i,
				     struct mmsb_page *dst, u64 tick,
				     struct mmsb_stream_seg *seg)
{
	const struct mmsb_prop_node *sn;
	const struct mmsb_graph_edge *e;
	size_t start, end, bytes = 0;
	unsigned int w, r;

	for (w = p->nodes[i].work; w != MMSB_PROP_NONE; w = p->work[w].next) {
		e = p->work[w].edge;
		if (e->kind == MMSB_GRAPH_NOTIFY) {
			bytes += mmsb_stream_rec_bytes(0);
			if (seg)
				mmsb_stream_seg_put(seg, MMSB_REC_PROPAGATED,
						    tick, dst->id, 0, 0, 0,
						    dst->data);
			continue;
		}
		sn = &p->nodes[e->from->topo_index];
		if (!sn->page)
			continue;
		for (r = 0; r < sn->dirty.nr; r++) {
			start = sn->dirty.r[r].start;
			end = min_t(size_t, sn->dirty.r[r].end, dst->size);
			if (start >= end)
				break;
			bytes += mmsb_stream_rec_bytes(end - start);
			if (seg)
				mmsb_stream_seg_put(seg, MMSB_REC_PROPAGATED,
						    tick, dst->id, 0, start,
						    end - start,
						    dst->data + start);
		}
	}
	return bytes;
}

/* Stage the records of index @i, which this tick wrote (epoch @epoch). */
static void mmsb_prop_capture(struct mmsb_prop *p, size_t i,
			      struct mmsb_page *dst, u64 tick,
			      struct mmsb_stream_tick *cap)
{
	struct mmsb_stream_seg *seg;

	seg = mmsb_stream_seg_new(cap, dst,
				  mmsb_prop_capture_pass(p, i, dst, tick, NULL));
	if (!seg)
		return;
	mmsb_prop_capture_pass(p, i, dst, tick, seg);
	mmsb_stream_seg_stamp(seg, 0, dst->epoch);
	mmsb_stream_seg_add(cap, seg);
}

/*
 * Apply every edge that reached index @i in this tick, in one write
 * section: copy the PASSTHROUGH ranges, raise the epoch once per tick,
 * wake the waiters.  A page the engine changed in this tick is in its
 * write section still, its epoch raised already: mmsb_prop_release()
 * closes it.
 */
static void mmsb_prop_apply(struct mmsb_prop *p, size_t i, u64 tick,
			    struct mmsb_stream_tick *cap,
			    struct mmsb_prop_stats *ps)
{
	struct mmsb_prop_node *pn = &p->nodes[i];
	const struct mmsb_prop_node *sn;
	const struct mmsb_graph_edge *e;
	struct mmsb_page *dst, *src;
	bool change = false, held;
	unsigned int w, r;
	size_t start, end;

	dst = mmsb_prop_page(p, i);
	if (!dst)
		return;
	for (w = pn->work; w != MMSB_PROP_NONE && !change; w = p->work[w].next) {
		e = p->work[w].edge;
		change = e->kind == MMSB_GRAPH_NOTIFY ||
			 mmsb_prop_has_bytes(p, e, dst->size);
	}
	if (!change)
		return;

	held = dst->prop.tick == tick;
	if (!held)
		mmsb_page_write_begin(dst);
	for (w = pn->work; w != MMSB_PROP_NONE; w = p->work[w].next) {
		e = p->work[w].edge;
		if (e->kind != MMSB_GRAPH_PASSTHROUGH)
			continue;
		sn = &p->nodes[e->from->topo_index];
		src = sn->page;
		if (!src)
			continue;
		/* The source's ranges lie within its own size. */
		for (r = 0; r < sn->dirty.nr; r++) {
			start = sn->dirty.r[r].start;
			end = min_t(size_t, sn->dirty.r[r].end, dst->size);
			if (start >= end)
				break;
			memcpy(dst->data + start, src->data + start,
			       end - start);
			mmsb_dirty_add(&pn->dirty, start, end);
		}
	}
	if (!held && mmsb_page_write_commit(dst, tick, dst->last_delta_id))
		ps->pages_changed++;
	/* After the commit: its bytes are final for the tick, and its epoch. */
	if (unlikely(cap))
		mmsb_prop_capture(p, i, dst, tick, cap);
	pn->changed = true;
	ps->propagated++;
}

/* Index @i changed: queue its edges on its dependents. */
static void mmsb_prop_push(struct mmsb_prop *p, size_t i)
{
	const struct mmsb_prop_node *pn = &p->nodes[i];
	struct mmsb_graph_edge *e;
	struct mmsb_prop_node *dn;
	unsigned int w;

	/* The source's bytes are needed by its PASSTHROUGH dependents. */
	if (pn->dirty.nr && !mmsb_prop_page(p, i))
		return;
	mmsb_graph_for_each_out(e, p->order[i]) {
		if (e->kind == MMSB_GRAPH_PASSTHROUGH && !pn->dirty.nr)
			continue;
		/* Each edge is queued at most once a tick: work_cap >= edges. */
		if (WARN_ON_ONCE(p->nr_work >= p->work_cap))
			return;
		dn = mmsb_prop_touch(p, e->to->topo_index);
		w = p->nr_work++;
		p->work[w].edge = e;
		p->work[w].next = dn->work;
		dn->work = w;
	}
}

/**
 * mmsb_prop_run() - propagate this tick's changes along the edges
 * @p: the state, after the tick's last mmsb_prop_collect()
 * @tick: the tick number (the once-per-tick epoch rule)
 * @cap: NULL, or the tick's capture state: what each page received is
 *	staged as PROPAGATED records (stream.h)
 * @ps: pages propagated to and pages whose epoch this moved are added to
 *
 * Takes g->lock, which mmsb_prop_end() releases: the order, the topo
 * indexes and the per-tick arrays stay valid until then.
 *
 * Context: the tick, after every chunk was applied; sleeps.
 * Return: nanoseconds spent.
 */
u64 mmsb_prop_run(struct mmsb_prop *p, u64 tick, struct mmsb_stream_tick *cap,
		  struct mmsb_prop_stats *ps)
{
	u64 start = ktime_get_ns();
	size_t i;

	mutex_lock(&p->graph->lock);
	if (mmsb_prop_file_changed(p)) {
		/* for_each_set_bit() rereads the bitmap: bits set ahead are seen. */
		for_each_set_bit(i, p->touched, p->nr) {
			if (p->nodes[i].work != MMSB_PROP_NONE)
				mmsb_prop_apply(p, i, tick, cap, ps);
			if (p->nodes[i].changed)
				mmsb_prop_push(p, i);
		}
		for_each_set_bit(i, p->touched, p->nr)
			mmsb_page_put(p->nodes[i].page);
	}
	mmsb_prop_release(p);
	return ktime_get_ns() - start;
}

/**
 * mmsb_prop_validate() - the per-tick invariant check of the graph
 * @p: the state, between mmsb_prop_run() and mmsb_prop_end()
 * @has_cycle: out: the graph has a cycle (an invariant failure)
 *
 * Validates the whole graph, O(V + E), which also refreshes the
 * topological order for the next tick.
 *
 * Return: nanoseconds spent.
 */
u64 mmsb_prop_validate(struct mmsb_prop *p, bool *has_cycle)
{
	struct mmsb_graph_report r;

	lockdep_assert_held(&p->graph->lock);
	mmsb_graph_validate(p->graph, &r, NULL, 0);
	*has_cycle = r.has_cycle;
	if (r.has_cycle)
		pr_err_ratelimited("invariant failure: the graph has a cycle of %zu pages\n",
				   r.cycle_len);
	return r.duration_ns;
}

/**
 * mmsb_prop_end() - end a tick's propagation: release g->lock
 * @p: the state, after mmsb_prop_run()
 */
void mmsb_prop_end(struct mmsb_prop *p)
{
	mutex_unlock(&p->graph->lock);
}
