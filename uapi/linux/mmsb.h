/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mmsb - Memory-Mapped State Bus: the user-space ABI of /dev/mmsb.
 *
 * Pages of state live in kernel memory and are mapped read-only into any
 * number of processes.  Pages change only through deltas submitted by
 * ioctl or io_uring passthrough; a periodic tick applies them in the
 * order the kernel accepted them and bumps each changed page's epoch.
 *
 * Rules of this header: fixed-width fields only, pointers carried as
 * __u64, explicit padding, and every pad/reserved field must be zero on
 * input (-EINVAL otherwise) so it can take a meaning later.  Unknown
 * flag bits are refused with -EINVAL.  Query MMSB_IOC_VERSION for the
 * features a kernel offers.
 *
 * Command numbers, of the ioctls and of the io_uring commands alike,
 * carry the size of their argument (_IOW/_IOR/_IOWR): a program built
 * against another layout gets -ENOTTY, never a misread argument.
 *
 * Errno rule for counts: a field outside the range this header gives
 * it (a count of 0 or over MMSB_SUBMIT_MAX, a list max over
 * MMSB_PAGE_LIST_MAX) is a malformed argument like any other: -EINVAL,
 * on the ioctl and the io_uring paths alike.  -E2BIG is kept for a
 * well-formed request beyond a limit set when the module was loaded
 * (an MMSB_SUBMIT_ATOMIC submission larger than a chunk or batch_max),
 * which a caller can only learn by trying: splitting it helps there,
 * while a count over a constant it was compiled with is a bug.
 */
#ifndef _UAPI_LINUX_MMSB_H
#define _UAPI_LINUX_MMSB_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define MMSB_DEVICE_PATH	"/dev/mmsb"

/* Bumped only for an incompatible change; additions use feature bits. */
#define MMSB_ABI_VERSION	1

/* 0xB9 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define MMSB_IOC_MAGIC		0xB9

/* Feature bits reported by MMSB_IOC_VERSION. */
#define MMSB_FEAT_PAGES		_BITULL(0)	/* create/free/info/list/mmap */
#define MMSB_FEAT_DELTAS	_BITULL(1)	/* SUBMIT, WAIT, STATS, poll */
#define MMSB_FEAT_URING		_BITULL(2)	/* IORING_OP_URING_CMD */
#define MMSB_FEAT_GRAPH		_BITULL(3)	/* edges and propagation */
#define MMSB_FEAT_GC		_BITULL(4)	/* evictable pages, monitor */
#define MMSB_FEAT_SQ		_BITULL(5)	/* mapped submission queue */
#define MMSB_FEAT_STREAM	_BITULL(6)	/* change stream, restore, edge list */

/**
 * struct mmsb_version - ABI version and features (MMSB_IOC_VERSION)
 * @abi_version: out: MMSB_ABI_VERSION of the running module
 * @pad: out: zero
 * @features: out: MMSB_FEAT_* bits this module implements
 * @reserved: out: zero
 */
struct mmsb_version {
	__u32 abi_version;
	__u32 pad;
	__u64 features;
	__u64 reserved[2];
};

/*
 * Pages
 *
 * A page is @size bytes of data preceded, in its mapping, by a
 * struct mmsb_page_header.  Map it with
 *	mmap(NULL, mmsb_page_map_size(size, pagesz), PROT_READ, MAP_SHARED,
 *	     fd, offset)
 * where offset is the mmap_offset given by MMSB_IOC_PAGE_CREATE or
 * MMSB_IOC_PAGE_INFO (the id times the system page size: an offset
 * inside a page's mapping names another id).  Writable mappings, shared
 * or private, are refused (-EPERM), as is a later mprotect(PROT_WRITE)
 * (-EACCES) or mremap() growth (-EFAULT).  An offset that is no live
 * page's gives -ENOENT, a length past map_size -EINVAL, a page the
 * opener may not read -EACCES.  Shorter mappings, MAP_PRIVATE read-only
 * mappings and fork() are fine.
 *
 * Lifetime: MMSB_IOC_PAGE_FREE (owner or CAP_SYS_ADMIN, else -EPERM)
 * removes the id at once: every later call on it gets -ENOENT and the
 * header's MMSB_HDR_LIVE flag clears.  Existing mappings stay readable;
 * once the last of them is gone the memory (and its bytes in
 * MMSB_IOC_STATS) is released by GC within a few ticks, gc_batch_pages
 * pages per tick, or at once by a create that needs the room.  Ids are
 * never reused while the module stays loaded.
 *
 * A page created with MMSB_PAGE_EVICTABLE may be freed by GC, exactly
 * like MMSB_IOC_PAGE_FREE (waiters get -EIDRM, edges go), when its
 * epoch did not move for cold_age GC runs while mmsb uses more than
 * gc_threshold percent of mem_limit_mb, not counting the memory of
 * freed pages that GC has yet to release (it releases that first).  Other pages are never freed
 * behind their owner's back.
 *
 * Access is checked against the credentials of whoever opened the file
 * (fsuid, fsgid, groups), like SysV IPC: the owner's bits, else the
 * group's, else the others'; CAP_SYS_ADMIN at open time bypasses the
 * check.  MMSB_IOC_PAGE_INFO needs read permission; MMSB_IOC_PAGE_LIST
 * shows every live id.  Pages count against the module parameter
 * mem_limit_mb by their mapping size: a create past it fails with
 * -ENOMEM.
 */

/* Page flags (struct mmsb_page_create.flags). */
#define MMSB_PAGE_EVICTABLE	_BITUL(0)	/* GC may reclaim it when cold */
#define MMSB_PAGE_FLAGS_ALL	MMSB_PAGE_EVICTABLE

/*
 * Flags of the create call only (struct mmsb_page_create.flags, not kept
 * with the page).  MMSB_PAGE_RESTORE: rebuild a page from a snapshot or
 * a replication leader: @id, @epoch and @data are inputs.
 */
#define MMSB_PAGE_RESTORE	_BITUL(8)
#define MMSB_PAGE_CREATE_FLAGS_ALL	(MMSB_PAGE_FLAGS_ALL | MMSB_PAGE_RESTORE)

/* Mode used when struct mmsb_page_create.mode is 0. */
#define MMSB_PAGE_MODE_DEFAULT	0600

/**
 * struct mmsb_page_create - create a page (MMSB_IOC_PAGE_CREATE)
 * @size: in: data bytes, 1 to the module parameter max_page_size
 * @mode: in: permission bits (0777 at most) checked like SysV shm: read
 *	allows mapping and waiting, write allows deltas and edges.
 *	0 selects MMSB_PAGE_MODE_DEFAULT.
 * @flags: in: MMSB_PAGE_* flags, and MMSB_PAGE_RESTORE
 * @id: out: page id, never reused while the module stays loaded;
 *	in (MMSB_PAGE_RESTORE): the id to give the page
 * @mmap_offset: out: the offset to pass to mmap()
 * @epoch: in (MMSB_PAGE_RESTORE): the page's first epoch; else zero
 * @data: in (MMSB_PAGE_RESTORE): user pointer to @size bytes, the
 *	page's first data, or 0 for zeroes; else zero
 *
 * The owner is the caller's fsuid/fsgid.  Data starts zeroed, at epoch
 * 0, unless MMSB_PAGE_RESTORE gives them.  MMSB_PAGE_RESTORE needs
 * CAP_SYS_ADMIN at open (-EPERM) and an @id above every id the bus has
 * handed out (-EEXIST otherwise: ids are never reused); later ids
 * continue after it.  The page appears whole: nobody sees it before
 * @data is in place.
 */
