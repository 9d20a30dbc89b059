// SPDX-License-Identifier: GPL-2.0
/*
 * Deltas: SUBMIT validation (the exact errno of every bad case), the
 * encodings, SYNC visibility, epochs and conflicts, WAIT, poll/read
 * events, STATS, and the concurrent model test: 8 processes x 100,000
 * deltas over 64 shared pages, checked byte for byte against a model
 * computed in user space, with torn-read and conflict races.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

#define PAGE_BYTES	4096
#define NR_PAGES	64

static int create(int fd, __u64 size, __u32 mode, __u64 *id)
{
	struct mmsb_page_create pc;
	int ret = mmsb_page_create(fd, size, mode, 0, &pc);

	*id = pc.id;
	return ret;
}

/* Submit one delta; returns the ioctl's result, the status in @d. */
static int submit1(int fd, struct mmsb_delta *d, __u32 flags)
{
	return mmsb_submit(fd, d, 1, flags, NULL);
}

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static __u64 rnd(__u64 *s)
{
	/* xorshift64: a reproducible stream per seed. */
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Wait for all children; returns how many failed. */
static int reap(int n)
{
	int status, bad = 0;

	while (n--) {
		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			bad++;
	}
	return bad;
}

/* A module parameter's value, -1 if it cannot be read. */
static long long param(const char *name)
{
	char path[128], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/mmsb/parameters/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] ? strtoll(buf, NULL, 10) : -1;
}

/* The ring's slots: ring_size rounded up to a power of two. */
static __u64 ring_capacity(void)
{
	long long want = param("ring_size");
	__u64 cap = 1;

	while ((long long)cap < want)
		cap <<= 1;
	return cap;
}

FIXTURE(deltas) {
	int fd;
	__u64 page;
	const struct mmsb_page_header *hdr;
	const __u8 *data;
};

FIXTURE_SETUP(deltas)
{
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, create(self->fd, PAGE_BYTES, 0, &self->page));
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->page, &self->hdr));
	self->data = (const __u8 *)self->hdr + MMSB_PAGE_DATA_OFFSET;
}

FIXTURE_TEARDOWN(deltas)
{
	mmsb_page_unmap(self->hdr);
	close(self->fd);
}

TEST_F(deltas, sync_visible_on_return)
{
	char buf[64];
	struct mmsb_delta d;
	__u32 accepted, applied;

	memset(buf, 0x5a, sizeof(buf));
	mmsb_delta_dense(&d, self->page, 100, buf, sizeof(buf));
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, &d, 1, MMSB_SUBMIT_SYNC,
					&accepted, &applied));
	EXPECT_EQ(1, accepted);
	EXPECT_EQ(1, applied);
	EXPECT_EQ(0, d.status);
	EXPECT_NE(0, d.delta_id);
	EXPECT_EQ(1, d.epoch);
	/* No flush, no wait: the mapping already shows it. */
	EXPECT_EQ(0, memcmp(self->data + 100, buf, sizeof(buf)));
	EXPECT_EQ(0, self->data[99]);
	EXPECT_EQ(0, self->data[164]);
	EXPECT_EQ(1, self->hdr->epoch);
	EXPECT_EQ(d.delta_id, self->hdr->last_delta_id);
	EXPECT_EQ(0, self->hdr->seq & 1);
}

/* The timer ticks on its own (tick_us default 1000). */
TEST_F(deltas, timer_applies_queued)
{
	char buf[4] = "tik";
	struct mmsb_delta d;
	__u64 cur;

	mmsb_delta_dense(&d, self->page, 8, buf, sizeof(buf));
	ASSERT_EQ(0, submit1(self->fd, &d, 0));
	ASSERT_EQ(0, mmsb_wait(self->fd, self->page, 1, 5000000000ULL, &cur));
	EXPECT_EQ(1, cur);
	EXPECT_EQ(0, memcmp(self->data + 8, buf, sizeof(buf)));
}

TEST_F(deltas, masked_and_sparse)
{
	__u8 payload[16], sparse[16], mask[2] = { 0xa5, 0x01 };
	__u8 expect[PAGE_BYTES] = { 0 };
	struct mmsb_delta d[3];
	int i, n = 0;

	for (i = 0; i < 16; i++)
		payload[i] = 0x10 + i;
	/* MASKED: window 10..19, bits 0,2,5,7,8 set. */
	mmsb_delta_dense(&d[0], self->page, 10, payload, 10);
	d[0].encoding = MMSB_DELTA_MASKED;
	d[0].mask = (__u64)(uintptr_t)mask;
	for (i = 0; i < 10; i++)
		if (mask[i / 8] & (1 << (i % 8)))
			expect[10 + i] = payload[i];
	/* SPARSE: same mask at 200, payload only the 5 set bytes. */
	for (i = 0; i < 10; i++)
		if (mask[i / 8] & (1 << (i % 8))) {
			sparse[n] = 0xe0 + n;
			expect[200 + i] = sparse[n++];
		}
	mmsb_delta_dense(&d[1], self->page, 200, sparse, 10);
	d[1].encoding = MMSB_DELTA_SPARSE;
	d[1].mask = (__u64)(uintptr_t)mask;
	d[1].payload_len = n;
	/* A later DENSE delta wins over the MASKED one where they meet. */
	mmsb_delta_dense(&d[2], self->page, 17, payload, 2);
	expect[17] = payload[0];
	expect[18] = payload[1];
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 3, MMSB_SUBMIT_SYNC, NULL));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, d[i].status);
	EXPECT_EQ(0, memcmp(self->data, expect, PAGE_BYTES));
	/* Three deltas, one tick: one epoch step. */
	EXPECT_EQ(1, self->hdr->epoch);
}

struct bad_case {
	const char *name;
	int err;
};

/*
 * Every refusal of a single delta, in one batch with good deltas around
 * them: each gets its own errno, nothing of it is applied, and the good
 * ones are.
 */
