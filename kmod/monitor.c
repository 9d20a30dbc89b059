// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb memory monitor: accounting, cold-page ageing and incremental GC,
 * run by the tick after propagation (see monitor.h).
 *
 * Ageing.  The monitor counts its runs (@clock).  Each evictable page
 * carries the epoch the monitor last saw (@gc.epoch) and the run that
 * first saw that epoch (@gc.stamp); its age is @clock - @gc.stamp, and
 * it is cold when the age reaches cold_age.  Epochs only rise, so a
 * change is never missed.  A run looks at scan_pages evictable pages at
 * most, from a cursor that wraps; with more evictable pages than that a
 * change is seen a few runs late, which makes a page look younger than
 * it is, never older: GC may evict later than cold_age, never sooner.
 *
 * Races.  Epochs move only inside the tick (apply and propagation),
 * and the monitor runs in the same thread after both, so a page judged
 * cold cannot change before it is evicted.  A user may free it at the
 * same moment: mmsb_page_free() erases an id once, so only one of the
 * two takes the table's reference.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/ktime.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <kunit/visibility.h>

#include <linux/mmsb.h>

#include "monitor.h"
#include "page.h"
#include "trace.h"

/**
 * mmsb_monitor_init() - set up a monitor
 * @mon: the monitor
 * @pages: the page table to watch
 * @cfg: parameters, copied
 */
void mmsb_monitor_init(struct mmsb_monitor *mon, struct mmsb_page_table *pages,
		       const struct mmsb_monitor_config *cfg)
{
	mon->pages = pages;
	mon->cfg = *cfg;
	mon->clock = 0;
	mon->cursor = 0;
	spin_lock_init(&mon->lock);
	memset(&mon->last, 0, sizeof(mon->last));
	memset(&mon->totals, 0, sizeof(mon->totals));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_init);

/**
 * mmsb_monitor_over() - is usage past the GC threshold?
 * @usage: bytes held
 * @limit: the memory limit, at most 2^40 (mem_limit_mb <= 1M)
 * @threshold: percent of @limit, 1 to 100
 *
 * Strictly above: at exactly @threshold percent GC does not evict.
 * Return: true when @usage > @limit * @threshold / 100.
 */
bool mmsb_monitor_over(u64 usage, u64 limit, unsigned int threshold)
{
	/* Cross-multiplied, no rounding; limit * 100 cannot wrap. */
	if (usage > limit)
		return true;
	return usage * 100 > limit * threshold;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_over);

/**
 * mmsb_monitor_age() - a page's age at this run, updating its record
 * @seen_epoch: the page's epoch when last looked at (updated)
 * @stamp: run that first saw *@seen_epoch, 0 = never looked (updated)
 * @epoch: the page's epoch now
 * @clock: this run, >= 1
 *
 * Return: runs since the monitor first saw the page at @epoch: 0 for a
 * page seen for the first time or whose epoch moved.
 */
u64 mmsb_monitor_age(u64 *seen_epoch, u64 *stamp, u64 epoch, u64 clock)
{
	if (!*stamp || *seen_epoch != epoch) {
		*seen_epoch = epoch;
		*stamp = clock;
		return 0;
	}
	return clock - *stamp;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_age);

/**
 * mmsb_monitor_decide() - evict a page or keep it
 * @flags: the page's MMSB_PAGE_* flags
 * @live: the page's id is still in the table
 * @age: from mmsb_monitor_age()
 * @cold_age: runs after which a page is cold
 * @over: usage is over the threshold, even counting the pages this run
 *	already evicted as gone
 *
 * Only a live page created evictable, cold, under memory pressure goes.
 * Return: MMSB_GC_EVICT or MMSB_GC_KEEP.
 */
enum mmsb_gc_verdict mmsb_monitor_decide(u32 flags, bool live, u64 age,
					 unsigned int cold_age, bool over)
{
	if (!(flags & MMSB_PAGE_EVICTABLE) || !live || !over)
		return MMSB_GC_KEEP;
	return age >= cold_age ? MMSB_GC_EVICT : MMSB_GC_KEEP;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_decide);

/**
 * mmsb_monitor_usage() - bytes charged to the memory limit
 * @mon: the monitor
 *
 * Return: page bytes (freed pages not yet reclaimed included) plus the
 * bytes of queued deltas.
 */
u64 mmsb_monitor_usage(struct mmsb_monitor *mon)
{
	u64 usage = mmsb_page_table_bytes(mon->pages);

	if (mon->cfg.delta_bytes)
		usage += atomic64_read(mon->cfg.delta_bytes);
	return usage;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_usage);

