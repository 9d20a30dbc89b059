// SPDX-License-Identifier: GPL-2.0
/*
 * The memory limit against the mapped queue's record path: SQEs the
 * tick does not apply in place (a change stream is open) are copied
 * into chunks, charged to mem_limit_mb; the kernel must not hold more
 * memory for them than it charges.
 *
 * Each test runs with mem_limit_mb=64 and tick_us=0, so that only
 * MMSB_IOC_SQ_ENTER consumes the queue: the chunks are then allocated
 * in the test's own context and charged to its memory cgroup, whose
 * memory.peak shows what the kernel really held for them.
 *
 * sq_limit.big_dense_records: 256 DENSE SQEs of 1 MiB, all from arena
 * offset 0 onto one page of 1 MiB, in one round: each one applied or
 * refused with -ENOMEM (the uapi's errno for the memory limit); the
 * cgroup's peak grows by no more than the limit; delta_bytes comes back
 * to the queue's own memory, and a second round behaves the same.
 * sq_limit.page_sized_record: one DENSE SQE of 16 MiB (max_page_size)
 * onto a 16 MiB page, well within the limit, applies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define MIB		(1024 * 1024ULL)
#define LIMIT_MIB	64	/* mem_limit_mb of every test */
#define BIG		MIB	/* the 1 MiB SQEs */
#define BIG_SQES	256	/* four times the limit of them */
/* Slack over the limit for the cgroup's peak: a round's array, slab. */
#define SLACK		(4 * MIB)

FIXTURE(sq_limit) {
	char dir[64];
	char current[96];
	char peak[96];
	bool joined;
	int fd;
	int stream;
	struct mmsb_sq_handle q;
	bool mapped;
};

