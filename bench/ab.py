#!/usr/bin/python3
"""A/B of boot levers: `wisp run -- true` with each variant's extra wisp
options, one boot of each per round (after a warm-up round), medians of
the phases from --trace-json. For deciding whether a lever helps before it
goes into the kernel config or the launcher.

    bench/ab.py [--runs N] [--out OUT] 'VARIANT OPTIONS' ...

e.g. bench/ab.py --runs 10 '' "--append no_timer_check" "--initrd /tmp/x.cpio"
(the empty variant is plain `wisp run`)."""
import argparse
import os
import shlex
import sys

import bench
import proc

PHASES = ["launch_kernel", "kernel_init", "init_cmd", "cmd_status", "poweroff"]
HEADS = ["->kernel", "->init", "->cmd", "->status", "off", "->exit"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(bench.ROOT, "out"))
    ap.add_argument("variants", nargs="+")
    args = ap.parse_args()
    proc.install_signal_handlers()
    b = bench.Bench(os.path.abspath(args.out))
    os.makedirs(b.dir, exist_ok=True)
    systems = [{"key": v, "extra": shlex.split(v)} for v in args.variants]
    recs = {v: [] for v in args.variants}
    try:
        for round_no in range(args.runs + 1):
            k = round_no % len(systems)
            for s in systems[k:] + systems[:k]:
                r = b.wisp_boot(s)
                if round_no and "error" not in r:
                    recs[s["key"]].append(r)
                elif "error" in r:
                    print("ab: %r: %s" % (s["key"], r["error"]), file=sys.stderr)
    finally:
        proc.kill_all()
        proc.sweep(b.tag)
    print("%-44s %5s %8s %8s %8s %8s %8s %8s" % (("variant (medians, ms)", "n") + tuple(HEADS)))
    for v in args.variants:
        rs = recs[v]
        cols = [bench.median([r["segments"][p] for r in rs]) for p in PHASES]
        cols.append(bench.median([r["to_exit"] for r in rs]))
        print("%-44s %5d %s" % ((v or "(plain)")[:44], len(rs), " ".join("%8s" % bench.fmt(c) for c in cols)))


if __name__ == "__main__":
    main()
