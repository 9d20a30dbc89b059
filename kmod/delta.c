// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb deltas: copy-in, validation, encodings, application.
 *
 * Validation happens once, on a private copy of the input fields of the
 * user's struct mmsb_delta (struct mmsb_delta_desc, read once by the
 * entry point), before anything is queued.  The checks and their errnos:
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
 *
 * Payload and mask are copied once, from user memory straight into the
 * record.  Small ones (the common case) are read with word loads inside
 * one user-access window: a copy_from_user() call costs more than the
 * bytes (hardened-usercopy checks, stac/clac, and without FSRM a byte
 * loop or rep movsb).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <kunit/visibility.h>

#include "batch.h"
#include "delta.h"
#include "page.h"
#include "usercopy.h"

/**
 * mmsb_delta_check() - the checks that need neither page nor user memory
 * @d: the delta's fields
 *
 * Return: 0 or -EINVAL (see the table at the top of this file).
 */
int mmsb_delta_check(const struct mmsb_delta_desc *d)
{
	if (d->encoding > MMSB_DELTA_SPARSE || d->flags || d->pad)
		return -EINVAL;
	if (!d->len)
		return -EINVAL;
	/* A mask exactly for MASKED and SPARSE. */
	if (d->encoding == MMSB_DELTA_DENSE ? d->mask : !d->mask)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_check);

/* Copy @len bytes from user space to @dst. */
static __always_inline int mmsb_delta_copy(void *dst, u64 src, size_t len)
{
	const u8 __user *u = u64_to_user_ptr(src);
	u8 *d = dst;

	if (len > MMSB_COPY_WORDS_MAX)
		return copy_from_user(dst, u, len) ? -EFAULT : 0;
	if (!user_read_access_begin(u, len))
		return -EFAULT;
	/*
	 * @dst is 8-byte aligned (records are); @u need not be.  Four
	 * words a turn (usercopy.h): the loop's own instructions are a
	 * third of a one-word turn.
	 */
	for (; len >= 4 * sizeof(u64); len -= 4 * sizeof(u64)) {
		if (mmsb_get_user_32(d, u))
			goto efault;
		d += 4 * sizeof(u64);
		u += 4 * sizeof(u64);
	}
	for (; len >= sizeof(u64); len -= sizeof(u64)) {
		unsafe_get_user(*(u64 *)d, (const u64 __user *)u, efault);
		d += sizeof(u64);
		u += sizeof(u64);
	}
	for (; len; len--)
		unsafe_get_user(*d++, u++, efault);
	user_read_access_end();
	return 0;
efault:
	user_read_access_end();
	return -EFAULT;
}

/*
 * Copy a payload or mask from where @b's submission keeps them: user
 * memory, or kernel memory whose range the caller checked (the mapped
 * queue's arena, which user space may change meanwhile: it is read
 * once, here, and the copy is what is checked and applied).
 */
static __always_inline int mmsb_builder_copy(const struct mmsb_builder *b,
					     void *dst, u64 src, size_t len)
{
	const void *ksrc = (const void *)(uintptr_t)src;

	if (!b->ksrc)
		return mmsb_delta_copy(dst, src, len);
	if (len <= MMSB_COPY_WORDS_MAX)
		mmsb_copy_words(dst, ksrc, len);
	else
		memcpy(dst, ksrc, len);
	return 0;
}

