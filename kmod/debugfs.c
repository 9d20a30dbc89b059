// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb debugfs: human-readable figures, the page table and the graph.
 *
 *   stats  one "key: value" line per figure of MMSB_IOC_STATS, then the
 *          monitor's last run and the module's GC parameters, and
 *          uring_inflight: io_uring commands issued and not completed
 *   pages  one line per live page: id size epoch uid gid mode flags
 *          refs live
 *   graph  one line per edge: from -> to kind
 *
 * pages and graph are seq_files keyed by page id: each read() takes
 * what fits its buffer and resumes at the next id, so a huge table is
 * never walked under one lock, and a page freed meanwhile is simply
 * not shown.  Root only (0400): page owners and modes are not
 * everybody's business.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/uidgid.h>

#include "debugfs.h"
#include "main.h"
#include "uring.h"

static struct dentry *mmsb_debugfs_dir;

static int mmsb_debugfs_stats_show(struct seq_file *m, void *v)
{
	struct mmsb_dev *dev = m->private;
	const struct mmsb_tick_metrics *l;
	struct mmsb_monitor_run run;
	struct mmsb_stats st = { };

	mmsb_stats_fill(dev, &st);
	mmsb_monitor_read(&dev->monitor, &run, NULL);
	l = &st.last;

#define P(name, val) seq_printf(m, "%s: %llu\n", name, (unsigned long long)(val))
	P("pages", st.pages);
	P("page_bytes", st.page_bytes);
	P("page_meta_bytes", st.page_meta_bytes);
	P("delta_bytes", st.delta_bytes);
	P("graph_bytes", st.graph_bytes);
	P("ring_bytes", st.ring_bytes);
	P("mem_bytes", st.mem_bytes);
	P("mem_limit", st.mem_limit);
	P("mem_usage_percent", st.mem_limit ?
	  div64_u64((st.page_bytes + st.delta_bytes) * 100, st.mem_limit) : 0);
	P("gc_threshold_percent", dev->monitor.cfg.threshold);
	P("gc_batch_pages", dev->monitor.cfg.batch_pages);
	P("gc_cold_age", dev->monitor.cfg.cold_age);
	P("gc_scan_pages", dev->monitor.cfg.scan_pages);
	P("gc_runs", st.gc_runs);
	P("gc_reclaimed_pages", st.gc_reclaimed_pages);
	P("gc_reclaimed_bytes", st.gc_reclaimed_bytes);
	P("gc_evicted", st.gc_evicted);
	P("gc_pending", st.gc_pending);
	P("gc_max_ns", st.gc_max_ns);
	P("gc_last_ns", run.ns);
	P("gc_last_examined", run.examined);
	P("gc_last_evicted", run.evicted);
	P("gc_last_reclaimed_pages", run.reclaimed_pages);
	P("gc_last_reclaimed_bytes", run.reclaimed_bytes);
	P("page_overhead_bytes_1_frame", PAGE_SIZE - MMSB_PAGE_DATA_OFFSET - 1 +
	  mmsb_monitor_page_overhead(PAGE_SIZE));
	P("edges", st.edges);
	P("ticks", st.ticks);
	P("submitted", st.submitted);
	P("processed", st.processed);
	P("rejected", st.rejected);
	P("conflicts", st.conflicts);
	P("overruns", st.overruns);
	P("ring_depth", st.ring_depth);
	P("ring_capacity", st.ring_capacity);
	P("last_tick", l->tick);
	P("last_tick_processed", l->processed);
	P("last_tick_total_ns", l->total_ns);
	P("last_tick_gc_ns", l->gc_ns);
	P("last_tick_gc_invoked", l->gc_invoked);
	P("last_tick_overrun", l->overrun);
	P("uring_inflight", mmsb_uring_inflight_count());
#undef P
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mmsb_debugfs_stats);

/* The live page with the lowest id >= *@idx, referenced, or NULL. */
static struct mmsb_page *mmsb_debugfs_page_from(struct mmsb_page_table *t,
						unsigned long *idx)
{
	struct mmsb_page *page;

	rcu_read_lock();
	for (;;) {
		page = xa_find(&t->xa, idx, ULONG_MAX, XA_PRESENT);
		if (!page || refcount_inc_not_zero(&page->ref))
			break;
		if (++*idx == 0) {
			page = NULL;
			break;
		}
	}
	rcu_read_unlock();
	return page;
}

/* Position: 0 is the header line, else the id to resume at. */
static void *mmsb_debugfs_pages_start(struct seq_file *m, loff_t *pos)
{
	struct mmsb_dev *dev = m->private;
	unsigned long idx = *pos;
	struct mmsb_page *page;

	if (!*pos)
		return SEQ_START_TOKEN;
	page = mmsb_debugfs_page_from(&dev->pages, &idx);
	if (page)
		*pos = idx;
	return page;
}

