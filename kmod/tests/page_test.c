// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite mmsb_page: pages (kmod/page.c) without a device: id
 * allocation, references and free while referenced, accounting against
 * the limit, access checks, listing, and the write section's seqcount
 * against a concurrent reader.
 *
 * Each case gets a fresh table of 16 frames' worth of bytes, pages of
 * up to 8 frames; the exit hook destroys it, which WARNs on a leak.
 */
#include <kunit/test.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/slab.h>

#include "page.h"

#define LIMIT_FRAMES	16
#define MAX_FRAMES	8

static int mmsb_page_test_init(struct kunit *test)
{
	struct mmsb_page_table *t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, t);
	KUNIT_ASSERT_EQ(test, 0, mmsb_page_table_init(t, LIMIT_FRAMES * PAGE_SIZE,
						      MAX_FRAMES * PAGE_SIZE));
	test->priv = t;
	return 0;
}

static void mmsb_page_test_exit(struct kunit *test)
{
	mmsb_page_table_destroy(test->priv);
}

static void put_cred_action(void *cred)
{
	abort_creds(cred);
}

/* Credentials with fsuid @uid, fsgid @gid and @ngroups groups @groups. */
static const struct cred *test_cred(struct kunit *test, u32 uid, u32 gid,
				    const u32 *groups, int ngroups)
{
	struct group_info *gi;
	struct cred *c;
	int i;

	c = prepare_creds();
	KUNIT_ASSERT_NOT_NULL(test, c);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test, put_cred_action, c));
	gi = groups_alloc(ngroups);
	KUNIT_ASSERT_NOT_NULL(test, gi);
	for (i = 0; i < ngroups; i++)
		gi->gid[i] = KGIDT_INIT(groups[i]);
	groups_sort(gi);
	put_group_info(c->group_info);
	c->group_info = gi;
	c->fsuid = KUIDT_INIT(uid);
	c->fsgid = KGIDT_INIT(gid);
	return c;
}

/* A page of @size bytes owned by 0:0, mode @mode; the caller's ref dropped. */
static struct mmsb_page *create(struct kunit *test, size_t size, umode_t mode)
{
	const struct cred *root = test_cred(test, 0, 0, NULL, 0);
	struct mmsb_page *page;

	page = mmsb_page_create(test->priv, size, mode, 0, root);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(page), "mmsb_page_create(): %ld", PTR_ERR(page));
	mmsb_page_put(page);
	return page;
}

static int free_as_root(struct kunit *test, u64 id)
{
	return mmsb_page_free(test->priv, id, test_cred(test, 0, 0, NULL, 0),
			      false);
}

/* 1, 2, 3; free 2; the next is 4 and 2 stays gone. */
static void mmsb_page_test_ids(struct kunit *test)
{
	struct mmsb_page_table *t = test->priv;
	struct mmsb_page *p;
	int i;

	for (i = 1; i <= 3; i++)
		KUNIT_EXPECT_EQ(test, create(test, 1, 0)->id, i);
	KUNIT_EXPECT_EQ(test, 0, free_as_root(test, 2));
	KUNIT_EXPECT_EQ(test, create(test, 1, 0)->id, 4);
	KUNIT_EXPECT_NULL(test, mmsb_page_get(t, 2));
	KUNIT_EXPECT_NULL(test, mmsb_page_get(t, 0));
	KUNIT_EXPECT_NULL(test, mmsb_page_get(t, U64_MAX));
	p = mmsb_page_get(t, 4);
	KUNIT_ASSERT_NOT_NULL(test, p);
	KUNIT_EXPECT_EQ(test, p->id, 4);
	KUNIT_EXPECT_EQ(test, mmsb_page_mmap_offset(p), 4ULL << PAGE_SHIFT);
	mmsb_page_put(p);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_pages(t), 3);
}

