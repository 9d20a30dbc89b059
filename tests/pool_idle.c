// SPDX-License-Identifier: GPL-2.0
/*
 * The chunk pool (batch.c): up to 8 MiB of each chunk size while a bus
 * is busy, trimmed to 1 MiB of each once no chunk was taken for 1 s.
 *
 * On eccd4a7 the two _sync variants failed on 6.1, 6.12 and debug: after
 * a SYNC burst the pool kept 1,507,328 bytes (23 chunks of 64 KiB) for
 * good.  Only the tick asked for a trim, and a batch's chunks go back to
 * the pool at its owner's mmsb_batch_put(), after the tick's last look;
 * nothing looked again while the bus was idle.  Now mmsb_chunk_put()
 * asks whenever the pool holds more than an idle bus keeps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"

#define PAGE_BYTES	4096

/*
 * The chunk pool: a burst of large submissions leaves more than an idle
 * bus keeps (1 MiB of each chunk size); 1 s after the last take the
 * pool is back to that, whether the tick is periodic or on demand and
 * whether the burst was SYNC (its chunks go back when its caller is
 * done, after the tick) or not.  Then a burst and an unload at once,
 * the trim still pending, on two buses.
 */
FIXTURE(pool) {
	int fd;
	__u64 page;
	__u8 *src;
	struct mmsb_delta *d;
};

FIXTURE_VARIANT(pool) {
	const char *params;
	__u32 flags;
};

FIXTURE_VARIANT_ADD(pool, periodic_sync) { "buses=2", MMSB_SUBMIT_SYNC };
FIXTURE_VARIANT_ADD(pool, periodic_async) { "buses=2", 0 };
FIXTURE_VARIANT_ADD(pool, on_demand_sync) { "buses=2 tick_us=0",
					    MMSB_SUBMIT_SYNC };
FIXTURE_VARIANT_ADD(pool, on_demand_async) { "buses=2 tick_us=0", 0 };

FIXTURE_SETUP(pool)
{
	ASSERT_EQ(0, module_reload(variant->params));
	self->src = malloc(PAGE_BYTES);
	ASSERT_NE(NULL, self->src);
	memset(self->src, 0x5a, PAGE_BYTES);
	self->d = calloc(MMSB_SUBMIT_MAX, sizeof(*self->d));
	ASSERT_NE(NULL, self->d);
	self->fd = -1;
}

FIXTURE_TEARDOWN(pool)
{
	if (self->fd >= 0)
		close(self->fd);
	free(self->src);
	free(self->d);
	EXPECT_EQ(0, module_reload(""));
}

/* Bytes of the pool: ring_bytes less what it was with none pooled. */
static __u64 ring_bytes(int fd)
{
	struct mmsb_stats st;

	return mmsb_stats(fd, &st) ? 0 : st.ring_bytes;
}

/* @rounds submissions of 4096 deltas of 300 bytes on @fd's page @page. */
static int burst(int fd, __u64 page, struct mmsb_delta *d, const __u8 *src,
		 __u32 flags, int rounds)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < MMSB_SUBMIT_MAX; i++)
		mmsb_delta_dense(&d[i], page, i % (PAGE_BYTES - 300), src, 300);
	while (!ret && rounds--)
		ret = mmsb_submit(fd, d, MMSB_SUBMIT_MAX, flags, NULL);
	return ret;
}

TEST_F(pool, trims_when_idle)
{
	struct mmsb_page_create pc;
	__u64 base, busy, idle;
	int fd1, i;

	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, mmsb_page_create(self->fd, PAGE_BYTES, 0, 0, &pc));
	self->page = pc.id;
	base = ring_bytes(self->fd);
	ASSERT_NE(0, base);
	ASSERT_EQ(0, burst(self->fd, self->page, self->d, self->src,
			   variant->flags, 4));
	/*
	 * Without SYNC, a FLUSH applies them (an on-demand tick does not
	 * run for them); a SYNC burst gets no more calls: an idle bus
	 * must trim without them.
	 */
	if (!(variant->flags & MMSB_SUBMIT_SYNC))
		ASSERT_EQ(0, mmsb_flush(self->fd));
	busy = ring_bytes(self->fd) - base;
	/* 4096 records of 360 bytes: 23 chunks of 64 KiB at once. */
	ksft_print_msg("pool after the burst: %llu bytes\n",
		       (unsigned long long)busy);
	/* 1 s after the last take: up to 4 s. */
	for (i = 0; i < 80; i++) {
		usleep(50000);
		idle = ring_bytes(self->fd) - base;
		if (idle <= (1 << 20))
			break;
	}
	ksft_print_msg("pool once idle: %llu bytes\n",
		       (unsigned long long)idle);
	ASSERT_GE(1 << 20, idle);
	/* Both buses busy, then unloaded with their trims pending. */
	fd1 = mmsb_open_bus(1);
	ASSERT_LE(0, fd1);
	ASSERT_EQ(0, mmsb_page_create(fd1, PAGE_BYTES, 0, 0, &pc));
	ASSERT_EQ(0, burst(fd1, pc.id, self->d, self->src, variant->flags, 2));
	ASSERT_EQ(0, burst(self->fd, self->page, self->d, self->src,
			   variant->flags, 2));
	ASSERT_EQ(0, mmsb_flush(fd1));
	ASSERT_EQ(0, mmsb_flush(self->fd));
	close(fd1);
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, module_unload());
}

TEST_HARNESS_MAIN
