"""`wisp run` end to end: real VMs under QEMU, exit statuses, exact bytes."""
import hashlib
import os
import signal
import subprocess
import time

import pytest

from conftest import WISP, assert_no_leftovers, wisp


@pytest.mark.parametrize("script,status", [
    ("exit 0", 0),
    ("exit 1", 1),
    ("echo hi; exit 7", 7),
    ("kill -9 $$", 128 + 9),
    ("kill -15 $$", 128 + 15),
])
def test_exit_status_is_the_commands(script, status):
    r = wisp("run", "--", "sh", "-c", script)
    assert r.returncode == status, r
    assert_no_leftovers(r)


def test_hi_exit_7_prints_exactly_hi():
    r = wisp("run", "--", "sh", "-c", "echo hi; exit 7")
    assert (r.returncode, r.stdout) == (7, b"hi\n"), r


def test_missing_program_is_127():
    r = wisp("run", "--", "/no/such/program")
    assert r.returncode == 127, r
    assert b"/no/such/program" in r.stderr


def test_not_executable_is_126():
    r = wisp("run", "--", "/etc/passwd")
    assert r.returncode == 126, r


def test_timeout_is_124_and_kills_the_vm():
    r = wisp("run", "--timeout", "3", "--", "sleep", "100")
    assert r.returncode == 124, r
    assert r.elapsed < 10, r.elapsed
    assert b"timed out" in r.stderr
    assert_no_leftovers(r)


def test_missing_kernel_is_125_with_a_message():
    r = wisp("run", "--kernel", "/no/such/kernel", "--", "true")
    assert r.returncode == 125, r
    assert r.stderr.count(b"\n") == 1 and b"/no/such/kernel" in r.stderr, r


def test_garbage_kernel_is_125(tmp_path):
    bogus = tmp_path / "bogus"
    bogus.write_bytes(os.urandom(65536))
    r = wisp("run", "--kernel", str(bogus), "--", "true")
    assert r.returncode == 125, r
    assert r.stderr.startswith(b"wisp: "), r


def test_kernel_that_cannot_find_init_is_125_with_the_panic():
    r = wisp("run", "--append", "rdinit=/no/such/init", "--", "true")
    assert r.returncode == 125, r
    assert b"kernel panic" in r.stderr, r
    assert_no_leftovers(r)


@pytest.mark.parametrize("args", [["--bogus"], ["-m", "lots"], ["--vmm", "bochs"], ["--timeout"]])
def test_bad_options_are_125_with_usage(args):
    r = wisp("run", *args, "--", "true", tag=False)
    assert r.returncode == 125, r
    assert r.stderr.startswith(b"wisp: ") and b"usage: wisp run" in r.stderr, r
    assert r.stdout == b""


def test_unknown_subcommand_is_125():
    r = wisp("frobnicate", tag=False)
    assert r.returncode == 125 and b"unknown command" in r.stderr, r


def test_stdout_is_exact_text_without_kernel_messages():
    text = "line one\n\ttabbed  spaces \nünïcödé ✓\r\nno newline at the end"
    r = wisp("run", "--", "printf", "%s", text)
    assert r.returncode == 0, r
    assert r.stdout == text.encode(), r


def test_one_mib_of_binary_is_exact():
    script = ("head -c 1048576 /dev/urandom > /tmp/blob && cat /tmp/blob && "
              "sha256sum /tmp/blob >&2")
    r = wisp("run", "--", "sh", "-c", script)
    assert r.returncode == 0, r
    assert len(r.stdout) == 1048576
    inside = r.stderr.split()[0].decode()
    assert hashlib.sha256(r.stdout).hexdigest() == inside


def test_stdout_and_stderr_stay_apart():
    r = wisp("run", "--", "sh", "-c", "echo out; echo err >&2; echo out2")
    assert (r.stdout, r.stderr) == (b"out\nout2\n", b"err\n"), r


def test_stdin_reaches_the_command():
    data = os.urandom(300000)
    r = wisp("run", "-i", "--", "sha256sum", input=data)
    assert r.returncode == 0, r
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_stdin_end_is_seen():
    r = wisp("run", "-i", "--", "wc", "-l", input=b"a\nb\nc\n")
    assert r.stdout.strip() == b"3", r


def test_without_i_stdin_is_empty():
    r = wisp("run", "--", "cat", input=b"not forwarded")
    assert (r.returncode, r.stdout) == (0, b""), r


def test_env_and_workdir():
    r = wisp("run", "-e", "GREETING=hello world", "-e", "EMPTY=", "-w", "/tmp", "--",
             "sh", "-c", 'echo "$GREETING|$EMPTY|$(pwd)|$PATH"')
    assert r.returncode == 0, r
    assert r.stdout == b"hello world||/tmp|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"