/* Past MMSB_PAGE_ID_MAX: -ENOSPC, for good, and nothing stays charged. */
static void mmsb_page_test_ids_exhausted(struct kunit *test)
{
	struct mmsb_page_table *t = test->priv;
	const struct cred *c = test_cred(test, 0, 0, NULL, 0);
	struct mmsb_page *p;

	atomic64_set(&t->next_id, MMSB_PAGE_ID_MAX - 1);
	KUNIT_EXPECT_EQ(test, create(test, 1, 0)->id, MMSB_PAGE_ID_MAX);
	p = mmsb_page_create(t, 1, 0, 0, c);
	KUNIT_EXPECT_EQ(test, PTR_ERR(p), -ENOSPC);
	p = mmsb_page_create(t, 1, 0, 0, c);
	KUNIT_EXPECT_EQ(test, PTR_ERR(p), -ENOSPC);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(t), PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_pages(t), 1);
}

/*
 * table ref + ours: free drops the table's; the id is gone, the memory
 * stays charged until our put.
 */
static void mmsb_page_test_free_while_referenced(struct kunit *test)
{
	struct mmsb_page_table *t = test->priv;
	struct mmsb_page *p = create(test, 3 * PAGE_SIZE, 0);
	u64 id = p->id;

	KUNIT_EXPECT_EQ(test, refcount_read(&p->ref), 1);
	KUNIT_ASSERT_PTR_EQ(test, mmsb_page_get(t, id), p);
	KUNIT_EXPECT_EQ(test, refcount_read(&p->ref), 2);
	KUNIT_EXPECT_PTR_EQ(test, mmsb_page_hold(p), p);
	KUNIT_EXPECT_EQ(test, refcount_read(&p->ref), 3);
	mmsb_page_put(p);

	KUNIT_EXPECT_EQ(test, 0, free_as_root(test, id));
	KUNIT_EXPECT_EQ(test, refcount_read(&p->ref), 1);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(p->live));
	KUNIT_EXPECT_EQ(test, p->hdr->flags & MMSB_HDR_LIVE, 0);
	KUNIT_EXPECT_NULL(test, mmsb_page_get(t, id));
	KUNIT_EXPECT_EQ(test, -ENOENT, free_as_root(test, id));
	KUNIT_EXPECT_EQ(test, mmsb_page_table_pages(t), 0);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(t), 4 * PAGE_SIZE);
	/* Still ours to read. */
	KUNIT_EXPECT_EQ(test, p->data[3 * PAGE_SIZE - 1], 0);

	mmsb_page_put(p);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(t), 0);
}

/* Only the owner or an admin frees; never twice. */
static void mmsb_page_test_free_permission(struct kunit *test)
{
	struct mmsb_page_table *t = test->priv;
	const struct cred *other = test_cred(test, 1000, 0, NULL, 0);
	u64 id = create(test, 1, 0666)->id;

	KUNIT_EXPECT_EQ(test, -ENOENT, mmsb_page_free(t, id + 1, other, true));
	KUNIT_EXPECT_EQ(test, -EPERM, mmsb_page_free(t, id, other, false));
	KUNIT_EXPECT_EQ(test, mmsb_page_table_pages(t), 1);
	KUNIT_EXPECT_EQ(test, 0, mmsb_page_free(t, id, other, true));
	KUNIT_EXPECT_EQ(test, -ENOENT, mmsb_page_free(t, id, other, true));
}

/* 16 frames: 16 one-frame pages fit, the 17th and a 2-frame one do not. */
static void mmsb_page_test_limit(struct kunit *test)
{
	struct mmsb_page_table *t = test->priv;
	const struct cred *c = test_cred(test, 0, 0, NULL, 0);
	u64 first = 0;
	int i;

	for (i = 0; i < LIMIT_FRAMES; i++) {
		u64 id = create(test, PAGE_SIZE - MMSB_PAGE_DATA_OFFSET, 0)->id;

		first = first ? first : id;
	}
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(t), LIMIT_FRAMES * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, PTR_ERR(mmsb_page_create(t, 1, 0, 0, c)), -ENOMEM);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(t), LIMIT_FRAMES * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, 0, free_as_root(test, first));
	KUNIT_EXPECT_EQ(test, PTR_ERR(mmsb_page_create(t, PAGE_SIZE, 0, 0, c)),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, create(test, 1, 0)->size, 1);
	KUNIT_EXPECT_EQ(test, mmsb_page_table_pages(t), LIMIT_FRAMES);
}

