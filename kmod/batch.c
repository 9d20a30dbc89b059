// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb batches: the chunk pool, a batch's life, and reporting results.
 *
 * A chunk goes: pool -> a submission fills it (mmsb_delta_add()) -> the
 * ring -> the tick takes its records, applies them, reports how many it
 * handled to the chunk's batch (mmsb_batch_handled()) and retires the
 * chunk (page references dropped) -> back to the pool, or, for a chunk
 * of a batch, kept until the batch's last reference is gone.
 *
 * A batch goes: initialised in its first chunk with two references (the
 * owner's and the tick's) and a pending bias of one -> chunks are added
 * as they are pushed, each adding its records to @pending -> armed by
 * the owner once everything is queued (bias dropped) -> @pending reaches
 * zero in the tick that handled its last delta, which puts it on the
 * ended list -> at the end of that tick, after propagation,
 * mmsb_batch_end_all() completes it (->done or the completion) and
 * drops the tick's reference -> the owner copies the results out
 * (mmsb_batch_report()) and drops its own -> the chunks go back.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <kunit/visibility.h>

#include "batch.h"
#include "delta.h"
#include "page.h"

/* A chunk's memory: charged to the cgroup, -ENOMEM rather than its OOM. */
#define MMSB_CHUNK_GFP	(GFP_KERNEL_ACCOUNT | __GFP_NOWARN | __GFP_RETRY_MAYFAIL)

/* Sizes of the pooled chunks, ascending; the last is MMSB_CHUNK_LARGE. */
static const u32 mmsb_chunk_class_size[MMSB_CHUNK_CLASSES] = {
	2048, 4096, 16384, 32768, MMSB_CHUNK_LARGE,
};

/* The pool class of a chunk of @size bytes, or -1 for one of its own. */
static int mmsb_chunk_class(size_t size)
{
	int i;

	for (i = 0; i < MMSB_CHUNK_CLASSES; i++)
		if (size == mmsb_chunk_class_size[i])
			return i;
	return -1;
}

/* Pooled chunks of class @i an idle bus keeps. */
static unsigned int mmsb_chunk_keep(int i)
{
	return MMSB_CHUNK_CACHE_BYTES / mmsb_chunk_class_size[i];
}

/*
 * Free the pooled chunks past what an idle bus keeps, once no chunk was
 * taken for MMSB_CHUNK_TRIM_DELAY_MS; a bus still in use looks again
 * that long after its last take.
 */
static void mmsb_delta_ctx_trim(struct work_struct *work)
{
	struct mmsb_delta_ctx *ctx = container_of(to_delayed_work(work),
						  struct mmsb_delta_ctx,
						  trim_work);
	unsigned long due = READ_ONCE(ctx->last_take) +
			    msecs_to_jiffies(MMSB_CHUNK_TRIM_DELAY_MS);
	struct mmsb_chunk *c, *free = NULL;
	int i;

	if (time_before(jiffies, due)) {
		queue_delayed_work(system_wq, &ctx->trim_work, due - jiffies);
		return;
	}
	for (i = 0; i < MMSB_CHUNK_CLASSES; i++) {
		unsigned int keep = mmsb_chunk_keep(i);

		spin_lock(&ctx->pool_lock);
		while (ctx->pool_nr[i] > keep) {
			c = ctx->pool[i];
			ctx->pool[i] = c->next;
			ctx->pool_nr[i]--;
			c->next = free;
			free = c;
		}
		spin_unlock(&ctx->pool_lock);
	}
	while (free) {
		c = free;
		free = c->next;
		kvfree(c);
	}
}

/**
 * mmsb_delta_ctx_init() - set up the submission state
 * @ctx: the state
 * @pages: the page table deltas are looked up in and charged to
 */
void mmsb_delta_ctx_init(struct mmsb_delta_ctx *ctx,
			 struct mmsb_page_table *pages)
{
	int i;

