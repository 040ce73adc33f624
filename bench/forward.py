#!/usr/bin/python3
"""The forwarded-ports part of make bench (issue 15): a `wisp start` VM,
guest servers on TCP ports, the host reaching them on 127.0.0.1:PORT
through wisp's forwarding over vsock. Measures host->guest and
guest->host throughput (BENCH_FWD_MIB, default 64; the guest's busybox
`cat >/dev/null` and `dd if=/dev/zero`), and connect latency: from the
host's connect() to the first byte echoed back of a 1-byte round trip, on
fresh connections to a one-process guest echo server (out/echo_probe, so
that no guest process starts per connection), BENCH_FWD_CONNS of them
(default 50). Each byte count is checked.

Alone: bench/forward.py [--out out] prints the table and writes
OUT/bench/forward.json."""
import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid

import proc

MIB = 1024 * 1024
TIMEOUT = 120
TARGET_MIB_S = 100
TARGET_CONNECT_MS = 5.0
PORTS = {"sink": 17801, "source": 17802, "echo": 17803}


def _wait_listening(port, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return True
        except ConnectionRefusedError:
            time.sleep(0.02)
    return False


def _host_to_guest(mib):
    block = os.urandom(MIB)
    s = socket.create_connection(("127.0.0.1", PORTS["sink"]), timeout=TIMEOUT)
    t0 = time.monotonic()
    for _ in range(mib):
        s.sendall(block)
    s.shutdown(socket.SHUT_WR)
    rest = s.recv(1)  # the guest's end: all of it was read
    took = time.monotonic() - t0
    s.close()
    if rest:
        raise RuntimeError("the sink answered %r" % rest)
    return mib / took


def _guest_to_host(mib):
    s = socket.create_connection(("127.0.0.1", PORTS["source"]), timeout=TIMEOUT)
    t0 = time.monotonic()
    n = 0
    while True:
        b = s.recv(MIB)
        if not b:
            break
        n += len(b)
    took = time.monotonic() - t0
    s.close()
    if n != mib * MIB:
        raise RuntimeError("%d of %d bytes from the guest" % (n, mib * MIB))
    return mib / took


def _connect_ms():
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", PORTS["echo"]), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"x")
    b = s.recv(1)
    took = (time.perf_counter() - t0) * 1000
    s.close()
    if b != b"x":
        raise RuntimeError("echo answered %r" % b)
    return took


def measure(out, tag, say, mib=64, conns=50):
    wisp = os.path.join(out, "wisp")
    probe = os.path.join(out, "echo_probe")
    if not os.path.exists(probe):
        return {"error": "%s is missing (make %s)" % (probe, probe)}
    say("bench: forwarded ports (%d MiB each way, %d connections)" % (mib, conns))
    runtime = tempfile.mkdtemp(prefix="fwd-", dir="/tmp")
    os.chmod(runtime, 0o700)
    share = tempfile.mkdtemp(prefix="fwdp-", dir="/tmp")
    shutil.copy(probe, os.path.join(share, "echo_probe"))
    env = dict(os.environ, WISP_RUNTIME_DIR=runtime)
    name = "fwd-" + uuid.uuid4().hex[:8]
    res = {"mib": mib, "connections": conns}
    try:
        r = proc.run([wisp, "start", "--name", name, "--append", tag, "-v", "%s:/p:ro" % share],
                     timeout=TIMEOUT, env=env)
        if r.rc != 0:
            return dict(res, error="wisp start: " + r.brief())
        servers = ("setsid nc -ll -p %d -e /tmp/sink </dev/null >/dev/null 2>&1 & "
                   "setsid nc -ll -p %d -e /tmp/source </dev/null >/dev/null 2>&1 & "
                   "setsid /p/echo_probe %d </dev/null >/dev/null 2>&1 &"
                   % (PORTS["sink"], PORTS["source"], PORTS["echo"]))
        script = ("printf '#!/bin/sh\\ncat >/dev/null\\n' >/tmp/sink; "
                  "printf '#!/bin/sh\\ndd if=/dev/zero bs=1048576 count=%d 2>/dev/null\\n' >/tmp/source; "
                  "chmod +x /tmp/sink /tmp/source; %s" % (mib, servers))
        r = proc.run([wisp, "exec", name, "--", "sh", "-c", script], timeout=TIMEOUT, env=env)
        if r.rc != 0 or not all(_wait_listening(p) for p in PORTS.values()):
            return dict(res, error="guest servers: " + (r.brief() if r.rc else "not forwarded within 10 s"))
        _host_to_guest(1), _guest_to_host(mib)  # warm up: the first connections start nc
        res["host_to_guest_mib_s"] = round(max(_host_to_guest(mib) for _ in range(3)), 1)
        res["guest_to_host_mib_s"] = round(max(_guest_to_host(mib) for _ in range(3)), 1)
        lat = [_connect_ms() for _ in range(conns)]
        res["connect_ms_median"] = round(statistics.median(lat), 2)
        res["connect_ms_min"] = round(min(lat), 2)
        res["connect_ms_p90"] = round(sorted(lat)[int(len(lat) * 0.9)], 2)
    except (OSError, RuntimeError) as e:
        res["error"] = str(e)
    finally:
        proc.run([wisp, "stop", name], timeout=60, env=env)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(share, ignore_errors=True)
    return res


def problems(res):
    return ["forwarded ports: " + res["error"]] if "error" in res else []


def table(res):
    if "error" in res:
        return ["forwarded ports: failed: " + res["error"]]
    return ["forwarded ports (%d MiB, best of 3): host->guest %s MiB/s, guest->host %s MiB/s "
            "(target >= %d); connect to first echoed byte, %d connections: median %s ms "
            "(min %s, p90 %s; target <= %g)"
            % (res["mib"], res["host_to_guest_mib_s"], res["guest_to_host_mib_s"], TARGET_MIB_S,
               res["connections"], res["connect_ms_median"], res["connect_ms_min"],
               res["connect_ms_p90"], TARGET_CONNECT_MS)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "out"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    tag = "wispbench=" + uuid.uuid4().hex[:12]
    try:
        res = measure(out, tag, print, int(os.environ.get("BENCH_FWD_MIB", 64)),
                      int(os.environ.get("BENCH_FWD_CONNS", 50)))
    finally:
        proc.sweep(tag)
    os.makedirs(os.path.join(out, "bench"), exist_ok=True)
    with open(os.path.join(out, "bench", "forward.json"), "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    print("\n".join(table(res)))
    sys.exit(1 if problems(res) else 0)


if __name__ == "__main__":
    main()
