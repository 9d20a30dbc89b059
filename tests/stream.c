// SPDX-License-Identifier: GPL-2.0
/*
 * The change stream (MMSB_IOC_STREAM_OPEN): what it refuses, the records
 * of every kind of change with their exact bytes, ids, epochs and ticks,
 * their order, what a stream may see, read() and poll(), overflow, a
 * replay of thousands of random deltas that must rebuild every page, its
 * memory, and unloading once the streams are closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/mmsb.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

#define REC		sizeof(struct mmsb_stream_record)
#define OTHER_UID	65534
#define BUF_MAX		(4 << 20)	/* what the tests read at most at once */

static unsigned char rbuf[BUF_MAX];

static int stream_open(int fd, __u32 flags, const __u64 *ids, __u32 count,
		       __u32 buffer, __u64 *tick)
{
	struct mmsb_stream_open so = {
		.flags = flags,
		.count = count,
		.page_ids = (__u64)(uintptr_t)ids,
		.buffer_bytes = buffer,
	};
	int s = ioctl(fd, MMSB_IOC_STREAM_OPEN, &so);

	if (s < 0)
		return -errno;
	if (tick)
		*tick = so.tick;
	return s;
}

static int open_err(int fd, struct mmsb_stream_open so)
{
	int s = ioctl(fd, MMSB_IOC_STREAM_OPEN, &so);

	if (s >= 0) {
		close(s);
		return 0;
	}
	return -errno;
}

/* Everything buffered now, without blocking: bytes read. */
static ssize_t drain(int s, unsigned char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	while (n < size) {
		r = read(s, buf + n, size - n);
		if (r < 0)
			return errno == EAGAIN ? (ssize_t)n : -errno;
		n += r;
	}
	return n;
}

static const struct mmsb_stream_record *rec_at(const unsigned char *buf,
					       size_t off)
{
	return (const void *)(buf + off);
}

#define for_each_rec(r, off, buf, n) \
	for ((off) = 0; (off) < (n) && ((r) = rec_at(buf, off)); \
	     (off) += (r)->size)

static const unsigned char *rec_data(const struct mmsb_stream_record *r)
{
	return (const unsigned char *)(r + 1);
}

static __u64 last_tick(int fd)
{
	struct mmsb_stats st = { .size = sizeof(st) };

	if (ioctl(fd, MMSB_IOC_STATS, &st))
		return 0;
	return st.last.tick;
}

static long debugfs_stat(const char *name)
{
	char line[128], key[64];
	long v, n = -ENOENT;
	FILE *f = fopen(DEBUGFS_STATS, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63[^:]: %ld", key, &v) == 2 &&
		    !strcmp(key, name)) {
			n = v;
			break;
		}
	fclose(f);
	return n;
}

static void mkdelta(struct mmsb_delta *d, __u64 page, __u32 enc, __u64 off,
		    __u64 len, const void *payload, const void *mask)
{
	const unsigned char *m = mask;
	__u64 i, set = 0;

	for (i = 0; mask && i < len; i++)
		set += !!(m[i / 8] & (1 << (i % 8)));
	*d = (struct mmsb_delta){
		.page_id = page,
		.offset = off,
		.len = len,
		.payload = (__u64)(uintptr_t)payload,
		.payload_len = enc == MMSB_DELTA_SPARSE ? set : len,
		.mask = (__u64)(uintptr_t)mask,
		.encoding = enc,
	};
}

static int create(int fd, __u64 size, __u32 mode, __u64 *id)
{
	struct mmsb_page_create pc;
	int ret = mmsb_page_create(fd, size, mode, 0, &pc);

	*id = pc.id;
	return ret;
}

static int page_read(int fd, __u64 id, void *buf, __u64 len, __u64 *epoch)
{
	const struct mmsb_page_header *hdr;
	__u32 seq;
	int ret = mmsb_page_map(fd, id, &hdr);

	if (ret)
		return ret;
	do {
		seq = mmsb_read_begin(hdr);
		memcpy(buf, (const char *)hdr + MMSB_PAGE_DATA_OFFSET, len);
		if (epoch)
			*epoch = hdr->epoch;
	} while (mmsb_read_retry(hdr, seq));
	mmsb_page_unmap(hdr);
	return 0;
}

FIXTURE(stream) {
	int fd;
};

