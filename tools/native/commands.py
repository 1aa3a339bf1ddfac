"""start, stop, status and logs of the native system (README.md, "./run_services.sh")."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tools.native import datastores
from tools.native.datastores import Datastores, masked
from tools.native.layout import ROOT, Failure, Layout, log, warn
from tools.native.pids import alive, read_pid, signal_group, terminate_group
from tools.native.secret_file import SERVICE_SECRETS, ensure_secrets, export_service_secrets
from tools.native.secret_file import redis_password_name as password_name
from tools.native.supervise import STOP_WAIT_SECONDS, Program, Supervisor
from tools.net import http_status, port_in_use, ready_status

__all__ = ["logs", "start", "status", "stop"]

MONITORING = ("prometheus", "alertmanager")
WEB = "web"
LIVE_STATES = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}
GONE_STATES = {"STOPPED", "EXITED", "FATAL"}
STOP_ORDER = (WEB, "order", "product", "user", *MONITORING)


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _alive_programs(layout: Layout, supervisor: Supervisor) -> list[str]:
    """Programs running now: by supervisord, else by their pid files (after a crash)."""
    infos = supervisor.processes()
    names = [*layout.services, WEB, *MONITORING]
    by_state = [n for n in names if infos.get(n, {}).get("statename") in LIVE_STATES]
    return by_state or [n for n in names if alive(read_pid(layout.pid_file(n)))]


# ------------------------------------------------------------------------------ start
def start(layout: Layout) -> None:
    supervisor = Supervisor(layout)
    if any(s in layout.services for s in _alive_programs(layout, supervisor)):
        log("the system is already running natively (./run_services.sh status, or stop)")
        status(layout)
        return
    for service, port in layout.ports.items():
        if port_in_use(layout.host, port):
            raise Failure(
                f"port {port} ({service}) is already in use by another program; "
                f"stop it or set {service.upper()}_SERVICE_PORT"
            )
    if layout.web and port_in_use(layout.host, layout.web_port):
        raise Failure(
            f"port {layout.web_port} (storefront) is already in use by another program; "
            "stop it, set WEB_PORT, or NATIVE_WEB=0 to start no storefront"
        )
    for folder in ("logs", "pids"):
        (layout.run_dir / folder).mkdir(parents=True, exist_ok=True)
    if supervisor.state() is not None:  # left over by a run whose programs all exited
        supervisor.shutdown()
    layout.mode_file.write_text("native\n")
    try:
        _start(layout, supervisor)
    except BaseException:
        stop(layout)
        raise
    _print_urls(layout, supervisor)


def _start(layout: Layout, supervisor: Supervisor) -> None:
    env = dict(os.environ)
    users = ["admin", *layout.services]
    secrets = ensure_secrets(
        layout.secrets_file, [*SERVICE_SECRETS, *(password_name(u) for u in users)]
    )
    export_service_secrets(secrets, env)
    env["ENVIRONMENT"] = env.get("ENVIRONMENT") or "development"
    for service in ("user", "product"):
        if service in layout.ports:
            name = f"{service.upper()}_SERVICE_URL"
            env[name] = env.get(name) or layout.url(service)
    stores = datastores.prepare(layout, env, secrets)
    for service in layout.services:  # each program gets only its own URLs (below)
        env.pop(f"{service.upper()}_SERVICE_DATABASE_URL", None)
        env.pop(f"{service.upper()}_SERVICE_REDIS_URL", None)
    programs = [_service(layout, service, stores, env) for service in layout.services]
    programs += _storefront(layout)
    programs += _monitoring(layout)
    supervisor.write_config(programs)
    supervisor.start(env)
    _record_pids(layout, supervisor, [p.name for p in programs])
    for service in layout.services:
        _wait_ready(layout, supervisor, service)
    if layout.web:
        _wait_ready(layout, supervisor, WEB, f"http://{layout.host}:{layout.web_port}/config.json")


def _service(layout: Layout, service: str, stores: Datastores, env: dict[str, str]) -> Program:
    """Migrate `service`'s database, then describe its program."""
    prefix = f"{service.upper()}_SERVICE_"
    metrics = layout.run_dir / "metrics" / service
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    own = {
        f"{prefix}DATABASE_URL": stores.database_urls[service],
        f"{prefix}REDIS_URL": stores.redis_urls[service],
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    log(f"migrating and starting the {service} service on :{layout.ports[service]}")
    _migrate(layout, service, {**env, **own})
    command = [str(layout.venv_bin / "python"), "-m", "shop_common.serve"]
    command += [f"{service}_service.main:create_app", "--host", layout.host]
    command += ["--port", str(layout.ports[service]), "--workers", str(layout.workers)]
    return Program(service, command, own)


def _migrate(layout: Layout, service: str, env: dict[str, str]) -> None:
    log_file = layout.log_file(service)
    with log_file.open("ab") as out:
        code = subprocess.run(
            [str(layout.venv_bin / "alembic"), "-c", "alembic.ini", "-n", service]
            + ["upgrade", "head"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    if code != 0:
        sys.stderr.write(_tail(log_file, 20) + "\n")
        url = masked(env[f"{service.upper()}_SERVICE_DATABASE_URL"])
        raise Failure(f"migrations of {service} failed ({url})")


def _storefront(layout: Layout) -> list[Program]:
    """The storefront's static server (tools/native/storefront.py), unless NATIVE_WEB=0."""
    if not layout.web:
        return []
    log(f"starting the storefront on {layout.storefront_url()}")
    # By path: the program runs in the run folder, and the server needs only the stdlib.
    command = [str(layout.venv_bin / "python"), str(ROOT / "tools" / "native" / "storefront.py")]
    command += ["--host", layout.host, "--port", str(layout.web_port)]
    for service in ("user", "product", "order"):
        default = f"http://localhost:{layout.ports[service]}" if service in layout.ports else ""
        command += [f"--{service}", layout.storefront_api.get(service) or default]
    return [Program(WEB, command)]


def _monitoring(layout: Layout) -> list[Program]:
    """Prometheus (scraping the ports in use) and Alertmanager, when installed."""
    if not layout.monitoring:
        return []
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        warn("prometheus is not installed: skipping it (Debian: apt-get install prometheus)")
        return []
    log(f"starting Prometheus on :{layout.prometheus_port}")
    programs = [
        Program(
            "prometheus",
            [
                prometheus,
                f"--config.file={_prometheus_config(layout)}",
                f"--web.listen-address={layout.host}:{layout.prometheus_port}",
                f"--storage.tsdb.path={layout.run_dir / 'prometheus'}",
            ],
        )
    ]
    alertmanager = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
    if alertmanager is not None:
        log(f"starting Alertmanager on :{layout.alertmanager_port}")
        config = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
        programs.append(
            Program(
                "alertmanager",
                [
                    alertmanager,
                    f"--config.file={config}",
                    f"--web.listen-address={layout.host}:{layout.alertmanager_port}",
                    f"--storage.path={layout.run_dir / 'alertmanager'}",
                    "--cluster.listen-address=",
                ],
            )
        )
    return programs


def _prometheus_config(layout: Layout) -> Path:
    """The native config, pointed at the ports, rules and Alertmanager actually used."""
    text = (ROOT / "monitoring" / "prometheus" / "prometheus.native.yml").read_text()
    for service, default in (("user", 8001), ("product", 8002), ("order", 8003)):
        if service in layout.ports:
            text = text.replace(f"localhost:{default}", f"{layout.host}:{layout.ports[service]}")
    text = text.replace("alerts.yml", str(ROOT / "monitoring" / "prometheus" / "alerts.yml"))
    text = text.replace("127.0.0.1:9093", f"{layout.host}:{layout.alertmanager_port}")
    config = layout.run_dir / "prometheus.yml"
    config.write_text(text)
    return config


def _record_pids(layout: Layout, supervisor: Supervisor, names: list[str]) -> None:
    """Write each program's main pid to its pid file as soon as supervisord knows it."""
    pending, deadline = set(names), time.monotonic() + 15
    while pending and time.monotonic() < deadline:
        infos = supervisor.processes()
        for name in sorted(pending):
            info = infos.get(name, {})
            if info.get("pid"):
                layout.pid_file(name).write_text(f"{info['pid']}\n")
            if info.get("pid") or info.get("statename") in GONE_STATES:
                pending.discard(name)
        time.sleep(0.05)
    if pending:
        raise Failure(f"supervisord did not start {', '.join(sorted(pending))}")


def _wait_ready(
    layout: Layout, supervisor: Supervisor, service: str, url: str | None = None
) -> None:
    """Wait for `service`'s /ready (or for `url` to answer 200)."""
    deadline = time.monotonic() + layout.ready_timeout
    while (ready_status(layout.url(service)) if url is None else http_status(url)) != "200":
        state = supervisor.processes().get(service, {}).get("statename")
        if state in GONE_STATES or time.monotonic() > deadline:
            why = f"exited ({state})" if state in GONE_STATES else "is not ready"
            warn(f"{service} {why} after {layout.ready_timeout}s; last lines of its log:")
            sys.stderr.write(_tail(layout.log_file(service), 30) + "\n")
            raise Failure(f"{service} did not become ready")
        time.sleep(0.5)


def _print_urls(layout: Layout, supervisor: Supervisor) -> None:
    running = _alive_programs(layout, supervisor)
    lines = ["", "The shop is up (native mode):"]
    for service in layout.services:
        url = layout.url(service)
        lines.append(f"  {service:<8} API {url}   docs {url}/docs   metrics {url}/metrics")
    if WEB in running:
        lines.append(f"  storefront {layout.storefront_url()}  (open it in a browser)")
    if "prometheus" in running:
        lines.append(f"  Prometheus http://{layout.host}:{layout.prometheus_port}")
    if "alertmanager" in running:
        lines.append(f"  Alertmanager http://{layout.host}:{layout.alertmanager_port}")
    lines.append("  (Grafana runs in Docker mode: ./run_services.sh --docker)")
    lines.append("  logs: ./run_services.sh logs <service>   stop: ./run_services.sh stop")
    print("\n".join(lines))


# ------------------------------------------------------------------------------ stop
def stop(layout: Layout) -> None:
    """Stop every program, supervisord and the embedded servers this system started."""
    supervisor = Supervisor(layout)
    running = _alive_programs(layout, supervisor)
    for name in running:  # a SIGSTOPped program must be able to take SIGTERM
        pid = read_pid(layout.pid_file(name))
        if pid is not None:
            signal_group(pid, signal.SIGCONT)
    if supervisor.state() is not None:
        for name in (n for n in STOP_ORDER if n in running):
            log(f"stopping {name}")
            supervisor.stop_program(name)
    if supervisor.pidfile.exists():
        supervisor.shutdown()
    for name in STOP_ORDER:  # whatever outlived its supervisord
        pid = read_pid(layout.pid_file(name))
        if alive(pid) and pid is not None:
            log(f"stopping {name}")
            terminate_group(pid, STOP_WAIT_SECONDS)
        layout.pid_file(name).unlink(missing_ok=True)
    datastores.stop_embedded(layout)
    layout.mode_file.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ status, logs
def status(layout: Layout) -> None:
    supervisor = Supervisor(layout)
    infos = supervisor.processes()
    for service in layout.services:
        pid = read_pid(layout.pid_file(service))
        if alive(pid):
            state = f"running (pid {pid}), /ready -> {ready_status(layout.url(service))}"
        else:
            state = str(infos.get(service, {}).get("statename", "stopped")).lower()
        print(f"  {service:<10} {layout.url(service):<28} {state}")
    ports = {"prometheus": layout.prometheus_port, "alertmanager": layout.alertmanager_port}
    if alive(read_pid(layout.pid_file(WEB))):
        print(f"  {'storefront':<10} {layout.storefront_url():<28} running")
    for name, port in ports.items():
        if alive(read_pid(layout.pid_file(name))):
            print(f"  {name:<10} {f'http://{layout.host}:{port}':<28} running")


def logs(layout: Layout, name: str, follow: bool) -> None:
    """Replace this process by `tail` on the log of `name` (so Ctrl-C ends it cleanly)."""
    path = layout.log_file(name)
    if not path.is_file():
        raise Failure(f"no log for '{name}' in {path.parent}")
    args = ["tail", "-n", str(layout.lines_shown), *(["-f"] if follow else []), str(path)]
    os.execvp("tail", args)  # noqa: S606, S607 - tail from PATH, arguments built here
