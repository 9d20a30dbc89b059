// SPDX-License-Identifier: GPL-2.0
/*
 * The mapped queue's in-place path (kmod/sq.c mmsb_sq_apply_round(),
 * kmod/tick.c mmsb_tick_sq_apply()) under a hostile user: what runs
 * beside the SQEs a tick applies straight from the arena.
 *
 * sq_in_place.edge_then_sqe_propagates: an edge added before an SQE is
 * published carries the SQE's bytes to the dependent by its CQE, while
 * another queue keeps the ticks busy in place (timer and poller).
 * sq_in_place.churn: pages freed and created by another thread while
 * SQEs aimed at them are applied; each CQE 0, -ENOENT or -EIDRM, and
 * the memory comes back (timer and poller).
 * sq_in_place.two_queues_one_epoch: two files' queues expect one epoch
 * of one page: exactly one wins, the page has its bytes.
 * sq_in_place.mixed_with_ioctl: DENSE, MASKED and SPARSE SQEs and ioctl
 * submissions accepted before them, against a model.
 * sq_in_place.stream_sees_every_delta: a change stream opened and
 * closed while SQEs flow: each SQE applied while it was open is a DELTA
 * record with its bytes.
 * sq_in_place.big_copies_do_not_hold_the_tick: 4096 SQEs of 1 MiB on
 * one queue must not hold back another queue's SQE for all of them.
 * sq_in_place.cas_after_cqe: an SQE expecting the epoch a CQE just
 * reported (and the header shows) applies, with nothing else writing.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "kselftest_harness.h"
#include "pages.h"

#define PSIZE	4096

static int sq_open(int fd, __u32 entries, __u32 flags,
		   struct mmsb_sq_handle *q)
{
	return mmsb_sq_setup(fd, entries, entries * 256ULL, flags,
			     flags & MMSB_SQ_POLL ? 1000 : 0, q);
}

/*
 * A queue that keeps the ticks busy applying in place: DENSE SQEs on
 * its own page, as many as the SQ takes, reaped as they come; a CQE
 * other than 0 is counted in @bad.
 */
struct noise {
	int fd;
	__u64 page;
	struct mmsb_sq_handle q;
	pthread_t thread;
	volatile int stop;
	__u64 done, bad;
	int last_bad;
	__u32 len;
};

static void *noise_fn(void *arg)
{
	struct noise *n = arg;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	__u32 k = 0;

	while (!n->stop) {
		while ((s = mmsb_sq_get_sqe(&n->q))) {
			/* All from the arena's start, which holds 0x77s. */
			s->page_id = n->page;
			s->offset = n->len < PSIZE ? (k * n->len) % PSIZE : 0;
			s->len = n->len;
			s->payload_len = n->len;
			s->user_data = k++;
		}
		mmsb_sq_submit(&n->q);
		while (!sq_reap(&n->q, &cqe)) {
			n->done++;
			if (cqe.status) {
				n->bad++;
				n->last_bad = cqe.status;
			}
		}
		usleep(50);
	}
	return NULL;
}

/*
 * @entries SQEs of @len bytes each (a power of two): with large ones a
 * tick spends long applying them in place.
 */
static int noise_start(struct noise *n, __u32 flags, __u32 entries,
		       __u32 len)
{
	struct mmsb_page_create pc;
	__u64 arena = entries * 256ULL;
	int ret;

	memset(n, 0, sizeof(*n));
	n->len = len;
	n->fd = mmsb_open();
	if (n->fd < 0)
		return -errno;
	ret = mmsb_page_create(n->fd, len < PSIZE ? PSIZE : len, 0600, 0,
			       &pc);
	if (ret)
		return ret;
	n->page = pc.id;
	ret = mmsb_sq_setup(n->fd, entries, arena < len ? len : arena, flags,
			    flags & MMSB_SQ_POLL ? 1000 : 0, &n->q);
	if (ret)
		return ret;
	memset(n->q.arena, 0x77, len);
	return -pthread_create(&n->thread, NULL, noise_fn, n);
}

static void noise_stop(struct noise *n)
{
	struct mmsb_cqe cqe;
	int i;

	n->stop = 1;
	pthread_join(n->thread, NULL);
	/* What is left in flight comes back within 10 s. */
	for (i = 0; i < 10000 && n->q.ring->cq_tail != n->q.tail; i++)
		usleep(1000);
	while (!sq_reap(&n->q, &cqe)) {
		n->done++;
		if (cqe.status) {
			n->bad++;
			n->last_bad = cqe.status;
		}
	}
	mmsb_sq_unmap(&n->q);
	mmsb_page_free(n->fd, n->page);
	close(n->fd);
}

