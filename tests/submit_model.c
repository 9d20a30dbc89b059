// SPDX-License-Identifier: GPL-2.0
/*
 * The submission path against a model: payloads and masks that straddle
 * an unreadable page at every offset around the boundary (DENSE, MASKED,
 * SPARSE, lengths around the 32-byte blocks and the 256-byte word-copy
 * limit), and submissions of 1 to 4096 deltas with refusals of every
 * kind at random positions (chunk boundaries fall anywhere), SYNC or
 * not, atomic or not, by ioctl and io_uring; payloads another thread
 * unmaps and protects meanwhile; descriptor arrays cut by an unreadable
 * page; and parked submissions (signals while waiting for room in a ring
 * of two) with refusals inside.  Every delta's delta_id (base + index +
 * 1 when accepted, 0 when refused), status and epoch, and the pages'
 * bytes are checked exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define PAGE_BYTES	4096
#define NPAGES		3
#define NO_PAGE		0xfffffff0ULL	/* an id no page has */

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct model {
	int fd;
	__u64 page[NPAGES];
	const struct mmsb_page_header *hdr[NPAGES];
	__u8 model[NPAGES][PAGE_BYTES];
	long pg;
	__u8 *mem;		/* readable page, then a PROT_NONE one */
	__u8 *edge;		/* the first byte that cannot be read */
	__u8 *src;		/* a readable pattern of PAGE_BYTES */
};

FIXTURE(sm) {
	struct model m;
};

static void model_setup(struct __test_metadata *_metadata,
			struct model *self)
{
	struct mmsb_page_create pc;
	unsigned int i;

	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	for (i = 0; i < NPAGES; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, PAGE_BYTES, 0, 0, &pc));
		self->page[i] = pc.id;
		ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &self->hdr[i]));
	}
	memset(self->model, 0, sizeof(self->model));
	self->pg = sysconf(_SC_PAGESIZE);
	self->mem = mmap(NULL, 2 * self->pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	for (i = 0; i < self->pg; i++)
		self->mem[i] = i * 7 + 3;
	ASSERT_EQ(0, mprotect(self->mem + self->pg, self->pg, PROT_NONE));
	self->edge = self->mem + self->pg;
	self->src = malloc(PAGE_BYTES);
	ASSERT_NE(NULL, self->src);
	for (i = 0; i < PAGE_BYTES; i++)
		self->src[i] = i * 13 + 5;
}

static void model_teardown(struct model *self)
{
	unsigned int i;

	for (i = 0; i < NPAGES; i++)
		mmsb_page_unmap(self->hdr[i]);
	munmap(self->mem, 2 * self->pg);
	free(self->src);
	close(self->fd);
}

FIXTURE_SETUP(sm)
{
	model_setup(_metadata, &self->m);
}

FIXTURE_TEARDOWN(sm)
{
	model_teardown(&self->m);
}

static const __u8 *data_of(const struct mmsb_page_header *h)
{
	return (const __u8 *)h + MMSB_PAGE_DATA_OFFSET;
}

/* Apply delta @d (its user memory readable) to @page's model bytes. */
static void model_apply(__u8 *page, const struct mmsb_delta *d)
{
	const __u8 *p = (const __u8 *)(uintptr_t)d->payload;
	const __u8 *m = (const __u8 *)(uintptr_t)d->mask;
	__u64 i, k = 0;

	for (i = 0; i < d->len; i++) {
		bool set = d->encoding == MMSB_DELTA_DENSE ||
			   (m[i / 8] >> (i % 8)) & 1;

		if (!set)
			continue;
		if (d->encoding == MMSB_DELTA_SPARSE)
			page[d->offset + i] = p[k++];
		else
			page[d->offset + i] = p[i];
	}
}

static unsigned int popcount(const __u8 *m, unsigned int len)
{
	unsigned int i, n = 0;

	for (i = 0; i < len; i++)
		n += (m[i / 8] >> (i % 8)) & 1;
	return n;
}

/* The index of @id in the fixture's pages. */
static int page_index(struct model *self, __u64 id)
{
	int i;

	for (i = 0; i < NPAGES; i++)
		if (self->page[i] == id)
			return i;
	return -1;
}

