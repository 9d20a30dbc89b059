// SPDX-License-Identifier: GPL-2.0
/*
 * Atomic chains in the mapped queue (MMSB_SQE_ATOMIC), from a hostile
 * user space: chains against a model (wrap-around, other encodings,
 * faults inside), lengths around the limits, a CQ without room, a tick
 * queue smaller than a chain, chains that never end.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

#define NP	8	/* pages */
#define PS	64	/* their size */

struct env {
	int fd;
	__u64 ids[NP];
	const struct mmsb_page_header *hdr[NP];
};

static int env_open(struct env *v)
{
	struct mmsb_page_create pc;
	int i;

	memset(v, 0, sizeof(*v));
	v->fd = mmsb_open();
	if (v->fd < 0)
		return -1;
	for (i = 0; i < NP; i++) {
		if (mmsb_page_create(v->fd, PS, 0644, 0, &pc))
			return -1;
		v->ids[i] = pc.id;
		if (mmsb_page_map(v->fd, pc.id, &v->hdr[i]))
			return -1;
	}
	return 0;
}

static void env_close(struct env *v)
{
	int i;

	for (i = 0; i < NP; i++)
		if (v->hdr[i])
			mmsb_page_unmap(v->hdr[i]);
	free_all(v->fd);
	close(v->fd);
}

/* Wait up to @ms for a CQE; -ETIMEDOUT if none. */
static int reap_ms(struct mmsb_sq_handle *q, struct mmsb_cqe *out, int ms)
{
	int i;

	for (i = 0; i < ms * 10; i++) {
		if (!sq_reap(q, out))
			return 0;
		usleep(100);
	}
	return -ETIMEDOUT;
}

/*
 * A chain of @n 8-byte SQEs (user_data @base + i) in an SQ of 8192, then
 * one plain SQE: each of the chain's CQEs says @want (0: all applied),
 * and the plain SQE after it applies.
 */
static void chain_len(struct __test_metadata *_metadata, struct env *v,
		      struct mmsb_sq_handle *q, int n, int want)
{
	__u64 val = n, e0 = v->hdr[1]->epoch, e1 = v->hdr[2]->epoch;
	int i, bad = 0, ok = 0, tail_ok = 0;
	struct mmsb_cqe c;

	for (i = 0; i < n; i++)
		ASSERT_EQ(0, sq_put(q, v->ids[1], 0, &val, 8, 0, i, i < n - 1));
	ASSERT_EQ(0, sq_put(q, v->ids[2], 8, &val, 8, 0, 1000000, 0));
	ASSERT_EQ(n + 1, mmsb_sq_submit(q));
	for (i = 0; i <= n; i++) {
		ASSERT_EQ(0, reap_ms(q, &c, 5000)) {
			TH_LOG("chain of %d: %d CQEs of %d", n, i, n + 1);
		}
		if (c.user_data == 1000000) {
			tail_ok += !c.status;
			continue;
		}
		if (c.status == want)
			ok++;
		else if (bad++ < 3)
			TH_LOG("chain of %d: SQE %llu status %d", n,
			       (unsigned long long)c.user_data, c.status);
	}
	EXPECT_EQ(n, ok);
	EXPECT_EQ(1, tail_ok);
	EXPECT_EQ(0, mmsb_sq_cq_ready(q));
	ASSERT_EQ(0, mmsb_flush(v->fd));
	EXPECT_EQ(e0 + !want, v->hdr[1]->epoch);
	EXPECT_EQ(e1 + 1, v->hdr[2]->epoch);
}

/* Chains of 2, 480, 4095, 4096, 4097 SQEs, and one filling a small SQ. */
TEST(lengths)
{
	struct mmsb_sq_handle q;
	struct env v;
	__u64 val = 7, got;
	struct mmsb_cqe c;
	int i;

	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 8192, 8192 * 8, 0, 0, &q));
	chain_len(_metadata, &v, &q, 2, 0);
	chain_len(_metadata, &v, &q, 4095, -E2BIG);
	chain_len(_metadata, &v, &q, 4096, -E2BIG);
	chain_len(_metadata, &v, &q, 4097, -E2BIG);
	chain_len(_metadata, &v, &q, 8000, -E2BIG);
	chain_len(_metadata, &v, &q, 3, 0);
	mmsb_sq_unmap(&q);
	env_close(&v);

	/* A chain exactly as long as the SQ: one tick, whole. */
	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 8, 8 * 8, 0, 0, &q));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[i], 0, &val, 8, 0, i, i < 7));
	ASSERT_EQ(8, mmsb_sq_submit(&q));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, reap_ms(&q, &c, 5000));
		EXPECT_EQ(0, c.status);
		EXPECT_EQ(1, c.epoch);
	}
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(0, mmsb_page_read(v.hdr[i], 0, &got, 8, NULL));
		EXPECT_EQ(val, got);
	}
	mmsb_sq_unmap(&q);
	env_close(&v);
}

/*
 * A chain that waits for CQ room: with one slot short it is not taken,
 * not even in part; with room it goes whole.
 */
