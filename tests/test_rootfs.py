"""--rootfs and --init (issue 13) on real VMs: the host's own root read-only
with writes in an overlay, a directory root, ext4, erofs and squashfs
images built here from Debian's busybox-static (tests/helpers/mkroot.sh),
ext4 :rw, users from the image's /etc/passwd, a distro init (a tiny script;
systemd on a small mmdebstrap root where one can be built), start/exec/stop,
time and shares on a rootfs VM, and the refusals: 125 with one line."""
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import OUT, ROOT, Runtime, assert_no_leftovers, vmm_processes, wisp

HELPERS = os.path.join(ROOT, "tests", "helpers")
# The busybox roots: built in about a second, kept by the hash of their
# inputs beside the other build products.
ROOTS_CACHE = os.path.join(OUT, "test-roots")
# The Debian root: `wisp image`'s, in its cache (~/.cache/wisp/images), kept
# across builds and clean checkouts.
DEBIAN_BUILD_TIMEOUT = 900
IMAGES = ["ext4", "erofs", "squashfs"]
KINDS = ["dir"] + IMAGES
# The guest's own deadline: a hang is a 124, not a stuck test.
VM_TIMEOUT = "90"
# A boot, `echo hi` and tinyinit's reboot take a few seconds under TCG.
TINYINIT_STOP_BOUND_S = 15


class Roots:
    def __init__(self, path):
        self.path = path
        self.key = os.path.basename(path)

    def source(self, kind):
        """What --rootfs takes for KIND: the directory, or the image file."""
        return os.path.join(self.path, "dir" if kind == "dir" else "root." + kind)

    def marker(self, kind):
        return ("%s %s\n" % (kind, self.key)).encode()


@pytest.fixture(scope="session")
def roots():
    t = time.monotonic()
    r = subprocess.run([os.path.join(HELPERS, "mkroot.sh"), ROOTS_CACHE], capture_output=True, timeout=300)
    assert r.returncode == 0, "mkroot.sh failed: %r" % r.stderr[-2000:]
    path = r.stdout.decode().strip()
    print("test roots: %s (%.1f s)" % (path, time.monotonic() - t))
    return Roots(path)


@pytest.fixture(scope="session")
def debian_root():
    """A minbase + systemd-sysv squashfs built by `wisp image` (cached by the
    hash of its spec and package versions), or a skip that says why not."""
    t = time.monotonic()
    try:
        r = subprocess.run([os.path.join(OUT, "wisp"), "image", "build", "-q", "--name", "wisp-test-systemd",
                            "--package", "systemd-sysv",
                            "--file", os.path.join(HELPERS, "wisp-root-systemd") + ":/etc/wisp-root"],
                           capture_output=True, timeout=DEBIAN_BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.skip("no Debian root: wisp image took more than %d s" % DEBIAN_BUILD_TIMEOUT)
    if r.returncode != 0:
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-3:]
        pytest.skip("no Debian root: wisp image exited %d: %s" % (r.returncode, " | ".join(tail)))
    path = r.stdout.decode().strip()
    print("Debian root: %s (%.1f s)" % (path, time.monotonic() - t))
    return path


def run(*args, vm_timeout=VM_TIMEOUT, **kw):
    return wisp("run", "--timeout", str(vm_timeout), *args, **kw)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tree_digest(top):
    """Names, types, modes and contents of everything under top."""
    h = hashlib.sha256()
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            st = os.lstat(p)
            h.update(("%s %o %d\n" % (os.path.relpath(p, top), st.st_mode, st.st_uid)).encode())
            if os.path.islink(p):
                h.update(os.readlink(p).encode())
            elif os.path.isfile(p):
                try:
                    with open(p, "rb") as f:
                        h.update(f.read())
                except PermissionError:
                    pass
    return h.hexdigest()


def one_line(r):
    return r.stderr.count(b"\n") == 1 and r.stderr.endswith(b"\n")


# Refuses to touch anything in the guest unless / is an overlay, so that a
# broken build cannot delete the host's /etc/apt through a writable share.
ROOT_IS_OVERLAY = "[ \"$(awk '$2 == \"/\" { t = $3 } END { print t }' /proc/mounts)\" = overlay ] || exit 99; "


# ---- the host's root ------------------------------------------------------

def test_host_root_runs_the_hosts_python_on_wisps_kernel():
    r = run("--rootfs", "host", "--", "python3", "-c", "import os; print(1); print(os.uname().release)")
    assert r.returncode == 0, r
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "1", r
    assert lines[1] != os.uname().release, "the guest runs the host's kernel %s?" % lines[1]
    assert_no_leftovers(r)


