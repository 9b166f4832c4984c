"""Where a pedigree project lives on disk and which spec drives it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pedigree.errors import ProjectError

DVC_YAML = "dvc.yaml"
# The stages' parameters (DVC params): the one name every module uses.
PARAMS_FILE = "params.yaml"
PIPELINES = "pipelines"
# The first line of a generated dvc.yaml (`pedigree.compile.header.HEADER`) names its spec.
HEADER_RE = re.compile(r"^# generated from (\S+) by pedigree")


def spec_named_in(dvc_yaml_text: str) -> str | None:
    """The spec path a generated dvc.yaml says it came from, if it has our header."""
    match = HEADER_RE.match(dvc_yaml_text)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Project:
    """A project root and the pipeline spec (relative POSIX path) that generates its dvc.yaml."""

    root: Path
    spec_path: str

    @property
    def spec_file(self) -> Path:
        """Absolute path of the spec."""
        return self.root / self.spec_path

    @property
    def params_file(self) -> Path:
        """Absolute path of params.yaml."""
        return self.root / PARAMS_FILE

    @property
    def dvc_yaml(self) -> Path:
        """Absolute path of the generated dvc.yaml."""
        return self.root / DVC_YAML


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding a `pipelines/` folder."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PIPELINES).is_dir():
            return folder
    raise ProjectError(
        f"no pedigree project at or above {start}: no {PIPELINES}/ folder found",
        "run pedigree from the project root, or pass --project PATH",
    )


def open_project(start: Path, spec: str | Path | None = None) -> Project:
    """Open the project containing `start`, using `spec` or working out which spec drives it.

    A relative `spec` is relative to `start` (the folder the command runs in, or `-C DIR`), as
    every path given on the command line. Without `spec`: the spec named in dvc.yaml's
    generated header, else the only `pipelines/*.yaml`. The root is absolute and resolved, so
    the answers are the same from any folder of the project.
    """
    root = find_root(start)
    if spec is not None:
        path = Path(spec)
        path = path if path.is_absolute() else (start.resolve() / path)
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:
            raise ProjectError(
                f"spec {spec} is outside the project at {root}",
                "pass a pipelines/*.yaml of this project (relative to the folder you run in)",
            ) from None
        return Project(root, rel)
    dvc_yaml = root / DVC_YAML
    if dvc_yaml.is_file():
        named = spec_named_in(dvc_yaml.read_text(encoding="utf-8", errors="replace"))
        if named and (root / named).is_file():
            return Project(root, named)
    candidates = sorted(p for p in (root / PIPELINES).glob("*.y*ml") if p.is_file())
    if len(candidates) == 1:
        return Project(root, candidates[0].relative_to(root).as_posix())
    if not candidates:
        raise ProjectError(
            f"no pipeline spec in {root / PIPELINES}",
            "create pipelines/<name>.yaml (see docs/spec.md)",
        )
    names = ", ".join(p.name for p in candidates)
    raise ProjectError(
        f"several pipeline specs ({names}); say which one", "pass --spec pipelines/NAME.yaml"
    )