/* Bytes a delta of this form takes in a chunk. */
static size_t mmsb_delta_need(u64 len, u32 encoding)
{
	u64 mask_len = encoding == MMSB_DELTA_DENSE ? 0 : BITS_TO_BYTES(len);

	return ALIGN(sizeof(struct mmsb_kdelta) + len + mask_len, 8);
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

static bool mmsb_delta_mask_tail_clear(const u8 *mask, size_t len)
{
	if (len % 8 == 0)
		return true;
	return !(mask[len / 8] & ~(u8)GENMASK(len % 8 - 1, 0));
}

/**
 * mmsb_page_cache_acquire() - the page cache a submission uses
 * @shared: the file's cache
 * @local: the submission's own, for when another submission of the same
 *	file holds @shared; made empty here, so it may be uninitialised
 *	(a kernel that zeroes locals would zero its 1 KiB every call); or
 *	NULL for a submission that can use @shared only
 *
 * Return: @shared or @local (NULL: @shared is busy), for
 * mmsb_builder_init(); mmsb_builder_finish() gives it back.
 */
struct mmsb_page_cache *mmsb_page_cache_acquire(struct mmsb_page_cache *shared,
						struct mmsb_page_cache *local)
{
	if (!test_and_set_bit_lock(0, &shared->busy))
		return shared;
	if (!local)
		return NULL;
	/* Its slots are read only once @valid says so. */
	local->busy = 1;
	local->gen = 0;
	local->valid = 0;
	local->seq = 0;
	return local;
}

/* End a submission's use of a page cache. */
static void mmsb_page_cache_release(struct mmsb_page_cache *cache)
{
	clear_bit_unlock(0, &cache->busy);
}

/* A chunk number unique for the cache's life (64 bits: no wrap). */
static u64 mmsb_page_cache_seq(struct mmsb_page_cache *cache)
{
	return ++cache->seq;
}

/**
 * mmsb_builder_init() - a builder for one submission
 * @b: the builder
 * @ctx: submission state
 * @cache: the pages looked up (mmsb_page_cache_acquire())
 * @cred: the submitter's credentials
 * @admin: the submitter bypasses page modes
 * @want_batch: the submission is awaited: its chunks get a batch
 * @atomic: all or nothing, in one chunk (MMSB_SUBMIT_ATOMIC)
 * @max_records: records per chunk at most (the queue's capacity, or
 *	for @atomic what one tick takes)
 */
void mmsb_builder_init(struct mmsb_builder *b, struct mmsb_delta_ctx *ctx,
		       struct mmsb_page_cache *cache, const struct cred *cred,
		       bool admin, bool want_batch, bool atomic,
		       u32 max_records)
{
	b->ctx = ctx;
	b->cache = cache;
	b->cred = cred;
	b->admin = admin;
	b->want_batch = want_batch;
	b->atomic = atomic;
	b->max_records = max_records;
	b->left = 0;
	b->cur = NULL;
	b->batch = NULL;
	b->parked = 0;
	b->ksrc = false;
	b->fixed = false;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_builder_init);

/**
 * mmsb_builder_use() - add the records to a chunk the caller owns
 * @b: a builder just made by mmsb_builder_init(), neither for an
 *	awaited nor for an atomic submission, with the file's own page
 *	cache (the chunk's number is that cache's)
 * @c: a chunk of handed records (from the pool, never queued), whose
 *	page list takes the references on its records' pages
 *
 * The builder never closes or replaces @c: when @c has no room for a
 * delta, mmsb_delta_add() says %MMSB_DELTA_FULL, even if @c is empty.
 * The caller clears @b->cur before mmsb_builder_finish().
 */
void mmsb_builder_use(struct mmsb_builder *b, struct mmsb_chunk *c)
{
	/* Holding no page, it may take a number no entry carries. */
	if (!c->nr_pages)
		c->seq = mmsb_page_cache_seq(b->cache);
	b->cur = c;
	b->fixed = true;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_builder_use);

/*
 * A reference on the page of entry @e of @pc, if it still is page @id of
 * @pages (see struct mmsb_page_cache).
 */
static __always_inline bool
mmsb_page_cache_hold(struct mmsb_page_cache *pc, struct mmsb_page_table *pages,
		     struct mmsb_page_cache_slot *e, u64 id)
{
	bool held;

	/*
	 * Pages are freed with kfree_rcu(), whose grace period also waits
	 * for a section that only disables preemption (the RCU flavours
	 * are one since 4.20): two inline instructions, where
	 * rcu_read_lock() and rcu_read_unlock() are two calls in a kernel
	 * with preemptible RCU (Debian's), some 20 instructions a lookup.
	 */
	rcu_read_lock_sched();
	held = mmsb_page_table_erased(pages) == pc->gen &&
	       e->page->id == id && refcount_inc_not_zero(&e->page->ref);
	rcu_read_unlock_sched();
	return held;
}

/*
 * Look page @id up for a write into entry @e of @pc (its slot), with the
 * permission check; the reference taken is the caller's.
 */
static struct mmsb_page *mmsb_page_cache_fill(struct mmsb_page_cache *pc,
					      struct mmsb_page_table *pages,
					      struct mmsb_page_cache_slot *e,
					      u64 id, const struct cred *cred,
					      bool admin)
{
	u32 h = e - pc->slots;
	struct mmsb_page *page;
	unsigned long gen;

	/* Read before the lookup: an erase after it makes the entry stale. */
	gen = mmsb_page_table_erased(pages);
	if (gen != pc->gen) {
		pc->valid = 0;
		pc->gen = gen;
	}
	page = mmsb_page_lookup(pages, id, cred, admin, MMSB_MAY_WRITE);
	if (IS_ERR(page))
		return page;
	pc->valid |= BIT_ULL(h);
	e->page = page;
	return page;
}

/*
 * A reference on page @id for a record of its own, through the file's
 * cache @pc unless another submission of the file uses it.
 */
static struct mmsb_page *mmsb_page_cache_get(struct mmsb_page_cache *pc,
					     struct mmsb_page_table *pages,
					     u64 id, const struct cred *cred,
					     bool admin)
{
	struct mmsb_page_cache_slot *e;
	struct mmsb_page *page;
	u32 h;

	if (test_and_set_bit_lock(0, &pc->busy))
		return mmsb_page_lookup(pages, id, cred, admin, MMSB_MAY_WRITE);
	h = id & (BIT(MMSB_PAGE_CACHE_SHIFT) - 1);
	e = &pc->slots[h];
	if ((pc->valid & BIT_ULL(h)) && mmsb_page_cache_hold(pc, pages, e, id)) {
		page = e->page;
	} else {
		page = mmsb_page_cache_fill(pc, pages, e, id, cred, admin);
		/* No chunk holds it: chunk numbers are never 0. */
		e->seq = 0;
	}
	mmsb_page_cache_release(pc);
	return page;
}

/*
 * The page @id for a record in chunk @c: looked up and permission checked
 * once per file while no page leaves the table (the file's cache), and
 * referenced once per chunk.  The caller made sure @c has room for one
 * more page pointer.
 */
static __always_inline int mmsb_builder_page(struct mmsb_builder *b,
					     struct mmsb_chunk *c, u64 id,
					     struct mmsb_page **out)
{
	struct mmsb_page_cache *pc = b->cache;
	u32 h = id & (BIT(MMSB_PAGE_CACHE_SHIFT) - 1);
	struct mmsb_page_cache_slot *e = &pc->slots[h];
	struct mmsb_page *page;

	if (pc->valid & BIT_ULL(h)) {
		/* @c holds the entry's page: no other check needed. */
		if (e->seq == c->seq && e->page->id == id)
			goto found;
		if (mmsb_page_cache_hold(pc, b->ctx->pages, e, id))
			goto hold;
	}
	page = mmsb_page_cache_fill(pc, b->ctx->pages, e, id, b->cred,
				    b->admin);
	if (IS_ERR(page))
		return PTR_ERR(page);
hold:
	/* The reference taken is the chunk's. */
	c->nr_pages++;
	mmsb_chunk_pages(c)[0] = e->page;
	e->seq = c->seq;
found:
	*out = e->page;
	return 0;
}

/*
 * The chunk to write a record of @need bytes into: the open one if it
 * has room (for the record and a page pointer), else a new one if none
 * is open (or the open one is empty).
 */
static __always_inline int mmsb_builder_chunk(struct mmsb_builder *b,
					      size_t need,
					      struct mmsb_chunk **out)
{
	struct mmsb_chunk *c = b->cur;

	if (c && c->nr < b->max_records &&
	    mmsb_chunk_room(c) >= need + sizeof(struct mmsb_page *)) {
		*out = c;
		return 0;
	}
	if (c && (c->nr || b->fixed))
		return MMSB_DELTA_FULL;
	if (c)
		mmsb_builder_close(b);
	/* An atomic submission has one chunk: the largest there is. */
	c = mmsb_chunk_get(b->ctx, need, b->atomic ? SIZE_MAX : need * b->left);
	if (!c)
		return -ENOMEM;
	c->atomic = b->atomic;
	c->seq = mmsb_page_cache_seq(b->cache);
	if (b->want_batch) {
		if (!b->batch) {
			b->batch = &c->bspace;
			mmsb_batch_init(b->batch, b->ctx);
		}
		c->batch = b->batch;
	}
	b->cur = c;
	*out = c;
	return 0;
}

/**
 * mmsb_builder_close() - end the open chunk, which has no record
 * @b: the builder
 *
 * For a chunk that holds no record: it is retired at once (kept by the
 * batch when it belongs to one, since it may hold the batch).  A chunk
 * with records is taken from @b->cur by the caller and queued instead.
 */
void mmsb_builder_close(struct mmsb_builder *b)
{
	struct mmsb_chunk *c = b->cur;

	if (!c)
		return;
	b->cur = NULL;
	if (c->batch)
		mmsb_batch_add_chunk(c->batch, c);
	mmsb_chunk_retire(b->ctx, c);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_builder_close);

/**
 * mmsb_builder_finish() - end a submission's builder
 * @b: the builder; its open chunk was queued or closed
 *
 * Gives the page cache back (mmsb_page_cache_release()).  The queued
 * chunks hold their pages.
 */
void mmsb_builder_finish(struct mmsb_builder *b)
{
	WARN_ON_ONCE(b->cur);
	if (b->cache)
		mmsb_page_cache_release(b->cache);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_builder_finish);

/**
 * mmsb_builder_park() - give the page cache back while the submission
 *	waits across system calls (a parked SUBMIT)
 * @b: the builder; its open chunk stays
 *
 * The cache may be on the caller's stack; mmsb_builder_resume() takes
 * one again.  The open chunk lets go of its pages: a parked submission
 * waits for its thread, which may never come back, and must not keep
 * a freed page's memory meanwhile.  Its page list keeps the pages' ids
 * instead (an id fits the slot of a pointer), and each record the index
 * of its page in that list (@park_index), until mmsb_builder_resume()
 * looks them up again.
 */
void mmsb_builder_park(struct mmsb_builder *b)
{
	struct mmsb_chunk *c = b->cur;
	struct mmsb_page **pages;
	struct mmsb_kdelta *kd;
	unsigned long *ids;
	u32 i, j;

	mmsb_page_cache_release(b->cache);
	b->cache = NULL;
	b->parked = 0;
	if (!c)
		return;
	BUILD_BUG_ON(sizeof(unsigned long) != sizeof(struct mmsb_page *));
	BUILD_BUG_ON(MMSB_PAGE_ID_MAX > ULONG_MAX);
	pages = mmsb_chunk_pages(c);
	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd)) {
		for (j = 0; pages[j] != kd->page; j++)
			;
		kd->park_index = j;
		kd->page = NULL;
	}
	ids = (unsigned long *)pages;
	for (j = 0; j < c->nr_pages; j++) {
		struct mmsb_page *page = pages[j];

		ids[j] = page->id;
		mmsb_page_put(page);
	}
	/* Nothing held: a drop of the park retires no page. */
	b->parked = c->nr_pages;
	c->nr_pages = 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_builder_park);