FIXTURE_SETUP(stream)
{
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(stream)
{
	free_all(self->fd);
	close(self->fd);
}

/* Every malformed argument with its errno; a good one opens O_CLOEXEC. */
TEST_F(stream, open_errors)
{
	struct mmsb_stream_open so;
	__u64 id, ids[2], bad = 1ULL << 40;
	int s;

	ASSERT_EQ(0, create(self->fd, 64, 0600, &id));
	ids[0] = id;
	ids[1] = id;
#define OPEN(...) open_err(self->fd, (struct mmsb_stream_open){ __VA_ARGS__ })
	EXPECT_EQ(-EINVAL, OPEN(.flags = 2, .count = 1,
				.page_ids = (uintptr_t)ids));
	EXPECT_EQ(-EINVAL, OPEN(.flags = MMSB_STREAM_ALL, .count = 1));
	EXPECT_EQ(-EINVAL, OPEN(.flags = MMSB_STREAM_ALL,
				.page_ids = (uintptr_t)ids));
	EXPECT_EQ(-EINVAL, OPEN(.count = 0, .page_ids = (uintptr_t)ids));
	EXPECT_EQ(-EINVAL, OPEN(.count = MMSB_STREAM_PAGES_MAX + 1,
				.page_ids = (uintptr_t)ids));
	EXPECT_EQ(-EINVAL, OPEN(.flags = MMSB_STREAM_ALL, .pad = 1));
	EXPECT_EQ(-EINVAL, OPEN(.flags = MMSB_STREAM_ALL, .reserved[1] = 1));
	EXPECT_EQ(-EINVAL, OPEN(.flags = MMSB_STREAM_ALL,
				.buffer_bytes = 4095));
	EXPECT_EQ(-EINVAL, OPEN(.flags = MMSB_STREAM_ALL,
				.buffer_bytes = MMSB_STREAM_BUFFER_MAX + 1));
	EXPECT_EQ(-ENOENT, OPEN(.count = 1, .page_ids = (uintptr_t)&bad));
	EXPECT_EQ(-EFAULT, OPEN(.count = 2, .page_ids = 8));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_STREAM_OPEN,
				     (void *)8));
	/* Duplicates are one page; both ends of the buffer range work. */
	EXPECT_EQ(0, OPEN(.count = 2, .page_ids = (uintptr_t)ids,
			  .buffer_bytes = 4096));
	EXPECT_EQ(0, OPEN(.flags = MMSB_STREAM_ALL,
			  .buffer_bytes = MMSB_STREAM_BUFFER_MAX));
#undef OPEN
	so = (struct mmsb_stream_open){ .flags = MMSB_STREAM_ALL };
	s = ioctl(self->fd, MMSB_IOC_STREAM_OPEN, &so);
	ASSERT_LE(0, s);
	EXPECT_EQ(FD_CLOEXEC, fcntl(s, F_GETFD));
	EXPECT_EQ(last_tick(self->fd), so.tick);
	/* Not writable, not seekable. */
	EXPECT_EQ(-1, write(s, &so, sizeof(so)));
	close(s);

	/* A page its opener may not read: -EACCES, as uid 65534. */
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid) {
		int fd;

		if (setgid(OTHER_UID) || setuid(OTHER_UID))
			_exit(10);
		fd = mmsb_open();
		if (fd < 0)
			_exit(11);
		if (stream_open(fd, 0, &id, 1, 0, NULL) != -EACCES)
			_exit(12);
		/* Every page may be streamed: those it may read. */
		s = stream_open(fd, MMSB_STREAM_ALL, NULL, 0, 0, NULL);
		_exit(s < 0 ? 13 : 0);
	}
	EXPECT_EQ(0, wait_child(pid));
}

/*
 * DENSE, MASKED and SPARSE deltas on one page in one tick: one DELTA
 * record each, in submission order, with the delta's id, the epoch the
 * SYNC submission reported, the window as each left it (against the
 * model), then the TICK record.
 */
