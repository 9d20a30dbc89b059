// SPDX-License-Identifier: GPL-2.0
/*
 * mmsbctl - inspect and drive /dev/mmsb from the command line.
 *
 * Exit status: 0 on success, 1 when a command fails (bad argument, or
 * an error from libmmsb or the kernel, printed with strerror), 2 for a
 * missing or unknown command.  --json (anywhere on the line) makes the
 * commands that print print one JSON object a line instead (man/mmsbctl.1
 * shows each); COMMAND --help prints that command's usage.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libmmsb.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* --json: one JSON object a line on stdout, for scripts. */
static int json;

static void print_hex(const __u8 *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		printf("%02x", buf[i]);
}

static const struct {
	unsigned long long bit;
	const char *name;
} features[] = {
	{ MMSB_FEAT_PAGES, "pages" },
	{ MMSB_FEAT_DELTAS, "deltas" },
	{ MMSB_FEAT_URING, "io_uring" },
	{ MMSB_FEAT_GRAPH, "graph" },
	{ MMSB_FEAT_GC, "gc" },
	{ MMSB_FEAT_SQ, "sq" },
};

static int cmd_version(int fd, int argc, char **argv)
{
	struct mmsb_version v;
	size_t i;
	int ret;

	if (argc != 1)
		return -EINVAL;
	ret = mmsb_version(fd, &v);
	if (ret)
		return ret;
	if (json) {
		const char *sep = "";

		printf("{\"abi_version\":%u,\"features\":[", v.abi_version);
		for (i = 0; i < ARRAY_SIZE(features); i++) {
			if (!(v.features & features[i].bit))
				continue;
			printf("%s\"%s\"", sep, features[i].name);
			sep = ",";
		}
		printf("]}\n");
		return 0;
	}
	printf("mmsb ABI %u, features:", v.abi_version);
	for (i = 0; i < ARRAY_SIZE(features); i++)
		if (v.features & features[i].bit)
			printf(" %s", features[i].name);
	printf("%s\n", v.features ? "" : " none");
	return 0;
}

/* Parse a whole unsigned number (0x and 0 prefixes allowed). */
static int parse_u64(const char *s, int base, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, base);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

/* create SIZE [MODE] [evictable] */
static int cmd_create(int fd, int argc, char **argv)
{
	struct mmsb_page_create pc;
	unsigned long long size, mode = 0;
	__u32 flags = 0;
	int ret;

	if (argc < 2 || argc > 4 || parse_u64(argv[1], 0, &size) ||
	    (argc > 2 && parse_u64(argv[2], 8, &mode)))
		return -EINVAL;
	if (argc > 3) {
		if (strcmp(argv[3], "evictable"))
			return -EINVAL;
		flags |= MMSB_PAGE_EVICTABLE;
	}
	ret = mmsb_page_create(fd, size, mode, flags, &pc);
	if (ret)
		return ret;
	printf(json ? "{\"id\":%llu}\n" : "%llu\n", (unsigned long long)pc.id);
	return 0;
}

/* free ID... */
static int cmd_free(int fd, int argc, char **argv)
{
	unsigned long long id;
	int i, ret;

	if (argc < 2)
		return -EINVAL;
	for (i = 1; i < argc; i++) {
		if (parse_u64(argv[i], 0, &id))
			return -EINVAL;
		ret = mmsb_page_free(fd, id);
		if (ret)
			return ret;
	}
	return 0;
}

/* info ID */
static int cmd_info(int fd, int argc, char **argv)
{
	struct mmsb_page_info in;
	unsigned long long id;
	int ret;

	if (argc != 2 || parse_u64(argv[1], 0, &id))
		return -EINVAL;
	ret = mmsb_page_info(fd, id, &in);
	if (ret)
		return ret;
	if (json) {
		printf("{\"id\":%llu,\"size\":%llu,\"epoch\":%llu,"
		       "\"last_delta_id\":%llu,\"mmap_offset\":%llu,"
		       "\"map_size\":%llu,\"uid\":%u,\"gid\":%u,\"mode\":%u,"
		       "\"evictable\":%s}\n",
		       (unsigned long long)in.id, (unsigned long long)in.size,
		       (unsigned long long)in.epoch,
		       (unsigned long long)in.last_delta_id,
		       (unsigned long long)in.mmap_offset,
		       (unsigned long long)in.map_size, in.uid, in.gid, in.mode,
		       in.flags & MMSB_PAGE_EVICTABLE ? "true" : "false");
		return 0;
	}
	printf("id %llu\nsize %llu\nepoch %llu\nlast_delta_id %llu\n"
	       "mmap_offset 0x%llx\nmap_size %llu\nuid %u\ngid %u\n"
	       "mode 0%o\nflags%s\n",
	       (unsigned long long)in.id, (unsigned long long)in.size,
	       (unsigned long long)in.epoch,
	       (unsigned long long)in.last_delta_id,
	       (unsigned long long)in.mmap_offset,
	       (unsigned long long)in.map_size, in.uid, in.gid, in.mode,
	       in.flags & MMSB_PAGE_EVICTABLE ? " evictable" : "");
	return 0;
}

