// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb engine: worker kthreads that apply a tick's deltas page by page.
 *
 * A job is the list of pages the orchestrator partitioned.  Threads
 * (the workers and the orchestrator itself) claim pages with one atomic
 * increment each, so a page is applied by exactly one thread and a
 * slow page does not hold up the others.  Within a page the deltas
 * apply in ring order inside one write section: readers of the mapping
 * see the page before the tick or after it, never in between, and the
 * bytes are those of applying the deltas one by one (later wins).
 *
 * Epoch and conflict rules, per page and tick:
 *  - the epoch rises by one in the first tick chunk that changes the
 *    page, and not again in that tick (@page->changed_tick); a tick
 *    gives the engine no other chunk with that page (mmsb_tick_take()),
 *    so readers see the page's whole tick or none of it (in a tick that
 *    propagates the page's section stays open until propagation, which
 *    may write an edge's target too, has run: mmsb_page_write_hold());
 *  - a delta with expected_epoch E != 0 applies only if the page is at
 *    E and no earlier delta of this tick changed it, else -ESTALE: of
 *    several writers racing with the same E exactly one wins;
 *  - a delta whose page was freed meanwhile is dropped with -EIDRM.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <kunit/visibility.h>

#include "delta.h"
#include "engine.h"
#include "page.h"
#include "propagate.h"
#include "stream.h"

/*
 * Jobs smaller than this are applied by the thread running the tick
 * alone.  Waking the pool costs a wake-up and two context switches per
 * worker and the wait for the slowest: about 10,000 guest instructions
 * for two workers in the profile (shared/perf-notes.md: ~2,400 per
 * switch), what applying some 80 64-byte deltas costs (~120 each), so
 * the pool cannot win below a few hundred deltas even with perfect
 * sharing.  Measured under icount, where vCPUs share one clock and the
 * pool can only cost: with a threshold of 256, SYNC calls of 256 deltas
 * ran at 1.47 M deltas/s, without the pool at 1.65 M.  The threshold is
 * set where the work (about 50 us on hardware for 1,024 small deltas)
 * is several times the wake-ups it buys; this machine cannot time
 * parallel vCPUs well enough to place it closer.
 */
#define MMSB_ENGINE_INLINE_MAX	1024

/* Staging for the records of the deltas linked from @first (stream.h). */
static struct mmsb_stream_seg *mmsb_engine_seg(struct mmsb_stream_tick *cap,
					       struct mmsb_page *page,
					       const struct mmsb_kdelta *first)
{
	const struct mmsb_kdelta *kd;
	size_t bytes = 0;

	for (kd = first; kd; kd = kd->tick_next)
		bytes += mmsb_stream_rec_bytes(kd->len);
	return mmsb_stream_seg_new(cap, page, bytes);
}

/*
 * Refuse @kd, storing its status: its page is @gone (but for an atomic
 * delta, whose tick looked at the page already), or it expects an epoch
 * and @match is not it (0: none matches, the page changes in this tick).
 */
static __always_inline bool mmsb_engine_refused(struct mmsb_kdelta *kd,
						const bool gone, u64 match,
						struct mmsb_engine_stats *stats)
{
	if (gone && !kd->atomic) {
		kd->status = -EIDRM;
		stats->rejected++;
		return true;
	}
	if (kd->expected_epoch && kd->expected_epoch != match) {
		kd->status = -ESTALE;
		stats->conflicts++;
		return true;
	}
	return false;
}

/*
 * Apply the deltas linked on @page from ->tick.first (tick @tick, never
 * 0), storing each refused delta's status (an applied one's is 0
 * already) and in every delta the page's epoch after the tick; notes
 * the changed ranges in @dirty if set, and then leaves the page's write
 * section open for propagation to close.  The caller is the only thread
 * touching @page's tick fields and data in this tick.
 *
 * @capture and @gone are constants of each caller: the loop is compiled
 * three times, and the one that runs for a live page while nobody
 * streams has neither capture code nor a test of the page's life per
 * delta.  With @capture, and @cap set, each applied delta's window is
 * staged in *@slot right after the delta wrote it, and the staged
 * records get the page's epoch once the write section committed.
 * @gone: the page was freed (only atomic deltas apply).
 *
 * Until a delta writes the page, an expected epoch matches if the page
 * is at it and the tick did not change the page before; from the first
 * write on, none does: two loops, so neither tests which it is.
 */
