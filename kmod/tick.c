// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb tick: hrtimer, orchestrator kthread, metrics.
 *
 * The hrtimer does no work in hard irq context: it sets @kick and wakes
 * the orchestrator, which runs the tick in process context:
 *
 *   drain up to @chunk deltas -> partition by page -> engine (workers)
 *   ... repeated until batch_max deltas or the budget is spent
 *   -> graph validation -> propagation -> GC (hooks) -> metrics
 *   -> complete the batches whose deltas were handled -> wake flushers
 *
 * A tick that goes past its budget counts an overrun and leaves what is
 * still queued for the next tick.  Ticks that find the queue empty are
 * not counted and publish no metrics.
 *
 * Idle: when a tick finds the queue empty the timer stops (@idle), and
 * the next enqueue restarts it, so an idle mmsb costs no wake-ups.
 * Both sides store, then fence, then look at the other's variable:
 *
 *   orchestrator                      producer
 *   WRITE_ONCE(idle, true)            push (tail), smp_mb() in the queue
 *   smp_mb()                          READ_ONCE(idle): lock, clear, restart
 *   ring not empty? restart timer
 *
 * so either the producer sees @idle and restarts the timer, or the
 * orchestrator sees the delta and does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/errno.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <kunit/visibility.h>

#include "batch.h"
#include "compat.h"
#include "delta.h"
#include "engine.h"
#include "graph.h"
#include "monitor.h"
#include "page.h"
#include "propagate.h"
#include "tick.h"
#include "trace.h"

/* Restart the timer if it was stopped for idleness. */
static void mmsb_tick_wake_timer(struct mmsb_tick *t)
{
	unsigned long flags;

	if (!t->period || !READ_ONCE(t->idle))
		return;
	raw_spin_lock_irqsave(&t->timer_lock, flags);
	if (t->idle) {
		WRITE_ONCE(t->idle, false);
		hrtimer_start(&t->timer, t->period, HRTIMER_MODE_REL);
	}
	raw_spin_unlock_irqrestore(&t->timer_lock, flags);
}

static enum hrtimer_restart mmsb_tick_timer_fn(struct hrtimer *timer)
{
	struct mmsb_tick *t = container_of(timer, struct mmsb_tick, timer);
	enum hrtimer_restart ret = HRTIMER_NORESTART;
	bool idle;

	/*
	 * The orchestrator may have set @idle while we ran and a producer
	 * restarted the timer since (hrtimer_start() on a running timer
	 * queues it): then it must not be forwarded.  @timer_lock orders
	 * our look against that restart.
	 */
	raw_spin_lock(&t->timer_lock);
	idle = t->idle;
	if (!idle && !hrtimer_is_queued(timer)) {
		hrtimer_forward_now(timer, t->period);
		ret = HRTIMER_RESTART;
	}
	raw_spin_unlock(&t->timer_lock);
	if (!idle) {
		WRITE_ONCE(t->kick, true);
		wake_up(&t->wq);
	}
	return ret;
}

/* The queue was found empty: stop the timer unless a push raced. */
static void mmsb_tick_maybe_idle(struct mmsb_tick *t)
{
	if (!t->period || mmsb_queue_has_work(&t->queue))
		return;
	WRITE_ONCE(t->idle, true);
	/*
	 * Orders the store of @idle before the look at the ring's tail;
	 * pairs with the smp_mb() between a producer's claim of the tail
	 * (mmsb_queue_mark_work()) and its READ_ONCE(@idle).  The ring, not
	 * the has-work hint: the producer sets the hint after its barrier.
	 */
	smp_mb();
	if (mmsb_queue_len(&t->queue))
		mmsb_tick_wake_timer(t);
}

/**
 * mmsb_tick_kick() - have the orchestrator run a tick soon
 * @t: the tick
 *
 * For the caller's work already done (deltas queued, GC state).  Cheap
 * while a kick is pending, as under a stream of io_uring commands.
 * Any context.
 */
