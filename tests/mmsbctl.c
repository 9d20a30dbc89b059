// SPDX-License-Identifier: GPL-2.0
/*
 * mmsbctl: the command-line tool run as a program (from $PATH, /bin in
 * the guest), its output and exit status checked against what libmmsb
 * sees of the same pages: create, submit (async, SYNC, stale expected
 * epoch), read, wait, stats, and the documented failures -- exit 1 for
 * bad arguments and kernel errors, 2 for an unknown command.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "libmmsb.h"
#include "run.h"

#define PAGE_BYTES	64
/* Run "mmsbctl ARGS..." (NULL-terminated): run.h's vrun(). */
static int mmsbctl(struct run *r, ...)
{
	va_list ap;
	int ret;

	va_start(ap, r);
	ret = vrun(r, "mmsbctl", ap);
	va_end(ap);
	return ret;
}

/* What "mmsbctl submit" printed: "delta_id N status S epoch E". */
struct outcome {
	unsigned long long delta_id, epoch;
	int status;
};

static int parse_outcome(const char *out, struct outcome *o)
{
	int n = sscanf(out, "delta_id %llu status %d epoch %llu",
		       &o->delta_id, &o->status, &o->epoch);

	return n == 3 ? 0 : -1;
}

/* The value of "NAME VALUE" line @name in @out, or -1 if absent. */
static long long stat_value(const char *out, const char *name)
{
	size_t len = strlen(name);
	const char *p = out;

	while (p && *p) {
		if (!strncmp(p, name, len) && p[len] == ' ')
			return strtoll(p + len + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

FIXTURE(mmsbctl) {
	int fd;
	__u64 page;
	char id[24];
	const struct mmsb_page_header *hdr;
	const __u8 *data;
	struct run r;
};

/* Every test starts from a 64-byte page that mmsbctl created. */
FIXTURE_SETUP(mmsbctl)
{
	struct mmsb_page_info info;
	char *end;

	self->fd = mmsb_open();
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, mmsbctl(&self->r, "create", "64", NULL));
	self->page = strtoull(self->r.out, &end, 10);
	ASSERT_STREQ("\n", end);
	ASSERT_NE(0, self->page);
	snprintf(self->id, sizeof(self->id), "%llu",
		 (unsigned long long)self->page);
	ASSERT_EQ(0, mmsb_page_info(self->fd, self->page, &info));
	ASSERT_EQ(PAGE_BYTES, info.size);
	ASSERT_EQ(0, mmsb_page_map(self->fd, self->page, &self->hdr));
	self->data = (const __u8 *)self->hdr + MMSB_PAGE_DATA_OFFSET;
}

FIXTURE_TEARDOWN(mmsbctl)
{
	if (self->hdr)
		mmsb_page_unmap(self->hdr);
	if (self->page)
		mmsb_page_free(self->fd, self->page);
	close(self->fd);
}

/* SYNC submit, then read back through mmsbctl and the mapping; wait. */
TEST_F(mmsbctl, submit_sync_read_wait)
{
	static const __u8 want[] = { 0xa1, 0xb2, 0xc3 };
	struct outcome o;
	struct run *r = &self->r;
	char whole[2 * PAGE_BYTES + 2];

	ASSERT_EQ(0, mmsbctl(r, "submit", self->id, "3", "a1b2c3", "sync",
			     NULL));
	ASSERT_EQ(0, parse_outcome(r->out, &o));
	EXPECT_NE(0, o.delta_id);
	EXPECT_EQ(0, o.status);
	EXPECT_EQ(1, o.epoch);
	/* SYNC: the mapping shows it on return, nothing else changed. */
	EXPECT_EQ(0, memcmp(self->data + 3, want, sizeof(want)));
	EXPECT_EQ(0, self->data[2]);
	EXPECT_EQ(0, self->data[6]);
	EXPECT_EQ(1, self->hdr->epoch);
	EXPECT_EQ(o.delta_id, self->hdr->last_delta_id);

	ASSERT_EQ(0, mmsbctl(r, "read", self->id, "3", "3", NULL));
	EXPECT_STREQ("a1b2c3\n", r->out);
	/* Without OFFSET LEN: the whole page. */
	memset(whole, '0', sizeof(whole));
	memcpy(whole + 6, "a1b2c3", 6);
	whole[2 * PAGE_BYTES] = '\n';
	whole[2 * PAGE_BYTES + 1] = '\0';
	ASSERT_EQ(0, mmsbctl(r, "read", self->id, NULL));
	EXPECT_STREQ(whole, r->out);
	/* The last byte of the page is a valid window. */
	ASSERT_EQ(0, mmsbctl(r, "read", self->id, "63", "1", NULL));
	EXPECT_STREQ("00\n", r->out);

	ASSERT_EQ(0, mmsbctl(r, "wait", self->id, "1", "0", NULL));
	EXPECT_STREQ("1\n", r->out);
	EXPECT_EQ(1, mmsbctl(r, "wait", self->id, "2", "10", NULL));
	EXPECT_STREQ("", r->out);
	EXPECT_NE(NULL, strstr(r->err, strerror(ETIMEDOUT)));
}

/* Without sync the tick applies it later; wait without a timeout. */
TEST_F(mmsbctl, submit_async_wait_forever)
{
	struct outcome o;
	struct run *r = &self->r;

	ASSERT_EQ(0, mmsbctl(r, "submit", self->id, "0x10", "FFee", NULL));
	ASSERT_EQ(0, parse_outcome(r->out, &o));
	EXPECT_NE(0, o.delta_id);
	EXPECT_EQ(0, o.status);
	EXPECT_EQ(0, o.epoch);
	ASSERT_EQ(0, mmsbctl(r, "wait", self->id, "1", NULL));
	EXPECT_STREQ("1\n", r->out);
	EXPECT_EQ(0xff, self->data[16]);
	EXPECT_EQ(0xee, self->data[17]);
	EXPECT_EQ(o.delta_id, self->hdr->last_delta_id);
}

/* A stale expected epoch: refused at apply time, exit 1, page intact. */
TEST_F(mmsbctl, submit_stale_epoch)
{
	struct outcome o;
	struct mmsb_stats st;
	struct run *r = &self->r;
	__u64 conflicts;

	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	conflicts = st.conflicts;
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "0", "aa", "sync",
			     "epoch=5", NULL));
	ASSERT_EQ(0, parse_outcome(r->out, &o));
	EXPECT_EQ(-ESTALE, o.status);
	EXPECT_NE(NULL, strstr(r->err, strerror(ESTALE)));
	EXPECT_EQ(0, self->data[0]);
	EXPECT_EQ(0, self->hdr->epoch);
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_EQ(conflicts + 1, st.conflicts);

	/* The right epoch goes through; the options come in any order. */
	EXPECT_EQ(0, mmsbctl(r, "submit", self->id, "0", "aa", "sync", NULL));
	EXPECT_EQ(0, mmsbctl(r, "submit", self->id, "0", "bb", "epoch=1",
			     "sync", NULL));
	ASSERT_EQ(0, parse_outcome(r->out, &o));
	EXPECT_EQ(0, o.status);
	EXPECT_EQ(2, o.epoch);
	EXPECT_EQ(0xbb, self->data[0]);
}

