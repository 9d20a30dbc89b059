/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb deltas: the kernel form of a submitted delta, its validation and
 * its application to page data, and the batch a SYNC submission (or an
 * io_uring command) waits on.
 *
 * A delta is one contiguous piece of memory: struct mmsb_kdelta, then
 * @len bytes of payload laid out at window positions, then for MASKED
 * deltas the bitmap.  SPARSE deltas are expanded to MASKED at
 * submission, so the apply path knows two forms only.  A queued delta
 * holds a reference on its page until it is applied or dropped.
 *
 * The deltas of one submission are carved out of shared blocks (struct
 * mmsb_dblock), up to MMSB_DBLOCK_MAX bytes each, freed with their last
 * delta: one allocation per few hundred small deltas instead of one per
 * delta.  A delta too big for a block gets a block of its own.
 */
#ifndef _MMSB_DELTA_H
#define _MMSB_DELTA_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/llist.h>
#include <linux/overflow.h>
#include <linux/refcount.h>
#include <linux/types.h>

#include <linux/mmsb.h>

struct mmsb_page;
struct mmsb_page_table;
struct mmsb_batch;

/* Largest shared delta block; bigger deltas get a block of their own. */
#define MMSB_DBLOCK_MAX		(64 * 1024)

/**
 * struct mmsb_dblock - memory shared by the deltas of a submission
 * @refs: deltas carved from it, plus one while the allocator uses it
 * @size: bytes of the allocation, charged to the memory limit
 * @used: bytes handed out so far (allocator only)
 * @mem: the deltas
 */
struct mmsb_dblock {
	atomic_t refs;
	size_t size;
	size_t used;
	u8 mem[] __aligned(8);
};

/**
 * struct mmsb_dalloc - hands out delta memory during one submission
 * @ctx: the submission state the blocks are charged to
 * @cur: the block being filled, or NULL
 * @hint: bytes the rest of the submission is expected to need
 */
struct mmsb_dalloc {
	struct mmsb_delta_ctx *ctx;
	struct mmsb_dblock *cur;
	size_t hint;
};

/**
 * struct mmsb_kdelta - a validated delta, owned by the ring then the tick
 * @page: target page; the delta holds a reference on it
 * @tick_next: next delta of the same page in this tick, in ring order;
 *	written and read only by the orchestrator and then the one worker
 *	that applies the page
 * @batch: batch to report the outcome to, or NULL (not SYNC)
 * @id: delta id, unique while the module is loaded
 * @expected_epoch: 0 = any, else the epoch the page must be at
 * @offset: window start in the page data
 * @len: window length, >= 1; @offset + @len <= page size
 * @block: the memory the delta lives in
 * @index: position in @batch
 * @status: outcome, set by the worker that handled it
 * @mask: NULL for DENSE, else (@len + 7) / 8 bytes of bitmap (bit i of
 *	byte i / 8, LSB first); bits past @len are zero
 * @data: @len payload bytes at window positions (only the masked ones
 *	matter for MASKED)
 */
struct mmsb_kdelta {
	struct mmsb_page *page;
	struct mmsb_kdelta *tick_next;
	struct mmsb_batch *batch;
	u64 id;
	u64 expected_epoch;
	size_t offset;
	size_t len;
	struct mmsb_dblock *block;
	u32 index;
	s32 status;
	u8 *mask;
	u8 data[];
};

/**
 * struct mmsb_delta_result - outcome of one delta of a batch
 * @epoch: page epoch after the tick that handled the delta
 * @status: 0 applied, -ESTALE conflict, -EIDRM page freed
 */
struct mmsb_delta_result {
	u64 epoch;
	s32 status;
};

/**
 * struct mmsb_batch - deltas of one submission whose outcome is awaited
 * @ref: one reference for the submitter, one while deltas are pending
 *	or the batch waits on @ctx->ended
 * @pending: deltas queued and not yet handled
 * @count: entries of @res
 * @ctx: where the batch waits for the end of its tick
 * @end_node: on @ctx->ended once its last delta was handled
 * @done: called once, at the end of the tick that handled the last
 *	delta (mmsb_delta_end_batches(), after propagation); the default
 *	completes @completion.  io_uring completes its CQE from here.
 * @priv: for @done
 * @completion: what a SYNC submitter waits on
 * @res: one result per delta of the submission
 */
struct mmsb_batch {
	refcount_t ref;
	atomic_t pending;
	u32 count;
	struct mmsb_delta_ctx *ctx;
	struct llist_node end_node;
	void (*done)(struct mmsb_batch *batch);
	void *priv;
	struct completion completion;
	struct mmsb_delta_result res[];
};

/**
 * struct mmsb_delta_ctx - shared state of submission
 * @pages: page table, for lookups and the memory limit
 * @next_id: last delta id handed out
 * @bytes: bytes held by queued deltas
 * @submitted: deltas accepted since load
 * @rejected: deltas refused at validation since load
 * @ended: batches whose deltas were all handled, for the end of the
 *	tick (mmsb_delta_end_batches())
 */
struct mmsb_delta_ctx {
	struct mmsb_page_table *pages;
	atomic64_t next_id;
	atomic64_t bytes;
	atomic64_t submitted;
	atomic64_t rejected;
	struct llist_head ended;
};

void mmsb_delta_ctx_init(struct mmsb_delta_ctx *ctx,
			 struct mmsb_page_table *pages);

int mmsb_delta_check(const struct mmsb_delta *ud);
size_t mmsb_delta_size_hint(const struct mmsb_delta *ud);
void mmsb_dalloc_init(struct mmsb_dalloc *da, struct mmsb_delta_ctx *ctx,
		      size_t hint);
void mmsb_dalloc_finish(struct mmsb_dalloc *da);
int mmsb_delta_create(struct mmsb_dalloc *da, const struct mmsb_delta *ud,
		      const struct cred *cred, bool admin,
		      struct mmsb_kdelta **out);
int mmsb_delta_create_kernel(struct mmsb_dalloc *da,
			     const struct mmsb_delta *ud,
			     const struct cred *cred, bool admin,
			     struct mmsb_kdelta **out);
void mmsb_delta_free(struct mmsb_delta_ctx *ctx, struct mmsb_kdelta *kd);
void mmsb_delta_apply(const struct mmsb_kdelta *kd, u8 *data);
void mmsb_delta_done(struct mmsb_kdelta *kd, int status, u64 epoch);

/*
 * Where the owner's bytes start: right after the results, so 8-byte
 * aligned like them.  Saturates, as struct_size() does.
 */
static inline size_t mmsb_batch_pdu_offset(u32 count)
{
	return struct_size_t(struct mmsb_batch, res, count);
}

/**
 * mmsb_batch_pdu() - the owner's bytes of a batch
 * @batch: a batch from mmsb_batch_alloc()
 *
 * Return: the @pdu_size bytes asked for.
 */
static inline void *mmsb_batch_pdu(struct mmsb_batch *batch)
{
	return (u8 *)batch + mmsb_batch_pdu_offset(batch->count);
}

struct mmsb_batch *mmsb_batch_alloc(struct mmsb_delta_ctx *ctx, u32 count,
				    size_t pdu_size);
void mmsb_batch_put(struct mmsb_batch *batch);
void mmsb_batch_add(struct mmsb_batch *batch, struct mmsb_kdelta *kd,
		    u32 index);
void mmsb_batch_arm(struct mmsb_batch *batch);
void mmsb_batch_abandon(struct mmsb_batch *batch);
void mmsb_delta_end_batches(struct mmsb_delta_ctx *ctx);

#endif /* _MMSB_DELTA_H */
