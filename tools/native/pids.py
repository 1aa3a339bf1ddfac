"""Pid files and the processes they name (the fault suite signals the same processes)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

__all__ = ["alive", "read_pid", "signal_group", "terminate_group"]


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int | None) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as gone)."""
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the process group `pid` leads (a supervised program and its workers), or
    only `pid` when it leads none."""
    try:
        os.killpg(pid, signum)
    except OSError:
        try:
            os.kill(pid, signum)
        except OSError:
            return


def terminate_group(pid: int, wait: float) -> None:
    """SIGTERM, up to `wait` seconds, then SIGKILL (resumed first: a stopped process
    would keep SIGTERM pending)."""
    signal_group(pid, signal.SIGCONT)
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        signal_group(pid, signal.SIGKILL)
