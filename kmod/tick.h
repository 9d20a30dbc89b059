/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb tick: the delta queue, the hrtimer that paces ticks and the
 * orchestrator kthread that runs them (drain, partition by page, apply
 * on the engine, then the graph, propagation and GC hooks, metrics).
 */
#ifndef _MMSB_TICK_H
#define _MMSB_TICK_H

#include <linux/atomic.h>
#include <linux/hrtimer.h>
#include <linux/mutex.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>

#include <linux/mmsb.h>

#include "queue.h"

struct mmsb_chunk;
struct mmsb_kdelta;
struct mmsb_delta_ctx;
struct mmsb_engine;
struct mmsb_engine_stats;
struct mmsb_monitor;
struct mmsb_page;
struct mmsb_prop;
struct mmsb_stream_bus;
struct mmsb_sq_list;

/*
 * Pages whose deltas one take drains and applies at once (and deltas an
 * atomic submission carries at most); the budget is checked between.
 */
#define MMSB_TICK_CHUNK		4096U

/**
 * struct mmsb_tick_config - tick parameters, from the module parameters
 * @name: the bus's name, for the orchestrator's (mmsb-tick), or NULL
 * @ring_size: delta ring slots
 * @period_us: tick period, 0 = ticks only on demand
 * @budget_us: a tick longer than this is an overrun and stops draining
 * @batch_max: deltas one tick drains at most
 * @prop: propagation along edges; its records must hold
 *	min(@batch_max, MMSB_TICK_CHUNK) pages
 * @mon: memory monitor run at the end of each tick (GC)
 * @stream: the bus's change streams, or NULL
 * @sqs: mapped queues consumed at the start of each tick, or NULL
 */
struct mmsb_tick_config {
	const char *name;
	unsigned long ring_size;
	unsigned int period_us;
	unsigned int budget_us;
	unsigned int batch_max;
	struct mmsb_prop *prop;
	struct mmsb_monitor *mon;
	struct mmsb_stream_bus *stream;
	struct mmsb_sq_list *sqs;
};

/**
 * struct mmsb_tick_totals - counters since load
 * @ticks: ticks that handled deltas
 * @processed: deltas applied
 * @rejected: deltas dropped at apply time (page freed)
 * @conflicts: deltas refused for a stale expected epoch
 * @overruns: ticks past their budget
 */
struct mmsb_tick_totals {
	u64 ticks;
	u64 processed;
	u64 rejected;
	u64 conflicts;
	u64 overruns;
};

/**
 * struct mmsb_tick - the tick machinery
 * @queue: deltas accepted and not yet handled: a ring of struct
 *	mmsb_chunk, whose reservations count deltas
 * @engine: applies the deltas
 * @deltas: submission state (delta release)
 * @prop: propagation and graph validation
 * @mon: the memory monitor (GC)
 * @stream: the change streams the tick captures for, or NULL
 * @sqs: the mapped queues (sq.c), consumed before each drain
 * @sq_armed: the last tick found a mapped queue set up: the timer keeps
 *	running for it
 * @period: tick period, 0 = on demand
 * @budget_ns: tick budget
 * @batch_max: deltas per tick at most
 * @chunk: deltas drained and applied at once (budget checked between)
 * @timer: paces ticks; only wakes the orchestrator
 * @idle: the timer is stopped because the queue was empty; whoever
 *	clears it (under @timer_lock) restarts the timer
 * @timer_lock: orders a restart of the timer against its callback
 * @kick: a tick is wanted now; set by the timer and by mmsb_tick_kick()
 *	(tick.c, "Work pending")
 * @stopping: mmsb_tick_destroy() began: GC no longer keeps ticks going
 * @wq: the orchestrator sleeps here
 * @task: the orchestrator kthread
 * @requested: flushes so far
 * @completed: @requested as read at the start of the last tick
 * @done_wq: flushers wait here for @completed to pass their request
 * @run_lock: held by whoever runs a tick: the orchestrator, or a
 *	submitter that found the tick idle and runs it inline
 * @taken: chunks the tick took records from and has not retired, in
 *	ring order (via ->next); only the last may have records left
 * @taken_last: the last of @taken
 * @pages: partition buffer, @chunk entries
 * @tick_no: number of the last tick that handled deltas
 * @atomic_no: number of the last atomic submission checked
 * @bus: the bus header (uapi), one zeroed vmalloc_user() page; its
 *	tick_seq is odd while a tick writes pages
 * @stats_seq: @last and @totals change in its write sections, which
 *	only the tick, holding @run_lock, opens; STATS readers retry
 * @metrics: two sets of tick metrics: @metrics[@last] those of the last
 *	tick that handled deltas, the other one the running tick's
 * @last: which entry of @metrics readers read
 * @totals: counters since load
 */