struct mmsb_page_create {
	__u64 size;
	__u32 mode;
	__u32 flags;
	__u64 id;
	__u64 mmap_offset;
	__u64 epoch;
	__u64 data;
};

/**
 * struct mmsb_page_free - free a page (MMSB_IOC_PAGE_FREE)
 * @id: in: the page to free (its owner, or CAP_SYS_ADMIN at open)
 * @flags: in: zero (no flags defined yet)
 * @pad: in: zero
 * @reserved: in: zero
 *
 * Errors: -EINVAL (@flags, @pad or @reserved not zero), -ENOENT (no such
 * live page), -EPERM (not the owner), -EFAULT.
 */
struct mmsb_page_free {
	__u64 id;
	__u32 flags;
	__u32 pad;
	__u64 reserved[2];
};

/**
 * struct mmsb_page_info - describe a page (MMSB_IOC_PAGE_INFO)
 * @id: in: page id
 * @size: out: data bytes
 * @epoch: out: current epoch
 * @last_delta_id: out: id of the last delta applied to the page
 * @mmap_offset: out: offset to pass to mmap()
 * @map_size: out: bytes to map (header and data, page aligned)
 * @uid: out: owner
 * @gid: out: owner group
 * @mode: out: permission bits
 * @flags: out: MMSB_PAGE_* flags
 * @reserved: out: zero
 */
struct mmsb_page_info {
	__u64 id;
	__u64 size;
	__u64 epoch;
	__u64 last_delta_id;
	__u64 mmap_offset;
	__u64 map_size;
	__u32 uid;
	__u32 gid;
	__u32 mode;
	__u32 flags;
	__u64 reserved[4];
};

/**
 * struct mmsb_page_list - list live page ids (MMSB_IOC_PAGE_LIST)
 * @start_id: in: list ids >= start_id, ascending
 * @ids: in: user pointer to an array of @max __u64
 * @max: in: capacity of @ids, 1 to MMSB_PAGE_LIST_MAX
 * @count: out: ids written
 * @next_id: out: start_id for the next call, 0 when the listing is done
 * @reserved: in: zero
 */
struct mmsb_page_list {
	__u64 start_id;
	__u64 ids;
	__u32 max;
	__u32 count;
	__u64 next_id;
	__u64 reserved[2];
};

#define MMSB_PAGE_LIST_MAX	4096

/* struct mmsb_page_header.flags */
#define MMSB_HDR_LIVE		_BITUL(0)	/* cleared once the page is freed */

/**
 * struct mmsb_page_header - the first bytes of every page mapping
 * @seq: sequence counter: odd while the kernel writes the page
 * @flags: MMSB_HDR_* flags
 * @epoch: page epoch; rises by one for every tick that changed the page
 * @size: data bytes
 * @last_delta_id: id of the last delta applied
 * @id: page id
 * @reserved: zero
 *
 * Readers never lock.  Use the seqlock protocol of mmsb_read_begin() /
 * mmsb_read_retry() below: read @seq, and if it is odd, wait; copy what
 * you need; accept the copy only if @seq is unchanged afterwards.
 */
struct mmsb_page_header {
	__u32 seq;
	__u32 flags;
	__u64 epoch;
	__u64 size;
	__u64 last_delta_id;
	__u64 id;
	__u64 reserved[3];
};

/* Data follows the header at this offset in the mapping. */
#define MMSB_PAGE_DATA_OFFSET	64

/**
 * struct mmsb_bus_header - the bus's own header, mapped read-only
 * @tick_seq: sequence counter of the ticks: odd while a tick writes
 *	pages (applies deltas, then propagates them), even between ticks
 * @pad: zero
 * @tick: the number of the last tick that wrote pages, as change
 *	stream records give it (struct mmsb_stream_record); read it
 *	between mmsb_bus_read_begin() and mmsb_bus_read_retry() to name
 *	the cut a snapshot of several pages is
 * @reserved: zero
 *
 * Several pages as they stood at one tick boundary: copy them between
 * mmsb_bus_read_begin() and a false mmsb_bus_read_retry() below, or with
 * libmmsb's mmsb_snapshot().  What one tick changed on every page (the
 * deltas of one submission, when one tick applies them all) is then
 * seen whole or not at all.  Any opener may map it, read-only, at
 * MMSB_BUS_HEADER_OFFSET, one system page at most.
 */
struct mmsb_bus_header {
	__u32 tick_seq;
	__u32 pad;
	__u64 tick;
	__u64 reserved[6];
};

/* The mmap offset of struct mmsb_bus_header: no page has id 0. */
#define MMSB_BUS_HEADER_OFFSET	0

/* Bytes to mmap for a page of @size data bytes, @pagesz = sysconf(_SC_PAGESIZE). */
static inline __u64 mmsb_page_map_size(__u64 size, __u64 pagesz)
{
	return (size + MMSB_PAGE_DATA_OFFSET + pagesz - 1) & ~(pagesz - 1);
}

/*
 * Deltas
 *
 * A delta changes the window [offset, offset + len) of one page's data:
 *  DENSE:  payload holds len bytes, all of them written.
 *  MASKED: payload holds len bytes; mask holds len bits (bit i of byte
 *	    i / 8, LSB first): only bytes whose bit is set are written.
 *  SPARSE: mask as for MASKED; payload holds only the set bytes, in order
 *	    (payload_len == number of set bits).
 */
#define MMSB_DELTA_DENSE	0
#define MMSB_DELTA_MASKED	1
#define MMSB_DELTA_SPARSE	2

/**
 * struct mmsb_delta - one delta of a submission
 * @page_id: in: target page
 * @expected_epoch: in: 0 = apply at any epoch; otherwise the delta is
 *	rejected with -ESTALE unless the page is at this epoch when applied
 * @offset: in: window start in the page data
 * @len: in: window length, 1 to the page size
 * @payload: in: user pointer to the payload bytes
 * @payload_len: in: payload bytes (len, or the mask's set bits for SPARSE)
 * @mask: in: user pointer to (len + 7) / 8 mask bytes; 0 for DENSE
 * @encoding: in: MMSB_DELTA_*
 * @flags: in: zero (no flags defined yet)
 * @delta_id: out: id the kernel gave the delta, 0 if it was refused
 * @status: out: 0 once accepted (and applied, for SYNC); -errno otherwise;
 *	-EINPROGRESS (with @delta_id and @epoch 0) while no outcome was
 *	written, see "Write-back" below
 * @pad: in: zero
 * @epoch: out: page epoch after the delta was applied (SYNC only)
 *
 * Write-back.  The kernel reads each input field once and writes the
 * three outputs twice: first, before it reads or queues any delta of
 * the submission, every descriptor's outputs with their pending values
 * (@delta_id 0, @status -EINPROGRESS, @epoch 0), which proves the array
 * writable; then each delta's outcome.  So a submission (ioctl or
 * io_uring) whose array cannot be written fails with -EFAULT before
 * anything is queued, and -EFAULT from a submission always means that
 * nothing of it was queued: retrying it is safe.  If an outcome cannot
 * be written once deltas were queued (the array was unmapped or made
 * read-only meanwhile, by another thread), the call fails with -ECOMM
 * instead: the queued deltas apply (or applied) as usual, @accepted and
 * @applied of struct mmsb_submit say how many, and the descriptors not
 * written keep their pending values where they are still readable.
 * Never retry after -ECOMM: the deltas would apply twice.
 */
