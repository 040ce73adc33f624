"""A guest that does not play by the rules: out/hostile.cpio.lz4's /init
(tests/helpers/hostile_init.c) gets a status to the host, then keeps
writing and never powers off. wisp must still return the status within
its documented bound (5 s after EXIT, README "Exit status"), relay nothing
the guest sends after EXIT, and answer signals at once meanwhile."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import OUT, WISP, assert_no_leftovers, vmm_processes, wisp

HOSTILE = os.path.join(OUT, "hostile.cpio.lz4")
# README: after the status the VM has this long to power off.
POWEROFF_WAIT = 5.0


@pytest.fixture(scope="module", autouse=True)
def hostile_initrd():
    if not os.path.exists(HOSTILE):
        pytest.fail("%s is missing: make out/hostile.cpio.lz4" % HOSTILE)


@pytest.mark.parametrize("path", ["vsock", "port"])
def test_output_after_exit_is_dropped_and_the_vm_cut_off(path):
    args = ["run", "--initrd", HOSTILE, "--append", "hostile=" + path]
    if path == "port":
        args.append("--no-vsock")
    r = wisp(*args, "--", "true", timeout=60)
    assert r.returncode == 7, r
    assert r.stdout == b"hi\n", r  # nothing of what came after EXIT
    assert b"did not power off in time" in r.stderr, r
    # Booted, answered, then cut off at the deadline: well within twice it.
    assert r.elapsed < 2 * POWEROFF_WAIT + 20, r.elapsed
    assert_no_leftovers(r)


def test_sigterm_while_the_guest_trickles_ends_wisp_at_once():
    tag = "wisptest=" + uuid.uuid4().hex[:12]
    p = subprocess.Popen([WISP, "run", "--no-vsock", "--initrd", HOSTILE, "--append",
                          "hostile=port", "--append", tag, "--", "true"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stdout.readline()  # the status is on its way right behind it
        assert first == b"hi\n", first
        time.sleep(0.3)
        sent = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 7, (rc, p.stderr.read())
    assert took < POWEROFF_WAIT / 2, took  # not the deadline: the signal
    time.sleep(0.2)
    assert vmm_processes(tag) == []


def test_stop_is_not_held_by_an_agent_that_trickles():
    """The supervisor of `wisp start` asks the agent to shut down; this one
    answers a byte every 500 ms forever. A second SIGTERM ends it at once."""
    root = tempfile.mkdtemp(prefix="wh", dir="/tmp")
    os.chmod(root, 0o700)
    env = dict(os.environ, WISP_RUNTIME_DIR=root)
    tag = None
    try:
        r = wisp("start", "--name", "h", "--initrd", HOSTILE, "--append", "hostile=serve",
                 env=env, timeout=60)
        tag = r.tag
        assert r.returncode == 0, r
        with open(os.path.join(root, "h", "state")) as f:
            pid = int(dict(l.strip().split("=", 1) for l in f if "=" in l)["pid"])
        stop = subprocess.Popen([WISP, "stop", "h"], env=env, stderr=subprocess.PIPE)
        time.sleep(1.5)  # the SHUTDOWN is asked, the trickle under way
        assert stop.poll() is None, "the guest cannot have powered off"
        os.kill(pid, signal.SIGTERM)
        rc = stop.wait(timeout=10)
        assert rc == 0, (rc, stop.stderr.read())
        time.sleep(0.2)
        assert vmm_processes(tag) == []
        assert not os.path.exists(os.path.join(root, "h"))
    finally:
        for p in vmm_processes(tag) if tag else []:
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("path", ["vsock", "port"])
def test_a_guest_of_another_protocol_version_is_refused(path):
    args = ["run", "--initrd", HOSTILE, "--append",
            "hostile=" + ("version" if path == "vsock" else "version-port")]
    if path == "port":
        args.append("--no-vsock")
    r = wisp(*args, "--", "true", timeout=60)
    assert r.returncode == 125, r
    assert b"the guest speaks protocol 99; this wisp speaks 2" in r.stderr, r
    assert r.stdout == b"", r
    assert_no_leftovers(r)
