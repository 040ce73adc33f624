#!/usr/bin/python3
"""virtio-blk vs virtio-pmem (DAX) for an image root: docs/performance.md,
"Image roots: virtio-blk or virtio-pmem".

QEMU is run by hand with the arguments wisp gives it for q35, the vsock
device replaced by wisp.io=console (the exit status is a marker line on the
serial console), so the two devices differ in nothing else:

  blk:  -drive file=IMG,if=none,id=rootblk,format=raw,readonly=on
        -device virtio-blk-pci,drive=rootblk          wisp.root=blk,vda,ro,FS
  pmem: -object memory-backend-file,id=pm,mem-path=IMG,size=SIZE,share=off,readonly=on
        -device virtio-pmem-pci,memdev=pm,id=pmem0    wisp.root=blk,pmem0,ro,FS
        (and -m 128M,slots=1,maxmem=4G for both)

Needs: K, a kernel built with kernel-config/pmem.config; I, an initramfs
whose wisp-init mounts pmem devices with -o dax (the patch in the doc);
images padded to a multiple of 2 MiB (truncate -s %2M), ext4 with 4 KiB
blocks, erofs made with -E noinline_data.

  bench/pmem.py RUNS true|read IMG:FS...   one JSON line per boot
  bench/pmem.py RUNS density IMG:FS        3 VMs at once, summed RSS/PSS
"""
import base64, os, subprocess, sys, time, json, statistics, re, itertools

K = os.environ.get("K", "/tmp/pmem-out/vmlinux")
I = os.environ.get("I", "/tmp/pmem-wisp/initramfs.cpio.lz4")
MEM = os.environ.get("MEM", "128")
NONCE = "abcd1234"

def qemu_args(img, dev, fstype, cmd):
    size = os.path.getsize(img)
    assert size % (2 << 20) == 0, img
    argv = b"".join(a.encode() + b"\0" for a in cmd)
    if dev == "blk":
        root, devargs = f"blk,vda,ro,{fstype}", [
            "-drive", f"file={img},if=none,id=rootblk,format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=rootblk"]
    else:
        root, devargs = f"blk,pmem0,ro,{fstype}", [
            "-object", f"memory-backend-file,id=pm,mem-path={img},size={size}," + os.environ.get("PMEMOPT", "share=off,readonly=on"),
            "-device", "virtio-pmem-pci,memdev=pm,id=pmem0"]
    append = ("console=ttyS0 reboot=t panic=-1 quiet initramfs_async=0 tsc_early_khz=2596132 "
              "tsc=reliable nolapic_timer no_timer_check noreplace-smp "
              f"wisp.nonce={NONCE} wisp.io=console wisp.root={root} "
              f"wisp.cmd={base64.b64encode(argv).decode()}")
    return ["qemu-system-x86_64", "-M", "q35,accel=tcg", "-cpu", "qemu64",
            "-m", f"{MEM}M,slots=1,maxmem=4G",
            "-object", f"memory-backend-memfd,id=mem,size={MEM}M,share=on",
            "-machine", "memory-backend=mem", "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-kernel", K, "-initrd", I,
            "-append", append, "-serial", "stdio"] + devargs

def rollup(pid):
    d = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        m = re.match(r"(\w+):\s+(\d+) kB", line)
        if m: d[m.group(1)] = int(m.group(2)) / 1024
    return d

READ = ("find / -xdev -type f -exec cat {} + >/dev/null; echo READ-DONE; "
        "grep -E '^(MemAvailable|Cached|MemFree):' /proc/meminfo; echo SAMPLE-NOW; sleep 1")

def run(img, dev, fstype, mode):
    cmd = ["true"] if mode == "true" else ["sh", "-c", READ]
    args = qemu_args(img, dev, fstype, cmd)
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    res = {"dev": dev, "fs": fstype, "img": img, "mode": mode}
    out = []
    for raw in p.stdout:
        line = raw.decode(errors="replace").strip()
        out.append(line)
        if line == "READ-DONE": res["read_s"] = time.monotonic() - t0
        m = re.match(r"(MemAvailable|Cached|MemFree):\s+(\d+) kB", line)
        if m: res[m.group(1)] = int(m.group(2)) / 1024
        if line == "SAMPLE-NOW":
            r = rollup(p.pid)
            res.update({"rss": r["Rss"], "pss": r["Pss"], "pss_file": r.get("Pss_File", 0),
                        "pss_shmem": r.get("Pss_Shmem", 0), "pss_anon": r.get("Pss_Anon", 0)})
        if line.startswith("WISP-EXIT") or "EXIT" in line and NONCE in line:
            res["status_line"] = line
    p.wait()
    res["wall_s"] = time.monotonic() - t0
    res["ok"] = any(NONCE in l and l.endswith(" 0") for l in out)
    if not res["ok"]:
        res["tail"] = out[-15:]
    return res

def density(img, fstype, n=3):
    """n VMs on one image at once, each reads every file; summed smaps_rollup."""
    cmd = ["sh", "-c", "find / -xdev -type f -exec cat {} + >/dev/null; echo SAMPLE-NOW; sleep 6"]
    out = {}
    for dev in ("blk", "pmem"):
        ps = [subprocess.Popen(qemu_args(img, dev, fstype, cmd), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL) for _ in range(n)]
        for p in ps:
            for raw in p.stdout:
                if raw.strip() == b"SAMPLE-NOW":
                    break
        rs = [rollup(p.pid) for p in ps]
        for p in ps:
            p.wait()
        out[dev] = {k: sum(r.get(k, 0) for r in rs) for k in ("Rss", "Pss", "Pss_File", "Pss_Shmem")}
    return out

if __name__ == "__main__":
    runs = int(sys.argv[1]); mode = sys.argv[2]; configs = sys.argv[3:]  # img:fs
    if mode == "density":
        img, fstype = configs[0].split(":")
        for i in range(runs):
            print(json.dumps(density(img, fstype)), flush=True)
        sys.exit(0)
    for i in range(runs):
        for c in configs:
            img, fstype = c.split(":")
            for dev in ("blk", "pmem"):
                r = run(img, dev, fstype, mode); r["i"] = i
                print(json.dumps(r), flush=True)
