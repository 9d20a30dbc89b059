// SPDX-License-Identifier: GPL-2.0
/*
 * Ticks run where the mapped queue's work is (kmod/sq.c, kmod/tick.c):
 * GETEVENTS running a tick in the caller, the poller running whole
 * ticks, the in-place rounds of every queue in turn within the budget.
 * A hostile user's view.
 *
 * sq_ticks_notick.getevents_past_batch_max: tick_us=0, batch_max=64,
 * 256 SQEs and GETEVENTS for all of them: every CQE comes.
 * sq_ticks_notick.getevents_past_budget: tick_us=0, the smallest budget,
 * SQEs of 1 MiB: GETEVENTS for all of them gets them all.
 * sq_ticks_budget.stats_match_cqes: the smallest budget, thousands of
 * SQEs of every outcome: STATS moves exactly as the CQEs say.
 * sq_ticks_memcg.getevents_charges_only_own: a process in a memory
 * cgroup whose GETEVENTS runs a tick that consumes other files' SQEs
 * keeps no charge for their memory once it is gone (MASKED SQEs, taken
 * through the tick's queue; _dense: in place, the control).
 * sq_ticks.getevents_signals: SIGINT with a handler and SIGKILL while in
 * GETEVENTS; nothing lost, the queue still works.
 * sq_ticks.pollers_churn: queues with pollers on one bus, others created
 * and closed (and killed) while SQEs flow; each flow against a model.
 * sq_ticks.getevents_vs_sync: processes in GETEVENTS on their own queues
 * and others submitting SYNC ioctls to the same pages: a model.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "pages.h"

#define PSIZE	4096
#define SEC	1000000000ULL

/*
 * Publish @n DENSE SQEs of @len bytes (@len a divisor of the page's
 * @size) on page @page, SQE i at offset (i * len) % size with byte
 * (i + seed) repeated, user_data i.
 */
static int fill(struct mmsb_sq_handle *q, __u64 page, __u64 size, __u32 n,
		__u32 len, __u32 seed)
{
	struct mmsb_sqe *s;
	unsigned char *a;
	__u32 i, off;

	for (i = 0; i < n; i++) {
		s = mmsb_sq_get_sqe(q);
		if (!s)
			return -ENOSPC;
		a = mmsb_sq_arena(q, s, &off);
		memset(a, (unsigned char)(i + seed), len);
		s->page_id = page;
		s->offset = ((__u64)i * len) % size;
		s->len = len;
		s->payload_off = off;
		s->payload_len = len;
		s->user_data = i;
	}
	return mmsb_sq_submit(q);
}

/* ------------------------------------------------------------------ */

FIXTURE(sq_ticks_notick) {
	int fd;
	struct mmsb_sq_handle q;
	bool mapped;
};

FIXTURE_SETUP(sq_ticks_notick)
{
	self->fd = -1;
	self->mapped = false;
}

FIXTURE_TEARDOWN(sq_ticks_notick)
{
	if (self->mapped)
		mmsb_sq_unmap(&self->q);
	if (self->fd >= 0) {
		free_all(self->fd);
		close(self->fd);
	}
	EXPECT_EQ(0, module_reload(""));
}

/*
 * With tick_us=0 and no poller, GETEVENTS runs a tick to take the SQEs
 * it waits for.  A tick applies at most batch_max in place: the rest
 * must still come, without a timer, a poller or another call.
 */
TEST_F_TIMEOUT(sq_ticks_notick, getevents_past_batch_max, 30)
{
	const __u32 n = 256;
	struct mmsb_page_create pc;
	struct mmsb_cqe cqe;
	int ret;
	__u32 i;

	ASSERT_EQ(0, module_reload("tick_us=0 batch_max=64"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0600, 0, &pc));
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, n, n * 256ULL, 0, 0, &self->q));
	self->mapped = true;
	ASSERT_EQ((int)n, fill(&self->q, pc.id, PSIZE, n, 8, 0));
	ret = mmsb_sq_enter(&self->q, MMSB_SQ_ENTER_GETEVENTS, n, 3 * SEC);
	EXPECT_EQ(0, ret)
		TH_LOG("GETEVENTS for %u SQEs: %d, %u CQEs, sq_head %u",
		       n, ret, mmsb_sq_cq_ready(&self->q),
		       self->q.ring->sq_head);
	for (i = 0; i < n; i++) {
		if (sq_reap(&self->q, &cqe))
			break;
		EXPECT_EQ(i, cqe.user_data);
		EXPECT_EQ(0, cqe.status);
	}
	EXPECT_EQ(n, i);
}