TEST(cq_room)
{
	struct mmsb_sq_handle q;
	struct mmsb_cqe c;
	struct env v;
	__u64 val = 3;
	int i;

	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 8, 8 * 8, 0, 0, &q));
	/* 12 CQEs left unread: room for 4. */
	for (i = 0; i < 12; i++) {
		ASSERT_EQ(0, sq_put(&q, v.ids[0], 0, &val, 8, 0, 100 + i, 0));
		if (i == 7 || i == 11) {
			ASSERT_EQ(i == 7 ? 8 : 4, mmsb_sq_submit(&q));
			ASSERT_EQ(0, mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS,
						   i + 1, 5000000000ULL));
		}
	}
	/* A chain of 5 over 5 pages. */
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[1 + i], 0, &val, 8, 0, i, i < 4));
	ASSERT_EQ(5, mmsb_sq_submit(&q));
	ASSERT_EQ(0, mmsb_flush(v.fd));
	ASSERT_EQ(-ETIMEDOUT, mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 13,
					    20000000ULL));
	ASSERT_EQ(0, mmsb_flush(v.fd));
	EXPECT_EQ(12, mmsb_sq_cq_ready(&q));
	for (i = 1; i <= 5; i++)
		EXPECT_EQ(0, v.hdr[i]->epoch);
	/* One read: room for 5. */
	ASSERT_EQ(0, sq_reap(&q, &c));
	ASSERT_EQ(0, mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 16,
				   5000000000ULL));
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, sq_reap(&q, &c));
		EXPECT_EQ(0, c.status);
	}
	for (i = 1; i <= 5; i++)
		EXPECT_EQ(1, v.hdr[i]->epoch);
	mmsb_sq_unmap(&q);
	env_close(&v);
}

/*
 * Two SQEs of a chain on one page, both expecting its epoch: the second
 * is stale (the first changes the page first), the first cancelled.
 * The second expecting any epoch: both apply, the epoch rises once.
 */
TEST(same_page)
{
	struct mmsb_sq_handle q;
	struct mmsb_cqe c[2], t;
	__u64 a = 0x1111, b = 0x2222, got;
	struct env v;
	int i;

	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 16, 16 * 8, 0, 0, &q));
	ASSERT_EQ(0, sq_put(&q, v.ids[0], 0, &a, 8, 0, 9, 0));
	ASSERT_EQ(1, mmsb_sq_submit(&q));
	ASSERT_EQ(0, reap_ms(&q, &t, 5000));
	ASSERT_EQ(1, v.hdr[0]->epoch);

	ASSERT_EQ(0, sq_put(&q, v.ids[0], 8, &b, 8, 1, 0, 1));
	ASSERT_EQ(0, sq_put(&q, v.ids[0], 16, &b, 8, 1, 1, 0));
	ASSERT_EQ(2, mmsb_sq_submit(&q));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, reap_ms(&q, &t, 5000));
		ASSERT_GT(2, t.user_data);
		c[t.user_data] = t;
	}
	EXPECT_EQ(-ECANCELED, c[0].status);
	EXPECT_EQ(-ESTALE, c[1].status);
	EXPECT_EQ(0, c[0].epoch);
	EXPECT_EQ(0, c[1].epoch);
	ASSERT_EQ(0, mmsb_flush(v.fd));
	EXPECT_EQ(1, v.hdr[0]->epoch);
	EXPECT_EQ(0, mmsb_page_read(v.hdr[0], 8, &got, 8, NULL));
	EXPECT_EQ(0, got);

	ASSERT_EQ(0, sq_put(&q, v.ids[0], 8, &b, 8, 1, 0, 1));
	ASSERT_EQ(0, sq_put(&q, v.ids[0], 16, &b, 8, 0, 1, 0));
	ASSERT_EQ(2, mmsb_sq_submit(&q));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, reap_ms(&q, &t, 5000));
		ASSERT_GT(2, t.user_data);
		c[t.user_data] = t;
	}
	EXPECT_EQ(0, c[0].status);
	EXPECT_EQ(0, c[1].status);
	EXPECT_EQ(2, c[0].epoch);
	EXPECT_EQ(2, c[1].epoch);
	EXPECT_EQ(2, v.hdr[0]->epoch);
	EXPECT_EQ(0, mmsb_page_read(v.hdr[0], 16, &got, 8, NULL));
	EXPECT_EQ(b, got);
	mmsb_sq_unmap(&q);
	env_close(&v);
}

/*
 * Random groups (a chain of 1 to 12 SQEs, across the wrap of an SQ of
 * 16) of DENSE, MASKED and SPARSE SQEs, some out of their page: a group
 * with a faulty SQE is refused whole (its own errno, the others
 * -ECANCELED, no id, no epoch), else applies whole in one tick; pages
 * and epochs follow the model.
 */
