#!/usr/bin/python3
"""make bench: wisp against baselines built in the same run, several boots
each, medians and ratios. A benchmark, not a test: absolute times on a
shared 2-core machine under TCG are noisy; the ratios within one run are
what count.

Writes OUT/bench/results.json and OUT/bench/boot.svg, prints a table; the
--rootfs boots are bench/rootfs.py's, the workloads on the host's root
across volume sharing options bench/workload.py's (both runnable alone).
Environment: BENCH_RUNS (boots per system, default 10), BENCH_FS_RUNS
(default 3), BENCH_WORKLOAD_RUNS (default 3), BENCH_DENSITY (VMs at once,
default 20), BENCH_EXEC_MIB (default 64), BENCH_FWD_MIB (default 64),
BENCH_FWD_CONNS (default 50), SOAK_BOOTS (default 500; 0
skips the soak), BENCH_DEBIAN_KERNEL (a bzImage to use instead of fetching Debian's)."""
import argparse
import base64
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import baseline
import forward
import net
import proc
import rootfs
import soak
import svg
import workload

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BOOT_TIMEOUT = 60        # wisp's --timeout and the deadline of a direct boot
SLACK = 30               # how much longer the launcher itself may take
MIB = 1024 * 1024
FS_MIB = 256
MIN_MEMORY_MIB = 16      # the smallest -m wisp accepts
MEMORY_TIMEOUT = 20      # a boot of `true` that takes longer at low memory has hung
MEMORY_WALK = 8          # how far above the bisection's answer to look for a reliable -m
POLL_S = 0.05


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        sys.exit("bench: %s must be a number" % name)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def r1(x):
    return None if x is None else round(x, 1)


def say(*args):
    print(*args, flush=True)


