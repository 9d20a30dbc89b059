// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb delta entry points, called from main.c's dispatcher, and the
 * submission path they share with io_uring (uring.c).
 *
 * SUBMIT copies the user's array of struct mmsb_delta once, validates
 * every delta from that private copy (delta.c), queues the good ones in
 * order and writes each delta's status and id back.  A SYNC submission
 * also waits, on a struct mmsb_batch, until its deltas were handled by
 * a tick, and reports each one's outcome and the page's new epoch.
 *
 * Queued deltas belong to the tick, not to the file: closing the file
 * does not drop them, and unloading the module applies them first.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "batch.h"
#include "delta.h"
#include "engine.h"
#include "main.h"
#include "page.h"
#include "submit.h"
#include "tick.h"
#include "trace.h"

/**
 * struct mmsb_sub - a page a file subscribed to
 * @page: the page, held
 * @seen: its epoch when last reported by read()
 */
struct mmsb_sub {
	struct mmsb_page *page;
	u64 seen;
};

/**
 * mmsb_deltas_init() - start the submission state, engine and tick
 * @dev: the device; its page table is set up
 * @cfg: parameters
 *
 * Return: 0 or a negative errno.
 */
int mmsb_deltas_init(struct mmsb_dev *dev, const struct mmsb_deltas_config *cfg)
{
	int ret;

	mmsb_delta_ctx_init(&dev->deltas, &dev->pages);
	ret = mmsb_engine_init(&dev->engine, cfg->workers);
	if (ret)
		return ret;
	ret = mmsb_tick_init(&dev->tick, &cfg->tick, &dev->engine,
			     &dev->deltas);
	if (ret)
		goto destroy_engine;
	return 0;

destroy_engine:
	mmsb_engine_destroy(&dev->engine);
	return ret;
}

/**
 * mmsb_deltas_exit() - apply every queued delta, then stop and free
 * @dev: the device; no file is open
 */
void mmsb_deltas_exit(struct mmsb_dev *dev)
{
	mmsb_tick_destroy(&dev->tick);
	mmsb_engine_destroy(&dev->engine);
	mmsb_delta_ctx_destroy(&dev->deltas);
}

/**
 * mmsb_deltas_stats() - the delta and tick fields of MMSB_IOC_STATS
 * @dev: the device
 * @st: filled in; mem_bytes gets the queued delta bytes added
 */
void mmsb_deltas_stats(struct mmsb_dev *dev, struct mmsb_stats *st)
{
	struct mmsb_tick_totals tot;

	mmsb_tick_read_stats(&dev->tick, &st->last, &tot, &st->ring_depth,
			     &st->ring_capacity);
	st->ticks = tot.ticks;
	st->submitted = atomic64_read(&dev->deltas.submitted);
	st->processed = tot.processed;
	st->rejected = tot.rejected + atomic64_read(&dev->deltas.rejected);
	st->conflicts = tot.conflicts;
	st->overruns = tot.overruns;
	st->delta_bytes = atomic64_read(&dev->deltas.bytes);
	st->mem_bytes += st->delta_bytes;
}

/**
 * struct mmsb_submission - one submission in progress
 * @dev: the device
 * @uptr: the caller's delta array
 * @b: writes the records into chunks
 * @nonblock: a full queue stops the submission instead of waiting
 * @queued: deltas queued so far
 * @fault: an output could not be written back (-EFAULT) or 0
 */
struct mmsb_submission {
	struct mmsb_dev *dev;
	struct mmsb_delta __user *uptr;
	struct mmsb_builder b;
	bool nonblock;
	u32 queued;
	int fault;
};

/* Read the input fields of the caller's delta, each exactly once. */
static int mmsb_submit_read(const struct mmsb_delta __user *u,
			    struct mmsb_delta_desc *d)
{
	if (!user_read_access_begin(u, sizeof(*u)))
		return -EFAULT;
	unsafe_get_user(d->page_id, &u->page_id, efault);
	unsafe_get_user(d->expected_epoch, &u->expected_epoch, efault);
	unsafe_get_user(d->offset, &u->offset, efault);
	unsafe_get_user(d->len, &u->len, efault);
	unsafe_get_user(d->payload, &u->payload, efault);
	unsafe_get_user(d->payload_len, &u->payload_len, efault);
	unsafe_get_user(d->mask, &u->mask, efault);
	unsafe_get_user(d->encoding, &u->encoding, efault);
	unsafe_get_user(d->flags, &u->flags, efault);
	unsafe_get_user(d->pad, &u->pad, efault);
	user_read_access_end();
	return 0;
efault:
	user_read_access_end();
	return -EFAULT;
}

