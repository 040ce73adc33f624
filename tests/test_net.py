"""--net user and --net none: outbound NAT and DNS through QEMU's slirp in a
network namespace of its own, the host reachable as host.wisp.internal on
the ports named with --host-port and on no other, -p published ports (TCP
and UDP), and the errors. Every server here listens on the host's loopback
only, and nothing leaves the machine (DNS is answered by slirp4netns from
the host's resolver only for the name lookups of the guest's own hosts
file)."""
import functools
import hashlib
import http.server
import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest

from conftest import HARD_TIMEOUT, OUT, WISP, assert_no_leftovers, tagged_env, vmm_processes, wisp


def assert_all_gone(result):
    """Nothing of the VM is left, slirp4netns and the keeper included (they
    carry the test's tag in their environment)."""
    assert_no_leftovers(result)


def new_tag():
    return "wisptest=" + uuid.uuid4().hex[:12]


def assert_tag_gone(tag):
    time.sleep(0.2)
    assert vmm_processes(tag) == [], "processes of the VM outlived wisp"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def host_servers(tmp_path):
    """Two HTTP servers on the host's 127.0.0.1 serving tmp_path/blob."""
    blob = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "blob").write_bytes(blob)
    servers = []
    for _ in range(2):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                              functools.partial(Quiet, directory=str(tmp_path)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    yield [s.server_address[1] for s in servers], hashlib.sha256(blob).hexdigest()
    for s in servers:
        s.shutdown()
        s.server_close()


def test_outbound_dns_and_the_host_alias_on_named_ports_only(host_servers):
    (named, other), digest = host_servers
    script = (
        "cat /etc/resolv.conf; grep host.wisp.internal /etc/hosts; "
        "wget -q -O- http://host.wisp.internal:%d/blob | sha256sum; "
        "wget -q -O- http://10.0.2.2:%d/blob >/dev/null 2>&1; echo other=$?; "
        # The guest's own 127.0.0.1 is not the host's, nor are the
        # namespace's gateway and resolver addresses (slirp4netns's, with
        # the host's loopback cut off).
        "wget -q -O- http://127.0.0.1:%d/blob >/dev/null 2>&1; echo local=$?; "
        "timeout 2 wget -q -O- http://10.0.3.2:%d/blob >/dev/null 2>&1; echo nsgw=$(($? != 0)); "
        "timeout 2 wget -q -O- http://10.0.3.3:%d/blob >/dev/null 2>&1; echo nsdns=$(($? != 0)); "
        # Routing 127.0.0.0/8 out of eth0 reaches the namespace's loopback,
        # not the host's: the named port answers, the other does not.
        "sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.eth0.route_localnet=1; "
        "ip addr flush dev lo; ip link set lo down; "
        "ip route add 127.0.0.0/8 via 10.0.2.2 dev eth0 onlink; "
        "wget -q -O- http://127.0.0.1:%d/blob | sha256sum; "
        "wget -q -O- http://127.0.0.1:%d/blob >/dev/null 2>&1; echo trick=$?"
    ) % (named, other, other, other, other, named, other)
    r = wisp("run", "--net", "user", "--host-port", str(named), "--", "sh", "-c", script)
    assert r.returncode == 0, r
    lines = r.stdout.decode().splitlines()
    assert "nameserver 10.0.3.3" in lines
    assert "10.0.2.2\thost.wisp.internal" in lines
    assert lines.count("%s  -" % digest) == 2, r
    for probe in ("other", "local", "nsgw", "nsdns", "trick"):
        assert probe + "=1" in lines, (probe, r)
    assert_all_gone(r)


def test_guest_resolves_names_through_the_host_resolver():
    """The guest's resolver (slirp4netns's forwarder to the host's) answers:
    for a name under .invalid the answer is NXDOMAIN, which only a resolver
    gives (a dead one times out); nothing leaves for a real name."""
    r = wisp("run", "--net", "user", "--", "sh", "-c",
             "nslookup wisp-test.invalid 2>&1; echo rc=$?; "
             "nslookup wisp-test.invalid 10.0.3.9 2>&1; echo rc=$?")
    assert r.returncode == 0, r
    answered, dead = r.stdout.decode().split("rc=1\n")[:2]
    assert "server can't find wisp-test.invalid: NXDOMAIN" in answered, r
    assert "no servers could be reached" in dead, r


def listen_on(port):
    """Listens on 127.0.0.1:port and stops: fails while another listens."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def start_published(tmp_path, tag, *publish):
    """`wisp run -p ...` with busybox httpd on guest ports 80 and 8080
    serving the share /www until the file stop appears there."""
    args = [WISP, "run", "--net", "user"]
    for p in publish:
        args += ["-p", p]
    script = ("httpd -p 80 -h /www && httpd -p 8080 -h /www && echo up && "
              "while [ ! -e /www/stop ]; do sleep 0.1; done")
    args += ["-v", "%s:/www" % tmp_path, "--", "sh", "-c", script]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tagged_env(tag))
    assert proc.stdout.readline() == b"up\n", proc.stderr.read()
    return proc


def fetch(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /%s HTTP/1.0\r\n\r\n" % path.encode())
        data = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] in (b"HTTP/1.0 200 OK", b"HTTP/1.1 200 OK"), head
    return body


def test_published_ports_serve_16_mib(tmp_path):
    blob = os.urandom(16 << 20)
    (tmp_path / "f").write_bytes(blob)
    p1, p2 = free_port(), free_port()
    tag = new_tag()
    proc = start_published(tmp_path, tag, "127.0.0.1:%d:80" % p1, "%d:8080" % p2)
    try:
        assert hashlib.sha256(fetch(p1, "f")).digest() == hashlib.sha256(blob).digest()
        assert hashlib.sha256(fetch(p2, "f")).digest() == hashlib.sha256(blob).digest()
        # Both are bound on the host's 127.0.0.1 (p2 by -p's default).
        for port in (p1, p2):
            with socket.socket() as s, pytest.raises(OSError):
                s.bind(("127.0.0.1", port))
    finally:
        (tmp_path / "stop").write_text("")
        try:
            proc.wait(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
    assert_tag_gone(tag)
    # Released when the VM is gone.
    listen_on(p1)
    listen_on(p2)


def test_published_udp_port(tmp_path):
    """A datagram to the host's port reaches the guest's, and the answer
    comes back to the sender (out/udp_probe echoes one)."""
    shutil.copy(os.path.join(OUT, "udp_probe"), tmp_path / "probe")
    port = free_port()
    args = [WISP, "run", "-p", "%d:5353/udp" % port, "-v", "%s:/w:ro" % tmp_path, "--",
            "/w/probe", "5353"]
    tag = new_tag()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tagged_env(tag))
    try:
        assert proc.stdout.readline() == b"up\n"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            answer = None
            deadline = time.monotonic() + 20
            while answer is None and time.monotonic() < deadline:
                s.sendto(b"hello", ("127.0.0.1", port))
                try:
                    answer = s.recv(100)
                except socket.timeout:
                    pass
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert answer == b"hello" and out == b"hello", (answer, out, err)
    assert_tag_gone(tag)


def test_a_published_port_in_use_fails_at_once():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = wisp("run", "-p", "127.0.0.1:%d:80" % port, "--", "true")
    assert r.returncode == 125, r
    assert r.stderr.decode() == "wisp: -p 127.0.0.1:%d/tcp: Address already in use\n" % port
    assert_all_gone(r)


@pytest.mark.parametrize("value", ["0:80", "80:0", "65536:80", "80:65536", "80:80/sctp",
                                   "1.2.3:80:80", "x:80"])
def test_bad_publish_values(value):
    r = wisp("run", "-p", value, "--", "true")
    assert r.returncode == 125, r
    # One line says what is wrong; the usage follows, as for every option.
    first = r.stderr.decode().splitlines()[0]
    assert first.startswith("wisp: invalid -p '%s'" % value), r


def test_a_port_published_twice():
    r = wisp("run", "-p", "8080:80", "-p", "0.0.0.0:8080:81", "--", "true")
    assert r.returncode == 125, r
    first = r.stderr.decode().splitlines()[0]
    assert "published twice" in first, r


def test_net_none_has_only_loopback_and_fails_at_once():
    r = wisp("run", "--net", "none", "--", "sh", "-c",
             "ls /sys/class/net; nc 10.0.2.2 80 </dev/null; echo rc=$?")
    assert r.returncode == 0, r
    assert r.stdout.decode().split() == ["lo", "rc=1"], r
    assert b"Network is unreachable" in r.stderr, r
    # The default is none.
    d = wisp("run", "--", "ls", "/sys/class/net")
    assert d.stdout == b"lo\n", d


def run_as_nobody(tmp_path, tag, tun_mode, wisp_args):
    """`wisp WISP_ARGS` as the unprivileged user nobody, in a private mount
    namespace whose /dev/net/tun is a node of tun_mode (Debian's udev rule
    makes it 0666; this machine's may be 0600 and is not touched)."""
    if os.geteuid() != 0:
        pytest.skip("sets up the unprivileged user as root")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    tun = tmp_path / "tun"
    script = ("mknod -m %o %s c 10 200 && mount --bind %s /dev/net/tun && "
              "exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=%s %s %s"
              ) % (tun_mode, tun, tun, home, WISP, " ".join(shlex.quote(a) for a in wisp_args))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, timeout=HARD_TIMEOUT, env=tagged_env(tag))


def test_net_user_without_root(tmp_path, host_servers):
    """As an unprivileged user: a user namespace as well."""
    (named, other), digest = host_servers
    tag = new_tag()
    r = run_as_nobody(tmp_path, tag, 0o666, [
        "run", "--net", "user", "--host-port", str(named), "--", "sh", "-c",
        "wget -q -O- http://host.wisp.internal:%d/blob | sha256sum; "
        "wget -q -O- http://10.0.2.2:%d/blob >/dev/null 2>&1; echo other=$?" % (named, other)])
    assert r.returncode == 0, r
    assert r.stdout.decode().splitlines() == ["%s  -" % digest, "other=1"], r
    assert_tag_gone(tag)


def test_a_real_root_gets_the_network_files_on_its_overlay(host_servers):
    """--rootfs host: the guest's /etc/resolv.conf and /etc/hosts are
    written on the overlay; the host's own stay as they were; glibc's
    resolver finds host.wisp.internal."""
    (named, _), digest = host_servers
    with open("/etc/resolv.conf", "rb") as f:
        before = f.read()
    r = wisp("run", "--rootfs", "host", "--net", "user", "--host-port", str(named), "--", "sh", "-c",
             "grep -v '^#' /etc/resolv.conf; getent hosts host.wisp.internal; "
             "python3 -c 'import hashlib,urllib.request; print(hashlib.sha256(urllib.request.urlopen("
             "\"http://host.wisp.internal:%d/blob\").read()).hexdigest())'" % named)
    assert r.returncode == 0, r
    lines = r.stdout.decode().split("\n")
    assert lines[0] == "nameserver 10.0.3.3", r
    assert lines[1].split() == ["10.0.2.2", "host.wisp.internal"], r
    assert lines[2] == digest, r
    with open("/etc/resolv.conf", "rb") as f:
        assert f.read() == before


@pytest.mark.parametrize("vmm", ["qemu-q35", "qemu-pc"])
def test_the_nic_on_pci_machines(vmm, host_servers):
    (named, _), digest = host_servers
    r = wisp("run", "--vmm", vmm, "--host-port", str(named), "--", "sh", "-c",
             "wget -q -O- http://host.wisp.internal:%d/blob | sha256sum" % named)
    assert r.returncode == 0, r
    assert r.stdout.decode() == "%s  -\n" % digest, r
    assert_all_gone(r)


def test_slirp4netns_failing_is_one_line_and_125(tmp_path):
    """A /dev/net/tun the user may not open: slirp4netns fails, and wisp
    says why in one line."""
    tag = new_tag()
    r = run_as_nobody(tmp_path, tag, 0o600, ["run", "--net", "user", "--", "echo", "unreachable"])
    assert r.returncode == 125, r
    assert r.stdout == b""
    assert r.stderr.decode() == ('wisp: --net user: slirp4netns failed: open("/dev/net/tun"): '
                                 'Permission denied\n'), r
    assert_tag_gone(tag)


def test_net_user_with_the_virtio_port(host_servers):
    """--no-vsock: PID 1 runs the command from its first moment, so wisp
    waits for slirp4netns before the VM starts; the way out is there."""
    (named, _), digest = host_servers
    r = wisp("run", "--no-vsock", "--host-port", str(named), "--", "sh", "-c",
             "wget -q -O- http://host.wisp.internal:%d/blob | sha256sum; "
             "nslookup wisp-test.invalid 2>&1 | grep -c NXDOMAIN" % named)
    assert r.returncode == 0, r
    assert r.stdout.decode().split("\n")[0] == "%s  -" % digest, r
    assert r.stdout.decode().split("\n")[1] != "0", r
    assert_all_gone(r)
