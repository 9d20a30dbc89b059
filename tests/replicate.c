// SPDX-License-Identifier: GPL-2.0
/*
 * Replication through Redis (mmsb-replicate): the module with buses=2,
 * the leader on /dev/mmsb, followers on /dev/mmsb1, Debian's
 * redis-server started by each test on the guest's loopback.
 *
 *  - converge: 100,000 deltas of every encoding over 64 pages with
 *    edges; then both buses hold the same pages, epochs, bytes, edges;
 *  - follower_killed: SIGKILL mid-stream, restarted: it resumes from
 *    its recorded tick, no resync, same epochs (a tick applied twice
 *    would move them);
 *  - late_follower: started after the stream was trimmed, it begins
 *    from the stored snapshot;
 *  - overflow: the leader stopped while a small stream buffer
 *    overflows; it snapshots again and the follower resynchronises;
 *  - lag: a steady load, the lag read with --status --json while it
 *    runs, and the follower's own figures (printed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "pages.h"
#include "replica.h"

#define NR_PAGES	64
#define PAGE_BYTES	256
#define REDIS_PORT	6379
#define KEY		"mmsbtest"

static __u64 rnd(__u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One command to the Redis server (inline protocol); the reply's start. */
static int redis_say(const char *line, char *reply, size_t size)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(REDIS_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ret = 0;
	ssize_t n;

	if (s < 0)
		return -errno;
	if (connect(s, (void *)&a, sizeof(a)) ||
	    write(s, line, strlen(line)) != (ssize_t)strlen(line)) {
		ret = -errno;
		goto out;
	}
	n = read(s, reply, size - 1);
	if (n < 0)
		ret = -errno;
	else
		reply[n] = '\0';
out:
	close(s);
	return ret;
}

/* Start redis-server on the loopback; 0 once it answers PING. */
static int redis_start(void)
{
	char reply[64];
	int i;

	if (system("redis-server --port 6379 --bind 127.0.0.1 --save '' "
		   "--appendonly no --daemonize yes --loglevel warning "
		   "--logfile /tmp/redis.log --dir /tmp"))
		return -ECHILD;
	for (i = 0; i < 500; i++) {
		if (!redis_say("PING\r\n", reply, sizeof(reply)) &&
		    !strncmp(reply, "+PONG", 5))
			return 0;
		usleep(20000);
	}
	return -ETIMEDOUT;
}

static void redis_stop(void)
{
	char reply[64];
	int i;

	redis_say("SHUTDOWN NOSAVE\r\n", reply, sizeof(reply));
	/* Gone once it no longer answers. */
	for (i = 0; i < 250; i++) {
		if (redis_say("PING\r\n", reply, sizeof(reply)))
			return;
		usleep(20000);
	}
}

/* A background tool, its output in /tmp/NAME.out and .err. */
struct proc {
	pid_t pid;
	char name[32];
};

