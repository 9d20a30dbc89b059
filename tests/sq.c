// SPDX-License-Identifier: GPL-2.0
/*
 * The mapped submission queue (MMSB_IOC_SQ_SETUP, MMSB_IOC_SQ_ENTER and
 * the mapping at MMSB_SQ_OFFSET).
 *
 * sq.setup_errors: every bad setup field, a second setup, and the
 * mapping's rules, each with its errno.
 * sq.fork_child_has_no_mapping: the queue is not inherited.
 * sq.encodings_against_model: DENSE, MASKED and SPARSE deltas through
 * the queue leave exactly the model's bytes; each CQE has its SQE's
 * user_data, an id and the page's epoch.
 * sq.batch_reap_against_model: CQEs walked and freed in batches
 * (mmsb_sq_cq_ready, mmsb_sq_for_each_cqe, mmsb_sq_cq_advance): exact
 * user_data, status, ids in SQ order and epochs; SQEs prepared over
 * stale slots.
 * sq.refusals: bad arena ranges, reserved fields, a missing page, a
 * window past the page and a stale expected epoch, each in its CQE.
 * sq.refusals_at_u32_edges: arena offsets and lengths near 2^32, for
 * each encoding, and masks with stray bits, each with its status.
 * sq.order_with_ioctl: deltas of the queue and of SUBMIT on one page
 * apply in the order the kernel took them.
 * sq.in_place_epochs_and_refusals: SQEs the tick applies in place keep
 * the engine's epoch and conflict rules; refusals have no id.
 * sq.edge_propagates: with an edge the queue's deltas propagate before
 * their CQEs.
 * sq.tick_consumes / sq.poller_consumes_and_sleeps: no system call
 * between publishing and the completions; the poller's NEED_WAKEUP.
 * sq.poller_sleeps_on_stuck_queue: SQEs the poller cannot take (a
 * tail past the SQ, a full CQ) leave it asleep, not looking for ever.
 * sq_notick.poller_woken_by_getevents: with tick_us=0, GETEVENTS wakes the
 * poller for the SQEs it left behind a CQ reaped since.
 * sq_notick.getevents_takes_published: with tick_us=0 and no poller,
 * GETEVENTS has the SQEs it waits for taken by a tick.
 * sq.cq_full: a full CQ holds SQEs back, counted in overflow.
 * sq.scribbler: a writer scribbling over its whole queue while the
 * kernel consumes it; a page it may not write stays untouched and the
 * memory comes back.
 * sq.kill_busy: a process killed with a busy queue and a busy poller
 * leaks nothing; the module unloads.
 * sq.memory_limit: the queue counts in delta_bytes and the limit.
 * sq.eventfd: MMSB_SQ_EVENTFD's errors; the eventfd is signalled when
 * CQEs are posted, so poll() on it wakes, for applied and refused SQEs.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pages.h"

#define PSIZE	4096
#define NOBODY	65534

static int setup_raw(int fd, struct mmsb_sq_setup *p)
{
	return ioctl_err(fd, MMSB_IOC_SQ_SETUP, p);
}

/* Submit what was got, consume it now and wait for @n CQEs. */
static int submit_wait(struct mmsb_sq_handle *q, __u32 n)
{
	int ret = mmsb_sq_submit(q);

	if (ret < 0)
		return ret;
	ret = mmsb_sq_enter(q, MMSB_SQ_ENTER_SUBMIT | MMSB_SQ_ENTER_GETEVENTS,
			    n, 10ULL * 1000000000);
	return ret < 0 ? ret : 0;
}

/*
 * Six SQEs, user_data 0 to 5, of which a full CQ held the last two
 * back: read CQEs 0 and 1, which makes room, then wait up to @wait_ns
 * for and read 2 to 5, all applied; the SQ's head then passed all six.
 */
static void reap_two_then_four(struct __test_metadata *_metadata,
			       struct mmsb_sq_handle *q, __u64 wait_ns)
{
	struct mmsb_cqe cqe;
	int i;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, sq_reap(q, &cqe));
		EXPECT_EQ(i, cqe.user_data);
	}
	ASSERT_EQ(0, mmsb_sq_enter(q, MMSB_SQ_ENTER_GETEVENTS, 4, wait_ns));
	for (i = 2; i < 6; i++) {
		ASSERT_EQ(0, sq_reap(q, &cqe));
		EXPECT_EQ(i, cqe.user_data);
		EXPECT_EQ(0, cqe.status);
	}
	EXPECT_EQ(6, q->ring->sq_head);
}

FIXTURE(sq) {
	int fd;
	__u64 page, ro;
	const struct mmsb_page_header *hdr;
	struct mmsb_sq_handle q;
	bool mapped;
};

FIXTURE_SETUP(sq)
{
	struct mmsb_page_create pc;

	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	self->page = pc.id;
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &self->hdr));
	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0644, 0, &pc));
	self->ro = pc.id;
	self->mapped = false;
}

FIXTURE_TEARDOWN(sq)
{
	if (self->mapped)
		mmsb_sq_unmap(&self->q);
	if (self->hdr)
		mmsb_page_unmap(self->hdr);
	free_all(self->fd);
	close(self->fd);
}

static int sq_up(FIXTURE_DATA(sq) *self, __u32 entries, __u32 flags,
		 __u32 idle_ms)
{
	int ret = mmsb_sq_setup(self->fd, entries, entries * 256ULL, flags,
				idle_ms, &self->q);

	self->mapped = !ret;
	return ret;
}

