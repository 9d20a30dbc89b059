// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb tick queue: producers reserve room and push chunks of deltas;
 * the tick's drain phase takes them in ring order, links their deltas
 * onto their pages (the partition the engine applies), checks atomic
 * submissions whole, and retires chunks once applied.  Records their
 * submitters hand the tick are linked the same way.
 *
 * The producer side runs in any submitter's context; the drain side
 * only in the thread that holds the tick's run_lock (the orchestrator,
 * or a submitter running the tick inline).  How a push gets a tick to
 * run is the tick's "Work pending" protocol (tick.c).
 */
#include <linux/errno.h>
#include <linux/wait.h>
#include <kunit/visibility.h>

#include "batch.h"
#include "delta.h"
#include "engine.h"
#include "page.h"
#include "tick.h"
#include "tick_internal.h"

/* The condition a submitter waiting for room sleeps on. */
static bool mmsb_tick_reserve_or_kick(struct mmsb_tick *t, u32 n)
{
	if (mmsb_queue_reserve(&t->queue, n, false))
		return true;
	mmsb_tick_kick(t);
	return false;
}

/* mmsb_tick_reserve(), whose wait for room sleeps in @state. */
static __always_inline long __mmsb_tick_reserve(struct mmsb_tick *t, u32 n,
						bool nonblock,
						unsigned int state)
{
	long got = mmsb_queue_reserve(&t->queue, n, nonblock);

	if (got)
		return got;
	mmsb_tick_kick(t);
	if (nonblock)
		return -EAGAIN;
	/*
	 * Every look that finds no room asks for a tick again, after this
	 * task is on the waitqueue: the room may be held by deltas reserved
	 * but not pushed yet when the last tick looked, whose pushers kick
	 * only if they see us waiting (mmsb_tick_push()).
	 */
	if (wait_event_state(t->queue.space_wq,
			     mmsb_tick_reserve_or_kick(t, n), state))
		return -ERESTARTSYS;
	return n;
}

/**
 * mmsb_tick_reserve() - room in the queue for @n deltas
 * @t: the tick
 * @n: deltas, 1 to mmsb_tick_capacity()
 * @nonblock: take what room there is (maybe less than @n) rather than
 *	wait for all of it
 *
 * A full queue asks for a tick at once.  The deltas are then pushed in
 * one chunk with mmsb_tick_push().
 *
 * The wait ends for a signal, and for task work that makes the task look
 * signalled (io_uring's TIF_NOTIFY_SIGNAL): -ERESTARTSYS, for the caller
 * to restart the wait after the return to user space ran the task work,
 * or to turn into -EINTR where a restart is impossible.
 *
 * Context: process context if !@nonblock.
 * Return: deltas reserved, or -EAGAIN (@nonblock, no room) or
 * -ERESTARTSYS (nothing reserved).
 */
long mmsb_tick_reserve(struct mmsb_tick *t, u32 n, bool nonblock)
{
	return __mmsb_tick_reserve(t, n, nonblock, TASK_INTERRUPTIBLE);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_reserve);

/**
 * mmsb_tick_reserve_killable() - mmsb_tick_reserve() that waits until
 *	the room is there or a fatal signal came
 * @t: the tick
 * @n: deltas, 1 to mmsb_tick_capacity()
 *
 * For a submitter that cannot restart the wait (the task work that
 * queues the records a tick was handed and left): neither a signal
 * nor io_uring's task work (TIF_NOTIFY_SIGNAL, which the completions
 * that task work posts set) ends it.
 *
 * Context: process context.
 * Return: @n, or -ERESTARTSYS (a fatal signal: nothing reserved).
 */
long mmsb_tick_reserve_killable(struct mmsb_tick *t, u32 n)
{
	return __mmsb_tick_reserve(t, n, false, TASK_KILLABLE);
}

/**
 * mmsb_tick_unreserve() - give back room mmsb_tick_reserve() gave
 * @t: the tick
 * @n: deltas reserved and not pushed
 *
 * For a submission that cannot use less than it asked for (atomic).
 */
void mmsb_tick_unreserve(struct mmsb_tick *t, u32 n)
{
	mmsb_queue_release(&t->queue, n);
}

