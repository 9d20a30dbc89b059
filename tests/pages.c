// SPDX-License-Identifier: GPL-2.0
/*
 * Pages: create, info, list, stats, the mmap rules and access control,
 * with the exact errno of every refusal.  Lifetimes (free while mapped,
 * fork, limits, many cycles) are in page_lifetime.c.
 */
#include <grp.h>
#include <signal.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "pages.h"

FIXTURE(pages) {
	int fd;
	long pgsz;
};

FIXTURE_SETUP(pages)
{
	struct mmsb_version v;

	self->pgsz = page_size();
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %d", MMSB_DEVICE_PATH, self->fd);
	ASSERT_EQ(0, mmsb_version(self->fd, &v));
	ASSERT_TRUE(v.features & MMSB_FEAT_PAGES);
	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
}

FIXTURE_TEARDOWN(pages)
{
	free_all(self->fd);
	close(self->fd);
}

TEST_F(pages, create_info_map)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	struct mmsb_page_info in;
	struct mmsb_stats st;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 100, 0, 0, &pc));
	ASSERT_GT(pc.id, 0);
	EXPECT_EQ(pc.id * self->pgsz, pc.mmap_offset);
	EXPECT_EQ(0, pc.epoch | pc.data);

	memset(&in, 0xa5, sizeof(in));
	in.id = pc.id;
	ASSERT_EQ(0, ioctl_err(self->fd, MMSB_IOC_PAGE_INFO, &in));
	EXPECT_EQ(pc.id, in.id);
	EXPECT_EQ(100, in.size);
	EXPECT_EQ(0, in.epoch);
	EXPECT_EQ(0, in.last_delta_id);
	EXPECT_EQ(pc.mmap_offset, in.mmap_offset);
	EXPECT_EQ(self->pgsz, in.map_size);
	EXPECT_EQ(getuid(), in.uid);
	EXPECT_EQ(getgid(), in.gid);
	EXPECT_EQ(MMSB_PAGE_MODE_DEFAULT, in.mode);
	EXPECT_EQ(0, in.flags);
	EXPECT_TRUE(all_zero(in.reserved, sizeof(in.reserved)));

	ASSERT_EQ(0, map_page(self->fd, &pc, &hdr));
	EXPECT_EQ(0, hdr->seq);
	EXPECT_EQ(MMSB_HDR_LIVE, hdr->flags);
	EXPECT_EQ(0, hdr->epoch);
	EXPECT_EQ(100, hdr->size);
	EXPECT_EQ(0, hdr->last_delta_id);
	EXPECT_EQ(pc.id, hdr->id);
	EXPECT_TRUE(all_zero(hdr->reserved, sizeof(hdr->reserved)));
	/* Data, and the slack up to the end of the mapping, start zeroed. */
	EXPECT_TRUE(all_zero((const char *)hdr + MMSB_PAGE_DATA_OFFSET,
			     self->pgsz - MMSB_PAGE_DATA_OFFSET));

	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(sizeof(st), st.size);
	EXPECT_EQ(1, st.pages);
	EXPECT_EQ(self->pgsz, st.page_bytes);
	/* mem_bytes adds what deltas, the graph etc. hold: the exact sum. */
	EXPECT_EQ(st.page_bytes + st.page_meta_bytes + st.delta_bytes +
		  st.graph_bytes + st.ring_bytes, st.mem_bytes);
	EXPECT_EQ(0, st.pad);
	EXPECT_TRUE(all_zero(st.reserved, sizeof(st.reserved)));
	EXPECT_EQ(1024ULL << 20, st.mem_limit);

	ASSERT_EQ(0, mmsb_page_unmap(hdr));
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
}

TEST_F(pages, mode_and_flags_kept)
{
	struct mmsb_page_create pc;
	struct mmsb_page_info in;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 1, 0444, MMSB_PAGE_EVICTABLE,
				      &pc));
	ASSERT_EQ(0, mmsb_page_info(self->fd, pc.id, &in));
	EXPECT_EQ(0444, in.mode);
	EXPECT_EQ(MMSB_PAGE_EVICTABLE, in.flags);
}