TEST_F(sq, setup_errors)
{
	struct mmsb_sq_setup p;
	struct mmsb_sq_enter e = { .flags = MMSB_SQ_ENTER_SUBMIT };
	struct mmsb_version v;
	int fd2;
	void *m;

	ASSERT_EQ(0, mmsb_version(self->fd, &v));
	EXPECT_TRUE(v.features & MMSB_FEAT_SQ);
#define BAD(field, value) do {						\
	memset(&p, 0, sizeof(p));					\
	p.entries = 8;							\
	p.arena_bytes = 4096;						\
	p.field = value;						\
	EXPECT_EQ(-EINVAL, setup_raw(self->fd, &p)) TH_LOG(#field);	\
} while (0)
	BAD(entries, 0);
	BAD(entries, 12);
	BAD(entries, MMSB_SQ_ENTRIES_MAX * 2);
	BAD(arena_bytes, 4100);
	BAD(arena_bytes, MMSB_SQ_ARENA_MAX + 8ULL);
	BAD(flags, 4);
	BAD(eventfd, 1);	/* without MMSB_SQ_EVENTFD */
	BAD(reserved[3], 1);
	BAD(sq_idle_ms, 10);	/* without MMSB_SQ_POLL */
#undef BAD
	memset(&p, 0, sizeof(p));
	p.entries = 8;
	p.flags = MMSB_SQ_POLL;
	p.sq_idle_ms = MMSB_SQ_IDLE_MS_MAX + 1;
	EXPECT_EQ(-EINVAL, setup_raw(self->fd, &p));

	/* No queue yet: SQ_ENTER and the mapping say so. */
	EXPECT_EQ(-ENXIO, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));
	EXPECT_EQ(-ENXIO, map(self->fd, MMSB_SQ_OFFSET, 4096,
			      PROT_READ | PROT_WRITE, MAP_SHARED, &m));

	ASSERT_EQ(0, sq_up(self, 8, 0, 0));
	EXPECT_EQ(8, self->q.ring->entries);
	EXPECT_EQ(7, self->q.ring->sq_mask);
	EXPECT_EQ(15, self->q.ring->cq_mask);
	EXPECT_EQ(8 * 256, self->q.ring->arena_bytes);
	memset(&p, 0, sizeof(p));
	p.entries = 8;
	EXPECT_EQ(-EBUSY, setup_raw(self->fd, &p));

	/* SQ_ENTER's own checks. */
	e.flags = 0;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));
	e.flags = 8;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));
	e.flags = MMSB_SQ_ENTER_SUBMIT;
	e.min_complete = 1;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));
	e.flags = MMSB_SQ_ENTER_GETEVENTS;
	e.min_complete = 17;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));
	e.min_complete = 1;
	e.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));
	e.reserved[1] = 0;
	e.timeout_ns = 0;
	EXPECT_EQ(-ETIMEDOUT, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));
	e.timeout_ns = 1000000;
	EXPECT_EQ(-ETIMEDOUT, ioctl_err(self->fd, MMSB_IOC_SQ_ENTER, &e));

	/* The mapping: shared, not longer, not executable, that offset. */
	EXPECT_EQ(-EINVAL, map(self->fd, MMSB_SQ_OFFSET, 4096,
			       PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
	EXPECT_EQ(-EINVAL, map(self->fd, MMSB_SQ_OFFSET,
			       self->q.map_size + 4096, PROT_READ, MAP_SHARED,
			       &m));
	EXPECT_EQ(-EPERM, map(self->fd, MMSB_SQ_OFFSET, 4096,
			      PROT_READ | PROT_EXEC, MAP_SHARED, &m));
	EXPECT_EQ(-EINVAL, map(self->fd, MMSB_SQ_OFFSET + 4096, 4096,
			       PROT_READ, MAP_SHARED, &m));
	/* mremap growth of it is refused. */
	EXPECT_EQ(MAP_FAILED, mremap(self->q.map, self->q.map_size,
				     self->q.map_size + 4096, 0));
	/* Every other mapping stays read-only. */
	EXPECT_EQ(-EPERM, map(self->fd, page_size() * self->page, 4096,
			      PROT_READ | PROT_WRITE, MAP_SHARED, &m));
	EXPECT_EQ(-EPERM, map(self->fd, MMSB_BUS_HEADER_OFFSET, 4096,
			      PROT_READ | PROT_WRITE, MAP_SHARED, &m));
	/* Another file of the same bus has no queue of its own. */
	fd2 = mmsb_open();
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-ENXIO, map(fd2, MMSB_SQ_OFFSET, 4096,
			      PROT_READ | PROT_WRITE, MAP_SHARED, &m));
	close(fd2);
}

TEST_F(sq, fork_child_has_no_mapping)
{
	unsigned char vec;
	pid_t pid;

	ASSERT_EQ(0, sq_up(self, 8, 0, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		/* mincore(): -ENOMEM for an unmapped range. */
		_exit(mincore(self->q.map, 4096, &vec) == -1 &&
		      errno == ENOMEM ? 0 : 1);
	EXPECT_EQ(0, wait_child(pid));
	/* The parent's is still there. */
	EXPECT_EQ(0, mincore(self->q.map, 4096, &vec));
}

TEST_F(sq, encodings_against_model)
{
	unsigned char model[PSIZE] = { 0 }, data[PSIZE];
	struct mmsb_delta d[3] = { 0 };
	unsigned char payload[3][64], mask[3][8];
	struct mmsb_cqe cqe[3];
	__u64 last_id = 0, epoch = 0;
	int i, k, round;

	ASSERT_EQ(0, sq_up(self, 4, 0, 0));
	for (round = 0; round < 5; round++) {	/* wraps the 4-entry SQ */
		for (i = 0; i < 3; i++) {
			struct mmsb_sqe *sqe = mmsb_sq_get_sqe(&self->q);
			unsigned char *a;
			__u32 off;

			ASSERT_NE(NULL, sqe);
			a = mmsb_sq_arena(&self->q, sqe, &off);
			memset(&d[i], 0, sizeof(d[i]));
			d[i].page_id = self->page;
			d[i].offset = 100 * round + 7 * i;
			d[i].len = 64;
			d[i].encoding = i;
			for (k = 0; k < 64; k++)
				payload[i][k] = round * 31 + i * 7 + k + 1;
			for (k = 0; k < 8; k++)
				mask[i][k] = 0x5a ^ (round + k);
			d[i].payload = (__u64)(uintptr_t)payload[i];
			d[i].mask = i ? (__u64)(uintptr_t)mask[i] : 0;
			d[i].payload_len = 64;
			if (i == MMSB_DELTA_SPARSE) {
				__u64 n = 0;

				for (k = 0; k < 64; k++)
					n += !!(mask[i][k / 8] & (1 << (k % 8)));
				d[i].payload_len = n;
			}
			memcpy(a, payload[i], d[i].payload_len);
			memcpy(a + 64, mask[i], 8);
			sqe->page_id = self->page;
			sqe->offset = d[i].offset;
			sqe->len = 64;
			sqe->encoding = i;
			sqe->payload_off = off;
			sqe->payload_len = d[i].payload_len;
			sqe->mask_off = i ? off + 64 : 0;
			sqe->user_data = 1000 * round + i;
			delta_model_apply(model, &d[i]);
		}
		ASSERT_EQ(0, submit_wait(&self->q, 3));
		for (i = 0; i < 3; i++) {
			ASSERT_EQ(0, sq_reap(&self->q, &cqe[i]));
			EXPECT_EQ(1000 * round + i, cqe[i].user_data);
			EXPECT_EQ(0, cqe[i].status);
			EXPECT_LT(last_id, cqe[i].delta_id);
			last_id = cqe[i].delta_id;
			/*
			 * One epoch per tick that changed the page: the three
			 * may take one tick or more (the tick may apply the
			 * DENSE one in place and queue the others).
			 */
			EXPECT_LT(epoch, cqe[i].epoch);
			EXPECT_LE(cqe[i].epoch, epoch + i + 1);
			EXPECT_LE(i ? cqe[i - 1].epoch : 0, cqe[i].epoch);
			EXPECT_EQ(0, cqe[i].pad);
		}
		EXPECT_EQ(-EAGAIN, sq_reap(&self->q, &cqe[0]));
		ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, data, PSIZE, NULL));
		EXPECT_EQ(0, memcmp(model, data, PSIZE)) TH_LOG("round %d", round);
		epoch = cqe[2].epoch;
		EXPECT_EQ(epoch, self->hdr->epoch);
		EXPECT_EQ(last_id, self->hdr->last_delta_id);
	}
	EXPECT_EQ(15, self->q.ring->sq_head);
	EXPECT_EQ(15, self->q.ring->cq_tail);
	EXPECT_EQ(0, self->q.ring->overflow);
}