TEST_F(deltas, validation_table)
{
	static __u8 buf[PAGE_BYTES], zero[PAGE_BYTES];
	__u8 mask_tail[1] = { 0x0f };	/* bits past len 2 */
	__u8 mask3[1] = { 0x07 };
	struct mmsb_delta d[32], good;
	const char *names[32];
	int err[32], n = 0, i;
	__u64 missing = self->page + 1000;
	__u32 accepted, applied;

#define BAD(e, why) do { names[n] = why; err[n] = e; n++; } while (0)
	memset(buf, 0x77, sizeof(buf));
	mmsb_delta_dense(&good, self->page, 0, buf, 1);

	d[n] = good; d[n].encoding = 3;			BAD(EINVAL, "encoding");
	d[n] = good; d[n].flags = 1;			BAD(EINVAL, "flags");
	d[n] = good; d[n].pad = 1;			BAD(EINVAL, "pad");
	d[n] = good; d[n].len = 0; d[n].payload_len = 0; BAD(EINVAL, "len 0");
	d[n] = good; d[n].mask = (__u64)(uintptr_t)mask3; BAD(EINVAL, "dense+mask");
	d[n] = good; d[n].encoding = MMSB_DELTA_MASKED;	BAD(EINVAL, "masked no mask");
	d[n] = good; d[n].encoding = MMSB_DELTA_SPARSE;	BAD(EINVAL, "sparse no mask");
	d[n] = good; d[n].encoding = MMSB_DELTA_MASKED; d[n].len = 2;
	d[n].payload_len = 2; d[n].mask = (__u64)(uintptr_t)mask_tail;
							BAD(EINVAL, "mask past len");
	d[n] = good; d[n].page_id = missing;		BAD(ENOENT, "no page");
	d[n] = good; d[n].page_id = 0;			BAD(ENOENT, "page 0");
	d[n] = good; d[n].offset = PAGE_BYTES;		BAD(ERANGE, "offset at end");
	d[n] = good; d[n].offset = PAGE_BYTES - 1; d[n].len = 2;
	d[n].payload_len = 2;				BAD(ERANGE, "window past end");
	d[n] = good; d[n].offset = UINT64_MAX; d[n].len = 2;
	d[n].payload_len = 2;				BAD(ERANGE, "offset wraps");
	d[n] = good; d[n].len = PAGE_BYTES + 1;
	d[n].payload_len = PAGE_BYTES + 1;		BAD(ERANGE, "len > page");
	d[n] = good; d[n].len = UINT64_MAX; d[n].payload_len = UINT64_MAX;
							BAD(ERANGE, "len huge");
	d[n] = good; d[n].payload_len = 2;		BAD(EMSGSIZE, "dense payload_len");
	d[n] = good; d[n].encoding = MMSB_DELTA_MASKED; d[n].len = 3;
	d[n].payload_len = 2; d[n].mask = (__u64)(uintptr_t)mask3;
							BAD(EMSGSIZE, "masked payload_len");
	d[n] = good; d[n].encoding = MMSB_DELTA_SPARSE; d[n].len = 3;
	d[n].payload_len = 2; d[n].mask = (__u64)(uintptr_t)mask3;
							BAD(EMSGSIZE, "sparse popcount");
	d[n] = good; d[n].encoding = MMSB_DELTA_SPARSE; d[n].len = 3;
	d[n].payload_len = 4; d[n].mask = (__u64)(uintptr_t)mask3;
							BAD(EMSGSIZE, "sparse payload > len");
	d[n] = good; d[n].payload = 8;			BAD(EFAULT, "payload pointer");
	d[n] = good; d[n].encoding = MMSB_DELTA_MASKED; d[n].mask = 8;
							BAD(EFAULT, "mask pointer");
	d[n] = good; d[n].encoding = MMSB_DELTA_SPARSE; d[n].len = 3;
	d[n].payload_len = 3; d[n].mask = (__u64)(uintptr_t)mask3;
	d[n].payload = 16;				BAD(EFAULT, "sparse payload pointer");
	/* The good ones, at both ends and in the middle. */
	d[n] = good; d[n].offset = 1;			BAD(0, "good 1");
	memmove(&d[1], &d[0], n * sizeof(d[0]));
	memmove(&names[1], &names[0], n * sizeof(names[0]));
	memmove(&err[1], &err[0], n * sizeof(err[0]));
	d[0] = good; names[0] = "good 0"; err[0] = 0; n++;
#undef BAD

	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, n, MMSB_SUBMIT_SYNC,
					&accepted, &applied));
	EXPECT_EQ(2, accepted);
	EXPECT_EQ(2, applied);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(-err[i], d[i].status) TH_LOG("case %s", names[i]);
		if (err[i])
			EXPECT_EQ(0, d[i].delta_id) TH_LOG("case %s", names[i]);
	}
	/* Only the two good deltas wrote: bytes 0 and 1. */
	EXPECT_EQ(0x77, self->data[0]);
	EXPECT_EQ(0x77, self->data[1]);
	EXPECT_EQ(0, memcmp(self->data + 2, zero, PAGE_BYTES - 2));
	EXPECT_EQ(1, self->hdr->epoch);
}

/*
 * Payloads and masks that end in memory the caller cannot read: the
 * kernel reads small payloads 32 bytes a block (kmod/usercopy.h), so a
 * fault in the first block, in a later block, in the word tail, in a
 * large payload (copy_from_user()) and in a mask each refuse their
 * delta with -EFAULT, and write nothing; the deltas around them apply.
 */
TEST_F(deltas, payload_faults)
{
	static const struct {
		const char *name;
		unsigned int len, before;	/* bytes readable */
		int err;
	} c[] = {
		{ "first block",	64,	8,	EFAULT },
		{ "second block",	64,	40,	EFAULT },
		{ "word tail",		72,	68,	EFAULT },
		{ "byte tail",		67,	66,	EFAULT },
		{ "large",		300,	296,	EFAULT },
		{ "readable",		64,	64,	0 },
		{ "readable, tail",	67,	67,	0 },
	};
	static __u8 expect[PAGE_BYTES];
	const long pg = sysconf(_SC_PAGESIZE);
	const size_t n = ARRAY_SIZE(c) + 1, size = 2 * n * pg;
	struct mmsb_delta d[ARRAY_SIZE(c) + 1];
	unsigned int i, off = 0;
	__u8 *mem, *end;

	/* Each case its own readable page, followed by one that is not. */
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, mprotect(mem + (2 * i + 1) * pg, pg, PROT_NONE));
	for (i = 0; i < ARRAY_SIZE(c); i++, off += c[i - 1].len) {
		__u8 *p = mem + (2 * i + 1) * pg - c[i].before;

		memset(p, 0x10 + i, c[i].before);
		mmsb_delta_dense(&d[i], self->page, off, p, c[i].len);
		if (!c[i].err)
			memset(expect + off, 0x10 + i, c[i].len);
	}
	/* A MASKED delta whose mask is past the end. */
	end = mem + (2 * i + 1) * pg;
	mmsb_delta_dense(&d[i], self->page, off, end - 1, 1);
	d[i].encoding = MMSB_DELTA_MASKED;
	d[i].mask = (__u64)(uintptr_t)end;
	ASSERT_EQ(0, mmsb_submit(self->fd, d, i + 1, MMSB_SUBMIT_SYNC, NULL));
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		EXPECT_EQ(-c[i].err, d[i].status) TH_LOG("case %s", c[i].name);
		EXPECT_EQ(!c[i].err, !!d[i].delta_id)
			TH_LOG("case %s", c[i].name);
	}
	EXPECT_EQ(-EFAULT, d[i].status);
	EXPECT_EQ(0, memcmp(self->data, expect, PAGE_BYTES));
	munmap(mem, size);
}

TEST_F(deltas, submit_refusals)
{
	struct mmsb_delta d;
	struct mmsb_submit s = { 0 };
	char c = 1;

	mmsb_delta_dense(&d, self->page, 0, &c, 1);
	s.deltas = (__u64)(uintptr_t)&d;
	s.count = 1;
	/* The first flag bit no MMSB_SUBMIT_* has. */
	s.flags = (MMSB_SUBMIT_FLAGS_ALL + 1) & ~MMSB_SUBMIT_FLAGS_ALL;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	s.flags = 0;
	s.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	s.reserved[1] = 0;
	s.count = 0;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	s.count = MMSB_SUBMIT_MAX + 1;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	s.count = 1;
	s.deltas = 8;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_SUBMIT, &s));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_SUBMIT, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

