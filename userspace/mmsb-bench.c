// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb-bench: mmsb against the ways a program could share the same state
 * without it, in one run, with the same work: DENSE deltas of random
 * bytes at random offsets over pages of 4 KiB (64-byte deltas over 64
 * pages unless a row says otherwise), every delta applied and visible to
 * a reader of the mapping when the timed part ends.  Prints one
 * "MMSB-CSV," line per result (columns: BENCH_CSV_HEADER in bench.h);
 * scripts/bench turns them into a table and a plot, and what each row
 * measures is in Documentation/performance.rst.
 *
 *   mmsb-bench -s SECTION [-k KEY[,KEY...]]
 *
 * -k KEY runs only the rows of SECTION whose key contains KEY, or one
 * of the comma-separated KEYs (to look at one path while changing it).
 *
 * SECTION is one of
 *   peers       the paths a program would use instead, and the floors
 *   mmsb        MMSB_IOC_SUBMIT (SYNC and not) and MMSB_URING_SUBMIT
 *   shape       payloads of 512 B and 4 KiB, 1 and 4,096 pages
 *   guard       the rows the ratio guard of make check needs, as above
 *   tick        the seed's tick benchmark (load mmsb with tick_us=0)
 *   contention  1, 2 and 4 producer processes (run it without icount)
 *   latency     submit-to-visible for a reader polling the mapping, on
 *               another CPU (run it without icount)
 *   latency-self  the same, the writer polling (run it under icount)
 *
 * After every timed run the mapping is compared with a model that
 * applied the same deltas in order ("check" column): a difference makes
 * the exit status 1, except for io_uring WRITEs in flight together,
 * which the kernel may complete in any order ("reordered").
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "bench.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define RING_DEPTH	128	/* deepest io_uring row */
#define BPF_BATCH_MAX	256	/* largest BPF_MAP_UPDATE_BATCH row */
#define CONTEND_DIV	4	/* contention runs a quarter per producer */

/* Sections, as row flags. */
#define S_PEERS		(1u << 0)
#define S_MMSB		(1u << 1)
#define S_SHAPE		(1u << 2)
#define S_GUARD		(1u << 3)
#define S_CONTENTION	(1u << 4)

enum kind {
	K_MEMCPY,	/* user-space memcpy under a per-page seqlock */
	K_NOP,		/* IORING_OP_NOP */
	K_NULL_IOCTL,	/* MMSB_IOC_VERSION on /dev/mmsb */
	K_ENOTTY,	/* the same command on a memfd: -ENOTTY */
	K_PWRITE,	/* pwrite() to a memfd, one per delta */
	K_URING_WRITE,	/* IORING_OP_WRITE to a memfd, one per delta */
	K_BPF_ELEM,	/* BPF_MAP_UPDATE_ELEM per value a delta touches */
	K_BPF_BATCH,	/* BPF_MAP_UPDATE_BATCH of the values of a batch */
	K_IOCTL,	/* MMSB_IOC_SUBMIT, one MMSB_IOC_FLUSH at the end */
	K_IOCTL_SYNC,	/* MMSB_IOC_SUBMIT with MMSB_SUBMIT_SYNC */
	K_IOCTL_ATOMIC,	/* the same, and MMSB_SUBMIT_ATOMIC */
	K_URING,	/* MMSB_URING_SUBMIT */
	K_SQ,		/* the mapped queue, consumed by the tick */
	K_SQ_POLL,	/* the mapped queue, consumed by its poller */
};

/* Where a kind's bytes live (one target per kind, page count, value size). */
enum tkind { T_NONE, T_USER, T_MEMFD, T_BPF, T_MMSB };

static const enum tkind target_of[] = {
	[K_MEMCPY] = T_USER, [K_NOP] = T_NONE, [K_NULL_IOCTL] = T_MMSB,
	[K_ENOTTY] = T_MEMFD, [K_PWRITE] = T_MEMFD, [K_URING_WRITE] = T_MEMFD,
	[K_BPF_ELEM] = T_BPF, [K_BPF_BATCH] = T_BPF, [K_IOCTL] = T_MMSB,
	[K_IOCTL_SYNC] = T_MMSB, [K_IOCTL_ATOMIC] = T_MMSB, [K_URING] = T_MMSB,
	[K_SQ] = T_MMSB, [K_SQ_POLL] = T_MMSB,
};

/*
 * One measurement.  @batch: deltas per call, or per io_uring command;
 * @depth: io_uring commands in flight; @vsize: BPF value bytes; @n:
 * deltas timed (a multiple of batch, dividing into BENCH_POOL or a
 * multiple of it).
 */
struct row {
	const char *key, *label;
	enum kind kind;
	unsigned int batch, depth, len, pages, vsize;
	long n;
	unsigned int sections;
};

/*
 * Counts are sized so that each row runs 30-150 M guest instructions
 * under icount (0.03-0.15 s of guest time): enough for figures that
 * repeat to 0.1%, and the whole icount boot stays within a few minutes.
 */
