"""Shared fixtures for the VM tests: every VM is started through out/wisp with
a timeout and a tag on its kernel command line, so a test can tell whether a
VMM of its own outlived the run, whatever else runs on the machine."""
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.environ.get("WISP_OUT", os.path.join(ROOT, "out"))
WISP = os.path.join(OUT, "wisp")
# A VM test never waits longer than this for its launcher.
HARD_TIMEOUT = 120


class Result:
    def __init__(self, proc, stdout, stderr, elapsed, tag):
        self.returncode = proc.returncode
        self.stdout = stdout
        self.stderr = stderr
        self.elapsed = elapsed
        self.tag = tag

    def __repr__(self):
        return "rc=%r stdout=%r stderr=%r" % (self.returncode, self.stdout[:300], self.stderr[-600:])


def vmm_processes(tag):
    """PIDs of processes whose command line or environment carries the tag
    (the VMM has it on its command line; every helper wisp starts inherits
    it from wisp's environment: see tagged_env())."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%s/%s" % (pid, what), "rb") as f:
                    if tag.encode() in f.read():
                        found.append(int(pid))
                        break
            except OSError:
                pass
    return found


def tagged_env(tag, env=None):
    """The environment for a wisp that boots the VM tagged tag."""
    return dict(env if env is not None else os.environ, WISP_TEST_TAG=tag)


def wisp(*args, input=None, timeout=HARD_TIMEOUT, env=None, tag=True, cwd=None):
    """Runs `wisp ARGS...`. `run` and `start` get a tag kernel argument, right
    after the subcommand, that marks the VMM they boot: result.tag finds it."""
    args = list(args)
    t = "wisptest=" + uuid.uuid4().hex[:12]
    if tag and args and args[0] in ("run", "start"):
        args = [args[0], "--append", t] + args[1:]
    start = time.monotonic()
    proc = subprocess.Popen([WISP] + args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tagged_env(t, env), cwd=cwd)
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        for pid in vmm_processes(t):
            os.kill(pid, 9)
        pytest.fail("wisp %s did not return within %ss" % (" ".join(args), timeout))
    return Result(proc, stdout, stderr, time.monotonic() - start, t)


class Runtime:
    """A private WISP_RUNTIME_DIR for one test module (named VMs of its
    own), short enough for sun_path; cleanup() stops what is left."""

    def __init__(self, prefix="wr"):
        self.root = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.chmod(self.root, 0o700)
        self.env = dict(os.environ, WISP_RUNTIME_DIR=self.root)

    def wisp(self, *args, **kw):
        return wisp(*args, env=self.env, **kw)

    def log(self, name):
        with open(os.path.join(self.root, name, "log"), errors="replace") as f:
            return f.read()

    def cleanup(self):
        for name in os.listdir(self.root):
            if not name.startswith("."):
                self.wisp("stop", name, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def assert_no_leftovers(result):
    time.sleep(0.2)
    left = vmm_processes(result.tag)
    assert left == [], "VMM processes outlived wisp: %r" % left


@pytest.fixture(scope="session", autouse=True)
def built():
    for f in ("wisp", "wisp-init", "vmlinux", "initramfs.cpio.lz4"):
        if not os.path.exists(os.path.join(OUT, f)):
            pytest.exit("out/%s is missing: run make first" % f, returncode=2)
