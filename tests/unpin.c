// SPDX-License-Identifier: GPL-2.0
/*
 * Nobody but the page's mappings keeps a freed page's memory (issue 15).
 * A reader of another user's page (uid 65534, read permission only)
 * must not be able to hold its memory after the owner freed and
 * unmapped it.
 *
 * unpin.subscription: the reader subscribes; root maps, frees, unmaps:
 * STATS page_bytes falls to 0 while the subscription is still open.
 * Then the reader's fd is readable, read() gives one event, the page's
 * id with its last epoch ORed with MMSB_EVENT_FREED, and nothing more;
 * the subscription is gone (subscribing again: -ENOENT).
 * unpin.uring_wait: the reader's MMSB_URING_WAIT, in a ring whose
 * completions run only when its task asks for them
 * (IORING_SETUP_DEFER_TASKRUN), which it does not do for now: the free
 * releases the memory all the same; the CQE, reaped later, says -EIDRM.
 * unpin.ioctl_wait: the reader sleeps in MMSB_IOC_WAIT: the free wakes it
 * with -EIDRM and the memory goes.
 * parked.eintr: a writer of uid 65534 (mode 0646) has a SYNC SUBMIT of 4
 * deltas interrupted by a signal without SA_RESTART while it waits for
 * room in a full ring of two behind a long tick (busy.h): -EINTR, and
 * the submission is parked on its file, which it keeps.  The owner frees
 * the page: its memory goes at once.  Repeating the call then resumes
 * the park: the 2 deltas it had taken are refused with -EIDRM, the 2
 * read afterwards with -ENOENT, nothing is queued.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "busy.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define SIZE	4096
#define READER	65534

/* What the reader saw, in memory shared with the parent. */
struct seen {
	int step;		/* the reader's progress, for the parent */
	int err;		/* the first setup call that failed, -errno */
	int ready;		/* poll() before read(): revents */
	int n;			/* events read() returned (-errno) */
	struct mmsb_event ev[2];
	int again;		/* a second read(): -errno */
	int ready_after;	/* poll() after it */
	int resub;		/* SUBSCRIBE again: -errno */
	int res;		/* WAIT's result */
};

FIXTURE(unpin) {
	int fd;
	__u64 id, map_size;
	const struct mmsb_page_header *hdr;
	struct seen *seen;
	int go[2];		/* the parent says: look now */
	pid_t reader;
};

FIXTURE_SETUP(unpin)
{
	struct mmsb_page_create pc;
	struct mmsb_delta d;
	__u8 b = 7;

	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, SIZE, 0644, 0, &pc));
	self->id = pc.id;
	self->map_size = mmsb_page_map_size(SIZE, page_size());
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &self->hdr));
	/* Epoch 1. */
	mmsb_delta_dense(&d, pc.id, 0, &b, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	self->seen = mmap(NULL, sizeof(*self->seen), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->seen);
	memset(self->seen, 0, sizeof(*self->seen));
	ASSERT_EQ(0, pipe(self->go));
	self->reader = -1;
	EXPECT_HELD(self->fd, 1, self->map_size);
}

FIXTURE_TEARDOWN(unpin)
{
	if (self->reader > 0) {
		close(self->go[1]);
		wait_child(self->reader);
	}
	if (self->hdr)
		mmsb_page_unmap(self->hdr);
	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
	close(self->fd);
	munmap(self->seen, sizeof(*self->seen));
}

/* The reader: as uid 65534, until the parent's go, then @look. */
static void reader(FIXTURE_DATA(unpin) *self, int step)
{
	struct seen *s = self->seen;
	struct pollfd p;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	char c;
	int fd;

	close(self->go[1]);
	/* Its copy of the parent's mapping would hold the page. */
	if (mmsb_page_unmap(self->hdr))
		_exit(9);
	if (setgid(READER) || setuid(READER))
		_exit(10);
	fd = mmsb_open();
	if (fd < 0)
		_exit(11);
	switch (step) {
	case 0:
		s->err = mmsb_subscribe(fd, self->id);
		break;
	case 1:
		s->err = mmsb_uring_init(fd, &ring, 4,
					 IORING_SETUP_SINGLE_ISSUER |
					 IORING_SETUP_DEFER_TASKRUN);
		if (!s->err)
			s->err = mmsb_uring_wait(&ring, fd, self->id, 1000, 9);
		break;
	case 2:
		__atomic_store_n(&s->step, 1, __ATOMIC_RELEASE);
		s->res = mmsb_wait(fd, self->id, 1000, UINT64_MAX, NULL);
		_exit(0);
	}
	__atomic_store_n(&s->step, 1, __ATOMIC_RELEASE);
	if (s->err)
		_exit(12);
	/* Blocks until the parent writes or closes. */
	if (read(self->go[0], &c, 1) < 0)
		_exit(13);
	if (step == 1) {
		s->res = io_uring_wait_cqe(&ring, &cqe);
		if (!s->res)
			s->res = cqe->res;
		_exit(0);
	}
	p.fd = fd;
	p.events = POLLIN;
	s->ready = poll(&p, 1, 5000) == 1 ? p.revents : 0;
	s->n = mmsb_read_events(fd, s->ev, 2);
	s->again = mmsb_read_events(fd, s->ev + 1, 1);
	p.revents = 0;
	s->ready_after = poll(&p, 1, 0) == 1 ? p.revents : 0;
	s->resub = mmsb_subscribe(fd, self->id);
	_exit(0);
}