/* A process without write permission gets -EACCES for that delta. */
/*
 * A file keeps the pages its submissions looked up, without holding
 * them: a page freed after the file used it is reclaimed while the file
 * stays open, and a later delta for it is refused with -ENOENT, never
 * applied to freed memory (KASAN watches on the debug kernel).  Ids 64
 * apart share a slot of that cache, and alternate here in one call.
 */
TEST_F(deltas, page_cache_follows_frees)
{
	const struct mmsb_page_header *far_hdr;
	struct mmsb_stats base, st;
	struct mmsb_delta d[8];
	__u64 ids[64], gone;
	__u32 accepted, applied;
	const __u8 *far;
	int i, ms;

	for (i = 0; i < 64; i++)
		ASSERT_EQ(0, create(self->fd, 64, 0, &ids[i]));
	ASSERT_EQ(self->page + 64, ids[63]) TH_LOG("ids not in sequence");
	ASSERT_EQ(0, mmsb_page_map(self->fd, ids[63], &far_hdr));
	far = (const __u8 *)far_hdr + MMSB_PAGE_DATA_OFFSET;
	gone = ids[1];

	for (i = 0; i < 8; i++)
		mmsb_delta_dense(&d[i], i % 2 ? ids[63] : self->page, i,
				 "abcdefgh" + i, 1);
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, 8, MMSB_SUBMIT_SYNC,
					&accepted, &applied));
	EXPECT_EQ(8, applied);
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(0, d[i].status);
		EXPECT_EQ(1, d[i].epoch);
		EXPECT_EQ("abcdefgh"[i], i % 2 ? far[i] : self->data[i]);
	}

	mmsb_delta_dense(&d[0], gone, 0, "x", 1);
	ASSERT_EQ(0, submit1(self->fd, &d[0], MMSB_SUBMIT_SYNC));
	ASSERT_EQ(0, d[0].status);
	ASSERT_EQ(0, mmsb_stats(self->fd, &base));
	ASSERT_EQ(0, mmsb_page_free(self->fd, gone));
	for (ms = 0; ms < 10000; ms++) {
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		if (st.gc_reclaimed_pages > base.gc_reclaimed_pages)
			break;
		usleep(1000);
	}
	ASSERT_EQ(base.gc_reclaimed_pages + 1, st.gc_reclaimed_pages);
	EXPECT_EQ(base.page_bytes - sysconf(_SC_PAGESIZE), st.page_bytes);
	/* Some grace periods: its struct is freed (kfree_rcu()) by now. */
	usleep(300000);

	mmsb_delta_dense(&d[0], gone, 0, "y", 1);
	mmsb_delta_dense(&d[1], self->page, 0, "z", 1);
	mmsb_delta_dense(&d[2], ids[63], 1, "w", 1);
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, 3, MMSB_SUBMIT_SYNC,
					&accepted, &applied));
	EXPECT_EQ(2, accepted);
	EXPECT_EQ(-ENOENT, d[0].status);
	EXPECT_EQ(0, d[0].delta_id);
	EXPECT_EQ(0, d[1].status);
	EXPECT_EQ(2, d[1].epoch);
	EXPECT_EQ(0, d[2].status);
	EXPECT_EQ(2, d[2].epoch);
	EXPECT_EQ('z', self->data[0]);
	EXPECT_EQ('w', far[1]);
	mmsb_page_unmap(far_hdr);
}

TEST_F(deltas, no_write_permission)
{
	__u64 ro;
	pid_t pid;

	ASSERT_EQ(0, create(self->fd, 64, 0644, &ro));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct mmsb_delta d;
		char c = 1;
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		fd = mmsb_open();
		if (fd < 0)
			_exit(3);
		mmsb_delta_dense(&d, ro, 0, &c, 1);
		if (submit1(fd, &d, MMSB_SUBMIT_SYNC) || d.status != -EACCES)
			_exit(4);
		_exit(0);
	}
	EXPECT_EQ(0, reap(1));
}

TEST_F(deltas, epochs_and_conflicts)
{
	struct mmsb_delta d[3];
	__u32 accepted, applied;
	char c = 1;

	/* Expected epoch 0 applies at any epoch. */
	mmsb_delta_dense(&d[0], self->page, 0, &c, 1);
	ASSERT_EQ(0, submit1(self->fd, &d[0], MMSB_SUBMIT_SYNC));
	ASSERT_EQ(0, d[0].status);
	ASSERT_EQ(1, d[0].epoch);
	/* The current epoch: applies, one step. */
	mmsb_delta_dense(&d[0], self->page, 0, &c, 1);
	d[0].expected_epoch = 1;
	ASSERT_EQ(0, submit1(self->fd, &d[0], MMSB_SUBMIT_SYNC));
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(2, d[0].epoch);
	/* A stale epoch: conflict, not applied. */
	c = 2;
	mmsb_delta_dense(&d[0], self->page, 0, &c, 1);
	d[0].expected_epoch = 1;
	ASSERT_EQ(0, submit1(self->fd, &d[0], MMSB_SUBMIT_SYNC));
	EXPECT_EQ(-ESTALE, d[0].status);
	EXPECT_EQ(2, d[0].epoch);
	EXPECT_EQ(1, self->data[0]);
	/*
	 * Two with the same expected epoch in one batch: the first wins.
	 * Both were accepted; only the winner counts as applied.
	 */
	mmsb_delta_dense(&d[0], self->page, 0, &c, 1);
	d[0].expected_epoch = 2;
	d[1] = d[0];
	d[1].offset = 1;
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, 2, MMSB_SUBMIT_SYNC,
					&accepted, &applied));
	EXPECT_EQ(2, accepted);
	EXPECT_EQ(1, applied);
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(-ESTALE, d[1].status);
	EXPECT_EQ(3, d[0].epoch);
	EXPECT_EQ(2, self->data[0]);
	EXPECT_EQ(0, self->data[1]);
	/* An earlier change in the same tick makes a matching epoch stale. */
	mmsb_delta_dense(&d[0], self->page, 4, &c, 1);
	d[1] = d[0];
	d[1].expected_epoch = 3;
	d[1].offset = 5;
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 2, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_EQ(0, d[0].status);
	EXPECT_EQ(-ESTALE, d[1].status);
	EXPECT_EQ(4, self->hdr->epoch);
}

