// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring passthrough: SUBMIT (CQE = applied and visible, per-delta
 * status written back, 0 when all are refused), SQE128 rings, IOPOLL
 * rings refused, WAIT (reached, already reached, page freed, no read
 * permission, timed out, cancelled with its submitter), -ENOMEM (where
 * failslab can force it), bad SQEs (exact errno, nothing applied), old
 * and unknown op codes (-ENOTTY), read-only parameters, a
 * ring torn down and a process killed with commands in flight (nothing
 * left in flight, then the harness unloads the module), commands handed
 * to the submitter's tick (one tick for an io_uring_enter(), what it
 * leaves queued as read, more than a chunk of them), and the
 * concurrent model test: 4 processes x 100,000 deltas with up to 256
 * commands in flight each.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define PAGE_BYTES	4096
#define PARAM_DIR	"/sys/module/mmsb/parameters/"

static long read_param(const char *name)
{
	char path[128], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtol(buf, NULL, 10);
}

/* Wait up to @ms for every io_uring command of the module to be gone. */
static long inflight_settles(int ms)
{
	long n;

	while ((n = uring_inflight()) > 0 && ms > 0) {
		usleep(10000);
		ms -= 10;
	}
	return n;
}

/* Submit one prepared SQE and reap its CQE; returns cqe->res. */
static int one_cqe(struct io_uring *ring, __u64 *user_data)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	if (user_data)
		*user_data = cqe->user_data;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * io_uring asks a command to cancel itself (IO_URING_F_CANCEL) from
 * 6.7 on; before, mmsb ends a WAIT whose ring or task went by its own
 * timer (kmod/compat.h).
 */
static bool uring_can_cancel(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 7);
}

static __u64 page_epoch(int fd, __u64 id)
{
	struct mmsb_page_info info;

	return mmsb_page_info(fd, id, &info) ? ~0ULL : info.epoch;
}

FIXTURE(uring) {
	int fd;
	struct io_uring ring;
	bool ring_up;
	bool reloaded;
	__u64 page;
	const struct mmsb_page_header *hdr;
	const __u8 *data;
};

/* Open mmsb, set up a ring of 256, create and map a page: 0 or -errno. */
static int uring_open(FIXTURE_DATA(uring) *self)
{
	struct mmsb_page_create pc;
	int ret;

	self->fd = mmsb_open();
	if (self->fd < 0)
		return self->fd;
	ret = mmsb_uring_init(self->fd, &self->ring, 256, 0);
	if (ret)
		return ret;
	self->ring_up = true;
	ret = mmsb_page_create(self->fd, PAGE_BYTES, 0, 0, &pc);
	if (ret)
		return ret;
	self->page = pc.id;
	ret = mmsb_page_map(self->fd, self->page, &self->hdr);
	if (ret)
		return ret;
	self->data = (const __u8 *)self->hdr + MMSB_PAGE_DATA_OFFSET;
	return 0;
}

/* Undo uring_open(): nothing of the fixture holds the module after. */
static void uring_close(FIXTURE_DATA(uring) *self)
{
	if (self->hdr)
		mmsb_page_unmap(self->hdr);
	self->hdr = NULL;
	if (self->ring_up)
		io_uring_queue_exit(&self->ring);
	self->ring_up = false;
	if (self->fd >= 0)
		close(self->fd);
	self->fd = -1;
}

/* Reload mmsb with @params; a ring's last file reference may lag. */
static int reload_settled(const char *params)
{
	int i, ret;

	for (i = 0; i < 500; i++) {
		ret = module_reload(params);
		if (ret != -EAGAIN && ret != -EBUSY)
			break;
		usleep(10000);
	}
	return ret;
}

/*
 * Parameters are read-only once loaded (uring_wait_ms too): a test that
 * needs its own closes what the fixture opened, reloads mmsb with
 * @params and opens it all again.  The teardown reloads the defaults.
 */
static int uring_reload(FIXTURE_DATA(uring) *self, const char *params)
{
	int ret;

	uring_close(self);
	self->reloaded = true;
	ret = reload_settled(params);
	return ret ? ret : uring_open(self);
}

FIXTURE_SETUP(uring)
{
	int ret = uring_open(self);

	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring unavailable (%d)", ret);
	ASSERT_EQ(ret, 0);
}

FIXTURE_TEARDOWN(uring)
{
	uring_close(self);
	if (self->reloaded)
		EXPECT_EQ(0, reload_settled(""));
}

TEST_F(uring, feature_bit)
{
	struct mmsb_version v;

	ASSERT_EQ(mmsb_version(self->fd, &v), 0);
	EXPECT_TRUE(v.features & MMSB_FEAT_URING);
}

/* CQE means applied: the data and epoch are there when it arrives. */
TEST_F(uring, submit_applied_on_cqe)
{
	struct mmsb_delta d[2];
	char a[8] = "abcdefg", b[8] = "1234567";
	struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

	mmsb_delta_dense(&d[0], self->page, 0, a, sizeof(a));
	mmsb_delta_dense(&d[1], self->page, 100, b, sizeof(b));
	mmsb_uring_prep_submit(sqe, self->fd, d, 2, 0);
	ASSERT_EQ(one_cqe(&self->ring, NULL), 2);
	EXPECT_EQ(d[0].status, 0);
	EXPECT_EQ(d[1].status, 0);
	EXPECT_NE(d[0].delta_id, 0);
	EXPECT_EQ(d[1].delta_id, d[0].delta_id + 1);
	EXPECT_EQ(d[0].epoch, 1);
	EXPECT_EQ(memcmp(self->data, a, sizeof(a)), 0);
	EXPECT_EQ(memcmp(self->data + 100, b, sizeof(b)), 0);
	EXPECT_EQ(self->hdr->epoch, 1);
}

/* A refused delta gets its status; the others still apply. */
TEST_F(uring, submit_per_delta_status)
{
	struct mmsb_delta d[3];
	char x[4] = "xyz";

	mmsb_delta_dense(&d[0], self->page, 0, x, sizeof(x));
	mmsb_delta_dense(&d[1], self->page + 1000000, 0, x, sizeof(x));
	mmsb_delta_dense(&d[2], self->page, PAGE_BYTES, x, sizeof(x));
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, d, 3,
			       MMSB_SUBMIT_SYNC);
	ASSERT_EQ(one_cqe(&self->ring, NULL), 1);
	EXPECT_EQ(d[0].status, 0);
	EXPECT_EQ(d[1].status, -ENOENT);
	EXPECT_EQ(d[1].delta_id, 0);
	EXPECT_EQ(d[2].status, -ERANGE);
	EXPECT_EQ(memcmp(self->data, x, sizeof(x)), 0);
}