static int start_reader(FIXTURE_DATA(unpin) *self, int step)
{
	int i;

	self->reader = fork();
	if (self->reader < 0)
		return -errno;
	if (!self->reader)
		reader(self, step);
	close(self->go[0]);
	for (i = 0; i < 10000; i++, usleep(1000))
		if (__atomic_load_n(&self->seen->step, __ATOMIC_ACQUIRE))
			return self->seen->err;
	return -ETIMEDOUT;
}

/* Free and unmap: the memory goes at once (after a tick's GC). */
static void free_unmap(struct __test_metadata *_metadata,
		       FIXTURE_DATA(unpin) *self)
{
	ASSERT_EQ(0, mmsb_page_free(self->fd, self->id));
	/* Still mapped: held, though no longer live. */
	EXPECT_HELD(self->fd, 0, self->map_size);
	ASSERT_EQ(0, mmsb_page_unmap(self->hdr));
	self->hdr = NULL;
	EXPECT_HELD(self->fd, 0, 0);
}

TEST_F_TIMEOUT(unpin, subscription, 90)
{
	struct seen *s = self->seen;

	ASSERT_EQ(0, start_reader(self, 0));
	free_unmap(_metadata, self);
	ASSERT_EQ(1, write(self->go[1], "g", 1));
	EXPECT_EQ(0, wait_child(self->reader));
	self->reader = -1;
	EXPECT_EQ(POLLIN, s->ready & POLLIN);
	ASSERT_EQ(1, s->n);
	EXPECT_EQ(self->id, s->ev[0].page_id);
	EXPECT_EQ(MMSB_EVENT_FREED | 1, s->ev[0].epoch);
	EXPECT_EQ(-EAGAIN, s->again);
	EXPECT_EQ(0, s->ready_after);
	EXPECT_EQ(-ENOENT, s->resub);
}

TEST_F_TIMEOUT(unpin, uring_wait, 90)
{
	ASSERT_EQ(0, start_reader(self, 1));
	free_unmap(_metadata, self);
	ASSERT_EQ(1, write(self->go[1], "g", 1));
	EXPECT_EQ(0, wait_child(self->reader));
	self->reader = -1;
	EXPECT_EQ(-EIDRM, self->seen->res);
}

TEST_F_TIMEOUT(unpin, ioctl_wait, 90)
{
	ASSERT_EQ(0, start_reader(self, 2));
	ASSERT_EQ(0, sleeping_in_ioctl(self->reader, MMSB_IOC_WAIT));
	free_unmap(_metadata, self);
	EXPECT_EQ(0, wait_child(self->reader));
	self->reader = -1;
	EXPECT_EQ(-EIDRM, self->seen->res);
}

#define PCOUNT	4

/* What the parked writer saw. */
struct pseen {
	int step;
	int first, second;		/* the two calls' results */
	__u32 first_acc, second_acc;
	struct mmsb_delta d[PCOUNT];	/* after the second call */
	int first_status[PCOUNT];
};

FIXTURE(parked) {
	int fd;
	__u64 src, id, src_map;
	__u8 *mem;
	pid_t flusher, writer;
	struct pseen *seen;
	int go[2];
};

FIXTURE_SETUP(parked)
{
	struct mmsb_page_create pc;

	ASSERT_EQ(0, module_reload("ring_size=2 " BUSY_PARAMS));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, BUSY_BYTES, 0600, 0, &pc));
	self->src = pc.id;
	self->src_map = mmsb_page_map_size(BUSY_BYTES, page_size());
	ASSERT_EQ(0, mmsb_page_create(self->fd, SIZE, 0646, 0, &pc));
	self->id = pc.id;
	self->mem = busy_alloc();
	ASSERT_NE(NULL, self->mem);
	self->seen = mmap(NULL, sizeof(*self->seen), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->seen);
	memset(self->seen, 0, sizeof(*self->seen));
	ASSERT_EQ(0, pipe(self->go));
	self->flusher = -1;
	self->writer = -1;
}