#define P	S_PEERS
#define M	S_MMSB
#define G	S_GUARD
#define C	S_CONTENTION
static const struct row rows[] = {
	{ "memcpy", "user memcpy under a seqlock (the limit)", K_MEMCPY, 1, 1, 64, 64, 0, 2000000, P | G },
	{ "nop_d128", "io_uring NOP, depth 128 (floor)", K_NOP, 1, 128, 64, 64, 0, 262144, P },
	{ "null_ioctl", "null ioctl: MMSB_IOC_VERSION (floor)", K_NULL_IOCTL, 1, 1, 64, 64, 0, 131072, P },
	{ "enotty_memfd", "unknown ioctl on a memfd: -ENOTTY", K_ENOTTY, 1, 1, 64, 64, 0, 131072, P },
	{ "pwrite", "memfd pwrite, one per delta", K_PWRITE, 1, 1, 64, 64, 0, 65536, P | G | C },
	{ "uring_write_d1", "io_uring WRITE to a memfd, depth 1", K_URING_WRITE, 1, 1, 64, 64, 0, 8192, P },
	{ "uring_write_d16", "io_uring WRITE to a memfd, depth 16", K_URING_WRITE, 1, 16, 64, 64, 0, 16384, P },
	{ "uring_write_d128", "io_uring WRITE to a memfd, depth 128", K_URING_WRITE, 1, 128, 64, 64, 0, 32768, P | G },
	{ "bpf64_elem", "BPF array, 64 B values, UPDATE_ELEM", K_BPF_ELEM, 1, 1, 64, 64, 64, 32768, P },
	{ "bpf64_batch16", "BPF array, 64 B values, UPDATE_BATCH of 16", K_BPF_BATCH, 16, 1, 64, 64, 64, 32768, P },
	{ "bpf64_batch64", "BPF array, 64 B values, UPDATE_BATCH of 64", K_BPF_BATCH, 64, 1, 64, 64, 64, 32768, P | G },
	{ "bpf64_batch256", "BPF array, 64 B values, UPDATE_BATCH of 256", K_BPF_BATCH, 256, 1, 64, 64, 64, 32768, P },
	{ "bpf4k_elem", "BPF array, 4 KiB values, UPDATE_ELEM", K_BPF_ELEM, 1, 1, 64, 64, 4096, 8192, P },
	{ "bpf4k_batch64", "BPF array, 4 KiB values, UPDATE_BATCH of 64", K_BPF_BATCH, 64, 1, 64, 64, 4096, 8192, P | G },

	{ "mmsb_ioctl_b1", "mmsb ioctl, batch 1", K_IOCTL, 1, 1, 64, 64, 0, 16384, M },
	{ "mmsb_ioctl_b16", "mmsb ioctl, batch 16", K_IOCTL, 16, 1, 64, 64, 0, 65536, M | G },
	{ "mmsb_ioctl_b64", "mmsb ioctl, batch 64", K_IOCTL, 64, 1, 64, 64, 0, 65536, M | G },
	{ "mmsb_ioctl_b256", "mmsb ioctl, batch 256", K_IOCTL, 256, 1, 64, 64, 0, 65536, M | G | C },
	{ "mmsb_ioctl_b4096", "mmsb ioctl, batch 4096", K_IOCTL, 4096, 1, 64, 64, 0, 65536, M | G },
	{ "mmsb_sync_b1", "mmsb ioctl SYNC, batch 1", K_IOCTL_SYNC, 1, 1, 64, 64, 0, 4096, M | G },
	{ "mmsb_sync_b16", "mmsb ioctl SYNC, batch 16", K_IOCTL_SYNC, 16, 1, 64, 64, 0, 16384, M | C },
	{ "mmsb_sync_b64", "mmsb ioctl SYNC, batch 64", K_IOCTL_SYNC, 64, 1, 64, 64, 0, 32768, M },
	{ "mmsb_sync_b256", "mmsb ioctl SYNC, batch 256", K_IOCTL_SYNC, 256, 1, 64, 64, 0, 65536, M },
	/* 256 SQEs published at a time into a queue of 4096; see run_sq(). */
	{ "mmsb_sq_b256", "mmsb mapped queue, consumed by the tick", K_SQ, 256, 1, 64, 64, 0, 65536, M | G },
	{ "mmsb_sq_poll_b256", "mmsb mapped queue, consumed by the poller", K_SQ_POLL, 256, 1, 64, 64, 0, 65536, M | G },
	{ "mmsb_sync_b4096", "mmsb ioctl SYNC, batch 4096", K_IOCTL_SYNC, 4096, 1, 64, 64, 0, 65536, M },
	{ "mmsb_sync_b8_p8", "mmsb ioctl SYNC, batch 8, 8 pages", K_IOCTL_SYNC, 8, 1, 64, 8, 0, 16384, M | G },
	{ "mmsb_atomic_b8_p8", "mmsb ioctl SYNC ATOMIC, batch 8, 8 pages", K_IOCTL_ATOMIC, 8, 1, 64, 8, 0, 16384, M | G },
	{ "mmsb_uring_x1_d1", "mmsb io_uring, 1 per command, depth 1", K_URING, 1, 1, 64, 64, 0, 4096, M },
	{ "mmsb_uring_x1_d16", "mmsb io_uring, 1 per command, depth 16", K_URING, 1, 16, 64, 64, 0, 16384, M },
	{ "mmsb_uring_x1_d128", "mmsb io_uring, 1 per command, depth 128", K_URING, 1, 128, 64, 64, 0, 16384, M | G },
	{ "mmsb_uring_x16_d1", "mmsb io_uring, 16 per command, depth 1", K_URING, 16, 1, 64, 64, 0, 16384, M },
	{ "mmsb_uring_x16_d16", "mmsb io_uring, 16 per command, depth 16", K_URING, 16, 16, 64, 64, 0, 65536, M | C },
	{ "mmsb_uring_x16_d128", "mmsb io_uring, 16 per command, depth 128", K_URING, 16, 128, 64, 64, 0, 65536, M | G },

	{ "memcpy_len512", "user memcpy under a seqlock, 512 B", K_MEMCPY, 1, 1, 512, 64, 0, 524288, S_SHAPE },
	{ "pwrite_len512", "memfd pwrite, 512 B", K_PWRITE, 1, 1, 512, 64, 0, 32768, S_SHAPE },
	{ "mmsb_ioctl_b256_len512", "mmsb ioctl, batch 256, 512 B", K_IOCTL, 256, 1, 512, 64, 0, 32768, S_SHAPE },
	{ "memcpy_len4096", "user memcpy under a seqlock, 4 KiB", K_MEMCPY, 1, 1, 4096, 64, 0, 65536, S_SHAPE },
	{ "pwrite_len4096", "memfd pwrite, 4 KiB", K_PWRITE, 1, 1, 4096, 64, 0, 8192, S_SHAPE },
	{ "mmsb_ioctl_b256_len4096", "mmsb ioctl, batch 256, 4 KiB", K_IOCTL, 256, 1, 4096, 64, 0, 8192, S_SHAPE },
	{ "memcpy_pages1", "user memcpy under a seqlock, 1 page", K_MEMCPY, 1, 1, 64, 1, 0, 2000000, S_SHAPE },
	{ "pwrite_pages1", "memfd pwrite, 1 page", K_PWRITE, 1, 1, 64, 1, 0, 65536, S_SHAPE },
	{ "mmsb_ioctl_b256_pages1", "mmsb ioctl, batch 256, 1 page", K_IOCTL, 256, 1, 64, 1, 0, 65536, S_SHAPE },
	{ "memcpy_pages4096", "user memcpy under a seqlock, 4,096 pages", K_MEMCPY, 1, 1, 64, 4096, 0, 2000000, S_SHAPE },
	{ "pwrite_pages4096", "memfd pwrite, 4,096 pages", K_PWRITE, 1, 1, 64, 4096, 0, 65536, S_SHAPE },
	{ "mmsb_ioctl_b256_pages4096", "mmsb ioctl, batch 256, 4,096 pages", K_IOCTL, 256, 1, 64, 4096, 0, 65536, S_SHAPE },
};
#undef P
#undef M
#undef G
#undef C

