#!/usr/bin/python3
"""Where a boot spends its time, by sampling: boots `wisp run -- COMMAND`
again and again, reads the vCPU's instruction pointer over QMP as fast as
QEMU answers (a few hundred times a second under TCG) and names each
sample by the kernel's System.map. A profiler of last resort, for what
initcall_debug and the boot trace do not split: alternatives patching,
freeing init memory, calibration loops.

    bench/profile.py [--boots N] [--map out/System.map] [--top K] [-- COMMAND...]

Each sample stands for the time since the one before, so the ms column is
an estimate per boot; the order of the list is what to trust. Samples in
user space are counted together. System.map comes from the kernel build
(kernel-config/build.sh keeps it beside vmlinux, which is stripped)."""
import argparse
import bisect
import collections
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import proc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL_SPACE = 0xffff800000000000
BOOT_TIMEOUT = 60


def load_map(path):
    """Text symbols of System.map, sorted by address."""
    syms = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in "tTwW":
                syms.append((int(parts[0], 16), parts[2]))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def name_of(addrs, names, rip):
    if rip < KERNEL_SPACE:
        return "(user space)"
    i = bisect.bisect_right(addrs, rip) - 1
    return names[i] if i >= 0 else "(unknown kernel address)"


class Qmp:
    def __init__(self, path, deadline):
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise TimeoutError("no QMP socket at %s" % path)
            time.sleep(0.0005)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.f = self.sock.makefile("rwb", buffering=0)
        self.f.readline()  # the greeting
        self.call({"execute": "qmp_capabilities"})

    def call(self, cmd):
        self.f.write(json.dumps(cmd).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QEMU closed QMP")
            reply = json.loads(line)
            if "event" not in reply:
                return reply

    def close(self):
        self.sock.close()


RIP = re.compile(r"RIP=([0-9a-f]+)")
REGISTERS = {"execute": "human-monitor-command", "arguments": {"command-line": "info registers"}}


def sample_boot(wisp, command, qmp_path):
    """(seconds between samples, symbol address) of one boot, and its status."""
    p = proc.spawn([wisp, "run", "--timeout", str(BOOT_TIMEOUT), "--qmp", qmp_path, "--"] + command,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    try:
        q = Qmp(qmp_path, time.monotonic() + 10)
        last = time.monotonic()
        try:
            while True:
                m = RIP.search(q.call(REGISTERS).get("return", ""))
                now = time.monotonic()
                if m:
                    samples.append((now - last, int(m.group(1), 16)))
                last = now
        except (EOFError, OSError, ValueError):
            pass  # the VM ended
        q.close()
        status = p.wait(timeout=BOOT_TIMEOUT)
    finally:
        proc.kill(p)
    return samples, status


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boots", type=int, default=12)
    ap.add_argument("--map", default=os.path.join(ROOT, "out", "System.map"))
    ap.add_argument("--wisp", default=os.path.join(ROOT, "out", "wisp"))
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("command", nargs="*", default=["true"])
    args = ap.parse_args()
    if not os.path.exists(args.map):
        sys.exit("profile: no %s: it comes with a kernel build; a cache from before "
                 "build.sh kept it needs `rm -rf ~/.cache/wisp/kernel/$(key) && make kernel`"
                 % args.map)
    proc.install_signal_handlers()
    addrs, names = load_map(args.map)
    ms = collections.Counter()
    hits = collections.Counter()
    total_s, boots = 0.0, 0
    with tempfile.TemporaryDirectory(prefix="wisp-profile-") as tmp:
        for i in range(args.boots):
            samples, status = sample_boot(args.wisp, args.command, os.path.join(tmp, "qmp%d" % i))
            if status != 0:
                print("profile: boot %d ended with status %d; left out" % (i + 1, status))
                continue
            boots += 1
            for dt, rip in samples:
                n = name_of(addrs, names, rip)
                ms[n] += dt * 1000
                hits[n] += 1
                total_s += dt
    if not boots:
        sys.exit("profile: no boot succeeded")
    nsamples = sum(hits.values())
    print("%d boots, %d samples (one per %.1f ms), %.0f ms sampled per boot"
          % (boots, nsamples, 1000 * total_s / max(nsamples, 1), 1000 * total_s / boots))
    print("%9s %7s %6s  %s" % ("ms/boot", "samples", "share", "where"))
    for n, t in ms.most_common(args.top):
        print("%9.1f %7d %5.1f%%  %s" % (t / boots, hits[n], 100 * t / (1000 * total_s), n))


if __name__ == "__main__":
    main()
