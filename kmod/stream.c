// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb change stream: every applied delta, propagation and structural
 * change of a bus, as struct mmsb_stream_record entries read from an
 * anon-inode file (MMSB_IOC_STREAM_OPEN, issue 18).  The one owner of
 * the concern: the engine, propagation, the tick and the page and edge
 * hooks only call in here.
 *
 * Capture.  Whether a tick captures is decided once, at its start, by
 * mmsb_stream_active(): the stream count, read without a lock.  An open
 * holds the tick's run lock while it adds its stream, so no stream
 * appears in the middle of a tick, and a tick that starts with none
 * pays that one branch and nothing else: the engine and propagation
 * run their code without capture (engine.c instantiates the apply loop
 * twice).  A capturing tick stages its records in segments
 * (struct mmsb_stream_seg), one per page and engine job, or per page
 * propagation wrote:
 *
 *   engine worker, per page:  size the page's records, one atomic add
 *	against the staging budget, one allocation, then per delta the
 *	window's bytes right after the delta applied (masks resolved) --
 *	no lock: a page is applied by one thread, so its records are in
 *	apply order; the epoch is stamped once the write section commits
 *	(the epoch after the tick: the epoch rule moves it once a tick)
 *   orchestrator, per job:    link the job's segments in page order
 *	(mmsb_stream_tick_collect()), after the earlier jobs' ones
 *   propagation (one thread): a segment per page it wrote, after every
 *	job's: PROPAGATED records of the passthrough ranges (the bytes
 *	as the page holds them after all its edges), len 0 for a notify
 *	edge
 *   publish (one thread):     mmsb_stream_tick_end(): under the bus's
 *	stream lock, each stream takes the segments it may see, then
 *	MMSB_REC_TICK, or drops the whole tick (overflow)
 *
 * The budget is the largest open stream's buffer: a tick that stages
 * more could not fit any stream, so it is lost for all of them (an
 * overflow), as is a tick whose staging memory could not be allocated.
 * So nothing is ever dropped without an MMSB_REC_OVERFLOW.
 *
 * Ordering.  The uapi promises: a page's CREATE before any record of
 * its deltas, its FREE after all of them, and structural records
 * between the ticks' records.
 *  - CREATE goes out at once, under the stream lock held from before the
 *    page is in the table until after (mmsb_stream_page_creating() and
 *    mmsb_stream_page_created()): no delta can reach the page before its
 *    CREATE is out, and a stream opened meanwhile waits for the lock,
 *    so it either gets the CREATE or finds the page in the table.
 *  - FREE and edge records made while a capturing tick runs (@in_tick,
 *    set under the lock before the tick takes any delta) wait in
 *    @deferred and go out after that tick's MMSB_REC_TICK, in the order
 *    they were made.  A tick can apply a delta to a page only if the
 *    page was live when the tick looked (atomic checks included), and
 *    the free clears @live before its hook takes the lock: a FREE made
 *    while no tick captured has no delta of its page after it, one
 *    made during a tick comes after that tick's records.  Edge records
 *    are made under the graph's lock, so they are in the graph's order,
 *    and before the FREE of either page (whose edges go under that lock
 *    first).  A FREE implies its page's edges are gone: no EDGE_DEL is
 *    made for them.
 *
 * Each stream is a byte ring with one consumer (read(), serialised by
 * @read_lock) and producers serialised by the bus's stream lock.  The
 * producer writes records past @head and publishes them with a release
 * store of @head; the consumer copies them out and hands the room back
 * with a release store of @tail.  A tick's records go in whole or not at
 * all: while they do not fit, the stream is @lost and everything is
 * dropped; the first records that fit again (or, once the reader has
 * emptied the ring, nothing at all) are preceded by MMSB_REC_OVERFLOW
 * naming the first tick lost.
 *
 * Lock order: the tick's run lock -> the graph's lock -> the stream
 * lock (sb->lock) -> the page table's xarray lock; a stream's
 * @read_lock -> sb->lock.
 *
 * Lifetime: a stream file holds the module (fops.owner), and buses live
 * until the module goes, so a stream's bus outlives it; unloading waits
 * for the last stream to close.  The opener's credentials are held.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/bsearch.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <kunit/visibility.h>

#include "file.h"
#include "graph.h"
#include "page.h"
#include "stream.h"
#include "tick.h"
#include "trace.h"

#define MMSB_REC_BYTES	sizeof(struct mmsb_stream_record)

