// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb page events: MMSB_IOC_WAIT (sleep until a page reaches an epoch),
 * MMSB_IOC_SUBSCRIBE and the read() and poll() of the file that report
 * the subscribed pages' changes.  Entry points of the top layer, as
 * submit.c; main.c and ioctl.c call in.
 *
 * Every waiter sleeps on the page's waitqueue, which the tick wakes once
 * per tick that moved the page's epoch (mmsb_page_write_commit()) and
 * the page's free wakes; a subscription forwards those wake-ups to its
 * file's events_wq, where poll() and epoll wait.
 */
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "file.h"
#include "page.h"
#include "events.h"

/**
 * struct mmsb_sub - a page a file subscribed to
 * @page: the page, held while the subscription is on its waitqueue;
 *	set to NULL by mmsb_sub_wake() (under the page's waitqueue lock,
 *	with a release store) as its last access to the subscription and
 *	the file, after it took the entry off the queue
 * @gone: the page was freed and the subscription let go of it: @last
 *	holds its last epoch (release store after @last; see
 *	mmsb_sub_page())
 * @seen: its epoch when last reported by read()
 * @last: the page's epoch when it was freed, valid once @gone
 * @mf: the subscribing file
 * @wqe: our entry on @page->waitq, which forwards every wake-up of the
 *	page (epoch change, free) to @mf->events_wq
 * @rcu: read() frees the subscription of a freed page while poll(), or
 *	the wake function, may still look at it
 *
 * A subscription must not keep a freed page's memory for as long as
 * the subscriber keeps its file: it lets go of the page at the free,
 * and read() reports the page's last event (MMSB_EVENT_FREED) from
 * @last, then drops the subscription.
 */
struct mmsb_sub {
	struct mmsb_page *page;
	bool gone;
	u64 seen;
	u64 last;
	struct mmsb_file *mf;
	struct wait_queue_entry wqe;
	struct rcu_head rcu;
};

/* The condition MMSB_IOC_WAIT sleeps on. */
static bool mmsb_wait_done(struct mmsb_page *page, u64 epoch)
{
	return READ_ONCE(page->epoch) >= epoch || !READ_ONCE(page->live);
}

/**
 * mmsb_ioctl_wait() - MMSB_IOC_WAIT
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_wait
 *
 * A signal, or task work that makes the task look signalled (io_uring's
 * TIF_NOTIFY_SIGNAL), ends the wait with -ERESTARTSYS: the kernel calls
 * again once the task work ran, or returns -EINTR to a signal handler
 * without SA_RESTART.  Either way @timeout_ns was set to the time left,
 * as select(2) does, so the wait as a whole keeps its deadline.
 *
 * Return: 0 once the page reached the epoch, -ETIMEDOUT, -ERESTARTSYS,
 * -EIDRM if the page was freed first, -ENOENT, -EACCES, -EINVAL,
 * -EFAULT.
 */
long mmsb_ioctl_wait(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_page *page;
	struct mmsb_wait w;
	ktime_t end = 0;
	s64 left = 0;
	long ret;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (memchr_inv(w.reserved, 0, sizeof(w.reserved)))
		return -EINVAL;
	page = mmsb_page_lookup(mf->table, w.page_id, mf->cred,
				mf->admin, MMSB_MAY_READ);
	if (IS_ERR(page))
		return PTR_ERR(page);

	/* The engine's wq_has_sleeper() pairs with the waiter's barrier. */
	if (!w.timeout_ns) {
		ret = 0;
	} else if (w.timeout_ns >= KTIME_MAX) {
		ret = wait_event_interruptible(page->waitq,
					       mmsb_wait_done(page, w.epoch));
	} else {
		end = ktime_add_ns(ktime_get(), w.timeout_ns);
		ret = wait_event_interruptible_hrtimeout(page->waitq,
							 mmsb_wait_done(page, w.epoch),
							 ns_to_ktime(w.timeout_ns));
	}
	if (ret == -ERESTARTSYS && end) {
		left = ktime_to_ns(ktime_sub(end, ktime_get()));
		/* Interrupted at the deadline: that is a timeout. */
		if (left <= 0)
			ret = -ETIMEDOUT;
	}
	w.cur_epoch = READ_ONCE(page->epoch);
	if (w.cur_epoch >= w.epoch) {
		ret = 0;
	} else if (!READ_ONCE(page->live)) {
		ret = -EIDRM;
	} else if (ret != -ERESTARTSYS) {
		ret = -ETIMEDOUT;
	} else if (end) {
		/* The restart waits only for what is left. */
		w.timeout_ns = left;
	}
	if (copy_to_user(uarg, &w, sizeof(w)))
		ret = -EFAULT;
	mmsb_page_put(page);
	return ret;
}

/*
 * The page of @sub, or NULL once it was freed (@sub->last is then its
 * last epoch).  The caller reads the page's fields only under
 * rcu_read_lock(): the subscription's reference may go at any time, and
 * the struct after it only once a grace period passed (kfree_rcu()).
 */
