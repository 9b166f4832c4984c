"""A project with its validated spec, and the checks that stand in for validation when only
the compiled dvc.yaml is read.

Importing this module is cheap on purpose: the spec models (pydantic) are imported inside the
functions, so a no-op `pedigree run` whose dvc.yaml is current costs no more than a no-op
`dvc repro`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.dvclock import read_lock_stages
from pedigree.project import Project, open_project

if TYPE_CHECKING:
    from pedigree.spec.model import PipelineSpec


@dataclass(frozen=True)
class Loaded:
    """A project with its validated spec."""

    project: Project
    spec: PipelineSpec


def load(start: Path, spec: str | Path | None = None, remember_params: bool = False) -> Loaded:
    """Open the project around `start` and validate its spec (project files included: paths
    resolved through symlinks, params.yaml against the stages' own models). With
    `remember_params`, a clean params check is remembered in .pedigree/ for later runs."""
    from pedigree.spec.checks import load_spec

    project = open_project(start, spec)
    parsed = load_spec(
        project.spec_file, project.root, display=project.spec_path, remember_params=remember_params
    )
    return Loaded(project, parsed)


def check_compiled(root: Path, spec_path: str | None = None, remember_params: bool = False) -> None:
    """What `load` checks on the project, for commands that work from the compiled dvc.yaml
    instead of the spec (`pedigree run`'s fast path, pull, verify): no stage path leads out of
    the project through a symlink (SpecError), params.yaml passes the stages' own models
    (ParamsError). With `spec_path`, the spec's state paths (not in dvc.yaml) are checked too.
    Cheap when nothing changed: a few lstat calls and, for params, the hashes remembered in
    .pedigree/."""
    from pedigree.spec.params_check import compiled_stages, refuse_bad_params
    from pedigree.spec.realpaths import refuse_escaping_compiled_paths

    stages = read_lock_stages(root / "dvc.yaml")
    refuse_escaping_compiled_paths(root, stages, spec_path)
    refuse_bad_params(root, compiled_stages(stages), remember_params)
