"""One supervisord per native system: its generated config, its start, its XML-RPC control.

Each program runs its command directly (no shell), so the pid supervisord reports is the
service's main process, the uvicorn master. Its own process group (supervisord makes each
child a group leader) is what `stopasgroup`/`killasgroup` signal, so stopping a service
stops its workers too. `autorestart=false` and `startretries=0`: a program that exits stays
down until the next start (the fault suite decides what dies and what comes back; see
docs/decisions.md, "Native process manager").
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

from tools.native.layout import Failure, Layout
from tools.native.pids import alive, read_pid, terminate_group

__all__ = ["Program", "Supervisor"]

STOP_WAIT_SECONDS = 10
START_WAIT_SECONDS = 15.0
SOCKET_PATH_LIMIT = 100  # sun_path holds 108 bytes


@dataclass(frozen=True)
class Program:
    """One supervised program: its command, its own environment on top of supervisord's."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _quote(value: str) -> str:
    """`value` for supervisor's config: % doubled (its interpolation), then quoted."""
    if "\n" in value or ('"' in value and "'" in value):
        raise Failure(f"a value supervisord cannot hold: {value[:40]!r}")
    quote = "'" if '"' in value else '"'
    return f"{quote}{value.replace('%', '%%')}{quote}"


class Supervisor:
    """The supervisord of `layout.run_dir`: config in supervisord.conf, socket beside it."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.config = layout.run_dir / "supervisord.conf"
        self.pidfile = layout.run_dir / "supervisord.pid"
        socket = layout.run_dir / "supervisor.sock"
        if len(str(socket)) > SOCKET_PATH_LIMIT:
            digest = hashlib.sha256(str(layout.run_dir).encode()).hexdigest()[:16]
            socket = Path("/tmp") / f"shop-supervisor-{digest}.sock"  # noqa: S108
        self.socket = socket

    # -- config
    def write_config(self, programs: list[Program]) -> None:
        run, logs = self.layout.run_dir, self.layout.run_dir / "logs"
        lines = [
            "[supervisord]",
            f"logfile={_escape(logs / 'supervisord.log')}",
            f"pidfile={_escape(self.pidfile)}",
            f"childlogdir={_escape(logs)}",
            f"directory={_escape(run)}",
            "nodaemon=false",
            "[unix_http_server]",
            f"file={_escape(self.socket)}",
            "chmod=0700",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface",
        ]
        for program in programs:
            lines += self._program(program)
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:  # the environment lines hold passwords
            handle.write("\n".join(lines) + "\n")

    def _program(self, program: Program) -> list[str]:
        environment = ",".join(f"{name}={_quote(v)}" for name, v in program.env.items())
        lines = [
            f"[program:{program.name}]",
            f"command={shlex.join(program.command).replace('%', '%%')}",
            f"directory={_escape(self.layout.run_dir.parent)}",
            "autostart=true",
            "autorestart=false",
            "startsecs=1",
            "startretries=0",
            "stopasgroup=true",
            "killasgroup=true",
            f"stopwaitsecs={STOP_WAIT_SECONDS}",
            "redirect_stderr=true",
            f"stdout_logfile={_escape(self.layout.log_file(program.name))}",
            "stdout_logfile_maxbytes=0",
        ]
        if environment:
            lines.append(f"environment={environment}")
        return lines

    # -- daemon
    def start(self, env: Mapping[str, str]) -> None:
        """Start supervisord in daemon mode (it starts every program) and wait for it."""
        log = self.layout.log_file("supervisord")
        with log.open("ab") as out:  # never the caller's pipe: a daemon would keep it open
            code = subprocess.run(
                [str(self.layout.venv_bin / "supervisord"), "-c", str(self.config)],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        if code != 0:
            raise Failure(f"supervisord did not start ({code}), see {log}")
        deadline = time.monotonic() + START_WAIT_SECONDS
        while self.state() != "RUNNING":
            if time.monotonic() > deadline:
                raise Failure(
                    f"supervisord did not start (see {self.layout.log_file('supervisord')})"
                )
            time.sleep(0.1)

    def rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def state(self) -> str | None:
        """supervisord's state name (RUNNING, SHUTDOWN, ...), None when it does not answer."""
        if not self.socket.exists():
            return None
        try:
            return cast(str, self.rpc().getState()["statename"])
        except (OSError, xmlrpc.client.Error):
            return None

    def processes(self) -> dict[str, dict[str, Any]]:
        """Each program's info (statename, pid, ...); empty when supervisord is not running."""
        if self.state() is None:
            return {}
        try:
            infos = cast(list[dict[str, Any]], self.rpc().getAllProcessInfo())
        except (OSError, xmlrpc.client.Error):
            return {}
        return {info["name"]: info for info in infos}

    def stop_program(self, name: str) -> None:
        try:
            self.rpc().stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise

    def shutdown(self) -> None:
        """Ask supervisord to stop everything and exit; wait until it has."""
        pid = read_pid(self.pidfile)
        try:
            self.rpc().shutdown()
        except (OSError, xmlrpc.client.Error):
            if pid is not None:
                terminate_group(pid, STOP_WAIT_SECONDS * 3)
        deadline = time.monotonic() + STOP_WAIT_SECONDS * 3
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.socket.unlink(missing_ok=True)


def _escape(path: Path) -> str:
    return str(path).replace("%", "%%")
