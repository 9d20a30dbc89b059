// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb's tracepoints through tracefs, as Documentation/mmsb.rst shows:
 * events/mmsb/ lists them with their fields; enabled, a SYNC ioctl
 * submission through an edge gives mmsb_submit, mmsb_tick and
 * mmsb_propagate lines with the figures of what happened, an io_uring
 * one says path=io_uring, a freed page's reclaim gives mmsb_gc; and
 * disabled, nothing more is recorded.  And pr_debug() through dynamic
 * debug (Debian's kernels; the debug kernel has none).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "libmmsb_uring.h"
#include "pages.h"

#define TRACEFS		"/sys/kernel/tracing"
#define EVENTS		TRACEFS "/events/mmsb"

/* The whole of @path into a malloc()ed string (tracefs: no st_size). */
static char *read_file(const char *path)
{
	size_t n = 0, size = 65536;
	char *buf = malloc(size);
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || !buf) {
		free(buf);
		return NULL;
	}
	while ((r = read(fd, buf + n, size - 1 - n)) > 0) {
		n += r;
		if (n == size - 1) {
			size *= 2;
			buf = realloc(buf, size);
			if (!buf)
				break;
		}
	}
	close(fd);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* How many lines of @trace hold @what ("mmsb_tick: tick=1 ..."). */
static int count(const char *trace, const char *what)
{
	const char *p = trace;
	int n = 0;

	while ((p = strstr(p, what))) {
		n++;
		p++;
	}
	return n;
}

/* The text after "EVENT: " on the first line of @trace with it. */
static const char *event(const char *trace, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), " %s: ", name);
	p = strstr(trace, key);
	return p ? p + strlen(key) : "";
}

FIXTURE(trace) {
	int fd;
	char *trace;
};

FIXTURE_SETUP(trace)
{
	struct stat st;

	/* The guest mounts no tracefs: mount it where it belongs. */
	if (stat(TRACEFS "/trace", &st))
		ASSERT_EQ(0, mount("nodev", TRACEFS, "tracefs", 0, NULL));
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	/*
	 * No command recording: enabling the first event would hook
	 * sched_switch for it, patching __schedule() while other vCPUs
	 * run it, and under TCG a vCPU once ran the patch's int3 after
	 * the patching ended (an Oops in __schedule(), 6.12).  The lines
	 * checked here name no command.
	 */
	ASSERT_EQ(0, write_file(TRACEFS "/options/record-cmd", "0"));
	ASSERT_EQ(0, write_file(TRACEFS "/tracing_on", "1"));
	self->fd = mmsb_open();
	ASSERT_LE(0, self->fd);
	self->trace = NULL;
}

FIXTURE_TEARDOWN(trace)
{
	write_file(EVENTS "/enable", "0");
	free(self->trace);
	close(self->fd);
}

/* Each event and the fields a tool (trace-cmd, perf) reads. */
TEST_F(trace, formats)
{
	static const char * const want[][2] = {
		{ "mmsb_submit", "field:u32 count;" },
		{ "mmsb_submit", "field:u32 accepted;" },
		{ "mmsb_submit", "field:bool uring;" },
		{ "mmsb_submit", "field:int ret;" },
		{ "mmsb_tick", "field:u64 processed;" },
		{ "mmsb_tick", "field:u64 pages_changed;" },
		{ "mmsb_tick", "field:u64 total_ns;" },
		{ "mmsb_tick", "field:u32 overrun;" },
		{ "mmsb_propagate", "field:u64 propagated;" },
		{ "mmsb_gc", "field:u64 reclaimed_pages;" },
		{ "mmsb_gc", "field:u64 evicted;" },
		{ "mmsb_stream_overflow", "field:u64 tick;" },
		{ "mmsb_stream_overflow", "field:u64 bytes;" },
		{ "mmsb_stream_overflow", "field:u32 buffer;" },
	};
	char path[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(want); i++) {
		char *f;

		snprintf(path, sizeof(path), EVENTS "/%s/format", want[i][0]);
		f = read_file(path);
		ASSERT_NE(NULL, f) TH_LOG("no %s", path);
		EXPECT_NE(NULL, strstr(f, want[i][1]))
			TH_LOG("%s lacks %s", path, want[i][1]);
		free(f);
	}
}

/*
 * A -> B passthrough; one SYNC delta of 4 bytes into A: one submission,
 * one tick that applied it and changed both pages, one propagation.
 */
