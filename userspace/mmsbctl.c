// SPDX-License-Identifier: GPL-2.0
/*
 * mmsbctl - inspect and drive /dev/mmsb from the command line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libmmsb.h"

static const struct {
	unsigned long long bit;
	const char *name;
} features[] = {
	{ MMSB_FEAT_PAGES, "pages" },
	{ MMSB_FEAT_DELTAS, "deltas" },
	{ MMSB_FEAT_URING, "io_uring" },
	{ MMSB_FEAT_GRAPH, "graph" },
	{ MMSB_FEAT_GC, "gc" },
};

static int cmd_version(int fd, int argc, char **argv)
{
	struct mmsb_version v;
	size_t i;
	int ret;

	ret = mmsb_version(fd, &v);
	if (ret)
		return ret;
	printf("mmsb ABI %u, features:", v.abi_version);
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++)
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
	printf("%llu\n", (unsigned long long)pc.id);
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
	int i, n;

	if (argc != 1)
		return -EINVAL;
	do {
		n = mmsb_page_list(fd, next, ids, 256, &next);
		if (n < 0)
			return n;
		for (i = 0; i < n; i++)
			printf("%llu\n", (unsigned long long)ids[i]);
	} while (next);
	return 0;
}

/* edge add|del FROM TO [passthrough|notify] */
static int cmd_edge(int fd, int argc, char **argv)
{
	unsigned long long from, to;
	__u32 kind = MMSB_EDGE_PASSTHROUGH;

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

static const struct {
	const char *name;
	int (*fn)(int fd, int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "version", cmd_version, "ABI version and features" },
	{ "create", cmd_create, "SIZE [MODE] [evictable]: new page, prints its id" },
	{ "free", cmd_free, "ID...: free pages" },
	{ "info", cmd_info, "ID: describe a page" },
	{ "list", cmd_list, "ids of all live pages" },
	{ "edge", cmd_edge, "add|del FROM TO [passthrough|notify]: dependency" },
};

static void usage(void)
{
	size_t i;

	fprintf(stderr, "usage: mmsbctl COMMAND [ARGS]\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "  %-10s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv)
{
	size_t i;
	int fd, ret;

	if (argc < 2) {
		usage();
		return 2;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		fd = mmsb_open();
		if (fd < 0) {
			fprintf(stderr, "mmsbctl: %s: %s\n", MMSB_DEVICE_PATH,
				strerror(-fd));
			return 1;
		}
		ret = cmds[i].fn(fd, argc - 1, argv + 1);
		if (ret < 0)
			fprintf(stderr, "mmsbctl: %s: %s\n", argv[1],
				strerror(-ret));
		return ret < 0 ? 1 : 0;
	}
	usage();
	return 2;
}