/* One SQE of batch_reap_against_model: its user_data and status. */
struct want_cqe {
	__u64 user_data;
	int status;
};

/*
 * Walk the ready CQEs with mmsb_sq_for_each_cqe() from @want[@first] on:
 * each has its user_data and status; an applied one the page's epoch
 * @epoch and the id @id0 + its SQE's index (ids are consecutive in SQ
 * order), a refused one neither.  Frees nothing; returns how many.
 */
static __u32 walk_cqes(struct __test_metadata *_metadata,
		       struct mmsb_sq_handle *q, const struct want_cqe *want,
		       __u32 first, __u64 id0, __u64 epoch)
{
	__u32 head, k = first, cq_head = q->ring->cq_head;
	struct mmsb_cqe *cqe;

	mmsb_sq_for_each_cqe(q, head, cqe) {
		__u32 i = want[k].user_data % 100;

		EXPECT_EQ(cq_head + k - first, head);
		EXPECT_EQ(want[k].user_data, cqe->user_data);
		EXPECT_EQ(want[k].status, cqe->status);
		EXPECT_EQ(want[k].status ? 0 : id0 + i, cqe->delta_id);
		EXPECT_EQ(want[k].status ? 0 : epoch, cqe->epoch);
		k++;
	}
	EXPECT_EQ(cq_head, q->ring->cq_head);
	return k - first;
}

/*
 * mmsb_sq_cq_ready(), mmsb_sq_for_each_cqe() and mmsb_sq_cq_advance()
 * against a model, over SQE slots full of stale bytes (that
 * mmsb_sq_get_sqe() zeroes and mmsb_sq_prep_dense() overwrites).  Rounds of 7 SQEs: two for a missing page (-ENOENT) and one
 * too long for its slot (-EMSGSIZE from mmsb_sq_prep_dense(), and from
 * the kernel), refused at once; four applied at the round's tick.  The
 * CQEs are the refused ones in SQ order, then the applied ones in SQ
 * order; the walk frees nothing, and two then five are freed with one
 * store of cq_head each.  Seven rounds wrap the 16 CQEs three times.
 */
TEST_F(sq, batch_reap_against_model)
{
	unsigned char model[PSIZE] = { 0 }, data[PSIZE], payload[40];
	struct mmsb_sq_handle *q = &self->q;
	struct want_cqe want[7];
	struct mmsb_cqe *cqe;
	int round, i, k;

	/* 8 SQEs with 32 arena bytes each, 16 CQEs. */
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 8, 8 * 32, 0, 0, q));
	self->mapped = true;
	ASSERT_EQ(32, q->slot_bytes);
	for (round = 0; round < 7; round++) {
		__u64 id0;
		int nref = 0, napp = 3;

		/* Every SQE of the last round was consumed: slots are free. */
		memset(q->sqes, 0xa5, 8 * sizeof(*q->sqes));
		for (i = 0; i < 7; i++) {
			struct mmsb_sqe *s = mmsb_sq_get_sqe(q);
			__u64 page = i == 1 || i == 4 ? 999999 : self->page;
			__u32 len = i == 5 ? 40 : 8 + (round + i) % 17;
			__u32 off = (round * 7 + i) * 40 % (PSIZE - 40);
			int status = i == 1 || i == 4 ? -ENOENT :
				     i == 5 ? -EMSGSIZE : 0;

			ASSERT_NE(NULL, s);
			for (k = 0; k < 40; k++)
				payload[k] = round * 37 + i * 11 + k + 1;
			EXPECT_EQ(i == 5 ? -EMSGSIZE : 0,
				  mmsb_sq_prep_dense(q, s, page, off, payload,
						     len, 100 * round + i));
			/* Refused at once, in SQ order; then the others. */
			want[status ? nref++ : napp++] = (struct want_cqe){
				.user_data = 100 * round + i,
				.status = status,
			};
			if (!status)
				memcpy(model + off, payload, len);
		}
		ASSERT_EQ(3, nref);
		ASSERT_EQ(0, submit_wait(q, 7));
		EXPECT_EQ(7, mmsb_sq_cq_ready(q));
		/* The first applied CQE gives the round's ids. */
		cqe = &q->cqes[(q->ring->cq_head + 3) & 15];
		ASSERT_EQ(0, cqe->status);
		id0 = cqe->delta_id - cqe->user_data % 100;
		EXPECT_EQ(7, walk_cqes(_metadata, q, want, 0, id0, round + 1));
		/* The walk freed nothing: it walks the same again. */
		EXPECT_EQ(7, mmsb_sq_cq_ready(q));
		mmsb_sq_cq_advance(q, 2);
		EXPECT_EQ(5, mmsb_sq_cq_ready(q));
		EXPECT_EQ(5, walk_cqes(_metadata, q, want, 2, id0, round + 1));
		mmsb_sq_cq_advance(q, 5);
		EXPECT_EQ(0, mmsb_sq_cq_ready(q));
		EXPECT_EQ(NULL, mmsb_sq_peek_cqe(q));
		EXPECT_EQ(7 * (round + 1), q->ring->cq_head);
		ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, data, PSIZE, NULL));
		EXPECT_EQ(0, memcmp(model, data, PSIZE)) TH_LOG("round %d", round);
		EXPECT_EQ(round + 1, self->hdr->epoch);
	}
	EXPECT_EQ(49, q->ring->sq_head);
	EXPECT_EQ(49, q->ring->cq_tail);
	EXPECT_EQ(0, q->ring->overflow);
}

