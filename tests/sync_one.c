// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile user of the SYNC submission of one small DENSE delta
 * (kmod/submit.c mmsb_submit_one(), kmod/tick.c mmsb_tick_run_one()):
 * the record read onto the submitter's stack and handed to the tick it
 * runs, or queued as any other when deltas stay queued.  Run with the
 * default parameters and with ticks on demand, one delta a tick
 * (tick_us=0 batch_max=1: backlogs the one-delta path must stay behind).
 *
 * sync_one.faults: unreadable payloads (NULL, straddling into PROT_NONE,
 * PROT_NONE), a read-only array: the exact errno, nothing applied, the
 * STATS counters; a payload ending at a mapping's end applies.
 * sync_one.stale_race: threads racing SYNC one-delta writes with the same
 * expected epoch: exactly one winner a round, the others -ESTALE; ids,
 * epochs, bytes, the conflicts counter.
 * sync_one.order_mixed: writers each own a slot of one page and write an
 * increasing counter to it, by SYNC single deltas, non-SYNC single deltas
 * and non-SYNC batches: a SYNC return shows its own value (nothing of
 * the writer still queued overtakes it), a reader never sees a slot go
 * back, and every slot ends at its last value.
 * sync_one.free_race: pages freed and created while SYNC single deltas
 * hit them: 0, -ENOENT or -EIDRM only, STATS exactly so; every byte
 * given back, without a FLUSH too.
 * sync_one.stream_and_edge: a change stream and a passthrough edge: each
 * applied SYNC single delta has its DELTA record (id, epoch, bytes), and
 * its dependent page shows its bytes when the call returns.
 * sync_one.signals: SIGALRM storm (no SA_RESTART) on SYNC writers behind
 * a backlog: 0 or -EINTR with the documented outputs, order kept.
 * sync_one.sq_hostile(_poll): SQEs rewritten while the kernel takes them.
 * sync_one.ecomm_race: the array made read-only meanwhile: 0, -EFAULT
 * (nothing applied) or -ECOMM (applied).
 * sync_one.errno_parity: every refusal the same on the one-delta path as
 * on the chunk path, -EACCES included.
 * sync_one.stream_open_race, sync_one.edge_race: a stream opened, edges
 * added while SYNC single deltas run.
 * sync_one.sq_and_sync(_poll): SQEs, SYNC single deltas and GETEVENTS on
 * one page.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "pages.h"

static int create(int fd, __u64 size, __u64 *id)
{
	struct mmsb_page_create pc;
	int ret = mmsb_page_create(fd, size, 0644, 0, &pc);

	*id = pc.id;
	return ret;
}

static int stats(int fd, struct mmsb_stats *s)
{
	memset(s, 0, sizeof(*s));
	return mmsb_stats(fd, s);
}

/* One SYNC delta through the raw ioctl: the call's errno, the counts. */
static int submit1(int fd, struct mmsb_delta *d, __u32 flags,
		   struct mmsb_submit *out)
{
	struct mmsb_submit s = {
		.deltas = (uintptr_t)d,
		.count = 1,
		.flags = flags,
	};
	int ret = ioctl(fd, MMSB_IOC_SUBMIT, &s) ? -errno : 0;

	if (out)
		*out = s;
	return ret;
}

FIXTURE(sync_one) {
	int fd;
	__u64 page;
	const struct mmsb_page_header *hdr;
};

FIXTURE_VARIANT(sync_one) {
	const char *params;
};

FIXTURE_VARIANT_ADD(sync_one, periodic) { "" };
FIXTURE_VARIANT_ADD(sync_one, batch1) { "tick_us=0 batch_max=1" };

FIXTURE_SETUP(sync_one)
{
	ASSERT_EQ(0, module_reload(variant->params));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, create(self->fd, 64, &self->page));
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->page, &self->hdr));
}

FIXTURE_TEARDOWN(sync_one)
{
	if (self->hdr)
		mmsb_page_unmap(self->hdr);
	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

/* ------------------------------------------------------------------ */

static void expect_refused(struct __test_metadata *_metadata, int fd,
			   struct mmsb_delta *d, int err)
{
	struct mmsb_stats s0, s1;
	struct mmsb_submit sub;

	ASSERT_EQ(0, stats(fd, &s0));
	EXPECT_EQ(0, submit1(fd, d, MMSB_SUBMIT_SYNC, &sub));
	EXPECT_EQ(err, d->status);
	EXPECT_EQ(0, d->delta_id);
	EXPECT_EQ(0, d->epoch);
	EXPECT_EQ(0, sub.accepted);
	EXPECT_EQ(0, sub.applied);
	ASSERT_EQ(0, stats(fd, &s1));
	EXPECT_EQ(s0.rejected + 1, s1.rejected);
	EXPECT_EQ(s0.submitted, s1.submitted);
	EXPECT_EQ(s0.processed, s1.processed);
}

TEST_F(sync_one, faults)
{
	long ps = page_size();
	unsigned char *buf, model[64] = { 0 }, got[64];
	struct mmsb_delta d, *ro;
	struct mmsb_submit sub;
	struct mmsb_stats s0, s1;
	struct mmsb_page_info info;
	__u64 epoch;

	buf = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, mprotect(buf + ps, ps, PROT_NONE));
	ASSERT_EQ(0, munmap(buf + 2 * ps, ps));
	memset(buf, 0x5a, ps);

	/* NULL payload. */
	mmsb_delta_dense(&d, self->page, 0, NULL, 8);
	expect_refused(_metadata, self->fd, &d, -EFAULT);
	/* Straddling into PROT_NONE: 4 readable, 4 not; 255 too. */
	mmsb_delta_dense(&d, self->page, 0, buf + ps - 4, 8);
	expect_refused(_metadata, self->fd, &d, -EFAULT);
	mmsb_delta_dense(&d, self->page, 0, buf + ps - 1, 2);
	expect_refused(_metadata, self->fd, &d, -EFAULT);
	/* All of it PROT_NONE, or unmapped. */
	mmsb_delta_dense(&d, self->page, 0, buf + ps, 16);
	expect_refused(_metadata, self->fd, &d, -EFAULT);
	mmsb_delta_dense(&d, self->page, 8, buf + 2 * ps + 8, 1);
	expect_refused(_metadata, self->fd, &d, -EFAULT);
	/* The window's error comes before the payload's. */
	mmsb_delta_dense(&d, self->page, 60, NULL, 8);
	expect_refused(_metadata, self->fd, &d, -ERANGE);
	mmsb_delta_dense(&d, self->page, 0, NULL, 8);
	d.page_id = 1ULL << 40;
	expect_refused(_metadata, self->fd, &d, -ENOENT);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 64, &epoch));
	EXPECT_EQ(0, memcmp(model, got, 64));
	EXPECT_EQ(0, epoch);

	/* A payload that ends where the mapping ends: applies. */
	mmsb_delta_dense(&d, self->page, 61, buf + ps - 3, 3);
	ASSERT_EQ(0, stats(self->fd, &s0));
	EXPECT_EQ(0, submit1(self->fd, &d, MMSB_SUBMIT_SYNC, &sub));
	EXPECT_EQ(0, d.status);
	EXPECT_NE(0, d.delta_id);
	EXPECT_EQ(1, d.epoch);
	EXPECT_EQ(1, sub.accepted);
	EXPECT_EQ(1, sub.applied);
	delta_model_apply(model, &d);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 64, &epoch));
	EXPECT_EQ(0, memcmp(model, got, 64));
	EXPECT_EQ(1, epoch);
	ASSERT_EQ(0, stats(self->fd, &s1));
	EXPECT_EQ(s0.submitted + 1, s1.submitted);
	EXPECT_EQ(s0.processed + 1, s1.processed);
	EXPECT_EQ(s0.rejected, s1.rejected);
	ASSERT_EQ(0, mmsb_page_info(self->fd, self->page, &info));
	EXPECT_EQ(d.delta_id, info.last_delta_id);
	EXPECT_EQ(1, info.epoch);

	/* The array read-only: -EFAULT, nothing applied. */
	ro = mmap(NULL, ps, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	mmsb_delta_dense(ro, self->page, 0, buf, 8);
	ASSERT_EQ(0, mprotect(ro, ps, PROT_READ));
	ASSERT_EQ(0, stats(self->fd, &s0));
	EXPECT_EQ(-EFAULT, submit1(self->fd, ro, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, stats(self->fd, &s1));
	EXPECT_EQ(s0.submitted, s1.submitted);
	EXPECT_EQ(s0.rejected, s1.rejected);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 64, &epoch));
	EXPECT_EQ(0, memcmp(model, got, 64));
	EXPECT_EQ(1, epoch);
	munmap(ro, ps);
	munmap(buf, 2 * ps);
}