TEST_F(pages, ids_never_reused)
{
	struct mmsb_page_create a, b;
	struct mmsb_page_info in;
	void *p;
	int i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 1, 0, 0, &a));
	ASSERT_EQ(0, mmsb_page_free(self->fd, a.id));
	/* The id is gone at once, for every call. */
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, a.id, &in));
	EXPECT_EQ(-ENOENT, mmsb_page_free(self->fd, a.id));
	EXPECT_EQ(-ENOENT, map(self->fd, a.mmap_offset, self->pgsz, PROT_READ,
			       MAP_SHARED, &p));
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 1, 0, 0, &b));
		ASSERT_GT(b.id, a.id);
		ASSERT_EQ(0, mmsb_page_free(self->fd, b.id));
		a = b;
	}
}

/* Sizes at the edges: the mapping is header + data, page aligned. */
FIXTURE(sizes) {
	int fd;
};

FIXTURE_VARIANT(sizes) {
	__u64 size;
};

FIXTURE_VARIANT_ADD(sizes, one_byte) { 1 };
FIXTURE_VARIANT_ADD(sizes, fills_a_frame) { 4096 - MMSB_PAGE_DATA_OFFSET };
FIXTURE_VARIANT_ADD(sizes, one_past_a_frame) { 4096 - MMSB_PAGE_DATA_OFFSET + 1 };
FIXTURE_VARIANT_ADD(sizes, max_page_size) { MAX_PAGE_SIZE };

FIXTURE_SETUP(sizes)
{
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	EXPECT_HELD(self->fd, 0, 0);
}

FIXTURE_TEARDOWN(sizes)
{
	free_all(self->fd);
	close(self->fd);
}

TEST_F(sizes, create_map)
{
	__u64 len = mmsb_page_map_size(variant->size, page_size());
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	struct mmsb_page_info in;
	__u64 pages, bytes;
	void *p;

	ASSERT_EQ(0, mmsb_page_create(self->fd, variant->size, 0, 0, &pc));
	ASSERT_EQ(0, mmsb_page_info(self->fd, pc.id, &in));
	EXPECT_EQ(variant->size, in.size);
	EXPECT_EQ(len, in.map_size);
	ASSERT_EQ(0, held(self->fd, &pages, &bytes));
	EXPECT_EQ(len, bytes);

	EXPECT_EQ(-EINVAL, map(self->fd, pc.mmap_offset, len + page_size(),
			       PROT_READ, MAP_SHARED, &p));
	ASSERT_EQ(0, map_page(self->fd, &pc, &hdr));
	EXPECT_EQ(variant->size, hdr->size);
	EXPECT_TRUE(all_zero((const char *)hdr + MMSB_PAGE_DATA_OFFSET,
			     len - MMSB_PAGE_DATA_OFFSET));
	ASSERT_EQ(0, mmsb_page_unmap(hdr));
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
	EXPECT_HELD(self->fd, 0, 0);
}

/*
 * MMSB_IOC_PAGE_FREE takes struct mmsb_page_free: flags, pad and
 * reserved must be zero (-EINVAL, the page stays), and the old number,
 * whose argument was a bare __u64 id, is no command (-ENOTTY).
 */
TEST_F(pages, free_struct)
{
	struct mmsb_page_free f;
	struct mmsb_page_info in;
	struct mmsb_page_create pc;
	__u64 id;
	int i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0, 0, &pc));
	for (i = 0; i < 4; i++) {
		memset(&f, 0, sizeof(f));
		f.id = pc.id;
		if (i == 0)
			f.flags = 1;
		else if (i == 1)
			f.pad = 1U << 31;
		else
			f.reserved[i - 2] = 1;
		EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_PAGE_FREE, &f))
			TH_LOG("case %d", i);
	}
	id = pc.id;
	EXPECT_EQ(-ENOTTY, ioctl_err(self->fd, _IOW(MMSB_IOC_MAGIC, 0x02, __u64),
				     &id));
	EXPECT_EQ(0, mmsb_page_info(self->fd, pc.id, &in));

	memset(&f, 0, sizeof(f));
	f.id = pc.id;
	EXPECT_EQ(0, ioctl_err(self->fd, MMSB_IOC_PAGE_FREE, &f));
	EXPECT_EQ(-ENOENT, ioctl_err(self->fd, MMSB_IOC_PAGE_FREE, &f));
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, pc.id, &in));
}

/* Every bad field of MMSB_IOC_PAGE_CREATE, and nothing is left behind. */
FIXTURE(create_inval) {
	int fd;
};