struct mmsb_delta {
	__u64 page_id;
	__u64 expected_epoch;
	__u64 offset;
	__u64 len;
	__u64 payload;
	__u64 payload_len;
	__u64 mask;
	__u32 encoding;
	__u32 flags;
	__u64 delta_id;
	__s32 status;
	__u32 pad;
	__u64 epoch;
};

/*
 * struct mmsb_submit.flags (and struct mmsb_uring_submit.flags)
 *
 * MMSB_SUBMIT_ATOMIC: all of the submission's deltas are applied in one
 * tick, or none is.  None is when a delta is invalid (its own errno),
 * when an expected epoch is stale at that tick (-ESTALE; also when an
 * earlier delta of the same tick, this submission's included, changes
 * that page first) or when a page was freed (-EIDRM); every other delta
 * then says -ECANCELED, and none is accepted.  The records must fit one
 * chunk of 64 KiB (a delta takes 64 bytes, its payload and for MASKED
 * and SPARSE its mask, 8-aligned: about 480 deltas of 64 bytes) and at
 * most batch_max deltas: beyond, every delta gets -E2BIG (but one
 * refused for a fault of its own before that point, which keeps its
 * errno).  Readers of
 * struct mmsb_bus_header see such a submission whole or not at all.
 */
#define MMSB_SUBMIT_SYNC	_BITUL(0)	/* return once applied and visible */
#define MMSB_SUBMIT_ATOMIC	_BITUL(1)	/* all or nothing, in one tick */
#define MMSB_SUBMIT_FLAGS_ALL	(MMSB_SUBMIT_SYNC | MMSB_SUBMIT_ATOMIC)

#define MMSB_SUBMIT_MAX		4096	/* deltas in one submission */

/**
 * struct mmsb_submit - submit a batch of deltas (MMSB_IOC_SUBMIT)
 * @deltas: in: user pointer to @count struct mmsb_delta
 * @count: in: 1 to MMSB_SUBMIT_MAX (-EINVAL otherwise)
 * @flags: in: MMSB_SUBMIT_* flags
 * @accepted: out: deltas validated and queued
 * @applied: out: deltas applied (SYNC only)
 * @reserved: in: zero
 *
 * Each delta gets its own @status: a refused delta is not applied at all
 * and does not stop the others.  With O_NONBLOCK a full ring ends the
 * call with -EAGAIN once @accepted deltas went in.
 *
 * -EFAULT means nothing was queued: this struct, or the delta array, or
 * any of its descriptors' outputs is not writable (the kernel writes
 * @accepted and @applied as 0 and each descriptor's pending outputs
 * before it queues anything; see struct mmsb_delta, "Write-back").  A
 * result that cannot be written back after deltas were queued gives
 * -ECOMM, with @accepted and @applied set (when this struct can still
 * take them): those deltas apply, so the call must not be repeated.
 * -ECOMM takes precedence over -EAGAIN and -EINTR.
 *
 * A signal, or task work such as io_uring's completions, interrupting
 * the wait for room or (SYNC) for the deltas' tick makes the kernel
 * restart the call transparently; the restarted call queues only what
 * was not queued yet and then waits.  A signal handler without
 * SA_RESTART gets -EINTR instead: each queued delta has its id and
 * status 0 (and no epoch), the others status -EINTR and id 0, and the
 * queued ones still apply.  Repeating the same call (same thread, fd,
 * struct and array) right after -EINTR resumes it the same way, so
 * nothing is applied twice; any other SUBMIT of the thread on the fd
 * gives that up.  A delta whose page was freed in between is then
 * refused with -EIDRM (an atomic submission's others with -ECANCELED).
 */
struct mmsb_submit {
	__u64 deltas;
	__u32 count;
	__u32 flags;
	__u32 accepted;
	__u32 applied;
	__u64 reserved[2];
};

/**
 * struct mmsb_wait - wait for a page epoch (MMSB_IOC_WAIT)
 * @page_id: in: page to wait on (read permission needed)
 * @epoch: in: return once the page's epoch is >= this
 * @timeout_ns: in: relative timeout; 0 polls once, U64_MAX waits
 *	forever; out: after -EINTR, the time that was left (as select(2)
 *	leaves it), so calling again keeps the deadline
 * @cur_epoch: out: the page's epoch on return
 * @reserved: in: zero
 *
 * Returns 0, -ETIMEDOUT, -EINTR (a signal handler ran without
 * SA_RESTART; task work, as io_uring's, restarts the wait transparently
 * with the time left), or -EIDRM if the page was freed.
 */
struct mmsb_wait {
	__u64 page_id;
	__u64 epoch;
	__u64 timeout_ns;
	__u64 cur_epoch;
	__u64 reserved[2];
};

/**
 * struct mmsb_subscribe - report a page's changes (MMSB_IOC_SUBSCRIBE)
 * @page_id: in: the page (read permission needed)
 * @flags: in: zero (no flags defined yet)
 * @pad: in: zero
 * @reserved: in: zero
 *
 * Adds the page to the file's subscriptions: see struct mmsb_event.
 * Errors: -EINVAL (@flags, @pad or @reserved not zero), -ENOENT,
 * -EACCES, -EEXIST (already subscribed), -ENOMEM, -EFAULT.
 */
struct mmsb_subscribe {
	__u64 page_id;
	__u32 flags;
	__u32 pad;
	__u64 reserved[2];
};

/**
 * struct mmsb_event - a subscribed page changed (read() on the fd)
 * @page_id: the page
 * @epoch: its epoch when read; for a freed page, its last epoch ORed
 *	with MMSB_EVENT_FREED
 *
 * MMSB_IOC_SUBSCRIBE (read permission needed) adds a page to the file's
 * subscriptions.  poll() reports EPOLLIN while a subscribed page's
 * epoch differs from the one last read; read() returns one event per
 * such page (whole events only, count >= sizeof(struct mmsb_event)),
 * marks them read, and fails with -EAGAIN when there is none: wait
 * with poll, select, epoll or io_uring's POLL_ADD (one-shot or
 * multishot).  Readiness covers every subscribed page, also one
 * subscribed after the wait began (after EPOLL_CTL_ADD, or while a
 * POLL_ADD is armed), and a file with no subscription is simply never
 * ready.
 *
 * A subscription does not keep a freed page: at MMSB_IOC_PAGE_FREE (or
 * its eviction) it lets go of the page, whose memory goes with its last
 * mapping as if nobody had subscribed.  The file becomes readable, and
 * read() gives the page one last event, @epoch = last epoch |
 * MMSB_EVENT_FREED, after which the subscription is gone (subscribing
 * again: -ENOENT, like every call on a freed id).  Epochs count ticks
 * and never reach bit 63.
 */
struct mmsb_event {
	__u64 page_id;
	__u64 epoch;
};

/* struct mmsb_event.epoch: the page was freed; the subscription ended. */
#define MMSB_EVENT_FREED	_BITULL(63)

/* Edge kinds (struct mmsb_edge.kind). */
#define MMSB_EDGE_PASSTHROUGH	0	/* copy changed bytes of from into to */
#define MMSB_EDGE_NOTIFY	1	/* mark to changed and wake its waiters */

/**
 * struct mmsb_edge - add or delete a dependency (MMSB_IOC_EDGE_ADD/DEL)
 * @from: in: source page (write permission needed)
 * @to: in: dependent page (write permission needed)
 * @kind: in: MMSB_EDGE_*
 * @flags: in: zero
 * @reserved: in: zero
 *
 * Refused: a self edge or one closing a cycle (-ELOOP), a duplicate
 * (-EEXIST), too many edges (-ENOSPC).
 */
