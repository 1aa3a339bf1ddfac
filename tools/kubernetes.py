"""The Kubernetes manifests (deploy/kubernetes): the PrometheusRule generated from the alert
rules, and the checks that need no cluster.

    python -m tools.kubernetes generate   # (re)write base/monitoring/prometheusrule.yaml
    python -m tools.kubernetes check      # render, validate, policy; exit 1 on a problem

`check` renders each overlay with `kubectl kustomize` (kustomize v5), validates every object
against the Kubernetes 1.31 schemas (kubernetes-validate; ServiceMonitor and PrometheusRule
have none there and are checked by the policy instead), runs the PrometheusRule's rules
through `promtool check rules`, and applies the policy of `policy_problems`. A self-test
breaks a rendered overlay in known ways and expects each break refused.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from order_service.config import Settings as OrderSettings
from tools.workspace import ROOT

__all__ = ["generate_prometheus_rule", "policy_problems", "render"]

KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("dev", "production")
ALERTS = ROOT / "monitoring" / "prometheus" / "alerts.yml"
RULE_FILE = KUBE / "base" / "monitoring" / "prometheusrule.yaml"
KUBERNETES_VERSION = "1.31.0"
NO_SCHEMA = {"ServiceMonitor", "PrometheusRule"}
SERVICES = {"user": (8001, 9001), "product": (8002, 9002), "order": (8003, 9003)}
# Who may reach a service's internal port (api.md, "Internal calls"); Prometheus too.
INTERNAL_CALLERS = {"user": {"product", "order"}, "product": {"order"}, "order": set()}
INGRESS_ROUTES = {"/api/v1/product": "product", "/api/v1/order": "order", "/api/v1": "user"}
INGRESS_ROUTES["/"] = "web"
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
PRESTOP_SECONDS = 5

Obj = dict[str, Any]


# ------------------------------------------------------------------------------ generate
def generate_prometheus_rule() -> str:
    """The PrometheusRule whose groups are monitoring/prometheus/alerts.yml's, as text."""
    alerts = yaml.safe_load(ALERTS.read_text())
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "shop-alerts", "labels": {"app.kubernetes.io/name": "shop"}},
        "spec": {"groups": alerts["groups"]},
    }
    header = (
        "# GENERATED from monitoring/prometheus/alerts.yml by `python -m tools.kubernetes "
        "generate`:\n# do not edit (the check fails when it differs from a fresh generation).\n"
    )
    return header + yaml.safe_dump(rule, sort_keys=False, width=100)


