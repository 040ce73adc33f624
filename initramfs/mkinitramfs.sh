#!/bin/sh
# mkinitramfs.sh GEN_INIT_CPIO WISP_INIT OUT.cpio[.lz4|.gz]
# Writes a bit-for-bit reproducible initramfs: every entry from a sorted
# manifest, owned by root, with the mtime SOURCE_DATE_EPOCH (default 0),
# compressed with `lz4 -l` (the legacy frame the kernel reads) or `gzip -n`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gen=$1 init=$2 out=$3
busybox=${BUSYBOX:-/bin/busybox}
epoch=${SOURCE_DATE_EPOCH:-0}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# gen_init_cpio takes file mtimes from the files: copy and pin them.
cp "$init" "$stage/init"
cp "$busybox" "$stage/busybox"
cp "$here/passwd" "$here/group" "$stage/"
touch -h -d "@$epoch" "$stage"/*

{
	sed -e '/^#/d' -e "s|@INIT@|$stage/init|" -e "s|@BUSYBOX@|$stage/busybox|" \
	    -e "s|@HERE@|$stage|" "$here/base.list"
	# One symlink per applet, except where the manifest has the path already.
	"$busybox" --list-full | LC_ALL=C sort | while read -r applet; do
		case "/$applet" in
		/init | /bin/busybox) continue ;;
		esac
		dir=${applet%/*}
		case "$dir" in
		bin | sbin | usr/bin | usr/sbin) ;;
		*) continue ;;
		esac
		echo "slink /$applet /bin/busybox 0777 0 0"
	done
} >"$stage/list"

"$gen" -t "$epoch" "$stage/list" >"$stage/initramfs.cpio"
case "$out" in
*.lz4) lz4 -q -l -9 -f "$stage/initramfs.cpio" "$out.tmp" ;;
*.gz) gzip -n -9 -c "$stage/initramfs.cpio" >"$out.tmp" ;;
*) cp "$stage/initramfs.cpio" "$out.tmp" ;;
esac
mv "$out.tmp" "$out"
