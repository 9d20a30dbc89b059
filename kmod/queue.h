/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb delta queue: the MPMC ring plus reservations of room counted in
 * the units the items carry, and a
 * waitqueue on which producers sleep while there is no room.
 */
#ifndef _MMSB_QUEUE_H
#define _MMSB_QUEUE_H

#include <linux/cache.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "ring.h"

/**
 * struct mmsb_queue - the delta queue
 * @ring: the items; its own three cache lines (see struct mmsb_ring).
 * @space_wq: producers waiting for room; the consumer wakes it after
 *	releasing some.
 * @reserved: units reserved by producers and not yet released by the
 *	consumer (mmsb_queue_reserve()), at most the ring's capacity.
 *
 * @space_wq is read by the consumer on every release but written only
 * when a producer goes to sleep; @reserved, written by every
 * reservation and release, has its own line.
 */
struct mmsb_queue {
	struct mmsb_ring ring;

	wait_queue_head_t space_wq ____cacheline_aligned_in_smp;

	atomic_long_t reserved ____cacheline_aligned_in_smp;
};

int mmsb_queue_init(struct mmsb_queue *q, unsigned long capacity);
void mmsb_queue_destroy(struct mmsb_queue *q, void (*destroy)(void *item));

long mmsb_queue_reserve(struct mmsb_queue *q, unsigned long n, bool partial);
void mmsb_queue_push_reserved(struct mmsb_queue *q, void *item);
void *mmsb_queue_take(struct mmsb_queue *q);
void mmsb_queue_release(struct mmsb_queue *q, unsigned long n);

/**
 * mmsb_queue_reserved() - units reserved now, a snapshot
 * @q: the queue
 *
 * Return: units pushed or about to be, and not yet taken out.
 */
static inline unsigned long mmsb_queue_reserved(const struct mmsb_queue *q)
{
	return atomic_long_read(&q->reserved);
}

/**
 * mmsb_queue_len() - number of queued items, a snapshot
 * @q: the queue
 *
 * Return: see mmsb_ring_len().
 */
static inline unsigned long mmsb_queue_len(const struct mmsb_queue *q)
{
	return mmsb_ring_len(&q->ring);
}

#endif /* _MMSB_QUEUE_H */
