// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb-fuzz: a seeded fuzzer of /dev/mmsb, run in a guest as root.
 *
 *	mmsb-fuzz SEED OPS [WORKERS]
 *
 * WORKERS processes (default 4: half as uid 0, half as uid 65534) each
 * run OPS / WORKERS operations drawn from their own generator, seeded
 * from SEED and the worker's index: valid and mutated ioctls and
 * io_uring commands (corrupted fields, bad and half-mapped pointers,
 * huge counts, overflowing windows, random flags, the three delta
 * encodings), interleaved with mmap, munmap, mprotect, mremap, fork,
 * kill, close and PAGE_FREE.  Each worker's sequence of operations is a
 * function of the seed; how the workers interleave is up to the
 * scheduler.
 *
 * The kernel's answers are checked, not only survived:
 *  - every errno is one the header and the kernel-doc of that call
 *    document for it (the sets below);
 *  - where the outcome is known exactly, it must be that one: a field
 *    the kernel must refuse (-EINVAL, -ERANGE, -EMSGSIZE, -E2BIG), a
 *    writable mapping (-EPERM), mprotect(PROT_WRITE) (-EACCES), a
 *    mapping longer than the page (-EINVAL), a header that names its
 *    page, a WAIT already satisfied;
 *  - each worker owns a "model page" nobody else may change (its id is
 *    published to the others, who only read it): after every SYNC
 *    submission to it, by ioctl or io_uring, its mapped bytes must equal
 *    a model that applied exactly the deltas whose status was 0.
 * At the end every page is freed and MMSB_IOC_STATS must come back to
 * zero pages, page bytes, delta bytes, edges and ring depth.
 *
 * Any failed check prints "FAIL seed=... worker=... op=...: ..." and
 * the exit status is 1.  Last line: "fuzz: seed=S ops=N failures=F".
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <liburing.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/mmsb.h>

#include "libmmsb.h"
#include "libmmsb_uring.h"
#include "../pages.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_WORKERS	8
#define MAX_OWN		24
#define MAX_KNOWN	64
#define MAX_MAPS	24
#define MAX_DELTAS	16
#define MODEL_SIZE	3000
#define NOBODY		65534
/*
 * PROT_NONE after the scratch pages: past the largest array the kernel
 * may be told to walk (a refused delta does not stop the others, so a
 * SUBMIT of MMSB_SUBMIT_MAX deltas reads and writes that far).
 */
#define GUARD	(MMSB_SUBMIT_MAX * sizeof(struct mmsb_delta) + 4096)

/* What every worker may see of the others: their model pages. */
struct shared {
	__u64 model[MAX_WORKERS];
	unsigned long failures;
	int ready;
	/* Progress, for the watchdog: op index + 1 and its kind. */
	unsigned long progress[MAX_WORKERS];
	unsigned int kind[MAX_WORKERS];
	unsigned long ops;
};

struct own_page {
	__u64 id, size;
};

struct mapping {
	void *addr;
	size_t len;
	__u64 id;
};

struct worker {
	int idx;
	uint64_t rng;
	unsigned long op;
	int fd;
	bool root;
	struct io_uring ring;
	bool have_ring;
	unsigned int ring_inflight;
	struct own_page own[MAX_OWN];
	int nown;
	__u64 known[MAX_KNOWN];
	int nknown;
	struct mapping maps[MAX_MAPS];
	int nmaps;
	/* The model page: only this worker writes it. */
	__u64 model_id;
	__u64 model_epoch;	/* after the worker's last change of it */
	const struct mmsb_page_header *model_hdr;
	unsigned char model[MODEL_SIZE];
	/* Two pages, then GUARD bytes PROT_NONE: half-mapped arguments. */
	unsigned char *half;
	pid_t child;
};

static struct shared *sh;
static unsigned long myfails;	/* this process's, for a child's status */
static unsigned long long seed;
static long pagesz;
static int nworkers;
static const char *opname;

/* splitmix64: small, fast, and good enough for a fuzzer. */
static uint64_t rnd(struct worker *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct worker *w, uint64_t n)
{
	return n ? rnd(w) % n : 0;
}

static bool chance(struct worker *w, unsigned int pct)
{
	return below(w, 100) < pct;
}

/*
 * MMSB_FUZZ_MODEL=report: a model page found changed behind its owner
 * (an open bug, Documentation/testing.rst) is printed as KNOWN, not
 * counted as a failure.
 */
static bool model_known(struct worker *w, const char *what)
{
	if (!getenv("MMSB_FUZZ_MODEL"))
		return false;
	printf("KNOWN seed=%llu worker=%d op=%lu %s: %s\n", seed, w->idx,
	       w->op, opname, what);
	return true;
}

static void fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL seed=%llu worker=%d op=%lu %s: ", seed, w->idx, w->op,
	       opname);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	__atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
	myfails++;
}

/* Print a (debugfs) file, for a failure's context. */
static void dump_file(const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("#   %s", line);
	fclose(f);
}

/* Is -@err one of the errnos in the 0-terminated list? */
static bool in_set(int err, const int *set)
{
	for (; *set; set++)
		if (err == *set)
			return true;
	return false;
}

#define ERRS(...) ((const int []){ __VA_ARGS__, 0 })

static void expect_in(struct worker *w, int err, const int *set)
{
	if (err && !in_set(err, set))
		fail(w, "errno %d (%s) not documented for this call", err,
		     strerror(err));
}

static void expect_eq(struct worker *w, int got, int want)
{
	if (got != want)
		fail(w, "got %d (%s), want %d (%s)", got, strerror(got), want,
		     strerror(want));
}

static int xioctl(struct worker *w, unsigned long cmd, void *arg)
{
	return ioctl(w->fd, cmd, arg) ? errno : 0;
}

/*
 * A bad pointer: NULL, kernel, random, into the guard, or straddling
 * the end of the scratch pages into it.  The scratch pages are filled
 * afresh each time: what the kernel wrote there (page ids of a listing,
 * events, statuses) must not read back as a valid delta to a model page.
 */
static void *bad_ptr(struct worker *w, size_t size)
{
	memset(w->half, 0x5a, pagesz * 2);
	switch (below(w, 5)) {
	case 0:
		return NULL;
	case 1:
		return (void *)0xffff888000000000ULL;
	case 2:
		return (void *)(uintptr_t)(rnd(w) | 1);
	case 3:
		return w->half + pagesz * 2;	/* unmapped */
	default:
		/*
		 * Straddles the end of the scratch pages: at least one byte
		 * in the guard, never reaching below them.
		 */
		if (size < 2)
			return w->half + pagesz * 2;
		if (size > (size_t)pagesz)
			size = pagesz;
		return w->half + pagesz * 2 - size / 2;
	}
}

static bool is_model(__u64 id)
{
	int i;

	for (i = 0; i < MAX_WORKERS; i++)
		if (sh->model[i] && sh->model[i] == id)
			return true;
	return false;
}

/* A page id to aim at: own, seen in a listing, a model, or garbage. */
static __u64 pick_id(struct worker *w, bool may_change)
{
	__u64 id;

	for (;;) {
		switch (below(w, 8)) {
		case 0: case 1: case 2: case 3:
			if (!w->nown)
				continue;
			id = w->own[below(w, w->nown)].id;
			break;
		case 4: case 5:
			if (!w->nknown)
				continue;
			id = w->known[below(w, w->nknown)];
			break;
		case 6:
			id = sh->model[below(w, MAX_WORKERS)];
			break;
		default:
			id = chance(w, 50) ? below(w, 4096) : rnd(w);
			break;
		}
		if (may_change && is_model(id))
			continue;
		return id;
	}
}

static void forget_own(struct worker *w, __u64 id)
{
	int i;

	for (i = 0; i < w->nown; i++)
		if (w->own[i].id == id)
			w->own[i] = w->own[--w->nown];
}

/* ---- pages ---------------------------------------------------------- */

