// SPDX-License-Identifier: GPL-2.0
/*
 * Edges and propagation: MMSB_IOC_EDGE_ADD/DEL and their errnos, chain,
 * diamond and NOTIFY propagation visible through the mappings after one
 * SYNC submit, edges dropped with their page, and a 1,000-page graph
 * under continuous submission checked byte for byte against a model.
 * Prints the per-tick validation cost at 1,000 pages ("figure:").
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"

#define PT	MMSB_EDGE_PASSTHROUGH
#define NT	MMSB_EDGE_NOTIFY

static __u64 create(int fd, __u64 size, __u32 mode)
{
	struct mmsb_page_create pc = { 0 };

	if (mmsb_page_create(fd, size, mode, 0, &pc))
		return 0;
	return pc.id;
}

static const __u8 *map_data(int fd, __u64 id)
{
	const struct mmsb_page_header *hdr;

	if (mmsb_page_map(fd, id, &hdr))
		return NULL;
	return (const __u8 *)hdr + MMSB_PAGE_DATA_OFFSET;
}

static const struct mmsb_page_header *hdr_of(const __u8 *data)
{
	return (const void *)(data - MMSB_PAGE_DATA_OFFSET);
}

static int write_sync(int fd, __u64 page, __u64 off, const void *buf,
		      __u64 len)
{
	struct mmsb_delta d;
	int ret;

	mmsb_delta_dense(&d, page, off, buf, len);
	ret = mmsb_submit(fd, &d, 1, MMSB_SUBMIT_SYNC, NULL);
	return ret ? ret : d.status;
}

static int all_eq(const __u8 *p, size_t n, __u8 v)
{
	while (n--)
		if (*p++ != v)
			return 0;
	return 1;
}

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

FIXTURE(graph) {
	int fd;
};

FIXTURE_SETUP(graph)
{
	struct mmsb_version v;

	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, mmsb_version(self->fd, &v));
	ASSERT_TRUE(v.features & MMSB_FEAT_GRAPH);
}

FIXTURE_TEARDOWN(graph)
{
	close(self->fd);
}

/* A -> B -> C (C smaller: clipped); one SYNC submit to A shows in C. */
TEST_F(graph, chain_one_tick)
{
	__u64 a = create(self->fd, 4096, 0);
	__u64 b = create(self->fd, 4096, 0);
	__u64 c = create(self->fd, 100, 0);
	const __u8 *da = map_data(self->fd, a), *db = map_data(self->fd, b);
	const __u8 *dc = map_data(self->fd, c);
	struct mmsb_stats st = { .size = sizeof(st) };
	__u8 buf[100];
	__u64 cur;
	pid_t pid;
	int status;

	ASSERT_TRUE(a && b && c && da && db && dc);
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, PT));

	/* A waiter on C wakes when the change reaches it. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(mmsb_wait(self->fd, c, 1, 10000000000ULL, &cur) ? 1 : 0);
	usleep(100000);

	memset(buf, 0xab, sizeof(buf));
	ASSERT_EQ(0, write_sync(self->fd, a, 50, buf, sizeof(buf)));
	/* No flush: the tick that applied the delta propagated it. */
	EXPECT_TRUE(all_eq(da + 50, 100, 0xab));
	EXPECT_TRUE(all_eq(db + 50, 100, 0xab));
	EXPECT_TRUE(all_eq(db, 50, 0) && all_eq(db + 150, 4096 - 150, 0));
	EXPECT_TRUE(all_eq(dc + 50, 50, 0xab));
	EXPECT_TRUE(all_eq(dc, 50, 0));
	EXPECT_EQ(1, hdr_of(da)->epoch);
	EXPECT_EQ(1, hdr_of(db)->epoch);
	EXPECT_EQ(1, hdr_of(dc)->epoch);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(2, st.last.propagated);
	EXPECT_EQ(3, st.last.pages_changed);
	EXPECT_EQ(0, st.last.graph_has_cycle);
	EXPECT_GT(st.graph_bytes, 0);

	/* A change past C's size still reaches B, not C. */
	ASSERT_EQ(0, write_sync(self->fd, a, 200, buf, 10));
	EXPECT_TRUE(all_eq(db + 200, 10, 0xab));
	EXPECT_EQ(2, hdr_of(db)->epoch);
	EXPECT_EQ(1, hdr_of(dc)->epoch);
}