void mmsb_tick_kick(struct mmsb_tick *t)
{
	/*
	 * Orders the caller's work before the look at @kick; pairs with
	 * the xchg() in mmsb_tick_fn(), after which the orchestrator looks
	 * at that work.  So a kick it has not taken yet covers ours.
	 */
	smp_mb();
	if (READ_ONCE(t->kick))
		return;
	WRITE_ONCE(t->kick, true);
	wake_up(&t->wq);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_kick);

static bool mmsb_tick_served(struct mmsb_tick *t, u64 request)
{
	/* Pairs with smp_store_release() of @completed in mmsb_tick_run(). */
	return smp_load_acquire(&t->completed) >= request;
}

/**
 * mmsb_tick_flush() - run a tick now and wait until it completed
 * @t: the tick
 *
 * Context: process context, sleeps.
 * Return: 0 or -ERESTARTSYS when a signal came first (the tick still
 * runs).
 */
int mmsb_tick_flush(struct mmsb_tick *t)
{
	/* Fully ordered: a tick that takes our kick counts our request. */
	u64 target = atomic64_inc_return(&t->requested);

	mmsb_tick_kick(t);
	return wait_event_interruptible(t->done_wq,
					mmsb_tick_served(t, target));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_flush);

/* The condition a submitter waiting for room sleeps on. */
static bool mmsb_tick_reserve_or_kick(struct mmsb_tick *t, u32 n)
{
	if (mmsb_queue_reserve(&t->queue, n, false))
		return true;
	mmsb_tick_kick(t);
	return false;
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
	if (wait_event_interruptible(t->queue.space_wq,
				     mmsb_tick_reserve_or_kick(t, n)))
		return -ERESTARTSYS;
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_reserve);

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
 * Return: what one tick takes at once, and the ring holds.
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

/**
 * mmsb_tick_partition() - link a chunk's next deltas onto their pages
 * @c: the chunk; its records from @c->pos on are taken, in order
 * @max: records to take at most
 * @pages: each page with deltas once, in order of first appearance
 * @nr_pages: in/out: entries of @pages used
 *
 * O(n): each page's list, in ring order, hangs off the page
 * (->tick_first/tick_last), fields that only the tick and then the
 * page's worker touch.
 *
 * Return: records taken.
 */
unsigned int mmsb_tick_partition(struct mmsb_chunk *c, unsigned int max,
				 struct mmsb_page **pages,
				 unsigned int *nr_pages)
{
	unsigned int n;

	for (n = 0; n < max && c->taken < c->nr; n++, c->taken++) {
		struct mmsb_kdelta *kd = (struct mmsb_kdelta *)(c->mem + c->pos);
		struct mmsb_page *page = kd->page;

		c->pos += kd->size;
		kd->tick_next = NULL;
		if (!page->tick_first) {
			page->tick_first = kd;
			pages[(*nr_pages)++] = page;
		} else {
			page->tick_last->tick_next = kd;
		}
		page->tick_last = kd;
	}
	return n;
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
			 (page->tick_changed == tick || page->tick_first ||
			  page->tick_mark == mark ||
			  kd->expected_epoch != page->epoch))
			kd->status = -ESTALE;
		else
			kd->status = 0;
		page->tick_mark = mark;
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
		return mmsb_tick_partition(c, c->nr, t->pages, nr_pages);
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

/**
 * mmsb_tick_take() - take up to @max queued deltas, linking them per page
 * @t: the tick, with @t->run_lock held
 * @max: deltas at most, <= @t->chunk
 * @tick: the number of the tick they are taken for
 * @nr_pages: out: pages stored in @t->pages, each with its deltas
 *	linked from ->tick_first in ring order, in order of first delta
 * @es: counts the deltas of atomic submissions refused here
 *
 * Chunks are popped whole and their records taken in order; a chunk
 * with records left stays at the end of @t->taken for the next call.
 * An atomic submission's chunk is taken whole, beyond @max when it
 * comes first, else by the next call; its records are linked only if
 * all may apply (mmsb_tick_atomic_check()).  The queue's room for the
 * deltas taken is released at once.
 *
 * Return: deltas taken.
 */
