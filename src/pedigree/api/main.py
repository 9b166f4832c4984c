"""The API behind `pedigree validate`, `compile`, `run` and `status`: one function per action.

Each function takes plain arguments, returns data, and raises a PedigreeError subclass on
failure. Side effects go through adapters (`pedigree.executors.dvc`) and the one file writer
(`pedigree.compile.render.write_generated`), so tests can run every path.

Importing this module is cheap on purpose: the spec models (pydantic) and the compiler are
imported inside the functions that need them, so a no-op `pedigree run` whose dvc.yaml is
current (see `compile.header`) costs no more than a no-op `dvc repro`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.compile.header import stamp_is_current
from pedigree.compile.render import (
    CompileResult,
    dvc_yaml_is_current,
    ensure_dvc_yaml,
    render_argo_files,
    render_dvc,
    write_generated,
)
from pedigree.dvclock import read_lock_stages
from pedigree.errors import PedigreeError
from pedigree.executors import dvc as dvc_executor
from pedigree.lineage.adopt import adopt_restored_records
from pedigree.project import open_project
from pedigree.spec.load import Loaded, check_compiled, load

# Names the API's callers use with these functions (`api.load(...)`, `api.CompileResult`).
__all__ = [
    "CompileResult",
    "Loaded",
    "RunReport",
    "adopt_restored_records",
    "check_compiled",
    "compile_argo",
    "compile_dvc",
    "compile_images",
    "dvc_yaml_is_current",
    "load",
    "render_argo_files",
    "render_dvc",
    "render_image_files",
    "run",
    "status",
    "validate",
]

if TYPE_CHECKING:
    from pedigree.spec.model import PipelineSpec
    from pedigree.staleness import StageStatus


def validate(spec_file: Path | None, start: Path) -> PipelineSpec:
    """Validate one spec file; raise SpecError listing every problem.

    Inside a project the project's files are checked too (code folders, locks, params).
    """
    from pedigree.spec.checks import load_spec

    if spec_file is None:
        return load(start).spec
    try:
        project = open_project(spec_file.parent if spec_file.is_absolute() else start, spec_file)
    except PedigreeError:
        return load_spec(spec_file)  # a loose file: check the spec on its own
    return load_spec(project.spec_file, project.root, display=project.spec_path)


def compile_dvc(start: Path, spec: str | Path | None = None) -> CompileResult:
    """Write dvc.yaml from the spec; unchanged content leaves the file untouched."""
    loaded = load(start, spec)
    return ensure_dvc_yaml(loaded)


def compile_argo(
    start: Path, spec: str | Path | None = None, replicate_only: bool = False
) -> tuple[CompileResult, ...]:
    """Write the Argo WorkflowTemplate and its Workflow under cluster-conf/ from the spec, and
    those of `pedigree replicate --folds` when the spec declares folds (`replicate_only`: only
    those); files whose content is unchanged are left untouched."""
    loaded = load(start, spec)
    return write_generated(loaded.project.root, render_argo_files(loaded, replicate_only))


def render_image_files(loaded: Loaded) -> dict[str, str]:
    """Repo-relative path -> text of the stage Dockerfiles the spec compiles to."""
    from pedigree.containers.dockerfile import render_dockerfiles

    return render_dockerfiles(loaded.spec, loaded.project.spec_path)


def compile_images(start: Path, spec: str | Path | None = None) -> tuple[CompileResult, ...]:
    """Write each stage's <image dir>/Dockerfile from the spec; files whose content is unchanged
    are left untouched (images/base/Dockerfile is hand-written and never touched)."""
    loaded = load(start, spec)
    return write_generated(loaded.project.root, render_image_files(loaded))


@dataclass(frozen=True)
class RunReport:
    """What a run did."""

    results: tuple[dvc_executor.StageResult, ...]
    regenerated: bool
    dry_run: bool
    warnings: tuple[str, ...] = ()
    git_add: str | None = None
    dvc_yaml_stale: bool = False  # dry run only: a real run would regenerate dvc.yaml first


def run(
    start: Path,
    observer: dvc_executor.RunObserver,
    spec: str | Path | None = None,
    stage: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    quiet_stages: bool = True,
    executor: str = "process",
) -> RunReport:
    """Run the pipeline through DVC (or only `stage` and what it needs).

    dvc.yaml is regenerated first when the spec changed, so a run always follows the spec.
    `executor` is where stages run: `process` (here, in this environment) or `podman` /
    `docker` (each stage in its image, see `pedigree.containers.executor`); dvc.yaml and
    dvc.lock are the same either way, so outputs and cache are shared.
    """
    from pedigree.containers import EXECUTORS, PROCESS

    if executor not in EXECUTORS:
        raise PedigreeError(
            f"unknown executor '{executor}'", "choose one of: " + ", ".join(EXECUTORS)
        )
    project = open_project(start, spec)
    regenerated = stale = False
    loaded: Loaded | None = None
    # Fast path: dvc.yaml compiled from this very spec (stamp) and no stage named: check only
    # what the stamp does not cover (symlinks on the stages' paths, params.yaml). Otherwise
    # validate the spec (which checks both too) and compile. A dry run writes nothing, not even
    # the remembered params check.
    if stage is not None or not stamp_is_current(project.root, project.spec_path):
        loaded = load(start, spec, remember_params=not dry_run)
        if stage is not None:
            _require_stage(loaded.spec, stage)
        if dry_run:
            # A dry run writes nothing; DVC plans from the old dvc.yaml, so say it is stale.
            stale = not dvc_yaml_is_current(loaded)
        else:
            regenerated = ensure_dvc_yaml(loaded).changed
    else:
        check_compiled(project.root, project.spec_path, remember_params=not dry_run)
    from pedigree.containers.executor import check_ready, executor_environment

    if executor != PROCESS and not dry_run:
        # Before anything runs: the engine works and holds the image of every stage that may run.
        check_ready(executor, _stages_in_run(project.root, loaded, stage))
    with executor_environment(executor):
        repro = dvc_executor.reproduce(
            project.root,
            [stage] if stage else None,
            force=force,
            dry=dry_run,
            observer=observer,
            quiet_stages=quiet_stages,
        )
    warnings = list(repro.warnings)
    git_add = repro.git_add
    if not dry_run:
        warnings += adopt_restored_records(project.root, repro.stages)
        if any(r.outcome in ("ran", "restored") for r in repro.stages):
            git_add = _git_add_hint(project.root, _with_lineage(git_add))
    return RunReport(repro.stages, regenerated, dry_run, tuple(warnings), git_add, stale)


def _stages_in_run(root: Path, loaded: Loaded | None, stage: str | None) -> list[str]:
    """The stages a run may execute: `stage` and those upstream of it, or every stage."""
    if stage is not None and loaded is not None:
        from pedigree.graph import build_graph

        return [*build_graph(loaded.spec).upstream_of(stage), stage]
    return list(read_lock_stages(root / "dvc.yaml"))


def _with_lineage(git_add: str | None) -> str:
    """DVC's `git add ...` hint, with the lineage records that belong with dvc.lock."""
    from pedigree.lineage.store import RECORDS_DIR

    parts = (git_add or "git add dvc.lock").split()
    if RECORDS_DIR.as_posix() not in parts:
        parts.append(RECORDS_DIR.as_posix())
    return " ".join(parts)


