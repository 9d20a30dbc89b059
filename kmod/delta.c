// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb deltas: copy-in, validation, encodings, application.
 *
 * Validation happens once, on a private copy of the user's struct
 * mmsb_delta, before anything is queued.  The checks and their errnos:
 *
 *   encoding unknown, flags or pad not zero, len 0,      -EINVAL
 *   a mask for DENSE, none for MASKED/SPARSE,
 *   mask bits set past len
 *   page does not exist                                  -ENOENT
 *   caller may not write the page                        -EACCES
 *   window [offset, offset + len) not inside the page    -ERANGE
 *   payload_len != len (DENSE, MASKED) or != the set     -EMSGSIZE
 *   bits of the mask (SPARSE): the seed's SizeMismatch
 *   the delta would take mmsb over its memory limit      -ENOMEM
 *   payload or mask pointer unreadable                   -EFAULT
 *
 * SPARSE deltas are expanded here into window positions, so they apply
 * exactly like MASKED ones.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <kunit/visibility.h>

#include "delta.h"
#include "page.h"

/**
 * mmsb_delta_ctx_init() - set up the submission state
 * @ctx: the state
 * @pages: the page table deltas are looked up in
 */
void mmsb_delta_ctx_init(struct mmsb_delta_ctx *ctx,
			 struct mmsb_page_table *pages)
{
	ctx->pages = pages;
	atomic64_set(&ctx->next_id, 0);
	atomic64_set(&ctx->bytes, 0);
	atomic64_set(&ctx->submitted, 0);
	atomic64_set(&ctx->rejected, 0);
	init_llist_head(&ctx->ended);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_ctx_init);

/**
 * mmsb_delta_check() - the checks that need neither page nor user memory
 * @ud: a private copy of the user's delta
 *
 * Return: 0 or -EINVAL (see the table at the top of this file).
 */
int mmsb_delta_check(const struct mmsb_delta *ud)
{
	if (ud->encoding > MMSB_DELTA_SPARSE || ud->flags || ud->pad)
		return -EINVAL;
	if (!ud->len)
		return -EINVAL;
	/* A mask exactly for MASKED and SPARSE. */
	if (ud->encoding == MMSB_DELTA_DENSE ? ud->mask : !ud->mask)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_check);

static int mmsb_delta_copy(void *dst, u64 src, size_t len, bool kernel)
{
	if (kernel) {
		memcpy(dst, (const void *)(uintptr_t)src, len);
		return 0;
	}
	return copy_from_user(dst, u64_to_user_ptr(src), len) ? -EFAULT : 0;
}

/* Bytes a delta of this form takes in a block. */
static size_t mmsb_delta_need(u64 len, u32 encoding)
{
	u64 mask_len = encoding == MMSB_DELTA_DENSE ? 0 : BITS_TO_BYTES(len);

	return ALIGN(sizeof(struct mmsb_kdelta) + len + mask_len, 8);
}

/**
 * mmsb_delta_size_hint() - block bytes a delta will likely need
 * @ud: the user's delta, not validated
 *
 * Return: 0 for deltas that would get a block of their own or that are
 * malformed, else the bytes mmsb_delta_create() will carve.
 */
size_t mmsb_delta_size_hint(const struct mmsb_delta *ud)
{
	if (!ud->len || ud->len > MMSB_DBLOCK_MAX)
		return 0;
	return mmsb_delta_need(ud->len, ud->encoding);
}

/**
 * mmsb_dalloc_init() - start handing out delta memory
 * @da: the allocator
 * @ctx: submission state
 * @hint: sum of mmsb_delta_size_hint() over the submission, so a
 *	submission of one small delta does not take a whole block
 */
void mmsb_dalloc_init(struct mmsb_dalloc *da, struct mmsb_delta_ctx *ctx,
		      size_t hint)
{
	da->ctx = ctx;
	da->cur = NULL;
	da->hint = hint;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_dalloc_init);

static void mmsb_dblock_put(struct mmsb_delta_ctx *ctx, struct mmsb_dblock *b)
{
	if (!atomic_dec_and_test(&b->refs))
		return;
	atomic64_sub(b->size, &ctx->bytes);
	kvfree(b);
}

/**
 * mmsb_dalloc_finish() - the submission is done creating deltas
 * @da: the allocator; the block in use lives on with its deltas
 */
void mmsb_dalloc_finish(struct mmsb_dalloc *da)
{
	if (da->cur)
		mmsb_dblock_put(da->ctx, da->cur);
	da->cur = NULL;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_dalloc_finish);