static void mmsb_submit_result(struct mmsb_submission *s, u32 index, u64 id,
			       s32 status)
{
	if (mmsb_delta_put_result(s->uptr + index, id, status, 0))
		s->fault = -EFAULT;
}

/*
 * Queue the open chunk.  What the queue has no room for (O_NONBLOCK) or
 * what a signal kept out is refused, each delta with that errno, which
 * is returned: the submission stops there.  Deltas not awaited learn
 * their id now; awaited ones when their batch reports.
 */
static int mmsb_submit_push(struct mmsb_submission *s)
{
	struct mmsb_delta_ctx *ctx = &s->dev->deltas;
	struct mmsb_chunk *c = s->b.cur;
	struct mmsb_kdelta *kd;
	int ret = 0;
	long got;
	u32 i;

	if (!c || !c->nr) {
		mmsb_builder_close(&s->b);
		return 0;
	}
	s->b.cur = NULL;
	got = mmsb_tick_reserve(&s->dev->tick, c->nr, s->nonblock);
	if (got < 0) {
		ret = got;
		got = 0;
	} else if (got < c->nr) {
		ret = -EAGAIN;
		/* An atomic submission goes in whole or not at all. */
		if (c->atomic) {
			mmsb_tick_unreserve(&s->dev->tick, got);
			got = 0;
		}
	}
	if (got < c->nr) {
		for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
		     i++, kd = mmsb_kdelta_next(kd))
			if (i >= got)
				mmsb_submit_result(s, kd->index, 0, ret);
		mmsb_chunk_truncate(c, got);
	}
	if (!c->batch && mmsb_chunk_put_results(c, s->uptr, false, NULL))
		s->fault = -EFAULT;
	if (c->batch)
		mmsb_batch_add_chunk(c->batch, c);
	if (!got) {
		mmsb_chunk_retire(ctx, c);
		return ret;
	}
	/* Counted before the tick can apply them: see STATS in the uapi. */
	atomic64_add(got, &ctx->submitted);
	s->queued += got;
	mmsb_tick_push(&s->dev->tick, c, c->batch);
	return ret;
}

/*
 * An atomic submission that cannot go in: its valid deltas, in the open
 * chunk, are refused with @err and dropped.  Returns how many.
 */
static u32 mmsb_submit_cancel(struct mmsb_submission *s, int err)
{
	struct mmsb_chunk *c = s->b.cur;
	struct mmsb_kdelta *kd;
	u32 i, n;

	if (!c)
		return 0;
	n = c->nr;
	for (i = 0, kd = mmsb_chunk_first(c); i < n;
	     i++, kd = mmsb_kdelta_next(kd))
		mmsb_submit_result(s, kd->index, 0, err);
	mmsb_chunk_truncate(c, 0);
	mmsb_builder_close(&s->b);
	return n;
}

/**
 * mmsb_submit_deltas() - validate deltas and queue the good ones, in order
 * @dev: the device
 * @mf: the submitting file (credentials)
 * @uptr: the caller's array of @n struct mmsb_delta; each delta's input
 *	fields are read once, and its outputs written once: here, or for
 *	an awaited submission by mmsb_batch_report()
 * @n: 1 to %MMSB_SUBMIT_MAX
 * @awaited: the caller waits for the outcome: a batch is made
 * @atomic: MMSB_SUBMIT_ATOMIC: every delta is queued, in one chunk, or
 *	none (see the uapi header)
 * @nonblock: a full queue stops the submission instead of waiting
 * @accepted: out: deltas queued
 * @batch: out: the batch of an awaited submission, or NULL when no
 *	delta was queued
 *
 * The one submission path of the SUBMIT ioctl and of io_uring.  Deltas
 * are written into chunks, each queued when full; once the queue
 * stopped the submission, the deltas not queued carry its error as
 * their status.
 *
 * Context: process context with the caller's mm; sleeps unless
 * @nonblock.
 * Return: 0 (each delta has its own status), -EAGAIN or -EINTR once
 * @accepted deltas went in, or -EFAULT if an output could not be
 * written back.
 */
