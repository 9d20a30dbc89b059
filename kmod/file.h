/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb open file: what the entry points that submit and wait (submit.c,
 * park.c, events.c, uring.c) know of a bus, through the file it
 * was opened as: its page table, submission state and tick, set by
 * main.c at open.  The rest of the bus (graph, propagation, monitor) is
 * not theirs to reach.
 */
#ifndef _MMSB_FILE_H
#define _MMSB_FILE_H

#include <linux/cred.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "delta.h"

struct mmsb_dev;
struct mmsb_page_table;
struct mmsb_sq;
struct mmsb_tick;
struct io_uring_cmd;
struct mm_struct;
struct mmsb_chunk;

/**
 * struct mmsb_uring_handoff - io_uring commands handed to a tick (uring.c)
 * @first: the first chunk of their records, from the pool; the others
 *	follow through ->next
 * @cur: the last chunk, which records are added to
 * @cmds: the first command; the others follow through their pdus
 * @last: the last command
 */
struct mmsb_uring_handoff {
	struct mmsb_chunk *first;
	struct mmsb_chunk *cur;
	struct io_uring_cmd *cmds;
	struct io_uring_cmd *last;
};

/**
 * struct mmsb_file - per open file (file->private_data)
 * @cred: the opener's credentials (file->f_cred, pinned by the file),
 *	used for every access check made through this file
 * @admin: the opener had CAP_SYS_ADMIN at open: overrides page modes
 * @dev: the bus the file was opened on (main.h; for ioctl.c, debugfs.c)
 * @table: its page table
 * @deltas: its submission state
 * @tick: its tick
 * @subs: subscribed pages, page id -> struct mmsb_sub (events.c)
 * @subs_lock: serialises read() of events and subscribing
 * @events_wq: poll() waits here; every subscribed page's wake-up is
 *	forwarded here (struct mmsb_sub, events.c)
 * @tick_task: the task a tick is pending in as task work (uring.c), or
 *	NULL; io_uring commands it issues rely on that tick
 * @tick_work: that task work; it holds a reference on @tick_file
 * @tick_file: the file (for the reference)
 * @tick_mm: the address space of @tick_task, grabbed (mmgrab()) for
 *	the results of the commands its task work queues
 * @handoff: io_uring commands @tick_task issued inline, read for the
 *	tick of its task work (uring.c); empty (zeroed) at other times
 * @tick_queued: a command of @tick_task queued deltas and relies on the
 *	tick of its task work; written by that task and its task work only
 * @pages: the pages its submissions looked up (delta.h)
 * @park_lock: protects @parks
 * @parks: SYNC submissions a signal interrupted, one per thread at most,
 *	for the restarted call to resume (struct mmsb_park, submit.c)
 * @sq: the file's mapped queue (sq.c), or NULL; set once, by
 *	MMSB_IOC_SQ_SETUP (release store), freed at release
 */
struct mmsb_file {
	const struct cred *cred;
	bool admin;
	struct mmsb_dev *dev;
	struct mmsb_page_table *table;
	struct mmsb_delta_ctx *deltas;
	struct mmsb_tick *tick;
	struct xarray subs;
	struct mutex subs_lock;	/* read() of events, subscribing */
	wait_queue_head_t events_wq;
	struct task_struct *tick_task;
	struct callback_head tick_work;
	struct file *tick_file;
	struct mm_struct *tick_mm;
	struct mmsb_uring_handoff handoff;
	bool tick_queued;
	struct mmsb_page_cache pages;
	spinlock_t park_lock;	/* @parks */
	struct list_head parks;
	struct mmsb_sq *sq;
};

#endif /* _MMSB_FILE_H */
