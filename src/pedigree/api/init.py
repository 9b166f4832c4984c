"""The API behind `pedigree init`: start a project (`pedigree.api.stage` grows it).

It only ever adds files: an existing file is kept and reported, never overwritten, so running
it twice changes nothing the second time.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pedigree.errors import PedigreeError, ProjectError, ToolError
from pedigree.scaffold.files import DEFAULT_STAGE, Written, project_files, write_new


@dataclass(frozen=True)
class InitReport:
    """What `init` did in `root`."""

    root: Path
    pipeline: str
    written: Written
    ran: tuple[str, ...]  # the tools run: "git init", "dvc init", "pedigree compile"


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


def init_project(target: Path, name: str | None = None, stage: str = DEFAULT_STAGE) -> InitReport:
    """Make `target` (created if missing) a runnable one-stage project; keep what exists.

    `stage` names the first stage (its code in `stages/<stage>/`, its image in `images/<stage>/`).
    """
    root = target.resolve()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is a file, not a folder", "pass a folder to `pedigree init`")
    from pedigree.spec.model import PIPELINE_NAME, PIPELINE_NAME_MAX, STAGE_NAME, STAGE_NAME_MAX

    pipeline = name if name is not None else pipeline_name_for(root)
    check_name(pipeline, PIPELINE_NAME, PIPELINE_NAME_MAX, "pipeline", "--name")
    check_name(stage, STAGE_NAME, STAGE_NAME_MAX, "stage", "--stage")
    specs = sorted(p.name for p in (root / "pipelines").glob("*.y*ml")) if root.is_dir() else []
    others = [s for s in specs if s != f"{pipeline}.yaml"]
    if others:
        raise ProjectError(
            f"{root / 'pipelines'} already holds {', '.join(others)}: this is a project already",
            "grow it with `pedigree stage add NAME`, or init another folder",
        )
    root.mkdir(parents=True, exist_ok=True)
    files = project_files(pipeline, stage)
    spec_exists = (root / "pipelines" / f"{pipeline}.yaml").exists()
    if spec_exists and not (root / "stages" / stage).exists():
        # The pipeline exists: its stages are its own, so no default stage or locks are added
        # beside them (only the project-wide files still missing).
        stage_files = (f"stages/{stage}/", "images/")
        files = {rel: text for rel, text in files.items() if not rel.startswith(stage_files)}
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
        from pedigree.api.main import compile_dvc

        compile_dvc(root)
        ran.append("pedigree compile")
    return InitReport(root, pipeline, written, tuple(ran))