/* ------------------------------------------------------------------ */

#define SR_THREADS	4
#define SR_ROUNDS	200

struct sr_ctx {
	int fd;
	__u64 page;
	const struct mmsb_page_header *hdr;
	pthread_barrier_t *bar;
	int tid;
	/* Per round: status, id, epoch, expected, accepted, applied. */
	int status[SR_ROUNDS];
	__u64 id[SR_ROUNDS], epoch[SR_ROUNDS], expected[SR_ROUNDS];
	__u32 acc[SR_ROUNDS], app[SR_ROUNDS];
	int err;
};

static void *sr_thread(void *arg)
{
	struct sr_ctx *c = arg;
	struct mmsb_page_info info;
	struct mmsb_submit sub;
	struct mmsb_delta d;
	unsigned char v = c->tid + 1;
	int r, ret;

	for (r = 0; r < SR_ROUNDS; r++) {
		pthread_barrier_wait(c->bar);
		ret = mmsb_page_info(c->fd, c->page, &info);
		if (ret) {
			c->err = 1000 - ret;
			break;
		}
		/* Everyone agrees on the epoch: the last round returned. */
		pthread_barrier_wait(c->bar);
		mmsb_delta_dense(&d, c->page, r % 64, &v, 1);
		d.expected_epoch = info.epoch;
		c->expected[r] = info.epoch;
		ret = submit1(c->fd, &d, MMSB_SUBMIT_SYNC, &sub);
		if (ret) {
			c->err = 2000 - ret;
			break;
		}
		c->status[r] = d.status;
		c->id[r] = d.delta_id;
		c->epoch[r] = d.epoch;
		c->acc[r] = sub.accepted;
		c->app[r] = sub.applied;
	}
	return NULL;
}

TEST_F(sync_one, stale_race)
{
	struct sr_ctx c[SR_THREADS];
	pthread_barrier_t bar;
	pthread_t th[SR_THREADS];
	struct mmsb_stats s0, s1;
	unsigned char got[64], model[64] = { 0 };
	__u64 epoch, e0 = 1;
	int i, r, winner, losers = 0;
	struct mmsb_delta d0;
	unsigned char z = 0;

	/* Epoch 1: an expected epoch of 0 would mean "any". */
	mmsb_delta_dense(&d0, self->page, 0, &z, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d0, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, d0.status);
	ASSERT_EQ(1, d0.epoch);
	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, SR_THREADS));
	ASSERT_EQ(0, stats(self->fd, &s0));
	for (i = 0; i < SR_THREADS; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].fd = self->fd;
		c[i].page = self->page;
		c[i].bar = &bar;
		c[i].tid = i;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, sr_thread, &c[i]));
	}
	for (i = 0; i < SR_THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < SR_THREADS; i++)
		ASSERT_EQ(0, c[i].err);
	for (r = 0; r < SR_ROUNDS; r++) {
		winner = -1;
		for (i = 0; i < SR_THREADS; i++) {
			EXPECT_EQ(e0, c[i].expected[r]);
			EXPECT_EQ(1, c[i].acc[r]);
			EXPECT_NE(0, c[i].id[r]);
			if (!c[i].status[r]) {
				if (winner >= 0)
					TH_LOG("round %d: %d and %d both won",
					       r, winner, i);
				EXPECT_GT(0, winner);
				winner = i;
				EXPECT_EQ(1, c[i].app[r]);
				EXPECT_EQ(e0 + 1, c[i].epoch[r]);
			} else {
				EXPECT_EQ(-ESTALE, c[i].status[r]);
				EXPECT_EQ(0, c[i].app[r]);
				/* The page's epoch after that tick. */
				EXPECT_LE(e0, c[i].epoch[r]);
				losers++;
			}
		}
		EXPECT_LE(0, winner) {
			TH_LOG("round %d: nobody won", r);
		}
		if (winner < 0)
			break;
		model[r % 64] = winner + 1;
		e0++;
	}
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 64, &epoch));
	EXPECT_EQ(e0, epoch);
	EXPECT_EQ(0, memcmp(model, got, 64));
	ASSERT_EQ(0, stats(self->fd, &s1));
	EXPECT_EQ(s0.conflicts + losers, s1.conflicts);
	EXPECT_EQ(s0.processed + SR_ROUNDS, s1.processed);
	EXPECT_EQ(s0.submitted + SR_ROUNDS * SR_THREADS, s1.submitted);
	EXPECT_EQ(s0.rejected, s1.rejected);
	pthread_barrier_destroy(&bar);
}

/* ------------------------------------------------------------------ */

#define OM_WRITERS	4
#define OM_COUNT	1500

struct om_shared {
	int fd;
	__u64 page;
	const struct mmsb_page_header *hdr;
	volatile int stop;
	volatile int bad;
	volatile __u64 bad_info[4];
};

struct om_ctx {
	struct om_shared *sh;
	int w;
	__u32 seed;
	__u64 last;	/* the last value written */
};

static void om_fail(struct om_shared *sh, int code, __u64 a, __u64 b,
		    __u64 c)
{
	if (__sync_bool_compare_and_swap(&sh->bad, 0, code)) {
		sh->bad_info[0] = a;
		sh->bad_info[1] = b;
		sh->bad_info[2] = c;
	}
}

static void *om_writer(void *arg)
{
	struct om_ctx *c = arg;
	struct om_shared *sh = c->sh;
	__u64 vals[3], got, epoch, k = 0;
	struct mmsb_delta d[3];
	int i, n, ret, kind;

	while (k < OM_COUNT && !sh->bad) {
		kind = xorshift32(&c->seed) % 4;
		if (kind == 0 || kind == 1) {
			/* SYNC, one delta: the path under test. */
			vals[0] = ++k;
			mmsb_delta_dense(&d[0], sh->page, 8 * c->w, &vals[0], 8);
			ret = mmsb_submit(sh->fd, d, 1, MMSB_SUBMIT_SYNC, NULL);
			if (ret || d[0].status) {
				om_fail(sh, 1, c->w, ret, d[0].status);
				break;
			}
			ret = mmsb_page_read(sh->hdr, 8 * c->w, &got, 8,
					     &epoch);
			if (ret) {
				om_fail(sh, 2, c->w, ret, 0);
				break;
			}
			/* Nothing of ours is queued: exactly our value. */
			if (got != k)
				om_fail(sh, 3, c->w, k, got);
			if (epoch < d[0].epoch)
				om_fail(sh, 4, c->w, d[0].epoch, epoch);
			continue;
		}
		/* Not SYNC: one delta or three, queued. */
		n = kind == 2 ? 1 : 3;
		for (i = 0; i < n; i++) {
			vals[i] = ++k;
			mmsb_delta_dense(&d[i], sh->page, 8 * c->w, &vals[i],
					 8);
		}
		ret = mmsb_submit(sh->fd, d, n, 0, NULL);
		for (i = 0; i < n && !ret; i++)
			if (d[i].status)
				ret = d[i].status;
		if (ret) {
			om_fail(sh, 5, c->w, ret, 0);
			break;
		}
	}
	c->last = k;
	return NULL;
}

