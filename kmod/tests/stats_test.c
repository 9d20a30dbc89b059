// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_stats: the field table behind debugfs's stats file
 * (kmod/ioctl.c, from the uapi's MMSB_STATS_FIELDS and
 * MMSB_TICK_METRICS_FIELDS) names every counter of struct mmsb_stats.
 * A field added to a struct and not to its uapi list fails here.
 */
#include <kunit/test.h>
#include <linux/stddef.h>

#include <linux/mmsb.h>

#include "ioctl.h"

/* The descriptors tile struct mmsb_stats, header, pad and reserved aside. */
static void mmsb_stats_test_table_covers_structs(struct kunit *test)
{
	const size_t metrics = offsetof(struct mmsb_stats, last);
	size_t pos = metrics;
	unsigned int i;

	for (i = 0; i < mmsb_nr_stat_descs; i++) {
		const struct mmsb_stat_desc *d = &mmsb_stat_descs[i];

		/* The tick metrics' pad and reserved words come between. */
		if (pos == metrics + offsetof(struct mmsb_tick_metrics, pad))
			pos += sizeof_field(struct mmsb_tick_metrics, pad);
		if (pos == metrics + offsetof(struct mmsb_tick_metrics, reserved))
			pos = offsetofend(struct mmsb_stats, last);
		KUNIT_EXPECT_EQ_MSG(test, (size_t)d->offset, pos,
				    "%s is not where the struct has it", d->name);
		KUNIT_EXPECT_TRUE(test, d->size == 4 || d->size == 8);
		pos = d->offset + d->size;
	}
	KUNIT_EXPECT_EQ(test, pos, offsetof(struct mmsb_stats, reserved));
}

static struct kunit_case mmsb_stats_test_cases[] = {
	KUNIT_CASE(mmsb_stats_test_table_covers_structs),
	{}
};

static struct kunit_suite mmsb_stats_test_suite = {
	.name = "mmsb_stats",
	.test_cases = mmsb_stats_test_cases,
};

kunit_test_suite(mmsb_stats_test_suite);
