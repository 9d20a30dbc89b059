// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb - Memory-Mapped State Bus: the composition root.
 *
 * The module parameters (one bounds table), the buses (one struct
 * mmsb_dev each, sharing nothing), the one place every component of a
 * bus is started and stopped, and the file operations of the misc
 * devices.  The ioctls are dispatched by ioctl.c.
 *
 * See Documentation/mmsb.rst, "Layers", for who calls whom.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#include <linux/mmsb.h>

#include "debugfs.h"
#include "events.h"
#include "ioctl.h"
#include "main.h"
#include "stream.h"
#include "submit.h"
#include "uring.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/*
 * Module parameters.  Read-only once loaded (0444): the components size
 * themselves from them at load.  Each is checked against its bounds in
 * mmsb_check_params(), so a bad value makes insmod fail with -EINVAL and
 * a message naming the parameter.
 */
static unsigned int buses = 1;
module_param(buses, uint, 0444);
MODULE_PARM_DESC(buses, "Buses: /dev/mmsb, then /dev/mmsb1 ... (default 1)");

static unsigned int ring_size = 65536;
module_param(ring_size, uint, 0444);
MODULE_PARM_DESC(ring_size, "Delta ring slots, rounded up to a power of two (default 65536)");

static unsigned int workers;
module_param(workers, uint, 0444);
MODULE_PARM_DESC(workers, "Apply worker kthreads, 0 = one per online CPU (default 0)");

static unsigned int tick_us = 1000;
module_param(tick_us, uint, 0444);
MODULE_PARM_DESC(tick_us, "Tick period in microseconds, 0 = tick only on demand (default 1000)");

static unsigned int tick_budget_us = 16000;
module_param(tick_budget_us, uint, 0444);
MODULE_PARM_DESC(tick_budget_us, "Tick budget in microseconds before an overrun is counted (default 16000)");

static unsigned int batch_max = 65536;
module_param(batch_max, uint, 0444);
MODULE_PARM_DESC(batch_max, "Deltas drained by one tick at most (default 65536)");

static unsigned long max_page_size = 16UL << 20;
module_param(max_page_size, ulong, 0444);
MODULE_PARM_DESC(max_page_size, "Largest page in bytes (default 16 MiB)");

static unsigned int mem_limit_mb = 1024;
module_param(mem_limit_mb, uint, 0444);
MODULE_PARM_DESC(mem_limit_mb, "Memory mmsb may hold for pages and deltas, MiB (default 1024)");

static unsigned int gc_threshold = 90;
module_param(gc_threshold, uint, 0444);
MODULE_PARM_DESC(gc_threshold, "Usage, percent of mem_limit_mb, above which GC evicts cold pages (default 90)");

static unsigned int gc_batch_pages = 32;
module_param(gc_batch_pages, uint, 0444);
MODULE_PARM_DESC(gc_batch_pages, "Pages GC reclaims per tick at most (default 32)");

static unsigned int cold_age = 3;
module_param(cold_age, uint, 0444);
MODULE_PARM_DESC(cold_age, "Ticks without change after which an evictable page is cold (default 3)");

static unsigned int max_edges = 65536;
module_param(max_edges, uint, 0444);
MODULE_PARM_DESC(max_edges, "Edges in the dependency graph at most (default 65536)");

struct mmsb_param_bound {
	const char *name;
	unsigned long value;
	unsigned long min;
	unsigned long max;
};

static int mmsb_check_params(void)
{
	const struct mmsb_param_bound bounds[] = {
		{ "buses", buses, 1, MMSB_BUSES_MAX },
		{ "ring_size", ring_size, 2, MMSB_RING_SIZE_MAX },
		{ "workers", workers, 0, MMSB_WORKERS_MAX },
		{ "tick_us", tick_us, 0, USEC_PER_SEC },
		{ "tick_budget_us", tick_budget_us, 100, 10 * USEC_PER_SEC },
		{ "batch_max", batch_max, 1, MMSB_RING_SIZE_MAX },
		{ "max_page_size", max_page_size, 1, MMSB_PAGE_SIZE_MAX },
		{ "mem_limit_mb", mem_limit_mb, 1, MMSB_MEM_LIMIT_MB_MAX },
		{ "gc_threshold", gc_threshold, 1, 100 },
		{ "gc_batch_pages", gc_batch_pages, 1, 65536 },
		{ "cold_age", cold_age, 1, 1000000 },
		{ "max_edges", max_edges, 0, MMSB_EDGES_MAX },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(bounds); i++) {
		const struct mmsb_param_bound *b = &bounds[i];

		if (b->value < b->min || b->value > b->max) {
			pr_err("%s=%lu is out of range [%lu, %lu]\n",
			       b->name, b->value, b->min, b->max);
			return -EINVAL;
		}
	}
	return 0;
}

