// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb - Memory-Mapped State Bus: the misc device, its file operations,
 * the ioctl dispatcher and the module parameters.
 *
 * This is the top layer: it copies ioctl arguments in and out, checks
 * every user field once, and calls the components below with kernel
 * values only (see Documentation/mmsb.rst, "Layers").
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include <linux/mmsb.h>

#include "debugfs.h"
#include "main.h"
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

static struct mmsb_dev mmsb_dev;

struct mmsb_param_bound {
	const char *name;
	unsigned long value;
	unsigned long min;
	unsigned long max;
};

static int mmsb_check_params(void)
{
	const struct mmsb_param_bound bounds[] = {
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

static long mmsb_ioctl_version(struct file *file, void __user *uarg)
{
	struct mmsb_version v = {
		.abi_version = MMSB_ABI_VERSION,
		.features = MMSB_FEATURES,
	};

	return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
}

static long mmsb_ioctl_page_create(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_page_create pc;
	struct mmsb_page *page;

	if (copy_from_user(&pc, uarg, sizeof(pc)))
		return -EFAULT;
	/* Bounds before narrowing to size_t and umode_t. */
	if (memchr_inv(pc.reserved, 0, sizeof(pc.reserved)) ||
	    pc.size > MMSB_PAGE_SIZE_MAX || pc.mode > 0777)
		return -EINVAL;
	page = mmsb_page_create(&mmsb_dev.pages, pc.size, pc.mode, pc.flags,
				mf->cred);
	/*
	 * Usage may have crossed the GC threshold: an idle tick must run to
	 * age and evict cold evictable pages (a failed create too, so a
	 * retry finds room).
	 */
	if (mmsb_monitor_has_work(&mmsb_dev.monitor))
		mmsb_tick_kick(&mmsb_dev.tick);
	if (IS_ERR(page))
		return PTR_ERR(page);
	pc.id = page->id;
	pc.mmap_offset = mmsb_page_mmap_offset(page);
	mmsb_page_put(page);
	if (copy_to_user(uarg, &pc, sizeof(pc))) {
		/* Nobody learnt the id: do not leave an orphan behind. */
		mmsb_page_free(&mmsb_dev.pages, pc.id, mf->cred, true);
		return -EFAULT;
	}
	pr_debug("page %llu created: %llu bytes, mode %04o, flags %#x\n",
		 pc.id, pc.size, pc.mode, pc.flags);
	return 0;
}

static long mmsb_ioctl_page_free(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_page_free pf;
	u64 id;
	int ret;

	if (copy_from_user(&pf, uarg, sizeof(pf)))
		return -EFAULT;
	if (pf.flags || pf.pad ||
	    memchr_inv(pf.reserved, 0, sizeof(pf.reserved)))
		return -EINVAL;
	id = pf.id;
	ret = mmsb_page_free(&mmsb_dev.pages, id, mf->cred, mf->admin);
	/* After ->live is cleared: no edge to the page can be added now. */
	if (!ret) {
		mmsb_prop_remove_page(&mmsb_dev.prop, id);
		pr_debug("page %llu freed\n", id);
	}
	return ret;
}

/* Needs read permission: size, owner and epoch are the page's business. */
static long mmsb_ioctl_page_info(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct user_namespace *ns = mf->cred->user_ns;
	struct mmsb_page_info info;
	struct mmsb_page *page;
	int ret;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	page = mmsb_page_get(&mmsb_dev.pages, info.id);
	if (!page)
		return -ENOENT;
	ret = mmsb_page_permission(page, mf->cred, mf->admin, MMSB_MAY_READ);
	if (ret) {
		mmsb_page_put(page);
		return ret;
	}
	info = (struct mmsb_page_info) {
		.id = page->id,
		.size = page->size,
		.epoch = READ_ONCE(page->epoch),
		.last_delta_id = READ_ONCE(page->last_delta_id),
		.mmap_offset = mmsb_page_mmap_offset(page),
		.map_size = page->map_size,
		.uid = from_kuid_munged(ns, page->uid),
		.gid = from_kgid_munged(ns, page->gid),
		.mode = page->mode,
		.flags = page->flags,
	};
	mmsb_page_put(page);
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

/* Lists every live id, readable or not: ids are not secrets. */
static long mmsb_ioctl_page_list(struct file *file, void __user *uarg)
{
	struct mmsb_page_list pl;
	u64 *ids;
	long ret = 0;
	int n;

	if (copy_from_user(&pl, uarg, sizeof(pl)))
		return -EFAULT;
	if (memchr_inv(pl.reserved, 0, sizeof(pl.reserved)) ||
	    !pl.max || pl.max > MMSB_PAGE_LIST_MAX)
		return -EINVAL;
	ids = kvmalloc_array(pl.max, sizeof(*ids), GFP_KERNEL_ACCOUNT);
	if (!ids)
		return -ENOMEM;
	n = mmsb_page_list(&mmsb_dev.pages, pl.start_id, ids, pl.max,
			   &pl.next_id);
	pl.count = n;
	if (copy_to_user(u64_to_user_ptr(pl.ids), ids, n * sizeof(*ids)) ||
	    copy_to_user(uarg, &pl, sizeof(pl)))
		ret = -EFAULT;
	kvfree(ids);
	return ret;
}

/*
 * Edges: both pages must exist and be writable through this file.  A
 * page with neither right is reported as missing only if it is, so the
 * errno says which check failed.
 */
static long mmsb_edge_copy_in(struct file *file, void __user *uarg,
			      struct mmsb_edge *ue,
			      enum mmsb_graph_edge_kind *kind)
{
	if (copy_from_user(ue, uarg, sizeof(*ue)))
		return -EFAULT;
	if (ue->flags || memchr_inv(ue->reserved, 0, sizeof(ue->reserved)))
		return -EINVAL;
	switch (ue->kind) {
	case MMSB_EDGE_PASSTHROUGH:
		*kind = MMSB_GRAPH_PASSTHROUGH;
		return 0;
	case MMSB_EDGE_NOTIFY:
		*kind = MMSB_GRAPH_NOTIFY;
		return 0;
	}
	return -EINVAL;
}

static int mmsb_edge_get_page(struct file *file, u64 id,
			      struct mmsb_page **out)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_page *page;
	int ret;

	page = mmsb_page_get(&mmsb_dev.pages, id);
	if (!page)
		return -ENOENT;
	ret = mmsb_page_permission(page, mf->cred, mf->admin, MMSB_MAY_WRITE);
	if (ret) {
		mmsb_page_put(page);
		return ret;
	}
	*out = page;
	return 0;
}

/* Look up and check both ends; on success the caller puts both. */
static int mmsb_edge_get_pages(struct file *file, const struct mmsb_edge *ue,
			       struct mmsb_page **from, struct mmsb_page **to)
{
	int ret;

	ret = mmsb_edge_get_page(file, ue->from, from);
	if (ret)
		return ret;
	ret = mmsb_edge_get_page(file, ue->to, to);
	if (ret)
		mmsb_page_put(*from);
	return ret;
}

static long mmsb_ioctl_edge_add(struct file *file, void __user *uarg)
{
	enum mmsb_graph_edge_kind kind;
	struct mmsb_page *from, *to;
	struct mmsb_edge ue;
	long ret;

	ret = mmsb_edge_copy_in(file, uarg, &ue, &kind);
	if (ret)
		return ret;
	/* A self edge needs no lookup to be refused. */
	if (ue.from == ue.to)
		return -ELOOP;
	ret = mmsb_edge_get_pages(file, &ue, &from, &to);
	if (ret)
		return ret;
	ret = mmsb_prop_add_edge(&mmsb_dev.prop, from, to, kind);
	mmsb_page_put(to);
	mmsb_page_put(from);
	pr_debug("edge %llu -> %llu kind %u added: %ld\n", ue.from, ue.to,
		 ue.kind, ret);
	return ret;
}

static long mmsb_ioctl_edge_del(struct file *file, void __user *uarg)
{
	enum mmsb_graph_edge_kind kind;
	struct mmsb_page *from, *to;
	struct mmsb_edge ue;
	long ret;

	ret = mmsb_edge_copy_in(file, uarg, &ue, &kind);
	if (ret)
		return ret;
	ret = mmsb_edge_get_pages(file, &ue, &from, &to);
	if (ret)
		return ret;
	mmsb_page_put(to);
	mmsb_page_put(from);
	/* A page freed meanwhile took its edges along: -ENOENT either way. */
	return mmsb_prop_del_edge(&mmsb_dev.prop, ue.from, ue.to, kind);
}

/**
 * mmsb_stats_fill() - the figures of MMSB_IOC_STATS
 * @dev: the device
 * @st: filled in; fields not filled here stay as they are (zero)
 *
 * Context: process context, sleeps (takes the graph's lock).
 */
void mmsb_stats_fill(struct mmsb_dev *dev, struct mmsb_stats *st)
{
	struct mmsb_monitor_totals gc;

	st->pages = mmsb_page_table_pages(&dev->pages);
	st->page_bytes = mmsb_page_table_bytes(&dev->pages);
	st->page_meta_bytes = mmsb_monitor_meta_bytes(&dev->monitor);
	st->mem_bytes = st->page_bytes + st->page_meta_bytes;
	st->mem_limit = dev->pages.limit;
	mmsb_deltas_stats(dev, st);
	mmsb_prop_stats(&dev->prop, &st->edges, &st->graph_bytes);
	st->mem_bytes += st->graph_bytes;
	/*
	 * The ring's slots, the tick's partition buffer and the free chunks
	 * kept for reuse (batch.h).
	 */
	st->ring_bytes = st->ring_capacity * sizeof(struct mmsb_ring_slot) +
			 dev->tick.chunk * sizeof(void *) +
			 mmsb_delta_ctx_pool_bytes(&dev->deltas);
	st->mem_bytes += st->ring_bytes;
	mmsb_monitor_read(&dev->monitor, NULL, &gc);
	st->gc_runs = gc.runs;
	st->gc_reclaimed_pages = gc.reclaimed_pages;
	st->gc_reclaimed_bytes = gc.reclaimed_bytes;
	st->gc_evicted = gc.evicted;
	st->gc_max_ns = gc.max_ns;
	st->gc_pending = mmsb_page_reclaim_pending(&dev->pages);
}

/*
 * struct mmsb_stats starts with its size: copy out no more than the
 * caller knows of, and tell it how much the kernel has.
 */
static long mmsb_ioctl_stats(struct file *file, void __user *uarg)
{
	struct mmsb_stats st = { };
	u32 size;

	/* @size and @pad: the part every version of the struct has. */
	if (copy_from_user(&st, uarg, offsetofend(struct mmsb_stats, pad)))
		return -EFAULT;
	size = st.size;
	if (size < offsetofend(struct mmsb_stats, pad) || st.pad)
		return -EINVAL;
	mmsb_stats_fill(&mmsb_dev, &st);
	st.size = sizeof(st);
	return copy_to_user(uarg, &st, min_t(size_t, size, sizeof(st))) ?
		-EFAULT : 0;
}

/*
 * One handler per command.  The command number encodes the argument's
 * size and direction, so a caller built against a different struct
 * layout gets -ENOTTY rather than a misread argument -- except where the
 * argument starts with its own size (@sized: MMSB_IOC_STATS), so that
 * programs built against an older or newer struct still work.
 */
struct mmsb_ioctl_desc {
	unsigned int cmd;
	bool sized;
	long (*fn)(struct file *file, void __user *uarg);
};

#define MMSB_IOC_NOSIZE(cmd)	((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

static const struct mmsb_ioctl_desc mmsb_ioctls[] = {
	{ .cmd = MMSB_IOC_VERSION, .fn = mmsb_ioctl_version },
	{ .cmd = MMSB_IOC_PAGE_CREATE, .fn = mmsb_ioctl_page_create },
	{ .cmd = MMSB_IOC_PAGE_FREE, .fn = mmsb_ioctl_page_free },
	{ .cmd = MMSB_IOC_PAGE_INFO, .fn = mmsb_ioctl_page_info },
	{ .cmd = MMSB_IOC_PAGE_LIST, .fn = mmsb_ioctl_page_list },
	{ .cmd = MMSB_IOC_STATS, .sized = true, .fn = mmsb_ioctl_stats },
	{ .cmd = MMSB_IOC_SUBMIT, .fn = mmsb_ioctl_submit },
	{ .cmd = MMSB_IOC_WAIT, .fn = mmsb_ioctl_wait },
	{ .cmd = MMSB_IOC_FLUSH, .fn = mmsb_ioctl_flush },
	{ .cmd = MMSB_IOC_SUBSCRIBE, .fn = mmsb_ioctl_subscribe },
	{ .cmd = MMSB_IOC_EDGE_ADD, .fn = mmsb_ioctl_edge_add },
	{ .cmd = MMSB_IOC_EDGE_DEL, .fn = mmsb_ioctl_edge_del },
};

static long mmsb_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(mmsb_ioctls); i++) {
		const struct mmsb_ioctl_desc *d = &mmsb_ioctls[i];

		if (d->cmd == cmd || (d->sized && MMSB_IOC_NOSIZE(d->cmd) ==
					      MMSB_IOC_NOSIZE(cmd)))
			return d->fn(file, (void __user *)arg);
	}
	return -ENOTTY;
}

