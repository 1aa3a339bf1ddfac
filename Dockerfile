# syntax=docker/dockerfile:1
# One image recipe for every service. Build from the repository root, naming the service
# and its port (docker-compose.yml passes the same build arguments):
#   docker build --build-arg SERVICE=order --build-arg PORT=8003 -t shop/order-service .
#
# Stage 1 resolves the locked dependencies of that one workspace member into /app/.venv
# (workspace packages installed as wheels, not editable); stage 2 carries only that venv
# plus the service's Alembic migrations.

FROM python:3.11.14-slim-bookworm AS builder

# user | product | order
ARG SERVICE

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

RUN case "${SERVICE}" in \
        user|product|order) ;; \
        *) echo "build with --build-arg SERVICE=user|product|order (got '${SERVICE}')" >&2; exit 1 ;; \
    esac

# Dependency layer: only the workspace manifests and the lock file, so that editing source
# code neither re-resolves nor re-downloads third-party packages. Every member's
# pyproject.toml is needed for `--locked` to validate uv.lock.
COPY pyproject.toml uv.lock ./
COPY common/pyproject.toml common/pyproject.toml
COPY contracts/pyproject.toml contracts/pyproject.toml
COPY user_service/pyproject.toml user_service/pyproject.toml
COPY product_service/pyproject.toml product_service/pyproject.toml
COPY order_service/pyproject.toml order_service/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package "${SERVICE}-service" --no-editable --no-install-workspace

# Source layer: the shared libraries and this one service, built into the venv.
COPY common/src common/src
COPY contracts/src contracts/src
COPY ${SERVICE}_service/src ${SERVICE}_service/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --package "${SERVICE}-service" --no-editable


FROM python:3.11.14-slim-bookworm AS runtime

ARG SERVICE
ARG PORT

ENV SERVICE=${SERVICE} \
    PORT=${PORT} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    ENVIRONMENT=production \
    WEB_CONCURRENCY=2 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

WORKDIR /app

# Code and migrations stay owned by root: the service user can read, not change them.
COPY --from=builder /app/.venv /app/.venv
COPY alembic.ini alembic.ini
COPY ${SERVICE}_service/migrations ${SERVICE}_service/migrations

USER 10001:10001

EXPOSE ${PORT}

# Through sh, so that $PORT is the container's own at run time.
HEALTHCHECK --interval=10s --timeout=5s --start-period=40s --retries=5 \
    CMD ["sh", "-c", "exec python -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=4).status != 200)' \"http://127.0.0.1:${PORT}/ready\""]

# Start from an empty metrics directory (stale files from a previous run would be summed
# into /metrics), apply the migrations unless MIGRATE_ON_START=0 (Kubernetes runs them once
# per release in a Job: deploy/kubernetes), then hand PID 1 to the
# service (shop_common.serve runs uvicorn).
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && { [ \"${MIGRATE_ON_START:-1}\" = 0 ] || alembic -c /app/alembic.ini -n \"$SERVICE\" upgrade head ; } && exec python -m shop_common.serve \"${SERVICE}_service.main:create_app\" --host 0.0.0.0 --port \"$PORT\" --workers \"${WEB_CONCURRENCY:-2}\""]
