// SPDX-License-Identifier: GPL-2.0
/*
 * A submission's results that cannot be written back (issue 15).
 *
 * -EFAULT from SUBMIT means "nothing queued": a caller may retry it.  So
 * the kernel proves the outputs writable before it queues anything, by
 * writing each descriptor's pending outputs (delta_id 0, status
 * -EINPROGRESS, epoch 0), and a write-back that fails once deltas were
 * queued says -ECOMM, with what was accepted and applied, never -EFAULT.
 *
 * batch.ro_*: the delta array is read-only from the start: -EFAULT,
 * nothing accepted, and after a tick the page is untouched (ioctl SYNC
 * and not, io_uring issued inline and from io-wq).
 * room.late_ioctl: a non-SYNC ioctl waits for room in a full ring of two
 * behind a long tick (busy.h); another thread makes the array read-only:
 * -ECOMM, 8 accepted, statuses left pending, every delta applied once.
 * batch.late_ioctl_sync: the same for a SYNC ioctl waiting for its
 * batch: -ECOMM, 8 accepted and 8 applied.
 * batch.late_ioctl_eintr: that SYNC ioctl interrupted by a signal
 * without SA_RESTART after the array went read-only: -ECOMM, not -EINTR
 * (the -EINTR report could not be written), each delta applied once.
 * room.late_ioctl_eintr: the same in the wait for room, before anything
 * was queued: -EFAULT, and nothing applied.
 * batch.late_uring_inline: an io_uring SUBMIT issued inline by a thread
 * is handed to the tick of its task work, which waits for the long
 * tick; the array goes read-only meanwhile (another thread): cqe->res
 * is -ECOMM, each delta applied once.
 * room.late_uring_iowq: the same issued from io-wq (IOSQE_ASYNC), which
 * waits for room in the full ring: -ECOMM.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "busy.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define COUNT	8

/* The status a descriptor holds until its outcome is written. */
#define PENDING	(-EINPROGRESS)

static void on_usr1(int sig)
{
}

/* Is some thread of ours blocked in kernel function @fn?  0 or -ETIMEDOUT. */
static int thread_blocked_in(const char *fn)
{
	char buf[4096];
	struct dirent *e;
	int i, found = 0;
	DIR *dir;

	for (i = 0; i < 10000 && !found; i++, usleep(1000)) {
		dir = opendir("/proc/self/task");
		if (!dir)
			return -errno;
		while (!found && (e = readdir(dir))) {
			if (e->d_name[0] == '.')
				continue;
			/* /proc/TID/ works for any thread. */
			if (!read_proc(atoi(e->d_name), "stack", buf,
				       sizeof(buf)) &&
			    strstr(buf, fn))
				found = 1;
		}
		closedir(dir);
	}
	return found ? 0 : -ETIMEDOUT;
}

/* What every test here uses. */
struct wb {
	int fd;
	__u64 src, page;
	const struct mmsb_page_header *hdr;
	struct mmsb_delta *d;	/* one system page of its own */
	__u8 bytes[COUNT];
	__u8 *mem;
	pid_t flusher;
	struct mmsb_stats before;
	/* The submitting thread's call and what it got. */
	pthread_t thread;
	pid_t tid;
	__u32 flags;
	struct mmsb_submit sub;
	int ret;
};

static void wb_setup(struct __test_metadata *_metadata, struct wb *w,
		     const char *params)
{
	struct mmsb_page_create pc;
	int i;

	ASSERT_EQ(0, module_reload(params));
	w->fd = mmsb_open();
	ASSERT_LE(0, w->fd);
	ASSERT_EQ(0, mmsb_page_create(w->fd, BUSY_BYTES, 0600, 0, &pc));
	w->src = pc.id;
	ASSERT_EQ(0, mmsb_page_create(w->fd, COUNT, 0600, 0, &pc));
	w->page = pc.id;
	ASSERT_EQ(0, mmsb_page_map(w->fd, pc.id, &w->hdr));
	w->mem = busy_alloc();
	ASSERT_NE(NULL, w->mem);
	w->d = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, w->d);
	/* Delta i writes byte i with i + 1. */
	for (i = 0; i < COUNT; i++) {
		w->bytes[i] = i + 1;
		mmsb_delta_dense(&w->d[i], w->page, i, &w->bytes[i], 1);
	}
	w->flusher = -1;
	w->before.size = sizeof(w->before);
	ASSERT_EQ(0, mmsb_stats(w->fd, &w->before));
}