/* SQE128 rings: the descriptor as in a 64-byte SQE, the tail zero. */
TEST_F(uring, sqe128)
{
	struct io_uring big;
	struct io_uring_sqe *sqe;
	struct mmsb_delta d;
	char x[4] = "big";

	ASSERT_EQ(io_uring_queue_init(8, &big, IORING_SETUP_SQE128), 0);
	mmsb_delta_dense(&d, self->page, 8, x, sizeof(x));
	sqe = io_uring_get_sqe(&big);
	mmsb_uring_prep_submit(sqe, self->fd, &d, 1, 0);
	memset(sqe->cmd + 16, 0, 64);
	EXPECT_EQ(one_cqe(&big, NULL), 1);
	EXPECT_EQ(memcmp(self->data + 8, x, sizeof(x)), 0);

	/*
	 * The extension area (bytes 16-79) must be zero: its first and
	 * its last byte, for SUBMIT and for WAIT.
	 */
	for (int i = 0; i < 4; i++) {
		sqe = io_uring_get_sqe(&big);
		if (i < 2)
			mmsb_uring_prep_submit(sqe, self->fd, &d, 1, 0);
		else
			mmsb_uring_prep_wait(sqe, self->fd, self->page, 0);
		memset(sqe->cmd + MMSB_URING_CMD_BYTES, 0,
		       MMSB_URING_EXT_BYTES);
		sqe->cmd[i % 2 ? 79 : MMSB_URING_CMD_BYTES] = 1;
		EXPECT_EQ(one_cqe(&big, NULL), -EINVAL) TH_LOG("case %d", i);
	}
	EXPECT_EQ(page_epoch(self->fd, self->page), 1);

	/* libmmsb clears it where it has the ring. */
	memset(big.sq.sqes, 0xff, (size_t)big.sq.ring_entries * 128);
	ASSERT_EQ(mmsb_uring_wait(&big, self->fd, self->page, 1, 5), 0);
	EXPECT_EQ(one_cqe(&big, NULL), 0);
	io_uring_queue_exit(&big);
}

/*
 * Op codes carry their descriptor's size, like the ioctls: the bare
 * 0x10 and 0x11 of before, the right number with another size, and an
 * ioctl's number all complete with -ENOTTY, and nothing is applied.
 */
TEST_F(uring, old_and_unknown_op_codes)
{
	const __u32 ops[] = {
		0x10, 0x11, 0x7f, 0,
		_IOW(MMSB_IOC_MAGIC, 0x30, struct mmsb_submit),
		_IOWR(MMSB_IOC_MAGIC, 0x30, struct mmsb_uring_submit),
		_IOW(MMSB_IOC_MAGIC, 0x31, __u64),
		MMSB_IOC_SUBMIT, MMSB_IOC_WAIT,
	};
	struct mmsb_stats before, after;
	struct io_uring_sqe *sqe;
	struct mmsb_delta d;
	char x[4] = "old";
	unsigned int i;

	EXPECT_EQ(_IOC_SIZE(MMSB_URING_SUBMIT), sizeof(struct mmsb_uring_submit));
	EXPECT_EQ(_IOC_SIZE(MMSB_URING_WAIT), sizeof(struct mmsb_uring_wait));
	EXPECT_EQ(_IOC_TYPE(MMSB_URING_SUBMIT), MMSB_IOC_MAGIC);
	EXPECT_EQ(sizeof(struct mmsb_uring_submit), MMSB_URING_CMD_BYTES);
	EXPECT_EQ(sizeof(struct mmsb_uring_wait), MMSB_URING_CMD_BYTES);
	mmsb_delta_dense(&d, self->page, 0, x, sizeof(x));
	ASSERT_EQ(mmsb_stats(self->fd, &before), 0);
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		sqe = io_uring_get_sqe(&self->ring);
		if (i % 2)
			mmsb_uring_prep_wait(sqe, self->fd, self->page, 0);
		else
			mmsb_uring_prep_submit(sqe, self->fd, &d, 1, 0);
		sqe->cmd_op = ops[i];
		EXPECT_EQ(one_cqe(&self->ring, NULL), -ENOTTY)
			TH_LOG("cmd_op %#x", ops[i]);
	}
	ASSERT_EQ(mmsb_stats(self->fd, &after), 0);
	EXPECT_EQ(after.submitted, before.submitted);
	EXPECT_EQ(page_epoch(self->fd, self->page), 0);
	EXPECT_EQ(self->data[0], 0);
}

/*
 * Module parameters are read-only once loaded, uring_wait_ms too; the
 * count of commands in flight is no parameter but a debugfs figure.
 */
TEST_F(uring, params_read_only)
{
	int f;

	EXPECT_GT(read_param("uring_wait_ms"), 0);
	f = open(PARAM_DIR "uring_wait_ms", O_WRONLY);
	EXPECT_EQ(-1, f);
	EXPECT_EQ(EACCES, errno);
	if (f >= 0)
		close(f);
	EXPECT_EQ(-1, access(PARAM_DIR "uring_inflight", F_OK));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(uring_inflight(), 0);
}

/* Bad SQEs complete with the exact errno, and nothing is applied. */
TEST_F(uring, bad_sqes)
{
	struct mmsb_delta d;
	struct mmsb_stats before, after;
	struct io_uring_sqe *sqe;
	char x[4] = "bad";

	mmsb_delta_dense(&d, self->page, 0, x, sizeof(x));
	before.size = sizeof(before);
	before.pad = 0;
	ASSERT_EQ(mmsb_stats(self->fd, &before), 0);

	sqe = io_uring_get_sqe(&self->ring);
	mmsb_uring_prep_submit(sqe, self->fd, &d, 1, 0);
	sqe->cmd_op = 0x7f;
	EXPECT_EQ(one_cqe(&self->ring, NULL), -ENOTTY);

	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd,
			       (struct mmsb_delta *)16, 1, 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EFAULT);

	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd,
			       (struct mmsb_delta *)-4096L, 1, 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EFAULT);

	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d,
			       0, 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EINVAL);

	/* Over MMSB_SUBMIT_MAX: -EINVAL, as MMSB_IOC_SUBMIT says. */
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d,
			       MMSB_SUBMIT_MAX + 1, 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EINVAL);

	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d,
			       0xffffffffu, 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EINVAL);

	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d,
			       1, 0x80);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EINVAL);

	mmsb_uring_prep_wait(io_uring_get_sqe(&self->ring), self->fd,
			     self->page + 1000000, 1);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -ENOENT);

	after.size = sizeof(after);
	after.pad = 0;
	ASSERT_EQ(mmsb_stats(self->fd, &after), 0);
	EXPECT_EQ(after.submitted, before.submitted);
	EXPECT_EQ(page_epoch(self->fd, self->page), 0);
	EXPECT_EQ(self->data[0], 0);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/* WAIT: pending until the epoch comes; at once if already there. */