/**
 * struct mmsb_stream - one open change stream (the file's private_data)
 * @sb: the bus's streams
 * @node: in @sb->streams, under @sb->lock
 * @listed: on @sb->streams
 * @cred: the opener's credentials, held
 * @admin: the opener had CAP_SYS_ADMIN: every page is readable
 * @all: MMSB_STREAM_ALL, else the pages of @ids
 * @ids: the pages of a page-set stream, sorted, no duplicates
 * @nr_ids: entries of @ids
 * @buf: the ring, @size bytes, charged to the bus's memory limit
 * @size: bytes of @buf, a multiple of 8
 * @prod: the producer's position: @head plus what it is writing
 * @lost: records were dropped and MMSB_REC_OVERFLOW is due
 * @lost_tick: the first tick lost, while @lost
 * @dropped: records dropped since open
 * @head: bytes ever published (producer: release, consumer: acquire)
 * @tail: bytes ever consumed (consumer: release, producer: acquire)
 * @read_lock: one reader at a time
 * @wq: readers and pollers wait here
 *
 * @prod, @lost, @lost_tick and @dropped are the producers' (@sb->lock);
 * the consumer reads @lost with READ_ONCE() to know that an overflow is
 * due.  @head and @tail are on their own cache lines: the producer
 * writes one, the consumer the other.
 */
struct mmsb_stream {
	struct mmsb_stream_bus *sb;
	struct list_head node;
	bool listed;
	const struct cred *cred;
	bool admin;
	bool all;
	u64 *ids;
	u32 nr_ids;
	u8 *buf;
	u32 size;
	u64 prod;
	bool lost;
	u64 lost_tick;
	u64 dropped;
	u64 head ____cacheline_aligned_in_smp;
	u64 tail ____cacheline_aligned_in_smp;
	struct mutex read_lock;	/* one reader at a time */
	wait_queue_head_t wq;
};

/*
 * struct mmsb_stream_item - a structural record on its way
 * @node: in @sb->deferred while a capturing tick runs
 * @page: the page it is of (CREATE, FREE) or the edge's from, held
 * @to: the edge's to (EDGE_ADD, EDGE_DEL), held, else NULL
 * @rec: the record; its tick (and a FREE's epoch) are set when it goes
 * @data: what follows it
 */
struct mmsb_stream_item {
	struct list_head node;
	struct mmsb_page *page;
	struct mmsb_page *to;
	struct mmsb_stream_record rec;
	union {
		struct mmsb_stream_page page;
		struct mmsb_edge edge;
	} data;
};

/**
 * mmsb_stream_bus_init() - no stream yet
 * @sb: the bus's streams
 * @pages: the bus's page table (memory limit, lookups)
 * @tick: the bus's tick
 * @max_page_size: the largest page (the largest record)
 * @nr_slots: pages of one engine job at most (the tick's chunk)
 */
void mmsb_stream_bus_init(struct mmsb_stream_bus *sb,
			  struct mmsb_page_table *pages, struct mmsb_tick *tick,
			  size_t max_page_size, unsigned int nr_slots)
{
	memset(sb, 0, sizeof(*sb));
	mutex_init(&sb->lock);
	INIT_LIST_HEAD(&sb->streams);
	INIT_LIST_HEAD(&sb->deferred);
	sb->pages = pages;
	sb->tick = tick;
	sb->max_record = mmsb_stream_rec_bytes(max_page_size);
	sb->cap.nr_slots = nr_slots;
	sb->cap.tail = &sb->cap.head;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_stream_bus_init);

/**
 * mmsb_stream_bus_destroy() - free what the streams of a bus kept
 * @sb: the bus's streams; none is open (each holds the module)
 */
void mmsb_stream_bus_destroy(struct mmsb_stream_bus *sb)
{
	WARN_ON(sb->nr || !list_empty(&sb->deferred) || sb->cap.head);
	kvfree(sb->cap.slots);
	sb->cap.slots = NULL;
	mutex_destroy(&sb->lock);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_stream_bus_destroy);

