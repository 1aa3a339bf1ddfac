#!/usr/bin/env bash
# Static checks of the container setup (Dockerfile, .dockerignore, docker-compose.yml,
# .env.example, the CI workflow, shell scripts), runnable without a Docker engine.
# The checks are Python: tools/check_containers.py (see its docstring). Exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if command -v uv >/dev/null 2>&1; then
  exec uv run --locked python -m tools.check_containers "$@"
fi
exec .venv/bin/python -m tools.check_containers "$@"
