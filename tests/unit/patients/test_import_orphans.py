"""A parallel import killed with kill -9 leaves no process and no semaphore behind."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from oncoboard.patients import fhir_build as fb
from oncoboard.patients.import_pool import AUTO_WORKERS_MIN_FILES

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="kill -9 and /dev/shm: Linux")


def _semaphores() -> set[str]:
    return set(glob.glob("/dev/shm/sem.mp-*"))


def _mapped_semaphores() -> set[str]:
    """Return the semaphores some living process has mapped (its own or still in use).

    Other processes on the machine (other tests, other users' jobs) create and remove
    semaphores of their own while this test runs; a semaphore the killed import left behind is
    one that no living process maps any more.
    """
    mapped: set[str] = set()
    for maps in glob.glob("/proc/[0-9]*/maps"):
        try:
            with open(maps, encoding="utf-8", errors="replace") as f:
                mapped.update(line.split()[-1] for line in f if "/dev/shm/sem.mp-" in line)
        except OSError:  # a process that ended, or one of another user
            continue
    return mapped


def _leaked(before: set[str], wait_s: float = 5.0) -> list[str]:
    """Return the semaphores created since `before` that nobody maps, once the tracker had time."""
    deadline = time.monotonic() + wait_s
    while True:
        new = _semaphores() - before
        leaked = sorted(new - _mapped_semaphores())
        if not leaked or time.monotonic() > deadline:
            return leaked
        time.sleep(0.1)


def test_pool_processes_die_with_a_killed_import(tmp_path):
    files = []
    for i in range(AUTO_WORKERS_MIN_FILES + 40):
        pid = f"k{i}"
        resources = [fb.patient(pid, f"MRN-{pid}", "Test", "Anna", "1950-02-03", "female")]
        resources += [fb.observation(f"{pid}-hb{j}", pid, "haemoglobin", f"2020-01-{j + 1:02d}",
                                     value=120 + j, unit="g/L") for j in range(20)]
        path = tmp_path / f"{pid}.json"
        path.write_text(json.dumps(fb.bundle(resources)), encoding="utf-8")
        files.append(str(path))
    env = dict(os.environ, ONCOBOARD_HOME=str(tmp_path / "data"),
               ONCOBOARD_SITE_CONFIG=str(tmp_path / "site.toml"),
               ONCOBOARD_USER_CONFIG=str(tmp_path / "user.toml"))
    before = _semaphores()
    proc = subprocess.Popen([sys.executable, "-m", "oncoboard", "import", "patients",
                             "--workers", "2", *files], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    children: list[psutil.Process] = []
    # the fork server, the resource tracker and 2 readers
    while time.monotonic() < deadline and proc.poll() is None:
        children = parent.children(recursive=True)
        if len(children) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(children) >= 4, "the pool did not start in time"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(children, timeout=5)
    left = [(p.pid, p.cmdline()) for p in alive if p.is_running()]
    for p in alive:  # do not leave them to other tests
        p.kill()
    assert not left, f"{len(left)} process(es) outlived the killed import: {left}"
    leaked = _leaked(before)
    assert not leaked, f"semaphores left in /dev/shm: {leaked}"
    # the killed run left a half-imported data folder: a new run goes through at once and
    # imports every file (each file is one transaction: nothing half-written to resume)
    again = subprocess.run([sys.executable, "-m", "oncoboard", "import", "patients",
                            "--workers", "0", "--json", *files], env=env, capture_output=True,
                           text=True, timeout=240, check=False)
    assert again.returncode == 0, again.stderr[-2000:]
    listed = subprocess.run([sys.executable, "-m", "oncoboard", "patients", "list", "--json"],
                            env=env, capture_output=True, text=True, timeout=60, check=True)
    assert len(json.loads(listed.stdout)) == len(files)