TEST_F(sq, refusals)
{
	struct mmsb_page_info info;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	__u32 off;
	int i;
	/* Each bad SQE, then its expected status. */
	static const int want[] = {
		-EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -ENOENT,
		-ERANGE, -EMSGSIZE, -ESTALE, 0,
	};
	const int n = sizeof(want) / sizeof(want[0]);

	ASSERT_EQ(0, sq_up(self, 16, 0, 0));
	for (i = 0; i < n; i++) {
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, s);
		mmsb_sq_arena(&self->q, s, &off);
		s->page_id = self->page;
		s->offset = 0;
		s->len = 8;
		s->payload_off = off;
		s->payload_len = 8;
		s->user_data = i;
		switch (i) {
		case 0: s->payload_off = 16 * 256 - 4; break;	/* past arena */
		case 1: s->reserved[0] = 1; break;
		case 2: s->flags = 2; break;			/* no such flag */
		case 3: s->encoding = MMSB_DELTA_MASKED;
			s->mask_off = 16 * 256; break;		/* mask past */
		case 4: s->mask_off = off; break;		/* DENSE mask */
		case 5: s->page_id = 999999; break;
		case 6: s->offset = PSIZE - 4; break;
		case 7: s->payload_len = 7; break;
		case 8: s->expected_epoch = 77; break;
		default: break;
		}
	}
	ASSERT_EQ(0, submit_wait(&self->q, n));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, sq_reap(&self->q, &cqe));
		/* Refusals at once come first; -ESTALE and 0 at the tick. */
		ASSERT_GT(n, (int)cqe.user_data);
		EXPECT_EQ(i < n - 2 ? (__u64)i : cqe.user_data, cqe.user_data);
		EXPECT_EQ(want[cqe.user_data], cqe.status)
			TH_LOG("sqe %llu", (unsigned long long)cqe.user_data);
		if (cqe.status == -ESTALE || !cqe.status) {
			EXPECT_NE(0, cqe.delta_id);
			EXPECT_EQ(cqe.status ? 0 : 1, cqe.epoch);
		} else {
			EXPECT_EQ(0, cqe.delta_id);
			EXPECT_EQ(0, cqe.epoch);
		}
	}
	ASSERT_EQ(0, mmsb_page_info(self->fd, self->page, &info));
	EXPECT_EQ(1, info.epoch);
}

/*
 * Offsets and lengths at the edge of 32 bits, for every encoding: the
 * arena bounds are summed in 64 bits (a u32 sum would wrap inside the
 * arena), and payload_len, masks and stray mask bits are checked on
 * the kernel's copy.  Only the last SQE is good.
 */
TEST_F(sq, refusals_at_u32_edges)
{
	static const int want[] = {
		-EINVAL, -EINVAL, -EINVAL, -EINVAL, -ERANGE, -ERANGE,
		-EINVAL, -EMSGSIZE, -EMSGSIZE, -EINVAL, -EINVAL, 0,
	};
	const int n = sizeof(want) / sizeof(want[0]);
	unsigned char got[8], *a;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	int status[16];
	__u32 off;
	int i;

	ASSERT_EQ(0, sq_up(self, 16, 0, 0));
	for (i = 0; i < n; i++) {
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, s);
		a = mmsb_sq_arena(&self->q, s, &off);
		memset(a, 0, 16);
		s->page_id = self->page;
		s->len = 8;
		s->payload_off = off + 8;
		s->payload_len = 8;
		s->user_data = i;
		switch (i) {
		case 0: s->payload_off = 0xfffffff8; s->payload_len = 16; break;
		case 1: s->payload_len = 0xffffffff; break;
		case 2: s->encoding = MMSB_DELTA_MASKED;
			s->mask_off = 0xffffffff; break;
		case 3: s->encoding = MMSB_DELTA_MASKED;	/* 512 MiB mask */
			s->mask_off = off; s->len = 0xffffffff; break;
		case 4: s->len = 0xfffffff8; break;		/* > max page */
		case 5: s->offset = 0xfffffffc; break;		/* off + len wraps */
		case 6: s->encoding = MMSB_DELTA_MASKED;	/* stray tail bit */
			s->mask_off = off; s->len = 5; s->payload_len = 5;
			a[0] = 0x20; break;
		case 7: s->encoding = MMSB_DELTA_SPARSE;	/* 4 bits, 3 bytes */
			s->mask_off = off; s->payload_len = 3;
			a[0] = 0x0f; break;
		case 8: s->encoding = MMSB_DELTA_SPARSE;	/* more than len */
			s->mask_off = off; s->payload_len = 9;
			a[0] = 0xff; break;
		case 9: s->encoding = 3;
			s->mask_off = off; break;
		case 10: s->len = 0; s->payload_len = 0; break;
		default: s->encoding = MMSB_DELTA_SPARSE;	/* bytes 0, 7 */
			s->mask_off = off; s->payload_len = 2;
			a[0] = 0x81; a[8] = 0xaa; a[9] = 0xbb; break;
		}
	}
	ASSERT_EQ(0, submit_wait(&self->q, n));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, sq_reap(&self->q, &cqe));
		ASSERT_GT(n, (int)cqe.user_data);
		status[cqe.user_data] = cqe.status;
		EXPECT_EQ(cqe.status ? 0 : 1, cqe.epoch);
	}
	for (i = 0; i < n; i++)
		EXPECT_EQ(want[i], status[i]) TH_LOG("sqe %d", i);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 8, NULL));
	EXPECT_EQ(0xaa, got[0]);
	EXPECT_EQ(1, all_zero(got + 1, 6));
	EXPECT_EQ(0xbb, got[7]);
}

/* As nobody (no CAP_SYS_ADMIN): root's 0644 page refuses every delta. */
TEST_F(sq, refuses_unwritable_page)
{
	struct mmsb_sq_handle q;
	struct mmsb_page_info info;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct mmsb_cqe cqe;
		struct mmsb_sqe *s;
		unsigned char b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		int fd;

		if (setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			_exit(2);
		fd = mmsb_open();
		if (fd < 0 || mmsb_sq_setup(fd, 4, 1024, 0, 0, &q))
			_exit(3);
		s = mmsb_sq_get_sqe(&q);
		mmsb_sq_prep_dense(&q, s, self->ro, 0, b, 8, 5);
		if (submit_wait(&q, 1) || sq_reap(&q, &cqe))
			_exit(4);
		_exit(cqe.status == -EACCES && cqe.user_data == 5 &&
		      !cqe.delta_id ? 0 : 5);
	}
	EXPECT_EQ(0, wait_child(pid));
	ASSERT_EQ(0, mmsb_page_info(self->fd, self->ro, &info));
	EXPECT_EQ(0, info.epoch);
}