static void *om_reader(void *arg)
{
	struct om_shared *sh = arg;
	__u64 last[OM_WRITERS] = { 0 }, buf[8], epoch, last_epoch = 0;
	int w, ret;

	while (!sh->stop) {
		ret = mmsb_page_read(sh->hdr, 0, buf, 64, &epoch);
		if (ret) {
			om_fail(sh, 10, ret, 0, 0);
			break;
		}
		if (epoch < last_epoch)
			om_fail(sh, 11, last_epoch, epoch, 0);
		last_epoch = epoch;
		for (w = 0; w < OM_WRITERS; w++) {
			if (buf[w] < last[w])
				om_fail(sh, 12, w, last[w], buf[w]);
			last[w] = buf[w];
		}
	}
	return NULL;
}

/*
 * After the threads of an om_shared run: no failure seen (else which),
 * and the page's first 8 slots, once everything queued applied, in @buf.
 */
static void om_end(struct __test_metadata *_metadata,
		   FIXTURE_DATA(sync_one) *self, const struct om_shared *sh,
		   __u64 *buf)
{
	static const __u64 mark = 1;
	struct mmsb_delta d;

	EXPECT_EQ(0, sh->bad) {
		TH_LOG("failure %d: %llu %llu %llu", sh->bad,
		       (unsigned long long)sh->bad_info[0],
		       (unsigned long long)sh->bad_info[1],
		       (unsigned long long)sh->bad_info[2]);
	}
	/*
	 * Everything queued applied: a SYNC delta behind it (on slot 6,
	 * nobody's) returns when its batch did.  A FLUSH waits for one
	 * tick only, which with batch_max=1 takes one delta of a backlog.
	 */
	mmsb_delta_dense(&d, self->page, 48, &mark, 8);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, d.status);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, buf, 64, NULL));
}

TEST_F(sync_one, order_mixed)
{
	struct om_shared sh = {
		.fd = self->fd, .page = self->page, .hdr = self->hdr,
	};
	struct om_ctx c[OM_WRITERS];
	pthread_t th[OM_WRITERS], rd;
	__u64 buf[8];
	int w;

	ASSERT_EQ(0, pthread_create(&rd, NULL, om_reader, &sh));
	for (w = 0; w < OM_WRITERS; w++) {
		c[w] = (struct om_ctx){ .sh = &sh, .w = w, .seed = 77 + w };
		ASSERT_EQ(0, pthread_create(&th[w], NULL, om_writer, &c[w]));
	}
	for (w = 0; w < OM_WRITERS; w++)
		pthread_join(th[w], NULL);
	sh.stop = 1;
	pthread_join(rd, NULL);
	om_end(_metadata, self, &sh, buf);
	for (w = 0; w < OM_WRITERS; w++)
		EXPECT_EQ(c[w].last, buf[w]);
}

/* ------------------------------------------------------------------ */

#define FR_WRITERS	3
#define FR_MS		2000

struct fr_shared {
	int fd;
	volatile __u64 cur;
	volatile int stop;
	volatile int bad;
	volatile __u64 ok, enoent, eidrm;
	volatile __u64 bad_info[3];
};

static void *fr_writer(void *arg)
{
	struct fr_shared *sh = arg;
	struct mmsb_delta d;
	__u64 v = 0x0102030405060708ULL;
	int ret;

	while (!sh->stop) {
		mmsb_delta_dense(&d, sh->cur, 8, &v, 8);
		ret = mmsb_submit(sh->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
		if (ret) {
			__sync_bool_compare_and_swap(&sh->bad, 0, 1);
			sh->bad_info[0] = ret;
			break;
		}
		if (!d.status) {
			__sync_fetch_and_add(&sh->ok, 1);
			if (!d.epoch || !d.delta_id) {
				__sync_bool_compare_and_swap(&sh->bad, 0, 2);
				sh->bad_info[1] = d.epoch;
			}
		} else if (d.status == -ENOENT) {
			__sync_fetch_and_add(&sh->enoent, 1);
		} else if (d.status == -EIDRM) {
			__sync_fetch_and_add(&sh->eidrm, 1);
		} else {
			__sync_bool_compare_and_swap(&sh->bad, 0, 3);
			sh->bad_info[2] = d.status;
		}
	}
	return NULL;
}

TEST_F(sync_one, free_race)
{
	struct fr_shared sh = { .fd = self->fd, .cur = self->page };
	pthread_t th[FR_WRITERS];
	__u64 id, end = mono_ms() + FR_MS;
	struct mmsb_stats s0, s1;
	int i;

	ASSERT_EQ(0, stats(self->fd, &s0));
	for (i = 0; i < FR_WRITERS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, fr_writer, &sh));
	while (mono_ms() < end) {
		ASSERT_EQ(0, create(self->fd, 64 << (i++ % 4), &id));
		sh.cur = id;
		usleep(i % 3 ? 200 : 0);
		ASSERT_EQ(0, mmsb_page_free(self->fd, id));
	}
	sh.stop = 1;
	for (i = 0; i < FR_WRITERS; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(0, sh.bad) {
		TH_LOG("bad %d: ret %lld epoch %llu status %lld", sh.bad,
		       (long long)sh.bad_info[0],
		       (unsigned long long)sh.bad_info[1],
		       (long long)sh.bad_info[2]);
	}
	TH_LOG("ok %llu enoent %llu eidrm %llu", (unsigned long long)sh.ok,
	       (unsigned long long)sh.enoent, (unsigned long long)sh.eidrm);
	EXPECT_LT(0, sh.ok);
	/* Accepted: applied or -EIDRM; refused: -ENOENT. */
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, stats(self->fd, &s1));
	EXPECT_EQ(s0.submitted + sh.ok + sh.eidrm, s1.submitted);
	EXPECT_EQ(s0.processed + sh.ok, s1.processed);
	EXPECT_EQ(s0.rejected + sh.enoent + sh.eidrm, s1.rejected);
	EXPECT_EQ(s0.conflicts, s1.conflicts);
	mmsb_page_unmap(self->hdr);
	self->hdr = NULL;
	ASSERT_EQ(0, mmsb_page_free(self->fd, self->page));
	/* Given back without a FLUSH: the last put asks for the GC. */
	for (i = 0; i < 5000; i++) {
		__u64 p, b;

		ASSERT_EQ(0, held(self->fd, &p, &b));
		if (!p && !b)
			break;
		usleep(1000);
	}
	EXPECT_GT(5000, i);
	EXPECT_HELD(self->fd, 0, 0);
}

/* ------------------------------------------------------------------ */

#define SE_N		300