FIXTURE_SETUP(sq_limit)
{
	char path[128];

	self->fd = -1;
	self->stream = -1;
	self->dir[0] = 0;
	self->joined = false;
	self->mapped = false;
	ASSERT_EQ(0, module_reload("mem_limit_mb=64 tick_us=0"));
	if (access(CG_ROOT "/cgroup.controllers", F_OK))
		ASSERT_EQ(0, mount("none", CG_ROOT, "cgroup2", 0, NULL));
	ASSERT_EQ(0, write_file(CG_ROOT "/cgroup.subtree_control", "+memory"));
	snprintf(self->dir, sizeof(self->dir), CG_ROOT "/mmsb-sq-%d",
		 getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	snprintf(self->current, sizeof(self->current), "%s/memory.current",
		 self->dir);
	snprintf(self->peak, sizeof(self->peak), "%s/memory.peak", self->dir);
	/* Whatever goes wrong, the guest keeps its memory. */
	snprintf(path, sizeof(path), "%s/memory.max", self->dir);
	ASSERT_EQ(0, write_file(path, "512M"));
	/* Join: what the kernel allocates for us is charged there. */
	snprintf(path, sizeof(path), "%s/cgroup.procs", self->dir);
	ASSERT_EQ(0, write_file(path, "0"));
	self->joined = true;
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(sq_limit)
{
	if (self->mapped)
		mmsb_sq_unmap(&self->q);
	if (self->stream >= 0)
		close(self->stream);
	if (self->fd >= 0) {
		free_all(self->fd);
		close(self->fd);
	}
	if (self->joined)
		write_file(CG_ROOT "/cgroup.procs", "0");
	if (self->dir[0])
		rmdir(self->dir);
	module_reload("");
}

/*
 * Publish @n DENSE SQEs of @len bytes from arena offset 0 onto @page,
 * consume them in one SQ_ENTER and wait for their CQEs; count those
 * applied and those refused with -ENOMEM.  Returns 0, or the first
 * other status (or -errno of the call).
 */
static int round_of(struct mmsb_sq_handle *q, __u64 page, __u64 len,
		    __u32 n, __u32 *ok, __u32 *nomem)
{
	struct mmsb_cqe *cqe;
	struct mmsb_sqe *s;
	int ret, bad = 0;
	__u32 i, head;

	for (i = 0; i < n; i++) {
		s = mmsb_sq_get_sqe(q);
		if (!s)
			return -ENOSPC;
		s->page_id = page;
		s->len = len;
		s->payload_len = len;
		s->user_data = i;
	}
	ret = mmsb_sq_submit(q);
	if (ret != (int)n)
		return ret < 0 ? ret : -EIO;
	ret = mmsb_sq_enter(q, MMSB_SQ_ENTER_SUBMIT | MMSB_SQ_ENTER_GETEVENTS,
			    n, 120ULL * 1000000000);
	if (ret < 0)
		return ret;
	if (mmsb_sq_cq_ready(q) != n)
		return -EIO;
	*ok = *nomem = 0;
	mmsb_sq_for_each_cqe(q, head, cqe) {
		if (!cqe->status)
			(*ok)++;
		else if (cqe->status == -ENOMEM)
			(*nomem)++;
		else if (!bad)
			bad = cqe->status;
	}
	mmsb_sq_cq_advance(q, n);
	return bad;
}

TEST_F_TIMEOUT(sq_limit, big_dense_records, 240)
{
	long long cur, peak_before, peak;
	struct mmsb_page_create pc;
	__u32 ok, nomem, round;
	struct mmsb_stats st;
	__u64 queue_bytes;

	ASSERT_EQ(0, mmsb_page_create(self->fd, BIG, 0600, 0, &pc));
	self->stream = mmsb_stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0,
					0, NULL);
	ASSERT_LE(0, self->stream);
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, BIG_SQES, BIG, 0, 0, &self->q));
	self->mapped = true;
	memset(self->q.arena, 0x5a, BIG);
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	ASSERT_EQ((__u64)LIMIT_MIB * MIB, st.mem_limit);
	queue_bytes = st.delta_bytes;

	for (round = 0; round < 2; round++) {
		cur = read_ll(self->current);
		peak_before = read_ll(self->peak);
		ASSERT_LE(0, cur);
		ASSERT_LE(0, peak_before) TH_LOG("no memory.peak");

		ASSERT_EQ(0, round_of(&self->q, pc.id, BIG, BIG_SQES, &ok,
				      &nomem));
		peak = read_ll(self->peak);
		TH_LOG("round %u: %u applied, %u refused (-ENOMEM); memory.current %lld before, memory.peak %lld (%lld MiB over)",
		       round, ok, nomem, cur, peak,
		       (peak - cur) / (long long)MIB);
		EXPECT_EQ(BIG_SQES, ok + nomem);
		/* What the limit leaves once the page and the queue are in. */
		EXPECT_LE(LIMIT_MIB / 2, ok);
		EXPECT_GT(LIMIT_MIB, ok);
		EXPECT_LE(BIG_SQES - LIMIT_MIB, nomem);
		/*
		 * The kernel held no more for the round's records than
		 * the limit lets it charge.
		 */
		if (peak > peak_before)
			EXPECT_GE((long long)(LIMIT_MIB * MIB + SLACK),
				  peak - cur);

		/* The chunks went back; the limit was never passed. */
		EXPECT_EQ(queue_bytes, delta_bytes_settle(self->fd,
							  queue_bytes));
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		EXPECT_GE(st.mem_limit, st.page_bytes + st.delta_bytes);
	}
}

TEST_F_TIMEOUT(sq_limit, page_sized_record, 120)
{
	struct mmsb_page_create pc;
	__u32 ok = 0, nomem = 0;

	ASSERT_EQ(0, mmsb_page_create(self->fd, MAX_PAGE_SIZE, 0600, 0, &pc));
	self->stream = mmsb_stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0,
					0, NULL);
	ASSERT_LE(0, self->stream);
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 1, MAX_PAGE_SIZE, 0, 0,
				   &self->q));
	self->mapped = true;
	memset(self->q.arena, 0xa5, MAX_PAGE_SIZE);
	ASSERT_EQ(0, round_of(&self->q, pc.id, MAX_PAGE_SIZE, 1, &ok, &nomem));
	EXPECT_EQ(1, ok);
	EXPECT_EQ(0, nomem);
}

TEST_HARNESS_MAIN
