// SPDX-License-Identifier: GPL-2.0
/*
 * MMSB_SUBMIT_ATOMIC: all of a submission's deltas apply in one tick, or
 * none does, and every delta says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define NR	8	/* pages of the fixture */

FIXTURE(atomic) {
	int fd;
	const struct mmsb_bus_header *bus;
	const struct mmsb_page_header *hdr[NR];
	__u64 ids[NR];
};

FIXTURE_SETUP(atomic)
{
	ASSERT_EQ(0, bus_pages_open(&self->fd, &self->bus, self->ids,
				    self->hdr, NR));
}

FIXTURE_TEARDOWN(atomic)
{
	bus_pages_close(self->fd, self->bus, self->hdr, NR);
}

/* One 8-byte delta of value @v at offset 0 of each page, epoch @e. */
static void fill(FIXTURE_DATA(atomic) *self, struct mmsb_delta *d,
		 const __u64 *v, __u64 e)
{
	int i;

	for (i = 0; i < NR; i++) {
		mmsb_delta_dense(&d[i], self->ids[i], 0, &v[i], sizeof(v[i]));
		d[i].expected_epoch = e;
	}
}

static int epochs_are(FIXTURE_DATA(atomic) *self, __u64 e)
{
	int i;

	for (i = 0; i < NR; i++)
		if (self->hdr[i]->epoch != e)
			return 0;
	return 1;
}

/* Applied in full, in one tick: every page at epoch 1, one tick. */
TEST_F(atomic, all_apply_in_one_tick)
{
	__u64 v[NR] = { 1, 2, 3, 4, 5, 6, 7, 8 }, got;
	__u32 seq = self->bus->tick_seq, accepted, applied;
	struct mmsb_delta d[NR];
	int i;

	fill(self, d, v, 0);
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, NR, MMSB_SUBMIT_SYNC |
					MMSB_SUBMIT_ATOMIC, &accepted,
					&applied));
	EXPECT_EQ(NR, accepted);
	EXPECT_EQ(NR, applied);
	for (i = 0; i < NR; i++) {
		EXPECT_EQ(0, d[i].status);
		EXPECT_EQ(1, d[i].epoch);
		EXPECT_EQ(0, mmsb_page_read(self->hdr[i], 0, &got, 8, NULL));
		EXPECT_EQ(v[i], got);
	}
	EXPECT_EQ(seq + 2, self->bus->tick_seq);
}

/* One invalid delta: none is queued; it says why, the others -ECANCELED. */
TEST_F(atomic, invalid_delta_cancels_all)
{
	__u64 v[NR] = { 0 };
	__u32 accepted, applied;
	struct mmsb_delta d[NR];
	int i;

	fill(self, d, v, 0);
	d[5].offset = 60;	/* 60 + 8 > 64: -ERANGE */
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, NR, MMSB_SUBMIT_SYNC |
					MMSB_SUBMIT_ATOMIC, &accepted,
					&applied));
	EXPECT_EQ(0, accepted);
	EXPECT_EQ(0, applied);
	for (i = 0; i < NR; i++) {
		EXPECT_EQ(i == 5 ? -ERANGE : -ECANCELED, d[i].status);
		EXPECT_EQ(0, d[i].delta_id);
	}
	EXPECT_TRUE(epochs_are(self, 0));
	/* Without ATOMIC, the seven others apply. */
	fill(self, d, v, 0);
	d[5].offset = 60;
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, NR, MMSB_SUBMIT_SYNC,
					&accepted, &applied));
	EXPECT_EQ(NR - 1, applied);
}

/*
 * One stale expected epoch: none applies, at the tick; the stale delta
 * says -ESTALE, the others -ECANCELED, each with its page's epoch.  Not
 * SYNC: the outcome is the pages', after a FLUSH.
 */
