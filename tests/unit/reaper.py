"""Stop a test server when the test process that started it is gone, even killed.

The tests stop their PostgreSQL, Orthanc and Kerberos servers when they end normally; a run
killed by a timeout or by hand used to leave them running (and their temporary folders). Each
server started by a test gets a small watchdog process of its own (its own session, so that
killing the test's process group leaves it), which polls the test process every second and, once
that process is gone, stops the server: by a command (``pg_ctl stop``) or by its pid, checked
to be the same process (its start time), never a later process given the same number. It ends
at once when the server is already gone. Linux only (``/proc``); elsewhere nothing is watched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return int(stat.rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


#: The watchdogs started (kept: a Popen dropped while its process runs warns).
_WATCHDOGS: list[subprocess.Popen[bytes]] = []


def stop_when_orphaned(*, pid: int | None = None, command: list[str] | None = None) -> None:
    """Watch this process: when it is gone, run `command`, else kill process `pid` (if it is
    still the process it was now). With both, `pid` only tells when to stop watching."""
    me = os.getpid()
    mine = _start_time(me)
    target = _start_time(pid) if pid else 0
    if mine is None or target is None:
        return  # no /proc, or the server is gone already
    _WATCHDOGS.append(subprocess.Popen(
        [sys.executable, __file__, str(me), str(mine), str(pid or 0), str(target or 0),
         *(command or [])],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True))


def _watch(argv: list[str]) -> None:
    """The watchdog (run as ``python reaper.py PARENT PARENT_START PID PID_START [COMMAND]``)."""
    parent, parent_start, target, target_start = (int(a) for a in argv[:4])
    command = argv[4:]
    while _start_time(parent) == parent_start:
        if target and _start_time(target) != target_start:
            return  # the server is gone already
        time.sleep(1)
    if command:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
    elif target and _start_time(target) == target_start:
        os.kill(target, signal.SIGKILL)


if __name__ == "__main__":
    _watch(sys.argv[1:])