FIXTURE(sq_in_place) {
	int fd;
	__u64 base;
	struct mmsb_sq_handle q;
	bool mapped;
};

FIXTURE_VARIANT(sq_in_place) {
	__u32 flags;
};

FIXTURE_VARIANT_ADD(sq_in_place, timer) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(sq_in_place, poller) {
	.flags = MMSB_SQ_POLL,
};

FIXTURE_SETUP(sq_in_place)
{
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	self->mapped = false;
	self->base = delta_bytes(self->fd);
}

FIXTURE_TEARDOWN(sq_in_place)
{
	if (self->mapped)
		mmsb_sq_unmap(&self->q);
	free_all(self->fd);
	close(self->fd);
}

/*
 * EDGE_ADD returned before the SQE was published: its delta is one the
 * tick must propagate, so the dependent holds its bytes when the CQE
 * comes (sq.edge_propagates, with a tick already applying another
 * queue's SQEs in place when the edge goes in).
 */
TEST_F(sq_in_place, edge_then_sqe_propagates)
{
	unsigned char b[64], got[64];
	const struct mmsb_page_header *hb;
	struct mmsb_page_create pc;
	__u64 a, dep, end, iters = 0, misses = 0;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	struct noise n;
	__u32 seed = 99;
	int i;

	ASSERT_EQ(0, noise_start(&n, variant->flags, 256, 16384));
	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0600, 0, &pc));
	a = pc.id;
	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0600, 0, &pc));
	dep = pc.id;
	ASSERT_EQ(0, mmsb_page_map(self->fd, dep, &hb));
	/* Set up after the noise: the tick walks it after the noise's. */
	ASSERT_EQ(0, sq_open(self->fd, 8, 0, &self->q));
	self->mapped = true;

	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		iters++;
		for (i = 0; i < 64; i++)
			b[i] = iters * 7 + i;
		/* Anywhere in the noise's ticks, not just after one. */
		usleep(xorshift32(&seed) % 1500);
		ASSERT_EQ(0, mmsb_edge_add(self->fd, a, dep,
					   MMSB_EDGE_PASSTHROUGH));
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, s);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, a, 128, b, 64,
						iters));
		ASSERT_EQ(1, mmsb_sq_submit(&self->q));
		ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
		ASSERT_EQ(iters, cqe.user_data);
		ASSERT_EQ(0, cqe.status);
		ASSERT_EQ(0, mmsb_page_read(hb, 128, got, 64, NULL));
		if (memcmp(b, got, 64)) {
			if (!misses)
				TH_LOG("iteration %llu: dependent lacks the bytes of delta %llu (epoch %llu)",
				       (unsigned long long)iters,
				       (unsigned long long)cqe.delta_id,
				       (unsigned long long)cqe.epoch);
			misses++;
		}
		ASSERT_EQ(0, mmsb_edge_del(self->fd, a, dep,
					   MMSB_EDGE_PASSTHROUGH));
	}
	noise_stop(&n);
	TH_LOG("%llu iterations, %llu noise SQEs", (unsigned long long)iters,
	       (unsigned long long)n.done);
	EXPECT_EQ(0, misses) TH_LOG("%llu of %llu CQEs before propagation",
				     (unsigned long long)misses,
				     (unsigned long long)iters);
	EXPECT_EQ(0, n.bad) TH_LOG("noise status %d", n.last_bad);
	mmsb_page_unmap(hb);
}

/*
 * Pages created and freed (some mapped, so freed with a reference left)
 * by another thread while SQEs aimed at them, or at ids just gone or
 * not there yet, are applied in place: each CQE is 0, -ENOENT or
 * -EIDRM, and everything comes back.
 */
#define CHURN_LIVE	8

struct churn {
	int fd;
	volatile __u64 ids[CHURN_LIVE];
	volatile __u64 last;
	volatile int stop;
	int err;
	__u64 created;
};

