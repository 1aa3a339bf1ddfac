"""Repository tooling in Python: the checks run by run_unit_test.sh and CI.

Each check is a module run with `python -m tools.<name>` from the repository root (the
shell scripts in scripts/ are thin entry points to them):

- `check_containers`: Dockerfile, .dockerignore, docker-compose.yml, .env.example, hadolint,
  actionlint and shellcheck;
- `check_monitoring`: Prometheus, alert rules, Alertmanager, Grafana dashboards and the
  metric names they use, checked against the metrics the code declares (`tools.metrics`);
- `check_exported_metrics`: the running services export what dashboards and alerts use;
- `net`: small network probes for the shell scripts (`ready URL`, `port-in-use HOST PORT`).
- `native`: native mode of ./run_services.sh (supervisord, embedded datastores, Redis ACLs).
"""

import os

# The tools read metric declarations in their own memory only: with PROMETHEUS_MULTIPROC_DIR
# set (inherited from a service's environment), prometheus_client would write sample files
# into a running service's metrics directory. Cleared before anything imports it.
for _name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
    os.environ.pop(_name, None)