TEST(model)
{
	unsigned char model[NP][PS], buf[PS];
	__u64 epoch[NP] = { 0 };
	struct mmsb_sq_handle q;
	struct mmsb_cqe c[16], t;
	int pg[16], badsqe[16];
	__u32 seed = 12345;
	struct env v;
	int g, i, k;

	ASSERT_EQ(0, env_open(&v));
	memset(model, 0, sizeof(model));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 16, 16 * 32, 0, 0, &q));
	for (g = 0; g < 400; g++) {
		int n = 1 + xorshift32(&seed) % 12, bad = 0;
		struct mmsb_delta d[16];
		unsigned char pay[16][16], msk[16];

		for (i = 0; i < n; i++) {
			struct mmsb_sqe *s = mmsb_sq_get_sqe(&q);
			__u32 aoff, len = 1 + xorshift32(&seed) % 8, off;
			unsigned char *a;
			int enc = xorshift32(&seed) % 3, j, bits = 0;

			ASSERT_NE(NULL, s);
			a = mmsb_sq_arena(&q, s, &aoff);
			pg[i] = xorshift32(&seed) % NP;
			off = xorshift32(&seed) % (PS - len + 1);
			badsqe[i] = xorshift32(&seed) % 16 == 0;
			if (badsqe[i]) {
				off = PS - len + 1;
				bad = 1;
			}
			/* Bit 0 set, none past the window. */
			msk[i] = (xorshift32(&seed) | 1) & ((1u << len) - 1);
			for (j = 0; j < (int)len; j++) {
				pay[i][j] = xorshift32(&seed);
				bits += !!(msk[i] & (1 << j));
			}
			memset(&d[i], 0, sizeof(d[i]));
			d[i].offset = off;
			d[i].len = len;
			d[i].encoding = enc;
			d[i].payload = (uintptr_t)pay[i];
			d[i].mask = (uintptr_t)&msk[i];
			memcpy(a, pay[i], len);
			a[16] = msk[i];
			*s = (struct mmsb_sqe){
				.page_id = v.ids[pg[i]],
				.user_data = i,
				.offset = off,
				.len = len,
				.payload_off = aoff,
				.payload_len = enc == MMSB_DELTA_SPARSE ? bits : len,
				.mask_off = enc ? aoff + 16 : 0,
				.encoding = enc,
				.flags = i < n - 1 ? MMSB_SQE_ATOMIC : 0,
			};
			if (enc == MMSB_DELTA_SPARSE) {
				/* The packed payload of the set bits. */
				for (j = 0, k = 0; j < (int)len; j++)
					if (msk[i] & (1 << j))
						a[k++] = pay[i][j];
				memset(pay[i], 0, sizeof(pay[i]));
				memcpy(pay[i], a, k);
			}
		}
		ASSERT_EQ(n, mmsb_sq_submit(&q));
		for (i = 0; i < n; i++) {
			ASSERT_EQ(0, reap_ms(&q, &t, 5000)) {
				TH_LOG("group %d: %d CQEs of %d", g, i, n);
			}
			ASSERT_GT((__u64)n, t.user_data);
			c[t.user_data] = t;
		}
		if (bad) {
			for (i = 0; i < n; i++) {
				EXPECT_EQ(badsqe[i] ? -ERANGE : -ECANCELED,
					  c[i].status) {
					TH_LOG("group %d (%d SQEs) SQE %d", g, n, i);
				}
				EXPECT_EQ(0, c[i].delta_id);
				EXPECT_EQ(0, c[i].epoch);
			}
		} else {
			int touched[NP] = { 0 };

			for (i = 0; i < n; i++) {
				touched[pg[i]] = 1;
				delta_model_apply(model[pg[i]], &d[i]);
			}
			for (k = 0; k < NP; k++)
				epoch[k] += touched[k];
			for (i = 0; i < n; i++) {
				EXPECT_EQ(0, c[i].status) {
					TH_LOG("group %d (%d SQEs) SQE %d", g, n, i);
				}
				EXPECT_EQ(epoch[pg[i]], c[i].epoch);
				EXPECT_NE(0, c[i].delta_id);
			}
		}
		for (k = 0; k < NP; k++) {
			EXPECT_EQ(epoch[k], v.hdr[k]->epoch);
			EXPECT_EQ(0, mmsb_page_read(v.hdr[k], 0, buf, PS, NULL));
			EXPECT_EQ(0, memcmp(buf, model[k], PS)) {
				TH_LOG("group %d: page %d differs", g, k);
			}
		}
		if (_metadata->exit_code)
			break;
	}
	mmsb_sq_unmap(&q);
	env_close(&v);
}

/*
 * Chains whose last SQE never comes: the file closed, the process
 * killed; the queue's memory goes (delta_bytes back where it was).
 */