static int spawn(struct proc *p, const char *name, ...)
{
	char *argv[RUN_MAX_ARGS + 2] = { "mmsb-replicate" };
	char path[64];
	va_list ap;
	int n = 1;

	va_start(ap, name);
	while (n <= RUN_MAX_ARGS && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	/*
	 * An earlier test's output under the same name must not be read as
	 * this one's: the child creates the files anew, maybe well after
	 * the parent first looks at them.
	 */
	snprintf(path, sizeof(path), "/tmp/%s.out", name);
	unlink(path);
	snprintf(path, sizeof(path), "/tmp/%s.err", name);
	unlink(path);
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (!p->pid) {
		int o, e;

		snprintf(path, sizeof(path), "/tmp/%s.out", name);
		o = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		snprintf(path, sizeof(path), "/tmp/%s.err", name);
		e = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0)
			_exit(126);
		dup2(o, STDOUT_FILENO);
		dup2(e, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	return 0;
}

/* Stop @p with @sig and reap it: its exit status, or 128 + signal. */
static int reap(struct proc *p, int sig)
{
	int status;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	if (waitpid(p->pid, &status, 0) != p->pid)
		return -1;
	p->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
		128 + WTERMSIG(status);
}

/* /tmp/NAME.SUFFIX into @buf, NUL terminated. */
static void output(const char *name, const char *suffix, char *buf,
		   size_t size)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/tmp/%s.%s", name, suffix);
	fd = open(path, O_RDONLY);
	n = fd < 0 ? 0 : read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* The number after "NAME": in @s (a JSON field), or -1. */
static long long json_num(const char *s, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", name);
	p = strstr(s, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

static double json_double(const char *s, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", name);
	p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

FIXTURE(repl) {
	int fd[2];
	__u64 id[NR_PAGES];
	__u64 seed;
	struct proc leader, follower;
};

FIXTURE_SETUP(repl)
{
	struct mmsb_page_create pc;
	int i;

	ASSERT_EQ(0, module_reload("buses=2"));
	self->fd[0] = mmsb_open_bus(0);
	self->fd[1] = mmsb_open_bus(1);
	ASSERT_LE(0, self->fd[0]);
	ASSERT_LE(0, self->fd[1]);
	ASSERT_EQ(0, redis_start()) TH_LOG("redis-server did not start");
	/*
	 * 64 pages: eight chains of eight, page 8k -> 8k+1 -> ... -> 8k+7,
	 * passthrough but every fourth link a notify; one incoming edge a
	 * page, so propagation has one winner (Documentation/mmsb.rst).
	 */
	for (i = 0; i < NR_PAGES; i++) {
		ASSERT_EQ(0, mmsb_page_create(self->fd[0], PAGE_BYTES,
					      0644, 0, &pc));
		self->id[i] = pc.id;
	}
	for (i = 0; i < NR_PAGES; i++)
		if (i % 8 != 7)
			ASSERT_EQ(0, mmsb_edge_add(self->fd[0], self->id[i],
						   self->id[i + 1],
						   i % 4 == 3 ?
						   MMSB_EDGE_NOTIFY :
						   MMSB_EDGE_PASSTHROUGH));
	self->seed = 0x9e3779b97f4a7c15ULL;
}

FIXTURE_TEARDOWN(repl)
{
	reap(&self->follower, SIGKILL);
	reap(&self->leader, SIGKILL);
	redis_stop();
	close(self->fd[0]);
	close(self->fd[1]);
	EXPECT_EQ(0, module_reload(""));
}

/*
 * @n deltas in SYNC batches of @batch: DENSE, MASKED and SPARSE in
 * turn, random pages, windows and bytes.  Returns 0 or -errno.
 */
static int load(FIXTURE_DATA(repl) *self, int n, int batch)
{
	static __u8 payload[64][64], mask[64][8];
	struct mmsb_delta d[64];
	int done = 0, i, ret;

	while (done < n) {
		int k = n - done < batch ? n - done : batch;

		for (i = 0; i < k; i++) {
			__u64 len = 1 + rnd(&self->seed) % 64, j, set = 0;
			__u64 off = rnd(&self->seed) % (PAGE_BYTES - len + 1);
			int enc = (done + i) % 3;

			for (j = 0; j < len; j++)
				payload[i][j] = rnd(&self->seed);
			memset(mask[i], 0, sizeof(mask[i]));
			for (j = 0; j < len; j++)
				if (rnd(&self->seed) % 3)
					mask[i][j / 8] |= 1 << (j % 8);
			mask[i][0] |= 1;	/* SPARSE: one byte at least */
			for (j = 0; j < len; j++)
				set += !!(mask[i][j / 8] & (1 << (j % 8)));
			d[i] = (struct mmsb_delta){
				.page_id = self->id[rnd(&self->seed) % NR_PAGES],
				.offset = off, .len = len,
				.payload = (__u64)(uintptr_t)payload[i],
				.payload_len = enc == MMSB_DELTA_SPARSE ? set :
					       len,
				.mask = enc == MMSB_DELTA_DENSE ? 0 :
					(__u64)(uintptr_t)mask[i],
				.encoding = enc,
			};
		}
		ret = mmsb_submit(self->fd[0], d, k, MMSB_SUBMIT_SYNC, NULL);
		if (ret)
			return ret;
		for (i = 0; i < k; i++)
			if (d[i].status)
				return d[i].status;
		done += k;
	}
	return 0;
}

/* The end of /tmp/NAME.err, for a failure's log. */
static void dump(const char *name)
{
	char err[65536];
	size_t n;

	output(name, "err", err, sizeof(err));
	n = strlen(err);
	printf("# %s's stderr: %s\n", name, err + (n > 3000 ? n - 3000 : 0));
}

/* Wait up to @secs until bus 1 is bus 0; seconds taken, or -1. */
static double converge(FIXTURE_DATA(repl) *self, double secs)
{
	double t0 = now_s();

	while (now_s() - t0 < secs) {
		if (!buses_equal(self->fd[0], self->fd[1], 0))
			return now_s() - t0;
		usleep(50000);
	}
	buses_equal(self->fd[0], self->fd[1], 1);
	dump("leader");
	dump(self->follower.name);
	return -1;
}

static int start_leader(FIXTURE_DATA(repl) *self, const char *maxlen,
			const char *every, const char *buffer)
{
	return spawn(&self->leader, "leader", "--leader", "--bus", "0",
		     "--redis", "127.0.0.1:6379", "--key", KEY, "--maxlen",
		     maxlen, "--snapshot-every", every, "--buffer", buffer,
		     NULL);
}

static int start_follower(FIXTURE_DATA(repl) *self, const char *name)
{
	return spawn(&self->follower, name, "--follower", "--bus", "1",
		     "--redis", "127.0.0.1:6379", "--key", KEY, "--name",
		     name, NULL);
}

/* The leader has stored @n snapshots (its stderr says so). */
static int leader_snapshots(FIXTURE_DATA(repl) *self, int n)
{
	char err[8192];
	const char *p;
	int i, k, status;

	for (i = 0; i < 1500; i++) {
		output("leader", "err", err, sizeof(err));
		for (k = 0, p = err; (p = strstr(p, "snapshot at tick")); k++)
			p++;
		if (k >= n)
			return 0;
		/* Gone: say why. */
		if (waitpid(self->leader.pid, &status, WNOHANG) ==
		    self->leader.pid) {
			self->leader.pid = 0;
			printf("# the leader exited: %s", err);
			return -ECHILD;
		}
		usleep(20000);
	}
	printf("# the leader's stderr: %s", err);
	return -ETIMEDOUT;
}

/* The follower's summary (it prints one when stopped with SIGTERM). */
static void follower_summary(FIXTURE_DATA(repl) *self, const char *name,
			     char *out, size_t size)
{
	reap(&self->follower, SIGTERM);
	output(name, "out", out, size);
}

/* Wait until follower @name recorded a tick past @tick (--status). */
static int follower_past(FIXTURE_DATA(repl) *self, const char *name,
			 long long tick)
{
	char pat[64];
	struct run st;
	const char *p;
	int i;

	snprintf(pat, sizeof(pat), "\"name\":\"%s\"", name);
	for (i = 0; i < 1500; i++) {
		if (!run(&st, "mmsb-replicate", "--status", "--json", "--key",
			 KEY, NULL)) {
			p = strstr(st.out, pat);
			if (p && json_num(p, "tick") > tick)
				return 0;
		}
		usleep(20000);
	}
	return -ETIMEDOUT;
}

TEST_F_TIMEOUT(repl, converge, 600)
{
	char out[4096], err[4096];
	double t0, secs, took;

	/* 64 MiB of stream buffer: all of it fits, no overflow. */
	ASSERT_EQ(0, start_leader(self, "100000", "20000", "67108864"));
	ASSERT_EQ(0, leader_snapshots(self, 1));
	ASSERT_EQ(0, start_follower(self, "f1"));
	t0 = now_s();
	ASSERT_EQ(0, load(self, 100000, 64));
	secs = now_s() - t0;
	took = converge(self, 300);
	ASSERT_LE(0, took);
	TH_LOG("100,000 deltas in %.2f s (%.0f/s); follower identical %.3f s after the last",
	       secs, 100000 / secs, took);
	follower_summary(self, "f1", out, sizeof(out));
	output("f1", "err", err, sizeof(err));
	TH_LOG("%s", out);
	/* Started without a position: one resync from the snapshot only. */
	EXPECT_NE(NULL, strstr(out, " 1 resyncs, 0 gaps")) TH_LOG("%s", err);
	EXPECT_EQ(0, reap(&self->leader, SIGTERM));
	output("leader", "out", out, sizeof(out));
	TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, " 0 overflows"));
}

TEST_F_TIMEOUT(repl, follower_killed, 600)
{
	char out[4096], err[4096];
	int round;

	ASSERT_EQ(0, start_leader(self, "100000", "20000", "4194304"));
	ASSERT_EQ(0, leader_snapshots(self, 1));
	ASSERT_EQ(0, start_follower(self, "f2"));
	for (round = 0; round < 3; round++) {
		ASSERT_EQ(0, load(self, 5000, 32));
		/*
		 * Once it applied something, killed wherever it is: behind,
		 * mid-tick, mid-write of its position.
		 */
		ASSERT_EQ(0, follower_past(self, "f2", 0));
		EXPECT_EQ(128 + SIGKILL, reap(&self->follower, SIGKILL));
		ASSERT_EQ(0, load(self, 5000, 32));
		ASSERT_EQ(0, start_follower(self, "f2"));
	}
	ASSERT_LE(0, converge(self, 300));
	follower_summary(self, "f2", out, sizeof(out));
	output("f2", "err", err, sizeof(err));
	TH_LOG("%s", out);
	/* The last run resumed where the last one stopped: no resync. */
	EXPECT_NE(NULL, strstr(err, "resuming after tick")) TH_LOG("%s", err);
	EXPECT_NE(NULL, strstr(out, " 0 resyncs, 0 gaps")) TH_LOG("%s", err);
}

TEST_F_TIMEOUT(repl, late_follower, 600)
{
	char out[4096], err[4096];
	unsigned long long resyncs, gaps;
	struct run st;
	const char *p;

	/* A short stream: the first entries are trimmed long before. */
	ASSERT_EQ(0, start_leader(self, "200", "50", "4194304"));
	ASSERT_EQ(0, leader_snapshots(self, 1));
	ASSERT_EQ(0, load(self, 20000, 16));
	ASSERT_EQ(0, start_follower(self, "late"));
	ASSERT_EQ(0, load(self, 2000, 16));
	ASSERT_LE(0, converge(self, 300));
	follower_summary(self, "late", out, sizeof(out));
	output("late", "err", err, sizeof(err));
	TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(err, "no position recorded")) TH_LOG("%s", err);
	/*
	 * Started from the snapshot; with 200 entries kept it may fall
	 * behind the trimming while it catches up: then a gap, and the
	 * newer snapshot.
	 */
	p = strstr(out, " resyncs, ");
	ASSERT_NE(NULL, p) TH_LOG("%s", out);
	while (p > out && p[-1] != ' ')
		p--;
	ASSERT_EQ(2, sscanf(p, "%llu resyncs, %llu gaps", &resyncs, &gaps));
	EXPECT_EQ(gaps + 1, resyncs) TH_LOG("%s", err);
	/* The stream holds about MAXLEN entries, not every tick. */
	ASSERT_EQ(0, run(&st, "mmsb-replicate", "--status", "--json", "--key",
			 KEY, NULL)) TH_LOG("%s", st.err);
	EXPECT_EQ(0, json_num(st.out, "lag_ticks")) TH_LOG("%s", st.out);
}

TEST_F_TIMEOUT(repl, overflow, 600)
{
	char out[4096], err[4096];
	unsigned long long resyncs, gaps;
	const char *p;

	/* 64 KiB of stream buffer: a stopped leader loses ticks. */
	ASSERT_EQ(0, start_leader(self, "100000", "20000", "65536"));
	ASSERT_EQ(0, leader_snapshots(self, 1));
	ASSERT_EQ(0, start_follower(self, "f4"));
	ASSERT_EQ(0, load(self, 2000, 32));
	ASSERT_EQ(0, kill(self->leader.pid, SIGSTOP));
	ASSERT_EQ(0, load(self, 10000, 32));
	ASSERT_EQ(0, kill(self->leader.pid, SIGCONT));
	/* Its fresh snapshot stored, the load goes on. */
	ASSERT_EQ(0, leader_snapshots(self, 2));
	ASSERT_EQ(0, load(self, 2000, 32));
	ASSERT_LE(0, converge(self, 300));
	follower_summary(self, "f4", out, sizeof(out));
	output("f4", "err", err, sizeof(err));
	TH_LOG("%s", out);
	/*
	 * The first start, then one resync per gap an overflow left (the
	 * stopped leader's, and any while it caught up with the load).
	 */
	p = strstr(out, " resyncs, ");
	ASSERT_NE(NULL, p) TH_LOG("%s", out);
	while (p > out && p[-1] != ' ')
		p--;
	ASSERT_EQ(2, sscanf(p, "%llu resyncs, %llu gaps", &resyncs, &gaps));
	EXPECT_LE(1, gaps) TH_LOG("%s", err);
	EXPECT_EQ(gaps + 1, resyncs) TH_LOG("%s", err);
	EXPECT_EQ(0, reap(&self->leader, SIGTERM));
	output("leader", "out", out, sizeof(out));
	output("leader", "err", err, sizeof(err));
	TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(err, "stream overflow at tick")) TH_LOG("%s", err);
	p = strstr(out, " overflows");
	ASSERT_NE(NULL, p) TH_LOG("%s", out);
	while (p > out && p[-1] != ' ')
		p--;
	EXPECT_LE(1, strtoull(p, NULL, 10));
}

/*
 * A steady load of 2,000 deltas/s for 6 s (batches of 20 every
 * 10 ms); the lag read with --status --json twice a second while it
 * runs, and the follower's own mean and max (entry added to applied).
 */
TEST_F_TIMEOUT(repl, lag, 600)
{
	double t0, max_s = 0, sum_s = 0;
	long long max_t = 0, sum_t = 0;
	char out[4096];
	struct run st;
	int polls = 0, i;

	ASSERT_EQ(0, start_leader(self, "100000", "20000", "4194304"));
	ASSERT_EQ(0, leader_snapshots(self, 1));
	ASSERT_EQ(0, start_follower(self, "f5"));
	ASSERT_EQ(0, load(self, 100, 20));
	ASSERT_LE(0, converge(self, 60));
	t0 = now_s();
	for (i = 0; now_s() - t0 < 6; i++) {
		ASSERT_EQ(0, load(self, 20, 20));
		usleep(10000);
		if (i % 50 == 49) {
			long long lt;
			double ls;

			ASSERT_EQ(0, run(&st, "mmsb-replicate", "--status",
					 "--json", "--key", KEY, NULL))
				TH_LOG("%s", st.err);
			lt = json_num(st.out, "lag_ticks");
			ls = json_double(st.out, "lag_seconds");
			ASSERT_LE(0, lt) TH_LOG("%s", st.out);
			ASSERT_LE(0, ls) TH_LOG("%s", st.out);
			EXPECT_NE(NULL, strstr(st.out, "\"name\":\"f5\""));
			polls++;
			sum_t += lt;
			sum_s += ls;
			if (lt > max_t)
				max_t = lt;
			if (ls > max_s)
				max_s = ls;
		}
	}
	ASSERT_LE(0, converge(self, 60));
	ASSERT_LT(0, polls);
	TH_LOG("--status under %.0f deltas/s: lag %.1f ticks mean, %lld max; %.4f s mean, %.4f s max (%d polls)",
	       20 * i / (now_s() - t0), (double)sum_t / polls, max_t,
	       sum_s / polls, max_s, polls);
	follower_summary(self, "f5", out, sizeof(out));
	TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, " 1 resyncs, 0 gaps"));
	/* Caught up: the status says so too. */
	ASSERT_EQ(0, run(&st, "mmsb-replicate", "--status", "--key", KEY,
			 NULL));
	EXPECT_NE(NULL, strstr(st.out, "follower f5 tick")) TH_LOG("%s", st.out);
	EXPECT_NE(NULL, strstr(st.out, "lag_ticks 0 ")) TH_LOG("%s", st.out);
}

TEST_HARNESS_MAIN