/*
 * Check each delta's outputs against @want (0 or -errno) and that the
 * accepted ones have ids base + index + 1 for one base; apply them to
 * the model.  @sync: the epochs are set.
 */
static void check_outputs(struct __test_metadata *_metadata,
			  struct model *self, const struct mmsb_delta *d,
			  const int *want, unsigned int n, bool sync)
{
	__u64 base = 0;
	bool have_base = false;
	unsigned int i;

	for (i = 0; i < n; i++) {
		ASSERT_EQ(want[i], d[i].status) TH_LOG("delta %u of %u", i, n);
		if (want[i]) {
			ASSERT_EQ(0, d[i].delta_id) TH_LOG("delta %u", i);
			ASSERT_EQ(0, d[i].epoch) TH_LOG("delta %u", i);
			continue;
		}
		if (!have_base) {
			ASSERT_GT(d[i].delta_id, i);
			base = d[i].delta_id - i - 1;
			have_base = true;
		}
		ASSERT_EQ(base + i + 1, d[i].delta_id) TH_LOG("delta %u", i);
		ASSERT_EQ(sync, d[i].epoch != 0) TH_LOG("delta %u", i);
		model_apply(self->model[page_index(self, d[i].page_id)], &d[i]);
	}
}

static void check_pages(struct __test_metadata *_metadata,
			struct model *self)
{
	unsigned int i;

	ASSERT_EQ(0, mmsb_flush(self->fd));
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(0, memcmp(self->model[i], data_of(self->hdr[i]),
				    PAGE_BYTES)) TH_LOG("page %u", i);
}

/* A random mask of @len bits, tail clear, at least one bit set. */
static void random_mask(__u8 *m, unsigned int len, __u64 *s)
{
	unsigned int i;

	memset(m, 0, (len + 7) / 8);
	for (i = 0; i < len; i++)
		if (rnd(s) & 1)
			m[i / 8] |= 1 << (i % 8);
	m[0] |= 1;
}

/* Submit @n deltas, check every output and the pages; 0 deltas left. */
static void submit_check(struct __test_metadata *_metadata,
			 struct model *self, struct mmsb_delta *d,
			 const int *want, unsigned int *n, __u32 flags)
{
	if (!*n)
		return;
	ASSERT_EQ(0, mmsb_submit(self->fd, d, *n, flags, NULL));
	check_outputs(_metadata, self, d, want, *n, flags & MMSB_SUBMIT_SYNC);
	check_pages(_metadata, self);
	*n = 0;
}

/*
 * Payloads and masks that end 0..330 bytes past the last readable byte
 * (or fit): -EFAULT exactly when one byte of them cannot be read.
 */
TEST_F(sm, straddle_every_offset)
{
	struct model *mo = &self->m;
	static const unsigned int lens[] = {
		1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 96, 100, 255, 256,
		257, 300,
	};
	const unsigned int max = 4096;
	struct mmsb_delta *d = calloc(max, sizeof(*d));
	int *want = calloc(max, sizeof(*want));
	__u8 *masks = malloc(max * 64);
	__u64 s = 0x1234567;
	unsigned int e, l, k, i, n = 0, round = 0;

	ASSERT_NE(NULL, d);
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, masks);
	for (e = 0; e <= MMSB_DELTA_SPARSE; e++) {
		for (l = 0; l < ARRAY_SIZE(lens); l++) {
			unsigned int len = lens[l], mlen = (len + 7) / 8;

			for (k = 0; k <= len + 30 && k <= 330; k++) {
				/* The payload straddles, not the mask. */
				struct mmsb_delta *x = &d[n];
				__u8 *m = masks + n * 64;
				unsigned int plen = len;

				memset(x, 0, sizeof(*x));
				if (e) {
					random_mask(m, len, &s);
					if (e == MMSB_DELTA_SPARSE)
						plen = popcount(m, len);
					x->mask = (uintptr_t)m;
				}
				x->page_id = mo->page[n % NPAGES];
				x->offset = rnd(&s) % (PAGE_BYTES - len + 1);
				x->len = len;
				x->payload_len = plen;
				x->encoding = e;
				x->payload = (uintptr_t)(mo->edge - k);
				want[n++] = k < plen ? -EFAULT : 0;
				if (n == max)
					submit_check(_metadata, mo, d, want, &n,
						     round++ & 1 ? 0 :
						     MMSB_SUBMIT_SYNC);
				if (!e || k > mlen + 9)
					continue;
				/* The mask straddles, alone in its call. */
				submit_check(_metadata, mo, d, want, &n,
					     MMSB_SUBMIT_SYNC);
				x = &d[0];
				m = masks;
				random_mask(m, len, &s);
				memset(x, 0, sizeof(*x));
				memcpy(mo->edge - k, m, k < mlen ? k : mlen);
				x->page_id = mo->page[k % NPAGES];
				x->offset = rnd(&s) % (PAGE_BYTES - len + 1);
				x->len = len;
				x->payload_len = e == MMSB_DELTA_SPARSE ?
						 popcount(m, len) : len;
				x->encoding = e;
				x->mask = (uintptr_t)(mo->edge - k);
				x->payload = (uintptr_t)(mo->mem + 1024);
				want[0] = k < mlen ? -EFAULT : 0;
				n = 1;
				submit_check(_metadata, mo, d, want, &n,
					     k & 1 ? 0 : MMSB_SUBMIT_SYNC);
				for (i = mo->pg - 400; i < mo->pg; i++)
					mo->mem[i] = i * 7 + 3;
			}
		}
	}
	submit_check(_metadata, mo, d, want, &n, MMSB_SUBMIT_SYNC);
	free(d);
	free(want);
	free(masks);
}