/* A -> B, A -> C, B -> D, C -> D: D changes once, epoch + 1. */
TEST_F(graph, diamond_one_tick)
{
	__u64 a = create(self->fd, 256, 0), b = create(self->fd, 256, 0);
	__u64 c = create(self->fd, 256, 0), d = create(self->fd, 256, 0);
	const __u8 *dd = map_data(self->fd, d), *dc = map_data(self->fd, c);
	struct mmsb_stats st = { .size = sizeof(st) };
	__u8 buf[16];

	ASSERT_TRUE(a && b && c && d && dd && dc);
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, c, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, d, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, c, d, PT));
	memset(buf, 7, sizeof(buf));
	ASSERT_EQ(0, write_sync(self->fd, a, 0, buf, sizeof(buf)));
	EXPECT_TRUE(all_eq(dd, 16, 7));
	EXPECT_TRUE(all_eq(dd + 16, 240, 0));
	EXPECT_EQ(1, hdr_of(dd)->epoch);
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(3, st.last.propagated);

	/* A direct write to C in the same tick as A's: both reach D. */
	memset(buf, 9, sizeof(buf));
	{
		struct mmsb_delta ds[2];

		mmsb_delta_dense(&ds[0], a, 100, buf, 8);
		mmsb_delta_dense(&ds[1], c, 200, buf, 8);
		ASSERT_EQ(0, mmsb_submit(self->fd, ds, 2, MMSB_SUBMIT_SYNC,
					 NULL));
	}
	EXPECT_TRUE(all_eq(dd + 100, 8, 9));
	EXPECT_TRUE(all_eq(dd + 200, 8, 9));
	EXPECT_EQ(2, hdr_of(dd)->epoch);
	EXPECT_EQ(2, hdr_of(dc)->epoch);
}

/* NOTIFY: epoch + 1 and waiters woken, no bytes. */
TEST_F(graph, notify_one_tick)
{
	__u64 a = create(self->fd, 64, 0), b = create(self->fd, 64, 0);
	__u64 c = create(self->fd, 64, 0);
	const __u8 *db = map_data(self->fd, b), *dc = map_data(self->fd, c);
	__u8 buf[8] = "notify!";
	__u64 cur = 0;

	ASSERT_TRUE(a && b && c && db && dc);
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, NT));
	/* Bytes do not travel past a NOTIFY edge; the notification does. */
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, NT));
	ASSERT_EQ(0, write_sync(self->fd, a, 0, buf, sizeof(buf)));
	EXPECT_EQ(0, mmsb_wait(self->fd, b, 1, 0, &cur));
	EXPECT_EQ(1, cur);
	EXPECT_EQ(1, hdr_of(dc)->epoch);
	EXPECT_TRUE(all_eq(db, 64, 0));
	EXPECT_TRUE(all_eq(dc, 64, 0));
}

TEST_F(graph, errors)
{
	__u64 a = create(self->fd, 64, 0), b = create(self->fd, 64, 0);
	__u64 c = create(self->fd, 64, 0);
	struct mmsb_edge e = { .from = a, .to = b };

	ASSERT_TRUE(a && b && c);
	EXPECT_EQ(-ELOOP, mmsb_edge_add(self->fd, a, a, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, PT));
	EXPECT_EQ(-EEXIST, mmsb_edge_add(self->fd, a, b, PT));
	EXPECT_EQ(-EEXIST, mmsb_edge_add(self->fd, a, b, NT));
	EXPECT_EQ(-ELOOP, mmsb_edge_add(self->fd, b, a, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, NT));
	EXPECT_EQ(-ELOOP, mmsb_edge_add(self->fd, c, a, PT));
	EXPECT_EQ(-ENOENT, mmsb_edge_add(self->fd, a, c + 1000, PT));
	EXPECT_EQ(-ENOENT, mmsb_edge_add(self->fd, c + 1000, a, PT));
	EXPECT_EQ(-EINVAL, mmsb_edge_add(self->fd, a, c, 2));
	e.to = c;
	e.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_EDGE_ADD, &e));
	EXPECT_EQ(EINVAL, errno);
	e.flags = 0;
	e.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, MMSB_IOC_EDGE_ADD, &e));
	EXPECT_EQ(EINVAL, errno);
	/* Delete: the kind must match. */
	EXPECT_EQ(-ENOENT, mmsb_edge_del(self->fd, a, b, NT));
	EXPECT_EQ(-ENOENT, mmsb_edge_del(self->fd, a, c, PT));
	EXPECT_EQ(0, mmsb_edge_del(self->fd, a, b, PT));
	EXPECT_EQ(-ENOENT, mmsb_edge_del(self->fd, a, b, PT));
	/* With a -> b gone, c -> a closes no cycle. */
	EXPECT_EQ(0, mmsb_edge_add(self->fd, c, a, PT));
}

