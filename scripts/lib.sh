# SPDX-License-Identifier: GPL-2.0
# Shared paths for the mmsb scripts: source this, do not run it.

MMSB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MMSB_CACHE=${MMSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmsb}
SRC_TARBALL=/usr/src/linux-source-6.12.tar.xz

die() { echo "mmsb: $*" >&2; exit 1; }

# The Debian source package version names the extracted tree.
src_version() {
	dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null ||
		die "linux-source-6.12 is not installed (run scripts/setup)"
}

# Extract linux-source-6.12 once into the cache; print its path.  The
# tree supplies checkpatch.pl, kselftest_harness.h, kunit.py and the
# debug kernel's sources.
linux_src() {
	local v dir
	v=$(src_version) || exit 1
	dir=$MMSB_CACHE/src-$v
	mkdir -p "$MMSB_CACHE"
	(
		flock 9
		if [ ! -e "$dir/.mmsb-extracted" ]; then
			rm -rf "$dir" "$dir.tmp"
			mkdir -p "$dir.tmp"
			tar -xJf "$SRC_TARBALL" -C "$dir.tmp" --strip-components=1 ||
				die "cannot extract $SRC_TARBALL"
			touch "$dir.tmp/.mmsb-extracted"
			mv "$dir.tmp" "$dir"
		fi
	) 9>"$MMSB_CACHE/.src.lock" >&2 || exit 1
	echo "$dir"
}

# Debian's two kernels: headers dir and boot image, by short name.
kernel_release() {
	case $1 in
	6.1) ls -d /usr/src/linux-headers-6.1.*-cloud-amd64 2>/dev/null | sort -V | tail -n1 | sed 's|.*/linux-headers-||' ;;
	6.12) ls -d /usr/src/linux-headers-6.12.*-cloud-amd64 2>/dev/null | sort -V | tail -n1 | sed 's|.*/linux-headers-||' ;;
	*) return 1 ;;
	esac
}

# kernel_env NAME: set KNAME, KBOOT (boot image) and KMAKE (the make
# arguments that build an out-of-tree module for it).  NAME is 6.1, 6.12
# or debug (the KUnit/KASAN/lockdep kernel, built on first use).
kernel_env() {
	KNAME=$1
	case $1 in
	6.1 | 6.12)
		local rel
		rel=$(kernel_release "$1") || true
		[ -n "$rel" ] || die "no Debian $1 kernel headers (run scripts/setup)"
		KBOOT=/boot/vmlinuz-$rel
		KMAKE=(-C "/usr/src/linux-headers-$rel")
		;;
	debug)
		local out
		out=$("$MMSB_ROOT/scripts/debug-kernel") || exit 1
		KBOOT=$out/arch/x86/boot/bzImage
		KMAKE=(-C "$(linux_src)" O="$out")
		;;
	*)
		die "unknown kernel '$1' (6.1, 6.12 or debug)"
		;;
	esac
	[ -r "$KBOOT" ] || die "no boot image $KBOOT"
}

# build_module NAME [make args...]: build mmsb.ko (and, on the debug
# kernel, mmsb_kunit.ko) for kernel NAME in build/NAME/, a copy of the
# module sources, so builds for different kernels never clobber each
# other.  Prints the directory.
build_module() {
	local name=$1 dir
	shift
	kernel_env "$name"
	dir=$MMSB_ROOT/build/${BUILD_TAG:-$name}
	mkdir -p "$dir"
	# cp -a keeps mtimes, so kbuild rebuilds only what changed.
	cp -a "$MMSB_ROOT/Kbuild" "$MMSB_ROOT/kmod" "$MMSB_ROOT/uapi" "$dir/"
	make -s "${KMAKE[@]}" M="$dir" -j"$(nproc)" "$@" modules >&2 ||
		die "module build for $name failed"
	echo "$dir"
}

# guest_add_program ROOT PROGRAM: copy a dynamically linked program (a
# command of $PATH, or a path) into the initramfs ROOT, as /bin/NAME,
# with every shared library ldd names (and the loader) at its host
# path.  The guest is busybox and static programs otherwise; the
# replication tests need Debian's redis-server and mmsb-replicate this
# way.
guest_add_program() {
	local root=$1 prog lib
	prog=$(command -v "$2") || die "$2 is not installed (run scripts/setup)"
	cp "$prog" "$root/bin/"
	for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
