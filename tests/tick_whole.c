// SPDX-License-Identifier: GPL-2.0
/*
 * A tick shows each page once: readers see the page before the tick or
 * after it, and a page's epoch names one content.  A tick takes its
 * work in pieces (takes of deltas on up to 4,096 pages from the tick's
 * queue, rounds of up to 4,096 SQEs from a mapped queue, the one delta
 * a SYNC submitter hands it), so a page that two pieces of one tick
 * change must wait for the next tick, not show in between under the
 * epoch the tick gives it (Documentation/mmsb.rst, "Ticks").
 *
 * mmsb is loaded with tick_us=1000000: the SYNC call or SQ_ENTER that
 * ends each round runs the ticks.  Each test has one page whose first 8
 * bytes count the deltas applied to it, a reader thread that reads
 * (value, epoch) with mmsb_page_read() (two values under one epoch
 * fail), and asserts the epochs the page went through.
 *
 * tick_whole.records: the page, 4,096 other pages, the page again: the
 * first take ends at 4,096 pages, the second at the page.
 * tick_whole.sq_in_place: 16,384 SQEs on the page, rounds of up to
 * 4,096 SQEs.
 * tick_whole.one_after_drain: 64 deltas queued without SYNC, then one
 * SYNC delta, which the tick it runs takes after its drain.
 * tick_whole.propagated: the page is the target of a PASSTHROUGH edge
 * and takes a delta of its own in the tick that changes its source:
 * the engine writes it, then propagation, one tick and one epoch.
 */
#include <pthread.h>

#include "kselftest_harness.h"
#include "pages.h"

#define TW_CHUNK	4096	/* pages a take, SQEs a round */

struct tw_reader {
	const struct mmsb_page_header *hdr;
	volatile int stop;
	__u64 reads, bad, bad_epoch, bad_a, bad_b;
};

/* Two values under one epoch: the page was seen inside a tick. */
static void *tw_read(void *arg)
{
	struct tw_reader *r = arg;
	__u64 v, epoch, last_v = 0, last_epoch = 0;

	while (!r->stop) {
		if (mmsb_page_read(r->hdr, 0, &v, 8, &epoch))
			continue;
		r->reads++;
		if (epoch == last_epoch && v != last_v && !r->bad++) {
			r->bad_epoch = epoch;
			r->bad_a = last_v;
			r->bad_b = v;
		}
		last_v = v;
		last_epoch = epoch;
	}
	return NULL;
}

FIXTURE(tick_whole) {
	int fd;
	__u64 page;
	const struct mmsb_page_header *hdr;
	struct tw_reader r;
	pthread_t reader;
};

FIXTURE_SETUP(tick_whole)
{
	struct mmsb_page_create pc;

	ASSERT_EQ(0, module_reload("tick_us=1000000"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0644, 0, &pc));
	self->page = pc.id;
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->page, &self->hdr));
	self->r = (struct tw_reader){ .hdr = self->hdr };
	ASSERT_EQ(0, pthread_create(&self->reader, NULL, tw_read, &self->r));
}

FIXTURE_TEARDOWN(tick_whole)
{
	self->r.stop = 1;
	pthread_join(self->reader, NULL);
	if (self->hdr)
		mmsb_page_unmap(self->hdr);
	free_all(self->fd);
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

static void tw_check(struct __test_metadata *_metadata, struct tw_reader *r)
{
	r->stop = 1;
	EXPECT_EQ(0, r->bad) {
		TH_LOG("%llu reads; epoch %llu showed %llu, then %llu",
		       (unsigned long long)r->reads,
		       (unsigned long long)r->bad_epoch,
		       (unsigned long long)r->bad_a,
		       (unsigned long long)r->bad_b);
	}
	EXPECT_LT(0, r->reads);
}

#define TW_ROUNDS	24
#define TW_OTHERS	TW_CHUNK	/* the page, then as many others */

TEST_F(tick_whole, records)
{
	static struct mmsb_delta d[TW_OTHERS + 2];
	static __u64 ids[TW_OTHERS], vals[2];
	static const __u64 one = 1;
	__u64 k = 0, got, epoch, e0;
	int round, i;

	for (i = 0; i < TW_OTHERS; i++) {
		struct mmsb_page_create pc;

		ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0644, 0, &pc));
		ids[i] = pc.id;
	}
	for (round = 0; round < TW_ROUNDS; round++) {
		e0 = self->hdr->epoch;
		vals[0] = ++k;
		vals[1] = ++k;
		mmsb_delta_dense(&d[0], self->page, 0, &vals[0], 8);
		for (i = 0; i < TW_OTHERS; i++)
			mmsb_delta_dense(&d[1 + i], ids[i], 0, &one, 8);
		mmsb_delta_dense(&d[TW_OTHERS + 1], self->page, 0, &vals[1], 8);
		/* The page and 4,095 others queued, then a SYNC call. */
		ASSERT_EQ(0, mmsb_submit(self->fd, d, MMSB_SUBMIT_MAX, 0,
					 NULL));
		ASSERT_EQ(0, mmsb_submit(self->fd, d + MMSB_SUBMIT_MAX,
					 TW_OTHERS + 2 - MMSB_SUBMIT_MAX,
					 MMSB_SUBMIT_SYNC, NULL));
		ASSERT_EQ(0, d[TW_OTHERS + 1].status);
		ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, &got, 8, &epoch));
		ASSERT_EQ(k, got);
		/* Two ticks changed it: its second delta waited for one. */
		ASSERT_EQ(e0 + 2, epoch);
		ASSERT_EQ(epoch, d[TW_OTHERS + 1].epoch);
	}
	tw_check(_metadata, &self->r);
}

