/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb: a bus and an open file, shared by main.c and the entry points
 * (ioctl.c, submit.c, uring.c, debugfs.c).  Components below them do not
 * include this file.
 */
#ifndef _MMSB_MAIN_H
#define _MMSB_MAIN_H

#include <linux/cred.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include <linux/mmsb.h>

#include "delta.h"
#include "engine.h"
#include "graph.h"
#include "monitor.h"
#include "page.h"
#include "propagate.h"
#include "tick.h"

/* Features this build implements (struct mmsb_version.features). */
#define MMSB_FEATURES		(MMSB_FEAT_PAGES | MMSB_FEAT_DELTAS | \
				 MMSB_FEAT_GRAPH | MMSB_FEAT_URING | \
				 MMSB_FEAT_GC)

/* Upper bounds of the module parameters. */
#define MMSB_RING_SIZE_MAX	MMSB_RING_MAX_CAPACITY	/* ring.h */
#define MMSB_WORKERS_MAX	64
#define MMSB_PAGE_SIZE_MAX	SZ_1G
#define MMSB_MEM_LIMIT_MB_MAX	SZ_1M
#define MMSB_EDGES_MAX		SZ_16M

/* Buses one module may carry (the buses parameter). */
#define MMSB_BUSES_MAX		64

/**
 * struct mmsb_dev - one bus: the state behind /dev/mmsb or /dev/mmsbN
 * @pages: every page, by id
 * @deltas: delta submission state
 * @engine: the apply workers
 * @tick: the delta queue and the tick
 * @graph: page dependencies (edges)
 * @prop: propagation along @graph, driven by @tick
 * @monitor: memory accounting and GC, run by @tick
 * @misc: the misc device ("mmsb", "mmsb1", ...)
 * @debugfs: its debugfs directory (same name)
 * @name: the device's name
 *
 * Buses share nothing: main.c starts and stops each one's components in
 * one ladder (mmsb_bus_init()); a file reaches its bus as mf->dev.
 */
struct mmsb_dev {
	struct mmsb_page_table pages;
	struct mmsb_delta_ctx deltas;
	struct mmsb_engine engine;
	struct mmsb_tick tick;
	struct mmsb_graph graph;
	struct mmsb_prop prop;
	struct mmsb_monitor monitor;
	struct miscdevice misc;
	struct dentry *debugfs;
	char name[16];
};

/**
 * struct mmsb_file - per open file (file->private_data)
 * @cred: the opener's credentials (file->f_cred, pinned by the file),
 *	used for every access check made through this file
 * @admin: the opener had CAP_SYS_ADMIN at open: overrides page modes
 * @dev: the bus the file was opened on
 * @subs: subscribed pages, page id -> struct mmsb_sub (submit.c)
 * @subs_lock: serialises read() of events and subscribing
 * @events_wq: poll() waits here; every subscribed page's wake-up is
 *	forwarded here (struct mmsb_sub, submit.c)
 * @tick_task: the task a tick is pending in as task work (uring.c), or
 *	NULL; io_uring commands it issues rely on that tick
 * @tick_work: that task work; it holds a reference on @tick_file
 * @tick_file: the file (for the reference)
 * @pages: the pages its submissions looked up (delta.h)
 * @park_lock: protects @parks
 * @parks: SYNC submissions a signal interrupted, one per thread at most,
 *	for the restarted call to resume (struct mmsb_park, submit.c)
 */
struct mmsb_file {
	const struct cred *cred;
	bool admin;
	struct mmsb_dev *dev;
	struct xarray subs;
	struct mutex subs_lock;	/* read() of events, subscribing */
	wait_queue_head_t events_wq;
	struct task_struct *tick_task;
	struct callback_head tick_work;
	struct file *tick_file;
	struct mmsb_page_cache pages;
	spinlock_t park_lock;	/* @parks */
	struct list_head parks;
};

#endif /* _MMSB_MAIN_H */
