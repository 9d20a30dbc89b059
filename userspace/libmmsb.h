/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * libmmsb - a small C library over /dev/mmsb.
 *
 * Link with `pkg-config --cflags --libs mmsb` (add --static for the
 * archive); the io_uring helpers are in <libmmsb_uring.h>.  Every
 * function is in libmmsb(3); its symbols carry the versions of
 * libmmsb.map (MMSB_1.0 and the nodes after it: snapshots, streams
 * and replay since MMSB_1.4, the mapped queue's batch reap since
 * MMSB_1.5).
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

#include <errno.h>
#include <stddef.h>
#include <string.h>
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
 * -EINVAL (count, flags), -EAGAIN, -EINTR, -EFAULT.  After -EINTR, the
 * same call again (same thread, @fd, @deltas, @count, @flags) resumes
 * the interrupted submission (<linux/mmsb.h>, struct mmsb_submit): the
 * array is not read again, so deltas written into it meanwhile are not
 * submitted; submit new ones from another array.
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
 * Snapshots (Documentation/snapshot.rst).  A snapshot is every page the
 * caller may read, with its id, size, mode, flags, owner, epoch and
 * bytes, and the edges between them, all as they stood at one cut
 * between two ticks: @tick, the number of the last tick before it (the
 * bus header's tick, which change stream records carry).
 */

/* One page of a snapshot; @data holds @size bytes. */
struct mmsb_snap_page {
	__u64 id;
	__u64 size;
	__u64 epoch;
	__u64 last_delta_id;
	__u32 mode;
	__u32 flags;
	__u32 uid;
	__u32 gid;
	__u8 *data;
};

/* A snapshot: @pages by id ascending, @edges by @from then @to. */
struct mmsb_snap {
	__u64 tick;
	__u64 created_ns;
	__u64 nr_pages;
	struct mmsb_snap_page *pages;
	__u64 nr_edges;
	struct mmsb_edge *edges;
};

/* The file format, version 1: little-endian, 8-byte aligned. */
#define MMSB_SNAP_MAGIC		"MMSBSNAP"
#define MMSB_SNAP_VERSION	1

/* The file's first 64 bytes. */
struct mmsb_snap_file_header {
	char magic[8];		/* MMSB_SNAP_MAGIC, no NUL */
	__u32 version;		/* MMSB_SNAP_VERSION */
	__u32 header_size;	/* 64 */
	__u64 tick;		/* the cut */
	__u64 nr_pages;
	__u64 nr_edges;
	__u64 total_size;	/* bytes of the file, checksum included */
	__u64 created_ns;	/* CLOCK_REALTIME when taken */
	__u64 reserved;		/* zero */
};

/* A page's 64 bytes, followed by its data, zero-padded to 8 bytes. */
struct mmsb_snap_file_page {
	__u64 id;
	__u64 size;
	__u64 epoch;
	__u64 last_delta_id;
	__u32 mode;
	__u32 flags;
	__u32 uid;
	__u32 gid;
	__u64 reserved[2];	/* zero */
};

/*
 * Take a snapshot of the bus @fd in *@out (free it with
 * mmsb_snap_free()): lists the pages, their information and edges, maps
 * them and the bus header and copies every byte and epoch in one cut
 * (mmsb_snapshot()), then lists again; a bus whose pages or edges
 * changed meanwhile is tried again (100 times, then -EAGAIN).  Pages
 * the caller may not read are left out, and the edges to them.  Errors:
 * -ENOMEM, -E2BIG (a page with more than MMSB_EDGE_LIST_MAX edges), -EAGAIN,
 * those of the calls it makes.  Since MMSB_1.4.
 */
int mmsb_snap_take(int fd, struct mmsb_snap **out);

/* Free a snapshot of mmsb_snap_take() or mmsb_snap_decode(); NULL is fine. */
void mmsb_snap_free(struct mmsb_snap *s);

/*
 * Encode @s in the file format into *@buf (malloc'ed, the caller frees)
 * of *@len bytes.  Errors: -ENOMEM.  Since MMSB_1.4.
 */
int mmsb_snap_encode(const struct mmsb_snap *s, void **buf, size_t *len);

/*
 * Decode the @len bytes at @buf into *@out, checking everything: -EBADMSG
 * (not a snapshot: bad magic, or inconsistent content), -EPROTONOSUPPORT
 * (another version), -ENODATA (truncated), -EILSEQ (checksum mismatch),
 * -ENOMEM.  Since MMSB_1.4.
 */
int mmsb_snap_decode(const void *buf, size_t len, struct mmsb_snap **out);

/* mmsb_snap_encode() into the file @path (created or truncated, 0644). */
int mmsb_snap_write_file(const struct mmsb_snap *s, const char *path);

/* mmsb_snap_decode() of the file @path; errors of open(2)/read(2) too. */
int mmsb_snap_read_file(const char *path, struct mmsb_snap **out);

/* The whole file @path in *@buf (malloc'ed) of *@len bytes. */
int mmsb_read_file(const char *path, void **buf, size_t *len);

/*
 * Make the bus @fd what snapshot @s describes: edges deleted first (so
 * nothing propagates meanwhile), pages @s does not have freed, pages it
 * has but the bus lacks created with MMSB_PAGE_RESTORE (same id, epoch,
 * bytes, mode, flags, and owner where the caller may set its fsuid),
 * pages both have overwritten by SYNC DENSE deltas and brought to the
 * snapshot's epoch one tick at a time, then the snapshot's edges added.
 * Needs CAP_SYS_ADMIN.  Errors: -ESTALE (a page of the bus is past the
 * snapshot's epoch), -EMSGSIZE (a page of another size), -EEXIST (an
 * id the bus handed out already), those of the calls it makes.
 * Since MMSB_1.4.
 */
int mmsb_snap_apply(int fd, const struct mmsb_snap *s);

/*
 * Open a change stream of the bus @fd (MMSB_IOC_STREAM_OPEN): @flags
 * MMSB_STREAM_ALL, or the @count pages of @ids; @buffer_bytes 0 for the
 * default.  *@tick (if not NULL) gets the last tick completed before
 * it.  Returns the stream's descriptor (read(2) gives struct
 * mmsb_stream_record entries) or -errno.  Since MMSB_1.4.
 */
int mmsb_stream_open(int fd, __u32 flags, const __u64 *ids, __u32 count,
		     __u32 buffer_bytes, __u64 *tick);

/*
 * The record at *@off of the @len bytes at @buf, checked: returns 1 and
 * moves *@off past it, 0 at the end, -ENODATA for a record cut off by
 * the end, -EBADMSG for a malformed one.  Since MMSB_1.4.
 */
int mmsb_stream_next(const void *buf, size_t len, size_t *off,
		     const struct mmsb_stream_record **rec);

/*
 * Replay: a recorded change stream applied to a bus tick by tick, so
 * that the bus goes through the states of the original.  Each tick's
 * DELTA records become one MMSB_SUBMIT_SYNC | MMSB_SUBMIT_ATOMIC
 * submission of DENSE deltas of the recorded windows, the first of each
 * page expecting the epoch before the tick; PROPAGATED records are
 * checked against the bus (epoch and bytes: the bus's own edges
 * propagate them), not applied; CREATE, FREE, EDGE_ADD and EDGE_DEL are
 * applied in their place (after the tick's submission when they come
 * after its deltas), idempotently: what the bus has already is fine.
 */
struct mmsb_replayer;

/* What a replayer did so far. */
struct mmsb_replay_stats {
	__u64 ticks;		/* ticks applied */
	__u64 deltas;		/* deltas submitted */
	__u64 checked;		/* PROPAGATED records that matched */
	__u64 skipped_ticks;	/* found applied already (a restart) */
	__u64 creates;
	__u64 frees;
	__u64 edges;		/* edges added or deleted */
};

/*
 * A replayer for the bus @fd, which is at tick @tick of the original
 * (a snapshot's cut): records of ticks up to @tick are skipped.
 * Errors: -ENOMEM.  Since MMSB_1.4.
 */
int mmsb_replayer_new(int fd, __u64 tick, struct mmsb_replayer **out);

/* Free a replayer (its mappings of the bus's pages go too). */
void mmsb_replayer_free(struct mmsb_replayer *r);

/*
 * Apply the whole ticks of the @len bytes of records at @buf, up to tick
 * @to (UINT64_MAX: all): the records start after the TICK record of the
 * replayer's tick if they hold it, else at the first record of a later
 * tick.  With @used NULL the records must end at a tick's end (else
 * -ENODATA); with @used, *@used gets how many bytes were consumed: what
 * follows is an unfinished tick, to feed again with more bytes.
 * Errors: -EPIPE (an MMSB_REC_OVERFLOW record: records were lost),
 * -EBADE (the bus is not where the records say it should be: a tick
 * found neither applied nor applicable, a PROPAGATED check failed, or a
 * tick too large for one atomic submission), -EBADMSG (a malformed
 * record), those of the calls it makes.  After an error the replayer's
 * tick is the last tick applied whole.  Since MMSB_1.4.
 */
int mmsb_replayer_feed(struct mmsb_replayer *r, const void *buf, size_t len,
		       __u64 to, size_t *used);

/* The last tick applied (or the starting tick). */
__u64 mmsb_replayer_tick(const struct mmsb_replayer *r);

/* Start again at tick @tick (after mmsb_snap_apply() of a snapshot). */
void mmsb_replayer_reset(struct mmsb_replayer *r, __u64 tick);

/* Copy the replayer's counters into @st. */
void mmsb_replayer_stats(const struct mmsb_replayer *r,
			 struct mmsb_replay_stats *st);

/*
 * A message for @err, an error of libmmsb (negative) or an errno
 * (positive): what it means for mmsb where the ABI gives it a meaning
 * (-ESTALE: "page is not at the expected epoch"), else the C library's
 * description.  The string is constant; never NULL; thread-safe.
 */
const char *mmsb_strerror(int err);

/*
 * The mapped submission queue (MMSB_FEAT_SQ; the ring protocol is in
 * <linux/mmsb.h>, "Mapped submission queue").  One writer thread and
 * one reader thread at a time per queue (or one thread doing both).
 *
 * struct mmsb_sq_handle - a process's view of its file's queue
 * @fd: the file that set it up
 * @map: the mapping, @map_size bytes
 * @ring: the ring header
 * @sqes, @cqes: the SQE and CQE arrays
 * @arena: the payload arena, @arena_bytes
 * @entries: SQ entries (the CQ has twice as many)
 * @slot_bytes: arena bytes of each SQE slot (mmsb_sq_arena())
 * @tail: SQEs got so far (published up to ring->sq_tail)
 * @flags: the MMSB_SQ_* flags of the setup
 */
struct mmsb_sq_handle {
	int fd;
	void *map;
	size_t map_size;
	struct mmsb_sq_ring *ring;
	struct mmsb_sqe *sqes;
	struct mmsb_cqe *cqes;
	unsigned char *arena;
	__u64 arena_bytes;
	__u32 entries;
	__u32 slot_bytes;
	__u32 tail;
	__u32 flags;
};

/*
 * Give @fd a queue of @entries SQEs (a power of two) and @arena_bytes
 * of arena, MMSB_SQ_POLL in @flags for a poller that goes idle after
 * @idle_ms (0: the default), and map it into @q.  Errors: those of
 * MMSB_IOC_SQ_SETUP (-EBUSY: the file has one) and of mmap(2).
 */
int mmsb_sq_setup(int fd, __u32 entries, __u64 arena_bytes, __u32 flags,
		  __u32 idle_ms, struct mmsb_sq_handle *q);

/*
 * mmsb_sq_setup(), and the kernel signals eventfd @efd (eventfd(2))
 * each time it posts CQEs (MMSB_SQ_EVENTFD), so that completions can
 * be waited for with poll, epoll or io_uring on @efd.
 */
int mmsb_sq_setup_eventfd(int fd, __u32 entries, __u64 arena_bytes,
			  __u32 flags, __u32 idle_ms, int efd,
			  struct mmsb_sq_handle *q);

/* Unmap @q; the queue itself goes when its file is closed. */
int mmsb_sq_unmap(struct mmsb_sq_handle *q);

/*
 * Publish the SQEs got since the last call (a release store of
 * sq_tail); wake the poller if it sleeps (MMSB_SQ_NEED_WAKEUP: one
 * MMSB_IOC_SQ_ENTER).  Returns the number published, or an error of
 * that call.
 */
int mmsb_sq_submit(struct mmsb_sq_handle *q);

/*
 * MMSB_IOC_SQ_ENTER: @flags MMSB_SQ_ENTER_*; with GETEVENTS, wait up to
 * @timeout_ns (U64_MAX: for ever) until @min_complete CQEs are ready.
 * Returns the SQEs the call consumed (SUBMIT), or -ETIMEDOUT, -EINTR,
 * -ENXIO, -EINVAL.
 */
int mmsb_sq_enter(struct mmsb_sq_handle *q, __u32 flags, __u32 min_complete,
		  __u64 timeout_ns);

/*
 * The queue's per-SQE and per-CQE helpers are inline, as liburing's: a
 * loop that writes SQEs and reaps CQEs makes no call but memcpy().  No
 * system call; the writer's ones from the writer thread, the reader's
 * from the reader thread.  The library has out-of-line copies of them
 * too, under the same names (the MMSB_1.3 ones for programs linked
 * before they were inline, all of them for callers that cannot use
 * inline functions).
 */

/*
 * The next free SQE, zeroed, or NULL while the SQ is full (the kernel
 * did not consume enough yet); every SQE got is published by the next
 * mmsb_sq_submit().  Inline, the zeroing costs next to nothing when a
 * prep helper fills the SQE right after: the compiler drops the stores
 * the helper overwrites.
 */
static inline struct mmsb_sqe *mmsb_sq_get_sqe(struct mmsb_sq_handle *q)
{
	/*
	 * Pairs with the kernel's release store of sq_head once it copied
	 * the SQEs (and their arena bytes) before it out.
	 */
	__u32 head = __atomic_load_n(&q->ring->sq_head, __ATOMIC_ACQUIRE);
	struct mmsb_sqe *sqe;

	if (q->tail - head >= q->entries)
		return NULL;
	sqe = &q->sqes[q->tail++ & (q->entries - 1)];
	memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

/*
 * The arena bytes of @sqe's slot: @q->slot_bytes (arena / entries) at
 * arena offset *@off, free for the SQE's payload and mask until the
 * kernel consumed it (which is when the slot can be got again).
 */
static inline void *mmsb_sq_arena(struct mmsb_sq_handle *q,
				  const struct mmsb_sqe *sqe, __u32 *off)
{
	*off = (__u32)(sqe - q->sqes) * q->slot_bytes;
	return q->arena + *off;
}

/*
 * Fill every field of @sqe as a DENSE delta writing @len bytes of @data
 * at @off of page @page, the bytes copied into the SQE's arena slot,
 * expecting any epoch, its flags 0 (set MMSB_SQE_ATOMIC afterwards to
 * link it to the next SQE: an atomic chain, <linux/mmsb.h>); @user_data
 * comes back in its CQE.  Returns 0,
 * or -EMSGSIZE when @len is over @q->slot_bytes: nothing is copied and
 * the SQE, got all the same, asks for @len bytes with a payload of 0,
 * which the kernel refuses (its CQE's status says why).
 */
static inline int mmsb_sq_prep_dense(struct mmsb_sq_handle *q,
				     struct mmsb_sqe *sqe, __u64 page,
				     __u32 off, const void *data, __u32 len,
				     __u64 user_data)
{
	int ret = len > q->slot_bytes ? -EMSGSIZE : 0;
	__u32 aoff;
	void *dst = mmsb_sq_arena(q, sqe, &aoff);

	/*
	 * The whole SQE in one assignment, before the memcpy() (which may
	 * write it, for all the compiler knows): mmsb_sq_get_sqe()'s
	 * zeroing is then dead, and dropped.
	 */
	*sqe = (struct mmsb_sqe){
		.page_id = page,
		.user_data = user_data,
		.offset = off,
		.len = len,
		.payload_off = aoff,
		.payload_len = ret ? 0 : len,
		.encoding = MMSB_DELTA_DENSE,
	};
	if (!ret)
		memcpy(dst, data, len);
	return ret;
}

/*
 * The number of CQEs ready (posted and not yet read: cq_tail -
 * cq_head), 0 to twice the entries.  Since MMSB_1.5.
 */
static inline __u32 mmsb_sq_cq_ready(const struct mmsb_sq_handle *q)
{
	/*
	 * Pairs with the kernel's release store of cq_tail after it wrote
	 * the CQEs: those before the tail can be read.
	 */
	return __atomic_load_n(&q->ring->cq_tail, __ATOMIC_ACQUIRE) -
	       q->ring->cq_head;
}

/* The oldest unread CQE, or NULL if none is ready. */
static inline struct mmsb_cqe *mmsb_sq_peek_cqe(struct mmsb_sq_handle *q)
{
	if (!mmsb_sq_cq_ready(q))
		return NULL;
	return &q->cqes[q->ring->cq_head & (2 * q->entries - 1)];
}

/*
 * mmsb_sq_for_each_cqe - walk the ready CQEs, oldest first, without
 * freeing them: @cqe (a struct mmsb_cqe *) points at each in turn and
 * @head (a __u32) is its index in the CQ.  Each step loads cq_tail
 * with acquire, as mmsb_sq_cq_ready() does (pairs with the kernel's
 * release store of cq_tail after it wrote the CQEs), so CQEs posted
 * during the walk are walked too.  Free the ones read with one
 * mmsb_sq_cq_advance() after it (one store of cq_head a batch):
 *
 *	__u32 head, n = 0;
 *
 *	mmsb_sq_for_each_cqe(q, head, cqe) {
 *		handle(cqe);
 *		n++;
 *	}
 *	mmsb_sq_cq_advance(q, n);
 */
#define mmsb_sq_for_each_cqe(q, head, cqe)				\
	for ((head) = (q)->ring->cq_head;				\
	     ((cqe) = (head) != __atomic_load_n(&(q)->ring->cq_tail,	\
						__ATOMIC_ACQUIRE) ?	\
		      &(q)->cqes[(head) & (2 * (q)->entries - 1)] : NULL); \
	     (head)++)

/*
 * The @nr oldest ready CQEs were read: free their slots in one store of
 * cq_head (the kernel may write them again).  @nr at most
 * mmsb_sq_cq_ready().  Since MMSB_1.5.
 */
static inline void mmsb_sq_cq_advance(struct mmsb_sq_handle *q, __u32 nr)
{
	/*
	 * The CQEs were read.  Pairs with the kernel's acquire load of
	 * cq_head before it writes their slots again.
	 */
	__atomic_store_n(&q->ring->cq_head, q->ring->cq_head + nr,
			 __ATOMIC_RELEASE);
}

/* The CQE mmsb_sq_peek_cqe() gave was read: mmsb_sq_cq_advance() of 1. */
static inline void mmsb_sq_cqe_seen(struct mmsb_sq_handle *q)
{
	mmsb_sq_cq_advance(q, 1);
}

#ifdef __cplusplus
}
#endif

#endif /* LIBMMSB_H */
