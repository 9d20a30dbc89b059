/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb: definitions shared by main.c and the user-facing entry points
 * (delta.c, uring.c).  Components below them do not include this file.
 */
#ifndef _MMSB_MAIN_H
#define _MMSB_MAIN_H

#include <linux/sizes.h>

#include <linux/mmsb.h>

/* Features this build implements (struct mmsb_version.features). */
#define MMSB_FEATURES		0ULL

/* Upper bounds of the module parameters. */
#define MMSB_RING_SIZE_MAX	SZ_4M
#define MMSB_WORKERS_MAX	64
#define MMSB_PAGE_SIZE_MAX	SZ_1G
#define MMSB_MEM_LIMIT_MB_MAX	SZ_1M
#define MMSB_EDGES_MAX		SZ_16M

#endif /* _MMSB_MAIN_H */
