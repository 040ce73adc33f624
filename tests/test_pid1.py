"""PID 1's duties: signals in both directions, orderly shutdown, reaping,
and bad input on the kernel command line."""
import random
import signal
import subprocess
import time

import pytest

from conftest import WISP, vmm_processes, wisp


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                        (signal.SIGHUP, 129)])
def test_host_signal_reaches_the_command(sig, status):
    tag = "wisptest=sig%d%d" % (sig, time.monotonic_ns() % 100000)
    p = subprocess.Popen([WISP, "run", "--append", tag, "--", "sh", "-c",
                          "echo ready; exec sleep 100"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        p.send_signal(sig)
        assert p.wait(timeout=60) == status
    finally:
        p.kill()
        p.wait()
    time.sleep(0.3)
    assert vmm_processes(tag) == []


def test_signal_reaches_the_whole_process_group():
    # The shell waits on a pipeline; SIGTERM for the group ends all of it.
    script = ("trap 'echo trapped; exit 3' TERM; sleep 100 | cat & "
              "until pidof sleep && pidof cat; do :; done >/dev/null; echo ready; wait")
    p = subprocess.Popen([WISP, "run", "--", "sh", "-c", script],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        start = time.monotonic()
        assert p.stdout.readline() == b"ready\n"
        p.send_signal(signal.SIGTERM)
        rest = p.stdout.read()
        assert p.wait(timeout=60) == 3, rest
        assert rest == b"trapped\n"
        assert time.monotonic() - start < 30
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_signal_to_pid1_shuts_down_in_order(sig):
    # SIGINT is what Ctrl-Alt-Del becomes once PID 1 turned C-A-D off.
    r = wisp("run", "--", "sh", "-c", "trap 'echo bye; exit 4' TERM; kill -%s 1; "
             "sleep 100 & wait" % sig)
    assert r.returncode == 4, r
    assert r.stdout == b"bye\n"


def test_zombie_storm_is_reaped_without_growing_pid1():
    script = ("rss() { awk '/VmRSS/ { print $2 }' /proc/1/status; }; before=$(rss); "
              "i=0; while [ $i -lt 10000 ]; do ( : & ); i=$((i+1)); done; sleep 1; "
              "z=0; for s in /proc/[0-9]*/stat; do "
              "case $(cut -d' ' -f3 $s 2>/dev/null) in Z) z=$((z+1));; esac; done; "
              "echo $z $before $(rss)")
    r = wisp("run", "--timeout", "600", "--", "sh", "-c", script, timeout=650)
    assert r.returncode == 0, r
    zombies, before, after = (int(x) for x in r.stdout.split())
    assert zombies == 0
    assert after - before <= 64, "PID 1 RSS grew from %d to %d KiB" % (before, after)


def test_the_basics_are_set_up_before_the_command():
    # lo is only brought up: the kernel gives it 127.0.0.1/8 itself.
    script = ("ip -4 addr show dev lo | awk '/inet / { print $2 }'; "
              "nc -l -p 7000 > /tmp/got & sleep 0.3; echo over-lo | nc 127.0.0.1 7000; wait; cat /tmp/got; "
              "hostname; for m in /proc /sys /dev /dev/pts /dev/shm /run /tmp /sys/fs/cgroup; do "
              "awk -v m=$m '$2 == m { print $2, $3 }' /proc/mounts; done")
    r = wisp("run", "--", "sh", "-c", script)
    assert r.returncode == 0, r
    assert r.stdout.decode().split("\n") == [
        "127.0.0.1/8", "over-lo", "wisp", "/proc proc", "/sys sysfs", "/dev devtmpfs", "/dev/pts devpts",
        "/dev/shm tmpfs", "/run tmpfs", "/tmp tmpfs", "/sys/fs/cgroup cgroup2", ""]


def test_garbage_on_the_kernel_command_line_is_survived():
    rnd = random.Random(42)
    junk = "".join(rnd.choice("abcXYZ019=.,:;!@#%^&*()[]{}<>?/\\|~`'-_+") for _ in range(300))
    append = ("wisp.tty=-1 wisp.user=x:y wisp.env=!!! wisp.cmd=%%% wisp.io=maybe "
              "wisp.hostname=" + "h" * 100 + " wisp. wisp.=1 wisp.shares=@@ " + junk.replace('"', ""))
    r = wisp("run", "--append", append, "--", "sh", "-c", "echo alive; exit 6")
    assert r.returncode == 6, r
    assert r.stdout == b"alive\n"
    assert r.stderr.count(b"wisp-init: ignoring") >= 5


def test_shutdown_of_a_command_that_ignores_sigterm_ends_in_sigkill():
    r = wisp("run", "--", "sh", "-c", "trap '' TERM; kill -TERM 1; sleep 100")
    assert r.returncode == 137, r
    assert r.elapsed < 40


def test_the_guest_powers_off_by_itself_with_two_cpus():
    # A shutdown once restarted the agent it had just stopped, and the VM
    # waited out its grace until wisp killed it: never again, on 2 vCPUs.
    for _ in range(6):
        r = wisp("run", "--cpus", "2", "--", "sleep", "0.5")
        assert r.returncode == 0 and r.stderr == b"", r


def test_the_agent_keeps_no_fd_of_pid1():
    """The agent (and every command it starts) holds the console, its own
    listener and log, nothing of PID 1's: no signalfd, timer or port."""
    script = ('agent=$(awk "/PPid/ {print \\$2}" /proc/$PPID/status); '
              'for f in /proc/$agent/fd/*; do echo "${f##*/} $(readlink $f)"; done')
    r = wisp("run", "--", "sh", "-c", script)
    assert r.returncode == 0, r
    fds = dict(line.split(" ", 1) for line in r.stdout.decode().splitlines())
    assert set(fds) == {"0", "1", "2", "3", "4"}, fds
    assert fds["3"].startswith("socket:") and fds["4"] == "/dev/kmsg", fds
    assert not any("anon_inode" in target for target in fds.values()), fds


def test_a_share_at_a_path_with_a_space_works(tmp_path):
    d = tmp_path / "share"
    d.mkdir()
    r = wisp("run", "-v", "%s:/w x" % d, "--", "sh", "-c", "echo hi > '/w x/f'; grep -c ' /w\\\\040x ' /proc/mounts")
    assert r.returncode == 0, r
    assert r.stdout == b"1\n", r  # /proc/mounts escapes the space, as PID 1 reads it back
    assert (d / "f").read_text() == "hi\n"
