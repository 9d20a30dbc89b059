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
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
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
 * struct mmsb_submission - one submission in progress
 * @dev: the device
 * @uptr: the caller's delta array
 * @b: writes the records into chunks
 * @base_id: delta i gets the id @base_id + i + 1
 * @n: deltas in @uptr
 * @next: the index of the next delta to read
 * @nonblock: a full queue stops the submission instead of waiting
 * @park: an interrupted wait for room keeps the open chunk (the ioctl
 *	parks the submission, see struct mmsb_park) rather than refusing
 *	what is left with -EINTR (io_uring)
 * @queued: deltas queued so far
 * @stop: the error that stopped the queue (-EAGAIN, -EINTR), or 0
 * @cancel: an atomic submission that cannot go in: -ECANCELED (a delta
 *	was refused) or -E2BIG (more than one chunk), else 0
 * @fault: an output could not be written back (-EFAULT) or 0
 */
struct mmsb_submission {
	struct mmsb_dev *dev;
	struct mmsb_delta __user *uptr;
	struct mmsb_builder b;
	u64 base_id;
	u32 n;
	u32 next;
	bool nonblock;
	bool park;
	u32 queued;
	int stop;
	int cancel;
	int fault;
};

/**
 * struct mmsb_park - a SYNC SUBMIT whose wait a signal interrupted
 * @node: on &struct mmsb_file.parks
 * @pid: the calling thread, held
 * @uarg: the call's struct mmsb_submit
 * @deltas: its @deltas, @count and @flags, as the call read them
 * @count: see @deltas
 * @flags: see @deltas
 * @armed: every delta that will be was queued and the batch is armed:
 *	only the wait for the batch is left; else the wait for room is
 * @s: the submission, with @s.b.cur the chunk that waits for room,
 *	which holds no page while parked (mmsb_builder_park()): the
 *	thread may never resume it, and a page freed meanwhile must not
 *	keep its memory; the resume looks the pages up again
 *
 * A SYNC submission waits twice: for room in the queue, between the
 * chunks it queues, and for its batch at the end.  A signal, or task
 * work that makes the task look signalled (io_uring's TIF_NOTIFY_SIGNAL),
 * ends either wait with -ERESTARTSYS.  The kernel then restarts the call
 * with the same arguments unless a handler runs (and SA_RESTART is not
 * set): the restart must not queue again what went in.  So the
 * interrupted submission is parked on the file, and the same thread's
 * next SUBMIT with the same arguments resumes it: it waits for room
 * and queues the rest, or waits for the batch, and reports as if never
 * interrupted.  Anything else the thread submits on the file, or the
 * file's release, drops the park; the deltas queued still apply.
 */
