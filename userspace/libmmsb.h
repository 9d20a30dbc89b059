/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * libmmsb - a small C library over /dev/mmsb.
 *
 * Link with `pkg-config --cflags --libs mmsb` (add --static for the
 * archive); the io_uring helpers are in <libmmsb_uring.h>.  Every
 * function is in libmmsb(3); its symbols carry the version MMSB_1.0.
 *
 * Every function returns 0 (or a non-negative count) on success and a
 * negative errno on failure; none of them sets errno for the caller.
 * mmsb_strerror() turns such a value into a message.  Sizes, offsets
 * and lengths are in bytes; ids, epochs and counts are plain numbers;
 * times are in nanoseconds.  The structures are those of
 * <linux/mmsb.h>, the module's ABI.
 */
#ifndef LIBMMSB_H
#define LIBMMSB_H

#include <stddef.h>
#include <linux/mmsb.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Open /dev/mmsb read-write, close-on-exec.  Returns the file descriptor,
 * or -ENOENT (no module loaded), -EACCES (not in the device's group, see
 * the udev rule), or another error of open(2).
 */
int mmsb_open(void);

/*
 * Open bus @bus of a module loaded with buses=N: /dev/mmsb for 0,
 * /dev/mmsb1 ... /dev/mmsb<N-1> for the others; as mmsb_open() otherwise
 * (-ENOENT: no such bus).
 */
int mmsb_open_bus(unsigned int bus);

/*
 * Fill @v from MMSB_IOC_VERSION: the module's ABI version and its
 * MMSB_FEAT_* bits.  Returns 0 or -errno of ioctl(2) (-ENOTTY: @fd is
 * no mmsb device).
 */
int mmsb_version(int fd, struct mmsb_version *v);

/*
 * Pages.  A mapped page is handled through its header, the first bytes
 * of the mapping; the data follow at MMSB_PAGE_DATA_OFFSET.
 */

/*
 * Create a page of @size data bytes (1 to the module's max_page_size),
 * permission bits @mode (0 means MMSB_PAGE_MODE_DEFAULT, 0600; owner =
 * the caller), @flags MMSB_PAGE_EVICTABLE or 0.  @out receives the id
 * and the mmap offset.  Errors: -EINVAL (size, mode or flags), -ENOMEM
 * (memory limit mem_limit_mb), -ENOSPC (ids used up).
 */
int mmsb_page_create(int fd, __u64 size, __u32 mode, __u32 flags,
		     struct mmsb_page_create *out);

/*
 * Free page @id at once: later calls on it get -ENOENT, its waiters
 * -EIDRM; the memory goes once its last mapping is gone.  Errors:
 * -ENOENT, -EPERM (not the owner, no CAP_SYS_ADMIN).
 */
int mmsb_page_free(int fd, __u64 id);

/* Fill @info for page @id.  Errors: -ENOENT, -EACCES (no read right). */
int mmsb_page_info(int fd, __u64 id, struct mmsb_page_info *info);

/*
 * Store up to @max (at most MMSB_PAGE_LIST_MAX) live ids >= @start in
 * @ids, ascending; *@next is where to go on, 0 when done.  Returns the
 * number of ids stored, or -EINVAL (@max 0 or too big), -EFAULT.
 */
int mmsb_page_list(int fd, __u64 start, __u64 *ids, __u32 max, __u64 *next);

/*
 * Map all of page @id read-only and shared; *@hdr points at its header
 * (data at MMSB_PAGE_DATA_OFFSET).  Errors: those of mmsb_page_info(),
 * and of mmap(2).
 */
int mmsb_page_map(int fd, __u64 id, const struct mmsb_page_header **hdr);

/* Undo mmsb_page_map(); returns 0 or -errno of munmap(2). */
int mmsb_page_unmap(const struct mmsb_page_header *hdr);

/*
 * Copy @len data bytes at @off of a mapped page into @buf, never torn
 * (seqlock protocol of the uapi header); *@epoch, if not NULL, gets the
 * epoch the copy belongs to.  No system call.  Errors: -EINVAL when
 * [@off, @off + @len) is not inside the page.
 */
int mmsb_page_read(const struct mmsb_page_header *hdr, __u64 off, void *buf,
		   __u64 len, __u64 *epoch);

/*
 * Map the bus header (struct mmsb_bus_header: the ticks' sequence
 * counter) read-only; *@bus points at it.  Errors: those of mmap(2).
 */
int mmsb_bus_map(int fd, const struct mmsb_bus_header **bus);

/* Undo mmsb_bus_map(); returns 0 or -errno of munmap(2). */
int mmsb_bus_unmap(const struct mmsb_bus_header *bus);

/**
 * struct mmsb_snapshot_item - one window of mmsb_snapshot()
 * @page: the page's mapping (mmsb_page_map())
 * @off: first data byte
 * @len: bytes
 * @buf: where they go
 * @epoch: out: the page's epoch in the snapshot
 */