/* Charge @bytes against the memory limit shared with the pages. */
static int mmsb_delta_charge(struct mmsb_delta_ctx *ctx, size_t bytes)
{
	struct mmsb_page_table *t = ctx->pages;
	s64 held = atomic64_add_return(bytes, &ctx->bytes);

	if (held + atomic64_read(&t->bytes) > t->limit) {
		atomic64_sub(bytes, &ctx->bytes);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Expand a SPARSE payload, copied to the last @plen bytes of @data, into
 * window positions.  In place, front to back: the source index is
 * len - plen + (set bits before i), and plen - (set bits before i) set
 * bits remain in [i, len), so the source never lies before i and no
 * byte is overwritten before it is read.
 */
static void mmsb_delta_expand(u8 *data, const u8 *mask, size_t len,
			      size_t plen)
{
	size_t src = len - plen, i;

	for (i = 0; i < len; i++)
		if (mask[i / 8] & BIT(i % 8))
			data[i] = data[src++];
}

static size_t mmsb_delta_popcount(const u8 *mask, size_t n)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		count += hweight8(mask[i]);
	return count;
}

/* Bits of the mask set past len, in its last byte, are refused. */
static struct mmsb_dblock *mmsb_dblock_new(struct mmsb_delta_ctx *ctx,
					   size_t size)
{
	struct mmsb_dblock *b;

	size = struct_size(b, mem, size);
	if (mmsb_delta_charge(ctx, size))
		return ERR_PTR(-ENOMEM);
	b = kvmalloc(size, GFP_KERNEL);
	if (!b) {
		atomic64_sub(size, &ctx->bytes);
		return ERR_PTR(-ENOMEM);
	}
	atomic_set(&b->refs, 1);
	b->size = size;
	b->used = 0;
	return b;
}

/*
 * Memory for one delta of @need bytes (a multiple of 8), taken from the
 * current block, a new shared block, or a block of its own.  The delta
 * holds a reference on the block it got.
 */
static struct mmsb_kdelta *mmsb_dalloc(struct mmsb_dalloc *da, size_t need)
{
	struct mmsb_dblock *b = da->cur;
	struct mmsb_kdelta *kd;

	da->hint -= min(da->hint, need);
	if (!b || b->size - sizeof(*b) - b->used < need) {
		if (need > MMSB_DBLOCK_MAX / 4) {
			b = mmsb_dblock_new(da->ctx, need);
			if (IS_ERR(b))
				return ERR_CAST(b);
			kd = (struct mmsb_kdelta *)b->mem;
			kd->block = b;
			return kd;
		}
		b = mmsb_dblock_new(da->ctx, clamp_t(size_t, da->hint + need,
						     need, MMSB_DBLOCK_MAX));
		if (IS_ERR(b))
			return ERR_CAST(b);
		mmsb_dalloc_finish(da);
		da->cur = b;
	}
	kd = (struct mmsb_kdelta *)(b->mem + b->used);
	b->used += need;
	atomic_inc(&b->refs);
	kd->block = b;
	return kd;
}

static bool mmsb_delta_mask_tail_clear(const u8 *mask, size_t len)
{
	if (len % 8 == 0)
		return true;
	return !(mask[len / 8] & ~(u8)GENMASK(len % 8 - 1, 0));
}

static int __mmsb_delta_create(struct mmsb_dalloc *da,
			       const struct mmsb_delta *ud,
			       const struct cred *cred, bool admin, bool kernel,
			       struct mmsb_kdelta **out)
{
	struct mmsb_delta_ctx *ctx = da->ctx;
	struct mmsb_page *page;
	struct mmsb_kdelta *kd;
	size_t mask_len = 0, plen;
	u64 end;
	int ret;

	ret = mmsb_delta_check(ud);
	if (ret)
		return ret;

	page = mmsb_page_get(ctx->pages, ud->page_id);
	if (!page)
		return -ENOENT;
	ret = mmsb_page_permission(page, cred, admin, MMSB_MAY_WRITE);
	if (ret)
		goto put_page;
	ret = -ERANGE;
	if (check_add_overflow(ud->offset, ud->len, &end) || end > page->size)
		goto put_page;
	/* Window inside the page: len <= page size <= max_page_size. */
	if (ud->encoding != MMSB_DELTA_DENSE)
		mask_len = BITS_TO_BYTES(ud->len);
	ret = -EMSGSIZE;
	if (ud->encoding != MMSB_DELTA_SPARSE && ud->payload_len != ud->len)
		goto put_page;
	if (ud->payload_len > ud->len)
		goto put_page;
	plen = ud->payload_len;

	/* Cannot overflow: len is bounded by the page size. */
	kd = mmsb_dalloc(da, mmsb_delta_need(ud->len, ud->encoding));
	if (IS_ERR(kd)) {
		ret = PTR_ERR(kd);
		goto put_page;
	}
	kd->page = page;
	kd->tick_next = NULL;
	kd->batch = NULL;
	kd->id = 0;
	kd->expected_epoch = ud->expected_epoch;
	kd->offset = ud->offset;
	kd->len = ud->len;
	kd->index = 0;
	kd->status = 0;
	kd->mask = mask_len ? kd->data + kd->len : NULL;

	if (kd->mask) {
		ret = mmsb_delta_copy(kd->mask, ud->mask, mask_len, kernel);
		if (ret)
			goto free_delta;
		ret = -EINVAL;
		if (!mmsb_delta_mask_tail_clear(kd->mask, kd->len))
			goto free_delta;
	}
	if (ud->encoding == MMSB_DELTA_SPARSE) {
		ret = -EMSGSIZE;
		if (plen != mmsb_delta_popcount(kd->mask, mask_len))
			goto free_delta;
		ret = mmsb_delta_copy(kd->data + kd->len - plen, ud->payload,
				      plen, kernel);
		if (ret)
			goto free_delta;
		mmsb_delta_expand(kd->data, kd->mask, kd->len, plen);
	} else {
		ret = mmsb_delta_copy(kd->data, ud->payload, kd->len, kernel);
		if (ret)
			goto free_delta;
	}
	*out = kd;
	return 0;

free_delta:
	/* Its bytes stay unused in the block until the block goes. */
	mmsb_dblock_put(ctx, kd->block);
put_page:
	mmsb_page_put(page);
	return ret;
}

/**
 * mmsb_delta_create() - validate a user delta and copy it in
 * @da: the submission's delta memory
 * @ud: a private copy of the user's struct mmsb_delta
 * @cred: the submitting file's credentials
 * @admin: the file was opened with CAP_SYS_ADMIN
 * @out: the new delta, holding a page reference, id 0 and no batch
 *
 * Context: process context; reads user memory, may sleep.
 * Return: 0 or a negative errno from the table at the top of this file.
 */
int mmsb_delta_create(struct mmsb_dalloc *da, const struct mmsb_delta *ud,
		      const struct cred *cred, bool admin,
		      struct mmsb_kdelta **out)
{
	return __mmsb_delta_create(da, ud, cred, admin, false, out);
}

/**
 * mmsb_delta_create_kernel() - mmsb_delta_create() for kernel buffers
 * @da: the submission's delta memory
 * @ud: a delta whose payload and mask are kernel addresses
 * @cred: credentials to check the page access with
 * @admin: bypass the page's mode
 * @out: the new delta
 *
 * For in-kernel users and KUnit.
 *
 * Return: as mmsb_delta_create().
 */
int mmsb_delta_create_kernel(struct mmsb_dalloc *da,
			     const struct mmsb_delta *ud,
			     const struct cred *cred, bool admin,
			     struct mmsb_kdelta **out)
{
	return __mmsb_delta_create(da, ud, cred, admin, true, out);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_create_kernel);

/**
 * mmsb_delta_free() - release a delta and its page reference
 * @ctx: submission state the delta was charged to
 * @kd: the delta; its batch, if any, must have been told already
 */
void mmsb_delta_free(struct mmsb_delta_ctx *ctx, struct mmsb_kdelta *kd)
{
	mmsb_page_put(kd->page);
	mmsb_dblock_put(ctx, kd->block);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_free);

/**
 * mmsb_delta_apply() - write a delta's bytes into page data
 * @kd: the delta
 * @data: the page data (the window is at @data + @kd->offset)
 *
 * The caller is inside the page's write section.  Mask bytes that are
 * all ones or all zeroes take the fast paths: most masks are runs.
 */
void mmsb_delta_apply(const struct mmsb_kdelta *kd, u8 *data)
{
	const u8 *src = kd->data;
	u8 *dst = data + kd->offset;
	size_t i, b, n;

	if (!kd->mask) {
		memcpy(dst, src, kd->len);
		return;
	}
	for (i = 0; i < kd->len; i += 8) {
		u8 m = kd->mask[i / 8];

		n = min_t(size_t, 8, kd->len - i);
		if (!m)
			continue;
		if (m == 0xff && n == 8) {
			memcpy(dst + i, src + i, 8);
			continue;
		}
		for (b = 0; b < n; b++)
			if (m & BIT(b))
				dst[i + b] = src[i + b];
	}
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_apply);

/**
 * mmsb_batch_alloc() - a batch for @count deltas
 * @ctx: submission state; the batch ends through @ctx->ended
 * @count: deltas in the submission
 * @pdu_size: bytes for the owner after the results (mmsb_batch_pdu()),
 *	not zeroed, freed with the batch: one allocation per submission
 *
 * The batch starts with two references (the submitter's and the one
 * pending deltas hold) and a pending bias of one, dropped by
 * mmsb_batch_arm() once every delta is queued, so that it cannot
 * complete while the submitter is still adding deltas.
 *
 * Return: the batch or NULL.
 */
struct mmsb_batch *mmsb_batch_alloc(struct mmsb_delta_ctx *ctx, u32 count,
				    size_t pdu_size)
{
	struct mmsb_batch *batch;
	size_t size = size_add(mmsb_batch_pdu_offset(count), pdu_size);

	/*
	 * Not zeroed: a result is written before it is read, and the owner
	 * fills its bytes (for one small delta, zeroing would cost more
	 * than all the rest).
	 */
	batch = kvmalloc(size, GFP_KERNEL);
	if (!batch)
		return NULL;
	batch->ctx = ctx;
	batch->done = NULL;
	batch->priv = NULL;
	refcount_set(&batch->ref, 2);
	atomic_set(&batch->pending, 1);
	batch->count = count;
	init_completion(&batch->completion);
	return batch;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_alloc);

/**
 * mmsb_batch_put() - drop a reference to a batch
 * @batch: the batch
 */
void mmsb_batch_put(struct mmsb_batch *batch)
{
	if (refcount_dec_and_test(&batch->ref))
		kvfree(batch);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_put);

/*
 * Every delta was handled: the batch waits, with the pending deltas'
 * reference, for the end of the tick, when their propagation is done
 * too.
 */
static void mmsb_batch_dec(struct mmsb_batch *batch)
{
	if (!atomic_dec_and_test(&batch->pending))
		return;
	/*
	 * atomic_dec_and_test() and llist_add() are fully ordered: every
	 * result the other deltas' handlers stored is visible to whoever
	 * takes the batch off the list.
	 */
	llist_add(&batch->end_node, &batch->ctx->ended);
}

/**
 * mmsb_batch_add() - make a delta report to a batch
 * @batch: the batch
 * @kd: a delta not queued yet
 * @index: its position in the submission, < @batch->count
 */
void mmsb_batch_add(struct mmsb_batch *batch, struct mmsb_kdelta *kd,
		    u32 index)
{
	atomic_inc(&batch->pending);
	kd->batch = batch;
	kd->index = index;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_add);

/**
 * mmsb_batch_arm() - the submitter queued every delta it will
 * @batch: the batch
 *
 * If every delta was handled already, the batch now waits for a tick's
 * end: the caller must see that one runs (mmsb_submit_arm() kicks it).
 */
void mmsb_batch_arm(struct mmsb_batch *batch)
{
	mmsb_batch_dec(batch);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_arm);

/**
 * mmsb_batch_abandon() - free a batch that none of its deltas reached
 * @batch: not armed; every delta added was reported refused
 */
void mmsb_batch_abandon(struct mmsb_batch *batch)
{
	WARN_ON_ONCE(atomic_read(&batch->pending) != 1);
	kvfree(batch);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_abandon);

/**
 * mmsb_delta_done() - report a delta's outcome to its batch, if any
 * @kd: the delta, applied or refused; still to be freed by the caller
 * @status: 0, -ESTALE, -EIDRM, or the error that kept it out of the ring
 * @epoch: the page's epoch after the tick
 */
void mmsb_delta_done(struct mmsb_kdelta *kd, int status, u64 epoch)
{
	struct mmsb_batch *batch = kd->batch;

	if (!batch)
		return;
	batch->res[kd->index].status = status;
	batch->res[kd->index].epoch = epoch;
	kd->batch = NULL;
	mmsb_batch_dec(batch);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_done);

/**
 * mmsb_delta_end_batches() - complete the batches whose deltas were handled
 * @ctx: submission state
 *
 * Called by the tick at its end, after propagation, so that a batch
 * completes when all it changed, along edges too, is visible.  Each
 * batch's done() runs here, in the orchestrator, oldest first.
 */
void mmsb_delta_end_batches(struct mmsb_delta_ctx *ctx)
{
	struct llist_node *list = llist_del_all(&ctx->ended);
	struct mmsb_batch *batch, *next;

	llist_for_each_entry_safe(batch, next, llist_reverse_order(list),
				  end_node) {
		if (batch->done)
			batch->done(batch);
		else
			complete(&batch->completion);
		mmsb_batch_put(batch);
	}
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_end_batches);
