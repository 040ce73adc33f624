#!/usr/bin/python3
"""make soak: boots that never hang. SOAK_BOOTS (default 500) consecutive
`wisp run --timeout 30 -- true` while two CPU hogs keep both cores of the
development machine busy. A failure is any exit status but 0; a hang is the
launcher's own timeout (124) or, worse, a launcher that does not return at
all (killed here after a minute). Both must be zero.

Usage: soak.py [--out OUT] [--boots N]; writes OUT/bench/soak.json."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

import proc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WISP_TIMEOUT = 30     # the launcher's --timeout: a boot that takes longer hangs
HARD_TIMEOUT = 90     # a launcher that outlives this is killed (and a hang)
HOGS = 2
EXIT_TIMEOUT = 124


def _percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def soak(wisp, boots, tag, say=print):
    """Runs the boots and returns the summary (a dict for the JSON)."""
    hogs = [proc.spawn(["sh", "-c", "while :; do :; done"], stdout=subprocess.DEVNULL)
            for _ in range(HOGS)]
    argv = [wisp, "run", "--timeout", str(WISP_TIMEOUT), "--append", tag, "--", "true"]
    walls, failures, hangs = [], [], []
    started = time.monotonic()
    try:
        for i in range(boots):
            r = proc.run(argv, timeout=HARD_TIMEOUT)
            if r.timed_out or r.rc == EXIT_TIMEOUT:
                hangs.append({"boot": i + 1, "what": r.brief()})
            elif r.rc != 0:
                failures.append({"boot": i + 1, "what": r.brief()})
            else:
                walls.append(r.elapsed)
            if (i + 1) % 50 == 0 or i + 1 == boots:
                say("soak: %d/%d boots, %d failed, %d hung" % (i + 1, boots, len(failures), len(hangs)))
    finally:
        for h in hogs:
            proc.kill(h)
    left = proc.sweep(tag)
    summary = {
        "command": "wisp run --timeout %d -- true" % WISP_TIMEOUT,
        "tag": "each boot also gets --append %s, to find any VMM it leaves behind" % tag,
        "boots": boots,
        "cpu_hogs": HOGS,
        "ok": len(walls),
        "failures": len(failures),
        "hangs": len(hangs),
        "vmms_left_behind": left,
        "elapsed_s": round(time.monotonic() - started, 1),
        "wall_s": None if not walls else {
            "median": round(statistics.median(walls), 3),
            "p95": round(_percentile(walls, 0.95), 3),
            "max": round(max(walls), 3),
        },
        "failed_boots": failures[:20],
        "hung_boots": hangs[:20],
    }
    return summary


def passed(summary):
    return summary["failures"] == 0 and summary["hangs"] == 0 and summary["vmms_left_behind"] == 0


def describe(summary):
    lines = ["soak: %d boots of `%s` with %d CPU hogs: %d ok, %d failed, %d hung, %d VMMs left behind"
             % (summary["boots"], summary["command"], summary["cpu_hogs"], summary["ok"],
                summary["failures"], summary["hangs"], summary["vmms_left_behind"])]
    if summary["wall_s"]:
        w = summary["wall_s"]
        lines.append("soak: wall per boot: median %.2f s, p95 %.2f s, max %.2f s"
                     % (w["median"], w["p95"], w["max"]))
    for what in summary["failed_boots"][:5] + summary["hung_boots"][:5]:
        lines.append("soak:   boot %d: %s" % (what["boot"], what["what"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "out"))
    ap.add_argument("--boots", type=int, default=int(os.environ.get("SOAK_BOOTS", "500")))
    args = ap.parse_args()
    proc.install_signal_handlers()
    wisp = os.path.join(args.out, "wisp")
    if not os.access(wisp, os.X_OK):
        sys.exit("soak: %s is missing: run make first" % wisp)
    tag = "wispbench=" + uuid.uuid4().hex[:12]
    try:
        summary = soak(wisp, args.boots, tag)
    except KeyboardInterrupt as e:
        sys.exit("soak: interrupted (%s)" % (str(e) or "Ctrl-C"))
    finally:
        proc.kill_all()
        proc.sweep(tag)
    summary["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.makedirs(os.path.join(args.out, "bench"), exist_ok=True)
    path = os.path.join(args.out, "bench", "soak.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(describe(summary))
    print("soak: wrote %s" % path)
    sys.exit(0 if passed(summary) else 1)


if __name__ == "__main__":
    main()
