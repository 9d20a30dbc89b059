/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb ring: a bounded multi-producer multi-consumer FIFO of pointers
 * (Dmitry Vyukov's bounded MPMC queue).  See ring.c for the protocol.
 *
 * The ring stores pointers it does not own; NULL is not a valid item
 * (it is what an empty pop returns).  No function sleeps except
 * mmsb_ring_init() and mmsb_ring_cleanup(), and no function waits for
 * another CPU, so push and pop are safe in any context.
 */
#ifndef _MMSB_RING_H
#define _MMSB_RING_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/cache.h>
#include <linux/minmax.h>
#include <linux/types.h>

/*
 * Largest capacity mmsb_ring_init() accepts, after rounding up to a power
 * of two: 2^20 slots of 16 bytes, 16 MiB of ring.  The module parameter
 * for the ring size is checked against it at load.  It also keeps every
 * index difference far below LONG_MAX, so the signed comparisons of
 * sequence numbers in ring.c cannot be fooled by wrap-around.
 */
#define MMSB_RING_MAX_CAPACITY	BIT(20)

/*
 * Smallest ring: a single slot cannot tell "written this lap" from "free
 * next lap" (both would read sequence pos + 1), so requests of one slot
 * are rounded up to two.
 */
#define MMSB_RING_MIN_CAPACITY	2UL

/**
 * struct mmsb_ring_slot - one cell of the ring
 * @seq: the slot's sequence number; equals the position a producer may
 *	fill next (free), or that position + 1 (full, a consumer may take
 *	it).  Written with release, read with acquire.
 * @item: the stored pointer, valid while the slot is full.
 */
struct mmsb_ring_slot {
	atomic_long_t seq;
	void *item;
};

/**
 * struct mmsb_ring - bounded MPMC ring of pointers
 * @slots: the slot array (kvmalloc), @mask + 1 entries.
 * @mask: capacity - 1; capacity is a power of two.
 * @tail: next position a producer claims; only producers write it.
 * @head: next position a consumer claims; only consumers write it.
 *
 * Layout is the concurrency design.  Three cache lines:
 *  - @slots and @mask are written once by mmsb_ring_init() and then only
 *    read, by everybody: they share a line nobody writes.
 *  - @tail is written by every push (cmpxchg), so producers bounce its
 *    line among themselves but never steal the consumers' line.
 *  - @head likewise for consumers.
 * A producer and a consumer therefore meet only in the slot they both
 * touch, which is where the hand-over really happens.  Positions are
 * free-running unsigned longs; the slot of position p is p & @mask.
 */
struct mmsb_ring {
	struct mmsb_ring_slot *slots;
	unsigned long mask;

	atomic_long_t tail ____cacheline_aligned_in_smp;

	atomic_long_t head ____cacheline_aligned_in_smp;
} ____cacheline_aligned_in_smp;

int mmsb_ring_init(struct mmsb_ring *r, unsigned long capacity);
void mmsb_ring_cleanup(struct mmsb_ring *r, void (*destroy)(void *item));

int mmsb_ring_try_push(struct mmsb_ring *r, void *item);
void *mmsb_ring_try_pop(struct mmsb_ring *r);
unsigned int mmsb_ring_push_batch(struct mmsb_ring *r, void * const *items,
				  unsigned int n);
unsigned int mmsb_ring_pop_batch(struct mmsb_ring *r, void **items,
				 unsigned int max);

/**
 * mmsb_ring_len() - number of queued items, a snapshot
 * @r: the ring
 *
 * Counts positions claimed by producers and not yet claimed by
 * consumers, so an item being written counts and one being read does
 * not.  Exact when nobody pushes or pops concurrently; otherwise a value
 * the ring held at some moment during the call, clamped to 0..capacity.
 *
 * Return: the number of items.
 */
static inline unsigned long mmsb_ring_len(const struct mmsb_ring *r)
{
	/*
	 * No barrier: the two counters are read at slightly different
	 * times whatever we do, and the clamp below turns any interleaving
	 * into a value in range (head is read first so that racing pops
	 * rarely drive the raw difference below zero).
	 */
	unsigned long head = atomic_long_read(&r->head);
	unsigned long tail = atomic_long_read(&r->tail);
	long len = (long)(tail - head);

	if (len <= 0)
		return 0;
	return min_t(unsigned long, len, r->mask + 1);
}

/**
 * mmsb_ring_capacity() - number of slots
 * @r: the ring
 *
 * Return: the capacity, a power of two, as rounded by mmsb_ring_init().
 */
static inline unsigned long mmsb_ring_capacity(const struct mmsb_ring *r)
{
	return r->mask + 1;
}

/**
 * mmsb_ring_is_empty() - whether the ring holds no item, a snapshot
 * @r: the ring
 *
 * Same caveats as mmsb_ring_len().
 *
 * Return: true when empty.
 */
static inline bool mmsb_ring_is_empty(const struct mmsb_ring *r)
{
	return mmsb_ring_len(r) == 0;
}

#endif /* _MMSB_RING_H */