TEST_F(sync_one, stream_and_edge)
{
	static unsigned char rbuf[1 << 20];
	struct mmsb_delta d[SE_N], q;
	const struct mmsb_stream_record *rec;
	const struct mmsb_page_header *hb;
	unsigned char v[SE_N], got[64], qv = 0x77;
	__u64 b, epoch, bepoch = 0, e;
	size_t off = 0;
	ssize_t n;
	int s, i, found = 0, ret;

	ASSERT_EQ(0, create(self->fd, 64, &b));
	ASSERT_EQ(0, mmsb_page_map(self->fd, b, &hb));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->page, b,
				   MMSB_EDGE_PASSTHROUGH));
	s = mmsb_stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0,
			     MMSB_STREAM_BUFFER_MAX, NULL);
	ASSERT_LE(0, s);
	for (i = 0; i < SE_N; i++) {
		v[i] = i + 1;
		/* A queued one now and then: the SYNC one goes behind. */
		if (i % 7 == 3) {
			mmsb_delta_dense(&q, self->page, 63, &qv, 1);
			ASSERT_EQ(0, mmsb_submit(self->fd, &q, 1, 0, NULL));
			ASSERT_EQ(0, q.status);
		}
		mmsb_delta_dense(&d[i], self->page, i % 60, &v[i], 1);
		ASSERT_EQ(0, mmsb_submit(self->fd, &d[i], 1,
					 MMSB_SUBMIT_SYNC, NULL));
		ASSERT_EQ(0, d[i].status);
		/* Propagated before the return: b shows the byte. */
		ASSERT_EQ(0, mmsb_page_read(hb, 0, got, 64, &e));
		EXPECT_EQ(v[i], got[i % 60]);
		EXPECT_LT(bepoch, e);
		bepoch = e;
		ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 64, &epoch));
		EXPECT_EQ(v[i], got[i % 60]);
		EXPECT_EQ(d[i].epoch, epoch);
	}
	ASSERT_EQ(0, mmsb_flush(self->fd));
	n = 0;
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	for (;;) {
		ssize_t r = read(s, rbuf + n, sizeof(rbuf) - n);

		if (r <= 0)
			break;
		n += r;
	}
	ASSERT_LT(0, n);
	/* Every SYNC delta's DELTA record, in order, with id and epoch. */
	i = 0;
	while ((ret = mmsb_stream_next(rbuf, n, &off, &rec)) == 1) {
		const unsigned char *data = (const void *)(rec + 1);

		ASSERT_NE(MMSB_REC_OVERFLOW, rec->type);
		if (rec->type != MMSB_REC_DELTA || rec->page_id != self->page ||
		    rec->offset == 63)
			continue;
		ASSERT_GT(SE_N, i);
		EXPECT_EQ(d[i].delta_id, rec->delta_id);
		EXPECT_EQ(d[i].epoch, rec->epoch);
		EXPECT_EQ(i % 60, rec->offset);
		EXPECT_EQ(1, rec->len);
		EXPECT_EQ(v[i], data[0]);
		i++;
		found++;
	}
	EXPECT_EQ(0, ret);
	EXPECT_EQ(SE_N, found);
	close(s);
	mmsb_page_unmap(hb);
}

/* ------------------------------------------------------------------ */

/*
 * Writers as in order_mixed, SYNC single deltas only and some batches of
 * two, under a storm of SIGALRM whose handler runs without SA_RESTART:
 * each call returns 0 or -EINTR; after 0 the slot shows exactly the
 * value; after -EINTR a delta is queued (id, status 0, epoch 0) or kept
 * out (-EINTR, id 0); a reader never sees a slot go back; each slot ends
 * at the last value queued.
 */
#define SG_MS		2000

static void sg_handler(int sig)
{
	(void)sig;
}

struct sg_ctx {
	struct om_shared *sh;
	int w;
	__u64 last, intr;
	volatile int stop;
};

static void *sg_writer(void *arg)
{
	struct sg_ctx *c = arg;
	struct om_shared *sh = c->sh;
	__u64 vbuf[2][2], *vals, got, epoch, k = 0;
	struct mmsb_delta dbuf[2][2], *d;
	__u32 acc, app, turn = 0;
	sigset_t set;
	int i, n, ret;

	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!c->stop && !sh->bad) {
		/*
		 * Each call a new array: the same array again right after
		 * -EINTR would be the same call, resumed (the uapi).
		 */
		d = dbuf[turn & 1];
		vals = vbuf[turn++ & 1];
		n = (k % 5 == 4) ? 2 : 1;
		for (i = 0; i < n; i++) {
			vals[i] = ++k;
			mmsb_delta_dense(&d[i], sh->page, 8 * c->w, &vals[i],
					 8);
		}
		acc = app = ~0U;
		ret = mmsb_submit_counts(sh->fd, d, n, MMSB_SUBMIT_SYNC, &acc,
					 &app);
		if (ret == 0) {
			for (i = 0; i < n; i++)
				if (d[i].status || !d[i].delta_id ||
				    !d[i].epoch)
					om_fail(sh, 20, c->w, i, d[i].status);
			if (acc != (__u32)n || app != (__u32)n)
				om_fail(sh, 21, c->w, acc, app);
			c->last = k;
			ret = mmsb_page_read(sh->hdr, 8 * c->w, &got, 8,
					     &epoch);
			if (ret || got != k)
				om_fail(sh, 22, c->w, k, got);
			if (epoch < d[n - 1].epoch)
				om_fail(sh, 23, c->w, d[n - 1].epoch, epoch);
			continue;
		}
		if (ret != -EINTR) {
			om_fail(sh, 24, c->w, ret, 0);
			break;
		}
		c->intr++;
		/* Queued ones are a prefix, with ids and no epoch. */
		for (i = 0; i < n; i++) {
			if (d[i].status == 0) {
				if (!d[i].delta_id || d[i].epoch || i >= (int)acc)
					om_fail(sh, 25, c->w, i, d[i].epoch);
				c->last = vals[i];
			} else if (d[i].status == -EINTR) {
				if (d[i].delta_id || i < (int)acc)
					om_fail(sh, 26, c->w, i, acc);
			} else {
				om_fail(sh, 27, c->w, i, d[i].status);
			}
		}
		/* What was kept out is written again, with larger values. */
	}
	return NULL;
}

/* A backlog of queued deltas on the page's last slot: SYNC calls wait. */
static void *sg_spammer(void *arg)
{
	struct sg_ctx *c = arg;
	struct om_shared *sh = c->sh;
	static __u64 vals[64];
	struct mmsb_delta d[64];
	__u64 k = 0;
	int i;

	while (!c->stop) {
		for (i = 0; i < 64; i++) {
			vals[i] = ++k;
			mmsb_delta_dense(&d[i], sh->page, 56, &vals[i], 8);
		}
		if (mmsb_submit(sh->fd, d, 64, 0, NULL))
			break;
	}
	return NULL;
}

TEST_F(sync_one, signals)
{
	struct om_shared sh = {
		.fd = self->fd, .page = self->page, .hdr = self->hdr,
	};
	struct sigaction sa = { .sa_handler = sg_handler };
	struct itimerval it = {
		.it_interval = { .tv_usec = 200 },
		.it_value = { .tv_usec = 200 },
	};
	struct itimerval off = { };
	struct sg_ctx c[OM_WRITERS];
	pthread_t th[OM_WRITERS], rd, sp;
	struct sg_ctx spc = { .sh = &sh };
	__u64 buf[8], intr = 0, end;
	sigset_t set;
	int w;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	/* Only the writers take the signal. */
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &set, NULL));
	ASSERT_EQ(0, pthread_create(&rd, NULL, om_reader, &sh));
	ASSERT_EQ(0, pthread_create(&sp, NULL, sg_spammer, &spc));
	for (w = 0; w < OM_WRITERS; w++) {
		c[w] = (struct sg_ctx){ .sh = &sh, .w = w };
		ASSERT_EQ(0, pthread_create(&th[w], NULL, sg_writer, &c[w]));
	}
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	end = mono_ms() + SG_MS;
	while (mono_ms() < end)
		usleep(10000);
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &off, NULL));
	for (w = 0; w < OM_WRITERS; w++)
		c[w].stop = 1;
	spc.stop = 1;
	for (w = 0; w < OM_WRITERS; w++)
		pthread_join(th[w], NULL);
	pthread_join(sp, NULL);
	sh.stop = 1;
	pthread_join(rd, NULL);
	signal(SIGALRM, SIG_IGN);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	om_end(_metadata, self, &sh, buf);
	for (w = 0; w < OM_WRITERS; w++) {
		EXPECT_EQ(c[w].last, buf[w]);
		intr += c[w].intr;
	}
	TH_LOG("%llu calls interrupted", (unsigned long long)intr);
}

