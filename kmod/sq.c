// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb mapped submission queue (uapi: "Mapped submission queue").
 *
 * One queue per open file: a ring header, the SQE array, the CQE array
 * and the payload arena in one accounted vmalloc area, mapped writable
 * into the process that set it up.  User space publishes SQEs with a
 * release store of sq_tail; the kernel consumes them here, in the tick
 * and in MMSB_IOC_SQ_ENTER with MMSB_SQ_ENTER_SUBMIT, which take turns
 * on the queue's @lock (the tick only tries it: a queue another
 * consumer holds waits for the next tick).  Ticks run where the work
 * is: in the tick's thread, in SQ_ENTER (SUBMIT, or GETEVENTS waiting
 * for SQEs nobody took), and with MMSB_SQ_POLL in the queue's poller
 * kthread, while SQEs wait, until it found none for sq_idle_ms (then
 * MMSB_SQ_NEED_WAKEUP).
 *
 * In place: a tick that begins with nothing queued, no change stream
 * and no edge applies the SQEs published when it began itself, after
 * its drain (sq_apply.c).
 *
 * Through the queue (any other tick, before its drain, SQ_ENTER's
 * SUBMIT, and SQEs of other encodings): a round of SQEs is a submission
 * like the ioctl's, one awaited batch through the tick's queue, whose
 * end writes the CQEs (sq_round.c).  An SQE is consumed only when its
 * CQE has room: @inflight counts the CQEs owed, so the CQ never
 * overflows.
 *
 * Here: the queue's setup, mapping and end, SQ_ENTER, the CQ's
 * publication and the poller.
 *
 * Lifetime: the file's reference, plus one per round in flight (the
 * batch's ->done drops it), so a queue whose file was released goes
 * when its last delta completed.  Release stops consuming and waits for
 * that, so the memory is back when close() returns.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <kunit/visibility.h>

#include "batch.h"
#include "compat.h"
#include "delta.h"
#include "engine.h"
#include "file.h"
#include "main.h"
#include "page.h"
#include "sq.h"
#include "sq_internal.h"
#include "tick.h"

/* The SQE array starts after the ring header. */
#define MMSB_SQ_SQES_OFF	sizeof(struct mmsb_sq_ring)

/**
 * mmsb_sq_list_init() - a bus's empty list of queues
 * @list: the list
 */
void mmsb_sq_list_init(struct mmsb_sq_list *list)
{
	mutex_init(&list->lock);
	INIT_LIST_HEAD(&list->head);
	list->nr = 0;
	list->round = 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_list_init);

static void mmsb_sq_free(struct kref *ref)
{
	struct mmsb_sq *sq = container_of(ref, struct mmsb_sq, ref);

	if (sq->eventfd)
		eventfd_ctx_put(sq->eventfd);
	kvfree(sq->spare_round);
	vfree(sq->mem);
	mmsb_delta_uncharge(sq->bus.deltas, sq->map_size);
	put_cred(sq->cred);
	mem_cgroup_put(sq->memcg);
	kfree(sq);
}

/* Drop a reference, the file's or a round's: the last frees the queue. */
void mmsb_sq_put(struct mmsb_sq *sq)
{
	kref_put(&sq->ref, mmsb_sq_free);
}

/**
 * mmsb_sq_mem() - the queue's memory, as user space maps it
 * @sq: the queue
 *
 * For KUnit, which plays user space on it.
 *
 * Return: the start of the ring header.
 */
void *mmsb_sq_mem(struct mmsb_sq *sq)
{
	return sq->mem;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_mem);

/*
 * CQEs the kernel owes or posted that user space has not read, from the
 * cq_head it stored; a head that no sane reader stores (ahead of the
 * tail, or more than the CQ behind it) counts as a full CQ.  Called
 * with @cq_lock held.
 */
static u32 mmsb_sq_cq_used(struct mmsb_sq *sq)
{
	/*
	 * Pairs with user space's release store of cq_head after it read
	 * the CQEs before it: their slots may be written again.
	 */
	u32 used = sq->cq_tail - smp_load_acquire(&sq->ring->cq_head);

	return min(used, sq->cq_entries);
}

/* CQ slots neither posted and unread nor owed: what may be consumed. */
u32 mmsb_sq_cq_room(struct mmsb_sq *sq)
{
	u32 used;

	spin_lock(&sq->cq_lock);
	used = mmsb_sq_cq_used(sq) + sq->inflight;
	spin_unlock(&sq->cq_lock);
	return used >= sq->cq_entries ? 0 : sq->cq_entries - used;
}

