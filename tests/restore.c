// SPDX-License-Identifier: GPL-2.0
/*
 * What snapshots and replication rebuild a bus with: MMSB_PAGE_RESTORE
 * (a page created with a given id, first epoch and first data) and
 * MMSB_IOC_EDGE_LIST (a page's outgoing edges in one cut, by @to
 * ascending), each errno exact.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

FIXTURE(restore) {
	int fd;
	__u64 last;	/* the highest id handed out so far */
};

FIXTURE_SETUP(restore)
{
	struct mmsb_page_create pc;

	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0, 0, &pc));
	self->last = pc.id;
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
}

FIXTURE_TEARDOWN(restore)
{
	free_all(self->fd);
	close(self->fd);
}

/*
 * A restored page has the id, epoch, bytes, size, mode and flags asked
 * for, in PAGE_INFO and in its mapping; the next plain create continues
 * after its id, and the next tick moves its epoch by one.
 */
TEST_F(restore, id_epoch_data)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc, next;
	struct mmsb_page_info in;
	__u8 data[300], got[300];
	struct mmsb_delta d;
	__u64 id = self->last + 10, epoch;
	int i;

	for (i = 0; i < 300; i++)
		data[i] = i * 7 + 1;
	ASSERT_EQ(0, mmsb_page_restore(self->fd, id, 300, 0640,
				       MMSB_PAGE_EVICTABLE, 41, data, &pc));
	EXPECT_EQ(id, pc.id);
	EXPECT_EQ(id * page_size(), pc.mmap_offset);
	ASSERT_EQ(0, mmsb_page_info(self->fd, id, &in));
	EXPECT_EQ(41, in.epoch);
	EXPECT_EQ(300, in.size);
	EXPECT_EQ(0640, in.mode);
	EXPECT_EQ(MMSB_PAGE_EVICTABLE, in.flags);
	EXPECT_EQ(0, in.last_delta_id);
	ASSERT_EQ(0, mmsb_page_map(self->fd, id, &hdr));
	EXPECT_EQ(id, hdr->id);
	EXPECT_EQ(MMSB_HDR_LIVE, hdr->flags);
	ASSERT_EQ(0, mmsb_page_read(hdr, 0, got, 300, &epoch));
	EXPECT_EQ(41, epoch);
	EXPECT_EQ(0, memcmp(data, got, 300));

	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0, 0, &next));
	EXPECT_EQ(id + 1, next.id);

	mmsb_delta_dense(&d, id, 299, "z", 1);
	d.expected_epoch = 41;
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_EQ(0, d.status);
	EXPECT_EQ(42, d.epoch);
	EXPECT_EQ(42, hdr->epoch);
	EXPECT_EQ('z', ((const __u8 *)hdr)[MMSB_PAGE_DATA_OFFSET + 299]);
	EXPECT_EQ(0, mmsb_page_unmap(hdr));
}

/* @data 0 restores zeroes; epoch 0 is a first epoch like any other. */
TEST_F(restore, zero_data)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	struct mmsb_page_info in;
	__u8 got[100], zero[100] = { 0 };
	__u64 epoch = 1;

	ASSERT_EQ(0, mmsb_page_restore(self->fd, self->last + 1, 100, 0, 0, 0,
				       NULL, &pc));
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &hdr));
	ASSERT_EQ(0, mmsb_page_read(hdr, 0, got, 100, &epoch));
	EXPECT_EQ(0, epoch);
	EXPECT_EQ(0, memcmp(zero, got, 100));
	EXPECT_EQ(0, mmsb_page_unmap(hdr));
	/* Mode 0 is MMSB_PAGE_MODE_DEFAULT, as for a create. */
	ASSERT_EQ(0, mmsb_page_info(self->fd, pc.id, &in));
	EXPECT_EQ(MMSB_PAGE_MODE_DEFAULT, in.mode);
	EXPECT_EQ(0, in.flags);
}

/*
 * Ids are never reused: the last id handed out, a lower one and one
 * freed already are -EEXIST, and nothing is held afterwards.
 */
