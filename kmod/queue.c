// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb propagation queue.
 *
 * Producers (delta submission) push pointers into the ring; the tick
 * drains them in batches.  Two things are added to the bare ring:
 *
 * has_work, a hint the tick reads to skip an empty drain.  It may be
 * spuriously true (a drain then finds nothing and clears it), but it is
 * never false while an item whose push has returned is still queued.
 * That is the store-buffering pattern, and both sides pay one full
 * barrier for it:
 *
 *   producer                          consumer (found the ring empty)
 *   claim tail, publish slot          WRITE_ONCE(has_work, false)
 *   smp_mb()                          smp_mb()
 *   if !READ_ONCE(has_work): set it   if ring not empty: set it again
 *
 * Either the producer sees the flag cleared and sets it, or the consumer
 * sees the producer's tail and sets it back.
 *
 * space_wq, where producers sleep while the ring is full.  The consumer
 * frees slots, then wq_has_sleeper() (a full barrier, then a look at the
 * waitqueue); the producer queues itself in wait_event_interruptible()
 * (set_current_state(), a full barrier) and then retries the push.
 * Again store buffering: either the consumer sees the sleeper or the
 * sleeper sees the free slot.
 */

#include <linux/errno.h>
#include <linux/minmax.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include <kunit/visibility.h>

#include "queue.h"

/**
 * mmsb_queue_init() - set up an empty queue
 * @q: the queue
 * @capacity: ring slots, 1..%MMSB_RING_MAX_CAPACITY (rounded up to a
 *	power of two)
 *
 * Return: 0, -EINVAL for a capacity out of range, or -ENOMEM.
 */
int mmsb_queue_init(struct mmsb_queue *q, unsigned long capacity)
{
	int ret;

	ret = mmsb_ring_init(&q->ring, capacity);
	if (ret)
		return ret;
	q->has_work = false;
	init_waitqueue_head(&q->space_wq);
	atomic_long_set(&q->reserved, 0);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_init);

/**
 * mmsb_queue_destroy() - free a queue nobody uses any more
 * @q: the queue; no producer may be pushing or waiting
 * @destroy: called on every item still queued, oldest first; may be NULL
 */
void mmsb_queue_destroy(struct mmsb_queue *q, void (*destroy)(void *item))
{
	WARN_ON_ONCE(wq_has_sleeper(&q->space_wq));
	mmsb_ring_cleanup(&q->ring, destroy);
	q->has_work = false;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_destroy);

/* After a successful push: make sure the tick will look. */
static void mmsb_queue_mark_work(struct mmsb_queue *q)
{
	/*
	 * Orders our claim of tail before the read of has_work; pairs with
	 * the smp_mb() in mmsb_queue_check_empty() (see the top of file).
	 */
	smp_mb();
	/* Read first: the flag line stays shared while work is pending. */
	if (!READ_ONCE(q->has_work))
		WRITE_ONCE(q->has_work, true);
}

/* A consumer found the ring empty: clear has_work unless a push raced. */
static void mmsb_queue_check_empty(struct mmsb_queue *q)
{
	if (!READ_ONCE(q->has_work))
		return;
	WRITE_ONCE(q->has_work, false);
	/*
	 * Orders the clear before the look at tail; pairs with the smp_mb()
	 * in mmsb_queue_mark_work().
	 */
	smp_mb();
	if (!mmsb_ring_is_empty(&q->ring))
		WRITE_ONCE(q->has_work, true);
}

/* Slots were freed: wake the producers sleeping for room. */
static void mmsb_queue_wake_producers(struct mmsb_queue *q)
{
	/*
	 * wq_has_sleeper() starts with smp_mb(): orders our release of the
	 * slots before the look at the waitqueue; pairs with the barrier in
	 * set_current_state() inside wait_event_interruptible().
	 */
	if (wq_has_sleeper(&q->space_wq))
		wake_up(&q->space_wq);
}