FIXTURE_TEARDOWN(parked)
{
	if (self->writer > 0) {
		close(self->go[1]);
		wait_child(self->writer);
	}
	if (self->flusher > 0)
		EXPECT_EQ(0, wait_child(self->flusher));
	free(self->mem);
	free_all(self->fd);
	close(self->fd);
	munmap(self->seen, sizeof(*self->seen));
	EXPECT_EQ(0, module_reload(""));
}

static void on_usr1(int sig)
{
}

/* The writer: one SYNC call, interrupted, then the same call again. */
static void parked_writer(FIXTURE_DATA(parked) *self)
{
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */
	struct pseen *s = self->seen;
	struct mmsb_delta d[PCOUNT];
	__u8 bytes[PCOUNT] = { 1, 2, 3, 4 };
	char c;
	int fd, i;

	close(self->go[1]);
	if (setgid(READER) || setuid(READER))
		_exit(10);
	sigaction(SIGUSR1, &sa, NULL);
	fd = mmsb_open();
	if (fd < 0)
		_exit(11);
	for (i = 0; i < PCOUNT; i++)
		mmsb_delta_dense(&d[i], self->id, i, &bytes[i], 1);
	__atomic_store_n(&s->step, 1, __ATOMIC_RELEASE);
	s->first = mmsb_submit(fd, d, PCOUNT, MMSB_SUBMIT_SYNC,
			       &s->first_acc);
	for (i = 0; i < PCOUNT; i++)
		s->first_status[i] = d[i].status;
	__atomic_store_n(&s->step, 2, __ATOMIC_RELEASE);
	/* Parked, with the file open, until the parent's go. */
	if (read(self->go[0], &c, 1) < 0)
		_exit(13);
	s->second = mmsb_submit(fd, d, PCOUNT, MMSB_SUBMIT_SYNC,
				&s->second_acc);
	memcpy(s->d, d, sizeof(d));
	_exit(0);
}

TEST_F_TIMEOUT(parked, eintr, 120)
{
	struct pseen *s = self->seen;
	struct mmsb_delta two[2];
	__u32 acc = 0;
	int i;

	/* The long tick, and two deltas filling the ring behind it. */
	ASSERT_EQ(0, busy_start(self->fd, self->src, self->mem,
				&self->flusher));
	mmsb_delta_dense(&two[0], self->src, 0, self->mem, 1);
	mmsb_delta_dense(&two[1], self->src, 1, self->mem, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, two, 2, 0, &acc));
	ASSERT_EQ(2, acc);

	self->writer = fork();
	ASSERT_LE(0, self->writer);
	if (!self->writer)
		parked_writer(self);
	close(self->go[0]);
	ASSERT_EQ(0, sleeping_in_ioctl(self->writer, MMSB_IOC_SUBMIT));
	ASSERT_EQ(0, kill(self->writer, SIGUSR1));
	for (i = 0; i < 10000 && __atomic_load_n(&s->step,
						  __ATOMIC_ACQUIRE) < 2; i++)
		usleep(1000);
	ASSERT_EQ(2, s->step);
	EXPECT_EQ(-EINTR, s->first);
	EXPECT_EQ(0, s->first_acc);
	for (i = 0; i < PCOUNT; i++)
		EXPECT_EQ(-EINTR, s->first_status[i]) TH_LOG("delta %d", i);

	/* Freed while parked: only the long tick's page is left. */
	ASSERT_EQ(0, mmsb_page_free(self->fd, self->id));
	EXPECT_HELD(self->fd, 1, self->src_map);

	/* The same call again resumes the park. */
	ASSERT_EQ(1, write(self->go[1], "g", 1));
	EXPECT_EQ(0, wait_child(self->writer));
	self->writer = -1;
	EXPECT_EQ(0, s->second);
	EXPECT_EQ(0, s->second_acc);
	for (i = 0; i < PCOUNT; i++) {
		EXPECT_EQ(i < 2 ? -EIDRM : -ENOENT, s->d[i].status)
			TH_LOG("delta %d", i);
		EXPECT_EQ(0, s->d[i].delta_id);
	}
}

TEST_HARNESS_MAIN
