"""wisp start / exec / stop / ps, and `wisp run` through the guest agent:
real VMs, real vsock (wisp-vsockd), the runtime directory on disk."""
import concurrent.futures
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid

import pytest

import conftest
from conftest import WISP, vmm_processes, wisp


def processes_mentioning(text):
    """PIDs whose command line contains text (VMMs, wisp-vsockd, supervisors)."""
    return vmm_processes(text)


class Runtime(conftest.Runtime):
    """conftest's, and what the start/exec/stop tests add to it."""

    def popen(self, *args, **kw):
        return subprocess.Popen([WISP] + list(args), env=self.env, **kw)

    def assert_gone(self, name, tag):
        """Nothing of the VM is left: no process, no directory."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not processes_mentioning(tag) and not processes_mentioning(
                    os.path.join(self.root, name)) and not os.path.exists(os.path.join(self.root, name)):
                return
            time.sleep(0.1)
        pytest.fail("VM %s left %r, dir exists: %s" % (
            name, processes_mentioning(tag) + processes_mentioning(os.path.join(self.root, name)),
            os.path.exists(os.path.join(self.root, name))))


@pytest.fixture(scope="module")
def rt():
    r = Runtime()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def vm(rt):
    """One VM for the tests that only exec into it."""
    r = rt.wisp("start", "--name", "shared")
    assert r.returncode == 0, r
    yield "shared"
    s = rt.wisp("stop", "shared", timeout=60)
    assert s.returncode == 0, s
    rt.assert_gone("shared", r.tag)


def test_exec_keeps_stdout_stderr_and_status_apart(rt, vm):
    r = rt.wisp("exec", vm, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n"), r


@pytest.mark.parametrize("script,status", [
    ("kill -9 $$", 137), ("kill -TERM $$", 143), ("exit 0", 0), ("exit 255", 255)])
def test_exec_status_is_the_commands(rt, vm, script, status):
    r = rt.wisp("exec", vm, "--", "sh", "-c", script)
    assert r.returncode == status, r


def test_exec_not_found_and_not_executable(rt, vm):
    r = rt.wisp("exec", vm, "--", "/no/such/thing")
    assert r.returncode == 127 and b"/no/such/thing" in r.stderr, r
    r = rt.wisp("exec", vm, "--", "/etc/passwd")
    assert r.returncode == 126, r


def test_exec_env_workdir_user_and_tty(rt, vm):
    r = rt.wisp("exec", vm, "-e", "GREETING=hi there", "-w", "/tmp", "-u", "1000:1000", "--",
                "sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g; [ -t 0 ] && echo tty || echo notty')
    assert (r.returncode, r.stdout) == (0, b"hi there\n/tmp\n1000\n1000\nnotty\n"), r
    r = rt.wisp("exec", vm, "-t", "--", "sh", "-c", "[ -t 1 ] && stty size")
    assert r.returncode == 0 and r.stdout.strip() == b"24 80", r


def test_exec_options_may_come_before_the_name(rt, vm):
    # getopt's forms too: grouped short options, an abbreviated long one.
    r = rt.wisp("exec", "--en", "A=1", "-iw", "/tmp", vm, "--", "sh", "-c", 'echo "$A $(pwd)"; cat', input=b"in\n")
    assert (r.returncode, r.stdout) == (0, b"1 /tmp\nin\n"), r
    r = rt.wisp("exec", "-i", "--", "cat")
    assert r.returncode == 125 and r.stderr.splitlines()[0] == b"wisp: exec needs the name of a VM", r


def test_256_mib_through_exec_cat(rt, vm):
    data = os.urandom(1 << 20) * 256
    start = time.monotonic()
    r = rt.wisp("exec", vm, "-i", "--", "cat", input=data, timeout=600)
    took = time.monotonic() - start
    assert r.returncode == 0, r
    assert len(r.stdout) == len(data)
    assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest()
    print("256 MiB through wisp exec cat: %.1f s (%.1f MiB/s)" % (took, 256 / took))


def test_stdin_eof_reaches_the_command(rt, vm):
    r = rt.wisp("exec", vm, "-i", "--", "wc", "-c", input=b"12345")
    assert (r.returncode, r.stdout.split()) == (0, [b"5"]), r


def test_fifty_parallel_execs(rt, vm):
    def one(i):
        return i, rt.wisp("exec", vm, "--", "sh", "-c", "echo n=%d; echo e=%d >&2; exit %d" % (i, i, i % 7))

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    for i, r in results:
        assert (r.returncode, r.stdout, r.stderr) == (i % 7, b"n=%d\n" % i, b"e=%d\n" % i), (i, r)


def test_exec_does_not_wait_for_a_running_transfer(rt, vm):
    big = rt.popen("exec", vm, "--", "sh", "-c", "head -c 64000000 /dev/zero; sleep 1",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        r = rt.wisp("exec", vm, "--", "echo", "beside")
        assert (r.returncode, r.stdout) == (0, b"beside\n"), r
        assert big.poll() is None, "the transfer ended before the second exec: test too weak"
        out, _ = big.communicate(timeout=300)
        assert big.returncode == 0 and len(out) == 64000000
    finally:
        big.kill()
        big.wait()


def test_exec_timeout_and_signal_leave_the_vm_usable(rt, vm):
    r = rt.wisp("exec", vm, "--timeout", "1", "--", "sleep", "30")
    assert r.returncode == 124, r
    p = rt.popen("exec", vm, "--", "sh", "-c", "trap 'echo got INT; exit 7' INT; sleep 30 & wait",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out) == (7, b"got INT\n"), (p.returncode, out, err)
    r = rt.wisp("exec", vm, "--", "echo", "still here")
    assert (r.returncode, r.stdout) == (0, b"still here\n"), r


def test_killed_agent_is_restarted(rt, vm):
    # The command's parent is the agent's per-connection process; its
    # parent is the agent, which PID 1 must bring back.
    r = rt.wisp("exec", vm, "--", "sh", "-c",
                "agent=$(awk '{print $4}' /proc/$PPID/stat); kill -9 $agent; echo killed $agent")
    assert r.returncode == 0 and r.stdout.startswith(b"killed "), r
    deadline = time.monotonic() + 10
    while True:
        r = rt.wisp("exec", vm, "--", "echo", "back")
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (r.returncode, r.stdout) == (0, b"back\n"), r


def test_runtime_directory_and_sockets_are_private(rt, vm):
    d = os.path.join(rt.root, vm)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for name in os.listdir(d):
        mode = stat.S_IMODE(os.lstat(os.path.join(d, name)).st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))
    # Another user cannot enter, so cannot reach the sockets.
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        "ls", d], capture_output=True)
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r


def test_a_runtime_root_others_can_enter_is_refused(tmp_path):
    root = tempfile.mkdtemp(prefix="wr", dir="/tmp")
    try:
        os.chmod(root, 0o755)
        r = wisp("start", "--name", "x", env=dict(os.environ, WISP_RUNTIME_DIR=root))
        assert r.returncode == 125 and b"not a private directory" in r.stderr, r
        assert r.stderr.count(b"\n") == 1, r
    finally:
        shutil.rmtree(root)


def test_ps_lists_the_running_vms(rt, vm):
    r = rt.wisp("ps")
    assert r.returncode == 0, r
    lines = r.stdout.decode().splitlines()
    assert lines[0].split()[0] == "NAME"
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert vm in rows and rows[vm][2] == "running", lines


def test_bad_names_and_unknown_vms_are_one_line_125(rt):
    for args, text in [(("exec", "nosuch", "--", "true"), b"no running VM named nosuch"),
                       (("stop", "nosuch"), b"no running VM named nosuch"),
                       (("exec", "../x", "--", "true"), b"invalid VM name"),
                       (("start", "--name", "a/b"), b"invalid --name"),
                       (("start",), b"needs --name"),
                       (("start", "--name", "x", "--", "ls"), b"takes no command"),
                       (("exec", "x", "-m", "64", "--", "ls"), b"option '-m' does not apply to wisp exec")]:
        r = rt.wisp(*args)
        assert r.returncode == 125 and text in r.stderr, (args, r)


def test_start_twice_stop_in_order_and_nothing_left(rt, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    r = rt.wisp("start", "--name", "twice", "-v", "%s:/mnt" % share)
    assert r.returncode == 0, r
    again = rt.wisp("start", "--name", "twice")
    assert again.returncode == 125 and b"already running" in again.stderr, again
    # Written just before the stop: an orderly shutdown keeps it.
    w = rt.wisp("exec", "twice", "--", "sh", "-c", "echo kept > /mnt/f")
    assert w.returncode == 0, w
    s = rt.wisp("stop", "twice")
    assert s.returncode == 0, s
    assert (share / "f").read_bytes() == b"kept\n"
    rt.assert_gone("twice", r.tag)
    assert rt.wisp("exec", "twice", "--", "true").returncode == 125


def test_a_guest_that_never_becomes_ready_fails_start_in_time(rt):
    # rdinit=/bin/cat: the kernel runs cat as PID 1; no agent ever listens.
    start = time.monotonic()
    r = rt.wisp("start", "--name", "never", "--timeout", "6", "--append", "rdinit=/bin/cat")
    took = time.monotonic() - start
    assert r.returncode == 125 and b"not ready within 6 s" in r.stderr, r
    assert took < 15, took
    rt.assert_gone("never", r.tag)


def test_killing_vsockd_mid_transfer_fails_run_with_125(tmp_path):
    tag = "wisptest=" + uuid.uuid4().hex[:12]
    root = tempfile.mkdtemp(prefix="wr", dir="/tmp")
    env = dict(os.environ, WISP_RUNTIME_DIR=root)
    p = subprocess.Popen([WISP, "run", "--append", tag, "--", "sh", "-c", "while :; do head -c 1000000 /dev/zero; done"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got = 0
        while got < 4000000:
            chunk = p.stdout.read1(1 << 16)
            assert chunk, "the transfer never started"
            got += len(chunk)
        vsockd = [pid for pid in processes_mentioning(root) if b"wisp-vsockd" in open("/proc/%d/cmdline" % pid, "rb").read()]
        assert len(vsockd) == 1, vsockd
        os.kill(vsockd[0], signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 125, (p.returncode, err)
        assert b"wisp-vsockd was killed by signal 9" in err or b"lost the connection" in err, err
        assert err.count(b"\n") == 1, err
        time.sleep(0.3)
        assert vmm_processes(tag) == [] and processes_mentioning(root) == []
        assert os.listdir(root) == [], os.listdir(root)
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(root, ignore_errors=True)


def test_killing_vsockd_of_a_started_vm_fails_exec_and_ends_the_vm(rt):
    r = rt.wisp("start", "--name", "doomed")
    assert r.returncode == 0, r
    d = os.path.join(rt.root, "doomed")
    p = rt.popen("exec", "doomed", "--", "sh", "-c", "while :; do head -c 1000000 /dev/zero; done",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.read1(1 << 16), "the transfer never started"
        vsockd = [pid for pid in processes_mentioning(d) if b"wisp-vsockd" in open("/proc/%d/cmdline" % pid, "rb").read()]
        assert len(vsockd) == 1, vsockd
        os.kill(vsockd[0], signal.SIGKILL)
        while p.stdout.read1(1 << 16):
            pass
        p.wait(timeout=60)
        err = p.stderr.read()
        assert p.returncode == 125 and b"lost the connection to the guest agent" in err, (p.returncode, err)
        rt.assert_gone("doomed", r.tag)
    finally:
        p.kill()
        p.wait()


def test_run_over_vsock_keeps_streams_apart_and_leaves_no_runtime_dir(tmp_path):
    root = tempfile.mkdtemp(prefix="wr", dir="/tmp")
    try:
        r = wisp("run", "--", "sh", "-c", "echo out; echo err >&2; exit 5",
                 env=dict(os.environ, WISP_RUNTIME_DIR=root))
        assert (r.returncode, r.stdout, r.stderr) == (5, b"out\n", b"err\n"), r
        assert os.listdir(root) == []
    finally:
        shutil.rmtree(root)


def test_run_reports_a_failed_share_from_the_ready_notice():
    import base64
    shares = base64.b64encode(b"9p,nosuch,rw,mmap,/x\0").decode()
    r = wisp("run", "--append", "wisp.shares=" + shares, "--", "echo", "must not run")
    assert r.returncode == 125 and b"must not run" not in r.stdout, r
    assert b"mount 9p tag 'nosuch' on /x: no such tag" in r.stderr, r
