"""The baselines of `make bench`, built in the same run from Debian packages:
Debian's cloud kernel (fetched with apt into the cache), a busybox-shell
/init, and QEMU started directly with the machine options wisp uses, its
serial console read here line by line with the time each line arrived."""
import glob
import os
import re
import selectors
import shutil
import socket
import subprocess
import tempfile
import time

import proc

HERE = os.path.dirname(os.path.abspath(__file__))
CLOUD_META = "linux-image-cloud-amd64"
QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"

# How each init says that the command ended, and with what status.
BUSYBOX_MARKER = r"^BENCH-EXIT (\d+)$"
WISP_MARKER = r"^WISP-EXIT %s (\d+)$"
# A console line stamped with the kernel's clock (printk.time=1).
STAMPED = re.compile(r"^\[\s*(\d+\.\d+)\] (.*)$")


class Unavailable(Exception):
    """A baseline cannot be built on this machine; the message says why."""


def cache_dir():
    base = os.environ.get("WISP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wisp")
    return os.path.join(base, "bench")


def _cached_kernels(root):
    found = glob.glob(os.path.join(root, "linux-image-*", "vmlinuz"))
    return sorted(found, key=os.path.getmtime)


def _describe(path, package, version, note=None):
    d = {"path": path, "package": package, "version": version}
    if note:
        d["note"] = note
    return d


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def debian_kernel(say):
    """Debian's packaged cloud kernel (a bzImage): apt resolves the
    metapackage to today's image package, `apt-get download` fetches its
    .deb once into the cache and dpkg-deb extracts vmlinuz from it."""
    given = os.environ.get("BENCH_DEBIAN_KERNEL")
    if given:
        if not os.access(given, os.R_OK):
            raise Unavailable("BENCH_DEBIAN_KERNEL=%s is not readable" % given)
        return _describe(given, "(BENCH_DEBIAN_KERNEL)", "")
    root = cache_dir()
    os.makedirs(root, exist_ok=True)
    try:
        pkg = _resolve_image_package()
        return _fetch_image(root, pkg, say)
    except Unavailable as e:
        cached = _cached_kernels(root)
        if not cached:
            raise Unavailable("%s. Run `apt-get update` (as root), or set "
                              "BENCH_DEBIAN_KERNEL=/path/to/vmlinuz" % e)
        path = cached[-1]
        pkg_dir = os.path.dirname(path)
        say("bench: warning: %s; using the cached %s" % (e, path))
        return _describe(path, os.path.basename(pkg_dir), _read(os.path.join(pkg_dir, "version")),
                         note="apt failed (%s); the newest cached kernel was used" % e)


def _resolve_image_package():
    r = proc.run(["apt-cache", "depends", CLOUD_META], timeout=60)
    if r.rc != 0:
        raise Unavailable("apt-cache depends %s failed (%s)" % (CLOUD_META, r.brief()))
    m = re.search(r"Depends: (linux-image-\S+-cloud-amd64)\b", r.out.decode(errors="replace"))
    if not m:
        raise Unavailable("apt knows no %s (is bookworm main in sources.list?)" % CLOUD_META)
    return m.group(1)