/*
 * Take the records of @c whose page @pages[their index] is NULL (freed
 * while parked) out of @c, each refused with -EIDRM by @refuse; in an
 * atomic chunk every record goes, the others with -ECANCELED.  Then
 * the page list keeps only the pages found.
 */
static void mmsb_chunk_drop_gone(struct mmsb_chunk *c, struct mmsb_page **pages,
				 u32 nr_pages,
				 void (*refuse)(void *arg, u32 index, int status),
				 void *arg)
{
	struct mmsb_kdelta *kd, *next;
	u8 *dst = c->mem;
	u32 i, j, n = 0;

	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr; i++, kd = next) {
		next = mmsb_kdelta_next(kd);
		if (!kd->page || c->atomic) {
			refuse(arg, kd->index, kd->page ? -ECANCELED : -EIDRM);
			continue;
		}
		if ((u8 *)kd != dst)
			memmove(dst, kd, kd->size);
		kd = (struct mmsb_kdelta *)dst;
		c->last_index = kd->index;
		dst += kd->size;
		n++;
	}
	c->nr = n;
	c->used = dst - c->mem;
	/* The pages found move to the end of @mem, as the list lives. */
	for (i = j = nr_pages; i-- > 0;)
		if (pages[i])
			pages[--j] = pages[i];
	c->nr_pages = nr_pages - j;
}