TEST_F(sq, order_with_ioctl)
{
	struct mmsb_delta d;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	unsigned char a = 0xaa, b = 0xbb, c = 0xcc, got;
	int n;

	ASSERT_EQ(0, sq_up(self, 8, 0, 0));
	/* SUBMIT (not SYNC) queues a; the queue's b is consumed after. */
	mmsb_delta_dense(&d, self->page, 0, &a, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, 0, NULL));
	s = mmsb_sq_get_sqe(&self->q);
	ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, 0, &b, 1, 1));
	ASSERT_EQ(0, submit_wait(&self->q, 1));
	ASSERT_EQ(0, sq_reap(&self->q, &cqe));
	EXPECT_EQ(0, cqe.status);
	EXPECT_LT(d.delta_id, cqe.delta_id);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, &got, 1, NULL));
	EXPECT_EQ(b, got);
	/*
	 * Consumed, not yet applied; then SYNC c: c is last.  The tick
	 * consumes published SQEs too, so it may have taken the SQE before
	 * SUBMIT: then SUBMIT consumes nothing, and the SQE is consumed
	 * all the same.
	 */
	s = mmsb_sq_get_sqe(&self->q);
	ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, 0, &a, 1, 2));
	ASSERT_LE(0, mmsb_sq_submit(&self->q));
	n = mmsb_sq_enter(&self->q, MMSB_SQ_ENTER_SUBMIT, 0, 0);
	ASSERT_TRUE(n == 0 || n == 1) TH_LOG("SUBMIT consumed %d", n);
	ASSERT_EQ(self->q.tail,
		  __atomic_load_n(&self->q.ring->sq_head, __ATOMIC_ACQUIRE));
	mmsb_delta_dense(&d, self->page, 0, &c, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
	EXPECT_EQ(0, cqe.status);
	EXPECT_LT(cqe.delta_id, d.delta_id);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, &got, 1, NULL));
	EXPECT_EQ(c, got);
}

/* Publish a one-byte DENSE SQE at @off of @page, expecting @epoch. */
static void put_byte(struct __test_metadata *_metadata,
		     struct mmsb_sq_handle *q, __u64 page, __u32 off,
		     unsigned char b, __u64 epoch, __u64 user_data)
{
	struct mmsb_sqe *s = mmsb_sq_get_sqe(q);

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, mmsb_sq_prep_dense(q, s, page, off, &b, 1, user_data));
	s->expected_epoch = epoch;
}

/*
 * One round the tick takes as it is, with nothing else queued: it
 * applies these SQEs in place, with the engine's rules.  Of two SQEs
 * expecting the page's epoch in one tick the first wins, the second is
 * -ESTALE (with its id); the page moves one epoch; refusals have no id.
 */
TEST_F(sq, in_place_epochs_and_refusals)
{
	unsigned char got[4], one = 1;
	struct mmsb_cqe cqe[6];
	__u64 epoch;
	int i;

	ASSERT_EQ(0, sq_up(self, 8, 0, 0));
	put_byte(_metadata, &self->q, self->page, 3, one, 0, 100);
	ASSERT_EQ(1, mmsb_sq_submit(&self->q));
	ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe[0]));
	ASSERT_EQ(0, cqe[0].status);
	ASSERT_EQ(1, cqe[0].epoch);

	put_byte(_metadata, &self->q, self->page, 0, 0x11, 1, 0);
	put_byte(_metadata, &self->q, self->page, 1, 0x22, 1, 1);
	put_byte(_metadata, &self->q, self->page, 2, 0x33, 0, 2);
	put_byte(_metadata, &self->q, 1ULL << 40, 0, 0x44, 0, 3);
	put_byte(_metadata, &self->q, self->page, PSIZE, 0x55, 0, 4);
	put_byte(_metadata, &self->q, self->page, 3, 0x66, 2, 5);
	ASSERT_EQ(6, mmsb_sq_submit(&self->q));
	for (i = 0; i < 6; i++) {
		ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe[i]));
		EXPECT_EQ(i, cqe[i].user_data);
	}
	EXPECT_EQ(0, cqe[0].status);
	EXPECT_EQ(2, cqe[0].epoch);
	EXPECT_EQ(-ESTALE, cqe[1].status);
	EXPECT_EQ(0, cqe[1].epoch);
	EXPECT_EQ(cqe[0].delta_id + 1, cqe[1].delta_id);
	EXPECT_EQ(0, cqe[2].status);
	EXPECT_EQ(2, cqe[2].epoch);
	EXPECT_EQ(cqe[0].delta_id + 2, cqe[2].delta_id);
	EXPECT_EQ(-ENOENT, cqe[3].status);
	EXPECT_EQ(0, cqe[3].delta_id);
	EXPECT_EQ(-ERANGE, cqe[4].status);
	EXPECT_EQ(0, cqe[4].delta_id);
	/* Expects 2, which the page reaches only in this very tick. */
	EXPECT_EQ(-ESTALE, cqe[5].status);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 0, got, 4, &epoch));
	EXPECT_EQ(2, epoch);
	EXPECT_EQ(0x11, got[0]);
	EXPECT_EQ(0, got[1]);
	EXPECT_EQ(0x33, got[2]);
	EXPECT_EQ(one, got[3]);
	EXPECT_EQ(cqe[2].delta_id, self->hdr->last_delta_id);
}

/*
 * With an edge the queue's deltas are the tick's like any other: the
 * dependent page has the bytes when the CQE comes (propagation before
 * completion).
 */
TEST_F(sq, edge_propagates)
{
	const struct mmsb_page_header *hq;
	unsigned char b[64], got[64];
	struct mmsb_page_create pc;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	int i, round;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->page, pc.id,
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &hq));
	ASSERT_EQ(0, sq_up(self, 8, 0, 0));
	for (round = 0; round < 4; round++) {
		for (i = 0; i < 64; i++)
			b[i] = round * 64 + i + 1;
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page,
						100 * round, b, 64, round));
		ASSERT_EQ(1, mmsb_sq_submit(&self->q));
		ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
		ASSERT_EQ(0, cqe.status);
		ASSERT_EQ(0, mmsb_page_read(hq, 100 * round, got, 64, NULL));
		EXPECT_EQ(0, memcmp(b, got, 64)) TH_LOG("round %d", round);
	}
	mmsb_page_unmap(hq);
}