/*
 * A page of the memcpy path: a sequence counter, then the data, laid out
 * as an mmsb page (header of MMSB_PAGE_DATA_OFFSET bytes, then data).
 */
struct upage {
	__u32 seq;
	__u8 pad[MMSB_PAGE_DATA_OFFSET - sizeof(__u32)];
	__u8 data[BENCH_PAGE];
};

/* The same write protocol as the kernel's write section for a page. */
static inline void seq_write(struct upage *p, unsigned int off,
			     const void *src, unsigned int len)
{
	__u32 s = p->seq;

	__atomic_store_n(&p->seq, s + 1, __ATOMIC_RELAXED);
	/* Odd seq before the data: pairs with mmsb_read_retry()'s fence. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(p->data + off, src, len);
	/* Data before even seq: pairs with mmsb_read_begin()'s acquire. */
	__atomic_store_n(&p->seq, s + 2, __ATOMIC_RELEASE);
}

/**
 * struct target - the pages one kind of path writes, and their model
 * @data: the bytes of page p as a reader of the mapping sees them
 * @model: what page p must hold: every delta run so far, in order
 * @w: the work of the row running now
 * @up: T_USER pages
 * @fd: memfd, BPF map, or /dev/mmsb
 * @ids: T_MMSB page ids
 * @desc: T_MMSB descriptors of @w (BENCH_POOL)
 * @shadow: T_BPF: the writer's copy of the map, whole values come from it
 * @keys, @vals: T_BPF batch buffers
 */
struct target {
	enum tkind kind;
	unsigned int pages, vsize;
	__u8 **data, **model;
	const struct bench_work *w;
	struct upage *up;
	int fd;
	__u64 *ids;
	struct mmsb_delta *desc;
	__u8 *shadow;
	__u32 *keys;
	__u8 *vals;
};

static struct target targets[16];
static unsigned int nr_targets;
static struct bench_work work;
static struct io_uring ring;
static pid_t ring_pid;
static int failed;

static void die(const char *what, int err)
{
	fprintf(stderr, "mmsb-bench: %s: %s\n", what, strerror(err));
	exit(1);
}

static int sys_bpf(int cmd, union bpf_attr *attr, unsigned int size)
{
	return syscall(__NR_bpf, cmd, attr, size) < 0 ? -errno : 0;
}

#define attr_size(field) \
	(offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))

/* The io_uring every io_uring row uses: the same setup for all paths. */
static struct io_uring *get_ring(void)
{
	int ret;

	if (ring_pid == getpid())
		return &ring;
	ret = io_uring_queue_init(RING_DEPTH, &ring,
				  IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_DEFER_TASKRUN);
	if (ret)
		die("io_uring_queue_init", -ret);
	ring_pid = getpid();
	return &ring;
}

static __u8 **page_array(unsigned int pages)
{
	__u8 **a = calloc(pages, sizeof(*a));

	if (!a)
		die("calloc", ENOMEM);
	return a;
}

static void *map_shared(size_t bytes, int prot, int fd)
{
	void *p = mmap(NULL, bytes, prot, MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0),
		       fd, 0);

	if (p == MAP_FAILED)
		die("mmap", errno);
	return p;
}

static void target_setup(struct target *t)
{
	size_t bytes = (size_t)t->pages * BENCH_PAGE;
	struct mmsb_page_create pc;
	unsigned int p;
	__u8 *base;
	int ret;

	t->data = page_array(t->pages);
	t->model = page_array(t->pages);
	base = calloc(t->pages, BENCH_PAGE);
	if (!base)
		die("calloc", ENOMEM);
	for (p = 0; p < t->pages; p++)
		t->model[p] = base + (size_t)p * BENCH_PAGE;

	switch (t->kind) {
	case T_NONE:
		break;
	case T_USER:
		/* Shared, as a reader process would map it. */
		t->up = map_shared(t->pages * sizeof(*t->up),
				   PROT_READ | PROT_WRITE, -1);
		for (p = 0; p < t->pages; p++)
			t->data[p] = t->up[p].data;
		break;
	case T_MEMFD: {
		static const __u8 zero[BENCH_PAGE];

		t->fd = memfd_create("mmsb-bench", MFD_CLOEXEC);
		if (t->fd < 0 || ftruncate(t->fd, bytes))
			die("memfd", errno);
		/* Allocate every page now, as mmsb's pages are at create. */
		for (p = 0; p < t->pages; p++)
			if (pwrite(t->fd, zero, BENCH_PAGE,
				   (off_t)p * BENCH_PAGE) != BENCH_PAGE)
				die("memfd pwrite", errno);
		base = map_shared(bytes, PROT_READ, t->fd);
		for (p = 0; p < t->pages; p++)
			t->data[p] = base + (size_t)p * BENCH_PAGE;
		break;
	}
	case T_BPF: {
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = sizeof(__u32);
		a.value_size = t->vsize;
		a.max_entries = bytes / t->vsize;
		a.map_flags = BPF_F_MMAPABLE;
		t->fd = syscall(__NR_bpf, BPF_MAP_CREATE, &a, attr_size(map_extra));
		if (t->fd < 0)
			die("BPF_MAP_CREATE", errno);
		base = map_shared(bytes, PROT_READ, t->fd);
		for (p = 0; p < t->pages; p++)
			t->data[p] = base + (size_t)p * BENCH_PAGE;
		t->shadow = calloc(t->pages, BENCH_PAGE);
		t->keys = calloc(2 * BPF_BATCH_MAX, sizeof(*t->keys));
		t->vals = calloc(2 * BPF_BATCH_MAX, t->vsize);
		if (!t->shadow || !t->keys || !t->vals)
			die("calloc", ENOMEM);
		break;
	}
	case T_MMSB:
		t->fd = mmsb_open();
		if (t->fd < 0)
			die("open /dev/mmsb", -t->fd);
		t->ids = calloc(t->pages, sizeof(*t->ids));
		t->desc = calloc(BENCH_POOL, sizeof(*t->desc));
		if (!t->ids || !t->desc)
			die("calloc", ENOMEM);
		for (p = 0; p < t->pages; p++) {
			const struct mmsb_page_header *hdr;

			ret = mmsb_page_create(t->fd, BENCH_PAGE, 0, 0, &pc);
			if (!ret)
				ret = mmsb_page_map(t->fd, pc.id, &hdr);
			if (ret)
				die("mmsb page", -ret);
			t->ids[p] = pc.id;
			t->data[p] = (__u8 *)hdr + MMSB_PAGE_DATA_OFFSET;
		}
		break;
	}
}