static void wb_teardown(struct __test_metadata *_metadata, struct wb *w)
{
	if (w->flusher > 0)
		EXPECT_EQ(0, wait_child(w->flusher));
	munmap(w->d, page_size());
	free(w->mem);
	mmsb_page_unmap(w->hdr);
	free_all(w->fd);
	close(w->fd);
	EXPECT_EQ(0, module_reload(""));
}

/* A ring of two, which the long tick's followers fill. */
FIXTURE(room) {
	struct wb w;
};

FIXTURE_SETUP(room)
{
	wb_setup(_metadata, &self->w, "ring_size=2 " BUSY_PARAMS);
}

FIXTURE_TEARDOWN(room)
{
	wb_teardown(_metadata, &self->w);
}

/* Room for everything: a SYNC call waits for its batch. */
FIXTURE(batch) {
	struct wb w;
};

FIXTURE_SETUP(batch)
{
	wb_setup(_metadata, &self->w, BUSY_PARAMS);
}

FIXTURE_TEARDOWN(batch)
{
	wb_teardown(_metadata, &self->w);
}

/*
 * Start the long tick (busy.h); with @fill, two more deltas fill the
 * ring of two behind it.  STATS is read afterwards, as the baseline.
 */
static int long_tick(struct wb *w, bool fill)
{
	struct mmsb_delta two[2];
	__u32 acc = 0;
	int ret;

	ret = busy_start(w->fd, w->src, w->mem, &w->flusher);
	if (!ret && fill) {
		mmsb_delta_dense(&two[0], w->src, 0, w->mem, 1);
		mmsb_delta_dense(&two[1], w->src, 1, w->mem, 1);
		ret = mmsb_submit(w->fd, two, 2, 0, &acc);
		if (!ret && acc != 2)
			ret = -EIO;
	}
	if (!ret)
		ret = mmsb_stats(w->fd, &w->before);
	return ret;
}

/*
 * After two ticks: the page holds the bytes of the first @n deltas (each
 * writes its own byte), its epoch moved if any, and STATS counts exactly @n
 * deltas submitted since the baseline: each applied once, or not at all.
 */
#define EXPECT_PAGE(w, n) do {						\
	struct mmsb_stats _st = { .size = sizeof(_st) };		\
	__u8 _got[COUNT], _want[COUNT];					\
									\
	ASSERT_EQ(0, mmsb_flush((w)->fd));				\
	ASSERT_EQ(0, mmsb_flush((w)->fd));				\
	memset(_want, 0, sizeof(_want));				\
	memcpy(_want, (w)->bytes, (n));					\
	ASSERT_EQ(0, mmsb_page_read((w)->hdr, 0, _got, COUNT, NULL));	\
	EXPECT_EQ(0, memcmp(_got, _want, COUNT))			\
		TH_LOG("page bytes %02x %02x .. %02x", _got[0], _got[1],	\
		       _got[COUNT - 1]);				\
	EXPECT_EQ(!!(n), (w)->hdr->epoch != 0);				\
	ASSERT_EQ(0, mmsb_stats((w)->fd, &_st));			\
	EXPECT_EQ((n), _st.submitted - (w)->before.submitted);		\
} while (0)

/* Every descriptor still says "pending": no outcome was written. */
#define EXPECT_PENDING(w) do {						\
	int _i;								\
									\
	for (_i = 0; _i < COUNT; _i++) {				\
		EXPECT_EQ(PENDING, (w)->d[_i].status)			\
			TH_LOG("delta %d", _i);				\
		EXPECT_EQ(0, (w)->d[_i].delta_id);			\
		EXPECT_EQ(0, (w)->d[_i].epoch);				\
	}								\
} while (0)