/**
 * mmsb_sq_ready() - CQEs ready for user space
 * @sq: the queue
 *
 * Return: cq_tail - cq_head as the kernel published them (at most the
 * CQ).
 */
u32 mmsb_sq_ready(struct mmsb_sq *sq)
{
	u32 n;

	spin_lock(&sq->cq_lock);
	/* As in mmsb_sq_cq_used(), from the tail published. */
	n = min(sq->cq_pub - smp_load_acquire(&sq->ring->cq_head),
		sq->cq_entries);
	spin_unlock(&sq->cq_lock);
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_ready);

/*
 * Publish the CQEs written so far, with @cq_lock held; not while CQEs
 * of SQEs applied in place wait for the end of their tick, which come
 * first in the ring (mmsb_sq_tick_end() publishes these too).
 */
void mmsb_sq_publish(struct mmsb_sq *sq)
{
	if (sq->cq_held)
		return;
	sq->cq_pub = sq->cq_tail;
	/*
	 * The CQEs before the tail.  Pairs with user space's acquire load
	 * of cq_tail, before it reads them.
	 */
	smp_store_release(&sq->ring->cq_tail, sq->cq_tail);
}

/*
 * CQEs were published: wake SQ_ENTER's waiters and signal the eventfd.
 * Process context (the tick's thread, the poller, a consuming call).
 */
void mmsb_sq_notify(struct mmsb_sq *sq)
{
	wake_up_all(&sq->cq_wq);
	if (sq->eventfd)
		eventfd_signal(sq->eventfd);
}

/*
 * SQEs published that a round would take now: a sane tail ahead of the
 * head, room in the CQ, and at the head no atomic chain that waits (for
 * its last SQE, or for room for all of it: mmsb_sq_span(), without
 * @lock: a look, as the round's own).  A tail no sane writer stores, a
 * CQ user space does not reap, or a chain it does not finish, leaves the
 * poller nothing to do: it sleeps rather than look again every few
 * microseconds for ever, and the tick, which consumes every queue, takes
 * the SQEs once they can go.
 */
static bool mmsb_sq_pending(struct mmsb_sq *sq)
{
	u32 head = READ_ONCE(sq->sq_head);
	u32 n = READ_ONCE(sq->ring->sq_tail) - head;
	u32 room, max, span;
	bool chain;

	if (!n || n > sq->entries)
		return false;
	room = mmsb_sq_cq_room(sq);
	if (!room || READ_ONCE(sq->chain_e2big))
		return room;
	/* No chain at the head (one load): work. */
	if (!(READ_ONCE(sq->sqes[head & (sq->entries - 1)].flags) &
	      MMSB_SQE_ATOMIC))
		return true;
	/* A chain waits for its last SQE and for room for all of it. */
	max = mmsb_sq_chain_max(sq);
	span = mmsb_sq_span(sq, head, n, max, &chain);
	if (!span)
		return n >= min(sq->entries, max);
	return !chain || room >= span;
}

/*
 * The poller: while SQEs wait, run a tick here, which consumes them (in
 * place, or through the queue: see mmsb_tick_run()), unless one runs
 * already; after @idle without any, set NEED_WAKEUP and sleep until
 * SQ_ENTER's WAKEUP.  Between looks it sleeps a little rather than
 * spin: the tick's own thread needs the CPU too.
 */
static int mmsb_sq_poll_fn(void *arg)
{
	struct mmsb_sq *sq = arg;
	struct mmsb_sq_ring *r = sq->ring;
	unsigned long idle_end = jiffies + sq->idle;
	u32 head;

	while (!kthread_should_stop()) {
		head = READ_ONCE(sq->sq_head);
		if (mmsb_sq_pending(sq)) {
			mmsb_tick_run_here(sq->bus.tick);
			if (READ_ONCE(sq->sq_head) != head) {
				idle_end = jiffies + sq->idle;
				cond_resched();
				continue;
			}
		}
		if (time_before(jiffies, idle_end)) {
			usleep_range(20, 50);
			continue;
		}
		WRITE_ONCE(r->flags, MMSB_SQ_NEED_WAKEUP);
		/*
		 * The flag before the look at the tail.  Pairs with the
		 * full fence of a writer between its tail store and its
		 * load of flags (mmsb_sq_submit() in libmmsb): either we
		 * see its SQEs or it sees the flag and wakes us.
		 */
		smp_mb();
		if (!mmsb_sq_pending(sq))
			wait_event_idle(sq->poll_wq, READ_ONCE(sq->wake) ||
					kthread_should_stop());
		WRITE_ONCE(sq->wake, false);
		WRITE_ONCE(r->flags, 0);
		idle_end = jiffies + sq->idle;
	}
	return 0;
}

