"""Interactive use through a real pseudo-terminal on the host."""
import os
import pty
import select
import time

from conftest import WISP


def read_until(fd, pattern, timeout=30):
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            if pattern in buf:
                return buf
    raise AssertionError("expected %r, saw %r" % (pattern, buf[-500:]))


def set_size(fd, rows, cols):
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_shell_with_job_control_and_restored_terminal():
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(WISP, [WISP, "run", "--timeout", "100", "-it"])
    set_size(fd, 33, 111)
    try:
        read_until(fd, b"# ")
        os.write(fd, b"tty; stty size\n")
        out = read_until(fd, b"# ")
        assert b"/dev/pts/0" in out and b"33 111" in out, out
        # A resize on the host reaches the guest's pty (SIGWINCH -> WINSIZE).
        set_size(fd, 40, 120)
        os.kill(pid, 28)
        time.sleep(0.5)
        os.write(fd, b"stty size\n")
        read_until(fd, b"40 120")
        # Ctrl-Z stops the foreground job; the shell lists it and can kill it.
        os.write(fd, b"sleep 200\n")
        time.sleep(1)
        os.write(fd, b"\x1a")
        read_until(fd, b"Stopped")
        os.write(fd, b"jobs; kill -9 %1; wait; echo killed-$((1+1))\n")
        read_until(fd, b"killed-2")
        os.write(fd, b"sleep 100\n")
        time.sleep(1)
        os.write(fd, b"\x03")  # Ctrl-C: the sleep dies, the shell lives
        read_until(fd, b"^C")
        os.write(fd, b"echo still-$((40+2))\n")
        read_until(fd, b"still-42")
        os.write(fd, b"exit 3\n")
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 3
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def run_in_pty(args, timeout=60):
    """Runs wisp on a fresh pty; returns (exit status, termios before, after)."""
    import termios
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(WISP, [WISP] + args)
    before = termios.tcgetattr(fd)
    out = b""
    end = time.monotonic() + timeout
    status = None
    try:
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    pass
        after = termios.tcgetattr(fd)
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    return os.WEXITSTATUS(status), before, after, out


def test_terminal_is_restored_after_a_timeout():
    status, before, after, out = run_in_pty(["run", "-it", "--timeout", "3", "--", "sleep", "100"])
    assert status == 124, out
    assert before == after


def test_terminal_is_restored_after_the_command_fails():
    status, before, after, out = run_in_pty(["run", "-it", "--", "sh", "-c", "exit 9"])
    assert status == 9, out
    assert before == after


def test_command_without_tty_has_none():
    import subprocess
    r = subprocess.run([WISP, "run", "--", "sh", "-c", "tty; exit 0"], capture_output=True,
                       timeout=120)
    assert r.stdout == b"not a tty\n", r
