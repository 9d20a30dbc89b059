// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb mapped submission queue, consumed through the tick's queue (any
 * tick that does not apply the SQEs in place, before its drain;
 * SQ_ENTER's SUBMIT; SQEs of other encodings and atomic chains).
 *
 * Consuming is a submission like the ioctl's, through the same builder
 * (delta.c, with kernel-memory sources): each SQE is copied once into a
 * local, checked there, its arena ranges bounded, and its mask and
 * payload copied once from the arena into the delta's record, where
 * they are checked.  The records go through the tick's queue in SQ
 * order, as one awaited batch per round; the batch's ->done, at the end
 * of the tick that handled its last delta (after propagation), writes
 * the CQEs.  A refused SQE gets its CQE at once.  An SQE is consumed
 * only when its CQE has room: @inflight counts the CQEs owed, so the CQ
 * never overflows.  An atomic chain (MMSB_SQE_ATOMIC) goes in a round
 * of its own, whole or not at all.
 */
#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/memcontrol.h>
#include <linux/mutex.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <kunit/visibility.h>

#include "batch.h"
#include "delta.h"
#include "sq.h"
#include "sq_internal.h"
#include "tick.h"

/* SQEs the tick takes from one queue at most, per tick. */
#define MMSB_SQ_TICK_MAX	(4 * MMSB_SQ_ROUND_MAX)

/*
 * Bytes a round's memory holds: kvmalloc() gets it from kmalloc(),
 * which rounds 32 KiB and a pointer up to 64 KiB.
 */
static size_t mmsb_sq_round_bytes(void)
{
	return kmalloc_size_roundup(sizeof(struct mmsb_sq_round));
}

/*
 * A round's memory: the one the last round left, or a new one.  Rounds
 * are serialised (@lock) but end later, in the tick: usually the last
 * one ended before the next starts, so a queue allocates (and, with
 * init_on_alloc, zeroes) its round once, not per round.  A round in
 * flight is charged to the limit, as its chunks are: a queue whose
 * rounds each take one SQE (the CQ allows 65536 in flight) must not
 * hold their memory uncharged.  The one kept for the next round is
 * not, as the chunk pool's are not.  ERR_PTR(-ENOSPC): the limit;
 * ERR_PTR(-ENOMEM): no memory.
 */
static struct mmsb_sq_round *mmsb_sq_round_alloc(struct mmsb_sq *sq)
{
	struct mmsb_delta_ctx *ctx = sq->bus.deltas;
	struct mmsb_sq_round *round;

	if (mmsb_delta_charge(ctx, mmsb_sq_round_bytes()))
		return ERR_PTR(-ENOSPC);
	round = xchg(&sq->spare_round, NULL);
	if (!round)
		round = kvmalloc(sizeof(*round),
				 GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (round)
		return round;
	mmsb_delta_uncharge(ctx, mmsb_sq_round_bytes());
	return ERR_PTR(-ENOMEM);
}

/* Keep @round for the next round, unless one is kept already. */
static void mmsb_sq_round_free(struct mmsb_sq *sq, struct mmsb_sq_round *round)
{
	mmsb_delta_uncharge(sq->bus.deltas, mmsb_sq_round_bytes());
	if (cmpxchg(&sq->spare_round, NULL, round))
		kvfree(round);
}

/* Write one CQE, with @cq_lock held; it was owed (@inflight). */
static void mmsb_sq_post_one(struct mmsb_sq *sq, u64 user_data, u64 id,
			     u64 epoch, s32 status)
{
	mmsb_sq_cqe(&sq->cqes[sq->cq_tail & (sq->cq_entries - 1)], user_data,
		    id, epoch, status);
	sq->cq_tail++;
	sq->inflight--;
}

/* A refused SQE's CQE, at once. */
static void mmsb_sq_refuse(struct mmsb_sq *sq, u64 user_data, int status)
{
	spin_lock(&sq->cq_lock);
	mmsb_sq_post_one(sq, user_data, 0, 0, status);
	mmsb_sq_publish(sq);
	spin_unlock(&sq->cq_lock);
}

/*
 * The batch of a round ended (at the end of its last delta's tick,
 * after propagation): a CQE for each of its deltas, in the records'
 * order.  Runs in the thread that ran the tick.
 */
static void mmsb_sq_done(struct mmsb_batch *batch)
{
	struct mmsb_sq_round *round = batch->priv;
	struct mmsb_sq *sq = round->sq;
	struct mmsb_kdelta *kd;
	struct mmsb_chunk *c;
	u32 i;

	spin_lock(&sq->cq_lock);
	for (c = batch->chunks; c; c = c->bnext)
		for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
		     i++, kd = mmsb_kdelta_next(kd))
			mmsb_sq_post_one(sq, round->user_data[kd->index],
					 kd->id, kd->status ? 0 : kd->epoch,
					 kd->status);
	mmsb_sq_publish(sq);
	spin_unlock(&sq->cq_lock);
	mmsb_sq_notify(sq);
	mmsb_sq_round_free(sq, round);
	/* The owner's reference; the tick drops its own after us. */
	mmsb_batch_put(batch);
	mmsb_sq_put(sq);
}

