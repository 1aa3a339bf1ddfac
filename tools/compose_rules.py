"""The rules docker-compose.yml (and the Prometheus config it mounts) must follow.

`rule_groups(doc, scrape)` checks the parsed compose file and monitoring/prometheus/
prometheus.yml and gives the problems of each group of rules:

- wiring: services, health conditions, secrets, URLs, volumes, restart policies;
- images: every image not built here has an exact version tag (a digest may follow);
- PostgreSQL: each service connects as its own role `<name>_service`, never as the
  superuser, whose password only its database container gets; the role is made by
  deploy/postgres/10-app-role.sql on the first start;
- Redis: `requirepass`, and each service logs in as its own ACL user, limited to its key
  prefix `~<name>:*`, no channels, and exactly the commands of REDIS_COMMANDS;
- ports: only the public ports are published, never an internal port; the monitoring UIs
  on MONITORING_BIND_ADDRESS; Prometheus scrapes the internal ports;
- placeholders: the database and Grafana containers start through
  deploy/refuse-placeholders.sh with the names of the passwords they store;
- storefront: `web` published on WEB_PORT with web/ and deploy/web's template mounted,
  depending on nothing, and the template sending the native server's headers
  (tools/native/storefront.py), /config.json, .js as text/javascript and relative redirects.

`self_test_problems` breaks a copy of the compose file in known ways and reports each break
the rules did not notice.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tools.native.storefront import content_security_policy, security_headers
from tools.redis_commands import COMMANDS
from tools.workspace import ROOT, services

__all__ = [
    "INTERNAL_PORTS",
    "REDIS_COMMANDS",
    "dotenv_problems",
    "rule_groups",
    "self_test_problems",
]

Doc = dict[str, Any]

# Which services each one calls (it is given their secrets and waits for them).
UPSTREAM = {"user": (), "product": ("user",), "order": ("user", "product")}
MONITORING = ("prometheus", "alertmanager", "grafana")
WEB = "web"
WEB_TEMPLATE = ROOT / "deploy" / "web" / "default.conf.template"
# The self-test's broken variants of the template ride in the compose document under this key.
WEB_TEMPLATE_KEY = "x-self-test-web-template"
WEB_MOUNTS = [
    "./web:/usr/share/nginx/html:ro",
    "./deploy/web/default.conf.template:/etc/nginx/templates/default.conf.template:ro",
]
# Internal routes and /metrics are served on these ports only (INTERNAL_PORT).
INTERNAL_PORTS = {"user": 9001, "product": 9002, "order": 9003}
# Every Redis command the services send (one list, tools.redis_commands).
REDIS_COMMANDS = frozenset(COMMANDS)
MOUNTS = {
    "prometheus": ["./monitoring/prometheus:/etc/prometheus"],
    "alertmanager": [
        "./monitoring/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml"
    ],
    "grafana": [
        "./monitoring/grafana/provisioning:/etc/grafana/provisioning",
        "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards",
    ],
}
NAMED_VOLUMES = (
    "user-db-data",
    "product-db-data",
    "order-db-data",
    "prometheus-data",
    "grafana-data",
)
GUARD = "./deploy/refuse-placeholders.sh"
GUARD_IN_CONTAINER = "/usr/local/lib/shop/refuse-placeholders.sh"
APP_ROLE_SQL = "./deploy/postgres/10-app-role.sql"
INITDB = "/docker-entrypoint-initdb.d/"
MONITORING_BIND = "${MONITORING_BIND_ADDRESS:-127.0.0.1}:"
# An exact version: X.Y.Z (v optional), PostgreSQL's X.Y; an optional -variant; an
# optional digest (a release pins them: docs/decisions.md, "Containers").
DIGEST = r"(@sha256:[0-9a-f]{64})?"
EXACT_IMAGE = re.compile(r"[a-z0-9][a-z0-9./_-]*:v?\d+\.\d+\.\d+(-[a-z0-9][a-z0-9.]*)?" + DIGEST)
EXACT_POSTGRES = re.compile(r"postgres:\d+\.\d+(-[a-z0-9][a-z0-9.]*)?" + DIGEST)


def required(var: str) -> re.Pattern[str]:
    """`${VAR:?message}`: compose refuses to render without VAR."""
    return re.compile(r"\$\{" + var + r":\?[^}]*\}")


def _is_required(value: Any, var: str) -> bool:
    return required(var).fullmatch(str(value or "")) is not None


def _env(svc: Doc) -> Doc:
    env = svc.get("environment") or {}
    if isinstance(env, list):  # the ["NAME=value"] form
        env = dict(str(e).partition("=")[::2] for e in env)
    return dict(env)


def _container_port(port: Any) -> str:
    """The container side of a `ports:` entry ("[ip:][host:]container[/proto]" or long form)."""
    if isinstance(port, dict):
        return str(port.get("target", ""))
    return str(port).rsplit(":", 1)[-1].split("/")[0]


def _app_problems(name: str, svc: Doc, short: str, port: int) -> Iterator[str]:
    env = _env(svc)
    prefix = f"{short.upper()}_SERVICE_"
    if env.get("ENVIRONMENT") != "production":
        yield f"{name}: ENVIRONMENT must be production"
    for secret in [f"{s.upper()}_SERVICE_SECRET" for s in (short, *UPSTREAM[short])]:
        if not _is_required(env.get(secret), secret):
            yield f"{name}: {secret} must come from .env as ${{{secret}:?...}}"
    if short == "user" and not _is_required(
        env.get("USER_SERVICE_JWT_SECRET"), "USER_SERVICE_JWT_SECRET"
    ):
        yield f"{name}: USER_SERVICE_JWT_SECRET must be required from .env"
    deps = svc.get("depends_on") or {}
    if not isinstance(deps, dict):
        yield f"{name}: depends_on must use the long form with conditions"
        deps = {}
    for dep in [f"{short}-db", f"{short}-redis", *(f"{u}-service" for u in UPSTREAM[short])]:
        if (deps.get(dep) or {}).get("condition") != "service_healthy":
            yield f"{name}: must wait for {dep} to be service_healthy"
    if svc.get("restart") != "unless-stopped":
        yield f"{name}: restart must be unless-stopped"
    if prefix + "DATABASE_URL" not in env:
        yield f"{name}: {prefix}DATABASE_URL missing"


def _database_problems(services_: Doc, short: str) -> Iterator[str]:
    """The service connects as its own role, created by the init script; the superuser's
    password is its database container's alone."""
    up = short.upper()
    role, name = f"{short}_service", f"{short}-db"
    app_env = _env(services_.get(f"{short}-service") or {})
    url = str(app_env.get(f"{up}_SERVICE_DATABASE_URL", ""))
    wanted = re.compile(
        rf"postgresql\+asyncpg://{role}:\$\{{{up}_DB_PASSWORD:\?[^}}]*\}}@{name}:5432/{short}_db"
    )
    if not wanted.fullmatch(url):
        yield (
            f"{short}-service: {up}_SERVICE_DATABASE_URL must be postgresql+asyncpg://{role}:"
            f"${{{up}_DB_PASSWORD:?...}}@{name}:5432/{short}_db"
        )
    db = services_.get(name) or {}
    env = _env(db)
    superuser = str(env.get("POSTGRES_USER", "postgres"))
    if superuser == role or f"://{superuser}:" in url:
        yield f"{name}: the service must not connect as the superuser {superuser}"
    if env.get("APP_DB_ROLE") != role:
        yield f"{name}: APP_DB_ROLE must be {role} (the role 10-app-role.sql creates)"
    if not _is_required(env.get("APP_DB_PASSWORD"), f"{up}_DB_PASSWORD"):
        yield f"{name}: APP_DB_PASSWORD must be ${{{up}_DB_PASSWORD:?...}}"
    if not _is_required(env.get("POSTGRES_PASSWORD"), f"{up}_DB_SUPERUSER_PASSWORD"):
        yield f"{name}: POSTGRES_PASSWORD must be ${{{up}_DB_SUPERUSER_PASSWORD:?...}}"
    if env.get("POSTGRES_DB") != f"{short}_db":
        yield f"{name}: POSTGRES_DB must be {short}_db"
    volumes = [str(v) for v in db.get("volumes") or []]
    if not any(v.startswith(f"{APP_ROLE_SQL}:{INITDB}") for v in volumes):
        yield f"{name}: must mount {APP_ROLE_SQL} into {INITDB}"
    if not any(v.endswith(":/var/lib/postgresql/data") for v in volumes):
        yield f"{name}: needs a volume on /var/lib/postgresql/data"
    test = str((db.get("healthcheck") or {}).get("test"))
    if "pg_isready" not in test or "psql" not in test or "APP_DB_ROLE" not in test:
        yield f"{name}: healthcheck must use pg_isready, then log in with psql as APP_DB_ROLE"
    for other, svc in services_.items():
        if other != name and f"{up}_DB_SUPERUSER_PASSWORD" in str(svc):
            yield f"{other}: must not be given {up}_DB_SUPERUSER_PASSWORD (only {name})"


