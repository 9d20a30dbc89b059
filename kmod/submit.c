// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb submission: the path MMSB_IOC_SUBMIT and the io_uring SUBMIT
 * command (uring.c) share -- claim the caller's outputs, read each
 * delta's fields once, validate and copy it into chunks (delta.c), queue
 * the chunks in order, write each delta's outcome back -- and the SUBMIT
 * and FLUSH ioctls.  A SYNC SUBMIT also waits until a tick handled its
 * deltas, then reports each one's outcome and the page's new epoch; a
 * signal ending a wait parks it (park.c) for the restarted call.
 *
 * Queued deltas belong to the tick, not to the file: closing the file
 * does not drop them, and unloading the module applies them first.
 */
#include <linux/errno.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "batch.h"
#include "delta.h"
#include "file.h"
#include "page.h"
#include "submission.h"
#include "submit.h"
#include "tick.h"
#include "trace.h"

/* mmsb_submit_claim(), inline for the ioctl. */
static __always_inline int
__mmsb_submit_claim(struct mmsb_delta __user *uptr, u32 n)
{
	struct mmsb_delta __user *u;
	u32 i;

	if (!user_write_access_begin(uptr, (size_t)n * sizeof(*uptr)))
		return -EFAULT;
	for (i = 0, u = uptr; i < n; i++, u++)
		if (mmsb_delta_unsafe_put_pending(u))
			goto efault;
	user_write_access_end();
	return 0;
efault:
	user_write_access_end();
	return -EFAULT;
}

/**
 * mmsb_submit_claim() - write pending outputs into a submission's deltas
 * @uptr: the caller's array of @n struct mmsb_delta
 * @n: deltas
 *
 * Before anything is read or queued, write every delta's outputs with
 * their pending values (id 0, status -EINPROGRESS, epoch 0): this proves
 * that the outcome can be written back, so a caller whose array is not
 * writable gets -EFAULT with nothing queued, never deltas applied behind
 * an -EFAULT.  Inputs are not read here: no double fetch.  A delta whose
 * outcome cannot be written later on (the array unmapped or made
 * read-only meanwhile) keeps these values where it is still readable.
 *
 * Context: process context with the caller's mm.
 * Return: 0 or -EFAULT.
 */
int mmsb_submit_claim(struct mmsb_delta __user *uptr, u32 n)
{
	return __mmsb_submit_claim(uptr, n);
}

/*
 * The answer of a submission some output of which could not be written
 * (@s->fault): -EFAULT only while nothing was queued (a retry does it
 * all once); once a delta went in, -ECOMM, with @accepted (and for SYNC
 * @applied) saying how far it went.
 */
int mmsb_submit_fault(const struct mmsb_submission *s)
{
	return s->queued ? -ECOMM : -EFAULT;
}

void mmsb_submit_result(struct mmsb_submission *s, u32 index, u64 id,
			s32 status)
{
	if (mmsb_delta_put_result(s->uptr + index, id, status, 0))
		s->fault = -EFAULT;
}

/* Refuse delta @index of the submission with @status, counted first. */
void mmsb_submit_reject(struct mmsb_submission *s, u32 index, int status)
{
	/* Counted before the status goes out: see STATS. */
	atomic64_inc(&s->deltas->rejected);
	/*
	 * Orders the count before the status store; pairs with the order
	 * of a reader that loads the status, then the count (STATS): it
	 * sees both or the count.
	 */
	smp_mb__after_atomic();
	mmsb_submit_result(s, index, 0, status);
}

/*
 * Queue the open chunk.  What the queue has no room for (O_NONBLOCK) or
 * what a signal kept out is refused, each delta with that errno (-EINTR
 * for a signal), which is returned: the submission stops there.  But a
 * submission that parks keeps the chunk open when a signal ends the wait
 * for room, and -ERESTARTSYS is returned.  Deltas not awaited learn
 * their id now; awaited ones when their batch reports.
 */