/*
 * Refuse the @n SQEs from @head with @status, counted in @inflight, and
 * consume them: the round that would have queued them was over the
 * memory limit (-ENOMEM), or they belong to a chain too long to take
 * (-E2BIG).
 */
static void mmsb_sq_refuse_all(struct mmsb_sq *sq, u32 head, u32 n,
			       int status)
{
	struct mmsb_delta_ctx *ctx = sq->bus.deltas;
	u32 i;

	for (i = 0; i < n; i++) {
		const struct mmsb_sqe *e =
			&sq->sqes[(head + i) & (sq->entries - 1)];

		atomic64_inc(&ctx->rejected);
		/* The count before the CQE, as in mmsb_sq_round(). */
		smp_mb__after_atomic();
		mmsb_sq_refuse(sq, READ_ONCE(e->user_data), status);
	}
	sq->sq_head = head + n;
	/* Pairs with user space's acquire load of sq_head. */
	smp_store_release(&sq->ring->sq_head, sq->sq_head);
	mmsb_sq_notify(sq);
}

/* Queue the builder's open chunk, whose records have room reserved. */
static u32 mmsb_sq_push(struct mmsb_sq *sq, struct mmsb_builder *b)
{
	struct mmsb_chunk *c = b->cur;
	u32 nr;

	if (!c || !c->nr) {
		mmsb_builder_close(b);
		return 0;
	}
	b->cur = NULL;
	nr = c->nr;
	mmsb_batch_add_chunk(c->batch, c);
	/* Counted before the tick can apply them: see STATS in the uapi. */
	atomic64_add(nr, &sq->bus.deltas->submitted);
	/* Awaited: the caller kicks, or is the tick. */
	mmsb_tick_push(sq->bus.tick, c, true);
	return nr;
}

/*
 * The SQEs from @head a round takes, of the @n published: up to the
 * first that starts an atomic chain (MMSB_SQE_ATOMIC) or, when @head
 * starts one (*@chain), the chain, up to its first SQE without the flag.
 * 0 while the chain's last SQE is not among the @n, or not among the
 * first @max (the longest chain the tick can take whole).  Only the
 * flags are looked at, to find where the round ends; the round reads
 * every field it uses again, once.
 */
u32 mmsb_sq_span(struct mmsb_sq *sq, u32 head, u32 n, u32 max, bool *chain)
{
	const u32 mask = sq->entries - 1;
	u32 i;

	n = min(n, MMSB_SQ_ROUND_MAX);
	for (i = 0; i < n; i++)
		if (READ_ONCE(sq->sqes[(head + i) & mask].flags) &
		    MMSB_SQE_ATOMIC)
			break;
	*chain = !i;
	if (i)
		return i;
	for (n = min(n, max); i < n; i++)
		if (!(READ_ONCE(sq->sqes[(head + i) & mask].flags) &
		      MMSB_SQE_ATOMIC))
			return i + 1;
	return 0;
}

/* The longest chain the tick takes whole: in one round, one tick's worth. */
u32 mmsb_sq_chain_max(struct mmsb_sq *sq)
{
	return min(MMSB_SQ_ROUND_MAX, mmsb_tick_atomic_max(sq->bus.tick));
}

/*
 * Refuse with -E2BIG, as far as the CQ has room, the SQEs from @head of
 * a chain too long to take (@chain_e2big), up to its last one.  Returns
 * the SQEs consumed.
 */
static u32 mmsb_sq_chain_refuse(struct mmsb_sq *sq, u32 head, u32 n)
{
	const u32 mask = sq->entries - 1;
	u32 i;

	n = min(n, mmsb_sq_cq_room(sq));
	for (i = 0; i < n && sq->chain_e2big; i++)
		if (!(READ_ONCE(sq->sqes[(head + i) & mask].flags) &
		      MMSB_SQE_ATOMIC))
			sq->chain_e2big = false;
	if (!i)
		return 0;
	spin_lock(&sq->cq_lock);
	sq->inflight += i;
	spin_unlock(&sq->cq_lock);
	mmsb_sq_refuse_all(sq, head, i, -E2BIG);
	return i;
}

/*
 * A chain that cannot go in: its valid SQEs, in the open chunk, are
 * refused with @status (-ECANCELED, or -E2BIG) and dropped, as
 * submit.c's mmsb_submit_cancel() does for an atomic submission.
 */