/*
 * The same with the smallest budget and SQEs that take long to copy: a
 * tick stops at its budget, and nothing else would run the next.
 */
TEST_F_TIMEOUT(sq_ticks_notick, getevents_past_budget, 30)
{
	/* 32 MiB of copies cannot fit in one tick of 100 us. */
	const __u32 n = 32, len = 1024 * 1024;
	struct mmsb_page_create pc;
	struct mmsb_cqe cqe;
	struct mmsb_stats st;
	int ret;
	__u32 i;

	ASSERT_EQ(0, module_reload("tick_us=0 tick_budget_us=100"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, 4 * len, 0600, 0, &pc));
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, n, (__u64)n * len, 0, 0,
				   &self->q));
	self->mapped = true;
	ASSERT_EQ((int)n, fill(&self->q, pc.id, 4 * len, n, len, 0));
	ret = mmsb_sq_enter(&self->q, MMSB_SQ_ENTER_GETEVENTS, n, 5 * SEC);
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(0, ret)
		TH_LOG("GETEVENTS for %u SQEs: %d, %u CQEs, sq_head %u, "
		       "ticks %llu overruns %llu",
		       n, ret, mmsb_sq_cq_ready(&self->q),
		       self->q.ring->sq_head, (unsigned long long)st.ticks,
		       (unsigned long long)st.overruns);
	for (i = 0; i < n; i++) {
		if (sq_reap(&self->q, &cqe))
			break;
		EXPECT_EQ(i, cqe.user_data);
		EXPECT_EQ(0, cqe.status);
	}
	EXPECT_EQ(n, i);
}

/* ------------------------------------------------------------------ */

FIXTURE(sq_ticks_budget) {
	int fd;
	struct mmsb_sq_handle q;
	bool mapped;
};

