// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots across pages: the bus header (struct mmsb_bus_header, mmap
 * offset 0) and mmsb_snapshot().  Readers of several pages see them as
 * they stood at one tick boundary, never half of a tick.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

#define NR	8	/* pages a submission changes */

FIXTURE(snapshot) {
	int fd;
	const struct mmsb_bus_header *bus;
	const struct mmsb_page_header *hdr[NR];
	__u64 ids[NR];
};

FIXTURE_SETUP(snapshot)
{
	ASSERT_EQ(0, bus_pages_open(&self->fd, &self->bus, self->ids,
				    self->hdr, NR));
}

FIXTURE_TEARDOWN(snapshot)
{
	bus_pages_close(self->fd, self->bus, self->hdr, NR);
}

/* One SYNC submission writing @v at offset 0 of every page. */
static int write_all(FIXTURE_DATA(snapshot) *self, __u64 v)
{
	struct mmsb_delta d[NR];
	int i;

	for (i = 0; i < NR; i++)
		mmsb_delta_dense(&d[i], self->ids[i], 0, &v, sizeof(v));
	return mmsb_submit(self->fd, d, NR, MMSB_SUBMIT_SYNC, NULL);
}

/*
 * The header maps read-only, one system page at most, and its tick_seq
 * moves by two for each tick that writes pages: even once a SYNC
 * submission returned, odd never seen from here.  Its tick is the
 * number of that tick.
 */
TEST_F(snapshot, bus_header)
{
	long pagesz = sysconf(_SC_PAGESIZE);
	__u32 seq = self->bus->tick_seq;
	void *p;
	int i;

	EXPECT_EQ(0, seq & 1);
	EXPECT_EQ(0, self->bus->pad);
	EXPECT_TRUE(all_zero(self->bus->reserved,
			     sizeof(self->bus->reserved)));
	for (i = 1; i <= 3; i++) {
		struct mmsb_stats st = { .size = sizeof(st) };

		ASSERT_EQ(0, write_all(self, i));
		EXPECT_EQ(seq + 2 * i, self->bus->tick_seq);
		/* @tick names the tick that wrote the pages last. */
		ASSERT_EQ(0, ioctl(self->fd, MMSB_IOC_STATS, &st));
		EXPECT_EQ(st.last.tick, self->bus->tick);
		EXPECT_EQ(st.last.processed, NR);
	}

	EXPECT_EQ(MAP_FAILED, mmap(NULL, pagesz, PROT_READ | PROT_WRITE,
				   MAP_SHARED, self->fd,
				   MMSB_BUS_HEADER_OFFSET));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, mprotect((void *)self->bus, pagesz,
			       PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * pagesz, PROT_READ, MAP_SHARED,
				   self->fd, MMSB_BUS_HEADER_OFFSET));
	EXPECT_EQ(EINVAL, errno);
	/* A private mapping cannot be made writable either. */
	p = mmap(NULL, pagesz, PROT_READ, MAP_PRIVATE, self->fd,
		 MMSB_BUS_HEADER_OFFSET);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, pagesz, PROT_READ | PROT_WRITE));
	munmap(p, pagesz);
}

/* A window past its page: -EINVAL, nothing copied. */
TEST_F(snapshot, bad_window)
{
	__u64 v = 7, buf = 0;
	struct mmsb_snapshot_item it[2] = {
		{ .page = self->hdr[0], .off = 0, .len = 8, .buf = &v },
		{ .page = self->hdr[1], .off = 60, .len = 8, .buf = &buf },
	};

	EXPECT_EQ(-EINVAL, mmsb_snapshot(self->bus, it, 2));
	EXPECT_EQ(7, v);
	it[1].off = 56;
	EXPECT_EQ(0, mmsb_snapshot(self->bus, it, 2));
	EXPECT_EQ(0, v);
}

/*
 * A writer changes all 8 pages in each SYNC submission (one tick each),
 * writing the same counter to every page; readers snapshot the 8 pages
 * and must see 8 equal values, and 8 equal epochs, every time.  Read
 * page by page with mmsb_page_read() instead, they do not (shown when
 * the tick did not count on the bus header).
 */
TEST_F_TIMEOUT(snapshot, never_half_a_tick, 120)
{
	const int readers = 2, writes = 3000;
	int i, status, ready[2], seen = 0;
	pid_t pid[2];
	char c;
	__u64 v;

	ASSERT_EQ(0, pipe(ready));
	for (i = 0; i < readers; i++) {
		pid[i] = fork();
		ASSERT_GE(pid[i], 0);
		if (!pid[i]) {
			struct mmsb_snapshot_item it[NR];
			__u64 got[NR], last = 0;
			long n, changes = 0;
			int k;

			for (k = 0; k < NR; k++)
				it[k] = (struct mmsb_snapshot_item){
					.page = self->hdr[k], .len = 8,
					.buf = &got[k] };
			if (write(ready[1], "r", 1) != 1)
				_exit(206);
			for (n = 0; last < (__u64)writes; n++) {
				if (mmsb_snapshot(self->bus, it, NR))
					_exit(202);
				for (k = 1; k < NR; k++)
					if (got[k] != got[0] ||
					    it[k].epoch != it[0].epoch)
						_exit(203);
				if (got[0] < last)
					_exit(204);
				changes += got[0] != last;
				last = got[0];
			}
			/* Values seen change, up to 100. */
			_exit(changes < 100 ? changes : 100);
		}
	}
	/* Both readers run before the first write. */
	for (i = 0; i < readers; i++)
		ASSERT_EQ(1, read(ready[0], &c, 1));
	for (v = 1; v <= (__u64)writes; v++)
		ASSERT_EQ(0, write_all(self, v));
	for (i = 0; i < readers; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_GT(200, WEXITSTATUS(status))
			TH_LOG("reader %d: 203 = pages of different ticks", i);
		seen += WEXITSTATUS(status);
	}
	/*
	 * How often the readers looked while the writer wrote depends on
	 * the host's load: reported, not asserted.
	 */
	ksft_print_msg("readers saw %d changes of value\n", seen);
}

TEST_HARNESS_MAIN
