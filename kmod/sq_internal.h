/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb mapped submission queue, inside: what sq.c (setup, mapping,
 * consumption through the tick's queue, poller, SQ_ENTER, release) and
 * sq_apply.c (the tick's in-place apply) share.  Nothing else includes
 * it: the rest of mmsb sees sq.h.
 */
#ifndef _MMSB_SQ_INTERNAL_H
#define _MMSB_SQ_INTERNAL_H

#include <linux/kref.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>

#include <linux/mmsb.h>

#include "delta.h"
#include "sq.h"

struct eventfd_ctx;
struct mem_cgroup;
struct task_struct;

/* SQEs one round consumes at most: one batch, a few chunks. */
#define MMSB_SQ_ROUND_MAX	4096U

/*
 * Bytes of payloads over MMSB_COPY_WORDS_MAX a round applied in place
 * copies at most (the SQE that crosses it is the round's last): with
 * the round's small ones, at most some 2 MiB inside one RCU read-side
 * section, and the tick looks at its budget between rounds.
 */
#define MMSB_SQ_ROUND_BYTES	SZ_1M

/**
 * struct mmsb_sq - a file's mapped queue
 * @ref: the file's reference and one per round in flight
 * @bus: the bus's queue list, submission state and tick
 * @cred: the setter's credentials (the file's), for page permission
 * @memcg: the setter's memory cgroup, charged for what the queue's rounds
 *	allocate, whoever runs them (a tick may run in another process)
 * @admin: the setter bypasses page modes
 * @node: on @bus.list
 * @lock: serialises the consumers and @sq_head, @dead
 * @dead: release began: nothing is consumed any more
 * @sq_head: the kernel's own head; published to the ring after each round
 * @tick_tail: sq_tail as the running tick read it when it began, past
 *	which it applies nothing in place (mmsb_sq_snapshot())
 * @mem: the mapping's memory (ring, SQEs, CQEs, arena)
 * @map_size: bytes of @mem, charged to the bus's limit
 * @ring: the ring header at @mem
 * @sqes: the SQE array
 * @cqes: the CQE array
 * @arena: the payload arena
 * @arena_bytes: its size
 * @entries: SQ entries (a power of two)
 * @cq_entries: CQ entries, 2 * @entries
 * @cq_lock: protects @cq_tail, @inflight and the CQE slots
 * @cq_tail: the kernel's own CQ tail: the CQEs written
 * @cq_pub: the CQ tail last published to the ring
 * @cq_held: CQEs of SQEs applied in place wait for the end of their tick
 *	(mmsb_sq_tick_end()); until then no CQE is published
 * @held_next: the next queue of the tick's held ones (struct
 *	mmsb_sq_apply's @held)
 * @inflight: SQEs consumed whose CQE is not posted yet
 * @overflow: times SQEs waited for CQ room (mirrored in the ring)
 * @chain_e2big: the rest of a chain too long to take is refused, up to
 *	its last SQE (under @lock)
 * @cq_wq: SQ_ENTER's GETEVENTS and release wait here for CQEs
 * @eventfd: signalled when CQEs are posted (MMSB_SQ_EVENTFD), or NULL
 * @poller: the poller kthread (MMSB_SQ_POLL), or NULL
 * @poll_wq: the idle poller sleeps here
 * @wake: MMSB_SQ_ENTER_WAKEUP was asked for
 * @idle: the poller's quiet time, in jiffies
 * @pages: the pages the queue's rounds looked up
 * @spare: the page cache for a round that finds @pages busy (never,
 *	since rounds are serialised; mmsb_page_cache_acquire() wants one)
 * @spare_round: a round's memory kept for the next round, or NULL
 */
struct mmsb_sq {
	struct kref ref;
	struct mmsb_sq_bus bus;
	const struct cred *cred;
	struct mem_cgroup *memcg;
	bool admin;
	struct list_head node;
	struct mutex lock;	/* consumers, @sq_head, @dead */
	bool dead;
	u32 sq_head;
	u32 tick_tail;
	void *mem;
	size_t map_size;
	struct mmsb_sq_ring *ring;
	struct mmsb_sqe *sqes;
	struct mmsb_cqe *cqes;
	u8 *arena;
	u64 arena_bytes;
	u32 entries;
	u32 cq_entries;
	spinlock_t cq_lock;	/* @cq_tail, @cq_pub, @cq_held, @inflight, CQEs */
	u32 cq_tail;
	u32 cq_pub;
	bool cq_held;
	struct mmsb_sq *held_next;
	u32 inflight;
	u32 overflow;
	bool chain_e2big;
	wait_queue_head_t cq_wq;
	struct eventfd_ctx *eventfd;
	struct task_struct *poller;
	wait_queue_head_t poll_wq;
	bool wake;
	unsigned long idle;
	struct mmsb_page_cache pages;
	struct mmsb_page_cache spare;
	struct mmsb_sq_round *spare_round;
};

/**
 * struct mmsb_sq_round - the SQEs one consumption queued, as one batch
 * @sq: the queue (a reference)
 * @user_data: user_data of each SQE of the round, by its index
 */
struct mmsb_sq_round {
	struct mmsb_sq *sq;
	u64 user_data[MMSB_SQ_ROUND_MAX];
};

/* Write every field of @cqe. */
static __always_inline void mmsb_sq_cqe(struct mmsb_cqe *cqe, u64 user_data,
					u64 id, u64 epoch, s32 status)
{
	cqe->user_data = user_data;
	cqe->delta_id = id;
	cqe->epoch = epoch;
	cqe->status = status;
	cqe->pad = 0;
}

/* mmsb_sq_desc(): a valid SQE that links the next one (MMSB_SQE_ATOMIC). */
#define MMSB_SQ_DESC_CHAIN	1

static __always_inline int mmsb_sq_desc_flags(u16 flags)
{
	return flags & MMSB_SQE_ATOMIC ? MMSB_SQ_DESC_CHAIN : 0;
}

/*
 * Read the SQE @e of the shared ring, each field exactly once (user
 * space may rewrite it meanwhile), into the fields the builder takes:
 * offsets in the queue's @arena (@arena_bytes) become kernel addresses
 * once their ranges are inside it.  Everything is checked on the copies.
 * Not read here: @user_data and @expected_epoch, which are only copied,
 * each read once by the caller where it uses it (@d->expected_epoch is
 * left alone).  Inline: each consumer keeps the fields in registers.
 * Returns 0, %MMSB_SQ_DESC_CHAIN for an SQE that links the next, or the
 * errno the SQE is refused with.
 */
static __always_inline int mmsb_sq_desc(u8 *arena, u64 arena_bytes,
					const struct mmsb_sqe *e,
					struct mmsb_delta_desc *d)
{
	u32 payload_off = READ_ONCE(e->payload_off);
	u32 mask_off = READ_ONCE(e->mask_off);
	u64 reserved = READ_ONCE(e->reserved[0]) | READ_ONCE(e->reserved[1]);
	u16 flags = READ_ONCE(e->flags);
	u64 mask_len;

	d->page_id = READ_ONCE(e->page_id);
	d->offset = READ_ONCE(e->offset);
	d->len = READ_ONCE(e->len);
	d->payload_len = READ_ONCE(e->payload_len);
	d->encoding = READ_ONCE(e->encoding);
	d->flags = 0;
	d->pad = 0;
	d->mask = 0;
	d->payload = (uintptr_t)(arena + payload_off);
	/* The common case, a DENSE SQE with nothing else set, in one test. */
	BUILD_BUG_ON(MMSB_DELTA_DENSE != 0);
	if (likely(!((u64)d->encoding | (u64)flags | mask_off | reserved)))
		return (u64)payload_off + d->payload_len > arena_bytes ?
		       -EINVAL : 0;
	if ((flags & ~MMSB_SQE_FLAGS_ALL) | reserved)
		return -EINVAL;
	if ((u64)payload_off + d->payload_len > arena_bytes)
		return -EINVAL;
	/* A mask for a DENSE delta is an error. */
	if (d->encoding == MMSB_DELTA_DENSE)
		return mask_off ? -EINVAL : mmsb_sq_desc_flags(flags);
	mask_len = BITS_TO_BYTES(d->len);
	if ((u64)mask_off + mask_len > arena_bytes)
		return -EINVAL;
	d->mask = (uintptr_t)(arena + mask_off);
	return mmsb_sq_desc_flags(flags);
}

void mmsb_sq_put(struct mmsb_sq *sq);
u32 mmsb_sq_cq_room(struct mmsb_sq *sq);
void mmsb_sq_publish(struct mmsb_sq *sq);
void mmsb_sq_notify(struct mmsb_sq *sq);
int mmsb_sq_round(struct mmsb_sq *sq);
u32 mmsb_sq_span(struct mmsb_sq *sq, u32 head, u32 n, u32 max, bool *chain);
u32 mmsb_sq_chain_max(struct mmsb_sq *sq);

#endif /* _MMSB_SQ_INTERNAL_H */
