// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb mapped submission queue (uapi: "Mapped submission queue").
 *
 * One queue per open file: a ring header, the SQE array, the CQE array
 * and the payload arena in one accounted vmalloc area, mapped writable
 * into the process that set it up.  User space publishes SQEs with a
 * release store of sq_tail; the kernel consumes them here, in the tick
 * and in MMSB_IOC_SQ_ENTER with MMSB_SQ_ENTER_SUBMIT, which take turns
 * on the queue's @lock (the tick only tries it: a queue another
 * consumer holds waits for the next tick).  Ticks run where the work
 * is: in the tick's thread, in SQ_ENTER (SUBMIT, or GETEVENTS waiting
 * for SQEs nobody took), and with MMSB_SQ_POLL in the queue's poller
 * kthread, while SQEs wait, until it found none for sq_idle_ms (then
 * MMSB_SQ_NEED_WAKEUP).
 *
 * In place: a tick that begins with nothing queued, no change stream
 * and no edge applies the SQEs published when it began itself, after
 * its drain (sq_apply.c).
 *
 * Through the queue (any other tick, before its drain, SQ_ENTER's
 * SUBMIT, and SQEs of other encodings): consuming is a submission like
 * the ioctl's, through the same builder (delta.c, with kernel-memory
 * sources): each SQE is copied once into a local, checked there, its
 * arena ranges bounded, and its mask and payload copied once from the
 * arena into the delta's record, where they are checked.  The records
 * go through the tick's queue in SQ order, as one awaited batch per
 * round; the batch's ->done, at the end of the tick that handled its
 * last delta (after propagation), writes the CQEs.  A refused SQE gets
 * its CQE at once.  An SQE is consumed only when its CQE has room:
 * @inflight counts the CQEs owed, so the CQ never overflows.
 *
 * Lifetime: the file's reference, plus one per round in flight (the
 * batch's ->done drops it), so a queue whose file was released goes
 * when its last delta completed.  Release stops consuming and waits for
 * that, so the memory is back when close() returns.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <kunit/visibility.h>

#include "batch.h"
#include "compat.h"
#include "delta.h"
#include "engine.h"
#include "file.h"
#include "main.h"
#include "page.h"
#include "sq.h"
#include "sq_internal.h"
#include "tick.h"

/* SQEs the tick takes from one queue at most, per tick. */
#define MMSB_SQ_TICK_MAX	(4 * MMSB_SQ_ROUND_MAX)

/* The SQE array starts after the ring header. */
#define MMSB_SQ_SQES_OFF	sizeof(struct mmsb_sq_ring)

/**
 * mmsb_sq_list_init() - a bus's empty list of queues
 * @list: the list
 */
void mmsb_sq_list_init(struct mmsb_sq_list *list)
{
	mutex_init(&list->lock);
	INIT_LIST_HEAD(&list->head);
	list->nr = 0;
	list->round = 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_list_init);

static void mmsb_sq_free(struct kref *ref)
{
	struct mmsb_sq *sq = container_of(ref, struct mmsb_sq, ref);

	if (sq->eventfd)
		eventfd_ctx_put(sq->eventfd);
	kvfree(sq->spare_round);
	vfree(sq->mem);
	mmsb_delta_uncharge(sq->bus.deltas, sq->map_size);
	put_cred(sq->cred);
	mem_cgroup_put(sq->memcg);
	kfree(sq);
}

/* Drop a reference, the file's or a round's: the last frees the queue. */
void mmsb_sq_put(struct mmsb_sq *sq)
{
	kref_put(&sq->ref, mmsb_sq_free);
}

/**
 * mmsb_sq_mem() - the queue's memory, as user space maps it
 * @sq: the queue
 *
 * For KUnit, which plays user space on it.
 *
 * Return: the start of the ring header.
 */
void *mmsb_sq_mem(struct mmsb_sq *sq)
{
	return sq->mem;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_mem);

