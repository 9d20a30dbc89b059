// SPDX-License-Identifier: GPL-2.0
/*
 * STATS counters while a submission is half done.  A submission reads
 * and queues its deltas chunk by chunk; a page fault in the middle (here
 * a userfaultfd that holds the payload of delta STALL) stops it with
 * some chunks queued, and perhaps applied, and the rest not read yet.
 *
 * stall.counted_first: while it is stalled, every delta applied so far
 * is counted in `submitted` (processed + conflicts <= submitted), and
 * the delta refused before the stall (its status -ENOENT is already in
 * the caller's array) is counted in `rejected`; once the fault is
 * resolved the totals are exact: N - 1 submitted, 1 rejected, N - 1
 * processed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "pages.h"

#define N	96	/* deltas of the submission */
#define LEN	1000	/* bytes of each: 64 KiB chunks hold 60 */
#define STALL	80	/* the delta whose payload faults: in chunk 2 */

FIXTURE(stall) {
	int fd, uffd;
	__u64 page;
	__u8 *payload;		/* N * LEN bytes */
	__u8 *held;		/* one page under userfaultfd */
	struct mmsb_delta d[N];
	int ret;
	__u32 accepted;
};

FIXTURE_SETUP(stall)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct mmsb_page_create pc;
	int i;

	self->uffd = -1;
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, N * LEN, 0600, 0, &pc));
	self->page = pc.id;
	self->uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	if (self->uffd < 0 && (errno == ENOSYS || errno == EPERM))
		SKIP(return, "no userfaultfd (%d)", errno);
	ASSERT_LE(0, self->uffd);
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_API, &api));
	self->held = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->held);
	reg.range.start = (__u64)(uintptr_t)self->held;
	reg.range.len = page_size();
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_REGISTER, &reg));
	self->payload = malloc(N * LEN);
	ASSERT_NE(NULL, self->payload);
	memset(self->payload, 0x33, N * LEN);
	for (i = 0; i < N; i++)
		mmsb_delta_dense(&self->d[i], self->page, i * LEN,
				 i == STALL ? self->held :
				 self->payload + i * LEN, LEN);
	/* Refused at once: no such page. */
	self->d[0].page_id = self->page + 1000000;
	self->d[0].status = 1;
}

FIXTURE_TEARDOWN(stall)
{
	free(self->payload);
	if (self->uffd >= 0) {
		munmap(self->held, page_size());
		close(self->uffd);
	}
	mmsb_page_free(self->fd, self->page);
	close(self->fd);
}

static void *submitter(void *arg)
{
	FIXTURE_DATA(stall) *self = arg;

	self->ret = mmsb_submit(self->fd, self->d, N, 0, &self->accepted);
	return NULL;
}

TEST_F(stall, counted_first)
{
	struct uffdio_copy copy = { 0 };
	struct pollfd pfd = { .fd = self->uffd, .events = POLLIN };
	struct mmsb_stats a, b, c;
	struct uffd_msg msg;
	pthread_t t;
	__u8 *fill;

	ASSERT_EQ(0, mmsb_stats(self->fd, &a));
	ASSERT_EQ(0, pthread_create(&t, NULL, submitter, self));
	/* It faults on delta STALL's payload and waits for us. */
	ASSERT_EQ(1, poll(&pfd, 1, 10000));
	ASSERT_EQ(sizeof(msg), read(self->uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);
	/* What it queued so far is applied by a tick. */
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_stats(self->fd, &b));
	EXPECT_EQ(-ENOENT, self->d[0].status);
	EXPECT_EQ(1, b.rejected - a.rejected);
	EXPECT_LT(0, b.processed - a.processed);
	EXPECT_LE(b.processed - a.processed + b.conflicts - a.conflicts,
		  b.submitted - a.submitted)
		TH_LOG("stalled: processed +%llu, submitted +%llu",
		       (unsigned long long)(b.processed - a.processed),
		       (unsigned long long)(b.submitted - a.submitted));
	EXPECT_GT(N - 1, b.submitted - a.submitted);

	/* Give it the page: it goes on and ends. */
	fill = aligned_alloc(page_size(), page_size());
	ASSERT_NE(NULL, fill);
	memset(fill, 0x44, page_size());
	copy.dst = (__u64)(uintptr_t)self->held;
	copy.src = (__u64)(uintptr_t)fill;
	copy.len = page_size();
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_COPY, &copy));
	ASSERT_EQ(0, pthread_join(t, NULL));
	free(fill);
	EXPECT_EQ(0, self->ret);
	EXPECT_EQ(N - 1, self->accepted);
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_stats(self->fd, &c));
	EXPECT_EQ(N - 1, c.submitted - a.submitted);
	EXPECT_EQ(1, c.rejected - a.rejected);
	EXPECT_EQ(N - 1, c.processed - a.processed);
}

TEST_HARNESS_MAIN