struct mmsb_park {
	struct list_head node;
	struct pid *pid;
	void __user *uarg;
	u64 deltas;
	u32 count;
	u32 flags;
	bool armed;
	struct mmsb_submission s;
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

/*
 * Before anything is read or queued, write every delta's outputs with
 * their pending values (id 0, status -EINPROGRESS, epoch 0): this proves
 * that the outcome can be written back, so a caller whose array is not
 * writable gets -EFAULT with nothing queued, never deltas applied behind
 * an -EFAULT.  Inputs are not read here: no double fetch.  A delta whose
 * outcome cannot be written later on (the array unmapped or made
 * read-only meanwhile) keeps these values where it is still readable.
 */
static int mmsb_submit_claim(struct mmsb_delta __user *uptr, u32 n)
{
	struct mmsb_delta __user *u;
	u32 i;

	if (!user_write_access_begin(uptr, (size_t)n * sizeof(*uptr)))
		return -EFAULT;
	for (i = 0, u = uptr; i < n; i++, u++) {
		unsafe_put_user(0, &u->delta_id, efault);
		unsafe_put_user(-EINPROGRESS, &u->status, efault);
		unsafe_put_user(0, &u->epoch, efault);
	}
	user_write_access_end();
	return 0;
efault:
	user_write_access_end();
	return -EFAULT;
}

/*
 * The answer of a submission some output of which could not be written
 * (@s->fault): -EFAULT only while nothing was queued (a retry does it
 * all once); once a delta went in, -ECOMM, with @accepted (and for SYNC
 * @applied) saying how far it went.
 */
static int mmsb_submit_fault(const struct mmsb_submission *s)
{
	return s->queued ? -ECOMM : -EFAULT;
}

static void mmsb_submit_result(struct mmsb_submission *s, u32 index, u64 id,
			       s32 status)
{
	if (mmsb_delta_put_result(s->uptr + index, id, status, 0))
		s->fault = -EFAULT;
}

/*
 * Queue the open chunk.  What the queue has no room for (O_NONBLOCK) or
 * what a signal kept out is refused, each delta with that errno (-EINTR
 * for a signal), which is returned: the submission stops there.  But a
 * submission that parks keeps the chunk open when a signal ends the wait
 * for room, and -ERESTARTSYS is returned.  Deltas not awaited learn
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
	/*
	 * A submission that parks stops for a signal (or task work) between
	 * two chunks, room or not: a wait for room that finds room at its
	 * first look never sees the signal, so a long submission the tick
	 * keeps up with would hold a signal off until its end.
	 */
	if (s->park && signal_pending(current))
		return -ERESTARTSYS;
	got = mmsb_tick_reserve(&s->dev->tick, c->nr, s->nonblock);
	if (got == -ERESTARTSYS && s->park)
		return got;
	s->b.cur = NULL;
	if (got < 0) {
		ret = got == -ERESTARTSYS ? -EINTR : got;
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
 * Set up a submission of @n deltas from @uptr, with page cache @cache
 * (mmsb_page_cache_acquire()).  Fields one by one: the cache is not
 * part of @s.
 */
static void mmsb_submit_start(struct mmsb_submission *s, struct mmsb_dev *dev,
			      struct mmsb_file *mf,
			      struct mmsb_page_cache *cache,
			      struct mmsb_delta __user *uptr, u32 n,
			      bool awaited, bool atomic, bool nonblock,
			      bool park)
{
	struct mmsb_delta_ctx *ctx = &dev->deltas;

	s->dev = dev;
	s->uptr = uptr;
	s->n = n;
	s->next = 0;
	s->nonblock = nonblock;
	s->park = park;
	s->queued = 0;
	s->stop = 0;
	s->cancel = 0;
	s->fault = 0;
	mmsb_builder_init(&s->b, ctx, cache, mf->cred, mf->admin, awaited,
			  atomic ? mmsb_tick_atomic_max(&dev->tick) :
				   mmsb_tick_capacity(&dev->tick));
	s->b.atomic = atomic;
	/* One atomic for the submission: ids base_id + 1 .. base_id + n. */
	s->base_id = atomic64_add_return(n, &ctx->next_id) - n;
}

/*
 * An atomic submission that cannot go in: its valid deltas, in the open
 * chunk, are refused with @s->cancel (counted as refused) and dropped.
 */
static void mmsb_submit_cancel(struct mmsb_submission *s)
{
	struct mmsb_chunk *c = s->b.cur;
	struct mmsb_kdelta *kd;
	u32 i;

	if (!c)
		return;
	atomic64_add(c->nr, &s->dev->deltas.rejected);
	/* As in mmsb_submit_queue(): the count before the statuses. */
	smp_mb__after_atomic();
	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd))
		mmsb_submit_result(s, kd->index, 0, s->cancel);
	mmsb_chunk_truncate(c, 0);
	mmsb_builder_close(&s->b);
}

/*
 * Read, validate and queue the deltas from @s->next on.  Returns 0, or
 * the error that stopped the queue (-EAGAIN, -EINTR), or -ERESTARTSYS
 * for a submission that parks: then @s->next is the delta to read again
 * (the open chunk had no room for it) and @s->b.cur is the chunk to
 * queue first.
 */