static int mmsb_submit_push(struct mmsb_submission *s)
{
	struct mmsb_delta_ctx *ctx = s->deltas;
	struct mmsb_chunk *c = s->b.cur;
	struct mmsb_kdelta *kd;
	int ret = 0;
	long got;
	u32 i;

	if (!c || !c->nr) {
		mmsb_builder_close(&s->b);
		return 0;
	}
	/*
	 * A submission that parks stops for a signal (or task work) between
	 * two chunks, room or not: a wait for room that finds room at its
	 * first look never sees the signal, so a long submission the tick
	 * keeps up with would hold a signal off until its end.
	 */
	if (s->park && signal_pending(current))
		return -ERESTARTSYS;
	got = s->killable ? mmsb_tick_reserve_killable(s->tick, c->nr) :
			    mmsb_tick_reserve(s->tick, c->nr, s->nonblock);
	if (got == -ERESTARTSYS && s->park)
		return got;
	s->b.cur = NULL;
	if (got < 0) {
		ret = got == -ERESTARTSYS ? -EINTR : got;
		got = 0;
	} else if (got < c->nr) {
		ret = -EAGAIN;
		/* An atomic submission goes in whole or not at all. */
		if (c->atomic) {
			mmsb_tick_unreserve(s->tick, got);
			got = 0;
		}
	}
	if (got < c->nr) {
		for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
		     i++, kd = mmsb_kdelta_next(kd))
			if (i >= got)
				mmsb_submit_result(s, kd->index, 0, ret);
		mmsb_chunk_truncate(c, got);
	}
	if (!c->batch && mmsb_chunk_put_results(c, s->uptr, false, NULL))
		s->fault = -EFAULT;
	if (c->batch)
		mmsb_batch_add_chunk(c->batch, c);
	if (!got) {
		mmsb_chunk_retire(ctx, c);
		return ret;
	}
	/* Counted before the tick can apply them: see STATS in the uapi. */
	atomic64_add(got, &ctx->submitted);
	s->queued += got;
	mmsb_tick_push(s->tick, c, c->batch);
	return ret;
}

/*
 * Set up a submission of @n deltas from @uptr, with page cache @cache
 * (mmsb_page_cache_acquire()).  Fields one by one: the cache is not
 * part of @s.
 */
static void mmsb_submit_start(struct mmsb_submission *s, struct mmsb_file *mf,
			      struct mmsb_page_cache *cache,
			      struct mmsb_delta __user *uptr, u32 n,
			      bool awaited, bool atomic, bool nonblock,
			      bool park)
{
	struct mmsb_delta_ctx *ctx = mf->deltas;

	s->deltas = ctx;
	s->tick = mf->tick;
	s->uptr = uptr;
	s->n = n;
	s->next = 0;
	s->nonblock = nonblock;
	s->killable = false;
	s->park = park;
	s->queued = 0;
	s->stop = 0;
	s->cancel = 0;
	s->fault = 0;
	mmsb_builder_init(&s->b, ctx, cache, mf->cred, mf->admin, awaited,
			  atomic, atomic ? mmsb_tick_atomic_max(mf->tick) :
					   mmsb_tick_capacity(mf->tick));
	/* One atomic for the submission: ids base_id + 1 .. base_id + n. */
	s->base_id = atomic64_add_return(n, &ctx->next_id) - n;
}

/*
 * An atomic submission that cannot go in: its valid deltas, in the open
 * chunk, are refused with @s->cancel (counted as refused) and dropped.
 */
static void mmsb_submit_cancel(struct mmsb_submission *s)
{
	struct mmsb_chunk *c = s->b.cur;
	struct mmsb_kdelta *kd;
	u32 i;

	if (!c)
		return;
	atomic64_add(c->nr, &s->deltas->rejected);
	/* As in mmsb_submit_queue(): the count before the statuses. */
	smp_mb__after_atomic();
	for (i = 0, kd = mmsb_chunk_first(c); i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd))
		mmsb_submit_result(s, kd->index, 0, s->cancel);
	mmsb_chunk_truncate(c, 0);
	mmsb_builder_close(&s->b);
}

/*
 * Read, validate and queue the deltas from @s->next on.  Returns 0, or
 * the error that stopped the queue (-EAGAIN, -EINTR), or -ERESTARTSYS
 * for a submission that parks: then @s->next is the delta to read again
 * (the open chunk had no room for it) and @s->b.cur is the chunk to
 * queue first.
 */