TEST(never_ends)
{
	struct mmsb_sq_handle q;
	__u64 base, val = 1;
	struct env v;
	pid_t pid;
	int fd, i, st;

	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_flush(v.fd));
	base = delta_bytes_settle(v.fd, delta_bytes(v.fd));
	fd = mmsb_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mmsb_sq_setup(fd, 64, 64 * 8, MMSB_SQ_POLL, 10, &q));
	for (i = 0; i < 40; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[i % NP], 0, &val, 8, 0, i, 1));
	ASSERT_EQ(40, mmsb_sq_submit(&q));
	ASSERT_EQ(0, mmsb_flush(fd));
	ASSERT_EQ(-ETIMEDOUT, mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 1,
					    20000000ULL));
	mmsb_sq_unmap(&q);
	close(fd);
	EXPECT_EQ(base, delta_bytes_settle(v.fd, base));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fd = mmsb_open();
		if (fd < 0 || mmsb_sq_setup(fd, 4096, 4096 * 8, 0, 0, &q))
			_exit(1);
		for (i = 0; i < 4096; i++)
			sq_put(&q, v.ids[i % NP], 0, &val, 8, 0, i, 1);
		mmsb_sq_submit(&q);
		/* The rest of a chain over the SQ: refused as it comes. */
		for (;;) {
			struct mmsb_sqe *s = mmsb_sq_get_sqe(&q);

			if (s) {
				mmsb_sq_prep_dense(&q, s, v.ids[0], 0, &val,
						   8, 0);
				s->flags = MMSB_SQE_ATOMIC;
				mmsb_sq_submit(&q);
			}
			mmsb_sq_cq_advance(&q, mmsb_sq_cq_ready(&q));
		}
	}
	usleep(300000);
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(base, delta_bytes_settle(v.fd, base));
	for (i = 0; i < NP; i++)
		EXPECT_EQ(0, v.hdr[i]->epoch);
	env_close(&v);
}

/*
 * A chain longer than the tick's queue (ring_size=16), but within a
 * chunk, batch_max and 4,096: as an MMSB_SUBMIT_ATOMIC submission of
 * that many deltas is, it is refused with -E2BIG (mmsb_tick_atomic_max()
 * counts the ring), rather than wait for room the queue never has
 * while every SQE after it waits too.
 */
TEST(chain_over_tick_queue)
{
	struct mmsb_sq_handle q;
	struct mmsb_delta d[32];
	struct mmsb_submit sub;
	struct mmsb_cqe c;
	__u64 val = 5;
	struct env v;
	int i, big = 0, ok = 0, got = 0;

	ASSERT_EQ(0, module_reload("ring_size=16"));
	ASSERT_EQ(0, env_open(&v));
	/* The ioctl's rule, for reference. */
	for (i = 0; i < 32; i++)
		mmsb_delta_dense(&d[i], v.ids[i % NP], 0, &val, 8);
	memset(&sub, 0, sizeof(sub));
	sub.deltas = (uintptr_t)d;
	sub.count = 32;
	sub.flags = MMSB_SUBMIT_ATOMIC;
	ioctl(v.fd, MMSB_IOC_SUBMIT, &sub);
	EXPECT_EQ(-E2BIG, d[0].status);
	EXPECT_EQ(-E2BIG, d[31].status);

	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 64, 64 * 8, 0, 0, &q));
	for (i = 0; i < 32; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[i % NP], 0, &val, 8, 0, i, i < 31));
	ASSERT_EQ(0, sq_put(&q, v.ids[0], 8, &val, 8, 0, 99, 0));
	ASSERT_EQ(33, mmsb_sq_submit(&q));
	for (i = 0; i < 33; i++) {
		if (reap_ms(&q, &c, 3000))
			break;
		got++;
		if (c.user_data == 99)
			ok += !c.status;
		else
			big += c.status == -E2BIG;
	}
	EXPECT_EQ(33, got);
	EXPECT_EQ(32, big);
	EXPECT_EQ(1, ok);
	mmsb_sq_unmap(&q);
	env_close(&v);
	EXPECT_EQ(0, module_reload(""));
}

/* An SQ of one entry: any chain is longer than the SQ, -E2BIG to its last. */
TEST(sq_of_one)
{
	struct mmsb_sq_handle q;
	struct mmsb_cqe c;
	struct env v;
	__u64 val = 9, base;
	int i, fd;

	ASSERT_EQ(0, env_open(&v));
	base = delta_bytes(v.fd);
	fd = mmsb_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mmsb_sq_setup(fd, 1, 8, 0, 0, &q));
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, sq_put(&q, v.ids[0], 0, &val, 8, 0, i, i < 3));
		ASSERT_EQ(1, mmsb_sq_submit(&q));
		ASSERT_EQ(0, reap_ms(&q, &c, 5000));
		EXPECT_EQ((__u64)i, c.user_data);
		/* 0 to 3: the chain, refused; 4 applies. */
		EXPECT_EQ(i < 4 ? -E2BIG : 0, c.status);
		while (__atomic_load_n(&q.ring->sq_head, __ATOMIC_ACQUIRE) !=
		       q.tail)
			usleep(100);
	}
	EXPECT_EQ(1, v.hdr[0]->epoch);
	mmsb_sq_unmap(&q);
	close(fd);
	EXPECT_EQ(base, delta_bytes_settle(v.fd, base));
	env_close(&v);
}

/*
 * batch_max=4, tick_us=0: a chain of 4 SQEs on one page, behind 3
 * deltas queued by the ioctl, still applies in one tick (the page's
 * epoch rises once, every CQE names it); a chain of 5 is -E2BIG.
 */
