"""Why a stage is stale: DVC's raw status turned into reasons a person understands.

DVC says "changed deps: stages/transform: modified"; pedigree says "code changed
(stages/transform)". The categories are the ones a reviewer asks about: code, environment,
params, data, outputs, command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pedigree.compile.header import SHARED_CODE
from pedigree.errors import ParamsError, StaleError
from pedigree.graph import build_graph, is_within
from pedigree.project import PARAMS_FILE
from pedigree.spec.model import PipelineSpec

if TYPE_CHECKING:
    from pathlib import Path

    from pedigree.spec.load import Loaded

Kind = Literal[
    "never-run", "code", "environment", "params", "data", "outputs", "command", "upstream", "other"
]


@dataclass(frozen=True)
class Reason:
    """One cause of staleness."""

    kind: Kind
    detail: str

    def render(self) -> str:
        """One line for people."""
        if self.kind in ("upstream", "never-run"):
            return self.detail
        return f"{self.kind} changed: {self.detail}"


@dataclass(frozen=True)
class StageStatus:
    """Whether a stage is up to date and, if not, why."""

    stage: str
    stale: bool
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "stale": self.stale,
            "reasons": [{"kind": r.kind, "detail": r.detail} for r in self.reasons],
        }


def _dep_kind(path: str, spec: PipelineSpec, stage_name: str) -> Kind:
    try:
        stage = spec.stage(stage_name)
    except KeyError:
        return "data"
    if is_within(path, stage.code_dir) or is_within(path, SHARED_CODE):
        return "code"
    if path == stage.lock_file:
        return "environment"
    if path == PARAMS_FILE:
        return "params"
    return "data"


def param_diff(old: Any, new: Any, prefix: str) -> list[str]:
    """Leaf-level differences between two params values, as 'a.b: old -> new' lines."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            lines += param_diff(old.get(key, _MISSING), new.get(key, _MISSING), f"{prefix}.{key}")
        return lines
    if old == new:
        return []
    if old is _MISSING:
        return [f"{prefix}: added ({new!r})"]
    if new is _MISSING:
        return [f"{prefix}: removed (was {old!r})"]
    return [f"{prefix}: {old!r} -> {new!r}"]


_MISSING = object()


def reasons_for(
    stage: str,
    entries: list[Any],
    spec: PipelineSpec,
    recorded_params: dict[str, Any] | None = None,
    current_params: dict[str, Any] | None = None,
) -> list[Reason]:
    """Translate DVC's status entries for `stage` into Reasons.

    With the params dvc.lock recorded for the stage and the current params files, a changed
    params section is reported key by key ("transform.shard_size: 8 -> 5").
    """
    reasons: list[Reason] = []
    for entry in entries:
        if isinstance(entry, str):
            kind: Kind = "command" if "command" in entry else "other"
            reasons.append(Reason(kind, entry))
            continue
        for section, changes in entry.items():
            if not isinstance(changes, dict):
                reasons.append(Reason("other", f"{section}: {changes}"))
                continue
            for path, change in sorted(changes.items()):
                if isinstance(change, dict):  # a params file: {key: change}
                    old_file = (recorded_params or {}).get(path) or {}
                    new_file = (current_params or {}).get(path) or {}
                    for key, what in sorted(change.items()):
                        old = (
                            old_file.get(key, _MISSING) if isinstance(old_file, dict) else _MISSING
                        )
                        new = (
                            new_file.get(key, _MISSING) if isinstance(new_file, dict) else _MISSING
                        )
                        details = param_diff(old, new, key) if what == "modified" else []
                        for line in details or [f"{key} ({what})"]:
                            reasons.append(Reason("params", f"{line} in {path}"))
                elif section == "changed outs":
                    reasons.append(Reason("outputs", f"{path} ({change})"))
                else:
                    reasons.append(Reason(_dep_kind(path, spec, stage), f"{path} ({change})"))
    return reasons


def explain(
    dvc_status: dict[str, list[Any]],
    spec: PipelineSpec,
    lock_stages: dict[str, Any],
    current_params: dict[str, Any] | None = None,
) -> list[StageStatus]:
    """Every stage in run order with its reasons; downstream of a stale stage is stale too.

    `lock_stages` is dvc.lock's `stages` mapping: a stage without a record never ran.
    `current_params` maps each params file to its current content.
    """
    graph = build_graph(spec)
    result: list[StageStatus] = []
    stale: set[str] = set()
    for name in graph.order:
        record = lock_stages.get(name)
        if not isinstance(record, dict):
            reasons = [Reason("never-run", "never run (no record in dvc.lock)")]
        else:
            recorded_params = record.get("params") if isinstance(record.get("params"), dict) else {}
            reasons = reasons_for(
                name, dvc_status.get(name, []), spec, recorded_params, current_params
            )
        stale_ups = [u for u in graph.upstream_of(name) if u in stale]
        if stale_ups and not reasons:
            reasons.append(
                Reason("upstream", f"upstream stage will re-run: {', '.join(stale_ups)}")
            )
        if reasons:
            stale.add(name)
        result.append(StageStatus(name, bool(reasons), tuple(reasons)))
    return result


def project_status(loaded: Loaded) -> list[StageStatus]:
    """Every stage of a loaded project in run order: stale or not, and why (`pedigree status`).

    StaleError when dvc.yaml is not what the spec compiles to: DVC's answer would then be about
    another pipeline than the spec's.
    """
    from pedigree.compile.render import dvc_yaml_is_current
    from pedigree.dvclock import read_lock_stages
    from pedigree.executors import dvc as dvc_executor

    if not dvc_yaml_is_current(loaded):
        raise StaleError(
            f"dvc.yaml is stale: {loaded.project.spec_path} changed since it was compiled",
            "run `pedigree compile --target dvc` (or `pedigree run`, which compiles first)",
        )
    root = loaded.project.root
    raw = dvc_executor.status(root)
    return explain(raw, loaded.spec, read_lock_stages(root / "dvc.lock"), _current_params(root))


def _current_params(root: Path) -> dict[str, Any]:
    from pedigree.spec.yamlsource import YamlLoadError, load_yaml_file

    try:
        return {PARAMS_FILE: load_yaml_file(root / PARAMS_FILE, PARAMS_FILE).data}
    except YamlLoadError as exc:
        raise ParamsError([exc.problem]) from None