static void *churn_fn(void *arg)
{
	const struct mmsb_page_header *hdr[CHURN_LIVE] = { 0 };
	struct churn *c = arg;
	struct mmsb_page_create pc;
	__u32 k = 0, slot;
	int ret;

	while (!c->stop) {
		slot = k++ % CHURN_LIVE;
		if (c->ids[slot]) {
			ret = mmsb_page_free(c->fd, c->ids[slot]);
			if (ret && !c->err)
				c->err = ret;
			if (hdr[slot])
				mmsb_page_unmap(hdr[slot]);
			hdr[slot] = NULL;
		}
		/* Sizes vary, so a freed page's memory is not reused as is. */
		ret = mmsb_page_create(c->fd, 256 << (k % 5), 0600, 0, &pc);
		if (ret) {
			if (!c->err)
				c->err = ret;
			break;
		}
		c->created++;
		if (k & 1)
			mmsb_page_map(c->fd, pc.id, &hdr[slot]);
		c->ids[slot] = pc.id;
		c->last = pc.id;
		if (!(k & 15))
			usleep(100);
	}
	for (slot = 0; slot < CHURN_LIVE; slot++)
		if (hdr[slot])
			mmsb_page_unmap(hdr[slot]);
	return NULL;
}

TEST_F(sq_in_place, churn)
{
	__u64 end, base, applied = 0, enoent = 0, eidrm = 0, sent = 0;
	__u64 got_cqes = 0;
	unsigned char b[64];
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	struct churn c = { 0 };
	pthread_t th;
	__u32 seed = 12345, r;
	int other = 0, i;

	ASSERT_EQ(0, sq_open(self->fd, 256, variant->flags, &self->q));
	self->mapped = true;
	base = delta_bytes(self->fd);
	c.fd = self->fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, churn_fn, &c));
	while (!c.last)
		usleep(100);

	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		for (i = 0; i < 64 && (s = mmsb_sq_get_sqe(&self->q)); i++) {
			__u64 id;

			r = xorshift32(&seed);
			switch (r % 4) {
			case 0:
				id = c.last + 1 + (r >> 8) % 2;
				break;
			case 1:
				id = c.last - (r >> 8) % (2 * CHURN_LIVE);
				break;
			default:
				id = c.ids[(r >> 8) % CHURN_LIVE];
				break;
			}
			memset(b, r >> 16, sizeof(b));
			/* Within the smallest size: only the page decides. */
			mmsb_sq_prep_dense(&self->q, s, id, (r >> 3) % 192,
					   b, 64, sent++);
		}
		mmsb_sq_submit(&self->q);
		while (!sq_reap(&self->q, &cqe)) {
			got_cqes++;
			if (!cqe.status)
				applied++;
			else if (cqe.status == -ENOENT)
				enoent++;
			else if (cqe.status == -EIDRM)
				eidrm++;
			else if (!other++)
				TH_LOG("CQE %llu: status %d",
				       (unsigned long long)cqe.user_data,
				       cqe.status);
		}
		usleep(200);
	}
	c.stop = 1;
	pthread_join(th, NULL);
	for (i = 0; i < 10000 && got_cqes < sent; i++) {
		if (sq_reap(&self->q, &cqe)) {
			usleep(1000);
			continue;
		}
		got_cqes++;
		if (!cqe.status)
			applied++;
		else if (cqe.status == -ENOENT)
			enoent++;
		else if (cqe.status == -EIDRM)
			eidrm++;
		else if (!other++)
			TH_LOG("CQE %llu: status %d",
			       (unsigned long long)cqe.user_data, cqe.status);
	}
	TH_LOG("%llu SQEs: %llu applied, %llu -ENOENT, %llu -EIDRM; %llu pages",
	       (unsigned long long)sent, (unsigned long long)applied,
	       (unsigned long long)enoent, (unsigned long long)eidrm,
	       (unsigned long long)c.created);
	EXPECT_EQ(0, c.err);
	EXPECT_EQ(sent, got_cqes);
	EXPECT_EQ(0, other);
	EXPECT_LT(0, applied);
	EXPECT_LT(0, enoent);
	free_all(self->fd);
	EXPECT_HELD(self->fd, 0, 0);
	EXPECT_EQ(base, delta_bytes_settle(self->fd, base));
	/* The queue's own memory goes with its file. */
	mmsb_sq_unmap(&self->q);
	self->mapped = false;
	close(self->fd);
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(self->base, delta_bytes_settle(self->fd, self->base));
}

/*
 * Two files' queues each expect the page's epoch, published together:
 * whatever tick (or ticks) takes them, exactly one is applied, the
 * other is -ESTALE, and the page moved one epoch with the winner's
 * bytes.
 */