/* An edge to (or from) a page the caller may not write: -EACCES. */
TEST_F(graph, not_writable)
{
	__u64 mine = create(self->fd, 64, 0644), other = create(self->fd, 64, 0644);
	pid_t pid;
	int status;

	ASSERT_TRUE(mine && other);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd, r1, r2, r3;
		__u64 own;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		fd = mmsb_open();
		if (fd < 0)
			_exit(11);
		own = create(fd, 64, 0600);
		if (!own)
			_exit(12);
		r1 = mmsb_edge_add(fd, own, other, PT);
		r2 = mmsb_edge_add(fd, other, own, PT);
		r3 = mmsb_edge_add(fd, mine, other, NT);
		_exit(r1 == -EACCES && r2 == -EACCES && r3 == -EACCES ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Freeing a page removes its edges; the rest of the graph goes on. */
TEST_F(graph, free_removes_edges)
{
	__u64 a = create(self->fd, 64, 0), b = create(self->fd, 64, 0);
	__u64 c = create(self->fd, 64, 0);
	const __u8 *dc = map_data(self->fd, c);
	struct mmsb_stats st = { .size = sizeof(st) };
	__u8 buf[4] = { 1, 2, 3, 4 };
	__u64 base;

	ASSERT_TRUE(a && b && c && dc);
	/* Edges of earlier tests are still there: count from here. */
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	base = st.edges;
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, c, NT));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(base + 3, st.edges);
	ASSERT_EQ(0, mmsb_page_free(self->fd, b));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(base + 1, st.edges);
	EXPECT_EQ(-ENOENT, mmsb_edge_add(self->fd, a, b, PT));
	EXPECT_EQ(-ENOENT, mmsb_edge_del(self->fd, b, c, PT));
	ASSERT_EQ(0, write_sync(self->fd, a, 0, buf, 4));
	/* Only the NOTIFY edge a -> c is left. */
	EXPECT_EQ(1, hdr_of(dc)->epoch);
	EXPECT_TRUE(all_eq(dc, 64, 0));
	ASSERT_EQ(0, mmsb_page_free(self->fd, a));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(base, st.edges);
}

/*
 * 1,000 pages: 100 roots, every other page has one PASSTHROUGH parent of
 * lower index (so it mirrors it: equal bytes up to the smaller size,
 * zero beyond), plus NOTIFY edges between random pairs.  Four producers
 * write random dense deltas to their own roots, continuously; at the
 * end every page must equal the model.  Then the validation cost.
 */
#define NPAGES		1000
#define NROOTS		100
#define NPROD		4
#define NBATCH		200
#define BATCH		32

static int producer(int p, const __u64 *ids, const __u32 *size)
{
	struct mmsb_delta d[BATCH];
	static __u8 pay[BATCH][64];
	__u64 s = 0x9e3779b97f4a7c15ULL * (p + 1);
	int fd = mmsb_open(), b, k;

	if (fd < 0)
		return 1;
	for (b = 0; b < NBATCH; b++) {
		for (k = 0; k < BATCH; k++) {
			int r = (rnd(&s) % (NROOTS / NPROD)) * NPROD + p;
			__u32 len = 1 + rnd(&s) % 64;
			__u32 off = rnd(&s) % (size[r] - len + 1);

			memset(pay[k], (int)(rnd(&s) & 0xff), len);
			mmsb_delta_dense(&d[k], ids[r], off, pay[k], len);
		}
		if (mmsb_submit(fd, d, BATCH, b % 16 ? 0 : MMSB_SUBMIT_SYNC,
				NULL))
			return 2;
	}
	close(fd);
	return 0;
}