static struct mmsb_page *mmsb_sub_page(struct mmsb_sub *sub)
{
	/* Pairs with the release store of @gone in mmsb_sub_wake(). */
	if (smp_load_acquire(&sub->gone))
		return NULL;
	/* Pairs with its release store of @page: NULL comes after @gone. */
	return smp_load_acquire(&sub->page);
}

/*
 * A subscribed page was woken (its epoch moved, or it was freed): wake
 * the file's pollers.  Under @page->waitq's lock.  A freed page is let
 * go of here, at once: off its waitqueue, its reference dropped, so the
 * subscription keeps none of its memory; read() then reports its last
 * event and drops the subscription.  The waker holds a reference of its
 * own (the free, the tick), and the struct outlives our lock section
 * anyway (kfree_rcu()).
 */
static int mmsb_sub_wake(struct wait_queue_entry *wqe, unsigned int mode,
			 int sync, void *key)
{
	struct mmsb_sub *sub = container_of(wqe, struct mmsb_sub, wqe);
	struct mmsb_page *page = sub->page;
	struct mmsb_file *mf = sub->mf;
	bool freed = !READ_ONCE(page->live);

	if (freed) {
		/* Safe in a wake function: the walk keeps its next entry. */
		list_del_init(&wqe->entry);
		sub->last = READ_ONCE(page->epoch);
		/* @last before @gone: pairs with mmsb_sub_page(). */
		smp_store_release(&sub->gone, true);
	}
	/*
	 * wq_has_sleeper() starts with smp_mb(): orders the page's new
	 * epoch (stored before the page's own wq_has_sleeper()), or @gone,
	 * before the look at our queue; pairs with the smp_mb() in
	 * mmsb_events_poll() between queueing and loading the epochs.
	 */
	if (wq_has_sleeper(&mf->events_wq))
		wake_up_poll(&mf->events_wq, EPOLLIN | EPOLLRDNORM);
	if (freed) {
		/*
		 * Our last access to @sub and @mf: once it is seen, the
		 * file's release may free both (mmsb_sub_drop()).  Pairs
		 * with the acquire load there.
		 */
		smp_store_release(&sub->page, NULL);
		mmsb_page_put(page);
	}
	return 0;
}

/*
 * Take @sub off its page, if the page's free did not already: the
 * file's release.  Afterwards no wake function can reach @sub.
 */
static void mmsb_sub_drop(struct mmsb_sub *sub)
{
	struct mmsb_page *page;
	bool mine = false;

	rcu_read_lock();
	/*
	 * NULL: mmsb_sub_wake() let go of the page and is done with @sub.
	 * Else we hold the page, or it is being let go of under its lock:
	 * the struct stays while we are in the read-side section.
	 */
	page = smp_load_acquire(&sub->page);
	if (page) {
		spin_lock_irq(&page->waitq.lock);
		mine = !sub->gone;
		if (mine)
			__remove_wait_queue(&page->waitq, &sub->wqe);
		spin_unlock_irq(&page->waitq.lock);
	}
	rcu_read_unlock();
	if (mine)
		mmsb_page_put(page);
}

/**
 * mmsb_ioctl_subscribe() - MMSB_IOC_SUBSCRIBE: report a page's changes
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_subscribe
 *
 * The subscription hangs an entry on the page's waitqueue that wakes
 * the file's one waitqueue, on which poll() registers: a poller, epoll
 * and io_uring's POLL_ADD included, hears of every subscribed page,
 * whenever it was subscribed.  Pages without a subscriber cost nothing:
 * the tick wakes a page's waitqueue only when it has entries.
 *
 * The subscription holds the page only while it lives: its free lets go
 * of it (mmsb_sub_wake()), and read() then gives one last event with
 * MMSB_EVENT_FREED and drops the subscription.
 *
 * Return: 0, -EINVAL (flags, pad or reserved not zero), -ENOENT (also
 * for a page freed meanwhile), -EACCES (read permission), -EEXIST if
 * already subscribed, -ENOMEM, -EFAULT.
 */
long mmsb_ioctl_subscribe(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_subscribe us;
	struct mmsb_page *page;
	struct mmsb_sub *sub;
	u64 id;
	int ret;

	if (copy_from_user(&us, uarg, sizeof(us)))
		return -EFAULT;
	if (us.flags || us.pad ||
	    memchr_inv(us.reserved, 0, sizeof(us.reserved)))
		return -EINVAL;
	id = us.page_id;
	page = mmsb_page_lookup(mf->table, id, mf->cred, mf->admin,
				MMSB_MAY_READ);
	if (IS_ERR(page))
		return PTR_ERR(page);
	ret = -ENOMEM;
	sub = kmalloc(sizeof(*sub), GFP_KERNEL_ACCOUNT);
	if (!sub)
		goto put_page;
	sub->page = page;
	sub->gone = false;
	sub->mf = mf;
	init_waitqueue_func_entry(&sub->wqe, mmsb_sub_wake);
	/* Under subs_lock: read() sees it whole or not at all. */
	mutex_lock(&mf->subs_lock);
	sub->seen = READ_ONCE(page->epoch);
	ret = xa_insert(&mf->subs, id, sub, GFP_KERNEL_ACCOUNT);
	if (!ret) {
		/*
		 * A page freed since the lookup woke its queue before we
		 * joined it, and nobody would let go of it for us: its free
		 * stores @live before it takes the lock to wake, so under
		 * the lock we see either @live clear or, later, the wake.
		 */
		spin_lock_irq(&page->waitq.lock);
		if (READ_ONCE(page->live))
			__add_wait_queue(&page->waitq, &sub->wqe);
		else
			ret = -ENOENT;
		spin_unlock_irq(&page->waitq.lock);
		if (ret)
			xa_erase(&mf->subs, id);
	}
	mutex_unlock(&mf->subs_lock);
	if (ret) {
		/* poll() may have seen it in @subs. */
		kfree_rcu(sub, rcu);
		ret = ret == -EBUSY ? -EEXIST : ret;
		goto put_page;
	}
	return 0;

put_page:
	mmsb_page_put(page);
	return ret;
}