/* ------------------------------------------------------------------ */

/*
 * A mapped queue whose SQEs another thread rewrites while the kernel
 * takes them (fields valid and not), a poller or none, GETEVENTS calls
 * while SYNC single deltas hit the same page: no crash, CQE user_data
 * only values written, statuses only the documented errnos, page bytes
 * only bytes the arena ever held, one CQE per SQE.
 */
#define HQ_ENTRIES	32
#define HQ_MS		2000
#define HQ_UD_A		0xa5a5000000000000ULL
#define HQ_UD_B		0x5a5a000000000000ULL

struct hq_shared {
	struct mmsb_sq_handle *q;
	__u64 pages[2];
	volatile int stop;
};

static void *hq_mutator(void *arg)
{
	struct hq_shared *sh = arg;
	struct mmsb_sq_handle *q = sh->q;
	static const __u32 offs[] = { 0, 8, 60, 63, 64, 0xffffffffU };
	static const __u32 lens[] = { 0, 1, 8, 64, 65, 0xffffffffU };
	__u32 seed = 12345, r;
	int i;

	while (!sh->stop) {
		i = xorshift32(&seed) % HQ_ENTRIES;
		struct mmsb_sqe *e = &q->sqes[i];

		r = xorshift32(&seed);
		switch (r % 8) {
		case 0:
			__atomic_store_n(&e->user_data,
					 (r & 1 ? HQ_UD_A : HQ_UD_B) | r,
					 __ATOMIC_RELAXED);
			break;
		case 1:
			e->offset = offs[(r >> 3) % 6];
			break;
		case 2:
			e->len = lens[(r >> 3) % 6];
			break;
		case 3:
			e->payload_len = lens[(r >> 3) % 6];
			break;
		case 4:
			__atomic_store_n(&e->expected_epoch, (r >> 3) % 4,
					 __ATOMIC_RELAXED);
			break;
		case 5:
			e->page_id = (r >> 3) % 3 == 2 ? (1ULL << 40) :
				     sh->pages[(r >> 3) % 3];
			break;
		case 6:
			e->encoding = (r >> 3) % 4 == 3 ? 1 : 0;
			e->mask_off = (r >> 5) % 2 ? 0 : 64 * i + 8;
			break;
		default:
			e->payload_off = (r >> 3) % 2 ? 64 * i :
					 (__u32)q->arena_bytes - 4;
			break;
		}
	}
	return NULL;
}

static void *hq_sync(void *arg)
{
	struct hq_shared *sh = arg;
	unsigned char v[8];
	struct mmsb_delta d;
	int ret;

	memset(v, 0xab, sizeof(v));
	while (!sh->stop) {
		mmsb_delta_dense(&d, sh->pages[0], 16, v, 8);
		ret = mmsb_submit(sh->q->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
		if (ret || d.status)
			break;
	}
	return NULL;
}

static int hq_ok_status(int s)
{
	return s == 0 || s == -EINVAL || s == -ERANGE || s == -EMSGSIZE ||
	       s == -ESTALE || s == -ENOENT;
}

/*
 * @flags: the queue's setup flags; @params: the module's, whose tick_us
 * says whether ticks consume without a system call.
 */
static void hq_run(struct __test_metadata *_metadata, int fd, __u64 page,
		   __u32 flags, const char *params)
{
	bool timer = !strstr(params, "tick_us=0");
	struct hq_shared sh = { 0 };
	struct mmsb_sq_handle q;
	struct mmsb_cqe cqe;
	pthread_t mt, st;
	unsigned char v[64], got[64];
	__u64 q2, published = 0, reaped = 0, end, epoch;
	__u32 seed = 99;
	int i, j, bad = 0;
	struct mmsb_sqe *e;

	ASSERT_EQ(0, create(fd, 64, &q2));
	ASSERT_EQ(0, mmsb_sq_setup(fd, HQ_ENTRIES, HQ_ENTRIES * 64, flags, 0,
				   &q));
	/* The arena holds 0xab and 0xcd only, masks included. */
	for (i = 0; i < (int)q.arena_bytes; i++)
		q.arena[i] = i & 8 ? 0xab : 0xcd;
	sh.q = &q;
	sh.pages[0] = page;
	sh.pages[1] = q2;
	ASSERT_EQ(0, pthread_create(&mt, NULL, hq_mutator, &sh));
	ASSERT_EQ(0, pthread_create(&st, NULL, hq_sync, &sh));
	end = mono_ms() + HQ_MS;
	while (mono_ms() < end) {
		for (j = 0; j < 8; j++) {
			e = mmsb_sq_get_sqe(&q);
			if (!e)
				break;
			memset(v, xorshift32(&seed) & 1 ? 0xab : 0xcd, 64);
			/* The arena keeps its two bytes: v is one of them. */
			mmsb_sq_prep_dense(&q, e, sh.pages[j & 1], j * 4, v,
					   8, HQ_UD_A | published);
			published++;
		}
		mmsb_sq_submit(&q);
		if (xorshift32(&seed) % 2)
			mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 1, 1000000);
		while (!sq_reap(&q, &cqe)) {
			reaped++;
			if (!hq_ok_status(cqe.status) && !bad++)
				TH_LOG("status %d", cqe.status);
			if ((cqe.user_data >> 48) != (HQ_UD_A >> 48) &&
			    (cqe.user_data >> 48) != (HQ_UD_B >> 48) &&
			    !bad++)
				TH_LOG("user_data %#llx",
				       (unsigned long long)cqe.user_data);
			if (cqe.status && (cqe.delta_id ? cqe.status != -ESTALE :
					   0) && !bad++)
				TH_LOG("status %d with id %llu", cqe.status,
				       (unsigned long long)cqe.delta_id);
		}
	}
	sh.stop = 1;
	pthread_join(mt, NULL);
	pthread_join(st, NULL);
	/*
	 * The rest of the CQEs, for up to 10 s: consumed by the ticks or
	 * the poller, or else (tick_us=0: no timer) by SQ_ENTER.
	 */
	while (reaped < published) {
		if (!timer && !(flags & MMSB_SQ_POLL) &&
		    mmsb_sq_enter(&q, MMSB_SQ_ENTER_SUBMIT |
				  MMSB_SQ_ENTER_GETEVENTS, 1, 1000000000ULL) < 0)
			break;
		if (sq_reap_spin(&q, &cqe))
			break;
		reaped++;
		if (!hq_ok_status(cqe.status) && !bad++)
			TH_LOG("status %d", cqe.status);
	}
	EXPECT_EQ(published, reaped);
	EXPECT_EQ(0, bad);
	for (i = 0; i < 2; i++) {
		const struct mmsb_page_header *h;

		ASSERT_EQ(0, mmsb_page_map(fd, sh.pages[i], &h));
		ASSERT_EQ(0, mmsb_page_read(h, 0, got, 64, &epoch));
		for (j = 0; j < 64; j++)
			if (got[j] && got[j] != 0xab && got[j] != 0xcd &&
			    !bad++)
				TH_LOG("page %d byte %d: %#x", i, j, got[j]);
		mmsb_page_unmap(h);
	}
	EXPECT_EQ(0, bad);
	TH_LOG("%llu SQEs", (unsigned long long)published);
	EXPECT_EQ(0, mmsb_sq_unmap(&q));
}

