// SPDX-License-Identifier: LGPL-2.1 OR MIT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>

#include "libmmsb.h"

static int mmsb_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int mmsb_open(void)
{
	int fd = open(MMSB_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int mmsb_version(int fd, struct mmsb_version *v)
{
	memset(v, 0, sizeof(*v));
	return mmsb_ioctl(fd, MMSB_IOC_VERSION, v);
}
