"""wisp-vsockd under a real guest: QEMU's vhost-user-vsock device, the
guest kernel's virtio-vsock driver, and hybrid Unix sockets on the host."""
import hashlib
import os
import resource
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

import pytest

import agent_client
from conftest import OUT, WISP, assert_no_leftovers, wisp

VSOCKD = os.path.join(OUT, "wisp-vsockd")


@pytest.fixture
def share(tmp_path):
    d = tmp_path / "share"
    d.mkdir()
    shutil.copy(os.path.join(OUT, "vsock_probe"), d / "probe")
    return d


def host_listener(path, send=b"", timeout=120):
    """Accepts one connection at path; returns (thread, result dict)."""
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(timeout)
    result = {}

    def serve():
        try:
            c, _ = srv.accept()
            c.settimeout(timeout)
            if send:
                c.sendall(send)
            c.shutdown(socket.SHUT_WR)
            h, n = hashlib.sha256(), 0
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                h.update(d)
                n += len(d)
            result["sha"], result["len"] = h.hexdigest(), n
        finally:
            srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t, result


@pytest.mark.parametrize("vmm", ["qemu-microvm", "qemu-q35"])
def test_guest_connection_reaches_the_hosts_hybrid_socket(vmm, share, tmp_path):
    uds = str(tmp_path / "v.sock")
    t, got = host_listener(uds + "_5000", send=b"hello guest\n")
    size = 16 * 1024 * 1024
    script = ("head -c %d /dev/urandom > /tmp/d; sha256sum /tmp/d >&2; "
              "/w/probe connect 2 5000 < /tmp/d" % size)
    r = wisp("run", "--vmm", vmm, "--vsock", uds, "-v", "%s:/w" % share, "--", "sh", "-c", script)
    t.join(30)
    assert r.returncode == 0, r
    assert r.stdout == b"hello guest\n"
    assert got == {"sha": r.stderr.split()[0].decode(), "len": size}
    assert not os.path.exists(uds), "the hybrid socket outlived the VM"
    assert_no_leftovers(r)


def connect_and_echo(uds, port, payload, deadline):
    """CONNECTs through the hybrid socket (retrying until the guest listens)
    and returns what the guest echoed."""
    c = agent_client.connect(uds, port, deadline)
    sender = threading.Thread(target=lambda: (c.sendall(payload), c.shutdown(socket.SHUT_WR)))
    sender.start()
    echoed = b""
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        echoed += d
    sender.join()
    c.close()
    return echoed


