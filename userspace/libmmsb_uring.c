// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libmmsb io_uring helpers; see libmmsb_uring.h.
 */
#include <errno.h>
#include <string.h>

#include "libmmsb_uring.h"

int mmsb_uring_init(int fd, struct io_uring *ring, unsigned int entries,
		    unsigned int flags)
{
	struct mmsb_version v;
	int ret;

	ret = mmsb_version(fd, &v);
	if (ret)
		return ret;
	if (!(v.features & MMSB_FEAT_URING))
		return -EOPNOTSUPP;
	return io_uring_queue_init(entries, ring, flags);
}

struct io_uring *mmsb_uring_try_init(int fd, struct io_uring *ring,
				     unsigned int entries, unsigned int flags,
				     int *err)
{
	int ret = mmsb_uring_init(fd, ring, entries, flags);

	if (err)
		*err = ret;
	return ret ? NULL : ring;
}

/*
 * Common part: an URING_CMD on @fd with @op and its 16-byte descriptor.
 * The whole SQE is cleared, so in an SQE128 ring the caller clears the
 * other 64 bytes (the extension area, which must be zero).
 */
static void mmsb_uring_prep(struct io_uring_sqe *sqe, int fd, __u32 op,
			    const void *desc, size_t len)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	memcpy(sqe->cmd, desc, len);
}

void mmsb_uring_prep_submit(struct io_uring_sqe *sqe, int fd,
			    struct mmsb_delta *deltas, __u32 count,
			    __u32 flags)
{
	struct mmsb_uring_submit d = {
		.deltas = (__u64)(unsigned long)deltas,
		.count = count,
		.flags = flags,
	};

	mmsb_uring_prep(sqe, fd, MMSB_URING_SUBMIT, &d, sizeof(d));
}

void mmsb_uring_prep_wait(struct io_uring_sqe *sqe, int fd, __u64 page,
			  __u64 epoch)
{
	struct mmsb_uring_wait d = { .page_id = page, .epoch = epoch };

	mmsb_uring_prep(sqe, fd, MMSB_URING_WAIT, &d, sizeof(d));
}

/* An SQE128 ring's extension area: zero, until the uapi gives it a use. */
static void mmsb_uring_clear_ext(struct io_uring *ring,
				 struct io_uring_sqe *sqe)
{
	if (ring->flags & IORING_SETUP_SQE128)
		memset(sqe->cmd + MMSB_URING_CMD_BYTES, 0,
		       MMSB_URING_EXT_BYTES);
}

int mmsb_uring_submit(struct io_uring *ring, int fd,
		      struct mmsb_delta *deltas, __u32 count,
		      __u64 user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	if (!sqe)
		return -EBUSY;
	mmsb_uring_prep_submit(sqe, fd, deltas, count, 0);
	mmsb_uring_clear_ext(ring, sqe);
	io_uring_sqe_set_data64(sqe, user_data);
	ret = io_uring_submit(ring);
	return ret < 0 ? ret : 0;
}

int mmsb_uring_wait(struct io_uring *ring, int fd, __u64 page, __u64 epoch,
		    __u64 user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	if (!sqe)
		return -EBUSY;
	mmsb_uring_prep_wait(sqe, fd, page, epoch);
	mmsb_uring_clear_ext(ring, sqe);
	io_uring_sqe_set_data64(sqe, user_data);
	ret = io_uring_submit(ring);
	return ret < 0 ? ret : 0;
}

int mmsb_submit_applied(int fd, struct io_uring *ring,
			struct mmsb_delta *deltas, __u32 count)
{
	struct io_uring_cqe *cqe;
	__u32 applied;
	int ret;

	if (!ring) {
		ret = mmsb_submit_counts(fd, deltas, count, MMSB_SUBMIT_SYNC,
					 NULL, &applied);
		return ret ? ret : (int)applied;
	}
	ret = mmsb_uring_submit(ring, fd, deltas, count, 0);
	if (ret)
		return ret;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}
