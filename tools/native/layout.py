"""Where a native run lives and what it listens on, read once from the environment.

The variables are those of README.md ("Configuration", "Ports"); each default is the one
./run_services.sh always had.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "Failure", "Layout", "error", "log", "warn"]

ROOT = Path(__file__).resolve().parents[2]
ALL_SERVICES = ("user", "product", "order")


def log(message: str) -> None:
    sys.stderr.write(f"\033[1m==> {message}\033[0m\n")


def warn(message: str) -> None:
    sys.stderr.write(f"\033[33mwarning:\033[0m {message}\n")


class Failure(Exception):
    """A command that cannot go on; `python -m tools.native` prints it as an error, exit 1."""


def error(message: str) -> None:
    sys.stderr.write(f"\033[31merror:\033[0m {message}\n")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise Failure(f"{name} must be a whole number, not {raw!r}") from None


@dataclass(frozen=True)
class Layout:
    """One native system: its state folder, addresses and options."""

    run_dir: Path
    host: str
    ports: dict[str, int]
    prometheus_port: int
    alertmanager_port: int
    monitoring: bool
    web: bool
    web_port: int
    storefront_api: dict[str, str]
    workers: int
    db_name_prefix: str
    embedded_redis_port: int
    ready_timeout: int
    lines_shown: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Layout:
        run_dir = Path(env.get("RUN_DIR") or ROOT / ".run")
        services = [
            s for s in ALL_SERVICES if (ROOT / f"{s}_service/src/{s}_service/main.py").exists()
        ]
        defaults = {"user": 8001, "product": 8002, "order": 8003}
        return cls(
            run_dir=(ROOT / run_dir).resolve(),
            host=env.get("HOST") or "127.0.0.1",
            ports={s: _int(env, f"{s.upper()}_SERVICE_PORT", defaults[s]) for s in services},
            prometheus_port=_int(env, "PROMETHEUS_PORT", 9090),
            alertmanager_port=_int(env, "ALERTMANAGER_PORT", 9093),
            monitoring=env.get("NATIVE_MONITORING", "1") != "0",
            web=env.get("NATIVE_WEB", "1") != "0",
            web_port=_int(env, "WEB_PORT", 5173),
            # The API URLs the storefront page calls from the browser (docs/storefront.md).
            storefront_api={
                s: env.get(f"STOREFRONT_{s.upper()}_API", "") for s in ("user", "product", "order")
            },
            workers=_int(env, "WEB_CONCURRENCY", 2),
            db_name_prefix=env.get("DB_NAME_PREFIX", ""),
            embedded_redis_port=_int(env, "EMBEDDED_REDIS_PORT", 0),
            ready_timeout=_int(env, "READY_TIMEOUT", 60),
            lines_shown=_int(env, "LINES_SHOWN", 100),
        )

    @property
    def services(self) -> list[str]:
        return list(self.ports)

    def url(self, service: str) -> str:
        return f"http://{self.host}:{self.ports[service]}"

    def storefront_url(self) -> str:
        """The storefront's address: localhost, the origin the default CORS_ORIGINS lists."""
        return f"http://localhost:{self.web_port}"

    def log_file(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / "pids" / f"{name}.pid"

    @property
    def mode_file(self) -> Path:
        return self.run_dir / "mode"

    @property
    def secrets_file(self) -> Path:
        return self.run_dir / "secrets.env"

    @property
    def embedded_dir(self) -> Path:
        return self.run_dir / "embedded"

    @property
    def embedded_marker(self) -> Path:
        """Present while the embedded servers run because this native system started them."""
        return self.run_dir / "embedded.started"

    @property
    def venv_bin(self) -> Path:
        return ROOT / ".venv" / "bin"
