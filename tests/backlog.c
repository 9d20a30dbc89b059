// SPDX-License-Identifier: GPL-2.0
/*
 * Deltas that outrun the tick.  Each test reloads the module with small
 * limits and ticks only on demand, and reloads it with defaults after.
 *
 * full: a ring of two slots, so almost every delta of a large batch
 * finds it full.  O_NONBLOCK must end the call with -EAGAIN after saying
 * which deltas went in, a blocking call must wait for room and queue all
 * of them, and a SYNC call must see all of them applied; so must one
 * io_uring command of as many deltas.
 *
 * backlog: one delta per tick, so a SYNC delta queued behind others is
 * applied many ticks after it asked for one.  It must still return (and
 * an io_uring command post its CQE) only after its tick propagated it
 * along edges; and a SYNC delta alone on the backlog's page, which its
 * own tick could take straight from it, must come after the backlog,
 * and in a tick of its own when the tick took batch_max deltas already.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define DATA_BYTES	4096
#define COUNT		MMSB_SUBMIT_MAX

FIXTURE(full) {
	int fd;
	__u64 page;
	const struct mmsb_page_header *hdr;
	struct mmsb_delta *d;
	__u8 *bytes;
};

FIXTURE_VARIANT(full) {
	int open_flags;
	__u32 submit_flags;
	bool uring;
};

FIXTURE_VARIANT_ADD(full, nonblock) { O_NONBLOCK, 0, false };
FIXTURE_VARIANT_ADD(full, blocking) { 0, 0, false };
FIXTURE_VARIANT_ADD(full, sync) { 0, MMSB_SUBMIT_SYNC, false };
/* No room inline: io_uring reissues it from io-wq, which waits. */
FIXTURE_VARIANT_ADD(full, uring) { 0, 0, true };

/* One MMSB_URING_SUBMIT of @count deltas; its CQE's result. */
static int uring_submit_all(int fd, struct mmsb_delta *d, __u32 count)
{
	struct io_uring ring;
	int ret;

	ret = mmsb_uring_init(fd, &ring, 4, 0);
	if (ret)
		return ret;
	ret = mmsb_submit_applied(fd, &ring, d, count);
	io_uring_queue_exit(&ring);
	return ret;
}

FIXTURE_SETUP(full)
{
	struct mmsb_page_create pc;
	int i;

	ASSERT_EQ(0, module_reload("ring_size=2 tick_us=0"));
	self->fd = open("/dev/mmsb", O_RDWR | O_CLOEXEC | variant->open_flags);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, DATA_BYTES, 0600, 0, &pc));
	self->page = pc.id;
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &self->hdr));

	/* Delta i writes byte i with (i % 255) + 1: never 0. */
	self->d = calloc(COUNT, sizeof(*self->d));
	self->bytes = malloc(COUNT);
	ASSERT_NE(NULL, self->d);
	ASSERT_NE(NULL, self->bytes);
	for (i = 0; i < COUNT; i++) {
		self->bytes[i] = i % 255 + 1;
		mmsb_delta_dense(&self->d[i], self->page, i, &self->bytes[i], 1);
	}
}

FIXTURE_TEARDOWN(full)
{
	free(self->d);
	free(self->bytes);
	/* A mapping or an open file holds the module. */
	mmsb_page_unmap(self->hdr);
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

TEST_F(full, batch)
{
	static __u8 data[DATA_BYTES];
	__u32 accepted = 0, i;
	__u64 epoch = 0;
	int ret;

	if (variant->uring) {
		ret = uring_submit_all(self->fd, self->d, COUNT);
		ASSERT_EQ(COUNT, ret);
		ret = 0;
		accepted = COUNT;
	} else {
		ret = mmsb_submit(self->fd, self->d, COUNT,
				  variant->submit_flags, &accepted);
	}
	if (variant->open_flags & O_NONBLOCK) {
		ASSERT_EQ(-EAGAIN, ret);
		/* A full ring asks for a tick, so more than two go in. */
		ASSERT_LE(2, accepted);
		ASSERT_GT(COUNT, accepted);
	} else {
		ASSERT_EQ(0, ret);
		ASSERT_EQ(COUNT, accepted);
	}
	/* The first @accepted went in, in order; the rest did not. */
	for (i = 0; i < COUNT; i++) {
		if (i < accepted) {
			ASSERT_EQ(0, self->d[i].status) TH_LOG("delta %u", i);
			ASSERT_NE(0, self->d[i].delta_id);
			if (i)
				ASSERT_LT(self->d[i - 1].delta_id,
					  self->d[i].delta_id);
		} else {
			ASSERT_EQ(-EAGAIN, self->d[i].status) TH_LOG("delta %u", i);
			ASSERT_EQ(0, self->d[i].delta_id);
		}
	}
	if ((variant->submit_flags & MMSB_SUBMIT_SYNC) || variant->uring) {
		/* Many ticks applied them: each reports its own epoch. */
		ASSERT_LE(1, self->d[0].epoch);
		ASSERT_LE(self->d[0].epoch, self->d[COUNT - 1].epoch);
	}

	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, data, DATA_BYTES, &epoch));
	for (i = 0; i < DATA_BYTES; i++)
		ASSERT_EQ(i < accepted ? self->bytes[i] : 0, data[i])
			TH_LOG("byte %u (accepted %u)", i, accepted);
	ASSERT_LE(1, epoch);
}

#define BACKLOG		64	/* deltas queued ahead of each SYNC */
#define FANOUT		256	/* edges out of the SYNC delta's page */
#define ROUNDS		20

FIXTURE(backlog) {
	int fd;
	__u64 a, c;
	const struct mmsb_page_header *ha, *hb[FANOUT];
};

