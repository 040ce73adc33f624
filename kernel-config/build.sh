#!/bin/sh
# build.sh OUTDIR
# Builds out/bzImage and out/vmlinux from Debian's linux-source-6.1 (or
# $KERNEL_SRC) with the fragments in this folder merged onto allnoconfig.
# The result is cached under $WISP_CACHE by the hash of everything that goes
# into it, so a second build with the same inputs only copies two files; that
# hash, the key, is written to OUTDIR/kernel.key.
#
# Environment: KERNEL_SRC (a kernel tree), KERNEL_TARBALL (default Debian's),
# EXTRA_FRAGMENTS (more .config files, space separated), WISP_CACHE
# (default ~/.cache/wisp), JOBS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
cache=${WISP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wisp}
tarball=${KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
jobs=${JOBS:-$(nproc)}
# The same default as the Makefile's, so a direct call is reproducible too.
epoch=${SOURCE_DATE_EPOCH:-1700000000}
fragments="$here/base.config $here/x86_64.config $here/console.config \
$here/virtio.config $here/vsock.config $here/9p.config $here/virtiofs.config \
$here/time.config $here/rootfs.config $here/systemd.config $here/net.config \
$here/memory.config ${EXTRA_FRAGMENTS:-}"

say() { echo "kernel: $*" >&2; }
die() { echo "kernel: $*" >&2; exit 1; }

mkdir -p "$cache" "$out"

# The source tree: a given one, or the Debian tarball unpacked once.
if [ -n "${KERNEL_SRC:-}" ]; then
	src=$(cd "$KERNEL_SRC" && pwd)
	src_id="tree:$src:$(make -s -C "$src" kernelversion)"
else
	[ -r "$tarball" ] || die "no kernel source: $tarball is missing (make deps installs linux-source-6.1)"
	src_id="tarball:$(stat -c '%s %Y' "$tarball"):$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || true)"
	src=$cache/src/$(echo "$src_id" | sha256sum | cut -c1-16)
	if [ ! -f "$src/.unpacked" ]; then
		say "unpacking $tarball"
		rm -rf "$src.tmp" && mkdir -p "$src.tmp"
		tar -xf "$tarball" -C "$src.tmp" --strip-components=1
		touch "$src.tmp/.unpacked"
		rm -rf "$src" && mv "$src.tmp" "$src"
	fi
fi

# Everything that decides the bytes of the image goes into the key.
key=$( {
	echo "$src_id $epoch"
	gcc --version | head -n 1
	cat "$here/build.sh" "$here/check-config.sh"
	for f in $fragments; do echo "== ${f##*/}"; cat "$f"; done
} | sha256sum | cut -c1-16)
done_dir=$cache/kernel/$key

if [ ! -f "$done_dir/vmlinux" ]; then
	obj=$cache/kbuild/$key
	rm -rf "$obj" && mkdir -p "$obj"
	# A failed build leaves nothing half-made in the cache.
	trap 'rm -rf "$obj" "$done_dir.tmp"' EXIT
	say "configuring ($key)"
	# shellcheck disable=SC2086
	(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -n -O "$obj" $fragments) \
		>"$obj/merge.log" 2>&1 || { cat "$obj/merge.log" >&2; die "merge_config.sh failed"; }
	# shellcheck disable=SC2086
	"$here/check-config.sh" "$obj/.config" $fragments
	say "building with $jobs jobs (log: $obj/build.log)"
	# Fixed identity and time, and no build paths in the image, so two
	# builds anywhere give the same bytes.
	make -C "$src" O="$obj" ARCH=x86_64 -j"$jobs" \
		KBUILD_BUILD_TIMESTAMP="$(LC_ALL=C date -u -d "@$epoch")" \
		KBUILD_BUILD_USER=wisp KBUILD_BUILD_HOST=wisp KBUILD_BUILD_VERSION=1 \
		KCFLAGS="-ffile-prefix-map=$src/= -ffile-prefix-map=$obj/=" \
		bzImage vmlinux >"$obj/build.log" 2>&1 ||
		{ tail -n 40 "$obj/build.log" >&2; die "build failed (log: $obj/build.log)"; }
	mkdir -p "$done_dir.tmp"
	cp "$obj/arch/x86/boot/bzImage" "$done_dir.tmp/bzImage"
	# The symbol table is of no use to the VMM: PVH loads only PT_LOAD segments.
	# System.map keeps the names for bench/profile.py.
	strip -o "$done_dir.tmp/vmlinux" "$obj/vmlinux"
	cp "$obj/System.map" "$done_dir.tmp/System.map"
	cp "$obj/.config" "$done_dir.tmp/config"
	rm -rf "$done_dir" && mv "$done_dir.tmp" "$done_dir"
	rm -rf "$obj"
	trap - EXIT
fi
# The initramfs is packed with the kernel's own gen_init_cpio.
if [ ! -x "$done_dir/gen_init_cpio" ]; then
	gcc -O2 -o "$done_dir/gen_init_cpio.tmp" "$src/usr/gen_init_cpio.c"
	mv "$done_dir/gen_init_cpio.tmp" "$done_dir/gen_init_cpio"
fi
# $out/kernel.key names the key of the kernel in $out (tests/test_build.py
# finds the record of the independent rebuild by it): it goes away before the
# products change and comes back after them, so it never names other bytes.
[ "$(cat "$out/kernel.key" 2>/dev/null)" = "$key" ] || rm -f "$out/kernel.key"
# Replace a product only when it changed, so make sees nothing new.
install_if_changed() {
	cmp -s "$1" "$2" || { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }
}
install_if_changed "$done_dir/bzImage" "$out/bzImage"
install_if_changed "$done_dir/vmlinux" "$out/vmlinux"
install_if_changed "$done_dir/config" "$out/kernel.config"
install_if_changed "$done_dir/gen_init_cpio" "$out/gen_init_cpio"
# A cache from before System.map was kept has none: only the profiler misses it.
if [ -f "$done_dir/System.map" ]; then
	install_if_changed "$done_dir/System.map" "$out/System.map"
fi
if [ ! -f "$out/kernel.key" ]; then
	echo "$key" >"$out/kernel.key.tmp" && mv "$out/kernel.key.tmp" "$out/kernel.key"
fi
say "ready: $out/bzImage $out/vmlinux ($key)"
