"""Boots that never hang: many back to back with the machine loaded."""
import os
import subprocess

from conftest import wisp

BOOTS = int(os.environ.get("WISP_SOAK_BOOTS", "50"))


def test_back_to_back_boots_with_a_cpu_hog():
    hog = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        failures = []
        for i in range(BOOTS):
            r = wisp("run", "--timeout", "60", "--", "true")
            if r.returncode != 0:
                failures.append((i, r.returncode, r.stderr[-300:]))
        assert failures == [], "%d of %d boots failed: %r" % (len(failures), BOOTS, failures[:5])
    finally:
        hog.kill()
        hog.wait()