/**
 * mmsb_monitor_pressure() - the usage GC may evict for
 * @mon: the monitor
 *
 * mmsb_monitor_usage() less the memory of freed pages waiting for their
 * release: that memory goes back without evicting anything, so it is no
 * reason to evict a live page.
 *
 * Return: bytes.
 */
u64 mmsb_monitor_pressure(struct mmsb_monitor *mon)
{
	u64 usage = mmsb_monitor_usage(mon);

	/*
	 * A freed page is counted in the pending bytes after it is in
	 * the usage, and leaves them after it left the usage: the
	 * difference is never too small, a racing reclaim aside (min()).
	 */
	return usage - min(usage, mmsb_page_reclaim_bytes(mon->pages));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_pressure);

/**
 * mmsb_monitor_reclaim_pending() - are pages waiting to be freed?
 * @mon: the monitor
 *
 * Return: true while the reclaim list is not empty.
 */
bool mmsb_monitor_reclaim_pending(struct mmsb_monitor *mon)
{
	return mmsb_page_reclaim_pending(mon->pages) != 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_reclaim_pending);

/**
 * mmsb_monitor_has_work() - does the monitor need more runs?
 * @mon: the monitor
 *
 * Return: true when pages wait to be freed, or usage without them
 * (mmsb_monitor_pressure()) is over the threshold while evictable pages
 * exist (they need runs to age).
 */
bool mmsb_monitor_has_work(struct mmsb_monitor *mon)
{
	if (mmsb_monitor_reclaim_pending(mon))
		return true;
	return xa_marked(&mon->pages->xa, MMSB_PAGE_XA_EVICTABLE) &&
	       mmsb_monitor_over(mmsb_monitor_pressure(mon), mon->cfg.limit,
				 mon->cfg.threshold);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_has_work);

/**
 * mmsb_monitor_idle() - would a run find nothing to do?
 * @mon: the monitor
 *
 * No page waits to be freed, none is evictable, and usage is under the
 * threshold: a run would age, evict and reclaim nothing and record no
 * run, so the tick need not make one.
 *
 * Return: true when a run can be skipped.
 */
bool mmsb_monitor_idle(struct mmsb_monitor *mon)
{
	return !mmsb_monitor_reclaim_pending(mon) &&
	       !xa_marked(&mon->pages->xa, MMSB_PAGE_XA_EVICTABLE) &&
	       !mmsb_monitor_over(mmsb_monitor_pressure(mon), mon->cfg.limit,
				  mon->cfg.threshold);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_idle);

/*
 * Age up to scan_pages evictable pages and evict the cold ones while
 * @usage (mmsb_monitor_pressure()), less what this run evicted, stays
 * over the threshold.  Returns pages evicted.
 */
static u64 mmsb_monitor_scan(struct mmsb_monitor *mon, u64 usage,
			     u64 deadline_ns, struct mmsb_monitor_run *run)
{
	const struct mmsb_monitor_config *cfg = &mon->cfg;
	struct mmsb_page_table *t = mon->pages;
	unsigned long idx = mon->cursor;
	bool wrapped = !idx;
	u64 gone = 0;

	while (run->examined < cfg->scan_pages) {
		struct mmsb_page *page = mmsb_page_next(t, &idx, MMSB_PAGE_XA_EVICTABLE);
		bool over;
		u64 age, id;
		size_t size;

		if (!page) {
			if (wrapped)
				break;
			wrapped = true;
			idx = 0;
			continue;
		}
		run->examined++;
		id = page->id;
		size = page->map_size;
		age = mmsb_monitor_age(&page->gc.epoch, &page->gc.stamp,
				       READ_ONCE(page->epoch), mon->clock);
		/* Count what this run evicted as gone: no overshoot. */
		over = mmsb_monitor_over(usage - min(usage, gone), cfg->limit,
					 cfg->threshold);
		if (run->evicted < cfg->batch_pages &&
		    mmsb_monitor_decide(page->flags, READ_ONCE(page->live), age,
					cfg->cold_age, over) == MMSB_GC_EVICT &&
		    !mmsb_page_free(t, id, current_cred(), true)) {
			run->evicted++;
			gone += size;
		}
		mmsb_page_put(page);
		idx = id + 1;
		if (!idx || (deadline_ns && ktime_get_ns() >= deadline_ns))
			break;
	}
	mon->cursor = idx;
	return run->evicted;
}

/**
 * mmsb_monitor_run() - one monitor run: age, evict, free
 * @mon: the monitor
 * @deadline_ns: ktime_get_ns() by which to stop (the tick's budget);
 *	0 = none.  A run that starts past it does nothing.
 * @out: what the run did (all zero if it did not run), or NULL
 *
 * Context: the tick's orchestrator (one thread), process context.
 * Return: nanoseconds spent.
 */
