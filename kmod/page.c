// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb pages: the table, ids, creation, lookup with access checks,
 * iteration, references and lifetime, the memory limit (pages and queued
 * deltas: one accountant) and the "page freed" hook.  page_mmap.c has
 * the mapping and the write section.  See page.h for the lifetime rules.
 *
 * Locking: the table is an xarray; its own lock (xa_lock) serialises
 * insert and erase, lookups run under RCU and take a reference with
 * refcount_inc_not_zero(), and struct mmsb_page is freed with
 * kfree_rcu() so a lookup that lost the race with the last put still
 * reads valid memory.  Nothing here touches user memory.
 */
#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <kunit/visibility.h>

#include "page.h"

/**
 * mmsb_page_table_init() - set up an empty page table
 * @t: the table
 * @limit: bytes all pages together may hold (mem_limit_mb)
 * @max_size: largest page in data bytes (max_page_size)
 *
 * Return: 0.
 */
int mmsb_page_table_init(struct mmsb_page_table *t, u64 limit,
			 size_t max_size)
{
	xa_init(&t->xa);
	atomic64_set(&t->next_id, 0);
	atomic64_set(&t->pages, 0);
	atomic64_set(&t->bytes, 0);
	atomic64_set(&t->charged, 0);
	t->limit = limit;
	t->max_size = max_size;
	atomic64_set(&t->structs, 0);
	init_llist_head(&t->reclaim);
	atomic64_set(&t->reclaim_pending, 0);
	atomic64_set(&t->reclaim_bytes, 0);
	mutex_init(&t->reclaim_lock);
	t->backlog = NULL;
	t->notify = NULL;
	t->notify_arg = NULL;
	t->freed = NULL;
	t->freed_arg = NULL;
	t->creating = NULL;
	t->created = NULL;
	t->created_arg = NULL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_table_init);

/**
 * mmsb_page_table_set_reclaim() - defer freeing to mmsb_page_reclaim()
 * @t: the table, before any page is created
 * @notify: called from mmsb_page_put(), in any context, when the reclaim
 *	list turns non-empty; must not sleep
 * @arg: for @notify
 */
void mmsb_page_table_set_reclaim(struct mmsb_page_table *t,
				 void (*notify)(void *arg), void *arg)
{
	t->notify_arg = arg;
	t->notify = notify;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_table_set_reclaim);

/**
 * mmsb_page_table_set_freed() - register the "page freed" hook
 * @t: the table, before any page is created
 * @freed: called by mmsb_page_free(), in the freeing task's process
 *	context (it may sleep), with each page it took out of the table
 *	(held for the call), after the id stopped resolving: what others
 *	keep about a page (its edges) goes here, whoever frees it (a
 *	user, GC)
 * @arg: for @freed
 */
void mmsb_page_table_set_freed(struct mmsb_page_table *t,
			       void (*freed)(void *arg, struct mmsb_page *page),
			       void *arg)
{
	t->freed_arg = arg;
	t->freed = freed;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_table_set_freed);

/**
 * mmsb_page_table_set_created() - register the "page created" hook
 * @t: the table, before any page is created
 * @creating: called by mmsb_page_create(), in process context (it may
 *	sleep), with each new page, fully set up, right before it enters
 *	the table: nobody can look it up yet
 * @created: called right after, with 0 once the page is in the table,
 *	or the error that kept it out (the page is then freed)
 * @arg: for both
 *
 * Between the two calls the hook may hold a lock of its own: the page
 * enters the table inside it (what the change stream needs to put a
 * page's creation before anything done to it).
 */
void mmsb_page_table_set_created(struct mmsb_page_table *t,
				 void (*creating)(void *arg,
						  struct mmsb_page *page),
				 void (*created)(void *arg,
						 struct mmsb_page *page,
						 int err),
				 void *arg)
{
	t->created_arg = arg;
	t->creating = creating;
	t->created = created;
}

/* Free a page nobody references any more. */
static void mmsb_page_release(struct mmsb_page_table *t,
			      struct mmsb_page *page)
{
	vfree(page->hdr);
	/* Uncharged only now, so the figures show memory really held. */
	atomic64_sub(page->map_size, &t->bytes);
	mmsb_page_table_uncharge(t, page->map_size);
	atomic64_dec(&t->structs);
	kfree_rcu(page, rcu);
}

/**
 * mmsb_page_reclaim() - free pages whose last reference is gone
 * @t: the table
 * @max: pages to free at most
 * @deadline_ns: stop once ktime_get_ns() passes this, 0 = no deadline;
 *	at least one page is freed if any is pending
 * @bytes: out: bytes freed, or NULL
 *
 * Oldest first.  Producers (mmsb_page_put()) never wait for this: they
 * push onto a lock-free list; the consumers take turns on a mutex.
 *
 * Context: process context, sleeps (vfree()).
 * Return: pages freed.
 */
