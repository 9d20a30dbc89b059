// SPDX-License-Identifier: GPL-2.0
/*
 * Memory cgroups: what a process makes mmsb allocate is charged to its
 * cgroup, so a container cannot hold kernel memory past its memory.max
 * through mmsb, and the charge leaves with the memory.
 *
 * The guest mounts cgroup2 here if nothing did; each test makes its own
 * child cgroup with the memory controller and removes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define MIB		(1024 * 1024ULL)
#define CG_MAX_MIB	32	/* memory.max of the test's cgroup */
#define PAGES_MAX	64	/* what the child tries: twice the limit */

FIXTURE(memcg) {
	char dir[64];
	char current[96];
	int fd;
};

FIXTURE_SETUP(memcg)
{
	char path[128];

	self->fd = -1;
	self->dir[0] = 0;
	/*
	 * mmsb's own limit, 1 GiB, stays out of the way; no tick runs
	 * unless asked for, so queued deltas stay queued.
	 */
	ASSERT_EQ(0, module_reload("mem_limit_mb=1024 tick_us=0"));
	if (access(CG_ROOT "/cgroup.controllers", F_OK))
		ASSERT_EQ(0, mount("none", CG_ROOT, "cgroup2", 0, NULL));
	ASSERT_EQ(0, write_file(CG_ROOT "/cgroup.subtree_control", "+memory"));
	snprintf(self->dir, sizeof(self->dir), CG_ROOT "/mmsb-%d", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	snprintf(path, sizeof(path), "%s/memory.max", self->dir);
	snprintf(self->current, sizeof(self->current), "%s/memory.current",
		 self->dir);
	ASSERT_EQ(0, write_file(path, "32M"));
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(memcg)
{
	if (self->fd >= 0) {
		free_all(self->fd);
		close(self->fd);
	}
	if (self->dir[0])
		rmdir(self->dir);
}

/*
 * In a child: move into cgroup @dir and open mmsb.  Returns the fd, or
 * -254 (could not join) or -253 (no fd): the child's exit statuses.
 */
static int join_and_open(const char *dir)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if (write_file(path, "0"))
		return -254;
	fd = mmsb_open();
	return fd < 0 ? -253 : fd;
}

/*
 * In the cgroup: create pages of 1 MiB until a create fails or
 * PAGES_MAX were made.  Exit status: pages created, or 255 if a create
 * failed with anything but ENOMEM.
 */
static int child_creates(const char *dir)
{
	struct mmsb_page_create pc;
	int fd = join_and_open(dir), n;

	if (fd < 0)
		return -fd;
	for (n = 0; n < PAGES_MAX; n++) {
		if (mmsb_page_create(fd, MIB - MMSB_PAGE_DATA_OFFSET, 0644, 0,
				     &pc))
			return errno == ENOMEM ? n : 255;
	}
	return n;
}

/*
 * Pages are charged to their creator's cgroup: a process limited to
 * 32 MiB makes the kernel hold at most about that much in mmsb pages,
 * and its next create fails with -ENOMEM (not the cgroup's OOM killer).
 * The pages outlive the process, charged to the cgroup, until freed.
 */
TEST_F(memcg, pages_charged_to_creator)
{
	long long cur, before = read_ll(self->current);
	__u64 pages, bytes;
	int status, made;
	pid_t pid;

	ASSERT_GE(before, 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(child_creates(self->dir));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child: status %#x", status);
	made = WEXITSTATUS(status);
	ASSERT_GT(253, made) TH_LOG("child failed: %d", made);
	/* Before: 64 pages, 64 MiB held, the cgroup charged nothing. */
	EXPECT_GT(CG_MAX_MIB, made);
	EXPECT_LE(CG_MAX_MIB / 2, made);
	ASSERT_EQ(0, held(self->fd, &pages, &bytes));
	EXPECT_EQ(made, pages);
	EXPECT_EQ(made * MIB, bytes);

	/* The process is gone; its pages are still the cgroup's. */
	cur = read_ll(self->current);
	EXPECT_LE((long long)(made * MIB), cur - before)
		TH_LOG("memory.current %lld for %d MiB of pages", cur, made);
	EXPECT_GE((long long)(CG_MAX_MIB * MIB), cur);

	/* Freed and reclaimed, the charge goes with the memory. */
	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
	cur = read_ll(self->current);
	EXPECT_GT((long long)MIB, cur)
		TH_LOG("memory.current %lld after the pages went", cur);
}

/*
 * In the cgroup: queue 4 KiB deltas on @page, 256 a call, until one is
 * refused or PAGES_MAX MiB were queued.  Exit status: MiB queued, or 255
 * if a delta was refused with anything but ENOMEM.
 */
static int child_queues(const char *dir, __u64 page)
{
	static struct mmsb_delta d[256];
	static char payload[4096];
	int fd = join_and_open(dir), i, calls;

	if (fd < 0)
		return -fd;
	for (calls = 0; calls < PAGES_MAX; calls++) {
		for (i = 0; i < 256; i++)
			mmsb_delta_dense(&d[i], page, 0, payload,
					 sizeof(payload));
		if (mmsb_submit(fd, d, 256, 0, NULL))
			return 252;
		for (i = 0; i < 256; i++)
			if (d[i].status)
				return d[i].status == -ENOMEM ? calls : 255;
	}
	return calls;
}

/*
 * Queued deltas are charged to the submitter's cgroup too: with no tick
 * to apply them, a process limited to 32 MiB queues less than that, its
 * next delta is refused with -ENOMEM, and once a tick applied them the
 * charge goes (but for what the chunk pool keeps for reuse: a pooled
 * chunk stays charged to the cgroup that allocated it, as a slab object
 * does; up to 8 MiB a size while the bus is busy, 1 MiB a size once it
 * has been idle for 1 s).
 */
TEST_F(memcg, queued_deltas_charged_to_submitter)
{
	long long cur, before = read_ll(self->current);
	struct mmsb_page_create pc;
	struct mmsb_stats st;
	int status, mib, i;
	pid_t pid;

	ASSERT_GE(before, 0);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 4096, 0666, 0, &pc));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(child_queues(self->dir, pc.id));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child: status %#x", status);
	mib = WEXITSTATUS(status);
	ASSERT_GT(252, mib) TH_LOG("child failed: %d", mib);
	/* Before: all 64 calls (64 MiB of payload) went in uncharged. */
	EXPECT_GT(CG_MAX_MIB, mib);
	EXPECT_LE(CG_MAX_MIB / 2, mib);
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_LE((__u64)mib * MIB, st.delta_bytes);
	cur = read_ll(self->current);
	EXPECT_LE((long long)st.delta_bytes, cur - before)
		TH_LOG("memory.current %lld for %llu delta bytes", cur,
		       (unsigned long long)st.delta_bytes);

	/*
	 * A tick takes batch_max deltas at most and stops at its budget,
	 * maybe within a chunk, whose bytes stay until it is done.
	 */
	for (i = 0; i < 1000; i++) {
		ASSERT_EQ(0, mmsb_flush(self->fd));
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		if (!st.ring_depth && !st.delta_bytes)
			break;
	}
	EXPECT_EQ(0, st.ring_depth);
	EXPECT_EQ(0, st.delta_bytes);
	/* The pool is given back 1 s after the last take: wait 4 s. */
	for (i = 0; i < 400; i++) {
		cur = read_ll(self->current);
		if (cur <= 2 * MIB)
			break;
		usleep(10 * 1000);
	}
	EXPECT_GE((long long)(2 * MIB), cur)
		TH_LOG("memory.current %lld once the deltas went", cur);
}

TEST_HARNESS_MAIN
