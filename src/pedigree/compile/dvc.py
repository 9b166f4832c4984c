"""Compile a pipeline spec to DVC's dvc.yaml: a pure function from spec to text.

Each stage runs through the stage launcher (`python -m pedigree.launch`), which fixes the
interpreter's hash seed before Python starts and keeps the stage's log for `pedigree run` to show
on failure. Each stage also depends on its code folder, its environment lock and, when present,
the shared stage code in `stages/common/`, so a change to any of them re-runs it.

DVC replaces `${...}` in every string of dvc.yaml (keys too) with values from params.yaml before
the shell runs the command, inside quotes or not: a value like `x'; rm -rf ~; echo '` would run.
The spec's validation refuses `${`; the compiler refuses it again in what it writes
(`refuse_interpolation`), so a spec built in code cannot bypass the check.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

import yaml

from pedigree.compile.header import HEADER, SHARED_CODE
from pedigree.errors import PedigreeError, Problem, SpecError
from pedigree.graph import build_graph
from pedigree.spec.model import PipelineSpec, Stage
from pedigree.spec.text import DVC_INTERPOLATION, PARAMS_HINT, hidden_char

LAUNCHER = ("python", "-m", "pedigree.launch")


def launcher_argv(stage: Stage) -> list[str]:
    """The argv DVC runs for `stage`: the launcher, then the stage's own argv."""
    return [*LAUNCHER, "--stage", stage.name, "--", *stage.cmd]


def implicit_deps(stage: Stage, shared_code: bool) -> list[str]:
    """Code and environment a stage depends on without declaring it."""
    deps = [stage.code_dir]
    if shared_code:
        deps.append(SHARED_CODE)
    deps.append(stage.lock_file)
    return deps


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))  # first occurrence of each, in order


def dvc_stage(stage: Stage, shared_code: bool) -> dict[str, Any]:
    """The dvc.yaml entry for one stage (keys in DVC's usual order).

    A stateful stage's outputs are marked `persist`: DVC then never restores the stage from its
    run-cache (a release decision depends on the registry, not only on the declared deps), so
    the stage really runs whenever its deps change.
    """
    entry: dict[str, Any] = {"cmd": shlex.join(launcher_argv(stage))}
    entry["deps"] = _unique([*implicit_deps(stage, shared_code), *stage.deps])
    if stage.params:
        entry["params"] = list(stage.params)
    persist = {"persist": True} if stage.stateful else {}
    if stage.outs:
        entry["outs"] = [{p: dict(persist)} if persist else p for p in stage.outs]
    if stage.metrics:
        entry["metrics"] = [{p: {"cache": False, **persist}} for p in stage.metrics]
    if stage.plots:
        entry["plots"] = [{p: {"cache": False, **persist}} for p in stage.plots]
    return entry


def strings_in(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in `value` (mapping keys included) with its key path."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key, where)
            yield from strings_in(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from strings_in(item, f"{where}[{index}]")


def refuse_interpolation(spec: PipelineSpec, stages: dict[str, Any], spec_path: str) -> None:
    """SpecError when any string bound for dvc.yaml (`stages`: name -> entry) holds `${`."""
    index = {stage.name: i for i, stage in enumerate(spec.stages)}
    problems = [
        Problem(
            spec_path,
            None,
            f"spec.stages[{index.get(name, '?')}]",
            f"stage '{name}' would put {text!r} into dvc.yaml ({where}), and DVC replaces "
            f"'{DVC_INTERPOLATION}...}}' there with values from params.yaml before the "
            "command runs",
            PARAMS_HINT,
        )
        for name, entry in stages.items()
        for where, text in strings_in({name: entry}, "stages")
        if DVC_INTERPOLATION in text
    ]
    if problems:
        raise SpecError(problems)


def check_header_path(spec_path: str) -> None:
    """PedigreeError when the spec's file name would break the generated header's comment line.

    A line break in the name would end the comment and put the rest of the name into the file
    as YAML.
    """
    char = hidden_char(spec_path, frozenset({"Cc", "Zl", "Zp"}))
    if char is not None:
        raise PedigreeError(
            f"the spec's file name {spec_path!r} contains the control character U+{ord(char):04X}",
            "rename the spec file to plain letters, digits, '-', '_' and '.'",
        )


def render_dvc_yaml(spec: PipelineSpec, spec_path: str, shared_code: bool) -> str:
    """The full text of dvc.yaml for `spec` (deterministic: same spec, same bytes).

    Raises SpecError when a string would reach dvc.yaml with DVC's `${` in it, PedigreeError
    when `spec_path` holds a control character.
    """
    check_header_path(spec_path)
    order = build_graph(spec).order
    stages = {name: dvc_stage(spec.stage(name), shared_code) for name in order}
    refuse_interpolation(spec, stages, spec_path)
    body = yaml.safe_dump({"stages": stages}, sort_keys=False, width=4096, default_flow_style=False)
    return HEADER.format(spec=spec_path) + body