TEST(batch_max_chain)
{
	struct mmsb_sq_handle q;
	struct mmsb_delta d[3];
	struct mmsb_submit sub;
	struct mmsb_cqe c;
	__u64 val = 4;
	struct env v;
	int i, r;

	ASSERT_EQ(0, module_reload("batch_max=4 tick_us=0"));
	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 16, 16 * 8, 0, 0, &q));
	for (r = 0; r < 20; r++) {
		__u64 e = v.hdr[1]->epoch;

		for (i = 0; i < 3; i++)
			mmsb_delta_dense(&d[i], v.ids[0], 8 * i, &val, 8);
		memset(&sub, 0, sizeof(sub));
		sub.deltas = (uintptr_t)d;
		sub.count = 3;
		ASSERT_EQ(0, ioctl(v.fd, MMSB_IOC_SUBMIT, &sub));
		for (i = 0; i < 4; i++)
			ASSERT_EQ(0, sq_put(&q, v.ids[1], 8 * i, &val, 8, 0, i,
					 i < 3));
		ASSERT_EQ(4, mmsb_sq_submit(&q));
		ASSERT_EQ(4, mmsb_sq_enter(&q, MMSB_SQ_ENTER_SUBMIT |
					   MMSB_SQ_ENTER_GETEVENTS, 4,
					   5000000000ULL));
		for (i = 0; i < 4; i++) {
			ASSERT_EQ(0, sq_reap(&q, &c));
			EXPECT_EQ(0, c.status);
			EXPECT_EQ(e + 1, c.epoch);
		}
		EXPECT_EQ(e + 1, v.hdr[1]->epoch);
	}
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[2], 8 * i, &val, 8, 0, i, i < 4));
	ASSERT_EQ(5, mmsb_sq_submit(&q));
	ASSERT_EQ(0, mmsb_sq_enter(&q, MMSB_SQ_ENTER_GETEVENTS, 5,
				   5000000000ULL));
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, sq_reap(&q, &c));
		EXPECT_EQ(-E2BIG, c.status);
	}
	EXPECT_EQ(0, v.hdr[2]->epoch);
	mmsb_sq_unmap(&q);
	env_close(&v);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * Chains of two pages while another thread frees the first: each chain
 * applies whole, or the freed page's SQE says -ENOENT (freed before it
 * was consumed) or -EIDRM (before its tick) and the other -ECANCELED.
 */
TEST(freed_page_race)
{
	struct mmsb_page_create pc;
	struct mmsb_sq_handle q;
	struct mmsb_cqe c[2], t;
	struct env v;
	__u64 val = 1;
	int r, i, whole = 0, none = 0;
	pid_t pid;

	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 16, 16 * 8, MMSB_SQ_POLL, 0, &q));
	for (r = 0; r < 200; r++) {
		ASSERT_EQ(0, mmsb_page_create(v.fd, PS, 0644, 0, &pc));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			usleep(r % 50);
			_exit(mmsb_page_free(v.fd, pc.id) ? 1 : 0);
		}
		ASSERT_EQ(0, sq_put(&q, pc.id, 0, &val, 8, 0, 0, 1));
		ASSERT_EQ(0, sq_put(&q, v.ids[0], 0, &val, 8, 0, 1, 0));
		ASSERT_EQ(2, mmsb_sq_submit(&q));
		for (i = 0; i < 2; i++) {
			ASSERT_EQ(0, reap_ms(&q, &t, 5000));
			ASSERT_GT(2, t.user_data);
			c[t.user_data] = t;
		}
		ASSERT_EQ(0, wait_child(pid));
		if (!c[0].status && !c[1].status) {
			whole++;
			continue;
		}
		none++;
		EXPECT_TRUE(c[0].status == -ENOENT || c[0].status == -EIDRM) {
			TH_LOG("round %d: %d %d", r, c[0].status, c[1].status);
		}
		EXPECT_EQ(-ECANCELED, c[1].status);
	}
	EXPECT_EQ(whole, v.hdr[0]->epoch);
	TH_LOG("%d whole, %d refused", whole, none);
	mmsb_sq_unmap(&q);
	env_close(&v);
}

/*
 * Flags flipped on published SQEs by another thread while the kernel
 * consumes them.  Each group is U (plain, its flag flipped), then the
 * stable chain A B C (value r into pages 1 to 3), then W (plain,
 * flipped).  U and W may join chains or be refused (-EINVAL: a flag
 * that came after the kernel saw where its round ends) but A B C, whose
 * flags never change, apply whole in one tick: every CQE once, pages 1
 * to 3 always equal in a snapshot of the bus.
 */
struct flip {
	struct mmsb_sq_handle *q;
	const struct mmsb_bus_header *bus;
	const struct mmsb_page_header **hdr;
	pthread_mutex_t lock;	/* the writer's SQE writes vs the flips */
	volatile int stop;
	int torn;
};

