/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * libmmsb io_uring helpers: deltas and waits through IORING_OP_URING_CMD,
 * many in flight, each CQE posted once its command is done (for SUBMIT:
 * every delta applied, propagated along edges and visible, as on return
 * of a SYNC ioctl).  Built on liburing.
 *
 * io_uring may be unavailable (kernel.io_uring_disabled, a seccomp
 * profile, a kernel without MMSB_FEAT_URING): mmsb_uring_init() then
 * fails, mmsb_uring_try_init() returns NULL, and mmsb_submit_applied()
 * given NULL does the same with a SYNC ioctl.  A program that calls
 * only those two runs with and without io_uring alike.
 */
#ifndef LIBMMSB_URING_H
#define LIBMMSB_URING_H

#include <liburing.h>

#include "libmmsb.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * written back then).  cqe->res: deltas applied, or -errno.  The prep
 * functions fill a 64-byte SQE; in an IORING_SETUP_SQE128 ring the
 * other 64 bytes (the extension area of <linux/mmsb.h>) must be zeroed
 * by the caller, else the command fails with -EINVAL.
 * mmsb_uring_submit() and mmsb_uring_wait() below do that themselves.
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
 * mmsb_uring_init() for a program that works with or without io_uring:
 * returns @ring, set up, or NULL when io_uring cannot be used, *@err
 * (if not NULL) saying why: -EPERM (sysctl kernel.io_uring_disabled, a
 * seccomp filter), -ENOSYS (a kernel without io_uring), -EOPNOTSUPP (a
 * module without MMSB_FEAT_URING), or another error of
 * io_uring_queue_init() (-ENOMEM, -EMFILE...).  Pass the result to
 * mmsb_submit_applied(), which falls back to the ioctls on NULL; free a
 * ring it returned with io_uring_queue_exit().
 */
struct io_uring *mmsb_uring_try_init(int fd, struct io_uring *ring,
				     unsigned int entries, unsigned int flags,
				     int *err);

/*
 * Submit @count deltas and return once applied: through @ring when it
 * is not NULL (and has nothing else in flight), else with a SYNC
 * ioctl: the same deltas applied, the same statuses written back.
 * Returns the number applied or -errno (as mmsb_submit(), or of
 * io_uring_submit()/io_uring_wait_cqe()).
 */
int mmsb_submit_applied(int fd, struct io_uring *ring,
			struct mmsb_delta *deltas, __u32 count);

#ifdef __cplusplus
}
#endif

#endif /* LIBMMSB_URING_H */
