/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb deltas: the kernel form of a submitted delta, its validation, its
 * copy into a chunk (batch.h) and its application to page data.
 *
 * A delta is a record in a chunk: struct mmsb_kdelta, then @len bytes of
 * payload laid out at window positions, then for MASKED deltas the
 * bitmap.  SPARSE deltas are expanded to MASKED as they are copied in,
 * so the apply path knows two forms only.  The chunk holds the page
 * reference and the memory; the record holds neither.
 *
 * A submission writes its records through a struct mmsb_builder, which
 * opens chunks as needed; when the open one is full, mmsb_delta_add()
 * says so and the caller hands it on (to the tick's queue) and asks
 * again.
 */
#ifndef _MMSB_DELTA_H
#define _MMSB_DELTA_H

#include <linux/cred.h>
#include <linux/string.h>
#include <linux/types.h>

#include <linux/mmsb.h>

#include "batch.h"

struct mmsb_page;
struct mmsb_page_table;

/**
 * struct mmsb_kdelta - a validated delta, a record in a chunk
 * @page: target page, held by the record's chunk
 * @tick_next: next delta of the same page in this tick, in ring order;
 *	written and read only by the tick and the one thread that applies
 *	the page.  NULL from the record's making on (as after resuming a
 *	park) until the tick links a later one to it: a record enters
 *	one tick only, so the tick never clears it
 * @park_index: while its submission is parked (mmsb_builder_park()),
 *	the index of the record's page in its chunk's page list; a parked
 *	record is in no tick
 * @id: delta id, unique while the module is loaded
 * @expected_epoch: 0 = any, else the epoch the page must be at; read
 *	by the tick before it writes @epoch in its place
 * @epoch: out: the page's epoch after the tick that handled the delta
 * @offset: window start in the page data
 * @len: window length, >= 1; @offset + @len <= page size (<= 1 GiB)
 * @index: position in the submission
 * @status: out: 0 applied, -ESTALE conflict, -EIDRM page freed; 0 from
 *	the record's making until the tick refuses it, so applying it
 *	leaves it alone
 * @size: bytes of the record, a multiple of 8
 * @masked: a bitmap of (@len + 7) / 8 bytes follows the payload (bit i
 *	of byte i / 8, LSB first; bits past @len are zero)
 * @words: not @masked and @len at most %MMSB_COPY_WORDS_MAX: applied
 *	with word moves, inline (mmsb_delta_apply()); both set by
 *	mmsb_kdelta_set_masked()
 * @atomic: part of an MMSB_SUBMIT_ATOMIC submission, whose checks the
 *	tick made for all its deltas before applying any
 * @data: @len payload bytes at window positions (for MASKED only the
 *	masked ones matter)
 *
 * 56 bytes before the payload: a call of 256 deltas of 64 bytes fits a
 * 32 KiB chunk.
 */
struct mmsb_kdelta {
	struct mmsb_page *page;
	union {
		struct mmsb_kdelta *tick_next;
		unsigned long park_index;
	};
	u64 id;
	union {
		u64 expected_epoch;
		u64 epoch;
	};
	u32 offset;
	u32 len;
	u32 index;
	s32 status;
	u32 size;
	u8 masked;
	u8 words;
	u16 atomic;
	u8 data[];
};

static_assert(sizeof(struct mmsb_kdelta) == 56);

static inline const u8 *mmsb_kdelta_mask(const struct mmsb_kdelta *kd)
{
	return kd->masked ? kd->data + kd->len : NULL;
}

/**
 * struct mmsb_delta_desc - the input fields of a struct mmsb_delta, read
 * once from the caller into this private copy
 */
struct mmsb_delta_desc {
	u64 page_id;
	u64 expected_epoch;
	u64 offset;
	u64 len;
	u64 payload;
	u64 payload_len;
	u64 mask;
	u32 encoding;
	u32 flags;
	u32 pad;
};

/*
 * Pages a file's submissions keep looked up: a direct-mapped cache
 * indexed by the low bits of the id.  Ids are handed out in sequence,
 * so the pages of a working set created together never collide (a hash
 * of 64 ids into 64 slots collides for about a third of them, and each
 * collision costs a lookup per delta).
 */
#define MMSB_PAGE_CACHE_SHIFT	6

/**
 * struct mmsb_page_cache_slot - a page a submission looked up
 * @page: the page, found writable by the file's credentials; no
 *	reference (see struct mmsb_page_cache)
 * @seq: the number of the last chunk that took a reference on it
 */
struct mmsb_page_cache_slot {
	struct mmsb_page *page;
	u64 seq;
};

/**
 * struct mmsb_page_cache - the pages a file's submissions looked up
 * @busy: bit 0 is set while a submission uses the cache
 * @gen: the page table's @erased count read before the lookups of the
 *	entries; an entry is trusted only while that count is unchanged
 * @seq: the number of the last chunk that took references from it; 64
 *	bits, never wrapping: a chunk may keep its number across
 *	submissions (mmsb_builder_use()), and a number given again would
 *	say it holds a page that it does not
 * @valid: bit h set: @slots[h] holds a page
 * @slots: the entries
 *
 * So that a stream of small submissions looks each page up and checks
 * its permission once, not once per call.  The cache holds no reference
 * (it never pins a freed page): a chunk takes its reference on an entry
 * with refcount_inc_not_zero() inside an RCU read-side section that saw
 * @gen unchanged, so no page left the table since the lookup and the
 * entry's struct is still allocated (pages are freed with kfree_rcu()).
 * Permission is cached with the page: a page's mode and owner are fixed
 * at creation, and the file's credentials at open.
 */
struct mmsb_page_cache {
	unsigned long busy;
	unsigned long gen;
	u64 seq;
	u64 valid;
	struct mmsb_page_cache_slot slots[1 << MMSB_PAGE_CACHE_SHIFT];
};

/**
 * struct mmsb_builder - writes one submission's records into chunks
 * @ctx: submission state (pool, limit, page table)
 * @cred: the submitter's credentials, for the page permission
 * @admin: the submitter bypasses page modes
 * @max_records: records per chunk at most (the ring's capacity)
 * @left: deltas of the submission not added yet, this one included
 *	(the caller keeps it), for the size of the next chunk
 * @cur: the chunk being filled, or NULL
 * @batch: NULL, or the batch every chunk reports to (set on the first
 *	chunk when @want_batch)
 * @want_batch: the submission is awaited
 * @atomic: MMSB_SUBMIT_ATOMIC: one chunk of the largest size, at most
 *	@max_records records
 * @cache: the pages looked up, the file's or the submission's own
 *	(mmsb_page_cache_acquire()); each chunk takes one reference on
 *	every distinct page it addresses
 * @parked: while the submission is parked (mmsb_builder_park()), the
 *	number of page ids that @cur keeps instead of its references
 * @ksrc: payload and mask are kernel addresses (the mapped queue's
 *	arena, sq.c; records queued again, submit.c), copied with
 *	memcpy(); else user pointers
 * @fixed: @cur is the caller's chunk (mmsb_builder_use())
 */
struct mmsb_builder {
	struct mmsb_delta_ctx *ctx;
	const struct cred *cred;
	bool admin;
	bool want_batch;
	bool atomic;
	u32 max_records;
	u32 left;
	struct mmsb_chunk *cur;
	struct mmsb_batch *batch;
	struct mmsb_page_cache *cache;
	u32 parked;
	bool ksrc;
	bool fixed;
};

/* mmsb_delta_add(): the open chunk cannot take the delta; push it. */
#define MMSB_DELTA_FULL		1

/* mmsb_delta_read_one(): the delta needs a chunk; nothing was kept. */
#define MMSB_DELTA_CHUNK	2

/* mmsb_submit_read_one(): the delta was refused, its status written. */
#define MMSB_DELTA_REFUSED	3

/* mmsb_delta_read_one(): the delta's outputs cannot be written; nothing done. */
#define MMSB_DELTA_FAULT	4

/* Payload bytes at most of a delta read into a record of its own. */
#define MMSB_DELTA_ONE_MAX	MMSB_COPY_WORDS_MAX

struct mmsb_page_cache *mmsb_page_cache_acquire(struct mmsb_page_cache *shared,
						struct mmsb_page_cache *local);
void mmsb_builder_init(struct mmsb_builder *b, struct mmsb_delta_ctx *ctx,
		       struct mmsb_page_cache *cache, const struct cred *cred,
		       bool admin, bool want_batch, bool atomic,
		       u32 max_records);
void mmsb_builder_use(struct mmsb_builder *b, struct mmsb_chunk *c);
int mmsb_delta_check(const struct mmsb_delta_desc *d);
int mmsb_delta_add(struct mmsb_builder *b, const struct mmsb_delta_desc *d,
		   u64 id, u32 index);
int mmsb_delta_add_array(struct mmsb_builder *b,
			 const struct mmsb_delta __user *uptr, u32 *next,
			 u32 n, u64 base_id, struct mmsb_delta_desc *d);
int mmsb_delta_read_one(struct mmsb_delta_ctx *ctx,
			struct mmsb_page_cache *pc,
			struct mmsb_delta __user *u,
			const struct cred *cred, bool admin, u64 id,
			struct mmsb_kdelta *kd);
void mmsb_builder_close(struct mmsb_builder *b);
void mmsb_builder_finish(struct mmsb_builder *b);
void mmsb_builder_park(struct mmsb_builder *b);
void mmsb_builder_resume(struct mmsb_builder *b, struct mmsb_page_cache *cache,
			 void (*refuse)(void *arg, u32 index, int status),
			 void *arg);
void mmsb_delta_apply_slow(const struct mmsb_kdelta *kd, u8 *data);

/* Payloads up to this many bytes are copied with word moves. */
#define MMSB_COPY_WORDS_MAX	256

/* Copy the word at @src + @off to @dst + @off, neither aligned. */
static __always_inline void mmsb_copy_word(u8 *dst, const u8 *src,
					   size_t off)
{
	memcpy(dst + off, src + off, sizeof(u64));
}

/* Copy the 32 bytes at @src + @off to @dst + @off. */
static __always_inline void mmsb_copy_block(u8 *dst, const u8 *src,
					    size_t off)
{
	mmsb_copy_word(dst, src, off);
	mmsb_copy_word(dst, src, off + 8);
	mmsb_copy_word(dst, src, off + 16);
	mmsb_copy_word(dst, src, off + 24);
}

/*
 * Copy @len bytes, at most MMSB_COPY_WORDS_MAX, between kernel buffers
 * that do not overlap, with word moves: for the small payloads of most
 * deltas a memcpy() call costs more than these (without FSRM it is a
 * loop that aligns first).  From 32 bytes on (tested first: two tests
 * for up to 64 bytes), 64 bytes a turn until 33 to 96 are left, then 32
 * more if over 64 are, then two blocks of 32, the last ending at @len
 * (under 32 bytes: words, the last ending at @len), which rewrites
 * bytes copied already and never touches a byte outside [@dst, @dst +
 * @len): up to 64 bytes take two blocks, no loop and no tail; 128 one
 * turn and two blocks.  Those bytes are read twice: from memory another
 * thread may write (the mapped queue's arena), the copy may hold either
 * value of a byte, and it is the copy that counts.
 */
static __always_inline void mmsb_copy_words(u8 *dst, const u8 *src,
					    size_t len)
{
	size_t i;

	if (len >= 4 * sizeof(u64)) {
		/*
		 * Down to the last 33 to 96 bytes, then to 33 to 64.  @len
		 * hidden: else the compiler counts the turns first and
		 * derives @len after the loop, some ten instructions for
		 * the one turn of a 128-byte delta.
		 */
		while (len > 12 * sizeof(u64)) {
			mmsb_copy_block(dst, src, 0);
			mmsb_copy_block(dst, src, 4 * sizeof(u64));
			dst += 8 * sizeof(u64);
			src += 8 * sizeof(u64);
			len -= 8 * sizeof(u64);
			OPTIMIZER_HIDE_VAR(len);
		}
		if (len > 8 * sizeof(u64)) {
			mmsb_copy_block(dst, src, 0);
			dst += 4 * sizeof(u64);
			src += 4 * sizeof(u64);
			len -= 4 * sizeof(u64);
		}
		/* Two blocks, which may overlap. */
		mmsb_copy_block(dst, src, 0);
		mmsb_copy_block(dst, src, len - 4 * sizeof(u64));
		return;
	}
	if (len >= sizeof(u64)) {
		for (i = 0; i + sizeof(u64) < len; i += sizeof(u64))
			mmsb_copy_word(dst, src, i);
		mmsb_copy_word(dst, src, len - sizeof(u64));
		return;
	}
	for (i = 0; i < len; i++)
		dst[i] = src[i];
}

/**
 * mmsb_delta_apply() - write a delta's bytes into page data
 * @kd: the delta
 * @data: the page data (the window is at @data + @kd->offset)
 *
 * The caller is inside the page's write section.  Inline for the common
 * delta, a small DENSE one: the tick applies one per record.
 */
static __always_inline void mmsb_delta_apply(const struct mmsb_kdelta *kd,
					     u8 *data)
{
	if (likely(kd->words))
		mmsb_copy_words(data + kd->offset, kd->data, kd->len);
	else
		mmsb_delta_apply_slow(kd, data);
}

/* Make @kd (its @len set) MASKED or not: @masked and @words. */
static inline void mmsb_kdelta_set_masked(struct mmsb_kdelta *kd, bool masked)
{
	kd->masked = masked;
	kd->words = !masked && kd->len <= MMSB_COPY_WORDS_MAX;
}

/* The record after @kd in its chunk. */
static inline struct mmsb_kdelta *mmsb_kdelta_next(struct mmsb_kdelta *kd)
{
	return (struct mmsb_kdelta *)((u8 *)kd + kd->size);
}

/* The first record of a chunk. */
static inline struct mmsb_kdelta *mmsb_chunk_first(struct mmsb_chunk *c)
{
	return (struct mmsb_kdelta *)c->mem;
}

/*
 * Where the next record of a chunk of handed records
 * (mmsb_chunk_init_handed()) is read to (mmsb_delta_read_one()), or NULL
 * if the chunk has no room for one of %MMSB_DELTA_ONE_MAX payload bytes.
 */
static inline struct mmsb_kdelta *mmsb_chunk_handed_slot(struct mmsb_chunk *c)
{
	if (mmsb_chunk_room(c) < sizeof(struct mmsb_kdelta) + MMSB_DELTA_ONE_MAX)
		return NULL;
	return (struct mmsb_kdelta *)(c->mem + c->used);
}

/*
 * Make @kd, read into mmsb_chunk_handed_slot(), @c's last record.  Its
 * index stays its submission's (0: mmsb_delta_read_one()), where its
 * outputs go.
 */
static inline void mmsb_chunk_handed_add(struct mmsb_chunk *c,
					 struct mmsb_kdelta *kd)
{
	c->nr++;
	c->used += kd->size;
}

#endif /* _MMSB_DELTA_H */