TEST_F(sq_in_place, two_queues_one_epoch)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_sq_handle q2;
	struct mmsb_page_create pc;
	struct mmsb_cqe c1, c2;
	unsigned char b1[8], b2[8], got[8];
	__u64 epoch, now, firsts = 0;
	struct mmsb_sqe *s;
	int fd2, iter;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &hdr));
	fd2 = mmsb_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, sq_open(self->fd, 8, variant->flags, &self->q));
	self->mapped = true;
	ASSERT_EQ(0, sq_open(fd2, 8, variant->flags, &q2));
	memset(b1, 0xee, sizeof(b1));
	s = mmsb_sq_get_sqe(&self->q);
	ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, pc.id, 0, b1, 8, 0));
	ASSERT_EQ(1, mmsb_sq_submit(&self->q));
	ASSERT_EQ(0, sq_reap_spin(&self->q, &c1));
	ASSERT_EQ(0, c1.status);

	for (iter = 0; iter < 300; iter++) {
		ASSERT_EQ(0, mmsb_page_read(hdr, 0, got, 8, &epoch));
		memset(b1, 2 * iter + 1, sizeof(b1));
		memset(b2, 2 * iter + 2, sizeof(b2));
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, pc.id, 0, b1, 8,
						1));
		s->expected_epoch = epoch;
		s = mmsb_sq_get_sqe(&q2);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&q2, s, pc.id, 0, b2, 8, 2));
		s->expected_epoch = epoch;
		if (iter & 1) {
			ASSERT_EQ(1, mmsb_sq_submit(&q2));
			ASSERT_EQ(1, mmsb_sq_submit(&self->q));
		} else {
			ASSERT_EQ(1, mmsb_sq_submit(&self->q));
			ASSERT_EQ(1, mmsb_sq_submit(&q2));
		}
		ASSERT_EQ(0, sq_reap_spin(&self->q, &c1));
		ASSERT_EQ(0, sq_reap_spin(&q2, &c2));
		ASSERT_EQ(1, c1.user_data);
		ASSERT_EQ(2, c2.user_data);
		ASSERT_EQ(0, mmsb_page_read(hdr, 0, got, 8, &now));
		ASSERT_TRUE((!c1.status && c2.status == -ESTALE) ||
			    (!c2.status && c1.status == -ESTALE))
			TH_LOG("iteration %d: expected epoch %llu, now %llu; statuses %d and %d, ids %llu and %llu, epochs %llu and %llu, last id %llu",
			       iter, (unsigned long long)epoch,
			       (unsigned long long)now, c1.status, c2.status,
			       (unsigned long long)c1.delta_id,
			       (unsigned long long)c2.delta_id,
			       (unsigned long long)c1.epoch,
			       (unsigned long long)c2.epoch,
			       (unsigned long long)hdr->last_delta_id);
		ASSERT_EQ(epoch + 1, now) TH_LOG("iteration %d", iter);
		if (!c1.status) {
			firsts++;
			ASSERT_EQ(epoch + 1, c1.epoch);
			ASSERT_EQ(0, memcmp(b1, got, 8)) TH_LOG("iter %d", iter);
		} else {
			ASSERT_EQ(epoch + 1, c2.epoch);
			ASSERT_EQ(0, memcmp(b2, got, 8)) TH_LOG("iter %d", iter);
		}
	}
	TH_LOG("the first file won %llu of 300", (unsigned long long)firsts);
	mmsb_sq_unmap(&q2);
	close(fd2);
	mmsb_page_unmap(hdr);
}

/*
 * Per round: ioctl submissions (some SYNC), then SQEs of each encoding
 * at random overlapping windows, then more ioctl ones only once the
 * CQEs came: the page ends as the model applying them in that order.
 */