	ctx->pages = pages;
	atomic64_set(&ctx->next_id, 0);
	atomic64_set(&ctx->bytes, 0);
	atomic64_set(&ctx->submitted, 0);
	atomic64_set(&ctx->rejected, 0);
	init_llist_head(&ctx->ended);
	spin_lock_init(&ctx->pool_lock);
	for (i = 0; i < MMSB_CHUNK_CLASSES; i++) {
		ctx->pool[i] = NULL;
		ctx->pool_nr[i] = 0;
	}
	INIT_DELAYED_WORK(&ctx->trim_work, mmsb_delta_ctx_trim);
	ctx->last_take = jiffies;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_ctx_init);

/**
 * mmsb_delta_ctx_destroy() - free the pooled chunks
 * @ctx: the state; no chunk is in use
 */
void mmsb_delta_ctx_destroy(struct mmsb_delta_ctx *ctx)
{
	struct mmsb_chunk *c, *next;
	int i;

	cancel_delayed_work_sync(&ctx->trim_work);
	for (i = 0; i < MMSB_CHUNK_CLASSES; i++) {
		for (c = ctx->pool[i]; c; c = next) {
			next = c->next;
			kvfree(c);
		}
		ctx->pool[i] = NULL;
		ctx->pool_nr[i] = 0;
	}
	WARN_ON(!llist_empty(&ctx->ended));
	WARN(atomic64_read(&ctx->bytes), "%lld delta bytes leaked\n",
	     (long long)atomic64_read(&ctx->bytes));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_ctx_destroy);

/**
 * mmsb_delta_ctx_pool_bytes() - bytes of the free chunks kept for reuse
 * @ctx: the state
 *
 * Return: a snapshot.
 */
u64 mmsb_delta_ctx_pool_bytes(struct mmsb_delta_ctx *ctx)
{
	u64 bytes = 0;
	int i;

	for (i = 0; i < MMSB_CHUNK_CLASSES; i++)
		bytes += (u64)READ_ONCE(ctx->pool_nr[i]) *
			 mmsb_chunk_class_size[i];
	return bytes;
}

/**
 * mmsb_delta_charge() - charge @bytes of delta memory to the limit
 * @ctx: submission state; @bytes count in its delta_bytes
 * @bytes: bytes about to be held (chunks, a mapped queue)
 *
 * The limit is the pages' account (page.c).
 *
 * Return: 0 or -ENOMEM.
 */
int mmsb_delta_charge(struct mmsb_delta_ctx *ctx, size_t bytes)
{
	int ret = mmsb_page_table_charge(ctx->pages, bytes);

	if (!ret)
		atomic64_add(bytes, &ctx->bytes);
	return ret;
}

/**
 * mmsb_delta_uncharge() - give back what mmsb_delta_charge() took
 * @ctx: submission state
 * @bytes: bytes no longer held
 */
void mmsb_delta_uncharge(struct mmsb_delta_ctx *ctx, size_t bytes)
{
	atomic64_sub(bytes, &ctx->bytes);
	mmsb_page_table_uncharge(ctx->pages, bytes);
}

/**
 * mmsb_chunk_get() - an empty chunk for records of at least @need bytes
 * @ctx: submission state; the chunk is charged to its limit
 * @need: bytes of the first record
 * @want: bytes the submission's records are expected to take, for the
 *	choice of size: the smallest pooled chunk they fit
 *
 * A pooled chunk when @need fits one, else one of its own: whole pages
 * (vmalloc()), charged as allocated, so the limit bounds the memory
 * really held.  Only the header fields are set: the records are written
 * before they are read.
 *
 * Context: process context, may sleep.
 * Return: the chunk, or NULL (-ENOMEM: memory limit or allocation).
 */