TEST_F(deltas, wait)
{
	struct mmsb_wait w = { 0 };
	struct mmsb_delta d;
	__u64 cur = 99, other;
	char c = 1;
	pid_t pid;

	EXPECT_EQ(0, mmsb_wait(self->fd, self->page, 0, 0, &cur));
	EXPECT_EQ(0, cur);
	EXPECT_EQ(-ETIMEDOUT, mmsb_wait(self->fd, self->page, 1, 0, &cur));
	EXPECT_EQ(-ETIMEDOUT, mmsb_wait(self->fd, self->page, 1, 20000000, &cur));
	EXPECT_EQ(-ENOENT, mmsb_wait(self->fd, self->page + 1000, 1, 0, NULL));
	w.page_id = self->page;
	w.reserved[0] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_WAIT, &w));
	EXPECT_EQ(EINVAL, errno);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		usleep(50000);
		mmsb_delta_dense(&d, self->page, 0, &c, 1);
		_exit(submit1(self->fd, &d, 0) ? 1 : 0);
	}
	EXPECT_EQ(0, mmsb_wait(self->fd, self->page, 1, UINT64_MAX, &cur));
	EXPECT_EQ(1, cur);
	EXPECT_EQ(0, reap(1));

	/* Freed while waiting: -EIDRM. */
	ASSERT_EQ(0, create(self->fd, 64, 0, &other));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		usleep(50000);
		_exit(mmsb_page_free(self->fd, other) ? 1 : 0);
	}
	EXPECT_EQ(-EIDRM, mmsb_wait(self->fd, other, 1, 5000000000ULL, NULL));
	EXPECT_EQ(0, reap(1));
}

TEST_F(deltas, poll_and_events)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
	struct mmsb_event ev[4];
	struct mmsb_delta d;
	__u64 id = self->page;
	char c = 1;

	EXPECT_EQ(-ENOENT, mmsb_subscribe(self->fd, self->page + 1000));
	ASSERT_EQ(0, mmsb_subscribe(self->fd, self->page));
	EXPECT_EQ(-EEXIST, mmsb_subscribe(self->fd, self->page));
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(-EAGAIN, mmsb_read_events(self->fd, ev, 4));
	EXPECT_EQ(-1, read(self->fd, ev, sizeof(ev[0]) - 1));
	EXPECT_EQ(EINVAL, errno);

	mmsb_delta_dense(&d, self->page, 0, &c, 1);
	ASSERT_EQ(0, submit1(self->fd, &d, 0));
	/* Woken by the tick, not by the submission. */
	ASSERT_EQ(1, poll(&pfd, 1, 5000));
	EXPECT_TRUE(pfd.revents & POLLIN);
	ASSERT_EQ(1, mmsb_read_events(self->fd, ev, 4));
	EXPECT_EQ(id, ev[0].page_id);
	EXPECT_EQ(1, ev[0].epoch);
	/* Read marks it read. */
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(-EAGAIN, mmsb_read_events(self->fd, ev, 4));
}

/*
 * MMSB_IOC_SUBSCRIBE takes struct mmsb_subscribe: flags, pad and
 * reserved must be zero (-EINVAL, nothing subscribed), and the old
 * number, whose argument was a bare __u64 id, is no command (-ENOTTY).
 */
TEST_F(deltas, subscribe_struct)
{
	struct mmsb_subscribe sub;
	__u64 id = self->page;
	int i;

	for (i = 0; i < 4; i++) {
		memset(&sub, 0, sizeof(sub));
		sub.page_id = self->page;
		if (i == 0)
			sub.flags = 1;
		else if (i == 1)
			sub.pad = 1U << 31;
		else
			sub.reserved[i - 2] = 1;
		EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_SUBSCRIBE, &sub))
			TH_LOG("case %d", i);
	}
	EXPECT_EQ(-ENOTTY, ioctl_err(self->fd, _IOW(MMSB_IOC_MAGIC, 0x13, __u64),
				     &id));
	EXPECT_EQ(-EFAULT, ioctl_err(self->fd, MMSB_IOC_SUBSCRIBE, (void *)8));
	/* None of them subscribed: the first real one does. */
	memset(&sub, 0, sizeof(sub));
	sub.page_id = self->page;
	EXPECT_EQ(0, ioctl_err(self->fd, MMSB_IOC_SUBSCRIBE, &sub));
	EXPECT_EQ(-EEXIST, ioctl_err(self->fd, MMSB_IOC_SUBSCRIBE, &sub));
}

TEST_F(deltas, stats)
{
	struct mmsb_stats a, b;
	struct mmsb_delta d[2];
	char c = 1;

	ASSERT_EQ(0, mmsb_stats(self->fd, &a));
	mmsb_delta_dense(&d[0], self->page, 0, &c, 1);
	mmsb_delta_dense(&d[1], self->page, 0, &c, 1);
	d[1].expected_epoch = 77;
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 2, MMSB_SUBMIT_SYNC, NULL));
	d[0].len = 0;
	ASSERT_EQ(0, submit1(self->fd, &d[0], MMSB_SUBMIT_SYNC));
	ASSERT_EQ(0, mmsb_stats(self->fd, &b));
	EXPECT_EQ(sizeof(b), b.size);
	EXPECT_EQ(a.submitted + 2, b.submitted);
	EXPECT_EQ(a.processed + 1, b.processed);
	EXPECT_EQ(a.conflicts + 1, b.conflicts);
	EXPECT_EQ(a.rejected + 1, b.rejected);
	EXPECT_LT(a.ticks, b.ticks);
	/* Ticks are numbered from 1; only those with deltas count. */
	EXPECT_EQ(b.ticks, b.last.tick);
	EXPECT_GE(b.last.total_ns, b.last.apply_ns);
	EXPECT_EQ(0, b.delta_bytes);
	EXPECT_EQ(0, b.ring_depth);
	/* ring_size, rounded up to a power of two. */
	EXPECT_EQ(ring_capacity(), b.ring_capacity);
}

/*
 * The model test.  Process p owns bytes [p * 512, p * 512 + 512) of
 * every page, so the final pages do not depend on how the processes
 * interleave; within its region each process's deltas must apply in
 * its submission order, exactly once.
 */
#define MODEL_PROCS	8
#define MODEL_DELTAS	100000
#define MODEL_BATCH	250
#define REGION		(PAGE_BYTES / MODEL_PROCS)

/* MODEL_DELTAS, or fewer for a quick look (env MMSB_MODEL_DELTAS). */
static int model_deltas(void)
{
	const char *e = getenv("MMSB_MODEL_DELTAS");

	return e ? atoi(e) / MODEL_BATCH * MODEL_BATCH : MODEL_DELTAS;
}