/**
 * mmsb_builder_resume() - go on with a parked builder
 * @b: the builder
 * @cache: from mmsb_page_cache_acquire()
 * @refuse: called for each record of the open chunk that cannot go on,
 *	with its index and status: -EIDRM when its page was freed while
 *	the submission was parked, -ECANCELED for the other records of an
 *	atomic chunk that lost one
 * @arg: for @refuse
 *
 * The open chunk takes its pages again (mmsb_builder_park()), those
 * still in the table, and gets a number from @cache that no entry of
 * @cache carries, so the pages of its next records get references of
 * their own (a page pointer more, within the room mmsb_builder_chunk()
 * keeps).
 *
 * Context: process context.
 */
void mmsb_builder_resume(struct mmsb_builder *b, struct mmsb_page_cache *cache,
			 void (*refuse)(void *arg, u32 index, int status),
			 void *arg)
{
	struct mmsb_chunk *c = b->cur;
	struct mmsb_page **pages;
	struct mmsb_kdelta *kd;
	unsigned long *ids;
	bool gone = false;
	u32 i;

	b->cache = cache;
	if (!c)
		return;
	c->seq = mmsb_page_cache_seq(cache);
	c->nr_pages = b->parked;
	b->parked = 0;
	pages = mmsb_chunk_pages(c);
	ids = (unsigned long *)pages;
	/* Permission was checked at the first lookup: modes are fixed. */
	for (i = 0; i < c->nr_pages; i++) {
		pages[i] = mmsb_page_get(b->ctx->pages, ids[i]);
		gone |= !pages[i];
	}
	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd)) {
		kd->page = pages[kd->park_index];
		kd->tick_next = NULL;
	}
	if (gone)
		mmsb_chunk_drop_gone(c, pages, c->nr_pages, refuse, arg);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_builder_resume);