FIXTURE_VARIANT(create_inval) {
	__u64 size;
	__u32 mode;
	__u32 flags;
	__u64 reserved;
};

FIXTURE_VARIANT_ADD(create_inval, size_zero) { 0, 0, 0, 0 };
FIXTURE_VARIANT_ADD(create_inval, size_max_plus_one) { MAX_PAGE_SIZE + 1, 0, 0, 0 };
FIXTURE_VARIANT_ADD(create_inval, size_4g) { 1ULL << 32, 0, 0, 0 };
FIXTURE_VARIANT_ADD(create_inval, size_huge) { ~0ULL, 0, 0, 0 };
FIXTURE_VARIANT_ADD(create_inval, unknown_flag) { 1, 0, 1U << 1, 0 };
FIXTURE_VARIANT_ADD(create_inval, high_flag) { 1, 0, 1U << 31, 0 };
FIXTURE_VARIANT_ADD(create_inval, mode_sticky) { 1, 01000, 0, 0 };
FIXTURE_VARIANT_ADD(create_inval, mode_huge) { 1, ~0U, 0, 0 };
FIXTURE_VARIANT_ADD(create_inval, mode_wraps_u16) { 1, 0x10000 | 0600, 0, 0 };
FIXTURE_VARIANT_ADD(create_inval, reserved) { 1, 0, 0, 1 };

FIXTURE_SETUP(create_inval)
{
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	EXPECT_HELD(self->fd, 0, 0);
}

FIXTURE_TEARDOWN(create_inval)
{
	close(self->fd);
}

TEST_F(create_inval, refused)
{
	struct mmsb_page_create pc = {
		.size = variant->size,
		.mode = variant->mode,
		.flags = variant->flags,
	};
	__u64 pages, bytes;

	pc.data = variant->reserved;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_PAGE_CREATE, &pc));
	ASSERT_EQ(0, held(self->fd, &pages, &bytes));
	EXPECT_EQ(0, pages);
	EXPECT_EQ(0, bytes);
}

TEST_F(pages, bad_pointers)
{
	struct mmsb_page_list l = { .ids = 8, .max = 1 };
	struct mmsb_page_create *ro, pc;
	void *bad = (void *)8;

	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_PAGE_CREATE, bad));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_PAGE_FREE, bad));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_PAGE_INFO, bad));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_PAGE_LIST, bad));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_STATS, bad));

	/* Readable but not writable: the page is made, the id cannot be
	 * returned, so it must be undone.
	 */
	ro = mmap(NULL, self->pgsz, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ro->size = 1;
	ASSERT_EQ(0, mprotect(ro, self->pgsz, PROT_READ));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_PAGE_CREATE, ro));
	EXPECT_HELD(self->fd, 0, 0);
	munmap(ro, self->pgsz);

	/* A bad ids array, once there is an id to store. */
	ASSERT_EQ(0, mmsb_page_create(self->fd, 1, 0, 0, &pc));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_PAGE_LIST, &l));
}

TEST_F(pages, bad_ids)
{
	struct mmsb_page_info in;

	EXPECT_EQ(-ENOENT, mmsb_page_free(self->fd, 0));
	EXPECT_EQ(-ENOENT, mmsb_page_free(self->fd, ~0ULL));
	EXPECT_EQ(-ENOENT, mmsb_page_free(self->fd, 1ULL << 40));
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, 0, &in));
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, ~0ULL, &in));
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, 123456789, &in));
}

TEST_F(pages, list_and_stats_inval)
{
	__u64 ids[4];
	struct mmsb_page_list l = { .ids = (uintptr_t)ids, .max = 0 };
	struct mmsb_stats st = { 0 };

	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_PAGE_LIST, &l));
	l.max = MMSB_PAGE_LIST_MAX + 1;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_PAGE_LIST, &l));
	l.max = 4;
	l.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_PAGE_LIST, &l));

	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_STATS, &st));
	st.size = 7;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_STATS, &st));
	st.size = sizeof(st);
	st.pad = 1;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_STATS, &st));
}

