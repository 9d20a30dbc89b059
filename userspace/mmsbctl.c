// SPDX-License-Identifier: GPL-2.0
/*
 * mmsbctl - inspect and drive /dev/mmsb from the command line.
 */
#include <stdio.h>
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

static const struct {
	const char *name;
	int (*fn)(int fd, int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "version", cmd_version, "ABI version and features" },
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