/* Replay producer @p's deltas on the model of the roots. */
static void replay(int p, __u8 (*model)[256], const __u32 *size)
{
	__u64 s = 0x9e3779b97f4a7c15ULL * (p + 1);
	int b, k;

	for (b = 0; b < NBATCH; b++) {
		for (k = 0; k < BATCH; k++) {
			int r = (rnd(&s) % (NROOTS / NPROD)) * NPROD + p;
			__u32 len = 1 + rnd(&s) % 64;
			__u32 off = rnd(&s) % (size[r] - len + 1);

			memset(model[r] + off, (int)(rnd(&s) & 0xff), len);
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

TEST_F(graph, model_1000_pages)
{
	static __u64 ids[NPAGES];
	static __u32 size[NPAGES];
	static int parent[NPAGES];
	static const __u8 *data[NPAGES];
	static __u8 model[NPAGES][256];
	struct mmsb_stats st = { .size = sizeof(st) };
	__u64 s = 42, gns[21], pns[21];
	int i, p, status, bad = 0, notify = 0;
	pid_t pids[NPROD];
	__u8 one = 1;
	__u64 base;

	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	base = st.edges;
	for (i = 0; i < NPAGES; i++) {
		size[i] = 64 << (rnd(&s) % 3);
		ids[i] = create(self->fd, size[i], 0);
		ASSERT_NE(0, ids[i]);
		data[i] = map_data(self->fd, ids[i]);
		ASSERT_NE(NULL, data[i]);
		parent[i] = i < NROOTS ? -1 : (int)(rnd(&s) % i);
		if (parent[i] >= 0)
			ASSERT_EQ(0, mmsb_edge_add(self->fd, ids[parent[i]],
						   ids[i], PT));
	}
	for (i = 0; i < NPAGES; i++) {
		int from = rnd(&s) % NPAGES, to = rnd(&s) % NPAGES, ret;

		if (from >= to)
			continue;
		ret = mmsb_edge_add(self->fd, ids[from], ids[to], NT);
		ASSERT_TRUE(ret == 0 || ret == -EEXIST);
		notify += !ret;
	}

	for (p = 0; p < NPROD; p++) {
		pids[p] = fork();
		ASSERT_GE(pids[p], 0);
		if (!pids[p])
			_exit(producer(p, ids, size));
	}
	for (p = 0; p < NPROD; p++) {
		ASSERT_EQ(pids[p], waitpid(pids[p], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	}
	ASSERT_EQ(0, mmsb_flush(self->fd));

	memset(model, 0, sizeof(model));
	for (p = 0; p < NPROD; p++)
		replay(p, model, size);
	for (i = NROOTS; i < NPAGES; i++) {
		__u32 n = size[i] < size[parent[i]] ? size[i] : size[parent[i]];

		memcpy(model[i], model[parent[i]], n);
	}
	for (i = 0; i < NPAGES; i++) {
		if (memcmp(data[i], model[i], size[i])) {
			bad++;
			TH_LOG("page %d (parent %d) differs", i, parent[i]);
		}
	}
	EXPECT_EQ(0, bad);

	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(base + NPAGES - NROOTS + notify, st.edges);
	EXPECT_EQ(0, st.last.graph_has_cycle);

	/* The figure: cost of one tick's validation over the whole graph. */
	for (i = 0; i < 21; i++) {
		ASSERT_EQ(0, write_sync(self->fd, ids[i % NROOTS], 0, &one, 1));
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		EXPECT_EQ(0, st.last.graph_has_cycle);
		gns[i] = st.last.graph_ns;
		pns[i] = st.last.propagate_ns;
	}
	qsort(gns, 21, sizeof(gns[0]), cmp_u64);
	qsort(pns, 21, sizeof(pns[0]), cmp_u64);
	ksft_print_msg("figure: graph validation at %d pages, %llu edges: median %llu ns (min %llu, max %llu); propagate median %llu ns\n",
		       NPAGES, (unsigned long long)st.edges,
		       (unsigned long long)gns[10], (unsigned long long)gns[0],
		       (unsigned long long)gns[20], (unsigned long long)pns[10]);
	for (i = 0; i < NPAGES; i++)
		mmsb_page_unmap(hdr_of(data[i]));
}

TEST_HARNESS_MAIN