static int mmsb_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mmsb_file *mf = file->private_data;

	if (vma->vm_pgoff == MMSB_BUS_HEADER_OFFSET >> PAGE_SHIFT)
		return mmsb_tick_mmap_bus(&mmsb_dev.tick, vma);
	return mmsb_page_mmap(&mmsb_dev.pages, vma, mf->cred, mf->admin);
}

/*
 * Privilege is decided here, once: the opener's credentials and
 * CAP_SYS_ADMIN then govern every call made through the file, whoever
 * the file is passed to.
 */
static int mmsb_open(struct inode *inode, struct file *file)
{
	struct mmsb_file *mf;

	mf = kzalloc(sizeof(*mf), GFP_KERNEL_ACCOUNT);
	if (!mf)
		return -ENOMEM;
	mf->cred = file->f_cred;
	mf->admin = capable(CAP_SYS_ADMIN);
	mf->dev = &mmsb_dev;
	mmsb_events_init(mf);
	mmsb_submit_open(mf);
	file->private_data = mf;
	return 0;
}

static int mmsb_release(struct inode *inode, struct file *file)
{
	/* Queued deltas stay queued: they belong to the tick now. */
	mmsb_submit_release(file->private_data);
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

static struct miscdevice mmsb_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "mmsb",
	.fops	= &mmsb_fops,
	.mode	= 0666,
};