static bool mmsb_queue_try_push(struct mmsb_queue *q, void *item)
{
	if (mmsb_ring_try_push(&q->ring, item))
		return false;
	mmsb_queue_mark_work(q);
	return true;
}

/**
 * mmsb_queue_push() - queue one item, waiting for room if allowed
 * @q: the queue
 * @item: a non-NULL pointer
 * @nonblock: fail with -EAGAIN instead of sleeping when the ring is full
 *
 * A blocking push sleeps on the queue's waitqueue (it does not spin)
 * until a consumer frees a slot, interruptibly.  On any error the item
 * was not queued and stays with the caller.  A successful push is
 * followed by a full barrier (smp_mb()) before it returns, so callers
 * may order later loads after the item is visible in the ring.
 *
 * Context: process context if !@nonblock; any context otherwise.
 * Return: 0; -EAGAIN when full and @nonblock; -EINTR when a signal
 * arrived while waiting; -EINVAL for a NULL item.
 */
int mmsb_queue_push(struct mmsb_queue *q, void *item, bool nonblock)
{
	if (unlikely(!item))
		return -EINVAL;
	if (mmsb_queue_try_push(q, item))
		return 0;
	if (nonblock)
		return -EAGAIN;
	/*
	 * The condition pushes: when it holds, the item is in.  It is
	 * evaluated after the task is queued and its state set, so a slot
	 * freed after a failed attempt always finds us on the waitqueue.
	 */
	if (wait_event_interruptible(q->space_wq, mmsb_queue_try_push(q, item)))
		return -EINTR;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_push);

/**
 * mmsb_queue_push_batch() - queue several items without waiting
 * @q: the queue
 * @items: @n non-NULL pointers
 * @n: how many
 *
 * The items that fit go in contiguously, in order; the call stops at the
 * first full slot.  Callers that must queue the rest use
 * mmsb_queue_push() for them.  Like mmsb_queue_push(), ends with a full
 * barrier when anything went in.
 *
 * Return: how many items went in (the first that many of @items).
 */
unsigned int mmsb_queue_push_batch(struct mmsb_queue *q, void * const *items,
				   unsigned int n)
{
	unsigned int done = mmsb_ring_push_batch(&q->ring, items, n);

	if (done)
		mmsb_queue_mark_work(q);
	return done;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_push_batch);

/**
 * mmsb_queue_pop() - take the oldest item
 * @q: the queue
 *
 * Wakes producers waiting for room.  Clears has_work when empty.
 *
 * Return: the item, or NULL when the queue is empty.
 */
void *mmsb_queue_pop(struct mmsb_queue *q)
{
	void *item = mmsb_ring_try_pop(&q->ring);

	if (item)
		mmsb_queue_wake_producers(q);
	else
		mmsb_queue_check_empty(q);
	return item;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_pop);

/**
 * mmsb_queue_drain_batch() - take up to @max items, oldest first
 * @q: the queue
 * @items: room for @max pointers
 * @max: most items to take; 0 takes nothing and changes nothing
 *
 * Wakes producers waiting for room once per batch.  When fewer than
 * @max items were found the queue was empty, and has_work is cleared
 * (unless a push raced with us).
 *
 * Return: how many items were stored in @items.
 */
unsigned int mmsb_queue_drain_batch(struct mmsb_queue *q, void **items,
				    unsigned int max)
{
	unsigned int n;

	if (!max)
		return 0;
	n = mmsb_ring_pop_batch(&q->ring, items, max);
	if (n)
		mmsb_queue_wake_producers(q);
	if (n < max)
		mmsb_queue_check_empty(q);
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_drain_batch);

/**
 * mmsb_queue_recheck() - clear a stale has-work hint, then read it
 * @q: the queue
 *
 * For the consumer after it took what it saw: a drain that took exactly
 * the items there were does not notice the ring is empty, and would
 * leave the hint set with nothing queued.
 *
 * Return: the has-work flag, true whenever an item is queued.
 */
