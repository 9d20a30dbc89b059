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
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include <linux/mmsb.h>

#include "main.h"

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
	return 0;
}

static long mmsb_ioctl_page_free(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	u64 id;

	if (get_user(id, (u64 __user *)uarg))
		return -EFAULT;
	return mmsb_page_free(&mmsb_dev.pages, id, mf->cred, mf->admin);
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
	ids = kvmalloc_array(pl.max, sizeof(*ids), GFP_KERNEL);
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

/* The figures of MMSB_IOC_STATS; fields not filled here stay zero. */
static void mmsb_stats_fill(struct mmsb_stats *st)
{
	st->pages = mmsb_page_table_pages(&mmsb_dev.pages);
	st->page_bytes = mmsb_page_table_bytes(&mmsb_dev.pages);
	st->mem_bytes = st->page_bytes;
	st->mem_limit = mmsb_dev.pages.limit;
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
	mmsb_stats_fill(&st);
	st.size = sizeof(st);
	return copy_to_user(uarg, &st, min_t(size_t, size, sizeof(st))) ?
		-EFAULT : 0;
}

/*
 * One handler per command.  The command number encodes the argument's
 * size and direction, so a caller built against a different struct
 * layout gets -ENOTTY rather than a misread argument.
 */
struct mmsb_ioctl_desc {
	unsigned int cmd;
	long (*fn)(struct file *file, void __user *uarg);
};

static const struct mmsb_ioctl_desc mmsb_ioctls[] = {
	{ MMSB_IOC_VERSION, mmsb_ioctl_version },
	{ MMSB_IOC_PAGE_CREATE, mmsb_ioctl_page_create },
	{ MMSB_IOC_PAGE_FREE, mmsb_ioctl_page_free },
	{ MMSB_IOC_PAGE_INFO, mmsb_ioctl_page_info },
	{ MMSB_IOC_PAGE_LIST, mmsb_ioctl_page_list },
	{ MMSB_IOC_STATS, mmsb_ioctl_stats },
};

static long mmsb_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(mmsb_ioctls); i++)
		if (mmsb_ioctls[i].cmd == cmd)
			return mmsb_ioctls[i].fn(file, (void __user *)arg);
	return -ENOTTY;
}

static int mmsb_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct mmsb_file *mf = file->private_data;

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

	mf = kzalloc(sizeof(*mf), GFP_KERNEL);
	if (!mf)
		return -ENOMEM;
	mf->cred = file->f_cred;
	mf->admin = capable(CAP_SYS_ADMIN);
	file->private_data = mf;
	return 0;
}

static int mmsb_release(struct inode *inode, struct file *file)
{
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
	.llseek		= noop_llseek,
};

static struct miscdevice mmsb_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "mmsb",
	.fops	= &mmsb_fops,
	.mode	= 0666,
};

static int __init mmsb_init(void)
{
	int ret;

	ret = mmsb_check_params();
	if (ret)
		return ret;

	ret = mmsb_page_table_init(&mmsb_dev.pages, (u64)mem_limit_mb << 20,
				   max_page_size);
	if (ret)
		return ret;

	ret = misc_register(&mmsb_misc);
	if (ret) {
		pr_err("cannot register /dev/mmsb: %d\n", ret);
		goto err_pages;
	}
	return 0;

err_pages:
	mmsb_page_table_destroy(&mmsb_dev.pages);
	return ret;
}

static void __exit mmsb_exit(void)
{
	misc_deregister(&mmsb_misc);
	mmsb_page_table_destroy(&mmsb_dev.pages);
}

module_init(mmsb_init);
module_exit(mmsb_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Memory-Mapped State Bus: shared pages changed by deltas");