TEST_F(atomic, stale_epoch_cancels_all)
{
	__u64 v[NR] = { 9, 9, 9, 9, 9, 9, 9, 9 };
	struct mmsb_delta d[NR], one;
	__u32 applied, accepted;
	int i;

	mmsb_delta_dense(&one, self->ids[2], 8, "x", 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &one, 1, MMSB_SUBMIT_SYNC, NULL));
	fill(self, d, v, 0);
	for (i = 0; i < NR; i++)
		d[i].expected_epoch = i == 2 ? 1 : 0;
	d[6].expected_epoch = 3;	/* page 6 is at 0 */
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, NR, MMSB_SUBMIT_SYNC |
					MMSB_SUBMIT_ATOMIC, &accepted,
					&applied));
	EXPECT_EQ(NR, accepted);
	EXPECT_EQ(0, applied);
	for (i = 0; i < NR; i++) {
		EXPECT_EQ(i == 6 ? -ESTALE : -ECANCELED, d[i].status);
		EXPECT_EQ(i == 2 ? 1 : 0, d[i].epoch);
		EXPECT_EQ(0, *(const __u64 *)((const char *)self->hdr[i] +
					       MMSB_PAGE_DATA_OFFSET));
	}
	/*
	 * Two deltas of one submission on one page: the second expects the
	 * epoch the first moves on, so it is stale (page 2 is at 1; an
	 * expected epoch of 0 means any).
	 */
	mmsb_delta_dense(&d[0], self->ids[2], 0, "a", 1);
	mmsb_delta_dense(&d[1], self->ids[2], 1, "b", 1);
	d[1].expected_epoch = self->hdr[2]->epoch;
	ASSERT_EQ(1, d[1].expected_epoch);
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, 2, MMSB_SUBMIT_SYNC |
					MMSB_SUBMIT_ATOMIC, &accepted,
					&applied));
	EXPECT_EQ(0, applied);
	EXPECT_EQ(-ECANCELED, d[0].status);
	EXPECT_EQ(-ESTALE, d[1].status);
}

/* More than one chunk of 64 KiB: every delta -E2BIG, none queued. */
TEST_F(atomic, too_big)
{
	const int n = 600;	/* 600 x (64 + 64 + 8) bytes > 64 KiB */
	struct mmsb_delta *d = calloc(n, sizeof(*d));
	static const char buf[64];
	__u32 accepted, applied;
	int i, big = 0;

	ASSERT_NE(NULL, d);
	for (i = 0; i < n; i++)
		mmsb_delta_dense(&d[i], self->ids[i % NR], 0, buf, 64);
	ASSERT_EQ(0, mmsb_submit_counts(self->fd, d, n, MMSB_SUBMIT_ATOMIC,
					&accepted, &applied));
	EXPECT_EQ(0, accepted);
	for (i = 0; i < n; i++)
		big += d[i].status == -E2BIG;
	EXPECT_EQ(n, big);
	ASSERT_EQ(0, mmsb_flush(self->fd));
	EXPECT_TRUE(epochs_are(self, 0));
	free(d);
}