unsigned int mmsb_page_reclaim(struct mmsb_page_table *t, unsigned int max,
			       u64 deadline_ns, u64 *bytes)
{
	struct mmsb_page *page;
	unsigned int n = 0;
	u64 freed = 0;

	mutex_lock(&t->reclaim_lock);
	if (!t->backlog)
		/* llist_del_all() hands out newest first. */
		t->backlog = llist_reverse_order(llist_del_all(&t->reclaim));
	while (n < max && t->backlog) {
		page = llist_entry(t->backlog, struct mmsb_page, reclaim);
		t->backlog = t->backlog->next;
		freed += page->map_size;
		mmsb_page_release(t, page);
		n++;
		if (!t->backlog && n < max)
			t->backlog = llist_reverse_order(llist_del_all(&t->reclaim));
		if (deadline_ns && ktime_get_ns() >= deadline_ns)
			break;
	}
	/* After the release: @bytes never shows them twice as gone. */
	atomic64_sub(freed, &t->reclaim_bytes);
	atomic64_sub(n, &t->reclaim_pending);
	mutex_unlock(&t->reclaim_lock);
	if (bytes)
		*bytes = freed;
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_reclaim);

/* Take the table's reference away: the page is freed from now on. */
static void mmsb_page_unpublish(struct mmsb_page_table *t,
				struct mmsb_page *page)
{
	/* A reader of the mapping sees the flag without the seqcount. */
	WRITE_ONCE(page->hdr->flags, page->hdr->flags & ~MMSB_HDR_LIVE);
	wake_up_all(&page->waitq);
	atomic64_dec(&t->pages);
	mmsb_page_put(page);
}

/**
 * mmsb_page_table_destroy() - free every page left in a table
 * @t: the table
 *
 * Runs at module exit, when no file is open, so no mapping remains; the
 * callers of mmsb_page_get() (queued deltas) must be gone too.  Any
 * byte still charged afterwards is a leaked reference.
 */
void mmsb_page_table_destroy(struct mmsb_page_table *t)
{
	struct mmsb_page *page;
	unsigned long id;

	xa_for_each(&t->xa, id, page) {
		xa_lock(&t->xa);
		__xa_erase(&t->xa, id);
		WRITE_ONCE(t->erased, t->erased + 1);
		WRITE_ONCE(page->live, false);
		xa_unlock(&t->xa);
		mmsb_page_unpublish(t, page);
	}
	xa_destroy(&t->xa);
	mmsb_page_reclaim(t, UINT_MAX, 0, NULL);
	mutex_destroy(&t->reclaim_lock);
	WARN(atomic64_read(&t->bytes), "mmsb: %lld page bytes leaked\n",
	     (long long)atomic64_read(&t->bytes));
	WARN(atomic64_read(&t->charged), "mmsb: %lld bytes still charged\n",
	     (long long)atomic64_read(&t->charged));
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_table_destroy);

/* Reserve @bytes of the table's limit; never goes past it, even racing. */
static int mmsb_page_charge(struct mmsb_page_table *t, u64 bytes)
{
	s64 old = atomic64_read(&t->charged);

	do {
		if (bytes > t->limit || (u64)old > t->limit - bytes)
			return -ENOMEM;
	} while (!atomic64_try_cmpxchg(&t->charged, &old, old + bytes));
	return 0;
}

/**
 * mmsb_page_table_charge() - charge @bytes to the memory limit
 * @t: the table, whose limit covers its pages and what is charged here
 * @bytes: bytes about to be held
 *
 * The one account of the limit: pages and queued deltas alike, so that
 * neither can take the other past it, even racing.  Memory nobody
 * references any more (freed pages waiting for the GC) is reclaimed
 * directly first when the limit is reached: it must not fail a charge.
 *
 * Context: process context, may sleep (direct reclaim).
 * Return: 0, or -ENOMEM past the limit.
 */
int mmsb_page_table_charge(struct mmsb_page_table *t, u64 bytes)
{
	int ret;

	while ((ret = mmsb_page_charge(t, bytes)) &&
	       mmsb_page_reclaim_pending(t))
		mmsb_page_reclaim(t, MMSB_PAGE_RECLAIM_DIRECT, 0, NULL);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_table_charge);

/**
 * mmsb_page_table_uncharge() - give back what mmsb_page_table_charge() took
 * @t: the table
 * @bytes: bytes no longer held
 *
 * Context: any.
 */
