// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb debugfs: human-readable figures, the page table and the graph.
 *
 *   stats  one "key: value" line per figure of MMSB_IOC_STATS, then the
 *          monitor's last run and the module's GC parameters, the
 *          change streams (open, opened since load, their buffers,
 *          overflows and records dropped), and uring_inflight: io_uring
 *          commands issued and not completed
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
#include "ioctl.h"
#include "main.h"
#include "uring.h"

static int mmsb_debugfs_stats_show(struct seq_file *m, void *v)
{
	struct mmsb_dev *dev = m->private;
	struct mmsb_monitor_run run;
	struct mmsb_stats st = { };
	unsigned int i;

	mmsb_stats_fill(dev, &st);
	mmsb_monitor_read(&dev->monitor, &run, NULL);

#define P(name, val) seq_printf(m, "%s: %llu\n", name, (unsigned long long)(val))
	/* Every counter of MMSB_IOC_STATS, as the uapi lists them ... */
	for (i = 0; i < mmsb_nr_stat_descs; i++) {
		const struct mmsb_stat_desc *d = &mmsb_stat_descs[i];
		const void *f = (const u8 *)&st + d->offset;

		P(d->name, d->size == sizeof(u32) ? *(const u32 *)f :
						   *(const u64 *)f);
	}
	/* ... then what only people want to see. */
	P("mem_usage_percent", st.mem_limit ?
	  div64_u64((st.page_bytes + st.delta_bytes) * 100, st.mem_limit) : 0);
	P("gc_threshold_percent", dev->monitor.cfg.threshold);
	P("gc_batch_pages", dev->monitor.cfg.batch_pages);
	P("gc_cold_age", dev->monitor.cfg.cold_age);
	P("gc_scan_pages", dev->monitor.cfg.scan_pages);
	P("gc_last_ns", run.ns);
	P("gc_last_examined", run.examined);
	P("gc_last_evicted", run.evicted);
	P("gc_last_reclaimed_pages", run.reclaimed_pages);
	P("gc_last_reclaimed_bytes", run.reclaimed_bytes);
	P("page_overhead_bytes_1_frame", PAGE_SIZE - MMSB_PAGE_DATA_OFFSET - 1 +
	  mmsb_monitor_page_overhead(PAGE_SIZE));
	/* Change streams: open now, since load, buffers, losses. */
	P("stream_open", READ_ONCE(dev->stream.nr));
	P("stream_opened", atomic64_read(&dev->stream.opened));
	P("stream_buffer_bytes", atomic64_read(&dev->stream.buffer_bytes));
	P("stream_overflows", atomic64_read(&dev->stream.overflows));
	P("stream_records_dropped", atomic64_read(&dev->stream.dropped));
	/* Module-wide, the same on every bus. */
	P("uring_inflight", mmsb_uring_inflight_count());
#undef P
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mmsb_debugfs_stats);

/* Position: 0 is the header line, else the id to resume at. */
static void *mmsb_debugfs_pages_start(struct seq_file *m, loff_t *pos)
{
	struct mmsb_dev *dev = m->private;
	unsigned long idx = *pos;
	struct mmsb_page *page;

	if (!*pos)
		return SEQ_START_TOKEN;
	page = mmsb_page_next(&dev->pages, &idx, XA_PRESENT);
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
	page = mmsb_page_next(&dev->pages, &idx, XA_PRESENT);
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
 * mmsb_debugfs_init() - create /sys/kernel/debug/<bus name>
 * @dev: the bus, set up: /sys/kernel/debug/mmsb for bus 0, mmsb1 ...
 *
 * Failures are not errors: debugfs is for diagnostics only (and its
 * functions take an error pointer as parent).
 */
void mmsb_debugfs_init(struct mmsb_dev *dev)
{
	dev->debugfs = debugfs_create_dir(dev->name, NULL);
	debugfs_create_file("stats", 0400, dev->debugfs, dev,
			    &mmsb_debugfs_stats_fops);
	debugfs_create_file("pages", 0400, dev->debugfs, dev,
			    &mmsb_debugfs_pages_fops);
	debugfs_create_file("graph", 0400, dev->debugfs, dev,
			    &mmsb_debugfs_graph_fops);
}

/**
 * mmsb_debugfs_exit() - remove a bus's debugfs directory
 * @dev: the bus
 *
 * Waits for readers in progress (debugfs file removal does).
 */
void mmsb_debugfs_exit(struct mmsb_dev *dev)
{
	debugfs_remove_recursive(dev->debugfs);
	dev->debugfs = NULL;
}
