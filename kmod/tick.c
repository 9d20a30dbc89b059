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
 *   smp_mb()                          READ_ONCE(idle): xchg, restart
 *   ring not empty? restart timer
 *
 * so either the producer sees @idle and restarts the timer, or the
 * orchestrator sees the delta and does.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <kunit/visibility.h>

#include "delta.h"
#include "engine.h"
#include "monitor.h"
#include "page.h"
#include "propagate.h"
#include "tick.h"

/* Restart the timer if it was stopped for idleness. */
static void mmsb_tick_wake_timer(struct mmsb_tick *t)
{
	if (!t->period)
		return;
	if (READ_ONCE(t->idle) && xchg(&t->idle, false))
		hrtimer_start(&t->timer, t->period, HRTIMER_MODE_REL);
}

static enum hrtimer_restart mmsb_tick_timer_fn(struct hrtimer *timer)
{
	struct mmsb_tick *t = container_of(timer, struct mmsb_tick, timer);

	if (READ_ONCE(t->idle))
		return HRTIMER_NORESTART;
	WRITE_ONCE(t->kick, true);
	wake_up(&t->wq);
	hrtimer_forward_now(timer, t->period);
	return HRTIMER_RESTART;
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

/**
 * mmsb_tick_enqueue() - queue validated deltas in order
 * @t: the tick
 * @kds: the deltas
 * @n: how many
 * @nonblock: return -EAGAIN rather than wait when the ring is full
 * @pushed: out: how many went in (the first that many of @kds)
 *
 * A full ring asks for a tick at once, then waits for room (or not).
 *
 * Context: process context if !@nonblock.
 * Return: 0 when all went in, else -EAGAIN or -EINTR.
 */
int mmsb_tick_enqueue(struct mmsb_tick *t, struct mmsb_kdelta **kds,
		      unsigned int n, bool nonblock, unsigned int *pushed)
{
	void * const *items = (void * const *)kds;
	unsigned int done;
	int ret = 0;

	done = mmsb_queue_push_batch(&t->queue, items, n);
	while (done < n) {
		mmsb_tick_kick(t);
		ret = mmsb_queue_push(&t->queue, items[done], nonblock);
		if (ret)
			break;
		done++;
		done += mmsb_queue_push_batch(&t->queue, items + done,
					      n - done);
	}
	*pushed = done;
	/* The queue's smp_mb() after the push orders it before this read. */
	if (done)
		mmsb_tick_wake_timer(t);
	return ret;
}

/**
 * mmsb_tick_room() - free ring slots, a snapshot
 * @t: the tick
 *
 * Return: how many deltas would fit now, if nobody else pushed.
 */
unsigned long mmsb_tick_room(struct mmsb_tick *t)
{
	return mmsb_queue_room(&t->queue);
}

/**
 * mmsb_tick_partition() - link deltas onto their pages, in order
 * @items: drained deltas, in ring order
 * @n: how many
 * @pages: out: each page with deltas once, in order of first appearance
 *
 * O(n): the per-page list hangs off the page (->tick_first/tick_last),
 * fields that only the orchestrator and then the page's worker touch.
 *
 * Return: number of pages stored in @pages.
 */
unsigned int mmsb_tick_partition(struct mmsb_kdelta **items, unsigned int n,
				 struct mmsb_page **pages)
{
	unsigned int i, nr_pages = 0;

	for (i = 0; i < n; i++) {
		struct mmsb_kdelta *kd = items[i];
		struct mmsb_page *page = kd->page;

		kd->tick_next = NULL;
		if (!page->tick_first) {
			page->tick_first = kd;
			pages[nr_pages++] = page;
		} else {
			page->tick_last->tick_next = kd;
		}
		page->tick_last = kd;
	}
	return nr_pages;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_partition);

/*
 * Hook points for the later stages of a tick.  Each returns the
 * nanoseconds it spent; GC is the memory monitor (monitor.c), run after
 * the graph's lock is dropped, since evicting a page takes it.
 * The graph's lock, taken by mmsb_prop_begin() when the tick started
 * draining, is held through propagation and validation (propagate.h).
 */
static u64 mmsb_tick_propagate(struct mmsb_tick *t, struct mmsb_tick_metrics *m)
{
	return t->prop ? mmsb_prop_run(t->prop, t->tick_no, m) : 0;
}

static u64 mmsb_tick_validate_graph(struct mmsb_tick *t,
				    struct mmsb_tick_metrics *m)
{
	u64 ns;