/* Refusals a delta may get at submission, each in its own way. */
enum { GOOD, R_EINVAL, R_ENOENT, R_ERANGE, R_EMSGSIZE, R_EFAULT, R_KINDS };

/*
 * Fill @x as a random delta of kind @kind over the fixture's pages, its
 * payload and mask in @mbuf (64 bytes); returns its status at
 * submission.  @small: payloads of 1 to 16 bytes (many per chunk).
 */
static int random_delta(struct model *self, struct mmsb_delta *x,
			__u8 *mbuf, int kind, bool small, __u64 *s)
{
	unsigned int len = small ? 1 + rnd(s) % 16 : 1 + rnd(s) % 300;
	unsigned int e = rnd(s) % 3, plen = len;

	memset(x, 0, sizeof(*x));
	if (e) {
		random_mask(mbuf, len, s);
		if (e == MMSB_DELTA_SPARSE)
			plen = popcount(mbuf, len);
		x->mask = (uintptr_t)mbuf;
	}
	x->encoding = e;
	x->page_id = self->page[rnd(s) % NPAGES];
	x->offset = rnd(s) % (PAGE_BYTES - len + 1);
	x->len = len;
	x->payload_len = plen;
	x->payload = (uintptr_t)(self->src + rnd(s) % (PAGE_BYTES - plen + 1));
	switch (kind) {
	case R_EINVAL:
		switch (rnd(s) % 5) {
		case 0: x->flags = 1; break;
		case 1: x->pad = 1; break;
		case 2: x->encoding = 3; break;
		case 3: x->len = 0; break;
		default: x->encoding = MMSB_DELTA_DENSE;
			 x->payload_len = len;
			 x->mask = (uintptr_t)mbuf; break;
		}
		return -EINVAL;
	case R_ENOENT:
		x->page_id = NO_PAGE;
		return -ENOENT;
	case R_ERANGE:
		x->offset = PAGE_BYTES - len + 1 + rnd(s) % 8;
		return -ERANGE;
	case R_EMSGSIZE:
		x->payload_len = plen + 1;
		return -EMSGSIZE;
	case R_EFAULT:
		/* plen >= 1: bit 0 of a mask is set. */
		x->payload = (uintptr_t)(self->edge - rnd(s) % plen);
		return -EFAULT;
	}
	return 0;
}

/*
 * Submissions of 1 to 4096 deltas, small and large, a random share of
 * them refused (every kind, anywhere: before, on and after the chunk
 * boundaries), SYNC or not, by ioctl and (the third round) by io_uring:
 * exact outputs and bytes.
 */
