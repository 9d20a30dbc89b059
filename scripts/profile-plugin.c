// SPDX-License-Identifier: GPL-2.0
/*
 * profile-plugin.c: a QEMU TCG plugin for scripts/profile.  Counts the
 * executions of every translation block between two executions of the
 * marker instruction "xchg %bx,%bx" (66 87 db) that mmsb-bench runs
 * around each row's timed part (bench_profile_mark()), and writes each
 * such interval to PREFIX.N, N = 0, 1, ...: a line per block,
 * "vaddr instructions executions".  Under -icount shift=0 the sum of
 * instructions times executions is the interval's guest time in ns.
 *
 * Written against QEMU's plugin API, version 1 (QEMU 7.2 as Debian 12
 * ships it); the few functions it uses are declared here, as QEMU
 * exports them to the plugins it loads.
 *
 * Plugin argument: prefix=PATH (default /tmp/mmsb-prof).  Counters are
 * plain adds from the vCPU threads: exact under icount, which runs the
 * vCPUs in turn on one thread, approximate otherwise.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

typedef struct {
	const char *target_name;
	struct {
		int min, cur;
	} version;
	bool system_emulation;
} qemu_info_t;

enum { QEMU_PLUGIN_CB_NO_REGS };
enum { QEMU_PLUGIN_INLINE_ADD_U64 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
	int op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
	void (*cb)(unsigned int vcpu, void *data), int flags, void *data);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t id, void *data), void *data);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb,
						 size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* A translated block: where it starts, its length, how often it ran. */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t count;
	struct block *next;
};

static struct block *blocks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *prefix = "/tmp/mmsb-prof";
static bool counting;
static int dumps;

static int by_vaddr(const void *a, const void *b)
{
	const struct block *x = *(struct block *const *)a;
	const struct block *y = *(struct block *const *)b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* Write the blocks that ran since the counters were zeroed. */
static void dump(void)
{
	struct block *b, **v;
	size_t n = 0, i = 0;
	char name[4096];
	FILE *f;

	for (b = blocks; b; b = b->next)
		n += !!b->count;
	v = malloc((n ?: 1) * sizeof(*v));
	snprintf(name, sizeof(name), "%s.%d", prefix, dumps++);
	f = fopen(name, "w");
	if (!v || !f) {
		fprintf(stderr, "profile-plugin: cannot write %s\n", name);
		exit(1);
	}
	for (b = blocks; b; b = b->next)
		if (b->count)
			v[i++] = b;
	qsort(v, n, sizeof(*v), by_vaddr);
	for (i = 0; i < n; i++)
		fprintf(f, "%llx %llu %llu\n", (unsigned long long)v[i]->vaddr,
			(unsigned long long)v[i]->insns,
			(unsigned long long)v[i]->count);
	fclose(f);
	free(v);
}

/* The marker ran: an interval starts, or ends and is written. */
static void mark(unsigned int vcpu, void *data)
{
	struct block *b;

	pthread_mutex_lock(&lock);
	if (counting)
		dump();
	for (b = blocks; b; b = b->next)
		b->count = 0;
	counting = !counting;
	pthread_mutex_unlock(&lock);
}

static void translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	struct block *b = calloc(1, sizeof(*b));

	if (!b)
		abort();
	b->vaddr = qemu_plugin_tb_vaddr(tb);
	b->insns = n;
	pthread_mutex_lock(&lock);
	b->next = blocks;
	blocks = b;
	pthread_mutex_unlock(&lock);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &b->count, 1);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const unsigned char *d = qemu_plugin_insn_data(insn);

		if (qemu_plugin_insn_size(insn) == 3 && d[0] == 0x66 &&
		    d[1] == 0x87 && d[2] == 0xdb)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, mark,
				QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

static void at_exit(qemu_plugin_id_t id, void *data)
{
	if (counting)
		fprintf(stderr, "profile-plugin: an interval never ended\n");
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
			int argc, char **argv)
{
	if (argc > 0 && !strncmp(argv[0], "prefix=", 7))
		prefix = argv[0] + 7;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translate);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