/* list: one live id a line, ascending */
static int cmd_list(int fd, int argc, char **argv)
{
	__u64 ids[256], next = 0;
	const char *sep = "";
	int i, n;

	if (argc != 1)
		return -EINVAL;
	if (json)
		printf("{\"pages\":[");
	do {
		n = mmsb_page_list(fd, next, ids, 256, &next);
		if (n < 0)
			return n;
		for (i = 0; i < n; i++) {
			printf(json ? "%s%llu" : "%.0s%llu\n", sep,
			       (unsigned long long)ids[i]);
			sep = ",";
		}
	} while (next);
	if (json)
		printf("]}\n");
	return 0;
}

/* --bus N: the bus to talk to (/dev/mmsb, /dev/mmsb1, ...). */
static unsigned int bus;

/*
 * edge list: every edge, "FROM -> TO KIND" a line.  No ioctl lists
 * edges: this reads debugfs (root, debugfs mounted).
 */
static int edge_list(void)
{
	unsigned long long from, to;
	const char *sep = "";
	char line[128], kind[16], path[64];
	FILE *f;

	/* The bus's debugfs directory is named after its device. */
	if (bus)
		snprintf(path, sizeof(path), "/sys/kernel/debug/mmsb%u/graph",
			 bus);
	else
		strcpy(path, "/sys/kernel/debug/mmsb/graph");
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (json)
		printf("{\"edges\":[");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llu -> %llu %15s", &from, &to, kind) != 3)
			continue;
		printf(json ? "%s{\"from\":%llu,\"to\":%llu,\"kind\":\"%s\"}" :
		       "%s%llu -> %llu %s\n", sep, from, to, kind);
		sep = json ? "," : "";
	}
	fclose(f);
	if (json)
		printf("]}\n");
	return 0;
}

/* edge add|del FROM TO [passthrough|notify], edge list */
static int cmd_edge(int fd, int argc, char **argv)
{
	unsigned long long from, to;
	__u32 kind = MMSB_EDGE_PASSTHROUGH;

	if (argc == 2 && !strcmp(argv[1], "list"))
		return edge_list();

	if (argc < 4 || argc > 5 || parse_u64(argv[2], 0, &from) ||
	    parse_u64(argv[3], 0, &to))
		return -EINVAL;
	if (argc == 5) {
		if (!strcmp(argv[4], "notify"))
			kind = MMSB_EDGE_NOTIFY;
		else if (strcmp(argv[4], "passthrough"))
			return -EINVAL;
	}
	if (!strcmp(argv[1], "add"))
		return mmsb_edge_add(fd, from, to, kind);
	if (!strcmp(argv[1], "del"))
		return mmsb_edge_del(fd, from, to, kind);
	return -EINVAL;
}

static int hex_nibble(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       tolower((unsigned char)c) - 'a' + 10;
}

/* Decode @s, two hex digits a byte, into a malloc()ed *@buf. */
static int parse_hex(const char *s, __u8 **buf, size_t *len)
{
	size_t i, n = strlen(s);

	if (!n || n % 2)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
	*buf = malloc(n / 2);
	if (!*buf)
		return -ENOMEM;
	for (i = 0; i < n / 2; i++)
		(*buf)[i] = hex_nibble(s[2 * i]) << 4 | hex_nibble(s[2 * i + 1]);
	*len = n / 2;
	return 0;
}