/* Listing in pages of 3 gives every live id once, ascending. */
TEST_F(pages, list_paged)
{
	__u64 made[10], got[16], ids[3], next = 0;
	struct mmsb_page_create pc;
	int i, n, total = 0;

	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 1, 0, 0, &pc));
		made[i] = pc.id;
	}
	do {
		n = mmsb_page_list(self->fd, next, ids, 3, &next);
		ASSERT_GE(n, 0);
		ASSERT_LE(total + n, 10);
		memcpy(got + total, ids, n * sizeof(ids[0]));
		total += n;
		ASSERT_TRUE(n == 3 || !next);
	} while (next);
	ASSERT_EQ(10, total);
	for (i = 0; i < 10; i++)
		EXPECT_EQ(made[i], got[i]);

	/* Freed ids drop out; start_id skips the smaller ones. */
	for (i = 0; i < 10; i += 2)
		ASSERT_EQ(0, mmsb_page_free(self->fd, made[i]));
	n = mmsb_page_list(self->fd, made[4], got, 16, &next);
	ASSERT_EQ(3, n);
	EXPECT_EQ(made[5], got[0]);
	EXPECT_EQ(made[9], got[2]);
	EXPECT_EQ(0, next);
	EXPECT_EQ(0, mmsb_page_list(self->fd, made[9] + 1, got, 16, &next));
	EXPECT_EQ(0, mmsb_page_list(self->fd, ~0ULL, got, 16, &next));
	EXPECT_EQ(0, next);
}

/* The kernel writes no more of struct mmsb_stats than the caller has. */
TEST_F(pages, stats_size_protocol)
{
	union {
		struct mmsb_stats st;
		unsigned char raw[sizeof(struct mmsb_stats) + 64];
	} u;
	size_t i;

	memset(&u, 0xa5, sizeof(u));
	u.st.size = 8;
	u.st.pad = 0;
	ASSERT_EQ(0, ioctl_err(self->fd, MMSB_IOC_STATS, &u));
	EXPECT_EQ(sizeof(struct mmsb_stats), u.st.size);
	for (i = 8; i < sizeof(u); i++)
		ASSERT_EQ(0xa5, u.raw[i]) TH_LOG("byte %zu written", i);

	memset(&u, 0xa5, sizeof(u));
	u.st.size = sizeof(u);
	u.st.pad = 0;
	ASSERT_EQ(0, ioctl_err(self->fd, MMSB_IOC_STATS, &u));
	EXPECT_EQ(sizeof(struct mmsb_stats), u.st.size);
	EXPECT_EQ(0, u.st.pages);
	for (i = sizeof(struct mmsb_stats); i < sizeof(u); i++)
		ASSERT_EQ(0xa5, u.raw[i]) TH_LOG("byte %zu written", i);
}

/* Only read-only mappings, of exactly one page, from its offset. */
TEST_F(pages, mmap_refusals)
{
	struct mmsb_page_create pc;
	size_t len;
	char *p;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 3 * self->pgsz, 0, 0, &pc));
	len = mmsb_page_map_size(pc.size, self->pgsz);
	ASSERT_EQ(4 * self->pgsz, len);

	EXPECT_EQ(-EPERM, map(self->fd, pc.mmap_offset, len,
			      PROT_READ | PROT_WRITE, MAP_SHARED, (void **)&p));
	EXPECT_EQ(-EPERM, map(self->fd, pc.mmap_offset, len, PROT_WRITE,
			      MAP_SHARED, (void **)&p));
	EXPECT_EQ(-EPERM, map(self->fd, pc.mmap_offset, len,
			      PROT_READ | PROT_WRITE, MAP_PRIVATE, (void **)&p));
	EXPECT_EQ(-EINVAL, map(self->fd, pc.mmap_offset, len + self->pgsz,
			       PROT_READ, MAP_SHARED, (void **)&p));
	/* Offset 0 is the bus header's (tests/snapshot.c), never a page's. */
	EXPECT_EQ(-ENOENT, map(self->fd, (pc.id + 1000) * self->pgsz,
			       self->pgsz, PROT_READ, MAP_SHARED, (void **)&p));
	/* Offsets inside a page's area name other (here unknown) ids. */
	EXPECT_EQ(-ENOENT, map(self->fd, pc.mmap_offset + self->pgsz,
			       self->pgsz, PROT_READ, MAP_SHARED, (void **)&p));
	EXPECT_EQ(-ENOENT, map(self->fd, (pc.id + 1000) * self->pgsz,
			       self->pgsz, PROT_READ, MAP_SHARED, (void **)&p));
	EXPECT_EQ(-EINVAL, map(self->fd, pc.mmap_offset + 1, self->pgsz,
			       PROT_READ, MAP_SHARED, (void **)&p));

	/* Shared: can never become writable, nor grow. */
	ASSERT_EQ(0, map(self->fd, pc.mmap_offset, len, PROT_READ, MAP_SHARED,
			 (void **)&p));
	EXPECT_EQ(-1, mprotect(p, len, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, mremap(p, len, len + self->pgsz, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, munmap(p, len));

	/* Private read-only is fine, but stays read-only too. */
	ASSERT_EQ(0, map(self->fd, pc.mmap_offset, len, PROT_READ, MAP_PRIVATE,
			 (void **)&p));
	EXPECT_EQ(pc.id, ((struct mmsb_page_header *)p)->id);
	EXPECT_EQ(-1, mprotect(p, len, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(0, munmap(p, len));

	/* A shorter mapping is fine: just the header frame. */
	ASSERT_EQ(0, map(self->fd, pc.mmap_offset, self->pgsz, PROT_READ,
			 MAP_SHARED, (void **)&p));
	EXPECT_EQ(pc.id, ((struct mmsb_page_header *)p)->id);
	EXPECT_EQ(0, munmap(p, self->pgsz));
}

/* A store through the mapping faults: the page is not writable at all. */
TEST_F(pages, store_faults)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	pid_t pid;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0, 0, &pc));
	ASSERT_EQ(0, map_page(self->fd, &pc, &hdr));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		*(volatile char *)((char *)hdr + MMSB_PAGE_DATA_OFFSET) = 1;
		_exit(0);
	}
	EXPECT_EQ(256 + SIGSEGV, wait_child(pid));
	EXPECT_EQ(0, hdr->seq);
	EXPECT_EQ(0, ((const char *)hdr)[MMSB_PAGE_DATA_OFFSET]);
}