static void mmsb_sq_chain_cancel(struct mmsb_sq *sq, struct mmsb_builder *b,
				 const struct mmsb_sq_round *round, int status)
{
	struct mmsb_chunk *c = b->cur;
	struct mmsb_kdelta *kd;
	u32 i;

	if (!c)
		return;
	atomic64_add(c->nr, &sq->bus.deltas->rejected);
	/* The count before the CQEs, as in mmsb_sq_round(). */
	smp_mb__after_atomic();
	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd))
		mmsb_sq_refuse(sq, round->user_data[kd->index], status);
	mmsb_chunk_truncate(c, 0);
	mmsb_builder_close(b);
}

/*
 * One round, with @lock held: copy the published SQEs (as many as the
 * CQ and the tick's queue have room for) out of the ring, check them,
 * queue the good ones as one batch, post the refused ones' CQEs.  An
 * atomic chain goes alone, in a round of its own: once its last SQE is
 * published and the CQ and the tick's queue have room for all of it, as
 * one atomic chunk, all or nothing (the refusal rules of an atomic
 * submission, submit.c); a chain longer than a round can take, or than
 * the SQ, is refused with -E2BIG up to its last SQE.
 * Returns the SQEs consumed, or -ENOMEM (nothing consumed).
 */
static int __mmsb_sq_round(struct mmsb_sq *sq)
{
	struct mmsb_delta_ctx *ctx = sq->bus.deltas;
	struct mmsb_tick *t = sq->bus.tick;
	struct mmsb_sq_ring *r = sq->ring;
	struct mmsb_sq_round *round;
	u32 head = sq->sq_head, n, max, span, room, i, queued = 0;
	const struct mmsb_sqe *e;
	struct mmsb_delta_desc d;
	struct mmsb_builder b;
	int cancel = 0;
	u64 user_data;
	u64 base_id;
	bool chain;
	long got;

	if (sq->dead)
		return 0;
	/*
	 * Pairs with user space's release store of sq_tail: the SQEs and
	 * arena bytes it wrote before are visible to the copies below.
	 */
	n = smp_load_acquire(&r->sq_tail) - head;
	/* Nothing, or a tail no sane writer stores: wait until it is. */
	if (!n || n > sq->entries)
		return 0;
	if (unlikely(sq->chain_e2big))
		return mmsb_sq_chain_refuse(sq, head, n);
	max = mmsb_sq_chain_max(sq);
	span = mmsb_sq_span(sq, head, n, max, &chain);
	if (!span) {
		/* A chain's last SQE yet to come: it waits, if it can come. */
		if (n < min(sq->entries, max))
			return 0;
		sq->chain_e2big = true;
		return mmsb_sq_chain_refuse(sq, head, n);
	}
	n = span;
	room = mmsb_sq_cq_room(sq);
	if (room < n) {
		WRITE_ONCE(r->overflow, ++sq->overflow);
		/* A chain goes whole. */
		if (chain)
			return 0;
		n = room;
		if (!n)
			return 0;
	}
	/* Never waits: a full queue kicks a tick and the SQEs wait. */
	got = mmsb_tick_reserve(t, n, true);
	if (got <= 0)
		return 0;
	if (chain && got < n) {
		mmsb_tick_unreserve(t, got);
		return 0;
	}
	n = got;
	round = mmsb_sq_round_alloc(sq);
	if (round == ERR_PTR(-ENOMEM)) {
		mmsb_tick_unreserve(t, n);
		return -ENOMEM;
	}
	spin_lock(&sq->cq_lock);
	sq->inflight += n;
	spin_unlock(&sq->cq_lock);
	if (IS_ERR(round)) {
		/* The limit: each SQE is refused, as its chunk would be. */
		mmsb_sq_refuse_all(sq, head, n, -ENOMEM);
		mmsb_tick_unreserve(t, n);
		return n;
	}
	round->sq = sq;

	mmsb_builder_init(&b, ctx, mmsb_page_cache_acquire(&sq->pages,
							   &sq->spare),
			  sq->cred, sq->admin, true, chain,
			  chain ? mmsb_tick_atomic_max(t) :
				  mmsb_tick_capacity(t));
	b.ksrc = true;
	base_id = atomic64_add_return(n, &ctx->next_id) - n;
	/* @d out here: a kernel that zeroes locals does it once. */
	for (i = 0; i < n; i++) {
		int ret;

		/* The one read of the SQE: all below uses the copy. */
		e = &sq->sqes[(head + i) & (sq->entries - 1)];
		user_data = READ_ONCE(e->user_data);
		d.expected_epoch = READ_ONCE(e->expected_epoch);
		ret = mmsb_sq_desc(sq->arena, sq->arena_bytes, e, &d);
		round->user_data[i] = user_data;
		b.left = n - i;
		/*
		 * The chain's bounds are mmsb_sq_span()'s: an SQE outside a
		 * chain whose flag came since is refused.  Past one chunk,
		 * nothing of a chain fits.
		 */
		if (ret == MMSB_SQ_DESC_CHAIN)
			ret = chain ? 0 : -EINVAL;
		if (cancel == -E2BIG)
			ret = -E2BIG;
		while (!ret) {
			ret = mmsb_delta_add(&b, &d, base_id + i + 1, i);
			if (ret != MMSB_DELTA_FULL)
				break;
			if (chain) {
				ret = -E2BIG;
				break;
			}
			queued += mmsb_sq_push(sq, &b);
			ret = 0;
		}
		if (ret) {
			atomic64_inc(&ctx->rejected);
			/*
			 * The count before the CQE, as in submit.c: pairs
			 * with a reader that reads the CQE, then STATS.
			 */
			smp_mb__after_atomic();
			mmsb_sq_refuse(sq, user_data, ret);
			if (chain && cancel != -E2BIG)
				cancel = ret == -E2BIG ? -E2BIG : -ECANCELED;
		}
	}
	if (cancel)
		mmsb_sq_chain_cancel(sq, &b, round, cancel);
	queued += mmsb_sq_push(sq, &b);
	mmsb_builder_finish(&b);
	sq->sq_head = head + n;
	/*
	 * Every copy out of the SQEs and the arena is done.  Pairs with
	 * user space's acquire load of sq_head before it reuses them.
	 */
	smp_store_release(&r->sq_head, sq->sq_head);
	if (queued < n)
		mmsb_tick_unreserve(t, n - queued);
	if (!queued) {
		if (b.batch)
			mmsb_batch_abandon(b.batch);
		mmsb_sq_round_free(sq, round);
		mmsb_sq_notify(sq);
		return n;
	}
	kref_get(&sq->ref);
	b.batch->done = mmsb_sq_done;
	b.batch->priv = round;
	mmsb_batch_arm(b.batch);
	if (queued < n)
		mmsb_sq_notify(sq);
	return n;
}