unsigned int mmsb_tick_take(struct mmsb_tick *t, unsigned int max, u64 tick,
			    unsigned int *nr_pages, struct mmsb_engine_stats *es)
{
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
			if (n && c->nr > max - n)
				break;
			n += mmsb_tick_take_atomic(t, c, tick, &np, es);
			c = NULL;
			continue;
		}
		n += mmsb_tick_partition(c, max - n, t->pages, &np);
		if (c->taken == c->nr)
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

/*
 * Hook points for the later stages of a tick.  Each returns the
 * nanoseconds it spent; GC is the memory monitor (monitor.c), run after
 * the graph's lock is dropped, since evicting a page takes it.
 * The graph's lock, taken by mmsb_prop_begin() when the tick started
 * draining, is held through propagation and validation (propagate.h).
 */
static u64 mmsb_tick_propagate(struct mmsb_tick *t, struct mmsb_tick_metrics *m)
{
	u64 ns = mmsb_prop_run(t->prop, t->tick_no, m);

	trace_mmsb_propagate(t->tick_no, m->propagated, ns);
	return ns;
}

static u64 mmsb_tick_validate_graph(struct mmsb_tick *t,
				    struct mmsb_tick_metrics *m)
{
	u64 ns = mmsb_prop_validate(t->prop, m);

	mmsb_prop_end(t->prop);
	return ns;
}

/*
 * GC gets what is left of the tick's budget, counted from @start; a
 * monitor with nothing to do is not run (its gc_ns is 0).
 */
static u64 mmsb_tick_gc(struct mmsb_tick *t, struct mmsb_tick_metrics *m,
			u64 start)
{
	if (!t->mon || mmsb_monitor_idle(t->mon))
		return 0;
	return mmsb_monitor_run(t->mon, start + t->budget_ns, m);
}

static void mmsb_tick_publish(struct mmsb_tick *t,
			      const struct mmsb_tick_metrics *m)
{
	spin_lock(&t->lock);
	t->last = *m;
	t->totals.ticks++;
	t->totals.processed += m->processed;
	t->totals.rejected += m->rejected;
	t->totals.conflicts += m->conflicts;
	t->totals.overruns += m->overrun;
	spin_unlock(&t->lock);
	trace_mmsb_tick(m);
}

/*
 * GC has work left and no delta is queued.  Periodic ticks: keep the
 * timer running, so GC gets a tick per period (bounded batches).  On
 * demand only: go on at once while pages wait to be freed (finite
 * work); pages that only need ageing wait for the next demanded tick.
 * Never restarts the timer once mmsb_tick_destroy() began.
 */
static bool mmsb_tick_keep_gc(struct mmsb_tick *t)
{
	if (READ_ONCE(t->stopping))
		return false;
	if (t->period) {
		mmsb_tick_wake_timer(t);
		return false;
	}
	return mmsb_monitor_reclaim_pending(t->mon);
}

/*
 * The bus header's seqlock around the part of a tick that writes pages:
 * readers of several mappings retry while it is odd (uapi).
 */
static void mmsb_tick_bus_begin(struct mmsb_tick *t)
{
	WRITE_ONCE(t->bus->tick_seq, t->bus->tick_seq + 1);
	/*
	 * Odd before any page store.  Pairs with the acquire fence in
	 * mmsb_bus_read_retry() (uapi).
	 */
	smp_wmb();
}

static void mmsb_tick_bus_end(struct mmsb_tick *t)
{
	/* Pairs with the acquire load in mmsb_bus_read_begin() (uapi). */
	smp_store_release(&t->bus->tick_seq, t->bus->tick_seq + 1);
}

/*
 * One tick.  Returns true when another should follow at once: work is
 * left and either ticks are on demand only or a request came meanwhile.
 */