TEST_F(sq_in_place, mixed_with_ioctl)
{
	static unsigned char model[PSIZE], data[PSIZE];
	unsigned char pay[16][64], msk[16][8], ipay[4][64];
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	struct mmsb_delta d, id[4];
	struct mmsb_cqe cqe;
	__u32 seed = 777, r, off;
	int round, i, k, nsq, nio;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &hdr));
	ASSERT_EQ(0, sq_open(self->fd, 16, variant->flags, &self->q));
	self->mapped = true;
	memset(model, 0, sizeof(model));

	for (round = 0; round < 300; round++) {
		nio = xorshift32(&seed) % 4;
		for (i = 0; i < nio; i++) {
			r = xorshift32(&seed);
			for (k = 0; k < 64; k++)
				ipay[i][k] = r + k;
			mmsb_delta_dense(&id[i], pc.id, r % 512, ipay[i], 64);
			delta_model_apply(model, &id[i]);
		}
		if (nio)
			ASSERT_EQ(0, mmsb_submit(self->fd, id, nio,
						 round % 3 ? 0 : MMSB_SUBMIT_SYNC,
						 NULL));
		nsq = 1 + xorshift32(&seed) % 16;
		for (i = 0; i < nsq; i++) {
			struct mmsb_sqe *s = mmsb_sq_get_sqe(&self->q);
			unsigned char *a;
			__u32 enc;

			ASSERT_NE(NULL, s);
			r = xorshift32(&seed);
			/* DENSE half the time: the in-place path's. */
			enc = r % 4 < 2 ? MMSB_DELTA_DENSE : r % 4 - 1;
			a = mmsb_sq_arena(&self->q, s, &off);
			for (k = 0; k < 64; k++)
				pay[i][k] = (r >> 8) + 3 * k + i;
			for (k = 0; k < 8; k++)
				msk[i][k] = (r >> 4) ^ (k * 0x35);
			memset(&d, 0, sizeof(d));
			d.page_id = pc.id;
			d.offset = (r >> 12) % 512;
			d.len = 64;
			d.encoding = enc;
			d.payload = (__u64)(uintptr_t)pay[i];
			d.mask = enc ? (__u64)(uintptr_t)msk[i] : 0;
			d.payload_len = 64;
			if (enc == MMSB_DELTA_SPARSE) {
				d.payload_len = 0;
				for (k = 0; k < 64; k++)
					d.payload_len +=
						!!(msk[i][k / 8] & (1 << (k % 8)));
			}
			memcpy(a, pay[i], d.payload_len);
			memcpy(a + 64, msk[i], 8);
			s->page_id = pc.id;
			s->offset = d.offset;
			s->len = 64;
			s->encoding = enc;
			s->payload_off = off;
			s->payload_len = d.payload_len;
			s->mask_off = enc ? off + 64 : 0;
			s->user_data = round * 100 + i;
			delta_model_apply(model, &d);
		}
		ASSERT_EQ(nsq, mmsb_sq_submit(&self->q));
		for (i = 0; i < nsq; i++) {
			ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
			ASSERT_EQ(round * 100 + i, cqe.user_data);
			ASSERT_EQ(0, cqe.status) TH_LOG("round %d", round);
		}
		ASSERT_EQ(0, mmsb_page_read(hdr, 0, data, PSIZE, NULL));
		ASSERT_EQ(0, memcmp(model, data, PSIZE))
			TH_LOG("round %d (%d ioctl, %d SQEs)", round, nio, nsq);
	}
	mmsb_page_unmap(hdr);
}

/*
 * A change stream of the queue's page opened and closed again and again
 * while another queue's SQEs flow (in place while no stream is open):
 * each SQE published while the stream is open is a DELTA record with
 * its id, window and bytes, in a tick after the one the open reported,
 * before the stream is closed.
 */