struct mmsb_chunk *mmsb_chunk_get(struct mmsb_delta_ctx *ctx, size_t need,
				  size_t want)
{
	struct mmsb_chunk *c = NULL;
	size_t size;
	int cls;

	/* Room for the record and its page. */
	need += sizeof(struct mmsb_page *);
	for (cls = 0; cls < MMSB_CHUNK_CLASSES; cls++)
		if (max(need, want) <= MMSB_CHUNK_MEM(mmsb_chunk_class_size[cls]))
			break;
	if (cls == MMSB_CHUNK_CLASSES && need <= MMSB_CHUNK_MEM(MMSB_CHUNK_LARGE))
		cls = MMSB_CHUNK_CLASSES - 1;
	if (cls < MMSB_CHUNK_CLASSES) {
		size = mmsb_chunk_class_size[cls];
	} else {
		/*
		 * Whole pages, all charged and all usable: what vmalloc()
		 * holds for it.  @need is bounded by the largest page
		 * (max_page_size), so neither this nor @c->size wraps.
		 */
		size = PAGE_ALIGN(sizeof(*c) + need);
		cls = -1;
	}
	if (mmsb_delta_charge(ctx, size))
		return NULL;
	/* For the pool's trim: racing stores are as good as any. */
	WRITE_ONCE(ctx->last_take, jiffies);
	if (cls >= 0 && READ_ONCE(ctx->pool[cls])) {
		spin_lock(&ctx->pool_lock);
		c = ctx->pool[cls];
		if (c) {
			ctx->pool[cls] = c->next;
			ctx->pool_nr[cls]--;
		}
		spin_unlock(&ctx->pool_lock);
	}
	if (!c) {
		/*
		 * Past its cgroup's memory.max, the delta gets -ENOMEM,
		 * quietly, and the cgroup's OOM killer stays asleep.
		 *
		 * A pooled chunk is a power of two, which kmalloc() holds
		 * exactly.  A chunk of its own is not, and kvmalloc()
		 * would try kmalloc() first, which holds the next power
		 * of two pages: up to twice what was charged (a record of
		 * 1 MiB held 2 MiB, so the limit let deltas hold twice
		 * mem_limit_mb).  vmalloc() holds the pages charged.
		 */
		if (cls >= 0)
			c = kvmalloc(size, MMSB_CHUNK_GFP);
		else
			c = __vmalloc(size, MMSB_CHUNK_GFP);
		if (!c) {
			mmsb_delta_uncharge(ctx, size);
			return NULL;
		}
	}
	c->next = NULL;
	c->bnext = NULL;
	c->batch = NULL;
	c->size = size - sizeof(*c);
	c->used = 0;
	c->nr = 0;
	c->pos = 0;
	c->taken = 0;
	c->done = 0;
	c->nr_pages = 0;
	c->atomic = false;
	return c;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_chunk_get);

/**
 * mmsb_chunk_truncate() - keep the first @nr records of a chunk
 * @c: a chunk not queued yet
 * @nr: records to keep, <= @c->nr
 *
 * The pages of the dropped records stay held until the chunk retires.
 */
void mmsb_chunk_truncate(struct mmsb_chunk *c, u32 nr)
{
	struct mmsb_kdelta *kd = mmsb_chunk_first(c);
	u32 i;

	for (i = 0; i < nr; i++) {
		c->last_index = kd->index;
		kd = mmsb_kdelta_next(kd);
	}
	c->nr = nr;
	c->used = (u8 *)kd - c->mem;
}

/**
 * mmsb_chunk_retire() - the tick is done with a chunk
 * @ctx: submission state
 * @c: the chunk; every record was handled, or none was queued
 *
 * Drops the page references; a chunk of no batch goes back at once, one
 * of a batch stays with the batch (its records hold the results).
 *
 * Context: process context (the tick, or a submission giving up).
 */
void mmsb_chunk_retire(struct mmsb_delta_ctx *ctx, struct mmsb_chunk *c)
{
	mmsb_chunk_drop_pages(c);
	if (!c->batch)
		mmsb_chunk_put(ctx, c);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_chunk_retire);

/**
 * mmsb_chunk_drop_pages() - drop the page references a chunk holds
 * @c: the chunk; the tick is done with its records
 *
 * Context: process context.
 */
void mmsb_chunk_drop_pages(struct mmsb_chunk *c)
{
	struct mmsb_page **pages = mmsb_chunk_pages(c);
	u32 i;

	for (i = 0; i < c->nr_pages; i++)
		mmsb_page_put(pages[i]);
	c->nr_pages = 0;
}

