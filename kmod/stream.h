/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb change stream: the log of a bus's applied deltas, propagations
 * and structural changes, read from an anon-inode file descriptor
 * (MMSB_IOC_STREAM_OPEN).  stream.c has the design; this header has
 * what the tick, the engine, propagation and the page and edge hooks
 * call.
 *
 * A tick captures only while a stream is open (mmsb_stream_active(),
 * one branch per tick): the engine and propagation then write records
 * into staging segments the tick owns (struct mmsb_stream_seg), without
 * a lock, and the tick's publish phase copies them into every stream.
 */
#ifndef _MMSB_STREAM_H
#define _MMSB_STREAM_H

#include <linux/atomic.h>
#include <linux/cred.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/types.h>
#include <linux/wait.h>

#include <linux/mmsb.h>

struct mmsb_file;
struct mmsb_page;
struct mmsb_page_table;
struct mmsb_tick;

/**
 * struct mmsb_stream_seg - staged records of one page in one tick step
 * @next: the next segment of the tick, in publish order
 * @page: the page the records are of, held (the filter's permission
 *	check at publish)
 * @used: bytes of @data written
 * @size: bytes of @data
 * @data: struct mmsb_stream_record entries, each followed by its data
 *	zero-padded to 8 bytes
 *
 * Written by the one thread that applies (or propagates into) @page,
 * read by the tick's publish phase after the engine's job completed.
 */
struct mmsb_stream_seg {
	struct mmsb_stream_seg *next;
	struct mmsb_page *page;
	size_t used;
	size_t size;
	u8 data[] __aligned(8);
};

/**
 * struct mmsb_stream_tick - what a capturing tick stages
 * @budget: bytes that may be staged: the largest stream's buffer, past
 *	which no stream could take the tick
 * @staged: bytes staged so far (one atomic add per page, not per delta)
 * @lost: staging failed (budget or memory): every stream loses the tick
 * @slots: one segment pointer per page of an engine job (engine.c)
 * @nr_slots: entries of @slots
 * @head: the tick's segments, in publish order
 * @tail: where the next segment is linked
 */
struct mmsb_stream_tick {
	size_t budget;
	atomic_long_t staged;
	bool lost;
	struct mmsb_stream_seg **slots;
	unsigned int nr_slots;
	struct mmsb_stream_seg *head;
	struct mmsb_stream_seg **tail;
};

/**
 * struct mmsb_stream_bus - the change streams of one bus
 * @nr: open streams; read by the tick without the lock (one branch)
 * @lock: the producers' lock: @streams, @in_tick, @deferred, @tick_done
 *	and every stream's producer side; a mutex, as a tick's records may
 *	be megabytes
 * @streams: open streams (struct mmsb_stream), under @lock
 * @in_tick: a capturing tick runs: FREE and edge records wait in
 *	@deferred until its records are out (stream.c, "Ordering")
 * @deferred: struct mmsb_stream_item waiting for the tick's end
 * @tick_done: the last tick whose records went out, or that completed
 *	before the first stream opened
 * @cap: the capture state of the current tick
 * @pages: the page table (memory limit, page lookups)
 * @tick: the tick (open synchronises with it)
 * @max_record: the largest record: header and max_page_size, 8-aligned
 * @opened: streams opened since load
 * @dropped: records dropped by overflows since load, all streams
 * @overflows: overflows (MMSB_REC_OVERFLOW records due) since load
 * @buffer_bytes: bytes of the open streams' buffers (charged)
 */
struct mmsb_stream_bus {
	unsigned int nr;
	struct mutex lock;	/* see above */
	struct list_head streams;
	bool in_tick;
	struct list_head deferred;
	u64 tick_done;
	struct mmsb_stream_tick cap;
	struct mmsb_page_table *pages;
	struct mmsb_tick *tick;
	size_t max_record;
	atomic64_t opened;
	atomic64_t dropped;
	atomic64_t overflows;
	atomic64_t buffer_bytes;
};

