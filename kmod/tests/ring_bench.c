// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb_ring_bench.ko: throughput of the mmsb MPMC ring against the
 * kernel's own bounded pointer queues, in one boot:
 *
 *   mmsb_ring      mmsb_ring_try_push() / mmsb_ring_try_pop(), lock-free
 *   ptr_ring       ptr_ring_produce() / ptr_ring_consume(): a spinlock
 *                  per side (include/linux/ptr_ring.h)
 *   kfifo+lock     kfifo_put() / kfifo_get() under one spinlock
 *   kfifo+2locks   the same with one spinlock per side, the way kfifo.h
 *                  allows several readers and writers
 *
 * Two cases per queue: one thread alternating push and pop, and two
 * producer plus two consumer kthreads, each bound to its own CPU, that
 * move items_mpmc items.  An "op" is one item through the queue (a push
 * and a pop).  Each round runs every queue once, in turn (starting with
 * a different one each round), so slow phases of the host hit all.
 * Two tables: the best round of each queue (noise only ever slows a run
 * down, so this is its least disturbed figure) and the median round.
 *
 * Everything runs at load time and the table goes to the kernel log;
 * init then returns 0 and the module does nothing until it is unloaded.
 * (Not -EAGAIN as crypto/tcrypt does: busybox insmod retries a failed
 * finit_module() with init_module(), which would run it all twice.)
 * Built and booted by scripts/bench-ring; under QEMU TCG only ratios
 * within one run mean anything.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/kfifo.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/ptr_ring.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>

#include "ring.h"

static unsigned int ring_size = 1024;
module_param(ring_size, uint, 0444);
MODULE_PARM_DESC(ring_size, "Slots in every queue (power of two, default 1024)");

static unsigned long items_single = 1000000;
module_param(items_single, ulong, 0444);
MODULE_PARM_DESC(items_single, "Items through the single-thread case (default 1000000)");

static unsigned long items_mpmc = 1000000;
module_param(items_mpmc, ulong, 0444);
MODULE_PARM_DESC(items_mpmc, "Items through the 2P/2C case (default 1000000)");

static unsigned int rounds = 7;
module_param(rounds, uint, 0444);
MODULE_PARM_DESC(rounds, "Rounds, best and median reported (default 7, max 15)");

#define MAX_ROUNDS	15
#define NPROD		2
#define NCONS		2

enum bench_q { Q_mmsb, Q_ptr_ring, Q_kfifo1, Q_kfifo2, NR_QUEUES };

static const char * const q_name[NR_QUEUES] = {
	"mmsb_ring", "ptr_ring", "kfifo+lock", "kfifo+2locks",
};

/* All queues at once; only the one being measured is touched. */
struct bench {
	struct mmsb_ring ring;
	struct ptr_ring pr;
	DECLARE_KFIFO_PTR(fifo, void *);
	spinlock_t plock ____cacheline_aligned_in_smp;
	spinlock_t clock ____cacheline_aligned_in_smp;

	/* 2P/2C run state */
	unsigned long per_producer;
	atomic_t producers_done ____cacheline_aligned_in_smp;
	atomic_t running;
	u64 end_ns;
	struct completion start, finished;
};

struct bench_thread {
	struct bench *b;
	struct task_struct *task;
};

static __always_inline bool q_push(struct bench *b, enum bench_q q, void *item)
{
	bool ok;

	switch (q) {
	case Q_mmsb:
		return !mmsb_ring_try_push(&b->ring, item);
	case Q_ptr_ring:
		return !ptr_ring_produce(&b->pr, item);
	default:	/* both kfifos: producers take plock */
		spin_lock(&b->plock);
		ok = kfifo_put(&b->fifo, item);
		spin_unlock(&b->plock);
		return ok;
	}
}

static __always_inline void *q_pop(struct bench *b, enum bench_q q)
{
	spinlock_t *lock = q == Q_kfifo1 ? &b->plock : &b->clock;
	void *item = NULL;

	switch (q) {
	case Q_mmsb:
		return mmsb_ring_try_pop(&b->ring);
	case Q_ptr_ring:
		return ptr_ring_consume(&b->pr);
	default:
		spin_lock(lock);
		if (!kfifo_get(&b->fifo, &item))
			item = NULL;
		spin_unlock(lock);
		return item;
	}
}

/* A failed push or pop: let the other side in, now and then the CPU. */
static __always_inline void backoff(unsigned long *fails)
{
	cpu_relax();
	if (!(++*fails & 1023))
		cond_resched();
}