/* Wake an idle poller (MMSB_SQ_ENTER_WAKEUP). */
static void mmsb_sq_wake_poller(struct mmsb_sq *sq)
{
	if (!sq->poller)
		return;
	WRITE_ONCE(sq->wake, true);
	wake_up(&sq->poll_wq);
}

/* Check what user space asked for; compute the layout. */
static int mmsb_sq_check(struct mmsb_sq_setup *p)
{
	u64 cqes_end;

	if (!p->entries || p->entries > MMSB_SQ_ENTRIES_MAX ||
	    !is_power_of_2(p->entries))
		return -EINVAL;
	if ((p->flags & ~MMSB_SQ_SETUP_FLAGS_ALL) ||
	    (p->eventfd && !(p->flags & MMSB_SQ_EVENTFD)) ||
	    memchr_inv(p->reserved, 0, sizeof(p->reserved)))
		return -EINVAL;
	if (p->arena_bytes > MMSB_SQ_ARENA_MAX || p->arena_bytes % 8)
		return -EINVAL;
	if (p->sq_idle_ms > MMSB_SQ_IDLE_MS_MAX ||
	    (p->sq_idle_ms && !(p->flags & MMSB_SQ_POLL)))
		return -EINVAL;
	p->sqes_off = MMSB_SQ_SQES_OFF;
	p->cqes_off = p->sqes_off + (u64)p->entries * sizeof(struct mmsb_sqe);
	cqes_end = p->cqes_off + 2ULL * p->entries * sizeof(struct mmsb_cqe);
	p->arena_off = PAGE_ALIGN(cqes_end);
	p->map_size = PAGE_ALIGN(p->arena_off + p->arena_bytes);
	return 0;
}

/**
 * mmsb_sq_create() - a queue, consumed by its bus's tick from now on
 * @bus: the bus's queue list, submission state and tick
 * @cred: the credentials deltas are checked with (a reference is taken)
 * @admin: they bypass page modes
 * @p: the setup; checked here, and its outputs (layout) filled in
 *
 * The memory is charged to the bus's limit (in delta_bytes) and to the
 * caller's memory cgroup.  With MMSB_SQ_POLL, the poller starts.
 *
 * Context: process context, sleeps.
 * Return: the queue, or ERR_PTR(-EINVAL) (a field of @p), -ENOMEM (the
 * limit, or no memory), or the poller's creation error.
 */
struct mmsb_sq *mmsb_sq_create(const struct mmsb_sq_bus *bus,
			       const struct cred *cred, bool admin,
			       struct mmsb_sq_setup *p)
{
	struct mmsb_sq *sq;
	int ret;

	ret = mmsb_sq_check(p);
	if (ret)
		return ERR_PTR(ret);
	sq = kzalloc(sizeof(*sq), GFP_KERNEL_ACCOUNT);
	if (!sq)
		return ERR_PTR(-ENOMEM);
	sq->bus = *bus;
	if (p->flags & MMSB_SQ_EVENTFD) {
		sq->eventfd = eventfd_ctx_fdget(p->eventfd);
		if (IS_ERR(sq->eventfd)) {
			ret = PTR_ERR(sq->eventfd);
			goto err_free;
		}
	}
	sq->map_size = p->map_size;
	ret = mmsb_delta_charge(bus->deltas, sq->map_size);
	if (ret)
		goto err_eventfd;
	ret = -ENOMEM;
	/* As the pages: -ENOMEM rather than the cgroup's OOM killer. */
	sq->mem = __vmalloc(sq->map_size, GFP_KERNEL_ACCOUNT | __GFP_ZERO |
			    __GFP_NOWARN | __GFP_RETRY_MAYFAIL);
	if (!sq->mem)
		goto err_uncharge;
	kref_init(&sq->ref);
	sq->cred = get_cred(cred);
	sq->memcg = get_mem_cgroup_from_mm(current->mm);
	sq->admin = admin;
	mutex_init(&sq->lock);
	spin_lock_init(&sq->cq_lock);
	init_waitqueue_head(&sq->cq_wq);
	init_waitqueue_head(&sq->poll_wq);
	sq->entries = p->entries;
	sq->cq_entries = 2 * p->entries;
	sq->arena_bytes = p->arena_bytes;
	sq->ring = sq->mem;
	sq->sqes = sq->mem + p->sqes_off;
	sq->cqes = sq->mem + p->cqes_off;
	sq->arena = sq->mem + p->arena_off;
	sq->ring->sq_mask = sq->entries - 1;
	sq->ring->cq_mask = sq->cq_entries - 1;
	sq->ring->entries = sq->entries;
	sq->ring->arena_bytes = sq->arena_bytes;
	sq->idle = msecs_to_jiffies(p->sq_idle_ms ?: MMSB_SQ_IDLE_MS_DEFAULT);
	if (p->flags & MMSB_SQ_POLL) {
		sq->poller = kthread_run(mmsb_sq_poll_fn, sq, "%s-sqpoll",
					 bus->name ?: "mmsb");
		if (IS_ERR(sq->poller)) {
			ret = PTR_ERR(sq->poller);
			sq->poller = NULL;
			mmsb_sq_put(sq);
			return ERR_PTR(ret);
		}
	}
	mutex_lock(&bus->list->lock);
	list_add_tail(&sq->node, &bus->list->head);
	WRITE_ONCE(bus->list->nr, bus->list->nr + 1);
	mutex_unlock(&bus->list->lock);
	/* A timer stopped for idleness runs again, for the queue. */
	mmsb_tick_wake_timer(bus->tick);
	return sq;

err_uncharge:
	mmsb_delta_uncharge(bus->deltas, sq->map_size);
err_eventfd:
	if (sq->eventfd)
		eventfd_ctx_put(sq->eventfd);
err_free:
	kfree(sq);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_create);