/* submit ID OFFSET HEX [sync] [epoch=N] */
static int cmd_submit(int fd, int argc, char **argv)
{
	unsigned long long id, off, epoch = 0;
	struct mmsb_delta d;
	__u32 flags = 0;
	int i, ret, epoch_set = 0;
	size_t len;
	__u8 *buf;

	if (argc < 4 || argc > 6 || parse_u64(argv[1], 0, &id) ||
	    parse_u64(argv[2], 0, &off))
		return -EINVAL;
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "sync") && !flags)
			flags = MMSB_SUBMIT_SYNC;
		else if (strncmp(argv[i], "epoch=", 6) || epoch_set++ ||
			 parse_u64(argv[i] + 6, 0, &epoch))
			return -EINVAL;
	}
	ret = parse_hex(argv[3], &buf, &len);
	if (ret)
		return ret;
	mmsb_delta_dense(&d, id, off, buf, len);
	d.expected_epoch = epoch;
	ret = mmsb_submit(fd, &d, 1, flags, NULL);
	free(buf);
	if (ret)
		return ret;
	printf(json ? "{\"delta_id\":%llu,\"status\":%d,\"epoch\":%llu}\n" :
	       "delta_id %llu status %d epoch %llu\n",
	       (unsigned long long)d.delta_id, d.status,
	       (unsigned long long)d.epoch);
	/* One delta: its refusal is the command's failure. */
	return d.status;
}

/*
 * write ID OFFSET DATA [mask=HEX [sparse] [len=N]] [sync] [epoch=N]:
 * DATA is hex, or str:TEXT for the bytes of TEXT.  No mask: DENSE.  A
 * mask: MASKED, DATA being the whole window, the mask one bit a byte
 * (LSB first).  sparse: SPARSE, DATA being only the bytes whose bit is
 * set, the window len=N bytes (default: eight a mask byte).
 */
static int cmd_write(int fd, int argc, char **argv)
{
	unsigned long long id, off, epoch = 0, len = 0;
	int i, ret, sync = 0, sparse = 0, epoch_set = 0;
	__u8 *buf = NULL, *mask = NULL;
	size_t n, mask_n = 0;
	struct mmsb_delta d;

	if (argc < 4 || parse_u64(argv[1], 0, &id) ||
	    parse_u64(argv[2], 0, &off))
		return -EINVAL;
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "sync") && !sync++)
			continue;
		if (!strcmp(argv[i], "sparse") && !sparse++)
			continue;
		if (!strncmp(argv[i], "epoch=", 6) && !epoch_set++ &&
		    !parse_u64(argv[i] + 6, 0, &epoch))
			continue;
		if (!strncmp(argv[i], "len=", 4) && !len &&
		    !parse_u64(argv[i] + 4, 0, &len) && len)
			continue;
		if (!strncmp(argv[i], "mask=", 5) && !mask &&
		    !parse_hex(argv[i] + 5, &mask, &mask_n))
			continue;
		ret = -EINVAL;
		goto out;
	}
	ret = -EINVAL;
	if ((sparse || len) && !mask)
		goto out;
	if (len && !sparse)
		goto out;
	if (!strncmp(argv[3], "str:", 4)) {
		n = strlen(argv[3] + 4);
		buf = (__u8 *)strdup(argv[3] + 4);
		ret = buf ? 0 : -ENOMEM;
		if (!n)
			ret = -EINVAL;
	} else {
		ret = parse_hex(argv[3], &buf, &n);
	}
	if (ret)
		goto out;
	mmsb_delta_dense(&d, id, off, buf, n);
	d.expected_epoch = epoch;
	if (mask && !sparse) {
		d.encoding = MMSB_DELTA_MASKED;
		d.mask = (__u64)(uintptr_t)mask;
		ret = -EINVAL;
		if (mask_n != (n + 7) / 8)
			goto out;
	} else if (mask) {
		d.encoding = MMSB_DELTA_SPARSE;
		d.mask = (__u64)(uintptr_t)mask;
		d.len = len ? len : 8 * mask_n;
		ret = -EINVAL;
		if (mask_n != (d.len + 7) / 8)
			goto out;
	}
	ret = mmsb_submit(fd, &d, 1, sync ? MMSB_SUBMIT_SYNC : 0, NULL);
	if (ret)
		goto out;
	printf(json ? "{\"delta_id\":%llu,\"status\":%d,\"epoch\":%llu}\n" :
	       "delta_id %llu status %d epoch %llu\n",
	       (unsigned long long)d.delta_id, d.status,
	       (unsigned long long)d.epoch);
	ret = d.status;
