/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the snapshot, replay and replication tests: run a tool
 * (mmsbctl, mmsb-replicate) and capture its output, and compare two
 * buses page by page (ids, sizes, modes, flags, owners, epochs, bytes,
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

#define RUN_MAX_ARGS	16

struct run {
	int code;		/* exit status, -1 if it did not exit */
	char out[8192];		/* stdout, NUL terminated */
	char err[4096];		/* stderr, NUL terminated */
};

/* Read @fd to EOF into @buf, NUL terminated, dropping what does not fit. */
static inline void run_slurp(int fd, char *buf, size_t size)
{
	char sink[256], *p;
	size_t n = 0, room;
	ssize_t r;

	for (;;) {
		p = n < size - 1 ? buf + n : sink;
		room = n < size - 1 ? size - 1 - n : sizeof(sink);
		r = read(fd, p, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (p != sink)
			n += r;
	}
	buf[n] = '\0';
	close(fd);
}

/*
 * Run PROGRAM ARGS... (NULL-terminated, from $PATH) and capture its
 * output; returns its exit status, -1 if it did not exit.  Outputs are
 * small: draining stdout before stderr cannot block the child.
 */
static inline int run(struct run *r, const char *prog, ...)
{
	char *argv[RUN_MAX_ARGS + 2] = { (char *)prog };
	int out[2], err[2], status, n = 1;
	va_list ap;
	pid_t pid;

	va_start(ap, prog);
	while (n <= RUN_MAX_ARGS && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	if (pipe(out) || pipe(err))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		execvp(prog, argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	run_slurp(out[0], r->out, sizeof(r->out));
	run_slurp(err[0], r->err, sizeof(r->err));
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r->code;
}

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
