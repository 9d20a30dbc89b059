// SPDX-License-Identifier: GPL-2.0
/*
 * Page lifetimes: several processes share one page; a freed page stays
 * readable while mapped and its memory returns (in the accounting) when
 * the last mapping goes; fork and split mappings; the memory limit;
 * free racing mmap.  The 10,000-cycle run is page_cycles.c.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "kselftest_harness.h"
#include "pages.h"

FIXTURE(life) {
	int fd;
	long pgsz;
};

FIXTURE_SETUP(life)
{
	self->pgsz = page_size();
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %d", MMSB_DEVICE_PATH, self->fd);
	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
}

FIXTURE_TEARDOWN(life)
{
	free_all(self->fd);
	close(self->fd);
}

/* Physical frame behind @addr (root sees PFNs in pagemap), 0 if none. */
static __u64 pfn_of(const void *addr)
{
	__u64 e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, 8, (uintptr_t)addr / page_size() * 8) != 8)
		e = 0;
	close(fd);
	return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
}

/* Write @n bytes of @pattern at data offset 0 through a SYNC delta. */
static int submit_pattern(int fd, __u64 id, const char *pattern, __u64 n)
{
	struct mmsb_delta d = {
		.page_id = id,
		.len = n,
		.payload = (uintptr_t)pattern,
		.payload_len = n,
		.encoding = MMSB_DELTA_DENSE,
	};
	struct mmsb_submit s = {
		.deltas = (uintptr_t)&d,
		.count = 1,
		.flags = MMSB_SUBMIT_SYNC,
	};
	int ret = ioctl_err(fd, MMSB_IOC_SUBMIT, &s);

	return ret ? ret : d.status;
}

/*
 * Two processes, each with its own open file and mapping, see the same
 * frames and the same bytes after a change.
 */
TEST_F(life, two_processes_same_bytes)
{
	static const char pattern[] = "the same bytes in both processes";
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	struct mmsb_version v;
	int up[2], down[2], i;
	__u64 pfn[4], theirs[4];
	char go;
	pid_t pid;

	ASSERT_EQ(0, mmsb_version(self->fd, &v));
	ASSERT_TRUE(v.features & MMSB_FEAT_DELTAS);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 3 * self->pgsz, 0644, 0, &pc));
	ASSERT_EQ(0, map_page(self->fd, &pc, &hdr));
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		const struct mmsb_page_header *h;
		char buf[sizeof(pattern)];
		int fd = mmsb_open();

		if (fd < 0 || mmsb_page_map(fd, pc.id, &h) || h->id != pc.id)
			_exit(1);
		for (i = 0; i < 4; i++)
			theirs[i] = pfn_of((const char *)h + i * page_size());
		if (write(up[1], theirs, sizeof(theirs)) != sizeof(theirs) ||
		    read(down[0], &go, 1) != 1)
			_exit(2);
		if (mmsb_page_read(h, 0, buf, sizeof(buf), NULL))
			_exit(3);
		_exit(memcmp(buf, pattern, sizeof(buf)) ? 4 : 0);
	}
	ASSERT_EQ(sizeof(theirs), read(up[0], theirs, sizeof(theirs)));
	for (i = 0; i < 4; i++) {
		pfn[i] = pfn_of((const char *)hdr + i * self->pgsz);
		EXPECT_NE(0, pfn[i]);
		EXPECT_EQ(pfn[i], theirs[i]) TH_LOG("frame %d differs", i);
	}
	ASSERT_EQ(0, submit_pattern(self->fd, pc.id, pattern, sizeof(pattern)));
	go = 'd';
	ASSERT_EQ(1, write(down[1], &go, 1));
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(0, memcmp((const char *)hdr + MMSB_PAGE_DATA_OFFSET,
			    pattern, sizeof(pattern)));
	EXPECT_EQ(0, mmsb_page_unmap(hdr));
}