static bool mmsb_tick_run(struct mmsb_tick *t)
{
	u64 start_req = atomic64_read(&t->requested);
	struct mmsb_tick_metrics m = { 0 };
	struct mmsb_engine_stats es = { 0 };
	u64 start = ktime_get_ns(), now = start;
	unsigned int total = 0, n, nr_pages, limit;
	struct mmsb_dirty *dirty = NULL;
	bool graph = false;

	/*
	 * A tick takes what was queued when it started (batch_max at
	 * most): deltas arriving meanwhile wait for the next tick, so a
	 * steady stream of producers cannot stretch one tick to its budget.
	 */
	limit = min_t(unsigned long, t->batch_max,
		      mmsb_queue_reserved(&t->queue));
	while (total < limit) {
		n = mmsb_tick_take(t, min(t->chunk, limit - total),
				   t->tick_no + !total, &nr_pages, &es);
		if (!n)
			break;
		/*
		 * Without an edge there is nothing to propagate or validate:
		 * skip the graph and its lock.  An edge added meanwhile
		 * takes effect from the next tick on, as it would had it
		 * waited for the lock.
		 */
		if (!total) {
			mmsb_tick_bus_begin(t);
			t->tick_no++;
			graph = t->prop && mmsb_graph_has_edges(t->prop->graph);
			if (graph)
				dirty = mmsb_prop_begin(t->prop);
		}
		total += n;
		mmsb_engine_run(t->engine, t->pages, nr_pages, n, t->tick_no,
				dirty, &es);
		if (dirty)
			mmsb_prop_collect(t->prop, nr_pages);
		mmsb_tick_retire(t);
		now = ktime_get_ns();
		if (now - start > t->budget_ns) {
			m.overrun = 1;
			break;
		}
	}

	if (total) {
		m.tick = t->tick_no;
		m.processed = es.processed;
		m.rejected = es.rejected;
		m.conflicts = es.conflicts;
		m.pages_changed = es.pages_changed;
		m.apply_ns = now - start;
		if (m.apply_ns)
			m.throughput = div64_u64(es.processed * NSEC_PER_SEC,
						 m.apply_ns);
		if (graph) {
			m.propagate_ns = mmsb_tick_propagate(t, &m);
			m.graph_ns = mmsb_tick_validate_graph(t, &m);
		}
		mmsb_tick_bus_end(t);
		m.gc_ns = mmsb_tick_gc(t, &m, start);
		m.ring_depth = mmsb_queue_reserved(&t->queue);
		m.total_ns = ktime_get_ns() - start;
		mmsb_tick_publish(t, &m);
	} else if (t->mon && mmsb_monitor_has_work(t->mon)) {
		/* GC alone is no tick with deltas: counted by the monitor. */
		mmsb_tick_gc(t, &m, start);
	}

	/*
	 * Batches whose last delta this tick (or an earlier one, for a
	 * batch its submitter armed late) handled: all they changed is
	 * visible now, propagation included.
	 */
	mmsb_batch_end_all(t->deltas);

	/* Pairs with smp_load_acquire() in mmsb_tick_served(). */
	smp_store_release(&t->completed, start_req);
	/*
	 * wq_has_sleeper() starts with smp_mb(): orders the store above
	 * before the look at the queue; pairs with the barrier in
	 * set_current_state() of a flusher, who checks @completed after
	 * queueing.
	 */
	if (wq_has_sleeper(&t->done_wq))
		wake_up_all(&t->done_wq);

	/* A chunk partly taken is work the ring no longer shows. */
	if (!mmsb_queue_recheck(&t->queue) && !t->taken) {
		if (t->mon && mmsb_monitor_has_work(t->mon))
			return mmsb_tick_keep_gc(t);
		mmsb_tick_maybe_idle(t);
		return false;
	}
	if (!t->period)
		return true;
	/*
	 * Periodic ticks leave the rest to the timer, or to a new kick.
	 * Awaited pushes do not start the timer: do it here, or a
	 * submitter waiting for room would wait for ever.
	 */
	mmsb_tick_wake_timer(t);
	return false;
}

