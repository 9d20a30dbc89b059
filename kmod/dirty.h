/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb changed-byte ranges: what a tick changed in a page, as the engine
 * records it and propagation carries it along edges (propagate.c has
 * mmsb_dirty_merge()).
 */
#ifndef _MMSB_DIRTY_H
#define _MMSB_DIRTY_H

#include <linux/types.h>

/*
 * Ranges kept per page and tick.  Past that many disjoint ranges the two
 * closest are merged, or all of them when they hold more bytes than
 * their gaps, so the bytes between them travel too (they are the
 * source's current bytes, so a dependent that mirrors its source stays
 * equal to it).
 */
#define MMSB_DIRTY_RANGES	4

/**
 * struct mmsb_dirty_range - bytes [@start, @end) of a page
 * @start: first byte
 * @end: one past the last byte
 */
struct mmsb_dirty_range {
	u32 start;
	u32 end;
};

/**
 * struct mmsb_dirty - the bytes of one page changed in one tick
 * @id: page id
 * @nr: ranges used in @r (0: nothing changed)
 * @hint: the range of @r the last add landed in ({0, 0}: none); ranges
 *	only grow until the next mmsb_dirty_reset(), so bytes inside it
 *	need no look at @r
 * @r: disjoint, non-adjacent ranges, ascending
 */
struct mmsb_dirty {
	u64 id;
	unsigned int nr;
	struct mmsb_dirty_range hint;
	struct mmsb_dirty_range r[MMSB_DIRTY_RANGES];
};

/* No bytes changed: what every tick's ranges start from. */
static inline void mmsb_dirty_reset(struct mmsb_dirty *d)
{
	d->nr = 0;
	d->hint = (struct mmsb_dirty_range){ 0, 0 };
}

struct mmsb_dirty_range mmsb_dirty_merge(struct mmsb_dirty *d, u32 start,
					 u32 end);

/**
 * mmsb_dirty_add() - add bytes [@start, @end) to a page's changed ranges
 * @d: the ranges
 * @start: first byte
 * @end: one past the last byte, > @start, at most U32_MAX
 *
 * Inline for its common case, bytes inside a range already (the engine
 * calls it per delta, and a busy page's ranges soon merge): first the
 * range the last add landed in (@d->hint, two compares), then the first
 * range that ends at or after @end, the only one that can hold them.
 * Otherwise mmsb_dirty_merge() (propagate.c) merges them in.
 *
 * Context: the caller owns @d (the engine's thread for the page, or
 * propagation).
 */
static __always_inline void mmsb_dirty_add(struct mmsb_dirty *d, u32 start,
					   u32 end)
{
	const struct mmsb_dirty_range *r, *last;

	if (start >= d->hint.start && end <= d->hint.end)
		return;
	for (r = d->r, last = d->r + d->nr; r < last; r++) {
		if (r->end < end)
			continue;
		if (r->start > start)
			break;
		d->hint = *r;
		return;
	}
	d->hint = mmsb_dirty_merge(d, start, end);
}

#endif /* _MMSB_DIRTY_H */
