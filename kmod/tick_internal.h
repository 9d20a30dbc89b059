/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb tick, inside: what tick.c (the phases) and tick_queue.c (the
 * drain) share.  Nothing else includes it: the rest of mmsb sees tick.h.
 */
#ifndef _MMSB_TICK_INTERNAL_H
#define _MMSB_TICK_INTERNAL_H

#include <linux/types.h>

#include "batch.h"
#include "delta.h"
#include "page.h"

/**
 * __mmsb_tick_partition() - link a chunk's next deltas onto their pages
 * @c: the chunk; its records from @c->pos on are taken, in order
 * @max: records to take at most
 * @pages: each page with deltas once, in order of first appearance
 * @nr_pages: in/out: entries of @pages used
 * @max_pages: entries of @pages: the take stops before a delta on a page
 *	that would need one more
 * @changed: 0, or the tick whose earlier takes changed pages: the take
 *	stops before a delta on one of them (mmsb_tick_take())
 *
 * O(n): each page's list, in ring order, hangs off the page
 * (->tick.first/tick.last), fields that only the tick and then the
 * page's worker touch.
 *
 * Return: records taken.
 */
static __always_inline unsigned int
__mmsb_tick_partition(struct mmsb_chunk *c, unsigned int max,
		      struct mmsb_page **pages, unsigned int *nr_pages,
		      unsigned int max_pages, u64 changed)
{
	/* In locals: the stores below could alias @c for the compiler. */
	struct mmsb_kdelta *kd = (struct mmsb_kdelta *)(c->mem + c->pos);
	unsigned int n, left, nr = *nr_pages;

	/* Counted down: one instruction a delta less than up to @max. */
	max = min(max, c->nr - c->taken);
	for (left = max; left; left--, kd = mmsb_kdelta_next(kd)) {
		struct mmsb_page *page = kd->page;

		if (!page->tick.first) {
			if (nr == max_pages)
				break;
			if (unlikely(changed) &&
			    mmsb_page_changed_in(page, changed))
				break;
			page->tick.first = kd;
			pages[nr++] = page;
		} else {
			page->tick.last->tick_next = kd;
		}
		/* Its ->tick_next is NULL: see struct mmsb_kdelta. */
		page->tick.last = kd;
	}
	n = max - left;
	c->pos = (u8 *)kd - c->mem;
	c->taken += n;
	*nr_pages = nr;
	return n;
}

#endif /* _MMSB_TICK_INTERNAL_H */