/* The target of @kind over @pages pages (@vsize for BPF), made once. */
static struct target *get_target(enum tkind kind, unsigned int pages,
				 unsigned int vsize)
{
	struct target *t;
	unsigned int i;

	for (i = 0; i < nr_targets; i++) {
		t = &targets[i];
		if (t->kind == kind && t->pages == pages && t->vsize == vsize)
			return t;
	}
	if (nr_targets == ARRAY_SIZE(targets))
		die("targets", ENOSPC);
	t = &targets[nr_targets++];
	t->kind = kind;
	t->pages = pages;
	t->vsize = vsize;
	t->fd = -1;
	target_setup(t);
	return t;
}

/* Point @t at @w; mmsb descriptors are made here, outside any timing. */
static void target_use(struct target *t, const struct bench_work *w)
{
	unsigned int i;

	t->w = w;
	if (t->kind != T_MMSB)
		return;
	for (i = 0; i < BENCH_POOL; i++)
		mmsb_delta_dense(&t->desc[i], t->ids[w->page[i]], w->off[i],
				 bench_payload(w, i), w->len);
}

/* The steps of run_calls() and run_ring(), one per path. */

static int step_memcpy(void *ctx, unsigned int i, unsigned int count)
{
	struct target *t = ctx;
	const struct bench_work *w = t->w;

	seq_write(&t->up[w->page[i]], w->off[i], bench_payload(w, i), w->len);
	return 0;
}

static int step_null_ioctl(void *ctx, unsigned int i, unsigned int count)
{
	struct target *t = ctx;
	struct mmsb_version v;

	return ioctl(t->fd, MMSB_IOC_VERSION, &v) ? -errno : 0;
}

static int step_enotty(void *ctx, unsigned int i, unsigned int count)
{
	struct target *t = ctx;
	struct mmsb_version v;

	return ioctl(t->fd, MMSB_IOC_VERSION, &v) < 0 && errno == ENOTTY ?
	       0 : -EIO;
}

static int step_pwrite(void *ctx, unsigned int i, unsigned int count)
{
	struct target *t = ctx;
	const struct bench_work *w = t->w;
	ssize_t ret;

	ret = pwrite(t->fd, bench_payload(w, i), w->len,
		     (off_t)w->page[i] * BENCH_PAGE + w->off[i]);
	return ret == (ssize_t)w->len ? 0 : ret < 0 ? -errno : -EIO;
}

/*
 * A BPF array holds whole values: the writer applies the delta to its
 * own copy of the map and sends every value the window touches, whole
 * (two 64-byte values unless the window is aligned; one 4 KiB value).
 * Returns the first and last key.
 */
static inline void bpf_apply(struct target *t, unsigned int i, __u32 *first,
			     __u32 *last)
{
	const struct bench_work *w = t->w;
	size_t at = (size_t)w->page[i] * BENCH_PAGE + w->off[i];

	memcpy(t->shadow + at, bench_payload(w, i), w->len);
	*first = at / t->vsize;
	*last = (at + w->len - 1) / t->vsize;
}

static int step_bpf_elem(void *ctx, unsigned int i, unsigned int count)
{
	struct target *t = ctx;
	union bpf_attr a;
	__u32 k, last;
	int ret;

	bpf_apply(t, i, &k, &last);
	for (; k <= last; k++) {
		memset(&a, 0, attr_size(flags));
		a.map_fd = t->fd;
		a.key = (__u64)(unsigned long)&k;
		a.value = (__u64)(unsigned long)(t->shadow + (size_t)k * t->vsize);
		a.flags = BPF_ANY;
		ret = sys_bpf(BPF_MAP_UPDATE_ELEM, &a, attr_size(flags));
		if (ret)
			return ret;
	}
	return 0;
}

static int step_bpf_batch(void *ctx, unsigned int first, unsigned int count)
{
	struct target *t = ctx;
	unsigned int i, m = 0;
	union bpf_attr a;
	__u32 k, last;
	int ret;

	/* Later elements of a batch see the earlier ones: in order. */
	for (i = first; i < first + count; i++) {
		bpf_apply(t, i, &k, &last);
		for (; k <= last; k++, m++) {
			t->keys[m] = k;
			memcpy(t->vals + (size_t)m * t->vsize,
			       t->shadow + (size_t)k * t->vsize, t->vsize);
		}
	}
	memset(&a, 0, attr_size(batch));
	a.batch.keys = (__u64)(unsigned long)t->keys;
	a.batch.values = (__u64)(unsigned long)t->vals;
	a.batch.count = m;
	a.batch.map_fd = t->fd;
	ret = sys_bpf(BPF_MAP_UPDATE_BATCH, &a, attr_size(batch));
	if (ret)
		return ret;
	return a.batch.count == m ? 0 : -EIO;
}

static int step_submit(void *ctx, unsigned int first, unsigned int count)
{
	struct target *t = ctx;

	return mmsb_submit(t->fd, t->desc + first, count, 0, NULL);
}

static int step_submit_sync(void *ctx, unsigned int first, unsigned int count)
{
	struct target *t = ctx;

	return mmsb_submit(t->fd, t->desc + first, count, MMSB_SUBMIT_SYNC,
			   NULL);
}

static int step_submit_atomic(void *ctx, unsigned int first,
			      unsigned int count)
{
	struct target *t = ctx;

	return mmsb_submit(t->fd, t->desc + first, count,
			   MMSB_SUBMIT_SYNC | MMSB_SUBMIT_ATOMIC, NULL);
}

static void prep_nop(void *ctx, struct io_uring_sqe *sqe, unsigned int i,
		     unsigned int count)
{
	io_uring_prep_nop(sqe);
}

static void prep_write(void *ctx, struct io_uring_sqe *sqe, unsigned int i,
		       unsigned int count)
{
	struct target *t = ctx;
	const struct bench_work *w = t->w;

	io_uring_prep_write(sqe, t->fd, bench_payload(w, i), w->len,
			    (__u64)w->page[i] * BENCH_PAGE + w->off[i]);
}