/**
 * mmsb_tick_trylock() - take the right to run ticks, if nobody runs one
 * @t: the tick
 *
 * For a submitter that wants its deltas applied now: when it gets the
 * lock, it runs the ticks itself with mmsb_tick_run_until(), in its own
 * context, instead of waking the orchestrator and sleeping.
 *
 * Return: true with @t->run_lock held.
 */
bool mmsb_tick_trylock(struct mmsb_tick *t)
{
	return mutex_trylock(&t->run_lock);
}

/**
 * mmsb_tick_run_until() - run ticks until @done, then unlock
 * @t: the tick, with @t->run_lock held (mmsb_tick_trylock())
 * @done: completed at the end of a tick (a batch's completion), whose
 *	deltas are queued
 *
 * The same ticks as the orchestrator's: they take what is queued first,
 * so the order of acceptance holds, and every phase runs.  Work left
 * when @done completed goes to the orchestrator.
 *
 * Context: process context, sleeps.
 */
void mmsb_tick_run_until(struct mmsb_tick *t, struct completion *done)
{
	bool more;

	do {
		more = mmsb_tick_run(t);
	} while (!completion_done(done));
	mutex_unlock(&t->run_lock);
	if (more)
		mmsb_tick_kick(t);
}

/**
 * mmsb_tick_run_here() - run a tick in the caller's context if none runs
 * @t: the tick
 *
 * For work queued without waiting for it (a batch of io_uring commands
 * one task issued): one tick takes it all, up to batch_max.  If a tick
 * runs already, or work is left, the orchestrator is kicked instead: a
 * running tick may have taken its deltas before ours were queued.
 *
 * Context: process context, sleeps.
 */
void mmsb_tick_run_here(struct mmsb_tick *t)
{
	bool more = true;

	if (mutex_trylock(&t->run_lock)) {
		more = mmsb_tick_run(t);
		mutex_unlock(&t->run_lock);
	}
	if (more || mmsb_queue_reserved(&t->queue))
		mmsb_tick_kick(t);
}

static bool mmsb_tick_run_locked(struct mmsb_tick *t)
{
	bool more;

	mutex_lock(&t->run_lock);
	more = mmsb_tick_run(t);
	mutex_unlock(&t->run_lock);
	return more;
}

static int mmsb_tick_fn(void *arg)
{
	struct mmsb_tick *t = arg;

	while (!kthread_should_stop()) {
		wait_event_idle(t->wq, READ_ONCE(t->kick) ||
				kthread_should_stop());
		/*
		 * xchg() is fully ordered: a request whose @kick we consume
		 * here is counted in @requested as read by mmsb_tick_run().
		 */
		if (!xchg(&t->kick, false))
			continue;
		while (mmsb_tick_run_locked(t))
			cond_resched();
	}
	/* Unload: every queued delta is applied before we go. */
	while (mmsb_queue_reserved(&t->queue))
		mmsb_tick_run_locked(t);
	mutex_lock(&t->run_lock);
	mmsb_batch_end_all(t->deltas);
	mutex_unlock(&t->run_lock);
	return 0;
}

/**
 * mmsb_tick_init() - set up the queue, the timer and the orchestrator
 * @t: the tick
 * @cfg: parameters
 * @engine: a started engine
 * @deltas: submission state
 *
 * Return: 0 or a negative errno.
 */
int mmsb_tick_init(struct mmsb_tick *t, const struct mmsb_tick_config *cfg,
		   struct mmsb_engine *engine, struct mmsb_delta_ctx *deltas)
{
	int ret;