static void op_create(struct worker *w)
{
	struct mmsb_page_create pc = { 0 };
	int bad = 0, err;

	opname = "PAGE_CREATE";
	pc.size = 1 + below(w, chance(w, 90) ? 8192 : 256 << 10);
	pc.mode = chance(w, 50) ? 0 : below(w, 01000);
	pc.flags = chance(w, 80) ? 0 : MMSB_PAGE_EVICTABLE;
	switch (below(w, 12)) {
	case 0:
		pc.size = chance(w, 50) ? 0 : (16ULL << 20) + 1 + below(w, 9);
		bad = EINVAL;
		break;
	case 1:
		pc.mode = 01000 + below(w, 1U << 20);
		bad = EINVAL;
		break;
	case 2: {
		/* Any unknown bit; bit 8 is MMSB_PAGE_RESTORE (case 3). */
		unsigned int bit = 1 + below(w, 30);

		pc.flags = 1U << (bit < 8 ? bit : bit + 1);
		bad = EINVAL;
		break;
	}
	case 3:
		switch (below(w, 3)) {
		case 0:
			pc.epoch = 1 + below(w, 100);
			bad = EINVAL;
			break;
		case 1:
			pc.data = 1 + below(w, 100);
			bad = EINVAL;
			break;
		default:
			/*
			 * A restore of an id handed out already (or 0):
			 * -EEXIST (-EINVAL) for root, -EPERM for the
			 * others, who lack CAP_SYS_ADMIN.
			 */
			pc.flags |= MMSB_PAGE_RESTORE;
			pc.id = chance(w, 10) ? 0 : (w->nown ?
				w->own[below(w, w->nown)].id : 0);
			pc.epoch = rnd(w);
			bad = !w->root ? EPERM : pc.id ? EEXIST : EINVAL;
			break;
		}
		break;
	case 4:
		pc.size = rnd(w) | (1ULL << 63);
		bad = EINVAL;
		break;
	case 5:
		err = ioctl(w->fd, MMSB_IOC_PAGE_CREATE,
			    bad_ptr(w, sizeof(pc))) ? errno : 0;
		if (!err)
			fail(w, "a bad pointer was accepted");
		expect_in(w, err, ERRS(EFAULT));
		return;
	}
	err = xioctl(w, MMSB_IOC_PAGE_CREATE, &pc);
	if (bad) {
		expect_eq(w, err, bad);
		return;
	}
	expect_in(w, err, ERRS(ENOMEM, ENOSPC));
	if (err)
		return;
	if (pc.mmap_offset != pc.id * pagesz)
		fail(w, "mmap_offset %llu for id %llu", pc.mmap_offset, pc.id);
	if (w->nown < MAX_OWN) {
		w->own[w->nown].id = pc.id;
		w->own[w->nown++].size = pc.size;
	} else {
		struct mmsb_page_free pf = { .id = pc.id };

		opname = "PAGE_FREE(new)";
		expect_in(w, xioctl(w, MMSB_IOC_PAGE_FREE, &pf), ERRS(ENOENT));
	}
}

static void op_free(struct worker *w)
{
	__u64 id = pick_id(w, true);
	struct mmsb_page_free pf = { .id = id };
	int err;

	opname = "PAGE_FREE";
	if (chance(w, 5)) {
		err = ioctl(w->fd, MMSB_IOC_PAGE_FREE,
			    bad_ptr(w, sizeof(pf))) ? errno : 0;
		expect_eq(w, err, EFAULT);
		return;
	}
	if (chance(w, 5)) {
		/* flags, pad or reserved set: refused, the page stays. */
		switch (below(w, 3)) {
		case 0:
			pf.flags = rnd(w) | 1;
			break;
		case 1:
			pf.pad = rnd(w) | 1;
			break;
		default:
			pf.reserved[below(w, 2)] = rnd(w) | 1;
		}
		expect_eq(w, xioctl(w, MMSB_IOC_PAGE_FREE, &pf), EINVAL);
		return;
	}
	err = xioctl(w, MMSB_IOC_PAGE_FREE, &pf);
	expect_in(w, err, ERRS(ENOENT, EPERM));
	if (err == EPERM && w->root)
		fail(w, "-EPERM for CAP_SYS_ADMIN");
	if (!err || err == ENOENT)
		forget_own(w, id);
}

static void op_info(struct worker *w)
{
	struct mmsb_page_info pi = { .id = pick_id(w, false) };
	int i, err;

	opname = "PAGE_INFO";
	if (chance(w, 5)) {
		err = ioctl(w->fd, MMSB_IOC_PAGE_INFO, bad_ptr(w, sizeof(pi))) ?
		      errno : 0;
		expect_in(w, err, ERRS(EFAULT, ENOENT, EACCES));
		if (!err)
			fail(w, "a bad pointer was accepted");
		return;
	}
	err = xioctl(w, MMSB_IOC_PAGE_INFO, &pi);
	expect_in(w, err, ERRS(ENOENT, EACCES));
	if (err == EACCES && w->root)
		fail(w, "-EACCES for CAP_SYS_ADMIN");
	if (err)
		return;
	if (pi.map_size != mmsb_page_map_size(pi.size, pagesz) ||
	    pi.mmap_offset != pi.id * pagesz || pi.mode > 0777 ||
	    pi.flags & ~MMSB_PAGE_FLAGS_ALL)
		fail(w, "page %llu: inconsistent info", pi.id);
	for (i = 0; i < 4; i++)
		if (pi.reserved[i])
			fail(w, "reserved[%d] not zero", i);
	for (i = 0; i < w->nown; i++)
		if (w->own[i].id == pi.id && (w->own[i].size != pi.size ||
		    pi.uid != (w->root ? 0 : NOBODY)))
			fail(w, "own page %llu: size %llu uid %u", pi.id,
			     pi.size, pi.uid);
}

static void op_list(struct worker *w)
{
	static __u64 ids[MMSB_PAGE_LIST_MAX + 1];
	struct mmsb_page_list pl = { .ids = (uintptr_t)ids };
	int err, bad = 0;
	__u32 i;

	opname = "PAGE_LIST";
	pl.max = 1 + below(w, chance(w, 90) ? 64 : MMSB_PAGE_LIST_MAX);
	pl.start_id = chance(w, 80) ? 0 : below(w, 512);
	switch (below(w, 10)) {
	case 0:
		pl.max = chance(w, 50) ? 0 : MMSB_PAGE_LIST_MAX + 1 +
					      below(w, 1000000);
		bad = EINVAL;
		break;
	case 1:
		pl.reserved[below(w, 2)] = rnd(w) | 1;
		bad = EINVAL;
		break;
	case 2:
		pl.ids = (uintptr_t)bad_ptr(w, 8 * pl.max);
		err = xioctl(w, MMSB_IOC_PAGE_LIST, &pl);
		/* Nothing to write (no live id) is no fault. */
		expect_in(w, err, ERRS(EFAULT));
		return;
	}
	err = xioctl(w, MMSB_IOC_PAGE_LIST, &pl);
	if (bad) {
		expect_eq(w, err, bad);
		return;
	}
	expect_in(w, err, ERRS(ENOMEM));
	if (err)
		return;
	if (pl.count > pl.max) {
		fail(w, "count %u > max %u", pl.count, pl.max);
		return;
	}
	for (i = 0; i < pl.count; i++) {
		if (ids[i] < pl.start_id || (i && ids[i] <= ids[i - 1]))
			fail(w, "ids out of order at %u", i);
		if (w->nknown < MAX_KNOWN)
			w->known[w->nknown++] = ids[i];
		else
			w->known[below(w, MAX_KNOWN)] = ids[i];
	}
	if (pl.next_id && pl.count && pl.next_id <= ids[pl.count - 1])
		fail(w, "next_id %llu not past the last id", pl.next_id);
}

/* ---- deltas --------------------------------------------------------- */

static unsigned char payload[MAX_DELTAS][8192];
static unsigned char masks[MAX_DELTAS][1024];

/*
 * A valid delta on page @id of @size bytes, window inside; its expected
 * status is 0 (or a refusal decided later: permission, memory...).
 */