static int model_child(int fd, const __u64 *pages, int p, __u64 *ids)
{
	static __u8 model[NR_PAGES][REGION];
	static __u8 payload[MODEL_BATCH][32], mask[MODEL_BATCH][4];
	static struct mmsb_delta d[MODEL_BATCH];
	__u64 seed = 0x9e3779b97f4a7c15ULL * (p + 1);
	int done = 0, i, j, k, total = model_deltas();

	while (done < total) {
		for (i = 0; i < MODEL_BATCH; i++) {
			int pg = rnd(&seed) % NR_PAGES;
			int off = rnd(&seed) % REGION;
			int len = 1 + rnd(&seed) % 32;
			int enc = rnd(&seed) % 3, n = 0;

			if (off + len > REGION)
				len = REGION - off;
			memset(mask[i], 0, sizeof(mask[i]));
			for (j = 0; j < len; j++) {
				__u8 v = rnd(&seed);
				int set = enc == MMSB_DELTA_DENSE ||
					  (rnd(&seed) & 1);

				if (!set)
					continue;
				mask[i][j / 8] |= 1 << (j % 8);
				model[pg][off + j] = v;
				payload[i][enc == MMSB_DELTA_SPARSE ? n : j] = v;
				n++;
			}
			mmsb_delta_dense(&d[i], pages[pg], p * REGION + off,
					 payload[i], len);
			d[i].encoding = enc;
			if (enc != MMSB_DELTA_DENSE)
				d[i].mask = (__u64)(uintptr_t)mask[i];
			if (enc == MMSB_DELTA_SPARSE)
				d[i].payload_len = n;
		}
		done += MODEL_BATCH;
		/* The last batch is SYNC: everything before it is applied. */
		if (mmsb_submit(fd, d, MODEL_BATCH,
				done == total ? MMSB_SUBMIT_SYNC : 0,
				NULL))
			return 10;
		for (i = 0; i < MODEL_BATCH; i++) {
			if (d[i].status || !d[i].delta_id)
				return 11;
			*ids++ = d[i].delta_id;
		}
	}
	for (k = 0; k < NR_PAGES; k++) {
		const struct mmsb_page_header *hdr;
		__u8 buf[REGION];

		if (mmsb_page_map(fd, pages[k], &hdr))
			return 12;
		if (mmsb_page_read(hdr, p * REGION, buf, REGION, NULL))
			return 13;
		mmsb_page_unmap(hdr);
		if (memcmp(buf, model[k], REGION))
			return 14;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* About 30 s on the KASAN debug kernel under TCG. */
TEST_F_TIMEOUT(deltas, model_8x100000, 300)
{
	size_t nids = (size_t)MODEL_PROCS * model_deltas();
	struct mmsb_stats a, b;
	__u64 pages[NR_PAGES], *ids;
	double t0;
	int p, k;

	for (k = 0; k < NR_PAGES; k++)
		ASSERT_EQ(0, create(self->fd, PAGE_BYTES, 0, &pages[k]));
	ids = shared_alloc(nids * sizeof(*ids));
	ASSERT_NE(NULL, ids);
	ASSERT_EQ(0, mmsb_stats(self->fd, &a));
	for (p = 0; p < MODEL_PROCS; p++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			int fd = mmsb_open();

			_exit(fd < 0 ? 9 : model_child(fd, pages, p,
						       ids + (size_t)p * model_deltas()));
		}
	}
	t0 = now_s();
	ASSERT_EQ(0, reap(MODEL_PROCS));
	t0 = now_s() - t0;
	ASSERT_EQ(0, mmsb_stats(self->fd, &b));
	TH_LOG("%zu deltas in %.1f s (%.0f/s), %llu ticks, %llu overruns",
	       nids, t0, nids / t0,
	       (unsigned long long)(b.ticks - a.ticks),
	       (unsigned long long)(b.overruns - a.overruns));
	/* Each delta accepted once and applied once, nothing refused. */
	EXPECT_EQ(nids, b.submitted - a.submitted);
	EXPECT_EQ(nids, b.processed - a.processed);
	EXPECT_EQ(a.rejected, b.rejected);
	EXPECT_EQ(a.conflicts, b.conflicts);
	EXPECT_EQ(0, b.ring_depth);
	qsort(ids, nids, sizeof(*ids), cmp_u64);
	for (k = 1; k < (int)nids; k++)
		if (ids[k] == ids[k - 1])
			break;
	EXPECT_EQ(nids, k) TH_LOG("duplicate delta id %llu",
				  (unsigned long long)ids[k]);
	for (k = 0; k < NR_PAGES; k++) {
		struct mmsb_page_info info;

		ASSERT_EQ(0, mmsb_page_info(self->fd, pages[k], &info));
		EXPECT_GE(info.epoch, 1);
		EXPECT_NE(0, info.last_delta_id);
	}
	munmap(ids, nids * sizeof(*ids));
}

/*
 * Torn reads: every delta writes one 64-bit value over the whole page;
 * readers copy it with the header protocol and check all words equal.
 */
#define TORN_READERS	2
#define TORN_DELTAS	3000

TEST_F(deltas, no_torn_reads)
{
	static __u64 val[16][PAGE_BYTES / 8];
	volatile int *stop = shared_alloc(4096);
	int r, i, j;

	ASSERT_NE(NULL, stop);
	for (r = 0; r < TORN_READERS; r++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			static __u64 buf[PAGE_BYTES / 8];
			__u64 last = 0, changes = 0, reads = 0;

			while (!*stop || reads < 10) {
				mmsb_page_read(self->hdr, 0, buf, PAGE_BYTES,
					       NULL);
				reads++;
				for (i = 1; i < PAGE_BYTES / 8; i++)
					if (buf[i] != buf[0])
						_exit(20);
				if (buf[0] != last)
					changes++;
				last = buf[0];
			}
			_exit(changes > 1 ? 0 : 21);
		}
	}
	for (i = 0; i < TORN_DELTAS; i += 16) {
		struct mmsb_delta d[16];

		for (j = 0; j < 16; j++) {
			for (r = 0; r < PAGE_BYTES / 8; r++)
				val[j][r] = i + j + 1;
			mmsb_delta_dense(&d[j], self->page, 0, val[j],
					 PAGE_BYTES);
		}
		ASSERT_EQ(0, mmsb_submit(self->fd, d, 16,
					 (i / 16) % 8 ? 0 : MMSB_SUBMIT_SYNC,
					 NULL));
	}
	ASSERT_EQ(0, mmsb_flush(self->fd));
	*stop = 1;
	EXPECT_EQ(0, reap(TORN_READERS));
}

/*
 * N processes race, round after round, to change byte 0 of a page at
 * the epoch they all read: exactly one wins each round, the others get
 * -ESTALE; the page then holds the winner's byte, one epoch further.
 * The page starts at epoch 1 (expected epoch 0 means "any"), so every
 * round is a real race.
 */
#define RACERS		4
#define ROUNDS		30

struct race {
	pthread_barrier_t barrier;
	int wins[ROUNDS];
	int stale[ROUNDS];
	int winner[ROUNDS];		/* the racer that won */
	__u64 win_epoch[ROUNDS];	/* the epoch the winner was told */
	__u8 byte[ROUNDS];		/* byte 0 after the round */
	__u64 epoch[ROUNDS];		/* the page's epoch after the round */
	int other;
};

static __u8 racer_byte(int p)
{
	return 0x10 + p;
}

