// SPDX-License-Identifier: GPL-2.0
/*
 * Readiness of an mmsb fd for its subscribed pages, by every interface
 * that waits on it: poll(2), select(2), epoll and io_uring's POLL_ADD.
 * A file has one waitqueue, woken for each page it subscribes, so each
 * of them hears of a page subscribed after it started waiting.
 *
 * late.poll, late.select, late.epoll: subscribe page A, start waiting
 * (epoll: EPOLL_CTL_ADD; poll and select: a thread blocked in the call),
 * subscribe page B, change B: the fd becomes readable and read() gives
 * B's event.  early.epoll: the same with B subscribed before
 * EPOLL_CTL_ADD.
 * uring.oneshot_N, uring.multishot_N: IORING_OP_POLL_ADD with N = 0, 1,
 * 3 and 100 subscribed pages: no CQE until a subscribed page changes,
 * then POLLIN (multishot: once per change, flagged MORE); with none it
 * stays pending until removed (-ECANCELED), never -EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define PAGES	100

/* Change page @id (one SYNC delta): its epoch moves. */
static int change(int fd, __u64 id, __u8 b)
{
	struct mmsb_delta d;

	mmsb_delta_dense(&d, id, 0, &b, 1);
	return mmsb_submit(fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
}

/* The one event read() gives: page @id. */
#define EXPECT_ONE_EVENT(fd, id) do {					\
	struct mmsb_event _ev[2];					\
	ssize_t _n = read(fd, _ev, sizeof(_ev));			\
									\
	EXPECT_EQ((ssize_t)sizeof(_ev[0]), _n);				\
	EXPECT_EQ((id), _ev[0].page_id);				\
	EXPECT_EQ(-1, read(fd, _ev, sizeof(_ev)));			\
	EXPECT_EQ(EAGAIN, errno);					\
} while (0)

FIXTURE(late) {
	int fd;	/* changes pages */
	int sub;	/* subscribes */
	__u64 a, b;
};

FIXTURE_SETUP(late)
{
	struct mmsb_page_create pc;

	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	self->sub = mmsb_open();
	ASSERT_LE(0, self->sub);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0644, 0, &pc));
	self->a = pc.id;
	ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0644, 0, &pc));
	self->b = pc.id;
	ASSERT_EQ(0, mmsb_subscribe(self->sub, self->a));
}

FIXTURE_TEARDOWN(late)
{
	close(self->sub);
	mmsb_page_free(self->fd, self->a);
	mmsb_page_free(self->fd, self->b);
	close(self->fd);
}

/* A thread blocked in poll() or select() on @fd, for up to 5 s. */
struct waiter {
	pthread_t thread;
	int fd;
	bool select;
	int ret;
	int revents;
};

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;

	if (w->select) {
		struct timeval tv = { .tv_sec = 5 };
		fd_set rd;

		FD_ZERO(&rd);
		FD_SET(w->fd, &rd);
		w->ret = select(w->fd + 1, &rd, NULL, NULL, &tv);
		w->revents = FD_ISSET(w->fd, &rd) ? POLLIN : 0;
	} else {
		struct pollfd pfd = { .fd = w->fd, .events = POLLIN };

		w->ret = poll(&pfd, 1, 5000);
		w->revents = pfd.revents;
	}
	return NULL;
}

/*
 * Start a waiter on @self->sub, let it block, subscribe to B, change B:
 * the waiter returns with POLLIN, well before its 5 s.
 */
static void late_blocked(struct __test_metadata *_metadata,
			 FIXTURE_DATA(late) *self, bool use_select)
{
	struct waiter w = { .fd = self->sub, .select = use_select };
	long t0;

	ASSERT_EQ(0, pthread_create(&w.thread, NULL, waiter_fn, &w));
	usleep(200000);
	ASSERT_EQ(0, mmsb_subscribe(self->sub, self->b));
	t0 = time(NULL);
	ASSERT_EQ(0, change(self->fd, self->b, 1));
	ASSERT_EQ(0, pthread_join(w.thread, NULL));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(POLLIN, w.revents & POLLIN);
	EXPECT_GT(t0 + 3, time(NULL));
	EXPECT_ONE_EVENT(self->sub, self->b);
}

TEST_F(late, poll)
{
	late_blocked(_metadata, self, false);
}

TEST_F(late, select)
{
	late_blocked(_metadata, self, true);
}

TEST_F(late, epoll)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->sub, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, mmsb_subscribe(self->sub, self->b));
	ASSERT_EQ(0, change(self->fd, self->b, 1));
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 2000));
	EXPECT_EQ(EPOLLIN, out.events & EPOLLIN);
	EXPECT_ONE_EVENT(self->sub, self->b);
	/* Read: not ready; A still reports too. */
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, change(self->fd, self->a, 1));
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 2000));
	EXPECT_ONE_EVENT(self->sub, self->a);
	close(ep);
}