static void make_delta(struct worker *w, struct mmsb_delta *d, int slot,
		       __u64 id, __u64 size)
{
	__u64 len = 1 + below(w, size < 512 ? size : 512), i, set = 0;
	unsigned char *p = payload[slot], *m = masks[slot];

	memset(d, 0, sizeof(*d));
	d->page_id = id;
	d->offset = below(w, size - len + 1);
	d->len = len;
	d->encoding = below(w, 3);
	for (i = 0; i < len; i++)
		p[i] = rnd(w);
	d->payload = (uintptr_t)p;
	d->payload_len = len;
	if (d->encoding == MMSB_DELTA_DENSE)
		return;
	memset(m, 0, (len + 7) / 8);
	for (i = 0; i < len; i++)
		if (chance(w, 50)) {
			m[i / 8] |= 1 << (i % 8);
			set++;
		}
	d->mask = (uintptr_t)m;
	if (d->encoding == MMSB_DELTA_SPARSE)
		d->payload_len = set;
}

/*
 * Corrupt one field of @d; returns the status the kernel must give it
 * when the answer does not depend on the page (0 when it does).
 */
static int corrupt_delta(struct worker *w, struct mmsb_delta *d, __u64 size)
{
	switch (below(w, 12)) {
	case 0:
		d->encoding = 3 + below(w, 1000);
		return EINVAL;
	case 1:
		d->flags = 1U << below(w, 32);
		return EINVAL;
	case 2:
		d->pad = 1 + below(w, 1000);
		return EINVAL;
	case 3:
		d->len = 0;
		return EINVAL;
	case 4:
		/* A mask where none belongs, or none where one must be. */
		if (d->encoding == MMSB_DELTA_DENSE)
			d->mask = (uintptr_t)masks[0];
		else
			d->mask = 0;
		return EINVAL;
	case 5:
		d->offset = size - d->len + 1 + below(w, 4096);
		return -ERANGE;
	case 6:
		/* A window whose end wraps around. */
		d->offset = UINT64_MAX - below(w, 8);
		return -ERANGE;
	case 7:
		d->len = size + 1 + below(w, 100);
		return -ERANGE;
	case 8:
		d->payload_len += 1 + below(w, 5);
		return -EMSGSIZE;
	case 9:
		if (!d->payload_len)
			return 0;	/* nothing to read: no fault */
		d->payload = (uintptr_t)bad_ptr(w, d->payload_len);
		return -EFAULT;
	case 10:
		d->expected_epoch = 1 + below(w, 1000000);
		return 0;
	default:
		d->page_id = rnd(w);
		return 0;
	}
}

/* Errnos a delta's status may carry (delta.c, engine.c, submit.c). */
static const int *delta_errs = ERRS(EINVAL, ENOENT, EACCES, ERANGE,
				    EMSGSIZE, ENOMEM, EFAULT, ESTALE, EIDRM,
				    EAGAIN);

/*
 * Check the per-delta statuses against what was known in advance.
 * want[i] > 0: a refusal on the fields alone (-EINVAL), decided before
 * anything else, exact.  want[i] < 0: a refusal decided once the delta
 * has its memory and its page: -want[i], or -ENOMEM/-EAGAIN (no memory,
 * no room) first, or, unless @page_known (the page is the caller's and
 * live), -ENOENT/-EACCES.  0: anything documented.
 */
static void check_statuses(struct worker *w, struct mmsb_delta *d,
			   const int *want, unsigned int n, bool page_known)
{
	unsigned int i;
	int st;

	for (i = 0; i < n; i++) {
		st = -d[i].status;
		if (st < 0) {
			fail(w, "delta %u: positive status %d", i, -st);
			continue;
		}
		expect_in(w, st, delta_errs);
		if (want[i] > 0 && st != want[i])
			fail(w, "delta %u: status %d, want %d", i, -st,
			     -want[i]);
		if (want[i] < 0 && st != -want[i] && st != ENOMEM &&
		    st != EAGAIN &&
		    (page_known || (st != ENOENT && st != EACCES)))
			fail(w, "delta %u: status %d, want %d", i, -st,
			     want[i]);
		if (!st != !!d[i].delta_id && st != EIDRM && st != ESTALE)
			fail(w, "delta %u: status %d with id %llu", i, -st,
			     d[i].delta_id);
	}
}

/* Mutated submissions, by ioctl, at any page but the models. */
static void op_submit(struct worker *w)
{
	static struct mmsb_delta d[MAX_DELTAS];
	int want[MAX_DELTAS], err;
	struct mmsb_submit s = { 0 };
	unsigned int n = 1 + below(w, 6), i;

	opname = "SUBMIT";
	for (i = 0; i < n; i++) {
		__u64 id = pick_id(w, true), size = 1 + below(w, 4096);
		int j;

		for (j = 0; j < w->nown; j++)
			if (w->own[j].id == id)
				size = w->own[j].size;
		make_delta(w, &d[i], i, id, size);
		want[i] = chance(w, 40) ? corrupt_delta(w, &d[i], size) : 0;
		if (want[i] < 0) {
			/* Only known if @size is the page's. */
			for (j = 0; j < w->nown; j++)
				if (w->own[j].id == id)
					break;
			if (j == w->nown)
				want[i] = 0;
		}
	}
	s.deltas = (uintptr_t)d;
	s.count = n;
	s.flags = chance(w, 30) ? MMSB_SUBMIT_SYNC : 0;
	switch (below(w, 14)) {
	case 0:
		/* A bit no MMSB_SUBMIT_* flag has (SYNC and ATOMIC: 0, 1). */
		s.flags |= 1U << (2 + below(w, 30));
		expect_eq(w, xioctl(w, MMSB_IOC_SUBMIT, &s), EINVAL);
		return;
	case 1:
		s.count = chance(w, 50) ? 0 : MMSB_SUBMIT_MAX + 1 +
					      below(w, 1U << 30);
		expect_eq(w, xioctl(w, MMSB_IOC_SUBMIT, &s), EINVAL);
		return;
	case 2:
		s.reserved[below(w, 2)] = rnd(w) | 1;
		expect_eq(w, xioctl(w, MMSB_IOC_SUBMIT, &s), EINVAL);
		return;
	case 3:
		/*
		 * The array half-mapped, or the count past its end (the
		 * deltas copied to the end of the scratch page).
		 */
		if (chance(w, 50)) {
			s.deltas = (uintptr_t)bad_ptr(w, n * sizeof(*d));
		} else {
			s.deltas = (uintptr_t)(w->half + pagesz * 2 -
					       n * sizeof(*d));
			memcpy((void *)(uintptr_t)s.deltas, d, n * sizeof(*d));
			s.count = MMSB_SUBMIT_MAX;
		}
		/*
		 * Outputs that cannot be written fail the call before
		 * anything is queued: exactly -EFAULT, nothing accepted.
		 */
		s.accepted = 1;
		err = xioctl(w, MMSB_IOC_SUBMIT, &s);
		expect_eq(w, err, EFAULT);
		if (s.accepted)
			fail(w, "-EFAULT with %u accepted", s.accepted);
		return;
	case 4:
		err = ioctl(w->fd, MMSB_IOC_SUBMIT, bad_ptr(w, sizeof(s))) ?
		      errno : 0;
		expect_eq(w, err, EFAULT);
		return;
	}
	err = xioctl(w, MMSB_IOC_SUBMIT, &s);
	expect_in(w, err, ERRS(EAGAIN, EINTR));
	if (err)
		return;
	if (s.accepted > n || s.applied > s.accepted ||
	    (!(s.flags & MMSB_SUBMIT_SYNC) && s.applied))
		fail(w, "accepted %u applied %u of %u", s.accepted, s.applied,
		     n);
	check_statuses(w, d, want, n, false);
}

/*
 * The model page's recent deltas, refused ones too: on a mismatch, those
 * whose window covers the byte are printed.
 */
#define HIST	64
static struct {
	unsigned long op;
	bool uring;
	struct mmsb_delta d;
	unsigned char payload[512], mask[64];
} hist[HIST];
static unsigned int nhist;

