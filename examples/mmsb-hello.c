// SPDX-License-Identifier: MIT
/*
 * mmsb-hello: the smallest libmmsb program.  Creates a page, writes a
 * greeting into it with one delta (through io_uring when it can, the
 * ioctl otherwise), reads it back from the read-only mapping, frees it.
 *
 *   cc -o mmsb-hello mmsb-hello.c $(pkg-config --cflags --libs mmsb)
 *
 * Exit status 0, or 1 with the error on stderr.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libmmsb_uring.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "mmsb-hello: %s: %s\n", what, mmsb_strerror(err));
	return 1;
}

int main(void)
{
	static const char greeting[] = "hello, mmsb!";
	const struct mmsb_page_header *hdr;
	struct mmsb_page_create page;
	struct io_uring ring, *r;
	struct mmsb_version v;
	struct mmsb_delta d;
	char buf[sizeof(greeting)];
	__u64 epoch;
	int fd, ret, why;

	fd = mmsb_open();
	if (fd < 0)
		return fail("open", fd);
	ret = mmsb_version(fd, &v);
	if (ret)
		return fail("version", ret);
	printf("mmsb ABI %u\n", v.abi_version);

	ret = mmsb_page_create(fd, sizeof(greeting), 0600, 0, &page);
	if (ret)
		return fail("create", ret);
	ret = mmsb_page_map(fd, page.id, &hdr);
	if (ret)
		return fail("map", ret);

	/* io_uring if it may be used, else NULL: the ioctl does it. */
	r = mmsb_uring_try_init(fd, &ring, 8, 0, &why);
	mmsb_delta_dense(&d, page.id, 0, greeting, sizeof(greeting));
	ret = mmsb_submit_applied(fd, r, &d, 1);
	if (ret < 0)
		return fail("submit", ret);
	printf("%d delta applied through %s", ret, r ? "io_uring" : "ioctl");
	if (r)
		printf("\n");
	else
		printf(" (io_uring: %s)\n", mmsb_strerror(why));

	ret = mmsb_page_read(hdr, 0, buf, sizeof(buf), &epoch);
	if (ret)
		return fail("read", ret);
	printf("page %llu epoch %llu: %s\n", (unsigned long long)page.id,
	       (unsigned long long)epoch, buf);

	if (r)
		io_uring_queue_exit(r);
	mmsb_page_unmap(hdr);
	ret = mmsb_page_free(fd, page.id);
	if (ret)
		return fail("free", ret);
	close(fd);
	return 0;
}