/**
 * mmsb_tick_atomic_max() - deltas one atomic submission may carry
 * @t: the tick
 *
 * Return: the smaller of the pages one take holds (@t->chunk: the
 * submission's deltas may all be on distinct pages) and what the ring
 * holds.
 */
u32 mmsb_tick_atomic_max(struct mmsb_tick *t)
{
	return min(t->chunk, mmsb_tick_capacity(t));
}

/**
 * mmsb_tick_push() - queue a chunk whose deltas are reserved
 * @t: the tick
 * @c: the chunk; mmsb_tick_reserve() returned @c->nr or more
 * @awaited: the submitter will see a tick run, by running it inline or
 *	kicking the orchestrator (mmsb_tick_trylock()), so the timer
 *	need not be woken for it
 *
 * Context: any.
 */
void mmsb_tick_push(struct mmsb_tick *t, struct mmsb_chunk *c, bool awaited)
{
	mmsb_queue_push_reserved(&t->queue, c);
	/*
	 * A submitter waits for room: have these deltas taken out now.
	 * wq_has_sleeper() starts with smp_mb(), ordering the push before
	 * the look at the waitqueue; pairs with the full barrier of the
	 * xchg() by which a tick takes the waiter's last kick, after which
	 * it looks at the ring: either that tick sees our chunk or we see
	 * the waiter.
	 */
	if (wq_has_sleeper(&t->queue.space_wq))
		mmsb_tick_kick(t);
	/* The queue's smp_mb() after the push orders it before this read. */
	if (!awaited)
		mmsb_tick_wake_timer(t);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_push);

/**
 * mmsb_tick_capacity() - deltas the queue holds at most
 * @t: the tick
 *
 * Return: the ring's capacity, so also the most one chunk may carry.
 */
u32 mmsb_tick_capacity(struct mmsb_tick *t)
{
	return mmsb_ring_capacity(&t->queue.ring);
}

/**
 * mmsb_tick_room() - deltas the queue has room for, a snapshot
 * @t: the tick
 *
 * Return: how many deltas would fit now, if nobody else queued.
 */
u32 mmsb_tick_room(struct mmsb_tick *t)
{
	return mmsb_tick_capacity(t) - mmsb_queue_reserved(&t->queue);
}

/*
 * The inline of tick_internal.h out of line: for the KUnit suites and
 * the handed chunks after the first (mmsb_tick_apply_handed()).
 */
unsigned int mmsb_tick_partition(struct mmsb_chunk *c, unsigned int max,
				 struct mmsb_page **pages,
				 unsigned int *nr_pages, unsigned int max_pages,
				 u64 changed)
{
	return __mmsb_tick_partition(c, max, pages, nr_pages, max_pages,
				     changed);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_partition);

/*
 * Why atomic submission @c cannot apply in tick @tick, or 0.  In ring
 * order, as the engine would apply them: a delta's expected epoch holds
 * only if the page is at it and no earlier delta of the tick (taken
 * before @c, or of @c) changes the page first; a freed page fails it.
 * @c's own deltas count as changing their pages, since all apply or
 * none.  The check stands for the whole tick: an atomic delta applies
 * even if its page is freed before the engine gets to it (the free
 * comes after the tick, as it were).
 */
static int mmsb_tick_atomic_check(struct mmsb_tick *t, struct mmsb_chunk *c,
				  u64 tick)
{
	u64 mark = ++t->atomic_no;
	struct mmsb_kdelta *kd;
	int err = 0;
	u32 i;

	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd)) {
		struct mmsb_page *page = kd->page;

		if (!READ_ONCE(page->live))
			kd->status = -EIDRM;
		else if (kd->expected_epoch &&
			 (mmsb_page_changed_in(page, tick) || page->tick.first ||
			  page->tick.mark == mark ||
			  kd->expected_epoch != page->epoch))
			kd->status = -ESTALE;
		else
			kd->status = 0;
		page->tick.mark = mark;
		if (kd->status && !err)
			err = kd->status;
	}
	return err;
}

/*
 * Take atomic submission @c whole: linked per page when its check
 * passes, else handled at once, each delta with its reason or
 * -ECANCELED and the page's epoch (counted in @es as the engine would:
 * -ESTALE a conflict, the others rejected).
 */