def test_host_root_compiles_and_runs_c_from_a_volume_in_the_cwd(tmp_path):
    (tmp_path / "hello.c").write_text(
        '#include <stdio.h>\nint main(int argc, char **argv) { printf("%d args, %s\\n", argc, argv[1]); return 5; }\n')
    r = run("--rootfs", "host", "-v", "%s:%s" % (tmp_path, tmp_path), "--",
            "sh", "-c", "pwd && gcc -o hello hello.c && ./hello compiled", cwd=str(tmp_path),
            vm_timeout=200, timeout=240)
    assert r.returncode == 5, r
    assert r.stdout == ("%s\n2 args, compiled\n" % tmp_path).encode(), r
    # The binary is on the host (as root, 9p keeps its mode in an xattr:
    # the host's file is 0600, so the host does not run it).
    with open(tmp_path / "hello", "rb") as f:
        assert f.read(4) == b"\x7fELF"


def test_host_root_guest_writes_to_etc_do_not_reach_the_host():
    probe = "/etc/wisp-probe-" + uuid.uuid4().hex[:8]
    before = tree_digest("/etc/apt")
    try:
        r = run("--rootfs", "host", "-u", "0", "--", "sh", "-c",
                ROOT_IS_OVERLAY + "echo x > %s && rm -rf /etc/apt && mkdir /etc/apt && ls -A /etc/apt | wc -l "
                "&& cat %s" % (probe, probe))
        assert r.returncode == 0, r
        assert r.stdout.split() == [b"0", b"x"], r
        assert not os.path.exists(probe), "the guest's %s reached the host" % probe
        assert tree_digest("/etc/apt") == before, "the host's /etc/apt changed"
    finally:
        if os.path.exists(probe):
            os.unlink(probe)


def test_host_root_tag_mounted_again_shows_no_host_pseudo_filesystems():
    """The guest, root in its VM, looks under its overlay at the 9p root
    itself (a bind of / without what is mounted on it) and mounts the tag
    a second time where the transport allows it (virtio-9p serves one mount
    per tag: EBUSY is a refusal too). Neither may show the host's /proc,
    /sys, /dev or /run."""
    script = ("mkdir -p /mnt/tag /mnt/lower && mount --bind / /mnt/lower || exit 98; "
              "if mount -t 9p -o trans=virtio,version=9p2000.L wisproot /mnt/tag 2>/dev/null; "
              "then echo 'tag: mounted'; tops='/mnt/lower /mnt/tag'; else echo 'tag: refused'; tops=/mnt/lower; fi; "
              "for top in $tops; do head -n 1 $top/etc/passwd; "
              "for d in proc sys dev run; do echo \"$d: $(ls -A $top/$d | wc -l)\"; done; "
              "[ -e $top/proc/1 ] && echo 'proc/1 reached'; [ -e $top/proc/kcore ] && echo 'kcore reached'; done; "
              "exit 0")
    r = run("--rootfs", "host", "-u", "0", "--", "sh", "-c", script)
    assert r.returncode == 0, r
    with open("/etc/passwd", "rb") as f:
        first = f.readline()
    clean = first + b"proc: 0\nsys: 0\ndev: 0\nrun: 0\n"
    lines = r.stdout.split(b"\n", 1)
    assert lines[0] in (b"tag: mounted", b"tag: refused"), r
    assert lines[1] == clean * (2 if lines[0] == b"tag: mounted" else 1), r


# ---- a directory root and images -------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_root_is_the_image_and_takes_writes_in_an_overlay(kind, roots):
    src = roots.source(kind)
    before = tree_digest(src) if kind == "dir" else sha256(src)
    script = ("cat /etc/wisp-root /etc/passwd && echo written > /etc/new-file && cat /etc/new-file && "
              "rm -rf /home && mkdir /home && ls -A /home | wc -l && "
              "awk '$2 == \"/\" { t = $3 } END { print t }' /proc/mounts")
    r = run("--rootfs", src, "--", "sh", "-c", script)
    assert r.returncode == 0, r
    with open(os.path.join(roots.source("dir"), "etc", "passwd"), "rb") as f:
        passwd = f.read()
    assert r.stdout == roots.marker(kind) + passwd + b"written\n0\noverlay\n", r
    after = tree_digest(src) if kind == "dir" else sha256(src)
    assert after == before, "the guest's writes changed the %s root on the host" % kind
    assert_no_leftovers(r)


def _shmem_kib(r):
    assert r.returncode == 0, r
    return int(r.stdout.split()[1])