static int submit_ioctl(struct wb *w, __u32 flags)
{
	memset(&w->sub, 0, sizeof(w->sub));
	w->sub.deltas = (__u64)(uintptr_t)w->d;
	w->sub.count = COUNT;
	w->sub.flags = flags;
	w->sub.accepted = 99;
	w->sub.applied = 99;
	return ioctl_err(w->fd, MMSB_IOC_SUBMIT, &w->sub);
}

/* Submit with io_uring (@sqe_flags: IOSQE_*), and reap: cqe->res. */
static int submit_uring(struct wb *w, struct io_uring *ring, __u8 sqe_flags,
			bool reap)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	mmsb_uring_prep_submit(sqe, w->fd, w->d, COUNT, MMSB_SUBMIT_SYNC);
	sqe->flags |= sqe_flags;
	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	if (!reap)
		return 0;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* The submitting thread: one ioctl, its tid published first. */
static void *submitter(void *arg)
{
	struct wb *w = arg;
	struct sigaction sa = { .sa_handler = on_usr1 };

	/* No SA_RESTART: a signal ends a wait with -EINTR. */
	sigaction(SIGUSR1, &sa, NULL);
	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid),
			 __ATOMIC_RELEASE);
	w->ret = submit_ioctl(w, w->flags);
	return NULL;
}

/* Start the submitting thread and wait until it sleeps in SUBMIT. */
static int start_submitter(struct wb *w, __u32 flags)
{
	int i;

	w->flags = flags;
	w->tid = 0;
	if (pthread_create(&w->thread, NULL, submitter, w))
		return -EIO;
	for (i = 0; i < 10000 && !__atomic_load_n(&w->tid, __ATOMIC_ACQUIRE);
	     i++)
		usleep(1000);
	return sleeping_in_ioctl(w->tid, MMSB_IOC_SUBMIT);
}

/* Read-only from the start: -EFAULT, nothing accepted, nothing applied. */
TEST_F(batch, ro_ioctl)
{
	struct wb *w = &self->w;

	ASSERT_EQ(0, mprotect(w->d, page_size(), PROT_READ));
	EXPECT_EQ(-EFAULT, submit_ioctl(w, 0));
	EXPECT_EQ(0, w->sub.accepted);
	EXPECT_EQ(0, w->sub.applied);
	EXPECT_PAGE(w, 0);
}

TEST_F(batch, ro_ioctl_sync)
{
	struct wb *w = &self->w;

	ASSERT_EQ(0, mprotect(w->d, page_size(), PROT_READ));
	EXPECT_EQ(-EFAULT, submit_ioctl(w, MMSB_SUBMIT_SYNC));
	EXPECT_EQ(0, w->sub.accepted);
	EXPECT_EQ(0, w->sub.applied);
	EXPECT_PAGE(w, 0);
}

TEST_F(batch, ro_uring)
{
	struct wb *w = &self->w;
	struct io_uring ring;

	ASSERT_EQ(0, mmsb_uring_init(w->fd, &ring, 4, 0));
	ASSERT_EQ(0, mprotect(w->d, page_size(), PROT_READ));
	EXPECT_EQ(-EFAULT, submit_uring(w, &ring, 0, true));
	EXPECT_EQ(-EFAULT, submit_uring(w, &ring, IOSQE_ASYNC, true));
	io_uring_queue_exit(&ring);
	EXPECT_PAGE(w, 0);
}

/*
 * A submission made read-only while its call waits: the call, started
 * with @flags behind the long tick (@room: in the wait for room, else
 * queued), and with @signal interrupted without SA_RESTART, returns
 * @ret, with @accepted and @applied, the outcomes never written
 * (pending), and @page deltas applied.
 */
struct late {
	bool room;
	__u32 flags;
	bool signal;
	int ret;
	__u32 accepted;
	__u32 applied;
	unsigned int page;
};

static void late_ioctl(struct __test_metadata *_metadata, struct wb *w,
		       struct late l)
{
	ASSERT_EQ(0, long_tick(w, l.room));
	ASSERT_EQ(0, start_submitter(w, l.flags));
	ASSERT_EQ(0, mprotect(w->d, page_size(), PROT_READ));
	if (l.signal)
		ASSERT_EQ(0, pthread_kill(w->thread, SIGUSR1));
	ASSERT_EQ(0, pthread_join(w->thread, NULL));
	EXPECT_EQ(l.ret, w->ret);
	EXPECT_EQ(l.accepted, w->sub.accepted);
	EXPECT_EQ(l.applied, w->sub.applied);
	EXPECT_PENDING(w);
	EXPECT_PAGE(w, l.page);
}