TEST_F(uring, wait_epoch)
{
	struct io_uring_cqe *cqe;
	struct mmsb_delta d;
	char x[4] = "wai";
	__u64 ud = 0;

	mmsb_uring_prep_wait(io_uring_get_sqe(&self->ring), self->fd,
			     self->page, 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), 0);

	mmsb_uring_prep_wait(io_uring_get_sqe(&self->ring), self->fd,
			     self->page, 2);
	ASSERT_EQ(io_uring_submit(&self->ring), 1);
	usleep(20000);
	EXPECT_EQ(io_uring_peek_cqe(&self->ring, &cqe), -EAGAIN);

	mmsb_delta_dense(&d, self->page, 0, x, sizeof(x));
	ASSERT_EQ(mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL), 0);
	usleep(20000);
	EXPECT_EQ(io_uring_peek_cqe(&self->ring, &cqe), -EAGAIN);

	/* The second epoch, through io_uring too. */
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d,
			       1, 0);
	ASSERT_EQ(io_uring_submit(&self->ring), 1);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(io_uring_wait_cqe(&self->ring, &cqe), 0);
		ud |= 1ULL << (cqe->res == 1);
		EXPECT_TRUE(cqe->res == 0 || cqe->res == 1);
		io_uring_cqe_seen(&self->ring, cqe);
	}
	EXPECT_EQ(ud, 3);
	EXPECT_EQ(page_epoch(self->fd, self->page), 2);
}

/* Freeing the page ends its WAITs with -EIDRM. */
TEST_F(uring, wait_page_freed)
{
	mmsb_uring_prep_wait(io_uring_get_sqe(&self->ring), self->fd,
			     self->page, 5);
	ASSERT_EQ(io_uring_submit(&self->ring), 1);
	usleep(10000);
	ASSERT_EQ(mmsb_page_free(self->fd, self->page), 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EIDRM);
}

/*
 * A ring torn down with WAITs in flight leaves nothing behind: where
 * io_uring can cancel them they end at once (well before their 2 s
 * timeout), else by that timeout (1 s of slack for TCG).
 */
TEST_F(uring, ring_teardown)
{
	struct io_uring r;
	long t0, t;
	int i;

	ASSERT_EQ(uring_reload(self, "uring_wait_ms=2000"), 0);
	ASSERT_EQ(read_param("uring_wait_ms"), 2000);
	ASSERT_EQ(io_uring_queue_init(64, &r, 0), 0);
	t0 = now_ms();
	for (i = 0; i < 32; i++)
		mmsb_uring_prep_wait(io_uring_get_sqe(&r), self->fd,
				     self->page, 1000 + i);
	ASSERT_EQ(io_uring_submit(&r), 32);
	usleep(10000);
	EXPECT_EQ(uring_inflight(), 32);
	io_uring_queue_exit(&r);
	EXPECT_EQ(inflight_settles(5000), 0);
	t = now_ms() - t0;
	if (uring_can_cancel()) {
		EXPECT_GT(1000, t) TH_LOG("cancelled after %ld ms", t);
	} else {
		EXPECT_TRUE(t >= 2000 && t < 3000) TH_LOG("ended after %ld ms", t);
	}
}

/* A WAIT whose epoch never comes: -ETIMEDOUT after uring_wait_ms. */
TEST_F(uring, wait_timeout)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	long t0, t;

	ASSERT_EQ(uring_reload(self, "uring_wait_ms=300"), 0);
	sqe = io_uring_get_sqe(&self->ring);
	t0 = now_ms();
	mmsb_uring_prep_wait(sqe, self->fd, self->page, 1);
	io_uring_sqe_set_data64(sqe, 7);
	ASSERT_EQ(io_uring_submit(&self->ring), 1);
	ASSERT_EQ(io_uring_wait_cqe(&self->ring, &cqe), 0);
	t = now_ms() - t0;
	EXPECT_EQ(cqe->res, -ETIMEDOUT);
	EXPECT_EQ(cqe->user_data, 7);
	io_uring_cqe_seen(&self->ring, cqe);
	/* Not before; and not much after (6.1 looks every 100 ms). */
	EXPECT_TRUE(t >= 300 && t < 1000) TH_LOG("after %ld ms", t);
	EXPECT_EQ(page_epoch(self->fd, self->page), 0);
}

/*
 * A WAIT outlives the task that submitted it only until mmsb hears of
 * the exit: a child submits on a ring it shares with us and exits; we
 * read its CQE, -ECANCELED, long before the 30 s timeout.
 */
TEST_F(uring, wait_canceled_with_submitter)
{
	struct __kernel_timespec ts = { .tv_sec = 5 };
	struct io_uring_cqe *cqe;
	struct io_uring r;
	pid_t pid;

	ASSERT_EQ(uring_reload(self, "uring_wait_ms=30000"), 0);
	ASSERT_EQ(io_uring_queue_init(8, &r, 0), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r);

		mmsb_uring_prep_wait(sqe, self->fd, self->page, 1);
		io_uring_sqe_set_data64(sqe, 9);
		_exit(io_uring_submit(&r) == 1 ? 0 : 1);
	}
	EXPECT_EQ(wait_child(pid), 0);
	ASSERT_EQ(io_uring_wait_cqe_timeout(&r, &cqe, &ts), 0);
	EXPECT_EQ(cqe->res, -ECANCELED);
	EXPECT_EQ(cqe->user_data, 9);
	io_uring_cqe_seen(&r, cqe);
	EXPECT_EQ(inflight_settles(1000), 0);
	io_uring_queue_exit(&r);
	EXPECT_EQ(page_epoch(self->fd, self->page), 0);
}

/* Without read permission, a WAIT fails at submission with -EACCES. */
TEST_F(uring, wait_no_read_permission)
{
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct io_uring r;
		int fd;

		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(1);
		fd = mmsb_open();
		if (fd < 0 || io_uring_queue_init(4, &r, 0))
			_exit(2);
		/* Root's page, mode 0600. */
		mmsb_uring_prep_wait(io_uring_get_sqe(&r), fd, self->page, 1);
		_exit(-one_cqe(&r, NULL));
	}
	EXPECT_EQ(wait_child(pid), EACCES);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/* Every delta refused: the CQE says 0 applied, each status written. */
