"""--rootfs and --init refused on the host (boot/rootfs.c, boot/options.c):
each bad value is 125 with one line that says why, and no VM boots."""
import os

import pytest

from conftest import wisp


def one_line(r):
    return r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"wisp: ")


def image(path, offset, magic):
    with open(path, "wb") as f:
        f.truncate(65536)
        f.seek(offset)
        f.write(magic)
    return str(path)


@pytest.fixture
def roots(tmp_path):
    (tmp_path / "empty").mkdir()
    return {
        "missing": str(tmp_path / "no-such-root"),
        "empty": str(tmp_path / "empty"),
        "zero": image(tmp_path / "zero.img", 0, b""),
        "squashfs": image(tmp_path / "sq.img", 0, b"hsqs"),
        "erofs": image(tmp_path / "erofs.img", 1024, (0xE0F5E1E2).to_bytes(4, "little")),
        "fifo": str(tmp_path / "fifo"),
    }


@pytest.mark.parametrize("source,why", [
    ("missing", b"No such file or directory"),
    ("zero", b"not an ext4, erofs or squashfs image"),
    ("squashfs:rw", b"only ext4 can be written through"),
    ("erofs:rw", b"only ext4 can be written through"),
    ("empty:rw", b":rw is for ext4 images"),
    ("host:rw", b":rw is for ext4 images"),
    ("empty", b"no executable /bin/sh"),
    ("fifo", b"neither a directory nor an image file"),
])
def test_bad_rootfs_is_125_with_one_line(roots, source, why):
    name, _, rw = source.partition(":")
    if name == "fifo":
        os.mkfifo(roots["fifo"])
    path = "host" if name == "host" else roots[name]
    r = wisp("run", "--rootfs", path + (":" + rw if rw else ""), tag=False)
    assert r.returncode == 125, r
    assert one_line(r) and why in r.stderr, r
    assert r.stdout == b""


def test_a_root_without_a_shell_is_fine_with_a_command_or_init(roots):
    # Refused only for the shell: with --init the check is not the host's,
    # and a command need not be /bin/sh. The missing kernel shows that the
    # rootfs checks passed.
    for args in (["--", "true"], ["--init", "/sbin/init"]):
        r = wisp("run", "--kernel", "/no/such/kernel", "--rootfs", roots["empty"], *args, tag=False)
        assert r.returncode == 125 and b"/no/such/kernel" in r.stderr, r


@pytest.mark.parametrize("args,why", [
    (["--init", "/sbin/init"], b"--init needs --rootfs"),
    (["--rootfs", "host", "--init", "sbin/init"], b"want an absolute path"),
    (["--rootfs", "host", "--init", "/sbin/my init"], b"no spaces"),
])
def test_bad_init_is_125(args, why):
    r = wisp("run", *args, "--", "true", tag=False)
    assert r.returncode == 125, r
    assert r.stderr.startswith(b"wisp: ") and why in r.stderr.splitlines()[0], r


def test_exec_takes_no_rootfs():
    r = wisp("exec", "somevm", "--rootfs", "host", "--", "true", tag=False)
    assert r.returncode == 125, r
    assert b"does not apply to wisp exec" in r.stderr.splitlines()[0], r
