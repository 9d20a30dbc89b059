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
#   make fuzz SEED=.. N=..   the seeded fuzzer on the debug kernel
#   make lint                checkpatch, W=1 and sparse builds
#   make install, uninstall  module, libmmsb, mmsbctl, man pages, udev...
#                            (DESTDIR, PREFIX; see "Installing" below)

KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(lastword $(sort $(wildcard /usr/src/linux-headers-*-cloud-amd64))))
BUILD := $(CURDIR)/build
LINUX_SRC = $(shell scripts/linux-src)

CC := gcc
CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 -D_GNU_SOURCE
CPPFLAGS := -I$(CURDIR)/uapi -I$(CURDIR)/userspace
LDFLAGS := -static

# mmsb's version: dkms.conf's PACKAGE_VERSION.  libmmsb's is its own:
# the soname's major changes only with an incompatible ABI.
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' $(CURDIR)/dkms.conf)
LIB_MAJOR := 1
LIB_VERSION := $(LIB_MAJOR).0.0

LIB_SRCS := $(wildcard userspace/lib*.c)
LIB_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/userspace/%.o)
LIB_PIC_OBJS := $(LIB_SRCS:userspace/%.c=$(BUILD)/userspace/pic/%.o)
LIB := $(BUILD)/userspace/libmmsb.a
SOLIB := $(BUILD)/userspace/libmmsb.so.$(LIB_VERSION)
LIB_MAP := userspace/libmmsb.map
TOOLS := $(patsubst userspace/%.c,$(BUILD)/userspace/%,$(filter-out userspace/lib%,$(wildcard userspace/*.c)))
TEST_SRCS := $(wildcard tests/*.c)
TESTS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
# The seeded fuzzer (tests/fuzz/): run by `make fuzz` and make check.
FUZZ := $(BUILD)/tests/fuzz/mmsb-fuzz
USER_HDRS := uapi/linux/mmsb.h $(wildcard userspace/*.h)

.PHONY: all module userspace tests run check kunit bench lint clean fuzz \
	test-6.1 test-6.12 test-debug install uninstall install-module \
	install-user install-dkms uninstall-module uninstall-user \
	uninstall-dkms

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# The documentation's example program, built like the tools (static, so
# it runs in the busybox guest); make check also builds it with
# pkg-config against a staged install (scripts/install-check).
EXAMPLES := $(BUILD)/userspace/mmsb-hello

userspace: $(LIB) $(SOLIB) $(TOOLS) $(EXAMPLES)

$(EXAMPLES): $(BUILD)/userspace/%: examples/%.c $(LIB) $(USER_HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) -luring

tests: $(TESTS) $(FUZZ)

$(BUILD)/userspace/%.o: userspace/%.c $(USER_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/userspace/pic/%.o: userspace/%.c $(USER_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=default -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(AR) rcs $@ $^

# The shared library: soname libmmsb.so.1, only the symbols of the
# version script, no undefined symbol left to the program.
$(SOLIB): $(LIB_PIC_OBJS) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,libmmsb.so.$(LIB_MAJOR) \
		-Wl,--version-script=$(LIB_MAP) -Wl,-z,defs -Wl,-z,relro \
		-o $@ $(LIB_PIC_OBJS) -luring

$(BUILD)/userspace/%: userspace/%.c $(LIB) $(USER_HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) -luring -lpthread

# The replicator talks to Redis through Debian's hiredis (libhiredis-dev).
# Linked dynamically: hiredis resolves host names with getaddrinfo(),
# which a static glibc can only do with the NSS libraries of its own
# version at run time.  The guest gets its libraries with it (qemu-run).
$(BUILD)/userspace/mmsb-replicate: userspace/mmsb-replicate.c $(LIB) $(USER_HDRS)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) -lhiredis -luring

# Tests use the kernel's kselftest harness straight from linux-source;
# its macros compare mixed signedness and longjmp, as in-tree selftests.
$(BUILD)/tests/%: tests/%.c $(LIB) $(USER_HDRS) $(wildcard tests/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -I$(LINUX_SRC)/tools/testing/selftests $(CFLAGS) \
		-Wno-sign-compare -Wno-clobbered $(LDFLAGS) -o $@ $< $(LIB) \
		-luring -lpthread

$(FUZZ): tests/fuzz/fuzz.c $(LIB) $(USER_HDRS) tests/pages.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) -luring

# The fuzzer on the debug kernel: SEED (default 1) and N operations
# (default 100000), e.g. `make fuzz SEED=42 N=1000000` for a long run.
fuzz:
	FUZZ_SEED=$(SEED) FUZZ_OPS=$(N) scripts/qemu-run debug fuzz

# The reproducer of session 4's finding (a model page changed behind
# its owner's back, Documentation/testing.rst, "Findings"), which has
# not come back since: 200,000 operations, every worker root so that a
# failure prints debugfs' graph.
.PHONY: fuzz-edges
fuzz-edges:
	MMSB_FUZZ_ALLROOT=1 FUZZ_SEED=$(or $(SEED),1) \
		FUZZ_OPS=$(or $(N),200000) TIMEOUT=900 \
		scripts/qemu-run debug fuzz

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

# Where the guest instructions of make bench's rows go, by function
# (scripts/profile): make profile KEY=b256 [PROFILE_ARGS="-a FUNC"].
.PHONY: profile
profile:
	scripts/profile $(PROFILE_ARGS) $(KEY)

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

# Installing.  `make install` = install-module + install-user;
# `make install-dkms` puts the module's sources where dkms(8) wants
# them.  DESTDIR stages the whole tree (packaging, CI); PREFIX (default
# /usr/local) places the user-space part; the module goes through the
# kernel's modules_install into /lib/modules/RELEASE/extra (KDIR picks
# the kernel).  udev and modprobe read only their own directories,
# whatever PREFIX is.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/mmsb
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UDEVRULESDIR ?= /usr/lib/udev/rules.d
SYSCONFDIR ?= /etc
DKMSDIR ?= /usr/src/mmsb-$(VERSION)
INSTALL ?= install

# mmsb.pc names its directories from ${prefix} where they are under
# PREFIX, so `pkg-config --define-prefix` finds a staged install.
# Every function of libmmsb gets a man page name: a link to libmmsb(3).
LIB_FUNCS := $(shell sed -n 's/^[[:space:]]*\(mmsb_[a-z_]*\);$$/\1/p' $(LIB_MAP))
DKMS_SRCS := Kbuild dkms.conf uapi/linux/mmsb.h $(wildcard kmod/*.[ch]) \
	$(wildcard kmod/tests/*.[ch])

install: install-module install-user

install-module: module
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) \
		INSTALL_MOD_DIR=extra CONFIG_MODULE_SIG_ALL= modules_install

install-user: userspace
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR)/linux $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSCONFDIR)/modprobe.d \
		$(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 755 $(BUILD)/userspace/mmsbctl \
		$(BUILD)/userspace/mmsb-replicate $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(SOLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libmmsb.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/libmmsb.so.$(LIB_MAJOR)
	ln -sf libmmsb.so.$(LIB_MAJOR) $(DESTDIR)$(LIBDIR)/libmmsb.so
	$(INSTALL) -m 644 uapi/linux/mmsb.h $(DESTDIR)$(INCLUDEDIR)/linux/
	$(INSTALL) -m 644 userspace/libmmsb.h userspace/libmmsb_uring.h \
		$(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
		-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
		dist/mmsb.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/mmsb.pc
	$(INSTALL) -m 644 man/mmsbctl.1 man/mmsb-replicate.1 \
		$(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 man/libmmsb.3 $(DESTDIR)$(MANDIR)/man3/
	for f in $(LIB_FUNCS); do \
		echo '.so man3/libmmsb.3' >$(DESTDIR)$(MANDIR)/man3/$$f.3 || exit 1; \
	done
	$(INSTALL) -m 644 dist/60-mmsb.rules $(DESTDIR)$(UDEVRULESDIR)/
	$(INSTALL) -m 644 dist/mmsb-modprobe.conf \
		$(DESTDIR)$(SYSCONFDIR)/modprobe.d/mmsb.conf
	$(INSTALL) -m 644 dist/mmsb-modules-load.conf \
		$(DESTDIR)$(DOCDIR)/examples/modules-load.d-mmsb.conf
	$(INSTALL) -m 644 examples/mmsb-hello.c $(DESTDIR)$(DOCDIR)/examples/

install-dkms:
	for f in $(DKMS_SRCS); do \
		$(INSTALL) -D -m 644 $$f $(DESTDIR)$(DKMSDIR)/$$f || exit 1; \
	done

uninstall: uninstall-module uninstall-user

uninstall-module:
	rm -f $(DESTDIR)/lib/modules/$(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)/extra/mmsb.ko*
	$(if $(DESTDIR),,depmod -a $(shell cat $(KDIR)/include/config/kernel.release))

uninstall-user:
	rm -f $(DESTDIR)$(BINDIR)/mmsbctl $(DESTDIR)$(BINDIR)/mmsb-replicate \
		$(DESTDIR)$(LIBDIR)/libmmsb.a $(DESTDIR)$(LIBDIR)/libmmsb.so \
		$(DESTDIR)$(LIBDIR)/libmmsb.so.$(LIB_MAJOR) \
		$(DESTDIR)$(LIBDIR)/libmmsb.so.$(LIB_VERSION) \
		$(DESTDIR)$(INCLUDEDIR)/linux/mmsb.h \
		$(DESTDIR)$(INCLUDEDIR)/libmmsb.h \
		$(DESTDIR)$(INCLUDEDIR)/libmmsb_uring.h \
		$(DESTDIR)$(PKGCONFIGDIR)/mmsb.pc \
		$(DESTDIR)$(MANDIR)/man1/mmsbctl.1 \
		$(DESTDIR)$(MANDIR)/man1/mmsb-replicate.1 \
		$(DESTDIR)$(MANDIR)/man3/libmmsb.3 \
		$(LIB_FUNCS:%=$(DESTDIR)$(MANDIR)/man3/%.3) \
		$(DESTDIR)$(UDEVRULESDIR)/60-mmsb.rules \
		$(DESTDIR)$(SYSCONFDIR)/modprobe.d/mmsb.conf \
		$(DESTDIR)$(DOCDIR)/examples/modules-load.d-mmsb.conf \
		$(DESTDIR)$(DOCDIR)/examples/mmsb-hello.c
	-rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null

uninstall-dkms:
	rm -rf $(DESTDIR)$(DKMSDIR)