/* Through io_uring: the same rules; the CQE says how many applied. */
TEST_F(atomic, uring)
{
	__u64 v[NR] = { 0 };
	struct io_uring_cqe *cqe;
	struct mmsb_delta d[NR];
	struct io_uring ring;
	int i, ret;

	ret = mmsb_uring_init(self->fd, &ring, 4, 0);
	ASSERT_EQ(0, ret);
	fill(self, d, v, 0);
	d[3].expected_epoch = 5;
	mmsb_uring_prep_submit(io_uring_get_sqe(&ring), self->fd, d, NR,
			       MMSB_SUBMIT_ATOMIC);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(0, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	for (i = 0; i < NR; i++)
		EXPECT_EQ(i == 3 ? -ESTALE : -ECANCELED, d[i].status);
	EXPECT_TRUE(epochs_are(self, 0));

	fill(self, d, v, 0);
	mmsb_uring_prep_submit(io_uring_get_sqe(&ring), self->fd, d, NR,
			       MMSB_SUBMIT_ATOMIC);
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(NR, cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	EXPECT_TRUE(epochs_are(self, 1));
	io_uring_queue_exit(&ring);
}

/* ---- The mapped queue: chains of SQEs linked by MMSB_SQE_ATOMIC ---- */

/* Reap @n CQEs of @q into @c, by user_data (0 to @n - 1). */
static int sq_reap_n(struct mmsb_sq_handle *q, struct mmsb_cqe *c, int n)
{
	struct mmsb_cqe cqe;
	int i;

	for (i = 0; i < n; i++) {
		if (sq_reap_spin(q, &cqe) || cqe.user_data >= (__u64)n)
			return -1;
		c[cqe.user_data] = cqe;
	}
	return 0;
}

/*
 * Transfers between 8 accounts (pages): each writer moves one unit from
 * one page to another in an ATOMIC submission whose two deltas expect
 * the epochs it knows (read, or of its own last writes), and reads the
 * pages again only after a refusal, so its epochs are often stale.
 * Readers snapshot the 8 pages and check that the total never changes,
 * and so does the parent at the end.  Without ATOMIC, one delta of a
 * pair applies while its twin is stale, and the total is off for good.
 * Through the ioctl, or (@sq) as a chain of two SQEs in a queue of the
 * writer's own file.
 */
#define TOTAL		8000
#define TRANSFERS	2000

static int writer(FIXTURE_DATA(atomic) *self, unsigned int seed, int sq)
{
	struct mmsb_snapshot_item it[NR];
	struct mmsb_sq_handle q;
	struct mmsb_cqe c[2];
	__u64 bal[NR];
	int k, done = 0, fresh = 0, refused = 0;

	if (sq && (mmsb_sq_setup(mmsb_open(), 4, 4 * 64, 0, 0, &q) ||
		   !q.map))
		return 6;

	for (k = 0; k < NR; k++)
		it[k] = (struct mmsb_snapshot_item){ .page = self->hdr[k],
						     .len = 8, .buf = &bal[k] };
	while (done < TRANSFERS) {
		int from = rand_r(&seed) % NR, to = (from + 1 +
						     rand_r(&seed) % (NR - 1)) % NR;
		struct mmsb_delta d[2];
		__u64 nf, nt;

		if (!fresh && mmsb_snapshot(self->bus, it, NR))
			return 2;
		fresh = 1;
		nf = bal[from] - (bal[from] ? 1 : 0);
		nt = bal[to] + (bal[from] ? 1 : 0);
		mmsb_delta_dense(&d[0], self->ids[from], 0, &nf, 8);
		d[0].expected_epoch = it[from].epoch;
		mmsb_delta_dense(&d[1], self->ids[to], 0, &nt, 8);
		d[1].expected_epoch = it[to].epoch;
		if (sq) {
			if (sq_put(&q, self->ids[from], 0, &nf, 8,
				   it[from].epoch, 0, 1) ||
			    sq_put(&q, self->ids[to], 0, &nt, 8, it[to].epoch,
				   1, 0) ||
			    mmsb_sq_submit(&q) != 2 || sq_reap_n(&q, c, 2))
				return 3;
			for (k = 0; k < 2; k++) {
				d[k].status = c[k].status;
				d[k].epoch = c[k].epoch;
			}
		} else if (mmsb_submit(self->fd, d, 2, MMSB_SUBMIT_SYNC |
				       MMSB_SUBMIT_ATOMIC, NULL)) {
			return 3;
		}
		if (!d[0].status && !d[1].status) {
			/* What this process wrote is what it knows now. */
			bal[from] = nf;
			bal[to] = nt;
			it[from].epoch = d[0].epoch;
			it[to].epoch = d[1].epoch;
			done++;
			continue;
		}
		fresh = 0;
		if ((d[0].status != -ESTALE && d[0].status != -ECANCELED) ||
		    (d[1].status != -ESTALE && d[1].status != -ECANCELED))
			return 4;
		refused++;
	}
	ksft_print_msg("writer: %d transfers, %d refused\n", done, refused);
	return 0;
}

static void transfers(struct __test_metadata *_metadata,
		      FIXTURE_DATA(atomic) *self, int sq)
{
	__u64 v[NR];
	struct mmsb_delta d[NR];
	int i, status, stop[2], go[2];
	pid_t pid[4];
	char c;

	for (i = 0; i < NR; i++)
		v[i] = TOTAL / NR;
	fill(self, d, v, 0);
	ASSERT_EQ(0, mmsb_submit(self->fd, d, NR, MMSB_SUBMIT_SYNC |
				 MMSB_SUBMIT_ATOMIC, NULL));
	ASSERT_EQ(0, pipe(stop));
	ASSERT_EQ(0, pipe(go));
	/* Two readers, until the writers are done (the pipe closes). */
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		ASSERT_GE(pid[i], 0);
		if (!pid[i]) {
			struct mmsb_snapshot_item it[NR];
			__u64 bal[NR], sum;
			int k;

			close(stop[1]);
			close(go[0]);
			close(go[1]);
			if (fcntl(stop[0], F_SETFL, O_NONBLOCK))
				_exit(4);
			for (k = 0; k < NR; k++)
				it[k] = (struct mmsb_snapshot_item){
					.page = self->hdr[k], .len = 8,
					.buf = &bal[k] };
			/* Until the parent closes its end: end of file. */
			while (read(stop[0], &c, 1) != 0) {
				if (mmsb_snapshot(self->bus, it, NR))
					_exit(2);
				for (sum = 0, k = 0; k < NR; k++)
					sum += bal[k];
				if (sum != TOTAL)
					_exit(3);
			}
			_exit(0);
		}
	}
	for (i = 2; i < 4; i++) {
		pid[i] = fork();
		ASSERT_GE(pid[i], 0);
		if (!pid[i]) {
			close(stop[0]);
			close(stop[1]);
			close(go[1]);
			/* Both writers start together: end of file on @go. */
			if (read(go[0], &c, 1))
				_exit(5);
			_exit(writer(self, i, sq));
		}
	}
	close(stop[0]);
	close(go[0]);
	close(go[1]);
	for (i = 2; i < 4; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("writer %d", i);
	}
	close(stop[1]);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status))
			TH_LOG("reader %d: 3 = the total changed", i);
	}
	{
		__u64 sum = 0, b;

		for (i = 0; i < NR; i++) {
			ASSERT_EQ(0, mmsb_page_read(self->hdr[i], 0, &b, 8,
						    NULL));
			sum += b;
		}
		EXPECT_EQ(TOTAL, sum);
	}
}