/* Made read-only while a non-SYNC call waits for room: -ECOMM. */
TEST_F(room, late_ioctl)
{
	late_ioctl(_metadata, &self->w, (struct late){
		.room = true, .ret = -ECOMM, .accepted = COUNT,
		.page = COUNT });
}

/* Made read-only while a SYNC call waits for its batch: -ECOMM. */
TEST_F(batch, late_ioctl_sync)
{
	late_ioctl(_metadata, &self->w, (struct late){
		.flags = MMSB_SUBMIT_SYNC, .ret = -ECOMM, .accepted = COUNT,
		.applied = COUNT, .page = COUNT });
}

/*
 * ... then interrupted without SA_RESTART: the -EINTR report (each
 * queued delta's id) cannot be written, so -ECOMM, not -EINTR, and no
 * park to resume: each delta applies once.
 */
TEST_F(batch, late_ioctl_eintr)
{
	late_ioctl(_metadata, &self->w, (struct late){
		.flags = MMSB_SUBMIT_SYNC, .signal = true, .ret = -ECOMM,
		.accepted = COUNT, .page = COUNT });
}

/*
 * In the wait for room, nothing queued yet when the signal comes: the
 * -EINTR statuses cannot be written, and nothing went in: -EFAULT, the
 * page untouched.
 */
TEST_F(room, late_ioctl_eintr)
{
	late_ioctl(_metadata, &self->w, (struct late){
		.room = true, .flags = MMSB_SUBMIT_SYNC, .signal = true,
		.ret = -EFAULT });
}

/* batch.late_uring_inline's submitter: one SUBMIT through @ring. */
struct uring_submitter {
	struct wb *w;
	struct io_uring *ring;
};

static void *uring_submitter(void *arg)
{
	struct uring_submitter *u = arg;

	return (void *)(intptr_t)submit_uring(u->w, u->ring, 0, false);
}

/* io_uring, issued inline: read-only before the completion: -ECOMM. */
TEST_F(batch, late_uring_inline)
{
	struct wb *w = &self->w;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	struct uring_submitter u = { w, &ring };
	pthread_t t;
	void *ret;

	ASSERT_EQ(0, mmsb_uring_init(w->fd, &ring, 4, 0));
	ASSERT_EQ(0, long_tick(w, false));
	ASSERT_EQ(0, pthread_create(&t, NULL, uring_submitter, &u));
	/*
	 * Handed to the tick of its thread's task work, which waits for
	 * the long tick before that thread returns to user space.
	 */
	ASSERT_EQ(0, thread_blocked_in("mmsb_uring_tick_tw"));
	ASSERT_EQ(-EAGAIN, io_uring_peek_cqe(&ring, &cqe));
	ASSERT_EQ(0, mprotect(w->d, page_size(), PROT_READ));
	ASSERT_EQ(0, pthread_join(t, &ret));
	ASSERT_EQ(0, (intptr_t)ret);
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(-ECOMM, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	EXPECT_PENDING(w);
	EXPECT_PAGE(w, COUNT);
}

/* io_uring from io-wq, waiting for room: read-only meanwhile: -ECOMM. */
TEST_F(room, late_uring_iowq)
{
	struct wb *w = &self->w;
	struct io_uring_cqe *cqe;
	struct io_uring ring;

	ASSERT_EQ(0, mmsb_uring_init(w->fd, &ring, 4, 0));
	ASSERT_EQ(0, long_tick(w, true));
	ASSERT_EQ(0, submit_uring(w, &ring, IOSQE_ASYNC, false));
	ASSERT_EQ(0, thread_blocked_in("mmsb_tick_reserve"));
	ASSERT_EQ(0, mprotect(w->d, page_size(), PROT_READ));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(-ECOMM, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	EXPECT_PENDING(w);
	EXPECT_PAGE(w, COUNT);
}

TEST_HARNESS_MAIN