/*
 * The checks before the page is looked up: mmsb_delta_check(), and a
 * length over the largest page's size (-ERANGE: its window cannot fit,
 * and a record's size cannot overflow).
 */
static __always_inline int mmsb_delta_check_len(struct mmsb_page_table *pages,
						const struct mmsb_delta_desc *d)
{
	int ret = mmsb_delta_check(d);

	if (!ret && d->len > pages->max_size)
		ret = -ERANGE;
	return ret;
}

/* The checks against the delta's page, once it was looked up. */
static __always_inline int mmsb_delta_check_page(const struct mmsb_delta_desc *d,
						 const struct mmsb_page *page)
{
	u64 end;

	if (check_add_overflow(d->offset, d->len, &end) || end > page->size)
		return -ERANGE;
	if (d->encoding != MMSB_DELTA_SPARSE && d->payload_len != d->len)
		return -EMSGSIZE;
	if (d->payload_len > d->len)
		return -EMSGSIZE;
	return 0;
}

/* mmsb_delta_add(), inline in it and in mmsb_delta_add_array(). */
static __always_inline int __mmsb_delta_add(struct mmsb_builder *b,
					    const struct mmsb_delta_desc *d,
					    u64 id, u32 index)
{
	struct mmsb_chunk *c;
	struct mmsb_page *page;
	struct mmsb_kdelta *kd;
	size_t need, mask_len;
	int ret;

	ret = mmsb_delta_check_len(b->ctx->pages, d);
	if (ret)
		return ret;
	need = mmsb_delta_need(d->len, d->encoding);
	ret = mmsb_builder_chunk(b, need, &c);
	if (ret)
		return ret;
	ret = mmsb_builder_page(b, c, d->page_id, &page);
	if (ret)
		return ret;
	ret = mmsb_delta_check_page(d, page);
	if (ret)
		return ret;

	kd = (struct mmsb_kdelta *)(c->mem + c->used);
	kd->page = page;
	kd->tick_next = NULL;
	kd->id = id;
	kd->expected_epoch = d->expected_epoch;
	kd->offset = d->offset;
	kd->len = d->len;
	kd->index = index;
	kd->status = 0;
	kd->size = need;
	mmsb_kdelta_set_masked(kd, d->encoding != MMSB_DELTA_DENSE);
	kd->atomic = c->atomic;

	if (kd->masked) {
		u8 *mask = kd->data + kd->len;

		mask_len = BITS_TO_BYTES(kd->len);
		ret = mmsb_builder_copy(b, mask, d->mask, mask_len);
		if (ret)
			return ret;
		if (!mmsb_delta_mask_tail_clear(mask, kd->len))
			return -EINVAL;
		if (d->encoding == MMSB_DELTA_SPARSE) {
			size_t plen = d->payload_len;

			if (plen != mmsb_delta_popcount(mask, mask_len))
				return -EMSGSIZE;
			ret = mmsb_builder_copy(b, kd->data + kd->len - plen,
						d->payload, plen);
			if (ret)
				return ret;
			mmsb_delta_expand(kd->data, mask, kd->len, plen);
			goto commit;
		}
	}
	ret = mmsb_builder_copy(b, kd->data, d->payload, kd->len);
	if (ret)
		return ret;
commit:
	c->used += need;
	c->nr++;
	c->last_index = index;
	return 0;
}