out:
	free(buf);
	free(mask);
	return ret;
}

/* wait ID EPOCH [TIMEOUT_MS] */
static int cmd_wait(int fd, int argc, char **argv)
{
	unsigned long long id, epoch, ms;
	__u64 ns = UINT64_MAX, cur;
	int ret;

	if (argc < 3 || argc > 4 || parse_u64(argv[1], 0, &id) ||
	    parse_u64(argv[2], 0, &epoch) ||
	    (argc > 3 && parse_u64(argv[3], 0, &ms)))
		return -EINVAL;
	/* A timeout too long for nanoseconds is as good as forever. */
	if (argc > 3 && ms < UINT64_MAX / 1000000)
		ns = ms * 1000000;
	ret = mmsb_wait(fd, id, epoch, ns, &cur);
	if (ret)
		return ret;
	printf(json ? "{\"epoch\":%llu}\n" : "%llu\n", (unsigned long long)cur);
	return 0;
}

#define STAT(t, f) { #f, offsetof(struct mmsb_stats, f), sizeof(t) },
#define LAST(t, f) STAT(t, last.f)

/* Named after the uapi fields, from its field lists. */
static const struct {
	const char *name;
	size_t off, size;
} stat_fields[] = {
	STAT(__u32, size)
	MMSB_TICK_METRICS_FIELDS(LAST)
	MMSB_STATS_FIELDS(STAT)
};

#undef LAST
#undef STAT

/* One "name value" line per field of struct mmsb_stats. */
static int print_stats(int fd)
{
	struct mmsb_stats st;
	int in_last = 0;
	__u32 v32;
	__u64 v;
	size_t i;
	int ret;

	ret = mmsb_stats(fd, &st);
	if (ret)
		return ret;
	for (i = 0; i < ARRAY_SIZE(stat_fields); i++) {
		const char *p = (const char *)&st + stat_fields[i].off;
		const char *name = stat_fields[i].name;
		int last = !strncmp(name, "last.", 5);

		/* An older module does not fill what it does not know. */
		if (stat_fields[i].off + stat_fields[i].size > st.size)
			continue;
		if (stat_fields[i].size == sizeof(v32)) {
			memcpy(&v32, p, sizeof(v32));
			v = v32;
		} else {
			memcpy(&v, p, sizeof(v));
		}
		if (!json) {
			printf("%s %llu\n", name, (unsigned long long)v);
			continue;
		}
		/*
		 * {"size":N,"last":{"tick":N,...},"ticks":N,...}: the
		 * last.* fields follow one another in stat_fields[].
		 */
		printf("%s", !i ? "{" : ",");
		if (last && !in_last)
			printf("\"last\":{");
		else if (!last && in_last)
			printf("},");
		in_last = last;
		printf("\"%s\":%llu", last ? name + 5 : name,
		       (unsigned long long)v);
	}
	if (json)
		printf("%s}\n", in_last ? "}" : "");
	return 0;
}

/*
 * stats [INTERVAL_MS [COUNT]]: the statistics once, or live: every
 * INTERVAL_MS, COUNT times (0 or none: until killed), blank-line apart.
 */
static int cmd_stats(int fd, int argc, char **argv)
{
	unsigned long long ms = 0, count = 1, i;
	struct timespec ts;
	int ret;

	if (argc > 3 || (argc > 1 && parse_u64(argv[1], 0, &ms)) ||
	    (argc > 2 && parse_u64(argv[2], 0, &count)) ||
	    (argc > 1 && !ms))
		return -EINVAL;
	if (argc == 2)
		count = 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000;
	for (i = 0; !count || i < count; i++) {
		if (i) {
			if (!json)
				printf("\n");
			nanosleep(&ts, NULL);
		}
		ret = print_stats(fd);
		if (ret)
			return ret;
		fflush(stdout);
	}
	return 0;
}