def _acl_user(command: list[str]) -> list[str]:
    """The words after `--user` up to the next `--option`."""
    if "--user" not in command:
        return []
    words = command[command.index("--user") + 1 :]
    end = next((i for i, w in enumerate(words) if w.startswith("--")), len(words))
    return words[:end]


def _acl_problems(name: str, rules: list[str], short: str) -> Iterator[str]:
    up = short.upper()
    if rules[:2] != [f"{short}_service", "on"]:
        yield f"{name}: --user must start with {short}_service on"
    passwords = [r for r in rules if r.startswith((">", "#", "<"))]
    if len(passwords) != 1 or not _is_required(passwords[0][1:], f"{up}_REDIS_PASSWORD"):
        yield f"{name}: the ACL user needs the one password >${{{up}_REDIS_PASSWORD:?...}}"
    keys = [r for r in rules if r.startswith(("~", "%"))]
    if keys != [f"~{short}:*"]:
        yield f"{name}: the ACL user's keys must be exactly ~{short}:* (found {keys})"
    broad = {"allkeys", "allchannels", "allcommands", "nopass", "+@all"}
    for rule in rules:
        if rule in broad or rule.startswith(("&", "+@")):
            yield f"{name}: the ACL user must not get {rule}"
    if "resetchannels" not in rules:
        yield f"{name}: the ACL user needs resetchannels (no pub/sub)"
    granted = [r for r in rules if r.startswith("+")]
    if "-@all" not in rules or any(rules.index(g) < rules.index("-@all") for g in granted):
        yield f"{name}: the ACL user must start from -@all before granting commands"
    commands = {g[1:] for g in granted}
    if commands != REDIS_COMMANDS:
        extra, missing = sorted(commands - REDIS_COMMANDS), sorted(REDIS_COMMANDS - commands)
        yield f"{name}: ACL commands differ from REDIS_COMMANDS: extra {extra}, missing {missing}"