def test_host_connections_reach_a_guest_listener_concurrently(share, tmp_path):
    uds = str(tmp_path / "v.sock")
    conns = 8
    p = subprocess.Popen([WISP, "run", "--timeout", "200", "--vsock", uds, "-v", "%s:/w" % share,
                          "--", "/w/probe", "listen", "1234", str(conns)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    payloads = [os.urandom(512 * 1024 + i) for i in range(conns)]
    results = [None] * conns
    deadline = time.monotonic() + 120

    def one(i):
        results[i] = connect_and_echo(uds, 1234, payloads[i], deadline)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
    try:
        while not os.path.exists(uds) and time.monotonic() < deadline:
            time.sleep(0.05)
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, err
    for i in range(conns):
        assert results[i] == payloads[i], "connection %d" % i


def test_connect_to_a_port_nobody_listens_on_is_refused(tmp_path):
    uds = str(tmp_path / "v.sock")
    p = subprocess.Popen([WISP, "run", "--vsock", uds, "--", "sleep", "5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(uds) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # the guest driver is up by now
        c = socket.socket(socket.AF_UNIX)
        c.connect(uds)
        c.settimeout(30)
        c.sendall(b"CONNECT 4242\n")
        assert c.recv(100) == b"", "expected the connection to be closed"
        mode = stat.S_IMODE(os.stat(uds).st_mode)
        assert mode & 0o077 == 0, "hybrid socket mode %o" % mode
        bad = socket.socket(socket.AF_UNIX)
        bad.connect(uds)
        bad.settimeout(30)
        bad.sendall(b"HELLO\n")
        try:
            assert bad.recv(100) == b""
        except ConnectionResetError:
            pass  # closed with our line unread: refused all the same
        assert p.wait(timeout=60) == 0
    finally:
        p.kill()
        p.wait()

exec_command = agent_client.exec_command


def start_vm(uds, *args, seconds=60):
    p = subprocess.Popen([WISP, "run", "--timeout", str(seconds + 60), "--vsock", uds] + list(args)
                         + ["--", "sleep", str(seconds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not os.path.exists(uds) and time.monotonic() < deadline:
        time.sleep(0.05)
    return p


def test_agent_runs_commands_with_stdio_and_status(tmp_path):
    uds = str(tmp_path / "v.sock")
    p = start_vm(uds)
    try:
        assert exec_command(uds, ["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, b"out\n", b"err\n")
        data = os.urandom(1 << 20)
        status, out, _ = exec_command(uds, ["sha256sum"], stdin=data)
        assert status == 0 and out.split()[0].decode() == hashlib.sha256(data).hexdigest()
        assert exec_command(uds, ["sh", "-c", "kill -9 $$"])[0] == 137
        assert exec_command(uds, ["/no/such/thing"])[0] == 127
    finally:
        p.kill()
        p.wait()


def test_agent_refuses_guest_processes_and_survives_being_killed(share, tmp_path):
    uds = str(tmp_path / "v.sock")
    p = start_vm(uds, "-v", "%s:/w" % share)
    try:
        # A guest process reaching the agent over vsock loopback gets nothing.
        status, out, _ = exec_command(uds, ["sh", "-c", "/w/probe connect 1 5252 </dev/null | wc -c"])
        assert (status, out) == (0, b"0\n")
        # Kill the agent: PID 1 starts another and the next request works.
        # (the agent is the "init" whose parent is PID 1; this request's own
        # handler is its child and must live to report; the port forwarder,
        # PID 1's child too, is named wisp-forward)
        kill = ("n=0; for p in $(pidof init); do [ $p != 1 ] && "
                "grep -q '^PPid:[[:space:]]*1$' /proc/$p/status && "
                "grep -q '^Name:[[:space:]]*init$' /proc/$p/status && kill -9 $p && n=$((n+1)); "
                "done; echo $n")
        assert exec_command(uds, ["sh", "-c", kill]) == (0, b"1\n", b"")
        time.sleep(1)
        assert exec_command(uds, ["echo", "again"]) == (0, b"again\n", b"")
    finally:
        p.kill()
        p.wait()


# ---- wisp-vsockd alone, with its fd table full ----

def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_full_fd_table_does_not_spin_wisp_vsockd(tmp_path):
    """wisp-vsockd with 16 fds and 40 host clients: accept() fails with
    EMFILE, and the loop waits for a connection to close instead of
    spinning on the listener. No VM: a socket stands in for QEMU."""
    vhost, uds = str(tmp_path / "vhost.sock"), str(tmp_path / "v.sock")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    p = subprocess.Popen([VSOCKD, "--vhost-socket", vhost, "--uds", uds],
                         stderr=subprocess.PIPE,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (16, hard)))
    qemu = socket.socket(socket.AF_UNIX)
    clients = []
    try:
        deadline = time.monotonic() + 10
        while qemu.connect_ex(vhost) != 0:
            assert time.monotonic() < deadline, "wisp-vsockd never listened"
            time.sleep(0.02)
        while not os.path.exists(uds):
            time.sleep(0.02)
        for _ in range(40):
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(10)
            c.connect(uds)  # taken, or waiting in the listener's backlog
            clients.append(c)
        time.sleep(0.3)
        before = cpu_seconds(p.pid)
        time.sleep(1)
        spent = cpu_seconds(p.pid) - before
        assert spent < 0.2, "wisp-vsockd used %.2f s of CPU in 1 s with its fd table full" % spent
        # A line that is not CONNECT closes a connection: that makes room
        # for the next client, whose own line closes it, and so on: every
        # client is served in the end.
        for c in clients:
            c.sendall(b"HELLO\n")
        for c in clients:
            try:
                assert c.recv(10) == b""
            except ConnectionResetError:
                pass  # closed with the line unread: served all the same
    finally:
        for c in clients:
            c.close()
        qemu.close()  # QEMU gone: wisp-vsockd ends
        try:
            p.wait(timeout=10)
        finally:
            p.kill()
    err = p.stderr.read().decode()
    assert err.count("accept on the hybrid socket") <= 3, err


# ---- host clients that give up, with a real guest ----

@pytest.fixture
def started(tmp_path):
    """A `wisp start`ed VM with a share at /w holding the probes, in a
    private runtime directory: (env, name, the VM's hybrid socket, share)."""
    share = tmp_path / "share"
    share.mkdir()
    shutil.copy(os.path.join(OUT, "hold_probe"), share / "hold_probe")
    root = tempfile.mkdtemp(prefix="wr", dir="/tmp")  # short: sun_path
    env = dict(os.environ, WISP_RUNTIME_DIR=root)
    r = wisp("start", "--name", "vs", "-v", "%s:/w" % share, env=env)
    assert r.returncode == 0, r
    try:
        yield env, "vs", os.path.join(root, "vs", "vsock"), share
    finally:
        s = wisp("stop", "vs", timeout=60, env=env)
        shutil.rmtree(root, ignore_errors=True)
        assert s.returncode == 0, s
        assert_no_leftovers(r)


def abandon(uds, port, read_ok):
    """A host client that gives up: CONNECT, perhaps wait for OK, close.
    True when it saw OK."""
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(30)
    try:
        c.connect(uds)
        c.sendall(b"CONNECT %d\n" % port)
        return read_ok and c.recv(3) == b"OK "
    except OSError:
        return False  # refused: closed or reset
    finally:
        c.close()


def exec_true(env, name, seconds=20):
    """`wisp exec NAME -- true`, again while the guest refuses it: the
    agent's own backlog (64) may still hold connections it is ending."""
    deadline = time.monotonic() + seconds
    while True:
        r = wisp("exec", name, "--", "true", env=env)
        if r.returncode == 0 or b"refused" not in r.stderr or time.monotonic() > deadline:
            return r
        time.sleep(0.5)


def test_abandoned_wisp_execs_do_not_fill_the_connection_table(started):
    env, name, uds, _ = started
    # More than the 512 connections wisp-vsockd keeps at once; some close
    # before the agent answered, some right after its OK.
    oks = sum(abandon(uds, 5252, read_ok=i % 3 == 0) for i in range(600))
    assert oks > 0
    r = exec_true(env, name)
    assert r.returncode == 0, r


def test_clients_gone_from_a_guest_that_holds_its_end_are_reaped(started):
    """The guest accepts and then ignores every connection (never reads,
    never closes): once the host client is gone, wisp-vsockd resets the
    connection instead of waiting for the guest forever."""
    env, name, uds, _ = started
    holder = subprocess.Popen([WISP, "exec", name, "--", "/w/hold_probe", "6000"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"listening\n"
        oks = sum(abandon(uds, 6000, read_ok=True) for _ in range(600))
        assert oks == 600, "%d of 600 host clients got OK" % oks
        r = exec_true(env, name)
        assert r.returncode == 0, r
    finally:
        holder.kill()
        holder.wait()


def test_a_link_at_a_host_port_path_is_not_followed(share, tmp_path):
    """<vsock>_P must be a socket of the user's: a symbolic link there, even
    to a listening socket, gets the guest a refused connection."""
    uds = str(tmp_path / "v.sock")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = str(elsewhere / "l.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(target)
    srv.listen(1)
    srv.setblocking(False)
    os.symlink(target, uds + "_5001")
    try:
        r = wisp("run", "--vsock", uds, "-v", "%s:/w" % share, "--", "sh", "-c",
                 "echo x | /w/probe connect 2 5001; echo rc=$?")
        assert r.returncode == 0, r
        assert b"rc=1" in r.stdout, r
        assert b"connect" in r.stderr, r  # the probe's perror: refused
        with pytest.raises(BlockingIOError):
            srv.accept()  # nothing reached the socket behind the link
    finally:
        srv.close()
    assert_no_leftovers(r)