static int mmsb_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mmsb_file *mf = file->private_data;

	/* First: no page id reaches the queue's offset. */
	if (vma->vm_pgoff >= MMSB_SQ_OFFSET >> PAGE_SHIFT)
		return mmsb_sq_mmap(mf, vma);
	if (vma->vm_pgoff == MMSB_BUS_HEADER_OFFSET >> PAGE_SHIFT)
		return mmsb_bus_header_mmap(mf->dev->tick.bus, vma);
	return mmsb_page_mmap(&mf->dev->pages, vma, mf->cred, mf->admin);
}

/*
 * Privilege is decided here, once: the opener's credentials and
 * CAP_SYS_ADMIN then govern every call made through the file, whoever
 * the file is passed to.  The bus is the misc device opened (misc_open()
 * leaves it in ->private_data).
 */
static int mmsb_open(struct inode *inode, struct file *file)
{
	struct mmsb_dev *dev = container_of(file->private_data,
					    struct mmsb_dev, misc);
	struct mmsb_file *mf;

	mf = kzalloc(sizeof(*mf), GFP_KERNEL_ACCOUNT);
	if (!mf)
		return -ENOMEM;
	mf->cred = file->f_cred;
	mf->admin = capable(CAP_SYS_ADMIN);
	mf->dev = dev;
	mf->table = &dev->pages;
	mf->deltas = &dev->deltas;
	mf->tick = &dev->tick;
	mmsb_events_init(mf);
	mmsb_submit_open(mf);
	file->private_data = mf;
	return 0;
}

static int mmsb_release(struct inode *inode, struct file *file)
{
	/* Queued deltas stay queued: they belong to the tick now. */
	mmsb_submit_release(file->private_data);
	/* The mapped queue's are waited for: their CQEs are its memory. */
	mmsb_sq_release(file->private_data);
	mmsb_uring_release(file->private_data);
	mmsb_events_release(file->private_data);
	kfree(file->private_data);
	return 0;
}

static const struct file_operations mmsb_fops = {
	.owner		= THIS_MODULE,
	.open		= mmsb_open,
	.release	= mmsb_release,
	.unlocked_ioctl	= mmsb_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= mmsb_mmap,
	.read		= mmsb_events_read,
	.poll		= mmsb_events_poll,
	.uring_cmd	= mmsb_uring_cmd,
	.llseek		= noop_llseek,
};

/* A page's last reference is gone: its memory waits for a GC tick. */
static void mmsb_bus_reclaim(void *arg)
{
	mmsb_tick_kick(arg);
}

/*
 * A page left the table (freed by a user, or evicted): drop its edges,
 * then tell the change streams (after the edges: see stream.c).
 */
static void mmsb_bus_page_freed(void *arg, struct mmsb_page *page)
{
	struct mmsb_dev *dev = arg;

	mmsb_prop_remove_page(&dev->prop, page->id);
	mmsb_stream_page_freed(&dev->stream, page);
}

/* A page enters the table: the change streams report it first. */
static void mmsb_bus_page_creating(void *arg, struct mmsb_page *page)
{
	struct mmsb_dev *dev = arg;

	mmsb_stream_page_creating(&dev->stream, page);
}

static void mmsb_bus_page_created(void *arg, struct mmsb_page *page, int err)
{
	struct mmsb_dev *dev = arg;

	mmsb_stream_page_created(&dev->stream, page, err);
}

/* An edge was added or deleted (under the graph's lock). */
static void mmsb_bus_edge(void *arg, struct mmsb_page *from,
			  struct mmsb_page *to, enum mmsb_graph_edge_kind kind,
			  bool add)
{
	struct mmsb_dev *dev = arg;

	mmsb_stream_edge(&dev->stream, from, to,
			 kind == MMSB_GRAPH_NOTIFY ? MMSB_EDGE_NOTIFY :
						     MMSB_EDGE_PASSTHROUGH,
			 add);
}

/*
 * Start bus @index: every component, bottom up, in one ladder.  Bus 0 is
 * /dev/mmsb, bus N /dev/mmsbN.
 */