/* read ID [OFFSET LEN]: the bytes as hex on one line */
static int cmd_read(int fd, int argc, char **argv)
{
	const struct mmsb_page_header *hdr;
	unsigned long long id, off = 0, len;
	__u64 epoch;
	__u8 *buf;
	int ret;

	if ((argc != 2 && argc != 4) || parse_u64(argv[1], 0, &id) ||
	    (argc == 4 && (parse_u64(argv[2], 0, &off) ||
			   parse_u64(argv[3], 0, &len))))
		return -EINVAL;
	ret = mmsb_page_map(fd, id, &hdr);
	if (ret)
		return ret;
	if (argc == 2)
		len = hdr->size;
	/* Checked before malloc(): a huge LEN is -EINVAL, not -ENOMEM. */
	ret = -EINVAL;
	if (off > hdr->size || len > hdr->size - off)
		goto unmap;
	ret = -ENOMEM;
	buf = malloc(len ? len : 1);
	if (!buf)
		goto unmap;
	ret = mmsb_page_read(hdr, off, buf, len, &epoch);
	if (!ret && json) {
		printf("{\"id\":%llu,\"offset\":%llu,\"len\":%llu,"
		       "\"epoch\":%llu,\"hex\":\"", id, off, len,
		       (unsigned long long)epoch);
		print_hex(buf, len);
		printf("\"}\n");
	} else if (!ret) {
		print_hex(buf, len);
		putchar('\n');
	}
	free(buf);
unmap:
	mmsb_page_unmap(hdr);
	return ret;
}

/* A page watch follows: its mapping and the copy of its data last printed. */
struct watched {
	__u64 id;
	const struct mmsb_page_header *hdr;
	__u64 epoch;
	__u8 *copy, *now;
};

/*
 * Print the change of @w since its last print: epoch and each run of
 * changed bytes as hex.  Returns 1 if printed, 0 if the epoch did not
 * move (an event for a change printed already), or -errno.
 */
static int watch_print(struct watched *w)
{
	const char *sep = "";
	__u64 epoch, i, j, size = w->hdr->size;
	__u8 *t;
	int ret;

	ret = mmsb_page_read(w->hdr, 0, w->now, size, &epoch);
	if (ret || epoch == w->epoch)
		return ret;
	printf(json ? "{\"page\":%llu,\"epoch\":%llu,\"changes\":[" :
	       "page %llu epoch %llu changed", (unsigned long long)w->id,
	       (unsigned long long)epoch);
	for (i = 0; i < size; i = j) {
		if (w->now[i] == w->copy[i]) {
			j = i + 1;
			continue;
		}
		for (j = i; j < size && w->now[j] != w->copy[j]; j++)
			;
		printf(json ? "%s{\"offset\":%llu,\"hex\":\"" : "%s %llu:",
		       sep, (unsigned long long)i);
		print_hex(w->now + i, j - i);
		printf(json ? "\"}" : "");
		sep = ",";
	}
	printf(json ? "]}\n" : "\n");
	fflush(stdout);
	t = w->copy;
	w->copy = w->now;
	w->now = t;
	w->epoch = epoch;
	return 1;
}

/*
 * watch ID... [count=N]: subscribe to the pages and print each change
 * (a page whose epoch moved: its epoch, the bytes that differ from the
 * last print), N changes in all, or until killed.
 */
static int cmd_watch(int fd, int argc, char **argv)
{
	unsigned long long count = 0, done = 0, id;
	struct mmsb_event ev[64];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct watched *w;
	int i, n, k, nr = 0, ret = -EINVAL;

	w = calloc(argc, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (i = 1; i < argc; i++) {
		ret = -EINVAL;
		if (!strncmp(argv[i], "count=", 6)) {
			if (count || parse_u64(argv[i] + 6, 0, &count) || !count)
				goto out;
			continue;
		}
		if (parse_u64(argv[i], 0, &id))
			goto out;
		w[nr].id = id;
		ret = mmsb_page_map(fd, id, &w[nr].hdr);
		if (ret)
			goto out;
		nr++;
		ret = -ENOMEM;
		w[nr - 1].copy = malloc(w[nr - 1].hdr->size);
		w[nr - 1].now = malloc(w[nr - 1].hdr->size);
		if (!w[nr - 1].copy || !w[nr - 1].now)
			goto out;
		/*
		 * The copy first, then the subscription: a change in
		 * between is no event, but the look below prints it.
		 */
		ret = mmsb_page_read(w[nr - 1].hdr, 0, w[nr - 1].copy,
				     w[nr - 1].hdr->size, &w[nr - 1].epoch);
		if (!ret)
			ret = mmsb_subscribe(fd, id);
		if (ret)
			goto out;
	}
	ret = -EINVAL;
	if (!nr)
		goto out;
	for (k = 0; k < nr && (!count || done < count); k++) {
		ret = watch_print(&w[k]);
		if (ret < 0)
			goto out;
		done += ret;
	}
	while (!count || done < count) {
		n = mmsb_read_events(fd, ev, ARRAY_SIZE(ev));
		if (n == -EAGAIN) {
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
				ret = -errno;
				goto out;
			}
			continue;
		}
		ret = n;
		if (n < 0)
			goto out;
		for (i = 0; i < n && (!count || done < count); i++) {
			for (k = 0; k < nr && w[k].id != ev[i].page_id; k++)
				;
			if (k == nr)
				continue;
			ret = watch_print(&w[k]);
			if (ret < 0)
				goto out;
			done += ret;
		}
	}
	ret = 0;
out:
	for (i = 0; i < nr; i++) {
		mmsb_page_unmap(w[i].hdr);
		free(w[i].copy);
		free(w[i].now);
	}
	free(w);
	return ret;
}

