"""The small API the CLI (and any script) calls: one function per user action.

Each function takes plain arguments, returns data, and raises a PedigreeError subclass on
failure. Side effects go through adapters (`pedigree.executors.dvc`) and the one file writer
below, so tests can run every path.

Importing this module is cheap on purpose: the spec models (pydantic) and the compiler are
imported inside the functions that need them, so a no-op `pedigree run` whose dvc.yaml is
current (see `compile.header`) costs no more than a no-op `dvc repro`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedigree.atomic import read_bytes_or_none, write_atomically
from pedigree.compile.header import SHARED_CODE, stamp_is_current, write_stamp
from pedigree.dvclock import read_lock_stages
from pedigree.errors import ParamsError, PedigreeError, StaleError
from pedigree.executors import dvc as dvc_executor
from pedigree.project import PARAMS_FILE, Project, open_project

if TYPE_CHECKING:
    from pedigree.spec.model import PipelineSpec
    from pedigree.staleness import StageStatus


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


def render_dvc(loaded: Loaded) -> str:
    """The dvc.yaml text the spec compiles to."""
    from pedigree.compile.dvc import render_dvc_yaml

    shared = (loaded.project.root / SHARED_CODE).is_dir()
    return render_dvc_yaml(loaded.spec, loaded.project.spec_path, shared)


def dvc_yaml_is_current(loaded: Loaded) -> bool:
    """True when dvc.yaml exists and is exactly what the spec compiles to."""
    path = loaded.project.dvc_yaml
    return path.is_file() and path.read_text(encoding="utf-8") == render_dvc(loaded)


@dataclass(frozen=True)
class CompileResult:
    """What `compile` wrote (or would write)."""

    path: Path
    changed: bool


def compile_dvc(start: Path, spec: str | Path | None = None) -> CompileResult:
    """Write dvc.yaml from the spec; unchanged content leaves the file untouched."""
    loaded = load(start, spec)
    return _ensure_dvc_yaml(loaded)


def _ensure_dvc_yaml(loaded: Loaded) -> CompileResult:
    root = loaded.project.root
    (result,) = _write_generated(
        root, {loaded.project.dvc_yaml.relative_to(root).as_posix(): render_dvc(loaded)}
    )
    write_stamp(root, loaded.project.spec_path)
    return result


def render_argo_files(loaded: Loaded) -> dict[str, str]:
    """Repo-relative path -> text of the Argo files the spec compiles to."""
    from pedigree.compile.argo import render_argo

    return render_argo(loaded.spec, loaded.project.spec_path)


def compile_argo(start: Path, spec: str | Path | None = None) -> tuple[CompileResult, ...]:
    """Write the Argo WorkflowTemplate and its Workflow under cluster-conf/ from the spec;
    files whose content is unchanged are left untouched."""
    loaded = load(start, spec)
    return _write_generated(loaded.project.root, render_argo_files(loaded))


def render_image_files(loaded: Loaded) -> dict[str, str]:
    """Repo-relative path -> text of the stage Dockerfiles the spec compiles to."""
    from pedigree.containers.dockerfile import render_dockerfiles

    return render_dockerfiles(loaded.spec, loaded.project.spec_path)


def compile_images(start: Path, spec: str | Path | None = None) -> tuple[CompileResult, ...]:
    """Write each stage's <image dir>/Dockerfile from the spec; files whose content is unchanged
    are left untouched (images/base/Dockerfile is hand-written and never touched)."""
    loaded = load(start, spec)
    return _write_generated(loaded.project.root, render_image_files(loaded))


def _write_generated(root: Path, files: dict[str, str]) -> tuple[CompileResult, ...]:
    """Write each repo-relative file whose bytes differ; unchanged ones keep their mtime."""
    results = []
    for rel, text in files.items():
        path = root / rel
        changed = read_bytes_or_none(path) != text.encode("utf-8")
        if changed:
            write_atomically(path, text)
        results.append(CompileResult(path, changed))
    return tuple(results)


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
            regenerated = _ensure_dvc_yaml(loaded).changed
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
            git_add = _with_lineage(git_add)
    return RunReport(repro.stages, regenerated, dry_run, tuple(warnings), git_add, stale)


def _stages_in_run(root: Path, loaded: Loaded | None, stage: str | None) -> list[str]:
    """The stages a run may execute: `stage` and those upstream of it, or every stage."""
    if stage is not None and loaded is not None:
        from pedigree.graph import build_graph

        return [*build_graph(loaded.spec).upstream_of(stage), stage]
    return list(read_lock_stages(root / "dvc.yaml"))


def adopt_restored_records(root: Path, results: tuple[dvc_executor.StageResult, ...]) -> list[str]:
    """After a run-cache restore (`pedigree run`, `pedigree pull`), make current the lineage
    record of the run that made the restored outputs (it is in the local history); warn when
    none is kept here."""
    from pedigree.lineage import store

    restored = [r.stage for r in results if r.outcome == "restored"]
    if not restored:
        return []
    entries = read_lock_stages(root / "dvc.lock")
    warnings = []
    for stage in restored:
        outs = store.lock_outs(entries.get(stage) or {})
        try:
            current = store.read_current(root, stage)
        except store.LineageError:
            current = None  # a corrupt record is replaced by the restored run's, if kept
        if current is not None and store.outputs_match(current, outs):
            continue
        if store.adopt_from_history(root, stage, outs) is None:
            warnings.append(
                f"stage '{stage}' was restored from DVC's run-cache, but no lineage record of the "
                f"run that made those outputs is kept here: run `pedigree run --stage {stage} "
                "--force` to record one"
            )
    return warnings


def _with_lineage(git_add: str | None) -> str:
    """DVC's `git add ...` hint, with the lineage records that belong with dvc.lock."""
    from pedigree.lineage.store import RECORDS_DIR

    parts = (git_add or "git add dvc.lock").split()
    if RECORDS_DIR.as_posix() not in parts:
        parts.append(RECORDS_DIR.as_posix())
    return " ".join(parts)


def _require_stage(spec: PipelineSpec, name: str) -> None:
    names = [s.name for s in spec.stages]
    if name not in names:
        raise PedigreeError(f"no stage named '{name}'", "stages: " + ", ".join(names))


def status(start: Path, spec: str | Path | None = None) -> list[StageStatus]:
    """Every stage in run order: stale or not, and why."""
    from pedigree.staleness import explain

    loaded = load(start, spec)
    _ensure_compiled_for_status(loaded)
    root = loaded.project.root
    raw = dvc_executor.status(root)
    return explain(raw, loaded.spec, read_lock_stages(root / "dvc.lock"), _current_params(root))


def _current_params(root: Path) -> dict[str, Any]:
    from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file

    path = root / PARAMS_FILE
    try:
        return {PARAMS_FILE: load_yaml_file(path, PARAMS_FILE).data}
    except YamlLoadError as exc:
        raise ParamsError([exc.problem]) from None


def _ensure_compiled_for_status(loaded: Loaded) -> None:
    if not dvc_yaml_is_current(loaded):
        raise StaleError(
            f"dvc.yaml is stale: {loaded.project.spec_path} changed since it was compiled",
            "run `pedigree compile --target dvc` (or `pedigree run`, which compiles first)",
        )
