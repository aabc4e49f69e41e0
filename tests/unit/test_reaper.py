"""A test server outlives no killed test run: the reaper's watchdog stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(condition, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_killed_test_run_leaves_no_server_running(tmp_path):
    done = tmp_path / "stopped"
    # a "test run" starting a "server" (a sleeping process) and a server stopped by a command
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        sys.path.insert(0, {str(HERE)!r})
        from reaper import stop_when_orphaned
        server = subprocess.Popen(["sleep", "600"], start_new_session=True)
        stop_when_orphaned(pid=server.pid)
        stop_when_orphaned(command=["touch", {str(done)!r}])
        print(server.pid, flush=True)
        time.sleep(600)
    """)
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server = int(run.stdout.readline())
    try:
        time.sleep(1.2)  # the watchdogs see the run alive: nothing stopped
        assert _alive(server) and not done.exists()
        run.send_signal(signal.SIGKILL)  # the run is killed: no teardown runs
        run.wait()
        assert _wait(lambda: not _alive(server)), "the server outlived the killed run"
        assert _wait(done.exists), "the stop command did not run"
    finally:
        if _alive(server):
            os.kill(server, signal.SIGKILL)


def test_a_server_already_stopped_is_not_looked_for_again(tmp_path):
    from reaper import _WATCHDOGS, stop_when_orphaned

    server = subprocess.Popen(["sleep", "600"])
    stop_when_orphaned(pid=server.pid)
    watchdog = _WATCHDOGS[-1]
    server.kill()
    server.wait()
    # the test run goes on; the watchdog ends by itself instead of waiting for it
    assert watchdog.wait(timeout=10) == 0
