/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb delta submission (submit.c): the path the SUBMIT ioctl and
 * io_uring's SUBMIT share (mmsb_submit_deltas(), mmsb_submit_arm()), the
 * SUBMIT and FLUSH ioctls, and a file's parked submissions (park.c).
 * Part of the top layer; ioctl.c dispatches to it.
 */
#ifndef _MMSB_SUBMIT_H
#define _MMSB_SUBMIT_H

#include <linux/fs.h>
#include <linux/types.h>

#include "batch.h"
#include "delta.h"
#include "file.h"
#include "tick.h"

int mmsb_submit_deltas(struct mmsb_file *mf, struct mmsb_delta __user *uptr,
		       u32 n, bool awaited, bool atomic, bool nonblock,
		       u32 *accepted, struct mmsb_batch **batch);
int mmsb_submit_claim(struct mmsb_delta __user *uptr, u32 n);
int mmsb_submit_hand(struct mmsb_file *mf, struct mmsb_chunk *c,
		     struct mmsb_delta __user *uptr, u32 n);
int mmsb_submit_records(struct mmsb_file *mf, struct mmsb_kdelta *kd, u32 nr,
			struct mmsb_delta __user *uptr, u32 *accepted,
			struct mmsb_batch **batch);
int mmsb_submit_one(struct mmsb_file *mf, struct mmsb_delta __user *uptr,
		    u32 *accepted, u32 *applied);
bool mmsb_submit_arm(struct mmsb_tick *t, struct mmsb_batch *batch,
		     void (*done)(struct mmsb_batch *batch), void *priv);

/**
 * mmsb_submit_read_one() - read a delta for a tick to take from its submitter
 * @mf: the submitting file
 * @uptr: the caller's struct mmsb_delta, its outputs not claimed yet
 * @kd: out: its record, where mmsb_chunk_handed_slot() of a chunk of
 *	handed records says (mmsb_chunk_handed_add() then adds it)
 *
 * The delta's outputs are claimed (as mmsb_submit_claim() does) and a
 * small DENSE delta is read into @kd (mmsb_delta_read_one()) with a new
 * id, its page referenced, for mmsb_tick_run_handed().  One that fails
 * its checks is refused as mmsb_submit_queue() refuses it: counted, its
 * status written.
 *
 * Inline: the one-delta paths of the ioctl and io_uring are short.
 *
 * Context: process context with the caller's mm; reads and writes user
 * memory.
 * Return: 0 (read), %MMSB_DELTA_CHUNK (another form of delta: nothing
 * kept or counted; the caller submits it as any other, reading it
 * again), %MMSB_DELTA_REFUSED (refused, its status written) or -EFAULT
 * (its outputs could not be claimed, or a refusal could not be written:
 * nothing queued either way).
 */
static __always_inline int
mmsb_submit_read_one(struct mmsb_file *mf, struct mmsb_delta __user *uptr,
		     struct mmsb_kdelta *kd)
{
	struct mmsb_delta_ctx *ctx = mf->deltas;
	int ret;

	ret = mmsb_delta_read_one(ctx, &mf->pages, uptr, mf->cred, mf->admin,
				  atomic64_inc_return(&ctx->next_id), kd);
	if (ret == MMSB_DELTA_FAULT)
		return -EFAULT;
	if (ret >= 0)
		return ret;
	atomic64_inc(&ctx->rejected);
	/* The count before the status, as in mmsb_submit_queue(). */
	smp_mb__after_atomic();
	return mmsb_delta_put_result(uptr, 0, ret, 0) ? -EFAULT :
							 MMSB_DELTA_REFUSED;
}

long mmsb_ioctl_submit(struct file *file, void __user *uarg);
long mmsb_ioctl_flush(struct file *file, void __user *uarg);

void mmsb_submit_open(struct mmsb_file *mf);
void mmsb_submit_release(struct mmsb_file *mf);

#endif /* _MMSB_SUBMIT_H */
