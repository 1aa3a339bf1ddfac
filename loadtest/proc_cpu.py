"""CPU time of process trees from /proc: what the benchmark divides by the requests served.

A tree is a process and all its descendants (a service's supervisor and its workers,
PostgreSQL's postmaster and its backends). Its CPU is the sum, over the members alive now, of
utime + stime + cutime + cstime from /proc/<pid>/stat: a child that exited and was reaped by a
member has its whole time in that member's cutime/cstime, so a backend or a worker that ends
between two readings is still counted, and the difference of two readings is the tree's CPU
between them.

The roots are found from pid files (the native run's RUN_DIR/pids, PostgreSQL's
postmaster.pid, the embedded Redis's redis.pid) or from the owner of a listening TCP socket
(/proc/net/tcp[6] inode -> /proc/*/fd): the root is the owner whose parent does not own it.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PROC",
    "Stat",
    "alive_pid",
    "listener_root",
    "pid_from_file",
    "read_stats",
    "trees_seconds",
]

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
LISTEN = "0A"  # the TCP state column of /proc/net/tcp for a listening socket


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/<pid>/stat the trees need (times in clock ticks)."""

    pid: int
    ppid: int
    ticks: int  # utime + stime + cutime + cstime


def parse_stat(text: str) -> Stat:
    """One /proc/<pid>/stat line; the command name (field 2) may hold spaces and parentheses,
    so the fields are counted from its last closing parenthesis."""
    pid = int(text[: text.index(" ")])
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17.
    return Stat(pid, int(fields[1]), sum(int(value) for value in fields[11:15]))


def read_stats(proc: Path = PROC) -> dict[int, Stat]:
    """Every process's Stat, by pid (those that exit while being read are left out)."""
    stats: dict[int, Stat] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = parse_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
            stats[stat.pid] = stat
    return stats


def _children(stats: Mapping[int, Stat]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    return children


def _tree_ticks(root: int, stats: Mapping[int, Stat], children: Mapping[int, list[int]]) -> int:
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += stats[pid].ticks
        todo.extend(children.get(pid, []))
    return total


def trees_seconds(roots: Mapping[str, int | None], proc: Path = PROC) -> dict[str, float | None]:
    """CPU seconds of each named tree from one reading of /proc (None: no such process)."""
    stats = read_stats(proc)
    children = _children(stats)
    return {
        name: _tree_ticks(pid, stats, children) / TICKS_PER_SECOND
        if pid is not None and pid in stats
        else None
        for name, pid in roots.items()
    }


def alive_pid(pid: int | None, proc: Path = PROC) -> int | None:
    """`pid` when that process runs, else None."""
    return pid if pid is not None and (proc / str(pid) / "stat").exists() else None


def pid_from_file(path: Path, proc: Path = PROC) -> int | None:
    """The running process whose pid is the first line of `path` (a pid file, or
    PostgreSQL's postmaster.pid), or None when the file or the process is missing."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return alive_pid(int(first), proc) if first.isdigit() else None


def listening_inodes(port: int, proc: Path = PROC) -> set[int]:
    """The inodes of the TCP sockets (IPv4 and IPv6) listening on `port`."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port and inode:
                inodes.add(inode)
    return inodes


def socket_owners(inodes: Iterable[int], proc: Path = PROC) -> set[int]:
    """The pids holding a file descriptor on any of the socket `inodes` (only processes
    whose fds this user may read are seen)."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    owners: set[int] = set()
    if not wanted:
        return owners
    for entry in proc.iterdir():
        if entry.name.isdigit() and not wanted.isdisjoint(_fd_targets(entry / "fd")):
            owners.add(int(entry.name))
    return owners


def _fd_targets(folder: Path) -> set[str]:
    """What the file descriptors in `folder` point to (one closed meanwhile is left out)."""
    targets: set[str] = set()
    try:
        fds = list(folder.iterdir())
    except OSError:
        return targets
    for fd in fds:
        try:
            targets.add(os.readlink(fd))
        except OSError:
            continue
    return targets


def listener_root(port: int, proc: Path = PROC) -> int | None:
    """The process listening on TCP `port` whose parent does not share the socket (a
    supervisor rather than its workers), or None when no visible process listens there."""
    owners = socket_owners(listening_inodes(port, proc), proc)
    stats = read_stats(proc)
    roots = sorted(pid for pid in owners if pid in stats and stats[pid].ppid not in owners)
    return roots[0] if roots else None