static int create(int fd, __u64 size, __u64 *id)
{
	struct mmsb_page_create pc;
	int ret = mmsb_page_create(fd, size, 0600, 0, &pc);

	*id = pc.id;
	return ret;
}

FIXTURE_SETUP(backlog)
{
	__u64 b;
	int j;

	ASSERT_EQ(0, module_reload("tick_us=0 batch_max=1"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, create(self->fd, 64, &self->a));
	ASSERT_EQ(0, create(self->fd, BACKLOG, &self->c));
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->a, &self->ha));
	/* Many dependents: propagation is a long stage of the tick. */
	for (j = 0; j < FANOUT; j++) {
		ASSERT_EQ(0, create(self->fd, 64, &b));
		ASSERT_EQ(0, mmsb_edge_add(self->fd, self->a, b,
					   MMSB_EDGE_PASSTHROUGH));
		ASSERT_EQ(0, mmsb_page_map(self->fd, b, &self->hb[j]));
	}
}

FIXTURE_TEARDOWN(backlog)
{
	int j;

	for (j = 0; j < FANOUT; j++)
		if (self->hb[j])
			mmsb_page_unmap(self->hb[j]);
	if (self->ha)
		mmsb_page_unmap(self->ha);
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * ROUNDS times: BACKLOG ticks' worth of deltas on C, then one delta on A,
 * through a SYNC ioctl or an io_uring command; on return (or CQE) A's
 * byte must already be in every dependent B.
 */
static void sync_after_backlog(struct __test_metadata *_metadata,
			       FIXTURE_DATA(backlog) *self, bool uring)
{
	struct mmsb_delta d[BACKLOG], sd;
	__u8 v[BACKLOG], got;
	__u64 epoch;
	int i, j, r;

	for (r = 1; r <= ROUNDS; r++) {
		for (i = 0; i < BACKLOG; i++) {
			v[i] = r;
			mmsb_delta_dense(&d[i], self->c, i, &v[i], 1);
		}
		ASSERT_EQ(0, mmsb_submit(self->fd, d, BACKLOG, 0, NULL));
		got = r;
		mmsb_delta_dense(&sd, self->a, 7, &got, 1);
		/* ASSERT_*() is more than one statement: braces. */
		if (uring) {
			ASSERT_EQ(1, uring_submit_all(self->fd, &sd, 1));
		} else {
			ASSERT_EQ(0, mmsb_submit(self->fd, &sd, 1,
						 MMSB_SUBMIT_SYNC, NULL));
		}
		ASSERT_EQ(0, sd.status);
		ASSERT_EQ((__u64)r, sd.epoch);

		/* Applied to A, and already passed through to every B. */
		ASSERT_EQ(0, mmsb_page_read(self->ha, 7, &got, 1, &epoch));
		ASSERT_EQ(r, got);
		for (j = FANOUT - 1; j >= 0; j--) {
			ASSERT_EQ(0, mmsb_page_read(self->hb[j], 7, &got, 1,
						    &epoch));
			ASSERT_EQ(r, got) TH_LOG("round %d: B%d behind", r, j);
			ASSERT_EQ((__u64)r, epoch);
		}
	}
}

TEST_F(backlog, sync_returns_after_propagation)
{
	sync_after_backlog(_metadata, self, false);
}

TEST_F(backlog, uring_cqe_after_propagation)
{
	sync_after_backlog(_metadata, self, true);
}

/*
 * A SYNC delta alone, on the page the backlog writes, while the backlog
 * waits: the tick its submitter runs takes one queued delta (batch_max
 * 1), so the SYNC delta must not be applied in that tick but behind
 * every queued one (acceptance order), and hold the last byte.
 */
TEST_F(backlog, sync_one_behind_queue)
{
	struct mmsb_delta d[BACKLOG], sd;
	__u8 v[BACKLOG], mark = 0xee, got;
	const struct mmsb_page_header *hc;
	__u64 epoch;
	int i;

	ASSERT_EQ(0, mmsb_page_map(self->fd, self->c, &hc));
	for (i = 0; i < BACKLOG; i++) {
		v[i] = i + 1;
		mmsb_delta_dense(&d[i], self->c, 0, &v[i], 1);
	}
	ASSERT_EQ(0, mmsb_submit(self->fd, d, BACKLOG, 0, NULL));
	mmsb_delta_dense(&sd, self->c, 0, &mark, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &sd, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, sd.status);
	/* One tick a delta: the backlog's epochs, then its own. */
	EXPECT_EQ((__u64)BACKLOG + 1, sd.epoch);
	ASSERT_EQ(0, mmsb_page_read(hc, 0, &got, 1, &epoch));
	EXPECT_EQ(mark, got);
	EXPECT_EQ(sd.epoch, epoch);
	mmsb_page_unmap(hc);
}

/*
 * batch_max bounds a tick that takes a SYNC submitter's delta from it
 * too: with one delta queued and batch_max 1, the SYNC delta goes to a
 * tick of its own.
 */
TEST_F(backlog, sync_one_within_batch_max)
{
	struct mmsb_delta q, sd;
	struct mmsb_stats s0, s1;
	__u8 one = 1, two = 2;

	mmsb_delta_dense(&q, self->c, 0, &one, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &q, 1, 0, NULL));
	ASSERT_EQ(0, mmsb_stats(self->fd, &s0));
	mmsb_delta_dense(&sd, self->a, 0, &two, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &sd, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, sd.status);
	ASSERT_EQ(0, mmsb_stats(self->fd, &s1));
	EXPECT_EQ(s0.ticks + 2, s1.ticks);
	EXPECT_EQ(1, s1.last.processed);
	EXPECT_EQ(s0.processed + 2, s1.processed);
}

TEST_HARNESS_MAIN