int mmsb_submit_deltas(struct mmsb_dev *dev, struct mmsb_file *mf,
		       struct mmsb_delta __user *uptr, u32 n, bool awaited,
		       bool atomic, bool nonblock, u32 *accepted,
		       struct mmsb_batch **batch)
{
	struct mmsb_delta_ctx *ctx = &dev->deltas;
	struct mmsb_page_cache local, *cache;
	struct mmsb_submission s;
	u32 i, refused = 0;
	int ret, stop = 0, cancel = 0;
	u64 base_id;

	/* Field by field: the builder's page cache needs no zeroing. */
	s.dev = dev;
	s.uptr = uptr;
	s.nonblock = nonblock;
	s.queued = 0;
	s.fault = 0;
	cache = mmsb_page_cache_acquire(&mf->pages, &local);
	mmsb_builder_init(&s.b, ctx, cache, mf->cred, mf->admin, awaited,
			  atomic ? mmsb_tick_atomic_max(&dev->tick) :
				   mmsb_tick_capacity(&dev->tick));
	s.b.atomic = atomic;

	/* One atomic for the submission: ids base_id + 1 .. base_id + n. */
	base_id = atomic64_add_return(n, &ctx->next_id) - n;
	for (i = 0; i < n; i++) {
		struct mmsb_delta_desc d;

		/* An atomic submission past one chunk: nothing more fits. */
		ret = cancel == -E2BIG ? -E2BIG : mmsb_submit_read(uptr + i, &d);
		s.b.left = n - i;
		while (!ret) {
			ret = mmsb_delta_add(&s.b, &d, base_id + i + 1, i);
			if (ret != MMSB_DELTA_FULL)
				break;
			if (atomic) {
				ret = -E2BIG;
				break;
			}
			stop = mmsb_submit_push(&s);
			if (stop)
				goto stopped;
			ret = 0;
		}
		if (ret) {
			refused++;
			mmsb_submit_result(&s, i, 0, ret);
			if (atomic && cancel != -E2BIG)
				cancel = ret == -E2BIG ? -E2BIG : -ECANCELED;
		}
	}
	if (cancel)
		refused += mmsb_submit_cancel(&s, cancel);
	else
		stop = mmsb_submit_push(&s);
stopped:
	mmsb_builder_finish(&s.b);
	/* The queue stopped us: what was not looked at is refused alike. */
	for (; i < n; i++)
		mmsb_submit_result(&s, i, 0, stop);
	atomic64_add(refused, &ctx->rejected);
	*accepted = s.queued;
	*batch = s.b.batch;
	if (s.b.batch && !s.queued) {
		mmsb_batch_abandon(s.b.batch);
		*batch = NULL;
	}
	return stop ? stop : s.fault;
}

/**
 * mmsb_submit_arm() - arm a submission's batch and see that it ends
 * @dev: the device
 * @batch: the batch; at least one of its deltas was queued
 * @done: called at the end of the tick if the batch ends there, or
 *	NULL to complete @batch->completion
 * @priv: for @done
 *
 * When no tick runs, the caller runs the ticks itself, in its context,
 * until its batch ended: no wake-up, no context switch, and @done is
 * not called (the batch completed).  Otherwise the orchestrator is
 * kicked and the batch ends in its tick.
 *
 * Context: process context, sleeps.
 * Return: true when the batch ended here.
 */
bool mmsb_submit_arm(struct mmsb_dev *dev, struct mmsb_batch *batch,
		     void (*done)(struct mmsb_batch *batch), void *priv)
{
	struct mmsb_tick *t = &dev->tick;

	if (mmsb_tick_trylock(t)) {
		mmsb_batch_arm(batch);
		mmsb_tick_run_until(t, &batch->completion);
		return true;
	}
	batch->done = done;
	batch->priv = priv;
	mmsb_batch_arm(batch);
	/*
	 * The tick is wanted anyway, and must run if the batch's deltas
	 * were all handled before the arming: it then waits for a tick's
	 * end.
	 */
	mmsb_tick_kick(t);
	return false;
}

