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

/**
 * struct mmsb_stat_desc - one counter of struct mmsb_stats
 * @name: its uapi name ("last." and the name for struct mmsb_tick_metrics)
 * @offset: its offset in struct mmsb_stats
 * @size: its size, 4 or 8
 */
struct mmsb_stat_desc {
	const char *name;
	unsigned int offset;
	unsigned int size;
};

extern const struct mmsb_stat_desc mmsb_stat_descs[];
extern const unsigned int mmsb_nr_stat_descs;

long mmsb_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
void mmsb_stats_fill(struct mmsb_dev *dev, struct mmsb_stats *st);

#endif /* _MMSB_IOCTL_H */