TEST_F(stream, delta_records)
{
	unsigned char model[256] = { 0 }, want[3][64], p0[16], p1[16], p2[10];
	unsigned char m1[2] = { 0x55, 0x55 }, m2[3] = { 0x0f, 0xf0, 0x81 };
	const struct mmsb_stream_record *r;
	struct mmsb_delta d[3];
	__u64 id, tick0 = 0, tick;
	size_t off;
	ssize_t n;
	int s, i, k = 0;

	for (i = 0; i < 16; i++) {
		p0[i] = 0x10 + i;
		p1[i] = 0xa0 + i;
	}
	for (i = 0; i < 10; i++)
		p2[i] = 0xc0 + i;
	ASSERT_EQ(0, create(self->fd, 256, 0600, &id));
	/* Bytes a MASKED delta leaves alone must show the page's. */
	memset(model, 0x77, 64);
	mkdelta(&d[0], id, MMSB_DELTA_DENSE, 0, 64, model, NULL);
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 1, MMSB_SUBMIT_SYNC, NULL));

	s = stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, 0, &tick0);
	ASSERT_LE(0, s);
	mkdelta(&d[0], id, MMSB_DELTA_DENSE, 8, 16, p0, NULL);
	mkdelta(&d[1], id, MMSB_DELTA_MASKED, 12, 16, p1, m1);
	mkdelta(&d[2], id, MMSB_DELTA_SPARSE, 0, 24, p2, m2);
	for (i = 0; i < 3; i++) {
		delta_model_apply(model, &d[i]);
		memcpy(want[i], model + d[i].offset, d[i].len);
	}
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 3, MMSB_SUBMIT_SYNC, NULL));
	tick = last_tick(self->fd);
	EXPECT_LT(tick0, tick);

	n = drain(s, rbuf, sizeof(rbuf));
	ASSERT_LT(0, n);
	for_each_rec(r, off, rbuf, n) {
		ASSERT_EQ(0, r->size % 8);
		EXPECT_EQ(0, r->flags);
		EXPECT_EQ(tick, r->tick);
		if (k == 3) {
			EXPECT_EQ(MMSB_REC_TICK, r->type);
			EXPECT_EQ(REC, r->size);
			EXPECT_EQ(0, r->page_id);
			k++;
			continue;
		}
		ASSERT_GT(3, k);
		EXPECT_EQ(MMSB_REC_DELTA, r->type);
		EXPECT_EQ(id, r->page_id);
		EXPECT_EQ(d[k].delta_id, r->delta_id);
		EXPECT_EQ(d[k].epoch, r->epoch);
		EXPECT_EQ(d[k].offset, r->offset);
		EXPECT_EQ(d[k].len, r->len);
		EXPECT_EQ(REC + ((d[k].len + 7) & ~7ULL), r->size);
		EXPECT_EQ(0, memcmp(want[k], rec_data(r), r->len));
		EXPECT_TRUE(all_zero(rec_data(r) + r->len,
				     r->size - REC - r->len));
		k++;
	}
	EXPECT_EQ(4, k);
	EXPECT_EQ(n, off);
	close(s);
}

/*
 * Several deltas on two pages in one tick: each page's records are in
 * submission order; a page-set stream sees only its page, and its TICK.
 */
TEST_F(stream, apply_order_and_page_set)
{
	const struct mmsb_stream_record *r;
	unsigned char v[32];
	struct mmsb_delta d[32];
	__u64 a, b, last[2] = { 0, 0 };
	int s_all, s_a, i, ticks = 0, seen = 0;
	size_t off;
	ssize_t n;

	ASSERT_EQ(0, create(self->fd, 64, 0600, &a));
	ASSERT_EQ(0, create(self->fd, 64, 0600, &b));
	s_all = stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, 0, NULL);
	ASSERT_LE(0, s_all);
	s_a = stream_open(self->fd, 0, &a, 1, 0, NULL);
	ASSERT_LE(0, s_a);
	for (i = 0; i < 32; i++) {
		v[i] = i;
		/* Overlapping windows: only apply order gives the bytes. */
		mkdelta(&d[i], i % 3 ? a : b, MMSB_DELTA_DENSE, i % 7, 8,
			&v[i], NULL);
		d[i].len = 1;
		d[i].payload_len = 1;
	}
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 32, MMSB_SUBMIT_SYNC, NULL));

	n = drain(s_all, rbuf, sizeof(rbuf));
	i = 0;
	for_each_rec(r, off, rbuf, n) {
		if (r->type == MMSB_REC_TICK) {
			ticks++;
			continue;
		}
		ASSERT_EQ(MMSB_REC_DELTA, r->type);
		/* Ids rise in acceptance order, per page. */
		EXPECT_LT(last[r->page_id == b], r->delta_id);
		last[r->page_id == b] = r->delta_id;
		seen++;
	}
	EXPECT_EQ(32, seen);
	EXPECT_LE(1, ticks);

	n = drain(s_a, rbuf, sizeof(rbuf));
	seen = 0;
	for_each_rec(r, off, rbuf, n) {
		if (r->type == MMSB_REC_TICK)
			continue;
		EXPECT_EQ(a, r->page_id);
		seen++;
	}
	EXPECT_EQ(21, seen);	/* the deltas with i % 3 != 0 */

	/* A FREE of another page is not the page set's business. */
	ASSERT_EQ(0, mmsb_page_free(self->fd, b));
	ASSERT_EQ(0, mmsb_page_free(self->fd, a));
	n = drain(s_a, rbuf, sizeof(rbuf));
	ASSERT_EQ(REC, n);
	r = rec_at(rbuf, 0);
	EXPECT_EQ(MMSB_REC_FREE, r->type);
	EXPECT_EQ(a, r->page_id);
	close(s_a);
	close(s_all);
}

