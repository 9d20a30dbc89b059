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
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
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

TEST_HARNESS_MAIN