/*
 * CQEs the kernel owes or posted that user space has not read, from the
 * cq_head it stored; a head that no sane reader stores (ahead of the
 * tail, or more than the CQ behind it) counts as a full CQ.  Called
 * with @cq_lock held.
 */
static u32 mmsb_sq_cq_used(struct mmsb_sq *sq)
{
	/*
	 * Pairs with user space's release store of cq_head after it read
	 * the CQEs before it: their slots may be written again.
	 */
	u32 used = sq->cq_tail - smp_load_acquire(&sq->ring->cq_head);

	return min(used, sq->cq_entries);
}

/* CQ slots neither posted and unread nor owed: what may be consumed. */
u32 mmsb_sq_cq_room(struct mmsb_sq *sq)
{
	u32 used;

	spin_lock(&sq->cq_lock);
	used = mmsb_sq_cq_used(sq) + sq->inflight;
	spin_unlock(&sq->cq_lock);
	return used >= sq->cq_entries ? 0 : sq->cq_entries - used;
}

/**
 * mmsb_sq_ready() - CQEs ready for user space
 * @sq: the queue
 *
 * Return: cq_tail - cq_head as the kernel published them (at most the
 * CQ).
 */
u32 mmsb_sq_ready(struct mmsb_sq *sq)
{
	u32 n;

	spin_lock(&sq->cq_lock);
	/* As in mmsb_sq_cq_used(), from the tail published. */
	n = min(sq->cq_pub - smp_load_acquire(&sq->ring->cq_head),
		sq->cq_entries);
	spin_unlock(&sq->cq_lock);
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_ready);

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

/*
 * Publish the CQEs written so far, with @cq_lock held; not while CQEs
 * of SQEs applied in place wait for the end of their tick, which come
 * first in the ring (mmsb_sq_tick_end() publishes these too).
 */
void mmsb_sq_publish(struct mmsb_sq *sq)
{
	if (sq->cq_held)
		return;
	sq->cq_pub = sq->cq_tail;
	/*
	 * The CQEs before the tail.  Pairs with user space's acquire load
	 * of cq_tail, before it reads them.
	 */
	smp_store_release(&sq->ring->cq_tail, sq->cq_tail);
}

/*
 * CQEs were published: wake SQ_ENTER's waiters and signal the eventfd.
 * Process context (the tick's thread, the poller, a consuming call).
 */
