"""The files of a new project or stage, and writing them without ever overwriting one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pedigree.atomic import write_atomically
from pedigree.scaffold import templates as t

DEFAULT_STAGE = "hello"


@dataclass(frozen=True)
class Written:
    """What writing a set of files did: created paths, and paths kept because they existed."""

    created: tuple[str, ...]
    kept: tuple[str, ...]


def stage_out(stage: str) -> str:
    """The output folder a scaffolded stage writes."""
    return f"data/{stage}"


def stage_entry(stage: str, inputs: tuple[str, ...] = ()) -> str:
    """The spec entry of a new stage (a YAML sequence item at column 0), reading `inputs`."""
    description = f"reads {', '.join(inputs)}" if inputs else "writes a summary of its params"
    input_args = (", --inputs, " + ", ".join(inputs)) if inputs else ""
    deps_line = f"  deps: [{', '.join(inputs)}]\n" if inputs else ""
    return t.STAGE_ENTRY.format(
        stage=stage,
        description=description,
        input_args=input_args,
        deps_line=deps_line,
        out=stage_out(stage),
    )


def stage_files(stage: str, description: str) -> dict[str, str]:
    """Repo-relative path -> text of a new stage's code skeleton, requirements and lock."""
    fields = {"stage": stage, "description": description, "out": stage_out(stage)}
    return {
        f"stages/{stage}/__init__.py": t.STAGE_INIT.format(**fields),
        f"stages/{stage}/__main__.py": t.STAGE_MAIN.format(**fields),
        f"stages/{stage}/params.py": t.STAGE_PARAMS.format(**fields),
        f"images/{stage}/requirements.in": t.STAGE_REQUIREMENTS.format(**fields),
        f"images/{stage}/requirements.lock": t.UNCOMPILED_LOCK,
    }


def project_files(pipeline: str, stage: str = DEFAULT_STAGE) -> dict[str, str]:
    """Repo-relative path -> text of every file of a new one-stage project."""
    entry = "".join(f"    {line}\n" for line in stage_entry(stage).splitlines())
    return {
        f"pipelines/{pipeline}.yaml": t.SPEC.format(pipeline=pipeline, stage_entry=entry),
        "params.yaml": t.PARAMS.format(sections=t.PARAMS_SECTION.format(stage=stage)),
        "stages/__init__.py": t.STAGES_INIT,
        **stage_files(stage, "writes a summary of its params"),
        "images/requirements.in": t.COMBINED_REQUIREMENTS + t.COMBINED_INCLUDE.format(stage=stage),
        "images/requirements.lock": t.UNCOMPILED_LOCK,
        ".gitignore": t.GITIGNORE,
        ".dvcignore": t.DVCIGNORE,
    }


def write_new(root: Path, files: dict[str, str]) -> Written:
    """Write each file that does not exist yet (each atomically); keep every existing one."""
    created: list[str] = []
    kept: list[str] = []
    for rel, text in files.items():
        path = root / rel
        if path.exists() or path.is_symlink():
            kept.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
        created.append(rel)
    return Written(tuple(created), tuple(kept))
