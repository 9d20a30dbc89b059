/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb delta queue: the MPMC ring plus a has-work flag for the tick,
 * reservations of room counted in the units the items carry, and a
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
 * @has_work: set by producers after a push, cleared by a consumer that
 *	found the ring empty; read by the tick to decide whether to drain.
 * @space_wq: producers waiting for room; the consumer wakes it after
 *	releasing some.
 * @reserved: units reserved by producers and not yet released by the
 *	consumer (mmsb_queue_reserve()), at most the ring's capacity.
 *
 * @has_work and @space_wq share a fourth line: producers read both on
 * every push and the consumer looks at @space_wq on every release, but
 * both are written only on transitions (empty -> work, full -> sleep),
 * so in the fast path the line stays shared and clean in every cache.
 * @reserved, written by every reservation and release, has its own.
 */
struct mmsb_queue {
	struct mmsb_ring ring;

	bool has_work ____cacheline_aligned_in_smp;
	wait_queue_head_t space_wq;

	atomic_long_t reserved ____cacheline_aligned_in_smp;
};

int mmsb_queue_init(struct mmsb_queue *q, unsigned long capacity);
void mmsb_queue_destroy(struct mmsb_queue *q, void (*destroy)(void *item));

long mmsb_queue_reserve(struct mmsb_queue *q, unsigned long n, bool partial);
void mmsb_queue_push_reserved(struct mmsb_queue *q, void *item);
void *mmsb_queue_take(struct mmsb_queue *q);
void mmsb_queue_release(struct mmsb_queue *q, unsigned long n);
unsigned long mmsb_queue_reserved(const struct mmsb_queue *q);

bool mmsb_queue_has_work(const struct mmsb_queue *q);
bool mmsb_queue_recheck(struct mmsb_queue *q);
unsigned long mmsb_queue_len(const struct mmsb_queue *q);

#endif /* _MMSB_QUEUE_H */
