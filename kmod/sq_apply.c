// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb mapped submission queue, applied in place by the tick.
 *
 * A tick that begins with nothing queued, no change stream and no edge
 * applies the SQEs published when it began itself, after its drain
 * (mmsb_sq_snapshot() when it begins, mmsb_sq_apply() after the drain,
 * mmsb_sq_tick_end() at its end): each DENSE payload copied once from
 * the arena into the page, inside the page's write section, with the
 * engine's epoch and conflict rules; each CQE written as its SQE is
 * taken and published at the end of the tick.  Other encodings, and
 * rounds the tick cannot take in place, go through the tick's queue
 * (sq.c, mmsb_sq_round()).
 */
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "delta.h"
#include "engine.h"
#include "page.h"
#include "sq_internal.h"

/*
 * The page @id for an SQE applied in place by round @round, when the
 * queue's page cache does not say the round holds it (mmsb_sq_page_held()):
 * the cached page if its last reference did not go since the round
 * began, else looked up, with the file's permission checked.  The round
 * takes one reference on each page it uses, listed in @a->pages.
 */
static noinline struct mmsb_page *
mmsb_sq_page_slow(struct mmsb_sq *sq, struct mmsb_sq_apply *a, u64 round,
		  u32 *nr_pages, u64 id)
{
	struct mmsb_page_cache *pc = &sq->pages;
	u32 h = id & (BIT(MMSB_PAGE_CACHE_SHIFT) - 1);
	struct mmsb_page_cache_slot *e = &pc->slots[h];
	struct mmsb_page *page;

	if ((pc->valid & BIT_ULL(h)) && e->page->id == id) {
		page = e->page;
		if (refcount_inc_not_zero(&page->ref))
			goto hold;
		pc->valid &= ~BIT_ULL(h);
	}
	page = mmsb_page_lookup(sq->bus.deltas->pages, id, sq->cred,
				sq->admin, MMSB_MAY_WRITE);
	if (IS_ERR(page))
		return page;
	pc->valid |= BIT_ULL(h);
	e->page = page;
	if (page->sq.round == round) {
		/* Held by the round already: never the last reference. */
		mmsb_page_put(page);
		return page;
	}
hold:
	page->sq.round = round;
	page->sq.writing = false;
	a->pages[(*nr_pages)++] = page;
	return page;
}

/*
 * Does round @round hold the page @id already?  Then *@page is it, else
 * the caller looks it up with mmsb_sq_page_slow().  The queue's page
 * cache, checked against the table's erase count at the start of the
 * round inside the RCU section that keeps its structs, says which.
 */
static __always_inline bool
mmsb_sq_page_held(struct mmsb_sq *sq, u64 round, u64 id,
		  struct mmsb_page **page)
{
	struct mmsb_page_cache *pc = &sq->pages;
	u32 h = id & (BIT(MMSB_PAGE_CACHE_SHIFT) - 1);
	struct mmsb_page *p = pc->slots[h].page;

	*page = p;
	return likely(pc->valid & BIT_ULL(h)) && p->id == id &&
	       likely(p->sq.round == round);
}

/* Why mmsb_sq_write_begin() stops a round: see there. */
#define MMSB_SQ_QUEUE		1
#define MMSB_SQ_NEXT_TICK	2

/*
 * Open @page for the checked DENSE SQE @e in the tick, with the engine's
 * rules (engine.c): the page's write section opens at its first change
 * in the round, after the tick's writes (@a->open() if *@tick is still
 * 0); of the deltas expecting its epoch (@e's expected_epoch, read
 * here), only the first of the tick can apply.  Returns 0 when the
 * caller may copy the payload in, else the delta's status, or why the
 * round stops: MMSB_SQ_QUEUE when the tick cannot take SQEs in place
 * (the rest goes through the tick's queue), MMSB_SQ_NEXT_TICK at a page
 * that an earlier round or the drain of this tick changed (a tick shows
 * each page once: the rest waits for the next tick).
 */
static __always_inline s32 mmsb_sq_write_begin(struct mmsb_page *page,
					       const struct mmsb_sqe *e,
					       struct mmsb_sq_apply *a,
					       u64 *tick,
					       struct mmsb_engine_stats *es)
{
	u64 expected = READ_ONCE(e->expected_epoch);

