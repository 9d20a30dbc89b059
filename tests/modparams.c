// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters: out-of-range values make the load fail with
 * -EINVAL; accepted values show in /sys/module/mmsb/parameters, where
 * every one is read-only.
 * Each test reloads mmsb.ko (/mmsb/mmsb.ko in the test guest) and leaves
 * it loaded with defaults.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "pages.h"

#define PARAM_DIR	"/sys/module/mmsb/parameters/"

static int param(const char *name, char *buf, size_t len)
{
	char path[128];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

FIXTURE(modparams) {
	int unused;
};

FIXTURE_VARIANT(modparams) {
	const char *params;
	int expected;
};

FIXTURE_VARIANT_ADD(modparams, ring_size_zero) { "ring_size=0", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, ring_size_huge) { "ring_size=4294967295", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, ring_size_not_a_number) { "ring_size=lots", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, budget_too_small) { "tick_budget_us=1", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, page_size_zero) { "max_page_size=0", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, gc_threshold_101) { "gc_threshold=101", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, gc_batch_zero) { "gc_batch_pages=0", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, workers_too_many) { "workers=100000", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, mem_limit_zero) { "mem_limit_mb=0", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, buses_zero) { "buses=0", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, buses_too_many) { "buses=65", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, uring_wait_ms_zero) { "uring_wait_ms=0", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, uring_wait_ms_over) { "uring_wait_ms=240001", -EINVAL };
FIXTURE_VARIANT_ADD(modparams, accepted) { "ring_size=1000 tick_us=0 workers=2 uring_wait_ms=1234", 0 };

FIXTURE_SETUP(modparams)
{
	int ret = module_unload();

	ASSERT_TRUE(ret == 0 || ret == -ENOENT) TH_LOG("unload: %d", ret);
}

FIXTURE_TEARDOWN(modparams)
{
	EXPECT_EQ(0, module_reload(""));
}

TEST_F(modparams, load)
{
	char buf[64];

	ASSERT_EQ(variant->expected, module_load(variant->params));
	if (variant->expected) {
		/* Nothing of a refused load may stay behind. */
		EXPECT_EQ(-ENOENT, param("ring_size", buf, sizeof(buf)));
		return;
	}
	ASSERT_EQ(0, param("ring_size", buf, sizeof(buf)));
	EXPECT_STREQ("1000\n", buf);
	ASSERT_EQ(0, param("tick_us", buf, sizeof(buf)));
	EXPECT_STREQ("0\n", buf);
	ASSERT_EQ(0, param("workers", buf, sizeof(buf)));
	EXPECT_STREQ("2\n", buf);
	ASSERT_EQ(0, param("uring_wait_ms", buf, sizeof(buf)));
	EXPECT_STREQ("1234\n", buf);
	EXPECT_EQ(0, access("/dev/mmsb", R_OK | W_OK));
}

/*
 * Every parameter is read-only once loaded (0444, so root cannot open
 * it for writing either: -EACCES), uring_wait_ms included, and each is
 * a setting: the count of io_uring commands in flight is no parameter
 * (it is in debugfs' stats).
 */
TEST(read_only)
{
	char path[512];
	struct dirent *e;
	struct stat st;
	unsigned int n = 0;
	DIR *dir;
	int fd;

	dir = opendir(PARAM_DIR);
	ASSERT_NE(NULL, dir);
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PARAM_DIR "%s", e->d_name);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0444, st.st_mode & 0777) TH_LOG("%s", e->d_name);
		fd = open(path, O_WRONLY);
		EXPECT_EQ(-1, fd) TH_LOG("%s opened for writing", e->d_name);
		EXPECT_EQ(EACCES, errno);
		if (fd >= 0)
			close(fd);
		n++;
	}
	closedir(dir);
	EXPECT_LE(12, n);
	EXPECT_EQ(-1, access(PARAM_DIR "uring_inflight", F_OK));
}

TEST_HARNESS_MAIN