/* Published and never entered: the tick consumes it. */
TEST_F(sq, tick_consumes)
{
	unsigned char b[64], got[64];
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	int i;

	for (i = 0; i < 64; i++)
		b[i] = i + 3;
	ASSERT_EQ(0, sq_up(self, 8, 0, 0));
	s = mmsb_sq_get_sqe(&self->q);
	ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, 64, b, 64, 9));
	ASSERT_EQ(1, mmsb_sq_submit(&self->q));
	ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
	EXPECT_EQ(9, cqe.user_data);
	EXPECT_EQ(0, cqe.status);
	EXPECT_EQ(1, cqe.epoch);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 64, got, 64, NULL));
	EXPECT_EQ(0, memcmp(b, got, 64));
}

TEST_F(sq, poller_consumes_and_sleeps)
{
	unsigned char b = 0x42, got;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	int i;

	ASSERT_EQ(0, sq_up(self, 8, MMSB_SQ_POLL, 20));
	s = mmsb_sq_get_sqe(&self->q);
	ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, 5, &b, 1, 1));
	ASSERT_EQ(1, mmsb_sq_submit(&self->q));
	ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
	EXPECT_EQ(0, cqe.status);
	/* After 20 ms of nothing, the poller sleeps and says so. */
	for (i = 0; i < 5000 && !(__atomic_load_n(&self->q.ring->flags,
			__ATOMIC_ACQUIRE) & MMSB_SQ_NEED_WAKEUP); i++)
		usleep(1000);
	EXPECT_TRUE(self->q.ring->flags & MMSB_SQ_NEED_WAKEUP);
	/* mmsb_sq_submit() wakes it; the flag clears. */
	b = 0x43;
	s = mmsb_sq_get_sqe(&self->q);
	ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, 5, &b, 1, 2));
	ASSERT_EQ(1, mmsb_sq_submit(&self->q));
	ASSERT_EQ(0, sq_reap_spin(&self->q, &cqe));
	EXPECT_EQ(2, cqe.user_data);
	ASSERT_EQ(0, mmsb_page_read(self->hdr, 5, &got, 1, NULL));
	EXPECT_EQ(0x43, got);
}

/* Wait up to 2 s for the poller to set NEED_WAKEUP. */
static void poller_idles(const struct mmsb_sq_ring *r)
{
	int i;

	for (i = 0; i < 2000 && !(__atomic_load_n(&r->flags,
			__ATOMIC_ACQUIRE) & MMSB_SQ_NEED_WAKEUP); i++)
		usleep(1000);
}

/*
 * Whether the poller stays asleep: NEED_WAKEUP at each of 200 looks,
 * once it went idle twice 100 ms apart.  A wakeup libmmsb's submit sent
 * when it saw the flag, just before the poller cleared it, wakes the
 * poller once more and lets it go idle again after its 20 ms: that one
 * is before the looks, and is not what this asks.
 */
static int poller_stays_asleep(const struct mmsb_sq_ring *r)
{
	int i, awake = 0;

	poller_idles(r);
	usleep(100000);
	poller_idles(r);
	for (i = 0; i < 200; i++) {
		if (!(__atomic_load_n(&r->flags, __ATOMIC_ACQUIRE) &
		      MMSB_SQ_NEED_WAKEUP))
			awake++;
		usleep(1000);
	}
	return awake;
}

TEST_F(sq, poller_sleeps_on_stuck_queue)
{
	struct mmsb_sq_ring *r;
	struct mmsb_sqe *s;
	unsigned char b = 7;
	int i;

	/* 2 SQEs, 4 CQEs; the poller idles after 20 ms. */
	ASSERT_EQ(0, sq_up(self, 2, MMSB_SQ_POLL, 20));
	r = self->q.ring;
	/* A tail more than the SQ ahead: nothing the poller may take. */
	__atomic_store_n(&r->sq_tail, 3, __ATOMIC_RELEASE);
	EXPECT_EQ(0, poller_stays_asleep(r));
	EXPECT_EQ(0, r->sq_head);
	__atomic_store_n(&r->sq_tail, 0, __ATOMIC_RELEASE);
	/* A CQ nobody reaps, SQEs behind it: nothing it may take either. */
	for (i = 0; i < 6; i++) {
		/* The SQ holds 2: wait for the poller to take the last 2. */
		for (int j = 0; j < 10000 && i % 2 == 0 && i < 6 &&
		     __atomic_load_n(&r->sq_head, __ATOMIC_ACQUIRE) != i; j++)
			usleep(1000);
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, s);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, i, &b,
						1, i));
		if (i % 2)
			ASSERT_EQ(2, mmsb_sq_submit(&self->q));
	}
	for (i = 0; i < 10000 && r->cq_tail != 4; i++)
		usleep(1000);
	EXPECT_EQ(4, r->cq_tail);
	EXPECT_EQ(0, poller_stays_asleep(r));
	EXPECT_EQ(4, r->sq_head);
	/* Two CQEs read: the ticks take the two SQEs the poller left. */
	reap_two_then_four(_metadata, &self->q, 10ULL * 1000000000);
}

/*
 * With tick_us=0 no timer tick takes the SQEs the poller left behind a
 * full CQ: once the CQ is reaped, GETEVENTS wakes the poller for them.
 */
FIXTURE(sq_notick) {
	int fd;
	struct mmsb_sq_handle q;
	bool mapped;
};

FIXTURE_SETUP(sq_notick)
{
	self->fd = -1;
	self->mapped = false;
	ASSERT_EQ(0, module_reload("tick_us=0"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

/* Back to the run's parameters, whatever the test did. */
FIXTURE_TEARDOWN(sq_notick)
{
	if (self->mapped)
		mmsb_sq_unmap(&self->q);
	if (self->fd >= 0)
		close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * With tick_us=0 and no poller nothing takes published SQEs on its
 * own: GETEVENTS, about to wait for them, has a tick run, which does.
 */
TEST_F(sq_notick, getevents_takes_published)
{
	struct mmsb_sq_handle *q = &self->q;
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	unsigned char b[8] = "getevts", got[8];
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	int i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &hdr));
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 8, 8 * 256, 0, 0, q));
	self->mapped = true;
	for (i = 0; i < 3; i++) {
		s = mmsb_sq_get_sqe(q);
		ASSERT_NE(NULL, s);
		ASSERT_EQ(0, mmsb_sq_prep_dense(q, s, pc.id, 8 * i, b, 8, i));
	}
	ASSERT_EQ(3, mmsb_sq_submit(q));
	ASSERT_EQ(0, mmsb_sq_enter(q, MMSB_SQ_ENTER_GETEVENTS, 3,
				   2ULL * 1000000000));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, sq_reap(q, &cqe));
		EXPECT_EQ(i, cqe.user_data);
		EXPECT_EQ(0, cqe.status);
		EXPECT_EQ(1, cqe.epoch);
		ASSERT_EQ(0, mmsb_page_read(hdr, 8 * i, got, 8, NULL));
		EXPECT_EQ(0, memcmp(b, got, 8));
	}
	mmsb_page_unmap(hdr);
}