	/* Open, so changed in this tick: as for any later delta. */
	if (likely(page->sq.writing)) {
		if (unlikely(!READ_ONCE(page->live)))
			goto gone;
		if (unlikely(expected))
			goto stale;
		return 0;
	}
	if (unlikely(!*tick)) {
		*tick = a->open(a);
		a->tick = *tick;
		if (!*tick)
			return MMSB_SQ_QUEUE;
	}
	if (unlikely(!READ_ONCE(page->live)))
		goto gone;
	if (unlikely(mmsb_page_changed_in(page, *tick)))
		return MMSB_SQ_NEXT_TICK;
	if (expected && expected != page->epoch)
		goto stale;
	mmsb_page_write_begin(page);
	page->sq.writing = true;
	page->sq.epoch = mmsb_page_epoch_written(page, *tick);
	return 0;
gone:
	es->rejected++;
	return -EIDRM;
stale:
	es->conflicts++;
	return -ESTALE;
}

/*
 * Close the write sections a round opened (the epoch rule: the page's
 * epoch rises once per tick) and add the round's counters @es to the
 * tick's.
 */
static void mmsb_sq_apply_end(struct mmsb_sq_apply *a, u32 nr_pages,
			      struct mmsb_engine_stats *es)
{
	struct mmsb_engine_stats *to = a->stats;
	struct mmsb_page *page;
	u32 i;

	for (i = 0; i < nr_pages; i++) {
		page = a->pages[i];
		if (page->sq.writing &&
		    mmsb_page_write_commit(page, a->tick, page->sq.last_id))
			es->pages_changed++;
	}
	to->processed += es->processed;
	to->rejected += es->rejected;
	to->conflicts += es->conflicts;
	to->pages_changed += es->pages_changed;
}

/*
 * One round applied in place, with @lock held, by a tick that took
 * everything queued before (see mmsb_sq_apply()): each field of an SQE
 * is read once into a local and checked there, as in mmsb_sq_round()
 * (the expected epoch and user_data only where they are used), and a
 * DENSE payload is copied once, from the arena straight into the page,
 * inside the page's write section; the epoch and conflict rules are the
 * engine's.  The CQEs are written as the SQEs are taken (nothing else
 * posts CQEs meanwhile: no round of the queue is in flight, @inflight,
 * and its consumers take turns on @lock) and published at the end of
 * the tick (mmsb_sq_tick_end()).
 *
 * The first SQE of another encoding or of an atomic chain, and every
 * SQE when the tick cannot take them in place (a delta queued since the
 * tick began, which must apply first; a round of the queue in flight;
 * the rest of a chain too long to take; an edge), go through
 * mmsb_sq_round() instead, into the tick's queue:
 * the first SQE is read again there, and only that read counts.
 *
 * Returns the SQEs consumed, or mmsb_sq_round()'s -ENOMEM.
 */
