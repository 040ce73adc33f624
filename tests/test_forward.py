"""Localhost port forwarding (wisp start): a guest TCP listener on 0.0.0.0 or
127.0.0.1 becomes the host's 127.0.0.1:PORT within a second, over vsock, and
goes when the guest listener does. Real VMs; every server listens on loopback."""
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import OUT, WISP, Runtime

MIB = 1 << 20
BIG = 64 * MIB


@pytest.fixture(scope="module")
def rt():
    r = Runtime("wf")
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def vm(rt):
    r = rt.wisp("start", "--name", "fwd")
    assert r.returncode == 0, r
    yield "fwd"
    s = rt.wisp("stop", "fwd", timeout=60)
    assert s.returncode == 0, s


def free_port():
    """A port nothing on the host listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def guest_server(rt, name, port, script="cat"):
    """A persistent busybox nc server in the guest: each connection runs the
    shell script (stdin and stdout are the connection)."""
    r = rt.wisp("exec", name, "--", "sh", "-c",
                "printf '#!/bin/sh\\n%%s\\n' \"$1\" >/tmp/srv%d && chmod +x /tmp/srv%d && "
                "setsid nc -ll -p %d -e /tmp/srv%d </dev/null >/dev/null 2>&1 &"
                % (port, port, port, port), "sh", script)
    assert r.returncode == 0, r


def stop_guest_server(rt, name, port):
    r = rt.wisp("exec", name, "--", "sh", "-c",
                "for p in $(pidof nc); do grep -q %d /proc/$p/cmdline && kill $p; done; true"
                % port)
    assert r.returncode == 0, r


def wait_connect(port, within):
    """Connects to 127.0.0.1:port as soon as it listens; the socket and the wait."""
    start = time.monotonic()
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30), time.monotonic() - start
        except ConnectionRefusedError:
            if time.monotonic() - start > within:
                pytest.fail("127.0.0.1:%d did not listen within %s s" % (port, within))
            time.sleep(0.02)


def wait_released(port, within):
    """Binds 127.0.0.1:port as soon as the host lets go of it; the wait."""
    start = time.monotonic()
    while True:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return time.monotonic() - start
        except OSError:
            if time.monotonic() - start > within:
                pytest.fail("127.0.0.1:%d was still taken after %s s" % (port, within))
            time.sleep(0.02)
        finally:
            s.close()


def ports_of(rt, name):
    r = rt.wisp("port", name)
    assert r.returncode == 0, r
    return [int(x) for x in r.stdout.split()]


def pattern(n):
    line = b"forwarded bytes 0123456789\n"
    return (line * (n // len(line) + 1))[:n]


def exchange(sock, data):
    """Sends data (then half-closes) while reading everything back: sha256 of what came."""
    h, got = hashlib.sha256(), [0]

    def send():
        for i in range(0, len(data), MIB):
            sock.sendall(data[i:i + MIB])
        sock.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    while True:
        b = sock.recv(MIB)
        if not b:
            break
        h.update(b)
        got[0] += len(b)
    t.join()
    sock.close()
    return h.hexdigest(), got[0]


def test_a_guest_listener_is_forwarded_64_mib_both_ways_then_released(rt, vm):
    port = free_port()
    guest_server(rt, vm, port)
    sock, waited = wait_connect(port, 3)
    assert waited < 1.0, "forwarded after %.2f s" % waited
    assert port in ports_of(rt, vm)
    data = os.urandom(BIG)
    sha, n = exchange(sock, data)
    assert n == BIG and sha == hashlib.sha256(data).hexdigest()
    stop_guest_server(rt, vm, port)
    took = wait_released(port, 3)
    assert took < 1.0, "released after %.2f s" % took
    assert port not in ports_of(rt, vm)


def test_host_to_guest_and_guest_to_host_hash_the_same_on_both_ends(rt, vm):
    up, down = free_port(), free_port()
    guest_server(rt, vm, up, "sha256sum")
    guest_server(rt, vm, down, "yes forwarded | head -c %d" % BIG)
    # Host to guest: the guest's sha256sum answers after the half-close.
    data = os.urandom(BIG)
    sock, _ = wait_connect(up, 3)
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    answer = sock.makefile("rb").read()
    sock.close()
    assert answer.split()[0].decode() == hashlib.sha256(data).hexdigest(), answer
    # Guest to host, with the host's side half-closed from the start.
    sock, _ = wait_connect(down, 3)
    sock.shutdown(socket.SHUT_WR)
    h, n = hashlib.sha256(), 0
    while True:
        b = sock.recv(MIB)
        if not b:
            break
        h.update(b)
        n += len(b)
    sock.close()
    want = (b"forwarded\n" * (BIG // 10 + 1))[:BIG]
    assert n == BIG and h.hexdigest() == hashlib.sha256(want).hexdigest()
    stop_guest_server(rt, vm, up)
    stop_guest_server(rt, vm, down)


def test_a_taken_host_port_is_logged_once_and_the_others_still_forward(rt, vm):
    taken, other = free_port(), free_port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", taken))
    holder.listen(1)
    try:
        guest_server(rt, vm, taken)
        guest_server(rt, vm, other)
        sock, _ = wait_connect(other, 3)
        assert exchange(sock, b"hello") == (hashlib.sha256(b"hello").hexdigest(), 5)
        # The set changes twice more: the taken port is still said once.
        stop_guest_server(rt, vm, other)
        wait_released(other, 3)
        guest_server(rt, vm, other)
        wait_connect(other, 3)[0].close()
        lines = [l for l in rt.log(vm).splitlines() if "guest port %d " % taken in l]
        assert len(lines) == 1, lines
        assert "in use" in lines[0]
        assert taken not in ports_of(rt, vm) and other in ports_of(rt, vm)
    finally:
        holder.close()
        stop_guest_server(rt, vm, taken)
        stop_guest_server(rt, vm, other)


def test_no_port_forward_forwards_nothing(rt):
    r = rt.wisp("start", "--name", "nofwd", "--no-port-forward")
    assert r.returncode == 0, r
    try:
        port = free_port()
        guest_server(rt, "nofwd", port)
        time.sleep(1.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        assert ports_of(rt, "nofwd") == []
        assert not os.path.exists(os.path.join(rt.root, "nofwd", "vsock_5255"))
    finally:
        assert rt.wisp("stop", "nofwd", timeout=60).returncode == 0


def test_run_port_forward_forwards_while_the_command_runs():
    port = free_port()
    proc = subprocess.Popen([WISP, "run", "--port-forward", "--timeout", "60", "--", "sh", "-c",
                             # The VM ends with the command: give the bytes time to leave.
                             "nc -l -p %d -e echo forwarded-by-run; sleep 1" % port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sock, _ = wait_connect(port, 30)
        assert sock.makefile("rb").read() == b"forwarded-by-run\n"
        sock.close()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def probe_dir(tmp_path):
    d = tmp_path / "probe"
    d.mkdir()
    shutil.copy(os.path.join(OUT, "vsock_probe"), d / "probe")
    return d


def test_a_hostile_announcer_is_bounded_and_the_vm_lives_on(rt, probe_dir):
    """A guest process in the forwarder's place: garbage and too many ports."""
    if not os.path.exists(os.path.join(OUT, "vsock_probe")):
        pytest.skip("make out/vsock_probe first")
    r = rt.wisp("start", "--name", "hostile", "-v", "%s:/p:ro" % probe_dir)
    assert r.returncode == 0, r
    try:
        def announce(script):
            # Kill the forwarder first: the host takes one announcer at a time.
            return rt.wisp("exec", "hostile", "--", "sh", "-c",
                           "kill $(pidof wisp-forward) 2>/dev/null; sleep 0.3; (%s) | "
                           "timeout 10 /p/probe connect 2 5255" % script)
        announce("printf 'PORTS 9 3\\n'")
        announce("head -c 1048576 /dev/zero | tr '\\\\0' 1")
        # 200 four-digit ports still fit in a line.
        many = " ".join(str(p) for p in range(4100, 4300))
        r = rt.wisp("exec", "hostile", "--", "sh", "-c",
                    "(printf 'PORTS %s\\n'; sleep 3) | setsid /p/probe connect 2 5255 "
                    ">/dev/null 2>&1 &" % many)
        assert r.returncode == 0, r
        deadline = time.monotonic() + 2.5
        while len(ports_of(rt, "hostile")) < 128 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ports_of(rt, "hostile") == list(range(4100, 4228))
        time.sleep(3)
        log = rt.log("hostile")
        assert log.count("port announcements are malformed") == 2, log
        assert log.count("more than 128 ports") == 1, log
        assert rt.wisp("exec", "hostile", "--", "true").returncode == 0
        # The announcer has gone: so have its ports.
        assert ports_of(rt, "hostile") == []
        for port in (4100, 4227):
            wait_released(port, 2)
    finally:
        assert rt.wisp("stop", "hostile", timeout=60).returncode == 0