static bool mmsb_sq_settled(struct mmsb_sq *sq)
{
	bool settled;

	spin_lock(&sq->cq_lock);
	settled = !sq->inflight;
	spin_unlock(&sq->cq_lock);
	return settled;
}

/**
 * mmsb_sq_destroy() - stop consuming, wait for the deltas in flight,
 *	drop the queue
 * @sq: the queue; nobody maps it any more
 *
 * The tick no longer sees it and the poller stops; the deltas already
 * queued are applied (or refused) as usual, at the ticks this asks for,
 * and their CQEs written; then the memory goes.
 *
 * Context: process context, sleeps.
 */
void mmsb_sq_destroy(struct mmsb_sq *sq)
{
	struct mmsb_sq_list *list = sq->bus.list;

	mutex_lock(&list->lock);
	list_del(&sq->node);
	WRITE_ONCE(list->nr, list->nr - 1);
	mutex_unlock(&list->lock);
	if (sq->poller)
		kthread_stop(sq->poller);
	mutex_lock(&sq->lock);
	sq->dead = true;
	mutex_unlock(&sq->lock);
	if (!mmsb_sq_settled(sq)) {
		mmsb_tick_kick(sq->bus.tick);
		wait_event(sq->cq_wq, mmsb_sq_settled(sq));
	}
	mmsb_sq_put(sq);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_destroy);

/**
 * mmsb_sq_mmap() - map the file's queue, writable (->mmap at
 *	MMSB_SQ_OFFSET and past it)
 * @mf: the file
 * @vma: the new mapping
 *
 * Shared only; not copied by fork() (VM_DONTCOPY), never grown
 * (VM_DONTEXPAND), never executable.  The mapping holds the file, so
 * the queue outlives it.
 *
 * Return: 0, -EINVAL (an offset other than MMSB_SQ_OFFSET, a private
 * mapping, one longer than the queue), -ENXIO (the file has no queue),
 * -EPERM (PROT_EXEC), or vm_insert_page()'s error.
 */
int mmsb_sq_mmap(struct mmsb_file *mf, struct vm_area_struct *vma)
{
	/* Pairs with the release store that published the queue. */
	struct mmsb_sq *sq = smp_load_acquire(&mf->sq);
	unsigned long addr;
	size_t off = 0;
	int ret;

	if (vma->vm_pgoff != MMSB_SQ_OFFSET >> PAGE_SHIFT)
		return -EINVAL;
	if (!sq)
		return -ENXIO;
	if (!(vma->vm_flags & VM_SHARED) ||
	    vma->vm_end - vma->vm_start > sq->map_size)
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP);
	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		ret = vm_insert_page(vma, addr,
				     vmalloc_to_page((u8 *)sq->mem + off));
		if (ret)
			return ret;
		off += PAGE_SIZE;
	}
	return 0;
}

/**
 * mmsb_ioctl_sq_setup() - MMSB_IOC_SQ_SETUP
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_sq_setup
 *
 * Return: 0, -EBUSY (the file has a queue), -EINVAL, -ENOMEM, -EFAULT.
 */