def test_env_without_value_takes_the_hosts():
    env = dict(os.environ, WISP_TEST_VALUE="from the host")
    r = wisp("run", "-e", "WISP_TEST_VALUE", "--", "sh", "-c", 'echo "$WISP_TEST_VALUE"', env=env)
    assert r.stdout == b"from the host\n", r


def test_arguments_survive_any_bytes():
    args = ["a b", "'q'", '"dq"', "$HOME", "tab\there", "", "--", "wisp.cmd=x", "ü"]
    r = wisp("run", "--", "sh", "-c", 'for a in "$@"; do printf "[%s]" "$a"; done', "sh", *args)
    assert r.stdout == "".join("[%s]" % a for a in args).encode(), r


@pytest.mark.parametrize("vmm", ["qemu-microvm", "qemu-q35", "qemu-pc"])
def test_each_machine_boots(vmm):
    r = wisp("run", "--vmm", vmm, "--", "sh", "-c", "cat /proc/version; exit 3")
    assert r.returncode == 3, r
    assert b"-wisp" in r.stdout


def test_small_memory_boots_and_too_small_is_refused():
    # 36 MiB, over vsock and over the virtio port, whose buffers differ.
    for extra in ([], ["--no-vsock"]):
        r = wisp("run", "-m", "36", *extra, "--", "true")
        assert r.returncode == 0, (extra, r)
    # Below it Linux runs out of memory at boot: refused, never a hang.
    r = wisp("run", "-m", "35", "--", "true")
    assert r.returncode == 125 and b"want MiB, 36 to" in r.stderr.splitlines()[0], r
    # With firmware (q35, pc) 36 is the floor too; 35 overwrote the kernel.
    r = wisp("run", "--vmm", "qemu-q35", "-m", "36", "--", "true")
    assert r.returncode == 0, r


def test_two_cpus():
    r = wisp("run", "--cpus", "2", "--", "nproc")
    assert (r.returncode, r.stdout) == (0, b"2\n"), r


def test_orphan_storm_is_reaped():
    # Each ( : & ) leaves an orphan that PID 1 inherits and must reap.
    script = ("i=0; while [ $i -lt 3000 ]; do ( : & ); i=$((i+1)); done; sleep 1; "
              "z=0; for s in /proc/[0-9]*/stat; do "
              "case $(cut -d' ' -f3 $s 2>/dev/null) in Z) z=$((z+1));; esac; done; echo zombies=$z")
    r = wisp("run", "--", "sh", "-c", script, timeout=300)
    assert r.returncode == 0, r
    assert r.stdout == b"zombies=0\n", r


def test_background_processes_do_not_hold_the_vm():
    r = wisp("run", "--", "sh", "-c", "sleep 1000 & sleep 1000 & echo started")
    assert (r.returncode, r.stdout) == (0, b"started\n"), r
    assert r.elapsed < 30


def test_guest_warns_once_about_bad_keys_and_runs():
    r = wisp("run", "--append", "wisp.bogus=1 wisp.tty=banana", "--", "sh", "-c", "exit 5")
    assert r.returncode == 5, r
    assert b"ignoring unknown key wisp.bogus" in r.stderr
    assert b"ignoring wisp.tty: malformed value" in r.stderr