static int mmsb_bus_init(struct mmsb_dev *dev, unsigned int index)
{
	struct mmsb_monitor_config mcfg = {
		.limit = (u64)mem_limit_mb << 20,
		.threshold = gc_threshold,
		.batch_pages = gc_batch_pages,
		.cold_age = cold_age,
		/* Ageing needs looks; 8 per page GC may take is plenty. */
		.scan_pages = max(gc_batch_pages * 8, 256U),
		.delta_bytes = &dev->deltas.bytes,
	};
	struct mmsb_tick_config tcfg = {
		.name = dev->name,
		.ring_size = ring_size,
		.period_us = tick_us,
		.budget_us = tick_budget_us,
		.batch_max = batch_max,
		.prop = &dev->prop,
		.mon = &dev->monitor,
		.stream = &dev->stream,
		.sqs = &dev->sqs,
	};
	int ret;

	if (index)
		snprintf(dev->name, sizeof(dev->name), "mmsb%u", index);
	else
		strscpy(dev->name, "mmsb", sizeof(dev->name));

	ret = mmsb_page_table_init(&dev->pages, (u64)mem_limit_mb << 20,
				   max_page_size);
	if (ret)
		return ret;
	mmsb_monitor_init(&dev->monitor, &dev->pages, &mcfg);
	mmsb_graph_init(&dev->graph, max_edges);
	ret = mmsb_prop_init(&dev->prop, &dev->graph, &dev->pages,
			     min(batch_max, MMSB_TICK_CHUNK));
	if (ret)
		goto err_graph;
	mmsb_delta_ctx_init(&dev->deltas, &dev->pages);
	mmsb_sq_list_init(&dev->sqs);
	ret = mmsb_engine_init(&dev->engine,
			       workers ? workers : num_online_cpus(),
			       dev->name);
	if (ret)
		goto err_deltas;
	mmsb_stream_bus_init(&dev->stream, &dev->pages, &dev->tick,
			     max_page_size, min(batch_max, MMSB_TICK_CHUNK));
	ret = mmsb_tick_init(&dev->tick, &tcfg, &dev->engine, &dev->deltas);
	if (ret)
		goto err_stream;
	/* From now on the tick frees pages (page.h, "Reclaim"). */
	mmsb_page_table_set_reclaim(&dev->pages, mmsb_bus_reclaim, &dev->tick);
	mmsb_page_table_set_freed(&dev->pages, mmsb_bus_page_freed, dev);
	mmsb_page_table_set_created(&dev->pages, mmsb_bus_page_creating,
				    mmsb_bus_page_created, dev);
	mmsb_prop_set_edge_hook(&dev->prop, mmsb_bus_edge, dev);

	dev->misc = (struct miscdevice) {
		.minor = MISC_DYNAMIC_MINOR,
		.name = dev->name,
		.fops = &mmsb_fops,
		.mode = 0666,
	};
	ret = misc_register(&dev->misc);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", dev->name, ret);
		goto err_tick;
	}
	/* Diagnostics only: a bus works without debugfs. */
	mmsb_debugfs_init(dev);
	return 0;

err_tick:
	mmsb_tick_destroy(&dev->tick);
	mmsb_prop_set_edge_hook(&dev->prop, NULL, NULL);
	mmsb_page_table_set_created(&dev->pages, NULL, NULL, NULL);
	mmsb_page_table_set_reclaim(&dev->pages, NULL, NULL);
	mmsb_page_table_set_freed(&dev->pages, NULL, NULL);
err_stream:
	mmsb_stream_bus_destroy(&dev->stream);
	mmsb_engine_destroy(&dev->engine);
err_deltas:
	mmsb_delta_ctx_destroy(&dev->deltas);
	mmsb_prop_destroy(&dev->prop);
err_graph:
	mmsb_graph_destroy(&dev->graph);
	mmsb_page_table_destroy(&dev->pages);
	return ret;
}

/* Stop a bus: the ladder of mmsb_bus_init() backwards. */
static void mmsb_bus_exit(struct mmsb_dev *dev)
{
	mmsb_debugfs_exit(dev);
	/* No new file; open ones hold the module, so none is left. */
	misc_deregister(&dev->misc);
	/* Queued deltas hold page references: they are applied first. */
	mmsb_tick_destroy(&dev->tick);
	/* No tick to kick: the table destroy frees what is left. */
	mmsb_prop_set_edge_hook(&dev->prop, NULL, NULL);
	mmsb_page_table_set_created(&dev->pages, NULL, NULL, NULL);
	mmsb_page_table_set_reclaim(&dev->pages, NULL, NULL);
	mmsb_page_table_set_freed(&dev->pages, NULL, NULL);
	/* Every stream closed before the module could go. */
	mmsb_stream_bus_destroy(&dev->stream);
	mmsb_engine_destroy(&dev->engine);
	mmsb_delta_ctx_destroy(&dev->deltas);
	/* The tick, which propagates, is gone. */
	mmsb_prop_destroy(&dev->prop);
	mmsb_graph_destroy(&dev->graph);
	mmsb_page_table_destroy(&dev->pages);
}

static struct mmsb_dev *mmsb_buses;
static unsigned int mmsb_nr_buses;

static void mmsb_buses_exit(void)
{
	while (mmsb_nr_buses)
		mmsb_bus_exit(&mmsb_buses[--mmsb_nr_buses]);
	kvfree(mmsb_buses);
	mmsb_buses = NULL;
}

static int __init mmsb_init(void)
{
	int ret;

	ret = mmsb_check_params();
	if (ret)
		return ret;
	mmsb_buses = kvcalloc(buses, sizeof(*mmsb_buses), GFP_KERNEL);
	if (!mmsb_buses)
		return -ENOMEM;
	for (; mmsb_nr_buses < buses; mmsb_nr_buses++) {
		ret = mmsb_bus_init(&mmsb_buses[mmsb_nr_buses], mmsb_nr_buses);
		if (ret) {
			mmsb_buses_exit();
			return ret;
		}
	}
	return 0;
}

static void __exit mmsb_exit(void)
{
	mmsb_buses_exit();
}

module_init(mmsb_init);
module_exit(mmsb_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Memory-Mapped State Bus: shared pages changed by deltas");
