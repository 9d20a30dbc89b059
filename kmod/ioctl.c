// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb control ioctls: VERSION, PAGE_CREATE (and restore), PAGE_FREE,
 * PAGE_INFO, PAGE_LIST, EDGE_ADD, EDGE_DEL, EDGE_LIST, STATS and
 * STREAM_OPEN (main.c
 * dispatches).
 *
 * Top layer, like submit.c and uring.c: each handler copies its
 * argument in once, checks every field, calls the bus's components with
 * kernel values only and copies the answer out.  The bus is the one the
 * file was opened on (mf->dev).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <kunit/visibility.h>

#include <linux/mmsb.h>

#include "events.h"
#include "ioctl.h"
#include "main.h"
#include "submit.h"

static long mmsb_ioctl_version(struct file *file, void __user *uarg)
{
	struct mmsb_version v = {
		.abi_version = MMSB_ABI_VERSION,
		.features = MMSB_FEATURES,
	};

	return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
}

/* struct mmsb_page_restore.fill: the first data from the user's @data. */
static int mmsb_restore_fill(void *dst, size_t size, void *arg)
{
	const struct mmsb_page_create *pc = arg;

	/* @data 0: the page keeps the zeroes it was allocated with. */
	if (!pc->data)
		return 0;
	return copy_from_user(dst, u64_to_user_ptr(pc->data), size) ?
		-EFAULT : 0;
}