static int mmsb_submit_queue(struct mmsb_submission *s)
{
	int ret, stop;
	u32 i;

	for (; s->next < s->n; s->next++) {
		struct mmsb_delta_desc d;

		i = s->next;
		/* An atomic submission past one chunk: nothing more fits. */
		ret = s->cancel == -E2BIG ? -E2BIG :
		      mmsb_submit_read(s->uptr + i, &d);
		s->b.left = s->n - i;
		while (!ret) {
			ret = mmsb_delta_add(&s->b, &d, s->base_id + i + 1, i);
			if (ret != MMSB_DELTA_FULL)
				break;
			if (s->b.atomic) {
				ret = -E2BIG;
				break;
			}
			stop = mmsb_submit_push(s);
			if (stop)
				return stop;
			ret = 0;
		}
		if (ret) {
			/* Counted before the status goes out: see STATS. */
			atomic64_inc(&s->dev->deltas.rejected);
			/*
			 * Orders the count before the status store; pairs
			 * with the order of a reader that loads the status,
			 * then the count (STATS): it sees both or the count.
			 */
			smp_mb__after_atomic();
			mmsb_submit_result(s, i, 0, ret);
			if (s->b.atomic && s->cancel != -E2BIG)
				s->cancel = ret == -E2BIG ? -E2BIG : -ECANCELED;
		}
	}
	if (s->cancel) {
		mmsb_submit_cancel(s);
		return 0;
	}
	return mmsb_submit_push(s);
}

/*
 * Mark what the queue kept out with @stop: the records of a chunk a
 * signal kept waiting for room, and every delta not read yet.
 */
static void mmsb_submit_refuse_rest(struct mmsb_submission *s, int stop)
{
	struct mmsb_chunk *c = s->b.cur;
	struct mmsb_kdelta *kd;
	u32 i;

	for (i = 0, kd = c ? mmsb_chunk_first(c) : NULL; c && i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd))
		mmsb_submit_result(s, kd->index, 0, stop);
	for (i = s->next; i < s->n; i++)
		mmsb_submit_result(s, i, 0, stop);
}

/*
 * The submission queued all it will: drop a chunk left open by a parked
 * wait for room and the builder's pages.  Returns the
 * batch, or NULL if it queued nothing (the batch is gone then).
 */
static struct mmsb_batch *mmsb_submit_end(struct mmsb_submission *s)
{
	struct mmsb_delta_ctx *ctx = &s->dev->deltas;
	struct mmsb_chunk *c = s->b.cur;

	if (c) {
		s->b.cur = NULL;
		mmsb_chunk_truncate(c, 0);
		if (c->batch)
			mmsb_batch_add_chunk(c->batch, c);
		mmsb_chunk_retire(ctx, c);
	}
	mmsb_builder_finish(&s->b);
	if (s->b.batch && !s->queued) {
		mmsb_batch_abandon(s->b.batch);
		return NULL;
	}
	return s->b.batch;
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
 * The submission path of io_uring; the SUBMIT ioctl shares its parts.
 * Deltas are written into chunks, each queued when full; once the queue
 * stopped the submission, the deltas not queued carry its error as
 * their status.
 *
 * Every delta's outputs are written with pending values first
 * (mmsb_submit_claim()): an array that cannot take them fails the call
 * before anything is read or queued.
 *
 * Context: process context with the caller's mm; sleeps unless
 * @nonblock.
 * Return: 0 (each delta has its own status), -EAGAIN or -EINTR once
 * @accepted deltas went in, -EFAULT if an output could not be written
 * and nothing was queued, or -ECOMM if an output could not be written
 * back after @accepted deltas were queued (they still apply).
 */
int mmsb_submit_deltas(struct mmsb_dev *dev, struct mmsb_file *mf,
		       struct mmsb_delta __user *uptr, u32 n, bool awaited,
		       bool atomic, bool nonblock, u32 *accepted,
		       struct mmsb_batch **batch)
{
	struct mmsb_page_cache local;
	struct mmsb_submission s;
	int stop;