def _redis_problems(services_: Doc, short: str) -> Iterator[str]:
    up, name = short.upper(), f"{short}-redis"
    redis = services_.get(name) or {}
    command = [str(w) for w in redis.get("command") or []]
    if command[:1] != ["redis-server"]:
        yield f"{name}: command must be redis-server with its options as a list"
    option = command[command.index("--requirepass") + 1 :][:1] if "--requirepass" in command else []
    if not option or not _is_required(option[0], f"{up}_REDIS_ADMIN_PASSWORD"):
        yield f"{name}: needs --requirepass ${{{up}_REDIS_ADMIN_PASSWORD:?...}}"
    if command.count("--user") != 1:
        yield f"{name}: needs exactly one --user (the service's)"
    yield from _acl_problems(name, _acl_user(command), short)
    app_env = _env(services_.get(f"{short}-service") or {})
    url = str(app_env.get(f"{up}_SERVICE_REDIS_URL", ""))
    wanted = rf"redis://{short}_service:\$\{{{up}_REDIS_PASSWORD:\?[^}}]*\}}@{name}:6379/0"
    if not re.fullmatch(wanted, url):
        yield (
            f"{short}-service: {up}_SERVICE_REDIS_URL must be redis://{short}_service:"
            f"${{{up}_REDIS_PASSWORD:?...}}@{name}:6379/0"
        )
    env = _env(redis)
    test = str((redis.get("healthcheck") or {}).get("test"))
    if "ping" not in test or "--user" not in test or env.get("REDIS_USER") != f"{short}_service":
        yield f"{name}: healthcheck must ping as {short}_service (REDIS_USER)"
    if not _is_required(env.get("REDISCLI_AUTH"), f"{up}_REDIS_PASSWORD"):
        yield f"{name}: REDISCLI_AUTH (the health check's password) must be {up}_REDIS_PASSWORD"


