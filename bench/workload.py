#!/usr/bin/python3
"""The workload part of make bench (issue 13): real work on `--rootfs host`
across the ways a volume can be shared, as virtme-ng offers them (9p with
cache=none, mmap, loose; virtiofs with cache=auto, always). Two workloads,
each in a fresh directory shared with -v DIR:DIR[:cache=MODE] and run there
(-w DIR): `make -j1` of a generated C project (20 files and a main) and the
program it built, and `python3 -c pass` ten times in one VM. The root itself
is always the host's / over 9p cache=loose. Each result is checked (the
program prints the expected sum in the guest, its bytes reached the host and
run there too), so a broken variant cannot look fast. Interleaved rounds
after a warm-up round, medians, ratios to `wisp run -- true` in the same run.

Alone: bench/workload.py [--out out] [--runs N] prints the table and writes
OUT/bench/workload.json; make bench runs it with BENCH_WORKLOAD_RUNS (3)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import proc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TIMEOUT = 180
SLACK = 30
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
LDSO = "/lib64/ld-linux-x86-64.so.2"
FILES = 20

# (key, label, wisp run options; DIR stands for the volume)
SHARES = [("9p-none", "9p cache=none", ["-v", "DIR:DIR:cache=none"]),
          ("9p-mmap", "9p cache=mmap (wisp's default)", ["-v", "DIR:DIR:cache=mmap"]),
          ("9p-loose", "9p cache=loose", ["-v", "DIR:DIR:cache=loose"]),
          ("vfs-auto", "virtiofs cache=auto (default)", ["--fs", "virtiofs", "-v", "DIR:DIR:cache=auto"]),
          ("vfs-always", "virtiofs cache=always", ["--fs", "virtiofs", "-v", "DIR:DIR:cache=always"])]
PYTHON10 = "n=0; for i in 1 2 3 4 5 6 7 8 9 10; do python3 -c pass || exit 1; n=$((n+1)); done; echo $n"
# (key, label, command, what it prints, whether it writes a C project first)
WORKLOADS = [("make", "make -j1 (%d C files) && ./prog" % (FILES + 1), ["sh", "-c", "make -s -j1 && ./prog"],
              None, True),
             ("python10", "python3 -c pass x10", ["sh", "-c", PYTHON10], "10\n", False)]


def expected_sum():
    return sum(i * (i + 3) + 7 for i in range(FILES))


def write_project(d):
    """FILES small C files, a header and a main that prints their sum."""
    with open(os.path.join(d, "proj.h"), "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n")
        f.writelines("int f%02d(int);\n" % i for i in range(FILES))
    for i in range(FILES):
        with open(os.path.join(d, "f%02d.c" % i), "w") as f:
            f.write('#include "proj.h"\nint f%02d(int x)\n{\n\tchar b[32];\n\tsnprintf(b, sizeof(b), "%%d", '
                    'x * (x + 3) + 7);\n\treturn (int)strlen(b) ? atoi(b) : 0;\n}\n' % i)
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write('#include "proj.h"\nint main(void)\n{\n\tlong s = 0;\n%s\tprintf("sum=%%ld\\n", s);\n'
                '\treturn 0;\n}\n' % "".join("\ts += f%02d(%d);\n" % (i, i) for i in range(FILES)))
    objs = " ".join(["main.o"] + ["f%02d.o" % i for i in range(FILES)])
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write("CFLAGS = -O1\nprog: %s\n\t$(CC) -o $@ $^\n%%.o: %%.c proj.h\n\t$(CC) $(CFLAGS) -c $<\n" % objs)


def cells(virtiofs):
    """(key, label, wisp run options, command, expected output, project?)."""
    c = [("initramfs", "wisp run -- true (initramfs)", [], ["true"], "", False),
         ("host", "--rootfs host -- true", ["--rootfs", "host"], ["true"], "", False)]
    for skey, slabel, opts in SHARES:
        if skey.startswith("vfs") and not virtiofs:
            continue
        for wkey, wlabel, cmd, want, project in WORKLOADS:
            c.append(("%s/%s" % (wkey, skey), slabel, ["--rootfs", "host"] + opts, cmd, want, project))
    return c


def check_host(d):
    """What the guest built must be on the host, whole: every object, and a
    program that runs here as well (through ld.so: 9p as root stores files
    0600 and keeps the guest's modes in xattrs)."""
    missing = [n for n in ["main.o", "prog"] + ["f%02d.o" % i for i in range(FILES)]
               if not os.path.exists(os.path.join(d, n))]
    if missing:
        return "not on the host after the run: " + " ".join(missing[:4])
    r = subprocess.run([LDSO, os.path.join(d, "prog")], capture_output=True, timeout=30)
    if r.stdout.decode() != "sum=%d\n" % expected_sum():
        return "the program on the host printed %r (exit %d)" % (r.stdout[:60], r.returncode)
    return None


def one(wisp, tag, work, cell):
    key, _, opts, cmd, want, project = cell
    d = tempfile.mkdtemp(prefix="wl-", dir=work)
    try:
        if project:
            write_project(d)
            want = "sum=%d\n" % expected_sum()
        argv = [wisp, "run", "--timeout", str(TIMEOUT), "--append", tag]
        argv += [a.replace("DIR", d) for a in opts] + (["-w", d] if "-v" in opts else []) + ["--"] + cmd
        r = proc.run(argv, timeout=TIMEOUT + SLACK)
        if r.rc != 0:
            return {"error": r.brief()}
        if r.out.decode(errors="replace") != want:
            return {"error": "printed %r, not %r" % (r.out[:60], want)}
        bad = check_host(d) if project else None
        return {"error": bad} if bad else {"ms": r.elapsed * 1000}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def median(values):
    values = sorted(values)
    if not values:
        return None
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def measure(out, runs, tag, say=print):
    wisp = os.path.join(out, "wisp")
    work = os.path.join(out, "bench", "workload")
    os.makedirs(work, exist_ok=True)
    virtiofs = os.geteuid() == 0 and os.access(VIRTIOFSD, os.X_OK)
    cl = cells(virtiofs)
    say("bench: workloads on --rootfs host, %d runs of %d cells, interleaved, after a warm-up round"
        % (runs, len(cl)))
    recs = {c[0]: [] for c in cl}
    load = os.getloadavg()
    for round_no in range(runs + 1):
        k = round_no % len(cl)
        for cell in cl[k:] + cl[:k]:
            rec = one(wisp, tag, work, cell)
            if round_no > 0:
                recs[cell[0]].append(rec)
        say("bench:   workload round %d/%d done" % (round_no, runs) if round_no else "bench:   workload warm-up done")
    res = {"runs": runs, "files": FILES + 1, "loadavg": [load, os.getloadavg()], "cells": {},
           "virtiofs": virtiofs or "skipped: needs root and %s" % VIRTIOFSD}
    for key, label, opts, cmd, _, _ in cl:
        good = [x["ms"] for x in recs[key] if "error" not in x]
        o = {"label": label, "argv": ["wisp", "run"] + opts + ["--"] + cmd, "ok": len(good),
             "runs": len(recs[key]), "ms": median(good), "samples": [round(x) for x in good]}
        errors = [x["error"] for x in recs[key] if "error" in x]
        if errors:
            o["errors"] = errors[:3]
        res["cells"][key] = o
    base, host = res["cells"]["initramfs"]["ms"], res["cells"]["host"]["ms"]
    for o in res["cells"].values():
        if o["ms"] and base:
            o["x_initramfs"] = round(o["ms"] / base, 2)
        if o["ms"] and host:
            o["minus_host_boot"] = round(o["ms"] - host)
    return res


def problems(res):
    return ["workload, %s %s: %d of %d runs failed (%s)" % (k.split("/")[0], o["label"], o["runs"] - o["ok"],
                                                           o["runs"], o["errors"][0])
            for k, o in res["cells"].items() if o.get("errors")]


def fmt(x, spec="%.0f"):
    return "-" if x is None else spec % x


def table(res):
    c = res["cells"]
    lines = ["workloads on --rootfs host (root: 9p cache=loose), medians of %d runs, ms; x = / `wisp run -- true`;"
             " -boot = minus `--rootfs host -- true`; load %.1f -> %.1f"
             % (res["runs"], res["loadavg"][0][0], res["loadavg"][1][0]),
             "%-32s %9s %6s %7s %11s %6s %7s" % ("volume shared by", "make", "x", "-boot", "python x10", "x", "-boot")]
    for k in ("initramfs", "host"):
        lines.append("%-32s %9s %6s" % (c[k]["label"], fmt(c[k]["ms"]), fmt(c[k].get("x_initramfs"), "%.2f")))
    for skey, slabel, _ in SHARES:
        row = [slabel]
        for wkey, *_ in WORKLOADS:
            o = c.get("%s/%s" % (wkey, skey))
            if o is None or o["ms"] is None:
                row += ["failed" if o else "skipped", "", ""]
            else:
                row += [fmt(o["ms"]), fmt(o.get("x_initramfs"), "%.2f"), fmt(o.get("minus_host_boot"))]
        lines.append("%-32s %9s %6s %7s %11s %6s %7s" % tuple(row))
    if res["virtiofs"] is not True:
        lines.append("virtiofs " + res["virtiofs"])
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "out"))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_WORKLOAD_RUNS", 3)))
    args = ap.parse_args()
    proc.install_signal_handlers()
    out = os.path.abspath(args.out)
    tag = "wispbench=" + uuid.uuid4().hex[:12]
    try:
        res = measure(out, max(1, args.runs), tag)
    finally:
        proc.kill_all()
        proc.sweep(tag)
    res["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = os.path.join(out, "bench", "workload.json")
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