void mmsb_page_table_uncharge(struct mmsb_page_table *t, u64 bytes)
{
	atomic64_sub(bytes, &t->charged);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_table_uncharge);

/*
 * Reserve the restored id @id: above every id handed out, and later ids
 * continue after it.  Racing creates and restores cannot both win: the
 * counter only moves up, by compare-and-exchange.
 */
static int mmsb_page_restore_id(struct mmsb_page_table *t, u64 id)
{
	s64 old = atomic64_read(&t->next_id);

	do {
		if (id <= (u64)old)
			return -EEXIST;
	} while (!atomic64_try_cmpxchg(&t->next_id, &old, id));
	return 0;
}

/**
 * mmsb_page_create_restore() - create a page, maybe as a snapshot had it
 * @t: the table
 * @size: data bytes, 1 to the table's max_size
 * @mode: permission bits, 0777 at most; 0 means MMSB_PAGE_MODE_DEFAULT
 * @flags: MMSB_PAGE_* flags
 * @cred: creator; the owner becomes its fsuid/fsgid
 * @restore: NULL for a new zeroed page at epoch 0 with the next id;
 *	else the id, first epoch and a way to fill the first data
 *
 * The page is in the table (visible to mmsb_page_get()) on return, and
 * only then: a restored page's data is filled before it is published.
 *
 * Return: the page with one reference for the caller, who drops it
 * with mmsb_page_put(); ERR_PTR(-EINVAL) for a bad size, mode, flag or
 * restored id, -ENOMEM over the table's limit or out of memory,
 * -ENOSPC once the ids are used up, -EEXIST for a restored id not above
 * every id handed out, or what @restore->fill returned.
 */
struct mmsb_page *mmsb_page_create_restore(struct mmsb_page_table *t,
					   size_t size, umode_t mode,
					   u32 flags, const struct cred *cred,
					   const struct mmsb_page_restore *restore)
{
	struct mmsb_page *page;
	size_t map_size;
	u64 id;
	int ret;

	if (!size || size > t->max_size || mode & ~0777 ||
	    flags & ~MMSB_PAGE_FLAGS_ALL)
		return ERR_PTR(-EINVAL);
	if (restore && (!restore->id || restore->id > MMSB_PAGE_ID_MAX))
		return ERR_PTR(-EINVAL);
	/* Cheap early answer; mmsb_page_restore_id() decides. */
	if (restore && restore->id <= (u64)atomic64_read(&t->next_id))
		return ERR_PTR(-EEXIST);
	/* max_size is at most MMSB_PAGE_SIZE_MAX (1 GiB): cannot wrap. */
	map_size = PAGE_ALIGN(size + MMSB_PAGE_DATA_OFFSET);

	ret = mmsb_page_table_charge(t, map_size);
	if (ret)
		return ERR_PTR(ret);
	atomic64_add(map_size, &t->bytes);

	ret = -ENOMEM;
	/* Charged to the creator's memory cgroup, as the frames below. */
	page = kzalloc(sizeof(*page), GFP_KERNEL_ACCOUNT);
	if (!page)
		goto err_uncharge;
	atomic64_inc(&t->structs);
	/*
	 * Zeroed; mapped frame by frame (mmsb_page_mmap()).  Past its
	 * cgroup's memory.max a create fails with -ENOMEM, quietly, rather
	 * than wake the cgroup's OOM killer (__GFP_RETRY_MAYFAIL).
	 */
	page->hdr = __vmalloc(map_size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN |
			      __GFP_RETRY_MAYFAIL | __GFP_ZERO);
	if (!page->hdr)
		goto err_free_page;

	if (restore) {
		/* Unpublished: nobody sees the page while it fills. */
		ret = restore->fill((u8 *)page->hdr + MMSB_PAGE_DATA_OFFSET,
				    size, restore->arg);
		if (ret)
			goto err_vfree;
		ret = mmsb_page_restore_id(t, restore->id);
		if (ret)
			goto err_vfree;
		id = restore->id;
		page->epoch = restore->epoch;
		page->hdr->epoch = restore->epoch;
	} else {
		ret = -ENOSPC;
		id = atomic64_inc_return(&t->next_id);
		if (id > MMSB_PAGE_ID_MAX)
			goto err_vfree;
	}

	page->id = id;
	/* One reference for the table, one for the caller. */
	refcount_set(&page->ref, 2);
	page->size = size;
	page->map_size = map_size;
	page->data = (u8 *)page->hdr + MMSB_PAGE_DATA_OFFSET;
	page->uid = cred->fsuid;
	page->gid = cred->fsgid;
	page->mode = mode ? mode : MMSB_PAGE_MODE_DEFAULT;
	page->flags = flags;
	page->live = true;
	init_waitqueue_head(&page->waitq);
	page->table = t;
	page->hdr->flags = MMSB_HDR_LIVE;
	page->hdr->size = size;
	page->hdr->id = id;

	if (t->creating)
		t->creating(t->created_arg, page);
	/* Publishes the initialised page (xa_insert stores with release). */
	ret = xa_insert(&t->xa, id, page, GFP_KERNEL_ACCOUNT);
	if (t->created)
		t->created(t->created_arg, page, ret);
	if (ret)
		goto err_vfree;
	/* Fails only if the id is gone again: a racing free. */
	if (flags & MMSB_PAGE_EVICTABLE)
		xa_set_mark(&t->xa, id, MMSB_PAGE_XA_EVICTABLE);
	atomic64_inc(&t->pages);
	return page;

err_vfree:
	vfree(page->hdr);
err_free_page:
	atomic64_dec(&t->structs);
	kfree(page);
err_uncharge:
	atomic64_sub(map_size, &t->bytes);
	mmsb_page_table_uncharge(t, map_size);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_create_restore);