/* Does stream @s report @page?  Modes and owners never change. */
static bool mmsb_stream_wants(const struct mmsb_stream *s,
			      const struct mmsb_page *page)
{
	u32 lo = 0, hi = s->nr_ids;

	if (s->all)
		return !mmsb_page_permission(page, s->cred, s->admin,
					     MMSB_MAY_READ);
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (s->ids[mid] == page->id)
			return true;
		if (s->ids[mid] < page->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Copy @len bytes to the ring at position @pos, wrapping at the end. */
static void mmsb_stream_ring_put(struct mmsb_stream *s, u64 pos,
				 const void *src, size_t len)
{
	size_t off = pos % s->size;
	size_t n = min_t(size_t, len, s->size - off);

	memcpy(s->buf + off, src, n);
	memcpy(s->buf, (const u8 *)src + n, len - n);
}

/* Room in @s's ring for the producer, at @s->prod. */
static u64 mmsb_stream_room(struct mmsb_stream *s)
{
	/*
	 * Pairs with smp_store_release() of @tail in mmsb_stream_read():
	 * the reader's copy of the bytes it handed back is done before we
	 * overwrite them.
	 */
	return s->size - (s->prod - smp_load_acquire(&s->tail));
}

/* Make the records written up to @s->prod readable, and wake readers. */
static void mmsb_stream_publish(struct mmsb_stream *s)
{
	if (s->prod == s->head)
		return;
	/*
	 * Pairs with smp_load_acquire() of @head in mmsb_stream_read() and
	 * mmsb_stream_poll(): the records are written before they see them.
	 */
	smp_store_release(&s->head, s->prod);
	/*
	 * wake_up() takes the waitqueue's lock, as does a reader queueing
	 * itself before it looks at @head again: it sees the new @head or
	 * we see it queued.
	 */
	wake_up_interruptible_poll(&s->wq, EPOLLIN | EPOLLRDNORM);
}

/*
 * Room for @bytes more, and for the overflow record first if one is
 * due (which is written then).  Otherwise the stream is (or stays) lost
 * from @lost_tick on and @records are counted dropped.  Under sb->lock.
 */
static bool mmsb_stream_reserve(struct mmsb_stream_bus *sb,
				struct mmsb_stream *s, u64 bytes,
				u64 lost_tick, u64 records, bool fail)
{
	struct mmsb_stream_record ov = {
		.size = MMSB_REC_BYTES,
		.type = MMSB_REC_OVERFLOW,
	};

	lockdep_assert_held(&sb->lock);
	if (!fail && bytes + (s->lost ? MMSB_REC_BYTES : 0) <=
		     mmsb_stream_room(s)) {
		if (s->lost) {
			ov.tick = s->lost_tick;
			mmsb_stream_ring_put(s, s->prod, &ov, sizeof(ov));
			s->prod += sizeof(ov);
			/* Read locklessly by poll() and read(). */
			WRITE_ONCE(s->lost, false);
		}
		return true;
	}
	if (!s->lost) {
		s->lost_tick = lost_tick;
		WRITE_ONCE(s->lost, true);
		atomic64_inc(&sb->overflows);
		trace_mmsb_stream_overflow(lost_tick, bytes, s->size);
		/*
		 * A reader asleep on an empty ring must learn of it: records
		 * larger than the whole buffer never make it readable.
		 */
		wake_up_interruptible_poll(&s->wq, EPOLLIN | EPOLLRDNORM);
	}
	s->dropped += records;
	atomic64_add(records, &sb->dropped);
	return false;
}

/* One structural record into every stream that reports it. */
static void mmsb_stream_emit(struct mmsb_stream_bus *sb,
			     struct mmsb_stream_item *it)
{
	struct mmsb_stream *s;

	lockdep_assert_held(&sb->lock);
	list_for_each_entry(s, &sb->streams, node) {
		if (!mmsb_stream_wants(s, it->page) ||
		    (it->to && !mmsb_stream_wants(s, it->to)))
			continue;
		/* The owner as the opener's user namespace names it. */
		if (it->rec.type == MMSB_REC_CREATE) {
			it->data.page.uid = from_kuid_munged(s->cred->user_ns,
							     it->page->uid);
			it->data.page.gid = from_kgid_munged(s->cred->user_ns,
							     it->page->gid);
		}
		/* Between ticks T and T + 1: T + 1 is the first one lost. */
		if (!mmsb_stream_reserve(sb, s, it->rec.size, it->rec.tick + 1,
					 1, false))
			continue;
		mmsb_stream_ring_put(s, s->prod, &it->rec, sizeof(it->rec));
		mmsb_stream_ring_put(s, s->prod + sizeof(it->rec), &it->data,
				     it->rec.len);
		s->prod += it->rec.size;
		mmsb_stream_publish(s);
	}
}

static void mmsb_stream_item_free(struct mmsb_stream_item *it)
{
	mmsb_page_put(it->to);
	mmsb_page_put(it->page);
	kfree(it);
}

/*
 * A structural record: out at once, or, for FREE and the edges while a
 * capturing tick runs, after that tick's records.  Under sb->lock.
 */
static void mmsb_stream_note(struct mmsb_stream_bus *sb,
			     struct mmsb_stream_item *it)
{
	lockdep_assert_held(&sb->lock);
	if (sb->in_tick && it->rec.type != MMSB_REC_CREATE) {
		list_add_tail(&it->node, &sb->deferred);
		return;
	}
	it->rec.tick = sb->tick_done;
	mmsb_stream_emit(sb, it);
	mmsb_stream_item_free(it);
}

static struct mmsb_stream_item *mmsb_stream_item_new(u16 type,
						     struct mmsb_page *page,
						     struct mmsb_page *to,
						     u32 len)
{
	struct mmsb_stream_item *it = kzalloc(sizeof(*it), GFP_KERNEL);

	if (!it)
		return NULL;
	it->page = mmsb_page_hold(page);
	it->to = to ? mmsb_page_hold(to) : NULL;
	it->rec.size = mmsb_stream_rec_bytes(len);
	it->rec.type = type;
	it->rec.page_id = page->id;
	it->rec.len = len;
	return it;
}

/*
 * A structural record could not even be allocated: it is lost for every
 * stream that would have had it, which then overflows.  Under sb->lock.
 */
static void mmsb_stream_note_lost(struct mmsb_stream_bus *sb,
				  struct mmsb_page *page, struct mmsb_page *to)
{
	struct mmsb_stream *s;

	lockdep_assert_held(&sb->lock);
	list_for_each_entry(s, &sb->streams, node)
		if (mmsb_stream_wants(s, page) &&
		    (!to || mmsb_stream_wants(s, to)))
			mmsb_stream_reserve(sb, s, 0, sb->tick_done + 1, 1,
					    true);
}

/**
 * mmsb_stream_page_creating() - a page is about to enter the table
 * @sb: the bus's streams
 * @page: the page, fully initialised, not yet in the table
 *
 * Sends MMSB_REC_CREATE to the streams that may read the page, and
 * keeps the stream lock until mmsb_stream_page_created(): no stream
 * opens in between, so every stream either has the CREATE or finds the
 * page in the table.  No delta can reach the page before it is in.
 *
 * Context: process context, sleeps; the page table's "created" hook.
 */
void mmsb_stream_page_creating(struct mmsb_stream_bus *sb,
			       struct mmsb_page *page)
{
	struct mmsb_stream_item *it;

	mutex_lock(&sb->lock);
	if (!sb->nr)
		return;
	/* Under the lock: a stream that just opened must not miss it. */
	it = mmsb_stream_item_new(MMSB_REC_CREATE, page, NULL,
				  sizeof(it->data.page));
	if (!it) {
		mmsb_stream_note_lost(sb, page, NULL);
		return;
	}
	it->rec.epoch = page->epoch;
	it->data.page = (struct mmsb_stream_page) {
		.size = page->size,
		.mode = page->mode,
		.flags = page->flags,
	};
	mmsb_stream_note(sb, it);
}

/**
 * mmsb_stream_page_created() - the page of mmsb_stream_page_creating() is in
 * @sb: the bus's streams
 * @page: the page
 * @err: 0, or why it could not enter the table: its CREATE, if sent, is
 *	followed by a FREE
 *
 * Context: process context, sleeps; releases the stream lock.
 */
void mmsb_stream_page_created(struct mmsb_stream_bus *sb,
			      struct mmsb_page *page, int err)
{
	struct mmsb_stream_item *it;

	if (err && sb->nr) {
		/* Not in the table: no tick saw it, nothing to wait for. */
		it = kzalloc(sizeof(*it), GFP_KERNEL);
		if (it) {
			it->page = mmsb_page_hold(page);
			it->rec.size = MMSB_REC_BYTES;
			it->rec.type = MMSB_REC_FREE;
			it->rec.page_id = page->id;
			it->rec.epoch = page->epoch;
			it->rec.tick = sb->tick_done;
			mmsb_stream_emit(sb, it);
			mmsb_stream_item_free(it);
		} else {
			mmsb_stream_note_lost(sb, page, NULL);
		}
	}
	mutex_unlock(&sb->lock);
}

/**
 * mmsb_stream_page_freed() - a page left the table
 * @sb: the bus's streams
 * @page: the page, no longer live, held by the caller
 *
 * MMSB_REC_FREE, with the page's last epoch, after every record of its
 * deltas (stream.c, "Ordering").
 *
 * Context: process context, sleeps; the page table's "freed" hook.
 */
void mmsb_stream_page_freed(struct mmsb_stream_bus *sb,
			    struct mmsb_page *page)
{
	struct mmsb_stream_item *it;

	if (!READ_ONCE(sb->nr))
		return;
	it = mmsb_stream_item_new(MMSB_REC_FREE, page, NULL, 0);
	mutex_lock(&sb->lock);
	if (it) {
		/* Read again if the record waits for a tick's end. */
		it->rec.epoch = READ_ONCE(page->epoch);
		mmsb_stream_note(sb, it);
	} else {
		mmsb_stream_note_lost(sb, page, NULL);
	}
	mutex_unlock(&sb->lock);
}

/**
 * mmsb_stream_edge() - an edge was added or deleted
 * @sb: the bus's streams
 * @from: its source page
 * @to: its dependent page
 * @kind: MMSB_EDGE_*
 * @add: added, else deleted
 *
 * Reported to the streams that report both pages.
 *
 * Context: process context, sleeps; under the graph's lock, so the
 * records are in the graph's order (propagation's edge hook).
 */
void mmsb_stream_edge(struct mmsb_stream_bus *sb, struct mmsb_page *from,
		      struct mmsb_page *to, u32 kind, bool add)
{
	struct mmsb_stream_item *it;

	if (!READ_ONCE(sb->nr))
		return;
	it = mmsb_stream_item_new(add ? MMSB_REC_EDGE_ADD : MMSB_REC_EDGE_DEL,
				  from, to, sizeof(it->data.edge));
	mutex_lock(&sb->lock);
	if (it) {
		it->data.edge = (struct mmsb_edge) {
			.from = from->id,
			.to = to->id,
			.kind = kind,
		};
		mmsb_stream_note(sb, it);
	} else {
		mmsb_stream_note_lost(sb, from, to);
	}
	mutex_unlock(&sb->lock);
}

/**
 * mmsb_stream_tick_begin() - a tick starts capturing
 * @sb: the bus's streams, mmsb_stream_active()
 *
 * From now until mmsb_stream_tick_end(), FREE and edge records wait for
 * the tick's records.  Before the tick takes any delta.
 *
 * Context: the tick (its run lock held), sleeps.
 * Return: the capture state.
 */
struct mmsb_stream_tick *mmsb_stream_tick_begin(struct mmsb_stream_bus *sb)
{
	struct mmsb_stream_tick *st = &sb->cap;
	struct mmsb_stream *s;

	mutex_lock(&sb->lock);
	sb->in_tick = true;
	st->budget = 0;
	list_for_each_entry(s, &sb->streams, node)
		st->budget = max_t(size_t, st->budget, s->size);
	mutex_unlock(&sb->lock);
	atomic_long_set(&st->staged, 0);
	st->lost = false;
	st->head = NULL;
	st->tail = &st->head;
	return st;
}

/**
 * mmsb_stream_seg_new() - staging for one page's records
 * @st: the tick's capture state
 * @page: the page, held by the caller for the tick; the segment holds it
 *	too, until the publish
 * @bytes: room for its records, mmsb_stream_rec_bytes() of each
 *
 * One atomic add against the tick's budget and one allocation per page,
 * none per record.
 *
 * Context: the thread applying @page (engine worker or the tick), no
 * lock held, may sleep.
 * Return: the segment, or NULL: the tick is lost (budget, memory).
 */
struct mmsb_stream_seg *mmsb_stream_seg_new(struct mmsb_stream_tick *st,
					    struct mmsb_page *page,
					    size_t bytes)
{
	struct mmsb_stream_seg *seg;

	if (READ_ONCE(st->lost))
		return NULL;
	if (atomic_long_add_return(bytes, &st->staged) > st->budget)
		goto lost;
	/* The tick's own memory, for one tick: not a user's to be charged. */
	seg = kvmalloc(struct_size(seg, data, bytes), GFP_KERNEL | __GFP_NOWARN);
	if (!seg)
		goto lost;
	seg->next = NULL;
	seg->page = mmsb_page_hold(page);
	seg->used = 0;
	seg->size = bytes;
	return seg;
lost:
	/* Any thread may set it; publish reads it after the job's end. */
	WRITE_ONCE(st->lost, true);
	return NULL;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_stream_seg_new);

/**
 * mmsb_stream_seg_stamp() - the page's epoch after the tick, on its records
 * @seg: the segment
 * @from: offset in @seg->data of the first record to stamp
 * @epoch: the epoch its write section committed
 */
void mmsb_stream_seg_stamp(struct mmsb_stream_seg *seg, size_t from,
			   u64 epoch)
{
	struct mmsb_stream_record *rec;

	for (; from < seg->used; from += rec->size) {
		rec = (void *)(seg->data + from);
		rec->epoch = epoch;
	}
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_stream_seg_stamp);

/**
 * mmsb_stream_seg_add() - append a segment to the tick's
 * @st: the tick's capture state
 * @seg: the segment, or NULL
 *
 * Context: the thread running the tick.
 */
void mmsb_stream_seg_add(struct mmsb_stream_tick *st,
			 struct mmsb_stream_seg *seg)
{
	if (!seg)
		return;
	*st->tail = seg;
	st->tail = &seg->next;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_stream_seg_add);

/**
 * mmsb_stream_tick_collect() - take an engine job's segments, in order
 * @st: the tick's capture state
 * @nr: pages of the job: @st->slots[0 .. @nr)
 *
 * Context: the thread running the tick, after the job completed (the
 * engine's completion orders the workers' writes before this).
 */
void mmsb_stream_tick_collect(struct mmsb_stream_tick *st, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		mmsb_stream_seg_add(st, st->slots[i]);
		st->slots[i] = NULL;
	}
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_stream_tick_collect);

/* Records in a segment. */
static u64 mmsb_stream_seg_records(const struct mmsb_stream_seg *seg)
{
	const struct mmsb_stream_record *rec;
	size_t off;
	u64 n = 0;

	for (off = 0; off < seg->used; off += rec->size, n++)
		rec = (const void *)(seg->data + off);
	return n;
}

/* The tick's records into one stream, whole or not at all. */
static void mmsb_stream_tick_put(struct mmsb_stream_bus *sb,
				 struct mmsb_stream *s,
				 const struct mmsb_stream_tick *st, u64 tick)
{
	struct mmsb_stream_record end = {
		.size = MMSB_REC_BYTES,
		.type = MMSB_REC_TICK,
		.tick = tick,
	};
	const struct mmsb_stream_seg *seg;
	u64 bytes = sizeof(end), records = 1;

	for (seg = st->head; seg; seg = seg->next) {
		if (!seg->used || !mmsb_stream_wants(s, seg->page))
			continue;
		bytes += seg->used;
		records += mmsb_stream_seg_records(seg);
	}
	if (!mmsb_stream_reserve(sb, s, bytes, tick, records, st->lost))
		return;
	for (seg = st->head; seg; seg = seg->next) {
		if (!seg->used || !mmsb_stream_wants(s, seg->page))
			continue;
		mmsb_stream_ring_put(s, s->prod, seg->data, seg->used);
		s->prod += seg->used;
	}
	mmsb_stream_ring_put(s, s->prod, &end, sizeof(end));
	s->prod += sizeof(end);
	mmsb_stream_publish(s);
}

/**
 * mmsb_stream_tick_end() - the publish phase: the tick's records go out
 * @sb: the bus's streams, after mmsb_stream_tick_begin()
 * @tick: the tick's number, or 0 if it took no delta (nothing to send)
 *
 * Every stream gets the tick's records it may see and MMSB_REC_TICK, or
 * loses the whole tick; then the FREE and edge records made during the
 * tick go out.  The staging is freed.
 *
 * Context: the tick, after propagation, before batches complete (a SYNC
 * submitter that returns finds its records readable); sleeps.
 */
void mmsb_stream_tick_end(struct mmsb_stream_bus *sb, u64 tick)
{
	struct mmsb_stream_tick *st = &sb->cap;
	struct mmsb_stream_item *it, *tmp;
	struct mmsb_stream_seg *seg;
	struct mmsb_stream *s;
	LIST_HEAD(done);

	mutex_lock(&sb->lock);
	if (tick) {
		list_for_each_entry(s, &sb->streams, node)
			mmsb_stream_tick_put(sb, s, st, tick);
		sb->tick_done = tick;
	}
	sb->in_tick = false;
	list_for_each_entry_safe(it, tmp, &sb->deferred, node) {
		list_move_tail(&it->node, &done);
		it->rec.tick = sb->tick_done;
		/* Its last epoch: the tick may have moved it. */
		if (it->rec.type == MMSB_REC_FREE)
			it->rec.epoch = READ_ONCE(it->page->epoch);
		mmsb_stream_emit(sb, it);
	}
	mutex_unlock(&sb->lock);

	list_for_each_entry_safe(it, tmp, &done, node)
		mmsb_stream_item_free(it);
	while ((seg = st->head)) {
		st->head = seg->next;
		mmsb_page_put(seg->page);
		kvfree(seg);
	}
	st->tail = &st->head;
}

/*
 * The ring is empty and an overflow is due: the reader made all the
 * room there is, so the overflow record goes in now, not at the next
 * tick (which may never come).
 */
static void mmsb_stream_repair(struct mmsb_stream *s)
{
	struct mmsb_stream_bus *sb = s->sb;

	mutex_lock(&sb->lock);
	if (s->lost && mmsb_stream_reserve(sb, s, 0, 0, 0, false))
		mmsb_stream_publish(s);
	mutex_unlock(&sb->lock);
}

/* Copy @len bytes from the ring at @pos to user memory. */
static int mmsb_stream_ring_get(struct mmsb_stream *s, u64 pos,
				char __user *dst, size_t len)
{
	size_t off = pos % s->size;
	size_t n = min_t(size_t, len, s->size - off);

	if (copy_to_user(dst, s->buf + off, n) ||
	    copy_to_user(dst + n, s->buf, len - n))
		return -EFAULT;
	return 0;
}

/* The header of the record at @pos, which may wrap. */
static void mmsb_stream_ring_peek(struct mmsb_stream *s, u64 pos,
				  struct mmsb_stream_record *rec)
{
	size_t off = pos % s->size;
	size_t n = min_t(size_t, sizeof(*rec), s->size - off);

	memcpy(rec, s->buf + off, n);
	memcpy((u8 *)rec + n, s->buf, sizeof(*rec) - n);
}

static bool mmsb_stream_readable(struct mmsb_stream *s)
{
	/* Pairs with smp_store_release() in mmsb_stream_publish(). */
	return smp_load_acquire(&s->head) != READ_ONCE(s->tail) ||
	       READ_ONCE(s->lost);
}

/*
 * read(): whole records, in order, as many as fit @count.  Blocks until
 * there is one unless O_NONBLOCK.  Returns the bytes read, -EINVAL when
 * the next record does not fit @count, -EAGAIN, -ERESTARTSYS, -EFAULT
 * (with nothing consumed: the records stay for the next read).
 */
static ssize_t mmsb_stream_read(struct file *file, char __user *buf,
				size_t count, loff_t *ppos)
{
	struct mmsb_stream *s = file->private_data;
	struct mmsb_stream_record rec;
	u64 head, tail;
	size_t done = 0;
	ssize_t ret = 0;

	if (count < sizeof(rec))
		return -EINVAL;
	if (mutex_lock_interruptible(&s->read_lock))
		return -ERESTARTSYS;
	tail = s->tail;
	for (;;) {
		/* Pairs with smp_store_release() in mmsb_stream_publish(). */
		head = smp_load_acquire(&s->head);
		if (head != tail)
			break;
		if (READ_ONCE(s->lost)) {
			mmsb_stream_repair(s);
			continue;
		}
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto unlock;
		}
		ret = wait_event_interruptible(s->wq, mmsb_stream_readable(s));
		if (ret)
			goto unlock;
	}
	while (tail != head) {
		mmsb_stream_ring_peek(s, tail, &rec);
		if (rec.size > count - done) {
			if (!done)
				ret = -EINVAL;
			break;
		}
		if (mmsb_stream_ring_get(s, tail, buf + done, rec.size)) {
			ret = -EFAULT;
			break;
		}
		done += rec.size;
		tail += rec.size;
	}
	/*
	 * Pairs with smp_load_acquire() in mmsb_stream_room(): our copies
	 * out of the ring are done before the producer reuses the room.
	 */
	smp_store_release(&s->tail, tail);
unlock:
	mutex_unlock(&s->read_lock);
	return done ? done : ret;
}