static int mmsb_submit_queue(struct mmsb_submission *s)
{
	/* Out of the loop: a kernel that zeroes locals does it once. */
	struct mmsb_delta_desc d;
	int ret, stop;
	u32 i;

	while (s->next < s->n) {
		/* An atomic submission past one chunk: nothing more fits. */
		if (s->cancel == -E2BIG) {
			i = s->next;
			ret = -E2BIG;
		} else {
			/* Up to the first that does not go in, or the end. */
			ret = mmsb_delta_add_array(&s->b, s->uptr, &s->next,
						   s->n, s->base_id, &d);
			if (!ret)
				break;
			i = s->next;
		}
		while (ret == MMSB_DELTA_FULL) {
			if (s->b.atomic) {
				ret = -E2BIG;
				break;
			}
			stop = mmsb_submit_push(s);
			if (stop)
				return stop;
			/* The fields read, not the caller's array again. */
			ret = mmsb_delta_add(&s->b, &d, s->base_id + i + 1, i);
		}
		s->next = i + 1;
		if (ret) {
			mmsb_submit_reject(s, i, ret);
			if (s->b.atomic && s->cancel != -E2BIG)
				s->cancel = ret == -E2BIG ? -E2BIG : -ECANCELED;
		}
	}
	if (s->cancel) {
		mmsb_submit_cancel(s);
		return 0;
	}
	return mmsb_submit_push(s);
}

/*
 * Mark what the queue kept out with @stop: the records of a chunk a
 * signal kept waiting for room, and every delta not read yet.
 */
void mmsb_submit_refuse_rest(struct mmsb_submission *s, int stop)
{
	struct mmsb_chunk *c = s->b.cur;
	struct mmsb_kdelta *kd;
	u32 i;

	for (i = 0, kd = c ? mmsb_chunk_first(c) : NULL; c && i < c->nr;
	     i++, kd = mmsb_kdelta_next(kd))
		mmsb_submit_result(s, kd->index, 0, stop);
	for (i = s->next; i < s->n; i++)
		mmsb_submit_result(s, i, 0, stop);
}

/*
 * The submission queued all it will: drop a chunk left open by a parked
 * wait for room and the builder's pages.  Returns the
 * batch, or NULL if it queued nothing (the batch is gone then).
 */
struct mmsb_batch *mmsb_submit_end(struct mmsb_submission *s)
{
	struct mmsb_delta_ctx *ctx = s->deltas;
	struct mmsb_chunk *c = s->b.cur;

	if (c) {
		s->b.cur = NULL;
		mmsb_chunk_truncate(c, 0);
		if (c->batch)
			mmsb_batch_add_chunk(c->batch, c);
		mmsb_chunk_retire(ctx, c);
	}
	mmsb_builder_finish(&s->b);
	if (s->b.batch && !s->queued) {
		mmsb_batch_abandon(s->b.batch);
		return NULL;
	}
	return s->b.batch;
}

/**
 * mmsb_submit_deltas() - validate deltas and queue the good ones, in order
 * @mf: the submitting file (credentials, its bus)
 * @uptr: the caller's array of @n struct mmsb_delta; each delta's input
 *	fields are read once, and its outputs written once: here, or for
 *	an awaited submission by mmsb_batch_report()
 * @n: 1 to %MMSB_SUBMIT_MAX
 * @awaited: the caller waits for the outcome: a batch is made
 * @atomic: MMSB_SUBMIT_ATOMIC: every delta is queued, in one chunk, or
 *	none (see the uapi header)
 * @nonblock: a full queue stops the submission instead of waiting
 * @accepted: out: deltas queued
 * @batch: out: the batch of an awaited submission, or NULL when no
 *	delta was queued
 *
 * The submission path of io_uring; the SUBMIT ioctl shares its parts.
 * Deltas are written into chunks, each queued when full; once the queue
 * stopped the submission, the deltas not queued carry its error as
 * their status.
 *
 * Every delta's outputs are written with pending values first
 * (mmsb_submit_claim()): an array that cannot take them fails the call
 * before anything is read or queued.
 *
 * Context: process context with the caller's mm; sleeps unless
 * @nonblock.
 * Return: 0 (each delta has its own status), -EAGAIN or -EINTR once
 * @accepted deltas went in, -EFAULT if an output could not be written
 * and nothing was queued, or -ECOMM if an output could not be written
 * back after @accepted deltas were queued (they still apply).
 */