TEST_F(sm, refusals_anywhere)
{
	struct model *mo = &self->m;
	static const unsigned int sizes[] = {
		1, 2, 3, 5, 8, 16, 17, 31, 32, 33, 36, 37, 63, 64, 65, 100,
		127, 128, 129, 255, 256, 257, 400, 511, 512, 513, 1000, 1023,
		1024, 1025, 2047, 2048, 2049, 3000, 4095, 4096,
	};
	const unsigned int max = MMSB_SUBMIT_MAX;
	struct mmsb_delta *d = calloc(max, sizeof(*d));
	int *want = calloc(max, sizeof(*want));
	__u8 *mbuf = malloc(max * 64);
	__u64 s = 0xdeadbeef;
	unsigned int z, i, rep, good;
	struct io_uring ring;

	ASSERT_NE(NULL, d);
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, mbuf);
	ASSERT_EQ(0, mmsb_uring_init(mo->fd, &ring, 8, 0));
	for (rep = 0; rep < 3; rep++) {
		for (z = 0; z < ARRAY_SIZE(sizes); z++) {
			unsigned int n = sizes[z];
			/* Refusal share: none, 1 in 40, 1 in 4, all. */
			unsigned int share = (z + rep) % 4;
			bool small = (z + rep) & 1;
			__u32 flags = (z / 2 + rep) & 1 ? MMSB_SUBMIT_SYNC : 0;

			for (i = 0; i < n; i++) {
				int kind = GOOD;

				if ((share == 1 && rnd(&s) % 40 == 0) ||
				    (share == 2 && rnd(&s) % 4 == 0) ||
				    share == 3)
					kind = 1 + rnd(&s) % (R_KINDS - 1);
				want[i] = random_delta(mo, &d[i],
						       mbuf + 64 * i, kind,
						       small, &s);
			}
			if (rep == 2) {
				for (i = 0, good = 0; i < n; i++)
					good += !want[i];
				ASSERT_EQ(good, mmsb_submit_applied(mo->fd,
						&ring, d, n)) TH_LOG("n %u", n);
				flags = MMSB_SUBMIT_SYNC;
			} else {
				ASSERT_EQ(0, mmsb_submit(mo->fd, d, n, flags,
							 NULL));
			}
			check_outputs(_metadata, mo, d, want, n,
				      flags & MMSB_SUBMIT_SYNC);
			check_pages(_metadata, mo);
		}
	}
	io_uring_queue_exit(&ring);
	free(d);
	free(want);
	free(mbuf);
}

/*
 * Atomic submissions with refusals anywhere: all applied, or none, the
 * refused with their own errno and every other -ECANCELED; and one too
 * large for a chunk: every delta -E2BIG.
 */
TEST_F(sm, atomic_refusals)
{
	struct model *mo = &self->m;
	const unsigned int max = 600;
	struct mmsb_delta *d = calloc(max, sizeof(*d));
	int *want = calloc(max, sizeof(*want));
	__u8 *mbuf = malloc(max * 64);
	__u64 s = 0xabcdef12;
	unsigned int rep, i, n;

	ASSERT_NE(NULL, d);
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, mbuf);
	for (rep = 0; rep < 200; rep++) {
		bool bad = false;
		__u32 flags = MMSB_SUBMIT_ATOMIC |
			      (rep & 1 ? MMSB_SUBMIT_SYNC : 0);

		n = 1 + rnd(&s) % 120;
		for (i = 0; i < n; i++) {
			int kind = rep % 3 && rnd(&s) % (n + 2) == 0 ?
				   1 + rnd(&s) % (R_KINDS - 1) : GOOD;

			want[i] = random_delta(mo, &d[i], mbuf + 64 * i,
					       kind, rep & 2, &s);
			bad |= want[i] != 0;
		}
		for (i = 0; bad && i < n; i++)
			if (!want[i])
				want[i] = -ECANCELED;
		ASSERT_EQ(0, mmsb_submit(mo->fd, d, n, flags, NULL));
		check_outputs(_metadata, mo, d, want, n,
			      flags & MMSB_SUBMIT_SYNC);
		check_pages(_metadata, mo);
	}
	/* 600 DENSE deltas of 64 bytes: 72,000 bytes of records. */
	for (i = 0; i < max; i++) {
		mmsb_delta_dense(&d[i], mo->page[i % NPAGES], i, mo->src, 64);
		want[i] = -E2BIG;
	}
	ASSERT_EQ(0, mmsb_submit(mo->fd, d, max, MMSB_SUBMIT_ATOMIC, NULL));
	check_outputs(_metadata, mo, d, want, max, false);
	check_pages(_metadata, mo);
	free(d);
	free(want);
	free(mbuf);
}