TEST_F(uring, submit_all_refused)
{
	struct mmsb_delta d[2];
	char x[4] = "nop";

	mmsb_delta_dense(&d[0], self->page + 1000000, 0, x, sizeof(x));
	mmsb_delta_dense(&d[1], self->page, PAGE_BYTES, x, sizeof(x));
	d[0].status = d[1].status = 12345;
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, d, 2, 0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), 0);
	EXPECT_EQ(d[0].status, -ENOENT);
	EXPECT_EQ(d[1].status, -ERANGE);
	EXPECT_EQ(d[0].delta_id, 0);
	EXPECT_EQ(d[1].delta_id, 0);
	EXPECT_EQ(page_epoch(self->fd, self->page), 0);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/*
 * A command of one delta is applied by a tick run at its issue (as a
 * SYNC ioctl of one delta): each outcome as for any command.
 */
TEST_F(uring, one_delta)
{
	struct mmsb_delta d, *ro;
	char x[8] = "one", y[8] = "two";
	struct io_uring_sqe *sqe;
	int i;

	/* Applied: res 1, the outputs, the bytes. */
	mmsb_delta_dense(&d, self->page, 8, x, sizeof(x));
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d, 1,
			       0);
	ASSERT_EQ(one_cqe(&self->ring, NULL), 1);
	EXPECT_EQ(d.status, 0);
	EXPECT_NE(d.delta_id, 0);
	EXPECT_EQ(d.epoch, 1);
	EXPECT_EQ(memcmp(self->data + 8, x, sizeof(x)), 0);

	/* A stale expected epoch: res 0, -ESTALE, the page's epoch. */
	mmsb_delta_dense(&d, self->page, 8, y, sizeof(y));
	d.expected_epoch = 5;
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d, 1,
			       0);
	ASSERT_EQ(one_cqe(&self->ring, NULL), 0);
	EXPECT_EQ(d.status, -ESTALE);
	EXPECT_EQ(d.epoch, 1);
	EXPECT_EQ(memcmp(self->data + 8, x, sizeof(x)), 0);

	/* Refused at its checks: res 0, the errno, no id. */
	mmsb_delta_dense(&d, self->page + 1000000, 0, y, sizeof(y));
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d, 1,
			       0);
	ASSERT_EQ(one_cqe(&self->ring, NULL), 0);
	EXPECT_EQ(d.status, -ENOENT);
	EXPECT_EQ(d.delta_id, 0);

	/* An array that cannot take the outputs: -EFAULT, nothing done. */
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(ro, MAP_FAILED);
	mmsb_delta_dense(ro, self->page, 8, y, sizeof(y));
	ASSERT_EQ(0, mprotect(ro, 4096, PROT_READ));
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, ro, 1,
			       0);
	EXPECT_EQ(one_cqe(&self->ring, NULL), -EFAULT);
	EXPECT_EQ(page_epoch(self->fd, self->page), 1);
	EXPECT_EQ(munmap(ro, 4096), 0);

	/* From io-wq (IOSQE_ASYNC): the same. */
	mmsb_delta_dense(&d, self->page, 16, y, sizeof(y));
	sqe = io_uring_get_sqe(&self->ring);
	mmsb_uring_prep_submit(sqe, self->fd, &d, 1, 0);
	sqe->flags |= IOSQE_ASYNC;
	ASSERT_EQ(one_cqe(&self->ring, NULL), 1);
	EXPECT_EQ(d.status, 0);
	EXPECT_EQ(d.epoch, 2);
	EXPECT_EQ(memcmp(self->data + 16, y, sizeof(y)), 0);

	/* Many in one io_uring_enter(), in order: the last bytes win. */
	for (i = 0; i < 32; i++) {
		static struct mmsb_delta many[32];
		static __u64 v[32];

		v[i] = i + 1;
		mmsb_delta_dense(&many[i], self->page, 24, &v[i], 8);
		mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd,
				       &many[i], 1, 0);
	}
	ASSERT_EQ(io_uring_submit_and_wait(&self->ring, 32), 32);
	for (i = 0; i < 32; i++) {
		struct io_uring_cqe *cqe;

		ASSERT_EQ(io_uring_wait_cqe(&self->ring, &cqe), 0);
		EXPECT_EQ(cqe->res, 1);
		io_uring_cqe_seen(&self->ring, cqe);
	}
	EXPECT_EQ(*(const __u64 *)(self->data + 24), 32);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/*
 * The one-delta commands of one io_uring_enter() after the first share
 * one tick, run by the submitter's task work (the first, finding the
 * tick quiet, has one of its own): the page they change steps its epoch
 * once, every delta of the tick reports that epoch, of two with the same
 * expected epoch the first wins, a refused one completes on its own,
 * and the bytes are those of applying the others in order.  Deltas 0-39
 * write word i % 8; 0 and 1 expect the epoch before; 34's page is
 * unknown.
 */
