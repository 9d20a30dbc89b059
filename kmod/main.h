/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb: a bus, for the composition root (main.c) and the entry points
 * that reach all of it (ioctl.c, debugfs.c).  The submission and event
 * entry points (submit.c, park.c, events.c, uring.c) see only an
 * open file's narrow view of its bus (file.h).  Components below do not
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
#include "file.h"
#include "graph.h"
#include "monitor.h"
#include "page.h"
#include "propagate.h"
#include "stream.h"
#include "tick.h"

/* Features this build implements (struct mmsb_version.features). */
#define MMSB_FEATURES		(MMSB_FEAT_PAGES | MMSB_FEAT_DELTAS | \
				 MMSB_FEAT_GRAPH | MMSB_FEAT_URING | \
				 MMSB_FEAT_GC | MMSB_FEAT_STREAM)

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
 * @stream: change streams, captured by @tick
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
	struct mmsb_stream_bus stream;
	struct miscdevice misc;
	struct dentry *debugfs;
	char name[16];
};

#endif /* _MMSB_MAIN_H */