static void *flipper(void *arg)
{
	struct flip *f = arg;
	__u32 seed = 7;

	while (!f->stop) {
		__u32 mask = f->q->entries - 1, k;
		struct mmsb_sqe *s;

		pthread_mutex_lock(&f->lock);
		/* Published SQEs only (a consumed one is never rewritten here). */
		for (k = 0; k < 64; k++) {
			s = &f->q->sqes[xorshift32(&seed) & mask];
			/* Only U and W: odd user_data. */
			if (__atomic_load_n(&s->user_data, __ATOMIC_RELAXED) & 1)
				__atomic_fetch_xor(&s->flags, MMSB_SQE_ATOMIC,
						   __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

static void *snapper(void *arg)
{
	struct flip *f = arg;
	struct mmsb_snapshot_item it[3];
	__u64 v[3];
	int k;

	while (!f->stop) {
		for (k = 0; k < 3; k++)
			it[k] = (struct mmsb_snapshot_item){
				.page = f->hdr[1 + k], .off = 0, .len = 8,
				.buf = &v[k] };
		if (mmsb_snapshot(f->bus, it, 3))
			continue;
		if (v[0] != v[1] || v[1] != v[2])
			f->torn++;
	}
	return NULL;
}

TEST(flags_flipped)
{
	const struct mmsb_bus_header *bus;
	static int seen[4 * 3000 + 8];
	struct mmsb_sq_handle q;
	pthread_t th[2];
	struct flip f;
	struct mmsb_cqe c;
	struct env v;
	int r, i, got = 0, bad = 0, uw_bad = 0, abc_ok = 0, b_ok = 0;
	const int R = 3000;

	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_bus_map(v.fd, &bus));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 32, 32 * 8, MMSB_SQ_POLL, 0, &q));
	memset(&f, 0, sizeof(f));
	f.q = &q;
	f.bus = bus;
	f.hdr = v.hdr;
	pthread_mutex_init(&f.lock, NULL);
	ASSERT_EQ(0, pthread_create(&th[0], NULL, flipper, &f));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, snapper, &f));
	for (r = 0; r < R; r++) {
		__u64 val = r + 1, ud = 4 * r;

		/* Room for a group of 5 SQEs (U A B C W). */
		while (q.tail - __atomic_load_n(&q.ring->sq_head,
						__ATOMIC_ACQUIRE) > q.entries - 5 ||
		       mmsb_sq_cq_ready(&q)) {
			while (!sq_reap(&q, &c)) {
				got++;
				if (c.user_data >= 4ULL * R + 8 ||
				    (c.user_data < 4ULL * R &&
				     seen[c.user_data]++)) {
					bad++;
					continue;
				}
				if (c.user_data == 4ULL * R + 4) {
					b_ok += !c.status;
				} else if (c.user_data % 4 == 1 ||
					   c.user_data % 4 == 3) {
					/* U (4r + 1) or W (4r + 3). */
					uw_bad += c.status && c.status != -EINVAL;
				} else {
					abc_ok += !c.status;
					if (c.status && bad++ < 5)
						TH_LOG("stable SQE %llu: %d",
						       (unsigned long long)c.user_data,
						       c.status);
				}
			}
			usleep(50);
		}
		pthread_mutex_lock(&f.lock);
		ASSERT_EQ(0, sq_put(&q, v.ids[0], 0, &val, 8, 0, 4 * r + 1, 0));
		/* A B C share user_data 4r, 4r + 2 (C's is kept apart). */
		ASSERT_EQ(0, sq_put(&q, v.ids[1], 0, &val, 8, 0, ud, 1));
		ASSERT_EQ(0, sq_put(&q, v.ids[2], 0, &val, 8, 0, 4ULL * R + 4, 1));
		ASSERT_EQ(0, sq_put(&q, v.ids[3], 0, &val, 8, 0, ud + 2, 0));
		ASSERT_EQ(0, sq_put(&q, v.ids[4], 0, &val, 8, 0, 4 * r + 3, 0));
		ASSERT_EQ(5, mmsb_sq_submit(&q));
		pthread_mutex_unlock(&f.lock);
	}
	f.stop = 1;
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	/* W of the last group may link to nothing: end it with a plain SQE. */
	ASSERT_EQ(0, sq_put(&q, v.ids[5], 0, &r, 4, 0, 4ULL * R + 2, 0));
	ASSERT_EQ(1, mmsb_sq_submit(&q));
	for (i = 0; i < 100000 && got < 5 * R + 1; i++) {
		if (sq_reap(&q, &c)) {
			mmsb_sq_enter(&q, MMSB_SQ_ENTER_SUBMIT, 0, 0);
			usleep(100);
			continue;
		}
		got++;
		b_ok += c.user_data == 4ULL * R + 4 && !c.status;
		if (c.user_data < 4ULL * R) {
			if (c.user_data % 4 == 1 || c.user_data % 4 == 3)
				uw_bad += c.status && c.status != -EINVAL;
			else
				abc_ok += !c.status;
		}
	}
	EXPECT_EQ(5 * R + 1, got);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, uw_bad);
	/* A and C of each group (B's user_data is shared). */
	EXPECT_EQ(2 * R, abc_ok);
	EXPECT_EQ(R, b_ok);
	EXPECT_EQ(0, f.torn);
	mmsb_sq_unmap(&q);
	mmsb_bus_unmap(bus);
	env_close(&v);
}