FIXTURE_SETUP(sq_ticks_budget)
{
	self->fd = -1;
	self->mapped = false;
	ASSERT_EQ(0, module_reload("tick_budget_us=100"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(sq_ticks_budget)
{
	if (self->mapped)
		mmsb_sq_unmap(&self->q);
	if (self->fd >= 0) {
		free_all(self->fd);
		close(self->fd);
	}
	EXPECT_EQ(0, module_reload(""));
}

/*
 * Thousands of SQEs of every outcome (applied, -ESTALE, refused at once)
 * on four pages, with some big ones so ticks overrun, GETEVENTS and the
 * timer taking turns: every SQE gets one CQE, and STATS moved by exactly
 * what they say: submitted = applied + stale, processed = applied,
 * conflicts = stale, rejected = refused.
 */
TEST_F_TIMEOUT(sq_ticks_budget, stats_match_cqes, 60)
{
	const __u32 n = 8192, entries = 1024, big = 64 * 1024;
	__u64 page[4], applied = 0, stale = 0, refused = 0;
	struct mmsb_stats s0, s1;
	struct mmsb_page_create pc;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	unsigned char *a;
	__u32 i = 0, got = 0, off, j;
	int ret;

	for (j = 0; j < 4; j++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, big * 4, 0600, 0,
					      &pc));
		page[j] = pc.id;
	}
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, entries,
				   (__u64)entries * big, 0, 0, &self->q));
	self->mapped = true;
	ASSERT_EQ(0, mmsb_stats(self->fd, &s0));
	while (got < n) {
		while (i < n && (s = mmsb_sq_get_sqe(&self->q))) {
			a = mmsb_sq_arena(&self->q, s, &off);
			s->page_id = page[i % 4];
			s->offset = (i % 7) * 8;
			s->len = 8;
			s->payload_off = off;
			s->payload_len = 8;
			s->user_data = i;
			memset(a, i, 8);
			switch (i % 8) {
			case 3:	/* big: the ticks overrun */
				s->offset = 0;
				s->len = big;
				s->payload_len = big;
				break;
			case 5:	/* no page is ever at this epoch */
				s->expected_epoch = 1ULL << 40;
				break;
			case 6:	/* refused at once */
				s->page_id = 0xdead0000ULL + i;
				break;
			case 7:
				s->payload_len = 7;
				break;
			}
			i++;
		}
		ASSERT_LE(0, mmsb_sq_submit(&self->q));
		ret = mmsb_sq_enter(&self->q, MMSB_SQ_ENTER_GETEVENTS, 1,
				    5 * SEC);
		ASSERT_EQ(0, ret) TH_LOG("got %u of %u", got, n);
		while (!sq_reap(&self->q, &cqe)) {
			ASSERT_GT(n, cqe.user_data);
			switch (cqe.user_data % 8) {
			case 5:
				EXPECT_EQ(-ESTALE, cqe.status);
				break;
			case 6:
				EXPECT_EQ(-ENOENT, cqe.status);
				break;
			case 7:
				EXPECT_EQ(-EMSGSIZE, cqe.status);
				break;
			default:
				EXPECT_EQ(0, cqe.status)
					TH_LOG("sqe %llu", cqe.user_data);
			}
			if (!cqe.status)
				applied++;
			else if (cqe.status == -ESTALE)
				stale++;
			else
				refused++;
			got++;
		}
	}
	ASSERT_EQ(0, mmsb_flush(self->fd));
	ASSERT_EQ(0, mmsb_stats(self->fd, &s1));
	EXPECT_EQ(applied + stale, s1.submitted - s0.submitted);
	EXPECT_EQ(applied, s1.processed - s0.processed);
	EXPECT_EQ(stale, s1.conflicts - s0.conflicts);
	EXPECT_EQ(refused, s1.rejected - s0.rejected);
	TH_LOG("applied %llu stale %llu refused %llu; ticks %llu overruns %llu",
	       applied, stale, refused,
	       (unsigned long long)(s1.ticks - s0.ticks),
	       (unsigned long long)(s1.overruns - s0.overruns));
}

/* ------------------------------------------------------------------ */

#define CG_ROOT		"/sys/fs/cgroup"
#define OTHERS		64

FIXTURE(sq_ticks_memcg) {
	char dir[64];
	char current[96];
	int fd[OTHERS];
	struct mmsb_sq_handle q[OTHERS];
	int nr;
};