/**
 * mmsb_delta_add() - validate a delta and copy it into the open chunk
 * @b: the submission's builder
 * @d: the delta's fields, read once from the caller
 * @id: the id it gets if queued: a submission's delta @index gets its
 *	base + @index + 1 (mmsb_chunk_put_results() counts on it)
 * @index: its position in the submission
 *
 * Context: process context; reads user memory, may sleep.
 * Return: 0 (the delta is the last record of @b->cur), %MMSB_DELTA_FULL
 * (queue @b->cur, clear it and call again), or a negative errno from
 * the table at the top of this file (nothing of the delta was kept).
 */
int mmsb_delta_add(struct mmsb_builder *b, const struct mmsb_delta_desc *d,
		   u64 id, u32 index)
{
	return __mmsb_delta_add(b, d, id, index);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_add);

/*
 * The input fields of struct mmsb_delta up to @flags, in the same places
 * as in struct mmsb_delta_desc: read as two blocks of 32 bytes.
 */
#define MMSB_DELTA_IN_HEAD	offsetofend(struct mmsb_delta, flags)
static_assert(MMSB_DELTA_IN_HEAD == 64);
static_assert(offsetof(struct mmsb_delta_desc, page_id) == 0);
static_assert(offsetof(struct mmsb_delta_desc, expected_epoch) ==
	      offsetof(struct mmsb_delta, expected_epoch));
static_assert(offsetof(struct mmsb_delta_desc, offset) ==
	      offsetof(struct mmsb_delta, offset));
static_assert(offsetof(struct mmsb_delta_desc, len) ==
	      offsetof(struct mmsb_delta, len));