static void prep_submit(void *ctx, struct io_uring_sqe *sqe, unsigned int first,
			unsigned int count)
{
	struct target *t = ctx;

	mmsb_uring_prep_submit(sqe, t->fd, t->desc + first, count, 0);
}

/*
 * The mapped queue: one per row kind, on a file of its own (one queue a
 * file), set up at the row's first run and gone at its end
 * (sq_close()), so that no queue keeps the tick's timer running for the
 * rows after it.
 */
#define SQ_ENTRIES	4096

static struct mmsb_sq_handle sq_handle[2];
static long sq_calls;

static struct mmsb_sq_handle *sq_get(const struct row *r)
{
	struct mmsb_sq_handle *q = &sq_handle[r->kind == K_SQ_POLL];
	int fd, ret;

	if (q->map)
		return q;
	fd = mmsb_open();
	if (fd < 0)
		die("open", -fd);
	ret = mmsb_sq_setup(fd, SQ_ENTRIES, SQ_ENTRIES * (__u64)r->len,
			    r->kind == K_SQ_POLL ? MMSB_SQ_POLL : 0, 0, q);
	if (ret)
		die("sq setup", -ret);
	return q;
}

static void sq_close(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sq_handle); i++) {
		if (!sq_handle[i].map)
			continue;
		mmsb_sq_unmap(&sq_handle[i]);
		close(sq_handle[i].fd);
	}
}

/*
 * @n deltas through queue @q, @batch SQEs published at a time (one
 * release store of the tail, no system call), written with libmmsb's
 * inline helpers.  The kernel consumes them (the tick, or the poller)
 * and posts the CQEs once applied and visible.  The writer refills what
 * the kernel consumed and reaps the CQEs, those ready at once with one
 * store of cq_head; only when it can neither publish nor reap does it
 * sleep, in one MMSB_IOC_SQ_ENTER (GETEVENTS, no SUBMIT; it has a tick
 * run, which takes what the writer published and nobody took yet),
 * counted in sq_calls: about one per tick, never one per batch.
 */
static int run_sq(struct target *t, struct mmsb_sq_handle *q, long n,
		  unsigned int batch)
{
	const struct bench_work *w = t->w;
	long sent = 0, done = 0;
	struct mmsb_cqe *c;
	__u32 head, reaped;
	int ret;

	while (done < n) {
		bool moved = false;

		while (sent < n && q->tail - __atomic_load_n(&q->ring->sq_head,
				__ATOMIC_ACQUIRE) <= q->entries - batch) {
			unsigned int k;

			for (k = 0; k < batch; k++, sent++) {
				unsigned int i = sent % BENCH_POOL;
				struct mmsb_sqe *e = mmsb_sq_get_sqe(q);

				if (!e)
					return -EIO;
				ret = mmsb_sq_prep_dense(q, e, t->ids[w->page[i]],
							 w->off[i],
							 bench_payload(w, i),
							 w->len, sent);
				if (ret)
					return ret;
			}
			ret = mmsb_sq_submit(q);
			if (ret < 0)
				return ret;
			moved = true;
		}
		reaped = 0;
		mmsb_sq_for_each_cqe(q, head, c) {
			if (c->status)
				return c->status;
			reaped++;
		}
		if (reaped) {
			mmsb_sq_cq_advance(q, reaped);
			done += reaped;
			moved = true;
		}
		if (moved || done == n)
			continue;
		ret = mmsb_sq_enter(q, MMSB_SQ_ENTER_GETEVENTS, 1, UINT64_MAX);
		if (ret < 0)
			return ret;
		sq_calls++;
	}
	return 0;
}

/* @n deltas of row @r on @t: the timed part of every row. */
static int run(const struct row *r, struct target *t, long n)
{
	int ret;

	switch (r->kind) {
	case K_MEMCPY:
		return run_calls(t, n, 1, step_memcpy);
	case K_NOP:
		return run_ring(get_ring(), t, n, r->depth, 1, 0, prep_nop);
	case K_NULL_IOCTL:
		return run_calls(t, n, 1, step_null_ioctl);
	case K_ENOTTY:
		return run_calls(t, n, 1, step_enotty);
	case K_PWRITE:
		return run_calls(t, n, 1, step_pwrite);
	case K_URING_WRITE:
		return run_ring(get_ring(), t, n, r->depth, 1, r->len,
				prep_write);
	case K_BPF_ELEM:
		return run_calls(t, n, 1, step_bpf_elem);
	case K_BPF_BATCH:
		return run_calls(t, n, r->batch, step_bpf_batch);
	case K_IOCTL:
		/* Applied and visible at the end: the FLUSH is timed too. */
		ret = run_calls(t, n, r->batch, step_submit);
		return ret ?: mmsb_flush(t->fd);
	case K_IOCTL_SYNC:
		return run_calls(t, n, r->batch, step_submit_sync);
	case K_IOCTL_ATOMIC:
		return run_calls(t, n, r->batch, step_submit_atomic);
	case K_URING:
		return run_ring(get_ring(), t, n, r->depth, r->batch, r->batch,
				prep_submit);
	case K_SQ:
	case K_SQ_POLL:
		return run_sq(t, sq_get(r), n, r->batch);
	}
	return -EINVAL;
}

static struct target *row_target(const struct row *r)
{
	struct target *t;
	int ret;

	ret = bench_work_init(&work, r->len, r->pages);
	if (ret)
		die("work", -ret);
	t = get_target(target_of[r->kind], r->pages,
		       target_of[r->kind] == T_BPF ? r->vsize : 0);
	target_use(t, &work);
	return t;
}

/* Does the mapping hold what the model says?  Counts differing pages. */
static unsigned int target_diff(const struct target *t)
{
	unsigned int p, bad = 0;

	for (p = 0; p < t->pages; p++)
		bad += memcmp(t->data[p], t->model[p], BENCH_PAGE) != 0;
	return bad;
}

static const char *verify(const struct row *r, struct target *t)
{
	unsigned int bad;

	if (r->kind == K_NOP || r->kind == K_NULL_IOCTL || r->kind == K_ENOTTY)
		return "n/a";
	bad = target_diff(t);
	if (!bad)
		return "ok";
	/* Resynchronise the model, so later rows are judged on their own. */
	for (unsigned int p = 0; p < t->pages; p++)
		memcpy(t->model[p], t->data[p], BENCH_PAGE);
	if (r->kind == K_URING_WRITE && r->depth > 1)
		return "reordered";
	fprintf(stderr, "mmsb-bench: %s: %u pages differ from the model\n",
		r->key, bad);
	failed = 1;
	return "MISMATCH";
}

