/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb mapped submission queue: an open file's SQ and CQ in kernel
 * memory, mapped writable into its process (uapi: "Mapped submission
 * queue").  sq.c owns them: setup, the mapping, consumption (by the
 * tick, by SQ_ENTER, by the queue's poller), the completions and the
 * release; sq_apply.c, the tick's in-place apply of their SQEs.  The
 * tick sees only struct mmsb_sq_list, struct mmsb_sq_apply and
 * mmsb_sq_snapshot(), mmsb_sq_tick(), mmsb_sq_apply() and
 * mmsb_sq_tick_end().
 */
#ifndef _MMSB_SQ_H
#define _MMSB_SQ_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/compiler.h>
#include <linux/types.h>

#include <linux/mmsb.h>

struct cred;
struct file;
struct mmsb_delta_ctx;
struct mmsb_engine_stats;
struct mmsb_file;
struct mmsb_page;
struct mmsb_sq;
struct mmsb_tick;
struct vm_area_struct;

/**
 * struct mmsb_sq_list - the queues of a bus, which its tick consumes
 * @lock: protects @head and @nr; taken by the tick inside its run_lock
 * @head: struct mmsb_sq, via ->node
 * @nr: queues on @head
 * @round: the number of the last round that applied SQEs in place, under
 *	the tick's run_lock (struct mmsb_page's @sq.round)
 */
struct mmsb_sq_list {
	struct mutex lock;	/* @head, @nr */
	struct list_head head;
	unsigned int nr;
	u64 round;
};

/**
 * struct mmsb_sq_apply - what a tick lends the queues to apply their SQEs
 *	in place (mmsb_sq_apply())
 * @open: called before the first SQE is applied if @tick is 0: opens the
 *	tick's writes and returns its number, or returns 0 if this tick
 *	cannot take SQEs in place (an edge appeared: propagation sees only
 *	what the engine applied); the SQEs then go through the tick's queue
 * @tick: the tick's number once its writes are open, else 0
 * @left: deltas the tick may still take (its batch_max)
 * @pages: room for @max_pages pages, free while the tick lends it
 * @max_pages: entries of @pages; a round takes at most this many SQEs
 * @stats: the tick's counters, added to
 * @deadline: ktime_get_ns() past which no round starts (the budget)
 * @handled: out: SQEs the tick handled (applied, -ESTALE or -EIDRM)
 * @overrun: out: rounds stopped at @deadline
 * @more: out: rounds stopped before the SQEs published when the tick
 *	began were all taken (@deadline, or @left reached 0)
 * @again: out: a round stopped at a page an earlier round (or the
 *	drain) of the tick changed: a tick shows each page once, so the
 *	SQE waits for the next tick, which should follow at once
 * @held: out: the queues whose CQEs wait for mmsb_sq_tick_end(), each
 *	held by a reference; NULL at first
 */
struct mmsb_sq_apply {
	u64 (*open)(struct mmsb_sq_apply *a);
	u64 tick;
	u32 left;
	struct mmsb_page **pages;
	u32 max_pages;
	struct mmsb_engine_stats *stats;
	u64 deadline;
	u32 handled;
	bool overrun;
	bool more;
	bool again;
	struct mmsb_sq *held;
};

/**
 * struct mmsb_sq_bus - what a queue needs of its bus
 * @list: the bus's queues
 * @deltas: submission state (builder, ids, the memory limit)
 * @tick: the tick the deltas are queued to
 * @name: the bus's name, for the poller's ("mmsb-sqpoll")
 */
struct mmsb_sq_bus {
	struct mmsb_sq_list *list;
	struct mmsb_delta_ctx *deltas;
	struct mmsb_tick *tick;
	const char *name;
};

void mmsb_sq_list_init(struct mmsb_sq_list *list);
bool mmsb_sq_tick(struct mmsb_sq_list *list);
bool mmsb_sq_snapshot(struct mmsb_sq_list *list);
bool mmsb_sq_apply(struct mmsb_sq_list *list, struct mmsb_sq_apply *a);
void mmsb_sq_tick_end(struct mmsb_sq_apply *a);

/* Does the bus have a queue?  A load, for the tick's every run. */
static inline bool mmsb_sq_any(struct mmsb_sq_list *list)
{
	return list && READ_ONCE(list->nr);
}

struct mmsb_sq *mmsb_sq_create(const struct mmsb_sq_bus *bus,
			       const struct cred *cred, bool admin,
			       struct mmsb_sq_setup *p);
void mmsb_sq_destroy(struct mmsb_sq *sq);
int mmsb_sq_consume(struct mmsb_sq *sq, bool in_tick);
void *mmsb_sq_mem(struct mmsb_sq *sq);
u32 mmsb_sq_ready(struct mmsb_sq *sq);

int mmsb_sq_mmap(struct mmsb_file *mf, struct vm_area_struct *vma);
long mmsb_ioctl_sq_setup(struct file *file, void __user *uarg);
long mmsb_ioctl_sq_enter(struct file *file, void __user *uarg);
void mmsb_sq_release(struct mmsb_file *mf);

#endif /* _MMSB_SQ_H */
