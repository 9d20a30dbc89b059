/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb memory monitor and incremental GC, run by the tick.
 *
 * The seed's MemoryMonitor, made safe for the kernel: GC never takes a
 * page a user still owns.  Per run (one per tick, at its end) it
 *  - ages the evictable pages: a page is cold once the monitor saw it
 *    at the same epoch over cold_age of its runs;
 *  - frees pages whose last reference is gone (page.c's reclaim list);
 *  - when usage (page and delta bytes), less the memory of freed pages
 *    still waiting for that, is over gc_threshold percent of the limit,
 *    evicts cold evictable pages as MMSB_IOC_PAGE_FREE would: memory
 *    already freed comes back without evicting anyone;
 * at most gc_batch_pages evictions and gc_batch_pages frees per run, and
 * never past the tick's budget.  Pages created without
 * MMSB_PAGE_EVICTABLE are never evicted.
 *
 * monitor.c calls page.c only; an evicted page's edges go with it
 * through page.c's "page freed" hook.
 */
#ifndef _MMSB_MONITOR_H
#define _MMSB_MONITOR_H

#include <linux/atomic.h>
#include <linux/spinlock.h>
#include <linux/types.h>

struct mmsb_page_table;

/**
 * struct mmsb_monitor_config - monitor parameters
 * @limit: bytes mmsb may hold (mem_limit_mb)
 * @threshold: percent of @limit above which cold pages are evicted
 * @batch_pages: pages freed, and pages evicted, per run at most
 * @cold_age: runs at the same epoch after which a page is cold
 * @scan_pages: evictable pages looked at per run at most
 * @delta_bytes: bytes of queued deltas, charged to @limit too
 */
struct mmsb_monitor_config {
	u64 limit;
	unsigned int threshold;
	unsigned int batch_pages;
	unsigned int cold_age;
	unsigned int scan_pages;
	atomic64_t *delta_bytes;
};

/**
 * struct mmsb_monitor_run - what one run did
 * @ns: duration
 * @examined: evictable pages looked at
 * @evicted: pages evicted
 * @reclaimed_pages: pages freed
 * @reclaimed_bytes: bytes freed (mapping size of the pages)
 * @usage: page and delta bytes once the run freed what it could
 * @invoked: the run had work: usage over threshold, or pages to free
 */
struct mmsb_monitor_run {
	u64 ns;
	u64 examined;
	u64 evicted;
	u64 reclaimed_pages;
	u64 reclaimed_bytes;
	u64 usage;
	bool invoked;
};

/**
 * struct mmsb_monitor_totals - counters since load
 * @runs: runs with work (gc_invoked)
 * @evicted: pages evicted
 * @reclaimed_pages: pages freed
 * @reclaimed_bytes: bytes freed
 * @max_ns: longest run
 * @total_ns: time spent in runs with work
 */
struct mmsb_monitor_totals {
	u64 runs;
	u64 evicted;
	u64 reclaimed_pages;
	u64 reclaimed_bytes;
	u64 max_ns;
	u64 total_ns;
};

/**
 * struct mmsb_monitor - the monitor (one per device)
 * @pages: the page table it watches
 * @cfg: parameters
 * @clock: runs so far; a page's age is counted in it
 * @cursor: next evictable page id to look at
 * @lock: protects @last and @totals against readers
 * @last: the last run with work
 * @totals: counters since load
 *
 * @clock and @cursor belong to the one thread that runs the monitor (the
 * tick's orchestrator).
 */
struct mmsb_monitor {
	struct mmsb_page_table *pages;
	struct mmsb_monitor_config cfg;
	u64 clock;
	unsigned long cursor;
	spinlock_t lock;	/* @last, @totals vs readers */
	struct mmsb_monitor_run last;
	struct mmsb_monitor_totals totals;
};

/* The monitor's verdict on one page. */
enum mmsb_gc_verdict {
	MMSB_GC_KEEP,
	MMSB_GC_EVICT,
};

void mmsb_monitor_init(struct mmsb_monitor *mon, struct mmsb_page_table *pages,
		       const struct mmsb_monitor_config *cfg);

bool mmsb_monitor_over(u64 usage, u64 limit, unsigned int threshold);
u64 mmsb_monitor_age(u64 *seen_epoch, u64 *stamp, u64 epoch, u64 clock);
enum mmsb_gc_verdict mmsb_monitor_decide(u32 flags, bool live, u64 age,
					 unsigned int cold_age, bool over);

u64 mmsb_monitor_usage(struct mmsb_monitor *mon);
u64 mmsb_monitor_pressure(struct mmsb_monitor *mon);
bool mmsb_monitor_has_work(struct mmsb_monitor *mon);
bool mmsb_monitor_idle(struct mmsb_monitor *mon);
bool mmsb_monitor_reclaim_pending(struct mmsb_monitor *mon);
u64 mmsb_monitor_run(struct mmsb_monitor *mon, u64 deadline_ns,
		     struct mmsb_monitor_run *out);
void mmsb_monitor_read(struct mmsb_monitor *mon, struct mmsb_monitor_run *last,
		       struct mmsb_monitor_totals *totals);
u64 mmsb_monitor_meta_bytes(struct mmsb_monitor *mon);
size_t mmsb_monitor_page_overhead(size_t map_size);

#endif /* _MMSB_MONITOR_H */