def _fetch_image(root, pkg, say):
    dest_dir = os.path.join(root, pkg)
    dest = os.path.join(dest_dir, "vmlinuz")
    if os.path.exists(dest):
        return _describe(dest, pkg, _read(os.path.join(dest_dir, "version")))
    say("bench: fetching %s with apt-get download into %s" % (pkg, root))
    work = tempfile.mkdtemp(prefix="fetch-", dir=root)
    try:
        r = proc.run(["apt-get", "download", pkg], timeout=900, cwd=work)
        debs = glob.glob(os.path.join(work, "*.deb"))
        if r.rc != 0 or not debs:
            raise Unavailable("apt-get download %s failed (%s)" % (pkg, r.brief()))
        version = proc.run(["dpkg-deb", "-f", debs[0], "Version"], timeout=60).out.decode().strip()
        tree = os.path.join(work, "x")
        r = proc.run(["dpkg-deb", "-x", debs[0], tree], timeout=600)
        images = glob.glob(os.path.join(tree, "boot", "vmlinuz-*"))
        if r.rc != 0 or not images:
            raise Unavailable("dpkg-deb -x %s found no boot/vmlinuz-* (%s)" % (debs[0], r.brief()))
        staging = dest_dir + ".tmp"
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        shutil.move(images[0], os.path.join(staging, "vmlinuz"))
        for config in glob.glob(os.path.join(tree, "boot", "config-*")):
            shutil.move(config, os.path.join(staging, "config"))
        with open(os.path.join(staging, "version"), "w") as f:
            f.write(version + "\n")
        os.rename(staging, dest_dir)
        return _describe(dest, pkg, version)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def busybox_initramfs(gen_init_cpio, out_path):
    """An lz4 initramfs (the same `lz4 -l -9` as wisp's) holding Debian's
    busybox-static, bench/busybox-init.sh as /init, and the device nodes
    the script needs before it mounts devtmpfs."""
    if not os.access(BUSYBOX, os.X_OK):
        raise Unavailable("%s is missing (make deps installs busybox-static)" % BUSYBOX)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    stage = tempfile.mkdtemp(prefix="wisp-bench-cpio-")
    try:
        shutil.copy(os.path.join(HERE, "busybox-init.sh"), os.path.join(stage, "init"))
        shutil.copy(BUSYBOX, os.path.join(stage, "busybox"))
        for name in ("init", "busybox"):
            os.utime(os.path.join(stage, name), (epoch, epoch))
        manifest = "\n".join([
            "dir /dev 0755 0 0",
            "nod /dev/console 0600 0 0 c 5 1",
            "nod /dev/kmsg 0644 0 0 c 1 11",
            "dir /proc 0555 0 0",
            "dir /sys 0555 0 0",
            "dir /bin 0755 0 0",
            "file /init %s/init 0755 0 0" % stage,
            "file /bin/busybox %s/busybox 0755 0 0" % stage,
            "slink /bin/sh /bin/busybox 0777 0 0",
            "slink /bin/true /bin/busybox 0777 0 0",
        ]) + "\n"
        with open(os.path.join(stage, "list"), "w") as f:
            f.write(manifest)
        cpio = os.path.join(stage, "initramfs.cpio")
        with open(cpio, "wb") as f:
            r = subprocess.run([gen_init_cpio, "-t", str(epoch), os.path.join(stage, "list")],
                               stdout=f, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise Unavailable("gen_init_cpio failed: %s" % r.stderr.decode(errors="replace"))
        r = subprocess.run(["lz4", "-q", "-l", "-9", "-f", cpio, out_path],
                           stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise Unavailable("lz4 failed: %s" % r.stderr.decode(errors="replace"))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out_path


def host_tsc_khz():
    """What wisp passes as tsc_early_khz: the first "cpu MHz" of cpuinfo."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            m = re.match(r"cpu MHz\s*:\s*([\d.]+)", line)
            if m:
                return int(float(m.group(1)) * 1000)
    return 0


def base_cmdline():
    """wisp's own kernel arguments on microvm under TCG (boot/kcmdline.c),
    for when its actual command line could not be read."""
    args = "console=ttyS0 reboot=t panic=-1 quiet initramfs_async=0"
    khz = host_tsc_khz()
    if khz:
        args += " tsc_early_khz=%d tsc=reliable nolapic_timer no_timer_check" % khz
    return args + " noreplace-smp pci=off"


# wisp's microvm command line (boot/vmm_qemu.c) without its virtio-serial
# channel, for when its actual command line could not be read.
DEFAULT_TEMPLATE = [
    QEMU,
    "-M", "microvm,accel=tcg,x-option-roms=off,acpi=off,rtc=on",
    "-cpu", "qemu64",
    "-m", "@MEMORY@",
    "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none",
    "-no-reboot",
    "-kernel", "@KERNEL@",
    "-initrd", "@INITRD@",
    "-append", "@APPEND@",
    "-chardev", "socket,id=con,fd=@FD@",
    "-serial", "chardev:con",
    "-global", "virtio-mmio.force-legacy=false",
]


def template_from_wisp(wisp_argv, tag):
    """The direct boots' QEMU command line and kernel arguments, taken from
    the ones wisp itself gave QEMU: the same machine, CPU, options and
    kernel arguments, without the virtio-serial channel and the vsock device
    (every init here reports on the serial console) and without wisp's own
    keys."""
    out, kernel_args = [], None
    slots = {"-m": "@MEMORY@", "-kernel": "@KERNEL@", "-initrd": "@INITRD@", "-append": "@APPEND@"}
    i = 0
    while i < len(wisp_argv):
        opt = wisp_argv[i]
        val = wisp_argv[i + 1] if i + 1 < len(wisp_argv) else ""
        if opt in slots:
            if opt == "-append":
                kernel_args = val
            out += [opt, slots[opt]]
            i += 2
        elif opt == "-chardev" and val.startswith("socket,id=con,"):
            out += [opt, "socket,id=con,fd=@FD@"]
            i += 2
        elif (opt == "-chardev" and val.startswith(("socket,id=io,", "socket,id=vsock,"))) or (
                opt == "-device" and val.startswith(("virtio-serial", "virtserialport", "vhost-user-vsock"))) or (
                opt == "-object" and val.startswith("memory-backend-memfd")) or (
                opt == "-machine" and val == "memory-backend=mem"):
            # wisp's channels (virtio-serial, vsock and the shared RAM it
            # needs): every init here reports on the serial console.
            i += 2
        else:
            out.append(opt)
            i += 1
    if kernel_args is None or "@FD@" not in " ".join(out):
        return None, None
    kept = [a for a in kernel_args.split() if not a.startswith("wisp.") and a != tag]
    return out, " ".join(kept)


def qemu_argv(template, kernel, initrd, append, con_fd, memory_mib=256):
    values = {"@MEMORY@": str(memory_mib), "@KERNEL@": kernel, "@INITRD@": initrd, "@APPEND@": append}
    return [values.get(a, a).replace("@FD@", str(con_fd)) for a in template]


class Boot:
    """One direct boot: when each console line arrived (seconds since the
    fork of QEMU), the exit status the marker carried and when, when QEMU
    was gone, and its peak RSS."""

    def __init__(self, argv):
        self.argv = argv
        self.lines = []
        self.status = None
        self.t_status = None
        self.t_exit = None
        self.hwm_kib = None
        self.error = None
        self.stderr = b""

    def stamped(self):
        """(arrival, kernel seconds, text) of each line with a printk stamp."""
        out = []
        for t, text in self.lines:
            m = STAMPED.match(text)
            if m:
                out.append((t, float(m.group(1)), m.group(2)))
        return out

    def kernel_start(self):
        """When the kernel's clock was 0, in seconds since launch: each
        stamped line bounds it from above (it arrived after it was
        written); the smallest bound is the estimate."""
        bounds = [t - ts for t, ts, _ in self.stamped()]
        return min(bounds) if bounds else None

    def kernel_mark(self, text):
        """Kernel time of the first stamped line that contains text."""
        for _, ts, line in self.stamped():
            if text in line:
                return ts
        return None


def boot(template, kernel, initrd, append, marker, timeout, memory_mib=256):
    """Boots QEMU directly and follows its console until it exits or the
    deadline passes (then it is killed and the boot is a failure)."""
    marker_re = re.compile(marker)
    host, guest = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    argv = qemu_argv(template, kernel, initrd, append, guest.fileno(), memory_mib)
    b = Boot(argv)
    t0 = time.monotonic()
    try:
        p = proc.spawn(argv, pass_fds=(guest.fileno(),), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    except OSError as e:
        host.close()
        guest.close()
        b.error = "cannot start %s: %s" % (QEMU, e)
        return b
    guest.close()
    host.setblocking(False)
    os.set_blocking(p.stderr.fileno(), False)
    pidfd = os.pidfd_open(p.pid)
    sel = selectors.DefaultSelector()
    sel.register(host, selectors.EVENT_READ, "con")
    sel.register(p.stderr, selectors.EVENT_READ, "err")
    sel.register(pidfd, selectors.EVENT_READ, "exit")
    pending = b""
    deadline = t0 + timeout
    try:
        while b.t_exit is None:
            left = deadline - time.monotonic()
            if left <= 0:
                b.error = "no exit within %ss; QEMU killed" % timeout
                break
            for key, _ in sel.select(left):
                now = time.monotonic() - t0
                if key.data == "exit":
                    b.t_exit = now
                elif key.data == "err":
                    chunk = _read_some(p.stderr.fileno())
                    if chunk == b"":
                        sel.unregister(p.stderr)
                    elif chunk:
                        b.stderr += chunk
                else:
                    chunk = _read_some(host.fileno())
                    if chunk == b"":
                        sel.unregister(host)
                    if not chunk:
                        continue
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        _on_line(b, p.pid, now, raw, marker_re)
        # What QEMU wrote just before it exited.
        rest = pending + _drain(host.fileno())
        for raw in rest.split(b"\n"):
            if raw:
                _on_line(b, p.pid, b.t_exit or time.monotonic() - t0, raw, marker_re)
    finally:
        sel.close()
        os.close(pidfd)
        proc.kill(p)
        b.stderr += p.stderr.read() or b""
        p.stderr.close()
        host.close()
    if b.error is None and b.status is None:
        err = b.stderr.decode(errors="replace").strip().splitlines()
        b.error = "QEMU exited (status %s) without an exit marker%s" % (
            p.returncode, ": " + err[-1] if err else "")
    return b


def _on_line(b, pid, now, raw, marker_re):
    text = raw.decode(errors="replace").strip("\r")
    b.lines.append((now, text))
    m = marker_re.match(text)
    if m and b.status is None:
        b.status = int(m.group(1))
        b.t_status = now
        mem = proc.memory_kib(pid)
        if mem:
            b.hwm_kib = mem["VmHWM"]


def _read_some(fd):
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _drain(fd):
    data = b""
    while True:
        chunk = _read_some(fd)
        if not chunk:
            return data
        data += chunk
