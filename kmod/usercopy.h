/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmsb user copies: 32 bytes from user memory with one fault exit.
 *
 * Inside a user-access window (user_read_access_begin()), the hot paths
 * read a delta's descriptor and small payloads word by word with
 * unsafe_get_user().  Built with a compiler whose asm goto cannot have
 * outputs (CONFIG_CC_HAS_ASM_GOTO_OUTPUT unset: Debian's GCC 12 for its
 * 6.12 kernel, CONFIG_GCC_ASM_GOTO_OUTPUT_BROKEN), each such load comes
 * with an error register that is cleared before and tested after it:
 * five instructions a word instead of two, some 45 instructions of a
 * 64-byte delta's ~420.  On x86-64 such a kernel gets an asm goto
 * without outputs instead: four loads and four stores, each load with
 * its exception-table entry to the caller's fault label, as the kernel's
 * own __put_user() does it.  Elsewhere, four unsafe_get_user().
 */
#ifndef _MMSB_USERCOPY_H
#define _MMSB_USERCOPY_H

#include <linux/instrumented.h>
#include <linux/types.h>
#include <linux/uaccess.h>

#if defined(CONFIG_X86_64) && !defined(CONFIG_CC_HAS_ASM_GOTO_OUTPUT)
#include <asm/asm.h>

/**
 * mmsb_get_user_32() - copy 32 bytes from user memory
 * @dst: kernel destination, u64-aligned
 * @src: user source (no alignment needed)
 *
 * Inlined, its fault exit becomes a jump to the caller's fault path.
 *
 * Context: inside user_read_access_begin() for @src's range.
 * Return: 0, or -EFAULT if a load faulted (some of @dst may be written).
 */
static __always_inline int mmsb_get_user_32(void *dst,
					    const void __user *src)
{
	instrument_copy_from_user_before(dst, src, 32);
	asm goto("1:	movq 0(%[s]), %%rax\n"
		 "	movq %%rax, 0(%[d])\n"
		 "2:	movq 8(%[s]), %%rax\n"
		 "	movq %%rax, 8(%[d])\n"
		 "3:	movq 16(%[s]), %%rax\n"
		 "	movq %%rax, 16(%[d])\n"
		 "4:	movq 24(%[s]), %%rax\n"
		 "	movq %%rax, 24(%[d])\n"
		 _ASM_EXTABLE_UA(1b, %l[efault])
		 _ASM_EXTABLE_UA(2b, %l[efault])
		 _ASM_EXTABLE_UA(3b, %l[efault])
		 _ASM_EXTABLE_UA(4b, %l[efault])
		 : : [s] "r" (src), [d] "r" (dst)
		 : "rax", "memory" : efault);
	instrument_copy_from_user_after(dst, src, 32, 0);
	return 0;
efault:
	return -EFAULT;
}
#else
static __always_inline int mmsb_get_user_32(void *dst,
					    const void __user *src)
{
	const u64 __user *s = src;
	u64 *d = dst;

	unsafe_get_user(d[0], s, efault);
	unsafe_get_user(d[1], s + 1, efault);
	unsafe_get_user(d[2], s + 2, efault);
	unsafe_get_user(d[3], s + 3, efault);
	return 0;
efault:
	return -EFAULT;
}
#endif

#endif /* _MMSB_USERCOPY_H */
