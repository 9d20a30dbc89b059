// SPDX-License-Identifier: GPL-2.0
/*
 * Task work is no signal.  io_uring completes requests through task work
 * of the task that issued them, and sets TIF_NOTIFY_SIGNAL for it, which
 * makes the task look signalled to every interruptible wait.  mmsb's
 * waits must restart transparently (-ERESTARTSYS) once the task work
 * ran; only a real signal whose handler runs without SA_RESTART ends
 * them with -EINTR.  A restarted SUBMIT must not queue its deltas again.
 *
 * busy.*: a long tick (the orchestrator applies two big MASKED deltas
 * byte by byte) makes a SYNC ioctl wait, for room in a full ring of two
 * (room_*) or for the end of the tick that handles its batch (batch_*):
 * busy.room_submit, busy.batch_submit: an io_uring timeout of the same
 * thread fires meanwhile: 0, every delta applied once, with its epoch
 * (adapted from the breaker branch's reproducer, commit 6facd43, whose
 * room wait the kicks of the waiter have since made too short).
 * busy.room_sa_restart, busy.batch_sa_restart: a real signal whose
 * handler has SA_RESTART, twice: the call restarts and returns 0, and
 * STATS counts each delta submitted once.
 * busy.eintr_repeat: a handler without SA_RESTART gets -EINTR; the same
 * call repeated resumes the submission: 0, each delta queued once.
 * waits.uring_timeout, waits.uring_wait, waits.ring_closed: MMSB_IOC_WAIT
 * with an io_uring timeout firing, an MMSB_URING_WAIT of the thread
 * completing, a ring just closed: the wait keeps its deadline (or its
 * outcome), no -EINTR.
 * waits.sa_restart: a real signal with SA_RESTART: the restarted WAIT
 * waits only for the time that was left.
 * waits.eintr: a real signal without SA_RESTART: -EINTR, and timeout_ns
 * holds the time that was left, as select(2) leaves it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "busy.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define COUNT	8
#define MS	1000000ULL

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_usr1(int sig)
{
}

/* Arm an io_uring timeout of @ms on @ring: its completion is task work. */
static int arm_timeout(struct io_uring *ring, struct __kernel_timespec *ts,
		       long ms)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
	io_uring_prep_timeout(sqe, ts, 0, 0);
	return io_uring_submit(ring) == 1 ? 0 : -EIO;
}

/* Reap the timeout armed by arm_timeout(): its result. */
static int reap(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret = io_uring_wait_cqe(ring, &cqe);

	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* What a child reports through shared memory. */
struct out {
	int ret;
	__u32 accepted, applied;
	int first;		/* eintr_repeat: the interrupted call's */
	__u32 first_accepted;
};

/*
 * A long tick (busy.h) in a ring of two: while it runs, a SYNC ioctl
 * waits, for room when the ring is full, else for the end of the tick
 * that handles its batch.
 */
FIXTURE(busy) {
	int fd;
	__u64 src, page;
	const struct mmsb_page_header *hdr;
	struct mmsb_delta *d;	/* shared with a child */
	struct out *out;	/* likewise */
	__u8 bytes[COUNT];
	__u8 *mem;
	pid_t flusher;
};

FIXTURE_SETUP(busy)
{
	struct mmsb_page_create pc;
	int i;

	ASSERT_EQ(0, module_reload("ring_size=2 " BUSY_PARAMS));
	self->fd = open("/dev/mmsb", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, BUSY_BYTES, 0600, 0, &pc));
	self->src = pc.id;
	ASSERT_EQ(0, mmsb_page_create(self->fd, COUNT, 0600, 0, &pc));
	self->page = pc.id;
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &self->hdr));
	self->mem = busy_alloc();
	ASSERT_NE(NULL, self->mem);
	self->d = mmap(NULL, COUNT * sizeof(*self->d) + sizeof(*self->out),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	ASSERT_NE(MAP_FAILED, self->d);
	self->out = (struct out *)(self->d + COUNT);
	/* Delta i writes byte i with i + 1. */
	for (i = 0; i < COUNT; i++) {
		self->bytes[i] = i + 1;
		mmsb_delta_dense(&self->d[i], self->page, i,
				 &self->bytes[i], 1);
	}
	self->flusher = -1;
}

