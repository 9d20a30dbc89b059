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

#include "tick.h"

struct mmsb_batch;
struct mmsb_tick;
struct mmsb_file;

int mmsb_submit_deltas(struct mmsb_file *mf, struct mmsb_delta __user *uptr,
		       u32 n, bool awaited, bool atomic, bool nonblock,
		       u32 *accepted, struct mmsb_batch **batch);
int mmsb_submit_claim(struct mmsb_delta __user *uptr, u32 n);
int mmsb_submit_one(struct mmsb_file *mf, struct mmsb_delta __user *uptr,
		    u32 *accepted, u32 *applied);
bool mmsb_submit_arm(struct mmsb_tick *t, struct mmsb_batch *batch,
		     void (*done)(struct mmsb_batch *batch), void *priv);

long mmsb_ioctl_submit(struct file *file, void __user *uarg);
long mmsb_ioctl_flush(struct file *file, void __user *uarg);

void mmsb_submit_open(struct mmsb_file *mf);
void mmsb_submit_release(struct mmsb_file *mf);

#endif /* _MMSB_SUBMIT_H */