FIXTURE_SETUP(sq_ticks_memcg)
{
	char path[128];

	self->dir[0] = 0;
	self->nr = 0;
	ASSERT_EQ(0, module_reload("tick_us=0"));
	if (access(CG_ROOT "/cgroup.controllers", F_OK))
		ASSERT_EQ(0, mount("none", CG_ROOT, "cgroup2", 0, NULL));
	ASSERT_EQ(0, write_file(CG_ROOT "/cgroup.subtree_control",
				"+memory"));
	snprintf(self->dir, sizeof(self->dir), CG_ROOT "/mmsb-sqt-%d",
		 getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	snprintf(path, sizeof(path), "%s/memory.max", self->dir);
	snprintf(self->current, sizeof(self->current), "%s/memory.current",
		 self->dir);
	ASSERT_EQ(0, write_file(path, "64M"));
}

FIXTURE_TEARDOWN(sq_ticks_memcg)
{
	int i;

	for (i = 0; i < self->nr; i++) {
		if (self->q[i].map)
			mmsb_sq_unmap(&self->q[i]);
		free_all(self->fd[i]);
		close(self->fd[i]);
	}
	if (self->dir[0])
		rmdir(self->dir);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * OTHERS files of this process (outside the cgroup) publish one MASKED
 * SQE each; with tick_us=0 nothing takes them.  A child in the cgroup
 * publishes a DENSE SQE and waits for it: its GETEVENTS runs the tick,
 * which takes the others' SQEs too, through the tick's queue.  Once the
 * child exited and its file is closed, the cgroup holds nothing of
 * mmsb's: the others' rounds are not its memory (Documentation/mmsb.rst:
 * "to a memory cgroup only when SQ_ENTER consumes them").  With DENSE
 * SQEs (in place, no round), the control.
 */
static void others_then_child(struct __test_metadata *_metadata,
			      FIXTURE_DATA(sq_ticks_memcg) *self,
			      bool masked)
{
	struct mmsb_page_create pc;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	long long before, after;
	unsigned char *a;
	__u64 page;
	__u32 off;
	pid_t pid;
	int i;

	self->fd[0] = mmsb_open();
	ASSERT_LE(0, self->fd[0]);
	ASSERT_EQ(0, mmsb_page_create(self->fd[0], PSIZE, 0666, 0, &pc));
	page = pc.id;
	for (i = 0; i < OTHERS; i++) {
		if (i) {
			self->fd[i] = mmsb_open();
			ASSERT_LE(0, self->fd[i]);
		}
		ASSERT_EQ(0, mmsb_sq_setup(self->fd[i], 4, 4 * 256, 0, 0,
					   &self->q[i]));
		self->nr = i + 1;
		s = mmsb_sq_get_sqe(&self->q[i]);
		ASSERT_NE(NULL, s);
		a = mmsb_sq_arena(&self->q[i], s, &off);
		memset(a, 0x40 + (i & 31), 8);
		a[8] = 0xff;
		s->page_id = page;
		s->offset = 64 + 8 * i;
		s->len = 8;
		s->payload_off = off;
		s->payload_len = 8;
		if (masked) {
			s->encoding = MMSB_DELTA_MASKED;
			s->mask_off = off + 8;
		}
		s->user_data = i;
		ASSERT_EQ(1, mmsb_sq_submit(&self->q[i]));
	}
	before = read_ll(self->current);
	ASSERT_LE(0, before);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char path[128];
		struct mmsb_sq_handle q;
		int fd;

		snprintf(path, sizeof(path), "%s/cgroup.procs", self->dir);
		if (write_file(path, "0"))
			_exit(10);
		fd = mmsb_open();
		if (fd < 0)
			_exit(11);
		if (mmsb_sq_setup(fd, 4, 4 * 256, 0, 0, &q))
			_exit(12);
		if (fill(&q, page, PSIZE, 1, 8, 1) != 1)
			_exit(13);
		if (mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 1, 5 * SEC))
			_exit(14);
		if (sq_reap(&q, &cqe) || cqe.status)
			_exit(15);
		mmsb_sq_unmap(&q);
		close(fd);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid));
	/* The others' SQEs all came (the child's tick or the next). */
	for (i = 0; i < OTHERS; i++) {
		ASSERT_EQ(0, mmsb_sq_enter(&self->q[i],
					   MMSB_SQ_ENTER_GETEVENTS, 1,
					   5 * SEC));
		ASSERT_EQ(0, sq_reap(&self->q[i], &cqe));
		EXPECT_EQ(0, cqe.status);
	}
	usleep(100000);
	after = read_ll(self->current);
	TH_LOG("cgroup memory.current: %lld before the child, %lld after",
	       before, after);
	/* The cgroup is empty: at most a few slab pages stay behind. */
	EXPECT_GT(before + 512 * 1024, after)
		TH_LOG("%lld bytes of other files' rounds charged to the "
		       "GETEVENTS caller's cgroup", after - before);
	/* The charge goes when the others' queues do: it is theirs. */
	for (i = 0; i < self->nr; i++) {
		mmsb_sq_unmap(&self->q[i]);
		if (i)
			close(self->fd[i]);
	}
	self->nr = 1;
	self->fd[1] = -1;
	usleep(100000);
	TH_LOG("memory.current once the other queues closed: %lld",
	       read_ll(self->current));
}

TEST_F_TIMEOUT(sq_ticks_memcg, getevents_charges_only_own, 60)
{
	others_then_child(_metadata, self, true);
}

/* The same with DENSE SQEs, applied in place: no round is allocated. */
TEST_F_TIMEOUT(sq_ticks_memcg, getevents_charges_only_own_dense, 60)
{
	others_then_child(_metadata, self, false);
}

/* ------------------------------------------------------------------ */

FIXTURE(sq_ticks) {
	int fd;
};

