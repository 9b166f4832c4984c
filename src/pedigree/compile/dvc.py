"""Compile a pipeline spec to DVC's dvc.yaml: a pure function from spec to text.

Each stage runs through the stage launcher (`python -m pedigree.launch`), which fixes the
interpreter's hash seed before Python starts and keeps the stage's log for `pedigree run` to show
on failure. Each stage also depends on its code folder, its environment lock and, when present,
the shared stage code in `stages/common/`, so a change to any of them re-runs it.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from pedigree.compile.header import HEADER, SHARED_CODE
from pedigree.graph import build_graph
from pedigree.spec.model import PipelineSpec, Stage

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
    seen: set[str] = set()
    return [x for x in items if not (x in seen or seen.add(x))]


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


def render_dvc_yaml(spec: PipelineSpec, spec_path: str, shared_code: bool) -> str:
    """The full text of dvc.yaml for `spec` (deterministic: same spec, same bytes)."""
    order = build_graph(spec).order
    stages = {name: dvc_stage(spec.stage(name), shared_code) for name in order}
    body = yaml.safe_dump({"stages": stages}, sort_keys=False, width=4096, default_flow_style=False)
    return HEADER.format(spec=spec_path) + body
