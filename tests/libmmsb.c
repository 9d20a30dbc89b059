// SPDX-License-Identifier: GPL-2.0
/*
 * libmmsb itself: mmsb_strerror() (mmsb's meanings, the C library's
 * otherwise), and the io_uring helpers' fallback to the ioctls.
 * mmsb_uring_try_init() gives a ring when io_uring may be used and NULL
 * with -EPERM when a seccomp filter or the sysctl
 * kernel.io_uring_disabled (6.6 on) forbids it; mmsb_submit_applied()
 * applies the same delta either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define URING_DISABLED	"/proc/sys/kernel/io_uring_disabled"

FIXTURE(libmmsb) {
	int fd;
	struct mmsb_page_create pc;
	const struct mmsb_page_header *hdr;
	char disabled[16];	/* the sysctl's value to put back, or "" */
};

FIXTURE_SETUP(libmmsb)
{
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 16, 0, 0, &self->pc));
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->pc.id, &self->hdr));
	self->disabled[0] = '\0';
}

FIXTURE_TEARDOWN(libmmsb)
{
	if (self->disabled[0])
		write_file(URING_DISABLED, self->disabled);
	mmsb_page_unmap(self->hdr);
	mmsb_page_free(self->fd, self->pc.id);
	close(self->fd);
}

/*
 * One delta writing @val at byte 3 through @ring (NULL: the ioctl):
 * applied on return, its status 0, the page one epoch further.
 */
static void submit_applied(struct __test_metadata *_metadata,
			   FIXTURE_DATA(libmmsb) *self, struct io_uring *ring,
			   __u8 val)
{
	const __u8 *data = (const __u8 *)self->hdr + MMSB_PAGE_DATA_OFFSET;
	__u64 epoch = self->hdr->epoch;
	struct mmsb_delta d;

	mmsb_delta_dense(&d, self->pc.id, 3, &val, 1);
	d.status = 1;
	ASSERT_EQ(1, mmsb_submit_applied(self->fd, ring, &d, 1));
	EXPECT_EQ(0, d.status);
	EXPECT_NE(0, d.delta_id);
	EXPECT_EQ(val, data[3]);
	EXPECT_EQ(epoch + 1, self->hdr->epoch);
	EXPECT_EQ(d.delta_id, self->hdr->last_delta_id);
}

TEST_F(libmmsb, strerror)
{
	struct mmsb_delta d;
	__u8 b = 1;

	EXPECT_STREQ("Page is not at the delta's expected epoch",
		     mmsb_strerror(-ESTALE));
	/* A positive errno means the same. */
	EXPECT_STREQ(mmsb_strerror(-ESTALE), mmsb_strerror(ESTALE));
	EXPECT_STREQ("Edge would be a self edge or close a cycle",
		     mmsb_strerror(-ELOOP));
	EXPECT_STREQ("Deltas were queued, but their results could not be written back (do not retry)",
		     mmsb_strerror(-ECOMM));
	/* No meaning of mmsb's own: the C library's words. */
	EXPECT_STREQ(strerror(EINVAL), mmsb_strerror(-EINVAL));
	EXPECT_STREQ(strerror(EPERM), mmsb_strerror(-EPERM));
	EXPECT_STREQ("Success", mmsb_strerror(0));
	EXPECT_STREQ("Unknown error", mmsb_strerror(-100000));

	/* What the kernel says of a stale delta, and of a self edge. */
	mmsb_delta_dense(&d, self->pc.id, 0, &b, 1);
	d.expected_epoch = 7;
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_STREQ("Page is not at the delta's expected epoch",
		     mmsb_strerror(d.status));
	EXPECT_STREQ("Edge would be a self edge or close a cycle",
		     mmsb_strerror(mmsb_edge_add(self->fd, self->pc.id,
						 self->pc.id,
						 MMSB_EDGE_PASSTHROUGH)));
}

/* io_uring allowed: the ring, and the delta goes through it. */
TEST_F(libmmsb, uring_try_init)
{
	struct io_uring ring;
	struct io_uring *r;
	int err = 1;

	r = mmsb_uring_try_init(self->fd, &ring, 4, 0, &err);
	ASSERT_EQ(&ring, r);
	EXPECT_EQ(0, err);
	submit_applied(_metadata, self, r, 0x5a);
	io_uring_queue_exit(r);
	/* NULL: the same through a SYNC ioctl. */
	submit_applied(_metadata, self, NULL, 0xa5);
}

/* A seccomp filter forbids io_uring_setup(): -EPERM, then the ioctl. */
TEST_F(libmmsb, uring_denied_seccomp)
{
	struct io_uring ring;
	int err = 0;

	err = deny_io_uring();
	if (err == -EINVAL)
		SKIP(return, "no seccomp filters (CONFIG_SECCOMP_FILTER)");
	ASSERT_EQ(0, err);
	EXPECT_EQ(-EPERM, mmsb_uring_init(self->fd, &ring, 4, 0));
	EXPECT_EQ(NULL, mmsb_uring_try_init(self->fd, &ring, 4, 0, &err));
	EXPECT_EQ(-EPERM, err);
	submit_applied(_metadata, self, NULL, 0x11);
	submit_applied(_metadata, self, NULL, 0x22);
}

/* kernel.io_uring_disabled=2: io_uring_setup() fails for everyone. */
TEST_F(libmmsb, uring_disabled_sysctl)
{
	struct io_uring ring;
	ssize_t n;
	int fd, err = 0;

	fd = open(URING_DISABLED, O_RDONLY);
	if (fd < 0 && errno == ENOENT)
		SKIP(return, "no sysctl kernel.io_uring_disabled (Linux 6.6 on)");
	ASSERT_LE(0, fd);
	n = read(fd, self->disabled, sizeof(self->disabled) - 1);
	close(fd);
	ASSERT_LT(0, n);
	self->disabled[n] = '\0';
	ASSERT_EQ(0, write_file(URING_DISABLED, "2"));

	EXPECT_EQ(NULL, mmsb_uring_try_init(self->fd, &ring, 4, 0, &err));
	EXPECT_EQ(-EPERM, err);
	submit_applied(_metadata, self, NULL, 0x33);

	/* Allowed again: a ring again. */
	ASSERT_EQ(0, write_file(URING_DISABLED, self->disabled));
	self->disabled[0] = '\0';
	ASSERT_EQ(&ring, mmsb_uring_try_init(self->fd, &ring, 4, 0, &err));
	submit_applied(_metadata, self, &ring, 0x44);
	io_uring_queue_exit(&ring);
}

TEST_HARNESS_MAIN