struct mmsb_snapshot_item {
	const struct mmsb_page_header *page;
	__u64 off;
	__u64 len;
	void *buf;
	__u64 epoch;
};

/*
 * Copy the windows of @n items of several pages as they all stood at
 * one tick boundary, never torn and never across a tick (seqlock of the
 * bus header); no system call.  A tick's changes to every page are in
 * the copy whole or not at all.  Errors: -EINVAL when a window is not
 * inside its page (nothing copied).
 */
int mmsb_snapshot(const struct mmsb_bus_header *bus,
		  struct mmsb_snapshot_item *items, unsigned int n);

/*
 * Fill @s from MMSB_IOC_STATS: counters since load, the last tick's
 * metrics, memory in bytes, times in ns.  s->size tells how much an
 * older module filled.  Returns 0 or -errno.
 */
int mmsb_stats(int fd, struct mmsb_stats *s);

/*
 * Deltas.  mmsb_delta_dense() fills @d for a DENSE delta writing @len
 * bytes of @buf at @off of page @page (expected epoch 0: any).  @buf
 * must stay valid until the delta is submitted.
 */
void mmsb_delta_dense(struct mmsb_delta *d, __u64 page, __u64 off,
		      const void *buf, __u64 len);

/*
 * Submit @count deltas (1 to MMSB_SUBMIT_MAX; MMSB_IOC_SUBMIT); each
 * gets its own status (0, or -EINVAL, -ENOENT, -EACCES, -ERANGE,
 * -EMSGSIZE, -ENOMEM, -EFAULT when refused at submission; -ESTALE or
 * -EIDRM when dropped at apply, SYNC only) and id.  *@accepted (if not
 * NULL) gets how many were queued, also when the call fails with
 * -EAGAIN (O_NONBLOCK, ring full) or -EINTR.  @flags: MMSB_SUBMIT_SYNC
 * waits until they are applied and visible.  Errors of the call:
 * -EINVAL (count, flags), -EAGAIN, -EINTR, -EFAULT.
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
 * Errors: -ETIMEDOUT, -EINTR, -EIDRM (page freed), -ENOENT, -EACCES.
 */
int mmsb_wait(int fd, __u64 page, __u64 epoch, __u64 timeout_ns, __u64 *cur);

/* Run a tick now and wait for it (MMSB_IOC_FLUSH); 0 or -EINTR. */
int mmsb_flush(int fd);

/*
 * Report changes of page @page on this fd: poll(2) shows POLLIN, and
 * mmsb_read_events() returns them.  Errors: -ENOENT, -EACCES, -ENOMEM.
 */
int mmsb_subscribe(int fd, __u64 page);

/*
 * Read up to @max events (page and epoch) of subscribed pages that
 * changed, one per page; returns how many, or -EAGAIN when none (wait
 * with poll(2)), -EINVAL when @max is 0.
 */
int mmsb_read_events(int fd, struct mmsb_event *ev, unsigned int max);

/*
 * Add or delete the dependency @from -> @to of @kind (MMSB_EDGE_*); both
 * pages must be writable.  Errors: -ELOOP (self edge or cycle), -EEXIST,
 * -ENOSPC (max_edges), -ENOENT, -EACCES, -EINVAL.
 */
int mmsb_edge_add(int fd, __u64 from, __u64 to, __u32 kind);
int mmsb_edge_del(int fd, __u64 from, __u64 to, __u32 kind);

/*
 * Restore a page as a snapshot or a replication leader had it
 * (MMSB_PAGE_RESTORE): id @id, which must be above every id the bus has
 * handed out, first epoch @epoch, first data the @size bytes at @data
 * (NULL: zeroes); @mode and @flags as mmsb_page_create().  @out
 * receives the id and the mmap offset.  Needs CAP_SYS_ADMIN when @fd
 * was opened.  Errors: -EPERM, -EEXIST (@id not above every id handed
 * out), -EINVAL, -EFAULT, -ENOMEM, as mmsb_page_create() otherwise.
 * Since MMSB_1.4.
 */
int mmsb_page_restore(int fd, __u64 id, __u64 size, __u32 mode,
		      __u32 flags, __u64 epoch, const void *data,
		      struct mmsb_page_create *out);

/*
 * Store up to @max (at most MMSB_EDGE_LIST_MAX) outgoing edges of page
 * @page in @edges, by @to ascending, read in one cut
 * (MMSB_IOC_EDGE_LIST); *@count (if not NULL) gets how many the page
 * has.  Returns the number stored, or -ENOENT, -EACCES (no read right),
 * -EINVAL (@max too big), -EFAULT.  Since MMSB_1.4.
 */
int mmsb_edge_list(int fd, __u64 page, struct mmsb_edge *edges, __u32 max,
		   __u32 *count);

/*
 * A message for @err, an error of libmmsb (negative) or an errno
 * (positive): what it means for mmsb where the ABI gives it a meaning
 * (-ESTALE: "page is not at the expected epoch"), else the C library's
 * description.  The string is constant; never NULL; thread-safe.
 */
const char *mmsb_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBMMSB_H */