static void hist_add(struct worker *w, const struct mmsb_delta *d,
		     bool uring)
{
	unsigned int i = nhist++ % HIST;

	hist[i].op = w->op;
	hist[i].uring = uring;
	hist[i].d = *d;
	hist[i].d.encoding = 99;	/* bytes unknown */
	/* Only our own buffers: a corrupted pointer is not read. */
	if (d->len <= 512 && d->payload_len <= 512 &&
	    d->payload >= (uintptr_t)payload &&
	    d->payload < (uintptr_t)payload + sizeof(payload) &&
	    (!d->mask || (d->mask >= (uintptr_t)masks &&
			  d->mask < (uintptr_t)masks + sizeof(masks)))) {
		hist[i].d.encoding = d->encoding;
		memcpy(hist[i].payload, (void *)(uintptr_t)d->payload,
		       d->payload_len);
		if (d->mask)
			memcpy(hist[i].mask, (void *)(uintptr_t)d->mask,
			       (d->len + 7) / 8);
	}
}

/* The byte delta @k of the history writes at @byte, or -1 for none. */
static int hist_byte(unsigned int k, unsigned int byte)
{
	const struct mmsb_delta *d = &hist[k].d;
	unsigned int i, pos = byte - d->offset, n = 0;

	if (d->len > 512 || d->payload_len > 512 || d->encoding > 2)
		return -2;
	if (d->encoding == MMSB_DELTA_DENSE)
		return hist[k].payload[pos];
	if (!(hist[k].mask[pos / 8] & (1 << (pos % 8))))
		return -1;
	if (d->encoding == MMSB_DELTA_MASKED)
		return hist[k].payload[pos];
	for (i = 0; i < pos; i++)
		n += !!(hist[k].mask[i / 8] & (1 << (i % 8)));
	return hist[k].payload[n];
}

static void hist_show(unsigned int byte)
{
	unsigned int i, k;

	for (k = nhist > HIST ? nhist - HIST : 0; k < nhist; k++) {
		const struct mmsb_delta *d = &hist[k % HIST].d;

		i = k % HIST;
		if (byte < d->offset || byte - d->offset >= d->len)
			continue;
		printf("#   op %lu %s: enc %u [%llu, +%llu) exp %llu -> "
		       "status %d id %llu epoch %llu; writes %d there\n",
		       hist[i].op, hist[i].uring ? "io_uring" : "ioctl",
		       d->encoding, d->offset, d->len, d->expected_epoch,
		       d->status, d->delta_id, d->epoch, hist_byte(i, byte));
	}
}

static int reap(struct worker *w, __u64 want_tag);

/*
 * SYNC deltas on the worker's model page, by ioctl or io_uring: a mix of
 * valid ones (some with an expected epoch, current or stale) and ones
 * the kernel must refuse with a known errno.  Afterwards the mapping
 * must hold exactly the model with every delta of status 0 applied.
 */
static void op_model(struct worker *w)
{
	static struct mmsb_delta d[MAX_DELTAS];
	int want[MAX_DELTAS], err, res;
	unsigned int n = 1 + below(w, 5), i, k, ok = 0;
	bool uring = w->have_ring && chance(w, 40);
	unsigned char now[MODEL_SIZE];
	__u32 seq;

	opname = uring ? "URING_SUBMIT(model)" : "SUBMIT(model)";
	for (i = 0; i < n; i++) {
		make_delta(w, &d[i], i, w->model_id, MODEL_SIZE);
		want[i] = 0;
		if (chance(w, 15)) {
			d[i].expected_epoch = w->model_hdr->epoch;
			if (chance(w, 50))
				d[i].expected_epoch += 1 + below(w, 3);
			/* Epoch 0 means "any". */
			if (!d[i].expected_epoch)
				d[i].expected_epoch = 1 + below(w, 2);
		} else if (chance(w, 20)) {
			want[i] = corrupt_delta(w, &d[i], MODEL_SIZE);
			/* Back on the model page, at any epoch. */
			d[i].page_id = w->model_id;
			d[i].expected_epoch = 0;
		}
	}
	if (uring) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

		if (!sqe) {
			reap(w, 0);
			return;
		}
		mmsb_uring_prep_submit(sqe, w->fd, d, n, 0);
		io_uring_sqe_set_data64(sqe, 1);
		err = io_uring_submit(&w->ring);
		if (err != 1) {
			fail(w, "io_uring_submit: %d", err);
			return;
		}
		w->ring_inflight++;
		res = reap(w, 1);
		if (res < 0) {
			/* A valid array: every refusal is per delta. */
			fail(w, "res %d", res);
			return;
		}
	} else {
		struct mmsb_submit s = {
			.deltas = (uintptr_t)d, .count = n,
			.flags = MMSB_SUBMIT_SYNC,
		};

		err = xioctl(w, MMSB_IOC_SUBMIT, &s);
		expect_in(w, err, ERRS(EINTR, EAGAIN));
		if (err)
			return;
		res = s.applied;
		if (s.accepted > n)
			fail(w, "accepted %u of %u", s.accepted, n);
	}
	check_statuses(w, d, want, n, true);
	for (i = 0; i < n; i++)
		hist_add(w, &d[i], uring);
	for (i = 0; i < n; i++) {
		if (d[i].status)
			continue;
		ok++;
		delta_model_apply(w->model, &d[i]);
		if (!d[i].epoch || d[i].epoch > w->model_hdr->epoch)
			fail(w, "delta %u: epoch %llu, page at %llu", i,
			     d[i].epoch, w->model_hdr->epoch);
	}
	for (i = 0; i < n; i++)
		if (d[i].status == -ESTALE && !d[i].expected_epoch)
			fail(w, "delta %u: -ESTALE without expected epoch", i);
	if ((unsigned int)res != ok)
		fail(w, "%d applied, %u statuses 0", res, ok);
	do {
		seq = mmsb_read_begin(w->model_hdr);
		memcpy(now, (const char *)w->model_hdr + MMSB_PAGE_DATA_OFFSET,
		       MODEL_SIZE);
	} while (mmsb_read_retry(w->model_hdr, seq));
	if (memcmp(now, w->model, MODEL_SIZE)) {
		for (i = 0; i < MODEL_SIZE && now[i] == w->model[i]; i++)
			;
		if (!model_known(w, "model page differs"))
			fail(w, "model page %llu differs at byte %u: %#x, "
			     "want %#x", w->model_id, i, now[i], w->model[i]);
		printf("#   %s, %u deltas, page epoch %llu, last delta %llu\n",
		       uring ? "io_uring" : "ioctl", n, w->model_hdr->epoch,
		       w->model_hdr->last_delta_id);
		for (k = 0; k < n; k++)
			printf("#   delta %u: enc %u [%llu, +%llu) plen %llu "
			       "exp %llu -> status %d id %llu epoch %llu\n", k,
			       d[k].encoding, d[k].offset, d[k].len,
			       d[k].payload_len, d[k].expected_epoch,
			       d[k].status, d[k].delta_id, d[k].epoch);
		printf("#   recent deltas over byte %u:\n", i);
		hist_show(i);
		dump_file("/sys/kernel/debug/mmsb/graph");
		memcpy(w->model, now, MODEL_SIZE);
	}
	w->model_epoch = w->model_hdr->epoch;
}

/* ---- io_uring ------------------------------------------------------- */

/*
 * Reap completions; with @want_tag, until that one came (its res is
 * returned).  Every other CQE's res is checked against its command's
 * documented set (user_data: 1 model SUBMIT, 2 SUBMIT, 3 WAIT, 4
 * unknown cmd_op).
 */