/*
 * A ring of two slots, one delta a tick: a long submission waits for
 * room over and over, and signals end those waits.
 */
FIXTURE(park) {
	struct model m;
};

FIXTURE_VARIANT(park) {
	bool restart;	/* SA_RESTART: the call parks and resumes */
	bool sync;
};

FIXTURE_VARIANT_ADD(park, restart_sync) { true, true };
FIXTURE_VARIANT_ADD(park, restart_async) { true, false };
FIXTURE_VARIANT_ADD(park, eintr_sync) { false, true };
FIXTURE_VARIANT_ADD(park, eintr_async) { false, false };

FIXTURE_SETUP(park)
{
	ASSERT_EQ(0, module_reload("ring_size=2 batch_max=1"));
	model_setup(_metadata, &self->m);
}

FIXTURE_TEARDOWN(park)
{
	model_teardown(&self->m);
	EXPECT_EQ(0, module_reload(""));
}

static void on_usr1(int sig)
{
}

#define PARK_COUNT	600

/*
 * A child submits PARK_COUNT deltas, a fifth of them refused, while
 * SIGUSR1 comes every 100 us.  Restarted: each delta ends exactly as
 * without a signal (each its own status, ids base + index + 1).  Not
 * restarted: -EINTR; the accepted ones come first, each delta has its
 * own status or -EINTR, and the pages hold exactly the accepted ones.
 */
TEST_F_TIMEOUT(park, refusals, 120)
{
	struct model *mo = &self->m;
	const size_t size = PARK_COUNT * sizeof(struct mmsb_delta) + 64;
	struct mmsb_delta *d = mmap(NULL, size, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *want = calloc(PARK_COUNT, sizeof(*want));
	__u8 *mbuf = malloc(PARK_COUNT * 64);
	volatile int *out;
	__u64 s = 0x5eed;
	unsigned int i, n = PARK_COUNT, accepted = 0, last_ok = 0;
	unsigned int first_intr = PARK_COUNT, kills = 0;
	int st;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, d);
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, mbuf);
	out = (volatile int *)(d + PARK_COUNT);
	for (i = 0; i < n; i++)
		want[i] = random_delta(mo, &d[i], mbuf + 64 * i,
				       rnd(&s) % 5 ? GOOD :
				       1 + rnd(&s) % (R_KINDS - 1), true, &s);
	out[0] = 1;
	out[3] = 0;
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct sigaction sa = { .sa_handler = on_usr1 };
		__u32 acc = 0;

		sa.sa_flags = variant->restart ? SA_RESTART : 0;
		sigaction(SIGUSR1, &sa, NULL);
		__atomic_store_n(&out[3], 1, __ATOMIC_RELEASE);
		out[1] = mmsb_submit(mo->fd, d, n, variant->sync ?
				     MMSB_SUBMIT_SYNC : 0, &acc);
		out[2] = acc;
		__atomic_store_n(&out[0], 0, __ATOMIC_RELEASE);
		_exit(0);
	}
	/* Its handler first: SIGUSR1 would end it. */
	while (!__atomic_load_n(&out[3], __ATOMIC_ACQUIRE))
		usleep(100);
	/* Not restarted: let some chunks in before the first signal. */
	if (!variant->restart)
		usleep(20000);
	while (__atomic_load_n(&out[0], __ATOMIC_ACQUIRE)) {
		kill(pid, SIGUSR1);
		kills++;
		usleep(100);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	ksft_print_msg("%u signals, ret %d, accepted %d\n", kills, out[1],
		       out[2]);
	/* Whatever is queued applies: one tick a delta here. */
	for (i = 0; i <= n; i++) {
		struct mmsb_stats stats;

		ASSERT_EQ(0, mmsb_stats(mo->fd, &stats));
		if (!stats.ring_depth)
			break;
		ASSERT_EQ(0, mmsb_flush(mo->fd));
	}
	if (variant->restart || !out[1]) {
		ASSERT_EQ(0, out[1]);
		for (i = 0; i < n; i++)
			accepted += !want[i];
		ASSERT_EQ(accepted, out[2]);
		/* Epochs: only a SYNC call that ran the ticks has them. */
		for (i = 0; i < n; i++)
			if (!want[i] && variant->sync)
				ASSERT_NE(0, d[i].epoch);
		if (variant->sync)
			check_outputs(_metadata, mo, d, want, n, true);
		else
			check_outputs(_metadata, mo, d, want, n, false);
		check_pages(_metadata, mo);
		goto out;
	}
	ASSERT_EQ(-EINTR, out[1]);
	for (i = 0; i < n; i++) {
		if (d[i].status == -EINTR) {
			if (first_intr == PARK_COUNT)
				first_intr = i;
			ASSERT_EQ(0, d[i].delta_id);
			continue;
		}
		ASSERT_EQ(want[i], d[i].status) TH_LOG("delta %u", i);
		if (!want[i]) {
			accepted++;
			last_ok = i;
		}
	}
	ASSERT_EQ(accepted, out[2]);
	if (accepted)
		ASSERT_LT(last_ok, first_intr);
	/* The accepted ones as the model; the others as if refused. */
	for (i = 0; i < n; i++)
		if (d[i].status == -EINTR)
			want[i] = -EINTR;
	for (i = 0; i < n; i++)
		if (!want[i] && variant->sync && d[i].epoch)
			break;
	/* A SYNC call cut short reports epochs of all or none. */
	check_outputs(_metadata, mo, d, want, n, variant->sync && i < n);
	check_pages(_metadata, mo);
out:
	munmap(d, size);
	free(want);
	free(mbuf);
}