void mmsb_sq_notify(struct mmsb_sq *sq)
{
	wake_up_all(&sq->cq_wq);
	if (sq->eventfd)
		eventfd_signal(sq->eventfd);
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
static u32 mmsb_sq_span(struct mmsb_sq *sq, u32 head, u32 n, u32 max,
			bool *chain)
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
static u32 mmsb_sq_chain_max(struct mmsb_sq *sq)
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

/*
 * SQEs published that a round would take now: a sane tail ahead of the
 * head, room in the CQ, and at the head no atomic chain that waits (for
 * its last SQE, or for room for all of it: mmsb_sq_span(), without
 * @lock: a look, as the round's own).  A tail no sane writer stores, a
 * CQ user space does not reap, or a chain it does not finish, leaves the
 * poller nothing to do: it sleeps rather than look again every few
 * microseconds for ever, and the tick, which consumes every queue, takes
 * the SQEs once they can go.
 */
static bool mmsb_sq_pending(struct mmsb_sq *sq)
{
	u32 head = READ_ONCE(sq->sq_head);
	u32 n = READ_ONCE(sq->ring->sq_tail) - head;
	u32 room, max, span;
	bool chain;

	if (!n || n > sq->entries)
		return false;
	room = mmsb_sq_cq_room(sq);
	if (!room || READ_ONCE(sq->chain_e2big))
		return room;
	/* No chain at the head (one load): work. */
	if (!(READ_ONCE(sq->sqes[head & (sq->entries - 1)].flags) &
	      MMSB_SQE_ATOMIC))
		return true;
	/* A chain waits for its last SQE and for room for all of it. */
	max = mmsb_sq_chain_max(sq);
	span = mmsb_sq_span(sq, head, n, max, &chain);
	if (!span)
		return n >= min(sq->entries, max);
	return !chain || room >= span;
}

/*
 * The poller: while SQEs wait, run a tick here, which consumes them (in
 * place, or through the queue: see mmsb_tick_run()), unless one runs
 * already; after @idle without any, set NEED_WAKEUP and sleep until
 * SQ_ENTER's WAKEUP.  Between looks it sleeps a little rather than
 * spin: the tick's own thread needs the CPU too.
 */
static int mmsb_sq_poll_fn(void *arg)
{
	struct mmsb_sq *sq = arg;
	struct mmsb_sq_ring *r = sq->ring;
	unsigned long idle_end = jiffies + sq->idle;
	u32 head;

	while (!kthread_should_stop()) {
		head = READ_ONCE(sq->sq_head);
		if (mmsb_sq_pending(sq)) {
			mmsb_tick_run_here(sq->bus.tick);
			if (READ_ONCE(sq->sq_head) != head) {
				idle_end = jiffies + sq->idle;
				cond_resched();
				continue;
			}
		}
		if (time_before(jiffies, idle_end)) {
			usleep_range(20, 50);
			continue;
		}
		WRITE_ONCE(r->flags, MMSB_SQ_NEED_WAKEUP);
		/*
		 * The flag before the look at the tail.  Pairs with the
		 * full fence of a writer between its tail store and its
		 * load of flags (mmsb_sq_submit() in libmmsb): either we
		 * see its SQEs or it sees the flag and wakes us.
		 */
		smp_mb();
		if (!mmsb_sq_pending(sq))
			wait_event_idle(sq->poll_wq, READ_ONCE(sq->wake) ||
					kthread_should_stop());
		WRITE_ONCE(sq->wake, false);
		WRITE_ONCE(r->flags, 0);
		idle_end = jiffies + sq->idle;
	}
	return 0;
}

/* Wake an idle poller (MMSB_SQ_ENTER_WAKEUP). */
static void mmsb_sq_wake_poller(struct mmsb_sq *sq)
{
	if (!sq->poller)
		return;
	WRITE_ONCE(sq->wake, true);
	wake_up(&sq->poll_wq);
}

/* Check what user space asked for; compute the layout. */
static int mmsb_sq_check(struct mmsb_sq_setup *p)
{
	u64 cqes_end;

	if (!p->entries || p->entries > MMSB_SQ_ENTRIES_MAX ||
	    !is_power_of_2(p->entries))
		return -EINVAL;
	if ((p->flags & ~MMSB_SQ_SETUP_FLAGS_ALL) ||
	    (p->eventfd && !(p->flags & MMSB_SQ_EVENTFD)) ||
	    memchr_inv(p->reserved, 0, sizeof(p->reserved)))
		return -EINVAL;
	if (p->arena_bytes > MMSB_SQ_ARENA_MAX || p->arena_bytes % 8)
		return -EINVAL;
	if (p->sq_idle_ms > MMSB_SQ_IDLE_MS_MAX ||
	    (p->sq_idle_ms && !(p->flags & MMSB_SQ_POLL)))
		return -EINVAL;
	p->sqes_off = MMSB_SQ_SQES_OFF;
	p->cqes_off = p->sqes_off + (u64)p->entries * sizeof(struct mmsb_sqe);
	cqes_end = p->cqes_off + 2ULL * p->entries * sizeof(struct mmsb_cqe);
	p->arena_off = PAGE_ALIGN(cqes_end);
	p->map_size = PAGE_ALIGN(p->arena_off + p->arena_bytes);
	return 0;
}

/**
 * mmsb_sq_create() - a queue, consumed by its bus's tick from now on
 * @bus: the bus's queue list, submission state and tick
 * @cred: the credentials deltas are checked with (a reference is taken)
 * @admin: they bypass page modes
 * @p: the setup; checked here, and its outputs (layout) filled in
 *
 * The memory is charged to the bus's limit (in delta_bytes) and to the
 * caller's memory cgroup.  With MMSB_SQ_POLL, the poller starts.
 *
 * Context: process context, sleeps.
 * Return: the queue, or ERR_PTR(-EINVAL) (a field of @p), -ENOMEM (the
 * limit, or no memory), or the poller's creation error.
 */
struct mmsb_sq *mmsb_sq_create(const struct mmsb_sq_bus *bus,
			       const struct cred *cred, bool admin,
			       struct mmsb_sq_setup *p)
{
	struct mmsb_sq *sq;
	int ret;

	ret = mmsb_sq_check(p);
	if (ret)
		return ERR_PTR(ret);
	sq = kzalloc(sizeof(*sq), GFP_KERNEL_ACCOUNT);
	if (!sq)
		return ERR_PTR(-ENOMEM);
	sq->bus = *bus;
	if (p->flags & MMSB_SQ_EVENTFD) {
		sq->eventfd = eventfd_ctx_fdget(p->eventfd);
		if (IS_ERR(sq->eventfd)) {
			ret = PTR_ERR(sq->eventfd);
			goto err_free;
		}
	}
	sq->map_size = p->map_size;
	ret = mmsb_delta_charge(bus->deltas, sq->map_size);
	if (ret)
		goto err_eventfd;
	ret = -ENOMEM;
	/* As the pages: -ENOMEM rather than the cgroup's OOM killer. */
	sq->mem = __vmalloc(sq->map_size, GFP_KERNEL_ACCOUNT | __GFP_ZERO |
			    __GFP_NOWARN | __GFP_RETRY_MAYFAIL);
	if (!sq->mem)
		goto err_uncharge;
	kref_init(&sq->ref);
	sq->cred = get_cred(cred);
	sq->memcg = get_mem_cgroup_from_mm(current->mm);
	sq->admin = admin;
	mutex_init(&sq->lock);
	spin_lock_init(&sq->cq_lock);
	init_waitqueue_head(&sq->cq_wq);
	init_waitqueue_head(&sq->poll_wq);
	sq->entries = p->entries;
	sq->cq_entries = 2 * p->entries;
	sq->arena_bytes = p->arena_bytes;
	sq->ring = sq->mem;
	sq->sqes = sq->mem + p->sqes_off;
	sq->cqes = sq->mem + p->cqes_off;
	sq->arena = sq->mem + p->arena_off;
	sq->ring->sq_mask = sq->entries - 1;
	sq->ring->cq_mask = sq->cq_entries - 1;
	sq->ring->entries = sq->entries;
	sq->ring->arena_bytes = sq->arena_bytes;
	sq->idle = msecs_to_jiffies(p->sq_idle_ms ?: MMSB_SQ_IDLE_MS_DEFAULT);
	if (p->flags & MMSB_SQ_POLL) {
		sq->poller = kthread_run(mmsb_sq_poll_fn, sq, "%s-sqpoll",
					 bus->name ?: "mmsb");
		if (IS_ERR(sq->poller)) {
			ret = PTR_ERR(sq->poller);
			sq->poller = NULL;
			mmsb_sq_put(sq);
			return ERR_PTR(ret);
		}
	}
	mutex_lock(&bus->list->lock);
	list_add_tail(&sq->node, &bus->list->head);
	WRITE_ONCE(bus->list->nr, bus->list->nr + 1);
	mutex_unlock(&bus->list->lock);
	/* A timer stopped for idleness runs again, for the queue. */
	mmsb_tick_wake_timer(bus->tick);
	return sq;

err_uncharge:
	mmsb_delta_uncharge(bus->deltas, sq->map_size);
err_eventfd:
	if (sq->eventfd)
		eventfd_ctx_put(sq->eventfd);
err_free:
	kfree(sq);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_create);

static bool mmsb_sq_settled(struct mmsb_sq *sq)
{
	bool settled;

	spin_lock(&sq->cq_lock);
	settled = !sq->inflight;
	spin_unlock(&sq->cq_lock);
	return settled;
}

/**
 * mmsb_sq_destroy() - stop consuming, wait for the deltas in flight,
 *	drop the queue
 * @sq: the queue; nobody maps it any more
 *
 * The tick no longer sees it and the poller stops; the deltas already
 * queued are applied (or refused) as usual, at the ticks this asks for,
 * and their CQEs written; then the memory goes.
 *
 * Context: process context, sleeps.
 */
void mmsb_sq_destroy(struct mmsb_sq *sq)
{
	struct mmsb_sq_list *list = sq->bus.list;

	mutex_lock(&list->lock);
	list_del(&sq->node);
	WRITE_ONCE(list->nr, list->nr - 1);
	mutex_unlock(&list->lock);
	if (sq->poller)
		kthread_stop(sq->poller);
	mutex_lock(&sq->lock);
	sq->dead = true;
	mutex_unlock(&sq->lock);
	if (!mmsb_sq_settled(sq)) {
		mmsb_tick_kick(sq->bus.tick);
		wait_event(sq->cq_wq, mmsb_sq_settled(sq));
	}
	mmsb_sq_put(sq);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_sq_destroy);

/**
 * mmsb_sq_mmap() - map the file's queue, writable (->mmap at
 *	MMSB_SQ_OFFSET and past it)
 * @mf: the file
 * @vma: the new mapping
 *
 * Shared only; not copied by fork() (VM_DONTCOPY), never grown
 * (VM_DONTEXPAND), never executable.  The mapping holds the file, so
 * the queue outlives it.
 *
 * Return: 0, -EINVAL (an offset other than MMSB_SQ_OFFSET, a private
 * mapping, one longer than the queue), -ENXIO (the file has no queue),
 * -EPERM (PROT_EXEC), or vm_insert_page()'s error.
 */
int mmsb_sq_mmap(struct mmsb_file *mf, struct vm_area_struct *vma)
{
	/* Pairs with the release store that published the queue. */
	struct mmsb_sq *sq = smp_load_acquire(&mf->sq);
	unsigned long addr;
	size_t off = 0;
	int ret;

	if (vma->vm_pgoff != MMSB_SQ_OFFSET >> PAGE_SHIFT)
		return -EINVAL;
	if (!sq)
		return -ENXIO;
	if (!(vma->vm_flags & VM_SHARED) ||
	    vma->vm_end - vma->vm_start > sq->map_size)
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	vm_flags_clear(vma, VM_MAYEXEC);
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP);
	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		ret = vm_insert_page(vma, addr,
				     vmalloc_to_page((u8 *)sq->mem + off));
		if (ret)
			return ret;
		off += PAGE_SIZE;
	}
	return 0;
}

