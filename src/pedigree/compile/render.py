"""The generated files of a loaded project: what the spec compiles to, whether the files on
disk are exactly that, and writing them.

Used by the API (`pedigree compile`, `check`, `run`, `submit`) and by the domain code that
must refuse stale generated files (replicate, the image build). The compilers (yaml, the spec
models) are imported inside the functions: `pedigree run`'s no-op path imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pedigree.atomic import read_bytes_or_none, write_atomically
from pedigree.compile.header import SHARED_CODE, write_stamp

if TYPE_CHECKING:
    from pedigree.spec.load import Loaded


@dataclass(frozen=True)
class CompileResult:
    """What `compile` wrote (or would write)."""

    path: Path
    changed: bool


def render_dvc(loaded: Loaded) -> str:
    """The dvc.yaml text the spec compiles to."""
    from pedigree.compile.dvc import render_dvc_yaml

    shared = (loaded.project.root / SHARED_CODE).is_dir()
    return render_dvc_yaml(loaded.spec, loaded.project.spec_path, shared)


def dvc_yaml_is_current(loaded: Loaded) -> bool:
    """True when dvc.yaml exists and is exactly what the spec compiles to."""
    path = loaded.project.dvc_yaml
    return path.is_file() and path.read_text(encoding="utf-8") == render_dvc(loaded)


def ensure_dvc_yaml(loaded: Loaded) -> CompileResult:
    """Write dvc.yaml when its bytes differ from what the spec compiles to, and stamp it as
    compiled from this spec (`pedigree.compile.header`)."""
    root = loaded.project.root
    (result,) = write_generated(
        root, {loaded.project.dvc_yaml.relative_to(root).as_posix(): render_dvc(loaded)}
    )
    write_stamp(root, loaded.project.spec_path)
    return result


def render_argo_files(loaded: Loaded, replicate_only: bool = False) -> dict[str, str]:
    """Repo-relative path -> text of the Argo files the spec compiles to: the pipeline's, and
    `pedigree replicate --folds`'s when the spec declares folds (`replicate_only`: only those;
    SpecError when there are none)."""
    from pedigree.compile.argo import render_argo
    from pedigree.compile.argo_replicate import render_replicate

    spec, spec_path = loaded.spec, loaded.project.spec_path
    files = {} if replicate_only else render_argo(spec, spec_path)
    if replicate_only or spec.folds is not None:
        files.update(render_replicate(spec, spec_path))
    return files


def write_generated(root: Path, files: dict[str, str]) -> tuple[CompileResult, ...]:
    """Write each repo-relative file whose bytes differ; unchanged ones keep their mtime."""
    results = []
    for rel, text in files.items():
        path = root / rel
        changed = read_bytes_or_none(path) != text.encode("utf-8")
        if changed:
            write_atomically(path, text)
        results.append(CompileResult(path, changed))
    return tuple(results)


def differing_files(root: Path, expected: dict[str, str]) -> tuple[list[str], list[str]]:
    """(missing, stale): the generated files absent under `root`, and those whose bytes are not
    `expected`'s (repo-relative paths, in `expected`'s order)."""
    found = {rel: read_bytes_or_none(root / rel) for rel in expected}
    missing = [rel for rel, data in found.items() if data is None]
    stale = [
        rel
        for rel, data in found.items()
        if data is not None and data != expected[rel].encode("utf-8")
    ]
    return missing, stale