/* After MADV_DONTNEED the frames fault back in, same page. */
TEST_F(pages, refault_after_dontneed)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	size_t len;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 2 * self->pgsz, 0, 0, &pc));
	len = mmsb_page_map_size(pc.size, self->pgsz);
	ASSERT_EQ(0, map_page(self->fd, &pc, &hdr));
	ASSERT_EQ(0, madvise((void *)hdr, len, MADV_DONTNEED));
	EXPECT_EQ(pc.id, hdr->id);
	EXPECT_EQ(MMSB_HDR_LIVE, hdr->flags);
	EXPECT_EQ(0, ((const char *)hdr)[len - 1]);
	EXPECT_EQ(0, mmsb_page_unmap(hdr));
}

/*
 * Another uid (1000, group 1000) on pages root owns (uid 0, gid 0): the
 * mode decides reading (info, mmap, WAIT, SUBSCRIBE) and writing (here
 * deleting root's edge between two such pages); writable maps and
 * freeing never work.
 */
FIXTURE(other_uid) {
	int fd;
	struct mmsb_page_create pc;
	__u64 to;	/* root's edge pc -> to, NOTIFY; same mode */
};

FIXTURE_VARIANT(other_uid) {
	__u32 mode;
	int in_group;	/* the child also has gid 0 as a supplementary group */
	int read_errno;	/* info, mmap(PROT_READ), WAIT and SUBSCRIBE */
	int write_errno; /* MMSB_IOC_EDGE_DEL */
};

FIXTURE_VARIANT_ADD(other_uid, mode_0600) { 0600, 0, -EACCES, -EACCES };
FIXTURE_VARIANT_ADD(other_uid, mode_0644) { 0644, 0, 0, -EACCES };
FIXTURE_VARIANT_ADD(other_uid, mode_0604) { 0604, 0, 0, -EACCES };
FIXTURE_VARIANT_ADD(other_uid, mode_0640_not_in_group) { 0640, 0, -EACCES, -EACCES };
FIXTURE_VARIANT_ADD(other_uid, mode_0640_in_group) { 0640, 1, 0, -EACCES };
FIXTURE_VARIANT_ADD(other_uid, mode_0604_in_group) { 0604, 1, -EACCES, -EACCES };
FIXTURE_VARIANT_ADD(other_uid, mode_0662) { 0662, 0, -EACCES, 0 };
FIXTURE_VARIANT_ADD(other_uid, mode_0666) { 0666, 0, 0, 0 };

