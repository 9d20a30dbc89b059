// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb parked submissions: a SYNC SUBMIT whose wait a signal ended is
 * kept on its file (struct mmsb_park) for the restarted call to resume
 * (submit.c), and dropped by anything else the thread submits or by the
 * file's release.  Cold paths only: nothing here runs unless a signal
 * came.
 */
#include <linux/errno.h>
#include <linux/list.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>

#include "batch.h"
#include "delta.h"
#include "file.h"
#include "submission.h"
#include "submit.h"
#include "tick.h"

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

/* Drop a park nobody will resume: its queued deltas still apply. */
static void mmsb_park_drop(struct mmsb_park *p)
{
	struct mmsb_submission *s = &p->s;
	struct mmsb_batch *batch = s->b.batch;

	if (!p->armed) {
		/* Its outputs were written when it parked. */
		batch = mmsb_submit_end(s);
		if (batch)
			mmsb_submit_arm(s->tick, batch, NULL, NULL);
		else
			mmsb_tick_kick(s->tick);
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
struct mmsb_park *mmsb_park_take(struct mmsb_file *mf, void __user *uarg,
				 const struct mmsb_submit *sub)
{
	struct mmsb_park *p, *found = NULL;

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
	mmsb_submit_reject(arg, index, status);
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
int mmsb_park(struct mmsb_file *mf, void __user *uarg,
	      struct mmsb_submit *sub, struct mmsb_submission *s, bool armed)
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
				mmsb_submit_arm(s->tick, batch, NULL, NULL);
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
		mmsb_tick_kick(s->tick);
	spin_lock(&mf->park_lock);
	list_add(&p->node, &mf->parks);
	spin_unlock(&mf->park_lock);
	return ret;
}

/*
 * Resume park @p (mmsb_park_take()) of file @mf into @s and free it.
 * Returns true if only the wait for the batch is left; else the
 * submission goes on queueing, with the file's page cache or @local.
 */
bool mmsb_park_resume(struct mmsb_park *p, struct mmsb_submission *s,
		      struct mmsb_file *mf, struct mmsb_page_cache *local)
{
	bool armed = p->armed;

	*s = p->s;
	put_pid(p->pid);
	kfree(p);
	if (!armed)
		mmsb_builder_resume(&s->b,
				    mmsb_page_cache_acquire(&mf->pages, local),
				    mmsb_submit_gone, s);
	return armed;
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