/* A page's last reference is gone: its memory waits for a GC tick. */
static void mmsb_gc_notify(void *arg)
{
	mmsb_tick_kick(arg);
}

/* GC evicted a page: drop its edges, as MMSB_IOC_PAGE_FREE does. */
static void mmsb_gc_evicted(void *arg, u64 id)
{
	mmsb_prop_remove_page(arg, id);
}

static int __init mmsb_init(void)
{
	struct mmsb_monitor_config mcfg = {
		.limit = (u64)mem_limit_mb << 20,
		.threshold = gc_threshold,
		.batch_pages = gc_batch_pages,
		.cold_age = cold_age,
		/* Ageing needs looks; 8 per page GC may take is plenty. */
		.scan_pages = max(gc_batch_pages * 8, 256U),
		.delta_bytes = &mmsb_dev.deltas.bytes,
		.evicted = mmsb_gc_evicted,
		.arg = &mmsb_dev.prop,
	};
	struct mmsb_deltas_config dcfg = {
		.workers = workers ? workers : num_online_cpus(),
		.tick = {
			.ring_size = ring_size,
			.period_us = tick_us,
			.budget_us = tick_budget_us,
			.batch_max = batch_max,
			.prop = &mmsb_dev.prop,
			.mon = &mmsb_dev.monitor,
		},
	};
	int ret;

	ret = mmsb_check_params();
	if (ret)
		return ret;

	ret = mmsb_page_table_init(&mmsb_dev.pages, (u64)mem_limit_mb << 20,
				   max_page_size);
	if (ret)
		return ret;
	mmsb_monitor_init(&mmsb_dev.monitor, &mmsb_dev.pages, &mcfg);

	mmsb_graph_init(&mmsb_dev.graph, max_edges);
	ret = mmsb_prop_init(&mmsb_dev.prop, &mmsb_dev.graph, &mmsb_dev.pages,
			     min(batch_max, MMSB_TICK_CHUNK));
	if (ret)
		goto err_graph;

	ret = mmsb_deltas_init(&mmsb_dev, &dcfg);
	if (ret)
		goto err_prop;
	/* From now on the tick frees pages (page.h, "Reclaim"). */
	mmsb_page_table_set_reclaim(&mmsb_dev.pages, mmsb_gc_notify,
				    &mmsb_dev.tick);

	ret = misc_register(&mmsb_misc);
	if (ret) {
		pr_err("cannot register /dev/mmsb: %d\n", ret);
		goto err_deltas;
	}
	/* Diagnostics only: mmsb works without debugfs. */
	mmsb_debugfs_init(&mmsb_dev);
	return 0;

err_deltas:
	mmsb_deltas_exit(&mmsb_dev);
	mmsb_page_table_set_reclaim(&mmsb_dev.pages, NULL, NULL);
err_prop:
	mmsb_prop_destroy(&mmsb_dev.prop);
err_graph:
	mmsb_graph_destroy(&mmsb_dev.graph);
	mmsb_page_table_destroy(&mmsb_dev.pages);
	return ret;
}

static void __exit mmsb_exit(void)
{
	mmsb_debugfs_exit();
	misc_deregister(&mmsb_misc);
	/* Queued deltas hold page references: apply them first. */
	mmsb_deltas_exit(&mmsb_dev);
	/* No tick to kick: the table destroy frees what is left. */
	mmsb_page_table_set_reclaim(&mmsb_dev.pages, NULL, NULL);
	/* The tick, which propagates, is gone. */
	mmsb_prop_destroy(&mmsb_dev.prop);
	mmsb_graph_destroy(&mmsb_dev.graph);
	mmsb_page_table_destroy(&mmsb_dev.pages);
}

module_init(mmsb_init);
module_exit(mmsb_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Memory-Mapped State Bus: shared pages changed by deltas");