/**
 * mmsb_chunk_put() - give a retired chunk back
 * @ctx: submission state
 * @c: the chunk; no page held
 *
 * Uncharges it; pooled chunks are kept for reuse, up to
 * MMSB_CHUNK_CACHE_BUSY_BYTES of each size (mmsb_delta_ctx_trim()).
 */
void mmsb_chunk_put(struct mmsb_delta_ctx *ctx, struct mmsb_chunk *c)
{
	size_t size = sizeof(*c) + c->size;
	int cls = mmsb_chunk_class(size);

	mmsb_delta_uncharge(ctx, size);
	if (cls >= 0 && READ_ONCE(ctx->pool_nr[cls]) * size <
	    MMSB_CHUNK_CACHE_BUSY_BYTES) {
		unsigned int nr = 0;

		spin_lock(&ctx->pool_lock);
		if (ctx->pool_nr[cls] * size < MMSB_CHUNK_CACHE_BUSY_BYTES) {
			c->next = ctx->pool[cls];
			ctx->pool[cls] = c;
			nr = ++ctx->pool_nr[cls];
			c = NULL;
		}
		spin_unlock(&ctx->pool_lock);
		/*
		 * More than an idle bus keeps: the trim looks in a while
		 * (a test of a bit when it is already on its way).
		 */
		if (nr > mmsb_chunk_keep(cls) &&
		    !delayed_work_pending(&ctx->trim_work))
			queue_delayed_work(system_wq, &ctx->trim_work,
					   msecs_to_jiffies(MMSB_CHUNK_TRIM_DELAY_MS));
	}
	/* kvfree(NULL) is some 30 instructions: per call for small ones. */
	if (c)
		kvfree(c);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_chunk_put);

/**
 * mmsb_batch_init() - a batch with no chunk yet
 * @batch: the batch (the bspace of the submission's first chunk)
 * @ctx: submission state; the batch ends through @ctx->ended
 */
void mmsb_batch_init(struct mmsb_batch *batch, struct mmsb_delta_ctx *ctx)
{
	refcount_set(&batch->ref, 2);
	atomic_set(&batch->pending, 1);
	batch->chunks = NULL;
	batch->last = NULL;
	batch->ctx = ctx;
	batch->done = NULL;
	batch->priv = NULL;
	init_completion(&batch->completion);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_init);

/**
 * mmsb_batch_add_chunk() - a chunk of the submission, before it is queued
 * @batch: the batch
 * @c: the chunk; its records (@c->nr, final) become pending
 */
void mmsb_batch_add_chunk(struct mmsb_batch *batch, struct mmsb_chunk *c)
{
	c->batch = batch;
	if (batch->last)
		batch->last->bnext = c;
	else
		batch->chunks = c;
	batch->last = c;
	if (c->nr)
		atomic_add(c->nr, &batch->pending);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_add_chunk);

/**
 * mmsb_batch_handled() - the tick handled @n deltas of the batch
 * @batch: the batch
 * @n: deltas whose status and epoch are stored in their records
 *
 * The last one puts the batch on the ended list, for the end of the
 * tick, when their propagation is done too.
 */
void mmsb_batch_handled(struct mmsb_batch *batch, u32 n)
{
	/*
	 * atomic_sub_and_test() and llist_add() are fully ordered: every
	 * result stored in the records is visible to whoever takes the
	 * batch off the list.
	 */
	if (atomic_sub_and_test(n, &batch->pending))
		llist_add(&batch->end_node, &batch->ctx->ended);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_handled);

/**
 * mmsb_batch_arm() - the owner queued every delta it will
 * @batch: the batch, with at least one delta queued
 *
 * If every delta was handled already, the batch now waits for a tick's
 * end: the caller must see that one runs.
 */
void mmsb_batch_arm(struct mmsb_batch *batch)
{
	mmsb_batch_handled(batch, 1);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_arm);

/**
 * mmsb_batch_put() - drop a reference; the last one frees the chunks
 * @batch: the batch
 *
 * Context: process context.
 */