struct mmsb_edge {
	__u64 from;
	__u64 to;
	__u32 kind;
	__u32 flags;
	__u64 reserved[2];
};

/**
 * struct mmsb_edge_list - a page's edges (MMSB_IOC_EDGE_LIST)
 * @page_id: in: the page whose outgoing edges to list (read permission
 *	needed)
 * @edges: in: user pointer to an array of @max struct mmsb_edge
 * @max: in: capacity of @edges, 0 to MMSB_EDGE_LIST_MAX (0: count only)
 * @count: out: the page's outgoing edges; min(@count, @max) of them
 *	were written, by @to ascending
 * @reserved: in: zero
 *
 * The edges are read in one cut (under the graph's lock).  Errors:
 * -EINVAL, -ENOENT, -EACCES, -EFAULT.
 */
struct mmsb_edge_list {
	__u64 page_id;
	__u64 edges;
	__u32 max;
	__u32 count;
	__u64 reserved[2];
};

#define MMSB_EDGE_LIST_MAX	4096

/*
 * Change stream
 *
 * MMSB_IOC_STREAM_OPEN returns a new file descriptor (O_CLOEXEC; set
 * O_NONBLOCK with fcntl) whose read() gives the log of the bus's
 * changes, in the order they happened, as struct mmsb_stream_record
 * entries: whole records only, as many as fit @count (-EINVAL if not
 * even the next one does: a record is at most
 * sizeof(struct mmsb_stream_record) + max_page_size, 8-aligned).  read()
 * blocks until there is a record (-EAGAIN with O_NONBLOCK); poll(),
 * epoll and io_uring's POLL_ADD report EPOLLIN while one is there.
 *
 * Records come tick by tick: the records of the changes one tick made,
 * then MMSB_REC_TICK.  Within a tick, a page's records are in apply
 * order (acceptance order); pages created, freed and edges added or
 * deleted between two ticks are reported between their records.  A
 * page's MMSB_REC_CREATE comes before any record of its deltas, its
 * MMSB_REC_FREE after all of them.  A page's edges go with its FREE (no
 * MMSB_REC_EDGE_DEL is made for them); an edge record is reported to the
 * streams that report both of its pages.
 *
 * A stream reports what its opener may read (read permission at the
 * time of the record): every page with MMSB_STREAM_ALL, or the pages
 * listed.  Each stream has a bounded buffer, charged to the bus's
 * memory limit.  When a tick's records do not fit, that tick's records
 * and the following are dropped until the reader has made room for a
 * whole tick; the next record read is then MMSB_REC_OVERFLOW, naming
 * the first tick lost (when the first record lost came between ticks T
 * and T + 1, T + 1).  A reader that empties the buffer while records
 * are being dropped gets that record at once.  Nothing is ever dropped
 * silently: after an overflow, the reader must resynchronise from a
 * snapshot.
 */
#define MMSB_STREAM_ALL		_BITUL(0)	/* every page, new ones too */
#define MMSB_STREAM_FLAGS_ALL	MMSB_STREAM_ALL

#define MMSB_STREAM_PAGES_MAX	4096
#define MMSB_STREAM_BUFFER_DEFAULT	(1024 * 1024)
#define MMSB_STREAM_BUFFER_MAX	(64 * 1024 * 1024)

/**
 * struct mmsb_stream_open - open a change stream (MMSB_IOC_STREAM_OPEN)
 * @flags: in: MMSB_STREAM_* flags
 * @count: in: entries of @page_ids: 0 with MMSB_STREAM_ALL, else 1 to
 *	MMSB_STREAM_PAGES_MAX
 * @page_ids: in: user pointer to @count __u64 page ids (each needs read
 *	permission), or 0 with MMSB_STREAM_ALL
 * @buffer_bytes: in: the stream's buffer, 0 for
 *	MMSB_STREAM_BUFFER_DEFAULT, else 4096 to MMSB_STREAM_BUFFER_MAX
 * @tick: out: the last tick completed when the stream started: its
 *	first tick record is of a later tick
 * @reserved: in: zero
 *
 * Returns the new file descriptor.  Errors: -EINVAL, -ENOENT or -EACCES
 * (a listed page), -ENOMEM (the memory limit), -EMFILE, -EFAULT.
 */
struct mmsb_stream_open {
	__u32 flags;
	__u32 count;
	__u64 page_ids;
	__u32 buffer_bytes;
	__u32 pad;
	__u64 tick;
	__u64 reserved[2];
};

/* struct mmsb_stream_record.type */
#define MMSB_REC_DELTA		1	/* a delta was applied */
#define MMSB_REC_PROPAGATED	2	/* an edge changed the page */
#define MMSB_REC_TICK		3	/* the end of a tick's records */
#define MMSB_REC_CREATE		4	/* a page was created */
#define MMSB_REC_FREE		5	/* a page was freed */
#define MMSB_REC_EDGE_ADD	6	/* an edge was added */
#define MMSB_REC_EDGE_DEL	7	/* an edge was deleted */
#define MMSB_REC_OVERFLOW	8	/* records were lost: resynchronise */

/**
 * struct mmsb_stream_record - one record of a change stream
 * @size: bytes of the record, this header and its data, a multiple of 8
 *	(the data is zero-padded)
 * @type: MMSB_REC_*
 * @flags: zero (no flags defined yet)
 * @tick: the tick the change belongs to: for DELTA, PROPAGATED and TICK
 *	the tick that applied it; for CREATE, FREE and the edges, the
 *	last tick whose records came before it; for OVERFLOW the first
 *	tick lost
 * @page_id: the page (for the edges, the edge's @from; 0 for TICK and
 *	OVERFLOW)
 * @epoch: the page's epoch after the tick (DELTA, PROPAGATED), its
 *	first epoch (CREATE), its last (FREE); 0 otherwise
 * @delta_id: the delta's id (DELTA); 0 otherwise
 * @offset: window start in the page data (DELTA, PROPAGATED); 0
 *	otherwise
 * @len: bytes of data that follow this header
 *
 * The data that follows:
 *  DELTA:	the window [@offset, @offset + @len) as the delta left it:
 *		for MASKED and SPARSE deltas, the bytes not written show
 *		the page's bytes as they stood.
 *  PROPAGATED:	the bytes a passthrough edge copied into the window (a
 *		notify edge gives @len 0: only the epoch moved).
 *  CREATE:	struct mmsb_stream_page.
 *  EDGE_ADD, EDGE_DEL: struct mmsb_edge.
 *  TICK, FREE, OVERFLOW: nothing.
 */
struct mmsb_stream_record {
	__u32 size;
	__u16 type;
	__u16 flags;
	__u64 tick;
	__u64 page_id;
	__u64 epoch;
	__u64 delta_id;
	__u32 offset;
	__u32 len;
};

/**
 * struct mmsb_stream_page - the data of an MMSB_REC_CREATE record
 * @size: data bytes
 * @mode: permission bits
 * @flags: MMSB_PAGE_* flags
 * @uid: owner
 * @gid: owner group
 * @pad: zero
 */
struct mmsb_stream_page {
	__u64 size;
	__u32 mode;
	__u32 flags;
	__u32 uid;
	__u32 gid;
	__u64 pad;
};

