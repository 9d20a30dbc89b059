# SPDX-License-Identifier: GPL-2.0
#
# mmsb top-level targets.  The module itself is built by Kbuild:
#   make                     mmsb.ko for the running kernel (or KDIR=...)
#   make run                 the demo in QEMU on Debian's 6.12 kernel
#   make check               every test on every kernel (see README.md)
# and, for a part of it:
#   make userspace tests     libmmsb, mmsbctl, mmsb-bench, test programs
#   make bench               mmsb against its peers in QEMU: build/bench/
#   make test-6.1 test-6.12 test-debug    integration tests on one kernel
#   make kunit               KUnit suites on the debug kernel
#   make lint                checkpatch, W=1 and sparse builds

KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(lastword $(sort $(wildcard /usr/src/linux-headers-*-cloud-amd64))))
BUILD := $(CURDIR)/build
LINUX_SRC = $(shell scripts/linux-src)

CC := gcc
CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 -D_GNU_SOURCE
CPPFLAGS := -I$(CURDIR)/uapi -I$(CURDIR)/userspace
LDFLAGS := -static

LIB_SRCS := $(wildcard userspace/lib*.c)
LIB_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/userspace/%.o)
LIB := $(BUILD)/userspace/libmmsb.a
TOOLS := $(patsubst userspace/%.c,$(BUILD)/userspace/%,$(filter-out userspace/lib%,$(wildcard userspace/*.c)))
TEST_SRCS := $(wildcard tests/*.c)
TESTS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
USER_HDRS := uapi/linux/mmsb.h $(wildcard userspace/*.h)

.PHONY: all module userspace tests run check kunit bench lint clean \
	test-6.1 test-6.12 test-debug

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace: $(LIB) $(TOOLS)

tests: $(TESTS)

$(BUILD)/userspace/%.o: userspace/%.c $(USER_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/userspace/%: userspace/%.c $(LIB) $(USER_HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) -luring -lpthread

# Tests use the kernel's kselftest harness straight from linux-source;
# its macros compare mixed signedness and longjmp, as in-tree selftests.
$(BUILD)/tests/%: tests/%.c $(LIB) $(USER_HDRS) $(wildcard tests/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -I$(LINUX_SRC)/tools/testing/selftests $(CFLAGS) \
		-Wno-sign-compare -Wno-clobbered $(LDFLAGS) -o $@ $< $(LIB) \
		-luring -lpthread

run:
	scripts/setup
	scripts/qemu-run 6.12 demo

check:
	scripts/check

kunit:
	scripts/qemu-run debug kunit

# mmsb against its peers (scripts/bench): one boot of 6.12 under icount,
# one without for contention and latency; results.csv, table.md,
# table.rst and plot.png in build/bench/ (Documentation/performance.rst).
# make check asserts ratios of it (tests/bench-floors).
bench:
	scripts/setup
	scripts/bench

test-6.1 test-6.12 test-debug:
	scripts/qemu-run $(@:test-%=%) tests

lint:
	scripts/lint

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	rm -rf $(BUILD)

# The ring against ptr_ring and kfifo on Debian's 6.12 kernel, in QEMU
# (figures, printed not asserted); BENCH_PARAMS="rounds=9 ..." sets the
# module's parameters, SMP the vCPUs (default 4).
.PHONY: bench-ring
bench-ring:
	scripts/bench-ring