struct create_case {
	const char *name;
	size_t size;
	umode_t mode;
	u32 flags;
	long err;		/* 0 or the -errno */
	size_t map_size;	/* when created */
	umode_t want_mode;
};

static const struct create_case create_cases[] = {
	{ "size_zero", 0, 0, 0, -EINVAL },
	{ "size_over_max", MAX_FRAMES * PAGE_SIZE + 1, 0, 0, -EINVAL },
	{ "mode_over_0777", 1, 01000, 0, -EINVAL },
	{ "unknown_flag", 1, 0, 1U << 1, -EINVAL },
	{ "one_byte", 1, 0, 0, 0, PAGE_SIZE, 0600 },
	{ "one_frame", PAGE_SIZE - MMSB_PAGE_DATA_OFFSET, 0640, 0, 0, PAGE_SIZE, 0640 },
	{ "frame_plus_one", PAGE_SIZE - MMSB_PAGE_DATA_OFFSET + 1, 0444, 0, 0,
	  2 * PAGE_SIZE, 0444 },
	{ "max", MAX_FRAMES * PAGE_SIZE, 0, MMSB_PAGE_EVICTABLE, 0,
	  (MAX_FRAMES + 1) * PAGE_SIZE, 0600 },
};

static void create_case_desc(const struct create_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(create, create_cases, create_case_desc);

static void mmsb_page_test_create(struct kunit *test)
{
	const struct create_case *c = test->param_value;
	const struct cred *cred = test_cred(test, 1234, 5678, NULL, 0);
	struct mmsb_page_table *t = test->priv;
	struct mmsb_page *p;

	p = mmsb_page_create(t, c->size, c->mode, c->flags, cred);
	if (c->err) {
		KUNIT_EXPECT_EQ(test, PTR_ERR(p), c->err);
		KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(t), 0);
		return;
	}
	KUNIT_ASSERT_FALSE(test, IS_ERR(p));
	KUNIT_EXPECT_EQ(test, p->size, c->size);
	KUNIT_EXPECT_EQ(test, p->map_size, c->map_size);
	KUNIT_EXPECT_EQ(test, p->mode, c->want_mode);
	KUNIT_EXPECT_EQ(test, p->flags, c->flags);
	KUNIT_EXPECT_TRUE(test, uid_eq(p->uid, KUIDT_INIT(1234)));
	KUNIT_EXPECT_TRUE(test, gid_eq(p->gid, KGIDT_INIT(5678)));
	KUNIT_EXPECT_PTR_EQ(test, (void *)p->data,
			    (void *)p->hdr + MMSB_PAGE_DATA_OFFSET);
	KUNIT_EXPECT_EQ(test, p->hdr->id, p->id);
	KUNIT_EXPECT_EQ(test, p->hdr->size, c->size);
	KUNIT_EXPECT_EQ(test, p->hdr->flags, MMSB_HDR_LIVE);
	KUNIT_EXPECT_EQ(test, p->hdr->seq, 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(p->data, 0, c->map_size -
					   MMSB_PAGE_DATA_OFFSET));
	KUNIT_EXPECT_EQ(test, mmsb_page_table_bytes(t), c->map_size);
	mmsb_page_put(p);
}

/* Caller 1000:1000; the page is 0:100 (or owned by 1000 where said). */
enum who { OWNER, GROUP, SUPP_GROUP, OTHER };

struct perm_case {
	const char *name;
	umode_t mode;
	enum who who;
	bool admin;
	int may;
	int err;
};