/*
 * A descriptor array whose last element is cut by an unreadable page at
 * each of its bytes, or that is read-only: -EFAULT, and nothing applied.
 */
TEST_F(sm, descriptor_straddles)
{
	struct model *mo = &self->m;
	const size_t sz = sizeof(struct mmsb_delta);
	unsigned int cut, i, n = 3;
	struct mmsb_delta *d;

	for (cut = 0; cut < sz; cut++) {
		d = (struct mmsb_delta *)(mo->edge - (n - 1) * sz - cut);
		for (i = 0; i < n - 1; i++)
			mmsb_delta_dense(&d[i], mo->page[0], i, mo->src, 8);
		/* What fits of the last one. */
		memset(&d[n - 1], 0, cut);
		if (cut >= 8)
			memcpy(&d[n - 1], &mo->page[0], 8);
		ASSERT_EQ(-EFAULT, mmsb_submit(mo->fd, d, n, MMSB_SUBMIT_SYNC,
					       NULL)) TH_LOG("cut %u", cut);
	}
	/* Readable, not writable: the outputs cannot be written. */
	d = (struct mmsb_delta *)mo->mem;
	for (i = 0; i < n; i++)
		mmsb_delta_dense(&d[i], mo->page[1], 8 * i, mo->src, 8);
	ASSERT_EQ(0, mprotect(mo->mem, mo->pg, PROT_READ));
	ASSERT_EQ(-EFAULT, mmsb_submit(mo->fd, d, n, 0, NULL));
	ASSERT_EQ(-EFAULT, mmsb_submit(mo->fd, d, n, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, mprotect(mo->mem, mo->pg, PROT_READ | PROT_WRITE));
	check_pages(_metadata, mo);
	for (i = 0; i < mo->pg; i++)
		mo->mem[i] = i * 7 + 3;
}

struct vanish {
	__u8 *mem;		/* two system pages of a file */
	long pg;
	int file;		/* its file */
	volatile int stop;
};

/* Take the second page away and back, every way there is. */
static void *vanisher(void *arg)
{
	struct vanish *v = arg;
	__u8 *b = v->mem + v->pg;
	unsigned int i;

	for (i = 0; !v->stop; i++) {
		switch (i % 4) {
		case 0:
			mprotect(b, v->pg, PROT_NONE);
			break;
		case 1:
			mprotect(b, v->pg, PROT_READ);
			break;
		case 2:
			munmap(b, v->pg);
			break;
		default:
			if (mmap(b, v->pg, PROT_READ, MAP_SHARED | MAP_FIXED,
				 v->file, v->pg) == MAP_FAILED)
				abort();
			break;
		}
	}
	if (mmap(b, v->pg, PROT_READ, MAP_SHARED | MAP_FIXED, v->file,
		 v->pg) == MAP_FAILED)
		abort();
	return NULL;
}

/*
 * Payloads and masks in a page that another thread unmaps, maps again,
 * makes unreadable and readable again while SUBMITs read them: each
 * delta is applied whole (status 0) or refused with -EFAULT, and the
 * pages hold exactly the applied ones (the bytes never change).
 */
TEST_F(sm, payload_vanishes)
{
	struct model *mo = &self->m;
	const unsigned int n = 64;
	struct mmsb_delta d[64];
	int want[64];
	struct vanish v = { .pg = mo->pg };
	pthread_t th;
	__u64 s = 0x77;
	unsigned int i, r, faults = 0, ok = 0;

	/* A file, not a memfd: the debug kernel has no memfd_create(). */
	v.file = open("/tmp/submit_model.payload",
		       O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, v.file);
	ASSERT_EQ(0, unlink("/tmp/submit_model.payload"));
	ASSERT_EQ(0, ftruncate(v.file, 2 * v.pg));
	v.mem = mmap(NULL, 2 * v.pg, PROT_READ | PROT_WRITE, MAP_SHARED,
		     v.file, 0);
	ASSERT_NE(MAP_FAILED, v.mem);
	for (i = 0; i < 2 * v.pg; i++)
		v.mem[i] = i * 11 + 1;
	ASSERT_EQ(0, mprotect(v.mem + v.pg, v.pg, PROT_READ));
	ASSERT_EQ(0, pthread_create(&th, NULL, vanisher, &v));
	for (r = 0; r < 400; r++) {
		for (i = 0; i < n; i++) {
			unsigned int len = 1 + rnd(&s) % 300;
			unsigned int e = rnd(&s) % 3;
			/* From 300 bytes before the page to inside it. */
			__u8 *p = v.mem + v.pg - 300 + rnd(&s) % 400;
			__u8 *mask = v.mem + v.pg - 64 + rnd(&s) % 80;

			memset(&d[i], 0, sizeof(d[i]));
			d[i].page_id = mo->page[rnd(&s) % NPAGES];
			d[i].offset = rnd(&s) % (PAGE_BYTES - len + 1);
			d[i].len = len;
			d[i].encoding = e;
			d[i].payload = (uintptr_t)p;
			d[i].payload_len = len;
			if (e) {
				/* The file's bytes as the mask, whole bytes. */
				len = (len + 7) & ~7U;
				d[i].len = len;
				d[i].offset = rnd(&s) % (PAGE_BYTES - len + 1);
				d[i].payload_len = len;
				d[i].mask = (uintptr_t)mask;
			}
			/* SPARSE would need the mask's bits: MASKED. */
			if (e == MMSB_DELTA_SPARSE)
				d[i].encoding = MMSB_DELTA_MASKED;
		}
		ASSERT_EQ(0, mmsb_submit(mo->fd, d, n,
					 r & 1 ? MMSB_SUBMIT_SYNC : 0, NULL));
		for (i = 0; i < n; i++) {
			if (d[i].status == -EFAULT) {
				faults++;
				want[i] = -EFAULT;
				continue;
			}
			ASSERT_EQ(0, d[i].status) TH_LOG("delta %u", i);
			want[i] = 0;
			ok++;
		}
		/* The model reads the bytes: the page readable meanwhile. */
		v.stop = 1;
		pthread_join(th, NULL);
		check_outputs(_metadata, mo, d, want, n, r & 1);
		check_pages(_metadata, mo);
		v.stop = 0;
		ASSERT_EQ(0, pthread_create(&th, NULL, vanisher, &v));
	}
	v.stop = 1;
	pthread_join(th, NULL);
	ksft_print_msg("%u applied, %u -EFAULT\n", ok, faults);
	ASSERT_NE(0, ok);
	ASSERT_NE(0, faults);
	munmap(v.mem, 2 * v.pg);
	close(v.file);
}

TEST_HARNESS_MAIN