static int reap(struct worker *w, __u64 want_tag)
{
	struct io_uring_cqe *cqe;
	int ret = 0, res;
	__u64 tag;

	for (;;) {
		if (want_tag)
			ret = io_uring_wait_cqe(&w->ring, &cqe);
		else
			ret = io_uring_peek_cqe(&w->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret)
			return want_tag ? ret : 0;
		tag = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&w->ring, cqe);
		w->ring_inflight--;
		switch (tag) {
		case 1:
		case 2:
			if (res < 0)
				expect_in(w, -res, ERRS(EINVAL, EFAULT, ENOMEM));
			break;
		case 3:
			if (res > 0)
				fail(w, "WAIT: res %d", res);
			else
				expect_in(w, -res,
					  ERRS(EIDRM, ETIMEDOUT, ECANCELED,
					       ENOENT, EACCES, ENOMEM));
			break;
		case 4:
			if (res != -ENOTTY)
				fail(w, "unknown cmd_op: res %d", res);
			break;
		default:
			fail(w, "CQE with unknown user_data %llu", tag);
		}
		if (want_tag && tag == want_tag)
			return res;
	}
}

struct cmd_area {
	__u64 a;
	__u32 b, c;
};

static void op_uring(struct worker *w)
{
	static struct mmsb_delta d[MAX_DELTAS];
	struct io_uring_sqe *sqe;
	struct cmd_area c;
	int res, want = 0;
	unsigned int n = 0, i;
	__u64 tag;

	if (!w->have_ring)
		return;
	reap(w, 0);
	if (w->ring_inflight > 32)
		return;
	sqe = io_uring_get_sqe(&w->ring);
	if (!sqe)
		return;
	switch (below(w, 4)) {
	case 0:
	case 1:
		opname = "URING_SUBMIT";
		tag = 2;
		n = 1 + below(w, 4);
		for (i = 0; i < n; i++) {
			make_delta(w, &d[i], i, pick_id(w, true),
				   1 + below(w, 64));
			if (chance(w, 30))
				corrupt_delta(w, &d[i], 64);
		}
		c.a = (uintptr_t)d;
		c.b = n;
		c.c = 0;
		switch (below(w, 8)) {
		case 0:
			c.b = 0;
			want = EINVAL;
			break;
		case 1:
			c.b = MMSB_SUBMIT_MAX + 1 + below(w, 1U << 31);
			want = EINVAL;
			break;
		case 2:
			/* Not SYNC or ATOMIC (bits 0 and 1). */
			c.c = 1U << (2 + below(w, 30));
			want = EINVAL;
			break;
		case 3:
			c.a = (uintptr_t)bad_ptr(w, n * sizeof(*d));
			want = EFAULT;
			break;
		}
		mmsb_uring_prep_submit(sqe, w->fd, (void *)(uintptr_t)c.a,
				       c.b, c.c);
		break;
	case 2:
		opname = "URING_WAIT";
		tag = 3;
		/* Mostly an epoch soon reached, or never: cancelled later. */
		mmsb_uring_prep_wait(sqe, w->fd, pick_id(w, false),
				     chance(w, 80) ? below(w, 3) : rnd(w));
		break;
	default:
		opname = "URING_CMD(bad op)";
		tag = 4;
		mmsb_uring_prep_wait(sqe, w->fd, 1, 1);
		/* Now and then the bare numbers of the first drafts. */
		if (chance(w, 20))
			sqe->cmd_op = 0x10 + below(w, 2);
		else
			do
				sqe->cmd_op = rnd(w);
			while (sqe->cmd_op == MMSB_URING_SUBMIT ||
			       sqe->cmd_op == MMSB_URING_WAIT);
		break;
	}
	io_uring_sqe_set_data64(sqe, tag);
	res = io_uring_submit(&w->ring);
	if (res != 1) {
		fail(w, "io_uring_submit: %d", res);
		return;
	}
	w->ring_inflight++;
	if (tag == 3)
		return;
	res = reap(w, tag);
	if (want == EFAULT) {
		/* Nothing queued from an array that cannot be written. */
		expect_eq(w, -res, EFAULT);
	} else if (want) {
		expect_eq(w, -res, want);
	} else if (tag == 2 && res > (int)n) {
		fail(w, "%d applied of %u", res, n);
	}
}

/* ---- waits, stats, events, edges ------------------------------------ */

static void op_wait(struct worker *w)
{
	struct mmsb_wait wt = { .page_id = pick_id(w, false) };
	int err;

	opname = "WAIT";
	wt.epoch = chance(w, 70) ? below(w, 3) : rnd(w);
	wt.timeout_ns = chance(w, 70) ? 0 : below(w, 2000000);
	if (chance(w, 5)) {
		wt.reserved[below(w, 2)] = 1;
		expect_eq(w, xioctl(w, MMSB_IOC_WAIT, &wt), EINVAL);
		return;
	}
	if (chance(w, 5)) {
		err = ioctl(w->fd, MMSB_IOC_WAIT, bad_ptr(w, sizeof(wt))) ?
		      errno : 0;
		expect_in(w, err, ERRS(EFAULT, ENOENT, EACCES));
		return;
	}
	if (chance(w, 20)) {
		/* The own model page, at an epoch it has reached. */
		wt.page_id = w->model_id;
		wt.epoch = below(w, w->model_hdr->epoch + 1);
		expect_eq(w, xioctl(w, MMSB_IOC_WAIT, &wt), 0);
		if (wt.cur_epoch < wt.epoch)
			fail(w, "cur_epoch %llu < %llu", wt.cur_epoch,
			     wt.epoch);
		return;
	}
	err = xioctl(w, MMSB_IOC_WAIT, &wt);
	expect_in(w, err, ERRS(ETIMEDOUT, EINTR, EIDRM, ENOENT, EACCES));
	if (!err && wt.cur_epoch < wt.epoch)
		fail(w, "0 with cur_epoch %llu < %llu", wt.cur_epoch, wt.epoch);
}

static void op_flush(struct worker *w)
{
	opname = "FLUSH";
	expect_in(w, xioctl(w, MMSB_IOC_FLUSH, NULL), ERRS(EINTR));
}

static void op_stats(struct worker *w)
{
	static struct mmsb_stats st[2];
	__u32 size = sizeof(st[0]);
	int err, i;

	opname = "STATS";
	memset(st, 0xa5, sizeof(st));
	switch (below(w, 6)) {
	case 0:
		size = below(w, 8);
		break;
	case 1:
		size = 8 + below(w, sizeof(st[0]));
		break;
	case 2:
		size = sizeof(st[0]) + below(w, sizeof(st[0]));
		break;
	case 3:
		st[0].size = size;
		st[0].pad = 1 + below(w, 100);
		expect_eq(w, xioctl(w, MMSB_IOC_STATS, st), EINVAL);
		return;
	case 4:
		err = ioctl(w->fd, MMSB_IOC_STATS, bad_ptr(w, 8)) ? errno : 0;
		expect_eq(w, err, EFAULT);
		return;
	}
	st[0].size = size;
	st[0].pad = 0;
	err = xioctl(w, MMSB_IOC_STATS, st);
	if (size < 8) {
		expect_eq(w, err, EINVAL);
		return;
	}
	expect_eq(w, err, 0);
	if (st[0].size != sizeof(st[0]))
		fail(w, "size %u", st[0].size);
	/* Not one byte past what the caller said it has. */
	if (size < sizeof(st[0]) &&
	    ((unsigned char *)st)[size] != 0xa5)
		fail(w, "wrote past size %u", size);
	if (size >= sizeof(st[0])) {
		for (i = 0; i < 3; i++)
			if (st[0].reserved[i])
				fail(w, "reserved[%d] not zero", i);
	}
}

