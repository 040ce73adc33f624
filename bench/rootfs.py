#!/usr/bin/python3
"""The rootfs part of make bench (issue 13): `wisp run -- true` on the
initramfs beside the same boot with --rootfs host, a directory root and
erofs, ext4 and squashfs images (tests/helpers/mkroot.sh, busybox), and a
real first program on the host's root (`python3 -c pass`). Interleaved
rounds, medians, ratios to the initramfs boot of the same run, QEMU's peak
RSS (VmHWM, sampled until it exits).

Alone: bench/rootfs.py [--out out] [--runs N] prints the table and writes
OUT/bench/rootfs.json; make bench runs it inside the whole benchmark."""
import argparse
import json
import os
import subprocess
import sys
import time
import uuid

import proc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MKROOT = os.path.join(ROOT, "tests", "helpers", "mkroot.sh")
BOOT_TIMEOUT = 60
SLACK = 30
POLL_S = 0.05
# Targets of issue 13, medians in one run.
IMAGE_RATIO_TARGET = 1.5
HOST_PYTHON_TARGET_MS = 1500


def systems(roots):
    """(key, label, what it is for, wisp run options, command)."""
    s = [("initramfs", "wisp run -- true", "the initramfs alone (busybox)", [], ["true"]),
         ("host", "--rootfs host -- true", "the host's toolchain on wisp's kernel", ["--rootfs", "host"], ["true"])]
    for kind, use in (("dir", "a directory root (mmdebstrap, a build tree)"),
                      ("erofs", "a read-only image"),
                      ("ext4", "an image that :rw can write"),
                      ("squashfs", "a compressed read-only image")):
        src = os.path.join(roots, "dir" if kind == "dir" else "root." + kind)
        s.append((kind, "--rootfs %s -- true" % ("DIR" if kind == "dir" else kind), use, ["--rootfs", src],
                  ["true"]))
    s.append(("host-python", "--rootfs host -- python3 -c pass", "a first dynamically linked program",
              ["--rootfs", "host"], ["python3", "-c", "pass"]))
    return s


def find_qemu(boot_tag):
    for pid in proc.tagged(boot_tag):
        argv = proc.cmdline(pid)
        if argv and argv[0].endswith(b"qemu-system-x86_64"):
            return pid
    return None


def boot(wisp, tag, extra, command, trace):
    """One `wisp run`: wall time, QEMU's VmHWM, and from the trace the
    launch -> exit status and PID 1's own work (root switch included)."""
    if os.path.exists(trace):
        os.unlink(trace)
    boot_tag = "wispboot=" + uuid.uuid4().hex[:12]
    argv = [wisp, "run", "--timeout", str(BOOT_TIMEOUT), "--append", "%s %s" % (tag, boot_tag),
            "--trace-json", trace] + extra + ["--"] + command
    start = time.monotonic()
    p = proc.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    qemu, hwm = None, 0
    deadline = start + BOOT_TIMEOUT + SLACK
    while p.poll() is None and time.monotonic() < deadline:
        if qemu is None:
            qemu = find_qemu(boot_tag)
        if qemu:
            mem = proc.memory_kib(qemu)
            if mem:
                hwm = max(hwm, mem["VmHWM"])
        time.sleep(POLL_S)
    wall = (time.monotonic() - start) * 1000
    if p.poll() is None:
        proc.kill(p)
        return {"error": "no exit within %d s" % (BOOT_TIMEOUT + SLACK)}
    _, err = p.communicate()
    proc.forget(p)
    if p.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()
        return {"error": "exit %d: %s" % (p.returncode, tail[0] if tail else "(no message)")}
    rec = {"to_exit": wall, "qemu_hwm_kib": hwm or None}
    try:
        with open(trace) as f:
            t = json.load(f)
        os.unlink(trace)
        g, h = t["guest_ms"], t["host_ms"]
        rec["to_status"] = h["status"] + (wall - h["vm_gone"])
        if "agent" in g and "init" in g:
            rec["init_own"] = g["agent"] - g["init"]
    except (OSError, ValueError, KeyError):
        pass
    return rec


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def r1(x):
    return None if x is None else round(x, 1)