def _image_problems(services_: Doc) -> Iterator[str]:
    for name, svc in services_.items():
        if "build" in svc:
            continue
        image = str(svc.get("image", ""))
        exact = EXACT_POSTGRES if image.startswith("postgres:") else EXACT_IMAGE
        if not exact.fullmatch(image):
            yield f"{name}: image {image!r} is not pinned to an exact version"
    for short in (s.name for s in services()):
        if not str((services_.get(f"{short}-db") or {}).get("image", "")).startswith(
            "postgres:16."
        ):
            yield f"{short}-db: image must be postgres:16.N"
        if not str((services_.get(f"{short}-redis") or {}).get("image", "")).startswith("redis:7."):
            yield f"{short}-redis: image must be redis:7.N.N (ACL selectors, CLIENT SETINFO)"


def _port_problems(services_: Doc) -> Iterator[str]:
    for service in services():
        name, internal = service.compose_name, INTERNAL_PORTS[service.name]
        svc = services_.get(name) or {}
        env = _env(svc)
        ports = svc.get("ports") or []
        if [str(p) for p in ports] != [f"{service.port}:{service.port}"]:
            yield f"{name}: publish exactly {service.port}:{service.port}"
        if str(env.get("INTERNAL_PORT")) != str(internal):
            yield f"{name}: INTERNAL_PORT must be {internal}"
        if any(_container_port(p) == str(internal) for p in ports):
            yield f"{name}: the internal port {internal} must not be published"
        for other in services():
            url = f"http://{other.compose_name}:{INTERNAL_PORTS[other.name]}"
            if env.get(f"{other.name.upper()}_SERVICE_URL") != url:
                yield f"{name}: {other.name.upper()}_SERVICE_URL must be {url} (internal port)"
    for short in (s.name for s in services()):
        for store in (f"{short}-db", f"{short}-redis"):
            if "ports" in (services_.get(store) or {}):
                yield f"{store}: must not publish ports"
    for name in MONITORING:
        for port in (services_.get(name) or {}).get("ports") or []:
            if not str(port).startswith(MONITORING_BIND):
                yield f"{name}: port {port} must be bound to {MONITORING_BIND.rstrip(':')}"
    grafana = services_.get("grafana") or {}
    if [str(p) for p in grafana.get("ports") or []] != [
        f"{MONITORING_BIND}${{GRAFANA_PORT:-3030}}:3000"
    ]:
        yield f"grafana: port must be {MONITORING_BIND}${{GRAFANA_PORT:-3030}}:3000"