TEST_F(sync_one, sq_hostile)
{
	hq_run(_metadata, self->fd, self->page, 0, variant->params);
}

TEST_F(sync_one, sq_hostile_poll)
{
	hq_run(_metadata, self->fd, self->page, MMSB_SQ_POLL,
	       variant->params);
}

/* ------------------------------------------------------------------ */

/*
 * The array made read-only and writable again by another thread while
 * SYNC calls of one delta (and of two, the chunk path) run on it: each
 * call gives 0 (applied, outputs written), -EFAULT (nothing applied) or
 * -ECOMM (applied, an output not written); the page and STATS follow
 * exactly.  The array is a shared memfd mapped twice: the writer fills
 * it through a view that stays writable, the kernel gets the other.
 */
#define EC_CALLS	20000

struct ec_shared {
	void *view;
	long ps;
	volatile int stop;
};

static void *ec_toggler(void *arg)
{
	struct ec_shared *sh = arg;
	__u32 seed = 5;

	while (!sh->stop) {
		mprotect(sh->view, sh->ps, PROT_READ);
		if (xorshift32(&seed) % 2)
			sched_yield();
		mprotect(sh->view, sh->ps, PROT_READ | PROT_WRITE);
		if (xorshift32(&seed) % 2)
			sched_yield();
	}
	return NULL;
}

TEST_F(sync_one, ecomm_race)
{
	struct ec_shared sh = { .ps = page_size() };
	struct mmsb_delta *rw, *ro;
	struct mmsb_submit sub;
	struct mmsb_stats s0, s1;
	__u64 vals[2], got[2], epoch, k = 0, cur[2] = { 0, 0 };
	__u64 applied = 0, nok = 0, nfault = 0, ncomm = 0;
	pthread_t th;
	int mfd, i, n, ret;

	mfd = memfd_create("sync_one", 0);
	if (mfd < 0) {
		/* No memfd (the debug kernel): a file of the root fs. */
		mfd = open("/tmp/sync_one.map", O_RDWR | O_CREAT | O_TRUNC,
			   0600);
		unlink("/tmp/sync_one.map");
	}
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, sh.ps));
	rw = mmap(NULL, sh.ps, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, rw);
	ro = mmap(NULL, sh.ps, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	sh.view = ro;
	ASSERT_EQ(0, stats(self->fd, &s0));
	ASSERT_EQ(0, pthread_create(&th, NULL, ec_toggler, &sh));
	for (i = 0; i < EC_CALLS; i++) {
		n = i % 4 == 3 ? 2 : 1;
		vals[0] = ++k;
		vals[1] = ++k;
		mmsb_delta_dense(&rw[0], self->page, 0, &vals[0], 8);
		mmsb_delta_dense(&rw[1], self->page, 8, &vals[1], 8);
		memset(&sub, 0, sizeof(sub));
		sub.deltas = (uintptr_t)ro;
		sub.count = n;
		sub.flags = MMSB_SUBMIT_SYNC;
		ret = ioctl(self->fd, MMSB_IOC_SUBMIT, &sub) ? -errno : 0;
		ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 16, &epoch));
		if (ret == -EFAULT) {
			nfault++;
			EXPECT_EQ(cur[0], got[0]);
			EXPECT_EQ(cur[1], got[1]);
			EXPECT_EQ(0, sub.accepted);
			continue;
		}
		if (ret == 0) {
			nok++;
			EXPECT_EQ(0, rw[0].status);
			EXPECT_NE(0, rw[0].epoch);
			EXPECT_EQ(epoch, rw[n - 1].epoch);
			EXPECT_EQ(n, sub.applied);
		} else {
			ASSERT_EQ(-ECOMM, ret);
			ncomm++;
		}
		EXPECT_EQ(n, sub.accepted);
		cur[0] = vals[0];
		if (n == 2)
			cur[1] = vals[1];
		applied += n;
		EXPECT_EQ(cur[0], got[0]);
		EXPECT_EQ(cur[1], got[1]);
		if (cur[0] != got[0] || cur[1] != got[1]) {
			TH_LOG("call %d (%d deltas): %d", i, n, ret);
			break;
		}
	}
	sh.stop = 1;
	pthread_join(th, NULL);
	ASSERT_EQ(0, stats(self->fd, &s1));
	EXPECT_EQ(s0.processed + applied, s1.processed);
	EXPECT_EQ(s0.submitted + applied, s1.submitted);
	EXPECT_EQ(s0.rejected, s1.rejected);
	TH_LOG("0: %llu, -EFAULT: %llu, -ECOMM: %llu",
	       (unsigned long long)nok, (unsigned long long)nfault,
	       (unsigned long long)ncomm);
	munmap(rw, sh.ps);
	munmap(ro, sh.ps);
	close(mfd);
}

/* ------------------------------------------------------------------ */

/*
 * Each refusal of a single delta, SYNC (the one-delta path) and not
 * (the chunk path), and SYNC with a valid delta after it (the chunk
 * path again): the same errno, in mmsb_delta_add()'s order; nothing
 * applied.  In a child without CAP_SYS_ADMIN and another uid: -EACCES
 * on a page it may only read, the same three ways.
 */
static void parity(struct __test_metadata *_metadata, int fd, __u64 page,
		   const struct mmsb_delta *bad, int err, const char *what)
{
	static unsigned char good = 9;
	struct mmsb_delta d[2];
	__u32 flags[3] = { MMSB_SUBMIT_SYNC, 0, MMSB_SUBMIT_SYNC };
	int n[3] = { 1, 1, 2 }, i;

	for (i = 0; i < 3; i++) {
		d[0] = *bad;
		mmsb_delta_dense(&d[1], page, 0, &good, 1);
		EXPECT_EQ(0, mmsb_submit(fd, d, n[i], flags[i], NULL));
		EXPECT_EQ(err, d[0].status) {
			TH_LOG("%s, way %d", what, i);
		}
		EXPECT_EQ(0, d[0].delta_id);
		EXPECT_EQ(0, d[0].epoch);
		if (n[i] == 2) {
			EXPECT_EQ(0, d[1].status);
		}
	}
}

TEST_F(sync_one, errno_parity)
{
	static unsigned char pl[64];
	struct mmsb_delta d, base;
	unsigned char got[64];
	__u64 ro_page, epoch;
	int i;
	pid_t pid;

	for (i = 0; i < 64; i++)
		pl[i] = 0xc0 | i;
	mmsb_delta_dense(&base, self->page, 0, pl, 8);
#define P(field, value, err) do {					\
	d = base;							\
	d.field = value;						\
	parity(_metadata, self->fd, self->page, &d, err,		\
	       #field " = " #value);					\
} while (0)
	P(encoding, 3, -EINVAL);
	P(flags, 1, -EINVAL);
	P(pad, 1, -EINVAL);
	P(len, 0, -EINVAL);
	P(mask, (uintptr_t)pl, -EINVAL);
	P(page_id, 1ULL << 40, -ENOENT);
	P(page_id, 0, -ENOENT);
	P(offset, 57, -ERANGE);
	P(offset, UINT64_MAX, -ERANGE);
	P(offset, UINT64_MAX - 6, -ERANGE);
	P(len, 65, -ERANGE);
	P(payload_len, 7, -EMSGSIZE);
	P(payload_len, 9, -EMSGSIZE);
	P(payload, 0, -EFAULT);
	P(payload, 8, -EFAULT);
	/* Order: the window's errno before the size's and the payload's. */
	d = base;
	d.offset = 60;
	d.payload_len = 3;
	d.payload = 0;
	parity(_metadata, self->fd, self->page, &d, -ERANGE, "window first");
	d = base;
	d.payload_len = 3;
	d.payload = 0;
	parity(_metadata, self->fd, self->page, &d, -EMSGSIZE, "size first");
	d = base;
	d.len = 0;
	d.page_id = 1ULL << 40;
	parity(_metadata, self->fd, self->page, &d, -EINVAL, "len 0 first");
	d = base;
	d.page_id = 1ULL << 40;
	d.offset = 100;
	parity(_metadata, self->fd, self->page, &d, -ENOENT, "page first");
#undef P

	/* Only the valid deltas of the three ways applied: byte 0 is 9. */
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 64, &epoch));
	EXPECT_EQ(9, got[0]);
	EXPECT_TRUE(all_zero(got + 1, 63));

	/* -EACCES: a page this uid may only read, from another uid. */
	ASSERT_EQ(0, create(self->fd, 64, &ro_page));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int fd2;
		__u64 own;

		if (drop_cap_sys_admin() || setresgid(4242, 4242, 4242) ||
		    setresuid(4242, 4242, 4242))
			_exit(2);
		fd2 = mmsb_open();
		if (fd2 < 0)
			_exit(3);
		if (create(fd2, 64, &own))
			_exit(5);
		d = base;
		d.page_id = ro_page;
		parity(_metadata, fd2, own, &d, -EACCES, "read-only page");
		_exit(_metadata->exit_code ? 4 : 0);
	}
	EXPECT_EQ(0, wait_child(pid));
}