def test_killed_launcher_leaves_no_vmm():
    tag = "wisptest=killed%d" % os.getpid()
    p = subprocess.Popen([WISP, "run", "--append", tag, "--", "sleep", "100"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(0.5)
    from conftest import vmm_processes
    assert vmm_processes(tag) == []


@pytest.mark.parametrize("path,steps", [
    ("vsock", ["init", "mounted", "channel", "shares", "agent", "exec", "spawned", "loaded", "exited"]),
    ("virtio", ["init", "mounted", "channel", "shares", "spawned", "loaded", "exited", "reported"])])
def test_trace_follows_the_output_and_json_is_ordered(tmp_path, path, steps):
    import json
    out = tmp_path / "trace.json"
    opts = ["--no-vsock"] if path == "virtio" else []
    r = wisp("run", *opts, "--trace", "--trace-json", str(out), "--", "sh", "-c", "echo done; exit 2")
    assert (r.returncode, r.stdout) == (2, b"done\n"), r
    assert b"wisp trace (ms)" in r.stderr
    for step in (b"init", b"mounted", b"spawned", b"exited", b"hello", b"vm gone"):
        assert step in r.stderr, step
    t = json.loads(out.read_text())
    times = [t["guest_ms"][s] for s in steps]
    assert times == sorted(times) and times[0] > 0, t
    host = t["host_ms"]
    assert 0 < host.get("ready", host["hello"]) <= host["hello"] <= host["status"] <= host["vm_gone"], t
    assert ("ready" in host) == (path == "vsock"), t
    assert t["exit_status"] == 2


def test_console_marker_carries_the_status_without_a_channel():
    # A VMM without vsock or virtio-serial: only the console marker line.
    r = wisp("run", "--no-vsock", "--append", "wisp.io=console", "--", "sh", "-c", "echo on-console; exit 9")
    assert r.returncode == 9, r
    assert r.stdout == b""
    assert b"WISP-EXIT" not in r.stderr


def test_marker_needs_the_nonce():
    # A command that prints a marker-like line cannot fake its status.
    r = wisp("run", "--no-vsock", "--append", "wisp.io=console", "--", "sh", "-c",
             "echo 'WISP-EXIT 0000 3' > /dev/console; exit 4")
    assert r.returncode == 4, r


def read_slowly(p):
    """All of p's stdout, read late and in small pieces, and its stderr;
    asserts that p exits 0. When the command exits, the tail of its output
    is still in the guest's pipe (or pty) behind full queues."""
    got = b""
    try:
        time.sleep(2)
        while True:
            chunk = p.stdout.read(16 * 1024)
            if not chunk:
                break
            got += chunk
            time.sleep(0.02)
        err = p.stderr.read()
        assert p.wait(timeout=60) == 0, err
    finally:
        p.kill()
        p.wait()
    return got, err


@pytest.mark.parametrize("transport", [[], ["--no-vsock"]], ids=["vsock", "port"])
def test_slow_reader_gets_every_byte(transport):
    # The host reads slower than the old shutdown timers allowed for: the guest
    # must wait for it, not cut the output short. The reader takes small
    # pieces: when the command exits, the tail of its output is still in the
    # guest's pipe behind full queues, and it must not be given up (the agent
    # once did after 100 ms).
    size = 2 * 1024 * 1024
    p = subprocess.Popen([WISP, "run"] + transport +
                         ["--", "sh", "-c", "head -c %d /dev/urandom | tee /tmp/x; sha256sum /tmp/x >&2" % size],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got, err = read_slowly(p)
    assert len(got) == size
    assert hashlib.sha256(got).hexdigest() == err.split()[0].decode()


def test_slow_reader_gets_every_byte_through_a_tty():
    # With -t the output comes through the guest's pty, whose FIONREAD leaves
    # out what still waits in the tty's buffers: the relay reads to EAGAIN.
    n = 150000
    want = "".join("%d\r\n" % i for i in range(1, n + 1)).encode()
    p = subprocess.Popen([WISP, "run", "-t", "--", "seq", "1", str(n)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got, err = read_slowly(p)
    assert len(got) == len(want)
    assert got == want


def test_stdin_the_command_does_not_read_costs_no_cpu():
    yes = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    p = subprocess.Popen([WISP, "run", "-i", "--", "sleep", "4"], stdin=yes.stdout,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yes.stdout.close()
    _, status, usage = os.wait4(p.pid, 0)
    yes.kill()
    yes.wait()
    assert os.waitstatus_to_exitcode(status) == 0
    # The launcher itself (not QEMU) must sleep while the queue is full.
    assert usage.ru_utime + usage.ru_stime < 6, usage


def test_a_slow_reader_gets_all_output_and_the_status():
    # The VM ends once wisp has the status, however long the reader takes.
    # The guest once gave the host 2 s after EXIT, then powered off: what
    # wisp-vsockd still held (here all that the pipe and socket buffers
    # could not) was lost, and wisp said 125.
    p = subprocess.Popen([WISP, "run", "--", "sh", "-c", "head -c 300000 /dev/zero; exit 5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(4)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert (p.returncode, len(out), err) == (5, 300000, b"")


def test_a_vm_that_dies_before_it_is_ready_with_stdin_piped_ends_at_once(tmp_path):
    """Piped stdin has nothing to go to before the guest is ready; when the
    VMM dies first, wisp still ends (no wake-up on the pipe's hang-up)."""
    r = wisp("run", "-i", "--kernel", "/etc/hostname", "--", "cat", input=b"", timeout=30)
    assert r.returncode == 125, r
    assert r.elapsed < 20, r.elapsed


def test_timeout_fires_while_the_users_stdout_does_not_read(tmp_path):
    """The command floods stdout into a pipe nobody reads: --timeout and
    signals are still answered, since wisp never blocks on a write."""
    read_end, write_end = os.pipe()
    start = time.monotonic()
    p = subprocess.Popen([WISP, "run", "--timeout", "3", "--", "sh", "-c", "yes"],
                         stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    try:
        rc = p.wait(timeout=60)
        took = time.monotonic() - start
    finally:
        if p.poll() is None:
            p.kill()
        os.close(read_end)
    assert rc == 124, (rc, p.stderr.read())
    assert took < 30, took
