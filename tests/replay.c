// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots, restore and replay (libmmsb and mmsbctl snapshot, restore,
 * replay): bus 0 is the original, bus 1 (buses=2) the copy.  A snapshot
 * restored on an empty bus gives the same pages, ids, epochs, owners,
 * bytes and edges; a snapshot plus a recorded stream replayed to tick N
 * gives the original as it stood at N, byte for byte; damaged files and
 * impossible requests give clear errors.
 *
 * replay_to_tick records its stream from SUBMIT results (ids, epochs,
 * windows: what the change stream reports), so replay is tested on its
 * own; recorded_stream records the kernel's with "mmsbctl stream".
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"
#include "replica.h"

#define NR_PAGES	8
#define SNAP_FILE	"/tmp/replay.snap"
#define STREAM_FILE	"/tmp/replay.stream"
#define MID_FILE	"/tmp/replay.mid"

FIXTURE(replay) {
	int fd;		/* bus 0, the original */
	int copy;	/* bus 1 */
	const struct mmsb_bus_header *bus;
	__u64 id[NR_PAGES];
	const struct mmsb_page_header *hdr[NR_PAGES];
};

FIXTURE_SETUP(replay)
{
	struct mmsb_page_create pc;
	int i;

	ASSERT_EQ(0, module_reload("buses=2 tick_us=0"));
	self->fd = mmsb_open_bus(0);
	ASSERT_LE(0, self->fd);
	self->copy = mmsb_open_bus(1);
	ASSERT_LE(0, self->copy);
	ASSERT_EQ(0, mmsb_bus_map(self->fd, &self->bus));
	for (i = 0; i < NR_PAGES; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd, 100 + 37 * i,
					      i % 2 ? 0640 : 0600,
					      i == 3 ? MMSB_PAGE_EVICTABLE : 0,
					      &pc));
		self->id[i] = pc.id;
		ASSERT_EQ(0, mmsb_page_map(self->fd, pc.id, &self->hdr[i]));
	}
}

FIXTURE_TEARDOWN(replay)
{
	int i;

	for (i = 0; i < NR_PAGES; i++)
		if (self->hdr[i])
			mmsb_page_unmap(self->hdr[i]);
	mmsb_bus_unmap(self->bus);
	close(self->fd);
	close(self->copy);
	unlink(SNAP_FILE);
	unlink(STREAM_FILE);
	unlink(MID_FILE);
	EXPECT_EQ(0, module_reload(""));
}

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Buffers of one random delta of any encoding. */
struct rdelta {
	struct mmsb_delta d;
	__u8 payload[256];
	__u8 mask[32];
};

/* A random delta of any encoding to page @id of @size bytes. */
static void random_delta(struct rdelta *r, __u64 id, __u64 size, __u64 *s)
{
	__u64 len = 1 + rnd(s) % (size < 200 ? size : 200);
	__u64 off = rnd(s) % (size - len + 1), i, k = 0;
	int enc = rnd(s) % 3;

	memset(&r->d, 0, sizeof(r->d));
	memset(r->mask, 0, sizeof(r->mask));
	for (i = 0; i < len; i++)
		if (rnd(s) % 3)
			r->mask[i / 8] |= 1 << (i % 8);
	r->mask[0] |= 1;	/* SPARSE needs one byte at least */
	for (i = 0; i < len; i++)
		r->payload[i] = rnd(s);
	if (enc == MMSB_DELTA_SPARSE)
		for (i = 0; i < len; i++)
			if (r->mask[i / 8] & (1 << (i % 8)))
				k++;
	r->d = (struct mmsb_delta){
		.page_id = id, .offset = off, .len = len,
		.payload = (__u64)(uintptr_t)r->payload,
		.payload_len = enc == MMSB_DELTA_SPARSE ? k : len,
		.mask = enc == MMSB_DELTA_DENSE ? 0 :
			(__u64)(uintptr_t)r->mask,
		.encoding = enc,
	};
}

