/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb pages: kernel memory mapped read-only into user space.
 *
 * A page is one vmalloc() area, charged to its creator's memory cgroup:
 * a struct mmsb_page_header, then the data at MMSB_PAGE_DATA_OFFSET,
 * rounded up to whole PAGE_SIZE frames so it can be mapped.  The struct
 * mmsb_page around it is the kernel's own view and is never mapped.
 *
 * Lifetime: a page is reference counted.  The page table holds one
 * reference from create to free; every mapping (VMA), every queued delta
 * and every lookup in progress holds one more.  MMSB_IOC_PAGE_FREE takes
 * the id out of the table at once, so later lookups fail with -ENOENT;
 * the memory goes with the last reference.
 *
 * Reclaim: in a table with a reclaim hook (mmsb_page_table_set_reclaim(),
 * what the device does) the last put only moves the page onto the
 * table's reclaim list, a lock-free llist, and calls the hook; the
 * monitor's GC frees it later from the tick, a bounded batch per tick
 * (mmsb_page_reclaim()), and a create that hits the limit reclaims
 * directly what it needs.  Its bytes stay charged until then.  Without
 * a hook (tables used alone, as in KUnit) the last put frees at once.
 *
 * Contexts: every function here may sleep except mmsb_page_hold(),
 * mmsb_page_get() and the write section.  mmsb_page_put() frees the
 * memory when it drops the last reference of a table without a reclaim
 * hook, so there it must not be called with a spinlock held or
 * preemption disabled in process context (it says so with
 * might_sleep()); with a hook it never sleeps.
 */
#ifndef _MMSB_PAGE_H
#define _MMSB_PAGE_H

#include <linux/cred.h>
#include <linux/llist.h>
#include <linux/minmax.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include <linux/mmsb.h>

#include "dirty.h"

struct mmsb_page_table;
struct mmsb_kdelta;

/**
 * struct mmsb_page - one page of state
 * @id: page id, never reused while the module is loaded
 * @ref: references, see the file comment
 * @size: data bytes
 * @map_size: bytes of the mapping (header and data, page aligned)
 * @hdr: the header at the start of @hdr's vmalloc area, seen by readers
 * @data: @size bytes of data right after the header
 * @uid: owner
 * @gid: owner group
 * @mode: permission bits (0777 at most)
 * @flags: MMSB_PAGE_* flags given at create
 * @epoch: current epoch; written only by the tick (under the page's
 *	write section), read anywhere with READ_ONCE()
 * @last_delta_id: id of the last delta applied, written like @epoch
 * @changed_tick: number of the last tick that moved @epoch (the epoch
 *	rule, mmsb_page_write_commit())
 * @live: cleared (under the table lock) when the page is freed
 * @waitq: MMSB_IOC_WAIT, poll and io_uring waiters for an epoch change
 * @rcu: frees the struct after lockless lookups are done with it
 * @table: the table the page's bytes are charged to
 * @reclaim: entry on the table's reclaim list after the last put
 * @tick: the tick's (tick_queue.c, engine.c): @tick.first and @tick.last
 *	are the deltas linked onto the page for the chunk being applied,
 *	which the orchestrator links and the one worker that applies the
 *	page reads and clears; @tick.mark is the last atomic submission
 *	whose check saw the page
 * @prop: propagation's (propagate.c): @prop.dirty holds the bytes the
 *	tick numbered @prop.tick changed, and @prop.next links the pages it
 *	changed, each held, until propagation takes them
 * @gc: the monitor's (monitor.c): @gc.epoch is @epoch when it last
 *	looked, @gc.stamp the monitor run that first saw @gc.epoch (0 =
 *	never looked)
 * @sq: the mapped queues' (sq_apply.c), while a tick applies SQEs in place:
 *	@sq.round is the number of the last round that took a reference on
 *	the page (struct mmsb_sq_list's @round), @sq.writing says that
 *	round opened the page's write section,
 *	@sq.epoch is the page's epoch after the tick and @sq.last_id the id
 *	of the last delta the round applied to it
 *
 * Everything before @tick is page.c's.  The tick owns the page's
 * contents: one thread at a time changes @data between
 * mmsb_page_write_begin() and mmsb_page_write_commit().
 */