def test_initramfs_is_freed_after_the_switch(roots):
    # The initramfs is a tmpfs: its files (busybox, wisp-init) are Shmem
    # until the switch deletes them; the overlay's upper layer is nearly
    # empty. Without the delete the two would be alike.
    before = _shmem_kib(run("--", "grep", "^Shmem:", "/proc/meminfo"))
    after = _shmem_kib(run("--rootfs", roots.source("squashfs"), "--", "grep", "^Shmem:", "/proc/meminfo"))
    busybox_kib = os.path.getsize("/bin/busybox") // 1024
    assert before - after > busybox_kib // 2, (before, after, busybox_kib)


def test_rw_ext4_image_keeps_a_file_written_just_before_exit(roots, tmp_path):
    img = tmp_path / "rw.ext4"
    shutil.copyfile(roots.source("ext4"), img)
    nonce = uuid.uuid4().hex
    r = run("--rootfs", "%s:rw" % img, "--", "sh", "-c",
            "awk '$2 == \"/\" { t = $3 \" \" substr($4, 1, 2) } END { print t }' /proc/mounts; "
            "echo %s > /root/kept" % nonce)
    assert r.returncode == 0, r
    assert r.stdout == b"ext4 rw\n", r
    d = subprocess.run(["debugfs", "-R", "cat /root/kept", str(img)], capture_output=True)
    assert d.stdout == (nonce + "\n").encode(), d
    # Unmounted at shutdown: no journal left to replay.
    h = subprocess.run(["dumpe2fs", "-h", str(img)], capture_output=True, text=True)
    assert "needs_recovery" not in h.stdout and "Filesystem state:         clean" in h.stdout, h.stdout


@pytest.mark.parametrize("kind", ["dir", "squashfs"])
def test_user_1000_is_the_images_tester(kind, roots):
    home = os.path.join(roots.source("dir"), "home", "tester")
    writable = os.stat(home).st_uid == 1000
    r = run("--rootfs", roots.source(kind), "-u", "1000", "--", "sh", "-c",
            'id -un; id -u; id -g; echo "$HOME"; cd && touch made-here && ls -n made-here | awk \'{print $3}\'')
    want = b"tester\n1000\n1000\n/home/tester\n" + (b"1000\n" if writable else b"")
    assert r.stdout == want, r
    assert r.returncode == (0 if writable else 1), r


# ---- --init -----------------------------------------------------------------

def test_init_tiny_script_echo_hi(roots):
    r = run("--rootfs", roots.source("squashfs"), "--init", "/sbin/tinyinit", "--", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, b"hi\n"), r
    # tinyinit ends the VM at once on wisp's stop signal; wisp-init's
    # fallback, when a distro init ignores it, waits 20 s first.
    assert r.elapsed < TINYINIT_STOP_BOUND_S, "the VM took %.1f s to end: not through tinyinit?" % r.elapsed
    assert_no_leftovers(r)


def test_init_script_is_pid_1_and_ready_before_the_command(roots):
    r = run("--rootfs", roots.source("ext4"), "--init", "/sbin/tinyinit", "--", "sh", "-c",
            "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /run/tinyinit.pid; "
            "[ -e /run/wisp/ready ] && echo ready; exit 3")
    assert r.returncode == 3, r
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 3 and "/sbin/tinyinit" in lines[0], r
    assert lines[1:] == ["1", "ready"], r
    assert_no_leftovers(r)


def test_init_systemd_reaches_its_default_target(debian_root):
    r = run("--rootfs", debian_root, "--init", "/lib/systemd/systemd", "--", "sh", "-c",
            "cat /etc/wisp-root; systemctl is-system-running; systemctl --failed --no-legend --plain",
            vm_timeout=200, timeout=240)
    lines = r.stdout.decode(errors="replace").splitlines()
    assert len(lines) >= 2 and lines[0].startswith("debian "), r
    assert lines[1] == "running", "systemctl is-system-running: %r, failed units: %r; %r" % (lines[1], lines[2:], r)
    assert r.returncode == 0, r
    assert_no_leftovers(r)


# ---- start / exec / stop on a rootfs VM -------------------------------------

@pytest.fixture(scope="module")
def rootvm(roots):
    rt = Runtime()
    share = tempfile.mkdtemp(prefix="wisp-rootfs-share-")
    try:
        r = rt.wisp("start", "--name", "rootvm", "--rootfs", roots.source("squashfs"), "-v", share + ":/share")
        assert r.returncode == 0, r
        yield rt, "rootvm", share
        s = rt.wisp("stop", "rootvm", timeout=60)
        assert s.returncode == 0, s
        deadline = time.monotonic() + 10
        while vmm_processes(r.tag) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert vmm_processes(r.tag) == [], "the VM outlived wisp stop"
        assert not os.path.exists(os.path.join(rt.root, "rootvm")), "wisp stop left its runtime directory"
    finally:
        rt.cleanup()
        shutil.rmtree(share, ignore_errors=True)