/* stats: every uapi field by name, the same figures as MMSB_IOC_STATS. */
TEST_F(mmsbctl, stats_match_ioctl)
{
	static const char * const names[] = {
		"size", "last.tick", "last.processed", "last.total_ns",
		"last.gc_invoked", "last.throughput", "ticks", "submitted",
		"processed", "rejected", "conflicts", "ring_capacity", "pages",
		"mem_limit", "edges", "gc_max_ns",
	};
	struct mmsb_stats st;
	struct run *r = &self->r;
	const char *p;
	int lines = 0;
	size_t i;

	ASSERT_EQ(0, mmsbctl(r, "submit", self->id, "0", "01", "sync", NULL));
	ASSERT_EQ(0, mmsbctl(r, "stats", NULL));
	/* Nothing else submits: these two cannot move in between. */
	ASSERT_EQ(0, mmsb_stats(self->fd, &st));
	EXPECT_GE(stat_value(r->out, "submitted"), 1);
	EXPECT_GE(stat_value(r->out, "processed"), 1);
	EXPECT_EQ(st.submitted, stat_value(r->out, "submitted"));
	EXPECT_EQ(st.processed, stat_value(r->out, "processed"));
	EXPECT_EQ(st.ring_capacity, stat_value(r->out, "ring_capacity"));
	EXPECT_EQ(st.mem_limit, stat_value(r->out, "mem_limit"));
	EXPECT_EQ(sizeof(st), stat_value(r->out, "size"));
	EXPECT_EQ(st.pages, stat_value(r->out, "pages"));
	/* EXPECT_*() TH_LOG() is two statements: braces. */
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		EXPECT_LE(0, stat_value(r->out, names[i]))
			TH_LOG("no \"%s\" line", names[i]);
	}
	/* Every line is "name value": all fields but pad and reserved. */
	for (p = r->out; *p; p = strchr(p, '\n') + 1, lines++) {
		char name[64];
		unsigned long long v;

		ASSERT_EQ(2, sscanf(p, "%63s %llu", name, &v));
		ASSERT_NE(NULL, strchr(p, '\n'));
	}
	EXPECT_EQ(42, lines);
}