TEST_F_TIMEOUT(atomic, transfers_keep_the_total, 180)
{
	transfers(_metadata, self, 0);
}

/* The same through the mapped queue: each transfer a chain of two. */
TEST_F_TIMEOUT(atomic, sq_transfers_keep_the_total, 180)
{
	transfers(_metadata, self, 1);
}

/* ---- The mapped queue: chains of SQEs linked by MMSB_SQE_ATOMIC ---- */

/* A chain of the 8 pages' @v, page i expecting @exp[i] (NULL: any). */
static void sq_chain(struct __test_metadata *_metadata,
		     FIXTURE_DATA(atomic) *self, struct mmsb_sq_handle *q,
		     const __u64 *v, const __u64 *exp)
{
	int i;

	for (i = 0; i < NR; i++)
		ASSERT_EQ(0, sq_put(q, self->ids[i], 0, &v[i], 8,
				    exp ? exp[i] : 0, i, i < NR - 1));
}

/*
 * A chain applies in one tick, in full; one invalid SQE refuses it all
 * (its own errno, the others -ECANCELED, no id); one stale expected
 * epoch refuses it all at the tick (-ESTALE, the others -ECANCELED).
 */
TEST_F(atomic, sq_chain_all_or_nothing)
{
	__u64 v[NR] = { 1, 2, 3, 4, 5, 6, 7, 8 }, w[NR], exp[NR] = { 0 };
	struct mmsb_cqe c[NR];
	struct mmsb_sq_handle q;
	__u32 seq;
	__u64 got;
	int i;

	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 16, 16 * 64, 0, 0, &q));
	seq = self->bus->tick_seq;
	sq_chain(_metadata, self, &q, v, NULL);
	ASSERT_EQ(NR, mmsb_sq_submit(&q));
	ASSERT_EQ(0, sq_reap_n(&q, c, NR));
	for (i = 0; i < NR; i++) {
		EXPECT_EQ(0, c[i].status);
		EXPECT_EQ(1, c[i].epoch);
		EXPECT_NE(0, c[i].delta_id);
		EXPECT_EQ(0, mmsb_page_read(self->hdr[i], 0, &got, 8, NULL));
		EXPECT_EQ(v[i], got);
	}
	/* One tick wrote them all: the bus header moved once. */
	EXPECT_EQ(seq + 2, self->bus->tick_seq);

	/* An SQE out of its page: -ERANGE; the chain's others cancelled. */
	for (i = 0; i < NR; i++)
		w[i] = 100 + i;
	for (i = 0; i < NR; i++)
		ASSERT_EQ(0, sq_put(&q, self->ids[i], i == 5 ? 60 : 0, &w[i],
				    8, 0, i, i < NR - 1));
	ASSERT_EQ(NR, mmsb_sq_submit(&q));
	ASSERT_EQ(0, sq_reap_n(&q, c, NR));
	for (i = 0; i < NR; i++) {
		EXPECT_EQ(i == 5 ? -ERANGE : -ECANCELED, c[i].status);
		EXPECT_EQ(0, c[i].delta_id);
		EXPECT_EQ(0, c[i].epoch);
	}
	ASSERT_EQ(0, mmsb_flush(self->fd));
	EXPECT_TRUE(epochs_are(self, 1));

	/* Page 6 expected at 3 (it is at 1): all refused at the tick. */
	exp[6] = 3;
	sq_chain(_metadata, self, &q, w, exp);
	ASSERT_EQ(NR, mmsb_sq_submit(&q));
	ASSERT_EQ(0, sq_reap_n(&q, c, NR));
	for (i = 0; i < NR; i++) {
		EXPECT_EQ(i == 6 ? -ESTALE : -ECANCELED, c[i].status);
		EXPECT_NE(0, c[i].delta_id);
		EXPECT_EQ(0, mmsb_page_read(self->hdr[i], 0, &got, 8, NULL));
		EXPECT_EQ(v[i], got);
	}
	EXPECT_TRUE(epochs_are(self, 1));
	mmsb_sq_unmap(&q);
}