static __poll_t mmsb_stream_poll(struct file *file, poll_table *pt)
{
	struct mmsb_stream *s = file->private_data;

	/*
	 * poll_wait() queues us under the waitqueue's lock, which the
	 * producer's wake-up takes after it published @head: either we see
	 * the new @head below or it sees us queued.
	 */
	poll_wait(file, &s->wq, pt);
	return mmsb_stream_readable(s) ? EPOLLIN | EPOLLRDNORM : 0;
}

/* Take @s off its bus, if it was on, and free it. */
static void mmsb_stream_free(struct mmsb_stream *s)
{
	struct mmsb_stream_bus *sb = s->sb;

	if (s->listed) {
		/* Waits for a publish in progress: it holds the lock. */
		mutex_lock(&sb->lock);
		list_del(&s->node);
		WRITE_ONCE(sb->nr, sb->nr - 1);
		mutex_unlock(&sb->lock);
	}
	kvfree(s->buf);
	mmsb_page_table_uncharge(sb->pages, s->size);
	atomic64_sub(s->size, &sb->buffer_bytes);
	put_cred(s->cred);
	kvfree(s->ids);
	mutex_destroy(&s->read_lock);
	kfree(s);
}

static int mmsb_stream_release(struct inode *inode, struct file *file)
{
	mmsb_stream_free(file->private_data);
	return 0;
}

