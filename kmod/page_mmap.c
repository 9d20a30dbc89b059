// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb pages as their readers see them: the read-only mapping, and the
 * write section through which the tick changes a page's bytes and
 * publishes its epoch (the epoch rule: once per tick that changes it);
 * and the bus header, the read-only page whose tick_seq spans a tick's
 * writes to all pages.
 *
 * A reader of a mapping retries while the header's sequence counter is
 * odd or changed (mmsb_read_begin()/mmsb_read_retry() in the uapi); one
 * writer at a time per page, the tick's.
 */
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <kunit/visibility.h>

#include "compat.h"
#include "page.h"

/*
 * Every VMA of a page holds a reference: open runs for the copy made
 * by fork and for each half of a split or moved VMA, close for each
 * VMA that goes away, so the memory outlives the last one.
 */
static void mmsb_page_vm_open(struct vm_area_struct *vma)
{
	mmsb_page_hold(vma->vm_private_data);
}

static void mmsb_page_vm_close(struct vm_area_struct *vma)
{
	mmsb_page_put(vma->vm_private_data);
}

/*
 * The pages are inserted at mmap time; this only runs after the user
 * zapped them (madvise(MADV_DONTNEED)) and maps them back.
 */
static vm_fault_t mmsb_page_vm_fault(struct vm_fault *vmf)
{
	struct mmsb_page *page = vmf->vma->vm_private_data;
	unsigned long idx = vmf->pgoff - page->id;
	struct page *pg;

	if (idx >= page->map_size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	pg = vmalloc_to_page((u8 *)page->hdr + (idx << PAGE_SHIFT));
	get_page(pg);
	vmf->page = pg;
	return 0;
}

static const struct vm_operations_struct mmsb_page_vm_ops = {
	.open	= mmsb_page_vm_open,
	.close	= mmsb_page_vm_close,
	.fault	= mmsb_page_vm_fault,
};

/*
 * Insert the page's frames, as remap_vmalloc_range() would: the frames
 * come from __vmalloc() with accounting, which leaves the area without
 * VM_USERMAP, and the kernel exports no accounted vmalloc_user().
 */
static int mmsb_page_insert(struct vm_area_struct *vma,
			    struct mmsb_page *page)
{
	unsigned long addr, off = 0;
	int ret;

	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		ret = vm_insert_page(vma, addr,
				     vmalloc_to_page((u8 *)page->hdr + off));
		if (ret)
			return ret;
		off += PAGE_SIZE;
	}
	return 0;
}

/**
 * mmsb_page_mmap() - map a page read-only (the ->mmap of /dev/mmsb)
 * @t: the table
 * @vma: the new mapping; vm_pgoff is the page id
 * @cred: the caller's credentials (needs read permission)
 * @admin: the caller had CAP_SYS_ADMIN at open
 *
 * The mapping must start at the page's mmap offset and may be shorter
 * than map_size, never longer.  Shared or private, it can never become
 * writable: VM_MAYWRITE is cleared, so mprotect(PROT_WRITE) fails.
 *
 * Return: 0, -EPERM for a writable mapping, -ENOENT for an offset that
 * is no live page's, -EACCES without read permission, -EINVAL for a
 * mapping longer than the page, or vm_insert_page()'s error.
 */
int mmsb_page_mmap(struct mmsb_page_table *t, struct vm_area_struct *vma,
		   const struct cred *cred, bool admin)
{
	struct mmsb_page *page;
	int ret;

	/* Only deltas change a page; a private COW copy would lie too. */
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;

	page = mmsb_page_lookup(t, vma->vm_pgoff, cred, admin, MMSB_MAY_READ);
	if (IS_ERR(page))
		return PTR_ERR(page);
	ret = -ENOENT;
	if (!READ_ONCE(page->live))
		goto err_put;
	ret = -EINVAL;
	if (vma->vm_end - vma->vm_start > page->map_size)
		goto err_put;

	vm_flags_clear(vma, VM_MAYWRITE);
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	ret = mmsb_page_insert(vma, page);
	if (ret)
		goto err_put;
	/* The lookup's reference now belongs to the VMA. */
	vma->vm_private_data = page;
	vma->vm_ops = &mmsb_page_vm_ops;
	return 0;

err_put:
	mmsb_page_put(page);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_mmap);

/**
 * mmsb_page_write_end() - close a page's write section
 * @page: the page, held by the caller
 * @epoch: the page's epoch from now on, never below the current one
 * @last_delta_id: id of the last delta applied
 *
 * Publishes @epoch and @last_delta_id in the page and its header and
 * makes the sequence counter even again.  Waking waiters is the
 * caller's business (once per tick, not per write).  For KUnit, which
 * sets epochs of its own: the tick closes sections with
 * mmsb_page_write_commit() and mmsb_page_write_release(), which apply
 * the epoch rule.
 */
void mmsb_page_write_end(struct mmsb_page *page, u64 epoch,
			 u64 last_delta_id)
{
	WARN_ON_ONCE(epoch < page->epoch);
	WRITE_ONCE(page->epoch, epoch);
	WRITE_ONCE(page->last_delta_id, last_delta_id);
	mmsb_page_publish(page);
}
EXPORT_SYMBOL_IF_KUNIT(mmsb_page_write_end);

/**
 * mmsb_bus_header_mmap() - map a bus header read-only
 * @bus: the bus header, one zeroed vmalloc_user() page (the tick's)
 * @vma: the new mapping, at MMSB_BUS_HEADER_OFFSET
 *
 * Any opener may map it: it shows only when ticks write pages, which
 * MMSB_IOC_STATS tells every opener too.  As a page, it can never become
 * writable (VM_MAYWRITE is cleared).
 *
 * Return: 0, -EPERM for a writable mapping, -EINVAL for one longer than
 * a system page, or remap_vmalloc_range()'s error.
 */
int mmsb_bus_header_mmap(struct mmsb_bus_header *bus,
			 struct vm_area_struct *vma)
{
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	if (vma->vm_end - vma->vm_start > PAGE_SIZE)
		return -EINVAL;
	vm_flags_clear(vma, VM_MAYWRITE);
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return remap_vmalloc_range(vma, bus, 0);
}