/*
 * Propagation: a -> b -> c PASSTHROUGH and a -> n NOTIFY.  A delta on a
 * gives its DELTA record, then PROPAGATED records for b and c with the
 * window's bytes and for n with none, each with its page's new epoch.
 */
TEST_F(stream, propagated_records)
{
	const struct mmsb_stream_record *r;
	unsigned char v[16], got[64];
	struct mmsb_delta d;
	__u64 a, b, c, nn, epoch, tick;
	int s, delta = 0, prop = 0;
	size_t off;
	ssize_t n;

	for (int i = 0; i < 16; i++)
		v[i] = 0x30 + i;
	ASSERT_EQ(0, create(self->fd, 64, 0600, &a));
	ASSERT_EQ(0, create(self->fd, 64, 0600, &b));
	ASSERT_EQ(0, create(self->fd, 32, 0600, &c));
	ASSERT_EQ(0, create(self->fd, 64, 0600, &nn));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, nn, MMSB_EDGE_NOTIFY));
	s = stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, 0, NULL);
	ASSERT_LE(0, s);
	mkdelta(&d, a, MMSB_DELTA_DENSE, 24, 16, v, NULL);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	tick = last_tick(self->fd);

	n = drain(s, rbuf, sizeof(rbuf));
	for_each_rec(r, off, rbuf, n) {
		if (r->type == MMSB_REC_TICK) {
			EXPECT_EQ(n, off + REC);
			continue;
		}
		EXPECT_EQ(tick, r->tick);
		ASSERT_EQ(0, page_read(self->fd, r->page_id, got, 64, &epoch));
		EXPECT_EQ(epoch, r->epoch);
		if (r->type == MMSB_REC_DELTA) {
			EXPECT_EQ(a, r->page_id);
			EXPECT_EQ(0, prop);
			delta++;
			continue;
		}
		ASSERT_EQ(MMSB_REC_PROPAGATED, r->type);
		EXPECT_EQ(0, r->delta_id);
		prop++;
		if (r->page_id == nn) {
			EXPECT_EQ(0, r->len);
			EXPECT_EQ(REC, r->size);
			continue;
		}
		EXPECT_EQ(24, r->offset);
		/* c has 32 bytes: it gets what fits. */
		EXPECT_EQ(r->page_id == c ? 8 : 16, r->len);
		EXPECT_EQ(0, memcmp(v, rec_data(r), r->len));
		EXPECT_EQ(0, memcmp(got + 24, rec_data(r), r->len));
	}
	EXPECT_EQ(1, delta);
	EXPECT_EQ(3, prop);
	close(s);
}

/*
 * CREATE, EDGE_ADD, EDGE_DEL and FREE: their data, their ticks (the last
 * tick before them) and their order around the deltas.
 */