/* A command that printed its own message returns this: exit status 1. */
#define REPORTED	(-4096)

/* Print "mmsbctl: WHAT: message" for @err; returns REPORTED. */
static int report(const char *what, int err)
{
	fprintf(stderr, "mmsbctl: %s: %s\n", what, mmsb_strerror(err));
	return REPORTED;
}

static __u64 snap_bytes(const struct mmsb_snap *s)
{
	__u64 i, n = 0;

	for (i = 0; i < s->nr_pages; i++)
		n += s->pages[i].size;
	return n;
}

static void snap_print(const char *verb, const char *file,
		       const struct mmsb_snap *s)
{
	if (json)
		printf("{\"%s\":\"%s\",\"tick\":%llu,\"pages\":%llu,\"edges\":%llu,\"bytes\":%llu}\n",
		       verb, file, (unsigned long long)s->tick,
		       (unsigned long long)s->nr_pages,
		       (unsigned long long)s->nr_edges,
		       (unsigned long long)snap_bytes(s));
	else
		printf("%s %s: tick %llu, %llu pages, %llu edges, %llu bytes\n",
		       verb, file, (unsigned long long)s->tick,
		       (unsigned long long)s->nr_pages,
		       (unsigned long long)s->nr_edges,
		       (unsigned long long)snap_bytes(s));
}

/* snapshot FILE */
static int cmd_snapshot(int fd, int argc, char **argv)
{
	struct mmsb_snap *s;
	char what[300];
	int ret;

	if (argc != 2)
		return -EINVAL;
	ret = mmsb_snap_take(fd, &s);
	if (ret)
		return ret;
	ret = mmsb_snap_write_file(s, argv[1]);
	if (!ret)
		snap_print("snapshot", argv[1], s);
	mmsb_snap_free(s);
	snprintf(what, sizeof(what), "snapshot %s", argv[1]);
	return ret ? report(what, ret) : 0;
}

/* restore FILE */
static int cmd_restore(int fd, int argc, char **argv)
{
	struct mmsb_snap *s;
	char what[300];
	int ret;

	if (argc != 2)
		return -EINVAL;
	snprintf(what, sizeof(what), "restore %s", argv[1]);
	ret = mmsb_snap_read_file(argv[1], &s);
	if (ret)
		return report(what, ret);
	ret = mmsb_snap_apply(fd, s);
	if (!ret)
		snap_print("restored", argv[1], s);
	mmsb_snap_free(s);
	return ret ? report(what, ret) : 0;
}

/* The highest tick of the records in @buf (whole records only). */
static __u64 stream_last_tick(const void *buf, size_t len)
{
	const struct mmsb_stream_record *rec;
	size_t off = 0;
	__u64 last = 0;

	while (mmsb_stream_next(buf, len, &off, &rec) > 0)
		if (rec->tick > last)
			last = rec->tick;
	return last;
}