/* stats INTERVAL_MS COUNT: COUNT whole blocks, a blank line apart. */
TEST_F(mmsbctl, stats_live)
{
	struct run *r = &self->r;
	const char *p;
	int blocks = 0, gaps = 0;

	ASSERT_EQ(0, mmsbctl(r, "stats", "10", "3", NULL));
	for (p = r->out; (p = strstr(p, "ticks ")); p++)
		blocks += p == r->out || p[-1] == '\n';
	for (p = r->out; (p = strstr(p, "\n\n")); p++)
		gaps++;
	EXPECT_EQ(3, blocks) TH_LOG("%s", r->out);
	EXPECT_EQ(2, gaps);
	/* An interval of 0 would spin. */
	EXPECT_EQ(1, mmsbctl(r, "stats", "0", NULL));
}

/* Bad input: nothing reaches the page, exit 1; unknown command: 2. */
TEST_F(mmsbctl, bad_input)
{
	static const char * const bad_hex[] = { "abc", "zz", "", "0x00", "a b " };
	static const char * const new_cmds[] = { "submit", "wait", "read", "stats" };
	struct mmsb_page_create pc;
	struct run *r = &self->r;
	char gone[24];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_hex); i++) {
		EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "0", bad_hex[i],
				     NULL))
			TH_LOG("hex \"%s\"", bad_hex[i]);
		EXPECT_NE(NULL, strstr(r->err, strerror(EINVAL)));
		EXPECT_STREQ("", r->out);
	}
	/* Windows past the page: the kernel refuses them (-ERANGE). */
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "64", "00", "sync", NULL));
	EXPECT_NE(NULL, strstr(r->err, strerror(ERANGE)));
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "63", "0000", NULL));
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "18446744073709551615",
			     "00", NULL));
	/* Arguments a known command cannot take. */
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "0", NULL));
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "0", "00", "async", NULL));
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "0", "00", "sync", "sync",
			     NULL));
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "0", "00", "epoch=",
			     NULL));
	EXPECT_EQ(1, mmsbctl(r, "submit", self->id, "-1", "00", NULL));
	EXPECT_EQ(1, mmsbctl(r, "wait", self->id, NULL));
	EXPECT_EQ(1, mmsbctl(r, "wait", self->id, "1", "x", NULL));
	EXPECT_EQ(1, mmsbctl(r, "stats", "all", NULL));
	EXPECT_EQ(1, mmsbctl(r, "read", self->id, "0", NULL));
	/* read windows past the page, including OFFSET + LEN overflowing. */
	EXPECT_EQ(1, mmsbctl(r, "read", self->id, "64", "1", NULL));
	EXPECT_NE(NULL, strstr(r->err, strerror(EINVAL)));
	EXPECT_EQ(1, mmsbctl(r, "read", self->id, "65", "0", NULL));
	EXPECT_EQ(1, mmsbctl(r, "read", self->id, "0", "65", NULL));
	EXPECT_EQ(1, mmsbctl(r, "read", self->id, "1",
			     "18446744073709551615", NULL));
	EXPECT_EQ(1, mmsbctl(r, "read", self->id, "18446744073709551615",
			     "2", NULL));
	EXPECT_STREQ("", r->out);
	/* None of it changed the page. */
	EXPECT_EQ(0, self->hdr->epoch);
	EXPECT_EQ(0, self->hdr->last_delta_id);

	/* A page that is gone (ids are never reused): -ENOENT everywhere. */
	ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0, 0, &pc));
	ASSERT_EQ(0, mmsb_page_free(self->fd, pc.id));
	snprintf(gone, sizeof(gone), "%llu", (unsigned long long)pc.id);
	EXPECT_EQ(1, mmsbctl(r, "submit", gone, "0", "00", "sync", NULL));
	EXPECT_NE(NULL, strstr(r->err, strerror(ENOENT)));
	EXPECT_EQ(1, mmsbctl(r, "read", gone, NULL));
	EXPECT_NE(NULL, strstr(r->err, strerror(ENOENT)));
	EXPECT_EQ(1, mmsbctl(r, "wait", gone, "1", "0", NULL));
	EXPECT_NE(NULL, strstr(r->err, strerror(ENOENT)));

	/* Usage errors: exit 2, and the usage lists the commands. */
	EXPECT_EQ(2, mmsbctl(r, "frobnicate", NULL));
	EXPECT_EQ(2, mmsbctl(r, NULL));
	for (i = 0; i < ARRAY_SIZE(new_cmds); i++) {
		EXPECT_NE(NULL, strstr(r->err, new_cmds[i]))
			TH_LOG("usage lacks %s", new_cmds[i]);
	}
}

