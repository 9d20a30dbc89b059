// SPDX-License-Identifier: LGPL-2.1 OR MIT
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libmmsb.h"

static int mmsb_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int mmsb_open(void)
{
	int fd = open(MMSB_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int mmsb_open_bus(unsigned int bus)
{
	char path[32];
	int fd;

	if (!bus)
		return mmsb_open();
	snprintf(path, sizeof(path), MMSB_DEVICE_PATH "%u", bus);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int mmsb_version(int fd, struct mmsb_version *v)
{
	memset(v, 0, sizeof(*v));
	return mmsb_ioctl(fd, MMSB_IOC_VERSION, v);
}

int mmsb_page_create(int fd, __u64 size, __u32 mode, __u32 flags,
		     struct mmsb_page_create *out)
{
	memset(out, 0, sizeof(*out));
	out->size = size;
	out->mode = mode;
	out->flags = flags;
	return mmsb_ioctl(fd, MMSB_IOC_PAGE_CREATE, out);
}

int mmsb_page_free(int fd, __u64 id)
{
	struct mmsb_page_free f = { .id = id };

	return mmsb_ioctl(fd, MMSB_IOC_PAGE_FREE, &f);
}

int mmsb_page_info(int fd, __u64 id, struct mmsb_page_info *info)
{
	memset(info, 0, sizeof(*info));
	info->id = id;
	return mmsb_ioctl(fd, MMSB_IOC_PAGE_INFO, info);
}

int mmsb_page_list(int fd, __u64 start, __u64 *ids, __u32 max, __u64 *next)
{
	struct mmsb_page_list l = {
		.start_id = start,
		.ids = (__u64)(uintptr_t)ids,
		.max = max,
	};
	int ret = mmsb_ioctl(fd, MMSB_IOC_PAGE_LIST, &l);

	if (ret)
		return ret;
	*next = l.next_id;
	return l.count;
}

int mmsb_page_map(int fd, __u64 id, const struct mmsb_page_header **hdr)
{
	struct mmsb_page_info info;
	void *p;
	int ret;

	ret = mmsb_page_info(fd, id, &info);
	if (ret)
		return ret;
	p = mmap(NULL, info.map_size, PROT_READ, MAP_SHARED, fd,
		 info.mmap_offset);
	if (p == MAP_FAILED)
		return -errno;
	*hdr = p;
	return 0;
}

int mmsb_page_unmap(const struct mmsb_page_header *hdr)
{
	__u64 len = mmsb_page_map_size(hdr->size, sysconf(_SC_PAGESIZE));

	return munmap((void *)hdr, len) ? -errno : 0;
}

int mmsb_page_read(const struct mmsb_page_header *hdr, __u64 off, void *buf,
		   __u64 len, __u64 *epoch)
{
	const char *data = (const char *)hdr + MMSB_PAGE_DATA_OFFSET;
	__u64 ep;
	__u32 seq;

	/* hdr->size never changes: no need to read it under the seqlock. */
	if (off > hdr->size || len > hdr->size - off)
		return -EINVAL;
	do {
		seq = mmsb_read_begin(hdr);
		memcpy(buf, data + off, len);
		ep = __atomic_load_n(&hdr->epoch, __ATOMIC_RELAXED);
	} while (mmsb_read_retry(hdr, seq));
	if (epoch)
		*epoch = ep;
	return 0;
}

int mmsb_bus_map(int fd, const struct mmsb_bus_header **bus)
{
	void *p = mmap(NULL, sizeof(**bus), PROT_READ, MAP_SHARED, fd,
		       MMSB_BUS_HEADER_OFFSET);

	if (p == MAP_FAILED)
		return -errno;
	*bus = p;
	return 0;
}

int mmsb_bus_unmap(const struct mmsb_bus_header *bus)
{
	return munmap((void *)bus, sizeof(*bus)) ? -errno : 0;
}

int mmsb_snapshot(const struct mmsb_bus_header *bus,
		  struct mmsb_snapshot_item *items, unsigned int n)
{
	unsigned int i;
	__u32 seq;

	for (i = 0; i < n; i++)
		if (items[i].off > items[i].page->size ||
		    items[i].len > items[i].page->size - items[i].off)
			return -EINVAL;
	do {
		seq = mmsb_bus_read_begin(bus);
		for (i = 0; i < n; i++) {
			const char *data = (const char *)items[i].page +
					   MMSB_PAGE_DATA_OFFSET;

			memcpy(items[i].buf, data + items[i].off, items[i].len);
			items[i].epoch = __atomic_load_n(&items[i].page->epoch,
							 __ATOMIC_RELAXED);
		}
	} while (mmsb_bus_read_retry(bus, seq));
	return 0;
}

int mmsb_stats(int fd, struct mmsb_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	return mmsb_ioctl(fd, MMSB_IOC_STATS, s);
}

void mmsb_delta_dense(struct mmsb_delta *d, __u64 page, __u64 off,
		      const void *buf, __u64 len)
{
	memset(d, 0, sizeof(*d));
	d->page_id = page;
	d->offset = off;
	d->len = len;
	d->payload = (__u64)(uintptr_t)buf;
	d->payload_len = len;
	d->encoding = MMSB_DELTA_DENSE;
}

int mmsb_submit_counts(int fd, struct mmsb_delta *deltas, __u32 count,
		       __u32 flags, __u32 *accepted, __u32 *applied)
{
	struct mmsb_submit s = {
		.deltas = (__u64)(uintptr_t)deltas,
		.count = count,
		.flags = flags,
	};
	int ret = mmsb_ioctl(fd, MMSB_IOC_SUBMIT, &s);

	if (accepted)
		*accepted = s.accepted;
	if (applied)
		*applied = s.applied;
	return ret;
}

int mmsb_submit(int fd, struct mmsb_delta *deltas, __u32 count, __u32 flags,
		__u32 *accepted)
{
	return mmsb_submit_counts(fd, deltas, count, flags, accepted, NULL);
}

int mmsb_wait(int fd, __u64 page, __u64 epoch, __u64 timeout_ns, __u64 *cur)
{
	struct mmsb_wait w = {
		.page_id = page,
		.epoch = epoch,
		.timeout_ns = timeout_ns,
	};
	int ret = mmsb_ioctl(fd, MMSB_IOC_WAIT, &w);

	if (cur)
		*cur = w.cur_epoch;
	return ret;
}

int mmsb_flush(int fd)
{
	return ioctl(fd, MMSB_IOC_FLUSH) < 0 ? -errno : 0;
}

int mmsb_subscribe(int fd, __u64 page)
{
	struct mmsb_subscribe s = { .page_id = page };

	return mmsb_ioctl(fd, MMSB_IOC_SUBSCRIBE, &s);
}

int mmsb_edge_add(int fd, __u64 from, __u64 to, __u32 kind)
{
	struct mmsb_edge e = { .from = from, .to = to, .kind = kind };

	return mmsb_ioctl(fd, MMSB_IOC_EDGE_ADD, &e);
}

int mmsb_edge_del(int fd, __u64 from, __u64 to, __u32 kind)
{
	struct mmsb_edge e = { .from = from, .to = to, .kind = kind };

	return mmsb_ioctl(fd, MMSB_IOC_EDGE_DEL, &e);
}

int mmsb_page_restore(int fd, __u64 id, __u64 size, __u32 mode,
		      __u32 flags, __u64 epoch, const void *data,
		      struct mmsb_page_create *out)
{
	memset(out, 0, sizeof(*out));
	out->size = size;
	out->mode = mode;
	out->flags = flags | MMSB_PAGE_RESTORE;
	out->id = id;
	out->epoch = epoch;
	out->data = (__u64)(uintptr_t)data;
	return mmsb_ioctl(fd, MMSB_IOC_PAGE_CREATE, out);
}

int mmsb_edge_list(int fd, __u64 page, struct mmsb_edge *edges, __u32 max,
		   __u32 *count)
{
	struct mmsb_edge_list l = {
		.page_id = page,
		.edges = (__u64)(uintptr_t)edges,
		.max = max,
	};
	int ret = mmsb_ioctl(fd, MMSB_IOC_EDGE_LIST, &l);

	if (ret)
		return ret;
	if (count)
		*count = l.count;
	return l.count < max ? (int)l.count : (int)max;
}

int mmsb_read_events(int fd, struct mmsb_event *ev, unsigned int max)
{
	ssize_t n = read(fd, ev, (size_t)max * sizeof(*ev));

	return n < 0 ? -errno : (int)(n / sizeof(*ev));
}

/*
 * What an errno means where mmsb's ABI gives it a meaning of its own
 * (uapi/linux/mmsb.h); the others are the C library's.
 */
static const struct {
	int err;
	const char *msg;
} mmsb_errors[] = {
	{ ENOENT, "No such mmsb page (or no /dev/mmsb: is the module loaded?)" },
	{ ESTALE, "Page is not at the delta's expected epoch" },
	{ EIDRM, "Page was freed" },
	{ ELOOP, "Edge would be a self edge or close a cycle" },
	{ ERANGE, "Delta's window is not inside the page" },
	{ EMSGSIZE, "Delta's payload length does not match its window or mask" },
	{ ENOMEM, "Out of memory, or over mmsb's memory limit (mem_limit_mb)" },
	{ ENOSPC, "Limit reached: edges (max_edges) or page ids" },
	{ EAGAIN, "No room in the delta ring, or no event (try again)" },
	{ ECOMM, "Deltas were queued, but their results could not be written back (do not retry)" },
	{ EINPROGRESS, "Delta's outcome was not written back" },
	{ EBADMSG, "Not an mmsb snapshot or stream (bad magic or malformed)" },
	{ EPROTONOSUPPORT, "Unsupported snapshot format version" },
	{ ENODATA, "Snapshot or stream is truncated" },
	{ EILSEQ, "Snapshot checksum mismatch" },
	{ EBADE, "Bus is not in the state the stream expects (replay diverged)" },
	{ EPIPE, "Change stream overflowed: records were lost, resynchronise" },
};

const char *mmsb_strerror(int err)
{
	const char *msg;
	size_t i;

	if (err < 0)
		err = -err;
	for (i = 0; i < sizeof(mmsb_errors) / sizeof(mmsb_errors[0]); i++)
		if (mmsb_errors[i].err == err)
			return mmsb_errors[i].msg;
	msg = err ? strerrordesc_np(err) : "Success";
	return msg ? msg : "Unknown error";
}

int mmsb_sq_setup(int fd, __u32 entries, __u64 arena_bytes, __u32 flags,
		  __u32 idle_ms, struct mmsb_sq_handle *q)
{
	return mmsb_sq_setup_eventfd(fd, entries, arena_bytes,
				     flags & ~MMSB_SQ_EVENTFD, idle_ms, 0, q);
}

int mmsb_sq_setup_eventfd(int fd, __u32 entries, __u64 arena_bytes,
			  __u32 flags, __u32 idle_ms, int efd,
			  struct mmsb_sq_handle *q)
{
	struct mmsb_sq_setup p = {
		.entries = entries,
		.flags = flags,
		.arena_bytes = arena_bytes,
		.sq_idle_ms = idle_ms,
		.eventfd = flags & MMSB_SQ_EVENTFD ? efd : 0,
	};
	void *map;
	int ret;

	ret = mmsb_ioctl(fd, MMSB_IOC_SQ_SETUP, &p);
	if (ret)
		return ret;
	map = mmap(NULL, p.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   MMSB_SQ_OFFSET);
	if (map == MAP_FAILED)
		return -errno;
	memset(q, 0, sizeof(*q));
	q->fd = fd;
	q->map = map;
	q->map_size = p.map_size;
	q->ring = map;
	q->sqes = (struct mmsb_sqe *)((char *)map + p.sqes_off);
	q->cqes = (struct mmsb_cqe *)((char *)map + p.cqes_off);
	q->arena = (unsigned char *)map + p.arena_off;
	q->arena_bytes = arena_bytes;
	q->entries = entries;
	/* Slots of whole 8-byte words: masks and payloads stay aligned. */
	q->slot_bytes = (__u32)(arena_bytes / entries) & ~7U;
	q->tail = q->ring->sq_tail;
	q->flags = flags;
	return 0;
}

int mmsb_sq_unmap(struct mmsb_sq_handle *q)
{
	int ret = munmap(q->map, q->map_size) ? -errno : 0;

	q->map = NULL;
	return ret;
}

int mmsb_sq_enter(struct mmsb_sq_handle *q, __u32 flags, __u32 min_complete,
		  __u64 timeout_ns)
{
	struct mmsb_sq_enter e = {
		.flags = flags,
		.min_complete = min_complete,
		.timeout_ns = timeout_ns,
	};
	int ret = mmsb_ioctl(q->fd, MMSB_IOC_SQ_ENTER, &e);

	return ret ? ret : (int)e.submitted;
}

int mmsb_sq_submit(struct mmsb_sq_handle *q)
{
	__u32 old = q->ring->sq_tail;
	int ret;

	/*
	 * The SQEs and arena bytes before the tail.  Pairs with the
	 * kernel's acquire load of sq_tail before it copies them.
	 */
	__atomic_store_n(&q->ring->sq_tail, q->tail, __ATOMIC_RELEASE);
	if (!(q->flags & MMSB_SQ_POLL))
		return (int)(q->tail - old);
	/*
	 * The tail before the look at the flags.  Pairs with the poller's
	 * smp_mb() between setting NEED_WAKEUP and its look at the tail.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&q->ring->flags, __ATOMIC_RELAXED) &
	    MMSB_SQ_NEED_WAKEUP) {
		ret = mmsb_sq_enter(q, MMSB_SQ_ENTER_WAKEUP, 0, 0);
		if (ret < 0)
			return ret;
	}
	return (int)(q->tail - old);
}

/*
 * The out-of-line copies of libmmsb.h's inline functions: for programs
 * linked against MMSB_1.3, before they were inline, and for callers
 * that cannot use inline functions (other languages, dlsym()).  Here
 * NAME is the header's inline function, so the copy is NAME_ool,
 * exported as NAME, the default version of node NODE.
 */
#define MMSB_OUT_OF_LINE(name, node) \
	__asm__(".symver " #name "_ool, " #name "@@" node)

MMSB_OUT_OF_LINE(mmsb_sq_get_sqe, "MMSB_1.3");
struct mmsb_sqe *mmsb_sq_get_sqe_ool(struct mmsb_sq_handle *q)
{
	return mmsb_sq_get_sqe(q);
}

MMSB_OUT_OF_LINE(mmsb_sq_arena, "MMSB_1.3");
void *mmsb_sq_arena_ool(struct mmsb_sq_handle *q, const struct mmsb_sqe *sqe,
			__u32 *off)
{
	return mmsb_sq_arena(q, sqe, off);
}

MMSB_OUT_OF_LINE(mmsb_sq_prep_dense, "MMSB_1.3");
int mmsb_sq_prep_dense_ool(struct mmsb_sq_handle *q, struct mmsb_sqe *sqe,
			   __u64 page, __u32 off, const void *data, __u32 len,
			   __u64 user_data)
{
	return mmsb_sq_prep_dense(q, sqe, page, off, data, len, user_data);
}

MMSB_OUT_OF_LINE(mmsb_sq_peek_cqe, "MMSB_1.3");
struct mmsb_cqe *mmsb_sq_peek_cqe_ool(struct mmsb_sq_handle *q)
{
	return mmsb_sq_peek_cqe(q);
}

MMSB_OUT_OF_LINE(mmsb_sq_cqe_seen, "MMSB_1.3");
void mmsb_sq_cqe_seen_ool(struct mmsb_sq_handle *q)
{
	mmsb_sq_cqe_seen(q);
}

MMSB_OUT_OF_LINE(mmsb_sq_cq_ready, "MMSB_1.5");
__u32 mmsb_sq_cq_ready_ool(const struct mmsb_sq_handle *q)
{
	return mmsb_sq_cq_ready(q);
}

MMSB_OUT_OF_LINE(mmsb_sq_cq_advance, "MMSB_1.5");
void mmsb_sq_cq_advance_ool(struct mmsb_sq_handle *q, __u32 nr)
{
	mmsb_sq_cq_advance(q, nr);
}