TEST_F(sq_notick, poller_woken_by_getevents)
{
	struct mmsb_sq_handle *q = &self->q;
	struct mmsb_page_create pc;
	struct mmsb_sqe *s;
	unsigned char b = 9;
	int i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 2, 2 * 256, MMSB_SQ_POLL, 20, q));
	self->mapped = true;
	for (i = 0; i < 6; i++) {
		for (int j = 0; j < 10000 && i % 2 == 0 &&
		     __atomic_load_n(&q->ring->sq_head, __ATOMIC_ACQUIRE) != i;
		     j++)
			usleep(1000);
		s = mmsb_sq_get_sqe(q);
		ASSERT_NE(NULL, s);
		ASSERT_EQ(0, mmsb_sq_prep_dense(q, s, pc.id, i, &b, 1, i));
		if (i % 2)
			ASSERT_EQ(2, mmsb_sq_submit(q));
	}
	for (i = 0; i < 10000 && q->ring->cq_tail != 4; i++)
		usleep(1000);
	ASSERT_EQ(4, q->ring->cq_tail);
	/* The poller gives up on the 2 SQEs behind the full CQ. */
	for (i = 0; i < 5000 && !(__atomic_load_n(&q->ring->flags,
			__ATOMIC_ACQUIRE) & MMSB_SQ_NEED_WAKEUP); i++)
		usleep(1000);
	ASSERT_TRUE(q->ring->flags & MMSB_SQ_NEED_WAKEUP);
	/* No SUBMIT, no WAKEUP: GETEVENTS alone gets the 2 applied. */
	reap_two_then_four(_metadata, q, 5ULL * 1000000000);
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
}

TEST_F(sq, cq_full)
{
	struct mmsb_sqe *s;
	unsigned char b = 1;
	int i;

	/* 2 SQEs, 4 CQEs: two rounds fill the CQ. */
	ASSERT_EQ(0, sq_up(self, 2, 0, 0));
	for (i = 0; i < 4; i++) {
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, s);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, i, &b,
						1, i));
		if (i % 2)
			ASSERT_EQ(0, submit_wait(&self->q, i + 1));
	}
	EXPECT_EQ(4, self->q.ring->cq_tail);
	/* The CQ is full: the next SQEs wait, however often entered. */
	for (i = 4; i < 6; i++) {
		s = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, s);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, s, self->page, i, &b,
						1, i));
	}
	EXPECT_EQ(NULL, mmsb_sq_get_sqe(&self->q));
	ASSERT_EQ(2, mmsb_sq_submit(&self->q));
	EXPECT_EQ(0, mmsb_sq_enter(&self->q, MMSB_SQ_ENTER_SUBMIT, 0, 0));
	usleep(20000);	/* ticks run meanwhile */
	EXPECT_EQ(0, mmsb_sq_enter(&self->q, MMSB_SQ_ENTER_SUBMIT, 0, 0));
	EXPECT_EQ(4, self->q.ring->cq_tail);
	EXPECT_EQ(4, self->q.ring->sq_head);
	EXPECT_LE(2, self->q.ring->overflow);
	/* Two CQEs read: the two SQEs go. */
	reap_two_then_four(_metadata, &self->q, 10ULL * 1000000000);
}

/* A thread that writes random bytes over the whole mapping. */
struct scribble {
	unsigned char *mem;
	size_t len;
	volatile int stop;
	unsigned int seed;
};

static void *scribbler(void *arg)
{
	struct scribble *sc = arg;

	while (!sc->stop) {
		size_t i = rand_r(&sc->seed) % sc->len;

		sc->mem[i] = rand_r(&sc->seed);
		if (rand_r(&sc->seed) % 4 == 0)
			((__u32 *)sc->mem)[rand_r(&sc->seed) % 4] =
				rand_r(&sc->seed);
	}
	return NULL;
}

/*
 * As nobody: valid SQEs for its own page and for root's 0644 page (which
 * it may not write), published while a second thread scribbles over
 * the ring, the SQEs, the CQEs and the arena.  The kernel must not
 * crash or splat, root's page stays zero, the memory comes back.
 */
TEST_F(sq, scribbler)
{
	__u64 base = delta_bytes(self->fd);
	struct mmsb_page_info info;
	unsigned char zero[PSIZE] = { 0 }, data[PSIZE];
	const struct mmsb_page_header *ro;
	pid_t pid;

	ASSERT_EQ(0, mmsb_page_map(self->fd, self->ro, &ro));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct mmsb_sq_handle q;
		struct scribble sc;
		pthread_t th;
		unsigned char b[64];
		struct mmsb_sqe *s;
		int fd, i, k;

		if (setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			_exit(2);
		fd = mmsb_open();
		if (fd < 0 || mmsb_sq_setup(fd, 64, 64 * 256, 0, 0, &q))
			_exit(3);
		memset(b, 0x77, sizeof(b));
		sc.mem = q.map;
		sc.len = q.map_size;
		sc.stop = 0;
		sc.seed = 1;
		if (pthread_create(&th, NULL, scribbler, &sc))
			_exit(4);
		for (i = 0; i < 2000; i++) {
			struct mmsb_cqe *c;

			/* The head may be garbage: re-sync with the kernel's. */
			q.tail = __atomic_load_n(&q.ring->sq_head,
						 __ATOMIC_ACQUIRE);
			for (k = 0; k < 8; k++) {
				s = mmsb_sq_get_sqe(&q);
				if (!s)
					break;
				mmsb_sq_prep_dense(&q, s, k % 2 ? self->ro :
						   self->page, k * 64, b, 64, k);
			}
			mmsb_sq_submit(&q);
			mmsb_sq_enter(&q, MMSB_SQ_ENTER_SUBMIT, 0, 0);
			/* A scribbled cq_tail may be far off: a few at most. */
			for (k = 0; k < 16 && (c = mmsb_sq_peek_cqe(&q)); k++)
				mmsb_sq_cqe_seen(&q);
			q.ring->cq_head = q.ring->cq_tail;
		}
		sc.stop = 1;
		pthread_join(th, NULL);
		_exit(0);
	}
	EXPECT_EQ(0, wait_child(pid));
	ASSERT_EQ(0, mmsb_page_info(self->fd, self->ro, &info));
	EXPECT_EQ(0, info.epoch);
	ASSERT_EQ(0, mmsb_page_read(ro, 0, data, PSIZE, NULL));
	EXPECT_EQ(0, memcmp(zero, data, PSIZE));
	EXPECT_EQ(base, delta_bytes_settle(self->fd, base));
	mmsb_page_unmap(ro);
}

