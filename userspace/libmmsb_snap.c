// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libmmsb: snapshots of a bus (take, encode, decode, apply) and the
 * replay of a recorded change stream onto a bus, tick by tick.  The
 * file format is Documentation/snapshot.rst's; mmsbctl and mmsb-replicate
 * share this code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "libmmsb.h"

/* Tries before mmsb_snap_take() gives up on a bus that keeps changing. */
#define SNAP_TRIES	100

static __u64 fnv1a(__u64 h, const void *buf, size_t len)
{
	const __u8 *p = buf;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_OFFSET	0xcbf29ce484222325ULL

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

void mmsb_snap_free(struct mmsb_snap *s)
{
	__u64 i;

	if (!s)
		return;
	for (i = 0; i < s->nr_pages; i++)
		free(s->pages[i].data);
	free(s->pages);
	free(s->edges);
	free(s);
}

/* Every live id of the bus, ascending, in *@ids (malloc'ed); a count. */
static int list_ids(int fd, __u64 **ids)
{
	__u64 *v = NULL, next = 0, *nv;
	size_t n = 0, cap = 0;
	int got;

	do {
		if (cap - n < 1024) {
			cap = cap ? 2 * cap : 1024;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		got = mmsb_page_list(fd, next, v + n, 1024, &next);
		if (got < 0) {
			free(v);
			return got;
		}
		n += got;
	} while (got > 0 && next);
	if (n > INT32_MAX) {
		free(v);
		return -E2BIG;
	}
	*ids = v;
	return (int)n;
}

/* The structure part of a snapshot: pages (no data yet) and edges. */
static int snap_structure(int fd, struct mmsb_snap *s)
{
	struct mmsb_edge *e = NULL;
	__u64 *ids = NULL, i;
	size_t ne = 0, cap = 0;
	int n, ret;

	n = list_ids(fd, &ids);
	if (n < 0)
		return n;
	s->pages = calloc(n ? n : 1, sizeof(*s->pages));
	ret = -ENOMEM;
	if (!s->pages)
		goto out;
	for (i = 0; i < (__u64)n; i++) {
		struct mmsb_snap_page *p = &s->pages[s->nr_pages];
		struct mmsb_page_info in;
		__u32 count;
		int got;

		ret = mmsb_page_info(fd, ids[i], &in);
		/* Unreadable pages are not part of the caller's bus. */
		if (ret == -EACCES)
			continue;
		/* Freed meanwhile: the caller tries again. */
		if (ret)
			goto out;
		*p = (struct mmsb_snap_page){
			.id = in.id, .size = in.size, .epoch = in.epoch,
			.last_delta_id = in.last_delta_id, .mode = in.mode,
			.flags = in.flags, .uid = in.uid, .gid = in.gid,
		};
		s->nr_pages++;
		if (cap - ne < MMSB_EDGE_LIST_MAX) {
			struct mmsb_edge *ng;

			cap = cap ? 2 * cap : MMSB_EDGE_LIST_MAX;
			ng = realloc(e, cap * sizeof(*e));
			ret = -ENOMEM;
			if (!ng)
				goto out;
			e = ng;
		}
		got = mmsb_edge_list(fd, in.id, e + ne, MMSB_EDGE_LIST_MAX,
				     &count);
		ret = got;
		if (got < 0)
			goto out;
		ret = -E2BIG;
		if (count > MMSB_EDGE_LIST_MAX)
			goto out;
		ne += got;
	}
	s->edges = e;
	s->nr_edges = ne;
	e = NULL;
	ret = 0;
out:
	free(e);
	free(ids);
	return ret;
}

static int snap_find(const struct mmsb_snap *s, __u64 id)
{
	__u64 lo = 0, hi = s->nr_pages;

	while (lo < hi) {
		__u64 mid = lo + (hi - lo) / 2;

		if (s->pages[mid].id == id)
			return (int)mid;
		if (s->pages[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Same pages (ids, sizes, modes, flags, owners) and edges? */
static int snap_same_structure(const struct mmsb_snap *a,
			       const struct mmsb_snap *b)
{
	__u64 i;

	if (a->nr_pages != b->nr_pages || a->nr_edges != b->nr_edges)
		return 0;
	for (i = 0; i < a->nr_pages; i++) {
		const struct mmsb_snap_page *p = &a->pages[i], *q = &b->pages[i];

		if (p->id != q->id || p->size != q->size ||
		    p->mode != q->mode || p->flags != q->flags ||
		    p->uid != q->uid || p->gid != q->gid)
			return 0;
	}
	return !memcmp(a->edges, b->edges, a->nr_edges * sizeof(*a->edges));
}

/* Drop the edges whose @to is not in the snapshot (unreadable pages). */
static void snap_trim_edges(struct mmsb_snap *s)
{
	__u64 i, n = 0;

	for (i = 0; i < s->nr_edges; i++)
		if (snap_find(s, s->edges[i].to) >= 0)
			s->edges[n++] = s->edges[i];
	s->nr_edges = n;
}

/* One try: structure, the cut, the structure again (same, or -EAGAIN). */
static int snap_try(int fd, const struct mmsb_bus_header *bus,
		    struct mmsb_snap *s)
{
	const struct mmsb_page_header **hdrs = NULL;
	struct mmsb_snapshot_item *items = NULL;
	struct mmsb_snap again = { 0 };
	__u64 i, mapped = 0;
	__u32 seq;
	int ret;

	ret = snap_structure(fd, s);
	if (ret)
		return ret == -ENOENT ? -EAGAIN : ret;
	ret = -ENOMEM;
	hdrs = calloc(s->nr_pages + 1, sizeof(*hdrs));
	items = calloc(s->nr_pages + 1, sizeof(*items));
	if (!hdrs || !items)
		goto out;
	for (i = 0; i < s->nr_pages; i++) {
		struct mmsb_snap_page *p = &s->pages[i];

		p->data = malloc(p->size);
		ret = -ENOMEM;
		if (!p->data)
			goto out;
		ret = mmsb_page_map(fd, p->id, &hdrs[i]);
		if (ret)
			goto out;
		mapped++;
		items[i] = (struct mmsb_snapshot_item){
			.page = hdrs[i], .len = p->size, .buf = p->data,
		};
	}
	/*
	 * The cut: the bytes and epochs of every page and the bus's tick
	 * between two ticks.  mmsb_snapshot() retries on its own; the outer
	 * sequence makes @tick part of the same cut.
	 */
	do {
		seq = mmsb_bus_read_begin(bus);
		s->tick = __atomic_load_n(&bus->tick, __ATOMIC_RELAXED);
		ret = mmsb_snapshot(bus, items, s->nr_pages);
		if (ret)
			goto out;
	} while (mmsb_bus_read_retry(bus, seq));
	for (i = 0; i < s->nr_pages; i++)
		s->pages[i].epoch = items[i].epoch;

	/* Pages and edges change between ticks: unchanged around the cut. */
	ret = snap_structure(fd, &again);
	if (ret == -ENOENT || (!ret && !snap_same_structure(s, &again)))
		ret = -EAGAIN;
out:
	free(again.pages);
	free(again.edges);
	for (i = 0; i < mapped; i++)
		mmsb_page_unmap(hdrs[i]);
	free(hdrs);
	free(items);
	return ret;
}

static void snap_reset(struct mmsb_snap *s)
{
	__u64 i;

	for (i = 0; i < s->nr_pages; i++)
		free(s->pages[i].data);
	free(s->pages);
	free(s->edges);
	memset(s, 0, sizeof(*s));
}

int mmsb_snap_take(int fd, struct mmsb_snap **out)
{
	const struct mmsb_bus_header *bus;
	struct mmsb_snap *s;
	struct timespec ts;
	int ret, tries;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = mmsb_bus_map(fd, &bus);
	if (ret) {
		free(s);
		return ret;
	}
	for (tries = 0; tries < SNAP_TRIES; tries++) {
		ret = snap_try(fd, bus, s);
		if (ret != -EAGAIN)
			break;
		snap_reset(s);
	}
	mmsb_bus_unmap(bus);
	if (ret) {
		mmsb_snap_free(s);
		return ret;
	}
	snap_trim_edges(s);
	clock_gettime(CLOCK_REALTIME, &ts);
	s->created_ns = (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	*out = s;
	return 0;
}

int mmsb_snap_encode(const struct mmsb_snap *s, void **buf, size_t *len)
{
	struct mmsb_snap_file_header h = {
		.magic = MMSB_SNAP_MAGIC,
		.version = MMSB_SNAP_VERSION,
		.header_size = sizeof(h),
		.tick = s->tick,
		.nr_pages = s->nr_pages,
		.nr_edges = s->nr_edges,
		.created_ns = s->created_ns,
	};
	size_t size = sizeof(h), off;
	__u64 i, sum;
	__u8 *p;

	for (i = 0; i < s->nr_pages; i++)
		size += sizeof(struct mmsb_snap_file_page) +
			pad8(s->pages[i].size);
	size += s->nr_edges * sizeof(struct mmsb_edge) + sizeof(__u64);
	h.total_size = size;
	p = calloc(1, size);
	if (!p)
		return -ENOMEM;
	memcpy(p, &h, sizeof(h));
	off = sizeof(h);
	for (i = 0; i < s->nr_pages; i++) {
		const struct mmsb_snap_page *sp = &s->pages[i];
		struct mmsb_snap_file_page fp = {
			.id = sp->id, .size = sp->size, .epoch = sp->epoch,
			.last_delta_id = sp->last_delta_id, .mode = sp->mode,
			.flags = sp->flags, .uid = sp->uid, .gid = sp->gid,
		};

		memcpy(p + off, &fp, sizeof(fp));
		off += sizeof(fp);
		memcpy(p + off, sp->data, sp->size);
		off += pad8(sp->size);
	}
	for (i = 0; i < s->nr_edges; i++) {
		struct mmsb_edge e = {
			.from = s->edges[i].from, .to = s->edges[i].to,
			.kind = s->edges[i].kind,
		};

		memcpy(p + off, &e, sizeof(e));
		off += sizeof(e);
	}
	sum = fnv1a(FNV_OFFSET, p, off);
	memcpy(p + off, &sum, sizeof(sum));
	*buf = p;
	*len = size;
	return 0;
}

int mmsb_snap_decode(const void *buf, size_t len, struct mmsb_snap **out)
{
	struct mmsb_snap_file_header h;
	const __u8 *p = buf;
	struct mmsb_snap *s;
	__u64 i, sum, prev = 0;
	size_t off;
	int ret;

	if (len < sizeof(h.magic) ||
	    memcmp(p, MMSB_SNAP_MAGIC, sizeof(h.magic)))
		return -EBADMSG;
	if (len < sizeof(h))
		return -ENODATA;
	memcpy(&h, p, sizeof(h));
	if (h.version != MMSB_SNAP_VERSION)
		return -EPROTONOSUPPORT;
	if (h.header_size != sizeof(h) || h.reserved)
		return -EBADMSG;
	if (h.total_size > len)
		return -ENODATA;
	if (h.total_size < len || h.total_size < sizeof(h) + sizeof(sum))
		return -EBADMSG;
	memcpy(&sum, p + len - sizeof(sum), sizeof(sum));
	if (fnv1a(FNV_OFFSET, p, len - sizeof(sum)) != sum)
		return -EILSEQ;
	len -= sizeof(sum);
	/* Counts bounded by what the bytes can hold: no huge allocation. */
	if (h.nr_pages > len / sizeof(struct mmsb_snap_file_page) ||
	    h.nr_edges > len / sizeof(struct mmsb_edge))
		return -EBADMSG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = -ENOMEM;
	s->pages = calloc(h.nr_pages + 1, sizeof(*s->pages));
	s->edges = calloc(h.nr_edges + 1, sizeof(*s->edges));
	if (!s->pages || !s->edges)
		goto err;
	s->tick = h.tick;
	s->created_ns = h.created_ns;
	off = sizeof(h);
	ret = -EBADMSG;
	for (i = 0; i < h.nr_pages; i++) {
		struct mmsb_snap_file_page fp;
		struct mmsb_snap_page *sp = &s->pages[i];

		if (len - off < sizeof(fp))
			goto err;
		memcpy(&fp, p + off, sizeof(fp));
		off += sizeof(fp);
		/* Ids ascending, sizes that fit, reserved zero. */
		if (!fp.id || fp.id <= prev || !fp.size ||
		    fp.size > len - off || pad8(fp.size) > len - off ||
		    fp.reserved[0] || fp.reserved[1])
			goto err;
		prev = fp.id;
		*sp = (struct mmsb_snap_page){
			.id = fp.id, .size = fp.size, .epoch = fp.epoch,
			.last_delta_id = fp.last_delta_id, .mode = fp.mode,
			.flags = fp.flags, .uid = fp.uid, .gid = fp.gid,
		};
		sp->data = malloc(fp.size);
		if (!sp->data) {
			ret = -ENOMEM;
			goto err;
		}
		s->nr_pages++;
		memcpy(sp->data, p + off, fp.size);
		off += pad8(fp.size);
	}
	if ((len - off) != h.nr_edges * sizeof(struct mmsb_edge))
		goto err;
	memcpy(s->edges, p + off, h.nr_edges * sizeof(struct mmsb_edge));
	s->nr_edges = h.nr_edges;
	for (i = 0; i < s->nr_edges; i++)
		if (snap_find(s, s->edges[i].from) < 0 ||
		    snap_find(s, s->edges[i].to) < 0)
			goto err;
	*out = s;
	return 0;
err:
	mmsb_snap_free(s);
	return ret;
}

int mmsb_snap_write_file(const struct mmsb_snap *s, const char *path)
{
	size_t len, done = 0;
	void *buf;
	int fd, ret;

	ret = mmsb_snap_encode(s, &buf, &len);
	if (ret)
		return ret;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, (char *)buf + done, len - done);

		if (n < 0) {
			ret = -errno;
			break;
		}
		done += n;
	}
	if (close(fd) && !ret)
		ret = -errno;
out:
	free(buf);
	return ret;
}

int mmsb_read_file(const char *path, void **buf, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *p = malloc(cap), *np;
	int fd, ret = 0;

	if (!p)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(p);
		return -errno;
	}
	for (;;) {
		ssize_t got;

		if (n == cap) {
			cap *= 2;
			np = realloc(p, cap);
			if (!np) {
				ret = -ENOMEM;
				break;
			}
			p = np;
		}
		got = read(fd, p + n, cap - n);
		if (got < 0) {
			ret = -errno;
			break;
		}
		if (!got)
			break;
		n += got;
	}
	close(fd);
	if (ret) {
		free(p);
		return ret;
	}
	*buf = p;
	*len = n;
	return 0;
}

int mmsb_snap_read_file(const char *path, struct mmsb_snap **out)
{
	size_t len;
	void *buf;
	int ret;

	ret = mmsb_read_file(path, &buf, &len);
	if (ret)
		return ret;
	ret = mmsb_snap_decode(buf, len, out);
	free(buf);
	return ret;
}

/*
 * A descriptor of the bus @fd that creates pages owned by @uid/@gid:
 * the opener's fsuid/fsgid own what it creates, so reopen the device
 * under them (needs CAP_SETUID; otherwise @fd, and the caller owns).
 */
static int open_as(int fd, __u32 uid, __u32 gid)
{
	char path[64];
	int nfd, ouid, ogid;

	if (uid == geteuid() && gid == getegid())
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ogid = setfsgid(gid);
	ouid = setfsuid(uid);
	if ((__u32)setfsuid(uid) != uid || (__u32)setfsgid(gid) != gid) {
		setfsuid(ouid);
		setfsgid(ogid);
		return fd;
	}
	nfd = open(path, O_RDWR | O_CLOEXEC);
	setfsuid(ouid);
	setfsgid(ogid);
	return nfd < 0 ? fd : nfd;
}

/* Create page @p as it is in the snapshot (id, epoch, bytes, owner). */
static int snap_create(int fd, const struct mmsb_snap_page *p)
{
	struct mmsb_page_create pc;
	int ofd = open_as(fd, p->uid, p->gid), ret;

	ret = mmsb_page_restore(ofd, p->id, p->size, p->mode, p->flags,
				p->epoch, p->data, &pc);
	if (ofd != fd)
		close(ofd);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* A page both the bus and the snapshot have, on its way to the latter. */
struct snap_catchup {
	const struct mmsb_snap_page *p;
	__u64 epoch;		/* the bus's */
};

/*
 * Bring the pages the bus has already to the snapshot's bytes and
 * epochs: nothing for a page that has both; else, in rounds, one delta
 * per page still behind, all in one SYNC submission a round: the first
 * a DENSE delta of all its bytes, then one-byte deltas rewriting a byte
 * with its own value, until each epoch is the snapshot's.  Each delta
 * expects the epoch it saw, so every page moves by exactly one a round.
 * The bus has no edge meanwhile (mmsb_snap_apply()), so nothing else
 * moves.  -ESTALE for a page past the snapshot, or at its epoch with
 * other bytes (an epoch never goes back); -EMSGSIZE for another size.
 */
static int snap_catch_up(int fd, struct snap_catchup *c, size_t n)
{
	struct mmsb_delta *d = calloc(MMSB_SUBMIT_MAX, sizeof(*d));
	size_t *which = calloc(MMSB_SUBMIT_MAX, sizeof(*which));
	size_t i, k, left;
	int ret = -ENOMEM, round;

	if (!d || !which)
		goto out;
	for (round = 0;; round++) {
		left = 0;
		for (i = 0; i < n; i++)
			left += c[i].epoch < c[i].p->epoch;
		if (!left)
			break;
		for (i = 0; i < n;) {
			for (k = 0; i < n && k < MMSB_SUBMIT_MAX; i++) {
				if (c[i].epoch >= c[i].p->epoch)
					continue;
				mmsb_delta_dense(&d[k], c[i].p->id, 0,
						 c[i].p->data,
						 round ? 1 : c[i].p->size);
				/* Epoch 0 cannot be expected: 0 means any. */
				d[k].expected_epoch = c[i].epoch;
				which[k++] = i;
			}
			if (!k)
				break;
			ret = mmsb_submit(fd, d, k, MMSB_SUBMIT_SYNC, NULL);
			if (ret)
				goto out;
			while (k--) {
				ret = d[k].status;
				if (ret)
					goto out;
				c[which[k]].epoch = d[k].epoch;
			}
		}
	}
	ret = 0;
out:
	free(d);
	free(which);
	return ret;
}

/* Where page @p of the bus stands; 1 if it needs catching up. */
static int snap_compare(int fd, const struct mmsb_snap_page *p, __u64 *epoch)
{
	const struct mmsb_page_header *hdr;
	int ret, same;
	__u8 *now;

	ret = mmsb_page_map(fd, p->id, &hdr);
	if (ret)
		return ret;
	now = malloc(p->size);
	ret = -ENOMEM;
	if (!now)
		goto out;
	ret = -EMSGSIZE;
	if (hdr->size != p->size)
		goto out;
	ret = mmsb_page_read(hdr, 0, now, p->size, epoch);
	if (ret)
		goto out;
	same = !memcmp(now, p->data, p->size);
	ret = -ESTALE;
	if (*epoch > p->epoch || (*epoch == p->epoch && !same))
		goto out;
	ret = *epoch < p->epoch;
out:
	free(now);
	mmsb_page_unmap(hdr);
	return ret;
}

int mmsb_snap_apply(int fd, const struct mmsb_snap *s)
{
	struct snap_catchup *c = NULL;
	struct mmsb_edge e[64];
	__u64 *ids = NULL, i;
	size_t nc = 0;
	__u32 count;
	int n, ret, got, k;

	n = list_ids(fd, &ids);
	if (n < 0)
		return n;
	ret = -ENOMEM;
	c = calloc(s->nr_pages + 1, sizeof(*c));
	if (!c)
		goto out;
	/* 1. No edge, so that nothing below propagates. */
	for (i = 0; i < (__u64)n; i++) {
		do {
			got = mmsb_edge_list(fd, ids[i], e, 64, &count);
			if (got < 0) {
				ret = got;
				goto out;
			}
			for (k = 0; k < got; k++) {
				ret = mmsb_edge_del(fd, e[k].from, e[k].to,
						    e[k].kind);
				if (ret && ret != -ENOENT)
					goto out;
			}
		} while (count > (__u32)got);
	}
	/* 2. Pages the snapshot does not have go. */
	for (i = 0; i < (__u64)n; i++) {
		if (snap_find(s, ids[i]) >= 0)
			continue;
		ret = mmsb_page_free(fd, ids[i]);
		if (ret && ret != -ENOENT)
			goto out;
	}
	/* 3. Pages it has: created as they were, or brought to it. */
	for (i = 0; i < s->nr_pages; i++) {
		const struct mmsb_snap_page *p = &s->pages[i];

		if (!bsearch(&p->id, ids, n, sizeof(*ids), cmp_u64)) {
			ret = snap_create(fd, p);
		} else {
			c[nc].p = p;
			ret = snap_compare(fd, p, &c[nc].epoch);
			nc += ret == 1;
			ret = ret == 1 ? 0 : ret;
		}
		if (ret)
			goto out;
	}
	ret = snap_catch_up(fd, c, nc);
	if (ret)
		goto out;
	/* 4. Its edges. */
	for (i = 0; i < s->nr_edges; i++) {
		ret = mmsb_edge_add(fd, s->edges[i].from, s->edges[i].to,
				    s->edges[i].kind);
		if (ret)
			goto out;
	}
	ret = 0;
out:
	free(c);
	free(ids);
	return ret;
}

/* ---- the change stream ---------------------------------------------- */

int mmsb_stream_open(int fd, __u32 flags, const __u64 *ids, __u32 count,
		     __u32 buffer_bytes, __u64 *tick)
{
	struct mmsb_stream_open o = {
		.flags = flags,
		.count = count,
		.page_ids = (__u64)(uintptr_t)ids,
		.buffer_bytes = buffer_bytes,
	};
	int sfd = ioctl(fd, MMSB_IOC_STREAM_OPEN, &o);

	if (sfd < 0)
		return -errno;
	if (tick)
		*tick = o.tick;
	return sfd;
}

int mmsb_stream_next(const void *buf, size_t len, size_t *off,
		     const struct mmsb_stream_record **rec)
{
	const struct mmsb_stream_record *r;

	if (*off == len)
		return 0;
	if (len - *off < sizeof(*r))
		return -ENODATA;
	r = (const void *)((const char *)buf + *off);
	if (r->size < sizeof(*r) || r->size % 8 || r->size > len - *off)
		return r->size > len - *off ? -ENODATA : -EBADMSG;
	if (!r->type || r->type > MMSB_REC_OVERFLOW ||
	    r->len > r->size - sizeof(*r))
		return -EBADMSG;
	if (r->type == MMSB_REC_CREATE &&
	    r->len < sizeof(struct mmsb_stream_page))
		return -EBADMSG;
	if ((r->type == MMSB_REC_EDGE_ADD || r->type == MMSB_REC_EDGE_DEL) &&
	    r->len < sizeof(struct mmsb_edge))
		return -EBADMSG;
	*off += r->size;
	*rec = r;
	return 1;
}

/* ---- replay ------------------------------------------------------------ */

/* A mapped page of the bus being replayed onto. */
struct replay_map {
	__u64 id;
	const struct mmsb_page_header *hdr;
};

struct mmsb_replayer {
	int fd;
	struct replay_map *maps;
	size_t nr_maps, cap_maps;
	struct mmsb_delta *deltas;	/* this tick's, MMSB_SUBMIT_MAX */
	const struct mmsb_stream_record **delta_recs;
	__u32 nr_deltas;
	const struct mmsb_stream_record **later;	/* after the deltas */
	size_t nr_later, cap_later;
	const struct mmsb_stream_record **checks;	/* PROPAGATED */
	size_t nr_checks, cap_checks;
	__u64 tick;		/* the last tick applied */
	__u64 cut;		/* where it started: a snapshot's cut */
	int started;		/* past the TICK record of @tick */
	struct mmsb_replay_stats stats;
};

int mmsb_replayer_new(int fd, __u64 tick, struct mmsb_replayer **out)
{
	struct mmsb_replayer *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->tick = tick;
	r->cut = tick;
	r->deltas = calloc(MMSB_SUBMIT_MAX, sizeof(*r->deltas));
	r->delta_recs = calloc(MMSB_SUBMIT_MAX, sizeof(*r->delta_recs));
	if (!r->deltas || !r->delta_recs) {
		mmsb_replayer_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

static void replay_unmap_all(struct mmsb_replayer *r)
{
	size_t i;

	for (i = 0; i < r->nr_maps; i++)
		mmsb_page_unmap(r->maps[i].hdr);
	r->nr_maps = 0;
}

void mmsb_replayer_free(struct mmsb_replayer *r)
{
	if (!r)
		return;
	replay_unmap_all(r);
	free(r->maps);
	free(r->deltas);
	free(r->delta_recs);
	free(r->later);
	free(r->checks);
	free(r);
}

__u64 mmsb_replayer_tick(const struct mmsb_replayer *r)
{
	return r->tick;
}

void mmsb_replayer_stats(const struct mmsb_replayer *r,
			 struct mmsb_replay_stats *st)
{
	*st = r->stats;
}

void mmsb_replayer_reset(struct mmsb_replayer *r, __u64 tick)
{
	replay_unmap_all(r);
	r->tick = tick;
	r->cut = tick;
	r->started = 0;
	r->nr_deltas = 0;
	r->nr_later = 0;
	r->nr_checks = 0;
}

static const struct mmsb_page_header *replay_map(struct mmsb_replayer *r,
						 __u64 id)
{
	const struct mmsb_page_header *hdr;
	size_t i;

	for (i = 0; i < r->nr_maps; i++)
		if (r->maps[i].id == id)
			return r->maps[i].hdr;
	if (r->nr_maps == r->cap_maps) {
		size_t cap = r->cap_maps ? 2 * r->cap_maps : 64;
		struct replay_map *m = realloc(r->maps, cap * sizeof(*m));

		if (!m)
			return NULL;
		r->maps = m;
		r->cap_maps = cap;
	}
	if (mmsb_page_map(r->fd, id, &hdr))
		return NULL;
	r->maps[r->nr_maps++] = (struct replay_map){ .id = id, .hdr = hdr };
	return hdr;
}

static void replay_unmap(struct mmsb_replayer *r, __u64 id)
{
	size_t i;

	for (i = 0; i < r->nr_maps; i++) {
		if (r->maps[i].id != id)
			continue;
		mmsb_page_unmap(r->maps[i].hdr);
		r->maps[i] = r->maps[--r->nr_maps];
		return;
	}
}

static int push(const struct mmsb_stream_record ***v, size_t *n, size_t *cap,
		const struct mmsb_stream_record *rec)
{
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 64;
		const struct mmsb_stream_record **nv;

		nv = realloc(*v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = rec;
	return 0;
}

static const void *rec_data(const struct mmsb_stream_record *rec)
{
	return rec + 1;
}

/*
 * A CREATE, FREE, EDGE_ADD or EDGE_DEL record, idempotent: a page that
 * is there already, a free of a page gone, an edge there or gone are
 * what the record asks for.  Around a snapshot's cut a record may
 * describe what the snapshot has already.
 */
static int replay_structure(struct mmsb_replayer *r,
			    const struct mmsb_stream_record *rec)
{
	struct mmsb_stream_page sp;
	struct mmsb_snap_page p;
	struct mmsb_edge e;
	struct mmsb_page_info in;
	int ret;

	switch (rec->type) {
	case MMSB_REC_CREATE:
		memcpy(&sp, rec_data(rec), sizeof(sp));
		if (!mmsb_page_info(r->fd, rec->page_id, &in))
			return in.size == sp.size ? 0 : -EBADE;
		p = (struct mmsb_snap_page){
			.id = rec->page_id, .size = sp.size,
			.epoch = rec->epoch, .mode = sp.mode,
			.flags = sp.flags, .uid = sp.uid, .gid = sp.gid,
		};
		/* A new page is zeroed: its bytes come with its deltas. */
		ret = snap_create(r->fd, &p);
		r->stats.creates += !ret;
		return ret;
	case MMSB_REC_FREE:
		replay_unmap(r, rec->page_id);
		ret = mmsb_page_free(r->fd, rec->page_id);
		r->stats.frees += !ret;
		return ret == -ENOENT ? 0 : ret;
	case MMSB_REC_EDGE_ADD:
	case MMSB_REC_EDGE_DEL:
		memcpy(&e, rec_data(rec), sizeof(e));
		if (rec->type == MMSB_REC_EDGE_ADD) {
			ret = mmsb_edge_add(r->fd, e.from, e.to, e.kind);
			ret = ret == -EEXIST ? 0 : ret;
			/* At the cut: a page freed before the snapshot. */
			if (ret == -ENOENT && rec->tick == r->cut)
				ret = 0;
		} else {
			ret = mmsb_edge_del(r->fd, e.from, e.to, e.kind);
			ret = ret == -ENOENT ? 0 : ret;
		}
		r->stats.edges += !ret;
		return ret;
	}
	return 0;
}

/* A PROPAGATED record against the bus: its epoch, its window's bytes. */
static int replay_check(struct mmsb_replayer *r,
			const struct mmsb_stream_record *rec)
{
	const struct mmsb_page_header *hdr = replay_map(r, rec->page_id);
	__u8 *buf;
	__u64 epoch;
	int ret;

	if (!hdr)
		return -EBADE;
	buf = malloc(rec->len + 1);
	if (!buf)
		return -ENOMEM;
	ret = mmsb_page_read(hdr, rec->offset, buf, rec->len, &epoch);
	if (!ret && (epoch != rec->epoch ||
		     memcmp(buf, rec_data(rec), rec->len)))
		ret = -EBADE;
	free(buf);
	r->stats.checked += !ret;
	return ret;
}

/*
 * End of tick @tick: its deltas as one SYNC | ATOMIC submission, each
 * expecting the epoch before the tick, so every page's epoch moves as
 * on the original; then the checks and what came after the deltas.
 */
static int replay_commit(struct mmsb_replayer *r, __u64 tick)
{
	struct mmsb_page_info in;
	int ret = 0;
	size_t k;
	__u32 i;

	if (r->nr_deltas) {
		const struct mmsb_stream_record *first = r->delta_recs[0];

		/* Applied already (a restart after the submission)? */
		ret = mmsb_page_info(r->fd, first->page_id, &in);
		if (ret)
			return ret == -ENOENT ? -EBADE : ret;
		if (in.epoch >= first->epoch) {
			r->stats.skipped_ticks++;
			goto checks;
		}
		ret = mmsb_submit(r->fd, r->deltas, r->nr_deltas,
				  MMSB_SUBMIT_SYNC | MMSB_SUBMIT_ATOMIC, NULL);
		if (ret)
			return ret == -E2BIG ? -EBADE : ret;
		for (i = 0; i < r->nr_deltas; i++) {
			if (r->deltas[i].status)
				return r->deltas[i].status == -ESTALE ?
					-EBADE : r->deltas[i].status;
			if (r->deltas[i].epoch != r->delta_recs[i]->epoch)
				return -EBADE;
		}
		r->stats.deltas += r->nr_deltas;
	}
	r->stats.ticks++;
checks:
	for (k = 0; k < r->nr_checks; k++) {
		ret = replay_check(r, r->checks[k]);
		if (ret)
			return ret;
	}
	for (k = 0; k < r->nr_later; k++) {
		ret = replay_structure(r, r->later[k]);
		if (ret)
			return ret;
	}
	r->nr_deltas = 0;
	r->nr_checks = 0;
	r->nr_later = 0;
	r->tick = tick;
	return 0;
}

static int replay_delta(struct mmsb_replayer *r,
			const struct mmsb_stream_record *rec)
{
	struct mmsb_delta *d;
	__u32 i;
	int seen = 0;

	if (r->nr_deltas == MMSB_SUBMIT_MAX)
		return -EBADE;
	if (!rec->len || !rec->epoch)
		return -EBADMSG;
	for (i = 0; i < r->nr_deltas && !seen; i++)
		seen = r->delta_recs[i]->page_id == rec->page_id;
	d = &r->deltas[r->nr_deltas];
	mmsb_delta_dense(d, rec->page_id, rec->offset, rec_data(rec),
			 rec->len);
	/* The page's first delta of the tick expects the epoch before it. */
	d->expected_epoch = seen ? 0 : rec->epoch - 1;
	r->delta_recs[r->nr_deltas++] = rec;
	return 0;
}

int mmsb_replayer_feed(struct mmsb_replayer *r, const void *buf, size_t len,
		       __u64 to, size_t *used)
{
	const struct mmsb_stream_record *rec;
	size_t off = 0, start = 0, tick_end = 0;
	int ret, n;

	/*
	 * Where to start: after the TICK record of the replayer's tick if
	 * the records have it, else at the first record of a later tick.
	 */
	if (!r->started) {
		size_t o = 0;

		while ((n = mmsb_stream_next(buf, len, &o, &rec)) > 0)
			if (rec->type == MMSB_REC_TICK && rec->tick == r->tick) {
				start = o;
				break;
			}
		r->started = 1;
	}
	off = start;
	tick_end = start;
	for (;;) {
		size_t here = off;

		n = mmsb_stream_next(buf, len, &off, &rec);
		if (n < 0) {
			/* A cut-off last record: the caller brings more. */
			if (n == -ENODATA && used) {
				ret = 0;
				break;
			}
			return n;
		}
		if (!n) {
			ret = 0;
			break;
		}
		switch (rec->type) {
		case MMSB_REC_OVERFLOW:
			return -EPIPE;
		case MMSB_REC_DELTA:
		case MMSB_REC_PROPAGATED:
		case MMSB_REC_TICK:
			if (rec->tick <= r->tick)
				continue;
			if (rec->tick > to) {
				/* Past the point asked for: stop here. */
				r->nr_deltas = 0;
				r->nr_checks = 0;
				r->nr_later = 0;
				off = here;
				tick_end = here;
				goto done;
			}
			if (rec->type == MMSB_REC_DELTA)
				ret = replay_delta(r, rec);
			else if (rec->type == MMSB_REC_PROPAGATED)
				ret = push(&r->checks, &r->nr_checks,
					   &r->cap_checks, rec);
			else
				ret = replay_commit(r, rec->tick);
			if (ret)
				return ret;
			if (rec->type == MMSB_REC_TICK)
				tick_end = off;
			break;
		default:
			/* Before the cut: the snapshot has it. */
			if (rec->tick < r->cut)
				continue;
			/* Between ticks: in their place, or after the deltas. */
			if (rec->tick >= to && rec->tick > r->tick &&
			    to != UINT64_MAX) {
				off = here;
				tick_end = here;
				goto done;
			}
			if (r->nr_deltas || r->nr_checks)
				ret = push(&r->later, &r->nr_later,
					   &r->cap_later, rec);
			else
				ret = replay_structure(r, rec);
			if (ret)
				return ret;
			if (!r->nr_deltas && !r->nr_checks)
				tick_end = off;
			break;
		}
	}
done:
	if (used)
		*used = tick_end;
	else if (r->nr_deltas || r->nr_checks || r->nr_later)
		return -ENODATA;	/* a tick without its TICK record */
	/* Records held past @tick_end are read again with the next bytes. */
	r->nr_deltas = 0;
	r->nr_checks = 0;
	r->nr_later = 0;
	return 0;
}
