// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb_kunit.ko: the KUnit suites of mmsb's internals, from its pure
 * data structures to ticks on a bus without a device (one file per
 * component).  This file only carries the module's metadata.  The
 * suites call into mmsb.ko through EXPORT_SYMBOL_IF_KUNIT(), so mmsb.ko
 * must be loaded first.
 */
#include <linux/module.h>

MODULE_DESCRIPTION("KUnit suites for mmsb internals");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