FIXTURE_TEARDOWN(busy)
{
	if (self->flusher > 0)
		EXPECT_EQ(0, wait_child(self->flusher));
	munmap(self->d, COUNT * sizeof(*self->d) + sizeof(*self->out));
	free(self->mem);
	mmsb_page_unmap(self->hdr);
	free_all(self->fd);
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * Start the long tick; with @fill, two more deltas fill the ring of two
 * behind it.
 */
#define START_LONG_TICK(fill) do {					\
	struct mmsb_delta _two[2];					\
	__u32 _acc = 0;							\
									\
	ASSERT_EQ(0, busy_start(self->fd, self->src, self->mem,		\
				&self->flusher));			\
	if (fill) {							\
		mmsb_delta_dense(&_two[0], self->src, 0, self->mem, 1);	\
		mmsb_delta_dense(&_two[1], self->src, 1, self->mem, 1);	\
		ASSERT_EQ(0, mmsb_submit(self->fd, _two, 2, 0, &_acc));	\
		ASSERT_EQ(2, _acc);					\
		ASSERT_EQ(0, sleeping_in_ioctl(self->flusher,		\
					       MMSB_IOC_FLUSH));	\
	}								\
} while (0)

/* Every delta applied once, reported with an id and an epoch. */
#define EXPECT_ALL_APPLIED() do {					\
	__u8 _got[COUNT];						\
	int _i;								\
									\
	for (_i = 0; _i < COUNT; _i++) {				\
		EXPECT_EQ(0, self->d[_i].status) TH_LOG("delta %d", _i);	\
		EXPECT_EQ(self->d[0].delta_id + _i, self->d[_i].delta_id);	\
		EXPECT_NE(0, self->d[_i].epoch) TH_LOG("delta %d", _i);	\
	}								\
	EXPECT_NE(0, self->d[0].delta_id);				\
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, _got, COUNT, NULL));	\
	EXPECT_EQ(0, memcmp(_got, self->bytes, COUNT));			\
} while (0)

/* A SYNC ioctl of @n deltas, an io_uring timeout of 20 ms firing. */
#define SUBMIT_WITH_TIMEOUT(n) do {					\
	struct __kernel_timespec _ts;					\
	__u32 _acc = 0, _app = 0;					\
	struct io_uring _ring;						\
	long _t0, _dt;							\
	int _ret;							\
									\
	ASSERT_EQ(0, io_uring_queue_init(4, &_ring, 0));		\
	ASSERT_EQ(0, arm_timeout(&_ring, &_ts, 20));			\
	_t0 = now_ms();							\
	_ret = mmsb_submit_counts(self->fd, self->d, n,			\
				  MMSB_SUBMIT_SYNC, &_acc, &_app);	\
	_dt = now_ms() - _t0;						\
	EXPECT_EQ(0, _ret) TH_LOG("after %ld ms", _dt);			\
	EXPECT_EQ(n, _acc);						\
	EXPECT_EQ(n, _app);						\
	/* It outlived the timeout, whose task work came meanwhile. */	\
	EXPECT_LE(20, _dt);						\
	EXPECT_EQ(-ETIME, reap(&_ring));				\
	io_uring_queue_exit(&_ring);					\
} while (0)

TEST_F(busy, room_submit)
{
	START_LONG_TICK(true);
	SUBMIT_WITH_TIMEOUT(COUNT);
	EXPECT_ALL_APPLIED();
}

TEST_F(busy, batch_submit)
{
	START_LONG_TICK(false);
	SUBMIT_WITH_TIMEOUT(1);
	EXPECT_EQ(0, self->d[0].status);
	EXPECT_NE(0, self->d[0].delta_id);
	EXPECT_EQ(1, self->d[0].epoch);
	EXPECT_EQ(1, self->hdr->epoch);
}

/*
 * A real signal whose handler has SA_RESTART, in the wait for room and
 * in the wait for the batch: the call restarts and returns 0, each
 * delta queued and applied once.
 */
static void restart_child(FIXTURE_DATA(busy) *self, int n)
{
	struct sigaction sa = {
		.sa_handler = on_usr1,
		.sa_flags = SA_RESTART,
	};

	sigaction(SIGUSR1, &sa, NULL);
	self->out->ret = mmsb_submit_counts(self->fd, self->d, n,
					    MMSB_SUBMIT_SYNC,
					    &self->out->accepted,
					    &self->out->applied);
	_exit(0);
}