int mmsb_submit_deltas(struct mmsb_file *mf, struct mmsb_delta __user *uptr,
		       u32 n, bool awaited, bool atomic, bool nonblock,
		       u32 *accepted, struct mmsb_batch **batch)
{
	/*
	 * Not zeroed (CONFIG_INIT_STACK_ALL_ZERO would, some 150
	 * instructions a call): mmsb_submit_start() sets every field of
	 * @s, mmsb_page_cache_acquire() empties @local if it is used.
	 */
	struct mmsb_page_cache local __uninitialized;
	struct mmsb_submission s __uninitialized;
	int stop;

	*accepted = 0;
	*batch = NULL;
	if (mmsb_submit_claim(uptr, n))
		return -EFAULT;
	mmsb_submit_start(&s, mf,
			  mmsb_page_cache_acquire(&mf->pages, &local), uptr, n,
			  awaited, atomic, nonblock, false);
	stop = mmsb_submit_queue(&s);
	/* The queue stopped us: what was not looked at is refused alike. */
	if (stop)
		mmsb_submit_refuse_rest(&s, stop);
	*batch = mmsb_submit_end(&s);
	*accepted = s.queued;
	return s.fault ? mmsb_submit_fault(&s) : stop;
}

/**
 * mmsb_submit_hand() - read a submission into a chunk handed to a tick
 * @mf: the submitting file
 * @c: a chunk of handed records, the caller's (from the pool, never
 *	queued), whose page list holds the pages of its records
 * @uptr: the caller's array of @n struct mmsb_delta
 * @n: deltas, 1 to %MMSB_SUBMIT_MAX
 *
 * For deltas that their submitter hands a tick it will run
 * (mmsb_tick_run_handed(): the io_uring commands one task issues in one
 * io_uring_enter()), all of them or none.  Every output is claimed
 * (mmsb_submit_claim()), then each delta is read and checked, as
 * mmsb_submit_deltas() does it, into a record of @c: the deltas become
 * @c's last @n records, delta i with index i and id base + i + 1, each
 * page referenced once by @c however many records and submissions
 * address it.  Nothing is counted: the tick counts the records it takes.
 * If a delta is refused, or @c has no room for them all, @c is left as
 * it was (the pages looked up stay in its list) and the caller queues
 * the submission (mmsb_submit_deltas()), which reads it again: nothing
 * of this read took effect, and the refusal is made there.
 *
 * Context: process context with the caller's mm; does not sleep unless
 * a user page faults.
 * Return: 0, -EFAULT (an output could not be claimed: nothing done),
 * %MMSB_DELTA_FULL (@c has no room for them), or %MMSB_DELTA_CHUNK (a
 * delta refused, or the file's page cache in use by another submission).
 */
int mmsb_submit_hand(struct mmsb_file *mf, struct mmsb_chunk *c,
		     struct mmsb_delta __user *uptr, u32 n)
{
	struct mmsb_delta_ctx *ctx = mf->deltas;
	/* Each set before it is read: see mmsb_submit_deltas(). */
	struct mmsb_delta_desc d __uninitialized;
	struct mmsb_builder b __uninitialized;
	struct mmsb_page_cache *cache;
	u32 nr = c->nr, used = c->used, next = 0;
	u64 base_id;
	int ret;

	if (mmsb_submit_claim(uptr, n))
		return -EFAULT;
	/* The chunk's number is the file's cache's: that one or none. */
	cache = mmsb_page_cache_acquire(&mf->pages, NULL);
	if (!cache)
		return MMSB_DELTA_CHUNK;
	mmsb_builder_init(&b, ctx, cache, mf->cred, mf->admin, false, false,
			  U32_MAX);
	mmsb_builder_use(&b, c);
	base_id = atomic64_add_return(n, &ctx->next_id) - n;
	ret = mmsb_delta_add_array(&b, uptr, &next, n, base_id, &d);
	b.cur = NULL;
	mmsb_builder_finish(&b);
	if (!ret)
		return 0;
	c->nr = nr;
	c->used = used;
	return ret == MMSB_DELTA_FULL ? ret : MMSB_DELTA_CHUNK;
}