TEST_F(sq_in_place, stream_sees_every_delta)
{
	static unsigned char buf[1 << 20];
	const struct mmsb_stream_record *rec;
	struct mmsb_page_create pc;
	unsigned char b[8][48];
	__u64 ids[8], tick, end, iters = 0;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	struct noise n;
	size_t off, len;
	ssize_t r;
	int sfd, i, k, found;

	ASSERT_EQ(0, noise_start(&n, variant->flags, 64, 64));
	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0600, 0, &pc));
	ASSERT_EQ(0, sq_open(self->fd, 8, 0, &self->q));
	self->mapped = true;

	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		iters++;
		sfd = mmsb_stream_open(self->fd, 0, &pc.id, 1, 1 << 20, &tick);
		ASSERT_LE(0, sfd);
		for (i = 0; i < 8; i++) {
			for (k = 0; k < 48; k++)
				b[i][k] = iters * 13 + i * 5 + k;
			s = mmsb_sq_get_sqe(&self->q);
			ASSERT_NE(NULL, s);
			ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, pc.id,
							i * 100 + iters % 50,
							b[i], 48, i));
		}
		ASSERT_EQ(8, mmsb_sq_submit(&self->q));
		for (i = 0; i < 8; i++) {
			ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
			ASSERT_EQ(i, cqe.user_data);
			ASSERT_EQ(0, cqe.status);
			ids[i] = cqe.delta_id;
		}
		fcntl(sfd, F_SETFL, fcntl(sfd, F_GETFL) | O_NONBLOCK);
		len = 0;
		while (len < sizeof(buf)) {
			r = read(sfd, buf + len, sizeof(buf) - len);
			if (r <= 0)
				break;
			len += r;
		}
		for (i = 0; i < 8; i++) {
			found = 0;
			for (off = 0; off + sizeof(*rec) <= len;
			     off += rec->size) {
				rec = (const void *)(buf + off);
				ASSERT_NE(MMSB_REC_OVERFLOW, rec->type);
				ASSERT_LT(0, rec->size);
				if (rec->type != MMSB_REC_DELTA ||
				    rec->delta_id != ids[i])
					continue;
				found++;
				EXPECT_EQ(pc.id, rec->page_id);
				EXPECT_LT(tick, rec->tick);
				EXPECT_EQ(i * 100 + iters % 50, rec->offset);
				EXPECT_EQ(48, rec->len);
				EXPECT_EQ(0, memcmp(b[i], rec + 1, 48));
			}
			ASSERT_EQ(1, found)
				TH_LOG("iteration %llu: delta %llu (SQE %d) in %d records of %zu bytes",
				       (unsigned long long)iters,
				       (unsigned long long)ids[i], i, found,
				       len);
		}
		close(sfd);
		/* Some SQEs with no stream, in place. */
		for (i = 0; i < 4; i++) {
			s = mmsb_sq_get_sqe(&self->q);
			ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, pc.id, 0,
							b[i], 48, 9));
		}
		ASSERT_EQ(4, mmsb_sq_submit(&self->q));
		for (i = 0; i < 4; i++) {
			ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
			ASSERT_EQ(0, cqe.status);
		}
	}
	noise_stop(&n);
	TH_LOG("%llu streams, %llu noise SQEs", (unsigned long long)iters,
	       (unsigned long long)n.done);
	EXPECT_EQ(0, n.bad) TH_LOG("noise status %d", n.last_bad);
}

/*
 * One queue's SQEs are each a whole 1 MiB page, all from one arena
 * range: the tick copies them in place, page after page.  Another
 * file's queue, walked next, meanwhile must not wait for all of them
 * (the ioctl path's ticks stop after their budget, and what a tick
 * holds is bounded by the memory limit).  BIG_SQES of them are 4 GiB
 * to copy.  (A SYNC ioctl prober queues deltas, which sends the big
 * SQEs through the tick's queue at times: that run OOMs the guest.)
 */
#define BIG		(1U << 20)
#define BIG_SQES	4096

struct prober {
	int fd;
	__u64 page;
	struct mmsb_sq_handle q;
	volatile int stop;
	__u64 max_ms, n;
	int err;
};

static void *prober_fn(void *arg)
{
	struct prober *p = arg;
	unsigned char b = 1;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	__u64 t0, dt;
	int ret;

	while (!p->stop) {
		s = mmsb_sq_get_sqe(&p->q);
		if (!s) {
			p->err = -ENOSPC;
			break;
		}
		mmsb_sq_prep_dense(&p->q, s, p->page, 0, &b, 1, b);
		t0 = mono_ms();
		mmsb_sq_submit(&p->q);
		ret = sq_reap_spin(&p->q, &cqe);
		dt = mono_ms() - t0;
		if ((ret || cqe.status) && !p->err)
			p->err = ret ? ret : cqe.status;
		if (dt > p->max_ms)
			p->max_ms = dt;
		p->n++;
		b++;
		usleep(10000);
	}
	return NULL;
}