	if (!t->prop)
		return 0;
	ns = mmsb_prop_validate(t->prop, m);
	mmsb_prop_end(t->prop);
	return ns;
}

/* GC gets what is left of the tick's budget, counted from @start. */
static u64 mmsb_tick_gc(struct mmsb_tick *t, struct mmsb_tick_metrics *m,
			u64 start)
{
	return t->mon ? mmsb_monitor_run(t->mon, start + t->budget_ns, m) : 0;
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
	if (kthread_should_stop())
		return false;
	if (t->period) {
		mmsb_tick_wake_timer(t);
		return false;
	}
	return mmsb_monitor_reclaim_pending(t->mon);
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

	/*
	 * A tick takes what was queued when it started (batch_max at
	 * most): deltas arriving meanwhile wait for the next tick, so a
	 * steady stream of producers cannot stretch one tick to its budget.
	 */
	limit = min_t(unsigned long, t->batch_max, mmsb_queue_len(&t->queue));
	while (total < limit) {
		n = mmsb_queue_drain_batch(&t->queue, t->items,
					   min(t->chunk, limit - total));
		if (!n)
			break;
		if (!total) {
			t->tick_no++;
			if (t->prop)
				dirty = mmsb_prop_begin(t->prop);
		}
		total += n;
		nr_pages = mmsb_tick_partition((struct mmsb_kdelta **)t->items,
					       n, t->pages);
		mmsb_engine_run(t->engine, t->pages, nr_pages, n, t->tick_no,
				dirty, &es);
		if (dirty)
			mmsb_prop_collect(t->prop, nr_pages);
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
		m.propagate_ns = mmsb_tick_propagate(t, &m);
		m.graph_ns = mmsb_tick_validate_graph(t, &m);
		m.gc_ns = mmsb_tick_gc(t, &m, start);
		m.ring_depth = mmsb_queue_len(&t->queue);
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
	mmsb_delta_end_batches(t->deltas);

	/* Pairs with smp_load_acquire() in mmsb_tick_served(). */
	smp_store_release(&t->completed, start_req);
	wake_up_all(&t->done_wq);

	if (!mmsb_queue_recheck(&t->queue)) {
		if (t->mon && mmsb_monitor_has_work(t->mon))
			return mmsb_tick_keep_gc(t);
		mmsb_tick_maybe_idle(t);
		return false;
	}
	/* Periodic ticks leave the rest to the timer, or to a new kick. */
	return !t->period;
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
		while (mmsb_tick_run(t))
			cond_resched();
	}
	/* Unload: every queued delta is applied before we go. */
	while (mmsb_queue_len(&t->queue))
		mmsb_tick_run(t);
	mmsb_delta_end_batches(t->deltas);
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
	init_waitqueue_head(&t->wq);
	init_waitqueue_head(&t->done_wq);
	atomic64_set(&t->requested, 0);
	t->completed = 0;
	t->tick_no = 0;
	spin_lock_init(&t->lock);
	memset(&t->last, 0, sizeof(t->last));
	memset(&t->totals, 0, sizeof(t->totals));
	hrtimer_init(&t->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	t->timer.function = mmsb_tick_timer_fn;

	ret = mmsb_queue_init(&t->queue, cfg->ring_size);
	if (ret)
		return ret;
	ret = -ENOMEM;
	t->items = kvmalloc_array(t->chunk, sizeof(*t->items), GFP_KERNEL);
	if (!t->items)
		goto destroy_queue;
	t->pages = kvmalloc_array(t->chunk, sizeof(*t->pages), GFP_KERNEL);
	if (!t->pages)
		goto free_items;
	t->task = kthread_run(mmsb_tick_fn, t, "mmsb-tick");
	if (IS_ERR(t->task)) {
		ret = PTR_ERR(t->task);
		goto free_pages;
	}
	return 0;

free_pages:
	kvfree(t->pages);
free_items:
	kvfree(t->items);
destroy_queue:
	mmsb_queue_destroy(&t->queue, NULL);
	return ret;
}

/**
 * mmsb_tick_destroy() - apply what is queued, then stop and free
 * @t: the tick; nobody may enqueue any more
 */
void mmsb_tick_destroy(struct mmsb_tick *t)
{
	WRITE_ONCE(t->idle, true);
	hrtimer_cancel(&t->timer);
	kthread_stop(t->task);
	/* The orchestrator may have restarted it before it saw the stop. */
	hrtimer_cancel(&t->timer);
	mmsb_queue_destroy(&t->queue, NULL);
	kvfree(t->pages);
	kvfree(t->items);
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
	*ring_depth = mmsb_queue_len(&t->queue);
	*ring_capacity = mmsb_ring_capacity(&t->queue.ring);
}
