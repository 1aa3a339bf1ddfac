"""Rules for the service images, and the agreement of the Dockerfile with everything around it.

The Dockerfile is rendered for each service with the build arguments it must get
(SERVICE, PORT) and checked: pinned python base image, uv copied from its pinned image
with cache mounts, a dependency layer from the manifests before the sources, a locked
non-editable sync of that one service, non-root USER, HEALTHCHECK on /ready, migrations
before an exec'd `python -m shop_common.serve` (which runs uvicorn). Then: compose builds
every service from it with those arguments, CI builds the same images with the same uv,
and nothing it copies is excluded by .dockerignore.

The only other Dockerfile is the storefront's, deploy/web/Dockerfile (for Kubernetes, which
cannot mount web/ from the host), with its own Dockerfile.dockerignore. `storefront_problems`
holds it to compose's `web` container: one stage from the same pinned image, COPYs of exactly
the files compose mounts to the same places, the same port and health check, no USER root,
and nothing it copies excluded by its ignore file.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pathspec
import yaml

from tools.compose import app_builds
from tools.dockerfile import DOCKERFILE, Instruction, Stage, declared_args, dockerignore, parse
from tools.workspace import ROOT, Service, services, tracked_files, workspace_members

__all__ = [
    "STOREFRONT_DOCKERFILE",
    "agreement_problems",
    "build_args",
    "service_problems",
    "storefront_problems",
    "uv_version",
]

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
# Exact versions; a release may add the digest (docs/decisions.md, "Containers").
DIGEST = r"(?:@sha256:[0-9a-f]{64})?"
PYTHON_IMAGE = re.compile(r"python:3\.11\.\d+-slim-[a-z]+" + DIGEST)
UV_FROM = re.compile(r"--from=ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)" + DIGEST)
UV_CACHE_MOUNT = "--mount=type=cache,target=/root/.cache/uv"
# The storefront's image (compose mounts the same files into the same nginx instead).
STOREFRONT_DOCKERFILE = ROOT / "deploy" / "web" / "Dockerfile"
STOREFRONT_DOCKERIGNORE = STOREFRONT_DOCKERFILE.with_name("Dockerfile.dockerignore")
STOREFRONT_SERVICE = "web"


def build_args(service: Service) -> dict[str, str]:
    return {"SERVICE": service.name, "PORT": str(service.port)}


def _clean(path: str) -> str:
    return path.removeprefix("./").rstrip("/") or "."


def _context_sources(instruction: Instruction) -> list[str]:
    """Paths of the build context that a COPY/ADD or a RUN bind mount reads."""
    flags = instruction.flags()
    if instruction.keyword in ("COPY", "ADD"):
        if any(flag.startswith("--from=") for flag in flags):
            return []
        return [_clean(src) for src in instruction.operands()[:-1]]
    sources = []
    for flag in flags:
        if flag.startswith("--mount="):
            options = dict(o.partition("=")[::2] for o in flag.removeprefix("--mount=").split(","))
            if options.get("type") == "bind" and "from" not in options:
                sources.append(options.get("source", options.get("src", ".")))
    return sources


def _stage_problems(stages: list[Stage]) -> Iterator[str]:
    if len(stages) < 2:
        yield "must be multi-stage (dependencies and sources, then a runtime stage)"
    for stage in stages:
        if not PYTHON_IMAGE.fullmatch(stage.image):
            yield f"stage {stage.name}: FROM {stage.image} is not an exact python:3.11.N-slim-* tag"
    if len({stage.image for stage in stages}) > 1:
        yield "every stage must use the same base image"


def uv_version(stages: list[Stage]) -> str | None:
    """The version of `COPY --from=ghcr.io/astral-sh/uv:X.Y.Z /uv /uvx /bin/`, if present."""
    for stage in stages:
        for copy in stage.all("COPY"):
            for flag in copy.flags():
                match = UV_FROM.fullmatch(flag)
                if match and copy.operands() == ["/uv", "/uvx", "/bin/"]:
                    return match[1]
    return None


def _locked_sync(words: list[str], service: Service) -> bool:
    if "--package" not in words:
        return False
    package = words[words.index("--package") + 1 : words.index("--package") + 2]
    flags = ("--locked", "--no-dev", "--no-editable")
    return package == [service.package] and all(flag in words for flag in flags)


def _sync_problems(service: Service, builder: Stage) -> Iterator[str]:
    instructions = builder.instructions
    syncs = [i for i in instructions if i.keyword == "RUN" and "uv sync" in i.value]
    deps = [i for i in syncs if "--no-install-workspace" in i.operands()]
    full = [i for i in syncs if i not in deps]
    sources = [i for i in instructions if any(s.endswith("/src") for s in _context_sources(i))]
    if not deps or not full:
        yield "needs a dependency-layer `uv sync --no-install-workspace`, then a full `uv sync`"
    for sync in syncs:
        if not _locked_sync(sync.operands(), service):
            yield (
                f"line {sync.line}: needs "
                f"`uv sync --locked --no-dev --package {service.package} --no-editable`"
            )
        if UV_CACHE_MOUNT not in sync.flags():
            yield f"line {sync.line}: uv sync needs the cache mount {UV_CACHE_MOUNT}"
    if deps and sources and deps[0].line > sources[0].line:
        yield "the dependency layer must be synced before any sources are copied"
    if full and sources and full[-1].line < sources[-1].line:
        yield "the full uv sync must come after the sources are copied"
    if "UV_NO_CACHE" in builder.env:
        yield "UV_NO_CACHE defeats the uv cache mount"
    first_sync = syncs[0].line if syncs else 0
    before = {s for i in instructions if i.line < first_sync for s in _context_sources(i)}
    wanted = {"pyproject.toml", "uv.lock"} | {f"{m}/pyproject.toml" for m in workspace_members()}
    for manifest in sorted(wanted - before):
        yield f"{manifest} must be copied before the first uv sync (--locked needs every member)"
    copied = {s for i in sources for s in _context_sources(i) if s.endswith("/src")}
    libraries = {f"{m}/src" for m in workspace_members() if not m.endswith("_service")}
    expected = libraries | {f"{service.directory}/src"}
    if copied != expected:
        yield f"copies sources {sorted(copied)}, expected {sorted(expected)}"


def _serve_command(service: Service) -> list[str]:
    """The start of the command that runs the service (shop_common.serve runs uvicorn)."""
    # The container's own interface: published by compose, reached by the HEALTHCHECK.
    return [
        "python",
        "-m",
        "shop_common.serve",
        f"{service.directory}.main:create_app",
        "--host",
        "0.0.0.0",  # noqa: S104
        "--port",
        str(service.port),
    ]


def _contains(words: list[str], part: list[str]) -> bool:
    return any(words[i : i + len(part)] == part for i in range(len(words) - len(part) + 1))


def _cmd_problems(service: Service, cmd: Instruction | None) -> Iterator[str]:
    words = cmd.words() if cmd else []
    if words[:2] != ["sh", "-c"] or len(words) != 3:
        yield 'CMD must be ["sh", "-c", "... && exec python -m shop_common.serve ..."]'
        return
    raw_script = json.loads(cmd.raw)[2] if cmd else ""
    commands = [shlex.split(part) for part in words[2].split("&&")]
    alembic = ["alembic", "-c", "/app/alembic.ini", "-n", service.name, "upgrade", "head"]
    serve = _serve_command(service)
    started = [i for i, words in enumerate(commands) if words[words[:1] == ["exec"] :][:8] == serve]
    # The migration, alone or behind the switch `[ "${MIGRATE_ON_START:-1}" = 0 ] ||`.
    migrating = [i for i, words in enumerate(commands) if _contains(words, alembic)]
    if not migrating:
        yield f"CMD does not run `{' '.join(alembic)}`"
    elif commands[migrating[0]] != alembic and (
        commands[migrating[0]][:2] != ["{", "["]
        or '[ "${MIGRATE_ON_START:-1}" = 0 ] || alembic' not in raw_script
    ):
        yield "the migration runs unconditionally or behind MIGRATE_ON_START (default on)"
    if any("uvicorn" in words for words in commands):
        yield "CMD must start the service with shop_common.serve, not uvicorn directly"
    if not started:
        yield f"CMD does not start `{' '.join(serve)}`"
    else:
        if migrating and migrating[0] > started[0]:
            yield "migrations must run before the service starts"
        if commands[started[0]][0] != "exec" or started[0] != len(commands) - 1:
            yield "the service must be exec'd, last, so that it receives signals"
    if "--workers" not in raw_script or "${WEB_CONCURRENCY" not in raw_script:
        yield "--workers must follow WEB_CONCURRENCY"
    if 'rm -rf "$PROMETHEUS_MULTIPROC_DIR"' not in raw_script:
        yield "PROMETHEUS_MULTIPROC_DIR must be emptied at start"


def _runtime_problems(service: Service, final: Stage, builder: Stage) -> Iterator[str]:
    user = final.last("USER")
    if user is None:
        yield "runtime stage sets no USER"
    elif user.value.split(":")[0] in ("root", "0"):
        yield f"runtime stage runs as root ({user.value})"
    check = final.last("HEALTHCHECK")
    if check is None or check.value.upper().startswith("NONE"):
        yield "runtime stage has no HEALTHCHECK"
    elif f"http://127.0.0.1:{service.port}/ready" not in check.value:
        yield f"HEALTHCHECK must query http://127.0.0.1:{service.port}/ready"
    exposed = [w.split("/")[0] for i in final.all("EXPOSE") for w in i.words()]
    if str(service.port) not in exposed:
        yield f"EXPOSE {service.port} missing"
    yield from _cmd_problems(service, final.last("CMD"))
    if "PROMETHEUS_MULTIPROC_DIR" not in final.env:
        yield "PROMETHEUS_MULTIPROC_DIR must be set"
    if not any("PATH=/app/.venv/bin:$PATH" in i.raw for i in final.all("ENV")):
        yield "runtime must put /app/.venv/bin first on PATH"
    copies = final.all("COPY")
    venv = [c for c in copies if f"--from={builder.name}" in c.flags()]
    if not any(c.operands()[:1] == ["/app/.venv"] for c in venv):
        yield "runtime must copy /app/.venv from the builder stage"
    copied = {s for c in copies for s in _context_sources(c)}
    for needed in ("alembic.ini", f"{service.directory}/migrations"):
        if needed not in copied:
            yield f"runtime must COPY {needed}"


def _context_problems(
    stages: list[Stage], spec: pathspec.PathSpec[pathspec.Pattern], ignore: str = ".dockerignore"
) -> Iterator[str]:
    """Everything read from the build context exists and is not excluded by .dockerignore."""
    tracked = tracked_files()
    for stage in stages:
        for instruction in stage.instructions:
            for source in _context_sources(instruction):
                where = f"line {instruction.line}: {source}"
                if not (ROOT / source).exists():
                    yield f"{where} does not exist"
                elif spec.match_file(source):
                    yield f"{where} is excluded by {ignore}"
                else:
                    under = [f for f in tracked if f.startswith(source.rstrip("/") + "/")]
                    dropped = [f for f in under if spec.match_file(f)]
                    if dropped:
                        yield f"{where}: {ignore} excludes {', '.join(dropped[:5])}"


def service_problems(service: Service) -> list[str]:
    """Every rule of the image of `service`, on the Dockerfile rendered for it."""
    stages = parse(build_args(service))
    problems = list(_stage_problems(stages))
    if len(stages) >= 2:
        builder, final = stages[0], stages[-1]
        if uv_version(stages) is None:
            problems.append("uv must be `COPY --from=ghcr.io/astral-sh/uv:X.Y.Z /uv /uvx /bin/`")
        problems += _sync_problems(service, builder)
        problems += _runtime_problems(service, final, builder)
    problems += _context_problems(stages, dockerignore())
    return problems


def _compose_problems(doc: dict[str, Any]) -> Iterator[str]:
    builds = app_builds(doc)
    declared = declared_args()
    for service in services():
        build = builds.get(service.compose_name)
        if build is None:
            yield f"{service.compose_name}: has no build"
            continue
        if (build.context, build.dockerfile) != (".", DOCKERFILE.name):
            yield f"{service.compose_name}: must build context . with dockerfile {DOCKERFILE.name}"
        if build.args != build_args(service):
            yield f"{service.compose_name}: build args {build.args}, expected {build_args(service)}"
        for name in sorted(set(build.args) - set(declared)):
            yield f"{service.compose_name}: passes {name}, which the Dockerfile does not declare"
        for name in sorted(n for n, default in declared.items() if default is None):
            if name not in build.args:
                yield f"{service.compose_name}: does not pass {name}, which has no default"
    # The storefront's nginx image (deploy/web, Kubernetes only) is not a service's.
    storefront = {"deploy/web/Dockerfile", "deploy/web/Dockerfile.dockerignore"}
    for leftover in sorted(f for f in tracked_files() if Path(f).name.startswith("Dockerfile")):
        if (
            leftover != DOCKERFILE.name
            and leftover not in storefront
            and (ROOT / leftover).exists()
        ):
            yield f"{leftover}: one Dockerfile at the root serves every service"


def _healthcheck_command(instruction: Instruction) -> list[str] | None:
    """The exec-form command of `HEALTHCHECK [options] CMD [...]`, or None."""
    match = re.search(r"\bCMD\s+(\[.*\])\s*$", instruction.value, re.DOTALL)
    if match is None:
        return None
    try:
        words = json.loads(match[1])
    except json.JSONDecodeError:
        return None
    return [str(word) for word in words] if isinstance(words, list) else None


def storefront_problems(doc: dict[str, Any]) -> list[str]:
    """deploy/web/Dockerfile builds compose's `web` container: same image, files, port and
    health check (from the repository root, with deploy/web/Dockerfile.dockerignore)."""
    name = str(STOREFRONT_DOCKERFILE.relative_to(ROOT))
    web = (doc.get("services") or {}).get(STOREFRONT_SERVICE) or {}
    if not STOREFRONT_DOCKERFILE.exists():
        return [f"{name} does not exist (the storefront's image for Kubernetes)"]
    if not STOREFRONT_DOCKERIGNORE.exists():
        return [f"{STOREFRONT_DOCKERIGNORE.relative_to(ROOT)} does not exist"]
    stages = parse({}, STOREFRONT_DOCKERFILE)
    if len(stages) != 1:
        return [f"{name}: one stage (the nginx image plus files), found {len(stages)}"]
    stage = stages[0]
    problems = []
    if stage.image != web.get("image"):
        problems.append(f"{name}: FROM {stage.image}, compose's web runs {web.get('image')}")
    mounts = set()
    for volume in web.get("volumes") or []:
        source, _, rest = str(volume).partition(":")
        mounts.add((_clean(source), _clean(rest.split(":")[0])))
    copies = set()
    for instruction in stage.all("COPY") + stage.all("ADD"):
        operands = instruction.operands()
        if instruction.keyword != "COPY" or instruction.flags() or len(operands) != 2:
            problems.append(f"{name}: line {instruction.line}: one plain COPY <file> <place> each")
            continue
        copies.add((_clean(operands[0]), _clean(operands[1])))
    if copies != mounts:
        problems.append(
            f"{name}: copies {sorted(copies)}, compose's web mounts {sorted(mounts)} "
            "(the image must hold the same files in the same places)"
        )
    ports = {str(p).rsplit(":", 1)[-1] for p in web.get("ports") or []}
    exposed = {w for i in stage.all("EXPOSE") for w in i.words()}
    if exposed != ports:
        problems.append(
            f"{name}: EXPOSE {sorted(exposed)}, compose's web listens on {sorted(ports)}"
        )
    user = stage.last("USER")
    if user is not None and user.value.split(":")[0].strip() in ("root", "0"):
        problems.append(f"{name}: USER root (the unprivileged image runs as uid 101)")
    healthcheck = stage.last("HEALTHCHECK")
    test = [str(w) for w in (web.get("healthcheck") or {}).get("test") or []]
    command = None if healthcheck is None else _healthcheck_command(healthcheck)
    if command is None or ["CMD", *command] != test:
        problems.append(f"{name}: HEALTHCHECK CMD {command}, compose's web checks {test}")
    ignore = dockerignore(STOREFRONT_DOCKERIGNORE)
    problems += _context_problems(stages, ignore, str(STOREFRONT_DOCKERIGNORE.relative_to(ROOT)))
    return problems


def _ci_problems(uv: str | None) -> Iterator[str]:
    text = WORKFLOW.read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    if uv is not None and str((workflow.get("env") or {}).get("UV_VERSION")) != uv:
        yield f"{WORKFLOW.name}: env.UV_VERSION must be the Dockerfile's uv {uv}"
    if "_service/Dockerfile" in text:
        yield f"{WORKFLOW.name}: still names a per-service Dockerfile"
    jobs = [
        job
        for job in (workflow.get("jobs") or {}).values()
        if any("docker build" in str(step.get("run", "")) for step in job.get("steps") or [])
    ]
    if len(jobs) != 1:
        yield f"{WORKFLOW.name}: expected one job that runs docker build, found {len(jobs)}"
        return
    include = ((jobs[0].get("strategy") or {}).get("matrix") or {}).get("include") or []
    built = {(str(entry.get("service")), str(entry.get("port"))) for entry in include}
    wanted = {(service.name, str(service.port)) for service in services()}
    if built != wanted:
        yield f"{WORKFLOW.name}: docker matrix {sorted(built)}, expected {sorted(wanted)}"
    run = " ".join(str(step.get("run", "")) for step in jobs[0].get("steps") or [])
    for arg, key in (("SERVICE", "service"), ("PORT", "port")):
        if not re.search(rf"--build-arg\s+\"?{arg}=\$\{{\{{\s*matrix\.{key}\s*\}}\}}", run):
            expected = f"--build-arg {arg}=${{{{ matrix.{key} }}}}"
            yield f"{WORKFLOW.name}: docker build must pass {expected}"


def agreement_problems(doc: dict[str, Any]) -> list[str]:
    """compose and CI build every service from the one Dockerfile with the same arguments."""
    uv = uv_version(parse(build_args(services()[0])))
    return [*_compose_problems(doc), *_ci_problems(uv)]
