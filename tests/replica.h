/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the snapshot, replay and replication tests: run a tool
 * (mmsbctl, mmsb-replicate) and capture its output (run.h), and compare
 * two buses page by page (ids, sizes, modes, flags, owners, epochs, bytes,
 * edges).  Return 0 or -errno, like libmmsb; what differs is printed.
 */
#ifndef MMSB_TESTS_REPLICA_H
#define MMSB_TESTS_REPLICA_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libmmsb.h"
#include "run.h"

/*
 * Do the buses @a and @b hold the same pages (ids, sizes, modes, flags,
 * owners, epochs, bytes) and edges?  0, or -EBADE with the first
 * difference printed if @verbose; -errno of a call that failed.
 */
static inline int buses_equal(int a, int b, int verbose)
{
	struct mmsb_snap *sa = NULL, *sb = NULL;
	__u64 i;
	int ret;

	ret = mmsb_snap_take(a, &sa);
	if (!ret)
		ret = mmsb_snap_take(b, &sb);
	if (ret)
		goto out;
	ret = -EBADE;
	if (sa->nr_pages != sb->nr_pages) {
		if (verbose)
			printf("# %llu pages against %llu\n",
		       (unsigned long long)sa->nr_pages,
		       (unsigned long long)sb->nr_pages);
		goto out;
	}
	for (i = 0; i < sa->nr_pages; i++) {
		const struct mmsb_snap_page *p = &sa->pages[i], *q = &sb->pages[i];

		if (p->id != q->id || p->size != q->size ||
		    p->epoch != q->epoch || p->mode != q->mode ||
		    p->flags != q->flags || p->uid != q->uid ||
		    p->gid != q->gid) {
			if (verbose)
				printf("# page %llu: size %llu epoch %llu mode %o flags %u owner %u:%u against page %llu: size %llu epoch %llu mode %o flags %u owner %u:%u\n",
			       (unsigned long long)p->id,
			       (unsigned long long)p->size,
			       (unsigned long long)p->epoch, p->mode, p->flags,
			       p->uid, p->gid, (unsigned long long)q->id,
			       (unsigned long long)q->size,
			       (unsigned long long)q->epoch, q->mode, q->flags,
			       q->uid, q->gid);
			goto out;
		}
		if (memcmp(p->data, q->data, p->size)) {
			if (verbose)
				printf("# page %llu: bytes differ\n",
			       (unsigned long long)p->id);
			goto out;
		}
	}
	if (sa->nr_edges != sb->nr_edges ||
	    memcmp(sa->edges, sb->edges, sa->nr_edges * sizeof(*sa->edges))) {
		if (verbose)
			printf("# edges differ: %llu against %llu\n",
		       (unsigned long long)sa->nr_edges,
		       (unsigned long long)sb->nr_edges);
		goto out;
	}
	ret = 0;
out:
	mmsb_snap_free(sa);
	mmsb_snap_free(sb);
	return ret;
}

#endif /* MMSB_TESTS_REPLICA_H */