static __always_inline u64 single_body(struct bench *b, enum bench_q q)
{
	unsigned long i, bad = 0;
	u64 t0 = ktime_get_ns();

	for (i = 1; i <= items_single; i++) {
		bad += !q_push(b, q, (void *)i);
		bad += q_pop(b, q) != (void *)i;
		if (!(i & 4095))
			cond_resched();
	}
	t0 = ktime_get_ns() - t0;
	if (bad)
		pr_err("%s: %lu lost items in the single-thread case\n",
		       q_name[q], bad);
	return t0;
}

static void thread_finished(struct bench *b)
{
	if (atomic_dec_and_test(&b->running)) {
		b->end_ns = ktime_get_ns();
		complete(&b->finished);
	}
}

static __always_inline int producer_body(struct bench_thread *t,
					 enum bench_q q)
{
	struct bench *b = t->b;
	unsigned long i, fails = 0;

	wait_for_completion(&b->start);
	for (i = 1; i <= b->per_producer; ) {
		if (q_push(b, q, (void *)i))
			i++;
		else
			backoff(&fails);
	}
	/* Orders our pushes before consumers see the count (acquire). */
	atomic_inc_return_release(&b->producers_done);
	thread_finished(b);
	return 0;
}

static __always_inline int consumer_body(struct bench_thread *t,
					 enum bench_q q)
{
	struct bench *b = t->b;
	unsigned long fails = 0;

	wait_for_completion(&b->start);
	for (;;) {
		if (q_pop(b, q))
			continue;
		/* All pushes done and still nothing: the queue is drained. */
		if (atomic_read_acquire(&b->producers_done) == NPROD &&
		    !q_pop(b, q))
			break;
		backoff(&fails);
	}
	thread_finished(b);
	return 0;
}