static int mmsb_sq_apply_round(struct mmsb_sq *sq, struct mmsb_sq_apply *a)
{
	struct mmsb_delta_ctx *ctx = sq->bus.deltas;
	const u64 max_size = ctx->pages->max_size;
	struct mmsb_page_cache *pc = &sq->pages;
	const struct mmsb_sqe *sqes = sq->sqes;
	struct mmsb_cqe *cqes = sq->cqes;
	u8 *arena = sq->arena;
	const u64 arena_bytes = sq->arena_bytes;
	const u32 sq_mask = sq->entries - 1, cq_mask = sq->cq_entries - 1;
	struct mmsb_sq_ring *r = sq->ring;
	u32 head = sq->sq_head, cq_tail = sq->cq_tail;
	u32 n, i, k, room, nr_pages = 0, refused = 0;
	s32 stop = 0;
	struct mmsb_engine_stats es = { };
	struct mmsb_delta_desc d;
	struct mmsb_page *page;
	u64 round, id, tick = a->tick, big = 0;
	unsigned long gen;
	int ret;

	if (sq->dead)
		return 0;
	/*
	 * Up to the tail as the tick began (mmsb_sq_snapshot()): an SQE
	 * published since, perhaps by a process that saw the CQEs of this
	 * tick or added an edge, goes to the next tick.
	 */
	n = sq->tick_tail - head;
	if (!n || n > sq->entries)
		return 0;
	/*
	 * A round in flight, or the rest of a chain too long to take (its
	 * last SQE may look like any other): through the tick's queue.
	 */
	if (sq->inflight || sq->chain_e2big)
		return mmsb_sq_round(sq);
	room = mmsb_sq_cq_room(sq);
	if (room < n) {
		WRITE_ONCE(r->overflow, ++sq->overflow);
		n = room;
	}
	n = min3(n, a->left, min(a->max_pages, MMSB_SQ_ROUND_MAX));
	if (!n)
		return 0;
	round = ++sq->bus.list->round;
	/* Delta i of the round gets id + i + 1, refused or not. */
	id = atomic64_add_return(n, &ctx->next_id) - n;

	rcu_read_lock();
	gen = mmsb_page_table_erased(ctx->pages);
	if (gen != pc->gen) {
		pc->valid = 0;
		pc->gen = gen;
	}
	/*
	 * In runs where neither ring wraps, an SQE and a CQE pointer each;
	 * a run left early leaves the rest to mmsb_sq_round().
	 */
	for (i = 0; i < n; ) {
		const struct mmsb_sqe *e = &sqes[(head + i) & sq_mask];
		const struct mmsb_sqe *first = e, *last;
		struct mmsb_cqe *cqe = &cqes[(cq_tail + i) & cq_mask];

		last = e + min3(n - i, sq_mask + 1 - ((head + i) & sq_mask),
				cq_mask + 1 - ((cq_tail + i) & cq_mask));
		for (; e < last; e++, cqe++) {
			const u8 *src;
			s32 status;
			u8 *dst;

			id++;
			ret = mmsb_sq_desc(arena, arena_bytes, e, &d);
			if (unlikely(ret)) {
				/* An atomic chain: through the tick's queue. */
				if (ret == MMSB_SQ_DESC_CHAIN)
					break;
				goto refuse;
			}
			if (unlikely(d.encoding != MMSB_DELTA_DENSE))
				break;
			/*
			 * struct mmsb_delta's checks, in its order: a length
			 * of 0 or over any page's size before the page's
			 * errors.  On a page the round holds, only a length
			 * of 0 needs its own test: one over its size fails
			 * the window's with the same -ERANGE.
			 */
			if (likely(mmsb_sq_page_held(sq, round, d.page_id,
						     &page))) {
				if (unlikely(!d.len)) {
					ret = -EINVAL;
					goto refuse;
				}
			} else {
				if (unlikely(d.len - 1 >= max_size)) {
					ret = d.len ? -ERANGE : -EINVAL;
					goto refuse;
				}
				page = mmsb_sq_page_slow(sq, a, round, &nr_pages,
							 d.page_id);
				if (IS_ERR(page)) {
					ret = PTR_ERR(page);
					goto refuse;
				}
			}
			if (unlikely(d.offset + d.len > page->size)) {
				ret = -ERANGE;
				goto refuse;
			}
			if (unlikely(d.payload_len != d.len)) {
				ret = -EMSGSIZE;
				goto refuse;
			}
			status = mmsb_sq_write_begin(page, e, a, &tick, &es);
			if (unlikely(status)) {
				if (status > 0) {
					stop = status;
					break;
				}
				/* Read where used: fewer registers live. */
				mmsb_sq_cqe(cqe, READ_ONCE(e->user_data), id, 0,
					    status);
				continue;
			}
			dst = page->data + d.offset;
			src = (const u8 *)(uintptr_t)d.payload;
			if (likely(d.len <= MMSB_COPY_WORDS_MAX)) {
				mmsb_copy_words(dst, src, d.len);
			} else {
				memcpy(dst, src, d.len);
				big += d.len;
				/* This SQE is the round's last. */
				if (big > MMSB_SQ_ROUND_BYTES) {
					n = i + (e - first) + 1;
					last = e + 1;
				}
			}
			page->sq.last_id = id;
			mmsb_sq_cqe(cqe, READ_ONCE(e->user_data), id,
				    page->sq.epoch, 0);
			continue;
refuse:
			mmsb_sq_cqe(cqe, READ_ONCE(e->user_data), 0, 0, ret);
			refused++;
		}
		i += e - first;
		if (e < last)
			break;
	}
	/* Every SQE taken and not refused applied, unless it said why not. */
	es.processed = i - refused - es.rejected - es.conflicts;
	mmsb_sq_apply_end(a, nr_pages, &es);
	rcu_read_unlock();
	for (k = 0; k < nr_pages; k++)
		mmsb_page_put(a->pages[k]);

	/* STATS: counted before the tick publishes its totals. */
	atomic64_add(i - refused, &ctx->submitted);
	a->handled += i - refused;
	a->left -= i - refused;
	if (refused) {
		atomic64_add(refused, &ctx->rejected);
		/* Before the CQEs, as in mmsb_sq_round(). */
		smp_mb__after_atomic();
	}
	sq->sq_head = head + i;
	/* As in mmsb_sq_round(): every copy out of the SQEs is done. */
	smp_store_release(&r->sq_head, sq->sq_head);
	if (i) {
		/*
		 * Written, published at the end of the tick, when everything
		 * it changes is: as a batch's, whose CQEs come at the end of
		 * its tick.  Before, a reader that saw them could find a
		 * page at the epoch they name that a later round of the tick
		 * still changes.
		 */
		spin_lock(&sq->cq_lock);
		sq->cq_tail += i;
		if (!sq->cq_held) {
			sq->cq_held = true;
			kref_get(&sq->ref);
			sq->held_next = a->held;
			a->held = sq;
		}
		spin_unlock(&sq->cq_lock);
	}
	if (stop == MMSB_SQ_NEXT_TICK) {
		a->again = true;
	} else if (i < n) {
		ret = mmsb_sq_round(sq);
		if (ret < 0 && !i)
			return ret;
		if (ret > 0)
			i += ret;
	}
	return i;
}

