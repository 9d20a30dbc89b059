/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb: every difference between the kernels we build for (Debian 6.1
 * and 6.12, and the 6.12 debug kernel), in one place.  Each entry says
 * which kernels need it; code elsewhere uses the newest kernel's API.
 * Differences are probed by Kbuild (grep of the kernel's headers), which
 * defines MMSB_NO_* for what a kernel lacks.
 */
#ifndef _MMSB_COMPAT_H
#define _MMSB_COMPAT_H

#include <linux/mm.h>

/*
 * vm_flags_set()/vm_flags_clear() came with the per-VMA lock work in
 * 6.3; before it (6.1) drivers changed vma->vm_flags directly, under
 * the mmap write lock that ->mmap() runs with.  Kbuild defines
 * MMSB_NO_VM_FLAGS_SET when <linux/mm.h> lacks them.
 */
#ifdef MMSB_NO_VM_FLAGS_SET
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma,
				  vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/*
 * io_uring passthrough.  Verified in Debian's headers:
 *  - 6.1.0-56 (6.1.192): <linux/io_uring.h> only; struct io_uring_cmd
 *    has "const void *cmd" (the SQE's command area, or io_uring's async
 *    copy of it); io_uring_cmd_complete_in_task() is exported; the stable
 *    backports already give io_uring_cmd_done() its issue_flags; there is
 *    no io_uring_cmd_mark_cancelable() and no IO_URING_F_CANCEL.
 *  - 6.12.117: <linux/io_uring/cmd.h>; struct io_uring_cmd has
 *    "const struct io_uring_sqe *sqe", read through io_uring_sqe_cmd();
 *    io_uring_cmd_complete_in_task() is an inline around the exported
 *    __io_uring_cmd_do_in_task(); cancelable commands (6.7+).
 * Kbuild probes: MMSB_NO_IO_URING_CMD_H (no <linux/io_uring/cmd.h>),
 * MMSB_NO_URING_CANCEL (no io_uring_cmd_mark_cancelable()),
 * MMSB_NO_URING_DONE_FLAGS (io_uring_cmd_done() of 6.1.0 upstream, with
 * three arguments; not a kernel we ship, kept so a plain 6.1 builds).
 */
#ifdef MMSB_NO_IO_URING_CMD_H
#include <linux/io_uring.h>

static inline const void *mmsb_uring_cmd_area(const struct io_uring_cmd *ioucmd)
{
	return ioucmd->cmd;
}
#else
#include <linux/io_uring/cmd.h>

static inline const void *mmsb_uring_cmd_area(const struct io_uring_cmd *ioucmd)
{
	return io_uring_sqe_cmd(ioucmd->sqe);
}
#endif

static inline void mmsb_uring_cmd_done(struct io_uring_cmd *ioucmd, int ret,
				       unsigned int issue_flags)
{
#ifdef MMSB_NO_URING_DONE_FLAGS
	io_uring_cmd_done(ioucmd, ret, 0);
#else
	io_uring_cmd_done(ioucmd, ret, 0, issue_flags);
#endif
}

/*
 * Without the cancel hook (6.1) io_uring cannot ask us to end a queued
 * command when its ring or task goes away, so uring.c bounds every WAIT
 * itself and polls the submitter for PF_EXITING (as ublk did before
 * 6.7).  IO_URING_F_CANCEL as 0 makes the cancel branch dead code there.
 */
#ifdef MMSB_NO_URING_CANCEL
#include <linux/io_uring_types.h>

#define IO_URING_F_CANCEL	0
static inline void io_uring_cmd_mark_cancelable(struct io_uring_cmd *ioucmd,
						unsigned int issue_flags)
{
}

/* The submitter; 6.12 has io_uring_cmd_get_task() for this. */
static inline struct task_struct *
mmsb_uring_cmd_task(struct io_uring_cmd *ioucmd)
{
	return cmd_to_io_kiocb(ioucmd)->task;
}
#else

static inline struct task_struct *
mmsb_uring_cmd_task(struct io_uring_cmd *ioucmd)
{
	return io_uring_cmd_get_task(ioucmd);
}
#endif

/*
 * eventfd_signal() lost its count argument in 6.8 (it always adds 1
 * now); 6.1 takes the count.  Kbuild defines MMSB_NO_EVENTFD_SIGNAL_1
 * when <linux/eventfd.h> has no one-argument form.  (The macro's own
 * name inside it is not expanded again: it calls the function.)
 */
#ifdef MMSB_NO_EVENTFD_SIGNAL_1
#include <linux/eventfd.h>
#define eventfd_signal(ctx)	eventfd_signal((ctx), 1)
#endif

#endif /* _MMSB_COMPAT_H */