#define TW_SQ		16384

TEST_F(tick_whole, sq_in_place)
{
	struct mmsb_sq_handle q;
	struct mmsb_cqe c;
	__u64 k = 0, got, reaped, epoch, e0;
	int round, i, ret;

	ASSERT_EQ(0, mmsb_sq_setup(self->fd, TW_SQ, TW_SQ * 8, 0, 0, &q));
	for (round = 0; round < TW_ROUNDS; round++) {
		e0 = self->hdr->epoch;
		for (i = 0; i < TW_SQ; i++) {
			++k;
			ASSERT_EQ(0, sq_put(&q, self->page, 0, &k, 8, 0, k, 0));
		}
		/*
		 * All published at once; GETEVENTS runs the ticks, which
		 * apply them in place (SUBMIT would queue them as records).
		 */
		ASSERT_EQ(TW_SQ, mmsb_sq_submit(&q));
		for (reaped = 0; reaped < TW_SQ; reaped++) {
			while (sq_reap(&q, &c)) {
				ret = mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS,
						    1, 5000000000ULL);
				ASSERT_LE(0, ret);
			}
			ASSERT_EQ(0, c.status);
		}
		ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, &got, 8, &epoch));
		ASSERT_EQ(k, got);
		/* A round of 4,096 SQEs a tick at most on the page. */
		ASSERT_LE(e0 + TW_SQ / TW_CHUNK, epoch);
	}
	EXPECT_EQ(0, mmsb_sq_unmap(&q));
	tw_check(_metadata, &self->r);
}

#define TW_ONE		2000

TEST_F(tick_whole, one_after_drain)
{
	static struct mmsb_delta d[64];
	static __u64 vals[64];
	struct mmsb_delta one;
	__u64 k = 0, v, e0;
	int round, i, own = 0;

	for (round = 0; round < TW_ONE; round++) {
		e0 = self->hdr->epoch;
		for (i = 0; i < 64; i++) {
			vals[i] = ++k;
			mmsb_delta_dense(&d[i], self->page, 0, &vals[i], 8);
		}
		ASSERT_EQ(0, mmsb_submit(self->fd, d, 64, 0, NULL));
		v = ++k;
		mmsb_delta_dense(&one, self->page, 0, &v, 8);
		ASSERT_EQ(0, mmsb_submit(self->fd, &one, 1, MMSB_SUBMIT_SYNC,
					 NULL));
		ASSERT_EQ(0, one.status);
		ASSERT_LE(e0 + 1, one.epoch);
		/*
		 * The drain's tick, then one of its own; or, when the
		 * timer's tick held the tick as the call came, one tick
		 * that took all 65 in one take (rare: once a second).
		 */
		own += one.epoch == e0 + 2;
	}
	EXPECT_LE(TW_ONE * 9 / 10, own);
	tw_check(_metadata, &self->r);
}

#define TW_PROP_ROUNDS	200
#define TW_PROP_OTHERS	1000	/* applied between the page and its source */

TEST_F(tick_whole, propagated)
{
	static struct mmsb_delta d[TW_PROP_OTHERS + 2];
	static __u64 ids[TW_PROP_OTHERS];
	static const __u64 one = 1;
	struct mmsb_page_create pc;
	__u64 k = 0, own, src_val, got, epoch, e0, src;
	int round, i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0644, 0, &pc));
	src = pc.id;
	ASSERT_EQ(0, mmsb_edge_add(self->fd, src, self->page,
				   MMSB_EDGE_PASSTHROUGH));
	for (i = 0; i < TW_PROP_OTHERS; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0644, 0, &pc));
		ids[i] = pc.id;
	}
	for (round = 0; round < TW_PROP_ROUNDS; round++) {
		e0 = self->hdr->epoch;
		own = ++k;
		src_val = ++k;
		/*
		 * The page's own delta first, its source's last: the engine
		 * applies the page, then the others, then the source, and
		 * propagation copies the source's bytes over the page's.
		 */
		mmsb_delta_dense(&d[0], self->page, 0, &own, 8);
		for (i = 0; i < TW_PROP_OTHERS; i++)
			mmsb_delta_dense(&d[1 + i], ids[i], 0, &one, 8);
		mmsb_delta_dense(&d[TW_PROP_OTHERS + 1], src, 0, &src_val, 8);
		ASSERT_EQ(0, mmsb_submit(self->fd, d, TW_PROP_OTHERS + 2,
					 MMSB_SUBMIT_SYNC, NULL));
		ASSERT_EQ(0, d[0].status);
		ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, &got, 8, &epoch));
		ASSERT_EQ(src_val, got);
		/* One tick: one epoch, which its delta reports. */
		ASSERT_EQ(e0 + 1, epoch);
		ASSERT_EQ(epoch, d[0].epoch);
	}
	tw_check(_metadata, &self->r);
}

TEST_HARNESS_MAIN