/*
 * One round through the tick's queue, its memory (the round's, its
 * chunks') charged to the setter's memory cgroup wherever it runs: in
 * SQ_ENTER, in the poller or the tick's kthread, or in a tick that
 * another process runs (a SYNC submission, SQ_ENTER on its own queue).
 * With @lock held.  Returns the SQEs consumed, or -ENOMEM.
 */
int mmsb_sq_round(struct mmsb_sq *sq)
{
	struct mem_cgroup *old = set_active_memcg(sq->memcg);
	int n = __mmsb_sq_round(sq);

	set_active_memcg(old);
	return n;
}

/**
 * mmsb_sq_consume() - consume what the SQ holds
 * @sq: the queue
 * @in_tick: the caller is the tick, before it drains: another consumer
 *	busy with the queue leaves it to the next tick
 *
 * Everything queued here is taken by the next tick to start; a caller
 * other than the tick has one run (mmsb_tick_kick() or a tick inline).
 *
 * Context: process context, sleeps unless @in_tick.
 * Return: SQEs consumed (queued or refused), or -ENOMEM.
 */
int mmsb_sq_consume(struct mmsb_sq *sq, bool in_tick)
{
	int n;

	if (!in_tick)
		mutex_lock(&sq->lock);
	else if (!mutex_trylock(&sq->lock))
		return 0;
	n = mmsb_sq_round(sq);
	mutex_unlock(&sq->lock);
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_consume);

/**
 * mmsb_sq_tick() - the tick consumes every queue of its bus
 * @list: the bus's queues
 *
 * Rounds of each queue until it is empty, its CQ or the tick's queue is
 * full, or MMSB_SQ_TICK_MAX SQEs were taken from it in this tick: a
 * process that publishes as fast as the tick consumes cannot hold the
 * tick here.
 *
 * Context: the tick, with its run_lock, before it drains.
 * Return: whether a queue is set up: the tick then keeps its timer
 * running, so that published SQEs are consumed without a system call.
 */
bool mmsb_sq_tick(struct mmsb_sq_list *list)
{
	struct mmsb_sq *sq;
	bool armed;
	u32 taken;
	int n;

	mutex_lock(&list->lock);
	list_for_each_entry(sq, &list->head, node)
		for (taken = 0; taken < MMSB_SQ_TICK_MAX; taken += n) {
			n = mmsb_sq_consume(sq, true);
			if (n <= 0)
				break;
		}
	armed = list->nr;
	mutex_unlock(&list->lock);
	return armed;
}