def _git_add_hint(root: Path, git_add: str) -> str | None:
    """The `git add` hint naming only what git shows changed: DVC's paths and the lineage
    records, plus the registry folder (params.yaml `release.registry`) and the serving manifests,
    which release writes and which are committed with the run. None when nothing changed (a
    fresh clone whose stages came back from the cache); all of them outside git."""
    from pedigree.gitstate import git
    from pedigree.project import PARAMS_FILE
    from pedigree.registry.serving import SERVING_DIR
    from pedigree.registry.settings import registry_root

    parts = git_add.split()
    head, paths = parts[:2], parts[2:]
    extra = [SERVING_DIR.as_posix()]
    try:
        folder = registry_root(root, root / PARAMS_FILE, None)
        extra.append(folder.relative_to(root.resolve()).as_posix())
    except (PedigreeError, ValueError):
        pass  # a broken release section (the run reported it), or a registry outside the project
    paths += [p for p in extra if p not in paths and p != "." and (root / p).exists()]
    changed = git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths)
    if changed is None:
        return " ".join(head + paths)
    # porcelain lines are "XY PATH" (git() strips the first line's leading blank status column)
    names = [
        line.split(maxsplit=1)[-1].split(" -> ")[-1].strip('"') for line in changed.splitlines()
    ]
    kept = [p for p in paths if any(n == p or n.startswith(p.rstrip("/") + "/") for n in names)]
    return " ".join(head + kept) if kept else None


def _require_stage(spec: PipelineSpec, name: str) -> None:
    names = [s.name for s in spec.stages]
    if name not in names:
        raise PedigreeError(f"no stage named '{name}'", "stages: " + ", ".join(names))


def status(start: Path, spec: str | Path | None = None) -> list[StageStatus]:
    """Every stage in run order: stale or not, and why."""
    from pedigree.staleness import project_status

    return project_status(load(start, spec))