/*
 * A chain whose last SQE is not published yet waits, with what follows
 * it; published whole, it applies in one tick.
 */
TEST_F(atomic, sq_chain_waits_for_its_last)
{
	__u64 v[NR] = { 11, 12, 13, 14, 15, 16, 17, 18 }, got;
	struct mmsb_cqe c[NR];
	struct mmsb_sq_handle q;
	int i;

	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 16, 16 * 64, 0, 0, &q));
	for (i = 0; i < NR / 2; i++)
		ASSERT_EQ(0, sq_put(&q, self->ids[i], 0, &v[i], 8, 0, i, 1));
	ASSERT_EQ(NR / 2, mmsb_sq_submit(&q));
	/* Ticks run (FLUSH, a consuming call): nothing is taken. */
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_sq_enter(&q, MMSB_SQ_ENTER_SUBMIT, 0, 0));
	ASSERT_EQ(0, mmsb_flush(self->fd));
	EXPECT_EQ(0, mmsb_sq_cq_ready(&q));
	EXPECT_TRUE(epochs_are(self, 0));
	for (; i < NR; i++)
		ASSERT_EQ(0, sq_put(&q, self->ids[i], 0, &v[i], 8, 0, i,
				    i < NR - 1));
	ASSERT_EQ(NR / 2, mmsb_sq_submit(&q));
	ASSERT_EQ(0, sq_reap_n(&q, c, NR));
	for (i = 0; i < NR; i++) {
		EXPECT_EQ(0, c[i].status);
		EXPECT_EQ(1, c[i].epoch);
		EXPECT_EQ(0, mmsb_page_read(self->hdr[i], 0, &got, 8, NULL));
		EXPECT_EQ(v[i], got);
	}
	mmsb_sq_unmap(&q);
}