FIXTURE_SETUP(sq_ticks)
{
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(sq_ticks)
{
	free_all(self->fd);
	close(self->fd);
}

static volatile sig_atomic_t got_sig;

static void on_sig(int sig)
{
	got_sig = sig;
}

/*
 * A child waits in GETEVENTS for more CQEs than will ever come: SIGINT
 * (a handler, no SA_RESTART) makes it return -EINTR with its CQE there;
 * its queue still works after.  Another, SIGKILLed in GETEVENTS, goes
 * with its queue.  Then a fresh queue on the bus works.
 */
TEST_F_TIMEOUT(sq_ticks, getevents_signals, 30)
{
	struct mmsb_page_create pc;
	struct mmsb_sq_handle q;
	struct mmsb_cqe cqe;
	pid_t pid[2];
	int i, k;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	for (k = 0; k < 2; k++) {
		pid[k] = fork();
		ASSERT_LE(0, pid[k]);
		if (!pid[k]) {
			struct sigaction sa = { .sa_handler = on_sig };
			int fd, ret;

			sigaction(SIGINT, &sa, NULL);
			fd = mmsb_open();
			if (fd < 0 || mmsb_sq_setup(fd, 8, 8 * 256, 0, 0, &q))
				_exit(10);
			if (fill(&q, pc.id, PSIZE, 2, 8, k) != 2)
				_exit(11);
			ret = mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 16,
					    ~0ULL);
			if (ret != -EINTR || got_sig != SIGINT)
				_exit(12);
			if (mmsb_sq_cq_ready(&q) != 2)
				_exit(13);
			for (i = 0; i < 2; i++)
				if (sq_reap(&q, &cqe) || cqe.status ||
				    cqe.user_data != (__u64)i)
					_exit(14);
			if (fill(&q, pc.id, PSIZE, 4, 8, k) != 4)
				_exit(15);
			if (mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 4,
					  5 * SEC))
				_exit(16);
			close(fd);
			_exit(0);
		}
	}
	for (k = 0; k < 2; k++)
		ASSERT_EQ(0, sleeping_in_ioctl(pid[k], MMSB_IOC_SQ_ENTER));
	kill(pid[0], SIGINT);
	kill(pid[1], SIGKILL);
	EXPECT_EQ(0, wait_child(pid[0]));
	EXPECT_EQ(256 + SIGKILL, wait_child(pid[1]));
	ASSERT_EQ(0, mmsb_sq_setup(self->fd, 8, 8 * 256, 0, 0, &q));
	ASSERT_EQ(8, fill(&q, pc.id, PSIZE, 8, 8, 9));
	ASSERT_EQ(0, mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 8, 5 * SEC));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, sq_reap(&q, &cqe));
		EXPECT_EQ(0, cqe.status);
	}
	mmsb_sq_unmap(&q);
}

/*
 * Read @len bytes at @off of page @id into @buf (a fresh mapping).
 */
static int page_bytes(int fd, __u64 id, __u64 off, void *buf, size_t len)
{
	const struct mmsb_page_header *hdr;
	int ret;

	ret = mmsb_page_map(fd, id, &hdr);
	if (ret)
		return ret;
	ret = mmsb_page_read(hdr, off, buf, len, NULL);
	mmsb_page_unmap(hdr);
	return ret;
}

/*
 * A flow: one queue (with a poller or not) writing @n SQEs of 8 bytes to
 * its own 512 bytes of @page at @base, SQE i at base + (i % 64) * 8
 * with byte (i & 0xff) repeated; waits for its CQEs in GETEVENTS when
 * @getevents.  Counts CQEs other than 0 in @bad.
 */
struct flow {
	int fd;
	__u64 page, base;
	__u32 n, flags;
	bool getevents;
	struct mmsb_sq_handle q;
	pthread_t thread;
	__u32 done, bad, order;
	int err;
};