/**
 * struct mmsb_tick_metrics - figures of one tick (times in nanoseconds)
 * @tick: tick number
 * @processed: deltas applied
 * @rejected: deltas refused at apply time (page gone)
 * @conflicts: deltas refused for a stale expected epoch
 * @pages_changed: pages whose epoch moved
 * @propagated: pages changed through edges
 * @ring_depth: deltas left in the ring after the tick
 * @apply_ns: draining and applying deltas (the seed's "propagation")
 * @graph_ns: graph validation
 * @propagate_ns: propagation along edges
 * @gc_ns: incremental GC
 * @total_ns: whole tick
 * @gc_invoked: 1 if GC ran
 * @graph_has_cycle: 1 if validation found a cycle (an invariant failure)
 * @overrun: 1 if the tick went past its budget
 * @pad: zero
 * @gc_reclaimed_pages: pages reclaimed by GC
 * @gc_reclaimed_bytes: bytes reclaimed by GC
 * @throughput: deltas applied per second of @apply_ns
 * @reserved: zero
 */
struct mmsb_tick_metrics {
	__u64 tick;
	__u64 processed;
	__u64 rejected;
	__u64 conflicts;
	__u64 pages_changed;
	__u64 propagated;
	__u64 ring_depth;
	__u64 apply_ns;
	__u64 graph_ns;
	__u64 propagate_ns;
	__u64 gc_ns;
	__u64 total_ns;
	__u32 gc_invoked;
	__u32 graph_has_cycle;
	__u32 overrun;
	__u32 pad;
	__u64 gc_reclaimed_pages;
	__u64 gc_reclaimed_bytes;
	__u64 throughput;
	__u64 reserved[3];
};

/*
 * The counters of struct mmsb_tick_metrics and struct mmsb_stats, in
 * struct order (pad, reserved and the @size header left out), as X-macro
 * lists: X(type, field) for each.  The one table every program that shows them
 * all uses (mmsbctl, the module's debugfs); the module's build fails if
 * a field is added to a struct and not here.
 */
#define MMSB_TICK_METRICS_FIELDS(X)	\
	X(__u64, tick)			\
	X(__u64, processed)		\
	X(__u64, rejected)		\
	X(__u64, conflicts)		\
	X(__u64, pages_changed)		\
	X(__u64, propagated)		\
	X(__u64, ring_depth)		\
	X(__u64, apply_ns)		\
	X(__u64, graph_ns)		\
	X(__u64, propagate_ns)		\
	X(__u64, gc_ns)			\
	X(__u64, total_ns)		\
	X(__u32, gc_invoked)		\
	X(__u32, graph_has_cycle)	\
	X(__u32, overrun)		\
	X(__u64, gc_reclaimed_pages)	\
	X(__u64, gc_reclaimed_bytes)	\
	X(__u64, throughput)

#define MMSB_STATS_FIELDS(X)		\
	X(__u64, ticks)			\
	X(__u64, submitted)		\
	X(__u64, processed)		\
	X(__u64, rejected)		\
	X(__u64, conflicts)		\
	X(__u64, overruns)		\
	X(__u64, ring_depth)		\
	X(__u64, ring_capacity)		\
	X(__u64, pages)			\
	X(__u64, page_bytes)		\
	X(__u64, delta_bytes)		\
	X(__u64, graph_bytes)		\
	X(__u64, mem_bytes)		\
	X(__u64, mem_limit)		\
	X(__u64, edges)			\
	X(__u64, gc_runs)		\
	X(__u64, gc_reclaimed_pages)	\
	X(__u64, gc_reclaimed_bytes)	\
	X(__u64, ring_bytes)		\
	X(__u64, page_meta_bytes)	\
	X(__u64, gc_evicted)		\
	X(__u64, gc_pending)		\
	X(__u64, gc_max_ns)

/**
 * struct mmsb_stats - module statistics (MMSB_IOC_STATS)
 * @size: in: sizeof(struct mmsb_stats) as the caller knows it; the
 *	kernel fills at most that many bytes and stores its own size here,
 *	so old and new programs interoperate
 * @pad: in: zero
 * @last: out: the last completed tick
 * @ticks: out: ticks since load
 * @submitted: out: deltas accepted since load, each counted before it
 *	can be applied (when its chunk is queued, while the submission may
 *	still be reading the rest)
 * @processed: out: deltas applied since load
 * @rejected: out: deltas refused (validation and apply) since load; one
 *	refused at validation is counted before its status is written back
 * @conflicts: out: deltas refused for a stale epoch since load
 * @overruns: out: ticks past their budget since load
 * @ring_depth: out: deltas queued now
 * @ring_capacity: out: ring slots
 * @pages: out: live pages
 * @page_bytes: out: bytes held for page data and headers
 * @delta_bytes: out: bytes held for queued deltas: the memory they are
 *	queued in (chunks of 2, 4 or 16 KiB, or of the delta's own size
 *	for a larger one), from the submission until the tick gives it
 *	back
 * @graph_bytes: out: bytes held for the graph
 * @mem_bytes: out: all bytes mmsb holds
 * @mem_limit: out: the memory limit in bytes
 * @edges: out: edges in the graph
 * @gc_runs: out: ticks in which GC ran
 * @gc_reclaimed_pages: out: pages reclaimed since load
 * @gc_reclaimed_bytes: out: bytes reclaimed since load
 * @ring_bytes: out: bytes of the delta ring, the tick's buffer and the
 *	free chunks kept for reuse (up to 8 MiB of each size while the bus
 *	is busy, 1 MiB once no chunk was taken for 1 s)
 * @page_meta_bytes: out: kernel bookkeeping of the pages beyond
 *	@page_bytes (struct per page, vmalloc's own records), estimated
 * @gc_evicted: out: evictable pages GC evicted since load
 * @gc_pending: out: freed pages whose memory GC has yet to release
 * @gc_max_ns: out: longest GC run since load
 * @reserved: out: zero
 *
 * Consistency of one snapshot: @last and the counters that ticks add
 * (@ticks, @processed, @conflicts, the apply part of @rejected,
 * @overruns) are read together; @submitted is read after them, so
 * @processed + @conflicts <= @submitted always holds, also while a
 * submission is half done.  A submission's refusals and acceptances
 * show up while it runs, not all at its end.  The memory and GC
 * figures are read separately and are each only a recent value.
 *
 * @mem_bytes is the sum of @page_bytes, @page_meta_bytes, @delta_bytes,
 * @graph_bytes and @ring_bytes.  The memory limit (and gc_threshold)
 * applies to @page_bytes + @delta_bytes.
 */
struct mmsb_stats {
	__u32 size;
	__u32 pad;
	struct mmsb_tick_metrics last;
	__u64 ticks;
	__u64 submitted;
	__u64 processed;
	__u64 rejected;
	__u64 conflicts;
	__u64 overruns;
	__u64 ring_depth;
	__u64 ring_capacity;
	__u64 pages;
	__u64 page_bytes;
	__u64 delta_bytes;
	__u64 graph_bytes;
	__u64 mem_bytes;
	__u64 mem_limit;
	__u64 edges;
	__u64 gc_runs;
	__u64 gc_reclaimed_pages;
	__u64 gc_reclaimed_bytes;
	__u64 ring_bytes;
	__u64 page_meta_bytes;
	__u64 gc_evicted;
	__u64 gc_pending;
	__u64 gc_max_ns;
	__u64 reserved[3];
};