/**
 * mmsb_ioctl_sq_setup() - MMSB_IOC_SQ_SETUP
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_sq_setup
 *
 * Return: 0, -EBUSY (the file has a queue), -EINVAL, -ENOMEM, -EFAULT.
 */
long mmsb_ioctl_sq_setup(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_dev *dev = mf->dev;
	struct mmsb_sq_bus bus = {
		.list = &dev->sqs,
		.deltas = mf->deltas,
		.tick = mf->tick,
		.name = dev->name,
	};
	struct mmsb_sq_setup p;
	struct mmsb_sq *sq;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	if (READ_ONCE(mf->sq))
		return -EBUSY;
	sq = mmsb_sq_create(&bus, mf->cred, mf->admin, &p);
	if (IS_ERR(sq))
		return PTR_ERR(sq);
	if (copy_to_user(uarg, &p, sizeof(p))) {
		mmsb_sq_destroy(sq);
		return -EFAULT;
	}
	/* Pairs with the acquire loads of mmsb_sq_mmap() and SQ_ENTER. */
	if (cmpxchg_release(&mf->sq, NULL, sq)) {
		mmsb_sq_destroy(sq);
		return -EBUSY;
	}
	return 0;
}

/* GETEVENTS: wait until @min CQEs are ready, or the timeout. */
static int mmsb_sq_wait(struct mmsb_sq *sq, u32 min, u64 timeout_ns)
{
	long ret;

	if (mmsb_sq_ready(sq) >= min)
		return 0;
	if (!timeout_ns)
		return -ETIMEDOUT;
	if (timeout_ns == U64_MAX)
		ret = wait_event_interruptible(sq->cq_wq,
					       mmsb_sq_ready(sq) >= min);
	else
		ret = wait_event_interruptible_hrtimeout(sq->cq_wq,
							 mmsb_sq_ready(sq) >= min,
							 ns_to_ktime(min_t(u64, timeout_ns,
									   KTIME_MAX)));
	if (ret == -ETIME)
		return -ETIMEDOUT;
	return ret ? -EINTR : 0;
}