/* -p: mark each row's timed part for scripts/profile (bench.h). */
static bool profile_marks;

static void measure(const struct row *r, const char *section, long n)
{
	struct bench_result res = {
		.key = r->key, .section = section, .label = r->label,
		.batch = r->batch, .depth = r->depth, .payload = r->len,
		.pages = r->pages, .procs = 1, .deltas = n,
	};
	struct target *t = row_target(r);
	long unit = (long)r->batch, warm;
	struct mmsb_stats st0, st1;
	__u64 t0;
	bool sq;
	int ret;

	/* A warm-up of an eighth (page faults, caches, first ticks). */
	warm = n / 8 / unit * unit ?: unit;
	ret = run(r, t, warm);
	if (ret)
		die(r->key, -ret);
	bench_model_apply(t->model, &work, warm);

	sq = r->kind == K_SQ || r->kind == K_SQ_POLL;
	ret = sq ? mmsb_stats(t->fd, &st0) : 0;
	if (ret)
		die(r->key, -ret);
	if (profile_marks)
		bench_profile_mark();
	t0 = now_ns();
	ret = run(r, t, n);
	res.ns = now_ns() - t0;
	if (profile_marks)
		bench_profile_mark();
	if (ret)
		die(r->key, -ret);
	bench_model_apply(t->model, &work, n);
	res.check = verify(r, t);
	bench_csv(&res);
	ret = sq ? mmsb_stats(t->fd, &st1) : 0;
	if (ret)
		die(r->key, -ret);
	if (sq)
		printf("# %s: %ld SQ_ENTER calls (GETEVENTS) for %ld deltas; %llu ticks for the %ld timed\n",
		       r->key, sq_calls, n + warm,
		       (unsigned long long)(st1.ticks - st0.ticks), n);
	sq_calls = 0;
	sq_close();
}

/*
 * Contention: @procs producer processes run row @r at once on the same
 * target, each @n deltas of the same pool (starting at different points
 * of it is not needed: they race for the same pages either way).  No
 * model check: writers racing on a byte leave either's value.
 */
struct contend_ctl {
	int ready, go;
	__u64 start[8], end[8];
	int err[8];
};

/* One run of @procs producers; the totals go to @res. */
static void contend_once(const struct row *r, struct target *t,
			 unsigned int procs, long n, struct bench_result *res)
{
	struct contend_ctl *ctl;
	__u64 first = ~0ULL, last = 0;
	double per = 0;
	unsigned int i;

	ctl = map_shared(sizeof(*ctl), PROT_READ | PROT_WRITE, -1);
	memset(ctl, 0, sizeof(*ctl));
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork", errno);
		if (!pid) {
			/* A warm-up of its own, then wait for the others. */
			ctl->err[i] = run(r, t, n / 8 / r->batch * r->batch ?: r->batch);
			__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);
			while (!__atomic_load_n(&ctl->go, __ATOMIC_ACQUIRE))
				sched_yield();
			ctl->start[i] = now_ns();
			ctl->err[i] = ctl->err[i] ?: run(r, t, n);
			ctl->end[i] = now_ns();
			_exit(0);
		}
	}
	while (__atomic_load_n(&ctl->ready, __ATOMIC_SEQ_CST) < (int)procs)
		usleep(1000);
	__atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE);
	while (wait(NULL) > 0)
		;
	for (i = 0; i < procs; i++) {
		if (ctl->err[i])
			die(r->key, -ctl->err[i]);
		first = ctl->start[i] < first ? ctl->start[i] : first;
		last = ctl->end[i] > last ? ctl->end[i] : last;
		per += n * 1e9 / (ctl->end[i] - ctl->start[i]);
	}
	res->ns = last - first;
	res->per_proc = per / procs;
	munmap(ctl, sizeof(*ctl));
}

/*
 * Contention: @procs producer processes run row @r at once on the same
 * target, @n deltas each, all from the start of the same pool (they race
 * for the same pages).  Without icount the host's other work shows in
 * every figure: the best of CONTEND_ROUNDS runs is reported.  No model
 * check: writers racing on a byte leave either's value.
 */
#define CONTEND_ROUNDS	3

static void contend(const struct row *r, unsigned int procs, long n)
{
	char key[64], label[128];
	struct bench_result res = {
		.key = key, .section = "contention", .label = label,
		.batch = r->batch, .depth = r->depth, .payload = r->len,
		.pages = r->pages, .procs = procs, .deltas = n * procs,
		.check = "n/a",
	}, one = res;
	struct target *t = row_target(r);
	int round;

	for (round = 0; round < CONTEND_ROUNDS; round++) {
		contend_once(r, t, procs, n, &one);
		if (!round || one.ns < res.ns) {
			res.ns = one.ns;
			res.per_proc = one.per_proc;
		}
	}
	snprintf(key, sizeof(key), "contend_%s_p%u", r->key, procs);
	snprintf(label, sizeof(label), "%s, %u producer%s", r->label, procs,
		 procs > 1 ? "s" : "");
	bench_csv(&res);
}

/*
 * Submit-to-visible latency: the writer takes the time and submits one
 * 64-byte delta whose first 8 bytes are a mark (path and sample number)
 * never written there before; a reader polling those bytes in its
 * mapping (under the seqlock, for mmsb) takes the time it sees the mark.
 * The reader is either a process of its own on CPU 1, the writer being
 * on CPU 0 (without icount), or the writer itself, polling right after
 * the submission (under icount, where a second vCPU spinning would take
 * turns with the others on one host thread and stretch the figures).
 * A random pause of up to 500 us between samples spreads them over the
 * tick period.
 */
enum lat_path { L_IOCTL, L_SYNC, L_URING, L_PWRITE };