#define MMSB_IOC_VERSION	_IOR(MMSB_IOC_MAGIC, 0x00, struct mmsb_version)
#define MMSB_IOC_PAGE_CREATE	_IOWR(MMSB_IOC_MAGIC, 0x01, struct mmsb_page_create)
#define MMSB_IOC_PAGE_FREE	_IOW(MMSB_IOC_MAGIC, 0x02, struct mmsb_page_free)
#define MMSB_IOC_PAGE_INFO	_IOWR(MMSB_IOC_MAGIC, 0x03, struct mmsb_page_info)
#define MMSB_IOC_PAGE_LIST	_IOWR(MMSB_IOC_MAGIC, 0x04, struct mmsb_page_list)
#define MMSB_IOC_SUBMIT		_IOWR(MMSB_IOC_MAGIC, 0x10, struct mmsb_submit)
#define MMSB_IOC_WAIT		_IOWR(MMSB_IOC_MAGIC, 0x11, struct mmsb_wait)
#define MMSB_IOC_FLUSH		_IO(MMSB_IOC_MAGIC, 0x12)
#define MMSB_IOC_SUBSCRIBE	_IOW(MMSB_IOC_MAGIC, 0x13, struct mmsb_subscribe)
#define MMSB_IOC_STATS		_IOWR(MMSB_IOC_MAGIC, 0x14, struct mmsb_stats)
#define MMSB_IOC_EDGE_ADD	_IOW(MMSB_IOC_MAGIC, 0x20, struct mmsb_edge)
#define MMSB_IOC_EDGE_DEL	_IOW(MMSB_IOC_MAGIC, 0x21, struct mmsb_edge)
#define MMSB_IOC_EDGE_LIST	_IOWR(MMSB_IOC_MAGIC, 0x22, struct mmsb_edge_list)
#define MMSB_IOC_STREAM_OPEN	_IOWR(MMSB_IOC_MAGIC, 0x17, struct mmsb_stream_open)

/*
 * io_uring passthrough (IORING_OP_URING_CMD on an open /dev/mmsb):
 * sqe->cmd_op is MMSB_URING_*, and the command area (sqe->cmd) carries
 * the descriptor below.  The op codes are encoded like the ioctls
 * (type MMSB_IOC_MAGIC, numbers 0x30-0x3f, never an ioctl's), with the
 * size of their descriptor, so a descriptor that grows gets a new op
 * code; an unknown op code, the bare 0x10 and 0x11 of the first drafts
 * included, completes with -ENOTTY.  They are _IOW: the kernel only
 * reads the descriptor (results go to the CQE and, for SUBMIT, to the
 * delta array).
 *
 * The command area is MMSB_URING_CMD_BYTES (16) in a 64-byte SQE, all
 * of it the descriptor.  In a ring set up with IORING_SETUP_SQE128 it
 * is MMSB_URING_CMD_BYTES + MMSB_URING_EXT_BYTES (80): the 64 bytes
 * after the descriptor are the extension area, where fields that do not
 * fit 16 bytes will go (announced by an MMSB_FEAT_* bit, and for SUBMIT
 * selected by a new MMSB_SUBMIT_* flag).  Today it must be zero:
 * -EINVAL otherwise, so a program can tell a kernel that ignores an
 * extension from one that has it.
 *
 * The CQE is posted only once the command is done: for SUBMIT, once
 * every accepted delta was applied (or refused) and is visible in the
 * mappings.  Rings set up with IORING_SETUP_IOPOLL are refused
 * (-EOPNOTSUPP).
 */
#define MMSB_URING_CMD_BYTES	16
#define MMSB_URING_EXT_BYTES	64

/**
 * struct mmsb_uring_submit - MMSB_URING_SUBMIT descriptor
 * @deltas: in: user pointer to @count struct mmsb_delta
 * @count: in: 1 to MMSB_SUBMIT_MAX (-EINVAL otherwise, as for the ioctl)
 * @flags: in: MMSB_SUBMIT_* flags (others: -EINVAL); SYNC is implied
 *
 * The first fields of struct mmsb_submit, with the same meaning.  Each
 * delta gets its own status, id and epoch written back, as for a SYNC
 * MMSB_IOC_SUBMIT.  cqe->res is the number of deltas applied, or -EINVAL
 * (count, flags, a non-zero extension area), -E2BIG (an ATOMIC
 * submission over what one tick takes) or -EFAULT with nothing queued
 * (-EFAULT: the array, or a descriptor's outputs, is not writable at
 * issue; see struct mmsb_delta, "Write-back"), or -ECOMM: deltas were
 * queued and handled, but some result could not be written back (the
 * array unmapped or made read-only before the completion); the
 * descriptors not written keep status -EINPROGRESS.  Never retry after
 * -ECOMM.  The results are written into the submitting process's memory
 * also when the submitting thread exited before the completion (a
 * thread of the same process reaps a count as usual); if the whole
 * process is gone, cqe->res is -EOWNERDEAD: the deltas were handled
 * (applied or refused) as usual, but no result was written anywhere, so
 * whoever reaps the CQE (another holder of the ring) cannot count on any
 * array.  A command allocates nothing:
 * a delta refused for memory (the limit, or a failed allocation of the
 * memory it is queued in) carries -ENOMEM in its status, like any other
 * refusal.
 */
struct mmsb_uring_submit {
	__u64 deltas;
	__u32 count;
	__u32 flags;
};

/**
 * struct mmsb_uring_wait - MMSB_URING_WAIT descriptor
 * @page_id: in: page to wait on (read permission needed)
 * @epoch: in: complete once the page's epoch is >= this
 *
 * Both fields take all 16 bytes: options (a flag, a timeout of its own)
 * will live in the SQE128 extension area.  cqe->res is 0, -EIDRM if
 * the page was freed first, -ETIMEDOUT after the module parameter
 * uring_wait_ms, -ECANCELED if the ring or the submitter went away, or
 * -EINVAL (a non-zero extension area), -ENOENT, -EACCES, -ENOMEM at
 * submission.
 */
struct mmsb_uring_wait {
	__u64 page_id;
	__u64 epoch;
};

#define MMSB_URING_SUBMIT	_IOW(MMSB_IOC_MAGIC, 0x30, struct mmsb_uring_submit)
#define MMSB_URING_WAIT		_IOW(MMSB_IOC_MAGIC, 0x31, struct mmsb_uring_wait)

