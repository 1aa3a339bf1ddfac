"""The Dockerfile (one for every service) read with dockerfile-parse, and .dockerignore.

`parse(build_args)` gives the stages of the Dockerfile as Docker builds them for one
service: every instruction with the ARG and ENV values in force at its line substituted,
so the checks (tools.image_rules) see what each service's image really gets.
`dockerignore()` turns .dockerignore into a pathspec matcher with Docker's semantics.
Both take another file too (`path`): the storefront's deploy/web/Dockerfile and its
Dockerfile.dockerignore.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pathspec
from dockerfile_parse import DockerfileParser

from tools.workspace import ROOT

__all__ = [
    "DOCKERFILE",
    "DOCKERIGNORE",
    "Instruction",
    "Stage",
    "declared_args",
    "dockerignore",
    "expand",
    "parse",
]

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# $NAME, ${NAME}, ${NAME:-word}, ${NAME:+word} (what Dockerfiles and sh both understand).
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Substitute known variables; unknown ones stay as written (a runtime shell's business)."""

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[4]
        known = variables.get(name)
        if match[2] == "-":
            return known if known else match[3]
        if match[2] == "+":
            return match[3] if known else ""
        return match[0] if known is None else known

    return VARIABLE.sub(value, text)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: COPY, RUN, ...
    raw: str  # the argument as written
    value: str  # the argument with the ARG/ENV values in force substituted
    line: int  # 1-based

    def words(self) -> list[str]:
        """The expanded argument split like a shell would (JSON form decoded)."""
        if self.value.lstrip().startswith("["):
            try:
                decoded = json.loads(self.value)
            except json.JSONDecodeError:
                pass
            else:
                if isinstance(decoded, list):
                    return [str(word) for word in decoded]
        return shlex.split(self.value)

    def flags(self) -> list[str]:
        """Leading `--name=value` options (COPY --from=..., RUN --mount=...)."""
        words = self.words()
        count = 0
        while count < len(words) and words[count].startswith("--"):
            count += 1
        return words[:count]

    def operands(self) -> list[str]:
        """The words after the flags: COPY's sources and destination, RUN's command."""
        return self.words()[len(self.flags()) :]


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # ENV at the end of the stage

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def _parser(build_args: Mapping[str, str], path: Path = DOCKERFILE) -> DockerfileParser:
    return DockerfileParser(path=str(path), build_args=dict(build_args), env_replace=True)


def parse(build_args: Mapping[str, str], path: Path = DOCKERFILE) -> list[Stage]:
    """The stages of the Dockerfile (or another one, `path`) as built with `build_args`."""
    parser = _parser(build_args, path)
    stages: list[Stage] = []
    for item, context in zip(parser.structure, parser.context_structure, strict=True):
        keyword = str(item["instruction"]).upper()
        raw = str(item["value"])
        variables = {**context.args, **context.envs}
        instruction = Instruction(keyword, raw, expand(raw, variables), int(item["startline"]) + 1)
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = instruction.value.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(instruction)
            stages[-1].env = dict(context.envs)
    return stages


def declared_args() -> dict[str, str | None]:
    """Every ARG the Dockerfile declares (global or in a stage) and its default, if any."""
    declared: dict[str, str | None] = {}
    for item in _parser({}).structure:
        if str(item["instruction"]).upper() == "ARG":
            name, sep, default = str(item["value"]).partition("=")
            if declared.get(name.strip()) is None:
                declared[name.strip()] = default.strip() if sep else None
    return declared


def dockerignore(path: Path = DOCKERIGNORE) -> pathspec.PathSpec[pathspec.Pattern]:
    """.dockerignore (or another ignore file, `path`) as a matcher of paths relative to the
    build context.

    Docker anchors every pattern at the context root (`docs` excludes ./docs only, `**/x`
    any x) and lets `!pattern` re-include; gitignore would match `docs` at any depth. So
    each pattern is cleaned and anchored with a leading slash before pathspec reads it.
    """
    lines = []
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip().lstrip("/"))
        lines.append(("!" if negate else "") + "/" + pattern)
    return pathspec.PathSpec.from_lines("gitignore", lines)
