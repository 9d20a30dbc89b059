/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb tracepoints: events/mmsb/ in tracefs, off until enabled.
 *
 *   mmsb_submit     one submission, ioctl or io_uring
 *   mmsb_tick       one tick that applied deltas, at its end
 *   mmsb_propagate  one tick's propagation along the graph's edges
 *   mmsb_gc         one monitor run that had work (GC)
 *   mmsb_stream_overflow  a change stream began dropping records
 *
 * Each fires once per call or tick, never per delta, so a disabled
 * event costs a static branch per submission or tick.  How to watch
 * them: Documentation/mmsb.rst, "Tracing".  main.c defines them
 * (CREATE_TRACE_POINTS).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM mmsb

#if !defined(_MMSB_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _MMSB_TRACE_H

#include <linux/tracepoint.h>
#include <linux/mmsb.h>

#include "monitor.h"

/*
 * mmsb_submit - a submission of deltas was queued (or refused)
 * @count: deltas in the submission
 * @accepted: deltas queued; the others were refused, each with a status
 * @sync: the caller waits until they are applied (SYNC, io_uring)
 * @uring: submitted by IORING_OP_URING_CMD, else by MMSB_IOC_SUBMIT
 * @ret: 0, or the error the submission ended with (-EAGAIN, -EFAULT...)
 */
TRACE_EVENT(mmsb_submit,
	    TP_PROTO(u32 count, u32 accepted, bool sync, bool uring, int ret),
	    TP_ARGS(count, accepted, sync, uring, ret),
	    TP_STRUCT__entry(__field(u32, count)
			     __field(u32, accepted)
			     __field(bool, sync)
			     __field(bool, uring)
			     __field(int, ret)),
	    TP_fast_assign(__entry->count = count;
			   __entry->accepted = accepted;
			   __entry->sync = sync;
			   __entry->uring = uring;
			   __entry->ret = ret;),
	    TP_printk("count=%u accepted=%u sync=%d path=%s ret=%d",
		      __entry->count, __entry->accepted, __entry->sync,
		      __entry->uring ? "io_uring" : "ioctl", __entry->ret)
);

/*
 * mmsb_tick - a tick that took deltas ended (ticks with none are silent)
 * @m: its metrics, as MMSB_IOC_STATS reports them in "last"
 */
TRACE_EVENT(mmsb_tick,
	    TP_PROTO(const struct mmsb_tick_metrics *m),
	    TP_ARGS(m),
	    TP_STRUCT__entry(__field(u64, tick)
			     __field(u64, processed)
			     __field(u64, rejected)
			     __field(u64, conflicts)
			     __field(u64, pages_changed)
			     __field(u64, propagated)
			     __field(u64, ring_depth)
			     __field(u64, total_ns)
			     __field(u32, overrun)),
	    TP_fast_assign(__entry->tick = m->tick;
			   __entry->processed = m->processed;
			   __entry->rejected = m->rejected;
			   __entry->conflicts = m->conflicts;
			   __entry->pages_changed = m->pages_changed;
			   __entry->propagated = m->propagated;
			   __entry->ring_depth = m->ring_depth;
			   __entry->total_ns = m->total_ns;
			   __entry->overrun = m->overrun;),
	    TP_printk("tick=%llu processed=%llu rejected=%llu conflicts=%llu pages_changed=%llu propagated=%llu ring_depth=%llu ns=%llu overrun=%u",
		      __entry->tick, __entry->processed, __entry->rejected,
		      __entry->conflicts, __entry->pages_changed,
		      __entry->propagated, __entry->ring_depth, __entry->total_ns,
		      __entry->overrun)
);

/*
 * mmsb_propagate - a tick propagated changes along the graph's edges
 * @tick: the tick's number
 * @propagated: pages changed or marked through an edge
 * @ns: nanoseconds spent
 */
TRACE_EVENT(mmsb_propagate,
	    TP_PROTO(u64 tick, u64 propagated, u64 ns),
	    TP_ARGS(tick, propagated, ns),
	    TP_STRUCT__entry(__field(u64, tick)
			     __field(u64, propagated)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->tick = tick;
			   __entry->propagated = propagated;
			   __entry->ns = ns;),
	    TP_printk("tick=%llu propagated=%llu ns=%llu",
		      __entry->tick, __entry->propagated, __entry->ns)
);

/*
 * mmsb_gc - a GC run that had work: over the threshold, or pages to
 *	evict or reclaim
 * @run: what it did (struct mmsb_monitor_run)
 */
TRACE_EVENT(mmsb_gc,
	    TP_PROTO(const struct mmsb_monitor_run *run),
	    TP_ARGS(run),
	    TP_STRUCT__entry(__field(u64, usage)
			     __field(u64, examined)
			     __field(u64, evicted)
			     __field(u64, reclaimed_pages)
			     __field(u64, reclaimed_bytes)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->usage = run->usage;
			   __entry->examined = run->examined;
			   __entry->evicted = run->evicted;
			   __entry->reclaimed_pages = run->reclaimed_pages;
			   __entry->reclaimed_bytes = run->reclaimed_bytes;
			   __entry->ns = run->ns;),
	    TP_printk("usage=%llu examined=%llu evicted=%llu reclaimed_pages=%llu reclaimed_bytes=%llu ns=%llu",
		      __entry->usage, __entry->examined, __entry->evicted,
		      __entry->reclaimed_pages, __entry->reclaimed_bytes,
		      __entry->ns)
);

/*
 * mmsb_stream_overflow - a change stream began to drop records: the
 *	reader will get MMSB_REC_OVERFLOW naming @tick
 * @tick: the first tick lost
 * @bytes: bytes of the records that did not fit
 * @buffer: the stream's buffer, bytes
 */
TRACE_EVENT(mmsb_stream_overflow,
	    TP_PROTO(u64 tick, u64 bytes, u32 buffer),
	    TP_ARGS(tick, bytes, buffer),
	    TP_STRUCT__entry(__field(u64, tick)
			     __field(u64, bytes)
			     __field(u32, buffer)),
	    TP_fast_assign(__entry->tick = tick;
			   __entry->bytes = bytes;
			   __entry->buffer = buffer;),
	    TP_printk("tick=%llu bytes=%llu buffer=%u",
		      __entry->tick, __entry->bytes, __entry->buffer)
);

#endif /* _MMSB_TRACE_H */

/* Out of tree: define_trace.h finds this file through -I$(src)/kmod. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
