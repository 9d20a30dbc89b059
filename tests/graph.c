// SPDX-License-Identifier: GPL-2.0
/*
 * Edges and propagation: MMSB_IOC_EDGE_ADD/DEL and their errnos, chain,
 * diamond and NOTIFY propagation visible through the mappings after one
 * SYNC submit, edges dropped with their page, the edge limit, and a
 * 1,000-page graph under continuous submission checked byte for byte
 * against a model, then change by change: which pages each change
 * reaches, with bytes or only a notification.
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
#include "pages.h"

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
	__u64 cur, g0, g1[2];
	__u8 buf[100];
	int status, i;
	pid_t pid;

	ASSERT_TRUE(a && b && c && da && db && dc);
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, PT));

	/* A waiter on C wakes when the change reaches it. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(mmsb_wait(self->fd, c, 1, 10000000000ULL, &cur) ? 1 : 0);
	ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_WAIT));

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
	/*
	 * graph_bytes: an edge between two pages already in the graph
	 * costs the same bytes every time, and deleting it gives them
	 * back, exactly; they are part of mem_bytes.
	 */
	g0 = st.graph_bytes;
	EXPECT_EQ(st.page_bytes + st.page_meta_bytes + st.delta_bytes +
		  st.graph_bytes + st.ring_bytes, st.mem_bytes);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, mmsb_edge_add(self->fd, a, c, NT));
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		g1[i] = st.graph_bytes;
		ASSERT_EQ(0, mmsb_edge_del(self->fd, a, c, NT));
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		EXPECT_EQ(g0, st.graph_bytes);
	}
	EXPECT_LT(g0, g1[0]);
	EXPECT_EQ(g1[0], g1[1]);

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

/*
 * NOTIFY: epoch + 1 and waiters woken, no bytes.  A waiter sleeping on
 * C (two NOTIFY edges down) wakes with C at epoch 1; a subscriber of C
 * gets its event.
 */
TEST_F(graph, notify_one_tick)
{
	__u64 a = create(self->fd, 64, 0), b = create(self->fd, 64, 0);
	__u64 c = create(self->fd, 64, 0);
	const __u8 *db = map_data(self->fd, b), *dc = map_data(self->fd, c);
	__u8 buf[8] = "notify!";
	struct mmsb_event ev;
	__u64 cur = 0;
	pid_t pid;

	ASSERT_TRUE(a && b && c && db && dc);
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, NT));
	/* Bytes do not travel past a NOTIFY edge; the notification does. */
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, NT));
	ASSERT_EQ(0, mmsb_subscribe(self->fd, c));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int ret = mmsb_wait(self->fd, c, 1, 10000000000ULL, &cur);

		_exit(ret ? -ret : cur == 1 ? 0 : 100);
	}
	ASSERT_EQ(0, sleeping_in_ioctl(pid, MMSB_IOC_WAIT));
	ASSERT_EQ(0, write_sync(self->fd, a, 0, buf, sizeof(buf)));
	EXPECT_EQ(0, wait_child(pid));
	EXPECT_EQ(0, mmsb_wait(self->fd, b, 1, 0, &cur));
	EXPECT_EQ(1, cur);
	EXPECT_EQ(1, hdr_of(dc)->epoch);
	EXPECT_TRUE(all_eq(db, 64, 0));
	EXPECT_TRUE(all_eq(dc, 64, 0));
	ASSERT_EQ(1, mmsb_read_events(self->fd, &ev, 1));
	EXPECT_EQ(c, ev.page_id);
	EXPECT_EQ(1, ev.epoch);
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

/* Is there an edge from -> to (either kind) in the model? */
static bool model_edge(const __u8 (*adj)[NPAGES / 8], int from, int to)
{
	return adj[from][to / 8] & (1 << (to % 8));
}

static void model_add(__u8 (*adj)[NPAGES / 8], int from, int to)
{
	adj[from][to / 8] |= 1 << (to % 8);
}

/*
 * The pages a change of byte 0 of root @r reaches in one tick: along a
 * PASSTHROUGH edge from a page that carries bytes the dependent gets
 * them (and carries them on); along a NOTIFY edge from any changed page
 * the dependent changes without bytes.  Every edge goes from a lower
 * index to a higher one, so one pass in index order is a topological
 * walk.  changed[i]: 0 no, 1 notified only, 2 with bytes.
 */
static int model_reach(const __u8 (*adj)[NPAGES / 8], const int *parent,
		       int r, __u8 *changed)
{
	int i, j, n = 0;

	memset(changed, 0, NPAGES);
	changed[r] = 2;
	for (i = r; i < NPAGES; i++) {
		if (!changed[i])
			continue;
		n += i != r;
		for (j = i + 1; j < NPAGES; j++) {
			if (!model_edge(adj, i, j))
				continue;
			if (parent[j] == i && changed[i] == 2)
				changed[j] = 2;
			else if (parent[j] != i && !changed[j])
				changed[j] = 1;
		}
	}
	return n;
}