/**
 * mmsb_sq_snapshot() - a tick begins: note each queue's published SQEs
 * @list: the bus's queues
 *
 * Each queue's sq_tail, read with acquire: whatever user space did
 * before it published those SQEs (an edge added, a delta queued) is
 * seen by the tick's looks after this.  mmsb_sq_apply() applies
 * nothing past it in this tick.
 *
 * Context: the tick, with its run_lock, before it decides how it takes
 * the SQEs.
 * Return: whether a queue has SQEs published and not yet consumed.
 */
bool mmsb_sq_snapshot(struct mmsb_sq_list *list)
{
	struct mmsb_sq *sq;
	bool any = false;

	mutex_lock(&list->lock);
	list_for_each_entry(sq, &list->head, node) {
		/* Pairs with user space's release store of sq_tail. */
		sq->tick_tail = smp_load_acquire(&sq->ring->sq_tail);
		any |= sq->tick_tail != READ_ONCE(sq->sq_head);
	}
	mutex_unlock(&list->lock);
	return any;
}

/**
 * mmsb_sq_apply() - the tick applies the queues' SQEs in place
 * @list: the bus's queues
 * @a: the tick's state; @a->handled counts what it handled
 *
 * For a tick that started with nothing queued, no change stream open
 * and no edge, after its drain: the SQEs published when it began
 * (mmsb_sq_snapshot()) come after every delta accepted before them, and
 * the tick applies them itself, without a record per delta
 * (mmsb_sq_apply_round()).  One round of each queue in turn, again
 * while rounds take SQEs, until @a->deadline (then @a->overrun),
 * @a->left is 0 (then @a->more: the tick should be followed by another)
 * or a round stops at a page the tick changed already (@a->again); the
 * list turns by one each tick, so no queue always goes first.  A queue
 * another consumer holds waits for the next tick.
 *
 * Context: the tick, with its run_lock, after the drain.
 * Return: whether a queue is set up (see mmsb_sq_tick()).
 */
bool mmsb_sq_apply(struct mmsb_sq_list *list, struct mmsb_sq_apply *a)
{
	struct mmsb_sq *sq;
	bool armed, more;
	int n;

	mutex_lock(&list->lock);
	do {
		more = false;
		list_for_each_entry(sq, &list->head, node) {
			if (!mutex_trylock(&sq->lock))
				continue;
			n = mmsb_sq_apply_round(sq, a);
			mutex_unlock(&sq->lock);
			more |= n > 0 && !a->again;
			if (n > 0 && ktime_get_ns() > a->deadline) {
				a->overrun = true;
				more = false;
				break;
			}
		}
	} while (more && a->left);
	/* Stopped by the budget or batch_max: there may be more to take. */
	a->more = a->overrun || !a->left;
	if (!list_empty(&list->head))
		list_rotate_left(&list->head);
	armed = list->nr;
	mutex_unlock(&list->lock);
	return armed;
}

/**
 * mmsb_sq_tick_end() - publish the CQEs of the SQEs a tick applied in place
 * @a: the tick's state, whose @held lists the queues with CQEs waiting
 *
 * At the end of the tick, after its propagation, when all it changed is
 * visible: the CQEs of every queue mmsb_sq_apply() took SQEs from (and
 * any other CQE posted behind them meanwhile), as a batch's come at the
 * end of its tick.
 *
 * Context: the tick, with its run_lock, once its batches completed.
 */
void mmsb_sq_tick_end(struct mmsb_sq_apply *a)
{
	struct mmsb_sq *sq, *next;

	for (sq = a->held; sq; sq = next) {
		next = sq->held_next;
		spin_lock(&sq->cq_lock);
		sq->cq_held = false;
		mmsb_sq_publish(sq);
		spin_unlock(&sq->cq_lock);
		mmsb_sq_notify(sq);
		mmsb_sq_put(sq);
	}
	a->held = NULL;
}
