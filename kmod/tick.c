// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb tick: hrtimer, orchestrator kthread, metrics.
 *
 * The hrtimer does no work in hard irq context: it sets @kick and wakes
 * the orchestrator, which runs the tick in process context:
 *
 *   drain deltas on up to @chunk pages -> partition by page -> engine
 *   (workers) ... repeated until batch_max deltas or the budget is
 *   spent, or a take meets a page an earlier take changed: a tick
 *   shows each page once, the next tick follows at once
 *   -> graph validation -> propagation -> GC (hooks) -> metrics
 *   -> complete the batches whose deltas were handled -> wake flushers
 *
 * A tick that goes past its budget counts an overrun and leaves what is
 * still queued for the next tick.  Ticks that find the queue empty are
 * not counted and publish no metrics.
 *
 * Work pending: one question, "is a delta queued that no tick will
 * take?", answered by the ring itself (a chunk partly taken aside) and
 * two flags with one job each:
 *  - @kick: "run a tick now"; set by the timer and by mmsb_tick_kick()
 *    (flushes, on-demand ticks, producers waiting for room), consumed
 *    with xchg() by the orchestrator before it runs the tick, so work
 *    done before a kick that finds @kick set is seen by that tick;
 *  - @idle: "the timer is stopped".  When a tick finds the ring empty,
 *    the timer stops and the next push restarts it, so an idle mmsb
 *    costs no wake-ups.  Both sides store, then fence, then look at the
 *    other's variable:
 *
 *   tick going idle                   producer
 *   WRITE_ONCE(idle, true)            push (claim tail), smp_mb() (queue.c)
 *   smp_mb()                          READ_ONCE(idle): lock, clear, restart
 *   ring not empty? restart timer
 *
 *    so either the producer sees @idle and restarts the timer, or the
 *    tick sees the delta and does.
 * Ticks on demand only (tick_us=0) have no timer: a tick runs when one
 * is asked for (a SYNC or io_uring submission, FLUSH, a full queue, GC),
 * run inline or kicked.
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
#include "stream.h"
#include "sq.h"
#include "tick.h"
#include "tick_internal.h"
#include "trace.h"

/**
 * mmsb_tick_wake_timer() - restart the timer if it stopped for idleness
 * @t: the tick
 *
 * For a producer after its push (tick_queue.c) and for the tick itself.
 * Context: any.
 */
void mmsb_tick_wake_timer(struct mmsb_tick *t)
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

/* Work a tick may take: queued chunks, or one partly taken. */
static bool mmsb_tick_has_work(struct mmsb_tick *t)
{
	return mmsb_queue_len(&t->queue) || t->taken;
}

