/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Run a program of the guest (mmsbctl, mmsb-replicate) with its
 * arguments and capture its exit status and output, for the tests that
 * drive the tools.
 */
#ifndef MMSB_TESTS_RUN_H
#define MMSB_TESTS_RUN_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

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
 * Run PROGRAM (from $PATH) with the arguments of @ap, up to
 * RUN_MAX_ARGS char * ending with NULL, and capture its output into @r;
 * returns its exit status, -1 if it did not exit.  Outputs are small:
 * draining stdout before stderr cannot block the child.
 */
static inline int vrun(struct run *r, const char *prog, va_list ap)
{
	char *argv[RUN_MAX_ARGS + 2] = { (char *)prog };
	int out[2], err[2], status, n = 1;
	pid_t pid;

	while (n <= RUN_MAX_ARGS && (argv[n] = va_arg(ap, char *)))
		n++;
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

/* vrun() with the arguments inline: run(r, "mmsbctl", "list", NULL). */
static inline int run(struct run *r, const char *prog, ...)
{
	va_list ap;
	int ret;

	va_start(ap, prog);
	ret = vrun(r, prog, ap);
	va_end(ap);
	return ret;
}

#endif /* MMSB_TESTS_RUN_H */