/* A record as the fields of a delta read from kernel memory (ksrc). */
static void mmsb_submit_record_desc(struct mmsb_kdelta *kd,
				    struct mmsb_delta_desc *d)
{
	const u8 *mask = mmsb_kdelta_mask(kd);

	d->page_id = kd->page->id;
	d->expected_epoch = kd->expected_epoch;
	d->offset = kd->offset;
	d->len = kd->len;
	d->payload = (uintptr_t)kd->data;
	/* A SPARSE delta's record is MASKED, its payload expanded. */
	d->payload_len = kd->len;
	d->mask = (uintptr_t)mask;
	d->encoding = mask ? MMSB_DELTA_MASKED : MMSB_DELTA_DENSE;
	d->flags = 0;
	d->pad = 0;
}

/**
 * mmsb_submit_records() - queue the records a tick was handed and left
 * @mf: the submitting file
 * @kd: the first record; @nr records follow it back to back, each read
 *	and checked from the caller's delta of its index
 *	(mmsb_submit_hand(), mmsb_delta_read_one()), each page held
 * @nr: records, 1 or more
 * @uptr: the caller's delta array, where the records' outputs go
 * @accepted: out: deltas queued
 * @batch: out: their batch, or NULL when none was queued
 *
 * What a tick could not take of the records it was handed (deltas still
 * queued after its drain, batch_max, a page the drain changed, its page
 * limit) is queued awaited, as mmsb_submit_deltas() queues deltas, with
 * the record's id and index: copied from the record, not read from the
 * caller again, and looked up again (a page freed since refuses its
 * delta with -EIDRM, as a tick would).  It waits for room in the queue
 * until there is some (mmsb_tick_reserve_killable()): only a fatal
 * signal refuses what is left, with -EINTR.
 *
 * Context: process context, sleeps; with the caller's mm, or none (a
 * task that exits): a refusal's status then cannot be written (-ECOMM).
 * Return: as mmsb_submit_deltas().
 */
noinline_for_stack int mmsb_submit_records(struct mmsb_file *mf,
					   struct mmsb_kdelta *kd, u32 nr,
					   struct mmsb_delta __user *uptr,
					   u32 *accepted,
					   struct mmsb_batch **batch)
{
	/* Both set before use: see mmsb_submit_deltas(). */
	struct mmsb_page_cache local __uninitialized;
	struct mmsb_submission s __uninitialized;
	struct mmsb_delta_desc d;
	int ret, stop = 0;
	u32 i;

	mmsb_submit_start(&s, mf, mmsb_page_cache_acquire(&mf->pages, &local),
			  uptr, nr, true, false, false, false);
	s.killable = true;
	s.b.ksrc = true;
	for (i = 0; i < nr; i++, kd = mmsb_kdelta_next(kd)) {
		mmsb_submit_record_desc(kd, &d);
		s.b.left = nr - i;
		ret = mmsb_delta_add(&s.b, &d, kd->id, kd->index);
		while (ret == MMSB_DELTA_FULL) {
			stop = mmsb_submit_push(&s);
			if (stop)
				goto refuse;
			ret = mmsb_delta_add(&s.b, &d, kd->id, kd->index);
		}
		if (ret)
			mmsb_submit_reject(&s, kd->index,
					   ret == -ENOENT ? -EIDRM : ret);
	}
	stop = mmsb_submit_push(&s);
	goto end;
refuse:
	/* The record that found no room, and those after it. */
	for (; i < nr; i++, kd = mmsb_kdelta_next(kd))
		mmsb_submit_result(&s, kd->index, 0, stop);
end:
	*batch = mmsb_submit_end(&s);
	*accepted = s.queued;
	return s.fault ? mmsb_submit_fault(&s) : stop;
}