struct mmsb_page {
	u64 id;
	refcount_t ref;
	size_t size;
	size_t map_size;
	struct mmsb_page_header *hdr;
	u8 *data;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	u32 flags;
	u64 epoch;
	u64 last_delta_id;
	u64 changed_tick;
	bool live;
	wait_queue_head_t waitq;
	struct rcu_head rcu;
	struct mmsb_page_table *table;
	struct llist_node reclaim;

	struct {
		struct mmsb_kdelta *first;
		struct mmsb_kdelta *last;
		u64 mark;
	} tick;
	struct {
		u64 tick;
		struct mmsb_page *next;
		struct mmsb_dirty dirty;
	} prop;
	struct {
		u64 epoch;
		u64 stamp;
	} gc;
	struct {
		u64 round;
		u64 epoch;
		u64 last_id;
		bool writing;
	} sq;
};

/**
 * struct mmsb_page_table - all pages of the device
 * @xa: id -> struct mmsb_page, lookups under RCU
 * @erased: pages erased from @xa so far, written under its lock before
 *	the table's reference is dropped (mmsb_page_table_erased())
 * @next_id: last id handed out (ids start at 1)
 * @pages: live pages
 * @bytes: bytes held by pages, live or waiting for their last reference
 * @charged: bytes charged to the limit: @bytes and what others charge
 *	through mmsb_page_table_charge() (queued deltas); the one account
 *	the memory limit is checked against
 * @limit: bytes @charged may reach
 * @max_size: largest page, bytes
 * @structs: struct mmsb_page allocated, live or waiting to be freed
 * @reclaim: pages whose last reference is gone, pushed by any context
 * @reclaim_pending: pages on @reclaim and @backlog
 * @reclaim_bytes: their mapping sizes: memory already freed that GC has
 *	yet to release, counted in @bytes until then
 * @reclaim_lock: serialises the consumers of @reclaim (GC, direct
 *	reclaim of a create, table destroy) and protects @backlog
 * @backlog: pages taken off @reclaim and not yet freed, oldest first
 * @notify: reclaim hook, called when @reclaim turns non-empty, or NULL
 * @notify_arg: for @notify
 * @freed: "page freed" hook, called with every page taken out of the
 *	table by mmsb_page_free(), or NULL
 * @freed_arg: for @freed
 * @creating: "page created" hook, called with a new page before it
 *	enters the table, or NULL; @created follows it in any case
 * @created: called once the page is in the table, or failed to enter
 *	it (with the error), or NULL
 * @created_arg: for @creating and @created
 *
 * Evictable pages carry MMSB_PAGE_XA_EVICTABLE in @xa, so the monitor
 * walks them without looking at the others.
 */
struct mmsb_page_table {
	struct xarray xa;
	unsigned long erased;
	atomic64_t next_id;
	atomic64_t pages;
	atomic64_t bytes;
	atomic64_t charged;
	u64 limit;
	size_t max_size;
	atomic64_t structs;
	struct llist_head reclaim;
	atomic64_t reclaim_pending;
	atomic64_t reclaim_bytes;
	struct mutex reclaim_lock;	/* consumers of @reclaim, @backlog */
	struct llist_node *backlog;
	void (*notify)(void *arg);
	void *notify_arg;
	void (*freed)(void *arg, struct mmsb_page *page);
	void *freed_arg;
	void (*creating)(void *arg, struct mmsb_page *page);
	void (*created)(void *arg, struct mmsb_page *page, int err);
	void *created_arg;
};

/*
 * Pages a create that hits the limit frees per step of its direct
 * reclaim, until its own bytes fit.
 */
#define MMSB_PAGE_RECLAIM_DIRECT	32

/* xarray mark of the pages created with MMSB_PAGE_EVICTABLE. */
#define MMSB_PAGE_XA_EVICTABLE	XA_MARK_1

/* Access wanted, as for inode permissions. */
#define MMSB_MAY_READ	0x4
#define MMSB_MAY_WRITE	0x2

/*
 * Largest page id: its mmap offset (id << PAGE_SHIFT) must fit a
 * positive off_t, and the id must fit an xarray index.  Creating more
 * pages than this fails with -ENOSPC (ids are never reused).
 */
