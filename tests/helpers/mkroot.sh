#!/bin/sh
# The test roots of issue 13, from Debian's busybox-static, cached by the
# hash of their inputs (this script, the busybox binary, the tools' versions).
#
#   mkroot.sh CACHE      builds CACHE/KEY once, prints CACHE/KEY. It holds
#     dir/               a directory root: bin/busybox and a link for each of
#                        its applets, /etc/passwd (root, tester 1000:1000),
#                        /etc/group, /home/tester, /sbin/tinyinit, empty
#                        proc sys dev run tmp
#     root.ext4          the same tree as an ext4 image (mke2fs -d, 16 MiB)
#     root.erofs         ... as erofs (uncompressed: the guest kernel has no
#                        EROFS_FS_ZIP)
#     root.squashfs      ... as squashfs (lz4)
#
# Every tree holds /etc/wisp-root, "KIND KEY": a test that reads it knows
# which root the guest booted, and that it is not the host's.
#
# Times and owners are fixed (erofs and squashfs are byte-for-byte
# reproducible; Debian 12's mke2fs -d is not, which a test does not need).
# A second run with the same inputs prints the same directory and builds
# nothing. Two concurrent runs both build, and one rename wins.
set -eu

cache=${1:?usage: mkroot.sh CACHE}
busybox=${BUSYBOX:-/bin/busybox}
epoch=${SOURCE_DATE_EPOCH:-1700000000}
uuid=5a1d7e57-0000-4000-8000-000000000013

key=$({
	cat "$0"
	sha256sum <"$busybox"
	mke2fs -V 2>&1 | head -n 1
	mkfs.erofs --help 2>&1 | head -n 1
	mkfs.erofs -V 2>/dev/null || true
	mksquashfs -version 2>&1 | head -n 1
	id -u
} | sha256sum | cut -c 1-16)

out=$cache/$key
if [ -f "$out/done" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- the tree every root shares --------------------------------------
base=$work/base
mkdir -p "$base"
cd "$base"
mkdir -p bin sbin usr/bin usr/sbin etc root home/tester proc sys dev run tmp mnt var/tmp
chmod 1777 tmp var/tmp
chmod 700 root
cp "$busybox" bin/busybox
chmod 755 bin/busybox
for applet in $(bin/busybox --list-full); do
	[ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
done
[ -L bin/sh ] || ln -s /bin/busybox bin/sh

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:wisp tester:/home/tester:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
tester:x:1000:
nogroup:x:65534:
EOF
chmod 644 etc/passwd etc/group
# Root builds give tester its home; anyone else gets a tree owned by root
# (the image tools' all-root options), which -u 1000 can still read.
all_root=
if [ "$(id -u)" = 0 ]; then
	chown 1000:1000 home/tester
else
	all_root=yes
fi

# A tiny init for --init: it mounts nothing (wisp-init has), reports
# readiness the way wisp expects of an init that is not systemd, and powers
# the VM off when asked. STOP_SIGNALS is the one line to change if wisp asks
# for the power-off with another signal.
cat >sbin/tinyinit <<'EOF'
#!/bin/sh
# wisp test init: ready at once, power off on a stop signal.
STOP_SIGNALS="TERM INT USR1 USR2 PWR"
READY=/run/wisp/ready

stop() {
	echo "tinyinit: stop signal, rebooting" >/dev/kmsg 2>/dev/null
	exec /bin/busybox reboot -f
}
trap stop $STOP_SIGNALS

echo "tinyinit: pid $$, ready" >/dev/kmsg 2>/dev/null
mkdir -p /run/wisp
echo "$$" >/run/tinyinit.pid
: >"$READY"
# A trapped signal interrupts wait at once; sleep alone would delay it.
while :; do
	sleep 60 &
	wait $!
done
EOF
chmod 755 sbin/tinyinit
cd - >/dev/null

# ---- one copy per kind, each with its own marker ----------------------
stage() { # KIND -> a copy of the base tree marked KIND
	cp -a "$base" "$work/$1"
	echo "$1 $key" >"$work/$1/etc/wisp-root"
	chmod 644 "$work/$1/etc/wisp-root"
	# Fixed times: erofs and squashfs take theirs from options, ext4 and
	# the directory root from the tree.
	find "$work/$1" -exec touch -h -d "@$epoch" {} +
}

stage ext4
stage erofs
stage squashfs
stage dir

E2FSPROGS_FAKE_TIME=$epoch mke2fs -q -t ext4 -L wisptest -U "$uuid" \
	-E "hash_seed=$uuid,root_owner=0:0" -d "$work/ext4" "$work/root.ext4" 16M >/dev/null
mkfs.erofs --quiet -T"$epoch" ${all_root:+--all-root} -U "$uuid" "$work/root.erofs" "$work/erofs" >/dev/null
# mksquashfs refuses SOURCE_DATE_EPOCH beside -mkfs-time (make exports it).
env -u SOURCE_DATE_EPOCH mksquashfs "$work/squashfs" "$work/root.squashfs" -comp lz4 ${all_root:+-all-root} \
	-mkfs-time "$epoch" -all-time "$epoch" -noappend -quiet -no-progress >/dev/null

result=$work/result
mkdir "$result"
mv "$work/dir" "$result/dir"
mv "$work/root.ext4" "$work/root.erofs" "$work/root.squashfs" "$result/"
chmod 644 "$result"/root.*
date -u +%FT%TZ >"$result/done"
if ! mv -T "$result" "$out" 2>/dev/null; then
	# Another build won the race, or a broken one is in the way.
	[ -f "$out/done" ] || {
		rm -rf "$out"
		mv -T "$result" "$out"
	}
fi
echo "$out"
