/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb batches: the memory queued deltas live in, and the outcome of a
 * submission that its submitter waits for.  This file and batch.c own
 * both; submit.c and uring.c fill them, the tick drains and retires them.
 *
 * Chunks.  A submission writes its deltas (struct mmsb_kdelta records,
 * delta.h) one after the other into chunks of MMSB_CHUNK_SIZE bytes
 * taken from a per-device pool and given back to it after the tick: no
 * allocation (and, with init_on_alloc, no zeroing) per call once the
 * pool is warm.  A record too big for a pooled chunk gets a chunk of its
 * own, whole pages from vmalloc() (kmalloc() would hold up to twice
 * its size past what is charged), freed after its tick.  A chunk is one entry of the delta ring.
 * Each chunk holds one reference on every distinct page its records
 * address (@pages), taken with the first record of that page, so a
 * delta costs no reference count of its own.  A chunk's bytes are
 * charged to the memory limit from the moment a submission takes it
 * until it goes back to the pool.
 *
 * Batches.  A submission whose outcome is awaited (a SYNC ioctl, every
 * io_uring command) has a batch.  It lives in the submission's first
 * chunk, and keeps all the submission's chunks after the tick has
 * retired them, so the results stay in the records (status, epoch) until
 * the owner copied them out with mmsb_batch_report(): there is no
 * separate results array.  The batch completes at the end of the tick
 * that handled its last delta, after propagation.
 */
#ifndef _MMSB_BATCH_H
#define _MMSB_BATCH_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/llist.h>
#include <linux/refcount.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include <linux/mmsb.h>

struct mmsb_kdelta;
struct mmsb_page;
struct mmsb_page_table;

/*
 * Pooled chunks come in five sizes, header included, so that a call
 * of a few deltas does not hold 64 KiB (a 64-byte delta takes 120 bytes,
 * and each distinct page a pointer): a submission takes the smallest
 * that holds it, or the largest.  Every chunk costs a reservation, a
 * ring entry, a reference per distinct page and a write-back window: a
 * chunk of 64 KiB (some 540 small deltas) makes that some 6 instructions
 * a delta, one of 16 KiB 25.  A call of 256 small deltas fits 32 KiB.
 * A call that finds the pool empty allocates its chunk (and with
 * init_on_alloc zeroes it), so the pool keeps what a producer queues
 * between two ticks: up to MMSB_CHUNK_CACHE_BUSY_BYTES of each size while
 * the bus is busy.  Calls of 64 deltas queued some 60 chunks of 16 KiB
 * between two ticks of 1 ms (the default period) under icount in make
 * bench, and over 100 when the tick's thread waited for a CPU: with a
 * pool of 64 every such call zeroed a new chunk, 220 instructions a
 * delta.  Once no chunk was taken for MMSB_CHUNK_TRIM_DELAY_MS, the
 * pool goes back down to MMSB_CHUNK_CACHE_BYTES of each size, what an
 * idle bus keeps: 512, 256, 64, 32 and 16 chunks (a delayed work that
 * mmsb_chunk_put() queues when the pool holds more).  Not sooner: a
 * producer whose calls the tick keeps up with leaves it nothing queued
 * at the end of many ticks, and trimming then would free the chunks its
 * next calls need, in bursts of page frees that would land on some
 * unrelated call.  A second, not less: with 100 ms the pool was trimmed
 * between two rows of make bench (a queue set up, a warm-up) and the
 * next row zeroed its chunks again (14 instructions a delta).
 */
#define MMSB_CHUNK_CLASSES	5
#define MMSB_CHUNK_LARGE	(64 * 1024)
#define MMSB_CHUNK_CACHE_BYTES	SZ_1M
#define MMSB_CHUNK_CACHE_BUSY_BYTES	SZ_8M
#define MMSB_CHUNK_TRIM_DELAY_MS	1000

struct mmsb_batch;
struct mmsb_delta_ctx;

/**
 * struct mmsb_batch - a submission whose outcome is awaited
 * @ref: the owner's reference and the tick's (dropped when it ended)
 * @pending: deltas queued and not yet handled, plus one until armed
 * @chunks: the submission's chunks, in order (via ->bnext); the first
 *	one holds this struct and goes last
 * @last: the last of @chunks
 * @ctx: where the batch waits for the end of its tick
 * @end_node: on @ctx->ended once its last delta was handled
 * @done: called once at the end of that tick (mmsb_batch_end_all()),
 *	after propagation; NULL completes @completion
 * @priv: for @done
 * @completion: what a waiting owner sleeps on
 */
