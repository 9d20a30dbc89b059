// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures inside mmsb, forced with the kernel's fault
 * injection (CONFIG_FAILSLAB and CONFIG_FAIL_PAGE_ALLOC, debug kernel):
 * slab and page allocations of this task fail with a probability swept
 * over 10, 30, 60 and 100 percent (task-filter, /proc/self/make-it-fail
 * set around each call only, so that the test's own page faults never
 * fail).  Every path that allocates: creating and mapping pages, listing
 * them, submitting deltas by ioctl and by io_uring, WAIT by io_uring,
 * adding edges, subscribing.  Each call must succeed or fail with
 * -ENOMEM (or its documented errno); nothing may be half-done (a failed
 * create leaves no page and no bytes, a failed edge or subscription can
 * be made afterwards, the page's bytes equal a model with exactly the
 * deltas whose status was 0 applied); at the end MMSB_IOC_STATS is back
 * at zero.  The runner's kmemleak scan and console check follow.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define MODEL_SIZE	(256 << 10)
#define NPAGES		6

static const int sweep[] = { 10, 30, 60, 100 };

static int fail_fd = -1;

/* make-it-fail for this task: on only around the call under test. */
static void failing(bool on)
{
	if (pwrite(fail_fd, on ? "1" : "0", 1, 0) != 1)
		abort();
}

/* Run @call with allocations failing; -errno or its non-negative value. */
#define FAILING(call) ({						\
	long _r;							\
	failing(true);							\
	_r = (call);							\
	failing(false);							\
	_r;								\
})

static unsigned long long rng = 88172645463325252ULL;

static unsigned long long rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

FIXTURE(faults) {
	int fd;
	struct io_uring ring;
	__u64 model_id;
	const struct mmsb_page_header *hdr;
	unsigned char *model;
	__u64 pages[NPAGES];
};

FIXTURE_SETUP(faults)
{
	struct mmsb_page_create pc = { .size = MODEL_SIZE };
	struct mmsb_delta d;
	char x = 1;
	int i;

	if (access(FAILSLAB "probability", W_OK) ||
	    access(FAILPAGE "probability", W_OK))
		SKIP(return,
		     "no failslab, fail_page_alloc: -ENOMEM cannot be forced");
	fail_fd = open("/proc/self/make-it-fail", O_WRONLY);
	ASSERT_GE(fail_fd, 0);
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(ioctl_err(self->fd, MMSB_IOC_PAGE_CREATE, &pc), 0);
	self->model_id = pc.id;
	ASSERT_EQ(map_page(self->fd, &pc, &self->hdr), 0);
	self->model = calloc(1, MODEL_SIZE);
	ASSERT_NE(self->model, NULL);
	for (i = 0; i < NPAGES; i++) {
		ASSERT_EQ(mmsb_page_create(self->fd, 4096, 0600, 0, &pc), 0);
		self->pages[i] = pc.id;
	}
	ASSERT_EQ(mmsb_uring_init(self->fd, &self->ring, 16, 0), 0);
	/* Warm io_uring's and mmsb's caches: one command of each kind. */
	mmsb_delta_dense(&d, self->pages[0], 0, &x, 1);
	ASSERT_EQ(mmsb_submit_applied(self->fd, &self->ring, &d, 1), 1);
	ASSERT_EQ(mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL), 0);
	ASSERT_EQ(faults_set(0), 0);
}

FIXTURE_TEARDOWN(faults)
{
	struct mmsb_stats st;
	__u64 p, b;

	if (fail_fd < 0)
		return;
	failing(false);
	EXPECT_EQ(faults_set(0), 0);
	io_uring_queue_exit(&self->ring);
	munmap((void *)self->hdr, mmsb_page_map_size(MODEL_SIZE, page_size()));
	free_all(self->fd);
	/* Every page, delta, edge gone: the books back at zero. */
	EXPECT_EQ(settle(self->fd, 0, 0, &p, &b), 0);
	EXPECT_EQ(mmsb_stats(self->fd, &st), 0);
	EXPECT_EQ(st.delta_bytes, 0);
	EXPECT_EQ(st.ring_depth, 0);
	EXPECT_EQ(st.edges, 0);
	close(self->fd);
	free(self->model);
	close(fail_fd);
}