static const struct file_operations mmsb_stream_fops = {
	.owner		= THIS_MODULE,
	.read		= mmsb_stream_read,
	.poll		= mmsb_stream_poll,
	.release	= mmsb_stream_release,
	.llseek		= noop_llseek,
};

static int mmsb_stream_cmp_id(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * The page set of a stream: read once, sorted, duplicates folded, each
 * page readable by the opener (-ENOENT, -EACCES).
 */
static int mmsb_stream_set(struct mmsb_stream *s, struct mmsb_file *mf,
			   u64 uptr, u32 count)
{
	struct mmsb_page *page;
	u32 i, n = 0;

	s->ids = kvmalloc_array(count, sizeof(*s->ids), GFP_KERNEL_ACCOUNT);
	if (!s->ids)
		return -ENOMEM;
	if (copy_from_user(s->ids, u64_to_user_ptr(uptr),
			   count * sizeof(*s->ids)))
		return -EFAULT;
	sort(s->ids, count, sizeof(*s->ids), mmsb_stream_cmp_id, NULL);
	for (i = 0; i < count; i++) {
		if (n && s->ids[n - 1] == s->ids[i])
			continue;
		page = mmsb_page_lookup(mf->table, s->ids[i], mf->cred,
					mf->admin, MMSB_MAY_READ);
		if (IS_ERR(page))
			return PTR_ERR(page);
		mmsb_page_put(page);
		s->ids[n++] = s->ids[i];
	}
	s->nr_ids = n;
	return 0;
}

/* A stream, not yet open: checked arguments, its buffer charged. */
static struct mmsb_stream *mmsb_stream_new(struct mmsb_stream_bus *sb,
					   struct mmsb_file *mf,
					   const struct mmsb_stream_open *so,
					   u32 size)
{
	struct mmsb_stream *s;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	s->sb = sb;
	s->cred = get_cred(mf->cred);
	s->admin = mf->admin;
	s->all = so->flags & MMSB_STREAM_ALL;
	mutex_init(&s->read_lock);
	init_waitqueue_head(&s->wq);
	if (!s->all) {
		ret = mmsb_stream_set(s, mf, so->page_ids, so->count);
		if (ret)
			goto free;
	}
	ret = mmsb_page_table_charge(sb->pages, size);
	if (ret)
		goto free;
	s->buf = kvmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!s->buf) {
		mmsb_page_table_uncharge(sb->pages, size);
		ret = -ENOMEM;
		goto free;
	}
	s->size = size;
	atomic64_add(size, &sb->buffer_bytes);
	return s;

free:
	put_cred(s->cred);
	kvfree(s->ids);
	mutex_destroy(&s->read_lock);
	kfree(s);
	return ERR_PTR(ret);
}