/**
 * mmsb_submit_arm() - arm a submission's batch and see that it ends
 * @t: the bus's tick
 * @batch: the batch; at least one of its deltas was queued
 * @done: called at the end of the tick if the batch ends there, or
 *	NULL to complete @batch->completion
 * @priv: for @done
 *
 * When no tick runs, the caller runs the ticks itself, in its context,
 * until its batch ended: no wake-up, no context switch, and @done is
 * not called (the batch completed).  Otherwise the orchestrator is
 * kicked and the batch ends in its tick.
 *
 * Context: process context, sleeps.
 * Return: true when the batch ended here.
 */
bool mmsb_submit_arm(struct mmsb_tick *t, struct mmsb_batch *batch,
		     void (*done)(struct mmsb_batch *batch), void *priv)
{
	if (mmsb_tick_trylock(t)) {
		mmsb_batch_arm(batch);
		mmsb_tick_run_until(t, &batch->completion);
		return true;
	}
	batch->done = done;
	batch->priv = priv;
	mmsb_batch_arm(batch);
	/*
	 * The tick is wanted anyway, and must run if the batch's deltas
	 * were all handled before the arming: it then waits for a tick's
	 * end.
	 */
	mmsb_tick_kick(t);
	return false;
}

/*
 * Read the caller's struct mmsb_submit, each input field once, check it
 * (-EINVAL for unknown flags, reserved fields not zero, a count of 0 or
 * over %MMSB_SUBMIT_MAX) and write its outputs 0, so that a struct that
 * cannot take them fails the call before anything is queued: one
 * user-access window (no copy_from_user() call and its checks on the
 * path of every SUBMIT, and one window fewer than a read and a write).
 */
static int mmsb_submit_get(struct mmsb_submit __user *u,
			   struct mmsb_submit *sub)
{
	int ret = -EINVAL;
	u64 r0, r1;

	if (!user_access_begin(u, sizeof(*u)))
		return -EFAULT;
	unsafe_get_user(sub->deltas, &u->deltas, efault);
	unsafe_get_user(sub->count, &u->count, efault);
	unsafe_get_user(sub->flags, &u->flags, efault);
	unsafe_get_user(r0, &u->reserved[0], efault);
	unsafe_get_user(r1, &u->reserved[1], efault);
	if (!(sub->flags & ~MMSB_SUBMIT_FLAGS_ALL) && !r0 && !r1 &&
	    sub->count && sub->count <= MMSB_SUBMIT_MAX) {
		unsafe_put_user(0, &u->accepted, efault);
		unsafe_put_user(0, &u->applied, efault);
		ret = 0;
	}
	user_access_end();
	return ret;
efault:
	user_access_end();
	return -EFAULT;
}

/* Write the outputs of the caller's struct mmsb_submit, in one window. */
static __always_inline int
mmsb_submit_put_counts(struct mmsb_submit __user *u, u32 accepted, u32 applied)
{
	if (!user_write_access_begin(u, sizeof(*u)))
		return -EFAULT;
	unsafe_put_user(accepted, &u->accepted, efault);
	unsafe_put_user(applied, &u->applied, efault);
	user_write_access_end();
	return 0;
efault:
	user_write_access_end();
	return -EFAULT;
}

/* mmsb_submit_one(), inline for the ioctl. */
static __always_inline int __mmsb_submit_one(struct mmsb_file *mf,
					     struct mmsb_delta __user *uptr,
					     u32 *accepted, u32 *applied)
{
	/* Room for one record and its payload; not zeroed: all is set. */
	union {
		struct mmsb_chunk c;
		u8 room[sizeof(struct mmsb_chunk) + sizeof(struct mmsb_kdelta) +
			MMSB_DELTA_ONE_MAX];
	} h __uninitialized;
	struct mmsb_kdelta *kd;
	bool taken;
	int ret;

	*accepted = 0;
	*applied = 0;
	mmsb_chunk_init_handed(&h.c, sizeof(h) - sizeof(h.c));
	kd = mmsb_chunk_handed_slot(&h.c);
	ret = mmsb_submit_read_one(mf, uptr, kd);
	if (ret)
		return ret == MMSB_DELTA_REFUSED ? 0 : ret;
	mmsb_chunk_handed_add(&h.c, kd);
	taken = mmsb_tick_trylock(mf->tick) &&
		mmsb_tick_run_handed(mf->tick, &h.c);
	mmsb_page_put(kd->page);
	if (!taken)
		return MMSB_DELTA_CHUNK;
	*accepted = 1;
	*applied = !kd->status;
	if (mmsb_delta_put_result(uptr, kd->id, kd->status, kd->epoch))
		return -ECOMM;
	return 0;
}