/* --json, before or after the command: one object a line, exact. */
TEST_F(mmsbctl, json)
{
	struct mmsb_page_info in;
	struct run *r = &self->r;
	char want[512];

	ASSERT_EQ(0, mmsbctl(r, "--json", "version", NULL));
	EXPECT_STREQ("{\"abi_version\":1,\"features\":[\"pages\",\"deltas\","
		     "\"io_uring\",\"graph\",\"gc\",\"sq\"]}\n", r->out);

	ASSERT_EQ(0, mmsbctl(r, "submit", self->id, "2", "c0ffee", "sync",
			     "--json", NULL));
	snprintf(want, sizeof(want),
		 "{\"delta_id\":%llu,\"status\":0,\"epoch\":1}\n",
		 (unsigned long long)self->hdr->last_delta_id);
	EXPECT_STREQ(want, r->out);

	ASSERT_EQ(0, mmsbctl(r, "--json", "read", self->id, "1", "4", NULL));
	snprintf(want, sizeof(want), "{\"id\":%s,\"offset\":1,\"len\":4,"
		 "\"epoch\":1,\"hex\":\"00c0ffee\"}\n", self->id);
	EXPECT_STREQ(want, r->out);

	ASSERT_EQ(0, mmsb_page_info(self->fd, self->page, &in));
	ASSERT_EQ(0, mmsbctl(r, "--json", "info", self->id, NULL));
	snprintf(want, sizeof(want), "{\"id\":%s,\"size\":64,\"epoch\":1,"
		 "\"last_delta_id\":%llu,\"mmap_offset\":%llu,"
		 "\"map_size\":%llu,\"uid\":0,\"gid\":0,\"mode\":384,"
		 "\"evictable\":false}\n", self->id,
		 (unsigned long long)in.last_delta_id,
		 (unsigned long long)in.mmap_offset,
		 (unsigned long long)in.map_size);
	EXPECT_STREQ(want, r->out);

	/* Nothing else creates pages here: the fixture's is the only one. */
	ASSERT_EQ(0, mmsbctl(r, "--json", "list", NULL));
	snprintf(want, sizeof(want), "{\"pages\":[%s]}\n", self->id);
	EXPECT_STREQ(want, r->out);

	ASSERT_EQ(0, mmsbctl(r, "--json", "wait", self->id, "1", "0", NULL));
	EXPECT_STREQ("{\"epoch\":1}\n", r->out);

	/* Errors stay on stderr, in words; stdout gets nothing. */
	EXPECT_EQ(1, mmsbctl(r, "--json", "read", self->id, "64", "1", NULL));
	EXPECT_STREQ("", r->out);
	EXPECT_NE(NULL, strstr(r->err, strerror(EINVAL)));
}

/* stats --json: the text's figures, last.* nested; live: a line each. */
TEST_F(mmsbctl, json_stats)
{
	struct run *r = &self->r;
	char text[4096], want[4096], *p, *q;
	int last = 0;
	size_t n = 0;

	ASSERT_EQ(0, mmsbctl(r, "submit", self->id, "0", "01", "sync", NULL));
	/* No tick runs in between: both print the same figures. */
	ASSERT_EQ(0, mmsbctl(r, "stats", NULL));
	memcpy(text, r->out, sizeof(text));
	ASSERT_EQ(0, mmsbctl(r, "stats", "--json", NULL));
	/* Build the JSON the text should give, field by field. */
	n += snprintf(want + n, sizeof(want) - n, "{");
	for (p = text; *p; p = q + 1) {
		char name[64];
		unsigned long long v;
		int is_last;

		q = strchr(p, '\n');
		ASSERT_NE(NULL, q);
		ASSERT_EQ(2, sscanf(p, "%63s %llu", name, &v));
		is_last = !strncmp(name, "last.", 5);
		if (p != text)
			n += snprintf(want + n, sizeof(want) - n, ",");
		if (is_last && !last)
			n += snprintf(want + n, sizeof(want) - n, "\"last\":{");
		if (!is_last && last)
			n += snprintf(want + n, sizeof(want) - n, "},");
		last = is_last;
		n += snprintf(want + n, sizeof(want) - n, "\"%s\":%llu",
			      is_last ? name + 5 : name, v);
	}
	snprintf(want + n, sizeof(want) - n, "}\n");
	EXPECT_STREQ(want, r->out);

	/* Live: COUNT lines, no blank line between them. */
	ASSERT_EQ(0, mmsbctl(r, "--json", "stats", "10", "3", NULL));
	n = 0;
	for (p = r->out; (p = strchr(p, '\n')); p++) {
		EXPECT_EQ('}', p[-1]);
		n++;
	}
	EXPECT_EQ(3, n);
	EXPECT_EQ('{', r->out[0]);
}