TEST_F(uring, one_delta_shared_tick)
{
	static struct mmsb_delta d[40];
	static __u64 v[40];
	struct mmsb_stats s0, s1;
	__u64 e0, got;
	int i, w, last;

	/* Epoch 0 would be no expectation: one delta first. */
	v[0] = 1;
	mmsb_delta_dense(&d[0], self->page, 0, &v[0], 8);
	ASSERT_EQ(mmsb_submit(self->fd, &d[0], 1, MMSB_SUBMIT_SYNC, NULL), 0);
	e0 = page_epoch(self->fd, self->page);
	ASSERT_EQ(e0, 1);
	ASSERT_EQ(mmsb_stats(self->fd, &s0), 0);
	for (i = 0; i < 40; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		v[i] = 0x1000 + i;
		mmsb_delta_dense(&d[i], self->page + (i == 34) * 1000000,
				 (i % 8) * 8, &v[i], 8);
		if (i < 2)
			d[i].expected_epoch = e0;
		mmsb_uring_prep_submit(sqe, self->fd, &d[i], 1, 0);
		io_uring_sqe_set_data64(sqe, i);
	}
	ASSERT_EQ(io_uring_submit_and_wait(&self->ring, 40), 40);
	for (i = 0; i < 40; i++) {
		struct io_uring_cqe *cqe;
		__u64 k;

		ASSERT_EQ(io_uring_wait_cqe(&self->ring, &cqe), 0);
		k = cqe->user_data;
		EXPECT_EQ(cqe->res, k == 1 || k == 34 ? 0 : 1)
			TH_LOG("command %llu", (unsigned long long)k);
		io_uring_cqe_seen(&self->ring, cqe);
	}
	ASSERT_EQ(mmsb_stats(self->fd, &s1), 0);
	EXPECT_EQ(s0.ticks + 2, s1.ticks);
	EXPECT_EQ(page_epoch(self->fd, self->page), e0 + 2);
	for (i = 0; i < 40; i++) {
		if (i == 34) {
			EXPECT_EQ(d[i].status, -ENOENT);
			EXPECT_EQ(d[i].delta_id, 0);
			continue;
		}
		EXPECT_EQ(d[i].status, i == 1 ? -ESTALE : 0) TH_LOG("delta %d", i);
		EXPECT_EQ(d[i].epoch, e0 + 1 + !!i) TH_LOG("delta %d", i);
		EXPECT_NE(d[i].delta_id, 0);
	}
	/* Word w holds the last delta applied to it. */
	for (w = 0; w < 8; w++) {
		last = w == 2 ? 26 : 32 + w;
		memcpy(&got, self->data + w * 8, 8);
		EXPECT_EQ(got, v[last]) TH_LOG("word %d", w);
	}
	EXPECT_EQ(inflight_settles(1000), 0);
}

/*
 * More one-delta commands in one io_uring_enter() than a tick takes
 * (batch_max 8): the tick takes the first eight, the others are queued
 * as they were read, in their order.  Each applies and
 * reports its page's epoch after its tick, which never falls in issue
 * order, and each word ends with the last delta written to it.
 */
TEST_F(uring, one_delta_past_batch_max)
{
	static struct mmsb_delta d[40];
	static __u64 v[40];
	struct mmsb_stats s0, s1;
	__u64 got;
	int i, w;

	ASSERT_EQ(uring_reload(self, "batch_max=8"), 0);
	ASSERT_EQ(mmsb_stats(self->fd, &s0), 0);
	for (i = 0; i < 40; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		v[i] = 0x2000 + i;
		mmsb_delta_dense(&d[i], self->page, (i % 8) * 8, &v[i], 8);
		mmsb_uring_prep_submit(sqe, self->fd, &d[i], 1, 0);
		io_uring_sqe_set_data64(sqe, i);
	}
	ASSERT_EQ(io_uring_submit_and_wait(&self->ring, 40), 40);
	for (i = 0; i < 40; i++) {
		struct io_uring_cqe *cqe;

		ASSERT_EQ(io_uring_wait_cqe(&self->ring, &cqe), 0);
		EXPECT_EQ(cqe->res, 1) TH_LOG("command %llu",
					      (unsigned long long)cqe->user_data);
		io_uring_cqe_seen(&self->ring, cqe);
	}
	ASSERT_EQ(mmsb_stats(self->fd, &s1), 0);
	EXPECT_LE(s0.ticks + 5, s1.ticks);
	for (i = 0; i < 40; i++) {
		EXPECT_EQ(d[i].status, 0) TH_LOG("delta %d", i);
		EXPECT_NE(d[i].delta_id, 0);
		EXPECT_LE(1, d[i].epoch);
		if (i)
			EXPECT_LE(d[i - 1].epoch, d[i].epoch) TH_LOG("%d", i);
	}
	EXPECT_EQ(d[39].epoch, page_epoch(self->fd, self->page));
	for (w = 0; w < 8; w++) {
		memcpy(&got, self->data + w * 8, 8);
		EXPECT_EQ(got, v[32 + w]) TH_LOG("word %d", w);
	}
	EXPECT_EQ(inflight_settles(1000), 0);
}

/* Submit what is prepared and reap @n CQEs: @res[user_data] = res. */
static int reap(struct io_uring *ring, unsigned int n, int *res)
{
	unsigned int i;
	int ret;

	ret = io_uring_submit_and_wait(ring, n);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret)
			return ret;
		res[cqe->user_data] = cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
	return 0;
}

/*
 * Commands of several deltas issued in one io_uring_enter() are handed
 * to one tick, that of the submitter's task work, as one-delta ones
 * are: 32 commands of 8 deltas, each delta its own word; delta 0 of
 * commands 0 and 1 expects the page's epoch before.  One tick: the page
 * steps its epoch once, every delta reports that epoch, the first of
 * the two expecting wins (command 1's is -ESTALE, its word untouched),
 * ids are consecutive within a command, and the memory the handoff was
 * charged is given back.
 */