/**
 * mmsb_submit() - MMSB_IOC_SUBMIT on a checked copy of its argument
 * @dev: the device
 * @mf: the submitting file (credentials)
 * @sub: a checked copy of the user's struct mmsb_submit; @accepted and
 *	@applied are set here
 * @nonblock: a full queue ends the call with -EAGAIN
 *
 * Context: process context, sleeps.
 * Return: 0 (each delta has its own status), -EAGAIN or -EINTR once
 * @sub->accepted deltas went in, or -EFAULT.
 */
static int mmsb_submit(struct mmsb_dev *dev, struct mmsb_file *mf,
		       struct mmsb_submit *sub, bool nonblock)
{
	struct mmsb_delta __user *uptr = u64_to_user_ptr(sub->deltas);
	bool sync = sub->flags & MMSB_SUBMIT_SYNC;
	struct mmsb_batch *batch;
	bool ended = true;
	int ret, rret;

	sub->applied = 0;
	ret = mmsb_submit_deltas(dev, mf, uptr, sub->count, sync,
				 sub->flags & MMSB_SUBMIT_ATOMIC, nonblock,
				 &sub->accepted, &batch);
	if (!batch)
		return ret;
	/*
	 * Interrupted, the deltas still apply (the batch lives on through
	 * the tick's reference); the caller learns only that they were
	 * accepted.  -EINTR, not a restart: a restarted SUBMIT would queue
	 * them twice.
	 */
	if (!mmsb_submit_arm(dev, batch, NULL, NULL) &&
	    wait_for_completion_interruptible(&batch->completion)) {
		ended = false;
		ret = -EINTR;
	}
	rret = mmsb_batch_report(batch, uptr, ended, &sub->applied);
	mmsb_batch_put(batch);
	return ret ? ret : rret;
}

/**
 * mmsb_ioctl_submit() - MMSB_IOC_SUBMIT
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_submit
 *
 * Return: see mmsb_submit(); -EINVAL for unknown flags, reserved fields
 * not zero, or a count of 0 or over %MMSB_SUBMIT_MAX.
 */
long mmsb_ioctl_submit(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_submit sub;
	int ret;

	if (copy_from_user(&sub, uarg, sizeof(sub)))
		return -EFAULT;
	if ((sub.flags & ~MMSB_SUBMIT_FLAGS_ALL) ||
	    memchr_inv(sub.reserved, 0, sizeof(sub.reserved)) ||
	    !sub.count || sub.count > MMSB_SUBMIT_MAX)
		return -EINVAL;
	ret = mmsb_submit(mf->dev, mf, &sub, file->f_flags & O_NONBLOCK);
	trace_mmsb_submit(sub.count, sub.accepted, sub.flags & MMSB_SUBMIT_SYNC, false, ret);
	if (copy_to_user(uarg, &sub, sizeof(sub)))
		return -EFAULT;
	return ret;
}

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
 * Return: 0 once the page reached the epoch, -ETIMEDOUT, -EINTR, -EIDRM
 * if the page was freed first, -ENOENT, -EACCES, -EINVAL, -EFAULT.
 */
