// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb io_uring passthrough (IORING_OP_URING_CMD on /dev/mmsb).
 *
 * MMSB_URING_SUBMIT issued inline by io_uring_enter() leaves the tick to
 * task work of its task, one tick for all the commands the task issued
 * until then (mmsb_uring_defer_tick()), and does not queue its deltas:
 * they are read at issue into the file's handoff, where that tick takes
 * them, after what is queued, and each command writes its outcome and
 * completes (mmsb_uring_handoff_run()): no ring slot and no batch, and
 * each page referenced once for all the commands (mmsb_submit_hand(),
 * mmsb_uring_hand_one()).  What the tick cannot take is queued then, as
 * it was read (mmsb_uring_requeue()).  A command of one small delta that
 * is the first its task issues inline is applied as a SYNC ioctl of one
 * delta is, by a tick run at its issue when the tick is quiet, and
 * completes there (mmsb_uring_submit_one()); it queues the task work all
 * the same, for the commands after it.
 *
 * Other commands (ATOMIC ones, too large for the handoff, issued from
 * io-wq or while another task's task work is pending) are validated and
 * queued like a SYNC MMSB_IOC_SUBMIT (mmsb_submit_deltas()), without the
 * wait: the command returns -EIOCBQUEUED and its struct mmsb_batch
 * completes it.  Issued inline, it too leaves the tick to the task work;
 * issued from io-wq, it runs the tick itself when none runs and
 * completes from its issue (a command of one small delta without a batch
 * either: mmsb_uring_submit_one()).  Otherwise the tick that ends the
 * batch, after propagation, calls the batch's done(), which only queues
 * io_uring task work: the callback runs in the submitter, in its mm,
 * writes each delta's results back (mmsb_batch_report()) and posts the
 * CQE.  If the submitting thread exited, io_uring runs it in a kworker,
 * which writes them with the process's mm, or answers -EOWNERDEAD once
 * the process is gone (mmsb_uring_sub_end()).  A CQE therefore means
 * "applied, propagated and visible", as the return of a SYNC ioctl
 * does, never just "queued".
 *
 * MMSB_URING_WAIT hangs an entry with its own wake function on the
 * page's waitqueue (the one MMSB_IOC_WAIT and poll sleep on), so the
 * engine's wake-up after an epoch change completes it, again through
 * task work.  Four things may end a WAIT: that wake-up, its timer
 * (uring_wait_ms, and a poll of the submitter's PF_EXITING: it may
 * exit while another process holds the ring), io_uring's cancel hook
 * (6.7+: ring torn down, exec), or the check at issue.  The first to
 * claim the request queues the task work; the others do nothing, so
 * every path is idempotent.  A reference held
 * by the issuing thread keeps the request alive until it has finished
 * setting up, since with IOSQE_ASYNC that thread is an io-wq worker that
 * runs beside the submitter's task work.
 *
 * SUBMIT is never marked cancelable: its deltas are in the ring, and a
 * tick completes it within one tick period whatever happens to the ring
 * or the task, or in the handoff, and its task's task work, which runs
 * even if the task exits, completes or queues it.  A command holds a
 * reference on the file, so the module cannot go while one is in flight.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/errno.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "compat.h"
#include "batch.h"
#include "delta.h"
#include "file.h"
#include "page.h"
#include "submit.h"
#include "tick.h"
#include "uring.h"
#include "trace.h"

/* Longest WAIT, in ms; below the 5 minutes after which 6.1 warns about
 * a ring whose teardown waits on requests.
 */
#define MMSB_URING_WAIT_MS_MAX		240000U
/* How often a WAIT looks whether its submitter is exiting. */
#define MMSB_URING_EXIT_POLL_NS		(100 * NSEC_PER_MSEC)

static unsigned int uring_wait_ms = 30000;

static int mmsb_uring_wait_ms_set(const char *val,
				  const struct kernel_param *kp)
{
	unsigned int ms;
	int ret;

	ret = kstrtouint(val, 0, &ms);
	if (ret)
		return ret;
	if (!ms || ms > MMSB_URING_WAIT_MS_MAX)
		return -EINVAL;
	*(unsigned int *)kp->arg = ms;
	return 0;
}

static const struct kernel_param_ops mmsb_uring_wait_ms_ops = {
	.set = mmsb_uring_wait_ms_set,
	.get = param_get_uint,
};

/* Read-only once loaded, like every parameter: set at insmod. */
module_param_cb(uring_wait_ms, &mmsb_uring_wait_ms_ops, &uring_wait_ms, 0444);
MODULE_PARM_DESC(uring_wait_ms,
		 "io_uring WAIT completes with -ETIMEDOUT after this many ms (1-240000, default 30000)");

/* io_uring commands issued and not completed: debugfs "uring_inflight". */
static atomic_t mmsb_uring_inflight = ATOMIC_INIT(0);

/**
 * mmsb_uring_inflight_count() - io_uring commands in flight
 *
 * Return: the commands of every file issued and not yet completed (a
 * debugging figure: tests check that none is left behind).
 */
int mmsb_uring_inflight_count(void)
{
	return atomic_read(&mmsb_uring_inflight);
}

/* The request lives behind a pointer in the command's pdu. */
static void mmsb_uring_set_req(struct io_uring_cmd *ioucmd, void *req)
{
	BUILD_BUG_ON(sizeof(req) > sizeof_field(struct io_uring_cmd, pdu));
	memcpy(ioucmd->pdu, &req, sizeof(req));
}

static void *mmsb_uring_req(struct io_uring_cmd *ioucmd)
{
	void *req;

	memcpy(&req, ioucmd->pdu, sizeof(req));
	return req;
}

/**
 * struct mmsb_uring_sub - an MMSB_URING_SUBMIT in flight, in the pdu
 * @uptr: the user's delta array, written back at completion
 * @batch: its batch, whose owner reference the command holds (queued)
 * @mm: the address space @uptr lives in, the issuer's; the command holds
 *	a reference on the struct (mmgrab()), not on the address space
 *	(queued)
 * @next: the next command in the file's handoff (handed)
 * @first: its first record, in a chunk of the handoff (handed)
 * @applied: deltas of the command a tick took from the handoff and
 *	applied before the rest was queued (mmsb_uring_requeue()), else 0
 * @nr: its records in the handoff, one for each of its deltas, in order
 *	(handed)
 * @page_held: its one record references its page (mmsb_delta_read_one());
 *	else its chunk does (mmsb_submit_hand()) (handed)
 * @fault: an output could not be written before the batch was made (a
 *	refused delta's, or one a tick took from the handoff): the CQE
 *	says -ECOMM, as when the completion's write-back fails
 *
 * A command is handed or queued; one whose handed records a tick left
 * is queued then, and the fields of the first kind give way to those of
 * the second.
 */
struct mmsb_uring_sub {
	struct mmsb_delta __user *uptr;
	union {
		struct {
			struct mmsb_batch *batch;
			struct mm_struct *mm;
		};
		struct {
			struct io_uring_cmd *next;
			struct mmsb_kdelta *first;
		};
	};
	u32 applied;
	u16 nr;
	bool page_held;
	bool fault;
};

static struct mmsb_uring_sub *mmsb_uring_sub(struct io_uring_cmd *ioucmd)
{
	BUILD_BUG_ON(sizeof(struct mmsb_uring_sub) >
		     sizeof_field(struct io_uring_cmd, pdu));
	return (struct mmsb_uring_sub *)ioucmd->pdu;
}

/* Deltas a command may carry to be handed; larger ones are queued. */
#define MMSB_URING_HAND_DELTAS		256
/* A new chunk of the handoff has room for a delta read alone at least. */
#define MMSB_URING_HAND_NEED \
	(sizeof(struct mmsb_kdelta) + MMSB_DELTA_ONE_MAX)
static_assert(MMSB_URING_HAND_DELTAS <= U16_MAX);

/*
 * Report each delta and drop the batch: the CQE's result.
 *
 * The results go to the submitter's address space, wherever the
 * completion runs.  Usually that is the submitter, or a thread of its
 * process (io-wq, SQPOLL), which has the address space already.  When
 * the submitting thread exited first, io_uring runs the completion in
 * its fallback kworker: the kworker borrows the address space while the
 * process still has one (kthread_use_mm()).  When the process is gone,
 * nobody can read the results: the CQE says -EOWNERDEAD rather than a
 * count that would claim they were written.  When some result could not
 * be written (the array unmapped or made read-only since the issue,
 * which found it writable), the CQE says -ECOMM: the deltas were
 * handled, but the array does not say how; never -EFAULT, which means
 * nothing was queued.
 */
static int mmsb_uring_sub_end(struct mmsb_uring_sub *s)
{
	struct mm_struct *mm = s->mm;
	u32 applied;
	int ret;

	if (current->mm == mm) {
		ret = mmsb_batch_report(s->batch, s->uptr, true, &applied);
	} else if ((current->flags & PF_KTHREAD) && !current->mm &&
		   mmget_not_zero(mm)) {
		kthread_use_mm(mm);
		ret = mmsb_batch_report(s->batch, s->uptr, true, &applied);
		kthread_unuse_mm(mm);
		mmput(mm);
	} else {
		mmsb_batch_report(s->batch, NULL, true, &applied);
		ret = -EOWNERDEAD;
	}
	mmdrop(mm);
	mmsb_batch_put(s->batch);
	atomic_dec(&mmsb_uring_inflight);
	if (ret == -EFAULT || (s->fault && ret != -EOWNERDEAD))
		return -ECOMM;
	return ret ? ret : s->applied + applied;
}

/*
 * Task work, in the submitter: report and post the CQE.  The batch's
 * end (atomic_sub_and_test() and llist_add() in batch.c, the tick's
 * llist_del_all(), then the task work queueing) orders the results
 * before our reads.
 */
static void mmsb_uring_submit_tw(struct io_uring_cmd *ioucmd,
				 unsigned int issue_flags)
{
	mmsb_uring_cmd_done(ioucmd, mmsb_uring_sub_end(mmsb_uring_sub(ioucmd)),
			    issue_flags);
}

/* The batch's done(): called once, at the end of another's tick. */
static void mmsb_uring_batch_done(struct mmsb_batch *batch)
{
	io_uring_cmd_complete_in_task(batch->priv, mmsb_uring_submit_tw);
}

static void mmsb_uring_arm(struct io_uring_cmd *ioucmd, struct mmsb_file *mf,
			   struct mmsb_uring_sub *s, struct mm_struct *mm,
			   bool defer, unsigned int issue_flags);

/*
 * Queue the records of a handed command that its tick did not take, the
 * @nr from @kd on (mmsb_submit_records(): as they were read, nothing is
 * read again), for the tick the task work runs next (@mf->tick_queued),
 * and complete the command when they are handled, as a queued one: its
 * CQE counts the deltas applied before too (@s->applied).
 */
static noinline void mmsb_uring_requeue(struct io_uring_cmd *ioucmd,
					struct mmsb_file *mf,
					struct mmsb_kdelta *kd, u32 nr)
{
	struct mmsb_uring_sub *s = mmsb_uring_sub(ioucmd);
	u32 accepted;
	int ret;

	ret = mmsb_submit_records(mf, kd, nr, s->uptr, &accepted, &s->batch);
	trace_mmsb_submit(nr, accepted, true, true, ret);
	/* A refusal not written: the claim at issue held, so -ECOMM. */
	s->fault |= ret == -EFAULT || ret == -ECOMM;
	if (s->batch) {
		mmsb_uring_arm(ioucmd, mf, s, mf->tick_mm, true, 0);
		return;
	}
	/* Each refused (a page freed, a signal): its status says so. */
	mmsb_uring_cmd_done(ioucmd, s->fault ? -ECOMM : s->applied, 0);
}

/*
 * A handed command of which its tick took only the first @taken records
 * (maybe none; none of a command of one delta): write their outcome and
 * queue the rest (mmsb_uring_requeue()).
 */
static noinline void mmsb_uring_handed_left(struct mmsb_file *mf,
					    struct io_uring_cmd *ioucmd,
					    u32 taken)
{
	struct mmsb_uring_sub *s = mmsb_uring_sub(ioucmd);
	struct mmsb_kdelta *kd = s->first;
	u32 i, applied = 0;

	s->fault = taken && mmsb_records_put_results(kd, taken, taken - 1,
						     s->uptr, true, &applied);
	s->applied = applied;
	for (i = 0; i < taken; i++)
		kd = mmsb_kdelta_next(kd);
	mmsb_uring_requeue(ioucmd, mf, kd, s->nr - taken);
}

/* The CQE of a handed command of more deltas, all taken. */
static noinline int mmsb_uring_handed_put_all(struct mmsb_uring_sub *s)
{
	u32 applied = 0;

	if (mmsb_records_put_results(s->first, s->nr, s->nr - 1, s->uptr,
				     true, &applied))
		return -ECOMM;
	return applied;
}

/*
 * The handed commands' tick, in the task's task work: one tick takes the
 * records after what is queued (mmsb_tick_run_handed()), in order, and
 * each command writes the outcome of those taken; one all of whose
 * records were taken completes.  The rest (the tick had to leave them:
 * deltas still queued, batch_max, a page the drain changed, its page
 * limit) are queued as they were read (mmsb_uring_requeue()), for one
 * more tick (mmsb_uring_tick_tw()), waiting for room if need be: only a
 * fatal signal ends that wait (refusing what is left with -EINTR), not
 * the io_uring task work the completions before it queued, since
 * nothing can restart it.  A tick running elsewhere is waited for, as a
 * SYNC submitter waits; a fatal signal ends the wait, and then all of
 * them are queued, as they are when the task lost its address space
 * (it was killed before it returned to user space).
 */
static void mmsb_uring_handoff_run(struct mmsb_file *mf)
{
	struct mmsb_uring_handoff *h = &mf->handoff;
	struct io_uring_cmd *ioucmd, *next;
	struct mmsb_chunk *c;
	u32 left = 0;

	/* Without the address space, no outcome could be written now. */
	if (current->mm && !mmsb_tick_lock_killable(mf->tick)) {
		/* Its drain takes what commands queued at their issue. */
		mf->tick_queued = false;
		left = mmsb_tick_run_handed(mf->tick, h->first);
	}
	for (ioucmd = h->cmds; ioucmd; ioucmd = next) {
		struct mmsb_uring_sub *s = mmsb_uring_sub(ioucmd);
		struct mmsb_kdelta *kd = s->first;
		/* Its page, if it holds it: put once the record is done. */
		struct mmsb_page *held = s->page_held ? kd->page : NULL;
		u32 nr = s->nr;
		int res;

		/* Gone from @s once the command is queued or completed. */
		next = s->next;
		atomic_dec(&mmsb_uring_inflight);
		if (unlikely(left < nr)) {
			mmsb_uring_handed_left(mf, ioucmd, left);
			left = 0;
		} else {
			left -= nr;
			if (held)
				res = mmsb_delta_put_result(s->uptr, kd->id,
							    kd->status,
							    kd->epoch) ?
				      -ECOMM : !kd->status;
			else
				res = mmsb_uring_handed_put_all(s);
			trace_mmsb_submit(nr, nr, true, true, min(res, 0));
			mmsb_uring_cmd_done(ioucmd, res, 0);
		}
		if (held)
			mmsb_page_put(held);
	}
	h->cmds = NULL;
	h->last = NULL;
	/* The chunks go back, with the pages they hold. */
	while ((c = h->first)) {
		h->first = c->next;
		mmsb_chunk_drop_pages(c);
		mmsb_chunk_put(mf->deltas, c);
	}
	h->cur = NULL;
}

/*
 * The tick task work: run the tick for the commands queued and handed
 * before it.
 */
static void mmsb_uring_tick_tw(struct callback_head *cb)
{
	struct mmsb_file *mf = container_of(cb, struct mmsb_file, tick_work);
	struct file *file = mf->tick_file;

	/*
	 * A tick is owed to commands that queued (a batch armed after a
	 * tick took all its deltas ends only at the end of a later one),
	 * not to a task work that only marked a lone command's submission
	 * (mmsb_uring_one()).  A chunk a command took is given back even
	 * if the command was queued after all.
	 */
	if (mf->handoff.first)
		mmsb_uring_handoff_run(mf);
	/* What its tick left, queued since, has one more. */
	if (mf->tick_queued)
		mmsb_tick_run_here(mf->tick);
	mf->tick_queued = false;
	/*
	 * Only now may another task own the task work and the handoff:
	 * no command of ours runs while this does, and a command of
	 * another task that sees @tick_task still set takes a way that
	 * needs no tick of ours.
	 */
	mmdrop(mf->tick_mm);
	xchg(&mf->tick_task, NULL);
	fput(file);
}

/* mmsb_uring_defer_tick() for the first command: the task work queued. */
static noinline bool mmsb_uring_defer_tick_new(struct mmsb_file *mf,
					       struct file *file)
{
	if (!current->mm || cmpxchg(&mf->tick_task, NULL, current))
		return false;
	/* The task work holds the file, and so @mf and the module. */
	mf->tick_file = get_file(file);
	/* And the address space its commands' results go to. */
	mf->tick_mm = current->mm;
	mmgrab(mf->tick_mm);
	init_task_work(&mf->tick_work, mmsb_uring_tick_tw);
	if (!task_work_add(current, &mf->tick_work, TWA_RESUME))
		return true;
	/* The task is exiting: no task work runs any more. */
	mmdrop(mf->tick_mm);
	WRITE_ONCE(mf->tick_task, NULL);
	fput(file);
	return false;
}

/*
 * Issued inline by io_uring_enter(), a command does not run a tick of
 * its own: the task's next task work does, for every command the task
 * issued until then, so a submission of many commands costs one tick.
 * It runs before the task returns to user space or sleeps for a
 * completion.  True when the command may rely on such a tick: ours, or
 * one already pending in this task; not on one pending in another task,
 * which may not run for a long time.  Inline: a command after the first
 * only looks.
 */
static __always_inline bool mmsb_uring_defer_tick(struct mmsb_file *mf,
						  struct file *file)
{
	struct task_struct *owner = READ_ONCE(mf->tick_task);

	if (owner)
		return owner == current;
	return mmsb_uring_defer_tick_new(mf, file);
}

/*
 * One delta, applied by a tick run here (mmsb_submit_one(), as a SYNC
 * ioctl of one delta): the command completes from its issue, with no
 * batch and no task work of its own.  Issued inline, under the ring's lock, only
 * while the tick has nothing else to do (mmsb_tick_quiet()), so that
 * the tick applies just this delta.  Returns MMSB_DELTA_CHUNK when the
 * delta must go the queued way.
 */
static int mmsb_uring_submit_one(struct io_uring_cmd *ioucmd,
				 struct mmsb_file *mf,
				 struct mmsb_delta __user *uptr,
				 unsigned int issue_flags)
{
	u32 accepted, applied;
	int ret;

	if ((issue_flags & IO_URING_F_NONBLOCK) && !mmsb_tick_quiet(mf->tick))
		return MMSB_DELTA_CHUNK;
	ret = mmsb_submit_one(mf, uptr, &accepted, &applied);
	if (ret == MMSB_DELTA_CHUNK)
		return ret;
	trace_mmsb_submit(1, accepted, true, true, ret);
	if (ret || !applied)
		return ret;
	/* Not a positive return: see mmsb_uring_submit(). */
	mmsb_uring_cmd_done(ioucmd, applied, issue_flags);
	return -EIOCBQUEUED;
}

/*
 * The file's handoff has no chunk, or its last one has no room for the
 * records of a command: a new one, from @mf->deltas' pool (the largest
 * size; charged while it holds them, given back by the task work), or
 * NULL when none can be had (the memory limit) or the last one is empty
 * (no chunk holds them: the command is queued).
 */
static noinline struct mmsb_chunk *mmsb_uring_handoff_open(struct mmsb_file *mf)
{
	struct mmsb_uring_handoff *h = &mf->handoff;
	struct mmsb_chunk *c = h->cur;

	if (c && !c->nr)
		return NULL;
	c = mmsb_chunk_get(mf->deltas, MMSB_URING_HAND_NEED, MMSB_CHUNK_LARGE);
	if (!c)
		return NULL;
	if (h->cur)
		h->cur->next = c;
	else
		h->first = c;
	h->cur = c;
	return c;
}

/*
 * Command @ioucmd, of @nr records from @kd on in the open chunk, joins
 * the handoff.
 */
static void mmsb_uring_hand_cmd(struct mmsb_uring_handoff *h,
				struct io_uring_cmd *ioucmd,
				struct mmsb_delta __user *uptr,
				struct mmsb_kdelta *kd, u32 nr, bool page_held)
{
	struct mmsb_uring_sub *s = mmsb_uring_sub(ioucmd);

	s->uptr = uptr;
	s->next = NULL;
	s->first = kd;
	s->nr = nr;
	s->page_held = page_held;
	if (h->last)
		mmsb_uring_sub(h->last)->next = ioucmd;
	else
		h->cmds = ioucmd;
	h->last = ioucmd;
	atomic_inc(&mmsb_uring_inflight);
}

/*
 * One delta issued inline by the task that owns the file's pending task
 * work (mmsb_uring_defer_tick()): read at issue into the file's handoff
 * (mmsb_submit_read_one(): its outputs claimed in the same window) and
 * left to the tick of that task work, which takes it after what is
 * queued and completes the command (mmsb_uring_handoff_run()), so the
 * commands of one io_uring_enter() share one tick.  Returns
 * MMSB_DELTA_CHUNK when the delta must take another way (not a small
 * DENSE one, no chunk to be had).
 */
static int mmsb_uring_hand_one(struct io_uring_cmd *ioucmd,
			       struct mmsb_file *mf,
			       struct mmsb_delta __user *uptr)
{
	struct mmsb_chunk *c = mf->handoff.cur;
	struct mmsb_kdelta *kd = c ? mmsb_chunk_handed_slot(c) : NULL;
	int ret;

	if (unlikely(!kd)) {
		c = mmsb_uring_handoff_open(mf);
		if (!c)
			return MMSB_DELTA_CHUNK;
		kd = mmsb_chunk_handed_slot(c);
	}
	ret = mmsb_submit_read_one(mf, uptr, kd);
	if (ret) {
		if (ret == MMSB_DELTA_CHUNK)
			return ret;
		trace_mmsb_submit(1, 0, true, true, min(ret, 0));
		/* Refused: the CQE says 0 at once (-EFAULT: unwritable). */
		return ret == MMSB_DELTA_REFUSED ? 0 : ret;
	}
	mmsb_chunk_handed_add(c, kd);
	mmsb_uring_hand_cmd(&mf->handoff, ioucmd, uptr, kd, 1, true);
	return -EIOCBQUEUED;
}

/*
 * mmsb_uring_hand_one() for a command of any deltas, up to
 * MMSB_URING_HAND_DELTAS, not ATOMIC: read at issue into the file's
 * handoff (mmsb_submit_hand()), all or none, each page referenced once
 * by a chunk for all the commands whose records it holds.  Returns
 * MMSB_DELTA_CHUNK when the command must be queued (too many deltas,
 * one of them refused, more than a chunk, no chunk to be had).
 */
static int mmsb_uring_hand_many(struct io_uring_cmd *ioucmd,
				struct mmsb_file *mf,
				struct mmsb_delta __user *uptr, u32 n)
{
	struct mmsb_chunk *c = mf->handoff.cur;
	u32 used;
	int ret;

	if (n > MMSB_URING_HAND_DELTAS)
		return MMSB_DELTA_CHUNK;
	if (!c)
		c = mmsb_uring_handoff_open(mf);
	for (;;) {
		if (!c)
			return MMSB_DELTA_CHUNK;
		used = c->used;
		ret = mmsb_submit_hand(mf, c, uptr, n);
		if (ret != MMSB_DELTA_FULL)
			break;
		c = mmsb_uring_handoff_open(mf);
	}
	if (ret)
		return ret;
	mmsb_uring_hand_cmd(&mf->handoff, ioucmd, uptr,
			    (struct mmsb_kdelta *)(c->mem + used), n, false);
	return -EIOCBQUEUED;
}

/*
 * Validate and queue (mmsb_submit_deltas()), and see that the batch
 * completes (mmsb_uring_arm()).
 */
static int mmsb_uring_submit_queued(struct io_uring_cmd *ioucmd,
				    struct mmsb_file *mf,
				    struct mmsb_delta __user *uptr, u32 n,
				    u32 flags, unsigned int issue_flags)
{
	struct mmsb_uring_sub *s = mmsb_uring_sub(ioucmd);
	bool nonblock = issue_flags & IO_URING_F_NONBLOCK;
	u32 accepted;
	int ret;

	/*
	 * Issued inline by io_uring_enter(), we must not sleep on a full
	 * queue, and a command cut in two cannot be retried.  Without room
	 * for all of it, -EAGAIN before anything is done: io_uring issues
	 * it again from io-wq, where waiting for room is fine.
	 */
	if (nonblock && mmsb_tick_room(mf->tick) < n)
		return -EAGAIN;

	s->uptr = uptr;
	/*
	 * Inline, a racing submitter may still fill the queue after our
	 * look: what does not fit is refused with -EAGAIN, per delta, as
	 * for an O_NONBLOCK ioctl.
	 */
	ret = mmsb_submit_deltas(mf, s->uptr, n, true,
				 flags & MMSB_SUBMIT_ATOMIC, nonblock,
				 &accepted, &s->batch);
	trace_mmsb_submit(n, accepted, true, true, ret);
	if (!s->batch) {
		/* Nothing queued: a retry from io-wq is as good as new. */
		if (ret == -EAGAIN && nonblock)
			return -EAGAIN;
		/*
		 * Every delta refused: the CQE says 0, at once, or -EFAULT
		 * (nothing queued) if an output could not be written.
		 */
		return ret == -EFAULT ? -EFAULT : 0;
	}
	/* Queued, but a refusal could not be written: -ECOMM at the end. */
	s->fault = ret == -ECOMM;
	s->applied = 0;
	mmsb_uring_arm(ioucmd, mf, s, current->mm,
		       nonblock && mmsb_uring_defer_tick(mf, ioucmd->file),
		       issue_flags);
	return -EIOCBQUEUED;
}

/*
 * A command's batch is made (@s->batch, @s->fault and @s->applied set):
 * see that it completes, its results going to address space @mm (the
 * issuer's).  @defer: leave the tick to the task work this task owns
 * (issued inline: mmsb_uring_defer_tick(); or that task work itself).
 * Else run it here if none runs and complete at once, else complete
 * from the tick that ends the batch.  Completions from a tick go
 * through task work.
 */
static void mmsb_uring_arm(struct io_uring_cmd *ioucmd, struct mmsb_file *mf,
			   struct mmsb_uring_sub *s, struct mm_struct *mm,
			   bool defer, unsigned int issue_flags)
{
	struct file *file = ioucmd->file;

	atomic_inc(&mmsb_uring_inflight);
	/* Where the results go, whoever completes (mmsb_uring_sub_end()). */
	s->mm = mm;
	mmgrab(mm);
	/*
	 * From arming on, the batch may complete at any time and with it
	 * the command, which holds the file and so the module: hold the
	 * file ourselves while we still run here.
	 */
	get_file(file);
	if (defer) {
		mf->tick_queued = true;
		s->batch->done = mmsb_uring_batch_done;
		s->batch->priv = ioucmd;
		mmsb_batch_arm(s->batch);
	} else if (mmsb_submit_arm(mf->tick, s->batch, mmsb_uring_batch_done,
				   ioucmd)) {
		/*
		 * Ended here: complete from here, no task work.  Through
		 * io_uring_cmd_done(), not a positive return: 6.1's io-wq
		 * path posts no CQE for one (ublk completes the same way).
		 */
		mmsb_uring_cmd_done(ioucmd, mmsb_uring_sub_end(s), issue_flags);
	}
	fput(file);
}

/*
 * One delta, not ATOMIC.  Issued inline, the first command of its
 * task's submission (no task work of the task pending on the file)
 * applies it with a tick of its own when the tick is quiet, as before
 * there were handoffs (mmsb_uring_submit_one()), and queues the task
 * work all the same, so that the commands after it in the same
 * io_uring_enter() are handed to one tick (mmsb_uring_hand_one()): a
 * lone command costs no handoff, and many cost one tick more, not one
 * each.  A first command that cannot have a tick of its own is handed
 * too.  Issued from io-wq, or while another task's task work is
 * pending, a tick of its own or nothing (mmsb_uring_submit_one()).
 * MMSB_DELTA_CHUNK: the caller hands it as a command of any deltas, or
 * queues it.
 */
static int mmsb_uring_one(struct io_uring_cmd *ioucmd, struct mmsb_file *mf,
			  struct mmsb_delta __user *uptr,
			  unsigned int issue_flags)
{
	struct task_struct *owner;
	int ret;

	if (!(issue_flags & IO_URING_F_NONBLOCK))
		return mmsb_uring_submit_one(ioucmd, mf, uptr, issue_flags);
	owner = READ_ONCE(mf->tick_task);
	if (owner != current) {
		ret = mmsb_uring_submit_one(ioucmd, mf, uptr, issue_flags);
		if (owner)
			return ret;
		if (!mmsb_uring_defer_tick_new(mf, ioucmd->file) ||
		    ret != MMSB_DELTA_CHUNK)
			return ret;
		/* Nothing of it took effect: read it again, to hand it. */
	}
	/* One call site: inline. */
	return mmsb_uring_hand_one(ioucmd, mf, uptr);
}

/*
 * Hand the command to the task's tick when it is issued inline
 * (mmsb_uring_hand_many(); of one delta: mmsb_uring_one()), else queue
 * it (mmsb_uring_submit_queued()).
 */
static int mmsb_uring_submit(struct io_uring_cmd *ioucmd,
			     struct mmsb_file *mf,
			     const struct mmsb_uring_submit *d,
			     unsigned int issue_flags)
{
	struct mmsb_delta __user *uptr = u64_to_user_ptr(d->deltas);
	u32 n = d->count;
	int ret;

	/* Out of the header's range: -EINVAL, as for MMSB_IOC_SUBMIT. */
	if ((d->flags & ~MMSB_SUBMIT_FLAGS_ALL) || !n || n > MMSB_SUBMIT_MAX)
		return -EINVAL;
	if (d->flags & MMSB_SUBMIT_ATOMIC)
		goto queue;
	if (n == 1) {
		ret = mmsb_uring_one(ioucmd, mf, uptr, issue_flags);
		if (ret != MMSB_DELTA_CHUNK)
			return ret;
	}
	/* Issued inline: handed to the tick of the task's task work. */
	if ((issue_flags & IO_URING_F_NONBLOCK) &&
	    mmsb_uring_defer_tick(mf, ioucmd->file)) {
		ret = mmsb_uring_hand_many(ioucmd, mf, uptr, n);
		if (ret != MMSB_DELTA_CHUNK)
			return ret;
	}
queue:
	return mmsb_uring_submit_queued(ioucmd, mf, uptr, n, d->flags,
					issue_flags);
}

/**
 * mmsb_uring_release() - a closing file's io_uring state
 * @mf: the file; no command of it is in flight (each holds the file)
 */
void mmsb_uring_release(struct mmsb_file *mf)
{
	/* The task work that empties the handoff ran: it held the file. */
	WARN_ON_ONCE(mf->handoff.first);
}

/**
 * struct mmsb_uring_wait_req - an MMSB_URING_WAIT in flight
 * @ioucmd: the command
 * @page: the page waited on, held until the request is claimed (then
 *	NULL: mmsb_uring_wait_unhook())
 * @task: the submitter, held
 * @epoch: the epoch waited for
 * @deadline: when to give up with -ETIMEDOUT
 * @wqe: our entry on @page->waitq
 * @timer: the deadline and the exit poll
 * @claimed: set by the one path that completes the request
 * @ref: one for the issuing thread, one for the task work
 * @res: the CQE result, written by the claimer
 */
struct mmsb_uring_wait_req {
	struct io_uring_cmd *ioucmd;
	struct mmsb_page *page;
	struct task_struct *task;
	u64 epoch;
	ktime_t deadline;
	struct wait_queue_entry wqe;
	struct hrtimer timer;
	atomic_t claimed;
	refcount_t ref;
	int res;
};

/* 0 or -EIDRM once the wait is over, 1 while it is not. */
static int mmsb_uring_wait_check(struct mmsb_page *page, u64 epoch)
{
	if (READ_ONCE(page->epoch) >= epoch)
		return 0;
	if (!READ_ONCE(page->live))
		return -EIDRM;
	return 1;
}

/*
 * Let go of the page: off its waitqueue (if the issuer put us there),
 * reference dropped.  Done once, by the path that claims the request,
 * before the completion is queued: the completion's task work may wait
 * for its task for a long time (a ring with IORING_SETUP_DEFER_TASKRUN
 * runs it only when the task asks for completions), and must not keep
 * a freed page's memory meanwhile.  @locked: the caller is the wake
 * function, under the waitqueue's lock.  The page's struct outlives a
 * lock section of ours even if our reference was the last
 * (kfree_rcu()).
 */
static void mmsb_uring_wait_unhook(struct mmsb_uring_wait_req *w, bool locked)
{
	struct mmsb_page *page = w->page;
	unsigned long flags;

	/* Initialised empty: also right if the issuer never queued us. */
	if (locked) {
		list_del_init(&w->wqe.entry);
	} else {
		spin_lock_irqsave(&page->waitq.lock, flags);
		list_del_init(&w->wqe.entry);
		spin_unlock_irqrestore(&page->waitq.lock, flags);
	}
	w->page = NULL;
	mmsb_page_put(page);
}

/*
 * The last reference: unhook from the timer (after which it cannot
 * reach @w; the claimer unhooked the page), then post the CQE.
 * io_uring_cmd_done() takes the command off io_uring's cancel list
 * under the ring lock that the cancel hook runs under, so no cancel
 * call can still look at @w when it is freed.
 */
static void mmsb_uring_wait_put(struct mmsb_uring_wait_req *w,
				unsigned int issue_flags)
{
	struct io_uring_cmd *ioucmd = w->ioucmd;

	if (!refcount_dec_and_test(&w->ref))
		return;
	hrtimer_cancel(&w->timer);
	/* The task work, and so the last put, comes after the claim. */
	if (WARN_ON_ONCE(w->page))
		mmsb_uring_wait_unhook(w, false);
	if (w->task)
		put_task_struct(w->task);
	mmsb_uring_cmd_done(ioucmd, w->res, issue_flags);
	kfree(w);
	atomic_dec(&mmsb_uring_inflight);
}

static void mmsb_uring_wait_tw(struct io_uring_cmd *ioucmd,
			       unsigned int issue_flags)
{
	mmsb_uring_wait_put(mmsb_uring_req(ioucmd), issue_flags);
}

/*
 * Complete with @res unless another path did: let go of the page at
 * once, and queue the completion.  Any context: the wake function
 * (@locked, under the page's waitqueue lock), a timer, the cancel hook,
 * the issuer.
 */
static void mmsb_uring_wait_finish(struct mmsb_uring_wait_req *w, int res,
				   bool locked)
{
	if (atomic_cmpxchg(&w->claimed, 0, 1))
		return;
	w->res = res;
	mmsb_uring_wait_unhook(w, locked);
	io_uring_cmd_complete_in_task(w->ioucmd, mmsb_uring_wait_tw);
}

/* Under @page->waitq's lock, after an epoch change or a free. */
static int mmsb_uring_wait_wake(struct wait_queue_entry *wqe,
				unsigned int mode, int sync, void *key)
{
	struct mmsb_uring_wait_req *w =
		container_of(wqe, struct mmsb_uring_wait_req, wqe);
	/* On the queue, so not claimed: @w->page is still ours. */
	int ret = mmsb_uring_wait_check(w->page, w->epoch);

	if (ret <= 0)
		mmsb_uring_wait_finish(w, ret, true);
	return 0;
}

static enum hrtimer_restart mmsb_uring_wait_timer(struct hrtimer *timer)
{
	struct mmsb_uring_wait_req *w =
		container_of(timer, struct mmsb_uring_wait_req, timer);

	if (atomic_read(&w->claimed))
		return HRTIMER_NORESTART;
	if (ktime_compare(ktime_get(), w->deadline) >= 0) {
		mmsb_uring_wait_finish(w, -ETIMEDOUT, false);
		return HRTIMER_NORESTART;
	}
	if (READ_ONCE(w->task->flags) & PF_EXITING) {
		mmsb_uring_wait_finish(w, -ECANCELED, false);
		return HRTIMER_NORESTART;
	}
	hrtimer_forward_now(timer, ns_to_ktime(MMSB_URING_EXIT_POLL_NS));
	return HRTIMER_RESTART;
}

/* IO_URING_F_CANCEL (6.7+): only WAITs are marked cancelable. */
static int mmsb_uring_wait_cancel(struct io_uring_cmd *ioucmd)
{
	mmsb_uring_wait_finish(mmsb_uring_req(ioucmd), -ECANCELED, false);
	return 0;
}

static int mmsb_uring_wait(struct io_uring_cmd *ioucmd, struct mmsb_file *mf,
			   const struct mmsb_uring_wait *d,
			   unsigned int issue_flags)
{
	struct mmsb_uring_wait_req *w;
	struct mmsb_page *page;
	ktime_t first;
	int ret;

	page = mmsb_page_lookup(mf->table, d->page_id, mf->cred,
				mf->admin, MMSB_MAY_READ);
	if (IS_ERR(page))
		return PTR_ERR(page);
	ret = mmsb_uring_wait_check(page, d->epoch);
	if (ret <= 0)
		goto put_page;
	ret = -ENOMEM;
	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		goto put_page;

	w->ioucmd = ioucmd;
	/* The lookup's reference goes with the request (unhook). */
	w->page = page;
	w->epoch = d->epoch;
	w->deadline = ktime_add_ms(ktime_get(), uring_wait_ms);
	refcount_set(&w->ref, 2);
	init_waitqueue_func_entry(&w->wqe, mmsb_uring_wait_wake);
	INIT_LIST_HEAD(&w->wqe.entry);
	/* Ours, while we set up: a claimer may drop the request's now on. */
	mmsb_page_hold(page);
	hrtimer_init(&w->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_SOFT);
	w->timer.function = mmsb_uring_wait_timer;
	/*
	 * Watch the submitter on every kernel: 6.7+'s cancel hook runs for
	 * a ring torn down or an exec, not for a submitter that exits while
	 * another process still holds the ring.
	 */
	w->task = mmsb_uring_cmd_task(ioucmd);
	get_task_struct(w->task);
	first = ktime_add_ns(ktime_get(), MMSB_URING_EXIT_POLL_NS);
	mmsb_uring_set_req(ioucmd, w);
	atomic_inc(&mmsb_uring_inflight);

	io_uring_cmd_mark_cancelable(ioucmd, issue_flags);
	/*
	 * The cancel hook may have claimed the request and unhooked it
	 * already: then it must not go on the queue.  Its unhook takes the
	 * same lock after the claim, so it finds us queued or we see it.
	 */
	spin_lock_irq(&page->waitq.lock);
	if (!atomic_read(&w->claimed))
		__add_wait_queue(&page->waitq, &w->wqe);
	spin_unlock_irq(&page->waitq.lock);
	hrtimer_start(&w->timer, first, HRTIMER_MODE_ABS_SOFT);
	/*
	 * Orders our queueing before the epoch load; pairs with the
	 * smp_mb() of wq_has_sleeper() in the engine after its epoch
	 * store: either it sees us queued or we see the new epoch.
	 */
	smp_mb();
	ret = mmsb_uring_wait_check(page, w->epoch);
	if (ret <= 0)
		mmsb_uring_wait_finish(w, ret, false);
	mmsb_uring_wait_put(w, issue_flags);
	mmsb_page_put(page);
	return -EIOCBQUEUED;

put_page:
	mmsb_page_put(page);
	return ret;
}

/*
 * In an SQE128 ring the command area has 64 bytes after the descriptor:
 * the extension area of the uapi, zero until a flag or feature gives it
 * a meaning.  Only looked at, never used: no copy needed.
 */
static __always_inline bool mmsb_uring_ext_zero(const u8 *area,
						unsigned int issue_flags)
{
	return !(issue_flags & IO_URING_F_SQE128) ||
	       !memchr_inv(area + MMSB_URING_CMD_BYTES, 0,
			   MMSB_URING_EXT_BYTES);
}

/**
 * mmsb_uring_cmd() - the ->uring_cmd file operation
 * @ioucmd: the command; ->cmd_op is MMSB_URING_*
 * @issue_flags: io_uring's IO_URING_F_* flags
 *
 * The command area may be the submission queue itself, which user space
 * can rewrite under us: each field is read once into a local, and only
 * the copy is validated and used.
 *
 * Context: process context (the submitter, an io-wq worker or the
 * SQPOLL thread); with IO_URING_F_NONBLOCK it does not wait for room.
 * Return: -EIOCBQUEUED once queued (the CQE follows), else the CQE's
 * result: 0 for a WAIT already satisfied or a SUBMIT all of whose deltas
 * were refused, -ENOTTY (unknown cmd_op), -EINVAL (unknown flags, count
 * 0 or over %MMSB_SUBMIT_MAX, SQE128 extension area not zero), -EFAULT
 * (nothing queued), -ENOMEM, -ENOENT, -EACCES, -EIDRM (WAIT), or -EAGAIN
 * for io_uring to retry from io-wq; a SUBMIT's CQE may also say -ECOMM
 * (mmsb_uring_sub_end()).
 */
int mmsb_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	struct mmsb_file *mf = ioucmd->file->private_data;
	const u8 *area;

	if (issue_flags & IO_URING_F_CANCEL)
		return mmsb_uring_wait_cancel(ioucmd);

	area = mmsb_uring_cmd_area(ioucmd);
	BUILD_BUG_ON(sizeof(struct mmsb_uring_submit) != MMSB_URING_CMD_BYTES);
	BUILD_BUG_ON(sizeof(struct mmsb_uring_wait) != MMSB_URING_CMD_BYTES);

	switch (ioucmd->cmd_op) {
	case MMSB_URING_SUBMIT: {
		const struct mmsb_uring_submit *u = (const void *)area;
		struct mmsb_uring_submit sub = {
			.deltas = READ_ONCE(u->deltas),
			.count = READ_ONCE(u->count),
			.flags = READ_ONCE(u->flags),
		};

		if (!mmsb_uring_ext_zero(area, issue_flags))
			return -EINVAL;
		return mmsb_uring_submit(ioucmd, mf, &sub, issue_flags);
	}
	case MMSB_URING_WAIT: {
		const struct mmsb_uring_wait *u = (const void *)area;
		struct mmsb_uring_wait wait = {
			.page_id = READ_ONCE(u->page_id),
			.epoch = READ_ONCE(u->epoch),
		};

		if (!mmsb_uring_ext_zero(area, issue_flags))
			return -EINVAL;
		return mmsb_uring_wait(ioucmd, mf, &wait, issue_flags);
	}
	default:
		/* As an unknown ioctl: the number carries the size. */
		return -ENOTTY;
	}
}