/*
 * STATS once the module holds just the fixture's pages again: a freed
 * page's memory goes once its last reference does, which a GC scan in
 * a tick may hold for a moment (10 s at most).
 */
static int drained(int fd, const struct mmsb_stats *base,
		   struct mmsb_stats *st)
{
	int i, ret;

	for (i = 0; i < 1000; i++) {
		ret = mmsb_stats(fd, st);
		if (ret || (!st->gc_pending && st->pages == base->pages &&
			    st->page_bytes == base->page_bytes))
			return ret;
		mmsb_flush(fd);
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* Create, map, info, list and free pages with allocations failing. */
TEST_F(faults, create_map)
{
	static __u64 ids[MMSB_PAGE_LIST_MAX];
	struct mmsb_stats base, st0, st1;
	unsigned int s, i, made = 0, failed = 0;
	int lastmap = 1;

	/* Only the fixture's pages, none freed yet. */
	ASSERT_EQ(mmsb_stats(self->fd, &base), 0);
	ASSERT_EQ(base.pages, NPAGES + 1);

	for (s = 0; s < ARRAY_SIZE(sweep); s++) {
		ASSERT_EQ(faults_set(sweep[s]), 0);
		for (i = 0; i < 40; i++) {
			struct mmsb_page_create pc = {
				.size = 1 + rnd() % (96 << 10),
			};
			struct mmsb_page_list pl = {
				.ids = (uintptr_t)ids,
				.max = MMSB_PAGE_LIST_MAX,
			};
			__u64 map_size = mmsb_page_map_size(pc.size,
							     page_size());
			long r;
			void *p;

			/* Only the fixture's pages: figures that hold still. */
			ASSERT_EQ(drained(self->fd, &base, &st0), 0);
			r = FAILING(ioctl_err(self->fd, MMSB_IOC_PAGE_CREATE,
					      &pc));
			ASSERT_EQ(mmsb_stats(self->fd, &st1), 0);
			if (r) {
				ASSERT_EQ(r, -ENOMEM);
				/* Nothing left of it. */
				ASSERT_EQ(st1.pages, st0.pages);
				ASSERT_EQ(st1.page_bytes, st0.page_bytes)
					TH_LOG("pages %llu, last map %d",
					       st0.pages, lastmap);
				failed++;
				continue;
			}
			made++;
			ASSERT_EQ(st1.pages, st0.pages + 1);
			ASSERT_EQ(st1.page_bytes, st0.page_bytes + map_size);

			memset(ids, 0, sizeof(ids));
			r = FAILING(ioctl_err(self->fd, MMSB_IOC_PAGE_LIST,
					      &pl));
			if (r) {
				ASSERT_EQ(r, -ENOMEM);
			} else {
				ASSERT_EQ(pl.count, NPAGES + 2);
			}

			p = (void *)FAILING((long)mmap(NULL, map_size,
						       PROT_READ, MAP_SHARED,
						       self->fd,
						       pc.mmap_offset));
			lastmap = p == MAP_FAILED ? -errno : 0;
			if (p == MAP_FAILED) {
				ASSERT_EQ(errno, ENOMEM);
			} else {
				const struct mmsb_page_header *h = p;

				ASSERT_EQ(h->id, pc.id);
				ASSERT_EQ(h->size, pc.size);
				ASSERT_EQ(munmap(p, map_size), 0);
			}
			/* Freeing allocates nothing that may fail. */
			ASSERT_EQ(FAILING(mmsb_page_free(self->fd, pc.id)), 0);
		}
	}
	TH_LOG("%u pages made, %u creates failed", made, failed);
	/* 100% fails every create: the sweep reached the paths. */
	ASSERT_GT(failed, 0);
}

/* A random delta on the model page, payload up to @maxlen bytes. */
static void model_delta(struct mmsb_delta *d, __u64 id, unsigned char *buf,
			unsigned char *mask, size_t maxlen)
{
	__u64 len = 1 + rnd() % maxlen, i, set = 0;

	memset(d, 0, sizeof(*d));
	d->page_id = id;
	d->offset = rnd() % (MODEL_SIZE - len + 1);
	d->len = len;
	d->encoding = rnd() % 3;
	for (i = 0; i < len; i++)
		buf[i] = rnd();
	d->payload = (uintptr_t)buf;
	d->payload_len = len;
	if (d->encoding == MMSB_DELTA_DENSE)
		return;
	memset(mask, 0, (len + 7) / 8);
	for (i = 0; i < len; i++)
		if (rnd() & 1) {
			mask[i / 8] |= 1 << (i % 8);
			set++;
		}
	d->mask = (uintptr_t)mask;
	if (d->encoding == MMSB_DELTA_SPARSE)
		d->payload_len = set;
}

/* The page's bytes, read under its seqlock. */
static int model_matches(const struct mmsb_page_header *hdr,
			 const unsigned char *model)
{
	static unsigned char now[MODEL_SIZE];
	__u32 seq;

	do {
		seq = mmsb_read_begin(hdr);
		memcpy(now, (const char *)hdr + MMSB_PAGE_DATA_OFFSET,
		       MODEL_SIZE);
	} while (mmsb_read_retry(hdr, seq));
	return !memcmp(now, model, MODEL_SIZE);
}

#define NDELTAS	4

/*
 * Submit the prepared SQE with allocations failing and reap its CQE:
 * io_uring's own refusal (-ENOMEM, -EAGAIN, or nothing taken) leaves the
 * SQE in the ring, for a submit without failures.  Returns cqe->res, or
 * INT_MIN if io_uring itself failed.
 */
static int uring_failing(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int r;

	r = FAILING(io_uring_submit(ring));
	if (r != 1) {
		if (r != -ENOMEM && r != -EAGAIN && r != 0)
			return INT_MIN;
		if (io_uring_submit(ring) != 1)
			return INT_MIN;
	}
	if (io_uring_wait_cqe(ring, &cqe))
		return INT_MIN;
	r = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return r;
}

/*
 * SYNC deltas by ioctl (@uring false) or io_uring, sizes across the
 * chunk classes and past them (a chunk of their own), with allocations
 * failing: a delta is applied exactly when its status is 0.
 */
static void submit_sweep(struct __test_metadata *_metadata,
			 FIXTURE_DATA(faults) *self, bool uring)
{
	static unsigned char buf[NDELTAS][MODEL_SIZE];
	static unsigned char mask[NDELTAS][MODEL_SIZE / 8];
	/* Every chunk class, and past the largest: a chunk of its own. */
	static const size_t maxlen[] = { 64, 1500, 12000, 60 << 10,
					 MODEL_SIZE };
	struct mmsb_delta d[NDELTAS];
	unsigned int s, i, k, n, applied = 0, nomem = 0;
	long r;

	/* Touch the buffers now: a fault in them must not fail. */
	memset(buf, 0, sizeof(buf));
	memset(mask, 0, sizeof(mask));
	for (s = 0; s < ARRAY_SIZE(sweep); s++) {
		ASSERT_EQ(faults_set(sweep[s]), 0);
		for (i = 0; i < 30; i++) {
			unsigned int ok = 0;

			n = 1 + rnd() % NDELTAS;
			for (k = 0; k < n; k++)
				model_delta(&d[k], self->model_id, buf[k],
					    mask[k], maxlen[rnd() % 5]);
			if (uring) {
				mmsb_uring_prep_submit(
					io_uring_get_sqe(&self->ring),
					self->fd, d, n, 0);
				r = uring_failing(&self->ring);
				ASSERT_GE(r, 0) TH_LOG("cqe->res %ld", r);
			} else {
				struct mmsb_submit sb = {
					.deltas = (uintptr_t)d, .count = n,
					.flags = MMSB_SUBMIT_SYNC,
				};

				r = FAILING(ioctl_err(self->fd, MMSB_IOC_SUBMIT,
						      &sb));
				if (r) {
					/* Refused as a whole: nothing in. */
					ASSERT_EQ(r, -ENOMEM);
					ASSERT_EQ(sb.accepted, 0);
					ASSERT_TRUE(model_matches(self->hdr,
								  self->model));
					nomem++;
					continue;
				}
				r = sb.applied;
			}
			for (k = 0; k < n; k++) {
				if (!d[k].status) {
					ASSERT_NE(d[k].delta_id, 0);
					delta_model_apply(self->model, &d[k]);
					ok++;
				} else {
					ASSERT_EQ(d[k].status, -ENOMEM);
					ASSERT_EQ(d[k].delta_id, 0);
					nomem++;
				}
			}
			ASSERT_EQ(r, ok);
			applied += ok;
			ASSERT_TRUE(model_matches(self->hdr, self->model))
				TH_LOG("page != model after %u deltas",
				       applied);
		}
	}
	TH_LOG("%u deltas applied, %u refused for memory", applied, nomem);
	ASSERT_GT(nomem, 0);
	ASSERT_GT(applied, 0);
}

TEST_F(faults, submit_ioctl)
{
	submit_sweep(_metadata, self, false);
}

TEST_F(faults, submit_uring)
{
	submit_sweep(_metadata, self, true);
}

/*
 * WAIT by io_uring for an epoch not reached yet allocates its request:
 * the CQE is -ENOMEM at once, or 0 once a delta moves the page.
 */
TEST_F(faults, wait_uring)
{
	struct io_uring_cqe *cqe;
	struct mmsb_page_info pi = { .id = self->pages[0] };
	unsigned int s, i, nomem = 0;
	struct mmsb_delta d;
	char x = 3;
	long r;

	for (s = 0; s < ARRAY_SIZE(sweep); s++) {
		ASSERT_EQ(faults_set(sweep[s]), 0);
		for (i = 0; i < 30; i++) {
			ASSERT_EQ(ioctl_err(self->fd, MMSB_IOC_PAGE_INFO,
					    &pi), 0);
			mmsb_uring_prep_wait(io_uring_get_sqe(&self->ring),
					     self->fd, self->pages[0],
					     pi.epoch + 1);
			r = FAILING(io_uring_submit(&self->ring));
			if (r != 1) {
				/* io_uring's own refusal: the SQE waits. */
				ASSERT_TRUE(r == -ENOMEM || r == -EAGAIN ||
					    r == 0) TH_LOG("submit %ld", r);
				ASSERT_EQ(io_uring_submit(&self->ring), 1);
			}
			/* Move the page: a queued WAIT completes. */
			x++;
			mmsb_delta_dense(&d, self->pages[0], 0, &x, 1);
			ASSERT_EQ(mmsb_submit(self->fd, &d, 1,
					      MMSB_SUBMIT_SYNC, NULL), 0);
			ASSERT_EQ(d.status, 0);
			ASSERT_EQ(io_uring_wait_cqe(&self->ring, &cqe), 0);
			r = cqe->res;
			io_uring_cqe_seen(&self->ring, cqe);
			if (r) {
				ASSERT_EQ(r, -ENOMEM);
				nomem++;
			}
		}
	}
	TH_LOG("%u WAITs refused for memory", nomem);
	ASSERT_GT(nomem, 0);
}

/*
 * Edges with allocations failing: one that reported -ENOMEM was not
 * added (adding it afterwards works), one that reported 0 was (adding
 * it again is -EEXIST); the edge count agrees; deleting needs no memory.
 */
TEST_F(faults, edges)
{
	bool have[NPAGES][NPAGES] = { { false } };
	unsigned int s, a, b, nomem = 0, edges = 0;
	struct mmsb_stats st;
	long r;

	for (s = 0; s < ARRAY_SIZE(sweep); s++) {
		ASSERT_EQ(faults_set(sweep[s]), 0);
		/* Only a -> b with a < b: never a cycle. */
		for (a = 0; a < NPAGES; a++) {
			for (b = a + 1; b < NPAGES; b++) {
				__u32 kind = (a + b) & 1;

				if (have[a][b])
					continue;
				r = FAILING(mmsb_edge_add(self->fd,
							  self->pages[a],
							  self->pages[b],
							  kind));
				if (r) {
					ASSERT_EQ(r, -ENOMEM);
					nomem++;
					/* Not half-added: free to add. */
					if (rnd() & 1)
						continue;
					ASSERT_EQ(mmsb_edge_add(self->fd,
								self->pages[a],
								self->pages[b],
								kind), 0);
				} else {
					ASSERT_EQ(mmsb_edge_add(self->fd,
								self->pages[a],
								self->pages[b],
								kind), -EEXIST);
				}
				have[a][b] = true;
				edges++;
			}
		}
		ASSERT_EQ(mmsb_stats(self->fd, &st), 0);
		ASSERT_EQ(st.edges, edges);
		for (a = 0; a < NPAGES; a++)
			for (b = a + 1; b < NPAGES; b++) {
				if (!have[a][b] || (rnd() & 1))
					continue;
				r = FAILING(mmsb_edge_del(self->fd,
							  self->pages[a],
							  self->pages[b],
							  (a + b) & 1));
				ASSERT_EQ(r, 0);
				have[a][b] = false;
				edges--;
			}
		ASSERT_EQ(mmsb_stats(self->fd, &st), 0);
		ASSERT_EQ(st.edges, edges);
	}
	TH_LOG("%u edge adds refused for memory", nomem);
	ASSERT_GT(nomem, 0);
}

/*
 * Subscriptions with allocations failing: a failed one can be made
 * afterwards, a made one is there (-EEXIST), and each subscribed page
 * that changes gives exactly one event.
 */
TEST_F(faults, subscribe)
{
	unsigned int s, i, nomem = 0;
	struct mmsb_event ev[NPAGES + 1];
	struct mmsb_delta d[NPAGES];
	char x = 7;
	long r;
	int fd;

	for (s = 0; s < ARRAY_SIZE(sweep); s++) {
		ASSERT_EQ(faults_set(sweep[s]), 0);
		fd = mmsb_open();
		ASSERT_GE(fd, 0);
		for (i = 0; i < NPAGES; i++) {
			r = FAILING(mmsb_subscribe(fd, self->pages[i]));
			if (r) {
				ASSERT_EQ(r, -ENOMEM);
				nomem++;
				r = mmsb_subscribe(fd, self->pages[i]);
				ASSERT_EQ(r, 0);
			} else {
				ASSERT_EQ(mmsb_subscribe(fd, self->pages[i]),
					  -EEXIST);
			}
			mmsb_delta_dense(&d[i], self->pages[i], 0, &x, 1);
		}
		x++;
		ASSERT_EQ(mmsb_submit(self->fd, d, NPAGES, MMSB_SUBMIT_SYNC,
				      NULL), 0);
		ASSERT_EQ(mmsb_read_events(fd, ev, NPAGES + 1), NPAGES);
		close(fd);
	}
	TH_LOG("%u subscriptions refused for memory", nomem);
	ASSERT_GT(nomem, 0);
}

TEST_HARNESS_MAIN