TEST_F(deltas, conflicts_one_winner)
{
	struct race *race = shared_alloc(sizeof(*race));
	pthread_barrierattr_t attr;
	struct mmsb_stats a, b;
	struct mmsb_delta d;
	__u8 first = 0xff;
	int p, r;

	ASSERT_NE(NULL, race);
	pthread_barrierattr_init(&attr);
	pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	ASSERT_EQ(0, pthread_barrier_init(&race->barrier, &attr, RACERS));
	mmsb_delta_dense(&d, self->page, 0, &first, 1);
	ASSERT_EQ(0, submit1(self->fd, &d, MMSB_SUBMIT_SYNC));
	ASSERT_EQ(1, d.epoch);
	ASSERT_EQ(0, mmsb_stats(self->fd, &a));
	for (p = 0; p < RACERS; p++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			int fd = mmsb_open();

			for (r = 0; r < ROUNDS; r++) {
				struct mmsb_page_info info;
				__u8 c = racer_byte(p);

				pthread_barrier_wait(&race->barrier);
				if (mmsb_page_info(fd, self->page, &info))
					_exit(1);
				pthread_barrier_wait(&race->barrier);
				mmsb_delta_dense(&d, self->page, 0, &c, 1);
				d.expected_epoch = info.epoch;
				if (submit1(fd, &d, MMSB_SUBMIT_SYNC))
					_exit(2);
				if (!d.status) {
					__atomic_add_fetch(&race->wins[r], 1,
							   __ATOMIC_SEQ_CST);
					race->winner[r] = p;
					race->win_epoch[r] = d.epoch;
				} else if (d.status == -ESTALE) {
					__atomic_add_fetch(&race->stale[r], 1,
							   __ATOMIC_SEQ_CST);
				} else {
					__atomic_add_fetch(&race->other, 1,
							   __ATOMIC_SEQ_CST);
				}
				pthread_barrier_wait(&race->barrier);
				/* Everyone's SYNC returned: the round is over. */
				if (p == 0 &&
				    mmsb_page_read(self->hdr, 0, &race->byte[r], 1,
						   &race->epoch[r]))
					_exit(3);
			}
			_exit(0);
		}
	}
	ASSERT_EQ(0, reap(RACERS));
	ASSERT_EQ(0, mmsb_stats(self->fd, &b));
	EXPECT_EQ(0, race->other);
	for (r = 0; r < ROUNDS; r++) {
		EXPECT_EQ(1, race->wins[r]) TH_LOG("round %d", r);
		EXPECT_EQ(RACERS - 1, race->stale[r]) TH_LOG("round %d", r);
		EXPECT_EQ(r + 2, race->win_epoch[r]) TH_LOG("round %d", r);
		EXPECT_EQ(r + 2, race->epoch[r]) TH_LOG("round %d", r);
		EXPECT_EQ(racer_byte(race->winner[r]), race->byte[r])
			TH_LOG("round %d", r);
	}
	EXPECT_EQ(ROUNDS + 1, self->hdr->epoch);
	EXPECT_EQ(ROUNDS * (RACERS - 1), b.conflicts - a.conflicts);
	EXPECT_EQ(ROUNDS, b.processed - a.processed);
}

/*
 * MMSB_IOC_WAIT and a signal: a handler without SA_RESTART gets -EINTR;
 * with SA_RESTART the wait restarts (-ERESTARTSYS) and ends when the
 * page reaches the epoch, with or without a timeout.
 */
static void on_signal(int sig)
{
}

TEST_F(deltas, wait_interrupted)
{
	static const __u64 timeouts[] = { UINT64_MAX, 60000000000ULL };
	unsigned int i, restart;
	__u64 epoch = 0;

	for (i = 0; i < 2 * ARRAY_SIZE(timeouts); i++) {
		pid_t pid;

		restart = i / ARRAY_SIZE(timeouts);
		pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			struct sigaction sa = {
				.sa_handler = on_signal,
				.sa_flags = restart ? SA_RESTART : 0,
			};
			__u64 cur = 99;
			int ret;

			if (sigaction(SIGUSR1, &sa, NULL))
				_exit(100);
			ret = mmsb_wait(self->fd, self->page, epoch + 1,
					timeouts[i % 2], &cur);
			if (ret == -EINTR)
				_exit(cur == epoch ? EINTR : 101);
			_exit(!ret && cur == epoch + 1 ? 0 : 102);
		}
		ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_WAIT));
		ASSERT_EQ(0, kill(pid, SIGUSR1));
		if (restart) {
			struct mmsb_delta d;
			__u8 b = i;

			/* Still waiting, restarted; the change ends it. */
			usleep(20000);
			ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_WAIT));
			mmsb_delta_dense(&d, self->page, 0, &b, 1);
			ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1,
						 MMSB_SUBMIT_SYNC, NULL));
			epoch++;
		}
		EXPECT_EQ(restart ? 0 : EINTR, wait_child(pid))
			TH_LOG("timeout %llu, SA_RESTART %u",
			       (unsigned long long)timeouts[i % 2], restart);
	}
}

/*
 * read() gives one event per changed page, however often it changed,
 * in page order, whole events only, as many as the buffer holds; the
 * rest stay for the next read.
 */
TEST_F(deltas, events_one_per_page)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
	struct mmsb_event ev[3];
	struct mmsb_delta d[2];
	__u64 id[3];
	char c = 1;
	int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, create(self->fd, 64, 0, &id[i]));
		ASSERT_EQ(0, mmsb_subscribe(self->fd, id[i]));
	}
	/* id[0] twice (epoch 2), then id[1] and id[2] in one tick. */
	for (i = 0; i < 2; i++) {
		mmsb_delta_dense(&d[0], id[0], 0, &c, 1);
		ASSERT_EQ(0, submit1(self->fd, &d[0], MMSB_SUBMIT_SYNC));
	}
	mmsb_delta_dense(&d[0], id[1], 0, &c, 1);
	mmsb_delta_dense(&d[1], id[2], 0, &c, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 2, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(1, poll(&pfd, 1, 0));

	/* Two and a half events of room: two events. */
	memset(ev, 0, sizeof(ev));
	EXPECT_EQ(2 * sizeof(ev[0]),
		  read(self->fd, ev, 2 * sizeof(ev[0]) + sizeof(ev[0]) / 2));
	EXPECT_EQ(id[0], ev[0].page_id);
	EXPECT_EQ(2, ev[0].epoch);
	EXPECT_EQ(id[1], ev[1].page_id);
	EXPECT_EQ(1, ev[1].epoch);
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	/* Room for three: the one left. */
	memset(ev, 0, sizeof(ev));
	EXPECT_EQ(sizeof(ev[0]), read(self->fd, ev, sizeof(ev)));
	EXPECT_EQ(id[2], ev[0].page_id);
	EXPECT_EQ(1, ev[0].epoch);
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(-EAGAIN, mmsb_read_events(self->fd, ev, 3));

	/* A change after the read is a new event. */
	mmsb_delta_dense(&d[0], id[1], 0, &c, 1);
	ASSERT_EQ(0, submit1(self->fd, &d[0], MMSB_SUBMIT_SYNC));
	ASSERT_EQ(1, mmsb_read_events(self->fd, ev, 3));
	EXPECT_EQ(id[1], ev[0].page_id);
	EXPECT_EQ(2, ev[0].epoch);
}

/*
 * The header's seq is odd while the kernel writes the page: a reader
 * spinning on it sees an odd value during a large delta, and at rest it
 * is even, two steps per write section (one per tick that changed the
 * page).
 */
#define SEQ_PAGE	(4 << 20)