/*
 * Mapped submission queue (MMSB_FEAT_SQ)
 *
 * MMSB_IOC_SQ_SETUP gives the open file a submission queue (SQ) and a
 * completion queue (CQ) in kernel memory, which the process maps
 * writable, shared, at MMSB_SQ_OFFSET:
 *
 *	mmap(NULL, setup.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
 *	     MMSB_SQ_OFFSET)
 *
 * The mapping holds, at the offsets MMSB_IOC_SQ_SETUP returns, a struct
 * mmsb_sq_ring, the SQE array (@entries struct mmsb_sqe), the CQE array
 * (2 * @entries struct mmsb_cqe) and the payload arena (@arena_bytes).
 * It is the only writable mapping mmsb hands out, and only through the
 * file that set the queue up (another open file of /dev/mmsb has its
 * own queue, or none: -ENXIO); whoever holds that file (dup(), a passed
 * descriptor) holds the queue, as with io_uring.  It is not inherited
 * across fork() (VM_DONTCOPY: the child has no mapping there, unless
 * the process asked for one with madvise(MADV_DOFORK): the child then
 * maps the same queue, which its mapping keeps), cannot
 * grow (mremap: -EFAULT), must be MAP_SHARED (-EINVAL) and no longer
 * than @map_size (-EINVAL).  The queue lives until the file is released:
 * release stops consuming, waits until the deltas taken from the queue
 * were handled, then frees it.  Page ids at or past
 * MMSB_SQ_OFFSET / page size cannot be mapped (no bus gets near them).
 *
 * Ring protocol.  Indexes are free-running __u32 counters; an entry's
 * slot is index & mask.  Who writes what:
 *
 *	sq_tail  user space   SQEs [sq_head, sq_tail) are published
 *	sq_head  kernel       SQEs before it were copied out: their slots
 *			      (and their arena bytes) may be reused
 *	cq_tail  kernel       CQEs [cq_head, cq_tail) are ready
 *	cq_head  user space   CQEs before it were read: their slots are free
 *	flags    kernel       MMSB_SQ_NEED_WAKEUP
 *
 * Writer: fill the SQE at sq_tail & sq_mask (and its payload and mask
 * bytes in the arena), then store sq_tail + n with release semantics
 * (pairs with the kernel's acquire load of sq_tail: the kernel sees the
 * SQEs and arena bytes written before).  Load sq_head with acquire
 * before reusing a slot or arena bytes (pairs with the kernel's release
 * store after it copied them out).  Reader: load cq_tail with acquire
 * (pairs with the kernel's release store after it wrote the CQEs), read
 * the CQEs, then store cq_head with release (pairs with the kernel's
 * acquire load before it reuses their slots).  libmmsb's mmsb_sq_*()
 * functions do exactly this.
 *
 * Copy-once: the kernel copies each SQE out of the ring once, into
 * kernel memory, then checks that copy; it copies each delta's mask and
 * payload out of the arena once, into the queued delta, and checks the
 * copy, or, for a DENSE delta the tick applies in place (no delta
 * queued before it, no edge, no change stream), copies the payload once
 * straight into the page.  A process changing the ring or the arena at
 * any moment can only
 * change which (checked) values the kernel took, never get an unchecked
 * one applied.  A tail more than @entries ahead of the kernel's head is
 * ignored (nothing is consumed) until it is sane again; the header's
 * sq_head and cq_tail are only ever written by the kernel from its own
 * copies.
 *
 * Consumption.  The kernel consumes the SQ at every tick (the tick's
 * timer keeps running while a queue is set up, see tick_us), in
 * MMSB_IOC_SQ_ENTER with MMSB_SQ_ENTER_SUBMIT, and with MMSB_SQ_POLL in
 * a kernel thread of the queue (mmsbN-sqpoll) between ticks.  The
 * poller goes idle after @sq_idle_ms without work, sets
 * MMSB_SQ_NEED_WAKEUP, and is woken by MMSB_SQ_ENTER_WAKEUP (or still
 * finds the SQEs consumed by the next tick); SQEs it cannot take (a
 * full CQ) are no work, and GETEVENTS wakes it when there are SQEs to
 * take; GETEVENTS about to wait for SQEs nobody took has a tick run (in
 * the caller if none runs), poller or not.  An SQE is consumed only
 * when its CQE has room (the kernel counts the deltas in flight): the
 * CQ never overflows and no completion is ever lost; while the CQ is
 * full the SQEs wait, and @overflow counts the times that happened.
 * Deltas from the queue apply in SQ order (per page: the order the
 * kernel consumed them, also against ioctl and io_uring submissions,
 * whether the tick applies them in place or through its queue) and
 * complete in the tick that handled them, after propagation, like a
 * SYNC submission: then the CQE carries their id, status and the
 * page's epoch after that tick.  SQEs published together may take
 * more than one tick (unless they form an atomic chain: MMSB_SQE_ATOMIC),
 * as the deltas of an ioctl submission without MMSB_SUBMIT_ATOMIC may.  A refused
 * SQE (the errnos of struct mmsb_delta, -EINVAL for a reserved field
 * or an arena range past @arena_bytes, -ENOMEM for the memory limit)
 * gets its CQE at once (behind the CQEs of a tick still running, if
 * they come first: at its end), with delta_id 0.  Deltas from the
 * queue, and the queue's own memory, count in MMSB_IOC_STATS's
 * delta_bytes and against mem_limit_mb; the queue's memory also to the
 * memory cgroup of the process that set it up.
 */

/* struct mmsb_sq_setup.flags */
#define MMSB_SQ_POLL		_BITUL(0)	/* a poller thread consumes the SQ */
#define MMSB_SQ_EVENTFD		_BITUL(1)	/* CQEs signal an eventfd */
#define MMSB_SQ_SETUP_FLAGS_ALL	(MMSB_SQ_POLL | MMSB_SQ_EVENTFD)

#define MMSB_SQ_ENTRIES_MAX	32768		/* SQ entries at most */
#define MMSB_SQ_ARENA_MAX	(64U << 20)	/* arena bytes at most */
#define MMSB_SQ_IDLE_MS_DEFAULT	1000		/* sq_idle_ms 0 means this */
#define MMSB_SQ_IDLE_MS_MAX	60000

/* The mmap offset of the queue: past every page id's. */
#define MMSB_SQ_OFFSET		_BITULL(46)

/**
 * struct mmsb_sq_setup - set up the file's queue (MMSB_IOC_SQ_SETUP)
 * @entries: in: SQ entries, a power of two, 1 to MMSB_SQ_ENTRIES_MAX;
 *	the CQ has twice as many
 * @flags: in: MMSB_SQ_* flags
 * @arena_bytes: in: payload arena bytes, 0 to MMSB_SQ_ARENA_MAX, a
 *	multiple of 8
 * @sq_idle_ms: in: MMSB_SQ_POLL only (else 0): the poller goes idle
 *	after this many milliseconds without work, 0 for
 *	MMSB_SQ_IDLE_MS_DEFAULT, at most MMSB_SQ_IDLE_MS_MAX
 * @eventfd: in: MMSB_SQ_EVENTFD only (else 0): an eventfd(2) the
 *	kernel signals (adds 1 to) each time it posts CQEs, so that a
 *	process may wait for completions with poll, select, epoll or
 *	io_uring (POLL_ADD or READ on the eventfd); the queue holds it
 *	until the file is released
 * @map_size: out: bytes to map at MMSB_SQ_OFFSET (page aligned)
 * @sqes_off: out: offset of the SQE array in the mapping
 * @cqes_off: out: offset of the CQE array
 * @arena_off: out: offset of the arena (page aligned)
 * @reserved: in: zero
 *
 * The ring header is at offset 0.  Errors: -EINVAL (a field out of its
 * range, unknown flags, @eventfd without MMSB_SQ_EVENTFD or not an
 * eventfd, @reserved not zero), -EBADF (@eventfd is no open file),
 * -EBUSY (the file has a queue already), -ENOMEM (the memory limit, or
 * no memory), -EFAULT.
 */
struct mmsb_sq_setup {
	__u32 entries;
	__u32 flags;
	__u64 arena_bytes;
	__u32 sq_idle_ms;
	__s32 eventfd;
	__u64 map_size;
	__u64 sqes_off;
	__u64 cqes_off;
	__u64 arena_off;
	__u64 reserved[4];
};

/* struct mmsb_sq_ring.flags */
#define MMSB_SQ_NEED_WAKEUP	_BITUL(0)	/* the poller sleeps: SQ_ENTER WAKEUP */

/**
 * struct mmsb_sq_ring - the header of the queue's mapping (offset 0)
 * @sq_head: kernel: SQEs before it were copied out
 * @sq_tail: user space: SQEs before it are published (release store)
 * @cq_head: user space: CQEs before it were read (release store)
 * @cq_tail: kernel: CQEs before it are ready
 * @sq_mask: kernel: @entries - 1
 * @cq_mask: kernel: 2 * @entries - 1
 * @entries: kernel: SQ entries
 * @flags: kernel: MMSB_SQ_NEED_WAKEUP
 * @overflow: kernel: times SQEs waited because the CQ had no room
 * @pad: zero
 * @arena_bytes: kernel: bytes of the arena
 * @reserved: zero
 *
 * The kernel reads only @sq_tail and @cq_head; what user space writes
 * anywhere else in the header is ignored (and may be overwritten).
 */