static void op_subscribe(struct worker *w)
{
	struct mmsb_event ev[8];
	__u64 id = pick_id(w, false);
	ssize_t r;
	int err;

	if (chance(w, 50)) {
		struct mmsb_subscribe sub = { .page_id = id };

		opname = "SUBSCRIBE";
		if (chance(w, 5)) {
			if (chance(w, 50))
				sub.flags = rnd(w) | 1;
			else
				sub.reserved[below(w, 2)] = rnd(w) | 1;
			expect_eq(w, xioctl(w, MMSB_IOC_SUBSCRIBE, &sub),
				  EINVAL);
			return;
		}
		err = xioctl(w, MMSB_IOC_SUBSCRIBE, chance(w, 5) ?
			     bad_ptr(w, sizeof(sub)) : (void *)&sub);
		expect_in(w, err, ERRS(ENOENT, EACCES, EEXIST, ENOMEM, EFAULT));
		return;
	}
	opname = "read(events)";
	switch (below(w, 4)) {
	case 0:
		r = read(w->fd, ev, below(w, sizeof(ev[0])));
		err = r < 0 ? errno : 0;
		expect_eq(w, err, EINVAL);
		return;
	case 1:
		r = read(w->fd, bad_ptr(w, sizeof(ev)), sizeof(ev));
		err = r < 0 ? errno : 0;
		expect_in(w, err, ERRS(EFAULT, EAGAIN));
		return;
	}
	r = read(w->fd, ev, sizeof(ev[0]) + below(w, sizeof(ev) - 15));
	err = r < 0 ? errno : 0;
	expect_in(w, err, ERRS(EAGAIN));
	if (r >= 0 && (r == 0 || r % sizeof(ev[0])))
		fail(w, "read %zd bytes", r);
}

static void op_edge(struct worker *w)
{
	struct mmsb_edge e = { 0 };
	bool add = chance(w, 60);
	int err, bad = 0;

	opname = add ? "EDGE_ADD" : "EDGE_DEL";
	e.from = pick_id(w, false);
	e.to = pick_id(w, true);
	e.kind = below(w, 2);
	switch (below(w, 10)) {
	case 0:
		e.kind = 2 + below(w, 1000);
		bad = EINVAL;
		break;
	case 1:
		e.flags = rnd(w) | 1;
		bad = EINVAL;
		break;
	case 2:
		e.reserved[below(w, 2)] = 1;
		bad = EINVAL;
		break;
	case 3:
		if (add) {
			e.from = e.to;
			bad = ELOOP;
		}
		break;
	case 4:
		err = ioctl(w->fd, add ? MMSB_IOC_EDGE_ADD : MMSB_IOC_EDGE_DEL,
			    bad_ptr(w, sizeof(e))) ? errno : 0;
		expect_eq(w, err, EFAULT);
		return;
	}
	err = xioctl(w, add ? MMSB_IOC_EDGE_ADD : MMSB_IOC_EDGE_DEL, &e);
	if (bad) {
		expect_eq(w, err, bad);
		return;
	}
	if (add)
		expect_in(w, err, ERRS(ELOOP, EEXIST, ENOSPC, ENOENT, EACCES,
				       ENOMEM));
	else
		expect_in(w, err, ERRS(ENOENT, EACCES));
	if (err == EACCES && w->root)
		fail(w, "-EACCES for CAP_SYS_ADMIN");
}

/*
 * A change stream: opened with good and bad arguments, what it has read
 * whole (records 8-aligned, known types, their sizes adding up), closed.
 */
static void op_stream(struct worker *w)
{
	static unsigned char buf[1 << 16];
	struct mmsb_stream_open so = { 0 };
	const struct mmsb_stream_record *r;
	__u64 ids[4];
	ssize_t n, off;
	int s, err, bad = 0;
	unsigned int i;

	opname = "STREAM_OPEN";
	if (chance(w, 50)) {
		so.flags = MMSB_STREAM_ALL;
	} else {
		so.count = 1 + below(w, 4);
		for (i = 0; i < so.count; i++)
			ids[i] = pick_id(w, false);
		so.page_ids = (__u64)(uintptr_t)ids;
	}
	so.buffer_bytes = chance(w, 50) ? 0 : 4096 + below(w, 1 << 16);
	switch (below(w, 12)) {
	case 0:
		so.flags |= 2U << below(w, 30);
		bad = EINVAL;
		break;
	case 1:
		so.pad = rnd(w) | 1;
		bad = EINVAL;
		break;
	case 2:
		so.reserved[below(w, 2)] = rnd(w) | 1;
		bad = EINVAL;
		break;
	case 3:
		so.buffer_bytes = 1 + below(w, 4095);
		bad = EINVAL;
		break;
	case 4:
		so.buffer_bytes = MMSB_STREAM_BUFFER_MAX + 1 + below(w, 1000);
		bad = EINVAL;
		break;
	case 5:
		if (so.flags) {
			so.count = 1 + below(w, 10);
			bad = EINVAL;
		} else {
			so.page_ids = (__u64)(uintptr_t)
				bad_ptr(w, so.count * sizeof(ids[0]));
			bad = EFAULT;
		}
		break;
	case 6:
		s = ioctl(w->fd, MMSB_IOC_STREAM_OPEN, bad_ptr(w, sizeof(so)));
		expect_eq(w, s < 0 ? errno : 0, EFAULT);
		if (s >= 0)
			close(s);
		return;
	}
	s = ioctl(w->fd, MMSB_IOC_STREAM_OPEN, &so);
	err = s < 0 ? errno : 0;
	if (s >= 0 && bad)
		close(s);
	if (bad) {
		expect_eq(w, err, bad);
		return;
	}
	expect_in(w, err, ERRS(ENOENT, EACCES, ENOMEM, EMFILE));
	if (err == EACCES && w->root)
		fail(w, "-EACCES for CAP_SYS_ADMIN");
	if (s < 0)
		return;
	opname = "read(stream)";
	fcntl(s, F_SETFL, O_NONBLOCK);
	n = read(s, buf, below(w, sizeof(*r)));
	expect_eq(w, n < 0 ? errno : 0, EINVAL);
	/* Ticks since the open, at most: a flush makes one. */
	if (chance(w, 50))
		xioctl(w, MMSB_IOC_FLUSH, NULL);
	n = read(s, buf, sizeof(*r) + below(w, sizeof(buf) - sizeof(*r)));
	err = n < 0 ? errno : 0;
	expect_in(w, err, ERRS(EAGAIN, EINVAL));
	for (off = 0; n > 0 && off < n; off += r->size) {
		r = (const void *)(buf + off);
		if (r->size < sizeof(*r) || r->size % 8 || off + r->size > n ||
		    r->type < MMSB_REC_DELTA || r->type > MMSB_REC_OVERFLOW ||
		    r->size != sizeof(*r) + ((r->len + 7) & ~7U)) {
			fail(w, "bad record at %zd of %zd: size %u type %u",
			     off, n, r->size, r->type);
			break;
		}
	}
	close(s);
}

static void op_bad_ioctl(struct worker *w)
{
	unsigned long cmd;
	char buf[256];

	opname = "ioctl(unknown)";
	/* Right magic, unknown number or a size the kernel does not know. */
	if (chance(w, 50))
		cmd = _IOC(below(w, 4), MMSB_IOC_MAGIC, 0x30 + below(w, 0xc0),
			   below(w, sizeof(buf)));
	else
		cmd = _IOC(_IOC_READ | _IOC_WRITE, MMSB_IOC_MAGIC,
			   0x01 + below(w, 4), 8 + below(w, 24) * 8);
	if (cmd == MMSB_IOC_PAGE_CREATE || cmd == MMSB_IOC_PAGE_INFO ||
	    cmd == MMSB_IOC_PAGE_LIST)
		return;
	memset(buf, 0, sizeof(buf));
	expect_eq(w, xioctl(w, cmd, buf), ENOTTY);
}

/* ---- memory --------------------------------------------------------- */

