/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb delta entry points: the SUBMIT, WAIT, FLUSH and SUBSCRIBE ioctls,
 * read() and poll() of page events, and the set-up of the delta
 * machinery (submission state, engine, tick).  Part of the top layer
 * with main.c, which dispatches to it; uring.c shares its submission
 * path, mmsb_submit_deltas().
 */
#ifndef _MMSB_SUBMIT_H
#define _MMSB_SUBMIT_H

#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/types.h>

#include "tick.h"

struct mmsb_batch;
struct mmsb_dev;
struct mmsb_file;

void mmsb_deltas_stats(struct mmsb_dev *dev, struct mmsb_stats *st);

int mmsb_submit_deltas(struct mmsb_dev *dev, struct mmsb_file *mf,
		       struct mmsb_delta __user *uptr, u32 n, bool awaited,
		       bool atomic, bool nonblock, u32 *accepted,
		       struct mmsb_batch **batch);
bool mmsb_submit_arm(struct mmsb_dev *dev, struct mmsb_batch *batch,
		     void (*done)(struct mmsb_batch *batch), void *priv);

long mmsb_ioctl_submit(struct file *file, void __user *uarg);
long mmsb_ioctl_wait(struct file *file, void __user *uarg);
long mmsb_ioctl_flush(struct file *file, void __user *uarg);
long mmsb_ioctl_subscribe(struct file *file, void __user *uarg);

void mmsb_submit_open(struct mmsb_file *mf);
void mmsb_submit_release(struct mmsb_file *mf);
void mmsb_events_init(struct mmsb_file *mf);
void mmsb_events_release(struct mmsb_file *mf);
ssize_t mmsb_events_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos);
__poll_t mmsb_events_poll(struct file *file, poll_table *pt);

#endif /* _MMSB_SUBMIT_H */