static void big_copies(struct __test_metadata *_metadata,
		       FIXTURE_DATA(sq_in_place) *self, __u32 flags)
{
	struct mmsb_page_create pc;
	struct prober p = { 0 };
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	__u64 t0, all_ms, big;
	pthread_t th;
	void *a;
	int i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, BIG, 0600, 0, &pc));
	big = pc.id;
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, BIG_SQES, BIG, flags,
				   flags & MMSB_SQ_POLL ? 1000 : 0,
				   &self->q));
	self->mapped = true;
	p.fd = mmsb_open();
	ASSERT_LE(0, p.fd);
	ASSERT_EQ(0, mmsb_page_create(p.fd, 64, 0600, 0, &pc));
	p.page = pc.id;
	/* Set up after the big queue: the tick walks it next. */
	ASSERT_EQ(0, sq_open(p.fd, 8, 0, &p.q));
	a = self->q.arena;
	memset(a, 0x5a, BIG);
	ASSERT_EQ(0, pthread_create(&th, NULL, prober_fn, &p));
	usleep(50000);
	for (i = 0; i < BIG_SQES; i++) {
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, s);
		s->page_id = big;
		s->len = BIG;
		s->payload_len = BIG;
		s->user_data = i;
	}
	t0 = mono_ms();
	ASSERT_EQ(BIG_SQES, mmsb_sq_submit(&self->q));
	for (i = 0; i < BIG_SQES; i++) {
		ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
		ASSERT_EQ(0, cqe.status);
	}
	all_ms = mono_ms() - t0;
	usleep(50000);
	p.stop = 1;
	pthread_join(th, NULL);
	TH_LOG("%d SQEs of 1 MiB in %llu ms; %llu probes, the longest %llu ms",
	       BIG_SQES, (unsigned long long)all_ms,
	       (unsigned long long)p.n, (unsigned long long)p.max_ms);
	EXPECT_EQ(0, p.err);
	EXPECT_GT(all_ms / 4, p.max_ms);
	mmsb_sq_unmap(&p.q);
	free_all(p.fd);
	close(p.fd);
}

TEST_F_TIMEOUT(sq_in_place, big_copies_do_not_hold_the_tick, 120)
{
	big_copies(_metadata, self, variant->flags);
}

/*
 * Compare and swap after a completion: the CQE of a write to the page
 * came, the page's header shows the epoch the CQE reported, nothing else
 * writes the page; an SQE expecting that epoch, published now on another
 * queue, must apply.  A third queue between the two in the bus's list
 * keeps the tick that applied the write busy for a while.
 */
TEST_F(sq_in_place, cas_after_cqe)
{
	const struct mmsb_page_header *hdr;
	struct mmsb_sq_handle q2;
	struct mmsb_page_create pc;
	unsigned char b[8], got[8];
	__u64 epoch, stale = 0, end, iters = 0;
	struct mmsb_cqe c1, c2;
	struct mmsb_sqe *s;
	struct noise n;
	int fd2;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &hdr));
	ASSERT_EQ(0, sq_open(self->fd, 8, variant->flags, &self->q));
	self->mapped = true;
	ASSERT_EQ(0, noise_start(&n, variant->flags, 256, 16384));
	fd2 = mmsb_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, sq_open(fd2, 8, variant->flags, &q2));

	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		iters++;
		memset(b, iters, sizeof(b));
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, pc.id, 0, b, 8,
						1));
		ASSERT_EQ(1, mmsb_sq_submit(&self->q));
		ASSERT_EQ(0, sq_reap_spin(&self->q, &c1));
		ASSERT_EQ(0, c1.status);
		ASSERT_EQ(0, mmsb_page_read(hdr, 0, got, 8, &epoch));
		ASSERT_EQ(c1.epoch, epoch);
		memset(b, iters + 0x80, sizeof(b));
		s = mmsb_sq_get_sqe(&q2);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&q2, s, pc.id, 0, b, 8, 2));
		s->expected_epoch = epoch;
		ASSERT_EQ(1, mmsb_sq_submit(&q2));
		ASSERT_EQ(0, sq_reap_spin(&q2, &c2));
		if (c2.status) {
			if (!stale)
				TH_LOG("iteration %llu: status %d expecting epoch %llu (the write's CQE: id %llu, epoch %llu; the refusal's id %llu)",
				       (unsigned long long)iters, c2.status,
				       (unsigned long long)epoch,
				       (unsigned long long)c1.delta_id,
				       (unsigned long long)c1.epoch,
				       (unsigned long long)c2.delta_id);
			stale++;
		}
	}
	noise_stop(&n);
	EXPECT_EQ(0, stale) TH_LOG("%llu of %llu refused",
				    (unsigned long long)stale,
				    (unsigned long long)iters);
	EXPECT_EQ(0, n.bad);
	mmsb_sq_unmap(&q2);
	close(fd2);
	mmsb_page_unmap(hdr);
}

TEST_HARNESS_MAIN