static_assert(offsetof(struct mmsb_delta_desc, payload) ==
	      offsetof(struct mmsb_delta, payload));
static_assert(offsetof(struct mmsb_delta_desc, payload_len) ==
	      offsetof(struct mmsb_delta, payload_len));
static_assert(offsetof(struct mmsb_delta_desc, mask) ==
	      offsetof(struct mmsb_delta, mask));
static_assert(offsetof(struct mmsb_delta_desc, encoding) ==
	      offsetof(struct mmsb_delta, encoding));
static_assert(offsetof(struct mmsb_delta_desc, flags) ==
	      offsetof(struct mmsb_delta, flags));

/*
 * Read the input fields of the caller's delta, each exactly once: the
 * first 64 bytes whole (usercopy.h), then @pad.  The outputs between
 * @flags and @pad are not read.  Inside a user-access window for @u;
 * inlined, its fault exit becomes a jump to the caller's.  Returns 0 or
 * -EFAULT.
 */
static __always_inline int
mmsb_delta_unsafe_get(const struct mmsb_delta __user *u,
		      struct mmsb_delta_desc *d)
{
	if (mmsb_get_user_32(d, u) ||
	    mmsb_get_user_32((u8 *)d + 32, (const u8 __user *)u + 32))
		return -EFAULT;
	unsafe_get_user(d->pad, &u->pad, efault);
	return 0;
efault:
	return -EFAULT;
}

/* mmsb_delta_unsafe_get() in a window of its own. */
static __always_inline int mmsb_delta_read(const struct mmsb_delta __user *u,
					   struct mmsb_delta_desc *d)
{
	if (!user_read_access_begin(u, sizeof(*u)))
		return -EFAULT;
	if (mmsb_delta_unsafe_get(u, d))
		goto efault;
	user_read_access_end();
	return 0;
efault:
	user_read_access_end();
	return -EFAULT;
}

/*
 * mmsb_delta_read() of a delta whose outputs are not claimed yet: they
 * get their pending values first (as mmsb_submit_claim() writes them),
 * in the same window.  Returns 0 or %MMSB_DELTA_FAULT.
 */
static __always_inline int mmsb_delta_claim_read(struct mmsb_delta __user *u,
						 struct mmsb_delta_desc *d)
{
	if (!user_access_begin(u, sizeof(*u)))
		return MMSB_DELTA_FAULT;
	if (mmsb_delta_unsafe_put_pending(u) || mmsb_delta_unsafe_get(u, d))
		goto efault;
	user_access_end();
	return 0;
efault:
	user_access_end();
	return MMSB_DELTA_FAULT;
}

/**
 * mmsb_delta_add_array() - read a caller's deltas and add them, in order
 * @b: the submission's builder
 * @uptr: the caller's array of struct mmsb_delta
 * @next: in: the index of the first delta to read; out: where it stopped
 * @n: the number of deltas of @uptr
 * @base_id: delta @i gets id @base_id + @i + 1
 * @d: where each delta's input fields are read to (each field once)
 *
 * mmsb_delta_add() of each delta from *@next on, with the builder's
 * @left set, in one loop that has mmsb_delta_add()'s body inline.
 *
 * Context: process context; reads user memory, may sleep.
 * Return: 0 with *@next = @n once all went in.  Else what
 * mmsb_delta_add() or the read (-EFAULT) returned for delta *@next,
 * whose fields are in @d: %MMSB_DELTA_FULL (queue @b->cur, clear it and
 * mmsb_delta_add() @d), or its errno.
 */
int mmsb_delta_add_array(struct mmsb_builder *b,
			 const struct mmsb_delta __user *uptr, u32 *next,
			 u32 n, u64 base_id, struct mmsb_delta_desc *d)
{
	u32 i;
	int ret;

	for (i = *next; i < n; i++) {
		b->left = n - i;
		ret = mmsb_delta_read(uptr + i, d);
		if (!ret)
			ret = __mmsb_delta_add(b, d, base_id + i + 1, i);
		if (ret) {
			*next = i;
			return ret;
		}
	}
	*next = n;
	return 0;
}

