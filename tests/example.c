// SPDX-License-Identifier: GPL-2.0
/*
 * examples/mmsb-hello.c, the program the documentation shows, run as
 * installed (from $PATH, /bin in the guest; make check's install stage
 * puts there the one it built with pkg-config against the staged
 * install): its exact output with io_uring, and with io_uring denied
 * (the ioctl does it; a seccomp filter denies it, or the sysctl
 * kernel.io_uring_disabled on a kernel without seccomp filters), and the
 * page it made is gone after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

/* Run mmsb-hello; its stdout in @out; returns its exit status. */
static int hello(char *out, size_t size)
{
	int fds[2], status;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		execlp("mmsb-hello", "mmsb-hello", NULL);
		_exit(127);
	}
	close(fds[1]);
	while (n < size - 1 && (r = read(fds[0], out + n, size - 1 - n)) > 0)
		n += r;
	out[n] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Its output with the page id it printed; the page must be gone. */
static void check(struct __test_metadata *_metadata, const char *out,
		  const char *path)
{
	struct mmsb_page_info info;
	char want[256];
	unsigned long long id;
	const char *p;
	int fd;

	p = strstr(out, "page ");
	ASSERT_NE(NULL, p);
	id = strtoull(p + 5, NULL, 10);
	snprintf(want, sizeof(want), "mmsb ABI %d\n1 delta applied through %s\n"
		 "page %llu epoch 1: hello, mmsb!\n", MMSB_ABI_VERSION, path,
		 id);
	EXPECT_STREQ(want, out);
	fd = mmsb_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOENT, mmsb_page_info(fd, id, &info));
	close(fd);
}

#define URING_DISABLED	"/proc/sys/kernel/io_uring_disabled"

FIXTURE(example) {
	char disabled[16];	/* the sysctl's value to put back, or "" */
};

FIXTURE_SETUP(example)
{
	self->disabled[0] = '\0';
}

FIXTURE_TEARDOWN(example)
{
	int fd;

	if (!self->disabled[0])
		return;
	fd = open(URING_DISABLED, O_WRONLY);
	if (fd >= 0) {
		write(fd, self->disabled, strlen(self->disabled));
		close(fd);
	}
}

TEST_F(example, hello_uring)
{
	char out[512];

	ASSERT_EQ(0, hello(out, sizeof(out)));
	check(_metadata, out, "io_uring");
}

TEST_F(example, hello_without_uring)
{
	char out[512];
	ssize_t n;
	int fd, ret;

	/* Inherited by mmsb-hello across fork and exec. */
	ret = deny_io_uring();
	if (ret) {
		/*
		 * No seccomp filters (the debug kernel): the sysctl, which
		 * that kernel has, gives the same -EPERM.
		 */
		ASSERT_EQ(-EINVAL, ret);
		fd = open(URING_DISABLED, O_RDWR);
		ASSERT_LE(0, fd);
		n = read(fd, self->disabled, sizeof(self->disabled) - 1);
		ASSERT_LT(0, n);
		self->disabled[n] = '\0';
		ASSERT_EQ(1, pwrite(fd, "2", 1, 0));
		close(fd);
	}
	ASSERT_EQ(0, hello(out, sizeof(out)));
	check(_metadata, out, "ioctl (io_uring: Operation not permitted)");
}

TEST_HARNESS_MAIN
