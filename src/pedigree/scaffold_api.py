"""The API behind `pedigree init` and `pedigree stage add`: start a project, grow it.

Both only ever add files: an existing file is kept and reported, never overwritten, so running
either twice changes nothing the second time.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pedigree.errors import PedigreeError, ProjectError, SpecError, ToolError
from pedigree.project import PARAMS_FILE
from pedigree.scaffold import templates
from pedigree.scaffold.files import (
    DEFAULT_STAGE,
    Written,
    project_files,
    stage_entry,
    stage_files,
    write_new,
)

COMBINED_IN = "images/requirements.in"
_STAGE_FILES = (f"stages/{DEFAULT_STAGE}/", "images/")


@dataclass(frozen=True)
class InitReport:
    """What `init` did in `root`."""

    root: Path
    pipeline: str
    written: Written
    ran: tuple[str, ...]  # the tools run: "git init", "dvc init", "pedigree compile"


@dataclass(frozen=True)
class StageReport:
    """What `stage add` did."""

    stage: str
    spec_path: str
    deps: tuple[str, ...]
    written: Written
    edited: tuple[str, ...]  # files changed in place (the spec, params.yaml, requirements.in)


def pipeline_name_for(folder: Path) -> str:
    """A valid pipeline name made from a folder's name (lower case, `-` for anything else)."""
    from pedigree.spec.model import PIPELINE_NAME_MAX

    name = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")[:PIPELINE_NAME_MAX]
    return name.strip("-") or "pipeline"


def check_name(name: str, pattern: re.Pattern[str], limit: int, what: str, flag: str) -> None:
    """Refuse a name that the spec would refuse, saying why before anything is written."""
    if len(name) > limit or not pattern.fullmatch(name):
        raise PedigreeError(
            f"'{name}' is not a valid {what} name: lower-case letters, digits and '-', starting "
            f"with a letter{'' if what == 'stage' else ' or digit'}, at most {limit} characters",
            f"pass another {flag}, e.g. {'train-model' if what == 'stage' else 'my-pipeline'}",
        )


def _tool(argv: list[str], root: Path, what: str) -> None:
    try:
        result = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ToolError(
            f"cannot run {what}: {exc}", f"install {argv[0]} and run init again"
        ) from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ToolError(
            f"{what} failed in {root} (exit {result.returncode}): {' '.join(tail)}",
            f"run `{what}` there yourself, then `pedigree init` again",
        )


def init_project(target: Path, name: str | None = None) -> InitReport:
    """Make `target` (created if missing) a runnable one-stage project; keep what exists."""
    root = target.resolve()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is a file, not a folder", "pass a folder to `pedigree init`")
    from pedigree.spec.model import PIPELINE_NAME, PIPELINE_NAME_MAX

    pipeline = name if name is not None else pipeline_name_for(root)
    check_name(pipeline, PIPELINE_NAME, PIPELINE_NAME_MAX, "pipeline", "--name")
    specs = sorted(p.name for p in (root / "pipelines").glob("*.y*ml")) if root.is_dir() else []
    others = [s for s in specs if s != f"{pipeline}.yaml"]
    if others:
        raise ProjectError(
            f"{root / 'pipelines'} already holds {', '.join(others)}: this is a project already",
            "grow it with `pedigree stage add NAME`, or init another folder",
        )
    root.mkdir(parents=True, exist_ok=True)
    files = project_files(pipeline)
    spec_exists = (root / "pipelines" / f"{pipeline}.yaml").exists()
    if spec_exists and not (root / "stages" / DEFAULT_STAGE).exists():
        # The pipeline exists: its stages are its own, so no default stage or locks are added
        # beside them (only the project-wide files still missing).
        files = {rel: text for rel, text in files.items() if not rel.startswith(_STAGE_FILES)}
    written = write_new(root, files)
    ran: list[str] = []
    if not (root / ".git").exists():
        _tool(["git", "init", "-q"], root, "git init")
        ran.append("git init")
    if not (root / ".dvc").exists():
        _tool([sys.executable, "-m", "dvc", "init", "-q"], root, "dvc init")
        ran.append("dvc init")
    # dvc.yaml from the spec written here; a spec found here is the user's (`pedigree run`
    # compiles it, and reports its problems where they are).
    if not spec_exists and not (root / "dvc.yaml").exists():
        from pedigree.api import compile_dvc

        compile_dvc(root)
        ran.append("pedigree compile")
    return InitReport(root, pipeline, written, tuple(ran))


def add_stage(
    start: Path, name: str, after: str | None = None, spec: str | Path | None = None
) -> StageReport:
    """Add stage `name` to the spec (after stage `after`, reading its outs; else last), with
    its code skeleton, requirements, lock and params section; then recompile dvc.yaml."""
    from pedigree.api import compile_dvc
    from pedigree.project import open_project
    from pedigree.spec.model import STAGE_NAME, STAGE_NAME_MAX
    from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file

    check_name(name, STAGE_NAME, STAGE_NAME_MAX, "stage", "NAME")
    project = open_project(start, spec)
    try:
        doc = load_yaml_file(project.spec_file, project.spec_path)
    except YamlLoadError as exc:
        raise SpecError([exc.problem]) from None
    stages = (doc.data or {}).get("spec", {}).get("stages") if isinstance(doc.data, dict) else None
    if not isinstance(stages, list) or not stages:
        raise SpecError([doc.problem(("spec", "stages"), "spec.stages is not a list of stages")])
    names = [s.get("name") if isinstance(s, dict) else None for s in stages]
    if name in names:
        raise PedigreeError(
            f"stage '{name}' is already in {project.spec_path}",
            "pick another name, or edit the stage there",
        )
    index = None
    deps: tuple[str, ...] = ()
    if after is not None:
        if after not in names:
            raise PedigreeError(
                f"--after {after}: {project.spec_path} has no stage '{after}'",
                f"pass one of: {', '.join(str(n) for n in names)}",
            )
        index = names.index(after)
        deps = tuple(str(o) for o in stages[index].get("outs") or ())
    from pedigree.scaffold.spec_edit import insert_stage

    text = project.spec_file.read_text(encoding="utf-8")
    new_spec = insert_stage(text, doc, stage_entry(name, deps), index)
    root = project.root
    description = f"reads {', '.join(deps)}" if deps else "writes a summary of its params"
    written = write_new(root, stage_files(name, description))
    edited = [project.spec_path]
    from pedigree.atomic import write_atomically

    params = root / PARAMS_FILE
    old_params = params.read_text(encoding="utf-8") if params.is_file() else ""
    if not re.search(rf"^{re.escape(name)}:", old_params, re.MULTILINE):
        section = templates.PARAMS_SECTION.format(stage=name)
        sep = "" if not old_params or old_params.endswith("\n") else "\n"
        write_atomically(params, old_params + sep + section)
        edited.append(PARAMS_FILE)
    combined = root / COMBINED_IN
    include = templates.COMBINED_INCLUDE.format(stage=name)
    if combined.is_file():
        old = combined.read_text(encoding="utf-8")
        if include not in old:
            sep = "" if not old or old.endswith("\n") else "\n"
            write_atomically(combined, old + sep + include)
            edited.append(COMBINED_IN)
    write_atomically(project.spec_file, new_spec)
    try:
        compile_dvc(root, project.spec_path)
    except PedigreeError:
        write_atomically(project.spec_file, text)  # nothing half-done: the spec goes back
        raise
    return StageReport(name, project.spec_path, deps, written, tuple(edited))