void mmsb_batch_put(struct mmsb_batch *batch)
{
	struct mmsb_delta_ctx *ctx = batch->ctx;
	struct mmsb_chunk *c, *next, *host;

	if (!refcount_dec_and_test(&batch->ref))
		return;
	host = container_of(batch, struct mmsb_chunk, bspace);
	for (c = batch->chunks; c; c = next) {
		next = c->bnext;
		if (c != host)
			mmsb_chunk_put(ctx, c);
	}
	mmsb_chunk_put(ctx, host);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_put);

/**
 * mmsb_batch_abandon() - free a batch none of whose deltas was queued
 * @batch: not armed; its chunks are retired
 *
 * Context: process context.
 */
void mmsb_batch_abandon(struct mmsb_batch *batch)
{
	WARN_ON_ONCE(atomic_read(&batch->pending) != 1);
	/* Nothing will end it: the tick's reference goes with the owner's. */
	refcount_dec(&batch->ref);
	mmsb_batch_put(batch);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_abandon);

/**
 * mmsb_batch_end_all() - complete the batches whose deltas were handled
 * @ctx: submission state
 *
 * Called by the tick at its end, after propagation, so that a batch
 * completes when all it changed, along edges too, is visible.  Oldest
 * first; each batch's ->done (or its completion) runs here, in the
 * thread that ran the tick.
 */
void mmsb_batch_end_all(struct mmsb_delta_ctx *ctx)
{
	struct llist_node *list;
	struct mmsb_batch *batch, *next;

	/* Most ticks end none: no atomic exchange for them. */
	if (llist_empty(&ctx->ended))
		return;
	list = llist_del_all(&ctx->ended);
	llist_for_each_entry_safe(batch, next, llist_reverse_order(list),
				  end_node) {
		if (batch->done)
			batch->done(batch);
		else
			complete(&batch->completion);
		mmsb_batch_put(batch);
	}
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_end_all);

/*
 * The outputs of @nr records from @kd on, accepted and not yet handled,
 * when their indices are consecutive: so are their ids (a submission's
 * delta @i gets id base + @i + 1, submit.c), and the records need not
 * be walked.  False if an output faulted (some may be written).
 */
static bool mmsb_put_accepted(struct mmsb_kdelta *kd, u32 nr,
			      struct mmsb_delta __user *u)
{
	u64 id = kd->id;
	u64 end = id + nr;

	if (!user_write_access_begin(u, (size_t)nr * sizeof(*u)))
		return false;
	for (; id < end; id++, u++) {
		unsafe_put_user(id, &u->delta_id, efault);
		unsafe_put_user(0, &u->status, efault);
		unsafe_put_user(0, &u->epoch, efault);
	}
	user_write_access_end();
	return true;
efault:
	user_write_access_end();
	return false;
}

/* mmsb_records_put_results(), inline in it and mmsb_chunk_put_results(). */
static __always_inline int
__mmsb_put_results(struct mmsb_kdelta *kd, u32 nr, u32 last_index,
		   struct mmsb_delta __user *uptr, bool ended, u32 *applied)
{
	u32 i = 0, n = 0;
	bool consecutive;
	int ret = 0;