/*
 * Start @s: from the next tick on, with no tick running (so @tick, the
 * last one completed, is exact).
 */
static int mmsb_stream_start(struct mmsb_stream_bus *sb,
			     struct mmsb_stream *s, u64 *tick)
{
	u64 last;

	if (mmsb_tick_pause(sb->tick, &last))
		return -ERESTARTSYS;
	/* The engine's slots, once, while no tick can look at them. */
	if (!sb->cap.slots) {
		sb->cap.slots = kvcalloc(sb->cap.nr_slots,
					 sizeof(*sb->cap.slots), GFP_KERNEL);
		if (!sb->cap.slots) {
			mmsb_tick_resume(sb->tick);
			return -ENOMEM;
		}
	}
	mutex_lock(&sb->lock);
	if (!sb->nr)
		sb->tick_done = last;
	list_add_tail(&s->node, &sb->streams);
	s->listed = true;
	WRITE_ONCE(sb->nr, sb->nr + 1);
	*tick = sb->tick_done;
	mutex_unlock(&sb->lock);
	mmsb_tick_resume(sb->tick);
	atomic64_inc(&sb->opened);
	return 0;
}

/**
 * mmsb_stream_open_ioctl() - MMSB_IOC_STREAM_OPEN
 * @sb: the bus's streams
 * @mf: the open bus file: its credentials decide what the stream sees
 * @uarg: struct mmsb_stream_open
 *
 * Context: process context, sleeps (waits for a running tick to end).
 * Return: the new file descriptor; -EINVAL (flags, count, pad, reserved,
 * buffer size, page_ids with MMSB_STREAM_ALL), -ENOENT or -EACCES (a
 * listed page), -ENOMEM (memory limit), -EMFILE, -EFAULT.
 */