	*accepted = 0;
	*batch = NULL;
	if (mmsb_submit_claim(uptr, n))
		return -EFAULT;
	mmsb_submit_start(&s, dev, mf,
			  mmsb_page_cache_acquire(&mf->pages, &local), uptr, n,
			  awaited, atomic, nonblock, false);
	stop = mmsb_submit_queue(&s);
	/* The queue stopped us: what was not looked at is refused alike. */
	if (stop)
		mmsb_submit_refuse_rest(&s, stop);
	*batch = mmsb_submit_end(&s);
	*accepted = s.queued;
	return s.fault ? mmsb_submit_fault(&s) : stop;
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

/* Drop a park nobody will resume: its queued deltas still apply. */
static void mmsb_park_drop(struct mmsb_park *p)
{
	struct mmsb_submission *s = &p->s;
	struct mmsb_batch *batch = s->b.batch;

	if (!p->armed) {
		/* Its outputs were written when it parked. */
		batch = mmsb_submit_end(s);
		if (batch)
			mmsb_submit_arm(s->dev, batch, NULL, NULL);
		else
			mmsb_tick_kick(&s->dev->tick);
	}
	if (batch)
		mmsb_batch_put(batch);
	put_pid(p->pid);
	kfree(p);
}

/*
 * Take the calling thread's park off @mf: returned if it was made by the
 * same call (a restart, or a repeat of the call after -EINTR), else
 * dropped.
 */
static struct mmsb_park *mmsb_park_take(struct mmsb_file *mf,
					void __user *uarg,
					const struct mmsb_submit *sub)
{
	struct mmsb_park *p, *found = NULL;

	if (list_empty_careful(&mf->parks))
		return NULL;
	spin_lock(&mf->park_lock);
	list_for_each_entry(p, &mf->parks, node) {
		if (p->pid == task_pid(current)) {
			list_del(&p->node);
			found = p;
			break;
		}
	}
	spin_unlock(&mf->park_lock);
	if (found && (found->uarg != uarg || found->deltas != sub->deltas ||
		      found->count != sub->count ||
		      found->flags != sub->flags)) {
		mmsb_park_drop(found);
		found = NULL;
	}
	return found;
}

/*
 * A record of a parked submission that cannot go on at the resume
 * (mmsb_builder_resume()): its page was freed meanwhile (-EIDRM), or
 * it was part of an atomic submission that lost one (-ECANCELED).
 */
static void mmsb_submit_gone(void *arg, u32 index, int status)
{
	struct mmsb_submission *s = arg;

	atomic64_inc(&s->dev->deltas.rejected);
	/* The count before the status, as in mmsb_submit_queue(). */
	smp_mb__after_atomic();
	mmsb_submit_result(s, index, 0, status);
}

/*
 * Park the interrupted submission @s (@armed: in the wait for its batch)
 * and write what the caller sees if the call is not restarted: each
 * queued delta accepted (an id, status 0, no epoch yet), the others
 * refused with -EINTR.  Without memory to park, the submission ends as
 * an -EINTR one; if an output could not be written, as an -ECOMM one
 * (-EFAULT if nothing was queued).  Returns -ERESTARTSYS, -EINTR,
 * -ECOMM or -EFAULT.
 */
static int mmsb_park(struct mmsb_file *mf, void __user *uarg,
		     struct mmsb_submit *sub, struct mmsb_submission *s,
		     bool armed)
{
	struct mmsb_batch *batch = s->b.batch;
	struct mmsb_park *p;
	int ret = -ERESTARTSYS;
	u32 applied;

	if (!armed)
		mmsb_submit_refuse_rest(s, -EINTR);
	if (batch && s->queued &&
	    mmsb_batch_report(batch, s->uptr, false, &applied))
		s->fault = -EFAULT;
	sub->accepted = s->queued;
	sub->applied = 0;

	/* A fault ends the call: no restart, nothing to park. */
	p = s->fault ? NULL : kmalloc(sizeof(*p), GFP_KERNEL_ACCOUNT);
	if (!p) {
		ret = -EINTR;
		if (!armed) {
			batch = mmsb_submit_end(s);
			if (batch)
				mmsb_submit_arm(s->dev, batch, NULL, NULL);
		}
		if (batch)
			mmsb_batch_put(batch);
		return s->fault ? mmsb_submit_fault(s) : ret;
	}
	p->pid = get_task_pid(current, PIDTYPE_PID);
	p->uarg = uarg;
	p->deltas = sub->deltas;
	p->count = sub->count;
	p->flags = sub->flags;
	p->armed = armed;
	/* The page cache may be on our stack: a resume takes one again. */
	if (!armed)
		mmsb_builder_park(&s->b);
	p->s = *s;
	if (!armed)
		/* Queued awaited deltas wait for a tick that no one asked. */
		mmsb_tick_kick(&s->dev->tick);
	spin_lock(&mf->park_lock);
	list_add(&p->node, &mf->parks);
	spin_unlock(&mf->park_lock);
	return ret;
}

/**
 * mmsb_submit() - MMSB_IOC_SUBMIT on a checked copy of its argument
 * @mf: the submitting file (credentials, parked submissions)
 * @uarg: where the caller's struct mmsb_submit is
 * @sub: a checked copy of it; @accepted and @applied are set here
 * @nonblock: a full queue ends the call with -EAGAIN
 *
 * A signal or task work ending a wait parks the submission (struct
 * mmsb_park) and returns -ERESTARTSYS; the restarted call resumes it.
 * A new submission first writes every delta's pending outputs
 * (mmsb_submit_claim()), so that -EFAULT always means nothing queued.
 *
 * Context: process context, sleeps.
 * Return: 0 (each delta has its own status), -EAGAIN once
 * @sub->accepted deltas went in, -ERESTARTSYS, -EFAULT with nothing
 * queued, or -ECOMM: an output could not be written back after
 * @sub->accepted deltas went in.
 */
static int mmsb_submit(struct mmsb_file *mf, void __user *uarg,
		       struct mmsb_submit *sub, bool nonblock)
{
	struct mmsb_delta __user *uptr = u64_to_user_ptr(sub->deltas);
	struct mmsb_submit __user *u = uarg;
	bool sync = sub->flags & MMSB_SUBMIT_SYNC;
	struct mmsb_submission stack, *s = &stack;
	struct mmsb_dev *dev = mf->dev;
	struct mmsb_page_cache local;
	struct mmsb_park *p;
	struct mmsb_batch *batch;
	int ret;