/*
 * A process with a busy queue and a busy poller is killed: its deltas
 * apply, its memory comes back, and the module unloads.
 */
TEST_F(sq, kill_busy)
{
	__u64 base = delta_bytes(self->fd);
	struct mmsb_page_info info;
	int pipefd[2], status;
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct mmsb_sq_handle q;
		unsigned char b[64];
		struct mmsb_sqe *s;
		int fd, i = 0, told = 0;

		fd = mmsb_open();
		if (fd < 0 || mmsb_sq_setup(fd, 256, 256 * 64, MMSB_SQ_POLL,
					    0, &q))
			_exit(3);
		memset(b, 0x55, sizeof(b));
		for (;;) {
			while ((s = mmsb_sq_get_sqe(&q))) {
				mmsb_sq_prep_dense(&q, s, self->page,
						   (i % 64) * 64, b, 64, i);
				i++;
			}
			mmsb_sq_submit(&q);
			while (mmsb_sq_peek_cqe(&q))
				mmsb_sq_cqe_seen(&q);
			if (i > 2000 && !told++ &&
			    write(pipefd[1], "x", 1) != 1)
				_exit(4);
		}
	}
	close(pipefd[1]);
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	close(pipefd[0]);
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	EXPECT_EQ(base, delta_bytes_settle(self->fd, base));
	ASSERT_EQ(0, mmsb_page_info(self->fd, self->page, &info));
	EXPECT_LT(0, info.epoch);
	/* No thread of the queue is left: the module unloads. */
	mmsb_page_unmap(self->hdr);
	self->hdr = NULL;
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(0, module_unload());
	EXPECT_EQ(0, module_load(""));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

TEST_F(sq, memory_limit)
{
	__u64 base = delta_bytes(self->fd);
	struct mmsb_sq_setup p = { .entries = 1024,
				   .arena_bytes = MMSB_SQ_ARENA_MAX };
	struct mmsb_stats s;
	int fd2;

	ASSERT_EQ(0, sq_up(self, 64, 0, 0));
	EXPECT_EQ(base + self->q.map_size, delta_bytes(self->fd));
	/* The default limit (1 GiB) takes 64 MiB: a setup of it works... */
	fd2 = mmsb_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, mmsb_stats(fd2, &s));
	ASSERT_EQ(0, setup_raw(fd2, &p));
	EXPECT_EQ(base + self->q.map_size + p.map_size, delta_bytes(self->fd));
	close(fd2);
	EXPECT_EQ(base + self->q.map_size, delta_bytes(self->fd));
	mmsb_sq_unmap(&self->q);
	self->mapped = false;
	/* ...but not under a limit of 32 MiB: -ENOMEM. */
	mmsb_page_unmap(self->hdr);
	self->hdr = NULL;
	free_all(self->fd);
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, module_reload("mem_limit_mb=32"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(-ENOMEM, setup_raw(self->fd, &p));
	EXPECT_EQ(0, delta_bytes(self->fd));
	close(self->fd);
	ASSERT_EQ(0, module_reload(""));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

/* Wait up to 10 s for the eventfd; its count, or -errno. */
static long long eventfd_wait(int efd)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	eventfd_t v;

	if (poll(&pfd, 1, 10000) != 1)
		return -ETIMEDOUT;
	if (eventfd_read(efd, &v))
		return -errno;
	return (long long)v;
}

TEST_F(sq, eventfd)
{
	struct mmsb_sq_setup p = {
		.entries = 8,
		.arena_bytes = 2048,
		.flags = MMSB_SQ_EVENTFD,
	};
	__u8 bytes[16] = "eventfd signals";
	struct mmsb_cqe cqe;
	struct mmsb_sqe *sqe;
	eventfd_t v;
	int efd, i;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	p.eventfd = -1;
	EXPECT_EQ(-EBADF, setup_raw(self->fd, &p));
	p.eventfd = self->fd;	/* an open file, but no eventfd */
	EXPECT_EQ(-EINVAL, setup_raw(self->fd, &p));

	ASSERT_EQ(0, mmsb_sq_setup_eventfd(self->fd, 8, 2048,
					   MMSB_SQ_EVENTFD, 0, efd, &self->q));
	self->mapped = true;
	EXPECT_EQ(-1, eventfd_read(efd, &v));
	EXPECT_EQ(EAGAIN, errno);

	/* Published, consumed by the tick: no call into mmsb at all. */
	for (i = 0; i < 4; i++) {
		sqe = mmsb_sq_get_sqe(&self->q);
		ASSERT_NE(NULL, sqe);
		ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, sqe, self->page,
						i * 16, bytes, 16, i));
	}
	ASSERT_EQ(4, mmsb_sq_submit(&self->q));
	for (i = 0; i < 4; i++) {
		if (!mmsb_sq_peek_cqe(&self->q))
			ASSERT_LT(0, eventfd_wait(efd));
		ASSERT_EQ(0, sq_reap(&self->q, &cqe));
		EXPECT_EQ(i, cqe.user_data);
		EXPECT_EQ(0, cqe.status);
	}
	EXPECT_EQ(0, memcmp((const __u8 *)self->hdr + MMSB_PAGE_DATA_OFFSET +
			    48, bytes, 16));

	/* A refused SQE (no such page) is posted at once, and signals. */
	eventfd_read(efd, &v);
	sqe = mmsb_sq_get_sqe(&self->q);
	ASSERT_NE(NULL, sqe);
	ASSERT_EQ(0, mmsb_sq_prep_dense(&self->q, sqe, 999999, 0, bytes, 16,
					7));
	ASSERT_EQ(1, mmsb_sq_submit(&self->q));
	ASSERT_LT(0, eventfd_wait(efd));
	ASSERT_EQ(0, sq_reap(&self->q, &cqe));
	EXPECT_EQ(7, cqe.user_data);
	EXPECT_EQ(-ENOENT, cqe.status);
	EXPECT_EQ(0, cqe.delta_id);
	/* The queue holds the eventfd: closing ours changes nothing. */
	close(efd);
}

TEST_HARNESS_MAIN