/**
 * mmsb_submit_one() - an awaited submission of one delta, applied here
 * @mf: the submitting file
 * @uptr: the caller's struct mmsb_delta, its outputs not claimed yet
 *	(mmsb_submit_read_one() claims them)
 * @accepted: out: 1 if the tick handled the delta (applied, or refused
 *	for a stale epoch or a freed page), 0 if it was refused before
 * @applied: out: 1 if it was applied
 *
 * For MMSB_IOC_SUBMIT with SYNC and io_uring's SUBMIT of one delta, not
 * ATOMIC, when it cannot be handed to its task's tick (uring.c): a small
 * DENSE delta is read into a record on the stack
 * (mmsb_submit_read_one()) and, if no tick runs, handed to a tick run
 * here (mmsb_tick_run_handed()), with no queue and no batch.
 *
 * Context: process context with the caller's mm; the tick it runs may
 * sleep (propagation takes the graph's lock).
 * Return: %MMSB_DELTA_CHUNK when it cannot: another form of delta, a
 * tick running, deltas queued that the tick had to leave, or its page
 * changed by them in that tick; nothing of the delta was kept or
 * counted then, and the caller submits it as any other, reading it
 * again.  Else 0 (the delta's status says what became of it; a refused
 * delta is refused as mmsb_submit_queue() refuses it), -EFAULT (refused,
 * and its status could not be written, or its outputs could not be
 * claimed: nothing queued) or -ECOMM (handled by the tick, and its
 * outputs could not be written).
 */
int mmsb_submit_one(struct mmsb_file *mf, struct mmsb_delta __user *uptr,
		    u32 *accepted, u32 *applied)
{
	return __mmsb_submit_one(mf, uptr, accepted, applied);
}

/**
 * mmsb_submit() - MMSB_IOC_SUBMIT on a checked copy of its argument
 * @mf: the submitting file (credentials, parked submissions)
 * @uarg: where the caller's struct mmsb_submit is
 * @sub: a checked copy of it; @accepted and @applied are set here
 * @nonblock: a full queue ends the call with -EAGAIN
 *
 * A signal or task work ending a wait parks the submission (struct
 * mmsb_park) and returns -ERESTARTSYS; the restarted call resumes it.
 * A new submission first writes every delta's pending outputs
 * (mmsb_submit_claim()), so that -EFAULT always means nothing queued.
 * Out of line: its locals (a page cache of its own among them) and those
 * of the one-delta path of mmsb_ioctl_submit() would make one frame too
 * big for a KASAN kernel.
 *
 * Context: process context, sleeps.
 * Return: 0 (each delta has its own status), -EAGAIN once
 * @sub->accepted deltas went in, -ERESTARTSYS, -EFAULT with nothing
 * queued, or -ECOMM: an output could not be written back after
 * @sub->accepted deltas went in.
 */