FIXTURE_SETUP(other_uid)
{
	struct mmsb_page_create to;

	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 100, variant->mode, 0,
				      &self->pc));
	ASSERT_EQ(0, mmsb_page_create(self->fd, 100, variant->mode, 0, &to));
	self->to = to.id;
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->pc.id, self->to,
				   MMSB_EDGE_NOTIFY));
}

FIXTURE_TEARDOWN(other_uid)
{
	free_all(self->fd);
	close(self->fd);
}

/* Runs as uid 1000; returns the number of the first failed check. */
static int other_uid_child(const struct mmsb_page_create *pc, __u64 to,
			   const FIXTURE_VARIANT(other_uid) *variant)
{
	gid_t groups[1] = { 0 };
	struct mmsb_page_create own;
	struct mmsb_page_info in;
	__u64 ids[1], next;
	void *p;
	int fd, ret;

	if (setgroups(variant->in_group, groups) || setresgid(1000, 1000, 1000) ||
	    setresuid(1000, 1000, 1000))
		return 1;
	fd = mmsb_open();
	if (fd < 0)
		return 2;
	if (mmsb_page_info(fd, pc->id, &in) != variant->read_errno)
		return 3;
	ret = map(fd, pc->mmap_offset, getpagesize(), PROT_READ, MAP_SHARED, &p);
	if (ret != variant->read_errno)
		return 4;
	if (!ret && (((struct mmsb_page_header *)p)->id != pc->id ||
		     munmap(p, getpagesize())))
		return 5;
	if (map(fd, pc->mmap_offset, getpagesize(), PROT_READ | PROT_WRITE,
		MAP_SHARED, &p) != -EPERM)
		return 6;
	if (mmsb_page_free(fd, pc->id) != -EPERM)
		return 7;
	/* Ids are listed whatever the mode. */
	if (mmsb_page_list(fd, pc->id, ids, 1, &next) != 1 || ids[0] != pc->id)
		return 8;
	/* Its own page: owned by 1000:1000, freed by it. */
	if (mmsb_page_create(fd, 1, 0, 0, &own) ||
	    mmsb_page_info(fd, own.id, &in) || in.uid != 1000 ||
	    in.gid != 1000 || in.mode != 0600 || mmsb_page_free(fd, own.id))
		return 9;
	/* Waiting and subscribing need read permission. */
	if (mmsb_wait(fd, pc->id, 0, 0, NULL) != variant->read_errno)
		return 10;
	if (mmsb_subscribe(fd, pc->id) != variant->read_errno)
		return 11;
	/* Deleting an edge needs write permission on both pages. */
	if (mmsb_edge_del(fd, pc->id, to, MMSB_EDGE_NOTIFY) !=
	    variant->write_errno)
		return 12;
	return 0;
}

TEST_F(other_uid, access)
{
	struct mmsb_page_info in;
	struct mmsb_stats st;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(other_uid_child(&self->pc, self->to, variant));
	EXPECT_EQ(0, wait_child(pid)) TH_LOG("child check failed");
	/* The page survived the attempts; the edge unless writable. */
	EXPECT_EQ(0, mmsb_page_info(self->fd, self->pc.id, &in));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(variant->write_errno ? 1 : 0, st.edges);
	EXPECT_EQ(variant->write_errno ? -EEXIST : 0,
		  mmsb_edge_add(self->fd, self->pc.id, self->to,
				MMSB_EDGE_NOTIFY));
}

/* The opener's credentials count, not the caller's: an fd opened as
 * root keeps root's rights after a setuid.
 */
TEST_F(other_uid, opener_credentials)
{
	struct mmsb_page_info in;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(1);
		_exit(mmsb_page_info(self->fd, self->pc.id, &in) ? 2 : 0);
	}
	EXPECT_EQ(0, wait_child(pid));
}

/*
 * CAP_SYS_ADMIN, as the opener had it at open(), bypasses the mode of
 * every page and may free any page.  The capability counts, not uid 0,
 * and only at open: a page of uid 1000, mode 0600, seen by root with
 * and without the capability.
 */
FIXTURE(admin) {
	int fd;		/* root's, opened with CAP_SYS_ADMIN */
	__u64 id;	/* uid 1000's page, mode 0600 */
	__u64 mine;	/* root's page, mode 0600 */
};

