"""proc_cpu counts a whole process tree: live children, reaped children, and nothing else."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from proc_cpu import (
    TICKS_PER_SECOND,
    listener_root,
    parse_stat,
    pid_from_file,
    read_stats,
    trees_seconds,
)

# A child that spends at least this much CPU, then reports and waits on its stdin.
BURN_SECONDS = 0.2
BURN = (
    "import sys, time\n"
    "while time.process_time() < float(sys.argv[1]): pass\n"
    "print('burnt', flush=True)\n"
    "sys.stdin.read()\n"
)


def _stat_line(pid: int, ppid: int, utime: int, stime: int, cutime: int, cstime: int) -> str:
    fields = ["S", str(ppid)] + ["0"] * 9 + [str(utime), str(stime), str(cutime), str(cstime)]
    return f"{pid} (odd name) x) " + " ".join(fields + ["0"] * 30) + "\n"


def _fake_proc(tmp_path: Path, rows: list[tuple[int, int, int, int, int, int]]) -> Path:
    for row in rows:
        folder = tmp_path / str(row[0])
        folder.mkdir()
        (folder / "stat").write_text(_stat_line(*row))
    (tmp_path / "self").mkdir()  # not a pid: ignored
    return tmp_path


def test_parse_stat_reads_fields_after_a_command_name_with_spaces_and_parentheses() -> None:
    stat = parse_stat(_stat_line(42, 7, 1, 2, 3, 4))

    assert (stat.pid, stat.ppid, stat.ticks) == (42, 7, 10)


def test_tree_sums_root_children_grandchildren_and_their_reaped_children_only(
    tmp_path: Path,
) -> None:
    proc = _fake_proc(
        tmp_path,
        [
            (10, 1, 5, 3, 2, 1),  # root: its cutime/cstime are children that already exited
            (11, 10, 7, 1, 0, 0),
            (12, 11, 4, 0, 0, 0),
            (13, 1, 100, 100, 0, 0),  # unrelated
        ],
    )

    seconds = trees_seconds({"tree": 10, "leaf": 12, "gone": 99, "unknown": None}, proc)

    assert seconds == {
        "tree": 23 / TICKS_PER_SECOND,
        "leaf": 4 / TICKS_PER_SECOND,
        "gone": None,
        "unknown": None,
    }


def _my_tree_seconds() -> float:
    seconds = trees_seconds({"me": os.getpid()})["me"]
    assert seconds is not None
    return seconds


def test_tree_counts_a_live_child_and_keeps_it_after_the_child_is_reaped() -> None:
    before = _my_tree_seconds()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", BURN, str(BURN_SECONDS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"burnt\n"

    alive = _my_tree_seconds()
    child.communicate(b"")  # it exits and is reaped: its time moves to our cutime
    reaped = _my_tree_seconds()

    assert alive - before >= BURN_SECONDS - 1 / TICKS_PER_SECOND
    assert reaped >= alive


def test_listener_root_is_the_process_listening_on_the_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        assert listener_root(port) == os.getpid()


def test_listener_root_is_none_for_a_port_nobody_listens_on() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening
        port = closed.getsockname()[1]

        assert listener_root(port) is None


def test_pid_from_file_is_the_first_line_while_that_process_runs(tmp_path: Path) -> None:
    running, dead, empty = tmp_path / "running", tmp_path / "dead", tmp_path / "empty"
    running.write_text(f"{os.getpid()}\n/some/data/dir\n")
    dead.write_text(f"{max(read_stats()) + 100_000}\n")
    empty.write_text("")

    assert pid_from_file(running) == os.getpid()
    assert pid_from_file(dead) is None
    assert pid_from_file(empty) is None
    assert pid_from_file(tmp_path / "missing") is None
