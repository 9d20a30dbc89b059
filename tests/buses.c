// SPDX-License-Identifier: GPL-2.0
/*
 * Several buses in one module (the buses parameter): /dev/mmsb is bus 0,
 * /dev/mmsb1 ... bus N-1, and they share nothing: ids, bytes, epochs,
 * the memory limit, statistics, debugfs.  The fixture reloads mmsb.ko
 * with buses=3 and leaves it loaded with defaults.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/mmsb.h>

#include "kselftest_harness.h"
#include "pages.h"

#define NR_BUSES	3
#define LIMIT_MB	1	/* per bus */

static const char *const bus_path[NR_BUSES] = {
	"/dev/mmsb", "/dev/mmsb1", "/dev/mmsb2",
};

FIXTURE(buses) {
	int fd[NR_BUSES];
};

FIXTURE_SETUP(buses)
{
	int i;

	ASSERT_EQ(0, module_reload("buses=3 mem_limit_mb=1 tick_us=0"));
	for (i = 0; i < NR_BUSES; i++) {
		self->fd[i] = open(bus_path[i], O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, self->fd[i]) TH_LOG("%s: %s", bus_path[i],
						 strerror(errno));
	}
}

FIXTURE_TEARDOWN(buses)
{
	int i;

	for (i = 0; i < NR_BUSES; i++)
		if (self->fd[i] >= 0)
			close(self->fd[i]);
	EXPECT_EQ(0, module_reload(""));
}

static int create(int fd, __u64 size, struct mmsb_page_create *pc)
{
	*pc = (struct mmsb_page_create){ .size = size, .mode = 0600 };
	return ioctl_err(fd, MMSB_IOC_PAGE_CREATE, pc);
}

/* One SYNC DENSE delta of @len bytes of @byte at @off. */
static int write_sync(int fd, __u64 id, __u64 off, __u64 len, int byte,
		      struct mmsb_delta *d)
{
	static unsigned char buf[4096];
	struct mmsb_submit s = {
		.deltas = (__u64)(uintptr_t)d,
		.count = 1,
		.flags = MMSB_SUBMIT_SYNC,
	};

	memset(buf, byte, len);
	*d = (struct mmsb_delta){
		.page_id = id,
		.offset = off,
		.len = len,
		.payload = (__u64)(uintptr_t)buf,
		.payload_len = len,
		.encoding = MMSB_DELTA_DENSE,
	};
	if (ioctl(fd, MMSB_IOC_SUBMIT, &s))
		return -errno;
	return s.accepted == 1 ? d->status : -EPROTO;
}

static int stats(int fd, struct mmsb_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl_err(fd, MMSB_IOC_STATS, st);
}

TEST_F(buses, only_as_many_as_asked)
{
	struct stat sb;

	ASSERT_EQ(-1, stat("/dev/mmsb3", &sb));
	EXPECT_EQ(ENOENT, errno);
}

/* Each bus hands out its own ids, from 1, and knows only its own. */
TEST_F(buses, ids_are_per_bus)
{
	struct mmsb_page_create pc[NR_BUSES], extra;
	struct mmsb_page_info info = { 0 };
	int i;

	for (i = 0; i < NR_BUSES; i++) {
		ASSERT_EQ(0, create(self->fd[i], 64, &pc[i]));
		EXPECT_EQ(1, pc[i].id);
	}
	ASSERT_EQ(0, create(self->fd[1], 64, &extra));
	EXPECT_EQ(2, extra.id);
	info.id = extra.id;
	EXPECT_EQ(0, ioctl_err(self->fd[1], MMSB_IOC_PAGE_INFO, &info));
	EXPECT_EQ(-ENOENT, ioctl_err(self->fd[0], MMSB_IOC_PAGE_INFO, &info));
	EXPECT_EQ(-ENOENT, ioctl_err(self->fd[2], MMSB_IOC_PAGE_INFO, &info));
	/* Freeing bus 1's page 2 does not touch anyone's page 1. */
	EXPECT_EQ(0, mmsb_page_free(self->fd[1], extra.id));
	EXPECT_EQ(-ENOENT, mmsb_page_free(self->fd[1], extra.id));
	for (i = 0; i < NR_BUSES; i++) {
		info.id = 1;
		EXPECT_EQ(0, ioctl_err(self->fd[i], MMSB_IOC_PAGE_INFO, &info));
	}
}