bool mmsb_queue_recheck(struct mmsb_queue *q)
{
	mmsb_queue_check_empty(q);
	return READ_ONCE(q->has_work);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_recheck);

/*
 * Reservations: the queue counts what its items carry (mmsb's deltas,
 * several per item) rather than items.  A producer reserves room for
 * the units of an item before it pushes it, the consumer releases them
 * as it takes the units out, after the pop.  Items in the ring never
 * outnumber reserved units, so with a single consumer a push after a
 * reservation always finds its slot free: the item @capacity positions
 * before ours was popped completely, or ours and the @capacity - 1
 * between would all be reserved, one too many.
 */

/**
 * mmsb_queue_reserve() - reserve room for @n units, without waiting
 * @q: the queue
 * @n: units, 1 to the ring's capacity
 * @partial: take less than @n when that is all there is
 *
 * Return: units reserved (@n, or fewer with @partial), or 0.
 */
long mmsb_queue_reserve(struct mmsb_queue *q, unsigned long n, bool partial)
{
	unsigned long cap = mmsb_ring_capacity(&q->ring), room, take;
	long cur = atomic_long_read(&q->reserved);

	do {
		room = cap - cur;
		if (!room || (!partial && room < n))
			return 0;
		take = min(room, n);
	} while (!atomic_long_try_cmpxchg(&q->reserved, &cur, cur + take));
	return take;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_reserve);

/**
 * mmsb_queue_push_reserved() - push an item whose units are reserved
 * @q: the queue, with a single consumer
 * @item: the item, not NULL
 */
void mmsb_queue_push_reserved(struct mmsb_queue *q, void *item)
{
	/* Cannot fail with a single consumer (see above); never spins. */
	while (WARN_ON_ONCE(mmsb_ring_try_push(&q->ring, item)))
		cpu_relax();
	mmsb_queue_mark_work(q);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_push_reserved);

/**
 * mmsb_queue_take() - pop an item whose units are reserved
 * @q: the queue, with a single consumer
 *
 * mmsb_queue_pop() without waking producers: they wait for units, and
 * mmsb_queue_release() wakes them as units are taken out.
 *
 * Return: the oldest item, or NULL.
 */
void *mmsb_queue_take(struct mmsb_queue *q)
{
	void *item = mmsb_ring_try_pop(&q->ring);

	if (!item)
		mmsb_queue_check_empty(q);
	return item;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_take);

/**
 * mmsb_queue_release() - the consumer took @n reserved units out
 * @q: the queue
 * @n: units
 */
void mmsb_queue_release(struct mmsb_queue *q, unsigned long n)
{
	atomic_long_sub(n, &q->reserved);
	mmsb_queue_wake_producers(q);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_release);

/**
 * mmsb_queue_reserved() - units reserved now, a snapshot
 * @q: the queue
 *
 * Return: units pushed or about to be, and not yet taken out.
 */
unsigned long mmsb_queue_reserved(const struct mmsb_queue *q)
{
	return atomic_long_read(&q->reserved);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_reserved);

/**
 * mmsb_queue_has_work() - whether the tick should drain
 * @q: the queue
 *
 * True whenever an item whose push has returned is still queued; may
 * also be true with none (the next empty pop or drain clears it).
 *
 * Return: the has-work flag.
 */
bool mmsb_queue_has_work(const struct mmsb_queue *q)
{
	return READ_ONCE(q->has_work);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_has_work);

/**
 * mmsb_queue_room() - number of free slots, a snapshot
 * @q: the queue
 *
 * Return: capacity minus mmsb_queue_len().
 */
unsigned long mmsb_queue_room(const struct mmsb_queue *q)
{
	return mmsb_ring_capacity(&q->ring) - mmsb_ring_len(&q->ring);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_room);

/**
 * mmsb_queue_len() - number of queued items, a snapshot
 * @q: the queue
 *
 * Return: see mmsb_ring_len().
 */
unsigned long mmsb_queue_len(const struct mmsb_queue *q)
{
	return mmsb_ring_len(&q->ring);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_len);