#define SA_RESTART_TEST(fill, n) do {					\
	struct mmsb_stats before, after;				\
	pid_t pid;							\
									\
	START_LONG_TICK(fill);						\
	ASSERT_EQ(0, mmsb_stats(self->fd, &before));			\
	pid = fork();							\
	ASSERT_LE(0, pid);						\
	if (!pid)							\
		restart_child(self, n);					\
	ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_SUBMIT));		\
	ASSERT_EQ(0, kill(pid, SIGUSR1));				\
	usleep(10000);							\
	ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_SUBMIT));		\
	ASSERT_EQ(0, kill(pid, SIGUSR1));				\
	ASSERT_EQ(0, wait_child(pid));					\
	EXPECT_EQ(0, self->out->ret);					\
	EXPECT_EQ(n, self->out->accepted);				\
	EXPECT_EQ(n, self->out->applied);				\
	ASSERT_EQ(0, mmsb_flush(self->fd));				\
	ASSERT_EQ(0, mmsb_stats(self->fd, &after));			\
	/* Queued once each, not once per restart. */			\
	EXPECT_EQ(n, after.submitted - before.submitted);		\
} while (0)

TEST_F(busy, room_sa_restart)
{
	SA_RESTART_TEST(true, COUNT);
	EXPECT_ALL_APPLIED();
}

TEST_F(busy, batch_sa_restart)
{
	SA_RESTART_TEST(false, 1);
	EXPECT_EQ(1, self->hdr->epoch);
	EXPECT_EQ(0, self->d[0].status);
	EXPECT_EQ(1, self->d[0].epoch);
}

/*
 * A handler without SA_RESTART: -EINTR with part of the deltas queued;
 * the same call repeated at once resumes the submission (the rest is
 * queued, nothing twice) and returns 0 with every delta applied.
 */
TEST_F(busy, eintr_repeat)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct mmsb_stats before, after;
	pid_t pid;

	/* The ring of two takes the first two, then is full. */
	START_LONG_TICK(false);
	ASSERT_EQ(0, mmsb_stats(self->fd, &before));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		sigaction(SIGUSR1, &sa, NULL);
		self->out->first = mmsb_submit_counts(self->fd, self->d,
						      COUNT,
						      MMSB_SUBMIT_SYNC,
						      &self->out->first_accepted,
						      NULL);
		self->out->ret = mmsb_submit_counts(self->fd, self->d, COUNT,
						    MMSB_SUBMIT_SYNC,
						    &self->out->accepted,
						    &self->out->applied);
		_exit(0);
	}
	ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_SUBMIT));
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	ASSERT_EQ(0, wait_child(pid));
	EXPECT_EQ(-EINTR, self->out->first);
	EXPECT_EQ(2, self->out->first_accepted);
	EXPECT_EQ(0, self->out->ret);
	EXPECT_EQ(COUNT, self->out->accepted);
	EXPECT_EQ(COUNT, self->out->applied);
	EXPECT_ALL_APPLIED();
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_stats(self->fd, &after));
	EXPECT_EQ(COUNT, after.submitted - before.submitted);
}

/* MMSB_IOC_WAIT: default module, one page nobody changes. */
FIXTURE(waits) {
	int fd;
	__u64 page, other;
};

FIXTURE_SETUP(waits)
{
	struct mmsb_page_create pc;

	self->fd = open("/dev/mmsb", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0600, 0, &pc));
	self->page = pc.id;
	ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0600, 0, &pc));
	self->other = pc.id;
}

FIXTURE_TEARDOWN(waits)
{
	mmsb_page_free(self->fd, self->page);
	mmsb_page_free(self->fd, self->other);
	close(self->fd);
}

/* A SYNC delta to @page after @ms, from a child. */
static pid_t change_later(int fd, __u64 page, long ms)
{
	pid_t pid = fork();

	if (!pid) {
		struct mmsb_delta d;
		__u8 b = 1;

		usleep(ms * 1000);
		mmsb_delta_dense(&d, page, 0, &b, 1);
		_exit(mmsb_submit(fd, &d, 1, MMSB_SUBMIT_SYNC, NULL) ? 1 : 0);
	}
	return pid;
}

TEST_F(waits, uring_timeout)
{
	struct __kernel_timespec ts;
	struct io_uring ring;
	__u64 cur = 99;
	long t0, dt;
	int ret;

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	ASSERT_EQ(0, arm_timeout(&ring, &ts, 300));
	t0 = now_ms();
	ret = mmsb_wait(self->fd, self->page, 1, 1000 * MS, &cur);
	dt = now_ms() - t0;
	EXPECT_EQ(-ETIMEDOUT, ret) TH_LOG("after %ld ms", dt);
	EXPECT_EQ(0, cur);
	/* The deadline stays: 1 s, not 1 s after the task work. */
	EXPECT_LE(1000, dt);
	EXPECT_GT(1250, dt);
	EXPECT_EQ(-ETIME, reap(&ring));
	io_uring_queue_exit(&ring);
}