struct lat_ctl {
	__u64 armed, seen, t1, mark;
	__u32 page, off;
	int stop;
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static __u64 lat_read(const struct target *t, unsigned int page,
		      unsigned int off)
{
	__u64 v;

	if (t->kind == T_MMSB) {
		const struct mmsb_page_header *hdr = (const void *)
			(t->data[page] - MMSB_PAGE_DATA_OFFSET);
		__u32 seq;

		do {
			seq = mmsb_read_begin(hdr);
			memcpy(&v, t->data[page] + off, sizeof(v));
		} while (mmsb_read_retry(hdr, seq));
		return v;
	}
	/* The loop around us must load again: a compiler barrier. */
	__asm__ __volatile__("" ::: "memory");
	memcpy(&v, t->data[page] + off, sizeof(v));
	return v;
}

/* Poll until the mark shows; returns the time it did. */
static __u64 lat_poll(const struct target *t, const struct lat_ctl *ctl)
{
	while (lat_read(t, ctl->page, ctl->off) != ctl->mark)
		;
	return now_ns();
}

static void lat_reader(struct lat_ctl *ctl, const struct target *t)
{
	__u64 s;

	pin(1);
	for (s = 1;; s++) {
		while (__atomic_load_n(&ctl->armed, __ATOMIC_ACQUIRE) != s)
			if (__atomic_load_n(&ctl->stop, __ATOMIC_RELAXED))
				_exit(0);
		ctl->t1 = lat_poll(t, ctl);
		__atomic_store_n(&ctl->seen, s, __ATOMIC_RELEASE);
	}
}

static int lat_submit(enum lat_path path, struct target *t,
		      struct mmsb_delta *d, const __u8 *buf, size_t len,
		      __u64 user_data)
{
	ssize_t ret;

	switch (path) {
	case L_IOCTL:
		return mmsb_submit(t->fd, d, 1, 0, NULL);
	case L_SYNC:
		return mmsb_submit(t->fd, d, 1, MMSB_SUBMIT_SYNC, NULL);
	case L_URING:
		return mmsb_uring_submit(get_ring(), t->fd, d, 1, user_data);
	case L_PWRITE:
		/* For the memfd, @d's page_id is the page's index. */
		ret = pwrite(t->fd, buf, len, (off_t)d->page_id * BENCH_PAGE +
			     d->offset);
		return ret == (ssize_t)len ? 0 : ret < 0 ? -errno : -EIO;
	}
	return -EINVAL;
}

static void latency(enum lat_path path, unsigned int samples, int self)
{
	static const char *const names[] = {
		[L_IOCTL] = "mmsb_ioctl", [L_SYNC] = "mmsb_sync",
		[L_URING] = "mmsb_uring", [L_PWRITE] = "pwrite",
	};
	static const char *const labels[] = {
		[L_IOCTL] = "mmsb ioctl, batch 1, not SYNC",
		[L_SYNC] = "mmsb ioctl SYNC, batch 1",
		[L_URING] = "mmsb io_uring, 1 per command, depth 1",
		[L_PWRITE] = "memfd pwrite",
	};
	struct row r = {
		.kind = path == L_PWRITE ? K_PWRITE : K_IOCTL, .batch = 1,
		.depth = 1, .len = 64, .pages = 64,
	};
	char key[64], label[160], tick[32] = "?";
	struct bench_result res = {
		.key = key, .label = label, .batch = 1, .depth = 1,
		.payload = 64, .pages = 64, .procs = 1, .deltas = samples,
		.check = "ok", .section = self ? "latency-self" : "latency",
	};
	struct target *t = row_target(&r);
	struct mmsb_delta d;
	struct lat_ctl *ctl;
	__u64 *lat, s;
	pid_t pid = 0;
	__u8 buf[64];
	FILE *f;

	lat = calloc(samples, sizeof(*lat));
	ctl = map_shared(sizeof(*ctl), PROT_READ | PROT_WRITE, -1);
	memset(ctl, 0, sizeof(*ctl));
	if (!self) {
		pid = fork();
		if (pid < 0)
			die("fork", errno);
		if (!pid)
			lat_reader(ctl, t);
		pin(0);
	}
	for (s = 1; s <= samples; s++) {
		unsigned int i = s % BENCH_POOL, page = work.page[i];
		__u64 t0, t1;
		int ret;

		/* A mark no earlier sample of any path left there. */
		ctl->mark = (__u64)(path + 1) << 32 | s;
		ctl->page = page;
		ctl->off = work.off[i];
		memcpy(buf, bench_payload(&work, i), sizeof(buf));
		memcpy(buf, &ctl->mark, sizeof(ctl->mark));
		mmsb_delta_dense(&d, path == L_PWRITE ? page : t->ids[page],
				 ctl->off, buf, sizeof(buf));
		__atomic_store_n(&ctl->armed, s, __ATOMIC_RELEASE);
		t0 = now_ns();
		ret = lat_submit(path, t, &d, buf, sizeof(buf), s);
		if (ret)
			die(names[path], -ret);
		if (self) {
			t1 = lat_poll(t, ctl);
		} else {
			while (__atomic_load_n(&ctl->seen, __ATOMIC_ACQUIRE) != s)
				sched_yield();
			t1 = ctl->t1;
		}
		lat[s - 1] = t1 - t0;
		if (path == L_URING) {
			struct io_uring_cqe *cqe;

			ret = io_uring_wait_cqe(get_ring(), &cqe);
			if (ret || cqe->res != 1)
				die(names[path], ret ? -ret : EIO);
			io_uring_cqe_seen(get_ring(), cqe);
		}
		usleep(rnd() % 500);
	}
	if (!self) {
		__atomic_store_n(&ctl->stop, 1, __ATOMIC_RELAXED);
		waitpid(pid, NULL, 0);
	}

	f = fopen("/sys/module/mmsb/parameters/tick_us", "r");
	if (f) {
		if (!fgets(tick, sizeof(tick), f))
			snprintf(tick, sizeof(tick), "?");
		tick[strcspn(tick, "\n")] = 0;
		fclose(f);
	}
	snprintf(key, sizeof(key), "latency%s_%s", self ? "_self" : "",
		 names[path]);
	snprintf(label, sizeof(label), "%s, %s (tick_us %s)", labels[path],
		 self ? "the writer polls" : "a reader on another CPU polls",
		 tick);
	res.p99 = bench_percentile(lat, samples, 99);
	res.p50 = bench_percentile(lat, samples, 50);
	bench_csv(&res);
	munmap(ctl, sizeof(*ctl));
	free(lat);
}

/*
 * The seed's tick benchmark: 20,000 DENSE deltas of 128 bytes at random
 * offsets over 64 pages of 4 KiB, the pages chained by PASSTHROUGH
 * edges 0 -> 1 -> ... -> 63, all of it in one tick (mmsb loaded with
 * tick_us=0: ticks only on demand, so the FLUSH's tick takes them all).
 * Three rounds; the figures are the fastest round's (the tick with the
 * least total_ns, the least submit-to-FLUSH-return): a tick this large
 * wakes the worker pool, and when the workers' wake-ups land across
 * the vCPUs varies between rounds and boots even under icount (up to a
 * third of the tick).
 */
#define SEED_DELTAS	20000
#define SEED_PAGES	64

static void seed_tick(void)
{
	static const struct row r = {
		.kind = K_IOCTL, .batch = 1, .depth = 1, .len = 128,
		.pages = SEED_PAGES,
	};
	struct bench_result res = {
		.section = "tick", .batch = BENCH_POOL, .depth = 1,
		.payload = 128, .pages = SEED_PAGES, .procs = 1,
		.deltas = SEED_DELTAS,
	};
	struct target *t = row_target(&r);
	struct mmsb_stats st, best;
	__u64 t0, e2e = ~0ULL;
	const char *check = "ok";
	unsigned int p;
	int round, ret;

	for (p = 0; p + 1 < SEED_PAGES; p++) {
		ret = mmsb_edge_add(t->fd, t->ids[p], t->ids[p + 1],
				    MMSB_EDGE_PASSTHROUGH);
		if (ret)
			die("edge", -ret);
	}
	for (round = 0; round < 3; round++) {
		long done = 0;

		t0 = now_ns();
		while (done < SEED_DELTAS) {
			unsigned int c = SEED_DELTAS - done < BENCH_POOL ?
					 SEED_DELTAS - done : BENCH_POOL;

			ret = mmsb_submit(t->fd, t->desc, c, 0, NULL);
			if (ret)
				die("seed submit", -ret);
			done += c;
		}
		/* scripts/profile: the last round's FLUSH, its tick. */
		if (profile_marks && round == 2)
			bench_profile_mark();
		ret = mmsb_flush(t->fd);
		if (profile_marks && round == 2)
			bench_profile_mark();
		if (ret)
			die("seed flush", -ret);
		t0 = now_ns() - t0;
		e2e = t0 < e2e ? t0 : e2e;
		ret = mmsb_stats(t->fd, &st);
		if (ret)
			die("stats", -ret);
		/* One tick must take all of them, and change every page. */
		if (st.last.processed != SEED_DELTAS ||
		    st.last.pages_changed != SEED_PAGES) {
			fprintf(stderr, "mmsb-bench: seed tick: processed %llu, pages_changed %llu\n",
				(unsigned long long)st.last.processed,
				(unsigned long long)st.last.pages_changed);
			check = "split";
			failed = 1;
		}
		if (!round || st.last.total_ns < best.last.total_ns)
			best = st;
	}
	res.check = check;

	const struct {
		const char *key, *label;
		__u64 ns;
	} rows[] = {
		{ "seed_tick", "seed tick: the whole tick (MMSB_IOC_STATS total_ns)",
		  best.last.total_ns },
		{ "seed_tick_apply", "seed tick: apply (apply_ns)",
		  best.last.apply_ns },
		{ "seed_tick_propagate",
		  "seed tick: propagation along the chain (propagate_ns)",
		  best.last.propagate_ns },
		{ "seed_tick_graph", "seed tick: graph validation (graph_ns)",
		  best.last.graph_ns },
		{ "seed_tick_e2e", "seed tick: submit in 5 calls + FLUSH, wall",
		  e2e },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		res.key = rows[i].key;
		res.label = rows[i].label;
		res.ns = rows[i].ns;
		bench_csv(&res);
	}
	if (profile_marks) {
		/* The marked FLUSH, a row of its own for scripts/profile. */
		res.key = "seed_tick_flush";
		res.label = "seed tick: the last round's FLUSH (profiled)";
		res.ns = 0;
		bench_csv(&res);
	}
}

static const char *only_key;

/* -k KEY[,KEY...]: does row key @key contain one of them? */
static bool key_wanted(const char *key)
{
	const char *k = only_key;

	if (!k)
		return true;
	for (;;) {
		size_t n = strcspn(k, ",");
		char want[64];

		if (n && n < sizeof(want)) {
			memcpy(want, k, n);
			want[n] = 0;
			if (strstr(key, want))
				return true;
		}
		if (!k[n])
			return false;
		k += n + 1;
	}
}

/*
 * io_uring WRITEs to a memfd go through io-wq, whose worker threads share
 * the process's file table, from the first one on; fdget() then takes a
 * reference where a single-threaded process took none (some 40
 * instructions a system call, for every row after).  So those rows run
 * last in a section: the rows before them, pwrite and mmsb's ioctls
 * alike, all run single-threaded.
 */
static bool starts_io_wq(const struct row *r)
{
	return r->kind == K_URING_WRITE;
}

static void run_section(unsigned int flag, const char *name)
{
	unsigned int i, pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < ARRAY_SIZE(rows); i++)
			if ((rows[i].sections & flag) &&
			    starts_io_wq(&rows[i]) == pass &&
			    key_wanted(rows[i].key))
				measure(&rows[i], name, rows[i].n);
}