TEST_F(trace, submit_tick_propagate)
{
	struct mmsb_page_create a, b;
	struct mmsb_delta d;
	struct io_uring ring;
	unsigned long long tick, tick2;
	char want[256];
	__u32 v = 0x01020304;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0, 0, &a));
	ASSERT_EQ(0, mmsb_page_create(self->fd, 64, 0, 0, &b));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a.id, b.id,
				   MMSB_EDGE_PASSTHROUGH));
	ASSERT_EQ(0, write_file(EVENTS "/enable", "1"));

	mmsb_delta_dense(&d, a.id, 8, &v, sizeof(v));
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, d.status);
	self->trace = read_file(TRACEFS "/trace");
	ASSERT_NE(NULL, self->trace);
	EXPECT_EQ(1, count(self->trace, " mmsb_submit: "))
		TH_LOG("%s", self->trace);
	EXPECT_EQ(0, strncmp("count=1 accepted=1 sync=1 path=ioctl ret=0\n",
			     event(self->trace, "mmsb_submit"), 43));
	EXPECT_EQ(1, count(self->trace, " mmsb_tick: "));
	ASSERT_EQ(1, sscanf(event(self->trace, "mmsb_tick"), "tick=%llu",
			    &tick));
	snprintf(want, sizeof(want), "tick=%llu processed=1 rejected=0 "
		 "conflicts=0 pages_changed=2 propagated=1 ring_depth=0 ns=",
		 tick);
	EXPECT_EQ(0, strncmp(want, event(self->trace, "mmsb_tick"),
			     strlen(want)))
		TH_LOG("%s", event(self->trace, "mmsb_tick"));
	EXPECT_EQ(1, count(self->trace, " mmsb_propagate: "));
	snprintf(want, sizeof(want), "tick=%llu propagated=1 ns=", tick);
	EXPECT_EQ(0, strncmp(want, event(self->trace, "mmsb_propagate"),
			     strlen(want)));

	/* Through io_uring: path=io_uring, always waited for. */
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, mmsb_uring_init(self->fd, &ring, 4, 0));
	ASSERT_EQ(1, mmsb_submit_applied(self->fd, &ring, &d, 1));
	io_uring_queue_exit(&ring);
	free(self->trace);
	self->trace = read_file(TRACEFS "/trace");
	ASSERT_NE(NULL, self->trace);
	EXPECT_EQ(0, strncmp("count=1 accepted=1 sync=1 path=io_uring ret=0\n",
			     event(self->trace, "mmsb_submit"), 46))
		TH_LOG("%s", self->trace);
	ASSERT_EQ(1, sscanf(event(self->trace, "mmsb_tick"), "tick=%llu",
			    &tick2));
	EXPECT_EQ(tick + 1, tick2);

	/* Disabled: nothing more. */
	ASSERT_EQ(0, write_file(EVENTS "/enable", "0"));
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	free(self->trace);
	self->trace = read_file(TRACEFS "/trace");
	ASSERT_NE(NULL, self->trace);
	EXPECT_EQ(0, count(self->trace, " mmsb_"));

	EXPECT_EQ(0, mmsb_page_free(self->fd, a.id));
	EXPECT_EQ(0, mmsb_page_free(self->fd, b.id));
}

/*
 * A refused delta: the submission says accepted=0 and no tick runs; a
 * stale one is accepted, and its tick counts the conflict (a conflict
 * is not among the tick's rejected, which validation refused).
 */
TEST_F(trace, refused_and_stale)
{
	struct mmsb_page_create a;
	struct mmsb_delta d;
	__u8 v = 1;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 16, 0, 0, &a));
	ASSERT_EQ(0, write_file(EVENTS "/mmsb_submit/enable", "1"));
	ASSERT_EQ(0, write_file(EVENTS "/mmsb_tick/enable", "1"));
	mmsb_delta_dense(&d, a.id, 16, &v, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_EQ(-ERANGE, d.status);
	mmsb_delta_dense(&d, a.id, 0, &v, 1);
	d.expected_epoch = 9;
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	EXPECT_EQ(-ESTALE, d.status);
	self->trace = read_file(TRACEFS "/trace");
	ASSERT_NE(NULL, self->trace);
	EXPECT_EQ(1, count(self->trace,
			   " mmsb_submit: count=1 accepted=0 sync=1 path=ioctl ret=0\n"))
		TH_LOG("%s", self->trace);
	EXPECT_EQ(1, count(self->trace,
			   " mmsb_submit: count=1 accepted=1 sync=1 path=ioctl ret=0\n"));
	EXPECT_EQ(1, count(self->trace, " mmsb_tick: "));
	EXPECT_NE(NULL, strstr(event(self->trace, "mmsb_tick"),
			       " processed=0 rejected=0 conflicts=1 pages_changed=0 "))
		TH_LOG("%s", event(self->trace, "mmsb_tick"));
	EXPECT_EQ(0, mmsb_page_free(self->fd, a.id));
}

/* A page freed while unmapped: the next tick's GC reclaims it. */
TEST_F(trace, gc)
{
	struct mmsb_page_create a, b;
	struct mmsb_delta d;
	__u8 v = 1;

	ASSERT_EQ(0, mmsb_page_create(self->fd, 8192, 0, 0, &a));
	ASSERT_EQ(0, mmsb_page_create(self->fd, 16, 0, 0, &b));
	ASSERT_EQ(0, write_file(EVENTS "/mmsb_gc/enable", "1"));
	ASSERT_EQ(0, mmsb_page_free(self->fd, a.id));
	/* A tick with a delta runs the monitor. */
	mmsb_delta_dense(&d, b.id, 0, &v, 1);
	ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC, NULL));
	ASSERT_EQ(0, mmsb_flush(self->fd));
	self->trace = read_file(TRACEFS "/trace");
	ASSERT_NE(NULL, self->trace);
	EXPECT_EQ(1, count(self->trace, " mmsb_gc: ")) TH_LOG("%s", self->trace);
	EXPECT_NE(NULL, strstr(event(self->trace, "mmsb_gc"),
			       " evicted=0 reclaimed_pages=1 reclaimed_bytes="))
		TH_LOG("%s", event(self->trace, "mmsb_gc"));
	EXPECT_EQ(0, mmsb_page_free(self->fd, b.id));
}

