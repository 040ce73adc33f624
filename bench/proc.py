"""Processes for the benchmark: every child has a deadline, dies with the
benchmark, and can be found again by a tag on its command line.

No threads anywhere in the benchmark: PR_SET_PDEATHSIG fires when the
*thread* that forked the child exits, and a poll loop in the main thread is
all that the measurements need."""
import ctypes
import os
import signal
import subprocess
import time

PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
_live = set()


def _die_with_parent():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv, **kw):
    """Popen in a session of its own (so that its whole group can be
    killed) that gets SIGKILL if the benchmark dies."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent, **kw)
    _live.add(p)
    return p


def kill(p):
    """SIGKILL to the process and its group, then reap it."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.kill()
        except ProcessLookupError:
            pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    _live.discard(p)


def forget(p):
    _live.discard(p)


def kill_all():
    for p in list(_live):
        kill(p)


class Result:
    def __init__(self, argv, rc, out, err, elapsed, timed_out):
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err
        self.elapsed = elapsed
        self.timed_out = timed_out

    def brief(self):
        """One line on what went wrong, for the results."""
        if self.timed_out:
            return "no answer within the deadline; killed"
        tail = self.err.decode(errors="replace").strip().splitlines()
        return "exit %s: %s" % (self.rc, tail[-1] if tail else "(no message)")


def run(argv, timeout, stdin=None, env=None, cwd=None):
    """Runs argv to its end or kills it at the deadline. elapsed is the wall
    time from just before the fork to the reaping of the process."""
    start = time.monotonic()
    p = spawn(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill(p)
        out, err = p.communicate()
        timed_out = True
    elapsed = time.monotonic() - start
    forget(p)
    return Result(argv, None if timed_out else p.returncode, out, err, elapsed, timed_out)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def tagged(tag):
    """PIDs of processes (not us) whose command line carries tag."""
    me = os.getpid()
    needle = tag.encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me and any(needle in a for a in cmdline(int(name))):
            found.append(int(name))
    return found


def sweep(tag):
    """Kills whatever still carries tag; returns how many there were."""
    pids = tagged(tag)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def children(pid):
    """Direct children of pid (from /proc/*/stat)."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after it.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(name))
    return kids


def qemu_child(pid):
    for kid in children(pid):
        argv = cmdline(kid)
        if argv and argv[0].endswith(b"qemu-system-x86_64"):
            return kid
    return None


def memory_kib(pid):
    """VmRSS and VmHWM of pid in KiB, or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values if len(values) == 2 else None


def pss_kib(pid):
    """Proportional set size of pid in KiB (shared pages split among
    their users: the fair sum over many VMs), or None once it is gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def install_signal_handlers():
    """SIGTERM and SIGHUP end the benchmark like Ctrl-C: through finally."""
    def stop(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
