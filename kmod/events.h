/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb page events (events.c): MMSB_IOC_WAIT, MMSB_IOC_SUBSCRIBE and the
 * read() and poll() of a file's subscribed pages.
 */
#ifndef _MMSB_EVENTS_H
#define _MMSB_EVENTS_H

#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/types.h>

struct mmsb_file;

long mmsb_ioctl_wait(struct file *file, void __user *uarg);
long mmsb_ioctl_subscribe(struct file *file, void __user *uarg);

void mmsb_events_init(struct mmsb_file *mf);
void mmsb_events_release(struct mmsb_file *mf);
ssize_t mmsb_events_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos);
__poll_t mmsb_events_poll(struct file *file, poll_table *pt);

#endif /* _MMSB_EVENTS_H */