u64 mmsb_monitor_run(struct mmsb_monitor *mon, u64 deadline_ns,
		     struct mmsb_monitor_run *out)
{
	struct mmsb_monitor_run run = { };
	u64 start = ktime_get_ns(), pressure;
	bool over;

	if (out)
		*out = run;
	if (deadline_ns && start >= deadline_ns)
		return 0;
	mon->clock++;
	/* Memory already freed goes back first, and is no reason to evict. */
	if (mmsb_monitor_reclaim_pending(mon))
		run.reclaimed_pages = mmsb_page_reclaim(mon->pages,
							mon->cfg.batch_pages,
							deadline_ns,
							&run.reclaimed_bytes);
	run.usage = mmsb_monitor_usage(mon);
	pressure = mmsb_monitor_pressure(mon);
	over = mmsb_monitor_over(pressure, mon->cfg.limit, mon->cfg.threshold);
	/* No time left after the release: ageing waits for the next run. */
	if (!deadline_ns || ktime_get_ns() < deadline_ns)
		mmsb_monitor_scan(mon, pressure, deadline_ns, &run);
	run.ns = ktime_get_ns() - start;
	run.invoked = over || run.evicted || run.reclaimed_pages;

	if (out)
		*out = run;
	if (!run.invoked)
		return run.ns;
	trace_mmsb_gc(&run);
	spin_lock(&mon->lock);
	mon->last = run;
	mon->totals.runs++;
	mon->totals.evicted += run.evicted;
	mon->totals.reclaimed_pages += run.reclaimed_pages;
	mon->totals.reclaimed_bytes += run.reclaimed_bytes;
	mon->totals.max_ns = max(mon->totals.max_ns, run.ns);
	mon->totals.total_ns += run.ns;
	spin_unlock(&mon->lock);
	return run.ns;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_run);

/**
 * mmsb_monitor_read() - a consistent copy of the monitor's figures
 * @mon: the monitor
 * @last: out: the last run with work, or NULL
 * @totals: out: counters since load, or NULL
 */
void mmsb_monitor_read(struct mmsb_monitor *mon, struct mmsb_monitor_run *last,
		       struct mmsb_monitor_totals *totals)
{
	spin_lock(&mon->lock);
	if (last)
		*last = mon->last;
	if (totals)
		*totals = mon->totals;
	spin_unlock(&mon->lock);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_read);

/* Kernel bookkeeping of one page that does not depend on its size. */
static size_t mmsb_monitor_fixed_overhead(void)
{
	/*
	 * struct mmsb_page (kmalloc), and what vmalloc keeps per area: a
	 * struct vm_struct (kmalloc) and a struct vmap_area (its own
	 * cache).  The kernel's page tables for the area and the struct
	 * page of each frame are left out: they are the price of any
	 * mapped memory, not mmsb's bookkeeping.
	 */
	return kmalloc_size_roundup(sizeof(struct mmsb_page)) +
	       kmalloc_size_roundup(sizeof(struct vm_struct)) +
	       sizeof(struct vmap_area);
}

/**
 * mmsb_monitor_page_overhead() - kernel bytes of a page beyond its data
 * @map_size: the page's mapping size (header, data, rounding)
 *
 * The bookkeeping of mmsb_monitor_fixed_overhead() plus vmalloc's array
 * of frame pointers.  Add map_size minus the data size for the whole
 * cost beyond the data.
 *
 * Return: bytes.
 */
size_t mmsb_monitor_page_overhead(size_t map_size)
{
	return mmsb_monitor_fixed_overhead() +
	       kmalloc_size_roundup((map_size >> PAGE_SHIFT) *
				    sizeof(struct page *));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_page_overhead);

/**
 * mmsb_monitor_meta_bytes() - bookkeeping bytes of all pages
 * @mon: the monitor
 *
 * Pages live or waiting to be freed, counted as in
 * mmsb_monitor_page_overhead() (frame arrays at 8 bytes a frame, the
 * kmalloc rounding of each left out).
 *
 * Return: bytes.
 */
u64 mmsb_monitor_meta_bytes(struct mmsb_monitor *mon)
{
	u64 frames = mmsb_page_table_bytes(mon->pages) >> PAGE_SHIFT;

	return mmsb_page_table_structs(mon->pages) *
	       mmsb_monitor_fixed_overhead() +
	       frames * sizeof(struct page *);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_monitor_meta_bytes);
