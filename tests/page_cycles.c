// SPDX-License-Identifier: GPL-2.0
/*
 * 10,000 create/map/read/unmap/free cycles, and every byte of the
 * accounting back at the end.  A program of its own: on the debug
 * kernel under TCG a cycle costs about as much as an anonymous
 * mmap+touch+munmap (about a million guest instructions, mostly
 * vmalloc/vfree and the mm under KASAN and lockdep), so this alone
 * takes a minute or two there.
 */
#include <time.h>

#include "kselftest_harness.h"
#include "pages.h"

FIXTURE(cycles) {
	int fd;
};

FIXTURE_SETUP(cycles)
{
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %d", MMSB_DEVICE_PATH, self->fd);
	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
}

FIXTURE_TEARDOWN(cycles)
{
	free_all(self->fd);
	close(self->fd);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* @n create/map/read/unmap/free cycles; 0 or the failed step. */
static int cycles(int n)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	__u64 last = 0;
	int fd = mmsb_open(), i;

	if (fd < 0)
		return 1;
	for (i = 0; i < n; i++) {
		/* One frame each: the sizes test covers bigger pages. */
		if (mmsb_page_create(fd, 1 + i % 4000, 0, 0, &pc))
			return 2;
		if (pc.id <= last)
			return 3;
		last = pc.id;
		if (map_page(fd, &pc, &hdr))
			return 4;
		if (hdr->id != pc.id || hdr->size != 1 + i % 4000)
			return 5;
		if (mmsb_page_unmap(hdr) || mmsb_page_free(fd, pc.id))
			return 6;
	}
	close(fd);
	return 0;
}

/*
 * 10,000 cycles, split over two processes so that both vCPUs work and
 * creates and frees of the two interleave; every byte comes back.
 */
TEST_F_TIMEOUT(cycles, cycles_10000, 280)
{
	double t0 = now_ms();
	pid_t pid[2];
	int i;

	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		ASSERT_GE(pid[i], 0);
		if (!pid[i])
			_exit(cycles(5000));
	}
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, wait_child(pid[i])) TH_LOG("worker %d", i);
	EXPECT_HELD(self->fd, 0, 0);
	TH_LOG("10000 create/map/unmap/free cycles in %.0f ms", now_ms() - t0);
}

TEST_HARNESS_MAIN