struct seq_watch {
	const struct mmsb_page_header *hdr;
	volatile int stop;
	unsigned long odd, looks;
};

static void *seq_watcher(void *arg)
{
	struct seq_watch *w = arg;

	while (!w->stop) {
		w->odd += __atomic_load_n(&w->hdr->seq, __ATOMIC_ACQUIRE) & 1;
		w->looks++;
	}
	return NULL;
}

TEST_F_TIMEOUT(deltas, seq_odd_while_writing, 120)
{
	struct seq_watch w = { 0 };
	struct mmsb_delta d;
	pthread_t th;
	__u8 *buf;
	__u64 id;
	int i;

	buf = malloc(SEQ_PAGE);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, create(self->fd, SEQ_PAGE, 0, &id));
	ASSERT_EQ(0, mmsb_page_map(self->fd, id, &w.hdr));
	ASSERT_EQ(0, pthread_create(&th, NULL, seq_watcher, &w));
	for (i = 1; i <= 50 && !w.odd; i++) {
		memset(buf, i, SEQ_PAGE);
		mmsb_delta_dense(&d, id, 0, buf, SEQ_PAGE);
		ASSERT_EQ(0, submit1(self->fd, &d, MMSB_SUBMIT_SYNC));
		ASSERT_EQ(0, d.status);
	}
	w.stop = 1;
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_LT(0, w.odd) TH_LOG("%lu looks at seq over %d writes", w.looks,
				   i - 1);
	EXPECT_EQ(i - 1, w.hdr->epoch);
	EXPECT_EQ(2 * w.hdr->epoch, w.hdr->seq);
	EXPECT_EQ(i - 1, ((const __u8 *)w.hdr)[MMSB_PAGE_DATA_OFFSET + SEQ_PAGE - 1]);
	mmsb_page_unmap(w.hdr);
	free(buf);
}

/*
 * The tick, seen through STATS: each test loads mmsb with its own
 * parameters, ticks only on demand (tick_us=0) or once a second (the
 * test is over long before), so every tick is one a test asked for,
 * and leaves it loaded with the defaults.
 */
FIXTURE(tick) {
	int fd;
	__u64 page;
	const struct mmsb_page_header *hdr;
	const __u8 *data;
};

FIXTURE_SETUP(tick)
{
	self->fd = -1;
	self->hdr = NULL;
}

FIXTURE_TEARDOWN(tick)
{
	if (self->hdr)
		mmsb_page_unmap(self->hdr);
	if (self->fd >= 0)
		close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

static void tick_open(struct __test_metadata *_metadata,
		      FIXTURE_DATA(tick) *self, const char *params)
{
	ASSERT_EQ(0, module_reload(params)) TH_LOG("insmod mmsb.ko %s", params);
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, create(self->fd, PAGE_BYTES, 0, &self->page));
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->page, &self->hdr));
	self->data = (const __u8 *)self->hdr + MMSB_PAGE_DATA_OFFSET;
}

/* FLUSH, then the tick it ran: the @n-th since load, nothing else. */
#define FLUSH_TICK(n, st) do {						\
	ASSERT_EQ(0, mmsb_flush(self->fd));				\
	ASSERT_EQ(0, mmsb_stats(self->fd, &(st)));			\
	ASSERT_EQ((__u64)(n), (st).ticks) TH_LOG("another tick ran");	\
	ASSERT_EQ((__u64)(n), (st).last.tick);				\
} while (0)

/* The time figures of a tick: its phases run one after the other. */
#define EXPECT_PHASES(m) do {						\
	EXPECT_GE((m).total_ns, (m).apply_ns + (m).propagate_ns +	\
		  (m).graph_ns + (m).gc_ns);				\
	EXPECT_EQ((m).apply_ns ? (m).processed * 1000000000ULL /	\
		  (m).apply_ns : 0, (m).throughput);			\
} while (0)

/* Without a timer, queued deltas wait for MMSB_IOC_FLUSH. */
TEST_F(tick, flush_applies_queued)
{
	char buf[8] = "flushed";
	struct mmsb_delta d;
	struct mmsb_stats st;
	__u32 accepted, applied;

	tick_open(_metadata, self, "tick_us=0");
	mmsb_delta_dense(&d, self->page, 0, buf, sizeof(buf));
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, &d, 1, 0, &accepted,
					&applied));
	EXPECT_EQ(1, accepted);
	EXPECT_EQ(0, applied);
	EXPECT_EQ(0, d.status);
	EXPECT_NE(0, d.delta_id);
	/* Twenty periods of the default timer: no tick. */
	usleep(20000);
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(0, st.ticks);
	EXPECT_EQ(1, st.ring_depth);
	EXPECT_EQ(0, self->hdr->epoch);
	EXPECT_EQ(0, self->data[0]);
	FLUSH_TICK(1, st);
	EXPECT_EQ(0, st.ring_depth);
	EXPECT_EQ(0, memcmp(self->data, buf, sizeof(buf)));
	EXPECT_EQ(1, self->hdr->epoch);
	EXPECT_EQ(d.delta_id, self->hdr->last_delta_id);
}

/*
 * One tick of: 3 deltas applied to one page, 2 stale (expected epoch
 * 7), 1 to a page freed before the tick.  Its metrics and the totals.
 */
TEST_F(tick, metrics_of_one_tick)
{
	struct mmsb_stats a, st;
	struct mmsb_delta d[6];
	__u64 stale, gone;
	__u32 accepted;
	char c = 1;
	int i;

	/* No budget a loaded host could reach: the tick must not overrun. */
	tick_open(_metadata, self, "tick_us=0 tick_budget_us=10000000");
	ASSERT_EQ(0, create(self->fd, 64, 0, &stale));
	ASSERT_EQ(0, create(self->fd, 64, 0, &gone));
	for (i = 0; i < 3; i++)
		mmsb_delta_dense(&d[i], self->page, 8 * i, &c, 1);
	for (; i < 5; i++) {
		mmsb_delta_dense(&d[i], stale, i, &c, 1);
		d[i].expected_epoch = 7;
	}
	mmsb_delta_dense(&d[5], gone, 0, &c, 1);
	ASSERT_EQ(0, mmsb_stats(self->fd, &a));
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 6, 0, &accepted));
	EXPECT_EQ(6, accepted);
	ASSERT_EQ(0, mmsb_page_free(self->fd, gone));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(6, st.ring_depth);

	FLUSH_TICK(a.ticks + 1, st);
	EXPECT_EQ(3, st.last.processed);
	EXPECT_EQ(2, st.last.conflicts);
	EXPECT_EQ(1, st.last.rejected);
	EXPECT_EQ(1, st.last.pages_changed);
	EXPECT_EQ(0, st.last.propagated);
	EXPECT_EQ(0, st.last.ring_depth);
	EXPECT_EQ(0, st.last.overrun);
	EXPECT_EQ(0, st.last.graph_has_cycle);
	EXPECT_EQ(0, st.last.pad);
	EXPECT_TRUE(all_zero(st.last.reserved, sizeof(st.last.reserved)));
	EXPECT_PHASES(st.last);
	EXPECT_EQ(a.submitted + 6, st.submitted);
	EXPECT_EQ(a.processed + 3, st.processed);
	EXPECT_EQ(a.conflicts + 2, st.conflicts);
	EXPECT_EQ(a.rejected + 1, st.rejected);
	EXPECT_EQ(a.overruns, st.overruns);
	EXPECT_EQ(0, st.ring_depth);
	EXPECT_EQ(1, self->hdr->epoch);
}