#define MMSB_PAGE_ID_MAX \
	((u64)min_t(u64, ULONG_MAX, (1ULL << (63 - PAGE_SHIFT)) - 1))

int mmsb_page_table_init(struct mmsb_page_table *t, u64 limit,
			 size_t max_size);
void mmsb_page_table_destroy(struct mmsb_page_table *t);
void mmsb_page_table_set_reclaim(struct mmsb_page_table *t,
				 void (*notify)(void *arg), void *arg);
void mmsb_page_table_set_freed(struct mmsb_page_table *t,
			       void (*freed)(void *arg, struct mmsb_page *page),
			       void *arg);
void mmsb_page_table_set_created(struct mmsb_page_table *t,
				 void (*creating)(void *arg,
						  struct mmsb_page *page),
				 void (*created)(void *arg,
						 struct mmsb_page *page,
						 int err),
				 void *arg);
unsigned int mmsb_page_reclaim(struct mmsb_page_table *t, unsigned int max,
			       u64 deadline_ns, u64 *bytes);

int mmsb_page_table_charge(struct mmsb_page_table *t, u64 bytes);
void mmsb_page_table_uncharge(struct mmsb_page_table *t, u64 bytes);

/**
 * struct mmsb_page_restore - a page rebuilt as it was (MMSB_PAGE_RESTORE)
 * @id: the id to give it, above every id handed out
 * @epoch: its first epoch
 * @fill: writes its @size first data bytes into @dst, before the page
 *	is published; returns 0 or a negative errno (the entry point
 *	that copies them from user memory: -EFAULT)
 * @arg: for @fill
 */
struct mmsb_page_restore {
	u64 id;
	u64 epoch;
	int (*fill)(void *dst, size_t size, void *arg);
	void *arg;
};

struct mmsb_page *mmsb_page_create_restore(struct mmsb_page_table *t,
					   size_t size, umode_t mode,
					   u32 flags, const struct cred *cred,
					   const struct mmsb_page_restore *restore);

/**
 * mmsb_page_create() - create a zeroed page at epoch 0 with the next id
 * @t: the table
 * @size: data bytes, 1 to the table's max_size
 * @mode: permission bits, 0777 at most; 0 means MMSB_PAGE_MODE_DEFAULT
 * @flags: MMSB_PAGE_* flags
 * @cred: creator; the owner becomes its fsuid/fsgid
 *
 * Return: as mmsb_page_create_restore().
 */
static inline struct mmsb_page *mmsb_page_create(struct mmsb_page_table *t,
						 size_t size, umode_t mode,
						 u32 flags,
						 const struct cred *cred)
{
	return mmsb_page_create_restore(t, size, mode, flags, cred, NULL);
}

int mmsb_page_free(struct mmsb_page_table *t, u64 id,
		   const struct cred *cred, bool admin);

int mmsb_page_list(struct mmsb_page_table *t, u64 start, u64 *ids,
		   unsigned int max, u64 *next);

struct mmsb_page *mmsb_page_get(struct mmsb_page_table *t, u64 id);
struct mmsb_page *mmsb_page_lookup(struct mmsb_page_table *t, u64 id,
				   const struct cred *cred, bool admin, int may);
struct mmsb_page *mmsb_page_next(struct mmsb_page_table *t,
				 unsigned long *idx, xa_mark_t filter);

/**
 * mmsb_page_table_erased() - how many pages have left the table so far
 * @t: the table
 *
 * A page looked up after a read of this count keeps its struct (freed
 * with kfree_rcu() after its last reference) for as long as an RCU
 * read-side section sees the count unchanged: it cannot have lost the
 * table's reference.
 */
static inline unsigned long mmsb_page_table_erased(struct mmsb_page_table *t)
{
	/*
	 * Orders the caller's reads of the page after this one.  A page
	 * erased meanwhile has its kfree_rcu() queued after the count rose,
	 * so a read-side section that can overlap the free sees the new
	 * count.
	 */
	return smp_load_acquire(&t->erased);
}

void mmsb_page_put_last(struct mmsb_page *page);

