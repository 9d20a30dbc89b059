// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb ring: bounded multi-producer multi-consumer FIFO of pointers.
 *
 * This is Dmitry Vyukov's bounded MPMC queue.  Every slot carries a
 * sequence number that says whose turn it is:
 *
 *   slot(p).seq == p          free: the producer that claims position p
 *                             may fill it;
 *   slot(p).seq == p + 1      full: the consumer that claims p may take it;
 *   slot(p).seq == p + size   emptied: free for position p + size, the
 *                             same slot one lap later.
 *
 * A producer claims position p by moving tail from p to p + 1 with a
 * cmpxchg, but only after it has seen slot(p).seq == p; then it stores
 * the item and publishes it by setting seq to p + 1.  Consumers do the
 * same on head, waiting for p + 1 and handing the slot back as p + size.
 * The cmpxchg makes each position belong to exactly one producer and one
 * consumer; the sequence number orders the item between the two.
 *
 * Nobody ever waits for another CPU: a slot that is not ready means the
 * ring is full (producer) or empty (consumer) at that moment, and the
 * call returns.  A producer that has claimed a slot but not yet
 * published it makes consumers see "empty" at that slot until it does;
 * the window is a few instructions long and runs with preemption off.
 *
 * Positions are unsigned longs that run freely and wrap; all comparisons
 * are on the signed difference of two positions, which stays within
 * +-MMSB_RING_MAX_CAPACITY and so cannot be confused by the wrap.
 */

#include <linux/errno.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/preempt.h>
#include <linux/slab.h>
#include <kunit/visibility.h>

#include "ring.h"

static inline struct mmsb_ring_slot *mmsb_ring_slot(const struct mmsb_ring *r,
						    unsigned long pos)
{
	return &r->slots[pos & r->mask];
}

/**
 * mmsb_ring_init() - allocate and initialise an empty ring
 * @r: the ring
 * @capacity: requested number of slots, 1..%MMSB_RING_MAX_CAPACITY;
 *	rounded up to a power of two, and to at least
 *	%MMSB_RING_MIN_CAPACITY
 *
 * May sleep.  The ring must be published to other CPUs by the caller
 * (module init, a lock, a release store) before they use it.
 *
 * Return: 0, -EINVAL for a capacity of 0 or over the bound, or -ENOMEM.
 */
int mmsb_ring_init(struct mmsb_ring *r, unsigned long capacity)
{
	unsigned long size, i;

	if (!capacity || capacity > MMSB_RING_MAX_CAPACITY)
		return -EINVAL;
	/* MMSB_RING_MAX_CAPACITY is a power of two: size stays in bound. */
	size = max(roundup_pow_of_two(capacity), MMSB_RING_MIN_CAPACITY);

	r->slots = kvmalloc_array(size, sizeof(*r->slots), GFP_KERNEL);
	if (!r->slots)
		return -ENOMEM;
	for (i = 0; i < size; i++) {
		atomic_long_set(&r->slots[i].seq, i);
		r->slots[i].item = NULL;
	}
	r->mask = size - 1;
	atomic_long_set(&r->tail, 0);
	atomic_long_set(&r->head, 0);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_ring_init);

/**
 * mmsb_ring_cleanup() - empty the ring and free its memory
 * @r: the ring, initialised by mmsb_ring_init(), with no other users left
 * @destroy: called on every item still queued, oldest first; may be NULL
 *	when the caller knows the ring is empty or does not own the items
 *
 * Like ptr_ring_cleanup(): the ring holds pointers it does not own, so
 * whoever does passes the destructor.  May sleep (kvfree).
 */
void mmsb_ring_cleanup(struct mmsb_ring *r, void (*destroy)(void *item))
{
	void *item;

	if (!r->slots)
		return;
	while ((item = mmsb_ring_try_pop(r)))
		if (destroy)
			destroy(item);
	kvfree(r->slots);
	r->slots = NULL;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_ring_cleanup);

/*
 * Claim up to @n consecutive positions from @ctr (tail for producers,
 * head for consumers).  Position p is ready for the caller when its slot's
 * sequence is p + @lag: lag 0 is "free" for a producer, lag 1 is "full"
 * for a consumer.  Stops at the first position that is not ready.
 *
 * Returns how many positions were claimed, the first in *@first; 0 means
 * the ring was full (producer) or empty (consumer) when looked at.  The
 * caller must hand every claimed slot on with a release of its seq.
 */