#define BENCH_QUEUE(name)						\
static int producer_##name(void *t)					\
{									\
	return producer_body(t, Q_##name);				\
}									\
static int consumer_##name(void *t)					\
{									\
	return consumer_body(t, Q_##name);				\
}									\
static u64 single_##name(struct bench *b)				\
{									\
	return single_body(b, Q_##name);				\
}

BENCH_QUEUE(mmsb)
BENCH_QUEUE(ptr_ring)
BENCH_QUEUE(kfifo1)
BENCH_QUEUE(kfifo2)

static const struct {
	int (*producer)(void *t);
	int (*consumer)(void *t);
	u64 (*single)(struct bench *b);
} q_fn[NR_QUEUES] = {
	[Q_mmsb] = { producer_mmsb, consumer_mmsb, single_mmsb },
	[Q_ptr_ring] = { producer_ptr_ring, consumer_ptr_ring, single_ptr_ring },
	[Q_kfifo1] = { producer_kfifo1, consumer_kfifo1, single_kfifo1 },
	[Q_kfifo2] = { producer_kfifo2, consumer_kfifo2, single_kfifo2 },
};

static int queue_init(struct bench *b, enum bench_q q)
{
	switch (q) {
	case Q_mmsb:
		return mmsb_ring_init(&b->ring, ring_size);
	case Q_ptr_ring:
		return ptr_ring_init(&b->pr, ring_size, GFP_KERNEL);
	default:
		spin_lock_init(&b->plock);
		spin_lock_init(&b->clock);
		return kfifo_alloc(&b->fifo, ring_size, GFP_KERNEL);
	}
}

static void queue_fini(struct bench *b, enum bench_q q)
{
	switch (q) {
	case Q_mmsb:
		mmsb_ring_cleanup(&b->ring, NULL);
		break;
	case Q_ptr_ring:
		ptr_ring_cleanup(&b->pr, NULL);
		break;
	default:
		kfifo_free(&b->fifo);
		break;
	}
}

/* 2P/2C: producers on CPUs 0, 1, consumers on 2, 3 (modulo online CPUs). */
static u64 run_mpmc(struct bench *b, enum bench_q q)
{
	struct bench_thread th[NPROD + NCONS] = { };
	unsigned int i, ncpu = num_online_cpus();
	u64 t0, ret = 0;

	b->per_producer = items_mpmc / NPROD;
	atomic_set(&b->producers_done, 0);
	atomic_set(&b->running, NPROD + NCONS);
	init_completion(&b->start);
	init_completion(&b->finished);

	for (i = 0; i < NPROD + NCONS; i++) {
		th[i].b = b;
		th[i].task = kthread_create(i < NPROD ? q_fn[q].producer :
					    q_fn[q].consumer, &th[i],
					    "ring_bench/%u", i);
		if (IS_ERR(th[i].task)) {
			pr_err("cannot start threads: %ld\n", PTR_ERR(th[i].task));
			th[i].task = NULL;
			break;
		}
		get_task_struct(th[i].task);
		kthread_bind(th[i].task, i % ncpu);
	}
	if (i == NPROD + NCONS) {
		for (i = 0; i < NPROD + NCONS; i++)
			wake_up_process(th[i].task);
		t0 = ktime_get_ns();
		complete_all(&b->start);
		wait_for_completion(&b->finished);
		ret = b->end_ns - t0;
	}
	/* Unwoken threads exit without running; the others have finished. */
	for (i = 0; i < NPROD + NCONS && th[i].task; i++) {
		kthread_stop(th[i].task);
		put_task_struct(th[i].task);
	}
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Items per second, from the round time in ns. */
static u64 rate(u64 ns, unsigned long items)
{
	return ns ? div64_u64((u64)items * NSEC_PER_SEC, ns) : 0;
}

/* x / y as "a.bc" */
static void ratio(char *buf, size_t len, u64 x, u64 y)
{
	u64 r = y ? div64_u64(x * 100, y) : 0;

	snprintf(buf, len, "%llu.%02llu", r / 100, r % 100);
}

/* Table of round @nth (0: best) of each queue, sorted by time. */
static void print_table(const char *what,
			u64 single_ns[NR_QUEUES][MAX_ROUNDS],
			u64 mpmc_ns[NR_QUEUES][MAX_ROUNDS], unsigned int nth)
{
	u64 single[NR_QUEUES], mpmc[NR_QUEUES];
	char r1[24], r2[24];
	unsigned int k;

	for (k = 0; k < NR_QUEUES; k++) {
		sort(single_ns[k], rounds, sizeof(u64), cmp_u64, NULL);
		sort(mpmc_ns[k], rounds, sizeof(u64), cmp_u64, NULL);
		single[k] = rate(single_ns[k][nth], items_single);
		mpmc[k] = rate(mpmc_ns[k][nth], items_mpmc);
	}
	pr_info("%-12s %14s %14s %10s %10s  (%s round)\n", "queue",
		"single ops/s", "2P/2C ops/s", "single/pr", "2P2C/pr", what);
	for (k = 0; k < NR_QUEUES; k++) {
		ratio(r1, sizeof(r1), single[k], single[Q_ptr_ring]);
		ratio(r2, sizeof(r2), mpmc[k], mpmc[Q_ptr_ring]);
		pr_info("%-12s %14llu %14llu %10s %10s\n", q_name[k],
			single[k], mpmc[k], r1, r2);
	}
}

static int __init ring_bench_init(void)
{
	static u64 single_ns[NR_QUEUES][MAX_ROUNDS], mpmc_ns[NR_QUEUES][MAX_ROUNDS];
	struct bench *b;
	unsigned int r, i, k;
	int ret = 0;

	if (!rounds || rounds > MAX_ROUNDS || !items_single ||
	    items_mpmc < NPROD || !ring_size ||
	    ring_size > MMSB_RING_MAX_CAPACITY ||
	    !is_power_of_2(ring_size))
		return -EINVAL;
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;

	pr_info("%u slots, %lu items single-thread, %lu items %dP/%dC on %u CPUs, %u rounds\n",
		ring_size, items_single, items_mpmc, NPROD, NCONS,
		num_online_cpus(), rounds);
	for (r = 0; r < rounds && !ret; r++) {
		/* Each round starts with the next queue: no fixed position. */
		for (i = 0; i < NR_QUEUES; i++) {
			k = (r + i) % NR_QUEUES;
			ret = queue_init(b, k);
			if (ret)
				break;
			single_ns[k][r] = q_fn[k].single(b);
			mpmc_ns[k][r] = run_mpmc(b, k);
			queue_fini(b, k);
			if (!mpmc_ns[k][r]) {
				ret = -ECHILD;
				break;
			}
			pr_info("round %u %-12s single %llu ns  %dP/%dC %llu ns\n",
				r, q_name[k], single_ns[k][r], NPROD, NCONS,
				mpmc_ns[k][r]);
		}
	}
	kfree(b);
	if (ret) {
		pr_err("benchmark failed: %d\n", ret);
		return ret;
	}

	print_table("best", single_ns, mpmc_ns, 0);
	print_table("median", single_ns, mpmc_ns, rounds / 2);
	pr_info("done\n");
	return 0;
}
module_init(ring_bench_init);

static void __exit ring_bench_exit(void)
{
}
module_exit(ring_bench_exit);

MODULE_DESCRIPTION("Throughput of the mmsb ring against ptr_ring and kfifo");
MODULE_LICENSE("GPL");
