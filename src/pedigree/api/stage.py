"""The API behind `pedigree stage add`: grow a project by one stage.

It writes the stage's new files (an existing file is kept and reported, never overwritten) and
edits the spec, params.yaml and images/requirements.in in place. A stage already in the spec is
refused before anything changes; when the grown spec does not compile, the spec goes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pedigree.api.init import check_name
from pedigree.errors import PedigreeError, SpecError
from pedigree.project import PARAMS_FILE
from pedigree.scaffold import templates
from pedigree.scaffold.files import Written, stage_entry, stage_files, write_new

COMBINED_IN = "images/requirements.in"


@dataclass(frozen=True)
class StageReport:
    """What `stage add` did."""

    stage: str
    spec_path: str
    deps: tuple[str, ...]
    written: Written
    edited: tuple[str, ...]  # files changed in place (the spec, params.yaml, requirements.in)


def add_stage(
    start: Path, name: str, after: str | None = None, spec: str | Path | None = None
) -> StageReport:
    """Add stage `name` to the spec (after stage `after`, reading its outs; else last), with
    its code skeleton, requirements, lock and params section; then recompile dvc.yaml."""
    from pedigree.api.main import compile_dvc
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