/**
 * mmsb_page_free() - take a page's id out of the table
 * @t: the table
 * @id: page id
 * @cred: caller, who must own the page
 * @admin: the caller had CAP_SYS_ADMIN when it opened the device
 *
 * The id is gone when this returns: later lookups fail, the page's
 * waiters are woken to see it dead and the "page freed" hook ran.  The
 * memory stays until the last mapping and reference are gone.
 *
 * Context: process context; sleeps if the hook does.
 *
 * Return: 0, -ENOENT if no page has @id (or it was freed already),
 * -EPERM if @cred does not own it and @admin is false.
 */
int mmsb_page_free(struct mmsb_page_table *t, u64 id,
		   const struct cred *cred, bool admin)
{
	struct mmsb_page *page;
	bool removed = false;

	page = mmsb_page_get(t, id);
	if (!page)
		return -ENOENT;
	if (!admin && !uid_eq(cred->fsuid, page->uid)) {
		mmsb_page_put(page);
		return -EPERM;
	}

	/* Of two racing frees, only the one that erases drops the ref. */
	xa_lock(&t->xa);
	if (xa_load(&t->xa, id) == page) {
		__xa_erase(&t->xa, id);
		WRITE_ONCE(t->erased, t->erased + 1);
		WRITE_ONCE(page->live, false);
		removed = true;
	}
	xa_unlock(&t->xa);

	if (removed) {
		mmsb_page_unpublish(t, page);
		if (t->freed)
			t->freed(t->freed_arg, page);
	}
	mmsb_page_put(page);
	return removed ? 0 : -ENOENT;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_free);

/**
 * mmsb_page_list() - list live page ids in ascending order
 * @t: the table
 * @start: first id to consider
 * @ids: room for @max ids
 * @max: capacity of @ids, at least 1
 * @next: set to the id to start the next call at, 0 if none is left
 *
 * Pages created or freed during the call may or may not be listed.
 *
 * Return: the number of ids stored.
 */
int mmsb_page_list(struct mmsb_page_table *t, u64 start, u64 *ids,
		   unsigned int max, u64 *next)
{
	struct mmsb_page *page;
	unsigned long id;
	unsigned int n = 0;

	*next = 0;
	if (start > MMSB_PAGE_ID_MAX)
		return 0;
	xa_for_each_start(&t->xa, id, page, start) {
		if (n == max) {
			*next = id;
			break;
		}
		ids[n++] = id;
	}
	return n;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_list);

/**
 * mmsb_page_get() - look a page up by id and take a reference
 * @t: the table
 * @id: page id
 *
 * Callable from any context (RCU inside).  A page freed while the
 * caller holds it stays valid but its @live turns false; callers that
 * care (waits) check it.
 *
 * Return: the page, or NULL if no page has @id.
 */
struct mmsb_page *mmsb_page_get(struct mmsb_page_table *t, u64 id)
{
	struct mmsb_page *page;

	if (id > MMSB_PAGE_ID_MAX)
		return NULL;
	rcu_read_lock();
	page = xa_load(&t->xa, id);
	/* Zero means the last put ran: kfree_rcu() keeps @page readable. */
	if (page && !refcount_inc_not_zero(&page->ref))
		page = NULL;
	rcu_read_unlock();
	return page;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_get);