/* A delta changes its bus's page, epoch and statistics, nothing else. */
TEST_F(buses, bytes_and_epochs_are_per_bus)
{
	long psz = page_size();
	struct mmsb_page_create pc[NR_BUSES];
	struct mmsb_page_info info;
	struct mmsb_stats st;
	struct mmsb_delta d;
	const unsigned char *m[NR_BUSES];
	int i;

	for (i = 0; i < NR_BUSES; i++) {
		ASSERT_EQ(0, create(self->fd[i], 256, &pc[i]));
		m[i] = mmap(NULL, psz, PROT_READ, MAP_SHARED, self->fd[i],
			    pc[i].mmap_offset);
		ASSERT_NE(MAP_FAILED, m[i]);
	}
	ASSERT_EQ(0, write_sync(self->fd[1], 1, 16, 8, 0xab, &d));
	EXPECT_EQ(1, d.epoch);
	ASSERT_EQ(0, write_sync(self->fd[2], 1, 0, 4, 0xcd, &d));
	ASSERT_EQ(0, write_sync(self->fd[2], 1, 0, 4, 0xce, &d));
	EXPECT_EQ(2, d.epoch);

	for (i = 0; i < NR_BUSES; i++) {
		const unsigned char *data = m[i] + MMSB_PAGE_DATA_OFFSET;
		const struct mmsb_page_header *hdr = (const void *)m[i];
		unsigned char want[256] = { 0 };

		if (i == 1)
			memset(want + 16, 0xab, 8);
		if (i == 2)
			memset(want, 0xce, 4);
		EXPECT_EQ(0, memcmp(want, data, sizeof(want)))
			TH_LOG("bus %d holds another bus's bytes", i);
		EXPECT_EQ((__u64)i, hdr->epoch);
		info = (struct mmsb_page_info){ .id = 1 };
		ASSERT_EQ(0, ioctl_err(self->fd[i], MMSB_IOC_PAGE_INFO, &info));
		EXPECT_EQ((__u64)i, info.epoch);
		ASSERT_EQ(0, stats(self->fd[i], &st));
		EXPECT_EQ((__u64)i, st.processed);
		EXPECT_EQ(1, st.pages);
		munmap((void *)m[i], psz);
	}
}

/* The memory limit is each bus's own: a full bus leaves the others room. */
TEST_F(buses, limits_are_per_bus)
{
	__u64 size = (LIMIT_MB << 20) / 2;
	struct mmsb_page_create pc;
	int n = 0;

	while (!create(self->fd[1], size, &pc))
		ASSERT_GT(8, ++n);
	EXPECT_EQ(-ENOMEM, create(self->fd[1], size, &pc));
	EXPECT_LT(0, n);
	/* As much room on bus 0 and bus 2 as on an empty bus 1. */
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(0, create(self->fd[0], size, &pc));
		EXPECT_EQ(0, create(self->fd[2], size, &pc));
	}
	EXPECT_EQ(-ENOMEM, create(self->fd[0], size, &pc));
}

/* Each bus has its own debugfs directory, named after its device. */
TEST_F(buses, debugfs_per_bus)
{
	struct mmsb_page_create pc;
	char buf[4096];
	ssize_t n;
	int fd;

	ASSERT_EQ(0, create(self->fd[2], 64, &pc));
	fd = open("/sys/kernel/debug/mmsb2/stats", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT &&
	    access("/sys/kernel/debug/mmsb", F_OK))
		SKIP(return, "debugfs is not mounted");
	ASSERT_LE(0, fd);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	EXPECT_NE(NULL, strstr(buf, "pages: 1\n")) TH_LOG("%s", buf);
	fd = open("/sys/kernel/debug/mmsb1/stats", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	EXPECT_NE(NULL, strstr(buf, "pages: 0\n")) TH_LOG("%s", buf);
}

/* Run "mmsbctl ARGS" in a shell; its stdout in @out, its exit status. */
static int run_mmsbctl(const char *args, char *out, size_t size)
{
	char cmd[128];
	size_t n;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "mmsbctl %s 2>/dev/null", args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* mmsbctl --bus N talks to /dev/mmsbN, and only to it. */
TEST_F(buses, mmsbctl_bus)
{
	char out[256];

	ASSERT_EQ(0, run_mmsbctl("--bus 2 create 64", out, sizeof(out)));
	EXPECT_STREQ("1\n", out);
	EXPECT_EQ(0, run_mmsbctl("--bus 2 info 1", out, sizeof(out)));
	EXPECT_EQ(0, run_mmsbctl("info 1 --bus 2", out, sizeof(out)));
	/* Bus 0 and bus 1 have no page 1. */
	EXPECT_EQ(1, run_mmsbctl("info 1", out, sizeof(out)));
	EXPECT_EQ(1, run_mmsbctl("--bus 1 info 1", out, sizeof(out)));
	/* No bus 3; a bus that is no number is a usage error. */
	EXPECT_EQ(1, run_mmsbctl("--bus 3 version", out, sizeof(out)));
	EXPECT_EQ(2, run_mmsbctl("--bus two version", out, sizeof(out)));
}

/* Unload with pages, mappings gone and deltas applied on every bus. */
TEST_F(buses, unload_with_every_bus_busy)
{
	struct mmsb_page_create pc;
	struct mmsb_delta d;
	int i;

	for (i = 0; i < NR_BUSES; i++) {
		ASSERT_EQ(0, create(self->fd[i], 4096, &pc));
		ASSERT_EQ(0, write_sync(self->fd[i], pc.id, 0, 64, i + 1, &d));
		close(self->fd[i]);
		self->fd[i] = -1;
	}
	EXPECT_EQ(0, module_unload());
	EXPECT_EQ(0, module_load("buses=2"));
	self->fd[1] = open("/dev/mmsb1", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd[1]);
	ASSERT_EQ(0, create(self->fd[1], 64, &pc));
	EXPECT_EQ(1, pc.id);
}

TEST_HARNESS_MAIN