static long mmsb_ioctl_page_create(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_page_restore restore;
	struct mmsb_page_create pc;
	struct mmsb_page *page;
	bool restoring;

	if (copy_from_user(&pc, uarg, sizeof(pc)))
		return -EFAULT;
	restoring = pc.flags & MMSB_PAGE_RESTORE;
	/* Bounds before narrowing to size_t and umode_t. */
	if (pc.flags & ~MMSB_PAGE_CREATE_FLAGS_ALL ||
	    (!restoring && (pc.epoch || pc.data)) ||
	    pc.size > MMSB_PAGE_SIZE_MAX || pc.mode > 0777)
		return -EINVAL;
	/* Ids and epochs are the bus's history: only an admin rewrites it. */
	if (restoring && !mf->admin)
		return -EPERM;
	restore = (struct mmsb_page_restore) {
		.id = pc.id,
		.epoch = pc.epoch,
		.fill = mmsb_restore_fill,
		.arg = &pc,
	};
	page = mmsb_page_create_restore(&mf->dev->pages, pc.size, pc.mode,
					pc.flags & ~MMSB_PAGE_RESTORE,
					mf->cred, restoring ? &restore : NULL);
	/*
	 * Usage may have crossed the GC threshold: an idle tick must run to
	 * age and evict cold evictable pages (a failed create too, so a
	 * retry finds room).
	 */
	if (mmsb_monitor_has_work(&mf->dev->monitor))
		mmsb_tick_kick(&mf->dev->tick);
	if (IS_ERR(page))
		return PTR_ERR(page);
	pc.id = page->id;
	pc.mmap_offset = mmsb_page_mmap_offset(page);
	mmsb_page_put(page);
	if (copy_to_user(uarg, &pc, sizeof(pc))) {
		/* Nobody learnt the id: do not leave an orphan behind. */
		mmsb_page_free(&mf->dev->pages, pc.id, mf->cred, true);
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
	/* Its edges go with it (the table's "page freed" hook). */
	ret = mmsb_page_free(&mf->dev->pages, id, mf->cred, mf->admin);
	if (!ret)
		pr_debug("page %llu freed\n", id);
	return ret;
}

/* Needs read permission: size, owner and epoch are the page's business. */
static long mmsb_ioctl_page_info(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct user_namespace *ns = mf->cred->user_ns;
	struct mmsb_page_info info;
	struct mmsb_page *page;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	page = mmsb_page_lookup(&mf->dev->pages, info.id, mf->cred, mf->admin,
				MMSB_MAY_READ);
	if (IS_ERR(page))
		return PTR_ERR(page);
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
	struct mmsb_file *mf = file->private_data;
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
	n = mmsb_page_list(&mf->dev->pages, pl.start_id, ids, pl.max,
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

	page = mmsb_page_lookup(&mf->dev->pages, id, mf->cred, mf->admin,
				MMSB_MAY_WRITE);
	if (IS_ERR(page))
		return PTR_ERR(page);
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
	struct mmsb_file *mf = file->private_data;
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
	ret = mmsb_prop_add_edge(&mf->dev->prop, from, to, kind);
	mmsb_page_put(to);
	mmsb_page_put(from);
	pr_debug("edge %llu -> %llu kind %u added: %ld\n", ue.from, ue.to,
		 ue.kind, ret);
	return ret;
}

static long mmsb_ioctl_edge_del(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
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
	/* A page freed meanwhile took its edges along: -ENOENT either way. */
	ret = mmsb_prop_del_edge(&mf->dev->prop, from, to, kind);
	mmsb_page_put(to);
	mmsb_page_put(from);
	return ret;
}

/* The change stream: stream.c owns it, user memory included. */
static long mmsb_ioctl_stream_open(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;

	return mmsb_stream_open_ioctl(&mf->dev->stream, mf, uarg);
}

/*
 * A page's outgoing edges, in one cut of the graph, by @to ascending.
 * Read permission on the page: its edges are part of what it shows.
 */
static long mmsb_ioctl_edge_list(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_graph_out *out = NULL;
	struct mmsb_edge_list el;
	struct mmsb_page *page;
	unsigned int i, n;
	long ret = 0;

	if (copy_from_user(&el, uarg, sizeof(el)))
		return -EFAULT;
	if (memchr_inv(el.reserved, 0, sizeof(el.reserved)) ||
	    el.max > MMSB_EDGE_LIST_MAX)
		return -EINVAL;
	page = mmsb_page_lookup(&mf->dev->pages, el.page_id, mf->cred,
				mf->admin, MMSB_MAY_READ);
	if (IS_ERR(page))
		return PTR_ERR(page);
	mmsb_page_put(page);
	if (el.max) {
		out = kvmalloc_array(el.max, sizeof(*out), GFP_KERNEL_ACCOUNT);
		if (!out)
			return -ENOMEM;
	}
	el.count = mmsb_prop_list_edges(&mf->dev->prop, el.page_id, out,
					el.max);
	n = min(el.count, el.max);
	for (i = 0; i < n && !ret; i++) {
		struct mmsb_edge ue = {
			.from = el.page_id,
			.to = out[i].to,
			.kind = out[i].kind,
		};
		struct mmsb_edge __user *dst = u64_to_user_ptr(el.edges);

		if (copy_to_user(&dst[i], &ue, sizeof(ue)))
			ret = -EFAULT;
	}
	kvfree(out);
	if (!ret && copy_to_user(uarg, &el, sizeof(el)))
		ret = -EFAULT;
	return ret;
}

/*
 * Every counter of MMSB_IOC_STATS by name, from the uapi's field lists,
 * in struct order, for debugfs.  KUnit (suite mmsb_stats) checks that
 * the lists cover every field of the structs.
 */
#define MMSB_STAT_DESC(t, f) \
	{ #f, offsetof(struct mmsb_stats, f), sizeof(t) },
#define MMSB_LAST_DESC(t, f) \
	{ "last." #f, offsetof(struct mmsb_stats, last.f), sizeof(t) },
const struct mmsb_stat_desc mmsb_stat_descs[] = {
	MMSB_TICK_METRICS_FIELDS(MMSB_LAST_DESC)
	MMSB_STATS_FIELDS(MMSB_STAT_DESC)
};
EXPORT_SYMBOL_IF_KUNIT(mmsb_stat_descs);

const unsigned int mmsb_nr_stat_descs = ARRAY_SIZE(mmsb_stat_descs);
EXPORT_SYMBOL_IF_KUNIT(mmsb_nr_stat_descs);

/* The delta and tick fields of MMSB_IOC_STATS; adds to mem_bytes. */
static void mmsb_stats_fill_deltas(struct mmsb_dev *dev,
				   struct mmsb_stats *st)
{
	struct mmsb_tick_totals tot;

	mmsb_tick_read_stats(&dev->tick, &st->last, &tot, &st->ring_depth,
			     &st->ring_capacity);
	st->ticks = tot.ticks;
	/*
	 * After the tick's totals: a delta is counted in @submitted before
	 * its chunk is pushed, and the push, the tick's pop and the totals'
	 * lock order that count before our read of the totals, so
	 * processed + conflicts <= submitted in every snapshot.
	 */
	st->submitted = atomic64_read(&dev->deltas.submitted);
	st->processed = tot.processed;
	st->rejected = tot.rejected + atomic64_read(&dev->deltas.rejected);
	st->conflicts = tot.conflicts;
	st->overruns = tot.overruns;
	st->delta_bytes = atomic64_read(&dev->deltas.bytes);
	st->mem_bytes += st->delta_bytes;
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
	mmsb_stats_fill_deltas(dev, st);
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
	struct mmsb_file *mf = file->private_data;
	struct mmsb_stats st = { };
	u32 size;

	/* @size and @pad: the part every version of the struct has. */
	if (copy_from_user(&st, uarg, offsetofend(struct mmsb_stats, pad)))
		return -EFAULT;
	size = st.size;
	if (size < offsetofend(struct mmsb_stats, pad) || st.pad)
		return -EINVAL;
	mmsb_stats_fill(mf->dev, &st);
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

/* The hot commands first: the lookup is a scan. */
static const struct mmsb_ioctl_desc mmsb_ioctls[] = {
	{ .cmd = MMSB_IOC_SUBMIT, .fn = mmsb_ioctl_submit },
	{ .cmd = MMSB_IOC_WAIT, .fn = mmsb_ioctl_wait },
	{ .cmd = MMSB_IOC_FLUSH, .fn = mmsb_ioctl_flush },
	{ .cmd = MMSB_IOC_VERSION, .fn = mmsb_ioctl_version },
	{ .cmd = MMSB_IOC_PAGE_CREATE, .fn = mmsb_ioctl_page_create },
	{ .cmd = MMSB_IOC_PAGE_FREE, .fn = mmsb_ioctl_page_free },
	{ .cmd = MMSB_IOC_PAGE_INFO, .fn = mmsb_ioctl_page_info },
	{ .cmd = MMSB_IOC_PAGE_LIST, .fn = mmsb_ioctl_page_list },
	{ .cmd = MMSB_IOC_STATS, .sized = true, .fn = mmsb_ioctl_stats },
	{ .cmd = MMSB_IOC_SUBSCRIBE, .fn = mmsb_ioctl_subscribe },
	{ .cmd = MMSB_IOC_EDGE_ADD, .fn = mmsb_ioctl_edge_add },
	{ .cmd = MMSB_IOC_EDGE_DEL, .fn = mmsb_ioctl_edge_del },
	{ .cmd = MMSB_IOC_EDGE_LIST, .fn = mmsb_ioctl_edge_list },
	{ .cmd = MMSB_IOC_STREAM_OPEN, .fn = mmsb_ioctl_stream_open },
	{ .cmd = MMSB_IOC_SQ_SETUP, .fn = mmsb_ioctl_sq_setup },
	{ .cmd = MMSB_IOC_SQ_ENTER, .fn = mmsb_ioctl_sq_enter },
};

/**
 * mmsb_ioctl() - the ->unlocked_ioctl of every bus
 * @file: an open bus
 * @cmd: MMSB_IOC_*
 * @arg: the argument, a user pointer for every command that has one
 *
 * Context: process context, sleeps.
 * Return: the handler's result, or -ENOTTY for an unknown command.
 */
long mmsb_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
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