TEST_F(restore, eexist)
{
	struct mmsb_page_create pc;
	__u8 b = 1;

	EXPECT_EQ(-EEXIST, mmsb_page_restore(self->fd, self->last, 64, 0, 0,
					     1, &b, &pc));
	EXPECT_EQ(-EEXIST, mmsb_page_restore(self->fd, 1, 64, 0, 0, 1, &b,
					     &pc));
	ASSERT_EQ(0, mmsb_page_restore(self->fd, self->last + 5, 64, 0, 0, 1,
				       &b, &pc));
	EXPECT_EQ(-EEXIST, mmsb_page_restore(self->fd, self->last + 5, 64, 0,
					     0, 1, &b, &pc));
	EXPECT_EQ(-EEXIST, mmsb_page_restore(self->fd, self->last + 3, 64, 0,
					     0, 1, &b, &pc));
	ASSERT_EQ(0, mmsb_page_free(self->fd, self->last + 5));
	EXPECT_EQ(-EEXIST, mmsb_page_restore(self->fd, self->last + 5, 64, 0,
					     0, 1, &b, &pc));
	EXPECT_HELD(self->fd, 0, 0);
}

/*
 * Bad arguments: id 0 or past the largest id, a size of 0 or past
 * max_page_size, an unknown flag, @epoch or @data without
 * MMSB_PAGE_RESTORE: -EINVAL, and the id stays free.
 */
TEST_F(restore, einval)
{
	struct mmsb_page_create pc = { 0 };
	__u64 id = self->last + 1;

	EXPECT_EQ(-EINVAL, mmsb_page_restore(self->fd, 0, 64, 0, 0, 1, NULL,
					     &pc));
	EXPECT_EQ(-EINVAL, mmsb_page_restore(self->fd, 1ULL << 62, 64, 0, 0,
					     1, NULL, &pc));
	EXPECT_EQ(-EINVAL, mmsb_page_restore(self->fd, id, 0, 0, 0, 1, NULL,
					     &pc));
	EXPECT_EQ(-EINVAL, mmsb_page_restore(self->fd, id, MAX_PAGE_SIZE + 1,
					     0, 0, 1, NULL, &pc));
	EXPECT_EQ(-EINVAL, mmsb_page_restore(self->fd, id, 64, 01000, 0, 1,
					     NULL, &pc));
	EXPECT_EQ(-EINVAL, mmsb_page_restore(self->fd, id, 64, 0, 1U << 9, 1,
					     NULL, &pc));
	pc = (struct mmsb_page_create){ .size = 64, .epoch = 3 };
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_PAGE_CREATE, &pc));
	pc = (struct mmsb_page_create){ .size = 64, .data = 8 };
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_PAGE_CREATE, &pc));
	EXPECT_HELD(self->fd, 0, 0);
	ASSERT_EQ(0, mmsb_page_restore(self->fd, id, 64, 0, 0, 1, NULL, &pc));
}

/*
 * @data not readable: -EFAULT, nothing held, the id not taken (the
 * bytes are copied before the id is), so a retry with it works.
 */
TEST_F(restore, efault)
{
	struct mmsb_page_create pc;
	__u64 id = self->last + 1;
	void *none;

	none = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	EXPECT_EQ(-EFAULT, mmsb_page_restore(self->fd, id, 4096, 0, 0, 1,
					     none, &pc));
	EXPECT_EQ(-EFAULT, mmsb_page_restore(self->fd, id, 64, 0, 0, 1,
					     (void *)8, &pc));
	EXPECT_HELD(self->fd, 0, 0);
	ASSERT_EQ(0, munmap(none, 8192));
	ASSERT_EQ(0, mmsb_page_restore(self->fd, id, 64, 0, 0, 2, NULL, &pc));
	EXPECT_EQ(id, pc.id);
}