/* Bytes of a record carrying @len bytes of data. */
static inline size_t mmsb_stream_rec_bytes(size_t len)
{
	return sizeof(struct mmsb_stream_record) + ALIGN(len, 8);
}

void mmsb_stream_bus_init(struct mmsb_stream_bus *sb,
			  struct mmsb_page_table *pages, struct mmsb_tick *tick,
			  size_t max_page_size, unsigned int nr_slots);
void mmsb_stream_bus_destroy(struct mmsb_stream_bus *sb);

/**
 * mmsb_stream_active() - does the tick about to start capture?
 * @sb: the bus's streams, or NULL (a bus without streams, KUnit)
 *
 * The one branch a tick pays while nobody streams.  Opening a stream
 * holds the tick's run lock, so the answer holds for the whole tick.
 */
static inline bool mmsb_stream_active(struct mmsb_stream_bus *sb)
{
	return sb && READ_ONCE(sb->nr);
}

struct mmsb_stream_tick *mmsb_stream_tick_begin(struct mmsb_stream_bus *sb);
void mmsb_stream_tick_collect(struct mmsb_stream_tick *st, unsigned int nr);
void mmsb_stream_tick_end(struct mmsb_stream_bus *sb, u64 tick);

struct mmsb_stream_seg *mmsb_stream_seg_new(struct mmsb_stream_tick *st,
					    struct mmsb_page *page,
					    size_t bytes);
void mmsb_stream_seg_add(struct mmsb_stream_tick *st,
			 struct mmsb_stream_seg *seg);

/**
 * mmsb_stream_seg_put() - stage one DELTA or PROPAGATED record
 * @seg: the page's segment, with room for mmsb_stream_rec_bytes(@len)
 * @type: MMSB_REC_DELTA or MMSB_REC_PROPAGATED
 * @tick: the tick's number
 * @page_id: the page
 * @delta_id: the delta's id (DELTA), else 0
 * @offset: window start in the page data
 * @len: window bytes
 * @src: the window's bytes as they are now (page data + @offset)
 *
 * The epoch is stamped by mmsb_stream_seg_stamp() once the page's write
 * section committed.  Context: the one thread writing the page.
 */
static inline void mmsb_stream_seg_put(struct mmsb_stream_seg *seg, u16 type,
				       u64 tick, u64 page_id, u64 delta_id,
				       u32 offset, u32 len, const u8 *src)
{
	struct mmsb_stream_record *rec = (void *)(seg->data + seg->used);
	size_t bytes = mmsb_stream_rec_bytes(len);

	*rec = (struct mmsb_stream_record) {
		.size = bytes,
		.type = type,
		.tick = tick,
		.page_id = page_id,
		.delta_id = delta_id,
		.offset = offset,
		.len = len,
	};
	memcpy(rec + 1, src, len);
	/* The pad of the data: user space sees zeroes, never stale bytes. */
	memset((u8 *)(rec + 1) + len, 0, bytes - sizeof(*rec) - len);
	seg->used += bytes;
}

void mmsb_stream_seg_stamp(struct mmsb_stream_seg *seg, size_t from,
			   u64 epoch);

void mmsb_stream_page_creating(struct mmsb_stream_bus *sb,
			       struct mmsb_page *page);
void mmsb_stream_page_created(struct mmsb_stream_bus *sb,
			      struct mmsb_page *page, int err);
void mmsb_stream_page_freed(struct mmsb_stream_bus *sb,
			    struct mmsb_page *page);
void mmsb_stream_edge(struct mmsb_stream_bus *sb, struct mmsb_page *from,
		      struct mmsb_page *to, u32 kind, bool add);

long mmsb_stream_open_ioctl(struct mmsb_stream_bus *sb, struct mmsb_file *mf,
			    void __user *uarg);

#endif /* _MMSB_STREAM_H */
