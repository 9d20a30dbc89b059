/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb submission in progress, between the submission path and the
 * SUBMIT ioctl (submit.c) and the parked submissions (park.c).  Nothing
 * else includes this file.
 */
#ifndef _MMSB_SUBMISSION_H
#define _MMSB_SUBMISSION_H

#include <linux/types.h>

#include "delta.h"

struct mmsb_batch;
struct mmsb_tick;
struct mmsb_file;

/**
 * struct mmsb_submission - one submission in progress
 * @deltas: the bus's submission state
 * @tick: the bus's tick
 * @uptr: the caller's delta array
 * @b: writes the records into chunks
 * @base_id: delta i gets the id @base_id + i + 1
 * @n: deltas in @uptr
 * @next: the index of the next delta to read
 * @nonblock: a full queue stops the submission instead of waiting
 * @killable: only a fatal signal ends a wait for room (the submitter
 *	cannot restart: mmsb_submit_records())
 * @park: an interrupted wait for room keeps the open chunk (the ioctl
 *	parks the submission, see struct mmsb_park) rather than refusing
 *	what is left with -EINTR (io_uring)
 * @queued: deltas queued so far
 * @stop: the error that stopped the queue (-EAGAIN, -EINTR), or 0
 * @cancel: an atomic submission that cannot go in: -ECANCELED (a delta
 *	was refused) or -E2BIG (more than one chunk), else 0
 * @fault: an output could not be written back (-EFAULT) or 0
 */
struct mmsb_submission {
	struct mmsb_delta_ctx *deltas;
	struct mmsb_tick *tick;
	struct mmsb_delta __user *uptr;
	struct mmsb_builder b;
	u64 base_id;
	u32 n;
	u32 next;
	bool nonblock;
	bool killable;
	bool park;
	u32 queued;
	int stop;
	int cancel;
	int fault;
};

int mmsb_submit_fault(const struct mmsb_submission *s);
void mmsb_submit_result(struct mmsb_submission *s, u32 index, u64 id,
			s32 status);
void mmsb_submit_reject(struct mmsb_submission *s, u32 index, int status);
void mmsb_submit_refuse_rest(struct mmsb_submission *s, int stop);
struct mmsb_batch *mmsb_submit_end(struct mmsb_submission *s);

struct mmsb_park;
struct mmsb_submit;

struct mmsb_park *mmsb_park_take(struct mmsb_file *mf, void __user *uarg,
				 const struct mmsb_submit *sub);
bool mmsb_park_resume(struct mmsb_park *p, struct mmsb_submission *s,
		      struct mmsb_file *mf, struct mmsb_page_cache *local);
int mmsb_park(struct mmsb_file *mf, void __user *uarg,
	      struct mmsb_submit *sub, struct mmsb_submission *s, bool armed);

#endif /* _MMSB_SUBMISSION_H */