TEST_F(life, free_while_mapped)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	struct mmsb_page_info in;
	char buf[100];
	size_t len;
	void *p;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 10000, 0, 0, &pc));
	len = mmsb_page_map_size(pc.size, self->pgsz);
	ASSERT_EQ(0, map_page(self->fd, &pc, &hdr));
	EXPECT_HELD(self->fd, 1, len);

	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
	/* The id is gone, the memory is not: it is still mapped. */
	EXPECT_EQ(-ENOENT, mmsb_page_info(self->fd, pc.id, &in));
	EXPECT_EQ(-ENOENT, mmsb_page_free(self->fd, pc.id));
	EXPECT_EQ(-ENOENT, map(self->fd, pc.mmap_offset, len, PROT_READ,
			       MAP_SHARED, &p));
	EXPECT_HELD(self->fd, 0, len);
	EXPECT_EQ(0, hdr->flags & MMSB_HDR_LIVE);
	EXPECT_EQ(pc.id, hdr->id);
	ASSERT_EQ(0, mmsb_page_read(hdr, pc.size - sizeof(buf), buf,
				    sizeof(buf), NULL));
	EXPECT_TRUE(all_zero(buf, sizeof(buf)));

	ASSERT_EQ(0, mmsb_page_unmap(hdr));
	EXPECT_HELD(self->fd, 0, 0);
}

/* Split and moved VMAs each hold the page; the last one releases it. */
TEST_F(life, free_while_split)
{
	struct mmsb_page_create pc;
	size_t len;
	char *p, *q;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 3 * self->pgsz, 0, 0, &pc));
	len = mmsb_page_map_size(pc.size, self->pgsz);
	ASSERT_EQ(0, map(self->fd, pc.mmap_offset, len, PROT_READ, MAP_SHARED,
			 (void **)&p));
	/* [hdr][1][2][3] -> [hdr] . [2] and [3] moved elsewhere */
	ASSERT_EQ(0, munmap(p + self->pgsz, self->pgsz));
	q = mremap(p + 3 * self->pgsz, self->pgsz, self->pgsz, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
	EXPECT_HELD(self->fd, 0, len);

	EXPECT_EQ(0, ((struct mmsb_page_header *)p)->flags);
	EXPECT_EQ(0, p[2 * self->pgsz]);
	EXPECT_EQ(0, q[self->pgsz - 1]);
	ASSERT_EQ(0, munmap(p, self->pgsz));
	ASSERT_EQ(0, munmap(q, self->pgsz));
	EXPECT_HELD(self->fd, 0, len);
	ASSERT_EQ(0, munmap(p + 2 * self->pgsz, self->pgsz));
	EXPECT_HELD(self->fd, 0, 0);
}

/* A forked child keeps its copy of the mapping after the parent frees
 * and unmaps the page; the memory goes when the child exits.
 */
TEST_F(life, fork_keeps_mapping)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	int up[2], down[2];
	size_t len;
	pid_t pid;
	char c;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 5000, 0, 0, &pc));
	len = mmsb_page_map_size(pc.size, self->pgsz);
	ASSERT_EQ(0, map_page(self->fd, &pc, &hdr));
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (hdr->id != pc.id || !(hdr->flags & MMSB_HDR_LIVE))
			_exit(1);
		if (write(up[1], "r", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(2);
		/* Parent freed and unmapped it: still readable here. */
		if (hdr->id != pc.id || hdr->flags & MMSB_HDR_LIVE)
			_exit(3);
		_exit(all_zero((const char *)hdr + MMSB_PAGE_DATA_OFFSET,
			       pc.size) ? 0 : 4);
	}
	ASSERT_EQ(1, read(up[0], &c, 1));
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
	ASSERT_EQ(0, mmsb_page_unmap(hdr));
	EXPECT_HELD(self->fd, 0, len);
	ASSERT_EQ(1, write(down[1], "x", 1));
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_HELD(self->fd, 0, 0);
}

/*
 * Free racing mmap of the same id: never a crash, never a leak.  Every
 * map either fails with -ENOENT (the id is gone) or maps that very
 * page, readable, and the race goes on until both outcomes were seen a
 * few times (so it was a race), 1,000 rounds at least.
 */