long mmsb_ioctl_wait(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_page *page;
	struct mmsb_wait w;
	long ret;

	if (copy_from_user(&w, uarg, sizeof(w)))
		return -EFAULT;
	if (memchr_inv(w.reserved, 0, sizeof(w.reserved)))
		return -EINVAL;
	page = mmsb_page_get(&mf->dev->pages, w.page_id);
	if (!page)
		return -ENOENT;
	ret = mmsb_page_permission(page, mf->cred, mf->admin, MMSB_MAY_READ);
	if (ret)
		goto put_page;

	/* The engine's wq_has_sleeper() pairs with the waiter's barrier. */
	if (!w.timeout_ns)
		ret = 0;
	else if (w.timeout_ns >= KTIME_MAX)
		ret = wait_event_interruptible(page->waitq,
					       mmsb_wait_done(page, w.epoch));
	else
		ret = wait_event_interruptible_hrtimeout(page->waitq,
							 mmsb_wait_done(page, w.epoch),
							 ns_to_ktime(w.timeout_ns));
	w.cur_epoch = READ_ONCE(page->epoch);
	if (w.cur_epoch >= w.epoch)
		ret = 0;
	else if (!READ_ONCE(page->live))
		ret = -EIDRM;
	else if (ret == -ERESTARTSYS)
		ret = -EINTR;
	else
		ret = -ETIMEDOUT;
	if (copy_to_user(uarg, &w, sizeof(w)))
		ret = -EFAULT;
put_page:
	mmsb_page_put(page);
	return ret;
}

/**
 * mmsb_ioctl_flush() - MMSB_IOC_FLUSH: run a tick and wait for it
 * @file: the mmsb file
 * @uarg: unused
 *
 * Return: 0 or -ERESTARTSYS.
 */
long mmsb_ioctl_flush(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;

	return mmsb_tick_flush(&mf->dev->tick);
}

/**
 * mmsb_ioctl_subscribe() - MMSB_IOC_SUBSCRIBE: report a page's changes
 * @file: the mmsb file
 * @uarg: user pointer to the __u64 page id
 *
 * Return: 0, -ENOENT, -EACCES (read permission), -EEXIST if already
 * subscribed, -ENOMEM, -EFAULT.
 */
long mmsb_ioctl_subscribe(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_page *page;
	struct mmsb_sub *sub;
	u64 id;
	int ret;

	if (get_user(id, (u64 __user *)uarg))
		return -EFAULT;
	page = mmsb_page_get(&mf->dev->pages, id);
	if (!page)
		return -ENOENT;
	ret = mmsb_page_permission(page, mf->cred, mf->admin, MMSB_MAY_READ);
	if (ret)
		goto put_page;
	ret = -ENOMEM;
	sub = kmalloc(sizeof(*sub), GFP_KERNEL_ACCOUNT);
	if (!sub)
		goto put_page;
	sub->page = page;
	sub->seen = READ_ONCE(page->epoch);
	ret = xa_insert(&mf->subs, id, sub, GFP_KERNEL_ACCOUNT);
	if (ret) {
		kfree(sub);
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
}

/**
 * mmsb_events_release() - drop a closing file's subscriptions
 * @mf: the file
 */
void mmsb_events_release(struct mmsb_file *mf)
{
	struct mmsb_sub *sub;
	unsigned long id;

	xa_for_each(&mf->subs, id, sub) {
		mmsb_page_put(sub->page);
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
		u64 epoch = READ_ONCE(sub->page->epoch);

		if (epoch == sub->seen)
			continue;
		if (count - done < sizeof(ev))
			break;
		ev.page_id = id;
		ev.epoch = epoch;
		if (copy_to_user(buf + done, &ev, sizeof(ev))) {
			ret = -EFAULT;
			break;
		}
		/* Read locklessly by poll(). */
		WRITE_ONCE(sub->seen, epoch);
		done += sizeof(ev);
	}
	mutex_unlock(&mf->subs_lock);
	return done ? done : ret;
}

/**
 * mmsb_events_poll() - poll() on the fd
 * @file: the mmsb file
 * @pt: poll table
 *
 * Return: EPOLLIN | EPOLLRDNORM while a subscribed page has an unread
 * change.
 */
__poll_t mmsb_events_poll(struct file *file, poll_table *pt)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_sub *sub;
	unsigned long id;
	__poll_t mask = 0;

	xa_for_each(&mf->subs, id, sub)
		poll_wait(file, &sub->page->waitq, pt);
	/*
	 * Orders our queueing before the epoch loads; pairs with the
	 * smp_mb() of wq_has_sleeper() in the engine, after its epoch
	 * store: either we see the new epoch or it sees us queued.
	 */
	smp_mb();
	xa_for_each(&mf->subs, id, sub)
		if (READ_ONCE(sub->page->epoch) != READ_ONCE(sub->seen))
			mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}