long mmsb_stream_open_ioctl(struct mmsb_stream_bus *sb, struct mmsb_file *mf,
			    void __user *uarg)
{
	struct mmsb_stream_open so;
	struct mmsb_stream *s;
	struct file *file;
	u32 size;
	int fd, ret;

	if (copy_from_user(&so, uarg, sizeof(so)))
		return -EFAULT;
	if (so.flags & ~MMSB_STREAM_FLAGS_ALL || so.pad ||
	    memchr_inv(so.reserved, 0, sizeof(so.reserved)))
		return -EINVAL;
	if (so.flags & MMSB_STREAM_ALL ? so.count || so.page_ids :
	    !so.count || so.count > MMSB_STREAM_PAGES_MAX)
		return -EINVAL;
	size = so.buffer_bytes ? so.buffer_bytes : MMSB_STREAM_BUFFER_DEFAULT;
	if (size < 4096 || size > MMSB_STREAM_BUFFER_MAX)
		return -EINVAL;
	/* Records are 8-aligned: so is the ring. */
	size = round_down(size, 8);

	s = mmsb_stream_new(sb, mf, &so, size);
	if (IS_ERR(s))
		return PTR_ERR(s);
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto release;
	}
	file = anon_inode_getfile("[mmsb-stream]", &mmsb_stream_fops, s,
				  O_RDONLY);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto put_fd;
	}
	/* From here on, fput() releases the stream. */
	ret = mmsb_stream_start(sb, s, &so.tick);
	if (!ret && copy_to_user(uarg, &so, sizeof(so)))
		ret = -EFAULT;
	if (ret) {
		fput(file);
		put_unused_fd(fd);
		return ret;
	}
	fd_install(fd, file);
	return fd;

put_fd:
	put_unused_fd(fd);
release:
	mmsb_stream_free(s);
	return ret;
}