struct race {
	int fd;
	volatile __u64 id;
	volatile int stop;
	long won, lost, wrong, bad_errno;
};

static void *race_mapper(void *arg)
{
	struct race *r = arg;
	long pgsz = page_size();
	__u64 id;
	void *p;
	int ret;

	while (!r->stop) {
		id = r->id;
		if (!id)
			continue;
		ret = map(r->fd, id * pgsz, pgsz, PROT_READ, MAP_SHARED, &p);
		if (!ret) {
			r->wrong += ((const struct mmsb_page_header *)p)->id != id;
			munmap(p, pgsz);
			r->won++;
		} else if (ret == -ENOENT) {
			r->lost++;
		} else {
			r->bad_errno++;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(life, free_races_mmap, 60)
{
	struct race r = { .fd = self->fd };
	struct mmsb_page_create pc;
	long end = 0;
	pthread_t th;
	int i;

	ASSERT_EQ(0, pthread_create(&th, NULL, race_mapper, &r));
	for (i = 0; i < 1000 || r.won < 10 || r.lost < 10; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 1, 0, 0, &pc));
		r.id = pc.id;
		ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
		if (i == 1000)
			end = time(NULL) + 30;
		if (end && time(NULL) > end)
			break;
	}
	r.stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_LE(10, r.won) TH_LOG("%ld maps won in %d rounds", r.won, i);
	EXPECT_LE(10, r.lost) TH_LOG("%ld maps lost in %d rounds", r.lost, i);
	EXPECT_EQ(0, r.wrong);
	EXPECT_EQ(0, r.bad_errno);
	EXPECT_HELD(self->fd, 0, 0);
}

/*
 * The memory limit and max_page_size, with the module reloaded as
 * mem_limit_mb=1 max_page_size=65536 (and back to defaults after).
 */
FIXTURE(limit) {
	int fd;
	long pgsz;
};

FIXTURE_SETUP(limit)
{
	int ret = module_unload();

	ASSERT_TRUE(ret == 0 || ret == -ENOENT) TH_LOG("unload: %d", ret);
	ASSERT_EQ(0, module_load("mem_limit_mb=1 max_page_size=65536"));
	self->pgsz = page_size();
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(limit)
{
	free_all(self->fd);
	close(self->fd);
	module_unload();
	EXPECT_EQ(0, module_load(""));
}

TEST_F(limit, enforced_and_returned)
{
	__u64 small = self->pgsz - MMSB_PAGE_DATA_OFFSET; /* one frame */
	unsigned int i, n = (1 << 20) / self->pgsz;
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc, first;
	struct mmsb_stats st;

	EXPECT_EQ(-EINVAL, mmsb_page_create(self->fd, 65537, 0, 0, &pc));
	ASSERT_EQ(0, mmsb_page_create(self->fd, 65536, 0, 0, &pc));
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));

	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mmsb_page_create(self->fd, small, 0, 0,
					      i ? &pc : &first));
	EXPECT_EQ(-ENOMEM, mmsb_page_create(self->fd, 1, 0, 0, &pc));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(1 << 20, st.mem_limit);
	EXPECT_EQ(n, st.pages);
	EXPECT_EQ(1 << 20, st.page_bytes);

	/* A mapped, freed page still counts against the limit. */
	ASSERT_EQ(0, map_page(self->fd, &first, &hdr));
	ASSERT_EQ(0, mmsb_page_free(self->fd, first.id));
	EXPECT_EQ(-ENOMEM, mmsb_page_create(self->fd, 1, 0, 0, &pc));
	ASSERT_EQ(0, mmsb_page_unmap(hdr));
	EXPECT_EQ(-ENOMEM, mmsb_page_create(self->fd, small + 1, 0, 0, &pc));
	ASSERT_EQ(0, mmsb_page_create(self->fd, small, 0, 0, &pc));

	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
}

TEST_HARNESS_MAIN