TEST_F(uring, handed_commands)
{
	static struct mmsb_delta d[32][8];
	static __u64 v[32][8];
	struct mmsb_stats s0, s1;
	int res[32], k, j;
	__u64 e0, got;

	v[0][0] = 1;
	mmsb_delta_dense(&d[0][0], self->page, 4088, &v[0][0], 8);
	ASSERT_EQ(mmsb_submit(self->fd, &d[0][0], 1, MMSB_SUBMIT_SYNC, NULL),
		  0);
	e0 = page_epoch(self->fd, self->page);
	ASSERT_EQ(mmsb_stats(self->fd, &s0), 0);
	for (k = 0; k < 32; k++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		for (j = 0; j < 8; j++) {
			v[k][j] = 0x100 * (k + 1) + j;
			mmsb_delta_dense(&d[k][j], self->page, (k * 8 + j) * 8,
					 &v[k][j], 8);
		}
		if (k < 2)
			d[k][0].expected_epoch = e0;
		mmsb_uring_prep_submit(sqe, self->fd, d[k], 8, 0);
		io_uring_sqe_set_data64(sqe, k);
	}
	ASSERT_EQ(reap(&self->ring, 32, res), 0);
	ASSERT_EQ(mmsb_stats(self->fd, &s1), 0);
	EXPECT_EQ(s0.ticks + 1, s1.ticks);
	EXPECT_EQ(s0.submitted + 256, s1.submitted);
	EXPECT_EQ(s0.delta_bytes, s1.delta_bytes);
	EXPECT_EQ(page_epoch(self->fd, self->page), e0 + 1);
	for (k = 0; k < 32; k++) {
		EXPECT_EQ(res[k], k == 1 ? 7 : 8) TH_LOG("command %d", k);
		for (j = 0; j < 8; j++) {
			bool stale = k == 1 && !j;

			EXPECT_EQ(d[k][j].status, stale ? -ESTALE : 0)
				TH_LOG("delta %d.%d", k, j);
			EXPECT_EQ(d[k][j].epoch, e0 + 1);
			EXPECT_EQ(d[k][j].delta_id, d[k][0].delta_id + j);
			memcpy(&got, self->data + (k * 8 + j) * 8, 8);
			EXPECT_EQ(got, stale ? 0 : v[k][j])
				TH_LOG("word %d.%d", k, j);
		}
	}
	EXPECT_NE(d[0][0].delta_id, 0);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/*
 * Handed commands a tick cannot take whole (batch_max 8, commands of 3
 * deltas): it takes commands 0 and 1 and the first two deltas of 2; the
 * rest is queued as it was read and applied by later ticks.  Each
 * command's deltas apply in order (delta 2 rewrites the word of delta
 * 0), each reports the epoch after its own tick, a command's count
 * covers both parts, and the CQE comes once all of it is applied.
 */
TEST_F(uring, handed_commands_past_batch_max)
{
	static struct mmsb_delta d[10][3];
	static __u64 v[10][3];
	struct mmsb_stats s0, s1;
	int res[10], k, j;
	__u64 got;

	ASSERT_EQ(uring_reload(self, "batch_max=8"), 0);
	ASSERT_EQ(mmsb_stats(self->fd, &s0), 0);
	for (k = 0; k < 10; k++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		for (j = 0; j < 3; j++) {
			v[k][j] = 0x300 * (k + 1) + j;
			mmsb_delta_dense(&d[k][j], self->page,
					 (k * 2 + j % 2) * 8, &v[k][j], 8);
		}
		mmsb_uring_prep_submit(sqe, self->fd, d[k], 3, 0);
		io_uring_sqe_set_data64(sqe, k);
	}
	ASSERT_EQ(reap(&self->ring, 10, res), 0);
	ASSERT_EQ(mmsb_stats(self->fd, &s1), 0);
	EXPECT_LE(s0.ticks + 4, s1.ticks);
	EXPECT_EQ(s0.submitted + 30, s1.submitted);
	for (k = 0; k < 10; k++) {
		EXPECT_EQ(res[k], 3) TH_LOG("command %d", k);
		for (j = 0; j < 3; j++) {
			EXPECT_EQ(d[k][j].status, 0) TH_LOG("delta %d.%d", k, j);
			EXPECT_LE(1, d[k][j].epoch);
			if (j)
				EXPECT_LE(d[k][j - 1].epoch, d[k][j].epoch);
		}
		/* Delta 2 came after delta 0, in the same tick or later. */
		memcpy(&got, self->data + k * 16, 8);
		EXPECT_EQ(got, v[k][2]) TH_LOG("command %d", k);
		memcpy(&got, self->data + k * 16 + 8, 8);
		EXPECT_EQ(got, v[k][1]) TH_LOG("command %d", k);
	}
	/* The tick took two deltas of command 2 and left the third. */
	EXPECT_EQ(d[2][0].epoch, d[0][0].epoch);
	EXPECT_EQ(d[2][1].epoch, d[0][0].epoch);
	EXPECT_LT(d[2][1].epoch, d[2][2].epoch);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/*
 * What a tick leaves of the handed commands is queued by the task work
 * that ran it, after the completions of the commands it took, which
 * queue io_uring task work and so make the task look signalled: the
 * wait for room must go on all the same.  A queue of 4 deltas, ticks of
 * 4 (batch_max): the task work's tick takes command 0 and a delta of
 * command 1, then queues the rest, command 2 waiting for command 1's
 * deltas to leave the queue, and so on.  Every delta applies.
 */
TEST_F(uring, handed_commands_wait_for_room)
{
	static struct mmsb_delta d[10][3];
	static __u64 v[10][3];
	int res[10], k, j;
	__u64 got;

	ASSERT_EQ(uring_reload(self, "ring_size=4 batch_max=4"), 0);
	for (k = 0; k < 10; k++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		for (j = 0; j < 3; j++) {
			v[k][j] = 0x700 * (k + 1) + j;
			mmsb_delta_dense(&d[k][j], self->page, (k * 3 + j) * 8,
					 &v[k][j], 8);
		}
		mmsb_uring_prep_submit(sqe, self->fd, d[k], 3, 0);
		io_uring_sqe_set_data64(sqe, k);
	}
	ASSERT_EQ(reap(&self->ring, 10, res), 0);
	for (k = 0; k < 10; k++) {
		EXPECT_EQ(res[k], 3) TH_LOG("command %d", k);
		for (j = 0; j < 3; j++) {
			EXPECT_EQ(d[k][j].status, 0) TH_LOG("delta %d.%d", k, j);
			memcpy(&got, self->data + (k * 3 + j) * 8, 8);
			EXPECT_EQ(got, v[k][j]) TH_LOG("word %d.%d", k, j);
		}
	}
	EXPECT_EQ(inflight_settles(1000), 0);
}

/*
 * A command with a refused delta is queued instead of handed, and
 * reports the refusal as any queued command; its deltas queued first
 * change the page, so the tick leaves the handed commands on that page
 * to a later tick: they are queued as read.  Commands 0, 2 and 3 are
 * handed; command 1's delta 2 names no page.  Each command writes its
 * own words.
 */
TEST_F(uring, handed_commands_refused)
{
	static struct mmsb_delta d[4][4];
	static __u64 v[4][4];
	struct mmsb_stats s0, s1;
	int res[4], k, j;
	__u64 got;

	ASSERT_EQ(mmsb_stats(self->fd, &s0), 0);
	for (k = 0; k < 4; k++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

		for (j = 0; j < 4; j++) {
			v[k][j] = 0x500 * (k + 1) + j;
			mmsb_delta_dense(&d[k][j],
					 self->page + (k == 1 && j == 2) * 1000000,
					 (k * 4 + j) * 8, &v[k][j], 8);
		}
		mmsb_uring_prep_submit(sqe, self->fd, d[k], 4, 0);
		io_uring_sqe_set_data64(sqe, k);
	}
	ASSERT_EQ(reap(&self->ring, 4, res), 0);
	ASSERT_EQ(mmsb_stats(self->fd, &s1), 0);
	EXPECT_EQ(s0.submitted + 15, s1.submitted);
	EXPECT_EQ(s0.rejected + 1, s1.rejected);
	EXPECT_EQ(s0.delta_bytes, s1.delta_bytes);
	for (k = 0; k < 4; k++) {
		EXPECT_EQ(res[k], k == 1 ? 3 : 4) TH_LOG("command %d", k);
		for (j = 0; j < 4; j++) {
			bool refused = k == 1 && j == 2;

			EXPECT_EQ(d[k][j].status, refused ? -ENOENT : 0)
				TH_LOG("delta %d.%d", k, j);
			EXPECT_EQ(!d[k][j].delta_id, refused);
			memcpy(&got, self->data + (k * 4 + j) * 8, 8);
			EXPECT_EQ(got, refused ? 0 : v[k][j])
				TH_LOG("word %d.%d", k, j);
		}
	}
	/* Queued first, command 1 was applied in the first tick. */
	EXPECT_LT(d[1][0].epoch, d[0][0].epoch);
	for (k = 0; k < 4; k++)
		EXPECT_EQ(d[k][0].epoch, d[k][3].epoch);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/*
 * The commands of one io_uring_enter() that need more than a chunk have
 * their records in several, and still one tick: 128 commands of 16
 * deltas of 8 bytes (128 KiB of records, 64 KiB chunks) over a page of
 * 16 KiB, each delta its own word; twice, the second time writing new
 * bytes everywhere, checked each time.
 */
TEST_F(uring, handoff_chunks)
{
	static struct mmsb_delta d[128][16];
	static __u64 v[128][16];
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create pc;
	struct mmsb_stats s0, s1;
	int res[128], k, j, round;
	const __u8 *data;
	__u64 got;

	ASSERT_EQ(mmsb_page_create(self->fd, 16384, 0, 0, &pc), 0);
	ASSERT_EQ(mmsb_page_map(self->fd, pc.id, &hdr), 0);
	data = (const __u8 *)hdr + MMSB_PAGE_DATA_OFFSET;
	for (round = 0; round < 2; round++) {
		ASSERT_EQ(mmsb_stats(self->fd, &s0), 0);
		for (k = 0; k < 128; k++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&self->ring);

			for (j = 0; j < 16; j++) {
				v[k][j] = (__u64)round << 32 | k << 8 | j;
				mmsb_delta_dense(&d[k][j], pc.id, (k * 16 + j) * 8,
						 &v[k][j], 8);
			}
			mmsb_uring_prep_submit(sqe, self->fd, d[k], 16, 0);
			io_uring_sqe_set_data64(sqe, k);
		}
		ASSERT_EQ(reap(&self->ring, 128, res), 0);
		ASSERT_EQ(mmsb_stats(self->fd, &s1), 0);
		for (k = 0; k < 128; k++) {
			ASSERT_EQ(res[k], 16) TH_LOG("round %d command %d",
						     round, k);
			for (j = 0; j < 16; j++) {
				memcpy(&got, data + (k * 16 + j) * 8, 8);
				ASSERT_EQ(got, v[k][j]) TH_LOG("round %d", round);
			}
		}
		EXPECT_EQ(s0.submitted + 2048, s1.submitted);
		EXPECT_EQ(s0.delta_bytes, s1.delta_bytes);
		EXPECT_EQ(s0.ticks + 1, s1.ticks) TH_LOG("round %d", round);
	}
	EXPECT_EQ(mmsb_page_unmap(hdr), 0);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/* Rings set up with IORING_SETUP_IOPOLL are refused: -EOPNOTSUPP. */
TEST_F(uring, iopoll_refused)
{
	struct mmsb_stats before, after;
	struct io_uring r;
	struct mmsb_delta d;
	char x[4] = "pol";

	ASSERT_EQ(mmsb_stats(self->fd, &before), 0);
	ASSERT_EQ(io_uring_queue_init(4, &r, IORING_SETUP_IOPOLL), 0);
	mmsb_delta_dense(&d, self->page, 0, x, sizeof(x));
	mmsb_uring_prep_submit(io_uring_get_sqe(&r), self->fd, &d, 1, 0);
	EXPECT_EQ(one_cqe(&r, NULL), -EOPNOTSUPP);
	mmsb_uring_prep_wait(io_uring_get_sqe(&r), self->fd, self->page, 1);
	EXPECT_EQ(one_cqe(&r, NULL), -EOPNOTSUPP);
	io_uring_queue_exit(&r);
	ASSERT_EQ(mmsb_stats(self->fd, &after), 0);
	EXPECT_EQ(after.submitted, before.submitted);
	EXPECT_EQ(page_epoch(self->fd, self->page), 0);
	EXPECT_EQ(self->data[0], 0);
}

/*
 * -ENOMEM with nothing queued, for SUBMIT and WAIT, forced by failslab
 * and fail_page_alloc (debug kernel) failing every allocation of this
 * task while it enters io_uring.  A first command of each kind warms
 * io_uring's own caches, so that only mmsb allocates on the way.
 */

TEST_F(uring, enomem)
{
	struct mmsb_stats before, after;
	struct io_uring_sqe *sqe;
	static char big[2048];
	struct mmsb_delta d, dbig;
	char x[4] = "mem";
	int fail, i, res[2];

	if (access(FAILSLAB "probability", W_OK) ||
	    access(FAILPAGE "probability", W_OK))
		SKIP(return, "no failslab, fail_page_alloc: -ENOMEM cannot be forced");
	/* A WAIT that went in after all ends soon, as a clear failure. */
	ASSERT_EQ(uring_reload(self, "uring_wait_ms=1000"), 0);
	fail = open("/proc/self/make-it-fail", O_WRONLY);
	ASSERT_GE(fail, 0);
	/* Warm up: one command of each kind, done. */
	mmsb_delta_dense(&d, self->page, 0, x, sizeof(x));
	mmsb_uring_prep_submit(io_uring_get_sqe(&self->ring), self->fd, &d, 1, 0);
	ASSERT_EQ(one_cqe(&self->ring, NULL), 1);
	mmsb_uring_prep_wait(io_uring_get_sqe(&self->ring), self->fd,
			     self->page, 1);
	ASSERT_EQ(one_cqe(&self->ring, NULL), 0);
	ASSERT_EQ(mmsb_stats(self->fd, &before), 0);

	/*
	 * A SUBMIT allocates nothing per call: its delta goes into a chunk
	 * from the pool, the handoff's (64 KiB) or a queued one (4 KiB for
	 * this one), of which the pool has none yet: the delta is refused
	 * with -ENOMEM, the command completes with 0 applied.  A WAIT
	 * allocates its request.
	 */
	mmsb_delta_dense(&dbig, self->page, 0, big, sizeof(big));
	ASSERT_EQ(faults_set(100), 0);
	for (i = 0; i < 2; i++) {
		sqe = io_uring_get_sqe(&self->ring);
		if (!i)
			mmsb_uring_prep_submit(sqe, self->fd, &dbig, 1, 0);
		else
			mmsb_uring_prep_wait(sqe, self->fd, self->page, 2);
		ASSERT_EQ(pwrite(fail, "1", 1, 0), 1);
		res[i] = io_uring_submit(&self->ring);
		ASSERT_EQ(pwrite(fail, "0", 1, 0), 1);
		if (res[i] == 1)
			res[i] = one_cqe(&self->ring, NULL);
	}
	EXPECT_EQ(faults_set(0), 0);
	close(fail);
	EXPECT_EQ(res[0], 0);
	EXPECT_EQ(dbig.status, -ENOMEM);
	EXPECT_EQ(dbig.delta_id, 0);
	EXPECT_EQ(res[1], -ENOMEM);
	ASSERT_EQ(mmsb_stats(self->fd, &after), 0);
	EXPECT_EQ(after.submitted, before.submitted);
	EXPECT_EQ(page_epoch(self->fd, self->page), 1);
	EXPECT_EQ(inflight_settles(1000), 0);
}

/* kill -9 with WAITs and SUBMITs in flight: all of them end. */
TEST_F(uring, killed_in_flight)
{
	int pfd[2], status;
	char c;
	pid_t pid;

	ASSERT_EQ(pipe(pfd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		static struct mmsb_delta d[128][8];
		static char buf[64];
		struct io_uring r;
		int i, j;

		if (io_uring_queue_init(256, &r, 0))
			_exit(1);
		for (i = 0; i < 128; i++) {
			mmsb_uring_prep_wait(io_uring_get_sqe(&r), self->fd,
					     self->page, 1000000 + i);
			for (j = 0; j < 8; j++)
				mmsb_delta_dense(&d[i][j], self->page,
						 (i * 8 + j) % 64 * 64, buf,
						 sizeof(buf));
			mmsb_uring_prep_submit(io_uring_get_sqe(&r), self->fd,
					       d[i], 8, 0);
		}
		if (io_uring_submit(&r) != 256)
			_exit(2);
		if (write(pfd[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(inflight_settles(5000), 0);
	ASSERT_EQ(mmsb_flush(self->fd), 0);
}

/*
 * The model test.  Process p owns 16 pages; command slot k (of 256 in
 * flight) owns 256 bytes of them, written by 16 DENSE deltas of 16 bytes.
 * A slot is reused only after its CQE, so the last content written to
 * it is what the page must hold.
 */
#define MODEL_PROCS	4
#define MODEL_DELTAS	100000
#define MODEL_DEPTH	256
#define MODEL_PER_CMD	16
#define MODEL_PAGES	16	/* per process */

static int model_child(int fd, const __u64 *pages, unsigned int p)
{
	static struct mmsb_delta d[MODEL_DEPTH][MODEL_PER_CMD];
	static __u8 buf[MODEL_DEPTH][MODEL_PER_CMD][16];
	static __u8 model[MODEL_PAGES][PAGE_BYTES];
	unsigned int cmds = MODEL_DELTAS / MODEL_PER_CMD, sent = 0, done = 0;
	unsigned int free_slots[MODEL_DEPTH], nfree = MODEL_DEPTH, k, j, i;
	__u64 seed = 0x9e3779b97f4a7c15ULL * (p + 1);
	struct io_uring r;

	if (io_uring_queue_init(MODEL_DEPTH, &r, 0))
		return 1;
	for (k = 0; k < MODEL_DEPTH; k++)
		free_slots[k] = k;
	while (done < cmds) {
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		while (nfree && sent < cmds) {
			k = free_slots[--nfree];
			for (j = 0; j < MODEL_PER_CMD; j++) {
				__u64 off = (k % 16) * 256 + j * 16;

				for (i = 0; i < 16; i++) {
					seed ^= seed << 13;
					seed ^= seed >> 7;
					seed ^= seed << 17;
					buf[k][j][i] = seed;
				}
				mmsb_delta_dense(&d[k][j], pages[k / 16], off,
						 buf[k][j], 16);
				memcpy(&model[k / 16][off], buf[k][j], 16);
			}
			sqe = io_uring_get_sqe(&r);
			mmsb_uring_prep_submit(sqe, fd, d[k], MODEL_PER_CMD, 0);
			io_uring_sqe_set_data64(sqe, k);
			sent++;
		}
		if (io_uring_submit_and_wait(&r, 1) < 0)
			return 2;
		io_uring_for_each_cqe(&r, head, cqe) {
			k = cqe->user_data;
			if (cqe->res != MODEL_PER_CMD)
				return 3;
			for (j = 0; j < MODEL_PER_CMD; j++)
				if (d[k][j].status)
					return 4;
			free_slots[nfree++] = k;
			seen++;
		}
		io_uring_cq_advance(&r, seen);
		done += seen;
	}
	io_uring_queue_exit(&r);
	for (k = 0; k < MODEL_PAGES; k++) {
		const struct mmsb_page_header *hdr;
		static __u8 got[PAGE_BYTES];

		if (mmsb_page_map(fd, pages[k], &hdr))
			return 5;
		if (mmsb_page_read(hdr, 0, got, PAGE_BYTES, NULL))
			return 6;
		if (memcmp(got, model[k], PAGE_BYTES))
			return 7;
		mmsb_page_unmap(hdr);
	}
	return 0;
}

/* Slow kernels (KASAN, lockdep) need more than the default 30 s. */
TEST_F_TIMEOUT(uring, model_4x100k, 280)
{
	__u64 pages[MODEL_PROCS][MODEL_PAGES];
	struct mmsb_page_create pc;
	int p, k, status, bad = 0;

	for (p = 0; p < MODEL_PROCS; p++)
		for (k = 0; k < MODEL_PAGES; k++) {
			ASSERT_EQ(mmsb_page_create(self->fd, PAGE_BYTES, 0, 0,
						   &pc), 0);
			pages[p][k] = pc.id;
		}
	for (p = 0; p < MODEL_PROCS; p++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (!pid) {
			/* Do not outlive a timed-out test: rmmod follows. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(model_child(self->fd, pages[p], p));
		}
	}
	for (p = 0; p < MODEL_PROCS; p++) {
		ASSERT_GT(wait(&status), 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			TH_LOG("child status %#x", status);
			bad++;
		}
	}
	EXPECT_EQ(bad, 0);
	EXPECT_EQ(inflight_settles(1000), 0);
}

TEST_HARNESS_MAIN
