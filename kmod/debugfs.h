/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb debugfs: /sys/kernel/debug/<bus>/{stats,pages,graph}, read-only
 * text for people (mmsbctl and MMSB_IOC_STATS are the interfaces for
 * programs).
 */
#ifndef _MMSB_DEBUGFS_H
#define _MMSB_DEBUGFS_H

struct mmsb_dev;

void mmsb_debugfs_init(struct mmsb_dev *dev);
void mmsb_debugfs_exit(struct mmsb_dev *dev);

#endif /* _MMSB_DEBUGFS_H */