static const struct perm_case perm_cases[] = {
	{ "owner_read_0600", 0600, OWNER, false, MMSB_MAY_READ, 0 },
	{ "owner_write_0600", 0600, OWNER, false, MMSB_MAY_WRITE, 0 },
	{ "owner_write_0400", 0400, OWNER, false, MMSB_MAY_WRITE, -EACCES },
	{ "owner_not_other_0006", 0006, OWNER, false, MMSB_MAY_READ, -EACCES },
	{ "group_read_0640", 0640, GROUP, false, MMSB_MAY_READ, 0 },
	{ "group_write_0640", 0640, GROUP, false, MMSB_MAY_WRITE, -EACCES },
	{ "supp_group_read_0640", 0640, SUPP_GROUP, false, MMSB_MAY_READ, 0 },
	{ "group_not_other_0604", 0604, GROUP, false, MMSB_MAY_READ, -EACCES },
	{ "other_read_0600", 0600, OTHER, false, MMSB_MAY_READ, -EACCES },
	{ "other_read_0644", 0644, OTHER, false, MMSB_MAY_READ, 0 },
	{ "other_write_0644", 0644, OTHER, false, MMSB_MAY_WRITE, -EACCES },
	{ "other_rw_0666", 0666, OTHER, false, MMSB_MAY_READ | MMSB_MAY_WRITE, 0 },
	{ "other_rw_0664", 0664, OTHER, false, MMSB_MAY_READ | MMSB_MAY_WRITE,
	  -EACCES },
	{ "admin_0000", 0000, OTHER, true, MMSB_MAY_READ | MMSB_MAY_WRITE, 0 },
};

