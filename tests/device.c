// SPDX-License-Identifier: GPL-2.0
/*
 * The device: open, MMSB_IOC_VERSION, and the dispatcher's refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"

FIXTURE(device) {
	int fd;
};

FIXTURE_SETUP(device)
{
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %d", MMSB_DEVICE_PATH, self->fd);
}

FIXTURE_TEARDOWN(device)
{
	close(self->fd);
}

TEST_F(device, version)
{
	struct mmsb_version v;

	memset(&v, 0xa5, sizeof(v));
	ASSERT_EQ(0, ioctl(self->fd, MMSB_IOC_VERSION, &v));
	EXPECT_EQ(MMSB_ABI_VERSION, v.abi_version);
	EXPECT_EQ(0, v.pad);
	EXPECT_EQ(0, v.reserved[0]);
	EXPECT_EQ(0, v.reserved[1]);
	/* Every defined feature, and only those (bit 5 is not defined). */
	EXPECT_EQ(((MMSB_FEAT_GC << 1) - 1) | MMSB_FEAT_STREAM, v.features);
}

TEST_F(device, version_bad_pointer)
{
	ASSERT_EQ(-1, ioctl(self->fd, MMSB_IOC_VERSION, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(device, unknown_ioctl)
{
	char buf[256] = { 0 };

	ASSERT_EQ(-1, ioctl(self->fd, _IOWR(MMSB_IOC_MAGIC, 0x7f, buf), buf));
	EXPECT_EQ(ENOTTY, errno);
	/* A known number with the wrong argument size is not that command. */
	ASSERT_EQ(-1, ioctl(self->fd, _IOR(MMSB_IOC_MAGIC, 0x00, __u64), buf));
	EXPECT_EQ(ENOTTY, errno);
	ASSERT_EQ(-1, ioctl(self->fd, _IOR('X', 0x00, struct mmsb_version), buf));
	EXPECT_EQ(ENOTTY, errno);
}

/*
 * MMSB_IOC_STATS carries its own size: a program built against a shorter
 * (older) struct mmsb_stats gets what fits, and the kernel's size.
 */
TEST_F(device, stats_older_struct)
{
	struct {
		__u32 size;
		__u32 pad;
		__u64 tick;
		__u64 canary;
	} old = { .size = 16, .canary = 0x5a5a5a5a5a5a5a5aULL };

	ASSERT_EQ(0, ioctl(self->fd, _IOWR(MMSB_IOC_MAGIC, 0x14, old), &old));
	EXPECT_EQ(sizeof(struct mmsb_stats), old.size);
	EXPECT_EQ(0x5a5a5a5a5a5a5a5aULL, old.canary);

	old.size = 4;
	ASSERT_EQ(-1, ioctl(self->fd, _IOWR(MMSB_IOC_MAGIC, 0x14, old), &old));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(device, reopen_many)
{
	int i, fd;

	for (i = 0; i < 1000; i++) {
		fd = mmsb_open();
		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, close(fd));
	}
}

TEST_HARNESS_MAIN
