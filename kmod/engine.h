/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb engine: the pool of worker kthreads that apply one tick's deltas,
 * page by page.  The orchestrator (tick.c) links each page's deltas in
 * ring order onto the page, lists the pages, and calls
 * mmsb_engine_run(); every page is then applied by exactly one thread,
 * under the page's write section.
 */
#ifndef _MMSB_ENGINE_H
#define _MMSB_ENGINE_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <linux/wait.h>

struct mmsb_dirty;
struct mmsb_page;
struct mmsb_stream_tick;

/**
 * struct mmsb_engine_stats - what one run (or one page) did
 * @processed: deltas applied
 * @rejected: deltas dropped because their page was freed
 * @conflicts: deltas refused for a stale expected epoch
 * @pages_changed: pages whose epoch moved (once per tick)
 */
struct mmsb_engine_stats {
	u64 processed;
	u64 rejected;
	u64 conflicts;
	u64 pages_changed;
};

/**
 * struct mmsb_worker - one apply kthread
 * @engine: back pointer
 * @task: the kthread
 * @seen: last job generation this worker ran
 * @stats: its share of the current job
 */
struct mmsb_worker {
	struct mmsb_engine *engine;
	struct task_struct *task;
	unsigned long seen;
	struct mmsb_engine_stats stats;
};

/**
 * struct mmsb_engine - the worker pool and the job it runs
 * @nr_workers: kthreads in @workers
 * @workers: the pool
 * @wq: workers sleep here between jobs
 * @gen: job generation; a new value means a new job (release/acquire)
 * @pages: the job: pages with deltas linked on them
 * @nr_pages: entries of @pages
 * @tick: tick number of the job (for the once-per-tick epoch rule)
 * @dirty: NULL, or one record per entry of @pages, where the thread
 *	applying a page notes the byte ranges it changed (propagate.h)
 * @cap: NULL, or the tick's capture state (stream.h): the thread
 *	applying page i stages its records in @cap->slots[i]
 * @next: next index of @pages to claim
 * @active: workers still running the job
 * @done: completed by the last worker to finish
 *
 * Only the orchestrator starts jobs, one at a time, so the job fields
 * are written while no worker reads them.
 */
struct mmsb_engine {
	unsigned int nr_workers;
	struct mmsb_worker *workers;
	wait_queue_head_t wq;
	unsigned long gen;

	struct mmsb_page **pages;
	unsigned int nr_pages;
	u64 tick;
	struct mmsb_dirty *dirty;
	struct mmsb_stream_tick *cap;
	atomic_t next ____cacheline_aligned_in_smp;
	atomic_t active;
	struct completion done;
};

int mmsb_engine_init(struct mmsb_engine *eng, unsigned int nr_workers,
		     const char *name);
void mmsb_engine_destroy(struct mmsb_engine *eng);
void mmsb_engine_run(struct mmsb_engine *eng, struct mmsb_page **pages,
		     unsigned int nr_pages, unsigned int nr_deltas, u64 tick,
		     struct mmsb_dirty *dirty, struct mmsb_stream_tick *cap,
		     struct mmsb_engine_stats *stats);

#endif /* _MMSB_ENGINE_H */
