"""The build: kernel config checking, caching, and same sources -> same bytes."""
import hashlib
import os
import shutil
import subprocess
import time

import pytest

from conftest import OUT, ROOT

SLOW = os.environ.get("WISP_SKIP_SLOW") == "1"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_impossible_symbol_fails_the_build_with_its_name(tmp_path):
    frag = tmp_path / "impossible.config"
    # X86_32 cannot coexist with 64BIT; the other does not exist at all.
    frag.write_text("CONFIG_X86_32=y\nCONFIG_WISP_NO_SUCH_SYMBOL=y\n")
    out = tmp_path / "out"
    env = dict(os.environ, EXTRA_FRAGMENTS=str(frag))
    r = subprocess.run([os.path.join(ROOT, "kernel-config/build.sh"), str(out)], env=env,
                       capture_output=True, timeout=600)
    assert r.returncode != 0, r
    assert b"CONFIG_X86_32: requested y in impossible.config, got n" in r.stderr, r.stderr
    assert b"CONFIG_WISP_NO_SUCH_SYMBOL: requested y in impossible.config, got n" in r.stderr
    assert not (out / "vmlinux").exists()


def test_second_make_does_not_rebuild_the_kernel():
    before = os.stat(os.path.join(OUT, "vmlinux")).st_mtime_ns
    start = time.monotonic()
    r = subprocess.run(["make", "-C", ROOT, "OUT=" + OUT, "kernel"], capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < 60
    assert os.stat(os.path.join(OUT, "vmlinux")).st_mtime_ns == before


def copy_tree(dst):
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
        "out", ".git", "__pycache__", ".pytest_cache"))


def test_two_builds_in_two_directories_give_the_same_bytes(tmp_path):
    """wisp-init, the initramfs and wisp, built from copies at other paths."""
    products = ["wisp-init", "initramfs.cpio.lz4", "wisp", "vmlinux", "bzImage"]
    hashes = []
    for name in ("first", "second-with-a-longer-path"):
        tree = tmp_path / name
        copy_tree(tree)
        r = subprocess.run(["make", "-C", str(tree)], capture_output=True, timeout=900)
        assert r.returncode == 0, r.stderr[-2000:]
        hashes.append({p: sha(tree / "out" / p) for p in products})
    assert hashes[0] == hashes[1]
    assert hashes[0] == {p: sha(os.path.join(OUT, p)) for p in products}


@pytest.mark.skipif(SLOW, reason="WISP_SKIP_SLOW=1")
def test_kernel_built_elsewhere_is_the_same(tmp_path):
    """A second kernel build with its own cache: other source and object paths."""
    out = tmp_path / "out"
    env = dict(os.environ, WISP_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([os.path.join(ROOT, "kernel-config/build.sh"), str(out)], env=env,
                       capture_output=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    for image in ("vmlinux", "bzImage"):
        assert sha(out / image) == sha(os.path.join(OUT, image)), image
