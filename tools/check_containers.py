"""Static checks of the container setup, runnable without a Docker engine.

    python -m tools.check_containers        (scripts/check_containers.sh runs it)

- docker-compose.yml renders with .env.example and refuses to without any required
  secret; .env.example defines every variable compose uses; a real .env holds no
  placeholder (tools.compose);
- compose wires services, health checks, secrets, URLs and volumes as intended; images
  are pinned exactly; each service uses its own PostgreSQL role and Redis ACL user;
  internal ports stay unpublished; the monitoring UIs bind to MONITORING_BIND_ADDRESS;
  databases and Grafana refuse placeholder passwords; a self-test breaks a copy of the
  file in known ways and expects each break refused (tools.compose_rules);
- the one Dockerfile, rendered for each service with its build arguments, follows the
  image rules, and compose, CI and .dockerignore agree with it; the storefront's
  deploy/web/Dockerfile builds what compose's web container runs (tools.image_rules);
- hadolint, actionlint and shellcheck, and no shell script embeds another language
  (tools.linters).

Exits non-zero on any failure. Building the images and starting the stack need a Docker
engine; CI's `docker` job builds each image.
"""

from __future__ import annotations

import sys

from tools.compose import check_compose
from tools.image_rules import agreement_problems, service_problems, storefront_problems
from tools.linters import check_linters
from tools.report import Report
from tools.workspace import services


def main() -> int:
    report = Report("check_containers")
    doc = check_compose(report)

    report.section("Dockerfile")
    for service in services():
        report.check(
            f"{service.name}: pinned base, uv from its image with cache mounts, locked sync of "
            "deps then sources, non-root USER, HEALTHCHECK on /ready, migrations then "
            "shop_common.serve",
            service_problems(service),
        )
    report.check(
        "compose and CI build every service from the one Dockerfile with SERVICE and PORT",
        agreement_problems(doc),
    )
    report.check(
        "the storefront's image (deploy/web/Dockerfile, for Kubernetes) is compose's web "
        "container: same image, files, port and health check",
        storefront_problems(doc),
    )

    check_linters(report)

    report.section("not checked here")
    report.info("Building the images and starting the stack need a Docker engine; CI's 'docker'")
    report.info("job builds each image. Run 'docker compose up -d --build' to try the stack.")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