# ------------------------------------------------------------------------------ render
def render(overlay: str) -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl not found: it renders the overlays (kubectl kustomize)")
    out = subprocess.run(
        [kubectl, "kustomize", str(KUBE / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def schema_problems(objects: list[Obj]) -> list[str]:
    import kubernetes_validate  # type: ignore[import-untyped]

    problems = []
    for obj in objects:
        if obj.get("kind") in NO_SCHEMA:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{_name(obj)}: {error.message} at {list(error.path)}")
    return problems


def promtool_problems(objects: list[Obj]) -> list[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        return ["promtool not found (apt-get install prometheus): the PrometheusRule is unchecked"]
    problems = []
    for obj in _kind(objects, "PrometheusRule"):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
            yaml.safe_dump({"groups": obj["spec"]["groups"]}, handle)
        result = subprocess.run(
            [promtool, "check", "rules", handle.name], capture_output=True, text=True
        )
        Path(handle.name).unlink()
        if result.returncode != 0:
            problems.append(f"{_name(obj)}: promtool: {result.stdout}{result.stderr}".strip())
    return problems


# ------------------------------------------------------------------------------ policy
def _name(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def _pod(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"]
    return spec


def _container_problems(obj: Obj, version: str) -> Iterator[str]:
    pod = _pod(obj)
    long_running = obj["kind"] != "Job"
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for c in pod.get("containers") or []:
        where = f"{_name(obj)} container {c['name']}"
        security = c.get("securityContext") or {}
        if security.get("readOnlyRootFilesystem") is not True:
            yield f"{where}: readOnlyRootFilesystem must be true"
        if security.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation must be false"
        if (security.get("capabilities") or {}).get("drop") != ["ALL"]:
            yield f"{where}: must drop ALL capabilities"
        if not (
            security.get("runAsNonRoot") or (pod.get("securityContext") or {}).get("runAsNonRoot")
        ):
            yield f"{where}: runAsNonRoot must be true"
        resources = c.get("resources") or {}
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(part) or {}):
                    yield f"{where}: {part}.{resource} missing"
        image = str(c.get("image", ""))
        name, _, tag = image.rpartition(":")
        if not name or tag in ("", "latest"):
            yield f"{where}: image {image!r} has no pinned tag"
        elif image.startswith("shop/") and tag != version:
            yield f"{where}: image {image!r} is not the project's version {version}"
        if long_running:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in c:
                    yield f"{where}: {probe} missing"
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
        if "/tmp" not in mounts or "emptyDir" not in volumes.get(mounts["/tmp"], {}):  # noqa: S108
            yield f"{where}: /tmp must be an emptyDir (read-only root filesystem)"


def _app_problems(objects: list[Obj]) -> Iterator[str]:
    deployments = {d["metadata"]["name"]: d for d in _kind(objects, "Deployment")}
    budget = OrderSettings.model_validate(
        {"environment": "development", "database_url": "postgresql+asyncpg://x@/y"}
    ).route_budget_seconds("POST /api/v1/order/")
    for service, (_, internal) in SERVICES.items():
        deployment = deployments.get(service)
        if deployment is None:
            yield f"Deployment/{service} missing"
            continue
        if int(deployment["spec"].get("replicas", 1)) < 2:
            yield f"Deployment/{service}: fewer than 2 replicas"
        pod = _pod(deployment)
        container = pod["containers"][0]
        probes = {
            p: (container.get(p) or {}).get("httpGet", {}).get("path")
            for p in ("startupProbe", "livenessProbe", "readinessProbe")
        }
        if probes != {
            "startupProbe": "/health-check/",
            "livenessProbe": "/health-check/",
            "readinessProbe": "/ready",
        }:
            yield f"Deployment/{service}: probes must be /health-check/ (startup, liveness), /ready"
        env = {e["name"]: e.get("value") for e in container.get("env") or []}
        if env.get("MIGRATE_ON_START") != "0":
            yield f"Deployment/{service}: MIGRATE_ON_START must be 0 (the Job migrates)"
        if env.get("INTERNAL_PORT") != str(internal):
            yield f"Deployment/{service}: INTERNAL_PORT must be {internal}"
        yield from _metrics_volume_problems(service, pod, env.get("PROMETHEUS_MULTIPROC_DIR"))
        grace = int(pod.get("terminationGracePeriodSeconds", 30))
        if grace <= budget + PRESTOP_SECONDS:
            yield (
                f"Deployment/{service}: terminationGracePeriodSeconds {grace} must exceed the "
                f"longest order request ({budget:.0f} s) plus the preStop pause"
            )
        if "preStop" not in (container.get("lifecycle") or {}):
            yield f"Deployment/{service}: preStop missing"
        for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "ServiceMonitor"):
            if not any(o["metadata"]["name"] == service for o in _kind(objects, kind)):
                yield f"{kind}/{service} missing"
        jobs = [j for j in _kind(objects, "Job") if j["metadata"]["name"] == f"{service}-migrate"]
        command = (_pod(jobs[0])["containers"][0].get("command") if jobs else None) or []
        if command[:1] != ["alembic"] or service not in command:
            yield f"Job/{service}-migrate must run alembic for {service}"


def _metrics_volume_problems(service: str, pod: Obj, directory: str | None) -> Iterator[str]:
    """The workers' metric files sit on an emptyDir of their own: filling it (a series per
    label set) cannot fill `/tmp`, nor the other way round."""
    where = f"Deployment/{service}"
    if not directory:
        yield f"{where}: PROMETHEUS_MULTIPROC_DIR must be set (the image puts it under /tmp)"
        return
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = pod["containers"][0].get("volumeMounts") or []
    holding = [m for m in mounts if (directory + "/").startswith(m["mountPath"].rstrip("/") + "/")]
    mount = max(holding, key=lambda m: len(m["mountPath"]), default=None)
    if mount is None or mount["mountPath"] == "/tmp":  # noqa: S108
        yield f"{where}: PROMETHEUS_MULTIPROC_DIR must be on its own emptyDir, not /tmp's"
    elif "emptyDir" not in volumes.get(mount["name"], {}):
        yield f"{where}: PROMETHEUS_MULTIPROC_DIR's volume must be an emptyDir"


def _port_problems(objects: list[Obj]) -> Iterator[str]:
    """Every port a Service names exists, by that name, in the pods it selects."""
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    for service in _kind(objects, "Service"):
        selector = service["spec"].get("selector") or {}
        pods = [
            w
            for w in workloads
            if selector
            and all(
                (w["spec"]["template"]["metadata"].get("labels") or {}).get(k) == v
                for k, v in selector.items()
            )
        ]
        if not pods:
            yield f"{_name(service)}: selects no workload"
            continue
        names = {
            p.get("name") for w in pods for c in _pod(w)["containers"] for p in c.get("ports") or []
        }
        for port in service["spec"]["ports"]:
            if port.get("targetPort") not in names:
                target = port.get("targetPort")
                yield f"{_name(service)}: targetPort {target!r} is no named container port"


def _ingress_problems(objects: list[Obj]) -> Iterator[str]:
    services = {s["metadata"]["name"]: s for s in _kind(objects, "Service")}
    ingresses = _kind(objects, "Ingress")
    if len(ingresses) != 1:
        yield "exactly one Ingress expected"
        return
    paths = {
        p["path"]: p["backend"]["service"]
        for rule in ingresses[0]["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    if set(paths) != set(INGRESS_ROUTES):
        yield f"Ingress paths must be {sorted(INGRESS_ROUTES)}, not {sorted(paths)}"
    for path, wanted in INGRESS_ROUTES.items():
        backend = paths.get(path) or {}
        if backend.get("name") != wanted or backend.get("port", {}).get("name") != "http":
            yield f"Ingress {path} must go to Service {wanted} port http"
        elif wanted not in services:
            yield f"Ingress {path}: Service {wanted} does not exist"
    # the longest matching prefix wins: check a few public paths end where they should
    for sample, wanted in {
        "/api/v1/product/": "product",
        "/api/v1/order/x/": "order",
        "/api/v1/login/": "user",
        "/api/v1/profile/": "user",
        "/": "web",
        "/index.html": "web",
    }.items():
        matches = [
            p for p in paths if sample == p or sample.startswith(p.rstrip("/") + "/") or p == "/"
        ]
        chosen = paths[max(matches, key=len)]["name"] if matches else None
        if chosen != wanted:
            yield f"Ingress sends {sample} to {chosen}, not {wanted}"


def _labels(peer: Obj) -> Obj:
    return dict((peer.get("podSelector") or {}).get("matchLabels") or {})


def _network_problems(objects: list[Obj], with_stores: bool) -> Iterator[str]:
    policies = _kind(objects, "NetworkPolicy")
    if not any(
        p["spec"].get("podSelector") == {} and not p["spec"].get("ingress") for p in policies
    ):
        yield "no default-deny ingress NetworkPolicy"
    for service in SERVICES:
        mine = [p for p in policies if _labels(p["spec"]).get("app.kubernetes.io/name") == service]
        rules = [r for p in mine for r in p["spec"].get("ingress") or []]
        internal = [
            r for r in rules if any(port.get("port") == "internal" for port in r.get("ports") or [])
        ]
        callers = {
            _labels(peer).get("app.kubernetes.io/name")
            for r in internal
            for peer in r.get("from") or []
            if "podSelector" in peer
        }
        if any(not r.get("from") for r in internal):
            yield f"NetworkPolicy/{service}: the internal port is open to everyone"
        if callers != INTERNAL_CALLERS[service]:
            found, wanted = sorted(c or "" for c in callers), sorted(INTERNAL_CALLERS[service])
            yield f"NetworkPolicy/{service}: internal callers {found}, not {wanted}"
        if not any(any(port.get("port") == "http" for port in r.get("ports") or []) for r in rules):
            yield f"NetworkPolicy/{service}: the public port is not allowed in"
        if not with_stores:
            continue
        for kind in ("db", "redis"):
            store = f"{service}-{kind}"
            theirs = [
                p for p in policies if _labels(p["spec"]).get("app.kubernetes.io/name") == store
            ]
            peers = [
                peer
                for p in theirs
                for r in p["spec"].get("ingress") or []
                for peer in r.get("from") or []
            ]
            if not theirs or [_labels(peer) for peer in peers] != [
                {"app.kubernetes.io/name": service}
            ]:
                yield f"NetworkPolicy/{store}: must admit only the {service} service's pods"


def _monitoring_problems(objects: list[Obj]) -> Iterator[str]:
    rules = _kind(objects, "PrometheusRule")
    alerts = yaml.safe_load(ALERTS.read_text())["groups"]
    if len(rules) != 1 or rules[0]["spec"].get("groups") != alerts:
        yield "the PrometheusRule's groups differ from monitoring/prometheus/alerts.yml"
    if RULE_FILE.read_text() != generate_prometheus_rule():
        yield f"{RULE_FILE.relative_to(ROOT)} is stale: run python -m tools.kubernetes generate"
    for monitor in _kind(objects, "ServiceMonitor"):
        endpoints = monitor["spec"].get("endpoints") or []
        if [(e.get("port"), e.get("path")) for e in endpoints] != [("internal", "/metrics")]:
            yield f"{_name(monitor)}: must scrape port internal, path /metrics"
    for deployment in _kind(objects, "Deployment"):
        name = deployment["metadata"]["name"]
        if name in SERVICES:
            notes = deployment["spec"]["template"]["metadata"].get("annotations") or {}
            if notes.get("prometheus.io/port") != str(SERVICES[name][1]):
                yield f"Deployment/{name}: prometheus.io/port must be its internal port"


def _secret_problems(objects: list[Obj]) -> Iterator[str]:
    for secret in _kind(objects, "Secret"):
        yield f"{_name(secret)}: Secrets are created by hand (secrets/secrets.template.yaml)"
    template = yaml.safe_load_all((KUBE / "secrets" / "secrets.template.yaml").read_text())
    for doc in template:
        if doc and any(value for value in (doc.get("stringData") or {}).values()):
            yield f"secrets.template.yaml {_name(doc)} holds a value"


def policy_problems(objects: list[Obj], overlay: str, version: str) -> list[str]:
    found: list[str] = []
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            found += _container_problems(obj, version)
    found += _app_problems(objects)
    found += _port_problems(objects)
    found += _ingress_problems(objects)
    found += _network_problems(objects, with_stores=overlay == "dev")
    found += _monitoring_problems(objects)
    found += _secret_problems(objects)
    if overlay == "production" and _kind(objects, "StatefulSet"):
        found.append("production runs no datastore: PostgreSQL and Redis are external")
    return found


# ------------------------------------------------------------------------------ self-test
def _breaks() -> dict[str, Callable[[list[Obj]], None]]:
    def deployment(objects: list[Obj], name: str = "order") -> Obj:
        return next(
            o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name
        )

    def container(objects: list[Obj]) -> Obj:
        found: Obj = _pod(deployment(objects))["containers"][0]
        return found

    def no_probe(objects: list[Obj]) -> None:
        del container(objects)["readinessProbe"]

    def writable_root(objects: list[Obj]) -> None:
        container(objects)["securityContext"]["readOnlyRootFilesystem"] = False

    def no_limits(objects: list[Obj]) -> None:
        del container(objects)["resources"]["limits"]

    def latest(objects: list[Obj]) -> None:
        container(objects)["image"] = "shop/order-service:latest"

    def wrong_port(objects: list[Obj]) -> None:
        service = next(o for o in _kind(objects, "Service") if o["metadata"]["name"] == "user")
        service["spec"]["ports"][1]["targetPort"] = "metrics"

    def ingress_swap(objects: list[Obj]) -> None:
        path = _kind(objects, "Ingress")[0]["spec"]["rules"][0]["http"]["paths"][0]
        path["backend"]["service"]["name"] = "order"

    def open_internal(objects: list[Obj]) -> None:
        policy = next(
            o for o in _kind(objects, "NetworkPolicy") if o["metadata"]["name"] == "product"
        )
        policy["spec"]["ingress"][1]["from"].append(
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}
        )

    def migrate_at_start(objects: list[Obj]) -> None:
        for e in container(objects)["env"]:
            if e["name"] == "MIGRATE_ON_START":
                e["value"] = "1"

    def metrics_in_tmp(objects: list[Obj]) -> None:
        for e in container(objects)["env"]:
            if e["name"] == "PROMETHEUS_MULTIPROC_DIR":
                e["value"] = "/tmp/prometheus-multiproc"  # noqa: S108

    def short_grace(objects: list[Obj]) -> None:
        _pod(deployment(objects))["terminationGracePeriodSeconds"] = 10

    def edited_rules(objects: list[Obj]) -> None:
        _kind(objects, "PrometheusRule")[0]["spec"]["groups"][0]["rules"].pop()

    return {
        "a container without a readiness probe": no_probe,
        "a writable root filesystem": writable_root,
        "no resource limits": no_limits,
        "an image tagged latest": latest,
        "a Service port no container has": wrong_port,
        "/api/v1/product routed to order": ingress_swap,
        "the storefront allowed to product's internal port": open_internal,
        "replicas migrating at start": migrate_at_start,
        "metric files in /tmp": metrics_in_tmp,
        "a grace period shorter than an order": short_grace,
        "alert rules edited in the PrometheusRule": edited_rules,
    }


def self_test_problems(objects: list[Obj], overlay: str, version: str) -> list[str]:
    baseline = len(policy_problems(objects, overlay, version))
    unnoticed = []
    for title, apply in _breaks().items():
        broken = copy.deepcopy(objects)
        apply(broken)
        if len(policy_problems(broken, overlay, version)) <= baseline:
            unnoticed.append(f"not refused: {title}")
    return unnoticed


# ------------------------------------------------------------------------------ main
def project_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def check() -> int:
    version = project_version()
    failed = 0
    for overlay in OVERLAYS:
        objects = render(overlay)
        kinds = sorted({o["kind"] for o in objects})
        schemas = f"every object valid against the Kubernetes {KUBERNETES_VERSION} schemas"
        policy = (
            "policy (security context, probes, limits, pinned images, ports, Ingress, "
            "NetworkPolicies, migrations, monitoring, secrets)"
        )
        groups = {
            f"{overlay}: renders ({len(objects)} objects: {', '.join(kinds)})": [],
            f"{overlay}: {schemas}": schema_problems(objects),
            f"{overlay}: the PrometheusRule passes promtool check rules": promtool_problems(
                objects
            ),
            f"{overlay}: {policy}": policy_problems(objects, overlay, version),
            f"{overlay}: self-test, each known-bad variant refused": self_test_problems(
                objects, overlay, version
            ),
        }
        for title, problems in groups.items():
            print(("ok:   " if not problems else "FAIL: ") + title)
            for problem in problems:
                print(f"  - {problem}")
            failed += bool(problems)
    print(f"check_kubernetes: {'all checks passed' if not failed else f'{failed} check(s) FAILED'}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.kubernetes", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["generate", "check"])
    args = parser.parse_args(argv)
    if args.command == "generate":
        RULE_FILE.parent.mkdir(parents=True, exist_ok=True)
        RULE_FILE.write_text(generate_prometheus_rule())
        print(f"wrote {RULE_FILE.relative_to(ROOT)}")
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())