/*
 * watch ID count=1: the change it sees is printed with the bytes that
 * changed.  The watcher subscribes on its own time, so deltas keep
 * coming, each writing its own epoch into byte 5, until it prints.
 */
static void watch_one(struct __test_metadata *_metadata,
		      FIXTURE_DATA(mmsbctl) *self, int json)
{
	char out[512] = "", want[512];
	struct pollfd pfd;
	int fds[2], status, k;
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		execlp("mmsbctl", "mmsbctl", "watch", self->id, "count=1",
		       json ? "--json" : NULL, NULL);
		_exit(127);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (k = 0; k < 100 && !strchr(out, '\n'); k++) {
		struct mmsb_delta d;
		__u8 b = self->hdr->epoch + 1;

		mmsb_delta_dense(&d, self->page, 5, &b, 1);
		ASSERT_EQ(0, mmsb_submit(self->fd, &d, 1, MMSB_SUBMIT_SYNC,
					 NULL));
		ASSERT_EQ(0, d.status);
		if (poll(&pfd, 1, 100) != 1)
			continue;
		got = read(fds[0], out + n, sizeof(out) - 1 - n);
		ASSERT_LT(0, got);
		n += got;
		out[n] = '\0';
	}
	ASSERT_NE(NULL, strchr(out, '\n')) TH_LOG("watch printed nothing");
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(fds[0]);
	/* Byte 5 holds the epoch it was written at: one run, one byte. */
	k = strtol(strstr(out, "epoch") + 6 + !!json, NULL, 10);
	if (json)
		snprintf(want, sizeof(want), "{\"page\":%s,\"epoch\":%d,"
			 "\"changes\":[{\"offset\":5,\"hex\":\"%02x\"}]}\n",
			 self->id, k, k);
	else
		snprintf(want, sizeof(want), "page %s epoch %d changed 5:%02x\n",
			 self->id, k, k);
	EXPECT_STREQ(want, out);
	EXPECT_LE(1, k);
}

TEST_F(mmsbctl, watch)
{
	watch_one(_metadata, self, 0);
}

TEST_F(mmsbctl, watch_json)
{
	watch_one(_metadata, self, 1);
}

/* COMMAND --help: its usage on stdout, exit 0; bad watch arguments. */
TEST_F(mmsbctl, help_and_watch_args)
{
	struct run *r = &self->r;

	ASSERT_EQ(0, mmsbctl(r, "watch", "--help", NULL));
	EXPECT_STREQ("usage: mmsbctl [--json] watch ID... [count=N]\n"
		     "  print each change of the pages: epoch, changed bytes "
		     "as OFFSET:HEX\n", r->out);
	ASSERT_EQ(0, mmsbctl(r, "--help", NULL));
	EXPECT_NE(NULL, strstr(r->out, "\n  watch ID... [count=N]\n"));
	EXPECT_EQ(1, mmsbctl(r, "watch", NULL));
	EXPECT_EQ(1, mmsbctl(r, "watch", self->id, "count=0", NULL));
	EXPECT_EQ(1, mmsbctl(r, "watch", "count=1", NULL));
	EXPECT_EQ(1, mmsbctl(r, "watch", "123456789", "count=1", NULL));
	EXPECT_NE(NULL, strstr(r->err, strerror(ENOENT)));
}

