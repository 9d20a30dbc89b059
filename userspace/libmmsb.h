/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * libmmsb - a small C library over /dev/mmsb.
 *
 * Every function returns 0 (or a non-negative count) on success and a
 * negative errno on failure; none of them sets errno for the caller.
 */
#ifndef LIBMMSB_H
#define LIBMMSB_H

#include <stddef.h>
#include <linux/mmsb.h>

/* Open /dev/mmsb; returns the file descriptor or -errno. */
int mmsb_open(void);

/* Fill @v from MMSB_IOC_VERSION. */
int mmsb_version(int fd, struct mmsb_version *v);

#endif /* LIBMMSB_H */