/* ------------------------------------------------------------------ */

/*
 * A change stream opened while writers make SYNC single-delta calls:
 * every delta whose call began after the open returned has its DELTA
 * record (its id, epoch and bytes), none whose call ended before the
 * open began has one, and no record names a delta nobody made.
 */
#define SO_WRITERS	3
#define SO_MAX		150000
#define SO_MS		1200

struct so_log {
	__u64 id, epoch, val;
	unsigned char p0, p1;	/* the phase at the call's start and end */
};

struct so_shared {
	int fd;
	__u64 page;
	volatile int phase;	/* 0 before the open, 1 during, 2 after */
	volatile int stop;
};

struct so_ctx {
	struct so_shared *sh;
	int w;
	struct so_log *log;
	int n, err;
};

static void *so_writer(void *arg)
{
	struct so_ctx *c = arg;
	struct mmsb_delta d;
	__u64 v;
	int ret;

	while (!c->sh->stop && c->n < SO_MAX) {
		struct so_log *l = &c->log[c->n];

		v = ((__u64)c->w << 56) | (c->n + 1);
		mmsb_delta_dense(&d, c->sh->page, 8 * c->w, &v, 8);
		l->p0 = c->sh->phase;
		__sync_synchronize();
		ret = mmsb_submit(c->sh->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
		__sync_synchronize();
		l->p1 = c->sh->phase;
		if (ret || d.status) {
			c->err = ret ? ret : d.status;
			break;
		}
		l->id = d.delta_id;
		l->epoch = d.epoch;
		l->val = v;
		c->n++;
	}
	return NULL;
}

static int so_cmp(const void *a, const void *b)
{
	const struct so_log *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

TEST_F(sync_one, stream_open_race)
{
	struct so_shared sh = { .fd = self->fd, .page = self->page };
	struct so_ctx c[SO_WRITERS];
	pthread_t th[SO_WRITERS];
	struct so_log *all, key, *hit;
	const struct mmsb_stream_record *rec;
	unsigned char *rbuf;
	size_t rsize = MMSB_STREAM_BUFFER_MAX, off = 0;
	ssize_t n = 0, r;
	int s, w, i, total = 0, recs = 0, bad = 0, must = 0, ret;
	__u64 start_tick;

	rbuf = malloc(rsize);
	all = calloc(SO_WRITERS * SO_MAX, sizeof(*all));
	ASSERT_NE(NULL, rbuf);
	ASSERT_NE(NULL, all);
	for (w = 0; w < SO_WRITERS; w++) {
		c[w] = (struct so_ctx){ .sh = &sh, .w = w };
		c[w].log = all + w * SO_MAX;
		ASSERT_EQ(0, pthread_create(&th[w], NULL, so_writer, &c[w]));
	}
	usleep(SO_MS * 1000 / 4);
	sh.phase = 1;
	__sync_synchronize();
	s = mmsb_stream_open(self->fd, MMSB_STREAM_ALL, NULL, 0, rsize,
			     &start_tick);
	__sync_synchronize();
	sh.phase = 2;
	usleep(SO_MS * 1000 / 2);
	sh.stop = 1;
	for (w = 0; w < SO_WRITERS; w++)
		pthread_join(th[w], NULL);
	ASSERT_LE(0, s);
	for (w = 0; w < SO_WRITERS; w++) {
		EXPECT_EQ(0, c[w].err);
		/* Compact the logs into one array, sorted by id. */
		memmove(all + total, c[w].log, c[w].n * sizeof(*all));
		total += c[w].n;
	}
	qsort(all, total, sizeof(*all), so_cmp);
	ASSERT_EQ(0, mmsb_flush(self->fd));
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	while ((r = read(s, rbuf + n, rsize - n)) > 0)
		n += r;
	while ((ret = mmsb_stream_next(rbuf, n, &off, &rec)) == 1) {
		ASSERT_NE(MMSB_REC_OVERFLOW, rec->type);
		if (rec->type != MMSB_REC_DELTA)
			continue;
		EXPECT_LT(start_tick, rec->tick);
		key.id = rec->delta_id;
		hit = bsearch(&key, all, total, sizeof(*all), so_cmp);
		if (!hit) {
			if (!bad++)
				TH_LOG("record of unknown delta %llu",
				       (unsigned long long)rec->delta_id);
			continue;
		}
		recs++;
		if (hit->p1 == 0 && !bad++)
			TH_LOG("delta %llu ended before the open has a record",
			       (unsigned long long)hit->id);
		if ((hit->epoch != rec->epoch || rec->len != 8 ||
		     memcmp(rec + 1, &hit->val, 8)) && !bad++)
			TH_LOG("delta %llu: epoch %llu, record %llu",
			       (unsigned long long)hit->id,
			       (unsigned long long)hit->epoch,
			       (unsigned long long)rec->epoch);
		hit->p0 |= 0x80;	/* seen */
	}
	EXPECT_EQ(0, ret);
	for (i = 0; i < total; i++) {
		if ((all[i].p0 & 0x7f) != 2)
			continue;
		must++;
		if (!(all[i].p0 & 0x80) && !bad++)
			TH_LOG("delta %llu (epoch %llu) after the open: no record",
			       (unsigned long long)all[i].id,
			       (unsigned long long)all[i].epoch);
	}
	EXPECT_EQ(0, bad);
	EXPECT_LT(0, must);
	TH_LOG("%d deltas, %d after the open, %d records", total, must, recs);
	close(s);
	free(all);
	free(rbuf);
}

/* ------------------------------------------------------------------ */

/*
 * Passthrough edges out of page A added one by one while writers (each
 * with a file of its own) make SYNC single-delta calls on A: when a call
 * returns, every dependent whose edge was added before the call began
 * shows the call's bytes (propagated before the return), and its epoch
 * moved; the edge's own tick may differ.
 */
#define ER_WRITERS	2
#define ER_EDGES	24

struct er_shared {
	__u64 a, b[ER_EDGES];
	const struct mmsb_page_header *hb[ER_EDGES];
	volatile int added;	/* edges whose add returned */
	volatile int stop;
	volatile int bad;
	volatile __u64 bad_info[4];
};

struct er_ctx {
	struct er_shared *sh;
	int w;
};

static void *er_writer(void *arg)
{
	struct er_ctx *c = arg;
	struct er_shared *sh = c->sh;
	struct mmsb_delta d;
	__u64 v, got, e, k = 0;
	int fd = mmsb_open(), p, j, ret;

	if (fd < 0) {
		sh->bad = 1;
		return NULL;
	}
	while (!sh->stop && !sh->bad) {
		v = ((__u64)(c->w + 1) << 56) | ++k;
		mmsb_delta_dense(&d, sh->a, 8 * c->w, &v, 8);
		p = sh->added;
		__sync_synchronize();
		ret = mmsb_submit(fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
		if (ret || d.status) {
			sh->bad = 2;
			sh->bad_info[0] = ret ? ret : d.status;
			break;
		}
		/* Only this writer writes its 8 bytes: they are v. */
		for (j = 0; j < p; j++) {
			if (mmsb_page_read(sh->hb[j], 8 * c->w, &got, 8, &e))
				continue;
			if (got != v &&
			    __sync_bool_compare_and_swap(&sh->bad, 0, 3)) {
				sh->bad_info[0] = j;
				sh->bad_info[1] = v;
				sh->bad_info[2] = got;
				sh->bad_info[3] = p;
			}
		}
	}
	close(fd);
	return NULL;
}

TEST_F(sync_one, edge_race)
{
	struct er_shared sh = { .a = self->page };
	struct er_ctx c[ER_WRITERS];
	pthread_t th[ER_WRITERS];
	int w, j;

	for (j = 0; j < ER_EDGES; j++) {
		ASSERT_EQ(0, create(self->fd, 64, &sh.b[j]));
		ASSERT_EQ(0, mmsb_page_map(self->fd, sh.b[j], &sh.hb[j]));
	}
	for (w = 0; w < ER_WRITERS; w++) {
		c[w] = (struct er_ctx){ .sh = &sh, .w = w };
		ASSERT_EQ(0, pthread_create(&th[w], NULL, er_writer, &c[w]));
	}
	for (j = 0; j < ER_EDGES && !sh.bad; j++) {
		usleep(20000);
		ASSERT_EQ(0, mmsb_edge_add(self->fd, sh.a, sh.b[j],
					   MMSB_EDGE_PASSTHROUGH));
		__sync_synchronize();
		sh.added = j + 1;
	}
	usleep(50000);
	sh.stop = 1;
	for (w = 0; w < ER_WRITERS; w++)
		pthread_join(th[w], NULL);
	EXPECT_EQ(0, sh.bad) {
		TH_LOG("bad %d: edge %llu wanted %#llx got %#llx (%llu added)",
		       sh.bad, (unsigned long long)sh.bad_info[0],
		       (unsigned long long)sh.bad_info[1],
		       (unsigned long long)sh.bad_info[2],
		       (unsigned long long)sh.bad_info[3]);
	}
	for (j = 0; j < ER_EDGES; j++)
		mmsb_page_unmap(sh.hb[j]);
}

/* ------------------------------------------------------------------ */

/*
 * One page written three ways at once: SQEs of a mapped queue (with a
 * poller or not) write an increasing counter to slot 0, in SQ order; a
 * thread's SYNC single deltas another to slot 1; a third thread calls
 * GETEVENTS meanwhile.  A reader never sees a slot go back; a CQE's
 * epoch and counter are visible when it is reaped; a SYNC return shows
 * its own counter; both slots end at their last values.
 */
#define MQ_MS		1500

struct mq_shared {
	struct mmsb_sq_handle *q;
	struct om_shared *om;
	volatile int stop;
};

static void *mq_sync(void *arg)
{
	struct mq_shared *sh = arg;
	struct om_shared *om = sh->om;
	struct mmsb_delta d;
	__u64 k = 0, got, e;
	int ret;

	while (!sh->stop && !om->bad) {
		++k;
		mmsb_delta_dense(&d, om->page, 8, &k, 8);
		ret = mmsb_submit(om->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
		if (ret || d.status) {
			om_fail(om, 30, ret, d.status, 0);
			break;
		}
		if (mmsb_page_read(om->hdr, 8, &got, 8, &e) || got != k ||
		    e < d.epoch)
			om_fail(om, 31, k, got, e);
	}
	om->bad_info[3] = k;
	return NULL;
}

static void *mq_getevents(void *arg)
{
	struct mq_shared *sh = arg;

	while (!sh->stop)
		mmsb_sq_enter(sh->q, MMSB_SQ_ENTER_GETEVENTS, 1, 200000);
	return NULL;
}

static void mq_run(struct __test_metadata *_metadata, int fd, __u64 page,
		   const struct mmsb_page_header *hdr, __u32 flags)
{
	struct om_shared om = { .fd = fd, .page = page, .hdr = hdr };
	struct mq_shared sh = { .om = &om };
	struct mmsb_sq_handle q;
	struct mmsb_cqe cqe;
	pthread_t rd, sy, ge;
	__u64 k = 0, reaped = 0, want = 1, buf[8], e, end;
	int j;

	ASSERT_EQ(0, mmsb_sq_setup(fd, 64, 64 * 64, flags, 0, &q));
	sh.q = &q;
	ASSERT_EQ(0, pthread_create(&rd, NULL, om_reader, &om));
	ASSERT_EQ(0, pthread_create(&sy, NULL, mq_sync, &sh));
	ASSERT_EQ(0, pthread_create(&ge, NULL, mq_getevents, &sh));
	end = mono_ms() + MQ_MS;
	while (mono_ms() < end && !om.bad) {
		for (j = 0; j < 16; j++) {
			struct mmsb_sqe *s = mmsb_sq_get_sqe(&q);

			if (!s)
				break;
			++k;
			mmsb_sq_prep_dense(&q, s, page, 0, &k, 8, k);
		}
		mmsb_sq_submit(&q);
		while (!sq_reap(&q, &cqe)) {
			reaped++;
			/* SQ order: the CQEs come in it, all applied. */
			if (cqe.status || cqe.user_data != want++)
				om_fail(&om, 40, cqe.user_data, cqe.status,
					want - 1);
			if (mmsb_page_read(hdr, 0, buf, 8, &e) ||
			    buf[0] < cqe.user_data || e < cqe.epoch)
				om_fail(&om, 41, cqe.user_data, buf[0], e);
		}
	}
	while (reaped < k && !om.bad) {
		if (sq_reap_spin(&q, &cqe))
			break;
		reaped++;
		if (cqe.status || cqe.user_data != want++)
			om_fail(&om, 42, cqe.user_data, cqe.status, 0);
	}
	sh.stop = 1;
	pthread_join(sy, NULL);
	pthread_join(ge, NULL);
	om.stop = 1;
	pthread_join(rd, NULL);
	EXPECT_EQ(0, om.bad) {
		TH_LOG("failure %d: %llu %llu %llu", om.bad,
		       (unsigned long long)om.bad_info[0],
		       (unsigned long long)om.bad_info[1],
		       (unsigned long long)om.bad_info[2]);
	}
	EXPECT_EQ(k, reaped);
	ASSERT_EQ(0, mmsb_page_read(hdr, 0, buf, 16, &e));
	EXPECT_EQ(k, buf[0]);
	EXPECT_EQ(om.bad_info[3], buf[1]);
	TH_LOG("%llu SQEs, %llu SYNC calls", (unsigned long long)k,
	       (unsigned long long)om.bad_info[3]);
	EXPECT_EQ(0, mmsb_sq_unmap(&q));
}

TEST_F(sync_one, sq_and_sync)
{
	mq_run(_metadata, self->fd, self->page, self->hdr, 0);
}

TEST_F(sync_one, sq_and_sync_poll)
{
	mq_run(_metadata, self->fd, self->page, self->hdr, MMSB_SQ_POLL);
}

TEST_HARNESS_MAIN