TEST_F(stream, structural_records)
{
	const struct mmsb_stream_record *r;
	const struct mmsb_stream_page *sp;
	const struct mmsb_edge *e;
	struct mmsb_delta d;
	__u64 p, q, v = 7, epoch, tick0 = 0;
	__u16 want[] = { MMSB_REC_CREATE, MMSB_REC_CREATE, MMSB_REC_EDGE_ADD,
			 MMSB_REC_DELTA, MMSB_REC_PROPAGATED, MMSB_REC_TICK,
			 MMSB_REC_EDGE_DEL, MMSB_REC_FREE };
	int s, k = 0;
	size_t off;
	ssize_t n;

	s = stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, 0, &tick0);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, create(self->fd, 100, 0640, &p));
	ASSERT_EQ(0, create(self->fd, 100, 0600, &q));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, p, q, MMSB_EDGE_PASSTHROUGH));
	mkdelta(&d, p, MMSB_DELTA_DENSE, 0, 8, &v, NULL);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, mmsb_edge_del(self->fd, p, q, MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, page_read(self->fd, p, &v, 8, &epoch));
	ASSERT_EQ(0, mmsb_page_free(self->fd, p));

	n = drain(s, rbuf, sizeof(rbuf));
	for_each_rec(r, off, rbuf, n) {
		ASSERT_GT(8, k);
		EXPECT_EQ(want[k], r->type) TH_LOG("record %d", k);
		switch (r->type) {
		case MMSB_REC_CREATE:
			sp = (const void *)rec_data(r);
			EXPECT_EQ(k ? q : p, r->page_id);
			EXPECT_EQ(tick0, r->tick);
			EXPECT_EQ(0, r->epoch);
			EXPECT_EQ(sizeof(*sp), r->len);
			EXPECT_EQ(100, sp->size);
			EXPECT_EQ(k ? 0600 : 0640, sp->mode);
			EXPECT_EQ(0, sp->flags);
			EXPECT_EQ(getuid(), sp->uid);
			EXPECT_EQ(getgid(), sp->gid);
			EXPECT_EQ(0, sp->pad);
			break;
		case MMSB_REC_EDGE_ADD:
		case MMSB_REC_EDGE_DEL:
			e = (const void *)rec_data(r);
			EXPECT_EQ(p, r->page_id);
			EXPECT_EQ(sizeof(*e), r->len);
			EXPECT_EQ(p, e->from);
			EXPECT_EQ(q, e->to);
			EXPECT_EQ(MMSB_EDGE_PASSTHROUGH, e->kind);
			EXPECT_EQ(r->type == MMSB_REC_EDGE_ADD ? tick0 :
				  tick0 + 1, r->tick);
			break;
		case MMSB_REC_FREE:
			EXPECT_EQ(p, r->page_id);
			EXPECT_EQ(epoch, r->epoch);
			EXPECT_EQ(0, r->len);
			EXPECT_EQ(tick0 + 1, r->tick);
			break;
		default:
			EXPECT_EQ(tick0 + 1, r->tick);
		}
		k++;
	}
	EXPECT_EQ(8, k);
	close(s);
}

/*
 * MMSB_STREAM_ALL opened as uid 65534 reports the pages it may read and
 * nothing of the others: not their CREATE, deltas or FREE.
 */
TEST_F(stream, all_filters_unreadable)
{
	unsigned char v[16] = { 1 };
	struct mmsb_delta d[2];
	__u64 secret, readable;
	int go[2], ready[2];
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		const struct mmsb_stream_record *r;
		int fd, s, bad = 0, mine = 0;
		size_t off;
		ssize_t n;

		if (setgid(OTHER_UID) || setuid(OTHER_UID))
			_exit(10);
		fd = mmsb_open();
		s = stream_open(fd, MMSB_STREAM_ALL, NULL, 0, 0, NULL);
		if (s < 0)
			_exit(11);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(12);
		n = drain(s, rbuf, sizeof(rbuf));
		for_each_rec(r, off, rbuf, n) {
			if (r->type == MMSB_REC_TICK)
				continue;
			/* The parent makes the readable pages 8 bytes. */
			if (r->type == MMSB_REC_CREATE &&
			    ((const struct mmsb_stream_page *)rec_data(r))->size != 8)
				bad++;
			if (r->type == MMSB_REC_DELTA && r->len != 8)
				bad++;
			mine += r->type == MMSB_REC_DELTA;
		}
		_exit(bad ? 20 : mine == 1 ? 0 : 21);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, create(self->fd, 16, 0600, &secret));
	ASSERT_EQ(0, create(self->fd, 8, 0604, &readable));
	mkdelta(&d[0], secret, MMSB_DELTA_DENSE, 0, 16, v, NULL);
	mkdelta(&d[1], readable, MMSB_DELTA_DENSE, 0, 8, v, NULL);
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 2, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, mmsb_page_free(self->fd, secret));
	ASSERT_EQ(1, write(go[1], "g", 1));
	EXPECT_EQ(0, wait_child(pid));
}

