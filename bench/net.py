#!/usr/bin/python3
"""The networking part of make bench (issue 15): what --net user adds to
`wisp run -- true` (interleaved with --net none, medians), TCP throughput
over the NIC both ways (a -p port into busybox nc and out of busybox httpd
in the guest, and the guest's upload to a --host-port server), and the median time from a
connect() to a -p port to the first echoed byte (out/echo_probe).

Alone: bench/net.py [--out out] [--runs N] prints the table and writes
OUT/bench/net.json; make bench runs it inside the whole benchmark."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BULK = 64 << 20
# What the guest sends lives in its tmpfs first (-m 256).
GUEST_FILE = 32 << 20
CONNECTS = 50
TIMEOUT = 120
# Issue 15's target for the NIC's boot cost.
BOOT_COST_TARGET_MS = 15


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(wisp, tag, args, **kw):
    return subprocess.run([wisp, "run", "--append", tag] + args, timeout=TIMEOUT, **kw)


def boot_cost(wisp, tag, runs):
    t = {"none": [], "user": []}
    for _ in range(runs):
        for mode in ("none", "user"):
            start = time.monotonic()
            run(wisp, tag, ["--net", mode, "--", "true"], check=True, stdout=subprocess.DEVNULL)
            t[mode].append((time.monotonic() - start) * 1000)
    none, user = statistics.median(t["none"]), statistics.median(t["user"])
    return {"none_ms": round(none, 1), "user_ms": round(user, 1), "cost_ms": round(user - none, 1),
            "runs": runs}


class Guest:
    """`wisp run` with a guest server, up once it printed "up"."""

    def __init__(self, wisp, tag, args, script):
        self.p = subprocess.Popen([wisp, "run", "--append", tag] + args + ["--", "sh", "-c", script],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.p.stdout.readline()
        if line != b"up\n":
            self.close()
            raise RuntimeError("the guest server did not start: %r" % self.p.stderr.read()[-300:])

    def close(self):
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.p.kill()
        self.p.wait()


def read_all(s):
    n = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            return n
        n += len(b)


def host_to_guest(wisp, tag):
    port = free_port()
    g = Guest(wisp, tag, ["-p", "%d:5001" % port],
              "nc -l -p 5001 >/dev/null & sleep 0.3; echo up; wait")
    try:
        chunk = b"\0" * (1 << 20)
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as s:
            for _ in range(BULK // len(chunk)):
                s.sendall(chunk)
            s.shutdown(socket.SHUT_WR)
            read_all(s)
        return BULK / (1 << 20) / (time.monotonic() - start)
    finally:
        g.close()


def guest_to_host(wisp, tag):
    """A download from busybox httpd (sendfile) of a file in the guest's
    tmpfs: busybox nc copies 1 KiB at a time and would measure itself."""
    port = free_port()
    g = Guest(wisp, tag, ["-m", "256", "-p", "%d:80" % port],
              "mkdir /tmp/w && head -c %d /dev/zero >/tmp/w/f && httpd -p 80 -h /tmp/w && "
              "echo up && sleep 60" % GUEST_FILE)
    try:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /f HTTP/1.0\r\n\r\n")
            n = read_all(s)
        if n < GUEST_FILE:
            raise RuntimeError("got %d bytes of %d" % (n, GUEST_FILE))
        return GUEST_FILE / (1 << 20) / (time.monotonic() - start)
    finally:
        g.p.kill()
        g.close()


def guest_upload(wisp, tag):
    """The guest connects out (host.wisp.internal, --host-port) and sends
    with busybox nc: its 1 KiB writes bound this figure, not the NIC (busybox
    wget's --post-file sends an empty body)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    got = {}

    def serve():
        c, _ = srv.accept()
        got["start"] = time.monotonic()
        got["n"] = read_all(c)
        got["end"] = time.monotonic()
        c.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        run(wisp, tag, ["--host-port", str(port), "--", "sh", "-c",
                        "head -c %d /dev/zero | nc host.wisp.internal %d" % (GUEST_FILE, port)],
            check=True, stdout=subprocess.DEVNULL)
        th.join(30)
        if got.get("n") != GUEST_FILE:
            raise RuntimeError("got %r bytes of %d" % (got.get("n"), GUEST_FILE))
        return GUEST_FILE / (1 << 20) / (got["end"] - got["start"])
    finally:
        srv.close()


def connect_latency(wisp, tag, probe):
    """To out/echo_probe, a one-process guest echo server (as bench/forward.py
    does), so that no guest process starts per connection."""
    port = free_port()
    share = tempfile.mkdtemp(prefix="netp-", dir="/tmp")
    shutil.copy(probe, os.path.join(share, "echo_probe"))
    g = Guest(wisp, tag, ["-p", "%d:5003" % port, "-v", "%s:/p:ro" % share],
              "/p/echo_probe 5003 & sleep 0.3; echo up; sleep 60")
    try:
        times = []
        for _ in range(CONNECTS):
            start = time.monotonic()
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"x")
                if s.recv(1) != b"x":
                    raise RuntimeError("no echo")
            times.append((time.monotonic() - start) * 1000)
        return statistics.median(times)
    finally:
        g.p.kill()
        g.close()
        shutil.rmtree(share, ignore_errors=True)


def measure(out, runs, tag, say):
    wisp = os.path.join(out, "wisp")
    res = {}
    say("bench: net, boot cost of --net user (%d interleaved runs)" % runs)
    res["boot"] = boot_cost(wisp, tag, runs)
    probe = os.path.join(out, "echo_probe")
    for key, fn in (("host_to_guest_mib_s", host_to_guest), ("guest_to_host_mib_s", guest_to_host),
                    ("guest_upload_mib_s", guest_upload),
                    ("connect_echo_ms", lambda w, t: connect_latency(w, t, probe))):
        say("bench: net, " + key)
        try:
            res[key] = round(fn(wisp, tag), 1)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            res.setdefault("errors", []).append("%s: %s" % (key, e))
    return res


def table(res):
    b = res.get("boot", {})
    lines = ["net (--net user: QEMU's slirp in a namespace, slirp4netns):",
             "  wisp run -- true: --net none %s ms, --net user %s ms: +%s ms (target <= %d)" % (
                 b.get("none_ms"), b.get("user_ms"), b.get("cost_ms"), BOOT_COST_TARGET_MS),
             "  TCP over -p: host->guest (64 MiB into nc) %s MiB/s, guest->host (32 MiB from httpd) %s MiB/s; "
             "the guest's upload (busybox nc, 32 MiB) to a --host-port server %s MiB/s" % (res.get("host_to_guest_mib_s"), res.get("guest_to_host_mib_s"),
                                                 res.get("guest_upload_mib_s")),
             "  -p connect() to the first echoed byte (out/echo_probe): %s ms median of %d" % (
                 res.get("connect_echo_ms"), CONNECTS)]
    for e in res.get("errors", []):
        lines.append("  error: " + e)
    return lines


def problems(res):
    return ["net: " + e for e in res.get("errors", [])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "out"))
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    tag = "wispbench=" + uuid.uuid4().hex[:12]
    res = measure(os.path.abspath(args.out), args.runs, tag, lambda *a: print(*a, file=sys.stderr))
    os.makedirs(os.path.join(args.out, "bench"), exist_ok=True)
    with open(os.path.join(args.out, "bench", "net.json"), "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print("\n".join(table(res)))


if __name__ == "__main__":
    main()