static void perm_case_desc(const struct perm_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(perm, perm_cases, perm_case_desc);

static void mmsb_page_test_permission(struct kunit *test)
{
	static const u32 supp[] = { 7, 100, 4000 };
	const struct perm_case *c = test->param_value;
	const struct cred *caller, *owner;
	struct mmsb_page *p;

	owner = test_cred(test, c->who == OWNER ? 1000 : 0,
			  c->who == GROUP ? 1000 : 100, NULL, 0);
	caller = test_cred(test, 1000, 1000, supp,
			   c->who == SUPP_GROUP ? ARRAY_SIZE(supp) : 0);
	p = mmsb_page_create(test->priv, 1, 0600, 0, owner);
	KUNIT_ASSERT_FALSE(test, IS_ERR(p));
	/* Create turns mode 0 into 0600: set the bits under test here. */
	p->mode = c->mode;
	KUNIT_EXPECT_EQ(test, mmsb_page_permission(p, caller, c->admin, c->may),
			c->err);
	mmsb_page_put(p);
}

/* Ids 1..5 in pages of 2: [1 2] next 3, [3 4] next 5, [5] next 0. */
static void mmsb_page_test_list(struct kunit *test)
{
	struct mmsb_page_table *t = test->priv;
	u64 ids[2], next;
	int i;

	for (i = 0; i < 5; i++)
		create(test, 1, 0);
	KUNIT_EXPECT_EQ(test, mmsb_page_list(t, 0, ids, 2, &next), 2);
	KUNIT_EXPECT_EQ(test, ids[0], 1);
	KUNIT_EXPECT_EQ(test, ids[1], 2);
	KUNIT_EXPECT_EQ(test, next, 3);
	KUNIT_EXPECT_EQ(test, mmsb_page_list(t, next, ids, 2, &next), 2);
	KUNIT_EXPECT_EQ(test, next, 5);
	KUNIT_EXPECT_EQ(test, mmsb_page_list(t, next, ids, 2, &next), 1);
	KUNIT_EXPECT_EQ(test, ids[0], 5);
	KUNIT_EXPECT_EQ(test, next, 0);
	/* [1 . 3 . 5] from 2: [3 5], done. */
	KUNIT_EXPECT_EQ(test, 0, free_as_root(test, 2));
	KUNIT_EXPECT_EQ(test, 0, free_as_root(test, 4));
	KUNIT_EXPECT_EQ(test, mmsb_page_list(t, 2, ids, 2, &next), 2);
	KUNIT_EXPECT_EQ(test, ids[0], 3);
	KUNIT_EXPECT_EQ(test, ids[1], 5);
	KUNIT_EXPECT_EQ(test, next, 0);
	KUNIT_EXPECT_EQ(test, mmsb_page_list(t, 6, ids, 2, &next), 0);
	KUNIT_EXPECT_EQ(test, mmsb_page_list(t, U64_MAX, ids, 2, &next), 0);
	KUNIT_EXPECT_EQ(test, next, 0);
}

/* seq 0 -> begin -> 1 -> end -> 2, epoch and delta id in both places. */
static void mmsb_page_test_write_section(struct kunit *test)
{
	struct mmsb_page *p = create(test, 100, 0);

	mmsb_page_write_begin(p);
	KUNIT_EXPECT_EQ(test, p->hdr->seq, 1);
	p->data[99] = 0x5a;
	mmsb_page_write_end(p, 1, 77);
	KUNIT_EXPECT_EQ(test, p->hdr->seq, 2);
	KUNIT_EXPECT_EQ(test, p->epoch, 1);
	KUNIT_EXPECT_EQ(test, p->hdr->epoch, 1);
	KUNIT_EXPECT_EQ(test, p->last_delta_id, 77);
	KUNIT_EXPECT_EQ(test, p->hdr->last_delta_id, 77);
	KUNIT_EXPECT_EQ(test, p->data[99], 0x5a);
}

/* A writer fills the page with one byte value per epoch (value = epoch). */
static int torn_writer(void *arg)
{
	struct mmsb_page *p = arg;
	u64 epoch = 0;

	while (!kthread_should_stop()) {
		epoch++;
		mmsb_page_write_begin(p);
		memset(p->data, (u8)epoch, p->size);
		mmsb_page_write_end(p, epoch, epoch);
		cond_resched();
	}
	return 0;
}

/*
 * The reader side of the uapi protocol, in kernel terms: every copy it
 * accepts is one epoch's bytes, never a mix.  The writer must really
 * have run during the reads: the reader accepted copies of more than
 * one epoch and had to retry (it met a write section).
 */
static void mmsb_page_test_torn_reads(struct kunit *test)
{
	struct mmsb_page *p = create(test, 2 * PAGE_SIZE, 0);
	unsigned long torn = 0, retries = 0, reads = 0, epochs = 0;
	unsigned long end = jiffies + msecs_to_jiffies(500);
	struct task_struct *w;
	u64 epoch, last = 0;
	u8 *buf;
	u32 seq;

	if (num_online_cpus() < 2)
		kunit_skip(test, "needs 2 CPUs, have %u", num_online_cpus());
	buf = kunit_kmalloc(test, p->size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	w = kthread_run(torn_writer, p, "mmsb-torn-writer");
	KUNIT_ASSERT_FALSE(test, IS_ERR(w));

	while (time_before(jiffies, end)) {
		/* Pairs with smp_store_release() in mmsb_page_write_end(). */
		seq = smp_load_acquire(&p->hdr->seq);
		if (seq & 1) {
			retries++;
			continue;
		}
		memcpy(buf, p->data, p->size);
		epoch = READ_ONCE(p->hdr->epoch);
		/* Pairs with smp_wmb() in mmsb_page_write_begin(). */
		smp_rmb();
		if (READ_ONCE(p->hdr->seq) != seq) {
			retries++;
			continue;
		}
		reads++;
		if (memchr_inv(buf, (u8)epoch, p->size))
			torn++;
		epochs += epoch != last;
		last = epoch;
		cond_resched();
	}
	kthread_stop(w);
	KUNIT_EXPECT_EQ(test, torn, 0);
	KUNIT_EXPECT_GT(test, reads, 0);
	KUNIT_EXPECT_GE_MSG(test, epochs, 2, "%lu reads saw %lu epochs",
			    reads, epochs);
	KUNIT_EXPECT_GT_MSG(test, retries, 0, "%lu reads, no retry", reads);
}

static struct kunit_case mmsb_page_test_cases[] = {
	KUNIT_CASE(mmsb_page_test_ids),
	KUNIT_CASE(mmsb_page_test_ids_exhausted),
	KUNIT_CASE(mmsb_page_test_free_while_referenced),
	KUNIT_CASE(mmsb_page_test_free_permission),
	KUNIT_CASE(mmsb_page_test_limit),
	KUNIT_CASE_PARAM(mmsb_page_test_create, create_gen_params),
	KUNIT_CASE_PARAM(mmsb_page_test_permission, perm_gen_params),
	KUNIT_CASE(mmsb_page_test_list),
	KUNIT_CASE(mmsb_page_test_write_section),
	KUNIT_CASE_SLOW(mmsb_page_test_torn_reads),
	{}
};

static struct kunit_suite mmsb_page_test_suite = {
	.name = "mmsb_page",
	.init = mmsb_page_test_init,
	.exit = mmsb_page_test_exit,
	.test_cases = mmsb_page_test_cases,
};

kunit_test_suite(mmsb_page_test_suite);