/*
 * mem_limit_mb=2, the limit's room swept from 0 to 256 KiB by a page
 * that takes the rest: a chain of 400 SQEs of 64 bytes (about 50 KiB
 * of records) applies whole, or is refused whole (-ENOMEM where the
 * limit hit, -ECANCELED for the rest); pages follow; nothing stays
 * charged once the queue's file is closed.
 */
TEST(mem_limit)
{
	const int n = 400;
	unsigned char pat[PS], buf[PS], cur[NP][PS];
	struct mmsb_page_create pc;
	struct mmsb_sq_handle q;
	struct mmsb_stats st;
	struct mmsb_cqe c;
	struct env v;
	int fd, r, i, k, applied = 0, refused = 0;
	__u64 base;

	ASSERT_EQ(0, module_reload("mem_limit_mb=2"));
	ASSERT_EQ(0, env_open(&v));
	memset(cur, 0, sizeof(cur));
	base = delta_bytes(v.fd);
	fd = mmsb_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mmsb_sq_setup(fd, 512, 512 * 64, 0, 0, &q));
	for (r = 0; r < 64; r++) {
		__u64 room = 4096ULL * r, used, size;
		int ok = 0, nomem = 0, canc = 0, other = 0;

		ASSERT_EQ(0, mmsb_flush(v.fd));
		ASSERT_EQ(0, mmsb_stats(v.fd, &st));
		used = st.page_bytes + st.delta_bytes;
		size = st.mem_limit > used + room + 4096 ?
		       st.mem_limit - used - room : 4096;
		if (mmsb_page_create(v.fd, size, 0644, 0, &pc))
			pc.id = 0;
		memset(pat, r + 1, sizeof(pat));
		for (i = 0; i < n; i++)
			ASSERT_EQ(0, sq_put(&q, v.ids[i % NP], 0, pat, PS, 0, i,
					 i < n - 1));
		ASSERT_EQ(n, mmsb_sq_submit(&q));
		for (i = 0; i < n; i++) {
			ASSERT_EQ(0, reap_ms(&q, &c, 5000));
			ok += !c.status;
			nomem += c.status == -ENOMEM;
			canc += c.status == -ECANCELED;
			other += c.status && c.status != -ENOMEM &&
				 c.status != -ECANCELED;
		}
		if (pc.id)
			ASSERT_EQ(0, mmsb_page_free(v.fd, pc.id));
		EXPECT_EQ(0, other);
		EXPECT_TRUE(ok == n || (!ok && nomem >= 1)) {
			TH_LOG("room %llu: %d applied, %d -ENOMEM, %d -ECANCELED",
			       (unsigned long long)room, ok, nomem, canc);
		}
		if (ok == n) {
			applied++;
			for (k = 0; k < NP; k++)
				memcpy(cur[k], pat, PS);
		} else {
			refused++;
		}
		for (k = 0; k < NP; k++) {
			EXPECT_EQ(0, mmsb_page_read(v.hdr[k], 0, buf, PS, NULL));
			EXPECT_EQ(0, memcmp(buf, cur[k], PS));
		}
		if (_metadata->exit_code)
			break;
	}
	TH_LOG("%d chains applied, %d refused", applied, refused);
	mmsb_sq_unmap(&q);
	close(fd);
	EXPECT_EQ(base, delta_bytes_settle(v.fd, base));
	env_close(&v);
	EXPECT_EQ(0, module_reload(""));
}

/* A chain never ended, its file closed or its process killed: mmsb unloads. */
TEST(unload_after_unfinished_chain)
{
	struct mmsb_sq_handle q;
	struct env v;
	__u64 val = 1;
	pid_t pid;
	int fd, i;

	ASSERT_EQ(0, env_open(&v));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fd = mmsb_open();
		if (fd < 0 || mmsb_sq_setup(fd, 64, 64 * 8, MMSB_SQ_POLL, 0,
					    &q))
			_exit(1);
		for (i = 0; i < 10; i++)
			sq_put(&q, v.ids[i % NP], 0, &val, 8, 0, i, 1);
		mmsb_sq_submit(&q);
		pause();
	}
	fd = mmsb_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mmsb_sq_setup(fd, 64, 64 * 8, 0, 0, &q));
	for (i = 0; i < 10; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[i % NP], 0, &val, 8, 0, i, 1));
	ASSERT_EQ(10, mmsb_sq_submit(&q));
	ASSERT_EQ(0, mmsb_flush(fd));
	usleep(100000);
	kill(pid, SIGKILL);
	EXPECT_EQ(256 + SIGKILL, wait_child(pid));
	mmsb_sq_unmap(&q);
	close(fd);
	for (i = 0; i < NP; i++)
		EXPECT_EQ(0, v.hdr[i]->epoch);
	env_close(&v);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * A chain over one chunk with a faulty SQE in it, before the chunk is
 * full: that SQE keeps its own errno, every other gets -E2BIG, as the
 * deltas of an MMSB_SUBMIT_ATOMIC submission do (uapi).
 */