/**
 * mmsb_delta_read_one() - read and check a delta for a record of its own
 * @ctx: submission state (the page table)
 * @pc: the file's page cache (struct mmsb_file's @pages)
 * @u: the caller's delta
 * @cred: the submitter's credentials
 * @admin: the submitter bypasses page modes
 * @id: the id it gets
 * @kd: out: its record, outside any queued chunk (where
 *	mmsb_chunk_handed_slot() of a chunk of handed records says), with
 *	room for %MMSB_DELTA_ONE_MAX payload bytes after it; its page
 *	referenced by the record
 *
 * For a small DENSE delta its submitter hands the tick
 * (mmsb_tick_run_handed(): a SYNC submission of one delta, a one-delta
 * io_uring command): its outputs claimed with their pending values and
 * its input fields read once each, in one user-access window (as
 * mmsb_submit_claim() and mmsb_delta_add_array() do it for others in
 * two), mmsb_delta_add()'s checks in its order, the payload copied once,
 * into the record.
 *
 * Context: process context; reads and writes user memory, may sleep.
 * Return: 0; %MMSB_DELTA_FAULT if the outputs could not be written
 * (nothing else done: -EFAULT for the call); %MMSB_DELTA_CHUNK for a
 * delta of another encoding or with more than %MMSB_DELTA_ONE_MAX bytes,
 * of which nothing was kept (it takes a chunk; its outputs are claimed);
 * or the errno it is refused with (the table at the top of this file).
 */
int mmsb_delta_read_one(struct mmsb_delta_ctx *ctx,
			struct mmsb_page_cache *pc,
			struct mmsb_delta __user *u,
			const struct cred *cred, bool admin, u64 id,
			struct mmsb_kdelta *kd)
{
	/* Every field is read from the caller: not zeroed first. */
	struct mmsb_delta_desc d __uninitialized;
	struct mmsb_page *page;
	int ret;

	ret = mmsb_delta_claim_read(u, &d);
	if (ret)
		return ret;
	if (d.encoding != MMSB_DELTA_DENSE || d.len > MMSB_DELTA_ONE_MAX)
		return MMSB_DELTA_CHUNK;
	ret = mmsb_delta_check_len(ctx->pages, &d);
	if (ret)
		return ret;
	page = mmsb_page_cache_get(pc, ctx->pages, d.page_id, cred, admin);
	if (IS_ERR(page))
		return PTR_ERR(page);
	ret = mmsb_delta_check_page(&d, page);
	if (!ret)
		ret = mmsb_delta_copy(kd->data, d.payload, d.len);
	if (ret) {
		mmsb_page_put(page);
		return ret;
	}
	kd->page = page;
	kd->tick_next = NULL;
	kd->id = id;
	kd->expected_epoch = d.expected_epoch;
	kd->offset = d.offset;
	kd->len = d.len;
	kd->index = 0;
	kd->status = 0;
	kd->size = mmsb_delta_need(d.len, d.encoding);
	mmsb_kdelta_set_masked(kd, false);
	kd->atomic = false;
	return 0;
}

/**
 * mmsb_delta_apply_slow() - mmsb_delta_apply() of a MASKED or large delta
 * @kd: the delta
 * @data: the page data
 *
 * Mask bytes that are all ones or all zeroes take the fast paths: most
 * masks are runs.
 */
void mmsb_delta_apply_slow(const struct mmsb_kdelta *kd, u8 *data)
{
	const u8 *mask = mmsb_kdelta_mask(kd);
	const u8 *src = kd->data;
	u8 *dst = data + kd->offset;
	size_t i, b, n;

	if (!mask) {
		memcpy(dst, src, kd->len);
		return;
	}
	for (i = 0; i < kd->len; i += 8) {
		u8 m = mask[i / 8];

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
EXPORT_SYMBOL_IF_KUNIT(mmsb_delta_apply_slow);