struct mmsb_batch {
	refcount_t ref;
	atomic_t pending;
	struct mmsb_chunk *chunks;
	struct mmsb_chunk *last;
	struct mmsb_delta_ctx *ctx;
	struct llist_node end_node;
	void (*done)(struct mmsb_batch *batch);
	void *priv;
	struct completion completion;
};

/**
 * struct mmsb_chunk - queued deltas, one ring entry
 * @next: the pool's free list, or the tick's list of drained chunks, or
 *	the next chunk of records handed to a tick (mmsb_tick_run_handed())
 * @bnext: the next chunk of the same batch
 * @batch: the batch the records report to, or NULL
 * @size: bytes of @mem
 * @used: bytes of @mem holding records
 * @nr: records
 * @pos: offset in @mem of the next record the tick takes (tick only)
 * @taken: records the tick took so far (tick only)
 * @done: records whose outcome the tick reported (tick only)
 * @nr_pages: pages the chunk holds, listed at the end of @mem
 * @last_index: the last record's index in its submission
 * @seq: the chunk's number from its page cache (submitter only)
 * @atomic: the records are an MMSB_SUBMIT_ATOMIC submission: the tick
 *	takes them together, checked before any applies
 * @bspace: the batch, when this is the first chunk of a batch
 * @mem: the records, back to back, each 8-byte aligned, from the start;
 *	the held pages from the end (@size is a multiple of 8)
 */
struct mmsb_chunk {
	struct mmsb_chunk *next;
	struct mmsb_chunk *bnext;
	struct mmsb_batch *batch;
	u32 size;
	u32 used;
	u32 nr;
	u32 pos;
	u32 taken;
	u32 done;
	u32 nr_pages;
	u32 last_index;
	u64 seq;
	bool atomic;
	struct mmsb_batch bspace;
	u8 mem[] __aligned(8);
};

/* The pages a chunk holds: @c->nr_pages pointers at the end of @mem. */
static inline struct mmsb_page **mmsb_chunk_pages(struct mmsb_chunk *c)
{
	return (struct mmsb_page **)(c->mem + c->size) - c->nr_pages;
}

/* Bytes of @mem neither records nor the page list use. */
static inline u32 mmsb_chunk_room(const struct mmsb_chunk *c)
{
	return c->size - c->used - c->nr_pages * sizeof(struct mmsb_page *);
}

/**
 * mmsb_chunk_init_handed() - set up a chunk of records handed to a tick
 * @c: a chunk header with @size bytes of @mem after it, not the pool's
 * @size: bytes of @mem
 *
 * For records their submitters hand the tick (mmsb_tick_run_handed())
 * instead of queueing them: no batch, no page list (each record
 * references its page: mmsb_delta_read_one()) and no charge.  Records
 * are added at @used, taken by the tick from @pos.  A chunk from
 * mmsb_chunk_get() is such a chunk as it comes, charged, its page list
 * holding its records' pages (mmsb_submit_hand()).
 */
static inline void mmsb_chunk_init_handed(struct mmsb_chunk *c, u32 size)
{
	c->next = NULL;
	c->batch = NULL;
	c->size = size;
	c->used = 0;
	c->nr = 0;
	c->pos = 0;
	c->taken = 0;
	c->nr_pages = 0;
	c->atomic = false;
}

/* Record bytes a pooled chunk of @size holds. */
#define MMSB_CHUNK_MEM(size)	((size) - sizeof(struct mmsb_chunk))

/**
 * struct mmsb_delta_ctx - submission state of a device
 * @pages: page table: lookups and the memory limit
 * @next_id: last delta id handed out
 * @bytes: bytes of chunks holding queued deltas (charged to the limit)
 * @submitted: deltas accepted since load
 * @rejected: deltas refused at validation since load
 * @ended: batches whose deltas were all handled, for the end of the tick
 * @pool_lock: protects @pool and @pool_nr
 * @pool: free chunks by size class (small, large), via ->next
 * @pool_nr: entries of each list of @pool
 * @trim_work: gives @pool back to what an idle bus keeps
 * @last_take: jiffies when a chunk was last taken (mmsb_chunk_get())
 */