FIXTURE_SETUP(admin)
{
	struct mmsb_page_create pc;
	int pfd[2];
	pid_t pid;

	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0600, 0, &pc));
	self->mine = pc.id;
	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd;

		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(1);
		fd = mmsb_open();
		if (fd < 0 || mmsb_page_create(fd, 64, 0600, 0, &pc))
			_exit(2);
		_exit(write(pfd[1], &pc.id, sizeof(pc.id)) == sizeof(pc.id) ?
		      0 : 3);
	}
	ASSERT_EQ(0, wait_child(pid));
	ASSERT_EQ(sizeof(self->id), read(pfd[0], &self->id, sizeof(self->id)));
	close(pfd[0]);
	close(pfd[1]);
}

FIXTURE_TEARDOWN(admin)
{
	free_all(self->fd);
	close(self->fd);
}

/* One delta to @id through @fd: the SUBMIT's error, else its status. */
static int write_one(int fd, __u64 id)
{
	struct mmsb_delta d;
	char c = 7;
	int ret;

	mmsb_delta_dense(&d, id, 0, &c, 1);
	ret = mmsb_submit(fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
	return ret ? ret : d.status;
}

TEST_F(admin, bypasses_mode_and_frees)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_info in;

	ASSERT_EQ(0, mmsb_page_info(self->fd, self->id, &in));
	EXPECT_EQ(1000, in.uid);
	EXPECT_EQ(1000, in.gid);
	EXPECT_EQ(0600, in.mode);
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->id, &hdr));
	EXPECT_EQ(self->id, hdr->id);
	EXPECT_EQ(0, mmsb_wait(self->fd, self->id, 0, 0, NULL));
	EXPECT_EQ(0, mmsb_subscribe(self->fd, self->id));
	EXPECT_EQ(0, write_one(self->fd, self->id));
	EXPECT_EQ(1, hdr->epoch);
	EXPECT_EQ(0, mmsb_edge_add(self->fd, self->mine, self->id,
				   MMSB_EDGE_NOTIFY));
	EXPECT_EQ(0, mmsb_edge_del(self->fd, self->mine, self->id,
				   MMSB_EDGE_NOTIFY));
	/* Not the owner, but CAP_SYS_ADMIN: MMSB_IOC_PAGE_FREE works. */
	EXPECT_EQ(0, mmsb_page_free(self->fd, self->id));
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, self->id, &in));
	EXPECT_EQ(0, hdr->flags & MMSB_HDR_LIVE);
	EXPECT_EQ(0, mmsb_page_unmap(hdr));
}

/* Runs as root without CAP_SYS_ADMIN; the number of the failed check. */
static int no_admin_child(int admin_fd, __u64 id, __u64 mine)
{
	struct mmsb_page_info in;
	void *p;
	int fd;

	if (drop_cap_sys_admin())
		return 1;
	fd = mmsb_open();
	if (fd < 0)
		return 2;
	/* uid 0 does not own the page: the other bits, none. */
	if (mmsb_page_info(fd, id, &in) != -EACCES)
		return 3;
	if (map(fd, id * getpagesize(), getpagesize(), PROT_READ, MAP_SHARED,
		&p) != -EACCES)
		return 4;
	if (mmsb_wait(fd, id, 0, 0, NULL) != -EACCES)
		return 5;
	if (mmsb_subscribe(fd, id) != -EACCES)
		return 6;
	if (write_one(fd, id) != -EACCES)
		return 7;
	if (mmsb_edge_add(fd, mine, id, MMSB_EDGE_NOTIFY) != -EACCES)
		return 8;
	if (mmsb_page_free(fd, id) != -EPERM)
		return 9;
	/* Its own page is fine. */
	if (mmsb_page_info(fd, mine, &in) || write_one(fd, mine))
		return 10;
	/* The file opened with the capability keeps it. */
	if (mmsb_page_info(admin_fd, id, &in) || write_one(admin_fd, id))
		return 11;
	return 0;
}

TEST_F(admin, capability_at_open_not_uid_0)
{
	struct mmsb_page_info in;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(no_admin_child(self->fd, self->id, self->mine));
	EXPECT_EQ(0, wait_child(pid)) TH_LOG("child check failed");
	ASSERT_EQ(0, mmsb_page_info(self->fd, self->id, &in));
	EXPECT_EQ(1, in.epoch);
}

TEST_HARNESS_MAIN
