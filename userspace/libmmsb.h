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

/*
 * Pages.  A mapped page is handled through its header, the first bytes
 * of the mapping; the data follow at MMSB_PAGE_DATA_OFFSET.
 */

/* Create a page; @out receives the id and mmap offset. */
int mmsb_page_create(int fd, __u64 size, __u32 mode, __u32 flags,
		     struct mmsb_page_create *out);

/* Free page @id (the memory goes once its last mapping is gone). */
int mmsb_page_free(int fd, __u64 id);

/* Fill @info for page @id. */
int mmsb_page_info(int fd, __u64 id, struct mmsb_page_info *info);

/*
 * Store up to @max live ids >= @start in @ids; *@next is where to go on,
 * 0 when done.  Returns the number of ids stored.
 */
int mmsb_page_list(int fd, __u64 start, __u64 *ids, __u32 max, __u64 *next);

/* Map all of page @id read-only; *@hdr points at its header. */
int mmsb_page_map(int fd, __u64 id, const struct mmsb_page_header **hdr);

/* Undo mmsb_page_map(). */
int mmsb_page_unmap(const struct mmsb_page_header *hdr);

/*
 * Copy @len data bytes at @off of a mapped page into @buf, never torn
 * (seqlock protocol of the uapi header); *@epoch, if not NULL, gets the
 * epoch the copy belongs to.
 */
int mmsb_page_read(const struct mmsb_page_header *hdr, __u64 off, void *buf,
		   __u64 len, __u64 *epoch);

/* Fill @s from MMSB_IOC_STATS. */
int mmsb_stats(int fd, struct mmsb_stats *s);

/*
 * Deltas.  mmsb_delta_dense() fills @d for a DENSE delta writing @len
 * bytes of @buf at @off of page @page (expected epoch 0).
 */
void mmsb_delta_dense(struct mmsb_delta *d, __u64 page, __u64 off,
		      const void *buf, __u64 len);

/*
 * Submit @count deltas (MMSB_IOC_SUBMIT); each gets its own status and
 * id.  *@accepted (if not NULL) gets how many were queued, also when
 * the call fails with -EAGAIN (O_NONBLOCK, ring full) or -EINTR.
 * @flags: MMSB_SUBMIT_SYNC waits until they are applied.
 */
int mmsb_submit(int fd, struct mmsb_delta *deltas, __u32 count, __u32 flags,
		__u32 *accepted);

/*
 * mmsb_submit() with both counts of struct mmsb_submit: *@accepted and
 * *@applied (each if not NULL).  @applied is how many deltas a SYNC
 * submission applied (0 without SYNC, or when it fails with -EINTR: the
 * deltas still apply, but nobody waits to count them).
 */
int mmsb_submit_counts(int fd, struct mmsb_delta *deltas, __u32 count,
		       __u32 flags, __u32 *accepted, __u32 *applied);

/*
 * Wait until page @page reaches @epoch (MMSB_IOC_WAIT); @timeout_ns 0
 * polls, UINT64_MAX waits forever.  *@cur (if not NULL) gets the epoch.
 */
int mmsb_wait(int fd, __u64 page, __u64 epoch, __u64 timeout_ns, __u64 *cur);

/* Run a tick now and wait for it (MMSB_IOC_FLUSH). */
int mmsb_flush(int fd);

/* Report changes of page @page on this fd (poll/read). */
int mmsb_subscribe(int fd, __u64 page);

/*
 * Read up to @max events of subscribed pages that changed; returns how
 * many, or -EAGAIN when none (wait with poll()).
 */
int mmsb_read_events(int fd, struct mmsb_event *ev, unsigned int max);

/*
 * Add or delete the dependency @from -> @to of @kind (MMSB_EDGE_*); both
 * pages must be writable.  Errors: -ELOOP (self edge or cycle), -EEXIST,
 * -ENOSPC (max_edges), -ENOENT, -EACCES, -EINVAL.
 */
int mmsb_edge_add(int fd, __u64 from, __u64 to, __u32 kind);
int mmsb_edge_del(int fd, __u64 from, __u64 to, __u32 kind);

#endif /* LIBMMSB_H */