static __always_inline void
mmsb_engine_apply_page(struct mmsb_page *page, u64 tick,
		       struct mmsb_dirty *dirty, struct mmsb_stream_tick *cap,
		       struct mmsb_stream_seg **slot,
		       struct mmsb_engine_stats *stats, const bool capture,
		       const bool gone)
{
	struct mmsb_kdelta *kd, *first = page->tick.first;
	u64 epoch = page->epoch;
	const u64 match = mmsb_page_changed_in(page, tick) ? 0 : epoch;
	const u64 written = mmsb_page_epoch_written(page, tick);
	struct mmsb_stream_seg *seg = NULL;
	bool refused = false;
	/* In a local: the stores to the records could alias @page. */
	u8 *data = page->data;
	u64 last_id = page->last_delta_id;
	unsigned long processed = 0;

	page->tick.first = NULL;
	page->tick.last = NULL;
	if (dirty) {
		dirty->id = page->id;
		mmsb_dirty_reset(dirty);
	}
	if (capture && cap) {
		seg = mmsb_engine_seg(cap, page, first);
		*slot = seg;
	}

	for (kd = first; kd && mmsb_engine_refused(kd, gone, match, stats);
	     kd = kd->tick_next)
		refused = true;
	if (kd)
		mmsb_page_write_begin(page);
	while (kd) {
		mmsb_delta_apply(kd, data);
		if (capture && seg)
			mmsb_stream_seg_put(seg, MMSB_REC_DELTA, tick, page->id,
					    kd->id, kd->offset, kd->len,
					    data + kd->offset);
		/* A MASKED delta counts its whole window: coarse, cheap. */
		if (dirty)
			mmsb_dirty_add(dirty, kd->offset, kd->offset + kd->len);
		/* Its @status is 0 already (struct mmsb_kdelta). */
		last_id = kd->id;
		/* In place of @expected_epoch, read above. */
		kd->epoch = written;
		processed++;
		for (kd = kd->tick_next;
		     kd && unlikely(mmsb_engine_refused(kd, gone, 0, stats));
		     kd = kd->tick_next)
			refused = true;
	}
	stats->processed += processed;

	if (processed) {
		/*
		 * A tick that propagates may write the page again: its
		 * section stays open until propagation has run, so readers
		 * see one content per epoch (mmsb_prop_run() closes it).
		 */
		if (dirty ? mmsb_page_write_hold(page, tick, last_id) :
			    mmsb_page_write_commit(page, tick, last_id))
			stats->pages_changed++;
		epoch = page->epoch;
	}
	if (capture && seg)
		mmsb_stream_seg_stamp(seg, 0, epoch);

	/*
	 * The records keep the outcome until their batch reports it.  The
	 * applied ones got the page's epoch after the tick as they went;
	 * refused ones (rare) get it now: a delta after them may have
	 * moved it.
	 */
	if (unlikely(refused))
		for (kd = first; kd; kd = kd->tick_next)
			kd->epoch = epoch;
}

/* A freed page, rare: out of line, capturing if @cap is set. */
static noinline void mmsb_engine_apply_gone(struct mmsb_page *page, u64 tick,
					    struct mmsb_dirty *dirty,
					    struct mmsb_stream_tick *cap,
					    struct mmsb_stream_seg **slot,
					    struct mmsb_engine_stats *stats)
{
	mmsb_engine_apply_page(page, tick, dirty, cap, slot, stats, true,
			       true);
}

/* Inline in both callers: a small tick's one call, not two. */
static __always_inline void mmsb_engine_apply(struct mmsb_page *page,
					      u64 tick,
					      struct mmsb_dirty *dirty,
					      struct mmsb_engine_stats *stats)
{
	if (likely(READ_ONCE(page->live)))
		mmsb_engine_apply_page(page, tick, dirty, NULL, NULL, stats,
				       false, false);
	else
		mmsb_engine_apply_gone(page, tick, dirty, NULL, NULL, stats);
}

/* Out of line, so the path nobody streams on stays as it was. */
static noinline void mmsb_engine_apply_capture(struct mmsb_page *page,
					       u64 tick,
					       struct mmsb_dirty *dirty,
					       struct mmsb_stream_tick *cap,
					       struct mmsb_stream_seg **slot,
					       struct mmsb_engine_stats *stats)
{
	if (likely(READ_ONCE(page->live)))
		mmsb_engine_apply_page(page, tick, dirty, cap, slot, stats,
				       true, false);
	else
		mmsb_engine_apply_gone(page, tick, dirty, cap, slot, stats);
}

/* Claim pages of the current job until there are none left. */
static void mmsb_engine_work(struct mmsb_engine *eng,
			     struct mmsb_engine_stats *stats)
{
	struct mmsb_stream_tick *cap = eng->cap;
	unsigned int i;

	if (unlikely(cap)) {
		while ((i = atomic_fetch_inc(&eng->next)) < eng->nr_pages)
			mmsb_engine_apply_capture(eng->pages[i], eng->tick,
						  eng->dirty ? &eng->dirty[i] : NULL,
						  cap, &cap->slots[i], stats);
		return;
	}
	while ((i = atomic_fetch_inc(&eng->next)) < eng->nr_pages)
		mmsb_engine_apply(eng->pages[i], eng->tick,
				  eng->dirty ? &eng->dirty[i] : NULL, stats);
}

static int mmsb_worker_fn(void *arg)
{
	struct mmsb_worker *w = arg;
	struct mmsb_engine *eng = w->engine;

	for (;;) {
		/*
		 * smp_load_acquire() pairs with the smp_store_release() of
		 * @gen in mmsb_engine_run(): the job fields written before
		 * it are visible once we see the new generation.
		 */
		wait_event_idle(eng->wq, smp_load_acquire(&eng->gen) != w->seen ||
				kthread_should_stop());
		if (kthread_should_stop())
			break;
		w->seen = eng->gen;
		mmsb_engine_work(eng, &w->stats);
		/* Fully ordered: our stats are visible to the waiter. */
		if (atomic_dec_and_test(&eng->active))
			complete(&eng->done);
	}
	return 0;
}