def _scrape_problems(scrape: Doc) -> Iterator[str]:
    """The docker Prometheus scrapes each service on its internal port."""
    jobs = {str(job.get("job_name")): job for job in scrape.get("scrape_configs") or []}
    for service in services():
        job = jobs.get(service.compose_name) or {}
        targets = [t for c in job.get("static_configs") or [] for t in c.get("targets") or []]
        wanted = [f"{service.compose_name}:{INTERNAL_PORTS[service.name]}"]
        if targets != wanted or job.get("metrics_path", "/metrics") != "/metrics":
            yield f"prometheus.yml: job {service.compose_name} must scrape {wanted[0]}/metrics"


def _guard_problems(services_: Doc) -> Iterator[str]:
    """Containers that store a password refuse a placeholder before they start."""
    wanted = {
        f"{s.name}-db": (["POSTGRES_PASSWORD", "APP_DB_PASSWORD"], ["docker-entrypoint.sh"])
        for s in services()
    }
    wanted["grafana"] = (["GF_SECURITY_ADMIN_PASSWORD"], ["/run.sh"])
    for name, (names, then) in wanted.items():
        svc = services_.get(name) or {}
        entrypoint = [str(w) for w in svc.get("entrypoint") or []]
        if entrypoint != ["sh", GUARD_IN_CONTAINER, *names, "--", *then]:
            wanted_words = " ".join(["sh", GUARD_IN_CONTAINER, *names, "--", *then])
            yield f"{name}: entrypoint must be {wanted_words}"
        if f"{GUARD}:{GUARD_IN_CONTAINER}:ro" not in [str(v) for v in svc.get("volumes") or []]:
            yield f"{name}: must mount {GUARD} read-only at {GUARD_IN_CONTAINER}"
        if name.endswith("-db") and [str(c) for c in svc.get("command") or []] != ["postgres"]:
            yield f"{name}: command must be [postgres] (an entrypoint clears the image's)"


def _web_problems(services_: Doc, template: str) -> Iterator[str]:
    """The storefront: published on WEB_PORT, web/ mounted read-only, and nginx sending the
    very policy of the native server (tools/native/storefront.py), .js as text/javascript and
    relative redirects."""
    web = services_.get(WEB) or {}
    if [str(p) for p in web.get("ports") or []] != ["${WEB_PORT:-5173}:8080"]:
        yield f"{WEB}: port must be ${{WEB_PORT:-5173}}:8080"
    volumes = [str(v) for v in web.get("volumes") or []]
    for mount in WEB_MOUNTS:
        if mount not in volumes:
            yield f"{WEB}: must mount {mount}"
    if web.get("depends_on"):
        yield f"{WEB}: depends on nothing (the page calls the services from the browser)"
    placeholders = {s: f"${{STOREFRONT_{s.upper()}_API}}" for s in ("user", "product", "order")}
    env = _env(web)
    for name in placeholders.values():
        if name.strip("${}") not in env:
            yield f"{WEB}: {name.strip('${}')} must be set"
    expected = {
        "Content-Security-Policy": content_security_policy(
            {s: f"https://{s}.example" for s in placeholders}
        ),
        **{k: v for k, v in security_headers({}).items() if k != "Content-Security-Policy"},
    }
    sent = dict(re.findall(r'add_header\s+(\S+)\s+"([^"]*)"\s+always;', template))
    for service, placeholder in placeholders.items():
        sent = {k: v.replace(placeholder, f"https://{service}.example") for k, v in sent.items()}
    for header, value in expected.items():
        if sent.get(header) != value:
            yield f"deploy/web: {header} must be {value!r} as natively, not {sent.get(header)!r}"
    if "location = /config.json" not in template:
        yield "deploy/web: /config.json is not served"
    # nginx's own mime.types maps js to application/javascript; the native server and RFC 9239
    # say text/javascript.
    if not re.search(r"types\s*\{\s*text/javascript\s+js;\s*\}", template):
        yield "deploy/web: .js must be served as text/javascript (types { text/javascript js; })"
    # An absolute Location would name the container's port (8080), not the published one.
    if not re.search(r"^\s*absolute_redirect\s+off;", template, re.MULTILINE):
        yield "deploy/web: absolute_redirect off (redirects relative, as natively)"


