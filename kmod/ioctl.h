/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb ioctl dispatch and the control ioctls (ioctl.c); SUBMIT, WAIT,
 * FLUSH and SUBSCRIBE are submit.c's.
 */
#ifndef _MMSB_IOCTL_H
#define _MMSB_IOCTL_H

#include <linux/types.h>

struct file;
struct mmsb_dev;
struct mmsb_stats;

long mmsb_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
void mmsb_stats_fill(struct mmsb_dev *dev, struct mmsb_stats *st);

#endif /* _MMSB_IOCTL_H */