static void mmsb_engine_add(struct mmsb_engine_stats *to,
			    const struct mmsb_engine_stats *from)
{
	to->processed += from->processed;
	to->rejected += from->rejected;
	to->conflicts += from->conflicts;
	to->pages_changed += from->pages_changed;
}

/**
 * mmsb_engine_run() - apply one partitioned chunk of a tick and wait
 * @eng: the engine
 * @pages: pages with their deltas linked from ->tick.first, ring order
 * @nr_pages: entries of @pages
 * @nr_deltas: deltas linked on them, to decide whether to wake workers
 * @tick: tick number, the same for every chunk of one tick
 * @dirty: NULL, or @nr_pages records: record i gets the id of pages[i]
 *	and the byte ranges its deltas changed (none if no delta applied);
 *	then a page that changed is left in its write section, which the
 *	caller closes (mmsb_prop_collect() and mmsb_prop_run() do)
 * @cap: NULL, or the tick's capture state: @cap->slots[i] gets the
 *	staged records of pages[i] (NULL if none could be staged); its
 *	@nr_slots is at least @nr_pages
 * @stats: counters to add to
 *
 * Context: the thread running the tick (one job at a time); sleeps.
 */
void mmsb_engine_run(struct mmsb_engine *eng, struct mmsb_page **pages,
		     unsigned int nr_pages, unsigned int nr_deltas, u64 tick,
		     struct mmsb_dirty *dirty, struct mmsb_stream_tick *cap,
		     struct mmsb_engine_stats *stats)
{
	unsigned int i;

	/* Small jobs: the caller alone, no claiming. */
	if (!eng->nr_workers || nr_pages < 2 ||
	    nr_deltas < MMSB_ENGINE_INLINE_MAX) {
		if (unlikely(cap)) {
			for (i = 0; i < nr_pages; i++)
				mmsb_engine_apply_capture(pages[i], tick,
							  dirty ? &dirty[i] : NULL,
							  cap, &cap->slots[i],
							  stats);
			return;
		}
		for (i = 0; i < nr_pages; i++)
			mmsb_engine_apply(pages[i], tick,
					  dirty ? &dirty[i] : NULL, stats);
		return;
	}
	eng->pages = pages;
	eng->nr_pages = nr_pages;
	eng->tick = tick;
	eng->dirty = dirty;
	eng->cap = cap;
	atomic_set(&eng->next, 0);
	for (i = 0; i < eng->nr_workers; i++)
		memset(&eng->workers[i].stats, 0, sizeof(eng->workers[i].stats));
	atomic_set(&eng->active, eng->nr_workers);
	reinit_completion(&eng->done);
	/* Pairs with smp_load_acquire() in mmsb_worker_fn(). */
	smp_store_release(&eng->gen, eng->gen + 1);
	wake_up_all(&eng->wq);
	mmsb_engine_work(eng, stats);
	wait_for_completion(&eng->done);
	for (i = 0; i < eng->nr_workers; i++)
		mmsb_engine_add(stats, &eng->workers[i].stats);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_engine_run);

/**
 * mmsb_engine_init() - start the worker pool
 * @eng: the engine
 * @nr_workers: kthreads to start (0: the orchestrator applies alone)
 * @name: the bus's name, for the workers' ("mmsb-worker/0")
 *
 * Return: 0, -ENOMEM, or the error of kthread_run().
 */
int mmsb_engine_init(struct mmsb_engine *eng, unsigned int nr_workers,
		     const char *name)
{
	struct task_struct *task;
	unsigned int i;
	int ret;

	memset(eng, 0, sizeof(*eng));
	init_waitqueue_head(&eng->wq);
	init_completion(&eng->done);
	eng->workers = kcalloc(nr_workers, sizeof(*eng->workers), GFP_KERNEL);
	if (nr_workers && !eng->workers)
		return -ENOMEM;
	for (i = 0; i < nr_workers; i++) {
		eng->workers[i].engine = eng;
		task = kthread_run(mmsb_worker_fn, &eng->workers[i],
				   "%s-worker/%u", name, i);
		if (IS_ERR(task)) {
			ret = PTR_ERR(task);
			goto stop_workers;
		}
		eng->workers[i].task = task;
		eng->nr_workers++;
	}
	return 0;

stop_workers:
	mmsb_engine_destroy(eng);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_engine_init);

/**
 * mmsb_engine_destroy() - stop the workers
 * @eng: the engine; no job may be running
 */
void mmsb_engine_destroy(struct mmsb_engine *eng)
{
	unsigned int i;

	for (i = 0; i < eng->nr_workers; i++)
		kthread_stop(eng->workers[i].task);
	kfree(eng->workers);
	eng->workers = NULL;
	eng->nr_workers = 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_engine_destroy);