/* replay SNAPSHOT STREAM --to-epoch N */
static int cmd_replay(int fd, int argc, char **argv)
{
	struct mmsb_replayer *r = NULL;
	struct mmsb_replay_stats st;
	struct mmsb_snap *s = NULL;
	unsigned long long to;
	void *buf = NULL;
	char what[600];
	size_t len, used;
	int ret;

	if (argc != 5 || strcmp(argv[3], "--to-epoch") ||
	    parse_u64(argv[4], 0, &to))
		return -EINVAL;
	snprintf(what, sizeof(what), "replay %s", argv[1]);
	ret = mmsb_snap_read_file(argv[1], &s);
	if (ret)
		return report(what, ret);
	snprintf(what, sizeof(what), "replay %s", argv[2]);
	ret = mmsb_read_file(argv[2], &buf, &len);
	if (ret) {
		ret = report(what, ret);
		goto out;
	}
	if (to < s->tick) {
		fprintf(stderr, "mmsbctl: replay: tick %llu is before the snapshot's cut, tick %llu\n",
			to, (unsigned long long)s->tick);
		ret = REPORTED;
		goto out;
	}
	if (stream_last_tick(buf, len) < to) {
		fprintf(stderr, "mmsbctl: replay: %s ends at tick %llu, before tick %llu\n",
			argv[2], (unsigned long long)stream_last_tick(buf, len),
			to);
		ret = REPORTED;
		goto out;
	}
	snprintf(what, sizeof(what), "replay: restore %s", argv[1]);
	ret = mmsb_snap_apply(fd, s);
	if (ret) {
		ret = report(what, ret);
		goto out;
	}
	ret = mmsb_replayer_new(fd, s->tick, &r);
	if (ret)
		goto out;
	ret = mmsb_replayer_feed(r, buf, len, to, &used);
	if (ret) {
		fprintf(stderr, "mmsbctl: replay %s after tick %llu: %s\n",
			argv[2], (unsigned long long)mmsb_replayer_tick(r),
			mmsb_strerror(ret));
		ret = REPORTED;
		goto out;
	}
	mmsb_replayer_stats(r, &st);
	if (json)
		printf("{\"from\":%llu,\"to\":%llu,\"ticks\":%llu,\"deltas\":%llu,\"checked\":%llu}\n",
		       (unsigned long long)s->tick, to,
		       (unsigned long long)st.ticks,
		       (unsigned long long)st.deltas,
		       (unsigned long long)st.checked);
	else
		printf("replayed ticks %llu..%llu: %llu ticks, %llu deltas, %llu propagations checked\n",
		       (unsigned long long)s->tick, to,
		       (unsigned long long)st.ticks,
		       (unsigned long long)st.deltas,
		       (unsigned long long)st.checked);
out:
	mmsb_replayer_free(r);
	mmsb_snap_free(s);
	free(buf);
	return ret;
}