static void *flow_fn(void *arg)
{
	struct flow *f = arg;
	struct mmsb_cqe cqe;
	struct mmsb_sqe *s;
	unsigned char *a;
	__u32 i = 0, off;
	int spins = 0;

	while (f->done < f->n) {
		while (i < f->n && (s = mmsb_sq_get_sqe(&f->q))) {
			a = mmsb_sq_arena(&f->q, s, &off);
			memset(a, i & 0xff, 8);
			s->page_id = f->page;
			s->offset = f->base + (i % 64) * 8;
			s->len = 8;
			s->payload_off = off;
			s->payload_len = 8;
			s->user_data = i++;
		}
		if (mmsb_sq_submit(&f->q) < 0) {
			f->err = 1;
			return NULL;
		}
		if (f->getevents) {
			int ret = mmsb_sq_enter(&f->q,
						MMSB_SQ_ENTER_GETEVENTS, 1,
						5 * SEC);
			if (ret) {
				f->err = ret;
				return NULL;
			}
		}
		if (!mmsb_sq_cq_ready(&f->q)) {
			if (++spins > 100000) {
				f->err = -ETIMEDOUT;
				return NULL;
			}
			usleep(50);
			continue;
		}
		spins = 0;
		while (!sq_reap(&f->q, &cqe)) {
			if (cqe.status)
				f->bad++;
			if (cqe.user_data != f->done)
				f->order++;
			f->done++;
		}
	}
	return NULL;
}

static int flow_start(struct flow *f, int fd, __u64 page, __u64 base,
		      __u32 n, __u32 entries, __u32 flags, bool getevents)
{
	int ret;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->page = page;
	f->base = base;
	f->n = n;
	f->getevents = getevents;
	ret = mmsb_sq_setup(fd, entries, entries * 64ULL, flags,
			    flags & MMSB_SQ_POLL ? 1000 : 0, &f->q);
	if (ret)
		return ret;
	return -pthread_create(&f->thread, NULL, flow_fn, f);
}

/* The model of a flow's 512 bytes once all its SQEs applied. */
static void flow_model(const struct flow *f, unsigned char *m)
{
	__u32 i;

	for (i = 0; i < f->n; i++)
		memset(m + (i % 64) * 8, i & 0xff, 8);
}

/*
 * Two queues with pollers and one waiting in GETEVENTS, on one bus, each
 * against a model, while queues (half of them with pollers) are set up,
 * given SQEs and closed with their SQEs in flight, 64 at a time, and
 * children with a polled queue are SIGKILLed mid-flow.
 */
TEST_F_TIMEOUT(sq_ticks, pollers_churn, 60)
{
	struct flow f[3];
	struct mmsb_page_create pc;
	unsigned char got[512], want[512];
	int fds[64], flow_fd[3], i, k, round;
	__u64 page, junk;
	pid_t pid;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	page = pc.id;
	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	junk = pc.id;
	for (k = 0; k < 3; k++) {
		flow_fd[k] = mmsb_open();
		ASSERT_LE(0, flow_fd[k]);
		ASSERT_EQ(0, flow_start(&f[k], flow_fd[k], page, 512 * k,
					20000, 64,
					k < 2 ? MMSB_SQ_POLL : 0, k == 2));
	}
	for (round = 0; round < 8; round++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			struct mmsb_sq_handle q;
			int fd = mmsb_open();

			if (fd < 0 || mmsb_sq_setup(fd, 64, 64 * 64,
						    MMSB_SQ_POLL, 1000, &q))
				_exit(10);
			for (;;) {
				fill(&q, junk, PSIZE, 16, 8, 0);
				while (mmsb_sq_peek_cqe(&q))
					mmsb_sq_cqe_seen(&q);
				usleep(20);
			}
		}
		for (i = 0; i < 64; i++) {
			struct mmsb_sq_handle q;

			fds[i] = mmsb_open();
			ASSERT_LE(0, fds[i]);
			ASSERT_EQ(0, mmsb_sq_setup(fds[i], 16, 16 * 64,
						   i & 1 ? MMSB_SQ_POLL : 0,
						   i & 1 ? 1000 : 0, &q));
			ASSERT_EQ(16, fill(&q, junk, PSIZE, 16, 8, i));
			mmsb_sq_unmap(&q);
			if (i & 2)
				ASSERT_EQ(0, close(fds[i]));
		}
		for (i = 0; i < 64; i++)
			if (!(i & 2))
				ASSERT_EQ(0, close(fds[i]));
		usleep(20000);
		kill(pid, SIGKILL);
		EXPECT_EQ(256 + SIGKILL, wait_child(pid));
	}
	for (k = 0; k < 3; k++) {
		pthread_join(f[k].thread, NULL);
		EXPECT_EQ(0, f[k].err) TH_LOG("flow %d", k);
		EXPECT_EQ(f[k].n, f[k].done) TH_LOG("flow %d", k);
		EXPECT_EQ(0U, f[k].bad) TH_LOG("flow %d", k);
		EXPECT_EQ(0U, f[k].order) TH_LOG("flow %d", k);
	}
	ASSERT_EQ(0, mmsb_flush(self->fd));
	for (k = 0; k < 3; k++) {
		flow_model(&f[k], want);
		ASSERT_EQ(0, page_bytes(self->fd, page, 512 * k, got, 512));
		EXPECT_EQ(0, memcmp(want, got, 512)) TH_LOG("flow %d", k);
		mmsb_sq_unmap(&f[k].q);
		close(flow_fd[k]);
	}
}