long mmsb_ioctl_sq_setup(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_dev *dev = mf->dev;
	struct mmsb_sq_bus bus = {
		.list = &dev->sqs,
		.deltas = mf->deltas,
		.tick = mf->tick,
		.name = dev->name,
	};
	struct mmsb_sq_setup p;
	struct mmsb_sq *sq;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	if (READ_ONCE(mf->sq))
		return -EBUSY;
	sq = mmsb_sq_create(&bus, mf->cred, mf->admin, &p);
	if (IS_ERR(sq))
		return PTR_ERR(sq);
	if (copy_to_user(uarg, &p, sizeof(p))) {
		mmsb_sq_destroy(sq);
		return -EFAULT;
	}
	/* Pairs with the acquire loads of mmsb_sq_mmap() and SQ_ENTER. */
	if (cmpxchg_release(&mf->sq, NULL, sq)) {
		mmsb_sq_destroy(sq);
		return -EBUSY;
	}
	return 0;
}

/* GETEVENTS: wait until @min CQEs are ready, or the timeout. */
static int mmsb_sq_wait(struct mmsb_sq *sq, u32 min, u64 timeout_ns)
{
	long ret;

	if (mmsb_sq_ready(sq) >= min)
		return 0;
	if (!timeout_ns)
		return -ETIMEDOUT;
	if (timeout_ns == U64_MAX)
		ret = wait_event_interruptible(sq->cq_wq,
					       mmsb_sq_ready(sq) >= min);
	else
		ret = wait_event_interruptible_hrtimeout(sq->cq_wq,
							 mmsb_sq_ready(sq) >= min,
							 ns_to_ktime(min_t(u64, timeout_ns,
									   KTIME_MAX)));
	if (ret == -ETIME)
		return -ETIMEDOUT;
	return ret ? -EINTR : 0;
}

/**
 * mmsb_ioctl_sq_enter() - MMSB_IOC_SQ_ENTER
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_sq_enter
 *
 * Return: 0, -EINVAL, -ENXIO (no queue), -ETIMEDOUT, -EINTR, -ENOMEM
 * (SUBMIT could not allocate a round), -EFAULT.
 */
long mmsb_ioctl_sq_enter(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_sq_enter __user *u = uarg;
	struct mmsb_sq_enter e;
	struct mmsb_sq *sq;
	bool getevents;
	int ret = 0, n;

	if (copy_from_user(&e, uarg, sizeof(e)))
		return -EFAULT;
	getevents = e.flags & MMSB_SQ_ENTER_GETEVENTS;
	if (!e.flags || (e.flags & ~MMSB_SQ_ENTER_FLAGS_ALL) ||
	    e.reserved[0] || e.reserved[1] ||
	    (!getevents && (e.min_complete || e.timeout_ns)))
		return -EINVAL;
	/* Pairs with the release store that published the queue. */
	sq = smp_load_acquire(&mf->sq);
	if (!sq)
		return -ENXIO;
	if (getevents && (!e.min_complete || e.min_complete > sq->cq_entries))
		return -EINVAL;
	e.submitted = 0;
	/*
	 * GETEVENTS wakes an idle poller that has SQEs to take: those it
	 * left behind a full CQ the caller has reaped since, which with
	 * tick_us=0 no tick would take.
	 */
	if ((e.flags & MMSB_SQ_ENTER_WAKEUP) ||
	    (getevents && sq->poller && mmsb_sq_pending(sq)))
		mmsb_sq_wake_poller(sq);
	if (e.flags & MMSB_SQ_ENTER_SUBMIT) {
		n = mmsb_sq_consume(sq, false);
		if (n < 0)
			return n;
		e.submitted = n;
		/* The round's deltas, in a tick run here if none runs. */
		if (n)
			mmsb_tick_run_here(mf->tick);
	}
	if (getevents) {
		/*
		 * Waiting for SQEs nobody took yet: take them in a tick run
		 * here if none runs (else one is kicked), rather than sleep
		 * until the next period or the poller's next look.
		 */
		if (mmsb_sq_ready(sq) < e.min_complete && mmsb_sq_pending(sq))
			mmsb_tick_run_here(mf->tick);
		ret = mmsb_sq_wait(sq, e.min_complete, e.timeout_ns);
	}
	e.ready = mmsb_sq_ready(sq);
	if (put_user(e.submitted, &u->submitted) || put_user(e.ready, &u->ready))
		return -EFAULT;
	return ret;
}

/**
 * mmsb_sq_release() - the file goes: so does its queue
 * @mf: the file
 *
 * Context: ->release, process context.
 */
void mmsb_sq_release(struct mmsb_file *mf)
{
	if (mf->sq)
		mmsb_sq_destroy(mf->sq);
}