	/* No delta refused between the records: the common case. */
	consecutive = last_index + 1 - kd->index == nr;
	if (!ended && consecutive && mmsb_put_accepted(kd, nr, uptr + kd->index))
		return 0;
	if (!user_write_access_begin(uptr + kd->index,
				     (size_t)(last_index + 1 - kd->index) *
				     sizeof(*uptr)))
		goto one_by_one;
	/* Three loops, so that none tests @ended or the index per delta. */
	if (ended && consecutive) {
		struct mmsb_delta __user *u = uptr + kd->index;

		for (; i < nr; i++, u++, kd = mmsb_kdelta_next(kd)) {
			unsafe_put_user(kd->id, &u->delta_id, efault);
			unsafe_put_user(kd->status, &u->status, efault);
			unsafe_put_user(kd->epoch, &u->epoch, efault);
			n += !kd->status;
		}
	} else if (ended) {
		for (; i < nr; i++, kd = mmsb_kdelta_next(kd)) {
			struct mmsb_delta __user *u = uptr + kd->index;

			unsafe_put_user(kd->id, &u->delta_id, efault);
			unsafe_put_user(kd->status, &u->status, efault);
			unsafe_put_user(kd->epoch, &u->epoch, efault);
			n += !kd->status;
		}
	} else {
		for (; i < nr; i++, kd = mmsb_kdelta_next(kd)) {
			struct mmsb_delta __user *u = uptr + kd->index;

			unsafe_put_user(kd->id, &u->delta_id, efault);
			unsafe_put_user(0, &u->status, efault);
			unsafe_put_user(0, &u->epoch, efault);
		}
	}
	user_write_access_end();
	if (applied)
		*applied += n;
	return 0;

efault:
	user_write_access_end();
one_by_one:
	for (; i < nr; i++, kd = mmsb_kdelta_next(kd)) {
		s32 status = ended ? kd->status : 0;

		if (mmsb_delta_put_result(uptr + kd->index, kd->id, status,
					  ended ? kd->epoch : 0))
			ret = -EFAULT;
		n += ended && !status;
	}
	if (applied)
		*applied += n;
	return ret;
}

/**
 * mmsb_records_put_results() - write the outputs of records back
 * @kd: the first record
 * @nr: records, back to back from @kd, in index order; at least one
 * @last_index: the index of the last of them
 * @uptr: the caller's delta array; a record's outputs go to
 *	@uptr[record's index]
 * @ended: the records were handled: report each one's status and epoch;
 *	else that each was accepted (status 0, epoch 0)
 * @applied: incremented for every record applied (@ended, status 0),
 *	or NULL
 *
 * One user-access window over the records' span of @uptr.  If an output
 * faults, the records from it on are written one by one, so every
 * output that can be written is.
 *
 * Context: process context with the caller's mm.
 * Return: 0, or -EFAULT if some output could not be written.
 */
int mmsb_records_put_results(struct mmsb_kdelta *kd, u32 nr, u32 last_index,
			     struct mmsb_delta __user *uptr, bool ended,
			     u32 *applied)
{
	return __mmsb_put_results(kd, nr, last_index, uptr, ended, applied);
}

/**
 * mmsb_chunk_put_results() - write the outputs of a chunk's records back
 * @c: the chunk
 * @uptr: the caller's delta array
 * @ended: as for mmsb_records_put_results()
 * @applied: as for mmsb_records_put_results()
 *
 * mmsb_records_put_results() of every record of @c.
 *
 * Context: process context with the caller's mm.
 * Return: 0, or -EFAULT if some output could not be written.
 */
int mmsb_chunk_put_results(struct mmsb_chunk *c,
			   struct mmsb_delta __user *uptr, bool ended,
			   u32 *applied)
{
	if (!c->nr)
		return 0;
	return __mmsb_put_results(mmsb_chunk_first(c), c->nr, c->last_index,
				  uptr, ended, applied);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_chunk_put_results);

/**
 * mmsb_batch_report() - write the queued deltas' outputs back
 * @batch: the batch
 * @uptr: the caller's delta array (each record knows its index), or
 *	NULL to count only (the caller is gone)
 * @ended: the batch completed: report status and epoch; else only that
 *	each delta was accepted (status 0, epoch 0), as after -EINTR
 * @applied: out: deltas applied (0 unless @ended)
 *
 * The ioctl and io_uring report through this one function.
 *
 * Context: process context with the caller's mm.
 * Return: 0, or -EFAULT if some output could not be written.
 */
int mmsb_batch_report(struct mmsb_batch *batch,
		      struct mmsb_delta __user *uptr, bool ended,
		      u32 *applied)
{
	struct mmsb_kdelta *kd;
	struct mmsb_chunk *c;
	int ret = 0;
	u32 i, n = 0;

	for (c = batch->chunks; c; c = c->bnext) {
		if (uptr) {
			if (mmsb_chunk_put_results(c, uptr, ended, &n))
				ret = -EFAULT;
			continue;
		}
		for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
		     i++, kd = mmsb_kdelta_next(kd))
			n += ended && !kd->status;
	}
	*applied = n;
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_batch_report);
