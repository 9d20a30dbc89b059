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

#endif /* _MMSB_COMPAT_H */
