"""Whole-pipeline rules that no single field can check, and the spec loader that applies them.

Every rule reports every violation it finds (not just the first), each located by file, line and
key path, so one `pedigree validate` shows the user all there is to fix.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pedigree.errors import ParamsError, Problem, SpecError
from pedigree.graph import find_cycle, is_within, overlaps, upstream_edges
from pedigree.project import PARAMS_FILE
from pedigree.spec.errors import problems_from_validation
from pedigree.spec.model import SUPPORTED_API_VERSIONS, PipelineSpec
from pedigree.spec.owned import STATE_PROTECTED, protected_clash
from pedigree.spec.roles import check_roles
from pedigree.spec.yamlsource import YamlDocument, YamlLoadError, load_yaml_file


def load_spec(
    path: Path, root: Path | None = None, display: str | None = None, remember_params: bool = False
) -> PipelineSpec:
    """Parse and validate a pipeline spec; raise SpecError listing every problem.

    With `root`, also check the project on disk: each stage's code folder and environment lock
    exist, no path leaves the project through a symlink (`pedigree.spec.realpaths`), its params
    sections exist in `root/params.yaml` and pass the stage's own models
    (`pedigree.spec.params_check`; with `remember_params` a clean result is remembered in
    .pedigree/). When every problem lies in params.yaml or a stage's params module, ParamsError
    is raised instead.
    """
    try:
        doc = load_yaml_file(path, display)
    except YamlLoadError as exc:
        raise SpecError([exc.problem]) from None
    problems = _check_header(doc)
    if problems:
        raise SpecError(problems)
    try:
        spec = PipelineSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(exc, PipelineSpec, doc)) from None
    problems = check_pipeline(spec, doc)
    if root is not None:
        problems += check_project_files(spec, doc, root, remember_params)
    if problems:
        if any(p.file == doc.file for p in problems):
            raise SpecError(problems)
        raise ParamsError(problems)
    return spec


def _check_header(doc: YamlDocument) -> list[Problem]:
    data = doc.data
    if not isinstance(data, dict):
        return [
            doc.problem(
                (),
                f"a pipeline spec is a mapping, got {type(data).__name__}",
                "start with 'apiVersion: pedigree/v1'",
            )
        ]
    version = data.get("apiVersion")
    supported = ", ".join(SUPPORTED_API_VERSIONS)
    if version is None:
        return [
            doc.problem(("apiVersion",), "apiVersion is missing", f"add 'apiVersion: {supported}'")
        ]
    if version not in SUPPORTED_API_VERSIONS:
        return [
            doc.problem(
                ("apiVersion",),
                f"unknown apiVersion '{version}'; this pedigree supports: {supported}",
                f"set 'apiVersion: {SUPPORTED_API_VERSIONS[-1]}'",
            )
        ]
    return []


def check_pipeline(spec: PipelineSpec, doc: YamlDocument) -> list[Problem]:
    """Names, producers, output conflicts and cycles across all stages."""
    problems: list[Problem] = []
    stages = spec.stages
    first_index: dict[str, int] = {}
    for i, stage in enumerate(stages):
        if stage.name in first_index:
            problems.append(
                doc.problem(
                    ("spec", "stages", i, "name"),
                    f"duplicate stage name '{stage.name}' "
                    f"(first used by spec.stages[{first_index[stage.name]}])",
                    "give every stage a unique name",
                )
            )
        else:
            first_index[stage.name] = i
    problems += _check_outputs(spec, doc)
    problems += _check_deps(spec, doc)
    problems += _check_state(spec, doc)
    problems += check_roles(spec, doc)
    if not problems:
        cycle = find_cycle(upstream_edges(stages))
        if cycle:
            index = first_index[cycle[0]]
            problems.append(
                doc.problem(
                    ("spec", "stages", index, "deps"),
                    "stages form a cycle: " + " -> ".join(cycle),
                    "break the cycle: one of these stages must stop reading the output of the next",
                )
            )
    return problems


def _check_state(spec: PipelineSpec, doc: YamlDocument) -> list[Problem]:
    """`state` paths belong to stateful stages, are not DVC-tracked outputs or external inputs,
    and stay out of the files pedigree, DVC and git own (under .pedigree/ is fine)."""
    problems: list[Problem] = []
    outputs = [out for _, _, out, _ in _outputs_with_paths(spec)]
    hint = "keep state in its own folder, for example .pedigree/registry"
    for i, stage in enumerate(spec.stages):
        if stage.state and not stage.stateful:
            problems.append(
                doc.problem(
                    ("spec", "stages", i, "state"),
                    f"stage '{stage.name}' keeps state but is not marked stateful",
                    "add 'stateful: true' to the stage, or remove 'state'",
                )
            )
        for j, path in enumerate(stage.state):
            where = ("spec", "stages", i, "state", j)
            clash = next((out for out in outputs if overlaps(out, path)), None)
            if clash is not None:
                problems.append(
                    doc.problem(
                        where,
                        f"state path '{path}' overlaps the output '{clash}'; state lives "
                        "outside DVC, outputs inside it",
                        hint,
                    )
                )
            source = next((inp for inp in spec.spec.inputs if overlaps(inp, path)), None)
            if source is not None:
                problems.append(
                    doc.problem(
                        where,
                        f"state path '{path}' overlaps the external input '{source}'; a stage's "
                        "state must not change what the pipeline reads from outside",
                        hint,
                    )
                )
            owned = protected_clash(path, STATE_PROTECTED)
            if owned is not None:
                problems.append(doc.problem(where, f"state path '{path}'{owned}", hint))
    return problems


def _outputs_with_paths(spec: PipelineSpec) -> list[tuple[int, str, str, int]]:
    found = []
    for i, stage in enumerate(spec.stages):
        for field in ("outs", "metrics", "plots"):
            for j, out in enumerate(getattr(stage, field)):
                found.append((i, field, out, j))
    return found


def _check_outputs(spec: PipelineSpec, doc: YamlDocument) -> list[Problem]:
    problems: list[Problem] = []
    seen: list[tuple[int, str, str, int]] = []
    for i, field, out, j in _outputs_with_paths(spec):
        where = ("spec", "stages", i, field, j)
        name = spec.stages[i].name
        owned = protected_clash(out)
        if owned is not None:
            problems.append(
                doc.problem(
                    where,
                    f"stage '{name}' writes '{out}'{owned}",
                    "write outputs under data/, models/ or reports/",
                )
            )
        for inp_index, inp in enumerate(spec.spec.inputs):
            if overlaps(out, inp):
                problems.append(
                    doc.problem(
                        where,
                        f"stage '{name}' writes '{out}', which overlaps external input "
                        f"'{inp}' (spec.inputs[{inp_index}])",
                        "outputs and external inputs must be separate paths",
                    )
                )
        for oi, ofield, other, oj in seen:
            if overlaps(out, other):
                other_name = spec.stages[oi].name
                what = "the same output" if out == other else "an overlapping output"
                owner = "itself" if oi == i else f"stage '{other_name}'"
                problems.append(
                    doc.problem(
                        where,
                        f"stage '{name}' writes '{out}': {what} as '{other}' written by {owner} "
                        f"(spec.stages[{oi}].{ofield}[{oj}], "
                        f"line {doc.line_of(('spec', 'stages', oi, ofield, oj))})",
                        "each path has exactly one producing stage",
                    )
                )
        seen.append((i, field, out, j))
    return problems


def _check_deps(spec: PipelineSpec, doc: YamlDocument) -> list[Problem]:
    problems: list[Problem] = []
    inputs = spec.spec.inputs
    for i, stage in enumerate(spec.stages):
        for j, dep in enumerate(stage.deps):
            where = ("spec", "stages", i, "deps", j)
            if any(overlaps(dep, out) for out in stage.all_outputs):
                problems.append(
                    doc.problem(
                        where,
                        f"stage '{stage.name}' reads '{dep}', which it also writes",
                        "a stage cannot read its own output",
                    )
                )
                continue
            if dep in (stage.code_dir, stage.lock_file) or is_within(dep, stage.code_dir):
                continue  # implicit anyway; harmless to repeat
            if any(is_within(dep, inp) for inp in inputs):
                continue
            if dep.split("/", 1)[0] in ("stages", "images", "src"):
                continue  # code and environment files are tracked by git, not produced
            producers = [
                s.name
                for s in spec.stages
                if s is not stage and any(overlaps(dep, o) for o in s.all_outputs)
            ]
            if not producers:
                known = [o for s in spec.stages for o in s.all_outputs] + list(inputs)
                close = difflib.get_close_matches(dep, known, n=1, cutoff=0.7)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else "add it under spec.inputs if it comes from outside the pipeline, "
                    "or fix the path"
                )
                problems.append(
                    doc.problem(
                        where,
                        f"stage '{stage.name}' reads '{dep}', which no stage writes and which "
                        "is not a declared external input",
                        hint,
                    )
                )
    return problems


def check_project_files(
    spec: PipelineSpec, doc: YamlDocument, root: Path, remember_params: bool = False
) -> list[Problem]:
    """Code folders, environment locks and params sections exist in the project at `root`, no
    path leads out of it through a symlink, and params.yaml passes each stage's params models
    (`pedigree.spec.params_check`)."""
    from pedigree.spec.params_check import StageParams, check_params
    from pedigree.spec.params_secrets import credential_problems
    from pedigree.spec.realpaths import check_spec_paths

    problems: list[Problem] = []
    loaded = _load_params(root)
    params = loaded.data if isinstance(loaded, YamlDocument) else loaded or {}
    for i, stage in enumerate(spec.stages):
        if not (root / stage.code_dir).is_dir():
            problems.append(
                doc.problem(
                    ("spec", "stages", i, "name"),
                    f"stage '{stage.name}' has no code folder {stage.code_dir}/",
                    f"create {stage.code_dir}/ with the stage's code",
                )
            )
        if not (root / stage.lock_file).is_file():
            key = "image" if stage.image else "name"
            problems.append(
                doc.problem(
                    ("spec", "stages", i, key),
                    f"stage '{stage.name}' has no environment lock {stage.lock_file}",
                    f"run `pedigree lock {stage.name}` to compile it from requirements.in",
                )
            )
        for j, section in enumerate(stage.params):
            if isinstance(params, Problem):
                continue  # reported once below
            missing = _missing_part(params, section)
            if missing is not None:
                problems.append(
                    doc.problem(
                        ("spec", "stages", i, "params", j),
                        f"stage '{stage.name}' uses params section '{section}', "
                        "which params.yaml does not have",
                        f"add '{missing}:' to params.yaml or fix the name",
                    )
                )
    if isinstance(params, Problem) and any(stage.params for stage in spec.stages):
        problems.append(params)
    for k, inp in enumerate(spec.spec.inputs):
        if not (root / inp).exists():
            problems.append(
                doc.problem(
                    ("spec", "inputs", k),
                    f"external input '{inp}' does not exist",
                    "create it, or remove it from spec.inputs",
                )
            )
    problems += check_spec_paths(spec, doc, root)
    if not isinstance(params, Problem):
        if isinstance(loaded, YamlDocument):
            problems += credential_problems(loaded, [p for s in spec.stages for p in s.params])
        stages = [StageParams(s.name, s.params) for s in spec.stages]
        problems += check_params(root, stages, remember=remember_params)
    return problems


def _missing_part(params: dict[str, Any], section: str) -> str | None:
    """The first part of dotted `section` that params.yaml lacks (`transform.split`), or None."""
    data: Any = params
    parts = section.split(".")
    for n, part in enumerate(parts, 1):
        if not isinstance(data, dict) or part not in data:
            return ".".join(parts[:n])
        data = data[part]
    return None


def _load_params(root: Path) -> YamlDocument | None | Problem:
    """params.yaml, parsed once for every check (None when the project has none)."""
    path = root / PARAMS_FILE
    if not path.exists():
        return None
    try:
        doc = load_yaml_file(path, PARAMS_FILE)
    except YamlLoadError as exc:
        return exc.problem
    if not isinstance(doc.data, dict):
        return Problem(PARAMS_FILE, 1, "", "params.yaml must be a mapping of sections")
    return doc
