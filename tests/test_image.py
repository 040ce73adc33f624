"""`wisp image` (issue 14) for real: Debian minbase + python3-minimal built
twice in two directories gives the same sha256; the image boots and runs
python3; its lock lists what the guest's dpkg says is installed and rebuilds
the same bytes (`verify`); a changed input is named by `verify`; a name and
debian:SUITE boot from the cache; an unknown package, a pinned version no one
has, a bad spec: one line and 125; an interrupted or killed build leaves
nothing in the cache.

Images go to a cache of this session's own (WISP_IMAGE_CACHE); packages come
from the machine's apt mirror once and stay in the shared package cache
(~/.cache/wisp/debs), so a second run of these tests downloads nothing."""
import hashlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import WISP, assert_no_leftovers, wisp

# A build is about 25 s here with the packages cached; a cold one downloads
# about 45 MB first.
BUILD_TIMEOUT = 900
PACKAGE = "python3-minimal"
SIZE_TARGET = 100 * 1000 * 1000
VM_TIMEOUT = "90"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_pins(lock):
    pins = set()
    with open(lock) as f:
        for line in f:
            if line.startswith("pin = "):
                pins.add(line[len("pin = "):].strip())
    return pins


def one_line(err):
    lines = [l for l in err.decode(errors="replace").splitlines() if l.strip()]
    assert len(lines) == 1, "want one line on stderr, got %r" % lines
    return lines[0]


class Cache:
    """This session's image cache, and `wisp image` run against it."""

    def __init__(self, path):
        self.path = path
        self.env = dict(os.environ, WISP_IMAGE_CACHE=path)

    def image(self, *args, timeout=BUILD_TIMEOUT, cwd=None):
        return wisp("image", *args, timeout=timeout, env=self.env, cwd=cwd)

    def run(self, *args, timeout=120):
        return wisp("run", "--timeout", VM_TIMEOUT, *args, timeout=timeout, env=self.env)

    def entries(self):
        return sorted(e for e in os.listdir(self.path) if len(e) == 64)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return Cache(str(tmp_path_factory.mktemp("images")))


@pytest.fixture(scope="module")
def pair(cache, tmp_path_factory):
    """The same spec built in two directories, each with its own copy of a
    file to add: the first named wisp-test-base."""
    builds = []
    for n in (1, 2):
        d = str(tmp_path_factory.mktemp("build%d" % n))
        with open(os.path.join(d, "motd"), "w") as f:
            f.write("built by wisp's tests\n")
        spec = os.path.join(d, "base.spec")
        with open(spec, "w") as f:
            f.write("# the reference spec of the image tests\n"
                    "packages = %s\nfile = motd:/etc/motd.d/wisp-test\n" % PACKAGE)
        args = [spec, "--rebuild", "-o", "base.squashfs"] + (["--name", "wisp-test-base"] if n == 1 else [])
        r = cache.image("build", *args, cwd=d)
        assert r.returncode == 0, r
        out = r.stdout.decode().strip()
        assert out == "base.squashfs", r
        builds.append(os.path.join(d, out))
    return builds


def test_two_builds_in_two_directories_are_identical(pair):
    a, b = pair
    assert sha256(a) == sha256(b), "same spec, same package versions, different bytes"
    with open(a + ".lock") as fa, open(b + ".lock") as fb:
        la = [l for l in fa if not l.startswith(("file =", "name ="))]
        lb = [l for l in fb if not l.startswith(("file =", "name ="))]
    assert la == lb
    assert ("sha256 = %s\n" % sha256(a)) in la


def test_image_size_is_within_target(pair):
    size = os.path.getsize(pair[0])
    assert size <= SIZE_TARGET, "minbase + %s: %d bytes" % (PACKAGE, size)


def test_image_boots_and_runs_python(cache, pair):
    r = cache.run("--rootfs", pair[0], "--", "python3", "-c", "print(1)")
    assert r.returncode == 0, r
    assert r.stdout == b"1\n", r
    assert_no_leftovers(r)


def test_lock_lists_what_the_guest_has_installed(cache, pair):
    r = cache.run("--rootfs", pair[0], "--", "dpkg-query", "-W", "-f", "${Package}=${Version} ${Architecture}\\n")
    assert r.returncode == 0, r
    installed = set(r.stdout.decode().split("\n")) - {""}
    pins = read_pins(pair[0] + ".lock")
    assert PACKAGE in {p.split("=")[0] for p in pins}
    assert installed == pins


def test_image_carries_nothing_of_the_build_host(cache, pair):
    # The guest writes its own identity files on the overlay: look under it.
    r = cache.run("--rootfs", pair[0], "--", "sh", "-c",
                  "mkdir -p /mnt/l && mount -t squashfs -o ro /dev/vda /mnt/l && cd /mnt/l && "
                  "ls etc/hostname etc/resolv.conf var/lib/apt/lists/*_Packages 2>/dev/null; "
                  "find var/log var/cache/apt -type f -size +0; cat etc/apt/sources.list; "
                  "cat etc/motd.d/wisp-test")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert "hostname" not in out and "resolv.conf" not in out and "Packages" not in out, out
    assert " bookworm main\n" in out and "copy:" not in out and "trusted=yes" not in out, out
    assert out.endswith("built by wisp's tests\n"), out