struct mmsb_delta_ctx {
	struct mmsb_page_table *pages;
	atomic64_t next_id;
	atomic64_t bytes;
	atomic64_t submitted;
	atomic64_t rejected;
	struct llist_head ended;
	spinlock_t pool_lock;	/* @pool, @pool_nr */
	struct mmsb_chunk *pool[MMSB_CHUNK_CLASSES];
	unsigned int pool_nr[MMSB_CHUNK_CLASSES];
	struct delayed_work trim_work;
	unsigned long last_take;
};

void mmsb_delta_ctx_init(struct mmsb_delta_ctx *ctx,
			 struct mmsb_page_table *pages);
void mmsb_delta_ctx_destroy(struct mmsb_delta_ctx *ctx);
u64 mmsb_delta_ctx_pool_bytes(struct mmsb_delta_ctx *ctx);
int mmsb_delta_charge(struct mmsb_delta_ctx *ctx, size_t bytes);
void mmsb_delta_uncharge(struct mmsb_delta_ctx *ctx, size_t bytes);

struct mmsb_chunk *mmsb_chunk_get(struct mmsb_delta_ctx *ctx, size_t need,
				  size_t want);
void mmsb_chunk_truncate(struct mmsb_chunk *c, u32 nr);
void mmsb_chunk_retire(struct mmsb_delta_ctx *ctx, struct mmsb_chunk *c);
void mmsb_chunk_drop_pages(struct mmsb_chunk *c);
void mmsb_chunk_put(struct mmsb_delta_ctx *ctx, struct mmsb_chunk *c);

void mmsb_batch_init(struct mmsb_batch *batch, struct mmsb_delta_ctx *ctx);
void mmsb_batch_add_chunk(struct mmsb_batch *batch, struct mmsb_chunk *c);
void mmsb_batch_arm(struct mmsb_batch *batch);
void mmsb_batch_handled(struct mmsb_batch *batch, u32 n);
void mmsb_batch_put(struct mmsb_batch *batch);
void mmsb_batch_abandon(struct mmsb_batch *batch);
void mmsb_batch_end_all(struct mmsb_delta_ctx *ctx);
/*
 * unsafe_put_user() of a delta's three outputs, inside a user-access
 * window for @u that allows writes.  Inlined, its fault exit becomes a
 * jump to the caller's.  Returns 0 or -EFAULT.
 */
static __always_inline int mmsb_delta_unsafe_put(struct mmsb_delta __user *u,
						 u64 id, s32 status, u64 epoch)
{
	unsafe_put_user(id, &u->delta_id, efault);
	unsafe_put_user(status, &u->status, efault);
	unsafe_put_user(epoch, &u->epoch, efault);
	return 0;
efault:
	return -EFAULT;
}

/* The pending outputs a submission claims its deltas with. */
static __always_inline int
mmsb_delta_unsafe_put_pending(struct mmsb_delta __user *u)
{
	return mmsb_delta_unsafe_put(u, 0, -EINPROGRESS, 0);
}

/**
 * mmsb_delta_put_result() - write a delta's outputs back to its caller
 * @u: the caller's struct mmsb_delta
 * @id: delta_id: the id, or 0 if the delta was not queued
 * @status: status: 0 or a negative errno
 * @epoch: epoch: the page's epoch after the tick (awaited deltas) or 0
 *
 * The only three fields mmsb writes; each is written once per call.
 *
 * Context: process context with the caller's mm.
 * Return: 0 or -EFAULT.
 */
static inline int mmsb_delta_put_result(struct mmsb_delta __user *u, u64 id,
					s32 status, u64 epoch)
{
	if (!user_write_access_begin(u, sizeof(*u)))
		return -EFAULT;
	if (mmsb_delta_unsafe_put(u, id, status, epoch))
		goto efault;
	user_write_access_end();
	return 0;
efault:
	user_write_access_end();
	return -EFAULT;
}

int mmsb_records_put_results(struct mmsb_kdelta *kd, u32 nr, u32 last_index,
			     struct mmsb_delta __user *uptr, bool ended,
			     u32 *applied);
int mmsb_chunk_put_results(struct mmsb_chunk *c,
			   struct mmsb_delta __user *uptr, bool ended,
			   u32 *applied);
int mmsb_batch_report(struct mmsb_batch *batch,
		      struct mmsb_delta __user *uptr, bool ended,
		      u32 *applied);

#endif /* _MMSB_BATCH_H */