/* The ring was found empty: stop the timer unless a push raced. */
static void mmsb_tick_maybe_idle(struct mmsb_tick *t)
{
	if (!t->period)
		return;
	WRITE_ONCE(t->idle, true);
	/*
	 * Orders the store of @idle before the look at the ring's tail;
	 * pairs with the smp_mb() after a producer's push, before its
	 * READ_ONCE(@idle).
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

/**
 * struct mmsb_tick_ctx - one tick in progress (mmsb_tick_run())
 * @start: ktime_get_ns() when it started; the budget counts from here
 * @request: flush requests made before it started, which it serves
 * @deltas: deltas taken
 * @dirty: the engine's records of changed bytes, NULL when the tick does
 *	not propagate (the graph had no edge when it started)
 * @st: the change stream's capture, NULL when no stream was open when
 *	the tick started (stream.h)
 * @es: what the engine did
 * @m: the metrics it publishes: the entry of @t->metrics readers do not
 *	read, which mmsb_tick_publish() makes theirs
 * @t: the tick
 * @sq: what the mapped queues get to apply their SQEs in place
 * @handed: records their submitters hand the tick, never queued
 *	(mmsb_tick_run_handed()): the first of their chunks, or NULL
 * @took_handed: the tick took records of @handed, last of what it applied
 * @again: the tick took less than was queued when it started, short of
 *	its budget and of batch_max: a take stopped at a page an earlier
 *	take changed (or deltas reserved then were pushed only since), or
 *	a round of a mapped queue did; the next tick follows at once
 */
struct mmsb_tick_ctx {
	u64 start;
	u64 request;
	unsigned int deltas;
	struct mmsb_dirty *dirty;
	struct mmsb_stream_tick *st;
	struct mmsb_engine_stats es;
	struct mmsb_tick_metrics *m;
	struct mmsb_tick *t;
	struct mmsb_sq_apply sq;
	struct mmsb_chunk *handed;
	bool took_handed;
	bool again;
};

/*
 * The tick's first delta opens its writes: its number, the bus header's
 * odd sequence, and whether it records changes for propagation.
 */
static void mmsb_tick_open(struct mmsb_tick *t, struct mmsb_tick_ctx *tc)
{
	mmsb_bus_header_write_begin(t->bus);
	t->tick_no++;
	/*
	 * Without an edge there is nothing to propagate or validate.  An
	 * edge added meanwhile takes effect from the next tick on.
	 */
	if (mmsb_graph_has_edges(t->prop->graph))
		tc->dirty = mmsb_prop_begin(t->prop, t->tick_no);
}

/*
 * Phases 1 and 2, drain and apply: take queued deltas a chunk at a time,
 * partitioned by page, and apply each chunk on the engine, until what
 * was queued when the tick started is taken (batch_max at most) or the
 * budget is spent.  Deltas arriving meanwhile wait for the next tick, so
 * a steady stream of producers cannot stretch one tick to its budget.
 * A take stops at a page an earlier take changed (mmsb_tick_take()):
 * the rest goes to the next tick, at once.  The first chunk opens the
 * tick (mmsb_tick_open()).  Whether it captures for change streams is
 * decided before anything is taken: one branch while nobody streams.
 */
static void mmsb_tick_apply(struct mmsb_tick *t, struct mmsb_tick_ctx *tc)
{
	unsigned int limit, n, nr_pages;
	u64 elapsed = 0;

	tc->m->overrun = 0;
	limit = min_t(unsigned long, t->batch_max,
		      mmsb_queue_reserved(&t->queue));
	if (unlikely(mmsb_stream_active(t->stream)) && limit)
		tc->st = mmsb_stream_tick_begin(t->stream);
	while (tc->deltas < limit) {
		n = mmsb_tick_take(t, limit - tc->deltas,
				   t->tick_no + !tc->deltas, tc->deltas,
				   &nr_pages, &tc->es);
		if (!n)
			break;
		if (!tc->deltas)
			mmsb_tick_open(t, tc);
		tc->deltas += n;
		mmsb_engine_run(t->engine, t->pages, nr_pages, n, t->tick_no,
				tc->dirty, tc->st, &tc->es);
		if (unlikely(tc->st))
			mmsb_stream_tick_collect(tc->st, nr_pages);
		if (tc->dirty)
			mmsb_prop_collect(t->prop, t->pages, nr_pages);
		mmsb_tick_retire(t);
		elapsed = ktime_get_ns() - tc->start;
		if (elapsed > t->budget_ns) {
			tc->m->overrun = 1;
			break;
		}
	}
	tc->m->apply_ns = elapsed;
	tc->again = tc->deltas < limit && !tc->m->overrun &&
		    mmsb_tick_has_work(t);
}

/*
 * A mapped queue is about to apply SQEs in place: open the tick's writes,
 * as the first chunk of mmsb_tick_apply() does, unless the graph has an
 * edge now (propagation sees only what the engine applied: the SQEs go
 * through the queue) or the drain opened the tick with one.
 */
static u64 mmsb_tick_sq_open(struct mmsb_sq_apply *a)
{
	struct mmsb_tick_ctx *tc = container_of(a, struct mmsb_tick_ctx, sq);
	struct mmsb_tick *t = tc->t;

	if (tc->deltas || mmsb_graph_has_edges(t->prop->graph))
		return 0;
	mmsb_bus_header_write_begin(t->bus);
	return ++t->tick_no;
}

/*
 * Phase 2b, for a tick that started with nothing queued, no change
 * stream and no edge: the mapped queues' SQEs, which come after every
 * delta accepted before, applied in place (sq_apply.c) in this tick.
 */
static void mmsb_tick_sq_apply(struct mmsb_tick *t, struct mmsb_tick_ctx *tc)
{
	struct mmsb_sq_apply *a = &tc->sq;

	a->open = mmsb_tick_sq_open;
	a->tick = tc->deltas && !tc->dirty ? t->tick_no : 0;
	a->left = t->batch_max - tc->deltas;
	a->pages = t->pages;
	a->max_pages = t->chunk;
	a->stats = &tc->es;
	a->deadline = tc->start + t->budget_ns;
	a->handled = 0;
	a->overrun = false;
	a->more = false;
	a->held = NULL;
	a->again = false;
	t->sq_armed = mmsb_sq_apply(t->sqs, a);
	/* An overrun leaves the rest to the period, as the drain's does. */
	if (a->again && !a->overrun && !tc->m->overrun)
		tc->again = true;
	if (a->handled) {
		tc->deltas += a->handled;
		tc->m->apply_ns = ktime_get_ns() - tc->start;
		tc->m->overrun |= a->overrun;
	}
}

/*
 * mmsb_tick_apply_handed() of the handed chunks after the first, which
 * took @n records: on while each chunk was taken whole.  Returns the
 * records taken in all.
 */
static noinline unsigned int mmsb_tick_partition_more(struct mmsb_tick *t,
						      struct mmsb_tick_ctx *tc,
						      unsigned int n,
						      unsigned int *nr_pages)
{
	unsigned int max = t->batch_max - tc->deltas;
	struct mmsb_chunk *c = tc->handed;

	while (c->taken == c->nr && (c = c->next))
		n += mmsb_tick_partition(c, max - n, t->pages, nr_pages,
					 t->chunk, tc->deltas ? t->tick_no : 0);
	return n;
}

/*
 * Phase 2c: the deltas submitters hand the tick (records outside the
 * ring: a SYNC submitter's one delta on its stack, the io_uring commands
 * its task issued), accepted now: after everything queued before, so
 * only if the drain took all of it; in their order, chunk after chunk,
 * up to batch_max and @t->chunk pages, and stopping at the first whose
 * page the drain changed already (a tick shows each page once).  What
 * is left the submitters queue as any other delta.  Applied, captured
 * and collected for propagation exactly as drained chunks, in one
 * engine run.
 */
static void mmsb_tick_apply_handed(struct mmsb_tick *t,
				   struct mmsb_tick_ctx *tc)
{
	unsigned int n, nr_pages = 0;

	if (tc->deltas >= t->batch_max || mmsb_tick_has_work(t))
		return;
	n = __mmsb_tick_partition(tc->handed, t->batch_max - tc->deltas,
				  t->pages, &nr_pages, t->chunk,
				  tc->deltas ? t->tick_no : 0);
	/* Most hand one chunk: the others out of line. */
	if (unlikely(tc->handed->next))
		n = mmsb_tick_partition_more(t, tc, n, &nr_pages);
	if (!n)
		return;
	if (!tc->deltas)
		mmsb_tick_open(t, tc);
	if (unlikely(mmsb_stream_active(t->stream)) && !tc->st)
		tc->st = mmsb_stream_tick_begin(t->stream);
	/* Counted before they apply, as a push is (STATS in the uapi). */
	atomic64_add(n, &t->deltas->submitted);
	mmsb_engine_run(t->engine, t->pages, nr_pages, n, t->tick_no,
			tc->dirty, tc->st, &tc->es);
	if (unlikely(tc->st))
		mmsb_stream_tick_collect(tc->st, nr_pages);
	if (tc->dirty)
		mmsb_prop_collect(t->prop, t->pages, nr_pages);
	tc->deltas += n;
	tc->took_handed = true;
}

/*
 * Phases 3 and 4, propagate and validate: along the edges from the pages
 * the tick changed, then check the graph.  The graph's lock is held
 * from mmsb_prop_run() to mmsb_prop_end(), these two phases only.
 */
static void mmsb_tick_propagate(struct mmsb_tick *t, struct mmsb_tick_ctx *tc)
{
	struct mmsb_tick_metrics *m = tc->m;
	struct mmsb_prop_stats ps = { };
	bool cycle;

	if (!tc->dirty) {
		m->propagate_ns = 0;
		m->graph_ns = 0;
		m->propagated = 0;
		m->graph_has_cycle = 0;
		return;
	}
	m->propagate_ns = mmsb_prop_run(t->prop, t->tick_no, tc->st, &ps);
	trace_mmsb_propagate(t->tick_no, ps.propagated, m->propagate_ns);
	m->graph_ns = mmsb_prop_validate(t->prop, &cycle);
	mmsb_prop_end(t->prop);
	m->propagated = ps.propagated;
	tc->es.pages_changed += ps.pages_changed;
	m->graph_has_cycle = cycle;
}

/*
 * Phase 5, GC: what is left of the tick's budget, if @run_gc; a monitor
 * with nothing to do is not run (the caller asks mmsb_monitor_idle()).
 * After the graph's lock is dropped, since evicting a page takes it.
 */
static __always_inline void mmsb_tick_gc(struct mmsb_tick *t,
					 struct mmsb_tick_ctx *tc, bool run_gc)
{
	struct mmsb_tick_metrics *m = tc->m;

	if (run_gc) {
		struct mmsb_monitor_run run;

		m->gc_ns = mmsb_monitor_run(t->mon, tc->start + t->budget_ns,
					    &run);
		m->gc_invoked = run.invoked;
		m->gc_reclaimed_pages = run.reclaimed_pages;
		m->gc_reclaimed_bytes = run.reclaimed_bytes;
	} else {
		m->gc_ns = 0;
		m->gc_invoked = 0;
		m->gc_reclaimed_pages = 0;
		m->gc_reclaimed_bytes = 0;
	}
}

/* Phase 6, publish: the tick's metrics and the totals since load. */
static void mmsb_tick_publish(struct mmsb_tick *t, struct mmsb_tick_ctx *tc)
{
	struct mmsb_tick_metrics *m = tc->m;

	m->tick = t->tick_no;
	m->processed = tc->es.processed;
	m->rejected = tc->es.rejected;
	m->conflicts = tc->es.conflicts;
	m->pages_changed = tc->es.pages_changed;
	m->total_ns = ktime_get_ns() - tc->start;
	/*
	 * Deltas their submitters handed the tick were the last applied:
	 * the apply phases took what the others (timed each) did not,
	 * without a clock read of their own.
	 */
	if (tc->took_handed)
		m->apply_ns = m->total_ns - m->propagate_ns - m->graph_ns -
			      m->gc_ns;
	m->throughput = m->apply_ns ?
			div64_u64(tc->es.processed * NSEC_PER_SEC, m->apply_ns) :
			0;
	m->ring_depth = mmsb_queue_reserved(&t->queue);

	write_seqcount_begin(&t->stats_seq);
	WRITE_ONCE(t->last, !t->last);
	t->totals.ticks++;
	t->totals.processed += m->processed;
	t->totals.rejected += m->rejected;
	t->totals.conflicts += m->conflicts;
	t->totals.overruns += m->overrun;
	write_seqcount_end(&t->stats_seq);
	trace_mmsb_tick(m);
}

/*
 * Phase 7, complete: batches whose last delta this tick (or an earlier
 * one, for a batch its submitter armed late) handled see all they
 * changed visible now, propagation included; flushes made before the
 * tick started return.
 */
static void mmsb_tick_complete(struct mmsb_tick *t, struct mmsb_tick_ctx *tc)
{
	mmsb_batch_end_all(t->deltas);
	/* The SQEs applied in place end with the tick too. */
	if (tc->sq.held)
		mmsb_sq_tick_end(&tc->sq);
	/* Pairs with smp_load_acquire() in mmsb_tick_served(). */
	smp_store_release(&t->completed, tc->request);
	/*
	 * wq_has_sleeper() starts with smp_mb(): orders the store above
	 * before the look at the queue; pairs with the barrier in
	 * set_current_state() of a flusher, who checks @completed after
	 * queueing.
	 */
	if (wq_has_sleeper(&t->done_wq))
		wake_up_all(&t->done_wq);
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
 * After a tick: is there work?  The work-pending protocol's consumer
 * side (see the top of the file).  Returns true when another tick
 * should follow at once: ticks on demand and work left, or a tick that
 * stopped at a page it changed already (@again), whatever the period.
 * @gc_idle: the tick found the monitor idle (mmsb_monitor_idle()), so
 * it has no work now but what a free since then brings, which wakes
 * the tick itself (the reclaim hook).
 */
static bool mmsb_tick_next(struct mmsb_tick *t, bool sq_more, bool again,
			   bool gc_idle)
{
	if (again)
		return true;
	/*
	 * A chunk partly taken is work the ring no longer shows; SQEs a
	 * tick left in the mapped queues (its budget, batch_max) are work
	 * too.
	 */
	if (!mmsb_tick_has_work(t) && !sq_more) {
		/* A mapped queue is consumed at every tick: keep them coming. */
		if (t->sq_armed && t->period && !READ_ONCE(t->stopping)) {
			mmsb_tick_wake_timer(t);
			return false;
		}
		if (!gc_idle && mmsb_monitor_has_work(t->mon))
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

/*
 * One tick, in its phases.  A tick that takes no delta runs GC alone if
 * the monitor has work (counted by the monitor, not as a tick) and
 * publishes nothing.  @handed: the chain of handed records, or NULL.
 * Returns mmsb_tick_next().
 */
static bool mmsb_tick_run(struct mmsb_tick *t, struct mmsb_chunk *handed)
{
	/* Not zeroed whole (some 40 words): what each phase reads is set. */
	struct mmsb_tick_ctx tc __uninitialized;
	bool sq_in_place, gc_idle = false;

	tc.start = ktime_get_ns();
	/*
	 * Acquire: what a flusher queued before its request (its fully
	 * ordered increment) is seen by the look at the queue below, also
	 * in a tick run inline, which no kick orders.
	 */
	tc.request = atomic64_read_acquire(&t->requested);
	tc.deltas = 0;
	tc.dirty = NULL;
	tc.st = NULL;
	memset(&tc.es, 0, sizeof(tc.es));
	/* Not zeroed either: each phase writes its figures, ran or not. */
	tc.m = &t->metrics[!t->last];
	/*
	 * The last publication's even sequence before our stores to this
	 * set, which readers of the set before it may still be copying:
	 * they see the sequence moved and retry (a latch's second barrier,
	 * raw_write_seqcount_latch()).
	 */
	smp_wmb();
	tc.t = t;
	tc.sq.held = NULL;
	tc.handed = handed;
	tc.took_handed = false;
	tc.again = false;

	/*
	 * The mapped queues' SQEs: applied in place after the drain when
	 * nothing is queued, else queued now, before the drain, behind
	 * what is (and recorded for streams and propagation like any
	 * delta).  The looks after the snapshot of the queues see what was
	 * done before their SQEs were published.
	 */
	sq_in_place = false;
	t->sq_armed = mmsb_sq_any(t->sqs);
	if (t->sq_armed && mmsb_sq_snapshot(t->sqs)) {
		sq_in_place = !mmsb_queue_reserved(&t->queue) &&
			      !mmsb_stream_active(t->stream) &&
			      !mmsb_graph_has_edges(t->prop->graph);
		if (!sq_in_place)
			t->sq_armed = mmsb_sq_tick(t->sqs);
	}
	mmsb_tick_apply(t, &tc);
	if (sq_in_place)
		mmsb_tick_sq_apply(t, &tc);
	if (handed)
		mmsb_tick_apply_handed(t, &tc);
	if (tc.deltas) {
		mmsb_tick_propagate(t, &tc);
		mmsb_bus_header_write_end(t->bus, t->tick_no);
		gc_idle = mmsb_monitor_idle(t->mon);
		mmsb_tick_gc(t, &tc, !gc_idle);
		mmsb_tick_publish(t, &tc);
	} else if (mmsb_monitor_has_work(t->mon)) {
		mmsb_tick_gc(t, &tc, true);
	}
	/* Records out before the batches complete: a SYNC caller finds them. */
	if (unlikely(tc.st))
		mmsb_stream_tick_end(t->stream, tc.deltas ? t->tick_no : 0);
	mmsb_tick_complete(t, &tc);
	return mmsb_tick_next(t, sq_in_place && tc.sq.more, tc.again, gc_idle);
}

/**
 * mmsb_tick_quiet() - would a tick run now take nothing but its handed delta?
 * @t: the tick
 *
 * Nothing queued, no mapped queue set up and no edge to propagate along
 * and validate: a tick run now applies what it is handed and is short,
 * fit for a caller that must not hold others up for a whole tick (an
 * io_uring command issued inline holds its ring's lock).  GC, which
 * such a tick still runs when the monitor has work, stops at the
 * tick's budget.  A snapshot: work queued meanwhile is still taken.
 *
 * Context: any.
 * Return: true when the tick has nothing else to do.
 */
bool mmsb_tick_quiet(struct mmsb_tick *t)
{
	return !mmsb_queue_reserved(&t->queue) && !mmsb_sq_any(t->sqs) &&
	       !mmsb_graph_has_edges(t->prop->graph);
}

/**
 * mmsb_tick_pause() - wait until no tick runs, and keep it so
 * @t: the tick
 * @last: out: the number of the last tick that handled deltas
 *
 * For what must happen between two ticks (a change stream's start);
 * mmsb_tick_resume() ends it.
 *
 * Context: process context, sleeps.
 * Return: 0, or -EINTR if a signal came first (nothing held).
 */
int mmsb_tick_pause(struct mmsb_tick *t, u64 *last)
{
	if (mutex_lock_interruptible(&t->run_lock))
		return -EINTR;
	*last = t->tick_no;
	return 0;
}

/**
 * mmsb_tick_resume() - ticks may run again
 * @t: the tick, paused by mmsb_tick_pause()
 */
void mmsb_tick_resume(struct mmsb_tick *t)
{
	mutex_unlock(&t->run_lock);
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
		more = mmsb_tick_run(t, NULL);
	} while (!completion_done(done));
	mutex_unlock(&t->run_lock);
	if (more)
		mmsb_tick_kick(t);
}

/**
 * mmsb_tick_run_handed() - run a tick that takes deltas from their submitters
 * @t: the tick, with @t->run_lock held (mmsb_tick_trylock(), or
 *	mmsb_tick_lock_killable() by a submitter that must see its records
 *	taken)
 * @c: the first chunk of the records, outside any ring
 *	(mmsb_chunk_init_handed(), or a pooled chunk never queued), the
 *	others following through ->next; their pages are referenced (by
 *	the records or the chunks: mmsb_delta_read_one(),
 *	mmsb_submit_hand()), none taken yet; the tick takes them in order
 *
 * For deltas whose submitters run the tick (a SYNC submission of one
 * delta, the io_uring commands one task issued): no queue, no batch.  The same
 * tick as the orchestrator's takes what is queued first, then the
 * records, accepted then, unless deltas are still queued (a full tick,
 * producers outrunning it; those come first); it stops at batch_max,
 * at the tick's page limit and before the first record whose page the
 * drain changed (a tick shows each page once): the caller queues the
 * rest as any other deltas.  Then @t->run_lock is dropped.
 *
 * Context: process context, sleeps.
 * Return: the records taken, the first ones of the chain (each chunk's
 * @taken grew by its part); their @status and @epoch are the outcome,
 * visible and propagated.
 */
unsigned int mmsb_tick_run_handed(struct mmsb_tick *t, struct mmsb_chunk *c)
{
	unsigned int taken = 0;
	bool more;

	more = mmsb_tick_run(t, c);
	mutex_unlock(&t->run_lock);
	if (more)
		mmsb_tick_kick(t);
	for (; c; c = c->next)
		taken += c->taken;
	return taken;
}

/**
 * mmsb_tick_run_here() - run a tick in the caller's context if none runs
 * @t: the tick
 *
 * For work queued without waiting for it (a batch of io_uring commands
 * one task issued): one tick takes it, up to batch_max and unless it
 * changes a page twice.  If a tick runs already, or work is left, the
 * orchestrator is kicked instead: a running tick may have taken its
 * deltas before ours were queued.
 *
 * Context: process context, sleeps.
 */
void mmsb_tick_run_here(struct mmsb_tick *t)
{
	bool more = true;

	if (mutex_trylock(&t->run_lock)) {
		more = mmsb_tick_run(t, NULL);
		mutex_unlock(&t->run_lock);
	}
	if (more || mmsb_queue_reserved(&t->queue))
		mmsb_tick_kick(t);
}

static bool mmsb_tick_run_locked(struct mmsb_tick *t)
{
	bool more;

	mutex_lock(&t->run_lock);
	more = mmsb_tick_run(t, NULL);
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
	t->stream = cfg->stream;
	t->sqs = cfg->sqs;
	t->sq_armed = false;
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
	seqcount_mutex_init(&t->stats_seq, &t->run_lock);
	memset(t->metrics, 0, sizeof(t->metrics));
	t->last = 0;
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
	t->task = kthread_run(mmsb_tick_fn, t, "%s-tick",
			      cfg->name ?: "mmsb");
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
	unsigned int seq;

	do {
		seq = read_seqcount_begin(&t->stats_seq);
		*last = t->metrics[READ_ONCE(t->last)];
		*totals = t->totals;
	} while (read_seqcount_retry(&t->stats_seq, seq));
	*ring_depth = mmsb_queue_reserved(&t->queue);
	*ring_capacity = mmsb_ring_capacity(&t->queue.ring);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_tick_read_stats);