int main(int argc, char **argv)
{
	const char *s = NULL;
	unsigned int i, procs;
	int opt;

	while ((opt = getopt(argc, argv, "s:k:p")) != -1) {
		if (opt == 's')
			s = optarg;
		else if (opt == 'k')
			only_key = optarg;
		else if (opt == 'p')
			profile_marks = true;
		else
			goto usage;
	}
	if (!s)
		goto usage;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(s, "peers")) {
		run_section(S_PEERS, s);
	} else if (!strcmp(s, "mmsb")) {
		run_section(S_MMSB, s);
	} else if (!strcmp(s, "shape")) {
		run_section(S_SHAPE, s);
	} else if (!strcmp(s, "guard")) {
		run_section(S_GUARD, s);
	} else if (!strcmp(s, "tick")) {
		seed_tick();
	} else if (!strcmp(s, "contention")) {
		for (i = 0; i < ARRAY_SIZE(rows); i++) {
			if (!(rows[i].sections & S_CONTENTION))
				continue;
			for (procs = 1; procs <= 4; procs *= 2)
				contend(&rows[i], procs,
					rows[i].n / CONTEND_DIV);
		}
	} else if (!strcmp(s, "latency")) {
		for (i = L_IOCTL; i <= L_PWRITE; i++)
			latency(i, 1000, 0);
	} else if (!strcmp(s, "latency-self")) {
		for (i = L_IOCTL; i <= L_PWRITE; i++)
			latency(i, 500, 1);
	} else {
		goto usage;
	}
	return failed;
usage:
	fprintf(stderr, "usage: %s -s peers|mmsb|shape|guard|tick|"
		"contention|latency|latency-self [-k KEY] [-p]\n", argv[0]);
	return 2;
}
