/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb io_uring passthrough: the ->uring_cmd file operation of /dev/mmsb
 * (MMSB_URING_SUBMIT and MMSB_URING_WAIT).  Part of the top layer with
 * main.c, which only installs it and releases a file's state.
 */
#ifndef _MMSB_URING_H
#define _MMSB_URING_H

struct io_uring_cmd;
struct mmsb_file;

int mmsb_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags);
int mmsb_uring_inflight_count(void);
void mmsb_uring_release(struct mmsb_file *mf);

#endif /* _MMSB_URING_H */
