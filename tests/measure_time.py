"""Measures how right the guest clock is, for README's figures (not a test:
pytest does not collect it). Run from the top directory after `make test`
has built out/clock_probe:

    nice /usr/bin/python3 tests/measure_time.py [BOOTS] [PAUSES]

BOOTS VMs boot with the RTC in 2001 and out/clock_probe measures guest
minus host right after boot (min round trip of 16 exchanges, against a time
server of its own). Then PAUSES times a VM with the default resync interval
is paused for 20 s and a `wisp exec` right after `cont` measures it; and
PAUSES times a VM with wisp.timesync=2 is paused and the probe's first
sample after the resync put it right is kept, with how long that took."""
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import agent_client  # noqa: E402
from conftest import OUT  # noqa: E402
from test_time import PAUSE_S, PROBE_PORT, TimeServer, Watch, facts, good, probe_offset, wisp  # noqa: E402


def summary(name, values, unit="us"):
    a = [abs(v) for v in values]
    print("%-44s n=%-3d median %7.0f %s   worst %7.0f %s" %
          (name, len(a), statistics.median(a), unit, max(a), unit))


def boots(n, tmp):
    probe, reported, took = [], [], []
    for i in range(n):
        uds = os.path.join(tmp, "b%d.sock" % i)
        server = TimeServer(uds + "_%d" % PROBE_PORT)
        trace = os.path.join(tmp, "b%d.json" % i)
        try:
            r = wisp("run", "--timeout", "100", "--rtc", "2001-01-01T00:00:00", "--vsock", uds,
                     "--trace-json", trace, "-v", "%s:/w" % os.path.join(tmp, "share"), "--",
                     "/w/probe", "offset", "2", str(PROBE_PORT))
        finally:
            server.close()
        assert r.returncode == 0, r
        probe.append(probe_offset(r.stdout)[0])
        reported.append(facts(trace)["clock_offset_us"])
        with open(trace) as f:
            g = json.load(f)["guest_ms"]
        took.append((g["clock"] - g["shares"]) * 1000)
    summary("after boot: guest - host (probe)", probe)
    summary("after boot: offset the guest reports", reported)
    summary("boot sync: time it held PID 1", took)


def pauses_exec(n, tmp):
    share = os.path.join(tmp, "share")
    w = Watch(share, tmp_dir(tmp, "e"), seconds=60 + n * (PAUSE_S + 10))
    offsets, steps = [], []
    try:
        w.wait_until(lambda: len(w.lines) >= 2 and good(w.lines[-1]), 60, "boot")
        for _ in range(n):
            w.pause(PAUSE_S)
            traces = []
            status, out, err = agent_client.exec_command(
                w.uds, ["/w/probe", "offset", "2", str(PROBE_PORT)], traces=traces)
            assert status == 0, err
            offsets.append(probe_offset(out)[0])
            f = dict(line.split("=") for t in traces for line in t.decode().split())
            steps.append(int(f["clock_step_us"]) / 1e6)
    finally:
        w.close()
    summary("exec right after a 20 s pause: guest - host", offsets)
    summary("  (the exec check's step)", steps, "s ")


def pauses_timer(n, tmp):
    share = os.path.join(tmp, "share")
    w = Watch(share, tmp_dir(tmp, "t"), "wisp.timesync=2", seconds=60 + n * (PAUSE_S + 10))
    offsets, took = [], []
    try:
        w.wait_until(lambda: len(w.lines) >= 2 and good(w.lines[-1]), 60, "boot")
        for _ in range(n):
            cont = w.pause(PAUSE_S)
            w.wait_until(lambda: any(good(l) for l in w.after(cont)), 30, "resync")
            time.sleep(1.5)
            seen = w.after(cont)
            first = next(i for i, l in enumerate(seen) if good(l))
            offsets += [l[2] for l in seen[first:]]
            took.append(seen[first][1] - seen[0][1])
    finally:
        w.close()
    summary("after the resync (wisp.timesync=2): guest - host", offsets)
    summary("  cont to the clock right again (guest ms)", took, "ms")


def tmp_dir(tmp, name):
    d = pathlib.Path(tmp) / name
    d.mkdir()
    return d


def main():
    n_boots = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n_pauses = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = tempfile.mkdtemp(prefix="wisp-time-")
    try:
        os.mkdir(os.path.join(tmp, "share"))
        shutil.copy(os.path.join(OUT, "clock_probe"), os.path.join(tmp, "share", "probe"))
        boots(n_boots, tmp)
        pauses_exec(n_pauses, tmp)
        pauses_timer(n_pauses, tmp)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