static noinline_for_stack int
mmsb_submit(struct mmsb_file *mf, void __user *uarg, struct mmsb_submit *sub,
	    bool nonblock)
{
	struct mmsb_delta __user *uptr = u64_to_user_ptr(sub->deltas);
	bool sync = sub->flags & MMSB_SUBMIT_SYNC;
	/* Both set before use: see mmsb_submit_deltas(). */
	struct mmsb_submission stack __uninitialized, *s = &stack;
	struct mmsb_page_cache local __uninitialized;
	struct mmsb_park *p;
	struct mmsb_batch *batch;
	int ret;

	/* A look before the call: a file rarely has a parked submission. */
	p = list_empty_careful(&mf->parks) ? NULL :
					     mmsb_park_take(mf, uarg, sub);
	if (p) {
		if (mmsb_park_resume(p, s, mf, &local)) {
			batch = s->b.batch;
			goto wait;
		}
	} else {
		/*
		 * Nothing is queued unless every output can be written:
		 * the counts were (mmsb_submit_get()), the deltas' now.
		 */
		if (__mmsb_submit_claim(uptr, sub->count))
			return -EFAULT;
		mmsb_submit_start(s, mf,
				  mmsb_page_cache_acquire(&mf->pages, &local),
				  uptr, sub->count, sync,
				  sub->flags & MMSB_SUBMIT_ATOMIC, nonblock, true);
	}

	sub->applied = 0;
	ret = mmsb_submit_queue(s);
	if (ret == -ERESTARTSYS)
		return mmsb_park(mf, uarg, sub, s, false);
	s->stop = ret;
	if (ret)
		mmsb_submit_refuse_rest(s, ret);
	batch = mmsb_submit_end(s);
	sub->accepted = s->queued;
	if (!batch)
		return s->fault ? mmsb_submit_fault(s) : ret;
	if (mmsb_submit_arm(mf->tick, batch, NULL, NULL))
		goto report;
wait:
	if (wait_for_completion_interruptible(&batch->completion))
		return mmsb_park(mf, uarg, sub, s, true);
report:
	if (mmsb_batch_report(batch, uptr, true, &sub->applied))
		s->fault = -EFAULT;
	mmsb_batch_put(batch);
	sub->accepted = s->queued;
	if (s->fault)
		return mmsb_submit_fault(s);
	return s->stop;
}

/**
 * mmsb_ioctl_submit() - MMSB_IOC_SUBMIT
 * @file: the mmsb file
 * @uarg: user pointer to struct mmsb_submit
 *
 * The outputs @accepted and @applied are written twice: zero before
 * anything is queued (a struct that cannot take them fails with -EFAULT
 * and nothing done), the counts at the end (a struct that no longer
 * takes them then gives -ECOMM once something was queued).
 *
 * Return: see mmsb_submit(); -EINVAL for unknown flags, reserved fields
 * not zero, or a count of 0 or over %MMSB_SUBMIT_MAX (the uapi's errno
 * rule: the io_uring SUBMIT says the same).
 */
long mmsb_ioctl_submit(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;
	struct mmsb_submit __user *u = uarg;
	struct mmsb_submit sub = { };
	int ret;

	ret = mmsb_submit_get(u, &sub);
	if (ret)
		return ret;
	/*
	 * One delta, SYNC, not ATOMIC: handed to a tick run here, if it
	 * can be (a look first: a file rarely has a parked submission,
	 * which mmsb_submit() resumes).
	 */
	ret = MMSB_DELTA_CHUNK;
	if ((sub.flags & (MMSB_SUBMIT_SYNC | MMSB_SUBMIT_ATOMIC)) ==
	    MMSB_SUBMIT_SYNC && sub.count == 1 && list_empty_careful(&mf->parks))
		ret = __mmsb_submit_one(mf, u64_to_user_ptr(sub.deltas),
					&sub.accepted, &sub.applied);
	if (ret == MMSB_DELTA_CHUNK)
		ret = mmsb_submit(mf, uarg, &sub, file->f_flags & O_NONBLOCK);
	trace_mmsb_submit(sub.count, sub.accepted, sub.flags & MMSB_SUBMIT_SYNC,
			  false, ret);
	if (mmsb_submit_put_counts(u, sub.accepted, sub.applied))
		return sub.accepted ? -ECOMM : -EFAULT;
	return ret;
}

/**
 * mmsb_ioctl_flush() - MMSB_IOC_FLUSH: run a tick and wait for it
 * @file: the mmsb file
 * @uarg: unused
 *
 * A signal, or task work, ending the wait restarts the call, which then
 * waits for a tick that starts after the restart.
 *
 * Return: 0 or -ERESTARTSYS.
 */
long mmsb_ioctl_flush(struct file *file, void __user *uarg)
{
	struct mmsb_file *mf = file->private_data;

	return mmsb_tick_flush(mf->tick);
}