class Bench:
    def __init__(self, out):
        self.out = out
        self.dir = os.path.join(out, "bench")
        self.wisp = os.path.join(out, "wisp")
        self.tag = "wispbench=" + uuid.uuid4().hex[:12]
        self.runs = max(1, env_int("BENCH_RUNS", 10))
        self.problems = []
        self.template = baseline.DEFAULT_TEMPLATE
        self.kernel_args = baseline.base_cmdline()
        self.template_source = "built in (wisp's QEMU command line could not be read)"

    # ---- the machine --------------------------------------------------

    def machine(self):
        cpu = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        qemu = proc.run([baseline.QEMU, "--version"], timeout=30).out.decode().splitlines()
        return {
            "cpu": cpu,
            "nproc": os.cpu_count(),
            "kernel": platform.release(),
            "qemu": qemu[0] if qemu else "unknown",
            "accel": "tcg",
            "loadavg_at_start": os.getloadavg(),
        }

    # ---- boots of `true` ----------------------------------------------

    def systems(self, deb_kernel, busybox_initrd):
        """Each system: how it boots, and what it is."""
        vmlinux = os.path.join(self.out, "vmlinux")
        wisp_initrd = os.path.join(self.out, "initramfs.cpio.lz4")
        s = [
            {"key": "wisp", "label": "wisp run (vmlinux + wisp-init)", "kind": "wisp", "extra": []},
            {"key": "wisp-bzimage", "label": "wisp run --kernel bzImage", "kind": "wisp",
             "extra": ["--kernel", os.path.join(self.out, "bzImage")]},
            {"key": "wispk-busybox", "label": "wisp kernel + busybox init", "kind": "direct",
             "init": "busybox", "kernel": vmlinux, "initrd": busybox_initrd},
            {"key": "wispk-wispinit", "label": "wisp kernel + wisp-init, console", "kind": "direct",
             "init": "wisp", "kernel": vmlinux, "initrd": wisp_initrd},
        ]
        if deb_kernel:
            s += [
                {"key": "debian-busybox", "label": "Debian kernel + busybox init", "kind": "direct",
                 "init": "busybox", "kernel": deb_kernel, "initrd": busybox_initrd},
                {"key": "debian-wispinit", "label": "Debian kernel + wisp-init, console", "kind": "direct",
                 "init": "wisp", "kernel": deb_kernel, "initrd": wisp_initrd},
            ]
        return s

    def wisp_boot(self, system):
        """`wisp run --trace-json F -- true`: the wall time measured here,
        the phases from the trace. wisp's clock starts a little after our
        fork, and it exits a little after QEMU: that difference is counted
        in "launch → kernel", against wisp."""
        trace = os.path.join(self.dir, "trace.json")
        if os.path.exists(trace):
            os.unlink(trace)
        argv = [self.wisp, "run", "--timeout", str(BOOT_TIMEOUT), "--append", self.tag,
                "--trace-json", trace] + system["extra"] + ["--", "true"]
        system.setdefault("command", argv)
        r = proc.run(argv, timeout=BOOT_TIMEOUT + SLACK)
        if r.rc != 0:
            return {"error": r.brief()}
        with open(trace) as f:
            t = json.load(f)
        os.unlink(trace)
        g, h = t["guest_ms"], t["host_ms"]
        wall = r.elapsed * 1000
        offset = wall - h["vm_gone"]
        status = h["status"] + offset
        # The guest's clock starts with its kernel: each host event that
        # follows a guest one bounds the kernel's start from above, and the
        # tightest bound wins. Over vsock the agent's ready notice and the
        # exec's status pair up; on the virtio port, hello and the report.
        pairs = [("ready", "agent"), ("status", "exited"), ("hello", "spawned"), ("status", "reported")]
        kernel = offset + min(h[a] - g[b] for a, b in pairs if a in h and b in g)
        # PID 1's own work ends where it waits for the host: the agent
        # listening (vsock) or the command spawned (virtio port).
        own_end = g.get("agent", g["spawned"])
        return {"to_status": status, "to_exit": wall, "segments": {
            "launch_kernel": kernel,
            "kernel_init": g["init"],
            "init_cmd": g["spawned"] - g["init"],
            "cmd_status": status - kernel - g["spawned"],
            "poweroff": wall - status,
        }, "init_own": own_end - g["init"]}

    def direct_append(self, system, command):
        append = self.kernel_args + " printk.time=1 " + self.tag
        nonce = None
        if system["init"] == "wisp":
            nonce = uuid.uuid4().hex[:16]
            argv = base64.b64encode(b"".join(a.encode() + b"\0" for a in command)).decode()
            append += " wisp.nonce=%s wisp.io=console wisp.cmd=%s" % (nonce, argv)
        return append, nonce

    def direct_boot(self, system, command=("true",)):
        append, nonce = self.direct_append(system, command)
        marker = baseline.WISP_MARKER % nonce if nonce else baseline.BUSYBOX_MARKER
        b = baseline.boot(self.template, system["kernel"], system["initrd"], append, marker, BOOT_TIMEOUT)
        system.setdefault("command", b.argv)
        if b.error:
            return {"error": b.error}
        if b.status != 0:
            return {"error": "the command's exit status was %d" % b.status}
        ks = b.kernel_start()
        ks = None if ks is None else ks * 1000
        to_status, to_exit = b.t_status * 1000, b.t_exit * 1000
        rec = {"to_status": to_status, "to_exit": to_exit, "qemu_hwm_kib": b.hwm_kib,
               "segments": {"launch_kernel": ks, "poweroff": to_exit - to_status}, "boot": b}
        if system["init"] == "busybox":
            init, spawn = b.kernel_mark("bench: init"), b.kernel_mark("bench: spawn")
            if ks is not None and init is not None and spawn is not None:
                rec["segments"].update({
                    "kernel_init": init * 1000,
                    "init_cmd": (spawn - init) * 1000,
                    "cmd_status": to_status - ks - spawn * 1000,
                })
        elif ks is not None:
            rec["kernel_to_status"] = to_status - ks
        return rec

    def probe_boot(self, system):
        """Kernel start -> /init for a wisp-init baseline, which reports
        nothing but its exit on the console: a boot whose command is dmesg,
        and the stamp of the kernel's "Run /init as init process"."""
        rec = self.direct_boot(system, ("dmesg",))
        if "error" in rec:
            return rec
        ts = rec["boot"].kernel_mark("Run /init as init process")
        return {"kernel_init": None if ts is None else ts * 1000}

    def boots(self, systems):
        """BENCH_RUNS boots of `true` per system, one of each per round, so
        that a noisy minute on the machine hits every system alike. The
        wisp-init baselines get as many probe boots, in the same rounds."""
        probes = [dict(s, probe_of=s["key"], key=s["key"] + ":probe") for s in systems
                  if s.get("init") == "wisp"]
        everything = systems + probes
        say("bench: %d boots of `true` per system, %d systems (+%d probes), interleaved, after a warm-up round"
            % (self.runs, len(systems), len(probes)))
        records = {s["key"]: [] for s in everything}
        for round_no in range(self.runs + 1):
            # Rotate the order so that no system always follows the same one.
            k = round_no % len(everything)
            for s in everything[k:] + everything[:k]:
                if s.get("probe_of"):
                    rec = self.probe_boot(s)
                elif s["kind"] == "wisp":
                    rec = self.wisp_boot(s)
                else:
                    rec = self.direct_boot(s)
                rec.pop("boot", None)
                if round_no > 0:
                    records[s["key"]].append(rec)
            say("bench:   round %d/%d done" % (round_no, self.runs) if round_no else "bench:   warm-up done")
        out = {}
        for s in systems:
            probes = records.get(s["key"] + ":probe", [])
            probe = [r.get("kernel_init") for r in probes if "error" not in r]
            failed = [r["error"] for r in probes if "error" in r]
            if failed:
                self.problems.append("%s, probe boots: %d failed (%s)" % (s["label"], len(failed), failed[0]))
            out[s["key"]] = self.summarize(s, records[s["key"]], median(probe))
        base = out.get("wisp", {})
        for key, o in out.items():
            for what in ("to_status", "to_exit"):
                if o.get(what) and base.get(what):
                    o["ratio_" + what] = round(o[what] / base[what], 2)
        return out

    def summarize(self, system, recs, probe=None):
        good = [r for r in recs if "error" not in r]
        errors = [r["error"] for r in recs if "error" in r]
        o = {"label": system["label"], "runs": len(recs), "ok": len(good),
             "to_exit_samples": [r1(r["to_exit"]) for r in good],
             "command": [a if isinstance(a, str) else str(a) for a in system.get("command", [])]}
        if errors:
            o["errors"] = errors[:5]
            self.problems.append("%s: %d of %d boots failed (%s)" % (system["label"], len(errors), len(recs), errors[0]))
        if not good:
            return o
        for what in ("to_status", "to_exit"):
            vals = [r[what] for r in good]
            o[what] = r1(median(vals))
            o[what + "_min"] = r1(min(vals))
            o[what + "_max"] = r1(max(vals))
        segs = {}
        for key, _, _ in svg.PHASES:
            segs[key] = r1(median([r["segments"].get(key) for r in good]))
        if system.get("init") == "wisp":
            # Split kernel -> exit status where the probes allow it: the
            # difference of two medians, which noise can make meaningless.
            k2s = median([r.get("kernel_to_status") for r in good])
            o["kernel_init_probe"] = r1(probe)
            o["kernel_init_probe_how"] = ("as many boots running dmesg, in the same rounds: "
                                          "the stamp of 'Run /init as init process'")
            if probe is not None and k2s is not None and k2s > probe:
                segs["kernel_init"] = r1(probe)
                segs["init_status"] = r1(k2s - probe)
            else:
                segs["kernel_status"] = r1(k2s)
        o["segments"] = {k: v for k, v in segs.items() if v is not None}
        own = median([r["init_own"] for r in good if "init_own" in r])
        if own is not None:
            o["init_own"] = r1(own)
        hwm = median([r.get("qemu_hwm_kib") for r in good])
        if hwm:
            o["qemu_hwm_mib"] = r1(hwm / 1024)
        return o

    # ---- memory ---------------------------------------------------------

    def boots_with(self, mib):
        r = proc.run([self.wisp, "run", "-m", str(mib), "--timeout", str(MEMORY_TIMEOUT), "--append",
                      self.tag, "--", "true"], timeout=MEMORY_TIMEOUT + SLACK)
        return r.rc == 0, r

    def smallest_memory(self):
        """Bisects -m between wisp's minimum and its default, then walks up
        from the answer until it boots three times in a row: near the edge
        a boot may pass once and fail the next time."""
        say("bench: the smallest -m that boots (bisect)")
        tried = {}

        def ok(mib):
            good, r = self.boots_with(mib)
            tried.setdefault(mib, []).append("ok" if good else r.brief())
            return good

        lo, hi = MIN_MEMORY_MIB - 1, 256
        if not ok(hi):
            return {"error": "wisp run -m 256 -- true failed: %s" % tried[hi][-1], "tried": tried}
        if ok(MIN_MEMORY_MIB):
            hi = MIN_MEMORY_MIB
        else:
            lo = MIN_MEMORY_MIB
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid
        first = hi
        for _ in range(MEMORY_WALK):
            if ok(hi) and ok(hi):
                break
            hi += 1
        else:
            return {"error": "no -m from %d to %d MiB booted three times in a row" % (first, hi),
                    "tried": {str(k): v for k, v in sorted(tried.items())}}
        return {"smallest_mib": hi, "bisect_found_mib": first,
                "rule": "boots three times in a row (wisp run -m N --timeout %d -- true)" % MEMORY_TIMEOUT,
                "tried": {str(k): v for k, v in sorted(tried.items())}}

    def follow_wisp(self, qemu_argv):
        """The direct boots copy the QEMU command line wisp used."""
        template, args = baseline.template_from_wisp(qemu_argv or [], self.tag)
        if template:
            self.template, self.kernel_args = template, args
            self.template_source = "wisp's own QEMU command line, without its virtio-serial channel"
        else:
            self.problems.append("wisp's QEMU command line could not be read; the direct boots use a built-in copy")

    def qemu_rss(self):
        """QEMU's peak RSS while `wisp run -- sleep 2` runs (default -m),
        and the command line wisp gave it."""
        say("bench: QEMU's RSS during wisp run -- sleep 2")
        argv = [self.wisp, "run", "--timeout", str(BOOT_TIMEOUT), "--append", self.tag, "--", "sleep", "2"]
        p = proc.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        qemu, qemu_argv, hwm, rss, pss, launcher = None, None, 0, 0, 0, 0
        deadline = time.monotonic() + BOOT_TIMEOUT + SLACK
        while p.poll() is None and time.monotonic() < deadline:
            if qemu is None:
                qemu = proc.qemu_child(p.pid)
                if qemu:
                    qemu_argv = [a.decode(errors="replace") for a in proc.cmdline(qemu) if a]
            if qemu:
                mem = proc.memory_kib(qemu)
                if mem:
                    hwm, rss = max(hwm, mem["VmHWM"]), max(rss, mem["VmRSS"])
                    pss = max(pss, proc.pss_kib(qemu) or 0)
            mine = proc.memory_kib(p.pid)
            if mine:
                launcher = max(launcher, mine["VmHWM"])
            time.sleep(POLL_S)
        proc.kill(p)
        if p.returncode != 0 or not hwm:
            return {"error": "wisp run -- sleep 2 ended with %s" % p.returncode}
        return {"memory_mib": 256, "qemu_vmhwm_mib": r1(hwm / 1024), "qemu_vmrss_max_mib": r1(rss / 1024),
                "qemu_pss_max_mib": r1(pss / 1024),
                "launcher_vmhwm_mib": r1(launcher / 1024), "qemu_argv": qemu_argv}

    # ---- sizes ----------------------------------------------------------

    def sizes(self, deb):
        names = ["bzImage", "vmlinux", "wisp-init", "initramfs.cpio.lz4"]
        out = {n: os.path.getsize(os.path.join(self.out, n)) for n in names}
        out["busybox-init.cpio.lz4 (baseline)"] = os.path.getsize(os.path.join(self.dir, "busybox-init.cpio.lz4"))
        if deb:
            out["Debian vmlinuz (baseline)"] = os.path.getsize(deb["path"])
        return out

    # ---- shares ---------------------------------------------------------

    FS_SCRIPT = (
        "set -e; %s"
        "mark() { echo \"<6>bench: $1\" >/dev/kmsg; }; "
        "mark w0; dd if=/dev/zero of=/mnt/bench.dat bs=1M count=%d 2>/dev/null; sync; mark w1; "
        "echo 3 >/proc/sys/vm/drop_caches; "
        "mark r0; dd if=/mnt/bench.dat of=/dev/null bs=1M 2>/dev/null; mark r1; "
        "dmesg | grep 'bench: '; grep ' /mnt ' /proc/mounts"
    )

    def shares(self):
        """256 MiB written then read back (guest caches dropped between) with
        dd bs=1M in the guest; timed by the guest kernel's clock."""
        runs = max(1, env_int("BENCH_FS_RUNS", 3))
        say("bench: shares, %d MiB written and read, %d runs each" % (FS_MIB, runs))
        host = tempfile.mkdtemp(prefix="fs-", dir=self.dir)
        remount = "umount /mnt; mount -t 9p -o trans=virtio,version=9p2000.L wisp0 /mnt; "
        configs = [
            ("9p, wisp's options", "9p", [], ""),
            ("9p, the kernel's default options", "9p", [], remount),
            ("virtiofs (cache=auto)", "virtiofs", ["--fs", "virtiofs"], ""),
        ]
        out = []
        try:
            for label, fs, extra, pre in configs:
                writes, reads, mounts, errors = [], [], None, []
                for _ in range(runs):
                    script = self.FS_SCRIPT % (pre, FS_MIB)
                    argv = [self.wisp, "run", "--timeout", "600", "--append", "printk.time=1 " + self.tag,
                            "-v", host + ":/mnt"] + extra + ["--", "sh", "-c", script]
                    r = proc.run(argv, timeout=600 + SLACK)
                    data = os.path.join(host, "bench.dat")
                    size = os.path.getsize(data) if os.path.exists(data) else 0
                    if os.path.exists(data):
                        os.unlink(data)
                    if r.rc != 0 or size != FS_MIB * MIB:
                        errors.append(r.brief() if r.rc != 0 else "the host file has %d bytes" % size)
                        continue
                    text = r.out.decode(errors="replace")
                    marks = dict((m.group(2), float(m.group(1))) for m in
                                 re.finditer(r"\[\s*(\d+\.\d+)\] bench: (\w+)", text))
                    mounts = [l for l in text.splitlines() if " /mnt " in l][-1:] or mounts
                    if all(k in marks for k in ("w0", "w1", "r0", "r1")):
                        writes.append(FS_MIB / (marks["w1"] - marks["w0"]))
                        reads.append(FS_MIB / (marks["r1"] - marks["r0"]))
                    else:
                        errors.append("no timing marks in the output")
                entry = {"config": label, "fs": fs, "runs": runs,
                         "write_mib_s": r1(median(writes)), "read_mib_s": r1(median(reads)),
                         "guest_mount": mounts[0] if mounts else None}
                if pre:
                    entry["guest_remount"] = pre.strip()
                if errors:
                    entry["errors"] = errors[:3]
                    self.problems.append("shares, %s: %s" % (label, errors[0]))
                out.append(entry)
        finally:
            shutil.rmtree(host, ignore_errors=True)
        return {"mib": FS_MIB, "tool": "dd bs=1M, guest caches dropped before the read; "
                "times from the guest kernel clock", "results": out}

    # ---- density --------------------------------------------------------

    def density(self):
        n = max(1, env_int("BENCH_DENSITY", 20))
        say("bench: density, %d VMs started at once" % n)
        argv = [self.wisp, "run", "--timeout", "300", "--append", self.tag, "--", "sh", "-c", "echo ok"]
        start = time.monotonic()
        procs = [proc.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
        qemus, hwm, ends = {}, {}, {}
        peak_sum, peak_pss, avail0 = 0, 0, _mem_available_kib()
        avail_min = avail0
        deadline = start + 300 + SLACK
        while len(ends) < n and time.monotonic() < deadline:
            now_sum = now_pss = 0
            for p in procs:
                if p.pid in ends:
                    continue
                if p.poll() is not None:
                    ends[p.pid] = time.monotonic() - start
                    continue
                if p.pid not in qemus:
                    q = proc.qemu_child(p.pid)
                    if q:
                        qemus[p.pid] = q
                q = qemus.get(p.pid)
                mem = proc.memory_kib(q) if q else None
                if mem:
                    hwm[p.pid] = max(hwm.get(p.pid, 0), mem["VmHWM"])
                    now_sum += mem["VmRSS"]
                    now_pss += proc.pss_kib(q) or 0
            peak_sum = max(peak_sum, now_sum)
            peak_pss = max(peak_pss, now_pss)
            avail_min = min(avail_min, _mem_available_kib())
            time.sleep(0.1)
        ok = 0
        for p in procs:
            if p.poll() is None:
                proc.kill(p)
            out, _ = p.communicate()
            proc.forget(p)
            ok += p.returncode == 0 and out == b"ok\n"
        if ok < n:
            self.problems.append("density: %d of %d VMs failed" % (n - ok, n))
        walls = sorted(ends.values())
        return {"vms": n, "command": "wisp run -- sh -c 'echo ok' (default -m 256)", "ok": ok,
                "total_s": round(max(walls), 2) if walls else None,
                "median_vm_s": round(statistics.median(walls), 2) if walls else None,
                "peak_summed_qemu_rss_mib": r1(peak_sum / 1024),
                "peak_summed_qemu_pss_mib": r1(peak_pss / 1024),
                "summed_qemu_vmhwm_mib": r1(sum(hwm.values()) / 1024),
                "host_memavailable_drop_mib": r1((avail0 - avail_min) / 1024),
                "note": "sampled every 100 ms; MemAvailable also moves with whatever else runs"}

    # ---- wisp exec --------------------------------------------------------

    def exec_latency(self):
        """`wisp exec` on a VM kept running by `wisp start`, when the
        launcher has them (else a "not available" entry)."""
        r = proc.run([self.wisp, "start", "--help"], timeout=30)
        err = (r.out + r.err).decode(errors="replace")
        if r.rc == 125 and "unknown command" in err:
            say("bench: wisp exec: not available (this wisp has no `start`)")
            return {"available": False, "why": "out/wisp has no `start` command yet (exit 125, unknown command)"}
        say("bench: wisp exec on a running VM")
        runtime = tempfile.mkdtemp(prefix="run-", dir=self.dir)
        env = dict(os.environ, WISP_RUNTIME_DIR=runtime)
        name = "bench-" + uuid.uuid4().hex[:8]
        logs = open(os.path.join(runtime, "start.log"), "wb")
        starter = proc.spawn([self.wisp, "start", "--name", name, "--append", self.tag],
                             stdout=logs, stderr=logs, env=env)
        result = {"available": True, "name": name}
        try:
            result.update(self._exec_measure(name, env, starter))
        finally:
            stop = proc.run([self.wisp, "stop", name], timeout=60, env=env)
            result["stop"] = "ok" if stop.rc == 0 else stop.brief()
            try:
                starter.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            proc.kill(starter)
            logs.close()
            left = proc.sweep(self.tag)
            if left:
                result["vmms_killed_after_stop"] = left
                self.problems.append("wisp exec: %d VMM processes outlived `wisp stop`" % left)
            shutil.rmtree(runtime, ignore_errors=True)
        if "error" in result:
            self.problems.append("wisp exec: %s" % result["error"])
        return result

    def _exec_measure(self, name, env, starter):
        t0 = time.monotonic()
        deadline = t0 + BOOT_TIMEOUT
        ready = None
        while time.monotonic() < deadline:
            if starter.poll() not in (None, 0):
                return {"error": "wisp start --name %s exited %s" % (name, starter.returncode)}
            r = proc.run([self.wisp, "exec", name, "--", "true"], timeout=20, env=env)
            if r.rc == 0:
                ready = time.monotonic() - t0
                break
            time.sleep(0.2)
        if ready is None:
            return {"error": "no successful wisp exec within %ds of wisp start" % BOOT_TIMEOUT}
        lat = []
        for _ in range(self.runs):
            r = proc.run([self.wisp, "exec", name, "--", "true"], timeout=30, env=env)
            if r.rc != 0:
                return {"error": "wisp exec %s -- true: %s" % (name, r.brief())}
            lat.append(r.elapsed * 1000)
        mib = max(1, env_int("BENCH_EXEC_MIB", 64))
        data = os.urandom(mib * MIB)
        with tempfile.TemporaryFile(dir=self.dir) as f:
            f.write(data)
            f.seek(0)
            r = proc.run([self.wisp, "exec", "-i", name, "--", "cat"], timeout=600, stdin=f, env=env)
        if r.rc != 0 or r.out != data:
            return {"error": "wisp exec -i %s -- cat: %s, %d of %d bytes back intact"
                    % (name, r.brief(), len(r.out) if r.out == data[:len(r.out)] else 0, len(data))}
        return {"start_to_first_exec_s": round(ready, 2), "exec_true_ms": r1(median(lat)),
                "exec_true_ms_min": r1(min(lat)), "exec_true_ms_max": r1(max(lat)), "runs": self.runs,
                "stdin_to_stdout_mib": mib, "stdin_to_stdout_mib_s": r1(mib / r.elapsed)}


def _mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


# ---- the report ---------------------------------------------------------

TARGETS = "targets of issue 6"


def fmt(x, spec="%.0f", none="-"):
    return none if x is None else spec % x


def boot_table(boot):
    head = ("%-36s %8s %8s %8s %8s %8s %9s %9s %7s %7s"
            % ("boot of `true`, medians in ms", "launch", "kernel", "init", "command", "power", "launch", "launch",
               "x wisp", "x wisp"))
    head2 = ("%-36s %8s %8s %8s %8s %8s %9s %9s %7s %7s"
             % ("", "->kernel", "->init", "->cmd", "->status", "off", "->status", "->exit", "status", "exit"))
    lines = [head, head2]
    notes = set()
    for key, o in boot.items():
        s = o.get("segments", {})
        if "to_exit" not in o:
            lines.append("%-36s %s" % (o["label"], "failed: " + "; ".join(o.get("errors", ["no boots"]))[:60]))
            continue
        kernel_init, cmd_status = fmt(s.get("kernel_init")), fmt(s.get("cmd_status"))
        if s.get("init_status") is not None:
            cmd_status = fmt(s["init_status"]) + "*"
            notes.add("  * init -> exit status, not split: wisp-init on the console sends no trace; "
                      "its kernel -> init is from as many boots running dmesg")
        elif s.get("kernel_status") is not None:
            kernel_init = fmt(o.get("kernel_init_probe")) + "**"
            cmd_status = fmt(s["kernel_status"]) + "**"
            notes.add("  ** kernel -> init from boots running dmesg; the kernel -> exit status of the boots of true "
                      "is shorter (noise), so no split")
        lines.append("%-36s %8s %8s %8s %8s %8s %9s %9s %7s %7s" % (
            o["label"], fmt(s.get("launch_kernel")), kernel_init, fmt(s.get("init_cmd")),
            cmd_status, fmt(s.get("poweroff")), fmt(o.get("to_status")), fmt(o.get("to_exit")),
            fmt(o.get("ratio_to_status"), "%.2f"), fmt(o.get("ratio_to_exit"), "%.2f")))
    return lines + sorted(notes)


def target_lines(res):
    boot = res.get("boot", {})
    w = boot.get("wisp", {})
    seg = w.get("segments", {})
    deb = boot.get("debian-busybox", {})
    speedup = deb["to_exit"] / w["to_exit"] if deb.get("to_exit") and w.get("to_exit") else None
    mem = res.get("memory", {}).get("smallest", {})
    sizes = res.get("sizes", {})
    ex = res.get("exec", {})
    rows = [
        ("wisp run -- true, launch to exit", fmt(w.get("to_exit"), "%.0f ms"), "<= 400 ms",
         w.get("to_exit") is not None and w["to_exit"] <= 400),
        ("faster than Debian kernel + busybox", fmt(speedup, "%.2fx"), ">= 4x", speedup is not None and speedup >= 4),
        ("kernel -> init", fmt(seg.get("kernel_init"), "%.0f ms"), "<= 250 ms",
         seg.get("kernel_init") is not None and seg["kernel_init"] <= 250),
        ("init's own work (to the agent ready)", fmt(w.get("init_own"), "%.1f ms"), "<= 10 ms",
         w.get("init_own") is not None and w["init_own"] <= 10),
        ("smallest -m that boots", fmt(mem.get("smallest_mib"), "%d MiB"), "<= 32 MiB (aim 24)",
         mem.get("smallest_mib") is not None and mem["smallest_mib"] <= 32),
        ("wisp-init", _human(sizes.get("wisp-init")), "<= 100 KB",
         sizes.get("wisp-init") is not None and sizes["wisp-init"] <= 100 * 1000),
        ("initramfs.cpio.lz4", _human(sizes.get("initramfs.cpio.lz4")), "<= 1.5 MB",
         sizes.get("initramfs.cpio.lz4") is not None and sizes["initramfs.cpio.lz4"] <= 1500 * 1000),
        ("wisp exec N -- true", fmt(ex.get("exec_true_ms"), "%.0f ms", "n/a"), "<= 20 ms",
         ex.get("exec_true_ms") is not None and ex["exec_true_ms"] <= 20),
    ]
    fw = res.get("forward", {})
    for key, label in (("host_to_guest_mib_s", "forwarded port, host->guest"),
                       ("guest_to_host_mib_s", "forwarded port, guest->host")):
        rows.append((label, fmt(fw.get(key), "%.0f MiB/s"), ">= %d MiB/s" % forward.TARGET_MIB_S,
                     fw.get(key) is not None and fw[key] >= forward.TARGET_MIB_S))
    nb = res.get("net", {}).get("boot", {})
    rows.append(("--net user's boot cost", fmt(nb.get("cost_ms"), "%.1f ms"), "<= %d ms" % net.BOOT_COST_TARGET_MS,
                 nb.get("cost_ms") is not None and nb["cost_ms"] <= net.BOOT_COST_TARGET_MS))
    rows.append(("forwarded port, connect to echo", fmt(fw.get("connect_ms_median"), "%.1f ms"),
                 "<= %g ms" % forward.TARGET_CONNECT_MS,
                 fw.get("connect_ms_median") is not None and fw["connect_ms_median"] <= forward.TARGET_CONNECT_MS))
    lines = ["%-36s %14s %20s  %s" % (TARGETS, "measured", "target", "")]
    for what, got, want, met in rows:
        lines.append("%-36s %14s %20s  %s" % (what, got, want, "met" if met else ("-" if got in ("-", "n/a") else "NOT met")))
    return lines


def report(res):
    m = res["machine"]
    lines = ["wisp bench %s: %s, %d CPUs, host Linux %s, %s, TCG; %d boots per system"
             % (res["date"], m["cpu"], m["nproc"], m["kernel"], m["qemu"], res["settings"]["runs"]), ""]
    if "boot" in res:
        lines += boot_table(res["boot"]) + [""]
    lines += target_lines(res) + [""]
    mem = res.get("memory", {})
    if mem:
        s, q = mem.get("smallest", {}), mem.get("qemu_rss", {})
        lines.append("memory: smallest -m for `wisp run -- true` (3 boots in a row): %s MiB (bisection: %s); "
                     "QEMU peak RSS (wisp run -m 256 -- sleep 2): %s MiB (PSS %s), the launcher %s MiB"
                     % (fmt(s.get("smallest_mib"), "%d"), fmt(s.get("bisect_found_mib"), "%d"),
                        fmt(q.get("qemu_vmhwm_mib"), "%.1f"), fmt(q.get("qemu_pss_max_mib"), "%.1f"),
                        fmt(q.get("launcher_vmhwm_mib"), "%.1f")))
        hw = ["%s %s" % (o["label"], fmt(o.get("qemu_hwm_mib"), "%.0f")) for o in res.get("boot", {}).values()
              if o.get("qemu_hwm_mib")]
        if hw:
            lines.append("        QEMU peak RSS at the exit marker, MiB: " + "; ".join(hw))
    if "sizes" in res:
        lines.append("sizes: " + ", ".join("%s %s" % (k, _human(v)) for k, v in res["sizes"].items()))
    for e in res.get("shares", {}).get("results", []):
        lines.append("shares: %-34s write %7s MiB/s   read %7s MiB/s%s" % (
            e["config"], fmt(e.get("write_mib_s")), fmt(e.get("read_mib_s")),
            "   (" + e["errors"][0] + ")" if e.get("errors") else ""))
    d = res.get("density")
    if d:
        lines.append("density: %d VMs at once: %d ok, all done in %s s (median VM %s s); QEMU memory summed over "
                     "the VMs at its peak: RSS %s MiB, PSS %s MiB" % (
                         d["vms"], d["ok"], fmt(d["total_s"], "%.1f"), fmt(d["median_vm_s"], "%.1f"),
                         fmt(d["peak_summed_qemu_rss_mib"]), fmt(d["peak_summed_qemu_pss_mib"])))
    ex = res.get("exec")
    if ex:
        if not ex.get("available"):
            lines.append("wisp exec: not available: " + ex["why"])
        elif "error" in ex:
            lines.append("wisp exec: failed: " + ex["error"])
        else:
            lines.append("wisp exec: `exec N -- true` %s ms (min %s, max %s); stdin->stdout %s MiB/s over %d MiB"
                         % (fmt(ex["exec_true_ms"], "%.1f"), fmt(ex["exec_true_ms_min"], "%.1f"),
                            fmt(ex["exec_true_ms_max"], "%.1f"), fmt(ex["stdin_to_stdout_mib_s"], "%.1f"),
                            ex["stdin_to_stdout_mib"]))
    if res.get("forward"):
        lines += forward.table(res["forward"])
    if res.get("net"):
        lines += net.table(res["net"])
    if res.get("rootfs"):
        lines += [""] + rootfs.table(res["rootfs"])
    if res.get("workload"):
        lines += [""] + workload.table(res["workload"])
    if res.get("soak"):
        lines.append(soak.describe(res["soak"]))
    return "\n".join(lines)


def _human(n):
    if n is None:
        return "-"
    return "%.1f MB" % (n / 1e6) if n >= 1e6 else "%.1f KB" % (n / 1e3)


def chart(res):
    m = res["machine"]
    rows = [(o["label"], o.get("segments", {}), o.get("to_exit")) for o in res.get("boot", {}).values()
            if o.get("to_exit")]
    return svg.boot_chart(
        rows, "Boot of `true`, launch to VM gone (medians of %d boots, ms)" % res["settings"]["runs"],
        "%s  %s, %d CPUs, %s, TCG" % (res["date"], m["cpu"], m["nproc"], m["qemu"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "out"))
    args = ap.parse_args()
    proc.install_signal_handlers()
    b = Bench(os.path.abspath(args.out))
    for name in ("wisp", "vmlinux", "bzImage", "initramfs.cpio.lz4", "wisp-init", "gen_init_cpio"):
        if not os.path.exists(os.path.join(b.out, name)):
            sys.exit("bench: %s/%s is missing: run make first" % (b.out, name))
    os.makedirs(b.dir, exist_ok=True)
    soak_boots = env_int("SOAK_BOOTS", 500)
    res = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": b.machine(),
           "settings": {"runs": b.runs, "soak_boots": soak_boots, "vm_tag": "every VM gets --append " + b.tag},
           "complete": False}
    interrupted = None
    try:
        measure(b, res, soak_boots)
        res["complete"] = True
    except KeyboardInterrupt as e:
        interrupted = str(e) or "Ctrl-C"
        res["interrupted"] = interrupted
    finally:
        proc.kill_all()
        left = proc.sweep(b.tag)
        if left:
            b.problems.append("%d VMM processes were left behind and killed" % left)
        res["machine"]["loadavg_at_end"] = os.getloadavg()
        res["problems"] = b.problems
        path = os.path.join(b.dir, "results.json")
        with open(path, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
    if interrupted:
        sys.exit("bench: interrupted (%s); what was measured is in %s" % (interrupted, path))
    with open(os.path.join(b.dir, "boot.svg"), "w") as f:
        f.write(chart(res))
    print()
    print(report(res))
    for p in b.problems:
        print("bench: problem: " + p)
    print("bench: wrote %s and %s" % (path, os.path.join(b.dir, "boot.svg")))
    sys.exit(1 if b.problems else 0)


def measure(b, res, soak_boots):
    """Every measurement, in order; each adds its part to res."""
    # First, because the direct boots copy the QEMU command line it reads.
    res["memory"] = {"qemu_rss": b.qemu_rss()}
    b.follow_wisp(res["memory"]["qemu_rss"].get("qemu_argv"))
    res["settings"].update({"direct_boots": b.template_source, "direct_qemu_argv": b.template,
                            "direct_kernel_args": b.kernel_args + " printk.time=1 (+ wisp.* keys for wisp-init)"})
    deb = None
    try:
        deb = baseline.debian_kernel(say)
        res["debian_kernel"] = deb
    except baseline.Unavailable as e:
        say("bench: ERROR: no Debian cloud kernel: %s" % e)
        b.problems.append("Debian baselines skipped: %s" % e)
        res["debian_kernel"] = {"error": str(e)}
    busybox = baseline.busybox_initramfs(os.path.join(b.out, "gen_init_cpio"),
                                         os.path.join(b.dir, "busybox-init.cpio.lz4"))
    res["boot"] = b.boots(b.systems(deb["path"] if deb else None, busybox))
    res["sizes"] = b.sizes(deb)
    res["memory"]["smallest"] = b.smallest_memory()
    res["shares"] = b.shares()
    res["density"] = b.density()
    res["exec"] = b.exec_latency()
    res["forward"] = forward.measure(b.out, b.tag, say, max(1, env_int("BENCH_FWD_MIB", 64)),
                                     max(1, env_int("BENCH_FWD_CONNS", 50)))
    b.problems += forward.problems(res["forward"])
    res["net"] = net.measure(b.out, b.runs, b.tag, say)
    b.problems += net.problems(res["net"])
    res["rootfs"] = rootfs.measure(b.out, b.runs, b.tag, say)
    b.problems += rootfs.problems(res["rootfs"])
    res["workload"] = workload.measure(b.out, max(1, env_int("BENCH_WORKLOAD_RUNS", 3)), b.tag, say)
    b.problems += workload.problems(res["workload"])
    if soak_boots > 0:
        say("bench: soak, %d boots with 2 CPU hogs (SOAK_BOOTS=N to change, 0 to skip)" % soak_boots)
        res["soak"] = soak.soak(b.wisp, soak_boots, b.tag, say)
        res["soak"]["date"] = res["date"]
        with open(os.path.join(b.dir, "soak.json"), "w") as f:
            json.dump(res["soak"], f, indent=2)
            f.write("\n")
        if not soak.passed(res["soak"]):
            b.problems.append("soak: %d failed, %d hung" % (res["soak"]["failures"], res["soak"]["hangs"]))


if __name__ == "__main__":
    main()
