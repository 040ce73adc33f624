#!/bin/busybox sh
# /init of the busybox baseline in `make bench`: what a minimal shell init
# does before and after one command. The two lines written to /dev/kmsg at
# level 3 reach the console even with `quiet`, stamped with the kernel's
# clock (printk.time=1), so the host learns when init started and when the
# command was started; the BENCH-EXIT line carries the exit status.
echo '<3>bench: init' >/dev/kmsg
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo '<3>bench: spawn' >/dev/kmsg
/bin/true
echo "BENCH-EXIT $?"
# A reset, which ends QEMU (-no-reboot; reboot=t on the kernel command line).
/bin/busybox reboot -f