/* read() sizes, O_NONBLOCK, blocking, poll and epoll readiness. */
TEST_F(stream, read_and_poll)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct pollfd pfd;
	unsigned char v[64] = { 0 };
	struct mmsb_delta d;
	__u64 id;
	int s, ep;
	pid_t pid;

	ASSERT_EQ(0, create(self->fd, 64, 0600, &id));
	s = stream_open(self->fd, 0, &id, 1, 0, NULL);
	ASSERT_LE(0, s);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	fcntl(s, F_SETFL, O_NONBLOCK);
	EXPECT_EQ(-1, read(s, rbuf, 4096));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, read(s, rbuf, REC - 1));
	EXPECT_EQ(EINVAL, errno);

	mkdelta(&d, id, MMSB_DELTA_DENSE, 0, 64, v, NULL);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN, pfd.revents);
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 0));
	/* The DELTA record is 48 + 64 bytes: not in 48, nor in 111. */
	EXPECT_EQ(-1, read(s, rbuf, REC));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, read(s, rbuf, REC + 63));
	EXPECT_EQ(EINVAL, errno);
	/* Whole records only: the DELTA fits 120, the TICK does not. */
	EXPECT_EQ(REC + 64, read(s, rbuf, REC + 64 + REC - 1));
	EXPECT_EQ(REC, read(s, rbuf, 4096));
	EXPECT_EQ(0, poll(&pfd, 1, 0));

	/* A blocking reader sleeps until the next tick's records. */
	fcntl(s, F_SETFL, 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		ssize_t n = read(s, rbuf, sizeof(rbuf));

		_exit(n == (ssize_t)(REC + 64 + REC) ? 0 : 1);
	}
	usleep(100000);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_EQ(0, wait_child(pid));
	close(ep);
	close(s);
}

/*
 * A 4 KiB buffer nobody reads: three ticks of 1,072 + 48 bytes fit, the
 * fourth does not, nor the ones after it while nobody reads; the reader
 * gets the three, then MMSB_REC_OVERFLOW naming the fourth, then whole
 * ticks again.  Nothing partial, nothing silent.
 */
TEST_F(stream, overflow)
{
	const struct mmsb_stream_record *r;
	unsigned char v[1024];
	struct mmsb_delta d;
	__u64 id, ticks[8];
	long dropped0 = debugfs_stat("stream_records_dropped");
	int s, i, k = 0;
	size_t off;
	ssize_t n;

	ASSERT_EQ(0, create(self->fd, 1024, 0600, &id));
	s = stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, 4096, NULL);
	ASSERT_LE(0, s);
	for (i = 0; i < 6; i++) {
		memset(v, i, sizeof(v));
		mkdelta(&d, id, MMSB_DELTA_DENSE, 0, 1024, v, NULL);
		ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
		ticks[i] = last_tick(self->fd);
	}
	EXPECT_EQ(1, debugfs_stat("stream_open"));
	/* Three ticks lost, two records each. */
	if (dropped0 >= 0)
		EXPECT_EQ(dropped0 + 6, debugfs_stat("stream_records_dropped"));
	n = drain(s, rbuf, sizeof(rbuf));
	for_each_rec(r, off, rbuf, n) {
		if (k < 6) {
			EXPECT_EQ(k % 2 ? MMSB_REC_TICK : MMSB_REC_DELTA,
				  r->type);
			EXPECT_EQ(ticks[k / 2], r->tick);
			if (r->type == MMSB_REC_DELTA)
				EXPECT_EQ(k / 2, rec_data(r)[1000]);
		} else if (k == 6) {
			EXPECT_EQ(MMSB_REC_OVERFLOW, r->type);
			EXPECT_EQ(ticks[3], r->tick);
			EXPECT_EQ(0, r->page_id);
			EXPECT_EQ(REC, r->size);
		}
		k++;
	}
	EXPECT_EQ(7, k);
	/* Room again: the next tick comes whole. */
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	ticks[6] = last_tick(self->fd);
	n = drain(s, rbuf, sizeof(rbuf));
	ASSERT_EQ(REC + 1024 + REC, n);
	EXPECT_EQ(MMSB_REC_DELTA, rec_at(rbuf, 0)->type);
	EXPECT_EQ(ticks[6], rec_at(rbuf, REC + 1024)->tick);
	EXPECT_EQ(MMSB_REC_TICK, rec_at(rbuf, REC + 1024)->type);
	close(s);
}

