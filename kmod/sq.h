/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb mapped submission queue: an open file's SQ and CQ in kernel
 * memory, mapped writable into its process (uapi: "Mapped submission
 * queue").  sq.c owns them: setup, the mapping, consumption (by the
 * tick, by SQ_ENTER, by the queue's poller), the completions and the
 * release.  The tick sees only struct mmsb_sq_list and mmsb_sq_tick().
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
struct mmsb_file;
struct mmsb_sq;
struct mmsb_tick;
struct vm_area_struct;

/**
 * struct mmsb_sq_list - the queues of a bus, which its tick consumes
 * @lock: protects @head and @nr; taken by the tick inside its run_lock
 * @head: struct mmsb_sq, via ->node
 * @nr: queues on @head
 */
struct mmsb_sq_list {
	struct mutex lock;	/* @head, @nr */
	struct list_head head;
	unsigned int nr;
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
bool __mmsb_sq_tick(struct mmsb_sq_list *list);

/**
 * mmsb_sq_tick() - the tick consumes every queue of its bus
 * @list: the bus's queues, or NULL
 *
 * Inline, so that a bus without a queue pays a load per tick, not a
 * call.  See __mmsb_sq_tick().
 *
 * Return: whether a queue is set up.
 */
static inline bool mmsb_sq_tick(struct mmsb_sq_list *list)
{
	if (!list || !READ_ONCE(list->nr))
		return false;
	return __mmsb_sq_tick(list);
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