TEST_F(late, epoll_early)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, mmsb_subscribe(self->sub, self->b));
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->sub, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, change(self->fd, self->b, 1));
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 2000));
	EXPECT_EQ(EPOLLIN, out.events & EPOLLIN);
	/* Edge-triggered: the next change is a new edge. */
	EXPECT_ONE_EVENT(self->sub, self->b);
	ASSERT_EQ(0, change(self->fd, self->b, 2));
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 2000));
	EXPECT_ONE_EVENT(self->sub, self->b);
	close(ep);
}

/* io_uring POLL_ADD on an fd subscribed to N of PAGES pages. */
FIXTURE(uring) {
	int fd, sub;
	__u64 ids[PAGES + 1];	/* the last one never subscribed */
	struct io_uring ring;
};

FIXTURE_VARIANT(uring) {
	int subs;
	bool multishot;
};

FIXTURE_VARIANT_ADD(uring, oneshot_0) { 0, false };
FIXTURE_VARIANT_ADD(uring, oneshot_1) { 1, false };
FIXTURE_VARIANT_ADD(uring, oneshot_3) { 3, false };
FIXTURE_VARIANT_ADD(uring, oneshot_100) { 100, false };
FIXTURE_VARIANT_ADD(uring, multishot_0) { 0, true };
FIXTURE_VARIANT_ADD(uring, multishot_1) { 1, true };
FIXTURE_VARIANT_ADD(uring, multishot_3) { 3, true };
FIXTURE_VARIANT_ADD(uring, multishot_100) { 100, true };

FIXTURE_SETUP(uring)
{
	struct mmsb_page_create pc;
	int i, ret;

	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	self->sub = mmsb_open();
	ASSERT_LE(0, self->sub);
	ret = io_uring_queue_init(8, &self->ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(0, ret);
	for (i = 0; i <= PAGES; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0644, 0, &pc));
		self->ids[i] = pc.id;
		if (i < variant->subs)
			ASSERT_EQ(0, mmsb_subscribe(self->sub, pc.id));
	}
}

FIXTURE_TEARDOWN(uring)
{
	int i;

	io_uring_queue_exit(&self->ring);
	close(self->sub);
	for (i = 0; i <= PAGES; i++)
		mmsb_page_free(self->fd, self->ids[i]);
	close(self->fd);
}

/* The next CQE within @ms: its res and flags, or -ETIME if none came. */
static int next_cqe(struct io_uring *ring, int ms, __u64 *data,
		    unsigned int *flags)
{
	struct __kernel_timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000LL,
	};
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);

	if (ret)
		return ret;
	ret = cqe->res;
	*data = cqe->user_data;
	*flags = cqe->flags;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

TEST_F(uring, poll_add)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);
	int last = variant->subs - 1, round, rounds;
	unsigned int flags;
	__u64 data;

	if (variant->multishot)
		io_uring_prep_poll_multishot(sqe, self->sub, POLLIN);
	else
		io_uring_prep_poll_add(sqe, self->sub, POLLIN);
	sqe->user_data = 1;
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	/* Nothing changed: armed, no CQE (an -EINVAL would come now). */
	EXPECT_EQ(-ETIME, next_cqe(&self->ring, 200, &data, &flags));
	/* A page it does not subscribe changes: still nothing. */
	ASSERT_EQ(0, change(self->fd, self->ids[PAGES], 1));
	EXPECT_EQ(-ETIME, next_cqe(&self->ring, 200, &data, &flags));

	rounds = variant->subs ? (variant->multishot ? 2 : 1) : 0;
	for (round = 0; round < rounds; round++) {
		/* The last page subscribed changes. */
		ASSERT_EQ(0, change(self->fd, self->ids[last], round + 1));
		EXPECT_EQ(POLLIN, next_cqe(&self->ring, 2000, &data, &flags));
		EXPECT_EQ(1, data);
		EXPECT_EQ(variant->multishot, !!(flags & IORING_CQE_F_MORE));
		EXPECT_ONE_EVENT(self->sub, self->ids[last]);
	}
	if (rounds == 1)
		return;
	/* Still armed: remove it. */
	sqe = io_uring_get_sqe(&self->ring);
	io_uring_prep_poll_remove(sqe, 1);
	sqe->user_data = 2;
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	for (round = 0; round < 2; round++) {
		int ret = next_cqe(&self->ring, 2000, &data, &flags);

		EXPECT_EQ(data == 1 ? -ECANCELED : 0, ret)
			TH_LOG("user_data %llu", (unsigned long long)data);
	}
}

TEST_HARNESS_MAIN