/**
 * mmsb_page_lookup() - look a page up and check the caller's access
 * @t: the table
 * @id: page id
 * @cred: the caller's credentials (the opener's, file->f_cred)
 * @admin: the caller had CAP_SYS_ADMIN at open
 * @may: MMSB_MAY_READ and/or MMSB_MAY_WRITE
 *
 * The one way an entry point turns a user's page id into a page: what
 * mmsb_page_get() and mmsb_page_permission() do, with the reference
 * dropped again when access is refused.
 *
 * Context: any (RCU inside).
 * Return: the page, referenced; ERR_PTR(-ENOENT) if no page has @id, or
 * ERR_PTR(-EACCES) if @cred may not access it as @may asks.
 */
struct mmsb_page *mmsb_page_lookup(struct mmsb_page_table *t, u64 id,
				   const struct cred *cred, bool admin, int may)
{
	struct mmsb_page *page = mmsb_page_get(t, id);
	int ret;

	if (!page)
		return ERR_PTR(-ENOENT);
	ret = mmsb_page_permission(page, cred, admin, may);
	if (ret) {
		mmsb_page_put(page);
		return ERR_PTR(ret);
	}
	return page;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_lookup);

/**
 * mmsb_page_next() - the next page of a walk over the table
 * @t: the table
 * @idx: in: the lowest id to consider; out: the id of the page returned
 * @filter: XA_PRESENT for every page, MMSB_PAGE_XA_EVICTABLE for the
 *	evictable ones
 *
 * Pages created or freed during a walk may or may not be seen; a page
 * whose last reference is being dropped is skipped.  To go on, call
 * again with *@idx + 1 (mind the wrap at ULONG_MAX).
 *
 * Context: any (RCU inside).
 * Return: the page, referenced (the caller puts it), or NULL at the end.
 */
struct mmsb_page *mmsb_page_next(struct mmsb_page_table *t,
				 unsigned long *idx, xa_mark_t filter)
{
	struct mmsb_page *page;

	rcu_read_lock();
	for (;;) {
		page = xa_find(&t->xa, idx, ULONG_MAX, filter);
		/* A page losing its last reference is on its way out. */
		if (!page || refcount_inc_not_zero(&page->ref))
			break;
		if (*idx == ULONG_MAX) {
			page = NULL;
			break;
		}
		(*idx)++;
	}
	rcu_read_unlock();
	return page;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_next);

/**
 * mmsb_page_put_last() - mmsb_page_put() of the last reference
 * @page: the page, whose reference count just reached zero
 *
 * With a reclaim hook the page goes onto the reclaim list (any context,
 * never sleeps); without one it is freed at once, which may sleep
 * (vfree()) in process context.  See page.h.
 */
void mmsb_page_put_last(struct mmsb_page *page)
{
	struct mmsb_page_table *t = page->table;

	if (!t->notify) {
		mmsb_page_release(t, page);
		return;
	}
	/*
	 * Counted before the push: the consumer that takes the page off
	 * the list subtracts it, so the count never goes negative.
	 */
	atomic64_inc(&t->reclaim_pending);
	atomic64_add(page->map_size, &t->reclaim_bytes);
	if (llist_add(&page->reclaim, &t->reclaim))
		t->notify(t->notify_arg);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_put_last);

/* Is @gid the fsgid or a supplementary group of @cred? */
static bool mmsb_cred_in_group(const struct cred *cred, kgid_t gid)
{
	const struct group_info *gi = cred->group_info;
	unsigned int lo = 0, hi;

	if (gid_eq(cred->fsgid, gid))
		return true;
	/* groups_search() is not exported; group_info is kept sorted. */
	hi = gi ? gi->ngroups : 0;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (gid_eq(gi->gid[mid], gid))
			return true;
		if (gid_gt(gid, gi->gid[mid]))
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/**
 * mmsb_page_permission() - may @cred access @page?
 * @page: the page
 * @cred: the caller's credentials (the opener's, file->f_cred)
 * @admin: the caller had CAP_SYS_ADMIN at open: always allowed
 * @may: MMSB_MAY_READ and/or MMSB_MAY_WRITE
 *
 * Like SysV ipcperms(): the owner bits if @cred's fsuid owns the page,
 * else the group bits if it is in the page's group, else the other bits.
 *
 * Return: 0 or -EACCES.
 */
int mmsb_page_permission(const struct mmsb_page *page,
			 const struct cred *cred, bool admin, int may)
{
	umode_t mode = page->mode;

	if (admin)
		return 0;
	if (uid_eq(cred->fsuid, page->uid))
		mode >>= 6;
	else if (mmsb_cred_in_group(cred, page->gid))
		mode >>= 3;
	return (may & ~mode & 07) ? -EACCES : 0;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_permission);
