// SPDX-License-Identifier: GPL-2.0
/*
 * An io_uring SUBMIT whose submitting thread is gone before its CQE.
 * io_uring then runs the completion in its fallback kworker, which has
 * no address space of its own: the results must still reach the
 * submitter's memory while its process lives, and the CQE must not
 * claim they did once the process is gone.  A long tick (busy.h) holds
 * the completion back until the submitter went.
 *
 * gone.thread: a helper thread submits 256 deltas and exits; the main
 * thread reaps res 256 and finds each delta's status, id and epoch.
 * gone.thread_ring_closed: the same, and the ring is closed before the
 * completion: the results are written all the same.
 * gone.process: a child process submits through a ring it shares with
 * its parent and exits (its last thread): the deltas apply, the parent
 * reaps -EOWNERDEAD, and its own copy of the array is left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "busy.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define N		256
#define SENTINEL	12345

/* Wait up to 20 s for no mmsb io_uring command in flight. */
static long inflight_settles(void)
{
	long n;
	int i;

	for (i = 0; i < 2000 && (n = uring_inflight()) > 0; i++)
		usleep(10000);
	return n;
}

FIXTURE(gone) {
	int fd;
	__u64 src, page;
	const struct mmsb_page_header *hdr;
	__u8 bytes[N];
	struct mmsb_delta d[N];
	struct io_uring ring;
	bool ring_up;
	__u8 *mem;
	pid_t flusher;
};

FIXTURE_SETUP(gone)
{
	struct mmsb_page_create pc;
	int i, ret;

	ASSERT_EQ(0, module_reload(BUSY_PARAMS));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ret = mmsb_uring_init(self->fd, &self->ring, 8, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(0, ret);
	self->ring_up = true;
	ASSERT_EQ(0, mmsb_page_create(self->fd, BUSY_BYTES, 0600, 0, &pc));
	self->src = pc.id;
	ASSERT_EQ(0, mmsb_page_create(self->fd, N, 0600, 0, &pc));
	self->page = pc.id;
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &self->hdr));
	self->mem = busy_alloc();
	ASSERT_NE(NULL, self->mem);
	/* Delta i writes byte i with a value that is never 0. */
	for (i = 0; i < N; i++) {
		self->bytes[i] = i % 255 + 1;
		mmsb_delta_dense(&self->d[i], self->page, i,
				 &self->bytes[i], 1);
		self->d[i].status = SENTINEL;
	}
	self->flusher = -1;
}

FIXTURE_TEARDOWN(gone)
{
	if (self->flusher > 0)
		EXPECT_EQ(0, wait_child(self->flusher));
	if (self->ring_up)
		io_uring_queue_exit(&self->ring);
	EXPECT_EQ(0, inflight_settles());
	free(self->mem);
	mmsb_page_unmap(self->hdr);
	free_all(self->fd);
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * The helper thread: submit the N deltas, then exit at once.  ATOMIC,
 * so that the command is queued: one that is not is handed to the tick
 * of the thread's task work, which waits for the long tick and
 * completes it before the thread returns to user space.
 */
static void *submitter(void *arg)
{
	FIXTURE_DATA(gone) *self = arg;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

	mmsb_uring_prep_submit(sqe, self->fd, self->d, N, MMSB_SUBMIT_ATOMIC);
	sqe->user_data = 7;
	return (void *)(intptr_t)io_uring_submit(&self->ring);
}

/* Each delta's results, and the page's bytes. */
#define EXPECT_RESULTS() do {						\
	__u8 _got[N];							\
	int _i;								\
									\
	for (_i = 0; _i < N; _i++) {					\
		EXPECT_EQ(0, self->d[_i].status) TH_LOG("delta %d", _i);	\
		EXPECT_EQ(self->d[0].delta_id + _i, self->d[_i].delta_id);	\
		EXPECT_EQ(1, self->d[_i].epoch) TH_LOG("delta %d", _i);	\
		if (self->d[_i].status)					\
			break;						\
	}								\
	EXPECT_NE(0, self->d[0].delta_id);				\
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, _got, N, NULL));	\
	EXPECT_EQ(0, memcmp(_got, self->bytes, N));			\
} while (0)

static void thread_submits(struct __test_metadata *_metadata,
			   FIXTURE_DATA(gone) *self)
{
	pthread_t t;
	void *ret;

	ASSERT_EQ(0, busy_start(self->fd, self->src, self->mem,
				&self->flusher));
	ASSERT_EQ(0, pthread_create(&t, NULL, submitter, self));
	ASSERT_EQ(0, pthread_join(t, &ret));
	ASSERT_EQ(1, (intptr_t)ret);
	/* Gone before its command completed: the long tick still runs. */
	ASSERT_EQ(0, sleeping_in_ioctl(self->flusher, MMSB_IOC_FLUSH));
	EXPECT_EQ(1, uring_inflight());
}

TEST_F(gone, thread)
{
	struct io_uring_cqe *cqe;

	thread_submits(_metadata, self);
	ASSERT_EQ(0, io_uring_wait_cqe(&self->ring, &cqe));
	EXPECT_EQ(7, cqe->user_data);
	EXPECT_EQ(N, cqe->res);
	io_uring_cqe_seen(&self->ring, cqe);
	EXPECT_RESULTS();
}

TEST_F(gone, thread_ring_closed)
{
	thread_submits(_metadata, self);
	/* Teardown waits for the command; nobody reaps its CQE. */
	io_uring_queue_exit(&self->ring);
	self->ring_up = false;
	ASSERT_EQ(0, inflight_settles());
	EXPECT_RESULTS();
}

TEST_F(gone, process)
{
	struct io_uring_cqe *cqe;
	__u8 got[N];
	pid_t pid;
	int i;

	ASSERT_EQ(0, busy_start(self->fd, self->src, self->mem,
				&self->flusher));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		/* Its copy of the array, its last thread: gone at once. */
		_exit((intptr_t)submitter(self) == 1 ? 0 : 1);
	ASSERT_EQ(0, wait_child(pid));
	ASSERT_EQ(0, sleeping_in_ioctl(self->flusher, MMSB_IOC_FLUSH));
	ASSERT_EQ(0, io_uring_wait_cqe(&self->ring, &cqe));
	EXPECT_EQ(7, cqe->user_data);
	EXPECT_EQ(-EOWNERDEAD, cqe->res);
	io_uring_cqe_seen(&self->ring, cqe);
	/* Applied all the same; our copy is no one's result array. */
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, N, NULL));
	EXPECT_EQ(0, memcmp(got, self->bytes, N));
	for (i = 0; i < N; i++) {
		EXPECT_EQ(SENTINEL, self->d[i].status);
		EXPECT_EQ(0, self->d[i].delta_id);
	}
}

TEST_HARNESS_MAIN