/**
 * mmsb_ioctl_sq_enter() - MMSB_IOC_SQ_ENTER
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_sq_enter
 *
 * Return: 0, -EINVAL, -ENXIO (no queue), -ETIMEDOUT, -EINTR, -ENOMEM
 * (SUBMIT could not allocate a round), -EFAULT.
 */
long mmsb_ioctl_sq_enter(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_sq_enter __user *u = uarg;
	struct mmsb_sq_enter e;
	struct mmsb_sq *sq;
	bool getevents;
	int ret = 0, n;

	if (copy_from_user(&e, uarg, sizeof(e)))
		return -EFAULT;
	getevents = e.flags & MMSB_SQ_ENTER_GETEVENTS;
	if (!e.flags || (e.flags & ~MMSB_SQ_ENTER_FLAGS_ALL) ||
	    e.reserved[0] || e.reserved[1] ||
	    (!getevents && (e.min_complete || e.timeout_ns)))
		return -EINVAL;
	/* Pairs with the release store that published the queue. */
	sq = smp_load_acquire(&mf->sq);
	if (!sq)
		return -ENXIO;
	if (getevents && (!e.min_complete || e.min_complete > sq->cq_entries))
		return -EINVAL;
	e.submitted = 0;
	/*
	 * GETEVENTS wakes an idle poller that has SQEs to take: those it
	 * left behind a full CQ the caller has reaped since, which with
	 * tick_us=0 no tick would take.
	 */
	if ((e.flags & MMSB_SQ_ENTER_WAKEUP) ||
	    (getevents && sq->poller && mmsb_sq_pending(sq)))
		mmsb_sq_wake_poller(sq);
	if (e.flags & MMSB_SQ_ENTER_SUBMIT) {
		n = mmsb_sq_consume(sq, false);
		if (n < 0)
			return n;
		e.submitted = n;
		/* The round's deltas, in a tick run here if none runs. */
		if (n)
			mmsb_tick_run_here(mf->tick);
	}
	if (getevents) {
		/*
		 * Waiting for SQEs nobody took yet: take them in a tick run
		 * here if none runs (else one is kicked), rather than sleep
		 * until the next period or the poller's next look.
		 */
		if (mmsb_sq_ready(sq) < e.min_complete && mmsb_sq_pending(sq))
			mmsb_tick_run_here(mf->tick);
		ret = mmsb_sq_wait(sq, e.min_complete, e.timeout_ns);
	}
	e.ready = mmsb_sq_ready(sq);
	if (put_user(e.submitted, &u->submitted) || put_user(e.ready, &u->ready))
		return -EFAULT;
	return ret;
}

/**
 * mmsb_sq_release() - the file goes: so does its queue
 * @mf: the file
 *
 * Context: ->release, process context.
 */
void mmsb_sq_release(struct mmsb_file *mf)
{
	if (mf->sq)
		mmsb_sq_destroy(mf->sq);
}
