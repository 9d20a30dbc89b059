// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb delta queue.
 *
 * Producers (delta submission) reserve room, then push items (chunks
 * of deltas) into the ring; the tick takes them out and releases the
 * room.  Added to the bare ring:
 *
 * A barrier: a push ends with smp_mb(), which orders the item before
 * what the producer looks at next, the tick's idle flag (tick.c, "Work
 * pending").
 *
 * space_wq, where producers sleep while there is no room (the wait is
 * the tick's, mmsb_tick_reserve()).  The consumer releases room, then
 * wq_has_sleeper() (a full barrier, then a look at the waitqueue); the
 * producer queues itself in wait_event_interruptible()
 * (set_current_state(), a full barrier) and then retries the
 * reservation.  Again store buffering: either the consumer sees the
 * sleeper or the sleeper sees the room.
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
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_destroy);

/* Room was released: wake the producers sleeping for it. */
static void mmsb_queue_wake_producers(struct mmsb_queue *q)
{
	/*
	 * wq_has_sleeper() starts with smp_mb(): orders our release of the
	 * room before the look at the waitqueue; pairs with the barrier in
	 * set_current_state() inside wait_event_interruptible().
	 */
	if (wq_has_sleeper(&q->space_wq))
		wake_up(&q->space_wq);
}

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
	/*
	 * Orders our claim of the tail before the producer's next look
	 * (the tick's idle flag); pairs with the smp_mb() of a tick going
	 * idle, between its store of that flag and its look at the tail.
	 */
	smp_mb();
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_queue_push_reserved);

/**
 * mmsb_queue_take() - pop an item whose units are reserved
 * @q: the queue, with a single consumer
 *
 * Producers wait for units, not slots: mmsb_queue_release() wakes them
 * as units are taken out.
 *
 * Return: the oldest item, or NULL.
 */
void *mmsb_queue_take(struct mmsb_queue *q)
{
	return mmsb_ring_try_pop(&q->ring);
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