/* stream [--all|ID...] [buffer=BYTES] [ticks=N]: raw records to stdout */
static int cmd_stream(int fd, int argc, char **argv)
{
	unsigned long long v, ticks = 0, buffer = 0;
	const struct mmsb_stream_record *rec;
	__u64 *ids = NULL, seen = 0;
	__u32 flags = 0, n = 0;
	size_t cap = 1 << 20, have = 0, off;
	char *buf = NULL;
	int sfd = -1, ret, i;

	ids = calloc(argc, sizeof(*ids));
	buf = malloc(cap);
	ret = -ENOMEM;
	if (!ids || !buf)
		goto out;
	ret = -EINVAL;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all"))
			flags |= MMSB_STREAM_ALL;
		else if (!strncmp(argv[i], "buffer=", 7) &&
			 !parse_u64(argv[i] + 7, 0, &buffer))
			continue;
		else if (!strncmp(argv[i], "ticks=", 6) &&
			 !parse_u64(argv[i] + 6, 0, &ticks))
			continue;
		else if (!parse_u64(argv[i], 0, &v))
			ids[n++] = v;
		else
			goto out;
	}
	if (!flags == !n || buffer > UINT32_MAX)
		goto out;
	sfd = mmsb_stream_open(fd, flags, n ? ids : NULL, n, buffer, NULL);
	ret = sfd;
	if (sfd < 0)
		goto out;
	/* Whole records only; count the ticks as they pass. */
	while (!ticks || seen < ticks) {
		ssize_t got = read(sfd, buf + have, cap - have);

		if (got < 0) {
			ret = -errno;
			if (ret == -EINTR)
				continue;
			goto out;
		}
		have += got;
		off = 0;
		while (mmsb_stream_next(buf, have, &off, &rec) > 0) {
			if (rec->type == MMSB_REC_TICK && ++seen == ticks)
				break;
		}
		if (fwrite(buf, 1, off, stdout) != off) {
			ret = -EIO;
			goto out;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	ret = fflush(stdout) ? -EIO : 0;
out:
	if (sfd >= 0)
		close(sfd);
	free(ids);
	free(buf);
	return ret;
}

static const struct {
	const char *name;
	int (*fn)(int fd, int argc, char **argv);
	const char *args;
	const char *help;
} cmds[] = {
	{ "version", cmd_version, "", "ABI version and features" },
	{ "create", cmd_create, "SIZE [MODE] [evictable]",
	  "a new page (MODE in octal); prints its id" },
	{ "free", cmd_free, "ID...", "free pages" },
	{ "info", cmd_info, "ID", "describe a page" },
	{ "list", cmd_list, "", "ids of all live pages, ascending" },
	{ "edge", cmd_edge, "add|del FROM TO [passthrough|notify] | list",
	  "add or delete a dependency; list them (debugfs, root)" },
	{ "submit", cmd_submit, "ID OFFSET HEX [sync] [epoch=N]",
	  "one dense delta; prints its delta_id, status and epoch" },
	{ "write", cmd_write,
	  "ID OFFSET HEX|str:TEXT [mask=HEX [sparse] [len=N]] [sync] [epoch=N]",
	  "one delta: DENSE, MASKED with a mask, SPARSE with sparse" },
	{ "wait", cmd_wait, "ID EPOCH [TIMEOUT_MS]",
	  "wait until the page reaches EPOCH; prints its epoch" },
	{ "read", cmd_read, "ID [OFFSET LEN]", "page data as hex, untorn" },
	{ "stats", cmd_stats, "[INTERVAL_MS [COUNT]]",
	  "statistics as \"name value\" lines; live every INTERVAL_MS" },
	{ "watch", cmd_watch, "ID... [count=N]",
	  "print each change of the pages: epoch, changed bytes as OFFSET:HEX" },
	{ "snapshot", cmd_snapshot, "FILE",
	  "every readable page and edge, in one cut between ticks, into FILE" },
	{ "restore", cmd_restore, "FILE",
	  "make the bus what snapshot FILE holds (CAP_SYS_ADMIN)" },
	{ "replay", cmd_replay, "SNAPSHOT STREAM --to-epoch N",
	  "restore SNAPSHOT, then apply the recorded STREAM's ticks up to tick N" },
	{ "stream", cmd_stream, "--all|ID... [buffer=BYTES] [ticks=N]",
	  "the raw change stream records to stdout (N ticks, or until killed)" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: mmsbctl [--json] [--bus N] COMMAND [ARGS]  (COMMAND --help: its usage)\n");
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %s%s%s\n      %s\n", cmds[i].name,
			*cmds[i].args ? " " : "", cmds[i].args, cmds[i].help);
}

int main(int argc, char **argv)
{
	size_t i;
	int fd, ret, n = 1, j;

	/*
	 * --json and --bus N may come anywhere: no argument of a command
	 * starts "--".
	 */
	for (j = 1; j < argc; j++) {
		if (!strcmp(argv[j], "--json")) {
			json = 1;
		} else if (!strcmp(argv[j], "--bus") && j + 1 < argc) {
			char *end;

			bus = strtoul(argv[++j], &end, 10);
			if (*end || !*argv[j]) {
				usage(stderr);
				return 2;
			}
		} else {
			argv[n++] = argv[j];
		}
	}
	argc = n;
	argv[argc] = NULL;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		if (argc > 2 && (!strcmp(argv[2], "--help") ||
				 !strcmp(argv[2], "-h"))) {
			printf("usage: mmsbctl [--json] %s %s\n  %s\n",
			       cmds[i].name, cmds[i].args, cmds[i].help);
			return 0;
		}
		fd = mmsb_open_bus(bus);
		if (fd < 0) {
			fprintf(stderr, "mmsbctl: bus %u: %s\n", bus,
				strerror(-fd));
			return 1;
		}
		ret = cmds[i].fn(fd, argc - 1, argv + 1);
		if (ret < 0 && ret != REPORTED)
			fprintf(stderr, "mmsbctl: %s: %s\n", argv[1],
				strerror(-ret));
		return ret < 0 ? 1 : 0;
	}
	usage(stderr);
	return 2;
}
