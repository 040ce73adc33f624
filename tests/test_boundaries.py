"""What the host side refuses to do for a guest or another local user
(docs/security.md): follow a symlink to write the trace, leave the QMP
socket open to others, put vsock sockets where others could plant theirs."""
import os
import pathlib
import stat
import subprocess
import time

from conftest import WISP, assert_no_leftovers, wisp


def test_trace_json_refuses_a_symlink_given_at_launch(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "t.json").symlink_to(victim)
    r = wisp("run", "--trace-json", str(tmp_path / "t.json"), "--", "true")
    assert r.returncode == 125, r
    assert b"--trace-json" in r.stderr and b"symbolic link" in r.stderr, r
    assert victim.read_text() == "precious\n"


def test_trace_json_is_not_redirected_by_a_symlink_the_guest_plants(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    trace = share / "t.json"
    # The guest replaces the trace file with a link to a host path.
    r = wisp("run", "-v", "%s:/w" % share, "--trace-json", str(trace), "--",
             "ln", "-sf", str(victim), "/w/t.json")
    assert r.returncode == 0, r
    assert victim.read_text() == "precious\n"
    assert_no_leftovers(r)


def test_qmp_socket_is_private_whatever_the_umask(tmp_path):
    qmp = tmp_path / "q.sock"
    p = subprocess.Popen([WISP, "run", "--qmp", str(qmp), "--", "sleep", "5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: os.umask(0))
    try:
        deadline = time.monotonic() + 60
        while not qmp.exists() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        mode = stat.S_IMODE(os.lstat(qmp).st_mode)
    finally:
        p.kill()
        p.communicate()
    assert mode & 0o077 == 0, oct(mode)


def test_vsock_path_must_be_in_a_directory_only_the_user_can_write(tmp_path):
    r = wisp("run", "--vsock", "/tmp/wisp-test-%d.sock" % os.getpid(), "--", "true")
    assert r.returncode == 125, r
    assert b"writable by others" in r.stderr, r
    assert not os.path.exists("/tmp/wisp-test-%d.sock" % os.getpid())
    share = tmp_path / "share"
    share.mkdir()
    r = wisp("run", "-v", "%s:/w" % share, "--vsock", str(share / "v.sock"), "--", "true")
    assert r.returncode == 125, r
    assert b"inside the volume" in r.stderr, r
    assert os.listdir(share) == []
    # A private directory is fine.
    r = wisp("run", "--vsock", str(tmp_path / "v.sock"), "--", "true")
    assert r.returncode == 0, r


def test_stop_never_signals_a_process_that_reuses_the_supervisors_pid(tmp_path):
    """A VM directory whose lock is held, but whose state names a process
    that is not the supervisor it recorded (a reused PID): nothing is
    signalled."""
    import fcntl
    import shutil
    import tempfile
    root = pathlib.Path(tempfile.mkdtemp(prefix="wb", dir="/tmp"))  # short, for sun_path
    vm = root / "x"
    vm.mkdir(mode=0o700)
    bystander = subprocess.Popen(["sleep", "60"])
    lock = open(vm / "lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for pid_start in ("pid_start=1\n", ""):
            (vm / "state").write_text("pid=%d\n%sstarted=0\nready=1\nvmm=qemu-microvm\n"
                                      % (bystander.pid, pid_start))
            r = wisp("stop", "x", "--timeout", "1", env=dict(os.environ, WISP_RUNTIME_DIR=str(root)))
            assert r.returncode == 125, r
            assert b"no running VM named x" in r.stderr, r
            time.sleep(0.2)
            assert bystander.poll() is None, "wisp stop signalled a bystander"
    finally:
        lock.close()
        bystander.kill()
        bystander.wait()
        shutil.rmtree(root, ignore_errors=True)


def test_a_background_vms_log_stays_bounded_whatever_the_console_says():
    """2.2 MB on the guest's console (a flood at the UART's pace under TCG)
    into a `wisp start` VM: the log is rotated at 1 MiB, log + log.1 stay
    under 2 MiB, and the newest lines are kept."""
    import shutil
    import tempfile
    root = tempfile.mkdtemp(prefix="wl", dir="/tmp")
    os.chmod(root, 0o700)
    env = dict(os.environ, WISP_RUNTIME_DIR=root)
    try:
        r = wisp("start", "--name", "flood", env=env, timeout=60)
        assert r.returncode == 0, r
        flood = ("head -c 2200000 /dev/zero | tr '\\0' x | fold -w 99 > /dev/console; "
                 "echo the-last-line > /dev/console")
        r = wisp("exec", "flood", "--", "sh", "-c", flood, env=env, timeout=120)
        assert r.returncode == 0, r
        log = os.path.join(root, "flood", "log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"the-last-line" not in open(log, "rb").read():
            time.sleep(0.1)
        sizes = [os.path.getsize(log), os.path.getsize(log + ".1")]
        assert sum(sizes) <= 2 * 1024 * 1024, sizes
        assert b"the-last-line" in open(log, "rb").read()
        assert b"what came before is in log.1" in open(log, "rb").read()
        assert wisp("stop", "flood", env=env, timeout=60).returncode == 0
    finally:
        wisp("stop", "flood", env=env, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