/* A growing recorded stream, records as the kernel's stream gives them. */
struct rec_buf {
	__u8 *p;
	size_t len, cap;
};

static int rec_add(struct rec_buf *b, __u16 type, __u64 tick, __u64 page,
		   __u64 epoch, __u64 delta_id, __u32 offset,
		   const void *data, __u32 len)
{
	struct mmsb_stream_record r = {
		.size = sizeof(r) + ((len + 7) & ~7U),
		.type = type, .tick = tick, .page_id = page, .epoch = epoch,
		.delta_id = delta_id, .offset = offset, .len = len,
	};

	if (b->cap - b->len < r.size) {
		size_t cap = (b->cap + r.size) * 2;
		__u8 *p = realloc(b->p, cap);

		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memset(b->p + b->len, 0, r.size);
	memcpy(b->p + b->len, &r, sizeof(r));
	if (len)
		memcpy(b->p + b->len + sizeof(r), data, len);
	b->len += r.size;
	return 0;
}

static int write_whole(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/*
 * A snapshot restored on an empty bus: the same ids, sizes, modes,
 * flags, owners (one page is uid 1000's), epochs, bytes and edges; a
 * page created there afterwards continues after the highest id.
 */
TEST_F(replay, snapshot_restore_identical)
{
	struct mmsb_page_create pc;
	struct rdelta r;
	struct run out;
	__u64 s = 42, other;
	pid_t pid;
	int i;

	/* uid 1000's page, 0644, made by a child. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int fd;

		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(1);
		fd = mmsb_open_bus(0);
		_exit(fd < 0 || mmsb_page_create(fd, 64, 0644, 0, &pc) ? 2 : 0);
	}
	ASSERT_EQ(0, wait_child(pid));
	other = self->id[NR_PAGES - 1] + 1;
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[0], self->id[1],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[1], self->id[5],
				   MMSB_EDGE_NOTIFY));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[0], other,
				   MMSB_EDGE_PASSTHROUGH));
	for (i = 0; i < 300; i++) {
		int p = rnd(&s) % NR_PAGES;

		random_delta(&r, self->id[p], self->hdr[p]->size, &s);
		ASSERT_EQ(0, mmsb_submit(self->fd, &r.d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
		ASSERT_EQ(0, r.d.status);
	}
	/* A freed page is not in the snapshot, and its id stays used. */
	ASSERT_EQ(0, mmsb_page_free(self->fd, self->id[6]));

	ASSERT_EQ(0, run(&out, "mmsbctl", "snapshot", SNAP_FILE, NULL))
		TH_LOG("%s", out.err);
	EXPECT_NE(NULL, strstr(out.out, "8 pages, 3 edges"))
		TH_LOG("%s", out.out);
	ASSERT_EQ(0, run(&out, "mmsbctl", "--bus", "1", "restore", SNAP_FILE,
			 NULL)) TH_LOG("%s", out.err);
	EXPECT_EQ(0, buses_equal(self->fd, self->copy, 1));

	/* The copy's ids continue after the restored ones. */
	ASSERT_EQ(0, mmsb_page_create(self->copy, 8, 0, 0, &pc));
	EXPECT_EQ(other + 1, pc.id);
	/* Restoring again: the extra page goes, the rest is as it was. */
	ASSERT_EQ(0, mmsb_page_free(self->copy, pc.id));
	ASSERT_EQ(0, run(&out, "mmsbctl", "--bus", "1", "restore", SNAP_FILE,
			 NULL)) TH_LOG("%s", out.err);
	EXPECT_EQ(0, buses_equal(self->fd, self->copy, 1));
}

/*
 * A bus that has the pages already is brought to the snapshot: bytes
 * overwritten, epochs raised to the snapshot's, extra pages freed,
 * edges reconciled.  A page past the snapshot's epoch is -ESTALE.
 */
TEST_F(replay, apply_over_existing)
{
	struct mmsb_snap *s, *late;
	struct mmsb_delta d;
	__u64 seed = 7;
	struct rdelta r;
	int i;

	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[2], self->id[3],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_snap_take(self->fd, &s));
	ASSERT_EQ(0, mmsb_snap_apply(self->copy, s));
	for (i = 0; i < 50; i++) {
		int p = rnd(&seed) % NR_PAGES;

		random_delta(&r, self->id[p], self->hdr[p]->size, &seed);
		ASSERT_EQ(0, mmsb_submit(self->fd, &r.d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
	}
	ASSERT_EQ(0, mmsb_edge_del(self->fd, self->id[2], self->id[3],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[4], self->id[3],
				   MMSB_EDGE_NOTIFY));
	ASSERT_EQ(0, mmsb_page_free(self->fd, self->id[7]));
	ASSERT_EQ(0, mmsb_snap_take(self->fd, &late));
	ASSERT_EQ(0, mmsb_snap_apply(self->copy, late));
	EXPECT_EQ(0, buses_equal(self->fd, self->copy, 1));

	/* The copy moved past the original: not brought back. */
	mmsb_delta_dense(&d, self->id[0], 0, "x", 1);
	for (i = 0; i < 60; i++)
		ASSERT_EQ(0, mmsb_submit(self->copy, &d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
	EXPECT_EQ(-ESTALE, mmsb_snap_apply(self->copy, late));
	mmsb_snap_free(s);
	mmsb_snap_free(late);
}

/*
 * The original goes through 120 ticks of random deltas of every
 * encoding (one SYNC submission of up to 4 deltas to distinct pages
 * each), a page created and one freed on the way; the test records
 * the stream those ticks make and the state after tick 70.  Replaying
 * the snapshot taken before them plus the stream to tick 70 gives that
 * state byte for byte, epoch for epoch; to the end, the original.
 */
TEST_F(replay, replay_to_tick)
{
	struct rec_buf b = { 0 };
	struct mmsb_snap *snap;
	const struct mmsb_page_header *nh = NULL;
	struct mmsb_page_create pc;
	__u64 seed = 99, stop = 0, newid = 0;
	char to[32];
	struct run out;
	int t, i;

	ASSERT_EQ(0, mmsb_snap_take(self->fd, &snap));
	ASSERT_EQ(0, mmsb_snap_write_file(snap, SNAP_FILE));
	mmsb_snap_free(snap);
	for (t = 0; t < 120; t++) {
		struct rdelta r[4];
		struct mmsb_delta d[4];
		int n = 1 + rnd(&seed) % 4, first = rnd(&seed) % NR_PAGES;
		__u64 tick;

		if (t == 30) {
			struct mmsb_stream_page sp = {
				.size = 200, .mode = 0600,
			};

			ASSERT_EQ(0, mmsb_page_create(self->fd, 200, 0600, 0,
						      &pc));
			newid = pc.id;
			ASSERT_EQ(0, mmsb_page_map(self->fd, newid, &nh));
			ASSERT_EQ(0, rec_add(&b, MMSB_REC_CREATE,
					     self->bus->tick, newid, 0, 0, 0,
					     &sp, sizeof(sp)));
		}
		if (t == 50) {
			ASSERT_EQ(0, mmsb_page_free(self->fd, self->id[5]));
			ASSERT_EQ(0, rec_add(&b, MMSB_REC_FREE,
					     self->bus->tick, self->id[5],
					     self->hdr[5]->epoch, 0, 0, NULL,
					     0));
		}
		for (i = 0; i < n; i++) {
			int p = (first + i) % NR_PAGES;
			__u64 id = self->id[p], size = self->hdr[p]->size;

			if (p == 5 && t >= 50) {
				id = newid;
				size = 200;
			}
			random_delta(&r[i], id, size, &seed);
			d[i] = r[i].d;
		}
		ASSERT_EQ(0, mmsb_submit(self->fd, d, n,
					 MMSB_SUBMIT_SYNC | MMSB_SUBMIT_ATOMIC,
					 NULL));
		tick = self->bus->tick;
		for (i = 0; i < n; i++) {
			const struct mmsb_page_header *h;
			__u8 win[256];

			ASSERT_EQ(0, d[i].status);
			h = d[i].page_id == newid ? nh :
				self->hdr[(first + i) % NR_PAGES];
			ASSERT_EQ(0, mmsb_page_read(h, d[i].offset, win,
						    d[i].len, NULL));
			ASSERT_EQ(0, rec_add(&b, MMSB_REC_DELTA, tick,
					     d[i].page_id, d[i].epoch,
					     d[i].delta_id, d[i].offset, win,
					     d[i].len));
		}
		ASSERT_EQ(0, rec_add(&b, MMSB_REC_TICK, tick, 0, 0, 0, 0, NULL,
				     0));
		if (t == 70) {
			struct mmsb_snap *m;

			ASSERT_EQ(0, mmsb_snap_take(self->fd, &m));
			stop = tick;
			ASSERT_EQ(tick, m->tick);
			ASSERT_EQ(0, mmsb_snap_write_file(m, MID_FILE));
			mmsb_snap_free(m);
		}
	}
	ASSERT_EQ(0, write_whole(STREAM_FILE, b.p, b.len));

	/* To tick 70: the state then, the snapshot of it taken then. */
	snprintf(to, sizeof(to), "%llu", (unsigned long long)stop);
	ASSERT_EQ(0, run(&out, "mmsbctl", "--bus", "1", "replay", SNAP_FILE,
			 STREAM_FILE, "--to-epoch", to, NULL))
		TH_LOG("%s", out.err);
	EXPECT_NE(NULL, strstr(out.out, "71 ticks")) TH_LOG("%s", out.out);
	{
		struct mmsb_snap *want, *got;
		__u64 k;

		ASSERT_EQ(0, mmsb_snap_read_file(MID_FILE, &want));
		ASSERT_EQ(0, mmsb_snap_take(self->copy, &got));
		ASSERT_EQ(want->nr_pages, got->nr_pages);
		for (k = 0; k < want->nr_pages; k++) {
			ASSERT_EQ(want->pages[k].id, got->pages[k].id);
			EXPECT_EQ(want->pages[k].epoch, got->pages[k].epoch);
			ASSERT_EQ(want->pages[k].size, got->pages[k].size);
			EXPECT_EQ(0, memcmp(want->pages[k].data,
					    got->pages[k].data,
					    want->pages[k].size))
				TH_LOG("page %llu differs",
				       (unsigned long long)want->pages[k].id);
		}
		mmsb_snap_free(want);
		mmsb_snap_free(got);
	}

	/* Then on from tick 70 to the end: the original as it is. */
	{
		struct mmsb_replay_stats st;
		struct mmsb_replayer *rp;

		ASSERT_EQ(0, mmsb_replayer_new(self->copy, stop, &rp));
		ASSERT_EQ(0, mmsb_replayer_feed(rp, b.p, b.len, UINT64_MAX,
						NULL));
		mmsb_replayer_stats(rp, &st);
		EXPECT_EQ(49, st.ticks);
		EXPECT_EQ(self->bus->tick, mmsb_replayer_tick(rp));
		/* Fed again: every tick is found applied, nothing moves. */
		mmsb_replayer_reset(rp, stop);
		ASSERT_EQ(0, mmsb_replayer_feed(rp, b.p, b.len, UINT64_MAX,
						NULL));
		mmsb_replayer_stats(rp, &st);
		EXPECT_EQ(49, st.skipped_ticks);
		mmsb_replayer_free(rp);
	}
	EXPECT_EQ(0, buses_equal(self->fd, self->copy, 1));
	mmsb_page_unmap(nh);
	free(b.p);
}

/*
 * Damaged or foreign files: the library's exact errno, and mmsbctl's
 * exit status 1 with the file named and the reason in words; the bus
 * is left alone.
 */
TEST_F(replay, format_errors)
{
	struct mmsb_snap *snap, *back;
	struct mmsb_snap_file_header h;
	size_t len;
	void *buf;
	__u8 *p;
	struct run out;
	const char *what;
	__u64 pages, bytes;
	int i;

	struct mmsb_delta d;

	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[0], self->id[1],
				   MMSB_EDGE_NOTIFY));
	/* One tick at least: a cut after tick 0. */
	mmsb_delta_dense(&d, self->id[0], 0, "ab", 2);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, mmsb_snap_take(self->fd, &snap));
	ASSERT_LT(0, snap->tick);
	ASSERT_EQ(0, mmsb_snap_encode(snap, &buf, &len));
	p = buf;
	/* Round trip first: the same snapshot back. */
	ASSERT_EQ(0, mmsb_snap_decode(buf, len, &back));
	EXPECT_EQ(snap->tick, back->tick);
	EXPECT_EQ(NR_PAGES, back->nr_pages);
	EXPECT_EQ(1, back->nr_edges);
	for (i = 0; i < NR_PAGES; i++) {
		EXPECT_EQ(snap->pages[i].id, back->pages[i].id);
		EXPECT_EQ(0, memcmp(snap->pages[i].data, back->pages[i].data,
				    snap->pages[i].size));
	}
	mmsb_snap_free(back);
	memcpy(&h, p, sizeof(h));
	EXPECT_EQ(0, memcmp(h.magic, "MMSBSNAP", 8));
	EXPECT_EQ(1, h.version);
	EXPECT_EQ(64, h.header_size);
	EXPECT_EQ(len, h.total_size);

	/* Bad magic. */
	p[0] ^= 0xff;
	EXPECT_EQ(-EBADMSG, mmsb_snap_decode(buf, len, &back));
	ASSERT_EQ(0, write_whole(MID_FILE, buf, len));
	EXPECT_EQ(1, run(&out, "mmsbctl", "--bus", "1", "restore", MID_FILE,
			 NULL));
	what = mmsb_strerror(-EBADMSG);
	EXPECT_NE(NULL, strstr(out.err, what)) TH_LOG("%s", out.err);
	EXPECT_NE(NULL, strstr(out.err, MID_FILE)) TH_LOG("%s", out.err);
	p[0] ^= 0xff;

	/* Another version. */
	h.version = 2;
	memcpy(p, &h, sizeof(h));
	EXPECT_EQ(-EPROTONOSUPPORT, mmsb_snap_decode(buf, len, &back));
	ASSERT_EQ(0, write_whole(MID_FILE, buf, len));
	EXPECT_EQ(1, run(&out, "mmsbctl", "--bus", "1", "restore", MID_FILE,
			 NULL));
	EXPECT_NE(NULL, strstr(out.err, "Unsupported snapshot format version"))
		TH_LOG("%s", out.err);
	h.version = 1;
	memcpy(p, &h, sizeof(h));

	/* Truncated, anywhere; shorter than a header too. */
	EXPECT_EQ(-ENODATA, mmsb_snap_decode(buf, len - 1, &back));
	EXPECT_EQ(-ENODATA, mmsb_snap_decode(buf, len / 2, &back));
	EXPECT_EQ(-ENODATA, mmsb_snap_decode(buf, 20, &back));
	EXPECT_EQ(-EBADMSG, mmsb_snap_decode(buf, 4, &back));
	ASSERT_EQ(0, write_whole(MID_FILE, buf, len - 100));
	EXPECT_EQ(1, run(&out, "mmsbctl", "--bus", "1", "restore", MID_FILE,
			 NULL));
	EXPECT_NE(NULL, strstr(out.err, "truncated")) TH_LOG("%s", out.err);

	/* A flipped data byte: the checksum. */
	p[len / 2] ^= 1;
	EXPECT_EQ(-EILSEQ, mmsb_snap_decode(buf, len, &back));
	ASSERT_EQ(0, write_whole(MID_FILE, buf, len));
	EXPECT_EQ(1, run(&out, "mmsbctl", "--bus", "1", "restore", MID_FILE,
			 NULL));
	EXPECT_NE(NULL, strstr(out.err, "checksum")) TH_LOG("%s", out.err);
	p[len / 2] ^= 1;

	/* Trailing bytes. */
	p = realloc(buf, len + 8);
	ASSERT_NE(NULL, p);
	buf = p;
	memset(p + len, 0, 8);
	EXPECT_EQ(-EBADMSG, mmsb_snap_decode(buf, len + 8, &back));
	/* No such file. */
	EXPECT_EQ(1, run(&out, "mmsbctl", "restore", "/tmp/none.snap", NULL));
	EXPECT_NE(NULL, strstr(out.err, "/tmp/none.snap"));
	EXPECT_NE(NULL, strstr(out.err, mmsb_strerror(-ENOENT)));
	/* Nothing reached bus 1. */
	ASSERT_EQ(0, held(self->copy, &pages, &bytes));
	EXPECT_EQ(0, pages);

	/* Replay: a tick before the cut, a stream that ends too soon. */
	ASSERT_EQ(0, write_whole(SNAP_FILE, buf, len));
	ASSERT_EQ(0, write_whole(STREAM_FILE, "", 0));
	EXPECT_EQ(1, run(&out, "mmsbctl", "--bus", "1", "replay", SNAP_FILE,
			 STREAM_FILE, "--to-epoch", "0", NULL));
	EXPECT_NE(NULL, strstr(out.err, "before the snapshot's cut"))
		TH_LOG("%s", out.err);
	EXPECT_EQ(1, run(&out, "mmsbctl", "--bus", "1", "replay", SNAP_FILE,
			 STREAM_FILE, "--to-epoch", "100000", NULL));
	EXPECT_NE(NULL, strstr(out.err, "before tick 100000"))
		TH_LOG("%s", out.err);
	EXPECT_EQ(1, run(&out, "mmsbctl", "--bus", "1", "replay", SNAP_FILE,
			 STREAM_FILE, NULL));
	EXPECT_NE(NULL, strstr(out.err, strerror(EINVAL)));
	ASSERT_EQ(0, held(self->copy, &pages, &bytes));
	EXPECT_EQ(0, pages);
	free(buf);
	mmsb_snap_free(snap);
}

/*
 * A damaged stream: a record cut off, a record whose size is not a
 * multiple of 8, an unknown type, an OVERFLOW record.
 */
TEST_F(replay, stream_errors)
{
	struct rec_buf b = { 0 };
	const struct mmsb_stream_record *rec;
	struct mmsb_replayer *rp;
	struct mmsb_stream_record *r;
	struct mmsb_snap *snap;
	size_t off = 0, used;

	ASSERT_EQ(0, mmsb_snap_take(self->fd, &snap));
	ASSERT_EQ(0, mmsb_snap_apply(self->copy, snap));
	ASSERT_EQ(0, rec_add(&b, MMSB_REC_DELTA, snap->tick + 1, self->id[0],
			     1, 1, 0, "abc", 3));
	ASSERT_EQ(0, rec_add(&b, MMSB_REC_TICK, snap->tick + 1, 0, 0, 0, 0,
			     NULL, 0));
	EXPECT_EQ(1, mmsb_stream_next(b.p, b.len, &off, &rec));
	EXPECT_EQ(MMSB_REC_DELTA, rec->type);
	EXPECT_EQ(sizeof(*rec) + 8, rec->size);
	EXPECT_EQ(1, mmsb_stream_next(b.p, b.len, &off, &rec));
	EXPECT_EQ(0, mmsb_stream_next(b.p, b.len, &off, &rec));
	off = 0;
	EXPECT_EQ(-ENODATA, mmsb_stream_next(b.p, 55, &off, &rec));
	EXPECT_EQ(-ENODATA, mmsb_stream_next(b.p, 10, &off, &rec));

	ASSERT_EQ(0, mmsb_replayer_new(self->copy, snap->tick, &rp));
	/* A tick without its TICK record: fed whole, -ENODATA; else kept. */
	EXPECT_EQ(-ENODATA, mmsb_replayer_feed(rp, b.p, 56, UINT64_MAX, NULL));
	EXPECT_EQ(0, mmsb_replayer_feed(rp, b.p, 56, UINT64_MAX, &used));
	EXPECT_EQ(0, used);
	EXPECT_EQ(snap->tick, mmsb_replayer_tick(rp));
	EXPECT_EQ(0, mmsb_replayer_feed(rp, b.p, b.len, UINT64_MAX, &used));
	EXPECT_EQ(b.len, used);
	EXPECT_EQ(snap->tick + 1, mmsb_replayer_tick(rp));

	r = (void *)b.p;
	r->size = 44;
	off = 0;
	EXPECT_EQ(-EBADMSG, mmsb_stream_next(b.p, b.len, &off, &rec));
	r->size = 56;
	r->type = 99;
	EXPECT_EQ(-EBADMSG, mmsb_stream_next(b.p, b.len, &off, &rec));
	r->type = MMSB_REC_OVERFLOW;
	r->tick = snap->tick + 2;
	mmsb_replayer_reset(rp, snap->tick);
	EXPECT_EQ(-EPIPE, mmsb_replayer_feed(rp, b.p, b.len, UINT64_MAX, NULL));
	/* A DELTA the bus cannot take at its epoch: diverged. */
	r->type = MMSB_REC_DELTA;
	r->tick = snap->tick + 5;
	r->epoch = 9;
	((struct mmsb_stream_record *)(b.p + 56))->tick = snap->tick + 5;
	mmsb_replayer_reset(rp, snap->tick + 1);
	EXPECT_EQ(-EBADE, mmsb_replayer_feed(rp, b.p, b.len, UINT64_MAX,
					     NULL));
	EXPECT_EQ(snap->tick + 1, mmsb_replayer_tick(rp));
	mmsb_replayer_free(rp);
	mmsb_snap_free(snap);
	free(b.p);
}

/* The snapshot's bytes, epochs and edges are the bus's now? */
static int bus_is_snap(int fd, const struct mmsb_snap *want)
{
	struct mmsb_snap *got;
	__u64 k;
	int ret = -EBADE;

	if (mmsb_snap_take(fd, &got))
		return -EIO;
	if (got->nr_pages != want->nr_pages || got->nr_edges != want->nr_edges)
		goto out;
	for (k = 0; k < want->nr_pages; k++)
		if (want->pages[k].id != got->pages[k].id ||
		    want->pages[k].epoch != got->pages[k].epoch ||
		    want->pages[k].size != got->pages[k].size ||
		    memcmp(want->pages[k].data, got->pages[k].data,
			   want->pages[k].size)) {
			printf("# page %llu differs\n",
			       (unsigned long long)want->pages[k].id);
			goto out;
		}
	ret = memcmp(want->edges, got->edges,
		     want->nr_edges * sizeof(*want->edges)) ? -EBADE : 0;
out:
	mmsb_snap_free(got);
	return ret;
}

/*
 * The kernel's stream, recorded by "mmsbctl stream --all ticks=60"
 * while 60 SYNC submissions of every encoding run over pages with
 * passthrough and notify edges; "mmsbctl replay" of the snapshot taken
 * after the stream opened plus that recording, to the tick of the 30th
 * submission, gives the bus as a snapshot taken then shows it; the
 * rest of the recording brings the copy to the original.
 */
/*
 * Is @fdpath (/proc/PID/fd/N) a change stream?  Not just any fd 4: the
 * recorder's child has other files at 4 for a moment before its exec.
 */
static bool is_stream(const char *fdpath)
{
	char target[64];
	ssize_t n = readlink(fdpath, target, sizeof(target) - 1);

	if (n < 0)
		return false;
	target[n] = '\0';
	return strstr(target, "mmsb-stream") != NULL;
}

TEST_F(replay, recorded_stream)
{
	struct mmsb_replayer *rp;
	struct mmsb_snap *mid;
	__u64 seed = 5, stop = 0;
	char to[32], fdpath[64];
	struct rdelta r[3];
	struct mmsb_delta d[3];
	struct run out;
	size_t len;
	void *buf;
	pid_t pid;
	int t, i, status, tries;

	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[0], self->id[1],
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[1], self->id[2],
				   MMSB_EDGE_NOTIFY));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, self->id[3], self->id[4],
				   MMSB_EDGE_PASSTHROUGH));
	/*
	 * The recorder is started again if it exits before its stream is
	 * open (fd 4, after the bus's 3): a new process right after the
	 * fixture's reload has, rarely, failed to open /dev/mmsb on the
	 * debug kernel (-ENODEV, -ENOENT), an open finding.
	 */
	for (tries = 0; tries < 5; tries++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			int o = open(STREAM_FILE, O_WRONLY | O_CREAT | O_TRUNC,
				     0600);

			/* Only 0, 1, 2: the bus is fd 3, the stream fd 4. */
			if (o < 0 || dup2(o, STDOUT_FILENO) < 0 || close(o))
				_exit(126);
			execlp("mmsbctl", "mmsbctl", "stream", "--all",
			       "ticks=60", NULL);
			_exit(127);
		}
		snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/4", pid);
		for (i = 0; i < 500 && !is_stream(fdpath); i++) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
			usleep(10000);
		}
		if (is_stream(fdpath))
			break;
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		TH_LOG("the recorder did not start (try %d)", tries + 1);
	}
	ASSERT_LT(tries, 5);
	ASSERT_EQ(0, run(&out, "mmsbctl", "snapshot", SNAP_FILE, NULL))
		TH_LOG("%s", out.err);
	for (t = 0; t < 60; t++) {
		int first = rnd(&seed) % NR_PAGES;

		for (i = 0; i < 3; i++) {
			int p = (first + i) % NR_PAGES;

			random_delta(&r[i], self->id[p], self->hdr[p]->size,
				     &seed);
			d[i] = r[i].d;
		}
		ASSERT_EQ(0, mmsb_submit(self->fd, d, 3,
					 MMSB_SUBMIT_SYNC | MMSB_SUBMIT_ATOMIC,
					 NULL));
		if (t == 29) {
			ASSERT_EQ(0, mmsb_snap_take(self->fd, &mid));
			stop = mid->tick;
		}
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);

	snprintf(to, sizeof(to), "%llu", (unsigned long long)stop);
	ASSERT_EQ(0, run(&out, "mmsbctl", "--bus", "1", "replay", SNAP_FILE,
			 STREAM_FILE, "--to-epoch", to, NULL))
		TH_LOG("%s", out.err);
	EXPECT_NE(NULL, strstr(out.out, "30 ticks")) TH_LOG("%s", out.out);
	EXPECT_EQ(0, bus_is_snap(self->copy, mid));
	mmsb_snap_free(mid);

	ASSERT_EQ(0, mmsb_read_file(STREAM_FILE, &buf, &len));
	ASSERT_EQ(0, mmsb_replayer_new(self->copy, stop, &rp));
	ASSERT_EQ(0, mmsb_replayer_feed(rp, buf, len, UINT64_MAX, NULL));
	EXPECT_EQ(self->bus->tick, mmsb_replayer_tick(rp));
	mmsb_replayer_free(rp);
	free(buf);
	EXPECT_EQ(0, buses_equal(self->fd, self->copy, 1));
}

TEST_HARNESS_MAIN
