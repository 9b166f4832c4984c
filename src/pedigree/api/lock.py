"""The API behind `pedigree lock`: compile the hash-pinned environment locks with uv.

The combined lock first, then each stage's lock constrained by it (so versions can never
disagree), then the shared image locks; the same order `pedigree check` verifies.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pedigree.errors import PedigreeError, ToolError
from pedigree.locks import COMBINED_IN, LockJob, lock_jobs, uv_argv

PYTHON_VERSION = "3.11"
UV_HINT = "install it with `python -m pip install 'uv>=0.9,<1'`, or pass --uv PATH"


@dataclass(frozen=True)
class LockResult:
    """One lock written."""

    path: str
    inputs: tuple[str, ...]
    constraint: str | None


def find_uv(explicit: Path | None = None) -> str:
    """The uv executable: `explicit`, else the one beside this Python, else on PATH."""
    if explicit is not None:
        if not explicit.is_file():
            raise ToolError(f"--uv {explicit}: no such file", UV_HINT)
        return str(explicit)
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise ToolError("uv is not installed: `pedigree lock` compiles locks with it", UV_HINT)
    return found


def lock(
    start: Path,
    stages: tuple[str, ...] = (),
    spec: str | Path | None = None,
    extras: tuple[str, ...] = (),
    uv: Path | None = None,
) -> list[LockResult]:
    """Compile the combined lock, then the locks of `stages` (all when empty) and the shared
    image locks (only when all stages are locked)."""
    from pedigree.project import open_project
    from pedigree.spec.checks import load_spec

    project = open_project(start, spec)
    root = project.root
    # The spec alone, not the project's files: a missing lock is what this command is for.
    pipeline = load_spec(project.spec_file, None, project.spec_path)
    known = {s.name: s.image_dir for s in pipeline.stages}
    unknown = [s for s in stages if s not in known]
    if unknown:
        raise PedigreeError(
            f"no stage {', '.join(repr(s) for s in unknown)} in {project.spec_path}",
            f"pass one of: {', '.join(known)}",
        )
    chosen = {s: known[s] for s in stages} if stages else dict(known)
    serve = pipeline.spec.serve
    if not stages and serve is not None:  # the serving image's lock, like a stage's
        chosen["(serving image)"] = serve.image_dir
    from pedigree.spec.replication import REPLICATE_IMAGE_DIR

    folds = pipeline.folds
    if not stages and folds is not None and folds.image_dir != REPLICATE_IMAGE_DIR:
        # a replicate image moved by spec.replicate.folds.image (the default folder is one of
        # EXTRA_LOCKS); its requirements.in includes the fold stages' and the label audit's
        chosen["(replicate image)"] = folds.image_dir
    jobs = lock_jobs(root, chosen, extras)
    if stages:  # only what was asked for: the combined lock and those stages
        jobs = jobs[: 1 + len(chosen)]
    if not jobs[0].inputs:
        raise PedigreeError(
            f"neither pyproject.toml nor {COMBINED_IN} exists: nothing to compile "
            "images/requirements.lock from",
            f"create {COMBINED_IN} with a `-r STAGE/requirements.in` line per stage",
        )
    executable = find_uv(uv)
    missing = [i for job in jobs for i in job.inputs if not (root / i).is_file()]
    if missing:
        raise PedigreeError(
            f"{', '.join(missing)} missing: nothing to compile the lock from",
            "create it with the stage's third-party requirements (it may be empty)",
        )
    return [_compile(root, executable, job) for job in jobs]


def _compile(root: Path, uv: str, job: LockJob) -> LockResult:
    argv = uv_argv(uv, job, PYTHON_VERSION)
    try:
        result = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ToolError(f"cannot run {uv}: {exc}", UV_HINT) from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise ToolError(
            f"uv could not compile {job.output} from {', '.join(job.inputs)} "
            f"(exit {result.returncode}):\n{tail}",
            "fix the requirement it names (or check the network), then run `pedigree lock` again",
        )
    return LockResult(job.output, job.inputs, job.constraint)
