#!/bin/sh
# A small Debian root for the --init systemd tests: mmdebstrap's minbase
# with systemd-sysv, as a squashfs (lz4), cached by the hash of its inputs.
#
#   mkdebian.sh CACHE    builds CACHE/debian-KEY/root.squashfs once (needs
#                        root, or unshare, and Debian's mirror), prints the
#                        directory. A build that fails leaves nothing.
#
# /etc/wisp-root holds "debian KEY". The package set is whatever the mirror
# had on the day of the build: the image is cached, not reproducible.
set -eu

cache=${1:?usage: mkdebian.sh CACHE}
suite=${DEBIAN_SUITE:-bookworm}
include=systemd-sysv
mode=root
[ "$(id -u)" = 0 ] || mode=unshare

key=$({
	cat "$0"
	echo "$suite $include $mode"
	mmdebstrap --version
	mksquashfs -version 2>&1 | head -n 1
} | sha256sum | cut -c 1-16)

out=$cache/debian-$key
if [ -f "$out/done" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
# Identity files (hostname, hosts, resolv.conf, machine-id) are wisp-init's
# to write at boot: leave machine-id empty, as for a golden image.
mmdebstrap --quiet --mode="$mode" --variant=minbase --include="$include" \
	--customize-hook='echo "debian '"$key"'" >"$1/etc/wisp-root"' \
	--customize-hook='rm -f "$1/etc/hostname"; : >"$1/etc/machine-id"' \
	"$suite" "$work/tree" >&2
# mksquashfs 4.5 stores no POSIX ACLs (journald's on /var/log/journal) and
# says so twice; it has no option to leave them out quietly.
mksquashfs "$work/tree" "$work/root.squashfs" -comp lz4 -noappend -quiet -no-progress >/dev/null
rm -rf "$work/tree"
mkdir "$work/result"
mv "$work/root.squashfs" "$work/result/"
echo "built in $(($(date +%s) - start)) s on $(date -u +%FT%TZ)" >"$work/result/done"
if ! mv -T "$work/result" "$out" 2>/dev/null; then
	[ -f "$out/done" ] || {
		rm -rf "$out"
		mv -T "$work/result" "$out"
	}
fi
echo "$out"