	t->engine = engine;
	t->deltas = deltas;
	t->prop = cfg->prop;
	t->mon = cfg->mon;
	t->period = ns_to_ktime((u64)cfg->period_us * NSEC_PER_USEC);
	t->budget_ns = (u64)cfg->budget_us * NSEC_PER_USEC;
	t->batch_max = cfg->batch_max;
	t->chunk = min(cfg->batch_max, MMSB_TICK_CHUNK);
	t->idle = true;
	t->kick = false;
	t->stopping = false;
	raw_spin_lock_init(&t->timer_lock);
	mutex_init(&t->run_lock);
	t->taken = NULL;
	t->taken_last = NULL;
	init_waitqueue_head(&t->wq);
	init_waitqueue_head(&t->done_wq);
	atomic64_set(&t->requested, 0);
	t->completed = 0;
	t->tick_no = 0;
	t->atomic_no = 0;
	spin_lock_init(&t->lock);
	memset(&t->last, 0, sizeof(t->last));
	memset(&t->totals, 0, sizeof(t->totals));
	hrtimer_init(&t->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	t->timer.function = mmsb_tick_timer_fn;

	ret = mmsb_queue_init(&t->queue, cfg->ring_size);
	if (ret)
		return ret;
	ret = -ENOMEM;
	t->pages = kvmalloc_array(t->chunk, sizeof(*t->pages), GFP_KERNEL);
	if (!t->pages)
		goto destroy_queue;
	/* Zeroed, and VM_USERMAP for remap_vmalloc_range(). */
	t->bus = vmalloc_user(PAGE_SIZE);
	if (!t->bus)
		goto free_pages;
	t->task = kthread_run(mmsb_tick_fn, t, "mmsb-tick");
	if (IS_ERR(t->task)) {
		ret = PTR_ERR(t->task);
		goto free_bus;
	}
	return 0;

free_bus:
	vfree(t->bus);
free_pages:
	kvfree(t->pages);
destroy_queue:
	mmsb_queue_destroy(&t->queue, NULL);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_init);

/**
 * mmsb_tick_destroy() - apply what is queued, then stop and free
 * @t: the tick; nobody may enqueue any more
 */
void mmsb_tick_destroy(struct mmsb_tick *t)
{
	WRITE_ONCE(t->stopping, true);
	WRITE_ONCE(t->idle, true);
	hrtimer_cancel(&t->timer);
	kthread_stop(t->task);
	/* The orchestrator may have restarted it before it saw the stop. */
	hrtimer_cancel(&t->timer);
	WARN_ON(t->taken);
	mmsb_queue_destroy(&t->queue, NULL);
	kvfree(t->pages);
	/* No mapping is left: each holds the file, and so the module. */
	vfree(t->bus);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_destroy);

/**
 * mmsb_tick_mmap_bus() - map the bus header read-only
 * @t: the tick
 * @vma: the new mapping, at MMSB_BUS_HEADER_OFFSET
 *
 * Any opener may map it: it shows only when ticks write pages, which
 * MMSB_IOC_STATS tells every opener too.  As a page, it can never become
 * writable (VM_MAYWRITE is cleared).
 *
 * Return: 0, -EPERM for a writable mapping, -EINVAL for one longer than
 * a system page, or remap_vmalloc_range()'s error.
 */
int mmsb_tick_mmap_bus(struct mmsb_tick *t, struct vm_area_struct *vma)
{
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	if (vma->vm_end - vma->vm_start > PAGE_SIZE)
		return -EINVAL;
	vm_flags_clear(vma, VM_MAYWRITE);
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return remap_vmalloc_range(vma, t->bus, 0);
}

/**
 * mmsb_tick_read_stats() - a consistent copy of the tick figures
 * @t: the tick
 * @last: out: the last tick's metrics
 * @totals: out: counters since load
 * @ring_depth: out: deltas queued now
 * @ring_capacity: out: ring slots
 */
void mmsb_tick_read_stats(struct mmsb_tick *t, struct mmsb_tick_metrics *last,
			  struct mmsb_tick_totals *totals,
			  u64 *ring_depth, u64 *ring_capacity)
{
	spin_lock(&t->lock);
	*last = t->last;
	*totals = t->totals;
	spin_unlock(&t->lock);
	*ring_depth = mmsb_queue_reserved(&t->queue);
	*ring_capacity = mmsb_ring_capacity(&t->queue.ring);
}