	p = mmsb_park_take(mf, uarg, sub);
	if (p) {
		stack = p->s;
		if (p->armed) {
			batch = s->b.batch;
			put_pid(p->pid);
			kfree(p);
			goto wait;
		}
		put_pid(p->pid);
		kfree(p);
		mmsb_builder_resume(&s->b,
				    mmsb_page_cache_acquire(&mf->pages, &local),
				    mmsb_submit_gone, s);
	} else {
		/* Nothing is queued unless every output can be written. */
		if (put_user(0, &u->accepted) || put_user(0, &u->applied) ||
		    mmsb_submit_claim(uptr, sub->count))
			return -EFAULT;
		mmsb_submit_start(s, dev, mf,
				  mmsb_page_cache_acquire(&mf->pages, &local),
				  uptr, sub->count, sync,
				  sub->flags & MMSB_SUBMIT_ATOMIC, nonblock, true);
	}

	sub->applied = 0;
	ret = mmsb_submit_queue(s);
	if (ret == -ERESTARTSYS)
		return mmsb_park(mf, uarg, sub, s, false);
	s->stop = ret;
	if (ret)
		mmsb_submit_refuse_rest(s, ret);
	batch = mmsb_submit_end(s);
	sub->accepted = s->queued;
	if (!batch)
		return s->fault ? mmsb_submit_fault(s) : ret;
	if (mmsb_submit_arm(dev, batch, NULL, NULL))
		goto report;
wait:
	if (wait_for_completion_interruptible(&batch->completion))
		return mmsb_park(mf, uarg, sub, s, true);
report:
	if (mmsb_batch_report(batch, uptr, true, &sub->applied))
		s->fault = -EFAULT;
	mmsb_batch_put(batch);
	sub->accepted = s->queued;
	if (s->fault)
		return mmsb_submit_fault(s);
	return s->stop;
}

/**
 * mmsb_ioctl_submit() - MMSB_IOC_SUBMIT
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_submit
 *
 * The outputs @accepted and @applied are written twice: zero before
 * anything is queued (a struct that cannot take them fails with -EFAULT
 * and nothing done), the counts at the end (a struct that no longer
 * takes them then gives -ECOMM once something was queued).
 *
 * Return: see mmsb_submit(); -EINVAL for unknown flags, reserved fields
 * not zero, or a count of 0 or over %MMSB_SUBMIT_MAX (the uapi's errno
 * rule: the io_uring SUBMIT says the same).
 */
long mmsb_ioctl_submit(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_submit __user *u = uarg;
	struct mmsb_submit sub;
	int ret;

	if (copy_from_user(&sub, uarg, sizeof(sub)))
		return -EFAULT;
	if ((sub.flags & ~MMSB_SUBMIT_FLAGS_ALL) ||
	    memchr_inv(sub.reserved, 0, sizeof(sub.reserved)) ||
	    !sub.count || sub.count > MMSB_SUBMIT_MAX)
		return -EINVAL;
	sub.accepted = 0;
	sub.applied = 0;
	ret = mmsb_submit(mf, uarg, &sub, file->f_flags & O_NONBLOCK);
	trace_mmsb_submit(sub.count, sub.accepted, sub.flags & MMSB_SUBMIT_SYNC,
			  false, ret);
	if (put_user(sub.accepted, &u->accepted) ||
	    put_user(sub.applied, &u->applied))
		return sub.accepted ? -ECOMM : -EFAULT;
	return ret;
}

/**
 * mmsb_submit_open() - a new file has no parked submission
 * @mf: the file
 */
void mmsb_submit_open(struct mmsb_file *mf)
{
	spin_lock_init(&mf->park_lock);
	INIT_LIST_HEAD(&mf->parks);
}

/**
 * mmsb_submit_release() - drop a closing file's parked submissions
 * @mf: the file
 *
 * Their queued deltas still apply, as for any closed file.
 */
void mmsb_submit_release(struct mmsb_file *mf)
{
	struct mmsb_park *p, *tmp;

	list_for_each_entry_safe(p, tmp, &mf->parks, node) {
		list_del(&p->node);
		mmsb_park_drop(p);
	}
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
	page = mmsb_page_get(&mf->dev->pages, w.page_id);
	if (!page)
		return -ENOENT;
	ret = mmsb_page_permission(page, mf->cred, mf->admin, MMSB_MAY_READ);
	if (ret)
		goto put_page;

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
put_page:
	mmsb_page_put(page);
	return ret;
}

/**
 * mmsb_ioctl_flush() - MMSB_IOC_FLUSH: run a tick and wait for it
 * @file: the mmsb file
 * @uarg: unused
 *
 * A signal, or task work, ending the wait restarts the call, which then
 * waits for a tick that starts after the restart.
 *
 * Return: 0 or -ERESTARTSYS.
 */
long mmsb_ioctl_flush(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;

	return mmsb_tick_flush(&mf->dev->tick);
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