TEST(e2big_with_fault)
{
	const int n = 600;
	static char buf[64];
	static struct mmsb_delta d[600];
	struct mmsb_sq_handle q;
	struct mmsb_submit sub;
	struct mmsb_cqe c;
	struct env v;
	int i, big = 0, ioc_big = 0;

	ASSERT_EQ(0, env_open(&v));
	for (i = 0; i < n; i++)
		mmsb_delta_dense(&d[i], v.ids[i % NP], i == 3 ? 60 : 0, buf,
				 i == 3 ? 8 : 64);
	memset(&sub, 0, sizeof(sub));
	sub.deltas = (uintptr_t)d;
	sub.count = n;
	sub.flags = MMSB_SUBMIT_ATOMIC;
	ioctl(v.fd, MMSB_IOC_SUBMIT, &sub);
	for (i = 0; i < n; i++)
		ioc_big += d[i].status == -E2BIG;
	EXPECT_EQ(n - 1, ioc_big);
	EXPECT_EQ(-ERANGE, d[3].status);

	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 1024, 1024 * 64, 0, 0, &q));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[i % NP], i == 3 ? 60 : 0, buf,
				 i == 3 ? 8 : 64, 0, i, i < n - 1));
	ASSERT_EQ(n, mmsb_sq_submit(&q));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, reap_ms(&q, &c, 5000));
		big += c.status == -E2BIG;
		EXPECT_EQ(c.user_data == 3 ? -ERANGE : -E2BIG, c.status);
	}
	EXPECT_EQ(n - 1, big);
	for (i = 0; i < NP; i++)
		EXPECT_EQ(0, v.hdr[i]->epoch);
	mmsb_sq_unmap(&q);
	env_close(&v);
}

/* CPU time (clock ticks) of the kthread named *-sqpoll, or -1. */
static long poller_cpu(void)
{
	char path[300], buf[512], *p;
	unsigned long ut, st;
	struct dirent *de;
	long ret = -1;
	DIR *d = opendir("/proc");
	FILE *f;

	while (d && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && strstr(buf, "-sqpoll)")) {
			p = strrchr(buf, ')');
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
					&ut, &st) == 2)
				ret = ut + st;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return ret;
}

/*
 * After 100 ms, look at the poller of @q for 300 ms: STATS ticks, how
 * often the ring's flags lacked NEED_WAKEUP (of 3,000 looks) and its
 * CPU time; an idle poller runs at most 2 ticks and is seen awake at
 * most 10 times.  Returns the CPU time, in clock ticks.
 */
static long poller_idle(struct __test_metadata *_metadata, int fd,
			struct mmsb_sq_handle *q, const char *what)
{
	struct mmsb_stats a, b;
	int i, awake = 0;
	long cpu;

	usleep(100000);
	cpu = poller_cpu();
	mmsb_stats(fd, &a);
	for (i = 0; i < 3000; i++) {
		awake += !(__atomic_load_n(&q->ring->flags, __ATOMIC_RELAXED) &
			   MMSB_SQ_NEED_WAKEUP);
		usleep(100);
	}
	mmsb_stats(fd, &b);
	cpu = poller_cpu() - cpu;
	TH_LOG("%s: %llu ticks, awake %d of 3000 looks, poller %ld clock ticks of CPU in 300 ms",
	       what, (unsigned long long)(b.ticks - a.ticks), awake, cpu);
	EXPECT_GE(2, b.ticks - a.ticks);
	EXPECT_GE(10, awake);
	return cpu;
}

/*
 * tick_us=0, MMSB_SQ_POLL with sq_idle_ms=10: a chain whose last SQE
 * is not published is no work the poller can do (as SQEs behind a full
 * CQ are not): it goes idle (MMSB_SQ_NEED_WAKEUP) and stops running
 * ticks, as it does with an empty SQ; published, the last SQE wakes it
 * and the chain applies.
 */
TEST(poller_idles_on_unfinished_chain)
{
	struct mmsb_sq_handle q;
	struct mmsb_cqe c;
	struct env v;
	__u64 val = 2;
	int i;

	ASSERT_EQ(0, module_reload("tick_us=0"));
	ASSERT_EQ(0, env_open(&v));
	ASSERT_EQ(0, mmsb_sq_setup(v.fd, 16, 16 * 8, MMSB_SQ_POLL, 10, &q));
	poller_idle(_metadata, v.fd, &q, "empty SQ");

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, sq_put(&q, v.ids[i], 0, &val, 8, 0, i, 1));
	ASSERT_EQ(3, mmsb_sq_submit(&q));
	EXPECT_GE(2, poller_idle(_metadata, v.fd, &q, "unfinished chain"));

	ASSERT_EQ(0, sq_put(&q, v.ids[3], 0, &val, 8, 0, 3, 0));
	ASSERT_EQ(1, mmsb_sq_submit(&q));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, reap_ms(&q, &c, 5000));
		EXPECT_EQ(0, c.status);
		EXPECT_EQ(1, c.epoch);
	}
	mmsb_sq_unmap(&q);
	env_close(&v);
	EXPECT_EQ(0, module_reload(""));
}

TEST_HARNESS_MAIN