def test_exec_on_a_rootfs_vm_reads_the_image_and_keeps_writes(rootvm, roots):
    rt, name, _ = rootvm
    r = rt.wisp("exec", name, "--", "cat", "/etc/wisp-root")
    assert (r.returncode, r.stdout) == (0, roots.marker("squashfs")), r
    w = rt.wisp("exec", name, "--", "sh", "-c", "echo kept > /etc/between-execs")
    assert w.returncode == 0, w
    c = rt.wisp("exec", name, "-u", "1000", "--", "sh", "-c", "cat /etc/between-execs; id -un")
    assert (c.returncode, c.stdout) == (0, b"kept\ntester\n"), c


def test_time_on_a_rootfs_vm_is_the_hosts(rootvm):
    rt, name, _ = rootvm
    before = time.time()
    r = rt.wisp("exec", name, "--", "date", "+%s")
    after = time.time()
    assert r.returncode == 0, r
    guest = int(r.stdout)
    assert before - 3 <= guest <= after + 3, "guest %d, host %.0f..%.0f" % (guest, before, after)


def test_share_on_a_rootfs_vm_both_ways(rootvm):
    rt, name, share = rootvm
    with open(os.path.join(share, "from-host"), "w") as f:
        f.write("host bytes")
    r = rt.wisp("exec", name, "--", "sh", "-c", "cat /share/from-host && printf 'guest bytes' > /share/from-guest")
    assert (r.returncode, r.stdout) == (0, b"host bytes"), r
    with open(os.path.join(share, "from-guest")) as f:
        assert f.read() == "guest bytes"


# ---- refusals: 125, one line, the command never runs ------------------------

def refused(r, *words):
    assert r.returncode == 125, r
    assert one_line(r), "want exactly one line on stderr: %r" % r.stderr
    for w in words:
        assert w.encode() in r.stderr, "want %r in %r" % (w, r.stderr)
    assert r.stdout == b"", r


def test_missing_rootfs_path_is_125(tmp_path):
    refused(run("--rootfs", str(tmp_path / "nope"), "--", "true"), str(tmp_path / "nope"))


def test_a_text_file_is_not_an_image_125(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("not a file system\n" * 512)
    refused(run("--rootfs", str(f), "--", "true"), str(f))


@pytest.mark.parametrize("kind", ["squashfs", "erofs"])
def test_rw_on_a_read_only_image_kind_is_125(kind, roots):
    refused(run("--rootfs", roots.source(kind) + ":rw", "--", "true"))


def test_rw_on_a_directory_is_125(roots):
    refused(run("--rootfs", roots.source("dir") + ":rw", "--", "true"))


def test_init_without_rootfs_is_125():
    # A misuse of the options: one line, then the usage, as for every
    # option error (tests/test_rootfs_host.py).
    r = run("--init", "/sbin/tinyinit", "--", "true")
    assert r.returncode == 125 and r.stdout == b"", r
    first = r.stderr.split(b"\n", 1)[0]
    assert first == b"wisp: --init needs --rootfs: the initramfs has no other init", r
    assert r.stderr.split(b"\n")[1].startswith(b"usage: wisp run"), r


def test_directory_without_bin_sh_and_no_command_is_125(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    refused(run("--rootfs", str(tmp_path)), "/bin/sh")


def _truncated(src, dst):
    with open(src, "rb") as f:
        head = f.read(4096)
    with open(dst, "wb") as f:
        f.write(head)


def _zeroed_after_superblock(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    # The 96-byte squashfs superblock stays; the tables it points at go.
    with open(dst, "wb") as f:
        f.write(data[:96] + bytes(len(data) - 96))


@pytest.mark.parametrize("damage", [_truncated, _zeroed_after_superblock], ids=["truncated", "zeroed"])
def test_squashfs_the_kernel_cannot_mount_is_125_and_runs_nothing(damage, roots, tmp_path):
    img = tmp_path / "broken.squashfs"
    damage(roots.source("squashfs"), img)
    with open(img, "rb") as f:
        assert f.read(4) == b"hsqs"
    w = tmp_path / "w"
    w.mkdir()
    r = run("--rootfs", str(img), "-v", "%s:/w" % w, "--", "sh", "-c", "echo ran; touch /w/ran")
    refused(r)
    assert not (w / "ran").exists(), "the command ran without its root"
    assert_no_leftovers(r)