struct mmsb_sq_ring {
	__u32 sq_head;
	__u32 sq_tail;
	__u32 cq_head;
	__u32 cq_tail;
	__u32 sq_mask;
	__u32 cq_mask;
	__u32 entries;
	__u32 flags;
	__u32 overflow;
	__u32 pad;
	__u64 arena_bytes;
	__u64 reserved[2];
};

/**
 * struct mmsb_sqe - one delta in the SQ
 * @page_id: the target page
 * @expected_epoch: as in struct mmsb_delta (0 = any; else -ESTALE
 *	unless the page is at this epoch when applied)
 * @user_data: returned unchanged in the CQE
 * @offset: window start in the page data
 * @len: window length, 1 to the page size
 * @payload_off: offset of the payload bytes in the arena
 * @payload_len: payload bytes (len, or the mask's set bits for SPARSE)
 * @mask_off: offset in the arena of the (len + 7) / 8 mask bytes;
 *	MASKED and SPARSE only (0 for DENSE)
 * @encoding: MMSB_DELTA_*
 * @flags: MMSB_SQE_* (MMSB_SQE_ATOMIC)
 * @reserved: zero
 *
 * What struct mmsb_delta carries, with arena offsets for pointers.  The
 * ranges [payload_off, payload_off + payload_len) and, for MASKED and
 * SPARSE, [mask_off, mask_off + (len + 7) / 8) must lie in the arena
 * (-EINVAL).  Other checks and errnos: struct mmsb_delta.
 *
 * MMSB_SQE_ATOMIC links the SQE to the next: SQEs with it, and the first
 * after them without it, form a chain, applied in one tick in full or
 * not at all, as an MMSB_SUBMIT_ATOMIC submission's deltas (the same
 * errnos: the SQE at fault its own, the others -ECANCELED; -E2BIG for
 * every SQE of a chain over one chunk, batch_max, the tick's queue or
 * 4,096 SQEs, as for such a submission).  The kernel takes a chain once
 * its last SQE is published and the CQ has room for all of its CQEs;
 * until then the chain and what follows wait (a poller goes idle).
 */
/* struct mmsb_sqe.flags */
#define MMSB_SQE_ATOMIC		_BITUL(0)	/* one chain with the next SQE */
#define MMSB_SQE_FLAGS_ALL	MMSB_SQE_ATOMIC

struct mmsb_sqe {
	__u64 page_id;
	__u64 expected_epoch;
	__u64 user_data;
	__u32 offset;
	__u32 len;
	__u32 payload_off;
	__u32 payload_len;
	__u32 mask_off;
	__u16 encoding;
	__u16 flags;
	__u64 reserved[2];
};

/**
 * struct mmsb_cqe - the outcome of one SQE
 * @user_data: the SQE's
 * @delta_id: the id the kernel gave the delta, 0 if it was refused
 *	before it was queued
 * @epoch: the page's epoch after the tick that applied the delta (0 if
 *	it was not applied)
 * @status: 0 applied (and visible in the mappings, propagation done), or
 *	-errno: refused at once, or at its tick (-ESTALE, -EIDRM)
 * @pad: zero
 */
struct mmsb_cqe {
	__u64 user_data;
	__u64 delta_id;
	__u64 epoch;
	__s32 status;
	__u32 pad;
};

/* struct mmsb_sq_enter.flags */
#define MMSB_SQ_ENTER_SUBMIT	_BITUL(0)	/* consume the SQ now */
#define MMSB_SQ_ENTER_GETEVENTS	_BITUL(1)	/* wait for min_complete CQEs */
#define MMSB_SQ_ENTER_WAKEUP	_BITUL(2)	/* wake an idle poller */
#define MMSB_SQ_ENTER_FLAGS_ALL	(MMSB_SQ_ENTER_SUBMIT | \
				 MMSB_SQ_ENTER_GETEVENTS | \
				 MMSB_SQ_ENTER_WAKEUP)

/**
 * struct mmsb_sq_enter - drive the file's queue (MMSB_IOC_SQ_ENTER)
 * @flags: in: MMSB_SQ_ENTER_* (at least one)
 * @min_complete: in: GETEVENTS: return once cq_tail - cq_head (as
 *	user space last stored cq_head) is at least this, 1 to twice the
 *	entries; else 0
 * @timeout_ns: in: GETEVENTS: relative timeout, U64_MAX waits for
 *	ever, 0 looks once; else 0
 * @submitted: out: SQEs consumed by this call (SUBMIT)
 * @ready: out: CQEs ready (cq_tail - cq_head) at return
 * @reserved: in: zero
 *
 * SUBMIT consumes what the SQ holds (as much as the CQ and the tick's
 * queue have room for) and has a tick run; GETEVENTS then waits, after
 * it had the SQEs it would wait for taken (it has a tick run, which
 * consumes them, and wakes an idle poller; @submitted counts only
 * SUBMIT's).
 * Errors: -EINVAL (flags, a field out of range, @reserved not zero),
 * -ENXIO (the file has no queue), -ETIMEDOUT (GETEVENTS: fewer CQEs
 * than @min_complete when the timeout passed; @ready says how many),
 * -EINTR (a signal), -EFAULT.
 */
struct mmsb_sq_enter {
	__u32 flags;
	__u32 min_complete;
	__u64 timeout_ns;
	__u32 submitted;
	__u32 ready;
	__u64 reserved[2];
};

#define MMSB_IOC_SQ_SETUP	_IOWR(MMSB_IOC_MAGIC, 0x15, struct mmsb_sq_setup)
#define MMSB_IOC_SQ_ENTER	_IOWR(MMSB_IOC_MAGIC, 0x16, struct mmsb_sq_enter)

/*
 * The read protocol, for C readers of a mapping.  @hdr points at the
 * start of the mapping.  Typical use:
 *
 *	do {
 *		seq = mmsb_read_begin(hdr);
 *		memcpy(buf, (const char *)hdr + MMSB_PAGE_DATA_OFFSET, n);
 *	} while (mmsb_read_retry(hdr, seq));
 */
#ifndef __KERNEL__
static inline __u32 mmsb_read_begin(const struct mmsb_page_header *hdr)
{
	__u32 seq;

	/* Pairs with the kernel's release store that makes seq even. */
	do
		seq = __atomic_load_n(&hdr->seq, __ATOMIC_ACQUIRE);
	while (seq & 1);
	return seq;
}

static inline int mmsb_read_retry(const struct mmsb_page_header *hdr,
				  __u32 seq)
{
	/* Order the data loads before the second look at seq. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&hdr->seq, __ATOMIC_RELAXED) != seq;
}

/*
 * The same protocol over every page at once (struct mmsb_bus_header):
 *
 *	do {
 *		seq = mmsb_bus_read_begin(bus);
 *		copy from several page mappings;
 *	} while (mmsb_bus_read_retry(bus, seq));
 */
static inline __u32 mmsb_bus_read_begin(const struct mmsb_bus_header *bus)
{
	__u32 seq;

	/* Pairs with the kernel's release store that makes tick_seq even. */
	do
		seq = __atomic_load_n(&bus->tick_seq, __ATOMIC_ACQUIRE);
	while (seq & 1);
	return seq;
}

static inline int mmsb_bus_read_retry(const struct mmsb_bus_header *bus,
				      __u32 seq)
{
	/* Order the data loads before the second look at tick_seq. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&bus->tick_seq, __ATOMIC_RELAXED) != seq;
}
#endif

#endif /* _UAPI_LINUX_MMSB_H */