static void op_mmap(struct worker *w)
{
	struct mmsb_page_info pi = { .id = pick_id(w, false) };
	int prot = PROT_READ, flags = MAP_SHARED, err, want = 0;
	__u64 off;
	size_t len;
	void *p;

	opname = "mmap";
	if (xioctl(w, MMSB_IOC_PAGE_INFO, &pi)) {
		pi.id &= (1ULL << 32) - 1;
		pi.map_size = pagesz * (1 + below(w, 3));
		pi.mmap_offset = pi.id * pagesz;
	}
	off = pi.mmap_offset;
	len = pi.map_size;
	if (chance(w, 30))
		len = pagesz * (1 + below(w, len / pagesz));
	switch (below(w, 10)) {
	case 0:
		prot |= PROT_WRITE;
		want = EPERM;
		break;
	case 1:
		prot = PROT_WRITE | (chance(w, 50) ? PROT_READ : 0);
		flags = MAP_PRIVATE;
		want = EPERM;
		break;
	case 2:
		len = pi.map_size + pagesz * (1 + below(w, 4));
		want = EINVAL;
		break;
	case 3:
		flags = MAP_PRIVATE;
		break;
	case 4:
		off = rnd(w) & ~(pagesz - 1) & ((1ULL << 46) - 1);
		break;
	}
	p = mmap(NULL, len, prot, flags, w->fd, off);
	err = p == MAP_FAILED ? errno : 0;
	if (want == EPERM) {
		expect_eq(w, err, EPERM);
	} else {
		expect_in(w, err, ERRS(ENOENT, EACCES, EINVAL, ENOMEM));
		if (want && !err)
			fail(w, "mapped %zu bytes of a %llu-byte page", len,
			     pi.map_size);
	}
	if (err)
		return;
	if (((const struct mmsb_page_header *)p)->id != off / pagesz)
		fail(w, "mapping at offset %llu shows page %llu", off,
		     ((const struct mmsb_page_header *)p)->id);
	if (w->nmaps == MAX_MAPS) {
		struct mapping *m = &w->maps[below(w, MAX_MAPS)];

		munmap(m->addr, m->len);
		*m = w->maps[--w->nmaps];
	}
	w->maps[w->nmaps].addr = p;
	w->maps[w->nmaps].len = len;
	w->maps[w->nmaps++].id = off / pagesz;
}

static void op_vm(struct worker *w)
{
	struct mapping *m;
	int i, err;
	void *p;

	if (!w->nmaps)
		return;
	i = below(w, w->nmaps);
	m = &w->maps[i];
	switch (below(w, 5)) {
	case 0:
		opname = "mprotect(PROT_WRITE)";
		err = mprotect(m->addr, m->len, PROT_READ | PROT_WRITE) ?
		      errno : 0;
		expect_eq(w, err, EACCES);
		break;
	case 1:
		opname = "mremap(grow)";
		p = mremap(m->addr, m->len, m->len + pagesz, MREMAP_MAYMOVE);
		err = p == MAP_FAILED ? errno : 0;
		expect_eq(w, err, EFAULT);
		if (!err) {
			m->addr = p;
			m->len += pagesz;
		}
		break;
	case 2:
		opname = "mremap(move)";
		p = mremap(m->addr, m->len, m->len, MREMAP_MAYMOVE);
		err = p == MAP_FAILED ? errno : 0;
		expect_in(w, err, ERRS(ENOMEM));
		if (!err)
			m->addr = p;
		break;
	case 3:
		/* Split the VMA: unmap its tail half. */
		opname = "munmap(part)";
		if (m->len > (size_t)pagesz) {
			size_t keep = m->len / pagesz - 1;

			keep = pagesz * (1 + below(w, keep));

			expect_eq(w, munmap((char *)m->addr + keep,
					    m->len - keep) ? errno : 0, 0);
			m->len = keep;
			break;
		}
		/* fall through */
	default:
		opname = "munmap";
		expect_eq(w, munmap(m->addr, m->len) ? errno : 0, 0);
		*m = w->maps[--w->nmaps];
		return;
	}
	/* Still a mapping of its page? */
	opname = "read(mapping)";
	if (((volatile const struct mmsb_page_header *)m->addr)->id != m->id)
		fail(w, "mapping of %llu shows page %llu", m->id,
		     ((const struct mmsb_page_header *)m->addr)->id);
}

/* A child shares the fd and mappings, does a few things, and dies. */
static void op_fork(struct worker *w)
{
	int status;
	pid_t pid;

	opname = "fork";
	if (w->child) {
		/* Kill the last one, whatever it is doing. */
		if (chance(w, 60))
			kill(w->child, SIGKILL);
		if (waitpid(w->child, &status, 0) == w->child &&
		    WIFEXITED(status) && WEXITSTATUS(status))
			fail(w, "child exit status %d", WEXITSTATUS(status));
		w->child = 0;
		return;
	}
	pid = fork();
	if (pid < 0) {
		fail(w, "fork: %s", strerror(errno));
		return;
	}
	if (!pid) {
		unsigned long before = myfails;
		int i, n = 1 + below(w, 8);

		w->have_ring = false;	/* the parent's, not ours */
		w->idx += 100;
		for (i = 0; i < n; i++) {
			switch (below(w, 5)) {
			case 0:
				op_submit(w);
				break;
			case 1: {
				/* A WAIT a kill may interrupt. */
				struct mmsb_wait wt = {
					.page_id = w->model_id,
					.epoch = UINT64_MAX,
					.timeout_ns = 20000000,
				};

				opname = "WAIT(child)";
				expect_eq(w, xioctl(w, MMSB_IOC_WAIT, &wt),
					  ETIMEDOUT);
				break;
			}
			case 2:
				op_vm(w);
				break;
			case 3:
				op_mmap(w);
				break;
			default:
				op_free(w);
				break;
			}
		}
		_exit(myfails != before);
	}
	w->child = pid;
	/* The parent's generator moves on as the child's did not. */
	w->rng ^= 0x5bd1e995;
}

static void op_reopen(struct worker *w)
{
	int fd;

	opname = "close/reopen";
	/* Subscriptions go with the file; mappings and the ring stay. */
	fd = open(MMSB_DEVICE_PATH, O_RDWR | (chance(w, 30) ? O_NONBLOCK : 0));
	if (fd < 0) {
		fail(w, "open: %s", strerror(errno));
		return;
	}
	close(w->fd);
	w->fd = fd;
}

/* ---- the worker ----------------------------------------------------- */

static void worker_setup(struct worker *w)
{
	struct mmsb_page_create pc = { .size = MODEL_SIZE, .mode = 0644 };
	void *p;

	if (!w->root && (setgroups(0, NULL) ||
			 setresgid(NOBODY, NOBODY, NOBODY) ||
			 setresuid(NOBODY, NOBODY, NOBODY))) {
		perror("setresuid");
		exit(2);
	}
	w->fd = open(MMSB_DEVICE_PATH, O_RDWR);
	if (w->fd < 0) {
		perror(MMSB_DEVICE_PATH);
		exit(2);
	}
	opname = "setup";
	if (ioctl(w->fd, MMSB_IOC_PAGE_CREATE, &pc)) {
		perror("model page");
		exit(2);
	}
	w->model_id = pc.id;
	p = mmap(NULL, mmsb_page_map_size(MODEL_SIZE, pagesz), PROT_READ,
		 MAP_SHARED, w->fd, pc.mmap_offset);
	if (p == MAP_FAILED) {
		perror("model mmap");
		exit(2);
	}
	w->model_hdr = p;
	/* Nobody starts before every model page is known to all. */
	__atomic_store_n(&sh->model[w->idx], pc.id, __ATOMIC_RELEASE);
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < nworkers)
		usleep(1000);
	w->half = mmap(NULL, pagesz * 2 + GUARD, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->half == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	memset(w->half, 0x5a, pagesz * 2);
	/* A guard, not a hole: nothing else may be mapped there later. */
	mprotect(w->half + pagesz * 2, GUARD, PROT_NONE);
	w->have_ring = !mmsb_uring_init(w->fd, &w->ring, 64, 0);
}

static void worker_end(struct worker *w)
{
	int i, status;

	if (w->child) {
		kill(w->child, SIGKILL);
		waitpid(w->child, &status, 0);
	}
	if (w->have_ring)
		io_uring_queue_exit(&w->ring);
	for (i = 0; i < w->nmaps; i++)
		munmap(w->maps[i].addr, w->maps[i].len);
	opname = "end";
	for (i = 0; i < w->nown; i++)
		expect_in(w, -mmsb_page_free(w->fd, w->own[i].id),
			  ERRS(ENOENT));
	expect_eq(w, -mmsb_page_free(w->fd, w->model_id), 0);
	munmap((void *)w->model_hdr, mmsb_page_map_size(MODEL_SIZE, pagesz));
	close(w->fd);
}