/*
 * Chains over one chunk, and over what the SQ holds: every SQE -E2BIG,
 * nothing applied; an SQE after them applies.
 */
TEST_F(atomic, sq_chain_too_big)
{
	const int n = 600;	/* 600 x (64 + 64 + 8) bytes > 64 KiB */
	static const char buf[64];
	struct mmsb_sq_handle q;
	struct mmsb_cqe cqe;
	int i, fd, big = 0, ok = 0;

	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 1024, 1024 * 64, 0, 0, &q));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, sq_put(&q, self->ids[i % NR], 0, buf, 64, 0, i,
				    i < n - 1));
	ASSERT_EQ(0, sq_put(&q, self->ids[0], 8, buf, 8, 0, n, 0));
	ASSERT_EQ(n + 1, mmsb_sq_submit(&q));
	for (i = 0; i <= n; i++) {
		ASSERT_EQ(0, sq_reap_spin(&q, &cqe));
		if (cqe.user_data == (__u64)n)
			ok += !cqe.status;
		else
			big += cqe.status == -E2BIG;
	}
	EXPECT_EQ(n, big);
	EXPECT_EQ(1, ok);
	mmsb_sq_unmap(&q);

	/*
	 * A chain that fills the SQ and goes on: refused to its last, also
	 * when the CQ filled meanwhile (its last SQE then waits for room,
	 * and a tick that applies SQEs in place must not take it).
	 */
	fd = mmsb_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mmsb_sq_setup(fd, 8, 8 * 64, 0, 0, &q));
	big = 0;
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, sq_put(&q, self->ids[i % NR], 0, buf, 8, 0, i, 1));
		if (i == 7 || i == 15) {
			ASSERT_EQ(8, mmsb_sq_submit(&q));
			/* Refused, and the SQ free again (head moves last). */
			while (mmsb_sq_cq_ready(&q) < (__u32)i + 1 ||
			       __atomic_load_n(&q.ring->sq_head,
					       __ATOMIC_ACQUIRE) != q.tail)
				usleep(1000);
		}
	}
	/* The CQ is full: the chain's last and a new SQE wait. */
	ASSERT_EQ(0, sq_put(&q, self->ids[2], 0, buf, 8, 0, 16, 0));
	ASSERT_EQ(0, sq_put(&q, self->ids[3], 0, buf, 8, 0, 17, 0));
	ASSERT_EQ(2, mmsb_sq_submit(&q));
	ASSERT_EQ(0, mmsb_flush(fd));
	for (i = 0; i < 18; i++) {
		ASSERT_EQ(0, sq_reap_spin(&q, &cqe));
		/* The chain's SQEs (0 to 16) refused; 17 is new: applies. */
		ok += cqe.user_data == 17 && !cqe.status;
		big += cqe.user_data != 17 && cqe.status == -E2BIG;
	}
	EXPECT_EQ(17, big);
	EXPECT_EQ(2, ok);
	EXPECT_EQ(0, self->hdr[2]->epoch);
	EXPECT_EQ(1, self->hdr[3]->epoch);
	mmsb_sq_unmap(&q);
	close(fd);
}

TEST_HARNESS_MAIN