/**
 * mmsb_page_put() - drop a reference; the last one releases the page
 * @page: the page, or NULL
 *
 * The last reference goes through mmsb_page_put_last(): with a reclaim
 * hook the page goes onto the reclaim list (any context, never sleeps);
 * without one it is freed at once, which may sleep (vfree()) in process
 * context.  Inline: every SYNC call of one delta and every chunk puts
 * pages.
 */
static inline void mmsb_page_put(struct mmsb_page *page)
{
	if (!page)
		return;
	might_sleep_if(!page->table->notify && !in_interrupt());
	if (refcount_dec_and_test(&page->ref))
		mmsb_page_put_last(page);
}

int mmsb_page_permission(const struct mmsb_page *page,
			 const struct cred *cred, bool admin, int may);

int mmsb_page_mmap(struct mmsb_page_table *t, struct vm_area_struct *vma,
		   const struct cred *cred, bool admin);

/* mmap offset of a page: the id in units of PAGE_SIZE. */
static inline u64 mmsb_page_mmap_offset(const struct mmsb_page *page)
{
	return page->id << PAGE_SHIFT;
}

/* Take one more reference on a page the caller already holds. */
static inline struct mmsb_page *mmsb_page_hold(struct mmsb_page *page)
{
	refcount_inc(&page->ref);
	return page;
}

/**
 * mmsb_page_write_begin() - open a page's write section
 * @page: the page, held by the caller
 *
 * Makes the header's sequence counter odd, so readers of the mapping
 * retry until the section closes (mmsb_page_write_commit(), or
 * mmsb_page_write_release() after mmsb_page_write_hold()).  One writer
 * at a time per page: the tick guarantees it (one page = one worker per
 * tick).  Inline: the engine opens a section for every page it changes.
 */
static inline void mmsb_page_write_begin(struct mmsb_page *page)
{
	struct mmsb_page_header *hdr = page->hdr;
	u32 seq = READ_ONCE(hdr->seq);

	WARN_ON_ONCE(seq & 1);
	WRITE_ONCE(hdr->seq, seq + 1);
	/*
	 * Odd seq before any data store.  Pairs with the acquire fence in
	 * mmsb_read_retry() (uapi): a reader that saw a new data byte sees
	 * seq changed on its second look.
	 */
	smp_wmb();
}

void mmsb_page_write_end(struct mmsb_page *page, u64 epoch,
			 u64 last_delta_id);

int mmsb_bus_header_mmap(struct mmsb_bus_header *bus,
			 struct vm_area_struct *vma);
/**
 * mmsb_bus_header_write_begin() - a tick starts writing pages
 * @bus: the bus header
 *
 * Makes tick_seq odd: readers of several mappings retry while it is
 * (mmsb_bus_read_begin()/mmsb_bus_read_retry() in the uapi).
 *
 * Context: the tick.
 */
static inline void mmsb_bus_header_write_begin(struct mmsb_bus_header *bus)
{
	WRITE_ONCE(bus->tick_seq, bus->tick_seq + 1);
	/*
	 * Odd before any page store.  Pairs with the acquire fence in
	 * mmsb_bus_read_retry() (uapi).
	 */
	smp_wmb();
}

/**
 * mmsb_bus_header_write_end() - the tick wrote its last page
 * @bus: the bus header
 * @tick: the tick's number, for the header's @tick
 *
 * Context: the tick.
 */
static inline void mmsb_bus_header_write_end(struct mmsb_bus_header *bus,
					     u64 tick)
{
	WRITE_ONCE(bus->tick, tick);
	/* Pairs with the acquire load in mmsb_bus_read_begin() (uapi). */
	smp_store_release(&bus->tick_seq, bus->tick_seq + 1);
}

/* Did tick @tick move the page's epoch already? (The epoch rule.) */
static inline bool mmsb_page_changed_in(const struct mmsb_page *page,
					u64 tick)
{
	return page->changed_tick == tick;
}

/*
 * The epoch the page has after tick @tick once that tick wrote it (the
 * epoch rule of mmsb_page_write_hold()).
 */
static inline u64 mmsb_page_epoch_written(const struct mmsb_page *page,
					  u64 tick)
{
	return page->epoch + !mmsb_page_changed_in(page, tick);
}