static unsigned int mmsb_tick_take_atomic(struct mmsb_tick *t,
					  struct mmsb_chunk *c, u64 tick,
					  unsigned int *nr_pages,
					  struct mmsb_engine_stats *es)
{
	struct mmsb_kdelta *kd;
	u32 i;

	if (!mmsb_tick_atomic_check(t, c, tick))
		return __mmsb_tick_partition(c, c->nr, t->pages, nr_pages,
					     t->chunk, 0);
	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd)) {
		if (!kd->status)
			kd->status = -ECANCELED;
		if (kd->status == -ESTALE)
			es->conflicts++;
		else
			es->rejected++;
		kd->epoch = READ_ONCE(kd->page->epoch);
	}
	c->taken = c->nr;
	c->pos = c->used;
	return c->nr;
}

/* Does atomic submission @c change a page that tick @tick changed? */
static bool mmsb_tick_atomic_changed(struct mmsb_chunk *c, u64 tick)
{
	struct mmsb_kdelta *kd;
	u32 i;

	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd))
		if (mmsb_page_changed_in(kd->page, tick))
			return true;
	return false;
}

/**
 * mmsb_tick_take() - take up to @max queued deltas, linking them per page
 * @t: the tick, with @t->run_lock held
 * @max: deltas at most
 * @tick: the number of the tick they are taken for
 * @later: an earlier take of this tick was applied
 * @nr_pages: out: pages stored in @t->pages, each with its deltas
 *	linked from ->tick.first in ring order, in order of first delta
 * @es: counts the deltas of atomic submissions refused here
 *
 * Chunks are popped whole and their records taken in order, on
 * @t->chunk pages at most; a chunk with records left stays at the end
 * of @t->taken for the next call.  An atomic submission's chunk is taken
 * whole, beyond @max when it comes first, else by the next call; its
 * records are linked only if all may apply (mmsb_tick_atomic_check()).
 * The queue's room for the deltas taken is released at once.
 *
 * A tick shows each page once: the engine applies a take's deltas on a
 * page in one write section, so a @later take of the same tick stops
 * before the first delta, or atomic submission, on a page an earlier
 * take changed, and leaves it to the next tick.
 *
 * Return: deltas taken.
 */
unsigned int mmsb_tick_take(struct mmsb_tick *t, unsigned int max, u64 tick,
			    bool later, unsigned int *nr_pages,
			    struct mmsb_engine_stats *es)
{
	const u64 changed = later ? tick : 0;
	struct mmsb_chunk *c = t->taken_last;
	unsigned int n = 0, np = 0;

	if (c && c->taken == c->nr)
		c = NULL;
	while (n < max) {
		if (!c) {
			c = mmsb_queue_take(&t->queue);
			if (!c)
				break;
			c->next = NULL;
			if (t->taken_last)
				t->taken_last->next = c;
			else
				t->taken = c;
			t->taken_last = c;
		}
		if (c->atomic) {
			if (n && (c->nr > max - n ||
				  c->nr_pages > t->chunk - np))
				break;
			if (later && mmsb_tick_atomic_changed(c, tick))
				break;
			n += mmsb_tick_take_atomic(t, c, tick, &np, es);
			c = NULL;
			continue;
		}
		n += __mmsb_tick_partition(c, max - n, t->pages, &np,
					   t->chunk, changed);
		/* @max or @t->chunk pages reached, or a page changed already. */
		if (c->taken < c->nr)
			break;
		c = NULL;
	}
	if (n)
		mmsb_queue_release(&t->queue, n);
	*nr_pages = np;
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_take);

/**
 * mmsb_tick_retire() - report what was applied, retire finished chunks
 * @t: the tick, with @t->run_lock held, after the engine applied what
 *	mmsb_tick_take() took
 *
 * Tells each batch how many of its deltas were handled and gives back
 * the chunks whose every record was taken (page references dropped).
 */
void mmsb_tick_retire(struct mmsb_tick *t)
{
	struct mmsb_chunk *c = t->taken, *next;

	while (c) {
		u32 n = c->taken - c->done;

		next = c->next;
		c->done = c->taken;
		if (c->batch && n)
			mmsb_batch_handled(c->batch, n);
		if (c->done < c->nr)
			break;
		mmsb_chunk_retire(t->deltas, c);
		c = next;
	}
	t->taken = c;
	if (!c)
		t->taken_last = NULL;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_retire);
