/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb: definitions shared by main.c and the user-facing entry points
 * (delta.c, uring.c).  Components below them do not include this file.
 */
#ifndef _MMSB_MAIN_H
#define _MMSB_MAIN_H

#include <linux/cred.h>
#include <linux/sizes.h>

#include <linux/mmsb.h>

#include "page.h"

/* Features this build implements (struct mmsb_version.features). */
#define MMSB_FEATURES		MMSB_FEAT_PAGES

/* Upper bounds of the module parameters. */
#define MMSB_RING_SIZE_MAX	SZ_4M
#define MMSB_WORKERS_MAX	64
#define MMSB_PAGE_SIZE_MAX	SZ_1G
#define MMSB_MEM_LIMIT_MB_MAX	SZ_1M
#define MMSB_EDGES_MAX		SZ_16M

/**
 * struct mmsb_dev - the state behind /dev/mmsb (one instance, in main.c)
 * @pages: every page, by id
 */
struct mmsb_dev {
	struct mmsb_page_table pages;
};

/**
 * struct mmsb_file - per open file (file->private_data)
 * @cred: the opener's credentials (file->f_cred, pinned by the file),
 *	used for every access check made through this file
 * @admin: the opener had CAP_SYS_ADMIN at open: overrides page modes
 */
struct mmsb_file {
	const struct cred *cred;
	bool admin;
};

#endif /* _MMSB_MAIN_H */