def _wiring_problems(doc: Doc) -> Iterator[str]:
    services_ = doc.get("services") or {}
    expected = {s.compose_name for s in services()} | set(MONITORING) | {WEB}
    expected |= {f"{s.name}-{kind}" for s in services() for kind in ("db", "redis")}
    if set(services_) != expected:
        yield (
            f"services differ: missing {sorted(expected - set(services_))}, "
            f"unexpected {sorted(set(services_) - expected)}"
        )
    for s in services():
        yield from _app_problems(
            s.compose_name, services_.get(s.compose_name) or {}, s.name, s.port
        )
    for name, wanted in MOUNTS.items():
        volumes = [str(v) for v in (services_.get(name) or {}).get("volumes") or []]
        for mount in wanted:
            if not any(v.startswith(mount) for v in volumes):
                yield f"{name}: missing mount {mount}"
    for name, svc in services_.items():
        for volume in svc.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith("./") and not (ROOT / source).exists():
                yield f"{name}: mounts {source}, which does not exist"
    grafana_env = _env(services_.get("grafana") or {})
    if not _is_required(grafana_env.get("GF_SECURITY_ADMIN_PASSWORD"), "GRAFANA_ADMIN_PASSWORD"):
        yield "grafana: admin password must be required from .env"
    named = set(doc.get("volumes") or {})
    for volume in NAMED_VOLUMES:
        if volume not in named:
            yield f"named volume {volume} missing"


def rule_groups(doc: Doc, scrape: Doc) -> dict[str, list[str]]:
    """Problems per group of rules (each group is one line of the report)."""
    services_ = doc.get("services") or {}
    shorts = [s.name for s in services()]
    return {
        "services, health conditions, secrets, restarts and volumes are wired as intended": list(
            _wiring_problems(doc)
        ),
        "every image not built here has an exact version tag": list(_image_problems(services_)),
        "PostgreSQL: each service connects as its own role, never as the superuser": [
            p for short in shorts for p in _database_problems(services_, short)
        ],
        "Redis: requirepass, and each service as its own ACL user on ~<name>:* with only "
        "the commands it sends": [p for short in shorts for p in _redis_problems(services_, short)],
        "ports: internal ports unpublished and used by callers, monitoring on "
        "MONITORING_BIND_ADDRESS": list(_port_problems(services_)),
        "prometheus.yml scrapes every service on its internal port": list(_scrape_problems(scrape)),
        "databases and Grafana refuse placeholder passwords at start "
        "(deploy/refuse-placeholders.sh)": list(_guard_problems(services_)),
        "the storefront is served with the native server's headers and config": list(
            _web_problems(services_, doc.get(WEB_TEMPLATE_KEY) or WEB_TEMPLATE.read_text())
        ),
    }


def dotenv_problems(values: Mapping[str, str | None]) -> list[str]:
    """Secrets of a real .env that are still placeholders or too short to be random."""
    problems = []
    for name, value in values.items():
        if not name.endswith(("PASSWORD", "SECRET")) or (name.endswith("_PREVIOUS") and not value):
            continue
        text = value or ""
        if any(m in text.lower() for m in ("change-me", "changeme", "change_me", "placeholder")):
            problems.append(f".env: {name} is still a placeholder")
        elif len(text) < 32:
            problems.append(f".env: {name} is shorter than 32 characters")
    return problems


Break = Callable[[Doc, Doc], None]


def _services_of(doc: Doc) -> Doc:
    services_: Doc = doc["services"]
    return services_


def _user_redis_command(doc: Doc) -> list[str]:
    command: list[str] = _services_of(doc)["user-redis"]["command"]
    return command