/*
 * batch_max=4: a tick takes four deltas and leaves the rest in the
 * ring (ring_depth), for the next tick.  ring_size=1000 makes a ring of
 * 1024 slots; ring_bytes is its slots (a sequence number and a pointer
 * each), the tick's buffer of one pointer per page it takes at once
 * (here batch_max) and the free chunks the pool keeps: none at load,
 * then the one 2 KiB chunk the ten deltas came in, once the last tick
 * gave it back.
 */
TEST_F(tick, ring_depth_and_bytes)
{
	static const __u64 depth[] = { 6, 2, 0 };
	static const __u64 taken[] = { 4, 4, 2 };
	struct mmsb_delta d[10];
	struct mmsb_stats st;
	__u8 v[10];
	int i;

	tick_open(_metadata, self, "tick_us=1000000 batch_max=4 ring_size=1000");
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(1024, st.ring_capacity);
	EXPECT_EQ(1024 * 2 * sizeof(void *) + 4 * sizeof(void *),
		  st.ring_bytes);
	EXPECT_EQ(st.page_bytes + st.page_meta_bytes + st.delta_bytes +
		  st.graph_bytes + st.ring_bytes, st.mem_bytes);
	for (i = 0; i < 10; i++) {
		v[i] = 0xa0 + i;
		mmsb_delta_dense(&d[i], self->page, i, &v[i], 1);
	}
	ASSERT_EQ(0, mmsb_submit(self->fd, d, 10, 0, NULL));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(10, st.ring_depth);
	for (i = 0; i < 3; i++) {
		FLUSH_TICK(i + 1, st);
		EXPECT_EQ(taken[i], st.last.processed);
		EXPECT_EQ(depth[i], st.last.ring_depth);
		EXPECT_EQ(depth[i], st.ring_depth);
		EXPECT_EQ(i + 1, self->hdr->epoch);
		EXPECT_PHASES(st.last);
	}
	EXPECT_EQ(0, memcmp(self->data, v, sizeof(v)));
	EXPECT_EQ(1024 * 2 * sizeof(void *) + 4 * sizeof(void *) + 2048,
		  st.ring_bytes);
	EXPECT_EQ(0, st.delta_bytes);
}

/*
 * tick_budget_us=100 (the least): a tick checks its budget after each
 * take, of deltas on 4096 pages at most, and applying 4096 deltas takes
 * longer than that.  So with 4196 deltas queued on as many pages (the
 * first and the last on the fixture's page, the others one each on new
 * pages) the first tick stops after one take, counts an overrun, leaves
 * 100 in the ring, and has no time left for GC (gc_ns 0, not invoked);
 * the next tick takes the rest.
 */
TEST_F_TIMEOUT(tick, overrun, 120)
{
	const unsigned int chunk = 4096, n = chunk + 100;
	struct mmsb_delta *d = calloc(n, sizeof(*d));
	static __u8 buf[64];
	struct mmsb_stats st;
	unsigned int i;
	__u64 id;

	ASSERT_NE(NULL, d);
	tick_open(_metadata, self, "tick_us=1000000 tick_budget_us=100");
	for (i = 0; i < n; i++) {
		id = self->page;
		if (i && i < n - 1)
			ASSERT_EQ(0, create(self->fd, sizeof(buf), 0, &id));
		mmsb_delta_dense(&d[i], id, 0, buf, sizeof(buf));
	}
	ASSERT_EQ(0, mmsb_submit(self->fd, d, MMSB_SUBMIT_MAX, 0, NULL));
	ASSERT_EQ(0, mmsb_submit(self->fd, d + MMSB_SUBMIT_MAX,
				 n - MMSB_SUBMIT_MAX, 0, NULL));
	FLUSH_TICK(1, st);
	EXPECT_EQ(1, st.last.overrun);
	EXPECT_EQ(1, st.overruns);
	EXPECT_EQ(chunk, st.last.processed);
	EXPECT_EQ(chunk, st.last.pages_changed);
	EXPECT_EQ(n - chunk, st.last.ring_depth);
	EXPECT_EQ(n - chunk, st.ring_depth);
	EXPECT_EQ(0, st.last.gc_invoked);
	EXPECT_EQ(0, st.last.gc_ns);
	EXPECT_LT(100000, st.last.apply_ns);
	EXPECT_PHASES(st.last);
	FLUSH_TICK(2, st);
	EXPECT_EQ(n - chunk, st.last.processed);
	EXPECT_EQ(0, st.ring_depth);
	EXPECT_EQ(st.overruns, st.last.overrun + 1);
	EXPECT_EQ(2, self->hdr->epoch);
	free(d);
}

/*
 * The memory limit counts queued deltas with the pages, in one account.
 * mem_limit_mb=1, no tick (tick_us=0): one-delta calls each hold a 2 KiB
 * chunk until page_bytes + delta_bytes reach the limit exactly; then the
 * next delta and a page create are both refused with -ENOMEM (a create
 * looked at page bytes only, and went past the limit).  A tick gives
 * the chunks back, and the create goes through.
 */
TEST_F(tick, limit_counts_queued_deltas)
{
	struct mmsb_page_create pc;
	struct mmsb_stats st;
	struct mmsb_delta d;
	unsigned int i, n;
	__u8 b = 7;

	tick_open(_metadata, self, "tick_us=0 mem_limit_mb=1");
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	ASSERT_EQ(0, (st.mem_limit - st.page_bytes) % 2048);
	n = (st.mem_limit - st.page_bytes) / 2048;
	for (i = 0; i < n; i++) {
		mmsb_delta_dense(&d, self->page, i % PAGE_BYTES, &b, 1);
		ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, 0, NULL));
		ASSERT_EQ(0, d.status) TH_LOG("delta %u", i);
	}
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ((__u64)n * 2048, st.delta_bytes);
	EXPECT_EQ(st.mem_limit, st.page_bytes + st.delta_bytes);
	EXPECT_EQ(n, st.ring_depth);

	mmsb_delta_dense(&d, self->page, 0, &b, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, 0, NULL));
	EXPECT_EQ(-ENOMEM, d.status);
	EXPECT_EQ(0, d.delta_id);
	EXPECT_EQ(-ENOMEM, mmsb_page_create(self->fd, 1, 0600, 0, &pc));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(st.mem_limit, st.page_bytes + st.delta_bytes);

	FLUSH_TICK(1, st);
	EXPECT_EQ(n, st.last.processed);
	EXPECT_EQ(0, st.delta_bytes);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 1, 0600, 0, &pc));
	EXPECT_EQ(0, mmsb_page_free(self->fd, pc.id));
}

TEST_HARNESS_MAIN