static __always_inline unsigned int mmsb_ring_claim(struct mmsb_ring *r,
						    atomic_long_t *ctr,
						    unsigned long lag,
						    unsigned int n,
						    unsigned long *first)
{
	unsigned long pos;

	if (!n)
		return 0;
	pos = atomic_long_read(ctr);
	for (;;) {
		unsigned long seq;
		unsigned int k;
		long dif = 0;

		for (k = 0; k < n; k++) {
			/*
			 * Pairs with the atomic_long_set_release() of seq in
			 * mmsb_ring_publish() (consumers: the item is written)
			 * or mmsb_ring_release() (producers: the old item has
			 * been read, the slot may be overwritten).
			 */
			seq = atomic_long_read_acquire(&mmsb_ring_slot(r, pos + k)->seq);
			dif = (long)(seq - (pos + k + lag));
			if (dif)
				break;
		}
		if (k) {
			/*
			 * Relaxed is enough: the cmpxchg only decides who owns
			 * the positions; the item itself is ordered by the
			 * acquire above and the release that follows the
			 * access, and nobody else touches a slot we won, so
			 * our item access may even pass the cmpxchg.  Position
			 * numbers do not repeat within any realistic time
			 * (2^64 claims), so no ABA.
			 */
			if (atomic_long_try_cmpxchg_relaxed(ctr, (long *)&pos,
							    pos + k)) {
				*first = pos;
				return k;
			}
			/* Lost the race: pos now holds the current counter. */
			continue;
		}
		/*
		 * dif < 0: the slot still belongs to the previous turn -- a
		 * lap behind for a producer (full), not yet published for a
		 * consumer (empty).
		 */
		if (dif < 0)
			return 0;
		/* dif > 0: others claimed pos meanwhile; look again. */
		pos = atomic_long_read(ctr);
	}
}

/* Producer side of a claimed slot: store the item, hand it to consumers. */
static __always_inline void mmsb_ring_publish(struct mmsb_ring *r,
					      unsigned long pos, void *item)
{
	struct mmsb_ring_slot *s = mmsb_ring_slot(r, pos);

	/* Plain store: we own the slot until the release below. */
	s->item = item;
	/* Pairs with the consumer's acquire in mmsb_ring_claim(). */
	atomic_long_set_release(&s->seq, pos + 1);
}

/* Consumer side of a claimed slot: take the item, free the slot. */
static __always_inline void *mmsb_ring_release(struct mmsb_ring *r,
					       unsigned long pos)
{
	struct mmsb_ring_slot *s = mmsb_ring_slot(r, pos);
	void *item = s->item;

	/* Drop the stale pointer so kmemleak cannot count it as a ref. */
	s->item = NULL;
	/* Pairs with the producer's acquire in mmsb_ring_claim(). */
	atomic_long_set_release(&s->seq, pos + r->mask + 1);
	return item;
}

/**
 * mmsb_ring_try_push() - append one item
 * @r: the ring
 * @item: a non-NULL pointer
 *
 * Never sleeps or spins on another CPU; callable from any context.
 *
 * Return: 0 when queued; -ENOSPC when the ring is full (the item stays
 * with the caller); -EINVAL for a NULL item.
 */
int mmsb_ring_try_push(struct mmsb_ring *r, void *item)
{
	unsigned long pos;

	if (unlikely(!item))
		return -EINVAL;
	/* Keep the claim-to-publish window short: consumers stall on it. */
	preempt_disable();
	if (!mmsb_ring_claim(r, &r->tail, 0, 1, &pos)) {
		preempt_enable();
		return -ENOSPC;
	}
	mmsb_ring_publish(r, pos, item);
	preempt_enable();
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_ring_try_push);

/**
 * mmsb_ring_try_pop() - take the oldest item
 * @r: the ring
 *
 * Never sleeps or spins on another CPU; callable from any context.
 *
 * Return: the item, or NULL when the ring is empty.
 */
void *mmsb_ring_try_pop(struct mmsb_ring *r)
{
	unsigned long pos;
	void *item = NULL;

	preempt_disable();
	if (mmsb_ring_claim(r, &r->head, 1, 1, &pos))
		item = mmsb_ring_release(r, pos);
	preempt_enable();
	return item;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_ring_try_pop);

/**
 * mmsb_ring_push_batch() - append several items, in order
 * @r: the ring
 * @items: @n non-NULL pointers
 * @n: how many to push
 *
 * Claims as many consecutive slots as are free with one cmpxchg, so the
 * batch lands contiguously (no other producer's item in between) and
 * costs one contended operation per attempt rather than one per item.
 * Stops at the first full slot.
 *
 * Return: how many items went in, the first that many of @items; the
 * others stay with the caller.
 */
unsigned int mmsb_ring_push_batch(struct mmsb_ring *r, void * const *items,
				  unsigned int n)
{
	unsigned long pos;
	unsigned int k, i;

	preempt_disable();
	k = mmsb_ring_claim(r, &r->tail, 0, n, &pos);
	for (i = 0; i < k; i++)
		mmsb_ring_publish(r, pos + i, items[i]);
	preempt_enable();
	return k;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_ring_push_batch);

/**
 * mmsb_ring_pop_batch() - take up to @max oldest items, in FIFO order
 * @r: the ring
 * @items: room for @max pointers
 * @max: most items to take; 0 takes nothing
 *
 * One cmpxchg claims all the consecutive published items up to @max.
 *
 * Return: how many items were stored in @items (0 when empty).
 */
unsigned int mmsb_ring_pop_batch(struct mmsb_ring *r, void **items,
				 unsigned int max)
{
	unsigned long pos;
	unsigned int k, i;

	preempt_disable();
	k = mmsb_ring_claim(r, &r->head, 1, max, &pos);
	for (i = 0; i < k; i++)
		items[i] = mmsb_ring_release(r, pos + i);
	preempt_enable();
	return k;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_ring_pop_batch);
