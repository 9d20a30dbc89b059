/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * libmmsb io_uring helpers: deltas and waits through IORING_OP_URING_CMD,
 * many in flight, each CQE posted once its command is done (for SUBMIT:
 * every delta applied, propagated along edges and visible, as on return
 * of a SYNC ioctl).  Built on liburing.
 *
 * io_uring may be unavailable (kernel.io_uring_disabled, a seccomp
 * profile, a kernel without MMSB_FEAT_URING): mmsb_uring_init() then
 * fails and the caller keeps to the ioctls, which offer the same
 * operations; mmsb_submit_applied() does that choice for one call.
 */
#ifndef LIBMMSB_URING_H
#define LIBMMSB_URING_H

#include <liburing.h>

#include "libmmsb.h"

/*
 * Set up @ring with @entries SQEs for use with /dev/mmsb @fd; returns 0,
 * -EOPNOTSUPP if the module lacks MMSB_FEAT_URING, or the error of
 * io_uring_setup() (-ENOSYS, -EPERM when io_uring is disabled).
 */
int mmsb_uring_init(int fd, struct io_uring *ring, unsigned int entries,
		    unsigned int flags);

/*
 * Fill @sqe with MMSB_URING_SUBMIT of @count deltas at @deltas (which
 * must stay valid until the CQE: each delta's status, id and epoch are
 * written back then).  cqe->res: deltas applied, or -errno.
 */
void mmsb_uring_prep_submit(struct io_uring_sqe *sqe, int fd,
			    struct mmsb_delta *deltas, __u32 count,
			    __u32 flags);

/*
 * Fill @sqe with MMSB_URING_WAIT for page @page to reach @epoch.
 * cqe->res: 0, -EIDRM, -ETIMEDOUT (module parameter uring_wait_ms),
 * -ECANCELED, or an error of submission.
 */
void mmsb_uring_prep_wait(struct io_uring_sqe *sqe, int fd, __u64 page,
			  __u64 epoch);

/*
 * Queue a SUBMIT (or WAIT) with @user_data and enter the kernel; returns
 * 0, -EBUSY when the SQ ring is full, or -errno of io_uring_submit().
 */
int mmsb_uring_submit(struct io_uring *ring, int fd,
		      struct mmsb_delta *deltas, __u32 count,
		      __u64 user_data);
int mmsb_uring_wait(struct io_uring *ring, int fd, __u64 page, __u64 epoch,
		    __u64 user_data);

/*
 * Submit @count deltas and return once applied: through @ring when it
 * is not NULL (and has nothing else in flight), else with a SYNC
 * ioctl.  Returns the number applied or -errno.
 */
int mmsb_submit_applied(int fd, struct io_uring *ring,
			struct mmsb_delta *deltas, __u32 count);

#endif /* LIBMMSB_URING_H */