def _breaks() -> dict[str, Break]:
    """Known-bad variants, each of which some rule must refuse."""

    def redis_rule(old: str, new: str) -> Break:
        def apply(doc: Doc, _: Doc) -> None:
            command = _user_redis_command(doc)
            command[command.index(old)] = new

        return apply

    def app_env(key: str, value: str) -> Break:
        def apply(doc: Doc, _: Doc) -> None:
            _services_of(doc)["order-service"]["environment"][key] = value

        return apply

    def publish_internal(doc: Doc, _: Doc) -> None:
        _services_of(doc)["user-service"]["ports"].append("9001:9001")

    def grafana_on_all_interfaces(doc: Doc, _: Doc) -> None:
        _services_of(doc)["grafana"]["ports"] = ["${GRAFANA_PORT:-3030}:3000"]

    def floating_tag(doc: Doc, _: Doc) -> None:
        _services_of(doc)["product-db"]["image"] = "postgres:16-alpine"

    def no_guard(doc: Doc, _: Doc) -> None:
        del _services_of(doc)["order-db"]["entrypoint"]

    def web_without_csp(doc: Doc, _: Doc) -> None:
        template = doc.get(WEB_TEMPLATE_KEY) or WEB_TEMPLATE.read_text()
        doc[WEB_TEMPLATE_KEY] = template.replace("script-src 'self'", "script-src *")

    def web_template(old: str, new: str) -> Break:
        def apply(doc: Doc, _: Doc) -> None:
            template = doc.get(WEB_TEMPLATE_KEY) or WEB_TEMPLATE.read_text()
            doc[WEB_TEMPLATE_KEY] = template.replace(old, new)

        return apply

    def scrape_public_port(_: Doc, scrape: Doc) -> None:
        scrape["scrape_configs"][0]["static_configs"] = [{"targets": ["user-service:8001"]}]

    return {
        "Redis without --requirepass": redis_rule("--requirepass", "--port"),
        "an ACL user on every key": redis_rule("~user:*", "~*"),
        "an ACL user with every command": redis_rule("+ping", "+@all"),
        "an ACL user allowed KEYS": redis_rule("+pttl", "+keys"),
        "the order service as the postgres superuser": app_env(
            "ORDER_SERVICE_DATABASE_URL",
            "postgresql+asyncpg://postgres:${ORDER_DB_SUPERUSER_PASSWORD:?x}@order-db:5432/order_db",
        ),
        "Redis without a user in the URL": app_env(
            "ORDER_SERVICE_REDIS_URL", "redis://order-redis:6379/0"
        ),
        "a call to the public port": app_env("USER_SERVICE_URL", "http://user-service:8001"),
        "an internal port published": publish_internal,
        "Grafana on every interface": grafana_on_all_interfaces,
        "a floating image tag": floating_tag,
        "a database without the placeholder check": no_guard,
        "Prometheus scraping a public port": scrape_public_port,
        "the storefront allowing scripts from anywhere": web_without_csp,
        "the storefront's .js as nginx's application/javascript": web_template(
            "text/javascript js;", "application/javascript js;"
        ),
        "the storefront redirecting to the container's port": web_template(
            "absolute_redirect off;", "absolute_redirect on;"
        ),
    }


def _count(groups: dict[str, list[str]]) -> int:
    return sum(len(problems) for problems in groups.values())


def self_test_problems(doc: Doc, scrape: Doc) -> list[str]:
    """Each known-bad variant must add a problem; one that adds none is reported."""
    baseline = _count(rule_groups(doc, scrape))
    unnoticed = []
    for title, apply in _breaks().items():
        broken, broken_scrape = copy.deepcopy(doc), copy.deepcopy(scrape)
        apply(broken, broken_scrape)
        if _count(rule_groups(broken, broken_scrape)) <= baseline:
            unnoticed.append(f"not refused: {title}")
    samples = {"X_PASSWORD": "change-me-x", "Y_SECRET": "short", "Z_SECRET_PREVIOUS": ""}
    if len(dotenv_problems(samples)) != 2:
        unnoticed.append("not refused: placeholder or short secrets in a .env")
    return unnoticed