def test_verify_rebuilds_identical_then_names_a_changed_input(cache, pair):
    image = pair[0]
    r = cache.image("verify", image)
    assert r.returncode == 0, r
    assert b"identical to its rebuild" in r.stderr, r
    # The lock names the file it was built with: change it, and verify says where.
    with open(os.path.join(os.path.dirname(image), "motd"), "a") as f:
        f.write("changed\n")
    r = cache.image("verify", image)
    assert r.returncode == 1, r
    assert b"first difference /etc/motd.d/wisp-test: contents differ" in r.stderr, r


def test_named_image_is_cached_and_boots_by_name(cache, pair):
    ls = cache.image("ls")
    assert b"wisp-test-base" in ls.stdout, ls
    r = cache.run("--rootfs", "wisp-test-base", "--", "cat", "/etc/motd.d/wisp-test")
    assert r.returncode == 0 and r.stdout == b"built by wisp's tests\n", r
    # The same spec again: found by its key, not built.
    spec = os.path.join(os.path.dirname(pair[0]), "base.spec")
    before = cache.entries()
    r = cache.image("build", spec, "--name", "wisp-test-base", cwd=os.path.dirname(pair[0]))
    # (The motd may have been changed by the verify test: then it is a new key.)
    assert r.returncode == 0, r
    if b"cached" in r.stderr:
        assert cache.entries() == before


def test_debian_suite_builds_on_first_use_then_boots_from_cache(cache):
    suite = "debian:bookworm"
    r = cache.run("--rootfs", suite, "--", "cat", "/etc/debian_version", timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, r
    assert r.stdout.startswith(b"12."), r
    assert b"building it (once)" in r.stderr
    r = cache.run("--rootfs", suite, "--", "true")
    assert r.returncode == 0, r
    assert b"building" not in r.stderr, r


def test_unknown_name_is_one_line_and_125(cache):
    r = cache.run("--rootfs", "no-such-image-name", "--", "true")
    assert r.returncode == 125, r
    assert "no-such-image-name" in one_line(r.stderr)


def test_unknown_package_is_one_line_and_125(cache):
    r = cache.image("build", "-q", "--package", "wisp-no-such-package")
    assert r.returncode == 125, r
    line = one_line(r.stderr)
    assert "wisp-no-such-package" in line and "Unable to locate" in line, line


def test_pinned_version_no_one_has_is_one_line_and_125(cache, pair, tmp_path):
    lock = str(tmp_path / "bad.lock")
    with open(pair[0] + ".lock") as f, open(lock, "w") as out:
        for line in f:
            out.write("pin = bash=0.0-wisp-gone amd64\n" if line.startswith("pin = bash=") else line)
    r = cache.image("build", "-q", lock)
    assert r.returncode == 125, r
    line = one_line(r.stderr)
    assert "bash=0.0-wisp-gone" in line and "neither on the mirror" in line, line


@pytest.mark.parametrize("text, want", [
    ("colour = blue\n", "line 1: unknown key 'colour'"),
    ("# ok\nformat = zip\n", "line 2: invalid format 'zip'"),
    ("file = motd:etc/motd\n", "line 1: invalid file"),
    ("packages = Bad_Name\n", "line 1: invalid package name"),
    ("epoch = yesterday\n", "line 1: invalid epoch"),
])
def test_bad_spec_is_one_line_and_125(cache, tmp_path, text, want):
    spec = tmp_path / "bad.spec"
    spec.write_text(text)
    r = cache.image("build", str(spec), timeout=30)
    assert r.returncode == 125, r
    assert want in one_line(r.stderr)


def test_bad_option_is_125(cache):
    r = cache.image("build", "--frobnicate", "x", timeout=30)
    assert r.returncode == 125, r
    assert b"unknown option '--frobnicate'" in r.stderr


def wait_for(proc, path, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            if text in f.read():
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_stopped_build_leaves_nothing_in_the_cache(tmp_path, how):
    images = str(tmp_path / "images")
    env = dict(os.environ, WISP_IMAGE_CACHE=images)
    err = str(tmp_path / "err")
    with open(err, "wb") as e:
        proc = subprocess.Popen([WISP, "image", "build", "--name", "wisp-test-stopped", "--rebuild",
                                 "--package", PACKAGE], env=env, stdout=subprocess.PIPE, stderr=e)
    try:
        assert wait_for(proc, err, b"installing", 300), open(err, "rb").read()
        time.sleep(3)  # mmdebstrap is unpacking and configuring
        proc.send_signal(signal.SIGINT if how == "interrupt" else signal.SIGKILL)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    names = os.listdir(os.path.join(images, "names"))
    entries = [e for e in os.listdir(images) if len(e) == 64]
    assert names == [] and entries == [], (names, entries)
    if how == "interrupt":
        assert rc == 130, open(err, "rb").read()
        assert os.listdir(os.path.join(images, "tmp")) == []
        assert b"nothing was added to the cache" in open(err, "rb").read()
        return
    # Killed: its build directory stays until the next build sweeps it
    # (once every process of the dead build has let go of its lock).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = wisp("image", "build", "-q", "--package", "wisp-no-such-package", env=env, timeout=120)
        assert r.returncode == 125, r
        if os.listdir(os.path.join(images, "tmp")) == []:
            break
        time.sleep(2)
    assert os.listdir(os.path.join(images, "tmp")) == []
    assert [e for e in os.listdir(images) if len(e) == 64] == []