struct mmsb_tick {
	struct mmsb_queue queue;
	struct mmsb_engine *engine;
	struct mmsb_delta_ctx *deltas;
	struct mmsb_prop *prop;
	struct mmsb_monitor *mon;
	struct mmsb_stream_bus *stream;
	struct mmsb_sq_list *sqs;
	bool sq_armed;
	ktime_t period;
	u64 budget_ns;
	unsigned int batch_max;
	unsigned int chunk;

	struct hrtimer timer;
	raw_spinlock_t timer_lock;	/* @idle vs the timer's callback */
	bool idle;
	bool kick;
	bool stopping;
	wait_queue_head_t wq;
	struct task_struct *task;
	atomic64_t requested;
	u64 completed;
	wait_queue_head_t done_wq;

	struct mutex run_lock;	/* one tick at a time */
	struct mmsb_chunk *taken;
	struct mmsb_chunk *taken_last;
	struct mmsb_page **pages;
	u64 tick_no;
	u64 atomic_no;
	struct mmsb_bus_header *bus;

	seqcount_mutex_t stats_seq;	/* @last and @totals vs STATS readers */
	struct mmsb_tick_metrics metrics[2];
	unsigned int last;
	struct mmsb_tick_totals totals;
};

int mmsb_tick_init(struct mmsb_tick *t, const struct mmsb_tick_config *cfg,
		   struct mmsb_engine *engine, struct mmsb_delta_ctx *deltas);
void mmsb_tick_destroy(struct mmsb_tick *t);

long mmsb_tick_reserve(struct mmsb_tick *t, u32 n, bool nonblock);
long mmsb_tick_reserve_killable(struct mmsb_tick *t, u32 n);
void mmsb_tick_push(struct mmsb_tick *t, struct mmsb_chunk *c, bool awaited);
u32 mmsb_tick_capacity(struct mmsb_tick *t);
void mmsb_tick_unreserve(struct mmsb_tick *t, u32 n);
u32 mmsb_tick_atomic_max(struct mmsb_tick *t);
u32 mmsb_tick_room(struct mmsb_tick *t);
bool mmsb_tick_quiet(struct mmsb_tick *t);

void mmsb_tick_kick(struct mmsb_tick *t);
void mmsb_tick_wake_timer(struct mmsb_tick *t);
int mmsb_tick_flush(struct mmsb_tick *t);
int mmsb_tick_pause(struct mmsb_tick *t, u64 *last);
void mmsb_tick_resume(struct mmsb_tick *t);
void mmsb_tick_run_until(struct mmsb_tick *t, struct completion *done);
void mmsb_tick_run_here(struct mmsb_tick *t);
unsigned int mmsb_tick_run_handed(struct mmsb_tick *t, struct mmsb_chunk *c);
void mmsb_tick_read_stats(struct mmsb_tick *t, struct mmsb_tick_metrics *last,
			  struct mmsb_tick_totals *totals,
			  u64 *ring_depth, u64 *ring_capacity);

unsigned int mmsb_tick_partition(struct mmsb_chunk *c, unsigned int max,
				 struct mmsb_page **pages,
				 unsigned int *nr_pages, unsigned int max_pages,
				 u64 changed);
unsigned int mmsb_tick_take(struct mmsb_tick *t, unsigned int max, u64 tick,
			    bool later, unsigned int *nr_pages,
			    struct mmsb_engine_stats *es);
void mmsb_tick_retire(struct mmsb_tick *t);

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
static inline bool mmsb_tick_trylock(struct mmsb_tick *t)
{
	return mutex_trylock(&t->run_lock);
}

/**
 * mmsb_tick_lock_killable() - take the right to run ticks, waiting for it
 * @t: the tick
 *
 * For a submitter whose records only a tick it runs itself can take
 * (mmsb_tick_run_handed()): it waits for a running tick to end, as a
 * SYNC submitter waits for its batch's (a tick's drain stops at its
 * budget, tick_budget_us).
 *
 * Context: process context, sleeps.
 * Return: 0 with @t->run_lock held, or -EINTR (a fatal signal came).
 */
static inline int mmsb_tick_lock_killable(struct mmsb_tick *t)
{
	return mutex_lock_killable(&t->run_lock);
}

#endif /* _MMSB_TICK_H */