/*
 * A change stream of 4 KiB nobody reads: the tick whose records do not
 * fit starts an overflow, once; the ticks dropped after it are silent.
 */
TEST_F(trace, stream_overflow)
{
	struct mmsb_stream_open so = {
		.flags = MMSB_STREAM_ALL,
		.buffer_bytes = 4096,
	};
	struct mmsb_page_create a;
	struct mmsb_delta d;
	static __u8 v[3000];
	char want[128];
	__u64 tick;
	int s, i;

	ASSERT_EQ(0, mmsb_page_create(self->fd, sizeof(v), 0, 0, &a));
	s = ioctl(self->fd, MMSB_IOC_STREAM_OPEN, &so);
	ASSERT_LE(0, s);
	ASSERT_EQ(0, write_file(EVENTS "/mmsb_stream_overflow/enable", "1"));
	mmsb_delta_dense(&d, a.id, 0, v, sizeof(v));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
	/* The first tick fits (3,048 + 48 bytes), the second does not. */
	tick = so.tick + 2;
	self->trace = read_file(TRACEFS "/trace");
	ASSERT_NE(NULL, self->trace);
	EXPECT_EQ(1, count(self->trace, " mmsb_stream_overflow: "))
		TH_LOG("%s", self->trace);
	snprintf(want, sizeof(want), "tick=%llu bytes=3096 buffer=4096",
		 (unsigned long long)tick);
	EXPECT_NE(NULL, strstr(event(self->trace, "mmsb_stream_overflow"),
			       want))
		TH_LOG("%s", event(self->trace, "mmsb_stream_overflow"));
	close(s);
	EXPECT_EQ(0, mmsb_page_free(self->fd, a.id));
}

/*
 * pr_debug() through dynamic debug: off by default, on for the module
 * with "module mmsb +p": creating, linking and freeing pages log them.
 */
TEST_F(trace, dynamic_debug)
{
	static const char control[] = "/sys/kernel/debug/dynamic_debug/control";
	struct mmsb_page_create a, b;
	char buf[1024], want[3][128], off[64];
	int kmsg, found[3] = { 0 }, i;
	ssize_t n;

	if (access(control, W_OK))
		SKIP(return, "no dynamic debug (CONFIG_DYNAMIC_DEBUG)");
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, kmsg);
	ASSERT_LE(0, lseek(kmsg, 0, SEEK_END));
	/* Off: nothing logged. */
	ASSERT_EQ(0, mmsb_page_create(self->fd, 16, 0, 0, &a));
	ASSERT_EQ(0, write_file(control, "module mmsb +p"));
	ASSERT_EQ(0, mmsb_page_create(self->fd, 32, 0640, 0, &b));
	ASSERT_EQ(0, mmsb_edge_add(self->fd, a.id, b.id, MMSB_EDGE_NOTIFY));
	ASSERT_EQ(0, mmsb_page_free(self->fd, b.id));
	ASSERT_EQ(0, write_file(control, "module mmsb -p"));
	ASSERT_EQ(0, mmsb_page_free(self->fd, a.id));
	snprintf(want[0], sizeof(want[0]),
		 ";mmsb: page %llu created: 32 bytes, mode 0640, flags 0x0\n",
		 (unsigned long long)b.id);
	snprintf(want[1], sizeof(want[1]),
		 ";mmsb: edge %llu -> %llu kind 1 added: 0\n",
		 (unsigned long long)a.id, (unsigned long long)b.id);
	snprintf(want[2], sizeof(want[2]), ";mmsb: page %llu freed\n",
		 (unsigned long long)b.id);
	snprintf(off, sizeof(off), ";mmsb: page %llu ",
		 (unsigned long long)a.id);
	/* One record per read(): "prio,seq,usec,flags;text\n". */
	while ((n = read(kmsg, buf, sizeof(buf) - 1)) > 0 || errno == EPIPE) {
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (i = 0; i < 3; i++)
			found[i] += !!strstr(buf, want[i]);
		/* Page A was created and freed while it was off. */
		EXPECT_EQ(NULL, strstr(buf, off)) {
			TH_LOG("%s", buf);
		}
	}
	close(kmsg);
	/* EXPECT_*() TH_LOG() is two statements: braces. */
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(1, found[i]) TH_LOG("\"%s\" in /dev/kmsg %d times",
					      want[i], found[i]);
	}
}

TEST_HARNESS_MAIN