/* write: DENSE from a string, MASKED, SPARSE, and their refusals. */
TEST_F(mmsbctl, write_forms)
{
	static const __u8 want[PAGE_BYTES] = {
		[0] = 'h', [1] = 'i',
		[8] = 0xaa, [10] = 0xcc,	/* mask 05: bytes 0 and 2 */
		[23] = 0x11, [24] = 0x22,	/* mask 80 01: bytes 7, 8 */
		[47] = 0x33, [48] = 0x44,
	};
	struct outcome o;
	struct run *r = &self->r;
	char json[128];

	ASSERT_EQ(0, mmsbctl(r, "write", self->id, "0", "str:hi", "sync",
			     NULL));
	ASSERT_EQ(0, parse_outcome(r->out, &o));
	EXPECT_EQ(0, o.status);
	EXPECT_EQ(1, o.epoch);
	ASSERT_EQ(0, mmsbctl(r, "write", self->id, "8", "aabbccdd", "mask=05",
			     "sync", NULL));
	ASSERT_EQ(0, mmsbctl(r, "write", self->id, "16", "1122", "mask=8001",
			     "sparse", "sync", NULL));
	ASSERT_EQ(0, mmsbctl(r, "--json", "write", self->id, "40", "3344",
			     "mask=8001", "sparse", "len=9", "sync", NULL));
	snprintf(json, sizeof(json), "{\"delta_id\":%llu,\"status\":0,"
		 "\"epoch\":4}\n",
		 (unsigned long long)self->hdr->last_delta_id);
	EXPECT_STREQ(json, r->out);
	EXPECT_EQ(4, self->hdr->epoch);
	EXPECT_EQ(0, memcmp(want, self->data, PAGE_BYTES));

	/* Two set bits, one byte: the kernel's -EMSGSIZE, exit 1. */
	EXPECT_EQ(1, mmsbctl(r, "write", self->id, "0", "11", "mask=03",
			     "sparse", "sync", NULL));
	ASSERT_EQ(0, parse_outcome(r->out, &o));
	EXPECT_EQ(-EMSGSIZE, o.status);
	EXPECT_NE(NULL, strstr(r->err, strerror(EMSGSIZE)));
	/* Refused here: a mask of the wrong size, sparse or len alone. */
	EXPECT_EQ(1, mmsbctl(r, "write", self->id, "0", "aa", "mask=0101",
			     NULL));
	EXPECT_EQ(1, mmsbctl(r, "write", self->id, "0", "aa", "sparse", NULL));
	EXPECT_EQ(1, mmsbctl(r, "write", self->id, "0", "aa", "mask=01",
			     "len=1", NULL));
	EXPECT_EQ(1, mmsbctl(r, "write", self->id, "0", "aa", "mask=01",
			     "sparse", "len=9", NULL));
	EXPECT_EQ(1, mmsbctl(r, "write", self->id, "0", "str:", NULL));
	EXPECT_EQ(1, mmsbctl(r, "write", self->id, "0", "aa", "sync", "sync",
			     NULL));
	EXPECT_NE(NULL, strstr(r->err, strerror(EINVAL)));
	EXPECT_EQ(4, self->hdr->epoch);
	EXPECT_EQ(0, memcmp(want, self->data, PAGE_BYTES));
}

/* edge list (debugfs): the edges mmsbctl added, text and JSON. */
TEST_F(mmsbctl, edge_list)
{
	struct mmsb_page_create pc;
	struct run *r = &self->r;
	char to[24], want[128];

	ASSERT_EQ(0, mmsb_page_create(self->fd, 8, 0, 0, &pc));
	snprintf(to, sizeof(to), "%llu", (unsigned long long)pc.id);
	ASSERT_EQ(0, mmsbctl(r, "edge", "list", NULL));
	EXPECT_STREQ("", r->out);
	ASSERT_EQ(0, mmsbctl(r, "edge", "add", self->id, to, "notify", NULL));
	ASSERT_EQ(0, mmsbctl(r, "edge", "list", NULL));
	snprintf(want, sizeof(want), "%s -> %s notify\n", self->id, to);
	EXPECT_STREQ(want, r->out);
	ASSERT_EQ(0, mmsbctl(r, "--json", "edge", "list", NULL));
	snprintf(want, sizeof(want), "{\"edges\":[{\"from\":%s,\"to\":%s,"
		 "\"kind\":\"notify\"}]}\n", self->id, to);
	EXPECT_STREQ(want, r->out);
	ASSERT_EQ(0, mmsbctl(r, "edge", "del", self->id, to, "notify", NULL));
	ASSERT_EQ(0, mmsbctl(r, "--json", "edge", "list", NULL));
	EXPECT_STREQ("{\"edges\":[]}\n", r->out);
	EXPECT_EQ(0, mmsb_page_free(self->fd, pc.id));
}

TEST_HARNESS_MAIN