TEST_F(waits, uring_wait)
{
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	pid_t a, b;
	__u64 cur = 99;
	long t0;
	int ret;

	ASSERT_EQ(0, mmsb_uring_init(self->fd, &ring, 4, 0));
	/* Our URING_WAIT on the other page completes after 200 ms. */
	ASSERT_EQ(0, mmsb_uring_wait(&ring, self->fd, self->other, 1, 7));
	a = change_later(self->fd, self->other, 200);
	b = change_later(self->fd, self->page, 600);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	t0 = now_ms();
	ret = mmsb_wait(self->fd, self->page, 1, ~0ULL, &cur);
	EXPECT_EQ(0, ret) TH_LOG("after %ld ms", now_ms() - t0);
	EXPECT_EQ(1, cur);
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(7, cqe->user_data);
	EXPECT_EQ(0, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	EXPECT_EQ(0, wait_child(a));
	EXPECT_EQ(0, wait_child(b));
}

TEST_F(waits, ring_closed)
{
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	__u64 cur = 99;
	long t0, dt;
	int ret;

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	io_uring_prep_nop(io_uring_get_sqe(&ring));
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	io_uring_cqe_seen(&ring, cqe);
	/* Its teardown queues task work on every task that used it. */
	io_uring_queue_exit(&ring);
	t0 = now_ms();
	ret = mmsb_wait(self->fd, self->page, 1, 500 * MS, &cur);
	dt = now_ms() - t0;
	EXPECT_EQ(-ETIMEDOUT, ret) TH_LOG("after %ld ms", dt);
	EXPECT_LE(500, dt);
	EXPECT_GT(750, dt);
}

/* A child waits 1 s on @page; @flags for its SIGUSR1 handler. */
static pid_t wait_child_sig(int fd, __u64 page, int flags,
			    struct mmsb_wait *w)
{
	pid_t pid = fork();

	if (!pid) {
		struct sigaction sa = {
			.sa_handler = on_usr1,
			.sa_flags = flags,
		};
		long t0;
		int ret;

		sigaction(SIGUSR1, &sa, NULL);
		memset(w, 0, sizeof(*w));
		w->page_id = page;
		w->epoch = 1;
		w->timeout_ns = 1000 * MS;
		t0 = now_ms();
		ret = ioctl(fd, MMSB_IOC_WAIT, w) ? -errno : 0;
		/* The ms it took, then the result, in reserved[]. */
		w->reserved[0] = now_ms() - t0;
		w->reserved[1] = ret;
		_exit(0);
	}
	return pid;
}

TEST_F(waits, sa_restart)
{
	struct mmsb_wait *w;
	pid_t pid;

	w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, w);
	pid = wait_child_sig(self->fd, self->page, SA_RESTART, w);
	ASSERT_LE(0, pid);
	ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_WAIT));
	usleep(300000);
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	ASSERT_EQ(0, wait_child(pid));
	EXPECT_EQ(-ETIMEDOUT, (int)w->reserved[1]);
	EXPECT_LE(1000, w->reserved[0]);
	EXPECT_GT(1250, w->reserved[0]);
	munmap(w, sizeof(*w));
}

TEST_F(waits, eintr)
{
	struct mmsb_wait *w;
	pid_t pid;

	w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, w);
	pid = wait_child_sig(self->fd, self->page, 0, w);
	ASSERT_LE(0, pid);
	ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_WAIT));
	usleep(300000);
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	ASSERT_EQ(0, wait_child(pid));
	EXPECT_EQ(-EINTR, (int)w->reserved[1]);
	EXPECT_GT(1000, w->reserved[0]);
	/* What was left of the second, not the whole second. */
	EXPECT_LT(0, w->timeout_ns);
	EXPECT_GE((1000 - w->reserved[0] + 50) * MS, w->timeout_ns)
		TH_LOG("%llu ns left after %llu ms",
		       (unsigned long long)w->timeout_ns,
		       (unsigned long long)w->reserved[0]);
	EXPECT_EQ(0, w->cur_epoch);
	munmap(w, sizeof(*w));
}

TEST_HARNESS_MAIN