/* The operations and their share, in percent (cumulative). */
static const struct {
	unsigned int upto;
	const char *name;
	void (*fn)(struct worker *w);
} ops_table[] = {
	{ 8, "create", op_create },	{ 12, "free", op_free },
	{ 17, "info", op_info },	{ 20, "list", op_list },
	{ 32, "submit", op_submit },	{ 44, "model", op_model },
	{ 52, "uring", op_uring },	{ 57, "wait", op_wait },
	{ 59, "flush", op_flush },	{ 62, "stats", op_stats },
	{ 67, "subscribe", op_subscribe }, { 69, "stream", op_stream },
	{ 76, "edge", op_edge },
	{ 78, "ioctl", op_bad_ioctl },	{ 87, "mmap", op_mmap },
	{ 95, "vm", op_vm },		{ 98, "fork", op_fork },
	{ 100, "reopen", op_reopen },
};

/*
 * MMSB_FUZZ_SKIP="edge,fork": kinds not run (to narrow a failure down);
 * the generator draws the same numbers either way.
 */
static bool skip_kind(const char *name)
{
	const char *skip = getenv("MMSB_FUZZ_SKIP"), *p;
	size_t n = strlen(name);

	for (p = skip; p && (p = strstr(p, name)); p += n)
		if ((p == skip || p[-1] == ',') && (!p[n] || p[n] == ','))
			return true;
	return false;
}

static void worker_run(int idx, unsigned long ops)
{
	struct worker *w = calloc(1, sizeof(*w));
	unsigned long i;
	unsigned int r, k;

	w->idx = idx;
	/* MMSB_FUZZ_ALLROOT=1: every worker root (debugfs on a failure). */
	w->root = idx % 2 == 0 || getenv("MMSB_FUZZ_ALLROOT");
	w->rng = seed * 0x100000001b3ULL + idx;
	worker_setup(w);
	for (i = 0; i < ops; i++) {
		w->op = i;
		r = below(w, 100);
		for (k = 0; r >= ops_table[k].upto; k++)
			;
		__atomic_store_n(&sh->kind[idx], k, __ATOMIC_RELAXED);
		__atomic_store_n(&sh->progress[idx], i + 1, __ATOMIC_RELEASE);
		if (skip_kind(ops_table[k].name))
			continue;
		ops_table[k].fn(w);
		/* Nobody else may have moved the model page meanwhile. */
		if (w->model_hdr->epoch != w->model_epoch) {
			opname = ops_table[k].name;
			if (!model_known(w, "model page moved"))
				fail(w, "model page %llu moved from epoch %llu "
				     "to %llu behind its owner (last delta "
				     "%llu)", w->model_id, w->model_epoch,
				     w->model_hdr->epoch,
				     w->model_hdr->last_delta_id);
			dump_file("/sys/kernel/debug/mmsb/graph");
			w->model_epoch = w->model_hdr->epoch;
		}
	}
	__atomic_store_n(&sh->kind[idx], ARRAY_SIZE(ops_table),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&sh->progress[idx], ops + 1, __ATOMIC_RELEASE);
	worker_end(w);
	__atomic_add_fetch(&sh->ops, ops, __ATOMIC_RELAXED);
	exit(0);
}

/* Print the kernel stack of @pid and of its children (a stuck call). */
static void show_stack(pid_t pid)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("#   %d: %s", pid, line);
	fclose(f);
}

/*
 * Wait for the workers; one that makes no progress for 120 s is stuck
 * in the kernel (every call the fuzzer makes is bounded): its stack is
 * printed and every worker killed.  Returns the failures.
 */
static int watch(pid_t *pids, int workers)
{
	unsigned long last[MAX_WORKERS] = { 0 };
	int still[MAX_WORKERS], left = workers, bad = 0, i, j, status;
	unsigned int k;
	time_t since[MAX_WORKERS];

	for (i = 0; i < workers; i++) {
		still[i] = 1;
		since[i] = time(NULL);
	}
	while (left) {
		for (i = 0; i < workers; i++) {
			unsigned long p;

			if (!still[i])
				continue;
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				still[i] = 0;
				left--;
				if (!WIFEXITED(status) || WEXITSTATUS(status)) {
					printf("FAIL seed=%llu worker=%d: "
					       "status %#x\n", seed, i, status);
					bad++;
				}
				continue;
			}
			p = __atomic_load_n(&sh->progress[i], __ATOMIC_ACQUIRE);
			if (p != last[i]) {
				last[i] = p;
				since[i] = time(NULL);
			} else if (time(NULL) - since[i] > 120) {
				k = sh->kind[i];
				printf("FAIL seed=%llu worker=%d op=%lu: "
				       "stuck for 120 s in %s\n", seed, i, p - 1,
				       k < ARRAY_SIZE(ops_table) ?
				       ops_table[k].name : "the end");
				show_stack(pids[i]);
				for (j = 0; j < workers; j++)
					if (still[j])
						kill(pids[j], SIGKILL);
				since[i] = time(NULL) + 100000;
				bad++;
			}
		}
		usleep(200000);
	}
	return bad;
}

/* After everything: free what is left, and the books must be empty. */
static int check_drained(void)
{
	struct worker w0 = { .idx = -1 };
	struct mmsb_stats st;
	__u64 ids[64], next;
	int i, n, tries;

	w0.fd = open(MMSB_DEVICE_PATH, O_RDWR);
	if (w0.fd < 0)
		return -errno;
	opname = "drain";
	for (tries = 0; tries < 2000; tries++) {
		next = 0;
		do {
			n = mmsb_page_list(w0.fd, next, ids, 64, &next);
			for (i = 0; i < n; i++)
				mmsb_page_free(w0.fd, ids[i]);
		} while (n > 0 && next);
		ioctl(w0.fd, MMSB_IOC_FLUSH);
		if (mmsb_stats(w0.fd, &st))
			break;
		if (!st.pages && !st.page_bytes && !st.delta_bytes &&
		    !st.ring_depth && !st.edges && !st.gc_pending)
			break;
		usleep(10000);
	}
	printf("# after: pages %llu page_bytes %llu delta_bytes %llu "
	       "ring_depth %llu edges %llu graph_bytes %llu gc_pending %llu "
	       "submitted %llu processed %llu rejected %llu\n",
	       st.pages, st.page_bytes, st.delta_bytes, st.ring_depth,
	       st.edges, st.graph_bytes, st.gc_pending, st.submitted,
	       st.processed, st.rejected);
	if (st.pages || st.page_bytes || st.delta_bytes || st.ring_depth ||
	    st.edges || st.gc_pending)
		fail(&w0, "accounting did not return to zero");
	close(w0.fd);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long ops, per;
	int workers = 4, i, bad = 0;
	pid_t pids[MAX_WORKERS];
	struct timespec t0, t1;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SEED OPS [WORKERS]\n", argv[0]);
		return 2;
	}
	seed = strtoull(argv[1], NULL, 0);
	ops = strtoul(argv[2], NULL, 0);
	if (argc > 3)
		workers = atoi(argv[3]);
	if (workers < 1 || workers > MAX_WORKERS) {
		fprintf(stderr, "1 to %d workers\n", MAX_WORKERS);
		return 2;
	}
	pagesz = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	memset(sh, 0, sizeof(*sh));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("# fuzz: seed=%llu ops=%lu workers=%d\n", seed, ops, workers);
	per = (ops + workers - 1) / workers;
	nworkers = workers;
	for (i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return 2;
		if (!pids[i])
			worker_run(i, per);
	}
	bad += watch(pids, workers);
	if (check_drained())
		bad++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("fuzz: seed=%llu ops=%lu failures=%lu seconds=%ld\n", seed,
	       sh->ops, sh->failures + bad, (long)(t1.tv_sec - t0.tv_sec));
	return sh->failures || bad ? 1 : 0;
}