TEST_F_TIMEOUT(graph, model_1000_pages, 120)
{
	static __u64 ids[NPAGES], epoch[NPAGES];
	static __u32 size[NPAGES];
	static int parent[NPAGES];
	static const __u8 *data[NPAGES];
	static __u8 model[NPAGES][256], adj[NPAGES][NPAGES / 8];
	static __u8 changed[NPAGES];
	struct mmsb_stats st = { .size = sizeof(st) };
	int i, k, p, status, bad = 0, notify = 0;
	__u64 s = 42;
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
		if (parent[i] >= 0) {
			ASSERT_EQ(0, mmsb_edge_add(self->fd, ids[parent[i]],
						   ids[i], PT));
			model_add(adj, parent[i], i);
		}
	}
	/* A second edge between two pages, of either kind: -EEXIST. */
	for (i = 0; i < NPAGES; i++) {
		int from = rnd(&s) % NPAGES, to = rnd(&s) % NPAGES;

		if (from >= to)
			continue;
		ASSERT_EQ(model_edge(adj, from, to) ? -EEXIST : 0,
			  mmsb_edge_add(self->fd, ids[from], ids[to], NT))
			TH_LOG("%d -> %d", from, to);
		notify += !model_edge(adj, from, to);
		model_add(adj, from, to);
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

	/*
	 * Change by change: a write to one root changes exactly the pages
	 * the model reaches, each one epoch further, the ones reached with
	 * bytes get the byte, and the tick counts them.
	 */
	for (k = 0; k < 21; k++) {
		int r = (k * 37) % NROOTS, n = model_reach(adj, parent, r, changed);

		for (i = 0; i < NPAGES; i++)
			epoch[i] = hdr_of(data[i])->epoch;
		ASSERT_EQ(0, write_sync(self->fd, ids[r], 0, &one, 1));
		ASSERT_EQ(0, mmsb_stats(self->fd, &st));
		EXPECT_EQ(0, st.last.graph_has_cycle);
		EXPECT_EQ(n, st.last.propagated) TH_LOG("root %d", r);
		EXPECT_EQ(n + 1, st.last.pages_changed) TH_LOG("root %d", r);
		for (i = 0; i < NPAGES; i++) {
			if (changed[i] == 2)
				model[i][0] = one;
			EXPECT_EQ(epoch[i] + !!changed[i], hdr_of(data[i])->epoch)
				TH_LOG("root %d, page %d", r, i);
		}
		one++;
	}
	for (i = 0, bad = 0; i < NPAGES; i++)
		bad += !!memcmp(data[i], model[i], size[i]);
	EXPECT_EQ(0, bad);
	for (i = 0; i < NPAGES; i++)
		mmsb_page_unmap(hdr_of(data[i]));
}

/*
 * max_edges=2: a third edge is -ENOSPC, through the ioctl, whatever its
 * kind; deleting one (or freeing a page) makes room again.  The module
 * is reloaded for it, and with the defaults after.
 */
FIXTURE(edge_limit) {
	int fd;
};

FIXTURE_SETUP(edge_limit)
{
	ASSERT_EQ(0, module_reload("max_edges=2"));
	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(edge_limit)
{
	close(self->fd);
	EXPECT_EQ(0, module_reload(""));
}

TEST_F(edge_limit, enospc)
{
	__u64 a = create(self->fd, 64, 0), b = create(self->fd, 64, 0);
	__u64 c = create(self->fd, 64, 0), d = create(self->fd, 64, 0);
	struct mmsb_stats st;

	ASSERT_TRUE(a && b && c && d);
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a, b, PT));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, b, c, NT));
	EXPECT_EQ(-ENOSPC, mmsb_edge_add(self->fd, c, d, PT));
	EXPECT_EQ(-ENOSPC, mmsb_edge_add(self->fd, c, d, NT));
	/* The checks that need no room come first. */
	EXPECT_EQ(-EEXIST, mmsb_edge_add(self->fd, a, b, NT));
	EXPECT_EQ(-ELOOP, mmsb_edge_add(self->fd, c, c, PT));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(2, st.edges);
	ASSERT_EQ(0, mmsb_edge_del(self->fd, a, b, PT));
	EXPECT_EQ(0, mmsb_edge_add(self->fd, c, d, PT));
	EXPECT_EQ(-ENOSPC, mmsb_edge_add(self->fd, a, b, PT));
	/* Freeing c takes both its edges. */
	ASSERT_EQ(0, mmsb_page_free(self->fd, c));
	EXPECT_EQ(0, mmsb_edge_add(self->fd, a, b, PT));
	EXPECT_EQ(0, mmsb_edge_add(self->fd, b, d, NT));
	EXPECT_EQ(-ENOSPC, mmsb_edge_add(self->fd, a, d, NT));
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(2, st.edges);
}

TEST_HARNESS_MAIN