/* The header from the page's fields, then the even sequence. */
static inline void mmsb_page_publish(struct mmsb_page *page)
{
	struct mmsb_page_header *hdr = page->hdr;
	u32 seq = READ_ONCE(hdr->seq);

	WARN_ON_ONCE(!(seq & 1));
	WRITE_ONCE(hdr->epoch, page->epoch);
	WRITE_ONCE(hdr->last_delta_id, page->last_delta_id);
	/*
	 * Data and header before the even seq.  Pairs with the acquire
	 * load in mmsb_read_begin() (uapi): a reader that sees this seq
	 * sees everything written in the section.
	 */
	smp_store_release(&hdr->seq, seq + 1);
}

/**
 * mmsb_page_write_hold() - end a tick's writes on a page, section open
 * @page: the page, held by the caller, in its write section
 * @tick: the number of the tick writing it (never 0)
 * @last_delta_id: id of the last delta applied
 *
 * The epoch rule, in one place: a page's epoch rises once per tick that
 * changes it, however many deltas and edges change it in that tick.
 * The page gets its new epoch and @last_delta_id; its header, readers
 * and waiters do not yet: the section stays open, for propagation to
 * write the page too in the same tick, until mmsb_page_write_release().
 *
 * Context: the tick (one writer per page at a time).
 * Return: true if this was the page's first change in @tick.
 */
static inline bool mmsb_page_write_hold(struct mmsb_page *page, u64 tick,
					u64 last_delta_id)
{
	bool first = !mmsb_page_changed_in(page, tick);

	WRITE_ONCE(page->epoch, mmsb_page_epoch_written(page, tick));
	if (first)
		page->changed_tick = tick;
	WRITE_ONCE(page->last_delta_id, last_delta_id);
	return first;
}

/**
 * mmsb_page_write_release() - close a write section mmsb_page_write_hold()
 *	left open
 * @page: the page, held by the caller
 *
 * Publishes the page's epoch and last delta id in its header, makes the
 * sequence counter even and wakes the page's waiters.
 *
 * Context: the tick.
 */
static inline void mmsb_page_write_release(struct mmsb_page *page)
{
	mmsb_page_publish(page);
	/*
	 * wq_has_sleeper() starts with smp_mb(): orders the epoch store
	 * before the look at the queue; pairs with the barrier in
	 * set_current_state() of the waiters, who check the epoch after
	 * queueing.
	 */
	if (wq_has_sleeper(&page->waitq))
		wake_up_all(&page->waitq);
}

/**
 * mmsb_page_write_commit() - close a tick's write section on a page
 * @page: the page, held by the caller, in its write section
 * @tick: the number of the tick writing it (never 0)
 * @last_delta_id: id of the last delta applied
 *
 * mmsb_page_write_hold(), then mmsb_page_write_release().  Inline, as
 * mmsb_page_write_begin(): the engine closes a section for every page
 * it changes.
 *
 * Context: the tick (one writer per page at a time).
 * Return: true if this was the page's first change in @tick.
 */
static inline bool mmsb_page_write_commit(struct mmsb_page *page, u64 tick,
					  u64 last_delta_id)
{
	bool first = mmsb_page_write_hold(page, tick, last_delta_id);

	mmsb_page_write_release(page);
	return first;
}

/* Live pages of @t. */
static inline u64 mmsb_page_table_pages(struct mmsb_page_table *t)
{
	return atomic64_read(&t->pages);
}

/* Bytes held by pages of @t, including freed pages still referenced. */
static inline u64 mmsb_page_table_bytes(struct mmsb_page_table *t)
{
	return atomic64_read(&t->bytes);
}

/* Pages whose last reference is gone and whose memory is still held. */
static inline u64 mmsb_page_reclaim_pending(struct mmsb_page_table *t)
{
	return atomic64_read(&t->reclaim_pending);
}

/* Bytes of the pages of mmsb_page_reclaim_pending(). */
static inline u64 mmsb_page_reclaim_bytes(struct mmsb_page_table *t)
{
	return atomic64_read(&t->reclaim_bytes);
}

/* struct mmsb_page allocated in @t, live or not. */
static inline u64 mmsb_page_table_structs(struct mmsb_page_table *t)
{
	return atomic64_read(&t->structs);
}

#endif /* _MMSB_PAGE_H */