/* Without CAP_SYS_ADMIN at open: -EPERM; a file opened with it works. */
static int no_admin_child(int admin_fd, __u64 id)
{
	struct mmsb_page_create pc;
	int fd;

	if (drop_cap_sys_admin())
		return 1;
	fd = mmsb_open();
	if (fd < 0)
		return 2;
	if (mmsb_page_restore(fd, id, 64, 0, 0, 1, NULL, &pc) != -EPERM)
		return 3;
	/* A plain create is still anybody's. */
	if (mmsb_page_create(fd, 64, 0, 0, &pc) || pc.id != id)
		return 4;
	if (mmsb_page_restore(admin_fd, id + 1, 64, 0, 0, 1, NULL, &pc))
		return 5;
	return 0;
}

TEST_F(restore, eperm_without_cap_sys_admin)
{
	struct mmsb_page_info in;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(no_admin_child(self->fd, self->last + 1));
	EXPECT_EQ(0, wait_child(pid)) TH_LOG("child check failed");
	EXPECT_EQ(0, mmsb_page_info(self->fd, self->last + 1, &in));
	EXPECT_EQ(0, in.epoch);
	EXPECT_EQ(0, mmsb_page_info(self->fd, self->last + 2, &in));
	EXPECT_EQ(1, in.epoch);
}

/* A restore counts against mem_limit_mb like a create: -ENOMEM. */
FIXTURE(restore_limit) {
	int fd;
};

FIXTURE_SETUP(restore_limit)
{
	ASSERT_EQ(0, module_reload("mem_limit_mb=1"));
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(restore_limit)
{
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

TEST_F(restore_limit, enomem)
{
	size_t size = 2 << 20;
	struct mmsb_page_create pc;
	__u8 *data = calloc(1, size);

	ASSERT_NE(NULL, data);
	EXPECT_EQ(-ENOMEM, mmsb_page_restore(self->fd, 5, size, 0, 0, 9, data,
					     &pc));
	EXPECT_HELD(self->fd, 0, 0);
	/* Within the limit, the same id works. */
	ASSERT_EQ(0, mmsb_page_restore(self->fd, 5, 1000, 0, 0, 9, data, &pc));
	ASSERT_EQ(0, mmsb_page_free(self->fd, 5));
	free(data);
}

FIXTURE(edge_list) {
	int fd;
	__u64 id[6];
};

FIXTURE_SETUP(edge_list)
{
	struct mmsb_page_create pc;
	int i;

	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	for (i = 0; i < 6; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0644, 0, &pc));
		self->id[i] = pc.id;
	}
}

FIXTURE_TEARDOWN(edge_list)
{
	free_all(self->fd);
	close(self->fd);
}

/*
 * id0 -> id4 (P), id0 -> id1 (N), id0 -> id5 (P), id0 -> id2 (P),
 * added in that order, listed by @to ascending with their kinds.
 */