/*
 * A tick bigger than the whole buffer can never be read: a reader asleep
 * on the empty stream wakes to MMSB_REC_OVERFLOW naming it.
 */
TEST_F(stream, overflow_wakes_reader)
{
	static unsigned char v[8192];
	struct mmsb_delta d;
	__u64 id, tick = 0;
	pid_t pid;
	int s;

	ASSERT_EQ(0, create(self->fd, sizeof(v), 0600, &id));
	s = stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, 4096, &tick);
	ASSERT_LE(0, s);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		const struct mmsb_stream_record *r = (const void *)rbuf;
		ssize_t n;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		n = read(s, rbuf, sizeof(rbuf));
		if (n != (ssize_t)REC || r->type != MMSB_REC_OVERFLOW)
			_exit(1);
		_exit(r->tick == tick + 1 ? 0 : 2);
	}
	usleep(100000);
	mkdelta(&d, id, MMSB_DELTA_DENSE, 0, sizeof(v), v, NULL);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_EQ(tick + 1, last_tick(self->fd));
	EXPECT_EQ(0, wait_child(pid));
	close(s);
}

/* splitmix64: the test's own generator, seeded. */
static __u64 rnd_state = 18;

static __u64 rnd(void)
{
	__u64 z = (rnd_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#define RP	64	/* pages */
#define RMAX	512	/* bytes of a page at most */
#define ROUNDS	200
#define BATCH	16

/*
 * Replay: thousands of random deltas of every encoding over 64 pages
 * with passthrough and notify edges, a stream read as they go; applying
 * the records' bytes to zeroed pages gives every page's bytes exactly.
 */
TEST_F(stream, replay)
{
	static unsigned char model[RP][RMAX], page[RMAX];
	static unsigned char payload[BATCH][RMAX], mask[BATCH][RMAX / 8];
	const struct mmsb_stream_record *r;
	struct mmsb_delta d[BATCH];
	__u64 ids[RP], size[RP], epochs[RP] = { 0 }, epoch, ticks = 0;
	int s, i, j, round, idx, overflows = 0;
	size_t off;
	ssize_t n;

	for (i = 0; i < RP; i++) {
		size[i] = 64 + rnd() % (RMAX - 63);
		ASSERT_EQ(0, create(self->fd, size[i], 0600, &ids[i]));
	}
	/* Chains of passthrough edges and some notify edges, forward only. */
	for (i = 0; i + 1 < RP; i++)
		if (i % 4 != 3)
			ASSERT_EQ(0, mmsb_edge_add(self->fd, ids[i], ids[i + 1],
						   i % 8 == 5 ?
						   MMSB_EDGE_NOTIFY :
						   MMSB_EDGE_PASSTHROUGH));
	s = stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, 1 << 20, NULL);
	ASSERT_LE(0, s);

	for (round = 0; round < ROUNDS; round++) {
		for (j = 0; j < BATCH; j++) {
			__u32 enc = rnd() % 3;
			__u64 p = rnd() % RP, o = rnd() % size[p];
			__u64 len = 1 + rnd() % (size[p] - o), k, set = 0;

			for (k = 0; k < len; k++)
				payload[j][k] = rnd();
			memset(mask[j], 0, sizeof(mask[j]));
			for (k = 0; enc && k < len; k++)
				if (rnd() % 3)
					mask[j][k / 8] |= 1 << (k % 8);
			for (k = 0; enc && k < len; k++)
				set += !!(mask[j][k / 8] & (1 << (k % 8)));
			/* Some byte to write, in every encoding. */
			if (enc && !set)
				mask[j][0] |= 1;
			mkdelta(&d[j], ids[p], enc, o, len, payload[j],
				enc ? mask[j] : NULL);
		}
		ASSERT_EQ(0, mmsb_submit(self->fd, d, BATCH,
					 round % 2 ? MMSB_SUBMIT_SYNC : 0,
					 NULL));
		for (j = 0; j < BATCH; j++)
			ASSERT_EQ(0, d[j].status);
		if (round % 8 && round != ROUNDS - 1)
			continue;
		ASSERT_EQ(0, mmsb_flush(self->fd));
		n = drain(s, rbuf, sizeof(rbuf));
		ASSERT_LE(0, n);
		for_each_rec(r, off, rbuf, n) {
			switch (r->type) {
			case MMSB_REC_TICK:
				ticks++;
				continue;
			case MMSB_REC_OVERFLOW:
				overflows++;
				continue;
			case MMSB_REC_DELTA:
			case MMSB_REC_PROPAGATED:
				break;
			default:
				ASSERT_TRUE(0) TH_LOG("type %u", r->type);
			}
			for (idx = 0; idx < RP && ids[idx] != r->page_id; idx++)
				;
			ASSERT_GT(RP, idx);
			ASSERT_GE(size[idx], r->offset + r->len);
			memcpy(model[idx] + r->offset, rec_data(r), r->len);
			/* Epochs never go back; one tick moves them by one. */
			EXPECT_LE(epochs[idx], r->epoch);
			epochs[idx] = r->epoch;
		}
	}
	EXPECT_EQ(0, overflows);
	EXPECT_LT(0, ticks);
	for (i = 0; i < RP; i++) {
		ASSERT_EQ(0, page_read(self->fd, ids[i], page, size[i],
				       &epoch));
		EXPECT_EQ(0, memcmp(model[i], page, size[i]))
			TH_LOG("page %d differs from its replay", i);
		EXPECT_EQ(epoch, epochs[i]) TH_LOG("page %d", i);
	}
	close(s);
}

/*
 * Streams open and close while a writer keeps the bus busy: no splat,
 * and each closed stream's buffer goes back.
 */
TEST_F(stream, busy_open_close)
{
	unsigned char v[64] = { 0 };
	struct mmsb_delta d[64];
	long base = debugfs_stat("stream_buffer_bytes");
	__u64 id;
	pid_t pid;
	int i, s;

	ASSERT_EQ(0, create(self->fd, 4096, 0600, &id));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Never outlive the test: it holds the module. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (i = 0; i < 64; i++)
			mkdelta(&d[i], id, MMSB_DELTA_DENSE, i * 64, 64, v,
				NULL);
		for (;;)
			mmsb_submit(self->fd, d, 64, i++ % 4 ? 0 :
				    MMSB_SUBMIT_SYNC, NULL);
	}
	for (i = 0; i < 200; i++) {
		s = stream_open(self->fd, i % 2 ? MMSB_STREAM_ALL : 0,
				i % 2 ? NULL : &id, i % 2 ? 0 : 1,
				4096 << (i % 4), NULL);
		ASSERT_LE(0, s);
		if (i % 3)
			drain(s, rbuf, 1 << 14);
		close(s);
	}
	kill(pid, SIGKILL);
	EXPECT_EQ(256 + SIGKILL, wait_child(pid));
	if (base >= 0)
		EXPECT_EQ(base, debugfs_stat("stream_buffer_bytes"));
	EXPECT_EQ(0, debugfs_stat("stream_open"));
}

/*
 * The buffer counts against the memory limit; an open stream holds the
 * module, which unloads once every stream is closed.
 */
TEST(limit_and_unload)
{
	__u64 id;
	int fd, s;

	ASSERT_EQ(0, module_reload("mem_limit_mb=1"));
	fd = mmsb_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOMEM, stream_open(fd, MMSB_STREAM_ALL, NULL, 0,
				       2 << 20, NULL));
	s = stream_open(fd, MMSB_STREAM_ALL, NULL, 0, 768 << 10, NULL);
	ASSERT_LE(0, s);
	/* 768 KiB are the stream's: a page of 512 KiB no longer fits. */
	EXPECT_EQ(-ENOMEM, create(fd, 512 << 10, 0600, &id));
	/* Closing the stream gives them back. */
	close(s);
	EXPECT_EQ(0, create(fd, 512 << 10, 0600, &id));
	free_all(fd);
	s = stream_open(fd, MMSB_STREAM_ALL, NULL, 0, 0, NULL);
	ASSERT_LE(0, s);
	close(fd);
	/* The stream alone holds the module. */
	EXPECT_EQ(-EWOULDBLOCK, module_unload());
	close(s);
	EXPECT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load(""));
}

TEST_HARNESS_MAIN