def measure(out, runs, tag, say=print):
    """BENCH_RUNS boots per system, one of each per round (rotated), after a
    warm-up round; returns the results, or {"error": ...} without roots."""
    wisp = os.path.join(out, "wisp")
    t0 = time.monotonic()
    r = subprocess.run([MKROOT, os.path.join(out, "test-roots")], capture_output=True, timeout=300)
    if r.returncode != 0:
        return {"error": "mkroot.sh failed: %s" % r.stderr.decode(errors="replace").strip()[-300:]}
    roots = r.stdout.decode().strip()
    built_s = time.monotonic() - t0
    sys_list = systems(roots)
    trace = os.path.join(out, "bench", "rootfs-trace.json")
    os.makedirs(os.path.dirname(trace), exist_ok=True)
    say("bench: rootfs, %d boots per system, %d systems, interleaved, after a warm-up round" % (runs, len(sys_list)))
    recs = {s[0]: [] for s in sys_list}
    for round_no in range(runs + 1):
        k = round_no % len(sys_list)
        for key, _, _, extra, command in sys_list[k:] + sys_list[:k]:
            rec = boot(wisp, tag, extra, command, trace)
            if round_no > 0:
                recs[key].append(rec)
        say("bench:   rootfs round %d/%d done" % (round_no, runs) if round_no else "bench:   rootfs warm-up done")
    res = {"roots": roots, "roots_build_s": round(built_s, 2), "runs": runs, "systems": {}}
    for key, label, use, extra, command in sys_list:
        good = [x for x in recs[key] if "error" not in x]
        errors = [x["error"] for x in recs[key] if "error" in x]
        o = {"label": label, "for": use, "ok": len(good), "runs": len(recs[key]),
             "to_exit": r1(median([x["to_exit"] for x in good])),
             "to_status": r1(median([x.get("to_status") for x in good])),
             "init_own": r1(median([x.get("init_own") for x in good])),
             "to_exit_samples": [r1(x["to_exit"]) for x in good]}
        hwm = median([x.get("qemu_hwm_kib") for x in good])
        o["qemu_hwm_mib"] = r1(hwm / 1024) if hwm else None
        if key not in ("initramfs", "host", "host-python"):
            o["image_bytes"] = (None if key == "dir" else
                                os.path.getsize(os.path.join(roots, "root." + key)))
        if errors:
            o["errors"] = errors[:3]
        res["systems"][key] = o
    base = res["systems"]["initramfs"]
    for o in res["systems"].values():
        for what in ("to_exit", "to_status"):
            if o.get(what) and base.get(what):
                o["ratio_" + what] = round(o[what] / base[what], 2)
    return res


def problems(res):
    """What failed, for the benchmark's list of problems."""
    if "error" in res:
        return ["rootfs: " + res["error"]]
    return ["rootfs, %s: %d of %d boots failed (%s)" % (o["label"], o["runs"] - o["ok"], o["runs"], o["errors"][0])
            for o in res["systems"].values() if o.get("errors")]


def fmt(x, spec="%.0f"):
    return "-" if x is None else spec % x


def table(res):
    if "error" in res:
        return ["rootfs: not measured: " + res["error"]]
    lines = ["%-36s %9s %9s %7s %7s %9s %9s  %s" % ("rootfs, medians of %d boots" % res["runs"], "->status",
                                                   "->exit", "x init", "x init", "PID 1 own", "QEMU RSS",
                                                   "what it is for"),
             "%-36s %9s %9s %7s %7s %9s %9s" % ("", "ms", "ms", "status", "exit", "ms", "MiB")]
    for o in res["systems"].values():
        if o["to_exit"] is None:
            lines.append("%-36s failed: %s" % (o["label"], "; ".join(o.get("errors", ["no boots"]))[:80]))
            continue
        lines.append("%-36s %9s %9s %7s %7s %9s %9s  %s" % (
            o["label"], fmt(o["to_status"]), fmt(o["to_exit"]), fmt(o.get("ratio_to_status"), "%.2f"),
            fmt(o.get("ratio_to_exit"), "%.2f"), fmt(o["init_own"], "%.1f"), fmt(o["qemu_hwm_mib"], "%.0f"),
            o["for"]))
    s = res["systems"]
    ratios = [s[k].get("ratio_to_exit") for k in ("erofs", "ext4", "squashfs")]
    worst = None if None in ratios else max(ratios)
    py = s.get("host-python", {}).get("to_exit")
    lines.append("targets of issue 13: --rootfs IMAGE -- true within %.1fx of wisp run -- true: worst %s, %s; "
                 "--rootfs host -- python3 -c pass under %d ms: %s ms, %s"
                 % (IMAGE_RATIO_TARGET, fmt(worst, "%.2fx"),
                    "-" if worst is None else ("met" if worst <= IMAGE_RATIO_TARGET else "NOT met"),
                    HOST_PYTHON_TARGET_MS, fmt(py), "-" if py is None else ("met" if py < HOST_PYTHON_TARGET_MS else "NOT met")))
    lines.append("(busybox roots from %s, built in %.2f s)" % (res["roots"], res["roots_build_s"]))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "out"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 10)))
    args = ap.parse_args()
    proc.install_signal_handlers()
    out = os.path.abspath(args.out)
    tag = "wispbench=" + uuid.uuid4().hex[:12]
    try:
        res = measure(out, max(1, args.runs), tag)
    finally:
        proc.kill_all()
        proc.sweep(tag)
    path = os.path.join(out, "bench", "rootfs.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print("\n".join(table(res)))
    for p in problems(res):
        print("bench: problem: " + p)
    print("bench: wrote " + path)
    sys.exit(1 if problems(res) else 0)


if __name__ == "__main__":
    main()