TEST_F(edge_list, ascending_by_to)
{
	const __u64 *id = self->id;
	struct mmsb_edge e[8];
	__u32 count = 99;
	int i;

	ASSERT_EQ(0, mmsb_edge_add(self->fd, id[0], id[4],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, id[0], id[1], MMSB_EDGE_NOTIFY));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, id[0], id[5],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, id[0], id[2],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, id[1], id[3],
				   MMSB_EDGE_PASSTHROUGH));
	memset(e, 0xff, sizeof(e));
	ASSERT_EQ(4, mmsb_edge_list(self->fd, id[0], e, 8, &count));
	EXPECT_EQ(4, count);
	EXPECT_EQ(id[1], e[0].to);
	EXPECT_EQ(MMSB_EDGE_NOTIFY, e[0].kind);
	EXPECT_EQ(id[2], e[1].to);
	EXPECT_EQ(id[4], e[2].to);
	EXPECT_EQ(id[5], e[3].to);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(id[0], e[i].from);
		EXPECT_EQ(0, e[i].flags);
		EXPECT_EQ(0, e[i].reserved[0] | e[i].reserved[1]);
		if (i)
			EXPECT_EQ(MMSB_EDGE_PASSTHROUGH, e[i].kind);
	}
	/* Beyond what was written: untouched. */
	EXPECT_EQ((__u64)-1, e[4].to);

	/* Fewer slots: the lowest @to, and the full count. */
	ASSERT_EQ(2, mmsb_edge_list(self->fd, id[0], e, 2, &count));
	EXPECT_EQ(4, count);
	EXPECT_EQ(id[1], e[0].to);
	EXPECT_EQ(id[2], e[1].to);
	/* 0 slots counts only: @edges is not touched. */
	ASSERT_EQ(0, mmsb_edge_list(self->fd, id[0], (void *)8, 0, &count));
	EXPECT_EQ(4, count);

	/* Incoming edges are not listed; a page without edges has none. */
	ASSERT_EQ(0, mmsb_edge_list(self->fd, id[4], e, 8, &count));
	EXPECT_EQ(0, count);
	ASSERT_EQ(1, mmsb_edge_list(self->fd, id[1], e, 8, &count));
	EXPECT_EQ(id[3], e[0].to);

	/* A freed page takes its edges along, both ways. */
	ASSERT_EQ(0, mmsb_page_free(self->fd, id[2]));
	ASSERT_EQ(3, mmsb_edge_list(self->fd, id[0], e, 8, &count));
	EXPECT_EQ(id[4], e[1].to);
	ASSERT_EQ(0, mmsb_edge_del(self->fd, id[0], id[4],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(2, mmsb_edge_list(self->fd, id[0], e, 8, &count));
	EXPECT_EQ(id[1], e[0].to);
	EXPECT_EQ(id[5], e[1].to);
}

/* 300 edges in a scrambled order: sorted, and the lowest of them. */
TEST_F(edge_list, many_sorted)
{
	struct mmsb_page_create pc;
	struct mmsb_edge *e = calloc(300, sizeof(*e));
	__u64 ids[300];
	__u32 count;
	int i;

	ASSERT_NE(NULL, e);
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0600, 0, &pc));
		ids[i] = pc.id;
	}
	for (i = 0; i < 300; i++)
		ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[0],
					   ids[(i * 7) % 300],
					   MMSB_EDGE_NOTIFY));
	ASSERT_EQ(300, mmsb_edge_list(self->fd, self->id[0], e, 300, &count));
	for (i = 0; i < 300; i++)
		ASSERT_EQ(ids[i], e[i].to);
	ASSERT_EQ(17, mmsb_edge_list(self->fd, self->id[0], e, 17, &count));
	EXPECT_EQ(300, count);
	for (i = 0; i < 17; i++)
		ASSERT_EQ(ids[i], e[i].to);
	free(e);
}

TEST_F(edge_list, errors)
{
	struct mmsb_edge_list l = {
		.page_id = self->id[0], .max = 1,
	};
	struct mmsb_edge e;

	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[0], self->id[1],
				   MMSB_EDGE_PASSTHROUGH));
	EXPECT_EQ(-EINVAL, mmsb_edge_list(self->fd, self->id[0], &e,
					  MMSB_EDGE_LIST_MAX + 1, NULL));
	l.reserved[1] = 1;
	l.edges = (__u64)(uintptr_t)&e;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_EDGE_LIST, &l));
	EXPECT_EQ(-ENOENT, mmsb_edge_list(self->fd, self->id[5] + 100, &e, 1,
					  NULL));
	EXPECT_EQ(-EFAULT, mmsb_edge_list(self->fd, self->id[0], (void *)8, 1,
					  NULL));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_EDGE_LIST, (void *)8));
}

/* Read permission on the page: a 0600 page of root's is -EACCES. */
TEST_F(edge_list, eacces)
{
	struct mmsb_page_create pc;
	pid_t pid;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0600, 0, &pc));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct mmsb_edge e;
		int fd;

		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(1);
		fd = mmsb_open();
		if (fd < 0)
			_exit(2);
		if (mmsb_edge_list(fd, pc.id, &e, 1, NULL) != -EACCES)
			_exit(3);
		/* 0644: readable by others. */
		if (mmsb_edge_list(fd, self->id[0], &e, 1, NULL) != 0)
			_exit(4);
		_exit(0);
	}
	EXPECT_EQ(0, wait_child(pid));
}

TEST_HARNESS_MAIN