static void *mmsb_debugfs_pages_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct mmsb_dev *dev = m->private;
	unsigned long idx = 1;
	struct mmsb_page *page;

	if (v != SEQ_START_TOKEN) {
		idx = ((struct mmsb_page *)v)->id + 1;
		mmsb_page_put(v);
	}
	/* Moves on even at the end, as seq_file wants. */
	*pos = idx;
	page = mmsb_debugfs_page_from(&dev->pages, &idx);
	if (page)
		*pos = idx;
	return page;
}

static void mmsb_debugfs_pages_stop(struct seq_file *m, void *v)
{
	if (v && v != SEQ_START_TOKEN)
		mmsb_page_put(v);
}

static int mmsb_debugfs_pages_show(struct seq_file *m, void *v)
{
	struct user_namespace *ns = seq_user_ns(m);
	struct mmsb_page *page = v;

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "id size epoch uid gid mode flags refs live\n");
		return 0;
	}
	/* refs: without the one this listing holds. */
	seq_printf(m, "%llu %zu %llu %u %u %04o %#x %u %d\n",
		   page->id, page->size, READ_ONCE(page->epoch),
		   from_kuid_munged(ns, page->uid),
		   from_kgid_munged(ns, page->gid), page->mode, page->flags,
		   refcount_read(&page->ref) - 1, READ_ONCE(page->live));
	return 0;
}

static const struct seq_operations mmsb_debugfs_pages_sops = {
	.start	= mmsb_debugfs_pages_start,
	.next	= mmsb_debugfs_pages_next,
	.stop	= mmsb_debugfs_pages_stop,
	.show	= mmsb_debugfs_pages_show,
};
DEFINE_SEQ_ATTRIBUTE(mmsb_debugfs_pages);

/*
 * The graph: its lock is held from start to stop, i.e. while one
 * read() fills its buffer, never across read() calls.
 */
static void *mmsb_debugfs_graph_start(struct seq_file *m, loff_t *pos)
{
	struct mmsb_dev *dev = m->private;
	unsigned long idx = *pos;
	void *node;

	mutex_lock(&dev->graph.lock);
	node = xa_find(&dev->graph.nodes, &idx, ULONG_MAX, XA_PRESENT);
	if (node)
		*pos = idx;
	return node;
}

static void *mmsb_debugfs_graph_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct mmsb_dev *dev = m->private;
	unsigned long idx = ((struct mmsb_graph_node *)v)->id;

	lockdep_assert_held(&dev->graph.lock);
	*pos = idx + 1;
	if (!++idx)
		return NULL;
	v = xa_find(&dev->graph.nodes, &idx, ULONG_MAX, XA_PRESENT);
	if (v)
		*pos = idx;
	return v;
}

static void mmsb_debugfs_graph_stop(struct seq_file *m, void *v)
{
	struct mmsb_dev *dev = m->private;

	mutex_unlock(&dev->graph.lock);
}

static int mmsb_debugfs_graph_show(struct seq_file *m, void *v)
{
	struct mmsb_graph_node *node = v;
	struct mmsb_graph_edge *e;

	mmsb_graph_for_each_out(e, node)
		seq_printf(m, "%llu -> %llu %s\n", node->id, e->to->id,
			   e->kind == MMSB_GRAPH_PASSTHROUGH ? "passthrough" :
			   "notify");
	return 0;
}

static const struct seq_operations mmsb_debugfs_graph_sops = {
	.start	= mmsb_debugfs_graph_start,
	.next	= mmsb_debugfs_graph_next,
	.stop	= mmsb_debugfs_graph_stop,
	.show	= mmsb_debugfs_graph_show,
};
DEFINE_SEQ_ATTRIBUTE(mmsb_debugfs_graph);

/**
 * mmsb_debugfs_init() - create /sys/kernel/debug/mmsb
 * @dev: the device, set up
 *
 * Failures are not errors: debugfs is for diagnostics only (and its
 * functions accept the error pointers they return).
 */
void mmsb_debugfs_init(struct mmsb_dev *dev)
{
	mmsb_debugfs_dir = debugfs_create_dir("mmsb", NULL);
	debugfs_create_file("stats", 0400, mmsb_debugfs_dir, dev,
			    &mmsb_debugfs_stats_fops);
	debugfs_create_file("pages", 0400, mmsb_debugfs_dir, dev,
			    &mmsb_debugfs_pages_fops);
	debugfs_create_file("graph", 0400, mmsb_debugfs_dir, dev,
			    &mmsb_debugfs_graph_fops);
}

/**
 * mmsb_debugfs_exit() - remove /sys/kernel/debug/mmsb
 *
 * Waits for readers in progress (debugfs file removal does).
 */
void mmsb_debugfs_exit(void)
{
	debugfs_remove_recursive(mmsb_debugfs_dir);
	mmsb_debugfs_dir = NULL;
}