/**
 * mmsb_events_init() - no subscriptions yet
 * @mf: a new file
 */
void mmsb_events_init(struct mmsb_file *mf)
{
	xa_init(&mf->subs);
	mutex_init(&mf->subs_lock);
	init_waitqueue_head(&mf->events_wq);
}

/**
 * mmsb_events_release() - drop a closing file's subscriptions
 * @mf: the file; nobody polls it any more
 */
void mmsb_events_release(struct mmsb_file *mf)
{
	struct mmsb_sub *sub;
	unsigned long id;

	xa_for_each(&mf->subs, id, sub) {
		mmsb_sub_drop(sub);
		kfree(sub);
	}
	xa_destroy(&mf->subs);
	mutex_destroy(&mf->subs_lock);
}

/**
 * mmsb_events_read() - read() on the fd: subscribed pages that changed
 * @file: the mmsb file
 * @buf: user buffer for struct mmsb_event records
 * @count: its size; at least one record
 * @ppos: unused
 *
 * A freed page gives one last record, its last epoch ORed with
 * MMSB_EVENT_FREED, and its subscription ends with it.
 *
 * Return: bytes of whole records, -EAGAIN when nothing changed (poll
 * for EPOLLIN), -EINVAL for a buffer below one record, -EFAULT.
 */
ssize_t mmsb_events_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_event ev;
	struct mmsb_sub *sub;
	unsigned long id;
	size_t done = 0;
	ssize_t ret = -EAGAIN;

	if (count < sizeof(ev))
		return -EINVAL;
	mutex_lock(&mf->subs_lock);
	xa_for_each(&mf->subs, id, sub) {
		struct mmsb_page *page;
		u64 epoch;

		rcu_read_lock();
		page = mmsb_sub_page(sub);
		epoch = page ? READ_ONCE(page->epoch) :
			       sub->last | MMSB_EVENT_FREED;
		rcu_read_unlock();
		if (page && epoch == sub->seen)
			continue;
		if (count - done < sizeof(ev))
			break;
		ev.page_id = id;
		ev.epoch = epoch;
		if (copy_to_user(buf + done, &ev, sizeof(ev))) {
			ret = -EFAULT;
			break;
		}
		done += sizeof(ev);
		if (!page) {
			/* Its last event: the subscription ends. */
			xa_erase(&mf->subs, id);
			kfree_rcu(sub, rcu);
			continue;
		}
		/* Read locklessly by poll(). */
		WRITE_ONCE(sub->seen, epoch);
	}
	mutex_unlock(&mf->subs_lock);
	return done ? done : ret;
}

/**
 * mmsb_events_poll() - poll() on the fd
 * @file: the mmsb file
 * @pt: poll table
 *
 * Registers on the file's one waitqueue, which every subscribed page
 * wakes (mmsb_sub_wake()), so one entry serves any number of
 * subscriptions, and those made after the registration too (epoll
 * calls this once).
 *
 * Return: EPOLLIN | EPOLLRDNORM while a subscribed page has an unread
 * change, or was freed and its last event was not read yet.
 */
__poll_t mmsb_events_poll(struct file *file, poll_table *pt)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_sub *sub;
	unsigned long id;
	__poll_t ret = 0;

	poll_wait(file, &mf->events_wq, pt);
	/*
	 * Orders our queueing before the epoch loads; pairs with the
	 * smp_mb() of wq_has_sleeper() in mmsb_sub_wake(), which runs after
	 * the epoch store: either we see the new epoch or it sees us queued.
	 */
	smp_mb();
	/* read() may free a freed page's subscription meanwhile. */
	rcu_read_lock();
	xa_for_each(&mf->subs, id, sub) {
		struct mmsb_page *page = mmsb_sub_page(sub);

		/* A freed page's last event is unread until read() ends it. */
		if (!page || READ_ONCE(page->epoch) != READ_ONCE(sub->seen)) {
			ret = EPOLLIN | EPOLLRDNORM;
			break;
		}
	}
	rcu_read_unlock();
	return ret;
}