/* ------------------------------------------------------------------ */

FIXTURE(sq_ticks_notick_mix) {
	int fd;
};

FIXTURE_SETUP(sq_ticks_notick_mix)
{
	ASSERT_EQ(0, module_reload("tick_us=0"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(sq_ticks_notick_mix)
{
	free_all(self->fd);
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * tick_us=0: four processes wait in GETEVENTS on their own queues (so
 * they run the ticks), two others submit SYNC ioctls to other bytes of
 * the same pages, one adds and removes nothing: every CQE 0, every SYNC
 * applied, the pages as the model says.
 */
TEST_F_TIMEOUT(sq_ticks_notick_mix, getevents_vs_sync, 60)
{
	const __u32 n = 20000, nsync = 2000;
	unsigned char got[512], want[512];
	struct mmsb_page_create pc;
	__u64 page;
	pid_t pid[6];
	int k;
	__u32 i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, PSIZE, 0666, 0, &pc));
	page = pc.id;
	for (k = 0; k < 6; k++) {
		pid[k] = fork();
		ASSERT_LE(0, pid[k]);
		if (pid[k])
			continue;
		if (k < 4) {
			struct flow f;
			int fd = mmsb_open();

			if (fd < 0 || flow_start(&f, fd, page, 512 * k, n, 32,
						 0, true))
				_exit(10);
			pthread_join(f.thread, NULL);
			if (f.err)
				_exit(11);
			if (f.done != n || f.bad || f.order)
				_exit(12);
			_exit(0);
		} else {
			struct mmsb_delta d[8];
			unsigned char b[8][8];
			__u32 acc, app, j;
			int fd = mmsb_open();

			if (fd < 0)
				_exit(20);
			for (i = 0; i < nsync; i++) {
				for (j = 0; j < 8; j++) {
					memset(b[j], (i + j) & 0xff, 8);
					mmsb_delta_dense(&d[j], page,
							 512 * k + ((i * 8 + j) % 64) * 8,
							 b[j], 8);
				}
				if (mmsb_submit_counts(fd, d, 8,
						       MMSB_SUBMIT_SYNC, &acc,
						       &app))
					_exit(21);
				if (acc != 8 || app != 8)
					_exit(22);
			}
			_exit(0);
		}
	}
	for (k = 0; k < 6; k++)
		EXPECT_EQ(0, wait_child(pid[k])) TH_LOG("child %d", k);
	ASSERT_EQ(0, mmsb_flush(self->fd));
	for (k = 0; k < 6; k++) {
		memset(want, 0, sizeof(want));
		if (k < 4) {
			for (i = 0; i < n; i++)
				memset(want + (i % 64) * 8, i & 0xff, 8);
		} else {
			__u32 j;

			for (i = 0; i < nsync; i++)
				for (j = 0; j < 8; j++)
					memset(want + ((i * 8 + j) % 64) * 8,
					       (i + j) & 0xff, 8);
		}
		ASSERT_EQ(0, page_bytes(self->fd, page, 512 * k, got, 512));
		EXPECT_EQ(0, memcmp(want, got, 512)) TH_LOG("writer %d", k);
	}
}

TEST_HARNESS_MAIN
