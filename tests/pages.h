/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the test programs (pages, modules, children).  Every
 * helper returns 0 or -errno, like libmmsb.
 */
#ifndef MMSB_TESTS_PAGES_H
#define MMSB_TESTS_PAGES_H

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libmmsb.h"

#define MODULE_PATH	"/mmsb/mmsb.ko"
#define MAX_PAGE_SIZE	(16ULL << 20)	/* the max_page_size default */

static inline long page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

/* mmap() that returns -errno; *p is the mapping on success. */
static inline int map(int fd, __u64 off, size_t len, int prot, int flags,
		      void **p)
{
	*p = mmap(NULL, len, prot, flags, fd, off);
	return *p == MAP_FAILED ? -errno : 0;
}

/* Map page @pc read-only and shared, all of it. */
static inline int map_page(int fd, const struct mmsb_page_create *pc,
			   const struct mmsb_page_header **hdr)
{
	void *p;
	int ret = map(fd, pc->mmap_offset,
		      mmsb_page_map_size(pc->size, page_size()), PROT_READ,
		      MAP_SHARED, &p);

	*hdr = p;
	return ret;
}

static inline int ioctl_err(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* Pages and page bytes the module holds now. */
static inline int held(int fd, __u64 *pages, __u64 *bytes)
{
	struct mmsb_stats s;
	int ret = mmsb_stats(fd, &s);

	*pages = s.pages;
	*bytes = s.page_bytes;
	return ret;
}

/*
 * Wait up to 10 s until the module holds @want_pages pages and
 * @want_bytes bytes; *@pages and *@bytes get the last figures.  The
 * memory of a page whose last reference went may be released later, by
 * the GC in a tick: MMSB_IOC_FLUSH (where there is one) runs a tick now.
 */
static inline int settle(int fd, __u64 want_pages, __u64 want_bytes,
			 __u64 *pages, __u64 *bytes)
{
	int i, ret;

	for (i = 0; i < 10000; i++) {
		ret = held(fd, pages, bytes);
		if (ret || (*pages == want_pages && *bytes == want_bytes))
			return ret;
		ioctl(fd, MMSB_IOC_FLUSH);
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* Expect the module to hold these figures (at once or after a reclaim). */
#define EXPECT_HELD(fd, want_pages, want_bytes) do {			\
	__u64 _p, _b;							\
	EXPECT_EQ(0, settle(fd, want_pages, want_bytes, &_p, &_b))	\
		TH_LOG("holding %llu pages, %llu bytes",		\
		       (unsigned long long)_p, (unsigned long long)_b);	\
	EXPECT_EQ((__u64)(want_pages), _p);				\
	EXPECT_EQ((__u64)(want_bytes), _b);				\
} while (0)

/* Free every live page: leaves the module clean for the next test. */
static inline void free_all(int fd)
{
	__u64 ids[64], next = 0;
	int i, n;

	do {
		n = mmsb_page_list(fd, next, ids, 64, &next);
		for (i = 0; i < n; i++)
			mmsb_page_free(fd, ids[i]);
	} while (n > 0 && next);
}

/*
 * For the tests of several pages at once: open mmsb in *@fd, map the
 * bus header, create @n pages of 64 bytes (mode 0644) and map them.
 */
static inline int bus_pages_open(int *fd, const struct mmsb_bus_header **bus,
				 __u64 *ids,
				 const struct mmsb_page_header **hdr, int n)
{
	struct mmsb_page_create pc;
	int i, ret;

	*fd = mmsb_open();
	if (*fd < 0)
		return -errno;
	ret = mmsb_bus_map(*fd, bus);
	for (i = 0; i < n && !ret; i++) {
		ret = mmsb_page_create(*fd, 64, 0644, 0, &pc);
		ids[i] = pc.id;
		if (!ret)
			ret = mmsb_page_map(*fd, pc.id, &hdr[i]);
	}
	return ret;
}

/* Undo bus_pages_open(): what it mapped, the pages, the file. */
static inline void bus_pages_close(int fd, const struct mmsb_bus_header *bus,
				   const struct mmsb_page_header **hdr, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (hdr[i])
			mmsb_page_unmap(hdr[i]);
	if (bus)
		mmsb_bus_unmap(bus);
	free_all(fd);
	close(fd);
}

/* Write string @s to @path (a sysctl, cgroup or tracefs file). */
static inline int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

#define DEBUGFS_STATS	"/sys/kernel/debug/mmsb/stats"

/*
 * io_uring commands of the module issued and not completed: the line
 * "uring_inflight: N" of debugfs' stats (root); -errno if unreadable.
 */
static inline long uring_inflight(void)
{
	char line[128];
	long n = -ENOENT;
	FILE *f = fopen(DEBUGFS_STATS, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "uring_inflight: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Are all @len bytes at @p zero? */
static inline int all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	return !len || (!c[0] && !memcmp(c, c + 1, len - 1));
}

/* Wait for child @pid; its exit status, or 256 + signal if killed. */
static inline int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 256 + WTERMSIG(st);
}

/* /proc/@pid/@name into @buf, NUL-terminated: 0, or -1 if unreadable. */
static inline int read_proc(pid_t pid, const char *name, char *buf,
			    size_t size)
{
	char path[64];
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	f = open(path, O_RDONLY);
	if (f < 0)
		return -1;
	n = read(f, buf, size - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Wait up to 10 s until task @pid sleeps in ioctl(@cmd): its
 * /proc/PID/syscall names the call (and shows it blocked) and its state
 * is S.  A waiter found so is waiting, not still on its way to the
 * call.  0 or -ETIMEDOUT.
 */
static inline int sleeping_in_ioctl(pid_t pid, unsigned long cmd)
{
	unsigned long nr, fd, arg;
	char buf[256], *p;
	int i;

	for (i = 0; i < 10000; i++, usleep(1000)) {
		if (read_proc(pid, "syscall", buf, sizeof(buf)) ||
		    sscanf(buf, "%lu 0x%lx 0x%lx", &nr, &fd, &arg) != 3 ||
		    nr != SYS_ioctl || arg != cmd)
			continue;
		if (read_proc(pid, "stat", buf, sizeof(buf)))
			continue;
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			return 0;
	}
	return -ETIMEDOUT;
}

/*
 * Make io_uring_setup() fail with -EPERM in this process and the ones it
 * starts, for good (a seccomp filter).  -EINVAL: the kernel has no
 * seccomp filters (CONFIG_SECCOMP_FILTER).
 */
static inline int deny_io_uring(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -errno : 0;
}

/* The kernel's fault injectors (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC). */
#define FAILSLAB	"/sys/kernel/debug/failslab/"
#define FAILPAGE	"/sys/kernel/debug/fail_page_alloc/"

/*
 * Set fault injector @dir (FAILSLAB, FAILPAGE) to fail the allocations
 * of make-it-fail tasks with probability @pct percent, quietly; 0 puts
 * its defaults back.
 */
static inline int fault_attr_set(const char *dir, int pct)
{
	static const char * const knobs[][3] = {
		/* name, armed, default */
		{ "verbose", "0", "2" },
		{ "interval", "1", "1" },
		{ "times", "-1", "1" },
		{ "space", "0", "0" },
		{ "task-filter", "Y", "N" },
		{ "ignore-gfp-wait", "N", "Y" },
	};
	char path[128], val[16];
	unsigned int i;
	int ret;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, knobs[i][0]);
		ret = write_file(path, knobs[i][pct ? 1 : 2]);
		if (ret)
			return ret;
	}
	snprintf(path, sizeof(path), "%sprobability", dir);
	snprintf(val, sizeof(val), "%d", pct);
	return write_file(path, val);
}

/*
 * Set both injectors to fail allocations of make-it-fail tasks with
 * probability @pct percent (0: never, the defaults back), quietly; page
 * allocations of every order.
 */
static inline int faults_set(int pct)
{
	int ret = fault_attr_set(FAILSLAB, pct);

	ret = ret ?: fault_attr_set(FAILPAGE, pct);
	ret = ret ?: write_file(FAILPAGE "ignore-gfp-highmem", pct ? "N" : "Y");
	return ret ?: write_file(FAILPAGE "min-order", "0");
}

/*
 * The model of a delta (status 0): the bytes it leaves in @model, a copy
 * of the page's data.  DENSE writes its window; MASKED the window's
 * bytes whose mask bit is set; SPARSE those too, from a packed payload.
 */
static inline void delta_model_apply(unsigned char *model,
				     const struct mmsb_delta *d)
{
	const unsigned char *p = (const void *)(uintptr_t)d->payload;
	const unsigned char *m = (const void *)(uintptr_t)d->mask;
	__u64 i, k = 0;

	for (i = 0; i < d->len; i++) {
		if (d->encoding != MMSB_DELTA_DENSE &&
		    !(m[i / 8] & (1 << (i % 8))))
			continue;
		model[d->offset + i] =
			p[d->encoding == MMSB_DELTA_SPARSE ? k++ : i];
	}
}

#define RUN_PARAMS_PATH	"/mmsb/params"	/* qemu-run's MMSB_PARAMS */

/* CLOCK_MONOTONIC in milliseconds. */
static inline __u64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* The next of a xorshift32 sequence in *@s (never 0): cheap, repeatable. */
static inline __u32 xorshift32(__u32 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A number read from a file (a cgroup's memory.current), or -errno. */
static inline long long read_ll(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoll(buf) : -EIO;
}

/* The bus's delta_bytes (MMSB_IOC_STATS), or ~0 if STATS failed. */
static inline __u64 delta_bytes(int fd)
{
	struct mmsb_stats s;

	if (mmsb_stats(fd, &s))
		return ~0ULL;
	return s.delta_bytes;
}

/* Flush until delta_bytes is @want, for up to 10 s; the last value seen. */
static inline __u64 delta_bytes_settle(int fd, __u64 want)
{
	__u64 b = 0;
	int i;

	for (i = 0; i < 1000; i++) {
		b = delta_bytes(fd);
		if (b == want)
			break;
		ioctl(fd, MMSB_IOC_FLUSH);
		usleep(10000);
	}
	return b;
}

/* Take the next CQE of mapped queue @q into *@out; -EAGAIN if none. */
static inline int sq_reap(struct mmsb_sq_handle *q, struct mmsb_cqe *out)
{
	struct mmsb_cqe *c = mmsb_sq_peek_cqe(q);

	if (!c)
		return -EAGAIN;
	*out = *c;
	mmsb_sq_cqe_seen(q);
	return 0;
}

/*
 * Write one DENSE SQE of @q: @len bytes of @p at @off of page @page,
 * expecting @exp, linked to the next (MMSB_SQE_ATOMIC) if @link,
 * user_data @ud.  -EAGAIN while the SQ is full; -EMSGSIZE as
 * mmsb_sq_prep_dense().
 */
static inline int sq_put(struct mmsb_sq_handle *q, __u64 page, __u32 off,
			 const void *p, __u32 len, __u64 exp, __u64 ud,
			 int link)
{
	struct mmsb_sqe *s = mmsb_sq_get_sqe(q);
	int ret;

	if (!s)
		return -EAGAIN;
	ret = mmsb_sq_prep_dense(q, s, page, off, p, len, ud);
	s->expected_epoch = exp;
	s->flags = link ? MMSB_SQE_ATOMIC : 0;
	return ret;
}

/*
 * Wait up to 10 s, looking every 100 us, without system calls into
 * mmsb, for a CQE of @q; -ETIMEDOUT if none came.
 */
static inline int sq_reap_spin(struct mmsb_sq_handle *q,
			       struct mmsb_cqe *out)
{
	int i;

	for (i = 0; i < 100000; i++) {
		if (!sq_reap(q, out))
			return 0;
		usleep(100);
	}
	return -ETIMEDOUT;
}

/*
 * Load mmsb with the run's parameters (MMSB_PARAMS, as the guest's first
 * insmod had them) followed by @params: the kernel applies parameters in
 * order, so the test's own override the run's.
 */
static inline int module_load(const char *params)
{
	char all[4096];
	ssize_t n = 0;
	int fd = open(RUN_PARAMS_PATH, O_RDONLY | O_CLOEXEC);
	int ret, i;

	if (fd >= 0) {
		n = read(fd, all, sizeof(all) - 1);
		close(fd);
		if (n < 0)
			return -errno;
	} else if (errno != ENOENT) {
		return -errno;
	}
	for (i = 0; i < n; i++)
		if (all[i] == '\n')
			all[i] = ' ';
	if (n + 1 + strlen(params) >= sizeof(all))
		return -E2BIG;
	all[n] = ' ';
	strcpy(all + n + 1, params);

	fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(__NR_finit_module, fd, all, 0) ? -errno : 0;
	close(fd);
	return ret;
}

static inline int module_unload(void)
{
	return syscall(__NR_delete_module, "mmsb", O_NONBLOCK) ? -errno : 0;
}

/* Load mmsb afresh with @params; a mapping or an open file holds it. */
static inline int module_reload(const char *params)
{
	int ret = module_unload();

	if (ret && ret != -ENOENT)
		return ret;
	return module_load(params);
}

/* Take CAP_SYS_ADMIN out of every set of this process; 0 or -errno. */
static inline int drop_cap_sys_admin(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int i = CAP_TO_INDEX(CAP_SYS_ADMIN);

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[i].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	d[i].permitted &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	d[i].inheritable &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

#endif /* MMSB_TESTS_PAGES_H */
